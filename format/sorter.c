/*
 * sorter.c - the external merge sort of sorter.h.
 *
 * In memory, records live in an arena of fixed-size blocks (reused from
 * one run to the next) with an array of pointers to them, sorted by qsort.
 * A run file is a sequence of records, each
 *     varint key length, varint payload length, key, NUL, payload
 * (varints LEB128); the sorter remembers each run's size and record count,
 * so a file that reads back short or malformed is caught.  The merge is a
 * binary heap of sources: the runs on disk, each read through its own
 * buffer, and the records still in memory.
 *
 * Encrypted runs (om_sorter_encrypt) are the same bytes XORed with an
 * XChaCha20 key stream: one key for the sorter, a nonce for each run file,
 * and the block counter taken from the offset in the file, so that any
 * byte range can be written or read back on its own.  The nonces stay in
 * memory with the runs; nothing but ciphertext is ever written.
 */
#include "sorter.h"
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

/* Runs merged at once, and runs on disk that trigger an early merge: the
 * two bound the open files and the read buffers. */
#define FAN_IN 64
#define RUNS_MAX 128
#define IO_MIN ((size_t)16 << 10)
#define IO_MAX ((size_t)256 << 10)
#define BLOCK_MIN ((size_t)4 << 10)
#define BLOCK_MAX ((size_t)1 << 20)
/* Two varints of a uint64_t. */
#define HEAD_MAX 20
/* XChaCha20's block: the counter counts these. */
#define KS_BLOCK 64

struct rec {
	size_t klen, plen;
	/* the key, a NUL, the payload */
};

struct block {
	struct block *next;
	size_t size, used;
	unsigned char data[];
};

struct run {
	int fd;
	uint64_t bytes, nrecs;
	unsigned char nonce[crypto_stream_xchacha20_NONCEBYTES];
};

/* One input of a merge: a run on disk (fd >= 0) or the records in memory. */
struct src {
	const char *key;
	const unsigned char *pay;
	size_t plen;
	size_t order;		/* ties between sources: a fixed order */
	struct run run;
	uint64_t off, recs;	/* next offset to read; records not yet parsed */
	unsigned char *buf, *big;
	size_t big_len;
	size_t pos, end;
	struct rec **v;
	size_t i, n;
};

struct om_sorter {
	char *tmpdir;
	size_t limit, iosize, block_size;
	int failed, finished;
	/* The run files' key (sodium_malloc), or NULL: runs in the clear. */
	unsigned char *key;

	/* the records in memory */
	struct block *blocks, *spare, *bigs;
	struct rec **recs;
	size_t nrecs, cap, used;

	struct run *runs;
	size_t nruns, runs_cap;
	unsigned char *wbuf;
	size_t wlen;

	/* the last merge */
	struct src *srcs;
	struct src **heap;
	size_t nsrcs, nheap;
	struct src *last;
	char *prev;
	size_t prev_cap;
	int have_prev;

	struct om_sorter_stats stats;
};

static int oom(struct om_sorter *s, struct om_err *err)
{
	s->failed = 1;
	om_err_set(err, "out of memory");
	return -1;
}

static int usable(struct om_sorter *s, struct om_err *err);

static int fail(struct om_sorter *s, struct om_err *err, const char *what, int e)
{
	s->failed = 1;
	om_err_set(err, "sorter: %s in '%s': %s", what, s->tmpdir, strerror(e));
	return -1;
}

static int corrupt(struct om_sorter *s, struct om_err *err, const char *why)
{
	s->failed = 1;
	om_err_set(err, "sorter: temporary file %s", why);
	return -1;
}

static size_t clamp(size_t v, size_t lo, size_t hi)
{
	return v < lo ? lo : v > hi ? hi : v;
}

static const char *rec_key(const struct rec *r)
{
	return (const char *)(r + 1);
}

/* ---- memory ---- */

struct om_sorter *om_sorter_new(const char *tmpdir, size_t mem_limit, struct om_err *err)
{
	struct om_sorter *s;
	struct stat st;

