#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "idmap.h"
#include "model.h"
#include "seal.h"

void om_store_error(struct om_err *err, PGconn *conn, const char *what)
{
	char msg[512];
	size_t n = 0;

	/* Each line break or tab with the blanks around it (libpq indents a
	 * continuation line with a tab) becomes one space. */
	for (const char *m = PQerrorMessage(conn); *m && n < sizeof msg - 1; m++) {
		if (!strchr("\n\r\t", *m)) {
			msg[n++] = *m;
			continue;
		}
		while (n && msg[n - 1] == ' ')
			n--;
		while (m[1] && strchr("\n\r\t ", m[1]))
			m++;
		if (n)
			msg[n++] = ' ';
	}
	while (n && msg[n - 1] == ' ')
		n--;
	msg[n] = 0;
	om_err_set(err, "%s: %s", what, n ? msg : "unknown database error");
}

/* Notices and warnings of the server are dropped: libpq's default prints
 * them on standard error ("WARNING:  terminating connection ..." when the
 * server stops), where om prints only its own one-line messages. */
static void quiet_notice(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int om_store_exec(PGconn *conn, const char *sql, const char *what, struct om_err *err)
{
	PGresult *r = PQexec(conn, sql);
	int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;

	if (!ok)
		om_store_error(err, conn, what);
	PQclear(r);
	return ok ? 0 : -1;
}

/* The session set-up of every connection; conn is freed on failure. */
static PGconn *session_setup(PGconn *conn, struct om_err *err)
{
	if (!conn) {
		om_err_set(err, "out of memory");
		return NULL;
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		om_store_error(err, conn, "cannot connect to the database");
		PQfinish(conn);
		return NULL;
	}
	/* (A NULL processor would change nothing.) */
	PQsetNoticeProcessor(conn, quiet_notice, NULL);
	if (om_store_exec(conn, "SET client_min_messages = warning; SET client_encoding = 'UTF8'",
		    "cannot set up the session", err) < 0) {
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

PGconn *om_store_connect(const char *conninfo, struct om_err *err)
{
	return session_setup(PQconnectdb(conninfo ? conninfo : ""), err);
}

PGconn *om_store_connect_again(PGconn *conn, struct om_err *err)
{
	PQconninfoOption *opts = PQconninfo(conn);
	const char **kw = NULL, **val = NULL;
	const char *hostaddr = PQhostaddr(conn);
	size_t n = 0, i = 0;
	PGconn *c;

	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		n++;
	if (!opts || !(kw = calloc(n + 1, sizeof *kw)) || !(val = calloc(n + 1, sizeof *val))) {
		PQconninfoFree(opts);
		free(kw);
		om_err_set(err, "out of memory");
		return NULL;
	}
	/* The options the connection was made with, but the server it reached
	 * rather than a list of them, so that every connection meets the same
	 * server. */
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = o->val;
		if (strcmp(o->keyword, "host") == 0)
			v = PQhost(conn);
		else if (strcmp(o->keyword, "port") == 0)
			v = PQport(conn);
		else if (strcmp(o->keyword, "hostaddr") == 0 && v && *v)
			v = hostaddr && *hostaddr ? hostaddr : v;
		if (!v || !*v)
			continue;
		kw[i] = o->keyword;
		val[i++] = v;
	}
	c = PQconnectdbParams(kw, val, 0);
	PQconninfoFree(opts);
	free(kw);
	free(val);
	return session_setup(c, err);
}

int om_store_format(PGconn *conn, struct om_err *err)
{
	PGresult *r = PQexec(conn,
		"SELECT store_format FROM server WHERE "
		"to_regclass('server') IS NOT NULL");
	int format = -1;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		/* The query fails before to_regclass when the table is missing. */
		om_err_set(err, "database '%s' is not an om store (no server table)", PQdb(conn));
	} else if (PQntuples(r) != 1 || PQgetisnull(r, 0, 0)) {
		om_err_set(err, "database '%s' is not an om store (no server row)", PQdb(conn));
	} else if ((format = atoi(PQgetvalue(r, 0, 0))) < 1) {
		om_err_set(err, "database '%s' has store format '%s', which no om knows",
			   PQdb(conn), PQgetvalue(r, 0, 0));
		format = -1;
	}
	PQclear(r);
	return format;
}

int om_store_open(PGconn *conn, struct om_err *err)
{
	int format = om_store_format(conn, err);

	if (format < 0)
		return -1;
	if (format < OM_STORE_FORMAT) {
		om_err_set(err, "database '%s' has store format %d, this om reads format %d: "
			   "run 'om-store upgrade' on it first", PQdb(conn), format,
			   OM_STORE_FORMAT);
		return -1;
	}
	if (format > OM_STORE_FORMAT) {
		om_err_set(err, "database '%s' has store format %d, this om reads format %d: "
			   "use an om that reads format %d", PQdb(conn), format,
			   OM_STORE_FORMAT, format);
		return -1;
	}
	return 0;
}

int om_store_lock(PGconn *conn, struct om_err *err)
{
	PGresult *r = PQexec(conn, "SELECT pg_try_advisory_xact_lock(" OM_STORE_LOCK ")");
	int rc;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		om_store_error(err, conn, "cannot lock the store");
		rc = -1;
	} else if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		om_err_set(err, "database '%s' is busy: an om-import, om-store rekey or "
			   "om-store upgrade is writing it", PQdb(conn));
		rc = 1;
	} else {
		rc = 0;
	}
	PQclear(r);
	return rc;
}

