/* End-to-end tests of the virtio-blk controller (issue 5): the user-space
 * virtio-blk driver of src/host talks to an osnapd controller over
 * vhost-user (this program is the front end) or over vfio-user (a modern
 * virtio-pci function).
 *
 *   vblk_e2e --vhost-user SOCK | --pci SOCK [--case NAME]... [expectations]
 *
 * The Python side (tests/system/test_virtio_blk.py) creates the controller
 * and says what to expect: --expect-size BYTES (the bdev's size; capacity is
 * that / 512), --expect-id ID (the GET_ID serial), --read-only, --queues N,
 * --seg-max N, --size-max N, --blk-size N, --indirect 0|1, --in-order 0|1,
 * --discard 0|1, --write-zeroes 0|1 (the features offered). Every case
 * opens its own connection, so a failing case cannot poison the next one
 * (and each open checks the service still accepts one). Output is TAP: "1..N", "ok N - name" or "not ok N - name"
 * followed by "# ..." lines with the details. Expected statuses and
 * behaviour are those of the virtio 1.2 specification (5.2 block device,
 * 2.7 split virtqueues), never the server's.
 *
 * Cases driven from outside (stdin/stdout handshake, see each case):
 * suspend_probe, attach_probe, swap_probe, nomedia, none_media,
 * unmap_rings, hold, destroyed. file_pattern prints the extents it wrote
 * ("# extent SECTOR COUNT") for the Python side to check the backing file.
 * mem_table and unmap_rings use the driver's internals (its regions' memfds,
 * VBLK_HOST_INTERNAL) to send memory-table messages of their own. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* The mem_table case re-sends the driver's own memory table, which needs
 * the memfds of its regions: the one use of the driver's internals. */
#define VBLK_HOST_INTERNAL
#include "host/host_mem.h"
#include "host/vhost_user_front.h"
#include "host/vfio_user_client.h"
#include "host/virtio_blk_host.h"

#include "pattern.h"
#include "tap.h"

#define SECTOR 512u

/* ---- options ----------------------------------------------------------------------- */

static struct {
	const char *vhu, *pci;
	int64_t expect_size;	/* bytes; -1 unchecked */
	const char *expect_id;
	bool read_only;
	int queues;		/* the controller's num_queues; 0 unknown (config) */
	int seg_max, size_max, blk_size;	/* -1 unchecked */
	int indirect, in_order, discard, wzeroes;	/* -1 unknown */
	uint32_t seed;
} O = {
	.expect_size = -1, .seg_max = -1, .size_max = -1, .blk_size = -1, .indirect = -1,
	.in_order = -1, .discard = -1, .wzeroes = -2, .seed = 1,
};

/* ---- statuses ------------------------------------------------------------------------------ */

/* REQUIRE_OK (tap.h) says the errno */
const char *tap_status_str(int rc)
{
	static __thread char b[64];
	snprintf(b, sizeof(b), "%d (%s)", rc, strerror(rc < 0 ? -rc : rc));
	return b;
}

static const char *st_name(int st)
{
	switch (st) {
	case VH_BLK_S_OK: return "OK";
	case VH_BLK_S_IOERR: return "IOERR";
	case VH_BLK_S_UNSUPP: return "UNSUPP";
	case 0xff: return "untouched";
	default: return "?";
	}
}

#define EXPECT_STATUS(got, want, what) do { int g_ = (got), w_ = (want); if (g_ != w_) \
	FAIL("%s: status %d (%s), want %d (%s)", (what), g_, st_name(g_), w_, st_name(w_)); } while (0)

/* ---- opening the device ------------------------------------------------------------------ */

static bool is_vhu(void)
{
	return O.vhu != NULL;
}

static const char *tr_name(void)
{
	return is_vhu() ? "vhost-user" : "virtio-pci";
}

static void base_opts(struct vblk_host_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->features = VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_EVENT_IDX) |
		      VH_BIT(VH_F_RING_INDIRECT_DESC);
	o->queue_size = 256;
	o->mem_size = 32u << 20;
	o->mem_regions = 2;
	o->timeout_ms = 5000;
}

static int open_raw(const struct vblk_host_opts *o, struct vblk_host **d)
{
	return is_vhu() ? vblk_host_open_vhost_user(O.vhu, o, d) : vblk_host_open_pci(O.pci, o, d);
}

static struct vblk_host *open_dev(const struct vblk_host_opts *o)
{
	struct vblk_host *d = NULL;
	int rc = open_raw(o, &d);
	if (rc) {
		FAIL("open (%s, %u queues): %d (%s)", tr_name(), o->num_queues ? o->num_queues : 1, rc,
		     strerror(-rc));
		return NULL;
	}
	return d;
}

/* The controller's queue count (from the options or the device). */
static uint16_t ctrl_queues(struct vblk_host *d)
{
	if (O.queues > 0)
		return (uint16_t)O.queues;
	const struct vh_blk_config *c = vblk_host_config(d);
	return (vblk_host_features(d) & VH_BIT(VH_BLK_F_MQ)) && c->num_queues ? c->num_queues : 1;
}

/* Open with every queue of the controller. */
static struct vblk_host *open_all(struct vblk_host_opts *o)
{
	if (!O.queues) {
		struct vblk_host *p = open_dev(o);
		if (!p)
			return NULL;
		O.queues = ctrl_queues(p);
		vblk_host_close(p);
	}
	o->num_queues = (uint16_t)O.queues;
	return open_dev(o);
}

static uint64_t capacity(struct vblk_host *d)
{
	return vblk_host_config(d)->capacity;
}

/* Sectors per logical block (BLK_SIZE) */
static uint32_t blk_sectors(struct vblk_host *d)
{
	const struct vh_blk_config *c = vblk_host_config(d);
	if ((vblk_host_features(d) & VH_BIT(VH_BLK_F_BLK_SIZE)) && c->blk_size >= SECTOR)
		return c->blk_size / SECTOR;
	return 1;
}

static void *xalloc(struct vblk_host *d, size_t len)
{
	void *p = vblk_host_alloc(d, len);
	if (!p)
		FAIL("arena exhausted (%zu bytes)", len);
	return p;
}

static uint64_t dev_addr(struct vblk_host *d, const void *p, size_t len)
{
	uint64_t a = 0;
	if (vblk_host_dev_addr(d, p, len, &a))
		FAIL("no device address for %p+%zu", p, len);
	return a;
}

/* Synchronous request; returns the status byte or a negative errno. */
static int rw(struct vblk_host *d, uint16_t q, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
	uint8_t st = 0xff;
	int rc = vblk_host_rw(d, q, type, sector, buf, len, &st);
	return rc ? rc : st;
}

/* Write then read back len bytes of the pattern at sector through q. */
static bool write_verify(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t len, uint32_t seed)
{
	uint8_t *w = xalloc(d, len), *r = xalloc(d, len);
	bool ok = false;
	if (!w || !r)
		goto out;
	pattern_fill(w, sector, len / SECTOR, SECTOR, seed);
	int st = rw(d, q, VH_BLK_T_OUT, sector, w, len);
	if (st != VH_BLK_S_OK) {
		FAIL("q%u write %u bytes at %llu: %d (%s)", q, len, (unsigned long long)sector, st,
		     st < 0 ? strerror(-st) : st_name(st));
		goto out;
	}
	memset(r, 0xa5, len);
	st = rw(d, q, VH_BLK_T_IN, sector, r, len);
	if (st != VH_BLK_S_OK) {
		FAIL("q%u read %u bytes at %llu: %d (%s)", q, len, (unsigned long long)sector, st,
		     st < 0 ? strerror(-st) : st_name(st));
		goto out;
	}
	long bad = pattern_check(r, sector, len / SECTOR, SECTOR, seed);
	if (bad >= 0) {
		FAIL("q%u: sector %llu read back differs from what was written", q,
		     (unsigned long long)sector + (unsigned long long)bad);
		goto out;
	}
	ok = true;
out:
	vblk_host_free(d, w);
	vblk_host_free(d, r);
	return ok;
}

/* Read len bytes at sector and check them against the pattern. */
static bool read_check(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t len, uint32_t seed)
{
	uint8_t *r = xalloc(d, len);
	bool ok = false;
	if (!r)
		return false;
	int st = rw(d, q, VH_BLK_T_IN, sector, r, len);
	if (st != VH_BLK_S_OK) {
		FAIL("q%u read %u bytes at %llu: %d (%s)", q, len, (unsigned long long)sector, st,
		     st < 0 ? strerror(-st) : st_name(st));
	} else {
		long bad = pattern_check(r, sector, len / SECTOR, SECTOR, seed);
		if (bad >= 0)
			FAIL("q%u: sector %llu does not hold the pattern (seed %u)", q,
			     (unsigned long long)sector + (unsigned long long)bad, seed);
		else
			ok = true;
	}
	vblk_host_free(d, r);
	return ok;
}

/* Does queue q serve? Write and read back (a read on a read-only device). */
static bool serve_ok(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t seed)
{
	if (!O.read_only)
		return write_verify(d, q, sector, 4096, seed);
	uint8_t *r = xalloc(d, 4096);
	if (!r)
		return false;
	int st = rw(d, q, VH_BLK_T_IN, sector, r, 4096);
	vblk_host_free(d, r);
	if (st != VH_BLK_S_OK)
		FAIL("q%u read at %llu: %d (%s)", q, (unsigned long long)sector, st, st < 0 ? strerror(-st) : st_name(st));
	return st == VH_BLK_S_OK;
}

/* ---- asynchronous batches ------------------------------------------------------------------- */

struct areq {
	struct vblk_host_req r;
	int ncomp;			/* completions seen (must end at 1) */
	unsigned *outstanding;
	uint32_t order;			/* completion order (in_order case) */
	uint32_t *order_ctr;
};

static void areq_done(struct vblk_host_req *r)
{
	struct areq *a = (struct areq *)(void *)((uint8_t *)r - offsetof(struct areq, r));
	a->ncomp++;
	if (a->order_ctr)
		a->order = (*a->order_ctr)++;
	if (a->outstanding)
		(*a->outstanding)--;
}

/* Submit reqs[0..n) on queue q with at most depth in flight and wait for
 * all of them (each wait bounded by ms). Returns false on a driver error
 * or timeout (reported). */
static bool run_batch(struct vblk_host *d, uint16_t q, struct areq *reqs, unsigned n, unsigned depth, int ms)
{
	unsigned outstanding = 0, next = 0;
	for (unsigned i = 0; i < n; i++) {
		reqs[i].ncomp = 0;
		reqs[i].outstanding = &outstanding;
		reqs[i].r.cb = areq_done;
	}
	while (next < n || outstanding) {
		while (next < n && outstanding < depth) {
			int rc = vblk_host_queue_req(d, q, &reqs[next].r);
			if (rc == -ENOSPC && outstanding)
				break;
			if (rc) {
				FAIL("q%u: queueing request %u: %d (%s)", q, next, rc, strerror(-rc));
				return false;
			}
			outstanding++;
			next++;
		}
		int rc = vblk_host_kick(d, q);
		if (rc) {
			FAIL("q%u: kick: %d", q, rc);
			return false;
		}
		rc = vblk_host_wait(d, q, ms);
		if (rc < 0) {
			FAIL("q%u: waiting (%u outstanding, %u of %u submitted): %d (%s)", q, outstanding, next,
			     n, rc, strerror(-rc));
			return false;
		}
	}
	return true;
}

/* ---- negotiation and configuration --------------------------------------------------------- */

