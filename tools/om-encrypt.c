/*
 * om-encrypt - password-encrypt the secrets of a bundle, decrypt them,
 * change the password, or check it.
 *
 * A filter: reads a bundle (directory, tar, tar.zst, standard input) and
 * writes the same bundle with every secret token replaced (spec/secrets.md),
 * documents rewritten through om_canon and everything else copied through in
 * chunks.  Memory is bounded by the largest document.  See docs/om-encrypt.1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "../format/bundle.h"
#include "../format/canon.h"
#include "../format/model.h"
#include "../format/pwcrypt.h"
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

/* The biggest .json entry read whole as a document (as om-store
 * check-bundle): a larger one is refused, unless it is a home file
 * (om_model_may_be_file()), copied through. */
#define MAX_DOC (64u << 20)

enum mode { ENCRYPT, DECRYPT, REKEY, CHECK };

/* Bits of which token states were met, to hold against the manifest's. */
enum { SEEN_CLEAR = 1, SEEN_PW = 2, SEEN_REDACTED = 4 };

/* Everything of one run; one static instance, so that fail() can clean up. */
static struct run {
	enum mode mode;
	const char *in, *out, *in_name;
	struct om_pwsource pw, newpw;
	const char *kdf;       /* --kdf, or NULL */
	const char *salt_from;
	int new_salt, allow_clear;

	/* The input side: the key of a password bundle (-d, --rekey, --check). */
	struct om_pw_key *in_key;
	/* The output side: its parameters, where they came from (NULL: new),
	 * the check value to hold the password against, the key once made. */
	struct om_pw_params out_params;
	const char *out_params_from;
	char out_check[OM_PW_CHECK_SIZE];
	struct om_pw_key *out_key;

	const char *state;     /* the input manifest's Secrets.State, once read */
	char statebuf[16];
	json_t *manifest;      /* the input manifest */
	char *mraw;            /* and its text */
	size_t mlen;
	unsigned seen;         /* SEEN_* before the manifest */
	int passthrough;       /* a redacted bundle: documents copied unchanged */

	struct om_bundle_reader *r;
	struct om_bundle_writer *w;
	struct om_canon *canon;
	struct om_buf text, tok;
	/* The secret places of the current document. */
	struct hit {
		om_canon_node node;
		char *loc;
	} *hits;
	size_t nhits, caphits;
	om_canon_node *marks; /* the hits' nodes, sorted */
} R;

/* On SIGINT and friends: terminal echo back, temporary outputs gone, die
 * of the signal. */
