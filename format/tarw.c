/*
 * tarw.c - the tar writer of tarw.h.
 *
 * The rules for names follow libarchive's restricted pax writer, since the
 * bytes must be the ones bundles always had: the ustar split of a long
 * path, the shortened name of the ustar header that follows a pax path
 * record, and the DIR/PaxHeader/BASE name of the extended header.  The
 * tests (tests/unit/test_tarw.c) compare every header with libarchive's.
 *
 * Output flows in two stages: the tar bytes, through zstd when asked, then
 * blocks of OM_TARW_BLOCK bytes to the descriptor (the compressor's output
 * buffer is a whole number of blocks and is passed on when full), so that
 * a write fails at the same point of the stream as it did with libarchive.
 */
#include "tarw.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#define BLK 512

/* ustar header fields: offsets (and sizes). */
#define H_NAME 0	/* 100 */
#define H_MODE 100	/* 8: six octal digits, ' ', NUL */
#define H_UID 108	/* 8 */
#define H_GID 116	/* 8 */
#define H_SIZE 124	/* 12: eleven octal digits, ' ' */
#define H_MTIME 136	/* 12 */
#define H_CHKSUM 148	/* 8: six octal digits, NUL, ' ' */
#define H_TYPE 156
#define H_MAGIC 257	/* "ustar\0" "00" */
#define H_DEVMAJOR 329	/* 8 */
#define H_DEVMINOR 337	/* 8 */
#define H_PREFIX 345	/* 155 */
#define NAME_SIZE 100
#define PREFIX_SIZE 155

#define FILE_MODE 0644
#define DIR_MODE 0755

/* A size that needs the pax size record (8 GiB: beyond 11 octal digits). */
#define SIZE_PAX ((uint64_t)1 << 33)

static const unsigned char zeros[2 * BLK];

struct om_tarw {
	int fd, failed, finished, werr;
	/* The current file: bytes still due, then its padding. */
	uint64_t left;
	size_t pad;
	/* Compression: the output buffer, passed on when full. */
	ZSTD_CCtx *z;
	unsigned char *zout;
	size_t zcap, zpos;
	/* The block being filled for the descriptor. */
	unsigned char blk[OM_TARW_BLOCK];
	size_t bn;
	unsigned char hdr[OM_TARW_HEADERS_MAX];
};

/* ---- headers ---- */

/* v in digits octal digits at p, zero-padded: 0, or -1 if it does not fit. */
static int octal(unsigned char *p, size_t digits, uint64_t v)
{
	for (size_t i = digits; i-- > 0;) {
		p[i] = (unsigned char)('0' + (v & 7));
		v >>= 3;
	}
	return v ? -1 : 0;
}

/* A numeric field of digits octal digits and a terminator; a bigger value
 * takes the terminator's byte too, and beyond that the field is base-256
 * (the high bit of the first byte set), as libarchive does for a size. */
static void number(unsigned char *p, size_t digits, uint64_t v)
{
	if (octal(p, digits, v) == 0 || octal(p, digits + 1, v) == 0)
		return;
	for (size_t i = digits + 1; i-- > 0;) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
	p[0] |= 0x80;
}

/* Where a path of len > 100 bytes splits into ustar's prefix and name: at
 * the first '/' that leaves at most 100 bytes after it, not at the very
 * start (no empty prefix) nor at the end (no empty name), with at most 155
 * bytes before it.  NULL when there is no such '/'. */
static const char *ustar_split(const char *path, size_t len)
{
	const char *end = path + len;
	const char *p = memchr(end - NAME_SIZE - 1, '/', NAME_SIZE + 1);

	if (p == path)
		p = memchr(p + 1, '/', (size_t)(end - p - 1));
	if (!p || p == end - 1 || p - path > PREFIX_SIZE)
		return NULL;
	return p;
}

/* One ustar header block for name (len bytes) with the fixed metadata.
 * -1 when the name cannot be held. */
