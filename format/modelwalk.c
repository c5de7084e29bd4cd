/*
 * modelwalk.c - the walker for the catalog's paths (spec/model.md,
 * "Paths"), over jansson trees and over canonical trees, and what is built
 * on it: the reference and secret walkers, and the check of the catalog
 * itself.  It knows no kind and no member: everything it walks comes from
 * the entries of model.c, so it is model.h's second half, in a file of its
 * own to keep the catalog one readable table.
 */
#include "model.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the path walker ---- */

enum step_op { OP_MEMBER, OP_EACH, OP_FILTER, OP_VALUES, OP_KEYS };

/* One parsed step: a member name and what to do with its value. */
struct step {
	const char *name;
	size_t namelen;
	enum step_op op;
	const char *filter; /* OP_FILTER: "T=x|y" */
	size_t filterlen;
	const char *rest;   /* the path after this step, "" at the end */
};

static int step_parse(const char *p, struct step *s, struct om_err *err, const char *path)
{
	const char *q = p;

	while (*q && *q != '/' && *q != '[' && *q != '{')
		q++;
	s->name = p;
	s->namelen = (size_t)(q - p);
	s->op = OP_MEMBER;
	s->filter = NULL;
	s->filterlen = 0;
	/* A step without a name applies its [] or {} to the value at hand. */
	if (s->namelen == 0 && (p == path || (*q != '[' && *q != '{')))
		goto bad;
	if (*q == '[') {
		const char *e = strchr(q, ']');
		if (!e)
			goto bad;
		if (e == q + 1) {
			s->op = OP_EACH;
		} else {
			s->op = OP_FILTER;
			s->filter = q + 1;
			s->filterlen = (size_t)(e - q - 1);
			if (!memchr(s->filter, '=', s->filterlen))
				goto bad;
		}
		q = e + 1;
	} else if (*q == '{') {
		if (strncmp(q, "{}", 2) == 0) {
			s->op = OP_VALUES;
			q += 2;
		} else if (strncmp(q, "{key}", 5) == 0) {
			s->op = OP_KEYS;
			q += 5;
			if (*q)
				goto bad; /* keys are strings: nothing can follow */
		} else {
			goto bad;
		}
	}
	if (*q == '/') {
		q++;
		if (!*q)
			goto bad;
	} else if (*q && !((*q == '[' || *q == '{') && s->op != OP_MEMBER)) {
		/* Only another [] or {} may follow [] or {} directly:
		 * "ProjectEnvironments{}[]" is every element of every value. */
		goto bad;
	}
	s->rest = q;
	return 0;
bad:
	om_err_set(err, "model: malformed path '%s'", path);
	return -1;
}

/* Does element e pass the filter "T=x|y"? */
static int filter_match(json_t *e, const char *f, size_t flen)
{
	const char *eq = memchr(f, '=', flen);
	char member[128];
	size_t mlen = (size_t)(eq - f);
	const char *v, *alts = eq + 1, *end = f + flen;

	if (!json_is_object(e) || mlen >= sizeof member)
		return 0;
	memcpy(member, f, mlen);
	member[mlen] = 0;
	v = json_string_value(json_object_get(e, member));
	if (!v)
		return 0;
	while (alts <= end) {
		const char *bar = memchr(alts, '|', (size_t)(end - alts));
		size_t n = (size_t)((bar ? bar : end) - alts);
		if (strlen(v) == n && memcmp(v, alts, n) == 0)
			return 1;
		if (!bar)
			break;
		alts = bar + 1;
	}
	return 0;
}

static int strcmp_ptr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* ---- locations ---- */

/* Where a walk is, in both forms (struct om_hit): the lengths of where and
 * loc travel down the recursion, so a step only appends. */
struct loc {
	const struct om_kind *kind; /* for keyed arrays, or NULL */
	const char *path;
	char where[512];
	char loc[2048];
};

struct loclen {
	size_t where, loc;
};

/* Append n bytes at s to buf (size bytes, len used); a location too long
 * for the buffer is cut, which only messages and keys of absurd length
 * see.  Locations are made for every place a walk reaches, so this is
 * plain copying, not printf. */
static size_t put(char *buf, size_t size, size_t len, const char *s, size_t n)
{
	if (len >= size - 1)
		return len;
	if (n > size - 1 - len)
		n = size - 1 - len;
	memcpy(buf + len, s, n);
	len += n;
	buf[len] = 0;
	return len;
}

