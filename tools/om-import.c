/*
 * om-import - write bundles into a server, matched by name, all or nothing.
 *
 * Reads one or more bundles (directories, .tar, .tar.zst or standard
 * input), matches their documents to the target by identity, remaps every
 * reference to the target's Ids and writes everything in one transaction
 * (format/import.h).  Prints the plan with --dry-run and a summary always.
 * See docs/om-import.1.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "../format/import.h"
#include "../format/model.h"
#include "../format/seal.h"
#include "../format/store.h"
#include "common.h"
#include "password.h"

static const char usage_text[] =
	"usage: om-import [--db CONNINFO] --master-key-file FILE [options] [BUNDLE...]\n"
	"\n"
	"  --db CONNINFO           libpq connection string or URI (default: PG* variables)\n"
	"  --master-key-file FILE  the target server's master key (or OM_MASTER_KEY_FILE)\n"
	"  --password-file FILE    the bundle password is the first line of FILE\n"
	"  --password-fd N         the bundle password is the first line read from N\n"
	"  --overwrite             replace documents that exist in the target\n"
	"  --dry-run               do the whole import, print the plan, change nothing\n"
	"  --json                  print the plan and summary as JSON\n"
	"  --online                allow a target that is not in maintenance mode\n"
	"  --ignore-version-check  allow a bundle of another server version\n"
	"  --space-map FROM=TO     import the bundle's space FROM into space TO (repeatable)\n"
	"  --home DIR              the target's home directory, for task logs, artifacts\n"
	"                          and packages\n"
	"  -q, --quiet             no progress on a terminal\n"
	"  -v, --verbose           the counts of each kind at the end\n"
	"  -h, --help              show this help and exit\n"
	"  -V, --version           show the version and exit\n";

struct out {
	int dry_run, json, verbose;
	unsigned long (*kinds)[OM_IMPORT_NACTIONS]; /* -v: per kind and action */
	json_t *docs;
	struct om_pwsource pwsrc;
	struct om_password pw; /* read once, when a bundle needs it */
};

/* The password of password-encrypted bundles, read on first use. */
static const char *get_password(void *ctx, size_t *len, struct om_err *err)
{
	struct out *o = ctx;

	/* A prompt on a line of its own, not after the progress. */
	if (!o->pw.p && !om_password_given(&o->pwsrc))
		om_progress_end();
	if (!o->pw.p && om_password_get(&o->pwsrc, 0, &o->pw, err) < 0)
		return NULL;
	*len = o->pw.len;
	return o->pw.p;
}

/* On SIGINT and friends: the terminal's echo back (a prompt may be under
 * way) and the staged files out of the home directory; the server rolls
 * the transaction back when the connection goes. */
