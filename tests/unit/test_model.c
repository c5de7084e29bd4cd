/* Unit tests of the model catalog and its path walker. */
#include <stdlib.h>
#include <string.h>

#include "../../format/model.h"
#include "t.h"

struct collect {
	char buf[2048];
};

static int collect_hit(const struct om_hit *hit, void *ctx)
{
	struct collect *c = ctx;
	const char *s = hit->key ? hit->key : json_string_value(hit->value);
	size_t n = strlen(c->buf);

	snprintf(c->buf + n, sizeof c->buf - n, "%s%s=%s", n ? ";" : "", hit->where,
		 s ? s : "?");
	return 0;
}

static const char *walk(const char *json, const char *path)
{
	static struct collect c;
	struct om_err err;
	json_t *doc = json_loads(json, 0, NULL);

	c.buf[0] = 0;
	if (!doc)
		return "(bad json)";
	if (om_path_walk(doc, path, collect_hit, &c, &err) < 0)
		snprintf(c.buf, sizeof c.buf, "error: %s", err.msg);
	json_decref(doc);
	return c.buf;
}

static void test_catalog_is_well_formed(void)
{
	struct om_err err;

	CHECK(om_model_check(&err) == 0);
	CHECK(om_nkinds >= 33);
	CHECK(om_kind_by_name("Project") == om_kind_by_table("projects"));
	CHECK(om_kind_of_id("Projects-12") == om_kind_by_name("Project"));
	CHECK(om_kind_of_id("variableset-Projects-12") == om_kind_by_name("VariableSet"));
	CHECK(om_kind_of_id("RunbookProcess-Runbooks-1") == om_kind_by_name("RunbookProcess"));
	CHECK(om_kind_of_id("Projects-") == NULL);
	CHECK(om_kind_of_id("Nothing-1") == NULL);
	/* References with alternative kinds. */
	const struct om_kind *vs = om_kind_by_name("VariableSet");
	CHECK(om_ref_allows(&vs->refs[0], om_kind_by_name("Project")));
	CHECK(om_ref_allows(&vs->refs[0], om_kind_by_name("LibraryVariableSet")));
	CHECK(!om_ref_allows(&vs->refs[0], om_kind_by_name("Runbook")));
	/* Every kind DESIGN.md lists is in the catalog. */
	static const char *const kinds[] = {
		"Space", "User", "Team", "UserRole", "Environment", "Lifecycle", "ProjectGroup",
		"Feed", "Account", "Certificate", "WorkerPool", "Worker", "MachinePolicy",
		"Machine", "TagSet", "Tenant", "TenantVariable", "LibraryVariableSet",
		"VariableSet", "ActionTemplate", "Project", "Channel", "DeploymentProcess",
		"DeploymentSettings", "Runbook", "RunbookProcess", "ProjectTrigger", "Release",
		"Deployment", "Event", "ServerTask", "Artifact"};
	for (size_t i = 0; i < sizeof kinds / sizeof *kinds; i++)
		CHECK(om_kind_by_name(kinds[i]) != NULL);
}

static void test_paths(void)
{
	CHECK_STR(walk("{\"A\":\"x\"}", "A"), "A=x");
	CHECK_STR(walk("{\"A\":null}", "A"), "A=?");
	CHECK_STR(walk("{\"B\":1}", "A"), "");
	CHECK_STR(walk("{\"A\":[\"x\",\"y\"]}", "A[]"), "A[0]=x;A[1]=y");
	CHECK_STR(walk("{\"A\":{\"b\":\"1\",\"a\":\"2\"}}", "A{key}"), "A/a=a;A/b=b");
	CHECK_STR(walk("{\"A\":{\"b\":\"1\",\"a\":\"2\"}}", "A{}"), "A/a=2;A/b=1");
	CHECK_STR(walk("{\"A\":{\"k\":[\"x\"],\"j\":[\"y\",\"z\"]}}", "A{}[]"),
		  "A/j[0]=y;A/j[1]=z;A/k[0]=x");
	CHECK_STR(walk("{\"S\":[{\"A\":[{\"P\":{\"Octopus.Action.Template.Id\":\"T-1\"}}]}]}",
		       "S[]/A[]/P/Octopus.Action.Template.Id"),
		  "S[0]/A[0]/P/Octopus.Action.Template.Id=T-1");
	CHECK_STR(walk("{\"V\":[{\"T\":\"a\",\"X\":\"1\"},{\"T\":\"b\",\"X\":\"2\"},"
		       "{\"T\":\"c\",\"X\":\"3\"},{\"X\":\"4\"}]}", "V[T=a|c]/X"),
		  "V[0]/X=1;V[2]/X=3");
	/* Wrong types on the way yield nothing, not an error. */
	CHECK_STR(walk("{\"A\":\"x\"}", "A[]"), "");
	CHECK_STR(walk("{\"A\":[1,2]}", "A[]/B"), "");
	CHECK_STR(walk("{\"A\":[]}", "A{key}"), "");
	/* Malformed paths are errors. */
	CHECK(strncmp(walk("{}", "A//B"), "error:", 6) == 0);
	CHECK(strncmp(walk("{}", "[]"), "error:", 6) == 0);
	CHECK(strncmp(walk("{}", "A{key}/B"), "error:", 6) == 0);
	CHECK(strncmp(walk("{}", "A[x]"), "error:", 6) == 0);
	CHECK(strncmp(walk("{}", "A/"), "error:", 6) == 0);
}

