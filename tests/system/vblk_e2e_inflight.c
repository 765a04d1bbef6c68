/* vblk_e2e: the vhost-user in-flight region (GET_INFLIGHT_FD /
 * SET_INFLIGHT_FD) as a front end that reconnects after a back end crash
 * uses it. These cases speak vhost-user themselves (the front end of
 * src/host/vhost_user_front.h, guest memory and rings of their own), so
 * they can lay out the state a killed predecessor leaves: requests fetched
 * and marked in flight, a batch published in the used ring but not yet
 * cleared, a ring base that does not say where the ring stands.
 *
 * inflight_resubmit expects a controller with --force_in_order (used
 * elements come back in fetch order, which makes the resubmission order
 * visible) over a zeroed bdev of at least 32 sectors. */
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vblk_e2e.h"

#define QSZ	16
#define MEMSZ	(1u << 20)
#define GPA	0x40000000ull
#define AVAIL	0x1000u
#define USED	0x2000u
#define BUFS	0x10000u	/* per head h: header at BUFS + h * 0x1000, data + 0x100, status + 0xf00 */

struct raw {
	struct vhu_front *f;
	int memfd, kick, call;
	uint8_t *mem;
	struct vh_desc *desc;
	struct vh_avail *avail;
	struct vh_used *used;
	int ifd;
	struct vhu_inflight info;
	uint8_t *region;
};

static uint64_t ua(struct raw *r, uint32_t off)
{
	return (uint64_t)(uintptr_t)(r->mem + off);
}

static void raw_close(struct raw *r)
{
	vhu_close(r->f);
	if (r->region)
		munmap(r->region, r->info.mmap_size);
	if (r->mem)
		munmap(r->mem, MEMSZ);
	if (r->ifd >= 0)
		close(r->ifd);
	if (r->memfd >= 0)
		close(r->memfd);
	if (r->kick >= 0)
		close(r->kick);
	if (r->call >= 0)
		close(r->call);
	memset(r, 0, sizeof(*r));
	r->memfd = r->kick = r->call = r->ifd = -1;
}

/* Connect, negotiate (REPLY_ACK, CONFIG, INFLIGHT_SHMFD), hand over the
 * memory and get a region for one queue of QSZ: what QEMU's vhost-user-blk
 * does before it starts the rings. */
static bool raw_open(struct raw *r)
{
	uint64_t feat = 0, pf = 0;
	memset(r, 0, sizeof(*r));
	r->memfd = r->kick = r->call = r->ifd = -1;
	r->memfd = memfd_create("vblk-e2e-inflight", MFD_CLOEXEC);
	if (r->memfd < 0 || ftruncate(r->memfd, MEMSZ) < 0) {
		FAIL("guest memory: %s", strerror(errno));
		return false;
	}
	r->mem = mmap(NULL, MEMSZ, PROT_READ | PROT_WRITE, MAP_SHARED, r->memfd, 0);
	if (r->mem == MAP_FAILED) {
		r->mem = NULL;
		FAIL("mmap: %s", strerror(errno));
		return false;
	}
	r->desc = (struct vh_desc *)r->mem;
	r->avail = (struct vh_avail *)(r->mem + AVAIL);
	r->used = (struct vh_used *)(r->mem + USED);
	r->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	r->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	struct vhu_region reg = { GPA, MEMSZ, ua(r, 0), 0, r->memfd };
	const uint64_t want_pf = VH_BIT(VHU_PF_REPLY_ACK) | VH_BIT(VHU_PF_CONFIG) | VH_BIT(VHU_PF_INFLIGHT_SHMFD);
	REQUIRE_OK(vhu_connect(O.vhu, &r->f));
	REQUIRE_OK(vhu_get_features(r->f, &feat));
	REQUIRE_OK(vhu_get_protocol_features(r->f, &pf));
	REQUIRE_MSG((pf & want_pf) == want_pf, "protocol features 0x%llx", (unsigned long long)pf);
	REQUIRE_OK(vhu_set_protocol_features(r->f, want_pf));
	REQUIRE_OK(vhu_set_owner(r->f));
	REQUIRE_OK(vhu_set_features(r->f, VH_BIT(VH_F_VERSION_1) | VH_BIT(VHU_F_PROTOCOL_FEATURES)));
	REQUIRE_OK(vhu_set_mem_table(r->f, &reg, 1));
	REQUIRE_OK(vhu_get_inflight_fd(r->f, 1, QSZ, &r->info, &r->ifd));
	CHECK_EQ(r->info.num_queues, 1);
	CHECK_EQ(r->info.queue_size, QSZ);
	REQUIRE(r->info.mmap_size >= 16 + 16 * QSZ);
	r->region = mmap(NULL, r->info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, r->ifd,
			 (off_t)r->info.mmap_offset);
	REQUIRE(r->region != MAP_FAILED);
	return true;
out:
	if (r->region == MAP_FAILED)
		r->region = NULL;
	return false;
}

