/*
 * recrypt.c - a bundle's secrets rewritten from one state to another
 * (recrypt.h).
 *
 * Every failing step leaves its message with fail(), which also records
 * whether it is a "no" (1: a password or a token that does not open) or
 * trouble (-1), and returns -1 for the caller to pass up; om_recrypt()
 * releases everything once, whatever failed.
 */
#include "recrypt.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "bundle.h"
#include "canon.h"
#include "manifest.h"
#include "model.h"
#include "pwcrypt.h"
#include "seal.h"
#include "token.h"

/* The biggest .json entry read whole as a document (as om-store
 * check-bundle): a larger one is refused, unless it is a home file
 * (om_model_may_be_file()), copied through. */
#define MAX_DOC (64u << 20)

/* The secret places of the current document. */
struct hit {
	om_canon_node node;
	char *loc;
};

/* Everything of one run. */
struct run {
	const struct om_recrypt_opts *o;
	struct om_err *err;
	int status;            /* what om_recrypt() returns once a step failed */
	char in_name[4200];    /* "'PATH'" or "standard input" */

	/* The input side: the key of a password bundle (-d, --rekey, --check). */
	struct om_pw_key *in_key;
	/* The output side: its parameters, where they came from (NULL: new),
	 * the check value to hold the password against, the key once made. */
	struct om_pw_params out_params;
	char out_from[4200];   /* the bundle whose salt is reused, shown; "" */
	char out_check[OM_PW_CHECK_SIZE];
	struct om_pw_key *out_key;

	struct om_manifest manifest; /* the input's, once read */
	int have_state;        /* its state is known and decides the run: */
	enum om_secret_state state; /* the input's (the manifest's changes on output) */
	char *mraw;            /* the manifest's text */
	size_t mlen;
	unsigned seen;         /* 1u << state of the tokens met before the manifest */
	int passthrough;       /* a redacted bundle: documents copied unchanged */

	struct om_bundle_reader *rd;
	struct om_bundle_writer *w;
	struct om_canon *canon;
	struct om_buf text, tok;
	struct hit *hits;
	size_t nhits, caphits, capmarks;
	om_canon_node *marks;  /* the hits' nodes, sorted */
};

/* Leave the message; status 1 is a "no", 2 trouble.  -1 always. */
__attribute__((format(printf, 3, 4))) static int fail(struct run *r, int status,
						      const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->err->msg, sizeof r->err->msg, fmt, ap);
	va_end(ap);
	r->status = status == 1 ? 1 : -1;
	return -1;
}

/* The message is already in r->err (a callee of libom's left it). */
static int keep(struct run *r)
{
	r->status = -1;
	return -1;
}

static int oom(struct run *r)
{
	return fail(r, 2, "out of memory");
}

/* "'NAME'", or "standard input" for "-" (as the bundle layer names it). */
static void show(const char *path, char *out, size_t size)
{
	if (strcmp(path, "-") == 0)
		snprintf(out, size, "standard input");
	else
		snprintf(out, size, "'%s'", path);
}

/* ---- keys ---- */

/* Read the manifest of another bundle; a bundle without one leaves
 * m->json NULL, an error only when must is set. */
static int read_other_manifest(struct run *r, const char *path, int must,
			       struct om_manifest *m)
{
	struct om_bundle_reader *rd = om_bundle_reader_open(path, r->err);
	struct om_bundle_entry e;
	char shown[4200], *buf;
	size_t len;
	int n, rc = 0;

	if (!rd)
		return keep(r);
	show(path, shown, sizeof shown);
	while ((n = om_bundle_next(rd, &e, r->err)) == 1) {
		json_t *json;
		if (strcmp(e.path, OM_BUNDLE_MARKER) != 0)
			continue;
		if (om_bundle_read_all(rd, MAX_DOC, &buf, &len, r->err) < 0) {
			n = -1;
			break;
		}
		if (!(json = json_loadb(buf, len, 0, NULL)) || !json_is_object(json)) {
			json_decref(json);
			rc = fail(r, 2, "%s: entry 'manifest.json': not a JSON object", shown);
		} else {
			om_manifest_take(m, json);
		}
		free(buf);
		break;
	}
	if (n < 0)
		rc = keep(r);
	else if (n == 0 && must)
		rc = fail(r, 2, "%s: not a bundle: no manifest.json", shown);
	om_bundle_reader_close(rd);
	return rc;
}

