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

#include "bundle.h"
#include "buf.h"
#include "bundlecheck.h"
#include "canon.h"
#include "model.h"
#include "manifest.h"
#include "names.h"
#include "pwcrypt.h"
#include "seal.h"
#include "token.h"

/* The biggest file compared by content (a document, a script, a log);
 * larger ones are compared by bytes only, as binary files. */
#define MAX_DOC (64u << 20)

/* Markers standing for references and secrets in a normalized tree: a
 * string beginning with REF holds items separated by SEP, each "P<kind>"
 * KSEP "<path>" (a document of the bundle), "T<kind>" KSEP "<path>" TSEP
 * "<name>" (a tag: an element of that document), "E<kind>" KSEP "<path>"
 * TSEP "<name>" (an element named by an inner reference), "U<kind>" (a
 * document outside the bundle, of another server), "X" (an element outside
 * the bundle, of another server) or "I<id>" (not in the bundle); a string
 * beginning with SECRET holds the secret's token.  Bytes below
 * 0x20 never start a real string of a canonical document's values that
 * matter here, and they never leave this file. */
#define REF '\x01'
#define SECRET '\x02'
#define SEP '\x1f'
#define KSEP '\x1d'
#define TSEP '\x1e'

/* ---- JSON text in buffers ---- */

/* A string as a JSON string literal (escaping as canonical JSON does). */
static int buf_json(struct om_buf *b, const char *s, size_t n)
{
	int r = om_buf_add(b, "\"", 1);
	for (size_t i = 0; i < n && r == 0; i++) {
		unsigned char ch = (unsigned char)s[i];
		char e[8];
		if (ch == '"' || ch == '\\') {
			e[0] = '\\';
			e[1] = (char)ch;
			r = om_buf_add(b, e, 2);
		} else if (ch < 0x20) {
			snprintf(e, sizeof e, "\\u%04x", ch);
			r = om_buf_add(b, e, 6);
		} else {
			r = om_buf_add(b, s + i, 1);
		}
	}
	return r < 0 ? -1 : om_buf_add(b, "\"", 1);
}

static char *dupn(const char *s, size_t n)
{
	char *p = malloc(n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = 0;
	}
	return p;
}

/* ---- a compact map of Id -> bundle path ---- */

/* Entries are "id\0path\0" in one arena; the table holds arena offsets + 1. */
struct pmap {
	char *arena;
	size_t alen, acap;
	uint32_t *slots;
	size_t nslots, count;
};

static uint64_t hashn(const char *s, size_t n)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

static void pmap_free(struct pmap *m)
{
	free(m->arena);
	free(m->slots);
	memset(m, 0, sizeof *m);
}

static const char *pmap_get(const struct pmap *m, const char *id, size_t idlen)
{
	if (!m->nslots)
		return NULL;
	for (size_t i = hashn(id, idlen) & (m->nslots - 1);; i = (i + 1) & (m->nslots - 1)) {
		const char *e;
		if (!m->slots[i])
			return NULL;
		e = m->arena + m->slots[i] - 1;
		if (strlen(e) == idlen && memcmp(e, id, idlen) == 0)
			return e + idlen + 1;
	}
}

static int pmap_grow(struct pmap *m)
{
	size_t n = m->nslots ? m->nslots * 2 : 1024;
	uint32_t *s = calloc(n, sizeof *s);

	if (!s)
		return -1;
	for (size_t i = 0; i < m->nslots; i++) {
		if (!m->slots[i])
			continue;
		const char *e = m->arena + m->slots[i] - 1;
		size_t j = hashn(e, strlen(e)) & (n - 1);
		while (s[j])
			j = (j + 1) & (n - 1);
		s[j] = m->slots[i];
	}
	free(m->slots);
	m->slots = s;
	m->nslots = n;
	return 0;
}

/* Add id -> path; a second document with the same Id keeps the first (and
 * gets 1). */
static int pmap_put(struct pmap *m, const char *id, size_t idlen, const char *path)
{
	size_t plen = strlen(path), need = idlen + plen + 2, i;

	if (pmap_get(m, id, idlen))
		return 1;
	if ((m->count + 1) * 2 > m->nslots && pmap_grow(m) < 0)
		return -1;
	if (m->alen + need > UINT32_MAX - 1)
		return -1;
	if (m->alen + need > m->acap) {
		size_t cap = m->acap ? m->acap : 65536;
		char *a;
		while (cap < m->alen + need)
			cap *= 2;
		if (!(a = realloc(m->arena, cap)))
			return -1;
		m->arena = a;
		m->acap = cap;
	}
	memcpy(m->arena + m->alen, id, idlen);
	m->arena[m->alen + idlen] = 0;
	memcpy(m->arena + m->alen + idlen + 1, path, plen + 1);
	for (i = hashn(id, idlen) & (m->nslots - 1); m->slots[i]; i = (i + 1) & (m->nslots - 1))
		;
	m->slots[i] = (uint32_t)m->alen + 1;
	m->alen += need;
	m->count++;
	return 0;
}

/* ---- interned paths ---- */

/*
 * Every document path of both bundles, kept once: a path is a node (its
 * last component and the node of its directory), so a directory's path is
 * stored once for all the files below it, and a path found in both bundles
 * once for both.  Nodes are numbered from 1 (0: the top, no node); equal
 * paths have equal numbers.  In a map, a node is written as PCODE bytes
 * that are never NUL (6 bits each), so that it is a short string there.
 */
struct pnode {
	uint32_t parent;
	uint32_t name; /* offset of the component (NUL-terminated) in names */
};

struct ptab {
	char *names;
	size_t nlen, ncap;
	struct pnode *nodes; /* nodes[0] unused */
	size_t nn, capn;
	uint32_t *slots;     /* node numbers by (parent, component) */
	size_t nslots;
};

#define PCODE 6

static uint64_t pnode_hash(uint32_t parent, const char *s, size_t n)
{
	return hashn(s, n) ^ ((uint64_t)parent * 0x9e3779b97f4a7c15ull);
}

static void ptab_free(struct ptab *t)
{
	free(t->names);
	free(t->nodes);
	free(t->slots);
	memset(t, 0, sizeof *t);
}

static int ptab_grow(struct ptab *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 4096;
	uint32_t *sl = calloc(n, sizeof *sl);

	if (!sl)
		return -1;
	for (size_t i = 1; i < t->nn; i++) {
		const char *nm = t->names + t->nodes[i].name;
		size_t j = pnode_hash(t->nodes[i].parent, nm, strlen(nm)) & (n - 1);
		while (sl[j])
			j = (j + 1) & (n - 1);
		sl[j] = (uint32_t)i;
	}
	free(t->slots);
	t->slots = sl;
	t->nslots = n;
	return 0;
}

/* The node of component s[0..n) below parent, made if new; 0 when out of
 * memory. */
static uint32_t ptab_node(struct ptab *t, uint32_t parent, const char *s, size_t n)
{
	size_t i;

	if ((t->nn + 1) * 2 > t->nslots && ptab_grow(t) < 0)
		return 0;
	for (i = pnode_hash(parent, s, n) & (t->nslots - 1); t->slots[i]; i = (i + 1) & (t->nslots - 1)) {
		const struct pnode *p = &t->nodes[t->slots[i]];
		const char *nm = t->names + p->name;
		if (p->parent == parent && strncmp(nm, s, n) == 0 && nm[n] == 0)
			return t->slots[i];
	}
	if (!t->nn)
		t->nn = 1;
	if (t->nn >= t->capn) {
		size_t cap = t->capn ? t->capn * 2 : 4096;
		struct pnode *v = cap < UINT32_MAX ? realloc(t->nodes, cap * sizeof *v) : NULL;
		if (!v)
			return 0;
		t->nodes = v;
		t->capn = cap;
	}
	if (t->nlen + n + 1 > t->ncap) {
		size_t cap = t->ncap ? t->ncap : 65536;
		char *v;
		while (cap < t->nlen + n + 1)
			cap *= 2;
		if (cap > UINT32_MAX || !(v = realloc(t->names, cap)))
			return 0;
		t->names = v;
		t->ncap = cap;
	}
	memcpy(t->names + t->nlen, s, n);
	t->names[t->nlen + n] = 0;
	t->nodes[t->nn] = (struct pnode){parent, (uint32_t)t->nlen};
	t->nlen += n + 1;
	t->slots[i] = (uint32_t)t->nn;
	return (uint32_t)t->nn++;
}

/* The node of path, as PCODE bytes and a NUL in code; -1 out of memory. */
static int ptab_intern(struct ptab *t, const char *path, char code[PCODE + 1])
{
	uint32_t node = 0;

	for (const char *c = path;;) {
		size_t n = strcspn(c, "/");
		if (!(node = ptab_node(t, node, c, n)))
			return -1;
		if (!c[n])
			break;
		c += n + 1;
	}
	for (int i = 0; i < PCODE; i++)
		code[i] = (char)(0x40 | ((node >> (6 * i)) & 0x3f));
	code[PCODE] = 0;
	return 0;
}

