/*
 * diff.h - what changed between two bundles, by name (om-diff).
 *
 * om_diff_bundles() compares two bundles (spec/bundle.md) and reports, as
 * data, every document added, removed, renamed or changed, each with the
 * list of changes inside it.  It never prints: the program renders the
 * records as text, counts, names or JSON.
 *
 * How documents are compared (docs/om-diff.1, "How documents are matched"):
 *   - Documents are matched by their bundle path, which is made of the
 *     model's identity names, never of Ids.  A document removed and one
 *     added with the same Id, in two bundles of the same server, is one
 *     rename.
 *   - Within a document, every reference (the model's refs, and a
 *     document's SpaceId) compares as the path of the document it names in
 *     its own bundle, and is shown as that document's name; a tag or an
 *     inner reference names an element of a document, and compares as that
 *     document's path and the element's name (the model's inner_name).
 *     The document's own "Id" and the "Id" of array elements are
 *     server-specific and left out.  So the same configuration on two
 *     servers compares equal.
 *   - Elements of the model's keyed arrays (steps, actions, phases,
 *     templates, ...) are matched by key and rank; a change of their order
 *     is reported as moves.  Where the model completes the key
 *     ("Variables[]+Scope"), elements are matched by key and that member
 *     (references by name, lists as sets), the rest by key in order, and
 *     the array has no order.  Arrays of plain values are compared as sets
 *     of values; other arrays by position.
 *   - Secrets are never shown: a secret is changed, or om-diff cannot tell
 *     (different secret states, password tokens under different salts, or
 *     tokens bound to different locations), unless a password opens them.
 *     The manifest's Counts and Secrets are not compared, except a change
 *     of secret state that leaves secrets not comparable.
 *   - Other files (script sidecars, task logs) are diffed line by line;
 *     binary or large files only as changed.
 *
 * Both bundles are read once, merged by path (readers give paths in
 * increasing order); files whose bytes are equal are skipped without being
 * parsed.  Files that differ are kept in a temporary file (unlinked at once)
 * until both bundles have been read, because references may point forward.
 * When documents were renamed (bundles of one server), equal documents that
 * may name a renamed one are looked at again: in two directories by path,
 * only those of kinds that can name a kind that moved; otherwise by reading
 * both bundles a second time.
 * Memory (docs/om-diff.1, NOTES): a map of every document's Id to its path
 * in each bundle (the Id + 8 bytes in an arena, and 4 to 16 bytes of
 * table), the paths once for both bundles as a tree of components, the same
 * map for the elements that tags and inner references name, the list of
 * documents found on one side only, and a few times the largest document.
 *
 * Ownership: everything handed to the callback belongs to this module and
 * is valid only during the call.
 */
#ifndef OM_DIFF_H
#define OM_DIFF_H

#include <stddef.h>

#include "err.h"

/* The status of a document (or file) of the bundles. */
enum om_diff_status {
	OM_DIFF_ADDED,   /* only in B */
	OM_DIFF_REMOVED, /* only in A */
	OM_DIFF_CHANGED, /* in both, different */
	OM_DIFF_RENAMED, /* moved from old_path to path (same Id), maybe changed */
};

/* One change inside a document or file. */
enum om_change_type {
	OM_CHANGE_ADDED,          /* a member or element only in B: new */
	OM_CHANGE_REMOVED,        /* only in A: old */
	OM_CHANGE_CHANGED,        /* a value: old -> new */
	OM_CHANGE_MOVED,          /* an element of a keyed array: position from -> to */
	OM_CHANGE_SECRET,         /* a secret changed (its value is never given) */
	OM_CHANGE_SECRET_UNKNOWN, /* secrets that cannot be compared: cannot tell */
	OM_CHANGE_HUNK,           /* lines of a text file: loc "@@ -a,b +c,d @@", new the lines */
	OM_CHANGE_BINARY,         /* a binary or large file: old and new are sizes */
};

