/* Unit tests of the tar writer: headers byte for byte against libarchive's
 * restricted pax writer (the bytes bundles always had), the checksum, whole
 * streams plain and compressed, refusals, write errors, and a round trip
 * through libarchive's reader. */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../format/tarw.h"
#include "t.h"

#define BLK 512
#define LEVEL 3

static uint64_t rng_state = 0x243f6a8885a308d3u;

static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* ---- libarchive, as bundle.c used it to write ---- */

struct membuf {
	unsigned char *p;
	size_t n, cap;
};

static la_ssize_t mem_cb(struct archive *a, void *ctx, const void *buf, size_t n)
{
	struct membuf *m = ctx;

	(void)a;
	if (m->n + n > m->cap) {
		m->cap = (m->n + n) * 2;
		m->p = realloc(m->p, m->cap);
	}
	memcpy(m->p + m->n, buf, n);
	m->n += n;
	return (la_ssize_t)n;
}

static struct archive *la_open(int zstd, struct membuf *m, size_t bpb)
{
	struct archive *a = archive_write_new();

	archive_write_set_format_pax_restricted(a);
	if (zstd) {
		archive_write_add_filter_zstd(a);
		archive_write_set_filter_option(a, "zstd", "compression-level", "3");
	}
	archive_write_set_bytes_per_block(a, (int)bpb);
	archive_write_set_bytes_in_last_block(a, 1);
	archive_write_open(a, m, NULL, mem_cb, NULL);
	return a;
}

