/* Declarative params decoding: types, ranges, presence, unknown keys. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "rpc/rpc_decode.h"

struct p {
	const char *name;
	uint32_t size;
	bool has_size;
	bool flag;
	int32_t level;
	uint8_t uuid[16];
	const char *ctrl;
};

static const struct rpc_param table[] = {
	RPC_REQ_RANGE("name", RPC_T_STRING, struct p, name, 1, 8),
	RPC_OPT_HAS("size", RPC_T_U32, struct p, size, has_size),
	RPC_OPT("flag", RPC_T_BOOL, struct p, flag),
	RPC_OPT_RANGE("level", RPC_T_I32, struct p, level, 0, 5),
	RPC_OPT("uuid", RPC_T_UUID, struct p, uuid),
	{ .name = "ctrl_id", .type = RPC_T_STRING, .offset = offsetof(struct p, ctrl),
	  .has_offset = RPC_NO_HAS, .alias = "ctrl" },
};

/* The last decoded document: strings in the output are borrowed from it. */
static json_t *g_doc;

static int decode(const char *json, struct p *out, char *err)
{
	json_decref(g_doc);
	g_doc = json_loads(json, 0, NULL);
	assert_non_null(g_doc);
	memset(out, 0, sizeof(*out));
	return rpc_decode(g_doc, RPC_PARAMS(table), out, err, 256);
}

static void test_ok(void **state)
{
	(void)state;
	struct p p;
	char err[256];
	assert_int_equal(decode("{\"name\":\"ab\",\"size\":7,\"flag\":1,\"level\":5,"
				"\"uuid\":\"263826ad-19a3-4feb-bc25-4bc81ee7749e\",\"ctrl\":\"C1\"}", &p, err), 0);
	assert_string_equal(p.name, "ab");
	assert_int_equal(p.size, 7);
	assert_true(p.has_size);
	assert_true(p.flag);
	assert_int_equal(p.level, 5);
	assert_int_equal(p.uuid[0], 0x26);
	assert_int_equal(p.uuid[15], 0x9e);
	assert_string_equal(p.ctrl, "C1");
}

static void test_errors(void **state)
{
	(void)state;
	struct p p;
	char err[256];
	assert_int_equal(decode("{}", &p, err), -EINVAL);
	assert_string_equal(err, "missing required parameter 'name'");
	assert_int_equal(decode("{\"name\":3}", &p, err), -EINVAL);
	assert_string_equal(err, "invalid parameter 'name': must be a string");
	assert_int_equal(decode("{\"name\":\"123456789\"}", &p, err), -EINVAL);
	assert_non_null(strstr(err, "'name'"));
	assert_int_equal(decode("{\"name\":\"a\",\"size\":-1}", &p, err), -EINVAL);
	assert_non_null(strstr(err, "'size'"));
	assert_int_equal(decode("{\"name\":\"a\",\"size\":4294967296}", &p, err), -EINVAL);
	assert_int_equal(decode("{\"name\":\"a\",\"level\":6}", &p, err), -EINVAL);
	assert_string_equal(err, "invalid parameter 'level': 6 is out of range (0..5)");
	assert_int_equal(decode("{\"name\":\"a\",\"flag\":2}", &p, err), -EINVAL);
	assert_string_equal(err, "invalid parameter 'flag': must be a boolean");
	assert_int_equal(decode("{\"name\":\"a\",\"bogus\":1}", &p, err), -EINVAL);
	assert_string_equal(err, "unknown parameter 'bogus'");
	assert_int_equal(decode("{\"name\":\"a\",\"uuid\":\"xyz\"}", &p, err), -EINVAL);
	assert_non_null(strstr(err, "'uuid'"));
	assert_int_equal(decode("{\"name\":\"a\",\"size\":1.5}", &p, err), -EINVAL);
}

static void test_absent_keeps_default(void **state)
{
	(void)state;
	struct p p = { .level = 3 };
	char err[256];
	json_t *j = json_loads("{\"name\":\"x\"}", 0, NULL);
	assert_int_equal(rpc_decode(j, RPC_PARAMS(table), &p, err, sizeof(err)), 0);
	assert_int_equal(p.level, 3);
	assert_false(p.has_size);
	json_decref(j);
	/* no params at all: only the required one is missing */
	assert_int_equal(rpc_decode(NULL, RPC_PARAMS(table), &p, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "missing required parameter 'name'");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ok),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_absent_keeps_default),
	};
	int rc = cmocka_run_group_tests(tests, NULL, NULL);
	json_decref(g_doc);
	return rc;
}
