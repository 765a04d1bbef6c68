/* nvme_e2e: I/O commands: reads and writes with the pattern, buffer alignments and
 * PRP shapes, SGLs, commands the controller must refuse. */
#include "nvme_e2e.h"

/* ---- I/O -------------------------------------------------------------------------------------- */

void case_io_basic(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *b = NULL, *r = NULL;
	REQUIRE(h);
	const struct nvme_id_ctrl *id = nvme_host_id_ctrl(h);
	const uint32_t n = 64;
	b = xalloc(h, (size_t)n * bs(), 4096, NULL);
	r = xalloc(h, (size_t)n * bs(), 4096, NULL);
	REQUIRE(b && r);
	/* write / read at several places, the last blocks included */
	uint64_t lbas[] = { 0, 1, 7, 4095, 65536, O.nsze - n };
	for (size_t i = 0; i < sizeof(lbas) / sizeof(lbas[0]); i++)
		CHECK(write_verify(h, 1, O.nsid, lbas[i], i == 1 ? 1 : n, O.seed + (uint32_t)i));
	/* FUA write, flush */
	pattern_fill(b, 200, n, bs(), O.seed + 9);
	EXPECT_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 200, n, b, NVME_HOST_F_FUA));
	EXPECT_OK(io(h, 1, NVME_CMD_FLUSH, O.nsid, 0, 0, NULL, 0));
	CHECK(read_check(h, 1, O.nsid, 200, n, O.seed + 9));
	/* Write Zeroes */
	if (id->oncs & NVME_ONCS_WRITE_ZEROES) {
		memset(r, 0xff, (size_t)n * bs());
		EXPECT_OK(io(h, 1, NVME_CMD_WRITE_ZEROES, O.nsid, 208, 16, NULL, 0));
		EXPECT_OK(io(h, 1, NVME_CMD_READ, O.nsid, 200, n, r, 0));
		CHECK(pattern_check(r, 200, 8, bs(), O.seed + 9) < 0);
		CHECK(all_byte(r + 8 * bs(), 16 * (size_t)bs(), 0));
		CHECK(pattern_check(r + 24 * bs(), 224, n - 24, bs(), O.seed + 9) < 0);
		EXPECT_ST(io(h, 1, NVME_CMD_WRITE_ZEROES, O.nsid, O.nsze - 1, 2, NULL, 0), 0, NVME_SC_LBA_RANGE);
	}
	/* Dataset Management, deallocate: deallocated blocks read as zeroes
	 * when DLFEAT says so */
	if (id->oncs & NVME_ONCS_DSM) {
		struct nvme_id_ns *ns = (void *)r;
		REQUIRE_OK(nvme_host_identify_ns(h, O.nsid, ns));
		uint8_t dlfeat = ns->dlfeat;
		CHECK(write_verify(h, 1, O.nsid, 300, n, O.seed + 3));
		struct nvme_dsm_range *rg = (void *)b;
		memset(b, 0, 4096);
		rg[0].nlb = 8;
		rg[0].slba = 300;
		rg[1].nlb = 0;		/* an empty range is allowed */
		rg[1].slba = 0;
		rg[2].nlb = 4;
		rg[2].slba = 340;
		EXPECT_OK(io(h, 1, NVME_CMD_DSM, O.nsid, 0, 3, b, NVME_HOST_F_DSM_AD));
		if ((dlfeat & 7) == 1) {
			memset(r, 0xff, (size_t)n * bs());
			EXPECT_OK(io(h, 1, NVME_CMD_READ, O.nsid, 300, n, r, 0));
			CHECK(all_byte(r, 8 * (size_t)bs(), 0));
			CHECK(pattern_check(r + 8 * bs(), 308, 32, bs(), O.seed + 3) < 0);
			CHECK(all_byte(r + 40 * bs(), 4 * (size_t)bs(), 0));
			CHECK(pattern_check(r + 44 * bs(), 344, n - 44, bs(), O.seed + 3) < 0);
		} else {
			diag("DLFEAT 0x%x: deallocated blocks are not defined to read as zeroes", dlfeat);
		}
		/* a range out of the namespace: LBA Out of Range, nothing changed */
		CHECK(write_verify(h, 1, O.nsid, 400, 8, O.seed + 4));
		memset(b, 0, 4096);
		rg[0].nlb = 8;
		rg[0].slba = 400;
		rg[1].nlb = 8;
		rg[1].slba = O.nsze - 4;
		EXPECT_ST(io(h, 1, NVME_CMD_DSM, O.nsid, 0, 2, b, NVME_HOST_F_DSM_AD), 0, NVME_SC_LBA_RANGE);
		CHECK(read_check(h, 1, O.nsid, 400, 8, O.seed + 4));
	}
