/*
 * import_match.c - om-import: matching the bundle's documents with the target's.
 *
 * Phase A: each document is found in the target by its identity (never
 * its Id) or gets a new Id from the target's allocator; the elements that
 * other documents name (tags, templates, actions) are matched by name.
 */

#include "import_int.h"

/* ---- the target ---- */

int imp_load_alloc_kinds(struct imp *x)
{
	PGresult *r = PQexec(x->conn, "SELECT kind FROM id_allocator");

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		om_err_set(x->err, "cannot read the Id allocator: %s", PQerrorMessage(x->conn));
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r); i++)
		if (imp_smap_put(&x->alloc_kinds, PQgetvalue(r, i, 0), (void *)1, NULL) < 0) {
			PQclear(r);
			return imp_oom(x);
		}
	PQclear(r);
	return 0;
}

void imp_pg_fail(struct imp *x, const char *what)
{
	const char *m = PQerrorMessage(x->conn);
	size_t n;

	/* The first line of the server's message, without "ERROR:  ". */
	if (strncmp(m, "ERROR:  ", 8) == 0)
		m += 8;
	n = strcspn(m, "\n");
	om_err_set(x->err, "%s: %.*s", what, (int)n, n ? m : "unknown database error");
}

/* The identities of the target's documents of kind k: key -> Id. */
static int load_identities(struct imp *x, const struct om_kind *k, struct smap *out)
{
	struct om_buf sql = {0};
	PGresult *r;
	int rc = -1;

	om_buf_adds(&sql, "SELECT id, ");
	om_buf_adds(&sql, k->scope == OM_SERVER ? "NULL::text" : "doc->>'" OM_MEMBER_SPACE "'");
	for (int i = 0; i < 5 && k->identity[i]; i++) {
		char *q = PQescapeLiteral(x->conn, k->identity[i], strlen(k->identity[i]));
		if (!q)
			goto out;
		om_buf_adds(&sql, ", doc->>");
		om_buf_adds(&sql, q);
		PQfreemem(q);
	}
	om_buf_adds(&sql, " FROM ");
	if (om_buf_adds(&sql, k->table) < 0) {
		imp_oom(x);
		goto out;
	}
	r = PQexec(x->conn, sql.p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		imp_pg_fail(x, "cannot read the target's documents");
		PQclear(r);
		goto out;
	}
	for (int row = 0; row < PQntuples(r); row++) {
		struct om_buf key = {0};
		char *id;
		void *old;
		int ok = om_buf_adds(&key, PQgetisnull(r, row, 1) ? "" : PQgetvalue(r, row, 1)) == 0;
		for (int c = 2; c < PQnfields(r); c++) {
			ok &= om_buf_adds(&key, c == 2 ? "\x1e" : "\x1f") == 0;
			ok &= om_buf_adds(&key, PQgetisnull(r, row, c) ? NULLV : PQgetvalue(r, row, c)) == 0;
		}
		if (!ok || !(id = strdup(PQgetvalue(r, row, 0))) ||
		    imp_smap_put(out, key.p, id, &old) < 0) {
			free(key.p);
			PQclear(r);
			imp_oom(x);
			goto out;
		}
		free(old);
		free(key.p);
	}
	PQclear(r);
	rc = 0;
out:
	free(sql.p);
	return rc;
}

/* Fetch the target's bodies of the existing documents among idx[0..n):
 * Id -> malloc()ed text. */
int imp_fetch_targets(struct imp *x, const struct om_kind *k, const size_t *idx, size_t n,
		      struct smap *out)
{
	struct om_buf arr = {0}, sql = {0};
	const char *param;
	PGresult *r;
	int rc = -1, any = 0;

	om_buf_adds(&arr, "{");
	for (size_t i = 0; i < n; i++) {
		const struct doc *d = &x->b->docs[idx[i]];
		if (!d->exists)
			continue;
		if (any)
			om_buf_adds(&arr, ",");
		om_buf_adds(&arr, "\"");
		for (const char *p = d->dst_id; *p; p++) {
			if (*p == '"' || *p == '\\')
				om_buf_add(&arr, "\\", 1);
			om_buf_add(&arr, p, 1);
		}
		any = 1;
		if (om_buf_adds(&arr, "\"") < 0)
			return imp_oom(x);
	}
	om_buf_adds(&arr, "}");
	if (!any) {
		free(arr.p);
		return 0;
	}
	om_buf_adds(&sql, "SELECT id, doc::text FROM ");
	om_buf_adds(&sql, k->table);
	if (om_buf_adds(&sql, " WHERE id = ANY($1::text[])") < 0) {
		imp_oom(x);
		goto out;
	}
	param = arr.p;
	r = PQexecParams(x->conn, sql.p, 1, NULL, &param, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		imp_pg_fail(x, "cannot read the target's documents");
		PQclear(r);
		goto out;
	}
	for (int row = 0; row < PQntuples(r); row++) {
		char *t = strdup(PQgetvalue(r, row, 1));
		void *old;
		if (!t || imp_smap_put(out, PQgetvalue(r, row, 0), t, &old) < 0) {
			free(t);
			PQclear(r);
			imp_oom(x);
			goto out;
		}
		free(old);
	}
	PQclear(r);
	rc = 0;
out:
	free(arr.p);
	free(sql.p);
	return rc;
}