/* Start ring 0 at base (the rings and the region are laid out by then),
 * handing the region over first when set_region. */
static bool raw_start(struct raw *r, uint32_t base, bool set_region)
{
	struct vhu_vring_addr a = { .index = 0, .desc = ua(r, 0), .used = ua(r, USED), .avail = ua(r, AVAIL) };
	if (set_region)
		REQUIRE_OK(vhu_set_inflight_fd(r->f, &r->info, r->ifd));
	REQUIRE_OK(vhu_set_vring_num(r->f, 0, QSZ));
	REQUIRE_OK(vhu_set_vring_base(r->f, 0, base));
	REQUIRE_OK(vhu_set_vring_addr(r->f, &a));
	REQUIRE_OK(vhu_set_vring_kick(r->f, 0, r->kick));
	REQUIRE_OK(vhu_set_vring_call(r->f, 0, r->call));
	REQUIRE_OK(vhu_set_vring_enable(r->f, 0, true));
	return true;
out:
	return false;
}

/* A 3-descriptor request at heads h, h+1, h+2: header, 512 bytes of data
 * (pattern seed at sector, or to read into), status. */
static void raw_req(struct raw *r, uint16_t h, uint32_t type, uint64_t sector, uint32_t seed)
{
	uint32_t b = BUFS + h * 0x1000u;
	struct vh_blk_req_hdr hdr = { .type = type, .sector = sector };
	memcpy(r->mem + b, &hdr, sizeof(hdr));
	if (type == VH_BLK_T_OUT)
		pattern_fill(r->mem + b + 0x100, sector, 1, SECTOR, seed);
	else
		memset(r->mem + b + 0x100, 0xee, SECTOR);
	r->mem[b + 0xf00] = 0xff;
	uint16_t wr = type == VH_BLK_T_OUT ? 0 : VH_DESC_F_WRITE;
	r->desc[h] = (struct vh_desc){ GPA + b, sizeof(hdr), VH_DESC_F_NEXT, (uint16_t)(h + 1) };
	r->desc[h + 1] = (struct vh_desc){ GPA + b + 0x100, SECTOR, (uint16_t)(VH_DESC_F_NEXT | wr), (uint16_t)(h + 2) };
	r->desc[h + 2] = (struct vh_desc){ GPA + b + 0xf00, 1, VH_DESC_F_WRITE, 0 };
}

static uint8_t raw_status(struct raw *r, uint16_t h)
{
	return r->mem[BUFS + h * 0x1000u + 0xf00];
}

static uint16_t used_idx(struct raw *r)
{
	return __atomic_load_n(&r->used->idx, __ATOMIC_ACQUIRE);
}

/* Wait until used->idx reaches n (EVENT_DEADLINE_MS). */
static bool wait_used(struct raw *r, uint16_t n)
{
	int64_t end = now_ms() + EVENT_DEADLINE_MS;
	while ((uint16_t)(used_idx(r) - n) > QSZ) {
		if (now_ms() > end) {
			FAIL("used idx %u, want %u within %d ms", used_idx(r), n, EVENT_DEADLINE_MS);
			return false;
		}
		sleep_ms(5);
	}
	return true;
}

