/*
 * canon-bench - om_canon against jansson and yajl on Octopus-like documents.
 *
 *   canon-bench --make FILE MB   write about MB megabytes (10^6 bytes) of
 *                                documents, one per line, as jsonb::text
 *                                prints them
 *   canon-bench FILE             the rates, median of 5 runs each
 *
 * The documents imitate the shapes of the real export in
 * shared/testdata/octopus-export-2024.4 and the mix of bench/om-gen (many
 * small events, deployments and tasks; fewer large deployment processes and
 * variable sets with long scripts): nested objects, arrays, escapes, and
 * non-ASCII text.  The generator is seeded, so a given MB gives a given file.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>

#include "../format/canon.h"

#define RUNS 5

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("canon-bench: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

/* ---- a tiny document builder: values as strings, objects in jsonb order ---- */

struct str {
	char *p;
	size_t len, cap;
};

static void put(struct str *s, const char *b, size_t n)
{
	if (s->cap - s->len < n + 1) {
		size_t cap = s->cap ? s->cap : 256;
		while (cap - s->len < n + 1)
			cap *= 2;
		if (!(s->p = realloc(s->p, cap)))
			die("out of memory");
		s->cap = cap;
	}
	memcpy(s->p + s->len, b, n);
	s->len += n;
	s->p[s->len] = 0;
}

static void puts_(struct str *s, const char *b)
{
	put(s, b, strlen(b));
}

static void putf(struct str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void putf(struct str *s, const char *fmt, ...)
{
	char b[512];
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	put(s, b, n < (int)sizeof b ? (size_t)n : sizeof b - 1);
}

/* A JSON string as PostgreSQL's escape_json() writes it. */
static char *jstr(const char *v)
{
	struct str s = {0};

	puts_(&s, "\"");
	for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
		switch (*p) {
		case '"': puts_(&s, "\\\""); break;
		case '\\': puts_(&s, "\\\\"); break;
		case '\n': puts_(&s, "\\n"); break;
		case '\r': puts_(&s, "\\r"); break;
		case '\t': puts_(&s, "\\t"); break;
		default:
			if (*p < 0x20)
				putf(&s, "\\u%04x", *p);
			else
				put(&s, (const char *)p, 1);
		}
	}
	puts_(&s, "\"");
	return s.p;
}

static char *jraw(const char *v)
{
	char *p = strdup(v);

	if (!p)
		die("out of memory");
	return p;
}

static char *jint(long long v)
{
	char b[32];

	snprintf(b, sizeof b, "%lld", v);
	return jraw(b);
}

struct obj {
	int n;
	struct {
		const char *k;
		char *v;
	} m[64];
};

static void kv(struct obj *o, const char *k, char *v)
{
	if (o->n == 64)
		die("too many members");
	o->m[o->n].k = k;
	o->m[o->n].v = v;
	o->n++;
}

/* jsonb's order: shorter names first, then bytewise. */
static int jsonb_order(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	size_t m = strlen(x), n = strlen(y);

	return m != n ? (m > n) - (m < n) : strcmp(x, y);
}

static char *obj_end(struct obj *o)
{
	struct str s = {0};

	qsort(o->m, (size_t)o->n, sizeof *o->m, jsonb_order);
	puts_(&s, "{");
	for (int i = 0; i < o->n; i++) {
		char *k = jstr(o->m[i].k);
		putf(&s, "%s%s: ", i ? ", " : "", k);
		puts_(&s, o->m[i].v);
		free(k);
		free(o->m[i].v);
	}
	puts_(&s, "}");
	o->n = 0;
	return s.p;
}

struct arr {
	int n, cap;
	char **v;
};

static void add(struct arr *a, char *v)
{
	if (a->n == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 8;
		if (!(a->v = realloc(a->v, (size_t)a->cap * sizeof *a->v)))
			die("out of memory");
	}
	a->v[a->n++] = v;
}

