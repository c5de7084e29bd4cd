/*
 * bundle_write.c - the bundle writers (bundle.h): a directory staged file by
 * file with a journal and committed manifest last, an archive file written
 * unnamed (O_TMPFILE) or under a temporary name and linked in only when
 * whole, a stream straight to a descriptor; and the signal-time cleanup
 * table of their temporary files.  What the parts share is in
 * bundle_int.h.
 */
/* O_TMPFILE, linkat(AT_EMPTY_PATH), flock(). */
#define _GNU_SOURCE
#include "bundle_int.h"
#include "sigs.h"
#include "tarw.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

/* zstd's own default: about pg_dump's speed, a tenth of the size. */
#define ZSTD_LEVEL 3
/* A dot name: readers skip it and the update rule never removes it. */
#define STAGE_NAME ".om-tmp-XXXXXX"
#define STAGE_PREFIX ".om-tmp-"
#define JOURNAL "journal"
/* Where the old manifest waits during a commit. */
#define HELD_MARKER "manifest"
/* Open writers at once; a program has one or two. */
#define SLOTS 16

/* ---- the signal-time cleanup table ---- */

/*
 * Every writer with temporary files registers them here so that
 * om_bundle_cleanup_on_signal() can remove them with unlink() and rmdir()
 * alone: a temporary archive file (SLOT_FILE), or a staging directory whose
 * files are named 1..count and "journal" (SLOT_STAGE), and the bundle
 * directory itself when the writer made it.
 */
enum { SLOT_FREE, SLOT_FILE, SLOT_STAGE };

static struct slot {
	volatile sig_atomic_t kind;
	volatile sig_atomic_t count;
	volatile sig_atomic_t rmroot;
	char path[PATH_MAX];
	char root[PATH_MAX];
} slots[SLOTS];

static int slot_take(int kind, const char *path, const char *root, const char *disp,
		     struct om_err *err)
{
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[i];
		if (s->kind != SLOT_FREE)
			continue;
		if (strlen(path) >= sizeof s->path || (root && strlen(root) >= sizeof s->root)) {
			om_err_set(err, "%s: path too long", disp);
			return -1;
		}
		strcpy(s->path, path);
		strcpy(s->root, root ? root : "");
		s->count = 0;
		s->rmroot = root != NULL;
		/* The handler must never see a kind before its path. */
		atomic_signal_fence(memory_order_seq_cst);
		s->kind = kind;
		return i;
	}
	om_err_set(err, "%s: too many bundle writers open", disp);
	return -1;
}

static void slot_drop(int i)
{
	if (i >= 0)
		slots[i].kind = SLOT_FREE;
}

/* Append s to p at *n; async-signal-safe. */
static void sig_append(char *p, size_t *n, size_t size, const char *s)
{
	while (*s && *n + 1 < size)
		p[(*n)++] = *s++;
	p[*n] = 0;
}

void om_bundle_cleanup_on_signal(void)
{
	/* No strlen(), snprintf() or malloc() here: only what POSIX lists as
	 * async-signal-safe, hence the hand-made paths. */
	for (int i = 0; i < SLOTS; i++) {
		struct slot *s = &slots[i];
		char p[PATH_MAX + 32], digits[24];
		size_t n = 0, base;

		if (s->kind == SLOT_FILE) {
			unlink(s->path);
			continue;
		}
		if (s->kind != SLOT_STAGE)
			continue;
		sig_append(p, &n, sizeof p, s->path);
		sig_append(p, &n, sizeof p, "/");
		base = n;
		for (long k = s->count; k > 0; k--) {
			size_t d = sizeof digits - 1;
			digits[d] = 0;
			for (long v = k; v; v /= 10)
				digits[--d] = (char)('0' + v % 10);
			n = base;
			sig_append(p, &n, sizeof p, digits + d);
			unlink(p);
		}
		n = base;
		sig_append(p, &n, sizeof p, JOURNAL);
		unlink(p);
		rmdir(s->path);
		if (s->rmroot)
			rmdir(s->root);
	}
}

/* ---- writing ---- */

struct om_bundle_writer {
	enum om_bundle_form form;
	char *disp;
	int failed;
	struct order ord;
	unsigned char *buf, *buf2;
	int slot;
	/* The tar forms (tarw.h). */
	struct om_tarw *t;
	int fd, own_fd;
	mode_t mode;		/* of the files created: the archive, staged files */
	char *tmp, *dest;
	int unnamed;		/* fd is an O_TMPFILE file, tmp its future name */
	/* The directory form. */
	char *root;
	int rootfd, stagefd, created_root;
	char *stage;
	FILE *journal;
	long nstaged, marker_staged;
	int marker_gone;	/* the old manifest is not in the new bundle */
	int committed;
	struct walk *old;
	int old_has;
};

