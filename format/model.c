/*
 * model.c - the catalog of document kinds and what it answers; the walker
 * for its paths is in modelwalk.c.
 *
 * The shapes follow Octopus Server's own documents (PascalCase members, Ids
 * as strings, {"SensitiveValue": ...} objects); spec/model.md explains each
 * entry and `om-store model` prints the table as the tools see it.
 */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define REFS(a) a, N(a)

/* Members that change without a user change, on most kinds. */
static const char *const vol_common[] = {"LastModified", "DataVersion", NULL};
/* Process and variable-set versions count saves on one server only. */
static const char *const vol_versioned[] = {"LastModified", "DataVersion", "Version", NULL};
/* Health and status of machines move on their own. */
static const char *const vol_machine[] = {
	"LastModified", "DataVersion", "HealthStatus", "StatusSummary",
	"HasLatestCalamari", "IsInProcess", "HealthLastChecked", NULL};

/* Templates with sensitive defaults: projects, library variable sets. */
static const char *const sec_templates[] = {"Templates[]/DefaultValue/SensitiveValue", NULL};

/* Keyed arrays (struct om_kind keys): elements named by a member, and the
 * members completing their identity. */
static const char *const keys_lifecycle[] = {"Phases[]=Name", NULL};
static const char *const keys_tagset[] = {"Tags[]=Name", NULL};
static const char *const keys_templates[] = {"Templates[]=Name", NULL};
/* A variable is its name and its scope: several of one name differ by
 * scope, and their order means nothing. */
static const char *const keys_variableset[] = {"Variables[]=Name", "Variables[]+Scope", NULL};
static const char *const keys_process[] = {
	"Steps[]=Name", "Steps[]/Actions[]=Name", "Steps[]/Actions[]/Packages[]=Name", NULL};
static const char *const keys_actiontemplate[] = {"Parameters[]=Name", "Packages[]=Name", NULL};

/* ---- server level ---- */

static const struct om_ref refs_space[] = {
	{"SpaceManagersTeams[]", "Team", OM_REF_ID, 0, 0, 0, 0},
	{"SpaceManagersTeamMembers[]", "User", OM_REF_ID, 0, 0, 0, 0},
};