static char *arr_end(struct arr *a)
{
	struct str s = {0};

	puts_(&s, "[");
	for (int i = 0; i < a->n; i++) {
		if (i)
			puts_(&s, ", ");
		puts_(&s, a->v[i]);
		free(a->v[i]);
	}
	puts_(&s, "]");
	free(a->v);
	a->v = NULL;
	a->n = a->cap = 0;
	return s.p;
}

static char *empty_arr(void)
{
	return jraw("[]");
}

/* ---- the generator ---- */

static uint64_t seed = 42;

static uint32_t rnd(uint32_t n)
{
	seed = seed * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(seed >> 33) % n;
}

static const char *pick(const char *const *v, size_t n)
{
	return v[rnd((uint32_t)n)];
}
#define PICK(v) pick(v, sizeof v / sizeof *v)

static const char *const envs[] = {"Development", "Test", "Staging", "Production",
				   "Zürich DR", "東京 Production"};
static const char *const projects[] = {"Acme Web", "Acme API", "Billing — Ünïcödé",
				       "Payments", "Intranet", "Café Orders", "Mobile 🚀"};
static const char *const roles[] = {"web", "api", "db", "worker", "edge"};
static const char *const users[] = {"admin", "jdoe", "m.müller", "ci-bot", "ops"};
static const char *const script_lines[] = {
	"$ErrorActionPreference = \"Stop\"",
	"Write-Host \"Deploying $($OctopusParameters[\"Octopus.Release.Number\"]) to C:\\Apps\\Web\"",
	"if (Test-Path \"C:\\inetpub\\wwwroot\\app_offline.htm\") {",
	"\tRemove-Item \"C:\\inetpub\\wwwroot\\app_offline.htm\" -Force",
	"}",
	"set -euo pipefail",
	"echo \"Restarting ${SERVICE_NAME} on $(hostname)\"",
	"systemctl restart \"$SERVICE_NAME\" && sleep 2",
	"curl -fsS \"https://status.example.com/api/v1/ping?service=$SERVICE_NAME\" > /dev/null",
	"# Ünïcödé comment: déploiement terminé ✓",
	"for f in /opt/app/config/*.json; do",
	"\tsed -i 's/#{Environment}/'\"$ENV\"'/g' \"$f\"",
	"done",
	"Invoke-Sqlcmd -Query \"UPDATE Settings SET Value = 'x' WHERE Name = 'Mode'\"",
};

static void guid(char out[37])
{
	snprintf(out, 37, "%08x-%04x-%04x-%04x-%04x%08x", rnd(UINT32_MAX), rnd(65536), rnd(65536),
		 rnd(65536), rnd(65536), rnd(UINT32_MAX));
}

static char *jid(const char *prefix, long n)
{
	char b[64];

	snprintf(b, sizeof b, "%s-%ld", prefix, n);
	return jstr(b);
}

static char *jtime(void)
{
	char b[64];

	snprintf(b, sizeof b, "2024-%02u-%02uT%02u:%02u:%02u.%03u+00:00", rnd(12) + 1, rnd(28) + 1,
		 rnd(24), rnd(60), rnd(60), rnd(1000));
	return jstr(b);
}

static char *script(int lines)
{
	struct str s = {0};

	for (int i = 0; i < lines; i++) {
		puts_(&s, PICK(script_lines));
		puts_(&s, "\n");
	}
	char *j = jstr(s.p);
	free(s.p);
	return j;
}

static char *id_list(const char *prefix, int n)
{
	struct arr a = {0};

	for (int i = 0; i < n; i++)
		add(&a, jid(prefix, rnd(100) + 1));
	return arr_end(&a);
}

static char *links(const char *self)
{
	struct obj o = {0};
	char b[128];

	snprintf(b, sizeof b, "/api/Spaces-1/%s", self);
	kv(&o, "Self", jstr(b));
	snprintf(b, sizeof b, "/api/Spaces-1/%s/web", self);
	kv(&o, "Web", jstr(b));
	return obj_end(&o);
}

