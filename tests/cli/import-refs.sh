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
new_acme a
createdb t
om-store init --db dbname=t --master-key-file t.key --new-key >/dev/null
psql_q -d t -c "UPDATE server SET maintenance_mode = true; UPDATE id_allocator SET next_value = 1000"
om-export --db dbname=a --master-key-file "$OM_FIXTURES/acme.key" |
	om-import --db dbname=t --master-key-file t.key >/dev/null 2>&1
q() {
	psql_q -d a -c "$2" >a.txt
	psql_q -d t -c "$2" >t.txt
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
# No Id of the source is left in the target (all are below 1000 there).
psql_q -d t -c "SELECT count(*) FROM (SELECT doc::text AS t FROM projects UNION ALL SELECT doc::text FROM variablesets
	UNION ALL SELECT doc::text FROM deploymentprocesses UNION ALL SELECT doc::text FROM tenants
	UNION ALL SELECT doc::text FROM tenantvariables) d WHERE t ~ '\"[A-Za-z]+-[0-9]{1,3}\"'"
