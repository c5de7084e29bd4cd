/*
 * om-export - write a server's configuration as a bundle.
 *
 * Reads the store in one consistent snapshot and writes canonical JSON at
 * name-based paths (spec/bundle.md) to a directory, a .tar, a .tar.zst or
 * standard output.  Secrets leave the store in the clear only into a pipe
 * (to om-encrypt), or as keyed fingerprints with --redact-secrets.  See
 * docs/om-export.1.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../format/bundle.h"
#include "../format/export.h"
#include "../format/model.h"
#include "../format/seal.h"
#include "../format/store.h"
#include "common.h"

static const char usage_text[] =
	"usage: om-export [--db CONNINFO] --master-key-file FILE [options] [-o PATH]\n"
	"\n"
	"  --db CONNINFO           libpq connection string or URI (default: PG* variables)\n"
	"  --master-key-file FILE  the server's master key (or OM_MASTER_KEY_FILE)\n"
	"  --space NAME            export this space only\n"
	"  --project NAME          export this project and what it needs (repeatable)\n"
	"  --project-group NAME    export the projects of this group and what they need\n"
	"  --ignore-history        leave out events, server tasks and artifacts\n"
	"  --ignore-deployments    leave out releases and deployments\n"
	"  --ignore-machines       leave out deployment targets and workers\n"
	"  --ignore-tenants        leave out tenants and their variables\n"
	"  --ignore-certificates   leave out certificates\n"
	"  --include-tasklogs      add the task logs from the home directory\n"
	"  --include-artifacts     add the artifacts from the home directory\n"
	"  --include-packages      add the built-in feed's packages from the home directory\n"
	"  --home DIR              the server's home directory\n"
	"  --inline-scripts=MODE   inline (the default), extract or copy step scripts\n"
	"                          to files beside the process\n"
	"  --redact-secrets        write keyed fingerprints instead of secrets\n"
	"  --allow-clear-secrets   allow clear secrets in a file or directory (mode 0600)\n"
	"  -o, --output PATH       a directory, X.tar, X.tar.zst, or - (standard output)\n"
	"  -j, --jobs N            read with N connections at once (1 to 64; default 1)\n"
	"  -q, --quiet             no progress on a terminal\n"
	"  -v, --verbose           the documents of each kind and the time, at the end\n"
	"  -h, --help              show this help and exit\n"
	"  -V, --version           show the version and exit\n";

/* On SIGINT, SIGTERM or SIGHUP: remove the temporary outputs, say so on a
 * line of its own (after the progress line, on a terminal) and exit 2, as
 * for any trouble.  Async-signal-safe calls only. */
static int erase_progress;

static void on_signal(int sig)
{
	static const char msg[] = "\r\033[Kom-export: interrupted\n";
	ssize_t n;

	(void)sig;
	om_bundle_cleanup_on_signal();
	n = write(STDERR_FILENO, erase_progress ? msg : msg + 4, sizeof msg - (erase_progress ? 1 : 5));
	(void)n;
	_exit(2);
}

/* -v: documents of each kind, counted as they are read (the manifest's
 * Counts). */
static unsigned long *kind_counts;
static unsigned long nfiles_written;

static void progress(void *ctx, const char *phase, const char *kind, unsigned long done,
		     unsigned long total)
{
	(void)ctx;
	if (kind_counts && kind && phase[0] == 'r') {
		for (size_t k = 0; k < om_nkinds; k++)
			if (om_kinds[k].name == kind || strcmp(om_kinds[k].name, kind) == 0) {
				kind_counts[k]++;
				break;
			}
	} else if (total) {
		nfiles_written = total;
	}
	if (total)
		om_progress("%s %lu of %lu %s%s", phase, done, total, total == 1 ? "file" : "files",
			    om_progress_rate(phase, done, total));
	else
		om_progress("%s %lu %s (%s%s)", phase, done, OM_DOCUMENTS(done), kind,
			    om_progress_rate(phase, done, 0));
}

