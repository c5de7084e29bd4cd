# Bad input: exit 2, one line naming the bundle and the entry, no output.
mkdir a
printf '{\n  "Id": "Environments-1",\n  "Name": "Dev"\n}\n' >a/env.json
printf '{"Counts": {}, "Format": "om-bundle", "FormatVersion": 1}\n' >a/manifest.json
# (jsontestsuite-diff.sh: each invalid JSON text of JSONTestSuite as a
# document.)
mkdir b c
sed 's/Dev/Test/' a/env.json >b/env.json; cp a/env.json c/env.json
cp a/manifest.json b/; cp a/manifest.json c/
# Malformed archives.
tar -cf good.tar -C b env.json manifest.json
head -c 700 good.tar >cut.tar
printf 'not a bundle' >junk.tar
zstd -q -c good.tar | head -c 100 >cut.tar.zst
ln -s /etc/passwd b/link.json 2>/dev/null || true
tar -cf link.tar -C b link.json && rm b/link.json
printf '{"Id": "Environments-3"}' >evil.json
tar -cf evil.tar -P --transform 's,^,../,' evil.json 2>/dev/null
for x in cut.tar junk.tar cut.tar.zst link.tar evil.tar missing.tar; do
	must_fail 2 om-diff a "$x" >out 2>err
	test ! -s out || { echo "$x: output"; exit 1; }
	echo "$x: $(sed 's/[0-9][0-9]* bytes/N bytes/' err)"
done
# Usage.
must_fail 2 om-diff a
must_fail 2 om-diff a b c
must_fail 2 om-diff - -
must_fail 2 om-diff --stat --json a c
must_fail 2 om-diff --color=sometimes a c
om-diff a c
# A full disk is trouble, not a difference.
must_fail 2 om-diff a b >/dev/full 2>err
cat err
