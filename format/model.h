/*
 * model.h - the catalog of document kinds.
 *
 * One table, om_kinds[], says for every kind of document in the store what
 * the tools need to know about it: its table, the form of its Ids, what
 * identifies it (its name, or a compound key), whether it lives in a space,
 * every place in its body that refers to another document and in what form,
 * where its secrets are, which history class it belongs to, which fields
 * change without a user change, and which file of the home directory belongs
 * to it.  The tools have no per-kind code where this table can say it; adding
 * a kind is an entry here, a table in spec/store.sql, a fixture and a test.
 *
 * Places in a document are written in a small path language (spec/model.md):
 *
 *   Name            the member "Name" of an object
 *   A/B             member B of member A
 *   A[]             every element of the array A
 *   A[T=x|y]        the elements of A whose string member T is x or y
 *   A{}             every member value of the object A
 *   A{key}          every member name of the object A (Ids used as keys)
 *
 * A step that meets a missing member, null or a value of another type yields
 * nothing: a path names where something may be, not that it must be there.
 *
 * Everything here is static and read-only; nothing is allocated.  No file
 * of libom other than model.c names a kind or an Octopus property: code
 * elsewhere asks this header (tests/cli/model-names.sh checks it).
 * model.c holds the catalog and its answers; modelwalk.c the path walker,
 * the reference and secret walkers built on it, and om_model_check().
 */
#ifndef OM_MODEL_H
#define OM_MODEL_H

#include <stddef.h>
#include <jansson.h>

#include "canon.h"
#include "err.h"

/* The form a reference takes at its place. */
enum om_ref_form {
	OM_REF_ID,    /* a string holding one Id (null: no reference) */
	OM_REF_CSV,   /* a string of comma-separated Ids ("Teams-1,Teams-4") */
	OM_REF_TAG,   /* a tenant tag "TagSets-1/Tags-3": the tag set and a tag in its Tags[] */
	OM_REF_INNER, /* the Id of an element inside another document (see via, inner) */
};

/* Reference flags. */
enum {
	/* An optional binding (a scope, a restriction) that an import may drop,
	 * with a warning, when its target exists neither in the bundle nor in
	 * the target server. */
	OM_REF_DROPPABLE = 1u << 0,
	/* History may name documents that are gone (an event about a deleted
	 * project): such a reference is allowed to dangle. */
	OM_REF_WEAK = 1u << 1,
};

struct om_ref {
	const char *path;   /* where the reference is, in the path language */
	/* The kind referred to, or kinds separated by '|' ("Project|Runbook");
	 * NULL: any kind, told by the Id's prefix. */
	const char *target;
	enum om_ref_form form;
	unsigned flags;
	/* OM_REF_INNER: the reference fields to follow from this document to
	 * the one holding the element, separated by '>' ("OwnerId" or
	 * "OwnerId>DeploymentProcessId"), the path of the elements there
	 * ("Templates[]"), matched by their "Id", and the member that names an
	 * element across servers ("Name"). */
	const char *via;
	const char *inner;
	const char *inner_name;
};

/* How an import merges a member of a document that both the bundle and the
 * target hold (spec/import.md). */
enum om_merge_form {
	OM_MERGE_SET,         /* an array taken as a set: the union */
	OM_MERGE_KEYED,       /* an array of elements named by key[]: the union by key */
	OM_MERGE_MAP_OF_SETS, /* an object of arrays: the union member by member */
};

/* A top-level member that an import merges instead of taking from one side
 * whole, compared as a set when deciding whether the two sides differ. */
struct om_merge {
	const char *member;
	enum om_merge_form form;
	/* OM_MERGE_KEYED: the members of an element that name it (a variable:
	 * its Name and its Scope, each compared as a set). */
	const char *key[2];
};

/* The history classes, for the export's --ignore-* options. */
enum om_history {
	OM_HIST_NONE,
	OM_HIST_HISTORY,      /* events, server tasks, artifacts */
	OM_HIST_DEPLOYMENTS,  /* releases, deployments */
	OM_HIST_MACHINES,     /* deployment targets, workers */
	OM_HIST_TENANTS,      /* tenants and their variables */
	OM_HIST_CERTIFICATES, /* certificates */
};

/* Where a kind lives. */
enum om_scope {
	OM_SERVER,         /* server level: no SpaceId */
	OM_SPACE,          /* in a space: SpaceId always set */
	OM_SPACE_OPTIONAL, /* in a space, or at server level when SpaceId is null */
};

