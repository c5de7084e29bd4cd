#include "import.h"
#include "sigs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "bundle.h"
#include "bundlecheck.h"
#include "canon.h"
#include "model.h"
#include "names.h"
#include "pwcrypt.h"
#include "seal.h"
#include "store.h"

/* The biggest document read whole; larger entries are files. */
#define MAX_DOC (64u << 20)
/* A script sidecar is held in memory until its process is written. */
#define MAX_SCRIPT (16u << 20)
/* Documents of one kind written per round of queries. */
#define CHUNK 2000
/* Flush COPY data at this size. */
#define COPY_FLUSH (256u << 10)
/* The spool's write buffer. */
#define SPOOL_BUF (1u << 20)
/* pg_advisory_xact_lock key of imports: "om-impor" in ASCII. */
#define IMPORT_LOCK "7957688385473310578"
/* A null identity value in a key. */
#define NULLV "\x01"

/* ---- a string map (open addressing, keys copied) ---- */

struct smap {
	char **keys;
	void **vals;
	size_t cap, n;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

static size_t smap_find(const struct smap *m, const char *key)
{
	size_t i = (size_t)hash_str(key) & (m->cap - 1);

	while (m->keys[i] && strcmp(m->keys[i], key) != 0)
		i = (i + 1) & (m->cap - 1);
	return i;
}

static void *smap_get(const struct smap *m, const char *key)
{
	if (!m->cap)
		return NULL;
	size_t i = smap_find(m, key);
	return m->keys[i] ? m->vals[i] : NULL;
}

/* Put key (copied) -> val; an existing value is replaced and returned
 * through *old (for the caller to free), NULL else.  -1 when out of memory. */
static int smap_put(struct smap *m, const char *key, void *val, void **old)
{
	if (old)
		*old = NULL;
	if ((m->n + 1) * 2 > m->cap) {
		struct smap g = {NULL, NULL, m->cap ? m->cap * 2 : 64, 0};
		if (!(g.keys = calloc(g.cap, sizeof *g.keys)) ||
		    !(g.vals = calloc(g.cap, sizeof *g.vals))) {
			free(g.keys);
			return -1;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->keys[i]) {
				size_t j = smap_find(&g, m->keys[i]);
				g.keys[j] = m->keys[i];
				g.vals[j] = m->vals[i];
			}
		g.n = m->n;
		free(m->keys);
		free(m->vals);
		*m = g;
	}
	size_t i = smap_find(m, key);
	if (m->keys[i]) {
		if (old)
			*old = m->vals[i];
		m->vals[i] = val;
		return 0;
	}
	if (!(m->keys[i] = strdup(key)))
		return -1;
	m->vals[i] = val;
	m->n++;
	return 0;
}

/* Free the map; free_vals: the values are malloc()ed strings. */
static void smap_free(struct smap *m, int free_vals)
{
	for (size_t i = 0; i < m->cap; i++)
		if (m->keys[i]) {
			free(m->keys[i]);
			if (free_vals)
				free(m->vals[i]);
		}
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof *m);
}

static int buf_add(struct om_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *q = realloc(b->p, cap);
		if (!q)
			return -1;
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
	b->p[b->len] = 0;
	return 0;
}

static int buf_str(struct om_buf *b, const char *s)
{
	return buf_add(b, s, strlen(s));
}

/* ---- the documents ---- */

struct doc {
	const struct om_kind *kind;
	char *path;      /* entry in the bundle */
	char *src_id;
	char *dst_id;    /* Id in the target, once matched */
	char *space;     /* source SpaceId, or NULL */
	char *ident;     /* identity values, "\x1f"-separated, NULLV for null */
	char *name;      /* a name to show in messages, or NULL */
	char *owner;     /* a derived kind's owner Id (derived_from), or NULL */
	off_t off;       /* the body in the spool, compact */
	size_t len;
	int exists;      /* the target has it (dst_id is its Id) */
	int written;     /* created or overwritten: its file goes home */
	enum om_import_action action;
};

/* A file entry of the bundle (not a document), in the spool. */
struct file {
	char *path;
	off_t off;
	uint64_t size;
	char *problem;   /* for a .json entry that is no document: why */
	char *home_tmp;  /* its temporary name in the home directory */
	char *home_dst;  /* where it goes after the commit */
	int claimed;
};

struct bundle {
	const char *name;
	struct doc *docs;
	size_t ndocs, capdocs;
	struct file *files;
	size_t nfiles, capfiles;
	struct smap ids;     /* source Id -> doc index + 1 */
	struct smap sidecars; /* sidecar paths the documents' tokens name */
	struct smap scripts; /* sidecar path -> malloc()ed body */
	struct smap elems;   /* source element Id -> target element Id */
	unsigned ignored;    /* history classes the export left out */
	int have_manifest;
	int same_key;        /* redacted with the target's master key */
	struct om_pw_key *pwkey; /* a password bundle's key */
};

/* An array of elements other documents refer to by Id (inner and tag
 * references): the kind holding them, where, and the member naming one. */
struct elemset {
	const struct om_kind *kind;
	const char *path;
	const char *name;
};

struct imp {
	PGconn *conn;
	const struct om_import_opts *o;
	struct om_err *err;
	int spool;
	off_t spool_end;         /* including what wbuf holds */
	struct om_buf wbuf;      /* the spool's write buffer */
	struct bundle *b;        /* the bundle being applied */
	int wrong_password;      /* a bundle's check value refused the password */
	struct smap alloc_kinds; /* kinds with allocated Ids */
	struct elemset sets[16];
	size_t nsets;
	unsigned long *counts;
	struct om_buf line, copy;
	struct om_canon *canon;  /* new_doc_fast()'s */
	char *home_dir;          /* our temporary directory in the home */
	unsigned long copy_failed_line; /* of the last failed COPY, from 1 */
	unsigned long written;          /* documents of the bundle written so far (progress) */
	unsigned long maps_used; /* bit i: --space-map entry i met its space */
	unsigned long nhome;
	/* Per kind: the weak references cleared in the bundle being applied,
	 * and the documents holding them (told by report_cleared()). */
	unsigned long *cleared_refs, *cleared_docs;
	unsigned long doc_cleared; /* of the document remap_refs() did last */
	int refs_again;          /* remapping a document a second time: no warnings */
};

static char *xstrdup(struct imp *x, const char *s)
{
	char *p = s ? strdup(s) : NULL;

	if (s && !p)
		om_err_set(x->err, "out of memory");
	return p;
}

static int oom(struct imp *x)
{
	om_err_set(x->err, "out of memory");
	return -1;
}

static void progress(struct imp *x, const char *phase, const char *kind, unsigned long done,
		     unsigned long total)
{
	if (x->o->progress)
		x->o->progress(x->o->ctx, phase, kind, done, total);
}

static void warn(struct imp *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void warn(struct imp *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!x->o->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	x->o->warn(msg, x->o->ctx);
}

/* "ProjectGroup" -> "project group" */
static void kind_words(const char *name, char *out, size_t n)
{
	size_t j = 0;

	for (size_t i = 0; name[i] && j + 2 < n; i++) {
		if (i && name[i] >= 'A' && name[i] <= 'Z')
			out[j++] = ' ';
		out[j++] = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] - 'A' + 'a' : name[i]);
	}
	out[j] = 0;
}

/* "project 'Acme Web'" or "variable set" */
static void doc_words(const struct doc *d, char *out, size_t n)
{
	char k[64];

	kind_words(d->kind->name, k, sizeof k);
	if (d->name)
		snprintf(out, n, "%s '%s'", k, d->name);
	else
		snprintf(out, n, "%s", k);
}

static int doc_err(struct imp *x, const struct doc *d, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int doc_err(struct imp *x, const struct doc *d, const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	om_err_set(x->err, "'%s': entry '%s': %s", x->b->name, d->path, msg);
	return -1;
}

/* ---- reading the bundles ---- */

static int spool_pwrite(struct imp *x, const char *c, size_t n, off_t at)
{
	while (n) {
		ssize_t w = pwrite(x->spool, c, n, at);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			om_err_set(x->err, "cannot write the spool file: %s", strerror(errno));
			return -1;
		}
		c += w;
		n -= (size_t)w;
		at += w;
	}
	return 0;
}

/* Write what the spool's buffer holds (it ends at spool_end). */
static int spool_flush(struct imp *x)
{
	size_t n = x->wbuf.len;

	x->wbuf.len = 0;
	return spool_pwrite(x, x->wbuf.p, n, x->spool_end - (off_t)n);
}

/* Append n bytes to the spool, *off their offset.  Small writes gather in
 * a buffer of SPOOL_BUF bytes: a write() per document would cost more than
 * the rest of its reading. */
static int spool_write(struct imp *x, const void *p, size_t n, off_t *off)
{
	*off = x->spool_end;
	if (x->wbuf.len + n > SPOOL_BUF && spool_flush(x) < 0)
		return -1;
	if (n >= SPOOL_BUF) {
		if (spool_pwrite(x, p, n, x->spool_end) < 0)
			return -1;
		x->spool_end += (off_t)n;
		return 0;
	}
	if (!x->wbuf.p) {
		if (!(x->wbuf.p = malloc(SPOOL_BUF)))
			return oom(x);
		x->wbuf.cap = SPOOL_BUF;
	}
	memcpy(x->wbuf.p + x->wbuf.len, p, n);
	x->wbuf.len += n;
	x->spool_end += (off_t)n;
	return 0;
}

static int spool_read(struct imp *x, off_t off, void *p, size_t n)
{
	char *c = p;

	if (x->wbuf.len && spool_flush(x) < 0)
		return -1;
	while (n) {
		ssize_t r = pread(x->spool, c, n, off);
		if (r <= 0) {
			if (r < 0 && errno == EINTR)
				continue;
			om_err_set(x->err, "cannot read the spool file: %s",
				   r < 0 ? strerror(errno) : "short read");
			return -1;
		}
		c += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* A value of a document as it takes part in an identity key. */
static int ident_part(struct om_buf *b, json_t *v)
{
	if (json_is_string(v))
		return buf_add(b, json_string_value(v), json_string_length(v));
	if (!v || json_is_null(v))
		return buf_str(b, NULLV);
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc = s ? buf_str(b, s) : -1;
	free(s);
	return rc;
}

static unsigned ignored_classes(json_t *manifest)
{
	json_t *ign = json_object_get(json_object_get(manifest, "Export"), "Ignore"), *v;
	unsigned mask = 0;
	size_t i;

	json_array_foreach(ign, i, v) {
		for (int h = OM_HIST_HISTORY; h <= OM_HIST_CERTIFICATES; h++)
			if (json_is_string(v) &&
			    strcmp(json_string_value(v), om_history_name((enum om_history)h)) == 0)
				mask |= 1u << h;
	}
	return mask;
}

/* Were the fingerprints of a redacted bundle made with the target's master
 * key?  The manifest's KeyId tells (spec/bundle.md). */
static int same_key(struct imp *x, json_t *manifest)
{
	const char *id = json_string_value(json_object_get(json_object_get(manifest, "Secrets"),
							   "KeyId"));
	char want[OM_FINGERPRINT_SIZE];

	om_key_fingerprint(x->o->key, "manifest.json#Secrets/KeyId", "", 0, want);
	return id && strcmp(id, want) == 0;
}

/* The key of a password bundle, from the password the caller gives and
 * the manifest's Secrets; a wrong password is told by the check value. */
static int password_key(struct imp *x, struct bundle *b, json_t *secrets)
{
	struct om_pw_params p;
	char want[OM_PW_CHECK_SIZE], got[OM_PW_CHECK_SIZE];
	const char *pw;
	size_t len;

	if (!x->o->password) {
		om_err_set(x->err, "'%s': the secrets are password-encrypted: give the password "
			   "(--password-file)", b->name);
		return -1;
	}
	if (om_pw_params_from_json(secrets, &p, want, x->err) < 0) {
		om_err_prefix(x->err, "'%s': entry 'manifest.json'", b->name);
		return -1;
	}
	if (!(pw = x->o->password(x->o->ctx, &len, x->err)))
		return -1;
	if (!(b->pwkey = om_pw_key_derive(pw, len, &p, x->err)))
		return -1;
	om_pw_key_check(b->pwkey, got);
	if (sodium_memcmp(got, want, OM_PW_CHECK_SIZE) != 0) {
		om_err_set(x->err, "'%s': wrong password (it does not match the bundle's check "
			   "value)", b->name);
		x->wrong_password = 1;
		return -1;
	}
	return 0;
}

static int read_manifest(struct imp *x, struct bundle *b, const char *text, size_t len,
			 const char *server_version)
{
	json_error_t je;
	json_t *m = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	const char *ver, *state;
	int rc = -1;

	/* Format and version are checked by om_manifest_check() first. */
	if (!m || !json_is_object(m)) {
		om_err_set(x->err, "'%s': entry 'manifest.json': not a JSON object%s%s", b->name,
			   m ? "" : ": ", m ? "" : je.text);
		goto out;
	}
	ver = json_string_value(json_object_get(m, "ServerVersion"));
	state = json_string_value(json_object_get(json_object_get(m, "Secrets"), "State"));
	if (!x->o->ignore_version && (!ver || strcmp(ver, server_version) != 0)) {
		om_err_set(x->err, "'%s': the bundle is of server version %s, the target is %s "
			   "(--ignore-version-check to import anyway)", b->name, ver ? ver : "(none)",
			   server_version);
		goto out;
	}
	if (state && strcmp(state, "password") == 0) {
		if (password_key(x, b, json_object_get(m, "Secrets")) < 0)
			goto out;
	} else if (!state || (strcmp(state, "clear") != 0 && strcmp(state, "redacted") != 0)) {
		om_err_set(x->err, "'%s': entry 'manifest.json': unknown secret state '%s'", b->name,
			   state ? state : "");
		goto out;
	}
	b->ignored = ignored_classes(m);
	b->same_key = same_key(x, m);
	b->have_manifest = 1;
	rc = 0;
out:
	json_decref(m);
	return rc;
}

/* The script sidecars a document names: om-script-1:scripts/NAME in an
 * action's script body is the entry scripts/NAME beside the document.  A
 * document sorts before the scripts/ entries of its directory, so every
 * sidecar is known before it is read; an entry no token names is no
 * sidecar, whatever its directory is called (a project named "scripts"). */
struct sidecar_ctx {
	struct imp *x;
	struct bundle *b;
	const char *path; /* the document's entry */
};

static int sidecar_hit(const struct om_hit *hit, void *vctx)
{
	struct sidecar_ctx *c = vctx;
	json_t *props = json_object_get(hit->value, "Properties");
	const char *body = json_string_value(json_object_get(props, "Octopus.Action.Script.ScriptBody"));
	const char *slash = strrchr(c->path, '/');
	char path[OM_BUNDLE_PATH_MAX + 1];

	if (!body || strncmp(body, "om-script-1:scripts/", 20) != 0 || strchr(body + 20, '/') ||
	    !body[20])
		return 0;
	snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - c->path + 1) : 0, c->path,
		 body + 12);
	return smap_put(&c->b->sidecars, path, (void *)1, NULL) < 0 ? oom(c->x) : 0;
}