	if (!tmpdir || !*tmpdir)
		tmpdir = getenv("TMPDIR");
	if (!tmpdir || !*tmpdir)
		tmpdir = "/tmp";
	if (stat(tmpdir, &st) < 0) {
		om_err_set(err, "sorter: temporary directory '%s': %s", tmpdir, strerror(errno));
		return NULL;
	}
	if (!S_ISDIR(st.st_mode)) {
		om_err_set(err, "sorter: temporary directory '%s': not a directory", tmpdir);
		return NULL;
	}
	s = calloc(1, sizeof *s);
	if (!s || !(s->tmpdir = strdup(tmpdir))) {
		free(s);
		om_err_set(err, "out of memory");
		return NULL;
	}
	s->limit = mem_limit ? mem_limit : OM_SORTER_DEFAULT_LIMIT;
	s->iosize = clamp(s->limit / 16, IO_MIN, IO_MAX);
	s->block_size = clamp(s->limit / 4, BLOCK_MIN, BLOCK_MAX);
	return s;
}

/* n bytes, 8-aligned, from the arena.  Anything over an eighth of a block
 * gets a block of its own, so that at most an eighth of each block is lost
 * at its end. */
static void *arena_alloc(struct om_sorter *s, size_t n)
{
	struct block *b = s->blocks;

	if (n > s->block_size / 8) {
		b = malloc(sizeof *b + n);
		if (!b)
			return NULL;
		b->size = b->used = n;
		b->next = s->bigs;
		s->bigs = b;
		return b->data;
	}
	if (!b || b->size - b->used < n) {
		b = s->spare;
		if (b)
			s->spare = b->next;
		else if (!(b = malloc(sizeof *b + s->block_size)))
			return NULL;
		b->size = s->block_size;
		b->used = 0;
		b->next = s->blocks;
		s->blocks = b;
	}
	b->used += n;
	return b->data + b->used - n;
}

/*
 * Free a buffer of n bytes, first wiped when the sorter is encrypted: its
 * records hold secrets in the clear, which must not outlive the sorter in
 * freed memory either.
 */
static void wipe_free(const struct om_sorter *s, void *p, size_t n)
{
	if (p && s->key)
		sodium_memzero(p, n);
	free(p);
}

static void free_blocks(const struct om_sorter *s, struct block *b)
{
	while (b) {
		struct block *next = b->next;
		if (s->key)
			sodium_memzero(b->data, b->size);
		free(b);
		b = next;
	}
}

/* Forget the records in memory, keeping the blocks for the next run. */
static void arena_reset(struct om_sorter *s)
{
	struct block *b = s->blocks;

	while (b) {
		struct block *next = b->next;
		b->next = s->spare;
		s->spare = b;
		b = next;
	}
	s->blocks = NULL;
	free_blocks(s, s->bigs);
	s->bigs = NULL;
	s->nrecs = 0;
	s->used = 0;
}

/* qsort is not stable, and need not be: equal keys still end up side by
 * side, which is all the duplicate check needs. */
static int rec_cmp(const void *a, const void *b)
{
	return strcmp(rec_key(*(struct rec *const *)a), rec_key(*(struct rec *const *)b));
}

/* ---- encrypted runs ---- */

int om_sorter_encrypt(struct om_sorter *s, struct om_err *err)
{
	if (usable(s, err) < 0)
		return -1;
	if (s->key)
		return 0;
	if (s->stats.runs || s->finished) {
		om_err_set(err, "sorter: encrypt after runs were written");
		return -1;
	}
	if (sodium_init() < 0) {
		om_err_set(err, "sorter: cannot initialise libsodium");
		return -1;
	}
	if (!(s->key = sodium_malloc(crypto_stream_xchacha20_KEYBYTES)))
		return oom(s, err);
	crypto_stream_xchacha20_keygen(s->key);
	return 0;
}

/* XOR n bytes at p, which sit at offset off of run r, with r's key stream
 * (in place: the same call encrypts and decrypts).  A start inside a
 * key-stream block goes through a block of its own. */
