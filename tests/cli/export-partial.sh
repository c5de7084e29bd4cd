# A partial export holds the chosen projects, what they own and everything
# they refer to, and nothing that is not needed: every reference resolves
# inside the bundle (om-store check-bundle), and breaking one is seen.
new_acme a
x() { om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --redact-secrets "$@"; }
x -o full
om-store check-bundle full

x --space Default --project "Acme Web" -o p
om-store check-bundle p
test ! -d "p/spaces/Platform Team"
sed -n '/"Scope"/,/}/p' p/manifest.json
# Its own documents are all there, byte for byte as in the full export.
(cd "full/spaces/Default/projects/Acme Web" && find . -type f | sort) >own.full
(cd "p/spaces/Default/projects/Acme Web" && find . -type f | sort) >own.p
cmp own.full own.p
(cd p && find . -type f ! -name manifest.json) | while read -r f; do
	cmp -s "p/$f" "full/$f" || echo "differs: $f"
done
# Without tenants, deployments and history, only what the configuration
# itself needs: the other projects came in only through tenants.
x --space Default --project "Acme Web" --ignore-tenants --ignore-deployments --ignore-history -o q
om-store check-bundle q
ls q/spaces/Default/projects q/spaces/Default
# A project group.
x --space Default --project-group "Back Office" --ignore-tenants --ignore-deployments --ignore-history -o g
om-store check-bundle g
ls g/spaces/Default/projects
# A broken bundle is seen.
rm "q/spaces/Default/lifecycles/Default Lifecycle.json"
must_fail 1 om-store check-bundle q
# Names that are not there, or not unique.
must_fail 2 x --project "Acme Web" -o e
must_fail 2 x --space Default --project "No Such Project" -o e
must_fail 2 x --space Default --project-group "No Such Group" -o e
test ! -e e
