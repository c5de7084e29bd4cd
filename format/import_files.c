/*
 * import_files.c - om-import: the home files.
 *
 * A written document's file goes to the home directory: staged under a
 * temporary directory (removed on a signal, om_import_cleanup_on_signal()),
 * claimed, and placed after the commit.
 */
#include "import.h"
#include "sigs.h"

#include <errno.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "names.h"

#include "import_int.h"

/* ---- files ---- */

/* Fill the last component of a pattern with the document's members, each
 * escaped as a name (names.h); NULL when a member is missing. */
static char *fill_last(struct imp *x, const char *pat, json_t *doc, int escape)
{
	struct om_buf out = {0};
	const char *p = strrchr(pat, '/');
	int first = 1;
	size_t stem = 0; /* where the last placeholder ends */

	p = p ? p + 1 : pat;
	while (*p) {
		if (*p != '{') {
			om_buf_add(&out, p++, 1);
			first = 0;
			continue;
		}
		const char *e = strchr(p, '}');
		char m[64];
		snprintf(m, sizeof m, "%.*s", (int)(e - p - 1), p + 1);
		json_t *v = json_object_get(doc, m);
		const char *s = json_string_value(v);
		if (!s) {
			free(out.p);
			return NULL;
		}
		if (escape) {
			char *c = om_name_component(s, strlen(s), first ? 0 : OM_NAME_INSIDE, x->err);
			if (!c) {
				free(out.p);
				return NULL;
			}
			om_buf_adds(&out, c);
			free(c);
		} else {
			om_buf_adds(&out, s);
		}
		first = 0;
		p = e + 1;
		stem = out.len;
	}
	if (!out.p)
		out.p = strdup("");
	else if (escape) /* as om-export holds it to the length of a name */
		out.p[om_name_fit(out.p, out.len, stem)] = 0;
	return out.p;
}

/* The home path of a document's file: the model's pattern with the
 * target's values; every member must be a plain name. */
static char *home_path(struct imp *x, const struct om_kind *k, json_t *doc)
{
	struct om_buf out = {0};

	om_buf_adds(&out, x->o->home);
	om_buf_adds(&out, "/");
	for (const char *p = k->file; *p;) {
		if (*p != '{') {
			om_buf_add(&out, p++, 1);
			continue;
		}
		const char *e = strchr(p, '}');
		char m[64];
		snprintf(m, sizeof m, "%.*s", (int)(e - p - 1), p + 1);
		const char *s = json_string_value(json_object_get(doc, m));
		if (!s || !*s || strchr(s, '/') || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) {
			free(out.p);
			return NULL;
		}
		om_buf_adds(&out, s);
		p = e + 1;
	}
	return out.p;
}

static struct file *find_file(struct bundle *b, const char *path)
{
	for (size_t i = 0; i < b->nfiles; i++)
		if (strcmp(b->files[i].path, path) == 0)
			return &b->files[i];
	return NULL;
}

static int mkdirs(const char *path)
{
	char *p = strdup(path);

	if (!p)
		return -1;
	for (char *s = p + 1; *s; s++)
		if (*s == '/') {
			*s = 0;
			if (mkdir(p, 0755) < 0 && errno != EEXIST) {
				free(p);
				return -1;
			}
			*s = '/';
		}
	free(p);
	return 0;
}

/*
 * The staging directory, for om_import_cleanup_on_signal(): its path with
 * a final '/', and how many names (0, 1, ...) may be files in it.  A name
 * is counted before its file is made, so that the handler may try to
 * remove a file that is not there yet, never miss one.
 */
static struct {
	volatile sig_atomic_t active;
	volatile sig_atomic_t count;
	size_t len;
	char dir[PATH_MAX];
} staged;

void om_import_cleanup_on_signal(void)
{
	/* unlink(), rmdir() and memcpy() only: async-signal-safe. */
	char p[PATH_MAX + 24];

	if (!staged.active)
		return;
	memcpy(p, staged.dir, staged.len);
	for (long k = staged.count - 1; k >= 0; k--) {
		char digits[24];
		size_t d = sizeof digits;
		long v = k;
		do
			digits[--d] = (char)('0' + v % 10);
		while ((v /= 10) > 0);
		memcpy(p + staged.len, digits + d, sizeof digits - d);
		p[staged.len + sizeof digits - d] = 0;
		unlink(p);
	}
	p[staged.len - 1] = 0;
	rmdir(p);
}

/* The staging directory is no more the handler's business. */
void imp_staged_forget(void)
{
	staged.active = 0;
	atomic_signal_fence(memory_order_seq_cst);
}

/* Make the staging directory in the home, known to the signal handler
 * before a signal can see it made. */
static int stage_dir(struct imp *x)
{
	size_t n = strlen(x->o->home) + 32;
	sigset_t held;
	int ok;

	if (n >= sizeof staged.dir) {
		om_err_set(x->err, "'%s': path too long", x->o->home);
		return -1;
	}
	if (!(x->home_dir = malloc(n)))
		return imp_oom(x);
	snprintf(x->home_dir, n, "%s/.om-import-XXXXXX", x->o->home);
	om_signals_hold(&held);
	ok = mkdtemp(x->home_dir) != NULL;
	if (ok) {
		staged.len = strlen(x->home_dir) + 1;
		memcpy(staged.dir, x->home_dir, staged.len - 1);
		staged.dir[staged.len - 1] = '/';
		staged.count = 0;
		atomic_signal_fence(memory_order_seq_cst);
		staged.active = 1;
	}
	om_signals_release(&held);
	if (!ok) {
		om_err_set(x->err, "'%s': cannot make a temporary directory: %s", x->o->home,
			   strerror(errno));
		free(x->home_dir);
		x->home_dir = NULL;
		return -1;
	}
	return 0;
}

