/* Unit tests of the bundle container: the three forms, order, the directory
 * update rule, hostile archives, streaming. */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../format/bundle.h"
#include "t.h"

static char dir[4096];

/* A path in the scratch directory; eight buffers in turn. */
static const char *P(const char *fmt, ...)
{
	static char bufs[8][8192];
	static int next;
	char *b = bufs[next++ % 8];
	int n = snprintf(b, 8192, "%s/", dir);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(b + n, (size_t)(8192 - n), fmt, ap);
	va_end(ap);
	return b;
}

static void rm_rf_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
	DIR *d;
	struct dirent *de;

	if (fd < 0) {
		unlinkat(dfd, name, 0);
		return;
	}
	d = fdopendir(fd);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			rm_rf_at(fd, de->d_name);
	closedir(d);
	unlinkat(dfd, name, AT_REMOVEDIR);
}

static void rm_rf(const char *path)
{
	rm_rf_at(AT_FDCWD, path);
}

static void write_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	if (f) {
		fwrite(data, 1, len, f);
		fclose(f);
	}
}

/* The whole file, malloc()ed, or NULL. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *b = NULL;
	size_t cap = 0, n = 0, k;

	if (!f)
		return NULL;
	do {
		if (n == cap) {
			cap = cap ? 2 * cap : 65536;
			b = realloc(b, cap + 1);
		}
		k = fread(b + n, 1, cap - n, f);
		n += k;
	} while (k > 0);
	fclose(f);
	b[n] = 0;
	*len = n;
	return b;
}

static int same_file(const char *a, const char *b)
{
	size_t la, lb;
	char *x = slurp(a, &la), *y = slurp(b, &lb);
	int same = x && y && la == lb && memcmp(x, y, la) == 0;

	free(x);
	free(y);
	return same;
}

/* Does the directory hold a name starting with prefix? */
static int has_name(const char *path, const char *prefix)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int found = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			found = 1;
	closedir(d);
	return found;
}

/* ---- the sample bundle ---- */

#define X10 "xxxxxxxxxx"
#define LONG_NAME "long/" X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 X10 "/file.json"

static const struct sample {
	const char *path, *data;
} sample[] = {
	{"a b", "space\n"},
	{"a-b", "dash\n"},
	{"a.json", "{}\n"},
	{"a/b", "below a\n"},
	{"a/c/d.json", "{\n  \"x\": 1\n}\n"},
	{"caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.json", "unicode\n"},
	{"empty", ""},
	{LONG_NAME, "long\n"},
	{"manifest.json", "{\"format\": 1}\n"},
	{"z", "last\n"},
};
#define NSAMPLE (sizeof sample / sizeof *sample)

static int write_sample(struct om_bundle_writer *w)
{
	struct om_err err;

	for (size_t i = 0; i < NSAMPLE; i++)
		if (om_bundle_add(w, sample[i].path, sample[i].data, strlen(sample[i].data), &err) < 0) {
			fprintf(stderr, "  %s\n", err.msg);
			return -1;
		}
	return 0;
}

static int write_sample_to(const char *path, enum om_bundle_form form)
{
	struct om_err err;
	struct om_bundle_writer *w = om_bundle_writer_open_as(path, form, &err);

	if (!w) {
		fprintf(stderr, "  %s\n", err.msg);
		return -1;
	}
	if (write_sample(w) < 0) {
		om_bundle_writer_abort(w);
		return -1;
	}
	if (om_bundle_writer_commit(w, &err) < 0) {
		fprintf(stderr, "  %s\n", err.msg);
		return -1;
	}
	return 0;
}

/* Read a whole bundle and compare it with the sample. */
static int reader_matches_sample(struct om_bundle_reader *r)
{
	struct om_bundle_entry e;
	struct om_err err;
	size_t i = 0, len;
	char *buf;
	int rc, ok = 1;

	while ((rc = om_bundle_next(r, &e, &err)) == 1) {
		if (i >= NSAMPLE || strcmp(e.path, sample[i].path) != 0 ||
		    e.size != strlen(sample[i].data)) {
			fprintf(stderr, "  unexpected entry '%s'\n", e.path);
			ok = 0;
			break;
		}
		if (om_bundle_read_all(r, 1 << 20, &buf, &len, &err) < 0 ||
		    len != strlen(sample[i].data) || memcmp(buf, sample[i].data, len) != 0)
			ok = 0;
		free(buf);
		i++;
	}
	if (rc < 0) {
		fprintf(stderr, "  %s\n", err.msg);
		ok = 0;
	}
	return ok && i == NSAMPLE;
}

static int sample_matches(const char *path)
{
	struct om_err err;
	struct om_bundle_reader *r = om_bundle_reader_open(path, &err);
	int ok;

	if (!r) {
		fprintf(stderr, "  %s\n", err.msg);
		return 0;
	}
	ok = reader_matches_sample(r);
	om_bundle_reader_close(r);
	return ok;
}

/* The first error reading the whole bundle, or NULL. */
static const char *first_error(const char *path, const struct om_bundle_limits *lim)
{
	static struct om_err err;
	struct om_bundle_reader *r = om_bundle_reader_open_with(path, lim, &err);
	struct om_bundle_entry e;
	char *buf;
	size_t len;
	int rc;

	if (!r)
		return err.msg;
	while ((rc = om_bundle_next(r, &e, &err)) == 1) {
		if (om_bundle_read_all(r, SIZE_MAX - 1, &buf, &len, &err) < 0) {
			rc = -1;
			CHECK(buf == NULL);
			break;
		}
		free(buf);
	}
	om_bundle_reader_close(r);
	return rc < 0 ? err.msg : NULL;
}

static int err_has(const char *msg, const char *want)
{
	if (msg && strstr(msg, want))
		return 1;
	fprintf(stderr, "  wanted '%s', got '%s'\n", want, msg ? msg : "(no error)");
	return 0;
}

/* ---- tests ---- */

static void test_paths(void)
{
	CHECK(om_bundle_form_for_path("-") == OM_FORM_TAR);
	CHECK(om_bundle_form_for_path("x.tar") == OM_FORM_TAR);
	CHECK(om_bundle_form_for_path("dir/x.tar.zst") == OM_FORM_TAR_ZST);
	CHECK(om_bundle_form_for_path("x.zst") == OM_FORM_DIR);
	CHECK(om_bundle_form_for_path("audit/") == OM_FORM_DIR);
	CHECK(om_bundle_form_for_path(".tar") == OM_FORM_DIR);

	CHECK(om_bundle_path_problem("a/b.json") == NULL);
	CHECK(om_bundle_path_problem(".gitattributes") == NULL);
	CHECK(om_bundle_path_problem("a/..b/c.") == NULL);
	CHECK(om_bundle_path_problem("caf\xc3\xa9") == NULL);
	CHECK_STR(om_bundle_path_problem(""), "empty path");
	CHECK_STR(om_bundle_path_problem("/etc/passwd"), "absolute path");
	CHECK_STR(om_bundle_path_problem("../x"), "path leaves the bundle");
	CHECK_STR(om_bundle_path_problem("a/../../x"), "path leaves the bundle");
	CHECK_STR(om_bundle_path_problem("a/.."), "path leaves the bundle");
	CHECK_STR(om_bundle_path_problem("./a"), "'.' path component");
	CHECK_STR(om_bundle_path_problem("a//b"), "empty path component");
	CHECK_STR(om_bundle_path_problem("a/"), "path ends with '/'");
	CHECK_STR(om_bundle_path_problem("a\nb"), "control character in path");
	CHECK_STR(om_bundle_path_problem("a\x7f"), "control character in path");
	CHECK_STR(om_bundle_path_problem("\xff"), "path is not valid UTF-8");
	CHECK_STR(om_bundle_path_problem("\xc0\xaf"), "path is not valid UTF-8");	/* overlong '/' */
	CHECK_STR(om_bundle_path_problem("\xed\xa0\x80"), "path is not valid UTF-8");	/* surrogate */
	CHECK_STR(om_bundle_path_problem("\xf4\x90\x80\x80"), "path is not valid UTF-8");
	CHECK_STR(om_bundle_path_problem("caf\xc3"), "path is not valid UTF-8");

	char big[300];
	memset(big, 'n', 256);
	big[256] = 0;
	CHECK_STR(om_bundle_path_problem(big), "path component too long");
	char *huge = malloc(5000);
	for (int i = 0; i < 4998; i += 2)
		memcpy(huge + i, "d/", 2);
	huge[4998] = 'f';
	huge[4999] = 0;
	CHECK_STR(om_bundle_path_problem(huge), "path too long");
	free(huge);
}

