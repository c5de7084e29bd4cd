/*
 * pwcrypt.c - the om-pw-1 construction of spec/secrets.md, on libsodium.
 *
 * libsodium 1.0.18 has no SIV mode, so this is one built from its parts:
 * the nonce is a PRF (keyed BLAKE2b) of the associated data and the
 * message, then XChaCha20-Poly1305 encrypts under an independent key.  The
 * argument is written down in the spec; the code follows it line for line.
 */
#include "pwcrypt.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "seal.h"

#define KEY_BYTES 32
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
/* crypto_kdf context (8 bytes) and subkey ids: one key per purpose. */
#define KDF_CONTEXT "ompasswd"
#define SUBKEY_NONCE 1
#define SUBKEY_ENCRYPT 2
#define SUBKEY_CHECK 3
#define CHECK_TEXT "om-pw-1 password check"
#define ALGORITHM "argon2id13"
/* The biggest value a token may hold: far above any real secret, and low
 * enough that sizes never overflow. */
#define MAX_VALUE ((size_t)1 << 30)

struct om_pw_key {
	unsigned char nonce[KEY_BYTES];
	unsigned char enc[KEY_BYTES];
	unsigned char check[KEY_BYTES];
};

int om_pw_params_level(const char *name, struct om_pw_params *p)
{
	if (strcmp(name, "interactive") == 0) {
		p->opslimit = crypto_pwhash_OPSLIMIT_INTERACTIVE;
		p->memlimit = crypto_pwhash_MEMLIMIT_INTERACTIVE;
	} else if (strcmp(name, "moderate") == 0) {
		p->opslimit = crypto_pwhash_OPSLIMIT_MODERATE;
		p->memlimit = crypto_pwhash_MEMLIMIT_MODERATE;
	} else if (strcmp(name, "sensitive") == 0) {
		p->opslimit = crypto_pwhash_OPSLIMIT_SENSITIVE;
		p->memlimit = crypto_pwhash_MEMLIMIT_SENSITIVE;
	} else {
		return -1;
	}
	return 0;
}

void om_pw_params_new_salt(struct om_pw_params *p)
{
	randombytes_buf(p->salt, sizeof p->salt);
}

int om_pw_params_from_json(json_t *secrets, struct om_pw_params *p, char check[OM_PW_CHECK_SIZE],
			   struct om_err *err)
{
	json_t *kdf = json_object_get(secrets, "Kdf");
	json_t *alg = json_object_get(kdf, "Algorithm"), *ops = json_object_get(kdf, "OpsLimit"),
	       *mem = json_object_get(kdf, "MemLimit"), *salt = json_object_get(kdf, "Salt"),
	       *chk = json_object_get(secrets, "Check");
	size_t n;

