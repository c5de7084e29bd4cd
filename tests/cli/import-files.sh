# Task logs, artifacts and packages go to the target's home directory under
# the target's Ids, only after the commit: a dry run or a failed import
# leaves the home directory empty.  Several bundles in one run are applied
# in order in one transaction; --space-map imports a space as another.
new_acme a
k=$OM_FIXTURES/acme.key
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 300"
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets --home "$OM_FIXTURES/acme-home" \
	--include-tasklogs --include-artifacts --include-packages -o b
mkdir home
om-import --db dbname=t --master-key-file t.key --home home --dry-run b | tail -2
find home | sort
cp -R b bad && printf '{"Id": "Packages-999", "SpaceId": "Spaces-1"}' >bad/zzz.json
jq '.Counts.Package += 1' bad/manifest.json >manifest.tmp && mv manifest.tmp bad/manifest.json
must_fail 2 om-import --db dbname=t --master-key-file t.key --home home bad
find home | sort
om-import --db dbname=t --master-key-file t.key --home home b
om-store check --db dbname=t --master-key-file t.key --home home
find home -type f | sort | head -5
# The same files, by name, as the source's.
om-export --db dbname=t --master-key-file t.key --allow-clear-secrets --home home \
	--include-tasklogs --include-artifacts --include-packages -o c
(cd b && find . -type f ! -name '*.json' | sort) >b.files
(cd c && find . -type f ! -name '*.json' | sort) >c.files
cmp b.files c.files && wc -l <b.files
while read -r f; do cmp "b/$f" "c/$f"; done <b.files

# Consolidation: two spaces of two bundles into one new server, the second
# space renamed; then a bundle of the second space mapped onto the first.
createdb u
om-store init --db dbname=u --master-key-file u.key --new-key >/dev/null
psql_q -d u -c "UPDATE server SET maintenance_mode = true"
om-export --db dbname=a --master-key-file "$k" --space Default --project "Acme Web" --allow-clear-secrets -o default
om-export --db dbname=a --master-key-file "$k" --space "Platform Team" --project "Cluster Bootstrap" --allow-clear-secrets -o platform
om-import --db dbname=u --master-key-file u.key --space-map "Platform Team=Platform" default platform
psql_q -d u -c "SELECT s.name, count(*) FROM projects p JOIN spaces s ON s.id = p.space_id GROUP BY 1 ORDER BY 1"
# (History stays out: a server task's identity is unique server-wide in the
# store, so the same task cannot be in two spaces.)
om-export --db dbname=a --master-key-file "$k" --space "Platform Team" --project "Cluster Bootstrap" --allow-clear-secrets \
	--ignore-history --ignore-deployments -o platform2
om-import --db dbname=u --master-key-file u.key --space-map "Platform Team=Default" platform2 2>/dev/null | tail -1
psql_q -d u -c "SELECT s.name, count(*) FROM projects p JOIN spaces s ON s.id = p.space_id GROUP BY 1 ORDER BY 1"
om-store check --db dbname=u --master-key-file u.key
must_fail 2 om-import --db dbname=u --master-key-file u.key --space-map "Nowhere=Default" platform2