/* The index of the --space-map entry for a space name. */
static unsigned space_map_index(struct imp *x, const char *name)
{
	unsigned i = 0;

	for (const char *const *m = x->o->space_map; m && *m; m++, i++)
		if (strncmp(*m, name, strlen(name)) == 0 && (*m)[strlen(name)] == '=')
			return i;
	return 0;
}

/* Space map: the target's name for a bundle's space name, or NULL. */
static const char *space_mapped(struct imp *x, const char *name)
{
	for (const char *const *m = x->o->space_map; m && *m; m++) {
		const char *eq = strchr(*m, '=');
		if (eq && (size_t)(eq - *m) == strlen(name) && memcmp(*m, name, strlen(name)) == 0)
			return eq + 1;
	}
	return NULL;
}

/* Valid JSON text without the whitespace between tokens, into out (which
 * is emptied first): the spool holds documents compact, so that reading
 * them again costs less.  Strings are copied as they are. */
static int compact_json(const char *s, size_t len, struct om_buf *out)
{
	const char *e = s + len;
	char *o;

	out->len = 0;
	if (buf_add(out, s, len) < 0)
		return -1;
	o = out->p;
	while (s < e) {
		char c = *s++;
		if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
			continue;
		*o++ = c;
		if (c != '"')
			continue;
		/* A string, copied up to its closing quote. */
		while (s < e) {
			const char *q = s;
			while (q < e && *q != '"' && *q != '\\')
				q++;
			memmove(o, s, (size_t)(q - s));
			o += q - s;
			s = q;
			if (s == e)
				break;
			if (*s == '"') {
				*o++ = *s++;
				break;
			}
			*o++ = *s++;          /* a backslash and what it escapes */
			if (s < e)
				*o++ = *s++;
		}
	}
	out->len = (size_t)(o - out->p);
	out->p[out->len] = 0;
	return 0;
}

/* Free the strings of a document's record. */
static void doc_release(struct doc *d)
{
	free(d->path);
	free(d->src_id);
	free(d->dst_id);
	free(d->space);
	free(d->ident);
	free(d->name);
	free(d->owner);
}

/* The end of add_doc() and add_doc_canon(): the Id checked, the body to
 * the spool, the record kept.  On failure the record's strings are freed. */
static int add_doc_finish(struct imp *x, struct bundle *b, struct doc *d, const char *text,
			  size_t len)
{
	if (smap_get(&b->ids, d->src_id)) {
		om_err_set(x->err, "'%s': entry '%s': Id %s is used by another document", b->name,
			   d->path, d->src_id);
		goto fail;
	}
	if (compact_json(text, len, &x->line) < 0)
		goto nomem;
	if (spool_write(x, x->line.p, x->line.len, &d->off) < 0)
		goto fail;
	d->len = x->line.len;
	if (b->ndocs == b->capdocs) {
		size_t cap = b->capdocs ? b->capdocs * 2 : 256;
		struct doc *p = realloc(b->docs, cap * sizeof *p);
		if (!p)
			goto nomem;
		b->docs = p;
		b->capdocs = cap;
	}
	if (smap_put(&b->ids, d->src_id, (void *)(uintptr_t)(b->ndocs + 1), NULL) < 0)
		goto nomem;
	b->docs[b->ndocs++] = *d;
	return 0;
nomem:
	oom(x);
fail:
	doc_release(d);
	return -1;
}

static int add_doc(struct imp *x, struct bundle *b, const char *path, json_t *doc,
		   const struct om_kind *k, const char *text, size_t len)
{
	struct doc d = {0};
	struct om_buf id = {0};
	json_t *v;
	char *mapped_text = NULL;
	int rc = -1;

	d.kind = k;
	d.path = xstrdup(x, path);
	d.src_id = xstrdup(x, json_string_value(json_object_get(doc, "Id")));
	v = json_object_get(doc, "SpaceId");
	d.space = json_is_string(v) ? xstrdup(x, json_string_value(v)) : NULL;
	if (k == om_kind_by_name("Space")) {
		const char *nm = json_string_value(json_object_get(doc, "Name"));
		const char *to = nm ? space_mapped(x, nm) : NULL;
		if (to) {
			/* --space-map: the space is the target's TO from here on. */
			x->maps_used |= 1ul << (space_map_index(x, nm) & 63);
			json_object_set_new(doc, "Name", json_string(to));
			if (!(mapped_text = json_dumps(doc, JSON_COMPACT))) {
				oom(x);
				goto out;
			}
			text = mapped_text;
			len = strlen(text);
		}
	}
	for (int i = 0; i < 5 && k->identity[i]; i++) {
		if (i && buf_str(&id, "\x1f") < 0)
			goto nomem;
		if (ident_part(&id, json_object_get(doc, k->identity[i])) < 0)
			goto nomem;
	}
	d.ident = xstrdup(x, id.p ? id.p : "");
	free(id.p);
	id.p = NULL;
	v = json_object_get(doc, "Name");
	if (!json_is_string(v))
		v = json_object_get(doc, k->identity[0]);
	if (json_is_string(v) && !om_kind_of_id(json_string_value(v)))
		d.name = xstrdup(x, json_string_value(v));
	if (k->derived_from) {
		v = json_object_get(doc, k->derived_from);
		if (json_is_string(v) && !(d.owner = xstrdup(x, json_string_value(v))))
			goto out;
	}
	if (!d.path || !d.src_id || !d.ident)
		goto nomem;
	if (k->scripts) {
		struct sidecar_ctx sc = {x, b, path};
		if (smap_get(&b->ids, d.src_id)) {
			om_err_set(x->err, "'%s': entry '%s': Id %s is used by another document",
				   b->name, path, d.src_id);
			goto out;
		}
		if (om_path_walk(doc, k->scripts, sidecar_hit, &sc, x->err) != 0)
			goto out;
	}
	rc = add_doc_finish(x, b, &d, text, len);
	free(mapped_text);
	return rc;
nomem:
	oom(x);
out:
	free(id.p);
	doc_release(&d);
	free(mapped_text);
	return rc;
}

/* A string member of a parsed document as a C string (copied), or NULL. */
static char *canon_cstr(const struct om_canon *c, om_canon_node obj, const char *member)
{
	om_canon_node v = om_canon_get(c, obj, member);
	size_t n;
	const char *p;

	if (om_canon_type(c, v) != OM_CANON_STRING)
		return NULL;
	p = om_canon_str(c, v, &n);
	return strndup(p, n);
}

/*
 * The kind of a document read with om_canon that add_doc_canon() can take
 * as it is, without loading it with jansson: an object whose numbers and
 * strings jansson would load the same (om_canon_plain()), with an "Id" of a
 * kind of the model, not a space (--space-map may rename it), no script
 * sidecars, and identity members that are strings or null.  NULL for every
 * other document, which goes the way of add_doc().
 */
static const struct om_kind *canon_kind(const struct om_canon *c)
{
	om_canon_node root = om_canon_root(c), v;
	const struct om_kind *k;
	char id[128];
	const char *p;
	size_t n;

	if (om_canon_type(c, root) != OM_CANON_OBJECT || !om_canon_plain(c))
		return NULL;
	v = om_canon_get(c, root, "Id");
	if (om_canon_type(c, v) != OM_CANON_STRING || !(p = om_canon_str(c, v, &n)) ||
	    n >= sizeof id)
		return NULL;
	memcpy(id, p, n);
	id[n] = 0;
	k = om_kind_of_id(id);
	if (!k || k->scripts || k == om_kind_by_name("Space"))
		return NULL;
	for (int i = 0; i < 5 && k->identity[i]; i++) {
		enum om_canon_type t = om_canon_type(c, om_canon_get(c, root, k->identity[i]));
		if (t != OM_CANON_STRING && t != OM_CANON_NULL && t != OM_CANON_ABSENT)
			return NULL;
	}
	return k;
}

/* add_doc() for a document that canon_kind() accepted: the same record. */
static int add_doc_canon(struct imp *x, struct bundle *b, const char *path,
			 const struct om_canon *c, const struct om_kind *k, const char *text,
			 size_t len)
{
	om_canon_node root = om_canon_root(c), v;
	struct doc d = {0};
	struct om_buf id = {0};
	const char *p;
	size_t n;

	d.kind = k;
	d.path = xstrdup(x, path);
	d.src_id = canon_cstr(c, root, "Id");
	d.space = canon_cstr(c, root, "SpaceId");
	for (int i = 0; i < 5 && k->identity[i]; i++) {
		if (i && buf_str(&id, "\x1f") < 0)
			goto nomem;
		v = om_canon_get(c, root, k->identity[i]);
		if (om_canon_type(c, v) == OM_CANON_STRING) {
			p = om_canon_str(c, v, &n);
			if (buf_add(&id, p, n) < 0)
				goto nomem;
		} else if (buf_str(&id, NULLV) < 0) {
			goto nomem;
		}
	}
	d.ident = xstrdup(x, id.p ? id.p : "");
	free(id.p);
	id.p = NULL;
	v = om_canon_get(c, root, "Name");
	if (om_canon_type(c, v) != OM_CANON_STRING)
		v = om_canon_get(c, root, k->identity[0]);
	if (om_canon_type(c, v) == OM_CANON_STRING) {
		char *nm = (p = om_canon_str(c, v, &n)) ? strndup(p, n) : NULL;
		if (!nm)
			goto nomem;
		if (!om_kind_of_id(nm))
			d.name = nm;
		else
			free(nm);
	}
	if (k->derived_from)
		d.owner = canon_cstr(c, root, k->derived_from);
	if (!d.path || !d.src_id || !d.ident || (!d.space && om_canon_type(c, om_canon_get(
		c, root, "SpaceId")) == OM_CANON_STRING) || (k->derived_from && !d.owner &&
		om_canon_type(c, om_canon_get(c, root, k->derived_from)) == OM_CANON_STRING))
		goto nomem;
	return add_doc_finish(x, b, &d, text, len);
nomem:
	oom(x);
	free(id.p);
	doc_release(&d);
	return -1;
}

