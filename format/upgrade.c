#include "upgrade.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "seal.h"
#include "sigs.h"

/* A home file a step moves. */
struct move {
	char from[4096], to[4096]; /* full paths */
	const char *rel;           /* from, relative to the home directory */
	int linked;                /* this run made the link at to */
	int remove;                /* from is to go once the step has committed */
};

/* A path relative to the home directory that stays inside it: no empty,
 * "." or ".." component, not absolute. */
static int inside(const char *p)
{
	if (!*p || *p == '/')
		return 0;
	for (;;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
			return 0;
		if (!p[n])
			return 1;
		p += n + 1;
	}
}

/* Make the directories above path, below home. */
static int make_parents(const char *home, char *path, struct om_err *err)
{
	for (char *s = path + strlen(home) + 1; (s = strchr(s, '/')); s++) {
		*s = 0;
		int rc = mkdir(path, 0777);
		if (rc != 0 && errno != EEXIST) {
			om_err_set(err, "cannot make directory '%s': %s", path, strerror(errno));
			*s = '/';
			return -1;
		}
		*s = '/';
	}
	return 0;
}

/* Link m->to to m->from ahead of the commit; a file already moved (a step
 * that failed after linking, or a home put in order by hand) is fine. */
static int link_one(const struct om_upgrade_opts *o, struct move *m, struct om_err *err)
{
	struct stat f, t;
	int has_from = lstat(m->from, &f) == 0, has_to = lstat(m->to, &t) == 0;

	if (!has_from) {
		if (!has_to && o->missing)
			o->missing(m->rel, o->ctx);
		return 0;
	}
	if (has_to) {
		if (f.st_dev != t.st_dev || f.st_ino != t.st_ino) {
			om_err_set(err, "cannot move '%s' to '%s': the new path exists and is "
				   "another file", m->from, m->to);
			return -1;
		}
		m->remove = 1;
		return 0;
	}
	if (make_parents(o->home, m->to, err) < 0)
		return -1;
	if (link(m->from, m->to) != 0) {
		om_err_set(err, "cannot link '%s' to '%s': %s", m->from, m->to, strerror(errno));
		return -1;
	}
	m->linked = m->remove = 1;
	return 0;
}

/* Remove the old path, and the directories it leaves empty below home. */
static void remove_old(const char *home, struct move *m)
{
	char *s;

	unlink(m->from);
	while ((s = strrchr(m->from, '/')) && (size_t)(s - m->from) > strlen(home)) {
		*s = 0;
		if (rmdir(m->from) != 0)
			break;
	}
}

/* The files the step listed in om_upgrade_files; *n of them. */
static struct move *load_moves(PGconn *conn, const char *home, size_t *n, struct om_err *err)
{
	PGresult *r = PQexec(conn, "SELECT from_path, to_path FROM om_upgrade_files "
				   "ORDER BY from_path COLLATE \"C\"");
	struct move *mv = NULL;
	size_t nt;

	*n = 0;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		om_store_error(err, conn, "cannot read the files the step moves");
		PQclear(r);
		return NULL;
	}
	nt = (size_t)PQntuples(r);
	if (nt && !home) {
		om_err_set(err, "the step moves %zu files of the home directory, and no home "
			   "directory was given", nt);
		PQclear(r);
		return NULL;
	}
	if (!(mv = calloc(nt + 1, sizeof *mv))) {
		om_err_set(err, "out of memory");
		PQclear(r);
		return NULL;
	}
	for (size_t i = 0; i < nt; i++) {
		const char *f = PQgetvalue(r, (int)i, 0), *t = PQgetvalue(r, (int)i, 1);
		if (!inside(f) || !inside(t)) {
			om_err_set(err, "cannot move '%s' to '%s': not a path inside the home "
				   "directory", f, t);
			goto fail;
		}
		if ((size_t)snprintf(mv[i].from, sizeof mv[i].from, "%s/%s", home, f) >=
			    sizeof mv[i].from ||
		    (size_t)snprintf(mv[i].to, sizeof mv[i].to, "%s/%s", home, t) >=
			    sizeof mv[i].to) {
			om_err_set(err, "cannot move '%s': path too long", f);
			goto fail;
		}
		mv[i].rel = mv[i].from + strlen(home) + 1;
	}
	PQclear(r);
	*n = nt;
	return mv;
