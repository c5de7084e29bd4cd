/*
 * diff.c - om_diff_bundles() (diff.h): the driver of the two passes.  Pass
 * 1 reads both bundles side by side in path order, keeps the Id-to-path
 * index (diffindex.h) and spools the files that differ; pass 2 reads the
 * spool back and compares each pair, documents in diffdoc.c and text files
 * in diffline.c (diffint.h says who owns what).
 */
#include "diff.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "buf.h"
#include "bundle.h"
#include "bundlecheck.h"
#include "canon.h"
#include "diffindex.h"
#include "diffint.h"
#include "diffline.h"
#include "manifest.h"
#include "model.h"
#include "names.h"
#include "pwcrypt.h"
#include "seal.h"
#include "token.h"

/* ---- names for people ---- */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Append the unescaped name of the path component s[0..n). */
static int add_component(struct om_buf *b, const char *s, size_t n)
{
	char *c = diff_dupn(s, n), *u;
	int r;

	if (!c)
		return -1;
	u = om_name_unescape(c, NULL);
	r = om_buf_adds(b, u ? u : c);
	free(u);
	free(c);
	return r;
}

/* The path component before the one at c (which is not the first). */
static const char *component_before(const char *path, const char *c)
{
	const char *p = c - 1;

	while (p > path && p[-1] != '/')
		p--;
	return p;
}

/*
 * The readable name of the document at path, of kind k (NULL: a file):
 * the last component less ".json"; for a kind that makes a directory
 * (a project's project.json) that directory's name; for a document of a
 * fixed file name under its owner (variables.json) "Owner/variables".  A
 * file is named with the directory of the document it belongs to:
 * "Acme Web/Deploy.sh" for scripts/Deploy.sh, "<task>/log.txt".
 */
int diff_display_name(struct om_buf *b, const char *path, const struct om_kind *k)
{
	const char *last = strrchr(path, '/'), *prev = NULL;
	size_t n;

	last = last ? last + 1 : path;
	if (last > path)
		prev = component_before(path, last);
	n = strlen(last);
	if (!k && prev) {
		/* A script's or an artifact's file: the document's directory
		 * is above the scripts/ or artifacts/ directory. */
		size_t pl = (size_t)(last - 1 - prev);
		const char *dir = prev;
		if (dir > path && ((pl == 7 && memcmp(dir, "scripts", 7) == 0) ||
				   (pl == 9 && memcmp(dir, "artifacts", 9) == 0)))
			dir = component_before(path, dir);
		if (add_component(b, dir, (size_t)(strchr(dir, '/') - dir)) < 0 ||
		    om_buf_add(b, "/", 1) < 0)
			return -1;
		return add_component(b, last, n);
	}
	if (k && n > 5 && strcmp(last + n - 5, ".json") == 0)
		n -= 5;
	if (k && prev && (k->dir || !strchr(k->path, '{'))) {
		if (add_component(b, prev, (size_t)(last - 1 - prev)) < 0)
			return -1;
		if (k->dir)
			return 0;
		if (om_buf_add(b, "/", 1) < 0)
			return -1;
	}
	return add_component(b, last, n);
}

/* ---- reading both bundles: pass 1 ---- */

/* A spool record: flags, then the path and the bytes of each side. */
enum { HAS_A = 1, HAS_B = 2, LARGE = 4 };

struct rec_head {
	uint32_t flags;
	uint32_t pathlen;
	uint64_t len[2];
};




static int side_next(struct differ *d, int i)
{
	struct side *s = &d->s[i];
	int r;

	free(s->buf);
	s->buf = NULL;
	s->len = 0;
	r = om_bundle_next(s->r, &s->e, d->err);
	if (r < 0)
		return -1;
	s->have = r;
	return 0;
}

/* Read the current entry of side i whole (it is at most MAX_DOC bytes). */
static int side_read(struct differ *d, int i)
{
	struct side *s = &d->s[i];

	if (s->buf)
		return 0;
	return om_bundle_read_all(s->r, MAX_DOC, &s->buf, &s->len, d->err);
}

int diff_is_json(const char *path)
{
	return ends_with(path, ".json");
}

/* The first occurrence of needle in hay (memmem is not POSIX). */
static const char *find(const char *hay, size_t n, const char *needle, size_t m)
{
	for (size_t i = 0; n >= m && i <= n - m;) {
		const char *p = memchr(hay + i, needle[0], n - m + 1 - i);
		if (!p)
			return NULL;
		if (memcmp(p, needle, m) == 0)
			return p;
		i = (size_t)(p - hay) + 1;
	}
	return NULL;
}

/* The top-level Id of a document.  Canonical text has it on a line of
 * its own at two spaces of indent, found without parsing; anything else is
 * parsed (and refused when it is not JSON).  *id NULL: none. */
static int doc_id(struct differ *d, int i, const char *path, char **id, size_t *idlen)
{
	struct side *s = &d->s[i];
	const char *p = find(s->buf, s->len, "\n  \"Id\": \"", 10);
	struct om_canon *c = d->c[i];
	om_canon_node n;

	*id = NULL;
	*idlen = 0;
	if (p && s->buf[0] == '{') {
		const char *v = p + 10, *end = memchr(v, '"', s->len - (size_t)(v - s->buf));
		if (end && !memchr(v, '\\', (size_t)(end - v))) {
			*id = (char *)v;
			*idlen = (size_t)(end - v);
			return 0;
		}
	}
	if (om_canon_parse(c, s->buf, s->len, d->err) < 0) {
		om_err_prefix(d->err, "'%s': entry '%s'", s->name, path);
		return -1;
	}
	n = om_canon_get(c, om_canon_root(c), OM_MEMBER_ID);
	if (om_canon_type(c, n) == OM_CANON_STRING) {
		const char *v = om_canon_str(c, n, idlen);
		/* Copied into the side's buffer space: the tree is reused. */
		*id = (char *)v;
	}
	return 0;
}

