/*
 * Unit tests of the canonical JSON parser and writer: the rules of
 * format/canon.h case by case, JSONTestSuite (found through $OM_TESTDATA,
 * else ../../../shared/testdata from this program), and random mutations
 * of its valid files.  The parsed values are compared with jansson's.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../format/canon.h"
#include "t.h"

static struct om_canon *C;
static const char *testdata;

/* The canonical text of in[0..len), or "error: " and the message. */
static const char *canonn(const char *in, size_t len)
{
	static struct om_buf out;
	struct om_err err;

	out.len = 0;
	if (om_canon_parse(C, in, len, &err) < 0 || om_canon_write(C, &out, &err) < 0) {
		static char msg[sizeof err.msg + 8];
		snprintf(msg, sizeof msg, "error: %s", err.msg);
		return msg;
	}
	/* A NUL-terminated copy for CHECK_STR. */
	static char *copy;
	char *q = realloc(copy, out.len + 1);
	if (!q)
		return "(out of memory)";
	copy = q;
	memcpy(copy, out.p, out.len);
	copy[out.len] = 0;
	return copy;
}

static const char *canon(const char *in)
{
	return canonn(in, strlen(in));
}

/* Does in[0..len) parse? */
static int accepts(const char *in, size_t len)
{
	return om_canon_parse(C, in, len, NULL) == 0;
}

static void test_layout(void)
{
	CHECK_STR(canon("1"), "1\n");
	CHECK_STR(canon(" \t\r\n\"x\" \n"), "\"x\"\n");
	CHECK_STR(canon("null"), "null\n");
	CHECK_STR(canon("[true,false,null]"), "[\n  true,\n  false,\n  null\n]\n");
	CHECK_STR(canon("{}"), "{}\n");
	CHECK_STR(canon("[ ]"), "[]\n");
	CHECK_STR(canon("{\"a\":{},\"b\":[],\"c\":[{}],\"d\":{\"e\":[[]]}}"),
		  "{\n"
		  "  \"a\": {},\n"
		  "  \"b\": [],\n"
		  "  \"c\": [\n"
		  "    {}\n"
		  "  ],\n"
		  "  \"d\": {\n"
		  "    \"e\": [\n"
		  "      []\n"
		  "    ]\n"
		  "  }\n"
		  "}\n");
	/* jsonb::text's own spacing is taken as well. */
	CHECK_STR(canon("{\"Id\": \"P-1\", \"Steps\": [{\"Name\": \"a\"}, 2]}"),
		  "{\n  \"Id\": \"P-1\",\n  \"Steps\": [\n    {\n      \"Name\": \"a\"\n    },\n"
		  "    2\n  ]\n}\n");
}

static void test_sorting(void)
{
	/* Bytewise: upper case before lower case, a name before its extensions. */
	CHECK_STR(canon("{\"b\":1,\"a\":2,\"ab\":3,\"B\":4,\"\":5,\"a\\u0000\":6}"),
		  "{\n  \"\": 5,\n  \"B\": 4,\n  \"a\": 2,\n  \"a\\u0000\": 6,\n  \"ab\": 3,\n"
		  "  \"b\": 1\n}\n");
	/* Non-ASCII by its UTF-8 bytes: é (c3 a9) after z, € (e2 82 ac) after é,
	 * U+1F600 (f0 ...) last; escaped names sort by what they stand for. */
	CHECK_STR(canon("{\"\\ud83d\\ude00\":1,\"\\u20ac\":2,\"\xc3\xa9\":3,\"z\":4,\"Z\":5}"),
		  "{\n  \"Z\": 5,\n  \"z\": 4,\n  \"\xc3\xa9\": 3,\n  \"\xe2\x82\xac\": 2,\n"
		  "  \"\xf0\x9f\x98\x80\": 1\n}\n");
	/* Arrays keep their order. */
	CHECK_STR(canon("[3,1,2]"), "[\n  3,\n  1,\n  2\n]\n");
	/* More members than the insertion sort takes: the merge sort, in reverse. */
	char in[4096], want[4096];
	size_t n = 0, m = 0;
	n += (size_t)snprintf(in + n, sizeof in - n, "{");
	m += (size_t)snprintf(want + m, sizeof want - m, "{\n");
	for (int i = 99; i >= 0; i--)
		n += (size_t)snprintf(in + n, sizeof in - n, "%s\"k%02d\":%d", i < 99 ? "," : "", i, i);
	for (int i = 0; i < 100; i++)
		m += (size_t)snprintf(want + m, sizeof want - m, "  \"k%02d\": %d%s\n", i, i,
				      i < 99 ? "," : "");
	snprintf(in + n, sizeof in - n, "}");
	snprintf(want + m, sizeof want - m, "}\n");
	CHECK_STR(canon(in), want);
}

