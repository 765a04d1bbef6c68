/* vblk_e2e: Other cases driven from outside: no media, ring memory removed, a
 * request held, the controller destroyed, data for the file check. */
#include "vblk_e2e.h"

/* nomedia: a controller without a bdev: capacity 0 (and 0 in the config
 * cached at open), requests are not served ("# WAITING"); after the line
 * on stdin (a bdev was attached) they complete with OK and the capacity is
 * --expect-size / 512. */
void case_nomedia(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	char line[128];
	uint8_t *b = NULL;
	REQUIRE(d);
	CHECK_EQ(capacity(d), 0);
	b = xalloc(d, 3 * 4096);
	REQUIRE(b);
	unsigned outstanding = 3;
	struct areq a[3] = {
		{ .r = { .type = VH_BLK_T_IN, .sector = 0, .buf = b, .len = 4096, .cb = areq_done } },
		{ .r = { .type = VH_BLK_T_GET_ID, .buf = b + 4096, .len = 20, .cb = areq_done } },
		{ .r = { .type = VH_BLK_T_IN, .sector = 8, .buf = b + 8192, .len = 4096, .cb = areq_done } },
	};
	for (int i = 0; i < 3; i++) {
		a[i].outstanding = &outstanding;
		REQUIRE_OK(vblk_host_queue_req(d, 0, &a[i].r));
	}
	REQUIRE_OK(vblk_host_kick(d, 0));
	int64_t end = now_ms() + 300;
	while (now_ms() < end) {
		vblk_host_poll(d, 0, 0);
		sleep_ms(5);
	}
	CHECK_EQ(outstanding, 3);
	say("WAITING outstanding=%u", outstanding);
	REQUIRE(wait_line(30000, line, sizeof(line)));
	end = now_ms() + 5000;
	while (outstanding && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	CHECK_EQ(outstanding, 0);
	for (int i = 0; i < 3; i++)
		EXPECT_STATUS(a[i].r.status, VH_BLK_S_OK, "request held while without media");
	struct vh_blk_config c;
	REQUIRE_OK(vblk_host_read_config(d, &c));
	if (O.expect_size >= 0)
		CHECK_EQ(c.capacity, (uint64_t)O.expect_size / SECTOR);
	CHECK(serve_ok(d, 0, 16, O.seed));
out:
	if (d)
		vblk_host_free(d, b);
	vblk_host_close(d);
}

/* none_media: the controller has no bdev: a read is held ("# HELD");
 * the line on stdin says the 'none' bdev was attached (SNAP's placeholder,
 * so that a driver is not left hanging): the held read completes with
 * IOERR, and from then on every request is answered: capacity 0, I/O
 * IOERR, FLUSH and GET_ID OK. */
void case_none_media(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	char line[128];
	uint8_t *b = NULL;
	REQUIRE(d);
	CHECK_EQ(capacity(d), 0);
	b = xalloc(d, 8192);
	REQUIRE(b);
	unsigned outstanding = 1;
	struct areq a = { .r = { .type = VH_BLK_T_IN, .sector = 0, .buf = b, .len = 4096, .cb = areq_done },
			  .outstanding = &outstanding };
	REQUIRE_OK(vblk_host_submit(d, 0, &a.r));
	int64_t end = now_ms() + 300;
	while (now_ms() < end) {
		vblk_host_poll(d, 0, 0);
		sleep_ms(5);
	}
	CHECK_EQ(outstanding, 1);
	say("HELD");
	REQUIRE(wait_line(30000, line, sizeof(line)));
	end = now_ms() + 5000;
	while (outstanding && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	CHECK_EQ(outstanding, 0);
	EXPECT_STATUS(a.r.status, VH_BLK_S_IOERR, "the held read, answered by the 'none' bdev");
	struct vh_blk_config c;
	REQUIRE_OK(vblk_host_read_config(d, &c));
	CHECK_EQ(c.capacity, 0);
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, 0, b, 4096), VH_BLK_S_IOERR, "read without media");
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_OUT, 8, b, 4096), VH_BLK_S_IOERR, "write without media");
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_FLUSH, 0, NULL, 0), VH_BLK_S_OK, "flush without media");
	if (vblk_host_features(d) & VH_BIT(VH_BLK_F_WRITE_ZEROES))
		EXPECT_STATUS(dwz(d, 0, VH_BLK_T_WRITE_ZEROES, &(struct vh_blk_dwz_seg){ 0, 8, 0 }, 1),
			      VH_BLK_S_IOERR, "write zeroes without media");
	char id[VH_BLK_ID_BYTES + 1];
	CHECK_EQ(vblk_host_get_id(d, 0, id), 0);
	if (O.expect_id)
		CHECK(!strncmp(id, O.expect_id, VH_BLK_ID_BYTES));
