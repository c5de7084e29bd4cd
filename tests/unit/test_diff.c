/* Unit tests of om-diff's library part: the line diff, and documents
 * compared in small bundles (keys, moves, sets, references, secrets). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../format/bundle.h"
#include "../../format/diff.h"
#include "t.h"

/* Everything reported, as lines "status kind name | type loc old new". */
static char got[8192];

static int collect(const struct om_diff_doc *d, void *ctx)
{
	static const char *const st[] = {"added", "removed", "changed", "renamed"};
	static const char *const ty[] = {"+", "-", "~", ">", "secret", "?", "@@", "bin"};
	size_t n = strlen(got);
	(void)ctx;
	n += (size_t)snprintf(got + n, sizeof got - n, "%s %s %s\n", st[d->status], d->kind, d->name);
	for (size_t i = 0; i < d->nchanges && n < sizeof got; i++) {
		const struct om_diff_change *c = &d->changes[i];
		if (c->type == OM_CHANGE_MOVED)
			n += (size_t)snprintf(got + n, sizeof got - n, " > %s %ld %ld\n", c->loc, c->from, c->to);
		else
			n += (size_t)snprintf(got + n, sizeof got - n, " %s %s %s %s\n", ty[c->type], c->loc,
					      c->old_value ? c->old_value : "-", c->new_value ? c->new_value : "-");
	}
	return 0;
}

static char dir[] = "/tmp/om-test-diff.XXXXXX";

/* bundle() writes directories rather than tar files. */
static int as_dir;

/* The manifest every bundle() has (om-diff refuses a bundle without). */
#define MANIFEST "{\"Counts\": {}, \"Format\": \"om-bundle\", \"FormatVersion\": 1, \"Secrets\": {\"State\": \"redacted\"}}\n"

/* A bundle of files given as path, text, path, text, ..., NULL, in order,
 * and a manifest. */
static const char *bundle(const char *name, ...)
{
	static char path[8][4096];
	static int next;
	char *p = path[next++ % 8];
	struct om_err err;
	struct om_bundle_writer *w;
	va_list ap;
	const char *f;
	int manifest = 0;

	snprintf(p, 4096, as_dir ? "%s/%s" : "%s/%s.tar", dir, name);
	w = om_bundle_writer_open(p, &err);
	va_start(ap, name);
	while ((f = va_arg(ap, const char *))) {
		const char *text = va_arg(ap, const char *);
		if (!manifest && strcmp(f, "manifest.json") > 0) {
			manifest = 1;
			if (om_bundle_add(w, "manifest.json", MANIFEST, strlen(MANIFEST), &err) < 0)
				fprintf(stderr, "%s\n", err.msg);
		}
		if (om_bundle_add(w, f, text, strlen(text), &err) < 0)
			fprintf(stderr, "%s\n", err.msg);
	}
	va_end(ap);
	if (!manifest && om_bundle_add(w, "manifest.json", MANIFEST, strlen(MANIFEST), &err) < 0)
		fprintf(stderr, "%s\n", err.msg);
	if (om_bundle_writer_commit(w, &err) < 0)
		fprintf(stderr, "%s\n", err.msg);
	return p;
}

static long diff(const char *a, const char *b)
{
	struct om_err err;
	long n;

	got[0] = 0;
	n = om_diff_bundles(a, b, dir, collect, NULL, &err);
	if (n < 0)
		snprintf(got, sizeof got, "error: %s", err.msg);
	return n;
}

static void test_lines(void)
{
	struct om_err err;
	const char *a = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n", *b = "1\n2\n3\n4\nfive\n6\n7\n8\n9\n10\n11";

	got[0] = 0;
	CHECK(om_diff_lines("f", a, strlen(a), b, strlen(b), collect, NULL, &err) == 1);
	/* Changes 5 lines apart share a hunk (within twice the context). */
	CHECK_STR(got, "changed File f\n"
		       " @@ @@ -2,9 +2,10 @@ -  2\n 3\n 4\n-5\n+five\n 6\n 7\n 8\n 9\n 10\n+11\n"
		       "\\ No newline at end of file\n\n");
	got[0] = 0;
	const char *c = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", *d = "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n";
	CHECK(om_diff_lines("f", c, strlen(c), d, strlen(d), collect, NULL, &err) == 1);
	CHECK_STR(got, "changed File f\n"
		       " @@ @@ -1,3 +1,4 @@ - +0\n 1\n 2\n 3\n\n"
		       " @@ @@ -9,4 +10,3 @@ -  9\n 10\n 11\n-12\n\n");
	CHECK(om_diff_lines("f", a, strlen(a), a, strlen(a), collect, NULL, &err) == 0);
	/* Everything different: all removed, then all added. */
	got[0] = 0;
	CHECK(om_diff_lines("f", "a\nb\n", 4, "c\n", 2, collect, NULL, &err) == 1);
	CHECK_STR(got, "changed File f\n @@ @@ -1,2 +1,1 @@ - -a\n-b\n+c\n\n");
}