static const struct { int bit; const char *name; } feat_names[] = {
	{ VH_BLK_F_SIZE_MAX, "SIZE_MAX" }, { VH_BLK_F_SEG_MAX, "SEG_MAX" },
	{ VH_BLK_F_GEOMETRY, "GEOMETRY" }, { VH_BLK_F_RO, "RO" }, { VH_BLK_F_BLK_SIZE, "BLK_SIZE" },
	{ VH_BLK_F_FLUSH, "FLUSH" }, { VH_BLK_F_TOPOLOGY, "TOPOLOGY" },
	{ VH_BLK_F_CONFIG_WCE, "CONFIG_WCE" }, { VH_BLK_F_MQ, "MQ" }, { VH_BLK_F_DISCARD, "DISCARD" },
	{ VH_BLK_F_WRITE_ZEROES, "WRITE_ZEROES" }, { VH_BLK_F_LIFETIME, "LIFETIME" },
	{ VH_BLK_F_SECURE_ERASE, "SECURE_ERASE" }, { VH_BLK_F_ZONED, "ZONED" },
	{ VH_F_RING_INDIRECT_DESC, "RING_INDIRECT_DESC" }, { VH_F_RING_EVENT_IDX, "RING_EVENT_IDX" },
	{ VH_F_VERSION_1, "VERSION_1" }, { VH_F_ACCESS_PLATFORM, "ACCESS_PLATFORM" },
	{ VH_F_RING_PACKED, "RING_PACKED" }, { VH_F_IN_ORDER, "IN_ORDER" },
	{ VH_F_ORDER_PLATFORM, "ORDER_PLATFORM" }, { VH_F_SR_IOV, "SR_IOV" },
	{ VH_F_NOTIFICATION_DATA, "NOTIFICATION_DATA" }, { VH_F_RING_RESET, "RING_RESET" },
};

static void expect_feature(uint64_t offered, int bit, int want)
{
	const char *name = "?";
	for (size_t i = 0; i < sizeof(feat_names) / sizeof(feat_names[0]); i++)
		if (feat_names[i].bit == bit)
			name = feat_names[i].name;
	if (want < 0)
		return;
	bool has = offered & VH_BIT(bit);
	if (has != (bool)want)
		FAIL("feature %s (bit %d) %s, want it %s", name, bit, has ? "offered" : "not offered",
		     want ? "offered" : "absent");
}

static void case_negotiation(void)
{
	struct vblk_host_opts o;
	struct vblk_host *d = NULL;
	base_opts(&o);
	d = open_dev(&o);
	REQUIRE(d);
	uint64_t off = vblk_host_device_features(d);
	diag("%s offers 0x%llx, negotiated 0x%llx", tr_name(), (unsigned long long)off,
	     (unsigned long long)vblk_host_features(d));
	/* always offered by this controller (issue 5) */
	static const int always[] = { VH_F_VERSION_1, VH_BLK_F_SIZE_MAX, VH_BLK_F_SEG_MAX, VH_BLK_F_BLK_SIZE,
				      VH_BLK_F_FLUSH, VH_BLK_F_TOPOLOGY, VH_BLK_F_MQ, VH_F_RING_EVENT_IDX };
	for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
		expect_feature(off, always[i], 1);
	expect_feature(off, VH_BLK_F_RO, O.read_only);
	expect_feature(off, VH_F_RING_INDIRECT_DESC, O.indirect);
	expect_feature(off, VH_F_IN_ORDER, O.in_order);
	expect_feature(off, VH_BLK_F_DISCARD, O.read_only ? 0 : O.discard);
	expect_feature(off, VH_BLK_F_WRITE_ZEROES, O.read_only ? 0 : O.wzeroes);
	/* nothing it cannot do */
	static const int never[] = { VH_BLK_F_GEOMETRY, VH_BLK_F_CONFIG_WCE, VH_BLK_F_LIFETIME,
				     VH_BLK_F_SECURE_ERASE, VH_BLK_F_ZONED, VH_F_ACCESS_PLATFORM,
				     VH_F_RING_PACKED, VH_F_ORDER_PLATFORM, VH_F_SR_IOV,
				     VH_F_NOTIFICATION_DATA, VH_F_RING_RESET };
	for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		expect_feature(off, never[i], 0);
	/* the bits of the vhost-user protocol (30) and the legacy ones are not
	 * device features */
	CHECK_EQ(off & VH_BIT(30), 0);
	CHECK_EQ(off & (VH_BIT(24) | VH_BIT(27)), 0);	/* NOTIFY_ON_EMPTY, ANY_LAYOUT: legacy */
	CHECK_EQ(vblk_host_features(d), o.features & off & VBLK_HOST_FEATURES_KNOWN);
	CHECK(serve_ok(d, 0, 8, O.seed));
	vblk_host_close(d);
	d = NULL;

	/* a minimal driver: VERSION_1 only; I/O still works */
	base_opts(&o);
	o.features = VH_BIT(VH_F_VERSION_1);
	d = open_dev(&o);
	REQUIRE(d);
	CHECK_EQ(vblk_host_features(d), VH_BIT(VH_F_VERSION_1));
	CHECK(serve_ok(d, 0, 16, O.seed + 1));
	vblk_host_close(d);
	d = NULL;

	/* features the device did not offer, or no VERSION_1: refused (vhost-user:
	 * SET_FEATURES answered with a REPLY_ACK failure; PCI: FEATURES_OK does
	 * not stick). Each refusal leaves the device usable. */
	const uint64_t bad[] = {
		(off & VBLK_HOST_FEATURES_KNOWN) | VH_BIT(VH_F_RING_PACKED),
		(off & VBLK_HOST_FEATURES_KNOWN) | VH_BIT(VH_BLK_F_LIFETIME),
		(off & VBLK_HOST_FEATURES_KNOWN) & ~VH_BIT(VH_F_VERSION_1),
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		base_opts(&o);
		o.features = bad[i];
		o.force_features = true;
		int rc = open_raw(&o, &d);
		if (rc == 0) {
			FAIL("features 0x%llx (offered 0x%llx) were accepted", (unsigned long long)bad[i],
			     (unsigned long long)off);
			vblk_host_close(d);
		} else if (is_vhu() ? rc != -EIO : rc != -ENOTSUP) {
			FAIL("features 0x%llx: open gave %d (%s), want %s", (unsigned long long)bad[i], rc,
			     strerror(-rc), is_vhu() ? "a REPLY_ACK failure (-EIO)" : "FEATURES_OK refused (-ENOTSUP)");
		}
		d = NULL;
	}
	base_opts(&o);
	d = open_dev(&o);
	REQUIRE(d);
	CHECK(serve_ok(d, 0, 24, O.seed + 2));
out:
	vblk_host_close(d);
}

static void case_config(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	REQUIRE(d);
	const struct vh_blk_config c0 = *vblk_host_config(d);
	struct vh_blk_config c;
	REQUIRE_OK(vblk_host_read_config(d, &c));
	CHECK(!memcmp(&c, &c0, sizeof(c)));
	diag("capacity %llu, size_max %u, seg_max %u, blk_size %u, num_queues %u, min_io %u, opt_io %u, "
	     "discard %u/%u/%u, wz %u/%u/%u", (unsigned long long)c.capacity, c.size_max, c.seg_max, c.blk_size,
	     c.num_queues, c.min_io_size, c.opt_io_size, c.max_discard_sectors, c.max_discard_seg,
	     c.discard_sector_alignment, c.max_write_zeroes_sectors, c.max_write_zeroes_seg,
	     c.write_zeroes_may_unmap);
	if (O.expect_size >= 0)
		CHECK_EQ(c.capacity, (uint64_t)O.expect_size / SECTOR);
	if (O.queues > 0)
		CHECK_EQ(c.num_queues, O.queues);
	CHECK(c.num_queues >= 1);
	if (O.seg_max >= 0)
		CHECK_EQ(c.seg_max, O.seg_max);
	if (O.size_max >= 0)
		CHECK_EQ(c.size_max, O.size_max);
	if (O.blk_size >= 0)
		CHECK_EQ(c.blk_size, O.blk_size);
	CHECK(c.seg_max >= 1);
	CHECK(c.size_max >= SECTOR);
	CHECK(c.blk_size >= SECTOR && !(c.blk_size & (c.blk_size - 1)));
	/* TOPOLOGY (5.2.4): min_io_size and opt_io_size count logical blocks
	 * (blk_size bytes), physical_block_exp is log2 of logical blocks per
	 * physical block; a bdev has one block size: the minimum I/O is one
	 * physical block */
	CHECK(c.physical_block_exp < 16);
	CHECK_EQ(c.min_io_size, 1u << c.physical_block_exp);
	CHECK(c.opt_io_size == 0 || c.opt_io_size >= c.min_io_size);
	CHECK_EQ(c.writeback, 0);	/* no CONFIG_WCE */
	if (vblk_host_features(d) & VH_BIT(VH_BLK_F_DISCARD)) {
		CHECK(c.max_discard_sectors > 0);
		CHECK(c.max_discard_seg > 0);
		CHECK(c.discard_sector_alignment > 0);
	}
	if (vblk_host_features(d) & VH_BIT(VH_BLK_F_WRITE_ZEROES)) {
		CHECK(c.max_write_zeroes_sectors > 0);
		CHECK(c.max_write_zeroes_seg > 0);
	}
	/* the capacity is what can be read: the last logical block reads, the
	 * next does not */
	uint32_t bsz = c.blk_size;
	if (c.capacity >= bsz / SECTOR) {
		uint8_t *b = xalloc(d, bsz);
		REQUIRE(b);
		EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, c.capacity - bsz / SECTOR, b, bsz), VH_BLK_S_OK, "last block");
		EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, c.capacity, b, bsz), VH_BLK_S_IOERR, "block at capacity");
		vblk_host_free(d, b);
	}
	if (!is_vhu()) {
		/* virtio-pci: config reads are stable (the generation does not move) */
		for (int i = 0; i < 3; i++) {
			REQUIRE_OK(vblk_host_read_config(d, &c));
			CHECK(!memcmp(&c, &c0, sizeof(c)));
		}
	}
out:
	vblk_host_close(d);
}

/* ---- multi-queue data ------------------------------------------------------------------------- */

struct mq_thread {
	struct vblk_host *d;
	uint16_t q;
	uint64_t base, span;	/* sectors this thread owns */
	uint32_t seed;
	uint32_t bs;		/* logical block bytes */
	uint32_t seg_bytes;	/* the driver's descriptor size limit */
	unsigned jobs, bytes;
	pthread_t th;
};

struct mq_job {
	struct areq a;
	uint8_t *mem;		/* allocation */
	uint8_t *wbuf;		/* pattern (write) */
};

static const uint32_t MQ_SIZES[] = { 512, 1024, 1536, 4096, 4608, 8192, 12800, 65536, 66048, 131072, 262144 };
static const uint32_t MQ_ALIGNS[] = { 0, 1, 3, 8, 64, 511, 512, 2048, 4095 };

