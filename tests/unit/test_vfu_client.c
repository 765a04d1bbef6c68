/* vfio-user client (src/host) against a tiny in-test fake server running on
 * a thread at the other end of a socketpair. The fake misbehaves on demand
 * (error replies, wrong ids, silence, closing mid-request) so that every
 * check of the client is exercised; VPD parsing is tested on a hand-built
 * image.
 *
 * This file holds the case list (the order they run in); the cases live in
 * test_vfu_client_AREA.c by area, the fake in test_vfu_client_fake.c, all
 * declared in test_vfu_client.h. */
#include "test_vfu_client.h"

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version_ok, setup, teardown),
		cmocka_unit_test(test_version_defaults),
		cmocka_unit_test(test_version_bad),
		cmocka_unit_test(test_connect_path),
		cmocka_unit_test_setup_teardown(test_device_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_info_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_info_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_info_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_rw, setup, teardown),
		cmocka_unit_test(test_region_rw_chunked),
		cmocka_unit_test_setup_teardown(test_write_multi, setup, teardown),
		cmocka_unit_test(test_set_irqs),
		cmocka_unit_test_setup_teardown(test_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_cmd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_half_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw, setup_raw, teardown),
		cmocka_unit_test_setup_teardown(test_cfg_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cfg_vpd, setup, teardown),
		cmocka_unit_test(test_vpd_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
