/*
 * import_refs.c - om-import: rewriting references and secrets.
 *
 * Phase B: every reference of a document (the model's om_refs_each()) is
 * rewritten to the target's Id, dropped or cleared as the model's flags
 * say; element Ids and script sidecars go back in; every secret token is
 * opened (clear, password) or takes the target's value (redacted) and is
 * sealed with the target's master key.
 */

#include <sodium.h>

#include "bundle.h"
#include "seal.h"

#include "import_int.h"

/* ---- rewriting (phase B) ---- */

/* One reference found in a document, rewritten after the walk. */
struct fix {
	const struct om_ref *ref;
	json_t *parent;
	json_t *value;
	char *key;       /* for A{key}: the member name */
	char *to;        /* the new Id, or NULL: dropped */
	int csv_done;
};

struct fixes {
	struct imp *x;
	const struct doc *d;
	struct fix *f;
	size_t n, cap;
	int fail;
	int cleared;     /* weak references of the document cleared */
};

/* The target's Id for a reference's Id, or NULL. */
const char *imp_resolve(struct imp *x, const struct om_ref *r, const char *id)
{
	if (r->form == OM_REF_INNER || r->form == OM_REF_TAG)
		return imp_smap_get(&x->b->elems, id);
	const struct doc *t = imp_src_doc(x, id);
	if (!t)
		return NULL;
	if (!om_ref_allows(r, t->kind))
		return NULL;
	return t->dst_id;
}

/* Is an unresolved reference to id allowed to go (with a warning)? */
static int droppable(struct imp *x, const struct om_ref *r, const char *id)
{
	const struct om_kind *k = om_kind_of_id(id);

	if (r->flags & OM_REF_DROPPABLE)
		return 1;
	/* References into a history class the export left out. */
	return k && k->history && (x->b->ignored & (1u << k->history));
}

static int fix_hit(const struct om_ref_hit *h, void *vctx)
{
	struct fixes *fx = vctx;
	struct imp *x = fx->x;
	const char *to = imp_resolve(x, h->ref, h->id);

	/* History may name documents that are gone.  Such an Id is cleared,
	 * not kept: in the target the same Id names another document, or
	 * will once the allocator reaches it (spec/import.md). */
	if (!to && !(h->ref->flags & OM_REF_WEAK)) {
		char w[300], kw[64];
		const struct om_kind *tk = om_kind_of_id(h->id);
		imp_doc_words(fx->d, w, sizeof w);
		imp_kind_words(tk ? tk->name : h->ref->target ? h->ref->target : "document", kw,
			   sizeof kw);
		if (!droppable(x, h->ref, h->id)) {
			imp_doc_err(x, fx->d, "%s -> %s %s (%s): not in bundle or target", w, kw, h->id,
				h->at->where);
			return -1;
		}
		if (!x->refs_again)
			imp_warn(x, "'%s': entry '%s': %s: %s %s not in bundle or target: dropped",
			     x->b->name, fx->d->path, h->at->where, kw, h->id);
	} else if (!to) {
		fx->cleared++;
	}
	/* A CSV string gives one call per Id; it is rebuilt once. */
	if (h->ref->form == OM_REF_CSV)
		for (size_t i = 0; i < fx->n; i++)
			if (fx->f[i].value == h->at->value)
				return 0;
	if (om_array_grow(&fx->f, &fx->cap, fx->n, 1, sizeof *fx->f) < 0)
		return imp_oom(x);
	struct fix *f = &fx->f[fx->n++];
	memset(f, 0, sizeof *f);
	f->ref = h->ref;
	f->parent = h->at->parent;
	f->value = h->at->value;
	f->key = h->at->key ? strdup(h->at->key) : NULL;
	f->to = to ? strdup(to) : NULL;
	if ((h->at->key && !f->key) || (to && !f->to))
		return imp_oom(x);
	return 0;
}

/* Rebuild a comma-separated list with each Id resolved (unresolved ones,
 * already reported, left out) and each binding kept as written. */
static json_t *fix_csv(struct imp *x, const struct om_ref *r, const char *s)
{
	struct om_buf out = {0};
	json_t *j;

	const char *end = s + strlen(s), *p;
	size_t n;
	int t;

	while ((t = om_ids_next(&s, end, &p, &n))) {
		char *id = strndup(p, n);
		const char *to = !id ? NULL : t == OM_IDS_BINDING ? id : imp_resolve(x, r, id);
		if (to) {
			if (out.len)
				om_buf_adds(&out, ",");
			om_buf_adds(&out, to);
		}
		free(id);
	}
	j = json_string(out.p ? out.p : "");
	free(out.p);
	return j;
}

static size_t array_index(json_t *a, json_t *v)
{
	for (size_t i = 0; i < json_array_size(a); i++)
		if (json_array_get(a, i) == v)
			return i;
	return (size_t)-1;
}