static void *mq_run(void *arg)
{
	struct mq_thread *t = arg;
	struct vblk_host *d = t->d;
	const unsigned nsz = sizeof(MQ_SIZES) / sizeof(MQ_SIZES[0]);
	const unsigned nal = sizeof(MQ_ALIGNS) / sizeof(MQ_ALIGNS[0]);
	unsigned n = nsz * nal;
	struct mq_job *jobs = calloc(n, sizeof(*jobs));
	struct areq *reqs = calloc(n, sizeof(*reqs));
	unsigned count = 0;
	uint64_t sector = t->base;
	if (!jobs || !reqs) {
		FAIL("out of memory");
		goto out;
	}
	uint64_t maxlen = (uint64_t)vblk_host_max_segments(d) * t->seg_bytes;
	if (maxlen > (1u << 20))
		maxlen = 1u << 20;
	for (unsigned i = 0; i < n; i++) {
		uint32_t len = MQ_SIZES[(i + t->q) % nsz];
		uint32_t al = MQ_ALIGNS[i / nsz];
		len = (len + t->bs - 1) / t->bs * t->bs;
		if (len > maxlen)
			len = (uint32_t)(maxlen / t->bs * t->bs);
		if (sector + len / SECTOR > t->base + t->span)
			break;
		struct mq_job *j = &jobs[count];
		j->mem = xalloc(d, (size_t)len * 2 + al + 4096);
		if (!j->mem)
			break;
		j->wbuf = j->mem + al;
		pattern_fill(j->wbuf, sector, len / SECTOR, SECTOR, t->seed);
		reqs[count].r = (struct vblk_host_req){ .type = VH_BLK_T_OUT, .sector = sector, .buf = j->wbuf,
							.len = len };
		sector += len / SECTOR;
		t->bytes += len;
		count++;
	}
	t->jobs = count;
	/* writes, 32 in flight */
	if (!run_batch(d, t->q, reqs, count, 32, 5000))
		goto out;
	for (unsigned i = 0; i < count && tap_failures() < 10; i++) {
		if (reqs[i].ncomp != 1 || reqs[i].r.result || reqs[i].r.status != VH_BLK_S_OK)
			FAIL("q%u write %u (%u bytes at %llu): completed %d times, result %d, status %u", t->q, i,
			     reqs[i].r.len, (unsigned long long)reqs[i].r.sector, reqs[i].ncomp, reqs[i].r.result,
			     reqs[i].r.status);
		else if (reqs[i].r.used_len != 1)
			FAIL("q%u write %u: used length %u, want 1 (the status byte)", t->q, i, reqs[i].r.used_len);
	}
	/* a flush on the way */
	EXPECT_STATUS(rw(d, t->q, VH_BLK_T_FLUSH, 0, NULL, 0), VH_BLK_S_OK, "flush");
	/* reads into the other half of each allocation, with the same offset */
	for (unsigned i = 0; i < count; i++) {
		uint32_t len = reqs[i].r.len;
		uint8_t *rb = jobs[i].wbuf + len + (jobs[i].wbuf - jobs[i].mem) % 7;
		memset(rb, 0x5a, len);
		reqs[i].r = (struct vblk_host_req){ .type = VH_BLK_T_IN, .sector = reqs[i].r.sector, .buf = rb,
						    .len = len };
	}
	if (!run_batch(d, t->q, reqs, count, 32, 5000))
		goto out;
	unsigned bad = 0;
	for (unsigned i = 0; i < count; i++) {
		struct vblk_host_req *r = &reqs[i].r;
		if (reqs[i].ncomp != 1 || r->result || r->status != VH_BLK_S_OK) {
			FAIL("q%u read %u: completed %d times, result %d, status %u", t->q, i, reqs[i].ncomp, r->result,
			     r->status);
			continue;
		}
		if (r->used_len != r->len + 1)
			FAIL("q%u read %u (%u bytes): used length %u, want %u", t->q, i, r->len, r->used_len, r->len + 1);
		long k = pattern_check(r->buf, r->sector, r->len / SECTOR, SECTOR, t->seed);
		if (k >= 0 && bad++ < 5)
			FAIL("q%u: %u bytes at sector %llu, buffer offset %lu: sector %ld differs", t->q, r->len,
			     (unsigned long long)r->sector,
			     (unsigned long)(((uintptr_t)r->buf) & 4095), k);
	}
	struct vblk_host_qstats st;
	vblk_host_qstats(d, t->q, &st);
	CHECK_EQ(st.bad_used, 0);
	CHECK_EQ(st.completed, st.submitted);
out:
	for (unsigned i = 0; jobs && i < count; i++)
		vblk_host_free(d, jobs[i].mem);
	free(jobs);
	free(reqs);
	return NULL;
}

/* One pass of the threads over a device opened with o. */
static void mq_pass(struct vblk_host_opts *o, const char *what, uint32_t seed)
{
	struct vblk_host *d = open_all(o);
	struct mq_thread *t = NULL;
	if (!d)
		return;
	uint16_t nq = vblk_host_num_queues(d);
	uint32_t bs = blk_sectors(d) * SECTOR;
	uint64_t cap = capacity(d);
	t = calloc(nq, sizeof(*t));
	REQUIRE(t && cap >= (uint64_t)nq * 64);
	uint64_t span = cap / nq / (bs / SECTOR) * (bs / SECTOR);
	if (span > 16384)
		span = 16384;	/* 8 MiB per queue is plenty */
	for (uint16_t q = 0; q < nq; q++) {
		t[q] = (struct mq_thread){ .d = d, .q = q, .base = (uint64_t)q * span, .span = span,
					   .seed = seed + q, .bs = bs,
					   .seg_bytes = o->seg_bytes ? o->seg_bytes :
							(vblk_host_features(d) & VH_BIT(VH_BLK_F_SIZE_MAX)) ?
							vblk_host_config(d)->size_max : 1u << 20 };
		pthread_create(&t[q].th, NULL, mq_run, &t[q]);
	}
	unsigned jobs = 0, bytes = 0;
	for (uint16_t q = 0; q < nq; q++) {
		pthread_join(t[q].th, NULL);
		jobs += t[q].jobs;
		bytes += t[q].bytes;
	}
	diag("%s: %u queues, %u requests, %u bytes each way, features 0x%llx", what, nq, jobs, bytes,
	     (unsigned long long)vblk_host_features(d));
	CHECK(jobs >= nq * 20u);
	/* every queue's data is still there when read through another queue */
	for (uint16_t q = 0; q < nq; q++)
		CHECK(read_check(d, (uint16_t)((q + 1) % nq), t[q].base, 8 * SECTOR, seed + q));
out:
	free(t);
	vblk_host_close(d);
}

static void case_io_mq(void)
{
	struct vblk_host_opts o;
	if (O.read_only) {
		FAIL("io_mq writes: not for a read-only controller");
		return;
	}
	base_opts(&o);
	o.direct_only = true;
	mq_pass(&o, "direct descriptors", O.seed * 7 + 1);
	if (O.indirect > 0) {
		base_opts(&o);
		mq_pass(&o, "indirect tables", O.seed * 7 + 2);
	}
	/* descriptors of odd lengths (not multiples of 512) */
	base_opts(&o);
	o.seg_bytes = 1000;
	o.direct_only = true;
	mq_pass(&o, "1000-byte descriptors", O.seed * 7 + 3);
	/* interrupts off: completions polled */
	base_opts(&o);
	o.irq = VBLK_HOST_IRQ_POLL;
	mq_pass(&o, "polled", O.seed * 7 + 4);
}

/* ---- single commands ------------------------------------------------------------------------- */

static void case_flush(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_all(&o);
	REQUIRE(d);
	CHECK(vblk_host_features(d) & VH_BIT(VH_BLK_F_FLUSH));
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++) {
		CHECK(serve_ok(d, q, 64 + 16 * q, O.seed));
		EXPECT_STATUS(rw(d, q, VH_BLK_T_FLUSH, 0, NULL, 0), VH_BLK_S_OK, "flush");
		struct areq a = { .r = { .type = VH_BLK_T_FLUSH } };
		REQUIRE(run_batch(d, q, &a, 1, 1, 5000));
		EXPECT_STATUS(a.r.status, VH_BLK_S_OK, "flush (async)");
		CHECK_EQ(a.r.used_len, 1);
		if (!O.read_only)
			CHECK(read_check(d, q, 64 + 16 * q, 4096, O.seed));
	}
out:
	vblk_host_close(d);
}

static void case_get_id(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_all(&o);
	char id[VH_BLK_ID_BYTES + 1];
	REQUIRE(d);
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++) {
		memset(id, 0x77, sizeof(id));
		int rc = vblk_host_get_id(d, q, id);
		if (rc) {
			FAIL("q%u GET_ID: %d (%s)", q, rc, strerror(-rc));
			continue;
		}
		if (O.expect_id) {
			char want[VH_BLK_ID_BYTES];
			memset(want, 0, sizeof(want));
			memcpy(want, O.expect_id, strnlen(O.expect_id, VH_BLK_ID_BYTES));
			if (memcmp(id, want, VH_BLK_ID_BYTES))
				FAIL("q%u GET_ID: '%.20s', want '%.20s' (NUL-padded to 20 bytes)", q, id, want);
		}
		diag("q%u GET_ID '%.20s'", q, id);
	}
	/* the data of GET_ID is 20 bytes; used.len counts them and the status */
	uint8_t *b = xalloc(d, 64);
	REQUIRE(b);
	memset(b, 0xee, 64);
	struct areq a = { .r = { .type = VH_BLK_T_GET_ID, .buf = b, .len = VH_BLK_ID_BYTES } };
	REQUIRE(run_batch(d, 0, &a, 1, 1, 5000));
	EXPECT_STATUS(a.r.status, VH_BLK_S_OK, "GET_ID");
	CHECK_EQ(a.r.used_len, VH_BLK_ID_BYTES + 1);
	CHECK(all_byte(b + VH_BLK_ID_BYTES, 64 - VH_BLK_ID_BYTES, 0xee));
	vblk_host_free(d, b);
out:
	vblk_host_close(d);
}

static int dwz(struct vblk_host *d, uint16_t q, uint32_t type, const struct vh_blk_dwz_seg *segs, unsigned n)
{
	void *b = xalloc(d, n * sizeof(*segs));
	if (!b)
		return -ENOMEM;
	memcpy(b, segs, n * sizeof(*segs));
	int st = rw(d, q, type, 0, b, (uint32_t)(n * sizeof(*segs)));
	vblk_host_free(d, b);
	return st;
}

static bool zeroes_at(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t n)
{
	uint8_t *r = xalloc(d, n * SECTOR);
	bool ok = false;
	if (!r)
		return false;
	memset(r, 0xa5, n * SECTOR);
	int st = rw(d, q, VH_BLK_T_IN, sector, r, n * SECTOR);
	if (st != VH_BLK_S_OK)
		FAIL("read at %llu: %d", (unsigned long long)sector, st);
	else if (!all_byte(r, n * SECTOR, 0))
		FAIL("sectors %llu+%u do not read back as zeroes", (unsigned long long)sector, n);
	else
		ok = true;
	vblk_host_free(d, r);
	return ok;
}

