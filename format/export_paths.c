/*
 * export_paths.c - om-export: where a document goes in the bundle.
 *
 * The catalog's bundle patterns (model.h, spec/bundle.md) filled in: the
 * names of referenced documents loaded first, the owner chain joined in
 * each kind's query, and names equal but for case told apart.
 */

#include <sodium.h>

#include "names.h"

#include "export_int.h"

/* ---- names in paths ---- */

/* Is member (len bytes) the name of kind k, the last member of its identity? */
static int is_name(const struct om_kind *k, const char *member, size_t len)
{
	const char *nm = k ? om_kind_name_member(k) : NULL;

	return nm && strlen(nm) == len && memcmp(nm, member, len) == 0;
}

struct name_load {
	struct exporter *x;
	const struct om_ref *ref;
};

static int load_name(PGresult *r, int row, void *vctx)
{
	struct exporter *x = vctx;

	if (PQgetisnull(r, row, 1))
		return 0;
	if (om_idmap_put_name(x->names, PQgetvalue(r, row, 0), PQgetvalue(r, row, 1)) < 0) {
		om_err_set(x->err, "out of memory");
		return -1;
	}
	return 0;
}

static int load_inner_elem(const struct om_hit *hit, void *vctx)
{
	struct name_load *l = vctx;
	const char *id = json_string_value(json_object_get(hit->value, OM_MEMBER_ID));
	const char *name = json_string_value(json_object_get(hit->value, l->ref->inner_name));

	if (id && name && om_idmap_put_name(l->x->names, id, name) < 0) {
		om_err_set(l->x->err, "out of memory");
		return -1;
	}
	return 0;
}

int exp_note_inner_names(struct exporter *x, const struct om_ref *ref, json_t *doc)
{
	struct name_load l = {x, ref};

	return om_path_walk(doc, ref->inner, load_inner_elem, &l, x->err);
}

static int load_inner(PGresult *r, int row, void *vctx)
{
	struct name_load *l = vctx;
	json_t *doc = json_loads(PQgetvalue(r, row, 0), 0, NULL);
	int rc;

	if (!doc) {
		om_err_set(l->x->err, "cannot parse a document of the store");
		return -1;
	}
	rc = om_path_walk(doc, l->ref->inner, load_inner_elem, l, l->x->err);
	json_decref(doc);
	return rc;
}

/* Load the names that the placeholders of a pattern need from other
 * documents.  loaded[] marks kinds already in the map. */
