# om-diff on the sample instance: the same configuration under other Ids
# compares equal; a renamed lifecycle, reordered steps, a changed secret and
# a new variable show as such, by name; --stat, --name-only and --json agree
# with the text.
new_acme a
k=$OM_FIXTURES/acme.key
exp() { db=$1; shift; om-export --db "dbname=$db" --master-key-file "$k" --redact-secrets "$@"; }

# A second store holding the same configuration under other Ids: every
# numeric document Id shifted by 1000 (derived Ids and references with it),
# every tag Id by 100 (TagSets-1/Tags-3 -> TagSets-1001/Tags-103), and every
# element's GUID Id (steps, actions, templates, variables, channel rules)
# made another by reversing its first group, so that tag scopes, action
# scopes and tenant variables' templates name their elements by other Ids.
createdb b
psql_q -d b -f "$OM_TOP/spec/store.sql"
perl -0777 -pe 'BEGIN { $p = join "|", qw(Spaces Users UserRoles Teams Environments Lifecycles
	ProjectGroups Feeds Accounts Certificates WorkerPools MachinePolicies Workers Machines
	TagSets Tenants ActionTemplates LibraryVariableSets Projects Channels Runbooks
	ProjectTriggers TenantVariables Releases ServerTasks Deployments Artifacts Events Packages);
	$g = "([0-9a-f]{8})(-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})" }
	$id{$1} = 1 while /"Id": "$g"/g;
	s/\b($p)-(\d+)\b/"$1-" . ($2 + 1000)/ge;
	s/\bTags-(\d+)\b/"Tags-" . ($1 + 100)/ge;
	s/\b$g\b/$id{$1} ? reverse($1) . $2 : "$1$2"/ge' "$OM_FIXTURES/acme.sql" |
	psql_q -d b >/dev/null
# Without events and tasks: they embed Ids in text (MessageHtml), which
# two servers cannot share.
exp a --ignore-history -o a1
exp b --ignore-history -o b1
exp b --ignore-history -o b1.tar.zst
must_fail 1 diff -r a1 b1 >/dev/null
om-diff a1 b1
om-diff a1 b1.tar.zst
exp a --ignore-history | om-diff b1.tar.zst -
echo "same configuration, other Ids: exit $?"
# The whole instance against itself, as a directory and a stream.
exp a -o full
exp a | om-diff full -

# A renamed lifecycle: one renamed document, and its name in the projects
# and channels that use it.
psql_q -d a -c "UPDATE lifecycles SET doc = jsonb_set(doc, '{Name}', '\"Production only\"') WHERE name = 'Default Lifecycle'"
exp a --ignore-history -o a2
must_fail 1 om-diff a1 a2 >rename.txt
echo "== rename"
cat rename.txt

# Two steps swapped: a move.
psql_q -d a -c "UPDATE deploymentprocesses SET doc = jsonb_set(doc, '{Steps}',
	jsonb_build_array(doc->'Steps'->1, doc->'Steps'->0) ||
	(SELECT jsonb_agg(e ORDER BY i) FROM jsonb_array_elements(doc->'Steps') WITH ORDINALITY t(e, i) WHERE i > 2))
	WHERE id = 'deploymentprocess-Projects-1'"
# A new secret for a feed.
new=$(echo 'rotated-key' | om-store seal --master-key-file "$k")
psql_q -d a -c "UPDATE feeds SET doc = jsonb_set(doc, '{SecretKey}', to_jsonb('$new'::text)) WHERE name = 'Acme ECR'"
# A new variable scoped to one environment.
psql_q -d a -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}', doc->'Variables' ||
	'[{\"Id\": \"5b3c8f0e-0000-4000-8000-000000000001\", \"Name\": \"Smoke.Url\", \"Type\": \"String\",
	   \"Value\": \"https://test.acme.com/health\", \"IsSensitive\": false,
	   \"Scope\": {\"Environment\": [\"Environments-2\"]}}]'::jsonb) WHERE id = 'variableset-Projects-1'"
exp a --ignore-history -o a3
must_fail 1 om-diff a2 a3 >changes.txt
echo "== steps, secret, variable"
cat changes.txt