out:
	if (h) {
		nvme_host_free(h, b);
		nvme_host_free(h, r);
	}
	nvme_host_close(h);
}

/* Read back what was written, at many buffer alignments and PRP shapes. */
void case_io_align(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *big = NULL, *lists = NULL;
	uint64_t big_iova = 0, lists_iova = 0;
	REQUIRE(h);
	uint32_t maxb = nvme_host_max_xfer(h);
	diag("max transfer %u bytes", maxb);
	big = xalloc(h, (size_t)maxb + 3 * 4096, 4096, &big_iova);
	lists = xalloc(h, 4 * 4096, 4096, &lists_iova);
	REQUIRE(big && lists);
	struct { size_t off; uint32_t bytes; } shapes[] = {
		{ 0, 512 },		/* one block, PRP1 only */
		{ 0x200, 512 },		/* sub-page at an offset */
		{ 0xf00, 512 },		/* one block across a page boundary: PRP1 + PRP2 */
		{ 0x600, 4608 },	/* unaligned, two pages */
		{ 0x204, 8704 },	/* unaligned, three pages: PRP list */
		{ 0, 65536 },
		{ 0x40, 65536 + 4096 },
		{ 0, 0 },		/* MDTS bytes, page aligned */
		{ 0x800, 0 },		/* MDTS bytes at an offset: one more page */
	};
	uint64_t lba = 10000;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		uint32_t bytes = shapes[i].bytes ? shapes[i].bytes : maxb;
		bytes -= bytes % bs();
		uint32_t nlb = bytes / bs();
		uint8_t *p = big + shapes[i].off;
		pattern_fill(p, lba, nlb, bs(), O.seed + (uint32_t)i);
		int st = io(h, 1, NVME_CMD_WRITE, O.nsid, lba, nlb, p, 0);
		if (st) {
			FAIL("write shape %zu (offset 0x%zx, %u bytes): %s", i, shapes[i].off, bytes, st_str(st));
			continue;
		}
		memset(big, 0, (size_t)maxb + 3 * 4096);
		st = io(h, 1, NVME_CMD_READ, O.nsid, lba, nlb, p, 0);
		if (st)
			FAIL("read shape %zu: %s", i, st_str(st));
		else if (pattern_check(p, lba, nlb, bs(), O.seed + (uint32_t)i) >= 0)
			FAIL("shape %zu (offset 0x%zx, %u bytes) reads back wrong", i, shapes[i].off, bytes);
		/* read it again through another shape: a page-aligned buffer */
		CHECK(read_check(h, 1, O.nsid, lba, nlb, O.seed + (uint32_t)i));
		lba += nlb + 8;
	}

	/* scattered pieces: [tail of a page][a whole page elsewhere][head of a page] */
	{
		struct nvme_host_sg sg[3] = {
			{ big_iova + 4096 - 1024, 1024 },
			{ big_iova + 3 * 4096, 4096 },
			{ big_iova + 6 * 4096, 1024 },
		};
		uint8_t *src = malloc(6144);
		pattern_fill(src, 20000, 12, bs(), O.seed);
		memcpy(big + 4096 - 1024, src, 1024);
		memcpy(big + 3 * 4096, src + 1024, 4096);
		memcpy(big + 6 * 4096, src + 5120, 1024);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_WRITE, O.nsid, 20000, 12, sg, 3, 0));
		CHECK(read_check(h, 1, O.nsid, 20000, 12, O.seed));
		memset(big, 0, 7 * 4096);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_READ, O.nsid, 20000, 12, sg, 3, 0));
		CHECK(!memcmp(big + 4096 - 1024, src, 1024) && !memcmp(big + 3 * 4096, src + 1024, 4096) &&
		      !memcmp(big + 6 * 4096, src + 5120, 1024));
		free(src);
	}

	/* a chained PRP list built by hand: the list starts 3 entries before the
	 * end of a page, its last entry points to the next list page */
	{
		const uint32_t pages = 8, nlb = pages * 4096 / bs();
		uint64_t *l1 = (uint64_t *)(lists + 4096 - 3 * 8);
		uint64_t *l2 = (uint64_t *)(lists + 2 * 4096);
		/* data pages in a scrambled order */
		static const int order[8] = { 0, 5, 2, 7, 1, 6, 3, 4 };
		l1[0] = big_iova + 4096ull * order[1];
		l1[1] = big_iova + 4096ull * order[2];
		l1[2] = lists_iova + 2 * 4096;		/* chain */
		for (uint32_t k = 3; k < pages; k++)
			l2[k - 3] = big_iova + 4096ull * order[k];
		uint8_t *src = malloc(pages * 4096);
		pattern_fill(src, 30000, nlb, bs(), O.seed + 5);
		for (uint32_t k = 0; k < pages; k++)
			memcpy(big + 4096 * order[k], src + 4096 * k, 4096);
		struct nvme_sqe s = rw_sqe(NVME_CMD_WRITE, O.nsid, 30000, nlb);
		s.dptr.prp1 = big_iova + 4096ull * order[0];
		s.dptr.prp2 = lists_iova + 4096 - 3 * 8;
		EXPECT_OK(raw(h, 1, &s, NULL));
		CHECK(read_check(h, 1, O.nsid, 30000, nlb, O.seed + 5));
		memset(big, 0, pages * 4096);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 30000, nlb);
		s.dptr.prp1 = big_iova + 4096ull * order[0];
		s.dptr.prp2 = lists_iova + 4096 - 3 * 8;
		EXPECT_OK(raw(h, 1, &s, NULL));
		for (uint32_t k = 0; k < pages; k++)
			if (memcmp(big + 4096 * order[k], src + 4096 * k, 4096))
				FAIL("chained PRP read: page %u differs", k);
		free(src);
	}
