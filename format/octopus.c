/*
 * octopus.c - Octopus's Export/Import Projects packages and Migrator
 * export directories, read into store-form documents (octopus.h).
 *
 * An export is small (documents of one space, no files), so every entry is
 * read into memory, within limits, before anything is converted; nothing is
 * written until the whole export was read and checked.
 */
#include "octopus.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>
#include <nettle/aes.h>
#include <nettle/cbc.h>
#include <nettle/pbkdf2.h>
#include <nettle/sha1.h>
#include <sodium.h>

#include "bundlecheck.h"
#include "canon.h"
#include "idmap.h"
#include "model.h"
#include "seal.h"

/* Limits on what an export may hold: generous for a space's configuration,
 * small enough that a zip bomb stops early. */
static const struct om_bundle_limits default_limits = {64u << 20, 512u << 20, 100000};
#define MAX_DEPTH 32

/* The package format this reader knows, and the canary of the password. */
#define PACKAGE_VERSION "2.0.0"
#define HELLO "Cephalopod"

/* One file of the export: its path below the top, its bytes. */
struct file {
	char *name;
	char *data;
	size_t len;
	int listed; /* named by the manifest */
};

struct om_octopus {
	const char *input;
	const struct om_octopus_opts *o;
	const struct om_bundle_limits *lim;
	struct om_err *err;
	struct file *files;
	size_t nfiles, cap;
	size_t total;
	unsigned char aes[OM_OCTOPUS_KEY_SIZE];
	struct om_key *key; /* seals the secrets; from the password */
	struct om_canon *canon;
	struct om_idmap *ids;
	json_t **docs;
	char **entries; /* the entry each document came from */
	size_t ndocs, capdocs;
	char *space_id;
	char *server_version;
	char **warnings;
	size_t nwarnings;
};

