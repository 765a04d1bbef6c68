/* JSON-RPC request handling over an in-memory session. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/jsonrpc_session.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

static char g_out[65536];
static size_t g_out_len;
static struct rpc_request *g_parked;

static void sink(struct rpc_session *s, const char *buf, size_t len)
{
	(void)s;
	assert_true(g_out_len + len < sizeof(g_out));
	memcpy(g_out + g_out_len, buf, len);
	g_out_len += len;
	g_out[g_out_len] = '\0';
}

static const struct rpc_session_ops ops = { .write = sink };

static void m_echo(struct rpc_request *req, json_t *params)
{
	rpc_send_result(req, json_incref(params));
}

static void m_park(struct rpc_request *req, json_t *params)
{
	(void)params;
	g_parked = req;
}

static void m_fail(struct rpc_request *req, json_t *params)
{
	(void)params;
	rpc_send_errno(req, -ENODEV, "no such thing");
}

static const struct rpc_method methods[] = {
	{ "echo", m_echo, RPC_RUNTIME },
	{ "park", m_park, RPC_RUNTIME },
	{ "fail", m_fail, RPC_RUNTIME },
	{ "early", m_echo, RPC_STARTUP },
};

static int setup(void **state)
{
	(void)state;
	rpc_registry_reset();
	rpc_register_table(RPC_PARAMS(methods));
	rpc_set_state(RPC_RUNTIME);
	g_out_len = 0;
	g_out[0] = '\0';
	g_parked = NULL;
	return 0;
}

static json_t *feed(const char *txt)
{
	struct rpc_session s;
	rpc_session_init(&s, &ops, NULL);
	g_out_len = 0;
	g_out[0] = '\0';
	rpc_session_feed(&s, txt, strlen(txt));
	rpc_session_close(&s);
	return g_out_len ? json_loads(g_out, JSON_DISABLE_EOF_CHECK, NULL) : NULL;
}

static int err_code(json_t *r)
{
	return (int)json_integer_value(json_object_get(json_object_get(r, "error"), "code"));
}

static void test_result(void **state)
{
	(void)state;
	json_t *r = feed("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":{\"a\":1}}");
	assert_non_null(r);
	assert_int_equal(json_integer_value(json_object_get(r, "id")), 7);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "result"), "a")), 1);
	json_decref(r);
}

static void test_errors(void **state)
{
	(void)state;
	json_t *r = feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"nope\"}");
	assert_int_equal(err_code(r), RPC_METHOD_NOT_FOUND);
	json_decref(r);
	r = feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":[1]}");
	assert_int_equal(err_code(r), RPC_INVALID_PARAMS);
	json_decref(r);
	r = feed("{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"echo\"}");
	assert_int_equal(err_code(r), RPC_INVALID_REQUEST);
	json_decref(r);
	r = feed("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",]");
	assert_int_equal(err_code(r), RPC_PARSE_ERROR);
	assert_true(json_is_null(json_object_get(r, "id")));
	json_decref(r);
	r = feed("{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"echo\"}");
	assert_int_equal(err_code(r), RPC_INVALID_REQUEST);
	json_decref(r);
	r = feed("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"fail\"}");
	assert_int_equal(err_code(r), -ENODEV);
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"), "message")),
			    "no such thing");
	json_decref(r);
	r = feed("{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"early\"}");
	assert_int_equal(err_code(r), RPC_INVALID_STATE);
	json_decref(r);
}

static void test_notification_and_batch(void **state)
{
	(void)state;
	assert_null(feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}"));
	json_t *r = feed("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"n\":1}},"
			 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},"
			 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"nope\"}, 5]");
	assert_true(json_is_array(r));
	assert_int_equal(json_array_size(r), 3);
	assert_int_equal(json_integer_value(json_object_get(json_array_get(r, 0), "id")), 1);
	assert_int_equal(err_code(json_array_get(r, 1)), RPC_METHOD_NOT_FOUND);
	assert_int_equal(err_code(json_array_get(r, 2)), RPC_INVALID_REQUEST);
	json_decref(r);
	assert_null(feed("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\"}]"));
	r = feed("[]");
	assert_int_equal(err_code(r), RPC_INVALID_REQUEST);
	json_decref(r);
}

static void test_async_answer_after_close(void **state)
{
	(void)state;
	struct rpc_session s;
	rpc_session_init(&s, &ops, NULL);
	g_out_len = 0;
	const char *req = "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"park\"}";
	assert_int_equal(rpc_session_feed(&s, req, strlen(req)), 0);
	assert_non_null(g_parked);
	assert_int_equal(g_out_len, 0);
	rpc_session_close(&s);	/* the client went away */
	rpc_send_bool(g_parked, true);	/* must not write nor crash */
	assert_int_equal(g_out_len, 0);
}

static void test_async_batch(void **state)
{
	(void)state;
	struct rpc_session s;
	rpc_session_init(&s, &ops, NULL);
	g_out_len = 0;
	const char *req = "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"park\"},"
			  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"echo\"}]";
	assert_int_equal(rpc_session_feed(&s, req, strlen(req)), 0);
	assert_int_equal(g_out_len, 0);	/* waits for the parked member */
	rpc_send_bool(g_parked, true);
	json_t *r = json_loads(g_out, 0, NULL);
	assert_int_equal(json_array_size(r), 2);
	json_decref(r);
	rpc_session_close(&s);
}

static void test_oversize_closes(void **state)
{
	(void)state;
	struct rpc_session s;
	rpc_session_init(&s, &ops, NULL);
	g_out_len = 0;
	size_t n = JSONRPC_MAX_REQUEST + 10;
	char *big = malloc(n);
	memset(big, ' ', n);
	memcpy(big, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\",\"params\":{\"a\":\"", 53);
	assert_int_equal(rpc_session_feed(&s, big, n), -E2BIG);
	json_t *r = json_loads(g_out, 0, NULL);
	assert_int_equal(err_code(r), RPC_INVALID_REQUEST);
	json_decref(r);
	free(big);
	rpc_session_close(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_result, setup),
		cmocka_unit_test_setup(test_errors, setup),
		cmocka_unit_test_setup(test_notification_and_batch, setup),
		cmocka_unit_test_setup(test_async_answer_after_close, setup),
		cmocka_unit_test_setup(test_async_batch, setup),
		cmocka_unit_test_setup(test_oversize_closes, setup),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
