# om-store rekey: every secret of the store sealed again under a new master
# key, in one transaction: afterwards every secret opens with the new key and
# none with the old, and the bundle exported under the same password and
# salt is the same bytes.  A dry run, a busy store, a wrong key, a secret
# that does not open, and a rekey killed midway change nothing.
cp "$OM_FIXTURES/acme.key" acme.key
k=acme.key
new_acme a
printf 'rekey password\n' >pw
export_bundle() {
	om-export --db dbname=a --master-key-file "$1" |
		om-encrypt --kdf interactive --password-file pw ${3:-} -o "$2"
}
export_bundle "$k" before.tar.zst
# The store's content, whatever the order of its rows (an UPDATE moves one;
# pg_dump's \restrict lines hold a random key).
dump() { pg_dump -d a | sed '/^\\\(un\)\{0,1\}restrict /d' | sort; }
dump >dump.0
nsecrets=$(om-store usage --db dbname=a | awk -F '\t' '$3 == "secret" { n += $1 } END { print n }')
echo "$nsecrets secrets"

echo "== refused"
om-store keygen other.key
must_fail 2 om-store rekey --db dbname=a --master-key-file other.key --new-master-key-file "$k"
must_fail 2 om-store rekey --db dbname=a --master-key-file "$k" --new-master-key-file "$k"
must_fail 2 om-store rekey --db dbname=a --master-key-file "$k" --new-master-key-file other.key --new-key
must_fail 2 om-store rekey --db dbname=a --master-key-file "$k"
# While another writer holds the store's lock (an import, another rekey).
PGAPPNAME=holder psql_q -d a -c "SELECT pg_advisory_lock(7957688385473310578), pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
until [ "$(psql_q -d a -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")" = 1 ]; do sleep 0.05; done
must_fail 2 om-store rekey --db dbname=a --master-key-file "$k" --new-master-key-file other.key
psql_q -d a -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait $holder || true
# A secret sealed under another key: nothing is re-sealed.
psql_q -d a -c "CREATE TABLE keep AS SELECT * FROM accounts WHERE id = 'Accounts-1'"
tok=$(echo hunter2 | om-store seal --master-key-file other.key)
psql_q -d a -c "UPDATE accounts SET doc = jsonb_set(doc, '{Password}', '\"$tok\"') WHERE id = 'Accounts-1'"
must_fail 2 om-store rekey --db dbname=a --master-key-file "$k" --new-master-key-file new.key --new-key
test ! -e new.key
psql_q -d a -c "UPDATE accounts SET doc = keep.doc FROM keep WHERE accounts.id = keep.id; DROP TABLE keep"
dump | cmp - dump.0

echo "== dry run"
om-store rekey --db dbname=a --master-key-file "$k" --new-master-key-file new.key --new-key --dry-run
test ! -e new.key
dump | cmp - dump.0

echo "== killed midway"
# Held up on the last tenant variable with a secret, the later of the kinds
# that hold secrets, after re-sealing the others; killed there.
last=$(psql_q -d a -c "SELECT max(id) FROM tenantvariables WHERE doc::text LIKE '%om-sealed-1:%'")
PGAPPNAME=holder psql_q -d a -c "BEGIN; SELECT 1 FROM tenantvariables WHERE id = '$last' FOR UPDATE; SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
until [ "$(psql_q -d a -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'holder' AND query LIKE '%pg_sleep%'")" = 1 ]; do sleep 0.05; done
om-store rekey --db dbname=a --master-key-file "$k" --new-master-key-file other.key >killed.out 2>&1 &
rekey=$!
until [ "$(psql_q -d a -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'om-store' AND wait_event_type = 'Lock'")" = 1 ]; do sleep 0.05; done
psql_q -d a -c "SELECT left(query, 22) FROM pg_stat_activity WHERE application_name = 'om-store'"
kill -KILL $rekey
wait $rekey || echo "rekey: killed ($?)"
psql_q -d a -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait $holder || true
until [ "$(psql_q -d a -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'om-store'")" = 0 ]; do sleep 0.05; done
cat killed.out
dump | cmp - dump.0
om-store check --db dbname=a --master-key-file "$k" --home "$OM_FIXTURES/acme-home"

echo "== rekey"
om-store rekey --db dbname=a --master-key-file "$k" --new-master-key-file new.key --new-key >out
cat out
test "$(stat -c %a new.key)" = 600
grep -q "^re-sealed $nsecrets secrets in " out
test "$(psql_q -d a -c 'SELECT master_key_check FROM server')" = \
	"$(om-store key-check --master-key-file new.key)"
om-store check --db dbname=a --master-key-file new.key
# None opens with the old key: check names every secret.
must_fail 2 om-store check --db dbname=a --master-key-file "$k" >old.lines
test "$(grep -c 'sealed secret does not open with this master key$' old.lines)" = "$nsecrets"
test "$(wc -l <old.lines)" = "$nsecrets"
export_bundle new.key after.tar.zst "--salt-from before.tar.zst"
cmp before.tar.zst after.tar.zst