static struct vhu_inflight_queue_split *slice0(struct raw *r)
{
	return (struct vhu_inflight_queue_split *)r->region;
}

/* SET_INFLIGHT_FD descriptions a front end may get wrong are refused with a
 * non-zero REPLY_ACK, the session goes on, and the region handed over
 * before them stays in use (the ring started afterwards tracks in it). */
void case_inflight_bad_region(void)
{
	struct raw r;
	uint64_t feat;
	if (!is_vhu()) {
		diag("vhost-user only");
		return;
	}
	if (!raw_open(&r))
		goto out;
	REQUIRE_OK(vhu_set_inflight_fd(r.f, &r.info, r.ifd));
	struct vhu_inflight bad[] = {
		{ .mmap_size = 16, .num_queues = 1, .queue_size = QSZ },		/* too small */
		{ .mmap_size = r.info.mmap_size, .mmap_offset = 100, .num_queues = 1, .queue_size = QSZ },
		{ .mmap_size = r.info.mmap_size, .mmap_offset = 4096, .num_queues = 1, .queue_size = QSZ },
		{ .mmap_size = r.info.mmap_size + (1u << 20), .num_queues = 1, .queue_size = QSZ },
		{ .mmap_size = r.info.mmap_size, .num_queues = 0, .queue_size = QSZ },
		{ .mmap_size = r.info.mmap_size, .num_queues = 200, .queue_size = QSZ },
		{ .mmap_size = r.info.mmap_size, .num_queues = 1, .queue_size = 0 },
		{ .mmap_size = ~0ull, .num_queues = 1, .queue_size = QSZ },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = vhu_set_inflight_fd(r.f, &bad[i], r.ifd);
		if (rc != -EIO)
			FAIL("bad description %zu: %d, want -EIO (a non-zero REPLY_ACK)", i, rc);
	}
	/* an eventfd is no region */
	CHECK_EQ(vhu_set_inflight_fd(r.f, &r.info, r.kick), -EIO);
	REQUIRE_OK(vhu_get_features(r.f, &feat));
	/* I/O on the ring tracked in the first region */
	raw_req(&r, 0, VH_BLK_T_OUT, 40, O.seed);
	r.avail->ring[0] = 0;
	r.avail->idx = 1;
	REQUIRE(raw_start(&r, 0, false));
	REQUIRE(wait_used(&r, 1));
	CHECK_EQ(raw_status(&r, 0), VH_BLK_S_OK);
	CHECK_EQ(slice0(&r)->version, 1);
	CHECK_EQ(slice0(&r)->used_idx, 1);
	CHECK_EQ(slice0(&r)->desc[0].inflight, 0);
out:
	raw_close(&r);
}

/* What a killed predecessor left, requests completing out of order: heads
 * 9, 12 and 0 fetched in that order (counters 10, 11, 12); 12 completed
 * first and was published (used->idx 1) but its mark not cleared (the
 * region's used_idx still 0); 9 and 0 still in flight; head 4 new in the
 * avail ring. The front end gives the base QEMU gives after a crash,
 * used->idx (1): from there 12 would run again and 9 never. The successor
 * must settle 12, run 9 then 0 (counter order, not index order), then 4,
 * and end at used->idx 4. Every write lands on the disk. */