json_t *imp_load_doc(struct imp *x, const struct doc *d)
{
	char *buf = malloc(d->len + 1);
	json_error_t je;
	json_t *j;

	if (!buf) {
		imp_oom(x);
		return NULL;
	}
	if (imp_spool_read(x, d->off, buf, d->len) < 0) {
		free(buf);
		return NULL;
	}
	j = json_loadb(buf, d->len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (!j)
		imp_doc_err(x, d, "invalid JSON: %s", je.text);
	return j;
}

/* ---- matching (phase A) ---- */

struct doc *imp_src_doc(struct imp *x, const char *id)
{
	uintptr_t i = id ? (uintptr_t)imp_smap_get(&x->b->ids, id) : 0;

	return i ? &x->b->docs[i - 1] : NULL;
}

/* The identity key of a bundle document in the target's terms. */
static int bundle_key(struct imp *x, const struct doc *d, struct om_buf *key)
{
	const struct om_kind *k = d->kind;
	const char *p = d->ident;

	key->len = 0;
	if (k->scope != OM_SERVER && d->space) {
		const struct doc *s = imp_src_doc(x, d->space);
		if (!s || !s->dst_id)
			return imp_doc_err(x, d, "%s: space %s: not in bundle or target",
				       d->name ? d->name : d->src_id, d->space);
		om_buf_adds(key, s->dst_id);
	} else if (k->scope == OM_SPACE) {
		return imp_doc_err(x, d, "no " OM_MEMBER_SPACE);
	}
	for (int i = 0; i < 5 && k->identity[i]; i++) {
		size_t n = strcspn(p, "\x1f");
		char *v = strndup(p, n);
		const struct om_ref *r = om_ref_of_member(k, k->identity[i], strlen(k->identity[i]));
		const char *out = v;
		if (!v)
			return imp_oom(x);
		if (r && strcmp(v, NULLV) != 0) {
			/* A reference stands for the identity of what it names. */
			if (r->form == OM_REF_INNER) {
				out = imp_smap_get(&x->b->elems, v);
			} else {
				const struct doc *t = imp_src_doc(x, v);
				out = t && om_ref_allows(r, t->kind) ? t->dst_id : NULL;
			}
			if (!out) {
				char w[300], kw[64];
				imp_doc_words(d, w, sizeof w);
				imp_kind_words(r->target ? r->target : "document", kw, sizeof kw);
				imp_doc_err(x, d, "%s -> %s %s: not in bundle or target", w, kw, v);
				free(v);
				return -1;
			}
		}
		om_buf_adds(key, i ? "\x1f" : "\x1e");
		om_buf_adds(key, out);
		free(v);
		p += n + (p[n] != 0);
	}
	return om_buf_adds(key, "") < 0 ? imp_oom(x) : 0;
}

/* Map the elements of the documents of kind k that other documents refer to
 * (tags, templates, actions): to the target's element of the same name when
 * the document exists there, else to their own Id, with the document's Id
 * in front of it rewritten ("TagSets-1/Tags-3" -> "TagSets-9/Tags-3"). */
struct elem_ctx {
	struct imp *x;
	const struct om_elemset *set;
	const struct doc *d;
	struct smap tnames; /* target element name -> Id */
	int target;         /* walking the target's document */
};

static int elem_hit(const struct om_hit *hit, void *vctx)
{
	struct elem_ctx *c = vctx;
	const char *id = json_string_value(json_object_get(hit->value, OM_MEMBER_ID));
	const char *name = json_string_value(json_object_get(hit->value, c->set->name));
	const char *to = NULL;
	char *own = NULL;
	void *old;

	if (!id)
		return 0;
	if (c->target) {
		if (name && !imp_smap_get(&c->tnames, name) &&
		    imp_smap_put(&c->tnames, name, strdup(id), NULL) < 0)
			return imp_oom(c->x);
		return 0;
	}
	if (c->d->exists && name)
		to = imp_smap_get(&c->tnames, name);
	if (!to && (!c->d->exists || c->x->o->overwrite)) {
		size_t n = strlen(c->d->src_id);
		if (strncmp(id, c->d->src_id, n) == 0 && id[n] == '/') {
			if (!(own = malloc(strlen(c->d->dst_id) + strlen(id + n) + 1)))
				return imp_oom(c->x);
			strcpy(own, c->d->dst_id);
			strcat(own, id + n);
			to = own;
		} else {
			to = id;
		}
	}
	if (to) {
		char *v = strdup(to);
		if (!v || imp_smap_put(&c->x->b->elems, id, v, &old) < 0) {
			free(v);
			free(own);
			return imp_oom(c->x);
		}
		free(old);
	}
	free(own);
	return 0;
}

static int map_elements(struct imp *x, const struct om_kind *k, const size_t *idx, size_t n)
{
	struct smap targets = {0};
	int rc = -1;

	if (imp_fetch_targets(x, k, idx, n, &targets) < 0)
		return -1;
	for (size_t s = 0; s < x->nsets; s++) {
		if (x->sets[s].kind != k)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct elem_ctx c = {x, &x->sets[s], &x->b->docs[idx[i]], {0}, 0};
			json_t *doc = imp_load_doc(x, c.d), *t = NULL;
			int r = -1;
			if (!doc)
				goto out;
			if (c.d->exists) {
				const char *text = imp_smap_get(&targets, c.d->dst_id);
				t = text ? json_loads(text, 0, NULL) : NULL;
				c.target = 1;
				if (t && om_path_walk(t, c.set->path, elem_hit, &c, x->err) < 0) {
					json_decref(t);
					json_decref(doc);
					imp_smap_free(&c.tnames, 1);
					goto out;
				}
				c.target = 0;
			}
			r = om_path_walk(doc, c.set->path, elem_hit, &c, x->err);
			json_decref(t);
			json_decref(doc);
			imp_smap_free(&c.tnames, 1);
			if (r)
				goto out;
		}
	}
	rc = 0;
out:
	imp_smap_free(&targets, 1);
	return rc;
}

