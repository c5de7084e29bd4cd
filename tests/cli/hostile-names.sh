# Names that look like SQL, shell or paths travel through export, import
# and diff unchanged and harmless: no file outside the bundle, no command
# run, no statement executed; the target holds exactly those names.
new_acme a
k=$OM_FIXTURES/acme.key
psql_q -d a <<'SQL'
UPDATE projects SET doc = jsonb_set(doc, '{Name}', to_jsonb('Robert''); DROP TABLE projects;--'::text)) WHERE id = 'Projects-1';
-- (releases stay out of the bundle: no overrides naming them)
UPDATE projects SET doc = jsonb_set(doc, '{AutoDeployReleaseOverrides}', '[]');
UPDATE environments SET doc = jsonb_set(doc, '{Name}', to_jsonb('$(touch pwned) `touch pwned2`'::text)) WHERE id = 'Environments-1';
UPDATE lifecycles SET doc = jsonb_set(doc, '{Name}', to_jsonb('../../../../tmp/escaped'::text)) WHERE id = 'Lifecycles-1';
UPDATE channels SET doc = jsonb_set(doc, '{Name}', to_jsonb('-rf --no-preserve-root'::text)) WHERE id = (SELECT min(id) FROM channels);
UPDATE feeds SET doc = jsonb_set(doc, '{Name}', to_jsonb('/etc/passwd'::text)) WHERE id = (SELECT min(id) FROM feeds);
SQL
mkdir work && cd work
om-export --db dbname=a --master-key-file "$k" --ignore-history --ignore-deployments --allow-clear-secrets -o b
# Every file is inside the bundle, and the names are escaped components.
find . -newer "$OM_FIXTURES/acme.key" -type f | grep -v '^\./b/' || true
ls b/spaces/Default/lifecycles | grep escaped
ls b/spaces/Default/feeds | grep passwd
createdb t
om-store init --db dbname=t --master-key-file ../t.key --new-key >/dev/null
om-import --db dbname=t --master-key-file ../t.key --online b 2>/dev/null
om-export --db dbname=t --master-key-file ../t.key --ignore-history --ignore-deployments --allow-clear-secrets -o c
om-diff b c && echo same configuration
test ! -e pwned && test ! -e pwned2 && test ! -e /tmp/escaped && echo nothing ran
psql_q -d t -c "SELECT count(*) FROM projects WHERE name = 'Robert''); DROP TABLE projects;--'"
psql_q -d t -c "SELECT name FROM environments WHERE name LIKE '\$(%'"
