/* test_virtio_host: the driver over virtio-pci (vfio-user): bring-up and
 * I/O, threads, faults, timeouts. */
#include "test_virtio_host.h"

void test_pci_open_io(void **state)
{
	(void)state;
	struct fp *f = fp_start(FP_OK);
	struct vblk_host_opts o = { .num_queues = 2, .mem_regions = 2, .mem_size = 4u << 20,
				    .features = VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_EVENT_IDX) };
	struct vblk_host *d = NULL;
	int rc = vblk_host_open_pci(f->path, &o, &d);
	assert_int_equal(rc, 0);
	assert_non_null(vblk_host_vfu(d));
	assert_null(vblk_host_vhu(d));
	/* negotiation: ACCESS_PLATFORM and INDIRECT not taken, EVENT_IDX taken */
	assert_int_equal(f->drv_features, VH_BIT(VH_F_VERSION_1) | VH_BIT(VH_BLK_F_SEG_MAX) |
					  VH_BIT(VH_BLK_F_SIZE_MAX) | VH_BIT(VH_BLK_F_FLUSH) |
					  VH_BIT(VH_BLK_F_MQ) | VH_BIT(VH_BLK_F_DISCARD) |
					  VH_BIT(VH_F_RING_EVENT_IDX));
	assert_int_equal(vblk_host_device_features(d), f->dev_features);
	assert_int_equal(f->status, VH_STATUS_ACKNOWLEDGE | VH_STATUS_DRIVER |
				    VH_STATUS_FEATURES_OK | VH_STATUS_DRIVER_OK);
	assert_int_equal(rd16(f->cfg + 0x04) & (VH_PCI_CMD_MEM | VH_PCI_CMD_MASTER),
			 VH_PCI_CMD_MEM | VH_PCI_CMD_MASTER);
	/* config (natural widths: one read per field) */
	const struct vh_blk_config *c = vblk_host_config(d);
	assert_int_equal(c->capacity, FD_SECTORS);
	assert_int_equal(c->size_max, 65536);
	assert_int_equal(c->max_discard_seg, 4);
	assert_int_equal(atomic_load(&f->config_reads), 24);
	/* queues: enabled, sizes, vectors 1 and 2, config vector 0 */
	assert_int_equal(f->q[0].enable, 1);
	assert_int_equal(f->q[1].enable, 1);
	assert_int_equal(f->q[2].enable, 0);
	assert_int_equal(f->q[0].size, 128);
	assert_int_equal(f->q[0].msix, 1);
	assert_int_equal(f->q[1].msix, 2);
	assert_int_equal(f->msix_config, 0);
	assert_true(rd16(f->cfg + 0x42) & VH_MSIX_CTRL_ENABLE);
	assert_false(rd16(f->cfg + 0x42) & VH_MSIX_CTRL_MASKALL);
	/* the MSI-X table was left alone (a VFIO user emulates it): its mask
	 * bits are still set, yet the interrupts below arrive */
	assert_int_equal(atomic_load(&f->table_writes), 0);
	assert_int_equal(rd32(f->bar1 + 16 + 12) & 1, 1);
	assert_int_equal(vblk_host_queue_size(d, 1), 128);
	assert_true(vblk_host_queue_has_irq(d, 0));

	uint8_t *wb = vblk_host_alloc(d, 65536), *rb = vblk_host_alloc(d, 65536);
	fill(wb, 65536, 3);
	uint8_t st;
	for (uint16_t q = 0; q < 2; q++) {
		assert_int_equal(vblk_host_rw(d, q, VH_BLK_T_OUT, 100 + q * 200, wb, 65536, &st), 0);
		assert_int_equal(st, VH_BLK_S_OK);
		memset(rb, 0, 65536);
		assert_int_equal(vblk_host_rw(d, q, VH_BLK_T_IN, 100 + q * 200, rb, 65536, &st), 0);
		assert_int_equal(st, VH_BLK_S_OK);
		assert_memory_equal(rb, wb, 65536);
	}
	char id[21];
	assert_int_equal(vblk_host_get_id(d, 1, id), 0);
	assert_string_equal(id, FD_SERIAL);
	assert_int_equal(vblk_host_device_status(d, &st), 0);
	assert_int_equal(st, f->status);
	assert_true(atomic_load(&f->posted_notifies) >= 5);
	assert_int_equal(atomic_load(&f->nonposted_notifies), 0);
	struct vblk_host_qstats qs;
	vblk_host_qstats(d, 0, &qs);
	/* a slow device: the driver sleeps on the MSI-X eventfd */
	atomic_store(&f->v.delay_ms, 30);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 100, rb, 512, &st), 0);
	atomic_store(&f->v.delay_ms, 0);
	vblk_host_qstats(d, 0, &qs);
	assert_true(qs.irqs >= 1);
	assert_true(atomic_load(&f->v.n_calls) >= 5);
	vblk_host_free(d, wb);
	vblk_host_free(d, rb);
	vblk_host_close(d);
	/* close reset the device and unmapped the memory */
	assert_int_equal(f->status, 0);
	assert_int_equal(f->v.nmap, 0);
	fp_stop(f);
}

