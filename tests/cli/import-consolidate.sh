# Consolidating two servers that hold the same package versions in their
# built-in feeds: a package is one per feed (its identity is the feed, the
# package and the version), so both servers' packages come in, each with an
# Id from the target's allocator and its own file under its feed in the
# home directory.
new_acme a
k=$OM_FIXTURES/acme.key
# The second server: the same instance with its spaces renamed, and another
# build of Acme.Web 1.5.0 in its home directory.
createdb b -T a
psql_q -d b -c "UPDATE spaces SET doc = jsonb_set(doc, '{Name}', to_jsonb('Other ' || name))"
cp -R "$OM_FIXTURES/acme-home" bhome
echo "another build" >bhome/Packages/Feeds-1/Acme.Web/Acme.Web.1.5.0.zip
psql_q -d b -c "UPDATE packages SET doc = jsonb_set(doc, '{PackageSizeBytes}', '14')
	WHERE package_id = 'Acme.Web' AND version = '1.5.0'"
# (Without history: server tasks are unique server-wide in the store.)
x() { db=$1; shift; om-export --db "dbname=$db" --master-key-file "$k" --allow-clear-secrets \
	--ignore-history --ignore-deployments --include-packages "$@"; }
x a --home "$OM_FIXTURES/acme-home" -o A
x b --home bhome -o B
createdb u
om-store init --db dbname=u --master-key-file u.key --new-key >/dev/null
psql_q -d u -c "UPDATE server SET maintenance_mode = true"
mkdir home
om-import --db dbname=u --master-key-file u.key --home home A B 2>warnings
grep -c 'not in bundle or target: dropped' warnings
psql_q -d u -c "SELECT s.name, count(*), count(DISTINCT p.id) FROM packages p JOIN spaces s ON s.id = p.space_id GROUP BY 1 ORDER BY 1"
psql_q -d u -c "SELECT count(*) FROM packages WHERE id !~ '^Packages-[0-9]+$'"
om-store check --db dbname=u --master-key-file u.key --home home && echo "the target is consistent, files included"
# Each server's Acme.Web 1.5.0 is its own.
om-export --db dbname=u --master-key-file u.key --allow-clear-secrets --home home --include-packages -o U
p="packages/Octopus Server (built-in)/Acme.Web/1.5.0.zip"
cmp "A/spaces/Default/$p" "U/spaces/Default/$p"
cmp "B/spaces/Other Default/$p" "U/spaces/Other Default/$p"
cat "U/spaces/Other Default/$p"
find home -name Acme.Web.1.5.0.zip | wc -l
