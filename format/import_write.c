/*
 * import_write.c - om-import: writing the documents with COPY.
 *
 * Kind by kind, each document is made the target's (apply_doc(): the
 * reference way, with jansson) or, when nothing but Ids change, the short
 * way over om_canon (new_doc_fast()), and written in COPY batches.
 */

#include "bundlecheck.h"

#include "import_int.h"
#include "jsonout.h"

/* ---- writing ---- */

/* jansson's output into COPY text: each backslash doubled (compact JSON
 * has no raw tab or newline). */
static int copy_dump(const char *p, size_t n, void *data)
{
	struct om_buf *b = data;

	for (const char *e = p + n, *q; p < e; p = q) {
		q = memchr(p, '\\', (size_t)(e - p));
		if (!q)
			q = e;
		if (om_buf_add(b, p, (size_t)(q - p)) < 0)
			return -1;
		if (q < e) {
			if (om_buf_add(b, "\\\\", 2) < 0)
				return -1;
			q++;
		}
	}
	return 0;
}

/* Append a document as a line of COPY text. */
static int copy_line(struct imp *x, struct om_buf *b, const char *id, json_t *doc)
{
	if (id) {
		om_buf_adds(b, id);
		om_buf_adds(b, "\t");
	}
	if (om_json_dump_callback(doc, copy_dump, b, JSON_COMPACT) != 0)
		return imp_oom(x);
	return om_buf_adds(b, "\n") < 0 ? imp_oom(x) : 0;
}

/*
 * A COPY is fed as its lines are made: copy_start() opens it, copy_put()
 * sends what the buffer holds once it passes COPY_FLUSH (and at the end),
 * copy_end() finishes it, so that the server works on one part while the
 * next is being made.  copy_abort() ends an open COPY after another error,
 * keeping that error's message.
 */
static int copy_start(struct imp *x, const char *sql)
{
	PGresult *r = PQexec(x->conn, sql);
	int ok = PQresultStatus(r) == PGRES_COPY_IN;

	PQclear(r);
	if (!ok) {
		imp_pg_fail(x, "cannot write to the target");
		return -1;
	}
	return 0;
}

static int copy_put(struct imp *x, struct om_buf *data, size_t min)
{
	if (data->len < min || !data->len)
		return 0;
	for (size_t at = 0; at < data->len;) {
		size_t n = data->len - at > COPY_FLUSH ? COPY_FLUSH : data->len - at;
		if (PQputCopyData(x->conn, data->p + at, (int)n) != 1) {
			imp_pg_fail(x, "cannot write to the target");
			return -1;
		}
		at += n;
	}
	data->len = 0;
	return 0;
}

static int copy_end(struct imp *x, struct om_buf *data)
{
	PGresult *r;
	int ok;

	if (copy_put(x, data, 0) < 0)
		return -1;
	if (PQputCopyEnd(x->conn, NULL) != 1) {
		imp_pg_fail(x, "cannot write to the target");
		return -1;
	}
	ok = 1;
	x->copy_failed_line = 0;
	while ((r = PQgetResult(x->conn))) {
		if (ok && PQresultStatus(r) != PGRES_COMMAND_OK) {
			const char *ctx = PQresultErrorField(r, PG_DIAG_CONTEXT);
			const char *l = ctx ? strstr(ctx, ", line ") : NULL;
			ok = 0;
			imp_pg_fail(x, "cannot write to the target");
			if (l)
				x->copy_failed_line = strtoul(l + 7, NULL, 10);
		}
		PQclear(r);
	}
	data->len = 0;
	return ok ? 0 : -1;
}

static void copy_abort(struct imp *x, struct om_buf *data)
{
	PGresult *r;

	data->len = 0;
	if (PQputCopyEnd(x->conn, "import failed") == 1)
		while ((r = PQgetResult(x->conn)))
			PQclear(r);
}

static int copy_in(struct imp *x, const char *sql, struct om_buf *data)
{
	if (copy_start(x, sql) < 0)
		return -1;
	return copy_end(x, data);
}

/* The target's document ready for comparison: volatile members out (kept
 * in vol), secrets as clear text (also by location into secrets). */
static json_t *target_cmp(struct imp *x, const struct doc *d, const char *text, json_t **vol,
			  struct tsecrets *secrets)
{
	json_t *t = json_loads(text, 0, NULL);
	struct secret_ctx sc = {x, d, secrets, 1, NULL, NULL};

	if (!t) {
		imp_doc_err(x, d, "cannot parse the target's document %s", d->dst_id);
		return NULL;
	}
	*vol = json_object();
	for (const char *const *v = d->kind->volatiles; v && *v; v++) {
		json_t *m = json_object_get(t, *v);
		if (m) {
			json_object_set(*vol, *v, m);
			json_object_del(t, *v);
		}
	}
	if (om_secrets_each(d->kind, t, imp_secret_hit, &sc, x->err) != 0) {
		json_decref(t);
		json_decref(*vol);
		return NULL;
	}
	return t;
}