static void case_discard(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	REQUIRE(d);
	uint64_t f = vblk_host_features(d);
	if (O.read_only || !(f & VH_BIT(VH_BLK_F_DISCARD)) || !(f & VH_BIT(VH_BLK_F_WRITE_ZEROES))) {
		if (O.discard > 0 && !O.read_only)
			FAIL("DISCARD/WRITE_ZEROES not negotiated (features 0x%llx)", (unsigned long long)f);
		diag("DISCARD/WRITE_ZEROES not offered: only UNSUPP checked");
		EXPECT_STATUS(dwz(d, 0, VH_BLK_T_DISCARD, &(struct vh_blk_dwz_seg){ 0, 8, 0 }, 1),
			      VH_BLK_S_UNSUPP, "discard without the feature");
		goto out;
	}
	uint32_t bsec = blk_sectors(d);
	const struct vh_blk_config *c = vblk_host_config(d);
	uint32_t al = c->discard_sector_alignment ? c->discard_sector_alignment : bsec;
	if (al < bsec)
		al = bsec;
	const uint64_t base = 2048;	/* 1 MiB in */
	const uint32_t n = 64 * al;
	REQUIRE(write_verify(d, 0, base, n * SECTOR, O.seed));
	/* discard [base+8al, base+16al): zeroes there, the pattern around */
	EXPECT_STATUS(dwz(d, 0, VH_BLK_T_DISCARD, &(struct vh_blk_dwz_seg){ base + 8 * al, 8 * al, 0 }, 1),
		      VH_BLK_S_OK, "discard");
	CHECK(zeroes_at(d, 0, base + 8 * al, 8 * al));
	CHECK(read_check(d, 0, base, 8 * al * SECTOR, O.seed));
	CHECK(read_check(d, 0, base + 16 * al, 8 * al * SECTOR, O.seed));
	/* write zeroes, two segments, one with the unmap flag */
	struct vh_blk_dwz_seg two[2] = { { base + 20 * al, 4 * al, 0 },
					 { base + 30 * al, 6 * al, VH_BLK_WZ_F_UNMAP } };
	EXPECT_STATUS(dwz(d, 1 % vblk_host_num_queues(d), VH_BLK_T_WRITE_ZEROES, two, 2), VH_BLK_S_OK,
		      "write zeroes");
	CHECK(zeroes_at(d, 0, base + 20 * al, 4 * al));
	CHECK(zeroes_at(d, 0, base + 30 * al, 6 * al));
	CHECK(read_check(d, 0, base + 24 * al, 6 * al * SECTOR, O.seed));
	CHECK(read_check(d, 0, base + 36 * al, 4 * al * SECTOR, O.seed));
	/* spec 5.2.6.2: UNSUPP for discard with the unmap flag, and for discard
	 * or write zeroes with any unknown flag; such a request changes nothing */
	struct { uint32_t type, flags; const char *what; } refused[] = {
		{ VH_BLK_T_DISCARD, VH_BLK_WZ_F_UNMAP, "discard with unmap" },
		{ VH_BLK_T_DISCARD, 0x2, "discard with flag 0x2" },
		{ VH_BLK_T_DISCARD, 0x80000000u, "discard with flag 0x80000000" },
		{ VH_BLK_T_WRITE_ZEROES, 0x2, "write zeroes with flag 0x2" },
		{ VH_BLK_T_WRITE_ZEROES, 0x4 | VH_BLK_WZ_F_UNMAP, "write zeroes with flags 0x5" },
	};
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		EXPECT_STATUS(dwz(d, 0, refused[i].type, &(struct vh_blk_dwz_seg){ base + 40 * al, 4 * al,
			      refused[i].flags }, 1), VH_BLK_S_UNSUPP, refused[i].what);
		/* a list whose second segment is refused: the first is not done either */
		struct vh_blk_dwz_seg l[2] = { { base + 44 * al, 2 * al, 0 }, { base + 46 * al, 2 * al, refused[i].flags } };
		if (refused[i].type == VH_BLK_T_DISCARD && refused[i].flags == VH_BLK_WZ_F_UNMAP)
			l[0].flags = 0;
		EXPECT_STATUS(dwz(d, 0, refused[i].type, l, 2), VH_BLK_S_UNSUPP, refused[i].what);
	}
	CHECK(read_check(d, 0, base + 40 * al, 8 * al * SECTOR, O.seed));
	/* a segment past the capacity: IOERR */
	EXPECT_STATUS(dwz(d, 0, VH_BLK_T_WRITE_ZEROES, &(struct vh_blk_dwz_seg){ capacity(d), al, 0 }, 1),
		      VH_BLK_S_IOERR, "write zeroes past the capacity");
	EXPECT_STATUS(dwz(d, 0, VH_BLK_T_DISCARD, &(struct vh_blk_dwz_seg){ capacity(d) - al, 2 * al, 0 }, 1),
		      VH_BLK_S_IOERR, "discard across the capacity");
	/* data that is not a whole number of segments: not OK */
	{
		uint8_t *b = xalloc(d, 24);
		REQUIRE(b);
		struct vh_blk_dwz_seg s = { base + 48 * al, al, 0 };
		memcpy(b, &s, sizeof(s));
		int st = rw(d, 0, VH_BLK_T_WRITE_ZEROES, 0, b, 24);
		if (st == VH_BLK_S_OK)
			FAIL("write zeroes with 24 bytes of segments succeeded");
		vblk_host_free(d, b);
	}
	CHECK(read_check(d, 0, base + 48 * al, 8 * al * SECTOR, O.seed));
	/* without the features negotiated: UNSUPP */
	vblk_host_close(d);
	base_opts(&o);
	o.features &= ~(VH_BIT(VH_BLK_F_DISCARD) | VH_BIT(VH_BLK_F_WRITE_ZEROES));
	d = open_dev(&o);
	REQUIRE(d);
	EXPECT_STATUS(dwz(d, 0, VH_BLK_T_DISCARD, &(struct vh_blk_dwz_seg){ base, al, 0 }, 1), VH_BLK_S_UNSUPP,
		      "discard not negotiated");
	EXPECT_STATUS(dwz(d, 0, VH_BLK_T_WRITE_ZEROES, &(struct vh_blk_dwz_seg){ base, al, 0 }, 1),
		      VH_BLK_S_UNSUPP, "write zeroes not negotiated");
	CHECK(read_check(d, 0, base, al * SECTOR, O.seed));
out:
	vblk_host_close(d);
}

static void case_read_only(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	uint8_t *before = NULL, *w = NULL, *after = NULL;
	REQUIRE(d);
	REQUIRE(O.read_only);
	CHECK(vblk_host_device_features(d) & VH_BIT(VH_BLK_F_RO));
	CHECK(vblk_host_features(d) & VH_BIT(VH_BLK_F_RO));
	before = xalloc(d, 8192);
	w = xalloc(d, 8192);
	after = xalloc(d, 8192);
	REQUIRE(before && w && after);
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, 32, before, 8192), VH_BLK_S_OK, "read");
	pattern_fill(w, 32, 16, SECTOR, O.seed);
	/* spec 5.2.6.1: IOERR for a write to a RO device, and no data written */
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_OUT, 32, w, 8192), VH_BLK_S_IOERR, "write on a read-only device");
	for (int k = 0; k < 2; k++) {
		uint32_t t = k ? VH_BLK_T_WRITE_ZEROES : VH_BLK_T_DISCARD;
		int st = dwz(d, 0, t, &(struct vh_blk_dwz_seg){ 32, 16, 0 }, 1);
		if (st != VH_BLK_S_IOERR && st != VH_BLK_S_UNSUPP)
			FAIL("%s on a read-only device: %d (%s)", k ? "write zeroes" : "discard", st, st_name(st));
	}
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_FLUSH, 0, NULL, 0), VH_BLK_S_OK, "flush on a read-only device");
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, 32, after, 8192), VH_BLK_S_OK, "read");
	CHECK(!memcmp(before, after, 8192));
	char id[VH_BLK_ID_BYTES + 1];
	CHECK_EQ(vblk_host_get_id(d, 0, id), 0);
out:
	if (d) {
		vblk_host_free(d, before);
		vblk_host_free(d, w);
		vblk_host_free(d, after);
	}
	vblk_host_close(d);
}

static void case_unsupported(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	REQUIRE(d);
	uint8_t *b = xalloc(d, 4096);
	REQUIRE(b);
	/* types this device does not implement (GET_LIFETIME, SECURE_ERASE and
	 * the zoned ones need features it does not offer) */
	static const uint32_t types[] = { 2, 3, 5, 6, 7, 9, 10, 12, 14, 15, 16, 17, 18, 19, 20, 0x100,
					  0x7fffffffu, 0xffffffffu };
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		for (int withdata = 0; withdata < 2; withdata++) {
			memset(b, 0x3c, 4096);
			struct areq a = { .r = { .type = types[i], .sector = 8, .buf = withdata ? b : NULL,
						 .len = withdata ? 512 : 0 } };
			if (!run_batch(d, 0, &a, 1, 1, 5000))
				goto out;
			char what[64];
			snprintf(what, sizeof(what), "type 0x%x%s", types[i], withdata ? " with data" : "");
			EXPECT_STATUS(a.r.status, VH_BLK_S_UNSUPP, what);
			/* nothing but the status byte was written (type 10's data is
			 * device-writable: it must stay as it was) */
			CHECK(all_byte(b, 4096, 0x3c));
		}
	}
	CHECK(serve_ok(d, 0, 8, O.seed));
out:
	vblk_host_close(d);
}

static void case_past_capacity(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	REQUIRE(d);
	uint64_t cap = capacity(d);
	uint32_t bs = blk_sectors(d) * SECTOR;
	REQUIRE(cap >= 2 * bs / SECTOR);
	uint64_t last = cap - bs / SECTOR;
	uint8_t *b = xalloc(d, 3 * bs), *w = xalloc(d, 2 * bs);
	REQUIRE(b && w);
	if (!O.read_only)
		CHECK(write_verify(d, 0, last, bs, O.seed));
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, last, b, bs), VH_BLK_S_OK, "read of the last block");
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, cap, b, bs), VH_BLK_S_IOERR, "read at the capacity");
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, last, b, 2 * bs), VH_BLK_S_IOERR, "read across the capacity");
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, cap + 1000000, b, bs), VH_BLK_S_IOERR, "read far past");
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, 1ull << 63, b, bs), VH_BLK_S_IOERR, "read at 2^63");
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, UINT64_MAX - bs / SECTOR + 1, b, 2 * bs), VH_BLK_S_IOERR,
		      "read wrapping past 2^64");
	pattern_fill(w, last, 2 * bs / SECTOR, SECTOR, O.seed + 9);
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_OUT, last, w, 2 * bs), VH_BLK_S_IOERR, "write across the capacity");
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_OUT, cap, w, bs), VH_BLK_S_IOERR, "write at the capacity");
	if (!O.read_only)
		CHECK(read_check(d, 0, last, bs, O.seed));	/* the failed write left it alone */
	if (bs == SECTOR) {
		/* a data length that is not a multiple of 512: IOERR */
		EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, 0, b, 700), VH_BLK_S_IOERR, "read of 700 bytes");
	} else {
		EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, 1, b, bs), VH_BLK_S_IOERR, "read not block aligned");
	}
	/* the queue still works */
	EXPECT_STATUS(rw(d, 0, VH_BLK_T_IN, 0, b, bs), VH_BLK_S_OK, "read after the errors");
out:
	vblk_host_close(d);
}

/* ---- framing: legal but unusual layouts ------------------------------------------------------- */

struct raw_bufs {
	uint8_t *hdr;		/* 64 bytes */
	uint8_t *data;		/* 16 KiB */
	uint8_t *st;		/* 64 bytes */
	uint64_t hdr_a, data_a, st_a;
};

static bool raw_alloc(struct vblk_host *d, struct raw_bufs *b)
{
	b->hdr = xalloc(d, 64);
	b->data = xalloc(d, 16384);
	b->st = xalloc(d, 64);
	if (!b->hdr || !b->data || !b->st)
		return false;
	b->hdr_a = dev_addr(d, b->hdr, 64);
	b->data_a = dev_addr(d, b->data, 16384);
	b->st_a = dev_addr(d, b->st, 64);
	return true;
}

static void raw_free(struct vblk_host *d, struct raw_bufs *b)
{
	vblk_host_free(d, b->hdr);
	vblk_host_free(d, b->data);
	vblk_host_free(d, b->st);
}

static void set_hdr(struct raw_bufs *b, uint32_t type, uint64_t sector)
{
	struct vh_blk_req_hdr h = { type, 0, sector };
	memcpy(b->hdr, &h, sizeof(h));
}

/* Submit a raw request and wait for it up to ms. 1: used (len in
 * *used_len), 0: not used within ms, < 0: driver error. */
static int raw_wait(struct vblk_host *d, uint16_t q, const struct vblk_host_seg *s, unsigned n, bool ind,
		    const struct vring_host_raw *desc, unsigned ndesc, int ms, uint32_t *used_len)
{
	unsigned outstanding = 1;
	struct areq a = { .outstanding = &outstanding };
	a.r.cb = areq_done;
	int rc = desc ? vblk_host_submit_desc(d, q, desc, ndesc, &a.r) : vblk_host_submit_raw(d, q, s, n, ind, &a.r);
	if (rc)
		return rc;
	int64_t end = now_ms() + ms;
	while (outstanding && now_ms() < end) {
		rc = vblk_host_poll(d, q, 0);
		if (rc < 0)
			return rc;
		if (outstanding)
			sleep_ms(1);
	}
	if (outstanding) {
		/* never used: the slot keeps a pointer to a; detach it */
		vring_host_set_cookie(vblk_host_vring(d, q), a.r.head, NULL);
		return 0;
	}
	*used_len = a.r.used_len;
	return 1;
}