static char *event(long n)
{
	struct obj o = {0}, r = {0};
	struct arr refs = {0};
	char b[256];
	const char *p = PICK(projects), *e = PICK(envs);

	kv(&o, "Id", jid("Events", n));
	kv(&o, "Category", jstr(rnd(3) ? "DeploymentSucceeded" : "Modified"));
	snprintf(b, sizeof b, "Deploy to %s succeeded for %s release 1.%u.%u to %s", e, p, rnd(20),
		 rnd(100), e);
	kv(&o, "Message", jstr(b));
	snprintf(b, sizeof b, "Deploy to <a href='#/Spaces-1/environments/Environments-%u'>%s</a> "
		 "succeeded for <a href=\"#/projects\">%s</a>", rnd(9), e, p);
	kv(&o, "MessageHtml", jstr(b));
	for (int i = 0; i < 3; i++) {
		kv(&r, "ReferencedDocumentId", jid("Projects", rnd(1000)));
		kv(&r, "StartIndex", jint(rnd(60)));
		kv(&r, "Length", jint(rnd(20) + 3));
		add(&refs, obj_end(&r));
	}
	kv(&o, "MessageReferences", arr_end(&refs));
	kv(&o, "RelatedDocumentIds", id_list("Deployments", 4));
	kv(&o, "Occurred", jtime());
	kv(&o, "UserId", jid("Users", rnd(50)));
	kv(&o, "Username", jstr(PICK(users)));
	kv(&o, "IdentityEstablishedWith", jstr("Session cookie"));
	kv(&o, "UserAgent", jstr("Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"));
	kv(&o, "SpaceId", jstr("Spaces-1"));
	kv(&o, "Comments", jraw("null"));
	kv(&o, "Details", jraw("null"));
	kv(&o, "IsService", jraw("false"));
	kv(&o, "AutoId", jint(n));
	kv(&o, "Links", links("events"));
	return obj_end(&o);
}

static char *deployment(long n)
{
	struct obj o = {0}, ch = {0};
	struct arr changes = {0};
	char b[256];

	kv(&o, "Id", jid("Deployments", n));
	snprintf(b, sizeof b, "Deploy to %s", PICK(envs));
	kv(&o, "Name", jstr(b));
	kv(&o, "ReleaseId", jid("Releases", rnd(100000)));
	kv(&o, "EnvironmentId", jid("Environments", rnd(9)));
	kv(&o, "TenantId", jraw("null"));
	kv(&o, "ForcePackageDownload", jraw("false"));
	kv(&o, "ForcePackageRedeployment", jraw("false"));
	kv(&o, "SkipActions", empty_arr());
	kv(&o, "SpecificMachineIds", empty_arr());
	kv(&o, "ExcludedMachineIds", empty_arr());
	kv(&o, "ManifestVariableSetId", jid("variableset-Deployments", n));
	kv(&o, "TaskId", jid("ServerTasks", n));
	kv(&o, "ProjectId", jid("Projects", rnd(1000)));
	kv(&o, "ChannelId", jid("Channels", rnd(2000)));
	kv(&o, "DeploymentProcessId", jid("deploymentprocess-Projects", rnd(1000)));
	kv(&o, "Created", jtime());
	kv(&o, "QueueTime", jraw("null"));
	kv(&o, "Comments", jstr(rnd(2) ? "" : "Hotfix for the “checkout” bug\nApproved by ops"));
	kv(&o, "FormValues", jraw("{}"));
	snprintf(b, sizeof b, "1.%u.%u", rnd(20), rnd(100));
	kv(&ch, "Version", jstr(b));
	kv(&ch, "ReleaseNotes", jstr("- Fixed login\n- Faster \"search\"\n- Übersetzungen"));
	kv(&ch, "WorkItems", empty_arr());
	kv(&ch, "Commits", empty_arr());
	kv(&ch, "BuildInformation", empty_arr());
	add(&changes, obj_end(&ch));
	kv(&o, "Changes", arr_end(&changes));
	kv(&o, "ChangesMarkdown", jstr("## 1.2.3\n- Fixed login\n- Faster \"search\"\n"));
	kv(&o, "SpaceId", jstr("Spaces-1"));
	kv(&o, "Links", links("deployments"));
	return obj_end(&o);
}

