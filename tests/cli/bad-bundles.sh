# The hostile bundles of fixtures/bad/ (made by fixtures/bad/make.sh): each
# gives, through om-store check-bundle, om-encrypt, om-import (into an empty
# server) and om-diff, the status and the one-line message of
# fixtures/bad/expected, and writes nothing: the working directory holds the
# same files after, and a refused import leaves the server as pg_dump showed
# it before.  (jsontestsuite-bundles.sh: JSONTestSuite's refused documents
# in a bundle.)
echo 'a password' >pw
# An empty server in maintenance mode to import into, t, made again from
# t0 once something was imported.
createdb t0
om-store init --db dbname=t0 --master-key-file t.key --new-key >/dev/null
psql_q -d t0 -c "UPDATE server SET maintenance_mode = true"
dump() { pg_dump -d t | sed '/^.restrict /d; /^.unrestrict /d'; }
createdb -T t0 t
dump >db.before
empty_target() {
	dropdb t && createdb -T t0 t && dump >db.before
}
# The test's own files, left out of what the tools may not write.
own='pw\|t.key\|out\|err\|want\|before\|db.before\|db.after'
bad=0
# run TOOL FILE: the tool's status, standard error in err, stdout in out;
# for import, pg_dump of the server after in db.after.
run() {
	set +e
	case $1 in
	store) om-store check-bundle "$2" >out 2>err ;;
	encrypt) om-encrypt --password-file pw -o out.tar "$2" >out 2>err ;;
	import) om-import --db dbname=t --master-key-file t.key "$2" >out 2>err ;;
	diff) om-diff "$OM_FIXTURES/bad/good.tar" "$2" >out 2>err ;;
	esac
	rc=$?
	set -e
	[ "$1" != import ] || dump >db.after
}
# expect NAME TOOL STATUS MESSAGE: compare with what run gave.
expect() {
	prog=om-$2
	[ "$2" = store ] && prog=om-store
	if [ "$rc" -ne "$3" ]; then
		echo "$1 ($2): exit status $rc, expected $3" >&2
		bad=1
	fi
	if [ -n "$4" ]; then printf '%s: %s\n' "$prog" "$4"; fi >want
	if ! cmp -s want err; then
		echo "$1 ($2): message differs:" >&2
		diff want err | sed 's/^/  /' >&2 || true
		bad=1
	fi
	# Problems found (status 1), differences and what was imported are
	# printed on standard output.
	if { [ "$rc" = 1 ] && [ "$2" != encrypt ]; } || { [ "$rc" = 0 ] && [ "$2" = import ]; }; then
		sed 's/^/  /' out
		: >out
	fi
	if [ -s out ] || [ "$(ls -A | grep -v "^\\($own\\)\$" | sort)" != "$(cat before)" ]; then
		echo "$1 ($2): something was written:" >&2
		ls -A >&2
		bad=1
	fi
	if [ "$2" = import ] && ! cmp -s db.before db.after; then
		if [ "$rc" != 0 ]; then
			echo "$1 (import): the server changed" >&2
			bad=1
		fi
		empty_target
	fi
}
tab=$(printf '\t')
while IFS=$tab read -r f tool st msg; do
	cp "$OM_FIXTURES/bad/$f" .
	ls -A | grep -v "^\\($own\\)\$" | sort >before
	for t in store encrypt import diff; do
		[ "$tool" = "$t" ] || { [ "$tool" = both ] && [ "$t" != import ] && [ "$t" != diff ]; } ||
			continue
		run "$t" "$f"
		expect "$f" "$t" "$st" "$msg"
	done
	cmp -s "$f" "$OM_FIXTURES/bad/$f"
	rm -f "$f" out.tar
	echo "$f: $tool $st"
done <"$OM_FIXTURES/bad/expected"

dump >db.after
cmp db.before db.after || bad=1
test "$bad" = 0