struct om_kind {
	const char *name;      /* "Project" */
	const char *table;     /* "projects" */
	/* Ids are id_prefix + a number from the allocator ("Projects-12"), or,
	 * when derived_from is set, id_prefix + the Id held in that member
	 * ("variableset-" + OwnerId). */
	const char *id_prefix;
	const char *derived_from;
	enum om_scope scope;
	/* The members whose values identify a document within its space (or
	 * the server): a member that is a reference stands for the identity of
	 * the document it names.  Matching across servers uses this, never the
	 * Id.  For kinds in a space the space is part of the identity. */
	const char *identity[5];
	/* The member naming the document this one belongs to (a channel's
	 * ProjectId), or NULL for a document that stands on its own. */
	const char *owner;
	enum om_history history;
	const struct om_ref *refs;
	size_t nrefs;
	const char *const *secrets;  /* NULL-terminated paths of sealed values */
	const char *const *volatiles; /* NULL-terminated top-level members left out of exports */
	/* The file of the home directory that belongs to a document, a pattern
	 * with {Member} replaced by that member's value, or NULL. */
	const char *file;
	/*
	 * Where the document goes in a bundle (spec/bundle.md), as patterns of
	 * path components.  A document's parent directory is its owner's
	 * directory, else its space's ("spaces/<Name>"), else the top.  dir,
	 * when set, is the directory the document makes (for the documents it
	 * owns) below its parent, and path is then below dir; otherwise path is
	 * below the parent.  bundle_file is where the home file goes, like path.
	 *
	 *   {Member}          the member's value; for a reference member, the
	 *                     name of the document it names (for an inner
	 *                     reference, the element's inner_name)
	 *   {Member|text}     the same, or text when the member is null or empty
	 *   {Member:7}        the first 7 bytes of the value ("2024-05")
	 *   {#Member}         16 hex digits of BLAKE2b-256 of the value
	 *   [ ... ]           left out when every placeholder inside is null
	 *
	 * Each component is escaped as a name (names.h) after the placeholders
	 * are filled in.
	 */
	const char *dir;
	const char *path;
	const char *bundle_file;
	/* The elements that may hold an inline script ("Steps[]/Actions[]";
	 * OM_PATH_ROOT: the document itself, as a step template), each with
	 * its Name, its body at Properties/Octopus.Action.Script.
	 * ScriptBody and its language at .../Octopus.Action.Script.Syntax; a
	 * bundle can keep the bodies as files beside the document
	 * (spec/bundle.md, "Script sidecars").  NULL: none. */
	const char *scripts;
	/*
	 * The arrays whose elements have a name of their own, as
	 * "ArrayPath=Member" ("Steps[]/Actions[]=Name"): the element is the one
	 * whose string Member has that value, and the n-th of several with the
	 * same value is told by its rank.  Matching and locations go by it
	 * instead of the index, so that an element added or removed elsewhere
	 * in the array moves nothing (spec/model.md, "Locations").
	 * "ArrayPath+Member" ("Variables[]+Scope") adds a member to the
	 * identity of such elements, for matching (om-diff) but not for
	 * locations: the elements are told apart by name and that member, and
	 * the array has no order.  NULL-terminated, or NULL: none.
	 */
	const char *const *keys;
	/* The members an import merges (struct om_merge), ended by an entry
	 * whose member is NULL, or NULL: none. */
	const struct om_merge *merges;
};

extern const struct om_kind om_kinds[];
extern const size_t om_nkinds;

/* Members every document has, as Octopus names them: its Id, and for kinds
 * in a space the Id of its space. */
#define OM_MEMBER_ID "Id"
#define OM_MEMBER_SPACE "SpaceId"
/* The members a document is shown by in messages: its Name, else its
 * Username (a user). */
#define OM_MEMBER_NAME "Name"
#define OM_MEMBER_USERNAME "Username"

/* The kind whose documents are spaces: what a SpaceId names, what a space
 * export keeps of the server level, where a --space-map renames. */
const struct om_kind *om_space_kind(void);

/* The member that names a document of kind k for people: the last member
 * of its identity ("Name", "Username", a release's "Version"). */
const char *om_kind_name_member(const struct om_kind *k);

/* The members of an element holding an inline script (struct om_kind
 * scripts): Octopus keeps the body and its language in the element's
 * property bag. */
struct om_script_members {
	const char *name;   /* "Name": names the sidecar file */
	const char *props;  /* "Properties": the object holding body and syntax */
	const char *body;   /* "Octopus.Action.Script.ScriptBody" */
	const char *syntax; /* "Octopus.Action.Script.Syntax" */
};
extern const struct om_script_members om_script;

/* The file name ending for a script language (the syntax's len bytes; NULL
 * or unknown: ".txt"): ".sh" for Bash, ".ps1" for PowerShell, ... */
