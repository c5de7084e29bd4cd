#include "bundlecheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "canon.h"
#include "idmap.h"
#include "model.h"

/* The biggest document read whole; larger entries are files, not documents. */
#define MAX_DOC (64u << 20)

typedef int doc_fn(const char *entry, const struct om_kind *k, json_t *doc, void *ctx);

json_t *om_bundle_doc_load(struct om_canon *c, const char *text, size_t len,
			   struct om_err *err)
{
	json_error_t jerr;
	json_t *doc;

	if (om_canon_parse(c, text, len, err) < 0)
		return NULL;
	if (!(doc = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr)))
		om_err_set(err, "cannot load: %s", jerr.text);
	return doc;
}

/*
 * Call fn for every document of the bundle, and once for the manifest (with
 * a NULL kind).  Every other .json entry but the home files (task logs,
 * artifacts, packages: om_model_may_be_file()) is held to the rules of
 * documents: strict JSON (format/canon.h: UTF-8, no duplicate names,
 * bounded nesting) that jansson can load (numbers within a double).
 */
static int each_doc(const char *path, doc_fn *fn, void *ctx, struct om_err *err)
{
	struct om_bundle_reader *r = om_bundle_reader_open(path, err);
	struct om_canon *canon = om_canon_new(err);
	struct om_bundle_entry e;
	int rc = -1, n;

	if (!r || !canon)
		goto out;
	while ((n = om_bundle_next(r, &e, err)) == 1) {
		size_t len = strlen(e.path), dlen;
		int manifest = strcmp(e.path, OM_BUNDLE_MARKER) == 0;
		const struct om_kind *k = NULL;
		json_t *doc;
		char *buf;
		if (len < 5 || strcmp(e.path + len - 5, ".json") != 0 ||
		    (e.size > MAX_DOC && om_model_may_be_file(e.path)))
			continue;
		if (om_bundle_read_all(r, MAX_DOC, &buf, &dlen, err) < 0)
			goto out;
		doc = om_bundle_doc_load(canon, buf, dlen, err);
		free(buf);
		if (!doc) {
			if (om_model_may_be_file(e.path))
				continue;
			om_err_prefix(err, "'%s': entry '%s'", path, e.path);
			goto out;
		}
		if (!manifest) {
			const char *id = json_string_value(json_object_get(doc, OM_MEMBER_ID));
			k = id ? om_kind_of_id(id) : NULL;
		}
		n = manifest || k ? fn(e.path, k, doc, ctx) : 0;
		json_decref(doc);
		if (n)
			goto out;
	}
	rc = n < 0 ? -1 : 0;
out:
	om_canon_free(canon);
	om_bundle_reader_close(r);
	return rc;
}

struct check {
	struct om_idmap *ids;
	struct om_idmap *idents; /* identity key -> the entry holding it */
	om_problem_fn *fn;
	void *ctx;
	struct om_err *err;
	const char *bundle;
	const char *entry;
	long problems;
	int partial;      /* the manifest's scope names projects */
	struct om_manifest manifest;
	size_t *counts;	  /* documents of each kind, indexed as om_kinds[] */
};

/*
 * The identity of a document of kind k within the bundle, as compact JSON
 * [kind, space, values...]: its SpaceId (null at server level) and the
 * values of the kind's identity members.  A member that is a reference
 * holds a source Id, which within one bundle stands for one document as
 * well as its identity does.  malloc()ed, or NULL when out of memory.
 */