static void case_framing(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	struct raw_bufs b = { 0 };
	uint32_t ul = 0;
	REQUIRE(d);
	REQUIRE(raw_alloc(d, &b));
	uint32_t bs = blk_sectors(d) * SECTOR;
	const uint64_t sec = 4096;
	uint32_t len = 2 * bs;

	/* OUT: header split 4 + 12, data in pieces of 100, 412, rest; status
	 * alone (virtio 1.x: no assumption about framing) */
	if (!O.read_only) {
		pattern_fill(b.data, sec, len / SECTOR, SECTOR, O.seed);
		set_hdr(&b, VH_BLK_T_OUT, sec);
		b.st[0] = 0xff;
		struct vblk_host_seg s[] = {
			{ b.hdr_a, 4, false }, { b.hdr_a + 4, 12, false }, { b.data_a, 100, false },
			{ b.data_a + 100, 412, false }, { b.data_a + 512, len - 512, false }, { b.st_a, 1, true },
		};
		CHECK_EQ(raw_wait(d, 0, s, 6, false, NULL, 0, 5000, &ul), 1);
		EXPECT_STATUS(b.st[0], VH_BLK_S_OK, "OUT with a split header");
		CHECK(read_check(d, 0, sec, len, O.seed));
		/* OUT: header and data in one buffer */
		memmove(b.data + 16, b.data, len);
		pattern_fill(b.data + 16, sec + len / SECTOR, len / SECTOR, SECTOR, O.seed);
		struct vh_blk_req_hdr h = { VH_BLK_T_OUT, 0, sec + len / SECTOR };
		memcpy(b.data, &h, 16);
		b.st[0] = 0xff;
		struct vblk_host_seg s2[] = { { b.data_a, 16 + len, false }, { b.st_a, 1, true } };
		CHECK_EQ(raw_wait(d, 0, s2, 2, false, NULL, 0, 5000, &ul), 1);
		EXPECT_STATUS(b.st[0], VH_BLK_S_OK, "OUT with header and data in one buffer");
		CHECK(read_check(d, 0, sec + len / SECTOR, len, O.seed));
	}
	/* IN: data and status in one writable buffer */
	memset(b.data, 0x11, 16384);
	set_hdr(&b, VH_BLK_T_IN, sec);
	struct vblk_host_seg s3[] = { { b.hdr_a, 16, false }, { b.data_a, len + 1, true } };
	CHECK_EQ(raw_wait(d, 0, s3, 2, false, NULL, 0, 5000, &ul), 1);
	EXPECT_STATUS(b.data[len], VH_BLK_S_OK, "IN with the status in the data buffer");
	CHECK_EQ(ul, len + 1);
	if (!O.read_only) {
		CHECK(pattern_check(b.data, sec, len / SECTOR, SECTOR, O.seed) < 0);
	}
	CHECK(all_byte(b.data + len + 1, 64, 0x11));
	/* IN: data split at odd places, status alone */
	memset(b.data, 0x22, 16384);
	struct vblk_host_seg s4[] = { { b.hdr_a, 16, false }, { b.data_a, 1, true }, { b.data_a + 1, 511, true },
				      { b.data_a + 512, len - 512, true }, { b.st_a, 1, true } };
	b.st[0] = 0xff;
	CHECK_EQ(raw_wait(d, 0, s4, 5, false, NULL, 0, 5000, &ul), 1);
	EXPECT_STATUS(b.st[0], VH_BLK_S_OK, "IN in odd pieces");
	CHECK_EQ(ul, len + 1);
	if (!O.read_only)
		CHECK(pattern_check(b.data, sec, len / SECTOR, SECTOR, O.seed) < 0);
	/* the same through an indirect table */
	if (vblk_host_features(d) & VH_BIT(VH_F_RING_INDIRECT_DESC)) {
		memset(b.data, 0x33, 16384);
		b.st[0] = 0xff;
		CHECK_EQ(raw_wait(d, 0, s4, 5, true, NULL, 0, 5000, &ul), 1);
		EXPECT_STATUS(b.st[0], VH_BLK_S_OK, "IN in odd pieces, indirect");
		CHECK_EQ(ul, len + 1);
		if (!O.read_only)
			CHECK(pattern_check(b.data, sec, len / SECTOR, SECTOR, O.seed) < 0);
		/* a direct header followed by an indirect table with the rest
		 * (INDIRECT on the last descriptor of a chain) */
		struct vh_desc *t;
		uint64_t ta;
		struct vring_host *vq = vblk_host_vring(d, 0);
		uint16_t head = vring_host_next_head(vq);
		REQUIRE(vring_host_indirect_table(vq, head, &t, &ta) == 0);
		t[0] = (struct vh_desc){ b.data_a, len, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 1 };
		t[1] = (struct vh_desc){ b.st_a, 1, VH_DESC_F_WRITE, 0 };
		struct vring_host_raw rd[] = { { b.hdr_a, 16, VH_DESC_F_NEXT, 1, false },
					       { ta, 32, VH_DESC_F_INDIRECT, 0, false } };
		memset(b.data, 0x44, 16384);
		b.st[0] = 0xff;
		CHECK_EQ(raw_wait(d, 0, NULL, 0, false, rd, 2, 5000, &ul), 1);
		EXPECT_STATUS(b.st[0], VH_BLK_S_OK, "IN, direct header + indirect rest");
		if (!O.read_only)
			CHECK(pattern_check(b.data, sec, len / SECTOR, SECTOR, O.seed) < 0);
	}
out:
	if (d)
		raw_free(d, &b);
	vblk_host_close(d);
}

/* ---- malformed chains ------------------------------------------------------------------------- */


/* After a malformed chain: the device either handed it back unused (len 0,
 * nothing written) or stopped the queue. Then the queue (or, when it
 * stopped, another queue) serves a normal request. */
static void mal_after(struct vblk_host *d, uint16_t q, int got, uint32_t ul, struct raw_bufs *b, const char *what,
		      bool allow_stop)
{
	if (got < 0) {
		FAIL("%s: driver error %d", what, got);
		return;
	}
	if (b && b->st[0] != 0xff)
		FAIL("%s: status byte written (%u)", what, b->st[0]);
	if (b && !all_byte(b->data, 16384, 0xc3))
		FAIL("%s: the data buffer was written", what);
	if (got == 1) {
		if (ul != 0)
			FAIL("%s: used with length %u, want 0 (unused)", what, ul);
		/* the queue goes on */
		if (!serve_ok(d, q, 512 + q * 64, O.seed))
			FAIL("%s: queue %u does not serve after it", what, q);
		diag("%s: handed back unused", what);
		return;
	}
	if (!allow_stop)
		FAIL("%s: never used within 1 s (the device should hand malformed chains back)", what);
	else
		diag("%s: not handed back within 1 s: queue %u stopped", what, q);
	uint16_t other = (uint16_t)((q + 1) % vblk_host_num_queues(d));
	if (other != q && !serve_ok(d, other, 768, O.seed))
		FAIL("%s: queue %u does not serve after queue %u got it", what, other, q);
}

struct mal {
	const char *name;
	bool needs_indirect;	/* negotiated */
	bool no_indirect;	/* open without INDIRECT_DESC */
	int (*build)(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd);
	bool pci_only;		/* needs the vfio-user transport */
};

/* Builders fill rd (returning its length); the header is a 4 KiB read of
 * sector 64 into b->data with the status in b->st unless said otherwise. */
static int mb_loop(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 1, false };
	return 3;
}

static int mb_self_loop(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 0, false };
	return 1;
}

static int mb_next_oob(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 40000, true };
	return 2;
}

static int mb_next_eq_size(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, vblk_host_queue_size(d, 0), true };
	(void)b;
	return 1;
}

static int mb_write_first(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	set_hdr(b, VH_BLK_T_OUT, 64);
	rd[0] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->data_a, 4096, VH_DESC_F_NEXT, 3, false };
	rd[3] = (struct vring_host_raw){ b->st_a + 8, 1, VH_DESC_F_WRITE, 0, false };
	return 4;
}

static int mb_read_after_write(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->hdr_a + 32, 16, VH_DESC_F_NEXT, 3, false };
	rd[3] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE, 0, false };
	return 4;
}

static int mb_short_hdr(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 8, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE, 0, false };
	return 3;
}

static int mb_short_hdr15(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 15, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE, 0, false };
	return 2;
}

static int mb_no_status(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	set_hdr(b, VH_BLK_T_OUT, 64);
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 4096, 0, 0, false };
	return 2;
}

static int mb_no_status_flush(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	set_hdr(b, VH_BLK_T_FLUSH, 0);
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, 0, 0, false };
	return 1;
}

static int mb_zero_len_status(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	set_hdr(b, VH_BLK_T_FLUSH, 0);
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->st_a, 0, VH_DESC_F_WRITE, 0, false };
	return 2;
}

/* indirect tables live in the driver's per-head area */
static struct vh_desc *itable(struct vblk_host *d, uint64_t *ta)
{
	struct vring_host *vq = vblk_host_vring(d, 0);
	struct vh_desc *t = NULL;
	if (vring_host_indirect_table(vq, vring_host_next_head(vq), &t, ta))
		return NULL;
	return t;
}

static int mb_ind_len(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd, uint32_t len,
		      uint16_t flags)
{
	uint64_t ta;
	struct vh_desc *t = itable(d, &ta);
	if (!t)
		return -1;
	t[0] = (struct vh_desc){ b->hdr_a, 16, VH_DESC_F_NEXT, 1 };
	t[1] = (struct vh_desc){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2 };
	t[2] = (struct vh_desc){ b->st_a, 1, VH_DESC_F_WRITE, 0 };
	bool next = flags & VH_DESC_F_NEXT;
	rd[0] = (struct vring_host_raw){ ta, len, flags, next ? 1 : 0, false };
	rd[1] = (struct vring_host_raw){ b->st_a + 16, 1, VH_DESC_F_WRITE, 0, false };
	return next ? 2 : 1;
}

static int mb_ind_len40(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	return mb_ind_len(d, b, rd, 40, VH_DESC_F_INDIRECT);
}

static int mb_ind_len0(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	return mb_ind_len(d, b, rd, 0, VH_DESC_F_INDIRECT);
}

static int mb_ind_next(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	return mb_ind_len(d, b, rd, 48, VH_DESC_F_INDIRECT | VH_DESC_F_NEXT);
}

static int mb_ind_unneg(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	/* no tables without the feature: point at a table built in data */
	(void)d;
	struct vh_desc t[3] = {
		{ b->hdr_a, 16, VH_DESC_F_NEXT, 1 },
		{ b->data_a + 8192, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2 },
		{ b->st_a, 1, VH_DESC_F_WRITE, 0 },
	};
	/* the table goes into the status page, past the status byte */
	memcpy(b->st + 16, t, sizeof(t));
	rd[0] = (struct vring_host_raw){ b->st_a + 16, 48, VH_DESC_F_INDIRECT, 0, false };
	return 1;
}

static int mb_ind_nested(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	uint64_t ta;
	struct vh_desc *t = itable(d, &ta);
	if (!t)
		return -1;
	/* a table whose second entry points at another table */
	t[0] = (struct vh_desc){ b->hdr_a, 16, VH_DESC_F_NEXT, 1 };
	t[1] = (struct vh_desc){ ta + 48, 32, VH_DESC_F_INDIRECT, 0 };
	t[3] = (struct vh_desc){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 1 };
	t[4] = (struct vh_desc){ b->st_a, 1, VH_DESC_F_WRITE, 0 };
	rd[0] = (struct vring_host_raw){ ta, 32, VH_DESC_F_INDIRECT, 0, false };
	return 1;
}

static int mb_ind_loop(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	uint64_t ta;
	struct vh_desc *t = itable(d, &ta);
	if (!t)
		return -1;
	t[0] = (struct vh_desc){ b->hdr_a, 16, VH_DESC_F_NEXT, 1 };
	t[1] = (struct vh_desc){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2 };
	t[2] = (struct vh_desc){ b->st_a, 1, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 1 };
	rd[0] = (struct vring_host_raw){ ta, 48, VH_DESC_F_INDIRECT, 0, false };
	return 1;
}

static int mb_ind_next_oob(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	uint64_t ta;
	struct vh_desc *t = itable(d, &ta);
	if (!t)
		return -1;
	t[0] = (struct vh_desc){ b->hdr_a, 16, VH_DESC_F_NEXT, 1 };
	t[1] = (struct vh_desc){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 3 };
	t[2] = (struct vh_desc){ b->st_a, 1, VH_DESC_F_WRITE, 0 };
	rd[0] = (struct vring_host_raw){ ta, 48, VH_DESC_F_INDIRECT, 0, false };
	return 1;
}

static int mb_ind_outside(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	(void)b;
	rd[0] = (struct vring_host_raw){ 0x1000, 48, VH_DESC_F_INDIRECT, 0, false };
	return 1;
}

/* Device addresses outside everything the driver shared: below the first
 * region, in the gap between the two, past the last, and straddling the
 * end of a region. */
