#include "rekey.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "model.h"
#include "seal.h"
#include "store.h"

/* One secret's token under the old key and under the new. */
struct pair {
	char *old, *new;
};

struct rekey {
	PGconn *conn;
	const struct om_key *old, *new;
	const struct om_kind *kind;
	const char *id;
	struct om_err *err;
	/* The pairs of the document being re-sealed. */
	struct pair *p;
	size_t n, cap;
	unsigned long docs, secrets, checked;
};

static void pairs_clear(struct rekey *k)
{
	for (size_t i = 0; i < k->n; i++) {
		free(k->p[i].old);
		free(k->p[i].new);
	}
	k->n = 0;
}

static const char *token_of(struct rekey *k, const struct om_hit *hit)
{
	const char *tok = json_string_value(hit->value);

	if (!om_is_sealed(tok)) {
		om_err_set(k->err, "%s %s: %s: the secret is not sealed (om-store check names "
			   "every such secret)", k->kind->name, k->id, hit->where);
		return NULL;
	}
	return tok;
}

/* Open a secret with the old key, seal it with the new one. */
static int reseal_hit(const struct om_hit *hit, void *vctx)
{
	struct rekey *k = vctx;
	const char *tok = token_of(k, hit);
	struct om_err e;
	char *clear, *sealed;
	size_t len;
	int r;

	if (!tok)
		return -1;
	if ((r = om_unseal(k->old, tok, &clear, &len, &e)) != 0) {
		om_err_set(k->err, "%s %s: %s: %s", k->kind->name, k->id, hit->where,
			   r > 0 ? "does not open with the old master key: damaged, or sealed "
				   "under another key (om-store check names every such secret)"
				 : e.msg);
		return -1;
	}
	sealed = om_seal(k->new, clear, len, k->err);
	om_clear_free(clear);
	if (!sealed)
		return -1;
	if (k->n == k->cap) {
		size_t cap = k->cap ? 2 * k->cap : 16;
		struct pair *p = realloc(k->p, cap * sizeof *p);
		if (!p) {
			free(sealed);
			om_err_set(k->err, "out of memory");
			return -1;
		}
		k->p = p;
		k->cap = cap;
	}
	k->p[k->n].new = sealed;
	if (!(k->p[k->n].old = strdup(tok))) {
		free(sealed);
		om_err_set(k->err, "out of memory");
		return -1;
	}
	k->n++;
	return 0;
}

/* Append n bytes to out (*o used of *cap), growing it. */
static int append(char **out, size_t *o, size_t *cap, const char *s, size_t n)
{
	if (*o + n + 1 > *cap) {
		size_t c = 2 * (*o + n + 1);
		char *bigger = realloc(*out, c);
		if (!bigger)
			return -1;
		*out = bigger;
		*cap = c;
	}
	memcpy(*out + *o, s, n);
	*o += n;
	return 0;
}

/* The document's text with every token of a pair, as a whole JSON string,
 * replaced by its new token: the rest of the text, numbers included, stays
 * as the database wrote it.  Tokens hold nothing JSON escapes. */
static char *replace_tokens(struct rekey *k, const char *text)
{
	size_t cap = strlen(text) + 1, o = 0;
	char *out = malloc(cap);
	const char *s = text;
	int bad = !out;

	while (!bad && *s) {
		const char *end, *from = s, *to;
		size_t tl = 0, i = k->n;
		if (*s == '"' && om_is_sealed(s + 1) && (end = strchr(s + 1, '"'))) {
			tl = (size_t)(end - s - 1);
			for (i = 0; i < k->n; i++)
				if (strlen(k->p[i].old) == tl && memcmp(k->p[i].old, s + 1, tl) == 0)
					break;
		}
		if (i < k->n) {
			to = k->p[i].new;
			bad = append(&out, &o, &cap, "\"", 1) < 0 ||
			      append(&out, &o, &cap, to, strlen(to)) < 0 ||
			      append(&out, &o, &cap, "\"", 1) < 0;
			s += tl + 2;
			continue;
		}
		/* Up to the next quote after this character. */
		s = strchr(from + 1, '"');
		if (!s)
			s = from + strlen(from);
		bad = append(&out, &o, &cap, from, (size_t)(s - from)) < 0;
	}
	if (bad) {
		free(out);
		om_err_set(k->err, "out of memory");
		return NULL;
	}
	out[o] = 0;
	return out;
}

static json_t *parse(struct rekey *k, const char *text)
{
	json_error_t jerr;
	/* Only the secrets' strings are read: integers of any size may come
	 * as reals. */
	json_t *doc = json_loads(text, JSON_DECODE_INT_AS_REAL, &jerr);

	if (!doc)
		om_err_set(k->err, "%s %s: cannot parse the document: %s", k->kind->name, k->id,
			   jerr.text);
	return doc;
}

