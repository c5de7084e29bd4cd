/*
 * om-store - create, check and describe an om server store.
 *
 * The administration companion of the four om tools: it makes the empty
 * server an import goes into, the master key it seals secrets with, and
 * checks a store against the model.  See docs/om-store.1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../format/bundlecheck.h"
#include "../format/model.h"
#include "../format/rekey.h"
#include "../format/seal.h"
#include "../format/store.h"
#include "../format/upgrade.h"
#include "common.h"

static const char usage_text[] =
	"usage: om-store init [--db CONNINFO] --master-key-file FILE [--new-key]\n"
	"       om-store check [--db CONNINFO] [--master-key-file FILE] [--home DIR]\n"
	"       om-store rekey [--db CONNINFO] --master-key-file OLD\n"
	"                      --new-master-key-file NEW [--new-key] [--dry-run]\n"
	"       om-store upgrade [--db CONNINFO] --master-key-file FILE [--home DIR]\n"
	"       om-store check-bundle BUNDLE\n"
	"       om-store keygen FILE\n"
	"       om-store key-check --master-key-file FILE\n"
	"       om-store seal --master-key-file FILE\n"
	"       om-store model\n"
	"       om-store usage [--db CONNINFO]\n"
	"\n"
	"  --db CONNINFO           libpq connection string or URI (default: PG* variables)\n"
	"  --master-key-file FILE  the server's master key (or OM_MASTER_KEY_FILE)\n"
	"  --new-master-key-file NEW  rekey: the key to seal the secrets with\n"
	"  --new-key               init: create FILE, rekey: create NEW, with a new random key\n"
	"  --dry-run               rekey: do and check everything, then roll back\n"
	"  --home DIR              check, upgrade: the server's home directory, for its files\n"
	"  -h, --help              show this help and exit\n"
	"  -V, --version           show the version and exit\n";

struct opts {
	const char *cmd;
	const char *db;
	const char *keyfile;
	const char *newkeyfile;
	const char *home;
	int new_key;
	int dry_run;
	const char *arg; /* keygen FILE */
};

static struct om_key *load_key(const struct opts *o)
{
	struct om_err err;
	struct om_key *key;

	if (!o->keyfile)
		om_die_usage("--master-key-file is required (or OM_MASTER_KEY_FILE)");
	if (!(key = om_key_load(o->keyfile, &err)))
		om_die(2, "%s", err.msg);
	return key;
}

static PGconn *connect_db(const struct opts *o)
{
	struct om_err err;
	PGconn *conn = om_store_connect(o->db, &err);

	if (!conn)
		om_die(2, "%s", err.msg);
	/* Shown in pg_stat_activity, as om-import shows itself. */
	PQclear(PQexec(conn, "SET application_name = 'om-store'"));
	return conn;
}

static int cmd_init(const struct opts *o)
{
	struct om_err err;
	struct om_key *key;
	PGconn *conn;

	if (!o->keyfile)
		om_die_usage("--master-key-file is required (or OM_MASTER_KEY_FILE)");
	conn = connect_db(o);
	if (o->new_key && om_key_create(o->keyfile, &err) < 0)
		om_die(2, "%s", err.msg);
	key = load_key(o);
	if (om_store_create(conn, key, &err) < 0) {
		/* A key made for a store that was not made would only mislead. */
		if (o->new_key)
			unlink(o->keyfile);
		om_key_free(key);
		PQfinish(conn);
		om_die(2, "%s", err.msg);
	}
	om_key_free(key);
	PQfinish(conn);
	return 0;
}

static void print_problem(const char *msg, void *ctx)
{
	(void)ctx;
	printf("%s\n", msg);
}

