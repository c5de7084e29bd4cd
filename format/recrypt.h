/*
 * recrypt.h - a bundle's secrets rewritten from one state to another:
 * clear to password (encrypt), password to clear (decrypt), password to a
 * new password (rekey), or only opened (check).  The engine of om-encrypt
 * (docs/om-encrypt.1, spec/secrets.md).
 *
 * A filter: the bundle is read once as a stream (directory, tar, tar.zst,
 * standard input) and the same bundle written, every secret token replaced,
 * documents rewritten through om_canon and every other entry copied through
 * in chunks, so memory is bounded by the largest document.  Tokens are
 * classified (token.h) and held against the manifest's state (manifest.h);
 * a string that looks like a token outside the model's secret places, or a
 * clear token in a file that is not a document (looked for across chunk
 * boundaries too), is refused, so no secret leaves in a form the manifest
 * does not announce.  Without the input's key (decrypt, rekey, check) the
 * entries before the manifest are spooled to an unlinked temporary file
 * until the manifest gives the salt.  Encrypting reuses the salt of
 * --salt-from, or of the bundle already in the output directory (when its
 * password matches), so that re-encrypting unchanged secrets leaves them
 * byte for byte as they were.
 *
 * Ownership.  Passwords come from the caller's callback and are used at
 * once to derive a key in sodium_malloc() memory, wiped before om_recrypt()
 * returns; documents (which hold clear values) are wiped as well.  Nothing
 * here prints, prompts or exits: messages are left in err, worded
 * "SHOWN: entry 'PATH': LOC: reason" where SHOWN is "'BUNDLE'" or
 * "standard input".  The output is written through bundle.h: a temporary
 * name, renamed on success and removed on failure or on a signal
 * (om_bundle_cleanup_on_signal()).  om_crypto_init() (seal.h) must have
 * been called.
 */
#ifndef OM_RECRYPT_H
#define OM_RECRYPT_H

#include <stddef.h>

#include "err.h"

enum om_recrypt_mode {
	OM_RECRYPT_ENCRYPT, /* clear -> password */
	OM_RECRYPT_DECRYPT, /* password -> clear */
	OM_RECRYPT_REKEY,   /* password -> another password, in one pass */
	OM_RECRYPT_CHECK,   /* password opened, nothing written */
};

/* Which password the callback is asked for. */
enum om_recrypt_pw {
	OM_RECRYPT_PW,     /* the bundle's (or, encrypting, the new bundle's) */
	OM_RECRYPT_NEW_PW, /* the new one of rekey */
};

/*
 * The password asked for, *len bytes; confirm asks that a typed password
 * be typed twice (a new salt: nothing to check it against).  The memory
 * stays the caller's and must stay valid until the next call or until
 * om_recrypt() returns.  NULL with err set when there is none.
 */
typedef const char *om_recrypt_password_fn(void *ctx, enum om_recrypt_pw which, int confirm,
					   size_t *len, struct om_err *err);

struct om_recrypt_opts {
	enum om_recrypt_mode mode;
	const char *in;        /* the bundle, or "-" */
	const char *out;       /* the output (bundle.h forms), or "-"; unused by check */
	const char *kdf;       /* "interactive", "moderate", "sensitive", or NULL */
	int new_salt;          /* never reuse a salt */
	const char *salt_from; /* reuse the salt and limits of this bundle, or NULL */
	om_recrypt_password_fn *password;
	void *ctx;
};

/*
 * Rewrite the secrets of o->in into o->out as o->mode says.  0 done; 1 no:
 * a wrong password or a token that does not open (changed, or moved from
 * another place), with err saying which; -1 trouble (err set).  On 1 and -1
 * no output is left behind.
 */
int om_recrypt(const struct om_recrypt_opts *o, struct om_err *err);

#endif