static void writer_free(struct om_bundle_writer *w)
{
	bnd_order_free(&w->ord);
	free(w->disp);
	free(w->buf);
	free(w->buf2);
	free(w->tmp);
	free(w->dest);
	free(w->root);
	free(w->stage);
	free(w);
}

static struct om_bundle_writer *writer_new(enum om_bundle_form form, const char *name,
					   struct om_err *err)
{
	struct om_bundle_writer *w = calloc(1, sizeof *w);

	if (!w) {
		om_err_set(err, "out of memory");
		return NULL;
	}
	w->form = form;
	w->mode = 0644;
	w->slot = -1;
	w->fd = w->rootfd = w->stagefd = -1;
	if (!(w->disp = bnd_display_name(name, 1)) || !(w->buf = malloc(CHUNK)) ||
	    !(w->buf2 = malloc(CHUNK))) {
		om_err_set(err, "out of memory");
		writer_free(w);
		return NULL;
	}
	return w;
}


/* The archive's bytes come from tarw.c, not libarchive's writer: the same
 * bytes, at a fraction of the cost per entry. */
static int tar_start(struct om_bundle_writer *w, struct om_err *err)
{
	struct om_err why;

	if (!(w->t = om_tarw_new(w->fd, w->form == OM_FORM_TAR_ZST ? ZSTD_LEVEL : 0, &why))) {
		om_err_set(err, "%s: cannot start the archive: %s", w->disp, why.msg);
		return -1;
	}
	return 0;
}

/* A tarw failure as "cannot write: REASON" for the entry. */
static int tar_entry_failed(struct om_bundle_writer *w, const char *path, struct om_err *why,
			    struct om_err *err)
{
	bnd_entry_err(err, w->disp, path, "cannot write: %s", bnd_msg_style(why->msg));
	return -1;
}

/* A tar header with the fixed metadata; dir paths end with '/'. */
static int tar_header(struct om_bundle_writer *w, const char *path, int dir, uint64_t size,
		      struct om_err *err)
{
	struct om_err why;

	if (om_tarw_header(w->t, path, dir, size, &why) < 0)
		return tar_entry_failed(w, path, &why, err);
	return 0;
}

/* The length of the longest directory prefix ("a/b/") that a and b share. */
static size_t common_dir(const char *a, const char *b)
{
	size_t i = 0, d = 0;

	while (a[i] && a[i] == b[i]) {
		if (a[i] == '/')
			d = i + 1;
		i++;
	}
	return d;
}

struct mem_source {
	const char *p;
	size_t left;
};

static ssize_t mem_read(void *ctx, void *buf, size_t n, struct om_err *err);

static int tar_add(struct om_bundle_writer *w, const char *path, size_t common, uint64_t size,
		   om_bundle_source_fn *src, void *ctx, struct om_err *err)
{
	char dir[OM_BUNDLE_PATH_MAX + 2];
	struct om_err why;
	uint64_t done = 0;

	/* Each directory gets an entry just before its first file: "d/" sorts
	 * after everything that precedes "d/..." and before it. */
	for (const char *s = path + common; (s = strchr(s, '/')); s++) {
		size_t n = (size_t)(s - path) + 1;
		memcpy(dir, path, n);
		dir[n] = 0;
		if (tar_header(w, dir, 1, 0, err) < 0)
			return -1;
	}
	if (tar_header(w, path, 0, size, err) < 0)
		return -1;
	/* Bytes in memory go straight in, without a copy through w->buf. */
	if (src == mem_read) {
		const struct mem_source *m = ctx;
		if (om_tarw_data(w->t, m->p, m->left, &why) < 0)
			return tar_entry_failed(w, path, &why, err);
		return 0;
	}
	while (done < size) {
		size_t want = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
		ssize_t n = src(ctx, w->buf, want, err);
		if (n < 0)
			return -1;
		/* A short file would break the archive: an error here. */
		if (n == 0) {
			bnd_entry_err(err, w->disp, path, "the source ended after %llu of %llu bytes",
				  (unsigned long long)done, (unsigned long long)size);
			return -1;
		}
		if (om_tarw_data(w->t, w->buf, (size_t)n, &why) < 0)
			return tar_entry_failed(w, path, &why, err);
		done += (uint64_t)n;
	}
	return 0;
}

