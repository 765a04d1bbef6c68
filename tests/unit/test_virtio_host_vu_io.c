/* test_virtio_host: the driver over vhost-user: handshake and I/O, several
 * queues at once, a ring restarted near the 16-bit wrap. */
#include "test_virtio_host.h"

/* ---- end to end over vhost-user ------------------------------------------------------------ */

void test_vu_handshake_and_io(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .mem_regions = 2, .mem_size = 4u << 20 };
	struct vblk_host *d = fb_open(f, &o);

	/* what the back end received */
	fb_check(f);
	assert_true(f->got_owner);
	assert_int_equal(f->acked_pf, VH_BIT(VHU_PF_MQ) | VH_BIT(VHU_PF_REPLY_ACK) |
				      VH_BIT(VHU_PF_CONFIG) | VH_BIT(VHU_PF_RESET_DEVICE));
	assert_true(f->acked_features & VH_BIT(VHU_F_PROTOCOL_FEATURES));
	assert_true(f->acked_features & VH_BIT(VH_F_VERSION_1));
	assert_false(f->acked_features & VH_BIT(VH_F_RING_EVENT_IDX));	/* not asked for */
	assert_false(f->acked_features & VH_BIT(VH_BLK_F_SIZE_MAX));	/* not offered */
	assert_int_equal(vblk_host_features(d), f->acked_features & ~VH_BIT(VHU_F_PROTOCOL_FEATURES));
	assert_int_equal(f->nreg, 2);
	assert_int_equal(f->reg[0].gpa, 0x40000000ull);
	assert_int_equal(f->reg[1].gpa, 0x40000000ull + (4u << 20) + (2u << 20));
	assert_int_equal(f->reg[0].size, 4u << 20);
	assert_true(f->reg[0].uva != f->reg[0].gpa);
	assert_true(atomic_load(&f->need_reply_seen) > 0);
	/* the order of the handshake */
	uint32_t expect[] = { VHU_GET_FEATURES, VHU_GET_PROTOCOL_FEATURES, VHU_SET_PROTOCOL_FEATURES,
			      VHU_GET_QUEUE_NUM, VHU_GET_CONFIG, VHU_SET_OWNER, VHU_SET_FEATURES,
			      VHU_SET_MEM_TABLE, VHU_SET_VRING_NUM, VHU_SET_VRING_BASE,
			      VHU_SET_VRING_ADDR, VHU_SET_VRING_KICK, VHU_SET_VRING_CALL,
			      VHU_SET_VRING_ENABLE };
	assert_int_equal(atomic_load(&f->nmsg), 14);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		assert_int_equal(f->log[i], expect[i]);
	assert_true(f->enabled[0]);
	assert_false(f->call_nofd[0]);

	/* config */
	const struct vh_blk_config *c = vblk_host_config(d);
	assert_int_equal(c->capacity, FD_SECTORS);
	assert_int_equal(c->seg_max, 126);
	assert_int_equal(c->num_queues, FB_NQ);
	assert_int_equal(vblk_host_max_segments(d), 126);
	struct vh_blk_config c2;
	assert_int_equal(vblk_host_read_config(d, &c2), 0);
	assert_int_equal(c2.blk_size, 512);

	/* write, read back, through the arena and through ordinary memory */
	uint8_t *wb = vblk_host_alloc(d, 8192), *rb = vblk_host_alloc(d, 8192);
	assert_non_null(wb);
	fill(wb, 8192, 7);
	uint8_t st = 0xee;
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_OUT, 16, wb, 8192, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	assert_memory_equal(f->v.disk + 16 * 512, wb, 8192);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 16, rb, 8192, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	assert_memory_equal(rb, wb, 8192);
	uint8_t plain[1024];
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 17, plain, 1024, &st), 0);
	assert_memory_equal(plain, wb + 512, 1024);
	/* flush, serial, out of range, unsupported type, write zeroes */
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_FLUSH, 0, NULL, 0, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	char id[21];
	assert_int_equal(vblk_host_get_id(d, 0, id), 0);
	assert_string_equal(id, FD_SERIAL);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, FD_SECTORS, rb, 512, &st), 0);
	assert_int_equal(st, VH_BLK_S_IOERR);
	assert_int_equal(vblk_host_rw(d, 0, 77, 0, NULL, 0, &st), 0);
	assert_int_equal(st, VH_BLK_S_UNSUPP);
	struct vh_blk_dwz_seg seg = { 16, 4, 0 };
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg), &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	assert_int_equal(f->v.disk[16 * 512], 0);
	/* arguments */
	assert_int_equal(vblk_host_rw(d, 1, VH_BLK_T_IN, 0, rb, 512, &st), -EINVAL);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, NULL, 512, &st), -EINVAL);

	/* a slow device: the driver sleeps on the call eventfd */
	atomic_store(&f->v.delay_ms, 30);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 16, rb, 512, &st), 0);
	atomic_store(&f->v.delay_ms, 0);
	struct vblk_host_qstats qs;
	vblk_host_qstats(d, 0, &qs);
	assert_int_equal(qs.completed, qs.submitted);
	assert_true(qs.irqs > 0);
	vblk_host_free(d, wb);
	vblk_host_free(d, rb);
	vblk_host_close(d);
	assert_true(f->got_reset);
	fb_check(f);
	fb_stop(f);
}

