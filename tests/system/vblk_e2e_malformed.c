/* vblk_e2e: Malformed chains: every way a driver can get a descriptor chain wrong,
 * each answered without harm to the device or the next request. */
#include "vblk_e2e.h"

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

void case_malformed(void)
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
