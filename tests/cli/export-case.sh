# Names equal but for ASCII case in one directory (spec/bundle.md, names
# rule 6): every member of the group gets a suffix from its exact name, so
# the files stay apart on case-insensitive file systems; other names, and
# the same name in another directory, keep their plain component.
new_acme a
x() { om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --redact-secrets -o "$1"; }
x before
# A second channel "HOTFIX"-like name beside an existing channel, and a
# project whose name differs from another's by case only.
psql_q -d a <<'SQL'
INSERT INTO channels (doc)
SELECT jsonb_set(jsonb_set(doc, '{Id}', '"Channels-9001"'), '{Name}', to_jsonb(upper(doc->>'Name')))
FROM channels WHERE id = (SELECT min(id) FROM channels WHERE NOT (doc->>'IsDefault')::boolean);
SQL
x after
# Only the channels directory of that one project changes: two suffixed
# files where there was one plain file.
diff -r before after | sed 's/^Only in after[^:]*: /added: /; s/^Only in before[^:]*: /removed: /' | sort
# The suffix is made from the exact name: both names come back.
for f in after/spaces/*/projects/*/channels/*%~*.json; do
	sed -n 's/^  "Name": \(.*\),$/\1/p' "$f"
done | sort
# Nothing else in the bundle is suffixed.
find after -name '*%~*' | wc -l
# Removing the collision renames the survivor back.
psql_q -d a -c "DELETE FROM channels WHERE id = 'Channels-9001'"
x after
diff -r before after && echo same again