static char *servertask(long n)
{
	struct obj o = {0}, a = {0};
	char b[256];

	kv(&o, "Id", jid("ServerTasks", n));
	kv(&o, "Name", jstr("Deploy"));
	snprintf(b, sizeof b, "Deploy %s release 1.%u.%u to %s", PICK(projects), rnd(20),
		 rnd(100), PICK(envs));
	kv(&o, "Description", jstr(b));
	kv(&a, "DeploymentId", jid("Deployments", n));
	kv(&a, "IsDryRun", jraw("false"));
	kv(&o, "Arguments", obj_end(&a));
	kv(&o, "State", jstr(rnd(10) ? "Success" : "Failed"));
	kv(&o, "Completed", jstr("Tuesday, 12 March 2024 14:03:07 +00:00"));
	kv(&o, "QueueTime", jtime());
	kv(&o, "StartTime", jtime());
	kv(&o, "LastUpdatedTime", jtime());
	kv(&o, "CompletedTime", jtime());
	kv(&o, "ServerNode", jstr("OCTOPUS-01"));
	kv(&o, "Duration", jstr("1 minute"));
	kv(&o, "ErrorMessage", jstr(rnd(10) ? "" : "The step failed: Exit code \"1\"\n\tat C:\\Octopus\\Work"));
	kv(&o, "HasBeenPickedUpByProcessor", jraw("true"));
	kv(&o, "IsCompleted", jraw("true"));
	kv(&o, "FinishedSuccessfully", jraw("true"));
	kv(&o, "HasPendingInterruptions", jraw("false"));
	kv(&o, "CanRerun", jraw("false"));
	kv(&o, "HasWarningsOrErrors", jraw("false"));
	kv(&o, "SpaceId", jstr("Spaces-1"));
	kv(&o, "Links", links("tasks"));
	return obj_end(&o);
}

static char *release(long n)
{
	struct obj o = {0}, p = {0};
	struct arr pk = {0};
	char b[256];

	kv(&o, "Id", jid("Releases", n));
	snprintf(b, sizeof b, "1.%u.%u", rnd(20), rnd(100));
	kv(&o, "Version", jstr(b));
	kv(&o, "ProjectId", jid("Projects", rnd(1000)));
	kv(&o, "ChannelId", jid("Channels", rnd(2000)));
	kv(&o, "ReleaseNotes", jstr("Release notes:\n\t• Faster start-up\n\t• Fixed \"null\" crash\n"));
	for (int i = rnd(4); i >= 0; i--) {
		snprintf(b, sizeof b, "Deploy package %d", i);
		kv(&p, "ActionName", jstr(b));
		kv(&p, "PackageReferenceName", jstr(""));
		snprintf(b, sizeof b, "2024.%u.%u", rnd(12), rnd(500));
		kv(&p, "Version", jstr(b));
		add(&pk, obj_end(&p));
	}
	kv(&o, "SelectedPackages", arr_end(&pk));
	kv(&o, "BuildInformation", empty_arr());
	kv(&o, "Assembled", jtime());
	kv(&o, "ProjectDeploymentProcessSnapshotId", jid("deploymentprocess-Projects-1-s", n));
	kv(&o, "ProjectVariableSetSnapshotId", jid("variableset-Projects-1-s", n));
	kv(&o, "LibraryVariableSetSnapshotIds", id_list("variableset-LibraryVariableSets", 2));
	kv(&o, "IgnoreChannelRules", jraw("false"));
	kv(&o, "SpaceId", jstr("Spaces-1"));
	kv(&o, "Links", links("releases"));
	return obj_end(&o);
}

