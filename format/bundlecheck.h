/*
 * bundlecheck.h - is a bundle self-contained?
 *
 * A whole-server or partial export holds every document its documents
 * refer to; om_bundle_check_refs() verifies that against the model.
 */
#ifndef OM_BUNDLECHECK_H
#define OM_BUNDLECHECK_H

#include "err.h"
#include "store.h"

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
 * documents with one Id, or anything the bundle reader refuses.
 */
long om_bundle_check_refs(const char *path, om_problem_fn *fn, void *ctx, struct om_err *err);

#endif
