# Octopus's fixed Ids (feeds-builtin, feeds-builtin-releases, teams-everyone,
# teams-spacemanagers-Spaces-N, users-system, userroles-...) are documents
# like any other: a store holding them, and a step template naming the
# built-in feed, checks clean; export, import into an empty server and
# re-export compare equal, the fixed Ids kept; and into a server whose
# Everyone team has an Id of the allocator, a reference to teams-everyone
# resolves to that team, matched by name.
om-store keygen k
createdb o
om-store init --db dbname=o --master-key-file k
ins() {
	echo "INSERT INTO $1 (doc) VALUES (:'doc');" | psql_q -d o -v doc="$2"
}
ins spaces '{"Id": "Spaces-1", "Name": "Default",
	"SpaceManagersTeams": ["teams-everyone", "teams-spacemanagers-Spaces-1"],
	"SpaceManagersTeamMembers": ["users-system"]}'
ins users '{"Id": "users-system", "Username": "system", "DisplayName": "System"}'
ins userroles '{"Id": "userroles-projectdeployer", "Name": "Project deployer"}'
ins userroles '{"Id": "userroles-systemadministrator", "Name": "System administrator"}'
ins teams '{"Id": "teams-everyone", "Name": "Everyone", "SpaceId": null, "MemberUserIds": [],
	"UserRoles": [{"UserRoleId": "userroles-projectdeployer", "SpaceId": "Spaces-1"}]}'
ins teams '{"Id": "teams-administrators", "Name": "Octopus Administrators", "SpaceId": null,
	"MemberUserIds": ["users-system"],
	"UserRoles": [{"UserRoleId": "userroles-systemadministrator", "SpaceId": null}]}'
ins teams '{"Id": "teams-spacemanagers-Spaces-1", "Name": "Space Managers", "SpaceId": "Spaces-1",
	"MemberUserIds": []}'
ins feeds '{"Id": "feeds-builtin", "Name": "Octopus Server (built-in)", "SpaceId": "Spaces-1",
	"FeedType": "BuiltIn"}'
ins feeds '{"Id": "feeds-builtin-releases", "Name": "Octopus Server Releases (built-in)",
	"SpaceId": "Spaces-1", "FeedType": "OctopusProject"}'
ins actiontemplates '{"Id": "ActionTemplates-1", "Name": "Deploy a package", "SpaceId": "Spaces-1",
	"ActionType": "Octopus.TentaclePackage",
	"Packages": [{"Name": "", "PackageId": "Web", "FeedId": "feeds-builtin"}],
	"Properties": {"Octopus.Action.Package.FeedId": "feeds-builtin",
		"Octopus.Action.Script.ScriptBody": "Write-Host \"one\"\r\n\tWrite-Host \"two\""},
	"Parameters": []}'
psql_q -d o -c "SELECT om_sync_ids()" >/dev/null
om-store check --db dbname=o --master-key-file k

# Into an empty server: the fixed Ids are kept, the rest remapped.
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 5000"
om-export --db dbname=o --master-key-file k | om-import --db dbname=t --master-key-file t.key
om-store check --db dbname=t --master-key-file t.key
for tb in users userroles teams feeds actiontemplates; do
	psql_q -d t -c "SELECT id FROM $tb ORDER BY id"
done
om-export --db dbname=o --master-key-file k | cat >o.tar
om-export --db dbname=t --master-key-file t.key | cat >t.tar
mkdir O T
tar -xf o.tar -C O
tar -xf t.tar -C T
perl "$OM_TOP/tests/normalize.pl" O >O.n
perl "$OM_TOP/tests/normalize.pl" T >T.n
diff O.n T.n

# A server whose Everyone team is Teams-77: matched by name.
createdb u
om-store init --db dbname=u --master-key-file u.key --new-key >/dev/null
psql_q -d u -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 5000"
psql_q -d u -c "INSERT INTO teams (doc) VALUES ('{\"Id\": \"Teams-77\", \"Name\": \"Everyone\", \"SpaceId\": null, \"MemberUserIds\": []}')"
om-export --db dbname=o --master-key-file k | om-import --db dbname=u --master-key-file u.key
om-store check --db dbname=u --master-key-file u.key
psql_q -d u -c "SELECT doc->'SpaceManagersTeams' FROM spaces"
psql_q -d u -c "SELECT id FROM teams ORDER BY id"
