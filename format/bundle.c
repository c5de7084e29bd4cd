/* O_TMPFILE, linkat(AT_EMPTY_PATH), flock(). */
#define _GNU_SOURCE
#include "bundle.h"
#include "sigs.h"
#include "tarw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zstd.h>

/* The fixed tar metadata (spec/bundle-container.md, "Tar form"). */
#define TAR_MTIME 0
#define TAR_FILE_MODE 0644
#define TAR_DIR_MODE 0755
/* zstd's own default: about pg_dump's speed, a tenth of the size. */
#define ZSTD_LEVEL 3

/* The unit of streaming: a writer or reader holds two or three of these,
 * whatever the size of the files. */
#define CHUNK 65536
/* The most header bytes (pax and GNU special headers, then the entry's
 * own) kept in view for one entry. */
#define TAR_VIEW_MAX ((size_t)8 << 20)
/* A dot name: readers skip it and the update rule never removes it. */
#define STAGE_NAME ".om-tmp-XXXXXX"
#define STAGE_PREFIX ".om-tmp-"
#define JOURNAL "journal"
/* Where the old manifest waits during a commit. */
#define HELD_MARKER "manifest"
/* Open writers at once; a program has one or two. */
#define SLOTS 16

const struct om_bundle_limits om_bundle_default_limits = {
	.max_entry_size = (uint64_t)1 << 30,
	.max_total_size = (uint64_t)64 << 30,
	.max_entries = 10000000,
};

/* ---- names and messages ---- */

/* The length of the valid UTF-8 sequence at s (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	unsigned c = s[0];

	if (c < 0x80)
		return 1;
	if (c < 0xc2)
		return 0;
	if ((s[1] & 0xc0) != 0x80)
		return 0;
	if (c < 0xe0)
		return 2;
	if ((s[2] & 0xc0) != 0x80)
		return 0;
	if (c < 0xf0) {
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))
			return 0;
		return 3;
	}
	if (c > 0xf4 || (s[3] & 0xc0) != 0x80)
		return 0;
	if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))
		return 0;
	return 4;
}

/* A hostile name must not break the one-line message: control bytes and
 * invalid UTF-8 are shown as \xNN, and a long name is cut. */
struct qname {
	char s[256];
};

static const char *quote(struct qname *q, const char *name)
{
	const unsigned char *s = (const unsigned char *)name;
	size_t o = 0;

	while (*s && o < sizeof q->s - 8) {
		size_t k = utf8_seq(s);
		if (*s < 0x20 || *s == 0x7f || k == 0) {
			snprintf(q->s + o, 5, "\\x%02x", *s);
			o += 4;
			s++;
		} else {
			memcpy(q->s + o, s, k);
			o += k;
			s += k;
		}
	}
	if (*s) {
		memcpy(q->s + o, "...", 3);
		o += 3;
	}
	q->s[o] = 0;
	return q->s;
}

/* "'NAME'", or "standard input/output" for "-". */
static char *display_name(const char *name, int output)
{
	struct qname q;
	char *d;

	if (strcmp(name, "-") == 0)
		return strdup(output ? "standard output" : "standard input");
	quote(&q, name);
	if ((d = malloc(strlen(q.s) + 3)))
		sprintf(d, "'%s'", q.s);
	return d;
}

static void entry_err(struct om_err *err, const char *disp, const char *entry, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void entry_err(struct om_err *err, const char *disp, const char *entry, const char *fmt, ...)
{
	char why[600];
	struct qname q;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	om_err_set(err, "%s: entry '%s': %s", disp, quote(&q, entry), why);
}

/* A message of libarchive or strerror() in our style, in place: lowercase,
 * no final full stop. */
static const char *msg_style(char *buf)
{
	size_t n;

	if (buf[0] >= 'A' && buf[0] <= 'Z' && (buf[1] == ' ' || (buf[1] >= 'a' && buf[1] <= 'z')))
		buf[0] = (char)(buf[0] - 'A' + 'a');
	n = strlen(buf);
	while (n && (buf[n - 1] == '.' || buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return buf;
}

/* libarchive's message in our style. */
static const char *la_msg(struct archive *a, char *buf, size_t size)
{
	const char *m = archive_error_string(a);

	snprintf(buf, size, "%s", m ? m : "unknown error");
	return msg_style(buf);
}

enum om_bundle_form om_bundle_form_for_path(const char *path)
{
	size_t n = strlen(path);

	/* A bare ".tar" is a dot-file's name, not a suffix: a directory. */
	if (strcmp(path, "-") == 0)
		return OM_FORM_TAR;
	if (n > 8 && strcmp(path + n - 8, ".tar.zst") == 0)
		return OM_FORM_TAR_ZST;
	if (n > 4 && strcmp(path + n - 4, ".tar") == 0)
		return OM_FORM_TAR;
	return OM_FORM_DIR;
}

const char *om_bundle_path_problem(const char *path)
{
	const unsigned char *s = (const unsigned char *)path;
	const char *c = path;
	size_t len = strlen(path);

	if (len == 0)
		return "empty path";
	if (path[0] == '/')
		return "absolute path";
	/* Components first, so that "../x" is reported as what matters most
	 * about it, whatever else is wrong with it. */
	for (;;) {
		const char *e = strchr(c, '/');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return "path leaves the bundle";
		if (n == 0)
			return e ? "empty path component" : "path ends with '/'";
		if (n == 1 && c[0] == '.')
			return "'.' path component";
		if (n > OM_BUNDLE_NAME_MAX)
			return "path component too long";
		if (!e)
			break;
		c = e + 1;
	}
	if (len > OM_BUNDLE_PATH_MAX)
		return "path too long";
	for (size_t i = 0; i < len;) {
		size_t k = utf8_seq(s + i);
		if (s[i] < 0x20 || s[i] == 0x7f)
			return "control character in path";
		if (k == 0)
			return "path is not valid UTF-8";
		i += k;
	}
	return NULL;
}

/* Does a component of path begin with '.'?  Such entries are outside the
 * bundle's content. */
static int is_dot_path(const char *path)
{
	if (path[0] == '.')
		return 1;
	for (const char *s = path; (s = strchr(s, '/')); s++)
		if (s[1] == '.')
			return 1;
	return 0;
}

/* ---- entry order ---- */

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

static int order_push(struct order *o, const char *p, int is_file, size_t *conflict)
{
	size_t len = strlen(p), l = 0;

	if (!o->prev && !(o->prev = malloc(OM_BUNDLE_PATH_MAX + 2)))
		return ORD_NOMEM;
	if (o->have) {
		int c = strcmp(o->prev, p);
		if (c == 0)
			return ORD_DUP;
		if (c > 0)
			return ORD_BACK;
		while (l < o->plen && o->prev[l] == p[l])
			l++;
	}
	while (o->nfiles && o->files[o->nfiles - 1] > l)
		o->nfiles--;
	for (size_t i = 0; i < o->nfiles; i++)
		if (p[o->files[i]] == '/') {
			*conflict = o->files[i];
			return ORD_BELOW_FILE;
		}
	if (is_file) {
		if (o->nfiles == o->cap) {
			size_t ncap = o->cap ? 2 * o->cap : 16;
			size_t *nf = realloc(o->files, ncap * sizeof *nf);
			if (!nf)
				return ORD_NOMEM;
			o->files = nf;
			o->cap = ncap;
		}
		o->files[o->nfiles++] = len;
	}
	memcpy(o->prev, p, len + 1);
	o->plen = len;
	o->have = 1;
	return ORD_OK;
}

static void order_free(struct order *o)
{
	free(o->prev);
	free(o->files);
}

/* The message for an order_push() failure. */
static void order_err(struct om_err *err, const char *disp, const struct order *o, const char *p,
		      int code, size_t conflict)
{
	struct qname q;
	char file[OM_BUNDLE_PATH_MAX + 1];

	switch (code) {
	case ORD_DUP:
		entry_err(err, disp, p, "duplicate entry");
		break;
	case ORD_BACK:
		entry_err(err, disp, p, "entries out of order (it comes after '%s')",
			  quote(&q, o->prev));
		break;
	case ORD_BELOW_FILE:
		memcpy(file, p, conflict);
		file[conflict] = 0;
		entry_err(err, disp, p, "'%s' is both a file and a directory", quote(&q, file));
		break;
	default:
		om_err_set(err, "out of memory");
	}
}

/* ---- locale ---- */

/*
 * libarchive converts names through the current locale: readers get
 * different bytes in different locales.  Every call into libarchive (only
 * reading: tarw.c writes, byte by byte, without a locale) therefore runs
 * under a thread-local C.UTF-8 locale, whatever the program set.
 */
static pthread_once_t utf8_once = PTHREAD_ONCE_INIT;
static locale_t utf8_locale;

static void utf8_init(void)
{
	utf8_locale = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);
}

static locale_t get_utf8_locale(struct om_err *err)
{
	pthread_once(&utf8_once, utf8_init);
	if (!utf8_locale)
		om_err_set(err, "cannot load the C.UTF-8 locale");
	return utf8_locale;
}

/* ---- small I/O helpers ---- */

/* Pipes and signals give short counts: loop until all is written. */
static int write_full(int fd, const void *buf, size_t n)
{
	const char *p = buf;

	while (n) {
		ssize_t k = write(fd, p, n);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Read n bytes unless the end comes first: the count, or -1. */
static ssize_t read_full(int fd, void *buf, size_t n)
{
	char *p = buf;
	size_t got = 0;

	while (got < n) {
		ssize_t k = read(fd, p + got, n - got);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/*
 * Open the directory holding the last component of path below rootfd, one
 * component at a time and never through a symbolic link; missing
 * directories are made when create is set.  The fd, or -1 with errno;
 * *leaf points at the last component.
 */
static int open_parent(int rootfd, const char *path, int create, const char **leaf)
{
	char comp[OM_BUNDLE_NAME_MAX + 1];
	const char *c = path, *s;
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);

	while (fd >= 0 && (s = strchr(c, '/'))) {
		size_t n = (size_t)(s - c);
		int nfd, e;

		if (n > OM_BUNDLE_NAME_MAX) {
			close(fd);
			errno = ENAMETOOLONG;
			return -1;
		}
		memcpy(comp, c, n);
		comp[n] = 0;
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (nfd < 0 && errno == ENOENT && create) {
			if (mkdirat(fd, comp, 0777) == 0 || errno == EEXIST)
				nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		e = errno;
		close(fd);
		errno = e;
		fd = nfd;
		c = s + 1;
	}
	*leaf = c;
	return fd;
}

/* ---- the signal-time cleanup table ---- */

/*
 * Every writer with temporary files registers them here so that
 * om_bundle_cleanup_on_signal() can remove them with unlink() and rmdir()
 * alone: a temporary archive file (SLOT_FILE), or a staging directory whose
 * files are named 1..count and "journal" (SLOT_STAGE), and the bundle
 * directory itself when the writer made it.
 */
enum { SLOT_FREE, SLOT_FILE, SLOT_STAGE };

static struct slot {
	volatile sig_atomic_t kind;
	volatile sig_atomic_t count;
	volatile sig_atomic_t rmroot;
	char path[PATH_MAX];
	char root[PATH_MAX];
} slots[SLOTS];

static int slot_take(int kind, const char *path, const char *root, const char *disp,
		     struct om_err *err)
{
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[i];
		if (s->kind != SLOT_FREE)
			continue;
		if (strlen(path) >= sizeof s->path || (root && strlen(root) >= sizeof s->root)) {
			om_err_set(err, "%s: path too long", disp);
			return -1;
		}
		strcpy(s->path, path);
		strcpy(s->root, root ? root : "");
		s->count = 0;
		s->rmroot = root != NULL;
		/* The handler must never see a kind before its path. */
		atomic_signal_fence(memory_order_seq_cst);
		s->kind = kind;
		return i;
	}
	om_err_set(err, "%s: too many bundle writers open", disp);
	return -1;
}

static void slot_drop(int i)
{
	if (i >= 0)
		slots[i].kind = SLOT_FREE;
}

/* Append s to p at *n; async-signal-safe. */
static void sig_append(char *p, size_t *n, size_t size, const char *s)
{
	while (*s && *n + 1 < size)
		p[(*n)++] = *s++;
	p[*n] = 0;
}

void om_bundle_cleanup_on_signal(void)
{
	/* No strlen(), snprintf() or malloc() here: only what POSIX lists as
	 * async-signal-safe, hence the hand-made paths. */
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[i];
		char p[PATH_MAX + 32], digits[24];
		size_t n = 0, base;

		if (s->kind == SLOT_FILE) {
			unlink(s->path);
			continue;
		}
		if (s->kind != SLOT_STAGE)
			continue;
		sig_append(p, &n, sizeof p, s->path);
		sig_append(p, &n, sizeof p, "/");
		base = n;
		for (long k = s->count; k > 0; k--) {
			size_t d = sizeof digits - 1;
			digits[d] = 0;
			for (long v = k; v; v /= 10)
				digits[--d] = (char)('0' + v % 10);
			n = base;
			sig_append(p, &n, sizeof p, digits + d);
			unlink(p);
		}
		n = base;
		sig_append(p, &n, sizeof p, JOURNAL);
		unlink(p);
		rmdir(s->path);
		if (s->rmroot)
			rmdir(s->root);
	}
}

/* ---- walking a directory bundle in full-path order ---- */

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

static int dent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct dent *)a)->key, ((const struct dent *)b)->key);
}

