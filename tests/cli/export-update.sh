# Writing into an existing directory bundle updates it in place: after one
# variable changes in the store, git sees one modified file; vanished
# documents' files go; .git stays.
new_acme a
x() { om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --redact-secrets -o audit "$@"; }
x
cd audit
git init -q && git add -A && git -c user.name=t -c user.email=t@t commit -qm first
cd ..
psql_q -d a -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables,0,Value}', '\"changed\"') WHERE id = 'variableset-Projects-1'"
x
git -C audit status --porcelain
# A removed channel's file is removed.
psql_q -d a -c "DELETE FROM channels WHERE id = (SELECT min(id) FROM channels WHERE NOT (doc->>'IsDefault')::boolean)"
x
git -C audit status --porcelain | sort
test -d audit/.git