/* One entry the way bundle.c described it to libarchive. */
static int la_entry(struct archive *a, const char *path, int dir, uint64_t size)
{
	struct archive_entry *e = archive_entry_new();
	int rc;

	archive_entry_copy_pathname(e, path);
	archive_entry_set_filetype(e, dir ? AE_IFDIR : AE_IFREG);
	archive_entry_set_perm(e, dir ? 0755 : 0644);
	archive_entry_set_size(e, dir ? 0 : (la_int64_t)size);
	archive_entry_set_mtime(e, 0, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	rc = archive_write_header(a, e);
	archive_entry_free(e);
	return rc;
}

/* The payload of entry i: size bytes that depend on both. */
static void payload(unsigned char *p, size_t n, uint64_t i)
{
	for (size_t k = 0; k < n; k++)
		p[k] = (unsigned char)(i * 131 + k * 7 + (k >> 9));
}

struct ent {
	char path[8300];
	int dir;
	size_t size;
};

/* A whole archive of the entries by libarchive. */
static struct membuf la_archive(const struct ent *v, size_t n, int zstd)
{
	struct membuf m = {0};
	struct archive *a = la_open(zstd, &m, 10240);
	static unsigned char data[70000];

	for (size_t i = 0; i < n; i++) {
		CHECK(la_entry(a, v[i].path, v[i].dir, v[i].size) == ARCHIVE_OK);
		payload(data, v[i].size, i);
		if (v[i].size)
			CHECK(archive_write_data(a, data, v[i].size) == (la_ssize_t)v[i].size);
		archive_write_finish_entry(a);
	}
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
	return m;
}

/* The same through om_tarw into a temporary file, the data in chunks of
 * chunk bytes. */
static struct membuf tarw_archive(const struct ent *v, size_t n, int zstd, size_t chunk)
{
	char path[] = "/tmp/om-tarw-test-XXXXXX";
	int fd = mkstemp(path);
	struct membuf m = {0};
	struct om_err err;
	struct om_tarw *t = om_tarw_new(fd, zstd ? LEVEL : 0, &err);
	static unsigned char data[70000];
	off_t size;

	unlink(path);
	for (size_t i = 0; i < n; i++) {
		CHECK(om_tarw_header(t, v[i].path, v[i].dir, v[i].size, &err) == 0);
		payload(data, v[i].size, i);
		for (size_t off = 0; off < v[i].size; off += chunk) {
			size_t k = v[i].size - off < chunk ? v[i].size - off : chunk;
			CHECK(om_tarw_data(t, data + off, k, &err) == 0);
		}
	}
	CHECK(om_tarw_finish(t, &err) == 0);
	om_tarw_free(t);
	size = lseek(fd, 0, SEEK_END);
	m.n = m.cap = (size_t)size;
	m.p = malloc(m.n + 1);
	CHECK(pread(fd, m.p, m.n, 0) == (ssize_t)m.n);
	close(fd);
	return m;
}

/* The headers libarchive writes for one entry (the data left out). */
static size_t la_headers(unsigned char *out, const char *path, int dir, size_t size)
{
	struct membuf m = {0};
	struct archive *a = la_open(0, &m, 10240);
	static unsigned char data[70000] = {0};
	size_t pad = (BLK - size % BLK) % BLK, n;

	la_entry(a, path, dir, size);
	if (size)
		archive_write_data(a, data, size);
	archive_write_close(a);
	archive_write_free(a);
	/* Headers, data, padding, two zero blocks. */
	n = m.n - size - pad - 2 * BLK;
	memcpy(out, m.p, n);
	free(m.p);
	return n;
}

static int same_headers(const char *path, int dir, size_t size)
{
	static unsigned char want[OM_TARW_HEADERS_MAX + 4096], got[OM_TARW_HEADERS_MAX];
	struct om_err err;
	size_t n = la_headers(want, path, dir, size);
	long k = om_tar_headers(got, path, dir, size, &err);

	if (k < 0 || (size_t)k != n || memcmp(want, got, n) != 0) {
		fprintf(stderr, "  headers differ for '%s' (%zu bytes, ours %ld)\n", path, n, k);
		return 0;
	}
	return 1;
}

/* ---- paths ---- */

static char *repeat(char *out, char c, size_t n)
{
	memset(out, c, n);
	out[n] = 0;
	return out;
}

/* A random path: components of 1 to 255 bytes, ASCII or with multibyte
 * UTF-8, up to about max bytes in all. */
static void random_path(char *out, size_t max, int dir)
{
	static const char *const mb[] = {"é", "日本", "Zürich", "\xf0\x9f\x98\x80"};
	size_t n = 0, want = 1 + rnd() % max;
	int utf8 = rnd() % 4 == 0;

	while (n < want) {
		size_t clen = rnd() % 4 == 0 ? 1 + rnd() % 255 : 1 + rnd() % 40;
		size_t start = n;
		if (n)
			out[n++] = '/';
		while (n - start < clen && n < want + 1) {
			if (utf8 && rnd() % 8 == 0) {
				const char *s = mb[rnd() % 4];
				size_t k = strlen(s);
				if (n + k - start > clen + 1)
					break;
				memcpy(out + n, s, k);
				n += k;
			} else {
				out[n++] = (char)("abcdefghij.-_XYZ0123456789 ~"[rnd() % 28]);
			}
		}
		if (n == start + 1 && start)
			out[n++] = 'q';
		if (n > 4000)
			break;
	}
	/* No empty component at the end, no "." or ".." matter here. */
	if (out[n - 1] == '/')
		out[n++] = 'z';
	if (dir)
		out[n++] = '/';
	out[n] = 0;
}

/* ---- tests ---- */

static void test_headers_fixed(void)
{
	char p[9000], a[300], b[300];

	/* Short, exactly 100 bytes, 101 (split), the 155/100 split at its
	 * limits, and one byte over each. */
	CHECK(same_headers("a", 0, 0));
	CHECK(same_headers("a", 0, 1));
	CHECK(same_headers("a/b.json", 0, 512));
	CHECK(same_headers("a/", 1, 0));
	CHECK(same_headers(repeat(p, 'x', 100), 0, 10));
	CHECK(same_headers(repeat(p, 'x', 101), 0, 10));
	snprintf(p, sizeof p, "%s/", repeat(a, 'd', 98));
	CHECK(same_headers(p, 1, 0));
	snprintf(p, sizeof p, "%s/", repeat(a, 'd', 99));
	CHECK(same_headers(p, 1, 0));
	snprintf(p, sizeof p, "%s/", repeat(a, 'd', 100));
	CHECK(same_headers(p, 1, 0));
	snprintf(p, sizeof p, "%s/%s", repeat(a, 'p', 155), repeat(b, 'n', 100));
	CHECK(same_headers(p, 0, 3));
	snprintf(p, sizeof p, "%s/%s", repeat(a, 'p', 156), repeat(b, 'n', 100));
	CHECK(same_headers(p, 0, 3));
	snprintf(p, sizeof p, "%s/%s", repeat(a, 'p', 155), repeat(b, 'n', 101));
	CHECK(same_headers(p, 0, 3));
	snprintf(p, sizeof p, "%s/%s/", repeat(a, 'p', 155), repeat(b, 'n', 99));
	CHECK(same_headers(p, 1, 0));
	snprintf(p, sizeof p, "%s/%s/", repeat(a, 'p', 155), repeat(b, 'n', 100));
	CHECK(same_headers(p, 1, 0));
	snprintf(p, sizeof p, "a/%s", repeat(a, 'n', 100));
	CHECK(same_headers(p, 0, 0));
	snprintf(p, sizeof p, "%s", repeat(a, 'n', 255));
	CHECK(same_headers(p, 0, 0));
	/* Long paths of many components, and the longest a bundle has. */
	p[0] = 0;
	for (int i = 0; i < 80; i++)
		strcat(p, i ? "/component-xyz" : "root");
	CHECK(same_headers(p, 0, 100));
	repeat(p, 'a', 4095);
	for (int i = 200; i < 4095; i += 200)
		p[i] = '/';
	CHECK(same_headers(p, 0, 100));
	p[4094] = '/';
	CHECK(same_headers(p, 1, 0));
	/* UTF-8: short (a pax path all the same), long, and cut in the middle
	 * of a character by the short name. */
	CHECK(same_headers("Zürich.json", 0, 5));
	CHECK(same_headers("日本/", 1, 0));
	p[0] = 0;
	for (int i = 0; i < 60; i++)
		strcat(p, "日本");
	CHECK(same_headers(p, 0, 7));
	strcat(p, "/é");
	CHECK(same_headers(p, 0, 7));
	snprintf(p, sizeof p, "spaces/Default/projects/%s/deployment-process.json", a);
	CHECK(same_headers(p, 0, 700));
	/* Record lengths around a power of ten: "path=" plus 91..93 bytes. */
	for (int k = 85; k < 100; k++) {
		snprintf(p, sizeof p, "é%s", repeat(a, 'r', (size_t)k));
		CHECK(same_headers(p, 0, 1));
	}
	for (int k = 985; k < 1000; k++) {
		repeat(p, 's', (size_t)k);
		for (int i = 100; i < k; i += 100)
			p[i] = '/';
		CHECK(same_headers(p, 0, 1));
	}
}

static void test_headers_random(void)
{
	char p[8300];
	int bad = 0;

	for (int i = 0; i < 3000 && bad < 5; i++) {
		int dir = rnd() % 3 == 0;
		random_path(p, rnd() % 2 ? 300 : 4000, dir);
		bad += !same_headers(p, dir, dir ? 0 : rnd() % 2000);
	}
	CHECK(bad == 0);
}

/* Field by field, and the checksum as a reader computes it. */
static void test_checksum(void)
{
	unsigned char h[OM_TARW_HEADERS_MAX];
	struct om_err err;
	unsigned sum = 0, field = 0;

	CHECK(om_tar_headers(h, "dir/file.json", 0, 1234, &err) == BLK);
	CHECK(memcmp(h, "dir/file.json\0", 14) == 0);
	CHECK(memcmp(h + 100, "000644 \0" "000000 \0" "000000 \0", 24) == 0);
	CHECK(memcmp(h + 124, "00000002322 " "00000000000 ", 24) == 0);
	CHECK(h[156] == '0');
	CHECK(memcmp(h + 257, "ustar\0" "00", 8) == 0);
	CHECK(h[265] == 0 && h[297] == 0);
	CHECK(memcmp(h + 329, "000000 \0" "000000 \0", 16) == 0);
	for (int i = 0; i < BLK; i++)
		sum += (i >= 148 && i < 156) ? ' ' : h[i];
	CHECK(h[154] == 0 && h[155] == ' ');
	for (int i = 148; i < 154; i++)
		field = field * 8 + (unsigned)(h[i] - '0');
	CHECK(field == sum);
	/* A directory: typeflag 5, mode 0755, size 0. */
	CHECK(om_tar_headers(h, "dir/", 1, 99, &err) == BLK);
	CHECK(h[156] == '5' && memcmp(h + 100, "000755 ", 7) == 0);
	CHECK(memcmp(h + 124, "00000000000 ", 12) == 0);
	/* A pax header: 'x', then a path record, then the entry. */
	CHECK(om_tar_headers(h, "é", 0, 0, &err) == 3 * BLK);
	CHECK(h[156] == 'x' && h[BLK * 2 + 156] == '0');
	CHECK(memcmp(h, "PaxHeader/\xc3\xa9", 12) == 0);
	CHECK(memcmp(h + BLK, "11 path=\xc3\xa9\n", 11) == 0);
}

/* Sizes beyond 11 octal digits: the pax size record, and the size field
 * in 12 digits, then base-256; compared with libarchive's headers, which
 * a child writes for a file it never fills. */
static void big_size_case(uint64_t size)
{
	unsigned char want[4096], got[OM_TARW_HEADERS_MAX];
	struct om_err err;
	int fds[2], status;
	ssize_t n = 0, k;
	pid_t pid;

	CHECK(pipe(fds) == 0);
	pid = fork();
	if (pid == 0) {
		struct archive *a = archive_write_new();
		close(fds[0]);
		archive_write_set_format_pax_restricted(a);
		/* No blocking: the headers reach the descriptor at once. */
		archive_write_set_bytes_per_block(a, 0);
		archive_write_open_fd(a, fds[1]);
		la_entry(a, "big/file.bin", 0, size);
		_exit(0);
	}
	close(fds[1]);
	while ((k = read(fds[0], want + n, sizeof want - (size_t)n)) > 0)
		n += k;
	close(fds[0]);
	waitpid(pid, &status, 0);
	CHECK(om_tar_headers(got, "big/file.bin", 0, size, &err) == n);
	CHECK(n > 0 && memcmp(want, got, (size_t)n) == 0);
}

static void test_big_sizes(void)
{
	unsigned char h[OM_TARW_HEADERS_MAX];
	struct om_err err;

	big_size_case(((uint64_t)1 << 33) - 1);
	big_size_case((uint64_t)1 << 33);
	big_size_case(((uint64_t)1 << 36) - 1);
	big_size_case((uint64_t)1 << 36);
	big_size_case((uint64_t)1 << 40);
	CHECK(om_tar_headers(h, "f", 0, (uint64_t)1 << 33, &err) == 3 * BLK);
	CHECK(memcmp(h + BLK, "19 size=8589934592\n", 19) == 0);
}

static void test_refusals(void)
{
	unsigned char h[OM_TARW_HEADERS_MAX];
	char p[OM_TARW_PATH_MAX + 2];
	struct om_err err;
	struct om_tarw *t;
	int fd = open("/dev/null", O_WRONLY);

	CHECK(om_tar_headers(h, "", 0, 0, &err) == -1);
	CHECK_STR(err.msg, "empty path");
	CHECK(om_tar_headers(h, "d", 1, 0, &err) == -1);
	CHECK_STR(err.msg, "directory name without a final '/'");
	CHECK(om_tar_headers(h, repeat(p, 'a', OM_TARW_PATH_MAX + 1), 0, 0, &err) == -1);
	CHECK_STR(err.msg, "path too long for a tar archive");
	CHECK(om_tar_headers(h, repeat(p, 'a', OM_TARW_PATH_MAX), 0, 0, &err) > 0);
	CHECK(om_tar_headers(h, "f", 0, (uint64_t)INT64_MAX + 1, &err) == -1);
	CHECK_STR(err.msg, "file too large for a tar archive");

	t = om_tarw_new(fd, 0, &err);
	CHECK(om_tarw_header(t, "f", 0, 3, &err) == 0);
	CHECK(om_tarw_data(t, "abcd", 4, &err) == -1);
	CHECK_STR(err.msg, "more bytes than the header declared");
	CHECK(om_tarw_data(t, "ab", 2, &err) == 0);
	CHECK(om_tarw_header(t, "g", 0, 0, &err) == -1);
	CHECK_STR(err.msg, "the previous file lacks 1 bytes");
	CHECK(om_tarw_finish(t, &err) == -1);
	CHECK_STR(err.msg, "the last file lacks 1 bytes");
	CHECK(om_tarw_data(t, "c", 1, &err) == 0);
	CHECK(om_tarw_finish(t, &err) == 0);
	CHECK(om_tarw_finish(t, &err) == -1);
	CHECK_STR(err.msg, "the archive is already finished");
	om_tarw_free(t);
	om_tarw_free(NULL);
	close(fd);
}

/* /dev/full: the error comes with the first full block, or at the end. */
static void test_write_error(void)
{
	static unsigned char data[20000];
	struct om_err err;
	int fd = open("/dev/full", O_WRONLY);

	for (int zstd = 0; zstd < 2; zstd++) {
		struct om_tarw *t = om_tarw_new(fd, zstd ? LEVEL : 0, &err);
		CHECK(om_tarw_header(t, "small", 0, 10, &err) == 0);
		CHECK(om_tarw_data(t, data, 10, &err) == 0);
		CHECK(om_tarw_errno(t) == 0);
		if (!zstd) {
			CHECK(om_tarw_header(t, "big", 0, sizeof data, &err) == 0);
			CHECK(om_tarw_data(t, data, sizeof data, &err) == -1);
		} else {
			CHECK(om_tarw_finish(t, &err) == -1);
		}
		CHECK_STR(err.msg, strerror(ENOSPC));
		CHECK(om_tarw_errno(t) == ENOSPC);
		/* Final. */
		CHECK(om_tarw_header(t, "x", 0, 0, &err) == -1);
		CHECK_STR(err.msg, strerror(ENOSPC));
		om_tarw_free(t);
	}
	close(fd);
}

/* A sorted set of entries the way a bundle has them. */
static struct ent *bundle_like(size_t *n)
{
	static const char *const names[] = {
		"a/", "a/b.json", "a/c/", "a/c/d.json", "environments/", "environments/Prod.json",
		"manifest.json", "spaces/", "spaces/Default/", "spaces/Default/projects/",
	};
	size_t cap = 400, k = 0;
	struct ent *v = calloc(cap, sizeof *v);

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		snprintf(v[k].path, sizeof v[k].path, "%s", names[i]);
		v[k].dir = names[i][strlen(names[i]) - 1] == '/';
		v[k].size = v[k].dir ? 0 : 100 + i * 37;
		k++;
	}
	while (k < cap) {
		v[k].dir = rnd() % 4 == 0;
		random_path(v[k].path, rnd() % 3 ? 120 : 1500, v[k].dir);
		/* Sizes across the 512 boundary and the 64 KiB chunk. */
		v[k].size = v[k].dir ? 0 : rnd() % 8 == 0 ? rnd() % 70000 : rnd() % 1100;
		k++;
	}
	*n = k;
	return v;
}

