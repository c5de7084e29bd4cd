/*
 * tarw.h - the writer of the bundle's tar stream (spec/bundle-container.md,
 * "Tar form"), optionally zstd-compressed, straight to a file descriptor.
 *
 * It writes exactly the bytes of libarchive's restricted pax writer (3.6)
 * for the fixed metadata of a bundle (mode 0644 or 0755, uid and gid 0, no
 * user or group names, mtime 0): a plain ustar header when the path fits
 * the ustar name and prefix fields and is ASCII, else a pax extended
 * header (typeflag 'x', named DIR/PaxHeader/BASE as libarchive names it)
 * holding a path record, and a size record for a file of 8 GiB or more.
 * Reading stays with libarchive; only writing is done here, because
 * libarchive's per-entry cost (an entry object, string conversions, a
 * filter chain) dominated om-export's output path.
 *
 * Output goes out in blocks of OM_TARW_BLOCK bytes, the last one short
 * (the tar ends right after its two zero blocks); compressed, as one zstd
 * frame at the given level, single-threaded, no checksum and no content
 * size, so the same entries give the same bytes.
 *
 * Use: om_tarw_new(), then for each entry om_tarw_header() and, for a file,
 * om_tarw_data() until its size is reached (the padding follows by
 * itself), then om_tarw_finish() once, and om_tarw_free().  Freeing an
 * unfinished writer writes nothing more: the stream is cut short without
 * an end-of-archive marker, which every reader rejects.
 *
 * Ownership: the descriptor stays the caller's and is never closed here;
 * paths and data are copied before the calls return.
 *
 * Errors: -1 and a short reason in err, without the archive's or the
 * entry's name, for the caller to put in front: a write error is
 * strerror()'s text (om_tarw_errno() gives the errno), a path or size tar
 * cannot hold says so.  After an error every later call but free fails.
 */
#ifndef OM_TARW_H
#define OM_TARW_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* The unit of output, as libarchive's default block. */
#define OM_TARW_BLOCK 10240
/* The longest path accepted, a directory's final '/' included. */
#define OM_TARW_PATH_MAX 8191
/* The most bytes om_tar_headers() can produce for one entry. */
#define OM_TARW_HEADERS_MAX (512 + ((OM_TARW_PATH_MAX + 64 + 511) / 512) * 512 + 512)

struct om_tarw;

/* A writer to fd: a plain tar when zstd_level is 0, else a zstd frame at
 * that level (1..ZSTD_maxCLevel()). */
struct om_tarw *om_tarw_new(int fd, int zstd_level, struct om_err *err);

/* The header(s) of the next entry: a directory (dir; path ends with '/')
 * or a file of size bytes.  The previous file must be complete. */
int om_tarw_header(struct om_tarw *t, const char *path, int dir, uint64_t size,
		   struct om_err *err);

/* n bytes of the current file; more than its size is an error. */
int om_tarw_data(struct om_tarw *t, const void *p, size_t n, struct om_err *err);

/* The end-of-archive marker, the end of the zstd frame, and every byte
 * still buffered, out to the descriptor.  Once. */
int om_tarw_finish(struct om_tarw *t, struct om_err *err);

/* The errno of the write that failed, or 0. */
int om_tarw_errno(const struct om_tarw *t);

/* Free the writer, finished or not; NULL is allowed. */
void om_tarw_free(struct om_tarw *t);

/* The headers of one entry, as om_tarw_header() writes them, into out
 * (OM_TARW_HEADERS_MAX bytes): their length (a multiple of 512), or -1 and
 * err when tar cannot hold the entry.  For tests and for the writer. */
long om_tar_headers(unsigned char *out, const char *path, int dir, uint64_t size,
		    struct om_err *err);

#endif