int main(int argc, char **argv)
{
	enum { O_SPACE = 256, O_PROJECT, O_GROUP, O_SCRIPTS, O_HOME, O_REDACT, O_ALLOW_CLEAR, O_IGN, O_INC = O_IGN + 8 };
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},
		{"master-key-file", required_argument, NULL, 'k'},
		{"space", required_argument, NULL, O_SPACE},
		{"project", required_argument, NULL, O_PROJECT},
		{"project-group", required_argument, NULL, O_GROUP},
		{"ignore-history", no_argument, NULL, O_IGN + OM_HIST_HISTORY},
		{"ignore-deployments", no_argument, NULL, O_IGN + OM_HIST_DEPLOYMENTS},
		{"ignore-machines", no_argument, NULL, O_IGN + OM_HIST_MACHINES},
		{"ignore-tenants", no_argument, NULL, O_IGN + OM_HIST_TENANTS},
		{"ignore-certificates", no_argument, NULL, O_IGN + OM_HIST_CERTIFICATES},
		{"include-tasklogs", no_argument, NULL, O_INC + 0},
		{"include-artifacts", no_argument, NULL, O_INC + 1},
		{"include-packages", no_argument, NULL, O_INC + 2},
		{"home", required_argument, NULL, O_HOME},
		{"inline-scripts", required_argument, NULL, O_SCRIPTS},
		{"redact-secrets", no_argument, NULL, O_REDACT},
		{"allow-clear-secrets", no_argument, NULL, O_ALLOW_CLEAR},
		{"output", required_argument, NULL, 'o'},
		{"jobs", required_argument, NULL, 'j'},
		{"quiet", no_argument, NULL, 'q'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static const char *const file_classes[] = {"tasklogs", "artifacts", "packages"};
	const char *files[4] = {NULL};
	/* At most argc names of each. */
	const char **projects = calloc((size_t)argc + 1, sizeof *projects);
	const char **groups = calloc((size_t)argc + 1, sizeof *groups);
	int nprojects = 0, ngroups = 0;
	int nfiles = 0, allow_clear = 0, quiet = 0, verbose = 0, c;
	struct timespec t0, t1;
	const char *db = NULL, *keyfile = getenv("OM_MASTER_KEY_FILE"), *out = "-", *v;
	struct om_export_opts o = {0};
	struct om_bundle_writer *w;
	struct om_key *key;
	struct om_err err;
	PGconn *conn;

	om_progname = "om-export";
	if (!projects || !groups)
		om_die(2, "out of memory");
	if (keyfile && !*keyfile)
		keyfile = NULL;
	while ((c = getopt_long(argc, argv, "o:j:qvhV", longopts, NULL)) != -1) {
		if (c >= O_IGN && c < O_IGN + 8) {
			o.ignore |= 1u << (c - O_IGN);
			continue;
		}
		if (c >= O_INC && c < O_INC + 3) {
			const char *f = file_classes[c - O_INC];
			int seen = 0;
			for (int i = 0; i < nfiles; i++)
				seen |= files[i] == f;
			if (!seen)
				files[nfiles++] = f;
			continue;
		}
		switch (c) {
		case 'd': db = optarg; break;
		case 'k': keyfile = optarg; break;
		case O_SPACE: o.space = optarg; break;
		case O_PROJECT: projects[nprojects++] = optarg; break;
		case O_GROUP: groups[ngroups++] = optarg; break;
		case O_HOME: o.home = optarg; break;
		case O_SCRIPTS:
			if (strcmp(optarg, "inline") == 0)
				o.scripts = OM_SCRIPTS_INLINE;
			else if (strcmp(optarg, "extract") == 0)
				o.scripts = OM_SCRIPTS_EXTRACT;
			else if (strcmp(optarg, "copy") == 0)
				o.scripts = OM_SCRIPTS_COPY;
			else
				om_die_usage("--inline-scripts: '%s' is not inline, extract or copy",
					     optarg);
			break;
		case O_REDACT: o.secrets = OM_SECRETS_REDACTED; break;
		case O_ALLOW_CLEAR: allow_clear = 1; break;
		case 'o': out = optarg; break;
		case 'j': {
			char *end;
			long n;
			errno = 0;
			n = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || n < 1 || n > OM_EXPORT_MAX_JOBS)
				om_die_usage("-j: '%s' is not a number from 1 to %d", optarg,
					     OM_EXPORT_MAX_JOBS);
			o.jobs = (int)n;
			break;
		}
		case 'q': quiet = 1; break;
		case 'v': verbose = 1; break;
		case 'h': fputs(usage_text, stdout); om_close_stdout(); goto done;
		case 'V': om_print_version(); goto done;
		default: om_die_usage(NULL);
		}
	}
	if (optind < argc)
		om_die_usage("unexpected argument '%s'", argv[optind]);
	if (!keyfile)
		om_die_usage("--master-key-file is required (or OM_MASTER_KEY_FILE)");
	if (nfiles && !o.home)
		om_die_usage("--include-%s needs --home DIR", files[0]);
	if (strcmp(out, "-") == 0 && isatty(STDOUT_FILENO))
		om_die(2, "standard output is a terminal: give -o PATH, or pipe into om-encrypt");
	if (o.secrets == OM_SECRETS_CLEAR && !allow_clear && !om_output_is_pipe(out))
		om_die(2, "clear secrets go only into a pipe: pipe into om-encrypt, "
			  "or use --redact-secrets (or --allow-clear-secrets)");
	if ((v = getenv("OM_SORT_MEMORY")) && *v) {
		char *end;
		unsigned long long n = strtoull(v, &end, 10);
		int shift = *end == 'K' ? 10 : *end == 'M' ? 20 : *end == 'G' ? 30 : 0;
		if (end == v || (shift && *++end) || *end || n == 0 || n > (SIZE_MAX >> shift))
			om_die_usage("OM_SORT_MEMORY: '%s' is not a size (bytes, or with K, M or G)", v);
		o.mem_limit = (size_t)n << shift;
	}
	o.files = nfiles ? files : NULL;
	o.projects = nprojects ? projects : NULL;
	o.project_groups = ngroups ? groups : NULL;
	om_progress_init(quiet);
	o.progress = progress;
	if (verbose && !(kind_counts = calloc(om_nkinds, sizeof *kind_counts)))
		om_die(2, "out of memory");
	clock_gettime(CLOCK_MONOTONIC, &t0);

	if (om_crypto_init(&err) < 0 || om_model_check(&err) < 0)
		om_die(2, "%s", err.msg);
	if (!(key = om_key_load(keyfile, &err)))
		om_die(2, "%s", err.msg);
	o.key = key;
	erase_progress = !quiet && isatty(STDERR_FILENO);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (!(conn = om_store_connect(db, &err))) {
		om_key_free(key);
		om_die(2, "%s", err.msg);
	}
	/* Clear secrets in a file (--allow-clear-secrets): readable by the
	 * owner only. */
	w = o.secrets == OM_SECRETS_CLEAR ? om_bundle_writer_open_private(out, &err)
					  : om_bundle_writer_open(out, &err);
	if (!w) {
		PQfinish(conn);
		om_key_free(key);
		om_die(2, "%s", err.msg);
	}
	if (om_export(conn, &o, w, &err) < 0) {
		om_bundle_writer_abort(w);
		PQfinish(conn);
		om_key_free(key);
		om_die(2, "%s", err.msg);
	}
	PQfinish(conn);
	om_key_free(key);
	if (om_bundle_writer_commit(w, &err) < 0)
		om_die(2, "%s", err.msg);
	om_progress_end();
	if (kind_counts) {
		unsigned long total = 0;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		for (size_t k = 0; k < om_nkinds; k++)
			if (kind_counts[k]) {
				fprintf(stderr, "%s: %8lu %s\n", om_progname, kind_counts[k],
					om_kinds[k].name);
				total += kind_counts[k];
			}
		fprintf(stderr, "%s: %8lu documents in %lu files, %.1f s\n", om_progname, total,
			nfiles_written, (double)(t1.tv_sec - t0.tv_sec) +
			(double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
		free(kind_counts);
	}
	if (strcmp(out, "-") == 0)
		om_close_stdout();
done:
	free(projects);
	free(groups);
	return 0;
}
