/* Unit tests of the external sorter: order against an in-memory reference,
 * runs, merge passes, duplicates, temporary files, damaged runs, memory.
 * OM_TEST_QUICK=1 (or valgrind) makes the big test small;
 * OM_TEST_VERBOSE=1 prints its throughput and memory. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../../format/sorter.h"
#include "t.h"

/* ---- helpers ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

/* splitmix64: deterministic, so a failure can be replayed. */
static uint64_t rnd(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

static uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

/* The payload of record seed: len bytes that depend on both. */
static void fill(unsigned char *p, size_t len, uint64_t seed)
{
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			seed = mix(seed + i);
		p[i] = (unsigned char)(seed >> (8 * (i % 8)));
	}
}

static char *scratch(void)
{
	const char *t = getenv("TMPDIR");
	static char dirs[4][4096];
	static int next;
	char *d = dirs[next++ % 4];

	snprintf(d, 4096, "%s/om-sorter-test-XXXXXX", t && *t ? t : "/tmp");
	if (!mkdtemp(d)) {
		perror("mkdtemp");
		exit(2);
	}
	return d;
}

static int dir_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* The scratch directory must be empty by now: removing it checks that. */
static int done_with(const char *dir)
{
	return rmdir(dir) == 0;
}

static int open_fds(void)
{
	return dir_entries("/proc/self/fd");
}

/* The descriptors of the sorter's (unlinked) run files in dir. */
static int run_fds(const char *dir, int *fds, int max)
{
	char want[4200], link[4200], path[300];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	snprintf(want, sizeof want, "%s/om-sort-", dir);
	while (d && (de = readdir(d)) && n < max) {
		snprintf(path, sizeof path, "/proc/self/fd/%s", de->d_name);
		ssize_t k = readlink(path, link, sizeof link - 1);
		if (k > 0) {
			link[k] = 0;
			if (strncmp(link, want, strlen(want)) == 0)
				fds[n++] = atoi(de->d_name);
		}
	}
	if (d)
		closedir(d);
	return n;
}

struct rec {
	char key[96];
	size_t len;
	uint64_t seed;
};

static int rec_cmp(const void *a, const void *b)
{
	return strcmp(((const struct rec *)a)->key, ((const struct rec *)b)->key);
}

static struct rec *shuffled_copy(const struct rec *v, size_t n)
{
	struct rec *c = malloc(n * sizeof *c);

	memcpy(c, v, n * sizeof *c);
	for (size_t i = n; i > 1; i--) {
		size_t j = rnd() % i;
		struct rec t = c[i - 1];
		c[i - 1] = c[j];
		c[j] = t;
	}
	return c;
}

static int add_all(struct om_sorter *s, const struct rec *v, size_t n)
{
	struct om_err err;
	size_t max = 0;
	unsigned char *buf;
	int ok = 1;

	for (size_t i = 0; i < n; i++)
		if (v[i].len > max)
			max = v[i].len;
	buf = malloc(max + 1);
	for (size_t i = 0; i < n && ok; i++) {
		fill(buf, v[i].len, v[i].seed);
		if (om_sorter_add(s, v[i].key, v[i].len ? buf : NULL, v[i].len, &err) < 0) {
			fprintf(stderr, "  add: %s\n", err.msg);
			ok = 0;
		}
	}
	free(buf);
	return ok;
}

/* Read everything and compare with ref (sorted): the number of matches,
 * or -1 if the sorter said more or less than ref. */
static long read_compare(struct om_sorter *s, const struct rec *ref, size_t n)
{
	struct om_err err;
	const char *key;
	const void *pay;
	size_t len, i = 0, max = 0;
	long same = 0;
	unsigned char *buf;
	int r;

	for (size_t j = 0; j < n; j++)
		if (ref[j].len > max)
			max = ref[j].len;
	buf = malloc(max + 1);
	while ((r = om_sorter_next(s, &key, &pay, &len, &err)) == 1) {
		if (i == n) {
			free(buf);
			return -1;
		}
		fill(buf, ref[i].len, ref[i].seed);
		same += strcmp(key, ref[i].key) == 0 && len == ref[i].len &&
			(len == 0 || memcmp(pay, buf, len) == 0);
		i++;
	}
	free(buf);
	if (r < 0)
		fprintf(stderr, "  next: %s\n", err.msg);
	return r < 0 || i != n ? -1 : same;
}