/* The manifest, checked as every program checks it (bundlecheck.h): a
 * bundle of another format is not compared.  Its Secrets member is kept as
 * sorted compact JSON. */
static int read_manifest(struct differ *d, int i)
{
	struct side *s = &d->s[i];
	struct om_manifest m = OM_MANIFEST_INIT;

	if (om_manifest_parse(&m, d->c[i], s->buf, s->len, d->err) < 0) {
		om_err_prefix(d->err, "'%s': entry 'manifest.json'", s->name);
		return -1;
	}
	if (om_manifest_check(m.json, s->name, d->err) < 0) {
		om_manifest_release(&m);
		return -1;
	}
	s->manifest = 1;
	s->state = m.state;
	if (json_object_get(m.json, "Secrets"))
		s->secrets = json_dumps(json_object_get(m.json, "Secrets"),
					JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	om_manifest_release(&m);
	return 0;
}

struct elemwalk {
	struct differ *d;
	int side;
	const struct om_elemset *set;
	struct om_buf b;
	int failed;
};

/* Note an element of a holder document: its Id -> kind, path and name.
 * Control bytes of the name (which would clash with the markers) are
 * written as \u00XX. */
static int elem_hit(const struct om_chit *hit, void *vctx)
{
	struct elemwalk *w = vctx;
	struct side *s = &w->d->s[w->side];
	struct om_canon *c = w->d->c[w->side];
	om_canon_node id = om_canon_get(c, hit->node, OM_MEMBER_ID);
	om_canon_node nm = om_canon_get(c, hit->node, w->set->name);
	size_t il, nl;
	const char *is, *ns;
	int r;

	if (om_canon_type(c, id) != OM_CANON_STRING || om_canon_type(c, nm) != OM_CANON_STRING)
		return 0;
	is = om_canon_str(c, id, &il);
	ns = om_canon_str(c, nm, &nl);
	if (!il || memchr(is, 0, il))
		return 0;
	w->b.len = 0;
	r = om_buf_adds(&w->b, w->set->kind->name) < 0 || om_buf_add(&w->b, "\x1d", 1) < 0 ||
	    om_buf_adds(&w->b, s->e.path) < 0 || om_buf_add(&w->b, "\x1e", 1) < 0;
	for (size_t j = 0; j < nl && !r; j++) {
		char e[8];
		if ((unsigned char)ns[j] < 0x20) {
			snprintf(e, sizeof e, "\\u%04x", (unsigned char)ns[j]);
			r = om_buf_adds(&w->b, e) < 0;
		} else {
			r = om_buf_add(&w->b, ns + j, 1) < 0;
		}
	}
	if (r || pmap_put(&s->elems, is, il, w->b.p) < 0) {
		w->failed = 1;
		return 1;
	}
	return 0;
}

/* When the current entry of side i (a document whose Id is id) holds
 * elements that references name, note them (the document is parsed for it,
 * even when its bytes are equal on both sides). */
static int note_elems(struct differ *d, int i, const char *id)
{
	const struct om_kind *k = om_kind_of_id(id);
	struct elemwalk w = {d, i, NULL, {0}, 0};
	int parsed = 0, r = 0;

	for (size_t j = 0; k && j < d->nsets && r == 0; j++) {
		if (d->sets[j].kind != k)
			continue;
		if (!parsed && om_canon_parse(d->c[i], d->s[i].buf, d->s[i].len, d->err) < 0) {
			om_err_prefix(d->err, "'%s': entry '%s'", d->s[i].name, d->s[i].e.path);
			r = -1;
			break;
		}
		parsed = 1;
		w.set = &d->sets[j];
		r = om_canon_path_walk(d->c[i], om_canon_root(d->c[i]), w.set->path, NULL, elem_hit,
				       &w, d->err);
	}
	om_buf_release(&w.b);
	if (w.failed)
		om_err_set(d->err, "out of memory");
	return w.failed || r < 0 ? -1 : 0;
}

/* Record the current entry of side i: its Id in the map, its elements, the
 * manifest. */
static int side_note(struct differ *d, int i, char **id)
{
	struct side *s = &d->s[i];
	char *v;
	size_t vlen;
	int put = 0;
	char code[PCODE + 1];

	*id = NULL;
	s->unmapped = 0;
	/* A .json entry too large to load is a file only where a home file may
	 * be; elsewhere side_read() refuses it, as om-store check-bundle does. */
	if (!diff_is_json(s->e.path) || (s->e.size > MAX_DOC && om_model_may_be_file(s->e.path)))
		return 0;
	if (side_read(d, i) < 0)
		return -1;
	if (strcmp(s->e.path, OM_BUNDLE_MARKER) == 0)
		return read_manifest(d, i);
	if (doc_id(d, i, s->e.path, &v, &vlen) < 0)
		return -1;
	s->unmapped = !v;
	if (v && (ptab_intern(&d->paths, s->e.path, code) < 0 ||
		  (put = pmap_put(&s->map, v, vlen, code)) < 0 || !(*id = diff_dupn(v, vlen)))) {
		om_err_set(d->err, "out of memory");
		return -1;
	}
	if (put == 1)
		s->unmapped = 1;
	if (*id && note_elems(d, i, *id) < 0) {
		free(*id);
		*id = NULL;
		return -1;
	}
	return 0;
}

static int spool_write(struct differ *d, const void *p, size_t n)
{
	if (n && fwrite(p, 1, n, d->out) != n) {
		om_err_set(d->err, "cannot write a temporary file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Write one record to the spool: the path and the held bytes of the sides
 * in flags (none when LARGE: then only the sizes). */
static int spool_rec(struct differ *d, const char *path, unsigned flags, const uint64_t size[2])
{
	struct rec_head h = {flags, (uint32_t)strlen(path), {0, 0}};

	for (int i = 0; i < 2; i++)
		if (flags & (HAS_A << i))
			h.len[i] = (flags & LARGE) ? size[i] : d->s[i].len;
	if (spool_write(d, &h, sizeof h) < 0 || spool_write(d, path, h.pathlen) < 0)
		return -1;
	if (!(flags & LARGE))
		for (int i = 0; i < 2; i++)
			if ((flags & (HAS_A << i)) && spool_write(d, d->s[i].buf, d->s[i].len) < 0)
				return -1;
	return 0;
}

/* An entry of side i only. */
static int only_one(struct differ *d, int i)
{
	struct side *s = &d->s[i];
	uint64_t size[2] = {0, 0};
	unsigned flags = (unsigned)HAS_A << i;
	char *id = NULL;
	off_t off;

	if (side_note(d, i, &id) < 0)
		return -1;
	if (s->e.size > MAX_DOC) {
		flags |= LARGE;
		size[i] = s->e.size;
	} else if (side_read(d, i) < 0) {
		free(id);
		return -1;
	}
	if ((off = ftello(d->out)) < 0 || spool_rec(d, s->e.path, flags, size) < 0) {
		free(id);
		if (off < 0)
			om_err_set(d->err, "temporary file: %s", strerror(errno));
		return -1;
	}
	if (om_array_grow(&s->lone, &s->caplone, s->nlone, 1, sizeof *s->lone) < 0) {
		free(id);
		om_err_set(d->err, "out of memory");
		return -1;
	}
	s->lone[s->nlone] = (struct lone){off, id, strdup(s->e.path), 0};
	if (!s->lone[s->nlone].path) {
		free(id);
		om_err_set(d->err, "out of memory");
		return -1;
	}
	s->nlone++;
	return 0;
}

/* Read exactly n bytes (fewer only at the entry's end). */
static ssize_t read_full(struct om_bundle_reader *r, char *buf, size_t n, struct om_err *err)
{
	size_t got = 0;

	while (got < n) {
		ssize_t k = om_bundle_read(r, buf + got, n - got, err);
		if (k < 0)
			return -1;
		if (k == 0)
			break;
		got += (size_t)k;
	}
	return (ssize_t)got;
}

/* Keep the path of an equal document that is in no map, for pass1b(). */
static int note_unmapped(struct differ *d, const char *path)
{
	if (d->nunmapped == d->capunmapped) {
		size_t cap = d->capunmapped ? d->capunmapped * 2 : 16;
		char **v = realloc(d->unmapped, cap * sizeof *v);
		if (!v)
			goto nomem;
		d->unmapped = v;
		d->capunmapped = cap;
	}
	if (!(d->unmapped[d->nunmapped] = strdup(path)))
		goto nomem;
	d->nunmapped++;
	return 0;
nomem:
	om_err_set(d->err, "out of memory");
	return -1;
}

/* Two large entries of the same size: equal bytes?  1 yes, 0 no, -1 error. */
static int stream_equal(struct differ *d)
{
	static char a[65536], b[65536];

	for (;;) {
		ssize_t na = read_full(d->s[0].r, a, sizeof a, d->err), nb;
		if (na < 0 || (nb = read_full(d->s[1].r, b, sizeof b, d->err)) < 0)
			return -1;
		if (na != nb || memcmp(a, b, (size_t)na) != 0)
			return 0;
		if (na == 0)
			return 1;
	}
}

/* The same path on both sides. */
static int both(struct differ *d)
{
	struct side *a = &d->s[0], *b = &d->s[1];
	uint64_t size[2] = {a->e.size, b->e.size};
	char *ida = NULL, *idb = NULL;
	int r = -1;

	if (side_note(d, 0, &ida) < 0 || side_note(d, 1, &idb) < 0)
		goto out;
	if (a->e.size > MAX_DOC || b->e.size > MAX_DOC) {
		int eq = a->e.size == b->e.size ? stream_equal(d) : 0;
		if (eq < 0)
			goto out;
		r = eq ? 0 : spool_rec(d, a->e.path, HAS_A | HAS_B | LARGE, size);
		goto out;
	}
	if (a->e.size == b->e.size) {
		/* Identical bytes: skipped without parsing. */
		if (side_read(d, 0) < 0 || side_read(d, 1) < 0)
			goto out;
		if (memcmp(a->buf, b->buf, a->len) == 0) {
			r = d->by_path && diff_is_json(a->e.path) && (a->unmapped || b->unmapped) ?
				    note_unmapped(d, a->e.path) : 0;
			goto out;
		}
	}
	if (side_read(d, 0) < 0 || side_read(d, 1) < 0)
		goto out;
	r = spool_rec(d, a->e.path, HAS_A | HAS_B, size);
out:
	free(ida);
	free(idb);
	return r;
}

static int pass1(struct differ *d)
{
	if (side_next(d, 0) < 0 || side_next(d, 1) < 0)
		return -1;
	while (d->s[0].have || d->s[1].have) {
		int c = !d->s[0].have ? 1 : !d->s[1].have ? -1 : strcmp(d->s[0].e.path, d->s[1].e.path);
		if (c < 0) {
			if (only_one(d, 0) < 0 || side_next(d, 0) < 0)
				return -1;
		} else if (c > 0) {
			if (only_one(d, 1) < 0 || side_next(d, 1) < 0)
				return -1;
		} else {
			if (both(d) < 0 || side_next(d, 0) < 0 || side_next(d, 1) < 0)
				return -1;
		}
	}
	for (int i = 0; i < 2; i++)
		if (!d->s[i].manifest)
			return om_manifest_check(NULL, d->s[i].name, d->err);
	if (fflush(d->spool) != 0) {
		om_err_set(d->err, "cannot write a temporary file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Open side i's reader (again): a copy of standard input is reread. */
static int side_open(struct differ *d, int i)
{
	om_bundle_reader_close(d->s[i].r);
	d->s[i].r = NULL;
	d->s[i].have = 0;
	if (d->fd[i] >= 0) {
		if (lseek(d->fd[i], 0, SEEK_SET) < 0) {
			om_err_set(d->err, "cannot read a temporary file: %s", strerror(errno));
			return -1;
		}
		d->s[i].r = om_bundle_reader_open_fd(d->fd[i], d->s[i].name, NULL, d->err);
	} else {
		d->s[i].r = om_bundle_reader_open(d->s[i].name, d->err);
	}
	return d->s[i].r ? 0 : -1;
}

/* Does canonical text name a moved document or element: an Id of d->moved
 * as a JSON string, an item of a comma-separated list, or before a '/' (a
 * tag's set)? */
static int names_moved(const struct differ *d, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		size_t j, a;
		if (p[i] != '"')
			continue;
		for (j = i + 1; j < n && p[j] != '"'; j++)
			if (p[j] == '\\')
				j++;
		if (j > i + 1 && pmap_get(&d->moved, p + i + 1, j - i - 1))
			return 1;
		for (a = i + 1; a < j;) {
			size_t e = a;
			while (e < j && p[e] != ',' && p[e] != '/')
				e++;
			size_t s0 = a, e0 = e;
			while (s0 < e0 && p[s0] == ' ')
				s0++;
			while (e0 > s0 && p[e0 - 1] == ' ')
				e0--;
			if (e0 > s0 && pmap_get(&d->moved, p + s0, e0 - s0))
				return 1;
			a = e + 1;
		}
		i = j;
	}
	return 0;
}

/*
 * A document whose bytes are equal may still read differently when a
 * document it names was renamed (same Id, other path).  When there are such
 * renames, both bundles are read again and the equal documents that name a
 * renamed one are kept too (in a second temporary file, also in path order).
 */
static int pass1b_stream(struct differ *d)
{
	struct side *a = &d->s[0], *b = &d->s[1];

	d->out = d->spool2;
	if (side_open(d, 0) < 0 || side_open(d, 1) < 0 || side_next(d, 0) < 0 || side_next(d, 1) < 0)
		return -1;
	while (a->have && b->have) {
		int c = strcmp(a->e.path, b->e.path);
		if (c == 0 && diff_is_json(a->e.path) && a->e.size == b->e.size && a->e.size <= MAX_DOC) {
			if (side_read(d, 0) < 0 || side_read(d, 1) < 0)
				return -1;
			if (memcmp(a->buf, b->buf, a->len) == 0 && names_moved(d, a->buf, a->len)) {
				uint64_t size[2] = {a->e.size, b->e.size};
				if (spool_rec(d, a->e.path, HAS_A | HAS_B, size) < 0)
					return -1;
			}
		}
		if ((c <= 0 && side_next(d, 0) < 0) || (c >= 0 && side_next(d, 1) < 0))
			return -1;
	}
	if (fflush(d->spool2) != 0) {
		om_err_set(d->err, "cannot write a temporary file: %s", strerror(errno));
		return -1;
	}
	return 0;
}

/* Can a document of kind k name a document or element of d->moved?  Only
 * its references (the model's, and its SpaceId) are compared by what they
 * name, so only a kind with a reference to a kind that moved (or to any
 * kind), or to an element when one moved, can read differently. */
static int kind_may_name_moved(const struct differ *d, const struct om_kind *k)
{
	const struct om_kind *space = om_space_kind();

	if (!k || d->moved_unknown)
		return 1;
	if (k->scope != OM_SERVER && space && d->moved_kinds[space - om_kinds])
		return 1;
	for (size_t j = 0; j < k->nrefs; j++) {
		const struct om_ref *r = &k->refs[j];
		const struct om_kind *t[8];
		int nt = om_ref_targets(r, t, 8);
		if (!r->target || ((r->form == OM_REF_TAG || r->form == OM_REF_INNER) && d->moved_elem))
			return 1;
		for (int a = 0; a < nt; a++)
			if (d->moved_kinds[t[a] - om_kinds])
				return 1;
	}
	return 0;
}

/* Read the document at path in both directory bundles; when A's names a
 * moved document or element and B's bytes are the same, keep it in
 * spool2. */
static int recheck_at(struct differ *d, const char *path)
{
	struct side *sa = &d->s[0], *sb = &d->s[1];
	int rc = -1;

	/* B is read only for a document of A that names a moved one. */
	if (om_bundle_read_at(sa->r, path, MAX_DOC, &sa->buf, &sa->len, d->err) < 0)
		goto out;
	if (!names_moved(d, sa->buf, sa->len)) {
		rc = 0;
		goto out;
	}
	if (om_bundle_read_at(sb->r, path, MAX_DOC, &sb->buf, &sb->len, d->err) < 0)
		goto out;
	if (sa->len == sb->len && memcmp(sa->buf, sb->buf, sa->len) == 0) {
		uint64_t size[2] = {sa->len, sb->len};
		if (spool_rec(d, path, HAS_A | HAS_B, size) < 0)
			goto out;
	}
	rc = 0;
out:
	for (int i = 0; i < 2; i++) {
		free(d->s[i].buf);
		d->s[i].buf = NULL;
		d->s[i].len = 0;
	}
	return rc;
}

/*
 * pass1b() for two directory bundles: only the documents at the same path
 * on both sides whose kind may name a moved one (and the equal documents in
 * no map) are read again, by path, in path order.  A's map holds its
 * documents in the order pass1() met them, which is path order, and so
 * does the list of those in no map: the two are merged as they go, and
 * nothing is held for all of them.
 */
static int pass1b_at(struct differ *d)
{
	const struct pmap *a = &d->s[0].map;
	struct om_buf path = {0};
	size_t off = 0, u = 0;
	int rc = -1;

	d->out = d->spool2;
	for (;;) {
		const char *next = NULL;
		path.len = 0;
		while (off < a->alen && !next) {
			const char *id = a->arena + off, *pa = id + strlen(id) + 1;
			const char *pb = pmap_get(&d->s[1].map, id, strlen(id));
			off = (size_t)(pa - a->arena) + strlen(pa) + 1;
			if (!pb || strcmp(pa, pb) != 0 || !kind_may_name_moved(d, om_kind_of_id(id)))
				continue;
			if (ptab_path(&d->paths, pa, &path) < 0) {
				om_err_set(d->err, "out of memory");
				goto out;
			}
			next = path.p;
		}
		/* The documents in no map that come first. */
		while (u < d->nunmapped && (!next || strcmp(d->unmapped[u], next) <= 0)) {
			if ((!next || strcmp(d->unmapped[u], next) != 0) &&
			    recheck_at(d, d->unmapped[u]) < 0)
				goto out;
			u++;
		}
		if (!next)
			break;
		if (recheck_at(d, next) < 0)
			goto out;
	}
	if (fflush(d->spool2) != 0) {
		om_err_set(d->err, "cannot write a temporary file: %s", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	om_buf_release(&path);
	return rc;
}

static int pass1b(struct differ *d)
{
	return d->by_path ? pass1b_at(d) : pass1b_stream(d);
}

/* Fill d->moved with the Ids of the documents whose path changed and of
 * the elements whose document or name changed (and d->moved_kinds); the
 * count. */
static long find_moved(struct differ *d)
{
	long n = 0;

	if (!(d->moved_kinds = calloc(om_nkinds ? om_nkinds : 1, 1))) {
		om_err_set(d->err, "out of memory");
		return -1;
	}

	for (int m = 0; m < 2; m++) {
		const struct pmap *a = m ? &d->s[0].elems : &d->s[0].map;
		const struct pmap *b = m ? &d->s[1].elems : &d->s[1].map;
		for (size_t off = 0; off < a->alen;) {
			const char *id = a->arena + off, *pa = id + strlen(id) + 1;
			const char *pb = pmap_get(b, id, strlen(id));
			if (pb && strcmp(pa, pb) != 0) {
				const struct om_kind *k = m ? NULL : om_kind_of_id(id);
				if (pmap_put(&d->moved, id, strlen(id), pb) < 0) {
					om_err_set(d->err, "out of memory");
					return -1;
				}
				if (m)
					d->moved_elem = 1;
				else if (k)
					d->moved_kinds[k - om_kinds] = 1;
				else
					d->moved_unknown = 1;
				n++;
			}
			off = (size_t)(pa - a->arena) + strlen(pa) + 1;
		}
	}
	return n;
}

/* Do the bundles come from one server?  Then an Id names one document in
 * both, and a document whose path changed but whose Id did not is renamed. */
static int same_server(const struct differ *d)
{
	const struct pmap *a = &d->s[0].map;
	size_t agree = 0, disagree = 0;

	for (size_t off = 0; off < a->alen;) {
		const char *id = a->arena + off, *pa = id + strlen(id) + 1;
		const char *pb = pmap_get(&d->s[1].map, id, strlen(id));
		const struct om_kind *k = om_kind_of_id(id);
		/* Only Ids from the server's allocator tell servers apart (a
		 * package's Id is made of its name and version). */
		const char *num = strrchr(id, '-');
		if (!k || k->derived_from || !num || !num[1] || strspn(num + 1, "0123456789") != strlen(num + 1))
			pb = NULL;
		if (pb && strcmp(pa, pb) == 0)
			agree++;
		else if (pb)
			disagree++;
		off = (size_t)(pa - a->arena) + strlen(pa) + 1;
	}
	return agree > disagree;
}

/* ---- pass 2: reading the spool ---- */

/* What sort of file a non-document path is. */
static const char *file_kind(const char *path)
{
	const char *last = strrchr(path, '/');
	if (strcmp(path, OM_BUNDLE_MARKER) == 0)
		return "Manifest";
	if (last && last - path >= 8 && memcmp(last - 8, "/scripts", 8) == 0)
		return "Script";
	if (ends_with(path, "/log.txt"))
		return "TaskLog";
	return "File";
}

/* The kind of the parsed document of side i, or NULL. */
static const struct om_kind *tree_kind(struct differ *d, int i)
{
	struct om_canon *c = d->c[i];
	om_canon_node n = om_canon_get(c, om_canon_root(c), OM_MEMBER_ID);
	size_t len;
	const char *s = om_canon_str(c, n, &len);
	char tmp[256];

	if (om_canon_type(c, n) != OM_CANON_STRING || len >= sizeof tmp)
		return NULL;
	memcpy(tmp, s, len);
	tmp[len] = 0;
	return om_kind_of_id(tmp);
}

struct item {
	const char *path;   /* of the side(s) present */
	const char *bytes[2];
	size_t len[2];
	unsigned flags;
};

static int emit(struct differ *d, enum om_diff_status st, const char *old_path, const char *path,
		const char *kind, const struct om_kind *k, const struct om_diff_change *ch,
		size_t nch, om_diff_fn *fn, void *ctx)
{
	struct om_buf n = {0}, o = {0};
	struct om_diff_doc doc = {st, path, old_path, kind, NULL, NULL, ch, nch};
	int r;

	if (diff_display_name(&n, path, k) < 0 || diff_display_name(&o, old_path, k) < 0) {
		om_buf_release(&n);
		om_buf_release(&o);
		om_err_set(d->err, "out of memory");
		return -1;
	}
	doc.name = n.p ? n.p : "";
	doc.old_name = o.p ? o.p : "";
	r = fn(&doc, ctx);
	om_buf_release(&n);
	om_buf_release(&o);
	return r ? 1 : 0;
}

/* Is a file text (no NUL byte)? */
int diff_is_text(const char *p, size_t len)
{
	return !memchr(p, 0, len);
}

/* Parse the bytes of side i as a document. */
static int parse_side(struct differ *d, int i, const char *path, const char *p, size_t len)
{
	if (om_canon_parse(d->c[i], p, len, d->err) < 0) {
		om_err_prefix(d->err, "'%s': entry '%s'", d->s[i].name, path);
		return -1;
	}
	return 0;
}

/* Compare one item; returns 1 to stop, 0 to go on, -1 on error. */
static int compare_item(struct differ *d, const struct item *it, const char *old_path,
			om_diff_fn *fn, void *ctx)
{
	int both_sides = (it->flags & (HAS_A | HAS_B)) == (HAS_A | HAS_B);
	enum om_diff_status st = !both_sides ? (it->flags & HAS_A ? OM_DIFF_REMOVED : OM_DIFF_ADDED)
				 : strcmp(old_path, it->path) ? OM_DIFF_RENAMED : OM_DIFF_CHANGED;
	int doc = diff_is_json(it->path) && !(it->flags & LARGE);
	const struct om_kind *k = NULL;
	const char *kind = file_kind(it->path);
	int r;

	if (doc) {
		for (int i = 0; i < 2; i++)
			if (it->flags & (HAS_A << i)) {
				if (parse_side(d, i, i ? it->path : old_path, it->bytes[i], it->len[i]) < 0)
					return -1;
				if (!k)
					k = tree_kind(d, i);
			}
		if (k)
			kind = k->name;
		else if (strcmp(it->path, OM_BUNDLE_MARKER) != 0)
			kind = "Document";
	}
	if (!both_sides)
		return emit(d, st, old_path, it->path, kind, k, NULL, 0, fn, ctx);
	if (doc) {
		struct om_diff_change *ch = NULL;
		size_t nch = 0;
		r = diff_doc_changes(d, k, old_path, it->path, &ch, &nch);
		if (r == 0 && (nch || st == OM_DIFF_RENAMED))
			r = emit(d, st, old_path, it->path, kind, k, ch, nch, fn, ctx);
		diff_changes_free(ch, nch);
		return r;
	}
	if (!(it->flags & LARGE) && diff_is_text(it->bytes[0], it->len[0]) &&
	    diff_is_text(it->bytes[1], it->len[1])) {
		struct hunks h = {0};
		if (line_hunks(it->bytes[0], it->len[0], it->bytes[1], it->len[1], &h) < 0) {
			hunks_release(&h);
			om_err_set(d->err, "out of memory");
			return -1;
		}
		r = h.n || st == OM_DIFF_RENAMED ? emit(d, st, old_path, it->path, kind, NULL, h.ch,
							 h.n, fn, ctx) : 0;
		hunks_release(&h);
		return r;
	}
	char sa[32], sb[32];
	snprintf(sa, sizeof sa, "%zu", it->len[0]);
	snprintf(sb, sizeof sb, "%zu", it->len[1]);
	struct om_diff_change ch = {OM_CHANGE_BINARY, "", sa, sb, 0, 0};
	return emit(d, st, old_path, it->path, kind, NULL, &ch, 1, fn, ctx);
}

/* Read a record at the spool's current position (into *buf, reused). */
static int read_rec(FILE *f, struct item *it, char **buf, size_t *cap)
{
	struct rec_head h;
	size_t need;
	char *p;

	if (fread(&h, sizeof h, 1, f) != 1)
		return feof(f) ? 0 : -1;
	need = h.pathlen + 1 + ((h.flags & LARGE) ? 0 : (size_t)(h.len[0] + h.len[1]));
	if (need > *cap) {
		if (!(p = realloc(*buf, need)))
			return -1;
		*buf = p;
		*cap = need;
	}
	p = *buf;
	if (fread(p, 1, need - 1, f) != need - 1)
		return -1;
	memmove(p + h.pathlen + 1, p + h.pathlen, need - 1 - h.pathlen);
	p[h.pathlen] = 0;
	it->path = p;
	it->flags = h.flags;
	it->bytes[0] = p + h.pathlen + 1;
	it->bytes[1] = it->bytes[0] + ((h.flags & LARGE) ? 0 : h.len[0]);
	it->len[0] = (size_t)h.len[0];
	it->len[1] = (size_t)h.len[1];
	return 1;
}

/* Read the record at off, without moving the spool's position. */
static int pread_rec(struct differ *d, off_t off, struct item *it, char **buf, size_t *cap)
{
	off_t keep = ftello(d->spool);
	int r;

	if (keep < 0 || fseeko(d->spool, off, SEEK_SET) != 0)
		return -1;
	r = read_rec(d->spool, it, buf, cap);
	if (fseeko(d->spool, keep, SEEK_SET) != 0)
		return -1;
	return r;
}

static int lone_cmp(const void *x, const void *y)
{
	return strcmp(((const struct lone *)x)->path, ((const struct lone *)y)->path);
}

static FILE *temp_file(const char *tmpdir, struct om_err *err);

static long pass2(struct differ *d, om_diff_fn *fn, void *ctx)
{
	char *buf = NULL, *buf2 = NULL, *buf3 = NULL;
	size_t cap = 0, cap2 = 0, cap3 = 0;
	struct item it, eq;
	size_t la = 0;
	int r, more;

	if (fseeko(d->spool, 0, SEEK_SET) != 0 || fseeko(d->spool2, 0, SEEK_SET) != 0)
		goto io;
	if ((more = read_rec(d->spool2, &eq, &buf3, &cap3)) < 0)
		goto io;
	for (;;) {
		if ((r = read_rec(d->spool, &it, &buf, &cap)) < 0)
			goto io;
		/* Equal documents naming a renamed one, in path order. */
		while (more == 1 && (r == 0 || strcmp(eq.path, it.path) < 0)) {
			int e = compare_item(d, &eq, eq.path, fn, ctx);
			if (e != 0) {
				r = e < 0 ? -1 : 2;
				goto done;
			}
			if ((more = read_rec(d->spool2, &eq, &buf3, &cap3)) < 0)
				goto io;
		}
		if (r == 0)
			break;
		unsigned f = it.flags & (HAS_A | HAS_B);
		struct lone *partner = NULL, *self = NULL;
		if (f == HAS_B) {
			struct lone key = {0, NULL, (char *)it.path, 0};
			/* (bsearch() may not be given NULL, even for no elements.) */
			self = d->s[1].nlone ? bsearch(&key, d->s[1].lone, d->s[1].nlone, sizeof key,
							  lone_cmp) : NULL;
			if (self && self->used)
				continue;
			/* The new name of a renamed document: shown with the old one. */
			const char *op = self && self->id && d->same_server ?
				pmap_get(&d->s[0].map, self->id, strlen(self->id)) : NULL;
			if (op && (d->pbuf[0].len = 0, ptab_path(&d->paths, op, &d->pbuf[0]) < 0))
				goto nomem;
			op = op ? d->pbuf[0].p : NULL;
			struct lone okey = {0, NULL, (char *)op, 0};
			if (op && d->s[0].nlone &&
			    bsearch(&okey, d->s[0].lone, d->s[0].nlone, sizeof okey, lone_cmp))
				continue;
		}
		if (f == HAS_A && d->same_server) {
			/* A rename: the same Id at a path found only in B. */
			while (la < d->s[0].nlone && strcmp(d->s[0].lone[la].path, it.path) < 0)
				la++;
			self = la < d->s[0].nlone ? &d->s[0].lone[la] : NULL;
			const char *np = self && self->id ? pmap_get(&d->s[1].map, self->id,
								   strlen(self->id)) : NULL;
			if (np && (d->pbuf[1].len = 0, ptab_path(&d->paths, np, &d->pbuf[1]) < 0))
				goto nomem;
			np = np ? d->pbuf[1].p : NULL;
			if (np) {
				struct lone key = {0, NULL, (char *)np, 0};
				partner = d->s[1].nlone ? bsearch(&key, d->s[1].lone, d->s[1].nlone,
								     sizeof key, lone_cmp) : NULL;
			}
		}
		if (partner && !partner->used) {
			struct item b;
			partner->used = 1;
			if (pread_rec(d, partner->off, &b, &buf2, &cap2) != 1)
				goto io;
			struct item pair = {b.path, {it.bytes[0], b.bytes[1]}, {it.len[0], b.len[1]},
					    HAS_A | HAS_B | ((it.flags | b.flags) & LARGE)};
			r = compare_item(d, &pair, it.path, fn, ctx);
		} else {
			r = compare_item(d, &it, it.path, fn, ctx);
		}
		if (r != 0)
			break;
	}
done:
	free(buf);
	free(buf2);
	free(buf3);
	return r < 0 ? -1 : 0;
io:
	om_err_set(d->err, "cannot read a temporary file: %s", strerror(errno));
	free(buf);
	free(buf2);
	free(buf3);
	return -1;
nomem:
	om_err_set(d->err, "out of memory");
	free(buf);
	free(buf2);
	free(buf3);
	return -1;
}

/* Copy standard input to an unlinked temporary file, so that it can be
 * read twice. */
static int copy_stdin(struct differ *d, int i, const char *tmpdir)
{
	FILE *f = temp_file(tmpdir, d->err);
	char buf[65536];
	ssize_t n;

	if (!f)
		return -1;
	if ((d->fd[i] = dup(fileno(f))) < 0) {
		fclose(f);
		om_err_set(d->err, "cannot make a temporary file: %s", strerror(errno));
		return -1;
	}
	fclose(f);
	while ((n = read(STDIN_FILENO, buf, sizeof buf)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			om_err_set(d->err, "'-': cannot read standard input: %s", strerror(errno));
			return -1;
		}
		for (ssize_t w = 0, k; w < n; w += k)
			if ((k = write(d->fd[i], buf + w, (size_t)(n - w))) < 0) {
				om_err_set(d->err, "cannot write a temporary file: %s", strerror(errno));
				return -1;
			}
	}
	return 0;
}

/* ---- the whole comparison ---- */

struct counting {
	om_diff_fn *fn;
	void *ctx;
	long n;
};

static int count_fn(const struct om_diff_doc *doc, void *vctx)
{
	struct counting *c = vctx;
	c->n++;
	return c->fn(doc, c->ctx);
}

static FILE *temp_file(const char *tmpdir, struct om_err *err)
{
	char path[4096];
	int fd = om_tmpfile(tmpdir, "om-diff.", path, sizeof path);
	FILE *f;

	if (fd < 0) {
		om_err_set(err, "cannot make a temporary file in '%s': %s", om_tmpdir(tmpdir),
			   strerror(errno));
		return NULL;
	}
	if (!(f = fdopen(fd, "w+b"))) {
		close(fd);
		om_err_set(err, "out of memory");
	}
	return f;
}

/*
 * When a password is given and a side's secrets are password tokens,
 * derive that side's key, so that normalize() opens its tokens and they
 * compare by value: tokens of two salts or passwords, or of two locations,
 * or against clear ones.  -1 and err on trouble.
 */
static int open_keys(struct differ *d,
		     const char *(*password)(void *ctx, int side, size_t *len,
					     struct om_err *err),
		     void *pwctx)
{
	json_t *sec[2];
	int need, rc = -1;

	for (int i = 0; i < 2; i++)
		sec[i] = d->s[i].secrets ? json_loads(d->s[i].secrets, 0, NULL) : NULL;
	need = d->s[0].state == OM_SECRETS_PASSWORD || d->s[1].state == OM_SECRETS_PASSWORD;
	if (!password || !need) {
		rc = 0;
		goto out;
	}
	crypto_generichash_keygen(d->hashkey);
	d->hashing = 1;
	for (int i = 0; i < 2; i++) {
		struct om_pw_params p;
		char want[OM_PW_CHECK_SIZE], got[OM_PW_CHECK_SIZE];
		const char *pw;
		size_t len;
		if (d->s[i].state != OM_SECRETS_PASSWORD)
			continue;
		if (om_pw_params_from_json(sec[i], &p, want, d->err) < 0) {
			om_err_prefix(d->err, "'%s': entry 'manifest.json'", d->s[i].name);
			goto out;
		}
		if (!(pw = password(pwctx, i, &len, d->err)) ||
		    !(d->key[i] = om_pw_key_derive(pw, len, &p, d->err)))
			goto out;
		om_pw_key_check(d->key[i], got);
		if (sodium_memcmp(got, want, OM_PW_CHECK_SIZE) != 0) {
			om_err_set(d->err, "'%s': wrong password (it does not match the bundle's "
				   "check value)", d->s[i].name);
			goto out;
		}
	}
	rc = 0;
out:
	json_decref(sec[0]);
	json_decref(sec[1]);
	return rc;
}

long om_diff_bundles(const char *a, const char *b, const char *tmpdir, om_diff_fn *fn,
		     void *ctx, struct om_err *err)
{
	return om_diff_bundles_pw(a, b, tmpdir, NULL, NULL, fn, ctx, err);
}

long om_diff_bundles_pw(const char *a, const char *b, const char *tmpdir,
			const char *(*password)(void *ctx, int side, size_t *len,
						struct om_err *err),
			void *pwctx, om_diff_fn *fn, void *ctx, struct om_err *err)
{
	struct differ d;
	struct counting cnt = {fn, ctx, 0};
	long r = -1;

	memset(&d, 0, sizeof d);
	d.err = err;
	d.fd[0] = d.fd[1] = -1;
	d.s[0].name = a;
	d.s[1].name = b;
	d.nsets = om_elemsets(d.sets, sizeof d.sets / sizeof d.sets[0]);
	if (strcmp(a, "-") == 0 && strcmp(b, "-") == 0) {
		om_err_set(err, "only one bundle can be standard input");
		return -1;
	}
	for (int i = 0; i < 2; i++)
		if (strcmp(d.s[i].name, "-") == 0 && copy_stdin(&d, i, tmpdir) < 0)
			goto out;
	if (!(d.c[0] = om_canon_new(err)) || !(d.c[1] = om_canon_new(err)) ||
	    side_open(&d, 0) < 0 || side_open(&d, 1) < 0 ||
	    !(d.spool = temp_file(tmpdir, err)) || !(d.spool2 = temp_file(tmpdir, err)))
		goto out;
	d.out = d.spool;
	d.by_path = om_bundle_reader_form(d.s[0].r) == OM_FORM_DIR &&
		    om_bundle_reader_form(d.s[1].r) == OM_FORM_DIR;
	if (pass1(&d) < 0)
		goto out;
	d.same_server = same_server(&d);
	/* Tokens compare as they are when the manifests' Secrets (state, key
	 * id, salt) agree, or when neither side says anything. */
	d.pw_comparable = d.s[0].secrets && d.s[1].secrets
				  ? strcmp(d.s[0].secrets, d.s[1].secrets) == 0
				  : !d.s[0].secrets && !d.s[1].secrets;
	if (open_keys(&d, password, pwctx) < 0)
		goto out;
	if (d.same_server) {
		long moved = find_moved(&d);
		if (moved < 0 || (moved > 0 && pass1b(&d) < 0))
			goto out;
	}
	if (pass2(&d, count_fn, &cnt) < 0)
		goto out;
	r = cnt.n;
out:
	for (int i = 0; i < 2; i++) {
		om_pw_key_free(d.key[i]);
		om_bundle_reader_close(d.s[i].r);
		om_canon_free(d.c[i]);
		pmap_free(&d.s[i].map);
		pmap_free(&d.s[i].elems);
		free(d.s[i].buf);
		free(d.s[i].secrets);
		for (size_t j = 0; j < d.s[i].nlone; j++) {
			free(d.s[i].lone[j].id);
			free(d.s[i].lone[j].path);
		}
		free(d.s[i].lone);
	}
	if (d.spool)
		fclose(d.spool);
	if (d.spool2)
		fclose(d.spool2);
	for (int i = 0; i < 2; i++)
		if (d.fd[i] >= 0)
			close(d.fd[i]);
	pmap_free(&d.moved);
	ptab_free(&d.paths);
	om_buf_release(&d.pbuf[0]);
	om_buf_release(&d.pbuf[1]);
	for (size_t j = 0; j < d.nunmapped; j++)
		free(d.unmapped[j]);
	free(d.unmapped);
	free(d.moved_kinds);
	return r;
}
