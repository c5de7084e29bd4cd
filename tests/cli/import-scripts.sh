# Script sidecars go back into their processes: a bundle exported with
# --inline-scripts=extract imports to the same configuration as an inline
# one.  An entry is a sidecar only when a token of the process beside it
# names it, so a project named "scripts" is a project like any other.
new_acme a
psql_q -d a -c "UPDATE projects SET doc = doc || '{\"Name\": \"scripts\"}' WHERE name = 'Acme Web'"
ex() { db=$1 key=$2; shift 2; om-export --db "dbname=$db" --master-key-file "$key" --allow-clear-secrets "$@"; }
ex a "$OM_FIXTURES/acme.key" -o inline
# Compared without history, whose references to deleted documents the
# import clears (spec/import.md).
ex a "$OM_FIXTURES/acme.key" --ignore-history --ignore-deployments -o want
ex a "$OM_FIXTURES/acme.key" --inline-scripts=extract -o extract
ls extract/spaces/Default/projects/scripts | head -3
ls extract/spaces/Default/projects/scripts/scripts | wc -l
for b in inline extract; do
	createdb "$b"
	om-store init --db "dbname=$b" --master-key-file "$b.key" --new-key >/dev/null
	psql_q -d "$b" -c "UPDATE server SET maintenance_mode = true"
	om-import --db "dbname=$b" --master-key-file "$b.key" "$b"
	ex "$b" "$b.key" --ignore-history --ignore-deployments -o "$b.back"
	om-diff want "$b.back" && echo "$b: the same as the source"
done