/* Decide and prepare one document: the final body to write into *out
 * (NULL when nothing is written) and its action. */
static int apply_doc(struct imp *x, struct doc *d, const char *target_text, json_t **out)
{
	const struct om_kind *k = d->kind;
	json_t *doc = imp_load_doc(x, d), *t = NULL, *vol = NULL, *fin = NULL;
	struct tsecrets tsecrets = {0};
	struct secret_ctx sc = {x, d, NULL, 0, doc, NULL};
	struct script_ctx scr = {x, d};
	unsigned long cleared;
	int rc = -1;

	*out = NULL;
	if (!doc)
		return -1;
	if (d->exists) {
		if (!target_text) {
			imp_doc_err(x, d, "the target's document %s went away", d->dst_id);
			goto out;
		}
		if (!(t = target_cmp(x, d, target_text, &vol, &tsecrets)))
			goto out;
		sc.target = &tsecrets;
		sc.tdoc = t;
	}
	json_object_set_new(doc, OM_MEMBER_ID, json_string(d->dst_id));
	if (d->space) {
		const struct doc *s = imp_src_doc(x, d->space);
		json_object_set_new(doc, OM_MEMBER_SPACE, json_string(s->dst_id));
	}
	if (imp_remap_refs(x, d, doc) < 0 || imp_remap_elements(x, k, doc) < 0)
		goto out;
	cleared = x->doc_cleared;
	if (k->scripts && om_path_walk(doc, k->scripts, imp_script_hit, &scr, x->err) != 0)
		goto out;
	if (om_secrets_each(k, doc, imp_secret_hit, &sc, x->err) != 0)
		goto out;
	if (!d->exists) {
		d->action = OM_IMPORT_CREATED;
		fin = json_incref(doc);
	} else if (imp_is_merged(k)) {
		fin = json_deep_copy(x->o->overwrite ? doc : t);
		if (!fin || imp_merge_into(k, fin, x->o->overwrite ? t : doc) < 0) {
			imp_oom(x);
			goto out;
		}
		if (imp_merged_equal(k, fin, t)) {
			d->action = OM_IMPORT_UNCHANGED;
			json_decref(fin);
			fin = NULL;
		} else {
			d->action = OM_IMPORT_MERGED;
		}
	} else if (json_equal(doc, t)) {
		d->action = OM_IMPORT_UNCHANGED;
	} else if (x->o->overwrite) {
		d->action = OM_IMPORT_OVERWRITTEN;
		fin = json_incref(doc);
	} else {
		d->action = OM_IMPORT_SKIPPED;
	}
	if (fin) {
		struct secret_ctx seal = {x, d, NULL, 2, NULL, NULL};
		/* The server's own members (timestamps, versions) stay. */
		if (vol)
			json_object_update(fin, vol);
		if (om_secrets_each(k, fin, imp_secret_hit, &seal, x->err) != 0) {
			json_decref(fin);
			goto out;
		}
		d->written = d->action != OM_IMPORT_MERGED;
		*out = fin;
		/* History written with references cleared: told once per kind
		 * (report_cleared()); unchanged and skipped documents change
		 * nothing. */
		if (cleared) {
			x->cleared_refs[k - om_kinds] += cleared;
			x->cleared_docs[k - om_kinds]++;
		}
	}
	rc = 0;
out:
	imp_tsecrets_free(&tsecrets);
	json_decref(doc);
	json_decref(t);
	json_decref(vol);
	return rc;
}

/* ---- new documents without jansson ---- */

/*
 * Most documents of an import are new in the target and need nothing but
 * their Id, SpaceId and references rewritten.  Those go a shorter way than
 * apply_doc(): parsed with om_canon, edited there and written compact.  The
 * way is taken only where its result is the one apply_doc() gives: every
 * value one that jansson reads and writes back the same (canon_same()), no
 * script sidecars, no elements other documents name, no secret, every
 * reference resolved (no warning, nothing dropped or cleared), no Id used
 * as a member name, no place reached twice.  Anything else goes the way of
 * apply_doc(), which stays the reference.
 */

/* Does jansson read and write back every value under n unchanged (as the
 * same jsonb)?  Integers of at most 18 digits other than -0; no real
 * (jansson prints 17 significant digits); no NUL byte in a string or name. */
