# The hostile bundles of fixtures/bad/ (made by fixtures/bad/make.sh): each
# gives the status and the one-line message of fixtures/bad/expected, and
# writes nothing (the working directory holds the same files after).  Then
# every n_*.json of JSONTestSuite as a document of a directory bundle.
echo 'a password' >pw
bad=0
# run TOOL FILE: the tool's status, standard error in err, stdout in out.
run() {
	set +e
	case $1 in
	store) om-store check-bundle "$2" >out 2>err ;;
	encrypt) om-encrypt --password-file pw -o out.tar "$2" >out 2>err ;;
	esac
	rc=$?
	set -e
}
# expect NAME TOOL STATUS MESSAGE: compare with what run gave.
expect() {
	prog=om-store
	[ "$2" = encrypt ] && prog=om-encrypt
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
	# Problems found (status 1) are printed on standard output.
	[ "$rc" = 1 ] && [ "$2" = store ] && sed 's/^/  /' out && : >out
	if [ -s out ] || [ "$(ls -A | grep -v '^\(pw\|out\|err\|want\|before\)$' | sort)" != "$(cat before)" ]; then
		echo "$1 ($2): something was written:" >&2
		ls -A >&2
		bad=1
	fi
}
tab=$(printf '\t')
while IFS=$tab read -r f tool st msg; do
	cp "$OM_FIXTURES/bad/$f" .
	ls -A | grep -v '^\(pw\|out\|err\|want\|before\)$' | sort >before
	for t in store encrypt; do
		[ "$tool" = both ] || [ "$tool" = "$t" ] || continue
		run "$t" "$f"
		expect "$f" "$t" "$st" "$msg"
	done
	cmp -s "$f" "$OM_FIXTURES/bad/$f"
	rm -f "$f" out.tar
	echo "$f: $tool $st"
done <"$OM_FIXTURES/bad/expected"

# JSONTestSuite: every document that must be refused is refused, naming the
# bundle and the entry, by om-store check-bundle and by om-encrypt with the
# same message (good.tar's secrets are redacted: om-encrypt copies its
# documents through, and so needs no key to get to them).
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
done
[ "$(ls -A b)" = "$(cat before)" ] || bad=1
test "$bad" = 0
