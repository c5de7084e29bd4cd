/* test_jsonout.c - jansson's output with shortest exact reals. */
#include <float.h>
#include <math.h>

#include <jansson.h>

#include "../../format/jsonout.h"
#include "t.h"

/* The text of json loaded from in, written again. */
static char out[4096];

static const char *again(const char *in)
{
	json_error_t je;
	json_t *j = json_loads(in, JSON_DECODE_ANY, &je);
	char *s = j ? om_json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;

	snprintf(out, sizeof out, "%s", s ? s : "(null)");
	free(s);
	json_decref(j);
	return out;
}

static void test_reals(void)
{
	/* jansson alone writes 1.1000000000000001 */
	CHECK_STR(again("1.1"), "1.1");
	CHECK_STR(again("[1.1,-0.1,0.30000000000000004,100.0,1e300,1.5e-300,2.5E+10]"),
		  "[1.1,-0.1,0.30000000000000004,100.0,1e300,1.5e-300,25000000000.0]");
	CHECK_STR(again("{\"a\":{\"b\":[3.14159,12]}}"), "{\"a\":{\"b\":[3.14159,12]}}");
	/* Numbers inside strings and keys are strings: left alone, escapes
	 * and quotes included. */
	CHECK_STR(again("{\"1.1000000000000001\":\"1.1000000000000001\",\"q\\\"\":1.25}"),
		  "{\"1.1000000000000001\":\"1.1000000000000001\",\"q\\\"\":1.25}");
	CHECK_STR(again("[\"\\\\\",0.1,\"\\\"\",0.2]"), "[\"\\\\\",0.1,\"\\\"\",0.2]");
	/* Every real reads back as the same double. */
	for (int i = 0; i < 20000; i++) {
		double v = ldexp((double)rand() / RAND_MAX, (i % 200) - 100) * (i & 1 ? -1 : 1);
		json_t *j = json_real(v), *k;
		char *s = om_json_dumps(j, JSON_ENCODE_ANY);
		json_error_t je;
		k = s ? json_loads(s, JSON_DECODE_ANY, &je) : NULL;
		CHECK(k && json_is_real(k) && json_real_value(k) == v);
		json_decref(j);
		json_decref(k);
		free(s);
	}
	CHECK_STR(again("[1.7976931348623157e308,5e-324,4.9406564584124654e-324]"),
		  "[1.7976931348623157e308,5e-324,5e-324]");
}

int main(void)
{
	RUN(test_reals);
	return T_EXIT();
}