fail:
	PQclear(r);
	free(mv);
	return NULL;
}

/* One step, from format `from` to the next, in one transaction. */
static int step(PGconn *conn, const struct om_upgrade_opts *o, int from, struct om_err *err)
{
	char sql[128], what[64];
	struct move *mv = NULL;
	size_t n = 0;
	unsigned long moved = 0;
	sigset_t held;
	PGresult *r;
	int rc = -1, lk;

	snprintf(what, sizeof what, "store format %d to %d", from, from + 1);
	if (om_store_exec(conn, "BEGIN", "cannot begin", err) < 0)
		return -1;
	if ((lk = om_store_lock(conn, err)) != 0)
		goto rollback;
	/* Another upgrade may have gone first. */
	r = PQexec(conn, "SELECT store_format FROM server FOR UPDATE");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		om_store_error(err, conn, "cannot read the server row");
		PQclear(r);
		goto rollback;
	}
	if (atoi(PQgetvalue(r, 0, 0)) != from) {
		om_err_set(err, "database '%s' went from store format %d to %s while upgrading",
			   PQdb(conn), from, PQgetvalue(r, 0, 0));
		PQclear(r);
		goto rollback;
	}
	PQclear(r);
	snprintf(sql, sizeof sql, "UPDATE server SET store_format = %d", from + 1);
	if (om_store_exec(conn, "CREATE TEMP TABLE om_upgrade_files (from_path text NOT NULL, "
				"to_path text NOT NULL) ON COMMIT DROP",
			  "cannot prepare the upgrade", err) < 0 ||
	    om_store_exec(conn, om_store_steps[from - 1], what, err) < 0 ||
	    om_store_exec(conn, sql, what, err) < 0 ||
	    !(mv = load_moves(conn, o->home, &n, err)))
		goto rollback;
	for (size_t i = 0; i < n; i++)
		if (link_one(o, &mv[i], err) < 0)
			goto unlink;
	/* From the commit until the old paths are gone, SIGINT and friends
	 * wait (a kill leaves both paths, one file). */
	om_signals_hold(&held);
	if (om_store_exec(conn, "COMMIT", what, err) < 0) {
		/* Whether it committed or not, the links are harmless. */
		om_signals_release(&held);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (mv[i].remove) {
			remove_old(o->home, &mv[i]);
			moved++;
		}
	om_signals_release(&held);
	if (o->step)
		o->step(from, from + 1, moved, o->ctx);
	rc = 0;
	goto out;
unlink:
	for (size_t i = 0; i < n; i++)
		if (mv[i].linked)
			unlink(mv[i].to);
rollback:
	PQclear(PQexec(conn, "ROLLBACK"));
out:
	free(mv);
	return rc;
}

int om_store_upgrade(PGconn *conn, const struct om_upgrade_opts *o, struct om_err *err)
{
	int format = om_store_format(conn, err), applied = 0, k;
	size_t nsteps = 0;

	while (om_store_steps[nsteps])
		nsteps++;
	if (format < 0)
		return -1;
	if (format > OM_STORE_FORMAT) {
		om_err_set(err, "database '%s' has store format %d, this om reads format %d: "
			   "a store is never downgraded; use an om that reads format %d",
			   PQdb(conn), format, OM_STORE_FORMAT, format);
		return -1;
	}
	if (nsteps != OM_STORE_FORMAT - 1) {
		om_err_set(err, "this om has %zu upgrade steps for store format %d", nsteps,
			   OM_STORE_FORMAT);
		return -1;
	}
	if ((k = om_store_check_key(conn, o->key, err)) != 0) {
		if (k > 0)
			om_err_set(err, "the master key is not the one of the server of "
				   "database '%s'", PQdb(conn));
		return -1;
	}
	for (; format < OM_STORE_FORMAT; format++, applied++)
		if (step(conn, o, format, err) < 0)
			return -1;
	return applied;
}