static int ustar_block(unsigned char *h, const char *name, size_t len, char type, unsigned mode,
		       uint64_t size)
{
	unsigned sum = 0;

	memset(h, 0, BLK);
	if (len <= NAME_SIZE) {
		memcpy(h + H_NAME, name, len);
	} else {
		const char *s = ustar_split(name, len);
		if (!s)
			return -1;
		memcpy(h + H_PREFIX, name, (size_t)(s - name));
		memcpy(h + H_NAME, s + 1, (size_t)(name + len - s - 1));
	}
	octal(h + H_MODE, 6, mode);
	h[H_MODE + 6] = ' ';
	octal(h + H_UID, 6, 0);
	h[H_UID + 6] = ' ';
	octal(h + H_GID, 6, 0);
	h[H_GID + 6] = ' ';
	h[H_SIZE + 11] = ' ';
	number(h + H_SIZE, 11, size);
	octal(h + H_MTIME, 11, 0);
	h[H_MTIME + 11] = ' ';
	h[H_TYPE] = (unsigned char)type;
	memcpy(h + H_MAGIC, "ustar\0" "00", 8);
	octal(h + H_DEVMAJOR, 6, 0);
	h[H_DEVMAJOR + 6] = ' ';
	octal(h + H_DEVMINOR, 6, 0);
	h[H_DEVMINOR + 6] = ' ';
	/* The checksum is taken with its own field as eight spaces. */
	memset(h + H_CHKSUM, ' ', 8);
	for (size_t i = 0; i < BLK; i++)
		sum += h[i];
	octal(h + H_CHKSUM, 6, sum);
	h[H_CHKSUM + 6] = 0;
	return 0;
}

/*
 * The name for the ustar header of an entry whose real path is in a pax
 * record (src, len bytes), into dest: a directory prefix of at most 155
 * bytes with its '/', more directories and, when insert is given, "INSERT/", then the
 * base name, within 98 bytes (libarchive 3.6 leaves one spare), cut short
 * if need be; a final '/' is kept.
 * Returns its length.  This is libarchive's rule, so the bytes match.
 */
static size_t short_name(char *dest, const char *src, size_t len, const char *insert)
{
	size_t room = 98, fend = len, fname, pend, send, n = 0;
	int slash = 0;

	if (len < NAME_SIZE && !insert) {
		memcpy(dest, src, len);
		dest[len] = 0;
		return len;
	}
	/* Final '/' and "/." go, and a '/' comes back at the end. */
	for (;;) {
		if (fend > 0 && src[fend - 1] == '/') {
			fend--;
			slash = 1;
		} else if (fend > 1 && src[fend - 1] == '.' && src[fend - 2] == '/') {
			fend -= 2;
			slash = 1;
		} else {
			break;
		}
	}
	if (slash)
		room--;
	/* The base name, cut to leave room for "/INSERT/". */
	fname = fend ? fend - 1 : 0;
	while (fname > 0 && src[fname] != '/')
		fname--;
	if (src[fname] == '/' && fname + 1 < fend)
		fname++;
	if (insert)
		room -= strlen(insert) + 2;
	if (fend > fname + room)
		fend = fname + room;
	room -= fend - fname;
	/* The prefix: whole directories, the '/' after them within 155
	 * bytes (libarchive 3.6 looks for it from byte 154 back). */
	pend = fname < PREFIX_SIZE - 1 ? fname : PREFIX_SIZE - 1;
	while (pend > 0 && src[pend] != '/')
		pend--;
	if (pend < fname && src[pend] == '/')
		pend++;
	/* Then whole directories within what is left of the 99 bytes. */
	send = pend + room;
	if (send > fname)
		send = fname;
	while (send > pend && src[send] != '/')
		send--;
	if (send < fname && src[send] == '/')
		send++;
	memcpy(dest, src, send);
	n = send;
	if (insert) {
		size_t k = strlen(insert);
		memcpy(dest + n, insert, k);
		n += k;
		dest[n++] = '/';
	}
	memcpy(dest + n, src + fname, fend - fname);
	n += fend - fname;
	if (slash)
		dest[n++] = '/';
	dest[n] = 0;
	return n;
}

/* The name of the pax extended header of path: its directory, then
 * "PaxHeader/", then its base name, within ustar's fields. */
static size_t pax_header_name(char *dest, const char *path, size_t len)
{
	size_t end = len;

	for (;;) {
		if (end > 0 && path[end - 1] == '/')
			end--;
		else if (end > 1 && path[end - 1] == '.' && path[end - 2] == '/')
			end--;
		else
			break;
	}
	if (end == 0) {
		strcpy(dest, "/PaxHeader/rootdir");
		return strlen(dest);
	}
	if (end == 1 && path[0] == '.') {
		strcpy(dest, "PaxHeader/currentdir");
		return strlen(dest);
	}
	return short_name(dest, path, end, "PaxHeader");
}

/* A pax record "LEN KEY=VALUE\n" at p, LEN counting its own digits: its
 * length. */