static int add_file(struct imp *x, struct bundle *b, const char *path, const char *data,
		    size_t len, struct om_bundle_reader *r, uint64_t size, const char *problem)
{
	struct file f = {0};

	if (!(f.path = xstrdup(x, path)))
		return -1;
	if (problem && !(f.problem = xstrdup(x, problem)))
		goto fail;
	if (data) {
		if (spool_write(x, data, len, &f.off) < 0)
			goto fail;
		f.size = len;
	} else {
		/* Streamed: files may be large. */
		char buf[65536];
		ssize_t n;
		off_t at;
		f.off = x->spool_end;
		while ((n = om_bundle_read(r, buf, sizeof buf, x->err)) > 0)
			if (spool_write(x, buf, (size_t)n, &at) < 0)
				goto fail;
		if (n < 0)
			goto fail;
		f.size = size;
	}
	if (b->nfiles == b->capfiles) {
		size_t cap = b->capfiles ? b->capfiles * 2 : 64;
		struct file *p = realloc(b->files, cap * sizeof *p);
		if (!p) {
			oom(x);
			goto fail;
		}
		b->files = p;
		b->capfiles = cap;
	}
	b->files[b->nfiles++] = f;
	return 0;
fail:
	free(f.path);
	free(f.problem);
	return -1;
}

/* The first difference of the manifest's Counts ("manifest.json: ..."),
 * as an error. */
static void count_problem(const char *line, void *ctx)
{
	struct imp *x = ctx;
	const char *why = strchr(line, ' ');

	if (!x->err->msg[0])
		om_err_set(x->err, "'%s': entry 'manifest.json': %s", x->b->name, why ? why + 1 : line);
}

/*
 * Read every entry of a bundle: documents and files to the spool, script
 * sidecars into memory, the manifest checked.  Documents are held to what
 * om-store check-bundle holds them to (format/bundlecheck.h): strict JSON,
 * a manifest of this format whose Counts are the bundle's.
 */
static int read_bundle(struct imp *x, struct bundle *b, const char *server_version)
{
	struct om_bundle_reader *r = om_bundle_reader_open(b->name, x->err);
	struct om_canon *canon = r ? om_canon_new(x->err) : NULL;
	size_t *counts = calloc(om_nkinds, sizeof *counts);
	struct om_bundle_entry e;
	json_t *manifest = NULL;
	int n, rc = -1;

	if (!r || !canon)
		goto out;
	if (!counts) {
		oom(x);
		goto out;
	}
	while ((n = om_bundle_next(r, &e, x->err)) == 1) {
		size_t plen = strlen(e.path), len;
		char *buf = NULL;
		json_t *doc;
		const struct om_kind *k;
		const char *id;

		if (smap_get(&b->sidecars, e.path) && e.size <= MAX_SCRIPT) {
			void *old;
			if (om_bundle_read_all(r, MAX_SCRIPT, &buf, &len, x->err) < 0)
				goto out;
			if (smap_put(&b->scripts, e.path, buf, &old) < 0) {
				free(buf);
				oom(x);
				goto out;
			}
			free(old);
			continue;
		}
		/* A .json entry too large to load is a file only where a home
		 * file may be (as in om-store check-bundle). */
		if (plen < 5 || strcmp(e.path + plen - 5, ".json") != 0 ||
		    (e.size > MAX_DOC && om_model_may_be_file(e.path))) {
			if (add_file(x, b, e.path, NULL, 0, r, e.size, NULL) < 0)
				goto out;
			continue;
		}
		if (om_bundle_read_all(r, MAX_DOC, &buf, &len, x->err) < 0)
			goto out;
		/* As om_bundle_doc_load(), but most documents need no jansson
		 * tree here: canon_kind() tells which. */
		doc = NULL;
		if (om_canon_parse(canon, buf, len, x->err) == 0) {
			json_error_t je;
			if (strcmp(e.path, "manifest.json") != 0 && (k = canon_kind(canon))) {
				counts[k - om_kinds]++;
				rc = add_doc_canon(x, b, e.path, canon, k, buf, len);
				progress(x, "reading", k->name, b->ndocs, 0);
				free(buf);
				if (rc < 0)
					goto out;
				rc = -1;
				continue;
			}
			doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
			if (!doc)
				om_err_set(x->err, "cannot load: %s", je.text);
		}
		if (!doc && !om_model_may_be_file(e.path)) {
			om_err_prefix(x->err, "'%s': entry '%s'", b->name, e.path);
			free(buf);
			goto out;
		}
		if (strcmp(e.path, "manifest.json") == 0) {
			manifest = doc;
			rc = om_manifest_check(manifest, b->name, x->err) < 0 ? -1 :
			     read_manifest(x, b, buf, len, server_version);
			free(buf);
			if (rc < 0)
				goto out;
			rc = -1;
			continue;
		}
		id = json_string_value(json_object_get(doc, "Id"));
		k = id ? om_kind_of_id(id) : NULL;
		if (!k) {
			/* Not a document: maybe a file that happens to end in
			 * .json (an artifact); decided once all is read. */
			char why[sizeof x->err->msg];
			if (!doc)
				snprintf(why, sizeof why, "%s", x->err->msg);
			else if (!json_is_object(doc))
				snprintf(why, sizeof why, "not a JSON object");
			else
				snprintf(why, sizeof why, "no \"Id\" of a kind of the model");
			rc = add_file(x, b, e.path, buf, len, NULL, 0, why);
			json_decref(doc);
			free(buf);
			if (rc < 0)
				goto out;
			rc = -1;
			continue;
		}
		counts[k - om_kinds]++;
		rc = add_doc(x, b, e.path, doc, k, buf, len);
		progress(x, "reading", k->name, b->ndocs, 0);
		json_decref(doc);
		free(buf);
		if (rc < 0)
			goto out;
		rc = -1;
	}
	if (n < 0 || om_manifest_check(manifest, b->name, x->err) < 0)
		goto out;
	x->err->msg[0] = 0;
	if (om_manifest_counts(manifest, counts, count_problem, x) > 0)
		goto out;
	rc = 0;
out:
	json_decref(manifest);
	free(counts);
	om_canon_free(canon);
	om_bundle_reader_close(r);
	return rc;
}

/* ---- the model, as the import needs it ---- */

/* The reference of kind k held in exactly this top-level member, or NULL. */
static const struct om_ref *member_ref(const struct om_kind *k, const char *member)
{
	for (size_t i = 0; i < k->nrefs; i++)
		if (strcmp(k->refs[i].path, member) == 0)
			return &k->refs[i];
	return NULL;
}

static int target_kinds(const char *target, const struct om_kind **out, int max)
{
	int n = 0;

	for (const char *t = target; t && *t && n < max;) {
		size_t m = strcspn(t, "|");
		char name[64];
		snprintf(name, sizeof name, "%.*s", (int)m, t);
		if ((out[n] = om_kind_by_name(name)))
			n++;
		t += m + (t[m] == '|');
	}
	return n;
}

static void add_set(struct imp *x, const struct om_kind *k, const char *path, const char *name)
{
	for (size_t i = 0; i < x->nsets; i++)
		if (x->sets[i].kind == k && strcmp(x->sets[i].path, path) == 0)
			return;
	if (x->nsets < sizeof x->sets / sizeof x->sets[0])
		x->sets[x->nsets++] = (struct elemset){k, path, name};
}

/* The element arrays of inner and tag references, from the model: follow
 * each inner reference's via chain to the kinds holding the elements. */
static void find_elemsets(struct imp *x)
{
	for (size_t i = 0; i < om_nkinds; i++) {
		const struct om_kind *k = &om_kinds[i];
		for (size_t j = 0; j < k->nrefs; j++) {
			const struct om_ref *r = &k->refs[j];
			const struct om_kind *cur[4], *next[4];
			int ncur = 1, nnext;
			if (r->form == OM_REF_TAG) {
				const struct om_kind *t = om_kind_by_name(r->target);
				if (t)
					add_set(x, t, r->inner, r->inner_name);
				continue;
			}
			if (r->form != OM_REF_INNER)
				continue;
			cur[0] = k;
			for (const char *v = r->via; v && *v;) {
				size_t m = strcspn(v, ">");
				char hop[64];
				snprintf(hop, sizeof hop, "%.*s", (int)m, v);
				nnext = 0;
				for (int c = 0; c < ncur; c++) {
					const struct om_ref *h = member_ref(cur[c], hop);
					const struct om_kind *alt[4];
					int nalt = h ? target_kinds(h->target, alt, 4) : 0;
					for (int a = 0; a < nalt && nnext < 4; a++)
						next[nnext++] = alt[a];
				}
				memcpy(cur, next, sizeof next);
				ncur = nnext;
				v += m + (v[m] == '>');
			}
			for (int c = 0; c < ncur; c++)
				add_set(x, cur[c], r->inner, r->inner_name);
		}
	}
}

/* ---- the target ---- */

static int load_alloc_kinds(struct imp *x)
{
	PGresult *r = PQexec(x->conn, "SELECT kind FROM id_allocator");

	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		om_err_set(x->err, "cannot read the Id allocator: %s", PQerrorMessage(x->conn));
		PQclear(r);
		return -1;
	}
	for (int i = 0; i < PQntuples(r); i++)
		if (smap_put(&x->alloc_kinds, PQgetvalue(r, i, 0), (void *)1, NULL) < 0) {
			PQclear(r);
			return oom(x);
		}
	PQclear(r);
	return 0;
}

static void pg_fail(struct imp *x, const char *what)
{
	const char *m = PQerrorMessage(x->conn);
	size_t n;

	/* The first line of the server's message, without "ERROR:  ". */
	if (strncmp(m, "ERROR:  ", 8) == 0)
		m += 8;
	n = strcspn(m, "\n");
	om_err_set(x->err, "%s: %.*s", what, (int)n, n ? m : "unknown database error");
}

/* The identities of the target's documents of kind k: key -> Id. */
static int load_identities(struct imp *x, const struct om_kind *k, struct smap *out)
{
	struct om_buf sql = {0};
	PGresult *r;
	int rc = -1;

	buf_str(&sql, "SELECT id, ");
	buf_str(&sql, k->scope == OM_SERVER ? "NULL::text" : "doc->>'SpaceId'");
	for (int i = 0; i < 5 && k->identity[i]; i++) {
		char *q = PQescapeLiteral(x->conn, k->identity[i], strlen(k->identity[i]));
		if (!q)
			goto out;
		buf_str(&sql, ", doc->>");
		buf_str(&sql, q);
		PQfreemem(q);
	}
	buf_str(&sql, " FROM ");
	if (buf_str(&sql, k->table) < 0) {
		oom(x);
		goto out;
	}
	r = PQexec(x->conn, sql.p);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_fail(x, "cannot read the target's documents");
		PQclear(r);
		goto out;
	}
	for (int row = 0; row < PQntuples(r); row++) {
		struct om_buf key = {0};
		char *id;
		void *old;
		int ok = buf_str(&key, PQgetisnull(r, row, 1) ? "" : PQgetvalue(r, row, 1)) == 0;
		for (int c = 2; c < PQnfields(r); c++) {
			ok &= buf_str(&key, c == 2 ? "\x1e" : "\x1f") == 0;
			ok &= buf_str(&key, PQgetisnull(r, row, c) ? NULLV : PQgetvalue(r, row, c)) == 0;
		}
		if (!ok || !(id = strdup(PQgetvalue(r, row, 0))) ||
		    smap_put(out, key.p, id, &old) < 0) {
			free(key.p);
			PQclear(r);
			oom(x);
			goto out;
		}
		free(old);
		free(key.p);
	}
	PQclear(r);
	rc = 0;
out:
	free(sql.p);
	return rc;
}

/* Fetch the target's bodies of the existing documents among idx[0..n):
 * Id -> malloc()ed text. */
static int fetch_targets(struct imp *x, const struct om_kind *k, const size_t *idx, size_t n,
			 struct smap *out)
{
	struct om_buf arr = {0}, sql = {0};
	const char *param;
	PGresult *r;
	int rc = -1, any = 0;

	buf_str(&arr, "{");
	for (size_t i = 0; i < n; i++) {
		const struct doc *d = &x->b->docs[idx[i]];
		if (!d->exists)
			continue;
		if (any)
			buf_str(&arr, ",");
		buf_str(&arr, "\"");
		for (const char *p = d->dst_id; *p; p++) {
			if (*p == '"' || *p == '\\')
				buf_add(&arr, "\\", 1);
			buf_add(&arr, p, 1);
		}
		any = 1;
		if (buf_str(&arr, "\"") < 0)
			return oom(x);
	}
	buf_str(&arr, "}");
	if (!any) {
		free(arr.p);
		return 0;
	}
	buf_str(&sql, "SELECT id, doc::text FROM ");
	buf_str(&sql, k->table);
	if (buf_str(&sql, " WHERE id = ANY($1::text[])") < 0) {
		oom(x);
		goto out;
	}
	param = arr.p;
	r = PQexecParams(x->conn, sql.p, 1, NULL, &param, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_fail(x, "cannot read the target's documents");
		PQclear(r);
		goto out;
	}
	for (int row = 0; row < PQntuples(r); row++) {
		char *t = strdup(PQgetvalue(r, row, 1));
		void *old;
		if (!t || smap_put(out, PQgetvalue(r, row, 0), t, &old) < 0) {
			free(t);
			PQclear(r);
			oom(x);
			goto out;
		}
		free(old);
	}
	PQclear(r);
	rc = 0;
out:
	free(arr.p);
	free(sql.p);
	return rc;
}

