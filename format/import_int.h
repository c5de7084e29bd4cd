/*
 * import_int.h - what the parts of om-import share (format/import*.c); no
 * other file includes it.
 *
 * One import is one struct imp; each bundle it reads is a struct bundle
 * holding its documents (struct doc) and files (struct file) as records
 * of the spool.  The parts own: import.c the driver, the string map and
 * the messages; import_read.c the reading; import_match.c the matching;
 * import_refs.c references and secrets; import_merge.c merging;
 * import_write.c the COPY writing; import_files.c the home files.
 * Functions return 0 (or a pointer) on success and -1 (or NULL) with
 * x->err set; strings they return point into the import's own data
 * unless said otherwise.
 */
#ifndef OM_IMPORT_INT_H
#define OM_IMPORT_INT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/types.h>

#include <jansson.h>

#include "buf.h" /* om_buf_add(), om_array_grow(), om_tmpfile() */
#include "canon.h"
#include "import.h"
#include "model.h"
#include "pwcrypt.h"

/* The biggest document read whole; larger entries are files. */
#define MAX_DOC (64u << 20)
/* A script sidecar is held in memory until its process is written. */
#define MAX_SCRIPT (16u << 20)
/* Documents of one kind written per round of queries. */
#define CHUNK 2000
/* Flush COPY data at this size. */
#define COPY_FLUSH (256u << 10)
/* The spool's write buffer. */
#define SPOOL_BUF (1u << 20)
/* The store's writer lock: one import, rekey or upgrade at a time. */
#define IMPORT_LOCK OM_STORE_LOCK
/* A null identity value in a key. */
#define NULLV "\x01"

/* A string map: open addressing, keys copied (import.c). */
struct smap {
	char **keys;
	void **vals;
	size_t cap, n;
};

/* A document of a bundle: its record, the body compact in the spool. */
struct doc {
	const struct om_kind *kind;
	char *path;      /* entry in the bundle */
	char *src_id;
	char *dst_id;    /* Id in the target, once matched */
	char *space;     /* source SpaceId, or NULL */
	char *ident;     /* identity values, "\x1f"-separated, NULLV for null */
	char *name;      /* a name to show in messages, or NULL */
	char *owner;     /* a derived kind's owner Id (derived_from), or NULL */
	off_t off;       /* the body in the spool, compact */
	size_t len;
	int exists;      /* the target has it (dst_id is its Id) */
	int written;     /* created or overwritten: its file goes home */
	enum om_import_action action;
};

/* A file entry of the bundle (not a document), in the spool. */
struct file {
	char *path;
	off_t off;
	uint64_t size;
	char *problem;   /* for a .json entry that is no document: why */
	char *home_tmp;  /* its temporary name in the home directory */
	char *home_dst;  /* where it goes after the commit */
	int claimed;
};

/* A bundle: read once into the spool (import_read.c), then applied. */
struct bundle {
	const char *name;
	struct doc *docs;
	size_t ndocs, capdocs;
	struct file *files;
	size_t nfiles, capfiles;
	struct smap ids;     /* source Id -> doc index + 1 */
	struct smap sidecars; /* sidecar paths the documents' tokens name */
	struct smap scripts; /* sidecar path -> malloc()ed body */
	struct smap elems;   /* source element Id -> target element Id */
	unsigned ignored;    /* history classes the export left out */
	int have_manifest;
	int same_key;        /* redacted with the target's master key */
	int state;           /* the manifest's enum om_secret_state, once read */
	/* Per state (enum om_secret_state): where the first token of that state
	 * met before the manifest is, "entry 'P': WHERE" (malloc()ed), or NULL. */
	char *early[3];
	struct om_pw_key *pwkey; /* a password bundle's key */
};

/* One import (om_import()): the connection, the spool, what the bundles share. */
struct imp {
	PGconn *conn;
	const struct om_import_opts *o;
	struct om_err *err;
	int spool;
	off_t spool_end;         /* including what wbuf holds */
	struct om_buf wbuf;      /* the spool's write buffer */
	struct bundle *b;        /* the bundle being applied */
	int wrong_password;      /* a bundle's check value refused the password */
	struct smap alloc_kinds; /* kinds with allocated Ids */
	struct om_elemset sets[16]; /* om_elemsets() */
	size_t nsets;
	unsigned long *counts;
	struct om_buf line, copy;
	struct om_canon *canon;  /* new_doc_fast()'s */
	char *home_dir;          /* our temporary directory in the home */
	unsigned long copy_failed_line; /* of the last failed COPY, from 1 */
	unsigned long written;          /* documents of the bundle written so far (imp_progress) */
	unsigned long maps_used; /* bit i: --space-map entry i met its space */
	unsigned long nhome;
	/* Per kind: the weak references cleared in the bundle being applied,
	 * and the documents holding them (told by report_cleared()). */
	unsigned long *cleared_refs, *cleared_docs;
	unsigned long doc_cleared; /* of the document imp_remap_refs() did last */
	int refs_again;          /* remapping a document a second time: no warnings */
};

/* Script sidecars back into the document. */
struct script_ctx {
	struct imp *x;
	const struct doc *d;
};

/* The target's secrets of one document, by keyed location and in order. */
struct tsecrets {
	struct smap byloc; /* keyed location -> clear value (a reference held) */
	struct tsecret *v;
	size_t n, cap;
};

struct secret_ctx {
	struct imp *x;
	const struct doc *d;
	struct tsecrets *target; /* the target's secrets of the document, or NULL */
	int mode;            /* 0 tokens -> clear, 1 sealed -> clear (target), 2 clear -> sealed */
	json_t *doc, *tdoc;  /* mode 0: the bundle's and the target's document */
};

