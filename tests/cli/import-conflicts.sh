# Documents that exist in the target: skipped by default, replaced whole
# with --overwrite; variable sets, teams and tenants merged either way,
# keeping what only the target has (variables by name and scope, team
# members, tenant project/environment connections).  Without --overwrite
# the target's value wins a conflict, with it the bundle's.
new_acme a
k=$OM_FIXTURES/acme.key
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 500"
om-export --db dbname=a --master-key-file "$k" | om-import --db dbname=t --master-key-file t.key
# Both sides change: an environment, a project's variables, a team's
# members, a tenant's connections.
web="(SELECT id FROM projects WHERE name = 'Acme Web' AND space_id = (SELECT id FROM spaces WHERE name = 'Default'))"
change() { # DB WHO
	psql_q -d "$1" -c "UPDATE environments SET doc = doc || '{\"Description\": \"by $2\"}' WHERE name = 'Test'"
	psql_q -d "$1" -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}', doc->'Variables' ||
		jsonb_build_array(jsonb_build_object('Id', '$2-var', 'Name', 'Only.$2', 'Type', 'String', 'Value', '$2', 'Scope', '{}'::jsonb),
		jsonb_build_object('Id', '$2-both', 'Name', 'Both', 'Type', 'String', 'Value', 'from $2', 'Scope', '{}'::jsonb)))
		WHERE owner_id = $web"
	psql_q -d "$1" -c "UPDATE teams SET doc = jsonb_set(doc, '{MemberUserIds}', doc->'MemberUserIds' ||
		jsonb_build_array((SELECT id FROM users WHERE name = '$3'))) WHERE name = 'Release Managers'"
	psql_q -d "$1" -c "UPDATE tenants SET doc = jsonb_set(doc, '{ProjectEnvironments}', doc->'ProjectEnvironments' ||
		jsonb_build_object((SELECT id FROM projects WHERE name = '$4'), jsonb_build_array((SELECT id FROM environments WHERE name = 'Test' AND space_id = (SELECT id FROM spaces WHERE name = 'Default')))))
		WHERE name = 'Initech'"
}
change a source kenji.sato 'Billing API'
change t target ci-bot 'Customer Portal'
state() {
	psql_q -d t -c "SELECT doc->>'Description' FROM environments WHERE name = 'Test' AND space_id = (SELECT id FROM spaces WHERE name = 'Default')"
	psql_q -d t -c "SELECT x->>'Name', x->>'Value' FROM variablesets, jsonb_array_elements(doc->'Variables') x
		WHERE owner_id = $web AND x->>'Name' IN ('Only.source', 'Only.target', 'Both') ORDER BY 1, 2"
	psql_q -d t -c "SELECT string_agg(u.name, ' ' ORDER BY u.name) FROM teams t, jsonb_array_elements_text(t.doc->'MemberUserIds') m
		JOIN users u ON u.id = m WHERE t.name = 'Release Managers'"
	psql_q -d t -c "SELECT string_agg(p.name || ':' || e.name, ' ' ORDER BY p.name, e.name) FROM tenants t, jsonb_each(t.doc->'ProjectEnvironments') pe
		JOIN projects p ON p.id = pe.key, jsonb_array_elements_text(pe.value) x JOIN environments e ON e.id = x WHERE t.name = 'Initech'"
}
om-export --db dbname=a --master-key-file "$k" | cat >a.tar
echo "-- default: skip, merge"
om-import --db dbname=t --master-key-file t.key --dry-run a.tar | grep -v '^unchanged'
om-import --db dbname=t --master-key-file t.key a.tar
state
echo "-- --overwrite"
om-import --db dbname=t --master-key-file t.key --overwrite --dry-run a.tar | grep -v '^unchanged'
om-import --db dbname=t --master-key-file t.key --overwrite a.tar
state
echo "-- again"
om-import --db dbname=t --master-key-file t.key --overwrite a.tar
echo "-- the same sets in another order"
# A merge compares scopes and role restrictions as sets: the target holding
# them in another order is no difference, in either mode.
psql_q -d t -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}', (SELECT jsonb_agg(CASE WHEN v->'Scope' ? 'Environment'
	THEN jsonb_set(v, '{Scope,Environment}', (SELECT jsonb_agg(e ORDER BY n DESC) FROM jsonb_array_elements(v->'Scope'->'Environment') WITH ORDINALITY x(e, n)))
	ELSE v END ORDER BY i) FROM jsonb_array_elements(doc->'Variables') WITH ORDINALITY y(v, i)))
	WHERE owner_id = (SELECT id FROM libraryvariablesets WHERE name = 'ops/db')"
psql_q -d t -c "UPDATE teams SET doc = jsonb_set(doc, '{UserRoles}', (SELECT jsonb_agg(jsonb_set(r, '{ProjectIds}',
	(SELECT coalesce(jsonb_agg(p ORDER BY n DESC), '[]') FROM jsonb_array_elements(r->'ProjectIds') WITH ORDINALITY x(p, n))) ORDER BY i)
	FROM jsonb_array_elements(doc->'UserRoles') WITH ORDINALITY y(r, i))) WHERE name = 'Database Administrators'"
om-import --db dbname=t --master-key-file t.key a.tar
om-import --db dbname=t --master-key-file t.key --overwrite a.tar
psql_q -d t -c "SELECT x->>'Name', x->'Scope'->>'Environment' FROM variablesets, jsonb_array_elements(doc->'Variables') x
	WHERE owner_id = (SELECT id FROM libraryvariablesets WHERE name = 'ops/db') AND x->>'Name' = 'Database.Password'"
psql_q -d t -c "SELECT jsonb_array_length(doc->'UserRoles'), doc->'UserRoles'->0->>'ProjectIds' FROM teams WHERE name = 'Database Administrators'"
# Only a skipped document differs: nothing changed, and the line says why.
psql_q -d t -c "UPDATE environments SET doc = doc || '{\"Description\": \"by target again\"}' WHERE name = 'Test'"
om-import --db dbname=t --master-key-file t.key a.tar
om-store check --db dbname=t --master-key-file t.key
