/*
 * bundle_read.c - the bundle readers (bundle.h): tar and tar.zst with the
 * headers read as stored (zstd decompressed here, so that zstd inside zstd
 * is refused), and directories through the walk of bundle.c; every entry
 * through the shared checks of bundle_int.h, with the limits checked from
 * the headers before any data is read.
 */
#define _GNU_SOURCE
#include "bundle_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <zstd.h>

/* The most header bytes (pax and GNU special headers, then the entry's
 * own) kept in view for one entry. */
#define TAR_VIEW_MAX ((size_t)8 << 20)

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
	bnd_walk_free(r->walk);
	while (r->at_n)
		close(r->at_fd[--r->at_n]);
	if (r->cur_fd >= 0)
		close(r->cur_fd);
	if (r->own_fd && r->fd >= 0)
		close(r->fd);
	bnd_order_free(&r->ord);
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

	if (!r || !(r->disp = bnd_display_name(name, 0))) {
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
		if (!(r->walk = bnd_walk_open(wfd, r->disp, err)))
			goto fail;
		return r;
	}
	r->is_pipe = S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode);
	if (!(r->loc = bnd_get_utf8_locale(err)))
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
		ssize_t n = bnd_read_full(fd, magic, 4);
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
		bnd_la_msg(r->a, msg, sizeof msg);
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
		om_err_set(err, "cannot open '%s': %s", bnd_quote(&q, path), strerror(errno));
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
		om_err_set(err, "%s: after entry '%s': %s", r->disp, bnd_quote(&q, r->ord.prev), why);
	else
		om_err_set(err, "%s: %s", r->disp, why);
	return -1;
}

static int entry_fail(struct om_bundle_reader *r, struct om_err *err, const char *path,
		      const char *why)
{
	r->failed = 1;
	bnd_entry_err(err, r->disp, path, "%s", why);
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
			return tar_fail(r, err, bnd_la_msg(r->a, msg, sizeof msg));
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
			bnd_la_msg(r->a, msg, sizeof msg);
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
		if ((rc = bnd_order_push(&r->ord, r->norm, !dir, &conflict)) != ORD_OK) {
			r->failed = 1;
			bnd_order_err(err, r->disp, &r->ord, r->norm, rc, conflict);
			return -1;
		}
		size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;
		if (dir || bnd_is_dot_path(r->norm))
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
	if ((rc = bnd_walk_next(r->walk, err)) <= 0) {
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
			if (bnd_read_full(r->cur_fd, msg, 1) != 0)
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
		k = bnd_read_full(r->cur_fd, buf, n);
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
			return entry_fail(r, err, path, bnd_la_msg(r->a, msg, sizeof msg));
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
	if ((why = om_bundle_path_problem(path)) || (bnd_is_dot_path(path) && (why = "not an entry"))) {
		bnd_entry_err(err, r->disp, path, "%s", why);
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
			bnd_entry_err(err, r->disp, path, "cannot open directory: %s", strerror(errno));
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
		bnd_entry_err(err, r->disp, path, "cannot open: %s", strerror(errno));
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
		bnd_entry_err(err, r->disp, path, "%s", why);
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
		bnd_entry_err(err, r->disp, path, "%s", why);
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