	if (!json_is_object(kdf) || !json_is_string(alg) || !json_is_integer(ops) ||
	    !json_is_integer(mem) || !json_is_string(salt) || !json_is_string(chk)) {
		om_err_set(err, "Secrets: want Kdf {Algorithm, OpsLimit, MemLimit, Salt} and Check");
		return -1;
	}
	if (strcmp(json_string_value(alg), ALGORITHM) != 0) {
		om_err_set(err, "Secrets: unknown key derivation '%s' (this om knows %s)",
			   json_string_value(alg), ALGORITHM);
		return -1;
	}
	/* A hostile manifest must not make us allocate or spin without end:
	 * nothing above the "sensitive" level is accepted. */
	if (json_integer_value(ops) < (json_int_t)crypto_pwhash_OPSLIMIT_MIN ||
	    json_integer_value(ops) > (json_int_t)crypto_pwhash_OPSLIMIT_SENSITIVE * 4 ||
	    json_integer_value(mem) < (json_int_t)crypto_pwhash_MEMLIMIT_MIN ||
	    json_integer_value(mem) > (json_int_t)crypto_pwhash_MEMLIMIT_SENSITIVE) {
		om_err_set(err, "Secrets: Kdf limits out of range (OpsLimit %lld, MemLimit %lld)",
			   (long long)json_integer_value(ops), (long long)json_integer_value(mem));
		return -1;
	}
	p->opslimit = (unsigned long long)json_integer_value(ops);
	p->memlimit = (size_t)json_integer_value(mem);
	if (sodium_base642bin(p->salt, sizeof p->salt, json_string_value(salt),
			      strlen(json_string_value(salt)), NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || n != sizeof p->salt) {
		om_err_set(err, "Secrets: Kdf Salt is not 16 bytes of base64");
		return -1;
	}
	if (strlen(json_string_value(chk)) != OM_PW_CHECK_SIZE - 1) {
		om_err_set(err, "Secrets: Check is not a check value");
		return -1;
	}
	memcpy(check, json_string_value(chk), OM_PW_CHECK_SIZE);
	return 0;
}

json_t *om_pw_params_to_json(const struct om_pw_params *p, const struct om_pw_key *k)
{
	char salt[sodium_base64_ENCODED_LEN(OM_PW_SALT_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	char check[OM_PW_CHECK_SIZE];

	sodium_bin2base64(salt, sizeof salt, p->salt, sizeof p->salt,
			  sodium_base64_VARIANT_ORIGINAL);
	om_pw_key_check(k, check);
	return json_pack("{s:s, s:s, s:{s:s, s:I, s:I, s:s}}", "State", "password", "Check", check,
			 "Kdf", "Algorithm", ALGORITHM, "OpsLimit", (json_int_t)p->opslimit,
			 "MemLimit", (json_int_t)p->memlimit, "Salt", salt);
}

struct om_pw_key *om_pw_key_derive(const char *password, size_t len,
				   const struct om_pw_params *p, struct om_err *err)
{
	struct om_pw_key *k = sodium_malloc(sizeof *k);
	unsigned char *master = sodium_malloc(KEY_BYTES);

	if (!k || !master) {
		sodium_free(k);
		sodium_free(master);
		om_err_set(err, "out of memory");
		return NULL;
	}
	if (crypto_pwhash(master, KEY_BYTES, password, len, p->salt, p->opslimit, p->memlimit,
			  crypto_pwhash_ALG_ARGON2ID13) != 0) {
		sodium_free(k);
		sodium_free(master);
		om_err_set(err, "out of memory deriving the key (Argon2id wants %zu bytes)",
			   p->memlimit);
		return NULL;
	}
	crypto_kdf_derive_from_key(k->nonce, KEY_BYTES, SUBKEY_NONCE, KDF_CONTEXT, master);
	crypto_kdf_derive_from_key(k->enc, KEY_BYTES, SUBKEY_ENCRYPT, KDF_CONTEXT, master);
	crypto_kdf_derive_from_key(k->check, KEY_BYTES, SUBKEY_CHECK, KDF_CONTEXT, master);
	sodium_free(master); /* wipes */
	sodium_mprotect_readonly(k);
	return k;
}

void om_pw_key_free(struct om_pw_key *k)
{
	sodium_free(k);
}

void om_pw_key_check(const struct om_pw_key *k, char out[OM_PW_CHECK_SIZE])
{
	unsigned char h[32];

	crypto_generichash(h, sizeof h, (const unsigned char *)CHECK_TEXT, sizeof CHECK_TEXT - 1,
			   k->check, KEY_BYTES);
	sodium_bin2base64(out, OM_PW_CHECK_SIZE, h, sizeof h, sodium_base64_VARIANT_ORIGINAL);
}

static void put_le64(unsigned char b[8], uint64_t v)
{
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

/* The associated data: path, a NUL (no path holds one), loc. */
static unsigned char *make_ad(const char *path, const char *loc, size_t *len)
{
	size_t pl = strlen(path), ll = strlen(loc);
	unsigned char *ad = malloc(pl + 1 + ll);

	if (!ad)
		return NULL;
	memcpy(ad, path, pl);
	ad[pl] = 0;
	memcpy(ad + pl + 1, loc, ll);
	*len = pl + 1 + ll;
	return ad;
}

/* The synthetic nonce: BLAKE2b-192 keyed with the nonce subkey over
 * LE64(len ad) || ad || LE64(len value) || value. */
static void synthetic_nonce(const struct om_pw_key *k, const unsigned char *ad, size_t adlen,
			    const char *value, size_t len, unsigned char nonce[NONCE_BYTES])
{
	crypto_generichash_state st;
	unsigned char n[8];

	crypto_generichash_init(&st, k->nonce, KEY_BYTES, NONCE_BYTES);
	put_le64(n, adlen);
	crypto_generichash_update(&st, n, 8);
	crypto_generichash_update(&st, ad, adlen);
	put_le64(n, len);
	crypto_generichash_update(&st, n, 8);
	crypto_generichash_update(&st, (const unsigned char *)value, len);
	crypto_generichash_final(&st, nonce, NONCE_BYTES);
	sodium_memzero(&st, sizeof st);
}

static int buf_reserve(struct om_buf *b, size_t more, struct om_err *err)
{
	if (b->cap - b->len < more) {
		size_t cap = b->cap ? b->cap : 256;
		char *p;
		while (cap - b->len < more)
			cap *= 2;
		if (!(p = realloc(b->p, cap))) {
			om_err_set(err, "out of memory");
			return -1;
		}
		b->p = p;
		b->cap = cap;
	}
	return 0;
}

int om_pw_encrypt(const struct om_pw_key *k, const char *path, const char *loc,
		  const char *value, size_t len, struct om_buf *out, struct om_err *err)
{
	size_t adlen, blen = NONCE_BYTES + len + TAG_BYTES, tlen;
	unsigned char *ad, *box;

	if (len > MAX_VALUE) {
		om_err_set(err, "secret too long to encrypt");
		return -1;
	}
	tlen = sizeof OM_PW_PREFIX - 1 + sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
	ad = make_ad(path, loc, &adlen);
	box = malloc(blen);
	if (!ad || !box || buf_reserve(out, tlen, err) < 0) {
		free(ad);
		free(box);
		om_err_set(err, "out of memory");
		return -1;
	}
	synthetic_nonce(k, ad, adlen, value, len, box);
	crypto_aead_xchacha20poly1305_ietf_encrypt(box + NONCE_BYTES, NULL,
						   (const unsigned char *)value, len, ad, adlen,
						   NULL, box, k->enc);
	memcpy(out->p + out->len, OM_PW_PREFIX, sizeof OM_PW_PREFIX - 1);
	sodium_bin2base64(out->p + out->len + sizeof OM_PW_PREFIX - 1,
			  tlen - (sizeof OM_PW_PREFIX - 1), box, blen,
			  sodium_base64_VARIANT_ORIGINAL);
	out->len += tlen - 1; /* without the NUL */
	free(ad);
	free(box);
	return 0;
}

/* Decode the base64 after a prefix of plen bytes into *out, a malloc()ed
 * (secure: sodium_malloc()ed) buffer of *n bytes.  0 when done, 1 when it
 * is not canonical padded base64, -1 when out of memory. */
static int unbase64(const char *tok, size_t toklen, size_t plen, unsigned char **out, size_t *n,
		    int secure)
{
	size_t max = (toklen - plen) / 4 * 3 + 1;
	unsigned char *b = secure ? sodium_malloc(max) : malloc(max);
	const char *end;

	*out = NULL;
	if (!b)
		return -1;
	if ((toklen - plen) % 4 != 0 ||
	    sodium_base642bin(b, max, tok + plen, toklen - plen, NULL, n, &end,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    end != tok + toklen) {
		if (secure)
			sodium_free(b);
		else
			free(b);
		return 1;
	}
	*out = b;
	return 0;
}

int om_pw_decrypt(const struct om_pw_key *k, const char *path, const char *loc,
		  const char *tok, size_t toklen, char **clear, size_t *len, struct om_err *err)
{
	size_t plen = sizeof OM_PW_PREFIX - 1, blen, adlen, mlen;
	unsigned char *box, *ad, nonce[NONCE_BYTES];
	char *m;
	int rc;

	*clear = NULL;
	if (toklen < plen || memcmp(tok, OM_PW_PREFIX, plen) != 0) {
		om_err_set(err, "not an %s token", OM_PW_PREFIX);
		return -1;
	}
	/* A body that does not decode, or is too short to hold a nonce and a
	 * tag, is a changed token like any other (spec/secrets.md, "Token"). */
	if ((rc = unbase64(tok, toklen, plen, &box, &blen, 0)) < 0) {
		om_err_set(err, "out of memory");
		return -1;
	}
	if (rc > 0 || blen < NONCE_BYTES + TAG_BYTES) {
		free(box);
		om_err_set(err, "authentication failed");
		return 1;
	}
	rc = 1;
	mlen = blen - NONCE_BYTES - TAG_BYTES;
	ad = make_ad(path, loc, &adlen);
	m = sodium_malloc(mlen + 1);
	if (!ad || !m) {
		free(box);
		free(ad);
		sodium_free(m);
		om_err_set(err, "out of memory");
		return -1;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)m, NULL, NULL,
						       box + NONCE_BYTES, blen - NONCE_BYTES,
						       ad, adlen, box, k->enc) == 0) {
		/* Only the nonce this value and place give is accepted, so that a
		 * token that opens is also the one om-encrypt would write. */
		synthetic_nonce(k, ad, adlen, m, mlen, nonce);
		if (sodium_memcmp(nonce, box, NONCE_BYTES) == 0)
			rc = 0;
	}
	free(box);
	free(ad);
	if (rc != 0) {
		sodium_free(m);
		om_err_set(err, "authentication failed");
		return 1;
	}
	m[mlen] = 0;
	*clear = m;
	*len = mlen;
	return 0;
}

int om_clear_decode(const char *tok, size_t toklen, char **clear, size_t *len,
		    struct om_err *err)
{
	size_t plen = sizeof OM_CLEAR_PREFIX - 1, n;
	unsigned char *b;
	int r;

	*clear = NULL;
	if (toklen < plen || memcmp(tok, OM_CLEAR_PREFIX, plen) != 0) {
		om_err_set(err, "not an %s token", OM_CLEAR_PREFIX);
		return -1;
	}
	if ((r = unbase64(tok, toklen, plen, &b, &n, 1)) != 0) {
		if (r < 0)
			om_err_set(err, "out of memory");
		else
			om_err_set(err, "malformed %s token: not base64", OM_CLEAR_PREFIX);
		return -1;
	}
	b[n] = 0;
	*clear = (char *)b;
	*len = n;
	return 0;
}

char *om_clear_encode(const char *value, size_t len, struct om_err *err)
{
	size_t plen = sizeof OM_CLEAR_PREFIX - 1;
	size_t blen = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
	char *t = len <= MAX_VALUE ? sodium_malloc(plen + blen) : NULL;

	if (!t) {
		om_err_set(err, "out of memory");
		return NULL;
	}
	memcpy(t, OM_CLEAR_PREFIX, plen);
	sodium_bin2base64(t + plen, blen, (const unsigned char *)value, len,
			  sodium_base64_VARIANT_ORIGINAL);
	return t;
}
