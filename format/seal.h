/*
 * seal.h - the server's master key and the secrets it seals in the store.
 *
 * A secret at rest in the store is sealed: XChaCha20-Poly1305 (IETF) under a
 * subkey of the server's 32-byte master key, with a random nonce, written as
 *
 *     om-sealed-1:<base64(nonce || ciphertext || tag)>
 *
 * (spec/store.md, "Sealed secrets").  The master key file holds the 32 bytes
 * in standard base64 on one line.  Keys and clear secrets live in
 * sodium_malloc() memory and are wiped when freed; a clear value handed out
 * here is the caller's to release with om_clear_free().
 */
#ifndef OM_SEAL_H
#define OM_SEAL_H

#include <stddef.h>

#include "err.h"
#include "token.h" /* the prefixes */


struct om_key;

/* Initialise libsodium; call once before the rest.  -1 when it cannot start. */
int om_crypto_init(struct om_err *err);

/* Read a master key file; NULL and err naming the file when it is not one. */
struct om_key *om_key_load(const char *path, struct om_err *err);

/* A key made of 32 bytes held in memory (which the caller wipes): for keys
 * derived rather than read from a file. */
struct om_key *om_key_from_bytes(const unsigned char raw[32], struct om_err *err);

/* Write a new random master key to path, created O_EXCL with mode 0600. */
int om_key_create(const char *path, struct om_err *err);

/* Wipe and free a key; NULL is allowed. */
void om_key_free(struct om_key *key);

/* The key's check value, "om-mk-1:" and 32 hex digits (fits in 48 bytes):
 * tells whether a key is the server's without revealing it. */
#define OM_KEY_CHECK_SIZE 48
void om_key_check(const struct om_key *key, char out[OM_KEY_CHECK_SIZE]);

/* Does s have the sealed form?  (Says nothing of whether it opens.) */
int om_is_sealed(const char *s);

/* Seal len bytes of clear text; a malloc()ed NUL-terminated token, or NULL. */
char *om_seal(const struct om_key *key, const char *clear, size_t len, struct om_err *err);

/*
 * Open a sealed token.  0: *clear is a sodium_malloc()ed NUL-terminated
 * copy of the clear text and *len its length; 1: the token does not open
 * under this key (wrong key or tampered); -1: it is not a sealed token.
 */
int om_unseal(const struct om_key *key, const char *token, char **clear, size_t *len,
	      struct om_err *err);

/*
 * A keyed fingerprint of a secret at a location (redacted bundles): 32 hex
 * digits of BLAKE2b-128 keyed with the master key's subkey 3 over the
 * location, a NUL byte and the value.  It changes when the value changes,
 * reveals nothing of it without the key, and differs between places.
 */
#define OM_FINGERPRINT_SIZE 33
void om_key_fingerprint(const struct om_key *key, const char *location, const char *value,
			size_t len, char out[OM_FINGERPRINT_SIZE]);

/* Wipe and free a clear value from om_unseal(); NULL is allowed. */
void om_clear_free(char *clear);

#endif