const char *om_script_ext(const char *syntax, size_t len);

/* The merge rule of kind k for this top-level member, or NULL. */
const struct om_merge *om_merge_of(const struct om_kind *k, const char *member);

/* The kind of that name, or NULL. */
const struct om_kind *om_kind_by_name(const char *name);

/* The kind whose table has that name, or NULL. */
const struct om_kind *om_kind_by_table(const char *table);

/* The kind an Id belongs to, told by its prefix or as one of Octopus's
 * fixed Ids ("feeds-builtin", "teams-everyone"), or NULL. */
const struct om_kind *om_kind_of_id(const char *id);

/* The member of k's documents that records the size in bytes of its home
 * file (a package's "PackageSizeBytes"), or NULL when they record none. */
const char *om_kind_file_size(const struct om_kind *k);

/* Is id one of Octopus's fixed Ids, which a server makes itself rather
 * than from its allocator? */
int om_id_is_fixed(const char *id);

/* The n-th (from 0) of the fixed Id forms of kind k ("feeds-builtin";
 * "userroles-*": a lowercase word; "teams-spacemanagers-#": a space's Id),
 * or NULL after the last. */
const char *om_kind_fixed_id(const struct om_kind *k, size_t n);

/* The n-th (from 0) DocumentType of Octopus's packages, other than the
 * kind's own name, that is a document of kind k, or NULL after the last. */
const char *om_kind_octopus_type(const struct om_kind *k, size_t n);

/* The kind of an Octopus DocumentType ("StaticDeploymentEnvironment",
 * "ProjectVariables", "Project"), or NULL when the model has none. */
const struct om_kind *om_kind_of_octopus_type(const char *type);

/*
 * Could the bundle entry at path be the home-directory file of a document
 * (a task log, an artifact, a package: spec/bundle.md, "The tree") rather
 * than a document?  True when it matches where some kind's bundle_file
 * goes: the pattern below the kind's dir, its owners' dirs and its space
 * (or the top), literal components equal, components with a placeholder
 * anything.  Such a file may end in .json and hold anything.
 */
int om_model_may_be_file(const char *path);

/* May ref refer to a document of kind k? */
int om_ref_allows(const struct om_ref *ref, const struct om_kind *k);

/* The kinds ref may refer to, its target "A|B" in that order, at most max
 * into out.  Returns how many; 0 when the target is any kind (NULL). */
int om_ref_targets(const struct om_ref *ref, const struct om_kind **out, int max);

/* The reference of kind k held in exactly the top-level member of len
 * bytes (an owner, a via hop, a pattern's placeholder), or NULL. */
const struct om_ref *om_ref_of_member(const struct om_kind *k, const char *member, size_t len);

/*
 * Is the value of len bytes at a reference place (a whole value, or one
 * item of a comma-separated list) a binding expression rather than an Id:
 * does it hold "#{"?  Octopus lets a reference field hold a variable
 * binding ("#{Project.Feed}"); such a value names no document.  It is kept
 * exactly as written: never remapped, never reported, never followed
 * (spec/model.md, "Binding expressions").  The one place that decides it:
 * om_refs_each(), om_canon_refs_each() and om_ids_next() ask it.
 */
int om_is_binding(const char *s, size_t len);

/* om_ids_next()'s answers. */
enum { OM_IDS_END = 0, OM_IDS_ID = 1, OM_IDS_BINDING = 2 };

/*
 * The next item of a comma-separated list (OM_REF_CSV) in [*s, end): blanks
 * around the commas are not part of an item, empty items are skipped, and
 * a comma inside a binding's "#{...}" does not end its item.  Returns
 * OM_IDS_ID for an Id, OM_IDS_BINDING for a binding (om_is_binding(): to
 * be kept as it is, in its place), with *id and *len set and *s moved past
 * it; OM_IDS_END (0) at the end.  The one splitter of such lists, so that
 * every tool sees the same Ids.
 */
int om_ids_next(const char **s, const char *end, const char **id, size_t *len);

/* An array of elements that other documents name by their Id (the targets
 * of tag and inner references): the kind holding it, its path, and the
 * member naming an element across servers. */
struct om_elemset {
	const struct om_kind *kind;
	const char *path;
	const char *name;
};

/* The element arrays of every tag and inner reference of the catalog, each
 * once, in catalog order, at most max into out.  Returns how many. */
size_t om_elemsets(struct om_elemset *out, size_t max);

/* The kinds whose documents hold the elements that a tag or inner
 * reference r of kind k names (a tag set; for an inner reference, the kinds
 * reached by following r->via from k), at most max of them into out.
 * Returns how many; 0 for other forms. */
