/*
 * difftconv.c - a bundle file as git's textconv shows it (diff.h,
 * om_diff_textconv()).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "bundle.h"
#include "bundlecheck.h"
#include "canon.h"
#include "diffint.h"
#include "manifest.h"
#include "model.h"
#include "names.h"
#include "pwcrypt.h"
#include "seal.h"
#include "token.h"

/* ---- text for git ---- */

struct tconv {
	struct om_canon *c;
	struct om_buf b;
	int failed;
};

/* A secret as text: a hash of its token, so that a change shows; a clear
 * secret's hash would be a hash of the secret, so it shows as nothing. */
static int mask_hit(const struct om_chit *hit, void *vctx)
{
	struct tconv *t = vctx;
	size_t len;
	const char *s = om_canon_str(t->c, hit->node, &len);
	unsigned char h[8];
	char hex[17], out[40];
	int cls = diff_token_class(s, len);

	if (cls == 2 || cls == 3) {
		crypto_generichash(h, sizeof h, (const unsigned char *)s, len, NULL, 0);
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		snprintf(out, sizeof out, "(secret %s)", hex);
	} else {
		snprintf(out, sizeof out, "(secret)");
	}
	/* Replacing the string in place is safe during the walk: the walk
	 * holds node handles, not string pointers. */
	if (om_canon_set_str(t->c, hit->node, out, strlen(out), NULL) < 0) {
		t->failed = 1;
		return 1;
	}
	return 0;
}

int om_diff_textconv(const char *path, om_write_fn *out, void *ctx, struct om_err *err)
{
	struct om_bundle_reader *r = om_bundle_reader_open(path, err);
	struct tconv t = {NULL, {0}, 0};
	struct om_bundle_entry e;
	int n, rc = -1;
	char *buf = NULL;
	size_t len;

	if (!r || !(t.c = om_canon_new(err)))
		goto out;
	while ((n = om_bundle_next(r, &e, err)) == 1) {
		t.b.len = 0;
		if (om_buf_adds(&t.b, "=== ") < 0 || om_buf_adds(&t.b, e.path) < 0 || om_buf_add(&t.b, "\n", 1) < 0)
			goto oom;
		if (e.size <= MAX_DOC) {
			free(buf);
			buf = NULL;
			if (om_bundle_read_all(r, MAX_DOC, &buf, &len, err) < 0)
				goto out;
		}
		if (e.size <= MAX_DOC && diff_is_json(e.path)) {
			const struct om_kind *k;
			if (om_canon_parse(t.c, buf, len, err) < 0) {
				om_err_prefix(err, "'%s': entry '%s'", path, e.path);
				goto out;
			}
			om_canon_node id = om_canon_get(t.c, om_canon_root(t.c), OM_MEMBER_ID);
			size_t il;
			const char *is = om_canon_str(t.c, id, &il);
			char tmp[256] = "";
			if (om_canon_type(t.c, id) == OM_CANON_STRING && il < sizeof tmp) {
				memcpy(tmp, is, il);
				tmp[il] = 0;
			}
			if ((k = om_kind_of_id(tmp)) &&
			    (om_canon_secrets_each(k, t.c, mask_hit, &t, err) < 0 || t.failed)) {
				if (t.failed)
					om_err_set(err, "out of memory");
				goto out;
			}
			if (om_canon_write(t.c, &t.b, err) < 0)
				goto out;
		} else if (e.size <= MAX_DOC && diff_is_text(buf, len)) {
			if (om_buf_add(&t.b, buf, len) < 0 ||
			    (len && buf[len - 1] != '\n' && om_buf_adds(&t.b, "\n\\ No newline at end of file\n") < 0))
				goto oom;
		} else {
			crypto_generichash_state st;
			unsigned char h[8];
			char hex[17], line[96];
			static char chunk[65536];
			ssize_t k = 0;
			crypto_generichash_init(&st, NULL, 0, sizeof h);
			if (buf)
				crypto_generichash_update(&st, (const unsigned char *)buf, len);
			else
				while ((k = om_bundle_read(r, chunk, sizeof chunk, err)) > 0)
					crypto_generichash_update(&st, (const unsigned char *)chunk, (size_t)k);
			if (!buf && k < 0)
				goto out;
			crypto_generichash_final(&st, h, sizeof h);
			sodium_bin2hex(hex, sizeof hex, h, sizeof h);
			snprintf(line, sizeof line, "(binary, %llu bytes, %s)\n",
				 (unsigned long long)e.size, hex);
			if (om_buf_adds(&t.b, line) < 0)
				goto oom;
		}
		if (out(t.b.p, t.b.len, ctx, err) < 0)
			goto out;
	}
	rc = n < 0 ? -1 : 0;
	goto out;
oom:
	om_err_set(err, "out of memory");
out:
	free(buf);
	om_buf_release(&t.b);
	om_canon_free(t.c);
	om_bundle_reader_close(r);
	return rc;
}
