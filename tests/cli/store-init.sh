# om-store makes an empty server with a new master key, and refuses what
# would overwrite or mislead.
om-store keygen k
test "$(stat -c %a k)" = 600
om-store key-check --master-key-file k | grep -q '^om-mk-1:[0-9a-f]\{32\}$'
must_fail 2 om-store keygen k

createdb s
om-store init --db dbname=s --master-key-file k
om-store check --db dbname=s --master-key-file k
psql_q -d s -c "SELECT store_format, server_version, maintenance_mode FROM server"
test "$(psql_q -d s -c 'SELECT master_key_check FROM server')" = \
	"$(om-store key-check --master-key-file k)"
must_fail 2 om-store init --db dbname=s --master-key-file k

# Another key is not this server's.
om-store keygen other
must_fail 2 om-store check --db dbname=s --master-key-file other

# --new-key makes the key; it is removed again when the store is not made.
createdb s2
OM_MASTER_KEY_FILE=new.key om-store init --db dbname=s2 --new-key
om-store check --db dbname=s2 --master-key-file new.key
must_fail 2 om-store init --db dbname=s2 --master-key-file new2.key --new-key
test ! -e new2.key

# Not a store, no such database, no key.
createdb plain
must_fail 2 om-store check --db dbname=plain
must_fail 2 om-store check --db dbname=absent 2>err
sed "s|$PGHOST|\$PGHOST|" err >&2
must_fail 2 om-store init --db dbname=plain
must_fail 2 om-store init --db dbname=plain --master-key-file missing.key
echo short > bad.key
must_fail 2 om-store check --db dbname=s --master-key-file bad.key