/* The same for the decimal digits of i, and for "[i]". */
static size_t put_num(char *buf, size_t size, size_t len, size_t i)
{
	char d[24], *p = d + sizeof d;

	do
		*--p = (char)('0' + i % 10);
	while (i /= 10);
	return put(buf, size, len, p, (size_t)(d + sizeof d - p));
}

static size_t put_index(char *buf, size_t size, size_t len, size_t i)
{
	len = put(buf, size, len, "[", 1);
	len = put_num(buf, size, len, i);
	return put(buf, size, len, "]", 1);
}

/* A member step "Name" in both forms (the name ends at a NUL byte). */
static struct loclen loc_member(struct loc *l, struct loclen at, const char *name, size_t n)
{
	n = strnlen(name, n);
	if (at.where)
		at.where = put(l->where, sizeof l->where, at.where, "/", 1);
	at.where = put(l->where, sizeof l->where, at.where, name, n);
	if (at.loc)
		at.loc = put(l->loc, sizeof l->loc, at.loc, "/", 1);
	at.loc = put(l->loc, sizeof l->loc, at.loc, name, n);
	return at;
}

/* The member naming the elements of the array that the first len bytes of
 * the walk's path reach, by the kind's keys, or NULL.  Filters do not
 * count: "Variables[Type=Sensitive]" is keyed as "Variables[]". */
static const char *key_member(const struct loc *l, const char *end)
{
	char gen[256];
	size_t g = 0;

	if (!l->kind || !l->kind->keys)
		return NULL;
	if (end > l->path && end[-1] == '/')
		end--;
	for (const char *p = l->path; p < end && g < sizeof gen - 1; p++) {
		gen[g++] = *p;
		if (*p == '[')
			while (p + 1 < end && p[1] != ']')
				p++;
	}
	gen[g] = 0;
	for (const char *const *e = l->kind->keys; *e; e++) {
		size_t n = strcspn(*e, "=+");
		if ((*e)[n] == '=' && n == g && memcmp(*e, gen, g) == 0)
			return *e + n + 1;
	}
	return NULL;
}

/* Element i of an array in both forms: '[3]' in where; in loc the same, or
 * '[Name="x"]' when the element's key member holds the string x, with '#n'
 * before the ']' for the n-th (n >= 2) element of that key. */
static struct loclen loc_elem(struct loc *l, struct loclen at, size_t i, const char *member,
			      const char *key, size_t keylen, size_t rank)
{
	static const char hex[] = "0123456789abcdef";

	at.where = put_index(l->where, sizeof l->where, at.where, i);
	if (!key) {
		at.loc = put_index(l->loc, sizeof l->loc, at.loc, i);
		return at;
	}
	at.loc = put(l->loc, sizeof l->loc, at.loc, "[", 1);
	at.loc = put(l->loc, sizeof l->loc, at.loc, member, strlen(member));
	at.loc = put(l->loc, sizeof l->loc, at.loc, "=\"", 2);
	for (size_t j = 0; j < keylen;) {
		size_t run = j;
		while (run < keylen && (unsigned char)key[run] >= 0x20 && key[run] != 0x7f &&
		       key[run] != '"' && key[run] != '\\')
			run++;
		at.loc = put(l->loc, sizeof l->loc, at.loc, key + j, run - j);
		if (run == keylen)
			break;
		unsigned char ch = (unsigned char)key[run];
		char e[6] = {'\\', (char)ch};
		if (ch == '"' || ch == '\\') {
			at.loc = put(l->loc, sizeof l->loc, at.loc, e, 2);
		} else {
			e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[ch >> 4], e[5] = hex[ch & 15];
			at.loc = put(l->loc, sizeof l->loc, at.loc, e, 6);
		}
		j = run + 1;
	}
	if (rank > 1) {
		at.loc = put(l->loc, sizeof l->loc, at.loc, "\"#", 2);
		at.loc = put_num(l->loc, sizeof l->loc, at.loc, rank);
		at.loc = put(l->loc, sizeof l->loc, at.loc, "]", 1);
	} else {
		at.loc = put(l->loc, sizeof l->loc, at.loc, "\"]", 2);
	}
	return at;
}

/* ---- walking jansson trees ---- */

struct walk {
	struct loc l;
	om_hit_fn *fn;
	void *ctx;
	struct om_err *err;
};

static int walk_at(struct walk *w, json_t *node, const char *p, struct loclen at);