static const char *object_key(json_t *o, json_t *v)
{
	const char *k;
	json_t *m;

	json_object_foreach(o, k, m) {
		if (m == v)
			return k;
	}
	return NULL;
}

/* Rewrite every reference of doc; unresolved optional ones are removed
 * from their array (or set to null). */
int imp_remap_refs(struct imp *x, const struct doc *d, json_t *doc)
{
	struct fixes fx = {x, d, NULL, 0, 0, 0, 0};
	int rc = -1;

	if (om_refs_each(d->kind, doc, fix_hit, &fx, x->err) != 0)
		goto out;
	/* Object keys first (values stay the same objects): every old key
	 * out before any new one goes in, as a new key may be another's old. */
	for (size_t i = 0; i < fx.n; i++) {
		struct fix *f = &fx.f[i];
		if (!f->key)
			continue;
		json_incref(f->value);
		json_object_del(f->parent, f->key);
	}
	for (size_t i = 0; i < fx.n; i++) {
		struct fix *f = &fx.f[i];
		if (!f->key)
			continue;
		if (f->to)
			json_object_set(f->parent, f->to, f->value);
		json_decref(f->value);
	}
	for (size_t i = 0; i < fx.n; i++) {
		struct fix *f = &fx.f[i];
		json_t *nv;
		if (f->key || !f->to)
			continue;
		nv = f->ref->form == OM_REF_CSV ? fix_csv(x, f->ref, json_string_value(f->value))
						: json_string(f->to);
		if (!nv)
			goto nomem;
		if (json_is_array(f->parent)) {
			json_array_set_new(f->parent, array_index(f->parent, f->value), nv);
		} else {
			const char *k = object_key(f->parent, f->value);
			if (k)
				json_object_set_new(f->parent, k, nv);
			else
				json_decref(nv);
		}
	}
	/* Dropped: out of their arrays, last first; null as members. */
	for (size_t i = fx.n; i-- > 0;) {
		struct fix *f = &fx.f[i];
		if (f->key || f->to)
			continue;
		if (json_is_array(f->parent)) {
			size_t at = array_index(f->parent, f->value);
			if (at != (size_t)-1)
				json_array_remove(f->parent, at);
		} else {
			const char *k = object_key(f->parent, f->value);
			if (k) {
				json_t *nv = f->ref->form == OM_REF_CSV ?
					fix_csv(x, f->ref, json_string_value(f->value)) : json_null();
				json_object_set_new(f->parent, k, nv);
			}
		}
	}
	x->doc_cleared = (unsigned long)fx.cleared;
	rc = 0;
	goto out;
nomem:
	imp_oom(x);
out:
	for (size_t i = 0; i < fx.n; i++) {
		free(fx.f[i].key);
		free(fx.f[i].to);
	}
	free(fx.f);
	return rc;
}

/* Element Ids of a written document (tags, templates, actions) as mapped. */
static int set_elem_hit(const struct om_hit *hit, void *vctx)
{
	struct imp *x = vctx;
	const char *id = json_string_value(json_object_get(hit->value, OM_MEMBER_ID));
	const char *to = id ? imp_smap_get(&x->b->elems, id) : NULL;

	if (to && strcmp(to, id) != 0)
		json_object_set_new(hit->value, OM_MEMBER_ID, json_string(to));
	return 0;
}

int imp_remap_elements(struct imp *x, const struct om_kind *k, json_t *doc)
{
	for (size_t s = 0; s < x->nsets; s++)
		if (x->sets[s].kind == k &&
		    om_path_walk(doc, x->sets[s].path, set_elem_hit, x, x->err) < 0)
			return -1;
	return 0;
}

int imp_script_hit(const struct om_hit *hit, void *vctx)
{
	struct script_ctx *c = vctx;
	json_t *props = json_object_get(hit->value, om_script.props);
	const char *body = json_string_value(json_object_get(props, om_script.body));
	const char *slash = strrchr(c->d->path, '/');
	char path[OM_BUNDLE_PATH_MAX + 1];
	const char *text;

	if (!body || strncmp(body, OM_SCRIPT_PREFIX, OM_PREFIX_LEN(OM_SCRIPT_PREFIX)) != 0)
		return 0;
	snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - c->d->path + 1) : 0,
		 c->d->path, body + OM_PREFIX_LEN(OM_SCRIPT_PREFIX));
	if (!(text = imp_smap_get(&c->x->b->scripts, path)))
		return imp_doc_err(c->x, c->d, "%s: script '%s' is not in the bundle", hit->where,
			       body + OM_PREFIX_LEN(OM_SCRIPT_PREFIX));
	json_object_set_new(props, om_script.body, json_string(text));
	return 0;
}

/* ---- secrets ---- */

