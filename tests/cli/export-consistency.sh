# A writer committing changes during an export never makes the bundle
# inconsistent: the manifest's counts are those of one moment of the store,
# the files are those counts, and every Id in the bundle names a document of
# the bundle; the same with three readers sharing the snapshot (-j 3).
# (The reference check is shown to fail on a bundle missing one project.)
gen=$OM_TOP/bench/om-gen
if [ ! -x "$gen" ]; then
	echo "export-consistency: $gen is missing: make tests (or make bench/om-gen)" >&2
	exit 2
fi
createdb big
om-store init --db dbname=big --master-key-file big.key --new-key >/dev/null
"$gen" --db dbname=big --master-key-file big.key --projects 300 2>/dev/null
q() { psql_q -d big "$@"; }

# The store's counts, as the manifest has them: "Kind=N" for each kind with
# documents, in the manifest's (bytewise) order of kinds.
om-store model | awk '/^[A-Z]/ { k = $1 } /^  table / { print k, $2 }' | sort >kinds
counts_sql=$(awk '{ printf "%s\n\t\tCASE WHEN (SELECT count(*) FROM %s) > 0 THEN %s || (SELECT count(*) FROM %s) END",
	(NR > 1 ? "," : ""), $2, "'\''" $1 "='\''", $2 }' kinds)
# The writer: each step is one transaction of the function t_step, which
# returns the counts it commits and how many sessions of each om-export
# under test (one reader, then three) were inside a transaction (their
# snapshot) at the time.
q <<EOF
CREATE FUNCTION t_counts() RETURNS text LANGUAGE sql AS \$\$
	SELECT concat_ws(' ',$counts_sql)
\$\$;

-- A copy of project src with its channels, process, settings and variables
-- under new Ids; the copies' references to src's channels follow them.
CREATE FUNCTION t_copy_project(src text, newname text) RETURNS void
LANGUAGE plpgsql AS \$\$
DECLARE
	nid text := om_new_id('Project');
	c record;
	cid text;
	pj text; vs text; dp text; ds text;
BEGIN
	SELECT doc::text INTO STRICT pj FROM projects WHERE id = src;
	SELECT doc::text INTO STRICT vs FROM variablesets WHERE owner_id = src;
	SELECT doc::text INTO STRICT dp FROM deploymentprocesses WHERE owner_id = src;
	SELECT doc::text INTO STRICT ds FROM deploymentsettings WHERE project_id = src;
	FOR c IN SELECT id, doc::text AS t FROM channels WHERE project_id = src ORDER BY id LOOP
		cid := om_new_id('Channel');
		INSERT INTO channels (doc) VALUES
			(replace(replace(c.t, '"' || c.id || '"', '"' || cid || '"'),
				 src || '"', nid || '"')::jsonb);
		vs := replace(vs, '"' || c.id || '"', '"' || cid || '"');
		dp := replace(dp, '"' || c.id || '"', '"' || cid || '"');
	END LOOP;
	-- "Projects-7" and "variableset-Projects-7" alike.
	INSERT INTO projects (doc) VALUES (replace(pj, src || '"', nid || '"')::jsonb
		|| jsonb_build_object('Name', newname, 'Slug', lower(replace(newname, ' ', '-'))));
	INSERT INTO variablesets (doc) VALUES (replace(vs, src || '"', nid || '"')::jsonb);
	INSERT INTO deploymentprocesses (doc) VALUES (replace(dp, src || '"', nid || '"')::jsonb);
	INSERT INTO deploymentsettings (doc) VALUES (replace(ds, src || '"', nid || '"')::jsonb);
END
\$\$;

-- Step i: copies of projects (two in six steps), a new channel in a
-- generated project, renames of a copy and of a new channel, and deletions
-- of the oldest copy (with what it owns) and of the oldest new channel, so
-- that the counts move on rather than come back.
CREATE FUNCTION t_step(i int) RETURNS text LANGUAGE plpgsql AS \$\$
DECLARE
	x text;