static void level_free(struct level *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].key);
	free(l->v);
	if (l->fd >= 0)
		close(l->fd);
}

/* Why a directory entry cannot be part of a bundle, or NULL. */
static const char *type_problem(mode_t mode)
{
	if (S_ISREG(mode) || S_ISDIR(mode))
		return NULL;
	if (S_ISLNK(mode))
		return "symbolic links are not allowed";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "devices are not allowed";
	if (S_ISFIFO(mode))
		return "fifos are not allowed";
	if (S_ISSOCK(mode))
		return "sockets are not allowed";
	return "entry type not allowed";
}

/* Read, check and sort the directory fd (taken over) as a new level. */
static int walk_push(struct walk *w, int fd, size_t plen, struct om_err *err)
{
	struct level l = {.fd = fd, .plen = plen};
	size_t cap = 0;
	struct dirent *de;
	DIR *d;
	int dfd;

	if (w->depth == w->cap) {
		size_t ncap = w->cap ? 2 * w->cap : 8;
		struct level *nl = realloc(w->lv, ncap * sizeof *nl);
		if (!nl)
			goto nomem;
		w->lv = nl;
		w->cap = ncap;
	}
	if ((dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
	    !(d = fdopendir(dfd))) {
		if (dfd >= 0)
			close(dfd);
		entry_err(err, w->disp, plen ? w->path : ".", "cannot read directory: %s",
			  strerror(errno));
		goto fail;
	}
	while ((errno = 0, de = readdir(d))) {
		const char *name = de->d_name, *why;
		size_t n = strlen(name), room;
		struct stat st;

		if (name[0] == '.')
			continue;
		/* The path for messages, cut if it is too long. */
		room = sizeof w->path - 1 - plen;
		memcpy(w->path + plen, name, n < room ? n : room);
		w->path[plen + (n < room ? n : room)] = 0;
		/* d_type may be DT_UNKNOWN, and a link must be seen as a
		 * link: lstat semantics for every name. */
		if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			entry_err(err, w->disp, w->path, "cannot stat: %s", strerror(errno));
			goto fail_dir;
		}
		if (plen + n > OM_BUNDLE_PATH_MAX)
			why = "path too long";
		else if (!(why = type_problem(st.st_mode)))
			why = om_bundle_path_problem(name);
		if (why) {
			entry_err(err, w->disp, w->path, "%s", why);
			goto fail_dir;
		}
		if (l.n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			struct dent *nv = realloc(l.v, ncap * sizeof *nv);
			if (!nv)
				goto nomem_dir;
			l.v = nv;
			cap = ncap;
		}
		struct dent *e = &l.v[l.n];
		e->dir = S_ISDIR(st.st_mode);
		e->len = n + (size_t)e->dir;
		e->size = (uint64_t)st.st_size;
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		if (!(e->key = malloc(e->len + 1)))
			goto nomem_dir;
		memcpy(e->key, name, n);
		e->key[n] = '/';
		e->key[e->len] = 0;
		l.n++;
	}
	if (errno) {
		entry_err(err, w->disp, plen ? w->path : ".", "cannot read directory: %s",
			  strerror(errno));
		goto fail_dir;
	}
	closedir(d);
	if (l.n)
		qsort(l.v, l.n, sizeof *l.v, dent_cmp);
	w->lv[w->depth++] = l;
	return 0;
nomem_dir:
	om_err_set(err, "out of memory");
fail_dir:
	closedir(d);
	goto fail;
nomem:
	om_err_set(err, "out of memory");
fail:
	level_free(&l);
	return -1;
}

/* Start a walk of the directory rootfd (taken over). */
static struct walk *walk_open(int rootfd, const char *disp, struct om_err *err)
{
	struct walk *w = calloc(1, sizeof *w);

	if (!w) {
		close(rootfd);
		om_err_set(err, "out of memory");
		return NULL;
	}
	w->disp = disp;
	if (walk_push(w, rootfd, 0, err) < 0) {
		free(w->lv);
		free(w);
		return NULL;
	}
	return w;
}

static void walk_free(struct walk *w)
{
	if (!w)
		return;
	while (w->depth)
		level_free(&w->lv[--w->depth]);
	free(w->lv);
	free(w);
}