static void test_numbers(void)
{
	CHECK_STR(canon("123456789012345678901234567890"), "123456789012345678901234567890\n");
	CHECK_STR(canon("[-0,1.0,1e5,1E+5,-0.5e-3,0,-123456789012345678901234567890.5]"),
		  "[\n  -0,\n  1.0,\n  1e5,\n  1E+5,\n  -0.5e-3,\n  0,\n"
		  "  -123456789012345678901234567890.5\n]\n");
	CHECK_STR(canon("01"), "error: invalid JSON at byte 1: invalid number: leading zero");
	CHECK_STR(canon("[1.]"), "error: invalid JSON at byte 3: invalid number: no digit after the decimal point");
	CHECK_STR(canon("1e"), "error: invalid JSON at byte 2: invalid number: no digit in the exponent");
	CHECK_STR(canon("-"), "error: invalid JSON at byte 1: unexpected end of input in number");
	CHECK_STR(canon("-x"), "error: invalid JSON at byte 1: invalid number");
	CHECK_STR(canon("+1"), "error: invalid JSON at byte 0: expected a value, found '+'");
	CHECK_STR(canon(".5"), "error: invalid JSON at byte 0: expected a value, found '.'");
}

static void test_strings(void)
{
	/* Escapes that are needed stay, in their short form where there is one. */
	CHECK_STR(canon("\"\\\" \\\\ \\b \\f \\n \\r \\t\""), "\"\\\" \\\\ \\b \\f \\n \\r \\t\"\n");
	CHECK_STR(canon("\"\\u0008\\u000C\\u000a\\u0022\\u005C\""), "\"\\b\\f\\n\\\"\\\\\"\n");
	/* An escaped quote or backslash alone still needs its escape. */
	CHECK_STR(canon("\"a\\u0022b\""), "\"a\\\"b\"\n");
	CHECK_STR(canon("[\"\\u005C\"]"), "[\n  \"\\\\\"\n]\n");
	CHECK_STR(canon("\"\\u0000\\u0001\\u001F\\u001b\""), "\"\\u0000\\u0001\\u001f\\u001b\"\n");
	/* The others are decoded: '/', DEL, U+2028, U+2029, non-ASCII. */
	CHECK_STR(canon("\"\\/ / \\u007f \x7f \\u2028\\u2029 \\u00e9 \\u00E9 \\u20AC\""),
		  "\"/ / \x7f \x7f \xe2\x80\xa8\xe2\x80\xa9 \xc3\xa9 \xc3\xa9 \xe2\x82\xac\"\n");
	CHECK_STR(canon("\"\xe2\x80\xa8\xf4\x8f\xbf\xbf\""), "\"\xe2\x80\xa8\xf4\x8f\xbf\xbf\"\n");
	/* Surrogate pairs are combined, in either case of hex digit. */
	CHECK_STR(canon("\"\\ud83d\\ude00 \\uD834\\uDD1E \\udbff\\udfff\""),
		  "\"\xf0\x9f\x98\x80 \xf0\x9d\x84\x9e \xf4\x8f\xbf\xbf\"\n");
	/* Long strings take the word-at-a-time paths, escapes at every offset. */
	char in[300], want[400];
	for (int at = 0; at < 20; at++) {
		memset(in, 'x', sizeof in);
		memset(want, 'x', sizeof want);
		in[0] = want[0] = '"';
		memcpy(in + 1 + at, "\\n\\\"\\u0001\xc3\xa9", 12);
		memcpy(want + 1 + at, "\\n\\\"\\u0001\xc3\xa9", 12);
		strcpy(in + 40, "\"");
		strcpy(want + 40, "\"\n");
		CHECK_STR(canon(in), want);
	}
	/* A string holding NUL bytes and names that need escaping. */
	CHECK_STR(canon("{\"a\\\"\\u0000\":\"\\u0000x\"}"), "{\n  \"a\\\"\\u0000\": \"\\u0000x\"\n}\n");
}