BEGIN
	CASE i % 6
	WHEN 0, 3 THEN
		PERFORM t_copy_project('Projects-' || (1 + i * 37 % 300), 'Copy ' || i);
	WHEN 1 THEN
		INSERT INTO channels (doc)
		SELECT doc || jsonb_build_object('Id', om_new_id('Channel'),
						 'Name', 'Extra ' || i, 'Slug', 'extra-' || i)
		FROM channels WHERE project_id = 'Projects-' || (1 + i * 53 % 300) AND name = 'Hotfix';
	WHEN 4 THEN
		UPDATE projects SET doc = doc || jsonb_build_object('Name', 'Renamed ' || i)
		WHERE id = (SELECT id FROM projects WHERE name LIKE 'Copy %' ORDER BY id LIMIT 1);
		UPDATE channels SET doc = doc || jsonb_build_object('Name', 'Renamed extra ' || i)
		WHERE id = (SELECT id FROM channels WHERE name LIKE 'Extra %' ORDER BY id LIMIT 1);
	WHEN 2 THEN
		SELECT id INTO x FROM projects WHERE name LIKE 'Copy %' OR name LIKE 'Renamed %'
		ORDER BY id LIMIT 1;
		DELETE FROM channels WHERE project_id = x;
		DELETE FROM variablesets WHERE owner_id = x;
		DELETE FROM deploymentprocesses WHERE owner_id = x;
		DELETE FROM deploymentsettings WHERE project_id = x;
		DELETE FROM projects WHERE id = x;
	ELSE
		DELETE FROM channels WHERE id = (SELECT id FROM channels
			WHERE name LIKE 'Extra %' OR name LIKE 'Renamed extra %' ORDER BY id LIMIT 1);
	END CASE;
	RETURN t_counts() || '|' || (SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'om-export-under-test' AND xact_start IS NOT NULL)
		|| '|' || (SELECT count(*) FROM pg_stat_activity
		WHERE application_name = 'om-export-under-test-j3' AND xact_start IS NOT NULL);
END
\$\$;

-- The writer: steps until the export is done (a row in t_done), at most
-- 3000 steps and 25 seconds; each step one transaction, logged in it.
CREATE TABLE t_states (i int PRIMARY KEY, counts text NOT NULL, during bigint NOT NULL,
	during_j3 bigint NOT NULL);
CREATE TABLE t_done ();
-- The state before the first step.
INSERT INTO t_states VALUES (0, t_counts(), 0, 0);
CREATE PROCEDURE t_writer() LANGUAGE plpgsql AS \$\$
DECLARE
	t0 timestamptz := clock_timestamp();
	r text;
BEGIN
	FOR i IN 1..3000 LOOP
		EXIT WHEN EXISTS (SELECT FROM t_done)
			OR clock_timestamp() > t0 + interval '25 seconds';
		r := t_step(i);
		INSERT INTO t_states VALUES (i, split_part(r, '|', 1), split_part(r, '|', 2)::bigint,
			split_part(r, '|', 3)::bigint);
		COMMIT;
		PERFORM pg_sleep(0.002);
	END LOOP;
END
\$\$;
EOF

q -c 'CALL t_writer()' &
wpid=$!
# The export starts once the writer is under way.
n=0
until [ "$(q -c 'SELECT count(*) FROM t_states')" -gt 10 ]; do
	n=$((n + 1))
	test $n -lt 200
	sleep 0.05
done
# Both exports at once, so that both read while the writer writes however
# slow the machine.
rc=0 rc3=0
PGAPPNAME=om-export-under-test-j3 om-export --db dbname=big --master-key-file big.key \
	--redact-secrets -j 3 -o b3.tar &
j3pid=$!
PGAPPNAME=om-export-under-test om-export --db dbname=big --master-key-file big.key \
	--redact-secrets -o b.tar || rc=$?
