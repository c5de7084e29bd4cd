/*
 * import.c - om-import: the driver (import.h), and what every part shares.
 *
 * om_import() opens the spool, reads each bundle (import_read.c), matches
 * its documents with the target's (import_match.c), writes them kind by kind
 * (import_write.c, which rewrites references and secrets with import_refs.c
 * and merges with import_merge.c) and places the home files
 * (import_files.c), in one transaction.  Here also: the string map and
 * the messages.
 */
#include "import.h"
#include "sigs.h"

#include <errno.h>
#include <unistd.h>

#include "bundlecheck.h"

#include "import_int.h"

/* ---- a string map (open addressing, keys copied) ---- */

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static size_t smap_find(const struct smap *m, const char *key)
{
	size_t i = (size_t)hash_str(key) & (m->cap - 1);

	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

void *imp_smap_get(const struct smap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	size_t i = smap_find(m, key);
	return m->keys[i] ? m->vals[i] : NULL;
}

/* Put key (copied) -> val; an existing value is replaced and returned
 * through *old (for the caller to free), NULL else.  -1 when out of memory. */
int imp_smap_put(struct smap *m, const char *key, void *val, void **old)
{
	if (old)
		*old = NULL;
	if ((m->n + 1) * 2 > m->cap) {
		struct smap g = {NULL, NULL, m->cap ? m->cap * 2 : 64, 0};
		if (!(g.keys = calloc(g.cap, sizeof *g.keys)) ||
		    !(g.vals = calloc(g.cap, sizeof *g.vals))) {
			free(g.keys);
			return -1;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				size_t j = smap_find(&g, m->keys[i]);
				g.keys[j] = m->keys[i];
				g.vals[j] = m->vals[i];
			}
		g.n = m->n;
		free(m->keys);
		free(m->vals);
		*m = g;
	}
	size_t i = smap_find(m, key);
	if (m->keys[i]) {
		if (old)
			*old = m->vals[i];
		m->vals[i] = val;
		return 0;
	}
	if (!(m->keys[i] = strdup(key)))
		return -1;
	m->vals[i] = val;
	m->n++;
	return 0;
}

/* Free the map; free_vals: the values are malloc()ed strings. */
void imp_smap_free(struct smap *m, int free_vals)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i]) {
			free(m->keys[i]);
			if (free_vals)
				free(m->vals[i]);
		}
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

/* ---- the documents ---- */

char *imp_xstrdup(struct imp *x, const char *s)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p)
		om_err_set(x->err, "out of memory");
	return p;
}

int imp_oom(struct imp *x)
{
	om_err_set(x->err, "out of memory");
	return -1;
}

int imp_docs_of_kind(struct imp *x, const struct om_kind *k, size_t **idx, size_t *n)
{
	size_t m = 0;

	*idx = NULL;
	*n = 0;
	for (size_t i = 0; i < x->b->ndocs; i++)
		m += x->b->docs[i].kind == k;
	if (!m)
		return 0;
	if (!(*idx = malloc(m * sizeof **idx)))
		return imp_oom(x);
	for (size_t i = 0; i < x->b->ndocs; i++)
		if (x->b->docs[i].kind == k)
			(*idx)[(*n)++] = i;
	return 0;
}

void imp_progress(struct imp *x, const char *phase, const char *kind, unsigned long done,
		  unsigned long total)
{
	if (x->o->progress)
		x->o->progress(x->o->ctx, phase, kind, done, total);
}

void imp_warn(struct imp *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!x->o->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	x->o->warn(msg, x->o->ctx);
}

/* A kind's name in words: ProjectGroup -> "project group" */
void imp_kind_words(const char *name, char *out, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; name[i] && j + 2 < n; i++) {
		if (i && name[i] >= 'A' && name[i] <= 'Z')
			out[j++] = ' ';
		out[j++] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	}
	out[j] = 0;
}

/* "project 'Acme Web'" or "variable set" */
void imp_doc_words(const struct doc *d, char *out, size_t n)
{
	char k[64];

	imp_kind_words(d->kind->name, k, sizeof k);
	if (d->name)
		snprintf(out, n, "%s '%s'", k, d->name);
	else
		snprintf(out, n, "%s", k);
}

int imp_doc_err(struct imp *x, const struct doc *d, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	om_err_set(x->err, "'%s': entry '%s': %s", x->b->name, d->path, msg);
	return -1;
}

/* ---- the whole ---- */

