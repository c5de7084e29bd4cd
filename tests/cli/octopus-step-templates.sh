# Published step templates as Octopus stores them (fixtures/step-templates):
# reference fields holding variable bindings ("#{Redgate.Oracle.PackageFeed}",
# an account, a worker pool, a binding beside an Id in a comma-separated
# list), the built-in feed feeds-builtin, scripts with CRLF, tabs, non-ASCII
# text and no final newline.  The store checks clean; export, import into an
# empty server and re-export compare equal, every binding kept as written;
# the template scripts extract beside the templates and come back byte for
# byte; a partial export does not follow a binding; git shows a change of a
# template script line by line.
fx=$OM_FIXTURES/step-templates
om-store keygen k
createdb o
om-store init --db dbname=o --master-key-file k
for f in "$fx"/*.json; do
	table=$(basename "$f" | cut -d. -f1)
	echo "INSERT INTO $table (doc) VALUES (:'doc');" | psql_q -d o -v doc="$(cat "$f")"
done
psql_q -d o -c "SELECT om_sync_ids()" >/dev/null
om-store check --db dbname=o --master-key-file k

# Into an empty server whose allocator is elsewhere: Ids remapped, bindings
# kept, and the same bundle again.
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 5000"
om-export --db dbname=o --master-key-file k | om-import --db dbname=t --master-key-file t.key
om-store check --db dbname=t --master-key-file t.key
psql_q -d t -c "SELECT doc->'Packages'->0->>'FeedId', doc->'Properties'->>'Octopus.Action.Package.FeedId',
	doc->'Properties'->>'Octopus.Action.Azure.AccountId' FROM actiontemplates ORDER BY doc->>'Name'"
psql_q -d t -c "SELECT a->>'WorkerPoolId', a->'Properties'->>'Octopus.Action.Manual.ResponsibleTeamIds',
	a->'Properties'->>'Octopus.Action.Template.Id'
	FROM deploymentprocesses, jsonb_array_elements(doc->'Steps'->0->'Actions') a ORDER BY a->>'Name'"
om-export --db dbname=o --master-key-file k | cat >o.tar
om-export --db dbname=t --master-key-file t.key | cat >t.tar
mkdir O T
tar -xf o.tar -C O
tar -xf t.tar -C T
perl "$OM_TOP/tests/normalize.pl" O >O.n
perl "$OM_TOP/tests/normalize.pl" T >T.n
diff O.n T.n
om-diff o.tar t.tar

# Template scripts as files beside the templates, exact, and back.
om-export --db dbname=o --master-key-file k --inline-scripts=extract | cat >x.tar
mkdir X
tar -xf x.tar -C X
(cd X && find . -path '*step-templates*' -type f | sort)
for f in "$fx"/actiontemplates.*.json; do
	name=$(jq -r .Name "$f")
	syn=$(jq -r '.Properties["Octopus.Action.Script.Syntax"]' "$f")
	case $syn in PowerShell) ext=ps1 ;; Bash) ext=sh ;; esac
	jq -j '.Properties["Octopus.Action.Script.ScriptBody"]' "$f" >want
	cmp want "X/spaces/Default/step-templates/scripts/$name.$ext"
	jq -r '.Properties["Octopus.Action.Script.ScriptBody"]' "X/spaces/Default/step-templates/$name.json"
done
createdb u
om-store init --db dbname=u --master-key-file u.key --new-key >/dev/null
psql_q -d u -c "UPDATE server SET maintenance_mode = true"
om-import --db dbname=u --master-key-file u.key x.tar
psql_q -d o -At -c "SELECT doc->>'Name', md5(doc->'Properties'->>'Octopus.Action.Script.ScriptBody')
	FROM actiontemplates ORDER BY 1" >o.md5
psql_q -d u -At -c "SELECT doc->>'Name', md5(doc->'Properties'->>'Octopus.Action.Script.ScriptBody')
	FROM actiontemplates ORDER BY 1" >u.md5
cmp o.md5 u.md5
om-export --db dbname=u --master-key-file u.key | cat >u.tar
om-diff o.tar u.tar

# A partial export of the project brings its template, the feed and the
# team it names, and nothing for the bindings.
om-export --db dbname=o --master-key-file k --project 'Oracle DB' --redact-secrets -o P
(cd P && find . -name '*.json' | sort)

# git shows a change of a template script as lines of the script.
git init -q repo
cp -R X/. repo/
git -C repo add -A
git -C repo -c user.name=t -c user.email=t@t commit -qm one
psql_q -d o -c "UPDATE actiontemplates SET doc = jsonb_set(doc, '{Properties,Octopus.Action.Script.ScriptBody}',
	to_jsonb(replace(doc->'Properties'->>'Octopus.Action.Script.ScriptBody', 'throw', 'Write-Error')))
	WHERE id = 'ActionTemplates-1'"
om-export --db dbname=o --master-key-file k --inline-scripts=extract | cat >y.tar
rm -rf repo/spaces
tar -xf y.tar -C repo
git -C repo add -A
git -C repo diff --cached --stat | sed 's/ *|.*//'
git -C repo diff --cached -- 'spaces/Default/step-templates/scripts' | grep '^[-+][^-+]' | tr -d '\r'
