# git: om-diff as textconv for .tar.zst bundles and as a difftool; script
# sidecars diffed line by line.
new_acme a
k=$OM_FIXTURES/acme.key
exp() { om-export --db dbname=a --master-key-file "$k" --redact-secrets --ignore-history \
	--inline-scripts=extract "$@"; }
git init -q repo
cd repo
git config user.email t@example.com && git config user.name t
# The lines of README, docs/guide-git.md and docs/om-diff.1.
echo '*.tar.zst diff=om' >.gitattributes
git config diff.om.textconv 'om-diff --textconv'
git config diff.om.xfuncname '^=== .*'
exp -o acme.tar.zst
git add . && git commit -qm one
# A changed script, a changed secret.
psql_q -d a -c "UPDATE deploymentprocesses SET doc = jsonb_set(doc,
	'{Steps,6,Actions,0,Properties,Octopus.Action.Script.ScriptBody}',
	to_jsonb(replace(doc#>>'{Steps,6,Actions,0,Properties,Octopus.Action.Script.ScriptBody}', 'curl', 'curl --retry 3')))
	WHERE id = 'deploymentprocess-Projects-1'"
new=$(echo 'rotated-key' | om-store seal --master-key-file "$k")
psql_q -d a -c "UPDATE feeds SET doc = jsonb_set(doc, '{SecretKey}', to_jsonb('$new'::text)) WHERE name = 'Acme ECR'"
cp acme.tar.zst ../old.tar.zst
exp -o acme.tar.zst
echo "== git diff"
git diff | grep '^[-+]' | sed 's/(secret [0-9a-f]*)/(secret X)/'
# Each hunk says which file (document or script) it is in.
git diff | grep '^@@' | sed 's/^@@ [^@]* @@ //'
git diff --stat | sed 's/ *|.*//'
echo "== git difftool"
# (git 2.39 treats a tool's exit status 1 as death with --trust-exit-code,
# so the status is not asked for here.)
git difftool -y -x 'om-diff' -- acme.tar.zst
git config difftool.om.cmd 'om-diff "$LOCAL" "$REMOTE"'
git difftool -y -t om -- acme.tar.zst >tool.txt
must_fail 1 om-diff ../old.tar.zst acme.tar.zst | diff - tool.txt
# textconv is stable: the same bundle gives the same text as a directory.
mkdir d && tar -xf acme.tar.zst -C d
om-diff --textconv acme.tar.zst >t1
om-diff --textconv d >t2
cmp t1 t2
must_fail 1 grep -e om-redacted -e om-clear t1
echo "== an external diff driver: git diff and git log -p by name"
# The line of README, docs/guide-git.md and docs/om-diff.1.
git config diff.om.command 'f() { om-diff --color=never "$2" "$5" || [ $? = 1 ]; }; f'
git diff -- acme.tar.zst >ext.txt
must_fail 1 om-diff --color=never ../old.tar.zst acme.tar.zst | diff - ext.txt
git commit -qam two
git log -p -1 --ext-diff -- acme.tar.zst | sed -n '/^  ~/p'
# Trouble in om-diff is trouble for git too.
printf 'not a bundle' >acme.tar.zst
must_fail 128 git diff -- acme.tar.zst >/dev/null 2>err
grep -c "^om-diff: .*is not a bundle" err