static size_t pax_record(unsigned char *p, const char *key, const char *val, size_t vlen)
{
	size_t base = strlen(key) + vlen + 3, total = 0, d, t;
	char num[24];
	int k;

	/* The least number of digits that holds the total it makes. */
	for (d = 1;; d++) {
		total = base + d;
		for (t = total, k = 0; t; t /= 10)
			k++;
		if ((size_t)k == d)
			break;
	}
	k = snprintf(num, sizeof num, "%zu ", total);
	memcpy(p, num, (size_t)k);
	p += k;
	memcpy(p, key, strlen(key));
	p += strlen(key);
	*p++ = '=';
	memcpy(p, val, vlen);
	p[vlen] = '\n';
	return total;
}

static int has_non_ascii(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] & 0x80)
			return 1;
	return 0;
}

long om_tar_headers(unsigned char *out, const char *path, int dir, uint64_t size,
		    struct om_err *err)
{
	size_t len = strlen(path), rlen = 0, nlen;
	unsigned mode = dir ? DIR_MODE : FILE_MODE;
	char name[256], num[24];
	int need_path;
	long n = 0;

	if (len == 0) {
		om_err_set(err, "empty path");
		return -1;
	}
	if (len > OM_TARW_PATH_MAX) {
		om_err_set(err, "path too long for a tar archive");
		return -1;
	}
	if (dir && path[len - 1] != '/') {
		om_err_set(err, "directory name without a final '/'");
		return -1;
	}
	if (size > INT64_MAX) {
		om_err_set(err, "file too large for a tar archive");
		return -1;
	}
	if (dir)
		size = 0;
	need_path = has_non_ascii(path, len) || (len > NAME_SIZE && !ustar_split(path, len));
	/* The extended header's records, after its own header block. */
	if (need_path)
		rlen += pax_record(out + BLK, "path", path, len);
	if (size >= SIZE_PAX) {
		int k = snprintf(num, sizeof num, "%llu", (unsigned long long)size);
		rlen += pax_record(out + BLK + rlen, "size", num, (size_t)k);
	}
	if (rlen) {
		size_t padded = (rlen + BLK - 1) / BLK * BLK;
		memset(out + BLK + rlen, 0, padded - rlen);
		/* Named after the ustar header's name, which is the short one
		 * when the path is in a record: libarchive's order of things. */
		if (need_path) {
			char sname[256];
			size_t slen = short_name(sname, path, len, NULL);
			nlen = pax_header_name(name, sname, slen);
		} else {
			nlen = pax_header_name(name, path, len);
		}
		if (ustar_block(out, name, nlen, 'x', mode, rlen) < 0)
			goto cannot;
		n = (long)(BLK + padded);
	}
	if (need_path) {
		nlen = short_name(name, path, len, NULL);
		if (ustar_block(out + n, name, nlen, dir ? '5' : '0', mode, size) < 0)
			goto cannot;
	} else if (ustar_block(out + n, path, len, dir ? '5' : '0', mode, size) < 0) {
		goto cannot;
	}
	return n + BLK;
cannot:
	/* Not expected: the short names are built to fit. */
	om_err_set(err, "path cannot be held in a tar header");
	return -1;
}

/* ---- output ---- */

static int failed(struct om_tarw *t, struct om_err *err)
{
	if (t->werr)
		om_err_set(err, "%s", strerror(t->werr));
	else
		om_err_set(err, "cannot go on after an earlier error");
	return -1;
}

