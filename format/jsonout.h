/*
 * jsonout.h - jansson's output with exact reals.
 *
 * jansson writes a real with 17 significant digits ("%.17g"), so a number
 * read as 1.1 comes out as 1.1000000000000001: another number for a jsonb
 * column (numeric keeps every digit) and for a diff.  This writes each real
 * in the shortest form that reads back as the same double (1.1), still
 * marked as a real (1.0, not 1), and everything else exactly as jansson
 * does.  Owns nothing; the callback's data stays the caller's.
 */
#ifndef OM_JSONOUT_H
#define OM_JSONOUT_H

#include <jansson.h>

/* json_dump_callback() with shortest reals: 0, or -1 when jansson or the
 * callback fails. */
int om_json_dump_callback(const json_t *json, json_dump_callback_t callback, void *data,
			  size_t flags);

/* json_dumps() with shortest reals: a malloc()ed string, or NULL. */
char *om_json_dumps(const json_t *json, size_t flags);

#endif
