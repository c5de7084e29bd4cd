/*
 * canon.h - canonical JSON: a strict parser and the canonical writer.
 *
 * om-export reads every document as PostgreSQL's jsonb::text and writes it
 * as canonical JSON (DESIGN, "The bundle"), so this is the hot path of an
 * export: about 150 MB/s on one core is the target (docs/performance.md).
 *
 * Ownership.  A struct om_canon is a reusable context holding the tree of
 * one document at a time.  om_canon_parse() replaces that tree; the text it
 * was given is copied (strings unescaped) and may be freed at once.  Nodes
 * are small integer handles (om_canon_node), valid until the next parse.
 * Pointers returned by om_canon_key() and om_canon_str() point into the
 * context and are valid until the next om_canon_parse() or
 * om_canon_set_str() on the same context.  Memory grows to fit the largest
 * document seen and is kept for the next one, so a steady state makes no
 * allocation per value or per document; om_canon_free() releases it.  A
 * struct om_buf belongs to its caller, who releases it with om_buf_release()
 * (buf.h); om_canon_write() appends without a NUL after the text.
 * Documents may hold secret values, so the bytes of strings (the context's)
 * and of an om_buf written here are zeroed when their buffer moves to grow
 * and when it is freed (sodium_memzero), never left to realloc() or free().
 * Nothing here prints, exits or keeps global state; contexts are
 * independent, so one per thread is safe.
 *
 * Strict parsing (RFC 8259, plus what a bundle needs): one JSON value with
 * optional whitespace (space, tab, LF, CR) around it; the input must be
 * valid UTF-8 (no overlong forms, no encoded surrogates, nothing beyond
 * U+10FFFF, no truncated sequence); \u escapes must pair their surrogates;
 * member names must be unique within an object (compared after
 * unescaping); nesting is limited to OM_CANON_MAX_DEPTH arrays and objects;
 * a byte order mark is refused.  Errors read
 * "invalid JSON at byte N: reason", N counted from 0.
 *
 * Canonical text (om_canon_write): UTF-8, LF, two-space indent, one member
 * or element per line, "name": value with one space after the colon, {} and
 * [] for empty containers, a newline after the value.  Object members are
 * sorted bytewise (memcmp) by their unescaped UTF-8 names, a name before its
 * extensions; arrays keep their order.  Strings escape only ", \, and the
 * bytes below 0x20 (as \b \f \n \r \t or \u00xx, lowercase hex); everything
 * else, '/', DEL, U+2028 and non-ASCII included, is written as literal
 * UTF-8, and \u escapes of the input are decoded.
 *
 * Numbers are checked against the JSON grammar and then written exactly as
 * they were in the input: integers of any size stay exact, and -0, 1.0 and
 * 1e5 are not rewritten.  No normal form is needed on top of that, because
 * the input is jsonb::text and PostgreSQL already prints every jsonb number
 * in one normal form (numeric's output).
 */
#ifndef OM_CANON_H
#define OM_CANON_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h" /* struct om_buf */
#include "err.h"

/* The deepest nesting of arrays and objects om_canon_parse() accepts. */
#define OM_CANON_MAX_DEPTH 256

struct om_canon;

/* A node of the parsed tree; OM_CANON_NONE stands for "no such node". */
typedef uint32_t om_canon_node;
#define OM_CANON_NONE UINT32_MAX

/* OM_CANON_ABSENT is the type of OM_CANON_NONE, so lookups chain safely. */
enum om_canon_type {
	OM_CANON_ABSENT,
	OM_CANON_NULL,
	OM_CANON_FALSE,
	OM_CANON_TRUE,
	OM_CANON_NUMBER,
	OM_CANON_STRING,
	OM_CANON_ARRAY,
	OM_CANON_OBJECT
};

/* A new, empty context, or NULL when out of memory (err says so). */
struct om_canon *om_canon_new(struct om_err *err);

/* Free a context and everything in it; NULL is allowed. */
void om_canon_free(struct om_canon *c);

/*
 * Parse len bytes of text (no terminating NUL needed) into c, replacing the
 * tree it held.  0 on success; -1 with err set on invalid JSON or when out
 * of memory, and the tree is then empty (om_canon_root() gives NONE).
 */