static void test_rejects(void)
{
	static const struct {
		const char *in, *msg;
	} cases[] = {
		{"", "invalid JSON at byte 0: unexpected end of input"},
		{"   ", "invalid JSON at byte 3: unexpected end of input"},
		{"[1,2", "invalid JSON at byte 4: unexpected end of input"},
		{"[1,]", "invalid JSON at byte 3: expected a value, found ']'"},
		{"[1 2]", "invalid JSON at byte 3: expected ',' or ']', found '2'"},
		{"{\"a\" 1}", "invalid JSON at byte 5: expected ':' after the member name, found '1'"},
		{"{\"a\":1,}", "invalid JSON at byte 7: expected a member name, found '}'"},
		{"{'a':1}", "invalid JSON at byte 1: expected a member name, found '''"},
		{"{\"a\":1 \"b\":2}", "invalid JSON at byte 7: expected ',' or '}', found '\"'"},
		{"[1] x", "invalid JSON at byte 4: expected end of input after the value, found 'x'"},
		{"[1]]", "invalid JSON at byte 3: expected end of input after the value, found ']'"},
		{"{\"Id\": \"a\tb\"}", "invalid JSON at byte 9: control character in string"},
		{"\"abc", "invalid JSON at byte 4: unexpected end of input in string"},
		{"\"\\x\"", "invalid JSON at byte 1: invalid escape"},
		{"\"\\u12\"", "invalid JSON at byte 1: invalid \\u escape"},
		{"\"\\u12G4\"", "invalid JSON at byte 1: invalid \\u escape"},
		{"[\"\\ud800\"]", "invalid JSON at byte 2: lone surrogate \\ud800"},
		{"[\"\\udc00\\ud800\"]", "invalid JSON at byte 2: lone surrogate \\udc00"},
		{"[\"\\ud800\\u0041\"]", "invalid JSON at byte 2: lone surrogate \\ud800"},
		{"[\"\\ud800\\ud800\"]", "invalid JSON at byte 2: lone surrogate \\ud800"},
		{"[\"\\ud800\\n\"]", "invalid JSON at byte 2: lone surrogate \\ud800"},
		{"tru", "invalid JSON at byte 3: unexpected end of input"},
		{"trUe", "invalid JSON at byte 0: invalid literal"},
		{"True", "invalid JSON at byte 0: expected a value, found 'T'"},
		{"\xef\xbb\xbf{}", "invalid JSON at byte 0: byte order mark"},
		{"[\f]", "invalid JSON at byte 1: expected a value, found byte 0x0c"},
		{"{\"a\":1,\"b\":2,\"a\":3}", "invalid JSON at byte 13: duplicate member name \"a\""},
		/* Names compare unescaped. */
		{"{\"a\":1,\"\\u0061\":2}", "invalid JSON at byte 7: duplicate member name \"a\""},
		{"[{\"x\":{\"k\\n\":1,\"k\\u000a\":1}}]",
		 "invalid JSON at byte 15: duplicate member name"},
		/* Of two duplicates, the first in the input is named. */
		{"{\"b\":1,\"a\":1,\"b\":2,\"a\":2}", "invalid JSON at byte 13: duplicate member name \"b\""},
	};
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		char want[300];
		snprintf(want, sizeof want, "error: %s", cases[i].msg);
		CHECK_STR(canon(cases[i].in), want);
		CHECK(om_canon_root(C) == OM_CANON_NONE);
	}
	/* NUL inside the text is a byte like any other. */
	CHECK_STR(canonn("[1]\0", 4), "error: invalid JSON at byte 3: expected end of input after "
		  "the value, found byte 0x00");
	CHECK_STR(canonn("\"a\0\"", 4), "error: invalid JSON at byte 2: control character in string");
}

static void test_utf8(void)
{
	static const char *const bad[] = {
		"\xc0\x80",		/* overlong NUL */
		"\xc1\xbf",		/* overlong 2-byte */
		"\xe0\x80\xaf",		/* overlong 3-byte */
		"\xe0\x9f\xbf",
		"\xf0\x8f\xbf\xbf",	/* overlong 4-byte */
		"\xed\xa0\x80",		/* U+D800 encoded */
		"\xed\xbf\xbf",		/* U+DFFF encoded */
		"\xed\xa0\xbd\xed\xb8\x80", /* a surrogate pair, CESU-8 style */
		"\xf4\x90\x80\x80",	/* U+110000 */
		"\xf5\x80\x80\x80",
		"\xf8\x88\x80\x80\x80",
		"\xff",
		"\x80",			/* lone continuation */
		"\xe2\x82",		/* truncated, then the quote */
		"\xe2\x82x",
		"\xf0\x9f\x98",
		"\xc3",
	};
	char in[32];
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		int n = snprintf(in, sizeof in, "[\"ab%s\"]", bad[i]);
		CHECK_STR(canonn(in, (size_t)n), "error: invalid JSON at byte 4: invalid UTF-8");
	}
	/* The edges that are valid. */
	CHECK_STR(canon("\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
			"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\""),
		  "\"\xc2\x80\xdf\xbf\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf\xbf"
		  "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"\n");
	/* Outside strings, non-ASCII is just an unexpected byte. */
	CHECK_STR(canon("[\xc3\xa9]"), "error: invalid JSON at byte 1: expected a value, found byte 0xc3");
	CHECK_STR(canonn("{\"\xed\xa0\x80\":1}", 8), "error: invalid JSON at byte 2: invalid UTF-8");
}

static void test_depth(void)
{
	char in[6 * OM_CANON_MAX_DEPTH + 8];

	for (int depth = OM_CANON_MAX_DEPTH; depth <= OM_CANON_MAX_DEPTH + 1; depth++) {
		memset(in, '[', (size_t)depth);
		memset(in + depth, ']', (size_t)depth);
		int ok = om_canon_parse(C, in, 2 * (size_t)depth, NULL) == 0;
		CHECK(ok == (depth <= OM_CANON_MAX_DEPTH));
	}
	CHECK_STR(canonn(in, 2 * (OM_CANON_MAX_DEPTH + 1)),
		  "error: invalid JSON at byte 256: nesting deeper than 256 levels");
	/* Objects count too, and the limit holds at any width. */
	size_t n = 0;
	for (int i = 0; i < OM_CANON_MAX_DEPTH; i++)
		n += (size_t)snprintf(in + n, sizeof in - n, "%s", i % 2 ? "{\"a\":" : "[");
	CHECK(n < sizeof in);
	CHECK(!accepts(in, n));	/* unclosed, but within the limit: end of input */
	/* 100,000 opening brackets must not overflow the stack. */
	size_t big = 100000;
	char *deep = malloc(big);
	if (deep) {
		memset(deep, '[', big);
		CHECK_STR(canonn(deep, big), "error: invalid JSON at byte 256: nesting deeper than 256 levels");
		free(deep);
	}
}

