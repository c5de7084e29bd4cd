/*
 * fuzz_read.h - read an open bundle to its end with the properties every
 * bundle reader keeps, whatever its form (fuzz_bundle, fuzz_dir): entries
 * come in strictly increasing order with valid paths and within the size
 * limit; an entry yields exactly its size, read in small chunks or (every
 * other entry) with om_bundle_read_all(); an error has a one-line message
 * and ends the reading.
 */
#ifndef OM_FUZZ_READ_H
#define OM_FUZZ_READ_H

#include <string.h>

#include "../format/bundle.h"
#include "fuzz.h"

/* Called with each entry's path and whole content (data[len] is a NUL). */
typedef void fuzz_entry_fn(void *ctx, const char *path, const char *data, size_t len);

/* Read r to its end: 0, or -1 after an error; each entry goes to fn when
 * it is not NULL.  r stays the caller's. */
static int fuzz_read_bundle(struct om_bundle_reader *r, const struct om_bundle_limits *lim,
			    fuzz_entry_fn *fn, void *ctx)
{
	struct om_bundle_entry e;
	struct om_err err = {{0}};
	char prev[OM_BUNDLE_PATH_MAX + 2] = "";
	unsigned n = 0;
	int rc;

	while ((rc = om_bundle_next(r, &e, &err)) == 1) {
		char *all;
		size_t len = 0;

		FUZZ_ASSERT(om_bundle_path_problem(e.path) == NULL);
		FUZZ_ASSERT(strcmp(prev, e.path) < 0);
		FUZZ_ASSERT(e.size <= lim->max_entry_size);
		snprintf(prev, sizeof prev, "%s", e.path);
		if (n++ % 2) {
			if (om_bundle_read_all(r, 1 << 20, &all, &len, &err) < 0) {
				FUZZ_ASSERT(all == NULL && err.msg[0]);
				rc = -1;
				break;
			}
			FUZZ_ASSERT(len == e.size && all[len] == 0);
		} else {
			/* Chunks of a size that changes from entry to entry. */
			size_t chunk = 1 + n % 4096;
			if (!(all = malloc(e.size + 1)))
				abort();
			for (;;) {
				ssize_t k = om_bundle_read(r, all + len, chunk, &err);
				if (k < 0) {
					rc = -1;
					break;
				}
				if (k == 0)
					break;
				len += (size_t)k;
				FUZZ_ASSERT(len <= e.size);
				if (e.size - len < chunk)
					chunk = e.size - len + 1;
			}
			if (rc < 0) {
				free(all);
				break;
			}
			FUZZ_ASSERT(len == e.size);
			all[len] = 0;
		}
		if (fn)
			fn(ctx, e.path, all, len);
		free(all);
	}
	if (rc < 0) {
		FUZZ_ASSERT(err.msg[0] && !strchr(err.msg, '\n'));
		/* Nothing more after an error. */
		FUZZ_ASSERT(om_bundle_next(r, &e, &err) == -1);
	}
	return rc;
}

#endif
