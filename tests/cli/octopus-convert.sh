# om-octopus converts the real Octopus export of shared/testdata
# (octopus-export-2024.4) as a directory, as a zip file and as a zip on
# standard input, to the same bundle; the bundle imports into an empty om
# store, which then checks clean, holds every plaintext of the package's
# README, and holds the package's documents member by member, up to Id
# remapping (tests/octopus/compare.py).
src=$OM_TESTDATA/octopus-export-2024.4
test -f "$src/manifest.json"

echo 'pass!w0rd' >pw
# The package as published, without the README that describes it.
mkdir pkg
cp "$src"/* pkg/
rm pkg/README.md
(cd pkg && zip -q -X ../pkg.zip *)

# Three of the fifteen hashes do not match (octopus-formats.md): a warning each.
om-octopus --password-file pw pkg | cat >dir.tar
om-octopus --password-file pw pkg.zip 2>/dev/null | cat >zip.tar
om-octopus --password-file pw - <pkg.zip 2>/dev/null | cat >stdin.tar
cmp dir.tar zip.tar
cmp dir.tar stdin.tar
mkdir C
tar -xf dir.tar -C C
(cd C && find . -type f | sort)
cat C/manifest.json

# Into an empty store.
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 5000"
om-import --db dbname=t --master-key-file t.key dir.tar
om-store check --db dbname=t --master-key-file t.key
om-export --db dbname=t --master-key-file t.key | cat >t.tar
mkdir T
tar -xf t.tar -C T

# Every plaintext of the README, and no other secret.
cp "$OM_TOP/tests/octopus/plaintexts" plain
grep -rho '"om-clear-1:[^"]*"' T | tr -d '"' | sed 's/^om-clear-1://' |
	while read -r b; do printf '%s' "$b" | base64 -d; echo; done | sort >got
cut -d' ' -f2 plain | sort >want
diff want got
wc -l <got

python3 "$OM_TOP/tests/octopus/compare.py" pkg C T plain
# No Id kept the export suffix, in the bundle or in the target.
must_fail 1 grep -r D4C63A85E7894C5D8C20D9297FEA1A43 C T
