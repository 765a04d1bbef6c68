/* Host virtio-blk client (src/host: vhost_user_front, virtio_ring_host,
 * virtio_blk_host, virtio_pci_host): the split-ring logic in isolation,
 * then the whole driver against two fakes served from threads of this
 * test, before osnap's own back ends exist:
 * - a vhost-user-blk back end (Unix socket) that answers the handshake,
 *   checks the memory table and ring addresses it receives and serves
 *   requests from the shared memory;
 * - a modern virtio-pci block function over vfio-user (capabilities,
 *   common configuration, notify area, device configuration, MSI-X).
 * Both fakes read the rings and requests at raw byte offsets of the
 * specification, never through the driver's structures, so that layout
 * mistakes show.
 *
 * This file holds the case list (the order they run in); the cases live in
 * test_virtio_host_AREA.c by area, the fakes in test_virtio_host_fake_*.c
 * and test_virtio_host_fdev.c, all declared in test_virtio_host.h. */
#include "test_virtio_host.h"

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_layout),
		cmocka_unit_test(test_ring_add_publish_used),
		cmocka_unit_test(test_ring_free_list),
		cmocka_unit_test(test_ring_wrap),
		cmocka_unit_test(test_ring_event_idx),
		cmocka_unit_test(test_ring_used_event),
		cmocka_unit_test(test_ring_indirect),
		cmocka_unit_test(test_ring_raw_and_bad_used),
		cmocka_unit_test(test_ring_drain),
		cmocka_unit_test(test_vu_handshake_and_io),
		cmocka_unit_test(test_vu_async_multiqueue),
		cmocka_unit_test(test_vu_ring_wrap),
		cmocka_unit_test(test_vu_raw_requests),
		cmocka_unit_test(test_vu_request_limits),
		cmocka_unit_test(test_vu_inflight),
		cmocka_unit_test(test_vu_faults),
		cmocka_unit_test(test_vu_front_raw),
		cmocka_unit_test(test_pci_open_io),
		cmocka_unit_test(test_pci_async_threads),
		cmocka_unit_test(test_pci_faults),
		cmocka_unit_test(test_pci_timeout_abandon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
