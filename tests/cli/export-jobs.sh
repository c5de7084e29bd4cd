# -j N: N connections read one snapshot at once, and the bundle has the
# bytes of one reader, as a tar and as a directory, on the sample instance
# (the golden bundle) and on a generated one whose big tables are cut into
# pieces; a small sort memory too.  Bad values of -j, a reader that cannot
# connect, a document that cannot be exported and an interrupt: one
# message, exit status 2, nothing left.
gen=$OM_TOP/bench/om-gen
if [ ! -x "$gen" ]; then
	echo "export-jobs: $gen is missing: make tests (or make bench/om-gen)" >&2
	exit 2
fi
k=$OM_FIXTURES/acme.key
new_acme a
x() { om-export --db dbname=a --master-key-file "$k" --redact-secrets "$@"; }
for j in 1 2 4; do
	x -j $j -o t$j.tar
	x --jobs=$j -o d$j
done
cmp t1.tar t2.tar
cmp t1.tar t4.tar
diff -r d1 d2
diff -r d1 d4
diff -r "$OM_FIXTURES/acme-bundle" d4
mkdir t && tar -xf t4.tar -C t && diff -r d4 t
echo "sample instance: -j 1, 2, 4: the same bytes, the golden bundle"
# Home files, sidecar scripts, one space, a partial export, more readers
# than tables.
h=$OM_FIXTURES/acme-home
same() {
	x "$@" -o one.tar
	x -j 3 "$@" -o three.tar.zst
	zstd -dq <three.tar.zst | cmp - one.tar
	echo "$*: -j 3 the same" | sed "s|$OM_FIXTURES|\$OM_FIXTURES|"
}
same --home "$h" --include-tasklogs --include-artifacts --include-packages --inline-scripts=extract
same --space Default --ignore-history
same --space Default --project "Acme Web" --project-group "Back Office"
x -j 64 -o many.tar
cmp many.tar t1.tar
echo "-j 64: the same"

# A generated instance: its big tables are read in pieces (a TID range
# each, as the server's log shows) by every reader.
createdb big
om-store init --db dbname=big --master-key-file big.key --new-key >/dev/null
"$gen" --db dbname=big --master-key-file big.key --projects 100 2>/dev/null
psql_q -d postgres -c "ALTER DATABASE big SET log_statement = 'all'"
log=$OM_PG_TMP/server.log
y() { om-export --db dbname=big --master-key-file big.key --redact-secrets "$@"; }
y -j 1 -o g1.tar
y -o g.tar.zst
from=$(($(wc -l <"$log") + 1))
y -j 4 -o g4.tar
tail -n +$from "$log" >g4.log
y -j 2 -o g2.tar.zst
cmp g1.tar g4.tar
zstd -dq <g.tar.zst | cmp - g1.tar
zstd -dq <g2.tar.zst | cmp - g1.tar
echo "generated instance: -j 1, 2, 4: the same bytes"
echo "-j 4: $(grep -c 'SET TRANSACTION SNAPSHOT' g4.log) connections imported the snapshot"
pieces=$(grep 'CURSOR FOR SELECT' g4.log | grep -c ' FROM events c .*c\.ctid [<>]')
test "$pieces" -ge 2
echo "-j 4: the events table read in $pieces pieces"
OM_SORT_MEMORY=200K y -j 3 -o small.tar
cmp g1.tar small.tar
y -j 3 -o gdir
mkdir g && tar -xf g1.tar -C g && diff -r g gdir
echo "-j 3 with 200K of sort memory, and into a directory: the same"

# Bad values: a usage message, status 2.
for v in 0 65 -1 x 2x ''; do
	must_fail 2 x -j "$v" -o bad.tar
done
must_fail 2 x --jobs 99 -o bad.tar
# A reader that cannot connect: the role may have one connection only.
psql_q -d postgres -c "SET client_min_messages = warning; DROP ROLE IF EXISTS om_jobs_one; CREATE ROLE om_jobs_one LOGIN CONNECTION LIMIT 1"
psql_q -d a -c "GRANT SELECT ON ALL TABLES IN SCHEMA public TO om_jobs_one"
om-export --db "dbname=a user=om_jobs_one" --master-key-file "$k" --redact-secrets -j 1 -o one.tar
cmp one.tar t1.tar
must_fail 2 om-export --db "dbname=a user=om_jobs_one" --master-key-file "$k" --redact-secrets \
	-j 2 -o bad.tar 2>err
sed "s|$PGHOST|\$PGHOST|" err >&2
psql_q -d a -c "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM om_jobs_one"
psql_q -d postgres -c "DROP ROLE om_jobs_one"
# A document that cannot be exported, read by one reader of four: the
# message of one reader, and no other.
psql_q -d a -c "UPDATE deployments SET doc = jsonb_set(doc, '{TenantId}', '\"Tenants-999\"') WHERE id = 'Deployments-7'"
must_fail 2 x -o bad.tar 2>one.err
must_fail 2 x -j 4 -o bad.tar 2>four.err
cmp one.err four.err
cat four.err >&2

# SIGINT while four readers read: "interrupted", status 2, no archive, no
# temporary file, and the server's sessions end.
mkdir tmp
: >int.err
ls -A >before.ls
n_sessions() {
	psql_q -d postgres -c "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'om-export-jobs'"
}
PGAPPNAME=om-export-jobs TMPDIR=$PWD/tmp env --default-signal=INT \
	om-export --db dbname=big --master-key-file big.key --redact-secrets -j 4 -o int.tar 2>int.err &
pid=$!
n=0
until [ "$(n_sessions)" -ge 4 ]; do
	n=$((n + 1))
	test $n -lt 2000 || { echo "export-jobs: the readers never showed" >&2; exit 1; }
	sleep 0.005
done
kill -s INT $pid
rc=0
wait $pid || rc=$?
test $rc -eq 2
echo "om-export: interrupted" | cmp - int.err
ls -A | cmp - before.ls
test -z "$(ls -A tmp)"
n=0
until [ "$(n_sessions)" -eq 0 ]; do
	n=$((n + 1))
	test $n -lt 1000 || { echo "export-jobs: sessions left after the interrupt" >&2; exit 1; }
	sleep 0.01
done
echo "SIGINT while 4 readers read: status 2, nothing left, no session left"
ls
