/*
 * import_merge.c - om-import: merging a document the target also holds.
 *
 * The members the model lists (struct om_merge) are merged element by
 * element, and compared as sets; everything else comes from one side whole.
 */

#include "import_int.h"

/* ---- merging ---- */

/* What a merge keeps of the target: the members the model lists (struct
 * om_merge), element by element; everything else comes from one side whole. */
int imp_is_merged(const struct om_kind *k)
{
	return k->merges && k->merges->member;
}

static int set_equal(json_t *a, json_t *b);

static int array_has(json_t *a, json_t *v)
{
	for (size_t i = 0; i < json_array_size(a); i++)
		if (set_equal(json_array_get(a, i), v))
			return 1;
	return 0;
}

/* Is a member absent, null, an empty array or an empty object?  A scope
 * without environments is the same as one with an empty list of them. */
static int nothing(json_t *v)
{
	return !v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0) ||
	       (json_is_object(v) && json_object_size(v) == 0);
}

/* json_equal() with every array taken as a set: the members of a merge
 * (a variable's scope, a team's role assignments and their restrictions)
 * have no order, and the same set in another order is the same value. */
static int set_equal(json_t *a, json_t *b)
{
	const char *key;
	json_t *v;

	if (json_is_array(a) && json_is_array(b)) {
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!array_has(b, json_array_get(a, i)))
				return 0;
		for (size_t i = 0; i < json_array_size(b); i++)
			if (!array_has(a, json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (json_is_object(a) && json_is_object(b)) {
		json_object_foreach(a, key, v) {
			json_t *w = json_object_get(b, key);
			if (nothing(v) ? !nothing(w) : !w || !set_equal(v, w))
				return 0;
		}
		json_object_foreach(b, key, v) {
			if (!json_object_get(a, key) && !nothing(v))
				return 0;
		}
		return 1;
	}
	return json_equal(a, b);
}

static int union_into(json_t *base, json_t *other)
{
	for (size_t i = 0; i < json_array_size(other); i++)
		if (!array_has(base, json_array_get(other, i)) &&
		    json_array_append(base, json_array_get(other, i)) < 0)
			return -1;
	return 0;
}

/* The key of a variable: its name and its scope (as sets). */
int imp_keyed_eq(json_t *a, json_t *b, const char *const key[2])
{
	for (int i = 0; i < 2 && key[i]; i++) {
		json_t *va = json_object_get(a, key[i]), *vb = json_object_get(b, key[i]);
		if (nothing(va) && nothing(vb))
			continue;
		if (!va || !vb || !set_equal(va, vb))
			return 0;
	}
	return 1;
}

/* Are the two documents of kind k the same, the members a merge handles
 * compared as sets? */
int imp_merged_equal(const struct om_kind *k, json_t *a, json_t *b)
{
	const char *key;
	json_t *v;

	if (json_object_size(a) != json_object_size(b))
		return 0;
	json_object_foreach(a, key, v) {
		json_t *w = json_object_get(b, key);
		int set = om_merge_of(k, key) != NULL;
		if (!w || !(set ? set_equal(v, w) : json_equal(v, w)))
			return 0;
	}
	return 1;
}

/* base (a copy of one side) gets what only other has. */
int imp_merge_into(const struct om_kind *k, json_t *base, json_t *other)
{
	for (const struct om_merge *m = k->merges; m && m->member; m++) {
		json_t *bv, *ov = json_object_get(other, m->member);
		if (!ov)
			continue;
		bv = json_object_get(base, m->member);
		if (!bv || json_is_null(bv)) {
			json_object_set(base, m->member, ov);
			continue;
		}
		if (m->form == OM_MERGE_SET && json_is_array(bv)) {
			if (union_into(bv, ov) < 0)
				return -1;
		} else if (m->form == OM_MERGE_KEYED && json_is_array(bv)) {
			for (size_t i = 0; i < json_array_size(ov); i++) {
				json_t *e = json_array_get(ov, i);
				int found = 0;
				for (size_t j = 0; j < json_array_size(bv) && !found; j++)
					found = imp_keyed_eq(json_array_get(bv, j), e, m->key);
				if (!found && json_array_append(bv, e) < 0)
					return -1;
			}
		} else if (m->form == OM_MERGE_MAP_OF_SETS && json_is_object(bv)) {
			const char *key;
			json_t *v;
			json_object_foreach(ov, key, v) {
				json_t *have = json_object_get(bv, key);
				if (!have)
					json_object_set(bv, key, v);
				else if (json_is_array(have) && union_into(have, v) < 0)
					return -1;
			}
		}
	}
	return 0;
}
