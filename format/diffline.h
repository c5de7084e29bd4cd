/*
 * diffline.h - the line diff of om-diff (internal to diff*.c): the text
 * files of a bundle (scripts, logs) compared line by line with Myers's
 * O(ND) algorithm, as unified-diff hunks with three lines of context.
 *
 * Ownership.  struct hunks starts all zero and owns its changes and their
 * strings; hunks_release() gives them back.  Nothing here prints or exits.
 */
#ifndef OM_DIFFLINE_H
#define OM_DIFFLINE_H

#include <stddef.h>

#include "diff.h"

struct hunks {
	struct om_diff_change *ch;
	size_t n, cap;
};

/* The hunks of a (alen bytes) against b (blen bytes) into h; -1 when out
 * of memory (h then holds what was made, for hunks_release()). */
int line_hunks(const char *a, size_t alen, const char *b, size_t blen, struct hunks *h);
void hunks_release(struct hunks *h);

#endif