#define ENV1 "{\n  \"Id\": \"Environments-1\",\n  \"Name\": \"Dev\"\n}\n"
#define ENV2 "{\n  \"Id\": \"Environments-2\",\n  \"Name\": \"Test\"\n}\n"
#define ENV7 "{\n  \"Id\": \"Environments-7\",\n  \"Name\": \"Dev\"\n}\n"
#define ENV8 "{\n  \"Id\": \"Environments-8\",\n  \"Name\": \"Test\"\n}\n"

static void test_documents(void)
{
	/* Steps moved, a step changed, an action added; a scope changed; a
	 * secret changed; all Ids of the second server differ. */
	const char *a = bundle("a", "e/Dev.json", ENV1, "e/Test.json", ENV2,
		"p.json", "{\"Id\": \"deploymentprocess-Projects-1\", \"OwnerId\": \"Projects-1\", \"Steps\": ["
			  "{\"Id\": \"s1\", \"Name\": \"A\", \"Actions\": [{\"Id\": \"x\", \"Name\": \"A\", \"Environments\": [\"Environments-1\"]}]},"
			  "{\"Id\": \"s2\", \"Name\": \"B\", \"Actions\": []},"
			  "{\"Id\": \"s3\", \"Name\": \"C\", \"Actions\": []}]}",
		"v.json", "{\"Id\": \"variableset-Projects-1\", \"Variables\": ["
			  "{\"Name\": \"P\", \"Type\": \"Sensitive\", \"Value\": \"om-redacted-1:00\"},"
			  "{\"Name\": \"P\", \"Value\": \"x\", \"Scope\": {\"Environment\": [\"Environments-1\", \"Environments-2\"]}}]}",
		NULL);
	const char *b = bundle("b", "e/Dev.json", ENV7, "e/Test.json", ENV8,
		"p.json", "{\"Id\": \"deploymentprocess-Projects-9\", \"OwnerId\": \"Projects-9\", \"Steps\": ["
			  "{\"Id\": \"t2\", \"Name\": \"B\", \"Actions\": [{\"Name\": \"New\"}]},"
			  "{\"Id\": \"t1\", \"Name\": \"A\", \"Actions\": [{\"Id\": \"y\", \"Name\": \"A\", \"Environments\": [\"Environments-8\"]}]},"
			  "{\"Id\": \"t3\", \"Name\": \"C\", \"Actions\": []}]}",
		"v.json", "{\"Id\": \"variableset-Projects-9\", \"Variables\": ["
			  "{\"Name\": \"P\", \"Type\": \"Sensitive\", \"Value\": \"om-redacted-1:01\"},"
			  "{\"Name\": \"P\", \"Value\": \"x\", \"Scope\": {\"Environment\": [\"Environments-8\", \"Environments-7\"]}}]}",
		NULL);

	CHECK(diff(a, b) == 2);
	CHECK_STR(got, "changed DeploymentProcess p\n"
		       " + Steps[Name=\"B\"]/Actions[Name=\"New\"] - {\"Name\":\"New\"}\n"
		       " > Steps[Name=\"A\"] 1 2\n"
		       " - Steps[Name=\"A\"]/Actions[Name=\"A\"]/Environments[] \"Dev\" -\n"
		       " + Steps[Name=\"A\"]/Actions[Name=\"A\"]/Environments[] - \"Test\"\n"
		       "changed VariableSet v\n"
		       " secret Variables[Name=\"P\"]/Value - -\n");
	/* The same, read from the other side: a bundle equals itself. */
	CHECK(diff(b, b) == 0);
	CHECK_STR(got, "");
	/* One server: a rename by Id, and a reference to it by name. */
	const char *c = bundle("c", "e/Dev.json", ENV1, "e/Test.json", ENV2, "x.json",
			       "{\"Id\": \"Projects-1\", \"Name\": \"x\", \"LifecycleId\": \"Lifecycles-1\"}",
			       "z/Old.json", "{\"Id\": \"Lifecycles-1\", \"Name\": \"Old\"}", NULL);
	const char *d = bundle("d", "e/Dev.json", ENV1, "e/Test.json", ENV2, "x.json",
			       "{\"Id\": \"Projects-1\", \"Name\": \"x\", \"LifecycleId\": \"Lifecycles-1\"}",
			       "z/New.json", "{\"Id\": \"Lifecycles-1\", \"Name\": \"New\"}", NULL);
	CHECK(diff(c, d) == 2);
	CHECK_STR(got, "changed Project x\n ~ LifecycleId \"Old\" \"New\"\n"
		       "renamed Lifecycle New\n ~ Name \"Old\" \"New\"\n");
	/* Invalid JSON names the bundle and the entry. */
	const char *e = bundle("e", "e/Dev.json", "{\"Id\": 1,}", NULL);
	CHECK(diff(c, e) == -1);
	CHECK(strstr(got, "e.tar': entry 'e/Dev.json': invalid JSON") != NULL);
}