/* Decide the output's Argon2id parameters and salt: those of --salt-from,
 * else (encrypting) of the output directory's bundle, else new ones.
 * --rekey does not reuse the directory's salt: the directory holds the old
 * password's check value, which the new password cannot match, and every
 * token changes with the password anyway. */
static int choose_out_params(struct run *r)
{
	const struct om_recrypt_opts *o = r->o;
	struct om_manifest m = OM_MANIFEST_INIT;
	struct om_pw_params lvl;
	struct om_err e;
	const char *from = NULL;
	struct stat st;
	int rc = -1;

	if (o->salt_from) {
		if (read_other_manifest(r, o->salt_from, 1, &m) < 0)
			goto out;
		from = o->salt_from;
		if (m.state != OM_SECRETS_PASSWORD) {
			show(from, r->out_from, sizeof r->out_from);
			fail(r, 2, "--salt-from %s: its secrets are not password-encrypted",
			     r->out_from);
			goto out;
		}
	} else if (o->mode == OM_RECRYPT_ENCRYPT && !o->new_salt &&
		   om_bundle_form_for_path(o->out) == OM_FORM_DIR && stat(o->out, &st) == 0 &&
		   S_ISDIR(st.st_mode)) {
		char p[4200];
		snprintf(p, sizeof p, "%s/%s", o->out, OM_BUNDLE_MARKER);
		if (stat(p, &st) == 0) {
			if (read_other_manifest(r, o->out, 0, &m) < 0)
				goto out;
			from = o->out;
			if (m.json && m.state != OM_SECRETS_PASSWORD)
				om_manifest_release(&m); /* clear or redacted: nothing to reuse */
		}
	}
	if (m.json) {
		show(from, r->out_from, sizeof r->out_from);
		if (om_pw_params_from_json(m.secrets, &r->out_params, r->out_check, &e) < 0) {
			fail(r, 2, "%s: entry 'manifest.json': %s", r->out_from, e.msg);
			goto out;
		}
		if (o->kdf && (om_pw_params_level(o->kdf, &lvl), lvl.opslimit != r->out_params.opslimit ||
			       lvl.memlimit != r->out_params.memlimit)) {
			fail(r, 2, "--kdf %s differs from the limits of %s, whose salt is reused: "
				"add --new-salt to change them", o->kdf, r->out_from);
			goto out;
		}
		rc = 0;
		goto out;
	}
	om_pw_params_level(o->kdf ? o->kdf : "moderate", &r->out_params);
	om_pw_params_new_salt(&r->out_params);
	rc = 0;
out:
	om_manifest_release(&m);
	return rc;
}

/* The key of params p from the password the callback gives. */
static struct om_pw_key *derive(struct run *r, enum om_recrypt_pw which, int confirm,
				const struct om_pw_params *p)
{
	struct om_pw_key *k;
	const char *pw;
	size_t len;

	if (!(pw = r->o->password(r->o->ctx, which, confirm, &len, r->err)) ||
	    !(k = om_pw_key_derive(pw, len, p, r->err))) {
		keep(r);
		return NULL;
	}
	return k;
}

/* The output key, made on first use. */
static const struct om_pw_key *out_key(struct run *r)
{
	char check[OM_PW_CHECK_SIZE];

	if (r->out_key)
		return r->out_key;
	r->out_key = derive(r, r->o->mode == OM_RECRYPT_REKEY ? OM_RECRYPT_NEW_PW : OM_RECRYPT_PW,
			    !r->out_from[0], &r->out_params);
	if (!r->out_key)
		return NULL;
	if (r->out_from[0]) {
		om_pw_key_check(r->out_key, check);
		if (sodium_memcmp(check, r->out_check, OM_PW_CHECK_SIZE) != 0) {
			fail(r, 1, "wrong password for %s, whose salt is reused (its check value "
				"differs): give its password, or --new-salt", r->out_from);
			return NULL;
		}
	}
	return r->out_key;
}

