# An answered import is on disk: om-import commits with synchronous_commit
# on (SET LOCAL) whatever the server's default.  The test server runs with
# synchronous_commit = off (tests/pg.sh), so a commit it answered may still
# be in its WAL buffers; the server is stopped as a crash would stop it
# (pg_ctl stop -m immediate) as soon as om-import exits 0, and started
# again: the import is there, three times out of three.
new_acme a
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --ignore-history --ignore-deployments --allow-clear-secrets -o b
test "$(psql_q -d postgres -c 'SHOW synchronous_commit')" = off
# The server must be up for the cases after this one, whatever happens.
down=0
trap '[ "$down" = 0 ] || sh "$OM_TOP/tests/pg.sh" --start' EXIT
for i in 1 2 3; do
	createdb t$i
	if [ $i = 1 ]; then new=--new-key; else new=; fi
	om-store init --db dbname=t$i --master-key-file t.key $new >/dev/null
	psql_q -d t$i -c "UPDATE server SET maintenance_mode = true"
	om-import --db dbname=t$i --master-key-file t.key b 2>/dev/null
	down=1
	sh "$OM_TOP/tests/pg.sh" --crash
	sh "$OM_TOP/tests/pg.sh" --start
	down=0
	echo "run $i: $(psql_q -d t$i -c 'SELECT count(*) FROM projects') projects after the crash"
done
