/*
 * replay.c - a main for a fuzz target without libFuzzer: feed each file
 * named on the command line to LLVMFuzzerTestOneInput(), as libFuzzer
 * would, so that make check replays the regression inputs with gcc.
 * Prints nothing on success; a broken property aborts (fuzz.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "fuzz.h"

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		FILE *f = fopen(argv[i], "rb");
		uint8_t *buf = NULL;
		size_t len = 0, cap = 0, n;

		if (!f) {
			perror(argv[i]);
			return 2;
		}
		do {
			if (len == cap) {
				uint8_t *nb = realloc(buf, cap = cap ? 2 * cap : 65536);
				if (!nb) {
					fprintf(stderr, "%s: out of memory\n", argv[i]);
					return 2;
				}
				buf = nb;
			}
			n = fread(buf + len, 1, cap - len, f);
			len += n;
		} while (n > 0);
		if (ferror(f)) {
			perror(argv[i]);
			return 2;
		}
		fclose(f);
		/* An exact-size copy, so that ASan sees a read past the end. */
		uint8_t *exact = malloc(len ? len : 1);
		if (!exact)
			return 2;
		for (size_t j = 0; j < len; j++)
			exact[j] = buf[j];
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
		free(buf);
	}
	return 0;
}