static void warn(struct om_octopus *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Warnings wait until the whole export was read: an export that is
 * refused gets its one error line alone. */
static void warn(struct om_octopus *p, const char *fmt, ...)
{
	char msg[1024], **w;
	va_list ap;

	if (!p->o->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if ((w = realloc(p->warnings, (p->nwarnings + 1) * sizeof *w))) {
		p->warnings = w;
		if ((w[p->nwarnings] = strdup(msg)))
			p->nwarnings++;
	}
}

static int oom(struct om_octopus *p)
{
	om_err_set(p->err, "out of memory");
	return -1;
}

/* ---- crypto ---- */

void om_octopus_key(const char *password, size_t len, unsigned char key[OM_OCTOPUS_KEY_SIZE])
{
	pbkdf2_hmac_sha1(len, (const uint8_t *)password, 1000, 8, (const uint8_t *)"Octopuss",
			 OM_OCTOPUS_KEY_SIZE, key);
}

/* Strict standard base64 of n bytes at s into a malloc()ed buffer. */
static unsigned char *b64(const char *s, size_t n, size_t *len)
{
	unsigned char *out = malloc(n / 4 * 3 + 3);

	if (!out)
		return NULL;
	if (n == 0 || sodium_base642bin(out, n / 4 * 3 + 3, s, n, NULL, len, NULL,
					sodium_base64_VARIANT_ORIGINAL) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int om_octopus_decrypt(const unsigned char key[OM_OCTOPUS_KEY_SIZE], const char *value,
		       char **clear, size_t *len, struct om_err *err)
{
	const char *bar = strchr(value, '|');
	unsigned char *ct = NULL, *iv = NULL, *pt = NULL;
	size_t ctlen = 0, ivlen = 0, pad;
	struct aes128_ctx ctx;
	int rc = -1;

	*clear = NULL;
	if (!bar || strchr(bar + 1, '|')) {
		om_err_set(err, "not a sensitive value (base64|base64)");
		return -1;
	}
	if (!(ct = b64(value, (size_t)(bar - value), &ctlen)) ||
	    !(iv = b64(bar + 1, strlen(bar + 1), &ivlen))) {
		om_err_set(err, "not valid base64");
		goto out;
	}
	if (ivlen != AES_BLOCK_SIZE) {
		om_err_set(err, "an IV of %zu bytes, not %d", ivlen, AES_BLOCK_SIZE);
		goto out;
	}
	if (ctlen == 0 || ctlen % AES_BLOCK_SIZE) {
		om_err_set(err, "a ciphertext of %zu bytes, not whole AES blocks", ctlen);
		goto out;
	}
	if (!(pt = sodium_malloc(ctlen + 1))) {
		om_err_set(err, "out of memory");
		goto out;
	}
	aes128_set_decrypt_key(&ctx, key);
	cbc_decrypt(&ctx, (nettle_cipher_func *)aes128_decrypt, AES_BLOCK_SIZE, iv, ctlen, pt, ct);
	sodium_memzero(&ctx, sizeof ctx);
	pad = pt[ctlen - 1];
	for (size_t i = 1; pad >= 1 && pad <= AES_BLOCK_SIZE && i <= pad; i++)
		if (pt[ctlen - i] != pad)
			pad = 0;
	if (pad < 1 || pad > AES_BLOCK_SIZE) {
		om_err_set(err, "bad padding (not this password's, or damaged)");
		sodium_free(pt);
		goto out;
	}
	pt[ctlen - pad] = 0;
	*clear = (char *)pt;
	*len = ctlen - pad;
	rc = 0;
out:
	free(ct);
	free(iv);
	return rc;
}

/* ---- reading the files ---- */

/* Why a path inside the export is refused, or NULL. */
static const char *name_problem(const char *name)
{
	if (!*name)
		return "an empty name";
	if (name[0] == '/')
		return "an absolute path";
	for (const char *c = name; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 0)
			return "an empty path component";
		if ((n == 2 && memcmp(c, "..", 2) == 0) || (n == 1 && c[0] == '.'))
			return "path leaves the export";
		c += n + (c[n] == '/');
	}
	return NULL;
}

static int add_file(struct om_octopus *p, const char *name, char *data, size_t len)
{
	const char *why = name_problem(name);

	if (why) {
		om_err_set(p->err, "'%s': entry '%s': %s", p->input, name, why);
		free(data);
		return -1;
	}
	if (p->nfiles >= p->lim->max_entries) {
		om_err_set(p->err, "'%s': more than %llu entries", p->input,
			   (unsigned long long)p->lim->max_entries);
		free(data);
		return -1;
	}
	if (p->nfiles == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 32;
		struct file *f = realloc(p->files, cap * sizeof *f);
		if (!f) {
			free(data);
			return oom(p);
		}
		p->files = f;
		p->cap = cap;
	}
	if (!(p->files[p->nfiles].name = strdup(name))) {
		free(data);
		return oom(p);
	}
	p->files[p->nfiles].data = data;
	p->files[p->nfiles].len = len;
	p->files[p->nfiles].listed = 0;
	p->nfiles++;
	return 0;
}

static int cmp_file(const void *a, const void *b)
{
	return strcmp(((const struct file *)a)->name, ((const struct file *)b)->name);
}

static struct file *find_file(struct om_octopus *p, const char *name)
{
	struct file key = {(char *)name, NULL, 0, 0};

	return p->nfiles ? bsearch(&key, p->files, p->nfiles, sizeof *p->files, cmp_file) : NULL;
}

/* -1 and the error when an entry of len bytes goes over a limit. */
static int too_big(struct om_octopus *p, const char *name, uint64_t len)
{
	if (len > p->lim->max_entry_size) {
		om_err_set(p->err, "'%s': entry '%s': over %llu bytes", p->input, name,
			   (unsigned long long)p->lim->max_entry_size);
		return -1;
	}
	if (p->total + len > p->lim->max_total_size) {
		om_err_set(p->err, "'%s': entry '%s': the export is over %llu bytes", p->input,
			   name, (unsigned long long)p->lim->max_total_size);
		return -1;
	}
	return 0;
}

/* Read a zip from fd: regular files only, within the limits. */
static int read_zip(struct om_octopus *p, int fd)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	int r, rc = -1;

	if (!a)
		return oom(p);
	archive_read_support_format_zip(a);
	if (archive_read_open_fd(a, fd, 65536) != ARCHIVE_OK) {
		om_err_set(p->err, "'%s': not a zip: %s", p->input, archive_error_string(a));
		goto out;
	}
	while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK) {
		const char *name = archive_entry_pathname(e);
		char *data = NULL;
		size_t len = 0, cap = 0;
		la_ssize_t n;
		if (!name) {
			om_err_set(p->err, "'%s': an entry without a name", p->input);
			goto out;
		}
		if (archive_entry_symlink(e) || archive_entry_hardlink(e) ||
		    archive_entry_filetype(e) == AE_IFLNK) {
			om_err_set(p->err, "'%s': entry '%s': a link", p->input, name);
			goto out;
		}
		if (archive_entry_filetype(e) == AE_IFDIR) {
			om_err_set(p->err, "'%s': entry '%s': a folder (a package is one flat folder)",
				   p->input, name);
			goto out;
		}
		if (archive_entry_filetype(e) != AE_IFREG) {
			om_err_set(p->err, "'%s': entry '%s': not a regular file", p->input, name);
			goto out;
		}
		for (;;) {
			if (len + 65536 + 1 > cap) {
				char *d;
				cap = cap ? cap * 2 : 65536 * 2;
				if (!(d = realloc(data, cap))) {
					free(data);
					oom(p);
					goto out;
				}
				data = d;
			}
			if ((n = archive_read_data(a, data + len, 65536)) <= 0)
				break;
			len += (size_t)n;
			if (too_big(p, name, len) < 0) {
				free(data);
				goto out;
			}
		}
		if (n < 0) {
			om_err_set(p->err, "'%s': entry '%s': %s", p->input, name,
				   archive_error_string(a));
			free(data);
			goto out;
		}
		data[len] = 0;
		p->total += len;
		if (add_file(p, name, data, len) < 0)
			goto out;
	}
	if (r != ARCHIVE_EOF) {
		om_err_set(p->err, "'%s': not a zip: %s", p->input, archive_error_string(a));
		goto out;
	}
	rc = 0;
out:
	archive_read_free(a);
	return rc;
}

/* Read the regular files below the directory fd (rel: their path prefix). */
static int read_dir(struct om_octopus *p, int dfd, const char *rel, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	int rc = -1;

	if (!d) {
		close(dfd);
		om_err_set(p->err, "'%s': cannot read: %s", p->input, strerror(errno));
		return -1;
	}
	while ((errno = 0, de = readdir(d))) {
		char name[4096];
		struct stat st;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(name, sizeof name, "%s%s%s", rel, *rel ? "/" : "", de->d_name);
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
			om_err_set(p->err, "'%s': entry '%s': %s", p->input, name, strerror(errno));
			goto out;
		}
		if (S_ISLNK(st.st_mode)) {
			om_err_set(p->err, "'%s': entry '%s': a link", p->input, name);
			goto out;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub;
			if (depth >= MAX_DEPTH) {
				om_err_set(p->err, "'%s': entry '%s': folders nested too deep",
					   p->input, name);
				goto out;
			}
			if ((sub = openat(dirfd(d), de->d_name,
					  O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
				om_err_set(p->err, "'%s': entry '%s': %s", p->input, name,
					   strerror(errno));
				goto out;
			}
			if (read_dir(p, sub, name, depth + 1) < 0)
				goto out;
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			om_err_set(p->err, "'%s': entry '%s': not a regular file", p->input, name);
			goto out;
		}
		if (too_big(p, name, (uint64_t)st.st_size) < 0)
			goto out;
		int fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		size_t len = 0, want = (size_t)st.st_size;
		char *data = fd >= 0 ? malloc(want + 1) : NULL;
		ssize_t n = 1;
		while (data && len < want && (n = read(fd, data + len, want - len)) > 0)
			len += (size_t)n;
		if (fd < 0 || !data || n < 0 || len != want) {
			om_err_set(p->err, "'%s': entry '%s': cannot read: %s", p->input, name,
				   fd < 0 || n < 0 ? strerror(errno) : !data ? "out of memory"
									     : "it changed");
			if (fd >= 0)
				close(fd);
			free(data);
			goto out;
		}
		close(fd);
		data[len] = 0;
		p->total += len;
		if (add_file(p, name, data, len) < 0)
			goto out;
	}
	if (errno) {
		om_err_set(p->err, "'%s': cannot read: %s", p->input, strerror(errno));
		goto out;
	}
	rc = 0;
out:
	closedir(d);
	return rc;
}

/* ---- documents ---- */

/* Does c end an Id: not a letter, a digit or '-'? */
static int ends_id(char c)
{
	return !((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		 c == '-');
}

/* Take the export suffix off s: each occurrence that ends an Id (the end
 * of the string, or before ',' in a list, '/' in a tag, or any other
 * character that cannot be in an Id).  A malloc()ed copy, and *left set
 * when the suffix is still in it afterwards ("Projects-1-S-S" keeps one). */
static char *strip(const char *s, int *left)
{
	size_t n = strlen(s), sl = strlen(OM_OCTOPUS_SUFFIX), o = 0;
	char *out = malloc(n + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < n;) {
		if (n - i >= sl && memcmp(s + i, OM_OCTOPUS_SUFFIX, sl) == 0 && ends_id(s[i + sl])) {
			i += sl;
			continue;
		}
		out[o++] = s[i++];
	}
	out[o] = 0;
	*left = strstr(out, OM_OCTOPUS_SUFFIX) != NULL;
	return out;
}

/* Strip the suffix from every string and member name of v, in place where
 * v is a container: a new reference to the result, or NULL with *bad set
 * to the (malloc()ed) value that keeps a suffix, or out of memory. */
static json_t *strip_json(json_t *v, char **bad, int dropt)
{
	int left;

	if (json_is_string(v)) {
		char *s = strip(json_string_value(v), &left);
		json_t *r;
		if (!s)
			return NULL;
		if (left) {
			*bad = s;
			return NULL;
		}
		r = json_string(s);
		free(s);
		return r;
	}
	if (json_is_array(v)) {
		for (size_t i = 0; i < json_array_size(v); i++) {
			json_t *e = strip_json(json_array_get(v, i), bad, dropt);
			if (!e || json_array_set_new(v, i, e) < 0)
				return NULL;
		}
		return json_incref(v);
	}
	if (json_is_object(v)) {
		json_t *o = json_object();
		const char *k;
		json_t *m;
		if (!o)
			return NULL;
		json_object_foreach(v, k, m) {
			char *sk;
			json_t *e;
			/* Json.NET's type names (Migrator documents) are not data. */
			if (dropt && strcmp(k, "$type") == 0)
				continue;
			if (!(sk = strip(k, &left)) || left) {
				if (sk && left)
					*bad = sk;
				else
					free(sk);
				json_decref(o);
				return NULL;
			}
			e = strip_json(m, bad, dropt);
			if (!e || json_object_set_new(o, sk, e) < 0) {
				free(sk);
				json_decref(o);
				return NULL;
			}
			free(sk);
		}
		return o;
	}
	return json_incref(v);
}

struct secret_ctx {
	struct om_octopus *p;
	const char *entry;
};

/* Decrypt one sensitive value and seal it as the store would. */
static int open_secret(const struct om_hit *hit, void *vctx)
{
	struct secret_ctx *c = vctx;
	struct om_octopus *p = c->p;
	char *clear, *sealed;
	size_t len;
	struct om_err e;

	if (om_octopus_decrypt(p->aes, json_string_value(hit->value), &clear, &len, &e) < 0) {
		om_err_set(p->err, "'%s': entry '%s': %s: %s", p->input, c->entry, hit->where,
			   e.msg);
		return -1;
	}
	sealed = om_seal(p->key, clear, len, &e);
	om_clear_free(clear);
	if (!sealed || json_string_set(hit->value, sealed) < 0) {
		free(sealed);
		return oom(p);
	}
	free(sealed);
	return 0;
}

/* Take one document of the export: its suffix off, its kind checked, its
 * space noted, its secrets sealed.  doc is consumed. */
static int add_doc(struct om_octopus *p, const char *entry, json_t *doc,
		   const struct om_kind *kind, const char *what, int migrator)
{
	char *bad = NULL;
	json_t *d = strip_json(doc, &bad, migrator);
	const char *id, *sp;
	struct secret_ctx sc = {p, entry};

	json_decref(doc);
	if (!d) {
		if (!bad)
			return oom(p);
		om_err_set(p->err, "'%s': entry '%s': '%s' still holds an export suffix after "
			   "stripping", p->input, entry, bad);
		free(bad);
		return -1;
	}
	if (!(id = json_string_value(json_object_get(d, OM_MEMBER_ID)))) {
		om_err_set(p->err, "'%s': entry '%s': no Id", p->input, entry);
		goto fail;
	}
	if (!kind && !(kind = om_kind_of_id(id))) {
		om_err_set(p->err, "'%s': entry '%s': %s (Id '%s') is not a kind om knows",
			   p->input, entry, what, id);
		goto fail;
	}
	if (om_kind_of_id(id) != kind) {
		om_err_set(p->err, "'%s': entry '%s': Id '%s' is not the Id of a %s (%s)", p->input,
			   entry, id, kind->name, what);
		goto fail;
	}
	if (om_idmap_get(p->ids, id)) {
		om_err_set(p->err, "'%s': entry '%s': a second document with Id '%s'", p->input,
			   entry, id);
		goto fail;
	}
	if (om_idmap_put(p->ids, id, kind, NULL) < 0) {
		oom(p);
		goto fail;
	}
	/* One space: the first SpaceId met, the others must agree. */
	if (kind->scope != OM_SERVER && (sp = json_string_value(json_object_get(d, OM_MEMBER_SPACE)))) {
		if (!p->space_id && !(p->space_id = strdup(sp))) {
			oom(p);
			goto fail;
		}
		if (strcmp(sp, p->space_id) != 0) {
			om_err_set(p->err, "'%s': entry '%s': SpaceId '%s', where the others have '%s'",
				   p->input, entry, sp, p->space_id);
			goto fail;
		}
	}
	if (om_secrets_each(kind, d, open_secret, &sc, p->err) != 0)
		goto fail;
	if (p->ndocs + 1 >= p->capdocs) {
		size_t cap = p->capdocs ? p->capdocs * 2 : 32;
		json_t **n = realloc(p->docs, cap * sizeof *n);
		char **e = n ? realloc(p->entries, cap * sizeof *e) : NULL;
		if (n)
			p->docs = n;
		if (!e) {
			oom(p);
			goto fail;
		}
		p->entries = e;
		p->capdocs = cap;
	}
	if (!(p->entries[p->ndocs] = strdup(entry))) {
		oom(p);
		goto fail;
	}
	p->docs[p->ndocs++] = d;
	return 0;
fail:
	json_decref(d);
	return -1;
}

/* Load an entry as JSON, as strict as a bundle's documents. */
static json_t *load(struct om_octopus *p, const struct file *f)
{
	struct om_err e;
	json_t *j = om_bundle_doc_load(p->canon, f->data, f->len, &e);

	if (!j)
		om_err_set(p->err, "'%s': entry '%s': %s", p->input, f->name, e.msg);
	else if (!json_is_object(j)) {
		om_err_set(p->err, "'%s': entry '%s': not a JSON object", p->input, f->name);
		json_decref(j);
		j = NULL;
	}
	return j;
}

/* Check the password against the export's canary: 0 right, 1 wrong, -1 a
 * canary that is no ciphertext. */
static int check_hello(struct om_octopus *p, const char *entry, json_t *hello)
{
	char *clear;
	size_t len;
	struct om_err e;
	int ok;

	if (!json_is_string(hello)) {
		om_err_set(p->err, "'%s': entry '%s': no Hello", p->input, entry);
		return -1;
	}
	if (om_octopus_decrypt(p->aes, json_string_value(hello), &clear, &len, &e) < 0) {
		if (strncmp(e.msg, "bad padding", 11) == 0)
			goto wrong;
		om_err_set(p->err, "'%s': entry '%s': Hello: %s", p->input, entry, e.msg);
		return -1;
	}
	ok = len == strlen(HELLO) && memcmp(clear, HELLO, len) == 0;
	om_clear_free(clear);
	if (ok)
		return 0;
wrong:
	om_err_set(p->err, "'%s': wrong password: the export's Hello does not decrypt", p->input);
	return 1;
}

/* The text of a small file, without trailing white space. */
static char *text_of(struct om_octopus *p, const char *name)
{
	struct file *f = find_file(p, name);
	char *s;
	size_t n;

	if (!f)
		return NULL;
	n = f->len;
	while (n && (f->data[n - 1] == '\n' || f->data[n - 1] == '\r' || f->data[n - 1] == ' '))
		n--;
	if (!(s = strndup(f->data, n)))
		oom(p);
	return s;
}

static int read_package(struct om_octopus *p)
{
	static const char *const own[] = {"manifest.json", "version", "server-version", "checksum"};
	char *version;
	json_t *m = NULL, *entries;
	int rc = -1, r;

	for (size_t i = 0; i < p->nfiles; i++)
		if (strchr(p->files[i].name, '/')) {
			om_err_set(p->err, "'%s': entry '%s': in a folder (a package is one flat "
				   "folder)", p->input, p->files[i].name);
			return -1;
		}
	if (!(version = text_of(p, "version"))) {
		om_err_set(p->err, "'%s': no entry 'version': not an Export/Import Projects package",
			   p->input);
		return -1;
	}
	if (strcmp(version, PACKAGE_VERSION) != 0) {
		om_err_set(p->err, "'%s': entry 'version': unsupported package version '%.40s' "
			   "(om-octopus reads %s)", p->input, version, PACKAGE_VERSION);
		free(version);
		return -1;
	}
	free(version);
	if (!(m = load(p, find_file(p, "manifest.json"))))
		return -1;
	if ((r = check_hello(p, "manifest.json", json_object_get(m, "Hello"))) != 0) {
		json_decref(m);
		return r;
	}
	if (!(p->server_version = text_of(p, "server-version"))) {
		om_err_set(p->err, "'%s': no entry 'server-version'", p->input);
		goto out;
	}
	if (!json_is_array(entries = json_object_get(m, "Entries"))) {
		om_err_set(p->err, "'%s': entry 'manifest.json': no Entries", p->input);
		goto out;
	}
	for (size_t i = 0; i < json_array_size(entries); i++) {
		json_t *en = json_array_get(entries, i);
		const char *src = json_string_value(json_object_get(en, "DocumentSource"));
		const char *type = json_string_value(json_object_get(en, "DocumentType"));
		const char *hash = json_string_value(json_object_get(en, "Hash"));
		const char *eid = json_string_value(json_object_get(en, OM_MEMBER_ID));
		const struct om_kind *k;
		struct file *f;
		json_t *doc;
		unsigned char sha[SHA1_DIGEST_SIZE];
		char hex[2 * SHA1_DIGEST_SIZE + 1];
		struct sha1_ctx h;

		if (!src || !type || !hash || !eid) {
			om_err_set(p->err, "'%s': entry 'manifest.json': Entries[%zu]: no %s", p->input,
				   i, !src ? "DocumentSource" : !type ? "DocumentType"
				   : !hash ? "Hash" : OM_MEMBER_ID);
			goto out;
		}
		if (!(f = find_file(p, src))) {
			om_err_set(p->err, "'%s': entry 'manifest.json': lists '%s', which is not in "
				   "the package", p->input, src);
			goto out;
		}
		if (f->listed++) {
			om_err_set(p->err, "'%s': entry 'manifest.json': lists '%s' twice", p->input,
				   src);
			goto out;
		}
		sha1_init(&h);
		sha1_update(&h, f->len, (const uint8_t *)f->data);
		sha1_digest(&h, sizeof sha, sha);
		sodium_bin2hex(hex, sizeof hex, sha, sizeof sha);
		if (strcasecmp(hex, hash) != 0) {
			if (p->o->strict) {
				om_err_set(p->err, "'%s': entry '%s': SHA-1 %s, the manifest says %.40s",
					   p->input, src, hex, hash);
				goto out;
			}
			warn(p, "'%s': entry '%s': SHA-1 %s, the manifest says %.40s", p->input, src,
			     hex, hash);
		}
		if (!(k = om_kind_of_octopus_type(type))) {
			om_err_set(p->err, "'%s': entry '%s': DocumentType '%s' is not a kind om knows",
				   p->input, src, type);
			goto out;
		}
		if (!(doc = load(p, f)))
			goto out;
		char what[300];
		snprintf(what, sizeof what, "DocumentType '%s'", type);
		if (add_doc(p, src, doc, k, what, 0) < 0)
			goto out;
		/* The manifest's Id is the document's. */
		int left;
		char *sid = strip(eid, &left);
		if (!sid) {
			oom(p);
			goto out;
		}
		r = strcmp(sid, json_string_value(json_object_get(p->docs[p->ndocs - 1], OM_MEMBER_ID)));
		free(sid);
		if (r != 0) {
			om_err_set(p->err, "'%s': entry 'manifest.json': Entries[%zu]: Id '%s' is not "
				   "the Id in '%s'", p->input, i, eid, src);
			goto out;
		}
	}
	for (size_t i = 0; i < p->nfiles; i++) {
		int ours = 0;
		for (size_t j = 0; j < sizeof own / sizeof *own; j++)
			ours |= strcmp(p->files[i].name, own[j]) == 0;
		if (!ours && !p->files[i].listed)
			warn(p, "'%s': entry '%s': not in the manifest, left out", p->input,
			     p->files[i].name);
	}
	rc = 0;
out:
	json_decref(m);
	return rc;
}

static int read_migrator(struct om_octopus *p)
{
	json_t *m = load(p, find_file(p, "metadata.json"));
	const char *dbv;
	int r;

	if (!m)
		return -1;
	if ((r = check_hello(p, "metadata.json", json_object_get(m, "Hello"))) != 0) {
		json_decref(m);
		return r;
	}
	if (!(dbv = json_string_value(json_object_get(m, "DatabaseVersion"))) ||
	    !(p->server_version = strdup(dbv))) {
		if (dbv)
			oom(p);
		else
			om_err_set(p->err, "'%s': entry 'metadata.json': no DatabaseVersion", p->input);
		json_decref(m);
		return -1;
	}
	json_decref(m);
	for (size_t i = 0; i < p->nfiles; i++) {
		const struct file *f = &p->files[i];
		size_t n = strlen(f->name);
		const char *type;
		json_t *doc;
		char what[300];
		/* Documents only: script copies and attachments (logos) are not,
		 * nor is the server's own configuration. */
		if (n < 5 || strcmp(f->name + n - 5, ".json") != 0 ||
		    strcmp(f->name, "metadata.json") == 0 ||
		    strncmp(f->name, "Configuration/", 14) == 0 || !strchr(f->name, '/'))
			continue;
		if (!(doc = load(p, f)))
			return -1;
		if (!(type = json_string_value(json_object_get(doc, "$type")))) {
			om_err_set(p->err, "'%s': entry '%s': no $type (not a Migrator document)",
				   p->input, f->name);
			json_decref(doc);
			return -1;
		}
		snprintf(what, sizeof what, "$type '%.200s'", type);
		if (add_doc(p, f->name, doc, NULL, what, 1) < 0)
			return -1;
	}
	return 0;
}

/* Put the space in: the documents that have none get the package's, and
 * the space itself, named as asked. */
static int add_space(struct om_octopus *p)
{
	const char *name = p->o->space ? p->o->space : "Default";
	json_t *s;

	if (!p->space_id) {
		/* The first Id of the space kind, as Octopus's Default space. */
		const char *pre = om_space_kind()->id_prefix;
		if (!(p->space_id = malloc(strlen(pre) + 2)))
			return oom(p);
		strcpy(p->space_id, pre);
		strcat(p->space_id, "1");
	}
	for (size_t i = 0; i < p->ndocs; i++) {
		const struct om_kind *k = om_kind_of_id(json_string_value(
			json_object_get(p->docs[i], OM_MEMBER_ID)));
		if (k->scope == OM_SPACE && !json_is_string(json_object_get(p->docs[i], OM_MEMBER_SPACE)) &&
		    json_object_set_new(p->docs[i], OM_MEMBER_SPACE, json_string(p->space_id)) < 0)
			return oom(p);
	}
	/* A document's path is below its owner's: the owner must be here. */
	for (size_t i = 0; i < p->ndocs; i++) {
		const struct om_kind *k = om_kind_of_id(json_string_value(
			json_object_get(p->docs[i], OM_MEMBER_ID)));
		const char *owner = k->owner ? json_string_value(json_object_get(p->docs[i],
										  k->owner)) : NULL;
		if (k->owner && (!owner || !om_idmap_get(p->ids, owner))) {
			om_err_set(p->err, "'%s': entry '%s': %s '%s' is not in the export", p->input,
				   p->entries[i], k->owner, owner ? owner : "null");
			return -1;
		}
	}
	if (om_idmap_get(p->ids, p->space_id)) {
		om_err_set(p->err, "'%s': the export holds its space '%s'", p->input, p->space_id);
		return -1;
	}
	if (!(s = json_pack("{ssss}", OM_MEMBER_ID, p->space_id,
			     om_kind_name_member(om_space_kind()), name)))
		return oom(p);
	if (p->ndocs + 1 >= p->capdocs) {
		json_t **n = realloc(p->docs, (p->ndocs + 2) * sizeof *n);
		char **e = n ? realloc(p->entries, (p->ndocs + 2) * sizeof *e) : NULL;
		if (n)
			p->docs = n;
		if (!e) {
			json_decref(s);
			return oom(p);
		}
		p->entries = e;
		p->capdocs = p->ndocs + 2;
	}
	p->entries[p->ndocs] = NULL;
	p->docs[p->ndocs++] = s;
	return 0;
}

static int read_common(struct om_octopus *p)
{
	unsigned char raw[32];
	int r;

	if (p->nfiles)
		qsort(p->files, p->nfiles, sizeof *p->files, cmp_file);
	for (size_t i = 1; i < p->nfiles; i++)
		if (strcmp(p->files[i - 1].name, p->files[i].name) == 0) {
			om_err_set(p->err, "'%s': entry '%s': a second entry of that name", p->input,
				   p->files[i].name);
			return -1;
		}
	om_octopus_key(p->o->password, p->o->password_len, p->aes);
	/* The key that seals the secrets in memory and keys the fingerprints
	 * of --redact-secrets: from the password, so that a secret's
	 * fingerprint stays the same from one conversion to the next. */
	crypto_generichash(raw, sizeof raw, (const unsigned char *)"om-octopus-1", 12, p->aes,
			   sizeof p->aes);
	p->key = om_key_from_bytes(raw, p->err);
	sodium_memzero(raw, sizeof raw);
	if (!p->key || !(p->canon = om_canon_new(p->err)))
		return -1;
	if (!(p->ids = om_idmap_new()))
		return oom(p);
	if (find_file(p, "metadata.json"))
		r = read_migrator(p);
	else if (find_file(p, "manifest.json"))
		r = read_package(p);
	else {
		om_err_set(p->err, "'%s': neither an Export/Import Projects package (manifest.json) "
			   "nor a Migrator export (metadata.json)", p->input);
		return -1;
	}
	return r != 0 ? r : add_space(p);
}

static struct om_octopus *new_reader(const char *name, const struct om_octopus_opts *o,
				     struct om_err *err)
{
	struct om_octopus *p = calloc(1, sizeof *p);

	if (!p) {
		om_err_set(err, "out of memory");
		return NULL;
	}
	p->input = name;
	p->o = o;
	p->lim = o->limits ? o->limits : &default_limits;
	p->err = err;
	return p;
}

static int finish(struct om_octopus *p, int r, struct om_octopus **out)
{
	if (r != 0) {
		om_octopus_free(p);
		return r;
	}
	for (size_t i = 0; i < p->nwarnings; i++)
		p->o->warn(p->o->warn_ctx, p->warnings[i]);
	/* The files are no longer needed: only the documents are. */
	for (size_t i = 0; i < p->nfiles; i++) {
		free(p->files[i].name);
		free(p->files[i].data);
	}
	free(p->files);
	p->files = NULL;
	p->nfiles = 0;
	*out = p;
	return 0;
}

int om_octopus_read_fd(int fd, const char *name, const struct om_octopus_opts *o,
		       struct om_octopus **out, struct om_err *err)
{
	struct om_octopus *p = new_reader(name, o, err);

	*out = NULL;
	if (!p)
		return -1;
	return finish(p, read_zip(p, fd) < 0 ? -1 : read_common(p), out);
}

int om_octopus_read(const char *path, const struct om_octopus_opts *o, struct om_octopus **out,
		    struct om_err *err)
{
	struct om_octopus *p;
	struct stat st;
	int fd, r;

	*out = NULL;
	if (strcmp(path, "-") == 0)
		return om_octopus_read_fd(STDIN_FILENO, "-", o, out, err);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st) != 0) {
		om_err_set(err, "cannot open '%s': %s", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		r = om_octopus_read_fd(fd, path, o, out, err);
		close(fd);
		return r;
	}
	if (!(p = new_reader(path, o, err))) {
		close(fd);
		return -1;
	}
	return finish(p, read_dir(p, fd, "", 0) < 0 ? -1 : read_common(p), out);
}

size_t om_octopus_count(const struct om_octopus *p)
{
	return p->ndocs;
}

int om_octopus_write(const struct om_octopus *p, enum om_secret_state secrets,
		     struct om_bundle_writer *w, struct om_err *err)
{
	struct om_export_opts eo = {0};
	char **texts = calloc(p->ndocs + 1, sizeof *texts);
	int rc = -1;

	if (!texts) {
		om_err_set(err, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < p->ndocs; i++)
		if (!(texts[i] = json_dumps(p->docs[i], JSON_COMPACT))) {
			om_err_set(err, "out of memory");
			goto out;
		}
	eo.space = p->o->space ? p->o->space : "Default";
	eo.secrets = secrets;
	eo.key = p->key;
	rc = om_export_docs(&eo, p->server_version, (const char *const *)texts, p->ndocs, w, err);
out:
	for (size_t i = 0; i < p->ndocs; i++)
		free(texts[i]);
	free(texts);
	return rc;
}

void om_octopus_free(struct om_octopus *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nfiles; i++) {
		free(p->files[i].name);
		free(p->files[i].data);
	}
	free(p->files);
	for (size_t i = 0; i < p->ndocs; i++) {
		json_decref(p->docs[i]);
		free(p->entries[i]);
	}
	free(p->docs);
	free(p->entries);
	om_idmap_free(p->ids);
	om_canon_free(p->canon);
	om_key_free(p->key);
	sodium_memzero(p->aes, sizeof p->aes);
	free(p->space_id);
	free(p->server_version);
	for (size_t i = 0; i < p->nwarnings; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p);
}
