/*
 * manifest.c - a bundle's manifest.json, read and written (manifest.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "canon.h"
#include "manifest.h"
#include "model.h"
#include "seal.h"
#include "token.h"

#define FORMAT "om-bundle"
#define FORMAT_VERSION 1

/* The location a KeyId is the fingerprint of (spec/bundle.md). */
#define KEY_ID_LOCATION "manifest.json#Secrets/KeyId"

static const char *const state_names[] = {
	[OM_SECRETS_CLEAR] = "clear",
	[OM_SECRETS_REDACTED] = "redacted",
	[OM_SECRETS_PASSWORD] = "password",
	[OM_SECRETS_UNKNOWN] = "",
};

const char *om_secret_state_name(enum om_secret_state s)
{
	return s <= OM_SECRETS_UNKNOWN ? state_names[s] : "";
}

enum om_secret_state om_token_state(const char *s, size_t len)
{
	switch (om_token_kind(s, len)) {
	case OM_TOKEN_CLEAR: return OM_SECRETS_CLEAR;
	case OM_TOKEN_PW: return OM_SECRETS_PASSWORD;
	case OM_TOKEN_REDACTED: return OM_SECRETS_REDACTED;
	default: return OM_SECRETS_UNKNOWN;
	}
}

int om_token_check_state(enum om_secret_state state, const char *s, size_t len,
			 struct om_err *err)
{
	enum om_token t = om_token_kind(s, len);
	enum om_secret_state of = om_token_state(s, len);

	if (t == OM_TOKEN_NONE) {
		om_err_set(err, "not a secret token");
		return -1;
	}
	if (of == OM_SECRETS_UNKNOWN) {
		om_err_set(err, "a secret token of an unknown kind or version");
		return -1;
	}
	if (state == OM_SECRETS_UNKNOWN) {
		om_err_set(err, "a %s token in a bundle whose manifest names no secret state",
			   state_names[of]);
		return -1;
	}
	if (of != state) {
		om_err_set(err, "a %s token in a bundle whose secrets are %s", state_names[of],
			   state_names[state]);
		return -1;
	}
	return 0;
}

static enum om_secret_state state_of(const char *name)
{
	for (int s = OM_SECRETS_CLEAR; name && s < OM_SECRETS_UNKNOWN; s++)
		if (strcmp(name, state_names[s]) == 0)
			return (enum om_secret_state)s;
	return OM_SECRETS_UNKNOWN;
}

/* The history classes Export.Ignore names; other words are not classes of
 * this om and are skipped, as an older om skipped them. */
static unsigned ignored_classes(const json_t *json)
{
	json_t *ign = json_object_get(json_object_get(json, "Export"), "Ignore"), *v;
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

/* Decode the fields of m->json again (after a change of it). */
static void decode(struct om_manifest *m)
{
	json_t *j = m->json;

	m->secrets = json_is_object(json_object_get(j, "Secrets")) ? json_object_get(j, "Secrets")
								     : NULL;
	m->state_name = json_string_value(json_object_get(m->secrets, "State"));
	m->state = state_of(m->state_name);
	m->key_id = json_string_value(json_object_get(m->secrets, "KeyId"));
	m->server_version = json_string_value(json_object_get(j, "ServerVersion"));
	m->ignored = ignored_classes(j);
}

void om_manifest_take(struct om_manifest *m, json_t *json)
{
	json_decref(m->json);
	m->json = json;
	decode(m);
}

int om_manifest_parse(struct om_manifest *m, struct om_canon *c, const char *text, size_t len,
		      struct om_err *err)
{
	json_error_t jerr;
	json_t *json;

	if (om_canon_parse(c, text, len, err) < 0)
		return -1;
	if (!(json = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &jerr))) {
		om_err_set(err, "cannot load: %s", jerr.text);
		return -1;
	}
	om_manifest_take(m, json);
	return 0;
}

void om_manifest_release(struct om_manifest *m)
{
	json_decref(m->json);
	*m = (struct om_manifest)OM_MANIFEST_INIT;
}

int om_manifest_check_form(const json_t *json, const char *shown, int counts,
			   struct om_err *err)
{
	json_t *v, *cnt;
	const char *name;

