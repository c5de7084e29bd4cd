/* Unit tests of names as path components. */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "../../format/names.h"
#include "t.h"

static const char *comp(const char *name, int collides)
{
	static char buf[512];
	struct om_err err;
	char *c = om_name_component(name, strlen(name), collides, &err);

	snprintf(buf, sizeof buf, "%s", c ? c : "(null)");
	free(c);
	return buf;
}

/* Escaping then unescaping gives the name back. */
static int round_trips(const char *name, int collides)
{
	struct om_err err;
	char *c = om_name_component(name, strlen(name), collides, &err);
	char *back = c ? om_name_unescape(c, &err) : NULL;
	int ok = back && strcmp(back, name) == 0;

	free(c);
	free(back);
	return ok;
}

static void test_plain_names(void)
{
	CHECK_STR(comp("Acme Web", 0), "Acme Web");
	CHECK_STR(comp("Zürich Kiosk", 0), "Zürich Kiosk");
	CHECK_STR(comp("日本 Rollout", 0), "日本 Rollout");
	CHECK_STR(comp("1.4.2", 0), "1.4.2");
	CHECK_STR(comp("O'Brien's (hotfix) [x] #1 & co", 0), "O'Brien's (hotfix) [x] #1 & co");
}

static void test_escapes(void)
{
	CHECK_STR(comp("Web/API Gateway", 0), "Web%2FAPI Gateway");
	CHECK_STR(comp("100% done", 0), "100%25 done");
	CHECK_STR(comp("a\\b:c*d?e\"f<g>h|i", 0), "a%5Cb%3Ac%2Ad%3Fe%22f%3Cg%3Eh%7Ci");
	CHECK_STR(comp("tab\there\nnl\x7f", 0), "tab%09here%0Anl%7F");
	CHECK_STR(comp(".", 0), "%2E");
	CHECK_STR(comp("..", 0), "%2E%2E");
	CHECK_STR(comp(".git", 0), "%2Egit");
	CHECK_STR(comp("Globex Corp.", 0), "Globex Corp%2E");
	CHECK_STR(comp("trailing ", 0), "trailing%20");
	CHECK_STR(comp(" leading", 0), " leading");
	CHECK_STR(comp("", 0), "%00");
	CHECK_STR(comp("CON", 0), "%43ON");
	CHECK_STR(comp("con.json", 0), "%63on.json");
	CHECK_STR(comp("Com7", 0), "%43om7");
	CHECK_STR(comp("LPT0", 0), "LPT0");
	CHECK_STR(comp("CONSOLE", 0), "CONSOLE");
	CHECK_STR(comp("NUL.", 0), "%4EUL%2E");
	/* Inside a component (after other text) a leading dot or a device name
	 * is harmless. */
	char *in = om_name_component(".zip", 4, OM_NAME_INSIDE, NULL);
	CHECK_STR(in, ".zip");
	free(in);
	in = om_name_component("CON", 3, OM_NAME_INSIDE, NULL);
	CHECK_STR(in, "CON");
	free(in);
}

static void test_collisions_and_long_names(void)
{
	char long_name[400];
	const char *c;

	CHECK(om_name_collide("Hotfix", "HotFix"));
	CHECK(!om_name_collide("Hotfix", "Hotfixes"));
	CHECK(!om_name_collide("Zürich", "ZÜrich")); /* ASCII folding only */
	/* Canonically equivalent names collide (NFC against NFD), with case
	 * folded too; compatibility equivalents do not (the ligature fi). */
	CHECK(om_name_collide("Caf\xc3\xa9", "Cafe\xcc\x81"));
	CHECK(om_name_collide("CAF\xc3\xa9", "cafe\xcc\x81"));
	CHECK(om_name_collide("\xe1\x84\x80\xe1\x85\xa1", "\xea\xb0\x80")); /* Hangul */
	CHECK(!om_name_collide("\xef\xac\x81", "fi"));
	CHECK(!om_name_collide("Caf\xc3\xa9", "Cafe"));
	/* A name that is not UTF-8 collides only with itself. */
	CHECK(om_name_collide("a\xff", "a\xff") && !om_name_collide("a\xff", "A\xff"));
	c = comp("Hotfix", 1);
	CHECK(strncmp(c, "Hotfix%~", 8) == 0 && strlen(c) == 6 + 2 + 16);
	char first[64];
	snprintf(first, sizeof first, "%s", comp("Hotfix", 1));
	CHECK(strcmp(first, comp("HotFix", 1)) != 0);

	memset(long_name, 'x', 300);
	long_name[300] = 0;
	c = comp(long_name, 0);
	CHECK(strlen(c) <= OM_NAME_MAX);
	CHECK(strstr(c, "%~~") != NULL);
	/* Two long names alike at the start stay apart. */
	char a[512];
	snprintf(a, sizeof a, "%s", comp(long_name, 0));
	long_name[299] = 'y';
	CHECK(strcmp(a, comp(long_name, 0)) != 0);
	/* A cut never splits a UTF-8 character or an escape. */
	for (int i = 0; i < 150; i++)
		memcpy(long_name + 2 * i, "é", 2);
	long_name[300] = 0;
	c = comp(long_name, 0);
	CHECK(strlen(c) <= OM_NAME_MAX);
	CHECK(memcmp(c + strlen(c) - 19, "%~~", 3) == 0);
	CHECK((strlen(c) - 19) % 2 == 0);
	for (int i = 0; i < 100; i++)
		memcpy(long_name + 3 * i, "a/b", 3);
	long_name[300] = 0;
	c = comp(long_name, 0);
	CHECK(strlen(c) <= OM_NAME_MAX);
	const char *pct = strstr(c, "%~~");
	CHECK(pct && pct - c >= 3 && (pct[-3] == '%' || pct[-1] != '%'));
}

