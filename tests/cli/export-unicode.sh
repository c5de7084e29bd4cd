# Names canonically equivalent in Unicode collide like names equal but for
# case (spec/bundle.md, names rule 6): two environments "Café", one
# composed (NFC, U+00E9) and one decomposed (NFD, e + U+0301), both get a
# suffix from their exact name.  The tar holds the same paths and bytes as
# the directory, and the readers take them as stored (never normalized):
# check-bundle and om-diff accept both forms, and om-import of the tar
# brings both names back exactly, each form as it was.
new_acme a
k=$OM_FIXTURES/acme.key
nfc=$(printf 'Caf\303\251')
nfd=$(printf 'Cafe\314\201')
psql_q -d a <<SQL
INSERT INTO environments (doc)
SELECT jsonb_set(jsonb_set(doc, '{Id}', to_jsonb(n.id)), '{Name}', to_jsonb(n.name))
FROM environments, (VALUES ('Environments-9001', '$nfc'), ('Environments-9002', '$nfd')) AS n(id, name)
WHERE environments.id = 'Environments-2';
SQL
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o dir
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o b.tar
ls dir/spaces/Default/environments | grep '^Caf' | od -c | sed 's/  */ /g'
# The tar holds the same files, byte for byte (tar -x does not normalize).
mkdir x
tar -xf b.tar -C x
diff -r dir x && echo tar equals dir
om-store check-bundle dir
om-store check-bundle b.tar
om-diff dir b.tar && echo no differences
# om-import: both names, each in its own form.
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
om-import --db dbname=t --master-key-file t.key b.tar 2>/dev/null | tail -1
psql_q -d t -c "SELECT encode(convert_to(name, 'UTF8'), 'hex') FROM environments WHERE name LIKE 'Caf%' ORDER BY 1"
# Both forms as they were, also after a round trip.
om-export --db dbname=t --master-key-file t.key --redact-secrets -o again
ls again/spaces/Default/environments | grep '^Caf' | od -c | sed 's/  */ /g'