/* A random suffix for temporary names (they never reach a bundle's bytes). */
static void tmp_suffix(char out[7])
{
	static const char al[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	static uint64_t counter;
	struct timespec ts;
	uint64_t x;

	clock_gettime(CLOCK_REALTIME, &ts);
	x = ((uint64_t)ts.tv_sec << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 16) ^
	    (++counter * 0x9e3779b97f4a7c15u);
	for (int i = 0; i < 6; i++) {
		x ^= x >> 31;
		x *= 0xbf58476d1ce4e5b9u;
		x ^= x >> 29;
		out[i] = al[x % 62];
	}
	out[6] = 0;
}

/* Create .NAME.tmp-XXXXXX beside path, O_EXCL, mode 0644 less the umask
 * (mkstemp() would make it 0600, and a bundle is no more secret than the
 * files it holds; a private writer's is 0600).  Beside it, so that the
 * rename stays in one file system. */
static int archive_file_open(struct om_bundle_writer *w, const char *path, struct om_err *err)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	size_t dirlen = (size_t)(base - path), baselen = strlen(base);
	struct stat st;
	char suffix[7];

	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0) {
		om_err_set(err, "%s: not a file name", w->disp);
		return -1;
	}
	/* Found now rather than by the rename at the very end. */
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		om_err_set(err, "%s is a directory, not an archive file", w->disp);
		return -1;
	}
	/* Room for ".", ".tmp-XXXXXX" within one component. */
	if (baselen > OM_BUNDLE_NAME_MAX - 12)
		baselen = OM_BUNDLE_NAME_MAX - 12;
	if (!(w->dest = strdup(path)) || !(w->tmp = malloc(dirlen + baselen + 13))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	/* Unnamed until the commit: a kill, even SIGKILL, leaves nothing. */
	if (dirlen) {
		char *dir = strndup(path, dirlen);
		if (!dir) {
			om_err_set(err, "out of memory");
			return -1;
		}
		w->fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, w->mode);
		free(dir);
	} else {
		w->fd = open(".", O_TMPFILE | O_WRONLY | O_CLOEXEC, w->mode);
	}
	if (w->fd >= 0) {
		w->own_fd = w->unnamed = 1;
		sprintf(w->tmp, "%.*s.%.*s.tmp-", (int)dirlen, path, (int)baselen, base);
		return 0;
	}
	/* Else (a file system without O_TMPFILE) a named temporary file. */
	sigset_t held;
	om_signals_hold(&held);
	for (int tries = 0; tries < 100; tries++) {
		tmp_suffix(suffix);
		sprintf(w->tmp, "%.*s.%.*s.tmp-%s", (int)dirlen, path, (int)baselen, base, suffix);
		w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, w->mode);
		if (w->fd >= 0 || errno != EEXIST)
			break;
	}
	if (w->fd < 0) {
		om_err_set(err, "%s: cannot create a temporary file: %s", w->disp, strerror(errno));
		om_signals_release(&held);
		free(w->tmp);
		w->tmp = NULL;
		return -1;
	}
	w->own_fd = 1;
	w->slot = slot_take(SLOT_FILE, w->tmp, NULL, w->disp, err);
	om_signals_release(&held);
	return w->slot < 0 ? -1 : 0;
}

/*
 * Remove the staging directories at the top of the bundle that a killed
 * writer left: ours by their name, and dead because no process holds the
 * flock() that every writer keeps on its staging directory while it lives
 * (a live writer's is left alone).  They hold only files.  1 when one was
 * removed, 0 when none, -1 on error.
 */
static int remove_stale_stages(struct om_bundle_writer *w, struct om_err *err)
{
	int dfd = fcntl(w->rootfd, F_DUPFD_CLOEXEC, 0), found = 0;
	DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
	struct dirent *de;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		om_err_set(err, "%s: %s", w->disp, strerror(errno));
		return -1;
	}
	while ((de = readdir(d))) {
		int sfd;
		DIR *sd;
		struct dirent *f;

		if (strncmp(de->d_name, STAGE_PREFIX, strlen(STAGE_PREFIX)) != 0 ||
		    strlen(de->d_name) != strlen(STAGE_NAME))
			continue;
		sfd = openat(w->rootfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0)
			continue;
		if (flock(sfd, LOCK_EX | LOCK_NB) < 0 || !(sd = fdopendir(sfd))) {
			close(sfd);
			continue;
		}
		while ((f = readdir(sd)))
			if (strcmp(f->d_name, ".") != 0 && strcmp(f->d_name, "..") != 0)
				unlinkat(dirfd(sd), f->d_name, 0);
		closedir(sd);
		if (unlinkat(w->rootfd, de->d_name, AT_REMOVEDIR) < 0 && errno != ENOENT) {
			om_err_set(err, "%s: cannot remove the staging directory '%s' left by a "
				   "killed writer: %s", w->disp, de->d_name, strerror(errno));
			closedir(d);
			return -1;
		}
		found = 1;
	}
	closedir(d);
	return found;
}

