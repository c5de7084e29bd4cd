#include "canon.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/*
 * The tree: nodes in one array in document order (node 0 is the root), the
 * children of every container as a contiguous run of node numbers in kids[],
 * and all string, name and number bytes in one scratch buffer.  Objects are
 * sorted when they close, so that duplicates are found then and lookups can
 * bisect; om_canon_write() only walks.
 */

enum {
	F_MEMBER = 1,	/* the node is the value of an object member */
	F_KEY_ESC = 2,	/* its name holds bytes that must be escaped */
	F_VAL_ESC = 4	/* its string value holds bytes that must be escaped */
};

struct node {
	uint8_t type, flags;
	uint32_t pos;		/* a member's name in the input: for messages */
	uint32_t key, klen;	/* a member's name in scratch */
	uint32_t off, len;	/* string/number: scratch; container: kids[off..off+len) */
};

struct om_canon {
	struct node *nodes;
	uint32_t nnodes, capnodes;
	uint32_t *kids;
	size_t nkids, capkids;
	uint32_t *stack;	/* children of the open containers */
	size_t nstack, capstack;
	uint32_t *tmp;		/* the merge sort's copy of a left half */
	size_t captmp;
	char *scratch;
	size_t slen, scap;
};

struct parser {
	struct om_canon *c;
	const unsigned char *start, *p, *end;
	struct om_err *err;
	int depth;
};

struct om_canon *om_canon_new(struct om_err *err)
{
	struct om_canon *c = calloc(1, sizeof *c);

	if (!c)
		om_err_set(err, "out of memory");
	return c;
}

void om_canon_free(struct om_canon *c)
{
	if (!c)
		return;
	free(c->nodes);
	free(c->kids);
	free(c->stack);
	free(c->tmp);
	if (c->scratch)
		sodium_memzero(c->scratch, c->scap); /* strings, secret values among them */
	free(c->scratch);
	free(c);
}

/* ---- parsing ---- */

static int fail(struct parser *P, const unsigned char *at, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *P, const unsigned char *at, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof why, fmt, ap);
	va_end(ap);
	om_err_set(P->err, "invalid JSON at byte %zu: %s", (size_t)(at - P->start), why);
	return -1;
}

static int fail_oom(struct parser *P)
{
	om_err_set(P->err, "out of memory");
	return -1;
}

/* "expected X, found Y", or end of input when that is what was found. */
static int fail_expect(struct parser *P, const char *what)
{
	const unsigned char *at = P->p;

	if (at == P->end)
		return fail(P, at, "unexpected end of input");
	if (*at > 0x20 && *at < 0x7f)
		return fail(P, at, "expected %s, found '%c'", what, *at);
	return fail(P, at, "expected %s, found byte 0x%02x", what, *at);
}

/*
 * The length of the UTF-8 sequence at p (2 to 4) when it is a valid
 * non-ASCII one, else 0: no overlongs, no surrogates, nothing past U+10FFFF
 * (the table of RFC 3629, section 4).
 */