static void run_crypt(const struct om_sorter *s, const struct run *r, unsigned char *p,
		      size_t n, uint64_t off)
{
	uint64_t ic = off / KS_BLOCK;
	size_t skip = (size_t)(off % KS_BLOCK);

	if (!s->key || n == 0)
		return;
	if (skip) {
		unsigned char blk[KS_BLOCK] = {0};
		size_t k = KS_BLOCK - skip < n ? KS_BLOCK - skip : n;
		memcpy(blk + skip, p, k);
		crypto_stream_xchacha20_xor_ic(blk, blk, KS_BLOCK, r->nonce, ic, s->key);
		memcpy(p, blk + skip, k);
		sodium_memzero(blk, sizeof blk);
		p += k;
		n -= k;
		ic++;
	}
	if (n)
		crypto_stream_xchacha20_xor_ic(p, p, n, r->nonce, ic, s->key);
}

/* ---- writing runs ---- */

static int write_all(struct om_sorter *s, int fd, const void *p, size_t n, struct om_err *err)
{
	const unsigned char *c = p;

	while (n > 0) {
		ssize_t k = write(fd, c, n);
		if (k < 0 && errno == EINTR)
			continue;
		/* write() returning 0 on a regular file can only mean no space. */
		if (k <= 0)
			return fail(s, err, "cannot write a temporary file", k < 0 ? errno : ENOSPC);
		c += k;
		n -= (size_t)k;
	}
	return 0;
}

static int run_begin(struct om_sorter *s, struct run *r, struct om_err *err)
{
	char path[4096];

	r->fd = om_tmpfile(s->tmpdir, "om-sort-", path, sizeof path);
	r->bytes = r->nrecs = 0;
	/* A fresh nonce for each file, merges' outputs included. */
	if (s->key)
		randombytes_buf(r->nonce, sizeof r->nonce);
	if (r->fd < 0)
		return fail(s, err, "cannot create a temporary file", errno);
	fcntl(r->fd, F_SETFD, FD_CLOEXEC);
	if (!s->wbuf && !(s->wbuf = malloc(s->iosize))) {
		close(r->fd);
		r->fd = -1;
		return oom(s, err);
	}
	s->wlen = 0;
	return 0;
}

static int run_flush(struct om_sorter *s, struct run *r, struct om_err *err)
{
	/* The buffer holds the last wlen bytes counted in r->bytes. */
	run_crypt(s, r, s->wbuf, s->wlen, r->bytes - s->wlen);
	if (s->wlen && write_all(s, r->fd, s->wbuf, s->wlen, err) < 0)
		return -1;
	s->wlen = 0;
	return 0;
}

static int run_write(struct om_sorter *s, struct run *r, const void *p, size_t n,
		     struct om_err *err)
{
	if (n > s->iosize - s->wlen && run_flush(s, r, err) < 0)
		return -1;
	/* Big payloads go past the buffer rather than through it, unless
	 * they must be encrypted: the caller's bytes are not ours to change. */
	if (n >= s->iosize && s->key) {
		const unsigned char *c = p;
		for (size_t done = 0; done < n;) {
			size_t k = n - done < s->iosize ? n - done : s->iosize;
			memcpy(s->wbuf, c + done, k);
			run_crypt(s, r, s->wbuf, k, r->bytes + done);
			if (write_all(s, r->fd, s->wbuf, k, err) < 0)
				return -1;
			done += k;
		}
	} else if (n >= s->iosize) {
		if (write_all(s, r->fd, p, n, err) < 0)
			return -1;
	} else if (n) {
		memcpy(s->wbuf + s->wlen, p, n);
		s->wlen += n;
	}
	r->bytes += n;
	s->stats.temp_bytes += n;
	return 0;
}

static size_t varint_put(unsigned char *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (unsigned char)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (unsigned char)v;
	return n;
}

static int run_put(struct om_sorter *s, struct run *r, const char *key, size_t klen,
		   const void *pay, size_t plen, struct om_err *err)
{
	unsigned char head[HEAD_MAX];
	size_t n = varint_put(head, klen);

	n += varint_put(head + n, plen);
	if (run_write(s, r, head, n, err) < 0 || run_write(s, r, key, klen + 1, err) < 0 ||
	    run_write(s, r, pay, plen, err) < 0)
		return -1;
	r->nrecs++;
	return 0;
}

