# Every failure, early or late, is exit status 2 with one clear line, and
# leaves the target exactly as it was (pg_dump before and after): a bad
# entry at the end of the bundle, a document the database refuses after
# everything else was written, a missing reference, a wrong server
# version, a server not in maintenance mode, a password-encrypted bundle, a
# redacted secret with nothing to keep, the wrong key, another import
# holding the lock, and the connection killed in the middle.
new_acme a
k=$OM_FIXTURES/acme.key
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
dump() { pg_dump -d t | sed '/^.restrict /d; /^.unrestrict /d'; }
dump >dump0
same() { dump >dump1 && cmp dump0 dump1; }
imp() { om-import --db dbname=t --master-key-file t.key "$@"; }
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets -o good

# count BUNDLE KIND N: the manifest's Counts.KIND plus N, as a document of
# that kind was added or removed.
count() {
	jq ".Counts.$2 += $3" "$1/manifest.json" >manifest.tmp && mv manifest.tmp "$1/manifest.json"
}
cp -R good bad && mkdir bad/zzz && printf '{"Id": "Projects-1",' >bad/zzz/bad.json
must_fail 2 imp bad; same
cp -R good late && printf '{"Id": "Packages-999", "SpaceId": "Spaces-1"}' >late/zzz.json
count late Package 1
must_fail 2 imp late; same
cp -R good missing && rm "missing/spaces/Default/lifecycles/Hotfix.json"
count missing Lifecycle -1
must_fail 2 imp missing; same
cp -R good pw && sed -i 's/"State": "clear"/"State": "password"/' pw/manifest.json
must_fail 2 imp pw; same
om-export --db dbname=a --master-key-file "$k" --redact-secrets -o redacted
must_fail 2 imp redacted; same
must_fail 2 om-import --db dbname=t --master-key-file "$k" good; same

psql_q -d t -c "UPDATE server SET server_version = '2025.1.1'"
dump >dump0
must_fail 2 imp good; same
imp --ignore-version-check --dry-run good | tail -1; same
psql_q -d t -c "UPDATE server SET server_version = '2024.4.4121', maintenance_mode = false"
dump >dump0
must_fail 2 imp good; same
imp --online --dry-run good | tail -1; same
# A dry run changes nothing: it needs neither maintenance mode nor --online.
imp --dry-run good | tail -1; same
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
dump >dump0

# Another import holds the lock: the second fails at once.
PGAPPNAME=holder psql_q -d t -c "SELECT pg_advisory_lock(7957688385473310578), pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
until [ "$(psql_q -d t -c "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'")" = 1 ]; do sleep 0.05; done
must_fail 2 imp good; same
psql_q -d t -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait $holder || true

# The connection killed while the import waits on a table late in the
# order, after it has written most kinds.
PGAPPNAME=holder psql_q -d t -c "BEGIN; LOCK TABLE packages; SELECT pg_sleep(60)" >/dev/null 2>&1 &
holder=$!
until [ "$(psql_q -d t -c "SELECT count(*) FROM pg_locks WHERE relation = 'packages'::regclass AND granted")" = 1 ]; do sleep 0.05; done
imp good 2>killed.err &
victim=$!
until [ "$(psql_q -d t -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'om-import' AND wait_event_type = 'Lock'")" = 1 ]; do sleep 0.05; done
psql_q -d t -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'om-import'" >/dev/null
must_fail 2 wait $victim
cat killed.err
psql_q -d t -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'holder'" >/dev/null
wait $holder || true
same
