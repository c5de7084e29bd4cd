/*
 * import_read.c - om-import: reading the bundles into the spool.
 *
 * Each bundle is read once, front to back: the manifest first, every
 * document checked against the model and kept compact in the spool with
 * its record (struct doc), every other entry kept as a file (struct file),
 * the script sidecars held in memory.
 */

#include <errno.h>
#include <unistd.h>

#include <sodium.h>

#include "bundle.h"
#include "bundlecheck.h"
#include "seal.h"

#include "import_int.h"
#include "jsonout.h"

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
			return imp_oom(x);
		x->wbuf.cap = SPOOL_BUF;
	}
	memcpy(x->wbuf.p + x->wbuf.len, p, n);
	x->wbuf.len += n;
	x->spool_end += (off_t)n;
	return 0;
}

int imp_spool_read(struct imp *x, off_t off, void *p, size_t n)
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
		return om_buf_add(b, json_string_value(v), json_string_length(v));
	if (!v || json_is_null(v))
		return om_buf_adds(b, NULLV);
	char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	int rc = s ? om_buf_adds(b, s) : -1;
	free(s);
	return rc;
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

/* What the import needs of a manifest that om_manifest_check() passed
 * (json, borrowed): the server version, the key of its secrets. */
static int read_manifest(struct imp *x, struct bundle *b, json_t *json,
			 const char *server_version)
{
	struct om_manifest m = OM_MANIFEST_INIT;
	const char *ver;
	char key_id[OM_FINGERPRINT_SIZE];
	int rc = -1;

	om_manifest_take(&m, json_incref(json));
	ver = m.server_version;
	if (!x->o->ignore_version && (!ver || strcmp(ver, server_version) != 0)) {
		om_err_set(x->err, "'%s': the bundle is of server version %s, the target is %s "
			   "(--ignore-version-check to import anyway)", b->name, ver ? ver : "(none)",
			   server_version);
		goto out;
	}
	if (m.state == OM_SECRETS_PASSWORD) {
		if (password_key(x, b, m.secrets) < 0)
			goto out;
	} else if (m.state == OM_SECRETS_UNKNOWN) {
		om_err_set(x->err, "'%s': entry 'manifest.json': unknown secret state '%s'", b->name,
			   m.state_name ? m.state_name : "");
		goto out;
	}
	b->ignored = m.ignored;
	b->state = m.state;
	/* Tokens met before the manifest are of its state too. */
	for (int s = 0; s < 3; s++)
		if (b->early[s] && s != (int)m.state) {
			om_err_set(x->err, "'%s': %s: a %s token in a bundle whose secrets are %s",
				   b->name, b->early[s], om_secret_state_name((enum om_secret_state)s),
				   om_secret_state_name(m.state));
			goto out;
		}
	/* Were the fingerprints of a redacted bundle made with the target's
	 * master key?  The manifest's KeyId tells (spec/bundle.md). */
	om_manifest_key_id(x->o->key, key_id);
	b->same_key = m.key_id && strcmp(m.key_id, key_id) == 0;
	b->have_manifest = 1;
	rc = 0;
out:
	om_manifest_release(&m);
	return rc;
}

/*
 * Every string at a secret place of a document is a token of the
 * manifest's state (manifest.h, om_token_check_state()), whether or not the
 * import writes the document: a clear token in a password bundle would be
 * a value that no password vouches for.  Before the manifest the first
 * token of each state is noted, for read_manifest() to hold against it.
 */
struct token_ctx {
	struct imp *x;
	struct bundle *b;
	const char *path;
	struct om_canon *canon; /* the document's tree, for token_chit() */
};

static int token_at(struct token_ctx *c, const char *s, size_t len, const char *where)
{
	struct bundle *b = c->b;
	enum om_secret_state st = om_token_state(s, len);
	char at[1200];

	if (b->have_manifest || st == OM_SECRETS_UNKNOWN) {
		if (om_token_check_state(b->have_manifest ? (enum om_secret_state)b->state : st, s,
					 len, c->x->err) == 0)
			return 0;
		om_err_prefix(c->x->err, "'%s': entry '%s': %s", b->name, c->path, where);
		return -1;
	}
	if (b->early[st])
		return 0;
	snprintf(at, sizeof at, "entry '%s': %s", c->path, where);
	return (b->early[st] = strdup(at)) ? 0 : imp_oom(c->x);
}