int om_canon_parse(struct om_canon *c, const char *text, size_t len, struct om_err *err);

/*
 * Append the tree as canonical text to out (set out->len = 0 first to reuse
 * a buffer).  -1 with err set when out of memory or when nothing has been
 * parsed; out is then unchanged but for its capacity.
 */
int om_canon_write(const struct om_canon *c, struct om_buf *out, struct om_err *err);

/*
 * The same as compact JSON: no newline, indent or space between tokens and
 * none at the end; members in canonical order, strings escaped and numbers
 * written as om_canon_write() does.
 */
int om_canon_write_compact(const struct om_canon *c, struct om_buf *out, struct om_err *err);

/* The top-level value, or OM_CANON_NONE when the last parse failed. */
om_canon_node om_canon_root(const struct om_canon *c);

/* The type of node n; OM_CANON_ABSENT for OM_CANON_NONE. */
enum om_canon_type om_canon_type(const struct om_canon *c, om_canon_node n);

/* The number of members of an object or elements of an array; 0 otherwise. */
size_t om_canon_len(const struct om_canon *c, om_canon_node n);

/*
 * The i-th element of an array or member of an object (members in
 * canonical order, sorted by name), or OM_CANON_NONE when out of range.
 */
om_canon_node om_canon_at(const struct om_canon *c, om_canon_node n, size_t i);

/* The value of member name in object obj, or OM_CANON_NONE. */
om_canon_node om_canon_get(const struct om_canon *c, om_canon_node obj, const char *name);

/* The same for a name of len bytes, which may hold NUL bytes. */
om_canon_node om_canon_getn(const struct om_canon *c, om_canon_node obj,
			    const char *name, size_t len);

/*
 * The unescaped name of member n (n from om_canon_at() or om_canon_get() on
 * an object) and its length in *len; NULL when n is not an object's member.
 * The bytes are not NUL-terminated.
 */
const char *om_canon_key(const struct om_canon *c, om_canon_node n, size_t *len);

/*
 * The unescaped bytes of a string node, or the text of a number node, and
 * the length in *len; NULL for other types.  Not NUL-terminated; a string
 * may contain NUL bytes (from \u0000).
 */
const char *om_canon_str(const struct om_canon *c, om_canon_node n, size_t *len);

/*
 * 1 when the tree of the last parse can be held by a library that keeps
 * integers as int64_t, other numbers as double and strings as C strings,
 * exactly as jansson loads it: every integer has at most 18 digits, every
 * other number at most 24 characters and an exponent of at most 280 in
 * magnitude, and no string or member name holds a NUL byte.  0 otherwise,
 * or when the last parse failed.  Nodes dropped or replaced since the parse
 * still count, so call it right after om_canon_parse().
 */
int om_canon_plain(const struct om_canon *c);

/* The first string value (member names aside) of the tree that begins
 * with prefix, in canonical order, or OM_CANON_NONE; its location, like
 * "Steps[0]/Actions[1]/Name", goes to where (cut to size). */
om_canon_node om_canon_find_prefix(const struct om_canon *c, const char *prefix, char *where,
				   size_t size);

/*
 * Remove member name from object obj, so that it is not written (volatile
 * fields such as "LastModifiedOn").  1 when removed, 0 when obj is not an
 * object or has no such member.
 */
int om_canon_drop(struct om_canon *c, om_canon_node obj, const char *name);

/*
 * Make node n a string holding s[0..len) (copied), e.g. a secret replaced by
 * its token; n may have been of any type (a container's contents are then
 * no longer reachable).  -1 with err set when s is not valid UTF-8, n is not
 * a node, or out of memory.
 */
int om_canon_set_str(struct om_canon *c, om_canon_node n, const char *s, size_t len,
		     struct om_err *err);

/*
 * The length of the UTF-8 sequence at p, of the n bytes there: 1 for
 * ASCII, 2 to 4 for a valid non-ASCII sequence (RFC 3629: no overlong
 * forms, no surrogates, nothing past U+10FFFF), 0 when it is not valid (or
 * n is 0).
 */
size_t om_utf8_len(const char *p, size_t n);

#endif
