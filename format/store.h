/*
 * store.h - the server's store: a PostgreSQL database made by spec/store.sql.
 *
 * These functions take an open libpq connection and leave it as they found
 * it (no transaction left open).  They return -1 with err set on trouble;
 * database errors carry the server's message.
 */
#ifndef OM_STORE_H
#define OM_STORE_H

#include <libpq-fe.h>

#include "err.h"

struct om_key;
struct om_kind;

/* The store format these tools read and write (server.store_format);
 * older stores are brought to it by om_store_upgrade() (upgrade.h). */
#define OM_STORE_FORMAT 2

/* The pg_advisory_xact_lock key of the programs that write the whole store
 * (om-import, om-store rekey and upgrade): "om-impor" in ASCII. */
#define OM_STORE_LOCK "7957688385473310578"

/* spec/store.sql, built into the library. */
extern const char om_store_sql[];

/* Set err to "what: " and the connection's last error, on one line. */
void om_store_error(struct om_err *err, PGconn *conn, const char *what);

/* Connect; a NULL or empty conninfo means libpq's PG* environment. */
PGconn *om_store_connect(const char *conninfo, struct om_err *err);

/* One more connection to the server and database of conn, with the same
 * parameters (user, password, TLS, ...). */
PGconn *om_store_connect_again(PGconn *conn, struct om_err *err);

/* The store format of the database (server.store_format), or -1 and err
 * when it is not an om store. */
int om_store_format(PGconn *conn, struct om_err *err);

/*
 * Is this database an om store of our format?  0 yes, -1 no: err says why,
 * and for a store of another format names both formats and what to run
 * (om-store upgrade for an older one, a newer om for a newer one).  Every
 * program that reads or writes a store calls this first.
 */
int om_store_open(PGconn *conn, struct om_err *err);

/* Take the store's writer lock (OM_STORE_LOCK) for the transaction that
 * conn is in: 0 taken, 1 another writer holds it, -1 trouble. */
int om_store_lock(PGconn *conn, struct om_err *err);

/* Create the empty store in an empty database and record key as its
 * master key, in one transaction. */
int om_store_create(PGconn *conn, const struct om_key *key, struct om_err *err);

/* Record key as the server's master key (its check value). */
int om_store_set_key(PGconn *conn, const struct om_key *key, struct om_err *err);

/* Is key the server's master key?  0 yes, 1 no, -1 trouble. */
int om_store_check_key(PGconn *conn, const struct om_key *key, struct om_err *err);

/* Called with one line for each problem a verification finds. */
typedef void om_problem_fn(const char *msg, void *ctx);

/* What a verification counted beside its problems. */
struct om_verify_counts {
	unsigned long secrets;  /* sealed secrets met */
	unsigned long unopened; /* of those, the ones the key did not open */
};

/*
 * Verify the whole store against the model in one read-only snapshot:
 * every document's Id has its kind's form and its space exists; every
 * reference resolves, to a document of the kind the model expects, in the
 * same space (or at server level); inner references and tenant tags name an
 * element that exists; every secret has the sealed form and, when key is
 * given, opens with it; and, when home is given, every file the model
 * names exists there as a regular file, of the size its document records
 * where it records one (om_kind_file_size()).  Weak references (history)
 * may dangle.  counts may be NULL.
 *
 * Returns the number of problems reported to fn, or -1 on trouble.
 */
long om_store_verify(PGconn *conn, const struct om_key *key, const char *home,
		     om_problem_fn *fn, void *ctx, struct om_verify_counts *counts,
		     struct om_err *err);

/* ---- for the rest of libom ---- */

/* Run sql, which returns no rows or ignored ones; -1 and err ("what: the
 * server's message") when it fails. */
int om_store_exec(PGconn *conn, const char *sql, const char *what, struct om_err *err);

/* Called for each row; a non-zero return stops om_store_each_row. */
typedef int om_row_fn(PGresult *r, int row, void *ctx);

/* Run fn on every row of sql through a cursor, a batch at a time, inside
 * the caller's transaction; fn may run queries of its own.  Returns 0, what
 * fn returned, or -1 with err set. */
int om_store_each_row(PGconn *conn, const char *sql, om_row_fn *fn, void *ctx,
		      struct om_err *err);

/* The same, with the next batches fetched by a second thread while fn
 * works on this one, so that the server and fn run at once: fn must not
 * use the connection.  At most a few batches are held. */
int om_store_stream_rows(PGconn *conn, const char *sql, om_row_fn *fn, void *ctx,
			 struct om_err *err);

/* Called once per reference and secret place of the model. */
typedef void om_usage_fn(const struct om_kind *kind, const char *what, const char *path,
			 unsigned long count, void *ctx);

/*
 * How often the store uses each place of the model: fn is called, in the
 * catalog's order, for every reference ("ref") and secret ("secret") path of
 * every kind with the number of references or secrets found there.  Shows
 * which forms a server uses, and that a fixture covers the model.
 */
int om_store_usage(PGconn *conn, om_usage_fn *fn, void *ctx, struct om_err *err);

#endif