static const struct om_ref refs_team[] = {
	{"MemberUserIds[]", "User", OM_REF_ID, 0, 0, 0, 0},
	{"UserRoles[]/UserRoleId", "UserRole", OM_REF_ID, 0, 0, 0, 0},
	{"UserRoles[]/SpaceId", "Space", OM_REF_ID, 0, 0, 0, 0},
	{"UserRoles[]/EnvironmentIds[]", "Environment", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"UserRoles[]/ProjectIds[]", "Project", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"UserRoles[]/ProjectGroupIds[]", "ProjectGroup", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"UserRoles[]/TenantIds[]", "Tenant", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
};

/* ---- infrastructure ---- */

static const struct om_ref refs_lifecycle[] = {
	{"Phases[]/AutomaticDeploymentTargets[]", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"Phases[]/OptionalDeploymentTargets[]", "Environment", OM_REF_ID, 0, 0, 0, 0},
};

static const struct om_ref refs_projectgroup[] = {
	{"EnvironmentIds[]", "Environment", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
};

/* ECR feeds keep an AWS secret key beside the usual password. */
static const char *const sec_feed[] = {"Password", "SecretKey", NULL};

/* Environment and tenant restrictions of accounts and certificates are
 * optional bindings: Octopus's migrator drops those it cannot resolve. */
static const struct om_ref refs_account[] = {
	{"EnvironmentIds[]", "Environment", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"TenantIds[]", "Tenant", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"TenantTags[]", "TagSet", OM_REF_TAG, OM_REF_DROPPABLE, 0, "Tags[]", "Name"},
};
static const char *const sec_account[] = {
	"Password", "SecretKey", "Token", "PrivateKeyFile",
	"PrivateKeyPassphrase", "JsonKey", NULL};

static const struct om_ref refs_certificate[] = {
	{"EnvironmentIds[]", "Environment", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"TenantIds[]", "Tenant", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"TenantTags[]", "TagSet", OM_REF_TAG, OM_REF_DROPPABLE, 0, "Tags[]", "Name"},
	{"ReplacedBy", "Certificate", OM_REF_ID, 0, 0, 0, 0},
};
static const char *const sec_certificate[] = {"CertificateData", "Password", NULL};

static const struct om_ref refs_worker[] = {
	{"WorkerPoolIds[]", "WorkerPool", OM_REF_ID, 0, 0, 0, 0},
	{"MachinePolicyId", "MachinePolicy", OM_REF_ID, 0, 0, 0, 0},
	{"Endpoint/AccountId", "Account", OM_REF_ID, 0, 0, 0, 0},
};

static const struct om_ref refs_machinepolicy[] = {
	{"MachineUpdatePolicy/TentacleUpdateAccountId", "Account", OM_REF_ID, 0, 0, 0, 0},
};

static const struct om_ref refs_machine[] = {
	{"EnvironmentIds[]", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"TenantIds[]", "Tenant", OM_REF_ID, 0, 0, 0, 0},
	{"TenantTags[]", "TagSet", OM_REF_TAG, 0, 0, "Tags[]", "Name"},
	{"MachinePolicyId", "MachinePolicy", OM_REF_ID, 0, 0, 0, 0},
	{"Endpoint/AccountId", "Account", OM_REF_ID, 0, 0, 0, 0},
	{"Endpoint/DefaultWorkerPoolId", "WorkerPool", OM_REF_ID, 0, 0, 0, 0},
	/* Kubernetes targets. */
	{"Endpoint/Authentication/AccountId", "Account", OM_REF_ID, 0, 0, 0, 0},
	{"Endpoint/ClusterCertificate", "Certificate", OM_REF_ID, 0, 0, 0, 0},
	{"Endpoint/ClientCertificate", "Certificate", OM_REF_ID, 0, 0, 0, 0},
};

/* ---- tenants ---- */

static const struct om_ref refs_tenant[] = {
	{"ProjectEnvironments{key}", "Project", OM_REF_ID, 0, 0, 0, 0},
	{"ProjectEnvironments{}[]", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"ProjectIds[]", "Project", OM_REF_ID, 0, 0, 0, 0},
	{"TenantTags[]", "TagSet", OM_REF_TAG, 0, 0, "Tags[]", "Name"},
	{"ClonedFromTenantId", "Tenant", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
};

/* A tenant's value for a template of a project (per environment) or of a
 * library variable set (EnvironmentId null).  The template is named by the
 * Id of an element of the owner's Templates[]. */
static const struct om_ref refs_tenantvariable[] = {
	{"TenantId", "Tenant", OM_REF_ID, 0, 0, 0, 0},
	{"OwnerId", "Project|LibraryVariableSet", OM_REF_ID, 0, 0, 0, 0},
	{"EnvironmentId", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"VariableTemplateId", NULL, OM_REF_INNER, 0, "OwnerId", "Templates[]", "Name"},
};
static const char *const sec_tenantvariable[] = {"Value/SensitiveValue", NULL};

/* ---- variables ---- */

static const struct om_ref refs_libraryvariableset[] = {
	{"VariableSetId", "VariableSet", OM_REF_ID, 0, 0, 0, 0},
};

/* Variable types whose value is the Id of an account. */
#define ACCOUNT_TYPES \
	"AmazonWebServicesAccount|AzureAccount|GoogleCloudAccount|UsernamePasswordAccount|" \
	"GenericOidcAccount|TokenAccount|SshKeyPairAccount"

/* Scopes are optional bindings; an action scope names an action of the
 * owning project's deployment process, a process-owner scope a project or
 * one of its runbooks. */
static const struct om_ref refs_variableset[] = {
	{"OwnerId", "Project|LibraryVariableSet", OM_REF_ID, 0, 0, 0, 0},
	{"Variables[]/Scope/Environment[]", "Environment", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"Variables[]/Scope/Machine[]", "Machine", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"Variables[]/Scope/Channel[]", "Channel", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"Variables[]/Scope/TenantTag[]", "TagSet", OM_REF_TAG, OM_REF_DROPPABLE, 0, "Tags[]", "Name"},
	{"Variables[]/Scope/ProcessOwner[]", "Project|Runbook", OM_REF_ID, OM_REF_DROPPABLE, 0, 0, 0},
	{"Variables[]/Scope/Action[]", NULL, OM_REF_INNER, OM_REF_DROPPABLE,
	 "OwnerId>DeploymentProcessId", "Steps[]/Actions[]", "Name"},
	{"Variables[Type=" ACCOUNT_TYPES "]/Value", "Account", OM_REF_ID, 0, 0, 0, 0},
	{"Variables[Type=Certificate]/Value", "Certificate", OM_REF_ID, 0, 0, 0, 0},
	{"Variables[Type=WorkerPool]/Value", "WorkerPool", OM_REF_ID, 0, 0, 0, 0},
	{"RelatedDocumentIds[]", NULL, OM_REF_ID, 0, 0, 0, 0},
};
static const char *const sec_variableset[] = {"Variables[Type=Sensitive]/Value", NULL};

/* ---- processes ---- */

/* The references of a step list, shared by deployment and runbook processes. */
#define STEP_REFS(p) \
	{p "Steps[]/Actions[]/WorkerPoolId", "WorkerPool", OM_REF_ID, 0, 0, 0, 0}, \
	{p "Steps[]/Actions[]/Container/FeedId", "Feed", OM_REF_ID, 0, 0, 0, 0}, \
	{p "Steps[]/Actions[]/Environments[]", "Environment", OM_REF_ID, 0, 0, 0, 0}, \
	{p "Steps[]/Actions[]/ExcludedEnvironments[]", "Environment", OM_REF_ID, 0, 0, 0, 0}, \
	{p "Steps[]/Actions[]/Channels[]", "Channel", OM_REF_ID, 0, 0, 0, 0}, \
	{p "Steps[]/Actions[]/TenantTags[]", "TagSet", OM_REF_TAG, 0, 0, "Tags[]", "Name"}, \
	{p "Steps[]/Actions[]/Packages[]/FeedId", "Feed", OM_REF_ID, 0, 0, 0, 0}, \
	{p "Steps[]/Actions[]/Properties/Octopus.Action.Package.FeedId", "Feed", OM_REF_ID, 0, 0, 0, 0}, \
	{p "Steps[]/Actions[]/Properties/Octopus.Action.Template.Id", "ActionTemplate", OM_REF_ID, 0, 0, 0, 0}, \
	{p "Steps[]/Actions[]/Properties/Octopus.Action.Manual.ResponsibleTeamIds", "Team", OM_REF_CSV, 0, 0, 0, 0}, \
	{p "Steps[]/Actions[]/Properties/Octopus.Action.Azure.AccountId", "Account", OM_REF_ID, 0, 0, 0, 0}
static const char *const sec_process[] = {
	"Steps[]/Actions[]/Properties{}/SensitiveValue", NULL};

static const struct om_ref refs_deploymentprocess[] = {
	{"OwnerId", "Project", OM_REF_ID, 0, 0, 0, 0},
	STEP_REFS(""),
};

static const struct om_ref refs_runbookprocess[] = {
	{"RunbookId", "Runbook", OM_REF_ID, 0, 0, 0, 0},
	{"ProjectId", "Project", OM_REF_ID, 0, 0, 0, 0},
	STEP_REFS(""),
};

static const struct om_ref refs_actiontemplate[] = {
	{"Packages[]/FeedId", "Feed", OM_REF_ID, 0, 0, 0, 0},
	{"Properties/Octopus.Action.Package.FeedId", "Feed", OM_REF_ID, 0, 0, 0, 0},
};
static const char *const sec_actiontemplate[] = {
	"Parameters[]/DefaultValue/SensitiveValue", "Properties{}/SensitiveValue", NULL};

/* ---- projects ---- */

static const struct om_ref refs_project[] = {
	{"ProjectGroupId", "ProjectGroup", OM_REF_ID, 0, 0, 0, 0},
	{"LifecycleId", "Lifecycle", OM_REF_ID, 0, 0, 0, 0},
	{"VariableSetId", "VariableSet", OM_REF_ID, 0, 0, 0, 0},
	{"DeploymentProcessId", "DeploymentProcess", OM_REF_ID, 0, 0, 0, 0},
	{"DeploymentSettingsId", "DeploymentSettings", OM_REF_ID, 0, 0, 0, 0},
	{"IncludedLibraryVariableSetIds[]", "LibraryVariableSet", OM_REF_ID, 0, 0, 0, 0},
	{"UsedPackages[]/FeedId", "Feed", OM_REF_ID, 0, 0, 0, 0},
	{"ClonedFromProjectId", "Project", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"ReleaseCreationStrategy/ChannelId", "Channel", OM_REF_ID, 0, 0, 0, 0},
	{"AutoDeployReleaseOverrides[]/EnvironmentId", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"AutoDeployReleaseOverrides[]/TenantId", "Tenant", OM_REF_ID, 0, 0, 0, 0},
	{"AutoDeployReleaseOverrides[]/ReleaseId", "Release", OM_REF_ID, 0, 0, 0, 0},
	{"DynamicEnvironmentSettings/ProvisioningRunbook", "Runbook", OM_REF_ID, 0, 0, 0, 0},
	{"DynamicEnvironmentSettings/DeprovisioningRunbook", "Runbook", OM_REF_ID, 0, 0, 0, 0},
};

static const struct om_ref refs_channel[] = {
	{"ProjectId", "Project", OM_REF_ID, 0, 0, 0, 0},
	{"LifecycleId", "Lifecycle", OM_REF_ID, 0, 0, 0, 0},
	{"TenantTags[]", "TagSet", OM_REF_TAG, 0, 0, "Tags[]", "Name"},
};

static const struct om_ref refs_deploymentsettings[] = {
	{"ProjectId", "Project", OM_REF_ID, 0, 0, 0, 0},
};

static const struct om_ref refs_runbook[] = {
	{"ProjectId", "Project", OM_REF_ID, 0, 0, 0, 0},
	{"RunbookProcessId", "RunbookProcess", OM_REF_ID, 0, 0, 0, 0},
	{"Environments[]", "Environment", OM_REF_ID, 0, 0, 0, 0},
};

/* Environment and tenant restrictions of triggers. */
static const struct om_ref refs_projecttrigger[] = {
	{"ProjectId", "Project", OM_REF_ID, 0, 0, 0, 0},
	{"Filter/EnvironmentIds[]", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"Action/SourceEnvironmentIds[]", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"Action/DestinationEnvironmentId", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"Action/EnvironmentIds[]", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"Action/ChannelId", "Channel", OM_REF_ID, 0, 0, 0, 0},
	{"Action/RunbookId", "Runbook", OM_REF_ID, 0, 0, 0, 0},
	{"Action/TenantIds[]", "Tenant", OM_REF_ID, 0, 0, 0, 0},
	{"Action/TenantTags[]", "TagSet", OM_REF_TAG, 0, 0, "Tags[]", "Name"},
};

/* ---- deployments ---- */

/* A release remembers the library variable sets it was made with, which the
 * project may no longer include. */
static const struct om_ref refs_release[] = {
	{"ProjectId", "Project", OM_REF_ID, 0, 0, 0, 0},
	{"ChannelId", "Channel", OM_REF_ID, 0, 0, 0, 0},
	{"LibraryVariableSetIds[]", "LibraryVariableSet", OM_REF_ID, 0, 0, 0, 0},
};

static const struct om_ref refs_deployment[] = {
	{"ReleaseId", "Release", OM_REF_ID, 0, 0, 0, 0},
	{"ProjectId", "Project", OM_REF_ID, 0, 0, 0, 0},
	{"ChannelId", "Channel", OM_REF_ID, 0, 0, 0, 0},
	{"EnvironmentId", "Environment", OM_REF_ID, 0, 0, 0, 0},
	{"TenantId", "Tenant", OM_REF_ID, 0, 0, 0, 0},
	{"TaskId", "ServerTask", OM_REF_ID, 0, 0, 0, 0},
	{"DeployedById", "User", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"SpecificMachineIds[]", "Machine", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"DeployedToMachineIds[]", "Machine", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"ExcludedMachineIds[]", "Machine", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
};

/* ---- history ---- */

static const struct om_ref refs_event[] = {
	{"UserId", "User", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"RelatedDocumentIds[]", NULL, OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"MessageReferences[]/ReferencedDocumentId", NULL, OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
};

static const struct om_ref refs_servertask[] = {
	{"ProjectId", "Project", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"EnvironmentId", "Environment", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"TenantId", "Tenant", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"Arguments/DeploymentId", "Deployment", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"Arguments/EnvironmentId", "Environment", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
	{"Arguments/RunbookId", "Runbook", OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
};

static const struct om_ref refs_artifact[] = {
	{"ServerTaskId", "ServerTask", OM_REF_ID, 0, 0, 0, 0},
	{"RelatedDocumentIds[]", NULL, OM_REF_ID, OM_REF_WEAK, 0, 0, 0},
};

static const struct om_ref refs_package[] = {
	{"FeedId", "Feed", OM_REF_ID, 0, 0, 0, 0},
};

static const struct om_ref refs_none[] = {{0, 0, 0, 0, 0, 0, 0}};
#define NOREFS refs_none, 0

/* What an import merges when the bundle and the target both hold a
 * document: a variable set's variables (by name and scope), a team's
 * members and role assignments, a tenant's projects, their environments
 * and its tags.  Everything else comes from one side whole. */
static const struct om_merge merges_variableset[] = {
	{"Variables", OM_MERGE_KEYED, {"Name", "Scope"}},
	{NULL, 0, {NULL, NULL}},
};
static const struct om_merge merges_team[] = {
	{"MemberUserIds", OM_MERGE_SET, {NULL, NULL}},
	{"UserRoles", OM_MERGE_SET, {NULL, NULL}},
	{NULL, 0, {NULL, NULL}},
};
static const struct om_merge merges_tenant[] = {
	{"ProjectEnvironments", OM_MERGE_MAP_OF_SETS, {NULL, NULL}},
	{"ProjectIds", OM_MERGE_SET, {NULL, NULL}},
	{"TenantTags", OM_MERGE_SET, {NULL, NULL}},
	{NULL, 0, {NULL, NULL}},
};

/* In dependency order: a kind comes after the kinds its identity refers to. */
const struct om_kind om_kinds[] = {
	{"Space", "spaces", "Spaces-", NULL, OM_SERVER, {"Name"}, NULL, OM_HIST_NONE,
	 REFS(refs_space), NULL, vol_common, NULL,
	 "spaces/{Name}", "space.json", NULL, NULL, NULL, NULL},

	{"User", "users", "Users-", NULL, OM_SERVER, {"Username"}, NULL, OM_HIST_NONE,
	 NOREFS, NULL, vol_common, NULL,
	 NULL, "users/{Username}.json", NULL, NULL, NULL, NULL},

	{"UserRole", "userroles", "UserRoles-", NULL, OM_SERVER, {"Name"}, NULL, OM_HIST_NONE,
	 NOREFS, NULL, vol_common, NULL,
	 NULL, "user-roles/{Name}.json", NULL, NULL, NULL, NULL},

	{"Team", "teams", "Teams-", NULL, OM_SPACE_OPTIONAL, {"Name"}, NULL, OM_HIST_NONE,
	 REFS(refs_team), NULL, vol_common, NULL,
	 NULL, "teams/{Name}.json", NULL, NULL, NULL, merges_team},

	{"Environment", "environments", "Environments-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 NOREFS, NULL, vol_common, NULL,
	 NULL, "environments/{Name}.json", NULL, NULL, NULL, NULL},

	{"Lifecycle", "lifecycles", "Lifecycles-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 REFS(refs_lifecycle), NULL, vol_common, NULL,
	 NULL, "lifecycles/{Name}.json", NULL, NULL, keys_lifecycle, NULL},

	{"ProjectGroup", "projectgroups", "ProjectGroups-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 REFS(refs_projectgroup), NULL, vol_common, NULL,
	 NULL, "project-groups/{Name}.json", NULL, NULL, NULL, NULL},

	{"Feed", "feeds", "Feeds-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 NOREFS, sec_feed, vol_common, NULL,
	 NULL, "feeds/{Name}.json", NULL, NULL, NULL, NULL},

	{"Account", "accounts", "Accounts-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 REFS(refs_account), sec_account, vol_common, NULL,
	 NULL, "accounts/{Name}.json", NULL, NULL, NULL, NULL},

	{"Certificate", "certificates", "Certificates-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_CERTIFICATES,
	 REFS(refs_certificate), sec_certificate, vol_common, NULL,
	 NULL, "certificates/{Name}.json", NULL, NULL, NULL, NULL},

	{"WorkerPool", "workerpools", "WorkerPools-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 NOREFS, NULL, vol_common, NULL,
	 NULL, "worker-pools/{Name}.json", NULL, NULL, NULL, NULL},

	{"MachinePolicy", "machinepolicies", "MachinePolicies-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 REFS(refs_machinepolicy), NULL, vol_common, NULL,
	 NULL, "machine-policies/{Name}.json", NULL, NULL, NULL, NULL},

	{"Worker", "workers", "Workers-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_MACHINES,
	 REFS(refs_worker), NULL, vol_machine, NULL,
	 NULL, "workers/{Name}.json", NULL, NULL, NULL, NULL},

	{"Machine", "machines", "Machines-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_MACHINES,
	 REFS(refs_machine), NULL, vol_machine, NULL,
	 NULL, "deployment-targets/{Name}.json", NULL, NULL, NULL, NULL},

	{"TagSet", "tagsets", "TagSets-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 NOREFS, NULL, vol_common, NULL,
	 NULL, "tag-sets/{Name}.json", NULL, NULL, keys_tagset, NULL},

	{"Tenant", "tenants", "Tenants-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_TENANTS,
	 REFS(refs_tenant), NULL, vol_common, NULL,
	 "tenants/{Name}", "tenant.json", NULL, NULL, NULL, merges_tenant},

	{"ActionTemplate", "actiontemplates", "ActionTemplates-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 REFS(refs_actiontemplate), sec_actiontemplate, vol_common, NULL,
	 NULL, "step-templates/{Name}.json", NULL, OM_PATH_ROOT, keys_actiontemplate, NULL},

	{"LibraryVariableSet", "libraryvariablesets", "LibraryVariableSets-", NULL, OM_SPACE, {"Name"}, NULL,
	 OM_HIST_NONE, REFS(refs_libraryvariableset), sec_templates, vol_versioned, NULL,
	 "library-variable-sets/{Name}", "library-variable-set.json", NULL, NULL, keys_templates, NULL},

	{"Project", "projects", "Projects-", NULL, OM_SPACE, {"Name"}, NULL, OM_HIST_NONE,
	 REFS(refs_project), sec_templates, vol_common, NULL,
	 "projects/{Name}", "project.json", NULL, NULL, keys_templates, NULL},

	{"VariableSet", "variablesets", "variableset-", "OwnerId", OM_SPACE, {"OwnerId"}, "OwnerId",
	 OM_HIST_NONE, REFS(refs_variableset), sec_variableset, vol_versioned, NULL,
	 NULL, "variables.json", NULL, NULL, keys_variableset, merges_variableset},

	{"Channel", "channels", "Channels-", NULL, OM_SPACE, {"ProjectId", "Name"}, "ProjectId", OM_HIST_NONE,
	 REFS(refs_channel), NULL, vol_common, NULL,
	 NULL, "channels/{Name}.json", NULL, NULL, NULL, NULL},

	{"DeploymentProcess", "deploymentprocesses", "deploymentprocess-", "OwnerId", OM_SPACE, {"OwnerId"},
	 "OwnerId", OM_HIST_NONE, REFS(refs_deploymentprocess), sec_process, vol_versioned, NULL,
	 NULL, "deployment-process.json", NULL, "Steps[]/Actions[]", keys_process, NULL},

	{"DeploymentSettings", "deploymentsettings", "deploymentsettings-", "ProjectId", OM_SPACE, {"ProjectId"},
	 "ProjectId", OM_HIST_NONE, REFS(refs_deploymentsettings), NULL, vol_common, NULL,
	 NULL, "deployment-settings.json", NULL, NULL, NULL, NULL},

	{"Runbook", "runbooks", "Runbooks-", NULL, OM_SPACE, {"ProjectId", "Name"}, "ProjectId", OM_HIST_NONE,
	 REFS(refs_runbook), NULL, vol_common, NULL,
	 "runbooks/{Name}", "runbook.json", NULL, NULL, NULL, NULL},

	{"RunbookProcess", "runbookprocesses", "RunbookProcess-", "RunbookId", OM_SPACE, {"RunbookId"},
	 "RunbookId", OM_HIST_NONE, REFS(refs_runbookprocess), sec_process, vol_versioned, NULL,
	 NULL, "process.json", NULL, "Steps[]/Actions[]", keys_process, NULL},

	{"ProjectTrigger", "projecttriggers", "ProjectTriggers-", NULL, OM_SPACE, {"ProjectId", "Name"},
	 "ProjectId", OM_HIST_NONE, REFS(refs_projecttrigger), NULL, vol_common, NULL,
	 NULL, "triggers/{Name}.json", NULL, NULL, NULL, NULL},

	{"TenantVariable", "tenantvariables", "TenantVariables-", NULL, OM_SPACE,
	 {"TenantId", "OwnerId", "EnvironmentId", "VariableTemplateId"}, "TenantId", OM_HIST_TENANTS,
	 REFS(refs_tenantvariable), sec_tenantvariable, vol_common, NULL,
	 NULL, "variables/{OwnerType} {OwnerId}/{EnvironmentId|-}/{VariableTemplateId}.json", NULL, NULL, NULL, NULL},

	{"Release", "releases", "Releases-", NULL, OM_SPACE, {"ProjectId", "Version"}, "ProjectId",
	 OM_HIST_DEPLOYMENTS, REFS(refs_release), NULL, vol_common, NULL,
	 "releases/{Version}", "release.json", NULL, NULL, NULL, NULL},

	{"ServerTask", "servertasks", "ServerTasks-", NULL, OM_SPACE_OPTIONAL, {"QueueTime", "Description"},
	 NULL, OM_HIST_HISTORY, REFS(refs_servertask), NULL, vol_common, "TaskLogs/{Id}.txt",
	 "tasks/{QueueTime} {Description}", "task.json", "log.txt", NULL, NULL, NULL},

	{"Deployment", "deployments", "Deployments-", NULL, OM_SPACE,
	 {"ReleaseId", "EnvironmentId", "TenantId", "Created"}, "ReleaseId", OM_HIST_DEPLOYMENTS,
	 REFS(refs_deployment), NULL, vol_common, NULL,
	 NULL, "deployments/{Created} {EnvironmentId}[ {TenantId}].json", NULL, NULL, NULL, NULL},

	{"Artifact", "artifacts", "Artifacts-", NULL, OM_SPACE_OPTIONAL, {"ServerTaskId", "Filename"},
	 "ServerTaskId", OM_HIST_HISTORY, REFS(refs_artifact), NULL, vol_common,
	 "Artifacts/{ServerTaskId}/{Filename}",
	 NULL, "artifacts/{Filename}.json", "artifacts/{Filename}", NULL, NULL, NULL},

	{"Event", "events", "Events-", NULL, OM_SPACE_OPTIONAL, {"Occurred", "Category", "Message"}, NULL,
	 OM_HIST_HISTORY, REFS(refs_event), NULL, vol_common, NULL,
	 NULL, "events/{Occurred:7}/{Occurred} {Category} {#Message}.json", NULL, NULL, NULL, NULL},

	{"Package", "packages", "Packages-", NULL, OM_SPACE, {"FeedId", "PackageId", "Version"}, NULL,
	 OM_HIST_NONE, REFS(refs_package), NULL, vol_common,
	 "Packages/{FeedId}/{PackageId}/{PackageId}.{Version}{FileExtension}",
	 NULL, "packages/{FeedId}/{PackageId}/{Version}.json", "packages/{FeedId}/{PackageId}/{Version}{FileExtension}", NULL, NULL, NULL},
};
const size_t om_nkinds = N(om_kinds);

/* The kinds whose documents record the size of their home file. */
static const struct {
	const char *kind, *member;
} file_sizes[] = {
	{"Package", "PackageSizeBytes"},
};

const char *om_kind_file_size(const struct om_kind *k)
{
	for (size_t i = 0; i < N(file_sizes); i++)
		if (strcmp(file_sizes[i].kind, k->name) == 0)
			return file_sizes[i].member;
	return NULL;
}

const struct om_kind *om_kind_by_name(const char *name)
{
	for (size_t i = 0; i < om_nkinds; i++)
		if (strcmp(om_kinds[i].name, name) == 0)
			return &om_kinds[i];
	return NULL;
}

const struct om_kind *om_space_kind(void)
{
	/* The catalog's first entry: spaces come before everything in them. */
	return &om_kinds[0];
}

const char *om_kind_name_member(const struct om_kind *k)
{
	size_t n = 0;

	while (n < 5 && k->identity[n])
		n++;
	return n ? k->identity[n - 1] : NULL;
}

const struct om_script_members om_script = {
	"Name", "Properties", "Octopus.Action.Script.ScriptBody", "Octopus.Action.Script.Syntax",
};

const char *om_script_ext(const char *syntax, size_t len)
{
	static const char *const ext[][2] = {
		{"Bash", ".sh"}, {"PowerShell", ".ps1"}, {"Python", ".py"},
		{"CSharp", ".csx"}, {"FSharp", ".fsx"},
	};

	for (size_t i = 0; syntax && i < N(ext); i++)
		if (strlen(ext[i][0]) == len && memcmp(ext[i][0], syntax, len) == 0)
			return ext[i][1];
	return ".txt";
}

const struct om_merge *om_merge_of(const struct om_kind *k, const char *member)
{
	for (const struct om_merge *m = k->merges; m && m->member; m++)
		if (strcmp(m->member, member) == 0)
			return m;
	return NULL;
}

const struct om_kind *om_kind_by_table(const char *table)
{
	for (size_t i = 0; i < om_nkinds; i++)
		if (strcmp(om_kinds[i].table, table) == 0)
			return &om_kinds[i];
	return NULL;
}

/*
 * Octopus's fixed Ids: documents the server makes itself, whose Ids are not
 * prefix + number (from Octopus's documentation, its client libraries and
 * its Terraform provider; spec/model.md, "Fixed Ids").  A form ending in
 * '*' stands for a lowercase word ("userroles-projectdeployer"), one ending
 * in '#' for a space's Id ("teams-spacemanagers-Spaces-1").
 */
static const struct {
	const char *form;
	const char *kind;
} fixed_ids[] = {
	{"feeds-builtin", "Feed"},
	{"feeds-builtin-releases", "Feed"},
	{"teams-everyone", "Team"},
	{"teams-administrators", "Team"},
	{"teams-managers", "Team"},
	{"teams-spacemanagers-#", "Team"},
	{"users-system", "User"},
	{"userroles-*", "UserRole"},
};

static const struct om_kind *fixed_kind(const char *id)
{
	for (size_t i = 0; i < N(fixed_ids); i++) {
		const char *f = fixed_ids[i].form;
		size_t n = strcspn(f, "*#");
		const char *t = id + n;
		if (strncmp(id, f, n) != 0)
			continue;
		if (f[n] == '*') {
			while (*t >= 'a' && *t <= 'z')
				t++;
			if (t == id + n)
				continue;
		} else if (f[n] == '#') {
			if (strncmp(t, "Spaces-", 7) != 0 || !(t[7] >= '1' && t[7] <= '9'))
				continue;
			for (t += 7; *t >= '0' && *t <= '9'; t++)
				;
		}
		if (!*t)
			return om_kind_by_name(fixed_ids[i].kind);
	}
	return NULL;
}

int om_id_is_fixed(const char *id)
{
	return fixed_kind(id) != NULL;
}

/*
 * Octopus's DocumentType values (its Export/Import Projects packages) that
 * are not the name of the kind itself, as seen in a real package
 * (octopus-formats.md); the others seen there (Project, Channel, Tenant,
 * ...) are the kinds' own names.
 */
static const struct {
	const char *type;
	const char *kind;
} octopus_types[] = {
	{"StaticDeploymentEnvironment", "Environment"},
	{"ProjectVariables", "VariableSet"},
	{"LibraryVariables", "VariableSet"},
};

const char *om_kind_fixed_id(const struct om_kind *k, size_t n)
{
	for (size_t i = 0; i < N(fixed_ids); i++)
		if (strcmp(fixed_ids[i].kind, k->name) == 0 && n-- == 0)
			return fixed_ids[i].form;
	return NULL;
}

const char *om_kind_octopus_type(const struct om_kind *k, size_t n)
{
	for (size_t i = 0; i < N(octopus_types); i++)
		if (strcmp(octopus_types[i].kind, k->name) == 0 && n-- == 0)
			return octopus_types[i].type;
	return NULL;
}

const struct om_kind *om_kind_of_octopus_type(const char *type)
{
	for (size_t i = 0; i < N(octopus_types); i++)
		if (strcmp(octopus_types[i].type, type) == 0)
			return om_kind_by_name(octopus_types[i].kind);
	return om_kind_by_name(type);
}

const struct om_kind *om_kind_of_id(const char *id)
{
	/* The longest matching prefix wins, though no two prefixes nest today. */
	const struct om_kind *best = fixed_kind(id);
	size_t bestlen = 0;

	if (best)
		return best;

	for (size_t i = 0; i < om_nkinds; i++) {
		size_t n = strlen(om_kinds[i].id_prefix);
		if (n > bestlen && strncmp(id, om_kinds[i].id_prefix, n) == 0 && id[n]) {
			best = &om_kinds[i];
			bestlen = n;
		}
	}
	return best;
}

/* Do the last components of path[0..*len) match the components of
 * pattern (a component with a placeholder, {...} or [...], matches any)?
 * If so, *len becomes the length of what is before them, without its '/'. */
static int strip_tail(const char *path, size_t *len, const char *pattern)
{
	size_t end = *len, pe = strlen(pattern);

	for (;;) {
		size_t ps = pe, cs = end;
		while (ps > 0 && pattern[ps - 1] != '/')
			ps--;
		while (cs > 0 && path[cs - 1] != '/')
			cs--;
		int any = memchr(pattern + ps, '{', pe - ps) || memchr(pattern + ps, '[', pe - ps);
		if (end == 0 ||
		    (!any && (pe - ps != end - cs || memcmp(pattern + ps, path + cs, pe - ps) != 0)))
			return 0;
		if (ps == 0) {
			*len = cs ? cs - 1 : 0;
			return 1;
		}
		if (cs == 0)
			return 0;
		pe = ps - 1;
		end = cs - 1;
	}
}

/* Is path[0..len) where a document of kind k can have its parent directory:
 * its owner's directory (of any kind the owner may be), else its space's
 * ("spaces/<Name>"), else the top? */
static int parent_ok(const char *path, size_t len, const struct om_kind *k, int depth)
{
	if (k->owner && depth < 8) {
		const struct om_ref *r = om_ref_of_member(k, k->owner, strlen(k->owner));
		const struct om_kind *t[8];
		int n = r ? om_ref_targets(r, t, 8) : 0;
		for (int i = 0; i < n; i++) {
			size_t l = len;
			if ((!t[i]->dir || strip_tail(path, &l, t[i]->dir)) &&
			    parent_ok(path, l, t[i], depth + 1))
				return 1;
		}
		return 0;
	}
	if (len == 0)
		return k->scope != OM_SPACE;
	return k->scope != OM_SERVER && len > 7 && memcmp(path, "spaces/", 7) == 0 &&
	       !memchr(path + 7, '/', len - 7);
}

int om_model_may_be_file(const char *path)
{
	for (size_t i = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		size_t len = strlen(path);
		if (k->bundle_file && strip_tail(path, &len, k->bundle_file) &&
		    (!k->dir || strip_tail(path, &len, k->dir)) && parent_ok(path, len, k, 0))
			return 1;
	}
	return 0;
}

int om_ref_allows(const struct om_ref *ref, const struct om_kind *k)
{
	size_t n = strlen(k->name);

	/* Compared by name where om_ref_targets() would look each kind up:
	 * an import asks this for every reference it resolves. */
	if (!ref->target)
		return 1;
	for (const char *t = ref->target; *t;) {
		size_t m = strcspn(t, "|");
		if (m == n && memcmp(t, k->name, n) == 0)
			return 1;
		t += m + (t[m] == '|');
	}
	return 0;
}

int om_ref_targets(const struct om_ref *ref, const struct om_kind **out, int max)
{
	int n = 0;

	/* The one reader of "A|B": om_model_check() has made sure each
	 * alternative is a kind. */
	for (const char *t = ref->target; t && *t && n < max;) {
		size_t m = strcspn(t, "|");
		for (size_t i = 0; i < om_nkinds; i++)
			if (strlen(om_kinds[i].name) == m && memcmp(om_kinds[i].name, t, m) == 0) {
				out[n++] = &om_kinds[i];
				break;
			}
		t += m + (t[m] == '|');
	}
	return n;
}

const struct om_ref *om_ref_of_member(const struct om_kind *k, const char *member, size_t len)
{
	for (size_t j = 0; j < k->nrefs; j++)
		if (strlen(k->refs[j].path) == len && memcmp(k->refs[j].path, member, len) == 0)
			return &k->refs[j];
	return NULL;
}

int om_is_binding(const char *s, size_t len)
{
	for (size_t i = 0; i + 1 < len; i++)
		if (s[i] == '#' && s[i + 1] == '{')
			return 1;
	return 0;
}

int om_ids_next(const char **s, const char *end, const char **id, size_t *len)
{
	const char *p = *s;

	while (p < end) {
		const char *a = p, *e = p;
		int depth = 0;
		/* The item ends at a comma outside every "#{...}". */
		for (; e < end && (depth || *e != ','); e++) {
			if (*e == '#' && e + 1 < end && e[1] == '{') {
				depth++;
				e++;
			} else if (*e == '}' && depth) {
				depth--;
			}
		}
		p = e < end ? e + 1 : end;
		while (a < e && (*a == ' ' || *a == '\t'))
			a++;
		while (e > a && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (e > a) {
			*s = p;
			*id = a;
			*len = (size_t)(e - a);
			return om_is_binding(a, *len) ? OM_IDS_BINDING : OM_IDS_ID;
		}
	}
	*s = end;
	return OM_IDS_END;
}

size_t om_elemsets(struct om_elemset *out, size_t max)
{
	size_t n = 0;

	for (size_t i = 0; i < om_nkinds; i++)
		for (size_t j = 0; j < om_kinds[i].nrefs; j++) {
			const struct om_ref *r = &om_kinds[i].refs[j];
			const struct om_kind *h[8];
			int nh = om_ref_holders(&om_kinds[i], r, h, 8);
			for (int m = 0; m < nh; m++) {
				size_t s;
				for (s = 0; s < n; s++)
					if (out[s].kind == h[m] && strcmp(out[s].path, r->inner) == 0)
						break;
				if (s == n && n < max)
					out[n++] = (struct om_elemset){h[m], r->inner, r->inner_name};
			}
		}
	return n;
}

int om_ref_holders(const struct om_kind *k, const struct om_ref *r, const struct om_kind **out,
		   int max)
{
	const struct om_kind *cur[8], *next[8];
	int ncur = 1, n;

	if (r->form != OM_REF_TAG && r->form != OM_REF_INNER)
		return 0;
	/* A tag names an element of its target; an inner reference one of
	 * the document reached by following the members of via. */
	cur[0] = k;
	for (const char *v = r->form == OM_REF_INNER ? r->via : ""; ncur && v;) {
		size_t m = strcspn(v, ">");
		n = 0;
		for (int c = 0; c < ncur; c++) {
			const struct om_ref *hop = r->form == OM_REF_TAG ? r : om_ref_of_member(cur[c], v, m);
			for (size_t j = 0; hop && hop->target && j < om_nkinds && n < 8; j++)
				if (om_ref_allows(hop, &om_kinds[j]))
					next[n++] = &om_kinds[j];
		}
		memcpy(cur, next, (size_t)n * sizeof *cur);
		ncur = n;
		v = v[m] ? v + m + 1 : NULL;
	}
	n = ncur < max ? ncur : max;
	memcpy(out, cur, (size_t)n * sizeof *out);
	return n;
}

const char *om_history_name(enum om_history h)
{
	static const char *const names[] = {
		[OM_HIST_NONE] = "",
		[OM_HIST_HISTORY] = "history",
		[OM_HIST_DEPLOYMENTS] = "deployments",
		[OM_HIST_MACHINES] = "machines",
		[OM_HIST_TENANTS] = "tenants",
		[OM_HIST_CERTIFICATES] = "certificates",
	};
	return (unsigned)h < N(names) ? names[h] : "";
}
