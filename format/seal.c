#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#define KEY_BYTES 32
#define NONCE_BYTES crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
#define TAG_BYTES crypto_aead_xchacha20poly1305_ietf_ABYTES
/* Subkey contexts (crypto_kdf, 8 bytes) and ids: one key per purpose. */
#define KDF_CONTEXT "omstore1"
#define SUBKEY_SEAL 1
#define SUBKEY_CHECK 2
#define SUBKEY_FINGERPRINT 3
/* The associated data binds a token to its format version. */
#define SEAL_AD OM_SEALED_PREFIX

struct om_key {
	unsigned char master[KEY_BYTES];
	unsigned char seal[KEY_BYTES];
	unsigned char check[KEY_BYTES];
	unsigned char fingerprint[KEY_BYTES];
};

int om_crypto_init(struct om_err *err)
{
	if (sodium_init() < 0) {
		om_err_set(err, "cannot initialise libsodium");
		return -1;
	}
	return 0;
}

static struct om_key *key_from(const unsigned char *raw, struct om_err *err)
{
	struct om_key *k = sodium_malloc(sizeof *k);

	if (!k) {
		om_err_set(err, "out of memory");
		return NULL;
	}
	memcpy(k->master, raw, KEY_BYTES);
	crypto_kdf_derive_from_key(k->seal, KEY_BYTES, SUBKEY_SEAL, KDF_CONTEXT, k->master);
	crypto_kdf_derive_from_key(k->check, KEY_BYTES, SUBKEY_CHECK, KDF_CONTEXT, k->master);
	crypto_kdf_derive_from_key(k->fingerprint, KEY_BYTES, SUBKEY_FINGERPRINT, KDF_CONTEXT,
				   k->master);
	sodium_mprotect_readonly(k);
	return k;
}

struct om_key *om_key_from_bytes(const unsigned char raw[32], struct om_err *err)
{
	return key_from(raw, err);
}

struct om_key *om_key_load(const char *path, struct om_err *err)
{
	/* Room for the base64 of 32 bytes (44), a line end and a little slack:
	 * anything longer is not a key file. */
	char *text = sodium_malloc(128);
	unsigned char *raw = sodium_malloc(KEY_BYTES);
	struct om_key *key = NULL;
	size_t n = 0, rawlen = 0;
	int fd = -1;
	ssize_t r;