static char *deploymentprocess(long n)
{
	struct obj o = {0}, st = {0}, ac = {0}, pr = {0}, sp = {0}, c = {0};
	struct arr steps = {0}, acts = {0};
	char b[256], g[37];

	kv(&o, "Id", jid("deploymentprocess-Projects", n));
	kv(&o, "OwnerId", jid("Projects", n));
	kv(&o, "ProjectId", jid("Projects", n));
	kv(&o, "Version", jint(rnd(40)));
	kv(&o, "LastSnapshotId", jid("deploymentprocess-Projects-s", n));
	kv(&o, "SpaceId", jstr("Spaces-1"));
	for (int i = 0, ns = 3 + rnd(8); i < ns; i++) {
		guid(g);
		kv(&st, "Id", jstr(g));
		snprintf(b, sizeof b, "Step %d: deploy %s", i + 1, PICK(projects));
		kv(&st, "Name", jstr(b));
		kv(&st, "PackageRequirement", jstr("LetOctopusDecide"));
		kv(&sp, "Octopus.Action.TargetRoles", jstr(PICK(roles)));
		kv(&st, "Properties", obj_end(&sp));
		kv(&st, "Condition", jstr("Success"));
		kv(&st, "StartTrigger", jstr("StartAfterPrevious"));
		guid(g);
		kv(&ac, "Id", jstr(g));
		kv(&ac, "Name", jstr(b));
		kv(&ac, "ActionType", jstr("Octopus.Script"));
		kv(&ac, "IsDisabled", jraw("false"));
		kv(&ac, "IsRequired", jraw("false"));
		kv(&ac, "CanBeUsedForProjectVersioning", jraw("false"));
		kv(&ac, "WorkerPoolId", jraw("null"));
		kv(&c, "Image", jraw("null"));
		kv(&c, "FeedId", jraw("null"));
		kv(&ac, "Container", obj_end(&c));
		kv(&ac, "Environments", id_list("Environments", (int)rnd(3)));
		kv(&ac, "ExcludedEnvironments", empty_arr());
		kv(&ac, "Channels", empty_arr());
		kv(&ac, "TenantTags", empty_arr());
		kv(&ac, "Packages", empty_arr());
		kv(&ac, "Condition", jstr("Success"));
		kv(&pr, "Octopus.Action.Script.ScriptBody", script(10 + (int)rnd(120)));
		kv(&pr, "Octopus.Action.Script.Syntax", jstr(rnd(2) ? "PowerShell" : "Bash"));
		kv(&pr, "Octopus.Action.Script.ScriptSource", jstr("Inline"));
		kv(&pr, "Octopus.Action.RunOnServer", jstr("true"));
		kv(&ac, "Properties", obj_end(&pr));
		kv(&ac, "Links", jraw("{}"));
		add(&acts, obj_end(&ac));
		kv(&st, "Actions", arr_end(&acts));
		add(&steps, obj_end(&st));
	}
	kv(&o, "Steps", arr_end(&steps));
	kv(&o, "Links", links("deploymentprocesses"));
	return obj_end(&o);
}