/* ---- import.c ---- */

/* The value of key, or NULL. */
void *imp_smap_get(const struct smap *m, const char *key);

/* Put key (copied) -> val; an existing value is replaced and returned
 * through *old (for the caller to free), NULL else.  -1 when out of memory. */
int imp_smap_put(struct smap *m, const char *key, void *val, void **old);

/* Free the map; free_vals: the values are malloc()ed strings. */
void imp_smap_free(struct smap *m, int free_vals);

/* strdup() that records "out of memory" in x->err; NULL s gives NULL. */
char *imp_xstrdup(struct imp *x, const char *s);

/* Set "out of memory" in x->err; returns -1. */
int imp_oom(struct imp *x);
/* The indices of the bundle's documents of kind k, in bundle order: *idx
 * is malloc'ed (NULL when there are none, *n == 0); 0, or -1 out of memory. */
int imp_docs_of_kind(struct imp *x, const struct om_kind *k, size_t **idx, size_t *n);

/* Tell the caller's progress callback, when there is one. */
void imp_progress(struct imp *x, const char *phase, const char *kind, unsigned long done,
		  unsigned long total);

/* A warning line to the caller's warn callback (import.h). */
void imp_warn(struct imp *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A kind's name in words: ProjectGroup -> "project group" */
void imp_kind_words(const char *name, char *out, size_t n);

/* "project 'Acme Web'" or "variable set" */
void imp_doc_words(const struct doc *d, char *out, size_t n);

/* Set x->err to "'bundle': entry 'path': <message>" for document d; returns -1. */
int imp_doc_err(struct imp *x, const struct doc *d, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* ---- import_read.c ---- */

/* Read n bytes of the spool at off (what the write buffer holds too). */
int imp_spool_read(struct imp *x, off_t off, void *p, size_t n);

/* Free the strings of a document's record. */
void imp_doc_release(struct doc *d);

/*
 * Read every entry of a bundle: documents and files to the spool, script
 * sidecars into memory, the manifest checked.  Documents are held to what
 * om-store check-bundle holds them to (format/bundlecheck.h): strict JSON,
 * a manifest of this format whose Counts are the bundle's.
 */
int imp_read_bundle(struct imp *x, struct bundle *b, const char *server_version);

/* ---- import_match.c ---- */

/* The kinds whose Ids come from the target's allocator, into x->alloc_kinds. */
int imp_load_alloc_kinds(struct imp *x);

/* Set x->err to what failed and the server's message. */
void imp_pg_fail(struct imp *x, const char *what);

/* Fetch the target's bodies of the existing documents among idx[0..n):
 * Id -> malloc()ed text. */
int imp_fetch_targets(struct imp *x, const struct om_kind *k, const size_t *idx, size_t n,
		      struct smap *out);

/* The body of a bundle document, loaded from the spool with jansson, or NULL. */
json_t *imp_load_doc(struct imp *x, const struct doc *d);

/* The bundle's document of that source Id, or NULL. */
struct doc *imp_src_doc(struct imp *x, const char *id);

/* Phase A for kind k: each document of the bundle matched with the target's,
 * or given a new Id; the elements other documents name mapped by name. */
int imp_match_kind(struct imp *x, const struct om_kind *k);

/* ---- import_refs.c ---- */

/* The target's Id for a reference's Id, or NULL. */
const char *imp_resolve(struct imp *x, const struct om_ref *r, const char *id);

/* Rewrite every reference of doc; unresolved optional ones are removed
 * from their array (or set to null). */
int imp_remap_refs(struct imp *x, const struct doc *d, json_t *doc);

/* The element Ids of a written document (tags, templates, actions) as mapped. */
int imp_remap_elements(struct imp *x, const struct om_kind *k, json_t *doc);

/* om_path_walk() callback: a script sidecar back into its action (struct script_ctx). */
int imp_script_hit(const struct om_hit *hit, void *vctx);

/* Free the target's secrets of a document. */
void imp_tsecrets_free(struct tsecrets *ts);

/* om_secrets_each() callback: one secret turned as ctx (struct secret_ctx) says. */
int imp_secret_hit(const struct om_hit *hit, void *vctx);

/* ---- import_merge.c ---- */

/* What a merge keeps of the target: the members the model lists (struct
 * om_merge), element by element; everything else comes from one side whole. */
int imp_is_merged(const struct om_kind *k);

/* The key of a variable: its name and its scope (as sets). */
int imp_keyed_eq(json_t *a, json_t *b, const char *const key[2]);

/* Are the two documents of kind k the same, the members a merge handles
 * compared as sets? */
int imp_merged_equal(const struct om_kind *k, json_t *a, json_t *b);

/* base (a copy of one side) gets what only other has. */
int imp_merge_into(const struct om_kind *k, json_t *base, json_t *other);

/* ---- import_write.c ---- */

/* Phase B for kind k: every document of the bundle made the target's and written. */
int imp_write_kind(struct imp *x, const struct om_kind *k);

/* ---- import_files.c ---- */

/* The staging directory is no more the handler's business. */
void imp_staged_forget(void);

/* Pair every file entry with its document; files of written documents
 * are staged in the home directory, and so are those of unchanged
 * documents that are missing there (an import killed after its commit). */
int imp_claim_files(struct imp *x);

/* After the commit: the staged files to their places. */
int imp_place_files(struct imp *x, struct bundle *b);

/* On failure: the staged files of the bundle removed. */
void imp_unstage_files(struct bundle *b);

#endif