/* A bundle of a tag set, a project with its process, and its variables
 * (vars: the text of the Variables array), with the Ids of the first
 * server, or of a second one (other). */
static const char *elements_bundle(const char *name, int other, const char *vars)
{
	static char t[2][512], p[2][256], dp[2][512], v[2][2048];
	static int k;
	int i = k++ % 2;
	const char *tag1 = other ? "TagSets-5/Tags-9" : "TagSets-1/Tags-1";
	const char *tag2 = other ? "TagSets-5/Tags-8" : "TagSets-1/Tags-2";
	const char *pid = other ? "Projects-7" : "Projects-1";

	snprintf(t[i], sizeof t[i], "{\"Id\": \"%s\", \"Name\": \"Hosting\", \"Tags\": ["
		 "{\"Id\": \"%s\", \"Name\": \"Cloud\"}, {\"Id\": \"%s\", \"Name\": \"Hybrid\"}]}",
		 other ? "TagSets-5" : "TagSets-1", tag1, tag2);
	snprintf(p[i], sizeof p[i], "{\"Id\": \"%s\", \"Name\": \"x\", "
		 "\"DeploymentProcessId\": \"deploymentprocess-%s\"}", pid, pid);
	snprintf(dp[i], sizeof dp[i], "{\"Id\": \"deploymentprocess-%s\", \"OwnerId\": \"%s\", "
		 "\"Steps\": [{\"Id\": \"s\", \"Name\": \"S\", \"Actions\": ["
		 "{\"Id\": \"%s\", \"Name\": \"Run\"}, {\"Id\": \"%s\", \"Name\": \"Check\"}]}]}",
		 pid, pid, other ? "a-9" : "a-1", other ? "a-8" : "a-2");
	snprintf(v[i], sizeof v[i], "{\"Id\": \"variableset-%s\", \"OwnerId\": \"%s\", "
		 "\"Variables\": [%s]}", pid, pid, vars);
	return bundle(name, "e/Dev.json", other ? ENV7 : ENV1, "e/Test.json", other ? ENV8 : ENV2,
		      "tag-sets/Hosting.json", t[i], "x/deployment-process.json", dp[i], "x/project.json", p[i],
		      "x/variables.json", v[i], NULL);
}

