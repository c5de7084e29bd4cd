/*
 * fuzz_bundle.c - the bundle reader on tar and tar.zst bytes
 * (format/bundle.h).
 *
 * The input is written to a temporary file, opened as a bundle and read to
 * its end: every entry's bytes in small chunks, or (every other entry) with
 * om_bundle_read_all().  Properties: no crash, no hang, no leak; memory and
 * work bounded by small limits; entries come in strictly increasing order
 * with valid paths; an entry yields exactly its size; an error has a
 * message and ends the reading.
 */
#include <string.h>
#include <unistd.h>

#include "../format/bundle.h"
#include "fuzz.h"

/* Small limits, so that a bomb is refused quickly. */
static const struct om_bundle_limits lim = {
	.max_entry_size = 1 << 20,
	.max_total_size = 4 << 20,
	.max_entries = 1000,
};

static int fd = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct om_bundle_reader *r;
	struct om_bundle_entry e;
	struct om_err err;
	char prev[OM_BUNDLE_PATH_MAX + 2] = "", buf[4096];
	unsigned n = 0;
	int rc;

	if (fd < 0) {
		char tmpl[] = "/tmp/om-fuzz-bundle.XXXXXX";
		if ((fd = mkstemp(tmpl)) < 0)
			abort();
		unlink(tmpl);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();

	err.msg[0] = 0;
	if (!(r = om_bundle_reader_open_fd(fd, "fuzz", &lim, &err))) {
		FUZZ_ASSERT(err.msg[0]);
		return 0;
	}
	FUZZ_ASSERT(om_bundle_reader_form(r) != OM_FORM_DIR);
	while ((rc = om_bundle_next(r, &e, &err)) == 1) {
		uint64_t got = 0;
		FUZZ_ASSERT(om_bundle_path_problem(e.path) == NULL);
		FUZZ_ASSERT(strcmp(prev, e.path) < 0);
		FUZZ_ASSERT(e.size <= lim.max_entry_size);
		snprintf(prev, sizeof prev, "%s", e.path);
		if (n++ % 2) {
			char *all;
			size_t len;
			if (om_bundle_read_all(r, 1 << 20, &all, &len, &err) < 0) {
				FUZZ_ASSERT(all == NULL && err.msg[0]);
				rc = -1;
				break;
			}
			FUZZ_ASSERT(len == e.size && all[len] == 0);
			free(all);
			continue;
		}
		for (;;) {
			ssize_t k = om_bundle_read(r, buf, 1 + n % sizeof buf, &err);
			if (k < 0) {
				rc = -1;
				break;
			}
			if (k == 0)
				break;
			got += (uint64_t)k;
			FUZZ_ASSERT(got <= e.size);
		}
		if (rc < 0)
			break;
		FUZZ_ASSERT(got == e.size);
	}
	if (rc < 0) {
		FUZZ_ASSERT(err.msg[0] && !strchr(err.msg, '\n'));
		/* Nothing more after an error. */
		FUZZ_ASSERT(om_bundle_next(r, &e, &err) == -1);
	}
	om_bundle_reader_close(r);
	return 0;
}
