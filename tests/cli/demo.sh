# make demo's script, so that it cannot rot: narrated, then quiet into the
# same folder (which it replaces); it drops its databases, leaves its
# bundles, and never removes a folder that is not an earlier demo's.
sh "$OM_TOP/demo/demo.sh" out >demo.txt
grep '^== ' demo.txt
grep -x 'no difference' demo.txt
grep -c '^\$ ' demo.txt
sh "$OM_TOP/demo/demo.sh" -q out
ls -A out
psql_q -d postgres -c "SELECT count(*) FROM pg_database WHERE datname LIKE 'om_demo%'"
om-encrypt --check --password-file out/demo.pw out/tuesday.tar.zst && echo password right
must_fail 1 om-diff out/monday.tar.zst out/tuesday.tar.zst
om-diff out/source.tar.zst out/target.tar.zst && echo no difference
! grep -q -r om-clear-1: out
mkdir mine && echo keep >mine/notes
must_fail 2 sh "$OM_TOP/demo/demo.sh" -q mine
cat mine/notes
