/*
 * bundle.h - the bundle container: reading and writing a tree of files as a
 * directory, a tar stream or a zstd-compressed tar stream
 * (spec/bundle-container.md).  What the files hold is not this layer's
 * business.
 *
 * A bundle is a set of files, each named by a relative path (UTF-8, '/'
 * between components), always written and read in strictly increasing
 * bytewise order of the path (strcmp).  Directories are implied by the files.
 * Paths with a component beginning with '.' may be written but are not part
 * of the bundle's content: readers skip them in every form, and updating a
 * directory never removes them (so .git and .gitattributes live safely
 * beside a bundle).
 *
 * Ownership: a writer or reader is the caller's until commit/abort or close,
 * which free it.  Strings handed out by a reader (entry paths) belong to the
 * reader and stay valid until the next om_bundle_next() or the close.  File
 * descriptors passed in stay the caller's and are never closed here.
 *
 * Errors follow err.h: -1 (or NULL) and a one-line message naming the
 * bundle and, where there is one, the entry:
 *     'evil.tar': entry '../x': path leaves the bundle
 * After an error a writer accepts only commit (which then fails) or abort,
 * and a reader only close.
 *
 * Not thread-safe: one thread uses a writer or reader at a time, and only
 * one thread creates writers (they register in a static table, below).
 *
 * Implemented in bundle.c (the shared entry checks and directory walk),
 * bundle_write.c (the writers) and bundle_read.c (the readers), which share
 * bundle_int.h; this header is the only one the rest of om includes.
 */
#ifndef OM_BUNDLE_H
#define OM_BUNDLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "err.h"

/* The longest path, and path component, in bytes (without the NUL). */
#define OM_BUNDLE_PATH_MAX 4095
#define OM_BUNDLE_NAME_MAX 255

/* An existing non-empty directory is only updated if it holds this file. */
#define OM_BUNDLE_MARKER "manifest.json"
/* Members of the manifest's Export (spec/bundle.md) whose names are also
 * Octopus's: spelled here, so that the names model.h gives stay the only
 * Octopus names in libom (tests/cli/model-names.sh). */
#define OM_MANIFEST_SCOPE "Scope"
#define OM_MANIFEST_SPACE "Space"

enum om_bundle_form {
	OM_FORM_DIR,		/* a directory tree */
	OM_FORM_TAR,		/* a tar stream (pax, fixed metadata) */
	OM_FORM_TAR_ZST		/* the same tar stream, zstd level 3 */
};

/* The form an output name asks for: "-" and *.tar a tar, *.tar.zst a
 * compressed tar, anything else a directory. */
enum om_bundle_form om_bundle_form_for_path(const char *path);

/* NULL when path is a valid bundle path, else the reason, e.g.
 * "path leaves the bundle" (a static string). */
const char *om_bundle_path_problem(const char *path);

/* ---- writing ---- */

struct om_bundle_writer;

/* Open a writer on path, the form picked by om_bundle_form_for_path().
 * "-" is standard output. */
struct om_bundle_writer *om_bundle_writer_open(const char *path, struct om_err *err);

/* The same for a bundle that holds clear secrets: the files it creates
 * (the archive, a directory bundle's new and changed files) are mode 0600
 * rather than 0644, less the umask. */
struct om_bundle_writer *om_bundle_writer_open_private(const char *path, struct om_err *err);

/* The same with the form given; "-" with a tar form is standard output. */
struct om_bundle_writer *om_bundle_writer_open_as(const char *path, enum om_bundle_form form,
						   struct om_err *err);

/* A tar or tar.zst stream straight to fd (no temporary file; a failed
 * stream is simply cut short, which any reader rejects).  name is for
 * messages. */
struct om_bundle_writer *om_bundle_writer_open_fd(int fd, enum om_bundle_form form,
						   const char *name, struct om_err *err);

/* Add a file of len bytes held in memory.  Paths must come in strictly
 * increasing strcmp() order; an invalid path, a duplicate, a path out of
 * order, or a file where an earlier path made a directory (or the reverse)
 * is an error. */
int om_bundle_add(struct om_bundle_writer *w, const char *path, const void *data, size_t len,
		  struct om_err *err);

/*
 * A source of bytes for om_bundle_add_stream(): fill up to n bytes of buf and
 * return how many (> 0), 0 at its end, or -1 after setting err.
 */
typedef ssize_t om_bundle_source_fn(void *ctx, void *buf, size_t n, struct om_err *err);

/* Add a file of exactly size bytes read from src in chunks (never held
 * whole); a source that ends early is an error, and no more than size bytes
 * are asked of it. */