static void test_streams(void)
{
	size_t n;
	struct ent *v = bundle_like(&n);

	for (int zstd = 0; zstd < 2; zstd++) {
		struct membuf want = la_archive(v, n, zstd);
		struct membuf a = tarw_archive(v, n, zstd, 65536);
		struct membuf b = tarw_archive(v, n, zstd, 777);
		/* The same bytes as libarchive's writer, whatever the chunks. */
		CHECK(a.n == want.n && memcmp(a.p, want.p, a.n) == 0);
		CHECK(b.n == a.n && memcmp(a.p, b.p, a.n) == 0);
		if (!zstd)
			CHECK(a.n % BLK == 0);
		free(want.p);
		free(a.p);
		free(b.p);
	}
	free(v);
}

/* Written here, read by libarchive: names, types, modes, sizes, bytes. */
static void test_round_trip(void)
{
	size_t n;
	struct ent *v = bundle_like(&n);
	static unsigned char data[70000], got[70000];

	for (int zstd = 0; zstd < 2; zstd++) {
		struct membuf m = tarw_archive(v, n, zstd, 4096);
		struct archive *a = archive_read_new();
		struct archive_entry *e;
		size_t i = 0;
		int bad = 0, r;

		archive_read_support_format_tar(a);
		archive_read_support_filter_zstd(a);
		CHECK(archive_read_open_memory(a, m.p, m.n) == ARCHIVE_OK);
		while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK && i < n) {
			la_ssize_t k = archive_read_data(a, got, sizeof got);
			payload(data, v[i].size, i);
			if (strcmp(archive_entry_pathname(e), v[i].path) != 0 ||
			    archive_entry_filetype(e) != (v[i].dir ? AE_IFDIR : AE_IFREG) ||
			    archive_entry_perm(e) != (v[i].dir ? 0755 : 0644) ||
			    archive_entry_size(e) != (la_int64_t)v[i].size ||
			    archive_entry_mtime(e) != 0 || archive_entry_uid(e) != 0 ||
			    archive_entry_gid(e) != 0 || k != (la_ssize_t)v[i].size ||
			    memcmp(got, data, v[i].size) != 0)
				bad++;
			i++;
		}
		CHECK(r == ARCHIVE_EOF && i == n && bad == 0);
		CHECK(archive_filter_code(a, 0) == (zstd ? ARCHIVE_FILTER_ZSTD : ARCHIVE_FILTER_NONE));
		archive_read_free(a);
		free(m.p);
	}
	free(v);
}

int main(void)
{
	/* libarchive converts names through the locale, as bundle.c's did. */
	locale_t loc = newlocale(LC_ALL_MASK, "C.UTF-8", (locale_t)0);

	if (!loc) {
		fprintf(stderr, "no C.UTF-8 locale\n");
		return 2;
	}
	uselocale(loc);
	RUN(test_headers_fixed);
	RUN(test_headers_random);
	RUN(test_checksum);
	RUN(test_big_sizes);
	RUN(test_refusals);
	RUN(test_write_error);
	RUN(test_streams);
	RUN(test_round_trip);
	uselocale(LC_GLOBAL_LOCALE);
	freelocale(loc);
	return T_EXIT();
}