/* Copy a file entry from the spool to a temporary name in the home. */
static int stage_file(struct imp *x, struct file *f)
{
	char name[64], buf[65536];
	int fd;

	if (!x->home_dir && stage_dir(x) < 0)
		return -1;
	staged.count = (sig_atomic_t)(x->nhome + 1);
	atomic_signal_fence(memory_order_seq_cst);
	snprintf(name, sizeof name, "/%lu", x->nhome++);
	if (!(f->home_tmp = malloc(strlen(x->home_dir) + strlen(name) + 1)))
		return imp_oom(x);
	strcpy(f->home_tmp, x->home_dir);
	strcat(f->home_tmp, name);
	if ((fd = open(f->home_tmp, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0) {
		om_err_set(x->err, "'%s': %s", f->home_tmp, strerror(errno));
		return -1;
	}
	for (uint64_t at = 0; at < f->size;) {
		size_t n = f->size - at > sizeof buf ? sizeof buf : (size_t)(f->size - at);
		if (imp_spool_read(x, f->off + (off_t)at, buf, n) < 0 || write(fd, buf, n) != (ssize_t)n) {
			if (!x->err->msg[0] || errno)
				om_err_set(x->err, "'%s': %s", f->home_tmp, strerror(errno));
			close(fd);
			return -1;
		}
		at += n;
	}
	if (close(fd) < 0) {
		om_err_set(x->err, "'%s': %s", f->home_tmp, strerror(errno));
		return -1;
	}
	return 0;
}

/* Pair every file entry with its document; files of written documents
 * are staged in the home directory, and so are those of unchanged
 * documents that are missing there (an import killed after its commit). */
int imp_claim_files(struct imp *x)
{
	struct bundle *b = x->b;
	int nohome_warned = 0;
	unsigned long restored = 0;

	for (size_t i = 0; i < b->ndocs; i++) {
		struct doc *d = &b->docs[i];
		const struct om_kind *k = d->kind;
		const char *slash = strrchr(d->path, '/');
		char *last, *path;
		struct file *f;
		json_t *doc;
		int r, restore;
		if (!k->file || !k->bundle_file)
			continue;
		if (!(doc = imp_load_doc(x, d)))
			return -1;
		last = fill_last(x, k->bundle_file, doc, 1);
		if (!last) {
			json_decref(doc);
			continue;
		}
		if (!(path = malloc(strlen(d->path) + strlen(last) + 2))) {
			free(last);
			json_decref(doc);
			return imp_oom(x);
		}
		sprintf(path, "%.*s%s", slash ? (int)(slash - d->path + 1) : 0, d->path, last);
		free(last);
		f = find_file(b, path);
		free(path);
		if (!f) {
			json_decref(doc);
			continue;
		}
		f->claimed = 1;
		restore = !d->written && d->action == OM_IMPORT_UNCHANGED && x->o->home;
		if (!restore && (!d->written || x->o->dry_run)) {
			json_decref(doc);
			continue;
		}
		if (!x->o->home) {
			if (!nohome_warned++)
				imp_warn(x, "'%s': the bundle holds files: without --home they are "
				     "not imported", b->name);
			json_decref(doc);
			continue;
		}
		/* The file's name in the target, with the target's Ids. */
		json_object_set_new(doc, OM_MEMBER_ID, json_string(d->dst_id));
		x->refs_again = 1;
		r = imp_remap_refs(x, d, doc);
		x->refs_again = 0;
		if (r < 0) {
			json_decref(doc);
			return -1;
		}
		f->home_dst = home_path(x, k, doc);
		json_decref(doc);
		if (restore) {
			struct stat st;
			if (!f->home_dst || lstat(f->home_dst, &st) == 0 || errno != ENOENT) {
				free(f->home_dst);
				f->home_dst = NULL;
				continue;
			}
			restored++;
			if (x->o->dry_run)
				continue;
		}
		if (!f->home_dst)
			return imp_doc_err(x, d, "its file cannot be named in the home directory");
		if (stage_file(x, f) < 0)
			return -1;
	}
	if (restored)
		imp_warn(x, "'%s': %lu file%s of documents the target already holds %s missing from "
		     "the home directory: %s", b->name, restored, restored == 1 ? "" : "s",
		     restored == 1 ? "was" : "were", !x->o->dry_run ? "put back" :
		     restored == 1 ? "an import puts it back" : "an import puts them back");
	for (size_t i = 0; i < b->nfiles; i++) {
		struct file *f = &b->files[i];
		if (f->claimed)
			continue;
		om_err_set(x->err, "'%s': entry '%s': %s", b->name, f->path,
			   f->problem ? f->problem : "neither a document nor the file of one");
		return -1;
	}
	return 0;
}

/* After the commit: the staged files to their places. */
int imp_place_files(struct imp *x, struct bundle *b)
{
	for (size_t i = 0; i < b->nfiles; i++) {
		struct file *f = &b->files[i];
		if (!f->home_tmp)
			continue;
		if (mkdirs(f->home_dst) < 0 || rename(f->home_tmp, f->home_dst) < 0) {
			om_err_set(x->err, "'%s': %s (the import is committed; this file is missing)",
				   f->home_dst, strerror(errno));
			return -1;
		}
		free(f->home_tmp);
		f->home_tmp = NULL;
	}
	return 0;
}

void imp_unstage_files(struct bundle *b)
{
	for (size_t i = 0; i < b->nfiles; i++)
		if (b->files[i].home_tmp) {
			unlink(b->files[i].home_tmp);
			free(b->files[i].home_tmp);
			b->files[i].home_tmp = NULL;
		}
}
