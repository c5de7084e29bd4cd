/*
 * om-gen - fill an empty om store with a large synthetic instance, for the
 * benchmarks (bench/README.md, docs/performance.md).
 *
 *   om-gen --db CONNINFO --master-key-file FILE --projects N [--seed S] [--history K]
 *
 * The instance looks like a busy Octopus server: spaces of 500 projects, each
 * space with its environments, lifecycles, project groups, feeds, accounts,
 * worker pools, targets, tag sets, tenants, a step template and library
 * variable sets; each project with its deployment process (scripts of 1-3 KB),
 * settings, variables (scoped, typed, sensitive), two channels and K history
 * documents (releases, deployments, server tasks, events).  Every reference
 * resolves and every secret is sealed under the store's master key, so that
 * `om-store check` finds nothing to report.
 *
 * Loading is one COPY per table in one transaction.  To stream without
 * remembering what earlier tables held, every document is a pure function of
 * the seed and its position: the deployments pass recomputes each project's
 * release plan instead of keeping it, and Ids are numbered in the same order
 * in every pass.  So memory stays flat whatever N is, and two runs with the
 * same seed give the same documents except for the random nonces of sealed
 * secrets.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "../format/model.h"
#include "../format/seal.h"
#include "../format/store.h"
#include "../tools/common.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* Sizes of the instance.  A project with the default history is 100
 * documents: 6 of configuration (project, process, settings, variables, two
 * channels) and 94 of history, so 1,000 projects make about 100,000. */
#define PER_SPACE 500
#define DEFAULT_HISTORY 94
#define NUSERS 12
#define NLIFECYCLES 3  /* Default, Fast track, Hotfix */
#define NFEEDS 4       /* built-in, nuget.org, Docker Hub, private NuGet */
#define NACCOUNTS 5    /* one of each type the steps and variables use */
#define NWORKERPOOLS 2
#define NTAGSETS 3
#define NTAGS 9        /* 4 regions, 3 tiers, 2 hostings */
#define NLVS 2         /* library variable sets */
#define MACHINES_PER_ENV 2
#define MAXSTEPS 8
#define MAXENV 8

/* History starts on 2023-01-01T00:00:00Z; configuration was last modified
 * the year before. */
#define T0 1672531200LL
#define T_CONFIG (T0 - 200LL * 86400)

/* Send to the server in pieces of about this size. */
#define FLUSH_AT (256 * 1024)

/* ---- deterministic randomness ---- */

/* splitmix64: tiny, fast, and good enough to pick names and shapes. */
static uint64_t mix64(uint64_t z)
{
	z += 0x9e3779b97f4a7c15ULL;
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

struct rng {
	uint64_t s;
};

static uint64_t rng_next(struct rng *r)
{
	r->s += 0x9e3779b97f4a7c15ULL;
	return mix64(r->s);
}

/* Uniform in [0, n) without a division (Lemire). */
static unsigned rng_below(struct rng *r, unsigned n)
{
	return (unsigned)(((rng_next(r) >> 32) * n) >> 32);
}

/* One independent stream per purpose and position, so that a pass can
 * recompute any document without replaying the ones before it. */
enum stream {
	S_SPACE = 1, S_PROJECT, S_STEP, S_STEP_ID, S_ACTION_ID, S_VARS, S_LVS_VARS,
	S_HISTORY, S_TENANT, S_PHASE, S_MISC,
};

/* ---- output: JSON written straight in COPY's text format ---- */

/*
 * Documents are written compact, one per line, as COPY text rows.  Compact
 * JSON has no raw tabs or newlines (it escapes control characters), so the
 * only COPY escape needed is doubling each backslash, which put_esc does while
 * it writes the JSON escapes.  A small stack of "first member" flags places
 * the commas, so the document builders read like the documents.
 */
struct out {
	PGconn *conn;
	char *buf;
	size_t len, cap;
	int depth;
	int after_key;
	unsigned char first[32];
	long rows;
	long long json_bytes; /* the documents' JSON, without COPY's escapes */
	size_t extra;          /* COPY escapes in buf, to subtract */
};

static void out_grow(struct out *o, size_t need)
{
	size_t cap = o->cap ? o->cap : FLUSH_AT * 2;
	char *b;

	while (cap - o->len < need)
		cap *= 2;
	if (!(b = realloc(o->buf, cap)))
		om_die(2, "out of memory");
	o->buf = b;
	o->cap = cap;
}

static inline void out_mem(struct out *o, const char *s, size_t n)
{
	if (o->cap - o->len < n)
		out_grow(o, n);
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

static inline void out_c(struct out *o, char c)
{
	if (o->cap == o->len)
		out_grow(o, 1);
	o->buf[o->len++] = c;
}

#define OUT_LIT(o, s) out_mem((o), (s), sizeof(s) - 1)

static void out_u(struct out *o, unsigned long long v)
{
	char b[24];
	int i = sizeof b;

	do
		b[--i] = (char)('0' + v % 10);
	while (v /= 10);
	out_mem(o, b + i, sizeof b - (size_t)i);
}

/* The server's message on one line (libpq's spans several). */
static const char *pg_msg(PGconn *conn)
{
	static char msg[512];
	size_t n;

	snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
	for (n = 0; msg[n]; n++)
		if (msg[n] == '\n' || msg[n] == '\r' || msg[n] == '\t')
			msg[n] = ' ';
	while (n && msg[n - 1] == ' ')
		msg[--n] = 0;
	return n ? msg : "unknown database error";
}

static void out_flush(struct out *o)
{
	if (!o->len)
		return;
	if (PQputCopyData(o->conn, o->buf, (int)o->len) != 1)
		om_die(2, "cannot send documents: %s", pg_msg(o->conn));
	o->json_bytes += (long long)(o->len - o->extra);
	o->len = 0;
	o->extra = 0;
}

/* A JSON string, escaped for JSON and then for COPY. */
static void put_esc(struct out *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	/* Worst case: a control character is \\u00XX, 7 bytes. */
	if (o->cap - o->len < 7 * n + 2)
		out_grow(o, 7 * n + 2);
	char *d = o->buf + o->len;
	*d++ = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			*d++ = (char)c;
			continue;
		}
		*d++ = '\\';
		*d++ = '\\'; /* COPY's escape of JSON's backslash */
		o->extra++;
		switch (c) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; *d++ = '\\'; o->extra++; break;
		case '\n': *d++ = 'n'; break;
		case '\t': *d++ = 't'; break;
		case '\r': *d++ = 'r'; break;
		default:
			*d++ = 'u'; *d++ = '0'; *d++ = '0';
			*d++ = hex[c >> 4]; *d++ = hex[c & 15];
		}
	}
	*d++ = '"';
	o->len = (size_t)(d - o->buf);
}

/* Before a value or a key: the comma, unless first or after a key. */
static inline void sep(struct out *o)
{
	if (o->after_key)
		o->after_key = 0;
	else if (o->first[o->depth])
		o->first[o->depth] = 0;
	else
		out_c(o, ',');
}

static void open_(struct out *o, char c)
{
	sep(o);
	out_c(o, c);
	if (++o->depth >= (int)sizeof o->first)
		om_die(2, "internal error: documents nest too deep");
	o->first[o->depth] = 1;
}

static void close_(struct out *o, char c)
{
	o->depth--;
	out_c(o, c);
}

static void jo(struct out *o) { open_(o, '{'); }
static void je(struct out *o) { close_(o, '}'); }
static void ja(struct out *o) { open_(o, '['); }
static void jz(struct out *o) { close_(o, ']'); }

static void jk(struct out *o, const char *key)
{
	sep(o);
	out_c(o, '"');
	out_mem(o, key, strlen(key));
	OUT_LIT(o, "\":");
	o->after_key = 1;
}

static void js(struct out *o, const char *s)
{
	sep(o);
	put_esc(o, s, strlen(s));
}

/* An Id: prefix and number, which need no escaping. */
static void jid(struct out *o, const char *prefix, long n)
{
	sep(o);
	out_c(o, '"');
	out_mem(o, prefix, strlen(prefix));
	out_u(o, (unsigned long long)n);
	out_c(o, '"');
}

static void ji(struct out *o, long long v)
{
	sep(o);
	if (v < 0) {
		out_c(o, '-');
		out_u(o, (unsigned long long)-v);
	} else {
		out_u(o, (unsigned long long)v);
	}
}

static void jraw(struct out *o, const char *json)
{
	sep(o);
	out_mem(o, json, strlen(json));
}

static void jsf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void jsf(struct out *o, const char *fmt, ...)
{
	char b[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b, sizeof b, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof b)
		om_die(2, "internal error: a generated string is too long");
	sep(o);
	put_esc(o, b, (size_t)n);
}

/* A timestamp in Octopus's form, "2023-01-01T00:00:00.0000000+00:00".
 * Written by hand (days to civil date, H. Hinnant's algorithm): gmtime for
 * millions of stamps is slower and depends on nothing we need. */
static void jtime(struct out *o, long long t)
{
	long long days = t / 86400, sec = t % 86400;
	long long z = days + 719468, era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long long y = (long long)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1, m = mp < 10 ? mp + 3 : mp - 9;
	char b[80];

	/* Stamps are after 1970: the fields are small and positive.  The
	 * fraction is made up, for the shape of Octopus's 7-digit stamps. */
	y += m <= 2;
	snprintf(b, sizeof b, "\"%04u-%02u-%02uT%02u:%02u:%02u.%07u+00:00\"", (unsigned)y % 10000, m,
		 d, (unsigned)(sec / 3600), (unsigned)(sec / 60 % 60), (unsigned)(sec % 60),
		 (unsigned)((unsigned long long)t * 7919 % 10000000));
	sep(o);
	out_mem(o, b, strlen(b));
}

static void jb(struct out *o, int b) { jraw(o, b ? "true" : "false"); }
static void jn(struct out *o) { jraw(o, "null"); }

/* Key and value together. */
static void ks(struct out *o, const char *k, const char *s) { jk(o, k); js(o, s); }
static void kid(struct out *o, const char *k, const char *p, long n) { jk(o, k); jid(o, p, n); }
static void ki(struct out *o, const char *k, long long v) { jk(o, k); ji(o, v); }
static void kb(struct out *o, const char *k, int b) { jk(o, k); jb(o, b); }
static void kn(struct out *o, const char *k) { jk(o, k); jn(o); }
static void kraw(struct out *o, const char *k, const char *json) { jk(o, k); jraw(o, json); }
static void kt(struct out *o, const char *k, long long t) { jk(o, k); jtime(o, t); }

#define ksf(o, k, ...) (jk((o), (k)), jsf((o), __VA_ARGS__))

/* The end of a document: the row's newline, and a flush now and then. */
static void row_end(struct out *o)
{
	if (o->depth != 0)
		om_die(2, "internal error: unbalanced document");
	out_c(o, '\n');
	o->extra++;
	o->first[0] = 1;
	o->rows++;
	if (o->len >= FLUSH_AT)
		out_flush(o);
}

/* ---- the instance ---- */

struct space {
	long first, n;  /* its projects, 0-based: first .. first + n - 1 */
	int nenv;
	long env0;      /* Environments-(env0 + 1) is its first environment */
	long machine0;
	long pg0;
	int npg;
	long tenant0;
	int ntenant;
};

/* The history of one release: on which channel, how many of its
 * environments it reached, and which deployments failed. */
struct rel {
	unsigned char hotfix, ndep, failed;
};

struct gen {
	uint64_t seed;
	long nprojects, nspaces;
	int history;
	struct space *spaces;
	struct om_key *key;
	PGconn *conn;
	struct out out;
	struct rel *plan; /* one project's releases, reused for every project */
	long events;      /* the last Events-N written */
	long sealed;
};

enum step_type { T_PACKAGE, T_SCRIPT, T_MANUAL, T_AWS, T_AZURE, T_CONTAINER, T_TEMPLATE };

static const struct {
	const char *label, *action_type;
	unsigned weight;
} step_types[] = {
	[T_PACKAGE] = {"Deploy package", "Octopus.TentaclePackage", 20},
	[T_SCRIPT] = {"Run script", "Octopus.Script", 35},
	[T_MANUAL] = {"Approve release", "Octopus.Manual", 8},
	[T_AWS] = {"Run AWS CLI script", "Octopus.AwsRunScript", 10},
	[T_AZURE] = {"Run Azure PowerShell", "Octopus.AzurePowerShell", 10},
	[T_CONTAINER] = {"Run in container", "Octopus.Script", 10},
	[T_TEMPLATE] = {"Notify Slack", "Octopus.Script", 7},
};