int om_bundle_add_stream(struct om_bundle_writer *w, const char *path, uint64_t size,
			 om_bundle_source_fn *src, void *ctx, struct om_err *err);

/* The same reading size bytes from fd (from its current offset). */
int om_bundle_add_fd(struct om_bundle_writer *w, const char *path, int fd, uint64_t size,
		     struct om_err *err);

/*
 * Finish and free the writer.  An archive file, written under a temporary
 * name (.NAME.tmp-XXXXXX) beside path, is fsync'ed and renamed onto path.
 * A directory gets its new and changed files renamed into place and the
 * files of the old bundle that were not added removed (see the spec: not
 * atomic; each file is whole).  On failure the temporary files are removed
 * as by abort.
 */
int om_bundle_writer_commit(struct om_bundle_writer *w, struct om_err *err);

/* Remove every temporary file and free the writer; the destination is as it
 * was before the open.  NULL is allowed. */
void om_bundle_writer_abort(struct om_bundle_writer *w);

/*
 * For a SIGINT/SIGTERM handler: remove the temporary files of every open
 * writer, using only async-signal-safe calls (unlink, rmdir), then return;
 * the handler then _exit()s.  Nothing is freed, so no writer may be used
 * afterwards.  Temporary paths are kept as given to the open, so a program
 * must not chdir() while a writer with a relative path is open.
 */
void om_bundle_cleanup_on_signal(void);

/* ---- reading ---- */

struct om_bundle_limits {
	uint64_t max_entry_size;	/* bytes in one file */
	uint64_t max_total_size;	/* bytes of the whole (uncompressed) bundle */
	uint64_t max_entries;		/* entries, directories included */
};

/* 1 GiB, 64 GiB, 10 million. */
extern const struct om_bundle_limits om_bundle_default_limits;

struct om_bundle_entry {
	const char *path;	/* valid until the next om_bundle_next() */
	uint64_t size;
};

struct om_bundle_reader;

/* Open a bundle: "-" (standard input), a directory, or a file holding a tar
 * or tar.zst stream, told apart by content.  Default limits.  A directory
 * is walked in path order, each file's size taken from lstat(); a file is
 * opened only when its content is first read, and must then still be the
 * file the walk saw (a regular file, same inode and size), else reading it
 * is an error naming the entry. */
struct om_bundle_reader *om_bundle_reader_open(const char *path, struct om_err *err);

/* The same with limits (NULL for the defaults). */
struct om_bundle_reader *om_bundle_reader_open_with(const char *path,
						    const struct om_bundle_limits *limits,
						    struct om_err *err);

/* Read from fd (a directory or a stream); name is for messages. */
struct om_bundle_reader *om_bundle_reader_open_fd(int fd, const char *name,
						  const struct om_bundle_limits *limits,
						  struct om_err *err);

/* What the reader found. */
enum om_bundle_form om_bundle_reader_form(const struct om_bundle_reader *r);

/* The next file: 1 and *e filled, 0 at the end, -1 on error.  The rest of
 * the previous entry's data, if not read, is skipped. */
int om_bundle_next(struct om_bundle_reader *r, struct om_bundle_entry *e, struct om_err *err);

/* Read up to n bytes of the current entry: the count, 0 once all of its
 * size bytes were read (never earlier), -1 on error. */
ssize_t om_bundle_read(struct om_bundle_reader *r, void *buf, size_t n, struct om_err *err);

/* Read the rest of the current entry into a malloc()ed buffer (with a NUL
 * after the last byte); an entry over max_size bytes is an error.  On error
 * *buf is NULL. */
int om_bundle_read_all(struct om_bundle_reader *r, size_t max_size, char **buf, size_t *len,
		       struct om_err *err);

/*
 * A directory bundle's file by its path, whatever the current entry (which
 * this leaves alone), into a malloc()ed buffer with a NUL after the last
 * byte, as om_bundle_read_all() does; for reading again, in any order,
 * files that a walk already met.  The path is checked as every entry's is
 * (a component beginning with '.' is no entry) and followed one component
 * at a time, never through a link; the file must be a regular file within
 * the limits and max_size.  The directories of the last path stay open, so
 * reading paths in sorted order opens each directory once.  A bundle of
 * another form is an error.  On error *buf is NULL, and the reader remains
 * usable.
 */
int om_bundle_read_at(struct om_bundle_reader *r, const char *path, size_t max_size, char **buf,
		      size_t *len, struct om_err *err);

/* Free the reader; NULL is allowed. */
void om_bundle_reader_close(struct om_bundle_reader *r);

#endif