/* Open a directory bundle for updating (see the spec's update rule). */
static int dir_open(struct om_bundle_writer *w, const char *path, struct om_err *err)
{
	struct level *top;
	int has_marker = 0, stale, fd;

	if (!(w->root = strdup(path))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	w->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (w->rootfd < 0 && errno == ENOENT) {
		if (mkdir(path, 0777) < 0) {
			om_err_set(err, "cannot create directory %s: %s", w->disp, strerror(errno));
			return -1;
		}
		w->created_root = 1;
		w->rootfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (w->rootfd < 0) {
		/* ENOTDIR: the path itself, or one of its parents, is a file. */
		struct stat st;
		int e = errno;
		om_err_set(err, "cannot open directory %s: %s", w->disp,
			   e != ENOTDIR ? strerror(e)
			   : stat(path, &st) == 0 ? "it exists and is not a directory"
			   : "a parent is not a directory");
		return -1;
	}
	if ((stale = remove_stale_stages(w, err)) < 0)
		return -1;
	/* The walk of the old bundle closes its descriptors as it goes. */
	if ((fd = fcntl(w->rootfd, F_DUPFD_CLOEXEC, 0)) < 0) {
		om_err_set(err, "%s: %s", w->disp, strerror(errno));
		return -1;
	}
	if (!(w->old = bnd_walk_open(fd, w->disp, err)))
		return -1;
	/* Updating deletes what the new bundle lacks: never do that to a
	 * directory that does not hold a bundle, or the remains of one whose
	 * writer was killed (its staging directory was still there). */
	top = &w->old->lv[0];
	for (size_t i = 0; i < top->n; i++)
		if (!top->v[i].dir && strcmp(top->v[i].key, OM_BUNDLE_MARKER) == 0)
			has_marker = 1;
	if (top->n && !has_marker && !stale) {
		om_err_set(err, "%s is not empty and holds no bundle (no %s)", w->disp,
			   OM_BUNDLE_MARKER);
		return -1;
	}
	if (!(w->stage = malloc(strlen(path) + sizeof STAGE_NAME + 1))) {
		om_err_set(err, "out of memory");
		return -1;
	}
	sprintf(w->stage, "%s/%s", path, STAGE_NAME);
	sigset_t held;
	om_signals_hold(&held);
	if (!mkdtemp(w->stage)) {
		om_err_set(err, "%s: cannot create a staging directory: %s", w->disp,
			   strerror(errno));
		om_signals_release(&held);
		free(w->stage);
		w->stage = NULL;
		return -1;
	}
	w->slot = slot_take(SLOT_STAGE, w->stage, w->created_root ? path : NULL, w->disp, err);
	om_signals_release(&held);
	if (w->slot < 0)
		return -1;
	w->stagefd = open(w->stage, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	/* Held while we live: the mark of a live writer for the next run's
	 * remove_stale_stages().  (Another run finding the directory in the
	 * instant before the lock takes it for stale; the journal's creation
	 * below then fails, and so does this run, cleanly.) */
	if (w->stagefd >= 0 && flock(w->stagefd, LOCK_EX | LOCK_NB) < 0) {
		om_err_set(err, "%s: cannot lock the staging directory: %s", w->disp,
			   strerror(errno));
		return -1;
	}
	fd = w->stagefd < 0 ? -1 :
	     openat(w->stagefd, JOURNAL, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0 || !(w->journal = fdopen(fd, "w+"))) {
		om_err_set(err, "%s: cannot create the staging journal: %s", w->disp,
			   strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if ((w->old_has = bnd_walk_next(w->old, err)) < 0)
		return -1;
	return 0;
}

/* Staged files are numbered, so removing them needs no listing (the
 * signal handler does the same from its table). */
static void dir_cleanup(struct om_bundle_writer *w)
{
	char name[24];

	if (w->journal)
		fclose(w->journal);
	w->journal = NULL;
	if (w->stagefd >= 0) {
		for (long k = w->nstaged; k > 0; k--) {
			snprintf(name, sizeof name, "%ld", k);
			unlinkat(w->stagefd, name, 0);
		}
		unlinkat(w->stagefd, JOURNAL, 0);
		/* After a commit: an old manifest that was replaced.  (A commit
		 * that failed after moving it aside keeps it: see dir_commit.) */
		if (w->committed)
			unlinkat(w->stagefd, HELD_MARKER, 0);
		close(w->stagefd);
		w->stagefd = -1;
	}
	if (w->stage)
		rmdir(w->stage);
	if (w->rootfd >= 0)
		close(w->rootfd);
	w->rootfd = -1;
	if (w->created_root)
		rmdir(w->root);
	bnd_walk_free(w->old);
	w->old = NULL;
}

static void tar_cleanup(struct om_bundle_writer *w)
{
	/* An unfinished stream ends where it is: no end-of-archive marker,
	 * so that a failed stream does not look complete. */
	om_tarw_free(w->t);
	w->t = NULL;
	if (w->own_fd && w->fd >= 0)
		close(w->fd);
	w->fd = -1;
	if (w->tmp && !w->unnamed)
		unlink(w->tmp);
}

/*
 * Give the O_TMPFILE file its temporary name, .NAME.tmp-XXXXXX, registered
 * for the signal handler like a named one, for the instant before the
 * rename.  linkat(AT_EMPTY_PATH) needs CAP_DAC_READ_SEARCH; /proc/self/fd
 * does the same for anyone.
 */
static int tmpfile_link(struct om_bundle_writer *w, struct om_err *err)
{
	size_t n = strlen(w->tmp);
	char proc[64], suffix[7];
	sigset_t held;
	int rc = -1;

	snprintf(proc, sizeof proc, "/proc/self/fd/%d", w->fd);
	om_signals_hold(&held);
	for (int tries = 0; tries < 100; tries++) {
		tmp_suffix(suffix);
		memcpy(w->tmp + n, suffix, 7);
		rc = linkat(w->fd, "", AT_FDCWD, w->tmp, AT_EMPTY_PATH);
		if (rc < 0 && errno != EEXIST)
			rc = linkat(AT_FDCWD, proc, AT_FDCWD, w->tmp, AT_SYMLINK_FOLLOW);
		if (rc == 0 || errno != EEXIST)
			break;
		w->tmp[n] = 0;
	}
	if (rc == 0) {
		w->unnamed = 0;
		w->slot = slot_take(SLOT_FILE, w->tmp, NULL, w->disp, err);
		if (w->slot < 0)
			unlink(w->tmp);
	} else {
		om_err_set(err, "%s: cannot name the temporary file: %s", w->disp,
			   strerror(errno));
	}
	om_signals_release(&held);
	if (rc < 0 || w->slot < 0) {
		free(w->tmp);
		w->tmp = NULL;
		return -1;
	}
	return 0;
}

void om_bundle_writer_abort(struct om_bundle_writer *w)
{
	if (!w)
		return;
	if (w->form == OM_FORM_DIR)
		dir_cleanup(w);
	else
		tar_cleanup(w);
	slot_drop(w->slot);
	writer_free(w);
}

struct om_bundle_writer *om_bundle_writer_open_fd(int fd, enum om_bundle_form form,
						   const char *name, struct om_err *err)
{
	struct om_bundle_writer *w;

	if (form == OM_FORM_DIR) {
		om_err_set(err, "cannot write a directory bundle to a stream");
		return NULL;
	}
	if (!(w = writer_new(form, name, err)))
		return NULL;
	/* Not owned: the program closes standard output and checks that. */
	w->fd = fd;
	if (tar_start(w, err) < 0) {
		om_bundle_writer_abort(w);
		return NULL;
	}
	return w;
}

static struct om_bundle_writer *writer_open(const char *path, enum om_bundle_form form,
					    mode_t mode, struct om_err *err)
{
	struct om_bundle_writer *w;
	struct stat st;

	if (strcmp(path, "-") == 0)
		return om_bundle_writer_open_fd(STDOUT_FILENO, form, path, err);
	if (stat(path, &st) == 0 && S_ISCHR(st.st_mode)) {
		/* A device (-o /dev/null): a stream written into it, never
		 * replaced by a file; a tar when the name asks for no form. */
		int fd = open(path, O_WRONLY | O_CLOEXEC);
		if (fd < 0) {
			om_err_set(err, "cannot open '%s': %s", path, strerror(errno));
			return NULL;
		}
		if (isatty(fd)) {
			close(fd);
			om_err_set(err, "'%s' is a terminal: no bundle written to it", path);
			return NULL;
		}
		if (!(w = om_bundle_writer_open_fd(fd, form == OM_FORM_DIR ? OM_FORM_TAR : form,
						   path, err))) {
			close(fd);
			return NULL;
		}
		w->own_fd = 1;
		return w;
	}
	if (!(w = writer_new(form, path, err)))
		return NULL;
	w->mode = mode;
	if (form == OM_FORM_DIR ? dir_open(w, path, err) < 0 :
	    archive_file_open(w, path, err) < 0 || tar_start(w, err) < 0) {
		om_bundle_writer_abort(w);
		return NULL;
	}
	return w;
}

struct om_bundle_writer *om_bundle_writer_open_as(const char *path, enum om_bundle_form form,
						   struct om_err *err)
{
	return writer_open(path, form, 0644, err);
}

struct om_bundle_writer *om_bundle_writer_open(const char *path, struct om_err *err)
{
	return writer_open(path, om_bundle_form_for_path(path), 0644, err);
}

struct om_bundle_writer *om_bundle_writer_open_private(const char *path, struct om_err *err)
{
	return writer_open(path, om_bundle_form_for_path(path), 0600, err);
}

/* The journal keeps the pending renames and removals on disk, not in
 * memory: a full export stages hundreds of thousands of files.  A record
 * is 'R' or 'D', the path, and a NUL. */
static int journal_add(struct om_bundle_writer *w, char op, const char *path, struct om_err *err)
{
	if (op == 'D' && strcmp(path, OM_BUNDLE_MARKER) == 0)
		w->marker_gone = 1;
	if (fputc(op, w->journal) == EOF || fputs(path, w->journal) == EOF ||
	    fputc(0, w->journal) == EOF) {
		om_err_set(err, "%s: cannot write the staging journal: %s", w->disp,
			   strerror(errno));
		return -1;
	}
	return 0;
}

/* Make staging file number ++nstaged. */
static int stage_create(struct om_bundle_writer *w, const char *path, struct om_err *err)
{
	char name[24];
	int fd;

	if (w->nstaged >= INT_MAX) {
		bnd_entry_err(err, w->disp, path, "too many files");
		return -1;
	}
	/* Counted before it exists, so that a signal never misses it. */
	slots[w->slot].count = (sig_atomic_t)++w->nstaged;
	snprintf(name, sizeof name, "%ld", w->nstaged);
	if ((fd = openat(w->stagefd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, w->mode)) < 0)
		bnd_entry_err(err, w->disp, path, "cannot create a staging file: %s", strerror(errno));
	return fd;
}

/* The old file at path, when it is a regular file of exactly size bytes.
 * Any failure just means "not the same": the new file is staged, and the
 * rename at commit reports real trouble. */
static int open_same_size(struct om_bundle_writer *w, const char *path, uint64_t size)
{
	const char *leaf;
	struct stat st;
	int pfd = bnd_open_parent(w->rootfd, path, 0, &leaf), fd;

	if (pfd < 0)
		return -1;
	fd = openat(pfd, leaf, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	close(pfd);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t)st.st_size != size)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * Stage path's new bytes unless they equal the file already there.  While
 * they match nothing is written; at the first difference the matching
 * prefix is copied from the old file and the rest follows from the source,
 * so an unchanged file costs a read and is never touched.
 */
static int dir_add(struct om_bundle_writer *w, const char *path, uint64_t size,
		   om_bundle_source_fn *src, void *ctx, struct om_err *err)
{
	int oldfd, fd = -1, rc = -1;
	uint64_t done = 0;

	/* Old files that sort before path will not come again: vanished. */
	while (w->old_has > 0 && strcmp(w->old->path, path) <= 0) {
		if (strcmp(w->old->path, path) < 0 && journal_add(w, 'D', w->old->path, err) < 0)
			return -1;
		if ((w->old_has = bnd_walk_next(w->old, err)) < 0)
			return -1;
	}
	if ((oldfd = open_same_size(w, path, size)) < 0 && (fd = stage_create(w, path, err)) < 0)
		return -1;
	while (done < size) {
		size_t want = size - done < CHUNK ? (size_t)(size - done) : CHUNK;
		ssize_t n = src(ctx, w->buf, want, err);
		if (n < 0)
			goto out;
		if (n == 0) {
			bnd_entry_err(err, w->disp, path, "the source ended after %llu of %llu bytes",
				  (unsigned long long)done, (unsigned long long)size);
			goto out;
		}
		if (fd < 0) {
			/* Still equal so far: read the old file in step. */
			if (bnd_read_full(oldfd, w->buf2, (size_t)n) == n && memcmp(w->buf, w->buf2, (size_t)n) == 0) {
				done += (uint64_t)n;
				continue;
			}
			if ((fd = stage_create(w, path, err)) < 0)
				goto out;
			for (uint64_t off = 0; off < done;) {
				size_t k = done - off < CHUNK ? (size_t)(done - off) : CHUNK;
				if (pread(oldfd, w->buf2, k, (off_t)off) != (ssize_t)k ||
				    bnd_write_full(fd, w->buf2, k) < 0) {
					bnd_entry_err(err, w->disp, path, "cannot copy the old file: %s",
						  strerror(errno));
					goto out;
				}
				off += k;
			}
		}
		if (bnd_write_full(fd, w->buf, (size_t)n) < 0) {
			bnd_entry_err(err, w->disp, path, "cannot write: %s", strerror(errno));
			goto out;
		}
		done += (uint64_t)n;
	}
	if (fd >= 0) {
		int c = close(fd);
		fd = -1;
		if (c < 0) {
			bnd_entry_err(err, w->disp, path, "cannot write: %s", strerror(errno));
			goto out;
		}
		if (journal_add(w, 'R', path, err) < 0)
			goto out;
		if (strcmp(path, OM_BUNDLE_MARKER) == 0)
			w->marker_staged = w->nstaged;
	}
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	if (oldfd >= 0)
		close(oldfd);
	return rc;
}

int om_bundle_add_stream(struct om_bundle_writer *w, const char *path, uint64_t size,
			 om_bundle_source_fn *src, void *ctx, struct om_err *err)
{
	const char *why;
	size_t common, conflict = 0;
	int rc;

	if (w->failed) {
		om_err_set(err, "%s: cannot add after an earlier error", w->disp);
		return -1;
	}
	/* Set now and cleared on success: every way out below leaves a
	 * writer that takes nothing more. */
	w->failed = 1;
	if ((why = om_bundle_path_problem(path))) {
		bnd_entry_err(err, w->disp, path, "%s", why);
		return -1;
	}
	common = w->ord.have ? common_dir(w->ord.prev, path) : 0;
	if ((rc = bnd_order_push(&w->ord, path, 1, &conflict)) != ORD_OK) {
		bnd_order_err(err, w->disp, &w->ord, path, rc, conflict);
		return -1;
	}
	if (w->form == OM_FORM_DIR) {
		rc = dir_add(w, path, size, src, ctx, err);
	} else {
		rc = tar_add(w, path, common, size, src, ctx, err);
	}
	if (rc == 0)
		w->failed = 0;
	return rc;
}

/* Bytes in memory are a source like any other, so that the directory
 * comparison and the tar writer have one path each. */
static ssize_t mem_read(void *ctx, void *buf, size_t n, struct om_err *err)
{
	struct mem_source *m = ctx;

	(void)err;
	if (n > m->left)
		n = m->left;
	if (n)
		memcpy(buf, m->p, n);
	m->p += n;
	m->left -= n;
	return (ssize_t)n;
}

int om_bundle_add(struct om_bundle_writer *w, const char *path, const void *data, size_t len,
		  struct om_err *err)
{
	struct mem_source m = {data, len};

	return om_bundle_add_stream(w, path, len, mem_read, &m, err);
}

struct fd_source {
	int fd;
	const char *disp, *path;
};

static ssize_t fd_read(void *ctx, void *buf, size_t n, struct om_err *err)
{
	struct fd_source *s = ctx;

	for (;;) {
		ssize_t k = read(s->fd, buf, n);
		if (k >= 0)
			return k;
		if (errno != EINTR) {
			bnd_entry_err(err, s->disp, s->path, "cannot read the source: %s", strerror(errno));
			return -1;
		}
	}
}

int om_bundle_add_fd(struct om_bundle_writer *w, const char *path, int fd, uint64_t size,
		     struct om_err *err)
{
	struct fd_source s = {fd, w->disp, path};

	return om_bundle_add_stream(w, path, size, fd_read, &s, err);
}

/* Remove a vanished file and the directories its removal left empty.  A
 * file already gone is no error: someone else's cleanup is not ours to
 * fail on. */
static int dir_remove(struct om_bundle_writer *w, char *path, struct om_err *err)
{
	const char *leaf;
	int pfd = bnd_open_parent(w->rootfd, path, 0, &leaf), rc;
	char *slash;

	if (pfd < 0)
		return 0;
	rc = unlinkat(pfd, leaf, 0);
	close(pfd);
	if (rc < 0 && errno != ENOENT) {
		bnd_entry_err(err, w->disp, path, "cannot remove: %s", strerror(errno));
		return -1;
	}
	/* rmdir fails on a directory that still holds anything, dot-files
	 * included, which is where pruning stops. */
	while ((slash = strrchr(path, '/'))) {
		*slash = 0;
		if ((pfd = bnd_open_parent(w->rootfd, path, 0, &leaf)) < 0)
			break;
		rc = unlinkat(pfd, leaf, AT_REMOVEDIR);
		close(pfd);
		if (rc < 0)
			break;
	}
	return 0;
}

static int dir_commit(struct om_bundle_writer *w, struct om_err *err)
{
	char *rec = NULL, name[24];
	size_t cap = 0;
	long k;

	while (w->old_has > 0) {
		if (journal_add(w, 'D', w->old->path, err) < 0)
			return -1;
		if ((w->old_has = bnd_walk_next(w->old, err)) < 0)
			return -1;
	}
	if (fflush(w->journal) == EOF) {
		om_err_set(err, "%s: cannot write the staging journal: %s", w->disp,
			   strerror(errno));
		return -1;
	}
	/*
	 * No manifest at the top until the bundle is whole: the old one (if
	 * anything changes) waits in the staging directory, the new one comes
	 * last.  A commit cut short by a kill leaves no manifest, which readers
	 * refuse; the next run takes the directory as its own (the staging
	 * directory is still there) and finishes the job.
	 */
	if (ftell(w->journal) > 0 &&
	    renameat(w->rootfd, OM_BUNDLE_MARKER, w->stagefd, HELD_MARKER) < 0 && errno != ENOENT) {
		bnd_entry_err(err, w->disp, OM_BUNDLE_MARKER, "cannot move aside: %s", strerror(errno));
		goto fail;
	}
	/* Removals first: a file may replace a directory that they empty. */
	for (int pass = 0; pass < 2; pass++) {
		rewind(w->journal);
		k = 0;
		while (getdelim(&rec, &cap, 0, w->journal) > 0) {
			const char *leaf;
			int pfd;

			if (pass == 0 && rec[0] == 'D' && dir_remove(w, rec + 1, err) < 0)
				goto fail;
			if (pass == 0 || rec[0] != 'R' || ++k == w->marker_staged)
				continue;
			snprintf(name, sizeof name, "%ld", k);
			if ((pfd = bnd_open_parent(w->rootfd, rec + 1, 1, &leaf)) < 0) {
				bnd_entry_err(err, w->disp, rec + 1, "cannot create its directory: %s",
					  strerror(errno));
				goto fail;
			}
			if (renameat(w->stagefd, name, pfd, leaf) < 0) {
				bnd_entry_err(err, w->disp, rec + 1, "cannot rename into place: %s",
					  strerror(errno));
				close(pfd);
				goto fail;
			}
			close(pfd);
		}
		if (ferror(w->journal)) {
			om_err_set(err, "%s: cannot read the staging journal", w->disp);
			goto fail;
		}
	}
	/* The new manifest, or the old one back when it did not change; an
	 * old one the new bundle lacks stays removed. */
	if (w->marker_staged)
		snprintf(name, sizeof name, "%ld", w->marker_staged);
	else
		snprintf(name, sizeof name, "%s", HELD_MARKER);
	if ((w->marker_staged || !w->marker_gone) &&
	    renameat(w->stagefd, name, w->rootfd, OM_BUNDLE_MARKER) < 0 &&
	    (errno != ENOENT || w->marker_staged)) {
		bnd_entry_err(err, w->disp, OM_BUNDLE_MARKER, "cannot rename into place: %s",
			  strerror(errno));
		goto fail;
	}
	free(rec);
	/* The bundle may be empty: its directory stays all the same.  And
	 * the staged files are all gone. */
	w->created_root = 0;
	w->nstaged = 0;
	w->committed = 1;
	return 0;
fail:
	free(rec);
	return -1;
}

/* Write the end of the archive and, for a file, put it in place. */
static int tar_commit(struct om_bundle_writer *w, struct om_err *err)
{
	struct om_err why;
	char *slash;
	int dfd;

	if (om_tarw_finish(w->t, &why) < 0) {
		om_err_set(err, "%s: cannot write: %s", w->disp, bnd_msg_style(why.msg));
		return -1;
	}
	if (!w->tmp) {
		/* A device opened here: its close can fail too. */
		if (w->own_fd && close(w->fd) < 0) {
			w->fd = -1;
			om_err_set(err, "%s: cannot write: %s", w->disp, strerror(errno));
			return -1;
		}
		if (w->own_fd)
			w->fd = -1;
		return 0;
	}
	/* Data on disk before the name: else a crash could leave an empty
	 * file under the final name. */
	if (fsync(w->fd) < 0) {
		om_err_set(err, "%s: cannot write: %s", w->disp, strerror(errno));
		return -1;
	}
	if (w->unnamed && tmpfile_link(w, err) < 0)
		return -1;
	if (close(w->fd) < 0) {
		w->fd = -1;
		om_err_set(err, "%s: cannot write: %s", w->disp, strerror(errno));
		return -1;
	}
	w->fd = -1;
	if (rename(w->tmp, w->dest) < 0) {
		om_err_set(err, "%s: cannot rename the temporary file into place: %s", w->disp,
			   strerror(errno));
		return -1;
	}
	free(w->tmp);
	w->tmp = NULL;
	/* The rename itself reaches the disk with the directory. */
	slash = strrchr(w->dest, '/');
	if (slash == w->dest)
		dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	else if (slash) {
		*slash = 0;
		dfd = open(w->dest, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		*slash = '/';
	} else {
		dfd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	if (dfd >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return 0;
}

int om_bundle_writer_commit(struct om_bundle_writer *w, struct om_err *err)
{
	int rc;

	if (w->failed) {
		om_err_set(err, "%s: not written after an earlier error", w->disp);
		om_bundle_writer_abort(w);
		return -1;
	}
	rc = w->form == OM_FORM_DIR ? dir_commit(w, err) : tar_commit(w, err);
	/* After a commit nothing temporary is left, so abort only frees; after
	 * a failed one it removes what is left. */
	om_bundle_writer_abort(w);
	return rc;
}