/* One warning line per kind whose documents had history references
 * cleared: "'B': 5 events: 7 references to documents not in bundle or
 * target: cleared". */
static void report_cleared(struct imp *x)
{
	for (size_t k = 0; k < om_nkinds; k++) {
		unsigned long nd = x->cleared_docs[k], nr = x->cleared_refs[k];
		char kw[64];
		size_t n;
		if (!nr)
			continue;
		imp_kind_words(om_kinds[k].name, kw, sizeof kw - 3);
		n = strlen(kw);
		if (nd != 1 && n && kw[n - 1] == 'y')
			strcpy(kw + n - 1, "ies");
		else if (nd != 1)
			strcat(kw, "s");
		imp_warn(x, "'%s': %lu %s: %lu reference%s to %s not in bundle or target: cleared",
		     x->b->name, nd, kw, nr, nr == 1 ? "" : "s", nr == 1 ? "a document" : "documents");
		x->cleared_docs[k] = x->cleared_refs[k] = 0;
	}
}

const char *om_import_action_name(enum om_import_action a)
{
	static const char *const names[] = {"created", "overwritten", "merged", "skipped",
					    "unchanged"};
	return (unsigned)a < OM_IMPORT_NACTIONS ? names[a] : "?";
}

static void free_bundle(struct bundle *b)
{
	om_pw_key_free(b->pwkey);
	for (int s = 0; s < 3; s++)
		free(b->early[s]);
	for (size_t i = 0; i < b->ndocs; i++) {
		imp_doc_release(&b->docs[i]);
	}
	for (size_t i = 0; i < b->nfiles; i++) {
		free(b->files[i].path);
		free(b->files[i].problem);
		free(b->files[i].home_tmp);
		free(b->files[i].home_dst);
	}
	free(b->docs);
	free(b->files);
	imp_smap_free(&b->ids, 0);
	imp_smap_free(&b->sidecars, 0);
	imp_smap_free(&b->scripts, 1);
	imp_smap_free(&b->elems, 1);
}

static int open_spool(struct imp *x)
{
	char path[4096];

	if ((x->spool = om_tmpfile(x->o->tmpdir, "om-import.", path, sizeof path)) < 0) {
		om_err_set(x->err, "'%s': cannot make the spool file: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* Lock, check the server row, prepare the staging table. */
static int begin(struct imp *x, char *version, size_t vsize)
{
	PGresult *r;

	/* An answered COMMIT is on disk whatever the server's default: with
	 * synchronous_commit off a crash would lose an import reported done. */
	if (om_store_exec(x->conn, "BEGIN", "cannot begin", x->err) < 0 ||
	    om_store_exec(x->conn, "SET LOCAL synchronous_commit = on", "cannot begin",
			  x->err) < 0)
		return -1;
	r = PQexec(x->conn, "SELECT pg_try_advisory_xact_lock(" IMPORT_LOCK ")");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		imp_pg_fail(x, "cannot lock the target");
		PQclear(r);
		return -1;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		PQclear(r);
		om_err_set(x->err, "another import into database '%s' is running", PQdb(x->conn));
		return -1;
	}
	PQclear(r);
	r = PQexec(x->conn, "SELECT server_version, maintenance_mode FROM server FOR UPDATE");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		imp_pg_fail(x, "cannot read the server row");
		PQclear(r);
		return -1;
	}
	snprintf(version, vsize, "%s", PQgetvalue(r, 0, 0));
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0 && !x->o->online) {
		PQclear(r);
		om_err_set(x->err, "the server of database '%s' is not in maintenance mode "
			   "(--online to import anyway)", PQdb(x->conn));
		return -1;
	}
	PQclear(r);
	return om_store_exec(x->conn,
			     "CREATE TEMP TABLE om_import_stage (id text PRIMARY KEY, doc jsonb) "
			     "ON COMMIT DROP", "cannot prepare the import", x->err);
}

