/* hostile_client: vhost-user ring sizes (SET_VRING_NUM against the
 * controller's queue_size) and feature changes while a ring runs
 * (class 11). */
#include "hostile_client.h"

/* vhost-user-blk session on O.sock for the class 11 cases: polled, with
 * generous timeouts; ring entries and features as given (0: defaults). */
static struct vblk_host *open_vblk(uint16_t ring, uint64_t features)
{
	struct vblk_host_opts o;
	struct vblk_host *d = NULL;
	memset(&o, 0, sizeof(o));
	o.irq = VBLK_HOST_IRQ_POLL;
	o.timeout_ms = DEADLINE_MS;
	o.ctrl_timeout_ms = DEADLINE_MS;
	o.queue_size = ring;
	o.features = features;
	o.force_features = features != 0;
	int rc = vblk_host_open_vhost_user(O.sock, &o, &d);
	if (rc) {
		FAIL("vblk_host_open_vhost_user (ring %u): %s", ring, st_str(rc));
		return NULL;
	}
	return d;
}

/* n requests of 4 KiB (sectors from sector, 8 per request) made available
 * at once under one kick, then all waited for: writes of pattern seed, or
 * reads checked against it. True when every one completed OK (and, for
 * reads, with the data). */
static bool vblk_batch(struct vblk_host *d, uint32_t type, uint64_t sector, int n, uint32_t seed)
{
	struct vblk_host_req *r = calloc((size_t)n, sizeof(*r));
	uint8_t *buf = vblk_host_alloc(d, (size_t)n * 4096);
	bool ok = false;
	int done = 0, bad = 0;
	if (!r || !buf) {
		FAIL("no memory for %d requests", n);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		uint64_t s = sector + 8ull * (uint64_t)i;
		if (type == VH_BLK_T_OUT)
			pattern_fill_lba(buf + (size_t)i * 4096, s, 8, seed);
		r[i] = (struct vblk_host_req){ .type = type, .sector = s, .buf = buf + (size_t)i * 4096,
					       .len = 4096 };
		int rc = vblk_host_queue_req(d, 0, &r[i]);
		if (rc) {
			FAIL("request %d of %d not queued: %s", i, n, st_str(rc));
			goto out;
		}
	}
	if (vblk_host_kick(d, 0)) {
		FAIL("kick");
		goto out;
	}
	int64_t end = now_ms() + DEADLINE_MS;
	while (vblk_host_inflight(d, 0) && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	if (vblk_host_inflight(d, 0)) {
		FAIL("%u of %d requests still in flight after %d ms", vblk_host_inflight(d, 0), n, DEADLINE_MS);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (r[i].result || r[i].status != 0) {
			bad++;
			continue;
		}
		if (type == VH_BLK_T_IN && !pattern_ok(buf + (size_t)i * 4096, r[i].sector, 8, seed)) {
			bad++;
			continue;
		}
		done++;
	}
	if (bad)
		FAIL("%d of %d requests failed or read wrong data", bad, n);
	ok = done == n;
out:
	vblk_host_free(d, buf);
	free(r);
	return ok;
}

/* class 11: vhost-user SET_VRING_NUM and the controller's queue_size
 * (--count). A front end picks its own ring size (QEMU's vhost-user-blk
 * cannot learn ours): any power of two up to 32768 is taken, 0, a non
 * power of two and more than 32768 are refused. Then I/O on a ring of
 * --count entries ("# READY small": the Python side measures osnapd) and
 * on one of 32768 entries with 4 x --count requests made available at
 * once ("# READY big": measured again; at most --count are in flight in
 * osnapd, the rest wait in the ring); every request completes and the data
 * reads back. */
void case_vring_num(void)
{
	struct vhu_front *f = NULL;
	struct vblk_host *d = NULL;
	char line[64];
	f = vhu_open_owned();
	REQUIRE(f);
	int r1 = vhu_set_vring_num(f, 0, (uint32_t)O.count);
	int r2 = vhu_set_vring_num(f, 0, 32768);
	int r0 = vhu_set_vring_num(f, 0, 0);
	int r3 = vhu_set_vring_num(f, 0, 96);
	int r4 = vhu_set_vring_num(f, 0, 65536);
	diag("RESULT num_%d=%d num_32768=%d num_0=%d num_96=%d num_65536=%d", O.count, r1, r2, r0, r3, r4);
	CHECK_EQ(r1, 0);
	CHECK_EQ(r2, 0);
	CHECK_EQ(r0, -EIO);
	CHECK_EQ(r3, -EIO);
	CHECK_EQ(r4, -EIO);
	vhu_close(f);
	f = NULL;

	d = open_vblk((uint16_t)O.count, 0);
	REQUIRE(d);
	/* three descriptors a request: a full ring's worth */
	CHECK(vblk_batch(d, VH_BLK_T_OUT, 2048, O.count / 3, O.seed));
	CHECK(vblk_batch(d, VH_BLK_T_IN, 2048, O.count / 3, O.seed));
	REQUIRE(handshake("small", 120000, line, sizeof(line)));
	vblk_host_close(d);
	d = open_vblk(32768, 0);
	REQUIRE(d);
	CHECK_EQ(vblk_host_queue_size(d, 0), 32768);
	bool w = vblk_batch(d, VH_BLK_T_OUT, 4096, 4 * O.count, O.seed + 1);
	REQUIRE(handshake("big", 120000, line, sizeof(line)));
	bool rd = vblk_batch(d, VH_BLK_T_IN, 4096, 4 * O.count, O.seed + 1);
	diag("RESULT big_writes=%d big_reads=%d", w, rd);
	CHECK(w && rd);
out:
	vblk_host_close(d);
	vhu_close(f);
}

/* class 11: vhost-user SET_FEATURES while a ring runs. On a controller
 * offering IN_ORDER (force_in_order), with IN_ORDER negotiated: the same
 * features again are taken; IN_ORDER or FLUSH toggled, and a bit never
 * offered (VHOST_F_LOG_ALL, 26), are refused with REPLY_ACK (non-zero)
 * and change nothing: I/O goes on. Then, without the need_reply flag, a
 * change cannot be answered: the back end closes the connection. */
void case_features_live(void)
{
	struct vblk_host *d = open_vblk(0, 0);
	if (!d)
		return;
	uint64_t off = vblk_host_device_features(d);
	vblk_host_close(d);
	CHECK(off & VH_BIT(VH_F_IN_ORDER));
	d = open_vblk(0, (off & VBLK_HOST_FEATURES_KNOWN) | VH_BIT(VH_F_IN_ORDER));
	if (!d)
		return;
	struct vhu_front *f = vblk_host_vhu(d);
	uint64_t neg = vblk_host_features(d);
	CHECK(neg & VH_BIT(VH_F_IN_ORDER));
	uint64_t cur = neg | (1ull << VHU_F_PROTOCOL_FEATURES);
	CHECK(vblk_batch(d, VH_BLK_T_OUT, 1024, 32, O.seed));
	int same = vhu_set_features(f, cur);
	int in_order = vhu_set_features(f, cur ^ VH_BIT(VH_F_IN_ORDER));
	int flush = vhu_set_features(f, cur ^ VH_BIT(VH_BLK_F_FLUSH));
	int log_all = vhu_set_features(f, cur | (1ull << 26));
	diag("RESULT same=%d in_order=%d flush=%d log_all=%d", same, in_order, flush, log_all);
	CHECK_EQ(same, 0);
	CHECK_EQ(in_order, -EIO);
	CHECK_EQ(flush, -EIO);
	CHECK_EQ(log_all, -EIO);
	/* nothing changed: I/O goes on, a flush included */
	CHECK(vblk_batch(d, VH_BLK_T_IN, 1024, 32, O.seed));
	uint8_t st = 0xff;
	CHECK_EQ(vblk_host_rw(d, 0, VH_BLK_T_FLUSH, 0, NULL, 0, &st), 0);
	CHECK_EQ(st, 0);
	/* no REPLY_ACK asked for: the connection closes */
	vhu_set_reply_ack(f, false);
	int silent = vhu_set_features(f, cur ^ VH_BIT(VH_F_IN_ORDER));
	bool dropped = wait_hangup(vhu_socket_fd(f), DEADLINE_MS);
	diag("RESULT silent=%d dropped=%d", silent, dropped);
	CHECK_EQ(silent, 0);
	if (!dropped)
		FAIL("the connection is still up %d ms after a silent feature change", DEADLINE_MS);
	vanish();
}
