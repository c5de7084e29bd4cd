/*
 * t.h - the unit test macros.  A test file is a program: each TEST is a
 * function run by RUN(); CHECK records a failure with its line and goes on.
 * The program prints "ok NAME", "FAIL NAME" or "skip NAME: WHY" per test and
 * exits non-zero when one failed; tests/run.sh counts the lines.  SKIP is
 * for what the checkout or the machine lacks (third-party test data), never
 * for a result: a skip is a failure under OM_NO_SKIP=1 (CI).
 */
#ifndef OM_T_H
#define OM_T_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int t_failed, t_any_failed;
static char t_skipped[512];

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "  %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		t_failed = 1; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *t_a = (a), *t_b = (b); \
	if (!t_a || !t_b || strcmp(t_a, t_b) != 0) { \
		fprintf(stderr, "  %s:%d: '%s' != '%s'\n", __FILE__, __LINE__, \
			t_a ? t_a : "(null)", t_b ? t_b : "(null)"); \
		t_failed = 1; \
	} \
} while (0)

/* SKIP("why %s", ...): end the test here, neither passed nor failed. */
#define SKIP(...) do { \
	snprintf(t_skipped, sizeof t_skipped, __VA_ARGS__); \
	return; \
} while (0)

#define RUN(fn) do { \
	t_failed = 0; \
	t_skipped[0] = 0; \
	fn(); \
	if (t_skipped[0] && !t_failed) \
		printf("skip %s: %s\n", #fn, t_skipped); \
	else \
		printf("%s %s\n", t_failed ? "FAIL" : "ok", #fn); \
	t_any_failed |= t_failed; \
} while (0)

#define T_EXIT() (fflush(stdout), t_any_failed)

/* The path of rel in the source tree, in out: below $OM_TOP, else below the
 * directory two levels above this program (build/tests/), else rel. */
static inline const char *t_source_path(char *out, size_t cap, const char *rel)
{
	const char *top = getenv("OM_TOP");
	char exe[4096];
	ssize_t el;

	if (top && *top) {
		snprintf(out, cap, "%s/%s", top, rel);
	} else if ((el = readlink("/proc/self/exe", exe, sizeof exe - 1)) > 0) {
		exe[el] = 0;
		for (int up = 0; up < 3; up++)
			if (strrchr(exe, '/'))
				*strrchr(exe, '/') = 0;
		snprintf(out, cap, "%s/%s", exe, rel);
	} else {
		snprintf(out, cap, "%s", rel);
	}
	return out;
}

#endif