out:
	if (h) {
		nvme_host_free(h, big);
		nvme_host_free(h, lists);
	}
	nvme_host_close(h);
}

void case_io_sgl(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *mem = NULL, *segs = NULL;
	uint64_t mem_iova = 0, segs_iova = 0;
	REQUIRE(h);
	REQUIRE(NVME_SGLS_SUPPORT(nvme_host_id_ctrl(h)->sgls) != NVME_SGLS_NONE);
	mem = xalloc(h, 256 * 1024, 4096, &mem_iova);
	segs = xalloc(h, 4 * 4096, 4096, &segs_iova);
	REQUIRE(mem && segs);

	/* 1 piece */
	pattern_fill(mem + 0x104, 40000, 16, bs(), O.seed);
	EXPECT_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 40000, 16, mem + 0x104, NVME_HOST_F_SGL));
	CHECK(read_check(h, 1, O.nsid, 40000, 16, O.seed));
	memset(mem, 0, 65536);
	EXPECT_OK(io(h, 1, NVME_CMD_READ, O.nsid, 40000, 16, mem + 0x104, NVME_HOST_F_SGL));
	CHECK(pattern_check(mem + 0x104, 40000, 16, bs(), O.seed) < 0);

	/* 3 pieces of odd sizes and places (dword aligned) */
	{
		struct nvme_host_sg sg[3] = {
			{ mem_iova + 0x1004, 1028 }, { mem_iova + 0x5010, 3000 }, { mem_iova + 0x9000, 4164 },
		};
		uint32_t nlb = (1028 + 3000 + 4164) / bs();
		uint8_t *src = malloc((size_t)nlb * bs());
		pattern_fill(src, 41000, nlb, bs(), O.seed + 1);
		memcpy(mem + 0x1004, src, 1028);
		memcpy(mem + 0x5010, src + 1028, 3000);
		memcpy(mem + 0x9000, src + 4028, 4164);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_WRITE, O.nsid, 41000, nlb, sg, 3, NVME_HOST_F_SGL));
		CHECK(read_check(h, 1, O.nsid, 41000, nlb, O.seed + 1));
		memset(mem, 0, 65536);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_READ, O.nsid, 41000, nlb, sg, 3, NVME_HOST_F_SGL));
		CHECK(!memcmp(mem + 0x1004, src, 1028) && !memcmp(mem + 0x5010, src + 1028, 3000) &&
		      !memcmp(mem + 0x9000, src + 4028, 4164));
		free(src);
	}

	/* 100 pieces of one block each, every other 1 KiB */
	{
		struct nvme_host_sg sg[100];
		for (int i = 0; i < 100; i++)
			sg[i] = (struct nvme_host_sg){ mem_iova + (uint64_t)i * 1024 + 64, bs() };
		uint8_t *src = malloc(100 * (size_t)bs());
		pattern_fill(src, 42000, 100, bs(), O.seed + 2);
		for (int i = 0; i < 100; i++)
			memcpy(mem + i * 1024 + 64, src + (size_t)i * bs(), bs());
		EXPECT_OK(io_sg(h, 1, NVME_CMD_WRITE, O.nsid, 42000, 100, sg, 100, NVME_HOST_F_SGL));
		CHECK(read_check(h, 1, O.nsid, 42000, 100, O.seed + 2));
		memset(mem, 0, 128 * 1024);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_READ, O.nsid, 42000, 100, sg, 100, NVME_HOST_F_SGL));
		for (int i = 0; i < 100; i++)
			if (memcmp(mem + i * 1024 + 64, src + (size_t)i * bs(), bs())) {
				FAIL("SGL piece %d of 100 differs", i);
				break;
			}
		free(src);
	}

	/* by hand: Segment -> [data, data, Last Segment] -> [data, data] */
	{
		struct nvme_sgl_desc *s1 = (void *)segs, *s2 = (void *)(segs + 4096);
		s1[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 0x10000, 1024);
		s1[1] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 0x20000, 512);
		s1[2] = sgl(NVME_SGL_TYPE_LAST_SEGMENT, segs_iova + 4096, 32);
		s2[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 0x30000, 1536);
		s2[1] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 0x38000, 1024);
		uint8_t *src = malloc(4096);
		pattern_fill(src, 43000, 8, bs(), O.seed + 3);
		memcpy(mem + 0x10000, src, 1024);
		memcpy(mem + 0x20000, src + 1024, 512);
		memcpy(mem + 0x30000, src + 1536, 1536);
		memcpy(mem + 0x38000, src + 3072, 1024);
		struct nvme_sqe s = sgl_sqe(NVME_CMD_WRITE, 43000, 8,
					    sgl(NVME_SGL_TYPE_SEGMENT, segs_iova, 48));
		EXPECT_OK(raw(h, 1, &s, NULL));
		CHECK(read_check(h, 1, O.nsid, 43000, 8, O.seed + 3));
		free(src);
	}

	/* bit bucket on a read: blocks 1-2 of 4 are dropped */
	{
		CHECK(write_verify(h, 1, O.nsid, 44000, 4, O.seed + 4));
		struct nvme_sgl_desc *s1 = (void *)segs;
		memset(mem, 0xee, 8192);
		s1[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova, bs());
		s1[1] = sgl(NVME_SGL_TYPE_BIT_BUCKET, 0, 2 * bs());
		s1[2] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 4096, bs());
		struct nvme_sqe s = sgl_sqe(NVME_CMD_READ, 44000, 4,
					    sgl(NVME_SGL_TYPE_LAST_SEGMENT, segs_iova, 48));
		EXPECT_OK(raw(h, 1, &s, NULL));
		CHECK(pattern_check(mem, 44000, 1, bs(), O.seed + 4) < 0);
		CHECK(pattern_check(mem + 4096, 44003, 1, bs(), O.seed + 4) < 0);
		CHECK(mem[bs()] == 0xee && mem[4096 + bs()] == 0xee);
	}
