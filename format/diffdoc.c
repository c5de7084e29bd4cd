/*
 * diffdoc.c - two documents compared member by member (diffint.h): both
 * normalized first (references become the paths of what they name,
 * secrets their tokens or keyed hashes), then objects by member, arrays by
 * the identity of their elements, so that a reordering is not a change.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "bundle.h"
#include "bundlecheck.h"
#include "canon.h"
#include "diffint.h"
#include "manifest.h"
#include "model.h"
#include "names.h"
#include "pwcrypt.h"
#include "seal.h"
#include "token.h"

/* Markers standing for references and secrets in a normalized tree: a
 * string beginning with REF holds items separated by SEP, each "P<kind>"
 * KSEP "<path>" (a document of the bundle), "T<kind>" KSEP "<path>" TSEP
 * "<name>" (a tag: an element of that document), "E<kind>" KSEP "<path>"
 * TSEP "<name>" (an element named by an inner reference), "U<kind>" (a
 * document outside the bundle, of another server), "X" (an element outside
 * the bundle, of another server) or "I<id>" (not in the bundle); a string
 * beginning with SECRET holds the secret's token.  Bytes below
 * 0x20 never start a real string of a canonical document's values that
 * matter here, and they never leave this file. */
#define REF '\x01'
#define SECRET '\x02'
#define SEP '\x1f'
#define KSEP '\x1d'
#define TSEP '\x1e'

/* ---- JSON text in buffers ---- */

/* A string as a JSON string literal (escaping as canonical JSON does). */
static int buf_json(struct om_buf *b, const char *s, size_t n)
{
	int r = om_buf_add(b, "\"", 1);
	for (size_t i = 0; i < n && r == 0; i++) {
		unsigned char ch = (unsigned char)s[i];
		char e[8];
		if (ch == '"' || ch == '\\') {
			e[0] = '\\';
			e[1] = (char)ch;
			r = om_buf_add(b, e, 2);
		} else if (ch < 0x20) {
			snprintf(e, sizeof e, "\\u%04x", ch);
			r = om_buf_add(b, e, 6);
		} else {
			r = om_buf_add(b, s + i, 1);
		}
	}
	return r < 0 ? -1 : om_buf_add(b, "\"", 1);
}

char *diff_dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

/* ---- comparing documents: pass 2 ---- */

/* A member name that is a reference (ProjectEnvironments{key}), by the
 * node of its value. */
struct keyref {
	om_canon_node node;
	char *key;
	size_t len;
};

struct repl {
	om_canon_node node;
	char *s;
	size_t len;
};

struct norm {
	struct differ *d;
	int side;
	struct repl *r;
	size_t nr, capr;
	struct keyref *k;
	size_t nk, capk;
};

struct cmp {
	struct differ *d;
	const struct om_kind *kind;
	const char *path[2]; /* each side's path of the document */
	struct norm n[2];
	struct om_diff_change *ch;
	size_t nch, capch;
	struct om_buf loc, pat;
	int manifest;
	/* Inside an element whose location differs between the sides (its
	 * rank, or the document's path): location-bound secrets (redacted
	 * fingerprints, password tokens) do not compare. */
	int shifted;
};

/* Append a reference item for id (len bytes), a reference of that form,
 * resolved in side's maps. */
static int ref_item(struct norm *n, struct om_buf *b, const char *id, size_t len,
		    enum om_ref_form form)
{
	char tmp[512];
	const char *tag = NULL, *path;
	size_t idl = len;
	const struct om_kind *k;

	if (len >= sizeof tmp)
		return om_buf_add(b, "I", 1) < 0 ? -1 : om_buf_add(b, id, len);
	memcpy(tmp, id, len);
	tmp[len] = 0;
	/* A tag or an inner reference names an element by its Id: compared
	 * as the document holding it and the element's name. */
	if (form == OM_REF_TAG || form == OM_REF_INNER) {
		const char *el = pmap_get(&n->d->s[n->side].elems, tmp, len);
		if (el)
			return om_buf_add(b, form == OM_REF_TAG ? "T" : "E", 1) < 0 ? -1 : om_buf_adds(b, el);
		if (form == OM_REF_INNER && !n->d->same_server)
			return om_buf_add(b, "X", 1);
		if (form == OM_REF_INNER)
			return om_buf_add(b, "I", 1) < 0 ? -1 : om_buf_add(b, id, len);
	}
	/* A tenant tag "TagSets-1/Tags-3": the tag set, then the tag. */
	if ((tag = memchr(tmp, '/', len)))
		idl = (size_t)(tag - tmp);
	tmp[idl] = 0;
	path = pmap_get(&n->d->s[n->side].map, tmp, idl);
	k = om_kind_of_id(tmp);
	/* A document outside the bundle: between bundles of one server its Id
	 * says which; between two servers only its kind can be compared. */
	if ((!path || !k) && k && !n->d->same_server)
		return om_buf_add(b, "U", 1) < 0 ? -1 : om_buf_adds(b, k->name);
	if (!path || !k)
		return om_buf_add(b, "I", 1) < 0 ? -1 : om_buf_add(b, id, len);
	if (om_buf_add(b, "P", 1) < 0 || om_buf_adds(b, k->name) < 0 || om_buf_add(b, "\x1d", 1) < 0 ||
	    ptab_path(&n->d->paths, path, b) < 0)
		return -1;
	if (tag && (om_buf_add(b, "\x1e", 1) < 0 || om_buf_add(b, tmp + idl + 1, len - idl - 1) < 0))
		return -1;
	return 0;
}

/* The marker for a reference string: every Id of a CSV list, or one Id. */
static int ref_marker(struct norm *n, struct om_buf *b, const char *s, size_t len,
		      enum om_ref_form form)
{
	const char *p = s, *end = s + len, *id;
	size_t m;
	int first = 1, t;