static void test_elements(void)
{
	/* Variables are their name and scope: a new one of a known name, and
	 * two of one name swapped, show as one added variable.  Tags and
	 * actions are named by other Ids on the second server. */
	const char *a = elements_bundle("ea", 0,
		"{\"Name\": \"H\", \"Value\": \"a\", \"Scope\": {\"Environment\": [\"Environments-1\"]}},"
		"{\"Name\": \"H\", \"Value\": \"b\", \"Scope\": {\"Environment\": [\"Environments-2\"], "
		"\"TenantTag\": [\"TagSets-1/Tags-1\"]}},"
		"{\"Name\": \"N\", \"Value\": \"n\", \"Scope\": {\"Action\": [\"a-1\"]}}");
	const char *b = elements_bundle("eb", 1,
		"{\"Name\": \"H\", \"Value\": \"c\", \"Scope\": {\"Environment\": [\"Environments-7\"], "
		"\"TenantTag\": [\"TagSets-5/Tags-8\"]}},"
		"{\"Name\": \"N\", \"Value\": \"n\", \"Scope\": {\"Action\": [\"a-9\"]}},"
		"{\"Name\": \"H\", \"Value\": \"b\", \"Scope\": {\"TenantTag\": [\"TagSets-5/Tags-9\"], "
		"\"Environment\": [\"Environments-8\"]}},"
		"{\"Name\": \"H\", \"Value\": \"a\", \"Scope\": {\"Environment\": [\"Environments-7\"]}}");
	CHECK(diff(a, b) == 1);
	CHECK_STR(got, "changed VariableSet x/variables\n"
		       " + Variables[Name=\"H\"] - {\"Name\":\"H\",\"Scope\":{\"Environment\":[\"Dev\"],"
		       "\"TenantTag\":[\"Hosting/Hybrid\"]},\"Value\":\"c\"}\n");
	/* A scope changed: the variable left over is paired by name; the
	 * action is shown by its name. */
	const char *c = elements_bundle("ec", 1,
		"{\"Name\": \"H\", \"Value\": \"a\", \"Scope\": {\"Environment\": [\"Environments-7\"]}},"
		"{\"Name\": \"H\", \"Value\": \"b\", \"Scope\": {\"Environment\": [\"Environments-8\"], "
		"\"TenantTag\": [\"TagSets-5/Tags-9\"]}},"
		"{\"Name\": \"N\", \"Value\": \"n\", \"Scope\": {\"Action\": [\"a-8\"]}}");
	CHECK(diff(a, c) == 1);
	CHECK_STR(got, "changed VariableSet x/variables\n"
		       " - Variables[Name=\"N\"]/Scope/Action[] \"Run\" -\n"
		       " + Variables[Name=\"N\"]/Scope/Action[] - \"Check\"\n");
}

/* A renamed document, and equal documents that name it: found alike in
 * archives (read again in order) and in directories (read again by path,
 * only those whose kind may name it); an equal document whose Id another
 * holds is looked at too. */
static void test_moved(void)
{
	static const char *want =
		"changed Project x\n ~ LifecycleId \"Old\" \"New\"\n"
		"changed Project x2\n ~ LifecycleId \"Old\" \"New\"\n"
		"renamed Lifecycle New\n ~ Name \"Old\" \"New\"\n";
	char first[8192];

	for (as_dir = 0; as_dir < 2; as_dir++) {
		const char *a = bundle(as_dir ? "ma" : "mta", "e/Dev.json", ENV1, "e/Test.json", ENV2,
			"w.json", "{\"LifecycleId\": \"Lifecycles-1\"}",
			"x.json", "{\"Id\": \"Projects-1\", \"Name\": \"x\", \"LifecycleId\": \"Lifecycles-1\"}",
			"x2.json", "{\"Id\": \"Projects-1\", \"Name\": \"x\", \"LifecycleId\": \"Lifecycles-1\"}",
			"y.json", "{\"Id\": \"Environments-3\", \"Name\": \"y\", \"Description\": \"Lifecycles-1\"}",
			"z/Old.json", "{\"Id\": \"Lifecycles-1\", \"Name\": \"Old\"}", NULL);
		const char *b = bundle(as_dir ? "mb" : "mtb", "e/Dev.json", ENV1, "e/Test.json", ENV2,
			"w.json", "{\"LifecycleId\": \"Lifecycles-1\"}",
			"x.json", "{\"Id\": \"Projects-1\", \"Name\": \"x\", \"LifecycleId\": \"Lifecycles-1\"}",
			"x2.json", "{\"Id\": \"Projects-1\", \"Name\": \"x\", \"LifecycleId\": \"Lifecycles-1\"}",
			"y.json", "{\"Id\": \"Environments-3\", \"Name\": \"y\", \"Description\": \"Lifecycles-1\"}",
			"z/New.json", "{\"Id\": \"Lifecycles-1\", \"Name\": \"New\"}", NULL);
		CHECK(diff(a, b) == 3);
		CHECK_STR(got, want);
		if (!as_dir)
			memcpy(first, got, sizeof first);
		else
			CHECK_STR(got, first);
		/* Without x.json, x2.json is the document of its Id. */
		if (as_dir) {
			char p[4200];
			snprintf(p, sizeof p, "%s/ma/x.json", dir);
			unlink(p);
			snprintf(p, sizeof p, "%s/mb/x.json", dir);
			unlink(p);
			CHECK(diff(a, b) == 2);
		}
	}
	as_dir = 0;
}

int main(void)
{
	if (!mkdtemp(dir))
		return 1;
	RUN(test_lines);
	RUN(test_documents);
	RUN(test_elements);
	RUN(test_moved);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		return 1;
	return T_EXIT();
}
