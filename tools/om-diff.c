/*
 * om-diff - what changed between two bundles, by name.
 *
 * Compares two bundles (directories, .tar, .tar.zst or standard input) by
 * identity, with references shown by name and secrets never shown, and
 * prints the differences as text, counts per kind, paths or JSON records
 * (format/diff.h does the comparing).  --textconv prints one bundle as
 * stable text for git.  Exit status as diff(1): 0 same, 1 different,
 * 2 trouble.  See docs/om-diff.1.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../format/buf.h"
#include "../format/canon.h"
#include "../format/diff.h"
#include "../format/model.h"
#include "../format/seal.h"
#include "common.h"
#include "password.h"

static const char usage_text[] =
	"usage: om-diff [options] A B\n"
	"       om-diff --textconv FILE\n"
	"\n"
	"A and B are bundles: directories, X.tar, X.tar.zst, or - (standard input).\n"
	"Exit status: 0 same, 1 different, 2 trouble.\n"
	"\n"
	"  --stat              counts of added, removed, renamed and changed documents per kind\n"
	"  --name-only         the paths of the documents and files that differ\n"
	"  --json              one JSON record per change, for scripts and jq\n"
	"  -q, --quiet         print nothing; the exit status says\n"
	"  --color, --color=WHEN  colour the text: auto (the default: on a terminal,\n"
	"                      unless NO_COLOR is set), always (--color alone) or never\n"
	"  --password-file FILE  open password-encrypted secrets with the first line of\n"
	"                      FILE and compare them by value; given twice (or with\n"
	"                      --password-fd), the first is A's password, the second B's\n"
	"  --password-fd N     the same with the first line read from descriptor N\n"
	"  --textconv FILE     print the bundle FILE as stable text (for git's textconv)\n"
	"  -h, --help          show this help and exit\n"
	"  -V, --version       show the version and exit\n";

enum mode { M_TEXT, M_STAT, M_NAMES, M_JSON, M_QUIET };

struct kindcount {
	const char *kind;
	long n[4]; /* by enum om_diff_status */
};

struct out {
	enum mode mode;
	int color;
	FILE *f;
	struct kindcount *kc;
	size_t nkc, capkc;
};

static const char *const status_word[] = {"added", "removed", "changed", "renamed"};

/* A string as a JSON string; bytes that are not UTF-8 (a text file's
 * lines, a name in an archive) become U+FFFD, so that the output is always
 * valid JSON. */
static void put_json_str(FILE *f, const char *s)
{
	size_t n = strlen(s), k;

	fputc('"', f);
	for (const char *p = s, *end = s + n; p < end; p += k ? k : 1) {
		unsigned char ch = (unsigned char)*p;
		k = om_utf8_len(p, (size_t)(end - p));
		if (!k)
			fputs("\\ufffd", f);
		else if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fwrite(p, 1, k, f);
	}
	fputc('"', f);
}

static const char *col(const struct out *o, const char *code)
{
	return o->color ? code : "";
}

#define BOLD "\033[1m"
#define RED "\033[31m"
#define GREEN "\033[32m"
#define YELLOW "\033[33m"
#define MAGENTA "\033[35m"
#define CYAN "\033[36m"
#define RESET "\033[m"