/* Keys that sort in awkward ways: prefixes, bytes >= 0x80, the empty key. */
static const char *const special[] = {
	"a", "a/b", "a b", "a-b", "a.json", "a/b/c", "ab", "", "Zürich", "Zurich", "日本",
	"日本/x", "\xff", "\xfe\xff", "a\x7f", "A", "z", "~", "a/", "a//b",
};
#define NSPECIAL (sizeof special / sizeof *special)

/* n distinct records: the special keys, then generated ones. */
static struct rec *make_recs(size_t n, size_t max_len)
{
	static const char *const parts[] = {"a", "a/b", "a b", "a-b", "a.json", "Zürich", "日本",
					    "\xff\xfe", "tenants/acme/apps/web"};
	struct rec *v = calloc(n, sizeof *v);

	for (size_t i = 0; i < n; i++) {
		if (i < NSPECIAL)
			snprintf(v[i].key, sizeof v[i].key, "%s", special[i]);
		else
			snprintf(v[i].key, sizeof v[i].key, "%s/%06zu%s",
				 parts[rnd() % (sizeof parts / sizeof *parts)], i,
				 rnd() % 2 ? ".json" : "");
		/* A tenth are empty. */
		v[i].len = rnd() % 10 == 0 ? 0 : rnd() % (max_len + 1);
		v[i].seed = rnd();
	}
	return v;
}

/* Add n records in random order to a sorter and check the output; fills
 * *st.  The scratch directory must stay empty throughout. */
static void sort_and_check(size_t n, size_t max_len, size_t limit, struct om_sorter_stats *st)
{
	char *dir = scratch();
	struct om_err err;
	struct rec *v = make_recs(n, max_len), *in = shuffled_copy(v, n);
	int fds = open_fds();
	struct om_sorter *s = om_sorter_new(dir, limit, &err);

	CHECK(s != NULL);
	if (!s)
		goto out;
	qsort(v, n, sizeof *v, rec_cmp);
	CHECK(add_all(s, in, n));
	CHECK(om_sorter_finish(s, &err) == 0);
	CHECK(dir_entries(dir) == 0);
	CHECK(read_compare(s, v, n) == (long)n);
	om_sorter_stats(s, st);
	CHECK(st->records == n);
	om_sorter_free(s);
	CHECK(open_fds() == fds);
out:
	CHECK(done_with(dir));
	free(v);
	free(in);
}

/* ---- tests ---- */

static void test_in_memory(void)
{
	struct om_sorter_stats st;
	char *dir = scratch();
	struct om_err err;
	struct om_sorter *s = om_sorter_new(dir, 0, &err);
	const char *key;
	const void *pay;
	size_t len;

	CHECK(s != NULL);
	for (size_t i = NSPECIAL; i-- > 0;)
		CHECK(om_sorter_add(s, special[i], special[i], strlen(special[i]), &err) == 0);
	CHECK(om_sorter_finish(s, &err) == 0);
	/* Bytewise order: "a" < "a b" < "a-b" < "a.json" < "a/" < ... */
	const char *prev = NULL;
	size_t n = 0;
	while (om_sorter_next(s, &key, &pay, &len, &err) == 1) {
		CHECK(len == strlen(key) && memcmp(pay, key, len) == 0);
		CHECK(!prev || strcmp(prev, key) < 0);
		prev = key;
		n++;
	}
	CHECK(n == NSPECIAL);
	CHECK(om_sorter_next(s, &key, &pay, &len, &err) == 0);
	om_sorter_stats(s, &st);
	CHECK(st.runs == 0 && st.temp_bytes == 0 && st.merges == 0);
	om_sorter_free(s);
	CHECK(done_with(dir));

	/* The same order as the reference, with random payloads. */
	sort_and_check(2000, 300, 0, &st);
	CHECK(st.runs == 0 && st.temp_bytes == 0);

	/* Nothing at all. */
	s = om_sorter_new(NULL, 0, &err);
	CHECK(s && om_sorter_finish(s, &err) == 0);
	CHECK(s && om_sorter_next(s, &key, &pay, &len, &err) == 0);
	om_sorter_free(s);
	om_sorter_free(NULL);
}

