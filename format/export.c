#include "export.h"

#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "bundle.h"
#include "canon.h"
#include "idmap.h"
#include "model.h"
#include "names.h"
#include "seal.h"
#include "sorter.h"
#include "store.h"

#define FORMAT_VERSION 1
/* Sorted records carry a tag byte: a document's bytes, or a home file. */
#define REC_DOC 'D'
#define REC_FILE 'F'

/* The most reference hops from a kind to the top: deployment, release,
 * project. */
#define MAX_CHAIN 4
/* The most alternative kinds one owner reference may name. */
#define MAX_ALTS 4
#define MAX_COLS 32

/* One hop up the owner chain as the query sees it: the alternative kinds
 * the owner may be, and where each one's columns start in the row. */
struct link {
	const struct om_kind *alt[MAX_ALTS];
	int nalt;
	int col[MAX_ALTS]; /* column of the owner's Id (null: not this one) for each alternative */
};

/* A piece of the work of the readers: the rows of a kind's table in the
 * blocks [from, to) (to -1: to the end), read in one query. */
struct unit {
	const struct om_kind *kind;
	long from, to;
	long long size; /* bytes, to read the largest first */
};

/* What the readers share; mu guards all but what is set before they start
 * (units, nunits) and failed. */
struct shared {
	pthread_mutex_t mu;
	struct om_sorter *sorter;
	struct unit *units;
	size_t nunits, next; /* the units, and the first one not yet taken */
	unsigned long ndocs; /* documents read, for progress */
	atomic_int failed;   /* a reader failed: the others stop */
	struct om_err err;   /* the first failure */
};

/* One reader: its connection and its own canonicaliser, buffers and
 * counts; the maps of names are the first reader's, read only once the
 * readers run. */
struct exporter {
	PGconn *conn;
	const struct om_export_opts *o;
	struct om_err *err;
	struct om_err errbuf; /* err of the readers of other threads */
	struct shared *sh;
	struct om_canon *canon;
	struct om_idmap *names; /* Id -> name, for references named in paths */
	/* Documents whose name equals another's in its directory but for
	 * ASCII case (spec/bundle.md, names rule 6). */
	struct om_idmap *collide;
	char *space_id;         /* with o->space */
	struct om_idmap *include; /* a partial export: the Ids in scope, or NULL */
	unsigned long counts[64];
	unsigned long nrecords; /* records to write */
	/* The kind being read and the shape of its query. */
	const struct om_kind *kind;
	struct link chain[MAX_CHAIN];
	int nchain;
	int space_col; /* column of the space's name (its Id the one before), or -1 */
	struct om_buf out, path, fpath, raw;
	/* Secrets found in the current document, replaced after the walk. */
	struct secret_hit {
		om_canon_node node;
		char *loc; /* its keyed location (model.h), malloc()ed */
	} *hits;
	size_t nhits, caphits;
};

/* Append n bytes to a buffer. */
static int om_buf_append(struct om_buf *b, const void *p, size_t n, struct om_err *err)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q) {
			om_err_set(err, "out of memory");
			return -1;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	return 0;
}

/* ---- names in paths ---- */

/* The member that names a document of kind k: the last of its identity. */
static const char *name_member(const struct om_kind *k)
{
	size_t n = 0;

	while (n < 5 && k->identity[n])
		n++;
	return k->identity[n - 1];
}

/* The reference of kind k held in exactly this member, or NULL. */
static const struct om_ref *member_ref(const struct om_kind *k, const char *member, size_t len)
{
	for (size_t i = 0; i < k->nrefs; i++)
		if (strlen(k->refs[i].path) == len && memcmp(k->refs[i].path, member, len) == 0)
			return &k->refs[i];
	return NULL;
}

/* Is member (len bytes) the name of kind k, the last member of its identity? */
static int is_name(const struct om_kind *k, const char *member, size_t len)
{
	const char *nm = k ? name_member(k) : NULL;

	return nm && strlen(nm) == len && memcmp(nm, member, len) == 0;
}