static int canon_same(const struct om_canon *c, om_canon_node n, int depth)
{
	const char *p;
	size_t len;

	switch (om_canon_type(c, n)) {
	case OM_CANON_NUMBER:
		p = om_canon_str(c, n, &len);
		if (len - (p[0] == '-') > 18 || memchr(p, '.', len) || memchr(p, 'e', len) ||
		    memchr(p, 'E', len))
			return 0;
		return !(len == 2 && p[0] == '-' && p[1] == '0');
	case OM_CANON_STRING:
		p = om_canon_str(c, n, &len);
		return !memchr(p, 0, len);
	case OM_CANON_ARRAY:
	case OM_CANON_OBJECT:
		if (depth > OM_CANON_MAX_DEPTH)
			return 0;
		for (size_t i = 0, m = om_canon_len(c, n); i < m; i++) {
			om_canon_node v = om_canon_at(c, n, i);
			if (om_canon_type(c, n) == OM_CANON_OBJECT &&
			    (p = om_canon_key(c, v, &len)) && memchr(p, 0, len))
				return 0;
			if (!canon_same(c, v, depth + 1))
				return 0;
		}
		return 1;
	default:
		return 1;
	}
}

/* One reference of a new document, resolved. */
struct cfix {
	om_canon_node node;
	const char *to;  /* the new value, or NULL: csv holds it */
	char *csv;
};

struct cnew {
	struct imp *x;
	struct cfix *f;
	size_t n, cap;
};

#define CNEW_NO 2 /* a walk's answer: not for this way */

static int cnew_secret(const struct om_chit *hit, void *vctx)
{
	(void)hit;
	(void)vctx;
	return CNEW_NO;
}

static int cnew_ref(const struct om_cref_hit *h, void *vctx)
{
	const struct om_chit *hit = h->at;
	struct cnew *cn = vctx;
	struct imp *x = cn->x;
	struct om_canon *c = x->canon;
	struct om_buf out = {0};
	char id[256];
	const char *s, *to = NULL;
	size_t len;

	if (hit->key)
		return CNEW_NO;
	if (om_canon_type(c, hit->node) != OM_CANON_STRING)
		return 0;
	s = om_canon_str(c, hit->node, &len);
	if (!len)
		return 0;
	for (size_t i = 0; i < cn->n; i++)
		if (cn->f[i].node == hit->node)
			return CNEW_NO;
	if (h->ref->form != OM_REF_CSV) {
		if (len >= sizeof id)
			return CNEW_NO;
		memcpy(id, s, len);
		id[len] = 0;
		if (!(to = imp_resolve(x, h->ref, id)))
			return CNEW_NO;
	} else {
		/* As om_refs_each() and fix_csv() split and join the list. */
		const char *e = s + len, *p;
		size_t n;
		int it;
		while ((it = om_ids_next(&s, e, &p, &n))) {
			const char *t;
			if (n >= sizeof id) {
				free(out.p);
				return CNEW_NO;
			}
			memcpy(id, p, n);
			id[n] = 0;
			/* A binding stays as written. */
			if (!(t = it == OM_IDS_BINDING ? id : imp_resolve(x, h->ref, id))) {
				free(out.p);
				return CNEW_NO;
			}
			if ((out.len && om_buf_adds(&out, ",") < 0) || om_buf_adds(&out, t) < 0) {
				free(out.p);
				return imp_oom(x);
			}
		}
		if (!out.p)
			return 0; /* no Id in it: left as it is */
	}
	if (om_array_grow(&cn->f, &cn->cap, cn->n, 1, sizeof *cn->f) < 0) {
		free(out.p);
		return imp_oom(x);
	}
	cn->f[cn->n++] = (struct cfix){hit->node, to, out.p};
	return 0;
}

/* A new document the short way, as a COPY line into ins: 1 when done, 0
 * when it must go the way of apply_doc() (nothing written then), -1 and
 * err on trouble. */
