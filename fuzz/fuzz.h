/*
 * fuzz.h - what the fuzz targets of fuzz/ share.  Each target defines
 * LLVMFuzzerTestOneInput(); built with clang -fsanitize=fuzzer it is a
 * libFuzzer program (make fuzz), built with fuzz/replay.c and any C
 * compiler it replays the files of fuzz/regressions/ (make check).
 *
 * A target checks a property and calls FUZZ_ASSERT; a broken property
 * aborts, which both libFuzzer and the replay report as a crash.
 */
#ifndef OM_FUZZ_H
#define OM_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_ASSERT(cond) do { \
	if (!(cond)) { \
		fprintf(stderr, "%s:%d: fuzz property failed: %s\n", __FILE__, __LINE__, #cond); \
		abort(); \
	} \
} while (0)

#endif
