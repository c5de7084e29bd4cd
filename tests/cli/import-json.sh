# --dry-run --json: the plan as one JSON object, each document of the
# bundle once, in bundle and path order, with its action, bundle, kind,
# path and Id in the target; DryRun true and a summary that counts the
# documents; the target left byte for byte as it was (pg_dump); and the
# same plan from a tar as from a directory.
new_acme a
k=$OM_FIXTURES/acme.key
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o b
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o b.tar
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
# The target holds one project already, and another description of an
# environment: the plan has every action.
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets --space Default --project "Acme Web" --ignore-history |
	om-import --db dbname=t --master-key-file t.key >/dev/null 2>&1
psql_q -d t -c "UPDATE environments SET doc = doc || '{\"Description\": \"by target\"}' WHERE name = 'Test'"
psql_q -d t -c "UPDATE teams SET doc = jsonb_set(doc, '{MemberUserIds}', '[]') WHERE name = 'Release Managers'"
dump() { pg_dump -d t | sed '/^.restrict /d; /^.unrestrict /d'; }
dump >before
om-import --db dbname=t --master-key-file t.key --dry-run --json b >plan.json 2>/dev/null
dump >after
cmp before after && echo "target unchanged"
jq -c '[.DryRun, .Changed, .Summary]' plan.json
jq -r '.Documents | group_by(.Action)[] | "\(.[0].Action) \(length)"' plan.json
# The summary counts the documents.
jq -e '.Summary == (.Documents | group_by(.Action) | map({key: (.[0].Action | ascii_upcase[0:1] + .[1:]), value: length}) | from_entries
	| {Created: (.Created // 0), Overwritten: (.Overwritten // 0), Merged: (.Merged // 0), Skipped: (.Skipped // 0), Unchanged: (.Unchanged // 0)})' plan.json
# Each document of the bundle once, in path order, all from bundle b.
(cd b && find . -name '*.json' ! -name manifest.json | sed 's|^\./||' | LC_ALL=C sort) >bundle.paths
jq -r '.Documents[].Path' plan.json >plan.paths
cmp bundle.paths plan.paths && wc -l <plan.paths
jq -r '[.Documents[].Bundle] | unique[]' plan.json
jq -r '.Documents[] | select(.Path == "spaces/Default/environments/Test.json") | "\(.Action) \(.Kind)"' plan.json
# Existing documents carry the target's Ids; new ones Ids the target does
# not have (allocated, then rolled back).
jq -r '.Documents[] | select(.Kind == "Environment" or .Kind == "Project") | "\(.Action) \(.Id)"' plan.json | while read -r act id; do
	n=$(psql_q -d t -c "SELECT count(*) FROM (SELECT id FROM environments UNION ALL SELECT id FROM projects) d WHERE id = '$id'")
	echo "$act $n"
done | sort | uniq -c
om-import --db dbname=t --master-key-file t.key --dry-run --json b.tar 2>/dev/null >plan-tar.json
jq 'del(.Documents[].Bundle)' plan.json >p1
jq 'del(.Documents[].Bundle)' plan-tar.json >p2
cmp p1 p2 && echo "the same plan from the tar"
dump >after
cmp before after && echo "target unchanged"
