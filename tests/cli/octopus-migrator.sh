# om-octopus on an Octopus.Migrator export directory.  No licensable real
# sample exists: this test writes its own fixture from the layout described
# in shared/octopus-formats.md, section 3 (metadata.json with the Hello
# canary, one folder per document type, files named by Name, "$type" members,
# a script copy, an attachment, Configuration/server.json), with its
# secrets encrypted by openssl.  The bundle imports into an empty store
# that then checks clean (the built-in feed keeps its fixed Id); bad
# documents are refused naming the entry.
echo 'migrator-pw' >pw
key=$(python3 -c "import hashlib
print(hashlib.pbkdf2_hmac('sha1', b'migrator-pw', b'Octopuss', 1000, 16).hex())")
enc() {
	iv=00000000000000000000000000000000
	printf '%s|AAAAAAAAAAAAAAAAAAAAAA==' \
		"$(printf '%s' "$1" | openssl enc -aes-128-cbc -K "$key" -iv $iv | base64 -w0)"
}

python3 - "$(enc Cephalopod)" "$(enc 'p@ss w0rd')" <<'END'
import json, os, sys
hello, secret = sys.argv[1:3]
def put(path, doc):
    os.makedirs(os.path.dirname('mig/' + path) or 'mig', exist_ok=True)
    with open('mig/' + path, 'w') as f:
        json.dump(doc, f, indent=2)
T = lambda t: 'Octopus.Core.Model.%s, Octopus.Core' % t
put('metadata.json', {'$type': T('Migrations.ServerMetadata'), 'Id': 'ServerMetadata',
    'Name': 'Octopus', 'Created': '2023-01-01T00:00:00', 'DatabaseVersion': '2024.4.4121',
    'Hello': hello})
put('Environments/Development.json', {'$type': T('Environments.DeploymentEnvironment'),
    'Id': 'Environments-2', 'Name': 'Development', 'SpaceId': 'Spaces-1', 'SortOrder': 0})
# A name equal to another but for case: escaped in paths as om-export does.
put('Environments/development.json', {'$type': T('Environments.DeploymentEnvironment'),
    'Id': 'Environments-5', 'Name': 'development', 'SpaceId': 'Spaces-1', 'SortOrder': 1})
put('Lifecycles/Default Lifecycle.json', {'$type': T('Lifecycles.Lifecycle'),
    'Id': 'Lifecycles-1', 'Name': 'Default Lifecycle', 'SpaceId': 'Spaces-1', 'Phases': []})
put('ProjectGroups/All Projects.json', {'$type': T('Projects.ProjectGroup'),
    'Id': 'ProjectGroups-1', 'Name': 'All Projects', 'SpaceId': 'Spaces-1'})
put('Feeds/Octopus Server (built-in).json', {'$type': T('Feeds.BuiltInFeed'),
    'Id': 'feeds-builtin', 'Name': 'Octopus Server (built-in)', 'SpaceId': 'Spaces-1',
    'FeedType': 'BuiltIn'})
put('Projects/Web/Web.json', {'$type': T('Projects.Project'), 'Id': 'Projects-3',
    'Name': 'Web', 'SpaceId': 'Spaces-1', 'ProjectGroupId': 'ProjectGroups-1',
    'LifecycleId': 'Lifecycles-1', 'VariableSetId': 'variableset-Projects-3',
    'DeploymentProcessId': 'deploymentprocess-Projects-3',
    'IncludedLibraryVariableSetIds': [], 'Templates': []})
put('Projects/Web/Web-DeploymentProcess.json', {'$type': T('Projects.DeploymentProcess'),
    'Id': 'deploymentprocess-Projects-3', 'OwnerId': 'Projects-3', 'SpaceId': 'Spaces-1',
    'Steps': [{'$type': T('Projects.DeploymentStep'), 'Id': 'c5a9f1e2-0001-4000-8000-000000000001',
               'Name': 'Deploy', 'Actions': [{
        'Id': 'c5a9f1e2-0002-4000-8000-000000000002', 'Name': 'Run',
        'ActionType': 'Octopus.Script', 'Environments': ['Environments-2'],
        'Packages': [{'Name': 'web', 'PackageId': 'Web', 'FeedId': 'feeds-builtin'}],
        'Properties': {'Octopus.Action.Script.ScriptBody': 'Write-Host "hi"\r\n',
                       'Octopus.Action.Script.Syntax': 'PowerShell'}}]}]})
open('mig/Projects/Web/Web - Deploy - Run - Script.ps1', 'w').write('Write-Host "hi"\r\n')
put('Projects/Web/Web-VariableSet.json', {'$type': T('Variables.VariableSet'),
    'Id': 'variableset-Projects-3', 'OwnerId': 'Projects-3', 'SpaceId': 'Spaces-1',
    'Variables': [{'Id': 'c5a9f1e2-0003-4000-8000-000000000003', 'Name': 'DbPassword',
                   'Type': 'Sensitive', 'Value': secret,
                   'Scope': {'$type': T('Variables.ScopeSpecification'),
                             'Environment': ['Environments-2']}}]})
put('Channels/Web/Default.json', {'$type': T('Projects.Channel'), 'Id': 'Channels-4',
    'Name': 'Default', 'ProjectId': 'Projects-3', 'SpaceId': 'Spaces-1', 'IsDefault': True})
put('Configuration/server.json', {'$type': T('Configuration.ServerConfiguration'),
    'Id': 'ServerConfiguration', 'Name': 'Octopus'})
os.makedirs('mig/Attachments')
open('mig/Attachments/Projects-3.png', 'wb').write(b'\x89PNG\r\n')
END

om-octopus --password-file pw --space Main mig | cat >m.tar
mkdir M
tar -xf m.tar -C M
(cd M && find . -type f | sort)
grep -r '"\$type"' M || echo 'no $type member left'
# The secret, decrypted.
sed -n 's/.*"Value": "om-clear-1:\(.*\)".*/\1/p' M/spaces/Main/projects/Web/variables.json |
	base64 -d
echo

createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
om-import --db dbname=t --master-key-file t.key m.tar
om-store check --db dbname=t --master-key-file t.key
psql_q -d t -c "SELECT id, name FROM feeds"
# The paths om-export gives the same documents, names that collide included.
om-export --db dbname=t --master-key-file t.key --redact-secrets -o T
(cd M && find . -type f | sort) >m.paths
(cd T && find . -type f | sort) >t.paths
diff m.paths t.paths

echo '== bad documents'
cp -r mig bad1
python3 -c "
import json; f = 'bad1/Environments/Development.json'; d = json.load(open(f))
del d['\$type']; json.dump(d, open(f, 'w'))"
must_fail 2 om-octopus --password-file pw --redact-secrets -o out bad1
cp -r mig bad2
mkdir bad2/Subscriptions
printf '{"$type": "Octopus.Core.Model.Subscriptions.Subscription, Octopus.Core", "Id": "Subscriptions-1", "Name": "x"}' \
	>bad2/Subscriptions/x.json
must_fail 2 om-octopus --password-file pw --redact-secrets -o out bad2
echo 'other' >pw2
must_fail 1 om-octopus --password-file pw2 --redact-secrets -o out mig
must_fail 1 test -e out