struct om_diff_change {
	enum om_change_type type;
	/* The keyed location ('Steps[Name="Deploy"]/Actions[Name="Run"]/Name',
	 * spec/model.md "Locations"), with references by name; "" for the
	 * document itself. */
	const char *loc;
	/* Values as compact JSON text, references as the names they point to
	 * and secrets as "(secret)"; NULL where there is none.  For a hunk, new
	 * holds its lines, each prefixed by ' ', '-' or '+'. */
	const char *old_value;
	const char *new_value;
	long from, to; /* OM_CHANGE_MOVED: positions, counted from 1 */
};

struct om_diff_doc {
	enum om_diff_status status;
	const char *path;     /* B's path (A's for a removed document) */
	const char *old_path; /* A's path (== path unless renamed) */
	/* The model's kind ("Project"), "Manifest", or for other files "Script",
	 * "TaskLog" or "File". */
	const char *kind;
	const char *name;     /* the readable name, from the path ("Acme Web") */
	const char *old_name; /* the same for old_path */
	const struct om_diff_change *changes;
	size_t nchanges;
};

/* Called for every difference, in path order; a non-zero return stops the
 * comparison (om_diff_bundles then returns the count so far). */
typedef int om_diff_fn(const struct om_diff_doc *d, void *ctx);

/*
 * Compare bundle a with bundle b (each a directory, an archive file or "-"
 * for standard input, at most one of them) and call fn for each document
 * or file that differs.  Returns the number of differences reported, or -1
 * with err set ("'a.tar': entry 'x.json': invalid JSON at byte 3: ...").
 * tmpdir: for the temporary file (NULL: $TMPDIR or /tmp).
 */
long om_diff_bundles(const char *a, const char *b, const char *tmpdir, om_diff_fn *fn,
		     void *ctx, struct om_err *err);

/*
 * The same, with a way to open password-encrypted secrets: for each bundle
 * whose secrets are in the password state, password() is asked for its
 * password (side 0 for a, 1 for b; a pointer to *len bytes that stays the
 * caller's until the call returns, or NULL with err set), and the tokens
 * are opened and compared by value, with each other and with clear ones
 * (never kept in the clear: each becomes a keyed hash), so that tokens of
 * two salts or two passwords, or bound to two locations, compare.  A
 * password a bundle's check value refuses is an error.  password NULL:
 * tokens compare as they are, or are "cannot tell".
 */
long om_diff_bundles_pw(const char *a, const char *b, const char *tmpdir,
			const char *(*password)(void *ctx, int side, size_t *len,
						struct om_err *err),
			void *pwctx, om_diff_fn *fn, void *ctx, struct om_err *err);

/*
 * The line diff of two texts, as unified hunks with 3 lines of context
 * (Myers' O(ND) algorithm), through fn as one OM_DIFF_CHANGED record whose
 * changes are hunks; path names it.  Returns 1 when the texts differ, 0
 * when they are equal, -1 with err set when out of memory.
 */
int om_diff_lines(const char *path, const char *a, size_t alen, const char *b, size_t blen,
		  om_diff_fn *fn, void *ctx, struct om_err *err);

/* Where om_diff_textconv() writes: -1 with err set on failure. */
typedef int om_write_fn(const void *buf, size_t len, void *ctx, struct om_err *err);

/*
 * A bundle as stable text, for git's textconv: for every file, a line
 * "=== PATH", then, for a document, its canonical JSON with every secret
 * replaced by "(secret XXXXXXXXXXXXXXXX)" (16 hex digits of BLAKE2b of the
 * token, so a changed secret shows as a changed line; clear secrets show as
 * "(secret)" only), for a text file its lines, for a binary one a line
 * "(binary, N bytes, XXXXXXXXXXXXXXXX)".  -1 with err set on trouble.
 */
int om_diff_textconv(const char *path, om_write_fn *out, void *ctx, struct om_err *err);

#endif
