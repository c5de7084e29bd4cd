/*
 * jsonout.c - jansson's output with each real in its shortest exact form
 * (jsonout.h).
 *
 * jansson hands a number to the callback in one call of its own, and a
 * string as pieces that begin and end with a '"' outside any escape; so a
 * scan of the bytes for strings tells the numbers apart, and a number
 * holding '.' or 'e' (a real: jansson always writes one so) is written
 * again.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonout.h"

struct relay {
	json_dump_callback_t cb;
	void *data;
	int in_string, escaped;
};

/*
 * v with the fewest significant digits that strtod() reads back as v, laid
 * out as jansson's "%.17g" would: fixed-point for exponents from -4 to 16,
 * else an exponent; ".0" when neither a point nor an exponent is there;
 * the exponent without '+' or leading zeros.  Its length.
 */
static size_t real_text(double v, char *buf, size_t size)
{
	char *e;
	int prec, x;
	size_t n;

	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, size, "%.*e", prec - 1, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	snprintf(buf, size, "%.*e", prec - 1, v);
	x = atoi(strchr(buf, 'e') + 1);
	if (x >= -4 && x < 17)
		snprintf(buf, size, "%.*f", prec - 1 - x > 0 ? prec - 1 - x : 0, v);
	if ((e = strchr(buf, 'e'))) {
		char *d = e + 1, *s = d;
		if (*s == '+')
			s++;
		else if (*s == '-')
			d = ++s;
		while (*s == '0' && s[1])
			s++;
		memmove(d, s, strlen(s) + 1);
	} else if (!strchr(buf, '.')) {
		n = strlen(buf);
		if (n + 3 <= size)
			memcpy(buf + n, ".0", 3);
	}
	return strlen(buf);
}

static int relay_cb(const char *p, size_t n, void *data)
{
	struct relay *r = data;

	if (!r->in_string && n > 0 && n < 40 && (p[0] == '-' || isdigit((unsigned char)p[0])) &&
	    (memchr(p, '.', n) || memchr(p, 'e', n) || memchr(p, 'E', n))) {
		char num[48], out[48];
		memcpy(num, p, n);
		num[n] = 0;
		/* jansson's 17 digits read back give the very double it held
		 * (numbers in the C locale's form: no om program sets
		 * LC_NUMERIC). */
		size_t k = real_text(strtod(num, NULL), out, sizeof out);
		return r->cb(out, k, r->data);
	}
	for (size_t i = 0; i < n; i++) {
		if (r->escaped)
			r->escaped = 0;
		else if (r->in_string && p[i] == '\\')
			r->escaped = 1;
		else if (p[i] == '"')
			r->in_string = !r->in_string;
	}
	return r->cb(p, n, r->data);
}

int om_json_dump_callback(const json_t *json, json_dump_callback_t callback, void *data,
			  size_t flags)
{
	struct relay r = {callback, data, 0, 0};

	return json_dump_callback(json, relay_cb, &r, flags);
}

struct strbuf {
	char *p;
	size_t len, cap;
};

static int strbuf_add(const char *p, size_t n, void *data)
{
	struct strbuf *b = data;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *q;
		while (cap < b->len + n + 1)
			cap *= 2;
		if (!(q = realloc(b->p, cap)))
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

char *om_json_dumps(const json_t *json, size_t flags)
{
	struct strbuf b = {0};

	if (om_json_dump_callback(json, strbuf_add, &b, flags) < 0 || !b.p) {
		free(b.p);
		return NULL;
	}
	return b.p;
}