static char *variableset(long n)
{
	struct obj o = {0}, v = {0}, sc = {0}, sv = {0}, e = {0};
	struct arr vars = {0}, ev = {0};
	char b[256], g[37];

	kv(&o, "Id", jid("variableset-Projects", n));
	kv(&o, "OwnerId", jid("Projects", n));
	kv(&o, "Version", jint(rnd(100)));
	for (int i = 0, nv = 10 + rnd(60); i < nv; i++) {
		int sensitive = rnd(8) == 0;
		guid(g);
		kv(&v, "Id", jstr(g));
		snprintf(b, sizeof b, "App.Setting%d.%s", i, PICK(roles));
		kv(&v, "Name", jstr(b));
		if (sensitive)
			snprintf(b, sizeof b, "om:sealed:v1:%08x%08x%08x", rnd(UINT32_MAX),
				 rnd(UINT32_MAX), rnd(UINT32_MAX));
		else
			snprintf(b, sizeof b, "Server=db%u;Database=%s;Trusted_Connection=True", rnd(9),
				 PICK(projects));
		kv(&v, "Value", jstr(b));
		kv(&v, "Description", rnd(4) ? jraw("null") : jstr("Set by “ops” — do not edit"));
		kv(&sc, "Environment", id_list("Environments", 1 + (int)rnd(3)));
		if (rnd(2))
			kv(&sc, "Role", id_list("web", 1));
		kv(&v, "Scope", obj_end(&sc));
		kv(&v, "IsEditable", jraw("true"));
		kv(&v, "Prompt", jraw("null"));
		kv(&v, "Type", jstr(sensitive ? "Sensitive" : "String"));
		kv(&v, "IsSensitive", jraw(sensitive ? "true" : "false"));
		add(&vars, obj_end(&v));
	}
	kv(&o, "Variables", arr_end(&vars));
	for (int i = 1; i <= 4; i++) {
		kv(&e, "Id", jid("Environments", i));
		kv(&e, "Name", jstr(envs[i]));
		add(&ev, obj_end(&e));
	}
	kv(&sv, "Environments", arr_end(&ev));
	kv(&sv, "Machines", empty_arr());
	kv(&sv, "Actions", empty_arr());
	kv(&sv, "Roles", empty_arr());
	kv(&sv, "Channels", empty_arr());
	kv(&sv, "TenantTags", empty_arr());
	kv(&sv, "Processes", empty_arr());
	kv(&o, "ScopeValues", obj_end(&sv));
	kv(&o, "SpaceId", jstr("Spaces-1"));
	kv(&o, "Links", links("variables"));
	return obj_end(&o);
}

static char *project(long n)
{
	struct obj o = {0}, t = {0}, dv = {0}, ds = {0};
	struct arr tp = {0};
	char b[256], g[37];

	kv(&o, "Id", jid("Projects", n));
	snprintf(b, sizeof b, "%s %ld", PICK(projects), n);
	kv(&o, "Name", jstr(b));
	snprintf(b, sizeof b, "acme-web-%ld", n);
	kv(&o, "Slug", jstr(b));
	kv(&o, "Description", jstr("The web shop.\nOwner: Jürgen Größ <ops@example.com>\n"));
	kv(&o, "IsDisabled", jraw("false"));
	kv(&o, "VariableSetId", jid("variableset-Projects", n));
	kv(&o, "DeploymentProcessId", jid("deploymentprocess-Projects", n));
	kv(&o, "ProjectGroupId", jid("ProjectGroups", 1));
	kv(&o, "LifecycleId", jid("Lifecycles", 1));
	kv(&o, "IncludedLibraryVariableSetIds", id_list("LibraryVariableSets", 2));
	kv(&o, "DiscreteChannelRelease", jraw("false"));
	kv(&o, "DefaultToSkipIfAlreadyInstalled", jraw("false"));
	kv(&o, "TenantedDeploymentMode", jstr("TenantedOrUntenanted"));
	kv(&o, "DefaultGuidedFailureMode", jstr("EnvironmentDefault"));
	for (int i = 0; i < 3; i++) {
		guid(g);
		kv(&t, "Id", jstr(g));
		snprintf(b, sizeof b, "Tenant.Setting%d", i);
		kv(&t, "Name", jstr(b));
		kv(&t, "Label", jstr("A setting"));
		kv(&t, "HelpText", jraw("null"));
		if (i == 2) {
			kv(&ds, "SensitiveValue", jstr("om:sealed:v1:3f9a0c1d77e2"));
			kv(&t, "DefaultValue", obj_end(&ds));
		} else {
			kv(&t, "DefaultValue", jstr("default"));
		}
		kv(&dv, "Octopus.ControlType", jstr(i == 2 ? "Sensitive" : "SingleLineText"));
		kv(&t, "DisplaySettings", obj_end(&dv));
		add(&tp, obj_end(&t));
	}
	kv(&o, "Templates", arr_end(&tp));
	kv(&o, "AutoCreateRelease", jraw("false"));
	kv(&o, "SpaceId", jstr("Spaces-1"));
	kv(&o, "Links", links("projects"));
	return obj_end(&o);
}

