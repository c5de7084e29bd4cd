# om-octopus on bad input: each is one line naming the entry, exit 2 (a
# wrong password exit 1), and nothing written.  The inputs are the real
# package of shared/testdata (octopus-export-2024.4) broken one way each.
src=$OM_TESTDATA/octopus-export-2024.4
test -f "$src/manifest.json"

echo 'pass!w0rd' >pw
mkdir good
cp "$src"/* good/
rm good/README.md
vs=variableset-LibraryVariableSets-141-D4C63A85E7894C5D8C20D9297FEA1A43.json

# conv INPUT: convert into out.tar, which must not exist afterwards when it fails.
conv() {
	om-octopus --password-file pw --allow-clear-secrets -o out.tar "$@"
}
bad() {
	must_fail 2 conv "$@"
	must_fail 1 test -e out.tar
}
# copy NAME: a copy of the good package to break.
copy() {
	rm -rf "$1"
	cp -r good "$1"
}

echo '== wrong password'
echo 'pass!w0rd.' >pw2
must_fail 1 om-octopus --password-file pw2 --allow-clear-secrets -o out.tar good
must_fail 1 test -e out.tar
echo 'pass!w0rd.' | must_fail 1 om-octopus --password-fd 0 --allow-clear-secrets -o out.tar good
must_fail 1 test -e out.tar

echo '== zips with bad entries'
python3 - <<'END'
import zipfile, os, warnings
warnings.simplefilter('ignore')
good = sorted(os.listdir('good'))
def mk(name, extra):
    with zipfile.ZipFile(name, 'w') as z:
        for f in good:
            z.write(os.path.join('good', f), f)
        for n, data, mode in extra:
            i = zipfile.ZipInfo(n)
            i.create_system = 3
            i.external_attr = mode << 16
            z.writestr(i, data)
mk('dotdot.zip', [('../evil.json', '{}', 0o100644)])
mk('absolute.zip', [('/tmp/evil.json', '{}', 0o100644)])
mk('dup.zip', [('version', '2.0.0', 0o100644)])
mk('link.zip', [('evil.json', 'manifest.json', 0o120777)])
mk('folder.zip', [('sub/x.json', '{}', 0o100644)])
END
bad dotdot.zip
bad absolute.zip
bad dup.zip
bad link.zip
bad folder.zip
echo 'not a zip' >junk.zip
bad junk.zip
head -c 3000 dup.zip >cut.zip
bad cut.zip

echo '== a link in a directory'
copy linked
ln -s manifest.json linked/evil.json
bad linked

echo '== the manifest lists a missing file'
copy missing
rm missing/Tenants-21-D4C63A85E7894C5D8C20D9297FEA1A43.json
bad missing

echo '== a file not in the manifest: a warning, and left out'
copy extra
echo '{}' >extra/notes.json
conv extra
rm out.tar

echo '== invalid JSON'
copy json
printf '{"Id": "Channels-441-D4C63A85E7894C5D8C20D9297FEA1A43",}' \
	>json/Channels-441-D4C63A85E7894C5D8C20D9297FEA1A43.json
bad json

# edit NAME PYTHON: replace the library set's sensitive value.
edit() {
	copy "$1"
	python3 -c "
import sys, base64
f = sys.argv[1]
t = open(f).read()
c, iv = 'MYvFyiIt1aUcvfiORB809w==', 'yhWcMW1ybrZob9u1mjQkPQ=='
$2
open(f, 'w').write(t.replace(c + '|' + iv, new))" "$1/$vs"
}
echo '== ciphertexts'
edit b64 "new = 'MYvF*iIt1aUcvfiORB809w==|' + iv"
bad b64
edit ivlen "new = c + '|' + base64.b64encode(base64.b64decode(iv)[:12]).decode()"
bad ivlen
# The last byte of the IV flipped: the last byte of the padding changes.
edit padding "b = bytearray(base64.b64decode(iv)); b[15] ^= 0x0a; new = c + '|' + base64.b64encode(b).decode()"
bad padding
edit blocks "new = base64.b64encode(base64.b64decode(c)[:10]).decode() + '|' + iv"
bad blocks

echo '== a suffix left after stripping'
copy suffix
sed -i 's/"ProjectGroups-1-D4C63A85E7894C5D8C20D9297FEA1A43"/"ProjectGroups-1-D4C63A85E7894C5D8C20D9297FEA1A43-D4C63A85E7894C5D8C20D9297FEA1A43"/' \
	suffix/Projects-441-D4C63A85E7894C5D8C20D9297FEA1A43.json
bad suffix

echo '== an unknown version'
copy version
printf '3.0.0' >version/version
bad version

echo '== a DocumentType om does not know'
copy doctype
sed -i 's/"DocumentType": "Tenant"/"DocumentType": "Subscription"/' doctype/manifest.json
bad doctype

echo '== --strict: a hash that does not match'
bad --strict good

echo '== not an export'
mkdir empty
bad empty
bad nothing-here
