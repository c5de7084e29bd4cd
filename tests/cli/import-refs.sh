# Each reference form of the model remapped by om-import, checked by name:
# the sample instance imported into an empty server whose Ids start at
# 1000, then, for each form, the same query on both servers lists what the
# references name, by name; the lists are equal, and no source Id is left.
#   Id            a project's LifecycleId, a variable set's OwnerId
#   derived Id    variableset-<OwnerId>, deploymentprocess-<OwnerId>
#   CSV           a manual step's Octopus.Action.Manual.ResponsibleTeamIds
#   tag           TenantTags "TagSets-N/Tags-M" of tenants
#   inner         a tenant variable's VariableTemplateId (a template of its
#                 owner), a variable's Scope/Action (an action of the process)
#   object key    a tenant's ProjectEnvironments {project Id: [environments]}
#   any kind      an event's RelatedDocumentIds (told by the Id's prefix)
# Then each entry of the checklist of reference forms of the Octopus
# importer's bug history (spec/model.md), one query each, the same way; and
# a droppable restriction naming what neither side has (dropped with a
# warning line) beside one that is not droppable (an error).
new_acme a
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 1000"
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" |
	om-import --db dbname=t --master-key-file t.key >/dev/null 2>&1
src=a dst=t
q() {
	psql_q -d $src -c "$2" >a.txt
	psql_q -d $dst -c "$2" >t.txt
	if cmp -s a.txt t.txt && [ -s a.txt ]; then
		echo "$1: $(wc -l <a.txt) references, the same by name"
	else
		echo "$1: differ"
		diff a.txt t.txt | head -n 5
	fi
}
q "Id" "SELECT p.name, l.name FROM projects p JOIN lifecycles l ON l.id = p.doc->>'LifecycleId' ORDER BY 1, 2"
q "Id, two kinds" "SELECT coalesce(p.name, s.name), v.id = 'variableset-' || (v.doc->>'OwnerId') FROM variablesets v
	LEFT JOIN projects p ON p.id = v.doc->>'OwnerId' LEFT JOIN libraryvariablesets s ON s.id = v.doc->>'OwnerId' ORDER BY 1"
q "derived Id" "SELECT p.name, d.id = 'deploymentprocess-' || p.id FROM projects p JOIN deploymentprocesses d ON d.id = p.doc->>'DeploymentProcessId' ORDER BY 1"
q "CSV" "SELECT p.name, a->>'Name', t.name FROM deploymentprocesses d JOIN projects p ON p.id = d.doc->>'OwnerId',
	jsonb_array_elements(d.doc->'Steps') s, jsonb_array_elements(s->'Actions') a,
	unnest(string_to_array(a->'Properties'->>'Octopus.Action.Manual.ResponsibleTeamIds', ',')) x JOIN teams t ON t.id = trim(x)
	ORDER BY 1, 2, 3"
q "tag" "SELECT n.name, g.name, tag->>'Name' FROM tenants n, jsonb_array_elements_text(n.doc->'TenantTags') x
	JOIN tagsets g ON g.id = split_part(x, '/', 1), jsonb_array_elements(g.doc->'Tags') tag
	WHERE tag->>'Id' = x ORDER BY 1, 2, 3"
q "inner: template" "SELECT n.name, coalesce(p.name, s.name), tpl->>'Name' FROM tenantvariables v JOIN tenants n ON n.id = v.doc->>'TenantId'
	LEFT JOIN projects p ON p.id = v.doc->>'OwnerId' LEFT JOIN libraryvariablesets s ON s.id = v.doc->>'OwnerId',
	jsonb_array_elements(coalesce(p.doc, s.doc)->'Templates') tpl WHERE tpl->>'Id' = v.doc->>'VariableTemplateId' ORDER BY 1, 2, 3"
q "inner: action" "SELECT p.name, var->>'Name', a->>'Name' FROM variablesets v JOIN projects p ON p.id = v.doc->>'OwnerId'
	JOIN deploymentprocesses d ON d.id = p.doc->>'DeploymentProcessId', jsonb_array_elements(v.doc->'Variables') var,
	jsonb_array_elements_text(var->'Scope'->'Action') x, jsonb_array_elements(d.doc->'Steps') st, jsonb_array_elements(st->'Actions') a
	WHERE a->>'Id' = x ORDER BY 1, 2, 3"
q "object key" "SELECT n.name, p.name, e.name FROM tenants n, jsonb_each(n.doc->'ProjectEnvironments') pe
	JOIN projects p ON p.id = pe.key, jsonb_array_elements_text(pe.value) x JOIN environments e ON e.id = x ORDER BY 1, 2, 3"
