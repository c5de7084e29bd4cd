/*
 * names.h - names of documents as path components of a bundle.
 *
 * A bundle's paths are built from names, never Ids (spec/bundle.md, "Names
 * as path components").  om_name_component() escapes one name so that it is
 * a safe, portable file name: no '/', no control characters, no characters
 * Windows forbids, never "." or ".." or a dot-file, no Windows device name,
 * not too long.  The escaping is reversible (om_name_unescape) except for
 * cut names, whose full name is inside the document.
 */
#ifndef OM_NAMES_H
#define OM_NAMES_H

#include <stddef.h>

#include "err.h"

/* The longest component om_name_component() writes, in bytes. */
#define OM_NAME_MAX 200

/* Flags of om_name_component(). */
enum {
	/* Another name in the same directory collides with this one (equal but
	 * for ASCII case, or under Unicode normalization: om_name_collide): a
	 * suffix made from the exact name keeps the two apart on
	 * case-insensitive or normalizing file systems and tar readers. */
	OM_NAME_COLLIDES = 1,
	/* The name goes inside a component, after other text ("{Version}" then
	 * "{FileExtension}"): the rules for a component's first character (a
	 * leading '.', device names) do not apply. */
	OM_NAME_INSIDE = 2,
};

/*
 * The path component for a name of len bytes of UTF-8, as a malloc()ed
 * string; NULL only when out of memory (err says so).  flags: OM_NAME_*.
 */
char *om_name_component(const char *name, size_t len, int flags, struct om_err *err);

/*
 * Hold a component built from several escaped values and a pattern's text
 * ("<Created> <Environment> <Tenant>.json") to the limit of one name: when
 * its first stem bytes (all but the pattern's literal ending, ".json") are
 * more than OM_NAME_MAX, they are cut as a long name is, and "%~~" and the
 * hash of the whole component (len bytes, as built) put before the ending.
 * In place; returns the new length, never more than len.
 */
size_t om_name_fit(char *comp, size_t len, size_t stem);

/*
 * The key under which names collide: the name in Unicode normalization
 * form C (utf8proc), then ASCII upper case made lower, as a malloc()ed
 * string; NULL when out of memory or the name is not valid UTF-8 (it then
 * collides only with itself: use the name).  Two names collide when their
 * keys are equal: equal but for ASCII case ("Hotfix", "HotFix") or
 * canonically equivalent ("Caf\u00e9" and "Cafe\u0301").
 */
char *om_name_collide_key(const char *name);

/* Do a and b collide (their keys are equal)? */
int om_name_collide(const char *a, const char *b);

/*
 * The name a component stands for, as a malloc()ed string, or NULL with err
 * set when the component is malformed or was cut (ends with a %~ suffix:
 * its name is only in the document).  A collision suffix is removed.
 */
char *om_name_unescape(const char *component, struct om_err *err);

#endif
