#include "idmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	char *id;
	struct om_idval v;
};

struct om_idmap {
	struct slot *slots;
	size_t cap, count;
	/* Spaces are few: their names are interned here rather than per Id. */
	char **spaces;
	size_t nspaces;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

struct om_idmap *om_idmap_new(void)
{
	struct om_idmap *m = calloc(1, sizeof *m);

	if (!m)
		return NULL;
	m->cap = 1024;
	if (!(m->slots = calloc(m->cap, sizeof *m->slots))) {
		free(m);
		return NULL;
	}
	return m;
}

void om_idmap_free(struct om_idmap *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->cap; i++) {
		free(m->slots[i].id);
		free((char *)m->slots[i].v.name);
	}
	for (size_t i = 0; i < m->nspaces; i++)
		free(m->spaces[i]);
	free(m->spaces);
	free(m->slots);
	free(m);
}

static struct slot *find(const struct om_idmap *m, const char *id)
{
	size_t i = (size_t)hash(id) & (m->cap - 1);

	while (m->slots[i].id && strcmp(m->slots[i].id, id) != 0)
		i = (i + 1) & (m->cap - 1);
	return &m->slots[i];
}

static int grow(struct om_idmap *m)
{
	struct om_idmap n = *m;

	n.cap = m->cap * 2;
	if (!(n.slots = calloc(n.cap, sizeof *n.slots)))
		return -1;
	for (size_t i = 0; i < m->cap; i++)
		if (m->slots[i].id)
			*find(&n, m->slots[i].id) = m->slots[i];
	free(m->slots);
	m->slots = n.slots;
	m->cap = n.cap;
	return 0;
}

static const char *intern_space(struct om_idmap *m, const char *space)
{
	char **more;

	if (!space)
		return NULL;
	for (size_t i = 0; i < m->nspaces; i++)
		if (strcmp(m->spaces[i], space) == 0)
			return m->spaces[i];
	if (!(more = realloc(m->spaces, (m->nspaces + 1) * sizeof *more)))
		return NULL;
	m->spaces = more;
	if (!(m->spaces[m->nspaces] = strdup(space)))
		return NULL;
	return m->spaces[m->nspaces++];
}

int om_idmap_put(struct om_idmap *m, const char *id, const struct om_kind *kind,
		 const char *space)
{
	struct slot *s;
	const char *sp = intern_space(m, space);

	if (space && !sp)
		return -1;
	if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return -1;
	s = find(m, id);
	if (!s->id) {
		if (!(s->id = strdup(id)))
			return -1;
		m->count++;
	}
	s->v.kind = kind;
	s->v.space = sp;
	return 0;
}

int om_idmap_put_name(struct om_idmap *m, const char *id, const char *name)
{
	struct slot *s;
	char *copy;

	if ((m->count + 1) * 4 > m->cap * 3 && grow(m) < 0)
		return -1;
	s = find(m, id);
	if (!s->id) {
		if (!(s->id = strdup(id)))
			return -1;
		m->count++;
	}
	if (!(copy = strdup(name)))
		return -1;
	free((char *)s->v.name);
	s->v.name = copy;
	return 0;
}

const struct om_idval *om_idmap_get(const struct om_idmap *m, const char *id)
{
	struct slot *s = find(m, id);

	return s->id ? &s->v : NULL;
}

size_t om_idmap_count(const struct om_idmap *m)
{
	return m->count;
}
