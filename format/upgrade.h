/*
 * upgrade.h - bringing a store of an older format to the format these tools
 * read (OM_STORE_FORMAT, store.h).
 *
 * Each step is a numbered SQL file of spec/ (spec/upgrade-N.sql takes
 * format N-1 to N), built into the library; steps run in order, one
 * transaction each, under the store's writer lock, so that a store is
 * always at one format or the next, never between.  A step may move files
 * of the home directory: it lists them in the temporary table
 * om_upgrade_files (from_path, to_path), and each is linked to its new
 * path before the step commits and its old path removed after.  A store of
 * a newer format is refused: there is no downgrade.
 *
 * The engine never prints; what it did comes back through the callbacks.
 */
#ifndef OM_UPGRADE_H
#define OM_UPGRADE_H

#include <libpq-fe.h>

#include "err.h"
#include "store.h"

struct om_key;

/* The steps' SQL: om_store_steps[i] takes format i + 1 to i + 2;
 * NULL-terminated. */
extern const char *const om_store_steps[];

struct om_upgrade_opts {
	const struct om_key *key; /* must be the server's */
	const char *home;         /* the home directory, or NULL */
	/* After each committed step: the formats and the files moved. */
	void (*step)(int from, int to, unsigned long moved, void *ctx);
	/* A file a step moves that is in neither place (relative path). */
	void (*missing)(const char *path, void *ctx);
	void *ctx;
};

/*
 * Bring the store of conn to OM_STORE_FORMAT.  Returns the number of steps
 * applied (0: the store was at this format already), or -1 with err set;
 * the steps committed before a failure stay committed.  A step that moves
 * files needs o->home.
 */
int om_store_upgrade(PGconn *conn, const struct om_upgrade_opts *o, struct om_err *err);

#endif