static uint64_t outside_addr(struct vblk_host *d, int which)
{
	const struct vblk_host_opts *o = &d->opts;
	switch (which) {
	case 0: return 0x1000;
	case 1: return o->mem_base + o->mem_size + 4096;			/* the gap */
	case 2: return o->mem_base + 2 * (o->mem_size + o->mem_gap) + (1u << 20);	/* past the last */
	default: return o->mem_base + o->mem_size - 100;			/* straddles the end */
	}
}

static int mb_data_outside(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd, int which)
{
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ outside_addr(d, which), 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE, 0, false };
	return 3;
}

static int mb_data_outside0(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	return mb_data_outside(d, b, rd, 0);
}

static int mb_data_gap(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	return mb_data_outside(d, b, rd, 1);
}

static int mb_data_past(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	return mb_data_outside(d, b, rd, 2);
}

static int mb_data_straddle(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	return mb_data_outside(d, b, rd, 3);
}

static int mb_hdr_outside(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	rd[0] = (struct vring_host_raw){ outside_addr(d, 1), 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE, 0, false };
	return 3;
}

static int mb_status_outside(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ outside_addr(d, 2), 1, VH_DESC_F_WRITE, 0, false };
	return 3;
}

/* Memory the client maps without a file descriptor (vfio-user DMA_MAP
 * with no fd, as QEMU maps a VM's firmware ROM): the device cannot reach
 * it, so a chain pointing there is treated as one pointing outside the
 * memory. 64 KiB at the start of the gap between the two regions. */
static uint64_t fdless_addr(struct vblk_host *d)
{
	return d->opts.mem_base + d->opts.mem_size;
}

static int map_fdless(struct vblk_host *d)
{
	int rc = vfu_dma_map(vblk_host_vfu(d), fdless_addr(d), 0x10000, -1, 0,
			     VFU_PROT_READ | VFU_PROT_WRITE);
	if (rc)
		FAIL("DMA_MAP without an fd at 0x%llx: %s", (unsigned long long)fdless_addr(d), strerror(-rc));
	return rc;
}

static int mb_data_fdless(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	int rc = map_fdless(d);
	if (rc)
		return rc;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ fdless_addr(d) + 0x1000, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE, 0, false };
	return 3;
}

static int mb_hdr_fdless(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	int rc = map_fdless(d);
	if (rc)
		return rc;
	rd[0] = (struct vring_host_raw){ fdless_addr(d), 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE, 0, false };
	return 3;
}

static int mb_status_fdless(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	int rc = map_fdless(d);
	if (rc)
		return rc;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ fdless_addr(d) + 0x2000, 1, VH_DESC_F_WRITE, 0, false };
	return 3;
}

static int mb_ind_fdless(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)b;
	int rc = map_fdless(d);
	if (rc)
		return rc;
	rd[0] = (struct vring_host_raw){ fdless_addr(d) + 0x3000, 48, VH_DESC_F_INDIRECT, 0, false };
	return 1;
}

static int mb_huge_len(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ b->data_a, 0xfffffe00u, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE, 0, false };
	return 3;
}

static int mb_addr_wrap(struct vblk_host *d, struct raw_bufs *b, struct vring_host_raw *rd)
{
	(void)d;
	rd[0] = (struct vring_host_raw){ b->hdr_a, 16, VH_DESC_F_NEXT, 1, false };
	rd[1] = (struct vring_host_raw){ UINT64_MAX - 1000, 4096, VH_DESC_F_WRITE | VH_DESC_F_NEXT, 2, false };
	rd[2] = (struct vring_host_raw){ b->st_a, 1, VH_DESC_F_WRITE, 0, false };
	return 3;
}

static const struct mal mals[] = {
	{ "descriptor loop", false, false, mb_loop },
	{ "descriptor pointing at itself", false, false, mb_self_loop },
	{ "next beyond the ring", false, false, mb_next_oob },
	{ "next equal to the queue size", false, false, mb_next_eq_size },
	{ "writable before readable", false, false, mb_write_first },
	{ "readable after writable", false, false, mb_read_after_write },
	{ "header of 8 bytes", false, false, mb_short_hdr },
	{ "header of 15 bytes", false, false, mb_short_hdr15 },
	{ "no status byte (write)", false, false, mb_no_status },
	{ "no status byte (flush)", false, false, mb_no_status_flush },
	{ "zero-length status buffer", false, false, mb_zero_len_status },
	{ "indirect table of 40 bytes", true, false, mb_ind_len40 },
	{ "indirect table of 0 bytes", true, false, mb_ind_len0 },
	{ "INDIRECT with NEXT", true, false, mb_ind_next },
	{ "nested indirect table", true, false, mb_ind_nested },
	{ "loop inside an indirect table", true, false, mb_ind_loop },
	{ "indirect next beyond the table", true, false, mb_ind_next_oob },
	{ "indirect table outside the memory", true, false, mb_ind_outside },
	{ "indirect without the feature", false, true, mb_ind_unneg },
	{ "data below the shared memory", false, false, mb_data_outside0 },
	{ "data in the gap between regions", false, false, mb_data_gap },
	{ "data past the shared memory", false, false, mb_data_past },
	{ "data straddling a region's end", false, false, mb_data_straddle },
	{ "header outside the memory", false, false, mb_hdr_outside },
	{ "status outside the memory", false, false, mb_status_outside },
	{ "descriptor of 4 GiB", false, false, mb_huge_len },
	{ "address wrapping past 2^64", false, false, mb_addr_wrap },
	{ "data in memory mapped without an fd", false, false, mb_data_fdless, true },
	{ "header in memory mapped without an fd", false, false, mb_hdr_fdless, true },
	{ "status in memory mapped without an fd", false, false, mb_status_fdless, true },
	{ "indirect table in memory mapped without an fd", true, false, mb_ind_fdless, true },
};

static void case_malformed(void)
{
	struct vblk_host_opts o;
	unsigned ran = 0;
	for (size_t i = 0; i < sizeof(mals) / sizeof(mals[0]); i++) {
		const struct mal *m = &mals[i];
		if ((m->needs_indirect && O.indirect <= 0) || (m->pci_only && is_vhu()))
			continue;
		base_opts(&o);
		if (m->no_indirect)
			o.features &= ~VH_BIT(VH_F_RING_INDIRECT_DESC);
		struct vblk_host *d = open_all(&o);
		struct raw_bufs b = { 0 };
		if (!d) {
			FAIL("%s: the service does not accept a connection any more", m->name);
			return;
		}
		if (!raw_alloc(d, &b)) {
			vblk_host_close(d);
			return;
		}
		set_hdr(&b, VH_BLK_T_IN, 64);
		memset(b.data, 0xc3, 16384);
		memset(b.st, 0xff, 64);
		struct vring_host_raw rd[8];
		int n = m->build(d, &b, rd);
		uint32_t ul = 0;
		int got = n > 0 ? raw_wait(d, 0, NULL, 0, false, rd, (unsigned)n, 1000, &ul) : -EINVAL;
		mal_after(d, 0, got, ul, &b, m->name, true);
		struct vblk_host_qstats st;
		vblk_host_qstats(d, 0, &st);
		if (st.bad_used)
			FAIL("%s: the device used %llu entries that were not in flight", m->name,
			     (unsigned long long)st.bad_used);
		raw_free(d, &b);
		vblk_host_close(d);
		ran++;
	}
	diag("%u malformed chains", ran);

	/* an avail ring entry naming a descriptor >= the queue size: consumed
	 * and dropped (it names no chain to give back) */
	base_opts(&o);
	struct vblk_host *d = open_all(&o);
	REQUIRE(d);
	struct vring_host *vq = vblk_host_vring(d, 0);
	vring_host_add_raw_head(vq, (uint16_t)(vq->num + 3));
	vring_host_add_raw_head(vq, 0xffff);
	REQUIRE_OK(vblk_host_kick(d, 0));
	sleep_ms(100);
	CHECK(serve_ok(d, 0, 512, O.seed));
	struct vblk_host_qstats st;
	vblk_host_qstats(d, 0, &st);
	CHECK_EQ(st.bad_used, 0);
	vblk_host_close(d);

	/* the available index jumping more than the ring size ahead: the ring
	 * is corrupt; the device stops that queue (spec: it may set
	 * DEVICE_NEEDS_RESET); the other queues and the next connection are
	 * served */
	base_opts(&o);
	d = open_all(&o);
	REQUIRE(d);
	vq = vblk_host_vring(d, 0);
	__atomic_store_n(&vq->avail->idx, (uint16_t)(vq->avail_idx + vq->num + 7), __ATOMIC_RELEASE);
	vring_host_notify(vq);
	sleep_ms(100);
	vblk_host_qstats(d, 0, &st);
	CHECK_EQ(st.bad_used, 0);
	CHECK_EQ(vring_host_used_pending(vq), 0);
	if (vblk_host_num_queues(d) > 1)
		CHECK(serve_ok(d, 1, 768, O.seed));
	else
		diag("one queue only: the other-queue check is skipped");
	vblk_host_close(d);
	d = open_all(&o);
	REQUIRE(d);
	CHECK(serve_ok(d, 0, 768, O.seed));
out:
	vblk_host_close(d);
}

/* ---- notifications ------------------------------------------------------------------------------ */

/* Requests waited for through the interrupt eventfd only, with idle gaps
 * (the device must re-enable kicks before it sleeps). */
static void notif_pass(bool event_idx)
{
	struct vblk_host_opts o;
	base_opts(&o);
	o.irq = VBLK_HOST_IRQ_REQUIRED;
	if (!event_idx)
		o.features &= ~VH_BIT(VH_F_RING_EVENT_IDX);
	o.timeout_ms = 3000;
	struct vblk_host *d = open_all(&o);
	uint8_t *b = NULL;
	REQUIRE(d);
	CHECK_EQ(!!(vblk_host_features(d) & VH_BIT(VH_F_RING_EVENT_IDX)), event_idx);
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++)
		CHECK(vblk_host_queue_has_irq(d, q));
	b = xalloc(d, 8192);
	REQUIRE(b);
	for (int i = 0; i < 60; i++) {
		uint16_t q = (uint16_t)(i % vblk_host_num_queues(d));
		uint32_t type = ((i & 1) || O.read_only) ? VH_BLK_T_IN : VH_BLK_T_OUT;
		int st = rw(d, q, type, 128, b, 4096);
		if (st != VH_BLK_S_OK) {
			FAIL("event_idx %d: request %d on q%u: %d (%s)", event_idx, i, q, st,
			     st < 0 ? strerror(-st) : st_name(st));
			break;
		}
		if (i % 10 == 9)
			sleep_ms(60);	/* long enough for the reactor to sleep */
	}
	struct vring_host *vq = vblk_host_vring(d, 0);
	sleep_ms(50);
	/* idle: the device asked to be kicked for the next request */
	if (event_idx) {
		uint16_t avail_event = __atomic_load_n((uint16_t *)&vq->used->ring[vq->num], __ATOMIC_ACQUIRE);
		CHECK_EQ(avail_event, vq->avail_idx);
	} else {
		CHECK_EQ(__atomic_load_n(&vq->used->flags, __ATOMIC_ACQUIRE) & VH_USED_F_NO_NOTIFY, 0);
	}
	struct vblk_host_qstats st0;
	CHECK_EQ(vblk_host_wait(d, 0, 50), -ETIMEDOUT);
	vblk_host_qstats(d, 0, &st0);
	CHECK(st0.irqs > 0);
	CHECK(st0.kicks > 0);

	/* used-buffer notifications switched off: the device does not signal
	 * (2.7.7.2: with flags NO_INTERRUPT it SHOULD NOT; with EVENT_IDX only
	 * when used->idx passes used_event) */
	/* consume any interrupt still pending from before (a completion found
	 * by polling leaves its eventfd count behind) */
	CHECK_EQ(vblk_host_wait(d, 0, 100), -ETIMEDOUT);
	vring_host_disable_cb(vq);
	struct areq a[16];
	for (int i = 0; i < 16; i++)
		a[i] = (struct areq){ .r = { .type = VH_BLK_T_IN, .sector = 128 + 8 * (uint64_t)i, .buf = b,
					     .len = 4096 } };
	unsigned outstanding = 16;
	for (int i = 0; i < 16; i++) {
		a[i].outstanding = &outstanding;
		a[i].r.cb = areq_done;
		REQUIRE_OK(vblk_host_queue_req(d, 0, &a[i].r));
	}
	REQUIRE_OK(vblk_host_kick(d, 0));
	int64_t end = now_ms() + 5000;
	while (outstanding && now_ms() < end) {
		vblk_host_poll(d, 0, 0);
		sleep_ms(1);
	}
	CHECK_EQ(outstanding, 0);
	struct vblk_host_qstats st1, st2;
	vblk_host_qstats(d, 0, &st1);
	/* wait() re-enables notifications and sleeps on the eventfd: anything
	 * signalled while they were off shows up as an interrupt here */
	CHECK_EQ(vblk_host_wait(d, 0, 200), -ETIMEDOUT);
	vblk_host_qstats(d, 0, &st2);
	if (st2.irqs != st1.irqs)
		FAIL("event_idx %d: the device signalled while used-buffer notifications were off", event_idx);
	/* and on again (wait() turned them on): signalled; the completion may
	 * be found by polling first, so collect the interrupt afterwards */
	CHECK_EQ(rw(d, 0, VH_BLK_T_IN, 128, b, 4096), VH_BLK_S_OK);
	CHECK_EQ(vblk_host_wait(d, 0, 100), -ETIMEDOUT);
	vblk_host_qstats(d, 0, &st1);
	CHECK(st1.irqs > st2.irqs);
