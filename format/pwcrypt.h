/*
 * pwcrypt.h - secrets encrypted under a password (spec/secrets.md).
 *
 * A password-state bundle holds each secret as
 *
 *     om-pw-1:<base64(nonce || ciphertext || tag)>
 *
 * where the key comes from the password by Argon2id (crypto_pwhash) with the
 * parameters and salt of the manifest, the 24-byte nonce is a keyed BLAKE2b
 * of the value's location and the value (a synthetic nonce, so the same
 * password, salt, location and value always give the same token), and the
 * value is sealed with XChaCha20-Poly1305 with the location as associated
 * data, so a token moved to another place does not open.
 *
 * A location is the document's bundle path and the keyed location of the
 * place in it (model.h, struct om_chit.loc), taken as two strings.
 *
 * Ownership.  A struct om_pw_key lives in sodium_malloc() memory, read-only
 * after derivation, and is wiped by om_pw_key_free().  Clear values handed
 * out here are sodium_malloc()ed and NUL-terminated: release them with
 * om_clear_free() (seal.h).  Nothing here prints or keeps global state;
 * om_crypto_init() (seal.h) must have been called.
 */
#ifndef OM_PWCRYPT_H
#define OM_PWCRYPT_H

#include <stddef.h>
#include <jansson.h>

#include "canon.h"
#include "err.h"
#include "token.h" /* the prefixes */

#define OM_PW_SALT_BYTES 16
/* The check value: base64 of 32 bytes and a NUL. */
#define OM_PW_CHECK_SIZE 45

/* Argon2id parameters and salt: the manifest's Secrets.Kdf. */
struct om_pw_params {
	unsigned long long opslimit;
	size_t memlimit;
	unsigned char salt[OM_PW_SALT_BYTES];
};

struct om_pw_key;

/* Set opslimit and memlimit to libsodium's "interactive", "moderate" or
 * "sensitive" levels; -1 for another name. */
int om_pw_params_level(const char *name, struct om_pw_params *p);

/* Fill p->salt with random bytes. */
void om_pw_params_new_salt(struct om_pw_params *p);

/*
 * Read a manifest's "Secrets" object of state "password": its Kdf into p
 * and its check value into check.  -1 and err saying what is wrong (missing
 * members, another algorithm, a salt that is not 16 bytes of base64, limits
 * outside what libsodium accepts or above the "sensitive" memory limit).
 */
int om_pw_params_from_json(json_t *secrets, struct om_pw_params *p, char check[OM_PW_CHECK_SIZE],
			   struct om_err *err);

/* A new "Secrets" object of state "password" for p and key k (its check
 * value), or NULL when out of memory. */
json_t *om_pw_params_to_json(const struct om_pw_params *p, const struct om_pw_key *k);

/* Derive the key of a password (len bytes) under p: Argon2id, then one
 * subkey per purpose.  NULL and err when out of memory. */
struct om_pw_key *om_pw_key_derive(const char *password, size_t len,
				   const struct om_pw_params *p, struct om_err *err);

/* Wipe and free a key; NULL is allowed. */
void om_pw_key_free(struct om_pw_key *k);

/* The key's check value (base64 of a keyed BLAKE2b-256 of a constant). */
void om_pw_key_check(const struct om_pw_key *k, char out[OM_PW_CHECK_SIZE]);

/* Append the om-pw-1 token of value (len bytes) at location (path, loc) to
 * out.  -1 and err when out of memory. */
int om_pw_encrypt(const struct om_pw_key *k, const char *path, const char *loc,
		  const char *value, size_t len, struct om_buf *out, struct om_err *err);

/*
 * Open an om-pw-1 token (toklen bytes) found at location (path, loc).
 * 0: *clear and *len hold the value; 1: it does not authenticate (a wrong
 * key, a changed byte, a body that is not base64 or is too short, or a
 * token from another place); -1: it does not start with "om-pw-1:", or out
 * of memory (err says which).
 */
int om_pw_decrypt(const struct om_pw_key *k, const char *path, const char *loc,
		  const char *tok, size_t toklen, char **clear, size_t *len, struct om_err *err);

/* Decode an om-clear-1 token into *clear (sodium_malloc()ed); -1 and err
 * when it is not one. */
int om_clear_decode(const char *tok, size_t toklen, char **clear, size_t *len,
		    struct om_err *err);

/* The om-clear-1 token of value, sodium_malloc()ed and NUL-terminated
 * (release with om_clear_free()), or NULL when out of memory. */
char *om_clear_encode(const char *value, size_t len, struct om_err *err);

#endif
