/*
 * buf.c - growable buffers and arrays, temporary files (buf.h).
 */
#include "buf.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "sigs.h"

void om_buf_release(struct om_buf *b)
{
	if (b->p)
		sodium_memzero(b->p, b->cap);
	free(b->p);
	b->p = NULL;
	b->len = b->cap = 0;
}

/*
 * The pointer at arrp is read and written with memcpy, so that one function
 * serves every element type without breaking the aliasing rules.  With wipe
 * (byte buffers, which may hold secret values) the old block is zeroed
 * before it is freed instead of being left to realloc(); that happens only
 * when the array grows, so it costs nothing per value.
 */
int om_array_grow_slow(void *arrp, size_t *cap, size_t used, size_t n, size_t sz, int wipe)
{
	void *arr, *q;
	size_t want = *cap ? *cap : 64;

	if (*cap - used >= n)
		return 0;
	while (want - used < n) {
		if (want > SIZE_MAX / 2 / sz)
			return -1;
		want *= 2;
	}
	memcpy(&arr, arrp, sizeof arr);
	if (wipe && arr) {
		if (!(q = malloc(want * sz)))
			return -1;
		memcpy(q, arr, used * sz);
		sodium_memzero(arr, *cap * sz);
		free(arr);
	} else if (!(q = realloc(arr, want * sz))) {
		return -1;
	}
	memcpy(arrp, &q, sizeof q);
	*cap = want;
	return 0;
}

int om_buf_grow(struct om_buf *b, size_t n)
{
	return om_array_grow_wipe(&b->p, &b->cap, b->len, n, 1);
}

int om_buf_add(struct om_buf *b, const void *p, size_t n)
{
	if (n == SIZE_MAX || om_buf_grow(b, n + 1) < 0)
		return -1;
	if (n)
		memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

int om_buf_adds(struct om_buf *b, const char *s)
{
	return om_buf_add(b, s, strlen(s));
}

const char *om_tmpdir(const char *dir)
{
	if (!dir || !*dir)
		dir = getenv("TMPDIR");
	return dir && *dir ? dir : "/tmp";
}

int om_tmpfile(const char *dir, const char *prefix, char *path, size_t size)
{
	sigset_t held;
	int fd, e;

	if ((size_t)snprintf(path, size, "%s/%sXXXXXX", om_tmpdir(dir), prefix) >= size) {
		errno = ENAMETOOLONG;
		return -1;
	}
	om_signals_hold(&held);
	/* Gone from the directory at once: only the descriptor holds it. */
	if ((fd = mkstemp(path)) >= 0 && unlink(path) < 0) {
		e = errno;
		close(fd);
		errno = e;
		fd = -1;
	}
	e = errno;
	om_signals_release(&held);
	errno = e;
	return fd;
}
