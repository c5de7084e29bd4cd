# Reals in documents that om-import merges (a variable set here) are
# written back as they were read: 1.1 stays 1.1, not jansson's
# 1.1000000000000001, both in what the bundle brings and in what only the
# target holds; a real stays a real (100.0).
new_acme a
k=$OM_FIXTURES/acme.key
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
om-export --db dbname=a --master-key-file "$k" | om-import --db dbname=t --master-key-file t.key
web="(SELECT id FROM projects WHERE name = 'Acme Web' AND space_id = (SELECT id FROM spaces WHERE name = 'Default'))"
add() { # DB NAME JSON
	psql_q -d "$1" -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}', doc->'Variables' ||
		jsonb_build_array(jsonb_build_object('Id', '$2-var', 'Name', '$2', 'Type', 'String', 'Value', 'x',
		'Scope', '{}'::jsonb, 'Weights', '$3'::jsonb))) WHERE owner_id = $web"
}
add a Reals.source '[1.1, 0.1, -2.675, 100.0, 0.30000000000000004, 1.5e-7, 12]'
add t Reals.target '[1.1, 3.3, 1.0e-7]'
om-export --db dbname=a --master-key-file "$k" | om-import --db dbname=t --master-key-file t.key
psql_q -d t -c "SELECT x->>'Name', x->'Weights' FROM variablesets, jsonb_array_elements(doc->'Variables') x
	WHERE owner_id = $web AND x->>'Name' LIKE 'Reals.%' ORDER BY 1"