/* The next file: 1 with w->path, w->fd and w->leaf set, 0 at the end, -1. */
static int walk_next(struct walk *w, struct om_err *err)
{
	while (w->depth) {
		struct level *l = &w->lv[w->depth - 1];
		struct dent *d;
		size_t plen;
		int fd;

		if (l->i == l->n) {
			level_free(l);
			w->depth--;
			continue;
		}
		d = &l->v[l->i++];
		memcpy(w->path + l->plen, d->key, d->len + 1);
		w->count++;
		if (!d->dir) {
			w->fd = l->fd;
			w->leaf = w->path + l->plen;
			w->cur = d;
			return 1;
		}
		/* Open without the '/', which would make openat() follow a link. */
		d->key[d->len - 1] = 0;
		fd = openat(l->fd, d->key, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		d->key[d->len - 1] = '/';
		plen = l->plen + d->len;
		if (fd < 0) {
			w->path[plen - 1] = 0;
			entry_err(err, w->disp, w->path, "cannot open directory: %s", strerror(errno));
			return -1;
		}
		if (walk_push(w, fd, plen, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- writing ---- */

struct om_bundle_writer {
	enum om_bundle_form form;
	char *disp;
	int failed;
	struct order ord;
	unsigned char *buf, *buf2;
	int slot;
	/* The tar forms (tarw.h). */
	struct om_tarw *t;
	int fd, own_fd;
	mode_t mode;		/* of the files created: the archive, staged files */
	char *tmp, *dest;
	int unnamed;		/* fd is an O_TMPFILE file, tmp its future name */
	/* The directory form. */
	char *root;
	int rootfd, stagefd, created_root;
	char *stage;
	FILE *journal;
	long nstaged, marker_staged;
	int marker_gone;	/* the old manifest is not in the new bundle */
	int committed;
	struct walk *old;
	int old_has;
};

static void writer_free(struct om_bundle_writer *w)
{
	order_free(&w->ord);
	free(w->disp);
	free(w->buf);
	free(w->buf2);
	free(w->tmp);
	free(w->dest);
	free(w->root);
	free(w->stage);
	free(w);
}

static struct om_bundle_writer *writer_new(enum om_bundle_form form, const char *name,
					   struct om_err *err)
{
	struct om_bundle_writer *w = calloc(1, sizeof *w);

	if (!w) {
		om_err_set(err, "out of memory");
		return NULL;
	}
	w->form = form;
	w->mode = 0644;
	w->slot = -1;
	w->fd = w->rootfd = w->stagefd = -1;
	if (!(w->disp = display_name(name, 1)) || !(w->buf = malloc(CHUNK)) ||
	    !(w->buf2 = malloc(CHUNK))) {
		om_err_set(err, "out of memory");
		writer_free(w);
		return NULL;
	}
	return w;
}


/* The archive's bytes come from tarw.c, not libarchive's writer: the same
 * bytes, at a fraction of the cost per entry. */
static int tar_start(struct om_bundle_writer *w, struct om_err *err)
{
	struct om_err why;

	if (!(w->t = om_tarw_new(w->fd, w->form == OM_FORM_TAR_ZST ? ZSTD_LEVEL : 0, &why))) {
		om_err_set(err, "%s: cannot start the archive: %s", w->disp, why.msg);
		return -1;
	}
	return 0;
}

/* A tarw failure as "cannot write: REASON" for the entry. */
static int tar_entry_failed(struct om_bundle_writer *w, const char *path, struct om_err *why,
			    struct om_err *err)
{
	entry_err(err, w->disp, path, "cannot write: %s", msg_style(why->msg));
	return -1;
}

/* A tar header with the fixed metadata; dir paths end with '/'. */
static int tar_header(struct om_bundle_writer *w, const char *path, int dir, uint64_t size,
		      struct om_err *err)
{
	struct om_err why;

	if (om_tarw_header(w->t, path, dir, size, &why) < 0)
		return tar_entry_failed(w, path, &why, err);
	return 0;
}

/* The length of the longest directory prefix ("a/b/") that a and b share. */
static size_t common_dir(const char *a, const char *b)
{
	size_t i = 0, d = 0;

	while (a[i] && a[i] == b[i]) {
		if (a[i] == '/')
			d = i + 1;
		i++;
	}
	return d;
}

struct mem_source {
	const char *p;
	size_t left;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n, struct om_err *err);

static int tar_add(struct om_bundle_writer *w, const char *path, size_t common, uint64_t size,
		   om_bundle_source_fn *src, void *ctx, struct om_err *err)
{
	char dir[OM_BUNDLE_PATH_MAX + 2];
	struct om_err why;
	uint64_t done = 0;

	/* Each directory gets an entry just before its first file: "d/" sorts
	 * after everything that precedes "d/..." and before it. */
	for (const char *s = path + common; (s = strchr(s, '/')); s++) {
		size_t n = (size_t)(s - path) + 1;
		memcpy(dir, path, n);
		dir[n] = 0;
		if (tar_header(w, dir, 1, 0, err) < 0)
			return -1;
	}
	if (tar_header(w, path, 0, size, err) < 0)
		return -1;
	/* Bytes in memory go straight in, without a copy through w->buf. */
	if (src == mem_read) {
		const struct mem_source *m = ctx;
		if (om_tarw_data(w->t, m->p, m->left, &why) < 0)
			return tar_entry_failed(w, path, &why, err);
		return 0;
	}
	while (done < size) {
		size_t want = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
		ssize_t n = src(ctx, w->buf, want, err);
		if (n < 0)
			return -1;
		/* A short file would break the archive: an error here. */
		if (n == 0) {
			entry_err(err, w->disp, path, "the source ended after %llu of %llu bytes",
				  (unsigned long long)done, (unsigned long long)size);
			return -1;
		}
		if (om_tarw_data(w->t, w->buf, (size_t)n, &why) < 0)
			return tar_entry_failed(w, path, &why, err);
		done += (uint64_t)n;
	}
	return 0;
}

/* A random suffix for temporary names (they never reach a bundle's bytes). */
static void tmp_suffix(char out[7])
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	static uint64_t counter;
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
	    (++counter * 0x9e3779b97f4a7c15u);
	for (int i = 0; i < 6; i++) {
		x ^= x >> 31;
		x *= 0xbf58476d1ce4e5b9u;
		x ^= x >> 29;
		out[i] = al[x % 62];
	}
	out[6] = 0;
}

/* Create .NAME.tmp-XXXXXX beside path, O_EXCL, mode 0644 less the umask
 * (mkstemp() would make it 0600, and a bundle is no more secret than the
 * files it holds; a private writer's is 0600).  Beside it, so that the
 * rename stays in one file system. */
static int archive_file_open(struct om_bundle_writer *w, const char *path, struct om_err *err)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	size_t dirlen = (size_t)(base - path), baselen = strlen(base);
	struct stat st;
	char suffix[7];

	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		om_err_set(err, "%s: not a file name", w->disp);
		return -1;
	}
	/* Found now rather than by the rename at the very end. */
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		om_err_set(err, "%s is a directory, not an archive file", w->disp);
		return -1;
	}
	/* Room for ".", ".tmp-XXXXXX" within one component. */
	if (baselen > OM_BUNDLE_NAME_MAX - 12)
		baselen = OM_BUNDLE_NAME_MAX - 12;
	if (!(w->dest = strdup(path)) || !(w->tmp = malloc(dirlen + baselen + 13))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	/* Unnamed until the commit: a kill, even SIGKILL, leaves nothing. */
	if (dirlen) {
		char *dir = strndup(path, dirlen);
		if (!dir) {
			om_err_set(err, "out of memory");
			return -1;
		}
		w->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, w->mode);
		free(dir);
	} else {
		w->fd = open(".", O_TMPFILE | O_WRONLY | O_CLOEXEC, w->mode);
	}
	if (w->fd >= 0) {
		w->own_fd = w->unnamed = 1;
		sprintf(w->tmp, "%.*s.%.*s.tmp-", (int)dirlen, path, (int)baselen, base);
		return 0;
	}
	/* Else (a file system without O_TMPFILE) a named temporary file. */
	sigset_t held;
	om_signals_hold(&held);
	for (int tries = 0; tries < 100; tries++) {
		tmp_suffix(suffix);
		sprintf(w->tmp, "%.*s.%.*s.tmp-%s", (int)dirlen, path, (int)baselen, base, suffix);
		w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, w->mode);
		if (w->fd >= 0 || errno != EEXIST)
			break;
	}
	if (w->fd < 0) {
		om_err_set(err, "%s: cannot create a temporary file: %s", w->disp, strerror(errno));
		om_signals_release(&held);
		free(w->tmp);
		w->tmp = NULL;
		return -1;
	}
	w->own_fd = 1;
	w->slot = slot_take(SLOT_FILE, w->tmp, NULL, w->disp, err);
	om_signals_release(&held);
	return w->slot < 0 ? -1 : 0;
}

/*
 * Remove the staging directories at the top of the bundle that a killed
 * writer left: ours by their name, and dead because no process holds the
 * flock() that every writer keeps on its staging directory while it lives
 * (a live writer's is left alone).  They hold only files.  1 when one was
 * removed, 0 when none, -1 on error.
 */