static json_t *load_doc(struct imp *x, const struct doc *d)
{
	char *buf = malloc(d->len + 1);
	json_error_t je;
	json_t *j;

	if (!buf) {
		oom(x);
		return NULL;
	}
	if (spool_read(x, d->off, buf, d->len) < 0) {
		free(buf);
		return NULL;
	}
	j = json_loadb(buf, d->len, JSON_REJECT_DUPLICATES, &je);
	free(buf);
	if (!j)
		doc_err(x, d, "invalid JSON: %s", je.text);
	return j;
}

/* ---- matching (phase A) ---- */

static struct doc *src_doc(struct imp *x, const char *id)
{
	uintptr_t i = id ? (uintptr_t)smap_get(&x->b->ids, id) : 0;

	return i ? &x->b->docs[i - 1] : NULL;
}

/* The identity key of a bundle document in the target's terms. */
static int bundle_key(struct imp *x, const struct doc *d, struct om_buf *key)
{
	const struct om_kind *k = d->kind;
	const char *p = d->ident;

	key->len = 0;
	if (k->scope != OM_SERVER && d->space) {
		const struct doc *s = src_doc(x, d->space);
		if (!s || !s->dst_id)
			return doc_err(x, d, "%s: space %s: not in bundle or target",
				       d->name ? d->name : d->src_id, d->space);
		buf_str(key, s->dst_id);
	} else if (k->scope == OM_SPACE) {
		return doc_err(x, d, "no SpaceId");
	}
	for (int i = 0; i < 5 && k->identity[i]; i++) {
		size_t n = strcspn(p, "\x1f");
		char *v = strndup(p, n);
		const struct om_ref *r = member_ref(k, k->identity[i]);
		const char *out = v;
		if (!v)
			return oom(x);
		if (r && strcmp(v, NULLV) != 0) {
			/* A reference stands for the identity of what it names. */
			if (r->form == OM_REF_INNER) {
				out = smap_get(&x->b->elems, v);
			} else {
				const struct doc *t = src_doc(x, v);
				out = t && om_ref_allows(r, t->kind) ? t->dst_id : NULL;
			}
			if (!out) {
				char w[300], kw[64];
				doc_words(d, w, sizeof w);
				kind_words(r->target ? r->target : "document", kw, sizeof kw);
				doc_err(x, d, "%s -> %s %s: not in bundle or target", w, kw, v);
				free(v);
				return -1;
			}
		}
		buf_str(key, i ? "\x1f" : "\x1e");
		buf_str(key, out);
		free(v);
		p += n + (p[n] != 0);
	}
	return buf_str(key, "") < 0 ? oom(x) : 0;
}

/* Map the elements of the documents of kind k that other documents refer to
 * (tags, templates, actions): to the target's element of the same name when
 * the document exists there, else to their own Id, with the document's Id
 * in front of it rewritten ("TagSets-1/Tags-3" -> "TagSets-9/Tags-3"). */
struct elem_ctx {
	struct imp *x;
	const struct elemset *set;
	const struct doc *d;
	struct smap tnames; /* target element name -> Id */
	int target;         /* walking the target's document */
};

static int elem_hit(const struct om_hit *hit, void *vctx)
{
	struct elem_ctx *c = vctx;
	const char *id = json_string_value(json_object_get(hit->value, "Id"));
	const char *name = json_string_value(json_object_get(hit->value, c->set->name));
	const char *to = NULL;
	char *own = NULL;
	void *old;

	if (!id)
		return 0;
	if (c->target) {
		if (name && !smap_get(&c->tnames, name) &&
		    smap_put(&c->tnames, name, strdup(id), NULL) < 0)
			return oom(c->x);
		return 0;
	}
	if (c->d->exists && name)
		to = smap_get(&c->tnames, name);
	if (!to && (!c->d->exists || c->x->o->overwrite)) {
		size_t n = strlen(c->d->src_id);
		if (strncmp(id, c->d->src_id, n) == 0 && id[n] == '/') {
			if (!(own = malloc(strlen(c->d->dst_id) + strlen(id + n) + 1)))
				return oom(c->x);
			strcpy(own, c->d->dst_id);
			strcat(own, id + n);
			to = own;
		} else {
			to = id;
		}
	}
	if (to) {
		char *v = strdup(to);
		if (!v || smap_put(&c->x->b->elems, id, v, &old) < 0) {
			free(v);
			free(own);
			return oom(c->x);
		}
		free(old);
	}
	free(own);
	return 0;
}

static int map_elements(struct imp *x, const struct om_kind *k, const size_t *idx, size_t n)
{
	struct smap targets = {0};
	int rc = -1;

	if (fetch_targets(x, k, idx, n, &targets) < 0)
		return -1;
	for (size_t s = 0; s < x->nsets; s++) {
		if (x->sets[s].kind != k)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct elem_ctx c = {x, &x->sets[s], &x->b->docs[idx[i]], {0}, 0};
			json_t *doc = load_doc(x, c.d), *t = NULL;
			int r = -1;
			if (!doc)
				goto out;
			if (c.d->exists) {
				const char *text = smap_get(&targets, c.d->dst_id);
				t = text ? json_loads(text, 0, NULL) : NULL;
				c.target = 1;
				if (t && om_path_walk(t, c.set->path, elem_hit, &c, x->err) < 0) {
					json_decref(t);
					json_decref(doc);
					smap_free(&c.tnames, 1);
					goto out;
				}
				c.target = 0;
			}
			r = om_path_walk(doc, c.set->path, elem_hit, &c, x->err);
			json_decref(t);
			json_decref(doc);
			smap_free(&c.tnames, 1);
			if (r)
				goto out;
		}
	}
	rc = 0;
out:
	smap_free(&targets, 1);
	return rc;
}

/* New Ids from the target's allocator: n at once, as n calls of om_new_id()
 * would give them. */
static int allocate(struct imp *x, const struct om_kind *k, unsigned long n,
		    unsigned long long *first, char **prefix)
{
	char sql[256];
	PGresult *r;

	snprintf(sql, sizeof sql,
		 "UPDATE id_allocator SET next_value = next_value + %lu WHERE kind = '%s' "
		 "RETURNING prefix, next_value - %lu", n, k->name, n);
	r = PQexec(x->conn, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		pg_fail(x, "cannot allocate Ids");
		PQclear(r);
		return -1;
	}
	*first = strtoull(PQgetvalue(r, 0, 1), NULL, 10);
	*prefix = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return *prefix ? 0 : oom(x);
}

static int match_kind(struct imp *x, const struct om_kind *k)
{
	struct bundle *b = x->b;
	struct smap target = {0}, seen = {0};
	struct om_buf key = {0};
	size_t *idx = NULL, n = 0, nnew = 0;
	int alloc = smap_get(&x->alloc_kinds, k->name) != NULL, rc = -1;

	for (size_t i = 0; i < b->ndocs; i++)
		n += b->docs[i].kind == k;
	if (!n)
		return 0;
	if (!(idx = malloc(n * sizeof *idx)))
		return oom(x);
	n = 0;
	for (size_t i = 0; i < b->ndocs; i++)
		if (b->docs[i].kind == k)
			idx[n++] = i;
	if (load_identities(x, k, &target) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		struct doc *d = &b->docs[idx[i]];
		const char *tid;
		if (bundle_key(x, d, &key) < 0)
			goto out;
		if (smap_get(&seen, key.p)) {
			doc_err(x, d, "the same %s as entry '%s'", "identity",
				(const char *)smap_get(&seen, key.p));
			goto out;
		}
		if (smap_put(&seen, key.p, d->path, NULL) < 0) {
			oom(x);
			goto out;
		}
		if ((tid = smap_get(&target, key.p))) {
			d->exists = 1;
			if (!(d->dst_id = xstrdup(x, tid)))
				goto out;
		} else if (k->derived_from) {
			/* "variableset-" + the owner's Id in the target. */
			const struct doc *o = src_doc(x, d->owner);
			if (!o || !o->dst_id) {
				doc_err(x, d, "owner %s: not in bundle or target", k->derived_from);
				goto out;
			}
			if (!(d->dst_id = malloc(strlen(k->id_prefix) + strlen(o->dst_id) + 1))) {
				oom(x);
				goto out;
			}
			strcpy(d->dst_id, k->id_prefix);
			strcat(d->dst_id, o->dst_id);
		} else if (alloc && !om_id_is_fixed(d->src_id)) {
			/* A new Id from the allocator, but for Octopus's fixed
			 * Ids ("feeds-builtin"), kept below: they are the same
			 * on every server. */
			nnew++;
		} else if (!(d->dst_id = xstrdup(x, d->src_id))) {
			goto out;
		}
	}
	if (nnew) {
		unsigned long long next;
		char *prefix;
		if (allocate(x, k, nnew, &next, &prefix) < 0)
			goto out;
		for (size_t i = 0; i < n; i++) {
			struct doc *d = &b->docs[idx[i]];
			if (d->dst_id)
				continue;
			if (!(d->dst_id = malloc(strlen(prefix) + 24))) {
				free(prefix);
				oom(x);
				goto out;
			}
			sprintf(d->dst_id, "%s%llu", prefix, next++);
		}
		free(prefix);
	}
	for (size_t s = 0; s < x->nsets; s++)
		if (x->sets[s].kind == k) {
			if (map_elements(x, k, idx, n) < 0)
				goto out;
			break;
		}
	rc = 0;
out:
	free(idx);
	free(key.p);
	smap_free(&target, 1);
	smap_free(&seen, 0);
	return rc;
}

/* ---- rewriting (phase B) ---- */

/* One reference found in a document, rewritten after the walk. */
struct fix {
	const struct om_ref *ref;
	json_t *parent;
	json_t *value;
	char *key;       /* for A{key}: the member name */
	char *to;        /* the new Id, or NULL: dropped */
	int csv_done;
};

struct fixes {
	struct imp *x;
	const struct doc *d;
	struct fix *f;
	size_t n, cap;
	int fail;
	int cleared;     /* weak references of the document cleared */
};

/* The target's Id for a reference's Id, or NULL. */
static const char *resolve(struct imp *x, const struct om_ref *r, const char *id)
{
	if (r->form == OM_REF_INNER || r->form == OM_REF_TAG)
		return smap_get(&x->b->elems, id);
	const struct doc *t = src_doc(x, id);
	if (!t)
		return NULL;
	if (!om_ref_allows(r, t->kind))
		return NULL;
	return t->dst_id;
}

/* Is an unresolved reference to id allowed to go (with a warning)? */
static int droppable(struct imp *x, const struct om_ref *r, const char *id)
{
	const struct om_kind *k = om_kind_of_id(id);

	if (r->flags & OM_REF_DROPPABLE)
		return 1;
	/* References into a history class the export left out. */
	return k && k->history && (x->b->ignored & (1u << k->history));
}

static int fix_hit(const struct om_ref_hit *h, void *vctx)
{
	struct fixes *fx = vctx;
	struct imp *x = fx->x;
	const char *to = resolve(x, h->ref, h->id);

	/* History may name documents that are gone.  Such an Id is cleared,
	 * not kept: in the target the same Id names another document, or
	 * will once the allocator reaches it (spec/import.md). */
	if (!to && !(h->ref->flags & OM_REF_WEAK)) {
		char w[300], kw[64];
		const struct om_kind *tk = om_kind_of_id(h->id);
		doc_words(fx->d, w, sizeof w);
		kind_words(tk ? tk->name : h->ref->target ? h->ref->target : "document", kw,
			   sizeof kw);
		if (!droppable(x, h->ref, h->id)) {
			doc_err(x, fx->d, "%s -> %s %s (%s): not in bundle or target", w, kw, h->id,
				h->at->where);
			return -1;
		}
		if (!x->refs_again)
			warn(x, "'%s': entry '%s': %s: %s %s not in bundle or target: dropped",
			     x->b->name, fx->d->path, h->at->where, kw, h->id);
	} else if (!to) {
		fx->cleared++;
	}
	/* A CSV string gives one call per Id; it is rebuilt once. */
	if (h->ref->form == OM_REF_CSV)
		for (size_t i = 0; i < fx->n; i++)
			if (fx->f[i].value == h->at->value)
				return 0;
	if (fx->n == fx->cap) {
		size_t cap = fx->cap ? fx->cap * 2 : 64;
		struct fix *p = realloc(fx->f, cap * sizeof *p);
		if (!p)
			return oom(x);
		fx->f = p;
		fx->cap = cap;
	}
	struct fix *f = &fx->f[fx->n++];
	memset(f, 0, sizeof *f);
	f->ref = h->ref;
	f->parent = h->at->parent;
	f->value = h->at->value;
	f->key = h->at->key ? strdup(h->at->key) : NULL;
	f->to = to ? strdup(to) : NULL;
	if ((h->at->key && !f->key) || (to && !f->to))
		return oom(x);
	return 0;
}

