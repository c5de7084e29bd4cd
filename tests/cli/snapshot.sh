# om-snapshot: the cron audit into git.  Twice on unchanged data is one
# commit; a change is a second commit whose message names it; exit 0 for no
# change, 1 for a committed change, 2 for trouble; a clear secret is never
# committed.
new_acme a
k=$OM_FIXTURES/acme.key
git init -q audit
git -C audit config user.email t@example.com && git -C audit config user.name t
snap() { om-snapshot --db dbname=a --master-key-file "$k" "$@"; }
echo "== first (redacted)"
must_fail 1 snap audit -- --ignore-history
echo "== again, nothing changed"
snap audit -- --ignore-history
git -C audit log --format=%s
echo "== a secret changed"
new=$(echo 'rotated-key' | om-store seal --master-key-file "$k")
psql_q -d a -c "UPDATE feeds SET doc = jsonb_set(doc, '{SecretKey}', to_jsonb('$new'::text)) WHERE name = 'Acme ECR'"
must_fail 1 snap audit -- --ignore-history
git -C audit log --format=%s
git -C audit status --porcelain
echo "== one change names its document"
psql_q -d a -c "UPDATE environments SET doc = jsonb_set(doc, '{Description}', '\"The last stop\"') WHERE name = 'Production' AND space_id = 'Spaces-1'"
must_fail 1 snap -q audit -- --ignore-history
git -C audit log -1 --format=%B
echo "== two changes: counted, with their kinds"
psql_q -d a -c "UPDATE environments SET doc = jsonb_set(doc, '{Description}', '\"Gone\"') WHERE name = 'Staging'"
psql_q -d a -c "UPDATE projects SET doc = jsonb_set(doc, '{Description}', '\"Renamed soon\"') WHERE name = 'Acme Web'"
must_fail 1 snap audit -- --ignore-history >two.txt
head -n 1 two.txt
git -C audit log --format=%s | wc -l
echo "== the body reads by name: a reference shows as the name it points to"
psql_q -d a -c "UPDATE projects SET doc = jsonb_set(doc, '{LifecycleId}', '\"Lifecycles-2\"') WHERE name = 'Acme Web' AND space_id = 'Spaces-1'"
must_fail 1 snap -q audit -- --ignore-history
git -C audit log -1 --format=%B
# where the lines of the files hold Ids
git -C audit show HEAD | grep '^[-+] *"LifecycleId"'
echo "== a long report is cut between documents, saying how many more"
psql_q -d a -c "UPDATE projects SET doc = jsonb_set(doc, '{LifecycleId}', '\"Lifecycles-2\"') WHERE space_id = 'Spaces-1'"
must_fail 1 snap -q --report-lines 5 audit -- --ignore-history
git -C audit log -1 --format=%B | sed '1,/^total/d'
must_fail 2 snap --report-lines=many audit

echo "== password-encrypted, in a subdirectory; the repository's other files are left alone"
git init -q repo
git -C repo config user.email t@example.com && git -C repo config user.name t
printf 'audit password\n' >pw
echo notes >repo/notes.txt
mkdir repo/acme
must_fail 1 snap --password-file pw --kdf interactive -q repo/acme
snap --password-file pw repo/acme
psql_q -d a -c "UPDATE projects SET doc = jsonb_set(doc, '{Description}', '\"Moved\"') WHERE name = 'Acme Web'"
must_fail 1 snap --password-file pw repo/acme | head -n 1
git -C repo log --format=%s
git -C repo status --porcelain
grep '^    "State"' repo/acme/manifest.json
test -z "$(git -C repo grep -l om-clear-1: HEAD)"
git -C repo grep -l om-pw-1: HEAD | wc -l
om-encrypt --check --password-file pw repo/acme && echo password opens every secret

echo "== a clear secret is never committed"
mkdir bin
# An om-export that drops --redact-secrets and lets clear secrets out,
# installed beside an om-snapshot: it is the one om-snapshot runs, although
# the real one comes first on PATH.
cat >bin/om-export <<EOS
#!/bin/sh
for a; do shift; [ "\$a" = --redact-secrets ] || set -- "\$@" "\$a"; done
exec "$OM_TOP/om-export" --allow-clear-secrets "\$@"
EOS
chmod +x bin/om-export
cp "$OM_TOP/om-snapshot" bin/
before=$(git -C audit rev-parse HEAD)
must_fail 2 bin/om-snapshot --db dbname=a --master-key-file "$k" audit -- --ignore-history
test "$(git -C audit rev-parse HEAD)" = "$before"
git -C audit status --porcelain
echo "== trouble"
must_fail 2 snap audit -- --allow-clear-secrets
must_fail 2 snap --password-file pw --redact-secrets audit
mkdir plain
must_fail 2 snap plain
om-store keygen other.key
must_fail 2 om-snapshot --db dbname=a --master-key-file other.key audit
must_fail 2 snap nowhere
test "$(git -C audit rev-parse HEAD)" = "$before"
git -C audit status --porcelain
echo "== a new directory in a working tree is made"
must_fail 1 snap -q audit/more
test -d audit/more && git -C audit log -1 --format=%s
must_fail 2 snap nowhere/deeper
