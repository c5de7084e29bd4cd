/*
 * import.h - writing bundles into a store (om-import).
 *
 * om_import() reads every document of one or more bundles, matches each to
 * the target store by identity (the model's identity members, references
 * standing for the identity of what they name, the space included), never
 * by Id; gives new documents Ids from the target's allocator (derived Ids
 * follow their owner), rewrites every reference in every form the model
 * knows, seals clear secrets with the target's master key, and writes
 * everything in one transaction: all or nothing.  Several bundles are
 * applied in order in that transaction.
 *
 * Existing documents are skipped (default) or replaced whole (overwrite);
 * variable sets, teams and tenants are merged: what only the target has
 * stays (variables by name and scope, team members and roles, tenant
 * project/environment connections and tags).  A document whose result
 * equals what the target holds is "unchanged" and not written.
 *
 * Memory: the bundles' documents are spooled to a temporary file and only a
 * small record per document (its Ids and identity) stays in memory; writes
 * go through COPY, a batch at a time (spec/import.md has the details).
 *
 * Errors follow err.h; a message about a document reads
 *     'BUNDLE': entry 'PATH': what
 * and the target is left exactly as it was.
 */
#ifndef OM_IMPORT_H
#define OM_IMPORT_H

#include <stddef.h>
#include <libpq-fe.h>

#include "err.h"

struct om_key;
struct om_kind;

/* What happened (or, in a dry run, would happen) to one document. */
enum om_import_action {
	OM_IMPORT_CREATED,
	OM_IMPORT_OVERWRITTEN,
	OM_IMPORT_MERGED,
	OM_IMPORT_SKIPPED,   /* exists in the target and differs; kept as it was */
	OM_IMPORT_UNCHANGED, /* the target already holds exactly this */
};
#define OM_IMPORT_NACTIONS 5

/* "created", "overwritten", ... */
const char *om_import_action_name(enum om_import_action a);

/* One document of the plan, reported once the import is done. */
struct om_import_item {
	const char *bundle;          /* the bundle's name as given */
	const char *path;            /* the entry in the bundle */
	const struct om_kind *kind;
	const char *id;              /* its Id in the target */
	enum om_import_action action;
};

typedef void om_import_item_fn(const struct om_import_item *item, void *ctx);
/* A warning line (a dropped optional reference, files not imported). */
typedef void om_import_warn_fn(const char *msg, void *ctx);

struct om_import_opts {
	const char *const *bundles; /* paths, "-" for standard input */
	size_t nbundles;
	const struct om_key *key;   /* the target's master key */
	int overwrite;              /* replace existing documents */
	int dry_run;                /* do everything, then roll back */
	int online;                 /* allow a target not in maintenance mode */
	int ignore_version;         /* allow a bundle of another server version */
	/* "FROM=TO": import the bundle's space FROM as the target's space TO;
	 * NULL-terminated, or NULL. */
	const char *const *space_map;
	const char *home;           /* the target's home directory for files, or NULL */
	const char *tmpdir;         /* for the spool; NULL: $TMPDIR or /tmp */
	/* The password of password-encrypted bundles (spec/secrets.md), asked
	 * for when the first such manifest is read: a pointer to *len bytes
	 * that stays the caller's and valid until om_import() returns, or NULL
	 * with err set.  NULL: such bundles are refused. */
	const char *(*password)(void *ctx, size_t *len, struct om_err *err);
	om_import_item_fn *item;    /* the plan, in bundle and path order */
	om_import_warn_fn *warn;
	/* Progress, called with ctx: "reading" after each document read
	 * (done: the bundle's documents so far, total 0), "matching" before
	 * each kind (done and total: kinds), "writing" before each batch
	 * written (done: documents of the bundle including the batch, total:
	 * its documents), "committing" or "rolling back" (0, 0).  NULL: none. */
	void (*progress)(void *ctx, const char *phase, const char *kind, unsigned long done,
			 unsigned long total);
	void *ctx;
};

/* Import; counts[] gets the number of documents per action.  0 on success
 * (committed, or rolled back for a dry run), 1 and err when the password
 * of a bundle is wrong, -1 and err on other trouble (rolled back in both
 * cases; no file written to the home directory). */
int om_import(PGconn *conn, const struct om_import_opts *o,
	      unsigned long counts[OM_IMPORT_NACTIONS], struct om_err *err);

/*
 * For a SIGINT/SIGTERM handler: remove the files an import has staged in
 * the home directory and the directory holding them, using only
 * async-signal-safe calls, then return (the handler then dies of the
 * signal; the server rolls the transaction back when the connection goes).
 * From its COMMIT until its files are in place, om_import() holds SIGINT,
 * SIGTERM and SIGHUP, so that a signal cannot part the committed documents
 * from their files.
 */
void om_import_cleanup_on_signal(void);

#endif
