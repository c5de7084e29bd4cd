/* Unit tests of the master key and sealed secrets. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../format/seal.h"
#include "t.h"

static char dir[] = "/tmp/om-test-seal.XXXXXX";

static char *path(const char *name)
{
	static char p[256];

	snprintf(p, sizeof p, "%s/%s", dir, name);
	return p;
}

static void write_file(const char *name, const char *text)
{
	FILE *f = fopen(path(name), "w");

	fputs(text, f);
	fclose(f);
}

static void test_key_file(void)
{
	struct om_err err;
	struct om_key *k;
	struct stat st;

	CHECK(om_key_create(path("k1"), &err) == 0);
	CHECK(stat(path("k1"), &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 45);
	/* Never overwrites a key. */
	CHECK(om_key_create(path("k1"), &err) == -1);
	CHECK(strstr(err.msg, "File exists") != NULL);
	CHECK((k = om_key_load(path("k1"), &err)) != NULL);
	om_key_free(k);

	write_file("short", "AAAA\n");
	CHECK(om_key_load(path("short"), &err) == NULL);
	CHECK(strstr(err.msg, "is not a master key file") != NULL);
	write_file("junk", "not base64 at all, not at all, no, not at all!!\n");
	CHECK(om_key_load(path("junk"), &err) == NULL);
	CHECK(om_key_load(path("absent"), &err) == NULL);
	CHECK(strstr(err.msg, "cannot open master key file") != NULL);
	/* Without a final newline, and with CRLF, is still a key. */
	write_file("nonl", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=");
	CHECK((k = om_key_load(path("nonl"), &err)) != NULL);
	om_key_free(k);
	write_file("crlf", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n");
	CHECK((k = om_key_load(path("crlf"), &err)) != NULL);
	om_key_free(k);
}

static void test_check_value(void)
{
	struct om_err err;
	char c1[OM_KEY_CHECK_SIZE], c2[OM_KEY_CHECK_SIZE];
	struct om_key *a, *b;

	/* A known answer: the check value of the key 00 01 .. 1f. */
	write_file("seq", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n");
	a = om_key_load(path("seq"), &err);
	om_key_check(a, c1);
	CHECK(strncmp(c1, "om-mk-1:", 8) == 0 && strlen(c1) == 40);
	/* Computed independently from spec/store.md: BLAKE2b-128 keyed with subkey 2 of
	 * crypto_kdf context "omstore1" over "om master key check". */
	CHECK_STR(c1, "om-mk-1:42e636fd039bf31d88a3b5e577055a9d");
	b = om_key_load(path("k1"), &err);
	om_key_check(b, c2);
	CHECK(strcmp(c1, c2) != 0);
	om_key_free(a);
	om_key_free(b);
}

static void test_seal_roundtrip(void)
{
	struct om_err err;
	struct om_key *k = om_key_load(path("k1"), &err), *other = om_key_load(path("seq"), &err);
	const char clear[] = "pa$$w0rd: \"quoted\"\nline two\t\xc3\xa9";
	char *t1 = om_seal(k, clear, sizeof clear - 1, &err);
	char *t2 = om_seal(k, clear, sizeof clear - 1, &err);
	char *out;
	size_t len;

	CHECK(t1 && om_is_sealed(t1));
	/* Random nonces: sealing twice differs. */
	CHECK(strcmp(t1, t2) != 0);
	CHECK(om_unseal(k, t1, &out, &len, &err) == 0);
	CHECK(len == sizeof clear - 1 && memcmp(out, clear, len) == 0 && out[len] == 0);
	om_clear_free(out);
	/* Another key does not open it. */
	CHECK(om_unseal(other, t1, &out, &len, &err) == 1);
	CHECK(out == NULL);
	/* Tampering is caught: flip one base64 digit in the middle. */
	size_t mid = strlen(t1) / 2;
	t1[mid] = t1[mid] == 'A' ? 'B' : 'A';
	CHECK(om_unseal(k, t1, &out, &len, &err) == 1);
	/* Not our form, truncated, not base64. */
	CHECK(om_unseal(k, "hello", &out, &len, &err) == -1);
	CHECK(om_unseal(k, OM_SEALED_PREFIX "AAAA", &out, &len, &err) == -1);
	CHECK(om_unseal(k, OM_SEALED_PREFIX "!!!!", &out, &len, &err) == -1);
	/* The empty secret seals too. */
	char *t3 = om_seal(k, "", 0, &err);
	CHECK(om_unseal(k, t3, &out, &len, &err) == 0 && len == 0);
	om_clear_free(out);
	free(t1);
	free(t2);
	free(t3);
	om_key_free(k);
	om_key_free(other);
}

int main(void)
{
	struct om_err err;

	if (om_crypto_init(&err) < 0 || !mkdtemp(dir))
		return 2;
	RUN(test_key_file);
	RUN(test_check_value);
	RUN(test_seal_roundtrip);
	/* Remove the scratch directory. */
	const char *names[] = {"k1", "short", "junk", "nonl", "crlf", "seq"};
	for (size_t i = 0; i < sizeof names / sizeof *names; i++)
		unlink(path(names[i]));
	rmdir(dir);
	return T_EXIT();
}