static int remove_stale_stages(struct om_bundle_writer *w, struct om_err *err)
{
	int dfd = fcntl(w->rootfd, F_DUPFD_CLOEXEC, 0), found = 0;
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		om_err_set(err, "%s: %s", w->disp, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		int sfd;
		DIR *sd;
		struct dirent *f;

		if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0 ||
		    strlen(de->d_name) != strlen(STAGE_NAME))
			continue;
		sfd = openat(w->rootfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0)
			continue;
		if (flock(sfd, LOCK_EX | LOCK_NB) < 0 || !(sd = fdopendir(sfd))) {
			close(sfd);
			continue;
		}
		while ((f = readdir(sd)))
			if (strcmp(f->d_name, ".") != 0 && strcmp(f->d_name, "..") != 0)
				unlinkat(dirfd(sd), f->d_name, 0);
		closedir(sd);
		if (unlinkat(w->rootfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			om_err_set(err, "%s: cannot remove the staging directory '%s' left by a "
				   "killed writer: %s", w->disp, de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
		found = 1;
	}
	closedir(d);
	return found;
}

/* Open a directory bundle for updating (see the spec's update rule). */
static int dir_open(struct om_bundle_writer *w, const char *path, struct om_err *err)
{
	struct level *top;
	int has_marker = 0, stale, fd;

	if (!(w->root = strdup(path))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	w->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->rootfd < 0 && errno == ENOENT) {
		if (mkdir(path, 0777) < 0) {
			om_err_set(err, "cannot create directory %s: %s", w->disp, strerror(errno));
			return -1;
		}
		w->created_root = 1;
		w->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (w->rootfd < 0) {
		/* ENOTDIR: the path itself, or one of its parents, is a file. */
		struct stat st;
		int e = errno;
		om_err_set(err, "cannot open directory %s: %s", w->disp,
			   e != ENOTDIR ? strerror(e)
			   : stat(path, &st) == 0 ? "it exists and is not a directory"
			   : "a parent is not a directory");
		return -1;
	}
	if ((stale = remove_stale_stages(w, err)) < 0)
		return -1;
	/* The walk of the old bundle closes its descriptors as it goes. */
	if ((fd = fcntl(w->rootfd, F_DUPFD_CLOEXEC, 0)) < 0) {
		om_err_set(err, "%s: %s", w->disp, strerror(errno));
		return -1;
	}
	if (!(w->old = walk_open(fd, w->disp, err)))
		return -1;
	/* Updating deletes what the new bundle lacks: never do that to a
	 * directory that does not hold a bundle, or the remains of one whose
	 * writer was killed (its staging directory was still there). */
	top = &w->old->lv[0];
	for (size_t i = 0; i < top->n; i++)
		if (!top->v[i].dir && strcmp(top->v[i].key, OM_BUNDLE_MARKER) == 0)
			has_marker = 1;
	if (top->n && !has_marker && !stale) {
		om_err_set(err, "%s is not empty and holds no bundle (no %s)", w->disp,
			   OM_BUNDLE_MARKER);
		return -1;
	}
	if (!(w->stage = malloc(strlen(path) + sizeof STAGE_NAME + 1))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	sprintf(w->stage, "%s/%s", path, STAGE_NAME);
	sigset_t held;
	om_signals_hold(&held);
	if (!mkdtemp(w->stage)) {
		om_err_set(err, "%s: cannot create a staging directory: %s", w->disp,
			   strerror(errno));
		om_signals_release(&held);
		free(w->stage);
		w->stage = NULL;
		return -1;
	}
	w->slot = slot_take(SLOT_STAGE, w->stage, w->created_root ? path : NULL, w->disp, err);
	om_signals_release(&held);
	if (w->slot < 0)
		return -1;
	w->stagefd = open(w->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* Held while we live: the mark of a live writer for the next run's
	 * remove_stale_stages().  (Another run finding the directory in the
	 * instant before the lock takes it for stale; the journal's creation
	 * below then fails, and so does this run, cleanly.) */
	if (w->stagefd >= 0 && flock(w->stagefd, LOCK_EX | LOCK_NB) < 0) {
		om_err_set(err, "%s: cannot lock the staging directory: %s", w->disp,
			   strerror(errno));
		return -1;
	}
	fd = w->stagefd < 0 ? -1 :
	     openat(w->stagefd, JOURNAL, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(w->journal = fdopen(fd, "w+"))) {
		om_err_set(err, "%s: cannot create the staging journal: %s", w->disp,
			   strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((w->old_has = walk_next(w->old, err)) < 0)
		return -1;
	return 0;
}

/* Staged files are numbered, so removing them needs no listing (the
 * signal handler does the same from its table). */
static void dir_cleanup(struct om_bundle_writer *w)
{
	char name[24];

	if (w->journal)
		fclose(w->journal);
	w->journal = NULL;
	if (w->stagefd >= 0) {
		for (long k = w->nstaged; k > 0; k--) {
			snprintf(name, sizeof name, "%ld", k);
			unlinkat(w->stagefd, name, 0);
		}
		unlinkat(w->stagefd, JOURNAL, 0);
		/* After a commit: an old manifest that was replaced.  (A commit
		 * that failed after moving it aside keeps it: see dir_commit.) */
		if (w->committed)
			unlinkat(w->stagefd, HELD_MARKER, 0);
		close(w->stagefd);
		w->stagefd = -1;
	}
	if (w->stage)
		rmdir(w->stage);
	if (w->rootfd >= 0)
		close(w->rootfd);
	w->rootfd = -1;
	if (w->created_root)
		rmdir(w->root);
	walk_free(w->old);
	w->old = NULL;
}

static void tar_cleanup(struct om_bundle_writer *w)
{
	/* An unfinished stream ends where it is: no end-of-archive marker,
	 * so that a failed stream does not look complete. */
	om_tarw_free(w->t);
	w->t = NULL;
	if (w->own_fd && w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp && !w->unnamed)
		unlink(w->tmp);
}

/*
 * Give the O_TMPFILE file its temporary name, .NAME.tmp-XXXXXX, registered
 * for the signal handler like a named one, for the instant before the
 * rename.  linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; /proc/self/fd
 * does the same for anyone.
 */
static int tmpfile_link(struct om_bundle_writer *w, struct om_err *err)
{
	size_t n = strlen(w->tmp);
	char proc[64], suffix[7];
	sigset_t held;
	int rc = -1;

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
	om_signals_hold(&held);
	for (int tries = 0; tries < 100; tries++) {
		tmp_suffix(suffix);
		memcpy(w->tmp + n, suffix, 7);
		rc = linkat(w->fd, "", AT_FDCWD, w->tmp, AT_EMPTY_PATH);
		if (rc < 0 && errno != EEXIST)
			rc = linkat(AT_FDCWD, proc, AT_FDCWD, w->tmp, AT_SYMLINK_FOLLOW);
		if (rc == 0 || errno != EEXIST)
			break;
		w->tmp[n] = 0;
	}
	if (rc == 0) {
		w->unnamed = 0;
		w->slot = slot_take(SLOT_FILE, w->tmp, NULL, w->disp, err);
		if (w->slot < 0)
			unlink(w->tmp);
	} else {
		om_err_set(err, "%s: cannot name the temporary file: %s", w->disp,
			   strerror(errno));
	}
	om_signals_release(&held);
	if (rc < 0 || w->slot < 0) {
		free(w->tmp);
		w->tmp = NULL;
		return -1;
	}
	return 0;
}

void om_bundle_writer_abort(struct om_bundle_writer *w)
{
	if (!w)
		return;
	if (w->form == OM_FORM_DIR)
		dir_cleanup(w);
	else
		tar_cleanup(w);
	slot_drop(w->slot);
	writer_free(w);
}

struct om_bundle_writer *om_bundle_writer_open_fd(int fd, enum om_bundle_form form,
						   const char *name, struct om_err *err)
{
	struct om_bundle_writer *w;

	if (form == OM_FORM_DIR) {
		om_err_set(err, "cannot write a directory bundle to a stream");
		return NULL;
	}
	if (!(w = writer_new(form, name, err)))
		return NULL;
	/* Not owned: the program closes standard output and checks that. */
	w->fd = fd;
	if (tar_start(w, err) < 0) {
		om_bundle_writer_abort(w);
		return NULL;
	}
	return w;
}

static struct om_bundle_writer *writer_open(const char *path, enum om_bundle_form form,
					    mode_t mode, struct om_err *err)
{
	struct om_bundle_writer *w;
	struct stat st;

	if (strcmp(path, "-") == 0)
		return om_bundle_writer_open_fd(STDOUT_FILENO, form, path, err);
	if (stat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
		/* A device (-o /dev/null): a stream written into it, never
		 * replaced by a file; a tar when the name asks for no form. */
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			om_err_set(err, "cannot open '%s': %s", path, strerror(errno));
			return NULL;
		}
		if (isatty(fd)) {
			close(fd);
			om_err_set(err, "'%s' is a terminal: no bundle written to it", path);
			return NULL;
		}
		if (!(w = om_bundle_writer_open_fd(fd, form == OM_FORM_DIR ? OM_FORM_TAR : form,
						   path, err))) {
			close(fd);
			return NULL;
		}
		w->own_fd = 1;
		return w;
	}
	if (!(w = writer_new(form, path, err)))
		return NULL;
	w->mode = mode;
	if (form == OM_FORM_DIR ? dir_open(w, path, err) < 0 :
	    archive_file_open(w, path, err) < 0 || tar_start(w, err) < 0) {
		om_bundle_writer_abort(w);
		return NULL;
	}
	return w;
}

struct om_bundle_writer *om_bundle_writer_open_as(const char *path, enum om_bundle_form form,
						   struct om_err *err)
{
	return writer_open(path, form, 0644, err);
}

struct om_bundle_writer *om_bundle_writer_open(const char *path, struct om_err *err)
{
	return writer_open(path, om_bundle_form_for_path(path), 0644, err);
}

struct om_bundle_writer *om_bundle_writer_open_private(const char *path, struct om_err *err)
{
	return writer_open(path, om_bundle_form_for_path(path), 0600, err);
}

/* The journal keeps the pending renames and removals on disk, not in
 * memory: a full export stages hundreds of thousands of files.  A record
 * is 'R' or 'D', the path, and a NUL. */
static int journal_add(struct om_bundle_writer *w, char op, const char *path, struct om_err *err)
{
	if (op == 'D' && strcmp(path, OM_BUNDLE_MARKER) == 0)
		w->marker_gone = 1;
	if (fputc(op, w->journal) == EOF || fputs(path, w->journal) == EOF ||
	    fputc(0, w->journal) == EOF) {
		om_err_set(err, "%s: cannot write the staging journal: %s", w->disp,
			   strerror(errno));
		return -1;
	}
	return 0;
}

/* Make staging file number ++nstaged. */
static int stage_create(struct om_bundle_writer *w, const char *path, struct om_err *err)
{
	char name[24];
	int fd;

	if (w->nstaged >= INT_MAX) {
		entry_err(err, w->disp, path, "too many files");
		return -1;
	}
	/* Counted before it exists, so that a signal never misses it. */
	slots[w->slot].count = (sig_atomic_t)++w->nstaged;
	snprintf(name, sizeof name, "%ld", w->nstaged);
	if ((fd = openat(w->stagefd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, w->mode)) < 0)
		entry_err(err, w->disp, path, "cannot create a staging file: %s", strerror(errno));
	return fd;
}

/* The old file at path, when it is a regular file of exactly size bytes.
 * Any failure just means "not the same": the new file is staged, and the
 * rename at commit reports real trouble. */
static int open_same_size(struct om_bundle_writer *w, const char *path, uint64_t size)
{
	const char *leaf;
	struct stat st;
	int pfd = open_parent(w->rootfd, path, 0, &leaf), fd;

	if (pfd < 0)
		return -1;
	fd = openat(pfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(pfd);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * Stage path's new bytes unless they equal the file already there.  While
 * they match nothing is written; at the first difference the matching
 * prefix is copied from the old file and the rest follows from the source,
 * so an unchanged file costs a read and is never touched.
 */
static int dir_add(struct om_bundle_writer *w, const char *path, uint64_t size,
		   om_bundle_source_fn *src, void *ctx, struct om_err *err)
{
	int oldfd, fd = -1, rc = -1;
	uint64_t done = 0;

	/* Old files that sort before path will not come again: vanished. */
	while (w->old_has > 0 && strcmp(w->old->path, path) <= 0) {
		if (strcmp(w->old->path, path) < 0 && journal_add(w, 'D', w->old->path, err) < 0)
			return -1;
		if ((w->old_has = walk_next(w->old, err)) < 0)
			return -1;
	}
	if ((oldfd = open_same_size(w, path, size)) < 0 && (fd = stage_create(w, path, err)) < 0)
		return -1;
	while (done < size) {
		size_t want = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
		ssize_t n = src(ctx, w->buf, want, err);
		if (n < 0)
			goto out;
		if (n == 0) {
			entry_err(err, w->disp, path, "the source ended after %llu of %llu bytes",
				  (unsigned long long)done, (unsigned long long)size);
			goto out;
		}
		if (fd < 0) {
			/* Still equal so far: read the old file in step. */
			if (read_full(oldfd, w->buf2, (size_t)n) == n && memcmp(w->buf, w->buf2, (size_t)n) == 0) {
				done += (uint64_t)n;
				continue;
			}
			if ((fd = stage_create(w, path, err)) < 0)
				goto out;
			for (uint64_t off = 0; off < done;) {
				size_t k = done - off < CHUNK ? (size_t)(done - off) : CHUNK;
				if (pread(oldfd, w->buf2, k, (off_t)off) != (ssize_t)k ||
				    write_full(fd, w->buf2, k) < 0) {
					entry_err(err, w->disp, path, "cannot copy the old file: %s",
						  strerror(errno));
					goto out;
				}
				off += k;
			}
		}
		if (write_full(fd, w->buf, (size_t)n) < 0) {
			entry_err(err, w->disp, path, "cannot write: %s", strerror(errno));
			goto out;
		}
		done += (uint64_t)n;
	}
	if (fd >= 0) {
		int c = close(fd);
		fd = -1;
		if (c < 0) {
			entry_err(err, w->disp, path, "cannot write: %s", strerror(errno));
			goto out;
		}
		if (journal_add(w, 'R', path, err) < 0)
			goto out;
		if (strcmp(path, OM_BUNDLE_MARKER) == 0)
			w->marker_staged = w->nstaged;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (oldfd >= 0)
		close(oldfd);
	return rc;
}

int om_bundle_add_stream(struct om_bundle_writer *w, const char *path, uint64_t size,
			 om_bundle_source_fn *src, void *ctx, struct om_err *err)
{
	const char *why;
	size_t common, conflict = 0;
	int rc;

	if (w->failed) {
		om_err_set(err, "%s: cannot add after an earlier error", w->disp);
		return -1;
	}
	/* Set now and cleared on success: every way out below leaves a
	 * writer that takes nothing more. */
	w->failed = 1;
	if ((why = om_bundle_path_problem(path))) {
		entry_err(err, w->disp, path, "%s", why);
		return -1;
	}
	common = w->ord.have ? common_dir(w->ord.prev, path) : 0;
	if ((rc = order_push(&w->ord, path, 1, &conflict)) != ORD_OK) {
		order_err(err, w->disp, &w->ord, path, rc, conflict);
		return -1;
	}
	if (w->form == OM_FORM_DIR) {
		rc = dir_add(w, path, size, src, ctx, err);
	} else {
		rc = tar_add(w, path, common, size, src, ctx, err);
	}
	if (rc == 0)
		w->failed = 0;
	return rc;
}

/* Bytes in memory are a source like any other, so that the directory
 * comparison and the tar writer have one path each. */
static ssize_t mem_read(void *ctx, void *buf, size_t n, struct om_err *err)
{
	struct mem_source *m = ctx;

	(void)err;
	if (n > m->left)
		n = m->left;
	if (n)
		memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (ssize_t)n;
}

int om_bundle_add(struct om_bundle_writer *w, const char *path, const void *data, size_t len,
		  struct om_err *err)
{
	struct mem_source m = {data, len};

	return om_bundle_add_stream(w, path, len, mem_read, &m, err);
}

struct fd_source {
	int fd;
	const char *disp, *path;
};

static ssize_t fd_read(void *ctx, void *buf, size_t n, struct om_err *err)
{
	struct fd_source *s = ctx;

	for (;;) {
		ssize_t k = read(s->fd, buf, n);
		if (k >= 0)
			return k;
		if (errno != EINTR) {
			entry_err(err, s->disp, s->path, "cannot read the source: %s", strerror(errno));
			return -1;
		}
	}
}

int om_bundle_add_fd(struct om_bundle_writer *w, const char *path, int fd, uint64_t size,
		     struct om_err *err)
{
	struct fd_source s = {fd, w->disp, path};

	return om_bundle_add_stream(w, path, size, fd_read, &s, err);
}

/* Remove a vanished file and the directories its removal left empty.  A
 * file already gone is no error: someone else's cleanup is not ours to
 * fail on. */
static int dir_remove(struct om_bundle_writer *w, char *path, struct om_err *err)
{
	const char *leaf;
	int pfd = open_parent(w->rootfd, path, 0, &leaf), rc;
	char *slash;

	if (pfd < 0)
		return 0;
	rc = unlinkat(pfd, leaf, 0);
	close(pfd);
	if (rc < 0 && errno != ENOENT) {
		entry_err(err, w->disp, path, "cannot remove: %s", strerror(errno));
		return -1;
	}
	/* rmdir fails on a directory that still holds anything, dot-files
	 * included, which is where pruning stops. */
	while ((slash = strrchr(path, '/'))) {
		*slash = 0;
		if ((pfd = open_parent(w->rootfd, path, 0, &leaf)) < 0)
			break;
		rc = unlinkat(pfd, leaf, AT_REMOVEDIR);
		close(pfd);
		if (rc < 0)
			break;
	}
	return 0;
}

static int dir_commit(struct om_bundle_writer *w, struct om_err *err)
{
	char *rec = NULL, name[24];
	size_t cap = 0;
	long k;

	while (w->old_has > 0) {
		if (journal_add(w, 'D', w->old->path, err) < 0)
			return -1;
		if ((w->old_has = walk_next(w->old, err)) < 0)
			return -1;
	}
	if (fflush(w->journal) == EOF) {
		om_err_set(err, "%s: cannot write the staging journal: %s", w->disp,
			   strerror(errno));
		return -1;
	}
	/*
	 * No manifest at the top until the bundle is whole: the old one (if
	 * anything changes) waits in the staging directory, the new one comes
	 * last.  A commit cut short by a kill leaves no manifest, which readers
	 * refuse; the next run takes the directory as its own (the staging
	 * directory is still there) and finishes the job.
	 */
	if (ftell(w->journal) > 0 &&
	    renameat(w->rootfd, OM_BUNDLE_MARKER, w->stagefd, HELD_MARKER) < 0 && errno != ENOENT) {
		entry_err(err, w->disp, OM_BUNDLE_MARKER, "cannot move aside: %s", strerror(errno));
		goto fail;
	}
	/* Removals first: a file may replace a directory that they empty. */
	for (int pass = 0; pass < 2; pass++) {
		rewind(w->journal);
		k = 0;
		while (getdelim(&rec, &cap, 0, w->journal) > 0) {
			const char *leaf;
			int pfd;

			if (pass == 0 && rec[0] == 'D' && dir_remove(w, rec + 1, err) < 0)
				goto fail;
			if (pass == 0 || rec[0] != 'R' || ++k == w->marker_staged)
				continue;
			snprintf(name, sizeof name, "%ld", k);
			if ((pfd = open_parent(w->rootfd, rec + 1, 1, &leaf)) < 0) {
				entry_err(err, w->disp, rec + 1, "cannot create its directory: %s",
					  strerror(errno));
				goto fail;
			}
			if (renameat(w->stagefd, name, pfd, leaf) < 0) {
				entry_err(err, w->disp, rec + 1, "cannot rename into place: %s",
					  strerror(errno));
				close(pfd);
				goto fail;
			}
			close(pfd);
		}
		if (ferror(w->journal)) {
			om_err_set(err, "%s: cannot read the staging journal", w->disp);
			goto fail;
		}
	}
	/* The new manifest, or the old one back when it did not change; an
	 * old one the new bundle lacks stays removed. */
	if (w->marker_staged)
		snprintf(name, sizeof name, "%ld", w->marker_staged);
	else
		snprintf(name, sizeof name, "%s", HELD_MARKER);
	if ((w->marker_staged || !w->marker_gone) &&
	    renameat(w->stagefd, name, w->rootfd, OM_BUNDLE_MARKER) < 0 &&
	    (errno != ENOENT || w->marker_staged)) {
		entry_err(err, w->disp, OM_BUNDLE_MARKER, "cannot rename into place: %s",
			  strerror(errno));
		goto fail;
	}
	free(rec);
	/* The bundle may be empty: its directory stays all the same.  And
	 * the staged files are all gone. */
	w->created_root = 0;
	w->nstaged = 0;
	w->committed = 1;
	return 0;
fail:
	free(rec);
	return -1;
}

/* Write the end of the archive and, for a file, put it in place. */
static int tar_commit(struct om_bundle_writer *w, struct om_err *err)
{
	struct om_err why;
	char *slash;
	int dfd;

	if (om_tarw_finish(w->t, &why) < 0) {
		om_err_set(err, "%s: cannot write: %s", w->disp, msg_style(why.msg));
		return -1;
	}
	if (!w->tmp) {
		/* A device opened here: its close can fail too. */
		if (w->own_fd && close(w->fd) < 0) {
			w->fd = -1;
			om_err_set(err, "%s: cannot write: %s", w->disp, strerror(errno));
			return -1;
		}
		if (w->own_fd)
			w->fd = -1;
		return 0;
	}
	/* Data on disk before the name: else a crash could leave an empty
	 * file under the final name. */
	if (fsync(w->fd) < 0) {
		om_err_set(err, "%s: cannot write: %s", w->disp, strerror(errno));
		return -1;
	}
	if (w->unnamed && tmpfile_link(w, err) < 0)
		return -1;
	if (close(w->fd) < 0) {
		w->fd = -1;
		om_err_set(err, "%s: cannot write: %s", w->disp, strerror(errno));
		return -1;
	}
	w->fd = -1;
	if (rename(w->tmp, w->dest) < 0) {
		om_err_set(err, "%s: cannot rename the temporary file into place: %s", w->disp,
			   strerror(errno));
		return -1;
	}
	free(w->tmp);
	w->tmp = NULL;
	/* The rename itself reaches the disk with the directory. */
	slash = strrchr(w->dest, '/');
	if (slash == w->dest)
		dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else if (slash) {
		*slash = 0;
		dfd = open(w->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
	} else {
		dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int om_bundle_writer_commit(struct om_bundle_writer *w, struct om_err *err)
{
	int rc;

	if (w->failed) {
		om_err_set(err, "%s: not written after an earlier error", w->disp);
		om_bundle_writer_abort(w);
		return -1;
	}
	rc = w->form == OM_FORM_DIR ? dir_commit(w, err) : tar_commit(w, err);
	/* After a commit nothing temporary is left, so abort only frees; after
	 * a failed one it removes what is left. */
	om_bundle_writer_abort(w);
	return rc;
}

/* ---- reading ---- */

struct om_bundle_reader {
	char *disp;
	struct om_bundle_limits lim;
	enum om_bundle_form form;
	int failed, done;
	locale_t loc;
	int fd, own_fd, is_pipe;
	int in_entry;
	uint64_t size, got, count, total;
	/* Archives.  The current entry's path is ord.prev; norm is the name
	 * being checked (a directory's with its '/'). */
	struct archive *a;
	unsigned char *rbuf;
	/*
	 * The plain tar stream, as handed to libarchive, is kept in view so
	 * that the headers are read as they are (see tar_view_check): the
	 * last two blocks (libarchive holds no unconsumed byte older than
	 * that between entries), and, while a header is being read, every
	 * byte from its start in win.  zstd is decompressed here, not by
	 * libarchive, so that the view is of the tar.
	 */
	unsigned char *blk[2];
	size_t blk_len[2];
	uint64_t blk_off[2];
	int cur_blk;
	uint64_t handed;	/* plain bytes handed to libarchive */
	unsigned char *win;
	size_t win_len, win_cap;
	uint64_t win_off;
	int in_header, win_over;
	unsigned char pre[4];	/* read to tell tar from zstd */
	size_t pre_len;
	ZSTD_DStream *zd;
	unsigned char *zin;
	ZSTD_inBuffer zib;
	size_t zret;
	int zin_eof;
	struct order ord;
	char norm[OM_BUNDLE_PATH_MAX + 3];
	char raw[OM_BUNDLE_PATH_MAX + 3];	/* the entry's path as stored */
	/* Directories. */
	struct walk *walk;
	int cur_fd, checked_end;
	/* om_bundle_read_at(): the directories of the last path read, open
	 * (at_fd[j] is at_path up to at_end[j]), for the next path below them. */
	char at_path[OM_BUNDLE_PATH_MAX + 1];
	int at_fd[OM_BUNDLE_PATH_MAX / 2 + 1];
	size_t at_end[OM_BUNDLE_PATH_MAX / 2 + 1];
	size_t at_n;
};

/* Read the descriptor, retrying on EINTR. */
static ssize_t read_retry(int fd, void *buf, size_t n)
{
	for (;;) {
		ssize_t k = read(fd, buf, n);
		if (k >= 0 || errno != EINTR)
			return k;
	}
}

/* The next bytes of the plain tar stream into buf (CHUNK): the count, 0 at
 * the end, -1 with libarchive's error set. */
static ssize_t plain_read(struct archive *a, struct om_bundle_reader *r, unsigned char *buf)
{
	if (!r->zd) {
		size_t pre = r->pre_len;
		ssize_t n;
		memcpy(buf, r->pre, pre);
		r->pre_len = 0;
		n = read_retry(r->fd, buf + pre, CHUNK - pre);
		if (n < 0) {
			archive_set_error(a, errno, "cannot read: %s", strerror(errno));
			return -1;
		}
		return n + (ssize_t)pre;
	}
	for (;;) {
		ZSTD_outBuffer out = {buf, CHUNK, 0};
		if (r->zib.pos == r->zib.size && !r->zin_eof) {
			ssize_t n = read_retry(r->fd, r->zin, CHUNK);
			if (n < 0) {
				archive_set_error(a, errno, "cannot read: %s", strerror(errno));
				return -1;
			}
			r->zib.src = r->zin;
			r->zib.size = (size_t)n;
			r->zib.pos = 0;
			r->zin_eof = n == 0;
		}
		if (r->zib.pos == r->zib.size && r->zin_eof) {
			/* zret is 0 only where a frame ended. */
			if (r->zret != 0) {
				archive_set_error(a, EIO, "truncated zstd input");
				return -1;
			}
			return 0;
		}
		r->zret = ZSTD_decompressStream(r->zd, &out, &r->zib);
		if (ZSTD_isError(r->zret)) {
			archive_set_error(a, EIO, "zstd: %s",
					  ZSTD_getErrorName(r->zret));
			return -1;
		}
		if (out.pos > 0)
			return (ssize_t)out.pos;
	}
}

/* Keep len bytes at p, just handed out, in the header window. */
static void win_add(struct om_bundle_reader *r, const unsigned char *p, size_t len)
{
	if (r->win_over)
		return;
	if (r->win_len + len > r->win_cap) {
		size_t cap = r->win_cap ? r->win_cap : 4 * CHUNK;
		unsigned char *q;
		while (cap < r->win_len + len)
			cap *= 2;
		/* libarchive's own bound is 1 MiB a special header. */
		if (cap > TAR_VIEW_MAX || !(q = realloc(r->win, cap))) {
			r->win_over = 1;
			return;
		}
		r->win = q;
		r->win_cap = cap;
	}
	memcpy(r->win + r->win_len, p, len);
	r->win_len += len;
}

/* Our own callback rather than archive_read_open_fd(): the descriptor
 * stays ours to drain, nothing tries to seek a pipe, and the plain stream
 * is in view.  The two blocks alternate: libarchive is done with a block
 * when it asks for the next but one. */
static la_ssize_t tar_read_cb(struct archive *a, void *ctx, const void **buf)
{
	struct om_bundle_reader *r = ctx;
	int b = r->cur_blk ^ 1;
	ssize_t n = plain_read(a, r, r->blk[b]);

	if (n < 0)
		return -1;
	r->cur_blk = b;
	r->blk_off[b] = r->handed;
	r->blk_len[b] = (size_t)n;
	r->handed += (uint64_t)n;
	if (r->in_header)
		win_add(r, r->blk[b], (size_t)n);
	*buf = r->blk[b];
	return n;
}

/* Start the header window at plain offset pos (a header's start), from
 * the blocks in hand: 0, or -1 when they no longer hold it. */
static int win_start(struct om_bundle_reader *r, uint64_t pos)
{
	r->win_len = 0;
	r->win_off = pos;
	r->win_over = 0;
	r->in_header = 1;
	for (int k = 0; k < 2; k++) {
		int b = r->cur_blk ^ 1 ^ k;	/* the older block first */
		uint64_t end = r->blk_off[b] + r->blk_len[b];
		if (end <= pos)
			continue;
		if (r->blk_off[b] > pos && r->win_len == 0)
			return -1;
		uint64_t from = pos > r->blk_off[b] ? pos - r->blk_off[b] : 0;
		win_add(r, r->blk[b] + from, (size_t)(end - r->blk_off[b] - from));
	}
	if (r->win_len == 0 && r->handed > pos)
		return -1;
	return 0;
}

void om_bundle_reader_close(struct om_bundle_reader *r)
{
	if (!r)
		return;
	if (r->a) {
		locale_t old = uselocale(r->loc);
		archive_read_free(r->a);
		uselocale(old);
	}
	walk_free(r->walk);
	while (r->at_n)
		close(r->at_fd[--r->at_n]);
	if (r->cur_fd >= 0)
		close(r->cur_fd);
	if (r->own_fd && r->fd >= 0)
		close(r->fd);
	order_free(&r->ord);
	free(r->rbuf);
	free(r->blk[0]);
	free(r->blk[1]);
	free(r->win);
	free(r->zin);
	ZSTD_freeDStream(r->zd);
	free(r->disp);
	free(r);
}

static struct om_bundle_reader *reader_from_fd(int fd, int own, const char *name,
					       const struct om_bundle_limits *lim,
					       struct om_err *err)
{
	struct om_bundle_reader *r = calloc(1, sizeof *r);
	struct stat st;
	char msg[256];
	locale_t old;
	int rc;

	if (!r || !(r->disp = display_name(name, 0))) {
		if (own)
			close(fd);
		free(r);
		om_err_set(err, "out of memory");
		return NULL;
	}
	r->fd = fd;
	r->own_fd = own;
	r->cur_fd = -1;
	r->lim = lim ? *lim : om_bundle_default_limits;
	/* One open, then fstat: what is read is what was looked at. */
	if (fstat(fd, &st) < 0) {
		om_err_set(err, "cannot read %s: %s", r->disp, strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		int wfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		r->form = OM_FORM_DIR;
		if (wfd < 0) {
			om_err_set(err, "cannot read %s: %s", r->disp, strerror(errno));
			goto fail;
		}
		if (!(r->walk = walk_open(wfd, r->disp, err)))
			goto fail;
		return r;
	}
	r->is_pipe = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
	if (!(r->loc = get_utf8_locale(err)))
		goto fail;
	if (!(r->rbuf = malloc(CHUNK)) || !(r->blk[0] = malloc(CHUNK)) ||
	    !(r->blk[1] = malloc(CHUNK)) || !(r->a = archive_read_new())) {
		om_err_set(err, "out of memory");
		goto fail;
	}
	/* A zstd frame (or a skippable one) first: the stream is decompressed
	 * here, and what it holds must be a tar (zstd inside zstd is not). */
	{
		unsigned char magic[4];
		ssize_t n = read_full(fd, magic, 4);
		uint32_t m = n == 4 ? (uint32_t)magic[0] | (uint32_t)magic[1] << 8 |
				      (uint32_t)magic[2] << 16 | (uint32_t)magic[3] << 24 : 0;
		if (n < 0) {
			om_err_set(err, "cannot read %s: %s", r->disp, strerror(errno));
			goto fail;
		}
		if (m == ZSTD_MAGICNUMBER || (m & ZSTD_MAGIC_SKIPPABLE_MASK) == ZSTD_MAGIC_SKIPPABLE_START) {
			if (!(r->zd = ZSTD_createDStream()) || !(r->zin = malloc(CHUNK))) {
				om_err_set(err, "out of memory");
				goto fail;
			}
			ZSTD_initDStream(r->zd);
			r->zret = 1;
			r->form = OM_FORM_TAR_ZST;
		} else {
			r->form = OM_FORM_TAR;
		}
		/* The bytes read go first, through the one path. */
		if (r->zd) {
			memcpy(r->zin, magic, (size_t)n);
			r->zib.src = r->zin;
			r->zib.size = (size_t)n;
		} else {
			r->pre_len = (size_t)n;
			memcpy(r->pre, magic, (size_t)n);
		}
	}
	old = uselocale(r->loc);
	/* Only tar: anything else, compressed or not, is not a bundle. */
	rc = archive_read_support_format_tar(r->a);
	if (rc == ARCHIVE_OK)
		rc = archive_read_open(r->a, r, NULL, tar_read_cb, NULL);
	uselocale(old);
	if (rc != ARCHIVE_OK) {
		la_msg(r->a, msg, sizeof msg);
		if (strstr(msg, "nrecognized archive format"))
			om_err_set(err, "%s is not a bundle: not a tar or tar.zst stream", r->disp);
		else
			om_err_set(err, "%s: %s", r->disp, msg);
		goto fail;
	}
	return r;
fail:
	om_bundle_reader_close(r);
	return NULL;
}

struct om_bundle_reader *om_bundle_reader_open_fd(int fd, const char *name,
						  const struct om_bundle_limits *limits,
						  struct om_err *err)
{
	return reader_from_fd(fd, 0, name, limits, err);
}

struct om_bundle_reader *om_bundle_reader_open_with(const char *path,
						    const struct om_bundle_limits *limits,
						    struct om_err *err)
{
	struct qname q;
	int fd;

	if (strcmp(path, "-") == 0)
		return reader_from_fd(STDIN_FILENO, 0, path, limits, err);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		om_err_set(err, "cannot open '%s': %s", quote(&q, path), strerror(errno));
		return NULL;
	}
	return reader_from_fd(fd, 1, path, limits, err);
}

struct om_bundle_reader *om_bundle_reader_open(const char *path, struct om_err *err)
{
	return om_bundle_reader_open_with(path, NULL, err);
}

enum om_bundle_form om_bundle_reader_form(const struct om_bundle_reader *r)
{
	return r->form;
}

/* The reader's error about its archive: after the last entry, or at the
 * start. */
static int tar_fail(struct om_bundle_reader *r, struct om_err *err, const char *why)
{
	struct qname q;

	r->failed = 1;
	if (r->ord.have)
		om_err_set(err, "%s: after entry '%s': %s", r->disp, quote(&q, r->ord.prev), why);
	else
		om_err_set(err, "%s: %s", r->disp, why);
	return -1;
}

static int entry_fail(struct om_bundle_reader *r, struct om_err *err, const char *path,
		      const char *why)
{
	r->failed = 1;
	entry_err(err, r->disp, path, "%s", why);
	return -1;
}

/* Why a tar entry of this kind cannot be in a bundle, or NULL. */
static const char *tar_type_problem(struct archive_entry *e)
{
	if (archive_entry_hardlink(e))
		return "hard links are not allowed";
	switch (archive_entry_filetype(e)) {
	case AE_IFREG:
		return archive_entry_sparse_count(e) > 0 ? "sparse files are not allowed" : NULL;
	case AE_IFDIR:
		return NULL;
	case AE_IFLNK:
		return "symbolic links are not allowed";
	case AE_IFCHR:
	case AE_IFBLK:
		return "devices are not allowed";
	case AE_IFIFO:
		return "fifos are not allowed";
	case AE_IFSOCK:
		return "sockets are not allowed";
	default:
		return "entry type not allowed";
	}
}

/* ---- the tar headers as they are ---- */

/*
 * libarchive converts a pax path from UTF-8, composing it (NFC), cuts it at
 * a NUL, and reads entry types it does not know ('7', 'Z') as files.  So
 * the reader takes each entry's path and type from the headers' own bytes,
 * kept in view while libarchive reads them (r->win): the special headers
 * (pax 'x', GNU 'L' long names, ...) and then the entry's header.
 */

/* A header's size field (12 bytes): octal, or base-256 when its first bit
 * is set; UINT64_MAX when malformed or too big. */
static uint64_t tar_size(const unsigned char *f)
{
	uint64_t v = 0;
	size_t i = 0;

	if (f[0] & 0x80) {
		if (f[0] != 0x80)
			return UINT64_MAX;
		for (i = 1; i < 12; i++) {
			if (v >> 55)
				return UINT64_MAX;
			v = v << 8 | f[i];
		}
		return v;
	}
	while (i < 12 && f[i] == ' ')
		i++;
	for (; i < 12 && f[i] >= '0' && f[i] <= '7'; i++)
		v = v << 3 | (uint64_t)(f[i] - '0');
	for (; i < 12; i++)
		if (f[i] != ' ' && f[i] != 0)
			return UINT64_MAX;
	return v;
}

/* The records of a pax extended header: NULL, or why they are refused;
 * a "path" record's value in *path. */
static const char *pax_records(const unsigned char *p, size_t n, const unsigned char **path,
			       size_t *plen)
{
	while (n > 0) {
		size_t len = 0, i = 0;
		const unsigned char *eq;
		while (i < n && p[i] >= '0' && p[i] <= '9' && len < n)
			len = len * 10 + (size_t)(p[i++] - '0');
		if (i == 0 || i >= n || p[i] != ' ' || len <= i + 1 || len > n || p[len - 1] != '\n')
			return "malformed pax header";
		if (!(eq = memchr(p + i + 1, '=', len - i - 2)))
			return "malformed pax header";
		if ((size_t)(eq - p) - i - 1 == 4 && memcmp(p + i + 1, "path", 4) == 0) {
			*path = eq + 1;
			*plen = (size_t)(p + len - 1 - *path);
			if (memchr(*path, 0, *plen))
				return "NUL in the pax path";
		}
		p += len;
		n -= len;
	}
	return NULL;
}

/*
 * Read the headers at p (n bytes): special headers, then the entry's
 * header, which ends them when whole is set.  The entry's path (pax, GNU
 * long name, or ustar prefix and name) goes to path (room for
 * OM_BUNDLE_PATH_MAX + 2 bytes and a NUL; *plen 0 when none was found), its
 * type flag to *type.  NULL, or why the headers are refused.  With whole
 * unset (after libarchive failed), only the path is looked for.
 */
static const char *tar_view(const unsigned char *p, size_t n, int whole, char *path, size_t *plen,
			    int *type)
{
	const unsigned char *pax = NULL, *gnu = NULL, *name = NULL;
	size_t paxlen = 0, gnulen = 0, off = 0, k;
	const char *bad = NULL;

	*plen = 0;
	*type = -1;
	while (off + 512 <= n) {
		const unsigned char *h = p + off;
		uint64_t size = tar_size(h + 124);
		int t = h[156];
		if (t == 'x' || t == 'X' || t == 'g' || t == 'L' || t == 'K') {
			/* A special header that does not fit: named by its own
			 * name, for want of the entry's. */
			if (size > n - off - 512) {
				if (!name && !pax && !gnu)
					name = h;
				break;
			}
			/* Refused, once the entry's name is known. */
			if ((t == 'x' || t == 'X') && !bad &&
			    (bad = pax_records(h + 512, (size_t)size, &pax, &paxlen)))
				pax = NULL;
			if (t == 'L') {
				gnu = h + 512;
				gnulen = strnlen((const char *)gnu, (size_t)size);
			}
			off += 512 + (size_t)((size + 511) & ~(uint64_t)511);
			continue;
		}
		*type = t;
		name = h;
		break;
	}
	if (pax || gnu) {
		k = pax ? paxlen : gnulen;
		if (k > OM_BUNDLE_PATH_MAX + 2)
			k = OM_BUNDLE_PATH_MAX + 2;
		memcpy(path, pax ? pax : gnu, k);
		*plen = k;
	} else if (name) {
		size_t pre = memcmp(name + 257, "ustar", 5) == 0 ? strnlen((const char *)name + 345, 155) : 0;
		size_t nm = strnlen((const char *)name, 100);
		memcpy(path, name + 345, pre);
		k = pre;
		if (pre)
			path[k++] = '/';
		memcpy(path + k, name, nm);
		*plen = k + nm;
	}
	path[*plen] = 0;
	if (bad)
		return bad;
	if (whole && (!name || off + 512 != n))
		return "unexpected tar headers";
	return NULL;
}

/* Why an entry of type flag t cannot be in a bundle, or NULL. */
static const char *tar_flag_problem(int t, char *buf, size_t size)
{
	switch (t) {
	case '0':
	case 0:
	case '5':
		return NULL;
	case '1':
		return "hard links are not allowed";
	case '2':
		return "symbolic links are not allowed";
	case '3':
	case '4':
		return "devices are not allowed";
	case '6':
		return "fifos are not allowed";
	case 'S':
		return "sparse files are not allowed";
	}
	if (t > 0x20 && t < 0x7f)
		snprintf(buf, size, "entry type '%c' is not allowed", t);
	else
		snprintf(buf, size, "entry type 0x%02x is not allowed", (unsigned)t);
	return buf;
}

/* Read the rest of a pipe so that the writer upstream is not cut off. */
static void drain(int fd, unsigned char *buf)
{
	for (;;) {
		ssize_t k = read(fd, buf, CHUNK);
		if (k == 0 || (k < 0 && errno != EINTR))
			break;
	}
}

static int tar_next(struct om_bundle_reader *r, struct om_bundle_entry *out, struct om_err *err)
{
	struct archive_entry *e;
	char msg[256], why[128];

	for (;;) {
		const char *name, *problem;
		size_t len, conflict = 0;
		int64_t pos0, pos1, size;
		int dir, rc, t;

		/* Skipping first makes the position below the next header's. */
		if (r->ord.have && archive_read_data_skip(r->a) != ARCHIVE_OK)
			return tar_fail(r, err, la_msg(r->a, msg, sizeof msg));
		pos0 = archive_filter_bytes(r->a, 0);
		if (win_start(r, (uint64_t)pos0) < 0)
			return tar_fail(r, err, "tar headers out of view");
		rc = archive_read_next_header(r->a, &e);
		r->in_header = 0;
		pos1 = archive_filter_bytes(r->a, 0);
		if (rc == ARCHIVE_EOF) {
			/* libarchive takes an end of input at a header boundary
			 * for the end; a bundle must have its end-of-archive
			 * marker, both of its zero blocks, or it was cut short. */
			if (pos1 == pos0)
				return tar_fail(r, err, "truncated archive: no end-of-archive marker");
			if (pos1 - pos0 != 1024)
				return tar_fail(r, err,
						"truncated archive: incomplete end-of-archive marker");
			if (r->is_pipe)
				drain(r->fd, r->rbuf);
			r->done = 1;
			return 0;
		}
		/* A warning (say, a name libarchive cannot convert) is judged
		 * by the checks below. */
		if (rc < ARCHIVE_WARN) {
			/* Name the entry whose headers libarchive refused, when
			 * they tell. */
			la_msg(r->a, msg, sizeof msg);
			tar_view(r->win, r->win_len, 0, r->raw, &len, &t);
			return len ? entry_fail(r, err, r->raw, msg) : tar_fail(r, err, msg);
		}
		if (r->win_over || pos1 < pos0 || (uint64_t)(pos1 - pos0) > r->win_len)
			return tar_fail(r, err, "tar headers too large");
		problem = tar_view(r->win, (size_t)(pos1 - pos0), 1, r->raw, &len, &t);
		name = r->raw;
		if (problem)
			return len ? entry_fail(r, err, name, problem) : tar_fail(r, err, problem);
		if (!*name)
			return tar_fail(r, err, "an entry has no name");
		if ((problem = tar_flag_problem(t, why, sizeof why)))
			return entry_fail(r, err, name, problem);
		if (++r->count > r->lim.max_entries) {
			snprintf(why, sizeof why, "too many entries (the limit is %llu)",
				 (unsigned long long)r->lim.max_entries);
			return entry_fail(r, err, name, why);
		}
		if ((problem = tar_type_problem(e)))
			return entry_fail(r, err, name, problem);
		dir = t == '5';
		if (dir != (archive_entry_filetype(e) == AE_IFDIR))
			return entry_fail(r, err, name, "entry type not allowed");
		/* A directory is named with a final '/', as we write it; the
		 * path rules apply to the name without it. */
		len = strlen(name);
		if (len > OM_BUNDLE_PATH_MAX + 1)
			return entry_fail(r, err, name, "path too long");
		memcpy(r->norm, name, len + 1);
		if (dir && len > 1 && r->norm[len - 1] == '/')
			r->norm[--len] = 0;
		if ((problem = om_bundle_path_problem(r->norm)))
			return entry_fail(r, err, name, problem);
		if (dir)
			memcpy(r->norm + len, "/", 2);
		if ((rc = order_push(&r->ord, r->norm, !dir, &conflict)) != ORD_OK) {
			r->failed = 1;
			order_err(err, r->disp, &r->ord, r->norm, rc, conflict);
			return -1;
		}
		size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
		if (dir || is_dot_path(r->norm))
			continue;
		if (size < 0 || (uint64_t)size > r->lim.max_entry_size) {
			snprintf(why, sizeof why, "too large: %lld bytes (the limit is %llu)",
				 (long long)size, (unsigned long long)r->lim.max_entry_size);
			return entry_fail(r, err, name, why);
		}
		/* The limit holds the whole uncompressed stream: headers and
		 * padding count too, so neither a zstd bomb nor a flood of
		 * headers gets far. */
		if ((uint64_t)archive_filter_bytes(r->a, 0) + (uint64_t)size > r->lim.max_total_size) {
			snprintf(why, sizeof why, "the bundle is too large (the limit is %llu bytes)",
				 (unsigned long long)r->lim.max_total_size);
			return entry_fail(r, err, name, why);
		}
		r->in_entry = 1;
		r->size = (uint64_t)size;
		r->got = 0;
		out->path = r->ord.prev;
		out->size = r->size;
		return 1;
	}
}

/*
 * Directories are read lazily: the walk's lstat gives each file's size, and
 * the file is opened only when its content is first asked for (a reader
 * that skips an entry never opens it).  At the open the file must still be
 * the one the walk saw (a regular file, same device, inode and size):
 * anything swapped in since, a link, a fifo, a device or another file, is
 * an error naming the entry.
 */
static int dir_next(struct om_bundle_reader *r, struct om_bundle_entry *out, struct om_err *err)
{
	char why[128];
	uint64_t size;
	int rc;

	if (r->cur_fd >= 0)
		close(r->cur_fd);
	r->cur_fd = -1;
	if ((rc = walk_next(r->walk, err)) <= 0) {
		if (rc < 0)
			r->failed = 1;
		else
			r->done = 1;
		return rc;
	}
	if (r->walk->count > r->lim.max_entries) {
		snprintf(why, sizeof why, "too many entries (the limit is %llu)",
			 (unsigned long long)r->lim.max_entries);
		return entry_fail(r, err, r->walk->path, why);
	}
	size = r->walk->cur->size;
	if (size > r->lim.max_entry_size) {
		snprintf(why, sizeof why, "too large: %llu bytes (the limit is %llu)",
			 (unsigned long long)size, (unsigned long long)r->lim.max_entry_size);
		return entry_fail(r, err, r->walk->path, why);
	}
	r->total += size;
	if (r->total > r->lim.max_total_size) {
		snprintf(why, sizeof why, "the bundle is too large (the limit is %llu bytes)",
			 (unsigned long long)r->lim.max_total_size);
		return entry_fail(r, err, r->walk->path, why);
	}
	r->in_entry = 1;
	r->checked_end = 0;
	r->size = size;
	r->got = 0;
	out->path = r->walk->path;
	out->size = r->size;
	return 1;
}

/*
 * Open the file leaf of directory dfd, which must be a regular file of size
 * bytes (and, when dev_ino is set, that device and inode): the fd, or -1
 * with *why set.  O_NONBLOCK: a fifo swapped in must not hang us.
 */
static int open_file_as(int dfd, const char *leaf, uint64_t size, int dev_ino, dev_t dev,
			ino_t ino, const char **why, char *buf, size_t bufsize)
{
	struct stat st;
	int fd = openat(dfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		snprintf(buf, bufsize, "cannot open: %s", strerror(errno));
		*why = buf;
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		*why = "not a regular file";
	else if ((dev_ino && (st.st_dev != dev || st.st_ino != ino)) ||
		 (uint64_t)st.st_size != size)
		*why = "the file changed while being read";
	else
		return fd;
	close(fd);
	return -1;
}

/* Open the current entry of a directory bundle, if not yet open. */
static int dir_open_entry(struct om_bundle_reader *r, struct om_err *err)
{
	const struct dent *d = r->walk->cur;
	const char *why;
	char msg[256];

	if (r->cur_fd >= 0)
		return 0;
	r->cur_fd = open_file_as(r->walk->fd, r->walk->leaf, d->size, 1, d->dev, d->ino, &why,
				 msg, sizeof msg);
	return r->cur_fd < 0 ? entry_fail(r, err, r->walk->path, why) : 0;
}

/*
 * Read the rest of a regular file of which *have of want bytes were read,
 * asking one byte more than is left: POSIX lets read() of a regular file
 * return fewer bytes than asked only at the end of the file (or on a
 * signal, when fewer than what is left arrive and the loop goes on), so
 * one read() both fills the buffer and sees the end, and a file that grew
 * is seen too.  buf has room for want + 1 bytes.  NULL, or why it failed.
 */
static const char *read_file_rest(int fd, char *buf, size_t want, size_t *have, char *msg,
				  size_t msgsize)
{
	for (;;) {
		ssize_t k = read(fd, buf + *have, want + 1 - *have);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0) {
			snprintf(msg, msgsize, "cannot read: %s", strerror(errno));
			return msg;
		}
		if (k == 0 && *have < want)
			return "the file changed while being read";
		*have += (size_t)k;
		if (*have > want)
			return "the file changed while being read";
		if (*have == want)
			return NULL;
	}
}

int om_bundle_next(struct om_bundle_reader *r, struct om_bundle_entry *e, struct om_err *err)
{
	locale_t old;
	int rc;

	/* After an error the stream's position is unknown: nothing more is
	 * handed out. */
	if (r->failed) {
		om_err_set(err, "%s: cannot go on after an earlier error", r->disp);
		return -1;
	}
	if (r->done)
		return 0;
	r->in_entry = 0;
	if (r->form == OM_FORM_DIR)
		return dir_next(r, e, err);
	old = uselocale(r->loc);
	rc = tar_next(r, e, err);
	uselocale(old);
	return rc;
}

ssize_t om_bundle_read(struct om_bundle_reader *r, void *buf, size_t n, struct om_err *err)
{
	const char *path = r->form == OM_FORM_DIR ? r->walk->path : r->ord.prev;
	char msg[256];
	ssize_t k;

	if (r->failed || !r->in_entry) {
		om_err_set(err, "%s: %s", r->disp,
			   r->failed ? "cannot go on after an earlier error" : "no current entry");
		return -1;
	}
	if (r->got == r->size) {
		/* A file that grew since it was measured is not taken whole. */
		if (r->form == OM_FORM_DIR && !r->checked_end) {
			r->checked_end = 1;
			if (dir_open_entry(r, err) < 0)
				return -1;
			if (read_full(r->cur_fd, msg, 1) != 0)
				return entry_fail(r, err, path, "the file changed while being read");
		}
		return 0;
	}
	/* Never 0 before size bytes: a short entry is an error, not a
	 * shorter file. */
	if (n > r->size - r->got)
		n = (size_t)(r->size - r->got);
	if (r->form == OM_FORM_DIR) {
		if (dir_open_entry(r, err) < 0)
			return -1;
		k = read_full(r->cur_fd, buf, n);
		if (k < 0) {
			snprintf(msg, sizeof msg, "cannot read: %s", strerror(errno));
			return entry_fail(r, err, path, msg);
		}
		if (k == 0)
			return entry_fail(r, err, path, "the file changed while being read");
	} else {
		locale_t old = uselocale(r->loc);
		k = archive_read_data(r->a, buf, n);
		uselocale(old);
		if (k < 0)
			return entry_fail(r, err, path, la_msg(r->a, msg, sizeof msg));
		if (k == 0)
			return entry_fail(r, err, path, "truncated archive");
	}
	r->got += (uint64_t)k;
	return k;
}

int om_bundle_read_at(struct om_bundle_reader *r, const char *path, size_t max_size, char **buf,
		      size_t *len, struct om_err *err)
{
	const char *why, *c;
	char msg[256];
	size_t keep = 0, have = 0, end;
	struct stat st;
	int dfd, fd;
	char *b;

	*buf = NULL;
	*len = 0;
	if (r->form != OM_FORM_DIR) {
		om_err_set(err, "%s: entries can be read by path only in a directory", r->disp);
		return -1;
	}
	if ((why = om_bundle_path_problem(path)) || (is_dot_path(path) && (why = "not an entry"))) {
		entry_err(err, r->disp, path, "%s", why);
		return -1;
	}
	/* Keep the open directories that path lies below, open the rest one
	 * component at a time, never through a link. */
	while (keep < r->at_n && strncmp(path, r->at_path, r->at_end[keep]) == 0 &&
	       path[r->at_end[keep]] == '/')
		keep++;
	while (r->at_n > keep)
		close(r->at_fd[--r->at_n]);
	end = keep ? r->at_end[keep - 1] + 1 : 0;
	memcpy(r->at_path, path, end);
	for (c = path + end; strchr(c, '/'); c = path + end) {
		size_t n = (size_t)(strchr(c, '/') - c);
		char comp[OM_BUNDLE_NAME_MAX + 1];
		memcpy(comp, c, n);
		comp[n] = 0;
		dfd = r->at_n ? r->at_fd[r->at_n - 1] : r->fd;
		if ((fd = openat(dfd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
			entry_err(err, r->disp, path, "cannot open directory: %s", strerror(errno));
			return -1;
		}
		memcpy(r->at_path + end, c, n);
		r->at_fd[r->at_n] = fd;
		r->at_end[r->at_n++] = end + n;
		end += n + 1;
	}
	dfd = r->at_n ? r->at_fd[r->at_n - 1] : r->fd;
	if ((fd = openat(dfd, c, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0 ||
	    fstat(fd, &st) < 0) {
		entry_err(err, r->disp, path, "cannot open: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode))
		why = "not a regular file";
	else if ((uint64_t)st.st_size > r->lim.max_entry_size || (uint64_t)st.st_size > max_size)
		why = msg, snprintf(msg, sizeof msg, "too large to load: %lld bytes (at most %llu)",
				    (long long)st.st_size,
				    (unsigned long long)(max_size < r->lim.max_entry_size ?
							 max_size : r->lim.max_entry_size));
	else if (!(b = malloc((size_t)st.st_size + 1)))
		why = "out of memory";
	else if ((why = read_file_rest(fd, b, (size_t)st.st_size, &have, msg, sizeof msg)))
		free(b);
	close(fd);
	if (why) {
		entry_err(err, r->disp, path, "%s", why);
		return -1;
	}
	b[have] = 0;
	*buf = b;
	*len = have;
	return 0;
}

int om_bundle_read_all(struct om_bundle_reader *r, size_t max_size, char **buf, size_t *len,
		       struct om_err *err)
{
	const char *path = r->form == OM_FORM_DIR ? r->walk->path : r->ord.prev;
	size_t want, have = 0;
	char *b;

	*buf = NULL;
	*len = 0;
	if (r->failed || !r->in_entry)
		return (int)om_bundle_read(r, NULL, 0, err);
	if (r->size > max_size) {
		char why[128];
		snprintf(why, sizeof why, "too large to load: %llu bytes (at most %zu)",
			 (unsigned long long)r->size, max_size);
		entry_err(err, r->disp, path, "%s", why);
		return -1;
	}
	/* One more byte for a NUL, so that a document can be used as a
	 * string. */
	want = (size_t)(r->size - r->got);
	if (!(b = malloc(want + 1))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	if (r->form == OM_FORM_DIR && !r->checked_end) {
		/* One read() for the whole file and its end. */
		char msg[256];
		const char *why;
		if (dir_open_entry(r, err) < 0) {
			free(b);
			return -1;
		}
		if ((why = read_file_rest(r->cur_fd, b, want, &have, msg, sizeof msg))) {
			free(b);
			return entry_fail(r, err, path, why);
		}
		r->got = r->size;
		r->checked_end = 1;
	}
	for (;;) {
		ssize_t k = om_bundle_read(r, b + have, want - have, err);
		if (k < 0) {
			free(b);
			return -1;
		}
		if (k == 0)
			break;
		have += (size_t)k;
	}
	b[have] = 0;
	*buf = b;
	*len = have;
	return 0;
}
