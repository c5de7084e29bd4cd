/*
 * manifest.h - a bundle's manifest.json, read and written in one place.
 *
 * The manifest says what a bundle is (Format "om-bundle", FormatVersion 1),
 * which server made it, what the export left out, how many documents of
 * each kind it holds, and the state of its secrets (spec/bundle.md,
 * "The manifest").  Every program reads it through om_manifest_parse() or
 * om_manifest_take(), holds it against the format with om_manifest_check(),
 * and finds its fields decoded in struct om_manifest; om-export makes one
 * with om_manifest_new() and every writer writes it with om_manifest_write(),
 * so that its bytes are canonical (canon.h) whoever writes it.
 *
 * Ownership.  A struct om_manifest owns one reference to its JSON object
 * (json); its other pointers point into that object and live as long as it.
 * Start one with OM_MANIFEST_INIT, end it with om_manifest_release().
 * Nothing here prints or exits.
 */
#ifndef OM_MANIFEST_H
#define OM_MANIFEST_H

#include <stddef.h>

#include <jansson.h>

#include "err.h"
#include "store.h"

struct om_buf;
struct om_canon;
struct om_key;

/* The state of the secrets in a bundle: the manifest's Secrets.State. */
enum om_secret_state {
	OM_SECRETS_CLEAR,    /* om-clear-1: tokens, for a pipe into om-encrypt */
	OM_SECRETS_REDACTED, /* om-redacted-1: keyed fingerprints */
	OM_SECRETS_PASSWORD, /* om-pw-1: encrypted under a password (pwcrypt.h) */
	OM_SECRETS_UNKNOWN,  /* no State, or a word this om does not know */
};

/* "clear", "redacted", "password"; "" for OM_SECRETS_UNKNOWN. */
const char *om_secret_state_name(enum om_secret_state s);

/* The state whose bundles hold the token s (len bytes) at their secret
 * places (token.h); OM_SECRETS_UNKNOWN for no token, a store-sealed one or
 * one of an unknown version. */
enum om_secret_state om_token_state(const char *s, size_t len);

/*
 * The one rule of every reader of a bundle (om-import, om-diff, om-store
 * check-bundle, om-encrypt): the string s (len bytes) at a secret place of
 * a bundle whose manifest says state is a token of exactly that state
 * (spec/bundle.md, "Every token of a bundle is of the manifest's state"):
 * a clear token in a password bundle is a forgery that needs no password.
 * 0, or -1 with err set to the reason ("a clear token in a bundle whose
 * secrets are password", "not a secret token", ...), for the caller to
 * prefix with the bundle, the entry and the member.
 */
int om_token_check_state(enum om_secret_state state, const char *s, size_t len,
			 struct om_err *err);

struct om_manifest {
	json_t *json;               /* the whole object (owned), or NULL: none read */
	enum om_secret_state state; /* decoded Secrets.State */
	const char *state_name;     /* Secrets.State as written, or NULL */
	json_t *secrets;            /* the Secrets object, or NULL */
	const char *key_id;         /* Secrets.KeyId (redacted), or NULL */
	const char *server_version; /* ServerVersion, or NULL */
	unsigned ignored;           /* 1u << enum om_history of Export.Ignore */
};

#define OM_MANIFEST_INIT {NULL, OM_SECRETS_UNKNOWN, NULL, NULL, NULL, NULL, 0}

/* Take the reference json (NULL allowed: no manifest) and decode its fields;
 * a member of the wrong type reads as absent.  Never fails. */
void om_manifest_take(struct om_manifest *m, json_t *json);

/*
 * Parse text (len bytes) as a document is parsed (bundlecheck.h,
 * om_bundle_doc_load(): strict JSON through c, then jansson) and take it.
 * -1 with err set to the reason, for the caller to prefix with the entry.
 * The form is not checked: see om_manifest_check().
 */
int om_manifest_parse(struct om_manifest *m, struct om_canon *c, const char *text, size_t len,
		      struct om_err *err);

/* Drop the JSON object and reset m to OM_MANIFEST_INIT. */
void om_manifest_release(struct om_manifest *m);

/*
 * Is json (NULL when the bundle has none) the manifest of a bundle this om
 * reads: an object with Format "om-bundle", FormatVersion 1 and, with
 * counts set, Counts an object of positive counts of kinds of the model?
 * 0, or -1 with err set, e.g. "SHOWN: entry 'manifest.json': unsupported
 * FormatVersion 2 (this om reads 1)"; shown is the bundle as the message
 * names it ("'PATH'", "standard input").
 */
int om_manifest_check_form(const json_t *json, const char *shown, int counts,
			   struct om_err *err);

/* om_manifest_check_form() of the bundle at path, named "'PATH'", with
 * its Counts. */
int om_manifest_check(const json_t *json, const char *bundle, struct om_err *err);

/* Compare the Counts of a checked manifest with counts[], the documents of
 * each kind (indexed as om_kinds[]): fn gets a line for each difference,
 * "manifest.json: Counts.KIND is N, the bundle holds M".  The number of
 * differences. */
long om_manifest_counts(const json_t *json, const size_t *counts, om_problem_fn *fn, void *ctx);

/* The KeyId of the master key k: a keyed fingerprint that tells whether
 * two redacted bundles' fingerprints were made with one key.  id holds
 * OM_FINGERPRINT_SIZE bytes (seal.h). */
void om_manifest_key_id(const struct om_key *k, char *id);

/* A new Secrets object of state clear or redacted (redacted names the
 * KeyId of k).  NULL when out of memory.  Password Secrets come from
 * om_pw_params_to_json() (pwcrypt.h). */
json_t *om_manifest_secrets(enum om_secret_state s, const struct om_key *k);

/* A new manifest of the members an export knows: export, secrets and
 * counts are stolen (also on failure).  NULL when out of memory. */
json_t *om_manifest_new(const char *server_version, long store_format, json_t *export,
			json_t *secrets, json_t *counts);

/* Replace the Secrets of m with secrets (stolen) and decode them again.
 * -1 when out of memory. */
int om_manifest_set_secrets(struct om_manifest *m, json_t *secrets, struct om_err *err);

/* Append json's canonical text (canon.h) to out, through the parse
 * context c.  -1 and err on failure. */
int om_manifest_write(const json_t *json, struct om_canon *c, struct om_buf *out,
		      struct om_err *err);

#endif