out:
	if (d)
		vblk_host_free(d, b);
	vblk_host_close(d);
}

static void case_event_idx(void)
{
	notif_pass(true);
	notif_pass(false);
}

static void case_interrupts(void)
{
	struct vblk_host_opts o;
	/* interrupts required: every queue gets one and requests complete
	 * through it */
	base_opts(&o);
	o.irq = VBLK_HOST_IRQ_REQUIRED;
	struct vblk_host *d = open_all(&o);
	REQUIRE(d);
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++) {
		CHECK(vblk_host_queue_has_irq(d, q));
		CHECK(serve_ok(d, q, 256 + 32 * q, O.seed));
		/* an interrupt of a completion found by polling is collected here */
		CHECK_EQ(vblk_host_wait(d, q, 50), -ETIMEDOUT);
		struct vblk_host_qstats st;
		vblk_host_qstats(d, q, &st);
		CHECK(st.irqs > 0);
	}
	vblk_host_close(d);
	/* polling: no interrupts at all */
	base_opts(&o);
	o.irq = VBLK_HOST_IRQ_POLL;
	d = open_all(&o);
	REQUIRE(d);
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++) {
		CHECK(!vblk_host_queue_has_irq(d, q));
		CHECK(serve_ok(d, q, 256 + 32 * q, O.seed));
		struct vblk_host_qstats st;
		vblk_host_qstats(d, q, &st);
		CHECK_EQ(st.irqs, 0);
	}
out:
	vblk_host_close(d);
}

/* IN_ORDER (when offered): used in the order made available */
static void case_in_order(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	struct areq *a = NULL;
	uint8_t *b = NULL;
	REQUIRE(d);
	uint64_t off = vblk_host_device_features(d);
	vblk_host_close(d);
	d = NULL;
	if (O.in_order > 0)
		CHECK(off & VH_BIT(VH_F_IN_ORDER));
	if (!(off & VH_BIT(VH_F_IN_ORDER))) {
		diag("IN_ORDER not offered");
		goto out;
	}
	base_opts(&o);
	o.features = (off & VBLK_HOST_FEATURES_KNOWN) | VH_BIT(VH_F_IN_ORDER);
	o.force_features = true;
	d = open_dev(&o);
	REQUIRE(d);
	CHECK(vblk_host_features(d) & VH_BIT(VH_F_IN_ORDER));
	enum { N = 64 };
	a = calloc(N, sizeof(*a));
	b = xalloc(d, N * 65536);
	REQUIRE(a && b);
	uint32_t ctr = 0;
	uint32_t big = vblk_host_max_segments(d) * vblk_host_config(d)->size_max;
	if (big > 65536)
		big = 65536;
	for (int i = 0; i < N; i++) {
		uint32_t len = (i % 3 == 0) ? big : (i % 3 == 1) ? 512 : 4096;
		uint32_t type = (i % 5 == 4) ? 99 : (O.read_only || (i & 1)) ? VH_BLK_T_IN : VH_BLK_T_OUT;
		a[i].r = (struct vblk_host_req){ .type = type, .sector = 1024 + 128 * (uint64_t)i,
						 .buf = b + (size_t)i * 65536, .len = len };
		if (i == 10)
			a[i].r.sector = capacity(d);	/* an error in the middle */
		a[i].order_ctr = &ctr;
	}
	/* request MAL is a malformed chain (an 8-byte header): handed back
	 * unused, and in its place in the order too */
	enum { MAL = 20 };
	unsigned outstanding = 0;
	for (int i = 0; i < N; i++) {
		a[i].outstanding = &outstanding;
		a[i].r.cb = areq_done;
		int rc;
		for (;;) {
			if (i == MAL) {
				struct vring_host_raw rd[2] = {
					{ dev_addr(d, b + (size_t)i * 65536, 8), 8, VH_DESC_F_NEXT, 1, false },
					{ dev_addr(d, b + (size_t)i * 65536 + 4096, 1), 1, VH_DESC_F_WRITE, 0, false },
				};
				rc = vblk_host_submit_desc(d, 0, rd, 2, &a[i].r);
			} else {
				rc = vblk_host_queue_req(d, 0, &a[i].r);
			}
			if (rc != -ENOSPC || !outstanding)
				break;
			vblk_host_kick(d, 0);
			if (vblk_host_wait(d, 0, 5000) < 0)
				break;
		}
		REQUIRE_OK(rc);
		outstanding++;
	}
	REQUIRE_OK(vblk_host_kick(d, 0));
	int64_t end = now_ms() + 10000;
	while (outstanding && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	REQUIRE(outstanding == 0);
	CHECK_EQ(a[MAL].r.used_len, 0);
	for (int i = 0; i < N; i++) {
		if ((int)a[i].order != i) {
			FAIL("request %d completed as number %u (IN_ORDER)", i, a[i].order);
			break;
		}
	}
out:
	free(a);
	if (d)
		vblk_host_free(d, b);
	vblk_host_close(d);
}

/* ---- vhost-user memory table changes while the rings run -------------------------------------- */

static void case_mem_table(void)
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
	int64_t end = now_ms() + 5000;
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
static void case_reconnect(void)
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

/* ---- cases driven from outside -------------------------------------------------------------------- */

/* suspend_probe: writes keep flowing ("# RUNNING"); a line on stdin says
 * the controller was suspended (the RPC returned): from then on nothing
 * completes, also not requests submitted meanwhile, for 300 ms ("#
 * SUSPENDED_OK ..."); the next line says it was resumed: everything
 * completes exactly once, with OK, and the data is there. */
#define SP_MAX (1u << 18)
static void case_suspend_probe(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	struct areq *a = calloc(SP_MAX, sizeof(*a));
	uint8_t *buf = NULL;
	char line[128];
	enum { NSEC = 8, DEPTH = 24, SLOTS = 2048 };
	const uint64_t base = 256;
	unsigned sub = 0, outstanding = 0;
	REQUIRE(d && a);
	REQUIRE(!O.read_only);
	buf = xalloc(d, (size_t)SLOTS * NSEC * SECTOR);
	REQUIRE(buf);
	/* request i writes slot i % SLOTS: the same pattern every time */
	for (unsigned k = 0; k < SLOTS; k++)
		pattern_fill(buf + (size_t)k * NSEC * SECTOR, base + (uint64_t)k * NSEC, NSEC, SECTOR, O.seed);
#define SUBMIT_ONE() do { \
		unsigned k_ = sub % SLOTS; \
		a[sub] = (struct areq){ .r = { .type = VH_BLK_T_OUT, .sector = base + (uint64_t)k_ * NSEC, \
					       .buf = buf + (size_t)k_ * NSEC * SECTOR, .len = NSEC * SECTOR, \
					       .cb = areq_done }, .outstanding = &outstanding }; \
		REQUIRE_OK(vblk_host_queue_req(d, 0, &a[sub].r)); \
		outstanding++; sub++; \
	} while (0)
#define REAP() do { int n_ = vblk_host_poll(d, 0, 0); if (n_ < 0) FAIL("poll: %d", n_); } while (0)

	say("RUNNING");
	while (!stdin_ready()) {
		while (outstanding < DEPTH && sub < SP_MAX - 64)
			SUBMIT_ONE();
		vblk_host_kick(d, 0);
		REAP();
		if (sub >= SP_MAX - 64)
			sleep_ms(1);
	}
	REQUIRE(wait_line(1000, line, sizeof(line)));
	/* suspended: what was fetched has completed; collect it */
	REAP();
	unsigned at_suspend = sub - outstanding;
	int64_t end = now_ms() + 300;
	while (now_ms() < end) {
		REAP();
		sleep_ms(5);
	}
	if (sub - outstanding != at_suspend)
		FAIL("%u completions arrived after the suspend RPC returned", sub - outstanding - at_suspend);
	unsigned before_new = sub - outstanding;
	for (int k = 0; k < 8; k++)
		SUBMIT_ONE();
	vblk_host_kick(d, 0);
	end = now_ms() + 300;
	while (now_ms() < end) {
		REAP();
		sleep_ms(5);
	}
	if (sub - outstanding != before_new)
		FAIL("%u requests were served while suspended", sub - outstanding - before_new);
	say("SUSPENDED_OK submitted=%u completed=%u outstanding=%u", sub, sub - outstanding, outstanding);
	REQUIRE(wait_line(30000, line, sizeof(line)));
	end = now_ms() + 10000;
	while (outstanding && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	REAP();
	diag("submitted %u, completed %u", sub, sub - outstanding);
	CHECK_EQ(outstanding, 0);
	unsigned bad = 0;
	for (unsigned i = 0; i < sub; i++) {
		if (a[i].ncomp != 1 || a[i].r.result || a[i].r.status != VH_BLK_S_OK) {
			if (bad++ < 5)
				FAIL("request %u: completed %d times, result %d, status %u", i, a[i].ncomp, a[i].r.result,
				     a[i].r.status);
		}
	}
	CHECK_EQ(bad, 0);
	struct vblk_host_qstats st;
	vblk_host_qstats(d, 0, &st);
	CHECK_EQ(st.bad_used, 0);
	CHECK_EQ(st.completed, st.submitted);
	/* every slot written (the slots past sub were never written) */
	for (unsigned k = 0; k < SLOTS && k < sub; k += 64) {
		unsigned n = sub - k < 64 ? sub - k : 64;
		if (!read_check(d, 0, base + (uint64_t)k * NSEC, n * NSEC * SECTOR, O.seed))
			break;
	}
	printf("# counts submitted=%u completed=%u\n", sub, sub - outstanding);
#undef SUBMIT_ONE
#undef REAP
out:
	if (d)
		vblk_host_free(d, buf);
	vblk_host_close(d);
	free(a);
}

/* attach_probe: reads keep flowing over [0, --span) and must hold the
 * pattern of the first bdev (seed --seed); "# RUNNING". A line says the
 * bdev was detached: nothing completes for 300 ms ("# DETACHED_OK").
 * The next line says the second bdev (pattern --seed2) is attached:
 * everything outstanding completes with OK and holds the second pattern,
 * as does every read after. */
static uint32_t g_seed2 = 2;
static uint64_t g_span = 8192;

static void case_attach_probe(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	enum { NSEC = 8, DEPTH = 16, MAXR = 1 << 17 };
	struct areq *a = calloc(MAXR, sizeof(*a));
	uint8_t *buf = NULL;
	char line[128];
	unsigned sub = 0, outstanding = 0, checked = 0, phase_a = 0, phase_b = 0;
	REQUIRE(d && a);
	uint64_t cap0 = capacity(d);
	buf = xalloc(d, (size_t)DEPTH * 2 * NSEC * SECTOR);
	REQUIRE(buf);
#define SUBMIT_ONE() do { \
		a[sub] = (struct areq){ .r = { .type = VH_BLK_T_IN, .sector = ((uint64_t)sub * NSEC) % g_span, \
					       .buf = buf + (size_t)(sub % (2 * DEPTH)) * NSEC * SECTOR, \
					       .len = NSEC * SECTOR, .cb = areq_done }, .outstanding = &outstanding }; \
		REQUIRE_OK(vblk_host_queue_req(d, 0, &a[sub].r)); \
		outstanding++; sub++; \
	} while (0)
	/* check completed reads in submission order (buffers are reused
	 * after 2 * DEPTH submissions, never while outstanding) */
#define CHECK_DONE(seed_, cnt_) do { \
		while (checked < sub && a[checked].ncomp) { \
			struct vblk_host_req *r_ = &a[checked].r; \
			if (r_->status != VH_BLK_S_OK) { FAIL("read %u: status %u (%s)", checked, r_->status, \
							      st_name(r_->status)); goto out; } \
			long k_ = pattern_check(r_->buf, r_->sector, NSEC, SECTOR, (seed_)); \
			if (k_ >= 0) { FAIL("read %u at sector %llu: not the pattern of seed %u", checked, \
					    (unsigned long long)r_->sector, (seed_)); goto out; } \
			cnt_++; checked++; \
		} \
	} while (0)

	say("RUNNING");
	while (!stdin_ready() && sub < MAXR - 4 * DEPTH) {
		while (outstanding < DEPTH && sub - checked < 2 * DEPTH - 1)
			SUBMIT_ONE();
		vblk_host_kick(d, 0);
		vblk_host_poll(d, 0, 0);
		CHECK_DONE(O.seed, phase_a);
	}
	REQUIRE(wait_line(5000, line, sizeof(line)));
	/* detached: in-flight reads finished on the first bdev */
	vblk_host_poll(d, 0, 0);
	CHECK_DONE(O.seed, phase_a);
	unsigned done_at = sub - outstanding;
	while (outstanding < DEPTH && sub - checked < 2 * DEPTH - 1)
		SUBMIT_ONE();
	vblk_host_kick(d, 0);
	int64_t end = now_ms() + 300;
	while (now_ms() < end) {
		vblk_host_poll(d, 0, 0);
		sleep_ms(5);
	}
	if (sub - outstanding != done_at)
		FAIL("%u reads completed while no bdev was attached", sub - outstanding - done_at);
	say("DETACHED_OK outstanding=%u", outstanding);
	REQUIRE(wait_line(30000, line, sizeof(line)));
	end = now_ms() + 10000;
	while (outstanding && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	CHECK_EQ(outstanding, 0);
	CHECK_DONE(g_seed2, phase_b);
	/* and more reads, all from the second bdev */
	for (int round = 0; round < 200; round++) {
		while (outstanding < DEPTH && sub - checked < 2 * DEPTH - 1)
			SUBMIT_ONE();
		vblk_host_kick(d, 0);
		vblk_host_wait(d, 0, 1000);
		CHECK_DONE(g_seed2, phase_b);
	}
	while (outstanding && vblk_host_wait(d, 0, 2000) > 0)
		;
	CHECK_DONE(g_seed2, phase_b);
	CHECK_EQ(checked, sub);
	struct vh_blk_config c;
	REQUIRE_OK(vblk_host_read_config(d, &c));
	CHECK_EQ(c.capacity, cap0);
	struct vblk_host_qstats st;
	vblk_host_qstats(d, 0, &st);
	CHECK_EQ(st.bad_used, 0);
	say("counts first=%u second=%u", phase_a, phase_b);
	CHECK(phase_a > 0 && phase_b > 0);
#undef SUBMIT_ONE
#undef CHECK_DONE
out:
	if (d)
		vblk_host_free(d, buf);
	vblk_host_close(d);
	free(a);
}

