/*
 * sorter.h - an external merge sort of records (key, payload) with bounded
 * memory, so that an exporter can write bundle files in path order whatever
 * order it reads them in.
 *
 * A key is a NUL-free byte string (a path), a payload any bytes.  Records
 * come back in ascending strcmp() order of their keys; two records with one
 * key are an error (duplicate key 'KEY') when the second comes out.
 *
 * Use: om_sorter_new(), om_sorter_add() any number of times,
 * om_sorter_finish() once, om_sorter_next() until it returns 0,
 * om_sorter_free().
 *
 * Ownership: add copies the key and the payload; the caller's buffers are
 * free again as soon as it returns.  The key and payload handed out by next
 * belong to the sorter and stay valid until the next call on it (next or
 * free).  The sorter is the caller's until om_sorter_free().
 *
 * Memory: records are held in memory up to mem_limit bytes (keys, payloads
 * and about 32 bytes per record); then they are sorted and written as a run
 * to a temporary file.  A record costing more than mem_limit on its own is
 * written straight from the caller's buffer as a run of its own.  When all
 * the records fit, no file is ever written.  The merge reads each run
 * through a buffer of mem_limit / 16 bytes (16 KiB to 256 KiB) and keeps
 * the last, unwritten run in memory, so the sorter's memory stays near
 * mem_limit + 65 buffers (about mem_limit + 16 MiB), plus, for a record
 * larger than a buffer, that record while it is the current one of its run.
 *
 * Runs: at most 64 runs are merged at once.  Beyond that, the 64 smallest
 * are merged into one (while adding, once there are 128 runs; at finish,
 * until at most 64 are left), so open files stay under 130 and every
 * record is rewritten about log64(runs) times.
 *
 * Temporary files: created in tmpdir with mkstemp() and unlinked at once;
 * the sorter keeps only their descriptors.  Nothing is left on disk after
 * om_sorter_free(), an error, a signal or even a kill -9 (except in the few
 * instructions between creating and unlinking a file), so no signal-time
 * cleanup is needed.  The disk space comes back when the descriptors close.
 *
 * Encryption: after om_sorter_encrypt() no clear byte of a key or payload
 * reaches a temporary file.  Each run file is XORed with an XChaCha20 key
 * stream under a random key held in sodium_malloc() memory for the life of
 * the sorter (freed with sodium_free() by om_sorter_free()) and a random
 * nonce per file; the nonces stay in memory.  For records that hold
 * secrets in the clear.  Integrity is not the point (the files are
 * unlinked and the sorter's own length checks catch a damaged run).  An
 * encrypted sorter also wipes (sodium_memzero) every buffer that held
 * records before freeing it: the records in memory, the run read and write
 * buffers, a big record's own buffer.
 *
 * Errors follow err.h.  Any failure (out of memory, a temporary file that
 * cannot be written or reads back short, a duplicate key) is final: every
 * later call but free fails.  Not thread-safe.
 */
#ifndef OM_SORTER_H
#define OM_SORTER_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The memory limit when 0 is given. */
#define OM_SORTER_DEFAULT_LIMIT ((size_t)64 << 20)

struct om_sorter;

/* What a sorter did, for logs and tests. */
struct om_sorter_stats {
	uint64_t records;	/* records added */
	uint64_t runs;		/* sorted runs written by add and finish */
	uint64_t merges;	/* runs merged into a bigger run before the last merge */
	uint64_t temp_bytes;	/* bytes written to temporary files, merges included */
};

/* A new sorter with its temporary files in tmpdir (NULL: $TMPDIR, or /tmp
 * when unset or empty), which must be a directory, and mem_limit bytes of
 * records in memory (0: OM_SORTER_DEFAULT_LIMIT). */
struct om_sorter *om_sorter_new(const char *tmpdir, size_t mem_limit, struct om_err *err);

/* Encrypt the temporary files from now on.  Only before the first run is
 * written (in practice: right after om_sorter_new()); calling it again is
 * harmless. */
int om_sorter_encrypt(struct om_sorter *s, struct om_err *err);

/* Add a record (len bytes at payload; NULL when len is 0).  Only before
 * finish. */
int om_sorter_add(struct om_sorter *s, const char *key, const void *payload, size_t len,
		  struct om_err *err);

/* No more adds: sort what is in memory and merge runs down to at most 64,
 * ready for next.  Once only. */
int om_sorter_finish(struct om_sorter *s, struct om_err *err);

/* The next record after finish: 1 and *key, *payload, *len set (payload
 * not aligned; *len may be 0), 0 at the end (and on every later call), -1
 * on error, e.g. "duplicate key 'a/b.json'". */
int om_sorter_next(struct om_sorter *s, const char **key, const void **payload, size_t *len,
		   struct om_err *err);

/* Fill *st with the counters so far. */
void om_sorter_stats(const struct om_sorter *s, struct om_sorter_stats *st);

/* Close and so delete every temporary file and free the sorter, at any
 * point; NULL is allowed. */
void om_sorter_free(struct om_sorter *s);

#endif