q "any kind" "SELECT e.doc->>'Message', coalesce(p.name, n.name, en.name, r.doc->>'Version', '(not a project, tenant, environment or release)') FROM events e,
	jsonb_array_elements_text(e.doc->'RelatedDocumentIds') x LEFT JOIN projects p ON p.id = x LEFT JOIN tenants n ON n.id = x
	LEFT JOIN environments en ON en.id = x LEFT JOIN releases r ON r.id = x
	WHERE x ~ '^(Projects|Tenants|Environments|Releases)-[0-9]+$' AND x <> 'Projects-9' ORDER BY 1, 2"
echo "-- the checklist"
env="(SELECT s.name || '/' || e.name FROM environments e JOIN spaces s ON s.id = e.space_id WHERE e.id = x)"
tag="(SELECT g.name || '/' || (tag->>'Name') FROM tagsets g, jsonb_array_elements(g.doc->'Tags') tag WHERE g.id = split_part(x, '/', 1) AND tag->>'Id' = x)"
vars="variablesets v LEFT JOIN projects p ON p.id = v.doc->>'OwnerId' LEFT JOIN libraryvariablesets l ON l.id = v.doc->>'OwnerId',
	jsonb_array_elements(v.doc->'Variables') var"
q "account-typed variable values" "SELECT coalesce(p.name, l.name), var->>'Name', a.name FROM $vars
	JOIN accounts a ON a.id = var->>'Value' WHERE var->>'Type' LIKE '%Account' ORDER BY 1, 2, 3"
q "certificate-typed variable values" "SELECT coalesce(p.name, l.name), var->>'Name', c.name FROM $vars
	JOIN certificates c ON c.id = var->>'Value' WHERE var->>'Type' = 'Certificate' ORDER BY 1, 2, 3"
q "tenant-tag scopes of variables" "SELECT coalesce(p.name, l.name), var->>'Name', $tag FROM $vars,
	jsonb_array_elements_text(var->'Scope'->'TenantTag') x ORDER BY 1, 2, 3"
q "environment restrictions of accounts" "SELECT a.name, $env FROM accounts a, jsonb_array_elements_text(a.doc->'EnvironmentIds') x ORDER BY 1, 2"
q "tenant restrictions of accounts" "SELECT a.name, n.name FROM accounts a, jsonb_array_elements_text(a.doc->'TenantIds') x
	JOIN tenants n ON n.id = x ORDER BY 1, 2"
q "tenant-tag restrictions of accounts" "SELECT a.name, $tag FROM accounts a, jsonb_array_elements_text(a.doc->'TenantTags') x ORDER BY 1, 2"
q "environment restrictions of triggers" "SELECT p.name, t.name, w, $env FROM projecttriggers t JOIN projects p ON p.id = t.doc->>'ProjectId',
	LATERAL (SELECT 'Filter', jsonb_array_elements_text(t.doc->'Filter'->'EnvironmentIds')
		UNION ALL SELECT 'Source', jsonb_array_elements_text(t.doc->'Action'->'SourceEnvironmentIds')
		UNION ALL SELECT 'Destination', t.doc->'Action'->>'DestinationEnvironmentId'
		UNION ALL SELECT 'Action', jsonb_array_elements_text(t.doc->'Action'->'EnvironmentIds')) y(w, x)
	WHERE x IS NOT NULL ORDER BY 1, 2, 3, 4"
q "tenant restrictions of triggers" "SELECT p.name, t.name, n.name FROM projecttriggers t JOIN projects p ON p.id = t.doc->>'ProjectId',
	jsonb_array_elements_text(t.doc->'Action'->'TenantIds') x JOIN tenants n ON n.id = x ORDER BY 1, 2, 3"
q "tenant-tag restrictions of triggers" "SELECT p.name, t.name, $tag FROM projecttriggers t JOIN projects p ON p.id = t.doc->>'ProjectId',
	jsonb_array_elements_text(t.doc->'Action'->'TenantTags') x ORDER BY 1, 2, 3"
q "ResponsibleTeamIds of manual steps" "SELECT coalesce(p.name, r.name), a->>'Name', t.name FROM (SELECT doc FROM deploymentprocesses UNION ALL SELECT doc FROM runbookprocesses) d
	LEFT JOIN projects p ON p.id = d.doc->>'OwnerId' LEFT JOIN runbooks r ON r.id = d.doc->>'RunbookId',
	jsonb_array_elements(d.doc->'Steps') s, jsonb_array_elements(s->'Actions') a,
	unnest(string_to_array(a->'Properties'->>'Octopus.Action.Manual.ResponsibleTeamIds', ',')) x JOIN teams t ON t.id = trim(x)
	WHERE a->>'ActionType' = 'Octopus.Manual' ORDER BY 1, 2, 3"
