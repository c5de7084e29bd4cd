/*
 * om-encrypt - password-encrypt the secrets of a bundle, decrypt them,
 * change the password, or check it.
 *
 * The options, the passwords (prompt, file, descriptor, variable) and the
 * signals; the work is om_recrypt() (format/recrypt.h).  See
 * docs/om-encrypt.1.
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../format/bundle.h"
#include "../format/model.h"
#include "../format/pwcrypt.h"
#include "../format/recrypt.h"
#include "../format/seal.h"
#include "common.h"
#include "password.h"

static const char usage_text[] =
	"usage: om-encrypt [options] [-o PATH] [BUNDLE]\n"
	"       om-encrypt -d [options] [-o PATH] [BUNDLE]\n"
	"       om-encrypt --rekey [options] [-o PATH] [BUNDLE]\n"
	"       om-encrypt --check [options] [BUNDLE]\n"
	"\n"
	"  -d, --decrypt           password-encrypted secrets back to clear ones\n"
	"  --rekey                 re-encrypt under a new password in one pass\n"
	"  --check                 exit 0 if the password opens every secret, else 1\n"
	"  --password-file FILE    the password is the first line of FILE\n"
	"  --password-fd N         the password is the first line read from descriptor N\n"
	"  --new-password-file FILE  the new password of --rekey, from FILE\n"
	"  --new-password-fd N     the new password of --rekey, from descriptor N\n"
	"  --kdf LEVEL             interactive, moderate (the default) or sensitive:\n"
	"                          Argon2id limits for a new salt\n"
	"  --new-salt              make a new salt, even if the output has one\n"
	"  --salt-from BUNDLE      reuse the salt and limits of BUNDLE\n"
	"  --allow-clear-secrets   allow clear secrets (-d) in a file, directory or terminal\n"
	"  -o, --output PATH       a directory, X.tar, X.tar.zst, or - (standard output)\n"
	"  -h, --help              show this help and exit\n"
	"  -V, --version           show the version and exit\n";

/* The passwords of the run: the bundle's and, with --rekey, the new one. */
static struct {
	struct om_pwsource src[2];
	struct om_password pw[2];
} P;

/* On SIGINT and friends: terminal echo back, temporary outputs gone, die
 * of the signal. */
static void on_signal(int sig)
{
	om_password_restore_tty();
	om_bundle_cleanup_on_signal();
	signal(sig, SIG_DFL);
	raise(sig);
}

/* The password om_recrypt() asks for, read from its source on first use
 * and kept, wiped, until the end. */
static const char *get_password(void *ctx, enum om_recrypt_pw which, int confirm, size_t *len,
				struct om_err *err)
{
	struct om_password *pw = &P.pw[which];

	(void)ctx;
	if (!pw->p && om_password_get(&P.src[which], confirm, pw, err) < 0)
		return NULL;
	*len = pw->len;
	return pw->p;
}

static int parse_fd(const char *opt, const char *s)
{
	int fd = om_password_parse_fd(s);

	if (fd < 0)
		om_die_usage("%s: '%s' is not a file descriptor number", opt, s);
	return fd;
}

