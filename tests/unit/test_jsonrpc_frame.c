/* Framing of a JSON-RPC byte stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "rpc/jsonrpc_frame.h"

struct frames {
	int n;
	char got[8][256];
};

static void collect(void *arg, const char *frame, size_t len)
{
	struct frames *f = arg;
	assert_true(f->n < 8);
	assert_true(len < 256);
	memcpy(f->got[f->n], frame, len);
	f->got[f->n][len] = '\0';
	f->n++;
}

static void test_byte_at_a_time(void **state)
{
	(void)state;
	const char *req = "{\"a\":\"}{[\\\"\",\"b\":[1,{\"c\":2}]}";
	struct jsonrpc_framer fr;
	struct frames f = { 0 };
	jsonrpc_framer_init(&fr, 1024);
	for (size_t i = 0; i < strlen(req); i++) {
		assert_int_equal(jsonrpc_framer_feed(&fr, req + i, 1, collect, &f), 0);
		assert_int_equal(f.n, i + 1 == strlen(req) ? 1 : 0);
	}
	assert_string_equal(f.got[0], req);
	jsonrpc_framer_fini(&fr);
}

static void test_two_in_one_write(void **state)
{
	(void)state;
	const char *buf = " {\"x\":1}\n[{\"y\":2}] {\"z\"";
	struct jsonrpc_framer fr;
	struct frames f = { 0 };
	jsonrpc_framer_init(&fr, 1024);
	assert_int_equal(jsonrpc_framer_feed(&fr, buf, strlen(buf), collect, &f), 0);
	assert_int_equal(f.n, 2);
	assert_string_equal(f.got[0], "{\"x\":1}");
	assert_string_equal(f.got[1], "[{\"y\":2}]");
	assert_int_equal(jsonrpc_framer_feed(&fr, ":3}", 3, collect, &f), 0);
	assert_int_equal(f.n, 3);
	assert_string_equal(f.got[2], "{\"z\":3}");
	jsonrpc_framer_fini(&fr);
}

static void test_too_large(void **state)
{
	(void)state;
	struct jsonrpc_framer fr;
	struct frames f = { 0 };
	char big[200];
	memset(big, ' ', sizeof(big));
	big[0] = '{';
	big[1] = '"';
	jsonrpc_framer_init(&fr, 100);
	assert_int_equal(jsonrpc_framer_feed(&fr, big, sizeof(big), collect, &f), -E2BIG);
	assert_int_equal(f.n, 0);
	jsonrpc_framer_fini(&fr);
}

static void test_exactly_max_fits(void **state)
{
	(void)state;
	struct jsonrpc_framer fr;
	struct frames f = { 0 };
	char msg[100];
	memset(msg, ' ', sizeof(msg));
	msg[0] = '{';
	msg[99] = '}';
	jsonrpc_framer_init(&fr, 100);
	assert_int_equal(jsonrpc_framer_feed(&fr, msg, 50, collect, &f), 0);
	assert_int_equal(jsonrpc_framer_feed(&fr, msg + 50, 50, collect, &f), 0);
	assert_int_equal(f.n, 1);
	jsonrpc_framer_fini(&fr);
}

static void test_garbage_start(void **state)
{
	(void)state;
	struct jsonrpc_framer fr;
	struct frames f = { 0 };
	jsonrpc_framer_init(&fr, 100);
	assert_int_equal(jsonrpc_framer_feed(&fr, "  hello", 7, collect, &f), -EPROTO);
	jsonrpc_framer_fini(&fr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_byte_at_a_time),
		cmocka_unit_test(test_two_in_one_write),
		cmocka_unit_test(test_too_large),
		cmocka_unit_test(test_exactly_max_fits),
		cmocka_unit_test(test_garbage_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
