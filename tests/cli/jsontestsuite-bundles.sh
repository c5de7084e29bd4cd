# Every n_*.json of JSONTestSuite as a document of a directory bundle:
# refused, naming the bundle and the entry, by om-store check-bundle, and
# with the same message by om-encrypt (good.tar's secrets are redacted:
# om-encrypt copies its documents through, and so needs no key to get to
# them) and by om-import, which leaves the server as it was; nothing is
# written.  (bad-bundles.sh: the hostile bundles of fixtures/bad/.)
need_testdata jsontestsuite
echo 'a password' >pw
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
dump() { pg_dump -d t | sed '/^.restrict /d; /^.unrestrict /d'; }
dump >db.before
bad=0
# run TOOL BUNDLE: the tool's status in rc, stdout in out, stderr in err.
run() {
	set +e
	case $1 in
	store) om-store check-bundle "$2" >out 2>err ;;
	encrypt) om-encrypt --password-file pw -o out.tar "$2" >out 2>err ;;
	import) om-import --db dbname=t --master-key-file t.key "$2" >out 2>err ;;
	esac
	rc=$?
	set -e
}
mkdir b
tar -xf "$OM_FIXTURES/bad/good.tar" -C b
d=b/spaces/Default/environments/Dev.json
ls -A b >before
for n in "$OM_TESTDATA"/jsontestsuite/n_*.json; do
	cp "$n" "$d"
	run store b
	if [ "$rc" -ne 2 ] || [ "$(wc -l <err)" -ne 1 ] || [ -s out ] ||
	   ! grep -q "^om-store: 'b': entry 'spaces/Default/environments/Dev.json': " err; then
		echo "$(basename "$n"): exit status $rc:" >&2
		cat err >&2
		bad=1
	fi
	printf '%s: %s\n' "$(basename "$n")" "$(sed "s/^om-store: 'b': entry '[^']*': //" err)"
	sed 's/^om-store: //' err >want
	run encrypt b
	if [ "$rc" -ne 2 ] || [ -s out ] || [ -e out.tar ] ||
	   [ "$(sed 's/^om-encrypt: //' err)" != "$(cat want)" ]; then
		echo "$(basename "$n") (encrypt): exit status $rc:" >&2
		cat err >&2
		bad=1
	fi
	run import b
	if [ "$rc" -ne 2 ] || [ -s out ] || [ "$(sed 's/^om-import: //' err)" != "$(cat want)" ]; then
		echo "$(basename "$n") (import): exit status $rc:" >&2
		cat err >&2
		bad=1
	fi
done
[ "$(ls -A b)" = "$(cat before)" ] || bad=1
dump >db.after
cmp db.before db.after || bad=1
test "$bad" = 0