wait $j3pid || rc3=$?
q -c 'INSERT INTO t_done DEFAULT VALUES'
wait $wpid
test $rc -eq 0
test $rc3 -eq 0
# The writer did commit while each export read its snapshot (else this case
# would prove nothing), and kept a valid store.
for col in during during_j3; do
	during=$(q -c "SELECT count(*) FROM t_states WHERE $col > 0")
	if [ "$during" -lt 10 ]; then
		echo "export-consistency: only $during commits during the export ($col)" >&2
		exit 1
	fi
done
# All three readers of -j 3 were in their snapshot while the writer committed.
test "$(q -c 'SELECT max(during_j3) FROM t_states')" -eq 3
om-store check --db dbname=big --master-key-file big.key

simple=$(om-store model | sed -n 's/^  ids \([A-Za-z]*\)-N$/\1/p' | paste -sd'|')
derived=$(om-store model | sed -n 's/^  ids \([A-Za-z]*\)-<.*/\1/p' | paste -sd'|')
test -n "$simple" && test -n "$derived"
# check_refs TAR-ARGS...: check the documents of tar -xOf TAR-ARGS.
check_refs() {
	# The documents' own Ids: their top-level member (canonical JSON
	# indents by two spaces).
	tar -xOf "$@" | sed -n 's/^  "Id": "\(.*\)",*$/\1/p' | sort -u >ids.have
	tar -xOf "$@" | grep -oE '"[A-Za-z]+-[A-Za-z0-9,-]+"' | tr -d '"' | tr ',' '\n' |
		grep -E "^(($simple)|($derived)-($simple))-[0-9]+\$" | sort -u >ids.used
	test -s ids.have && test -s ids.used
	comm -23 ids.used ids.have >ids.dangling
	if [ -s ids.dangling ]; then
		echo "dangling: $(wc -l <ids.dangling) Id(s), e.g. $(head -n 1 ids.dangling)" >&2
		return 1
	fi
}
kind_count() { echo " $mc " | sed -n "s/.* $1=\([0-9]*\) .*/\1/p"; }
files() { grep -c "$1" b.list; }
for t in b.tar b3.tar; do
	# (a) The manifest's counts are those of one of the states the writer
	# committed (or of the state before).
	mc=$(tar -xOf $t manifest.json |
		sed -n '/"Counts"/,/}/s/^ *"\([A-Za-z]*\)": \([0-9]*\),*$/\1=\2/p' | paste -sd' ')
	if ! q -c 'SELECT counts FROM t_states' | grep -qxF "$mc"; then
		echo "export-consistency: $t: the manifest's counts are no state of the store: $mc" >&2
		exit 1
	fi
	echo "$t: manifest counts: one committed state"
	# ... and the files are what the manifest counts.
	tar -tf $t >b.list
	test "$(files '/projects/[^/]*/project\.json$')" -eq "$(kind_count Project)"
	test "$(files '/projects/[^/]*/channels/[^/]*\.json$')" -eq "$(kind_count Channel)"
	test "$(files '/projects/[^/]*/deployment-process\.json$')" -eq "$(kind_count DeploymentProcess)"
	test "$(files '/projects/[^/]*/deployment-settings\.json$')" -eq "$(kind_count DeploymentSettings)"
	test "$(files '/variables\.json$')" -eq "$(kind_count VariableSet)"
	echo "$t: files: as counted"
	# (b) Every Id-shaped string in the bundle (a value, an object key or
	# an item of a comma-separated list) is the Id of one of its documents.
	check_refs $t
	echo "$t: references: all resolve"
done
# Without one generated project's project.json, its Id dangles.
p=$(grep '/projects/[^/]*/project\.json$' b.list | grep -v '/Copy \|/Renamed ' | head -n 1)
must_fail 1 check_refs b.tar --exclude="$p" 2>/dev/null
echo "without one project.json: $(wc -l <ids.dangling) dangling Id"