static int token_hit(const struct om_hit *hit, void *vctx)
{
	return token_at(vctx, json_string_value(hit->value), json_string_length(hit->value),
			hit->where);
}

static int token_chit(const struct om_chit *hit, void *vctx)
{
	struct token_ctx *c = vctx;
	size_t len;
	const char *s = om_canon_str(c->canon, hit->node, &len);

	return token_at(c, s, len, hit->where);
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
	json_t *props = json_object_get(hit->value, om_script.props);
	const char *body = json_string_value(json_object_get(props, om_script.body));
	const char *slash = strrchr(c->path, '/');
	char path[OM_BUNDLE_PATH_MAX + 1];

	if (!body || strncmp(body, OM_SCRIPT_PREFIX "scripts/", 20) != 0 || strchr(body + 20, '/') ||
	    !body[20])
		return 0;
	snprintf(path, sizeof path, "%.*s%s", slash ? (int)(slash - c->path + 1) : 0, c->path,
		 body + OM_PREFIX_LEN(OM_SCRIPT_PREFIX));
	return imp_smap_put(&c->b->sidecars, path, (void *)1, NULL) < 0 ? imp_oom(c->x) : 0;
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
	if (om_buf_add(out, s, len) < 0)
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
void imp_doc_release(struct doc *d)
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
	if (imp_smap_get(&b->ids, d->src_id)) {
		om_err_set(x->err, "'%s': entry '%s': Id %s is used by another document", b->name,
			   d->path, d->src_id);
		goto fail;
	}
	if (compact_json(text, len, &x->line) < 0)
		goto nomem;
	if (spool_write(x, x->line.p, x->line.len, &d->off) < 0)
		goto fail;
	d->len = x->line.len;
	if (om_array_grow(&b->docs, &b->capdocs, b->ndocs, 1, sizeof *b->docs) < 0)
		goto nomem;
	if (imp_smap_put(&b->ids, d->src_id, (void *)(uintptr_t)(b->ndocs + 1), NULL) < 0)
		goto nomem;
	b->docs[b->ndocs++] = *d;
	return 0;
nomem:
	imp_oom(x);
fail:
	imp_doc_release(d);
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
	d.path = imp_xstrdup(x, path);
	d.src_id = imp_xstrdup(x, json_string_value(json_object_get(doc, OM_MEMBER_ID)));
	v = json_object_get(doc, OM_MEMBER_SPACE);
	d.space = json_is_string(v) ? imp_xstrdup(x, json_string_value(v)) : NULL;
	if (k == om_space_kind()) {
		const char *nm = json_string_value(json_object_get(doc, om_kind_name_member(k)));
		const char *to = nm ? space_mapped(x, nm) : NULL;
		if (to) {
			/* --space-map: the space is the target's TO from here on. */
			x->maps_used |= 1ul << (space_map_index(x, nm) & 63);
			json_object_set_new(doc, om_kind_name_member(k), json_string(to));
			if (!(mapped_text = om_json_dumps(doc, JSON_COMPACT))) {
				imp_oom(x);
				goto out;
			}
			text = mapped_text;
			len = strlen(text);
		}
	}
	for (int i = 0; i < 5 && k->identity[i]; i++) {
		if (i && om_buf_adds(&id, "\x1f") < 0)
			goto nomem;
		if (ident_part(&id, json_object_get(doc, k->identity[i])) < 0)
			goto nomem;
	}
	d.ident = imp_xstrdup(x, id.p ? id.p : "");
	free(id.p);
	id.p = NULL;
	v = json_object_get(doc, OM_MEMBER_NAME);
	if (!json_is_string(v))
		v = json_object_get(doc, k->identity[0]);
	if (json_is_string(v) && !om_kind_of_id(json_string_value(v)))
		d.name = imp_xstrdup(x, json_string_value(v));
	if (k->derived_from) {
		v = json_object_get(doc, k->derived_from);
		if (json_is_string(v) && !(d.owner = imp_xstrdup(x, json_string_value(v))))
			goto out;
	}
	if (!d.path || !d.src_id || !d.ident)
		goto nomem;
	if (k->scripts) {
		struct sidecar_ctx sc = {x, b, path};
		if (imp_smap_get(&b->ids, d.src_id)) {
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
	imp_oom(x);
out:
	free(id.p);
	imp_doc_release(&d);
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
 * strings jansson would load the same (om_canon_plain()), with an Id of a
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
	v = om_canon_get(c, root, OM_MEMBER_ID);
	if (om_canon_type(c, v) != OM_CANON_STRING || !(p = om_canon_str(c, v, &n)) ||
	    n >= sizeof id)
		return NULL;
	memcpy(id, p, n);
	id[n] = 0;
	k = om_kind_of_id(id);
	if (!k || k->scripts || k == om_space_kind())
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
	d.path = imp_xstrdup(x, path);
	d.src_id = canon_cstr(c, root, OM_MEMBER_ID);
	d.space = canon_cstr(c, root, OM_MEMBER_SPACE);
	for (int i = 0; i < 5 && k->identity[i]; i++) {
		if (i && om_buf_adds(&id, "\x1f") < 0)
			goto nomem;
		v = om_canon_get(c, root, k->identity[i]);
		if (om_canon_type(c, v) == OM_CANON_STRING) {
			p = om_canon_str(c, v, &n);
			if (om_buf_add(&id, p, n) < 0)
				goto nomem;
		} else if (om_buf_adds(&id, NULLV) < 0) {
			goto nomem;
		}
	}
	d.ident = imp_xstrdup(x, id.p ? id.p : "");
	free(id.p);
	id.p = NULL;
	v = om_canon_get(c, root, OM_MEMBER_NAME);
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
		c, root, OM_MEMBER_SPACE)) == OM_CANON_STRING) || (k->derived_from && !d.owner &&
		om_canon_type(c, om_canon_get(c, root, k->derived_from)) == OM_CANON_STRING))
		goto nomem;
	return add_doc_finish(x, b, &d, text, len);