/* New Ids from the target's allocator: n at once, as n calls of om_new_id()
 * would give them. */
static int allocate(struct imp *x, const struct om_kind *k, unsigned long n,
		    unsigned long long *first, char **prefix)
{
	char sql[256];
	PGresult *r;

	snprintf(sql, sizeof sql,
		 "UPDATE id_allocator SET next_value = next_value + %lu WHERE kind = '%s' "
		 "RETURNING prefix, next_value - %lu", n, k->name, n);
	r = PQexec(x->conn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		imp_pg_fail(x, "cannot allocate Ids");
		PQclear(r);
		return -1;
	}
	*first = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
	*prefix = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return *prefix ? 0 : imp_oom(x);
}

int imp_match_kind(struct imp *x, const struct om_kind *k)
{
	struct bundle *b = x->b;
	struct smap target = {0}, seen = {0};
	struct om_buf key = {0};
	size_t *idx = NULL, n = 0, nnew = 0;
	int alloc = imp_smap_get(&x->alloc_kinds, k->name) != NULL, rc = -1;

	if (imp_docs_of_kind(x, k, &idx, &n) < 0)
		return -1;
	if (!n)
		return 0;
	if (load_identities(x, k, &target) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct doc *d = &b->docs[idx[i]];
		const char *tid;
		if (bundle_key(x, d, &key) < 0)
			goto out;
		if (imp_smap_get(&seen, key.p)) {
			imp_doc_err(x, d, "the same %s as entry '%s'", "identity",
				(const char *)imp_smap_get(&seen, key.p));
			goto out;
		}
		if (imp_smap_put(&seen, key.p, d->path, NULL) < 0) {
			imp_oom(x);
			goto out;
		}
		if ((tid = imp_smap_get(&target, key.p))) {
			d->exists = 1;
			if (!(d->dst_id = imp_xstrdup(x, tid)))
				goto out;
		} else if (k->derived_from) {
			/* "variableset-" + the owner's Id in the target. */
			const struct doc *o = imp_src_doc(x, d->owner);
			if (!o || !o->dst_id) {
				imp_doc_err(x, d, "owner %s: not in bundle or target", k->derived_from);
				goto out;
			}
			if (!(d->dst_id = malloc(strlen(k->id_prefix) + strlen(o->dst_id) + 1))) {
				imp_oom(x);
				goto out;
			}
			strcpy(d->dst_id, k->id_prefix);
			strcat(d->dst_id, o->dst_id);
		} else if (alloc && !om_id_is_fixed(d->src_id)) {
			/* A new Id from the allocator, but for Octopus's fixed
			 * Ids ("feeds-builtin"), kept below: they are the same
			 * on every server. */
			nnew++;
		} else if (!(d->dst_id = imp_xstrdup(x, d->src_id))) {
			goto out;
		}
	}
	if (nnew) {
		unsigned long long next;
		char *prefix;
		if (allocate(x, k, nnew, &next, &prefix) < 0)
			goto out;
		for (size_t i = 0; i < n; i++) {
			struct doc *d = &b->docs[idx[i]];
			if (d->dst_id)
				continue;
			if (!(d->dst_id = malloc(strlen(prefix) + 24))) {
				free(prefix);
				imp_oom(x);
				goto out;
			}
			sprintf(d->dst_id, "%s%llu", prefix, next++);
		}
		free(prefix);
	}
	for (size_t s = 0; s < x->nsets; s++)
		if (x->sets[s].kind == k) {
			if (map_elements(x, k, idx, n) < 0)
				goto out;
			break;
		}
	rc = 0;
out:
	free(idx);
	free(key.p);
	imp_smap_free(&target, 1);
	imp_smap_free(&seen, 0);
	return rc;
}