static void on_signal(int sig)
{
	om_password_restore_tty();
	om_import_cleanup_on_signal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void on_progress(void *ctx, const char *phase, const char *kind, unsigned long done,
			unsigned long total)
{
	(void)ctx;
	if (!kind)
		om_progress("%s", phase);
	else if (!total)
		om_progress("%s %lu %s (%s%s)", phase, done, OM_DOCUMENTS(done), kind,
			    om_progress_rate(phase, done, 0));
	else if (strcmp(phase, "matching") == 0)
		om_progress("%s kind %lu of %lu (%s%s)", phase, done, total, kind,
			    om_progress_rate(phase, done, total));
	else
		om_progress("%s %lu of %lu %s (%s%s)", phase, done, total, OM_DOCUMENTS(total),
			    kind, om_progress_rate(phase, done, total));
}

static void on_item(const struct om_import_item *it, void *ctx)
{
	struct out *o = ctx;

	om_progress_end(); /* the plan comes once the import is done */
	if (o->kinds)
		o->kinds[it->kind - om_kinds][it->action]++;

	if (o->json) {
		json_array_append_new(o->docs, json_pack("{s:s, s:s, s:s, s:s, s:s}",
			"Action", om_import_action_name(it->action), "Bundle", it->bundle,
			"Id", it->id ? it->id : "", "Kind", it->kind->name, "Path", it->path));
	} else if (o->dry_run) {
		printf("%-11s %s\n", om_import_action_name(it->action), it->path);
	}
}

static void on_warn(const char *msg, void *ctx)
{
	(void)ctx;
	om_progress_end();
	fprintf(stderr, "%s: warning: %s\n", om_progname, msg);
}

/* -v: a table of the documents of each kind by action, the kinds the
 * bundles hold only. */
static void print_kinds(const struct out *o)
{
	printf("%-26s %8s %12s %7s %8s %10s\n", "kind", "created", "overwritten", "merged",
	       "skipped", "unchanged");
	for (size_t k = 0; k < om_nkinds; k++) {
		const unsigned long *n = o->kinds[k];
		if (!(n[OM_IMPORT_CREATED] | n[OM_IMPORT_OVERWRITTEN] | n[OM_IMPORT_MERGED] |
		      n[OM_IMPORT_SKIPPED] | n[OM_IMPORT_UNCHANGED]))
			continue;
		printf("%-26s %8lu %12lu %7lu %8lu %10lu\n", om_kinds[k].name,
		       n[OM_IMPORT_CREATED], n[OM_IMPORT_OVERWRITTEN], n[OM_IMPORT_MERGED],
		       n[OM_IMPORT_SKIPPED], n[OM_IMPORT_UNCHANGED]);
	}
}

int main(int argc, char **argv)
{
	enum { O_OVERWRITE = 256, O_DRY, O_JSON, O_ONLINE, O_IGNVER, O_SPACEMAP, O_HOME, O_PWFILE,
	       O_PWFD };
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},
		{"master-key-file", required_argument, NULL, 'k'},
		{"password-file", required_argument, NULL, O_PWFILE},
		{"password-fd", required_argument, NULL, O_PWFD},
		{"overwrite", no_argument, NULL, O_OVERWRITE},
		{"dry-run", no_argument, NULL, O_DRY},
		{"json", no_argument, NULL, O_JSON},
		{"online", no_argument, NULL, O_ONLINE},
		{"ignore-version-check", no_argument, NULL, O_IGNVER},
		{"space-map", required_argument, NULL, O_SPACEMAP},
		{"home", required_argument, NULL, O_HOME},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static const char *const stdin_only[] = {"-"};
	const char **maps = calloc((size_t)argc + 1, sizeof *maps);
	int nmaps = 0, c, changed, quiet = 0;
	const char *db = NULL, *keyfile = getenv("OM_MASTER_KEY_FILE");
	struct om_import_opts o = {0};
	struct out out = {0, 0, 0, NULL, NULL, {NULL, -1, "OM_PASSWORD", "Bundle password: "},
			  {NULL, 0}};
	unsigned long counts[OM_IMPORT_NACTIONS];
	struct om_key *key;
	struct om_err err;
	PGconn *conn;

	om_progname = "om-import";
	if (!maps)
		om_die(2, "out of memory");
	if (keyfile && !*keyfile)
		keyfile = NULL;
	while ((c = getopt_long(argc, argv, "qvhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': db = optarg; break;
		case 'k': keyfile = optarg; break;
		case O_OVERWRITE: o.overwrite = 1; break;
		case O_DRY: o.dry_run = 1; break;
		case O_JSON: out.json = 1; break;
		case O_ONLINE: o.online = 1; break;
		case O_IGNVER: o.ignore_version = 1; break;
		case O_SPACEMAP:
			if (!strchr(optarg, '=') || *optarg == '=' || !strchr(optarg, '=')[1])
				om_die_usage("--space-map '%s': not FROM=TO", optarg);
			maps[nmaps++] = optarg;
			break;
		case O_HOME: o.home = optarg; break;
		case 'q': quiet = 1; break;
		case 'v': out.verbose = 1; break;
		case O_PWFILE: out.pwsrc.file = optarg; break;
		case O_PWFD:
			if ((out.pwsrc.fd = om_password_parse_fd(optarg)) < 0)
				om_die_usage("--password-fd: '%s' is not a file descriptor number",
					     optarg);
			break;
		case 'h': free(maps); fputs(usage_text, stdout); om_close_stdout(); return 0;
		case 'V': free(maps); om_print_version(); return 0;
		default: om_die_usage(NULL);
		}
	}
	if (!keyfile)
		om_die_usage("--master-key-file is required (or OM_MASTER_KEY_FILE)");
	for (int i = optind; i < argc; i++)
		for (int j = optind; j < i; j++)
			if (strcmp(argv[i], "-") == 0 && strcmp(argv[j], "-") == 0)
				om_die_usage("standard input can be read only once");
	for (int i = optind; i <= argc; i++)
		if ((i == argc ? optind == argc : strcmp(argv[i], "-") == 0) && isatty(STDIN_FILENO))
			om_die_usage("standard input is a terminal: name a bundle, or pipe one in");
	o.bundles = optind < argc ? (const char *const *)argv + optind : stdin_only;
	o.nbundles = optind < argc ? (size_t)(argc - optind) : 1;
	o.space_map = nmaps ? maps : NULL;
	o.item = on_item;
	o.password = get_password;
	o.warn = on_warn;
	o.progress = on_progress;
	o.ctx = &out;
	om_progress_init(quiet);
	if (out.verbose && !out.json && !(out.kinds = calloc(om_nkinds, sizeof *out.kinds)))
		om_die(2, "out of memory");
	out.dry_run = o.dry_run;
	/* A dry run rolls back: it changes nothing, so it needs neither
	 * maintenance mode nor --online. */
	if (o.dry_run)
		o.online = 1;
	if (out.json && !(out.docs = json_array()))
		om_die(2, "out of memory");

	if (om_crypto_init(&err) < 0 || om_model_check(&err) < 0)
		om_die(2, "%s", err.msg);
	if (!(key = om_key_load(keyfile, &err)))
		om_die(2, "%s", err.msg);
	o.key = key;
	if (!(conn = om_store_connect(db, &err))) {
		om_key_free(key);
		om_die(2, "%s", err.msg);
	}
	/* The server rolls the transaction back when the connection goes. */
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	PQclear(PQexec(conn, "SET application_name = 'om-import'"));
	c = om_import(conn, &o, counts, &err);
	om_progress_end();
	if (c != 0) {
		om_password_free(&out.pw);
		PQfinish(conn);
		om_key_free(key);
		om_die(c > 0 ? 1 : 2, "%s", err.msg);
	}
	om_password_free(&out.pw);
	PQfinish(conn);
	om_key_free(key);
	changed = counts[OM_IMPORT_CREATED] + counts[OM_IMPORT_OVERWRITTEN] +
		  counts[OM_IMPORT_MERGED] > 0;
	if (out.json) {
		json_t *j = json_pack("{s:o, s:b, s:b, s:{s:I, s:I, s:I, s:I, s:I}}",
			"Documents", out.docs, "DryRun", o.dry_run, "Changed", changed, "Summary",
			"Created", (json_int_t)counts[OM_IMPORT_CREATED],
			"Overwritten", (json_int_t)counts[OM_IMPORT_OVERWRITTEN],
			"Merged", (json_int_t)counts[OM_IMPORT_MERGED],
			"Skipped", (json_int_t)counts[OM_IMPORT_SKIPPED],
			"Unchanged", (json_int_t)counts[OM_IMPORT_UNCHANGED]);
		if (!j || json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS) < 0)
			om_die(2, "out of memory");
		putchar('\n');
		json_decref(j);
	} else {
		printf("%s%lu created, %lu overwritten, %lu merged, %lu skipped, %lu unchanged\n",
		       o.dry_run ? "dry run: " : "", counts[OM_IMPORT_CREATED],
		       counts[OM_IMPORT_OVERWRITTEN], counts[OM_IMPORT_MERGED],
		       counts[OM_IMPORT_SKIPPED], counts[OM_IMPORT_UNCHANGED]);
		if (!changed && counts[OM_IMPORT_SKIPPED])
			printf("nothing changed: %lu document%s differ%s from the target's and %s "
			       "skipped (--overwrite replaces %s)\n", counts[OM_IMPORT_SKIPPED],
			       counts[OM_IMPORT_SKIPPED] == 1 ? "" : "s",
			       counts[OM_IMPORT_SKIPPED] == 1 ? "s" : "",
			       counts[OM_IMPORT_SKIPPED] == 1 ? "was" : "were",
			       counts[OM_IMPORT_SKIPPED] == 1 ? "it" : "them");
		else if (!changed)
			puts("nothing to change: the target already holds the bundle");
		else if (o.dry_run)
			puts("nothing changed: a dry run");
		if (out.kinds)
			print_kinds(&out);
	}
	free(out.kinds);
	free(maps);
	om_close_stdout();
	return 0;
}
