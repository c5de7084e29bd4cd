# A redacted secret keeps the target's value of the same variable, told by
# its name and scope (the scope as a set), not by its rank among variables
# of the same name: the target holds them in another order.  With another
# master key than the bundle's, several candidates are an error; with the
# bundle's own key the fingerprint picks among them, finds a value whose
# variable's scope changed, and a value that differs is kept with a warning.
new_acme a
k=$OM_FIXTURES/acme.key
createdb b -T a
psql_q -d b -c "UPDATE server SET maintenance_mode = true"
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true"
om-export --db dbname=a --master-key-file "$k" | om-import --db dbname=t --master-key-file t.key >/dev/null
opsdb="owner_id = (SELECT id FROM libraryvariablesets WHERE name = 'ops/db')"
vars() { # DB SQL: rewrite the variables of ops/db, each as v, its rank as i
	psql_q -d "$1" -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}', (SELECT jsonb_agg($2)
		FROM jsonb_array_elements(doc->'Variables') WITH ORDINALITY x(v, i))) WHERE $opsdb"
}
sealed() { echo "$2" | om-store seal --master-key-file "$1"; }
copy() { # DB SEALED ENVIRONMENT: a copy of the Database.Password scoped to it, of another value
	psql_q -d "$1" -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}', doc->'Variables' ||
		(SELECT jsonb_agg(jsonb_set(jsonb_set(v, '{Id}', '\"copy\"'), '{Value}', to_jsonb('$2'::text)))
		FROM jsonb_array_elements(doc->'Variables') x(v) WHERE v->>'Name' = 'Database.Password' AND v->'Scope'->'Environment' ? '$3'))
		WHERE $opsdb"
}
passwords() { # DB KEY: each Database.Password of ops/db, its environments and value
	rm -rf clear
	om-export --db "dbname=$1" --master-key-file "$2" --allow-clear-secrets -o clear
	jq -s 'map({(.Id): .Name}) | add' clear/spaces/Default/environments/*.json >envs.json
	jq -r --slurpfile e envs.json '.Variables[] | select(.Name == "Database.Password") |
		([.Scope.Environment // [] | .[] | $e[0][.]] | sort | join(",")) + " " +
		(.Value | ltrimstr("om-clear-1:") | @base64d)' clear/spaces/Default/library-variable-sets/ops%2Fdb/variables.json
}
# The targets hold the variables in the reverse order; the source gains a
# variable, so that the variable set is written.
vars t "v ORDER BY i DESC"
psql_q -d a -c "UPDATE variablesets SET doc = jsonb_set(doc, '{Variables}', doc->'Variables' ||
	'[{\"Id\": \"pool\", \"Name\": \"Database.Pool\", \"Type\": \"String\", \"Value\": \"20\", \"Scope\": {}}]') WHERE $opsdb"
om-export --db dbname=a --master-key-file "$k" --redact-secrets -o red

echo "-- another key: by name and scope"
om-import --db dbname=t --master-key-file t.key --overwrite red
passwords t t.key
# Two of the same name and scope with different values: which one?
copy t "$(sealed t.key other)" "$(psql_q -d t -c "SELECT id FROM environments WHERE name = 'Disaster Recovery'")"
must_fail 2 om-import --db dbname=t --master-key-file t.key --overwrite red

echo "-- the bundle's key: by fingerprint"
# Reversed; Development/Test rotated; Staging's variable unscoped; a second
# Production/DR variable of another value.
vars b "CASE WHEN v->>'Name' <> 'Database.Password' THEN v
	WHEN v->'Scope'->'Environment' ? 'Environments-1' THEN jsonb_set(v, '{Value}', to_jsonb('$(sealed "$k" dev-db-rotated)'::text))
	WHEN v->'Scope'->'Environment' ? 'Environments-3' THEN jsonb_set(v, '{Scope}', '{}')
	ELSE v END ORDER BY i DESC"
copy b "$(sealed "$k" wrong)" Environments-5
passwords b "$k"
echo "-- imported"
om-import --db dbname=b --master-key-file "$k" --overwrite red
passwords b "$k"
om-store check --db dbname=b --master-key-file "$k"
