-- spec/store.sql - an empty om server store (store format 2).
--
-- Run in an empty database:  psql -v ON_ERROR_STOP=1 -f spec/store.sql DBNAME
-- then record the master key with `om-store init` (spec/store.md).
--
-- One table per document kind.  A row is one document: its body in `doc`
-- (Octopus Server's JSON shape) and, derived from the body by the database
-- itself, the Id and the few columns the server queries on.  The derived
-- columns cannot disagree with the body, so a tool writes a document by
-- writing `doc` alone.  The UNIQUE constraints are each kind's identity
-- (spec/model.md): a name per space, or a compound key.
--
-- References between documents live inside the bodies, in the many forms
-- Octopus uses (fields, arrays, object keys, comma-separated lists, tenant
-- tags); they are not foreign keys.  The model catalog knows them all and
-- `om-store check` verifies them.

SET client_min_messages = warning;

-- The server: one row.
CREATE TABLE server (
	one boolean PRIMARY KEY DEFAULT true CHECK (one),
	store_format integer NOT NULL,
	server_version text NOT NULL,
	maintenance_mode boolean NOT NULL DEFAULT false,
	-- The check value of the master key (spec/store.md, "The master key"),
	-- NULL until `om-store init` records one.
	master_key_check text
);
INSERT INTO server (store_format, server_version) VALUES (2, '2024.4.4121');

-- The Id allocator: the next number per kind whose Ids are prefix-number.
CREATE TABLE id_allocator (
	kind text PRIMARY KEY,
	prefix text NOT NULL UNIQUE,
	table_name text NOT NULL UNIQUE,
	next_value bigint NOT NULL DEFAULT 1 CHECK (next_value > 0)
);
INSERT INTO id_allocator (kind, prefix, table_name) VALUES
	('Space', 'Spaces-', 'spaces'),
	('User', 'Users-', 'users'),
	('UserRole', 'UserRoles-', 'userroles'),
	('Team', 'Teams-', 'teams'),
	('Environment', 'Environments-', 'environments'),
	('Lifecycle', 'Lifecycles-', 'lifecycles'),
	('ProjectGroup', 'ProjectGroups-', 'projectgroups'),
	('Feed', 'Feeds-', 'feeds'),
	('Account', 'Accounts-', 'accounts'),
	('Certificate', 'Certificates-', 'certificates'),
	('WorkerPool', 'WorkerPools-', 'workerpools'),
	('MachinePolicy', 'MachinePolicies-', 'machinepolicies'),
	('Worker', 'Workers-', 'workers'),
	('Machine', 'Machines-', 'machines'),
	('TagSet', 'TagSets-', 'tagsets'),
	('Tenant', 'Tenants-', 'tenants'),
	('ActionTemplate', 'ActionTemplates-', 'actiontemplates'),
	('LibraryVariableSet', 'LibraryVariableSets-', 'libraryvariablesets'),
	('Project', 'Projects-', 'projects'),
	('Channel', 'Channels-', 'channels'),
	('Runbook', 'Runbooks-', 'runbooks'),
	('ProjectTrigger', 'ProjectTriggers-', 'projecttriggers'),
	('TenantVariable', 'TenantVariables-', 'tenantvariables'),
	('Release', 'Releases-', 'releases'),
	('ServerTask', 'ServerTasks-', 'servertasks'),
	('Deployment', 'Deployments-', 'deployments'),
	('Artifact', 'Artifacts-', 'artifacts'),
	('Event', 'Events-', 'events'),
	('Package', 'Packages-', 'packages');

-- A new Id for a kind: om_new_id('Project') -> 'Projects-13'.
CREATE FUNCTION om_new_id(k text) RETURNS text
LANGUAGE sql AS $$
	UPDATE id_allocator SET next_value = next_value + 1 WHERE kind = k
	RETURNING prefix || (next_value - 1)
$$;

-- Move every allocator past the highest number in use, after documents were
-- loaded with their Ids (a fixture, a restore).
CREATE FUNCTION om_sync_ids() RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
	a record;
	top bigint;
BEGIN
	FOR a IN SELECT * FROM id_allocator LOOP
		EXECUTE format('SELECT max(substr(id, %s)::bigint) FROM %I WHERE id ~ %L',
			       length(a.prefix) + 1, a.table_name,
			       '^' || a.prefix || '[0-9]{1,18}$')
		INTO top;
		UPDATE id_allocator SET next_value = greatest(next_value, coalesce(top, 0) + 1)
		WHERE kind = a.kind;
	END LOOP;
END
$$;

CREATE TABLE spaces (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (name)
);

CREATE TABLE users (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	name text GENERATED ALWAYS AS (doc->>'Username') STORED NOT NULL,
	UNIQUE (name)
);

CREATE TABLE userroles (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (name)
);

CREATE TABLE teams (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE NULLS NOT DISTINCT (space_id, name)
);

CREATE TABLE environments (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE lifecycles (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE projectgroups (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE feeds (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE accounts (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE certificates (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE workerpools (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE machinepolicies (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE workers (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE machines (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE tagsets (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE tenants (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE actiontemplates (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE libraryvariablesets (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (space_id, name)
);

CREATE TABLE projects (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	project_group_id text GENERATED ALWAYS AS (doc->>'ProjectGroupId') STORED NOT NULL,
	lifecycle_id text GENERATED ALWAYS AS (doc->>'LifecycleId') STORED,
	UNIQUE (space_id, name)
);

CREATE TABLE variablesets (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	owner_id text GENERATED ALWAYS AS (doc->>'OwnerId') STORED NOT NULL,
	UNIQUE (owner_id)
);

CREATE TABLE channels (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	project_id text GENERATED ALWAYS AS (doc->>'ProjectId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (project_id, name)
);

CREATE TABLE deploymentprocesses (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	owner_id text GENERATED ALWAYS AS (doc->>'OwnerId') STORED NOT NULL,
	UNIQUE (owner_id)
);

CREATE TABLE deploymentsettings (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	project_id text GENERATED ALWAYS AS (doc->>'ProjectId') STORED NOT NULL,
	UNIQUE (project_id)
);

CREATE TABLE runbooks (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	project_id text GENERATED ALWAYS AS (doc->>'ProjectId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (project_id, name)
);

CREATE TABLE runbookprocesses (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	runbook_id text GENERATED ALWAYS AS (doc->>'RunbookId') STORED NOT NULL,
	UNIQUE (runbook_id)
);

CREATE TABLE projecttriggers (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	project_id text GENERATED ALWAYS AS (doc->>'ProjectId') STORED NOT NULL,
	name text GENERATED ALWAYS AS (doc->>'Name') STORED NOT NULL,
	UNIQUE (project_id, name)
);

CREATE TABLE tenantvariables (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	tenant_id text GENERATED ALWAYS AS (doc->>'TenantId') STORED NOT NULL,
	owner_id text GENERATED ALWAYS AS (doc->>'OwnerId') STORED NOT NULL,
	environment_id text GENERATED ALWAYS AS (doc->>'EnvironmentId') STORED,
	template_id text GENERATED ALWAYS AS (doc->>'VariableTemplateId') STORED NOT NULL,
	UNIQUE NULLS NOT DISTINCT (tenant_id, owner_id, environment_id, template_id)
);

CREATE TABLE releases (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	project_id text GENERATED ALWAYS AS (doc->>'ProjectId') STORED NOT NULL,
	version text GENERATED ALWAYS AS (doc->>'Version') STORED NOT NULL,
	channel_id text GENERATED ALWAYS AS (doc->>'ChannelId') STORED NOT NULL,
	UNIQUE (project_id, version)
);

CREATE TABLE servertasks (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED,
	queue_time text GENERATED ALWAYS AS (doc->>'QueueTime') STORED NOT NULL,
	description text GENERATED ALWAYS AS (doc->>'Description') STORED NOT NULL,
	state text GENERATED ALWAYS AS (doc->>'State') STORED NOT NULL,
	UNIQUE (queue_time, description)
);

CREATE TABLE deployments (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	release_id text GENERATED ALWAYS AS (doc->>'ReleaseId') STORED NOT NULL,
	environment_id text GENERATED ALWAYS AS (doc->>'EnvironmentId') STORED NOT NULL,
	tenant_id text GENERATED ALWAYS AS (doc->>'TenantId') STORED,
	created text GENERATED ALWAYS AS (doc->>'Created') STORED NOT NULL,
	task_id text GENERATED ALWAYS AS (doc->>'TaskId') STORED,
	UNIQUE NULLS NOT DISTINCT (release_id, environment_id, tenant_id, created)
);

CREATE TABLE artifacts (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED,
	server_task_id text GENERATED ALWAYS AS (doc->>'ServerTaskId') STORED NOT NULL,
	filename text GENERATED ALWAYS AS (doc->>'Filename') STORED NOT NULL,
	UNIQUE (server_task_id, filename)
);

CREATE TABLE events (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED,
	occurred text GENERATED ALWAYS AS (doc->>'Occurred') STORED NOT NULL,
	category text GENERATED ALWAYS AS (doc->>'Category') STORED NOT NULL,
	message text GENERATED ALWAYS AS (doc->>'Message') STORED NOT NULL,
	UNIQUE (occurred, category, message)
);

CREATE TABLE packages (
	doc jsonb NOT NULL CHECK (jsonb_typeof(doc) = 'object'),
	id text GENERATED ALWAYS AS (doc->>'Id') STORED PRIMARY KEY,
	space_id text GENERATED ALWAYS AS (doc->>'SpaceId') STORED NOT NULL,
	feed_id text GENERATED ALWAYS AS (doc->>'FeedId') STORED NOT NULL,
	package_id text GENERATED ALWAYS AS (doc->>'PackageId') STORED NOT NULL,
	version text GENERATED ALWAYS AS (doc->>'Version') STORED NOT NULL,
	UNIQUE (feed_id, package_id, version)
);
-- Derived Ids: a document that belongs to exactly one owner carries the
-- owner's Id in its own.
ALTER TABLE variablesets ADD CHECK (id = 'variableset-' || owner_id);
ALTER TABLE deploymentprocesses ADD CHECK (id = 'deploymentprocess-' || owner_id);
ALTER TABLE deploymentsettings ADD CHECK (id = 'deploymentsettings-' || project_id);
ALTER TABLE runbookprocesses ADD CHECK (id = 'RunbookProcess-' || runbook_id);

-- Lookups the server makes often (the UNIQUE constraints index the rest).
CREATE INDEX ON channels (space_id);
CREATE INDEX ON releases (channel_id);
CREATE INDEX ON deployments (task_id);
CREATE INDEX ON projects (project_group_id);
CREATE INDEX ON events (space_id);