static void test_tree(void)
{
	static const char doc[] = "{\"Name\":\"Acme\",\"Steps\":[{\"Id\":\"s1\"},{\"Id\":\"s2\"}],"
				  "\"N\":42,\"Z\":null,\"T\":true,\"F\":false,\"a\\u0000b\":\"x\\u0000y\"}";
	om_canon_node root, steps, s;
	const char *p;
	size_t len;

	CHECK(om_canon_parse(C, doc, sizeof doc - 1, NULL) == 0);
	root = om_canon_root(C);
	CHECK(root == 0);
	CHECK(om_canon_type(C, root) == OM_CANON_OBJECT);
	CHECK(om_canon_len(C, root) == 7);
	/* Members come in canonical order. */
	p = om_canon_key(C, om_canon_at(C, root, 0), &len);
	CHECK(p && len == 1 && memcmp(p, "F", 1) == 0);
	p = om_canon_key(C, om_canon_at(C, root, 6), &len);
	CHECK(p && len == 3 && memcmp(p, "a\0b", 3) == 0);
	CHECK(om_canon_at(C, root, 7) == OM_CANON_NONE);
	CHECK(om_canon_type(C, om_canon_get(C, root, "Z")) == OM_CANON_NULL);
	CHECK(om_canon_type(C, om_canon_get(C, root, "T")) == OM_CANON_TRUE);
	CHECK(om_canon_type(C, om_canon_get(C, root, "F")) == OM_CANON_FALSE);
	CHECK(om_canon_get(C, root, "Missing") == OM_CANON_NONE);
	CHECK(om_canon_get(C, root, "") == OM_CANON_NONE);
	CHECK(om_canon_get(C, root, "Nam") == OM_CANON_NONE);
	p = om_canon_str(C, om_canon_get(C, root, "Name"), &len);
	CHECK(p && len == 4 && memcmp(p, "Acme", 4) == 0);
	p = om_canon_str(C, om_canon_get(C, root, "N"), &len);
	CHECK(p && len == 2 && memcmp(p, "42", 2) == 0);
	p = om_canon_str(C, om_canon_getn(C, root, "a\0b", 3), &len);
	CHECK(p && len == 3 && memcmp(p, "x\0y", 3) == 0);
	steps = om_canon_get(C, root, "Steps");
	CHECK(om_canon_type(C, steps) == OM_CANON_ARRAY);
	CHECK(om_canon_len(C, steps) == 2);
	CHECK(om_canon_key(C, om_canon_at(C, steps, 0), &len) == NULL);
	s = om_canon_get(C, om_canon_at(C, steps, 1), "Id");
	p = om_canon_str(C, s, &len);
	CHECK(p && len == 2 && memcmp(p, "s2", 2) == 0);
	/* Wrong types and NONE give nothing, so that lookups chain. */
	CHECK(om_canon_get(C, steps, "Id") == OM_CANON_NONE);
	CHECK(om_canon_str(C, steps, &len) == NULL);
	CHECK(om_canon_key(C, root, &len) == NULL);
	CHECK(om_canon_len(C, s) == 0);
	CHECK(om_canon_type(C, OM_CANON_NONE) == OM_CANON_ABSENT);
	CHECK(om_canon_get(C, om_canon_get(C, root, "No"), "Id") == OM_CANON_NONE);
	CHECK(om_canon_at(C, OM_CANON_NONE, 0) == OM_CANON_NONE);
	/* Bisection in a large object. */
	char big[4096];
	size_t n = (size_t)snprintf(big, sizeof big, "{");
	for (int i = 0; i < 200; i++)
		n += (size_t)snprintf(big + n, sizeof big - n, "%s\"m%d\":%d", i ? "," : "", i, i);
	n += (size_t)snprintf(big + n, sizeof big - n, "}");
	CHECK(om_canon_parse(C, big, n, NULL) == 0);
	for (int i = 0; i < 200; i++) {
		char k[16], v[16];
		snprintf(k, sizeof k, "m%d", i);
		snprintf(v, sizeof v, "%d", i);
		p = om_canon_str(C, om_canon_get(C, om_canon_root(C), k), &len);
		CHECK(p && len == strlen(v) && memcmp(p, v, len) == 0);
	}
	CHECK(om_canon_get(C, om_canon_root(C), "m200") == OM_CANON_NONE);
}