/* The input key from the input manifest's Secrets (-d, --rekey, --check). */
static int make_in_key(struct run *r)
{
	struct om_pw_params p;
	struct om_err e;
	char want[OM_PW_CHECK_SIZE], got[OM_PW_CHECK_SIZE];

	if (om_pw_params_from_json(r->manifest.secrets, &p, want, &e) < 0)
		return fail(r, 2, "%s: entry 'manifest.json': %s", r->in_name, e.msg);
	if (!(r->in_key = derive(r, OM_RECRYPT_PW, 0, &p)))
		return -1;
	om_pw_key_check(r->in_key, got);
	if (sodium_memcmp(got, want, OM_PW_CHECK_SIZE) != 0)
		return fail(r, 1, "%s: wrong password (it does not match the bundle's check value)",
			    r->in_name);
	return 0;
}

/* ---- documents ---- */

static int note_hit(const struct om_chit *hit, void *ctx)
{
	struct run *r = ctx;

	if (om_array_grow(&r->hits, &r->caphits, r->nhits, 1, sizeof *r->hits) < 0 ||
	    om_array_grow(&r->marks, &r->capmarks, r->nhits, 1, sizeof *r->marks) < 0 ||
	    !(r->hits[r->nhits].loc = strdup(hit->loc)))
		return oom(r);
	r->hits[r->nhits].node = hit->node;
	r->marks[r->nhits] = hit->node;
	r->nhits++;
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

/* Fail on any token-looking string outside the secret places. */
static int check_stray(struct run *r, const char *path, om_canon_node n, struct om_buf *where)
{
	enum om_canon_type t = om_canon_type(r->canon, n);
	size_t len, wl = where->len;
	const char *s;

	if (t == OM_CANON_STRING) {
		s = om_canon_str(r->canon, n, &len);
		if (om_token_kind(s, len) != OM_TOKEN_NONE &&
		    (!r->nhits || !bsearch(&n, r->marks, r->nhits, sizeof *r->marks, cmp_node)))
			return fail(r, 2, "%s: entry '%s': %.*s: a secret token at a place that "
				    "holds no secret", r->in_name, path, (int)where->len,
				    where->p ? where->p : "");
		return 0;
	}
	if (t != OM_CANON_ARRAY && t != OM_CANON_OBJECT)
		return 0;
	for (size_t i = 0; i < om_canon_len(r->canon, n); i++) {
		om_canon_node c = om_canon_at(r->canon, n, i);
		char piece[300];
		int pl;
		if (t == OM_CANON_OBJECT) {
			size_t kl;
			const char *k = om_canon_key(r->canon, c, &kl);
			pl = snprintf(piece, sizeof piece, "%s%.*s", wl ? "/" : "",
				      (int)(kl > 200 ? 200 : kl), k);
		} else {
			pl = snprintf(piece, sizeof piece, "[%zu]", i);
		}
		if (om_buf_add(where, piece, (size_t)pl) < 0)
			return oom(r);
		if (check_stray(r, path, c, where) < 0)
			return -1;
		where->len = wl;
	}
	return 0;
}

/* The state a token at a secret place belongs to, into *state; or fail. */
static int token_state(struct run *r, const char *path, const char *loc, const char *s,
		       size_t len, enum om_secret_state *state)
{
	struct om_err e;

	if ((*state = om_token_state(s, len)) != OM_SECRETS_UNKNOWN)
		return 0;
	om_token_check_state(OM_SECRETS_UNKNOWN, s, len, &e);
	return fail(r, 2, "%s: entry '%s': %s: %s", r->in_name, path, loc, e.msg);
}

static const char *state_name(enum om_secret_state s)
{
	return om_secret_state_name(s);
}

/* The clear value of one secret, *clear (sodium_malloc()ed), or NULL when
 * it stays as it is (a redacted one while encrypting). */
static int open_token(struct run *r, const char *path, const struct hit *h, char **clear,
		      size_t *clen)
{
	size_t len;
	const char *s = om_canon_str(r->canon, h->node, &len);
	enum om_secret_state kind;
	struct om_err e;
	int n;

	*clear = NULL;
	if (r->have_state) {
		if (om_token_check_state(r->state, s, len, &e) < 0)
			return fail(r, 2, "%s: entry '%s': %s: %s", r->in_name, path, h->loc, e.msg);
		kind = r->state;
	} else {
		if (token_state(r, path, h->loc, s, len, &kind) < 0)
			return -1;
		r->seen |= 1u << kind;
	}
	if (r->o->mode == OM_RECRYPT_ENCRYPT) {
		if (kind == OM_SECRETS_PASSWORD)
			return fail(r, 2, "%s: the secrets are already password-encrypted: use "
				    "--rekey to change the password, or -d to decrypt", r->in_name);
		if (kind == OM_SECRETS_REDACTED)
			return 0;
		if (om_clear_decode(s, len, clear, clen, &e) < 0)
			return fail(r, 2, "%s: entry '%s': %s: %s", r->in_name, path, h->loc, e.msg);
		return 0;
	}
	if (kind != OM_SECRETS_PASSWORD)
		return fail(r, 2, "%s: entry '%s': %s: a %s token: the secrets are not "
			    "password-encrypted", r->in_name, path, h->loc, state_name(kind));
	n = om_pw_decrypt(r->in_key, path, h->loc, s, len, clear, clen, &e);
	if (n < 0)
		return fail(r, 2, "%s: entry '%s': %s: %s", r->in_name, path, h->loc, e.msg);
	if (n > 0)
		return fail(r, 1, "%s: entry '%s': %s: authentication failed (the token was "
			    "changed, or moved from another place)", r->in_name, path, h->loc);
	return 0;
}

/* The new token of one secret, set in place. */
static int convert(struct run *r, const char *path, const struct hit *h)
{
	const struct om_pw_key *k;
	struct om_err e;
	char *clear, *t;
	size_t clen;
	int n;

	if (open_token(r, path, h, &clear, &clen) < 0)
		return -1;
	if (!clear || r->o->mode == OM_RECRYPT_CHECK) {
		om_clear_free(clear);
		return 0;
	}
	if (r->o->mode == OM_RECRYPT_DECRYPT) {
		t = om_clear_encode(clear, clen, &e);
		om_clear_free(clear);
		n = !t || om_canon_set_str(r->canon, h->node, t, strlen(t), &e) < 0 ? -1 : 0;
		om_clear_free(t);
		return n < 0 ? fail(r, 2, "%s: entry '%s': %s: %s", r->in_name, path, h->loc, e.msg)
			     : 0;
	}
	r->tok.len = 0;
	if (!(k = out_key(r))) {
		om_clear_free(clear);
		return -1;
	}
	n = om_pw_encrypt(k, path, h->loc, clear, clen, &r->tok, &e);
	om_clear_free(clear);
	if (n < 0 || om_canon_set_str(r->canon, h->node, r->tok.p, r->tok.len, &e) < 0)
		return fail(r, 2, "%s: entry '%s': %s: %s", r->in_name, path, h->loc, e.msg);
	return 0;
}

static int add(struct run *r, const char *path, const void *data, size_t len)
{
	if (r->w && om_bundle_add(r->w, path, data, len, r->err) < 0)
		return keep(r);
	return 0;
}

/* The kind of the document just parsed, or NULL: not a document. */
static const struct om_kind *doc_kind(struct run *r)
{
	om_canon_node root = om_canon_root(r->canon), id;
	const char *ids;
	size_t idlen;
	char idz[256];

	if (om_canon_type(r->canon, root) != OM_CANON_OBJECT ||
	    om_canon_type(r->canon, (id = om_canon_get(r->canon, root, OM_MEMBER_ID))) != OM_CANON_STRING)
		return NULL;
	ids = om_canon_str(r->canon, id, &idlen);
	if (idlen >= sizeof idz)
		return NULL;
	memcpy(idz, ids, idlen);
	idz[idlen] = 0;
	return om_kind_of_id(idz);
}

/* A redacted bundle: its tokens stay as they are, and must all be. */
static int check_redacted(struct run *r, const char *path)
{
	enum om_secret_state st;

	for (size_t i = 0; i < r->nhits; i++) {
		size_t tl;
		const char *t = om_canon_str(r->canon, r->hits[i].node, &tl);
		if (token_state(r, path, r->hits[i].loc, t, tl, &st) < 0)
			return -1;
		if (st != OM_SECRETS_REDACTED)
			return fail(r, 2, "%s: entry '%s': %s: a %s token in a bundle whose "
				    "secrets are redacted", r->in_name, path, r->hits[i].loc,
				    state_name(st));
	}
	return 0;
}

/* A .json entry: rewrite it if it is a document, else copy it. */
static int do_json(struct run *r, const char *path, const char *buf, size_t len)
{
	struct om_err e;
	struct om_buf where = OM_BUF_INIT;
	const struct om_kind *k;
	int parsed = om_canon_parse(r->canon, buf, len, &e) == 0, rc;

	/* Only a home file (an artifact, a package) may end in .json and not
	 * be strict JSON; anything else would be a document that no om
	 * program reads. */
	if (!parsed && !om_model_may_be_file(path))
		return fail(r, 2, "%s: entry '%s': %s", r->in_name, path, e.msg);
	if (!parsed || !(k = doc_kind(r))) {
		/* Not a document: a file that happens to end in .json. */
		if (r->o->mode == OM_RECRYPT_ENCRYPT &&
		    find(buf, len, OM_CLEAR_PREFIX, OM_PREFIX_LEN(OM_CLEAR_PREFIX)))
			return fail(r, 2, "%s: entry '%s': a clear secret token in a file that is "
				    "not a document", r->in_name, path);
		return add(r, path, buf, len);
	}
	for (size_t i = 0; i < r->nhits; i++)
		free(r->hits[i].loc);
	r->nhits = 0;
	if (om_canon_secrets_each(k, r->canon, note_hit, r, &e) < 0)
		return r->status ? -1 : fail(r, 2, "%s: entry '%s': %s", r->in_name, path, e.msg);
	if (r->nhits)
		qsort(r->marks, r->nhits, sizeof *r->marks, cmp_node);
	rc = check_stray(r, path, om_canon_root(r->canon), &where);
	om_buf_release(&where);
	if (rc < 0)
		return -1;
	if (r->passthrough)
		return check_redacted(r, path) < 0 ? -1 : add(r, path, buf, len);
	for (size_t i = 0; i < r->nhits; i++)
		if (convert(r, path, &r->hits[i]) < 0)
			return -1;
	if (r->o->mode == OM_RECRYPT_CHECK)
		return 0;
	r->text.len = 0;
	if (om_canon_write(r->canon, &r->text, &e) < 0)
		return fail(r, 2, "%s: entry '%s': %s", r->in_name, path, e.msg);
	return add(r, path, r->text.p, r->text.len);
}

/* The manifest, part one: its state decides the run, and the keys are
 * made.  Its text is kept (r->mraw, owned from here) for manifest_write(). */
static int manifest_read(struct run *r, char *buf, size_t len)
{
	static const enum om_secret_state order[] = {OM_SECRETS_CLEAR, OM_SECRETS_PASSWORD,
						     OM_SECRETS_REDACTED};
	enum om_recrypt_mode mode = r->o->mode;
	struct om_err e;
	json_t *json;

	r->mraw = buf;
	r->mlen = len;
	if (om_canon_parse(r->canon, buf, len, &e) < 0)
		return fail(r, 2, "%s: entry 'manifest.json': %s", r->in_name, e.msg);
	if (!(json = json_loadb(buf, len, 0, NULL)))
		return fail(r, 2, "%s: entry 'manifest.json': not the manifest of an om bundle",
			    r->in_name);
	om_manifest_take(&r->manifest, json);
	if (om_manifest_check_form(json, r->in_name, 0, r->err) < 0)
		return keep(r);
	if ((r->state = r->manifest.state) == OM_SECRETS_UNKNOWN)
		return fail(r, 2, "%s: entry 'manifest.json': Secrets.State is not clear, "
			    "password or redacted", r->in_name);
	r->have_state = 1;
	/* Tokens met before the manifest must be of its state too. */
	for (size_t i = 0; i < sizeof order / sizeof *order; i++)
		if ((r->seen & (1u << order[i])) && order[i] != r->state)
			return fail(r, 2, "%s: %s tokens in a bundle whose secrets are %s",
				    r->in_name, state_name(order[i]), state_name(r->state));
	if (r->state == OM_SECRETS_REDACTED) {
		if (mode == OM_RECRYPT_CHECK)
			return fail(r, 2, "%s: the secrets are redacted: there is no password to "
				    "check", r->in_name);
		r->passthrough = 1;
		return 0;
	}
	if (mode == OM_RECRYPT_ENCRYPT) {
		if (r->state == OM_SECRETS_PASSWORD)
			return fail(r, 2, "%s: the secrets are already password-encrypted: use "
				    "--rekey to change the password, or -d to decrypt", r->in_name);
		return out_key(r) ? 0 : -1;
	}
	if (r->state != OM_SECRETS_PASSWORD)
		return fail(r, 2, "%s: the secrets are %s, not password-encrypted", r->in_name,
			    state_name(r->state));
	if (make_in_key(r) < 0)
		return -1;
	return mode == OM_RECRYPT_REKEY && !out_key(r) ? -1 : 0;
}

/* The manifest, part two: written with its Secrets for the output. */
static int manifest_write(struct run *r)
{
	const struct om_pw_key *k;
	json_t *sec;
	struct om_err e;

	if (r->passthrough)
		return add(r, OM_BUNDLE_MARKER, r->mraw, r->mlen);
	if (r->o->mode == OM_RECRYPT_CHECK)
		return 0;
	if (r->o->mode == OM_RECRYPT_DECRYPT) {
		sec = om_manifest_secrets(OM_SECRETS_CLEAR, NULL);
	} else {
		if (!(k = out_key(r)))
			return -1;
		sec = om_pw_params_to_json(&r->out_params, k);
	}
	if (om_manifest_set_secrets(&r->manifest, sec, &e) < 0)
		return oom(r);
	r->text.len = 0;
	if (om_manifest_write(r->manifest.json, r->canon, &r->text, &e) < 0)
		return fail(r, 2, "%s: entry 'manifest.json': %s", r->in_name, e.msg);
	return add(r, OM_BUNDLE_MARKER, r->text.p, r->text.len);
}

/* ---- files, copied through in chunks ---- */

/* A source wrapper that, when encrypting, refuses a clear token anywhere
 * in the bytes (across chunk boundaries too): no clear secret is carried
 * into the output by a file that is not a document. */
struct copy {
	struct run *r;
	om_bundle_source_fn *src;
	void *ctx;
	const char *path;
	char tail[16];
	size_t ntail;
};

static ssize_t scanning_source(void *vctx, void *buf, size_t n, struct om_err *err)
{
	struct copy *c = vctx;
	const size_t plen = OM_PREFIX_LEN(OM_CLEAR_PREFIX);
	ssize_t got = c->src(c->ctx, buf, n, err);
	char win[32];
	size_t w;

	if (got <= 0 || c->r->o->mode != OM_RECRYPT_ENCRYPT)
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
		   c->r->in_name, c->path);
	return -1;
}

