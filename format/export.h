/*
 * export.h - reading a store into a bundle (om-export).
 *
 * om_export() reads every document in scope from one read-only snapshot of
 * the store, writes each as canonical JSON at its name-based path
 * (spec/bundle.md) with volatile members left out and secrets as tokens,
 * adds the files of the home directory that were asked for, and the
 * manifest.  Documents come from the database in table order and go out in
 * path order through an external sort (sorter.h), so memory does not grow
 * with the number of documents; what does grow is the map of names used in
 * paths, which holds configuration documents only (environments, tenants,
 * projects, library variable sets, feeds, templates).
 *
 * With jobs > 1, that many readers share the work: the caller's connection
 * exports its snapshot (pg_export_snapshot()) and jobs - 1 more connections,
 * each read by a thread of its own, import it, so that all of them see one
 * moment of the store.  The tables are cut into pieces, the largest read
 * first; the names used in paths are loaded before the readers start and
 * only read by them; every document goes into the one external sort, whose
 * memory limit stays the limit of the whole export.  The bundle's bytes do
 * not depend on jobs.
 */
#ifndef OM_EXPORT_H
#define OM_EXPORT_H

#include <stddef.h>
#include <libpq-fe.h>

#include "err.h"
#include "manifest.h"

struct om_key;
struct om_bundle_writer;

/* Where inline scripts go (--inline-scripts). */
enum om_inline_scripts {
	OM_SCRIPTS_INLINE,  /* in the JSON, as in the store */
	OM_SCRIPTS_EXTRACT, /* in sidecar files; the JSON names the file */
	OM_SCRIPTS_COPY,    /* in both */
};

/* The most readers of one export (om_export_opts.jobs). */
#define OM_EXPORT_MAX_JOBS 64

struct om_export_opts {
	const char *space;    /* export this space (by name) only, or NULL */
	/* Export these projects, and the projects of these project groups
	 * (NULL-terminated names, or NULL), with everything needed to recreate
	 * them: the documents they own, and every document those refer to,
	 * transitively (weak references of history left aside, and droppable
	 * ones but for those of the projects' own documents). */
	const char *const *projects;
	const char *const *project_groups;
	unsigned ignore;      /* 1u << OM_HIST_x for each history class left out */
	/* Home-directory files to include, by the first component of the
	 * model's file pattern, lowercase: "tasklogs", "artifacts",
	 * "packages"; NULL-terminated, or NULL for none. */
	const char *const *files;
	const char *home;     /* the server's home directory, for files */
	enum om_secret_state secrets;
	enum om_inline_scripts scripts;
	const struct om_key *key; /* the server's master key: always needed */
	const char *tmpdir;   /* for the external sort; NULL: $TMPDIR or /tmp */
	size_t mem_limit;     /* bytes the sort may hold in memory; 0: default */
	int jobs;             /* readers, 1 to OM_EXPORT_MAX_JOBS; 0: 1 */
	/* Called after each document read (phase "reading", total 0) and each
	 * file written ("writing", total the number of files); NULL: none.
	 * With jobs > 1 it may be called from the readers' threads, but never
	 * from two threads at once. */
	void (*progress)(void *ctx, const char *phase, const char *kind, unsigned long done,
			 unsigned long total);
	void *progress_ctx;
};

/* Export into w (which the caller commits or aborts).  -1 and err on
 * trouble (the first one met, when several readers fail); nothing is added
 * to w before the whole snapshot was read.  conn must have no transaction
 * open; with jobs > 1 more connections like it are opened (and closed
 * before this returns). */
int om_export(PGconn *conn, const struct om_export_opts *o, struct om_bundle_writer *w,
	      struct om_err *err);

/*
 * Write documents held in memory as om_export() writes those it reads from
 * a store: the same paths, canonical JSON, secret tokens and manifest (with
 * server_version, and the store format of this om), into w (which the
 * caller commits or aborts).  Each of docs[0..ndocs) is a document's JSON
 * text in the store's form: an object whose Id has a kind of the model,
 * secrets sealed under o->key; every document a path names (owner, space,
 * the documents named by reference in a path) is among them.  o->key,
 * o->secrets, o->scripts, o->space, o->tmpdir, o->mem_limit and o->progress
 * are used; the rest must be zero.  -1 and err on trouble; nothing is added
 * to w before every document was read.
 */
int om_export_docs(const struct om_export_opts *o, const char *server_version,
		   const char *const *docs, size_t ndocs, struct om_bundle_writer *w,
		   struct om_err *err);

#endif
