# make demo's script, so that it cannot rot.  First as make demo runs it:
# no server given (OM_PG_TMP and PG* unset), so it starts one of its own
# (tests/pg.sh, in TMPDIR), and when it ends no process of that server is
# left and nothing in TMPDIR; only its folder of bundles stays.
mkdir t
(
	unset OM_PG_TMP PGHOST PGPORT PGUSER PGDATABASE
	TMPDIR=$PWD/t
	export TMPDIR
	sh "$OM_TOP/demo/demo.sh" out >demo.txt
)
head -n 1 demo.txt
grep '^== ' demo.txt
grep -x 'no difference' demo.txt
grep -c '^\$ ' demo.txt
test -z "$(ls -A t)" && echo nothing left in TMPDIR
test -z "$(pgrep -f "$PWD/t/")" && echo no server left
ls -A out
# Then quiet, inside this test's server, into the same folder (which it
# replaces): it drops its databases, leaves its bundles, and never removes a
# folder that is not an earlier demo's.
sh "$OM_TOP/demo/demo.sh" -q out
psql_q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'om_demo%'"
om-encrypt --check --password-file out/demo.pw out/tuesday.tar.zst && echo password right
must_fail 1 om-diff out/monday.tar.zst out/tuesday.tar.zst
om-diff out/source.tar.zst out/target.tar.zst && echo no difference
# With history: every difference is a reference that the import cleared.
must_fail 1 om-diff --stat out/source-all.tar.zst out/target-all.tar.zst
must_fail 1 om-diff out/source-all.tar.zst out/target-all.tar.zst >all.txt
test -z "$(grep '^ ' all.txt | grep -v -e '^  ~ [^:]*: "(an* [A-Za-z]* not in the bundle)" -> null$' \
	-e '^  - [^:]*: "(an* [A-Za-z]* not in the bundle)"$')"
grep -c '^[a-z]' all.txt
test -z "$(grep -r -l om-clear-1: out)"
mkdir mine && echo keep >mine/notes
must_fail 2 sh "$OM_TOP/demo/demo.sh" -q mine
cat mine/notes
