/*
 * export_docs.c - om-export of documents held in memory (export.h,
 * om_export_docs()): what om-octopus converts goes through the same
 * paths, canonical form, secret tokens, script sidecars and manifest as a
 * store's export.
 *
 * The names that paths need and the names that collide but for case come
 * from the documents themselves, not from SQL; then each document, owners
 * first, goes through exp_emit_doc() as a row of the store would.
 */

#include "export_int.h"

/* The key that tells documents whose names collide but for case apart
 * (exp_load_collisions() does the same in SQL): the kind, the space, the
 * identity members before the name, and the name in ASCII lowercase.
 * NULL when the kind's paths do not name it by a plain member. */
static char *collide_key(const struct om_kind *k, json_t *doc)
{
	const char *nm = om_kind_name_member(k), *v;
	struct om_buf b = {0};
	char sep = '\x1f';
	int bad = 0;

	if (om_ref_of_member(k, nm, strlen(nm)) ||
	    !(exp_names_component(k->path, nm) || (k->dir && exp_names_component(k->dir, nm))))
		return NULL;
	if (!(v = json_string_value(json_object_get(doc, nm))))
		return NULL;
	bad |= om_buf_add(&b, k->name, strlen(k->name));
	for (size_t j = 0; j < 5 && k->identity[j] && k->identity[j] != nm; j++) {
		const char *iv = json_string_value(json_object_get(doc, k->identity[j]));
		bad |= om_buf_add(&b, &sep, 1);
		bad |= om_buf_add(&b, iv ? iv : "", iv ? strlen(iv) : 0);
	}
	if (k->scope != OM_SERVER) {
		const char *sp = json_string_value(json_object_get(doc, OM_MEMBER_SPACE));
		bad |= om_buf_add(&b, &sep, 1);
		bad |= om_buf_add(&b, sp ? sp : "", sp ? strlen(sp) : 0);
	}
	bad |= om_buf_add(&b, &sep, 1);
	for (; *v; v++) {
		char c = *v >= 'A' && *v <= 'Z' ? (char)(*v - 'A' + 'a') : *v;
		bad |= om_buf_add(&b, &c, 1);
	}
	bad |= om_buf_add(&b, "", 1);
	if (bad) {
		om_buf_release(&b);
		return NULL;
	}
	return b.p;
}

/* Names for paths from one document, as exp_load_pattern_names() loads
 * them from the store: its own name, and the names of the elements that
 * inner references of other kinds name in it. */
