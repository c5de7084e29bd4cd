/*
 * buf.h - growable byte buffers, growable arrays and temporary files: the
 * scratch memory and scratch files of libom, in the manner of git's
 * strbuf.h.
 *
 * Ownership.  A struct om_buf belongs to whoever declared it.  It starts
 * empty (OM_BUF_INIT, or all zero: p is NULL until the first byte), grows
 * on demand and is given back with om_buf_release(), which zeroes the bytes
 * before freeing them: buffers carry documents, and documents carry secret
 * values.  For the same reason a buffer that grows copies into a new block
 * and zeroes the old one instead of leaving it to realloc().  om_buf_add()
 * keeps p NUL-terminated (p[len] == 0), so that p can be used as a C
 * string when the data holds no NUL; writers that fill the buffer
 * themselves (canon.h) do not, and say so.  A buffer is reused by setting
 * len = 0: its memory is kept for the next round, which is what the hot
 * paths (export, import, diff) rely on to make no allocation per document.
 *
 * An array grown with om_array_grow() belongs to its caller as well; it is
 * a plain pointer, a count of used elements and a capacity, and is freed
 * with free().  Its old block is left to realloc(): arrays hold nodes and
 * offsets, not secret bytes (use om_array_grow_wipe() when they do).
 *
 * Nothing here prints or exits; a failing call leaves the buffer or array
 * as it was and returns -1.
 */
#ifndef OM_BUF_H
#define OM_BUF_H

#include <stddef.h>

#include "err.h"

/* A growable byte buffer: p[0..len) is the data, p is NULL until first use. */
struct om_buf {
	char *p;
	size_t len, cap;
};

#define OM_BUF_INIT {NULL, 0, 0}

/* Zero and free the buffer's memory and make it empty again. */
void om_buf_release(struct om_buf *b);

/* Make room for n more bytes after len (no NUL reserved).  -1 when out of
 * memory. */
int om_buf_grow(struct om_buf *b, size_t n);

/* Append n bytes of p and a NUL after them (not counted in len).  -1 when
 * out of memory. */
int om_buf_add(struct om_buf *b, const void *p, size_t n);

/* Append the C string s, as om_buf_add(). */
int om_buf_adds(struct om_buf *b, const char *s);

/* The slow half of om_array_grow(): the array must move. */
int om_array_grow_slow(void *arrp, size_t *cap, size_t used, size_t n, size_t sz, int wipe);

/*
 * Make room for n more elements of size sz after the used ones of the array
 * whose pointer is at arrp (any T **, passed as void *): the capacity
 * doubles from 64 until it fits.  -1 when out of memory (the array is
 * kept).  Inline for the common case of room to spare, which the parsers
 * hit once per value.
 */
static inline int om_array_grow(void *arrp, size_t *cap, size_t used, size_t n, size_t sz)
{
	return *cap - used >= n ? 0 : om_array_grow_slow(arrp, cap, used, n, sz, 0);
}

/* The same for an array of secret bytes: the old block is zeroed before
 * it is freed. */
static inline int om_array_grow_wipe(void *arrp, size_t *cap, size_t used, size_t n, size_t sz)
{
	return *cap - used >= n ? 0 : om_array_grow_slow(arrp, cap, used, n, sz, 1);
}

/*
 * A new temporary file, open for reading and writing, already unlinked, so
 * that nothing is left behind however the program ends: made as
 * "DIR/PREFIXXXXXXX" (the prefix ends in its separator, "om-diff.") in
 * dir, or when dir is NULL or empty in $TMPDIR, or /tmp.  The name it had
 * goes to path (size bytes) for messages.  The file descriptor, or -1 with
 * errno set (and path holding the name tried): the callers word the
 * message, each for what the file was for.  SIGINT, SIGTERM and SIGHUP are
 * held between creating and unlinking it.
 */
int om_tmpfile(const char *dir, const char *prefix, char *path, size_t size);

/* The directory om_tmpfile() would use for dir. */
const char *om_tmpdir(const char *dir);

#endif
