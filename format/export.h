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
 */
#ifndef OM_EXPORT_H
#define OM_EXPORT_H

#include <stddef.h>
#include <libpq-fe.h>

#include "err.h"

struct om_key;
struct om_bundle_writer;

/* The state of the secrets in a bundle (the manifest's Secrets.State). */
enum om_secret_state {
	OM_SECRETS_CLEAR,    /* om-clear-1: tokens, for a pipe into om-encrypt */
	OM_SECRETS_REDACTED, /* om-redacted-1: keyed fingerprints */
};

/* Where inline scripts go (--inline-scripts). */
enum om_inline_scripts {
	OM_SCRIPTS_INLINE,  /* in the JSON, as in the store */
	OM_SCRIPTS_EXTRACT, /* in sidecar files; the JSON names the file */
	OM_SCRIPTS_COPY,    /* in both */
};

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
	/* Called after each document read (phase "reading", total 0) and each
	 * file written ("writing", total the number of files); NULL: none. */
	void (*progress)(void *ctx, const char *phase, const char *kind, unsigned long done,
			 unsigned long total);
	void *progress_ctx;
};

/* Export into w (which the caller commits or aborts).  -1 and err on
 * trouble; nothing is added to w before the whole snapshot was read. */
int om_export(PGconn *conn, const struct om_export_opts *o, struct om_bundle_writer *w,
	      struct om_err *err);

#endif