	if (!text || !raw) {
		om_err_set(err, "out of memory");
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		om_err_set(err, "cannot open master key file '%s': %s", path, strerror(errno));
		goto out;
	}
	while ((r = read(fd, text + n, 127 - n)) > 0 && n < 127)
		n += (size_t)r;
	if (r < 0) {
		om_err_set(err, "cannot read master key file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (n >= 127) {
		om_err_set(err, "'%s' is not a master key file: too long", path);
		goto out;
	}
	while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
		n--;
	text[n] = 0;
	if (sodium_base642bin(raw, KEY_BYTES, text, n, NULL, &rawlen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || rawlen != KEY_BYTES) {
		om_err_set(err, "'%s' is not a master key file: want 32 bytes in base64 on one line",
			   path);
		goto out;
	}
	key = key_from(raw, err);
out:
	if (fd >= 0)
		close(fd);
	sodium_free(text);
	sodium_free(raw);
	return key;
}

int om_key_create(const char *path, struct om_err *err)
{
	unsigned char *raw = sodium_malloc(KEY_BYTES);
	char *text = sodium_malloc(sodium_base64_ENCODED_LEN(KEY_BYTES, sodium_base64_VARIANT_ORIGINAL) + 1);
	int fd = -1, rc = -1;
	size_t n;

	if (!raw || !text) {
		om_err_set(err, "out of memory");
		goto out;
	}
	randombytes_buf(raw, KEY_BYTES);
	sodium_bin2base64(text, sodium_base64_ENCODED_LEN(KEY_BYTES, sodium_base64_VARIANT_ORIGINAL),
			  raw, KEY_BYTES, sodium_base64_VARIANT_ORIGINAL);
	n = strlen(text);
	text[n++] = '\n';
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		om_err_set(err, "cannot create master key file '%s': %s", path, strerror(errno));
		goto out;
	}
	if (write(fd, text, n) != (ssize_t)n || fsync(fd) != 0) {
		om_err_set(err, "cannot write master key file '%s': %s", path, strerror(errno));
		unlink(path);
		goto out;
	}
	rc = 0;
out:
	if (fd >= 0 && close(fd) != 0 && rc == 0) {
		om_err_set(err, "cannot write master key file '%s': %s", path, strerror(errno));
		unlink(path);
		rc = -1;
	}
	sodium_free(raw);
	sodium_free(text);
	return rc;
}

void om_key_free(struct om_key *key)
{
	sodium_free(key); /* wipes */
}

void om_key_check(const struct om_key *key, char out[OM_KEY_CHECK_SIZE])
{
	static const char what[] = "om master key check";
	unsigned char h[16];

	crypto_generichash(h, sizeof h, (const unsigned char *)what, sizeof what - 1,
			   key->check, KEY_BYTES);
	memcpy(out, "om-mk-1:", 8);
	sodium_bin2hex(out + 8, OM_KEY_CHECK_SIZE - 8, h, sizeof h);
}

void om_key_fingerprint(const struct om_key *key, const char *location, const char *value,
			size_t len, char out[OM_FINGERPRINT_SIZE])
{
	crypto_generichash_state st;
	unsigned char h[16];

	crypto_generichash_init(&st, key->fingerprint, KEY_BYTES, sizeof h);
	crypto_generichash_update(&st, (const unsigned char *)location, strlen(location) + 1);
	crypto_generichash_update(&st, (const unsigned char *)value, len);
	crypto_generichash_final(&st, h, sizeof h);
	sodium_bin2hex(out, OM_FINGERPRINT_SIZE, h, sizeof h);
	sodium_memzero(&st, sizeof st);
}

int om_is_sealed(const char *s)
{
	return strncmp(s, OM_SEALED_PREFIX, sizeof OM_SEALED_PREFIX - 1) == 0;
}

char *om_seal(const struct om_key *key, const char *clear, size_t len, struct om_err *err)
{
	size_t blen = NONCE_BYTES + len + TAG_BYTES;
	size_t tlen = sizeof OM_SEALED_PREFIX - 1 +
		      sodium_base64_ENCODED_LEN(blen, sodium_base64_VARIANT_ORIGINAL);
	unsigned char *box;
	char *tok;

	if (len > ((size_t)1 << 30)) {
		om_err_set(err, "secret too long to seal");
		return NULL;
	}
	box = malloc(blen);
	tok = malloc(tlen);
	if (!box || !tok) {
		free(box);
		free(tok);
		om_err_set(err, "out of memory");
		return NULL;
	}
	randombytes_buf(box, NONCE_BYTES);
	crypto_aead_xchacha20poly1305_ietf_encrypt(box + NONCE_BYTES, NULL,
						   (const unsigned char *)clear, len,
						   (const unsigned char *)SEAL_AD, sizeof SEAL_AD - 1,
						   NULL, box, key->seal);
	memcpy(tok, OM_SEALED_PREFIX, sizeof OM_SEALED_PREFIX - 1);
	sodium_bin2base64(tok + sizeof OM_SEALED_PREFIX - 1, tlen - (sizeof OM_SEALED_PREFIX - 1),
			  box, blen, sodium_base64_VARIANT_ORIGINAL);
	free(box);
	return tok;
}

int om_unseal(const struct om_key *key, const char *token, char **clear, size_t *len,
	      struct om_err *err)
{
	const char *b64;
	size_t b64len, blen = 0, max;
	unsigned char *box;
	unsigned long long clen = 0;
	char *out;

	*clear = NULL;
	*len = 0;
	if (!om_is_sealed(token)) {
		om_err_set(err, "not a sealed secret");
		return -1;
	}
	b64 = token + sizeof OM_SEALED_PREFIX - 1;
	b64len = strlen(b64);
	max = b64len / 4 * 3 + 3;
	if (!(box = malloc(max))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	if (sodium_base642bin(box, max, b64, b64len, NULL, &blen, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    blen < NONCE_BYTES + TAG_BYTES) {
		free(box);
		om_err_set(err, "malformed sealed secret");
		return -1;
	}
	if (!(out = sodium_malloc(blen - NONCE_BYTES - TAG_BYTES + 1))) {
		free(box);
		om_err_set(err, "out of memory");
		return -1;
	}
	if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)out, &clen, NULL,
						       box + NONCE_BYTES, blen - NONCE_BYTES,
						       (const unsigned char *)SEAL_AD,
						       sizeof SEAL_AD - 1, box, key->seal) != 0) {
		free(box);
		sodium_free(out);
		om_err_set(err, "sealed secret does not open with this master key");
		return 1;
	}
	free(box);
	out[clen] = 0;
	*clear = out;
	*len = (size_t)clen;
	return 0;
}

void om_clear_free(char *clear)
{
	sodium_free(clear);
}