static void make(const char *path, double mb)
{
	FILE *f = fopen(path, "wb");
	size_t want = (size_t)(mb * 1e6), total = 0;
	long n = 0;

	if (!f)
		die("cannot create '%s'", path);
	while (total < want) {
		/* About om-gen's mix: by count mostly history, by bytes a good
		 * share of processes and variable sets. */
		uint32_t r = rnd(1000);
		char *d = r < 350 ? event(n) : r < 600 ? deployment(n) : r < 850 ? servertask(n)
			: r < 940 ? release(n) : r < 955 ? deploymentprocess(n)
			: r < 970 ? variableset(n) : project(n);
		size_t len = strlen(d);
		if (fwrite(d, 1, len, f) != len || fputc('\n', f) == EOF)
			die("cannot write '%s'", path);
		total += len + 1;
		free(d);
		n++;
	}
	if (fclose(f) != 0)
		die("cannot write '%s'", path);
	printf("%s: %ld documents, %.1f MB\n", path, n, (double)total / 1e6);
}

/* ---- measuring ---- */

struct doc {
	const char *p;
	size_t len;
};

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static size_t sink;	/* output sizes, so that no work is optimised away */

static void run_om(const struct doc *d, size_t n, int write)
{
	static struct om_canon *c;
	static struct om_buf out;
	struct om_err err;

	if (!c && !(c = om_canon_new(&err)))
		die("%s", err.msg);
	for (size_t i = 0; i < n; i++) {
		if (om_canon_parse(c, d[i].p, d[i].len, &err) < 0)
			die("document %zu: %s", i + 1, err.msg);
		if (write) {
			out.len = 0;
			if (om_canon_write(c, &out, &err) < 0)
				die("%s", err.msg);
			sink += out.len;
		}
	}
}

static void run_om_parse(const struct doc *d, size_t n)
{
	run_om(d, n, 0);
}

static void run_om_write(const struct doc *d, size_t n)
{
	run_om(d, n, 1);
}

static void run_jansson(const struct doc *d, size_t n)
{
	json_error_t e;

	for (size_t i = 0; i < n; i++) {
		json_t *j = json_loadb(d[i].p, d[i].len, 0, &e);
		if (!j)
			die("jansson: document %zu: %s", i + 1, e.text);
		char *s = json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2));
		if (!s)
			die("jansson: out of memory");
		sink += strlen(s);
		free(s);
		json_decref(j);
	}
}

static int y_null(void *ctx) { ++*(size_t *)ctx; return 1; }
static int y_bool(void *ctx, int b) { (void)b; ++*(size_t *)ctx; return 1; }
static int y_num(void *ctx, const char *s, size_t l) { (void)s; *(size_t *)ctx += l; return 1; }
static int y_str(void *ctx, const unsigned char *s, size_t l) { (void)s; *(size_t *)ctx += l; return 1; }
static int y_open(void *ctx) { ++*(size_t *)ctx; return 1; }

static void run_yajl(const struct doc *d, size_t n)
{
	/* Numbers as text (yajl_number), as om keeps them: no conversion. */
	static const yajl_callbacks cb = {
		y_null, y_bool, NULL, NULL, y_num, y_str, y_open, y_str, y_open, y_open, y_open};

	for (size_t i = 0; i < n; i++) {
		yajl_handle h = yajl_alloc(&cb, NULL, &sink);
		if (!h)
			die("yajl: out of memory");
		if (yajl_parse(h, (const unsigned char *)d[i].p, d[i].len) != yajl_status_ok ||
		    yajl_complete_parse(h) != yajl_status_ok)
			die("yajl: document %zu does not parse", i + 1);
		yajl_free(h);
	}
}

