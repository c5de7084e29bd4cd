/*
 * diffint.h - what the files of om-diff share (internal to diff*.c).
 *
 * om_diff_bundles() (diff.h) is split by concept: diff.c drives the two
 * passes (reading both bundles into a spool, then comparing what differs),
 * diffdoc.c compares two documents member by member, diffindex.c is the
 * Id-to-path index, diffline.c the line diff of text files, difftconv.c the
 * textconv of git.  This header holds the state of one comparison (struct
 * differ, owned by om_diff_bundles_pw() in diff.c for the length of the
 * call) and the few helpers more than one of them uses.  Nothing here
 * prints or exits.
 */
#ifndef OM_DIFFINT_H
#define OM_DIFFINT_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include <sodium.h>

#include "buf.h"
#include "bundle.h"
#include "diff.h"
#include "diffindex.h"
#include "manifest.h"
#include "model.h"
#include "pwcrypt.h"

/* The biggest file compared by content (a document, a script, a log);
 * larger ones are compared by bytes only, as binary files. */
#define MAX_DOC (64u << 20)

/* A document found on one side only: a candidate for a rename. */
struct lone {
	off_t off;   /* of its record in the spool */
	char *id;    /* its Id, or NULL */
	char *path;
	int used;
};

struct side {
	const char *name;
	struct om_bundle_reader *r;
	struct om_bundle_entry e;
	int have;
	char *buf;      /* the current entry, when read */
	size_t len;
	struct pmap map;
	/* Elements that references name by Id (tags, templates, actions):
	 * Id -> "<kind>" KSEP "<path of the document holding it>" TSEP "<name>". */
	struct pmap elems;
	char *secrets;  /* the manifest's Secrets, compact sorted JSON, or NULL */
	enum om_secret_state state; /* and their state */
	int manifest;   /* the manifest was read (and checked) */
	int unmapped;   /* the current entry is a document not in map (no Id, or
			 * an Id already taken) */
	struct lone *lone;
	size_t nlone, caplone;
};

struct differ {
	struct side s[2];
	struct om_elemset sets[16]; /* om_elemsets() */
	size_t nsets;
	FILE *spool;     /* the files that differ, in path order */
	FILE *spool2;    /* equal files naming a renamed document, in path order */
	FILE *out;       /* the one being written */
	int fd[2];       /* a copy of standard input, or -1 */
	struct pmap moved; /* Ids whose document has another path in B */
	struct ptab paths; /* the paths of the maps' documents */
	struct om_buf pbuf[2]; /* paths rebuilt from the maps */
	struct om_canon *c[2];
	struct om_err *err;
	int same_server; /* do the bundles share Ids? (renames by Id) */
	int pw_comparable; /* are om-pw-1 tokens of both sides comparable? */
	/* Password bundles opened by value (om_diff_bundles_pw): each side's
	 * key, and the key of the hashes that stand for the clear values. */
	struct om_pw_key *key[2];
	int hashing; /* clear and opened secrets both become keyed hashes */
	/* Both bundles are directories: documents are read again by path.
	 * Then the equal documents that are in neither map (no Id, or an Id
	 * taken by another) are listed here for pass1b(). */
	int by_path;
	char **unmapped;
	size_t nunmapped, capunmapped;
	/* The kinds (by index in om_kinds) of the documents in moved, whether
	 * an element is in moved, and whether an Id of no known kind is. */
	unsigned char *moved_kinds;
	int moved_elem, moved_unknown;
	unsigned char hashkey[crypto_generichash_KEYBYTES];
};

/* A copy of s (n bytes) with a NUL after it, malloc()ed; NULL: no memory. */
char *diff_dupn(const char *s, size_t n);

/* Is path a .json entry? */
int diff_is_json(const char *path);

/* Is p (len bytes) text (no NUL, valid UTF-8)? */
int diff_is_text(const char *p, size_t len);

/* What kind of secret token: 0 other, 1 clear, 2 redacted, 3 password. */
int diff_token_class(const char *s, size_t len);

/* Append the name people know the document at path (of kind k) by. */
int diff_display_name(struct om_buf *b, const char *path, const struct om_kind *k);

/* Compare the two documents parsed in d->c[0] (at old_path) and d->c[1]
 * (at path), of kind k (NULL: not a document of the model): the changes
 * into *ch and *nch, which the caller frees with diff_changes_free(), also
 * when -1 (err set in d->err) is returned. */
int diff_doc_changes(struct differ *d, const struct om_kind *k, const char *old_path,
		     const char *path, struct om_diff_change **ch, size_t *nch);
void diff_changes_free(struct om_diff_change *ch, size_t n);

#endif