static int cmd_check(const struct opts *o)
{
	struct om_err err;
	struct om_key *key = o->keyfile ? load_key(o) : NULL;
	PGconn *conn = connect_db(o);
	struct om_verify_counts c;
	int wrong_key = 0;
	long n;

	if (om_store_open(conn, &err) < 0)
		goto trouble;
	if (key && (wrong_key = om_store_check_key(conn, key, &err)) < 0)
		goto trouble;
	/* With a wrong key too: every secret it does not open is named. */
	n = om_store_verify(conn, key, o->home, print_problem, NULL, &c, &err);
	if (n < 0)
		goto trouble;
	om_key_free(key);
	PQfinish(conn);
	om_close_stdout();
	if (wrong_key)
		om_die(2, "'%s' is not this server's master key (the store records another): "
		       "%lu of %lu secrets do not open with it; the key is wrong, not the data",
		       o->keyfile, c.unopened, c.secrets);
	if (n > 0)
		fprintf(stderr, "om-store: %ld problem%s found\n", n, n == 1 ? "" : "s");
	if (c.unopened)
		fprintf(stderr, "om-store: %lu secret%s do%s not open with the server's own master "
			"key: damaged, or sealed under another key\n", c.unopened,
			c.unopened == 1 ? "" : "s", c.unopened == 1 ? "es" : "");
	return n > 0 ? 1 : 0;
trouble:
	om_key_free(key);
	PQfinish(conn);
	om_die(2, "%s", err.msg);
}

/* The secrets under a new master key, in one transaction. */
static int cmd_rekey(const struct opts *o)
{
	struct om_err err;
	struct om_rekey_result res;
	struct om_key *old, *new;
	PGconn *conn;
	int rc;

	if (!o->newkeyfile)
		om_die_usage("rekey needs --new-master-key-file");
	old = load_key(o);
	conn = connect_db(o);
	if (o->new_key && om_key_create(o->newkeyfile, &err) < 0)
		om_die(2, "%s", err.msg);
	if (!(new = om_key_load(o->newkeyfile, &err)))
		om_die(2, "%s", err.msg);
	rc = om_store_rekey(conn, old, new, o->dry_run, &res, &err);
	om_key_free(old);
	om_key_free(new);
	PQfinish(conn);
	/* A key made for a rekey that did not happen would only mislead; one
	 * the store may be under is kept. */
	if (o->new_key && (rc < 0 || o->dry_run) && !res.in_doubt)
		unlink(o->newkeyfile);
	if (rc < 0)
		om_die(2, "%s", err.msg);
	printf("%s %lu secret%s in %lu document%s%s\n", o->dry_run ? "would re-seal" : "re-sealed",
	       res.secrets, res.secrets == 1 ? "" : "s", res.docs, res.docs == 1 ? "" : "s",
	       o->dry_run ? " (dry run: nothing changed)" : " under the new master key");
	om_close_stdout();
	return 0;
}

static void print_step(int from, int to, unsigned long moved, void *ctx)
{
	printf("upgraded database '%s' from store format %d to %d (%lu home file%s moved)\n",
	       (const char *)ctx, from, to, moved, moved == 1 ? "" : "s");
}

static void print_missing(const char *path, void *ctx)
{
	(void)ctx;
	fflush(stdout);
	fprintf(stderr, "om-store: warning: file %s is missing from the home directory: "
		"not moved\n", path);
}

/* The store brought to the format this om reads, a step at a time. */
static int cmd_upgrade(const struct opts *o)
{
	struct om_err err;
	struct om_key *key = load_key(o);
	PGconn *conn = connect_db(o);
	struct om_upgrade_opts u = {key, o->home, print_step, print_missing, (void *)PQdb(conn)};
	int n = om_store_upgrade(conn, &u, &err);

	if (n == 0)
		printf("database '%s' is at store format %d already: nothing to do\n", PQdb(conn),
		       OM_STORE_FORMAT);
	om_key_free(key);
	PQfinish(conn);
	if (n < 0)
		om_die(2, "%s", err.msg);
	om_close_stdout();
	return 0;
}

static void print_usage_line(const struct om_kind *k, const char *what, const char *path,
			     unsigned long count, void *ctx)
{
	(void)ctx;
	printf("%lu\t%s\t%s\t%s\n", count, k->name, what, path);
}

