/* test_nvme_host: the PRP and SGL builders in isolation. */
#include "test_nvme_host.h"

/* ==== PRP builder ======================================================================= */

/* Descriptor memory for the builders: a few pages at a made-up IOVA. */
struct dm {
	struct nvme_host_dmem d;
	uint64_t *words;
};

static void dm_init(struct dm *m, size_t pages, uint64_t iova)
{
	m->words = aligned_alloc(PG, pages * PG);
	assert_non_null(m->words);
	memset(m->words, 0xee, pages * PG);
	m->d = (struct nvme_host_dmem){ m->words, iova, pages * PG };
}

static void dm_fini(struct dm *m)
{
	free(m->words);
}

#define LIST_IOVA 0x900000ull

void test_prp_one_and_two_pages(void **state)
{
	(void)state;
	uint64_t p1, p2;
	struct dm m;
	dm_init(&m, 1, LIST_IOVA);

	/* 512 bytes inside one page: PRP2 unused */
	struct nvme_host_sg sg = { 0x10000200, 512 };
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(p1, 0x10000200);
	assert_int_equal(p2, 0);

	/* a full aligned page: still one entry */
	sg = (struct nvme_host_sg){ 0x10000000, PG };
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(p1, 0x10000000);
	assert_int_equal(p2, 0);

	/* 8 KiB aligned: PRP2 is the second page itself */
	sg = (struct nvme_host_sg){ 0x10000000, 2 * PG };
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(p1, 0x10000000);
	assert_int_equal(p2, 0x10001000);
	assert_int_equal(nvme_host_prp_list_pages(&sg, 1, PG), 0);

	/* 4 KiB at offset 0x200: two pages, PRP1 keeps the offset, PRP2 the next page */
	sg = (struct nvme_host_sg){ 0x10000200, PG };
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(p1, 0x10000200);
	assert_int_equal(p2, 0x10001000);
	assert_int_equal(m.words[0], 0xeeeeeeeeeeeeeeeeull);	/* no list written */
	dm_fini(&m);
}

void test_prp_list(void **state)
{
	(void)state;
	uint64_t p1, p2;
	struct dm m;
	dm_init(&m, 1, LIST_IOVA);

	/* 12 KiB aligned: PRP1 + a list of 2 */
	struct nvme_host_sg sg = { 0x10000000, 3 * PG };
	assert_int_equal(nvme_host_prp_list_pages(&sg, 1, PG), 1);
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(p1, 0x10000000);
	assert_int_equal(p2, LIST_IOVA);
	assert_int_equal(m.words[0], 0x10001000);
	assert_int_equal(m.words[1], 0x10002000);
	assert_int_equal(m.words[2], 0xeeeeeeeeeeeeeeeeull);

	/* 8 KiB at offset 0x200 spans three pages: PRP2 is a list of 2 */
	memset(m.words, 0xee, PG);
	sg = (struct nvme_host_sg){ 0x10000200, 2 * PG };
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(p1, 0x10000200);
	assert_int_equal(p2, LIST_IOVA);
	assert_int_equal(m.words[0], 0x10001000);
	assert_int_equal(m.words[1], 0x10002000);
	assert_int_equal(m.words[2], 0xeeeeeeeeeeeeeeeeull);
	dm_fini(&m);
}