	b->len = 0;
	if (om_buf_add(b, "\x01", 1) < 0)
		return -1;
	if (form != OM_REF_CSV) {
		/* One Id, blanks around it left aside as around a list's. */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		return p < end && ref_item(n, b, p, (size_t)(end - p), form) < 0 ? -1 : 0;
	}
	while ((t = om_ids_next(&p, end, &id, &m))) {
		if (!first && om_buf_add(b, "\x1f", 1) < 0)
			return -1;
		/* A binding is compared as written (model.h, om_is_binding()). */
		if (t == OM_IDS_BINDING ? om_buf_add(b, "B", 1) < 0 || om_buf_add(b, id, m) < 0
					: ref_item(n, b, id, m, form) < 0)
			return -1;
		first = 0;
	}
	return 0;
}

static int add_repl(struct norm *n, om_canon_node node, const struct om_buf *b)
{
	if (om_array_grow(&n->r, &n->capr, n->nr, 1, sizeof *n->r) < 0)
		return -1;
	if (!(n->r[n->nr].s = diff_dupn(b->p, b->len)))
		return -1;
	n->r[n->nr].node = node;
	n->r[n->nr].len = b->len;
	n->nr++;
	return 0;
}

struct refwalk {
	struct norm *n;
	const struct om_ref *ref;
	struct om_buf b;
	int failed;
	const char *path; /* the document's path on its side */
	int bad;          /* failed with err set (not out of memory) */
};


static int ref_hit(const struct om_chit *hit, void *vctx)
{
	struct refwalk *w = vctx;
	struct norm *n = w->n;
	struct om_canon *c = n->d->c[n->side];
	size_t len;
	const char *s;

	if (hit->key) {
		if (ref_marker(n, &w->b, hit->key, hit->keylen, OM_REF_ID) < 0)
			goto oom;
		if (om_array_grow(&n->k, &n->capk, n->nk, 1, sizeof *n->k) < 0)
			goto oom;
		if (!(n->k[n->nk].key = diff_dupn(w->b.p, w->b.len)))
			goto oom;
		n->k[n->nk].node = hit->node;
		n->k[n->nk].len = w->b.len;
		n->nk++;
		return 0;
	}
	if (om_canon_type(c, hit->node) != OM_CANON_STRING)
		return 0;
	s = om_canon_str(c, hit->node, &len);
	if (len == 0 || (s[0] == REF))
		return 0;
	if (ref_marker(n, &w->b, s, len, w->ref ? w->ref->form : OM_REF_ID) < 0 ||
	    add_repl(n, hit->node, &w->b) < 0)
		goto oom;
	return 0;
oom:
	w->failed = 1;
	return 1;
}

static int secret_hit(const struct om_chit *hit, void *vctx)
{
	struct refwalk *w = vctx;
	struct differ *d = w->n->d;
	int side = w->n->side;
	struct om_canon *c = d->c[side];
	size_t len;
	const char *s = om_canon_str(c, hit->node, &len);

	w->b.len = 0;
	if (om_token_check_state(d->s[side].state, s, len, d->err) < 0) {
		om_err_prefix(d->err, "'%s': entry '%s': %s", d->s[side].name, w->path, hit->loc);
		w->failed = w->bad = 1;
		return 1;
	}
	if (d->hashing && ((d->key[side] && diff_token_class(s, len) == 3) || diff_token_class(s, len) == 1)) {
		/* Opened, then kept as a keyed hash of the value: a clear
		 * token that compares by value and is never printed. */
		unsigned char h[32];
		char hex[65], *clear;
		size_t n;
		int r = diff_token_class(s, len) == 1
				? om_clear_decode(s, len, &clear, &n, d->err)
				: om_pw_decrypt(d->key[side], w->path, hit->loc, s, len, &clear, &n,
						d->err);
		if (r != 0) {
			if (r > 0)
				om_err_set(d->err, "'%s': entry '%s': %s: the secret does not open: "
					   "its token was changed or moved from another place",
					   d->s[side].name, w->path, hit->loc);
			else
				om_err_prefix(d->err, "'%s': entry '%s': %s", d->s[side].name,
					      w->path, hit->loc);
			w->failed = w->bad = 1;
			return 1;
		}
		crypto_generichash(h, sizeof h, (const unsigned char *)clear, n, d->hashkey,
				   sizeof d->hashkey);
		om_clear_free(clear);
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		if (om_buf_add(&w->b, "\x02" OM_CLEAR_PREFIX, 1 + OM_PREFIX_LEN(OM_CLEAR_PREFIX)) < 0 || om_buf_add(&w->b, hex, 64) < 0 ||
		    add_repl(w->n, hit->node, &w->b) < 0)
			w->failed = 1;
		return w->failed;
	}
	if (om_buf_add(&w->b, "\x02", 1) < 0 || om_buf_add(&w->b, s, len) < 0 ||
	    add_repl(w->n, hit->node, &w->b) < 0) {
		w->failed = 1;
		return 1;
	}
	return 0;
}

static int cref_hit(const struct om_cref_hit *h, void *vctx)
{
	struct refwalk *w = vctx;

	w->ref = h->ref;
	return ref_hit(h->at, w);
}