static void test_drop_and_replace(void)
{
	static const char doc[] = "{\"Id\":\"P-1\",\"LastModifiedOn\":\"2024-01-01\","
				  "\"Value\":{\"SensitiveValue\":\"c2VjcmV0|aXY=\"},\"List\":[1]}";
	struct om_buf out = {0};
	struct om_err err;
	om_canon_node root, v;

	CHECK(om_canon_parse(C, doc, sizeof doc - 1, &err) == 0);
	root = om_canon_root(C);
	CHECK(om_canon_drop(C, root, "LastModifiedOn") == 1);
	CHECK(om_canon_drop(C, root, "LastModifiedOn") == 0);
	CHECK(om_canon_drop(C, root, "Nothing") == 0);
	CHECK(om_canon_drop(C, om_canon_get(C, root, "List"), "Id") == 0);
	CHECK(om_canon_len(C, root) == 3);
	v = om_canon_get(C, om_canon_get(C, root, "Value"), "SensitiveValue");
	/* The replacement needs escaping, and may come from the tree itself. */
	CHECK(om_canon_set_str(C, v, "om:secret:1\n\"", 13, &err) == 0);
	size_t len;
	const char *id = om_canon_str(C, om_canon_get(C, root, "Id"), &len);
	CHECK(om_canon_set_str(C, om_canon_get(C, root, "List"), id, len, &err) == 0);
	CHECK(om_canon_write(C, &out, &err) == 0);
	CHECK(out.len > 0);
	if (out.len > 0) {
		out.p[out.len - 1] = 0;
		CHECK_STR(out.p, "{\n  \"Id\": \"P-1\",\n  \"List\": \"P-1\",\n  \"Value\": {\n"
			  "    \"SensitiveValue\": \"om:secret:1\\n\\\"\"\n  }\n}");
	}
	/* Invalid UTF-8 is refused and changes nothing. */
	CHECK(om_canon_set_str(C, v, "a\xc0\x80", 3, &err) == -1);
	CHECK_STR(err.msg, "invalid UTF-8 at byte 1 of a replacement string");
	CHECK(om_canon_set_str(C, OM_CANON_NONE, "a", 1, &err) == -1);
	/* Write appends. */
	size_t was = out.len;
	CHECK(om_canon_write(C, &out, &err) == 0);
	CHECK(out.len == 2 * was);
	/* Nothing to write after a failed parse. */
	CHECK(om_canon_parse(C, "[", 1, &err) == -1);
	CHECK(om_canon_write(C, &out, &err) == -1);
	CHECK_STR(err.msg, "no JSON document to write");
	CHECK(out.len == 2 * was);
	om_buf_release(&out);
	CHECK(out.p == NULL && out.len == 0 && out.cap == 0);
}

/* canon(canon(x)) == canon(x), and x and canon(x) are the same JSON value to
 * jansson when jansson reads both.  Returns 1 when x was accepted. */
static int round_trip(const char *in, size_t len, const char *what)
{
	static struct om_buf a, b;
	struct om_err err;

	a.len = b.len = 0;
	if (om_canon_parse(C, in, len, &err) < 0) {
		if (strncmp(err.msg, "invalid JSON at byte ", 21) != 0) {
			fprintf(stderr, "  %s: unexpected message: %s\n", what, err.msg);
			t_failed = 1;
		}
		return 0;
	}
	if (om_canon_write(C, &a, &err) < 0 || om_canon_parse(C, a.p, a.len, &err) < 0 ||
	    om_canon_write(C, &b, &err) < 0) {
		fprintf(stderr, "  %s: canonical text does not parse again: %s\n", what, err.msg);
		t_failed = 1;
		return 1;
	}
	if (a.len != b.len || memcmp(a.p, b.p, a.len) != 0) {
		fprintf(stderr, "  %s: not idempotent\n", what);
		t_failed = 1;
	}
	json_t *x = json_loadb(in, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	json_t *y = json_loadb(a.p, a.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (x && y && !json_equal(x, y)) {
		fprintf(stderr, "  %s: the canonical text is another value\n", what);
		t_failed = 1;
	}
	if (!x != !y) {
		fprintf(stderr, "  %s: jansson reads only one of input and canonical text\n", what);
		t_failed = 1;
	}
	json_decref(x);
	json_decref(y);
	return 1;
}

static void test_idempotent(void)
{
	static const char *const docs[] = {
		"{\"b\":{\"d\":[1,{\"f\":\"\\u0001\",\"e\":\"\\ud83d\\ude00\"}],\"c\":\"\\/\"},\"a\":-0.0e-0}",
		"[[[[]]],{},[{}],\"\",0]",
		"\"\\u2028 \\\\ \\\" \\t\"",
	};
	for (size_t i = 0; i < sizeof docs / sizeof *docs; i++)
		CHECK(round_trip(docs[i], strlen(docs[i]), docs[i]) == 1);
}

/* ---- JSONTestSuite ---- */

struct file {
	char kind;	/* 'y', 'n', 'i' (JSONTestSuite) or 's' (a sample document) */
	char name[256];
	char *data;
	size_t len;
};

static struct file *files;
static size_t nfiles;
/* How many of them are JSONTestSuite's. */
static size_t nsuite;

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->name, ((const struct file *)b)->name);
}

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		if (n == cap) {
			char *q = realloc(p, cap = cap ? 2 * cap : 4096);
			if (!q) {
				free(p);
				fclose(f);
				return NULL;
			}
			p = q;
		}
		size_t r = fread(p + n, 1, cap - n, f);
		if (!r)
			break;
		n += r;
	}
	fclose(f);
	*len = n;
	return p;
}