/* Append the path of a node given as its code. */
static int ptab_path(const struct ptab *t, const char *code, struct om_buf *b);

static int ptab_add(const struct ptab *t, uint32_t node, struct om_buf *b)
{
	const struct pnode *p = &t->nodes[node];

	if (p->parent && (ptab_add(t, p->parent, b) < 0 || om_buf_add(b, "/", 1) < 0))
		return -1;
	return om_buf_adds(b, t->names + p->name);
}

static int ptab_path(const struct ptab *t, const char *code, struct om_buf *b)
{
	uint32_t node = 0;

	for (int i = 0; i < PCODE; i++)
		node |= (uint32_t)((unsigned char)code[i] & 0x3f) << (6 * i);
	return ptab_add(t, node, b);
}

/* ---- names for people ---- */

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Append the unescaped name of the path component s[0..n). */
static int add_component(struct om_buf *b, const char *s, size_t n)
{
	char *c = dupn(s, n), *u;
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
static int display_name(struct om_buf *b, const char *path, const struct om_kind *k)
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

/* A document found on one side only: a candidate for a rename. */
struct lone {
	off_t off;   /* of its record in the spool */
	char *id;    /* its Id, or NULL */
	char *path;
	int used;
};

struct side {
	const char *name;
	struct om_bundle_reader *r;
	struct om_bundle_entry e;
	int have;
	char *buf;      /* the current entry, when read */
	size_t len;
	struct pmap map;
	/* Elements that references name by Id (tags, templates, actions):
	 * Id -> "<kind>" KSEP "<path of the document holding it>" TSEP "<name>". */
	struct pmap elems;
	char *secrets;  /* the manifest's Secrets, compact sorted JSON, or NULL */
	enum om_secret_state state; /* and their state */
	int manifest;   /* the manifest was read (and checked) */
	int unmapped;   /* the current entry is a document not in map (no Id, or
			 * an Id already taken) */
	struct lone *lone;
	size_t nlone, caplone;
};

struct differ {
	struct side s[2];
	struct om_elemset sets[16]; /* om_elemsets() */
	size_t nsets;
	FILE *spool;     /* the files that differ, in path order */
	FILE *spool2;    /* equal files naming a renamed document, in path order */
	FILE *out;       /* the one being written */
	int fd[2];       /* a copy of standard input, or -1 */
	struct pmap moved; /* Ids whose document has another path in B */
	struct ptab paths; /* the paths of the maps' documents */
	struct om_buf pbuf[2]; /* paths rebuilt from the maps */
	struct om_canon *c[2];
	struct om_err *err;
	int same_server; /* do the bundles share Ids? (renames by Id) */
	int pw_comparable; /* are om-pw-1 tokens of both sides comparable? */
	/* Password bundles opened by value (om_diff_bundles_pw): each side's
	 * key, and the key of the hashes that stand for the clear values. */
	struct om_pw_key *key[2];
	int hashing; /* clear and opened secrets both become keyed hashes */
	/* Both bundles are directories: documents are read again by path.
	 * Then the equal documents that are in neither map (no Id, or an Id
	 * taken by another) are listed here for pass1b(). */
	int by_path;
	char **unmapped;
	size_t nunmapped, capunmapped;
	/* The kinds (by index in om_kinds) of the documents in moved, whether
	 * an element is in moved, and whether an Id of no known kind is. */
	unsigned char *moved_kinds;
	int moved_elem, moved_unknown;
	unsigned char hashkey[crypto_generichash_KEYBYTES];
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

static int is_json(const char *path)
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
	if (!is_json(s->e.path) || (s->e.size > MAX_DOC && om_model_may_be_file(s->e.path)))
		return 0;
	if (side_read(d, i) < 0)
		return -1;
	if (strcmp(s->e.path, OM_BUNDLE_MARKER) == 0)
		return read_manifest(d, i);
	if (doc_id(d, i, s->e.path, &v, &vlen) < 0)
		return -1;
	s->unmapped = !v;
	if (v && (ptab_intern(&d->paths, s->e.path, code) < 0 ||
		  (put = pmap_put(&s->map, v, vlen, code)) < 0 || !(*id = dupn(v, vlen)))) {
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
			r = d->by_path && is_json(a->e.path) && (a->unmapped || b->unmapped) ?
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
		if (c == 0 && is_json(a->e.path) && a->e.size == b->e.size && a->e.size <= MAX_DOC) {
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

/* ---- comparing documents: pass 2 ---- */

/* A member name that is a reference (ProjectEnvironments{key}), by the
 * node of its value. */
struct keyref {
	om_canon_node node;
	char *key;
	size_t len;
};

struct repl {
	om_canon_node node;
	char *s;
	size_t len;
};

struct norm {
	struct differ *d;
	int side;
	struct repl *r;
	size_t nr, capr;
	struct keyref *k;
	size_t nk, capk;
};

struct cmp {
	struct differ *d;
	const struct om_kind *kind;
	const char *path[2]; /* each side's path of the document */
	struct norm n[2];
	struct om_diff_change *ch;
	size_t nch, capch;
	struct om_buf loc, pat;
	int manifest;
	/* Inside an element whose location differs between the sides (its
	 * rank, or the document's path): location-bound secrets (redacted
	 * fingerprints, password tokens) do not compare. */
	int shifted;
};

/* Append a reference item for id (len bytes), a reference of that form,
 * resolved in side's maps. */
static int ref_item(struct norm *n, struct om_buf *b, const char *id, size_t len,
		    enum om_ref_form form)
{
	char tmp[512];
	const char *tag = NULL, *path;
	size_t idl = len;
	const struct om_kind *k;

	if (len >= sizeof tmp)
		return om_buf_add(b, "I", 1) < 0 ? -1 : om_buf_add(b, id, len);
	memcpy(tmp, id, len);
	tmp[len] = 0;
	/* A tag or an inner reference names an element by its Id: compared
	 * as the document holding it and the element's name. */
	if (form == OM_REF_TAG || form == OM_REF_INNER) {
		const char *el = pmap_get(&n->d->s[n->side].elems, tmp, len);
		if (el)
			return om_buf_add(b, form == OM_REF_TAG ? "T" : "E", 1) < 0 ? -1 : om_buf_adds(b, el);
		if (form == OM_REF_INNER && !n->d->same_server)
			return om_buf_add(b, "X", 1);
		if (form == OM_REF_INNER)
			return om_buf_add(b, "I", 1) < 0 ? -1 : om_buf_add(b, id, len);
	}
	/* A tenant tag "TagSets-1/Tags-3": the tag set, then the tag. */
	if ((tag = memchr(tmp, '/', len)))
		idl = (size_t)(tag - tmp);
	tmp[idl] = 0;
	path = pmap_get(&n->d->s[n->side].map, tmp, idl);
	k = om_kind_of_id(tmp);
	/* A document outside the bundle: between bundles of one server its Id
	 * says which; between two servers only its kind can be compared. */
	if ((!path || !k) && k && !n->d->same_server)
		return om_buf_add(b, "U", 1) < 0 ? -1 : om_buf_adds(b, k->name);
	if (!path || !k)
		return om_buf_add(b, "I", 1) < 0 ? -1 : om_buf_add(b, id, len);
	if (om_buf_add(b, "P", 1) < 0 || om_buf_adds(b, k->name) < 0 || om_buf_add(b, "\x1d", 1) < 0 ||
	    ptab_path(&n->d->paths, path, b) < 0)
		return -1;
	if (tag && (om_buf_add(b, "\x1e", 1) < 0 || om_buf_add(b, tmp + idl + 1, len - idl - 1) < 0))
		return -1;
	return 0;
}

/* The marker for a reference string: every Id of a CSV list, or one Id. */
static int ref_marker(struct norm *n, struct om_buf *b, const char *s, size_t len,
		      enum om_ref_form form)
{
	size_t i = 0;
	int first = 1, csv = form == OM_REF_CSV;

	b->len = 0;
	if (om_buf_add(b, "\x01", 1) < 0)
		return -1;
	while (i <= len) {
		size_t j = i;
		if (csv)
			while (j < len && s[j] != ',')
				j++;
		else
			j = len;
		size_t a = i, e = j;
		while (a < e && (s[a] == ' ' || s[a] == '\t'))
			a++;
		while (e > a && (s[e - 1] == ' ' || s[e - 1] == '\t'))
			e--;
		if (e > a) {
			if (!first && om_buf_add(b, "\x1f", 1) < 0)
				return -1;
			if (ref_item(n, b, s + a, e - a, form) < 0)
				return -1;
			first = 0;
		}
		i = j + 1;
	}
	return 0;
}

static int add_repl(struct norm *n, om_canon_node node, const struct om_buf *b)
{
	if (om_array_grow(&n->r, &n->capr, n->nr, 1, sizeof *n->r) < 0)
		return -1;
	if (!(n->r[n->nr].s = dupn(b->p, b->len)))
		return -1;
	n->r[n->nr].node = node;
	n->r[n->nr].len = b->len;
	n->nr++;
	return 0;
}

struct refwalk {
	struct norm *n;
	const struct om_ref *ref;
	struct om_buf b;
	int failed;
	const char *path; /* the document's path on its side */
	int bad;          /* failed with err set (not out of memory) */
};

static int token_class(const char *s, size_t len);

static int ref_hit(const struct om_chit *hit, void *vctx)
{
	struct refwalk *w = vctx;
	struct norm *n = w->n;
	struct om_canon *c = n->d->c[n->side];
	size_t len;
	const char *s;

	if (hit->key) {
		if (ref_marker(n, &w->b, hit->key, hit->keylen, OM_REF_ID) < 0)
			goto oom;
		if (om_array_grow(&n->k, &n->capk, n->nk, 1, sizeof *n->k) < 0)
			goto oom;
		if (!(n->k[n->nk].key = dupn(w->b.p, w->b.len)))
			goto oom;
		n->k[n->nk].node = hit->node;
		n->k[n->nk].len = w->b.len;
		n->nk++;
		return 0;
	}
	if (om_canon_type(c, hit->node) != OM_CANON_STRING)
		return 0;
	s = om_canon_str(c, hit->node, &len);
	if (len == 0 || (s[0] == REF))
		return 0;
	if (ref_marker(n, &w->b, s, len, w->ref ? w->ref->form : OM_REF_ID) < 0 ||
	    add_repl(n, hit->node, &w->b) < 0)
		goto oom;
	return 0;
oom:
	w->failed = 1;
	return 1;
}

static int secret_hit(const struct om_chit *hit, void *vctx)
{
	struct refwalk *w = vctx;
	struct differ *d = w->n->d;
	int side = w->n->side;
	struct om_canon *c = d->c[side];
	size_t len;
	const char *s = om_canon_str(c, hit->node, &len);

	w->b.len = 0;
	if (d->hashing && ((d->key[side] && token_class(s, len) == 3) || token_class(s, len) == 1)) {
		/* Opened, then kept as a keyed hash of the value: a clear
		 * token that compares by value and is never printed. */
		unsigned char h[32];
		char hex[65], *clear;
		size_t n;
		int r = token_class(s, len) == 1
				? om_clear_decode(s, len, &clear, &n, d->err)
				: om_pw_decrypt(d->key[side], w->path, hit->loc, s, len, &clear, &n,
						d->err);
		if (r != 0) {
			if (r > 0)
				om_err_set(d->err, "'%s': entry '%s': %s: the secret does not open: "
					   "its token was changed or moved from another place",
					   d->s[side].name, w->path, hit->loc);
			else
				om_err_prefix(d->err, "'%s': entry '%s': %s", d->s[side].name,
					      w->path, hit->loc);
			w->failed = w->bad = 1;
			return 1;
		}
		crypto_generichash(h, sizeof h, (const unsigned char *)clear, n, d->hashkey,
				   sizeof d->hashkey);
		om_clear_free(clear);
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		if (om_buf_add(&w->b, "\x02" OM_CLEAR_PREFIX, 1 + OM_PREFIX_LEN(OM_CLEAR_PREFIX)) < 0 || om_buf_add(&w->b, hex, 64) < 0 ||
		    add_repl(w->n, hit->node, &w->b) < 0)
			w->failed = 1;
		return w->failed;
	}
	if (om_buf_add(&w->b, "\x02", 1) < 0 || om_buf_add(&w->b, s, len) < 0 ||
	    add_repl(w->n, hit->node, &w->b) < 0) {
		w->failed = 1;
		return 1;
	}
	return 0;
}

static int cref_hit(const struct om_cref_hit *h, void *vctx)
{
	struct refwalk *w = vctx;

	w->ref = h->ref;
	return ref_hit(h->at, w);
}

/* Replace every reference and secret of the tree of side i by its marker. */
static int normalize(struct cmp *cm, int i)
{
	struct norm *n = &cm->n[i];
	struct om_canon *c = cm->d->c[i];
	const struct om_kind *k = cm->kind;
	struct refwalk w = {n, NULL, {0}, 0, cm->path[i], 0};
	om_canon_node root = om_canon_root(c);
	int r = 0;

	if (!k || om_canon_type(c, root) != OM_CANON_OBJECT)
		return 0;
	/* A document's space is a reference the catalog leaves implicit. */
	if (k->scope != OM_SERVER) {
		om_canon_node sp = om_canon_get(c, root, OM_MEMBER_SPACE);
		struct om_chit h = {sp, NULL, 0, OM_MEMBER_SPACE, OM_MEMBER_SPACE};
		if (sp != OM_CANON_NONE)
			ref_hit(&h, &w);
	}
	if (!w.failed)
		r = om_canon_refs_each(k, c, cref_hit, &w, cm->d->err);
	if (!w.failed && r >= 0)
		r = om_canon_secrets_each(k, c, secret_hit, &w, cm->d->err);
	om_buf_release(&w.b);
	if (w.failed) {
		if (!w.bad)
			om_err_set(cm->d->err, "out of memory");
		return -1;
	}
	if (r < 0)
		return -1;
	for (size_t j = 0; j < n->nr; j++)
		if (om_canon_set_str(c, n->r[j].node, n->r[j].s, n->r[j].len, cm->d->err) < 0)
			return -1;
	return 0;
}

static void norm_release(struct norm *n)
{
	for (size_t j = 0; j < n->nr; j++)
		free(n->r[j].s);
	for (size_t j = 0; j < n->nk; j++)
		free(n->k[j].key);
	free(n->r);
	free(n->k);
	n->r = NULL;
	n->k = NULL;
	n->nr = n->capr = n->nk = n->capk = 0;
}

/* Append the readable form of a marker's items: a document's name; a tag
 * as its set's name, '/' and its own; an inner element by its name. */
static int show_ref(struct om_buf *b, const char *s, size_t len)
{
	size_t i = 1;

	while (i < len) {
		size_t j = i;
		while (j < len && s[j] != SEP)
			j++;
		if (i > 1 && om_buf_add(b, ", ", 2) < 0)
			return -1;
		if (s[i] == 'E') {
			const char *ts = memchr(s + i, TSEP, j - i);
			if (!ts || om_buf_add(b, ts + 1, (size_t)(s + j - ts - 1)) < 0)
				return -1;
		} else if (s[i] == 'P' || s[i] == 'T') {
			const char *ks = memchr(s + i, KSEP, j - i), *ts;
			char *path, *kname;
			const struct om_kind *k;
			int r;
			if (!ks)
				return -1;
			ts = memchr(ks, TSEP, (size_t)(s + j - ks));
			kname = dupn(s + i + 1, (size_t)(ks - s - i - 1));
			path = dupn(ks + 1, (size_t)((ts ? ts : s + j) - ks - 1));
			k = kname ? om_kind_by_name(kname) : NULL;
			r = path ? display_name(b, path, k) : -1;
			free(kname);
			free(path);
			if (r < 0)
				return -1;
			if (ts && (om_buf_add(b, "/", 1) < 0 || om_buf_add(b, ts + 1, (size_t)(s + j - ts - 1)) < 0))
				return -1;
		} else if (s[i] == 'U') {
			if (om_buf_adds(b, "(a ") < 0 || om_buf_add(b, s + i + 1, j - i - 1) < 0 ||
			    om_buf_adds(b, " not in the bundle)") < 0)
				return -1;
		} else if (s[i] == 'X') {
			if (om_buf_adds(b, "(an element not in the bundle)") < 0)
				return -1;
		} else if (om_buf_add(b, s + i + 1, j - i - 1) < 0) {
			return -1;
		}
		i = j + 1;
	}
	return 0;
}

/* A string of a normalized tree as people see it: a JSON string. */
static int show_str(struct om_buf *b, const char *s, size_t len)
{
	if (len && s[0] == SECRET)
		return om_buf_adds(b, "\"(secret)\"");
	if (len && s[0] == REF) {
		struct om_buf t = {0};
		int r = show_ref(&t, s, len) < 0 ? -1 : buf_json(b, t.p ? t.p : "", t.len);
		om_buf_release(&t);
		return r;
	}
	return buf_json(b, s, len);
}

/* A member name as people see it (a reference shown by name). */
static int show_key(struct om_buf *b, const char *s, size_t len)
{
	if (len && s[0] == REF)
		return show_ref(b, s, len);
	return om_buf_add(b, s, len);
}

static const struct keyref *keyref_of(const struct norm *n, om_canon_node node)
{
	for (size_t j = 0; j < n->nk; j++)
		if (n->k[j].node == node)
			return &n->k[j];
	return NULL;
}

/* Compact JSON of node of side i, as people see it. */
static int render(struct cmp *cm, int i, om_canon_node node, struct om_buf *b)
{
	struct om_canon *c = cm->d->c[i];
	size_t len;
	const char *s;

	switch (om_canon_type(c, node)) {
	case OM_CANON_NULL: return om_buf_adds(b, "null");
	case OM_CANON_TRUE: return om_buf_adds(b, "true");
	case OM_CANON_FALSE: return om_buf_adds(b, "false");
	case OM_CANON_NUMBER:
		s = om_canon_str(c, node, &len);
		return om_buf_add(b, s, len);
	case OM_CANON_STRING:
		s = om_canon_str(c, node, &len);
		return show_str(b, s, len);
	case OM_CANON_ARRAY:
		if (om_buf_add(b, "[", 1) < 0)
			return -1;
		for (size_t j = 0; j < om_canon_len(c, node); j++)
			if ((j && om_buf_add(b, ",", 1) < 0) || render(cm, i, om_canon_at(c, node, j), b) < 0)
				return -1;
		return om_buf_add(b, "]", 1);
	case OM_CANON_OBJECT:
		if (om_buf_add(b, "{", 1) < 0)
			return -1;
		for (size_t j = 0; j < om_canon_len(c, node); j++) {
			om_canon_node m = om_canon_at(c, node, j);
			const struct keyref *kr = keyref_of(&cm->n[i], m);
			struct om_buf t = {0};
			if (kr)
				s = kr->key, len = kr->len;
			else
				s = om_canon_key(c, m, &len);
			int r = (j && om_buf_add(b, ",", 1) < 0) || show_key(&t, s, len) < 0 ||
				buf_json(b, t.p ? t.p : "", t.len) < 0 || om_buf_add(b, ":", 1) < 0 ||
				render(cm, i, m, b) < 0;
			om_buf_release(&t);
			if (r)
				return -1;
		}
		return om_buf_add(b, "}", 1);
	default:
		return 0;
	}
}

static int add_change(struct cmp *cm, enum om_change_type t, om_canon_node a, om_canon_node b,
		      long from, long to)
{
	struct om_diff_change *ch;
	struct om_buf o = {0}, n = {0};

	if (om_array_grow(&cm->ch, &cm->capch, cm->nch, 1, sizeof *cm->ch) < 0)
		goto oom;
	if ((a != OM_CANON_NONE && (render(cm, 0, a, &o) < 0 || !o.p)) ||
	    (b != OM_CANON_NONE && (render(cm, 1, b, &n) < 0 || !n.p)))
		goto oom;
	ch = &cm->ch[cm->nch];
	*ch = (struct om_diff_change){t, dupn(cm->loc.p ? cm->loc.p : "", cm->loc.len),
				      o.p, n.p, from, to};
	if (!ch->loc)
		goto oom;
	cm->nch++;
	return 0;
oom:
	om_buf_release(&o);
	om_buf_release(&n);
	om_err_set(cm->d->err, "out of memory");
	return -1;
}

/* What kind of secret token: 0 other, 1 clear, 2 redacted, 3 password. */
static int token_class(const char *s, size_t len)
{
	static const char *const prefix[] = {OM_CLEAR_PREFIX, OM_REDACTED_PREFIX, OM_PW_PREFIX};
	for (int i = 0; i < 3; i++)
		if (len > strlen(prefix[i]) && memcmp(s, prefix[i], strlen(prefix[i])) == 0)
			return i + 1;
	return 0;
}

static int cmp_node(struct cmp *cm, om_canon_node a, om_canon_node b, int elem);

/* Save and restore the lengths of loc and pat around a step. */
struct mark {
	size_t loc, pat;
};

static struct mark mark(const struct cmp *cm)
{
	return (struct mark){cm->loc.len, cm->pat.len};
}

static void unmark(struct cmp *cm, struct mark m)
{
	cm->loc.len = m.loc;
	cm->pat.len = m.pat;
	if (cm->loc.p)
		cm->loc.p[m.loc] = 0;
	if (cm->pat.p)
		cm->pat.p[m.pat] = 0;
}

/* A member of an object, with its name (translated when it is a reference). */
struct member {
	const char *key;
	size_t len;
	om_canon_node node;
};

/* Bytewise, a string before its extensions. */
static int bytes_cmp(const char *a, size_t al, const char *b, size_t bl)
{
	int r = al && bl ? memcmp(a, b, al < bl ? al : bl) : 0;
	return r ? r : (al > bl) - (al < bl);
}

static int member_cmp(const void *x, const void *y)
{
	const struct member *a = x, *b = y;
	return bytes_cmp(a->key, a->len, b->key, b->len);
}

static struct member *members(struct cmp *cm, int i, om_canon_node o, size_t *n)
{
	struct om_canon *c = cm->d->c[i];
	size_t len = om_canon_len(c, o);
	struct member *v = malloc((len + 1) * sizeof *v);

	if (!v)
		return NULL;
	for (size_t j = 0; j < len; j++) {
		om_canon_node m = om_canon_at(c, o, j);
		const struct keyref *kr = keyref_of(&cm->n[i], m);
		v[j].node = m;
		if (kr)
			v[j].key = kr->key, v[j].len = kr->len;
		else
			v[j].key = om_canon_key(c, m, &v[j].len);
	}
	qsort(v, len, sizeof *v, member_cmp);
	*n = len;
	return v;
}

static int step_member(struct cmp *cm, const char *raw, size_t rawlen, const char *key, size_t len)
{
	if ((cm->loc.len && om_buf_add(&cm->loc, "/", 1) < 0) || show_key(&cm->loc, key, len) < 0 ||
	    (cm->pat.len && om_buf_add(&cm->pat, "/", 1) < 0) || om_buf_add(&cm->pat, raw, rawlen) < 0) {
		om_err_set(cm->d->err, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * The manifests' Secrets a and b: a change of State (redacted against
 * password, say) is reported when it leaves secrets that cannot be
 * compared, that is unless the password opened the tokens and neither side
 * is redacted.
 */
static int state_change(struct cmp *cm, om_canon_node a, om_canon_node b)
{
	om_canon_node sa = om_canon_get(cm->d->c[0], a, "State");
	om_canon_node sb = om_canon_get(cm->d->c[1], b, "State");
	const char *red = om_secret_state_name(OM_SECRETS_REDACTED);
	size_t la, lb;
	const char *ta = om_canon_type(cm->d->c[0], sa) == OM_CANON_STRING
				 ? om_canon_str(cm->d->c[0], sa, &la) : NULL;
	const char *tb = om_canon_type(cm->d->c[1], sb) == OM_CANON_STRING
				 ? om_canon_str(cm->d->c[1], sb, &lb) : NULL;
	struct mark mk = mark(cm);
	int r;

	if (!ta || !tb || bytes_cmp(ta, la, tb, lb) == 0 ||
	    (cm->d->hashing && bytes_cmp(ta, la, red, strlen(red)) != 0 &&
	     bytes_cmp(tb, lb, red, strlen(red)) != 0))
		return 0;
	r = step_member(cm, "Secrets", 7, "Secrets", 7) < 0 || step_member(cm, "State", 5, "State", 5) < 0
		    ? -1 : add_change(cm, OM_CHANGE_CHANGED, sa, sb, 0, 0);
	unmark(cm, mk);
	return r;
}

/* Is node of side i a reference (replaced by its marker)? */
static int is_ref(const struct cmp *cm, int i, om_canon_node node)
{
	size_t len;
	const char *s = om_canon_type(cm->d->c[i], node) == OM_CANON_STRING
				? om_canon_str(cm->d->c[i], node, &len) : NULL;
	return s && len && s[0] == REF;
}

static int cmp_object(struct cmp *cm, om_canon_node a, om_canon_node b, int elem)
{
	size_t na, nb, i = 0, j = 0;
	struct member *ma = members(cm, 0, a, &na), *mb = members(cm, 1, b, &nb);
	int r = 0, root = cm->pat.len == 0;

	if (!ma || !mb) {
		free(ma);
		free(mb);
		om_err_set(cm->d->err, "out of memory");
		return -1;
	}
	while (r == 0 && (i < na || j < nb)) {
		int c = i == na ? 1 : j == nb ? -1 : member_cmp(&ma[i], &mb[j]);
		const struct member *m = c <= 0 ? &ma[i] : &mb[j];
		struct mark mk = mark(cm);
		/* An Id is the server's own: of the document, or of an element of an
		 * array (a step, a variable, a channel's rule), unless the model
		 * says it is a reference. */
		if ((root || elem) && m->len == strlen(OM_MEMBER_ID) &&
		    memcmp(m->key, OM_MEMBER_ID, m->len) == 0 &&
		    !(c <= 0 && is_ref(cm, 0, ma[i].node)) && !(c >= 0 && is_ref(cm, 1, mb[j].node))) {
			i += c <= 0;
			j += c >= 0;
			continue;
		}
		/* The manifest's counts follow from the documents, and its
		 * secrets' salt, check value and key derivation are not
		 * configuration: only a change of their state can matter. */
		if (root && cm->manifest && ((m->len == 6 && memcmp(m->key, "Counts", 6) == 0) ||
					     (m->len == 7 && memcmp(m->key, "Secrets", 7) == 0))) {
			if (c == 0 && m->len == 7)
				r = state_change(cm, ma[i].node, mb[j].node);
			i += c <= 0;
			j += c >= 0;
			continue;
		}
		size_t rawlen;
		const char *raw = c <= 0 ? om_canon_key(cm->d->c[0], ma[i].node, &rawlen)
					 : om_canon_key(cm->d->c[1], mb[j].node, &rawlen);
		if (step_member(cm, raw, rawlen, m->key, m->len) < 0)
			r = -1;
		else if (c < 0)
			r = add_change(cm, OM_CHANGE_REMOVED, ma[i].node, OM_CANON_NONE, 0, 0);
		else if (c > 0)
			r = add_change(cm, OM_CHANGE_ADDED, OM_CANON_NONE, mb[j].node, 0, 0);
		else
			r = cmp_node(cm, ma[i].node, mb[j].node, 0);
		unmark(cm, mk);
		i += c <= 0;
		j += c >= 0;
	}
	free(ma);
	free(mb);
	return r;
}

/* An element of an array, with the key it is matched by. */
struct elem {
	const char *key;
	size_t len;
	/* The rest of its identity, for arrays whose elements the model
	 * identifies by more than a name (a variable's scope), or NULL. */
	char *ident;
	size_t ilen;
	long rank;  /* the n-th element of the same key, from 1 (its location) */
	long mrank; /* the n-th of the same key and ident, for matching */
	long idx;   /* its index */
	long other; /* the index of its partner on the other side, or -1 */
	int named;  /* matched by the model's key (else by value or position) */
};

/* By key, the rest of the identity, then mrank. */
static int elem_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	int r = bytes_cmp(a->key, a->len, b->key, b->len);
	if (!r)
		r = bytes_cmp(a->ident, a->ilen, b->ident, b->ilen);
	return r ? r : (a->mrank > b->mrank) - (a->mrank < b->mrank);
}

/* By key, then mrank (the identity's rest left aside). */
static int key_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	int r = bytes_cmp(a->key, a->len, b->key, b->len);
	return r ? r : (a->mrank > b->mrank) - (a->mrank < b->mrank);
}

/* The elements still without a partner first, by key, then mrank. */
static int left_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	if ((a->other >= 0) != (b->other >= 0))
		return (a->other >= 0) - (b->other >= 0);
	return key_cmp(x, y);
}

static int idx_cmp(const void *x, const void *y)
{
	const struct elem *a = x, *b = y;
	return (a->idx > b->idx) - (a->idx < b->idx);
}

/* The model's key for the elements of the array at cm->pat: the member
 * naming them (NULL: none), and the members completing their identity
 * ("Variables[]+Scope"), at most max into quals. */
static const char *array_key(struct cmp *cm, size_t *len, const char **quals, int max, int *nq)
{
	const char *member = NULL;
	const char *pat = cm->pat.p ? cm->pat.p : "";

	*nq = 0;
	for (const char *const *k = cm->kind && cm->kind->keys ? cm->kind->keys : NULL; k && *k; k++) {
		size_t n = strcspn(*k, "=+");
		if (!(*k)[n] || n != cm->pat.len + 2 || memcmp(*k, pat, cm->pat.len) != 0 ||
		    memcmp(*k + n - 2, "[]", 2) != 0)
			continue;
		if ((*k)[n] == '=') {
			member = *k + n + 1;
			*len = strlen(member);
		} else if (*nq < max) {
			quals[(*nq)++] = *k + n + 1;
		}
	}
	if (!member)
		*nq = 0;
	return member;
}

static int is_scalar(enum om_canon_type t)
{
	return t != OM_CANON_ARRAY && t != OM_CANON_OBJECT;
}

static int is_empty(const struct om_canon *c, om_canon_node n)
{
	enum om_canon_type t = om_canon_type(c, n);
	return t == OM_CANON_ABSENT || t == OM_CANON_NULL ||
	       ((t == OM_CANON_ARRAY || t == OM_CANON_OBJECT) && om_canon_len(c, n) == 0);
}

static int str_cmp(const void *x, const void *y)
{
	const struct om_buf *a = x, *b = y;
	return bytes_cmp(a->p, a->len, b->p, b->len);
}

/*
 * The value of node (of side i, normalized) as identity text, the same for
 * the same meaning on two servers: references are their markers (paths and
 * names), objects go by member in bytewise order without null or empty
 * members, and arrays are sets (sorted, without repeats).
 */
static int ident_text(struct cmp *cm, int i, om_canon_node node, struct om_buf *b)
{
	struct om_canon *c = cm->d->c[i];
	size_t len, n = om_canon_len(c, node);
	const char *s;
	int r = 0;

	switch (om_canon_type(c, node)) {
	case OM_CANON_STRING:
		s = om_canon_str(c, node, &len);
		return buf_json(b, s, len);
	case OM_CANON_ARRAY: {
		struct om_buf *v = calloc(n + 1, sizeof *v);
		if (!v)
			return -1;
		for (size_t j = 0; j < n && r == 0; j++)
			r = ident_text(cm, i, om_canon_at(c, node, j), &v[j]);
		if (r == 0) {
			qsort(v, n, sizeof *v, str_cmp);
			r = om_buf_add(b, "[", 1);
		}
		for (size_t j = 0; j < n && r == 0; j++)
			if (!j || str_cmp(&v[j - 1], &v[j]) != 0)
				r = om_buf_add(b, v[j].p ? v[j].p : "", v[j].len) < 0 ||
				    om_buf_add(b, ",", 1) < 0 ? -1 : 0;
		for (size_t j = 0; j < n; j++)
			om_buf_release(&v[j]);
		free(v);
		return r < 0 ? -1 : om_buf_add(b, "]", 1);
	}
	case OM_CANON_OBJECT: {
		struct member *m = members(cm, i, node, &n);
		if (!m)
			return -1;
		r = om_buf_add(b, "{", 1);
		for (size_t j = 0; j < n && r == 0; j++)
			if (!is_empty(c, m[j].node))
				r = buf_json(b, m[j].key, m[j].len) < 0 || om_buf_add(b, ":", 1) < 0 ||
				    ident_text(cm, i, m[j].node, b) < 0 || om_buf_add(b, ",", 1) < 0 ? -1 : 0;
		free(m);
		return r < 0 ? -1 : om_buf_add(b, "}", 1);
	}
	default:
		return render(cm, i, node, b);
	}
}

/* Do two elements (keyed, not positional) share their key, and also the
 * rest of their identity? */
static int same_key(const struct elem *a, const struct elem *b)
{
	return a->rank >= 0 && b->rank >= 0 && bytes_cmp(a->key, a->len, b->key, b->len) == 0;
}

static int same_ident(const struct elem *a, const struct elem *b)
{
	return same_key(a, b) && bytes_cmp(a->ident, a->ilen, b->ident, b->ilen) == 0;
}

/* Give v[0..n), sorted with mrank holding the index (or the negative rank
 * of a positional element), the mrank of its
 * place in each run of elements that same() finds equal: 1, 2, ...;
 * positional elements keep their (negative) rank. */
static void number_runs(struct elem *v, size_t n,
			int (*same)(const struct elem *, const struct elem *))
{
	for (size_t j = 0; j < n; j++)
		v[j].mrank = v[j].rank < 0 ? v[j].rank
			     : j && same(&v[j - 1], &v[j]) ? v[j - 1].mrank + 1 : 1;
}

static void elems_free(struct elem *v, size_t n)
{
	for (size_t j = 0; v && j < n; j++)
		free(v[j].ident);
	free(v);
}

/* Fill the elements of array node of side i: named by member (and the
 * members of quals), or by value (scalars), or NULL keys for positional
 * matching; sorted for matching. */
static struct elem *elems(struct cmp *cm, int i, om_canon_node arr, const char *member,
			  size_t mlen, const char *const *quals, int nq, int by_value, size_t *n)
{
	struct om_canon *c = cm->d->c[i];
	size_t len = om_canon_len(c, arr);
	struct elem *v = calloc(len + 1, sizeof *v);
	struct om_buf b = {0};

	if (!v)
		return NULL;
	for (size_t j = 0; j < len; j++) {
		om_canon_node e = om_canon_at(c, arr, j);
		v[j].idx = v[j].mrank = (long)j;
		v[j].other = -1;
		if (member) {
			char *name = dupn(member, mlen);
			om_canon_node k = name ? om_canon_get(c, e, name) : OM_CANON_NONE;
			free(name);
			if (om_canon_type(c, k) == OM_CANON_STRING) {
				v[j].key = om_canon_str(c, k, &v[j].len);
				v[j].named = 1;
			}
		} else if (by_value) {
			v[j].key = om_canon_str(c, e, &v[j].len);
			if (!v[j].key) /* null, true, false */
				v[j].key = om_canon_type(c, e) == OM_CANON_NULL ? "null"
					   : om_canon_type(c, e) == OM_CANON_TRUE ? "true" : "false",
				v[j].len = strlen(v[j].key);
		}
		if (!v[j].key) {
			v[j].key = "";
			v[j].len = 0;
			v[j].rank = -(long)j - 1; /* unnamed: matched by position */
			continue;
		}
		/* The rest of the identity: each member's name and value. */
		b.len = 0;
		for (int q = 0; v[j].named && q < nq; q++) {
			om_canon_node m = om_canon_get(c, e, quals[q]);
			if (!is_empty(c, m) &&
			    (buf_json(&b, quals[q], strlen(quals[q])) < 0 || om_buf_add(&b, ":", 1) < 0 ||
			     ident_text(cm, i, m, &b) < 0 || om_buf_add(&b, ",", 1) < 0))
				goto oom;
		}
		if (b.len && !(v[j].ident = dupn(b.p, b.len)))
			goto oom;
		v[j].ilen = b.len;
	}
	om_buf_release(&b);
	/* Ranks: the n-th of the same key, in array order (as in locations). */
	qsort(v, len, sizeof *v, key_cmp);
	for (size_t j = 0; j < len; j++)
		if (v[j].rank >= 0)
			v[j].rank = j && same_key(&v[j - 1], &v[j]) ? v[j - 1].rank + 1 : 1;
	/* For matching: the n-th of the same key and identity. */
	for (size_t j = 0; j < len; j++)
		v[j].mrank = v[j].rank < 0 ? v[j].rank : v[j].idx;
	qsort(v, len, sizeof *v, elem_cmp);
	number_runs(v, len, same_ident);
	*n = len;
	return v;
oom:
	om_buf_release(&b);
	elems_free(v, len);
	return NULL;
}

/* Pair the elements of ea and eb (both sorted by cmp) that cmp finds equal,
 * among the first na and nb. */
static void pair(struct elem *ea, size_t na, struct elem *eb, size_t nb,
		 int (*cmp)(const void *, const void *))
{
	for (size_t i = 0, j = 0; i < na && j < nb;) {
		int c = cmp(&ea[i], &eb[j]);
		if (c == 0) {
			ea[i].other = eb[j].idx;
			eb[j].other = ea[i].idx;
		}
		i += c <= 0;
		j += c >= 0;
	}
}

/* The elements left without a partner, first in v, numbered by key. */
static size_t leftovers(struct elem *v, size_t n)
{
	size_t k = 0;

	for (size_t j = 0; j < n; j++)
		if (v[j].other < 0)
			v[j].mrank = v[j].rank < 0 ? v[j].rank : v[j].idx;
	qsort(v, n, sizeof *v, left_cmp);
	while (k < n && v[k].other < 0)
		k++;
	number_runs(v, k, same_key);
	return k;
}


/* Append the location step of an element. */
static int step_elem(struct cmp *cm, const struct elem *e, const char *member, size_t mlen,
		     int by_value)
{
	char num[32];
	int r;

	if (e->named) {
		r = om_buf_add(&cm->loc, "[", 1) < 0 || om_buf_add(&cm->loc, member, mlen) < 0 ||
		    om_buf_add(&cm->loc, "=", 1) < 0 || buf_json(&cm->loc, e->key, e->len) < 0;
		if (!r && e->rank > 1) {
			snprintf(num, sizeof num, "#%ld", e->rank);
			r = om_buf_adds(&cm->loc, num) < 0;
		}
		r = r || om_buf_add(&cm->loc, "]", 1) < 0;
	} else if (by_value) {
		r = om_buf_adds(&cm->loc, "[]") < 0;
	} else {
		snprintf(num, sizeof num, "[%ld]", e->idx);
		r = om_buf_adds(&cm->loc, num) < 0;
	}
	if (r || om_buf_adds(&cm->pat, "[]") < 0) {
		om_err_set(cm->d->err, "out of memory");
		return -1;
	}
	return 0;
}

/* Mark in keep[] the elements (in A's order) that stay in place: the
 * longest run of partners whose positions in B increase. */
static int longest_increasing(const long *seq, size_t n, char *keep)
{
	long *tail = malloc((n + 1) * sizeof *tail), *prev = malloc((n + 1) * sizeof *prev);
	size_t len = 0;

	if (!tail || !prev) {
		free(tail);
		free(prev);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		size_t lo = 0, hi = len;
		while (lo < hi) {
			size_t mid = (lo + hi) / 2;
			if (seq[tail[mid]] < seq[i])
				lo = mid + 1;
			else
				hi = mid;
		}
		prev[i] = lo ? tail[lo - 1] : -1;
		tail[lo] = (long)i;
		if (lo == len)
			len++;
	}
	memset(keep, 0, n);
	for (long i = len ? tail[len - 1] : -1; i >= 0; i = prev[i])
		keep[i] = 1;
	free(tail);
	free(prev);
	return 0;
}

static int cmp_array(struct cmp *cm, om_canon_node a, om_canon_node b)
{
	struct om_canon *ca = cm->d->c[0], *cb = cm->d->c[1];
	size_t mlen = 0, na = 0, nb = 0, i, j;
	const char *quals[4];
	int nq, r = 0;
	const char *member = array_key(cm, &mlen, quals, 4, &nq);
	int by_value = !member;
	struct elem *ea = NULL, *eb = NULL, *bya = NULL;
	long *seq = NULL;
	char *keep = NULL;

	for (i = 0; by_value && i < om_canon_len(ca, a); i++)
		by_value = is_scalar(om_canon_type(ca, om_canon_at(ca, a, i)));
	for (i = 0; by_value && i < om_canon_len(cb, b); i++)
		by_value = is_scalar(om_canon_type(cb, om_canon_at(cb, b, i)));
	if (!(ea = elems(cm, 0, a, member, mlen, quals, nq, by_value, &na)) ||
	    !(eb = elems(cm, 1, b, member, mlen, quals, nq, by_value, &nb)))
		goto oom;
	/* Match by key (and the rest of the identity) and rank; unnamed
	 * elements by position.  Where the identity has more than the key,
	 * the elements left are then paired by key in their order: a
	 * variable whose scope changed. */
	pair(ea, na, eb, nb, elem_cmp);
	if (nq) {
		size_t la = leftovers(ea, na), lb = leftovers(eb, nb);
		pair(ea, la, eb, lb, key_cmp);
	}
	qsort(ea, na, sizeof *ea, idx_cmp);
	qsort(eb, nb, sizeof *eb, idx_cmp);
	/* Removed elements, in A's order. */
	for (i = 0; i < na && r == 0; i++) {
		if (ea[i].other >= 0)
			continue;
		struct mark mk = mark(cm);
		r = step_elem(cm, &ea[i], member, mlen, by_value) < 0 ? -1 :
		    add_change(cm, OM_CHANGE_REMOVED, om_canon_at(ca, a, (size_t)i), OM_CANON_NONE, 0, 0);
		unmark(cm, mk);
	}
	/* Moves, for arrays of named elements whose order is the user's (not
	 * those the model identifies by more than a name: they have none). */
	if (!(seq = malloc((na + 1) * sizeof *seq)) || !(keep = calloc(nb + na + 1, 1)))
		goto oom;
	size_t nseq = 0;
	int ordered = member && !nq;
	for (i = 0; i < na; i++)
		if (ea[i].other >= 0)
			seq[nseq++] = ea[i].other;
	if (ordered && longest_increasing(seq, nseq, keep) < 0)
		goto oom;
	/* bya: for each B index, whether it moved (keep[] is in A's order). */
	if (!(bya = calloc(nb + 1, sizeof *bya)))
		goto oom;
	for (i = 0, j = 0; i < na; i++)
		if (ea[i].other >= 0) {
			bya[ea[i].other].other = ordered && !keep[j] ? (long)i + 1 : 0;
			j++;
		}
	/* Added, moved and changed elements, in B's order. */
	for (j = 0; j < nb && r == 0; j++) {
		struct mark mk = mark(cm);
		if (step_elem(cm, &eb[j], member, mlen, by_value) < 0) {
			r = -1;
			break;
		}
		if (eb[j].other < 0) {
			r = add_change(cm, OM_CHANGE_ADDED, OM_CANON_NONE, om_canon_at(cb, b, j), 0, 0);
		} else {
			/* A secret bound to its location cannot be compared with
			 * one of another location (another rank). */
			int shifted = ea[eb[j].other].rank != eb[j].rank;
			if (bya[j].other)
				r = add_change(cm, OM_CHANGE_MOVED, OM_CANON_NONE, OM_CANON_NONE,
					       bya[j].other, (long)j + 1);
			cm->shifted += shifted;
			if (r == 0 && !by_value)
				r = cmp_node(cm, om_canon_at(ca, a, (size_t)eb[j].other),
					     om_canon_at(cb, b, j), 1);
			cm->shifted -= shifted;
		}
		unmark(cm, mk);
	}
	elems_free(ea, na);
	elems_free(eb, nb);
	free(bya);
	free(seq);
	free(keep);
	return r;
oom:
	elems_free(ea, na);
	elems_free(eb, nb);
	free(bya);
	free(seq);
	free(keep);
	om_err_set(cm->d->err, "out of memory");
	return -1;
}

static int cmp_node(struct cmp *cm, om_canon_node a, om_canon_node b, int elem)
{
	struct om_canon *ca = cm->d->c[0], *cb = cm->d->c[1];
	enum om_canon_type ta = om_canon_type(ca, a), tb = om_canon_type(cb, b);
	size_t la = 0, lb = 0;
	const char *sa = om_canon_str(ca, a, &la), *sb = om_canon_str(cb, b, &lb);
	int seca = ta == OM_CANON_STRING && la && sa[0] == SECRET;
	int secb = tb == OM_CANON_STRING && lb && sb[0] == SECRET;

	if (seca && secb) {
		int ka = token_class(sa + 1, la - 1), kb = token_class(sb + 1, lb - 1);
		if (la == lb && memcmp(sa, sb, la) == 0)
			return 0;
		/* Fingerprints and password tokens compare as they are only
		 * under the same key: the manifests' Secrets say. */
		if (ka != kb || ((ka == 2 || ka == 3) && (!cm->d->pw_comparable || cm->shifted)))
			return add_change(cm, OM_CHANGE_SECRET_UNKNOWN, OM_CANON_NONE, OM_CANON_NONE, 0, 0);
		return add_change(cm, OM_CHANGE_SECRET, OM_CANON_NONE, OM_CANON_NONE, 0, 0);
	}
	if (ta != tb || seca || secb)
		return add_change(cm, OM_CHANGE_CHANGED, a, b, 0, 0);
	switch (ta) {
	case OM_CANON_OBJECT:
		return cmp_object(cm, a, b, elem);
	case OM_CANON_ARRAY:
		return cmp_array(cm, a, b);
	case OM_CANON_STRING:
	case OM_CANON_NUMBER:
		if (la == lb && memcmp(sa, sb, la) == 0)
			return 0;
		return add_change(cm, OM_CHANGE_CHANGED, a, b, 0, 0);
	default:
		return 0;
	}
}

/* ---- text files ---- */

struct line {
	const char *p;
	size_t len;
};

static struct line *split_lines(const char *s, size_t len, size_t *n)
{
	size_t cap = 16, k = 0;
	struct line *v = malloc(cap * sizeof *v);

	for (size_t i = 0; v && i < len;) {
		const char *nl = memchr(s + i, '\n', len - i);
		size_t e = nl ? (size_t)(nl - s) + 1 : len;
		if (k == cap) {
			struct line *w = realloc(v, (cap *= 2) * sizeof *v);
			if (!w) {
				free(v);
				return NULL;
			}
			v = w;
		}
		v[k++] = (struct line){s + i, e - i};
		i = e;
	}
	*n = k;
	return v;
}

static int line_eq(const struct line *a, const struct line *b)
{
	return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
}

/* The longest edit distance searched for; beyond it the differing middle
 * is shown as all removed, then all added (memory grows as its square). */
#define MYERS_MAX 2000

/*
 * Myers' greedy O(ND) diff ("An O(ND) Difference Algorithm and Its
 * Variations", 1986) between a[0..n) and b[0..m), writing to ops one of
 * '=', '-', '+' per line of the edit script.  Written here rather than
 * taken from a library: Debian has no small C diff library, and this is 80
 * lines.  Returns the number of ops, or -1 when out of memory.
 */
static long myers(const struct line *a, long n, const struct line *b, long m, char *ops)
{
	long max = n + m < MYERS_MAX ? n + m : MYERS_MAX, off = max + 1, d, k, x, y, nops = 0;
	long *v = calloc((size_t)(2 * max + 3), sizeof *v), **trace = calloc((size_t)max + 1, sizeof *trace);
	long found = -1;

	if (!v || !trace)
		goto oom;
	for (d = 0; d <= max && found < 0; d++) {
		if (!(trace[d] = malloc((size_t)(2 * max + 3) * sizeof **trace)))
			goto oom;
		memcpy(trace[d], v, (size_t)(2 * max + 3) * sizeof *v);
		for (k = -d; k <= d; k += 2) {
			if (k == -d || (k != d && v[off + k - 1] < v[off + k + 1]))
				x = v[off + k + 1];
			else
				x = v[off + k - 1] + 1;
			y = x - k;
			while (x < n && y < m && line_eq(&a[x], &b[y]))
				x++, y++;
			v[off + k] = x;
			if (x >= n && y >= m) {
				found = d;
				break;
			}
		}
	}
	if (found < 0) {
		/* Too different: everything removed, then everything added. */
		for (x = 0; x < n; x++)
			ops[nops++] = '-';
		for (y = 0; y < m; y++)
			ops[nops++] = '+';
	} else {
		/* Walk back through the saved frontiers, writing ops backwards. */
		long pos = n + m;
		x = n, y = m;
		for (d = found; d >= 0; d--) {
			long *vd = trace[d], pk, px, py;
			k = x - y;
			if (d == 0) {
				pk = 0, px = 0, py = 0;
			} else {
				pk = (k == -d || (k != d && vd[off + k - 1] < vd[off + k + 1])) ? k + 1 : k - 1;
				px = vd[off + pk];
				py = px - pk;
			}
			while (x > px && y > py)
				ops[--pos] = '=', x--, y--;
			if (d > 0)
				ops[--pos] = x == px ? '+' : '-';
			x = px, y = py;
		}
		memmove(ops, ops + pos, (size_t)(n + m - pos));
		nops = n + m - pos;
	}
	for (d = 0; d <= max; d++)
		free(trace[d]);
	free(trace);
	free(v);
	return nops;
oom:
	if (trace)
		for (d = 0; d <= max; d++)
			free(trace[d]);
	free(trace);
	free(v);
	return -1;
}

#define CONTEXT 3

struct hunks {
	struct om_diff_change *ch;
	size_t n, cap;
};

static int add_hunk(struct hunks *h, const struct line *a, const struct line *b, const char *ops,
		    long nops, long s, long e)
{
	struct om_buf t = {0}, head = {0};
	long ai = 0, bi = 0, as, bs, ac = 0, bc = 0;
	char num[96];

	for (long i = 0; i < s; i++) {
		ai += ops[i] != '+';
		bi += ops[i] != '-';
	}
	as = ai, bs = bi;
	for (long i = s; i < e && i < nops; i++) {
		const struct line *l = ops[i] == '+' ? &b[bi] : &a[ai];
		char sign = ops[i] == '=' ? ' ' : ops[i];
		if (om_buf_add(&t, &sign, 1) < 0 || om_buf_add(&t, l->p, l->len) < 0)
			goto oom;
		if (!l->len || l->p[l->len - 1] != '\n')
			if (om_buf_adds(&t, "\n\\ No newline at end of file\n") < 0)
				goto oom;
		ac += ops[i] != '+';
		bc += ops[i] != '-';
		ai += ops[i] != '+';
		bi += ops[i] != '-';
	}
	snprintf(num, sizeof num, "@@ -%ld,%ld +%ld,%ld @@", ac ? as + 1 : as, ac, bc ? bs + 1 : bs, bc);
	if (om_buf_adds(&head, num) < 0)
		goto oom;
	if (om_array_grow(&h->ch, &h->cap, h->n, 1, sizeof *h->ch) < 0)
		goto oom;
	h->ch[h->n++] = (struct om_diff_change){OM_CHANGE_HUNK, head.p, NULL, t.p, 0, 0};
	return 0;
oom:
	om_buf_release(&t);
	om_buf_release(&head);
	return -1;
}

/* The hunks of the line diff of a and b; 0 with none when equal. */
static int line_hunks(const char *a, size_t alen, const char *b, size_t blen, struct hunks *h)
{
	size_t n, m;
	struct line *la = split_lines(a, alen, &n), *lb = split_lines(b, blen, &m);
	long pre = 0, suf = 0, nops, k, i;
	char *ops = NULL;
	int r = -1;

	if (!la || !lb)
		goto out;
	/* The common head and tail need no search. */
	while ((size_t)pre < n && (size_t)pre < m && line_eq(&la[pre], &lb[pre]))
		pre++;
	while ((size_t)(pre + suf) < n && (size_t)(pre + suf) < m &&
	       line_eq(&la[n - 1 - (size_t)suf], &lb[m - 1 - (size_t)suf]))
		suf++;
	if (!(ops = malloc(n + m + 1)))
		goto out;
	memset(ops, '=', (size_t)pre);
	nops = myers(la + pre, (long)n - pre - suf, lb + pre, (long)m - pre - suf, ops + pre);
	if (nops < 0)
		goto out;
	nops += pre;
	memset(ops + nops, '=', (size_t)suf);
	nops += suf;
	/* Hunks: runs of changes with CONTEXT lines around, joined when close. */
	for (i = 0; i < nops;) {
		long s, e;
		if (ops[i] == '=') {
			i++;
			continue;
		}
		s = i - CONTEXT < 0 ? 0 : i - CONTEXT;
		e = i;
		for (k = i; k < nops; k++) {
			if (ops[k] != '=') {
				e = k + 1;
				continue;
			}
			if (k - e >= 2 * CONTEXT)
				break;
		}
		e = e + CONTEXT > nops ? nops : e + CONTEXT;
		if (add_hunk(h, la, lb, ops, nops, s, e) < 0)
			goto out;
		i = e;
	}
	r = 0;
out:
	free(la);
	free(lb);
	free(ops);
	return r;
}

static void hunks_release(struct hunks *h)
{
	for (size_t i = 0; i < h->n; i++) {
		free((char *)h->ch[i].loc);
		free((char *)h->ch[i].new_value);
	}
	free(h->ch);
	memset(h, 0, sizeof *h);
}

int om_diff_lines(const char *path, const char *a, size_t alen, const char *b, size_t blen,
		  om_diff_fn *fn, void *ctx, struct om_err *err)
{
	struct hunks h = {0};
	struct om_diff_doc doc = {OM_DIFF_CHANGED, path, path, "File", path, path, NULL, 0};
	int r;

	if (line_hunks(a, alen, b, blen, &h) < 0) {
		hunks_release(&h);
		om_err_set(err, "out of memory");
		return -1;
	}
	if (h.n) {
		doc.changes = h.ch;
		doc.nchanges = h.n;
		fn(&doc, ctx);
	}
	r = h.n ? 1 : 0;
	hunks_release(&h);
	return r;
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

	if (display_name(&n, path, k) < 0 || display_name(&o, old_path, k) < 0) {
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
static int is_text(const char *p, size_t len)
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
	int doc = is_json(it->path) && !(it->flags & LARGE);
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
		struct cmp cm = {d, k, {old_path, it->path},
				 {{d, 0, NULL, 0, 0, NULL, 0, 0}, {d, 1, NULL, 0, 0, NULL, 0, 0}},
				 NULL, 0, 0, {0}, {0}, strcmp(it->path, OM_BUNDLE_MARKER) == 0,
				 strcmp(old_path, it->path) != 0};
		r = normalize(&cm, 0) < 0 || normalize(&cm, 1) < 0 ? -1 :
		    cmp_node(&cm, om_canon_root(d->c[0]), om_canon_root(d->c[1]), 0);
		if (r == 0 && (cm.nch || st == OM_DIFF_RENAMED))
			r = emit(d, st, old_path, it->path, kind, k, cm.ch, cm.nch, fn, ctx);
		for (size_t j = 0; j < cm.nch; j++) {
			free((char *)cm.ch[j].loc);
			free((char *)cm.ch[j].old_value);
			free((char *)cm.ch[j].new_value);
		}
		free(cm.ch);
		om_buf_release(&cm.loc);
		om_buf_release(&cm.pat);
		norm_release(&cm.n[0]);
		norm_release(&cm.n[1]);
		return r;
	}
	if (!(it->flags & LARGE) && is_text(it->bytes[0], it->len[0]) &&
	    is_text(it->bytes[1], it->len[1])) {
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
	int fd = om_tmpfile(tmpdir, "om-diff", path, sizeof path);
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

/* ---- text for git ---- */

struct tconv {
	struct om_canon *c;
	struct om_buf b;
	int failed;
};

/* A secret as text: a hash of its token, so that a change shows; a clear
 * secret's hash would be a hash of the secret, so it shows as nothing. */
static int mask_hit(const struct om_chit *hit, void *vctx)
{
	struct tconv *t = vctx;
	size_t len;
	const char *s = om_canon_str(t->c, hit->node, &len);
	unsigned char h[8];
	char hex[17], out[40];
	int cls = token_class(s, len);

	if (cls == 2 || cls == 3) {
		crypto_generichash(h, sizeof h, (const unsigned char *)s, len, NULL, 0);
		sodium_bin2hex(hex, sizeof hex, h, sizeof h);
		snprintf(out, sizeof out, "(secret %s)", hex);
	} else {
		snprintf(out, sizeof out, "(secret)");
	}
	/* Replacing the string in place is safe during the walk: the walk
	 * holds node handles, not string pointers. */
	if (om_canon_set_str(t->c, hit->node, out, strlen(out), NULL) < 0) {
		t->failed = 1;
		return 1;
	}
	return 0;
}

int om_diff_textconv(const char *path, om_write_fn *out, void *ctx, struct om_err *err)
{
	struct om_bundle_reader *r = om_bundle_reader_open(path, err);
	struct tconv t = {NULL, {0}, 0};
	struct om_bundle_entry e;
	int n, rc = -1;
	char *buf = NULL;
	size_t len;

	if (!r || !(t.c = om_canon_new(err)))
		goto out;
	while ((n = om_bundle_next(r, &e, err)) == 1) {
		t.b.len = 0;
		if (om_buf_adds(&t.b, "=== ") < 0 || om_buf_adds(&t.b, e.path) < 0 || om_buf_add(&t.b, "\n", 1) < 0)
			goto oom;
		if (e.size <= MAX_DOC) {
			free(buf);
			buf = NULL;
			if (om_bundle_read_all(r, MAX_DOC, &buf, &len, err) < 0)
				goto out;
		}
		if (e.size <= MAX_DOC && is_json(e.path)) {
			const struct om_kind *k;
			if (om_canon_parse(t.c, buf, len, err) < 0) {
				om_err_prefix(err, "'%s': entry '%s'", path, e.path);
				goto out;
			}
			om_canon_node id = om_canon_get(t.c, om_canon_root(t.c), OM_MEMBER_ID);
			size_t il;
			const char *is = om_canon_str(t.c, id, &il);
			char tmp[256] = "";
			if (om_canon_type(t.c, id) == OM_CANON_STRING && il < sizeof tmp) {
				memcpy(tmp, is, il);
				tmp[il] = 0;
			}
			if ((k = om_kind_of_id(tmp)) &&
			    (om_canon_secrets_each(k, t.c, mask_hit, &t, err) < 0 || t.failed)) {
				if (t.failed)
					om_err_set(err, "out of memory");
				goto out;
			}
			if (om_canon_write(t.c, &t.b, err) < 0)
				goto out;
		} else if (e.size <= MAX_DOC && is_text(buf, len)) {
			if (om_buf_add(&t.b, buf, len) < 0 ||
			    (len && buf[len - 1] != '\n' && om_buf_adds(&t.b, "\n\\ No newline at end of file\n") < 0))
				goto oom;
		} else {
			crypto_generichash_state st;
			unsigned char h[8];
			char hex[17], line[96];
			static char chunk[65536];
			ssize_t k = 0;
			crypto_generichash_init(&st, NULL, 0, sizeof h);
			if (buf)
				crypto_generichash_update(&st, (const unsigned char *)buf, len);
			else
				while ((k = om_bundle_read(r, chunk, sizeof chunk, err)) > 0)
					crypto_generichash_update(&st, (const unsigned char *)chunk, (size_t)k);
			if (!buf && k < 0)
				goto out;
			crypto_generichash_final(&st, h, sizeof h);
			sodium_bin2hex(hex, sizeof hex, h, sizeof h);
			snprintf(line, sizeof line, "(binary, %llu bytes, %s)\n",
				 (unsigned long long)e.size, hex);
			if (om_buf_adds(&t.b, line) < 0)
				goto oom;
		}
		if (out(t.b.p, t.b.len, ctx, err) < 0)
			goto out;
	}
	rc = n < 0 ? -1 : 0;
	goto out;
oom:
	om_err_set(err, "out of memory");
out:
	free(buf);
	om_buf_release(&t.b);
	om_canon_free(t.c);
	om_bundle_reader_close(r);
	return rc;
}