static int collect_ref(const struct om_ref_hit *h, void *ctx)
{
	struct collect *c = ctx;
	size_t n = strlen(c->buf);

	snprintf(c->buf + n, sizeof c->buf - n, "%s%s>%s", n ? ";" : "", h->at->where, h->id);
	return 0;
}

static const char *refs(const char *kind, const char *json)
{
	static struct collect c;
	struct om_err err;
	json_t *doc = json_loads(json, 0, NULL);

	c.buf[0] = 0;
	if (om_refs_each(om_kind_by_name(kind), doc, collect_ref, &c, &err) < 0)
		snprintf(c.buf, sizeof c.buf, "error: %s", err.msg);
	json_decref(doc);
	return c.buf;
}

static void test_reference_forms(void)
{
	/* Comma-separated Ids inside a step property, blanks allowed. */
	CHECK_STR(refs("DeploymentProcess",
		       "{\"OwnerId\":\"Projects-1\",\"Steps\":[{\"Actions\":[{\"Properties\":"
		       "{\"Octopus.Action.Manual.ResponsibleTeamIds\":\"Teams-2, Teams-3,\"}}]}]}"),
		  "OwnerId>Projects-1;"
		  "Steps[0]/Actions[0]/Properties/Octopus.Action.Manual.ResponsibleTeamIds>Teams-2;"
		  "Steps[0]/Actions[0]/Properties/Octopus.Action.Manual.ResponsibleTeamIds>Teams-3");
	/* Ids as object keys and in the arrays they key. */
	CHECK_STR(refs("Tenant", "{\"ProjectEnvironments\":{\"Projects-2\":[\"Environments-1\"]},"
				 "\"TenantTags\":[\"TagSets-1/Tags-3\"]}"),
		  "ProjectEnvironments/Projects-2>Projects-2;"
		  "ProjectEnvironments/Projects-2[0]>Environments-1;TenantTags[0]>TagSets-1/Tags-3");
	/* Account- and certificate-typed variable values; sensitive ones are not refs. */
	CHECK_STR(refs("VariableSet",
		       "{\"OwnerId\":\"Projects-1\",\"Variables\":["
		       "{\"Type\":\"String\",\"Value\":\"Accounts-1\"},"
		       "{\"Type\":\"AmazonWebServicesAccount\",\"Value\":\"Accounts-2\"},"
		       "{\"Type\":\"Certificate\",\"Value\":\"Certificates-1\"},"
		       "{\"Type\":\"Sensitive\",\"Value\":\"x\",\"Scope\":{\"Action\":[\"g-1\"],"
		       "\"ProcessOwner\":[\"Runbooks-4\"]}}]}"),
		  "OwnerId>Projects-1;Variables[3]/Scope/ProcessOwner[0]>Runbooks-4;"
		  "Variables[3]/Scope/Action[0]>g-1;Variables[1]/Value>Accounts-2;"
		  "Variables[2]/Value>Certificates-1");
	/* Nulls and empty strings are no references. */
	CHECK_STR(refs("Project", "{\"LifecycleId\":null,\"ProjectGroupId\":\"\"}"), "");
}

static int count_hit(const struct om_hit *hit, void *ctx)
{
	(void)hit;
	++*(int *)ctx;
	return 0;
}