static int reseal_doc(PGresult *r, int row, void *vctx)
{
	struct rekey *k = vctx;
	const char *text = PQgetvalue(r, row, 1);
	char sql[128], *out = NULL;
	const char *params[2];
	json_t *doc;
	PGresult *u;
	int rc = -1;

	k->id = PQgetvalue(r, row, 0);
	if (!(doc = parse(k, text)))
		return -1;
	pairs_clear(k);
	if (om_secrets_each(k->kind, doc, reseal_hit, k, k->err) != 0)
		goto out;
	if (k->n == 0) {
		rc = 0;
		goto out;
	}
	if (!(out = replace_tokens(k, text)))
		goto out;
	snprintf(sql, sizeof sql, "UPDATE %s SET doc = $2::jsonb WHERE id = $1", k->kind->table);
	params[0] = k->id;
	params[1] = out;
	u = PQexecParams(k->conn, sql, 2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(u) != PGRES_COMMAND_OK || strcmp(PQcmdTuples(u), "1") != 0) {
		om_store_error(k->err, k->conn, "cannot write a re-sealed document");
		om_err_prefix(k->err, "%s %s", k->kind->name, k->id);
	} else {
		k->docs++;
		k->secrets += k->n;
		rc = 0;
	}
	PQclear(u);
out:
	free(out);
	json_decref(doc);
	return rc;
}

static int check_hit(const struct om_hit *hit, void *vctx)
{
	struct rekey *k = vctx;
	const char *tok = token_of(k, hit);
	struct om_err e;
	char *clear;
	size_t len;
	int r;

	if (!tok)
		return -1;
	r = om_unseal(k->new, tok, &clear, &len, &e);
	om_clear_free(clear);
	if (r != 0) {
		om_err_set(k->err, "%s %s: %s: does not open with the new master key after "
			   "re-sealing: %s", k->kind->name, k->id, hit->where, e.msg);
		return -1;
	}
	k->checked++;
	return 0;
}

static int check_doc(PGresult *r, int row, void *vctx)
{
	struct rekey *k = vctx;
	json_t *doc;
	int rc;

	k->id = PQgetvalue(r, row, 0);
	if (!(doc = parse(k, PQgetvalue(r, row, 1))))
		return -1;
	rc = om_secrets_each(k->kind, doc, check_hit, k, k->err);
	json_decref(doc);
	return rc ? -1 : 0;
}

/* Every document of every kind with secret places, through fn. */
static int each_doc(struct rekey *k, om_row_fn *fn)
{
	char sql[128];

	for (size_t i = 0; i < om_nkinds; i++) {
		k->kind = &om_kinds[i];
		if (!k->kind->secrets)
			continue;
		snprintf(sql, sizeof sql, "SELECT id, doc::text FROM %s ORDER BY id",
			 k->kind->table);
		if (om_store_each_row(k->conn, sql, fn, k, k->err) != 0)
			return -1;
	}
	return 0;
}

int om_store_rekey(PGconn *conn, const struct om_key *old, const struct om_key *new,
		   int dry_run, struct om_rekey_result *res, struct om_err *err)
{
	struct rekey k = {.conn = conn, .old = old, .new = new, .err = err};
	char co[OM_KEY_CHECK_SIZE], cn[OM_KEY_CHECK_SIZE];
	int rc = -1, r;

	memset(res, 0, sizeof *res);
	om_key_check(old, co);
	om_key_check(new, cn);
	if (strcmp(co, cn) == 0) {
		om_err_set(err, "the new master key is the old one");
		return -1;
	}
	if (om_store_open(conn, err) < 0)
		return -1;
	/* Serializable: a document with a secret that the server writes
	 * meanwhile (under the old key) makes one of the two fail, rather than
	 * stay behind under the old key. */
	if (om_store_exec(conn, "BEGIN ISOLATION LEVEL SERIALIZABLE", "cannot begin", err) < 0)
		return -1;
	if (om_store_lock(conn, err) != 0)
		goto rollback;
	/* Under the lock, so that no other rekey changes the key meanwhile. */
	if (om_store_exec(conn, "SELECT 1 FROM server FOR UPDATE", "cannot lock the server row",
			  err) < 0)
		goto rollback;
	if ((r = om_store_check_key(conn, old, err)) != 0) {
		if (r > 0)
			om_err_set(err, "the old master key is not the one of the server of "
				   "database '%s'", PQdb(conn));
		goto rollback;
	}
	if (each_doc(&k, reseal_doc) < 0)
		goto rollback;
	/* Read back, inside the transaction: every secret opens with the new
	 * key, and there are as many as were sealed. */
	if (each_doc(&k, check_doc) < 0)
		goto rollback;
	if (k.checked != k.secrets) {
		om_err_set(err, "%lu secrets were sealed again, but %lu are there to check",
			   k.secrets, k.checked);
		goto rollback;
	}
	if (om_store_set_key(conn, new, err) < 0)
		goto rollback;
	res->docs = k.docs;
	res->secrets = k.secrets;
	if (dry_run) {
		rc = om_store_exec(conn, "ROLLBACK", "cannot roll back", err);
		goto out;
	}
	if (om_store_exec(conn, "COMMIT", "cannot commit", err) < 0) {
		if (PQstatus(conn) != CONNECTION_OK) {
			res->in_doubt = 1;
			om_err_prefix(err, "the outcome of the commit is unknown (om-store check "
				      "with each key tells which one the store is under)");
		}
		goto out;
	}
	rc = 0;
	goto out;
rollback:
	PQclear(PQexec(conn, "ROLLBACK"));
out:
	pairs_clear(&k);
	free(k.p);
	return rc;
}