/* A secret of the target's document, clear: where it is held. */
struct tsecret {
	json_t *holder;  /* the object holding it (a variable) */
	char *member;    /* its member there ("Value") */
	json_t *value;   /* the clear value, a string of the target's document */
};

static int tsecrets_add(struct tsecrets *ts, const char *loc, json_t *holder, const char *member,
			json_t *value)
{
	if (om_array_grow(&ts->v, &ts->cap, ts->n, 1, sizeof *ts->v) < 0)
		return -1;
	if (imp_smap_put(&ts->byloc, loc, value, NULL) < 0)
		return -1;
	json_incref(value);
	ts->v[ts->n] = (struct tsecret){holder, member ? strdup(member) : NULL, value};
	if (member && !ts->v[ts->n].member)
		return -1;
	ts->n++;
	return 0;
}

void imp_tsecrets_free(struct tsecrets *ts)
{
	for (size_t i = 0; i < ts->byloc.cap; i++)
		if (ts->byloc.keys[i])
			json_decref(ts->byloc.vals[i]);
	imp_smap_free(&ts->byloc, 0);
	for (size_t i = 0; i < ts->n; i++)
		free(ts->v[i].member);
	free(ts->v);
	memset(ts, 0, sizeof *ts);
}

/* The keyed merge of a kind (variables by name and scope), or NULL. */
static const struct om_merge *keyed_merge(const struct om_kind *k)
{
	for (const struct om_merge *m = k->merges; m && m->member; m++)
		if (m->form == OM_MERGE_KEYED)
			return m;
	return NULL;
}

/* Does this clear value give the redacted fingerprint at the document's
 * bundle path and keyed location (spec/bundle.md, "Secret tokens")? */
static int fingerprint_is(struct imp *x, const struct doc *d, const char *loc, const char *hex,
			  json_t *value)
{
	char fp[OM_FINGERPRINT_SIZE], *where = malloc(strlen(d->path) + strlen(loc) + 2);

	if (!where)
		return imp_oom(x);
	sprintf(where, "%s#%s", d->path, loc);
	om_key_fingerprint(x->o->key, where, json_string_value(value), json_string_length(value),
			   fp);
	free(where);
	return strlen(hex) == OM_FINGERPRINT_SIZE - 1 && memcmp(fp, hex, OM_FINGERPRINT_SIZE - 1) == 0;
}

/*
 * A redacted token takes the target's value of the same place.  In an
 * array of elements told apart by a key of several members (variables by
 * name and scope, the scope as a set), the place is the secret of the
 * target's element with the same key, not the one at the same keyed
 * location: same-named variables are numbered by their order, which two
 * servers need not share.  Elsewhere it is the same keyed location.  When
 * the bundle's fingerprints were made with the target's master key, the
 * fingerprint picks the value among several candidates, finds a value that
 * moved, and tells a target value that differs from the bundle's (kept,
 * with a warning).  Candidates of different values that nothing tells
 * apart are an error.
 */
static int redacted_value(struct secret_ctx *c, const struct om_hit *hit, json_t **out)
{
	struct imp *x = c->x;
	const char *hex = json_string_value(hit->value) + strlen(OM_REDACTED_PREFIX);
	const struct om_merge *m = keyed_merge(c->d->kind);
	const char *member = json_is_object(hit->parent) ? object_key(hit->parent, hit->value) : NULL;
	json_t *arr = m ? json_object_get(c->doc, m->member) : NULL, *one = NULL, *fp_hit = NULL;
	size_t ncand = 0;
	int r, differ = 0;

	*out = NULL;
	if (!c->target)
		return imp_doc_err(x, c->d, "%s: the secret is redacted and the target has none at this "
			       "place", hit->where);
	if (member && arr && array_index(arr, hit->parent) != (size_t)-1) {
		json_t *tarr = json_object_get(c->tdoc, m->member);
		for (size_t i = 0; i < c->target->n; i++) {
			const struct tsecret *t = &c->target->v[i];
			if (!t->member || strcmp(t->member, member) != 0 ||
			    array_index(tarr, t->holder) == (size_t)-1 ||
			    !imp_keyed_eq(t->holder, hit->parent, m->key))
				continue;
			ncand++;
			differ |= one && !json_equal(one, t->value);
			one = t->value;
			if (x->b->same_key && !fp_hit) {
				if ((r = fingerprint_is(x, c->d, hit->loc, hex, t->value)) < 0)
					return -1;
				fp_hit = r ? t->value : NULL;
			}
		}
	} else if ((one = imp_smap_get(&c->target->byloc, hit->loc))) {
		ncand = 1;
		if (x->b->same_key) {
			if ((r = fingerprint_is(x, c->d, hit->loc, hex, one)) < 0)
				return -1;
			fp_hit = r ? one : NULL;
		}
	}
	/* A value that moved (the variable's scope changed): any secret of
	 * the target's document that gives the fingerprint is the value. */
	for (size_t i = 0; x->b->same_key && !fp_hit && i < c->target->n; i++) {
		if ((r = fingerprint_is(x, c->d, hit->loc, hex, c->target->v[i].value)) < 0)
			return -1;
		fp_hit = r ? c->target->v[i].value : NULL;
	}
	if (fp_hit) {
		*out = fp_hit;
		return 0;
	}
	if (differ)
		return imp_doc_err(x, c->d, "%s: the secret is redacted and the target has %zu of the "
			       "same name and scope with different values: which to keep is "
			       "ambiguous", hit->where, ncand);
	if (!ncand)
		return imp_doc_err(x, c->d, "%s: the secret is redacted and the target has none at this "
			       "place", hit->where);
	if (x->b->same_key)
		imp_warn(x, "'%s': entry '%s': %s: the secret is redacted and the target's value "
		     "differs from the bundle's: the target's is kept", x->b->name, c->d->path,
		     hit->where);
	*out = one;
	return 0;
}

