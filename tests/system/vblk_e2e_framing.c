/* vblk_e2e: Framing: legal but unusual descriptor layouts. */
#include "vblk_e2e.h"

/* ---- framing: legal but unusual layouts ------------------------------------------------------- */

void case_framing(void)
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