static void test_deterministic(void)
{
	struct om_err err;
	size_t n;

	CHECK(write_sample_to(P("a.tar"), OM_FORM_TAR) == 0);
	CHECK(write_sample_to(P("b.tar"), OM_FORM_TAR) == 0);
	CHECK(write_sample_to(P("a.tar.zst"), OM_FORM_TAR_ZST) == 0);
	CHECK(write_sample_to(P("b.tar.zst"), OM_FORM_TAR_ZST) == 0);
	CHECK(same_file(P("a.tar"), P("b.tar")));
	CHECK(same_file(P("a.tar.zst"), P("b.tar.zst")));
	CHECK(!same_file(P("a.tar"), P("a.tar.zst")));

	/* The bytes do not depend on the program's locale. */
	if (setlocale(LC_ALL, "C.UTF-8")) {
		CHECK(write_sample_to(P("u.tar"), OM_FORM_TAR) == 0);
		CHECK(same_file(P("a.tar"), P("u.tar")));
		CHECK(sample_matches(P("u.tar")));
		setlocale(LC_ALL, "C");
	}

	/* The same bytes through a descriptor (no temporary file). */
	int fd = open(P("fd.tar.zst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	struct om_bundle_writer *w = om_bundle_writer_open_fd(fd, OM_FORM_TAR_ZST, "x", &err);
	CHECK(w && write_sample(w) == 0 && om_bundle_writer_commit(w, &err) == 0);
	close(fd);
	CHECK(same_file(P("a.tar.zst"), P("fd.tar.zst")));

	/* The fixed metadata of the first header ("a b"): mode, uid, gid,
	 * mtime 0, type '0', ustar magic, empty owner names; and the archive
	 * ends with its two zero blocks, unpadded. */
	char *t = slurp(P("a.tar"), &n);
	CHECK(t && n % 512 == 0 && n > 2048);
	if (t && n > 2048) {
		CHECK(strcmp(t, "a b") == 0);
		CHECK(memcmp(t + 100, "000644 \0", 8) == 0);
		CHECK(memcmp(t + 108, "000000 \0", 8) == 0);
		CHECK(memcmp(t + 116, "000000 \0", 8) == 0);
		CHECK(memcmp(t + 136, "00000000000 ", 12) == 0);
		CHECK(t[156] == '0');
		CHECK(memcmp(t + 257, "ustar\0" "00", 8) == 0);
		CHECK(t[265] == 0 && t[297] == 0);
		int zeros = 1;
		for (size_t i = n - 1024; i < n; i++)
			zeros &= t[i] == 0;
		CHECK(zeros);
	}
	free(t);

	/* Directory entries come just before their first file, named with
	 * a '/', so the whole archive is in strcmp() order. */
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	char list[4096] = "";
	archive_read_support_format_tar(a);
	CHECK(archive_read_open_filename(a, P("a.tar"), 10240) == ARCHIVE_OK);
	/* (libarchive cannot hand out UTF-8 names in the C locale.) */
	setlocale(LC_CTYPE, "C.UTF-8");
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		if (strncmp(name, "long/", 5) == 0 && name[5])
			name = archive_entry_filetype(e) == AE_IFDIR ? "long/L/" : "long/L/file.json";
		strcat(list, name);
		strcat(list, archive_entry_filetype(e) == AE_IFDIR ? "(0755);" : ";");
		CHECK((archive_entry_perm(e) == 0755) == (archive_entry_filetype(e) == AE_IFDIR));
		CHECK(archive_entry_mtime(e) == 0 && archive_entry_uid(e) == 0 &&
		      archive_entry_gid(e) == 0);
	}
	archive_read_free(a);
	setlocale(LC_CTYPE, "C");
	CHECK_STR(list, "a b;a-b;a.json;a/(0755);a/b;a/c/(0755);a/c/d.json;caf\xc3\xa9/(0755);"
			"caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac.json;empty;long/(0755);long/L/(0755);"
			"long/L/file.json;manifest.json;z;");
}

static void test_roundtrip(void)
{
	struct om_err err;
	struct om_bundle_reader *r;

	CHECK(write_sample_to(P("rt"), OM_FORM_DIR) == 0);
	CHECK(sample_matches(P("rt")));
	CHECK(sample_matches(P("a.tar")));
	CHECK(sample_matches(P("a.tar.zst")));
	CHECK(!has_name(P("rt"), ".om-tmp-"));
	CHECK(!has_name(dir, ".a.tar.tmp-"));

	/* The form is told by content, not by name. */
	rename(P("a.tar.zst"), P("zst.bin"));
	CHECK((r = om_bundle_reader_open(P("zst.bin"), &err)) != NULL);
	CHECK(r && om_bundle_reader_form(r) == OM_FORM_TAR_ZST);
	om_bundle_reader_close(r);
	rename(P("zst.bin"), P("a.tar.zst"));
	CHECK((r = om_bundle_reader_open(P("rt"), &err)) != NULL);
	CHECK(r && om_bundle_reader_form(r) == OM_FORM_DIR);
	om_bundle_reader_close(r);

	/* Standard output: "-" writes a plain tar, the same bytes as a file. */
	int p[2];
	CHECK(pipe(p) == 0);
	/* The child must not write our buffered output into the pipe. */
	fflush(stdout);
	pid_t pid = fork();
	if (pid == 0) {
		close(p[0]);
		dup2(p[1], STDOUT_FILENO);
		close(p[1]);
		struct om_bundle_writer *w = om_bundle_writer_open("-", &err);
		_exit(w && write_sample(w) == 0 && om_bundle_writer_commit(w, &err) == 0 ? 0 : 1);
	}
	close(p[1]);
	int out = open(P("piped.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	char buf[4096];
	ssize_t k;
	while ((k = read(p[0], buf, sizeof buf)) > 0)
		write(out, buf, (size_t)k);
	close(out);
	close(p[0]);
	int status;
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(same_file(P("a.tar"), P("piped.tar")));

	/* Standard input: "-", a tar.zst streamed through a pipe. */
	CHECK(pipe(p) == 0);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		struct om_bundle_writer *w = om_bundle_writer_open_fd(p[1], OM_FORM_TAR_ZST, "-", &err);
		_exit(w && write_sample(w) == 0 && om_bundle_writer_commit(w, &err) == 0 ? 0 : 1);
	}
	close(p[1]);
	int saved = dup(STDIN_FILENO);
	dup2(p[0], STDIN_FILENO);
	close(p[0]);
	CHECK((r = om_bundle_reader_open("-", &err)) != NULL);
	CHECK(r && om_bundle_reader_form(r) == OM_FORM_TAR_ZST);
	CHECK(r && reader_matches_sample(r));
	om_bundle_reader_close(r);
	dup2(saved, STDIN_FILENO);
	close(saved);
	waitpid(pid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	/* Dot paths may be written; readers skip them in every form. */
	struct om_bundle_writer *w = om_bundle_writer_open(P("dots.tar"), &err);
	CHECK(w && om_bundle_add(w, ".gitattributes", "*.tar.zst diff=om\n", 18, &err) == 0);
	CHECK(w && om_bundle_add(w, "a/.hidden", "h", 1, &err) == 0);
	CHECK(w && om_bundle_add(w, "a/b", "b", 1, &err) == 0);
	CHECK(w && om_bundle_writer_commit(w, &err) == 0);
	CHECK((r = om_bundle_reader_open(P("dots.tar"), &err)) != NULL);
	struct om_bundle_entry e;
	CHECK(r && om_bundle_next(r, &e, &err) == 1 && strcmp(e.path, "a/b") == 0);
	CHECK(r && om_bundle_next(r, &e, &err) == 0);
	om_bundle_reader_close(r);

	/* An empty bundle, in each form. */
	const char *names[] = {"none.tar", "none.tar.zst", "none"};
	for (int i = 0; i < 3; i++) {
		CHECK((w = om_bundle_writer_open(P("%s", names[i]), &err)) != NULL);
		CHECK(w && om_bundle_writer_commit(w, &err) == 0);
		CHECK((r = om_bundle_reader_open(P("%s", names[i]), &err)) != NULL);
		CHECK(r && om_bundle_next(r, &e, &err) == 0);
		om_bundle_reader_close(r);
	}
}

static void test_order(void)
{
	struct om_err err;
	struct om_bundle_writer *w;
	struct { const char *first, *second, *msg; } bad[] = {
		{"b", "a", "entry 'a': entries out of order (it comes after 'b')"},
		{"a", "a", "entry 'a': duplicate entry"},
		{"a/b", "a-b", "entries out of order"},
		{"a", "a/b", "entry 'a/b': 'a' is both a file and a directory"},
		{"x", "../y", "entry '../y': path leaves the bundle"},
		{"x", "/y", "absolute path"},
		{"x", "y//z", "empty path component"},
		{"x", "y/", "path ends with '/'"},
		{"x", "y\xff", "entry 'y\\xff': path is not valid UTF-8"},
		{"x", "y\n", "entry 'y\\x0a': control character in path"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		for (int form = 0; form < 3; form++) {
			const char *out = P(form == 0 ? "ord" : form == 1 ? "ord.tar" : "ord.tar.zst");
			CHECK((w = om_bundle_writer_open(out, &err)) != NULL);
			CHECK(om_bundle_add(w, bad[i].first, "1", 1, &err) == 0);
			CHECK(om_bundle_add(w, bad[i].second, "2", 1, &err) == -1);
			CHECK(err_has(err.msg, bad[i].msg));
			/* Nothing more is taken, and commit fails. */
			CHECK(om_bundle_add(w, "zzz", "3", 1, &err) == -1);
			CHECK(om_bundle_writer_commit(w, &err) == -1);
			CHECK(access(out, F_OK) == -1);
			CHECK(!has_name(dir, ".ord.tar"));
		}
	}
	/* A file below a file several entries later, and a name that only
	 * shares a prefix (no conflict). */
	CHECK((w = om_bundle_writer_open(P("ord.tar"), &err)) != NULL);
	CHECK(om_bundle_add(w, "a", "1", 1, &err) == 0);
	CHECK(om_bundle_add(w, "a b", "1", 1, &err) == 0);
	CHECK(om_bundle_add(w, "a b/c", "1", 1, &err) == -1);
	CHECK(err_has(err.msg, "'a b' is both a file and a directory"));
	om_bundle_writer_abort(w);
	CHECK((w = om_bundle_writer_open(P("ord.tar"), &err)) != NULL);
	CHECK(om_bundle_add(w, "a", "1", 1, &err) == 0);
	CHECK(om_bundle_add(w, "a b", "1", 1, &err) == 0);
	CHECK(om_bundle_add(w, "ab/c", "1", 1, &err) == 0);
	CHECK(om_bundle_add(w, "a\xc3\xa9/c", "1", 1, &err) == 0);
	CHECK(om_bundle_writer_commit(w, &err) == 0);

	/* A directory is read in full-path strcmp() order, not name by name. */
	const char *files[] = {"B", "a b", "a-b", "a.json", "a/ b", "a/b", "a/b-c", "a/b/c",
			       "a0", "\xc3\xa9t\xc3\xa9", "\xe6\x97\xa5"};
	const size_t nfiles = sizeof files / sizeof *files;
	mkdir(P("walk"), 0755);
	mkdir(P("walk/a"), 0755);
	mkdir(P("walk/a/b"), 0755);
	/* "a/b" is the directory; take it out of the list of files. */
	for (size_t i = 0; i < nfiles; i++)
		if (strcmp(files[i], "a/b") != 0)
			write_file(P("walk/%s", files[i]), files[i], strlen(files[i]));
	write_file(P("walk/.git"), "x", 1);
	struct om_bundle_reader *r = om_bundle_reader_open(P("walk"), &err);
	struct om_bundle_entry e;
	const char *prev = NULL;
	size_t count = 0;
	char last[64] = "";
	while (r && om_bundle_next(r, &e, &err) == 1) {
		CHECK(!prev || strcmp(last, e.path) < 0);
		snprintf(last, sizeof last, "%s", e.path);
		prev = last;
		count++;
	}
	CHECK(count == nfiles - 1);
	om_bundle_reader_close(r);

	/* And the tar written from that walk reads back the same. */
	r = om_bundle_reader_open(P("walk"), &err);
	CHECK((w = om_bundle_writer_open(P("walk.tar"), &err)) != NULL);
	while (r && w && om_bundle_next(r, &e, &err) == 1) {
		char *b;
		size_t len;
		CHECK(om_bundle_read_all(r, 100, &b, &len, &err) == 0);
		CHECK(om_bundle_add(w, e.path, b, len, &err) == 0);
		free(b);
	}
	CHECK(w && om_bundle_writer_commit(w, &err) == 0);
	om_bundle_reader_close(r);
	CHECK(first_error(P("walk.tar"), NULL) == NULL);
}

/* Inode and modification time of a file. */
static int stamp(const char *path, struct stat *st)
{
	return lstat(path, st);
}

static int same_stamp(const struct stat *a, const struct stat *b)
{
	return a->st_ino == b->st_ino && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* A big deterministic byte pattern, with a one-byte change where asked. */
struct pattern {
	uint64_t size, pos, flip;
	uint32_t x;
};

static ssize_t pattern_read(void *ctx, void *buf, size_t n, struct om_err *err)
{
	struct pattern *p = ctx;
	unsigned char *b = buf;

	(void)err;
	if (n > p->size - p->pos)
		n = (size_t)(p->size - p->pos);
	for (size_t i = 0; i < n; i++, p->pos++) {
		p->x = p->x * 1103515245u + 12345u;
		b[i] = (unsigned char)(p->x >> 16) ^ (p->pos == p->flip ? 1 : 0);
	}
	return (ssize_t)n;
}

static int add_pattern(struct om_bundle_writer *w, const char *path, uint64_t size, uint64_t flip)
{
	struct pattern p = {size, 0, flip, 1};
	struct om_err err;

	if (om_bundle_add_stream(w, path, size, pattern_read, &p, &err) < 0) {
		fprintf(stderr, "  %s\n", err.msg);
		return -1;
	}
	return 0;
}

static int file_is_pattern(const char *path, uint64_t size, uint64_t flip)
{
	struct pattern p = {size, 0, flip, 1};
	unsigned char a[65536], b[65536];
	int fd = open(path, O_RDONLY), ok = fd >= 0;
	ssize_t k;

	while (ok && (k = read(fd, a, sizeof a)) > 0) {
		ok = pattern_read(&p, b, (size_t)k, NULL) == k && memcmp(a, b, (size_t)k) == 0;
	}
	if (fd >= 0)
		close(fd);
	return ok && p.pos == size;
}

static void test_dir_update(void)
{
	struct om_err err;
	struct om_bundle_writer *w;
	struct stat keep1, keep2, big1, big2, git1, git2, attr1, attr2, chg1, chg2;
	char d[4096];

	snprintf(d, sizeof d, "%s", P("upd"));

	/* Abort removes the directory it made. */
	CHECK((w = om_bundle_writer_open(d, &err)) != NULL);
	CHECK(om_bundle_add(w, "empty", "", 0, &err) == 0);
	om_bundle_writer_abort(w);
	CHECK(access(d, F_OK) == -1);

	/* The old bundle, and git's files beside it. */
	CHECK((w = om_bundle_writer_open(d, &err)) != NULL);
	CHECK(add_pattern(w, "big.bin", 300000, UINT64_MAX) == 0);
	CHECK(add_pattern(w, "big2.bin", 300000, UINT64_MAX) == 0);
	CHECK(om_bundle_add(w, "change.json", "old\n", 4, &err) == 0);
	CHECK(om_bundle_add(w, "gone.json", "gone\n", 5, &err) == 0);
	CHECK(om_bundle_add(w, "keep.json", "keep\n", 5, &err) == 0);
	CHECK(om_bundle_add(w, "manifest.json", "{}\n", 3, &err) == 0);
	CHECK(om_bundle_add(w, "same-size.json", "aaaa\n", 5, &err) == 0);
	CHECK(om_bundle_add(w, "sub/deep/gone2.json", "g\n", 2, &err) == 0);
	CHECK(om_bundle_add(w, "sub2/x.json", "x\n", 2, &err) == 0);
	CHECK(om_bundle_add(w, "t", "file\n", 5, &err) == 0);
	CHECK(om_bundle_add(w, "u/v", "v\n", 2, &err) == 0);
	CHECK(om_bundle_writer_commit(w, &err) == 0);
	mkdir(P("upd/.git"), 0755);
	write_file(P("upd/.git/config"), "[core]\n", 7);
	write_file(P("upd/.gitattributes"), "*.json text\n", 12);
	write_file(P("upd/sub2/.keep"), "", 0);
	CHECK(stamp(P("upd/keep.json"), &keep1) == 0);
	CHECK(stamp(P("upd/big.bin"), &big1) == 0);
	CHECK(stamp(P("upd/.git/config"), &git1) == 0);
	CHECK(stamp(P("upd/.gitattributes"), &attr1) == 0);
	CHECK(stamp(P("upd/change.json"), &chg1) == 0);

	/* Abort leaves it exactly as it was. */
	w = om_bundle_writer_open(d, &err);
	CHECK(w != NULL);
	if (!w) {
		fprintf(stderr, "  %s\n", err.msg);
		return;
	}
	CHECK(om_bundle_add(w, "change.json", "new!\n", 5, &err) == 0);
	CHECK(add_pattern(w, "x.bin", 100000, UINT64_MAX) == 0);
	CHECK(has_name(d, ".om-tmp-"));
	om_bundle_writer_abort(w);
	CHECK(!has_name(d, ".om-tmp-"));
	CHECK(stamp(P("upd/change.json"), &chg2) == 0 && same_stamp(&chg1, &chg2));
	CHECK(access(P("upd/gone.json"), F_OK) == 0 && access(P("upd/x.bin"), F_OK) == -1);

	/* The new bundle. */
	CHECK((w = om_bundle_writer_open(d, &err)) != NULL);
	CHECK(add_pattern(w, "big.bin", 300000, UINT64_MAX) == 0);		/* unchanged */
	CHECK(add_pattern(w, "big2.bin", 300000, 299999) == 0);		/* last byte */
	CHECK(om_bundle_add(w, "change.json", "new content\n", 12, &err) == 0);
	CHECK(om_bundle_add(w, "keep.json", "keep\n", 5, &err) == 0);
	CHECK(om_bundle_add(w, "manifest.json", "{}\n", 3, &err) == 0);
	CHECK(om_bundle_add(w, "new/n.json", "n\n", 2, &err) == 0);
	CHECK(om_bundle_add(w, "same-size.json", "aaab\n", 5, &err) == 0);
	CHECK(om_bundle_add(w, "t/x", "now a dir\n", 10, &err) == 0);
	CHECK(om_bundle_add(w, "u", "now a file\n", 11, &err) == 0);
	/* Nothing changes before the commit. */
	CHECK(access(P("upd/gone.json"), F_OK) == 0 && access(P("upd/new"), F_OK) == -1);
	CHECK(om_bundle_writer_commit(w, &err) == 0);

	CHECK(stamp(P("upd/keep.json"), &keep2) == 0 && same_stamp(&keep1, &keep2));
	CHECK(stamp(P("upd/big.bin"), &big2) == 0 && same_stamp(&big1, &big2));
	CHECK(file_is_pattern(P("upd/big2.bin"), 300000, 299999));
	CHECK(stamp(P("upd/change.json"), &chg2) == 0 && !same_stamp(&chg1, &chg2));
	size_t n;
	char *s = slurp(P("upd/change.json"), &n);
	CHECK(s && strcmp(s, "new content\n") == 0);
	free(s);
	s = slurp(P("upd/same-size.json"), &n);
	CHECK(s && strcmp(s, "aaab\n") == 0);
	free(s);
	CHECK(access(P("upd/gone.json"), F_OK) == -1);
	CHECK(access(P("upd/sub"), F_OK) == -1);		/* emptied: pruned */
	CHECK(access(P("upd/sub2/x.json"), F_OK) == -1);
	CHECK(access(P("upd/sub2/.keep"), F_OK) == 0);	/* held a dot-file: kept */
	CHECK(stamp(P("upd/.git/config"), &git2) == 0 && same_stamp(&git1, &git2));
	CHECK(stamp(P("upd/.gitattributes"), &attr2) == 0 && same_stamp(&attr1, &attr2));
	CHECK(access(P("upd/t/x"), F_OK) == 0);
	s = slurp(P("upd/u"), &n);
	CHECK(s && strcmp(s, "now a file\n") == 0);
	free(s);
	CHECK(!has_name(d, ".om-tmp-"));

	/* Read back: exactly the new bundle. */
	struct om_bundle_reader *r = om_bundle_reader_open(d, &err);
	struct om_bundle_entry e;
	char list[512] = "";
	while (r && om_bundle_next(r, &e, &err) == 1) {
		strcat(list, e.path);
		strcat(list, ";");
	}
	om_bundle_reader_close(r);
	CHECK_STR(list, "big.bin;big2.bin;change.json;keep.json;manifest.json;new/n.json;"
			"same-size.json;t/x;u;");

	/* A directory that holds something else is not a bundle to update. */
	mkdir(P("notabundle"), 0755);
	write_file(P("notabundle/README"), "mine\n", 5);
	CHECK(om_bundle_writer_open(P("notabundle"), &err) == NULL);
	CHECK(err_has(err.msg, "is not empty and holds no bundle (no manifest.json)"));
	CHECK(access(P("notabundle/README"), F_OK) == 0);
	/* One that holds only dot-files is empty. */
	mkdir(P("fresh"), 0755);
	mkdir(P("fresh/.git"), 0755);
	CHECK((w = om_bundle_writer_open(P("fresh"), &err)) != NULL);
	CHECK(write_sample(w) == 0 && om_bundle_writer_commit(w, &err) == 0);
	CHECK(sample_matches(P("fresh")));

	/* A bundle rewritten in place while it is being read: the new files
	 * wait in the staging directory, which the reader does not see. */
	struct om_bundle_reader *rd = om_bundle_reader_open(P("fresh"), &err);
	CHECK(rd && (w = om_bundle_writer_open(P("fresh"), &err)) != NULL);
	while (rd && w && om_bundle_next(rd, &e, &err) == 1) {
		char *b;
		size_t len;
		CHECK(om_bundle_read_all(rd, 1 << 20, &b, &len, &err) == 0);
		if (strcmp(e.path, "z") != 0)
			CHECK(om_bundle_add(w, e.path, b, len, &err) == 0);
		else
			CHECK(om_bundle_add(w, "z", "Z\n", 2, &err) == 0);
		free(b);
	}
	om_bundle_reader_close(rd);
	CHECK(w && om_bundle_writer_commit(w, &err) == 0);
	s = slurp(P("fresh/z"), &n);
	CHECK(s && strcmp(s, "Z\n") == 0);
	free(s);
	CHECK(first_error(P("fresh"), NULL) == NULL);

	CHECK(om_bundle_writer_open_as(P("fresh"), OM_FORM_TAR, &err) == NULL);
	CHECK(err_has(err.msg, "is a directory, not an archive file"));
	write_file(P("plain"), "x", 1);
	CHECK(om_bundle_writer_open(P("plain"), &err) == NULL);
	CHECK(err_has(err.msg, "it exists and is not a directory"));
	CHECK(om_bundle_writer_open(P("plain/sub"), &err) == NULL);
	CHECK(err_has(err.msg, "a parent is not a directory"));
	CHECK(om_bundle_writer_open_as("-", OM_FORM_DIR, &err) == NULL);

	/* A private writer's files are the owner's only, in either form. */
	struct stat st;
	mode_t mask = umask(022);
	CHECK((w = om_bundle_writer_open_private(P("priv.tar"), &err)) != NULL);
	CHECK(w && om_bundle_add(w, "a", "x", 1, &err) == 0 && om_bundle_writer_commit(w, &err) == 0);
	CHECK(stat(P("priv.tar"), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK((w = om_bundle_writer_open_private(P("priv"), &err)) != NULL);
	CHECK(w && om_bundle_add(w, "b/c", "y", 1, &err) == 0 &&
	      om_bundle_add(w, OM_BUNDLE_MARKER, "{}", 2, &err) == 0 &&
	      om_bundle_writer_commit(w, &err) == 0);
	CHECK(stat(P("priv/b/c"), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK(stat(P("priv/" OM_BUNDLE_MARKER), &st) == 0 && (st.st_mode & 0777) == 0600);
	CHECK((w = om_bundle_writer_open(P("pub.tar"), &err)) != NULL);
	CHECK(w && om_bundle_writer_commit(w, &err) == 0);
	CHECK(stat(P("pub.tar"), &st) == 0 && (st.st_mode & 0777) == 0644);
	umask(mask);

	/* Abort on an archive file leaves the old one byte for byte. */
	char *old = slurp(P("a.tar"), &n);
	size_t n2;
	CHECK((w = om_bundle_writer_open(P("a.tar"), &err)) != NULL);
	CHECK(add_pattern(w, "big", 200000, UINT64_MAX) == 0);
	/* Written unnamed (O_TMPFILE): no name to leave behind, even on a
	 * SIGKILL. */
	CHECK(!has_name(dir, ".a.tar.tmp-"));
	om_bundle_writer_abort(w);
	char *now = slurp(P("a.tar"), &n2);
	CHECK(old && now && n == n2 && memcmp(old, now, n) == 0);
	CHECK(!has_name(dir, ".a.tar.tmp-"));
	free(old);
	free(now);
}

/* ---- hostile archives, made with libarchive ---- */

struct hent {
	const char *name;
	int type;		/* AE_IF* */
	size_t size;
	const char *link;	/* symlink target or hard link */
};

static void make_archive(const char *path, const struct hent *v, size_t n, int zip)
{
	struct archive *a = archive_write_new();

	if (zip)
		archive_write_set_format_zip(a);
	else
		archive_write_set_format_ustar(a);
	archive_write_open_filename(a, path);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_copy_pathname(e, v[i].name);
		archive_entry_set_filetype(e, (unsigned)v[i].type);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, v[i].type == AE_IFREG && !v[i].link ? (la_int64_t)v[i].size : 0);
		if (v[i].type == AE_IFLNK)
			archive_entry_copy_symlink(e, v[i].link);
		else if (v[i].link)
			archive_entry_copy_hardlink(e, v[i].link);
		if (v[i].type == AE_IFCHR)
			archive_entry_set_rdev(e, 0x0103);
		archive_write_header(a, e);
		for (la_int64_t k = 0; k < archive_entry_size(e); k++)
			archive_write_data(a, "x", 1);
		archive_entry_free(e);
	}
	archive_write_free(a);
}

static void test_hostile(void)
{
	char evil[4096], tz[4096];
	struct hent ok = {"ok.json", AE_IFREG, 3, NULL};
	struct {
		struct hent e;
		const char *msg;
	} one[] = {
		{{"/etc/passwd", AE_IFREG, 3, NULL}, "entry '/etc/passwd': absolute path"},
		{{"../x", AE_IFREG, 3, NULL}, "entry '../x': path leaves the bundle"},
		{{"a/../../x", AE_IFREG, 3, NULL}, "path leaves the bundle"},
		{{"./x", AE_IFREG, 3, NULL}, "'.' path component"},
		{{"x\xff", AE_IFREG, 3, NULL}, "entry 'x\\xff': path is not valid UTF-8"},
		{{"x\033[31m", AE_IFREG, 3, NULL}, "entry 'x\\x1b[31m': control character in path"},
		{{"x", AE_IFLNK, 0, "/etc/passwd"}, "entry 'x': symbolic links are not allowed"},
		{{"x", AE_IFREG, 0, "ok.json"}, "entry 'x': hard links are not allowed"},
		{{"x", AE_IFCHR, 0, NULL}, "entry 'x': devices are not allowed"},
		{{"x", AE_IFBLK, 0, NULL}, "devices are not allowed"},
		{{"x", AE_IFIFO, 0, NULL}, "entry 'x': fifos are not allowed"},
		{{"ok.json", AE_IFREG, 3, NULL}, "entry 'ok.json': duplicate entry"},
		{{"a.json", AE_IFREG, 3, NULL}, "entry 'a.json': entries out of order"},
		{{"ok.json/x", AE_IFREG, 3, NULL}, "'ok.json' is both a file and a directory"},
		{{"ok.json/", AE_IFDIR, 0, NULL}, "'ok.json' is both a file and a directory"},
	};
	char full[8192];

	snprintf(evil, sizeof evil, "%s", P("evil.tar"));
	snprintf(tz, sizeof tz, "%s", P("evil.tar.zst"));
	/* Each bad entry follows a good one: the good one is read, then the
	 * error names the archive and the bad entry. */
	for (size_t i = 0; i < sizeof one / sizeof *one; i++) {
		struct hent v[2] = {ok, one[i].e};
		make_archive(evil, v, 2, 0);
		CHECK(err_has(first_error(evil, NULL), one[i].msg));
	}
	struct hent up[1] = {{"../x", AE_IFREG, 3, NULL}};
	make_archive(evil, up, 1, 0);
	snprintf(full, sizeof full, "'%s': entry '../x': path leaves the bundle", evil);
	CHECK_STR(first_error(evil, NULL), full);

	/* Limits: entry size, total size, entry count. */
	struct om_bundle_limits lim = om_bundle_default_limits;
	struct hent three[3] = {{"a", AE_IFREG, 100, NULL}, {"b", AE_IFREG, 100, NULL},
				{"c", AE_IFREG, 100, NULL}};
	make_archive(evil, three, 3, 0);
	CHECK(first_error(evil, &lim) == NULL);
	lim.max_entry_size = 99;
	CHECK(err_has(first_error(evil, &lim), "entry 'a': too large: 100 bytes (the limit is 99)"));
	lim = om_bundle_default_limits;
	lim.max_total_size = 1500;
	CHECK(err_has(first_error(evil, &lim), "entry 'b': the bundle is too large"));
	lim = om_bundle_default_limits;
	lim.max_entries = 2;
	CHECK(err_has(first_error(evil, &lim), "entry 'c': too many entries (the limit is 2)"));
	/* The limits hold in a directory too. */
	lim = om_bundle_default_limits;
	lim.max_entry_size = 4;
	CHECK(err_has(first_error(P("rt"), &lim), "entry 'a b': too large: 6 bytes"));
	lim = om_bundle_default_limits;
	lim.max_total_size = 6;
	CHECK(err_has(first_error(P("rt"), &lim), "the bundle is too large (the limit is 6 bytes)"));
	lim = om_bundle_default_limits;
	lim.max_entries = 1;
	CHECK(err_has(first_error(P("rt"), &lim), "too many entries (the limit is 1)"));
	/* The defaults are the documented ones (docs/security.md): the checks
	 * above are these checks with smaller numbers. */
	CHECK(om_bundle_default_limits.max_entry_size == (uint64_t)1 << 30);
	CHECK(om_bundle_default_limits.max_total_size == (uint64_t)64 << 30);
	CHECK(om_bundle_default_limits.max_entries == 10000000);

	/* A compressed bomb: 16 MiB of zeros in a tiny tar.zst, refused from
	 * its header (limit 1 MiB) before any of it is inflated. */
	struct om_err err;
	struct om_bundle_writer *w = om_bundle_writer_open(P("bomb.tar.zst"), &err);
	int zfd = open("/dev/zero", O_RDONLY);
	CHECK(w && om_bundle_add_fd(w, "zeros", zfd, (uint64_t)1 << 24, &err) == 0);
	CHECK(w && om_bundle_writer_commit(w, &err) == 0);
	close(zfd);
	struct stat st;
	CHECK(stat(P("bomb.tar.zst"), &st) == 0 && st.st_size < 4096);
	lim = om_bundle_default_limits;
	lim.max_entry_size = 1 << 20;
	CHECK(err_has(first_error(P("bomb.tar.zst"), &lim), "entry 'zeros': too large"));
	lim = om_bundle_default_limits;
	lim.max_total_size = 1 << 20;
	CHECK(err_has(first_error(P("bomb.tar.zst"), &lim), "entry 'zeros': the bundle is too large"));

	/* Truncated: in the middle of data, and at an entry boundary (the
	 * end-of-archive marker missing). */
	size_t n;
	char *t = slurp(P("a.tar"), &n);
	write_file(evil, t, 515);
	CHECK(err_has(first_error(evil, NULL), "entry 'a b': truncated"));
	write_file(evil, t, 700);
	CHECK(err_has(first_error(evil, NULL), "after entry 'a b': truncated"));
	write_file(evil, t, 1024);
	CHECK(err_has(first_error(evil, NULL),
		      "after entry 'a b': truncated archive: no end-of-archive marker"));
	write_file(evil, t, n - 1024);
	CHECK(err_has(first_error(evil, NULL), "after entry 'z': truncated archive"));
	/* libarchive takes one zero block for the end; a bundle's marker is
	 * two whole blocks. */
	write_file(evil, t, n - 512);
	CHECK(err_has(first_error(evil, NULL),
		      "after entry 'z': truncated archive: incomplete end-of-archive marker"));
	write_file(evil, t, n - 1);
	CHECK(err_has(first_error(evil, NULL),
		      "after entry 'z': truncated archive: incomplete end-of-archive marker"));
	write_file(evil, t, 300);
	CHECK(err_has(first_error(evil, NULL), "is not a bundle: not a tar or tar.zst stream"));
	/* Data after the end of the archive is ignored. */
	char *t2 = malloc(n + 100);
	memcpy(t2, t, n);
	memset(t2 + n, 'j', 100);
	write_file(evil, t2, n + 100);
	CHECK(first_error(evil, NULL) == NULL);
	free(t2);
	free(t);
	t = slurp(P("a.tar.zst"), &n);
	for (size_t cut = 8; cut < n; cut += n / 7) {
		write_file(tz, t, cut);
		CHECK(err_has(first_error(tz, NULL), "truncated"));
	}
	write_file(tz, t, n - 1);
	CHECK(first_error(tz, NULL) != NULL);
	free(t);
	/* Cut in the middle of a big compressed entry. */
	w = om_bundle_writer_open(P("mid.tar.zst"), &err);
	CHECK(w && add_pattern(w, "a", 1000, UINT64_MAX) == 0);
	CHECK(w && add_pattern(w, "b", 1 << 20, UINT64_MAX) == 0);
	CHECK(w && om_bundle_writer_commit(w, &err) == 0);
	t = slurp(P("mid.tar.zst"), &n);
	write_file(tz, t, n / 2);
	CHECK(err_has(first_error(tz, NULL), "entry 'b': truncated zstd input"));
	free(t);

	/* Not bundles at all. */
	struct hent z[1] = {{"a", AE_IFREG, 3, NULL}};
	make_archive(P("x.zip"), z, 1, 1);
	snprintf(full, sizeof full, "'%s' is not a bundle: not a tar or tar.zst stream", P("x.zip"));
	CHECK_STR(first_error(P("x.zip"), NULL), full);
	write_file(P("text"), "hello, world\n", 13);
	CHECK(err_has(first_error(P("text"), NULL), "is not a bundle"));
	write_file(P("zero"), "", 0);
	CHECK(err_has(first_error(P("zero"), NULL), "is not a bundle"));
	CHECK(err_has(first_error(P("absent"), NULL), "cannot open"));
	struct archive *a = archive_write_new();
	archive_write_set_format_ustar(a);
	archive_write_add_filter_gzip(a);
	archive_write_open_filename(a, P("x.tar.gz"));
	archive_write_free(a);
	CHECK(err_has(first_error(P("x.tar.gz"), NULL), "is not a bundle"));
	/* zstd, but not of a tar. */
	a = archive_write_new();
	archive_write_set_format_raw(a);
	archive_write_add_filter_zstd(a);
	archive_write_open_filename(a, P("text.zst"));
	struct archive_entry *ae = archive_entry_new();
	archive_entry_set_filetype(ae, AE_IFREG);
	archive_write_header(a, ae);
	archive_write_data(a, "hello, world\n", 13);
	archive_entry_free(ae);
	archive_write_free(a);
	CHECK(err_has(first_error(P("text.zst"), NULL), "is not a bundle: not a tar or tar.zst"));

	/* A directory with a link or a fifo in it; the link is not followed. */
	mkdir(P("evildir"), 0755);
	write_file(P("evildir/manifest.json"), "{}\n", 3);
	CHECK(symlink("/etc", P("evildir/z")) == 0);
	CHECK(err_has(first_error(P("evildir"), NULL), "entry 'z': symbolic links are not allowed"));
	unlink(P("evildir/z"));
	CHECK(mkfifo(P("evildir/f"), 0644) == 0);
	CHECK(err_has(first_error(P("evildir"), NULL), "entry 'f': fifos are not allowed"));
	/* Nor is a bundle with one updated. */
	CHECK(om_bundle_writer_open(P("evildir"), &err) == NULL);
	CHECK(err_has(err.msg, "entry 'f': fifos are not allowed"));
	unlink(P("evildir/f"));
	write_file(P("evildir/bad\xff"), "", 0);
	CHECK(err_has(first_error(P("evildir"), NULL), "entry 'bad\\xff': path is not valid UTF-8"));
}

static void test_streaming(void)
{
	const uint64_t size = (uint64_t)64 << 20;
	struct om_err err;
	struct om_bundle_writer *w;
	struct om_bundle_reader *r;
	struct om_bundle_entry e;
	struct rusage before, after;
	char outs[2][8192];

	snprintf(outs[0], sizeof outs[0], "%s", P("big.tar.zst"));
	snprintf(outs[1], sizeof outs[1], "%s", P("bigdir"));
	getrusage(RUSAGE_SELF, &before);
	for (int i = 0; i < 2; i++) {
		CHECK((w = om_bundle_writer_open(outs[i], &err)) != NULL);
		CHECK(w && om_bundle_add(w, "a.json", "{}\n", 3, &err) == 0);
		CHECK(w && add_pattern(w, "big.bin", size, UINT64_MAX) == 0);
		CHECK(w && om_bundle_add(w, "manifest.json", "{}\n", 3, &err) == 0);
		CHECK(w && om_bundle_writer_commit(w, &err) == 0);

		CHECK((r = om_bundle_reader_open(outs[i], &err)) != NULL);
		/* Skipping an entry's data is allowed. */
		CHECK(r && om_bundle_next(r, &e, &err) == 1 && strcmp(e.path, "a.json") == 0);
		CHECK(r && om_bundle_next(r, &e, &err) == 1 && e.size == size);
		struct pattern p = {size, 0, UINT64_MAX, 1};
		unsigned char a[65536], b[65536];
		ssize_t k;
		int same = 1;
		while (r && (k = om_bundle_read(r, a, sizeof a - 7, &err)) > 0) {
			pattern_read(&p, b, (size_t)k, NULL);
			same &= memcmp(a, b, (size_t)k) == 0;
		}
		CHECK(same && p.pos == size);
		/* Too big to load whole with a sane limit. */
		CHECK(r && om_bundle_next(r, &e, &err) == 1 && strcmp(e.path, "manifest.json") == 0);
		CHECK(r && om_bundle_next(r, &e, &err) == 0);
		om_bundle_reader_close(r);
	}
	r = om_bundle_reader_open(outs[0], &err);
	char *buf;
	size_t len;
	CHECK(r && om_bundle_next(r, &e, &err) == 1 && om_bundle_next(r, &e, &err) == 1);
	CHECK(r && om_bundle_read_all(r, 1 << 20, &buf, &len, &err) == -1 && buf == NULL);
	CHECK(err_has(err.msg, "entry 'big.bin': too large to load"));
	om_bundle_reader_close(r);
	getrusage(RUSAGE_SELF, &after);
	/* Bounded memory: far less than the entry's 64 MiB (kilobytes). */
	CHECK(after.ru_maxrss - before.ru_maxrss < 40 * 1024);

	/* A source shorter than announced. */
	CHECK((w = om_bundle_writer_open(P("short.tar"), &err)) != NULL);
	struct pattern p = {10, 0, UINT64_MAX, 1};
	CHECK(om_bundle_add_stream(w, "s", 20, pattern_read, &p, &err) == -1);
	CHECK(err_has(err.msg, "entry 's': the source ended after 10 of 20 bytes"));
	om_bundle_writer_abort(w);
	CHECK(access(P("short.tar"), F_OK) == -1);

	/* A stream cut short (its writer aborted) is rejected by a reader. */
	int fd = open(P("cut.tar"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK((w = om_bundle_writer_open_fd(fd, OM_FORM_TAR, "cut", &err)) != NULL);
	CHECK(add_pattern(w, "a", 100000, UINT64_MAX) == 0);
	CHECK(add_pattern(w, "b", 100000, UINT64_MAX) == 0);
	om_bundle_writer_abort(w);
	close(fd);
	CHECK(err_has(first_error(P("cut.tar"), NULL), "truncated"));
}

static void test_signal_cleanup(void)
{
	struct om_err err;
	struct om_bundle_writer *w1, *w2, *w3;

	CHECK((w1 = om_bundle_writer_open(P("sig.tar.zst"), &err)) != NULL);
	CHECK((w2 = om_bundle_writer_open(P("sigdir"), &err)) != NULL);
	CHECK((w3 = om_bundle_writer_open(P("upd"), &err)) != NULL);
	CHECK(add_pattern(w1, "a", 100000, UINT64_MAX) == 0);
	CHECK(add_pattern(w2, "a", 100000, UINT64_MAX) == 0);
	CHECK(add_pattern(w2, "b", 100, UINT64_MAX) == 0);
	CHECK(om_bundle_add(w3, "zzz", "new\n", 4, &err) == 0);
	CHECK(!has_name(dir, ".sig.tar.zst.tmp-") && has_name(P("upd"), ".om-tmp-"));
	/* What a SIGINT handler would call. */
	om_bundle_cleanup_on_signal();
	CHECK(!has_name(dir, ".sig.tar.zst.tmp-"));
	CHECK(access(P("sigdir"), F_OK) == -1);		/* it made it: removed */
	CHECK(!has_name(P("upd"), ".om-tmp-"));
	CHECK(access(P("upd/manifest.json"), F_OK) == 0);
	om_bundle_writer_abort(w1);
	om_bundle_writer_abort(w2);
	om_bundle_writer_abort(w3);
}

/*
 * What a killed writer leaves: a staging directory (no lock held on it any
 * more) is removed by the next writer on the same directory, which also
 * takes a directory with files but no manifest as its own unfinished
 * bundle; a live writer's staging directory is left alone.
 */
static void test_stale_stage(void)
{
	struct om_err err;
	struct om_bundle_writer *w1, *w2;

	rm_rf(P("killed"));
	mkdir(P("killed"), 0755);
	mkdir(P("killed/.om-tmp-AbC123"), 0700);
	write_file(P("killed/.om-tmp-AbC123/1"), "x", 1);
	write_file(P("killed/.om-tmp-AbC123/journal"), "Ra\0", 3);
	write_file(P("killed/a"), "half", 4);	/* renamed before the kill */
	/* Another name of that shape that is no directory stays. */
	write_file(P("killed/.om-tmp-zzzzzz"), "mine", 4);
	CHECK((w1 = om_bundle_writer_open(P("killed"), &err)) != NULL);
	CHECK(access(P("killed/.om-tmp-AbC123"), F_OK) == -1);
	CHECK(access(P("killed/.om-tmp-zzzzzz"), F_OK) == 0);
	/* A second writer meanwhile leaves the first one's alone. */
	CHECK(w1 && om_bundle_add(w1, "a", "whole", 5, &err) == 0);
	CHECK(om_bundle_add(w1, OM_BUNDLE_MARKER, "{}", 2, &err) == 0);
	CHECK((w2 = om_bundle_writer_open(P("killed"), &err)) == NULL);
	CHECK(err_has(err.msg, "holds no bundle"));
	CHECK(has_name(P("killed"), ".om-tmp-"));
	CHECK(om_bundle_writer_commit(w1, &err) == 0);
	CHECK(access(P("killed/" OM_BUNDLE_MARKER), F_OK) == 0);
	/* Without a staging directory, a directory with no manifest is no
	 * bundle. */
	unlink(P("killed/" OM_BUNDLE_MARKER));
	CHECK((w2 = om_bundle_writer_open(P("killed"), &err)) == NULL);
	CHECK(err_has(err.msg, "holds no bundle"));
	rm_rf(P("killed"));
}

/* A directory's files are opened only when read, and must then still be
 * the files the walk listed: one replaced, grown, shrunk or swapped for a
 * link in between is refused, naming the entry; one never read is never
 * opened. */
static void test_lazy_open(void)
{
	struct om_err err;
	struct om_bundle_reader *r;
	struct om_bundle_entry e;
	char *buf;
	size_t len;
	int i;
	static const char *cases[] = {"replace", "grow", "shrink", "link", "fifo", "remove"};

	for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); i++) {
		rm_rf(P("lazy"));
		mkdir(P("lazy"), 0755);
		write_file(P("lazy/a.json"), "{}\n", 3);
		write_file(P("lazy/b.json"), "[1]\n", 4);
		r = om_bundle_reader_open(P("lazy"), &err);
		CHECK(r != NULL);
		if (!r)
			continue;
		CHECK(om_bundle_next(r, &e, &err) == 1);
		CHECK_STR(e.path, "a.json");
		CHECK(e.size == 3);
		/* Changed after the walk listed it, before it is read. */
		if (strcmp(cases[i], "replace") == 0) {
			write_file(P("lazy/new"), "{ }", 3);
			CHECK(rename(P("lazy/new"), P("lazy/a.json")) == 0);
		} else if (strcmp(cases[i], "grow") == 0) {
			write_file(P("lazy/a.json"), "{}\n\n", 4);
		} else if (strcmp(cases[i], "shrink") == 0) {
			write_file(P("lazy/a.json"), "{}", 2);
		} else if (strcmp(cases[i], "link") == 0) {
			CHECK(unlink(P("lazy/a.json")) == 0);
			CHECK(symlink("b.json", P("lazy/a.json")) == 0);
		} else if (strcmp(cases[i], "fifo") == 0) {
			CHECK(unlink(P("lazy/a.json")) == 0);
			CHECK(mkfifo(P("lazy/a.json"), 0644) == 0);
		} else {
			CHECK(unlink(P("lazy/a.json")) == 0);
		}
		CHECK(om_bundle_read_all(r, 1 << 20, &buf, &len, &err) < 0);
		CHECK(buf == NULL);
		CHECK(err_has(err.msg, "entry 'a.json'"));
		if (strcmp(cases[i], "link") == 0 || strcmp(cases[i], "remove") == 0)
			CHECK(err_has(err.msg, "cannot open"));
		else if (strcmp(cases[i], "fifo") == 0)
			CHECK(err_has(err.msg, "not a regular file"));
		else
			CHECK(err_has(err.msg, "the file changed while being read"));
		/* After an error the reader gives nothing more. */
		CHECK(om_bundle_next(r, &e, &err) < 0);
		om_bundle_reader_close(r);
	}

	/* A file skipped is never opened: one made unreadable after the walk
	 * does not matter unless read (as root, modes do not stop reads, so
	 * the file is removed instead). */
	rm_rf(P("lazy"));
	mkdir(P("lazy"), 0755);
	write_file(P("lazy/a.json"), "{}\n", 3);
	write_file(P("lazy/b.json"), "[1]\n", 4);
	r = om_bundle_reader_open(P("lazy"), &err);
	CHECK(r && om_bundle_next(r, &e, &err) == 1);
	CHECK(unlink(P("lazy/a.json")) == 0);
	CHECK(r && om_bundle_next(r, &e, &err) == 1);
	CHECK(r && strcmp(e.path, "b.json") == 0);
	CHECK(r && om_bundle_read_all(r, 1 << 20, &buf, &len, &err) == 0);
	CHECK(r && len == 4 && buf && memcmp(buf, "[1]\n", 4) == 0);
	if (r)
		free(buf);
	CHECK(r && om_bundle_next(r, &e, &err) == 0);
	om_bundle_reader_close(r);

	/* Read in pieces, the end is still checked. */
	write_file(P("lazy/a.json"), "{}\n", 3);
	r = om_bundle_reader_open(P("lazy"), &err);
	CHECK(r && om_bundle_next(r, &e, &err) == 1);
	{
		char two[2];
		ssize_t k = 0;
		CHECK(r && om_bundle_read(r, two, 2, &err) == 2);
		write_file(P("lazy/a.json"), "{}\n\n", 4);
		for (int n = 0; r && n < 4 && (k = om_bundle_read(r, two, 2, &err)) > 0; n++)
			;
		CHECK(k < 0);
		CHECK(err_has(err.msg, "entry 'a.json': the file changed while being read"));
	}
	om_bundle_reader_close(r);
	rm_rf(P("lazy"));
}

/* Files of a directory bundle read again by path, in any order. */
static void test_read_at(void)
{
	struct om_err err;
	struct om_bundle_reader *r;
	struct om_bundle_entry e;
	char *buf;
	size_t len;

	rm_rf(P("at"));
	mkdir(P("at"), 0755);
	mkdir(P("at/d"), 0755);
	mkdir(P("at/d/e"), 0755);
	mkdir(P("at/f"), 0755);
	mkdir(P("at/.git"), 0755);
	write_file(P("at/top.json"), "1\n", 2);
	write_file(P("at/d/x.json"), "2\n", 2);
	write_file(P("at/d/e/y.json"), "3\n", 2);
	write_file(P("at/f/z.json"), "4\n", 2);
	write_file(P("at/.git/config"), "5\n", 2);
	write_file(P("at/big.json"), "0123456789", 10);
	mkfifo(P("at/fifo"), 0644);
	CHECK(symlink("d", P("at/link")) == 0);
	/* (The walk refuses the fifo and the link.) */
	CHECK(om_bundle_reader_open(P("at"), &err) == NULL);
	unlink(P("at/fifo"));
	unlink(P("at/link"));
	r = om_bundle_reader_open(P("at"), &err);
	CHECK(r && om_bundle_next(r, &e, &err) == 1);
	CHECK(r && strcmp(e.path, "big.json") == 0);
	/* In the middle of a walk, which goes on unharmed. */
	{
		static const char *order[] = {"d/e/y.json", "d/x.json", "top.json", "d/e/y.json",
					      "f/z.json", "d/x.json"};
		static const char *want[] = {"3\n", "2\n", "1\n", "3\n", "4\n", "2\n"};
		for (size_t i = 0; r && i < sizeof order / sizeof order[0]; i++) {
			CHECK(om_bundle_read_at(r, order[i], 100, &buf, &len, &err) == 0);
			CHECK(buf && len == 2 && strcmp(buf, want[i]) == 0);
			free(buf);
		}
	}
	CHECK(r && om_bundle_read_all(r, 100, &buf, &len, &err) == 0);
	CHECK(r && len == 10);
	if (r)
		free(buf);
	/* Not entries of the bundle, or refused. */
	CHECK(r && om_bundle_read_at(r, "../at/top.json", 100, &buf, &len, &err) < 0);
	CHECK(buf == NULL && err_has(err.msg, "path leaves the bundle"));
	CHECK(r && om_bundle_read_at(r, ".git/config", 100, &buf, &len, &err) < 0);
	CHECK(err_has(err.msg, "entry '.git/config'"));
	CHECK(r && om_bundle_read_at(r, "/etc/passwd", 100, &buf, &len, &err) < 0);
	CHECK(err_has(err.msg, "absolute path"));
	CHECK(r && om_bundle_read_at(r, "nothing.json", 100, &buf, &len, &err) < 0);
	CHECK(err_has(err.msg, "entry 'nothing.json': cannot open"));
	CHECK(r && om_bundle_read_at(r, "big.json", 9, &buf, &len, &err) < 0);
	CHECK(err_has(err.msg, "too large"));
	CHECK(r && om_bundle_read_at(r, "d", 100, &buf, &len, &err) < 0);
	CHECK(err_has(err.msg, "entry 'd'"));
	/* A directory swapped for a link after the walk is not followed. */
	rm_rf(P("at/f"));
	CHECK(symlink("d", P("at/f")) == 0);
	write_file(P("at/d/z.json"), "6\n", 2);
	CHECK(r && om_bundle_read_at(r, "f/z.json", 100, &buf, &len, &err) < 0);
	CHECK(err_has(err.msg, "entry 'f/z.json'"));
	/* The reader goes on after those. */
	CHECK(r && om_bundle_next(r, &e, &err) == 1);
	CHECK(r && strcmp(e.path, "d/e/y.json") == 0);
	om_bundle_reader_close(r);

	/* Archives are read in order only. */
	write_sample_to(P("at.tar"), OM_FORM_TAR);
	r = om_bundle_reader_open(P("at.tar"), &err);
	CHECK(r && om_bundle_read_at(r, "manifest.json", 100, &buf, &len, &err) < 0);
	CHECK(err_has(err.msg, "only in a directory"));
	om_bundle_reader_close(r);
	rm_rf(P("at"));
	unlink(P("at.tar"));
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, sizeof dir, "%s/om-test-bundle.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return 2;
	RUN(test_paths);
	RUN(test_deterministic);
	RUN(test_roundtrip);
	RUN(test_order);
	RUN(test_dir_update);
	RUN(test_hostile);
	RUN(test_streaming);
	RUN(test_signal_cleanup);
	RUN(test_stale_stage);
	RUN(test_lazy_open);
	RUN(test_read_at);
	rm_rf(dir);
	return T_EXIT();
}