static inline int utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned char b = p[0], lo = 0x80, hi = 0xbf;
	int n;

	if (b >= 0xc2 && b <= 0xdf)
		n = 2;
	else if (b >= 0xe0 && b <= 0xef) {
		n = 3;
		if (b == 0xe0)
			lo = 0xa0;
		else if (b == 0xed)
			hi = 0x9f;
	} else if (b >= 0xf0 && b <= 0xf4) {
		n = 4;
		if (b == 0xf0)
			lo = 0x90;
		else if (b == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (end - p < n || p[1] < lo || p[1] > hi)
		return 0;
	for (int i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

size_t om_utf8_len(const char *p, size_t n)
{
	const unsigned char *u = (const unsigned char *)p;

	if (!n)
		return 0;
	return u[0] < 0x80 ? 1 : (size_t)utf8_seq(u, u + n);
}

static inline int hexval(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch |= 0x20;
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

/* Four hex digits at p as a code unit, or -1. */
static inline long hex4(const unsigned char *p, const unsigned char *end)
{
	long v = 0;

	if (end - p < 4)
		return -1;
	for (int i = 0; i < 4; i++) {
		int h = hexval(p[i]);
		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/*
 * Bit 7 of each byte of the result is set at the first byte of w (in memory
 * order, on a little-endian machine) that is '"', '\\', below 0x20 or, with
 * ascii set, above 0x7f; bits above the first may be spurious.  Eight bytes
 * at a time for the long plain runs of scripts and messages.
 */
static inline uint64_t special(uint64_t w, int ascii)
{
	uint64_t q = w ^ (ONES * '"'), b = w ^ (ONES * '\\');
	uint64_t m = ((q - ONES) & ~q) | ((b - ONES) & ~b) | ((w - ONES * 0x20) & ~w);

	if (ascii)
		m |= w;
	return m & HIGHS;
}

#if defined(__GNUC__) && defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define FIRST_SPECIAL(m) ((size_t)__builtin_ctzll(m) / 8)
#else
#define FIRST_SPECIAL(m) ((size_t)0)
#endif

/*
 * The string at P->p (its opening quote), unescaped into scratch; its place
 * there in *off and *len, and in *esc whether it holds bytes that the
 * writer must escape.  The scratch has room: unescaping never lengthens.
 */
static int parse_string(struct parser *P, uint32_t *off, uint32_t *len, int *esc)
{
	struct om_canon *c = P->c;
	const unsigned char *p = P->p + 1, *end = P->end;
	char *d0 = c->scratch + c->slen, *d = d0;
	int e = 0;

	for (;;) {
		while (end - p >= 8) {
			uint64_t w, m;
			memcpy(&w, p, 8);
			memcpy(d, &w, 8);
			m = special(w, 1);
			if (m) {
				size_t k = FIRST_SPECIAL(m);
				p += k;
				d += k;
				break;
			}
			p += 8;
			d += 8;
		}
		if (p == end) {
			P->p = p;
			return fail(P, p, "unexpected end of input in string");
		}
		unsigned char ch = *p;
		if (ch == '"')
			break;
		if (ch >= 0x20 && ch < 0x80 && ch != '\\') {
			*d++ = (char)ch;
			p++;
		} else if (ch >= 0x80) {
			int n = utf8_seq(p, end);
			if (!n)
				return fail(P, p, "invalid UTF-8");
			memcpy(d, p, (size_t)n);
			d += n;
			p += n;
		} else if (ch < 0x20) {
			return fail(P, p, "control character in string");
		} else {
			const unsigned char *bs = p++;
			if (p == end)
				return fail(P, p, "unexpected end of input in string");
			switch (*p++) {
			case '"': *d++ = '"'; e = 1; break;
			case '\\': *d++ = '\\'; e = 1; break;
			case '/': *d++ = '/'; break;
			case 'b': *d++ = '\b'; e = 1; break;
			case 'f': *d++ = '\f'; e = 1; break;
			case 'n': *d++ = '\n'; e = 1; break;
			case 'r': *d++ = '\r'; e = 1; break;
			case 't': *d++ = '\t'; e = 1; break;
			case 'u': {
				long u = hex4(p, end);
				if (u < 0)
					return fail(P, bs, "invalid \\u escape");
				p += 4;
				if (u >= 0xdc00 && u <= 0xdfff)
					return fail(P, bs, "lone surrogate \\u%04lx", u);
				if (u >= 0xd800 && u <= 0xdbff) {
					long lo = -1;
					if (end - p >= 6 && p[0] == '\\' && p[1] == 'u')
						lo = hex4(p + 2, end);
					if (lo < 0xdc00 || lo > 0xdfff)
						return fail(P, bs, "lone surrogate \\u%04lx", u);
					p += 6;
					u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
				}
				if (u < 0x20 || u == '"' || u == '\\')
					e = 1;
				if (u < 0x80) {
					*d++ = (char)u;
				} else if (u < 0x800) {
					*d++ = (char)(0xc0 | u >> 6);
					*d++ = (char)(0x80 | (u & 0x3f));
				} else if (u < 0x10000) {
					*d++ = (char)(0xe0 | u >> 12);
					*d++ = (char)(0x80 | (u >> 6 & 0x3f));
					*d++ = (char)(0x80 | (u & 0x3f));
				} else {
					*d++ = (char)(0xf0 | u >> 18);
					*d++ = (char)(0x80 | (u >> 12 & 0x3f));
					*d++ = (char)(0x80 | (u >> 6 & 0x3f));
					*d++ = (char)(0x80 | (u & 0x3f));
				}
				break;
			}
			default:
				return fail(P, bs, "invalid escape");
			}
		}
	}
	P->p = p + 1;
	*off = (uint32_t)c->slen;
	*len = (uint32_t)(d - d0);
	*esc = e;
	c->slen += (size_t)(d - d0);
	return 0;
}

static inline int is_digit(const unsigned char *p, const unsigned char *end)
{
	return p < end && *p >= '0' && *p <= '9';
}

/* Check a number's grammar and copy its text, unchanged, into scratch. */
static int parse_number(struct parser *P, uint32_t *off, uint32_t *len)
{
	const unsigned char *s = P->p, *p = s, *end = P->end;
	struct om_canon *c = P->c;

	if (*p == '-')
		p++;
	if (!is_digit(p, end))
		return fail(P, p, p == end ? "unexpected end of input in number"
				: "invalid number");
	if (*p == '0') {
		p++;
		if (is_digit(p, end))
			return fail(P, p, "invalid number: leading zero");
	} else {
		while (is_digit(p, end))
			p++;
	}
	if (p < end && *p == '.') {
		p++;
		if (!is_digit(p, end))
			return fail(P, p, "invalid number: no digit after the decimal point");
		while (is_digit(p, end))
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (!is_digit(p, end))
			return fail(P, p, "invalid number: no digit in the exponent");
		while (is_digit(p, end))
			p++;
	}
	memcpy(c->scratch + c->slen, s, (size_t)(p - s));
	*off = (uint32_t)c->slen;
	*len = (uint32_t)(p - s);
	c->slen += (size_t)(p - s);
	P->p = p;
	return 0;
}

static inline void skip_ws(struct parser *P)
{
	const unsigned char *p = P->p, *end = P->end;

	while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++;
	P->p = p;
}

static inline uint32_t new_node(struct om_canon *c, int type)
{
	if (c->nnodes == c->capnodes) {
		size_t cap = c->capnodes;
		if (om_array_grow(&c->nodes, &cap, c->nnodes, 1, sizeof *c->nodes) < 0 ||
		    cap > UINT32_MAX - 1)
			return OM_CANON_NONE;
		c->capnodes = (uint32_t)cap;
	}
	struct node *n = &c->nodes[c->nnodes];
	n->type = (uint8_t)type;
	n->flags = 0;
	n->pos = n->key = n->klen = n->off = n->len = 0;
	return c->nnodes++;
}

static inline int push(struct om_canon *c, uint32_t n)
{
	if (c->nstack == c->capstack &&
	    om_array_grow(&c->stack, &c->capstack, c->nstack, 1, sizeof *c->stack) < 0)
		return -1;
	c->stack[c->nstack++] = n;
	return 0;
}

/* memcmp order of the unescaped names, a name before its extensions. */
static inline int key_cmp(const struct om_canon *c, uint32_t a, uint32_t b)
{
	const struct node *x = &c->nodes[a], *y = &c->nodes[b];
	uint32_t n = x->klen < y->klen ? x->klen : y->klen;
	int r = memcmp(c->scratch + x->key, c->scratch + y->key, n);

	if (r)
		return r;
	return (x->klen > y->klen) - (x->klen < y->klen);
}

static void insertion_sort(const struct om_canon *c, uint32_t *v, size_t n)
{
	for (size_t i = 1; i < n; i++) {
		uint32_t x = v[i];
		size_t j = i;
		while (j > 0 && key_cmp(c, v[j - 1], x) > 0) {
			v[j] = v[j - 1];
			j--;
		}
		v[j] = x;
	}
}

/*
 * A stable sort of the members v[0..n) by name: insertion sort for the small
 * objects that are most of a document, a merge through c->tmp above that.
 */
static void sort_members(struct om_canon *c, uint32_t *v, size_t n)
{
	if (n <= 16) {
		insertion_sort(c, v, n);
		return;
	}
	size_t h = n / 2;
	sort_members(c, v, h);
	sort_members(c, v + h, n - h);
	if (key_cmp(c, v[h - 1], v[h]) <= 0)
		return;
	uint32_t *t = c->tmp;	/* room for n / 2: see close_container() */
	memcpy(t, v, h * sizeof *v);
	size_t i = 0, j = h, k = 0;
	while (i < h && j < n)
		v[k++] = key_cmp(c, v[j], t[i]) < 0 ? v[j++] : t[i++];
	while (i < h)
		v[k++] = t[i++];
}

/* Move the children of a closing container from the stack to kids[]. */
static int close_container(struct parser *P, uint32_t idx, size_t base, int object)
{
	struct om_canon *c = P->c;
	size_t n = c->nstack - base;

	if (om_array_grow(&c->kids, &c->capkids, c->nkids, n, sizeof *c->kids) < 0)
		return fail_oom(P);
	uint32_t *v = c->kids + c->nkids;
	memcpy(v, c->stack + base, n * sizeof *v);
	c->nodes[idx].off = (uint32_t)c->nkids;
	c->nodes[idx].len = (uint32_t)n;
	c->nkids += n;
	c->nstack = base;
	if (!object || n < 2)
		return 0;
	if (n > 16 && om_array_grow(&c->tmp, &c->captmp, 0, n / 2, sizeof *c->tmp) < 0)
		return fail_oom(P);
	sort_members(c, v, n);
	/* Of several duplicates, name the one that comes first in the input. */
	uint32_t dup = UINT32_MAX, name = 0;
	for (size_t i = 1; i < n; i++) {
		if (key_cmp(c, v[i - 1], v[i]) != 0)
			continue;
		const struct node *a = &c->nodes[v[i - 1]], *b = &c->nodes[v[i]];
		uint32_t at = a->pos > b->pos ? a->pos : b->pos;
		if (at < dup) {
			dup = at;
			name = v[i];
		}
	}
	if (dup == UINT32_MAX)
		return 0;
	const struct node *d = &c->nodes[name];
	const unsigned char *k = (const unsigned char *)c->scratch + d->key;
	int plain = d->klen <= 64;
	for (uint32_t i = 0; plain && i < d->klen; i++)
		plain = k[i] >= 0x20 && k[i] < 0x7f && k[i] != '"' && k[i] != '\\';
	if (plain)
		return fail(P, P->start + dup, "duplicate member name \"%.*s\"",
			    (int)d->klen, (const char *)k);
	return fail(P, P->start + dup, "duplicate member name");
}

static int parse_value(struct parser *P, uint32_t *out);

static int parse_container(struct parser *P, uint32_t idx, int object)
{
	struct om_canon *c = P->c;
	size_t base = c->nstack;
	unsigned char close = object ? '}' : ']';

	if (++P->depth > OM_CANON_MAX_DEPTH)
		return fail(P, P->p, "nesting deeper than %d levels", OM_CANON_MAX_DEPTH);
	P->p++;
	skip_ws(P);
	if (P->p < P->end && *P->p == close) {
		P->p++;
		P->depth--;
		return 0;
	}
	for (;;) {
		uint32_t koff = 0, klen = 0, kid, pos = 0;
		int kesc = 0;
		if (object) {
			skip_ws(P);
			if (P->p == P->end || *P->p != '"')
				return fail_expect(P, "a member name");
			pos = (uint32_t)(P->p - P->start);
			if (parse_string(P, &koff, &klen, &kesc) < 0)
				return -1;
			skip_ws(P);
			if (P->p == P->end || *P->p != ':')
				return fail_expect(P, "':' after the member name");
			P->p++;
		}
		if (parse_value(P, &kid) < 0)
			return -1;
		if (object) {
			struct node *k = &c->nodes[kid];
			k->flags |= (uint8_t)(F_MEMBER | (kesc ? F_KEY_ESC : 0));
			k->key = koff;
			k->klen = klen;
			k->pos = pos;
		}
		if (push(c, kid) < 0)
			return fail_oom(P);
		skip_ws(P);
		if (P->p < P->end && *P->p == ',') {
			P->p++;
			continue;
		}
		if (P->p < P->end && *P->p == close) {
			P->p++;
			break;
		}
		return fail_expect(P, object ? "',' or '}'" : "',' or ']'");
	}
	P->depth--;
	return close_container(P, idx, base, object);
}

static int parse_literal(struct parser *P, const char *word, size_t n)
{
	if ((size_t)(P->end - P->p) < n || memcmp(P->p, word, n) != 0) {
		size_t i = 0;
		while (P->p + i < P->end && i < n && P->p[i] == (unsigned char)word[i])
			i++;
		if (P->p + i == P->end)
			return fail(P, P->p + i, "unexpected end of input");
		return fail(P, P->p, "invalid literal");
	}
	P->p += n;
	return 0;
}

static int parse_value(struct parser *P, uint32_t *out)
{
	struct om_canon *c = P->c;
	uint32_t idx, off, len;
	int esc;

	skip_ws(P);
	if (P->p == P->end)
		return fail(P, P->p, "unexpected end of input");
	switch (*P->p) {
	case '{':
	case '[':
		if ((idx = new_node(c, *P->p == '{' ? OM_CANON_OBJECT : OM_CANON_ARRAY)) ==
		    OM_CANON_NONE)
			return fail_oom(P);
		*out = idx;
		return parse_container(P, idx, *P->p == '{');
	case '"':
		if (parse_string(P, &off, &len, &esc) < 0)
			return -1;
		if ((idx = new_node(c, OM_CANON_STRING)) == OM_CANON_NONE)
			return fail_oom(P);
		c->nodes[idx].off = off;
		c->nodes[idx].len = len;
		c->nodes[idx].flags = esc ? F_VAL_ESC : 0;
		break;
	case 't':
		if (parse_literal(P, "true", 4) < 0)
			return -1;
		idx = new_node(c, OM_CANON_TRUE);
		break;
	case 'f':
		if (parse_literal(P, "false", 5) < 0)
			return -1;
		idx = new_node(c, OM_CANON_FALSE);
		break;
	case 'n':
		if (parse_literal(P, "null", 4) < 0)
			return -1;
		idx = new_node(c, OM_CANON_NULL);
		break;
	case '-': case '0': case '1': case '2': case '3': case '4':
	case '5': case '6': case '7': case '8': case '9':
		if (parse_number(P, &off, &len) < 0)
			return -1;
		if ((idx = new_node(c, OM_CANON_NUMBER)) == OM_CANON_NONE)
			return fail_oom(P);
		c->nodes[idx].off = off;
		c->nodes[idx].len = len;
		break;
	default:
		return fail_expect(P, "a value");
	}
	if (idx == OM_CANON_NONE)
		return fail_oom(P);
	*out = idx;
	return 0;
}

int om_canon_parse(struct om_canon *c, const char *text, size_t len, struct om_err *err)
{
	struct parser P = {c, (const unsigned char *)text, (const unsigned char *)text,
			   (const unsigned char *)text + len, err, 0};
	uint32_t root;

	c->nnodes = 0;
	c->nkids = c->nstack = c->slen = 0;
	/* uint32_t offsets: jsonb values are at most 1 GB anyway. */
	if (len > UINT32_MAX - 64) {
		om_err_set(err, "invalid JSON: document too large (%zu bytes)", len);
		return -1;
	}
	if (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0)
		return fail(&P, P.p, "byte order mark");
	/* Every string, name and number fits in len bytes, plus the 8 that
	 * the word-at-a-time copy may write past the end. */
	if (om_array_grow_wipe(&c->scratch, &c->scap, 0, len + 8, 1) < 0)
		return fail_oom(&P);
	if (parse_value(&P, &root) < 0)
		goto bad;
	skip_ws(&P);
	if (P.p != P.end) {
		fail_expect(&P, "end of input after the value");
		goto bad;
	}
	return 0;
bad:
	c->nnodes = 0;
	return -1;
}

/* ---- tree access ---- */

static inline const struct node *node_of(const struct om_canon *c, om_canon_node n)
{
	return n < c->nnodes ? &c->nodes[n] : NULL;
}

om_canon_node om_canon_root(const struct om_canon *c)
{
	return c->nnodes ? 0 : OM_CANON_NONE;
}

enum om_canon_type om_canon_type(const struct om_canon *c, om_canon_node n)
{
	const struct node *x = node_of(c, n);

	return x ? (enum om_canon_type)x->type : OM_CANON_ABSENT;
}

size_t om_canon_len(const struct om_canon *c, om_canon_node n)
{
	const struct node *x = node_of(c, n);

	if (!x || (x->type != OM_CANON_ARRAY && x->type != OM_CANON_OBJECT))
		return 0;
	return x->len;
}

om_canon_node om_canon_at(const struct om_canon *c, om_canon_node n, size_t i)
{
	if (i >= om_canon_len(c, n))
		return OM_CANON_NONE;
	return c->kids[c->nodes[n].off + i];
}

/* The index of member name among obj's sorted members, or -1. */
static long find_member(const struct om_canon *c, const struct node *obj,
			const char *name, size_t len)
{
	const uint32_t *v = c->kids + obj->off;
	size_t lo = 0, hi = obj->len;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct node *m = &c->nodes[v[mid]];
		size_t n = m->klen < len ? m->klen : len;
		int r = memcmp(c->scratch + m->key, name, n);
		if (!r)
			r = (m->klen > len) - (m->klen < len);
		if (!r)
			return (long)mid;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

om_canon_node om_canon_getn(const struct om_canon *c, om_canon_node obj,
			    const char *name, size_t len)
{
	const struct node *x = node_of(c, obj);

	if (!x || x->type != OM_CANON_OBJECT)
		return OM_CANON_NONE;
	long i = find_member(c, x, name, len);
	return i < 0 ? OM_CANON_NONE : c->kids[x->off + (size_t)i];
}

om_canon_node om_canon_get(const struct om_canon *c, om_canon_node obj, const char *name)
{
	return om_canon_getn(c, obj, name, strlen(name));
}

const char *om_canon_key(const struct om_canon *c, om_canon_node n, size_t *len)
{
	const struct node *x = node_of(c, n);

	if (!x || !(x->flags & F_MEMBER))
		return NULL;
	*len = x->klen;
	return c->scratch + x->key;
}

const char *om_canon_str(const struct om_canon *c, om_canon_node n, size_t *len)
{
	const struct node *x = node_of(c, n);

	if (!x || (x->type != OM_CANON_STRING && x->type != OM_CANON_NUMBER))
		return NULL;
	*len = x->len;
	return c->scratch + x->off;
}

/* Is the number text s[0..n) one that a double or an int64_t holds as
 * it is read (no overflow)?  The grammar was checked by the parser. */
static int plain_number(const char *s, size_t n)
{
	const char *e = memchr(s, 'e', n);
	int real = memchr(s, '.', n) != NULL;

	if (!e)
		e = memchr(s, 'E', n);
	if (!real && !e)
		return n - (s[0] == '-') <= 18;
	if (n > 24)
		return 0;
	if (e) {
		const char *p = e + 1, *end = s + n;
		long x = 0;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		/* Stop as soon as the exponent is out of range: 19 digits
		 * would overflow x. */
		for (; p < end; p++) {
			x = x * 10 + (*p - '0');
			if (x > 280)
				return 0;
		}
	}
	return 1;
}

int om_canon_plain(const struct om_canon *c)
{
	for (uint32_t i = 0; i < c->nnodes; i++) {
		const struct node *x = &c->nodes[i];
		if ((x->flags & F_MEMBER) && memchr(c->scratch + x->key, 0, x->klen))
			return 0;
		if (x->type == OM_CANON_STRING && memchr(c->scratch + x->off, 0, x->len))
			return 0;
		if (x->type == OM_CANON_NUMBER && !plain_number(c->scratch + x->off, x->len))
			return 0;
	}
	return c->nnodes != 0;
}

static om_canon_node find_prefix(const struct om_canon *c, om_canon_node n, const char *prefix,
				 size_t plen, char *where, size_t size, size_t at)
{
	enum om_canon_type t = om_canon_type(c, n);
	size_t len = 0;

	if (t == OM_CANON_STRING) {
		const char *s = om_canon_str(c, n, &len);
		return s && len >= plen && memcmp(s, prefix, plen) == 0 ? n : OM_CANON_NONE;
	}
	if (t != OM_CANON_ARRAY && t != OM_CANON_OBJECT)
		return OM_CANON_NONE;
	for (size_t i = 0; i < om_canon_len(c, n); i++) {
		om_canon_node m = om_canon_at(c, n, i), hit;
		int k;
		if (t == OM_CANON_OBJECT) {
			const char *key = om_canon_key(c, m, &len);
			if (!key)
				key = "", len = 0;
			k = snprintf(where + at, size - at, "%s%.*s", at ? "/" : "",
				     len > INT_MAX ? INT_MAX : (int)len, key);
		} else {
			k = snprintf(where + at, size - at, "[%zu]", i);
		}
		hit = find_prefix(c, m, prefix, plen, where, size,
				  k < 0 || (size_t)k >= size - at ? size - 1 : at + (size_t)k);
		if (hit != OM_CANON_NONE)
			return hit;
		where[at] = 0;
	}
	return OM_CANON_NONE;
}

om_canon_node om_canon_find_prefix(const struct om_canon *c, const char *prefix, char *where,
				   size_t size)
{
	om_canon_node root = om_canon_root(c);

	if (size == 0)
		return OM_CANON_NONE;
	where[0] = 0;
	return root == OM_CANON_NONE ? root
				     : find_prefix(c, root, prefix, strlen(prefix), where, size, 0);
}

int om_canon_drop(struct om_canon *c, om_canon_node obj, const char *name)
{
	const struct node *x = node_of(c, obj);

	if (!x || x->type != OM_CANON_OBJECT)
		return 0;
	long i = find_member(c, x, name, strlen(name));
	if (i < 0)
		return 0;
	uint32_t *v = c->kids + x->off;
	memmove(v + i, v + i + 1, (x->len - (size_t)i - 1) * sizeof *v);
	c->nodes[obj].len--;
	return 1;
}

int om_canon_set_str(struct om_canon *c, om_canon_node n, const char *s, size_t len,
		     struct om_err *err)
{
	const unsigned char *u = (const unsigned char *)s;
	int esc = 0;

	if (!node_of(c, n)) {
		om_err_set(err, "no such JSON node");
		return -1;
	}
	for (size_t i = 0; i < len;) {
		if (u[i] < 0x80) {
			esc |= u[i] < 0x20 || u[i] == '"' || u[i] == '\\';
			i++;
		} else {
			int k = utf8_seq(u + i, u + len);
			if (!k) {
				om_err_set(err, "invalid UTF-8 at byte %zu of a replacement string", i);
				return -1;
			}
			i += (size_t)k;
		}
	}
	if (len > UINT32_MAX - 64 - c->slen) {
		om_err_set(err, "replacement string too large");
		return -1;
	}
	/* s may point into the scratch itself (another node's value). */
	int inside = s >= c->scratch && s < c->scratch + c->slen;
	size_t from = inside ? (size_t)(s - c->scratch) : 0;
	if (om_array_grow_wipe(&c->scratch, &c->scap, c->slen, len + 8, 1) < 0) {
		om_err_set(err, "out of memory");
		return -1;
	}
	memcpy(c->scratch + c->slen, inside ? c->scratch + from : s, len);
	struct node *x = &c->nodes[n];
	x->type = OM_CANON_STRING;
	x->off = (uint32_t)c->slen;
	x->len = (uint32_t)len;
	x->flags = (uint8_t)((x->flags & ~F_VAL_ESC) | (esc ? F_VAL_ESC : 0));
	c->slen += len;
	return 0;
}

/* ---- writing ---- */

struct writer {
	const struct om_canon *c;
	struct om_buf *out;
	int compact;	/* no newlines, indents or spaces */
};

static inline int room(struct om_buf *b, size_t n)
{
	if (b->cap - b->len >= n)
		return 0;
	return om_array_grow_wipe(&b->p, &b->cap, b->len, n, 1);
}

/* A string with minimal escaping; room for it was made by the caller. */
static void put_escaped(char *d0, size_t *pos, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	char *d = d0 + *pos;

	*d++ = '"';
	while (p < end) {
		while (end - p >= 8) {
			uint64_t w, m;
			memcpy(&w, p, 8);
			m = special(w, 0);
			if (m) {
				size_t k = FIRST_SPECIAL(m);
				memcpy(d, p, k);
				p += k;
				d += k;
				break;
			}
			memcpy(d, &w, 8);
			p += 8;
			d += 8;
		}
		if (p == end)
			break;
		unsigned char ch = *p++;
		if (ch >= 0x20 && ch != '"' && ch != '\\') {
			*d++ = (char)ch;
			continue;
		}
		*d++ = '\\';
		switch (ch) {
		case '"': *d++ = '"'; break;
		case '\\': *d++ = '\\'; break;
		case '\b': *d++ = 'b'; break;
		case '\f': *d++ = 'f'; break;
		case '\n': *d++ = 'n'; break;
		case '\r': *d++ = 'r'; break;
		case '\t': *d++ = 't'; break;
		default:
			memcpy(d, "u00", 3);
			d[3] = hex[ch >> 4];
			d[4] = hex[ch & 15];
			d += 5;
		}
	}
	*d++ = '"';
	*pos = (size_t)(d - d0);
}

static int put_string(struct om_buf *b, const char *s, size_t n, int esc)
{
	/* Worst case \u00xx: six bytes for one. */
	if (room(b, (esc ? 6 * n : n) + 2) < 0)
		return -1;
	if (esc) {
		put_escaped(b->p, &b->len, s, n);
	} else {
		b->p[b->len] = '"';
		memcpy(b->p + b->len + 1, s, n);
		b->p[b->len + n + 1] = '"';
		b->len += n + 2;
	}
	return 0;
}

static int write_value(struct writer *W, uint32_t idx, int depth)
{
	const struct om_canon *c = W->c;
	const struct node *x = &c->nodes[idx];
	struct om_buf *b = W->out;

	switch (x->type) {
	case OM_CANON_NULL:
	case OM_CANON_TRUE:
	case OM_CANON_FALSE: {
		static const char *const words[] = {
			[OM_CANON_NULL] = "null", [OM_CANON_TRUE] = "true", [OM_CANON_FALSE] = "false"};
		size_t n = x->type == OM_CANON_FALSE ? 5 : 4;
		if (room(b, n) < 0)
			return -1;
		memcpy(b->p + b->len, words[x->type], n);
		b->len += n;
		return 0;
	}
	case OM_CANON_NUMBER:
		if (room(b, x->len) < 0)
			return -1;
		memcpy(b->p + b->len, c->scratch + x->off, x->len);
		b->len += x->len;
		return 0;
	case OM_CANON_STRING:
		return put_string(b, c->scratch + x->off, x->len, x->flags & F_VAL_ESC);
	default:
		break;
	}
	int object = x->type == OM_CANON_OBJECT;
	uint32_t n = x->len, off = x->off;
	size_t ind = 2 * (size_t)depth + 2;	/* the children's indent */
	if (room(b, 2) < 0)
		return -1;
	b->p[b->len++] = object ? '{' : '[';
	for (uint32_t i = 0; i < n; i++) {
		uint32_t k = c->kids[off + i];
		/* ",\n", the indent, ": " */
		if (room(b, ind + 4) < 0)
			return -1;
		if (i)
			b->p[b->len++] = ',';
		if (!W->compact) {
			b->p[b->len++] = '\n';
			memset(b->p + b->len, ' ', ind);
			b->len += ind;
		}
		if (object) {
			const struct node *m = &c->nodes[k];
			if (put_string(b, c->scratch + m->key, m->klen, m->flags & F_KEY_ESC) < 0 ||
			    room(b, 2) < 0)
				return -1;
			b->p[b->len++] = ':';
			if (!W->compact)
				b->p[b->len++] = ' ';
		}
		if (write_value(W, k, depth + 1) < 0)
			return -1;
	}
	if (room(b, ind + 2) < 0)
		return -1;
	if (n && !W->compact) {
		b->p[b->len++] = '\n';
		memset(b->p + b->len, ' ', ind - 2);
		b->len += ind - 2;
	}
	b->p[b->len++] = object ? '}' : ']';
	return 0;
}

int om_canon_write_compact(const struct om_canon *c, struct om_buf *out, struct om_err *err)
{
	struct writer W = {c, out, 1};
	size_t was = out->len;

	if (!c->nnodes) {
		om_err_set(err, "no JSON document to write");
		return -1;
	}
	if (write_value(&W, 0, 0) < 0) {
		out->len = was;
		om_err_set(err, "out of memory");
		return -1;
	}
	return 0;
}

int om_canon_write(const struct om_canon *c, struct om_buf *out, struct om_err *err)
{
	struct writer W = {c, out, 0};
	size_t was = out->len;

	if (!c->nnodes) {
		om_err_set(err, "no JSON document to write");
		return -1;
	}
	if (write_value(&W, 0, 0) < 0 || room(out, 1) < 0) {
		out->len = was;
		om_err_set(err, "out of memory");
		return -1;
	}
	out->p[out->len++] = '\n';
	return 0;
}