void test_prp_list_chain(void **state)
{
	(void)state;
	uint64_t p1, p2;
	struct dm m;
	dm_init(&m, 3, LIST_IOVA);
	uint64_t base = 0x20000000;

	/* 600 pages: PRP1 + 599 list entries = 511 + chain, then 88 */
	struct nvme_host_sg sg = { base, 600 * PG };
	assert_int_equal(nvme_host_prp_list_pages(&sg, 1, PG), 2);
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(p1, base);
	assert_int_equal(p2, LIST_IOVA);
	for (int i = 0; i < 511; i++)
		assert_int_equal(m.words[i], base + (uint64_t)(i + 1) * PG);
	assert_int_equal(m.words[511], LIST_IOVA + PG);		/* chain */
	for (int i = 0; i < 88; i++)
		assert_int_equal(m.words[512 + i], base + (uint64_t)(512 + i) * PG);
	assert_int_equal(m.words[512 + 88], 0xeeeeeeeeeeeeeeeeull);

	/* exactly 512 list entries fill one page, no chain */
	sg.len = 513 * PG;
	assert_int_equal(nvme_host_prp_list_pages(&sg, 1, PG), 1);
	memset(m.words, 0xee, 3 * PG);
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(m.words[511], base + 512ull * PG);
	assert_int_equal(m.words[512], 0xeeeeeeeeeeeeeeeeull);

	/* one more: 511 + chain, then 2 */
	sg.len = 514 * PG;
	assert_int_equal(nvme_host_prp_list_pages(&sg, 1, PG), 2);
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(m.words[511], LIST_IOVA + PG);
	assert_int_equal(m.words[512], base + 512ull * PG);
	assert_int_equal(m.words[513], base + 513ull * PG);

	/* too little list memory */
	struct nvme_host_dmem small = { m.words, LIST_IOVA, PG };
	sg.len = 600 * PG;
	assert_int_equal(nvme_host_build_prp(&sg, 1, PG, &small, &p1, &p2), -ENOSPC);
	dm_fini(&m);
}

void test_prp_pieces(void **state)
{
	(void)state;
	uint64_t p1, p2;
	struct dm m;
	dm_init(&m, 1, LIST_IOVA);

	/* tail of a page, two whole pages elsewhere, head of a third piece */
	struct nvme_host_sg sg[3] = {
		{ 0x10000800, 0x800 }, { 0x30000000, 2 * PG }, { 0x50000000, 0x100 },
	};
	assert_int_equal(nvme_host_build_prp(sg, 3, PG, &m.d, &p1, &p2), 0);
	assert_int_equal(p1, 0x10000800);
	assert_int_equal(p2, LIST_IOVA);
	assert_int_equal(m.words[0], 0x30000000);
	assert_int_equal(m.words[1], 0x30001000);
	assert_int_equal(m.words[2], 0x50000000);

	/* violations of the PRP rules */
	struct nvme_host_sg bad1[2] = { { 0x10000800, 0x800 }, { 0x30000200, PG } };
	assert_int_equal(nvme_host_build_prp(bad1, 2, PG, &m.d, &p1, &p2), -EINVAL);
	struct nvme_host_sg bad2[2] = { { 0x10000000, 0x800 }, { 0x30000000, PG } };
	assert_int_equal(nvme_host_build_prp(bad2, 2, PG, &m.d, &p1, &p2), -EINVAL);
	struct nvme_host_sg bad3 = { 0x10000002, 16 };		/* not dword aligned */
	assert_int_equal(nvme_host_build_prp(&bad3, 1, PG, &m.d, &p1, &p2), -EINVAL);
	struct nvme_host_sg bad4 = { 0x10000000, 0 };
	assert_int_equal(nvme_host_build_prp(&bad4, 1, PG, &m.d, &p1, &p2), -EINVAL);
	assert_int_equal(nvme_host_build_prp(sg, 0, PG, &m.d, &p1, &p2), -EINVAL);
	dm_fini(&m);
}

/* ==== SGL builder ======================================================================== */

static void check_desc(const struct nvme_sgl_desc *d, uint8_t type, uint64_t addr, uint32_t len)
{
	assert_int_equal(d->id, type << 4);
	assert_int_equal(d->addr, addr);
	assert_int_equal(d->len, len);
	assert_int_equal(d->rsvd[0] | d->rsvd[1] | d->rsvd[2], 0);
}

