/*
 * fuzz_bundle.c - the bundle reader on tar and tar.zst bytes
 * (format/bundle.h).
 *
 * The input is written to a temporary file, opened as a bundle and read to
 * its end (fuzz_read.h).  Properties: no crash, no hang, no leak; memory
 * and work bounded by small limits; those of fuzz_read_bundle().
 */
#include <unistd.h>

#include "fuzz_read.h"

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
	struct om_err err;

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
	fuzz_read_bundle(r, &lim, NULL, NULL);
	om_bundle_reader_close(r);
	return 0;
}