static void text_change(const struct out *o, const struct om_diff_change *c)
{
	const char *loc = *c->loc ? c->loc : "(document)";
	FILE *f = o->f;

	switch (c->type) {
	case OM_CHANGE_ADDED:
		fprintf(f, "  %s+ %s: %s%s\n", col(o, GREEN), loc, c->new_value, col(o, RESET));
		break;
	case OM_CHANGE_REMOVED:
		fprintf(f, "  %s- %s: %s%s\n", col(o, RED), loc, c->old_value, col(o, RESET));
		break;
	case OM_CHANGE_CHANGED:
		fprintf(f, "  %s~ %s: %s -> %s%s\n", col(o, YELLOW), loc, c->old_value, c->new_value,
			col(o, RESET));
		break;
	case OM_CHANGE_MOVED:
		fprintf(f, "  %s> %s: moved from position %ld to %ld%s\n", col(o, CYAN), loc, c->from,
			c->to, col(o, RESET));
		break;
	case OM_CHANGE_SECRET:
		fprintf(f, "  %s~ %s: secret changed%s\n", col(o, YELLOW), loc, col(o, RESET));
		break;
	case OM_CHANGE_SECRET_UNKNOWN:
		fprintf(f, "  %s? %s: secret, cannot tell whether it changed (different keys, "
			"secret states or places)%s\n", col(o, MAGENTA), loc, col(o, RESET));
		break;
	case OM_CHANGE_HUNK:
		fprintf(f, "  %s%s%s\n", col(o, CYAN), c->loc, col(o, RESET));
		for (const char *p = c->new_value; *p;) {
			const char *nl = strchr(p, '\n');
			size_t n = nl ? (size_t)(nl - p) : strlen(p);
			const char *cc = *p == '+' ? GREEN : *p == '-' ? RED : "";
			fprintf(f, "  %s%.*s%s\n", *cc ? col(o, cc) : "", (int)n, p, *cc ? col(o, RESET) : "");
			p += n + (nl != NULL);
		}
		break;
	case OM_CHANGE_BINARY:
		fprintf(f, "  %s~ binary file: %s -> %s bytes%s\n", col(o, YELLOW), c->old_value,
			c->new_value, col(o, RESET));
		break;
	}
}

static void text_doc(const struct out *o, const struct om_diff_doc *d)
{
	FILE *f = o->f;

	fprintf(f, "%s%s %s ", col(o, BOLD), status_word[d->status], d->kind);
	put_json_str(f, d->status == OM_DIFF_RENAMED ? d->old_name : d->name);
	if (d->status == OM_DIFF_RENAMED && strcmp(d->old_name, d->name) != 0) {
		fputs(" -> ", f);
		put_json_str(f, d->name);
	}
	if (d->status == OM_DIFF_RENAMED)
		fprintf(f, " (%s -> %s)%s\n", d->old_path, d->path, col(o, RESET));
	else
		fprintf(f, " (%s)%s\n", d->path, col(o, RESET));
	for (size_t i = 0; i < d->nchanges; i++)
		text_change(o, &d->changes[i]);
}

static const char *const change_word[] = {"added", "removed", "changed", "moved",
					  "secret-changed", "secret-unknown", "lines", "binary"};

static void json_head(FILE *f, const struct om_diff_doc *d)
{
	fprintf(f, "{\"status\":\"%s\",\"kind\":", status_word[d->status]);
	put_json_str(f, d->kind);
	fputs(",\"identity\":", f);
	put_json_str(f, d->name);
	fputs(",\"path\":", f);
	put_json_str(f, d->path);
	if (d->status == OM_DIFF_RENAMED) {
		fputs(",\"old_identity\":", f);
		put_json_str(f, d->old_name);
		fputs(",\"old_path\":", f);
		put_json_str(f, d->old_path);
	}
}

static void json_doc(const struct out *o, const struct om_diff_doc *d)
{
	FILE *f = o->f;

	if (!d->nchanges) {
		json_head(f, d);
		fputs("}\n", f);
	}
	for (size_t i = 0; i < d->nchanges; i++) {
		const struct om_diff_change *c = &d->changes[i];
		json_head(f, d);
		fprintf(f, ",\"change\":\"%s\",\"loc\":", change_word[c->type]);
		put_json_str(f, c->loc);
		fputs(",\"old\":", f);
		if (c->type == OM_CHANGE_MOVED)
			fprintf(f, "%ld,\"new\":%ld}\n", c->from, c->to);
		else if (c->type == OM_CHANGE_HUNK) {
			fputs("null,\"new\":", f);
			put_json_str(f, c->new_value);
			fputs("}\n", f);
		} else
			fprintf(f, "%s,\"new\":%s}\n", c->old_value ? c->old_value : "null",
				c->new_value ? c->new_value : "null");
	}
}