void test_sgl_single_and_three(void **state)
{
	(void)state;
	struct dm m;
	struct nvme_sgl_desc sgl1;
	dm_init(&m, 1, LIST_IOVA);

	struct nvme_host_sg one = { 0x10000123, 777 };
	assert_int_equal(nvme_host_build_sgl(&one, 1, 256, false, &m.d, &sgl1), 0);
	check_desc(&sgl1, NVME_SGL_TYPE_DATA_BLOCK, 0x10000123, 777);

	/* three pieces: SGL1 is a Last Segment with three Data Blocks */
	struct nvme_host_sg sg[3] = {
		{ 0x10000000, 1024 }, { 0x20000400, 2048 }, { 0x30000000, 1024 },
	};
	assert_int_equal(nvme_host_build_sgl(sg, 3, 256, true, &m.d, &sgl1), 0);
	check_desc(&sgl1, NVME_SGL_TYPE_LAST_SEGMENT, LIST_IOVA, 48);
	const struct nvme_sgl_desc *seg = (const void *)m.words;
	for (int i = 0; i < 3; i++)
		check_desc(&seg[i], NVME_SGL_TYPE_DATA_BLOCK, sg[i].iova, sg[i].len);

	/* dword granularity required: a 1-byte piece fails */
	struct nvme_host_sg odd[2] = { { 0x10000000, 1024 }, { 0x20000000, 3 } };
	assert_int_equal(nvme_host_build_sgl(odd, 2, 256, true, &m.d, &sgl1), -EINVAL);
	assert_int_equal(nvme_host_build_sgl(odd, 2, 256, false, &m.d, &sgl1), 0);
	dm_fini(&m);
}

void test_sgl_segments_chain(void **state)
{
	(void)state;
	struct dm m;
	struct nvme_sgl_desc sgl1;
	struct nvme_host_sg sg[8];
	dm_init(&m, 1, LIST_IOVA);
	for (int i = 0; i < 8; i++)
		sg[i] = (struct nvme_host_sg){ 0x40000000 + (uint64_t)i * 0x10000, 512u * (i + 1) };

	/* 7 pieces, 4 descriptors per segment: Segment -> [3 data + Last
	 * Segment] -> [4 data] */
	assert_int_equal(nvme_host_build_sgl(sg, 7, 4, false, &m.d, &sgl1), 0);
	const struct nvme_sgl_desc *d = (const void *)m.words;
	check_desc(&sgl1, NVME_SGL_TYPE_SEGMENT, LIST_IOVA, 64);
	for (int i = 0; i < 3; i++)
		check_desc(&d[i], NVME_SGL_TYPE_DATA_BLOCK, sg[i].iova, sg[i].len);
	check_desc(&d[3], NVME_SGL_TYPE_LAST_SEGMENT, LIST_IOVA + 64, 64);
	for (int i = 0; i < 4; i++)
		check_desc(&d[4 + i], NVME_SGL_TYPE_DATA_BLOCK, sg[3 + i].iova, sg[3 + i].len);

	/* 8 pieces: Segment -> [3 + Segment] -> [3 + Last Segment] -> [2] */
	assert_int_equal(nvme_host_build_sgl(sg, 8, 4, false, &m.d, &sgl1), 0);
	check_desc(&sgl1, NVME_SGL_TYPE_SEGMENT, LIST_IOVA, 64);
	check_desc(&d[3], NVME_SGL_TYPE_SEGMENT, LIST_IOVA + 64, 64);
	check_desc(&d[7], NVME_SGL_TYPE_LAST_SEGMENT, LIST_IOVA + 128, 32);
	check_desc(&d[8], NVME_SGL_TYPE_DATA_BLOCK, sg[6].iova, sg[6].len);
	check_desc(&d[9], NVME_SGL_TYPE_DATA_BLOCK, sg[7].iova, sg[7].len);

	/* four pieces fit one segment of four exactly */
	assert_int_equal(nvme_host_build_sgl(sg, 4, 4, false, &m.d, &sgl1), 0);
	check_desc(&sgl1, NVME_SGL_TYPE_LAST_SEGMENT, LIST_IOVA, 64);

	/* not enough segment memory */
	struct nvme_host_dmem small = { m.words, LIST_IOVA, 64 };
	assert_int_equal(nvme_host_build_sgl(sg, 8, 4, false, &small, &sgl1), -ENOSPC);
	assert_int_equal(nvme_host_build_sgl(sg, 8, 1, false, &m.d, &sgl1), -EINVAL);
	dm_fini(&m);
}

/* ==== rings ================================================================================ */
