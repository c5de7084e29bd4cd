/* Unit tests of password-encrypted secrets: the known-answer vectors of
 * fixtures/pw-vectors (computed from spec/secrets.md by an independent
 * script), and what must not open. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "../../format/pwcrypt.h"
#include "../../format/seal.h"
#include "t.h"

/* One vector: the fields of a line of vectors.txt. */
struct vec {
	json_t *f[9];
};

static const char *S(const struct vec *v, int i)
{
	return json_string_value(v->f[i]);
}

static int load(struct vec *vs, int max)
{
	char path[8192], line[8192];
	int n = 0;
	FILE *f;

	t_source_path(path, sizeof path, "fixtures/pw-vectors/vectors.txt");
	if (!(f = fopen(path, "r"))) {
		fprintf(stderr, "  cannot open %s\n", path);
		return 0;
	}
	while (n < max && fgets(line, sizeof line, f)) {
		char *save = NULL, *tok = strtok_r(line, "\t\n", &save);
		int i = 0;
		for (; tok && i < 9; tok = strtok_r(NULL, "\t\n", &save))
			vs[n].f[i++] = json_loads(tok, JSON_DECODE_ANY, NULL);
		if (i == 9)
			n++;
	}
	fclose(f);
	return n;
}

static struct vec vs[32];
static int nvs;

static struct om_pw_key *key_of(const struct vec *v)
{
	struct om_pw_params p;
	struct om_err err;
	size_t n;

	if (!S(v, 0) || !S(v, 1))
		return NULL;
	p.opslimit = (unsigned long long)json_integer_value(v->f[2]);
	p.memlimit = (size_t)json_integer_value(v->f[3]);
	if (sodium_base642bin(p.salt, sizeof p.salt, S(v, 1), strlen(S(v, 1)), NULL, &n, NULL,
			      sodium_base64_VARIANT_ORIGINAL) != 0 || n != 16)
		return NULL;
	return om_pw_key_derive(S(v, 0), strlen(S(v, 0)), &p, &err);
}

static void test_vectors(void)
{
	CHECK(nvs >= 7);
	for (int i = 0; i < nvs; i++) {
		struct om_pw_key *k = key_of(&vs[i]);
		struct om_buf out = {0};
		struct om_err err;
		char check[OM_PW_CHECK_SIZE], *clear;
		size_t len;
		CHECK(k != NULL);
		if (!k)
			continue;
		om_pw_key_check(k, check);
		CHECK_STR(check, S(&vs[i], 7));
		CHECK(om_pw_encrypt(k, S(&vs[i], 4), S(&vs[i], 5), S(&vs[i], 6), strlen(S(&vs[i], 6)),
				    &out, &err) == 0);
		CHECK(out.len == strlen(S(&vs[i], 8)) && memcmp(out.p, S(&vs[i], 8), out.len) == 0);
		CHECK(om_pw_decrypt(k, S(&vs[i], 4), S(&vs[i], 5), S(&vs[i], 8), strlen(S(&vs[i], 8)),
				    &clear, &len, &err) == 0);
		CHECK(clear && len == strlen(S(&vs[i], 6)) && strcmp(clear, S(&vs[i], 6)) == 0);
		om_clear_free(clear);
		om_buf_release(&out);
		om_pw_key_free(k);
	}
}

/* Same value, other place or salt: other token; same inputs: same token. */
static void test_deterministic(void)
{
	struct om_pw_key *k = key_of(&vs[0]);
	struct om_buf a = {0}, b = {0};
	struct om_err err;

	CHECK(nvs >= 7);
	if (nvs < 7 || !k)
		return;
	CHECK(strcmp(S(&vs[0], 8), S(&vs[1], 8)) != 0);
	CHECK(strcmp(S(&vs[0], 8), S(&vs[2], 8)) != 0);
	CHECK(strcmp(S(&vs[0], 8), S(&vs[3], 8)) != 0);
	CHECK(om_pw_encrypt(k, "p.json", "A", "v", 1, &a, &err) == 0);
	CHECK(om_pw_encrypt(k, "p.json", "A", "v", 1, &b, &err) == 0);
	CHECK(a.len == b.len && memcmp(a.p, b.p, a.len) == 0);
	/* The framing is unambiguous: moving a byte between path and place. */
	b.len = 0;
	CHECK(om_pw_encrypt(k, "p.jsonA", "", "v", 1, &b, &err) == 0);
	CHECK(a.len != b.len || memcmp(a.p, b.p, a.len) != 0);
	om_buf_release(&a);
	om_buf_release(&b);
	om_pw_key_free(k);
}

/* What must not open, all as authentication failures: any character of
 * the body changed (to one of the alphabet, a pad, or one outside it, the
 * last characters too), a body cut short, another place, another document,
 * another password.  Only an unknown prefix is not an om-pw-1 token. */