/* Replace every reference and secret of the tree of side i by its marker. */
static int normalize(struct cmp *cm, int i)
{
	struct norm *n = &cm->n[i];
	struct om_canon *c = cm->d->c[i];
	const struct om_kind *k = cm->kind;
	struct refwalk w = {n, NULL, {0}, 0, cm->path[i], 0};
	om_canon_node root = om_canon_root(c);
	int r = 0;

	if (!k || om_canon_type(c, root) != OM_CANON_OBJECT)
		return 0;
	/* A document's space is a reference the catalog leaves implicit. */
	if (k->scope != OM_SERVER) {
		om_canon_node sp = om_canon_get(c, root, OM_MEMBER_SPACE);
		struct om_chit h = {sp, NULL, 0, OM_MEMBER_SPACE, OM_MEMBER_SPACE};
		if (sp != OM_CANON_NONE)
			ref_hit(&h, &w);
	}
	if (!w.failed)
		r = om_canon_refs_each(k, c, cref_hit, &w, cm->d->err);
	if (!w.failed && r >= 0)
		r = om_canon_secrets_each(k, c, secret_hit, &w, cm->d->err);
	om_buf_release(&w.b);
	if (w.failed) {
		if (!w.bad)
			om_err_set(cm->d->err, "out of memory");
		return -1;
	}
	if (r < 0)
		return -1;
	for (size_t j = 0; j < n->nr; j++)
		if (om_canon_set_str(c, n->r[j].node, n->r[j].s, n->r[j].len, cm->d->err) < 0)
			return -1;
	return 0;
}

static void norm_release(struct norm *n)
{
	for (size_t j = 0; j < n->nr; j++)
		free(n->r[j].s);
	for (size_t j = 0; j < n->nk; j++)
		free(n->k[j].key);
	free(n->r);
	free(n->k);
	n->r = NULL;
	n->k = NULL;
	n->nr = n->capr = n->nk = n->capk = 0;
}

/* Append the readable form of a marker's items: a document's name; a tag
 * as its set's name, '/' and its own; an inner element by its name. */
static int show_ref(struct om_buf *b, const char *s, size_t len)
{
	size_t i = 1;

	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != SEP)
			j++;
		if (i > 1 && om_buf_add(b, ", ", 2) < 0)
			return -1;
		if (s[i] == 'E') {
			const char *ts = memchr(s + i, TSEP, j - i);
			if (!ts || om_buf_add(b, ts + 1, (size_t)(s + j - ts - 1)) < 0)
				return -1;
		} else if (s[i] == 'P' || s[i] == 'T') {
			const char *ks = memchr(s + i, KSEP, j - i), *ts;
			char *path, *kname;
			const struct om_kind *k;
			int r;
			if (!ks)
				return -1;
			ts = memchr(ks, TSEP, (size_t)(s + j - ks));
			kname = diff_dupn(s + i + 1, (size_t)(ks - s - i - 1));
			path = diff_dupn(ks + 1, (size_t)((ts ? ts : s + j) - ks - 1));
			k = kname ? om_kind_by_name(kname) : NULL;
			r = path ? diff_display_name(b, path, k) : -1;
			free(kname);
			free(path);
			if (r < 0)
				return -1;
			if (ts && (om_buf_add(b, "/", 1) < 0 || om_buf_add(b, ts + 1, (size_t)(s + j - ts - 1)) < 0))
				return -1;
		} else if (s[i] == 'U') {
			if (om_buf_adds(b, "(a ") < 0 || om_buf_add(b, s + i + 1, j - i - 1) < 0 ||
			    om_buf_adds(b, " not in the bundle)") < 0)
				return -1;
		} else if (s[i] == 'X') {
			if (om_buf_adds(b, "(an element not in the bundle)") < 0)
				return -1;
		} else if (om_buf_add(b, s + i + 1, j - i - 1) < 0) {
			return -1;
		}
		i = j + 1;
	}
	return 0;
}

/* A string of a normalized tree as people see it: a JSON string. */
static int show_str(struct om_buf *b, const char *s, size_t len)
{
	if (len && s[0] == SECRET)
		return om_buf_adds(b, "\"(secret)\"");
	if (len && s[0] == REF) {
		struct om_buf t = {0};
		int r = show_ref(&t, s, len) < 0 ? -1 : buf_json(b, t.p ? t.p : "", t.len);
		om_buf_release(&t);
		return r;
	}
	return buf_json(b, s, len);
}

/* A member name as people see it (a reference shown by name). */
static int show_key(struct om_buf *b, const char *s, size_t len)
{
	if (len && s[0] == REF)
		return show_ref(b, s, len);
	return om_buf_add(b, s, len);
}

static const struct keyref *keyref_of(const struct norm *n, om_canon_node node)
{
	for (size_t j = 0; j < n->nk; j++)
		if (n->k[j].node == node)
			return &n->k[j];
	return NULL;
}

/* Compact JSON of node of side i, as people see it. */
static int render(struct cmp *cm, int i, om_canon_node node, struct om_buf *b)
{
	struct om_canon *c = cm->d->c[i];
	size_t len;
	const char *s;

	switch (om_canon_type(c, node)) {
	case OM_CANON_NULL: return om_buf_adds(b, "null");
	case OM_CANON_TRUE: return om_buf_adds(b, "true");
	case OM_CANON_FALSE: return om_buf_adds(b, "false");
	case OM_CANON_NUMBER:
		s = om_canon_str(c, node, &len);
		return om_buf_add(b, s, len);
	case OM_CANON_STRING:
		s = om_canon_str(c, node, &len);
		return show_str(b, s, len);
	case OM_CANON_ARRAY:
		if (om_buf_add(b, "[", 1) < 0)
			return -1;
		for (size_t j = 0; j < om_canon_len(c, node); j++)
			if ((j && om_buf_add(b, ",", 1) < 0) || render(cm, i, om_canon_at(c, node, j), b) < 0)
				return -1;
		return om_buf_add(b, "]", 1);
	case OM_CANON_OBJECT:
		if (om_buf_add(b, "{", 1) < 0)
			return -1;
		for (size_t j = 0; j < om_canon_len(c, node); j++) {
			om_canon_node m = om_canon_at(c, node, j);
			const struct keyref *kr = keyref_of(&cm->n[i], m);
			struct om_buf t = {0};
			if (kr)
				s = kr->key, len = kr->len;
			else
				s = om_canon_key(c, m, &len);
			int r = (j && om_buf_add(b, ",", 1) < 0) || show_key(&t, s, len) < 0 ||
				buf_json(b, t.p ? t.p : "", t.len) < 0 || om_buf_add(b, ":", 1) < 0 ||
				render(cm, i, m, b) < 0;
			om_buf_release(&t);
			if (r)
				return -1;
		}
		return om_buf_add(b, "}", 1);
	default:
		return 0;
	}
}