/* Load dir's *.json files: JSONTestSuite's y_, n_ and i_, or with suite
 * unset all of them, as samples. */
static size_t load_dir(const char *dir, int suite)
{
	char path[4096];
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		return 0;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);
		if (l < 5 || l >= sizeof files->name || strcmp(e->d_name + l - 5, ".json") != 0)
			continue;
		if (suite && !(e->d_name[1] == '_' && strchr("yni", e->d_name[0])))
			continue;
		struct file *q = realloc(files, (nfiles + 1) * sizeof *files);
		if (!q)
			break;
		files = q;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		struct file *f = &files[nfiles];
		memcpy(f->name, e->d_name, l + 1);
		f->kind = suite ? e->d_name[0] : 's';
		if (!(f->data = slurp(path, &f->len)))
			continue;
		nfiles++;
		n++;
	}
	closedir(d);
	return n;
}

/* y_ files om refuses on purpose, and why. */
static const char *const y_refused[] = {
	"y_object_duplicated_key.json",			/* duplicate member names */
	"y_object_duplicated_key_and_value.json",	/* the same, even with equal values */
};

static int refused(const char *name)
{
	for (size_t i = 0; i < sizeof y_refused / sizeof *y_refused; i++)
		if (strcmp(name, y_refused[i]) == 0)
			return 1;
	return 0;
}

static void test_jsontestsuite(void)
{
	size_t ny = 0, nn = 0, ni = 0, nrefused = 0;

	if (!nsuite)
		SKIP("needs %s/jsontestsuite (third-party test data, not in the "
		     "repository; set OM_TESTDATA)", testdata);
	for (size_t i = 0; i < nfiles; i++) {
		const struct file *f = &files[i];
		int ok = accepts(f->data, f->len);
		switch (f->kind) {
		case 'y':
			ny++;
			if (refused(f->name)) {
				nrefused++;
				if (ok) {
					fprintf(stderr, "  %s: accepted, expected a duplicate\n", f->name);
					t_failed = 1;
				}
			} else if (!ok) {
				fprintf(stderr, "  %s: rejected\n", f->name);
				t_failed = 1;
			} else {
				round_trip(f->data, f->len, f->name);
			}
			break;
		case 'n':
			nn++;
			if (ok) {
				fprintf(stderr, "  %s: accepted\n", f->name);
				t_failed = 1;
			}
			round_trip(f->data, f->len, f->name);
			break;
		case 'i':
			ni++;
			/* om's choice: every number is kept as text, so accepted;
			 * every i_ string and structure is refused (invalid UTF-8,
			 * lone surrogates, UTF-16, a BOM, depth 500). */
			if (ok != (strncmp(f->name, "i_number_", 9) == 0)) {
				fprintf(stderr, "  %s: %s\n", f->name, ok ? "accepted" : "rejected");
				t_failed = 1;
			}
			round_trip(f->data, f->len, f->name);
			break;
		}
	}
	/* The whole suite must be there: 95 y_, 188 n_, 35 i_. */
	CHECK(ny == 95 && nn == 188 && ni == 35);
	CHECK(nrefused == sizeof y_refused / sizeof *y_refused);
}

/* ---- random mutations ---- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rnd(uint32_t n)
{
	/* xorshift64*: fixed seed, the same inputs on every run. */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32) % n;
}

