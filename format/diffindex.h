/*
 * diffindex.h - the Id-to-path index of om-diff (internal to diff*.c).
 *
 * Two compact structures that hold what pass 1 learns of both bundles in
 * little memory, so that a server of a million documents is diffed in
 * memory flat in the size of the documents: a map of Id -> bundle path
 * (struct pmap) and the interned paths themselves (struct ptab).
 *
 * Ownership.  Each structure starts all zero, owns its memory and is given
 * back with its _free().  Strings returned point into the structure and
 * stay valid until the next _put() or _intern() on it.  Nothing here
 * prints or exits; -1 (or 0 for ptab_intern's node) means out of memory.
 */
#ifndef OM_DIFFINDEX_H
#define OM_DIFFINDEX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* Entries are "id\0path\0" in one arena; the table holds arena offsets + 1. */
struct pmap {
	char *arena;
	size_t alen, acap;
	uint32_t *slots;
	size_t nslots, count;
};

void pmap_free(struct pmap *m);
/* The path of id (idlen bytes), or NULL. */
const char *pmap_get(const struct pmap *m, const char *id, size_t idlen);
/* Map id to path (NUL-terminated); an Id already there keeps its path. */
int pmap_put(struct pmap *m, const char *id, size_t idlen, const char *path);

/*
 * Every document path of both bundles, kept once: a path is a node (its
 * last component and the node of its directory), so a directory's path is
 * stored once for all the files below it, and a path found in both bundles
 * once for both.  Nodes are numbered from 1 (0: the top, no node); equal
 * paths have equal numbers.  In a map, a node is written as PCODE bytes
 * that are never NUL (6 bits each), so that it is a short string there.
 */
struct pnode {
	uint32_t parent;
	uint32_t name; /* offset of the component (NUL-terminated) in names */
};

struct ptab {
	char *names;
	size_t nlen, ncap;
	struct pnode *nodes; /* nodes[0] unused */
	size_t nn, capn;
	uint32_t *slots;     /* node numbers by (parent, component) */
	size_t nslots;
};

#define PCODE 6

void ptab_free(struct ptab *t);
/* The PCODE-byte code of path (NUL-terminated) into code, interning it. */
int ptab_intern(struct ptab *t, const char *path, char code[PCODE + 1]);
/* Append the path of a code made by ptab_intern() to b. */
int ptab_path(const struct ptab *t, const char *code, struct om_buf *b);

#endif