int om_store_create(PGconn *conn, const struct om_key *key, struct om_err *err)
{
	PGresult *r = PQexec(conn, "SELECT count(*) FROM pg_class c JOIN pg_namespace n "
				   "ON n.oid = c.relnamespace WHERE n.nspname = 'public'");
	int empty = PQresultStatus(r) == PGRES_TUPLES_OK && strcmp(PQgetvalue(r, 0, 0), "0") == 0;

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		om_store_error(err, conn, "cannot look at the database");
		PQclear(r);
		return -1;
	}
	PQclear(r);
	if (!empty) {
		om_err_set(err, "database '%s' is not empty", PQdb(conn));
		return -1;
	}
	if (om_store_exec(conn, "BEGIN", "cannot begin", err) < 0)
		return -1;
	if (om_store_exec(conn, om_store_sql, "cannot create the store", err) < 0 ||
	    om_store_set_key(conn, key, err) < 0 ||
	    om_store_exec(conn, "COMMIT", "cannot commit the new store", err) < 0) {
		PQclear(PQexec(conn, "ROLLBACK"));
		return -1;
	}
	return 0;
}

int om_store_set_key(PGconn *conn, const struct om_key *key, struct om_err *err)
{
	char check[OM_KEY_CHECK_SIZE];
	const char *params[1] = {check};
	PGresult *r;
	int rc = 0;

	om_key_check(key, check);
	r = PQexecParams(conn, "UPDATE server SET master_key_check = $1", 1, NULL, params,
			 NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		om_store_error(err, conn, "cannot record the master key");
		rc = -1;
	}
	PQclear(r);
	return rc;
}

int om_store_check_key(PGconn *conn, const struct om_key *key, struct om_err *err)
{
	char check[OM_KEY_CHECK_SIZE];
	PGresult *r = PQexec(conn, "SELECT master_key_check FROM server");
	int rc;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		om_store_error(err, conn, "cannot read the server row");
		PQclear(r);
		return -1;
	}
	om_key_check(key, check);
	if (PQgetisnull(r, 0, 0)) {
		om_err_set(err, "the store has no master key recorded (run om-store init)");
		rc = -1;
	} else if (strcmp(PQgetvalue(r, 0, 0), check) != 0) {
		om_err_set(err, "the master key is not this server's");
		rc = 1;
	} else {
		rc = 0;
	}
	PQclear(r);
	return rc;
}