static int add_change(struct cmp *cm, enum om_change_type t, om_canon_node a, om_canon_node b,
		      long from, long to)
{
	struct om_diff_change *ch;
	struct om_buf o = {0}, n = {0};

	if (om_array_grow(&cm->ch, &cm->capch, cm->nch, 1, sizeof *cm->ch) < 0)
		goto oom;
	if ((a != OM_CANON_NONE && (render(cm, 0, a, &o) < 0 || !o.p)) ||
	    (b != OM_CANON_NONE && (render(cm, 1, b, &n) < 0 || !n.p)))
		goto oom;
	ch = &cm->ch[cm->nch];
	*ch = (struct om_diff_change){t, diff_dupn(cm->loc.p ? cm->loc.p : "", cm->loc.len),
				      o.p, n.p, from, to};
	if (!ch->loc)
		goto oom;
	cm->nch++;
	return 0;
oom:
	om_buf_release(&o);
	om_buf_release(&n);
	om_err_set(cm->d->err, "out of memory");
	return -1;
}

/* What kind of secret token: 0 other, 1 clear, 2 redacted, 3 password. */
int diff_token_class(const char *s, size_t len)
{
	static const char *const prefix[] = {OM_CLEAR_PREFIX, OM_REDACTED_PREFIX, OM_PW_PREFIX};
	for (int i = 0; i < 3; i++)
		if (len > strlen(prefix[i]) && memcmp(s, prefix[i], strlen(prefix[i])) == 0)
			return i + 1;
	return 0;
}

static int cmp_node(struct cmp *cm, om_canon_node a, om_canon_node b, int elem);

/* Save and restore the lengths of loc and pat around a step. */
struct mark {
	size_t loc, pat;
};

static struct mark mark(const struct cmp *cm)
{
	return (struct mark){cm->loc.len, cm->pat.len};
}

static void unmark(struct cmp *cm, struct mark m)
{
	cm->loc.len = m.loc;
	cm->pat.len = m.pat;
	if (cm->loc.p)
		cm->loc.p[m.loc] = 0;
	if (cm->pat.p)
		cm->pat.p[m.pat] = 0;
}

/* A member of an object, with its name (translated when it is a reference). */
struct member {
	const char *key;
	size_t len;
	om_canon_node node;
};

/* Bytewise, a string before its extensions. */
static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int r = al && bl ? memcmp(a, b, al < bl ? al : bl) : 0;
	return r ? r : (al > bl) - (al < bl);
}

static int member_cmp(const void *x, const void *y)
{
	const struct member *a = x, *b = y;
	return bytes_cmp(a->key, a->len, b->key, b->len);
}

static struct member *members(struct cmp *cm, int i, om_canon_node o, size_t *n)
{
	struct om_canon *c = cm->d->c[i];
	size_t len = om_canon_len(c, o);
	struct member *v = malloc((len + 1) * sizeof *v);

	if (!v)
		return NULL;
	for (size_t j = 0; j < len; j++) {
		om_canon_node m = om_canon_at(c, o, j);
		const struct keyref *kr = keyref_of(&cm->n[i], m);
		v[j].node = m;
		if (kr)
			v[j].key = kr->key, v[j].len = kr->len;
		else
			v[j].key = om_canon_key(c, m, &v[j].len);
	}
	qsort(v, len, sizeof *v, member_cmp);
	*n = len;
	return v;
}