static int note_names(struct exporter *x, const struct om_kind *k, const char *id, json_t *doc)
{
	const char *name = json_string_value(json_object_get(doc, om_kind_name_member(k)));

	if (name && om_idmap_put_name(x->names, id, name) < 0) {
		om_err_set(x->err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < om_nkinds; i++)
		for (size_t j = 0; j < om_kinds[i].nrefs; j++) {
			const struct om_ref *r = &om_kinds[i].refs[j];
			const struct om_kind *h[8];
			int n = om_ref_holders(&om_kinds[i], r, h, 8), held = 0;
			for (int a = 0; a < n; a++)
				held |= h[a] == k;
			if (r->form == OM_REF_INNER && held && exp_note_inner_names(x, r, doc) < 0)
				return -1;
		}
	return 0;
}

static int cmp_kind_order(const void *a, const void *b)
{
	const size_t *p = a, *q = b;

	return p[0] < q[0] ? -1 : p[0] > q[0] ? 1 : p[1] < q[1] ? -1 : p[1] > q[1];
}

int om_export_docs(const struct om_export_opts *o, const char *server_version,
		   const char *const *docs, size_t ndocs, struct om_bundle_writer *w,
		   struct om_err *err)
{
	struct shared sh = {0};
	struct exporter x = {0};
	struct om_idmap *dirs = NULL, *seen = NULL;
	json_t **parsed = NULL;
	size_t (*order)[2] = NULL;
	int rc = -1;

	x.o = o;
	x.err = err;
	x.sh = &sh;
	if (pthread_mutex_init(&sh.mu, NULL) != 0) {
		om_err_set(err, "cannot make a mutex");
		return -1;
	}
	if (!(x.canon = om_canon_new(err)))
		goto out;
	if (!(x.names = om_idmap_new()) || !(x.collide = om_idmap_new()) ||
	    !(dirs = om_idmap_new()) || !(seen = om_idmap_new()) ||
	    !(parsed = calloc(ndocs + 1, sizeof *parsed)) ||
	    !(order = calloc(ndocs + 1, sizeof *order))) {
		om_err_set(err, "out of memory");
		goto out;
	}
	if (!(sh.sorter = om_sorter_new(o->tmpdir, o->mem_limit, err)))
		goto out;
	if (o->secrets == OM_SECRETS_CLEAR && om_sorter_encrypt(sh.sorter, err) < 0)
		goto out;
	/* First every name a path may need, and the names that collide. */
	for (size_t i = 0; i < ndocs; i++) {
		const char *id;
		const struct om_kind *k;
		char *ck;
		if (!(parsed[i] = json_loads(docs[i], 0, NULL)) ||
		    !(id = json_string_value(json_object_get(parsed[i], OM_MEMBER_ID))) ||
		    !(k = om_kind_of_id(id))) {
			om_err_set(err, "document %zu: not a document of a known kind", i + 1);
			goto out;
		}
		order[i][0] = (size_t)(k - om_kinds);
		order[i][1] = i;
		if (note_names(&x, k, id, parsed[i]) < 0)
			goto out;
		if ((ck = collide_key(k, parsed[i]))) {
			const struct om_idval *first = om_idmap_get(seen, ck);
			int r = 0;
			if (first)
				r = om_idmap_put(x.collide, first->name, NULL, NULL) < 0 ||
				    om_idmap_put(x.collide, id, NULL, NULL) < 0;
			else
				r = om_idmap_put_name(seen, ck, id) < 0;
			free(ck);
			if (r) {
				om_err_set(err, "out of memory");
				goto out;
			}
		}
	}
	/* Owners before what they own: the model lists kinds in that order. */
	qsort(order, ndocs, sizeof *order, cmp_kind_order);
	for (size_t n = 0; n < ndocs; n++) {
		json_t *doc = parsed[order[n][1]];
		const struct om_kind *k = &om_kinds[order[n][0]];
		const char *id = json_string_value(json_object_get(doc, OM_MEMBER_ID));
		const char *up = k->owner ? json_string_value(json_object_get(doc, k->owner))
			       : k->scope != OM_SERVER ? json_string_value(json_object_get(doc, OM_MEMBER_SPACE))
			       : NULL;
		const struct om_idval *pd = up ? om_idmap_get(dirs, up) : NULL;
		struct source self = {&x, k, id, 1, NULL, 0, 0, 0};

		x.kind = k;
		if (om_canon_parse(x.canon, docs[order[n][1]], strlen(docs[order[n][1]]), err) < 0) {
			om_err_prefix(err, "%s %s", k->name, id);
			goto out;
		}
		if ((k->owner || k->scope == OM_SPACE) && (!pd || !pd->name)) {
			om_err_set(err, "%s %s: its %s does not exist", k->name, id,
				   k->owner ? "owner" : "space");
			goto out;
		}
		x.path.len = 0;
		if (pd && pd->name && exp_buf_append(&x.path, pd->name, strlen(pd->name), err) < 0)
			goto out;
		if (k->dir && exp_expand(&self, k->dir, &x.path) < 0)
			goto out;
		if (exp_buf_append(&x.path, "", 1, err) < 0)
			goto out;
		if (om_idmap_put_name(dirs, id, x.path.p) < 0) {
			om_err_set(err, "out of memory");
			goto out;
		}
		x.path.len--;
		if (exp_expand(&self, k->path, &x.path) < 0 || exp_buf_append(&x.path, "", 1, err) < 0 ||
		    exp_emit_doc(&x, 1) < 0)
			goto out;
	}
	if (exp_add_manifest(&x, server_version, OM_STORE_FORMAT) < 0 ||
	    om_sorter_finish(sh.sorter, err) < 0 || exp_write_sorted(&x, w) < 0)
		goto out;
	rc = 0;
out:
	for (size_t i = 0; parsed && i < ndocs; i++)
		json_decref(parsed[i]);
	free(parsed);
	free(order);
	om_idmap_free(dirs);
	om_idmap_free(seen);
	om_sorter_free(sh.sorter);
	pthread_mutex_destroy(&sh.mu);
	om_idmap_free(x.names);
	om_idmap_free(x.collide);
	exp_reader_release(&x);
	return rc;
}
