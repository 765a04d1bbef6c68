/* Host NVMe driver (src/host/nvme_host*): the PRP/SGL builders, the SQ/CQ
 * ring logic, the EventIdx rule, descriptor-list parsing and the arena in
 * isolation; then the whole driver against a tiny fake NVMe controller
 * served over vfio-user from a thread of this test. The fake reads the
 * Identify data it returns at raw byte offsets of the specification (not
 * through the driver's structures) so that layout mistakes show.
 *
 * This file holds the case list (the order they run in); the cases live in
 * test_nvme_host_AREA.c by area, the fake in test_nvme_host_fake*.c, all
 * declared in test_nvme_host.h. */
#include "test_nvme_host.h"

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prp_one_and_two_pages),
		cmocka_unit_test(test_prp_list),
		cmocka_unit_test(test_prp_list_chain),
		cmocka_unit_test(test_prp_pieces),
		cmocka_unit_test(test_sgl_single_and_three),
		cmocka_unit_test(test_sgl_segments_chain),
		cmocka_unit_test(test_cq_phase_wrap),
		cmocka_unit_test(test_sq_ring),
		cmocka_unit_test(test_need_event),
		cmocka_unit_test(test_ns_desc_find),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_e2e_open_identify),
		cmocka_unit_test(test_e2e_rw_prp),
		cmocka_unit_test(test_e2e_sgl),
		cmocka_unit_test(test_e2e_async_32),
		cmocka_unit_test(test_e2e_raw_and_timeout),
		cmocka_unit_test(test_e2e_admin),
		cmocka_unit_test(test_e2e_mmap_doorbells),
		cmocka_unit_test(test_e2e_shadow_doorbells),
		cmocka_unit_test(test_e2e_two_threads),
		cmocka_unit_test(test_e2e_irq_mask),
		cmocka_unit_test(test_e2e_deferred_doorbell),
		cmocka_unit_test(test_e2e_rom_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
