/* test_virtio_host: the driver over vhost-user: raw requests and
 * descriptors, request limits, inflight tracking, back-end faults, the
 * front end alone. */
#include "test_virtio_host.h"

static void raw_done(struct vblk_host_req *r)
{
	(*(int *)r->arg)++;
}

/* Raw requests and raw descriptors reach the device exactly as built. */
void test_vu_raw_requests(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .features = VBLK_HOST_FEATURES_BASE |
						 VH_BIT(VH_F_RING_INDIRECT_DESC) };
	struct vblk_host *d = fb_open(f, &o);
	uint8_t *m = vblk_host_alloc(d, 4096);
	uint64_t ma;
	assert_int_equal(vblk_host_dev_addr(d, m, 4096, &ma), 0);
	assert_ptr_equal(vblk_host_ptr(d, ma, 4096), m);
	assert_int_equal(vblk_host_dev_addr(d, &ma, 8, &ma), -EFAULT);
	/* a hand-built read: header, data, status; then the same in a table */
	wr32(m, VH_BLK_T_IN);
	wr64(m + 8, 0);
	struct vblk_host_seg segs[3] = { { ma, 16, false }, { ma + 512, 512, true },
					 { ma + 2048, 1, true } };
	int done = 0;
	struct vblk_host_req r = { .cb = raw_done, .arg = &done };
	m[2048] = 0xee;
	assert_int_equal(vblk_host_submit_raw(d, 0, segs, 3, false, &r), 0);
	while (!done)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	assert_int_equal(m[2048], VH_BLK_S_OK);
	assert_int_equal(r.used_len, 513);
	assert_int_equal(r.status, 0xff);
	m[2048] = 0xee;
	assert_int_equal(vblk_host_submit_raw(d, 0, segs, 3, true, &r), 0);
	while (done < 2)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	assert_int_equal(m[2048], VH_BLK_S_OK);
	assert_int_equal(atomic_load(&f->v.n_indirect), 1);
	/* status first (writable before readable): the fake refuses it */
	struct vblk_host_seg rev[2] = { { ma + 2048, 1, true }, { ma, 16, false } };
	assert_int_equal(vblk_host_submit_raw(d, 0, rev, 2, false, &r), 0);
	while (done < 3)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	assert_int_equal(atomic_load(&f->v.n_bad), 1);
	assert_int_equal(atomic_load(&f->v.last_n), 2);
	assert_int_equal(f->v.last_flags[0], VH_DESC_F_WRITE | VH_DESC_F_NEXT);
	/* a descriptor loop, and an address outside the memory */
	struct vring_host_raw loop[2] = { { ma, 16, VH_DESC_F_NEXT, 1, false },
					  { ma + 512, 512, VH_DESC_F_NEXT | VH_DESC_F_WRITE, 0, false } };
	assert_int_equal(vblk_host_submit_desc(d, 0, loop, 2, &r), 0);
	while (done < 4)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	struct vring_host_raw outside[1] = { { 0x10, 16, 0, 0, false } };
	assert_int_equal(vblk_host_submit_desc(d, 0, outside, 1, &r), 0);
	while (done < 5)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	assert_int_equal(atomic_load(&f->v.n_bad), 3);
	/* an avail entry naming no chain: the used entry is counted as bad */
	struct vring_host *vq = vblk_host_vring(d, 0);
	assert_non_null(vq);
	vring_host_add_raw_head(vq, 200);
	assert_int_equal(vblk_host_kick(d, 0), 0);
	int64_t end = fake_now_ms() + 2000;
	struct vblk_host_qstats qs;
	do {
		vblk_host_poll(d, 0, 0);
		vblk_host_qstats(d, 0, &qs);
	} while (qs.bad_used == 0 && fake_now_ms() < end);
	assert_int_equal(qs.bad_used, 1);
	assert_int_equal(vblk_host_inflight(d, 0), 0);
	/* the queue still works */
	uint8_t st;
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, m, 512, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	vblk_host_close(d);
	fb_check(f);
	fb_stop(f);
}

