/*
 * t.h - the unit test macros.  A test file is a program: each TEST is a
 * function run by RUN(); CHECK records a failure with its line and goes on.
 * The program prints "ok NAME" or "FAIL NAME" per test and exits non-zero
 * when one failed; tests/check.sh counts the lines.
 */
#ifndef OM_T_H
#define OM_T_H

#include <stdio.h>
#include <string.h>

static int t_failed, t_any_failed;

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

#define RUN(fn) do { \
	t_failed = 0; \
	fn(); \
	printf("%s %s\n", t_failed ? "FAIL" : "ok", #fn); \
	t_any_failed |= t_failed; \
} while (0)

#define T_EXIT() (fflush(stdout), t_any_failed)

#endif