void test_pci_async_threads(void **state)
{
	(void)state;
	struct fp *f = fp_start(FP_OK);
	struct vblk_host_opts o = { .num_queues = 4, .queue_size = 64,
				    .features = VBLK_HOST_FEATURES_BASE |
						VH_BIT(VH_F_RING_INDIRECT_DESC) };
	struct vblk_host *d = NULL;
	assert_int_equal(vblk_host_open_pci(f->path, &o, &d), 0);
	/* 5 vectors for 4 queues: config 0, queues 1..4 */
	assert_int_equal(f->q[3].msix, 4);
	run_async(d, 4);
	assert_int_equal(atomic_load(&f->v.n_req), 4 * 2 * AQ_TOTAL);
	assert_int_equal(atomic_load(&f->v.n_indirect), 4 * 2 * AQ_TOTAL);
	vblk_host_close(d);
	fp_stop(f);
}

void test_pci_faults(void **state)
{
	(void)state;
	struct {
		enum fp_fault fault;
		int rc;
	} cases[] = {
		{ FP_REFUSE_FEATURES, -ENOTSUP },
		{ FP_CAP_LOOP, -ELOOP },
		{ FP_NOTIFY_OUTSIDE, -EPROTO },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fp *f = fp_start(cases[i].fault);
		struct vblk_host *d = NULL;
		struct vblk_host_opts o = { .ctrl_timeout_ms = 500 };
		int rc = vblk_host_open_pci(f->path, &o, &d);
		if (rc != cases[i].rc)
			fail_msg("case %zu: got %d want %d", i, rc, cases[i].rc);
		assert_null(d);
		if (cases[i].fault == FP_REFUSE_FEATURES)
			assert_true(f->saw_failed);
		fp_stop(f);
	}

	/* vector mapping refused: polled completions, still working; an
	 * IRQ_REQUIRED open refuses instead */
	struct fp *f = fp_start(FP_NO_VECTORS);
	struct vblk_host *d = NULL;
	assert_int_equal(vblk_host_open_pci(f->path, NULL, &d), 0);
	assert_false(vblk_host_queue_has_irq(d, 0));
	assert_int_equal(f->q[0].msix, VH_PCI_MSI_NO_VECTOR);
	uint8_t st, *b = vblk_host_alloc(d, 512);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_OUT, 1, b, 512, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	vblk_host_close(d);
	fp_stop(f);
	f = fp_start(FP_NO_VECTORS);
	struct vblk_host_opts req = { .irq = VBLK_HOST_IRQ_REQUIRED };
	assert_int_equal(vblk_host_open_pci(f->path, &req, &d), -EOPNOTSUPP);
	fp_stop(f);

	/* a device queue maximum below the wanted size; forced features */
	f = fp_start(FP_SMALL_QUEUES);
	assert_int_equal(vblk_host_open_pci(f->path, NULL, &d), 0);
	assert_int_equal(vblk_host_queue_size(d, 0), 16);
	assert_int_equal(f->q[0].size, 16);
	assert_int_equal(vblk_host_max_segments(d), 14);
	vblk_host_close(d);
	fp_stop(f);
	f = fp_start(FP_OK);
	struct vblk_host_opts force = { .force_features = true,
					.features = VH_BIT(VH_F_VERSION_1) | VH_BIT(VH_BLK_F_ZONED) };
	assert_int_equal(vblk_host_open_pci(f->path, &force, &d), -ENOTSUP);
	assert_true(f->saw_failed);
	fp_stop(f);
	/* more queues than the device has */
	f = fp_start(FP_OK);
	struct vblk_host_opts many = { .num_queues = FP_NQ + 1 };
	assert_int_equal(vblk_host_open_pci(f->path, &many, &d), -EINVAL);
	fp_stop(f);
}

/* A synchronous request the device never completes times out and is
 * abandoned; the late completion is dropped and the queue keeps working. */
void test_pci_timeout_abandon(void **state)
{
	(void)state;
	struct fp *f = fp_start(FP_OK);
	struct vblk_host_opts o = { .timeout_ms = 200 };
	struct vblk_host *d = NULL;
	assert_int_equal(vblk_host_open_pci(f->path, &o, &d), 0);
	/* hide queue 0 from the fake so that the kick is ignored */
	atomic_store(&f->hold_q0, true);
	uint8_t st, plain[512];
	int64_t t0 = fake_now_ms();
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, plain, 512, &st), -ETIMEDOUT);
	assert_true(fake_now_ms() - t0 < 1500);
	assert_int_equal(vblk_host_inflight(d, 0), 1);
	atomic_store(&f->hold_q0, false);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, plain, 512, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	assert_int_equal(vblk_host_inflight(d, 0), 0);
	vblk_host_close(d);
	fp_stop(f);
}