static void test_many_runs(void)
{
	struct om_sorter_stats st;

	/* Many runs, all merged at once. */
	sort_and_check(1500, 200, 4096, &st);
	CHECK(st.runs > 20 && st.runs <= 64 && st.merges == 0);
	/* Records near the size of a read buffer (64 KiB here) and above. */
	sort_and_check(300, 150000, 1 << 20, &st);
	CHECK(st.runs > 5 && st.merges == 0);
}

static void test_big_records(void)
{
	struct om_sorter_stats st;
	char *dir = scratch();
	struct om_err err;
	struct om_sorter *s = om_sorter_new(dir, 4096, &err);
	struct rec v[5] = {
		{"m/big", 100000, 1}, {"a/small", 10, 2}, {"z/huge", 3 << 20, 3},
		{"b/just-over", 4096, 4}, {"c/empty", 0, 5},
	};

	CHECK(add_all(s, v, 5));
	CHECK(om_sorter_finish(s, &err) == 0);
	qsort(v, 5, sizeof *v, rec_cmp);
	CHECK(read_compare(s, v, 5) == 5);
	om_sorter_stats(s, &st);
	/* The three big ones as runs of their own, the two others in memory. */
	CHECK(st.runs == 3);
	om_sorter_free(s);

	/* A big record alone: one run, nothing in memory. */
	s = om_sorter_new(dir, 1000, &err);
	CHECK(add_all(s, v + 4, 1));
	CHECK(om_sorter_finish(s, &err) == 0);
	CHECK(read_compare(s, v + 4, 1) == 1);
	om_sorter_free(s);

	/* Records larger than an arena block but within the limit: in memory. */
	s = om_sorter_new(dir, 8 << 20, &err);
	v[2].len = 1 << 20;
	CHECK(add_all(s, v, 5));
	CHECK(om_sorter_finish(s, &err) == 0);
	CHECK(read_compare(s, v, 5) == 5);
	om_sorter_stats(s, &st);
	CHECK(st.runs == 0);
	om_sorter_free(s);
	CHECK(done_with(dir));
}

static void test_merge_passes(void)
{
	struct om_sorter_stats st;
	char *dir = scratch();
	struct om_err err;
	size_t n = 20000;
	struct rec *v = make_recs(n, 60), *in = shuffled_copy(v, n);
	struct om_sorter *s = om_sorter_new(dir, 4096, &err);
	int fds = open_fds(), most = 0;

	qsort(v, n, sizeof *v, rec_cmp);
	for (size_t i = 0; i < n; i += 100) {
		CHECK(add_all(s, in + i, 100));
		int k = open_fds() - fds;
		most = k > most ? k : most;
	}
	/* Early merges keep the open runs under 128. */
	CHECK(most <= 128);
	CHECK(om_sorter_finish(s, &err) == 0);
	CHECK(open_fds() - fds <= 64);
	CHECK(read_compare(s, v, n) == (long)n);
	om_sorter_stats(s, &st);
	CHECK(st.runs > 300 && st.merges >= 4);
	uint64_t sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += strlen(v[i].key) + 1 + v[i].len;
	/* Written once as runs, then again by the merges. */
	CHECK(st.temp_bytes > sum + sum / 4);
	om_sorter_free(s);
	CHECK(open_fds() == fds);
	CHECK(done_with(dir));
	free(v);
	free(in);
}

/* Read until the end or an error: the records read, -1 on error. */
static long drain(struct om_sorter *s, struct om_err *err)
{
	const char *key;
	const void *pay;
	size_t len;
	long n = 0;
	int r;

	while ((r = om_sorter_next(s, &key, &pay, &len, err)) == 1)
		n++;
	return r < 0 ? -1 - n : n;
}

static void dup_case(size_t n, size_t limit, size_t at1, size_t at2, size_t big)
{
	char *dir = scratch();
	struct om_err err;
	struct rec *v = make_recs(n, 100);
	struct om_sorter *s = om_sorter_new(dir, limit, &err);
	int fds = open_fds();
	long got;

	snprintf(v[at1].key, sizeof v[at1].key, "dup/key");
	snprintf(v[at2].key, sizeof v[at2].key, "dup/key");
	v[at2].len = big ? big : v[at2].len;
	CHECK(add_all(s, v, n));
	CHECK(om_sorter_finish(s, &err) == 0);
	qsort(v, n, sizeof *v, rec_cmp);
	size_t before = 0;
	while (strcmp(v[before].key, "dup/key") != 0)
		before++;
	/* Both come out: the error is on the second. */
	got = drain(s, &err);
	CHECK(got == -1 - (long)(before + 1));
	CHECK_STR(err.msg, "duplicate key 'dup/key'");
	const char *key;
	const void *pay;
	size_t len;
	CHECK(om_sorter_next(s, &key, &pay, &len, &err) == -1);
	om_sorter_free(s);
	CHECK(open_fds() == fds);
	CHECK(done_with(dir));
	free(v);
}

