# om-diff between two conversions of the real Octopus export of
# shared/testdata (octopus-export-2024.4), the second after edits made in
# the package: changes shown by name, no export suffix anywhere, and, with
# --redact-secrets, an unchanged secret unchanged (its fingerprint is keyed
# by the export password) and a changed one changed.
src=$OM_TESTDATA/octopus-export-2024.4
test -f "$src/manifest.json"

echo 'pass!w0rd' >pw
mkdir old
cp "$src"/* old/
rm old/README.md
cp -r old new
cd new
# An environment renamed, a plain value changed, a secret changed (encrypted
# by openssl under the package's key, 49642b53... for pass!w0rd).
sed -i 's/"Example PROD"/"Example LIVE"/' Environments-21-D4C63A85E7894C5D8C20D9297FEA1A43.json
sed -i 's/"Example PROD"/"Example LIVE"/' manifest.json
sed -i 's/"hello_world"/"hello_there"/' variableset-Projects-441-D4C63A85E7894C5D8C20D9297FEA1A43.json
iv=00112233445566778899aabbccddeeff
c=$(printf 'new secret' | openssl enc -aes-128-cbc -K 49642b53cfe936127b6478be8a442187 -iv $iv | base64 -w0)
ivb=$(python3 -c "import base64; print(base64.b64encode(bytes.fromhex('$iv')).decode())")
sed -i "s#MYvFyiIt1aUcvfiORB809w==|yhWcMW1ybrZob9u1mjQkPQ==#$c|$ivb#" \
	variableset-LibraryVariableSets-141-D4C63A85E7894C5D8C20D9297FEA1A43.json
cd ..

om-octopus --password-file pw --redact-secrets -o a old 2>/dev/null
om-octopus --password-file pw --redact-secrets -o b new 2>/dev/null
# The same package twice: the same bytes.
om-octopus --password-file pw --redact-secrets -o a2 old 2>/dev/null
diff -r a a2
must_fail 1 om-diff a b >diff.out
cat diff.out
must_fail 1 grep D4C63A85E7894C5D8C20D9297FEA1A43 diff.out
must_fail 1 grep -r D4C63A85E7894C5D8C20D9297FEA1A43 a b
