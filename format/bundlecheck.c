#include "bundlecheck.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bundle.h"
#include "idmap.h"
#include "model.h"

/* The biggest document read whole; larger entries are files, not documents. */
#define MAX_DOC (64u << 20)

typedef int doc_fn(const char *entry, const struct om_kind *k, json_t *doc, void *ctx);

/* The history classes the manifest says the export left out. */
static unsigned ignored_classes(json_t *manifest)
{
	json_t *ign = json_object_get(json_object_get(manifest, "Export"), "Ignore"), *v;
	unsigned mask = 0;
	size_t i;

	json_array_foreach(ign, i, v) {
		for (int h = OM_HIST_HISTORY; h <= OM_HIST_CERTIFICATES; h++)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), om_history_name((enum om_history)h)) == 0)
				mask |= 1u << h;
	}
	return mask;
}

/* Call fn for every document of the bundle. */
static int each_doc(const char *path, doc_fn *fn, void *ctx, struct om_err *err)
{
	struct om_bundle_reader *r = om_bundle_reader_open(path, err);
	struct om_bundle_entry e;
	int rc, n;

	if (!r)
		return -1;
	while ((n = om_bundle_next(r, &e, err)) == 1) {
		size_t len = strlen(e.path), dlen;
		char *buf;
		json_t *doc;
		const struct om_kind *k;
		if (len < 5 || strcmp(e.path + len - 5, ".json") != 0 || e.size > MAX_DOC)
			continue;
		if (om_bundle_read_all(r, MAX_DOC, &buf, &dlen, err) < 0) {
			om_bundle_reader_close(r);
			return -1;
		}
		doc = json_loadb(buf, dlen, 0, NULL);
		free(buf);
		if (doc && strcmp(e.path, "manifest.json") == 0) {
			/* NULL kind: the manifest. */
			rc = fn(e.path, NULL, doc, ctx);
			json_decref(doc);
			if (rc) {
				om_bundle_reader_close(r);
				return rc;
			}
			continue;
		}
		k = doc ? om_kind_of_id(json_string_value(json_object_get(doc, "Id")) ?
					json_string_value(json_object_get(doc, "Id")) : "") : NULL;
		rc = k ? fn(e.path, k, doc, ctx) : 0;
		json_decref(doc);
		if (rc) {
			om_bundle_reader_close(r);
			return rc;
		}
	}
	om_bundle_reader_close(r);
	return n < 0 ? -1 : 0;
}

struct check {
	struct om_idmap *ids;
	om_problem_fn *fn;
	void *ctx;
	struct om_err *err;
	const char *entry;
	long problems;
	unsigned ignored; /* 1u << history class, from the manifest */
};

static int collect(const char *entry, const struct om_kind *k, json_t *doc, void *vctx)
{
	struct check *c = vctx;

	(void)entry;
	if (!k) {
		c->ignored = ignored_classes(doc);
		return 0;
	}
	if (om_idmap_put(c->ids, json_string_value(json_object_get(doc, "Id")), k, NULL) < 0) {
		om_err_set(c->err, "out of memory");
		return -1;
	}
	return 0;
}

static int check_ref(const struct om_ref_hit *h, void *vctx)
{
	struct check *c = vctx;
	const struct om_idval *v;
	char id[256], line[1024];

	if (h->ref->flags & OM_REF_WEAK || h->ref->form == OM_REF_INNER)
		return 0;
	snprintf(id, sizeof id, "%s", h->id);
	if (h->ref->form == OM_REF_TAG)
		id[strcspn(id, "/")] = 0;
	v = om_idmap_get(c->ids, id);
	if (v && om_ref_allows(h->ref, v->kind))
		return 0;
	/* A document of a class the export left out is missing by design. */
	const struct om_kind *k = om_kind_of_id(id);
	if (!v && k && k->history && (c->ignored & (1u << k->history)))
		return 0;
	snprintf(line, sizeof line, "%s: %s: %s %s", c->entry, h->at->where, id,
		 v ? "is of another kind" : "is not in the bundle");
	c->fn(line, c->ctx);
	c->problems++;
	return 0;
}

static int check(const char *entry, const struct om_kind *k, json_t *doc, void *vctx)
{
	struct check *c = vctx;

	if (!k)
		return 0;
	c->entry = entry;
	return om_refs_each(k, doc, check_ref, c, c->err) < 0 ? -1 : 0;
}

long om_bundle_check_refs(const char *path, om_problem_fn *fn, void *ctx, struct om_err *err)
{
	struct check c = {om_idmap_new(), fn, ctx, err, NULL, 0, 0};
	long rc = -1;

	if (!c.ids) {
		om_err_set(err, "out of memory");
		return -1;
	}
	if (strcmp(path, "-") == 0) {
		om_err_set(err, "a bundle on standard input cannot be checked: it is read twice");
		goto out;
	}
	if (each_doc(path, collect, &c, err) == 0 && each_doc(path, check, &c, err) == 0)
		rc = c.problems;
out:
	om_idmap_free(c.ids);
	return rc;
}