/* Merge early when runs pile up, to bound the open files. */
static int reduce(struct om_sorter *s, size_t target, struct om_err *err);

/* Add a finished run to the list. */
static int run_done(struct om_sorter *s, struct run *r, struct om_err *err)
{
	if (s->nruns == s->runs_cap) {
		size_t cap = s->runs_cap ? 2 * s->runs_cap : 16;
		struct run *v = realloc(s->runs, cap * sizeof *v);
		if (!v) {
			close(r->fd);
			return oom(s, err);
		}
		s->runs = v;
		s->runs_cap = cap;
	}
	s->runs[s->nruns++] = *r;
	s->stats.runs++;
	return s->nruns >= RUNS_MAX ? reduce(s, RUNS_MAX - FAN_IN + 1, err) : 0;
}

/* ---- reading runs ---- */

/* Parse the two varints at p (n bytes): their length, 0 when incomplete,
 * (size_t)-1 when malformed. */
static size_t head_get(const unsigned char *p, size_t n, uint64_t *a, uint64_t *b)
{
	uint64_t v[2] = {0, 0};
	size_t i = 0;

	for (int k = 0; k < 2; k++) {
		for (unsigned shift = 0;; shift += 7) {
			if (i == n)
				return 0;
			if (shift > 63)
				return (size_t)-1;
			v[k] |= (uint64_t)(p[i] & 0x7f) << shift;
			if (!(p[i++] & 0x80))
				break;
		}
	}
	*a = v[0];
	*b = v[1];
	return i;
}

/* Read n bytes at the source's offset into p. */
static int src_read(struct om_sorter *s, struct src *src, unsigned char *p, size_t n,
		    struct om_err *err)
{
	unsigned char *start = p;
	size_t want = n;
	uint64_t off = src->off;

	while (n > 0) {
		ssize_t k = pread(src->run.fd, p, n, (off_t)src->off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return fail(s, err, "cannot read a temporary file", errno);
		if (k == 0)
			return corrupt(s, err, "truncated");
		p += k;
		n -= (size_t)k;
		src->off += (uint64_t)k;
	}
	run_crypt(s, &src->run, start, want, off);
	return 0;
}

/* Get at least want bytes into the buffer from pos on. */
static int src_fill(struct om_sorter *s, struct src *src, size_t want, struct om_err *err)
{
	size_t have = src->end - src->pos, n;

	if (have >= want)
		return 0;
	/* The partial record goes to the front, so a record is always whole. */
	memmove(src->buf, src->buf + src->pos, have);
	src->pos = 0;
	src->end = have;
	/* Never read past the run's recorded size: an extra byte is corrupt. */
	n = s->iosize - have;
	if (n > src->run.bytes - src->off)
		n = (size_t)(src->run.bytes - src->off);
	if (have + n < want)
		return corrupt(s, err, "truncated");
	if (src_read(s, src, src->buf + have, n, err) < 0)
		return -1;
	src->end += n;
	return 0;
}

/* Step the source to its next record: 1, 0 at its end, -1. */
static int src_next(struct om_sorter *s, struct src *src, struct om_err *err)
{
	uint64_t klen = 0, plen = 0, left;
	size_t h, need;
	unsigned char *p;

	if (src->v) {
		const struct rec *r;
		if (src->i == src->n)
			return 0;
		r = src->v[src->i++];
		src->key = rec_key(r);
		src->pay = (const unsigned char *)src->key + r->klen + 1;
		src->plen = r->plen;
		return 1;
	}
	wipe_free(s, src->big, src->big_len);
	src->big = NULL;
	if (src->recs == 0) {
		if (src->pos != src->end || src->off != src->run.bytes)
			return corrupt(s, err, "corrupt");
		return 0;
	}
	while ((h = head_get(src->buf + src->pos, src->end - src->pos, &klen, &plen)) == 0)
		if (src_fill(s, src, src->end - src->pos + 1, err) < 0)
			return -1;
	if (h == (size_t)-1)
		return corrupt(s, err, "corrupt");
	src->pos += h;
	/* Lengths are checked against the run before any allocation. */
	left = src->end - src->pos + (src->run.bytes - src->off);
	if (klen >= left || plen > left - klen - 1)
		return corrupt(s, err, "corrupt");
	need = (size_t)(klen + 1 + plen);
	if (need <= s->iosize) {
		if (src_fill(s, src, need, err) < 0)
			return -1;
		p = src->buf + src->pos;
		src->pos += need;
	} else {
		/* A record larger than the buffer gets its own, until the next. */
		size_t have = src->end - src->pos;
		if (!(src->big = malloc(need)))
			return oom(s, err);
		src->big_len = need;
		memcpy(src->big, src->buf + src->pos, have);
		src->pos = src->end = 0;
		if (src_read(s, src, src->big + have, need - have, err) < 0)
			return -1;
		p = src->big;
	}
	if (p[klen] != 0)
		return corrupt(s, err, "corrupt");
	src->key = (const char *)p;
	src->pay = p + klen + 1;
	src->plen = (size_t)plen;
	src->recs--;
	return 1;
}

static void src_release(const struct om_sorter *s, struct src *src)
{
	if (src->run.fd >= 0)
		close(src->run.fd);
	src->run.fd = -1;
	wipe_free(s, src->buf, src->buf ? s->iosize : 0);
	wipe_free(s, src->big, src->big_len);
	src->buf = src->big = NULL;
}

/* ---- the heap of sources ---- */

static int src_less(const struct src *a, const struct src *b)
{
	int c = strcmp(a->key, b->key);

	return c < 0 || (c == 0 && a->order < b->order);
}

static void sift_down(struct src **h, size_t n, size_t i)
{
	struct src *x = h[i];

	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= n)
			break;
		if (c + 1 < n && src_less(h[c + 1], h[c]))
			c++;
		if (!src_less(h[c], x))
			break;
		h[i] = h[c];
		i = c;
	}
	h[i] = x;
}

