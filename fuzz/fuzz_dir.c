/*
 * fuzz_dir.c - the bundle reader on directory trees (format/bundle.h).
 *
 * The input describes a tree, made in a fresh temporary directory, which is
 * then opened as a directory bundle and read to its end (fuzz_read.h).
 * Input: entries separated by two NUL bytes; an entry is a type byte, a
 * path up to a newline, then its data:
 *
 *     f  a regular file holding the data
 *     d  a directory
 *     l  a symbolic link to the data
 *     p  a fifo
 *
 * An entry that cannot be made (a component "", "." or "..", a parent that
 * is not a directory made here, a name made twice, an unknown type) is
 * left out, so the tree never reaches outside its directory.
 * Properties: no crash, no hang, no leak; those of fuzz_read_bundle(); and
 * what the reader yields is the tree: each entry is a regular file made
 * here with the same bytes, no path component begins with '.', and a read
 * that ends without an error has yielded every such file.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_read.h"

/* Small limits, as for fuzz_bundle. */
static const struct om_bundle_limits lim = {
	.max_entry_size = 1 << 20,
	.max_total_size = 4 << 20,
	.max_entries = 1000,
};

/* A regular file made from the input. */
struct made {
	char *path;
	const uint8_t *data;
	size_t len;
	int hidden;		/* a component begins with '.' */
	int seen;		/* yielded by the reader */
};

struct tree {
	struct made *v;
	size_t n, cap;
};

static char root[PATH_MAX];

/*
 * Empty the directory open as top, holding no descriptor per level: a tree
 * made from the input may be deeper than PATH_MAX (a path of 4094 bytes
 * below root), where a path-based remover (nftw, remove) fails with
 * ENAMETOOLONG.  Descend by name, come back by "..": the tree is ours and
 * holds no links to directories.  Each pass over a directory removes its
 * non-directories and enters its first subdirectory.
 */