	if (!json) {
		om_err_set(err, "%s: not a bundle: no manifest.json", shown);
		return -1;
	}
	v = json_object_get(json, "Format");
	if (!json_is_object(json) || !json_is_string(v) || strcmp(json_string_value(v), FORMAT) != 0) {
		om_err_set(err, "%s: entry 'manifest.json': not the manifest of an om bundle", shown);
		return -1;
	}
	v = json_object_get(json, "FormatVersion");
	if (!json_is_integer(v) || json_integer_value(v) != FORMAT_VERSION) {
		char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
		om_err_set(err, "%s: entry 'manifest.json': unsupported FormatVersion %.40s "
			   "(this om reads 1)", shown, t ? t : "(none)");
		free(t);
		return -1;
	}
	if (!counts)
		return 0;
	cnt = json_object_get(json, "Counts");
	if (!json_is_object(cnt)) {
		om_err_set(err, "%s: entry 'manifest.json': no Counts object", shown);
		return -1;
	}
	json_object_foreach(cnt, name, v) {
		const struct om_kind *k = om_kind_by_name(name);
		if (!k || !json_is_integer(v) || json_integer_value(v) <= 0) {
			om_err_set(err, "%s: entry 'manifest.json': Counts.%.64s is not a "
				   "count of a kind", shown, name);
			return -1;
		}
	}
	return 0;
}

int om_manifest_check(const json_t *json, const char *bundle, struct om_err *err)
{
	char shown[4200];

	snprintf(shown, sizeof shown, "'%s'", bundle);
	return om_manifest_check_form(json, shown, 1, err);
}

long om_manifest_counts(const json_t *json, const size_t *counts, om_problem_fn *fn, void *ctx)
{
	json_t *want = json_object_get(json, "Counts");
	long n = 0;

	for (size_t i = 0; i < om_nkinds; i++) {
		json_int_t w = json_integer_value(json_object_get(want, om_kinds[i].name));
		char line[256];
		if ((size_t)w == counts[i])
			continue;
		snprintf(line, sizeof line, "manifest.json: Counts.%s is %lld, the bundle holds %zu",
			 om_kinds[i].name, (long long)w, counts[i]);
		fn(line, ctx);
		n++;
	}
	return n;
}

void om_manifest_key_id(const struct om_key *k, char *id)
{
	om_key_fingerprint(k, KEY_ID_LOCATION, "", 0, id);
}

json_t *om_manifest_secrets(enum om_secret_state s, const struct om_key *k)
{
	json_t *sec = json_pack("{ss}", "State", om_secret_state_name(s));

	if (sec && s == OM_SECRETS_REDACTED) {
		/* Which key made the fingerprints, so that fingerprints of two
		 * servers are not compared as if of one (spec/bundle.md). */
		char id[OM_FINGERPRINT_SIZE];
		om_manifest_key_id(k, id);
		if (json_object_set_new(sec, "KeyId", json_string(id)) < 0) {
			json_decref(sec);
			return NULL;
		}
	}
	return sec;
}

json_t *om_manifest_new(const char *server_version, long store_format, json_t *export,
			json_t *secrets, json_t *counts)
{
	/* "o" steals each reference, also when the pack fails. */
	return json_pack("{ss, si, ss, sI, so, so, so}", "Format", FORMAT, "FormatVersion",
			 FORMAT_VERSION, "ServerVersion", server_version, "StoreFormat",
			 (json_int_t)store_format, "Export", export, "Secrets", secrets, "Counts",
			 counts);
}

int om_manifest_set_secrets(struct om_manifest *m, json_t *secrets, struct om_err *err)
{
	if (!secrets || !m->json || json_object_set_new(m->json, "Secrets", secrets) < 0) {
		om_err_set(err, "out of memory");
		return -1;
	}
	decode(m);
	return 0;
}

int om_manifest_write(const json_t *json, struct om_canon *c, struct om_buf *out,
		      struct om_err *err)
{
	char *text = json_dumps(json, JSON_COMPACT);
	int rc;

	if (!text) {
		om_err_set(err, "out of memory");
		return -1;
	}
	rc = om_canon_parse(c, text, strlen(text), err) < 0 ? -1 : om_canon_write(c, out, err);
	free(text);
	return rc;
}