static void test_mutations(void)
{
	static const unsigned char interesting[] = {
		'"', '\\', '{', '}', '[', ']', ',', ':', ' ', 'u', '0', '-', 'e', '.',
		0x00, 0x1f, 0x7f, 0x80, 0xbf, 0xc0, 0xc3, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xff};
	size_t seeds = 0, accepted = 0, runs = 5000;
	char *buf = NULL;
	size_t cap = 0;

	for (size_t i = 0; i < nfiles; i++)
		seeds += files[i].kind == 'y' || files[i].kind == 's';
	if (!seeds)
		SKIP("needs seed documents in %s/jsontestsuite or %s/octopus-export-2024.4 "
		     "(third-party test data, not in the repository; set OM_TESTDATA)",
		     testdata, testdata);
	for (size_t r = 0; r < runs; r++) {
		const struct file *f;
		do
			f = &files[rnd((uint32_t)nfiles)];
		while (f->kind != 'y' && f->kind != 's');
		size_t len = f->len;
		if (cap < len + 64) {
			char *q = realloc(buf, cap = len + 64);
			if (!q)
				break;
			buf = q;
		}
		memcpy(buf, f->data, len);
		for (uint32_t m = rnd(3) ? 1 : 2 + rnd(2); m > 0; m--) {
			uint32_t at = rnd((uint32_t)len + 1);
			unsigned char b = rnd(2) ? interesting[rnd(sizeof interesting)]
						 : (unsigned char)rnd(256);
			switch (rnd(5)) {
			case 0:	/* flip a bit */
				if (at < len)
					buf[at] ^= (char)(1u << rnd(8));
				break;
			case 1:	/* replace a byte */
				if (at < len)
					buf[at] = (char)b;
				break;
			case 2:	/* truncate */
				len = at;
				break;
			case 3:	/* insert a byte */
				if (len + 1 < cap) {
					memmove(buf + at + 1, buf + at, len - at);
					buf[at] = (char)b;
					len++;
				}
				break;
			case 4:	/* delete a byte */
				if (at < len) {
					memmove(buf + at, buf + at + 1, len - at - 1);
					len--;
				}
				break;
			}
		}
		char what[300];
		snprintf(what, sizeof what, "mutation %zu of %s", r, f->name);
		accepted += (size_t)round_trip(buf, len, what);
	}
	free(buf);
	/* Enough of both kinds to mean something. */
	CHECK(accepted > runs / 20 && accepted < runs - runs / 10);
}

/* A context reused for documents of very different sizes keeps no trace. */
/*
 * The test vectors of fixtures/canon/ (spec/bundle.md, "Canonical JSON"):
 * each NAME.json gives exactly the bytes of NAME.canon, which are a fixed
 * point, or is refused with the message of NAME.err.
 */