# Variables are a name and a scope, in no order: two of one name swapped
# are no change; one more of a known name, placed first, is one added
# variable (nothing else moves or changes).
vars() { psql_q -d a -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}', $1)
	WHERE id = 'variableset-Projects-1'"; }
vars "jsonb_build_array(doc->'Variables'->1, doc->'Variables'->0) ||
	(SELECT jsonb_agg(e ORDER BY i) FROM jsonb_array_elements(doc->'Variables') WITH ORDINALITY t(e, i) WHERE i > 2)"
exp a --ignore-history -o a4
jq -r '.Variables[0:2][] | .Name' "a4/spaces/Default/projects/Acme Web/variables.json" | uniq -c
om-diff a3 a4
vars "'[{\"Id\": \"5b3c8f0e-0000-4000-8000-000000000002\", \"Name\": \"Website.Host\", \"Type\": \"String\",
	\"Value\": \"dr.acme.com\", \"IsSensitive\": false,
	\"Scope\": {\"Environment\": [\"Environments-5\"], \"Role\": [\"dr-site\"]}}]'::jsonb || (doc->'Variables')"
exp a --ignore-history -o a5
echo "== one more variable of a name"
must_fail 1 om-diff a4 a5

# A document added, one removed, in every output.
psql_q -d a -c "INSERT INTO environments (doc) VALUES ('{\"Id\": \"Environments-99\", \"Name\": \"QA\",
	\"SpaceId\": \"Spaces-1\", \"SortOrder\": 9, \"UseGuidedFailure\": false}')"
psql_q -d a -c "DELETE FROM feeds WHERE id = 'Feeds-2'"
exp a --ignore-history -o a6
echo "== added and removed"
must_fail 1 om-diff a5 a6
must_fail 1 om-diff --stat a5 a6
must_fail 1 om-diff --name-only a5 a6
must_fail 1 om-diff --json a5 a6

# The other outputs say the same as the text.
echo "== stat"
must_fail 1 om-diff --stat a1 a3 | tee stat.txt
must_fail 1 om-diff a1 a3 >all.txt
for s in added removed renamed changed; do
	t=$(grep -c "^$s " all.txt || true)
	col=$(awk -v s=$s 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == s) c = i } $1 == "total" { print $c }' stat.txt)
	[ "$t" = "$col" ] || { echo "stat: $s $col, text $t"; exit 1; }
done
echo "== name-only"
must_fail 1 om-diff --name-only a1 a3 | tee names.txt
grep -v '^ ' all.txt | sed 's/.*(\(.* -> \)\{0,1\}\(.*\))$/\2/' | diff - names.txt
echo "== json"
must_fail 1 om-diff --json a1 a3 >changes.json
jq -c 'select(.kind == "Lifecycle" or .loc == "LifecycleId" or .change == "moved" or
	.change == "secret-changed" or (.loc | startswith("Variables")))' changes.json
# Every record is one line of valid JSON, one per change line of the text.
test "$(jq -s length changes.json)" = "$(wc -l <changes.json)"
test "$(jq -s 'map(select(.change != null)) | length' changes.json)" = "$(grep -c '^  ' all.txt)"
# The secret's value shows nowhere, in any output, even from clear bundles.
om-export --db dbname=a --master-key-file "$k" | cat >c3.tar
psql_q -d a -c "UPDATE feeds SET doc = jsonb_set(doc, '{SecretKey}', to_jsonb('$(echo 'other-key' | om-store seal --master-key-file "$k")'::text)) WHERE name = 'Acme ECR'"
om-export --db dbname=a --master-key-file "$k" | om-diff --json c3.tar - >clear.json || true
om-export --db dbname=a --master-key-file "$k" | om-diff c3.tar - >clear.txt || true
cat clear.txt
must_fail 1 grep -r -e rotated-key -e other-key -e "$(printf rotated-key | base64)" -e "$(printf other-key | base64)" \
	-e om-clear -e om-redacted changes.txt changes.json clear.json clear.txt all.txt
# -q: nothing, just the status.
must_fail 1 om-diff -q a1 a3
om-diff -q a1 b1