int om_ref_holders(const struct om_kind *k, const struct om_ref *r, const struct om_kind **out,
		   int max);

/* The name of a history class ("deployments"), "" for OM_HIST_NONE. */
const char *om_history_name(enum om_history h);

/* ---- walking paths ---- */

/* The path that reaches the document itself (a whole path, not a step). */
#define OM_PATH_ROOT "."

/* One place a path reaches. */
struct om_hit {
	json_t *value;     /* the value there; for A{key}, the member's value */
	const char *key;   /* for A{key}: the member name, else NULL */
	json_t *parent;    /* the object or array holding value */
	const char *where; /* readable location: "Steps[0]/Actions[1]/Name" */
	/* The same with elements of keyed arrays named by their key, for
	 * walks of a kind's places (om_refs_each, om_secrets_each):
	 * 'Steps[Name="Deploy"]/Actions[Name="Run"]/Name' (spec/model.md). */
	const char *loc;
};

/* Called for each hit; a non-zero return stops the walk and is returned. */
typedef int om_hit_fn(const struct om_hit *hit, void *ctx);

/*
 * Call fn for every place in doc that path reaches, in document order
 * (arrays by index, objects by member name in bytewise order).  Returns 0,
 * what fn returned when it stopped the walk, or -1 with err set when the
 * path itself is malformed.
 */
int om_path_walk(json_t *doc, const char *path, om_hit_fn *fn, void *ctx,
		 struct om_err *err);

/* The same with hit->loc naming the elements of k's keyed arrays by key. */
int om_path_walk_kind(json_t *doc, const char *path, const struct om_kind *k, om_hit_fn *fn,
		      void *ctx, struct om_err *err);

/* Check that every path in the catalog parses; -1 and err naming the first bad one. */
int om_model_check(struct om_err *err);

/* ---- references ---- */

/* One reference found in a document. */
struct om_ref_hit {
	const struct om_ref *ref;
	const char *id;      /* the Id referred to (one of a CSV list; the whole tag) */
	const struct om_hit *at; /* where it is */
};

typedef int om_ref_fn(const struct om_ref_hit *hit, void *ctx);

/*
 * Call fn for every reference a document of kind k holds, in the order of
 * k->refs and then document order.  A CSV string gives one call per Id;
 * empty strings and nulls give none.  Returns as om_path_walk.
 */
int om_refs_each(const struct om_kind *k, json_t *doc, om_ref_fn *fn, void *ctx,
		 struct om_err *err);

/*
 * Call fn for every sealed secret a document of kind k holds: each hit's
 * value is a JSON string (nulls, missing members and empty strings are not
 * secrets).  Returns as om_path_walk.
 */
int om_secrets_each(const struct om_kind *k, json_t *doc, om_hit_fn *fn, void *ctx,
		    struct om_err *err);

/* ---- the same over canonical trees (canon.h), the export's hot path ---- */

/* One place a path reaches in a canonical tree. */
struct om_chit {
	om_canon_node node;  /* the value there */
	const char *key;     /* for A{key}: the member name (keylen bytes), else NULL */
	size_t keylen;
	const char *where;   /* readable location, as in struct om_hit */
	const char *loc;     /* keyed location, as in struct om_hit */
};

typedef int om_chit_fn(const struct om_chit *hit, void *ctx);

/* om_path_walk() over the tree in c from node root; members come in
 * canonical (bytewise) order.  k, when not NULL, names the kind whose keyed
 * arrays make hit->loc. */
int om_canon_path_walk(struct om_canon *c, om_canon_node root, const char *path,
		       const struct om_kind *k, om_chit_fn *fn, void *ctx, struct om_err *err);

/* One reference place found in a canonical tree: the whole value (a CSV
 * string is one hit; om_ids_next() splits it).  A single-Id place that
 * holds a binding (om_is_binding()) is no hit. */
struct om_cref_hit {
	const struct om_ref *ref;
	const struct om_chit *at;
};

typedef int om_cref_fn(const struct om_cref_hit *hit, void *ctx);

/* Call fn for every place of a reference of kind k in the tree in c, in the
 * order of k->refs and then document order, whatever the value there (the
 * caller looks at its type).  Returns as om_path_walk. */
int om_canon_refs_each(const struct om_kind *k, struct om_canon *c, om_cref_fn *fn, void *ctx,
		       struct om_err *err);

/* om_secrets_each() over the tree in c: every non-empty string at a
 * secret place of kind k. */
int om_canon_secrets_each(const struct om_kind *k, struct om_canon *c, om_chit_fn *fn,
			  void *ctx, struct om_err *err);

#endif