static int on_doc(const struct om_diff_doc *d, void *ctx)
{
	struct out *o = ctx;

	switch (o->mode) {
	case M_QUIET:
		return 1; /* one difference answers the question */
	case M_TEXT:
		text_doc(o, d);
		break;
	case M_NAMES:
		fprintf(o->f, "%s\n", d->path);
		break;
	case M_JSON:
		json_doc(o, d);
		break;
	case M_STAT: {
		size_t i;
		for (i = 0; i < o->nkc && strcmp(o->kc[i].kind, d->kind) != 0; i++)
			;
		if (i == o->nkc) {
			if (o->nkc == o->capkc) {
				size_t cap = o->capkc ? o->capkc * 2 : 16;
				struct kindcount *v = realloc(o->kc, cap * sizeof *v);
				if (!v)
					om_die(2, "out of memory");
				o->kc = v;
				o->capkc = cap;
			}
			o->kc[i] = (struct kindcount){NULL, {0, 0, 0, 0}};
			if (!(o->kc[i].kind = strdup(d->kind)))
				om_die(2, "out of memory");
			o->nkc++;
		}
		o->kc[i].n[d->status]++;
		break;
	}
	}
	return 0;
}

static int kc_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kindcount *)a)->kind, ((const struct kindcount *)b)->kind);
}

static void print_stat(struct out *o)
{
	long t[4] = {0, 0, 0, 0};

	qsort(o->kc, o->nkc, sizeof *o->kc, kc_cmp);
	fprintf(o->f, "%-24s %8s %8s %8s %8s\n", "kind", "added", "removed", "renamed", "changed");
	for (size_t i = 0; i < o->nkc; i++) {
		const long *n = o->kc[i].n;
		fprintf(o->f, "%-24s %8ld %8ld %8ld %8ld\n", o->kc[i].kind, n[OM_DIFF_ADDED],
			n[OM_DIFF_REMOVED], n[OM_DIFF_RENAMED], n[OM_DIFF_CHANGED]);
		for (int s = 0; s < 4; s++)
			t[s] += n[s];
		free((char *)o->kc[i].kind);
	}
	fprintf(o->f, "%-24s %8ld %8ld %8ld %8ld\n", "total", t[OM_DIFF_ADDED], t[OM_DIFF_REMOVED],
		t[OM_DIFF_RENAMED], t[OM_DIFF_CHANGED]);
	free(o->kc);
}

/* Copy the finished output to standard output. */
static void flush_out(FILE *f)
{
	char buf[65536];
	size_t n;

	if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
		om_die(2, "cannot read a temporary file: %s", strerror(errno));
	while ((n = fread(buf, 1, sizeof buf, f)) > 0)
		if (fwrite(buf, 1, n, stdout) != n)
			break;
	if (ferror(f))
		om_die(2, "cannot read a temporary file: %s", strerror(errno));
	fclose(f);
	om_close_stdout();
}