/*
 * The clear and password tokens of a bundle, in one place: the clear value
 * of a token at location loc, as a malloc()ed string of *len bytes.  A
 * password token opens with the bundle's key at the document's path and
 * loc.  (Redacted tokens: redacted_value().)
 */
static int token_open(struct imp *x, const struct doc *d, const char *where, const char *token,
		      const char *loc, char **clear, size_t *len)
{
	if (strncmp(token, OM_CLEAR_PREFIX, OM_PREFIX_LEN(OM_CLEAR_PREFIX)) == 0) {
		size_t tl = strlen(token + 11), n;
		char *out = malloc(tl + 1);
		if (!out)
			return imp_oom(x);
		if (sodium_base642bin((unsigned char *)out, tl, token + 11, tl, NULL, &n, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(out);
			return imp_doc_err(x, d, "%s: bad clear secret token", where);
		}
		out[n] = 0;
		*clear = out;
		*len = n;
		return 0;
	}
	if (strncmp(token, OM_PW_PREFIX, strlen(OM_PW_PREFIX)) == 0 && x->b->pwkey) {
		char *c;
		size_t n;
		int r = om_pw_decrypt(x->b->pwkey, d->path, loc, token, strlen(token), &c, &n,
				      x->err);
		if (r < 0)
			return imp_doc_err(x, d, "%s: %s", where, x->err->msg);
		if (r > 0)
			return imp_doc_err(x, d, "%s: the secret does not open: its token was changed "
				       "or moved from another place", where);
		*clear = malloc(n + 1);
		if (*clear) {
			memcpy(*clear, c, n + 1);
			*len = n;
		}
		om_clear_free(c);
		return *clear ? 0 : imp_oom(x);
	}
	return imp_doc_err(x, d, "%s: not a secret token of this bundle's state", where);
}

int imp_secret_hit(const struct om_hit *hit, void *vctx)
{
	struct secret_ctx *c = vctx;
	struct imp *x = c->x;
	const char *s = json_string_value(hit->value);
	char *clear = NULL;
	size_t len;
	json_t *nv;

	if (c->mode == 0 && strncmp(s, OM_REDACTED_PREFIX, strlen(OM_REDACTED_PREFIX)) == 0) {
		if (redacted_value(c, hit, &nv) < 0)
			return -1;
		nv = json_copy(nv);
	} else if (c->mode == 0) {
		if (token_open(x, c->d, hit->where, s, hit->loc, &clear, &len) < 0)
			return -1;
		nv = json_stringn_nocheck(clear, len);
		sodium_memzero(clear, len);
		free(clear);
	} else if (c->mode == 1) {
		int r = om_unseal(x->o->key, s, &clear, &len, x->err);
		if (r != 0) {
			/* Not ours: leave it as it is, it will compare unequal. */
			return 0;
		}
		nv = json_stringn_nocheck(clear, len);
		om_clear_free(clear);
		if (nv && c->target &&
		    tsecrets_add(c->target, hit->loc, hit->parent,
				 json_is_object(hit->parent) ? object_key(hit->parent, hit->value)
							     : NULL, nv) < 0) {
			json_decref(nv);
			return imp_oom(x);
		}
	} else {
		char *tok = om_seal(x->o->key, s, json_string_length(hit->value), x->err);
		if (!tok)
			return -1;
		nv = json_string(tok);
		free(tok);
	}
	if (!nv)
		return imp_oom(x);
	if (json_is_array(hit->parent))
		json_array_set_new(hit->parent, array_index(hit->parent, hit->value), nv);
	else
		json_object_set_new(hit->parent, object_key(hit->parent, hit->value), nv);
	return 0;
}