/* Rebuild a comma-separated list with each Id resolved (unresolved ones,
 * already reported, left out). */
static json_t *fix_csv(struct imp *x, const struct om_ref *r, const char *s)
{
	struct om_buf out = {0};
	json_t *j;

	while (*s) {
		const char *e = strchr(s, ',');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		while (n && (*s == ' ' || *s == '\t'))
			s++, n--;
		while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
			n--;
		if (n) {
			char *id = strndup(s, n);
			const char *to = id ? resolve(x, r, id) : NULL;
			if (to) {
				if (out.len)
					buf_str(&out, ",");
				buf_str(&out, to);
			}
			free(id);
		}
		if (!e)
			break;
		s = e + 1;
	}
	j = json_string(out.p ? out.p : "");
	free(out.p);
	return j;
}

static size_t array_index(json_t *a, json_t *v)
{
	for (size_t i = 0; i < json_array_size(a); i++)
		if (json_array_get(a, i) == v)
			return i;
	return (size_t)-1;
}

static const char *object_key(json_t *o, json_t *v)
{
	const char *k;
	json_t *m;

	json_object_foreach(o, k, m) {
		if (m == v)
			return k;
	}
	return NULL;
}

/* Rewrite every reference of doc; unresolved optional ones are removed
 * from their array (or set to null). */
static int remap_refs(struct imp *x, const struct doc *d, json_t *doc)
{
	struct fixes fx = {x, d, NULL, 0, 0, 0, 0};
	int rc = -1;

	if (om_refs_each(d->kind, doc, fix_hit, &fx, x->err) != 0)
		goto out;
	/* Object keys first (values stay the same objects): every old key
	 * out before any new one goes in, as a new key may be another's old. */
	for (size_t i = 0; i < fx.n; i++) {
		struct fix *f = &fx.f[i];
		if (!f->key)
			continue;
		json_incref(f->value);
		json_object_del(f->parent, f->key);
	}
	for (size_t i = 0; i < fx.n; i++) {
		struct fix *f = &fx.f[i];
		if (!f->key)
			continue;
		if (f->to)
			json_object_set(f->parent, f->to, f->value);
		json_decref(f->value);
	}
	for (size_t i = 0; i < fx.n; i++) {
		struct fix *f = &fx.f[i];
		json_t *nv;
		if (f->key || !f->to)
			continue;
		nv = f->ref->form == OM_REF_CSV ? fix_csv(x, f->ref, json_string_value(f->value))
						: json_string(f->to);
		if (!nv)
			goto nomem;
		if (json_is_array(f->parent)) {
			json_array_set_new(f->parent, array_index(f->parent, f->value), nv);
		} else {
			const char *k = object_key(f->parent, f->value);
			if (k)
				json_object_set_new(f->parent, k, nv);
			else
				json_decref(nv);
		}
	}
	/* Dropped: out of their arrays, last first; null as members. */
	for (size_t i = fx.n; i-- > 0;) {
		struct fix *f = &fx.f[i];
		if (f->key || f->to)
			continue;
		if (json_is_array(f->parent)) {
			size_t at = array_index(f->parent, f->value);
			if (at != (size_t)-1)
				json_array_remove(f->parent, at);
		} else {
			const char *k = object_key(f->parent, f->value);
			if (k) {
				json_t *nv = f->ref->form == OM_REF_CSV ?
					fix_csv(x, f->ref, json_string_value(f->value)) : json_null();
				json_object_set_new(f->parent, k, nv);
			}
		}
	}
	x->doc_cleared = (unsigned long)fx.cleared;
	rc = 0;
	goto out;
nomem:
	oom(x);
out:
	for (size_t i = 0; i < fx.n; i++) {
		free(fx.f[i].key);
		free(fx.f[i].to);
	}
	free(fx.f);
	return rc;
}

/* Element Ids of a written document (tags, templates, actions) as mapped. */
static int set_elem_hit(const struct om_hit *hit, void *vctx)
{
	struct imp *x = vctx;
	const char *id = json_string_value(json_object_get(hit->value, "Id"));
	const char *to = id ? smap_get(&x->b->elems, id) : NULL;

	if (to && strcmp(to, id) != 0)
		json_object_set_new(hit->value, "Id", json_string(to));
	return 0;
}

static int remap_elements(struct imp *x, const struct om_kind *k, json_t *doc)
{
	for (size_t s = 0; s < x->nsets; s++)
		if (x->sets[s].kind == k &&
		    om_path_walk(doc, x->sets[s].path, set_elem_hit, x, x->err) < 0)
			return -1;
	return 0;
}

/* Script sidecars back into the document. */
struct script_ctx {
	struct imp *x;
	const struct doc *d;
};

static int script_hit(const struct om_hit *hit, void *vctx)
{
	struct script_ctx *c = vctx;
	json_t *props = json_object_get(hit->value, "Properties");
	const char *body = json_string_value(json_object_get(props, "Octopus.Action.Script.ScriptBody"));
	const char *slash = strrchr(c->d->path, '/');
	char path[OM_BUNDLE_PATH_MAX + 1];
	const char *text;

	if (!body || strncmp(body, "om-script-1:", 12) != 0)
		return 0;
	snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - c->d->path + 1) : 0,
		 c->d->path, body + 12);
	if (!(text = smap_get(&c->x->b->scripts, path)))
		return doc_err(c->x, c->d, "%s: script '%s' is not in the bundle", hit->where,
			       body + 12);
	json_object_set_new(props, "Octopus.Action.Script.ScriptBody", json_string(text));
	return 0;
}

/* ---- merging ---- */

enum merge_how { MERGE_SET, MERGE_KEYED, MERGE_MAP_OF_SETS };

/* What a merge keeps of the target: the members listed here, element by
 * element; everything else comes from one side whole. */
static const struct merge_rule {
	const char *kind, *member;
	enum merge_how how;
	const char *key[2];
} merge_rules[] = {
	{"VariableSet", "Variables", MERGE_KEYED, {"Name", "Scope"}},
	{"Team", "MemberUserIds", MERGE_SET, {NULL, NULL}},
	{"Team", "UserRoles", MERGE_SET, {NULL, NULL}},
	{"Tenant", "ProjectEnvironments", MERGE_MAP_OF_SETS, {NULL, NULL}},
	{"Tenant", "ProjectIds", MERGE_SET, {NULL, NULL}},
	{"Tenant", "TenantTags", MERGE_SET, {NULL, NULL}},
};

static int is_merged(const struct om_kind *k)
{
	for (size_t i = 0; i < sizeof merge_rules / sizeof merge_rules[0]; i++)
		if (strcmp(merge_rules[i].kind, k->name) == 0)
			return 1;
	return 0;
}

static int set_equal(json_t *a, json_t *b);

static int array_has(json_t *a, json_t *v)
{
	for (size_t i = 0; i < json_array_size(a); i++)
		if (set_equal(json_array_get(a, i), v))
			return 1;
	return 0;
}

/* Is a member absent, null, an empty array or an empty object?  A scope
 * without environments is the same as one with an empty list of them. */
static int nothing(json_t *v)
{
	return !v || json_is_null(v) || (json_is_array(v) && json_array_size(v) == 0) ||
	       (json_is_object(v) && json_object_size(v) == 0);
}

/* json_equal() with every array taken as a set: the members of a merge
 * (a variable's scope, a team's role assignments and their restrictions)
 * have no order, and the same set in another order is the same value. */
static int set_equal(json_t *a, json_t *b)
{
	const char *key;
	json_t *v;

	if (json_is_array(a) && json_is_array(b)) {
		for (size_t i = 0; i < json_array_size(a); i++)
			if (!array_has(b, json_array_get(a, i)))
				return 0;
		for (size_t i = 0; i < json_array_size(b); i++)
			if (!array_has(a, json_array_get(b, i)))
				return 0;
		return 1;
	}
	if (json_is_object(a) && json_is_object(b)) {
		json_object_foreach(a, key, v) {
			json_t *w = json_object_get(b, key);
			if (nothing(v) ? !nothing(w) : !w || !set_equal(v, w))
				return 0;
		}
		json_object_foreach(b, key, v) {
			if (!json_object_get(a, key) && !nothing(v))
				return 0;
		}
		return 1;
	}
	return json_equal(a, b);
}

static int union_into(json_t *base, json_t *other)
{
	for (size_t i = 0; i < json_array_size(other); i++)
		if (!array_has(base, json_array_get(other, i)) &&
		    json_array_append(base, json_array_get(other, i)) < 0)
			return -1;
	return 0;
}

/* The key of a variable: its name and its scope (as sets). */
static int keyed_eq(json_t *a, json_t *b, const char *const key[2])
{
	for (int i = 0; i < 2 && key[i]; i++) {
		json_t *va = json_object_get(a, key[i]), *vb = json_object_get(b, key[i]);
		if (nothing(va) && nothing(vb))
			continue;
		if (!va || !vb || !set_equal(va, vb))
			return 0;
	}
	return 1;
}

/* Are the two documents of kind k the same, the members a merge handles
 * compared as sets? */
static int merged_equal(const struct om_kind *k, json_t *a, json_t *b)
{
	const char *key;
	json_t *v;

	if (json_object_size(a) != json_object_size(b))
		return 0;
	json_object_foreach(a, key, v) {
		json_t *w = json_object_get(b, key);
		int set = 0;
		for (size_t r = 0; r < sizeof merge_rules / sizeof merge_rules[0]; r++)
			set |= strcmp(merge_rules[r].kind, k->name) == 0 &&
			       strcmp(merge_rules[r].member, key) == 0;
		if (!w || !(set ? set_equal(v, w) : json_equal(v, w)))
			return 0;
	}
	return 1;
}

/* base (a copy of one side) gets what only other has. */
static int merge_into(const struct om_kind *k, json_t *base, json_t *other)
{
	for (size_t r = 0; r < sizeof merge_rules / sizeof merge_rules[0]; r++) {
		const struct merge_rule *m = &merge_rules[r];
		json_t *bv, *ov = json_object_get(other, m->member);
		if (strcmp(m->kind, k->name) != 0 || !ov)
			continue;
		bv = json_object_get(base, m->member);
		if (!bv || json_is_null(bv)) {
			json_object_set(base, m->member, ov);
			continue;
		}
		if (m->how == MERGE_SET && json_is_array(bv)) {
			if (union_into(bv, ov) < 0)
				return -1;
		} else if (m->how == MERGE_KEYED && json_is_array(bv)) {
			for (size_t i = 0; i < json_array_size(ov); i++) {
				json_t *e = json_array_get(ov, i);
				int found = 0;
				for (size_t j = 0; j < json_array_size(bv) && !found; j++)
					found = keyed_eq(json_array_get(bv, j), e, m->key);
				if (!found && json_array_append(bv, e) < 0)
					return -1;
			}
		} else if (m->how == MERGE_MAP_OF_SETS && json_is_object(bv)) {
			const char *key;
			json_t *v;
			json_object_foreach(ov, key, v) {
				json_t *have = json_object_get(bv, key);
				if (!have)
					json_object_set(bv, key, v);
				else if (json_is_array(have) && union_into(have, v) < 0)
					return -1;
			}
		}
	}
	return 0;
}

/* ---- secrets ---- */

/* A secret of the target's document, clear: where it is held. */
struct tsecret {
	json_t *holder;  /* the object holding it (a variable) */
	char *member;    /* its member there ("Value") */
	json_t *value;   /* the clear value, a string of the target's document */
};

/* The target's secrets of one document, by keyed location and in order. */
struct tsecrets {
	struct smap byloc; /* keyed location -> clear value (a reference held) */
	struct tsecret *v;
	size_t n, cap;
};

static int tsecrets_add(struct tsecrets *ts, const char *loc, json_t *holder, const char *member,
			json_t *value)
{
	if (ts->n == ts->cap) {
		size_t cap = ts->cap ? ts->cap * 2 : 16;
		struct tsecret *p = realloc(ts->v, cap * sizeof *p);
		if (!p)
			return -1;
		ts->v = p;
		ts->cap = cap;
	}
	if (smap_put(&ts->byloc, loc, value, NULL) < 0)
		return -1;
	json_incref(value);
	ts->v[ts->n] = (struct tsecret){holder, member ? strdup(member) : NULL, value};
	if (member && !ts->v[ts->n].member)
		return -1;
	ts->n++;
	return 0;
}