/* Deliver value (inside parent), or go on with the rest of the path. */
static int walk_next(struct walk *w, json_t *parent, json_t *value, const char *key,
		     const char *rest, struct loclen at)
{
	if (*rest)
		return walk_at(w, value, rest, at);
	struct om_hit hit = {value, key, parent, w->l.where, w->l.loc};
	return w->fn(&hit, w->ctx);
}

/* The key of element i of array a under member, and its rank among the
 * elements before it with the same key; NULL when it has none. */
static const char *elem_key(json_t *a, size_t i, const char *member, size_t *len, size_t *rank)
{
	const char *k = member ? json_string_value(json_object_get(json_array_get(a, i), member))
			       : NULL;

	*rank = 1;
	if (!k)
		return NULL;
	*len = json_string_length(json_object_get(json_array_get(a, i), member));
	for (size_t j = 0; j < i; j++) {
		json_t *o = json_object_get(json_array_get(a, j), member);
		if (json_is_string(o) && json_string_length(o) == *len &&
		    memcmp(json_string_value(o), k, *len) == 0)
			(*rank)++;
	}
	return k;
}

static int walk_at(struct walk *w, json_t *node, const char *p, struct loclen at)
{
	struct step s;
	char name[128];
	json_t *v;
	int r;

	if (step_parse(p, &s, w->err, w->l.path) < 0)
		return -1;
	if (s.namelen && !json_is_object(node))
		return 0;
	if (s.namelen >= sizeof name) {
		om_err_set(w->err, "model: member name too long in path '%s'", w->l.path);
		return -1;
	}
	if (s.namelen == 0) {
		v = node;
	} else {
		memcpy(name, s.name, s.namelen);
		name[s.namelen] = 0;
		if (!(v = json_object_get(node, name)))
			return 0;
		at = loc_member(&w->l, at, s.name, s.namelen);
	}

	switch (s.op) {
	case OP_MEMBER:
		return walk_next(w, node, v, NULL, s.rest, at);
	case OP_EACH:
	case OP_FILTER: {
		if (!json_is_array(v))
			return 0;
		const char *member = key_member(&w->l, s.rest);
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *e = json_array_get(v, i);
			size_t klen = 0, rank;
			const char *key;
			if (s.op == OP_FILTER && !filter_match(e, s.filter, s.filterlen))
				continue;
			key = elem_key(v, i, member, &klen, &rank);
			if ((r = walk_next(w, v, e, NULL, s.rest,
					   loc_elem(&w->l, at, i, member, key, klen, rank))) != 0)
				return r;
		}
		return 0;
	}
	case OP_VALUES:
	case OP_KEYS: {
		if (!json_is_object(v))
			return 0;
		/* Bytewise member order, so that walks are deterministic. */
		size_t n = json_object_size(v), i = 0;
		const char **keys;
		const char *k;
		json_t *mv;
		if (n == 0)
			return 0;
		keys = malloc(n * sizeof *keys);
		if (!keys) {
			om_err_set(w->err, "out of memory");
			return -1;
		}
		json_object_foreach(v, k, mv) keys[i++] = k;
		qsort(keys, n, sizeof *keys, strcmp_ptr);
		r = 0;
		for (i = 0; i < n && r == 0; i++)
			r = walk_next(w, v, json_object_get(v, keys[i]),
				      s.op == OP_KEYS ? keys[i] : NULL, s.rest,
				      loc_member(&w->l, at, keys[i], strlen(keys[i])));
		free(keys);
		return r;
	}
	}
	return 0;
}

/* Parse every step of a path without a document. */
static int path_check(const char *path, struct om_err *err)
{
	struct step s;
	const char *p = path;

	if (strcmp(path, OM_PATH_ROOT) == 0)
		return 0;
	do {
		if (step_parse(p, &s, err, path) < 0)
			return -1;
		p = s.rest;
	} while (*p);
	return 0;
}

