/*
 * export.c - om-export: the driver (export.h), the readers and the writing.
 *
 * om_export() reads every kind in scope with its readers (one thread and
 * connection each), puts each document in canonical form with its secrets
 * turned, its script sidecars apart (export_paths.c says where it goes),
 * sorts the records and writes the bundle and its manifest.
 */

#include <errno.h>
#include <fcntl.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "bundle.h"
#include "names.h"
#include "seal.h"

#include "export_int.h"

/* Append n bytes to a buffer. */
int exp_buf_append(struct om_buf *b, const void *p, size_t n, struct om_err *err)
{
	if (om_buf_add(b, p, n) < 0) {
		om_err_set(err, "out of memory");
		return -1;
	}
	return 0;
}

/* ---- script sidecars ---- */

#define SCRIPT_TOKEN OM_SCRIPT_PREFIX

struct elems {
	struct exporter *x;
	om_canon_node *v;
	size_t n, cap;
};

static int note_elem(const struct om_chit *hit, void *vctx)
{
	struct elems *e = vctx;

	if (om_array_grow(&e->v, &e->cap, e->n, 1, sizeof *e->v) < 0) {
		om_err_set(e->x->err, "out of memory");
		return -1;
	}
	e->v[e->n++] = hit->node;
	return 0;
}

/* Put each inline script of the document into a sidecar file
 * "scripts/<Action name><ext>" in the document's parent directory
 * (parentlen bytes of x->path, the directory of the document's entry, as
 * om-import finds them); with extract, the JSON names the file. */