int om_import(PGconn *conn, const struct om_import_opts *o,
	      unsigned long counts[OM_IMPORT_NACTIONS], struct om_err *err)
{
	struct imp x = {0};
	struct bundle *bundles = calloc(o->nbundles ? o->nbundles : 1, sizeof *bundles);
	char version[128];
	sigset_t held;
	int rc = -1, in_tx = 0, holding = 0;

	x.conn = conn;
	x.o = o;
	x.err = err;
	x.spool = -1;
	x.counts = counts;
	memset(counts, 0, OM_IMPORT_NACTIONS * sizeof *counts);
	err->msg[0] = 0;
	x.cleared_refs = calloc(om_nkinds, sizeof *x.cleared_refs);
	x.cleared_docs = calloc(om_nkinds, sizeof *x.cleared_docs);
	if (!bundles || !x.cleared_refs || !x.cleared_docs) {
		free(bundles);
		free(x.cleared_refs);
		free(x.cleared_docs);
		return imp_oom(&x);
	}
	x.nsets = om_elemsets(x.sets, sizeof x.sets / sizeof x.sets[0]);
	if (om_store_open(conn, err) < 0)
		goto out;
	{
		int k = om_store_check_key(conn, o->key, err);
		if (k != 0) {
			if (k > 0)
				om_err_set(err, "the master key is not the one of the server of "
					   "database '%s'", PQdb(conn));
			goto out;
		}
	}
	for (const char *const *m = o->space_map; m && *m; m++)
		if (!strchr(*m, '=') || **m == '=' || !strchr(*m, '=')[1]) {
			om_err_set(err, "--space-map '%s': not FROM=TO", *m);
			goto out;
		}
	if (open_spool(&x) < 0)
		goto out;
	if (begin(&x, version, sizeof version) < 0)
		goto rollback;
	in_tx = 1;
	if (imp_load_alloc_kinds(&x) < 0)
		goto rollback;
	for (size_t i = 0; i < o->nbundles; i++) {
		bundles[i].name = o->bundles[i];
		x.b = &bundles[i];
		if (imp_read_bundle(&x, &bundles[i], version) < 0)
			goto rollback;
		for (size_t k = 0; k < om_nkinds; k++) {
			imp_progress(&x, "matching", om_kinds[k].name, k + 1, om_nkinds);
			if (imp_match_kind(&x, &om_kinds[k]) < 0)
				goto rollback;
		}
		x.written = 0;
		for (size_t k = 0; k < om_nkinds; k++)
			if (imp_write_kind(&x, &om_kinds[k]) < 0)
				goto rollback;
		report_cleared(&x);
		if (imp_claim_files(&x) < 0)
			goto rollback;
	}
	{
		unsigned i = 0;
		for (const char *const *m = o->space_map; m && *m; m++, i++)
			if (i < 64 && !(x.maps_used & (1ul << i))) {
				om_err_set(err, "--space-map '%s': no bundle has that space", *m);
				goto rollback;
			}
	}
	imp_progress(&x, o->dry_run ? "rolling back" : "committing", NULL, 0, 0);
	if (o->dry_run) {
		if (om_store_exec(conn, "ROLLBACK", "cannot roll back", err) < 0)
			goto out;
	} else {
		/* From the commit until the files are in place, SIGINT and
		 * friends wait: the files must follow the committed documents. */
		om_signals_hold(&held);
		holding = 1;
		if (om_store_exec(conn, "COMMIT", "cannot commit", err) < 0)
			goto out;
	}
	in_tx = 0;
	if (!o->dry_run)
		for (size_t i = 0; i < o->nbundles; i++)
			if (imp_place_files(&x, &bundles[i]) < 0)
				goto out;
	if (holding) {
		if (x.home_dir)
			rmdir(x.home_dir);
		imp_staged_forget();
		om_signals_release(&held);
		holding = 0;
	}
	if (o->item)
		for (size_t i = 0; i < o->nbundles; i++)
			for (size_t j = 0; j < bundles[i].ndocs; j++) {
				const struct doc *d = &bundles[i].docs[j];
				struct om_import_item it = {bundles[i].name, d->path, d->kind, d->dst_id,
							    d->action};
				o->item(&it, o->ctx);
			}
	rc = 0;
	goto out;
rollback:
	if (in_tx || PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
out:
	for (size_t i = 0; i < o->nbundles; i++) {
		imp_unstage_files(&bundles[i]);
		free_bundle(&bundles[i]);
	}
	if (x.home_dir) {
		rmdir(x.home_dir);
		free(x.home_dir);
	}
	imp_staged_forget();
	if (holding)
		om_signals_release(&held);
	free(bundles);
	free(x.cleared_refs);
	free(x.cleared_docs);
	imp_smap_free(&x.alloc_kinds, 0);
	free(x.line.p);
	om_buf_release(&x.copy);
	om_buf_release(&x.wbuf);
	om_canon_free(x.canon);
	if (x.spool >= 0)
		close(x.spool);
	return rc < 0 && x.wrong_password ? 1 : rc;
}