static void rm_tree(int top)
{
	struct {
		char **v;
		size_t n, cap;
	} up = {0};
	int fd = dup(top);

	if (fd < 0)
		abort();
	for (;;) {
		int dfd = dup(fd), nfd;
		DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
		struct dirent *de;
		char *sub = NULL;

		if (!d)
			abort();
		rewinddir(d);
		while ((de = readdir(d))) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (unlinkat(fd, de->d_name, 0) == 0 || errno == ENOENT)
				continue;
			if (errno != EISDIR && errno != EPERM)
				abort();
			if (!sub && !(sub = strdup(de->d_name)))
				abort();
		}
		closedir(d);
		if (sub) {
			if ((nfd = openat(fd, sub, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
				abort();
			if (up.n == up.cap) {
				up.cap = up.cap ? 2 * up.cap : 64;
				if (!(up.v = realloc(up.v, up.cap * sizeof *up.v)))
					abort();
			}
			up.v[up.n++] = sub;
		} else if (up.n) {
			if ((nfd = openat(fd, "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0 ||
			    unlinkat(nfd, up.v[up.n - 1], AT_REMOVEDIR) < 0)
				abort();
			free(up.v[--up.n]);
		} else {
			break;
		}
		close(fd);
		fd = nfd;
	}
	close(fd);
	free(up.v);
}

static void rm_root(void)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		abort();
	rm_tree(fd);
	close(fd);
	if (rmdir(root) < 0)
		abort();
}

/*
 * Open the directory that holds the last component of path (length n)
 * below dfd, making the directories on the way; the last component goes to
 * *leaf (NUL-terminated in buf).  -1 when the entry is to be left out.
 */
static int parent_of(int dfd, const char *path, size_t n, char *buf, const char **leaf,
		     int *hidden)
{
	char *comp, *slash;
	int fd;

	if (n == 0 || n >= OM_BUNDLE_PATH_MAX || memchr(path, 0, n))
		return -1;
	memcpy(buf, path, n);
	buf[n] = 0;
	if ((fd = dup(dfd)) < 0)
		abort();
	*hidden = 0;
	for (comp = buf;; comp = slash + 1) {
		int nfd;

		if ((slash = strchr(comp, '/')))
			*slash = 0;
		if (!*comp || strcmp(comp, ".") == 0 || strcmp(comp, "..") == 0)
			break;
		*hidden |= comp[0] == '.';
		if (!slash) {
			*leaf = comp;
			return fd;
		}
		if (mkdirat(fd, comp, 0700) < 0 && errno != EEXIST)
			break;
		nfd = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		*slash = '/';
		close(fd);
		if ((fd = nfd) < 0)
			return -1;
	}
	close(fd);
	return -1;
}

/* Make one entry of the input (type, path, data) below dfd. */
static void make_entry(int dfd, struct tree *t, const uint8_t *p, size_t n)
{
	const uint8_t *nl = n ? memchr(p + 1, '\n', n - 1) : NULL;
	char buf[OM_BUNDLE_PATH_MAX + 1], *target;
	const uint8_t *data;
	const char *leaf;
	size_t len;
	int fd, pfd, hidden;

	if (!nl)
		return;
	data = nl + 1;
	len = n - (size_t)(data - p);
	if ((pfd = parent_of(dfd, (const char *)p + 1, (size_t)(nl - p - 1), buf, &leaf,
			     &hidden)) < 0)
		return;
	switch (p[0]) {
	case 'f':
		fd = openat(pfd, leaf, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			break;
		if (write(fd, data, len) != (ssize_t)len)
			abort();
		close(fd);
		if (t->n == t->cap) {
			t->cap = t->cap ? 2 * t->cap : 16;
			if (!(t->v = realloc(t->v, t->cap * sizeof *t->v)))
				abort();
		}
		if (!(t->v[t->n].path = strdup(buf)))
			abort();
		t->v[t->n].data = data;
		t->v[t->n].len = len;
		t->v[t->n].hidden = hidden;
		t->v[t->n].seen = 0;
		t->n++;
		break;
	case 'd':
		mkdirat(pfd, leaf, 0700);
		break;
	case 'l':
		if (!(target = strndup((const char *)data, len)))
			abort();
		symlinkat(target, pfd, leaf);
		free(target);
		break;
	case 'p':
		mkfifoat(pfd, leaf, 0600);
		break;
	}
	close(pfd);
}

/* An entry the reader yields must be a file of the tree, whole, once. */
static void check_entry(void *ctx, const char *path, const char *data, size_t len)
{
	struct tree *t = ctx;

	for (size_t i = 0; i < t->n; i++) {
		struct made *m = &t->v[i];
		if (strcmp(m->path, path) != 0)
			continue;
		FUZZ_ASSERT(!m->hidden && !m->seen);
		FUZZ_ASSERT(m->len == len && memcmp(m->data, data, len) == 0);
		m->seen = 1;
		return;
	}
	FUZZ_ASSERT(!"an entry that is no file of the tree");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct om_bundle_reader *r;
	struct tree t = {0};
	struct om_err err;
	int dfd;

	if (!root[0]) {
		const char *tmp = getenv("TMPDIR");
		/* Whole: make check gives each case a TMPDIR deep below its own. */
		int n = snprintf(root, sizeof root, "%s/om-fuzz-dir.XXXXXX",
				 tmp && *tmp ? tmp : "/tmp");
		if (n < 0 || (size_t)n >= sizeof root || !mkdtemp(root))
			abort();
		atexit(rm_root);
	}
	if ((dfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	for (size_t i = 0; i < size;) {
		const uint8_t *end = data + i, *stop = data + size;
		while (end < stop && !(end[0] == 0 && end + 1 < stop && end[1] == 0))
			end++;
		make_entry(dfd, &t, data + i, (size_t)(end - (data + i)));
		i = (size_t)(end - data) + 2;
	}

	err.msg[0] = 0;
	if ((r = om_bundle_reader_open_fd(dfd, "fuzz", &lim, &err))) {
		FUZZ_ASSERT(om_bundle_reader_form(r) == OM_FORM_DIR);
		if (fuzz_read_bundle(r, &lim, check_entry, &t) == 0)
			for (size_t i = 0; i < t.n; i++)
				FUZZ_ASSERT(t.v[i].hidden || t.v[i].seen);
		om_bundle_reader_close(r);
	} else {
		FUZZ_ASSERT(err.msg[0]);
	}
	close(dfd);

	/* Empty the directory for the next input. */
	for (size_t i = 0; i < t.n; i++)
		free(t.v[i].path);
	free(t.v);
	rm_root();
	if (mkdir(root, 0700) < 0)
		abort();
	return 0;
}