/* The alternatives of a reference target "A|B" as kinds. */
static int target_kinds(const char *target, const struct om_kind **out, int max)
{
	int n = 0;

	for (const char *t = target; t && *t && n < max;) {
		size_t m = strcspn(t, "|");
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)m, t);
		if ((out[n] = om_kind_by_name(name)))
			n++;
		t += m + (t[m] == '|');
	}
	return n;
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
	const char *id = json_string_value(json_object_get(hit->value, "Id"));
	const char *name = json_string_value(json_object_get(hit->value, l->ref->inner_name));

	if (id && name && om_idmap_put_name(l->x->names, id, name) < 0) {
		om_err_set(l->x->err, "out of memory");
		return -1;
	}
	return 0;
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
static int load_pattern_names(struct exporter *x, const struct om_kind *k, const char *pat,
			      unsigned char *loaded, unsigned char *loaded_inner)
{
	char sql[256];

	for (const char *p = pat; p && (p = strchr(p, '{'));) {
		const char *e = strchr(p, '}');
		size_t n = strcspn(p + 1, "|:}");
		const struct om_ref *ref = p[1] == '#' ? NULL : member_ref(k, p + 1, n);
		const struct om_kind *alt[MAX_ALTS];
		int nalt;

		p = e;
		if (!ref)
			continue;
		if (ref->form == OM_REF_INNER) {
			/* The elements live in the documents the via member names. */
			const struct om_ref *via = member_ref(k, ref->via, strcspn(ref->via, ">"));
			nalt = via ? target_kinds(via->target, alt, MAX_ALTS) : 0;
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
		nalt = target_kinds(ref->target, alt, MAX_ALTS);
		for (int i = 0; i < nalt; i++) {
			size_t ki = (size_t)(alt[i] - om_kinds);
			if (loaded[ki])
				continue;
			loaded[ki] = 1;
			snprintf(sql, sizeof sql, "SELECT id, doc->>'%s' FROM %s", name_member(alt[i]),
				 alt[i]->table);
			if (om_store_each_row(x->conn, sql, load_name, x, x->err) < 0)
				return -1;
		}
	}
	return 0;
}

/* ---- filling in patterns ---- */

/* Where the value of a placeholder comes from. */
struct source {
	struct exporter *x;
	const struct om_kind *kind;
	const char *id; /* the Id of the document the members are of */
	/* The document itself (canonical tree) ... */
	int from_doc;
	/* ... or columns of the row, in placeholder order. */
	PGresult *r;
	int row, col;
	int collides; /* set by value_of(): the value is a colliding name */
};

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
	const struct om_ref *ref = member_ref(s->kind, member, len);
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
	r = om_buf_append(&x->raw, comp, strlen(comp), x->err);
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
static int expand(struct source *s, const char *pat, struct om_buf *out)
{
	struct exporter *x = s->x;
	const char *p = pat;
	size_t start = 0, stem = 0; /* of the component being built, in x->raw */

	while (*p) {
		if (*p == '/') {
			fit_component(x, start, stem);
			if (om_buf_append(&x->raw, p++, 1, x->err) < 0)
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
				} else if (om_buf_append(&x->raw, q++, 1, x->err) < 0) {
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
		} else if (om_buf_append(&x->raw, p++, 1, x->err) < 0) {
			return -1;
		}
	}
	fit_component(x, start, stem);
	if (out->len && om_buf_append(out, "/", 1, x->err) < 0)
		return -1;
	if (om_buf_append(out, x->raw.p, x->raw.len, x->err) < 0)
		return -1;
	x->raw.len = 0;
	return 0;
}

/* ---- the query of a kind ---- */

static void sql_put(char *sql, size_t cap, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void sql_put(char *sql, size_t cap, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(sql + *n, cap - *n, fmt, ap);
	va_end(ap);
	if (k > 0)
		*n = *n + (size_t)k < cap ? *n + (size_t)k : cap - 1;
}

/* ---- names equal but for case ---- */

static int load_collide(PGresult *r, int row, void *vctx)
{
	struct exporter *x = vctx;

	if (om_idmap_put(x->collide, PQgetvalue(r, row, 0), NULL, NULL) < 0) {
		om_err_set(x->err, "out of memory");
		return -1;
	}
	return 0;
}

/* Does the pattern make a component that starts with {member} and ends
 * with it or an extension: "channels/{Name}.json", "spaces/{Name}"? */
static int names_component(const char *pat, const char *member)
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
 * Fill x->collide with the documents whose name equals another's of the
 * same kind in the same directory (the same space and the same other
 * identity members, which hold the owner) but for ASCII case.  Only names
 * that make a path component of their own are looked at; the whole store
 * is, so a partial export names a document as a whole export does.
 */
static int load_collisions(struct exporter *x)
{
	char sql[1024];

	for (size_t i = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		const char *nm = name_member(k);
		size_t n = 0;
		if (member_ref(k, nm, strlen(nm)) ||
		    !(names_component(k->path, nm) || (k->dir && names_component(k->dir, nm))))
			continue;
		sql_put(sql, sizeof sql, &n,
			"SELECT id FROM (SELECT id, count(*) OVER (PARTITION BY %s",
			k->scope == OM_SERVER ? "1" : "doc->>'SpaceId'");
		for (size_t j = 0; j < 5 && k->identity[j] && k->identity[j] != nm; j++)
			sql_put(sql, sizeof sql, &n, ", doc->>'%s'", k->identity[j]);
		sql_put(sql, sizeof sql, &n,
			", translate(doc->>'%s', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', "
			"'abcdefghijklmnopqrstuvwxyz')) AS n FROM %s) t WHERE n > 1",
			nm, k->table);
		if (om_store_each_row(x->conn, sql, load_collide, x, x->err) < 0)
			return -1;
	}
	return 0;
}

/* Columns for the plain-member placeholders of a pattern of kind a,
 * whose row is the table alias al. */
static int pattern_columns(char *sql, size_t cap, size_t *n, const char *al, const char *pat,
			   int *ncols)
{
	for (const char *p = pat; p && (p = strchr(p, '{'));) {
		const char *m = p + 1 + (p[1] == '#');
		size_t mlen = strcspn(m, "|:}");
		sql_put(sql, cap, n, ", %s.doc->>'%.*s'", al, (int)mlen, m);
		++*ncols;
		p = strchr(p, '}');
	}
	return 0;
}

static int build_query(struct exporter *x, const struct unit *u, char *sql, size_t cap)
{
	const struct om_kind *k = u->kind;
	const char *where = " WHERE";
	size_t n = 0;
	int ncols = 2;
	char joins[2048] = "";
	size_t jn = 0;
	const struct om_kind *cur = k;
	char prev[32] = "c";

	sql_put(sql, cap, &n, "SELECT c.doc::text, c.id");
	x->nchain = 0;
	/* Up the owner chain: each hop joins the owner's table once per kind it
	 * may be, and fetches what the owner's directory pattern needs. */
	while (cur->owner) {
		const struct om_ref *ref = member_ref(cur, cur->owner, strlen(cur->owner));
		struct link *l = &x->chain[x->nchain];
		if (!ref || x->nchain >= MAX_CHAIN) {
			om_err_set(x->err, "model: %s: cannot follow owner %s", cur->name, cur->owner);
			return -1;
		}
		l->nalt = target_kinds(ref->target, l->alt, MAX_ALTS);
		for (int i = 0; i < l->nalt; i++) {
			char al[32];
			snprintf(al, sizeof al, "o%d%d", x->nchain, i);
			sql_put(joins, sizeof joins, &jn, " LEFT JOIN %s %s ON %s.id = %s.doc->>'%s'",
				l->alt[i]->table, al, al, prev, cur->owner);
			l->col[i] = ncols;
			sql_put(sql, cap, &n, ", %s.id", al);
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
		sql_put(joins, sizeof joins, &jn, " LEFT JOIN spaces s ON s.id = c.doc->>'SpaceId'");
		sql_put(sql, cap, &n, ", s.id, s.doc->>'Name'");
		x->space_col = ncols + 1;
		ncols += 2;
	}
	sql_put(sql, cap, &n, " FROM %s c%s", k->table, joins);
	/* A partial export's closure decides alone; a space export takes the
	 * space's documents and the space itself, the one server-level kind it
	 * keeps (om_export()). */
	int is_space = strcmp(k->name, "Space") == 0;
	if (x->space_id && !x->include && (k->scope != OM_SERVER || is_space)) {
		char *lit = PQescapeLiteral(x->conn, x->space_id, strlen(x->space_id));
		if (!lit) {
			om_err_set(x->err, "out of memory");
			return -1;
		}
		if (is_space)
			sql_put(sql, cap, &n, " WHERE c.id = %s", lit);
		else
			sql_put(sql, cap, &n, " WHERE c.doc->>'SpaceId' = %s", lit);
		PQfreemem(lit);
		where = " AND";
	}
	/* A piece of the table: a TID range scan. */
	if (u->from > 0) {
		sql_put(sql, cap, &n, "%s c.ctid >= '(%ld,0)'", where, u->from);
		where = " AND";
	}
	if (u->to >= 0)
		sql_put(sql, cap, &n, "%s c.ctid < '(%ld,0)'", where, u->to);
	if (n >= cap - 1) {
		om_err_set(x->err, "model: %s: query too long", k->name);
		return -1;
	}
	return 0;
}

static int add_record(struct exporter *x, const char *path, char tag, const void *data,
		      size_t len);

/* ---- script sidecars ---- */

#define SCRIPT_TOKEN "om-script-1:"

struct elems {
	struct exporter *x;
	om_canon_node *v;
	size_t n, cap;
};

static int note_elem(const struct om_chit *hit, void *vctx)
{
	struct elems *e = vctx;

	if (e->n == e->cap) {
		size_t cap = e->cap ? e->cap * 2 : 16;
		om_canon_node *v = realloc(e->v, cap * sizeof *v);
		if (!v) {
			om_err_set(e->x->err, "out of memory");
			return -1;
		}
		e->v = v;
		e->cap = cap;
	}
	e->v[e->n++] = hit->node;
	return 0;
}

/* The file name ending for a script language. */
static const char *script_ext(const char *syntax, size_t len)
{
	static const char *const ext[][2] = {
		{"Bash", ".sh"}, {"PowerShell", ".ps1"}, {"Python", ".py"},
		{"CSharp", ".csx"}, {"FSharp", ".fsx"},
	};

	for (size_t i = 0; syntax && i < sizeof ext / sizeof *ext; i++)
		if (strlen(ext[i][0]) == len && memcmp(ext[i][0], syntax, len) == 0)
			return ext[i][1];
	return ".txt";
}

/* Put each inline script of the document into a sidecar file
 * "scripts/<Action name><ext>" in the document's parent directory
 * (parentlen bytes of x->path); with extract, the JSON names the file. */
static int extract_scripts(struct exporter *x, size_t parentlen)
{
	struct elems e = {x, NULL, 0, 0};
	struct om_canon *c = x->canon;
	int rc = -1;

	if (om_canon_path_walk(c, om_canon_root(c), x->kind->scripts, x->kind, note_elem, &e, x->err) < 0)
		goto out;
	for (size_t i = 0; i < e.n; i++) {
		om_canon_node props = om_canon_get(c, e.v[i], "Properties");
		om_canon_node body = om_canon_get(c, props, "Octopus.Action.Script.ScriptBody");
		om_canon_node syn = om_canon_get(c, props, "Octopus.Action.Script.Syntax");
		size_t nlen, blen, slen = 0;
		const char *name = om_canon_str(c, om_canon_get(c, e.v[i], "Name"), &nlen);
		const char *text = om_canon_str(c, body, &blen);
		const char *syntax = om_canon_str(c, syn, &slen);
		char *comp;

		if (om_canon_type(c, body) != OM_CANON_STRING || blen == 0 || !name)
			continue;
		if (!(comp = om_name_component(name, nlen, 0, x->err)))
			goto out;
		x->fpath.len = 0;
		if (om_buf_append(&x->fpath, x->path.p, parentlen, x->err) < 0 ||
		    om_buf_append(&x->fpath, parentlen ? "/scripts/" : "scripts/",
				  parentlen ? 9 : 8, x->err) < 0 ||
		    om_buf_append(&x->fpath, comp, strlen(comp), x->err) < 0 ||
		    om_buf_append(&x->fpath, script_ext(syntax, slen),
				  strlen(script_ext(syntax, slen)), x->err) < 0 ||
		    om_buf_append(&x->fpath, "", 1, x->err) < 0) {
			free(comp);
			goto out;
		}
		free(comp);
		if (add_record(x, x->fpath.p, REC_DOC, text, blen) < 0)
			goto out;
		if (x->o->scripts == OM_SCRIPTS_EXTRACT) {
			/* The token names the file relative to the document's directory. */
			const char *rel = x->fpath.p + parentlen + (parentlen > 0);
			x->raw.len = 0;
			if (om_buf_append(&x->raw, SCRIPT_TOKEN, sizeof SCRIPT_TOKEN - 1, x->err) < 0 ||
			    om_buf_append(&x->raw, rel, strlen(rel), x->err) < 0 ||
			    om_canon_set_str(c, body, x->raw.p, x->raw.len, x->err) < 0)
				goto out;
			x->raw.len = 0;
		}
	}
	rc = 0;
out:
	free(e.v);
	return rc;
}

/* ---- one document ---- */

static int note_secret(const struct om_chit *hit, void *vctx)
{
	struct exporter *x = vctx;

	if (x->nhits == x->caphits) {
		size_t cap = x->caphits ? x->caphits * 2 : 16;
		void *p = realloc(x->hits, cap * sizeof *x->hits);
		if (!p) {
			om_err_set(x->err, "out of memory");
			return -1;
		}
		x->hits = p;
		x->caphits = cap;
	}
	x->hits[x->nhits].node = hit->node;
	if (!(x->hits[x->nhits].loc = strdup(hit->loc))) {
		om_err_set(x->err, "out of memory");
		return -1;
	}
	x->nhits++;
	return 0;
}

static void forget_secrets(struct exporter *x)
{
	while (x->nhits)
		free(x->hits[--x->nhits].loc);
}

/* Replace each sealed secret of the document by its token. */
static int tokenize_secrets(struct exporter *x, const char *path)
{
	struct om_err e;

	forget_secrets(x);
	if (om_canon_secrets_each(x->kind, x->canon, note_secret, x, x->err) < 0)
		return -1;
	for (size_t i = 0; i < x->nhits; i++) {
		size_t len, clen;
		const char *sealed = om_canon_str(x->canon, x->hits[i].node, &len);
		char tok[64], *clear, *sealz = strndup(sealed, len);
		int r;
		if (!sealz) {
			om_err_set(x->err, "out of memory");
			return -1;
		}
		r = om_unseal(x->o->key, sealz, &clear, &clen, &e);
		free(sealz);
		if (r != 0) {
			om_err_set(x->err, "%s: %s: %s", path, x->hits[i].loc, e.msg);
			return -1;
		}
		if (x->o->secrets == OM_SECRETS_REDACTED) {
			char fp[OM_FINGERPRINT_SIZE];
			char *loc = malloc(strlen(path) + strlen(x->hits[i].loc) + 2);
			if (!loc) {
				om_clear_free(clear);
				om_err_set(x->err, "out of memory");
				return -1;
			}
			sprintf(loc, "%s#%s", path, x->hits[i].loc);
			om_key_fingerprint(x->o->key, loc, clear, clen, fp);
			free(loc);
			snprintf(tok, sizeof tok, "om-redacted-1:%s", fp);
			r = om_canon_set_str(x->canon, x->hits[i].node, tok, strlen(tok), x->err);
		} else {
			size_t blen = sodium_base64_ENCODED_LEN(clen, sodium_base64_VARIANT_ORIGINAL);
			char *b = sodium_malloc(11 + blen);
			if (!b) {
				om_clear_free(clear);
				om_err_set(x->err, "out of memory");
				return -1;
			}
			memcpy(b, "om-clear-1:", 11);
			sodium_bin2base64(b + 11, blen, (const unsigned char *)clear, clen,
					  sodium_base64_VARIANT_ORIGINAL);
			r = om_canon_set_str(x->canon, x->hits[i].node, b, strlen(b), x->err);
			sodium_free(b);
		}
		om_clear_free(clear);
		if (r < 0)
			return -1;
	}
	return 0;
}

/* The parent directory of the row's document into x->path. */
static int parent_dir(struct exporter *x, PGresult *r, int row)
{
	x->path.len = 0;
	/* The topmost owner's space, then each owner's directory downwards. */
	if (x->space_col >= 0 && !PQgetisnull(r, row, x->space_col)) {
		struct source s = {x, om_kind_by_name("Space"), PQgetvalue(r, row, x->space_col - 1),
				   0, r, row, x->space_col, 0};
		if (expand(&s, om_kind_by_name("Space")->dir, &x->path) < 0)
			return -1;
	}
	for (int i = x->nchain - 1; i >= 0; i--) {
		const struct link *l = &x->chain[i];
		int found = 0;
		for (int a = 0; a < l->nalt && !found; a++) {
			if (PQgetisnull(r, row, l->col[a]))
				continue;
			struct source s = {x, l->alt[a], PQgetvalue(r, row, l->col[a]), 0, r, row,
					   l->col[a] + 1, 0};
			if (expand(&s, l->alt[a]->dir, &x->path) < 0)
				return -1;
			found = 1;
		}
		if (!found) {
			om_err_set(x->err, "%s %s: its owner does not exist", x->kind->name,
				   PQgetvalue(r, row, 0));
			return -1;
		}
	}
	return 0;
}

/* The home file of the document, from the model's file pattern. */
static int home_file(struct exporter *x, char *out, size_t cap)
{
	const char *p = x->kind->file;
	size_t n = 0;

	n = (size_t)snprintf(out, cap, "%s/", x->o->home);
	while (*p && n < cap - 1) {
		if (*p != '{') {
			out[n++] = *p++;
			continue;
		}
		const char *e = strchr(p, '}');
		om_canon_node v = om_canon_getn(x->canon, om_canon_root(x->canon), p + 1,
						(size_t)(e - p - 1));
		size_t vlen;
		const char *val = om_canon_str(x->canon, v, &vlen);
		if (!val || vlen == 0 || memchr(val, '/', vlen) || memchr(val, 0, vlen) ||
		    (vlen <= 2 && strncmp(val, "..", vlen) == 0)) {
			om_err_set(x->err, "%s: %.*s cannot name a file of the home directory",
				   x->kind->name, (int)(e - p - 1), p + 1);
			return -1;
		}
		if (n + vlen >= cap)
			break;
		memcpy(out + n, val, vlen);
		n += vlen;
		p = e + 1;
	}
	if (n >= cap - 1) {
		om_err_set(x->err, "%s: home file name too long", x->kind->name);
		return -1;
	}
	out[n] = 0;
	return 0;
}

/* The class of files asked for ("tasklogs") that this kind's home files
 * are of, or NULL when the export leaves them out. */
static const char *files_class(const struct exporter *x, const struct om_kind *k)
{
	if (!k->file || !k->bundle_file || !x->o->files)
		return NULL;
	size_t n = strcspn(k->file, "/");
	for (const char *const *f = x->o->files; *f; f++)
		if (strlen(*f) == n && strncasecmp(*f, k->file, n) == 0)
			return *f;
	return NULL;
}

/* Does the export include this kind's home files? */
static int wants_files(const struct exporter *x, const struct om_kind *k)
{
	return files_class(x, k) != NULL;
}

static int add_record(struct exporter *x, const char *path, char tag, const void *data,
		      size_t len)
{
	x->nrecords++;
	/* The tag goes in front of the bytes, in the one buffer. */
	x->raw.len = 0;
	if (om_buf_append(&x->raw, &tag, 1, x->err) < 0 ||
	    om_buf_append(&x->raw, data, len, x->err) < 0)
		return -1;
	pthread_mutex_lock(&x->sh->mu);
	int r = om_sorter_add(x->sh->sorter, path, x->raw.p, x->raw.len, x->err);
	pthread_mutex_unlock(&x->sh->mu);
	x->raw.len = 0;
	return r;
}

/* The document in x->canon, of kind x->kind, whose path is x->path (its
 * parent directory the first parentlen bytes): volatile members out,
 * secrets as tokens, scripts where asked, then into the sort. */
static int emit_doc(struct exporter *x, size_t parentlen)
{
	const struct om_kind *k = x->kind;

	for (const char *const *v = k->volatiles; v && *v; v++)
		om_canon_drop(x->canon, om_canon_root(x->canon), *v);
	if (tokenize_secrets(x, x->path.p) < 0)
		return -1;
	if (k->scripts && x->o->scripts != OM_SCRIPTS_INLINE && extract_scripts(x, parentlen) < 0)
		return -1;
	x->out.len = 0;
	if (om_canon_write(x->canon, &x->out, x->err) < 0)
		return -1;
	if (add_record(x, x->path.p, REC_DOC, x->out.p, x->out.len) < 0)
		return -1;
	x->counts[k - om_kinds]++;
	if (x->o->progress) {
		pthread_mutex_lock(&x->sh->mu);
		x->o->progress(x->o->progress_ctx, "reading", k->name, ++x->sh->ndocs, 0);
		pthread_mutex_unlock(&x->sh->mu);
	}
	return 0;
}

static int export_row(PGresult *r, int row, void *vctx)
{
	struct exporter *x = vctx;
	const struct om_kind *k = x->kind;
	size_t dirlen;

	if (atomic_load_explicit(&x->sh->failed, memory_order_relaxed)) {
		om_err_set(x->err, "stopped: another reader failed");
		return -1;
	}
	if (x->include && !om_idmap_get(x->include, PQgetvalue(r, row, 1)))
		return 0;
	if (om_canon_parse(x->canon, PQgetvalue(r, row, 0), (size_t)PQgetlength(r, row, 0),
			   x->err) < 0) {
		om_err_prefix(x->err, "%s in table %s", k->name, k->table);
		return -1;
	}
	if (parent_dir(x, r, row) < 0)
		return -1;
	size_t parentlen = x->path.len;
	struct source self = {x, k, PQgetvalue(r, row, 1), 1, r, row, 0, 0};
	if (k->dir && expand(&self, k->dir, &x->path) < 0)
		return -1;
	dirlen = x->path.len;
	if (expand(&self, k->path, &x->path) < 0)
		return -1;
	if (om_buf_append(&x->path, "", 1, x->err) < 0) /* NUL */
		return -1;

	/* Files, from the document as it is in the store: the file's path is
	 * the document's directory and the model's bundle_file below it. */
	if (wants_files(x, k)) {
		char home[4096];
		struct stat st;
		if (home_file(x, home, sizeof home) < 0)
			return -1;
		errno = 0;
		if (stat(home, &st) != 0 || !S_ISREG(st.st_mode)) {
			om_err_set(x->err, "%s: cannot read '%s': %s", x->path.p, home,
				   errno ? strerror(errno) : "not a regular file");
			return -1;
		}
		x->fpath.len = 0;
		if (om_buf_append(&x->fpath, x->path.p, dirlen, x->err) < 0 ||
		    expand(&self, k->bundle_file, &x->fpath) < 0 ||
		    om_buf_append(&x->fpath, "", 1, x->err) < 0 ||
		    add_record(x, x->fpath.p, REC_FILE, home, strlen(home)) < 0)
			return -1;
	}

	return emit_doc(x, parentlen);
}

/* ---- the manifest ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* NULL-terminated names as a JSON array, sorted, each once, so that the
 * order and repetition of options do not change the manifest. */
static json_t *name_set(const char *const *names)
{
	json_t *a = json_array();
	size_t n = 0;
	const char **v;

	while (names && names[n])
		n++;
	if (!a || !(v = malloc((n + 1) * sizeof *v))) {
		json_decref(a);
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		v[i] = names[i];
	qsort(v, n, sizeof *v, cmp_str);
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(v[i], v[i - 1]) != 0)
			json_array_append_new(a, json_string(v[i]));
	free(v);
	return a;
}

/* The manifest, for a server of that version and store format. */
static int add_manifest(struct exporter *x, const char *server_version, int store_format)
{
	const struct om_export_opts *o = x->o;
	json_t *m = json_object(), *exp = json_object(), *ign = json_array(),
	       *files = json_array(), *counts = json_object(), *sec = json_object();
	char *text = NULL;
	int rc = -1;

	for (int h = OM_HIST_HISTORY; h <= OM_HIST_CERTIFICATES; h++)
		if (o->ignore & (1u << h))
			json_array_append_new(ign, json_string(om_history_name((enum om_history)h)));
	/* In the model's order, whatever the order of the options. */
	for (size_t i = 0, n = 0; i < om_nkinds; i++) {
		const char *f = files_class(x, &om_kinds[i]);
		if (f && (n == 0 || strcmp(f, json_string_value(json_array_get(files, n - 1))) != 0))
			n += json_array_append_new(files, json_string(f)) == 0;
	}
	for (size_t i = 0; i < om_nkinds; i++)
		if (x->counts[i])
			json_object_set_new(counts, om_kinds[i].name,
					    json_integer((json_int_t)x->counts[i]));
	json_object_set_new(exp, "Ignore", ign);
	json_object_set_new(exp, "Files", files);
	json_object_set_new(exp, "InlineScripts",
			    json_string(o->scripts == OM_SCRIPTS_EXTRACT ? "extract"
					: o->scripts == OM_SCRIPTS_COPY ? "copy" : "inline"));
	if (o->projects || o->project_groups) {
		json_t *scope = json_object(), *pr = name_set(o->projects),
		       *gr = name_set(o->project_groups);
		if (!pr || !gr) {
			json_decref(pr);
			json_decref(gr);
			json_decref(scope);
			om_err_set(x->err, "out of memory");
			goto out;
		}
		json_object_set_new(scope, "Projects", pr);
		json_object_set_new(scope, "ProjectGroups", gr);
		if (o->space)
			json_object_set_new(scope, "Space", json_string(o->space));
		json_object_set_new(exp, "Scope", scope);
	} else {
		json_object_set_new(exp, "Scope", o->space ? json_pack("{ss}", "Space", o->space)
							   : json_string("server"));
	}
	json_object_set_new(sec, "State", json_string(o->secrets == OM_SECRETS_REDACTED
							       ? "redacted" : "clear"));
	if (o->secrets == OM_SECRETS_REDACTED) {
		/* Which key made the fingerprints, so that fingerprints of two
		 * servers are not compared as if of one (spec/bundle.md). */
		char id[OM_FINGERPRINT_SIZE];
		om_key_fingerprint(o->key, "manifest.json#Secrets/KeyId", "", 0, id);
		json_object_set_new(sec, "KeyId", json_string(id));
	}
	json_object_set_new(m, "Format", json_string("om-bundle"));
	json_object_set_new(m, "FormatVersion", json_integer(FORMAT_VERSION));
	json_object_set_new(m, "ServerVersion", json_string(server_version));
	json_object_set_new(m, "StoreFormat", json_integer(store_format));
	json_object_set_new(m, "Export", exp);
	json_object_set_new(m, "Secrets", sec);
	json_object_set_new(m, "Counts", counts);
	if (!(text = json_dumps(m, JSON_COMPACT)) ||
	    om_canon_parse(x->canon, text, strlen(text), x->err) < 0)
		goto out;
	x->out.len = 0;
	if (om_canon_write(x->canon, &x->out, x->err) < 0 ||
	    add_record(x, "manifest.json", REC_DOC, x->out.p, x->out.len) < 0)
		goto out;
	rc = 0;
out:
	free(text);
	json_decref(m);
	return rc;
}

/* The manifest of a store's export: the server row gives the versions. */
static int add_store_manifest(struct exporter *x)
{
	PGresult *r = PQexec(x->conn, "SELECT server_version, store_format FROM server");
	int rc = -1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1)
		om_err_set(x->err, "cannot read the server row");
	else
		rc = add_manifest(x, PQgetvalue(r, 0, 0), atoi(PQgetvalue(r, 0, 1)));
	PQclear(r);
	return rc;
}

/* ---- writing ---- */

static int write_sorted(struct exporter *x, struct om_bundle_writer *w)
{
	const char *key;
	const void *data;
	size_t len;
	int r;

	unsigned long done = 0;

	while ((r = om_sorter_next(x->sh->sorter, &key, &data, &len, x->err)) == 1) {
		const char *d = data;
		if (x->o->progress)
			x->o->progress(x->o->progress_ctx, "writing", NULL, ++done, x->nrecords);
		if (d[0] == REC_DOC) {
			if (om_bundle_add(w, key, d + 1, len - 1, x->err) < 0)
				return -1;
			continue;
		}
		char home[4096];
		struct stat st;
		int fd;
		snprintf(home, sizeof home, "%.*s", (int)(len - 1), d + 1);
		if ((fd = open(home, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
			om_err_set(x->err, "cannot read '%s': %s", home, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		r = om_bundle_add_fd(w, key, fd, (uint64_t)st.st_size, x->err);
		close(fd);
		if (r < 0)
			return -1;
	}
	return r;
}

/* ---- partial exports: the closure of the chosen projects ---- */

struct closure {
	struct exporter *x;
	/* Ids added and not yet followed. */
	char **queue;
	size_t n, cap;
	/* The chosen projects and what they own; the document being followed
	 * is one of them. */
	struct om_idmap *own;
	int following_own;
};

static int closure_add(struct closure *c, const char *id)
{
	if (om_idmap_get(c->x->include, id))
		return 0;
	if (om_idmap_put(c->x->include, id, om_kind_of_id(id), NULL) < 0)
		goto oom;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 256;
		char **q = realloc(c->queue, cap * sizeof *q);
		if (!q)
			goto oom;
		c->queue = q;
		c->cap = cap;
	}
	if (!(c->queue[c->n] = strdup(id)))
		goto oom;
	c->n++;
	return 0;
oom:
	om_err_set(c->x->err, "out of memory");
	return -1;
}

static int closure_ref(const struct om_ref_hit *h, void *vctx)
{
	struct closure *c = vctx;
	const struct om_kind *k;
	char id[256];

	if (h->ref->flags & OM_REF_WEAK || h->ref->form == OM_REF_INNER)
		return 0; /* inner elements live in documents referred to anyway */
	if (h->ref->flags & OM_REF_DROPPABLE && !c->following_own)
		return 0;
	snprintf(id, sizeof id, "%s", h->id);
	if (h->ref->form == OM_REF_TAG)
		id[strcspn(id, "/")] = 0; /* the tag set */
	k = om_kind_of_id(id);
	/* History left out by the options stays out. */
	if (!k || (k->history && (c->x->o->ignore & (1u << k->history))))
		return 0;
	return closure_add(c, id);
}

static int seed_project(PGresult *r, int row, void *vctx)
{
	return closure_add(vctx, PQgetvalue(r, row, 0));
}

static int add_owned(PGresult *r, int row, void *vctx)
{
	struct closure *c = vctx;

	if (PQgetisnull(r, row, 1) || !om_idmap_get(c->x->include, PQgetvalue(r, row, 1)))
		return 0;
	return closure_add(c, PQgetvalue(r, row, 0));
}

/* Is every document this reference names already in the closure? */
static int ref_inside(const struct om_ref_hit *h, void *vctx)
{
	struct closure *c = vctx;
	char id[256];

	if (h->ref->flags & OM_REF_WEAK || h->ref->form == OM_REF_INNER)
		return 0;
	snprintf(id, sizeof id, "%s", h->id);
	if (h->ref->form == OM_REF_TAG)
		id[strcspn(id, "/")] = 0;
	return om_idmap_get(c->x->include, id) ? 0 : 1;
}

static int add_owned_closed(PGresult *r, int row, void *vctx)
{
	struct closure *c = vctx;
	const char *id = PQgetvalue(r, row, 0);
	json_t *doc;
	int rc;

	if (PQgetisnull(r, row, 1) || !om_idmap_get(c->x->include, PQgetvalue(r, row, 1)) ||
	    om_idmap_get(c->x->include, id))
		return 0;
	if (!(doc = json_loads(PQgetvalue(r, row, 2), 0, NULL))) {
		om_err_set(c->x->err, "cannot parse document %s", id);
		return -1;
	}
	rc = om_refs_each(om_kind_of_id(id), doc, ref_inside, c, c->x->err);
	json_decref(doc);
	if (rc < 0)
		return -1;
	if (rc == 0 && om_idmap_put(c->x->include, id, om_kind_of_id(id), NULL) < 0) {
		om_err_set(c->x->err, "out of memory");
		return -1;
	}
	return 0;
}

/* Seed with the chosen projects; add what they own, transitively (the
 * catalog lists owners before what they own); then follow references until
 * nothing new comes.  Optional bindings (droppable references) are
 * followed from those own documents only: a team's roles scoped to other
 * projects would bring in those projects.  Referred-to documents come
 * without what they own, but for owned documents that refer to nothing
 * outside the closure. */
static int compute_closure(struct exporter *x)
{
	struct closure c = {x, NULL, 0, 0, om_idmap_new(), 0};
	const struct om_export_opts *o = x->o;
	char sql[512];
	int rc = -1;

	if (!(x->include = om_idmap_new())) {
		om_err_set(x->err, "out of memory");
		return -1;
	}
	for (int g = 0; g < 2; g++) {
		const char *const *names = g ? o->project_groups : o->projects;
		for (; names && *names; names++) {
			const char *params[2] = {*names, x->space_id};
			PGresult *r = PQexecParams(x->conn, g
				? "SELECT p.id FROM projects p JOIN projectgroups g ON g.id = p.project_group_id"
				  " WHERE g.name = $1 AND ($2::text IS NULL OR g.space_id = $2)"
				: "SELECT id FROM projects WHERE name = $1 AND ($2::text IS NULL OR space_id = $2)",
				2, NULL, params, NULL, NULL, 0);
			int nt = PQresultStatus(r) == PGRES_TUPLES_OK ? PQntuples(r) : -1;
			if (nt < 0) {
				om_store_error(x->err, x->conn, "cannot read the store");
				PQclear(r);
				goto out;
			}
			if (!g && nt > 1) {
				om_err_set(x->err, "there are projects named '%s' in %d spaces: give --space",
					   *names, nt);
				PQclear(r);
				goto out;
			}
			if (!g && nt == 0) {
				om_err_set(x->err, "no project named '%s'", *names);
				PQclear(r);
				goto out;
			}
			if (g) {
				PGresult *gr;
				gr = PQexecParams(x->conn, "SELECT 1 FROM projectgroups WHERE name = $1"
					" AND ($2::text IS NULL OR space_id = $2)", 2, NULL, params,
					NULL, NULL, 0);
				int found = PQresultStatus(gr) == PGRES_TUPLES_OK && PQntuples(gr) > 0;
				PQclear(gr);
				if (!found) {
					om_err_set(x->err, "no project group named '%s'", *names);
					PQclear(r);
					goto out;
				}
			}
			for (int i = 0; i < nt; i++)
				if (seed_project(r, i, &c) < 0) {
					PQclear(r);
					goto out;
				}
			PQclear(r);
		}
	}
	for (size_t i = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		if (!k->owner || (k->history && (o->ignore & (1u << k->history))))
			continue;
		snprintf(sql, sizeof sql, "SELECT id, doc->>'%s' FROM %s", k->owner, k->table);
		if (om_store_each_row(x->conn, sql, add_owned, &c, x->err) < 0)
			goto out;
	}
	for (size_t i = 0; i < c.n; i++)
		if (om_idmap_put(c.own, c.queue[i], NULL, NULL) < 0) {
			om_err_set(x->err, "out of memory");
			goto out;
		}
	/* Follow the references of everything in the queue. */
	while (c.n) {
		char *id = c.queue[--c.n];
		const struct om_kind *k = om_kind_of_id(id);
		const char *params[1] = {id};
		PGresult *r;
		int ok = 1;
		if (!k) {
			free(id);
			continue;
		}
		c.following_own = om_idmap_get(c.own, id) != NULL;
		snprintf(sql, sizeof sql, "SELECT doc::text, doc->>'SpaceId' FROM %s WHERE id = $1",
			 k->table);
		r = PQexecParams(x->conn, sql, 1, NULL, params, NULL, NULL, 0);
		free(id);
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			om_store_error(x->err, x->conn, "cannot read the store");
			PQclear(r);
			goto out;
		}
		if (PQntuples(r) == 1) {
			json_t *doc = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
			ok = doc && om_refs_each(k, doc, closure_ref, &c, x->err) == 0;
			if (ok && !PQgetisnull(r, 0, 1))
				ok = closure_add(&c, PQgetvalue(r, 0, 1)) == 0;
			json_decref(doc);
		}
		PQclear(r);
		if (!ok)
			goto out;
	}
	/* Documents owned by what came in through references, when they refer
	 * to nothing outside: a task's artifacts, a tenant's values for the
	 * exported projects. */
	for (size_t i = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		if (!k->owner || (k->history && (o->ignore & (1u << k->history))))
			continue;
		snprintf(sql, sizeof sql, "SELECT id, doc->>'%s', doc::text FROM %s", k->owner,
			 k->table);
		if (om_store_each_row(x->conn, sql, add_owned_closed, &c, x->err) < 0)
			goto out;
	}
	rc = 0;
out:
	while (c.n)
		free(c.queue[--c.n]);
	free(c.queue);
	om_idmap_free(c.own);
	return rc;
}

/* ---- the readers ---- */

/* Is kind k read at all? */
static int in_scope(const struct exporter *x, const struct om_kind *k)
{
	if (k->history && (x->o->ignore & (1u << k->history)))
		return 0;
	/* A space export keeps one server-level kind, the space itself. */
	return !(x->space_id && !x->include && k->scope == OM_SERVER &&
		 strcmp(k->name, "Space") != 0);
}

/* The largest first; for equal sizes, the model's order and the table's. */
static int cmp_unit(const void *a, const void *b)
{
	const struct unit *u = a, *v = b;

	if (u->size != v->size)
		return u->size > v->size ? -1 : 1;
	if (u->kind != v->kind)
		return u->kind < v->kind ? -1 : 1;
	return (u->from > v->from) - (u->from < v->from);
}

/* Blocks below which a table is not cut. */
#define MIN_PIECE_BLOCKS 8

/*
 * Cut the reading into units (struct unit) in x->sh: one per table in
 * scope, and with several readers each table bigger than a (2 * jobs)th of
 * all of them cut into pieces of consecutive blocks (TID range scans, from
 * PostgreSQL 14), so that the readers, taking the largest first, finish at
 * about the same time; one reader reads in the model's order.  Sizes are the tables' now, not the snapshot's: they
 * only weigh the work, and the last piece of a table runs to its end
 * whatever it holds.  The tables are locked (ACCESS SHARE, as pg_dump does)
 * so that none is truncated or rewritten before it has been read.
 */
static int plan_units(struct exporter *x, int jobs)
{
	struct shared *sh = x->sh;
	size_t n = 0, cap = 64, an = 0, ln = 0, bufcap = om_nkinds * 64 + 64;
	char *arr = malloc(bufcap), *lock = malloc(bufcap);
	long long total = 0;
	PGresult *r = NULL;
	int rc = -1, ranges = jobs > 1 && PQserverVersion(x->conn) >= 140000;

	if (!arr || !lock || !(sh->units = malloc(cap * sizeof *sh->units))) {
		om_err_set(x->err, "out of memory");
		goto out;
	}
	sql_put(arr, bufcap, &an, "{");
	sql_put(lock, bufcap, &ln, "LOCK TABLE ");
	for (size_t i = 0; i < om_nkinds; i++) {
		if (!in_scope(x, &om_kinds[i]))
			continue;
		sql_put(arr, bufcap, &an, "%s%s", n ? "," : "", om_kinds[i].table);
		sql_put(lock, bufcap, &ln, "%s%s", n ? ", " : "", om_kinds[i].table);
		n++;
	}
	sql_put(arr, bufcap, &an, "}");
	sql_put(lock, bufcap, &ln, " IN ACCESS SHARE MODE");
	if (n == 0) {
		rc = 0;
		goto out;
	}
	if (om_store_exec(x->conn, lock, "cannot lock the tables", x->err) < 0)
		goto out;
	const char *params[1] = {arr};
	r = PQexecParams(x->conn, "SELECT pg_table_size(t::regclass), "
			 "pg_relation_size(t::regclass) / current_setting('block_size')::bigint "
			 "FROM unnest($1::text[]) WITH ORDINALITY AS u(t, i) ORDER BY i",
			 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || (size_t)PQntuples(r) != n) {
		om_store_error(x->err, x->conn, "cannot read the sizes of the tables");
		goto out;
	}
	for (int row = 0; row < (int)n; row++)
		total += atoll(PQgetvalue(r, row, 0));
	for (size_t i = 0, row = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		if (!in_scope(x, k))
			continue;
		long long size = atoll(PQgetvalue(r, (int)row, 0));
		long blocks = atol(PQgetvalue(r, (int)row, 1)), pieces = 1;
		row++;
		if (ranges && total > 0) {
			pieces = (long)((size * 2 * jobs + total - 1) / total);
			if (pieces > blocks / MIN_PIECE_BLOCKS)
				pieces = blocks / MIN_PIECE_BLOCKS;
			if (pieces < 1)
				pieces = 1;
		}
		for (long p = 0; p < pieces; p++) {
			if (sh->nunits == cap) {
				struct unit *more = realloc(sh->units, 2 * cap * sizeof *more);
				if (!more) {
					om_err_set(x->err, "out of memory");
					goto out;
				}
				sh->units = more;
				cap *= 2;
			}
			sh->units[sh->nunits++] = (struct unit){
				k, p * blocks / pieces, p + 1 < pieces ? (p + 1) * blocks / pieces : -1,
				size / pieces};
		}
	}
	/* One reader keeps the model's order, which its progress shows. */
	if (jobs > 1)
		qsort(sh->units, sh->nunits, sizeof *sh->units, cmp_unit);
	rc = 0;
out:
	PQclear(r);
	free(arr);
	free(lock);
	return rc;
}

/* Record the failure of reader x, when it is the first, and stop the
 * others. */
static void reader_failed(struct exporter *x)
{
	pthread_mutex_lock(&x->sh->mu);
	if (!atomic_load(&x->sh->failed)) {
		x->sh->err = *x->err;
		atomic_store(&x->sh->failed, 1);
	}
	pthread_mutex_unlock(&x->sh->mu);
}

/* Read units until none is left or a reader failed; a failure goes to
 * x->sh. */
static void read_units(struct exporter *x)
{
	char sql[4096];

	for (;;) {
		const struct unit *u = NULL;
		pthread_mutex_lock(&x->sh->mu);
		if (!atomic_load(&x->sh->failed) && x->sh->next < x->sh->nunits)
			u = &x->sh->units[x->sh->next++];
		pthread_mutex_unlock(&x->sh->mu);
		if (!u)
			return;
		x->kind = u->kind;
		if (build_query(x, u, sql, sizeof sql) < 0 ||
		    om_store_stream_rows(x->conn, sql, export_row, x, x->err) < 0) {
			reader_failed(x);
			return;
		}
	}
}

static void *reader_thread(void *arg)
{
	read_units(arg);
	return NULL;
}

/* Reader i of jobs (from 2): a copy of the first reader x with a
 * connection of its own in the snapshot x exported, and its own
 * canonicaliser and buffers.  Errors go to x->err. */
static int reader_open(struct exporter *r, const struct exporter *x, const char *snapshot, int i,
		       int jobs)
{
	char sql[256];

	*r = *x;
	r->err = &r->errbuf;
	r->conn = NULL;
	r->canon = NULL;
	r->out = r->path = r->fpath = r->raw = (struct om_buf){0};
	r->hits = NULL;
	r->nhits = r->caphits = 0;
	r->nrecords = 0;
	memset(r->counts, 0, sizeof r->counts);
	if (!(r->conn = om_store_connect_again(x->conn, x->err)) ||
	    !(r->canon = om_canon_new(x->err))) {
		om_err_prefix(x->err, "reader %d of %d", i, jobs);
		return -1;
	}
	/* The identifier is the server's: hex digits and dashes. */
	snprintf(sql, sizeof sql, "SET TRANSACTION SNAPSHOT '%s'", snapshot);
	if (om_store_exec(r->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			  "cannot begin", x->err) < 0 ||
	    om_store_exec(r->conn, sql, "cannot share the snapshot", x->err) < 0) {
		om_err_prefix(x->err, "reader %d of %d", i, jobs);
		return -1;
	}
	return 0;
}

/* Free what reader x holds of its own (not its connection). */
static void reader_release(struct exporter *x)
{
	om_canon_free(x->canon);
	om_buf_release(&x->out);
	om_buf_release(&x->path);
	om_buf_release(&x->fpath);
	om_buf_release(&x->raw);
	forget_secrets(x);
	free(x->hits);
}

int om_export(PGconn *conn, const struct om_export_opts *o, struct om_bundle_writer *w,
	      struct om_err *err)
{
	struct shared sh = {0};
	struct exporter x = {0}, *rd = NULL;
	unsigned char loaded[64] = {0}, loaded_inner[64] = {0};
	int jobs = o->jobs ? o->jobs : 1, nrd = 0, started = 0;
	pthread_t *th = NULL;
	char *snapshot = NULL;
	int rc = -1, ck;

	x.conn = conn;
	x.o = o;
	x.err = err;
	x.sh = &sh;
	if (jobs < 1 || jobs > OM_EXPORT_MAX_JOBS) {
		om_err_set(err, "%d readers: give 1 to %d", jobs, OM_EXPORT_MAX_JOBS);
		return -1;
	}
	if (jobs > 1 && !PQisthreadsafe()) {
		om_err_set(err, "%d readers: this libpq is not thread-safe", jobs);
		return -1;
	}
	if (om_nkinds > sizeof x.counts / sizeof *x.counts) {
		om_err_set(err, "model: too many kinds");
		return -1;
	}
	if (pthread_mutex_init(&sh.mu, NULL) != 0) {
		om_err_set(err, "cannot make a mutex");
		return -1;
	}
	if (!(x.canon = om_canon_new(err)))
		goto out;
	if (!(x.names = om_idmap_new()) || !(x.collide = om_idmap_new())) {
		om_err_set(err, "out of memory");
		goto out;
	}
	if (!(sh.sorter = om_sorter_new(o->tmpdir, o->mem_limit, err)))
		goto out;
	/* Documents with their secrets in the clear must not reach the disk
	 * through the sort's temporary files. */
	if (o->secrets == OM_SECRETS_CLEAR && om_sorter_encrypt(sh.sorter, err) < 0)
		goto out;
	/* One snapshot for everything read. */
	if (om_store_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
			  "cannot begin", err) < 0)
		goto out;
	if (om_store_open(conn, err) < 0)
		goto rollback;
	if ((ck = om_store_check_key(conn, o->key, err)) != 0) {
		if (ck > 0)
			om_err_set(err, "the master key is not this server's");
		goto rollback;
	}
	if (load_collisions(&x) < 0)
		goto rollback;
	if (o->space) {
		const char *params[1] = {o->space};
		PGresult *r = PQexecParams(conn, "SELECT id FROM spaces WHERE name = $1", 1, NULL,
					   params, NULL, NULL, 0);
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
			om_err_set(err, "no space named '%s'", o->space);
			PQclear(r);
			goto rollback;
		}
		x.space_id = strdup(PQgetvalue(r, 0, 0));
		PQclear(r);
		if (!x.space_id) {
			om_err_set(err, "out of memory");
			goto rollback;
		}
	}
	if ((o->projects || o->project_groups) && compute_closure(&x) < 0)
		goto rollback;
	/* Every name that a path needs, before the readers start: from then on
	 * they share the maps and only read them. */
	for (size_t i = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		if (in_scope(&x, k) &&
		    (load_pattern_names(&x, k, k->path, loaded, loaded_inner) < 0 ||
		     load_pattern_names(&x, k, k->dir, loaded, loaded_inner) < 0))
			goto rollback;
	}
	if (plan_units(&x, jobs) < 0)
		goto rollback;
	/* No more readers than units. */
	if ((size_t)jobs > sh.nunits)
		jobs = sh.nunits > 0 ? (int)sh.nunits : 1;
	if (jobs > 1) {
		PGresult *r = PQexec(conn, "SELECT pg_export_snapshot()");
		if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
		    !(snapshot = strdup(PQgetvalue(r, 0, 0)))) {
			om_store_error(err, conn, "cannot export the snapshot");
			PQclear(r);
			goto rollback;
		}
		PQclear(r);
		if (!(rd = calloc((size_t)jobs - 1, sizeof *rd)) ||
		    !(th = calloc((size_t)jobs - 1, sizeof *th))) {
			om_err_set(err, "out of memory");
			goto rollback;
		}
		for (; nrd < jobs - 1; nrd++)
			if (reader_open(&rd[nrd], &x, snapshot, nrd + 2, jobs) < 0) {
				nrd++; /* released below */
				goto rollback;
			}
		for (; started < jobs - 1; started++)
			if (pthread_create(&th[started], NULL, reader_thread, &rd[started]) != 0) {
				om_err_set(err, "cannot start a reader thread");
				reader_failed(&x);
				break;
			}
	}
	read_units(&x);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (atomic_load(&sh.failed)) {
		*err = sh.err;
		goto rollback;
	}
	for (int i = 0; i < nrd; i++) {
		for (size_t k = 0; k < om_nkinds; k++)
			x.counts[k] += rd[i].counts[k];
		x.nrecords += rd[i].nrecords;
	}
	if (add_store_manifest(&x) < 0)
		goto rollback;
	om_store_exec(conn, "COMMIT", "cannot end the snapshot", err);
	if (om_sorter_finish(sh.sorter, err) < 0 || write_sorted(&x, w) < 0)
		goto out;
	rc = 0;
	goto out;
rollback:
	PQclear(PQexec(conn, "ROLLBACK"));
out:
	for (int i = 0; i < nrd; i++) {
		PQfinish(rd[i].conn);
		reader_release(&rd[i]);
	}
	free(rd);
	free(th);
	free(snapshot);
	om_sorter_free(sh.sorter);
	free(sh.units);
	pthread_mutex_destroy(&sh.mu);
	om_idmap_free(x.names);
	om_idmap_free(x.collide);
	om_idmap_free(x.include);
	reader_release(&x);
	free(x.space_id);
	return rc;
}

/* ---- documents held in memory ---- */

/* The key that tells documents whose names collide but for case apart
 * (load_collisions() does the same in SQL): the kind, the space, the
 * identity members before the name, and the name in ASCII lowercase.
 * NULL when the kind's paths do not name it by a plain member. */
static char *collide_key(const struct om_kind *k, json_t *doc)
{
	const char *nm = name_member(k), *v;
	struct om_buf b = {0};
	struct om_err e;
	char sep = '\x1f';

	if (member_ref(k, nm, strlen(nm)) ||
	    !(names_component(k->path, nm) || (k->dir && names_component(k->dir, nm))))
		return NULL;
	if (!(v = json_string_value(json_object_get(doc, nm))))
		return NULL;
	om_buf_append(&b, k->name, strlen(k->name), &e);
	for (size_t j = 0; j < 5 && k->identity[j] && k->identity[j] != nm; j++) {
		const char *iv = json_string_value(json_object_get(doc, k->identity[j]));
		om_buf_append(&b, &sep, 1, &e);
		om_buf_append(&b, iv ? iv : "", iv ? strlen(iv) : 0, &e);
	}
	if (k->scope != OM_SERVER) {
		const char *sp = json_string_value(json_object_get(doc, "SpaceId"));
		om_buf_append(&b, &sep, 1, &e);
		om_buf_append(&b, sp ? sp : "", sp ? strlen(sp) : 0, &e);
	}
	om_buf_append(&b, &sep, 1, &e);
	for (; *v; v++) {
		char c = *v >= 'A' && *v <= 'Z' ? (char)(*v - 'A' + 'a') : *v;
		om_buf_append(&b, &c, 1, &e);
	}
	if (om_buf_append(&b, "", 1, &e) < 0) {
		free(b.p);
		return NULL;
	}
	return b.p;
}

/* Names for paths from one document, as load_pattern_names() loads them
 * from the store: its own name, and the names of the elements that inner
 * references of other kinds name in it. */
static int note_names(struct exporter *x, const struct om_kind *k, const char *id, json_t *doc)
{
	const char *name = json_string_value(json_object_get(doc, name_member(k)));

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
			if (r->form != OM_REF_INNER || !held)
				continue;
			struct name_load l = {x, r};
			if (om_path_walk(doc, r->inner, load_inner_elem, &l, x->err) < 0)
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
		    !(id = json_string_value(json_object_get(parsed[i], "Id"))) ||
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
		const char *id = json_string_value(json_object_get(doc, "Id"));
		const char *up = k->owner ? json_string_value(json_object_get(doc, k->owner))
			       : k->scope != OM_SERVER ? json_string_value(json_object_get(doc, "SpaceId"))
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
		if (pd && pd->name && om_buf_append(&x.path, pd->name, strlen(pd->name), err) < 0)
			goto out;
		size_t parentlen = x.path.len;
		if (k->dir && expand(&self, k->dir, &x.path) < 0)
			goto out;
		if (om_buf_append(&x.path, "", 1, err) < 0)
			goto out;
		if (om_idmap_put_name(dirs, id, x.path.p) < 0) {
			om_err_set(err, "out of memory");
			goto out;
		}
		x.path.len--;
		if (expand(&self, k->path, &x.path) < 0 || om_buf_append(&x.path, "", 1, err) < 0 ||
		    emit_doc(&x, parentlen) < 0)
			goto out;
	}
	if (add_manifest(&x, server_version, OM_STORE_FORMAT) < 0 ||
	    om_sorter_finish(sh.sorter, err) < 0 || write_sorted(&x, w) < 0)
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
	reader_release(&x);
	return rc;
}