static int step_member(struct cmp *cm, const char *raw, size_t rawlen, const char *key, size_t len)
{
	if ((cm->loc.len && om_buf_add(&cm->loc, "/", 1) < 0) || show_key(&cm->loc, key, len) < 0 ||
	    (cm->pat.len && om_buf_add(&cm->pat, "/", 1) < 0) || om_buf_add(&cm->pat, raw, rawlen) < 0) {
		om_err_set(cm->d->err, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * The manifests' Secrets a and b: a change of State (redacted against
 * password, say) is reported when it leaves secrets that cannot be
 * compared, that is unless the password opened the tokens and neither side
 * is redacted.
 */
static int state_change(struct cmp *cm, om_canon_node a, om_canon_node b)
{
	om_canon_node sa = om_canon_get(cm->d->c[0], a, "State");
	om_canon_node sb = om_canon_get(cm->d->c[1], b, "State");
	const char *red = om_secret_state_name(OM_SECRETS_REDACTED);
	size_t la, lb;
	const char *ta = om_canon_type(cm->d->c[0], sa) == OM_CANON_STRING
				 ? om_canon_str(cm->d->c[0], sa, &la) : NULL;
	const char *tb = om_canon_type(cm->d->c[1], sb) == OM_CANON_STRING
				 ? om_canon_str(cm->d->c[1], sb, &lb) : NULL;
	struct mark mk = mark(cm);
	int r;

	if (!ta || !tb || bytes_cmp(ta, la, tb, lb) == 0 ||
	    (cm->d->hashing && bytes_cmp(ta, la, red, strlen(red)) != 0 &&
	     bytes_cmp(tb, lb, red, strlen(red)) != 0))
		return 0;
	r = step_member(cm, "Secrets", 7, "Secrets", 7) < 0 || step_member(cm, "State", 5, "State", 5) < 0
		    ? -1 : add_change(cm, OM_CHANGE_CHANGED, sa, sb, 0, 0);
	unmark(cm, mk);
	return r;
}

/* Is node of side i a reference (replaced by its marker)? */
static int is_ref(const struct cmp *cm, int i, om_canon_node node)
{
	size_t len;
	const char *s = om_canon_type(cm->d->c[i], node) == OM_CANON_STRING
				? om_canon_str(cm->d->c[i], node, &len) : NULL;
	return s && len && s[0] == REF;
}

static int cmp_object(struct cmp *cm, om_canon_node a, om_canon_node b, int elem)
{
	size_t na, nb, i = 0, j = 0;
	struct member *ma = members(cm, 0, a, &na), *mb = members(cm, 1, b, &nb);
	int r = 0, root = cm->pat.len == 0;

	if (!ma || !mb) {
		free(ma);
		free(mb);
		om_err_set(cm->d->err, "out of memory");
		return -1;
	}
	while (r == 0 && (i < na || j < nb)) {
		int c = i == na ? 1 : j == nb ? -1 : member_cmp(&ma[i], &mb[j]);
		const struct member *m = c <= 0 ? &ma[i] : &mb[j];
		struct mark mk = mark(cm);
		/* An Id is the server's own: of the document, or of an element of an
		 * array (a step, a variable, a channel's rule), unless the model
		 * says it is a reference. */
		if ((root || elem) && m->len == strlen(OM_MEMBER_ID) &&
		    memcmp(m->key, OM_MEMBER_ID, m->len) == 0 &&
		    !(c <= 0 && is_ref(cm, 0, ma[i].node)) && !(c >= 0 && is_ref(cm, 1, mb[j].node))) {
			i += c <= 0;
			j += c >= 0;
			continue;
		}
		/* The manifest's counts follow from the documents, and its
		 * secrets' salt, check value and key derivation are not
		 * configuration: only a change of their state can matter. */
		if (root && cm->manifest && ((m->len == 6 && memcmp(m->key, "Counts", 6) == 0) ||
					     (m->len == 7 && memcmp(m->key, "Secrets", 7) == 0))) {
			if (c == 0 && m->len == 7)
				r = state_change(cm, ma[i].node, mb[j].node);
			i += c <= 0;
			j += c >= 0;
			continue;
		}
		size_t rawlen;
		const char *raw = c <= 0 ? om_canon_key(cm->d->c[0], ma[i].node, &rawlen)
					 : om_canon_key(cm->d->c[1], mb[j].node, &rawlen);
		if (step_member(cm, raw, rawlen, m->key, m->len) < 0)
			r = -1;
		else if (c < 0)
			r = add_change(cm, OM_CHANGE_REMOVED, ma[i].node, OM_CANON_NONE, 0, 0);
		else if (c > 0)
			r = add_change(cm, OM_CHANGE_ADDED, OM_CANON_NONE, mb[j].node, 0, 0);
		else
			r = cmp_node(cm, ma[i].node, mb[j].node, 0);
		unmark(cm, mk);
		i += c <= 0;
		j += c >= 0;
	}
	free(ma);
	free(mb);
	return r;
}

/* An element of an array, with the key it is matched by. */
struct elem {
	const char *key;
	size_t len;
	/* The rest of its identity, for arrays whose elements the model
	 * identifies by more than a name (a variable's scope), or NULL. */
	char *ident;
	size_t ilen;
	long rank;  /* the n-th element of the same key, from 1 (its location) */
	long mrank; /* the n-th of the same key and ident, for matching */
	long idx;   /* its index */
	long other; /* the index of its partner on the other side, or -1 */
	int named;  /* matched by the model's key (else by value or position) */
};

/* By key, the rest of the identity, then mrank. */
static int elem_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	int r = bytes_cmp(a->key, a->len, b->key, b->len);
	if (!r)
		r = bytes_cmp(a->ident, a->ilen, b->ident, b->ilen);
	return r ? r : (a->mrank > b->mrank) - (a->mrank < b->mrank);
}

/* By key, then mrank (the identity's rest left aside). */
static int key_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	int r = bytes_cmp(a->key, a->len, b->key, b->len);
	return r ? r : (a->mrank > b->mrank) - (a->mrank < b->mrank);
}

/* The elements still without a partner first, by key, then mrank. */
static int left_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	if ((a->other >= 0) != (b->other >= 0))
		return (a->other >= 0) - (b->other >= 0);
	return key_cmp(x, y);
}

static int idx_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/* The model's key for the elements of the array at cm->pat: the member
 * naming them (NULL: none), and the members completing their identity
 * ("Variables[]+Scope"), at most max into quals. */
static const char *array_key(struct cmp *cm, size_t *len, const char **quals, int max, int *nq)
{
	const char *member = NULL;
	const char *pat = cm->pat.p ? cm->pat.p : "";

	*nq = 0;
	for (const char *const *k = cm->kind && cm->kind->keys ? cm->kind->keys : NULL; k && *k; k++) {
		size_t n = strcspn(*k, "=+");
		if (!(*k)[n] || n != cm->pat.len + 2 || memcmp(*k, pat, cm->pat.len) != 0 ||
		    memcmp(*k + n - 2, "[]", 2) != 0)
			continue;
		if ((*k)[n] == '=') {
			member = *k + n + 1;
			*len = strlen(member);
		} else if (*nq < max) {
			quals[(*nq)++] = *k + n + 1;
		}
	}
	if (!member)
		*nq = 0;
	return member;
}

static int is_scalar(enum om_canon_type t)
{
	return t != OM_CANON_ARRAY && t != OM_CANON_OBJECT;
}

static int is_empty(const struct om_canon *c, om_canon_node n)
{
	enum om_canon_type t = om_canon_type(c, n);
	return t == OM_CANON_ABSENT || t == OM_CANON_NULL ||
	       ((t == OM_CANON_ARRAY || t == OM_CANON_OBJECT) && om_canon_len(c, n) == 0);
}

