/* SNAP_* global parameters. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "core/params.h"

static void test_defaults_and_set(void **state)
{
	(void)state;
	char *env[] = { "SNAP_MEMPOOL_SIZE_MB=2048", "SNAP_SOMETHING_NEW=1", "PATH=/bin", NULL };
	char err[256], line[256];
	assert_int_equal(params_load(env, err, sizeof(err)), 0);
	assert_int_equal(param_int(P_SNAP_MEMPOOL_SIZE_MB), 2048);
	assert_true(param_is_set(P_SNAP_MEMPOOL_SIZE_MB));
	assert_int_equal(param_int(P_SNAP_POLL_CYCLE_SIZE), 16);
	assert_false(param_is_set(P_SNAP_POLL_CYCLE_SIZE));
	param_format(P_SNAP_MEMPOOL_SIZE_MB, line, sizeof(line));
	assert_string_equal(line, "SNAP_MEMPOOL_SIZE_MB : set : 2048");
	param_format(P_SNAP_POLL_CYCLE_SIZE, line, sizeof(line));
	assert_string_equal(line, "SNAP_POLL_CYCLE_SIZE : not set : 16");
	param_format(P_VIRTIO_EMU_PROVIDER, line, sizeof(line));
	assert_string_equal(line, "VIRTIO_EMU_PROVIDER : not set : dpu");
}

static void test_malformed(void **state)
{
	(void)state;
	char err[256];
	char *e1[] = { "SNAP_MEMPOOL_SIZE_MB=lots", NULL };
	assert_int_equal(params_load(e1, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "SNAP_MEMPOOL_SIZE_MB"));
	char *e2[] = { "SNAP_MEMPOOL_SIZE_MB=10", NULL };	/* minimum is 64 */
	assert_int_equal(params_load(e2, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "out of range"));
	char *e3[] = { "SNAP_RPC_LOG_ENABLE=2", NULL };
	assert_int_equal(params_load(e3, err, sizeof(err)), -EINVAL);
	char *e4[] = { "VIRTIO_EMU_PROVIDER=gpu", NULL };
	assert_int_equal(params_load(e4, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "VIRTIO_EMU_PROVIDER"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_and_set),
		cmocka_unit_test(test_malformed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