/* How often the store uses each reference and secret place of the model. */
static int cmd_usage(const struct opts *o)
{
	struct om_err err;
	PGconn *conn = connect_db(o);

	if (om_store_open(conn, &err) < 0 || om_store_usage(conn, print_usage_line, NULL, &err) < 0) {
		PQfinish(conn);
		om_die(2, "%s", err.msg);
	}
	PQfinish(conn);
	om_close_stdout();
	return 0;
}

/* Does every reference of a bundle's documents resolve inside it? */
static int cmd_check_bundle(const struct opts *o)
{
	struct om_err err;
	long n;

	if (!o->arg)
		om_die_usage("check-bundle needs a BUNDLE");
	if ((n = om_bundle_check_refs(o->arg, print_problem, NULL, &err)) < 0)
		om_die(2, "%s", err.msg);
	om_close_stdout();
	if (n > 0)
		fprintf(stderr, "om-store: %ld problem%s found\n", n, n == 1 ? "" : "s");
	return n > 0 ? 1 : 0;
}

static int cmd_keygen(const struct opts *o)
{
	struct om_err err;

	if (!o->arg)
		om_die_usage("keygen needs a FILE");
	if (om_key_create(o->arg, &err) < 0)
		om_die(2, "%s", err.msg);
	return 0;
}

static int cmd_key_check(const struct opts *o)
{
	struct om_key *key = load_key(o);
	char check[OM_KEY_CHECK_SIZE];

	om_key_check(key, check);
	om_key_free(key);
	printf("%s\n", check);
	om_close_stdout();
	return 0;
}

/* One clear value per line in, one sealed token per line out. */
static int cmd_seal(const struct opts *o)
{
	struct om_key *key = load_key(o);
	struct om_err err;
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;

	while ((n = getline(&line, &cap, stdin)) >= 0) {
		char *tok;
		lineno++;
		if (n && line[n - 1] == '\n')
			line[--n] = 0;
		if (!(tok = om_seal(key, line, (size_t)n, &err)))
			om_die(2, "standard input, line %ld: %s", lineno, err.msg);
		puts(tok);
		free(tok);
	}
	if (ferror(stdin))
		om_die(2, "cannot read standard input: %s", strerror(errno));
	if (line)
		memset(line, 0, cap);
	free(line);
	om_key_free(key);
	om_close_stdout();
	return 0;
}

static void print_paths(const char *what, const char *const *paths)
{
	for (; paths && *paths; paths++)
		printf("  %s %s\n", what, *paths);
}

