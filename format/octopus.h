/*
 * octopus.h - reading Octopus Deploy's own exports into om documents
 * (om-octopus; ../shared/octopus-formats.md describes the formats).
 *
 * Two inputs, told apart by content: an Export/Import Projects package
 * (package format 2.0.0: a zip, the same unzipped as a directory, or a zip
 * on a descriptor), and an Octopus.Migrator export directory (metadata.json
 * at its root).  om_octopus_read() checks the password's canary (Hello)
 * before anything else, verifies each document's SHA-1 against the
 * manifest, takes the export suffix off every Id, maps DocumentType values
 * and Id prefixes to kinds through the model (model.h), decrypts the
 * sensitive values (PBKDF2-HMAC-SHA1 and AES-128-CBC, with nettle) and
 * keeps the documents in the store's form, their secrets sealed under a
 * key derived from the password; om_octopus_write() writes them as
 * om_export() would (export.h), with the space that the package's
 * documents live in named as asked.
 *
 * Ownership: a package from om_octopus_read() is the caller's until
 * om_octopus_free().  Clear values from om_octopus_decrypt() are
 * sodium_malloc()ed, for om_clear_free() (seal.h).  The library never
 * prints: warnings go to the caller's function, errors to err as
 * "'INPUT': entry 'NAME': reason".
 */
#ifndef OM_OCTOPUS_H
#define OM_OCTOPUS_H

#include <stddef.h>

#include "bundle.h"
#include "err.h"
#include "export.h"

/* The marker Octopus appends to every Id it means to remap on import. */
#define OM_OCTOPUS_SUFFIX "-D4C63A85E7894C5D8C20D9297FEA1A43"

/* The size of an Octopus export key (AES-128). */
#define OM_OCTOPUS_KEY_SIZE 16

/* The key of an export password: PBKDF2-HMAC-SHA1, salt "Octopuss", 1000
 * iterations, 16 bytes. */
void om_octopus_key(const char *password, size_t len, unsigned char key[OM_OCTOPUS_KEY_SIZE]);

/*
 * Decrypt a sensitive value "base64(ciphertext)|base64(IV)" (AES-128-CBC,
 * PKCS#7): 0 and *clear (NUL-terminated) and *len; -1 and err set to the
 * reason ("not valid base64", "an IV of 12 bytes, not 16", "bad padding")
 * when the value is not one or does not decrypt under key.
 */
int om_octopus_decrypt(const unsigned char key[OM_OCTOPUS_KEY_SIZE], const char *value,
		       char **clear, size_t *len, struct om_err *err);

struct om_octopus_opts {
	const char *password; /* the export password, len bytes */
	size_t password_len;
	const char *space;    /* the name of the space; NULL: "Default" */
	int strict;           /* a SHA-1 mismatch is an error, not a warning */
	/* Bytes in one entry, in the whole export, and entries; NULL: 64 MiB,
	 * 512 MiB and 100,000. */
	const struct om_bundle_limits *limits;
	/* Called with each warning line (a hash that does not match, a file the
	 * manifest does not list); NULL: none. */
	void (*warn)(void *ctx, const char *msg);
	void *warn_ctx;
};

struct om_octopus;

/*
 * Read the export at path: a directory, a zip file, or "-" (a zip on
 * standard input).  0 and *out; 1 when the password is not the export's
 * (err says so); -1 and err on trouble: an unreadable or malformed input,
 * an entry with '..', an absolute name, a link or a duplicate name, a
 * manifest naming a missing file, invalid JSON, a ciphertext that is not
 * valid base64 or has a bad IV length or bad padding, an Id that still holds
 * the export suffix after stripping, an unknown package version, a
 * document of a kind the model does not know.
 */
int om_octopus_read(const char *path, const struct om_octopus_opts *o, struct om_octopus **out,
		    struct om_err *err);

/* The same for a zip read from fd (which stays the caller's); name is for
 * messages. */
int om_octopus_read_fd(int fd, const char *name, const struct om_octopus_opts *o,
		       struct om_octopus **out, struct om_err *err);

/* The number of documents read, the space's own included. */
size_t om_octopus_count(const struct om_octopus *p);

/* Write the documents into w as om_export() writes a store's, secrets as
 * clear tokens or redacted fingerprints (keyed by the password). */
int om_octopus_write(const struct om_octopus *p, enum om_secret_state secrets,
		     struct om_bundle_writer *w, struct om_err *err);

/* Free; NULL is allowed. */
void om_octopus_free(struct om_octopus *p);

#endif
