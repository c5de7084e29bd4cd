/*
 * fuzz_octopus.c - the Octopus export reader on zip bytes
 * (format/octopus.h), with the password of the shared sample package.
 *
 * The input is written to a temporary file and read as a package or a
 * Migrator export in a zip; what is read is written as a tar bundle to
 * /dev/null.  Properties: no crash, no hang, no leak; memory and work
 * bounded by small limits; a refusal (wrong password 1, trouble -1) has a
 * one-line message; a package that reads writes.
 */
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "../format/bundle.h"
#include "../format/octopus.h"
#include "../format/seal.h"
#include "fuzz.h"

static const struct om_bundle_limits lim = {
	.max_entry_size = 1 << 20,
	.max_total_size = 4 << 20,
	.max_entries = 1000,
};

static int fd = -1, null = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct om_octopus_opts o = {"pass!w0rd", 9, NULL, 0, &lim, NULL, NULL};
	struct om_octopus *p = NULL;
	struct om_bundle_writer *w;
	struct om_err err;
	int r;

	if (fd < 0) {
		char tmpl[] = "/tmp/om-fuzz-octopus.XXXXXX";
		if (om_crypto_init(&err) < 0 || (fd = mkstemp(tmpl)) < 0 ||
		    (null = open("/dev/null", O_WRONLY)) < 0)
			abort();
		unlink(tmpl);
	}
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size ||
	    lseek(fd, 0, SEEK_SET) != 0)
		abort();

	err.msg[0] = 0;
	r = om_octopus_read_fd(fd, "fuzz", &o, &p, &err);
	FUZZ_ASSERT(r == 0 || r == 1 || r == -1);
	if (r != 0) {
		FUZZ_ASSERT(p == NULL && err.msg[0] && !strchr(err.msg, '\n'));
		return 0;
	}
	FUZZ_ASSERT(p && om_octopus_count(p) >= 1);
	if (!(w = om_bundle_writer_open_fd(null, OM_FORM_TAR, "null", &err)))
		abort();
	if (om_octopus_write(p, OM_SECRETS_CLEAR, w, &err) < 0) {
		FUZZ_ASSERT(err.msg[0]);
		om_bundle_writer_abort(w);
	} else {
		FUZZ_ASSERT(om_bundle_writer_commit(w, &err) == 0);
	}
	om_octopus_free(p);
	return 0;
}