/* The catalog as the tools see it: spec/model.md quotes this output. */
static int cmd_model(void)
{
	static const char *const scopes[] = {"server", "space", "space or server"};
	static const char *const forms[] = {"id", "csv", "tag", "inner"};
	static const char *const merges[] = {"set", "keyed by", "map of sets"};

	for (size_t i = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		printf("%s\n  table %s\n  ids %s%s%s\n  scope %s\n  identity", k->name, k->table,
		       k->id_prefix, k->derived_from ? "<" : "N",
		       k->derived_from ? k->derived_from : "", scopes[k->scope]);
		for (size_t j = 0; j < 5 && k->identity[j]; j++)
			printf(" %s", k->identity[j]);
		printf("\n");
		for (size_t j = 0; om_kind_fixed_id(k, j); j++)
			printf("  fixed %s\n", om_kind_fixed_id(k, j));
		for (size_t j = 0; om_kind_octopus_type(k, j); j++)
			printf("  octopus %s\n", om_kind_octopus_type(k, j));
		if (k->owner)
			printf("  owner %s\n", k->owner);
		if (k->history)
			printf("  history %s\n", om_history_name(k->history));
		for (size_t j = 0; j < k->nrefs; j++) {
			const struct om_ref *r = &k->refs[j];
			printf("  ref %s -> %s (%s", r->path, r->target ? r->target : "*",
			       forms[r->form]);
			if (r->via)
				printf(" via %s", r->via);
			if (r->inner)
				printf(" in %s by %s", r->inner, r->inner_name);
			if (r->flags & OM_REF_DROPPABLE)
				printf(", droppable");
			if (r->flags & OM_REF_WEAK)
				printf(", weak");
			printf(")\n");
		}
		print_paths("secret", k->secrets);
		print_paths("volatile", k->volatiles);
		if (k->file)
			printf("  file %s\n", k->file);
		if (om_kind_file_size(k))
			printf("  file size %s\n", om_kind_file_size(k));
		if (k->dir)
			printf("  bundle dir %s\n", k->dir);
		printf("  bundle path %s\n", k->path);
		if (k->bundle_file)
			printf("  bundle file %s\n", k->bundle_file);
		if (k->scripts)
			printf("  scripts %s (%s, %s/%s, %s/%s)\n", k->scripts, om_script.name,
			       om_script.props, om_script.body, om_script.props, om_script.syntax);
		print_paths("key", k->keys);
		for (const struct om_merge *m = k->merges; m && m->member; m++) {
			printf("  merge %s (%s", m->member, merges[m->form]);
			for (int j = 0; j < 2 && m->key[j]; j++)
				printf(" %s", m->key[j]);
			printf(")\n");
		}
	}
	om_close_stdout();
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"db", required_argument, NULL, 'd'},
		{"master-key-file", required_argument, NULL, 'k'},
		{"new-master-key-file", required_argument, NULL, 'K'},
		{"dry-run", no_argument, NULL, 'D'},
		{"home", required_argument, NULL, 'H'},
		{"new-key", no_argument, NULL, 'n'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct opts o = {0};
	struct om_err err;
	int c;

	om_progname = "om-store";
	o.keyfile = getenv("OM_MASTER_KEY_FILE");
	if (o.keyfile && !*o.keyfile)
		o.keyfile = NULL;
	while ((c = getopt_long(argc, argv, "hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': o.db = optarg; break;
		case 'k': o.keyfile = optarg; break;
		case 'K': o.newkeyfile = optarg; break;
		case 'D': o.dry_run = 1; break;
		case 'H': o.home = optarg; break;
		case 'n': o.new_key = 1; break;
		case 'h': fputs(usage_text, stdout); om_close_stdout(); return 0;
		case 'V': om_print_version(); return 0;
		default: om_die_usage(NULL);
		}
	}
	if (optind >= argc)
		om_die_usage("no command given");
	o.cmd = argv[optind++];
	if (optind < argc)
		o.arg = argv[optind++];
	if (optind < argc || (o.arg && strcmp(o.cmd, "keygen") != 0 &&
			      strcmp(o.cmd, "check-bundle") != 0))
		om_die_usage("too many arguments");
	if (om_crypto_init(&err) < 0 || om_model_check(&err) < 0)
		om_die(2, "%s", err.msg);

	if (strcmp(o.cmd, "init") == 0)
		return cmd_init(&o);
	if (strcmp(o.cmd, "check") == 0)
		return cmd_check(&o);
	if (strcmp(o.cmd, "rekey") == 0)
		return cmd_rekey(&o);
	if (strcmp(o.cmd, "upgrade") == 0)
		return cmd_upgrade(&o);
	if (strcmp(o.cmd, "keygen") == 0)
		return cmd_keygen(&o);
	if (strcmp(o.cmd, "check-bundle") == 0)
		return cmd_check_bundle(&o);
	if (strcmp(o.cmd, "key-check") == 0)
		return cmd_key_check(&o);
	if (strcmp(o.cmd, "seal") == 0)
		return cmd_seal(&o);
	if (strcmp(o.cmd, "model") == 0)
		return cmd_model();
	if (strcmp(o.cmd, "usage") == 0)
		return cmd_usage(&o);
	om_die_usage("unknown command '%s'", o.cmd);
}
