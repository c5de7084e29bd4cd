/*
 * fuzz_canon.c - the strict JSON parser and the canonical writer.
 *
 * Properties: parsing never crashes or reads out of bounds; what parses
 * writes canonical text that parses again and writes the same bytes (the
 * writer is a fixed point); the tree can be walked with the accessors; and
 * om_canon agrees with jansson (strict flags) on what is JSON, but for the
 * documented differences: om_canon keeps numbers of any size (jansson
 * refuses integers beyond 64 bits and reals beyond a double, and \u0000 in
 * member names) and refuses
 * nesting deeper than OM_CANON_MAX_DEPTH (jansson allows 2048), and
 * jansson ends the text at a NUL byte (om_canon refuses the byte).
 */
#include <string.h>

#include <jansson.h>

#include "../format/canon.h"
#include "fuzz.h"

static struct om_canon *c;
static struct om_buf w1, w2;

/* Visit every node through the accessors; returns the number of nodes. */
static size_t walk(om_canon_node n, int depth)
{
	size_t count = 1, len;
	enum om_canon_type t = om_canon_type(c, n);

	FUZZ_ASSERT(t != OM_CANON_ABSENT && depth <= OM_CANON_MAX_DEPTH);
	if (t == OM_CANON_STRING || t == OM_CANON_NUMBER)
		FUZZ_ASSERT(om_canon_str(c, n, &len) != NULL);
	if (t != OM_CANON_ARRAY && t != OM_CANON_OBJECT)
		return count;
	for (size_t i = 0; i < om_canon_len(c, n); i++) {
		om_canon_node m = om_canon_at(c, n, i);
		FUZZ_ASSERT(m != OM_CANON_NONE);
		if (t == OM_CANON_OBJECT) {
			const char *k = om_canon_key(c, m, &len);
			FUZZ_ASSERT(k != NULL);
			/* A member is found by its name (names are unique). */
			FUZZ_ASSERT(om_canon_getn(c, n, k, len) == m);
		}
		count += walk(m, depth + 1);
	}
	FUZZ_ASSERT(om_canon_at(c, n, om_canon_len(c, n)) == OM_CANON_NONE);
	return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct om_err err;
	json_error_t jerr;
	json_t *j;
	int ok, j_ok;

	if (!c && !(c = om_canon_new(&err)))
		abort();
	ok = om_canon_parse(c, (const char *)data, size, &err) == 0;

	j = json_loadb((const char *)data, size,
		       JSON_DECODE_ANY | JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerr);
	j_ok = j != NULL;
	if (ok && !j)
		FUZZ_ASSERT(strstr(jerr.text, "too big") || strstr(jerr.text, "overflow") ||
			    strstr(jerr.text, "NUL byte in object key"));
	/* jansson takes a NUL byte outside a string for the end of the text. */
	if (!ok && j)
		FUZZ_ASSERT(strstr(err.msg, "nesting deeper than") || memchr(data, 0, size));
	json_decref(j);

	if (!ok) {
		FUZZ_ASSERT(om_canon_root(c) == OM_CANON_NONE);
		FUZZ_ASSERT(strncmp(err.msg, "invalid JSON", 12) == 0 ||
			    strcmp(err.msg, "out of memory") == 0);
		return 0;
	}
	walk(om_canon_root(c), 0);
	/* What om_canon_plain() accepts, jansson loads exactly. */
	if (om_canon_plain(c))
		FUZZ_ASSERT(j_ok);

	w1.len = 0;
	FUZZ_ASSERT(om_canon_write(c, &w1, &err) == 0);
	FUZZ_ASSERT(w1.len > 0 && w1.p[w1.len - 1] == '\n');
	FUZZ_ASSERT(om_canon_parse(c, w1.p, w1.len, &err) == 0);
	w2.len = 0;
	FUZZ_ASSERT(om_canon_write(c, &w2, &err) == 0);
	FUZZ_ASSERT(w1.len == w2.len && memcmp(w1.p, w2.p, w1.len) == 0);
	return 0;
}