void test_vu_async_multiqueue(void **state)
{
	(void)state;
	for (int variant = 0; variant < 2; variant++) {
		struct fb *f = fb_start();
		fb_run(f);
		/* 3 descriptors per request without indirect tables: 32 in flight
		 * need 96 */
		struct vblk_host_opts o = { .num_queues = 4, .queue_size = 128, .mem_regions = 3 };
		if (variant)	/* ring features, polled completions */
			o = (struct vblk_host_opts){
				.num_queues = 4, .queue_size = 64,
				.features = VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_EVENT_IDX) |
					    VH_BIT(VH_F_RING_INDIRECT_DESC),
				.irq = VBLK_HOST_IRQ_POLL, .seg_bytes = 1024 };
		struct vblk_host *d = fb_open(f, &o);
		assert_int_equal(vblk_host_num_queues(d), 4);
		run_async(d, 4);
		fb_check(f);
		assert_int_equal(atomic_load(&f->v.n_req), 4 * 2 * AQ_TOTAL);
		assert_int_equal(atomic_load(&f->v.n_bad), 0);
		if (variant) {
			assert_true(f->acked_features & VH_BIT(VH_F_RING_EVENT_IDX));
			assert_true(f->call_nofd[0] && f->call_nofd[3]);
			assert_false(vblk_host_queue_has_irq(d, 0));
			/* 4 KiB in 1 KiB descriptors, all inside indirect tables */
			assert_int_equal(atomic_load(&f->v.n_indirect), 4 * 2 * AQ_TOTAL);
			assert_int_equal(atomic_load(&f->v.max_descs), 6);
			assert_int_equal(atomic_load(&f->v.n_calls), 0);
		} else {
			assert_int_equal(atomic_load(&f->v.n_indirect), 0);
			assert_true(vblk_host_queue_has_irq(d, 3));
		}
		vblk_host_close(d);
		fb_stop(f);
	}
}

/* A ring restarted near the 16-bit wrap (VRING_BASE), with EVENT_IDX. */
void test_vu_ring_wrap(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .queue_size = 8, .ring_start = 65530,
				    .features = VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_EVENT_IDX) };
	struct vblk_host *d = fb_open(f, &o);
	assert_int_equal(f->base[0], 65530);
	uint8_t *b = vblk_host_alloc(d, 512);
	for (int i = 0; i < 20; i++) {
		uint8_t st;
		fill(b, 512, (uint32_t)i);
		assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_OUT, (uint64_t)i, b, 512, &st), 0);
		assert_int_equal(st, VH_BLK_S_OK);
	}
	assert_int_equal(f->r[0].last_avail, (uint16_t)(65530 + 20));
	uint32_t base = 0;
	assert_int_equal(vblk_host_stop_queue(d, 0, &base), 0);
	assert_int_equal(base, (uint16_t)(65530 + 20));
	uint8_t st;
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, b, 512, &st), -ESHUTDOWN);
	vblk_host_close(d);
	fb_check(f);
	fb_stop(f);
}