static int new_doc_fast(struct imp *x, struct doc *d, struct om_buf *ins)
{
	const struct om_kind *k = d->kind;
	struct om_canon *c;
	struct cnew cn = {x, NULL, 0, 0};
	om_canon_node root;
	int rc = -1, r;

	if (d->exists || k->scripts)
		return 0;
	for (size_t s = 0; s < x->nsets; s++)
		if (x->sets[s].kind == k)
			return 0;
	if (!x->canon && !(x->canon = om_canon_new(x->err)))
		return -1;
	c = x->canon;
	x->copy.len = 0;
	if (om_buf_grow(&x->copy, d->len + 1) < 0)
		return imp_oom(x);
	if (imp_spool_read(x, d->off, x->copy.p, d->len) < 0)
		return -1;
	if (om_canon_parse(c, x->copy.p, d->len, NULL) < 0)
		return 0;
	root = om_canon_root(c);
	if (om_canon_type(c, root) != OM_CANON_OBJECT || !canon_same(c, root, 0))
		return 0;
	if ((r = om_canon_secrets_each(k, c, cnew_secret, NULL, x->err)) != 0)
		return r == CNEW_NO ? 0 : -1;
	if (om_canon_set_str(c, om_canon_get(c, root, OM_MEMBER_ID), d->dst_id, strlen(d->dst_id),
			     x->err) < 0)
		return -1;
	if (d->space) {
		const struct doc *s = imp_src_doc(x, d->space);
		if (om_canon_set_str(c, om_canon_get(c, root, OM_MEMBER_SPACE), s->dst_id,
				     strlen(s->dst_id), x->err) < 0)
			return -1;
	}
	if ((r = om_canon_refs_each(k, c, cnew_ref, &cn, x->err)) != 0) {
		rc = r == CNEW_NO ? 0 : -1;
		goto out;
	}
	for (size_t i = 0; i < cn.n; i++) {
		const char *v = cn.f[i].to ? cn.f[i].to : cn.f[i].csv;
		if (om_canon_set_str(c, cn.f[i].node, v, strlen(v), x->err) < 0)
			goto out;
	}
	x->copy.len = 0;
	if (om_canon_write_compact(c, &x->copy, x->err) < 0 ||
	    copy_dump(x->copy.p, x->copy.len, ins) < 0 || om_buf_adds(ins, "\n") < 0) {
		imp_oom(x);
		goto out;
	}
	d->action = OM_IMPORT_CREATED;
	d->written = 1;
	rc = 1;
out:
	for (size_t i = 0; i < cn.n; i++)
		free(cn.f[i].csv);
	free(cn.f);
	return rc;
}

/* Name the document of a failed COPY line in the message. */
static void copy_blame(struct imp *x, const size_t *docs, size_t n)
{
	unsigned long l = x->copy_failed_line;

	if (l >= 1 && l <= n) {
		struct om_err e = *x->err;
		const struct doc *d = &x->b->docs[docs[l - 1]];
		om_err_set(x->err, "'%s': entry '%s': %s", x->b->name, d->path, e.msg);
	}
}

int imp_write_kind(struct imp *x, const struct om_kind *k)
{
	struct bundle *b = x->b;
	size_t *idx = NULL, n = 0;
	struct om_buf ins = {0}, upd = {0};
	char sql[256];
	int rc = -1;

	if (imp_docs_of_kind(x, k, &idx, &n) < 0)
		return -1;
	if (!n)
		return 0;
	for (size_t at = 0; at < n; at += CHUNK) {
		size_t m = n - at < CHUNK ? n - at : CHUNK, nins = 0, nupd = 0;
		size_t ins_doc[CHUNK], upd_doc[CHUNK];
		struct smap targets = {0};
		int copying = 0;
		imp_progress(x, "writing", k->name, x->written += m, b->ndocs);
		if (imp_fetch_targets(x, k, idx + at, m, &targets) < 0)
			goto out;
		for (size_t i = 0; i < m; i++) {
			struct doc *d = &b->docs[idx[at + i]];
			json_t *fin = NULL;
			int r = 0;
			if (!copying && !d->exists) {
				/* New documents stream into the table's COPY. */
				snprintf(sql, sizeof sql, "COPY %s (doc) FROM STDIN", k->table);
				r = copy_start(x, sql);
				copying = r == 0;
			}
			if (r == 0 && (r = new_doc_fast(x, d, &ins)) == 1) {
				ins_doc[nins++] = idx[at + i];
				r = copy_put(x, &ins, COPY_FLUSH);
			} else if (r == 0) {
				r = apply_doc(x, d, d->exists ? imp_smap_get(&targets, d->dst_id) : NULL,
					      &fin);
			}
			if (r == 0 && fin) {
				r = copy_line(x, d->exists ? &upd : &ins, d->exists ? d->dst_id : NULL, fin);
				if (d->exists)
					upd_doc[nupd++] = idx[at + i];
				else
					ins_doc[nins++] = idx[at + i];
				if (r == 0 && !d->exists)
					r = copy_put(x, &ins, COPY_FLUSH);
			}
			json_decref(fin);
			if (r < 0) {
				if (copying)
					copy_abort(x, &ins);
				imp_smap_free(&targets, 1);
				goto out;
			}
			x->counts[d->action]++;
		}
		imp_smap_free(&targets, 1);
		if (copying && copy_end(x, &ins) < 0) {
			copy_blame(x, ins_doc, nins);
			goto out;
		}
		if (upd.len) {
			if (copy_in(x, "COPY om_import_stage (id, doc) FROM STDIN", &upd) < 0) {
				copy_blame(x, upd_doc, nupd);
				goto out;
			}
			snprintf(sql, sizeof sql,
				 "UPDATE %s t SET doc = s.doc FROM om_import_stage s WHERE t.id = s.id; "
				 "TRUNCATE om_import_stage", k->table);
			if (om_store_exec(x->conn, sql, "cannot write to the target", x->err) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(idx);
	free(ins.p);
	free(upd.p);
	return rc;
}