static void test_duplicates(void)
{
	dup_case(100, 0, 10, 90, 0);		/* in memory */
	dup_case(600, 4096, 10, 500, 0);	/* two runs */
	dup_case(600, 4096, 10, 599, 0);	/* a run and the memory */
	dup_case(600, 4096, 500, 10, 5000);	/* a big record's own run */
	dup_case(8000, 4096, 3, 7000, 0);	/* through merge passes */
}

static void test_cleanup(void)
{
	char *dir = scratch();
	struct om_err err;
	struct rec *v = make_recs(3000, 200);
	int fds = open_fds();
	struct om_sorter *s;
	const char *key;
	const void *pay;
	size_t len;

	/* Freed in the middle of the merge. */
	s = om_sorter_new(dir, 4096, &err);
	CHECK(add_all(s, v, 3000));
	CHECK(om_sorter_finish(s, &err) == 0);
	for (int i = 0; i < 1000; i++)
		CHECK(om_sorter_next(s, &key, &pay, &len, &err) == 1);
	CHECK(open_fds() > fds + 10);
	CHECK(dir_entries(dir) == 0);
	om_sorter_free(s);
	CHECK(open_fds() == fds);

	/* Freed before finish, runs on disk. */
	s = om_sorter_new(dir, 4096, &err);
	CHECK(add_all(s, v, 3000));
	CHECK(open_fds() > fds + 10);
	om_sorter_free(s);
	CHECK(open_fds() == fds);

	/* Misuse. */
	s = om_sorter_new(dir, 0, &err);
	CHECK(om_sorter_next(s, &key, &pay, &len, &err) == -1);
	CHECK_STR(err.msg, "sorter: next before finish");
	CHECK(om_sorter_finish(s, &err) == 0);
	CHECK(om_sorter_add(s, "x", "", 0, &err) == -1);
	CHECK_STR(err.msg, "sorter: add after finish");
	CHECK(om_sorter_finish(s, &err) == -1);
	om_sorter_free(s);
	CHECK(om_sorter_new("/nonexistent/dir", 0, &err) == NULL);
	CHECK_STR(err.msg, "sorter: temporary directory '/nonexistent/dir': No such file or directory");
	CHECK(om_sorter_new("/dev/null", 0, &err) == NULL);
	CHECK_STR(err.msg, "sorter: temporary directory '/dev/null': not a directory");
	CHECK(open_fds() == fds);
	CHECK(done_with(dir));
	free(v);
}

/* Runs that lose their end, or get garbage, after finish. */
static void damaged_case(int garbage)
{
	char *dir = scratch();
	struct om_err err;
	struct rec *v = make_recs(1000, 8000);
	struct om_sorter *s = om_sorter_new(dir, 1 << 20, &err);
	int fds[16], n;
	long got;

	CHECK(add_all(s, v, 1000));
	CHECK(om_sorter_finish(s, &err) == 0);
	n = run_fds(dir, fds, 16);
	CHECK(n >= 2);
	for (int i = 0; i < n; i++) {
		if (garbage) {
			static unsigned char junk[200000];
			memset(junk, 0xff, sizeof junk);
			CHECK(pwrite(fds[i], junk, sizeof junk, 300000) == (ssize_t)sizeof junk);
		} else {
			CHECK(ftruncate(fds[i], 200000) == 0);
		}
	}
	got = drain(s, &err);
	CHECK(got < 0);
	CHECK_STR(err.msg, garbage ? "sorter: temporary file corrupt"
				   : "sorter: temporary file truncated");
	om_sorter_free(s);
	CHECK(done_with(dir));
	free(v);
}

static void test_damaged_runs(void)
{
	damaged_case(0);
	damaged_case(1);
}

/* A run that cannot be written: the file size limit stands in for a full
 * disk. */
