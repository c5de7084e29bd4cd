# A path component made of several values (a deployment's "<Created>
# <Environment> <Tenant>.json", a package file's "<Version><FileExtension>")
# is held to the length of one name (spec/bundle.md, names rule 7): cut,
# with a hash of the whole, its ".json" kept.  Long CJK names (3 bytes a
# character) in an environment, a tenant and a package version export,
# check and import, and the package file finds its way to the target.
new_acme a
k=$OM_FIXTURES/acme.key
env=$(printf '東%.0s' $(seq 40))
ten=$(printf '京%.0s' $(seq 40))
ver=$(printf '版%.0s' $(seq 66))
psql_q -d a <<SQL
UPDATE environments SET doc = jsonb_set(doc, '{Name}', to_jsonb('$env'::text)) WHERE id = 'Environments-2';
UPDATE tenants SET doc = jsonb_set(doc, '{Name}', to_jsonb('$ten'::text)) WHERE id = 'Tenants-2';
UPDATE packages SET doc = jsonb_set(doc, '{Version}', to_jsonb('$ver'::text)) WHERE package_id = 'Acme.Billing' AND version = '3.0.0';
SQL
cp -R "$OM_FIXTURES/acme-home" home
mv home/Packages/Feeds-1/Acme.Billing/Acme.Billing.3.0.0.zip "home/Packages/Feeds-1/Acme.Billing/Acme.Billing.$ver.zip"
om-export --db dbname=a --master-key-file "$k" --allow-clear-secrets --home home --include-packages --ignore-history -o b
om-store check-bundle b
# No component is longer than 205 bytes (200 and ".json"); the cut ones:
find b | awk -F/ '{ for (i = 1; i <= NF; i++) if (length($i) > 205) print "too long: " $0 }'
find b -name '*%~~*' | sed 's|^b/spaces/Default/||' | sort
# Into an empty server, with the package file.
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
mkdir home2
om-import --db dbname=t --master-key-file t.key --home home2 b 2>import.err | tail -1
# (Without history, the deployments' TaskId are dropped.)
grep -v ': TaskId: server task ServerTasks-[0-9]* not in bundle or target: dropped$' import.err || true
om-store check --db dbname=t --master-key-file t.key --home home2
# (Under the target's Id of the feed.)
cmp "home/Packages/Feeds-1/Acme.Billing/Acme.Billing.$ver.zip" home2/Packages/Feeds-*/Acme.Billing/"Acme.Billing.$ver.zip"
# The deployments of that environment and tenant, in the target and the source.
psql_q -d t -c "SELECT count(*) FROM deployments d JOIN environments e ON e.id = d.doc->>'EnvironmentId' JOIN tenants n ON n.id = d.doc->>'TenantId' WHERE e.name = '$env' AND n.name = '$ten'"
psql_q -d a -c "SELECT count(*) FROM deployments WHERE doc->>'EnvironmentId' = 'Environments-2' AND doc->>'TenantId' = 'Tenants-2'"
