/*
 * diffindex.c - the Id-to-path index of om-diff (diffindex.h).
 */
#include "diffindex.h"

#include <stdlib.h>
#include <string.h>

/* ---- a compact map of Id -> bundle path ---- */


static uint64_t hashn(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

void pmap_free(struct pmap *m)
{
	free(m->arena);
	free(m->slots);
	memset(m, 0, sizeof *m);
}

const char *pmap_get(const struct pmap *m, const char *id, size_t idlen)
{
	if (!m->nslots)
		return NULL;
	for (size_t i = hashn(id, idlen) & (m->nslots - 1);; i = (i + 1) & (m->nslots - 1)) {
		const char *e;
		if (!m->slots[i])
			return NULL;
		e = m->arena + m->slots[i] - 1;
		if (strlen(e) == idlen && memcmp(e, id, idlen) == 0)
			return e + idlen + 1;
	}
}

static int pmap_grow(struct pmap *m)
{
	size_t n = m->nslots ? m->nslots * 2 : 1024;
	uint32_t *s = calloc(n, sizeof *s);

	if (!s)
		return -1;
	for (size_t i = 0; i < m->nslots; i++) {
		if (!m->slots[i])
			continue;
		const char *e = m->arena + m->slots[i] - 1;
		size_t j = hashn(e, strlen(e)) & (n - 1);
		while (s[j])
			j = (j + 1) & (n - 1);
		s[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = s;
	m->nslots = n;
	return 0;
}

/* Add id -> path; a second document with the same Id keeps the first (and
 * gets 1). */
int pmap_put(struct pmap *m, const char *id, size_t idlen, const char *path)
{
	size_t plen = strlen(path), need = idlen + plen + 2, i;

	if (pmap_get(m, id, idlen))
		return 1;
	if ((m->count + 1) * 2 > m->nslots && pmap_grow(m) < 0)
		return -1;
	if (m->alen + need > UINT32_MAX - 1)
		return -1;
	if (m->alen + need > m->acap) {
		size_t cap = m->acap ? m->acap : 65536;
		char *a;
		while (cap < m->alen + need)
			cap *= 2;
		if (!(a = realloc(m->arena, cap)))
			return -1;
		m->arena = a;
		m->acap = cap;
	}
	memcpy(m->arena + m->alen, id, idlen);
	m->arena[m->alen + idlen] = 0;
	memcpy(m->arena + m->alen + idlen + 1, path, plen + 1);
	for (i = hashn(id, idlen) & (m->nslots - 1); m->slots[i]; i = (i + 1) & (m->nslots - 1))
		;
	m->slots[i] = (uint32_t)m->alen + 1;
	m->alen += need;
	m->count++;
	return 0;
}

/* ---- interned paths ---- */


static uint64_t pnode_hash(uint32_t parent, const char *s, size_t n)
{
	return hashn(s, n) ^ ((uint64_t)parent * 0x9e3779b97f4a7c15ull);
}

void ptab_free(struct ptab *t)
{
	free(t->names);
	free(t->nodes);
	free(t->slots);
	memset(t, 0, sizeof *t);
}

static int ptab_grow(struct ptab *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 4096;
	uint32_t *sl = calloc(n, sizeof *sl);

	if (!sl)
		return -1;
	for (size_t i = 1; i < t->nn; i++) {
		const char *nm = t->names + t->nodes[i].name;
		size_t j = pnode_hash(t->nodes[i].parent, nm, strlen(nm)) & (n - 1);
		while (sl[j])
			j = (j + 1) & (n - 1);
		sl[j] = (uint32_t)i;
	}
	free(t->slots);
	t->slots = sl;
	t->nslots = n;
	return 0;
}

/* The node of component s[0..n) below parent, made if new; 0 when out of
 * memory. */
static uint32_t ptab_node(struct ptab *t, uint32_t parent, const char *s, size_t n)
{
	size_t i;

	if ((t->nn + 1) * 2 > t->nslots && ptab_grow(t) < 0)
		return 0;
	for (i = pnode_hash(parent, s, n) & (t->nslots - 1); t->slots[i]; i = (i + 1) & (t->nslots - 1)) {
		const struct pnode *p = &t->nodes[t->slots[i]];
		const char *nm = t->names + p->name;
		if (p->parent == parent && strncmp(nm, s, n) == 0 && nm[n] == 0)
			return t->slots[i];
	}
	if (!t->nn)
		t->nn = 1;
	if (t->nn >= t->capn) {
		size_t cap = t->capn ? t->capn * 2 : 4096;
		struct pnode *v = cap < UINT32_MAX ? realloc(t->nodes, cap * sizeof *v) : NULL;
		if (!v)
			return 0;
		t->nodes = v;
		t->capn = cap;
	}
	if (t->nlen + n + 1 > t->ncap) {
		size_t cap = t->ncap ? t->ncap : 65536;
		char *v;
		while (cap < t->nlen + n + 1)
			cap *= 2;
		if (cap > UINT32_MAX || !(v = realloc(t->names, cap)))
			return 0;
		t->names = v;
		t->ncap = cap;
	}
	memcpy(t->names + t->nlen, s, n);
	t->names[t->nlen + n] = 0;
	t->nodes[t->nn] = (struct pnode){parent, (uint32_t)t->nlen};
	t->nlen += n + 1;
	t->slots[i] = (uint32_t)t->nn;
	return (uint32_t)t->nn++;
}

/* The node of path, as PCODE bytes and a NUL in code; -1 out of memory. */
int ptab_intern(struct ptab *t, const char *path, char code[PCODE + 1])
{
	uint32_t node = 0;

	for (const char *c = path;;) {
		size_t n = strcspn(c, "/");
		if (!(node = ptab_node(t, node, c, n)))
			return -1;
		if (!c[n])
			break;
		c += n + 1;
	}
	for (int i = 0; i < PCODE; i++)
		code[i] = (char)(0x40 | ((node >> (6 * i)) & 0x3f));
	code[PCODE] = 0;
	return 0;
}

/* Append the path of a node given as its code. */
int ptab_path(const struct ptab *t, const char *code, struct om_buf *b);

static int ptab_add(const struct ptab *t, uint32_t node, struct om_buf *b)
{
	const struct pnode *p = &t->nodes[node];

	if (p->parent && (ptab_add(t, p->parent, b) < 0 || om_buf_add(b, "/", 1) < 0))
		return -1;
	return om_buf_adds(b, t->names + p->name);
}

int ptab_path(const struct ptab *t, const char *code, struct om_buf *b)
{
	uint32_t node = 0;

	for (int i = 0; i < PCODE; i++)
		node |= (uint32_t)((unsigned char)code[i] & 0x3f) << (6 * i);
	return ptab_add(t, node, b);
}