static int str_cmp(const void *x, const void *y)
{
	const struct om_buf *a = x, *b = y;
	return bytes_cmp(a->p, a->len, b->p, b->len);
}

/*
 * The value of node (of side i, normalized) as identity text, the same for
 * the same meaning on two servers: references are their markers (paths and
 * names), objects go by member in bytewise order without null or empty
 * members, and arrays are sets (sorted, without repeats).
 */
static int ident_text(struct cmp *cm, int i, om_canon_node node, struct om_buf *b)
{
	struct om_canon *c = cm->d->c[i];
	size_t len, n = om_canon_len(c, node);
	const char *s;
	int r = 0;

	switch (om_canon_type(c, node)) {
	case OM_CANON_STRING:
		s = om_canon_str(c, node, &len);
		return buf_json(b, s, len);
	case OM_CANON_ARRAY: {
		struct om_buf *v = calloc(n + 1, sizeof *v);
		if (!v)
			return -1;
		for (size_t j = 0; j < n && r == 0; j++)
			r = ident_text(cm, i, om_canon_at(c, node, j), &v[j]);
		if (r == 0) {
			qsort(v, n, sizeof *v, str_cmp);
			r = om_buf_add(b, "[", 1);
		}
		for (size_t j = 0; j < n && r == 0; j++)
			if (!j || str_cmp(&v[j - 1], &v[j]) != 0)
				r = om_buf_add(b, v[j].p ? v[j].p : "", v[j].len) < 0 ||
				    om_buf_add(b, ",", 1) < 0 ? -1 : 0;
		for (size_t j = 0; j < n; j++)
			om_buf_release(&v[j]);
		free(v);
		return r < 0 ? -1 : om_buf_add(b, "]", 1);
	}
	case OM_CANON_OBJECT: {
		struct member *m = members(cm, i, node, &n);
		if (!m)
			return -1;
		r = om_buf_add(b, "{", 1);
		for (size_t j = 0; j < n && r == 0; j++)
			if (!is_empty(c, m[j].node))
				r = buf_json(b, m[j].key, m[j].len) < 0 || om_buf_add(b, ":", 1) < 0 ||
				    ident_text(cm, i, m[j].node, b) < 0 || om_buf_add(b, ",", 1) < 0 ? -1 : 0;
		free(m);
		return r < 0 ? -1 : om_buf_add(b, "}", 1);
	}
	default:
		return render(cm, i, node, b);
	}
}

/* Do two elements (keyed, not positional) share their key, and also the
 * rest of their identity? */
static int same_key(const struct elem *a, const struct elem *b)
{
	return a->rank >= 0 && b->rank >= 0 && bytes_cmp(a->key, a->len, b->key, b->len) == 0;
}

static int same_ident(const struct elem *a, const struct elem *b)
{
	return same_key(a, b) && bytes_cmp(a->ident, a->ilen, b->ident, b->ilen) == 0;
}

/* Give v[0..n), sorted with mrank holding the index (or the negative rank
 * of a positional element), the mrank of its
 * place in each run of elements that same() finds equal: 1, 2, ...;
 * positional elements keep their (negative) rank. */
static void number_runs(struct elem *v, size_t n,
			int (*same)(const struct elem *, const struct elem *))
{
	for (size_t j = 0; j < n; j++)
		v[j].mrank = v[j].rank < 0 ? v[j].rank
			     : j && same(&v[j - 1], &v[j]) ? v[j - 1].mrank + 1 : 1;
}

static void elems_free(struct elem *v, size_t n)
{
	for (size_t j = 0; v && j < n; j++)
		free(v[j].ident);
	free(v);
}

/* Fill the elements of array node of side i: named by member (and the
 * members of quals), or by value (scalars), or NULL keys for positional
 * matching; sorted for matching. */
static struct elem *elems(struct cmp *cm, int i, om_canon_node arr, const char *member,
			  size_t mlen, const char *const *quals, int nq, int by_value, size_t *n)
{
	struct om_canon *c = cm->d->c[i];
	size_t len = om_canon_len(c, arr);
	struct elem *v = calloc(len + 1, sizeof *v);
	struct om_buf b = {0};

	if (!v)
		return NULL;
	for (size_t j = 0; j < len; j++) {
		om_canon_node e = om_canon_at(c, arr, j);
		v[j].idx = v[j].mrank = (long)j;
		v[j].other = -1;
		if (member) {
			char *name = diff_dupn(member, mlen);
			om_canon_node k = name ? om_canon_get(c, e, name) : OM_CANON_NONE;
			free(name);
			if (om_canon_type(c, k) == OM_CANON_STRING) {
				v[j].key = om_canon_str(c, k, &v[j].len);
				v[j].named = 1;
			}
		} else if (by_value) {
			v[j].key = om_canon_str(c, e, &v[j].len);
			if (!v[j].key) /* null, true, false */
				v[j].key = om_canon_type(c, e) == OM_CANON_NULL ? "null"
					   : om_canon_type(c, e) == OM_CANON_TRUE ? "true" : "false",
				v[j].len = strlen(v[j].key);
		}
		if (!v[j].key) {
			v[j].key = "";
			v[j].len = 0;
			v[j].rank = -(long)j - 1; /* unnamed: matched by position */
			continue;
		}
		/* The rest of the identity: each member's name and value. */
		b.len = 0;
		for (int q = 0; v[j].named && q < nq; q++) {
			om_canon_node m = om_canon_get(c, e, quals[q]);
			if (!is_empty(c, m) &&
			    (buf_json(&b, quals[q], strlen(quals[q])) < 0 || om_buf_add(&b, ":", 1) < 0 ||
			     ident_text(cm, i, m, &b) < 0 || om_buf_add(&b, ",", 1) < 0))
				goto oom;
		}
		if (b.len && !(v[j].ident = diff_dupn(b.p, b.len)))
			goto oom;
		v[j].ilen = b.len;
	}
	om_buf_release(&b);
	/* Ranks: the n-th of the same key, in array order (as in locations). */
	qsort(v, len, sizeof *v, key_cmp);
	for (size_t j = 0; j < len; j++)
		if (v[j].rank >= 0)
			v[j].rank = j && same_key(&v[j - 1], &v[j]) ? v[j - 1].rank + 1 : 1;
	/* For matching: the n-th of the same key and identity. */
	for (size_t j = 0; j < len; j++)
		v[j].mrank = v[j].rank < 0 ? v[j].rank : v[j].idx;
	qsort(v, len, sizeof *v, elem_cmp);
	number_runs(v, len, same_ident);
	*n = len;
	return v;
oom:
	om_buf_release(&b);
	elems_free(v, len);
	return NULL;
}