static void on_signal(int sig)
{
	om_password_restore_tty();
	om_bundle_cleanup_on_signal();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void release(void)
{
	om_bundle_writer_abort(R.w);
	R.w = NULL;
	om_bundle_reader_close(R.r);
	R.r = NULL;
	om_pw_key_free(R.in_key);
	om_pw_key_free(R.out_key);
	R.in_key = R.out_key = NULL;
	/* Both wipe their memory (canon.h): the documents held clear values. */
	om_canon_free(R.canon);
	R.canon = NULL;
	om_buf_release(&R.text);
	om_buf_release(&R.tok);
	json_decref(R.manifest);
	R.manifest = NULL;
	free(R.mraw);
	R.mraw = NULL;
}

/* Remove the partial output, wipe the keys, print the message and exit. */
__attribute__((format(printf, 2, 3))) _Noreturn static void fail(int status, const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	release();
	om_die(status, "%s", msg);
}

/* "'NAME'", or "standard input" for "-" (as the bundle layer names it). */
static const char *display_name(const char *path)
{
	static char buf[4200];

	if (strcmp(path, "-") == 0)
		return "standard input";
	snprintf(buf, sizeof buf, "'%s'", path);
	return buf;
}

/* ---- keys ---- */

/* The password of a source, or fail. */
static void get_password(const struct om_pwsource *src, int confirm, struct om_password *pw)
{
	struct om_err err;

	if (om_password_get(src, confirm, pw, &err) < 0)
		fail(2, "%s", err.msg);
}

/* The Secrets object of a manifest as text (for messages and checks). */
static const char *manifest_state(json_t *m)
{
	return json_string_value(json_object_get(json_object_get(m, "Secrets"), "State"));
}

/* Read the manifest of another bundle: NULL when it has none. */
static json_t *read_manifest(const char *path, int must, struct om_err *err)
{
	struct om_bundle_reader *r = om_bundle_reader_open(path, err);
	struct om_bundle_entry e;
	json_t *m = NULL;
	char *buf;
	size_t len;
	int n;

	if (!r)
		return NULL;
	while ((n = om_bundle_next(r, &e, err)) == 1) {
		if (strcmp(e.path, OM_BUNDLE_MARKER) != 0)
			continue;
		if (om_bundle_read_all(r, MAX_DOC, &buf, &len, err) < 0)
			break;
		if (!(m = json_loadb(buf, len, 0, NULL)) || !json_is_object(m)) {
			json_decref(m);
			m = NULL;
			om_err_set(err, "%s: entry 'manifest.json': not a JSON object",
				   display_name(path));
		}
		free(buf);
		break;
	}
	if (n == 0 && must)
		om_err_set(err, "%s: not a bundle: no manifest.json", display_name(path));
	om_bundle_reader_close(r);
	return m;
}

/* Decide the output's Argon2id parameters and salt: those of --salt-from,
 * else (encrypting) of the output directory's bundle, else new ones.
 * --rekey does not reuse the directory's salt: the directory holds the old
 * password's check value, which the new password cannot match, and every
 * token changes with the password anyway. */
static void choose_out_params(void)
{
	struct om_pw_params lvl;
	struct om_err err;
	json_t *m = NULL;
	const char *from = NULL;
	struct stat st;

	if (R.salt_from) {
		if (!(m = read_manifest(R.salt_from, 1, &err)))
			fail(2, "%s", err.msg);
		from = R.salt_from;
		if (!manifest_state(m) || strcmp(manifest_state(m), "password") != 0) {
			json_decref(m);
			fail(2, "--salt-from %s: its secrets are not password-encrypted",
			     display_name(from));
		}
	} else if (R.mode == ENCRYPT && !R.new_salt &&
		   om_bundle_form_for_path(R.out) == OM_FORM_DIR && stat(R.out, &st) == 0 &&
		   S_ISDIR(st.st_mode)) {
		char p[4200];
		snprintf(p, sizeof p, "%s/%s", R.out, OM_BUNDLE_MARKER);
		if (stat(p, &st) == 0) {
			err.msg[0] = 0;
			if (!(m = read_manifest(R.out, 0, &err)) && err.msg[0])
				fail(2, "%s", err.msg);
			from = R.out;
			if (m && (!manifest_state(m) || strcmp(manifest_state(m), "password") != 0)) {
				json_decref(m);
				m = NULL; /* a clear or redacted bundle: nothing to reuse */
			}
		}
	}
	if (m) {
		if (om_pw_params_from_json(json_object_get(m, "Secrets"), &R.out_params,
					   R.out_check, &err) < 0) {
			json_decref(m);
			fail(2, "%s: entry 'manifest.json': %s", display_name(from), err.msg);
		}
		json_decref(m);
		R.out_params_from = from;
		if (R.kdf && (om_pw_params_level(R.kdf, &lvl), lvl.opslimit != R.out_params.opslimit ||
			      lvl.memlimit != R.out_params.memlimit))
			fail(2, "--kdf %s differs from the limits of %s, whose salt is reused: "
				"add --new-salt to change them", R.kdf, display_name(from));
		return;
	}
	om_pw_params_level(R.kdf ? R.kdf : "moderate", &R.out_params);
	om_pw_params_new_salt(&R.out_params);
}

/* The output key, made on first use. */
static const struct om_pw_key *out_key(void)
{
	struct om_password pw;
	struct om_err err;
	char check[OM_PW_CHECK_SIZE];

	if (R.out_key)
		return R.out_key;
	get_password(R.mode == REKEY ? &R.newpw : &R.pw, !R.out_params_from, &pw);
	R.out_key = om_pw_key_derive(pw.p, pw.len, &R.out_params, &err);
	om_password_free(&pw);
	if (!R.out_key)
		fail(2, "%s", err.msg);
	if (R.out_params_from) {
		om_pw_key_check(R.out_key, check);
		if (sodium_memcmp(check, R.out_check, OM_PW_CHECK_SIZE) != 0)
			fail(1, "wrong password for %s, whose salt is reused (its check value "
				"differs): give its password, or --new-salt",
			     display_name(R.out_params_from));
	}
	return R.out_key;
}

/* The input key from the input manifest's Secrets (-d, --rekey, --check). */
static void make_in_key(json_t *secrets)
{
	struct om_pw_params p;
	struct om_err err;
	struct om_password pw;
	char want[OM_PW_CHECK_SIZE], got[OM_PW_CHECK_SIZE];

	if (om_pw_params_from_json(secrets, &p, want, &err) < 0)
		fail(2, "%s: entry 'manifest.json': %s", R.in_name, err.msg);
	get_password(&R.pw, 0, &pw);
	R.in_key = om_pw_key_derive(pw.p, pw.len, &p, &err);
	om_password_free(&pw);
	if (!R.in_key)
		fail(2, "%s", err.msg);
	om_pw_key_check(R.in_key, got);
	if (sodium_memcmp(got, want, OM_PW_CHECK_SIZE) != 0)
		fail(1, "%s: wrong password (it does not match the bundle's check value)",
		     R.in_name);
}

/* ---- documents ---- */

static int note_hit(const struct om_chit *hit, void *ctx)
{
	(void)ctx;
	if (R.nhits == R.caphits) {
		size_t cap = R.caphits ? R.caphits * 2 : 16;
		struct hit *h = realloc(R.hits, cap * sizeof *h);
		om_canon_node *m = realloc(R.marks, cap * sizeof *m);
		if (h)
			R.hits = h;
		if (m)
			R.marks = m;
		if (!h || !m)
			fail(2, "out of memory");
		R.caphits = cap;
	}
	if (!(R.hits[R.nhits].loc = strdup(hit->loc)))
		fail(2, "out of memory");
	R.hits[R.nhits].node = hit->node;
	R.marks[R.nhits] = hit->node;
	R.nhits++;
	return 0;
}

static int cmp_node(const void *a, const void *b)
{
	om_canon_node x = *(const om_canon_node *)a, y = *(const om_canon_node *)b;

	return x < y ? -1 : x > y;
}

/* Is needle (nl bytes) in hay (hl bytes)?  (memmem is not POSIX.) */
static int find(const void *hay, size_t hl, const char *needle, size_t nl)
{
	const char *h = hay;

	for (size_t i = 0; nl <= hl && i <= hl - nl; i++) {
		const char *p = memchr(h + i, needle[0], hl - nl - i + 1);
		if (!p)
			return 0;
		i = (size_t)(p - h);
		if (memcmp(p, needle, nl) == 0)
			return 1;
	}
	return 0;
}

static int has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

/* Does a string look like a secret token of some state? */
static int looks_like_token(const char *s, size_t len)
{
	return has_prefix(s, len, "om-clear-") || has_prefix(s, len, "om-pw-") ||
	       has_prefix(s, len, "om-redacted-") || has_prefix(s, len, "om-sealed-");
}

/* Fail on any token-looking string outside the secret places. */
static void check_stray(const char *path, om_canon_node n, struct om_buf *where)
{
	enum om_canon_type t = om_canon_type(R.canon, n);
	size_t len, wl = where->len;
	const char *s;

	if (t == OM_CANON_STRING) {
		s = om_canon_str(R.canon, n, &len);
		if (looks_like_token(s, len) &&
		    (!R.nhits || !bsearch(&n, R.marks, R.nhits, sizeof *R.marks, cmp_node)))
			fail(2, "%s: entry '%s': %.*s: a secret token at a place that holds no "
				"secret", R.in_name, path, (int)where->len, where->p ? where->p : "");
		return;
	}
	if (t != OM_CANON_ARRAY && t != OM_CANON_OBJECT)
		return;
	for (size_t i = 0; i < om_canon_len(R.canon, n); i++) {
		om_canon_node c = om_canon_at(R.canon, n, i);
		char piece[300];
		int pl;
		if (t == OM_CANON_OBJECT) {
			size_t kl;
			const char *k = om_canon_key(R.canon, c, &kl);
			pl = snprintf(piece, sizeof piece, "%s%.*s", wl ? "/" : "",
				      (int)(kl > 200 ? 200 : kl), k);
		} else {
			pl = snprintf(piece, sizeof piece, "[%zu]", i);
		}
		if (where->cap - where->len < (size_t)pl + 1) {
			size_t cap = where->cap ? where->cap * 2 : 256;
			while (cap - where->len < (size_t)pl + 1)
				cap *= 2;
			char *p = realloc(where->p, cap);
			if (!p)
				fail(2, "out of memory");
			where->p = p;
			where->cap = cap;
		}
		memcpy(where->p + where->len, piece, (size_t)pl);
		where->len += (size_t)pl;
		check_stray(path, c, where);
		where->len = wl;
	}
}

/* What a token at a secret place is: a SEEN_* bit, or fail. */
static unsigned token_kind(const char *path, const char *loc, const char *s, size_t len)
{
	if (has_prefix(s, len, OM_CLEAR_PREFIX))
		return SEEN_CLEAR;
	if (has_prefix(s, len, OM_PW_PREFIX))
		return SEEN_PW;
	if (has_prefix(s, len, OM_REDACTED_PREFIX))
		return SEEN_REDACTED;
	if (looks_like_token(s, len))
		fail(2, "%s: entry '%s': %s: a secret token of an unknown kind or version",
		     R.in_name, path, loc);
	fail(2, "%s: entry '%s': %s: not a secret token", R.in_name, path, loc);
}

static const char *state_of(unsigned kind)
{
	return kind == SEEN_CLEAR ? "clear" : kind == SEEN_PW ? "password" : "redacted";
}

/* The new token of one secret, set in place. */
static void convert(const char *path, const struct hit *h)
{
	size_t len, clen;
	const char *s = om_canon_str(R.canon, h->node, &len);
	unsigned kind = token_kind(path, h->loc, s, len);
	struct om_err err;
	char *clear = NULL;
	int r;

	if (R.state) {
		unsigned want = strcmp(R.state, "clear") == 0 ? SEEN_CLEAR
				: strcmp(R.state, "password") == 0 ? SEEN_PW : SEEN_REDACTED;
		if (kind != want)
			fail(2, "%s: entry '%s': %s: a %s token in a bundle whose secrets are %s",
			     R.in_name, path, h->loc, state_of(kind), R.state);
	} else {
		R.seen |= kind;
	}
	if (R.mode == ENCRYPT) {
		if (kind == SEEN_PW)
			fail(2, "%s: the secrets are already password-encrypted: use --rekey to "
				"change the password, or -d to decrypt", R.in_name);
		if (kind == SEEN_REDACTED)
			return;
		if (om_clear_decode(s, len, &clear, &clen, &err) < 0)
			fail(2, "%s: entry '%s': %s: %s", R.in_name, path, h->loc, err.msg);
	} else {
		if (kind != SEEN_PW)
			fail(2, "%s: entry '%s': %s: a %s token: the secrets are not "
				"password-encrypted", R.in_name, path, h->loc, state_of(kind));
		r = om_pw_decrypt(R.in_key, path, h->loc, s, len, &clear, &clen, &err);
		if (r < 0)
			fail(2, "%s: entry '%s': %s: %s", R.in_name, path, h->loc, err.msg);
		if (r > 0)
			fail(1, "%s: entry '%s': %s: authentication failed (the token was changed, "
				"or moved from another place)", R.in_name, path, h->loc);
	}
	if (R.mode == CHECK) {
		om_clear_free(clear);
		return;
	}
	if (R.mode == DECRYPT) {
		char *t = om_clear_encode(clear, clen, &err);
		om_clear_free(clear);
		if (!t || om_canon_set_str(R.canon, h->node, t, strlen(t), &err) < 0) {
			om_clear_free(t);
			fail(2, "%s: entry '%s': %s: %s", R.in_name, path, h->loc, err.msg);
		}
		om_clear_free(t);
		return;
	}
	R.tok.len = 0;
	r = om_pw_encrypt(out_key(), path, h->loc, clear, clen, &R.tok, &err);
	om_clear_free(clear);
	if (r < 0 || om_canon_set_str(R.canon, h->node, R.tok.p, R.tok.len, &err) < 0)
		fail(2, "%s: entry '%s': %s: %s", R.in_name, path, h->loc, err.msg);
}

static void add(const char *path, const void *data, size_t len)
{
	struct om_err err;

	if (R.w && om_bundle_add(R.w, path, data, len, &err) < 0)
		fail(2, "%s", err.msg);
}

/* A .json entry: rewrite it if it is a document, else copy it. */
static void do_json(const char *path, const char *buf, size_t len)
{
	struct om_err err;
	struct om_buf where = {0};
	const struct om_kind *k;
	om_canon_node id;
	size_t idlen;
	const char *ids;
	char idz[256];
	int parsed = om_canon_parse(R.canon, buf, len, &err) == 0;

	/* Only a home file (an artifact, a package) may end in .json and not
	 * be strict JSON; anything else would be a document that no om
	 * program reads. */
	if (!parsed && !om_model_may_be_file(path))
		fail(2, "%s: entry '%s': %s", R.in_name, path, err.msg);
	if (!parsed || om_canon_type(R.canon, om_canon_root(R.canon)) != OM_CANON_OBJECT ||
	    om_canon_type(R.canon, (id = om_canon_get(R.canon, om_canon_root(R.canon), "Id"))) !=
		    OM_CANON_STRING ||
	    (ids = om_canon_str(R.canon, id, &idlen), idlen >= sizeof idz) ||
	    (memcpy(idz, ids, idlen), idz[idlen] = 0, !(k = om_kind_of_id(idz)))) {
		/* Not a document: a file that happens to end in .json. */
		if (R.mode == ENCRYPT && find(buf, len, OM_CLEAR_PREFIX, strlen(OM_CLEAR_PREFIX)))
			fail(2, "%s: entry '%s': a clear secret token in a file that is not a "
				"document", R.in_name, path);
		add(path, buf, len);
		return;
	}
	for (size_t i = 0; i < R.nhits; i++)
		free(R.hits[i].loc);
	R.nhits = 0;
	if (om_canon_secrets_each(k, R.canon, note_hit, NULL, &err) < 0)
		fail(2, "%s: entry '%s': %s", R.in_name, path, err.msg);
	if (R.nhits)
		qsort(R.marks, R.nhits, sizeof *R.marks, cmp_node);
	check_stray(path, om_canon_root(R.canon), &where);
	free(where.p);
	if (R.passthrough) {
		/* A redacted bundle: its tokens stay as they are. */
		for (size_t i = 0; i < R.nhits; i++) {
			size_t tl;
			const char *t = om_canon_str(R.canon, R.hits[i].node, &tl);
			if (token_kind(path, R.hits[i].loc, t, tl) != SEEN_REDACTED)
				fail(2, "%s: entry '%s': %s: a %s token in a bundle whose secrets "
					"are redacted", R.in_name, path, R.hits[i].loc,
				     state_of(token_kind(path, R.hits[i].loc, t, tl)));
		}
		add(path, buf, len);
		return;
	}
	for (size_t i = 0; i < R.nhits; i++)
		convert(path, &R.hits[i]);
	if (R.mode == CHECK)
		return;
	R.text.len = 0;
	if (om_canon_write(R.canon, &R.text, &err) < 0)
		fail(2, "%s: entry '%s': %s", R.in_name, path, err.msg);
	add(path, R.text.p, R.text.len);
}

/* The manifest, part one: its state decides the run, and the keys are
 * made.  Kept in R.manifest (and its text in R.mraw) for manifest_write(). */
static void manifest_read(char *buf, size_t len)
{
	struct om_err err;
	json_t *m;
	const char *st;

	if (om_canon_parse(R.canon, buf, len, &err) < 0)
		fail(2, "%s: entry 'manifest.json': %s", R.in_name, err.msg);
	m = json_loadb(buf, len, 0, NULL);
	if (!m || !json_is_object(m) ||
	    !json_is_string(json_object_get(m, "Format")) ||
	    strcmp(json_string_value(json_object_get(m, "Format")), "om-bundle") != 0)
		fail(2, "%s: entry 'manifest.json': not the manifest of an om bundle", R.in_name);
	if (!json_is_integer(json_object_get(m, "FormatVersion")) ||
	    json_integer_value(json_object_get(m, "FormatVersion")) != 1) {
		char *v = json_dumps(json_object_get(m, "FormatVersion"),
				     JSON_ENCODE_ANY | JSON_COMPACT);
		fail(2, "%s: entry 'manifest.json': unsupported FormatVersion %.40s (this om reads 1)",
		     R.in_name, v ? v : "(none)");
	}
	R.manifest = m;
	R.mraw = buf;
	R.mlen = len;
	st = manifest_state(m);
	if (!st || (strcmp(st, "clear") != 0 && strcmp(st, "password") != 0 &&
		    strcmp(st, "redacted") != 0))
		fail(2, "%s: entry 'manifest.json': Secrets.State is not clear, password or "
			"redacted", R.in_name);
	snprintf(R.statebuf, sizeof R.statebuf, "%s", st);
	R.state = R.statebuf;
	/* Tokens met before the manifest must be of its state too. */
	for (unsigned b = SEEN_CLEAR; b <= SEEN_REDACTED; b <<= 1)
		if ((R.seen & b) && strcmp(state_of(b), R.state) != 0)
			fail(2, "%s: %s tokens in a bundle whose secrets are %s", R.in_name,
			     state_of(b), R.state);
	if (strcmp(R.state, "redacted") == 0) {
		if (R.mode == CHECK)
			fail(2, "%s: the secrets are redacted: there is no password to check",
			     R.in_name);
		R.passthrough = 1;
		return;
	}
	if (R.mode == ENCRYPT) {
		if (strcmp(R.state, "password") == 0)
			fail(2, "%s: the secrets are already password-encrypted: use --rekey to "
				"change the password, or -d to decrypt", R.in_name);
		out_key();
		return;
	}
	if (strcmp(R.state, "password") != 0)
		fail(2, "%s: the secrets are %s, not password-encrypted", R.in_name, R.state);
	make_in_key(json_object_get(m, "Secrets"));
	if (R.mode == REKEY)
		out_key();
}

/* The manifest, part two: written with its Secrets for the output. */
static void manifest_write(void)
{
	json_t *sec = NULL;
	struct om_err err;
	char *text;

	if (R.passthrough) {
		add(OM_BUNDLE_MARKER, R.mraw, R.mlen);
		return;
	}
	if (R.mode == CHECK)
		return;
	if (R.mode == DECRYPT)
		sec = json_pack("{s:s}", "State", "clear");
	else
		sec = om_pw_params_to_json(&R.out_params, out_key());
	if (!sec || json_object_set_new(R.manifest, "Secrets", sec) < 0 ||
	    !(text = json_dumps(R.manifest, JSON_COMPACT)))
		fail(2, "out of memory");
	if (om_canon_parse(R.canon, text, strlen(text), &err) < 0) {
		free(text);
		fail(2, "%s: entry 'manifest.json': %s", R.in_name, err.msg);
	}
	free(text);
	R.text.len = 0;
	if (om_canon_write(R.canon, &R.text, &err) < 0)
		fail(2, "%s", err.msg);
	add(OM_BUNDLE_MARKER, R.text.p, R.text.len);
}

/* ---- files, copied through in chunks ---- */

/* A source wrapper that, when encrypting, refuses a clear token anywhere
 * in the bytes (across chunk boundaries too): no clear secret is carried
 * into the output by a file that is not a document. */
struct copy {
	om_bundle_source_fn *src;
	void *ctx;
	const char *path;
	char tail[16];
	size_t ntail;
};

static ssize_t scanning_source(void *vctx, void *buf, size_t n, struct om_err *err)
{
	struct copy *c = vctx;
	const size_t plen = strlen(OM_CLEAR_PREFIX);
	ssize_t got = c->src(c->ctx, buf, n, err);
	char win[32];
	size_t w;

	if (got <= 0 || R.mode != ENCRYPT)
		return got;
	if (find(buf, (size_t)got, OM_CLEAR_PREFIX, plen))
		goto found;
	/* The seam between the previous chunk and this one. */
	w = (size_t)got < plen - 1 ? (size_t)got : plen - 1;
	memcpy(win, c->tail, c->ntail);
	memcpy(win + c->ntail, buf, w);
	if (find(win, c->ntail + w, OM_CLEAR_PREFIX, plen))
		goto found;
	/* Keep the last plen - 1 bytes seen. */
	{
		size_t total = c->ntail + (size_t)got;
		size_t keep = total < plen - 1 ? total : plen - 1;
		char all[32];
		if ((size_t)got >= keep) {
			memcpy(c->tail, (char *)buf + got - (ssize_t)keep, keep);
		} else {
			memcpy(all, c->tail, c->ntail);
			memcpy(all + c->ntail, buf, (size_t)got);
			memcpy(c->tail, all + total - keep, keep);
		}
		c->ntail = keep;
	}
	return got;
found:
	om_err_set(err, "%s: entry '%s': a clear secret token in a file that is not a document",
		   R.in_name, c->path);
	return -1;
}

static ssize_t reader_source(void *ctx, void *buf, size_t n, struct om_err *err)
{
	(void)ctx;
	return om_bundle_read(R.r, buf, n, err);
}

static void copy_file(const char *path, uint64_t size, om_bundle_source_fn *src, void *ctx)
{
	struct copy c = {src, ctx, path, {0}, 0};
	struct om_err err;
	char buf[65536];

	if (R.w) {
		if (om_bundle_add_stream(R.w, path, size, scanning_source, &c, &err) < 0)
			fail(2, "%s", err.msg);
		return;
	}
	while (size > 0) {
		ssize_t n = scanning_source(&c, buf, size < sizeof buf ? size : sizeof buf, &err);
		if (n < 0)
			fail(2, "%s", err.msg);
		if (n == 0)
			fail(2, "%s: entry '%s': ends early", R.in_name, path);
		size -= (uint64_t)n;
	}
}

static int is_json(const char *path)
{
	size_t n = strlen(path);

	return n >= 5 && strcmp(path + n - 5, ".json") == 0;
}

/* One entry from wherever it comes (the reader or the spool). */
static void do_entry(const char *path, uint64_t size, om_bundle_source_fn *src, void *ctx)
{
	if (is_json(path) && size > MAX_DOC && !om_model_may_be_file(path))
		fail(2, "%s: entry '%s': too large to load: %llu bytes (at most %u)", R.in_name,
		     path, (unsigned long long)size, MAX_DOC);
	if (is_json(path) && size <= MAX_DOC) {
		char *buf = malloc(size + 1);
		size_t got = 0;
		struct om_err err;
		if (!buf)
			fail(2, "out of memory");
		while (got < size) {
			ssize_t n = src(ctx, buf + got, size - got, &err);
			if (n < 0)
				fail(2, "%s", err.msg);
			if (n == 0)
				fail(2, "%s: entry '%s': ends early", R.in_name, path);
			got += (size_t)n;
		}
		do_json(path, buf, got);
		sodium_memzero(buf, got); /* may have held clear values */
		free(buf);
		return;
	}
	copy_file(path, size, src, ctx);
}

/* ---- the spool: entries before the manifest, when it holds the key ---- */

static FILE *spool_open(void)
{
	const char *dir = getenv("TMPDIR");
	char tmpl[4200];
	int fd;
	FILE *f;

	snprintf(tmpl, sizeof tmpl, "%s/om-encrypt.XXXXXX", dir && *dir ? dir : "/tmp");
	if ((fd = mkstemp(tmpl)) < 0)
		fail(2, "cannot create a temporary file in '%s': %s", dir && *dir ? dir : "/tmp",
		     strerror(errno));
	unlink(tmpl);
	if (!(f = fdopen(fd, "w+b")))
		fail(2, "cannot create a temporary file: %s", strerror(errno));
	return f;
}

static ssize_t spool_source(void *ctx, void *buf, size_t n, struct om_err *err)
{
	size_t got = fread(buf, 1, n, ctx);

	if (got == 0 && ferror((FILE *)ctx)) {
		om_err_set(err, "cannot read the temporary file: %s", strerror(errno));
		return -1;
	}
	return (ssize_t)got;
}

/* Put the current entry of the reader into the spool: path, size, bytes. */
static void spool_put(FILE *f, const struct om_bundle_entry *e)
{
	uint32_t pl = (uint32_t)strlen(e->path);
	uint64_t size = e->size, left = size;
	struct om_err err;
	char buf[65536];

	if (fwrite(&pl, sizeof pl, 1, f) != 1 || fwrite(e->path, 1, pl, f) != pl ||
	    fwrite(&size, sizeof size, 1, f) != 1)
		fail(2, "cannot write a temporary file: %s", strerror(errno));
	while (left > 0) {
		ssize_t n = om_bundle_read(R.r, buf, left < sizeof buf ? left : sizeof buf, &err);
		if (n < 0)
			fail(2, "%s", err.msg);
		if (n == 0)
			fail(2, "%s: entry '%s': ends early", R.in_name, e->path);
		if (fwrite(buf, 1, (size_t)n, f) != (size_t)n)
			fail(2, "cannot write a temporary file: %s", strerror(errno));
		left -= (uint64_t)n;
	}
}

/* Replay the spooled entries through do_entry(). */
static void spool_replay(FILE *f)
{
	char path[OM_BUNDLE_PATH_MAX + 1];
	uint32_t pl;
	uint64_t size;

	if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
		fail(2, "cannot read the temporary file: %s", strerror(errno));
	while (fread(&pl, sizeof pl, 1, f) == 1) {
		if (pl > OM_BUNDLE_PATH_MAX || fread(path, 1, pl, f) != pl ||
		    fread(&size, sizeof size, 1, f) != 1)
			fail(2, "cannot read the temporary file");
		path[pl] = 0;
		/* A substream of exactly size bytes: do_entry reads no more. */
		do_entry(path, size, spool_source, f);
	}
	fclose(f);
}

/* ---- main ---- */

static int parse_fd(const char *opt, const char *s)
{
	int fd = om_password_parse_fd(s);

	if (fd < 0)
		om_die_usage("%s: '%s' is not a file descriptor number", opt, s);
	return fd;
}

static void run(void)
{
	struct om_bundle_entry e;
	struct om_err err;
	FILE *spool = NULL;
	int n;

	if (!(R.canon = om_canon_new(&err)))
		fail(2, "%s", err.msg);
	if (R.mode == ENCRYPT || R.mode == REKEY)
		choose_out_params();
	/* Encrypting writes the entries before the manifest as they come (the
	 * other modes keep them aside until their keys are made), so the
	 * password of a reused salt is checked before the output is opened:
	 * a wrong one writes nothing, not even into a pipe. */
	if (R.mode == ENCRYPT && R.out_params_from)
		out_key();
	if (!(R.r = om_bundle_reader_open(R.in, &err)))
		fail(2, "%s", err.msg);
	if (R.mode != CHECK && !(R.w = om_bundle_writer_open(R.out, &err)))
		fail(2, "%s", err.msg);
	while ((n = om_bundle_next(R.r, &e, &err)) == 1) {
		int is_manifest = strcmp(e.path, OM_BUNDLE_MARKER) == 0;
		/* Without the input's key (-d, --rekey, --check) nothing before
		 * the manifest can be read yet: keep it aside. */
		if (R.mode != ENCRYPT && !R.state && !is_manifest) {
			if (!spool)
				spool = spool_open();
			spool_put(spool, &e);
			continue;
		}
		if (is_manifest) {
			/* The state and keys first; then what was kept aside, then
			 * the manifest in its place. */
			char *buf;
			size_t len;
			if (om_bundle_read_all(R.r, MAX_DOC, &buf, &len, &err) < 0)
				fail(2, "%s", err.msg);
			manifest_read(buf, len);
			if (spool)
				spool_replay(spool);
			spool = NULL;
			manifest_write();
			continue;
		}
		do_entry(e.path, e.size, reader_source, NULL);
	}
	if (n < 0)
		fail(2, "%s", err.msg);
	if (!R.state)
		fail(2, "%s: not a bundle: no manifest.json", R.in_name);
	if (R.w) {
		struct om_bundle_writer *w = R.w;
		R.w = NULL;
		if (om_bundle_writer_commit(w, &err) < 0)
			fail(2, "%s", err.msg);
	}
	release();
	for (size_t i = 0; i < R.nhits; i++)
		free(R.hits[i].loc);
	free(R.hits);
	free(R.marks);
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
	struct om_pw_params lvl;
	struct om_err err;
	int c, nmodes = 0, out_given = 0;

	om_progname = "om-encrypt";
	R.mode = ENCRYPT;
	R.out = "-";
	R.pw = (struct om_pwsource){NULL, -1, "OM_PASSWORD", "Password: "};
	R.newpw = (struct om_pwsource){NULL, -1, "OM_NEW_PASSWORD", "New password: "};
	while ((c = getopt_long(argc, argv, "do:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'd': R.mode = DECRYPT; nmodes++; break;
		case O_REKEY: R.mode = REKEY; nmodes++; break;
		case O_CHECK: R.mode = CHECK; nmodes++; break;
		case O_PWFILE: R.pw.file = optarg; break;
		case O_PWFD: R.pw.fd = parse_fd("--password-fd", optarg); break;
		case O_NPWFILE: R.newpw.file = optarg; break;
		case O_NPWFD: R.newpw.fd = parse_fd("--new-password-fd", optarg); break;
		case O_KDF:
			if (om_pw_params_level(optarg, &lvl) < 0)
				om_die_usage("--kdf: '%s' is not interactive, moderate or sensitive",
					     optarg);
			R.kdf = optarg;
			break;
		case O_NEWSALT: R.new_salt = 1; break;
		case O_SALTFROM: R.salt_from = optarg; break;
		case O_ALLOW_CLEAR: R.allow_clear = 1; break;
		case 'o': R.out = optarg; out_given = 1; break;
		case 'h': fputs(usage_text, stdout); om_close_stdout(); return 0;
		case 'V': om_print_version(); return 0;
		default: om_die_usage(NULL);
		}
	}
	if (argc - optind > 1)
		om_die_usage("unexpected argument '%s'", argv[optind + 1]);
	R.in = optind < argc ? argv[optind] : "-";
	R.in_name = display_name(R.in);
	if (!(R.in_name = strdup(R.in_name)))
		om_die(2, "out of memory");
	if (nmodes > 1)
		om_die_usage("-d, --rekey and --check go one at a time");
	if (R.pw.file && R.pw.fd >= 0)
		om_die_usage("--password-file and --password-fd go one at a time");
	if (R.newpw.file && R.newpw.fd >= 0)
		om_die_usage("--new-password-file and --new-password-fd go one at a time");
	if ((R.newpw.file || R.newpw.fd >= 0) && R.mode != REKEY)
		om_die_usage("--new-password-file and --new-password-fd are for --rekey");
	if ((R.kdf || R.new_salt || R.salt_from) && R.mode != ENCRYPT && R.mode != REKEY)
		om_die_usage("--kdf, --new-salt and --salt-from are for encrypting and --rekey");
	if (R.new_salt && R.salt_from)
		om_die_usage("--new-salt and --salt-from go one at a time");
	if (R.mode == CHECK && out_given)
		om_die_usage("--check writes nothing: no -o");
	if (R.mode != CHECK && strcmp(R.out, "-") == 0 && isatty(STDOUT_FILENO))
		om_die(2, "standard output is a terminal: give -o PATH, or pipe it");
	if (R.mode == DECRYPT && !R.allow_clear && !om_output_is_pipe(R.out))
		om_die(2, "clear secrets go only into a pipe: pipe into om-import, "
			  "or use --allow-clear-secrets");

	if (om_crypto_init(&err) < 0 || om_model_check(&err) < 0)
		om_die(2, "%s", err.msg);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
	signal(SIGPIPE, SIG_IGN);
	run();
	free((char *)R.in_name);
	if (R.mode != CHECK && strcmp(R.out, "-") == 0)
		om_close_stdout();
	return 0;
}
