# Moving a server: its database with pg_dump | psql into another, its home
# directory copied.  om-store check --home, the last step of a move, names
# every file the store refers to that is missing or has another size than
# the store records, and, given another key than the store's, every secret
# that does not open, saying that the key is wrong, not the data.
cp "$OM_FIXTURES/acme.key" acme.key
new_acme old
createdb moved
pg_dump -d old | psql_q -d moved >/dev/null
cp -R "$OM_FIXTURES/acme-home" home
om-store check --db dbname=moved --master-key-file acme.key --home home

echo "== a file missing, one cut short, one replaced by a directory"
rm home/TaskLogs/ServerTasks-7.txt
truncate -s 100 home/Packages/Feeds-1/Acme.Web/Acme.Web.1.5.0.zip
rm home/Artifacts/ServerTasks-4/smoke-test.log && mkdir home/Artifacts/ServerTasks-4/smoke-test.log
must_fail 1 om-store check --db dbname=moved --master-key-file acme.key --home home

echo "== the wrong key"
cp -R "$OM_FIXTURES/acme-home" home2
om-store keygen wrong.key
must_fail 2 om-store check --db dbname=moved --master-key-file wrong.key --home home2 >wrong.out
wc -l <wrong.out
must_fail 1 grep -v 'sealed secret does not open with this master key$' wrong.out
head -n 2 wrong.out

echo "== a secret sealed under another key, with the right key"
tok=$(echo hunter2 | om-store seal --master-key-file wrong.key)
psql_q -d moved -c "UPDATE accounts SET doc = jsonb_set(doc, '{Password}', '\"$tok\"') WHERE id = 'Accounts-1'"
must_fail 1 om-store check --db dbname=moved --master-key-file acme.key --home home2
