/*
 * diffline.c - the line diff of om-diff (diffline.h).
 */
#include "diffline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

/* ---- text files ---- */

struct line {
	const char *p;
	size_t len;
};

static struct line *split_lines(const char *s, size_t len, size_t *n)
{
	size_t cap = 16, k = 0;
	struct line *v = malloc(cap * sizeof *v);

	for (size_t i = 0; v && i < len;) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - s) + 1 : len;
		if (k == cap) {
			struct line *w = realloc(v, (cap *= 2) * sizeof *v);
			if (!w) {
				free(v);
				return NULL;
			}
			v = w;
		}
		v[k++] = (struct line){s + i, e - i};
		i = e;
	}
	*n = k;
	return v;
}

static int line_eq(const struct line *a, const struct line *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* The longest edit distance searched for; beyond it the differing middle
 * is shown as all removed, then all added (memory grows as its square). */
#define MYERS_MAX 2000

/*
 * Myers' greedy O(ND) diff ("An O(ND) Difference Algorithm and Its
 * Variations", 1986) between a[0..n) and b[0..m), writing to ops one of
 * '=', '-', '+' per line of the edit script.  Written here rather than
 * taken from a library: Debian has no small C diff library, and this is 80
 * lines.  Returns the number of ops, or -1 when out of memory.
 */
static long myers(const struct line *a, long n, const struct line *b, long m, char *ops)
{
	long max = n + m < MYERS_MAX ? n + m : MYERS_MAX, off = max + 1, d, k, x, y, nops = 0;
	long *v = calloc((size_t)(2 * max + 3), sizeof *v), **trace = calloc((size_t)max + 1, sizeof *trace);
	long found = -1;

	if (!v || !trace)
		goto oom;
	for (d = 0; d <= max && found < 0; d++) {
		if (!(trace[d] = malloc((size_t)(2 * max + 3) * sizeof **trace)))
			goto oom;
		memcpy(trace[d], v, (size_t)(2 * max + 3) * sizeof *v);
		for (k = -d; k <= d; k += 2) {
			if (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			y = x - k;
			while (x < n && y < m && line_eq(&a[x], &b[y]))
				x++, y++;
			v[off + k] = x;
			if (x >= n && y >= m) {
				found = d;
				break;
			}
		}
	}
	if (found < 0) {
		/* Too different: everything removed, then everything added. */
		for (x = 0; x < n; x++)
			ops[nops++] = '-';
		for (y = 0; y < m; y++)
			ops[nops++] = '+';
	} else {
		/* Walk back through the saved frontiers, writing ops backwards. */
		long pos = n + m;
		x = n, y = m;
		for (d = found; d >= 0; d--) {
			long *vd = trace[d], pk, px, py;
			k = x - y;
			if (d == 0) {
				pk = 0, px = 0, py = 0;
			} else {
				pk = (k == -d || (k != d && vd[off + k - 1] < vd[off + k + 1])) ? k + 1 : k - 1;
				px = vd[off + pk];
				py = px - pk;
			}
			while (x > px && y > py)
				ops[--pos] = '=', x--, y--;
			if (d > 0)
				ops[--pos] = x == px ? '+' : '-';
			x = px, y = py;
		}
		memmove(ops, ops + pos, (size_t)(n + m - pos));
		nops = n + m - pos;
	}
	for (d = 0; d <= max; d++)
		free(trace[d]);
	free(trace);
	free(v);
	return nops;
oom:
	if (trace)
		for (d = 0; d <= max; d++)
			free(trace[d]);
	free(trace);
	free(v);
	return -1;
}

#define CONTEXT 3


static int add_hunk(struct hunks *h, const struct line *a, const struct line *b, const char *ops,
		    long nops, long s, long e)
{
	struct om_buf t = {0}, head = {0};
	long ai = 0, bi = 0, as, bs, ac = 0, bc = 0;
	char num[96];

	for (long i = 0; i < s; i++) {
		ai += ops[i] != '+';
		bi += ops[i] != '-';
	}
	as = ai, bs = bi;
	for (long i = s; i < e && i < nops; i++) {
		const struct line *l = ops[i] == '+' ? &b[bi] : &a[ai];
		char sign = ops[i] == '=' ? ' ' : ops[i];
		if (om_buf_add(&t, &sign, 1) < 0 || om_buf_add(&t, l->p, l->len) < 0)
			goto oom;
		if (!l->len || l->p[l->len - 1] != '\n')
			if (om_buf_adds(&t, "\n\\ No newline at end of file\n") < 0)
				goto oom;
		ac += ops[i] != '+';
		bc += ops[i] != '-';
		ai += ops[i] != '+';
		bi += ops[i] != '-';
	}
	snprintf(num, sizeof num, "@@ -%ld,%ld +%ld,%ld @@", ac ? as + 1 : as, ac, bc ? bs + 1 : bs, bc);
	if (om_buf_adds(&head, num) < 0)
		goto oom;
	if (om_array_grow(&h->ch, &h->cap, h->n, 1, sizeof *h->ch) < 0)
		goto oom;
	h->ch[h->n++] = (struct om_diff_change){OM_CHANGE_HUNK, head.p, NULL, t.p, 0, 0};
	return 0;
oom:
	om_buf_release(&t);
	om_buf_release(&head);
	return -1;
}

/* The hunks of the line diff of a and b; 0 with none when equal. */
int line_hunks(const char *a, size_t alen, const char *b, size_t blen, struct hunks *h)
{
	size_t n, m;
	struct line *la = split_lines(a, alen, &n), *lb = split_lines(b, blen, &m);
	long pre = 0, suf = 0, nops, k, i;
	char *ops = NULL;
	int r = -1;

	if (!la || !lb)
		goto out;
	/* The common head and tail need no search. */
	while ((size_t)pre < n && (size_t)pre < m && line_eq(&la[pre], &lb[pre]))
		pre++;
	while ((size_t)(pre + suf) < n && (size_t)(pre + suf) < m &&
	       line_eq(&la[n - 1 - (size_t)suf], &lb[m - 1 - (size_t)suf]))
		suf++;
	if (!(ops = malloc(n + m + 1)))
		goto out;
	memset(ops, '=', (size_t)pre);
	nops = myers(la + pre, (long)n - pre - suf, lb + pre, (long)m - pre - suf, ops + pre);
	if (nops < 0)
		goto out;
	nops += pre;
	memset(ops + nops, '=', (size_t)suf);
	nops += suf;
	/* Hunks: runs of changes with CONTEXT lines around, joined when close. */
	for (i = 0; i < nops;) {
		long s, e;
		if (ops[i] == '=') {
			i++;
			continue;
		}
		s = i - CONTEXT < 0 ? 0 : i - CONTEXT;
		e = i;
		for (k = i; k < nops; k++) {
			if (ops[k] != '=') {
				e = k + 1;
				continue;
			}
			if (k - e >= 2 * CONTEXT)
				break;
		}
		e = e + CONTEXT > nops ? nops : e + CONTEXT;
		if (add_hunk(h, la, lb, ops, nops, s, e) < 0)
			goto out;
		i = e;
	}
	r = 0;
out:
	free(la);
	free(lb);
	free(ops);
	return r;
}

void hunks_release(struct hunks *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free((char *)h->ch[i].loc);
		free((char *)h->ch[i].new_value);
	}
	free(h->ch);
	memset(h, 0, sizeof *h);
}

int om_diff_lines(const char *path, const char *a, size_t alen, const char *b, size_t blen,
		  om_diff_fn *fn, void *ctx, struct om_err *err)
{
	struct hunks h = {0};
	struct om_diff_doc doc = {OM_DIFF_CHANGED, path, path, "File", path, path, NULL, 0};
	int r;

	if (line_hunks(a, alen, b, blen, &h) < 0) {
		hunks_release(&h);
		om_err_set(err, "out of memory");
		return -1;
	}
	if (h.n) {
		doc.changes = h.ch;
		doc.nchanges = h.n;
		fn(&doc, ctx);
	}
	r = h.n ? 1 : 0;
	hunks_release(&h);
	return r;
}