static void test_secrets(void)
{
	struct om_err err;
	int n = 0;
	json_t *doc = json_loads(
		"{\"Variables\":[{\"Type\":\"Sensitive\",\"Value\":\"s1\"},"
		"{\"Type\":\"String\",\"Value\":\"plain\"},{\"Type\":\"Sensitive\",\"Value\":null},"
		"{\"Type\":\"Sensitive\",\"Value\":\"\"}]}", 0, NULL);

	CHECK(om_secrets_each(om_kind_by_name("VariableSet"), doc, count_hit, &n, &err) == 0);
	CHECK(n == 1);
	json_decref(doc);
	n = 0;
	doc = json_loads("{\"Value\":{\"SensitiveValue\":\"s\"}}", 0, NULL);
	CHECK(om_secrets_each(om_kind_by_name("TenantVariable"), doc, count_hit, &n, &err) == 0);
	CHECK(n == 1);
	json_decref(doc);
}

static int collect_loc(const struct om_hit *hit, void *ctx)
{
	struct collect *c = ctx;
	size_t n = strlen(c->buf);

	snprintf(c->buf + n, sizeof c->buf - n, "%s%s", n ? ";" : "", hit->loc);
	return 0;
}

static int collect_cloc(const struct om_chit *hit, void *ctx)
{
	struct collect *c = ctx;
	size_t n = strlen(c->buf);

	snprintf(c->buf + n, sizeof c->buf - n, "%s%s", n ? ";" : "", hit->loc);
	return 0;
}

/* The keyed locations of a kind's secrets, by both walkers, which must agree. */
static const char *secret_locs(const char *kind, const char *json)
{
	static struct collect c, cc;
	struct om_err err;
	const struct om_kind *k = om_kind_by_name(kind);
	json_t *doc = json_loads(json, 0, NULL);
	struct om_canon *t = om_canon_new(&err);

	c.buf[0] = cc.buf[0] = 0;
	if (!doc || !t || om_canon_parse(t, json, strlen(json), &err) < 0)
		snprintf(c.buf, sizeof c.buf, "(bad json)");
	else if (om_secrets_each(k, doc, collect_loc, &c, &err) < 0 ||
		 om_canon_secrets_each(k, t, collect_cloc, &cc, &err) < 0)
		snprintf(c.buf, sizeof c.buf, "error: %s", err.msg);
	else if (strcmp(c.buf, cc.buf) != 0)
		snprintf(c.buf, sizeof c.buf, "walkers differ: %s", cc.buf);
	json_decref(doc);
	om_canon_free(t);
	return c.buf;
}

static void test_keyed_locations(void)
{
	/* Variables by name, the second of a name by its rank; a filter keeps
	 * the array's key; a name needing escapes is a JSON string. */
	CHECK_STR(secret_locs("VariableSet",
			      "{\"Variables\":["
			      "{\"Name\":\"Db\",\"Type\":\"Sensitive\",\"Value\":\"a\"},"
			      "{\"Name\":\"Other\",\"Type\":\"String\",\"Value\":\"b\"},"
			      "{\"Name\":\"Db\",\"Type\":\"Sensitive\",\"Value\":\"c\"},"
			      "{\"Name\":\"a\\\"b\\\\\\n\",\"Type\":\"Sensitive\",\"Value\":\"d\"},"
			      "{\"Type\":\"Sensitive\",\"Value\":\"e\"}]}"),
		  "Variables[Name=\"Db\"]/Value;Variables[Name=\"Db\"#2]/Value;"
		  "Variables[Name=\"a\\\"b\\\\\\u000a\"]/Value;Variables[4]/Value");
	/* Steps and actions by name, property names as members. */
	CHECK_STR(secret_locs("DeploymentProcess",
			      "{\"Steps\":[{\"Name\":\"S\",\"Actions\":["
			      "{\"Name\":\"A\",\"Properties\":{\"P\":{\"SensitiveValue\":\"x\"}}}]}]}"),
		  "Steps[Name=\"S\"]/Actions[Name=\"A\"]/Properties/P/SensitiveValue");
	/* A kind without keys keeps indices; so does the plain walk. */
	CHECK_STR(secret_locs("Project",
			      "{\"Templates\":[{\"Name\":\"T\",\"DefaultValue\":{\"SensitiveValue\":\"s\"}}]}"),
		  "Templates[Name=\"T\"]/DefaultValue/SensitiveValue");
	CHECK_STR(walk("{\"Steps\":[{\"Name\":\"S\"}]}", "Steps[]/Name"), "Steps[0]/Name=S");
}

/* Which entries may be home files (task logs, artifacts, packages), told by
 * the kinds' bundle_file patterns below their owners' directories and their
 * spaces, and nothing else. */