static void test_tamper(void)
{
	static const char subst[] = "AB+/=*";
	struct om_pw_key *k = key_of(&vs[0]), *k2 = key_of(&vs[4]);
	const char *tok = S(&vs[0], 8), *path = S(&vs[0], 4), *loc = S(&vs[0], 5);
	size_t tl, len, plen = strlen(OM_PW_PREFIX), tried = 0;
	char *t, *clear;
	struct om_err err;
	int bad = 0;

	CHECK(nvs >= 7);
	if (nvs < 7 || !k || !k2)
		return;
	tl = strlen(tok);
	t = strdup(tok);
	CHECK(t[tl - 1] == '=');
	for (size_t i = plen; i < tl; i++) {
		char was = t[i];
		for (const char *c = subst; *c; c++) {
			if (*c == was)
				continue;
			t[i] = *c;
			tried++;
			if (om_pw_decrypt(k, path, loc, t, tl, &clear, &len, &err) != 1) {
				fprintf(stderr, "  a change at %zu to '%c' is not an authentication "
						"failure\n", i, *c);
				bad++;
				om_clear_free(clear);
			}
		}
		t[i] = was;
	}
	CHECK(bad == 0);
	CHECK(tried >= 5 * (tl - plen));
	for (size_t cut = 1; cut <= tl - plen; cut++)
		if (om_pw_decrypt(k, path, loc, tok, tl - cut, &clear, &len, &err) != 1)
			bad++;
	CHECK(bad == 0);
	CHECK(om_pw_decrypt(k, path, loc, "om-pw-1:AAAA", 12, &clear, &len, &err) == 1);
	CHECK(om_pw_decrypt(k, path, "Password", tok, tl, &clear, &len, &err) == 1);
	CHECK(om_pw_decrypt(k, "spaces/Default/feeds/Other.json", loc, tok, tl, &clear, &len,
			    &err) == 1);
	CHECK(om_pw_decrypt(k2, path, loc, tok, tl, &clear, &len, &err) == 1);
	CHECK(om_pw_decrypt(k, path, loc, "om-pw-2:AAAA", 12, &clear, &len, &err) == -1);
	CHECK(om_pw_decrypt(k, path, loc, "om-pw-1", 7, &clear, &len, &err) == -1);
	CHECK(om_pw_decrypt(k, path, loc, tok, tl, &clear, &len, &err) == 0);
	om_clear_free(clear);
	free(t);
	om_pw_key_free(k);
	om_pw_key_free(k2);
}

static void test_params_json(void)
{
	struct om_pw_params p, q;
	struct om_pw_key *k;
	struct om_err err;
	char check[OM_PW_CHECK_SIZE], want[OM_PW_CHECK_SIZE];
	json_t *j;

	CHECK(om_pw_params_level("interactive", &p) == 0);
	CHECK(om_pw_params_level("moderate", &p) == 0);
	CHECK(om_pw_params_level("fast", &p) == -1);
	p.opslimit = 1;
	p.memlimit = 8192;
	om_pw_params_new_salt(&p);
	k = om_pw_key_derive("pw", 2, &p, &err);
	j = om_pw_params_to_json(&p, k);
	CHECK(om_pw_params_from_json(j, &q, check, &err) == 0);
	om_pw_key_check(k, want);
	CHECK_STR(check, want);
	CHECK(q.opslimit == 1 && q.memlimit == 8192 && memcmp(p.salt, q.salt, 16) == 0);
	/* A hostile manifest cannot ask for unbounded memory. */
	json_object_set_new(json_object_get(j, "Kdf"), "MemLimit", json_integer(1LL << 40));
	CHECK(om_pw_params_from_json(j, &q, check, &err) == -1);
	CHECK(strstr(err.msg, "out of range") != NULL);
	json_object_set_new(json_object_get(j, "Kdf"), "MemLimit", json_integer(8192));
	json_object_set_new(json_object_get(j, "Kdf"), "Algorithm", json_string("scrypt"));
	CHECK(om_pw_params_from_json(j, &q, check, &err) == -1);
	json_object_set_new(json_object_get(j, "Kdf"), "Algorithm", json_string("argon2id13"));
	json_object_set_new(json_object_get(j, "Kdf"), "Salt", json_string("AAAA"));
	CHECK(om_pw_params_from_json(j, &q, check, &err) == -1);
	json_decref(j);
	om_pw_key_free(k);
}

static void test_clear_tokens(void)
{
	struct om_err err;
	char *t = om_clear_encode("secret\0x", 8, &err), *c;
	size_t len;

	CHECK_STR(t, "om-clear-1:c2VjcmV0AHg=");
	CHECK(om_clear_decode(t, strlen(t), &c, &len, &err) == 0);
	CHECK(len == 8 && memcmp(c, "secret\0x", 8) == 0);
	om_clear_free(c);
	om_clear_free(t);
	CHECK(om_clear_decode("om-clear-1:c2VjcmV0AHg", 22, &c, &len, &err) == -1);
	CHECK(om_clear_decode("om-pw-1:AAAA", 12, &c, &len, &err) == -1);
}

int main(void)
{
	struct om_err err;

	if (om_crypto_init(&err) < 0)
		return 1;
	nvs = load(vs, 32);
	RUN(test_vectors);
	RUN(test_deterministic);
	RUN(test_tamper);
	RUN(test_params_json);
	RUN(test_clear_tokens);
	for (int i = 0; i < nvs; i++)
		for (int j = 0; j < 9; j++)
			json_decref(vs[i].f[j]);
	return T_EXIT();
}