static void tsecrets_free(struct tsecrets *ts)
{
	for (size_t i = 0; i < ts->byloc.cap; i++)
		if (ts->byloc.keys[i])
			json_decref(ts->byloc.vals[i]);
	smap_free(&ts->byloc, 0);
	for (size_t i = 0; i < ts->n; i++)
		free(ts->v[i].member);
	free(ts->v);
	memset(ts, 0, sizeof *ts);
}

/* The keyed merge rule of a kind (variables by name and scope), or NULL. */
static const struct merge_rule *keyed_rule(const struct om_kind *k)
{
	for (size_t i = 0; i < sizeof merge_rules / sizeof merge_rules[0]; i++)
		if (merge_rules[i].how == MERGE_KEYED && strcmp(merge_rules[i].kind, k->name) == 0)
			return &merge_rules[i];
	return NULL;
}

/* Does this clear value give the redacted fingerprint at the document's
 * bundle path and keyed location (spec/bundle.md, "Secret tokens")? */
static int fingerprint_is(struct imp *x, const struct doc *d, const char *loc, const char *hex,
			  json_t *value)
{
	char fp[OM_FINGERPRINT_SIZE], *where = malloc(strlen(d->path) + strlen(loc) + 2);

	if (!where)
		return oom(x);
	sprintf(where, "%s#%s", d->path, loc);
	om_key_fingerprint(x->o->key, where, json_string_value(value), json_string_length(value),
			   fp);
	free(where);
	return strlen(hex) == OM_FINGERPRINT_SIZE - 1 && memcmp(fp, hex, OM_FINGERPRINT_SIZE - 1) == 0;
}

struct secret_ctx {
	struct imp *x;
	const struct doc *d;
	struct tsecrets *target; /* the target's secrets of the document, or NULL */
	int mode;            /* 0 tokens -> clear, 1 sealed -> clear (target), 2 clear -> sealed */
	json_t *doc, *tdoc;  /* mode 0: the bundle's and the target's document */
};

/*
 * A redacted token takes the target's value of the same place.  In an
 * array of elements told apart by a key of several members (variables by
 * name and scope, the scope as a set), the place is the secret of the
 * target's element with the same key, not the one at the same keyed
 * location: same-named variables are numbered by their order, which two
 * servers need not share.  Elsewhere it is the same keyed location.  When
 * the bundle's fingerprints were made with the target's master key, the
 * fingerprint picks the value among several candidates, finds a value that
 * moved, and tells a target value that differs from the bundle's (kept,
 * with a warning).  Candidates of different values that nothing tells
 * apart are an error.
 */
static int redacted_value(struct secret_ctx *c, const struct om_hit *hit, json_t **out)
{
	struct imp *x = c->x;
	const char *hex = json_string_value(hit->value) + strlen(OM_REDACTED_PREFIX);
	const struct merge_rule *m = keyed_rule(c->d->kind);
	const char *member = json_is_object(hit->parent) ? object_key(hit->parent, hit->value) : NULL;
	json_t *arr = m ? json_object_get(c->doc, m->member) : NULL, *one = NULL, *fp_hit = NULL;
	size_t ncand = 0;
	int r, differ = 0;

	*out = NULL;
	if (!c->target)
		return doc_err(x, c->d, "%s: the secret is redacted and the target has none at this "
			       "place", hit->where);
	if (member && arr && array_index(arr, hit->parent) != (size_t)-1) {
		json_t *tarr = json_object_get(c->tdoc, m->member);
		for (size_t i = 0; i < c->target->n; i++) {
			const struct tsecret *t = &c->target->v[i];
			if (!t->member || strcmp(t->member, member) != 0 ||
			    array_index(tarr, t->holder) == (size_t)-1 ||
			    !keyed_eq(t->holder, hit->parent, m->key))
				continue;
			ncand++;
			differ |= one && !json_equal(one, t->value);
			one = t->value;
			if (x->b->same_key && !fp_hit) {
				if ((r = fingerprint_is(x, c->d, hit->loc, hex, t->value)) < 0)
					return -1;
				fp_hit = r ? t->value : NULL;
			}
		}
	} else if ((one = smap_get(&c->target->byloc, hit->loc))) {
		ncand = 1;
		if (x->b->same_key) {
			if ((r = fingerprint_is(x, c->d, hit->loc, hex, one)) < 0)
				return -1;
			fp_hit = r ? one : NULL;
		}
	}
	/* A value that moved (the variable's scope changed): any secret of
	 * the target's document that gives the fingerprint is the value. */
	for (size_t i = 0; x->b->same_key && !fp_hit && i < c->target->n; i++) {
		if ((r = fingerprint_is(x, c->d, hit->loc, hex, c->target->v[i].value)) < 0)
			return -1;
		fp_hit = r ? c->target->v[i].value : NULL;
	}
	if (fp_hit) {
		*out = fp_hit;
		return 0;
	}
	if (differ)
		return doc_err(x, c->d, "%s: the secret is redacted and the target has %zu of the "
			       "same name and scope with different values: which to keep is "
			       "ambiguous", hit->where, ncand);
	if (!ncand)
		return doc_err(x, c->d, "%s: the secret is redacted and the target has none at this "
			       "place", hit->where);
	if (x->b->same_key)
		warn(x, "'%s': entry '%s': %s: the secret is redacted and the target's value "
		     "differs from the bundle's: the target's is kept", x->b->name, c->d->path,
		     hit->where);
	*out = one;
	return 0;
}

/*
 * The clear and password tokens of a bundle, in one place: the clear value
 * of a token at location loc, as a malloc()ed string of *len bytes.  A
 * password token opens with the bundle's key at the document's path and
 * loc.  (Redacted tokens: redacted_value().)
 */