int om_path_walk_kind(json_t *doc, const char *path, const struct om_kind *k, om_hit_fn *fn,
		      void *ctx, struct om_err *err)
{
	struct walk *w;
	int r;

	/* A bad path is an error whatever the document holds. */
	if (path_check(path, err) < 0)
		return -1;
	if (!(w = malloc(sizeof *w))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	w->l.kind = k;
	w->l.path = path;
	w->l.where[0] = w->l.loc[0] = 0;
	w->fn = fn;
	w->ctx = ctx;
	w->err = err;
	if (strcmp(path, OM_PATH_ROOT) == 0) {
		struct om_hit hit = {doc, NULL, NULL, w->l.where, w->l.loc};
		r = fn(&hit, ctx);
	} else {
		r = walk_at(w, doc, path, (struct loclen){0, 0});
	}
	free(w);
	return r;
}

int om_path_walk(json_t *doc, const char *path, om_hit_fn *fn, void *ctx, struct om_err *err)
{
	return om_path_walk_kind(doc, path, NULL, fn, ctx, err);
}

int om_model_check(struct om_err *err)
{
	const struct om_kind *k = NULL;

	for (size_t i = 0; i < om_nkinds; i++) {
		k = &om_kinds[i];
		for (size_t j = 0; j < k->nrefs; j++) {
			const struct om_ref *r = &k->refs[j];
			if (path_check(r->path, err) < 0)
				goto bad;
			for (const char *t = r->target; t && *t;) {
				size_t n = strcspn(t, "|");
				char name[64];
				snprintf(name, sizeof name, "%.*s", (int)n, t);
				if (!om_kind_by_name(name)) {
					om_err_set(err, "model: unknown kind '%s'", name);
					goto bad;
				}
				t += n + (t[n] == '|');
			}
			if ((r->form == OM_REF_INNER || r->form == OM_REF_TAG) &&
			    (!r->inner || !r->inner_name || path_check(r->inner, err) < 0)) {
				if (!r->inner || !r->inner_name)
					om_err_set(err, "model: '%s' names no inner elements", r->path);
				goto bad;
			}
			if ((r->form == OM_REF_INNER) != (r->via != NULL)) {
				om_err_set(err, "model: '%s': via goes with inner references only", r->path);
				goto bad;
			}
		}
		for (const char *const *s = k->secrets; s && *s; s++)
			if (path_check(*s, err) < 0)
				goto bad;
		for (const char *const *e = k->keys; e && *e; e++) {
			size_t n = strcspn(*e, "=+");
			char arr[256];
			if (!(*e)[n] || !(*e)[n + 1] || n < 3 || n >= sizeof arr ||
			    strncmp(*e + n - 2, "[]", 2) != 0) {
				om_err_set(err, "model: malformed key '%s'", *e);
				goto bad;
			}
			snprintf(arr, sizeof arr, "%.*s", (int)n, *e);
			if (path_check(arr, err) < 0)
				goto bad;
			/* "A[]+M" completes the identity that "A[]=Name" gives. */
			const char *const *f = k->keys;
			while ((*e)[n] == '+' && *f && !(strcspn(*f, "=+") == n && (*f)[n] == '=' &&
							 memcmp(*f, *e, n) == 0))
				f++;
			if ((*e)[n] == '+' && !*f) {
				om_err_set(err, "model: key '%s' completes no name", *e);
				goto bad;
			}
		}
		for (const struct om_merge *m = k->merges; m && m->member; m++)
			if ((m->form == OM_MERGE_KEYED) != (m->key[0] != NULL) ||
			    (m->member[strcspn(m->member, "/[{")] != 0)) {
				om_err_set(err, "model: merge of '%s': a top-level member, with a key "
					   "when keyed", m->member);
				goto bad;
			}
		/* om_space_kind() is the first entry, the kind SpaceId names. */
		if (i == 0 && (k->scope != OM_SERVER || k->owner)) {
			om_err_set(err, "model: the first kind must be the server-level space kind");
			goto bad;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(om_kinds[j].id_prefix, k->id_prefix) == 0 ||
			    strcmp(om_kinds[j].table, k->table) == 0) {
				om_err_set(err, "model: kinds %s and %s share a prefix or table",
					   om_kinds[j].name, k->name);
				goto bad;
			}
	}
	return 0;
bad:
	om_err_prefix(err, "kind %s", k->name);
	return -1;
}

struct refs_ctx {
	const struct om_ref *ref;
	om_ref_fn *fn;
	void *ctx;
	struct om_err *err;
};

static int refs_hit(const struct om_hit *hit, void *vctx)
{
	struct refs_ctx *c = vctx;
	struct om_ref_hit rh = {c->ref, NULL, hit};
	const char *s = hit->key ? hit->key : json_string_value(hit->value);
	char buf[256];
	int r;

	if (!s || !*s)
		return 0;
	if (c->ref->form != OM_REF_CSV) {
		if (om_is_binding(s, strlen(s)))
			return 0;
		rh.id = s;
		return c->fn(&rh, c->ctx);
	}
	/* Comma-separated Ids, as Octopus writes them into step properties. */
	const char *end = s + strlen(s), *id;
	size_t n;
	int t;
	while ((t = om_ids_next(&s, end, &id, &n))) {
		if (t == OM_IDS_BINDING)
			continue;
		if (n >= sizeof buf) {
			om_err_set(c->err, "%s: Id too long", hit->where);
			return -1;
		}
		memcpy(buf, id, n);
		buf[n] = 0;
		rh.id = buf;
		if ((r = c->fn(&rh, c->ctx)) != 0)
			return r;
	}
	return 0;
}

int om_refs_each(const struct om_kind *k, json_t *doc, om_ref_fn *fn, void *ctx,
		 struct om_err *err)
{
	for (size_t i = 0; i < k->nrefs; i++) {
		struct refs_ctx c = {&k->refs[i], fn, ctx, err};
		int r = om_path_walk_kind(doc, k->refs[i].path, k, refs_hit, &c, err);
		if (r)
			return r;
	}
	return 0;
}

struct secrets_ctx {
	om_hit_fn *fn;
	void *ctx;
};

static int secrets_hit(const struct om_hit *hit, void *vctx)
{
	struct secrets_ctx *c = vctx;
	const char *s = json_string_value(hit->value);

	if (!s || !*s)
		return 0;
	return c->fn(hit, c->ctx);
}

int om_secrets_each(const struct om_kind *k, json_t *doc, om_hit_fn *fn, void *ctx,
		    struct om_err *err)
{
	struct secrets_ctx c = {fn, ctx};

	for (const char *const *s = k->secrets; s && *s; s++) {
		int r = om_path_walk_kind(doc, *s, k, secrets_hit, &c, err);
		if (r)
			return r;
	}
	return 0;
}

/* ---- walking canonical trees ---- */

struct cwalk {
	struct loc l;
	struct om_canon *c;
	om_chit_fn *fn;
	void *ctx;
	struct om_err *err;
};

static int cfilter_match(struct om_canon *c, om_canon_node e, const char *f, size_t flen)
{
	const char *eq = memchr(f, '=', flen), *alts = eq + 1, *end = f + flen, *v;
	size_t vlen;
	om_canon_node m = om_canon_getn(c, e, f, (size_t)(eq - f));

	if (om_canon_type(c, m) != OM_CANON_STRING)
		return 0;
	v = om_canon_str(c, m, &vlen);
	while (alts <= end) {
		const char *bar = memchr(alts, '|', (size_t)(end - alts));
		size_t n = (size_t)((bar ? bar : end) - alts);
		if (vlen == n && memcmp(v, alts, n) == 0)
			return 1;
		if (!bar)
			break;
		alts = bar + 1;
	}
	return 0;
}

static int cwalk_at(struct cwalk *w, om_canon_node node, const char *p, struct loclen at);

static int cwalk_next(struct cwalk *w, om_canon_node v, const char *key, size_t keylen,
		      const char *rest, struct loclen at)
{
	if (*rest)
		return cwalk_at(w, v, rest, at);
	struct om_chit hit = {v, key, keylen, w->l.where, w->l.loc};
	return w->fn(&hit, w->ctx);
}

/* elem_key() over a canonical tree. */
static const char *celem_key(struct om_canon *c, om_canon_node a, size_t i, const char *member,
			     size_t *len, size_t *rank)
{
	om_canon_node m = member ? om_canon_get(c, om_canon_at(c, a, i), member) : OM_CANON_NONE;
	const char *k;

	*rank = 1;
	if (m == OM_CANON_NONE || om_canon_type(c, m) != OM_CANON_STRING)
		return NULL;
	k = om_canon_str(c, m, len);
	for (size_t j = 0; j < i; j++) {
		om_canon_node o = om_canon_get(c, om_canon_at(c, a, j), member);
		size_t ol;
		const char *os;
		if (o != OM_CANON_NONE && om_canon_type(c, o) == OM_CANON_STRING &&
		    (os = om_canon_str(c, o, &ol), ol == *len) && memcmp(os, k, ol) == 0)
			(*rank)++;
	}
	return k;
}

static int cwalk_at(struct cwalk *w, om_canon_node node, const char *p, struct loclen at)
{
	struct step s;
	om_canon_node v;
	int r;

	if (step_parse(p, &s, w->err, w->l.path) < 0)
		return -1;
	if (s.namelen == 0) {
		v = node;
	} else {
		if (om_canon_type(w->c, node) != OM_CANON_OBJECT)
			return 0;
		v = om_canon_getn(w->c, node, s.name, s.namelen);
		if (v == OM_CANON_NONE)
			return 0;
		at = loc_member(&w->l, at, s.name, s.namelen);
	}
	switch (s.op) {
	case OP_MEMBER:
		return cwalk_next(w, v, NULL, 0, s.rest, at);
	case OP_EACH:
	case OP_FILTER: {
		if (om_canon_type(w->c, v) != OM_CANON_ARRAY)
			return 0;
		const char *member = key_member(&w->l, s.rest);
		for (size_t i = 0; i < om_canon_len(w->c, v); i++) {
			om_canon_node e = om_canon_at(w->c, v, i);
			size_t klen = 0, rank;
			const char *key;
			if (s.op == OP_FILTER && !cfilter_match(w->c, e, s.filter, s.filterlen))
				continue;
			key = celem_key(w->c, v, i, member, &klen, &rank);
			if ((r = cwalk_next(w, e, NULL, 0, s.rest,
					    loc_elem(&w->l, at, i, member, key, klen, rank))) != 0)
				return r;
		}
		return 0;
	}
	case OP_VALUES:
	case OP_KEYS:
		if (om_canon_type(w->c, v) != OM_CANON_OBJECT)
			return 0;
		for (size_t i = 0; i < om_canon_len(w->c, v); i++) {
			om_canon_node m = om_canon_at(w->c, v, i);
			size_t kl;
			const char *k = om_canon_key(w->c, m, &kl);
			if ((r = cwalk_next(w, m, s.op == OP_KEYS ? k : NULL, kl, s.rest,
					    loc_member(&w->l, at, k, kl))) != 0)
				return r;
		}
		return 0;
	}
	return 0;
}

int om_canon_path_walk(struct om_canon *c, om_canon_node root, const char *path,
		       const struct om_kind *k, om_chit_fn *fn, void *ctx, struct om_err *err)
{
	struct cwalk *w;
	int r;

	if (path_check(path, err) < 0)
		return -1;
	if (!(w = malloc(sizeof *w))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	w->l.kind = k;
	w->l.path = path;
	w->l.where[0] = w->l.loc[0] = 0;
	w->c = c;
	w->fn = fn;
	w->ctx = ctx;
	w->err = err;
	if (strcmp(path, OM_PATH_ROOT) == 0) {
		struct om_chit hit = {root, NULL, 0, w->l.where, w->l.loc};
		r = fn(&hit, ctx);
	} else {
		r = cwalk_at(w, root, path, (struct loclen){0, 0});
	}
	free(w);
	return r;
}

struct csecrets {
	struct om_canon *c;
	om_chit_fn *fn;
	void *ctx;
};

static int csecret_hit(const struct om_chit *hit, void *vctx)
{
	struct csecrets *s = vctx;
	size_t n = 0;

	if (om_canon_type(s->c, hit->node) != OM_CANON_STRING ||
	    (om_canon_str(s->c, hit->node, &n), n == 0))
		return 0;
	return s->fn(hit, s->ctx);
}

int om_canon_secrets_each(const struct om_kind *k, struct om_canon *c, om_chit_fn *fn,
			  void *ctx, struct om_err *err)
{
	struct csecrets s = {c, fn, ctx};

	for (const char *const *p = k->secrets; p && *p; p++) {
		int r = om_canon_path_walk(c, om_canon_root(c), *p, k, csecret_hit, &s, err);
		if (r)
			return r;
	}
	return 0;
}

struct crefs {
	struct om_canon *c;
	const struct om_ref *ref;
	om_cref_fn *fn;
	void *ctx;
};

static int cref_hit(const struct om_chit *hit, void *vctx)
{
	struct crefs *r = vctx;
	struct om_cref_hit h = {r->ref, hit};
	size_t len = hit->keylen;
	const char *s = hit->key ? hit->key : om_canon_str(r->c, hit->node, &len);

	if (s && r->ref->form != OM_REF_CSV && om_is_binding(s, len))
		return 0;
	return r->fn(&h, r->ctx);
}

int om_canon_refs_each(const struct om_kind *k, struct om_canon *c, om_cref_fn *fn, void *ctx,
		       struct om_err *err)
{
	for (size_t i = 0; i < k->nrefs; i++) {
		struct crefs r = {c, &k->refs[i], fn, ctx};
		int rc = om_canon_path_walk(c, om_canon_root(c), k->refs[i].path, k, cref_hit, &r, err);
		if (rc)
			return rc;
	}
	return 0;
}