static ssize_t reader_source(void *ctx, void *buf, size_t n, struct om_err *err)
{
	struct run *r = ctx;

	return om_bundle_read(r->rd, buf, n, err);
}

static int copy_file(struct run *r, const char *path, uint64_t size, om_bundle_source_fn *src,
		     void *ctx)
{
	struct copy c = {r, src, ctx, path, {0}, 0};
	char buf[65536];

	if (r->w)
		return om_bundle_add_stream(r->w, path, size, scanning_source, &c, r->err) < 0
			       ? keep(r) : 0;
	while (size > 0) {
		ssize_t n = scanning_source(&c, buf, size < sizeof buf ? size : sizeof buf, r->err);
		if (n < 0)
			return keep(r);
		if (n == 0)
			return fail(r, 2, "%s: entry '%s': ends early", r->in_name, path);
		size -= (uint64_t)n;
	}
	return 0;
}

static int is_json(const char *path)
{
	size_t n = strlen(path);

	return n >= 5 && strcmp(path + n - 5, ".json") == 0;
}

/* One entry from wherever it comes (the reader or the spool). */
static int do_entry(struct run *r, const char *path, uint64_t size, om_bundle_source_fn *src,
		    void *ctx)
{
	char *buf;
	size_t got = 0;
	int rc;

	if (is_json(path) && size > MAX_DOC && !om_model_may_be_file(path))
		return fail(r, 2, "%s: entry '%s': too large to load: %llu bytes (at most %u)",
			    r->in_name, path, (unsigned long long)size, MAX_DOC);
	if (!is_json(path) || size > MAX_DOC)
		return copy_file(r, path, size, src, ctx);
	if (!(buf = malloc(size + 1)))
		return oom(r);
	rc = 0;
	while (rc == 0 && got < size) {
		ssize_t n = src(ctx, buf + got, size - got, r->err);
		if (n < 0)
			rc = keep(r);
		else if (n == 0)
			rc = fail(r, 2, "%s: entry '%s': ends early", r->in_name, path);
		else
			got += (size_t)n;
	}
	if (rc == 0)
		rc = do_json(r, path, buf, got);
	sodium_memzero(buf, got); /* may have held clear values */
	free(buf);
	return rc;
}

