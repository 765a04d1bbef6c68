/* vblk_e2e: Single commands: flush, GET_ID, discard and write zeroes, read-only
 * devices, unsupported types, requests past the capacity. */
#include "vblk_e2e.h"

/* ---- single commands ------------------------------------------------------------------------- */

void case_flush(void)
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

void case_get_id(void)
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

void case_discard(void)
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

void case_read_only(void)
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

void case_unsupported(void)
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

void case_past_capacity(void)
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