/* Check om_canon's output against jansson's: the same bytes but for om's
 * final newline (true of these documents, whose numbers are integers). */
static void cross_check(const struct doc *d, size_t n)
{
	struct om_canon *c = om_canon_new(NULL);
	struct om_buf out = {0};
	size_t same = 0, total = 0;

	if (!c)
		die("out of memory");
	for (size_t i = 0; i < n; i++) {
		json_t *j = json_loadb(d[i].p, d[i].len, 0, NULL);
		char *s = j ? json_dumps(j, JSON_SORT_KEYS | JSON_INDENT(2)) : NULL;
		out.len = 0;
		if (s && om_canon_parse(c, d[i].p, d[i].len, NULL) == 0 &&
		    om_canon_write(c, &out, NULL) == 0 && out.len == strlen(s) + 1 &&
		    memcmp(out.p, s, out.len - 1) == 0)
			same++;
		total += out.len;
		free(s);
		json_decref(j);
	}
	printf("canonical text: %.1f MB; om_canon's equals jansson's (plus a final newline) "
	       "for %zu of %zu documents\n", (double)total / 1e6, same, n);
	om_canon_free(c);
	om_buf_release(&out);
	if (same != n)
		exit(1);
}

static void measure(const char *name, void (*fn)(const struct doc *, size_t),
		    const struct doc *d, size_t n, size_t bytes)
{
	double t[RUNS];

	fn(d, n);	/* warm up: caches, page faults, the context's buffers */
	for (int r = 0; r < RUNS; r++) {
		double t0 = now();
		fn(d, n);
		t[r] = now() - t0;
	}
	qsort(t, RUNS, sizeof *t, by_value);
	printf("%-44s %8.3f s  %7.1f MB/s  (runs %.3f .. %.3f s)\n", name, t[RUNS / 2],
	       (double)bytes / 1e6 / t[RUNS / 2], t[0], t[RUNS - 1]);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "--make") == 0) {
		make(argv[2], atof(argv[3]));
		return 0;
	}
	if (argc != 2 || argv[1][0] == '-') {
		fprintf(stderr, "usage: canon-bench --make FILE MB\n       canon-bench FILE\n");
		return 2;
	}
	FILE *f = fopen(argv[1], "rb");
	if (!f)
		die("cannot open '%s'", argv[1]);
	fseek(f, 0, SEEK_END);
	long size = ftell(f);
	rewind(f);
	char *text = malloc((size_t)size + 1);
	if (!text || fread(text, 1, (size_t)size, f) != (size_t)size)
		die("cannot read '%s'", argv[1]);
	fclose(f);

	struct doc *d = NULL;
	size_t n = 0, cap = 0, bytes = 0;
	for (char *p = text, *end = text + size; p < end;) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (n == cap && !(d = realloc(d, (cap = cap ? 2 * cap : 4096) * sizeof *d)))
			die("out of memory");
		d[n].p = p;
		d[n].len = (size_t)(nl - p);
		bytes += d[n].len;
		n++;
		p = nl + 1;
	}
	printf("%s: %zu documents, %.1f MB of JSON (newlines not counted); median of %d runs\n",
	       argv[1], n, (double)bytes / 1e6, RUNS);
	cross_check(d, n);
	measure("om_canon: parse + canonical write", run_om_write, d, n, bytes);
	measure("om_canon: parse only", run_om_parse, d, n, bytes);
	measure("jansson: json_loadb + json_dumps sorted", run_jansson, d, n, bytes);
	measure("yajl: parse only (callbacks)", run_yajl, d, n, bytes);
	free(d);
	free(text);
	return 0;
}
