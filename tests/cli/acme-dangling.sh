# The model-driven check fails loudly on each kind of broken reference, on a
# secret that does not open and on a missing file.
new_acme a
q() { psql_q -d a -c "$1"; }
first() { echo "(SELECT min(id) FROM $1)"; }

# A plain Id member that names nothing.
q "UPDATE projects SET doc = jsonb_set(doc, '{LifecycleId}', '\"Lifecycles-999\"') WHERE id = $(first projects)"
# An Id of the wrong kind.
q "UPDATE projects SET doc = jsonb_set(doc, '{ProjectGroupId}', to_jsonb($(first environments))) WHERE id = (SELECT max(id) FROM projects)"
# A comma-separated team list with a team that does not exist.
q "UPDATE deploymentprocesses SET doc = replace(doc::text, '\"Octopus.Action.Manual.ResponsibleTeamIds\": \"', '\"Octopus.Action.Manual.ResponsibleTeamIds\": \"Teams-999,')::jsonb WHERE id = (SELECT min(id) FROM deploymentprocesses WHERE doc::text LIKE '%ResponsibleTeamIds%')"
# A tenant tag whose tag is not in its tag set.
q "UPDATE tenants SET doc = jsonb_set(doc, '{TenantTags}', to_jsonb(ARRAY[$(first tagsets) || '/Tags-999'])) WHERE id = $(first tenants)"
# Ids as object keys: a tenant connected to a project that does not exist.
q "UPDATE tenants SET doc = jsonb_set(doc, '{ProjectEnvironments,Projects-999}', '[]') WHERE id = $(first tenants)"
# An inner reference: a tenant variable for a template its owner lacks.
q "UPDATE tenantvariables SET doc = jsonb_set(doc, '{VariableTemplateId}', '\"00000000-0000-0000-0000-000000000000\"') WHERE id = $(first tenantvariables)"
# Account- and certificate-typed variable values naming nothing.
for t in AmazonWebServicesAccount:Accounts-999 Certificate:Certificates-999; do
	q "UPDATE variablesets v SET doc = jsonb_set(doc, ARRAY['Variables', (e.i - 1)::text, 'Value'], to_jsonb('${t#*:}'::text))
	   FROM (SELECT id, i FROM variablesets, jsonb_array_elements(doc->'Variables') WITH ORDINALITY AS x(var, i)
		 WHERE var->>'Type' = '${t%%:*}' ORDER BY id, i LIMIT 1) e WHERE v.id = e.id"
done
# A secret sealed under another key, and one left in the clear.
om-store keygen other.key
sealed=$(echo hunter2 | om-store seal --master-key-file other.key)
q "UPDATE feeds SET doc = jsonb_set(doc, '{Password}', to_jsonb('$sealed'::text)) WHERE id = (SELECT min(id) FROM feeds WHERE doc->>'Password' IS NOT NULL)"
q "UPDATE accounts SET doc = jsonb_set(doc, '{Password}', '\"hunter2\"') WHERE id = (SELECT min(id) FROM accounts WHERE doc->>'Password' IS NOT NULL)"

# A home directory with a task log missing.
cp -R "$OM_FIXTURES/acme-home" home
rm "home/TaskLogs/$(psql_q -d a -c "SELECT min(id) FROM servertasks").txt"

must_fail 1 om-store check --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" --home home
# Without the key, the secret under another key is not seen; the clear one is.
must_fail 1 om-store check --db dbname=a --home home >/dev/null