struct proj {
	long p;   /* 0-based: Projects-(p + 1) */
	long s;   /* its space, 0-based */
	const struct space *sp;
	long local; /* its index in the space */
	char name[64], slug[64];
	int fast;     /* lifecycle "Fast track" instead of the default */
	int tenanted;
	unsigned lvs; /* bit i: includes the space's library variable set i */
	int nsteps;
	unsigned char step[MAXSTEPS];
};

static const char *const areas[] = {
	"Payments", "Billing", "Checkout", "Catalog", "Search", "Identity", "Inventory",
	"Shipping", "Orders", "Reporting", "Notifications", "Pricing", "Loyalty", "Accounts",
	"Ledger", "Analytics", "Onboarding", "Support", "Scheduling", "Documents"};
static const char *const parts[] = {
	"API", "Web", "Worker", "Gateway", "Service", "Portal", "Sync", "Importer",
	"Scheduler", "Database", "Frontend", "Backend"};
/* Some tenants have names outside ASCII, as real customers do. */
static const char *const companies[] = {
	"Acme Corp", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries",
	"Wayne Enterprises", "Z\u00fcrich Versicherung", "Soci\u00e9t\u00e9 G\u00e9n\u00e9rale",
	"Nakatomi", "Tyrell", "Cyberdyne", "Wonka", "M\u00fcller & S\u00f6hne", "Vandelay",
	"\u6771\u4eac Trading"};
static const char *const env_names[] = {
	"Development", "Test", "QA", "Staging", "UAT", "Performance", "Pre-production"};
static const struct {
	const char *set, *tags[4];
	int ntags;
} tagsets[NTAGSETS] = {
	{"Region", {"Europe", "North America", "Asia Pacific", "Z\u00fcrich"}, 4},
	{"Tier", {"Gold", "Silver", "Bronze"}, 3},
	{"Hosting", {"Shared", "Dedicated"}, 2},
};

/* Ids of the fixed per-space documents. */
static long id_lifecycle(long s, int i) { return s * NLIFECYCLES + i + 1; }
static long id_feed(long s, int i) { return s * NFEEDS + i + 1; }
static long id_account(long s, int i) { return s * NACCOUNTS + i + 1; }
static long id_workerpool(long s, int i) { return s * NWORKERPOOLS + i + 1; }
static long id_tagset(long s, int i) { return s * NTAGSETS + i + 1; }
static long id_lvs(long s, int i) { return s * NLVS + i + 1; }

enum { LC_DEFAULT, LC_FAST, LC_HOTFIX };
enum { FEED_BUILTIN, FEED_NUGET, FEED_DOCKER, FEED_PRIVATE };
enum { ACC_USERPASS, ACC_AWS, ACC_AZURE, ACC_TOKEN, ACC_SSH };

/* A tenant tag "TagSets-N/Tags-M": tag i of set `set` in space s. */
static void tag_ref(char *b, size_t n, long s, int set, int i)
{
	int off = 0;

	for (int k = 0; k < set; k++)
		off += tagsets[k].ntags;
	snprintf(b, n, "TagSets-%ld/Tags-%ld", id_tagset(s, set), s * NTAGS + off + i + 1);
}

static void jtag(struct out *o, long s, int set, int i)
{
	char b[64];

	tag_ref(b, sizeof b, s, set, i);
	js(o, b);
}

static void slugify(char *d, size_t n, const char *s)
{
	size_t i = 0;

	for (; *s && i + 1 < n; s++) {
		unsigned char c = (unsigned char)*s;
		if (c >= 'A' && c <= 'Z')
			d[i++] = (char)(c - 'A' + 'a');
		else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))
			d[i++] = (char)c;
		else if (i && d[i - 1] != '-')
			d[i++] = '-';
	}
	d[i] = 0;
}

static void guid(struct rng *r, char out[37])
{
	static const char hex[] = "0123456789abcdef";
	uint64_t a = rng_next(r), b = rng_next(r);
	int k = 0;

	for (int i = 0; i < 32; i++) {
		uint64_t w = i < 16 ? a : b;
		if (i == 8 || i == 12 || i == 16 || i == 20)
			out[k++] = '-';
		out[k++] = hex[(w >> ((i % 16) * 4)) & 15];
	}
	out[k] = 0;
}

static struct rng rng_for(const struct gen *g, enum stream st, uint64_t a, uint64_t b)
{
	struct rng r = {mix64(g->seed ^ mix64((uint64_t)st * 0x100000001b3ULL ^ mix64(a * 31 + b)))};
	return r;
}

static void guid_for(const struct gen *g, enum stream st, uint64_t a, uint64_t b, char out[37])
{
	struct rng r = rng_for(g, st, a, b);
	guid(&r, out);
}