/* A component built from several values (names rule 7). */
static void test_built_components(void)
{
	char built[1024], name[256], want[1024];
	unsigned char h[32];
	char hex[17];
	size_t n = 0, len;

	/* Short enough: unchanged. */
	snprintf(built, sizeof built, "2024-03-19T09%%3A45 Production.json");
	CHECK(om_name_fit(built, strlen(built), strlen(built) - 5) == strlen(built));
	/* A deployment's "<Created> <Environment> <Tenant>.json" with two names
	 * of 60 CJK characters (180 bytes) each: 5 + 180 + 1 + 180 + 5 bytes. */
	for (int i = 0; i < 60; i++)
		memcpy(name + 3 * i, "\xe6\x9d\xb1", 3); /* U+6771 */
	name[180] = 0;
	n = (size_t)snprintf(built, sizeof built, "2024 %s %s.json", name, name);
	crypto_generichash(h, sizeof h, (const unsigned char *)built, n, NULL, 0);
	sodium_bin2hex(hex, sizeof hex, h, 8);
	/* Cut at 180 bytes: 5 + 58 characters (179 bytes) is the last boundary. */
	snprintf(want, sizeof want, "2024 %.174s%%~~%s.json", name, hex);
	len = om_name_fit(built, n, n - 5);
	built[len] = 0;
	CHECK_STR(built, want);
	CHECK(len == 179 + 3 + 16 + 5);
	/* Never inside an escape: "%3A" across the cut point. */
	memset(built, 'x', 300);
	memcpy(built + 178, "%3A", 3);
	memcpy(built + 300, ".json", 5);
	len = om_name_fit(built, 305, 300);
	built[len] = 0;
	CHECK(len == 178 + 19 + 5 && memcmp(built + 178, "%~~", 3) == 0);
	CHECK(strcmp(built + len - 5, ".json") == 0);
	/* No literal ending: the whole component is the stem. */
	memset(built, 'v', 201);
	CHECK(om_name_fit(built, 201, 201) == 180 + 19);
	CHECK(om_name_fit(built, 200, 200) == 200);
}

static void test_unescape(void)
{
	struct om_err err;
	static const char *const names[] = {
		"Acme Web", "Web/API Gateway", "..", ".", "", "CON", "Globex Corp.", "100%",
		"a%2Fb literally", "tab\there", "Hotfix", "x~%~y"};

	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		CHECK(round_trips(names[i], 0));
		CHECK(round_trips(names[i], 1));
	}
	CHECK(om_name_unescape("bad%2", &err) == NULL);
	CHECK(om_name_unescape("bad%zz", &err) == NULL);
	CHECK(om_name_unescape("nul%00inside", &err) == NULL);
	char longn[300];
	memset(longn, 'q', 299);
	longn[299] = 0;
	char *c = om_name_component(longn, 299, 0, &err);
	CHECK(om_name_unescape(c, &err) == NULL && strstr(err.msg, "cut name"));
	free(c);
}

int main(void)
{
	if (sodium_init() < 0)
		return 2;
	RUN(test_plain_names);
	RUN(test_escapes);
	RUN(test_collisions_and_long_names);
	RUN(test_built_components);
	RUN(test_unescape);
	return T_EXIT();
}