int exp_load_pattern_names(struct exporter *x, const struct om_kind *k, const char *pat,
			   unsigned char *loaded, unsigned char *loaded_inner)
{
	char sql[256];

	for (const char *p = pat; p && (p = strchr(p, '{'));) {
		const char *e = strchr(p, '}');
		size_t n = strcspn(p + 1, "|:}");
		const struct om_ref *ref = p[1] == '#' ? NULL : om_ref_of_member(k, p + 1, n);
		const struct om_kind *alt[MAX_ALTS];
		int nalt;

		p = e;
		if (!ref)
			continue;
		if (ref->form == OM_REF_INNER) {
			/* The elements live in the documents the via member names. */
			const struct om_ref *via = om_ref_of_member(k, ref->via, strcspn(ref->via, ">"));
			nalt = via ? om_ref_targets(via, alt, MAX_ALTS) : 0;
			for (int i = 0; i < nalt; i++) {
				struct name_load l = {x, ref};
				size_t ki = (size_t)(alt[i] - om_kinds);
				if (loaded_inner[ki])
					continue;
				loaded_inner[ki] = 1;
				snprintf(sql, sizeof sql, "SELECT doc::text FROM %s", alt[i]->table);
				if (om_store_each_row(x->conn, sql, load_inner, &l, x->err) < 0)
					return -1;
			}
			continue;
		}
		nalt = om_ref_targets(ref, alt, MAX_ALTS);
		for (int i = 0; i < nalt; i++) {
			size_t ki = (size_t)(alt[i] - om_kinds);
			if (loaded[ki])
				continue;
			loaded[ki] = 1;
			snprintf(sql, sizeof sql, "SELECT id, doc->>'%s' FROM %s", om_kind_name_member(alt[i]),
				 alt[i]->table);
			if (om_store_each_row(x->conn, sql, load_name, x, x->err) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- filling in patterns ---- */

/* The value of member (len bytes) for a placeholder: 1 and *val, 0 when it
 * is null or empty, -1 on error. */
static int value_of(struct source *s, const char *member, size_t len, const char **val,
		    size_t *vlen)
{
	struct exporter *x = s->x;

	s->collides = 0;
	if (!s->from_doc) {
		int c = s->col++;
		if (PQgetisnull(s->r, s->row, c))
			return 0;
		*val = PQgetvalue(s->r, s->row, c);
		*vlen = (size_t)PQgetlength(s->r, s->row, c);
		s->collides = is_name(s->kind, member, len) && om_idmap_get(x->collide, s->id);
		return *vlen > 0;
	}
	om_canon_node n = om_canon_getn(x->canon, om_canon_root(x->canon), member, len);
	enum om_canon_type t = om_canon_type(x->canon, n);
	if (t != OM_CANON_STRING && t != OM_CANON_NUMBER)
		return 0;
	*val = om_canon_str(x->canon, n, vlen);
	if (*vlen == 0)
		return 0;
	const struct om_ref *ref = om_ref_of_member(s->kind, member, len);
	if (ref && (ref->form == OM_REF_ID || ref->form == OM_REF_INNER)) {
		char id[256];
		const struct om_idval *iv;
		snprintf(id, sizeof id, "%.*s", (int)*vlen, *val);
		if (!(iv = om_idmap_get(x->names, id)) || !iv->name) {
			om_err_set(x->err, "%s %s: %.*s %s names nothing in the store: "
				   "cannot name the path", s->kind->name, s->id, (int)len, member, id);
			return -1;
		}
		*val = iv->name;
		*vlen = strlen(iv->name);
		s->collides = om_idmap_get(x->collide, id) != NULL;
	} else {
		s->collides = is_name(s->kind, member, len) && om_idmap_get(x->collide, s->id);
	}
	return 1;
}

/* Append the escaped value of one placeholder "{...}" (p at '{', e at '}')
 * to x->raw; 1 appended, 0 null, -1 error. */
static int placeholder(struct source *s, const char *p, const char *e)
{
	struct exporter *x = s->x;
	int hash = p[1] == '#';
	const char *m = p + 1 + hash;
	size_t mlen = strcspn(m, "|:}");
	const char *val, *dflt = NULL;
	size_t vlen, dlen = 0;
	long prefix = -1;
	char hex[17];
	char *comp;
	int r;

	if (m[mlen] == '|') {
		dflt = m + mlen + 1;
		dlen = (size_t)(e - dflt);
	} else if (m[mlen] == ':') {
		prefix = strtol(m + mlen + 1, NULL, 10);
	}
	if ((r = value_of(s, m, mlen, &val, &vlen)) < 0)
		return -1;
	if (r == 0) {
		if (!dflt)
			return 0;
		val = dflt;
		vlen = dlen;
	}
	if (hash) {
		unsigned char h[32];
		crypto_generichash(h, sizeof h, (const unsigned char *)val, vlen, NULL, 0);
		sodium_bin2hex(hex, sizeof hex, h, 8);
		val = hex;
		vlen = 16;
	} else if (prefix >= 0 && (size_t)prefix < vlen) {
		vlen = (size_t)prefix;
	}
	int inside = x->raw.len > 0 && x->raw.p[x->raw.len - 1] != '/';
	int flags = (inside ? OM_NAME_INSIDE : 0) | (r && !hash && s->collides ? OM_NAME_COLLIDES : 0);
	if (!(comp = om_name_component(val, vlen, flags, x->err)))
		return -1;
	r = exp_buf_append(&x->raw, comp, strlen(comp), x->err);
	free(comp);
	return r < 0 ? -1 : 1;
}

/* The component of x->raw from start, whose placeholders end at stem, is
 * complete: hold it to the length of a name (names rule 7). */
static void fit_component(struct exporter *x, size_t start, size_t stem)
{
	if (stem > start)
		x->raw.len = start + om_name_fit(x->raw.p + start, x->raw.len - start, stem - start);
}

/* Append the pattern, its placeholders filled in, to out (a path). */
int exp_expand(struct source *s, const char *pat, struct om_buf *out)
{
	struct exporter *x = s->x;
	const char *p = pat;
	size_t start = 0, stem = 0; /* of the component being built, in x->raw */

	while (*p) {
		if (*p == '/') {
			fit_component(x, start, stem);
			if (exp_buf_append(&x->raw, p++, 1, x->err) < 0)
				return -1;
			start = stem = x->raw.len;
		} else if (*p == '[') {
			/* An optional part: kept when a placeholder in it had a value. */
			const char *end = strchr(p, ']');
			size_t mark = x->raw.len;
			int any = 0;
			for (const char *q = p + 1; q < end;) {
				if (*q == '{') {
					const char *e = strchr(q, '}');
					int r = placeholder(s, q, e);
					if (r < 0)
						return -1;
					any |= r;
					q = e + 1;
				} else if (exp_buf_append(&x->raw, q++, 1, x->err) < 0) {
					return -1;
				}
			}
			if (!any)
				x->raw.len = mark;
			else
				stem = x->raw.len;
			p = end + 1;
		} else if (*p == '{') {
			const char *e = strchr(p, '}');
			if (placeholder(s, p, e) < 0)
				return -1;
			stem = x->raw.len;
			p = e + 1;
		} else if (exp_buf_append(&x->raw, p++, 1, x->err) < 0) {
			return -1;
		}
	}
	fit_component(x, start, stem);
	if (out->len && exp_buf_append(out, "/", 1, x->err) < 0)
		return -1;
	if (exp_buf_append(out, x->raw.p, x->raw.len, x->err) < 0)
		return -1;
	x->raw.len = 0;
	return 0;
}

/* ---- the query of a kind ---- */

void exp_sql_put(char *sql, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(sql + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n = *n + (size_t)k < cap ? *n + (size_t)k : cap - 1;
}

/* ---- names that collide: equal but for case, or under normalization ---- */

/* The names of one directory (rows of one partition), as they come. */
struct collide_group {
	struct exporter *x;
	char *part;		/* the partition's key */
	struct cname {
		char *id, *key;
	} *v;
	size_t n, cap;
};

static int cname_cmp(const void *a, const void *b)
{
	return strcmp(((const struct cname *)a)->key, ((const struct cname *)b)->key);
}

/* Put the Ids of the group's colliding names in x->collide; empty it. */
static int collide_flush(struct collide_group *g)
{
	int rc = 0;

	if (g->n > 1)
		qsort(g->v, g->n, sizeof *g->v, cname_cmp);
	for (size_t i = 0; i < g->n && rc == 0; i++)
		if ((i > 0 && strcmp(g->v[i - 1].key, g->v[i].key) == 0) ||
		    (i + 1 < g->n && strcmp(g->v[i + 1].key, g->v[i].key) == 0))
			rc = om_idmap_put(g->x->collide, g->v[i].id, NULL, NULL);
	for (size_t i = 0; i < g->n; i++) {
		free(g->v[i].id);
		free(g->v[i].key);
	}
	g->n = 0;
	if (rc < 0)
		om_err_set(g->x->err, "out of memory");
	return rc;
}

/* Rows (id, partition, name), sorted by partition. */
static int load_collide(PGresult *r, int row, void *vctx)
{
	struct collide_group *g = vctx;
	const char *part = PQgetvalue(r, row, 1), *name = PQgetvalue(r, row, 2);
	struct cname *c;

	if (!g->part || strcmp(g->part, part) != 0) {
		if (collide_flush(g) < 0)
			return -1;
		free(g->part);
		if (!(g->part = strdup(part)))
			goto oom;
	}
	if (om_array_grow(&g->v, &g->cap, g->n, 1, sizeof *g->v) < 0)
		goto oom;
	c = &g->v[g->n];
	/* A name that is no UTF-8 has no key: itself stands for it. */
	if (!(c->id = strdup(PQgetvalue(r, row, 0))) ||
	    (!(c->key = om_name_collide_key(name)) && !(c->key = strdup(name)))) {
		free(c->id);
		goto oom;
	}
	g->n++;
	return 0;
oom:
	om_err_set(g->x->err, "out of memory");
	return -1;
}

int exp_names_component(const char *pat, const char *member)
{
	size_t n = strlen(member);

	for (const char *p = pat; p && (p = strchr(p, '{')); p++)
		if ((p == pat || p[-1] == '/') && strncmp(p + 1, member, n) == 0 &&
		    (p[1 + n] == '}' || p[1 + n] == '|')) {
			const char *e = strchr(p, '}');
			if (e && (e[1] == 0 || e[1] == '/' || e[1] == '.'))
				return 1;
		}
	return 0;
}

/*
 * Fill x->collide with the documents whose name collides with another's of
 * the same kind in the same directory (the same space and the same other
 * identity members, which hold the owner): om_name_collide(), equal but
 * for ASCII case or canonically equivalent in Unicode.  Only names that
 * make a path component of their own are looked at; the whole store is, so
 * a partial export names a document as a whole export does.  The store
 * sorts the names by directory; utf8proc gives each its key here.
 */
int exp_load_collisions(struct exporter *x)
{
	struct collide_group g = {x, NULL, NULL, 0, 0};
	char sql[1024];
	int rc = 0;

	for (size_t i = 0; i < om_nkinds && rc == 0; i++) {
		const struct om_kind *k = &om_kinds[i];
		const char *nm = om_kind_name_member(k);
		size_t n = 0;
		if (om_ref_of_member(k, nm, strlen(nm)) ||
		    !(exp_names_component(k->path, nm) || (k->dir && exp_names_component(k->dir, nm))))
			continue;
		/* The partition as one text: each value quoted (NULL apart). */
		exp_sql_put(sql, sizeof sql, &n, "SELECT id, concat_ws(',', %s",
			k->scope == OM_SERVER ? "''" : "quote_nullable(doc->>'" OM_MEMBER_SPACE "')");
		for (size_t j = 0; j < 5 && k->identity[j] && k->identity[j] != nm; j++)
			exp_sql_put(sql, sizeof sql, &n, ", quote_nullable(doc->>'%s')", k->identity[j]);
		exp_sql_put(sql, sizeof sql, &n,
			") AS p, coalesce(doc->>'%s', '') FROM %s ORDER BY 2", nm,
			k->table);
		rc = om_store_each_row(x->conn, sql, load_collide, &g, x->err);
		if (rc == 0)
			rc = collide_flush(&g);
		free(g.part);
		g.part = NULL;
	}
	collide_flush(&g);
	free(g.v);
	return rc < 0 ? -1 : 0;
}

/* Columns for the plain-member placeholders of a pattern of kind a,
 * whose row is the table alias al. */
static int pattern_columns(char *sql, size_t cap, size_t *n, const char *al, const char *pat,
			   int *ncols)
{
	for (const char *p = pat; p && (p = strchr(p, '{'));) {
		const char *m = p + 1 + (p[1] == '#');
		size_t mlen = strcspn(m, "|:}");
		exp_sql_put(sql, cap, n, ", %s.doc->>'%.*s'", al, (int)mlen, m);
		++*ncols;
		p = strchr(p, '}');
	}
	return 0;
}

int exp_build_query(struct exporter *x, const struct unit *u, char *sql, size_t cap)
{
	const struct om_kind *k = u->kind;
	const char *where = " WHERE";
	size_t n = 0;
	int ncols = 2;
	char joins[2048] = "";
	size_t jn = 0;
	const struct om_kind *cur = k;
	char prev[32] = "c";

	exp_sql_put(sql, cap, &n, "SELECT c.doc::text, c.id");
	x->nchain = 0;
	/* Up the owner chain: each hop joins the owner's table once per kind it
	 * may be, and fetches what the owner's directory pattern needs. */
	while (cur->owner) {
		const struct om_ref *ref = om_ref_of_member(cur, cur->owner, strlen(cur->owner));
		struct link *l = &x->chain[x->nchain];
		if (!ref || x->nchain >= MAX_CHAIN) {
			om_err_set(x->err, "model: %s: cannot follow owner %s", cur->name, cur->owner);
			return -1;
		}
		l->nalt = om_ref_targets(ref, l->alt, MAX_ALTS);
		for (int i = 0; i < l->nalt; i++) {
			char al[32];
			snprintf(al, sizeof al, "o%d%d", x->nchain, i);
			exp_sql_put(joins, sizeof joins, &jn, " LEFT JOIN %s %s ON %s.id = %s.doc->>'%s'",
				l->alt[i]->table, al, al, prev, cur->owner);
			l->col[i] = ncols;
			exp_sql_put(sql, cap, &n, ", %s.id", al);
			ncols++;
			pattern_columns(sql, cap, &n, al, l->alt[i]->dir, &ncols);
			if (ncols > MAX_COLS) {
				om_err_set(x->err, "model: %s: too many path columns", k->name);
				return -1;
			}
		}
		x->nchain++;
		if (l->nalt != 1)
			break; /* alternatives are all top-level owners (checked below) */
		snprintf(prev, sizeof prev, "o%d0", x->nchain - 1);
		cur = l->alt[0];
	}
	for (int i = 0; x->nchain && i < x->chain[x->nchain - 1].nalt; i++)
		if (x->chain[x->nchain - 1].nalt > 1 && x->chain[x->nchain - 1].alt[i]->owner) {
			om_err_set(x->err, "model: %s: an owner of several kinds has an owner",
				   k->name);
			return -1;
		}
	x->space_col = -1;
	if (k->scope != OM_SERVER) {
		exp_sql_put(joins, sizeof joins, &jn, " LEFT JOIN %s s ON s.id = c.doc->>'" OM_MEMBER_SPACE "'",
			om_space_kind()->table);
		exp_sql_put(sql, cap, &n, ", s.id, s.doc->>'%s'", om_kind_name_member(om_space_kind()));
		x->space_col = ncols + 1;
		ncols += 2;
	}
	exp_sql_put(sql, cap, &n, " FROM %s c%s", k->table, joins);
	/* A partial export's closure decides alone; a space export takes the
	 * space's documents and the space itself, the one server-level kind it
	 * keeps (om_export()). */
	int is_space = k == om_space_kind();
	if (x->space_id && !x->include && (k->scope != OM_SERVER || is_space)) {
		char *lit = PQescapeLiteral(x->conn, x->space_id, strlen(x->space_id));
		if (!lit) {
			om_err_set(x->err, "out of memory");
			return -1;
		}
		if (is_space)
			exp_sql_put(sql, cap, &n, " WHERE c.id = %s", lit);
		else
			exp_sql_put(sql, cap, &n, " WHERE c.doc->>'" OM_MEMBER_SPACE "' = %s", lit);
		PQfreemem(lit);
		where = " AND";
	}
	/* A piece of the table: a TID range scan. */
	if (u->from > 0) {
		exp_sql_put(sql, cap, &n, "%s c.ctid >= '(%ld,0)'", where, u->from);
		where = " AND";
	}
	if (u->to >= 0)
		exp_sql_put(sql, cap, &n, "%s c.ctid < '(%ld,0)'", where, u->to);
	if (n >= cap - 1) {
		om_err_set(x->err, "model: %s: query too long", k->name);
		return -1;
	}
	return 0;
}