static int extract_scripts(struct exporter *x, size_t parentlen)
{
	struct elems e = {x, NULL, 0, 0};
	struct om_canon *c = x->canon;
	int rc = -1;

	if (om_canon_path_walk(c, om_canon_root(c), x->kind->scripts, x->kind, note_elem, &e, x->err) < 0)
		goto out;
	for (size_t i = 0; i < e.n; i++) {
		om_canon_node props = om_canon_get(c, e.v[i], om_script.props);
		om_canon_node body = om_canon_get(c, props, om_script.body);
		om_canon_node syn = om_canon_get(c, props, om_script.syntax);
		size_t nlen, blen, slen = 0;
		const char *name = om_canon_str(c, om_canon_get(c, e.v[i], om_script.name), &nlen);
		const char *text = om_canon_str(c, body, &blen);
		const char *syntax = om_canon_str(c, syn, &slen);
		char *comp;

		if (om_canon_type(c, body) != OM_CANON_STRING || blen == 0 || !name)
			continue;
		if (!(comp = om_name_component(name, nlen, 0, x->err)))
			goto out;
		x->fpath.len = 0;
		if (exp_buf_append(&x->fpath, x->path.p, parentlen, x->err) < 0 ||
		    exp_buf_append(&x->fpath, parentlen ? "/scripts/" : "scripts/",
				  parentlen ? 9 : 8, x->err) < 0 ||
		    exp_buf_append(&x->fpath, comp, strlen(comp), x->err) < 0 ||
		    exp_buf_append(&x->fpath, om_script_ext(syntax, slen),
				  strlen(om_script_ext(syntax, slen)), x->err) < 0 ||
		    exp_buf_append(&x->fpath, "", 1, x->err) < 0) {
			free(comp);
			goto out;
		}
		free(comp);
		if (exp_add_record(x, x->fpath.p, REC_DOC, text, blen) < 0)
			goto out;
		if (x->o->scripts == OM_SCRIPTS_EXTRACT) {
			/* The token names the file relative to the document's directory. */
			const char *rel = x->fpath.p + parentlen + (parentlen > 0);
			x->raw.len = 0;
			if (exp_buf_append(&x->raw, SCRIPT_TOKEN, sizeof SCRIPT_TOKEN - 1, x->err) < 0 ||
			    exp_buf_append(&x->raw, rel, strlen(rel), x->err) < 0 ||
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

	if (om_array_grow(&x->hits, &x->caphits, x->nhits, 1, sizeof *x->hits) < 0) {
		om_err_set(x->err, "out of memory");
		return -1;
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
			snprintf(tok, sizeof tok, OM_REDACTED_PREFIX "%s", fp);
			r = om_canon_set_str(x->canon, x->hits[i].node, tok, strlen(tok), x->err);
		} else {
			size_t blen = sodium_base64_ENCODED_LEN(clen, sodium_base64_VARIANT_ORIGINAL);
			const size_t plen = OM_PREFIX_LEN(OM_CLEAR_PREFIX);
			char *b = sodium_malloc(plen + blen);
			if (!b) {
				om_clear_free(clear);
				om_err_set(x->err, "out of memory");
				return -1;
			}
			memcpy(b, OM_CLEAR_PREFIX, plen);
			sodium_bin2base64(b + plen, blen, (const unsigned char *)clear, clen,
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
		struct source s = {x, om_space_kind(), PQgetvalue(r, row, x->space_col - 1),
				   0, r, row, x->space_col, 0};
		if (exp_expand(&s, om_space_kind()->dir, &x->path) < 0)
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
			if (exp_expand(&s, l->alt[a]->dir, &x->path) < 0)
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

int exp_add_record(struct exporter *x, const char *path, char tag, const void *data,
		   size_t len)
{
	x->nrecords++;
	/* The tag goes in front of the bytes, in the one buffer. */
	x->raw.len = 0;
	if (exp_buf_append(&x->raw, &tag, 1, x->err) < 0 ||
	    exp_buf_append(&x->raw, data, len, x->err) < 0)
		return -1;
	pthread_mutex_lock(&x->sh->mu);
	int r = om_sorter_add(x->sh->sorter, path, x->raw.p, x->raw.len, x->err);
	pthread_mutex_unlock(&x->sh->mu);
	x->raw.len = 0;
	return r;
}

int exp_emit_doc(struct exporter *x, int may_hold_sealed)
{
	const struct om_kind *k = x->kind;
	const char *slash = strrchr(x->path.p, '/');
	size_t parentlen = slash ? (size_t)(slash - x->path.p) : 0;

	for (const char *const *v = k->volatiles; v && *v; v++)
		om_canon_drop(x->canon, om_canon_root(x->canon), *v);
	if (tokenize_secrets(x, x->path.p) < 0)
		return -1;
	/* Every secret place now holds a clear or redacted token; a sealed
	 * token left is in a member the model does not call secret, which
	 * would go out as the store's ciphertext, useless elsewhere and not
	 * what the manifest says the bundle holds. */
	if (may_hold_sealed) {
		char where[512];
		if (om_canon_find_prefix(x->canon, OM_SEALED_PREFIX, where, sizeof where) !=
		    OM_CANON_NONE) {
			om_err_set(x->err, "%s: %s: sealed token in a member that is not secret",
				   x->path.p, where);
			return -1;
		}
	}
	if (k->scripts && x->o->scripts != OM_SCRIPTS_INLINE && extract_scripts(x, parentlen) < 0)
		return -1;
	x->out.len = 0;
	if (om_canon_write(x->canon, &x->out, x->err) < 0)
		return -1;
	if (exp_add_record(x, x->path.p, REC_DOC, x->out.p, x->out.len) < 0)
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
	struct source self = {x, k, PQgetvalue(r, row, 1), 1, r, row, 0, 0};
	if (k->dir && exp_expand(&self, k->dir, &x->path) < 0)
		return -1;
	dirlen = x->path.len;
	if (exp_expand(&self, k->path, &x->path) < 0)
		return -1;
	if (exp_buf_append(&x->path, "", 1, x->err) < 0) /* NUL */
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
		if (exp_buf_append(&x->fpath, x->path.p, dirlen, x->err) < 0 ||
		    exp_expand(&self, k->bundle_file, &x->fpath) < 0 ||
		    exp_buf_append(&x->fpath, "", 1, x->err) < 0 ||
		    exp_add_record(x, x->fpath.p, REC_FILE, home, strlen(home)) < 0)
			return -1;
	}

	/* The store's text tells cheaply whether a sealed token is there. */
	return exp_emit_doc(x, strstr(PQgetvalue(r, row, 0), OM_SEALED_PREFIX) != NULL);
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
int exp_add_manifest(struct exporter *x, const char *server_version, long store_format)
{
	const struct om_export_opts *o = x->o;
	json_t *m = NULL, *exp = json_object(), *ign = json_array(), *files = json_array(),
	       *counts = json_object();
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
			json_object_set_new(scope, OM_MANIFEST_SPACE, json_string(o->space));
		json_object_set_new(exp, OM_MANIFEST_SCOPE, scope);
	} else {
		json_object_set_new(exp, OM_MANIFEST_SCOPE,
				    o->space ? json_pack("{ss}", OM_MANIFEST_SPACE, o->space)
					     : json_string("server"));
	}
	m = om_manifest_new(server_version, store_format, exp,
			    om_manifest_secrets(o->secrets, o->key), counts);
	exp = counts = NULL;
	x->out.len = 0;
	if (!m)
		om_err_set(x->err, "out of memory");
	if (!m || om_manifest_write(m, x->canon, &x->out, x->err) < 0 ||
	    exp_add_record(x, "manifest.json", REC_DOC, x->out.p, x->out.len) < 0)
		goto out;
	rc = 0;
out:
	json_decref(exp);
	json_decref(counts);
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
		rc = exp_add_manifest(x, PQgetvalue(r, 0, 0), atol(PQgetvalue(r, 0, 1)));
	PQclear(r);
	return rc;
}

/* ---- writing ---- */

int exp_write_sorted(struct exporter *x, struct om_bundle_writer *w)
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

/* ---- the readers ---- */

/* Is kind k read at all? */
static int in_scope(const struct exporter *x, const struct om_kind *k)
{
	if (k->history && (x->o->ignore & (1u << k->history)))
		return 0;
	/* A space export keeps one server-level kind, the space itself. */
	return !(x->space_id && !x->include && k->scope == OM_SERVER &&
		 k != om_space_kind());
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
	exp_sql_put(arr, bufcap, &an, "{");
	exp_sql_put(lock, bufcap, &ln, "LOCK TABLE ");
	for (size_t i = 0; i < om_nkinds; i++) {
		if (!in_scope(x, &om_kinds[i]))
			continue;
		exp_sql_put(arr, bufcap, &an, "%s%s", n ? "," : "", om_kinds[i].table);
		exp_sql_put(lock, bufcap, &ln, "%s%s", n ? ", " : "", om_kinds[i].table);
		n++;
	}
	exp_sql_put(arr, bufcap, &an, "}");
	exp_sql_put(lock, bufcap, &ln, " IN ACCESS SHARE MODE");
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
		if (exp_build_query(x, u, sql, sizeof sql) < 0 ||
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
void exp_reader_release(struct exporter *x)
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
	if (exp_load_collisions(&x) < 0)
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
	if ((o->projects || o->project_groups) && exp_compute_closure(&x) < 0)
		goto rollback;
	/* Every name that a path needs, before the readers start: from then on
	 * they share the maps and only read them. */
	for (size_t i = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		if (in_scope(&x, k) &&
		    (exp_load_pattern_names(&x, k, k->path, loaded, loaded_inner) < 0 ||
		     exp_load_pattern_names(&x, k, k->dir, loaded, loaded_inner) < 0))
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
	if (om_sorter_finish(sh.sorter, err) < 0 || exp_write_sorted(&x, w) < 0)
		goto out;
	rc = 0;
	goto out;
rollback:
	PQclear(PQexec(conn, "ROLLBACK"));
out:
	for (int i = 0; i < nrd; i++) {
		PQfinish(rd[i].conn);
		exp_reader_release(&rd[i]);
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
	exp_reader_release(&x);
	free(x.space_id);
	return rc;
}