static int write_file(const void *buf, size_t len, void *ctx, struct om_err *err)
{
	if (len && fwrite(buf, 1, len, (FILE *)ctx) != len) {
		om_err_set(err, "cannot write a temporary file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* The output goes to a temporary file first, so that an error half-way
 * leaves no partial output. */
static FILE *temp_out(void)
{
	char path[4096];
	int fd = om_tmpfile(NULL, "om-diff-out.", path, sizeof path);
	FILE *f;

	if (fd < 0)
		om_die(2, "cannot make a temporary file '%s': %s", path, strerror(errno));
	if (!(f = fdopen(fd, "w+b")))
		om_die(2, "out of memory");
	return f;
}

/* The passwords of password-encrypted bundles, read on first use: one
 * source for both bundles, or two (A's, then B's). */
struct pw {
	struct om_pwsource src[2];
	int nsrc; /* given by options */
	struct om_password pw[2];
};

static const char *get_password(void *ctx, int side, size_t *len, struct om_err *err)
{
	struct pw *p = ctx;
	int i = p->nsrc == 2 ? side : 0;

	if (!p->pw[i].p && om_password_get(&p->src[i], 0, &p->pw[i], err) < 0)
		return NULL;
	*len = p->pw[i].len;
	return p->pw[i].p;
}

/* The next password source of an option; at most two. */
static struct om_pwsource *next_source(struct pw *p)
{
	if (p->nsrc == 2)
		om_die_usage("--password-file and --password-fd: at most two (A's, then B's)");
	return &p->src[p->nsrc++];
}

int main(int argc, char **argv)
{
	enum { O_STAT = 256, O_NAMES, O_JSON, O_COLOR, O_TEXTCONV, O_PWFILE, O_PWFD };
	static const struct option longopts[] = {
		{"stat", no_argument, NULL, O_STAT},
		{"name-only", no_argument, NULL, O_NAMES},
		{"json", no_argument, NULL, O_JSON},
		{"quiet", no_argument, NULL, 'q'},
		{"color", optional_argument, NULL, O_COLOR},
		{"textconv", required_argument, NULL, O_TEXTCONV},
		{"password-file", required_argument, NULL, O_PWFILE},
		{"password-fd", required_argument, NULL, O_PWFD},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	struct out o = {M_TEXT, 0, NULL, NULL, 0, 0};
	const char *textconv = NULL, *color = "auto", *no_color = getenv("NO_COLOR");
	int c, modes = 0;
	struct om_err err;
	struct pw pw = {{{NULL, -1, "OM_PASSWORD", NULL}, {NULL, -1, NULL, NULL}}, 0,
			{{NULL, 0}, {NULL, 0}}};
	long n;

	om_progname = "om-diff";
	while ((c = getopt_long(argc, argv, "qhV", longopts, NULL)) != -1) {
		switch (c) {
		case O_STAT: o.mode = M_STAT; modes++; break;
		case O_NAMES: o.mode = M_NAMES; modes++; break;
		case O_JSON: o.mode = M_JSON; modes++; break;
		case 'q': o.mode = M_QUIET; modes++; break;
		case O_COLOR:
			/* --color alone is --color=always; it never takes the next
			 * argument. */
			if (optarg && strcmp(optarg, "auto") && strcmp(optarg, "always") &&
			    strcmp(optarg, "never"))
				om_die_usage("--color: '%s' is not auto, always or never", optarg);
			color = optarg ? optarg : "always";
			break;
		case O_TEXTCONV: textconv = optarg; break;
		case O_PWFILE: next_source(&pw)->file = optarg; break;
		case O_PWFD:
			if ((next_source(&pw)->fd = om_password_parse_fd(optarg)) < 0)
				om_die_usage("--password-fd: '%s' is not a file descriptor number",
					     optarg);
			break;
		case 'h': fputs(usage_text, stdout); om_close_stdout(); return 0;
		case 'V': om_print_version(); return 0;
		default: om_die_usage(NULL);
		}
	}
	if (modes > 1)
		om_die_usage("--stat, --name-only, --json and --quiet exclude each other");
	if (om_crypto_init(&err) < 0 || om_model_check(&err) < 0)
		om_die(2, "%s", err.msg);
	if (textconv) {
		if (optind < argc)
			om_die_usage("unexpected argument '%s'", argv[optind]);
		if (modes)
			om_die_usage("--textconv takes no other option");
		o.f = temp_out();
		if (om_diff_textconv(textconv, write_file, o.f, &err) < 0)
			om_die(2, "%s", err.msg);
		flush_out(o.f);
		return 0;
	}
	if (argc - optind != 2)
		om_die_usage(argc - optind < 2 ? "two bundles are needed" : "unexpected argument '%s'",
			     argv[optind + 2 < argc ? optind + 2 : optind]);
	if (strcmp(color, "always") == 0)
		o.color = 1;
	else if (strcmp(color, "auto") == 0)
		o.color = isatty(STDOUT_FILENO) && !(no_color && *no_color);
	if (o.mode != M_QUIET)
		o.f = temp_out();
	/* A password is used only when given: om-diff never prompts. */
	n = om_diff_bundles_pw(argv[optind], argv[optind + 1], NULL,
			       om_password_given(&pw.src[0]) ? get_password : NULL, &pw, on_doc, &o,
			       &err);
	om_password_free(&pw.pw[0]);
	om_password_free(&pw.pw[1]);
	if (n < 0)
		om_die(2, "%s", err.msg);
	if (o.mode == M_STAT && n > 0)
		print_stat(&o);
	if (o.f)
		flush_out(o.f);
	return n > 0 ? 1 : 0;
}
