/*
 * bundle.c - the parts of the bundle container that its readers and
 * writers share (bundle_int.h): names and their quoting in messages, the
 * checks every entry passes (path problems, dot paths, the strict order),
 * the C.UTF-8 locale for libarchive, small I/O helpers, and the walk of a
 * directory bundle in full-path order.  The writers are in bundle_write.c,
 * the readers in bundle_read.c; bundle.h is the public contract.
 */
/* openat(), O_DIRECTORY, O_NOFOLLOW (as in every part). */
#define _GNU_SOURCE
#include "bundle_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>

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

const char *bnd_quote(struct qname *q, const char *name)
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
char *bnd_display_name(const char *name, int output)
{
	struct qname q;
	char *d;

	if (strcmp(name, "-") == 0)
		return strdup(output ? "standard output" : "standard input");
	bnd_quote(&q, name);
	if ((d = malloc(strlen(q.s) + 3)))
		sprintf(d, "'%s'", q.s);
	return d;
}

void bnd_entry_err(struct om_err *err, const char *disp, const char *entry, const char *fmt, ...)
{
	char why[600];
	struct qname q;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	om_err_set(err, "%s: entry '%s': %s", disp, bnd_quote(&q, entry), why);
}

/* A message of libarchive or strerror() in our style, in place: lowercase,
 * no final full stop. */
const char *bnd_msg_style(char *buf)
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
const char *bnd_la_msg(struct archive *a, char *buf, size_t size)
{
	const char *m = archive_error_string(a);

	snprintf(buf, size, "%s", m ? m : "unknown error");
	return bnd_msg_style(buf);
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
int bnd_is_dot_path(const char *path)
{
	if (path[0] == '.')
		return 1;
	for (const char *s = path; (s = strchr(s, '/')); s++)
		if (s[1] == '.')
			return 1;
	return 0;
}

/* ---- entry order ---- */

int bnd_order_push(struct order *o, const char *p, int is_file, size_t *conflict)
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

void bnd_order_free(struct order *o)
{
	free(o->prev);
	free(o->files);
}

/* The message for a bnd_order_push() failure. */
void bnd_order_err(struct om_err *err, const char *disp, const struct order *o, const char *p,
		      int code, size_t conflict)
{
	struct qname q;
	char file[OM_BUNDLE_PATH_MAX + 1];

	switch (code) {
	case ORD_DUP:
		bnd_entry_err(err, disp, p, "duplicate entry");
		break;
	case ORD_BACK:
		bnd_entry_err(err, disp, p, "entries out of order (it comes after '%s')",
			  bnd_quote(&q, o->prev));
		break;
	case ORD_BELOW_FILE:
		memcpy(file, p, conflict);
		file[conflict] = 0;
		bnd_entry_err(err, disp, p, "'%s' is both a file and a directory", bnd_quote(&q, file));
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

locale_t bnd_get_utf8_locale(struct om_err *err)
{
	pthread_once(&utf8_once, utf8_init);
	if (!utf8_locale)
		om_err_set(err, "cannot load the C.UTF-8 locale");
	return utf8_locale;
}

/* ---- small I/O helpers ---- */

/* Pipes and signals give short counts: loop until all is written. */
int bnd_write_full(int fd, const void *buf, size_t n)
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
ssize_t bnd_read_full(int fd, void *buf, size_t n)
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
int bnd_open_parent(int rootfd, const char *path, int create, const char **leaf)
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


/* ---- walking a directory bundle in full-path order ---- */

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
		bnd_entry_err(err, w->disp, plen ? w->path : ".", "cannot read directory: %s",
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
			bnd_entry_err(err, w->disp, w->path, "cannot stat: %s", strerror(errno));
			goto fail_dir;
		}
		if (plen + n > OM_BUNDLE_PATH_MAX)
			why = "path too long";
		else if (!(why = type_problem(st.st_mode)))
			why = om_bundle_path_problem(name);
		if (why) {
			bnd_entry_err(err, w->disp, w->path, "%s", why);
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
		bnd_entry_err(err, w->disp, plen ? w->path : ".", "cannot read directory: %s",
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
struct walk *bnd_walk_open(int rootfd, const char *disp, struct om_err *err)
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

void bnd_walk_free(struct walk *w)
{
	if (!w)
		return;
	while (w->depth)
		level_free(&w->lv[--w->depth]);
	free(w->lv);
	free(w);
}

/* The next file: 1 with w->path, w->fd and w->leaf set, 0 at the end, -1. */
int bnd_walk_next(struct walk *w, struct om_err *err)
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
			bnd_entry_err(err, w->disp, w->path, "cannot open directory: %s", strerror(errno));
			return -1;
		}
		if (walk_push(w, fd, plen, err) < 0)
			return -1;
	}
	return 0;
}

