# om-store upgrade: a store of format 1, made from that format's store.sql
# (fixtures/store-format-1.sql) and the sample instance as format 1 held it
# (package Ids made of name and version, package files not kept per feed),
# becomes the sample instance made new, to the byte of its export with its
# files; a second run changes nothing; a step that fails changes nothing;
# every program refuses a store of another format.
k=$OM_FIXTURES/acme.key
createdb old
psql_q -d old -f "$OM_FIXTURES/store-format-1.sql"
perl -0pe 's/"Id": "Packages-\d+",(\n  "PackageId": "([^"]+)",\n  "Version": "([^"]+)",)/"Id": "packages-$2.$3",$1/g' \
	"$OM_FIXTURES/acme.sql" >acme-1.sql
must_fail 1 grep -q '"Id": "Packages-' acme-1.sql
psql_q -d old -f acme-1.sql >/dev/null
cp -R "$OM_FIXTURES/acme-home" home
mkdir pk && mv home/Packages/*/* pk/ && rm -r home/Packages && mv pk home/Packages
ls home/Packages | head -n 2

# Every program refuses it, and says what to run.
echo "== format 1"
must_fail 2 om-store check --db dbname=old --master-key-file "$k"
must_fail 2 om-store usage --db dbname=old
must_fail 2 om-export --db dbname=old --master-key-file "$k" --redact-secrets -o x.tar
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key
om-export --db dbname=t --master-key-file t.key --redact-secrets -o empty.tar
psql_q -d old -c "UPDATE server SET maintenance_mode = true"
must_fail 2 om-import --db dbname=old --master-key-file "$k" --dry-run empty.tar
must_fail 2 om-store rekey --db dbname=old --master-key-file "$k" --new-master-key-file n.key --new-key
test ! -e n.key
test ! -e x.tar

# Without the home directory, or with another file where one goes, the step
# fails and leaves the store and the home directory as they were.
(cd home && find . | sort) >home.before
must_fail 2 om-store upgrade --db dbname=old --master-key-file "$k"
mkdir -p home/Packages/Feeds-1/Acme.Web
echo other >home/Packages/Feeds-1/Acme.Web/Acme.Web.1.5.0.zip
must_fail 2 om-store upgrade --db dbname=old --master-key-file "$k" --home home 2>err
sed "s|$PWD|.|g" err >&2
rm -r home/Packages/Feeds-1
(cd home && find . | sort) | cmp - home.before
test "$(psql_q -d old -c 'SELECT store_format FROM server')" = 1
# Not with another key.
must_fail 2 om-store upgrade --db dbname=old --master-key-file t.key --home home

echo "== upgrade"
om-store upgrade --db dbname=old --master-key-file "$k" --home home
test ! -e home/Packages/Acme.Web
om-store check --db dbname=old --master-key-file "$k" --home home
psql_q -d old -c "SELECT store_format, (SELECT next_value FROM id_allocator WHERE kind = 'Package') FROM server"
# (pg_dump's \restrict lines hold a random key.)
dump() { pg_dump -d old | sed '/^\\\(un\)\{0,1\}restrict /d'; }
dump >dump.1
(cd home && find . | sort) >home.1
om-store upgrade --db dbname=old --master-key-file "$k" --home home
dump | cmp - dump.1
(cd home && find . | sort) | cmp - home.1

# The same bundle as from the sample instance made new, files included.
new_acme new
x() { om-export --master-key-file "$k" --redact-secrets --include-tasklogs \
	--include-artifacts --include-packages "$@"; }
x --db dbname=old --home home -o old.tar
x --db dbname=new --home "$OM_FIXTURES/acme-home" -o new.tar
cmp old.tar new.tar
psql_q -d new -c "SELECT om_new_id('Package')"
psql_q -d old -c "SELECT om_new_id('Package')"

# A store newer than this om: every program refuses it; there is no downgrade.
echo "== format 3"
psql_q -d new -c "UPDATE server SET store_format = 3, maintenance_mode = true"
must_fail 2 om-store check --db dbname=new
must_fail 2 om-store usage --db dbname=new
must_fail 2 om-store upgrade --db dbname=new --master-key-file "$k"
must_fail 2 om-store rekey --db dbname=new --master-key-file "$k" --new-master-key-file t.key
must_fail 2 om-export --db dbname=new --master-key-file "$k" --redact-secrets -o x.tar
must_fail 2 om-import --db dbname=new --master-key-file "$k" --dry-run empty.tar
git init -q audit
echo pw >pw
must_fail 2 om-snapshot --db dbname=new --master-key-file "$k" --password-file pw audit
test "$(psql_q -d new -c 'SELECT store_format FROM server')" = 3