/*
 * Open the runs in[0..k) as sources in srcs (plus, when mem, the records in
 * memory), read the first record of each and heap the non-empty ones.  The
 * runs' descriptors now belong to the sources.
 */
static int merge_open(struct om_sorter *s, const struct run *in, size_t k, int mem,
		      struct src *srcs, struct src **heap, size_t *nheap, struct om_err *err)
{
	size_t n = 0;

	for (size_t i = 0; i < k + (size_t)mem; i++) {
		struct src *src = &srcs[i];
		memset(src, 0, sizeof *src);
		src->order = i;
		src->run.fd = -1;
		if (i < k) {
			src->run = in[i];
			src->recs = in[i].nrecs;
		} else {
			src->v = s->recs;
			src->n = s->nrecs;
		}
	}
	for (size_t i = 0; i < k + (size_t)mem; i++) {
		struct src *src = &srcs[i];
		int r;
		if (i < k && !(src->buf = malloc(s->iosize)))
			return oom(s, err);
		if ((r = src_next(s, src, err)) < 0)
			return -1;
		if (r)
			heap[n++] = src;
		else
			src_release(s, src);
	}
	for (size_t i = n / 2; i-- > 0;)
		sift_down(heap, n, i);
	*nheap = n;
	return 0;
}

/* Step the top of the heap to its next record. */
static int heap_advance(struct om_sorter *s, struct src **heap, size_t *n, struct om_err *err)
{
	int r = src_next(s, heap[0], err);

	if (r < 0)
		return -1;
	/* A finished run gives back its descriptor and buffer at once. */
	if (r == 0) {
		src_release(s, heap[0]);
		heap[0] = heap[--*n];
	}
	if (*n)
		sift_down(heap, *n, 0);
	return 0;
}

/* Merging the smallest runs first rewrites the fewest bytes. */
static int by_size_desc(const void *a, const void *b)
{
	const struct run *x = a, *y = b;

	return x->bytes < y->bytes ? 1 : x->bytes > y->bytes ? -1 : 0;
}

