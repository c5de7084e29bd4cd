#include "names.h"

#include <utf8proc.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Cut long names here, leaving room for the "%~" suffix. */
#define CUT_AT 180
#define HASH_HEX 16

static int must_escape(unsigned char b)
{
	return b < 0x20 || b == 0x7f || strchr("%/\\:*?\"<>|", b) != NULL;
}

/* Is the name (up to its first '.') a Windows device name? */
static int is_device(const char *name, size_t len)
{
	static const char *const dev[] = {"CON", "PRN", "AUX", "NUL"};
	const char *dot = memchr(name, '.', len);
	size_t n = dot ? (size_t)(dot - name) : len;
	char up[5];

	if (n < 3 || n > 4)
		return 0;
	for (size_t i = 0; i < n; i++)
		up[i] = (name[i] >= 'a' && name[i] <= 'z') ? (char)(name[i] - 32) : name[i];
	up[n] = 0;
	if (n == 3) {
		for (size_t i = 0; i < 4; i++)
			if (strcmp(up, dev[i]) == 0)
				return 1;
		return 0;
	}
	return (strncmp(up, "COM", 3) == 0 || strncmp(up, "LPT", 3) == 0) &&
	       up[3] >= '1' && up[3] <= '9';
}

/* 16 hex digits of BLAKE2b-256 of the exact name, and a NUL. */
static void hash_hex(const char *name, size_t len, char out[HASH_HEX + 1])
{
	unsigned char h[32];

	crypto_generichash(h, sizeof h, (const unsigned char *)name, len, NULL, 0);
	sodium_bin2hex(out, HASH_HEX + 1, h, HASH_HEX / 2);
}

/* Where to cut s (of more than n bytes) at or below n: at a UTF-8
 * character boundary and outside an escape ("%XX", and "%~" of a suffix). */
static size_t cut_point(const char *s, size_t n)
{
	while (n > 0 && ((s[n] & 0xc0) == 0x80 || s[n - 1] == '%' || (n >= 2 && s[n - 2] == '%')))
		n--;
	return n;
}

char *om_name_component(const char *name, size_t len, int flags, struct om_err *err)
{
	static const char hex[] = "0123456789ABCDEF";
	/* Every byte may become three; then the suffix. */
	char *out = malloc(len * 3 + 4 + HASH_HEX + 4);
	size_t n = 0;
	int inside = flags & OM_NAME_INSIDE, collides = flags & OM_NAME_COLLIDES;
	int dev = !inside && is_device(name, len);

	if (!out) {
		om_err_set(err, "out of memory");
		return NULL;
	}
	if (len == 0) {
		memcpy(out, "%00", 4);
		n = 3;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char b = (unsigned char)name[i];
		int esc = must_escape(b) || (i == 0 && !inside && (b == '.' || dev)) ||
			  (i == len - 1 && (b == '.' || b == ' '));
		if (esc) {
			out[n++] = '%';
			out[n++] = hex[b >> 4];
			out[n++] = hex[b & 15];
		} else {
			out[n++] = (char)b;
		}
	}
	/* The collision suffix counts towards the limit too (found by
	 * fuzz_names: a colliding name of 183 to 200 bytes grew past it). */
	if (n > OM_NAME_MAX - (collides ? 2 + HASH_HEX : 0) || collides) {
		/* "%~~" marks a cut name, "%~" a collision: both end in the hash
		 * of the exact name, so a cut name needs no collision suffix. */
		int cut = n > OM_NAME_MAX - (collides ? 2 + HASH_HEX : 0);
		if (cut)
			n = cut_point(out, CUT_AT);
		out[n++] = '%';
		out[n++] = '~';
		if (cut)
			out[n++] = '~';
		hash_hex(name, len, out + n);
		n += HASH_HEX;
	}
	out[n] = 0;
	return out;
}

size_t om_name_fit(char *comp, size_t len, size_t stem)
{
	char h[HASH_HEX + 1];
	size_t n, tail = len - stem;

	if (stem <= OM_NAME_MAX)
		return len;
	hash_hex(comp, len, h);
	n = cut_point(comp, CUT_AT);
	memmove(comp + n + 3 + HASH_HEX, comp + stem, tail);
	memcpy(comp + n, "%~~", 3);
	memcpy(comp + n + 3, h, HASH_HEX);
	return n + 3 + HASH_HEX + tail;
}

char *om_name_collide_key(const char *name)
{
	utf8proc_uint8_t *nfc = NULL;

	/* utf8proc refuses invalid UTF-8 (and surrogates), as a path does. */
	if (utf8proc_map((const utf8proc_uint8_t *)name, 0, &nfc,
			 UTF8PROC_NULLTERM | UTF8PROC_STABLE | UTF8PROC_COMPOSE) < 0)
		return NULL;
	for (utf8proc_uint8_t *p = nfc; *p; p++)
		if (*p >= 'A' && *p <= 'Z')
			*p += 32;
	return (char *)nfc;
}

int om_name_collide(const char *a, const char *b)
{
	char *ka = om_name_collide_key(a), *kb = om_name_collide_key(b);
	int r;

	/* A name that has no key (not UTF-8) collides with itself only. */
	if (ka && kb)
		r = strcmp(ka, kb) == 0;
	else
		r = strcmp(a, b) == 0;
	free(ka);
	free(kb);
	return r;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *om_name_unescape(const char *c, struct om_err *err)
{
	size_t len = strlen(c), n = 0;
	char *out;

	/* A cut name cannot be undone; a collision suffix names the same name. */
	if (len >= 3 + HASH_HEX && memcmp(c + len - 3 - HASH_HEX, "%~~", 3) == 0) {
		om_err_set(err, "'%s' is a cut name", c);
		return NULL;
	}
	if (len >= 2 + HASH_HEX && memcmp(c + len - 2 - HASH_HEX, "%~", 2) == 0)
		len -= 2 + HASH_HEX;
	if (len == 3 && memcmp(c, "%00", 3) == 0)
		return calloc(1, 1);
	if (!(out = malloc(len + 1))) {
		om_err_set(err, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < len; i++) {
		int h, l;
		if (c[i] != '%') {
			out[n++] = c[i];
			continue;
		}
		if (i + 2 >= len || (h = hexval(c[i + 1])) < 0 || (l = hexval(c[i + 2])) < 0 ||
		    (h == 0 && l == 0)) {
			free(out);
			om_err_set(err, "'%s' has a malformed escape", c);
			return NULL;
		}
		out[n++] = (char)(h * 16 + l);
		i += 2;
	}
	out[n] = 0;
	return out;
}