static int token_open(struct imp *x, const struct doc *d, const char *where, const char *token,
		      const char *loc, char **clear, size_t *len)
{
	if (strncmp(token, "om-clear-1:", 11) == 0) {
		size_t tl = strlen(token + 11), n;
		char *out = malloc(tl + 1);
		if (!out)
			return oom(x);
		if (sodium_base642bin((unsigned char *)out, tl, token + 11, tl, NULL, &n, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0) {
			free(out);
			return doc_err(x, d, "%s: bad clear secret token", where);
		}
		out[n] = 0;
		*clear = out;
		*len = n;
		return 0;
	}
	if (strncmp(token, OM_PW_PREFIX, strlen(OM_PW_PREFIX)) == 0 && x->b->pwkey) {
		char *c;
		size_t n;
		int r = om_pw_decrypt(x->b->pwkey, d->path, loc, token, strlen(token), &c, &n,
				      x->err);
		if (r < 0)
			return doc_err(x, d, "%s: %s", where, x->err->msg);
		if (r > 0)
			return doc_err(x, d, "%s: the secret does not open: its token was changed "
				       "or moved from another place", where);
		*clear = malloc(n + 1);
		if (*clear) {
			memcpy(*clear, c, n + 1);
			*len = n;
		}
		om_clear_free(c);
		return *clear ? 0 : oom(x);
	}
	return doc_err(x, d, "%s: not a secret token of this bundle's state", where);
}

static int secret_hit(const struct om_hit *hit, void *vctx)
{
	struct secret_ctx *c = vctx;
	struct imp *x = c->x;
	const char *s = json_string_value(hit->value);
	char *clear = NULL;
	size_t len;
	json_t *nv;

	if (c->mode == 0 && strncmp(s, OM_REDACTED_PREFIX, strlen(OM_REDACTED_PREFIX)) == 0) {
		if (redacted_value(c, hit, &nv) < 0)
			return -1;
		nv = json_copy(nv);
	} else if (c->mode == 0) {
		if (token_open(x, c->d, hit->where, s, hit->loc, &clear, &len) < 0)
			return -1;
		nv = json_stringn_nocheck(clear, len);
		sodium_memzero(clear, len);
		free(clear);
	} else if (c->mode == 1) {
		int r = om_unseal(x->o->key, s, &clear, &len, x->err);
		if (r != 0) {
			/* Not ours: leave it as it is, it will compare unequal. */
			return 0;
		}
		nv = json_stringn_nocheck(clear, len);
		om_clear_free(clear);
		if (nv && c->target &&
		    tsecrets_add(c->target, hit->loc, hit->parent,
				 json_is_object(hit->parent) ? object_key(hit->parent, hit->value)
							     : NULL, nv) < 0) {
			json_decref(nv);
			return oom(x);
		}
	} else {
		char *tok = om_seal(x->o->key, s, json_string_length(hit->value), x->err);
		if (!tok)
			return -1;
		nv = json_string(tok);
		free(tok);
	}
	if (!nv)
		return oom(x);
	if (json_is_array(hit->parent))
		json_array_set_new(hit->parent, array_index(hit->parent, hit->value), nv);
	else
		json_object_set_new(hit->parent, object_key(hit->parent, hit->value), nv);
	return 0;
}

/* ---- writing ---- */

/* jansson's output into COPY text: each backslash doubled (compact JSON
 * has no raw tab or newline). */
static int copy_dump(const char *p, size_t n, void *data)
{
	struct om_buf *b = data;

	for (const char *e = p + n, *q; p < e; p = q) {
		q = memchr(p, '\\', (size_t)(e - p));
		if (!q)
			q = e;
		if (buf_add(b, p, (size_t)(q - p)) < 0)
			return -1;
		if (q < e) {
			if (buf_add(b, "\\\\", 2) < 0)
				return -1;
			q++;
		}
	}
	return 0;
}

/* Append a document as a line of COPY text. */
static int copy_line(struct imp *x, struct om_buf *b, const char *id, json_t *doc)
{
	if (id) {
		buf_str(b, id);
		buf_str(b, "\t");
	}
	if (json_dump_callback(doc, copy_dump, b, JSON_COMPACT) != 0)
		return oom(x);
	return buf_str(b, "\n") < 0 ? oom(x) : 0;
}

/*
 * A COPY is fed as its lines are made: copy_start() opens it, copy_put()
 * sends what the buffer holds once it passes COPY_FLUSH (and at the end),
 * copy_end() finishes it, so that the server works on one part while the
 * next is being made.  copy_abort() ends an open COPY after another error,
 * keeping that error's message.
 */
static int copy_start(struct imp *x, const char *sql)
{
	PGresult *r = PQexec(x->conn, sql);
	int ok = PQresultStatus(r) == PGRES_COPY_IN;

	PQclear(r);
	if (!ok) {
		pg_fail(x, "cannot write to the target");
		return -1;
	}
	return 0;
}

static int copy_put(struct imp *x, struct om_buf *data, size_t min)
{
	if (data->len < min || !data->len)
		return 0;
	for (size_t at = 0; at < data->len;) {
		size_t n = data->len - at > COPY_FLUSH ? COPY_FLUSH : data->len - at;
		if (PQputCopyData(x->conn, data->p + at, (int)n) != 1) {
			pg_fail(x, "cannot write to the target");
			return -1;
		}
		at += n;
	}
	data->len = 0;
	return 0;
}

static int copy_end(struct imp *x, struct om_buf *data)
{
	PGresult *r;
	int ok;

	if (copy_put(x, data, 0) < 0)
		return -1;
	if (PQputCopyEnd(x->conn, NULL) != 1) {
		pg_fail(x, "cannot write to the target");
		return -1;
	}
	ok = 1;
	x->copy_failed_line = 0;
	while ((r = PQgetResult(x->conn))) {
		if (ok && PQresultStatus(r) != PGRES_COMMAND_OK) {
			const char *ctx = PQresultErrorField(r, PG_DIAG_CONTEXT);
			const char *l = ctx ? strstr(ctx, ", line ") : NULL;
			ok = 0;
			pg_fail(x, "cannot write to the target");
			if (l)
				x->copy_failed_line = strtoul(l + 7, NULL, 10);
		}
		PQclear(r);
	}
	data->len = 0;
	return ok ? 0 : -1;
}

static void copy_abort(struct imp *x, struct om_buf *data)
{
	PGresult *r;

	data->len = 0;
	if (PQputCopyEnd(x->conn, "import failed") == 1)
		while ((r = PQgetResult(x->conn)))
			PQclear(r);
}

static int copy_in(struct imp *x, const char *sql, struct om_buf *data)
{
	if (copy_start(x, sql) < 0)
		return -1;
	return copy_end(x, data);
}

/* The target's document ready for comparison: volatile members out (kept
 * in vol), secrets as clear text (also by location into secrets). */
static json_t *target_cmp(struct imp *x, const struct doc *d, const char *text, json_t **vol,
			  struct tsecrets *secrets)
{
	json_t *t = json_loads(text, 0, NULL);
	struct secret_ctx sc = {x, d, secrets, 1, NULL, NULL};

	if (!t) {
		doc_err(x, d, "cannot parse the target's document %s", d->dst_id);
		return NULL;
	}
	*vol = json_object();
	for (const char *const *v = d->kind->volatiles; v && *v; v++) {
		json_t *m = json_object_get(t, *v);
		if (m) {
			json_object_set(*vol, *v, m);
			json_object_del(t, *v);
		}
	}
	if (om_secrets_each(d->kind, t, secret_hit, &sc, x->err) != 0) {
		json_decref(t);
		json_decref(*vol);
		return NULL;
	}
	return t;
}

/* Decide and prepare one document: the final body to write into *out
 * (NULL when nothing is written) and its action. */
static int apply_doc(struct imp *x, struct doc *d, const char *target_text, json_t **out)
{
	const struct om_kind *k = d->kind;
	json_t *doc = load_doc(x, d), *t = NULL, *vol = NULL, *fin = NULL;
	struct tsecrets tsecrets = {0};
	struct secret_ctx sc = {x, d, NULL, 0, doc, NULL};
	struct script_ctx scr = {x, d};
	unsigned long cleared;
	int rc = -1;

	*out = NULL;
	if (!doc)
		return -1;
	if (d->exists) {
		if (!target_text) {
			doc_err(x, d, "the target's document %s went away", d->dst_id);
			goto out;
		}
		if (!(t = target_cmp(x, d, target_text, &vol, &tsecrets)))
			goto out;
		sc.target = &tsecrets;
		sc.tdoc = t;
	}
	json_object_set_new(doc, "Id", json_string(d->dst_id));
	if (d->space) {
		const struct doc *s = src_doc(x, d->space);
		json_object_set_new(doc, "SpaceId", json_string(s->dst_id));
	}
	if (remap_refs(x, d, doc) < 0 || remap_elements(x, k, doc) < 0)
		goto out;
	cleared = x->doc_cleared;
	if (k->scripts && om_path_walk(doc, k->scripts, script_hit, &scr, x->err) != 0)
		goto out;
	if (om_secrets_each(k, doc, secret_hit, &sc, x->err) != 0)
		goto out;
	if (!d->exists) {
		d->action = OM_IMPORT_CREATED;
		fin = json_incref(doc);
	} else if (is_merged(k)) {
		fin = json_deep_copy(x->o->overwrite ? doc : t);
		if (!fin || merge_into(k, fin, x->o->overwrite ? t : doc) < 0) {
			oom(x);
			goto out;
		}
		if (merged_equal(k, fin, t)) {
			d->action = OM_IMPORT_UNCHANGED;
			json_decref(fin);
			fin = NULL;
		} else {
			d->action = OM_IMPORT_MERGED;
		}
	} else if (json_equal(doc, t)) {
		d->action = OM_IMPORT_UNCHANGED;
	} else if (x->o->overwrite) {
		d->action = OM_IMPORT_OVERWRITTEN;
		fin = json_incref(doc);
	} else {
		d->action = OM_IMPORT_SKIPPED;
	}
	if (fin) {
		struct secret_ctx seal = {x, d, NULL, 2, NULL, NULL};
		/* The server's own members (timestamps, versions) stay. */
		if (vol)
			json_object_update(fin, vol);
		if (om_secrets_each(k, fin, secret_hit, &seal, x->err) != 0) {
			json_decref(fin);
			goto out;
		}
		d->written = d->action != OM_IMPORT_MERGED;
		*out = fin;
		/* History written with references cleared: told once per kind
		 * (report_cleared()); unchanged and skipped documents change
		 * nothing. */
		if (cleared) {
			x->cleared_refs[k - om_kinds] += cleared;
			x->cleared_docs[k - om_kinds]++;
		}
	}
	rc = 0;
out:
	tsecrets_free(&tsecrets);
	json_decref(doc);
	json_decref(t);
	json_decref(vol);
	return rc;
}

/* ---- new documents without jansson ---- */

/*
 * Most documents of an import are new in the target and need nothing but
 * their Id, SpaceId and references rewritten.  Those go a shorter way than
 * apply_doc(): parsed with om_canon, edited there and written compact.  The
 * way is taken only where its result is the one apply_doc() gives: every
 * value one that jansson reads and writes back the same (canon_same()), no
 * script sidecars, no elements other documents name, no secret, every
 * reference resolved (no warning, nothing dropped or cleared), no Id used
 * as a member name, no place reached twice.  Anything else goes the way of
 * apply_doc(), which stays the reference.
 */

/* Does jansson read and write back every value under n unchanged (as the
 * same jsonb)?  Integers of at most 18 digits other than -0; no real
 * (jansson prints 17 significant digits); no NUL byte in a string or name. */
static int canon_same(const struct om_canon *c, om_canon_node n, int depth)
{
	const char *p;
	size_t len;

	switch (om_canon_type(c, n)) {
	case OM_CANON_NUMBER:
		p = om_canon_str(c, n, &len);
		if (len - (p[0] == '-') > 18 || memchr(p, '.', len) || memchr(p, 'e', len) ||
		    memchr(p, 'E', len))
			return 0;
		return !(len == 2 && p[0] == '-' && p[1] == '0');
	case OM_CANON_STRING:
		p = om_canon_str(c, n, &len);
		return !memchr(p, 0, len);
	case OM_CANON_ARRAY:
	case OM_CANON_OBJECT:
		if (depth > OM_CANON_MAX_DEPTH)
			return 0;
		for (size_t i = 0, m = om_canon_len(c, n); i < m; i++) {
			om_canon_node v = om_canon_at(c, n, i);
			if (om_canon_type(c, n) == OM_CANON_OBJECT &&
			    (p = om_canon_key(c, v, &len)) && memchr(p, 0, len))
				return 0;
			if (!canon_same(c, v, depth + 1))
				return 0;
		}
		return 1;
	default:
		return 1;
	}
}

/* One reference of a new document, resolved. */
struct cfix {
	om_canon_node node;
	const char *to;  /* the new value, or NULL: csv holds it */
	char *csv;
};

struct cnew {
	struct imp *x;
	const struct om_ref *ref;
	struct cfix *f;
	size_t n, cap;
};

#define CNEW_NO 2 /* a walk's answer: not for this way */

static int cnew_secret(const struct om_chit *hit, void *vctx)
{
	(void)hit;
	(void)vctx;
	return CNEW_NO;
}

static int cnew_ref(const struct om_chit *hit, void *vctx)
{
	struct cnew *cn = vctx;
	struct imp *x = cn->x;
	struct om_canon *c = x->canon;
	struct om_buf out = {0};
	char id[256];
	const char *s, *to = NULL;
	size_t len;

	if (hit->key)
		return CNEW_NO;
	if (om_canon_type(c, hit->node) != OM_CANON_STRING)
		return 0;
	s = om_canon_str(c, hit->node, &len);
	if (!len)
		return 0;
	for (size_t i = 0; i < cn->n; i++)
		if (cn->f[i].node == hit->node)
			return CNEW_NO;
	if (cn->ref->form != OM_REF_CSV) {
		if (len >= sizeof id)
			return CNEW_NO;
		memcpy(id, s, len);
		id[len] = 0;
		if (!(to = resolve(x, cn->ref, id)))
			return CNEW_NO;
	} else {
		/* As refs_hit() and fix_csv() split and join the list. */
		const char *e = s + len;
		while (s < e) {
			const char *comma = memchr(s, ',', (size_t)(e - s));
			size_t n = (size_t)((comma ? comma : e) - s);
			const char *t;
			while (n && (*s == ' ' || *s == '\t'))
				s++, n--;
			while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
				n--;
			if (n >= sizeof id) {
				free(out.p);
				return CNEW_NO;
			}
			if (n) {
				memcpy(id, s, n);
				id[n] = 0;
				if (!(t = resolve(x, cn->ref, id))) {
					free(out.p);
					return CNEW_NO;
				}
				if ((out.len && buf_str(&out, ",") < 0) || buf_str(&out, t) < 0) {
					free(out.p);
					return oom(x);
				}
			}
			if (!comma)
				break;
			s = comma + 1;
		}
		if (!out.p)
			return 0; /* no Id in it: left as it is */
	}
	if (cn->n == cn->cap) {
		size_t cap = cn->cap ? cn->cap * 2 : 32;
		struct cfix *p = realloc(cn->f, cap * sizeof *p);
		if (!p) {
			free(out.p);
			return oom(x);
		}
		cn->f = p;
		cn->cap = cap;
	}
	cn->f[cn->n++] = (struct cfix){hit->node, to, out.p};
	return 0;
}

/* A new document the short way, as a COPY line into ins: 1 when done, 0
 * when it must go the way of apply_doc() (nothing written then), -1 and
 * err on trouble. */
static int new_doc_fast(struct imp *x, struct doc *d, struct om_buf *ins)
{
	const struct om_kind *k = d->kind;
	struct om_canon *c;
	struct cnew cn = {x, NULL, NULL, 0, 0};
	om_canon_node root;
	int rc = -1, r;

	if (d->exists || k->scripts)
		return 0;
	for (size_t s = 0; s < x->nsets; s++)
		if (x->sets[s].kind == k)
			return 0;
	if (!x->canon && !(x->canon = om_canon_new(x->err)))
		return -1;
	c = x->canon;
	x->copy.len = 0;
	if (buf_add(&x->copy, "", 0) < 0 || d->len > x->copy.cap) {
		char *p = realloc(x->copy.p, d->len + 1);
		if (!p)
			return oom(x);
		x->copy.p = p;
		x->copy.cap = d->len + 1;
	}
	if (spool_read(x, d->off, x->copy.p, d->len) < 0)
		return -1;
	if (om_canon_parse(c, x->copy.p, d->len, NULL) < 0)
		return 0;
	root = om_canon_root(c);
	if (om_canon_type(c, root) != OM_CANON_OBJECT || !canon_same(c, root, 0))
		return 0;
	if ((r = om_canon_secrets_each(k, c, cnew_secret, NULL, x->err)) != 0)
		return r == CNEW_NO ? 0 : -1;
	if (om_canon_set_str(c, om_canon_get(c, root, "Id"), d->dst_id, strlen(d->dst_id),
			     x->err) < 0)
		return -1;
	if (d->space) {
		const struct doc *s = src_doc(x, d->space);
		if (om_canon_set_str(c, om_canon_get(c, root, "SpaceId"), s->dst_id,
				     strlen(s->dst_id), x->err) < 0)
			return -1;
	}
	for (size_t i = 0; i < k->nrefs; i++) {
		cn.ref = &k->refs[i];
		if ((r = om_canon_path_walk(c, root, cn.ref->path, k, cnew_ref, &cn, x->err)) != 0) {
			rc = r == CNEW_NO ? 0 : -1;
			goto out;
		}
	}
	for (size_t i = 0; i < cn.n; i++) {
		const char *v = cn.f[i].to ? cn.f[i].to : cn.f[i].csv;
		if (om_canon_set_str(c, cn.f[i].node, v, strlen(v), x->err) < 0)
			goto out;
	}
	x->copy.len = 0;
	if (om_canon_write_compact(c, &x->copy, x->err) < 0 ||
	    copy_dump(x->copy.p, x->copy.len, ins) < 0 || buf_str(ins, "\n") < 0) {
		oom(x);
		goto out;
	}
	d->action = OM_IMPORT_CREATED;
	d->written = 1;
	rc = 1;
out:
	for (size_t i = 0; i < cn.n; i++)
		free(cn.f[i].csv);
	free(cn.f);
	return rc;
}

/* Name the document of a failed COPY line in the message. */
static void copy_blame(struct imp *x, const size_t *docs, size_t n)
{
	unsigned long l = x->copy_failed_line;

	if (l >= 1 && l <= n) {
		struct om_err e = *x->err;
		const struct doc *d = &x->b->docs[docs[l - 1]];
		om_err_set(x->err, "'%s': entry '%s': %s", x->b->name, d->path, e.msg);
	}
}

static int write_kind(struct imp *x, const struct om_kind *k)
{
	struct bundle *b = x->b;
	size_t *idx = NULL, n = 0;
	struct om_buf ins = {0}, upd = {0};
	char sql[256];
	int rc = -1;

	for (size_t i = 0; i < b->ndocs; i++)
		n += b->docs[i].kind == k;
	if (!n)
		return 0;
	if (!(idx = malloc(n * sizeof *idx)))
		return oom(x);
	n = 0;
	for (size_t i = 0; i < b->ndocs; i++)
		if (b->docs[i].kind == k)
			idx[n++] = i;
	for (size_t at = 0; at < n; at += CHUNK) {
		size_t m = n - at < CHUNK ? n - at : CHUNK, nins = 0, nupd = 0;
		size_t ins_doc[CHUNK], upd_doc[CHUNK];
		struct smap targets = {0};
		int copying = 0;
		progress(x, "writing", k->name, x->written += m, b->ndocs);
		if (fetch_targets(x, k, idx + at, m, &targets) < 0)
			goto out;
		for (size_t i = 0; i < m; i++) {
			struct doc *d = &b->docs[idx[at + i]];
			json_t *fin = NULL;
			int r = 0;
			if (!copying && !d->exists) {
				/* New documents stream into the table's COPY. */
				snprintf(sql, sizeof sql, "COPY %s (doc) FROM STDIN", k->table);
				r = copy_start(x, sql);
				copying = r == 0;
			}
			if (r == 0 && (r = new_doc_fast(x, d, &ins)) == 1) {
				ins_doc[nins++] = idx[at + i];
				r = copy_put(x, &ins, COPY_FLUSH);
			} else if (r == 0) {
				r = apply_doc(x, d, d->exists ? smap_get(&targets, d->dst_id) : NULL,
					      &fin);
			}
			if (r == 0 && fin) {
				r = copy_line(x, d->exists ? &upd : &ins, d->exists ? d->dst_id : NULL, fin);
				if (d->exists)
					upd_doc[nupd++] = idx[at + i];
				else
					ins_doc[nins++] = idx[at + i];
				if (r == 0 && !d->exists)
					r = copy_put(x, &ins, COPY_FLUSH);
			}
			json_decref(fin);
			if (r < 0) {
				if (copying)
					copy_abort(x, &ins);
				smap_free(&targets, 1);
				goto out;
			}
			x->counts[d->action]++;
		}
		smap_free(&targets, 1);
		if (copying && copy_end(x, &ins) < 0) {
			copy_blame(x, ins_doc, nins);
			goto out;
		}
		if (upd.len) {
			if (copy_in(x, "COPY om_import_stage (id, doc) FROM STDIN", &upd) < 0) {
				copy_blame(x, upd_doc, nupd);
				goto out;
			}
			snprintf(sql, sizeof sql,
				 "UPDATE %s t SET doc = s.doc FROM om_import_stage s WHERE t.id = s.id; "
				 "TRUNCATE om_import_stage", k->table);
			if (om_store_exec(x->conn, sql, "cannot write to the target", x->err) < 0)
				goto out;
		}
	}
	rc = 0;
out:
	free(idx);
	free(ins.p);
	free(upd.p);
	return rc;
}

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
			buf_add(&out, p++, 1);
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
			buf_str(&out, c);
			free(c);
		} else {
			buf_str(&out, s);
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

	buf_str(&out, x->o->home);
	buf_str(&out, "/");
	for (const char *p = k->file; *p;) {
		if (*p != '{') {
			buf_add(&out, p++, 1);
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
		buf_str(&out, s);
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
static void staged_forget(void)
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
		return oom(x);
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
		return oom(x);
	strcpy(f->home_tmp, x->home_dir);
	strcat(f->home_tmp, name);
	if ((fd = open(f->home_tmp, O_WRONLY | O_CREAT | O_EXCL, 0644)) < 0) {
		om_err_set(x->err, "'%s': %s", f->home_tmp, strerror(errno));
		return -1;
	}
	for (uint64_t at = 0; at < f->size;) {
		size_t n = f->size - at > sizeof buf ? sizeof buf : (size_t)(f->size - at);
		if (spool_read(x, f->off + (off_t)at, buf, n) < 0 || write(fd, buf, n) != (ssize_t)n) {
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
static int claim_files(struct imp *x)
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
		if (!(doc = load_doc(x, d)))
			return -1;
		last = fill_last(x, k->bundle_file, doc, 1);
		if (!last) {
			json_decref(doc);
			continue;
		}
		if (!(path = malloc(strlen(d->path) + strlen(last) + 2))) {
			free(last);
			json_decref(doc);
			return oom(x);
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
				warn(x, "'%s': the bundle holds files: without --home they are "
				     "not imported", b->name);
			json_decref(doc);
			continue;
		}
		/* The file's name in the target, with the target's Ids. */
		json_object_set_new(doc, "Id", json_string(d->dst_id));
		x->refs_again = 1;
		r = remap_refs(x, d, doc);
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
			return doc_err(x, d, "its file cannot be named in the home directory");
		if (stage_file(x, f) < 0)
			return -1;
	}
	if (restored)
		warn(x, "'%s': %lu file%s of documents the target already holds %s missing from "
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
static int place_files(struct imp *x, struct bundle *b)
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

static void unstage_files(struct bundle *b)
{
	for (size_t i = 0; i < b->nfiles; i++)
		if (b->files[i].home_tmp) {
			unlink(b->files[i].home_tmp);
			free(b->files[i].home_tmp);
			b->files[i].home_tmp = NULL;
		}
}

/* ---- the whole ---- */

/* One warning line per kind whose documents had history references
 * cleared: "'B': 5 events: 7 references to documents not in bundle or
 * target: cleared". */
static void report_cleared(struct imp *x)
{
	for (size_t k = 0; k < om_nkinds; k++) {
		unsigned long nd = x->cleared_docs[k], nr = x->cleared_refs[k];
		char kw[64];
		size_t n;
		if (!nr)
			continue;
		kind_words(om_kinds[k].name, kw, sizeof kw - 3);
		n = strlen(kw);
		if (nd != 1 && n && kw[n - 1] == 'y')
			strcpy(kw + n - 1, "ies");
		else if (nd != 1)
			strcat(kw, "s");
		warn(x, "'%s': %lu %s: %lu reference%s to %s not in bundle or target: cleared",
		     x->b->name, nd, kw, nr, nr == 1 ? "" : "s", nr == 1 ? "a document" : "documents");
		x->cleared_docs[k] = x->cleared_refs[k] = 0;
	}
}

const char *om_import_action_name(enum om_import_action a)
{
	static const char *const names[] = {"created", "overwritten", "merged", "skipped",
					    "unchanged"};
	return (unsigned)a < OM_IMPORT_NACTIONS ? names[a] : "?";
}

static void free_bundle(struct bundle *b)
{
	om_pw_key_free(b->pwkey);
	for (size_t i = 0; i < b->ndocs; i++) {
		doc_release(&b->docs[i]);
	}
	for (size_t i = 0; i < b->nfiles; i++) {
		free(b->files[i].path);
		free(b->files[i].problem);
		free(b->files[i].home_tmp);
		free(b->files[i].home_dst);
	}
	free(b->docs);
	free(b->files);
	smap_free(&b->ids, 0);
	smap_free(&b->sidecars, 0);
	smap_free(&b->scripts, 1);
	smap_free(&b->elems, 1);
}

static int open_spool(struct imp *x)
{
	const char *dir = x->o->tmpdir ? x->o->tmpdir : getenv("TMPDIR");
	char path[4096];

	snprintf(path, sizeof path, "%s/om-import.XXXXXX", dir && *dir ? dir : "/tmp");
	if ((x->spool = mkstemp(path)) < 0) {
		om_err_set(x->err, "'%s': cannot make the spool file: %s", path, strerror(errno));
		return -1;
	}
	unlink(path);
	return 0;
}

/* Lock, check the server row, prepare the staging table. */
static int begin(struct imp *x, char *version, size_t vsize)
{
	PGresult *r;

	if (om_store_exec(x->conn, "BEGIN", "cannot begin", x->err) < 0)
		return -1;
	r = PQexec(x->conn, "SELECT pg_try_advisory_xact_lock(" IMPORT_LOCK ")");
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		pg_fail(x, "cannot lock the target");
		PQclear(r);
		return -1;
	}
	if (strcmp(PQgetvalue(r, 0, 0), "t") != 0) {
		PQclear(r);
		om_err_set(x->err, "another import into database '%s' is running", PQdb(x->conn));
		return -1;
	}
	PQclear(r);
	r = PQexec(x->conn, "SELECT server_version, maintenance_mode FROM server FOR UPDATE");
	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
		pg_fail(x, "cannot read the server row");
		PQclear(r);
		return -1;
	}
	snprintf(version, vsize, "%s", PQgetvalue(r, 0, 0));
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0 && !x->o->online) {
		PQclear(r);
		om_err_set(x->err, "the server of database '%s' is not in maintenance mode "
			   "(--online to import anyway)", PQdb(x->conn));
		return -1;
	}
	PQclear(r);
	return om_store_exec(x->conn,
			     "CREATE TEMP TABLE om_import_stage (id text PRIMARY KEY, doc jsonb) "
			     "ON COMMIT DROP", "cannot prepare the import", x->err);
}

int om_import(PGconn *conn, const struct om_import_opts *o,
	      unsigned long counts[OM_IMPORT_NACTIONS], struct om_err *err)
{
	struct imp x = {0};
	struct bundle *bundles = calloc(o->nbundles ? o->nbundles : 1, sizeof *bundles);
	char version[128];
	sigset_t held;
	int rc = -1, in_tx = 0, holding = 0;

	x.conn = conn;
	x.o = o;
	x.err = err;
	x.spool = -1;
	x.counts = counts;
	memset(counts, 0, OM_IMPORT_NACTIONS * sizeof *counts);
	err->msg[0] = 0;
	x.cleared_refs = calloc(om_nkinds, sizeof *x.cleared_refs);
	x.cleared_docs = calloc(om_nkinds, sizeof *x.cleared_docs);
	if (!bundles || !x.cleared_refs || !x.cleared_docs) {
		free(bundles);
		free(x.cleared_refs);
		free(x.cleared_docs);
		return oom(&x);
	}
	find_elemsets(&x);
	if (om_store_open(conn, err) < 0)
		goto out;
	{
		int k = om_store_check_key(conn, o->key, err);
		if (k != 0) {
			if (k > 0)
				om_err_set(err, "the master key is not the one of the server of "
					   "database '%s'", PQdb(conn));
			goto out;
		}
	}
	for (const char *const *m = o->space_map; m && *m; m++)
		if (!strchr(*m, '=') || **m == '=' || !strchr(*m, '=')[1]) {
			om_err_set(err, "--space-map '%s': not FROM=TO", *m);
			goto out;
		}
	if (open_spool(&x) < 0)
		goto out;
	if (begin(&x, version, sizeof version) < 0)
		goto rollback;
	in_tx = 1;
	if (load_alloc_kinds(&x) < 0)
		goto rollback;
	for (size_t i = 0; i < o->nbundles; i++) {
		bundles[i].name = o->bundles[i];
		x.b = &bundles[i];
		if (read_bundle(&x, &bundles[i], version) < 0)
			goto rollback;
		for (size_t k = 0; k < om_nkinds; k++) {
			progress(&x, "matching", om_kinds[k].name, k + 1, om_nkinds);
			if (match_kind(&x, &om_kinds[k]) < 0)
				goto rollback;
		}
		x.written = 0;
		for (size_t k = 0; k < om_nkinds; k++)
			if (write_kind(&x, &om_kinds[k]) < 0)
				goto rollback;
		report_cleared(&x);
		if (claim_files(&x) < 0)
			goto rollback;
	}
	{
		unsigned i = 0;
		for (const char *const *m = o->space_map; m && *m; m++, i++)
			if (i < 64 && !(x.maps_used & (1ul << i))) {
				om_err_set(err, "--space-map '%s': no bundle has that space", *m);
				goto rollback;
			}
	}
	progress(&x, o->dry_run ? "rolling back" : "committing", NULL, 0, 0);
	if (o->dry_run) {
		if (om_store_exec(conn, "ROLLBACK", "cannot roll back", err) < 0)
			goto out;
	} else {
		/* From the commit until the files are in place, SIGINT and
		 * friends wait: the files must follow the committed documents. */
		om_signals_hold(&held);
		holding = 1;
		if (om_store_exec(conn, "COMMIT", "cannot commit", err) < 0)
			goto out;
	}
	in_tx = 0;
	if (!o->dry_run)
		for (size_t i = 0; i < o->nbundles; i++)
			if (place_files(&x, &bundles[i]) < 0)
				goto out;
	if (holding) {
		if (x.home_dir)
			rmdir(x.home_dir);
		staged_forget();
		om_signals_release(&held);
		holding = 0;
	}
	if (o->item)
		for (size_t i = 0; i < o->nbundles; i++)
			for (size_t j = 0; j < bundles[i].ndocs; j++) {
				const struct doc *d = &bundles[i].docs[j];
				struct om_import_item it = {bundles[i].name, d->path, d->kind, d->dst_id,
							    d->action};
				o->item(&it, o->ctx);
			}
	rc = 0;
	goto out;
rollback:
	if (in_tx || PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
out:
	for (size_t i = 0; i < o->nbundles; i++) {
		unstage_files(&bundles[i]);
		free_bundle(&bundles[i]);
	}
	if (x.home_dir) {
		rmdir(x.home_dir);
		free(x.home_dir);
	}
	staged_forget();
	if (holding)
		om_signals_release(&held);
	free(bundles);
	free(x.cleared_refs);
	free(x.cleared_docs);
	smap_free(&x.alloc_kinds, 0);
	free(x.line.p);
	om_buf_release(&x.copy);
	om_buf_release(&x.wbuf);
	om_canon_free(x.canon);
	if (x.spool >= 0)
		close(x.spool);
	return rc < 0 && x.wrong_password ? 1 : rc;
}
