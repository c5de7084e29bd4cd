/*
 * om-octopus - convert Octopus Deploy's own exports into om bundles.
 *
 * Reads an Export/Import Projects package (a zip, the same unzipped, or a
 * zip on standard input) or an Octopus.Migrator export directory, and
 * writes the bundle om-export would write of the same documents, secrets
 * in the clear (only into a pipe) or redacted.  The work is libom's
 * (format/octopus.h); see docs/om-octopus.1.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../format/bundle.h"
#include "../format/model.h"
#include "../format/octopus.h"
#include "../format/seal.h"
#include "common.h"
#include "password.h"

static const char usage_text[] =
	"usage: om-octopus [--password-file FILE | --password-fd N] [options] [-o PATH] INPUT\n"
	"\n"
	"  INPUT                   an Export/Import Projects package (.zip, the same\n"
	"                          unzipped, or - for a zip on standard input), or an\n"
	"                          Octopus.Migrator export directory\n"
	"  --password-file FILE    the export password is the first line of FILE\n"
	"  --password-fd N         the export password is the first line read from N\n"
	"  --space NAME            the name of the space the documents go in (Default)\n"
	"  --strict                a document whose SHA-1 is not the manifest's is an error\n"
	"  --redact-secrets        write keyed fingerprints instead of secrets\n"
	"  --allow-clear-secrets   allow clear secrets in a file or directory (mode 0600)\n"
	"  -o, --output PATH       a directory, X.tar, X.tar.zst, or - (standard output)\n"
	"  -h, --help              show this help and exit\n"
	"  -V, --version           show the version and exit\n";

static void on_signal(int sig)
{
	static const char msg[] = "om-octopus: interrupted\n";
	ssize_t n;

	(void)sig;
	om_bundle_cleanup_on_signal();
	om_password_restore_tty();
	n = write(STDERR_FILENO, msg, sizeof msg - 1);
	(void)n;
	_exit(2);
}

static void warn_line(void *ctx, const char *msg)
{
	(void)ctx;
	fprintf(stderr, "%s: warning: %s\n", om_progname, msg);
}

int main(int argc, char **argv)
{
	enum { O_PWFILE = 256, O_PWFD, O_SPACE, O_STRICT, O_REDACT, O_ALLOW_CLEAR };
	static const struct option longopts[] = {
		{"password-file", required_argument, NULL, O_PWFILE},
		{"password-fd", required_argument, NULL, O_PWFD},
		{"space", required_argument, NULL, O_SPACE},
		{"strict", no_argument, NULL, O_STRICT},
		{"redact-secrets", no_argument, NULL, O_REDACT},
		{"allow-clear-secrets", no_argument, NULL, O_ALLOW_CLEAR},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct om_pwsource src = {NULL, -1, "OM_OCTOPUS_PASSWORD", "Octopus export password: "};
	struct om_octopus_opts o = {0};
	enum om_secret_state secrets = OM_SECRETS_CLEAR;
	const char *out = "-";
	int allow_clear = 0, c, r;
	struct om_password pw = {0};
	struct om_octopus *pkg;
	struct om_bundle_writer *w;
	struct om_err err;

	om_progname = "om-octopus";
	while ((c = getopt_long(argc, argv, "o:hV", longopts, NULL)) != -1) {
		switch (c) {
		case O_PWFILE: src.file = optarg; break;
		case O_PWFD:
			if ((src.fd = om_password_parse_fd(optarg)) < 0)
				om_die_usage("--password-fd: '%s' is not a descriptor", optarg);
			break;
		case O_SPACE: o.space = optarg; break;
		case O_STRICT: o.strict = 1; break;
		case O_REDACT: secrets = OM_SECRETS_REDACTED; break;
		case O_ALLOW_CLEAR: allow_clear = 1; break;
		case 'o': out = optarg; break;
		case 'h': fputs(usage_text, stdout); om_close_stdout(); return 0;
		case 'V': om_print_version(); return 0;
		default: om_die_usage(NULL);
		}
	}
	if (optind != argc - 1)
		om_die_usage(optind < argc ? "unexpected argument '%s'" : "no INPUT given%s",
			     optind < argc ? argv[argc - 1] : "");
	if (src.file && src.fd >= 0)
		om_die_usage("give --password-file or --password-fd, not both");
	if (o.space && !*o.space)
		om_die_usage("--space: an empty name");
	if (strcmp(out, "-") == 0 && isatty(STDOUT_FILENO))
		om_die(2, "standard output is a terminal: give -o PATH, or pipe into om-encrypt");
	if (secrets == OM_SECRETS_CLEAR && !allow_clear && !om_output_is_pipe(out))
		om_die(2, "clear secrets go only into a pipe: pipe into om-encrypt, "
			  "or use --redact-secrets (or --allow-clear-secrets)");
	if (om_crypto_init(&err) < 0 || om_model_check(&err) < 0)
		om_die(2, "%s", err.msg);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (om_password_get(&src, 0, &pw, &err) < 0)
		om_die(2, "%s", err.msg);
	o.password = pw.p;
	o.password_len = pw.len;
	o.warn = warn_line;
	/* Everything is read and checked before the output is opened: a wrong
	 * password or a bad entry leaves nothing behind. */
	r = om_octopus_read(argv[optind], &o, &pkg, &err);
	om_password_free(&pw);
	if (r != 0)
		om_die(r > 0 ? 1 : 2, "%s", err.msg);
	w = secrets == OM_SECRETS_CLEAR ? om_bundle_writer_open_private(out, &err)
					: om_bundle_writer_open(out, &err);
	if (!w) {
		om_octopus_free(pkg);
		om_die(2, "%s", err.msg);
	}
	if (om_octopus_write(pkg, secrets, w, &err) < 0) {
		om_bundle_writer_abort(w);
		om_octopus_free(pkg);
		om_die(2, "%s", err.msg);
	}
	om_octopus_free(pkg);
	if (om_bundle_writer_commit(w, &err) < 0)
		om_die(2, "%s", err.msg);
	if (strcmp(out, "-") == 0)
		om_close_stdout();
	return 0;
}