/* ---- the spool: entries before the manifest, when it holds the key ---- */

static FILE *spool_open(struct run *r)
{
	char path[4096];
	int fd = om_tmpfile(NULL, "om-encrypt.", path, sizeof path);
	FILE *f;

	if (fd < 0) {
		fail(r, 2, "cannot create a temporary file in '%s': %s", om_tmpdir(NULL),
		     strerror(errno));
		return NULL;
	}
	if (!(f = fdopen(fd, "w+b"))) {
		fail(r, 2, "cannot create a temporary file: %s", strerror(errno));
		close(fd);
	}
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
static int spool_put(struct run *r, FILE *f, const struct om_bundle_entry *e)
{
	uint32_t pl = (uint32_t)strlen(e->path);
	uint64_t size = e->size, left = size;
	char buf[65536];

	if (fwrite(&pl, sizeof pl, 1, f) != 1 || fwrite(e->path, 1, pl, f) != pl ||
	    fwrite(&size, sizeof size, 1, f) != 1)
		return fail(r, 2, "cannot write a temporary file: %s", strerror(errno));
	while (left > 0) {
		ssize_t n = om_bundle_read(r->rd, buf, left < sizeof buf ? left : sizeof buf, r->err);
		if (n < 0)
			return keep(r);
		if (n == 0)
			return fail(r, 2, "%s: entry '%s': ends early", r->in_name, e->path);
		if (fwrite(buf, 1, (size_t)n, f) != (size_t)n)
			return fail(r, 2, "cannot write a temporary file: %s", strerror(errno));
		left -= (uint64_t)n;
	}
	return 0;
}

/* Replay the spooled entries through do_entry(). */
static int spool_replay(struct run *r, FILE *f)
{
	char path[OM_BUNDLE_PATH_MAX + 1];
	uint32_t pl;
	uint64_t size;

	if (fflush(f) != 0 || fseek(f, 0, SEEK_SET) != 0)
		return fail(r, 2, "cannot read the temporary file: %s", strerror(errno));
	while (fread(&pl, sizeof pl, 1, f) == 1) {
		if (pl > OM_BUNDLE_PATH_MAX || fread(path, 1, pl, f) != pl ||
		    fread(&size, sizeof size, 1, f) != 1)
			return fail(r, 2, "cannot read the temporary file");
		path[pl] = 0;
		/* A substream of exactly size bytes: do_entry reads no more. */
		if (do_entry(r, path, size, spool_source, f) < 0)
			return -1;
	}
	return 0;
}

/* ---- the run ---- */

/* The manifest: the state and keys first; then what was kept aside, then
 * the manifest in its place. */
static int do_manifest(struct run *r, FILE **spool)
{
	char *buf;
	size_t len;
	int rc;

	if (om_bundle_read_all(r->rd, MAX_DOC, &buf, &len, r->err) < 0)
		return keep(r);
	if (manifest_read(r, buf, len) < 0)
		return -1;
	rc = *spool ? spool_replay(r, *spool) : 0;
	if (*spool)
		fclose(*spool);
	*spool = NULL;
	return rc < 0 ? -1 : manifest_write(r);
}

static int run(struct run *r)
{
	const struct om_recrypt_opts *o = r->o;
	struct om_bundle_entry e;
	FILE *spool = NULL;
	int n, rc = -1;

	if (!(r->canon = om_canon_new(r->err)))
		return keep(r);
	if ((o->mode == OM_RECRYPT_ENCRYPT || o->mode == OM_RECRYPT_REKEY) &&
	    choose_out_params(r) < 0)
		return -1;
	/* Encrypting writes the entries before the manifest as they come (the
	 * other modes keep them aside until their keys are made), so the
	 * password of a reused salt is checked before the output is opened:
	 * a wrong one writes nothing, not even into a pipe. */
	if (o->mode == OM_RECRYPT_ENCRYPT && r->out_from[0] && !out_key(r))
		return -1;
	if (!(r->rd = om_bundle_reader_open(o->in, r->err)))
		return keep(r);
	if (o->mode != OM_RECRYPT_CHECK && !(r->w = om_bundle_writer_open(o->out, r->err)))
		return keep(r);
	while ((n = om_bundle_next(r->rd, &e, r->err)) == 1) {
		int is_manifest = strcmp(e.path, OM_BUNDLE_MARKER) == 0;
		/* Without the input's key (-d, --rekey, --check) nothing before
		 * the manifest can be read yet: keep it aside. */
		if (o->mode != OM_RECRYPT_ENCRYPT && !r->have_state && !is_manifest) {
			if ((!spool && !(spool = spool_open(r))) || spool_put(r, spool, &e) < 0)
				goto out;
			continue;
		}
		if (is_manifest ? do_manifest(r, &spool) < 0
				: do_entry(r, e.path, e.size, reader_source, r) < 0)
			goto out;
	}
	if (n < 0) {
		keep(r);
		goto out;
	}
	if (!r->have_state) {
		fail(r, 2, "%s: not a bundle: no manifest.json", r->in_name);
		goto out;
	}
	if (r->w) {
		struct om_bundle_writer *w = r->w;
		r->w = NULL;
		if (om_bundle_writer_commit(w, r->err) < 0) {
			keep(r);
			goto out;
		}
	}
	rc = 0;
out:
	if (spool)
		fclose(spool);
	return rc;
}

int om_recrypt(const struct om_recrypt_opts *o, struct om_err *err)
{
	struct om_err scratch;
	struct run *r = calloc(1, sizeof *r);
	int rc;

	if (!err)
		err = &scratch;
	if (!r) {
		om_err_set(err, "out of memory");
		return -1;
	}
	r->o = o;
	r->err = err;
	r->manifest = (struct om_manifest)OM_MANIFEST_INIT;
	show(o->in, r->in_name, sizeof r->in_name);
	rc = run(r) < 0 ? (r->status ? r->status : -1) : 0;
	/* Whatever happened: no partial output, no key, no clear value left. */
	om_bundle_writer_abort(r->w);
	om_bundle_reader_close(r->rd);
	om_pw_key_free(r->in_key);
	om_pw_key_free(r->out_key);
	om_canon_free(r->canon); /* wipes its memory (canon.h) */
	om_buf_release(&r->text);
	om_buf_release(&r->tok);
	om_manifest_release(&r->manifest);
	free(r->mraw);
	for (size_t i = 0; i < r->nhits; i++)
		free(r->hits[i].loc);
	free(r->hits);
	free(r->marks);
	free(r);
	return rc;
}