q "step template Id and version" "SELECT coalesce(p.name, r.name), a->>'Name', t.name, a->'Properties'->>'Octopus.Action.Template.Version', t.doc->>'Version'
	FROM (SELECT doc FROM deploymentprocesses UNION ALL SELECT doc FROM runbookprocesses) d
	LEFT JOIN projects p ON p.id = d.doc->>'OwnerId' LEFT JOIN runbooks r ON r.id = d.doc->>'RunbookId',
	jsonb_array_elements(d.doc->'Steps') s, jsonb_array_elements(s->'Actions') a
	JOIN actiontemplates t ON t.id = a->'Properties'->>'Octopus.Action.Template.Id' ORDER BY 1, 2"
q "library variable sets of releases" "SELECT p.name, r.doc->>'Version', l.name FROM releases r JOIN projects p ON p.id = r.doc->>'ProjectId',
	jsonb_array_elements_text(r.doc->'LibraryVariableSetIds') x JOIN libraryvariablesets l ON l.id = x ORDER BY 1, 2, 3"
q "... one referenced only by releases" "SELECT l.name, count(*) FROM releases r, jsonb_array_elements_text(r.doc->'LibraryVariableSetIds') x
	JOIN libraryvariablesets l ON l.id = x WHERE NOT EXISTS (SELECT 1 FROM projects p WHERE p.doc->'IncludedLibraryVariableSetIds' ? l.id)
	GROUP BY 1 ORDER BY 1"
q "variables scoped to runbooks" "SELECT coalesce(p.name, l.name), var->>'Name', r.name FROM $vars,
	jsonb_array_elements_text(var->'Scope'->'ProcessOwner') x JOIN runbooks r ON r.id = x ORDER BY 1, 2, 3"
q "tenant variables keyed by environment" "SELECT n.name, coalesce(p.name, l.name), $env FROM tenantvariables v
	JOIN tenants n ON n.id = v.doc->>'TenantId' LEFT JOIN projects p ON p.id = v.doc->>'OwnerId'
	LEFT JOIN libraryvariablesets l ON l.id = v.doc->>'OwnerId', LATERAL (SELECT v.doc->>'EnvironmentId') y(x)
	WHERE x IS NOT NULL ORDER BY 1, 2, 3"
# No Id of the source is left in the target (all are below 1000 there).
psql_q -d t -c "SELECT count(*) FROM (SELECT doc::text AS t FROM projects UNION ALL SELECT doc::text FROM variablesets
	UNION ALL SELECT doc::text FROM deploymentprocesses UNION ALL SELECT doc::text FROM tenants
	UNION ALL SELECT doc::text FROM tenantvariables) d WHERE t ~ '\"[A-Za-z]+-[0-9]{1,3}\"'"

echo "-- restrictions naming what neither side has"
# An account's restrictions (droppable): one warning line each, the rest
# of the restriction stays.
createdb a2 -T a
psql_q -d a2 -c "UPDATE accounts SET doc = doc || jsonb_build_object('EnvironmentIds', doc->'EnvironmentIds' || '[\"Environments-999\"]',
	'TenantIds', doc->'TenantIds' || '[\"Tenants-999\"]') WHERE name = 'Legacy Windows Admin'"
om-export --db dbname=a2 --master-key-file "$OM_FIXTURES/acme.key" --allow-clear-secrets -o a2.tar
createdb t2
om-store init --db dbname=t2 --master-key-file t.key >/dev/null
psql_q -d t2 -c "UPDATE server SET maintenance_mode = true"
om-import --db dbname=t2 --master-key-file t.key a2.tar 2>warnings >/dev/null
grep ': dropped$' warnings
src=a dst=t2
q "environment restrictions of accounts" "SELECT a.name, $env FROM accounts a, jsonb_array_elements_text(a.doc->'EnvironmentIds') x ORDER BY 1, 2"
q "tenant restrictions of accounts" "SELECT a.name, n.name FROM accounts a, jsonb_array_elements_text(a.doc->'TenantIds') x
	JOIN tenants n ON n.id = x ORDER BY 1, 2"
# A trigger's restriction is not optional (an empty list means every
# environment): one naming what neither side has is an error.
psql_q -d a2 -c "UPDATE projecttriggers SET doc = jsonb_set(doc, '{Filter,EnvironmentIds}', doc->'Filter'->'EnvironmentIds' || '[\"Environments-999\"]')
	WHERE name = 'Auto-deploy to new web servers'"
om-export --db dbname=a2 --master-key-file "$OM_FIXTURES/acme.key" --allow-clear-secrets -o a3.tar
createdb t3
om-store init --db dbname=t3 --master-key-file t.key >/dev/null
psql_q -d t3 -c "UPDATE server SET maintenance_mode = true"
must_fail 2 om-import --db dbname=t3 --master-key-file t.key a3.tar 2>&1 | grep -v ': warning: '