int main(int argc, char **argv)
{
	enum { O_REKEY = 256, O_CHECK, O_PWFILE, O_PWFD, O_NPWFILE, O_NPWFD, O_KDF, O_NEWSALT,
	       O_SALTFROM, O_ALLOW_CLEAR };
	static const struct option longopts[] = {
		{"decrypt", no_argument, NULL, 'd'},
		{"rekey", no_argument, NULL, O_REKEY},
		{"check", no_argument, NULL, O_CHECK},
		{"password-file", required_argument, NULL, O_PWFILE},
		{"password-fd", required_argument, NULL, O_PWFD},
		{"new-password-file", required_argument, NULL, O_NPWFILE},
		{"new-password-fd", required_argument, NULL, O_NPWFD},
		{"kdf", required_argument, NULL, O_KDF},
		{"new-salt", no_argument, NULL, O_NEWSALT},
		{"salt-from", required_argument, NULL, O_SALTFROM},
		{"allow-clear-secrets", no_argument, NULL, O_ALLOW_CLEAR},
		{"output", required_argument, NULL, 'o'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct om_recrypt_opts o = {.password = get_password};
	struct om_pwsource *pw = &P.src[OM_RECRYPT_PW], *newpw = &P.src[OM_RECRYPT_NEW_PW];
	struct om_pw_params lvl;
	struct om_err err;
	int c, nmodes = 0, out_given = 0, allow_clear = 0, rc;

	om_progname = "om-encrypt";
	o.mode = OM_RECRYPT_ENCRYPT;
	o.out = "-";
	P.src[OM_RECRYPT_PW] = (struct om_pwsource){NULL, -1, "OM_PASSWORD", "Password: "};
	P.src[OM_RECRYPT_NEW_PW] =
		(struct om_pwsource){NULL, -1, "OM_NEW_PASSWORD", "New password: "};
	while ((c = getopt_long(argc, argv, "do:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o.mode = OM_RECRYPT_DECRYPT; nmodes++; break;
		case O_REKEY: o.mode = OM_RECRYPT_REKEY; nmodes++; break;
		case O_CHECK: o.mode = OM_RECRYPT_CHECK; nmodes++; break;
		case O_PWFILE: pw->file = optarg; break;
		case O_PWFD: pw->fd = parse_fd("--password-fd", optarg); break;
		case O_NPWFILE: newpw->file = optarg; break;
		case O_NPWFD: newpw->fd = parse_fd("--new-password-fd", optarg); break;
		case O_KDF:
			if (om_pw_params_level(optarg, &lvl) < 0)
				om_die_usage("--kdf: '%s' is not interactive, moderate or sensitive",
					     optarg);
			o.kdf = optarg;
			break;
		case O_NEWSALT: o.new_salt = 1; break;
		case O_SALTFROM: o.salt_from = optarg; break;
		case O_ALLOW_CLEAR: allow_clear = 1; break;
		case 'o': o.out = optarg; out_given = 1; break;
		case 'h': fputs(usage_text, stdout); om_close_stdout(); return 0;
		case 'V': om_print_version(); return 0;
		default: om_die_usage(NULL);
		}
	}
	if (argc - optind > 1)
		om_die_usage("unexpected argument '%s'", argv[optind + 1]);
	o.in = optind < argc ? argv[optind] : "-";
	if (nmodes > 1)
		om_die_usage("-d, --rekey and --check go one at a time");
	if (pw->file && pw->fd >= 0)
		om_die_usage("--password-file and --password-fd go one at a time");
	if (newpw->file && newpw->fd >= 0)
		om_die_usage("--new-password-file and --new-password-fd go one at a time");
	if ((newpw->file || newpw->fd >= 0) && o.mode != OM_RECRYPT_REKEY)
		om_die_usage("--new-password-file and --new-password-fd are for --rekey");
	if ((o.kdf || o.new_salt || o.salt_from) && o.mode != OM_RECRYPT_ENCRYPT &&
	    o.mode != OM_RECRYPT_REKEY)
		om_die_usage("--kdf, --new-salt and --salt-from are for encrypting and --rekey");
	if (o.new_salt && o.salt_from)
		om_die_usage("--new-salt and --salt-from go one at a time");
	if (o.mode == OM_RECRYPT_CHECK && out_given)
		om_die_usage("--check writes nothing: no -o");
	if (o.mode != OM_RECRYPT_CHECK && strcmp(o.out, "-") == 0 && isatty(STDOUT_FILENO))
		om_die(2, "standard output is a terminal: give -o PATH, or pipe it");
	if (o.mode == OM_RECRYPT_DECRYPT && !allow_clear && !om_output_is_pipe(o.out))
		om_die(2, "clear secrets go only into a pipe: pipe into om-import, "
			  "or use --allow-clear-secrets");

	if (om_crypto_init(&err) < 0 || om_model_check(&err) < 0)
		om_die(2, "%s", err.msg);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	rc = om_recrypt(&o, &err);
	om_password_free(&P.pw[0]);
	om_password_free(&P.pw[1]);
	if (rc != 0)
		om_die(rc > 0 ? 1 : 2, "%s", err.msg);
	if (o.mode != OM_RECRYPT_CHECK && strcmp(o.out, "-") == 0)
		om_close_stdout();
	return 0;
}
