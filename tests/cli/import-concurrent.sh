# Two imports into one target at once: while the first holds its
# transaction (held up on a table another session has locked), the second
# fails at once with a clear message and changes nothing; the first then
# completes, and the target holds its import exactly once.
new_acme a
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --allow-clear-secrets -o b.tar
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
imp() { om-import --db dbname=t --master-key-file t.key b.tar; }
PGAPPNAME=holder psql_q -d t -c "BEGIN; LOCK TABLE packages; SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
until [ "$(psql_q -d t -c "SELECT count(*) FROM pg_locks WHERE relation = 'packages'::regclass AND granted")" = 1 ]; do sleep 0.05; done
imp >first.out 2>first.err &
first=$!
until [ "$(psql_q -d t -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'om-import' AND wait_event_type = 'Lock'")" = 1 ]; do sleep 0.05; done
must_fail 2 imp
psql_q -d t -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait $holder || true
wait $first && cat first.out first.err
psql_q -d t -c "SELECT count(*) FROM projects"
