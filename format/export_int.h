/*
 * export_int.h - what the parts of om-export share (format/export*.c); no
 * other file includes it.
 *
 * One reader is one struct exporter (its connection, canonicaliser and
 * buffers); the readers share a struct shared.  The parts own: export.c
 * the driver, the readers and the writing; export_paths.c the bundle
 * paths; export_closure.c the closure of a partial export; export_docs.c
 * the export of documents held in memory (om_export_docs()).  Functions
 * return 0 on success and -1 with x->err set.
 */
#ifndef OM_EXPORT_INT_H
#define OM_EXPORT_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#include "canon.h"
#include "export.h"
#include "idmap.h"
#include "model.h"
#include "bundle.h"
#include "sorter.h"

#define FORMAT_VERSION 1
/* Sorted records carry a tag byte: a document's bytes, or a home file. */
#define REC_DOC 'D'
#define REC_FILE 'F'

/* The most reference hops from a kind to the top: deployment, release,
 * project. */
#define MAX_CHAIN 4
/* The most alternative kinds one owner reference may name. */
#define MAX_ALTS 4
#define MAX_COLS 32

/* One hop up the owner chain as the query sees it: the alternative kinds
 * the owner may be, and where each one's columns start in the row. */
struct link {
	const struct om_kind *alt[MAX_ALTS];
	int nalt;
	int col[MAX_ALTS]; /* column of the owner's Id (null: not this one) for each alternative */
};

/* A piece of the work of the readers: the rows of a kind's table in the
 * blocks [from, to) (to -1: to the end), read in one query. */
struct unit {
	const struct om_kind *kind;
	long from, to;
	long long size; /* bytes, to read the largest first */
};

/* What the readers share; mu guards all but what is set before they start
 * (units, nunits) and failed. */
struct shared {
	pthread_mutex_t mu;
	struct om_sorter *sorter;
	struct unit *units;
	size_t nunits, next; /* the units, and the first one not yet taken */
	unsigned long ndocs; /* documents read, for progress */
	atomic_int failed;   /* a reader failed: the others stop */
	struct om_err err;   /* the first failure */
};

/* One reader: its connection and its own canonicaliser, buffers and
 * counts; the maps of names are the first reader's, read only once the
 * readers run. */
struct exporter {
	PGconn *conn;
	const struct om_export_opts *o;
	struct om_err *err;
	struct om_err errbuf; /* err of the readers of other threads */
	struct shared *sh;
	struct om_canon *canon;
	struct om_idmap *names; /* Id -> name, for references named in paths */
	/* Documents whose name equals another's in its directory but for
	 * ASCII case (spec/bundle.md, names rule 6). */
	struct om_idmap *collide;
	char *space_id;         /* with o->space */
	struct om_idmap *include; /* a partial export: the Ids in scope, or NULL */
	unsigned long counts[64];
	unsigned long nrecords; /* records to write */
	/* The kind being read and the shape of its query. */
	const struct om_kind *kind;
	struct link chain[MAX_CHAIN];
	int nchain;
	int space_col; /* column of the space's name (its Id the one before), or -1 */
	struct om_buf out, path, fpath, raw;
	/* Secrets found in the current document, replaced after the walk. */
	struct secret_hit {
		om_canon_node node;
		char *loc; /* its keyed location (model.h), malloc()ed */
	} *hits;
	size_t nhits, caphits;
};

/* Where the value of a placeholder comes from. */
struct source {
	struct exporter *x;
	const struct om_kind *kind;
	const char *id; /* the Id of the document the members are of */
	/* The document itself (canonical tree) ... */
	int from_doc;
	/* ... or columns of the row, in placeholder order. */
	PGresult *r;
	int row, col;
	int collides; /* set by value_of(): the value is a colliding name */
};

/* ---- export.c ---- */

/* Append n bytes to a buffer. */
int exp_buf_append(struct om_buf *b, const void *p, size_t n, struct om_err *err);

/* A record for the sorter: a document's bytes (tag REC_DOC) or a home file
 * (REC_FILE) at path. */
int exp_add_record(struct exporter *x, const char *path, char tag, const void *data,
		   size_t len);

/* The document in x->canon, of kind x->kind, whose path is x->path (a
 * string): volatile members out, secrets as tokens, scripts where asked
 * (into scripts/ in the directory of its entry), then into the sort.
 * may_hold_sealed: look for a sealed token left in a member that is not
 * secret (refused). */
int exp_emit_doc(struct exporter *x, int may_hold_sealed);

/* The manifest, for a server of that version and store format, into the
 * sort. */
int exp_add_manifest(struct exporter *x, const char *server_version, long store_format);

/* Write the sorted records into w. */
int exp_write_sorted(struct exporter *x, struct om_bundle_writer *w);

/* Free what reader x holds of its own (not its connection). */
void exp_reader_release(struct exporter *x);

/* ---- export_paths.c ---- */

/* Load the names that the placeholders of a pattern need from other
 * documents.  loaded[] marks kinds already in the map. */
int exp_load_pattern_names(struct exporter *x, const struct om_kind *k, const char *pat,
			   unsigned char *loaded, unsigned char *loaded_inner);

/* Append the pattern, its placeholders filled in, to out (a path). */
int exp_expand(struct source *s, const char *pat, struct om_buf *out);

/* Append to the query sql of cap bytes, *n used; a query too long is
 * told by *n reaching cap - 1. */
void exp_sql_put(char *sql, size_t cap, size_t *n, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Fill x->collide with the documents whose name equals another's of the
 * same kind in the same directory (the same space and the same other
 * identity members, which hold the owner) but for ASCII case.  Only names
 * that make a path component of their own are looked at; the whole store
 * is, so a partial export names a document as a whole export does.
 */
int exp_load_collisions(struct exporter *x);

/* Does the pattern make a component that starts with {member} and ends
 * with it or an extension: "channels/{Name}.json", "spaces/{Name}"? */
int exp_names_component(const char *pat, const char *member);

/* Put into x->names the names of the elements that the inner reference
 * ref names in doc (a document of a kind that holds them). */
int exp_note_inner_names(struct exporter *x, const struct om_ref *ref, json_t *doc);

/* The query of unit u of x->kind into sql: the documents, their owners'
 * and space's columns that the kind's patterns need, in scope. */
int exp_build_query(struct exporter *x, const struct unit *u, char *sql, size_t cap);

/* ---- export_closure.c ---- */

/* Seed with the chosen projects; add what they own, transitively (the
 * catalog lists owners before what they own); then follow references until
 * nothing new comes.  Optional bindings (droppable references) are
 * followed from those own documents only: a team's roles scoped to other
 * projects would bring in those projects.  Referred-to documents come
 * without what they own, but for owned documents that refer to nothing
 * outside the closure. */
int exp_compute_closure(struct exporter *x);

#endif