out:
	if (d)
		vblk_host_free(d, b);
	vblk_host_close(d);
}

/* unmap_rings (vhost-user): the memory region holding queue 0's rings is
 * removed (REM_MEM_REG) while the queue runs ("# UNMAPPED"); the Python
 * side then reads the debug statistics (which must not touch the unmapped
 * ring) and sends a line; the other queue still serves, and the region
 * comes back (ADD_MEM_REG): queue 0 serves again. */
void case_unmap_rings(void)
{
	struct vblk_host_opts o;
	struct vblk_host *d = NULL;
	char line[128];
	if (!is_vhu()) {
		diag("vhost-user only");
		return;
	}
	base_opts(&o);
	o.protocol_features = VH_BIT(VHU_PF_MQ) | VH_BIT(VHU_PF_REPLY_ACK) | VH_BIT(VHU_PF_CONFIG) |
			      VH_BIT(VHU_PF_RESET_DEVICE) | VH_BIT(VHU_PF_CONFIGURE_MEM_SLOTS);
	d = open_all(&o);
	REQUIRE(d);
	REQUIRE(vblk_host_num_queues(d) >= 2 && d->nregions == 2);
	struct vhu_front *f = vblk_host_vhu(d);
	CHECK(serve_ok(d, 0, 64, O.seed));
	CHECK(serve_ok(d, 1, 128, O.seed));
	/* queue q's ring area is in region q % 2 */
	struct vblk_region *g = &d->regions[0];
	struct vhu_region r0 = { g->dev_addr, g->m->size, (uint64_t)(uintptr_t)g->m->ptr, 0, g->m->fd };
	uint64_t ra;
	REQUIRE_OK(vblk_host_dev_addr(d, vblk_host_vring(d, 0)->desc, 16, &ra));
	REQUIRE(ra >= g->dev_addr && ra < g->dev_addr + g->m->size);
	REQUIRE_OK(vhu_rem_mem_reg(f, &r0));
	sleep_ms(50);
	say("UNMAPPED");
	REQUIRE(wait_line(30000, line, sizeof(line)));
	/* queue 1 lives in region 1 and serves; its data buffers must be
	 * there too: allocate until one lands in region 1 */
	uint8_t *b = NULL;
	void *tries[4] = { 0 };
	for (int i = 0; i < 4 && !b; i++) {
		tries[i] = vblk_host_alloc(d, 4096);
		uint64_t a;
		if (tries[i] && !vblk_host_dev_addr(d, tries[i], 4096, &a) && a >= d->regions[1].dev_addr)
			b = tries[i];
	}
	REQUIRE(b);
	EXPECT_STATUS(rw(d, 1, VH_BLK_T_IN, 128, b, 4096), VH_BLK_S_OK, "queue 1 with queue 0's rings unmapped");
	REQUIRE_OK(vhu_add_mem_reg(f, &r0));
	/* queue 0 translates its rings again and serves */
	vblk_host_kick(d, 0);
	CHECK(serve_ok(d, 0, 64, O.seed));
	for (int i = 0; i < 4; i++)
		vblk_host_free(d, tries[i]);
out:
	vblk_host_close(d);
}

/* hold: known numbers of reads, writes and flushes per queue, then "#
 * HOLD ..." with them and the ring indices; waits for a line. */
void case_hold(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_all(&o);
	char line[128], msg[2048];
	size_t ml = 0;
	REQUIRE(d);
	uint16_t nq = vblk_host_num_queues(d);
	ml += (size_t)snprintf(msg + ml, sizeof(msg) - ml, "HOLD queues=%u", nq);
	uint8_t *b = xalloc(d, 4096);
	REQUIRE(b);
	for (uint16_t q = 0; q < nq; q++) {
		unsigned nw = O.read_only ? 0 : 3 + 2 * q, nr = 5 + q, nf = 1 + q;
		for (unsigned i = 0; i < nw; i++)
			EXPECT_STATUS(rw(d, q, VH_BLK_T_OUT, 64 * q + 8 * i, b, 4096), VH_BLK_S_OK, "write");
		for (unsigned i = 0; i < nr; i++)
			EXPECT_STATUS(rw(d, q, VH_BLK_T_IN, 64 * q + 8 * i, b, 4096), VH_BLK_S_OK, "read");
		for (unsigned i = 0; i < nf; i++)
			EXPECT_STATUS(rw(d, q, VH_BLK_T_FLUSH, 0, NULL, 0), VH_BLK_S_OK, "flush");
		struct vring_host *vq = vblk_host_vring(d, q);
		ml += (size_t)snprintf(msg + ml, sizeof(msg) - ml,
				       " q%u_reads=%u q%u_writes=%u q%u_flushes=%u q%u_avail=%u q%u_used=%u q%u_reqs=%u",
				       q, nr, q, nw, q, nf, q, vq->avail_idx, q,
				       __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE), q, nr + nw + nf);
	}
	say("%s", msg);
	if (!wait_line(60000, line, sizeof(line)))
		FAIL("no line on stdin");
