/* Unit tests of Octopus's export crypto (format/octopus.h): the key of the
 * password of the shared sample package, as octopus-formats.md gives it
 * (computed there with Python's hashlib.pbkdf2_hmac), the sample's Hello and
 * sensitive values against the plaintexts of its README, and what must not
 * decrypt.  tests/cli/octopus-crypto.sh checks random vectors against
 * python3 and openssl at every run. */
#include <string.h>

#include <sodium.h>

#include "../../format/octopus.h"
#include "../../format/seal.h"
#include "t.h"

static void sample_key(unsigned char key[OM_OCTOPUS_KEY_SIZE])
{
	om_octopus_key("pass!w0rd", 9, key);
}

static void key_derivation(void)
{
	unsigned char key[OM_OCTOPUS_KEY_SIZE];
	char hex[2 * OM_OCTOPUS_KEY_SIZE + 1];

	sample_key(key);
	sodium_bin2hex(hex, sizeof hex, key, sizeof key);
	CHECK_STR(hex, "49642b53cfe936127b6478be8a442187");
	om_octopus_key("pass!w0rd.", 10, key);
	sodium_bin2hex(hex, sizeof hex, key, sizeof key);
	CHECK(strcmp(hex, "49642b53cfe936127b6478be8a442187") != 0);
}

static void decrypt_sample(void)
{
	static const char *const v[][2] = {
		{"JcafuSlkardd1a+m0w490A==|zk4im4KcPfopuCFadPYygg==", "Cephalopod"},
		{"miEOe//HnxHqyAf/0V3Y06a8RwbT1rkWPHH0vHXtztc=|ttxE6JPEy6hP3jhGLRqslw==",
		 "sensitive_default"},
		{"MYvFyiIt1aUcvfiORB809w==|yhWcMW1ybrZob9u1mjQkPQ==", "secret"},
		{"W4v/jPKDePNRZB2/8q4IkA==|fNGU2hwJN+Fni/UYYDbQZQ==", "hellow_world"},
	};
	unsigned char key[OM_OCTOPUS_KEY_SIZE];
	struct om_err err;

	sample_key(key);
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		char *clear = NULL;
		size_t len = 0;
		CHECK(om_octopus_decrypt(key, v[i][0], &clear, &len, &err) == 0);
		CHECK_STR(clear, v[i][1]);
		CHECK(len == strlen(v[i][1]));
		om_clear_free(clear);
	}
}

static void refused(void)
{
	static const char *const v[][2] = {
		{"MYvFyiIt1aUcvfiORB809w==", "not a sensitive value (base64|base64)"},
		{"MYvFyiIt1aUcvfiORB809w==|yhWc|MW1ybrZob9u1mjQkPQ==",
		 "not a sensitive value (base64|base64)"},
		{"MYvFyiIt1aUcvfiORB809w=|yhWcMW1ybrZob9u1mjQkPQ==", "not valid base64"},
		{"|yhWcMW1ybrZob9u1mjQkPQ==", "not valid base64"},
		{"MYvFyiIt1aUcvfiORB809w==|yhWcMW1ybrZob9u1", "an IV of 12 bytes, not 16"},
		{"MYvFyiIt1aUcvfiORB80|yhWcMW1ybrZob9u1mjQkPQ==",
		 "a ciphertext of 15 bytes, not whole AES blocks"},
		/* The sample's Hello under the sample's secret's IV: padding. */
		{"JcafuSlkardd1a+m0w490A==|yhWcMW1ybrZob9u1mjQkPQ==",
		 "bad padding (not this password's, or damaged)"},
	};
	unsigned char key[OM_OCTOPUS_KEY_SIZE];
	struct om_err err;

	sample_key(key);
	for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
		char *clear = (char *)"unset";
		size_t len;
		err.msg[0] = 0;
		CHECK(om_octopus_decrypt(key, v[i][0], &clear, &len, &err) == -1);
		CHECK(clear == NULL);
		CHECK_STR(err.msg, v[i][1]);
	}
}

int main(void)
{
	struct om_err err;

	if (om_crypto_init(&err) < 0)
		return 2;
	RUN(key_derivation);
	RUN(decrypt_sample);
	RUN(refused);
	return T_EXIT();
}
