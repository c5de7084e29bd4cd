# Bad input to om-diff: exit 2, one line naming the bundle and the entry,
# no output.  (diff-errors.sh: the other bad inputs.)
need_testdata jsontestsuite
mkdir a
printf '{\n  "Id": "Environments-1",\n  "Name": "Dev"\n}\n' >a/env.json
printf '{"Counts": {}, "Format": "om-bundle", "FormatVersion": 1}\n' >a/manifest.json
# Each invalid JSON text of JSONTestSuite as a document: on one side, on
# both sides with other bytes, and on both sides with the same bytes.
n=0
for f in "$OM_TESTDATA"/jsontestsuite/n_*.json; do
	rm -rf b c && cp -r a b && cp -r a c
	cp "$f" b/doc.json
	must_fail 2 om-diff a b >out 2>err
	test ! -s out && test "$(wc -l <err)" = 1 && grep -q "^om-diff: 'b': entry 'doc.json': " err ||
		{ echo "$f:"; cat err; exit 1; }
	printf '{"Id": "Environments-2"}\n' >c/doc.json
	must_fail 2 om-diff c b >out 2>err
	test ! -s out && grep -q "^om-diff: 'b': entry 'doc.json': " err || { echo "$f:"; cat err; exit 1; }
	# Equal bytes are not compared, but a document whose Id is not on
	# a line of canonical text is parsed to find it.
	cp "$f" c/doc.json
	must_fail 2 om-diff c b >out 2>err
	test ! -s out && grep -q "^om-diff: 'c': entry 'doc.json': " err || { echo "$f:"; cat err; exit 1; }
	n=$((n + 1))
done
echo "$n invalid documents refused"
