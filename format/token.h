/*
 * token.h - the prefixes of om's tokens, in one place (spec/secrets.md).
 *
 * A secret in a bundle or the store is a string that starts with one of
 * these prefixes; the state of a bundle's secrets (manifest.h) says which
 * one its documents hold.  The number before the colon is the version of
 * the construction: "om-pw-2:" would be a new one, which this om refuses
 * rather than misreads, so that the family ("om-pw-") is known too.
 *
 * Everything here is a constant or a pure function of its arguments.
 */
#ifndef OM_TOKEN_H
#define OM_TOKEN_H

#include <stddef.h>
#include <string.h>

#define OM_CLEAR_PREFIX "om-clear-1:"       /* a clear value, base64 */
#define OM_PW_PREFIX "om-pw-1:"             /* encrypted under a password */
#define OM_REDACTED_PREFIX "om-redacted-1:" /* a keyed fingerprint */
#define OM_SEALED_PREFIX "om-sealed-1:"     /* sealed by the master key (store) */
#define OM_SCRIPT_PREFIX "om-script-1:"     /* not a secret: a script sidecar's name */

/* The byte length of a prefix literal, without its NUL. */
#define OM_PREFIX_LEN(p) (sizeof p - 1)

/* What a string at a secret place is. */
enum om_token {
	OM_TOKEN_NONE,     /* not a token at all */
	OM_TOKEN_CLEAR,
	OM_TOKEN_PW,
	OM_TOKEN_REDACTED,
	OM_TOKEN_SEALED,
	OM_TOKEN_UNKNOWN,  /* of a token family, but another version */
};

/* Does s (len bytes) start with the NUL-terminated prefix? */
static inline int om_has_prefix(const char *s, size_t len, const char *prefix)
{
	size_t n = strlen(prefix);

	return len >= n && memcmp(s, prefix, n) == 0;
}

/* The kind of token s (len bytes) is. */
static inline enum om_token om_token_kind(const char *s, size_t len)
{
	if (om_has_prefix(s, len, OM_CLEAR_PREFIX))
		return OM_TOKEN_CLEAR;
	if (om_has_prefix(s, len, OM_PW_PREFIX))
		return OM_TOKEN_PW;
	if (om_has_prefix(s, len, OM_REDACTED_PREFIX))
		return OM_TOKEN_REDACTED;
	if (om_has_prefix(s, len, OM_SEALED_PREFIX))
		return OM_TOKEN_SEALED;
	if (om_has_prefix(s, len, "om-clear-") || om_has_prefix(s, len, "om-pw-") ||
	    om_has_prefix(s, len, "om-redacted-") || om_has_prefix(s, len, "om-sealed-"))
		return OM_TOKEN_UNKNOWN;
	return OM_TOKEN_NONE;
}

#endif
