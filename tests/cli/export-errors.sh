# Trouble is a one-line message, exit status 2 and no output.
new_acme a
k=$OM_FIXTURES/acme.key
om-store keygen other.key
must_fail 2 om-export --db dbname=a --master-key-file other.key --redact-secrets -o out.tar
must_fail 2 om-export --db dbname=absent --master-key-file "$k" --redact-secrets -o out.tar 2>err
sed "s|$PGHOST|\$PGHOST|" err >&2
createdb plain
must_fail 2 om-export --db dbname=plain --master-key-file "$k" --redact-secrets -o out.tar
must_fail 2 om-export --db dbname=a --master-key-file missing.key --redact-secrets -o out.tar
must_fail 2 om-export --db dbname=a --master-key-file "$k" --redact-secrets -o no/such/dir/out.tar
must_fail 2 om-export --db dbname=a --master-key-file "$k" --redact-secrets >/dev/full
must_fail 2 om-export --db dbname=a --master-key-file "$k" --redact-secrets --space Nowhere -o out.tar
must_fail 2 om-export --db dbname=a --redact-secrets -o out.tar
must_fail 2 om-export --db dbname=a --master-key-file "$k" --include-tasklogs -o out.tar
# A task log missing from the home directory.
cp -R "$OM_FIXTURES/acme-home" home
rm home/TaskLogs/ServerTasks-1.txt
must_fail 2 om-export --db dbname=a --master-key-file "$k" --redact-secrets --include-tasklogs --home home -o out.tar
# A directory whose parent is a file, and one that is a file.
must_fail 2 om-export --db dbname=a --master-key-file "$k" --redact-secrets -o other.key/out
must_fail 2 om-export --db dbname=a --master-key-file "$k" --redact-secrets -o other.key
# A reference that a path is made of and that names nothing: the message
# names the document.
psql_q -d a -c "UPDATE deployments SET doc = jsonb_set(doc, '{TenantId}', '\"Tenants-999\"') WHERE id = 'Deployments-7'"
must_fail 2 om-export --db dbname=a --master-key-file "$k" --redact-secrets -o out.tar
ls