/* Pair the elements of ea and eb (both sorted by cmp) that cmp finds equal,
 * among the first na and nb. */
static void pair(struct elem *ea, size_t na, struct elem *eb, size_t nb,
		 int (*cmp)(const void *, const void *))
{
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		int c = cmp(&ea[i], &eb[j]);
		if (c == 0) {
			ea[i].other = eb[j].idx;
			eb[j].other = ea[i].idx;
		}
		i += c <= 0;
		j += c >= 0;
	}
}

/* The elements left without a partner, first in v, numbered by key. */
static size_t leftovers(struct elem *v, size_t n)
{
	size_t k = 0;

	for (size_t j = 0; j < n; j++)
		if (v[j].other < 0)
			v[j].mrank = v[j].rank < 0 ? v[j].rank : v[j].idx;
	qsort(v, n, sizeof *v, left_cmp);
	while (k < n && v[k].other < 0)
		k++;
	number_runs(v, k, same_key);
	return k;
}


/* Append the location step of an element. */
static int step_elem(struct cmp *cm, const struct elem *e, const char *member, size_t mlen,
		     int by_value)
{
	char num[32];
	int r;

	if (e->named) {
		r = om_buf_add(&cm->loc, "[", 1) < 0 || om_buf_add(&cm->loc, member, mlen) < 0 ||
		    om_buf_add(&cm->loc, "=", 1) < 0 || buf_json(&cm->loc, e->key, e->len) < 0;
		if (!r && e->rank > 1) {
			snprintf(num, sizeof num, "#%ld", e->rank);
			r = om_buf_adds(&cm->loc, num) < 0;
		}
		r = r || om_buf_add(&cm->loc, "]", 1) < 0;
	} else if (by_value) {
		r = om_buf_adds(&cm->loc, "[]") < 0;
	} else {
		snprintf(num, sizeof num, "[%ld]", e->idx);
		r = om_buf_adds(&cm->loc, num) < 0;
	}
	if (r || om_buf_adds(&cm->pat, "[]") < 0) {
		om_err_set(cm->d->err, "out of memory");
		return -1;
	}
	return 0;
}

/* Mark in keep[] the elements (in A's order) that stay in place: the
 * longest run of partners whose positions in B increase. */