/* Too many data descriptors, data outside the arena, a full ring. */
void test_vu_request_limits(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .queue_size = 8, .seg_bytes = 512 };
	struct vblk_host *d = fb_open(f, &o);
	assert_int_equal(vblk_host_max_segments(d), 6);		/* queue_size - 2 */
	uint8_t *b = vblk_host_alloc(d, 8192);
	uint8_t st;
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, b, 3072, &st), 0);
	assert_int_equal(atomic_load(&f->v.max_descs), 8);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, b, 3584, &st), -E2BIG);
	uint8_t local[512];
	struct vblk_host_req r = { .type = VH_BLK_T_IN, .buf = local, .len = 512 };
	assert_int_equal(vblk_host_queue_req(d, 0, &r), -EFAULT);
	/* fill the ring with 3-descriptor requests without kicking */
	struct vblk_host_req rq[3];
	int n = 0;
	for (; n < 3; n++) {
		rq[n] = (struct vblk_host_req){ .type = VH_BLK_T_IN, .buf = b, .len = 512 };
		if (vblk_host_queue_req(d, 0, &rq[n]))
			break;
	}
	assert_int_equal(n, 2);
	assert_int_equal(vblk_host_kick(d, 0), 0);
	int got = 0;
	while (got < 2)
		got += vblk_host_wait(d, 0, 2000);
	vblk_host_close(d);
	fb_check(f);
	fb_stop(f);
}

void test_vu_inflight(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .inflight = true, .num_queues = 2, .queue_size = 32 };
	struct vblk_host *d = fb_open(f, &o);
	assert_true(f->acked_pf & VH_BIT(VHU_PF_INFLIGHT_SHMFD));
	assert_true(f->got_set_inflight);
	void *p;
	size_t sz;
	assert_int_equal(vblk_host_inflight_region(d, &p, &sz), 0);
	assert_int_equal(sz, 2 * (16 + 16 * 32));
	uint8_t st;
	assert_int_equal(vblk_host_device_status(d, &st), -EOPNOTSUPP);	/* no STATUS */
	vblk_host_close(d);
	fb_check(f);
	fb_stop(f);
}

