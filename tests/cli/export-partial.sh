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
# Without tenants, deployments and history, the project alone and what its
# configuration refers to: no other project.  (With tenants, the projects
# of its tenants come too: a tenant's projects are part of the tenant.)
# The optional bindings of what it refers to (a team's roles scoped to
# other projects) are not followed: they may dangle in a partial bundle,
# and om-import drops them with a warning.
x --space Default --project "Acme Web" --ignore-tenants --ignore-deployments --ignore-history -o q
om-store check-bundle q
ls q/spaces/Default/projects
(cd q && find . -type f | sort) >q.files
grep -v '^\./spaces/Default/projects/' q.files
# A project group.
x --space Default --project-group "Back Office" --ignore-tenants --ignore-deployments --ignore-history -o g
om-store check-bundle g
ls g/spaces/Default/projects
# A broken bundle is seen.
rm "q/spaces/Default/lifecycles/Default Lifecycle.json"
must_fail 1 om-store check-bundle q
# The project's own optional bindings are followed: an environment named
# only in the scope of one of its variables comes too.
psql_q -d a <<'SQL'
INSERT INTO environments (doc) SELECT doc || '{"Id": "Environments-901", "Name": "Scope Only", "Slug": "scope-only"}'
FROM environments WHERE id = 'Environments-1';
UPDATE variablesets SET doc = jsonb_set(doc, '{Variables,0,Scope,Environment}', '["Environments-1", "Environments-901"]')
WHERE id = 'variableset-Projects-1';
SQL
x --space Default --project "Acme Web" --ignore-tenants --ignore-deployments --ignore-history -o s
om-store check-bundle s
(cd s && find . -type f | sort) | comm -13 q.files -
# Names that are not there, or not unique.
must_fail 2 x --project "Acme Web" -o e
must_fail 2 x --space Default --project "No Such Project" -o e
must_fail 2 x --space Default --project-group "No Such Group" -o e
test ! -e e