/* Merge the k smallest runs into one. */
static int merge_smallest(struct om_sorter *s, size_t k, struct om_err *err)
{
	struct src *srcs = calloc(k, sizeof *srcs);
	struct src **heap = calloc(k, sizeof *heap);
	struct run *in, out = {.fd = -1};
	size_t n = 0;
	int rc = -1;

	if (!srcs || !heap) {
		free(srcs);
		free(heap);
		return oom(s, err);
	}
	qsort(s->runs, s->nruns, sizeof *s->runs, by_size_desc);
	in = s->runs + s->nruns - k;
	/* Duplicates pass through: the last merge reports them. */
	if (merge_open(s, in, k, 0, srcs, heap, &n, err) < 0 || run_begin(s, &out, err) < 0)
		goto done;
	while (n > 0)
		if (run_put(s, &out, heap[0]->key, strlen(heap[0]->key), heap[0]->pay,
			    heap[0]->plen, err) < 0 || heap_advance(s, heap, &n, err) < 0)
			goto done;
	if (run_flush(s, &out, err) < 0)
		goto done;
	s->nruns -= k;
	s->runs[s->nruns++] = out;
	out.fd = -1;
	s->stats.merges++;
	rc = 0;
done:
	if (rc < 0) {
		/* The sources own the input descriptors now; forget them here. */
		s->nruns -= k;
		if (out.fd >= 0)
			close(out.fd);
	}
	for (size_t i = 0; i < k; i++)
		src_release(s, &srcs[i]);
	free(srcs);
	free(heap);
	return rc;
}

/* Merge runs until at most target are left. */
static int reduce(struct om_sorter *s, size_t target, struct om_err *err)
{
	while (s->nruns > target) {
		size_t k = s->nruns - target + 1;
		if (merge_smallest(s, k < FAN_IN ? k : FAN_IN, err) < 0)
			return -1;
	}
	return 0;
}

/* ---- adding ---- */

/* Write the records in memory as a sorted run. */
static int spill(struct om_sorter *s, struct om_err *err)
{
	struct run r;

	qsort(s->recs, s->nrecs, sizeof *s->recs, rec_cmp);
	if (run_begin(s, &r, err) < 0)
		return -1;
	for (size_t i = 0; i < s->nrecs; i++) {
		const struct rec *x = s->recs[i];
		const char *key = rec_key(x);
		if (run_put(s, &r, key, x->klen, key + x->klen + 1, x->plen, err) < 0) {
			close(r.fd);
			return -1;
		}
	}
	if (run_flush(s, &r, err) < 0) {
		close(r.fd);
		return -1;
	}
	arena_reset(s);
	return run_done(s, &r, err);
}

static int usable(struct om_sorter *s, struct om_err *err)
{
	if (s->failed) {
		om_err_set(err, "sorter: cannot go on after an earlier error");
		return -1;
	}
	return 0;
}

int om_sorter_add(struct om_sorter *s, const char *key, const void *payload, size_t len,
		  struct om_err *err)
{
	size_t klen = strlen(key), size, cost;
	struct rec *r;
	char *k;

	if (usable(s, err) < 0)
		return -1;
	if (s->finished) {
		om_err_set(err, "sorter: add after finish");
		return -1;
	}
	if (klen > SIZE_MAX / 4 || len > SIZE_MAX / 4) {
		om_err_set(err, "sorter: record too large");
		return -1;
	}
	size = (sizeof *r + klen + 1 + len + 7) & ~(size_t)7;
	cost = size + sizeof *s->recs;
	if (cost > s->limit) {
		/* Straight from the caller's buffer: no copy, no memory. */
		struct run big;
		if (run_begin(s, &big, err) < 0)
			return -1;
		if (run_put(s, &big, key, klen, payload, len, err) < 0 ||
		    run_flush(s, &big, err) < 0) {
			close(big.fd);
			return -1;
		}
		s->stats.records++;
		return run_done(s, &big, err);
	}
	if (s->nrecs && s->used + cost > s->limit && spill(s, err) < 0)
		return -1;
	/* The array is counted in cost at 8 bytes a record; doubling it may
	 * hold up to twice that. */
	if (s->nrecs == s->cap) {
		size_t cap = s->cap ? 2 * s->cap : 1024;
		struct rec **v = realloc(s->recs, cap * sizeof *v);
		if (!v)
			return oom(s, err);
		s->recs = v;
		s->cap = cap;
	}
	if (!(r = arena_alloc(s, size)))
		return oom(s, err);
	r->klen = klen;
	r->plen = len;
	k = (char *)(r + 1);
	memcpy(k, key, klen + 1);
	if (len)
		memcpy(k + klen + 1, payload, len);
	s->recs[s->nrecs++] = r;
	s->used += cost;
	s->stats.records++;
	return 0;
}

