/* vblk_e2e: vhost-user memory table changes while the rings run, reconnection. */
#include "vblk_e2e.h"

/* ---- vhost-user memory table changes while the rings run -------------------------------------- */

void case_mem_table(void)
{
	struct vblk_host_opts o;
	struct vblk_host *d = NULL;
	struct host_mem *extra = NULL;
	if (!is_vhu()) {
		diag("vhost-user only");
		return;
	}
	base_opts(&o);
	o.protocol_features = VH_BIT(VHU_PF_MQ) | VH_BIT(VHU_PF_REPLY_ACK) | VH_BIT(VHU_PF_CONFIG) |
			      VH_BIT(VHU_PF_RESET_DEVICE) | VH_BIT(VHU_PF_CONFIGURE_MEM_SLOTS);
	d = open_all(&o);
	REQUIRE(d);
	struct vhu_front *f = vblk_host_vhu(d);
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++)
		CHECK(write_verify(d, q, 2048 + 64 * q, 8192, O.seed));

	/* ADD_MEM_REG of a new region: a request entirely in it is served */
	REQUIRE_OK(host_mem_create(1u << 20, &extra));
	const uint64_t xa = 0x200000000ull;
	struct vhu_region xr = { xa, extra->size, (uint64_t)(uintptr_t)extra->ptr, 0, extra->fd };
	REQUIRE_OK(vhu_add_mem_reg(f, &xr));
	uint8_t *xp = extra->ptr;
	struct vh_blk_req_hdr h = { VH_BLK_T_IN, 0, 2048 };
	memcpy(xp, &h, sizeof(h));
	xp[4096 + 8192] = 0xff;
	struct vblk_host_seg s[] = { { xa, 16, false }, { xa + 4096, 8192, true }, { xa + 4096 + 8192, 1, true } };
	uint32_t ul = 0;
	CHECK_EQ(raw_wait(d, 0, s, 3, false, NULL, 0, 5000, &ul), 1);
	EXPECT_STATUS(xp[4096 + 8192], VH_BLK_S_OK, "read into an added region");
	CHECK_EQ(ul, 8193);
	CHECK(pattern_check(xp + 4096, 2048, 16, SECTOR, O.seed) < 0);
	/* REM_MEM_REG: the queues go on in the remaining memory */
	REQUIRE_OK(vhu_rem_mem_reg(f, &xr));
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++)
		CHECK(read_check(d, q, 2048 + 64 * q, 8192, O.seed));
	/* a request in the removed region is handed back unused */
	xp[4096 + 8192] = 0xff;
	ul = 77;
	int got = raw_wait(d, 0, s, 3, false, NULL, 0, 1000, &ul);
	CHECK(got == 1 && ul == 0);
	CHECK_EQ(xp[4096 + 8192], 0xff);

	/* SET_MEM_TABLE again while the rings run (the same regions, as a front
	 * end re-sends its table when its map changes): the rings keep going
	 * from where they were */
	struct vhu_region r[8];
	for (uint32_t i = 0; i < d->nregions; i++)
		r[i] = (struct vhu_region){ d->regions[i].dev_addr, d->regions[i].m->size,
					    (uint64_t)(uintptr_t)d->regions[i].m->ptr, 0, d->regions[i].m->fd };
	REQUIRE_OK(vhu_set_mem_table(f, r, d->nregions));
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++) {
		if (!write_verify(d, q, 4096 + 64 * q, 8192, O.seed + 1))
			FAIL("queue %u does not serve after SET_MEM_TABLE", q);
	}
	/* twice, with I/O in flight */
	CHECK(write_verify(d, 0, 4096, 8 * 4096, O.seed + 1));
	struct areq a[8];
	uint8_t *b = xalloc(d, 8 * 4096);
	REQUIRE(b);
	unsigned outstanding = 8;
	for (int i = 0; i < 8; i++) {
		a[i] = (struct areq){ .r = { .type = VH_BLK_T_IN, .sector = 4096 + 8 * (uint64_t)i,
					     .buf = b + 4096 * i, .len = 4096, .cb = areq_done },
				      .outstanding = &outstanding };
		REQUIRE_OK(vblk_host_queue_req(d, 0, &a[i].r));
	}
	REQUIRE_OK(vblk_host_kick(d, 0));
	REQUIRE_OK(vhu_set_mem_table(f, r, d->nregions));
	int64_t end = now_ms() + EVENT_DEADLINE_MS;
	while (outstanding && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	CHECK_EQ(outstanding, 0);
	for (int i = 0; i < 8; i++) {
		CHECK_EQ(a[i].ncomp, 1);
		EXPECT_STATUS(a[i].r.status, VH_BLK_S_OK, "read in flight across SET_MEM_TABLE");
	}
	CHECK(pattern_check(b, 4096, 64, SECTOR, O.seed + 1) < 0);
	vblk_host_free(d, b);
	CHECK(write_verify(d, 0, 6000, 4096, O.seed));
	struct vblk_host_qstats st;
	vblk_host_qstats(d, 0, &st);
	CHECK_EQ(st.bad_used, 0);
out:
	vblk_host_close(d);
	host_mem_destroy(extra);
}

/* Connections one after the other, each doing I/O. */
void case_reconnect(void)
{
	struct vblk_host_opts o;
	for (int i = 0; i < 8; i++) {
		base_opts(&o);
		o.mem_regions = 1;
		o.mem_size = 4u << 20;
		struct vblk_host *d = open_all(&o);
		if (!d) {
			FAIL("connection %d refused", i);
			return;
		}
		CHECK(serve_ok(d, (uint16_t)(i % vblk_host_num_queues(d)), 8 * (uint64_t)i, O.seed + (uint32_t)i));
		struct areq a = { .r = { .type = VH_BLK_T_FLUSH } };
		if (i & 1) {
			/* leave a request in flight: close must still work (it is
			 * cancelled in the driver, a) */
			vblk_host_submit(d, 0, &a.r);
		}
		vblk_host_close(d);
	}
}
