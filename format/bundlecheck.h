/*
 * bundlecheck.h - is a bundle well formed and self-contained?
 *
 * A whole-server or partial export holds every document its documents
 * refer to; om_bundle_check_refs() verifies that against the model.  The
 * check of a single document is here too (that of the manifest is in
 * manifest.h), so that every program that reads a bundle refuses the same
 * things with the same words: "'BUNDLE': entry 'PATH': reason".
 */
#ifndef OM_BUNDLECHECK_H
#define OM_BUNDLECHECK_H

#include <stddef.h>

#include <jansson.h>

#include "canon.h"
#include "err.h"
#include "manifest.h"
#include "store.h"

struct om_kind;

/*
 * Load a .json entry (text of len bytes) as a document is loaded: strict
 * JSON (format/canon.h: UTF-8, unique member names, nesting at most
 * OM_CANON_MAX_DEPTH; c is a parse context of the caller's), then by
 * jansson (numbers within a double, no NUL in member names).  The new
 * reference, or NULL with err set to the reason ("invalid JSON at byte N:
 * ...", "cannot load: ..."), for the caller to prefix with the entry.
 */
json_t *om_bundle_doc_load(struct om_canon *c, const char *text, size_t len,
			   struct om_err *err);

/*
 * Read the bundle at path (a directory or an archive file; it is read twice)
 * and report through fn, one line each, every reference of a document that
 * names no document of the bundle, or one of another kind than the model
 * says; weak references (history) may dangle, and so may references to
 * the history classes the manifest says were left out, and droppable ones
 * (optional bindings) in a partial export.  Documents are the .json
 * entries holding an object whose "Id" has a known kind.  A manifest Count
 * that differs from the documents of its kind is a problem too.  Returns the
 * number of problems, or -1 with err set when the bundle is not well formed:
 * no manifest or one of another format, a .json entry (other than a home
 * file: om_model_may_be_file()) that is not strict JSON or over 64 MiB, two
 * documents with one Id, two documents of a kind with one identity (the
 * same name in the same space, say), a string at a secret place that is
 * not a token of the manifest's state (om_token_check_state()), or anything
 * the bundle reader refuses.
 */
long om_bundle_check_refs(const char *path, om_problem_fn *fn, void *ctx, struct om_err *err);

#endif