/* ---- the last merge ---- */

int om_sorter_finish(struct om_sorter *s, struct om_err *err)
{
	int mem = s->nrecs > 0;

	if (usable(s, err) < 0)
		return -1;
	if (s->finished) {
		om_err_set(err, "sorter: finish called twice");
		return -1;
	}
	s->finished = 1;
	/* The last run stays in memory: its records are merged from there. */
	if (mem)
		qsort(s->recs, s->nrecs, sizeof *s->recs, rec_cmp);
	free_blocks(s, s->spare);
	s->spare = NULL;
	if (reduce(s, FAN_IN, err) < 0)
		return -1;
	/* Nothing is written from here on. */
	wipe_free(s, s->wbuf, s->iosize);
	s->wbuf = NULL;
	s->srcs = calloc(s->nruns + 1, sizeof *s->srcs);
	s->heap = calloc(s->nruns + 1, sizeof *s->heap);
	if (!s->srcs || !s->heap)
		return oom(s, err);
	s->nsrcs = s->nruns + (size_t)mem;
	/* The sources own the descriptors from here on. */
	s->nruns = 0;
	return merge_open(s, s->runs, s->nsrcs - (size_t)mem, mem, s->srcs, s->heap, &s->nheap,
			  err);
}

int om_sorter_next(struct om_sorter *s, const char **key, const void **payload, size_t *len,
		   struct om_err *err)
{
	struct src *top;

	if (usable(s, err) < 0)
		return -1;
	if (!s->finished) {
		om_err_set(err, "sorter: next before finish");
		return -1;
	}
	if (s->last) {
		/* Its buffer is about to be reused: keep the key to check the next. */
		size_t n = strlen(s->last->key) + 1;
		if (n > s->prev_cap) {
			char *p = realloc(s->prev, n);
			if (!p)
				return oom(s, err);
			s->prev = p;
			s->prev_cap = n;
		}
		memcpy(s->prev, s->last->key, n);
		s->have_prev = 1;
		s->last = NULL;
		if (heap_advance(s, s->heap, &s->nheap, err) < 0)
			return -1;
	}
	if (s->nheap == 0)
		return 0;
	top = s->heap[0];
	/* Equal keys come out one after the other, so this sees every pair. */
	if (s->have_prev && strcmp(top->key, s->prev) == 0) {
		s->failed = 1;
		om_err_set(err, "duplicate key '%s'", top->key);
		return -1;
	}
	s->last = top;
	*key = top->key;
	*payload = top->pay;
	*len = top->plen;
	return 1;
}

void om_sorter_stats(const struct om_sorter *s, struct om_sorter_stats *st)
{
	*st = s->stats;
}

void om_sorter_free(struct om_sorter *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nruns; i++)
		close(s->runs[i].fd);
	for (size_t i = 0; i < s->nsrcs; i++)
		src_release(s, &s->srcs[i]);
	free_blocks(s, s->blocks);
	free_blocks(s, s->spare);
	free_blocks(s, s->bigs);
	free(s->recs);
	free(s->runs);
	wipe_free(s, s->wbuf, s->iosize);
	free(s->srcs);
	free(s->heap);
	wipe_free(s, s->prev, s->prev_cap);
	free(s->tmpdir);
	sodium_free(s->key);
	free(s);
}