static char *identity_key(const struct om_kind *k, json_t *doc)
{
	json_t *a = json_array();
	json_t *space = k->scope == OM_SERVER ? NULL : json_object_get(doc, OM_MEMBER_SPACE);
	char *key = NULL;
	int bad = !a || json_array_append_new(a, json_string(k->name)) < 0 ||
		  json_array_append(a, space ? space : json_null()) < 0;

	for (int i = 0; !bad && i < 5 && k->identity[i]; i++) {
		json_t *v = json_object_get(doc, k->identity[i]);
		bad = json_array_append(a, v ? v : json_null()) < 0;
	}
	if (!bad)
		key = json_dumps(a, JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(a);
	return key;
}

static int collect(const char *entry, const struct om_kind *k, json_t *doc, void *vctx)
{
	struct check *c = vctx;
	const char *id = json_string_value(json_object_get(doc, OM_MEMBER_ID));
	const struct om_idval *v;
	char *key;

	if (!k) {
		c->partial = json_is_array(json_object_get(json_object_get(
			json_object_get(doc, "Export"), OM_MANIFEST_SCOPE), "Projects"));
		om_manifest_take(&c->manifest, json_incref(doc));
		return 0;
	}
	if ((v = om_idmap_get(c->ids, id))) {
		om_err_set(c->err, "'%s': entry '%s': duplicate Id '%s' (also in '%s')", c->bundle,
			   entry, id, v->name);
		return -1;
	}
	if (om_idmap_put(c->ids, id, k, NULL) < 0 || om_idmap_put_name(c->ids, id, entry) < 0 ||
	    !(key = identity_key(k, doc))) {
		om_err_set(c->err, "out of memory");
		return -1;
	}
	/* Two documents the target would take for one: an import matches by
	 * identity, so one of them could only be lost. */
	if ((v = om_idmap_get(c->idents, key))) {
		om_err_set(c->err, "'%s': entry '%s': the same identity as entry '%s'", c->bundle,
			   entry, v->name);
		free(key);
		return -1;
	}
	if (om_idmap_put_name(c->idents, key, entry) < 0) {
		free(key);
		om_err_set(c->err, "out of memory");
		return -1;
	}
	free(key);
	c->counts[k - om_kinds]++;
	return 0;
}

/* The manifest is there, of this format, and its Counts are the bundle's:
 * counts that differ are a problem of the bundle's, like a dangling
 * reference (a document removed by hand shows as both). */
static int check_manifest(struct check *c)
{
	if (om_manifest_check(c->manifest.json, c->bundle, c->err) < 0)
		return -1;
	c->problems += om_manifest_counts(c->manifest.json, c->counts, c->fn, c->ctx);
	return 0;
}

static int check_ref(const struct om_ref_hit *h, void *vctx)
{
	struct check *c = vctx;
	const struct om_idval *v;
	char id[256], line[1024];

	if (h->ref->flags & OM_REF_WEAK || h->ref->form == OM_REF_INNER)
		return 0;
	/* A partial export does not follow the optional bindings of what it
	 * refers to (om-export(1), --project). */
	if (h->ref->flags & OM_REF_DROPPABLE && c->partial)
		return 0;
	snprintf(id, sizeof id, "%s", h->id);
	if (h->ref->form == OM_REF_TAG)
		id[strcspn(id, "/")] = 0;
	v = om_idmap_get(c->ids, id);
	if (v && om_ref_allows(h->ref, v->kind))
		return 0;
	/* A document of a class the export left out is missing by design. */
	const struct om_kind *k = om_kind_of_id(id);
	if (!v && k && k->history && (c->manifest.ignored & (1u << k->history)))
		return 0;
	snprintf(line, sizeof line, "%s: %s: %s %s", c->entry, h->at->where, id,
		 v ? "is of another kind" : "is not in the bundle");
	c->fn(line, c->ctx);
	c->problems++;
	return 0;
}

/* A token at a secret place is of the manifest's state (manifest.h); one
 * that is not makes the bundle unreadable, as it does for om-import. */
static int check_secret(const struct om_hit *h, void *vctx)
{
	struct check *c = vctx;
	struct om_err e;

	if (om_token_check_state(c->manifest.state, json_string_value(h->value),
				 json_string_length(h->value), &e) == 0)
		return 0;
	om_err_set(c->err, "'%s': entry '%s': %s: %s", c->bundle, c->entry, h->where, e.msg);
	return -1;
}

static int check(const char *entry, const struct om_kind *k, json_t *doc, void *vctx)
{
	struct check *c = vctx;

	if (!k)
		return 0;
	c->entry = entry;
	if (om_refs_each(k, doc, check_ref, c, c->err) < 0 ||
	    om_secrets_each(k, doc, check_secret, c, c->err) != 0)
		return -1;
	return 0;
}

long om_bundle_check_refs(const char *path, om_problem_fn *fn, void *ctx, struct om_err *err)
{
	struct check c = {om_idmap_new(), om_idmap_new(), fn, ctx, err, path, NULL, 0, 0,
			  OM_MANIFEST_INIT, calloc(om_nkinds, sizeof(size_t))};
	long rc = -1;

	if (!c.ids || !c.idents || !c.counts) {
		om_err_set(err, "out of memory");
		goto out;
	}
	if (strcmp(path, "-") == 0) {
		om_err_set(err, "a bundle on standard input cannot be checked: it is read twice");
		goto out;
	}
	if (each_doc(path, collect, &c, err) == 0 && check_manifest(&c) == 0 &&
	    each_doc(path, check, &c, err) == 0)
		rc = c.problems;
out:
	om_manifest_release(&c.manifest);
	free(c.counts);
	om_idmap_free(c.ids);
	om_idmap_free(c.idents);
	return rc;
}