nomem:
	imp_oom(x);
	free(id.p);
	imp_doc_release(&d);
	return -1;
}

static int add_file(struct imp *x, struct bundle *b, const char *path, const char *data,
		    size_t len, struct om_bundle_reader *r, uint64_t size, const char *problem)
{
	struct file f = {0};

	if (!(f.path = imp_xstrdup(x, path)))
		return -1;
	if (problem && !(f.problem = imp_xstrdup(x, problem)))
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
	if (om_array_grow(&b->files, &b->capfiles, b->nfiles, 1, sizeof *b->files) < 0) {
		imp_oom(x);
		goto fail;
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
int imp_read_bundle(struct imp *x, struct bundle *b, const char *server_version)
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
		imp_oom(x);
		goto out;
	}
	while ((n = om_bundle_next(r, &e, x->err)) == 1) {
		size_t plen = strlen(e.path), len;
		char *buf = NULL;
		json_t *doc;
		const struct om_kind *k;
		const char *id;

		if (imp_smap_get(&b->sidecars, e.path) && e.size <= MAX_SCRIPT) {
			void *old;
			if (om_bundle_read_all(r, MAX_SCRIPT, &buf, &len, x->err) < 0)
				goto out;
			if (imp_smap_put(&b->scripts, e.path, buf, &old) < 0) {
				free(buf);
				imp_oom(x);
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
				struct token_ctx tc = {x, b, e.path, canon};
				counts[k - om_kinds]++;
				rc = k->secrets && om_canon_secrets_each(k, canon, token_chit, &tc,
									 x->err) != 0
					     ? -1 : add_doc_canon(x, b, e.path, canon, k, buf, len);
				imp_progress(x, "reading", k->name, b->ndocs, 0);
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
			     read_manifest(x, b, manifest, server_version);
			free(buf);
			if (rc < 0)
				goto out;
			rc = -1;
			continue;
		}
		id = json_string_value(json_object_get(doc, OM_MEMBER_ID));
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
		struct token_ctx tc = {x, b, e.path, NULL};
		rc = k->secrets && om_secrets_each(k, doc, token_hit, &tc, x->err) != 0
			     ? -1 : add_doc(x, b, e.path, doc, k, buf, len);
		imp_progress(x, "reading", k->name, b->ndocs, 0);
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