/* swap_probe: reads keep flowing over [0, --span) ("# RUNNING") while the
 * Python side detaches and attaches two bdevs back to back (patterns of
 * --seed and --seed2); every read completes with OK and holds one of the
 * two patterns, none is lost; a line on stdin ends it. */
static void case_swap_probe(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	enum { NSEC = 8, DEPTH = 16, MAXR = 1 << 20 };
	struct areq *a = calloc(MAXR, sizeof(*a));
	uint8_t *buf = NULL;
	char line[128];
	unsigned sub = 0, outstanding = 0, checked = 0, na = 0, nb = 0;
	REQUIRE(d && a);
	buf = xalloc(d, (size_t)DEPTH * 2 * NSEC * SECTOR);
	REQUIRE(buf);
	say("RUNNING");
	bool stop = false;
	while (!stop || outstanding) {
		if (!stop && stdin_ready()) {
			REQUIRE(wait_line(1000, line, sizeof(line)));
			stop = true;
		}
		while (!stop && outstanding < DEPTH && sub - checked < 2 * DEPTH - 1 && sub < MAXR) {
			a[sub] = (struct areq){ .r = { .type = VH_BLK_T_IN, .sector = ((uint64_t)sub * NSEC) % g_span,
						       .buf = buf + (size_t)(sub % (2 * DEPTH)) * NSEC * SECTOR,
						       .len = NSEC * SECTOR, .cb = areq_done },
						.outstanding = &outstanding };
			REQUIRE_OK(vblk_host_queue_req(d, 0, &a[sub].r));
			outstanding++;
			sub++;
		}
		vblk_host_kick(d, 0);
		int n = outstanding ? vblk_host_wait(d, 0, stop ? 10000 : 20) : 0;
		if (n < 0 && n != -ETIMEDOUT) {
			FAIL("wait: %d", n);
			goto out;
		}
		if (stop && n == -ETIMEDOUT && outstanding) {
			FAIL("%u reads never completed (the controller was left without media?)", outstanding);
			goto out;
		}
		while (checked < sub && a[checked].ncomp) {
			struct vblk_host_req *r = &a[checked].r;
			if (r->status != VH_BLK_S_OK) {
				FAIL("read %u at sector %llu: status %u (%s) during the swaps", checked,
				     (unsigned long long)r->sector, r->status, st_name(r->status));
				goto out;
			}
			if (pattern_check(r->buf, r->sector, NSEC, SECTOR, O.seed) < 0)
				na++;
			else if (pattern_check(r->buf, r->sector, NSEC, SECTOR, g_seed2) < 0)
				nb++;
			else {
				uint64_t s0;
				uint32_t sd;
				memcpy(&s0, r->buf, 8);
				memcpy(&sd, (uint8_t *)r->buf + 8, 4);
				FAIL("read %u at sector %llu: neither bdev's data (it starts with sector %llu, seed %u; "
				     "used length %u)", checked, (unsigned long long)r->sector, (unsigned long long)s0, sd,
				     r->used_len);
				goto out;
			}
			checked++;
		}
	}
	CHECK_EQ(checked, sub);
	struct vblk_host_qstats st;
	vblk_host_qstats(d, 0, &st);
	CHECK_EQ(st.bad_used, 0);
	say("counts reads=%u first=%u second=%u", checked, na, nb);
out:
	if (d)
		vblk_host_free(d, buf);
	vblk_host_close(d);
	free(a);
}

/* nomedia: a controller without a bdev: capacity 0 (and 0 in the config
 * cached at open), requests are not served ("# WAITING"); after the line
 * on stdin (a bdev was attached) they complete with OK and the capacity is
 * --expect-size / 512. */
static void case_nomedia(void)
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
static void case_none_media(void)
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
static void case_unmap_rings(void)
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
static void case_hold(void)
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
static void case_destroyed(void)
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
static void case_file_pattern(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_all(&o);
	REQUIRE(d);
	static const struct { uint64_t s; uint32_t n; } ext[] = {
		{ 0, 8 }, { 8, 1 }, { 100, 3 }, { 2048, 128 }, { 4096, 512 }, { 65536, 17 }, { 99999, 1 },
	};
	uint64_t cap = capacity(d);
	unsigned k = 0;
	for (size_t i = 0; i < sizeof(ext) / sizeof(ext[0]); i++) {
		if (ext[i].s + ext[i].n > cap)
			continue;
		uint16_t q = (uint16_t)(k++ % vblk_host_num_queues(d));
		uint8_t *b = xalloc(d, ext[i].n * SECTOR);
		REQUIRE(b);
		pattern_fill(b, ext[i].s, ext[i].n, SECTOR, O.seed);
		EXPECT_STATUS(rw(d, q, VH_BLK_T_OUT, ext[i].s, b, ext[i].n * SECTOR), VH_BLK_S_OK, "write");
		vblk_host_free(d, b);
		printf("# extent %llu %u\n", (unsigned long long)ext[i].s, ext[i].n);
	}
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++)
		EXPECT_STATUS(rw(d, q, VH_BLK_T_FLUSH, 0, NULL, 0), VH_BLK_S_OK, "flush");
	fflush(stdout);
out:
	vblk_host_close(d);
}

/* ====================================================================================== */

static const struct tap_case cases[] = {
	{ "negotiation", case_negotiation, true },
	{ "config", case_config, true },
	{ "io_mq", case_io_mq, true },
	{ "flush", case_flush, true },
	{ "get_id", case_get_id, true },
	{ "discard", case_discard, true },
	{ "unsupported", case_unsupported, true },
	{ "past_capacity", case_past_capacity, true },
	{ "framing", case_framing, true },
	{ "malformed", case_malformed, true },
	{ "event_idx", case_event_idx, true },
	{ "interrupts", case_interrupts, true },
	{ "in_order", case_in_order, true },
	{ "mem_table", case_mem_table, true },
	{ "reconnect", case_reconnect, true },
	{ "read_only", case_read_only, false },
	{ "suspend_probe", case_suspend_probe, false },
	{ "attach_probe", case_attach_probe, false },
	{ "swap_probe", case_swap_probe, false },
	{ "nomedia", case_nomedia, false },
	{ "none_media", case_none_media, false },
	{ "unmap_rings", case_unmap_rings, false },
	{ "hold", case_hold, false },
	{ "destroyed", case_destroyed, false },
	{ "file_pattern", case_file_pattern, false },
};

static const struct tap_suite suite = {
	.prog = "vblk_e2e", .cases = cases, .ncases = sizeof(cases) / sizeof(cases[0]),
};

static void usage(void)
{
	fprintf(stderr, "usage: vblk_e2e --vhost-user SOCK | --pci SOCK [--case NAME]... [--expect-size BYTES]\n"
			"  [--expect-id ID] [--read-only] [--queues N] [--seg-max N] [--size-max N] [--blk-size N]\n"
			"  [--indirect 0|1] [--in-order 0|1] [--discard 0|1] [--write-zeroes 0|1] [--seed N] [--seed2 N]\n"
			"  [--span SECTORS]\ncases:");
	tap_print_cases(stderr, &suite);
	fprintf(stderr, "\n(* only when named)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct tap_opts T = { .nnames = 0 };
	const struct tap_arg args[] = {
		{ "--vhost-user", TAP_STR, &O.vhu },
		{ "--pci", TAP_STR, &O.pci },
		{ "--expect-size", TAP_I64, &O.expect_size },
		{ "--expect-id", TAP_STR, &O.expect_id },
		{ "--read-only", TAP_FLAG, &O.read_only },
		{ "--queues", TAP_INT, &O.queues },
		{ "--seg-max", TAP_INT, &O.seg_max },
		{ "--size-max", TAP_INT, &O.size_max },
		{ "--blk-size", TAP_INT, &O.blk_size },
		{ "--indirect", TAP_INT, &O.indirect },
		{ "--in-order", TAP_INT, &O.in_order },
		{ "--discard", TAP_INT, &O.discard },
		{ "--write-zeroes", TAP_INT, &O.wzeroes },
		{ "--seed", TAP_U32, &O.seed },
		{ "--seed2", TAP_U32, &g_seed2 },
		{ "--span", TAP_U64, &g_span },
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!tap_parse(argc, argv, &T, args, sizeof(args) / sizeof(args[0]), NULL, 0))
		usage();
	if (!O.vhu == !O.pci && !T.list)
		usage();
	if (O.wzeroes == -2)
		O.wzeroes = O.discard;
	int rc = tap_run(&suite, &T);
	if (rc < 0)
		usage();
	return rc;
}
