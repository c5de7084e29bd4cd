/*
 * rekey.h - putting every secret of a store under a new master key.
 *
 * In one transaction, under the store's writer lock (store.h): every
 * sealed secret at a secret place of the model is opened with the old key
 * and sealed again with the new one, the new key's check value replaces the
 * old, and every secret is read back and opened with the new key before
 * the commit.  The transaction is serializable: a document with secrets
 * that the server writes meanwhile makes one of the two fail, rather than
 * stay sealed under the old key.  All or nothing: a secret that does not
 * open with the old key, one that is not sealed, any error, or the program
 * killed midway, leaves the store as it was, under the old key.  The keys
 * are the caller's (sodium_malloc()ed, seal.h); clear values live only in
 * sodium_malloc() memory and are wiped.  The engine never prints.
 */
#ifndef OM_REKEY_H
#define OM_REKEY_H

#include <libpq-fe.h>

#include "err.h"

struct om_key;

struct om_rekey_result {
	unsigned long docs;    /* documents that hold secrets */
	unsigned long secrets; /* secrets sealed again (and checked) */
	/* Set when the COMMIT was sent and its outcome is unknown (the
	 * connection broke): the store may be under either key, so the new
	 * key must be kept. */
	int in_doubt;
};

/*
 * Re-seal the store of conn from old to new.  With dry_run, everything is
 * done and checked, then rolled back.  Returns 0 with *res filled in, or -1
 * with err set (old not the server's key, new the same key, a busy store,
 * a secret that does not open, a database error).
 */
int om_store_rekey(PGconn *conn, const struct om_key *old, const struct om_key *new,
		   int dry_run, struct om_rekey_result *res, struct om_err *err);

#endif