out:
	vblk_host_close(d);
}

/* destroyed: "# READY"; the line on stdin says the controller was
 * destroyed: vhost-user: the back end closed the socket; virtio-pci (the
 * function and its socket stay): nothing serves the queues any more. */
void case_destroyed(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	char line[128];
	REQUIRE(d);
	CHECK(serve_ok(d, 0, 8, O.seed));
	say("READY");
	REQUIRE(wait_line(30000, line, sizeof(line)));
	if (is_vhu()) {
		struct vhu_front *f = vblk_host_vhu(d);
		uint8_t m[256];
		size_t len;
		int rc = vhu_recv_raw(f, m, sizeof(m), &len, NULL, NULL, 3000);
		if (rc != -ECONNRESET)
			FAIL("after destroy the socket gave %d (%s), want it closed (-ECONNRESET)", rc, strerror(-rc));
		uint64_t feats;
		CHECK(vhu_get_features(f, &feats) != 0);
	} else {
		uint8_t *b = xalloc(d, 4096);
		REQUIRE(b);
		unsigned outstanding = 1;
		struct areq a = { .r = { .type = VH_BLK_T_IN, .buf = b, .len = 4096, .cb = areq_done },
				  .outstanding = &outstanding };
		REQUIRE_OK(vblk_host_submit(d, 0, &a.r));
		int64_t end = now_ms() + 300;
		while (now_ms() < end) {
			vblk_host_poll(d, 0, 0);
			sleep_ms(5);
		}
		CHECK_EQ(outstanding, 1);
		/* abandoned: close cancels it (a is still alive then) */
		vblk_host_close(d);
		d = NULL;
	}
out:
	vblk_host_close(d);
}

/* file_pattern: extents of the pattern through every queue, then FLUSH;
 * "# extent SECTOR COUNT" for each. */
/* The extents file_pattern writes and pattern_check reads (sectors). */
static const struct { uint64_t s; uint32_t n; } pattern_ext[] = {
	{ 0, 8 }, { 8, 1 }, { 100, 3 }, { 2048, 128 }, { 4096, 512 }, { 65536, 17 }, { 99999, 1 },
};

/* file_pattern (write) or pattern_check (read and compare) over the
 * extents that fit the capacity, spread over the queues. */
static void pattern_extents(bool write)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_all(&o);
	REQUIRE(d);
	uint64_t cap = capacity(d);
	unsigned k = 0;
	for (size_t i = 0; i < sizeof(pattern_ext) / sizeof(pattern_ext[0]); i++) {
		uint64_t s = pattern_ext[i].s;
		uint32_t n = pattern_ext[i].n;
		if (s + n > cap)
			continue;
		uint16_t q = (uint16_t)(k++ % vblk_host_num_queues(d));
		uint8_t *b = xalloc(d, n * SECTOR);
		REQUIRE(b);
		if (write)
			pattern_fill(b, s, n, SECTOR, O.seed);
		else
			memset(b, 0xee, n * SECTOR);
		EXPECT_STATUS(rw(d, q, write ? VH_BLK_T_OUT : VH_BLK_T_IN, s, b, n * SECTOR), VH_BLK_S_OK,
			      write ? "write" : "read");
		long bad = write ? -1 : pattern_check(b, s, n, SECTOR, O.seed);
		vblk_host_free(d, b);
		if (bad >= 0)
			FAIL("sector %llu differs from pattern %u", (unsigned long long)(s + (uint64_t)bad), O.seed);
		if (write)
			printf("# extent %llu %u\n", (unsigned long long)s, n);
	}
	if (!k)
		FAIL("no extent fits the capacity %llu", (unsigned long long)cap);
	for (uint16_t q = 0; write && q < vblk_host_num_queues(d); q++)
		EXPECT_STATUS(rw(d, q, VH_BLK_T_FLUSH, 0, NULL, 0), VH_BLK_S_OK, "flush");
	fflush(stdout);
out:
	vblk_host_close(d);
}

void case_file_pattern(void)
{
	pattern_extents(true);
}

/* Reads back what file_pattern (with the same --seed) wrote, possibly
 * through another controller of the same bdev. */
void case_pattern_check(void)
{
	pattern_extents(false);
}