static void test_may_be_file(void)
{
	CHECK(om_model_may_be_file("spaces/Default/tasks/2024 Deploy/artifacts/report.json"));
	CHECK(om_model_may_be_file("tasks/2024 Backup/artifacts/x.json"));
	CHECK(om_model_may_be_file("spaces/Default/tasks/2024 Deploy/log.txt"));
	CHECK(om_model_may_be_file("spaces/Default/packages/feeds-builtin/Acme.Web/1.0.json"));
	CHECK(!om_model_may_be_file("spaces/Default/environments/Dev.json"));
	CHECK(!om_model_may_be_file("spaces/Default/projects/packages/project.json"));
	CHECK(!om_model_may_be_file("spaces/Default/projects/artifacts/variables.json"));
	CHECK(!om_model_may_be_file("spaces/Default/packages/feeds-builtin/Acme.Web.json"));
	CHECK(!om_model_may_be_file("spaces/Default/projects/Acme/tasks/T/artifacts/x.json"));
	CHECK(!om_model_may_be_file("spaces/Default/x/packages/F/P/1.0.json"));
	CHECK(!om_model_may_be_file("packages/F/P/1.0.json"));
	CHECK(!om_model_may_be_file("artifacts/x.json"));
	CHECK(!om_model_may_be_file("tasks/T/artifacts/a/x.json"));
	CHECK(!om_model_may_be_file("manifest.json"));
	CHECK(!om_model_may_be_file(""));
}

/* What the catalog answers for the engines (spec/model.md, "The catalog
 * is the only place that knows kinds"). */
static int count_cref(const struct om_cref_hit *h, void *ctx)
{
	char *out = ctx;
	size_t n = strlen(out);

	snprintf(out + n, 512 - n, "%s%s", n ? ";" : "", h->at->where);
	return 0;
}

static void test_catalog_answers(void)
{
	const struct om_kind *vs = om_kind_by_name("VariableSet"), *t[4];
	const struct om_ref *owner = om_ref_of_member(vs, "OwnerId", 7);
	const char *s = " Teams-1 ,, Teams-2\t,Teams-3, ", *end = s + strlen(s), *id;
	char got[512] = "";
	size_t n;

	/* The one CSV splitter: blanks and empty items aside. */
	while (om_ids_next(&s, end, &id, &n))
		snprintf(got + strlen(got), sizeof got - strlen(got), "[%.*s]", (int)n, id);
	CHECK_STR(got, "[Teams-1][Teams-2][Teams-3]");
	s = "";
	CHECK(!om_ids_next(&s, s, &id, &n));

	/* "A|B" targets as kinds, in the target's order. */
	CHECK(owner != NULL);
	CHECK(owner && om_ref_targets(owner, t, 4) == 2);
	CHECK(t[0] == om_kind_by_name("Project") && t[1] == om_kind_by_name("LibraryVariableSet"));
	CHECK(!om_ref_of_member(vs, "Owner", 5));

	CHECK_STR(om_space_kind()->name, "Space");
	CHECK_STR(om_kind_name_member(om_kind_by_name("User")), "Username");
	CHECK_STR(om_kind_name_member(om_kind_by_name("Release")), "Version");

	/* Merges per kind and member. */
	CHECK(om_merge_of(vs, "Variables") && om_merge_of(vs, "Variables")->form == OM_MERGE_KEYED);
	CHECK_STR(om_merge_of(vs, "Variables")->key[1], "Scope");
	CHECK(om_merge_of(om_kind_by_name("Tenant"), "ProjectEnvironments")->form ==
	      OM_MERGE_MAP_OF_SETS);
	CHECK(!om_merge_of(om_kind_by_name("Project"), "Name"));

	CHECK_STR(om_script_ext("Bash", 4), ".sh");
	CHECK_STR(om_script_ext("PowerShellx", 10), ".ps1");
	CHECK_STR(om_script_ext("Perl", 4), ".txt");
	CHECK_STR(om_script.body, "Octopus.Action.Script.ScriptBody");

	/* The element arrays of tag and inner references, each once. */
	struct om_elemset es[16];
	size_t ne = om_elemsets(es, 16);
	got[0] = 0;
	for (size_t i = 0; i < ne; i++)
		snprintf(got + strlen(got), sizeof got - strlen(got), "%s%s %s by %s", i ? ";" : "",
			 es[i].kind->name, es[i].path, es[i].name);
	CHECK_STR(got, "TagSet Tags[] by Name;DeploymentProcess Steps[]/Actions[] by Name;"
		       "LibraryVariableSet Templates[] by Name;Project Templates[] by Name");

	/* Every reference place of a canonical tree, a CSV string once. */
	struct om_err err;
	struct om_canon *c = om_canon_new(&err);
	const char *doc = "{\"OwnerId\":\"Projects-1\",\"Steps\":[{\"Actions\":[{\"Properties\":"
			  "{\"Octopus.Action.Manual.ResponsibleTeamIds\":\"Teams-2,Teams-3\"}}]}]}";
	got[0] = 0;
	CHECK(c && om_canon_parse(c, doc, strlen(doc), &err) == 0);
	CHECK(c && om_canon_refs_each(om_kind_by_name("DeploymentProcess"), c, count_cref, got,
				      &err) == 0);
	CHECK_STR(got, "OwnerId;Steps[0]/Actions[0]/Properties/Octopus.Action.Manual.ResponsibleTeamIds");
	om_canon_free(c);
}

