/*
 * idmap.h - a map from Ids (strings) to a small record, for checks and
 * remapping over a whole store.  Open addressing, keys copied in; the map
 * owns its keys and the values' strings it is given to copy.
 */
#ifndef OM_IDMAP_H
#define OM_IDMAP_H

#include <stddef.h>

struct om_kind;

struct om_idval {
	const struct om_kind *kind;
	const char *space; /* the document's SpaceId, or NULL */
	const char *name;  /* a name recorded with om_idmap_put_name(), or NULL */
};

struct om_idmap;

struct om_idmap *om_idmap_new(void);
void om_idmap_free(struct om_idmap *m);

/* Add or replace; strings are copied.  -1 when out of memory. */
int om_idmap_put(struct om_idmap *m, const char *id, const struct om_kind *kind,
		 const char *space);

/* Add id (when new, with no kind and no space) and record its name (copied).
 * -1 when out of memory. */
int om_idmap_put_name(struct om_idmap *m, const char *id, const char *name);

/* The record of id, or NULL. */
const struct om_idval *om_idmap_get(const struct om_idmap *m, const char *id);

size_t om_idmap_count(const struct om_idmap *m);

#endif