static void test_write_error(void)
{
	char *dir = scratch();
	struct om_err err;
	struct rlimit old, lim;
	struct rec *v = make_recs(400, 10);
	unsigned char *pay = calloc(1, 300000);
	struct om_sorter *s = om_sorter_new(dir, 1 << 20, &err);
	int fds = open_fds(), failed = 0;
	char want[4300];

	snprintf(want, sizeof want, "sorter: cannot write a temporary file in '%s': %s", dir,
		 strerror(EFBIG));
	CHECK(getrlimit(RLIMIT_FSIZE, &old) == 0);
	lim = old;
	lim.rlim_cur = 100000;
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	for (size_t i = 0; i < 400 && !failed; i++)
		failed = om_sorter_add(s, v[i].key, pay, 8000, &err) < 0;
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK(failed);
	CHECK_STR(err.msg, want);
	/* Failures are final. */
	CHECK(om_sorter_add(s, "x", "", 0, &err) == -1);
	CHECK_STR(err.msg, "sorter: cannot go on after an earlier error");
	CHECK(om_sorter_finish(s, &err) == -1);
	om_sorter_free(s);
	CHECK(open_fds() == fds);
	CHECK(done_with(dir));
	free(v);

	/* The same with a record over the memory limit, written directly. */
	dir = scratch();
	s = om_sorter_new(dir, 4096, &err);
	snprintf(want, sizeof want, "sorter: cannot write a temporary file in '%s': %s", dir,
		 strerror(EFBIG));
	signal(SIGXFSZ, SIG_IGN);
	CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	CHECK(om_sorter_add(s, "big", pay, 300000, &err) == -1);
	CHECK(setrlimit(RLIMIT_FSIZE, &old) == 0);
	signal(SIGXFSZ, SIG_DFL);
	CHECK_STR(err.msg, want);
	om_sorter_free(s);
	CHECK(open_fds() == fds);
	CHECK(done_with(dir));
	free(pay);
}

/* ---- encrypted runs ---- */

#define MARKER "om-sorter-MARKER-password-hunter2"

/* Whether MARKER appears in any run file of the sorter in dir (they are
 * unlinked: found through /proc/self/fd); *nfiles gets their number. */
static int marker_on_disk(const char *dir, int *nfiles)
{
	static unsigned char buf[1 << 20];
	int fds[256], n = run_fds(dir, fds, 256), found = 0;
	size_t mlen = strlen(MARKER);

	*nfiles = n;
	for (int i = 0; i < n && !found; i++) {
		off_t off = 0;
		ssize_t k;
		/* Overlapping reads, so a marker across two reads is seen. */
		while (!found && (k = pread(fds[i], buf, sizeof buf, off)) > 0) {
			for (ssize_t j = 0; j + (ssize_t)mlen <= k && !found; j++)
				found = memcmp(buf + j, MARKER, mlen) == 0;
			if (k < (ssize_t)mlen)
				break;
			off += k - (ssize_t)mlen + 1;
		}
	}
	return found;
}

/*
 * Whether MARKER is in the len bytes at address addr of this process, read
 * through /proc/self/mem: memory the sorter freed is looked at without
 * touching it through a pointer.  Memory no longer mapped holds nothing.
 */
static int marker_in_memory(uintptr_t addr, size_t len)
{
	int fd = open("/proc/self/mem", O_RDONLY | O_CLOEXEC), found = 0;
	unsigned char *buf = malloc(len);
	size_t mlen = strlen(MARKER);

	if (fd >= 0 && buf && pread(fd, buf, len, (off_t)addr) == (ssize_t)len)
		for (size_t j = 0; j + mlen <= len && !found; j++)
			found = memcmp(buf + j, MARKER, mlen) == 0;
	if (fd >= 0)
		close(fd);
	free(buf);
	return found;
}

/* The payload of x with MARKER at an offset that varies with the record. */
static void marked(unsigned char *buf, const struct rec *x)
{
	fill(buf, x->len, x->seed);
	memcpy(buf + x->seed % (x->len - strlen(MARKER)), MARKER, strlen(MARKER));
}

/* Records whose payloads hold MARKER (and sizes spanning the small,
 * the buffer-sized and the over-the-limit paths), sorted with a tiny
 * memory limit; the run files are searched while they exist. */