/* Octopus's DataVersion: a row version, base64 of 8 bytes. */
static void kdataversion(struct out *o, uint64_t v)
{
	static const char b64[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	unsigned char in[9] = {0};
	char b[13];

	for (int i = 0; i < 8; i++)
		in[i] = (unsigned char)(v >> (56 - 8 * i));
	for (int i = 0; i < 3; i++) {
		unsigned w = (unsigned)in[3 * i] << 16 | (unsigned)in[3 * i + 1] << 8 | in[3 * i + 2];
		b[4 * i] = b64[w >> 18];
		b[4 * i + 1] = b64[(w >> 12) & 63];
		b[4 * i + 2] = b64[(w >> 6) & 63];
		b[4 * i + 3] = b64[w & 63];
	}
	b[11] = '=';
	b[12] = 0;
	ks(o, "DataVersion", b);
}

/* The volatile tail of configuration documents. */
static void kmodified(struct out *o, long long t, uint64_t v)
{
	kt(o, "LastModified", t);
	kdataversion(o, v);
}

/* A sealed copy of clear, as a JSON string. */
static void jsealed(struct gen *g, const char *clear)
{
	struct om_err err;
	char *tok = om_seal(g->key, clear, strlen(clear), &err);

	if (!tok)
		om_die(2, "cannot seal a secret: %s", err.msg);
	js(&g->out, tok);
	free(tok);
	g->sealed++;
}

/* {"SensitiveValue": sealed}, Octopus's form for secrets in property bags. */
static void jsensitive(struct gen *g, const char *clear)
{
	jo(&g->out);
	jk(&g->out, "SensitiveValue");
	jsealed(g, clear);
	je(&g->out);
}

static void ksealed(struct gen *g, const char *k, const char *clear)
{
	jk(&g->out, k);
	jsealed(g, clear);
}

/* A made-up clear secret. */
static void secret_text(struct rng *r, char *b, size_t n, const char *what)
{
	snprintf(b, n, "%s-%016" PRIx64 "%08" PRIx64, what, rng_next(r), rng_next(r) >> 32);
}

static void proj_get(const struct gen *g, long p, struct proj *pr)
{
	struct rng r = rng_for(g, S_PROJECT, (uint64_t)p, 0);
	unsigned total = 0;

	pr->p = p;
	pr->s = p / PER_SPACE;
	pr->sp = &g->spaces[pr->s];
	pr->local = p - pr->sp->first;
	snprintf(pr->name, sizeof pr->name, "%s %s %05ld", areas[rng_below(&r, N(areas))],
		 parts[rng_below(&r, N(parts))], p + 1);
	slugify(pr->slug, sizeof pr->slug, pr->name);
	pr->fast = rng_below(&r, 5) == 0;
	pr->tenanted = rng_below(&r, 10) < 3;
	pr->lvs = rng_below(&r, 4);
	pr->nsteps = 3 + (int)rng_below(&r, 6);
	for (size_t t = 0; t < N(step_types); t++)
		total += step_types[t].weight;
	/* A package first, so that every release has a package to select; one
	 * manual intervention at most. */
	pr->step[0] = T_PACKAGE;
	for (int j = 1, manual = 0; j < pr->nsteps; j++) {
		unsigned x = rng_below(&r, total), t = 0;
		while (x >= step_types[t].weight)
			x -= step_types[t++].weight;
		if (t == T_MANUAL && manual++)
			t = T_SCRIPT;
		pr->step[j] = (unsigned char)t;
	}
}

/* The environments a release goes through, as indexes in its space. */
static int env_seq(const struct proj *pr, int hotfix, int seq[MAXENV])
{
	int n = pr->sp->nenv;

	if (hotfix || pr->fast) {
		seq[0] = hotfix ? n - 2 : 0;
		seq[1] = n - 1;
		return 2;
	}
	for (int i = 0; i < n; i++)
		seq[i] = i;
	return n;
}

/*
 * A project's history: releases while at least 5 documents are left (a
 * release, its "created" event, and per deployment the deployment, its task
 * and its event), then "modified" events for the rest, so that a project has
 * exactly `history` documents of history.
 */
static int plan_history(const struct gen *g, const struct proj *pr, struct rel *rels, int *nfill)
{
	struct rng r = rng_for(g, S_HISTORY, (uint64_t)pr->p, 0);
	int left = g->history, n = 0, seq[MAXENV];

	while (left >= 5) {
		struct rel *x = &rels[n++];
		x->hotfix = n > 3 && rng_below(&r, 10) == 0;
		int len = env_seq(pr, x->hotfix, seq);
		int d = 1 + (int)rng_below(&r, (unsigned)len);
		if (d > (left - 2) / 3)
			d = (left - 2) / 3;
		x->ndep = (unsigned char)d;
		x->failed = 0;
		for (int k = 0; k < d; k++)
			if (rng_below(&r, 25) == 0)
				x->failed |= (unsigned char)(1u << k);
		left -= 2 + 3 * d;
	}
	*nfill = left;
	return n;
}

static void release_version(char *b, size_t n, int r, int hotfix)
{
	snprintf(b, n, "1.%d.%d%s", r / 10, r % 10, hotfix ? "-hotfix" : "");
}

static long long release_time(const struct gen *g, const struct proj *pr, int r)
{
	return T0 + (long long)r * 3 * 86400 + (long long)(mix64(g->seed ^ (uint64_t)pr->p) % 43200);
}

static long long deploy_time(const struct gen *g, const struct proj *pr, int r, int k)
{
	return release_time(g, pr, r) + 1800 + (long long)k * 4 * 3600;
}

static long task_seconds(const struct proj *pr, int r, int k)
{
	return 40 + (pr->p * 7 + r * 13 + k * 29) % 500;
}

static void step_name(const struct proj *pr, int j, char *b, size_t n)
{
	snprintf(b, n, "%s %d", step_types[pr->step[j]].label, j + 1);
}

static void package_id(const struct proj *pr, int j, char *b, size_t n)
{
	snprintf(b, n, "Acme.%s.%d", pr->slug, j + 1);
}

static long env_id(const struct space *sp, int i)
{
	return sp->env0 + i + 1;
}

static long tenant_of(const struct proj *pr)
{
	return pr->sp->tenant0 + pr->local % pr->sp->ntenant + 1;
}

/* ---- scripts ---- */

/* Lines of the scripts in steps: Octopus variables, quotes, backslashes and
 * tab-indented blocks, the characters that escaping has to get right. */
static const char *const bash_lines[] = {
	"set -euo pipefail",
	"# Deploy #{Octopus.Project.Name} #{Octopus.Release.Number} to #{Octopus.Environment.Name}",
	"APP_DIR=\"/opt/apps/#{Octopus.Project.Name | ToLower}/#{Octopus.Release.Number}\"",
	"echo \"Deploying to $APP_DIR on $(hostname)\"",
	"if [ ! -d \"$APP_DIR\" ]; then\n"
		"\tmkdir -p \"$APP_DIR\"\n"
		"\tchown deploy:deploy \"$APP_DIR\"\n"
		"fi",
	"for svc in web worker scheduler; do\n"
		"\tsystemctl restart \"app-$svc\" || echo \"restart of $svc failed\" >&2\n"
		"done",
	"curl -fsS -X POST \\\n"
		"\t-H 'Content-Type: application/json' \\\n"
		"\t-d '{\"text\": \"Deployed #{Octopus.Release.Number}\"}' \\\n"
		"\t\"#{Slack.WebhookUrl}\"",
	"sed -i 's/\\(version=\\).*/\\1#{Octopus.Release.Number}/' \"$APP_DIR/app.conf\"",
	"psql \"#{Db.ConnectionString}\" -v ON_ERROR_STOP=1 -f \"migrations/#{Octopus.Release.Number}.sql\"",
	"printf '%s\\t%s\\n' \"$(date -u +%FT%TZ)\" \"#{Octopus.Deployment.Id}\" "
		">> /var/log/deploys.tsv",
	"for i in $(seq 1 30); do\n"
		"\tif curl -fs \"http://localhost:8080/health\" > /dev/null; then\n"
		"\t\techo healthy; break\n"
		"\tfi\n"
		"\tsleep 2\n"
		"done",
	"set_octopusvariable \"DeployedAt\" \"$(date -u +%s)\"",
	"find \"$APP_DIR/..\" -maxdepth 1 -type d -mtime +30 -exec rm -rf {} \\;",
	"export DOTNET_ENVIRONMENT=\"#{Octopus.Environment.Name}\"",
	"tar -xzf \"#{Octopus.Action.Package[Acme].ExtractedPath}/bundle.tar.gz\" -C \"$APP_DIR\"",
	"[[ \"#{Octopus.Environment.Name}\" == Production ]] && echo \"##octopus[stdout-warning]\"",
};

static const char *const ps_lines[] = {
	"$ErrorActionPreference = \"Stop\"",
	"# Deploy #{Octopus.Project.Name} #{Octopus.Release.Number}",
	"$appDir = \"C:\\Octopus\\Applications\\#{Octopus.Environment.Name}\\#{Octopus.Project.Name}\"",
	"Write-Host \"Deploying to $appDir\"",
	"if (-not (Test-Path $appDir)) {\n"
		"\tNew-Item -ItemType Directory -Path $appDir | Out-Null\n"
		"}",
	"$rg = \"rg-#{Octopus.Environment.Name | ToLower}-app\"",
	"az webapp deployment slot swap --resource-group $rg `\n"
		"\t--name \"#{Azure.WebApp}\" `\n"
		"\t--slot staging --target-slot production",
	"Get-ChildItem -Path \"$appDir\\logs\" -Filter *.log | "
		"Where-Object { $_.LastWriteTime -lt (Get-Date).AddDays(-14) } | Remove-Item",
	"Set-OctopusVariable -name \"SwapDone\" -value \"True\"",
	"foreach ($i in 1..30) {\n"
		"\ttry { Invoke-WebRequest \"https://#{App.HostName}/health\" -UseBasicParsing | Out-Null; break }\n"
		"\tcatch { Start-Sleep -Seconds 2 }\n"
		"}",
	"Restart-WebAppPool -Name \"#{IIS.AppPool}\"",
	"Write-Warning \"Release notes: #{Octopus.Release.Notes}\"",
};

/* A script of 1-3 KB, in b (size n). */
static void make_script(struct rng *r, int powershell, char *b, size_t n)
{
	const char *const *lines = powershell ? ps_lines : bash_lines;
	size_t nlines = powershell ? N(ps_lines) : N(bash_lines);
	size_t target = 1000 + rng_below(r, 2001), len = 0;

	b[0] = 0;
	if (!powershell)
		len = (size_t)snprintf(b, n, "#!/bin/bash\n");
	while (len < target) {
		const char *l = lines[rng_below(r, (unsigned)nlines)];
		size_t ll = strlen(l);
		if (len + ll + 2 > n)
			break;
		memcpy(b + len, l, ll);
		len += ll;
		b[len++] = '\n';
		b[len] = 0;
	}
}

/* ---- server level ---- */

static void gen_users(struct gen *g)
{
	struct out *o = &g->out;

	for (long u = 1; u <= NUSERS; u++) {
		jo(o);
		kid(o, "Id", "Users-", u);
		ksf(o, "Username", "user%02ld", u);
		ksf(o, "DisplayName", "Deploy User %02ld", u);
		ksf(o, "EmailAddress", "user%02ld@example.com", u);
		kb(o, "IsActive", 1);
		kb(o, "IsService", u == NUSERS);
		kb(o, "IsRequestor", 0);
		kraw(o, "Identities", "[]");
		kmodified(o, T_CONFIG, (uint64_t)u);
		je(o);
		row_end(o);
	}
}

/* ---- per space ---- */

static void gen_teams(struct gen *g)
{
	struct out *o = &g->out;

	for (long s = 0; s < g->nspaces; s++) {
		jo(o);
		kid(o, "Id", "Teams-", s + 1);
		ks(o, "Name", "Release approvers");
		kid(o, "SpaceId", "Spaces-", s + 1);
		ks(o, "Description", "Approve production deployments");
		jk(o, "MemberUserIds");
		ja(o);
		for (long u = 0; u < 3; u++)
			jid(o, "Users-", (s + u) % NUSERS + 1);
		jz(o);
		kraw(o, "ExternalSecurityGroups", "[]");
		kraw(o, "UserRoles", "[]");
		kb(o, "CanBeDeleted", 1);
		kb(o, "CanBeRenamed", 1);
		kmodified(o, T_CONFIG, (uint64_t)s);
		je(o);
		row_end(o);
	}
}

static void gen_spaces(struct gen *g)
{
	struct out *o = &g->out;

	for (long s = 0; s < g->nspaces; s++) {
		jo(o);
		kid(o, "Id", "Spaces-", s + 1);
		if (s == 0) {
			ks(o, "Name", "Default");
			ks(o, "Slug", "default");
		} else {
			ksf(o, "Name", "Space %ld", s + 1);
			ksf(o, "Slug", "space-%ld", s + 1);
		}
		kn(o, "Description");
		kb(o, "IsDefault", s == 0);
		kb(o, "TaskQueueStopped", 0);
		jk(o, "SpaceManagersTeams");
		ja(o);
		jid(o, "Teams-", s + 1);
		jz(o);
		kraw(o, "SpaceManagersTeamMembers", "[]");
		kn(o, "Icon");
		kraw(o, "ExtensionSettings", "[]");
		kmodified(o, T_CONFIG, (uint64_t)s);
		je(o);
		row_end(o);
	}
}

static const char *env_name(const struct space *sp, int i)
{
	return i == sp->nenv - 1 ? "Production" : env_names[i];
}

static void gen_environments(struct gen *g)
{
	struct out *o = &g->out;
	char slug[64];

	for (long s = 0; s < g->nspaces; s++) {
		const struct space *sp = &g->spaces[s];
		for (int i = 0; i < sp->nenv; i++) {
			jo(o);
			ks(o, "Type", "Static");
			kid(o, "Id", "Environments-", env_id(sp, i));
			ks(o, "Name", env_name(sp, i));
			ks(o, "Description", "");
			ki(o, "SortOrder", i);
			kb(o, "UseGuidedFailure", i == sp->nenv - 1);
			slugify(slug, sizeof slug, env_name(sp, i));
			ks(o, "Slug", slug);
			kb(o, "AllowDynamicInfrastructure", 0);
			kid(o, "SpaceId", "Spaces-", s + 1);
			kraw(o, "ExtensionSettings", "[]");
			kmodified(o, T_CONFIG, (uint64_t)env_id(sp, i));
			je(o);
			row_end(o);
		}
	}
}

static void kretention(struct out *o, const char *k, int days, int forever)
{
	jk(o, k);
	jo(o);
	ks(o, "Unit", "Days");
	ki(o, "QuantityToKeep", forever ? 0 : days);
	kb(o, "ShouldKeepForever", forever);
	je(o);
}

static void phase(struct gen *g, long s, int lc, int i, const char *name, long env, int automatic)
{
	struct out *o = &g->out;
	char id[37];

	guid_for(g, S_PHASE, (uint64_t)id_lifecycle(s, lc), (uint64_t)i, id);
	jo(o);
	ks(o, "Id", id);
	ks(o, "Name", name);
	jk(o, "AutomaticDeploymentTargets");
	ja(o);
	if (automatic)
		jid(o, "Environments-", env);
	jz(o);
	jk(o, "OptionalDeploymentTargets");
	ja(o);
	if (!automatic)
		jid(o, "Environments-", env);
	jz(o);
	ki(o, "MinimumEnvironmentsBeforePromotion", 0);
	kb(o, "IsOptionalPhase", 0);
	kb(o, "IsPriorityPhase", 0);
	kn(o, "ReleaseRetentionPolicy");
	kn(o, "TentacleRetentionPolicy");
	je(o);
}

static void gen_lifecycles(struct gen *g)
{
	static const char *const names[NLIFECYCLES] = {"Default Lifecycle", "Fast track", "Hotfix"};
	struct out *o = &g->out;
	char slug[64];

	for (long s = 0; s < g->nspaces; s++) {
		const struct space *sp = &g->spaces[s];
		int last = sp->nenv - 1;
		for (int lc = 0; lc < NLIFECYCLES; lc++) {
			jo(o);
			kid(o, "Id", "Lifecycles-", id_lifecycle(s, lc));
			ks(o, "Name", names[lc]);
			ks(o, "Description", lc == LC_HOTFIX ? "Straight to production, after staging" : "");
			jk(o, "Phases");
			ja(o);
			if (lc == LC_DEFAULT) {
				for (int i = 0; i < sp->nenv; i++)
					phase(g, s, lc, i, env_name(sp, i), env_id(sp, i), i == 0);
			} else {
				int first = lc == LC_FAST ? 0 : last - 1;
				phase(g, s, lc, 0, env_name(sp, first), env_id(sp, first), 1);
				phase(g, s, lc, 1, env_name(sp, last), env_id(sp, last), 0);
			}
			jz(o);
			kretention(o, "ReleaseRetentionPolicy", 30 + 30 * lc, 0);
			kretention(o, "TentacleRetentionPolicy", 30, 0);
			slugify(slug, sizeof slug, names[lc]);
			ks(o, "Slug", slug);
			kid(o, "SpaceId", "Spaces-", s + 1);
			kmodified(o, T_CONFIG, (uint64_t)id_lifecycle(s, lc));
			je(o);
			row_end(o);
		}
	}
}

static void gen_projectgroups(struct gen *g)
{
	struct out *o = &g->out;

	for (long s = 0; s < g->nspaces; s++) {
		const struct space *sp = &g->spaces[s];
		for (int i = 0; i < sp->npg; i++) {
			jo(o);
			kid(o, "Id", "ProjectGroups-", sp->pg0 + i + 1);
			if (i == 0)
				ks(o, "Name", "Default Project Group");
			else
				ksf(o, "Name", "%s services %d", areas[i % N(areas)], i);
			ks(o, "Description", "");
			jk(o, "EnvironmentIds");
			ja(o);
			if (i % 4 == 3) /* some groups are limited to their environments */
				for (int e = 0; e < sp->nenv; e++)
					jid(o, "Environments-", env_id(sp, e));
			jz(o);
			kn(o, "RetentionPolicyId");
			kid(o, "SpaceId", "Spaces-", s + 1);
			kmodified(o, T_CONFIG, (uint64_t)(sp->pg0 + i));
			je(o);
			row_end(o);
		}
	}
}

static void gen_feeds(struct gen *g)
{
	static const struct {
		const char *name, *type, *uri, *user;
	} feeds[NFEEDS] = {
		{"Octopus Server (built-in)", "BuiltIn", NULL, NULL},
		{"nuget.org", "NuGet", "https://api.nuget.org/v3/index.json", NULL},
		{"Docker Hub", "Docker", "https://index.docker.io", "acme-deploy"},
		{"Private NuGet", "NuGet", "https://nuget.acme.example/v3/index.json", "build"},
	};
	struct out *o = &g->out;
	char slug[64], clear[96];

	for (long s = 0; s < g->nspaces; s++) {
		struct rng r = rng_for(g, S_MISC, (uint64_t)s, 1);
		for (int i = 0; i < NFEEDS; i++) {
			jo(o);
			kid(o, "Id", "Feeds-", id_feed(s, i));
			ks(o, "Name", feeds[i].name);
			slugify(slug, sizeof slug, feeds[i].name);
			ks(o, "Slug", slug);
			ks(o, "FeedType", feeds[i].type);
			if (feeds[i].uri)
				ks(o, "FeedUri", feeds[i].uri);
			if (i == FEED_DOCKER) {
				ks(o, "ApiVersion", "v2");
				kn(o, "RegistryPath");
			}
			if (i == FEED_BUILTIN) {
				ki(o, "DeletePackagesAssociatedWithReleases", 1);
				kb(o, "IsBuiltInRepoSyncEnabled", 0);
			} else {
				ki(o, "DownloadAttempts", 5);
				ki(o, "DownloadRetryBackoffSeconds", 10);
			}
			if (feeds[i].user) {
				ks(o, "Username", feeds[i].user);
				secret_text(&r, clear, sizeof clear, "feed");
				ksealed(g, "Password", clear);
			} else {
				kn(o, "Username");
				kn(o, "Password");
			}
			kraw(o, "PackageAcquisitionLocationOptions", "[\"Server\",\"ExecutionTarget\"]");
			kid(o, "SpaceId", "Spaces-", s + 1);
			kmodified(o, T_CONFIG, (uint64_t)id_feed(s, i));
			je(o);
			row_end(o);
		}
	}
}

static void gen_accounts(struct gen *g)
{
	static const char *const names[NACCOUNTS] = {
		"Deploy user", "AWS production", "Azure subscription", "GitHub token", "SSH deploy key"};
	struct out *o = &g->out;
	char slug[64], clear[2048], id[37];

	for (long s = 0; s < g->nspaces; s++) {
		const struct space *sp = &g->spaces[s];
		struct rng r = rng_for(g, S_MISC, (uint64_t)s, 2);
		for (int i = 0; i < NACCOUNTS; i++) {
			jo(o);
			kid(o, "Id", "Accounts-", id_account(s, i));
			ks(o, "Name", names[i]);
			slugify(slug, sizeof slug, names[i]);
			ks(o, "Slug", slug);
			ks(o, "Description", "");
			kid(o, "SpaceId", "Spaces-", s + 1);
			/* Restrictions of the kinds the importer must remap. */
			jk(o, "EnvironmentIds");
			ja(o);
			if (i == ACC_AWS)
				jid(o, "Environments-", env_id(sp, sp->nenv - 1));
			jz(o);
			jk(o, "TenantIds");
			ja(o);
			if (i == ACC_USERPASS)
				jid(o, "Tenants-", sp->tenant0 + 1);
			jz(o);
			jk(o, "TenantTags");
			ja(o);
			if (i == ACC_TOKEN)
				jtag(o, s, 1, 0);
			jz(o);
			ks(o, "TenantedDeploymentParticipation",
			   i == ACC_USERPASS || i == ACC_TOKEN ? "TenantedOrUntenanted" : "Untenanted");
			switch (i) {
			case ACC_USERPASS:
				ks(o, "AccountType", "UsernamePassword");
				ks(o, "Username", "deploy");
				secret_text(&r, clear, sizeof clear, "pw");
				ksealed(g, "Password", clear);
				break;
			case ACC_AWS:
				ks(o, "AccountType", "AmazonWebServicesAccount");
				ksf(o, "AccessKey", "AKIA%016" PRIX64, rng_next(&r));
				secret_text(&r, clear, sizeof clear, "aws");
				ksealed(g, "SecretKey", clear);
				break;
			case ACC_AZURE:
				ks(o, "AccountType", "AzureServicePrincipal");
				guid(&r, id);
				ks(o, "SubscriptionNumber", id);
				guid(&r, id);
				ks(o, "ClientId", id);
				guid(&r, id);
				ks(o, "TenantId", id); /* Azure's tenant, not an Octopus one */
				secret_text(&r, clear, sizeof clear, "azure");
				ksealed(g, "Password", clear); /* the model's secret of an Azure service principal */
				ks(o, "AzureEnvironment", "");
				kn(o, "ResourceManagementEndpointBaseUri");
				kn(o, "ActiveDirectoryEndpointBaseUri");
				break;
			case ACC_TOKEN:
				ks(o, "AccountType", "Token");
				secret_text(&r, clear, sizeof clear, "ghp");
				ksealed(g, "Token", clear);
				break;
			case ACC_SSH: {
				/* A key file of realistic size: ~1.7 KB of PEM. */
				size_t n = (size_t)snprintf(clear, sizeof clear,
							    "-----BEGIN OPENSSH PRIVATE KEY-----\n");
				for (int l = 0; l < 25; l++) {
					for (int c = 0; c < 64; c += 16)
						n += (size_t)snprintf(clear + n, sizeof clear - n,
								      "%016" PRIx64, rng_next(&r));
					clear[n++] = '\n';
				}
				snprintf(clear + n, sizeof clear - n, "-----END OPENSSH PRIVATE KEY-----\n");
				ks(o, "AccountType", "SshKeyPair");
				ks(o, "Username", "deploy");
				ksealed(g, "PrivateKeyFile", clear);
				secret_text(&r, clear, sizeof clear, "passphrase");
				ksealed(g, "PrivateKeyPassphrase", clear);
				break;
			}
			}
			kmodified(o, T_CONFIG, (uint64_t)id_account(s, i));
			je(o);
			row_end(o);
		}
	}
}

static void gen_workerpools(struct gen *g)
{
	static const char *const names[NWORKERPOOLS] = {"Default Worker Pool", "Linux workers"};
	struct out *o = &g->out;
	char slug[64];

	for (long s = 0; s < g->nspaces; s++)
		for (int i = 0; i < NWORKERPOOLS; i++) {
			jo(o);
			kid(o, "Id", "WorkerPools-", id_workerpool(s, i));
			ks(o, "Name", names[i]);
			slugify(slug, sizeof slug, names[i]);
			ks(o, "Slug", slug);
			ks(o, "Description", "");
			ks(o, "WorkerPoolType", "StaticWorkerPool");
			kb(o, "IsDefault", i == 0);
			kb(o, "CanAddWorkers", 1);
			ki(o, "SortOrder", i);
			kid(o, "SpaceId", "Spaces-", s + 1);
			kmodified(o, T_CONFIG, (uint64_t)id_workerpool(s, i));
			je(o);
			row_end(o);
		}
}

static void gen_machinepolicies(struct gen *g)
{
	struct out *o = &g->out;

	for (long s = 0; s < g->nspaces; s++) {
		jo(o);
		kid(o, "Id", "MachinePolicies-", s + 1);
		ks(o, "Name", "Default Machine Policy");
		ks(o, "Description", "Applied to all machines unless another policy is assigned.");
		kb(o, "IsDefault", 1);
		jk(o, "MachineHealthCheckPolicy");
		jo(o);
		ks(o, "HealthCheckInterval", "01:00:00");
		ks(o, "HealthCheckType", "RunScript");
		je(o);
		jk(o, "MachineConnectivityPolicy");
		jo(o);
		ks(o, "MachineConnectivityBehavior", "ExpectedToBeOnline");
		je(o);
		jk(o, "MachineCleanupPolicy");
		jo(o);
		ks(o, "DeleteMachinesBehavior", "DoNotDelete");
		ks(o, "DeleteMachinesElapsedTimeSpan", "1.00:00:00");
		je(o);
		jk(o, "MachineUpdatePolicy");
		jo(o);
		ks(o, "CalamariUpdateBehavior", "UpdateOnDeployment");
		ks(o, "TentacleUpdateBehavior", "NeverUpdate");
		/* Updates run as the deploy user: a reference from infrastructure
		 * to an account. */
		kid(o, "TentacleUpdateAccountId", "Accounts-", id_account(s, ACC_USERPASS));
		je(o);
		ks(o, "PollingRequestQueueTimeout", "00:02:00");
		kid(o, "SpaceId", "Spaces-", s + 1);
		kmodified(o, T_CONFIG, (uint64_t)s);
		je(o);
		row_end(o);
	}
}

static void gen_machines(struct gen *g)
{
	struct out *o = &g->out;
	char slug[64];

	for (long s = 0; s < g->nspaces; s++) {
		const struct space *sp = &g->spaces[s];
		struct rng r = rng_for(g, S_MISC, (uint64_t)s, 3);
		for (int e = 0; e < sp->nenv; e++) {
			slugify(slug, sizeof slug, env_name(sp, e));
			for (int m = 0; m < MACHINES_PER_ENV; m++) {
				long id = sp->machine0 + e * MACHINES_PER_ENV + m + 1;
				int ssh = m == 1 && e == sp->nenv - 1;
				char thumb[41];
				snprintf(thumb, sizeof thumb, "%016" PRIX64 "%016" PRIX64 "%08" PRIX64,
					 rng_next(&r), rng_next(&r), rng_next(&r) >> 32);
				jo(o);
				kid(o, "Id", "Machines-", id);
				ksf(o, "Name", "%s-%s-%02d", slug, m ? "worker" : "web", m + 1);
				kb(o, "IsDisabled", 0);
				ks(o, "HealthStatus", "Healthy");
				ks(o, "StatusSummary", "Octopus was able to successfully establish a connection.");
				kb(o, "HasLatestCalamari", 1);
				kb(o, "IsInProcess", 0);
				kid(o, "MachinePolicyId", "MachinePolicies-", s + 1);
				jk(o, "Endpoint");
				jo(o);
				if (ssh) {
					ks(o, "CommunicationStyle", "Ssh");
					ksf(o, "Host", "%s-worker.acme.example", slug);
					ki(o, "Port", 22);
					ksf(o, "Fingerprint", "SHA256:%.40s", thumb);
					kid(o, "AccountId", "Accounts-", id_account(s, ACC_SSH));
				} else {
					ks(o, "CommunicationStyle", "TentaclePassive");
					ksf(o, "Uri", "https://%s-%s-%02d.acme.example:10933/", slug,
					    m ? "worker" : "web", m + 1);
					ks(o, "Thumbprint", thumb);
					kn(o, "ProxyId");
				}
				jk(o, "TentacleVersionDetails");
				jo(o);
				kb(o, "UpgradeLocked", 0);
				ks(o, "Version", "8.1.1404");
				kb(o, "UpgradeSuggested", 0);
				kb(o, "UpgradeRequired", 0);
				je(o);
				je(o);
				jk(o, "EnvironmentIds");
				ja(o);
				jid(o, "Environments-", env_id(sp, e));
				jz(o);
				kraw(o, "Roles", m ? "[\"worker\",\"db\"]" : "[\"web\"]");
				kraw(o, "TenantIds", "[]");
				kraw(o, "TenantTags", "[]");
				ks(o, "TenantedDeploymentParticipation", "Untenanted");
				ks(o, "OperatingSystem", "Linux");
				ks(o, "ShellName", "Bash");
				ks(o, "Architecture", "x64");
				kid(o, "SpaceId", "Spaces-", s + 1);
				kmodified(o, T_CONFIG, (uint64_t)id);
				je(o);
				row_end(o);
			}
		}
	}
}

static void gen_tagsets(struct gen *g)
{
	static const char *const colors[] = {"#3366CC", "#DC3912", "#FF9900", "#109618"};
	struct out *o = &g->out;
	char ref[64];

	for (long s = 0; s < g->nspaces; s++)
		for (int t = 0; t < NTAGSETS; t++) {
			jo(o);
			kid(o, "Id", "TagSets-", id_tagset(s, t));
			ks(o, "Name", tagsets[t].set);
			ks(o, "Description", "");
			ki(o, "SortOrder", t);
			jk(o, "Tags");
			ja(o);
			for (int i = 0; i < tagsets[t].ntags; i++) {
				jo(o);
				tag_ref(ref, sizeof ref, s, t, i);
				ks(o, "Id", ref);
				ks(o, "Name", tagsets[t].tags[i]);
				ksf(o, "CanonicalTagName", "%s/%s", tagsets[t].set, tagsets[t].tags[i]);
				ks(o, "Color", colors[i % N(colors)]);
				ks(o, "Description", "");
				ki(o, "SortOrder", i);
				je(o);
			}
			jz(o);
			kid(o, "SpaceId", "Spaces-", s + 1);
			kmodified(o, T_CONFIG, (uint64_t)id_tagset(s, t));
			je(o);
			row_end(o);
		}
}

/* Tenant t of a space is connected to the tenanted projects whose local
 * index is t or t - 1 modulo the number of tenants: each such project has
 * two tenants, and deploys to the first. */
static int tenant_has(const struct proj *pr, int t)
{
	int nt = pr->sp->ntenant;
	return pr->tenanted && (pr->local % nt == t || (pr->local + 1) % nt == t);
}

static void gen_tenants(struct gen *g)
{
	struct out *o = &g->out;
	char slug[96];
	struct proj pr;

	for (long s = 0; s < g->nspaces; s++) {
		const struct space *sp = &g->spaces[s];
		for (int t = 0; t < sp->ntenant; t++) {
			struct rng r = rng_for(g, S_TENANT, (uint64_t)(sp->tenant0 + t), 0);
			char name[96];
			snprintf(name, sizeof name, "%s %03d", companies[rng_below(&r, N(companies))], t + 1);
			jo(o);
			kid(o, "Id", "Tenants-", sp->tenant0 + t + 1);
			ks(o, "Name", name);
			kid(o, "SpaceId", "Spaces-", s + 1);
			jk(o, "TenantTags");
			ja(o);
			jtag(o, s, 0, t % tagsets[0].ntags);
			jtag(o, s, 1, (t / 4) % tagsets[1].ntags);
			if (t % 2)
				jtag(o, s, 2, t / 2 % tagsets[2].ntags);
			jz(o);
			jk(o, "ProjectEnvironments");
			jo(o);
			for (long p = sp->first; p < sp->first + sp->n; p++) {
				proj_get(g, p, &pr);
				if (!tenant_has(&pr, t))
					continue;
				char key[32];
				snprintf(key, sizeof key, "Projects-%ld", p + 1);
				jk(o, key);
				ja(o);
				for (int e = 0; e < sp->nenv; e++)
					jid(o, "Environments-", env_id(sp, e));
				jz(o);
			}
			je(o);
			jk(o, "ProjectIds");
			ja(o);
			for (long p = sp->first; p < sp->first + sp->n; p++) {
				proj_get(g, p, &pr);
				if (tenant_has(&pr, t))
					jid(o, "Projects-", p + 1);
			}
			jz(o);
			slugify(slug, sizeof slug, name);
			ks(o, "Slug", slug);
			kn(o, "ClonedFromTenantId");
			ks(o, "Description", "");
			kb(o, "IsDisabled", 0);
			kmodified(o, T_CONFIG, (uint64_t)(sp->tenant0 + t));
			je(o);
			row_end(o);
		}
	}
}

static void gen_actiontemplates(struct gen *g)
{
	struct out *o = &g->out;
	char script[4096], id[37], clear[96];

	for (long s = 0; s < g->nspaces; s++) {
		struct rng r = rng_for(g, S_MISC, (uint64_t)s, 4);
		jo(o);
		kid(o, "Id", "ActionTemplates-", s + 1);
		ks(o, "Name", "Notify Slack");
		ks(o, "Description", "Posts the outcome of a deployment to a Slack channel.");
		ks(o, "ActionType", "Octopus.Script");
		ki(o, "Version", 3);
		kn(o, "CommunityActionTemplateId");
		kraw(o, "Packages", "[]");
		kraw(o, "GitDependencies", "[]");
		jk(o, "Properties");
		jo(o);
		ks(o, "Octopus.Action.Script.ScriptSource", "Inline");
		ks(o, "Octopus.Action.Script.Syntax", "Bash");
		make_script(&r, 0, script, sizeof script);
		ks(o, "Octopus.Action.Script.ScriptBody", script);
		je(o);
		jk(o, "Parameters");
		ja(o);
		jo(o);
		guid(&r, id);
		ks(o, "Id", id);
		ks(o, "Name", "Slack.WebhookUrl");
		ks(o, "Label", "Webhook URL");
		ks(o, "HelpText", "The incoming webhook of the channel.");
		jk(o, "DefaultValue");
		secret_text(&r, clear, sizeof clear, "https://hooks.slack.example/T0");
		jsensitive(g, clear);
		kraw(o, "DisplaySettings", "{\"Octopus.ControlType\":\"Sensitive\"}");
		je(o);
		jo(o);
		guid(&r, id);
		ks(o, "Id", id);
		ks(o, "Name", "Slack.Channel");
		ks(o, "Label", "Channel");
		kn(o, "HelpText");
		ks(o, "DefaultValue", "#deployments");
		kraw(o, "DisplaySettings", "{\"Octopus.ControlType\":\"SingleLineText\"}");
		je(o);
		jz(o);
		kid(o, "SpaceId", "Spaces-", s + 1);
		kmodified(o, T_CONFIG, (uint64_t)s);
		je(o);
		row_end(o);
	}
}

static void gen_libraryvariablesets(struct gen *g)
{
	static const char *const names[NLVS] = {"Common settings", "Shared secrets"};
	struct out *o = &g->out;

	for (long s = 0; s < g->nspaces; s++)
		for (int i = 0; i < NLVS; i++) {
			jo(o);
			kid(o, "Id", "LibraryVariableSets-", id_lvs(s, i));
			ks(o, "Name", names[i]);
			ks(o, "Description", "");
			ksf(o, "VariableSetId", "variableset-LibraryVariableSets-%ld", id_lvs(s, i));
			ks(o, "ContentType", "Variables");
			kraw(o, "Templates", "[]");
			kid(o, "SpaceId", "Spaces-", s + 1);
			ki(o, "Version", 4);
			kmodified(o, T_CONFIG, (uint64_t)id_lvs(s, i));
			je(o);
			row_end(o);
		}
}

/* ---- per project ---- */

static void gen_projects(struct gen *g)
{
	struct out *o = &g->out;
	struct proj pr;
	char id[37], clear[96];

	for (long p = 0; p < g->nprojects; p++) {
		proj_get(g, p, &pr);
		struct rng r = rng_for(g, S_MISC, (uint64_t)p, 5);
		long n = p + 1;
		jo(o);
		kid(o, "SpaceId", "Spaces-", pr.s + 1);
		kid(o, "Id", "Projects-", n);
		ks(o, "Name", pr.name);
		ks(o, "Slug", pr.slug);
		ksf(o, "Description", "The %s of Acme, deployed from the %s pipeline.", pr.name, pr.slug);
		kn(o, "ExecuteDeploymentsOnResilientPipeline");
		kb(o, "IsDisabled", 0);
		ksf(o, "VariableSetId", "variableset-Projects-%ld", n);
		ksf(o, "DeploymentProcessId", "deploymentprocess-Projects-%ld", n);
		ksf(o, "DeploymentSettingsId", "deploymentsettings-Projects-%ld", n);
		kn(o, "ClonedFromProjectId");
		kid(o, "ProjectGroupId", "ProjectGroups-", pr.sp->pg0 + pr.local / 40 + 1);
		kid(o, "LifecycleId", "Lifecycles-", id_lifecycle(pr.s, pr.fast ? LC_FAST : LC_DEFAULT));
		kb(o, "AutoCreateRelease", 0);
		kraw(o, "PersistenceSettings", "{\"Type\":\"Database\"}");
		kraw(o, "DynamicEnvironmentSettings",
		     "{\"ProvisioningRunbook\":null,\"DeprovisioningRunbook\":null}");
		kb(o, "DiscreteChannelRelease", 0);
		jk(o, "IncludedLibraryVariableSetIds");
		ja(o);
		for (int i = 0; i < NLVS; i++)
			if (pr.lvs & (1u << i))
				jid(o, "LibraryVariableSets-", id_lvs(pr.s, i));
		jz(o);
		kraw(o, "UsedPackages", "[]");
		ks(o, "TenantedDeploymentMode", pr.tenanted ? "TenantedOrUntenanted" : "Untenanted");
		jk(o, "Templates");
		ja(o);
		if (pr.tenanted) {
			jo(o);
			guid(&r, id);
			ks(o, "Id", id);
			ks(o, "Name", "Tenant.Alias");
			ks(o, "Label", "Alias");
			kn(o, "HelpText");
			ks(o, "DefaultValue", "");
			kraw(o, "DisplaySettings", "{\"Octopus.ControlType\":\"SingleLineText\"}");
			je(o);
			jo(o);
			guid(&r, id);
			ks(o, "Id", id);
			ks(o, "Name", "Tenant.ApiKey");
			ks(o, "Label", "API key");
			kn(o, "HelpText");
			jk(o, "DefaultValue");
			secret_text(&r, clear, sizeof clear, "tenant-key");
			jsensitive(g, clear);
			kraw(o, "DisplaySettings", "{\"Octopus.ControlType\":\"Sensitive\"}");
			je(o);
		}
		jz(o);
		kn(o, "ReleaseCreationStrategy");
		kraw(o, "AutoDeployReleaseOverrides", "[]");
		kraw(o, "ExtensionSettings", "[]");
		kb(o, "AllowIgnoreChannelRules", 0);
		kmodified(o, T_CONFIG + p, (uint64_t)n);
		je(o);
		row_end(o);
	}
}

static void gen_channels(struct gen *g)
{
	struct out *o = &g->out;
	struct proj pr;
	char id[37];

	for (long p = 0; p < g->nprojects; p++) {
		proj_get(g, p, &pr);
		for (int c = 0; c < 2; c++) {
			jo(o);
			kid(o, "SpaceId", "Spaces-", pr.s + 1);
			kid(o, "Id", "Channels-", 2 * p + c + 1);
			ks(o, "Name", c ? "Hotfix" : "Default");
			kn(o, "Description");
			ks(o, "Slug", c ? "hotfix" : "default");
			kid(o, "ProjectId", "Projects-", p + 1);
			if (c)
				kid(o, "LifecycleId", "Lifecycles-", id_lifecycle(pr.s, LC_HOTFIX));
			else
				kn(o, "LifecycleId");
			kb(o, "IsDefault", !c);
			jk(o, "TenantTags");
			ja(o);
			if (c && pr.tenanted)
				jtag(o, pr.s, 1, 0);
			jz(o);
			jk(o, "Rules");
			ja(o);
			if (c) {
				jo(o);
				guid_for(g, S_MISC, (uint64_t)p, 6, id);
				ks(o, "Id", id);
				ks(o, "VersionRange", "");
				ks(o, "Tag", "^hotfix$");
				kraw(o, "ActionPackages", "[]");
				je(o);
			}
			jz(o);
			kraw(o, "GitReferenceRules", "[]");
			kraw(o, "GitResourceRules", "[]");
			kmodified(o, T_CONFIG + p, (uint64_t)(2 * p + c));
			je(o);
			row_end(o);
		}
	}
}

static void gen_deploymentsettings(struct gen *g)
{
	struct out *o = &g->out;
	struct proj pr;

	for (long p = 0; p < g->nprojects; p++) {
		proj_get(g, p, &pr);
		jo(o);
		kid(o, "SpaceId", "Spaces-", pr.s + 1);
		kid(o, "ProjectId", "Projects-", p + 1);
		ksf(o, "Id", "deploymentsettings-Projects-%ld", p + 1);
		jk(o, "VersioningStrategy");
		jo(o);
		kn(o, "DonorPackage");
		ks(o, "Template",
		   "#{Octopus.Version.LastMajor}.#{Octopus.Version.LastMinor}.#{Octopus.Version.NextPatch}");
		je(o);
		kn(o, "ReleaseNotesTemplate");
		kb(o, "DefaultToSkipIfAlreadyInstalled", 0);
		jk(o, "ConnectivityPolicy");
		jo(o);
		ks(o, "SkipMachineBehavior", "None");
		kraw(o, "TargetRoles", "[\"web\"]");
		kb(o, "AllowDeploymentsToNoTargets", 1);
		kb(o, "ExcludeUnhealthyTargets", 0);
		je(o);
		kn(o, "DeploymentChangesTemplate");
		ks(o, "DefaultGuidedFailureMode", "EnvironmentDefault");
		kb(o, "ForcePackageDownload", 0);
		kdataversion(o, (uint64_t)p);
		je(o);
		row_end(o);
	}
}

static void action_id(const struct gen *g, const struct proj *pr, int j, char out[37])
{
	guid_for(g, S_ACTION_ID, (uint64_t)pr->p, (uint64_t)j, out);
}

static void step_doc(struct gen *g, const struct proj *pr, int j, char *script, size_t scriptsize)
{
	struct out *o = &g->out;
	struct rng r = rng_for(g, S_STEP, (uint64_t)pr->p, (uint64_t)j);
	const struct space *sp = pr->sp;
	int type = pr->step[j], last = sp->nenv - 1;
	int on_worker = type != T_PACKAGE && type != T_MANUAL;
	char name[64], slug[64], id[37], pkg[96], clear[96];

	step_name(pr, j, name, sizeof name);
	slugify(slug, sizeof slug, name);
	jo(o);
	guid_for(g, S_STEP_ID, (uint64_t)pr->p, (uint64_t)j, id);
	ks(o, "Id", id);
	ks(o, "Name", name);
	ks(o, "Slug", slug);
	ks(o, "PackageRequirement", "LetOctopusDecide");
	jk(o, "Properties");
	jo(o);
	if (!on_worker && type != T_MANUAL)
		ks(o, "Octopus.Action.TargetRoles", "web");
	je(o);
	ks(o, "Condition", type == T_TEMPLATE ? "Always" : "Success");
	ks(o, "StartTrigger", "StartAfterPrevious");
	jk(o, "Actions");
	ja(o);
	jo(o);
	action_id(g, pr, j, id);
	ks(o, "Id", id);
	ks(o, "Name", name);
	ks(o, "Slug", slug);
	ks(o, "ActionType", step_types[type].action_type);
	kn(o, "Notes");
	kb(o, "IsDisabled", 0);
	kb(o, "CanBeUsedForProjectVersioning", type == T_PACKAGE);
	kb(o, "IsRequired", type == T_MANUAL);
	if (on_worker)
		kid(o, "WorkerPoolId", "WorkerPools-", id_workerpool(pr->s, (int)rng_below(&r, 2)));
	else
		kn(o, "WorkerPoolId");
	jk(o, "Container");
	jo(o);
	if (type == T_CONTAINER) {
		ks(o, "Image", "octopusdeploy/worker-tools:6.1.0-ubuntu.22.04");
		kid(o, "FeedId", "Feeds-", id_feed(pr->s, FEED_DOCKER));
	} else {
		kn(o, "Image");
		kn(o, "FeedId");
	}
	je(o);
	kn(o, "WorkerPoolVariable");
	/* Environment, channel and tenant-tag conditions: references the
	 * importer has to map. */
	jk(o, "Environments");
	ja(o);
	if (type == T_MANUAL || rng_below(&r, 10) == 0)
		jid(o, "Environments-", env_id(sp, last));
	jz(o);
	jk(o, "ExcludedEnvironments");
	ja(o);
	if (type == T_SCRIPT && rng_below(&r, 8) == 0)
		jid(o, "Environments-", env_id(sp, 0));
	jz(o);
	jk(o, "Channels");
	ja(o);
	if (type == T_TEMPLATE && rng_below(&r, 2))
		jid(o, "Channels-", 2 * pr->p + 2);
	jz(o);
	jk(o, "TenantTags");
	ja(o);
	if (pr->tenanted && rng_below(&r, 4) == 0)
		jtag(o, pr->s, 1, 0);
	jz(o);
	jk(o, "Packages");
	ja(o);
	if (type == T_PACKAGE) {
		package_id(pr, j, pkg, sizeof pkg);
		jo(o);
		guid(&r, id);
		ks(o, "Id", id);
		ks(o, "Name", "");
		ks(o, "PackageId", pkg);
		kid(o, "FeedId", "Feeds-", id_feed(pr->s, j % 2 ? FEED_PRIVATE : FEED_BUILTIN));
		ks(o, "AcquisitionLocation", "Server");
		kraw(o, "Properties", "{\"SelectionMode\":\"immediate\"}");
		je(o);
	}
	jz(o);
	kraw(o, "GitDependencies", "[]");
	ks(o, "Condition", "Success");
	jk(o, "Properties");
	jo(o);
	switch (type) {
	case T_PACKAGE:
		ks(o, "Octopus.Action.EnabledFeatures",
		   "Octopus.Features.ConfigurationTransforms,Octopus.Features.ConfigurationVariables");
		ks(o, "Octopus.Action.Package.AutomaticallyRunConfigurationTransformationFiles", "True");
		ks(o, "Octopus.Action.Package.AutomaticallyUpdateAppSettingsAndConnectionStrings", "True");
		ks(o, "Octopus.Action.Package.DownloadOnTentacle", "False");
		kid(o, "Octopus.Action.Package.FeedId", "Feeds-",
		    id_feed(pr->s, j % 2 ? FEED_PRIVATE : FEED_BUILTIN));
		ks(o, "Octopus.Action.Package.PackageId", pkg);
		break;
	case T_MANUAL:
		ks(o, "Octopus.Action.Manual.Instructions",
		   "Read the release notes of #{Octopus.Release.Number} and approve.");
		kid(o, "Octopus.Action.Manual.ResponsibleTeamIds", "Teams-", pr->s + 1);
		ks(o, "Octopus.Action.Manual.BlockConcurrentDeployments", "False");
		ks(o, "Octopus.Action.RunOnServer", "false");
		break;
	case T_TEMPLATE:
		ks(o, "Octopus.Action.RunOnServer", "true");
		kid(o, "Octopus.Action.Template.Id", "ActionTemplates-", pr->s + 1);
		ks(o, "Octopus.Action.Template.Version", "3");
		jk(o, "Slack.WebhookUrl");
		secret_text(&r, clear, sizeof clear, "https://hooks.slack.example/T1");
		jsensitive(g, clear);
		ks(o, "Slack.Channel", "#deploys-#{Octopus.Environment.Name | ToLower}");
		break;
	default: /* the script steps */
		ks(o, "Octopus.Action.RunOnServer", "true");
		ks(o, "Octopus.Action.Script.ScriptSource", "Inline");
		ks(o, "Octopus.Action.Script.Syntax", type == T_AZURE ? "PowerShell" : "Bash");
		if (type == T_AWS) {
			kid(o, "Octopus.Action.AwsAccount.Id", "Accounts-", id_account(pr->s, ACC_AWS));
			ks(o, "Octopus.Action.AwsAccount.UseInstanceRole", "False");
			ks(o, "Octopus.Action.Aws.AssumeRole", "False");
			ks(o, "Octopus.Action.Aws.Region", "eu-west-1");
		}
		if (type == T_AZURE)
			kid(o, "Octopus.Action.Azure.AccountId", "Accounts-", id_account(pr->s, ACC_AZURE));
		make_script(&r, type == T_AZURE || (type == T_SCRIPT && rng_below(&r, 4) == 0),
			    script, scriptsize);
		ks(o, "Octopus.Action.Script.ScriptBody", script);
	}
	je(o);
	kraw(o, "Links", "{}");
	je(o);
	jz(o);
	je(o);
}

static void gen_deploymentprocesses(struct gen *g)
{
	struct out *o = &g->out;
	struct proj pr;
	char script[4096];

	for (long p = 0; p < g->nprojects; p++) {
		proj_get(g, p, &pr);
		jo(o);
		ksf(o, "Id", "deploymentprocess-Projects-%ld", p + 1);
		kid(o, "OwnerId", "Projects-", p + 1);
		ki(o, "Version", 2 + pr.nsteps);
		kid(o, "SpaceId", "Spaces-", pr.s + 1);
		jk(o, "Steps");
		ja(o);
		for (int j = 0; j < pr.nsteps; j++)
			step_doc(g, &pr, j, script, sizeof script);
		jz(o);
		kn(o, "LastSnapshotId");
		kmodified(o, T_CONFIG + p, (uint64_t)p);
		je(o);
		row_end(o);
	}
}

/* One variable; scope is written by the caller between var_open and je. */
static void var_open(struct out *o, struct rng *r, const char *name, const char *type)
{
	char id[37];

	jo(o);
	guid(r, id);
	ks(o, "Id", id);
	ks(o, "Name", name);
	kn(o, "Description");
	ks(o, "Type", type);
}

static void scope_one(struct out *o, const char *what, const char *prefix, long n)
{
	jk(o, "Scope");
	jo(o);
	jk(o, what);
	ja(o);
	jid(o, prefix, n);
	jz(o);
	je(o);
}

static void krelated_envs(struct out *o, const struct space *sp)
{
	jk(o, "RelatedDocumentIds");
	ja(o);
	for (int e = 0; e < sp->nenv; e++)
		jid(o, "Environments-", env_id(sp, e));
	jz(o);
}

/*
 * A project's variables: 20-60 of them, most plain, some per environment,
 * some sensitive, some scoped to a channel, a step, a target, a role or a
 * tenant tag, and a few whose value is the Id of an account or a worker pool.
 */
static void project_variables(struct gen *g, const struct proj *pr)
{
	struct out *o = &g->out;
	struct rng r = rng_for(g, S_VARS, (uint64_t)pr->p, 0);
	const struct space *sp = pr->sp;
	int target = 20 + (int)rng_below(&r, 41), n = 0, k = 0;
	char name[64], clear[128], id[37];

	jo(o);
	ksf(o, "Id", "variableset-Projects-%ld", pr->p + 1);
	kid(o, "OwnerId", "Projects-", pr->p + 1);
	ks(o, "OwnerType", "Project");
	ki(o, "Version", 1 + target / 4);
	jk(o, "Variables");
	ja(o);
	while (n < target) {
		unsigned c = rng_below(&r, 100);
		k++;
		if (c < 15 && n + sp->nenv <= target) {
			/* One value per environment. */
			snprintf(name, sizeof name, "Db.Server%02d", k);
			for (int e = 0; e < sp->nenv; e++, n++) {
				var_open(o, &r, name, "String");
				ksf(o, "Value", "db-%s-%02d.acme.internal", env_name(sp, e), k);
				scope_one(o, "Environment", "Environments-", env_id(sp, e));
				je(o);
			}
			continue;
		}
		n++;
		if (c >= 92 && c < 95 && !pr->tenanted)
			c = 0; /* no tenant tags without tenants: a plain value instead */
		if (c < 60) {
			snprintf(name, sizeof name, "App.Setting%02d", k);
			var_open(o, &r, name, "String");
			jk(o, "Value");
			if (k % 3 == 0)
				jsf(o, "Server=db.acme.internal;Database=%s;Application Name=%s;Pooling=true;",
				    pr->slug, pr->name);
			else
				jsf(o, "value-%08" PRIx64, rng_next(&r) >> 32);
			je(o);
		} else if (c < 74) {
			snprintf(name, sizeof name, "Secret.Key%02d", k);
			var_open(o, &r, name, "Sensitive");
			secret_text(&r, clear, sizeof clear, "secret");
			ksealed(g, "Value", clear);
			if (c < 67)
				scope_one(o, "Environment", "Environments-", env_id(sp, sp->nenv - 1));
			je(o);
		} else if (c < 79) {
			snprintf(name, sizeof name, "Release.Banner%02d", k);
			var_open(o, &r, name, "String");
			ks(o, "Value", "HOTFIX #{Octopus.Release.Number}");
			scope_one(o, "Channel", "Channels-", 2 * pr->p + 2);
			je(o);
		} else if (c < 84) {
			/* Scoped to a step: an inner reference into the process. */
			snprintf(name, sizeof name, "Step.Timeout%02d", k);
			var_open(o, &r, name, "String");
			ksf(o, "Value", "%d", 60 * (1 + k % 5));
			action_id(g, pr, (int)rng_below(&r, (unsigned)pr->nsteps), id);
			jk(o, "Scope");
			jo(o);
			jk(o, "Action");
			ja(o);
			js(o, id);
			jz(o);
			je(o);
			je(o);
		} else if (c < 88) {
			snprintf(name, sizeof name, "Machine.Weight%02d", k);
			var_open(o, &r, name, "String");
			ks(o, "Value", "100");
			scope_one(o, "Machine", "Machines-",
				  sp->machine0 + (long)rng_below(&r, (unsigned)(sp->nenv * MACHINES_PER_ENV)) + 1);
			je(o);
		} else if (c < 92) {
			snprintf(name, sizeof name, "Role.Path%02d", k);
			var_open(o, &r, name, "String");
			ks(o, "Value", "/srv/web");
			kraw(o, "Scope", "{\"Role\":[\"web\"]}");
			je(o);
		} else if (c < 95) {
			snprintf(name, sizeof name, "Tenant.Region%02d", k);
			var_open(o, &r, name, "String");
			ks(o, "Value", "eu-west-1");
			jk(o, "Scope");
			jo(o);
			jk(o, "TenantTag");
			ja(o);
			jtag(o, pr->s, 0, (int)rng_below(&r, (unsigned)tagsets[0].ntags));
			jz(o);
			je(o);
			je(o);
		} else {
			/* Values that are Ids: accounts and worker pools. */
			static const struct {
				const char *type, *prefix;
				int which;
			} typed[] = {
				{"AmazonWebServicesAccount", "Accounts-", ACC_AWS},
				{"AzureAccount", "Accounts-", ACC_AZURE},
				{"UsernamePasswordAccount", "Accounts-", ACC_USERPASS},
				{"WorkerPool", "WorkerPools-", 1},
			};
			unsigned t = rng_below(&r, N(typed));
			snprintf(name, sizeof name, "Typed.%s%02d", typed[t].type, k);
			var_open(o, &r, name, typed[t].type);
			kid(o, "Value", typed[t].prefix,
			    t == 3 ? id_workerpool(pr->s, 1) : id_account(pr->s, typed[t].which));
			je(o);
		}
	}
	jz(o);
	kid(o, "SpaceId", "Spaces-", pr->s + 1);
	krelated_envs(o, sp);
	kmodified(o, T_CONFIG + pr->p, (uint64_t)pr->p);
	je(o);
	row_end(o);
}

static void library_variables(struct gen *g, long s, int i)
{
	struct out *o = &g->out;
	const struct space *sp = &g->spaces[s];
	struct rng r = rng_for(g, S_LVS_VARS, (uint64_t)id_lvs(s, i), 0);
	char name[64], clear[128];

	jo(o);
	ksf(o, "Id", "variableset-LibraryVariableSets-%ld", id_lvs(s, i));
	ksf(o, "OwnerId", "LibraryVariableSets-%ld", id_lvs(s, i));
	ks(o, "OwnerType", "LibraryVariableSet");
	ki(o, "Version", 7);
	jk(o, "Variables");
	ja(o);
	for (int v = 0; v < 12; v++) {
		int e = v % sp->nenv;
		snprintf(name, sizeof name, "%s.Value%02d", i ? "Shared" : "Common", v / 3);
		if (i == 1 && v % 3 == 0) {
			var_open(o, &r, name, "Sensitive");
			secret_text(&r, clear, sizeof clear, "shared");
			ksealed(g, "Value", clear);
		} else {
			var_open(o, &r, name, "String");
			jk(o, "Value");
			jsf(o, "%s-%d", env_name(sp, e), v);
		}
		scope_one(o, "Environment", "Environments-", env_id(sp, e));
		je(o);
	}
	jz(o);
	kid(o, "SpaceId", "Spaces-", s + 1);
	krelated_envs(o, sp);
	kmodified(o, T_CONFIG, (uint64_t)id_lvs(s, i));
	je(o);
	row_end(o);
}

static void gen_variablesets(struct gen *g)
{
	struct proj pr;

	for (long s = 0; s < g->nspaces; s++)
		for (int i = 0; i < NLVS; i++)
			library_variables(g, s, i);
	for (long p = 0; p < g->nprojects; p++) {
		proj_get(g, p, &pr);
		project_variables(g, &pr);
	}
}

/* ---- history ---- */

/*
 * The history passes walk the same plans in the same order, so the n-th
 * release, deployment and task of one pass are the n-th of the others: the
 * Ids line up without being remembered.  A deployment and its server task
 * share their number.
 */
struct walk {
	struct proj pr;
	int nrel, nfill;
	long rel0, dep0; /* Ids before this project's first release, deployment */
};

typedef void walk_fn(struct gen *g, const struct walk *w);

static void walk_history(struct gen *g, walk_fn *fn)
{
	struct walk w;

	w.rel0 = w.dep0 = 0;
	for (long p = 0; p < g->nprojects; p++) {
		proj_get(g, p, &w.pr);
		w.nrel = plan_history(g, &w.pr, g->plan, &w.nfill);
		fn(g, &w);
		w.rel0 += w.nrel;
		for (int r = 0; r < w.nrel; r++)
			w.dep0 += g->plan[r].ndep;
	}
}

static void releases_of(struct gen *g, const struct walk *w)
{
	struct out *o = &g->out;
	const struct proj *pr = &w->pr;
	char ver[32], name[64], pkg[96];

	for (int r = 0; r < w->nrel; r++) {
		const struct rel *x = &g->plan[r];
		release_version(ver, sizeof ver, r, x->hotfix);
		jo(o);
		kid(o, "Id", "Releases-", w->rel0 + r + 1);
		kid(o, "SpaceId", "Spaces-", pr->s + 1);
		kid(o, "ProjectId", "Projects-", pr->p + 1);
		kid(o, "ChannelId", "Channels-", 2 * pr->p + 1 + x->hotfix);
		ks(o, "Version", ver);
		ksf(o, "ReleaseNotes", "Release %s of %s.\n\n- Fixes issue #%d\n- Updates dependencies",
		    ver, pr->name, 1000 + r * 7);
		kb(o, "IgnoreChannelRules", 0);
		kraw(o, "BuildInformation", "[]");
		kt(o, "Assembled", release_time(g, pr, r));
		jk(o, "LibraryVariableSetIds");
		ja(o);
		for (int i = 0; i < NLVS; i++)
			if (pr->lvs & (1u << i))
				jid(o, "LibraryVariableSets-", id_lvs(pr->s, i));
		jz(o);
		jk(o, "SelectedPackages");
		ja(o);
		for (int j = 0; j < pr->nsteps; j++)
			if (pr->step[j] == T_PACKAGE) {
				step_name(pr, j, name, sizeof name);
				package_id(pr, j, pkg, sizeof pkg);
				jo(o);
				ks(o, "ActionName", name);
				ks(o, "PackageReferenceName", "");
				ks(o, "Version", ver);
				je(o);
			}
		jz(o);
		kraw(o, "SelectedGitResources", "[]");
		kn(o, "VersionControlReference");
		kmodified(o, release_time(g, pr, r), (uint64_t)(w->rel0 + r));
		je(o);
		row_end(o);
	}
}

static void gen_releases(struct gen *g)
{
	walk_history(g, releases_of);
}

static void deployments_of(struct gen *g, const struct walk *w)
{
	struct out *o = &g->out;
	const struct proj *pr = &w->pr;
	long dep = w->dep0;
	int seq[MAXENV];
	char ver[32];

	for (int r = 0; r < w->nrel; r++) {
		const struct rel *x = &g->plan[r];
		release_version(ver, sizeof ver, r, x->hotfix);
		env_seq(pr, x->hotfix, seq);
		for (int k = 0; k < x->ndep; k++) {
			long user = (pr->p + r + k) % NUSERS + 1;
			long long t = deploy_time(g, pr, r, k);
			dep++;
			jo(o);
			kid(o, "Id", "Deployments-", dep);
			kid(o, "SpaceId", "Spaces-", pr->s + 1);
			kid(o, "ReleaseId", "Releases-", w->rel0 + r + 1);
			kid(o, "ProjectId", "Projects-", pr->p + 1);
			kid(o, "ChannelId", "Channels-", 2 * pr->p + 1 + x->hotfix);
			kid(o, "EnvironmentId", "Environments-", env_id(pr->sp, seq[k]));
			if (pr->tenanted)
				kid(o, "TenantId", "Tenants-", tenant_of(pr));
			else
				kn(o, "TenantId");
			kid(o, "TaskId", "ServerTasks-", dep);
			ksf(o, "Name", "Deploy to %s", env_name(pr->sp, seq[k]));
			kt(o, "Created", t);
			kid(o, "DeployedById", "Users-", user);
			ksf(o, "DeployedBy", "user%02ld", user);
			kraw(o, "SpecificMachineIds", "[]");
			kraw(o, "ExcludedMachineIds", "[]");
			kraw(o, "SkipActions", "[]");
			kb(o, "ForcePackageDownload", 0);
			kb(o, "UseGuidedFailure", 0);
			kn(o, "Comments");
			kraw(o, "FormValues", "{}");
			kn(o, "QueueTime");
			kn(o, "QueueTimeExpiry");
			kb(o, "FailureEncountered", (x->failed >> k) & 1);
			jk(o, "Changes");
			ja(o);
			jo(o);
			ks(o, "Version", ver);
			ksf(o, "ReleaseNotes", "Release %s of %s.", ver, pr->name);
			kraw(o, "BuildInformation", "[]");
			kraw(o, "WorkItems", "[]");
			kraw(o, "Commits", "[]");
			je(o);
			jz(o);
			ksf(o, "ChangesMarkdown", "## %s\n\nRelease %s of %s.\n", ver, ver, pr->name);
			kmodified(o, t, (uint64_t)dep);
			je(o);
			row_end(o);
		}
	}
}

static void gen_deployments(struct gen *g)
{
	walk_history(g, deployments_of);
}

static void servertasks_of(struct gen *g, const struct walk *w)
{
	struct out *o = &g->out;
	const struct proj *pr = &w->pr;
	long dep = w->dep0;
	int seq[MAXENV];
	char ver[32];

	for (int r = 0; r < w->nrel; r++) {
		const struct rel *x = &g->plan[r];
		release_version(ver, sizeof ver, r, x->hotfix);
		env_seq(pr, x->hotfix, seq);
		for (int k = 0; k < x->ndep; k++) {
			long env = env_id(pr->sp, seq[k]);
			long long q = deploy_time(g, pr, r, k), secs = task_seconds(pr, r, k);
			int failed = (x->failed >> k) & 1;
			dep++;
			jo(o);
			kid(o, "Id", "ServerTasks-", dep);
			kid(o, "SpaceId", "Spaces-", pr->s + 1);
			ks(o, "Name", "Deploy");
			ksf(o, "Description", "Deploy %s release %s to %s", pr->name, ver,
			    env_name(pr->sp, seq[k]));
			jk(o, "Arguments");
			jo(o);
			kid(o, "DeploymentId", "Deployments-", dep);
			je(o);
			ks(o, "State", failed ? "Failed" : "Success");
			kt(o, "QueueTime", q);
			kn(o, "QueueTimeExpiry");
			kt(o, "StartTime", q + 2);
			kt(o, "LastUpdatedTime", q + 2 + secs);
			kt(o, "CompletedTime", q + 2 + secs);
			ksf(o, "Duration", "%lld seconds", secs);
			ks(o, "ServerNode", (dep & 1) ? "octopus-node-1" : "octopus-node-2");
			ks(o, "ErrorMessage", failed ? "The deployment failed because one or more steps failed." : "");
			kb(o, "HasBeenPickedUpByProcessor", 1);
			kb(o, "IsCompleted", 1);
			kb(o, "FinishedSuccessfully", !failed);
			kb(o, "HasPendingInterruptions", 0);
			kb(o, "CanRerun", failed);
			kb(o, "HasWarningsOrErrors", failed || k % 5 == 4);
			ksf(o, "ConcurrencyTag", "deployment/Projects-%ld/Environments-%ld", pr->p + 1, env);
			kid(o, "ProjectId", "Projects-", pr->p + 1);
			kid(o, "EnvironmentId", "Environments-", env);
			if (pr->tenanted)
				kid(o, "TenantId", "Tenants-", tenant_of(pr));
			else
				kn(o, "TenantId");
			kmodified(o, q + 2 + secs, (uint64_t)dep);
			je(o);
			row_end(o);
		}
	}
}

static void gen_servertasks(struct gen *g)
{
	walk_history(g, servertasks_of);
}

/* An event's message, built from pieces; the pieces that name documents
 * become MessageReferences with their place in the message. */
struct msg {
	char text[512];
	size_t len;
	int nrefs;
	struct {
		const char *prefix;
		long id;
		size_t start, len;
	} refs[4];
};

static void msg_add(struct msg *m, const char *s)
{
	size_t n = strlen(s);

	if (m->len + n >= sizeof m->text)
		n = sizeof m->text - 1 - m->len;
	memcpy(m->text + m->len, s, n);
	m->len += n;
	m->text[m->len] = 0;
}

static void msg_ref(struct msg *m, const char *s, const char *prefix, long id)
{
	m->refs[m->nrefs].prefix = prefix;
	m->refs[m->nrefs].id = id;
	m->refs[m->nrefs].start = m->len;
	msg_add(m, s);
	m->refs[m->nrefs].len = m->len - m->refs[m->nrefs].start;
	m->nrefs++;
}

static void event_doc(struct gen *g, const struct proj *pr, long id, const char *category,
		      long long t, const struct msg *m, const long *related, const char *const *rprefix,
		      int nrelated)
{
	struct out *o = &g->out;
	long user = (pr->p + id) % NUSERS + 1;

	jo(o);
	kid(o, "Id", "Events-", id);
	jk(o, "RelatedDocumentIds");
	ja(o);
	for (int i = 0; i < nrelated; i++)
		jid(o, rprefix[i], related[i]);
	jz(o);
	ks(o, "Category", category);
	kid(o, "UserId", "Users-", user);
	ksf(o, "Username", "user%02ld", user);
	kb(o, "IsService", user == NUSERS);
	ks(o, "IdentityEstablishedWith", user == NUSERS ? "API key" : "Session cookie");
	ks(o, "UserAgent", "Mozilla/5.0 (X11; Linux x86_64) Octopus/2024.4");
	kt(o, "Occurred", t);
	ks(o, "Message", m->text);
	jk(o, "MessageReferences");
	ja(o);
	for (int i = 0; i < m->nrefs; i++) {
		jo(o);
		kid(o, "ReferencedDocumentId", m->refs[i].prefix, m->refs[i].id);
		ki(o, "StartIndex", (long long)m->refs[i].start);
		ki(o, "Length", (long long)m->refs[i].len);
		je(o);
	}
	jz(o);
	kn(o, "Comments");
	kn(o, "Details");
	kraw(o, "ChangeDetails", "{\"DocumentContext\":null,\"Differences\":null}");
	ksf(o, "IpAddress", "10.%ld.%ld.%ld", (id >> 16) & 255, (id >> 8) & 255, id & 255);
	kid(o, "SpaceId", "Spaces-", pr->s + 1);
	kdataversion(o, (uint64_t)id);
	je(o);
	row_end(o);
}

static void events_of(struct gen *g, const struct walk *w)
{
	const struct proj *pr = &w->pr;
	long dep = w->dep0;
	int seq[MAXENV];
	char ver[32];

	for (int r = 0; r < w->nrel; r++) {
		const struct rel *x = &g->plan[r];
		long rel = w->rel0 + r + 1;
		struct msg m = {{0}, 0, 0, {{0}}};
		release_version(ver, sizeof ver, r, x->hotfix);
		env_seq(pr, x->hotfix, seq);

		msg_add(&m, "Release ");
		msg_ref(&m, ver, "Releases-", rel);
		msg_add(&m, " created for ");
		msg_ref(&m, pr->name, "Projects-", pr->p + 1);
		{
			long ids[] = {rel, pr->p + 1, 2 * pr->p + 1 + x->hotfix};
			const char *const pre[] = {"Releases-", "Projects-", "Channels-"};
			event_doc(g, pr, ++g->events, "Created", release_time(g, pr, r), &m, ids, pre, 3);
		}
		for (int k = 0; k < x->ndep; k++) {
			long env = env_id(pr->sp, seq[k]);
			int failed = (x->failed >> k) & 1;
			dep++;
			memset(&m, 0, sizeof m);
			msg_add(&m, "Deploy to ");
			msg_ref(&m, env_name(pr->sp, seq[k]), "Environments-", env);
			msg_add(&m, failed ? " failed for " : " succeeded for ");
			msg_ref(&m, pr->name, "Projects-", pr->p + 1);
			msg_add(&m, " release ");
			msg_ref(&m, ver, "Releases-", rel);
			msg_add(&m, " to ");
			msg_ref(&m, env_name(pr->sp, seq[k]), "Environments-", env);
			long ids[] = {dep, pr->p + 1, rel, env, dep};
			const char *const pre[] = {"Deployments-", "Projects-", "Releases-",
						   "Environments-", "ServerTasks-"};
			event_doc(g, pr, ++g->events, failed ? "DeploymentFailed" : "DeploymentSucceeded",
				  deploy_time(g, pr, r, k) + 2 + task_seconds(pr, r, k), &m, ids, pre, 5);
		}
	}
	for (int f = 0; f < w->nfill; f++) {
		struct msg m = {{0}, 0, 0, {{0}}};
		char rev[32];
		msg_add(&m, "Variable set for ");
		msg_ref(&m, pr->name, "Projects-", pr->p + 1);
		snprintf(rev, sizeof rev, " modified (revision %d)", f + 1);
		msg_add(&m, rev);
		long ids[] = {pr->p + 1};
		const char *const pre[] = {"Projects-"};
		event_doc(g, pr, ++g->events, "Modified", T0 - 86400 + f * 3600 + pr->p % 3600, &m, ids,
			  pre, 1);
	}
}

static void gen_events(struct gen *g)
{
	g->events = 0;
	walk_history(g, events_of);
}

/* ---- loading ---- */

static const struct table {
	const char *name;
	void (*fn)(struct gen *g);
} tables[] = {
	{"users", gen_users},
	{"teams", gen_teams},
	{"spaces", gen_spaces},
	{"environments", gen_environments},
	{"lifecycles", gen_lifecycles},
	{"projectgroups", gen_projectgroups},
	{"feeds", gen_feeds},
	{"accounts", gen_accounts},
	{"workerpools", gen_workerpools},
	{"machinepolicies", gen_machinepolicies},
	{"machines", gen_machines},
	{"tagsets", gen_tagsets},
	{"tenants", gen_tenants},
	{"actiontemplates", gen_actiontemplates},
	{"libraryvariablesets", gen_libraryvariablesets},
	{"projects", gen_projects},
	{"channels", gen_channels},
	{"deploymentprocesses", gen_deploymentprocesses},
	{"deploymentsettings", gen_deploymentsettings},
	{"variablesets", gen_variablesets},
	{"releases", gen_releases},
	{"deployments", gen_deployments},
	{"servertasks", gen_servertasks},
	{"events", gen_events},
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void exec_or_die(PGconn *conn, const char *sql, const char *what)
{
	PGresult *r = PQexec(conn, sql);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		om_die(2, "%s: %s", what, pg_msg(conn));
	PQclear(r);
}

/* Refuse a store that holds documents: the generated Ids would collide with
 * them, and a half-generated instance is worse than none. */
static void check_empty(PGconn *conn)
{
	char sql[8192];
	size_t n = 0;
	PGresult *r;

	for (size_t i = 0; i < om_nkinds; i++) {
		int k = snprintf(sql + n, sizeof sql - n,
				 "%sSELECT '%s' WHERE EXISTS (SELECT 1 FROM %s)", i ? " UNION ALL " : "",
				 om_kinds[i].table, om_kinds[i].table);
		if (k < 0 || (size_t)k >= sizeof sql - n)
			om_die(2, "internal error: too many kinds");
		n += (size_t)k;
	}
	r = PQexec(conn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		om_die(2, "cannot look at the store: %s", pg_msg(conn));
	if (PQntuples(r) > 0)
		om_die(2, "the store is not empty: table %s holds documents", PQgetvalue(r, 0, 0));
	PQclear(r);
}

static void load_table(struct gen *g, const struct table *t, int verbose)
{
	char sql[128];
	PGresult *r;
	double t0 = now();
	long long bytes0 = g->out.json_bytes;

	snprintf(sql, sizeof sql, "COPY %s (doc) FROM STDIN", t->name);
	r = PQexec(g->conn, sql);
	if (PQresultStatus(r) != PGRES_COPY_IN)
		om_die(2, "cannot load %s: %s", t->name, pg_msg(g->conn));
	PQclear(r);
	g->out.rows = 0;
	t->fn(g);
	out_flush(&g->out);
	if (PQputCopyEnd(g->conn, NULL) != 1)
		om_die(2, "cannot load %s: %s", t->name, pg_msg(g->conn));
	r = PQgetResult(g->conn);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		om_die(2, "cannot load %s: %s", t->name, pg_msg(g->conn));
	PQclear(r);
	while ((r = PQgetResult(g->conn)))
		PQclear(r);
	if (verbose)
		fprintf(stderr, "om-gen: %-20s %9ld documents %8.1f MB %7.2f s\n", t->name,
			g->out.rows, (double)(g->out.json_bytes - bytes0) / 1e6, now() - t0);
}

/* Peak resident memory in kB, from /proc (0 where there is none). */
static long peak_rss_kb(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = 0;

	if (!f)
		return 0;
	while (fgets(line, sizeof line, f))
		if (strncmp(line, "VmHWM:", 6) == 0)
			kb = strtol(line + 6, NULL, 10);
	fclose(f);
	return kb;
}

/* Lay out the spaces: ceil(N / 500) of them, with their Id ranges. */
static void plan_spaces(struct gen *g)
{
	long env = 0, machine = 0, pg = 0, tenant = 0;

	g->nspaces = (g->nprojects + PER_SPACE - 1) / PER_SPACE;
	if (!(g->spaces = calloc((size_t)g->nspaces, sizeof *g->spaces)))
		om_die(2, "out of memory");
	for (long s = 0; s < g->nspaces; s++) {
		struct space *sp = &g->spaces[s];
		struct rng r = rng_for(g, S_SPACE, (uint64_t)s, 0);
		sp->first = s * PER_SPACE;
		sp->n = g->nprojects - sp->first < PER_SPACE ? g->nprojects - sp->first : PER_SPACE;
		sp->nenv = 4 + (int)rng_below(&r, MAXENV - 3);
		sp->env0 = env;
		env += sp->nenv;
		sp->machine0 = machine;
		machine += sp->nenv * MACHINES_PER_ENV;
		sp->npg = (int)((sp->n + 39) / 40);
		sp->pg0 = pg;
		pg += sp->npg;
		sp->ntenant = (int)(3 + sp->n / 20 < 25 ? 3 + sp->n / 20 : 25);
		sp->tenant0 = tenant;
		tenant += sp->ntenant;
	}
}

static const char usage_text[] =
	"usage: om-gen --db CONNINFO --master-key-file FILE --projects N\n"
	"              [--seed S] [--history K] [--verbose]\n"
	"\n"
	"Fill an empty om store (made by om-store init) with a synthetic instance\n"
	"of N projects, for the benchmarks.\n"
	"\n"
	"  --db CONNINFO           libpq connection string or URI (default: PG* variables)\n"
	"  --master-key-file FILE  the store's master key (or OM_MASTER_KEY_FILE)\n"
	"  --projects N            projects to make, 500 to a space\n"
	"  --seed S                the seed of everything but the secrets' nonces (default 1)\n"
	"  --history K             history documents per project (default 94: a project\n"
	"                          is then 100 documents)\n"
	"  --verbose               documents, size and time per table, and peak memory\n"
	"  -h, --help              show this help and exit\n"
	"  -V, --version           show the version and exit\n";

static long parse_count(const char *opt, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		om_die_usage("%s: '%s' is not a number from %ld to %ld", opt, s, min, max);
	return v;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},
		{"master-key-file", required_argument, NULL, 'k'},
		{"projects", required_argument, NULL, 'p'},
		{"seed", required_argument, NULL, 's'},
		{"history", required_argument, NULL, 'H'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct gen g = {0};
	const char *db = NULL, *keyfile = getenv("OM_MASTER_KEY_FILE");
	struct om_err err;
	int c, verbose = 0, have_projects = 0;
	double t0;

	om_progname = "om-gen";
	g.seed = 1;
	g.history = DEFAULT_HISTORY;
	if (keyfile && !*keyfile)
		keyfile = NULL;
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'k': keyfile = optarg; break;
		case 'p':
			/* Ids stay below 2^31 and Channels-(2N) with room to spare. */
			g.nprojects = parse_count("--projects", optarg, 1, 100000000);
			have_projects = 1;
			break;
		case 's': {
			char *end;
			errno = 0;
			g.seed = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-')
				om_die_usage("--seed: '%s' is not a number", optarg);
			break;
		}
		case 'H': g.history = (int)parse_count("--history", optarg, 0, 1000000); break;
		case 'v': verbose = 1; break;
		case 'h': fputs(usage_text, stdout); om_close_stdout(); return 0;
		case 'V': om_print_version(); return 0;
		default: om_die_usage(NULL);
		}
	}
	if (optind < argc)
		om_die_usage("unexpected argument '%s'", argv[optind]);
	if (!have_projects)
		om_die_usage("--projects N is required");
	if (!keyfile)
		om_die_usage("--master-key-file is required (or OM_MASTER_KEY_FILE)");

	t0 = now();
	if (om_crypto_init(&err) < 0)
		om_die(2, "%s", err.msg);
	if (!(g.key = om_key_load(keyfile, &err)))
		om_die(2, "%s", err.msg);
	if (!(g.conn = om_store_connect(db, &err)) || om_store_open(g.conn, &err) < 0)
		om_die(2, "%s", err.msg);
	switch (om_store_check_key(g.conn, g.key, &err)) {
	case 0: break;
	case 1: om_die(2, "%s: %s", keyfile, err.msg);
	default: om_die(2, "%s", err.msg);
	}
	plan_spaces(&g);
	if (!(g.plan = calloc((size_t)g.history / 5 + 1, sizeof *g.plan)))
		om_die(2, "out of memory");
	g.out.conn = g.conn;
	g.out.first[0] = 1;

	/* One transaction: a failed run leaves the store empty. */
	exec_or_die(g.conn, "BEGIN", "cannot begin");
	check_empty(g.conn);
	long total = 0;
	for (size_t i = 0; i < N(tables); i++) {
		load_table(&g, &tables[i], verbose);
		total += g.out.rows;
	}
	exec_or_die(g.conn, "SELECT om_sync_ids()", "cannot move the Id allocators");
	exec_or_die(g.conn, "COMMIT", "cannot commit");

	fprintf(stderr, "om-gen: %ld documents (%ld projects in %ld spaces, %.1f MB of JSON, "
		"%ld secrets) in %.1f s\n", total, g.nprojects, g.nspaces,
		(double)g.out.json_bytes / 1e6, g.sealed, now() - t0);
	if (verbose)
		fprintf(stderr, "om-gen: peak RSS %ld kB\n", peak_rss_kb());
	PQfinish(g.conn);
	om_key_free(g.key);
	free(g.out.buf);
	free(g.plan);
	free(g.spaces);
	return 0;
}
