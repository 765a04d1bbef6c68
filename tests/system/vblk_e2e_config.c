/* vblk_e2e: Feature negotiation and the configuration space. */
#include "vblk_e2e.h"

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

void case_negotiation(void)
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

void case_config(void)
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
