/*
 * bundle_int.h - what the parts of the bundle container share
 * (format/bundle*.c); no other file includes it: tools and the rest of
 * libom use bundle.h alone.
 *
 * The parts own: bundle.c the shared entry checks (names and their quoting
 * in messages, the strict path order, dot paths), the C.UTF-8 locale for
 * libarchive, the small I/O helpers and the directory walk in full-path
 * order that both sides use; bundle_write.c the writers (directory staging
 * and its journal, archive files, the kill-safe commit) and the signal-time
 * cleanup table of their temporary files; bundle_read.c the readers (tar
 * and tar.zst headers read as stored, directories through the walk).
 *
 * Ownership: an order or walk is its owner's (a writer or reader) and freed
 * with bnd_order_free()/bnd_walk_free(); strings a walk hands out are valid
 * until its next step.  Errors follow err.h: -1 (or NULL) with err set,
 * naming the bundle (disp, already quoted) and the entry.
 */
#ifndef OM_BUNDLE_INT_H
#define OM_BUNDLE_INT_H

#include <locale.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <archive.h>

#include "bundle.h"
#include "err.h"

/* The unit of streaming: a writer or reader holds two or three of these,
 * whatever the size of the files. */
#define CHUNK 65536

/* A hostile name must not break the one-line message: control bytes and
 * invalid UTF-8 are shown as \xNN, and a long name is cut. */
struct qname {
	char s[256];
};

/*
 * Paths must increase strictly, and no path may lie below an earlier file.
 * In sorted order, an earlier file F can only be the directory of a later
 * path P if every path between them begins with F, so the files that matter
 * form a chain of prefixes of the previous path: their lengths are kept on a
 * small stack (memory bounded by the path length, not the entry count).
 */
struct order {
	char *prev;
	size_t plen;
	int have;
	size_t *files, nfiles, cap;
};

enum { ORD_OK, ORD_DUP, ORD_BACK, ORD_BELOW_FILE, ORD_NOMEM };

/*
 * A directory's names are sorted with '/' appended to the names of
 * directories: then a subtree sorts exactly where its full paths do
 * ("a b" < "a-b" < "a.json" < "a/" < "a0"), so the walk yields the files in
 * the same strcmp() order as an archive stores them.
 */
struct dent {
	char *key;		/* the name, and '/' for a directory */
	size_t len;
	int dir;
	/* A file as the walk saw it (lstat): its size is the entry's, and the
	 * file opened later must still be this one. */
	uint64_t size;
	dev_t dev;
	ino_t ino;
};

struct level {
	int fd;
	struct dent *v;
	size_t n, i;
	size_t plen;		/* length of the directory's path, with its '/' */
};

struct walk {
	const char *disp;
	struct level *lv;
	size_t depth, cap;
	uint64_t count;		/* files and directories met */
	int fd;			/* the current file's directory */
	const char *leaf;	/* and its name */
	const struct dent *cur;	/* and what the walk saw of it */
	char path[OM_BUNDLE_PATH_MAX + 2];
};

/* ---- names and messages (bundle.c) ---- */

/* name with control bytes and invalid UTF-8 as \xNN, cut when long; in q. */
const char *bnd_quote(struct qname *q, const char *name);

/* "'NAME'", or "standard input/output" for "-"; malloc'd, NULL without
 * memory. */
char *bnd_display_name(const char *name, int output);

/* "DISP: entry 'ENTRY': WHY" into err. */
void bnd_entry_err(struct om_err *err, const char *disp, const char *entry, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* A message of libarchive or strerror() in our style, in place: lowercase,
 * no final full stop. */
const char *bnd_msg_style(char *buf);

/* libarchive's message in our style. */
const char *bnd_la_msg(struct archive *a, char *buf, size_t size);

/* Does a component of path begin with '.'?  Such entries are outside the
 * bundle's content. */
int bnd_is_dot_path(const char *path);

/* ---- entry order (bundle.c) ---- */

/* Take path p (a file when is_file) after the earlier ones: ORD_OK, or the
 * ORD_ code of the rule broken, with *conflict the length of the file it
 * would lie below. */
int bnd_order_push(struct order *o, const char *p, int is_file, size_t *conflict);

void bnd_order_free(struct order *o);

/* The message for a bnd_order_push() failure. */
void bnd_order_err(struct om_err *err, const char *disp, const struct order *o, const char *p,
		   int code, size_t conflict);

/* ---- locale and I/O (bundle.c) ---- */

/* The C.UTF-8 locale every libarchive call runs under, or NULL with err. */
locale_t bnd_get_utf8_locale(struct om_err *err);

/* Pipes and signals give short counts: loop until all is written. */
int bnd_write_full(int fd, const void *buf, size_t n);

/* Read n bytes unless the end comes first: the count, or -1. */
ssize_t bnd_read_full(int fd, void *buf, size_t n);

/*
 * Open the directory holding the last component of path below rootfd, one
 * component at a time and never through a symbolic link; missing
 * directories are made when create is set.  The fd, or -1 with errno;
 * *leaf points at the last component.
 */
int bnd_open_parent(int rootfd, const char *path, int create, const char **leaf);

/* ---- the directory walk (bundle.c) ---- */

/* Start a walk of the directory rootfd (taken over). */
struct walk *bnd_walk_open(int rootfd, const char *disp, struct om_err *err);

void bnd_walk_free(struct walk *w);

/* The next file: 1 with w->path, w->fd and w->leaf set, 0 at the end, -1. */
int bnd_walk_next(struct walk *w, struct om_err *err);

#endif