static void encrypted_case(int encrypt)
{
	char *dir = scratch();
	struct om_err err;
	size_t n = 3000;
	struct rec *v = make_recs(n, 300), *in;
	struct om_sorter *s = om_sorter_new(dir, 4096, &err);
	int fds = open_fds(), files = 0, seen = 0, most = 0;
	size_t maxlen = 0;
	unsigned char *buf;
	const char *key;
	const void *pay;
	size_t len, i = 0;
	int r;

	CHECK(s != NULL);
	if (!s)
		return;
	if (encrypt)
		CHECK(om_sorter_encrypt(s, &err) == 0);
	/* A few big ones: written straight from the caller's buffer. */
	v[5].len = 100000;
	v[6].len = 70000;
	for (size_t j = 0; j < n; j++) {
		if (v[j].len < 64)
			v[j].len = 64 + j % 64;
		maxlen = v[j].len > maxlen ? v[j].len : maxlen;
	}
	in = shuffled_copy(v, n);
	qsort(v, n, sizeof *v, rec_cmp);
	buf = malloc(maxlen);
	for (size_t j = 0; j < n; j++) {
		marked(buf, &in[j]);
		CHECK(om_sorter_add(s, in[j].key, buf, in[j].len, &err) == 0);
		if (j % 500 == 499) {
			seen |= marker_on_disk(dir, &files);
			most = files > most ? files : most;
		}
	}
	CHECK(om_sorter_finish(s, &err) == 0);
	seen |= marker_on_disk(dir, &files);
	most = files > most ? files : most;
	CHECK(most > 10);
	CHECK(seen == !encrypt);
	CHECK(dir_entries(dir) == 0);
	/* The sorted output is the same as in the clear. */
	while ((r = om_sorter_next(s, &key, &pay, &len, &err)) == 1) {
		if (i == n)
			break;
		marked(buf, &v[i]);
		CHECK(strcmp(key, v[i].key) == 0 && len == v[i].len &&
		      memcmp(pay, buf, len) == 0);
		i++;
		if (i == n / 2)
			CHECK(marker_on_disk(dir, &files) == !encrypt);
	}
	CHECK(r == 0 && i == n);
	om_sorter_free(s);
	CHECK(open_fds() == fds);
	CHECK(done_with(dir));
	free(buf);
	free(v);
	free(in);
}

static void test_encrypted_runs(void)
{
	struct om_err err;
	struct om_sorter *s;
	const char *key;
	const void *pay;
	size_t len;

	/* The marker is found in clear runs, so the search can fail. */
	encrypted_case(0);
	encrypted_case(1);
	/* Only before the first run. */
	s = om_sorter_new(NULL, 1000, &err);
	static unsigned char big[2000];
	CHECK(om_sorter_add(s, "big", big, sizeof big, &err) == 0);
	CHECK(om_sorter_encrypt(s, &err) == -1);
	CHECK_STR(err.msg, "sorter: encrypt after runs were written");
	om_sorter_free(s);
	/* Twice is harmless.  An encrypted sorter wipes on free the records
	 * it holds in memory, and its read buffers of runs on disk (in the
	 * clear they are not wiped: so the search can fail).  Three records of
	 * 2000 bytes under a limit of 4096 are spilled; one is not. */
	for (int c = 0; c < 4; c++) {
		int enc = c & 1, spill = c >> 1;
		uintptr_t at;
		memset(big, 'x', sizeof big);
		memcpy(big + 700, MARKER, strlen(MARKER));
		s = om_sorter_new(NULL, spill ? 4096 : 64 << 10, &err);
		if (enc)
			CHECK(om_sorter_encrypt(s, &err) == 0 && om_sorter_encrypt(s, &err) == 0);
		for (int k = 0; k < (spill ? 3 : 1); k++)
			CHECK(om_sorter_add(s, spill ? (const char *[]){"c", "a", "b"}[k] : "k", big,
					    sizeof big, &err) == 0);
		CHECK(om_sorter_finish(s, &err) == 0);
		CHECK(om_sorter_next(s, &key, &pay, &len, &err) == 1 && len == sizeof big &&
		      memcmp(pay, big, len) == 0);
		at = (uintptr_t)pay;
		om_sorter_free(s);
		memset(big, 0, sizeof big);
		CHECK(marker_in_memory(at, len) == !enc);
	}
}

/* ---- bounded memory ---- */

static long status_kb(const char *field)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	long kb = -1;

	while (f && fgets(line, sizeof line, f))
		if (strncmp(line, field, strlen(field)) == 0)
			kb = atol(line + strlen(field) + 1);
	if (f)
		fclose(f);
	return kb;
}