static void test_vectors(void)
{
	char dir[8192], path[8400];
	size_t n = 0;
	DIR *d = opendir(t_source_path(dir, sizeof dir, "fixtures/canon"));
	struct dirent *e;

	if (!d) {
		fprintf(stderr, "  cannot open %s\n", dir);
		t_failed = 1;
		return;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name), ilen, wlen;
		char *in, *want;
		if (l < 5 || strcmp(e->d_name + l - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
		in = slurp(path, &ilen);
		snprintf(path, sizeof path, "%s/%.*s.canon", dir, (int)(l - 5), e->d_name);
		if (!(want = slurp(path, &wlen))) {
			snprintf(path, sizeof path, "%s/%.*s.err", dir, (int)(l - 5), e->d_name);
			if ((want = slurp(path, &wlen)) && wlen && want[wlen - 1] == '\n')
				want[wlen - 1] = 0, wlen--;
		}
		if (!in || !want) {
			fprintf(stderr, "  %s: cannot read it or what it gives\n", e->d_name);
			t_failed = 1;
		} else {
			char *got = strdup(canonn(in, ilen));
			int refused = got && strncmp(got, "error: ", 7) == 0;
			if (!got || (refused ? strlen(got + 7) != wlen || memcmp(got + 7, want, wlen)
					     : strlen(got) != wlen || memcmp(got, want, wlen) ||
					       strcmp(canonn(want, wlen), got) != 0)) {
				fprintf(stderr, "  %s: gave '%s'\n", e->d_name, got ? got : "(null)");
				t_failed = 1;
			}
			free(got);
			n++;
		}
		free(in);
		free(want);
	}
	closedir(d);
	CHECK(n >= 10);
}

static void test_reuse(void)
{
	size_t n = 200000;
	char *big = malloc(n + 2);

	CHECK(big != NULL);
	if (!big)
		return;
	big[0] = '"';
	memset(big + 1, 'x', n - 2);
	big[n - 1] = '"';
	CHECK(accepts(big, n));
	CHECK_STR(canon("{\"b\":\"y\",\"a\":[]}"), "{\n  \"a\": [],\n  \"b\": \"y\"\n}\n");
	CHECK(accepts(big, n));
	free(big);
	CHECK_STR(canon("[1"), "error: invalid JSON at byte 2: unexpected end of input");
	CHECK_STR(canon("[1]"), "[\n  1\n]\n");
}

/* om_canon_plain(): what it accepts jansson loads; what it refuses is a
 * number that may not fit, or a NUL byte. */
static int plain(const char *in)
{
	return om_canon_parse(C, in, strlen(in), NULL) == 0 ? om_canon_plain(C) : -1;
}

static void test_plain(void)
{
	static const char *yes[] = {
		"{}", "[]", "0", "-0", "\"x\"", "{\"a\": [1, 2.5, -3e10, true, null]}",
		"123456789012345678", "-123456789012345678", "1.5e280", "-1E-280",
		"12345678901234567890.5", "1e+280", "{\"\\u00e9\": \"\\u00e9\"}",
	};
	static const char *no[] = {
		"1234567890123456789", "-1234567890123456789", "1e281", "1E-281",
		"1234567890123456789012.5e2", "\"a\\u0000b\"", "{\"a\\u0000\": 1}",
		"[1, {\"x\": [99999999999999999999]}]",
		/* Exponents of 19 digits and more: too big, and no overflow. */
		"1e9999999999999999999", "-1.5E+99999999999999999999", "1e-9223372036854775808",
	};
	json_error_t je;

	for (size_t i = 0; i < sizeof yes / sizeof *yes; i++) {
		json_t *j = json_loads(yes[i], JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je);
		CHECK(plain(yes[i]) == 1);
		CHECK(j != NULL);
		json_decref(j);
	}
	for (size_t i = 0; i < sizeof no / sizeof *no; i++)
		CHECK(plain(no[i]) == 0);
	CHECK(plain("[1") == -1);
	CHECK(om_canon_plain(C) == 0);
	/* Whatever jansson refuses among the test files, plain refuses too. */
	for (size_t i = 0; i < nfiles; i++) {
		json_t *j;
		if (om_canon_parse(C, files[i].data, files[i].len, NULL) < 0 || !om_canon_plain(C))
			continue;
		j = json_loadb(files[i].data, files[i].len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES,
			       &je);
		if (!j)
			fprintf(stderr, "  plain but refused by jansson: %s\n", files[i].name);
		CHECK(j != NULL);
		json_decref(j);
	}
}

/* NUL-terminate a buffer for CHECK_STR. */
static int room_nul(struct om_buf *b)
{
	char *q = realloc(b->p, b->len + 1);

	if (!q)
		return -1;
	b->p = q;
	b->cap = b->len + 1;
	b->p[b->len] = 0;
	return 0;
}

/* om_canon_write_compact(): the canonical text without its layout. */
static const char *compact(const char *in)
{
	static struct om_buf out;
	struct om_err err;

	out.len = 0;
	if (om_canon_parse(C, in, strlen(in), &err) < 0 ||
	    om_canon_write_compact(C, &out, &err) < 0 || room_nul(&out) < 0)
		return "error";
	return out.p;
}

static void test_compact(void)
{
	struct om_buf out = {0};
	struct om_err err;
	json_error_t je;

	CHECK_STR(compact("{\"b\": [1, {\"a\": \"x\\n\\u0041\"}], \"a\": {}, \"c\": []}"),
		  "{\"a\":{},\"b\":[1,{\"a\":\"x\\nA\"}],\"c\":[]}");
	CHECK_STR(compact(" -0.5e10 "), "-0.5e10");
	CHECK_STR(compact("\"\\u00e9 \\\"\""), "\"\u00e9 \\\"\"");
	CHECK_STR(compact("[null, true, false]"), "[null,true,false]");
	/* Every test file: the same value as jansson reads it. */
	for (size_t i = 0; i < nfiles; i++) {
		json_t *a, *b;
		if (om_canon_parse(C, files[i].data, files[i].len, NULL) < 0 || !om_canon_plain(C))
			continue;
		out.len = 0;
		CHECK(om_canon_write_compact(C, &out, &err) == 0);
		a = json_loadb(files[i].data, files[i].len, JSON_DECODE_ANY, &je);
		b = json_loadb(out.p, out.len, JSON_DECODE_ANY, &je);
		CHECK(memchr(out.p, '\n', out.len) == NULL);
		CHECK(a && b && json_equal(a, b));
		json_decref(a);
		json_decref(b);
	}
	om_buf_release(&out);
	/* Nothing parsed: an error, the buffer unchanged. */
	CHECK(om_canon_parse(C, "[", 1, NULL) < 0);
	CHECK(om_canon_write_compact(C, &out, &err) < 0 && out.len == 0);
}

int main(int argc, char **argv)
{
	struct om_err err;
	char dir[4096];

	(void)argc;
	C = om_canon_new(&err);
	if (!C)
		return 2;
	testdata = getenv("OM_TESTDATA");
	if (!testdata || !*testdata) {
		/* build/tests/test_canon -> ../../../shared/testdata */
		static char def[4096];
		const char *slash = strrchr(argv[0], '/');
		int n = slash ? (int)(slash - argv[0]) : 1;
		snprintf(def, sizeof def, "%.*s/../../../shared/testdata", n, slash ? argv[0] : ".");
		testdata = def;
	}
	snprintf(dir, sizeof dir, "%s/jsontestsuite", testdata);
	nsuite = load_dir(dir, 1);
	/* The real Octopus documents make richer seeds for the mutations. */
	snprintf(dir, sizeof dir, "%s/octopus-export-2024.4", testdata);
	load_dir(dir, 0);
	if (nfiles)
		qsort(files, nfiles, sizeof *files, by_name);

	RUN(test_layout);
	RUN(test_sorting);
	RUN(test_numbers);
	RUN(test_strings);
	RUN(test_rejects);
	RUN(test_utf8);
	RUN(test_depth);
	RUN(test_tree);
	RUN(test_drop_and_replace);
	RUN(test_idempotent);
	RUN(test_jsontestsuite);
	RUN(test_mutations);
	RUN(test_reuse);
	RUN(test_plain);
	RUN(test_compact);
	RUN(test_vectors);

	for (size_t i = 0; i < nfiles; i++)
		free(files[i].data);
	free(files);
	om_canon_free(C);
	return T_EXIT();
}
