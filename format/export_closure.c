/*
 * export_closure.c - om-export: the closure of a partial export.
 *
 * om-export --project: the chosen projects, what they own, and every
 * document they refer to, followed through the model's references
 * (om_refs_each()) until nothing new comes.
 */

#include "export_int.h"

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
int exp_compute_closure(struct exporter *x)
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
		snprintf(sql, sizeof sql, "SELECT doc::text, doc->>'" OM_MEMBER_SPACE "' FROM %s WHERE id = $1",
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
