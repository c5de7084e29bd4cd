/*
 * fuzz_names.c - names as path components (format/names.h).
 *
 * Input: one byte of flags (OM_NAME_*), then the name.  Properties, for
 * every name of valid UTF-8 (names come from parsed documents): the
 * component is a valid one-component bundle path (om_bundle_path_problem)
 * of at most OM_BUNDLE_NAME_MAX bytes, never a dot-file unless
 * OM_NAME_INSIDE; om_name_unescape() gives the name back, but for cut
 * names (refused: their name is in the document) and names holding a NUL
 * (which a C string cannot give back, and which no store holds).  Any other component
 * given to om_name_unescape() never crashes.  A component built of the
 * name twice and ".json" is, after om_name_fit(), valid and at most
 * OM_NAME_MAX bytes and the ending.
 */
#include <string.h>

#include "../format/bundle.h"
#include "../format/names.h"
#include "fuzz.h"

/* Valid UTF-8 (RFC 3629), as the JSON parser guarantees for names. */
static int utf8_ok(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned char b = s[i];
		size_t k = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 :
			   (b & 0xf8) == 0xf0 ? 4 : 0;
		uint32_t cp;
		if (!k || i + k > n || (k == 2 && b < 0xc2))
			return 0;
		cp = k == 1 ? b : b & (0x7f >> k);
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return 0;
			cp = cp << 6 | (s[i + j] & 0x3f);
		}
		if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += k;
	}
	return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct om_err err;
	char *comp, *back, *z, *path;
	const char *name = (const char *)data + 1;
	size_t len, clen;
	int flags;

	if (size < 1)
		return 0;
	flags = data[0] & (OM_NAME_COLLIDES | OM_NAME_INSIDE);
	len = size - 1;

	/* Unescaping arbitrary text: no crash, and a result or a message. */
	if (!(z = malloc(len + 1)))
		abort();
	memcpy(z, name, len);
	z[len] = 0;
	back = om_name_unescape(z, &err);
	free(back);
	free(z);

	if (!utf8_ok((const unsigned char *)name, len))
		return 0;
	comp = om_name_component(name, len, flags, &err);
	FUZZ_ASSERT(comp != NULL);
	clen = strlen(comp);
	FUZZ_ASSERT(clen > 0 && clen <= OM_NAME_MAX);
	FUZZ_ASSERT(!strchr(comp, '/'));
	if (flags & OM_NAME_INSIDE) {
		/* Inside a component, after other text. */
		if (!(path = malloc(clen + 2)))
			abort();
		path[0] = 'x';
		memcpy(path + 1, comp, clen + 1);
		FUZZ_ASSERT(om_bundle_path_problem(path) == NULL);
		free(path);
	} else {
		FUZZ_ASSERT(om_bundle_path_problem(comp) == NULL);
		FUZZ_ASSERT(comp[0] != '.');
	}

	/* A component built of it twice and a literal ending is held to the
	 * length of a name plus the ending, and stays valid. */
	if (!(path = malloc(2 * clen + 9)))
		abort();
	size_t plen = (size_t)sprintf(path, "x %s %s.json", comp, comp);
	plen = om_name_fit(path, plen, plen - 5);
	path[plen] = 0;
	FUZZ_ASSERT(plen <= OM_NAME_MAX + 5 && strcmp(path + plen - 5, ".json") == 0);
	FUZZ_ASSERT(om_bundle_path_problem(path) == NULL);
	free(path);

	back = om_name_unescape(comp, &err);
	if (memchr(name, 0, len)) {
		/* Not given back: a C string cannot hold it, and "\0" alone
		 * reads as the empty name.  No name from a store holds a NUL
		 * (jsonb refuses \u0000). */
	} else if (clen >= 19 && memcmp(comp + clen - 19, "%~~", 3) == 0) {
		FUZZ_ASSERT(back == NULL);
	} else {
		FUZZ_ASSERT(back != NULL);
		FUZZ_ASSERT(strlen(back) == len && memcmp(back, name, len) == 0);
	}
	free(back);
	free(comp);
	return 0;
}