/* Each fault makes the open fail quickly with the right error. */
void test_vu_faults(void **state)
{
	(void)state;
	struct {
		uint32_t req;
		enum fb_fault fault;
		int rc;
	} cases[] = {
		{ VHU_SET_OWNER, FB_CLOSE, -ECONNRESET },
		{ VHU_GET_FEATURES, FB_CLOSE, -ECONNRESET },
		{ VHU_GET_CONFIG, FB_SILENT, -ETIMEDOUT },
		{ VHU_SET_MEM_TABLE, FB_SILENT, -ETIMEDOUT },	/* REPLY_ACK never comes */
		{ VHU_GET_PROTOCOL_FEATURES, FB_WRONG_REQ, -EPROTO },
		{ VHU_GET_QUEUE_NUM, FB_NO_REPLY_FLAG, -EPROTO },
		{ VHU_GET_FEATURES, FB_HUGE, -EPROTO },
		{ VHU_SET_MEM_TABLE, FB_NACK, -EIO },
		{ VHU_SET_VRING_ADDR, FB_NACK, -EIO },
		{ VHU_GET_CONFIG, FB_EMPTY, -EIO },
		{ VHU_SET_FEATURES, FB_EMPTY, -EPROTO },	/* an ack without its u64 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fb *f = fb_start();
		f->fault_req = cases[i].req;
		f->fault = cases[i].fault;
		fb_run(f);
		struct vblk_host_opts o = { .ctrl_timeout_ms = 300 };
		struct vblk_host *d = NULL;
		int64_t t0 = fake_now_ms();
		int rc = vblk_host_open_vhost_user(f->path, &o, &d);
		if (rc != cases[i].rc)
			fail_msg("case %zu: got %d want %d", i, rc, cases[i].rc);
		assert_null(d);
		assert_true(fake_now_ms() - t0 < 2000);
		fb_stop(f);
	}
	/* no protocol features, no CONFIG, no VERSION_1 */
	for (int k = 0; k < 3; k++) {
		struct fb *f = fb_start();
		if (k == 0)
			f->features &= ~VH_BIT(VHU_F_PROTOCOL_FEATURES);
		else if (k == 1)
			f->pf &= ~VH_BIT(VHU_PF_CONFIG);
		else
			f->features &= ~VH_BIT(VH_F_VERSION_1);
		fb_run(f);
		struct vblk_host *d = NULL;
		assert_int_equal(vblk_host_open_vhost_user(f->path, NULL, &d), -EOPNOTSUPP);
		fb_stop(f);
	}
	/* more queues than the back end has */
	struct fb *f = fb_start();
	f->queue_num = 2;
	fb_run(f);
	struct vblk_host_opts o = { .num_queues = 3 };
	struct vblk_host *d = NULL;
	assert_int_equal(vblk_host_open_vhost_user(f->path, &o, &d), -EINVAL);
	fb_stop(f);
	/* nobody listening */
	assert_int_equal(vblk_host_open_vhost_user("/tmp/no-such-vhost-socket", NULL, &d),
			 -ENOENT);
}

/* The front end alone: raw messages, broken state, REPLY_ACK off. */
void test_vu_front_raw(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	f->fault = FB_BAD_INDEX;
	fb_run(f);
	struct vhu_front *fe;
	assert_int_equal(vhu_connect(f->path, &fe), 0);
	vhu_set_timeout(fe, 300);
	uint64_t feats;
	assert_int_equal(vhu_get_features(fe, &feats), 0);
	assert_int_equal(feats, f->features);
	assert_int_equal(vhu_set_protocol_features(fe, VH_BIT(VHU_PF_REPLY_ACK)), 0);
	assert_int_equal(vhu_protocol_features(fe), VH_BIT(VHU_PF_REPLY_ACK));
	/* an unknown request with need_reply: the back end says 1 */
	struct vhu_hdr h = { 99, VHU_VERSION | VHU_FLAG_NEED_REPLY, 0 };
	assert_int_equal(vhu_send_raw(fe, &h, sizeof(h), NULL, 0), 0);
	uint8_t buf[64];
	size_t len;
	assert_int_equal(vhu_recv_raw(fe, buf, sizeof(buf), &len, NULL, NULL, 0), 0);
	assert_int_equal(len, 20);
	assert_int_equal(rd32(buf), 99);
	assert_int_equal(rd32(buf + 4), VHU_VERSION | VHU_FLAG_REPLY);
	assert_int_equal(rd64(buf + 12), 1);
	/* nothing more comes */
	assert_int_equal(vhu_recv_raw(fe, buf, sizeof(buf), &len, NULL, NULL, 50), -ETIMEDOUT);
	assert_false(vhu_is_broken(fe));
	/* generic request with REPLY_ACK: status 1 is -EIO */
	assert_int_equal(vhu_set_vring_enable(fe, 200, true), 0);	/* index ignored: ok */
	assert_int_equal(vhu_last_ack(fe), 0);
	uint64_t st = 0;
	uint32_t n = 0;
	assert_int_equal(vhu_request(fe, 98, true, NULL, 0, NULL, 0, false, &st, 8, &n, NULL, NULL),
			 0);
	assert_int_equal(n, 8);
	assert_int_equal(st, 1);
	/* without REPLY_ACK a set returns once sent */
	vhu_set_reply_ack(fe, false);
	assert_int_equal(vhu_set_owner(fe), 0);
	vhu_set_reply_ack(fe, true);
	/* a GET_VRING_BASE answer for another index is -EPROTO, usable after */
	uint32_t base;
	assert_int_equal(vhu_get_vring_base(fe, 0, &base), -EPROTO);
	assert_false(vhu_is_broken(fe));
	assert_int_equal(vhu_get_queue_num(fe, &feats), 0);
	assert_int_equal(feats, FB_NQ);
	/* config: size above the limit refused locally */
	assert_int_equal(vhu_get_config(fe, 0, 0, buf, 0, NULL), -EINVAL);
	vhu_close(fe);
	fb_check(f);
	fb_stop(f);

	/* a reply that is not ours breaks the session */
	f = fb_start();
	f->fault_req = VHU_GET_FEATURES;
	f->fault = FB_WRONG_REQ;
	fb_run(f);
	assert_int_equal(vhu_connect(f->path, &fe), 0);
	assert_int_equal(vhu_get_features(fe, &feats), -EPROTO);
	assert_true(vhu_is_broken(fe));
	assert_int_equal(vhu_get_features(fe, &feats), -ENOTCONN);
	vhu_close(fe);
	fb_stop(f);

	/* socketpair adoption; a peer that closes */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vhu_front_from_fd(sv[0], &fe), 0);
	close(sv[1]);
	assert_int_equal(vhu_get_features(fe, &feats), -ECONNRESET);
	assert_int_equal(vhu_get_features(fe, &feats), -ENOTCONN);
	vhu_close(fe);
}