/* Binding expressions at reference places are no references: a whole
 * value, an item of a list (a comma inside "#{...}" is part of it), a key;
 * the splitter tells them from Ids; the canonical walk skips a single one
 * and still gives a list holding one (its Ids are remapped). */
static void test_bindings(void)
{
	const char *s = "Teams-2, #{Approvers[a,b]} ,#{X}y,Teams-3,#{unclosed, Teams-4";
	const char *end = s + strlen(s), *id;
	char got[512] = "";
	size_t n;
	int t;

	CHECK(om_is_binding("#{Feed}", 7));
	CHECK(om_is_binding("feeds-#{Env}", 12));
	CHECK(!om_is_binding("Feeds-1", 7));
	CHECK(!om_is_binding("#", 1));
	CHECK(!om_is_binding("#{", 1)); /* only len bytes count */
	while ((t = om_ids_next(&s, end, &id, &n)))
		snprintf(got + strlen(got), sizeof got - strlen(got), "%c[%.*s]",
			 t == OM_IDS_BINDING ? 'B' : 'I', (int)n, id);
	CHECK_STR(got, "I[Teams-2]B[#{Approvers[a,b]}]B[#{X}y]I[Teams-3]B[#{unclosed, Teams-4]");

	CHECK_STR(refs("ActionTemplate",
		       "{\"Packages\":[{\"FeedId\":\"#{Redgate.Oracle.PackageFeed}\"},"
		       "{\"FeedId\":\"feeds-builtin\"}],"
		       "\"Properties\":{\"Octopus.Action.Package.FeedId\":\"#{Feed}\"}}"),
		  "Packages[1]/FeedId>feeds-builtin");
	CHECK_STR(refs("DeploymentProcess",
		       "{\"OwnerId\":\"Projects-1\",\"Steps\":[{\"Actions\":[{"
		       "\"WorkerPoolId\":\"#{Pool}\",\"Properties\":"
		       "{\"Octopus.Action.Manual.ResponsibleTeamIds\":\"#{T},Teams-3\"}}]}]}"),
		  "OwnerId>Projects-1;"
		  "Steps[0]/Actions[0]/Properties/Octopus.Action.Manual.ResponsibleTeamIds>Teams-3");

	struct om_err err;
	struct om_canon *c = om_canon_new(&err);
	const char *doc = "{\"OwnerId\":\"Projects-1\",\"Steps\":[{\"Actions\":[{"
			  "\"WorkerPoolId\":\"#{Pool}\",\"Properties\":"
			  "{\"Octopus.Action.Manual.ResponsibleTeamIds\":\"#{T},Teams-3\"}}]}]}";
	got[0] = 0;
	CHECK(c && om_canon_parse(c, doc, strlen(doc), &err) == 0);
	CHECK(c && om_canon_refs_each(om_kind_by_name("DeploymentProcess"), c, count_cref, got,
				      &err) == 0);
	CHECK_STR(got, "OwnerId;Steps[0]/Actions[0]/Properties/Octopus.Action.Manual.ResponsibleTeamIds");
	om_canon_free(c);
}

int main(void)
{
	RUN(test_catalog_is_well_formed);
	RUN(test_paths);
	RUN(test_reference_forms);
	RUN(test_secrets);
	RUN(test_keyed_locations);
	RUN(test_may_be_file);
	RUN(test_catalog_answers);
	RUN(test_bindings);
	return T_EXIT();
}