out:
	if (h) {
		nvme_host_free(h, mem);
		nvme_host_free(h, segs);
	}
	nvme_host_close(h);
}

/* Bad commands built by hand: each gets its status and the controller
 * keeps serving. */
void case_io_bad(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *mem = NULL, *aux = NULL;
	uint64_t mi = 0, ai = 0;
	struct nvme_sqe s;
	REQUIRE(h);
	const struct nvme_id_ctrl *id = nvme_host_id_ctrl(h);
	const uint64_t nowhere = 0x4000000000ull;	/* never mapped */
	uint32_t maxb = nvme_host_max_xfer(h);
	mem = xalloc(h, (size_t)maxb + 8 * 4096, 4096, &mi);
	aux = xalloc(h, 4 * 4096, 4096, &ai);
	REQUIRE(mem && aux);
	uint64_t *list = (uint64_t *)aux;
	const uint32_t p3 = 3 * 4096 / bs();		/* three pages of blocks */

	/* PRP: a list entry with an offset; PRP2 (second page) with an offset */
	s = rw_sqe(NVME_CMD_WRITE, O.nsid, 50000, p3);
	s.dptr.prp1 = mi;
	s.dptr.prp2 = ai;
	list[0] = mi + 4096 + 0x200;
	list[1] = mi + 2 * 4096;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_PRP_OFFSET);
	list[0] = mi + 4096;
	list[1] = mi + 2 * 4096 + 0x10;
	s.opc = NVME_CMD_READ;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_PRP_OFFSET);
	s = rw_sqe(NVME_CMD_WRITE, O.nsid, 50000, 8192 / bs());
	s.dptr.prp1 = mi;
	s.dptr.prp2 = mi + 4096 + 0x100;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_PRP_OFFSET);
	/* a PRP list that chains: two entries at the end of a list page, the
	 * last pointing to the next list page, which must be page aligned */
	{
		const uint32_t p4 = 4 * 4096 / bs();
		uint64_t *tail = (uint64_t *)(aux + 4096 - 16), *next = (uint64_t *)(aux + 8192);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 50000, p4);
		s.dptr.prp1 = mi;
		s.dptr.prp2 = ai + 4096 - 16;
		tail[0] = mi + 4096;
		tail[1] = ai + 8192 + 8;	/* chain pointer with an offset */
		next[0] = mi + 2 * 4096;
		next[1] = mi + 3 * 4096;
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_PRP_OFFSET);
		tail[1] = ai + 8192;		/* aligned: the same transfer works */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_SUCCESS);
	}
	/* PRPs into memory the client never shared */
	s = rw_sqe(NVME_CMD_WRITE, O.nsid, 50000, 1);
	s.dptr.prp1 = nowhere;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	s.opc = NVME_CMD_READ;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	s = rw_sqe(NVME_CMD_READ, O.nsid, 50000, p3);
	s.dptr.prp1 = mi;
	s.dptr.prp2 = nowhere;			/* the PRP list itself */
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	list[0] = mi + 4096;
	list[1] = nowhere;			/* a data page of the list */
	s.dptr.prp2 = ai;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);

	/* SGL */
	if (NVME_SGLS_SUPPORT(id->sgls) != NVME_SGLS_NONE) {
		struct nvme_sgl_desc *seg = (void *)(aux + 4096), *seg2 = (void *)(aux + 8192);
		/* descriptor types the controller does not support: Keyed Data
		 * Block (4h, SGLS bit 2 clear), a reserved type (Eh) */
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(0x4, mi, bs()));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_SGL_DESC_TYPE_INVALID);
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(0xe, mi, bs()));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_SGL_DESC_TYPE_INVALID);
		/* a Segment descriptor that is not the last of its segment:
		 * Invalid Number of SGL Descriptors */
		seg[0] = sgl(NVME_SGL_TYPE_SEGMENT, ai + 8192, 16);
		seg[1] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs());
		seg2[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi + 4096, bs());
		s = sgl_sqe(NVME_CMD_READ, 50000, 2, sgl(NVME_SGL_TYPE_SEGMENT, ai + 4096, 32));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_NUM_SGL_DESC);
		/* the last segment holding a (Last) Segment descriptor: Invalid SGL
		 * Segment Descriptor */
		seg[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs());
		seg[1] = sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 8192, 16);
		s = sgl_sqe(NVME_CMD_READ, 50000, 2, sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 4096, 32));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_SGL_SEG_DESC);
		/* a Last Segment descriptor of length 0, or not a multiple of 16 */
		seg[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs());
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 4096, 0));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_SGL_SEG_DESC);
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 4096, 24));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_SGL_SEG_DESC);
		/* too short for the transfer: Data SGL Length Invalid */
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs() / 2));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_SGL_LEN_INVALID);
		seg[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs());
		seg[1] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi + 4096, bs() - 4);
		s = sgl_sqe(NVME_CMD_WRITE, 50000, 2, sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 4096, 32));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_SGL_LEN_INVALID);
		/* longer than the transfer (SGLS bit 18 is clear) */
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, 2 * bs()));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_SGL_LEN_INVALID);
		/* a data block outside the client's memory */
		s = sgl_sqe(NVME_CMD_WRITE, 50000, 1, sgl(NVME_SGL_TYPE_DATA_BLOCK, nowhere, bs()));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		/* SGLs on an admin command (PCIe admin commands use PRPs only) */
		struct nvme_sqe a = { .opc = NVME_ADM_IDENTIFY, .cdw10 = NVME_CNS_CTRL };
		a.flags = (uint8_t)(NVME_PSDT_SGL_MPTR_BUF << NVME_SQE_PSDT_SHIFT);
		a.dptr.sgl1 = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, 4096);
		EXPECT_ST(raw(h, 0, &a, NULL), 0, NVME_SC_INVALID_FIELD);
	}
	/* PSDT 11b is reserved */
	s = rw_sqe(NVME_CMD_READ, O.nsid, 50000, 1);
	s.flags = (uint8_t)(3u << NVME_SQE_PSDT_SHIFT);
	s.dptr.prp1 = mi;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_FIELD);

	/* namespaces (NVMe 1.4 6.1, and Figure 104 NSID): 0 is an invalid NSID
	 * (Invalid Namespace or Format); an inactive one, valid (1..NN) but not
	 * attached, is Invalid Field in Command; FFFFFFFFh (broadcast) which
	 * Read/Write do not take: Invalid Namespace or Format */
	EXPECT_ST(io(h, 1, NVME_CMD_READ, 0, 0, 1, mem, 0), 0, NVME_SC_INVALID_NS);
	EXPECT_ST(io(h, 1, NVME_CMD_READ, O.inactive, 0, 1, mem, 0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(io(h, 1, NVME_CMD_WRITE, O.inactive, 0, 1, mem, 0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(io(h, 1, NVME_CMD_FLUSH, O.inactive, 0, 0, NULL, 0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(io(h, 1, NVME_CMD_READ, NVME_NSID_ALL, 0, 1, mem, 0), 0, NVME_SC_INVALID_NS);
	if (O.nn >= 0 && O.nn < 0xfffffffe)
		EXPECT_ST(io(h, 1, NVME_CMD_READ, (uint32_t)O.nn + 1, 0, 1, mem, 0), 0, NVME_SC_INVALID_NS);
	/* LBA range */
	EXPECT_ST(io(h, 1, NVME_CMD_READ, O.nsid, O.nsze, 1, mem, 0), 0, NVME_SC_LBA_RANGE);
	EXPECT_ST(io(h, 1, NVME_CMD_WRITE, O.nsid, O.nsze - 1, 2, mem, 0), 0, NVME_SC_LBA_RANGE);
	s = rw_sqe(NVME_CMD_READ, O.nsid, 1ull << 63, 1);
	s.dptr.prp1 = mi;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_LBA_RANGE);
	/* above MDTS, with a well-formed PRP list for all of it */
	if (id->mdts) {
		uint32_t lim = 4096u << id->mdts;
		uint32_t nlb = lim / bs() + 1;
		uint64_t *l = (uint64_t *)(aux + 4096);
		uint32_t pages = (nlb * bs() + 4095) / 4096;
		REQUIRE(pages - 1 <= 512 && (size_t)pages * 4096 <= (size_t)maxb + 8 * 4096);
		for (uint32_t k = 1; k < pages; k++)
			l[k - 1] = mi + 4096ull * k;
		s = rw_sqe(NVME_CMD_READ, O.nsid, 50000, nlb);
		s.dptr.prp1 = mi;
		s.dptr.prp2 = ai + 4096;
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_FIELD);
	}
	/* opcodes: reserved I/O and admin opcodes, Write Uncorrectable (ONCS bit 1 clear) */
	s = rw_sqe(0x7e, O.nsid, 0, 1);
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_OPCODE);
	if (!(id->oncs & NVME_ONCS_WRITE_UNC)) {
		s = rw_sqe(NVME_CMD_WRITE_UNC, O.nsid, 0, 1);
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_OPCODE);
	}
	struct nvme_sqe a2 = { .opc = 0x3f };
	EXPECT_ST(raw(h, 0, &a2, NULL), 0, NVME_SC_INVALID_OPCODE);
	a2.opc = NVME_ADM_NS_MGMT;	/* OACS bit 3 clear */
	EXPECT_ST(raw(h, 0, &a2, NULL), 0, NVME_SC_INVALID_OPCODE);

	/* still serving, admin and I/O */
	CHECK(write_verify(h, 1, O.nsid, 50000, 64, O.seed));
	struct nvme_id_ctrl *idc = (void *)mem;
	EXPECT_OK(nvme_host_identify_ctrl(h, idc));
	struct nvme_host_qstats st;
	if (nvme_host_queue_stats(h, 1, &st) == 0)
		CHECK_EQ(st.bad_cqes, 0);
out:
	if (h) {
		nvme_host_free(h, mem);
		nvme_host_free(h, aux);
	}
	nvme_host_close(h);
}