/* ---- verification ---- */

#define FETCH_ROWS 1000
#define CACHE_DOCS 16

struct verify {
	PGconn *conn;
	const struct om_key *key;
	const char *home;
	om_problem_fn *fn;
	void *ctx;
	struct om_err *err;
	struct om_idmap *ids;
	long problems;
	struct om_verify_counts counts;
	/* A few documents fetched for inner references, round robin. */
	struct {
		char *id;
		json_t *doc;
	} cache[CACHE_DOCS];
	unsigned next;
	/* The document being checked. */
	const struct om_kind *kind;
	const char *id, *space, *label;
};

static void problem(struct verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void problem(struct verify *v, const char *fmt, ...)
{
	char msg[900], line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(line, sizeof line, "%s %s: %s", v->kind->name, v->label, msg);
	v->fn(line, v->ctx);
	v->problems++;
}

/* Run fn on every row of a query, a cursor batch at a time, so that fn may
 * issue queries of its own between batches. Inside the caller's transaction. */


int om_store_each_row(PGconn *conn, const char *sql, om_row_fn *fn, void *ctx, struct om_err *err)
{
	char *decl;
	size_t n = strlen(sql) + 64;
	int rc = 0;

	if (!(decl = malloc(n))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	snprintf(decl, n, "DECLARE om_rows NO SCROLL CURSOR FOR %s", sql);
	if (om_store_exec(conn, decl, "cannot read the store", err) < 0) {
		free(decl);
		return -1;
	}
	free(decl);
	for (;;) {
		char fetch[64];
		snprintf(fetch, sizeof fetch, "FETCH %d FROM om_rows", FETCH_ROWS);
		PGresult *r = PQexec(conn, fetch);
		int nt;
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			om_store_error(err, conn, "cannot read the store");
			PQclear(r);
			return -1;
		}
		nt = PQntuples(r);
		for (int i = 0; i < nt && rc == 0; i++)
			rc = fn(r, i, ctx);
		PQclear(r);
		if (rc || nt < FETCH_ROWS)
			break;
	}
	if (om_store_exec(conn, "CLOSE om_rows", "cannot read the store", err) < 0)
		return -1;
	return rc;
}

/* ---- rows fetched ahead ---- */

/* Batches waiting for the consumer, beside the one it works on and the one
 * being fetched. */
#define QUEUE_BATCHES 2

struct fetcher {
	PGconn *conn;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	PGresult *q[QUEUE_BATCHES];
	size_t head, n;
	int done;   /* the producer has pushed its last batch */
	int stop;   /* the consumer wants no more */
	int failed; /* the producer met an error (in err) */
	struct om_err err;
};

static void *fetch_ahead(void *arg)
{
	struct fetcher *f = arg;
	char fetch[64];

	snprintf(fetch, sizeof fetch, "FETCH %d FROM om_rows", FETCH_ROWS);
	for (;;) {
		pthread_mutex_lock(&f->mu);
		while (f->n == QUEUE_BATCHES && !f->stop)
			pthread_cond_wait(&f->cv, &f->mu);
		int stop = f->stop;
		pthread_mutex_unlock(&f->mu);
		if (stop)
			break;
		PGresult *r = PQexec(f->conn, fetch);
		int last = 1;
		if (PQresultStatus(r) != PGRES_TUPLES_OK) {
			om_store_error(&f->err, f->conn, "cannot read the store");
			PQclear(r);
			r = NULL;
			f->failed = 1;
		} else if (PQntuples(r) == 0) {
			PQclear(r);
			r = NULL;
		} else {
			last = PQntuples(r) < FETCH_ROWS;
		}
		pthread_mutex_lock(&f->mu);
		if (r)
			f->q[(f->head + f->n++) % QUEUE_BATCHES] = r;
		f->done = last;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		if (last)
			return NULL;
	}
	pthread_mutex_lock(&f->mu);
	f->done = 1;
	pthread_cond_broadcast(&f->cv);
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int om_store_stream_rows(PGconn *conn, const char *sql, om_row_fn *fn, void *ctx,
			 struct om_err *err)
{
	struct fetcher f = {.conn = conn};
	pthread_t t;
	size_t n = strlen(sql) + 64;
	char *decl;
	int rc = 0;

	if (!(decl = malloc(n))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	snprintf(decl, n, "DECLARE om_rows NO SCROLL CURSOR FOR %s", sql);
	rc = om_store_exec(conn, decl, "cannot read the store", err);
	free(decl);
	if (rc < 0)
		return -1;
	pthread_mutex_init(&f.mu, NULL);
	pthread_cond_init(&f.cv, NULL);
	if (pthread_create(&t, NULL, fetch_ahead, &f) != 0) {
		pthread_cond_destroy(&f.cv);
		pthread_mutex_destroy(&f.mu);
		om_err_set(err, "cannot start a thread");
		return -1;
	}
	for (;;) {
		PGresult *r;
		pthread_mutex_lock(&f.mu);
		while (f.n == 0 && !f.done)
			pthread_cond_wait(&f.cv, &f.mu);
		if (f.n == 0) {
			pthread_mutex_unlock(&f.mu);
			break;
		}
		r = f.q[f.head];
		f.head = (f.head + 1) % QUEUE_BATCHES;
		f.n--;
		pthread_cond_broadcast(&f.cv);
		pthread_mutex_unlock(&f.mu);
		for (int i = 0; i < PQntuples(r) && rc == 0; i++)
			rc = fn(r, i, ctx);
		PQclear(r);
		if (rc)
			break;
	}
	pthread_mutex_lock(&f.mu);
	f.stop = 1;
	pthread_cond_broadcast(&f.cv);
	pthread_mutex_unlock(&f.mu);
	pthread_join(t, NULL);
	while (f.n) {
		PQclear(f.q[f.head]);
		f.head = (f.head + 1) % QUEUE_BATCHES;
		f.n--;
	}
	pthread_cond_destroy(&f.cv);
	pthread_mutex_destroy(&f.mu);
	if (f.failed && rc == 0) {
		*err = f.err;
		return -1;
	}
	if (!f.failed && om_store_exec(conn, "CLOSE om_rows", "cannot read the store",
				       rc < 0 ? &f.err : err) < 0 && rc == 0)
		return -1;
	return rc;
}

static int collect_id(PGresult *r, int row, void *vctx)
{
	struct verify *v = vctx;

	if (om_idmap_put(v->ids, PQgetvalue(r, row, 0), v->kind,
			 PQgetisnull(r, row, 1) ? NULL : PQgetvalue(r, row, 1)) < 0) {
		om_err_set(v->err, "out of memory");
		return -1;
	}
	return 0;
}

/* The body of the document with that Id, from the cache or the store;
 * NULL when there is none. */
static json_t *fetch_doc(struct verify *v, const char *id)
{
	const struct om_idval *iv = om_idmap_get(v->ids, id);
	char sql[128];
	const char *params[1] = {id};
	PGresult *r;
	json_t *doc = NULL;
	unsigned slot;

	if (!iv)
		return NULL;
	for (unsigned i = 0; i < CACHE_DOCS; i++)
		if (v->cache[i].id && strcmp(v->cache[i].id, id) == 0)
			return v->cache[i].doc;
	snprintf(sql, sizeof sql, "SELECT doc::text FROM %s WHERE id = $1", iv->kind->table);
	r = PQexecParams(v->conn, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
		doc = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
	PQclear(r);
	if (!doc)
		return NULL;
	slot = v->next++ % CACHE_DOCS;
	free(v->cache[slot].id);
	json_decref(v->cache[slot].doc);
	v->cache[slot].id = strdup(id);
	v->cache[slot].doc = doc;
	if (!v->cache[slot].id) {
		json_decref(doc);
		v->cache[slot].doc = NULL;
		return NULL;
	}
	return doc;
}

struct find_elem {
	const char *id;
	int found;
};

static int match_elem(const struct om_hit *hit, void *vctx)
{
	struct find_elem *f = vctx;
	const char *id = json_string_value(json_object_get(hit->value, OM_MEMBER_ID));

	if (id && strcmp(id, f->id) == 0) {
		f->found = 1;
		return 1;
	}
	return 0;
}

/* Does the document hold an element with that Id at the path? */
static int has_elem(json_t *doc, const char *path, const char *id, struct om_err *err)
{
	struct find_elem f = {id, 0};

	if (om_path_walk(doc, path, match_elem, &f, err) < 0)
		return -1;
	return f.found;
}

static int check_inner(struct verify *v, json_t *doc, const struct om_ref_hit *h)
{
	const struct om_ref *ref = h->ref;
	const char *via = ref->via, *holder = NULL;
	json_t *cur = doc;
	char field[128];
	int r;

	/* Follow the chain of reference fields to the holding document. */
	while (*via) {
		const char *gt = strchr(via, '>');
		size_t n = gt ? (size_t)(gt - via) : strlen(via);
		if (n >= sizeof field)
			n = sizeof field - 1;
		memcpy(field, via, n);
		field[n] = 0;
		holder = json_string_value(json_object_get(cur, field));
		if (!holder || !(cur = fetch_doc(v, holder))) {
			problem(v, "%s: %s: cannot reach the document holding it through %s",
				h->at->where, h->id, ref->via);
			return 0;
		}
		via += n + (gt ? 1 : 0);
	}
	if ((r = has_elem(cur, ref->inner, h->id, v->err)) < 0)
		return -1;
	if (!r)
		problem(v, "%s: %s is not the Id of an element of %s in %s", h->at->where, h->id,
			ref->inner, holder);
	return 0;
}

static int check_tag(struct verify *v, const struct om_ref_hit *h)
{
	const char *slash = strchr(h->id, '/');
	char setid[128];
	json_t *set;
	int r;

	if (!slash || (size_t)(slash - h->id) >= sizeof setid) {
		problem(v, "%s: '%s' is not a tenant tag (TagSets-N/Tags-M)", h->at->where, h->id);
		return 0;
	}
	memcpy(setid, h->id, (size_t)(slash - h->id));
	setid[slash - h->id] = 0;
	const struct om_idval *iv = om_idmap_get(v->ids, setid);
	if (!iv || !om_ref_allows(h->ref, iv->kind) || !(set = fetch_doc(v, setid))) {
		problem(v, "%s: %s: tag set %s does not exist", h->at->where, h->id, setid);
		return 0;
	}
	if ((r = has_elem(set, h->ref->inner, h->id, v->err)) < 0)
		return -1;
	if (!r)
		problem(v, "%s: tag %s does not exist in %s", h->at->where, h->id, setid);
	return 0;
}

static int check_ref(const struct om_ref_hit *h, void *vctx)
{
	struct verify *v = vctx;
	const struct om_ref *ref = h->ref;
	const struct om_idval *iv;

	if (ref->form == OM_REF_TAG)
		return check_tag(v, h);
	if (ref->form == OM_REF_INNER)
		return 0; /* checked with the whole document in check_doc */
	iv = om_idmap_get(v->ids, h->id);
	if (!iv) {
		if (!(ref->flags & OM_REF_WEAK))
			problem(v, "%s: %s does not exist", h->at->where, h->id);
		return 0;
	}
	if (!om_ref_allows(ref, iv->kind)) {
		problem(v, "%s: %s is of kind %s, not %s", h->at->where, h->id, iv->kind->name,
			ref->target);
		return 0;
	}
	/* Documents refer within their space, or to server-level ones. */
	if (iv->space && v->space && strcmp(iv->space, v->space) != 0)
		problem(v, "%s: %s is in %s, not in %s", h->at->where, h->id, iv->space, v->space);
	return 0;
}

struct inner_ctx {
	struct verify *v;
	json_t *doc;
};

static int check_inner_ref(const struct om_ref_hit *h, void *vctx)
{
	struct inner_ctx *c = vctx;

	if (h->ref->form != OM_REF_INNER)
		return 0;
	return check_inner(c->v, c->doc, h);
}

static int check_secret(const struct om_hit *hit, void *vctx)
{
	struct verify *v = vctx;
	const char *tok = json_string_value(hit->value);
	char *clear;
	size_t len;
	struct om_err e;
	int r;

	if (!om_is_sealed(tok)) {
		problem(v, "%s: secret is not sealed", hit->where);
		return 0;
	}
	v->counts.secrets++;
	if (!v->key)
		return 0;
	r = om_unseal(v->key, tok, &clear, &len, &e);
	if (r != 0)
		problem(v, "%s: %s", hit->where, e.msg);
	if (r > 0)
		v->counts.unopened++;
	om_clear_free(clear);
	return 0;
}

/*
 * A sealed token anywhere but at a secret place of the kind: the first
 * such string's location into where, 1; else 0.  secret[] holds the
 * values om_secrets_each() found.
 */
struct stray {
	json_t **secret;
	size_t n, cap;
};

static int note_secret(const struct om_hit *hit, void *vctx)
{
	struct stray *s = vctx;

	if (s->n == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 16;
		json_t **p = realloc(s->secret, cap * sizeof *p);
		if (!p)
			return -1;
		s->secret = p;
		s->cap = cap;
	}
	s->secret[s->n++] = hit->value;
	return 0;
}

static int stray_token(const struct stray *s, json_t *j, char *where, size_t size, size_t at)
{
	const char *key;
	json_t *v;
	size_t i;
	int k;

	if (json_is_string(j)) {
		if (strncmp(json_string_value(j), OM_SEALED_PREFIX, strlen(OM_SEALED_PREFIX)) != 0)
			return 0;
		for (i = 0; i < s->n; i++)
			if (s->secret[i] == j)
				return 0;
		return 1;
	}
	if (json_is_object(j)) {
		json_object_foreach(j, key, v) {
			k = snprintf(where + at, size - at, "%s%s", at ? "/" : "", key);
			if (stray_token(s, v, where, size,
					k < 0 || (size_t)k >= size - at ? size - 1 : at + (size_t)k))
				return 1;
		}
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, v) {
			k = snprintf(where + at, size - at, "[%zu]", i);
			if (stray_token(s, v, where, size,
					k < 0 || (size_t)k >= size - at ? size - 1 : at + (size_t)k))
				return 1;
		}
	}
	where[at] = 0;
	return 0;
}

/* The home file of a document, from the kind's pattern; 0 and a problem
 * when a member it needs is missing or would leave the directory. */
static int home_path(struct verify *v, json_t *doc, char *out, size_t outlen)
{
	const char *p = v->kind->file;
	size_t n = 0;

	while (*p) {
		if (*p == '{') {
			const char *e = strchr(p, '}');
			char member[64];
			const char *val;
			size_t ml = (size_t)(e - p - 1), vl;
			if (ml >= sizeof member)
				ml = sizeof member - 1;
			memcpy(member, p + 1, ml);
			member[ml] = 0;
			val = json_string_value(json_object_get(doc, member));
			if (!val || !*val || strchr(val, '/') || strcmp(val, ".") == 0 ||
			    strcmp(val, "..") == 0) {
				problem(v, "%s: cannot name a file in the home directory", member);
				return 0;
			}
			vl = strlen(val);
			if (n + vl >= outlen)
				return 0;
			memcpy(out + n, val, vl);
			n += vl;
			p = e + 1;
		} else {
			if (n + 1 >= outlen)
				return 0;
			out[n++] = *p++;
		}
	}
	out[n] = 0;
	return 1;
}

/* A home file must have the size its document records, where it records
 * one: a file cut short by a copy, or another file of the same name. */
static void check_size(struct verify *v, json_t *doc, const char *rel, const struct stat *st)
{
	const char *member = om_kind_file_size(v->kind);
	json_t *size = member ? json_object_get(doc, member) : NULL;

	if (!json_is_integer(size))
		return;
	if (json_integer_value(size) != (json_int_t)st->st_size)
		problem(v, "file %s has %lld bytes, the store says %lld (%s)", rel,
			(long long)st->st_size, (long long)json_integer_value(size), member);
}

static int check_doc(PGresult *r, int row, void *vctx)
{
	struct verify *v = vctx;
	json_error_t jerr;
	json_t *doc = json_loads(PQgetvalue(r, row, 0), 0, &jerr);
	const char *name;
	char label[300];
	int rc;

	if (!doc) {
		om_err_set(v->err, "%s: cannot parse a document: %s", v->kind->table, jerr.text);
		return -1;
	}
	v->id = json_string_value(json_object_get(doc, OM_MEMBER_ID));
	v->space = json_string_value(json_object_get(doc, OM_MEMBER_SPACE));
	name = json_string_value(json_object_get(doc, OM_MEMBER_NAME));
	if (!name)
		name = json_string_value(json_object_get(doc, OM_MEMBER_USERNAME));
	if (name)
		snprintf(label, sizeof label, "'%s' (%s)", name, v->id);
	else
		snprintf(label, sizeof label, "%s", v->id);
	v->label = label;

	if (om_kind_of_id(v->id) != v->kind)
		problem(v, "Id does not have the form %s...", v->kind->id_prefix);
	if (v->kind->scope == OM_SERVER && json_object_get(doc, OM_MEMBER_SPACE) &&
	    !json_is_null(json_object_get(doc, OM_MEMBER_SPACE)))
		problem(v, OM_MEMBER_SPACE ": a server-level document has no space");
	if (v->space) {
		const struct om_idval *sv = om_idmap_get(v->ids, v->space);
		if (!sv || sv->kind != om_space_kind())
			problem(v, OM_MEMBER_SPACE ": %s does not exist", v->space);
	}
	rc = om_refs_each(v->kind, doc, check_ref, v, v->err);
	if (rc == 0) {
		struct inner_ctx c = {v, doc};
		rc = om_refs_each(v->kind, doc, check_inner_ref, &c, v->err);
	}
	if (rc == 0)
		rc = om_secrets_each(v->kind, doc, check_secret, v, v->err);
	if (rc == 0 && strstr(PQgetvalue(r, row, 0), OM_SEALED_PREFIX)) {
		struct stray st = {0};
		char where[512] = "";
		rc = om_secrets_each(v->kind, doc, note_secret, &st, v->err);
		if (rc == 0 && stray_token(&st, doc, where, sizeof where, 0))
			problem(v, "%s: sealed token in a member that is not secret", where);
		else if (rc != 0) /* the walk's paths worked just above */
			om_err_set(v->err, "out of memory");
		free(st.secret);
	}
	if (rc == 0 && v->home && v->kind->file) {
		char rel[1024], path[4096];
		struct stat st;
		if (home_path(v, doc, rel, sizeof rel)) {
			snprintf(path, sizeof path, "%s/%s", v->home, rel);
			if (stat(path, &st) != 0)
				problem(v, "file %s is missing from the home directory", rel);
			else if (!S_ISREG(st.st_mode))
				problem(v, "file %s of the home directory is not a regular file", rel);
			else
				check_size(v, doc, rel, &st);
		}
	}
	json_decref(doc);
	return rc < 0 ? -1 : 0;
}

long om_store_verify(PGconn *conn, const struct om_key *key, const char *home,
		     om_problem_fn *fn, void *ctx, struct om_verify_counts *counts,
		     struct om_err *err)
{
	struct verify v = {0};
	char sql[256];
	long rc = -1;

	v.conn = conn;
	v.key = key;
	v.home = home;
	v.fn = fn;
	v.ctx = ctx;
	v.err = err;
	if (!(v.ids = om_idmap_new())) {
		om_err_set(err, "out of memory");
		return -1;
	}
	if (om_store_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot begin",
		    err) < 0)
		goto out;
	/* First every Id, then every document against them. */
	for (size_t i = 0; i < om_nkinds; i++) {
		v.kind = &om_kinds[i];
		snprintf(sql, sizeof sql, "SELECT id, doc->>'" OM_MEMBER_SPACE "' FROM %s", v.kind->table);
		if (om_store_each_row(conn, sql, collect_id, &v, err) < 0)
			goto rollback;
	}
	for (size_t i = 0; i < om_nkinds; i++) {
		v.kind = &om_kinds[i];
		snprintf(sql, sizeof sql, "SELECT doc::text FROM %s ORDER BY id", v.kind->table);
		if (om_store_each_row(conn, sql, check_doc, &v, err) < 0)
			goto rollback;
	}
	rc = v.problems;
	if (counts)
		*counts = v.counts;
rollback:
	PQclear(PQexec(conn, "ROLLBACK"));
out:
	for (unsigned i = 0; i < CACHE_DOCS; i++) {
		free(v.cache[i].id);
		json_decref(v.cache[i].doc);
	}
	om_idmap_free(v.ids);
	return rc;
}

/* ---- usage of the model ---- */

struct usage {
	const struct om_kind *kind;
	unsigned long *refs;    /* per reference of the kind */
	unsigned long *secrets; /* per secret path of the kind */
	struct om_err *err;
};

static int count_ref(const struct om_ref_hit *h, void *vctx)
{
	struct usage *u = vctx;

	u->refs[h->ref - u->kind->refs]++;
	return 0;
}

static int count_secret(const struct om_hit *hit, void *vctx)
{
	unsigned long *n = vctx;
	const char *s = json_string_value(hit->value);

	if (s && *s)
		++*n;
	return 0;
}

static int usage_doc(PGresult *r, int row, void *vctx)
{
	struct usage *u = vctx;
	json_t *doc = json_loads(PQgetvalue(r, row, 0), 0, NULL);
	int rc;

	if (!doc) {
		om_err_set(u->err, "%s: cannot parse a document", u->kind->table);
		return -1;
	}
	rc = om_refs_each(u->kind, doc, count_ref, u, u->err);
	for (size_t i = 0; rc == 0 && u->kind->secrets && u->kind->secrets[i]; i++)
		rc = om_path_walk(doc, u->kind->secrets[i], count_secret, &u->secrets[i], u->err);
	json_decref(doc);
	return rc < 0 ? -1 : 0;
}

int om_store_usage(PGconn *conn, om_usage_fn *fn, void *ctx, struct om_err *err)
{
	char sql[256];
	int rc = -1;

	if (om_store_exec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "cannot begin",
		    err) < 0)
		return -1;
	for (size_t i = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		size_t ns = 0;
		while (k->secrets && k->secrets[ns])
			ns++;
		struct usage u = {k, calloc(k->nrefs + 1, sizeof *u.refs),
				  calloc(ns + 1, sizeof *u.secrets), err};
		if (!u.refs || !u.secrets) {
			free(u.refs);
			free(u.secrets);
			om_err_set(err, "out of memory");
			goto out;
		}
		snprintf(sql, sizeof sql, "SELECT doc::text FROM %s", k->table);
		if (om_store_each_row(conn, sql, usage_doc, &u, err) < 0) {
			free(u.refs);
			free(u.secrets);
			goto out;
		}
		for (size_t j = 0; j < k->nrefs; j++)
			fn(k, "ref", k->refs[j].path, u.refs[j], ctx);
		for (size_t j = 0; j < ns; j++)
			fn(k, "secret", k->secrets[j], u.secrets[j], ctx);
		free(u.refs);
		free(u.secrets);
	}
	rc = 0;
out:
	PQclear(PQexec(conn, "ROLLBACK"));
	return rc;
}