void case_inflight_resubmit(void)
{
	struct raw r;
	uint64_t s_r1 = 8, s_r2 = 16, s_r0 = 24, s_new = 48;
	if (!is_vhu()) {
		diag("vhost-user only");
		return;
	}
	if (!raw_open(&r))
		goto out;
	raw_req(&r, 12, VH_BLK_T_OUT, s_r0, O.seed + 3);
	raw_req(&r, 9, VH_BLK_T_OUT, s_r1, O.seed + 1);
	raw_req(&r, 0, VH_BLK_T_OUT, s_r2, O.seed + 2);
	raw_req(&r, 4, VH_BLK_T_OUT, s_new, O.seed + 5);
	const uint16_t order[] = { 9, 12, 0, 4 };
	for (int i = 0; i < 4; i++)
		r.avail->ring[i] = order[i];
	r.avail->idx = 4;
	r.used->ring[0] = (struct vh_used_elem){ 12, 1 };
	r.used->idx = 1;
	struct vhu_inflight_queue_split *s = slice0(&r);
	s->version = 1;
	s->desc_num = QSZ;
	s->used_idx = 0;
	s->last_batch_head = 12;
	s->desc[9] = (struct vhu_inflight_desc_split){ .inflight = 1, .counter = 10 };
	s->desc[12] = (struct vhu_inflight_desc_split){ .inflight = 1, .next = 0, .counter = 11 };
	s->desc[0] = (struct vhu_inflight_desc_split){ .inflight = 1, .counter = 12 };
	REQUIRE(raw_start(&r, 1, true));
	REQUIRE(wait_used(&r, 4));
	/* nothing beyond (from the base, 12 would have come again) */
	sleep_ms(200);
	CHECK_EQ(used_idx(&r), 4);
	CHECK_EQ(r.used->ring[1].id, 9);
	CHECK_EQ(r.used->ring[2].id, 0);
	CHECK_EQ(r.used->ring[3].id, 4);
	for (int i = 1; i < 4; i++)
		CHECK_EQ(r.used->ring[i].len, 1);
	CHECK_EQ(raw_status(&r, 0), VH_BLK_S_OK);
	CHECK_EQ(raw_status(&r, 9), VH_BLK_S_OK);
	CHECK_EQ(raw_status(&r, 4), VH_BLK_S_OK);
	CHECK_EQ(raw_status(&r, 12), 0xff);	/* never run again */
	CHECK_EQ(s->used_idx, 4);
	CHECK_EQ(s->desc[12].inflight, 0);
	CHECK_EQ(s->desc[9].inflight, 0);
	CHECK_EQ(s->desc[0].inflight, 0);
	CHECK_EQ(s->desc[4].inflight, 0);
	CHECK(s->desc[4].counter > 12);
	raw_close(&r);

	/* the disk: both resubmitted writes landed, head 12 did not run again */
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	if (!d)
		return;
	CHECK(read_check(d, 0, s_r1, SECTOR, O.seed + 1));
	CHECK(read_check(d, 0, s_r2, SECTOR, O.seed + 2));
	CHECK(read_check(d, 0, s_new, SECTOR, O.seed + 5));
	uint8_t *buf = xalloc(d, SECTOR);
	if (buf) {
		CHECK_EQ(rw(d, 0, VH_BLK_T_IN, s_r0, buf, SECTOR), VH_BLK_S_OK);
		CHECK(all_byte(buf, SECTOR, 0));
	}
	vblk_host_close(d);
	return;
out:
	raw_close(&r);
}

/* A region full of garbage (as a front end may hand back): the queue starts
 * afresh from the front end's base and serves. */
void case_inflight_garbage(void)
{
	struct raw r;
	if (!is_vhu()) {
		diag("vhost-user only");
		return;
	}
	if (!raw_open(&r))
		goto out;
	memset(r.region, 0xa5, r.info.mmap_size);
	raw_req(&r, 3, VH_BLK_T_OUT, 32, O.seed + 4);
	r.avail->ring[5] = 3;	/* the ring starts at 5 */
	r.avail->idx = 6;
	r.used->idx = 5;
	REQUIRE(raw_start(&r, 5, true));
	REQUIRE(wait_used(&r, 6));
	CHECK_EQ(r.used->ring[5].id, 3);
	CHECK_EQ(raw_status(&r, 3), VH_BLK_S_OK);
	CHECK_EQ(slice0(&r)->version, 1);
	CHECK_EQ(slice0(&r)->desc_num, QSZ);
	CHECK_EQ(slice0(&r)->used_idx, 6);
	for (int i = 0; i < QSZ; i++)
		CHECK_EQ(slice0(&r)->desc[i].inflight, 0);
out:
	raw_close(&r);
}