static int write_out(struct om_tarw *t, const unsigned char *p, size_t n, struct om_err *err)
{
	while (n) {
		ssize_t k = write(t->fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			t->werr = k < 0 ? errno : ENOSPC;
			t->failed = 1;
			return failed(t, err);
		}
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Bytes for the descriptor, in whole blocks; the rest waits. */
static int emit(struct om_tarw *t, const unsigned char *p, size_t n, struct om_err *err)
{
	if (t->bn) {
		size_t k = OM_TARW_BLOCK - t->bn < n ? OM_TARW_BLOCK - t->bn : n;
		memcpy(t->blk + t->bn, p, k);
		t->bn += k;
		p += k;
		n -= k;
		if (t->bn < OM_TARW_BLOCK)
			return 0;
		t->bn = 0;
		if (write_out(t, t->blk, OM_TARW_BLOCK, err) < 0)
			return -1;
	}
	if (n >= OM_TARW_BLOCK) {
		size_t whole = n - n % OM_TARW_BLOCK;
		if (write_out(t, p, whole, err) < 0)
			return -1;
		p += whole;
		n -= whole;
	}
	memcpy(t->blk, p, n);
	t->bn = n;
	return 0;
}

/* Tar bytes: through the compressor when there is one. */
static int put(struct om_tarw *t, const void *p, size_t n, ZSTD_EndDirective end,
	       struct om_err *err)
{
	ZSTD_inBuffer in = {p, n, 0};

	if (!t->z)
		return emit(t, p, n, err);
	for (;;) {
		ZSTD_outBuffer out = {t->zout, t->zcap, t->zpos};
		size_t r;
		if (t->zpos == t->zcap) {
			if (emit(t, t->zout, t->zcap, err) < 0)
				return -1;
			t->zpos = 0;
			out.pos = 0;
		}
		if (end == ZSTD_e_continue && in.pos == in.size)
			return 0;
		r = ZSTD_compressStream2(t->z, &out, &in, end);
		t->zpos = out.pos;
		if (ZSTD_isError(r)) {
			t->failed = 1;
			om_err_set(err, "zstd: %s", ZSTD_getErrorName(r));
			return -1;
		}
		if (end == ZSTD_e_end && r == 0)
			return emit(t, t->zout, t->zpos, err);
	}
}

struct om_tarw *om_tarw_new(int fd, int zstd_level, struct om_err *err)
{
	struct om_tarw *t = calloc(1, sizeof *t);

	if (!t) {
		om_err_set(err, "out of memory");
		return NULL;
	}
	t->fd = fd;
	if (zstd_level) {
		size_t r;
		/* A whole number of blocks, as libarchive sized it. */
		t->zcap = ZSTD_CStreamOutSize();
		t->zcap = t->zcap > OM_TARW_BLOCK ? t->zcap - t->zcap % OM_TARW_BLOCK : OM_TARW_BLOCK;
		if (!(t->z = ZSTD_createCCtx()) || !(t->zout = malloc(t->zcap))) {
			om_err_set(err, "out of memory");
			om_tarw_free(t);
			return NULL;
		}
		/* One thread (nbWorkers 0), no checksum, no content size: the
		 * library's defaults but for the level. */
		r = ZSTD_CCtx_setParameter(t->z, ZSTD_c_compressionLevel, zstd_level);
		if (ZSTD_isError(r)) {
			om_err_set(err, "zstd: %s", ZSTD_getErrorName(r));
			om_tarw_free(t);
			return NULL;
		}
	}
	return t;
}

static int usable(struct om_tarw *t, struct om_err *err)
{
	if (t->failed)
		return failed(t, err);
	if (t->finished) {
		om_err_set(err, "the archive is already finished");
		return -1;
	}
	return 0;
}

int om_tarw_header(struct om_tarw *t, const char *path, int dir, uint64_t size,
		   struct om_err *err)
{
	long n;

	if (usable(t, err) < 0)
		return -1;
	if (t->left) {
		om_err_set(err, "the previous file lacks %llu bytes", (unsigned long long)t->left);
		return -1;
	}
	if ((n = om_tar_headers(t->hdr, path, dir, size, err)) < 0)
		return -1;
	if (put(t, t->hdr, (size_t)n, ZSTD_e_continue, err) < 0)
		return -1;
	if (!dir) {
		t->left = size;
		t->pad = (size_t)((BLK - size % BLK) % BLK);
	}
	return 0;
}

int om_tarw_data(struct om_tarw *t, const void *p, size_t n, struct om_err *err)
{
	if (usable(t, err) < 0)
		return -1;
	if (n > t->left) {
		om_err_set(err, "more bytes than the header declared");
		return -1;
	}
	if (n && put(t, p, n, ZSTD_e_continue, err) < 0)
		return -1;
	t->left -= n;
	/* The last byte is in: the padding to 512 follows at once. */
	if (t->left == 0 && t->pad) {
		size_t pad = t->pad;
		t->pad = 0;
		return put(t, zeros, pad, ZSTD_e_continue, err);
	}
	return 0;
}

int om_tarw_finish(struct om_tarw *t, struct om_err *err)
{
	if (usable(t, err) < 0)
		return -1;
	if (t->left) {
		om_err_set(err, "the last file lacks %llu bytes", (unsigned long long)t->left);
		return -1;
	}
	t->finished = 1;
	/* Two zero blocks end the archive, and nothing pads the last block. */
	if (put(t, zeros, sizeof zeros, ZSTD_e_continue, err) < 0 ||
	    (t->z && put(t, NULL, 0, ZSTD_e_end, err) < 0))
		return -1;
	if (t->bn && write_out(t, t->blk, t->bn, err) < 0)
		return -1;
	t->bn = 0;
	return 0;
}

int om_tarw_errno(const struct om_tarw *t)
{
	return t->werr;
}

void om_tarw_free(struct om_tarw *t)
{
	if (!t)
		return;
	ZSTD_freeCCtx(t->z);
	free(t->zout);
	free(t);
}