static int longest_increasing(const long *seq, size_t n, char *keep)
{
	long *tail = malloc((n + 1) * sizeof *tail), *prev = malloc((n + 1) * sizeof *prev);
	size_t len = 0;

	if (!tail || !prev) {
		free(tail);
		free(prev);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t lo = 0, hi = len;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (seq[tail[mid]] < seq[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[i] = lo ? tail[lo - 1] : -1;
		tail[lo] = (long)i;
		if (lo == len)
			len++;
	}
	memset(keep, 0, n);
	for (long i = len ? tail[len - 1] : -1; i >= 0; i = prev[i])
		keep[i] = 1;
	free(tail);
	free(prev);
	return 0;
}

static int cmp_array(struct cmp *cm, om_canon_node a, om_canon_node b)
{
	struct om_canon *ca = cm->d->c[0], *cb = cm->d->c[1];
	size_t mlen = 0, na = 0, nb = 0, i, j;
	const char *quals[4];
	int nq, r = 0;
	const char *member = array_key(cm, &mlen, quals, 4, &nq);
	int by_value = !member;
	struct elem *ea = NULL, *eb = NULL, *bya = NULL;
	long *seq = NULL;
	char *keep = NULL;

	for (i = 0; by_value && i < om_canon_len(ca, a); i++)
		by_value = is_scalar(om_canon_type(ca, om_canon_at(ca, a, i)));
	for (i = 0; by_value && i < om_canon_len(cb, b); i++)
		by_value = is_scalar(om_canon_type(cb, om_canon_at(cb, b, i)));
	if (!(ea = elems(cm, 0, a, member, mlen, quals, nq, by_value, &na)) ||
	    !(eb = elems(cm, 1, b, member, mlen, quals, nq, by_value, &nb)))
		goto oom;
	/* Match by key (and the rest of the identity) and rank; unnamed
	 * elements by position.  Where the identity has more than the key,
	 * the elements left are then paired by key in their order: a
	 * variable whose scope changed. */
	pair(ea, na, eb, nb, elem_cmp);
	if (nq) {
		size_t la = leftovers(ea, na), lb = leftovers(eb, nb);
		pair(ea, la, eb, lb, key_cmp);
	}
	qsort(ea, na, sizeof *ea, idx_cmp);
	qsort(eb, nb, sizeof *eb, idx_cmp);
	/* Removed elements, in A's order. */
	for (i = 0; i < na && r == 0; i++) {
		if (ea[i].other >= 0)
			continue;
		struct mark mk = mark(cm);
		r = step_elem(cm, &ea[i], member, mlen, by_value) < 0 ? -1 :
		    add_change(cm, OM_CHANGE_REMOVED, om_canon_at(ca, a, (size_t)i), OM_CANON_NONE, 0, 0);
		unmark(cm, mk);
	}
	/* Moves, for arrays of named elements whose order is the user's (not
	 * those the model identifies by more than a name: they have none). */
	if (!(seq = malloc((na + 1) * sizeof *seq)) || !(keep = calloc(nb + na + 1, 1)))
		goto oom;
	size_t nseq = 0;
	int ordered = member && !nq;
	for (i = 0; i < na; i++)
		if (ea[i].other >= 0)
			seq[nseq++] = ea[i].other;
	if (ordered && longest_increasing(seq, nseq, keep) < 0)
		goto oom;
	/* bya: for each B index, whether it moved (keep[] is in A's order). */
	if (!(bya = calloc(nb + 1, sizeof *bya)))
		goto oom;
	for (i = 0, j = 0; i < na; i++)
		if (ea[i].other >= 0) {
			bya[ea[i].other].other = ordered && !keep[j] ? (long)i + 1 : 0;
			j++;
		}
	/* Added, moved and changed elements, in B's order. */
	for (j = 0; j < nb && r == 0; j++) {
		struct mark mk = mark(cm);
		if (step_elem(cm, &eb[j], member, mlen, by_value) < 0) {
			r = -1;
			break;
		}
		if (eb[j].other < 0) {
			r = add_change(cm, OM_CHANGE_ADDED, OM_CANON_NONE, om_canon_at(cb, b, j), 0, 0);
		} else {
			/* A secret bound to its location cannot be compared with
			 * one of another location (another rank). */
			int shifted = ea[eb[j].other].rank != eb[j].rank;
			if (bya[j].other)
				r = add_change(cm, OM_CHANGE_MOVED, OM_CANON_NONE, OM_CANON_NONE,
					       bya[j].other, (long)j + 1);
			cm->shifted += shifted;
			if (r == 0 && !by_value)
				r = cmp_node(cm, om_canon_at(ca, a, (size_t)eb[j].other),
					     om_canon_at(cb, b, j), 1);
			cm->shifted -= shifted;
		}
		unmark(cm, mk);
	}
	elems_free(ea, na);
	elems_free(eb, nb);
	free(bya);
	free(seq);
	free(keep);
	return r;
oom:
	elems_free(ea, na);
	elems_free(eb, nb);
	free(bya);
	free(seq);
	free(keep);
	om_err_set(cm->d->err, "out of memory");
	return -1;
}

static int cmp_node(struct cmp *cm, om_canon_node a, om_canon_node b, int elem)
{
	struct om_canon *ca = cm->d->c[0], *cb = cm->d->c[1];
	enum om_canon_type ta = om_canon_type(ca, a), tb = om_canon_type(cb, b);
	size_t la = 0, lb = 0;
	const char *sa = om_canon_str(ca, a, &la), *sb = om_canon_str(cb, b, &lb);
	int seca = ta == OM_CANON_STRING && la && sa[0] == SECRET;
	int secb = tb == OM_CANON_STRING && lb && sb[0] == SECRET;

	if (seca && secb) {
		int ka = diff_token_class(sa + 1, la - 1), kb = diff_token_class(sb + 1, lb - 1);
		if (la == lb && memcmp(sa, sb, la) == 0)
			return 0;
		/* Fingerprints and password tokens compare as they are only
		 * under the same key: the manifests' Secrets say. */
		if (ka != kb || ((ka == 2 || ka == 3) && (!cm->d->pw_comparable || cm->shifted)))
			return add_change(cm, OM_CHANGE_SECRET_UNKNOWN, OM_CANON_NONE, OM_CANON_NONE, 0, 0);
		return add_change(cm, OM_CHANGE_SECRET, OM_CANON_NONE, OM_CANON_NONE, 0, 0);
	}
	if (ta != tb || seca || secb)
		return add_change(cm, OM_CHANGE_CHANGED, a, b, 0, 0);
	switch (ta) {
	case OM_CANON_OBJECT:
		return cmp_object(cm, a, b, elem);
	case OM_CANON_ARRAY:
		return cmp_array(cm, a, b);
	case OM_CANON_STRING:
	case OM_CANON_NUMBER:
		if (la == lb && memcmp(sa, sb, la) == 0)
			return 0;
		return add_change(cm, OM_CHANGE_CHANGED, a, b, 0, 0);
	default:
		return 0;
	}
}

/* ---- the entry point of pass 2 (diffint.h) ---- */

int diff_doc_changes(struct differ *d, const struct om_kind *k, const char *old_path,
		     const char *path, struct om_diff_change **ch, size_t *nch)
{
	struct cmp cm = {d, k, {old_path, path},
			 {{d, 0, NULL, 0, 0, NULL, 0, 0}, {d, 1, NULL, 0, 0, NULL, 0, 0}},
			 NULL, 0, 0, {0}, {0}, strcmp(path, OM_BUNDLE_MARKER) == 0,
			 strcmp(old_path, path) != 0};
	int r = normalize(&cm, 0) < 0 || normalize(&cm, 1) < 0 ? -1 :
		cmp_node(&cm, om_canon_root(d->c[0]), om_canon_root(d->c[1]), 0);

	*ch = cm.ch;
	*nch = cm.nch;
	om_buf_release(&cm.loc);
	om_buf_release(&cm.pat);
	norm_release(&cm.n[0]);
	norm_release(&cm.n[1]);
	return r;
}

void diff_changes_free(struct om_diff_change *ch, size_t n)
{
	for (size_t j = 0; j < n; j++) {
		free((char *)ch[j].loc);
		free((char *)ch[j].old_value);
		free((char *)ch[j].new_value);
	}
	free(ch);
}