/* Record i of the big test: a scattered key and a size from 100 B to 3 MB. */
static void big_key(char *key, size_t n, uint64_t i)
{
	uint64_t h = mix(i);

	snprintf(key, n, "tenants/t%02u/apps/%016llx.json", (unsigned)(h % 50),
		 (unsigned long long)h);
}

static size_t big_len(uint64_t i)
{
	uint64_t h = mix(i ^ 0x5555);

	if (h % 2000 == 0)
		return (size_t)(1000000 + h % 2000000);
	if (h % 50 == 1)
		return (size_t)(20000 + h % 80000);
	return (size_t)(100 + h % 2900);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Small under OM_TEST_QUICK or valgrind (whose preload shows in the
 * environment): valgrind's own memory would blur the bound. */
static int quick(void)
{
	const char *pre = getenv("LD_PRELOAD");

	return getenv("OM_TEST_QUICK") || (pre && strstr(pre, "vgpreload"));
}

static void test_bounded_memory(void)
{
	int small = quick();
	uint64_t total = small ? 20000000 : 200000000, bytes = 0, n = 0, seen = 0;
	size_t limit = small ? (size_t)4 << 20 : (size_t)16 << 20;
	char *dir = scratch();
	struct om_err err;
	unsigned char *buf = malloc(3000000);
	char key[96], prev[96] = "";
	const char *k;
	const void *pay;
	size_t len;
	int r, bad = 0;
	struct om_sorter *s;
	struct om_sorter_stats st;

	/* Forget the peak of the tests before ("5": reset VmHWM). */
	FILE *f = fopen("/proc/self/clear_refs", "w");
	if (f) {
		fputs("5", f);
		fclose(f);
	}
	long base = status_kb("VmRSS:");
	double t0 = now();

	s = om_sorter_new(dir, limit, &err);
	for (; bytes < total; n++) {
		size_t l = big_len(n);
		big_key(key, sizeof key, n);
		memcpy(buf, &n, sizeof n);
		fill(buf + 8, l - 8, n);
		if (om_sorter_add(s, key, buf, l, &err) < 0) {
			fprintf(stderr, "  add: %s\n", err.msg);
			bad = 1;
			break;
		}
		bytes += l;
	}
	CHECK(om_sorter_finish(s, &err) == 0);
	while ((r = om_sorter_next(s, &k, &pay, &len, &err)) == 1) {
		uint64_t i;
		memcpy(&i, pay, sizeof i);
		big_key(key, sizeof key, i);
		/* The payload after its index is checked on a sample, for speed. */
		if (i % 16 == 0)
			fill(buf, len - 8, i);
		if (strcmp(prev, k) >= 0 || strcmp(k, key) != 0 || len != big_len(i) ||
		    (i % 16 == 0 && memcmp(buf, (const unsigned char *)pay + 8, len - 8) != 0))
			bad++;
		snprintf(prev, sizeof prev, "%s", k);
		seen++;
	}
	double t1 = now();
	long peak = status_kb("VmHWM:");
	CHECK(r == 0);
	CHECK(!bad);
	CHECK(seen == n);
	om_sorter_stats(s, &st);
	om_sorter_free(s);
	CHECK(st.runs >= total / limit);
	if (getenv("OM_TEST_VERBOSE"))
		fprintf(stderr, "  %llu records, %.0f MB, limit %zu MiB: %.2f s, %.0f MB/s, "
			"%llu runs, peak RSS +%ld MiB\n", (unsigned long long)n, bytes / 1e6,
			limit >> 20, t1 - t0, bytes / 1e6 / (t1 - t0),
			(unsigned long long)st.runs, (peak - base) / 1024);
#ifndef __SANITIZE_ADDRESS__
	/* ASan keeps freed memory in quarantine: no bound to check there. */
	CHECK(base > 0 && peak > 0 && peak - base < 64 * 1024);
#endif
	CHECK(done_with(dir));
	free(buf);
}

int main(void)
{
	/* First, so that the other tests' memory does not count. */
	RUN(test_bounded_memory);
	RUN(test_in_memory);
	RUN(test_many_runs);
	RUN(test_big_records);
	RUN(test_merge_passes);
	RUN(test_duplicates);
	RUN(test_cleanup);
	RUN(test_damaged_runs);
	RUN(test_write_error);
	RUN(test_encrypted_runs);
	return T_EXIT();
}
