/* Host NVMe driver (src/host/nvme_host*): the PRP/SGL builders, the SQ/CQ
 * ring logic, the EventIdx rule, descriptor-list parsing and the arena in
 * isolation; then the whole driver against a tiny fake NVMe controller
 * served over vfio-user from a thread of this test. The fake reads the
 * Identify data it returns at raw byte offsets of the specification (not
 * through the driver's structures) so that layout mistakes show. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/nvme_host.h"
#include "host/nvme_host_priv.h"
#include "host/nvme_host_ring.h"
#include "host/vfio_user_client.h"
#include "host/vfio_user_proto.h"

#define PG 4096u

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

static void test_prp_one_and_two_pages(void **state)
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

static void test_prp_list(void **state)
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

static void test_prp_list_chain(void **state)
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

static void test_prp_pieces(void **state)
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

static void test_sgl_single_and_three(void **state)
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

static void test_sgl_segments_chain(void **state)
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

/* Post a CQE the way a controller does: body first, phase last. */
static void ctrl_post(struct nvme_cqe *ring, uint32_t *tail, uint8_t *phase, uint32_t depth,
		      uint16_t cid, uint16_t sqhd)
{
	struct nvme_cqe *e = &ring[*tail];
	e->dw0 = 0x1000u + cid;
	e->sqhd = sqhd;
	e->sqid = 1;
	e->cid = cid;
	__atomic_store_n(&e->status, (uint16_t)*phase, __ATOMIC_RELEASE);
	if (++*tail == depth) {
		*tail = 0;
		*phase ^= 1;
	}
}

static void test_cq_phase_wrap(void **state)
{
	(void)state;
	enum { D = 4 };
	struct nvme_cqe ring[D];
	struct nvme_cq_ring cq;
	struct nvme_cqe got = { 0 };	/* peek() fills it only when it returns true */
	uint32_t tail = 0;
	uint8_t cphase = 1;
	uint16_t cid = 0;

	memset(ring, 0, sizeof(ring));
	nvme_cq_ring_init(&cq, ring, D);
	assert_false(nvme_cq_ring_peek(&cq, &got));

	/* three passes over the ring: the phase flips at every wrap */
	for (int pass = 0; pass < 3; pass++) {
		for (int i = 0; i < D; i++) {
			ctrl_post(ring, &tail, &cphase, D, cid, (uint16_t)i);
			assert_true(nvme_cq_ring_peek(&cq, &got));
			assert_int_equal(got.cid, cid);
			assert_int_equal(got.dw0, 0x1000u + cid);
			assert_int_equal(got.status & 1, pass % 2 == 0 ? 1 : 0);
			uint32_t head = nvme_cq_ring_advance(&cq);
			assert_int_equal(head, (uint32_t)(i + 1) % D);
			/* the old entry of the previous pass is not new */
			assert_false(nvme_cq_ring_peek(&cq, &got));
			cid++;
		}
		assert_int_equal(cq.phase, pass % 2 == 0 ? 0 : 1);
	}

	/* a full CQ (depth entries posted before any is read) reads in order */
	for (int i = 0; i < D; i++)
		ctrl_post(ring, &tail, &cphase, D, (uint16_t)(100 + i), 0);
	for (int i = 0; i < D; i++) {
		assert_true(nvme_cq_ring_peek(&cq, &got));
		assert_int_equal(got.cid, 100 + i);
		nvme_cq_ring_advance(&cq);
	}
	assert_false(nvme_cq_ring_peek(&cq, &got));
}

static void test_sq_ring(void **state)
{
	(void)state;
	enum { D = 4 };
	struct nvme_sqe ring[D];
	struct nvme_sq_ring sq;
	struct nvme_sqe e = { .opc = 0x02 };

	nvme_sq_ring_init(&sq, ring, D);
	for (int i = 0; i < D - 1; i++) {
		assert_false(nvme_sq_ring_full(&sq));
		e.cid = (uint16_t)i;
		assert_int_equal(nvme_sq_ring_push(&sq, &e), (uint32_t)(i + 1));
		assert_int_equal(ring[i].cid, i);
	}
	assert_true(nvme_sq_ring_full(&sq));		/* depth - 1 entries */
	assert_int_equal(nvme_sq_ring_set_head(&sq, 2), 0);
	assert_false(nvme_sq_ring_full(&sq));
	assert_int_equal(nvme_sq_ring_push(&sq, &e), 0);	/* tail wraps */
	assert_int_equal(nvme_sq_ring_push(&sq, &e), 1);
	assert_true(nvme_sq_ring_full(&sq));
	assert_int_equal(nvme_sq_ring_set_head(&sq, D), -EPROTO);
	assert_int_equal(sq.head, 2);
}

static void test_need_event(void **state)
{
	(void)state;
	/* the controller asked to be woken at index 5 */
	assert_true(nvme_need_event(5, 6, 5));
	assert_true(nvme_need_event(5, 8, 3));
	assert_false(nvme_need_event(5, 5, 3));		/* 5 not passed yet */
	assert_false(nvme_need_event(5, 9, 7));		/* already passed before */
	/* across the 16-bit wrap */
	assert_true(nvme_need_event(0xffff, 2, 0xfffe));
	assert_false(nvme_need_event(0xfff0, 2, 0xfffe));
}

/* ==== descriptor list, arena ============================================================== */

static void test_ns_desc_find(void **state)
{
	(void)state;
	uint8_t list[4096] = { 0 };
	uint8_t out[16];

	list[0] = NVME_NIDT_EUI64;
	list[1] = 8;
	memset(list + 4, 0xe1, 8);
	list[12] = NVME_NIDT_UUID;
	list[13] = 16;
	for (int i = 0; i < 16; i++)
		list[16 + i] = (uint8_t)i;
	assert_int_equal(nvme_host_ns_desc_find(list, NVME_NIDT_UUID, out, sizeof(out)), 16);
	for (int i = 0; i < 16; i++)
		assert_int_equal(out[i], i);
	assert_int_equal(nvme_host_ns_desc_find(list, NVME_NIDT_EUI64, out, sizeof(out)), 8);
	assert_int_equal(out[0], 0xe1);
	assert_int_equal(nvme_host_ns_desc_find(list, NVME_NIDT_NGUID, out, sizeof(out)), -ENOENT);
	assert_int_equal(nvme_host_ns_desc_find(list, NVME_NIDT_UUID, out, 8), -ENOSPC);
	list[4092] = NVME_NIDT_NGUID;		/* runs past the end */
	list[4093] = 16;
	memset(list + 32, 0x7, 4092 - 32);	/* filler descriptors of type 7 */
	for (size_t off = 32; off < 4092; off += 4) {
		list[off] = 7;
		list[off + 1] = 0;
	}
	assert_int_equal(nvme_host_ns_desc_find(list, NVME_NIDT_NGUID, out, sizeof(out)), -EBADMSG);
}

static void test_arena(void **state)
{
	(void)state;
	struct nvme_arena a;
	size_t size = 64 * PG;
	void *mem = aligned_alloc(PG, size);
	uint64_t iova, iova2;

	assert_non_null(mem);
	assert_int_equal(nvme_arena_init(&a, mem, 0x10000000, size), 0);
	uint8_t *p = nvme_arena_alloc(&a, 100, 64, &iova);
	assert_non_null(p);
	assert_int_equal(iova - 0x10000000, (uint64_t)(p - (uint8_t *)mem));
	uint8_t *q = nvme_arena_alloc(&a, 3 * PG, PG, &iova2);
	assert_non_null(q);
	assert_int_equal(iova2 % PG, 0);
	assert_int_equal((uintptr_t)q % PG, 0);
	assert_int_equal(nvme_arena_iova(&a, q + 10, 20, &iova), 0);
	assert_int_equal(iova, iova2 + 10);
	assert_int_equal(nvme_arena_iova(&a, (uint8_t *)mem + size - 4, 8, &iova), -EFAULT);
	assert_null(nvme_arena_alloc(&a, size, 64, NULL));	/* no room */
	nvme_arena_free(&a, p);
	nvme_arena_free(&a, q);
	/* everything coalesced back: the whole arena is one block again */
	uint8_t *all = nvme_arena_alloc(&a, size, PG, &iova);
	assert_ptr_equal(all, mem);
	nvme_arena_free(&a, all);
	assert_null(nvme_arena_alloc(&a, 64, 3, NULL));		/* bad alignment */
	nvme_arena_fini(&a);
	free(mem);
}

/* ==== a fake NVMe controller over vfio-user ============================================== */

#define FK_BAR0		0x2000u
#define FK_BAR4		0x1000u		/* MSI-X table at 0, PBA at 0x800 */
#define FK_NQ		4		/* admin + 3 I/O queues */
#define FK_NVEC		4
#define FK_BLOCKS	8192u		/* 512-byte blocks: 4 MiB */
#define FK_MQES		255u
#define FK_VENDOR_HANG	0xc0		/* admin opcode the fake never completes */
#define FK_VENDOR_BADCID 0xc1		/* I/O opcode completed with a wrong CID */

struct fk_q {
	bool live;
	uint64_t iova;
	uint32_t size;
	uint32_t ptr;		/* SQ head / CQ tail */
	uint32_t db;		/* SQ tail / CQ head from the host */
	uint16_t cqid, iv;
	uint8_t phase;
	bool ien;
};

struct fk {
	char dir[64], path[128];
	int lfd, fd;
	pthread_t th;
	atomic_bool stop;
	/* configuration */
	bool mmap_db;
	uint32_t sgls;
	uint16_t oacs;
	/* device */
	int bar_fd;
	uint8_t *bar0;
	uint8_t cfg[256];
	uint8_t bar4[FK_BAR4];
	int efd[FK_NVEC];
	bool vmask[FK_NVEC];		/* SET_IRQS ACTION_MASK state (VFIO level) */
	/* SET_IRQS messages of the MSI-X index, in order */
	int n_irq_set;
	struct {
		uint32_t flags, start, count;
		int nfds;
	} irq_set[32];
	atomic_int n_table_writes;	/* REGION_WRITEs that touched the MSI-X table */
	struct {
		uint64_t iova, size;
		uint8_t *va;
	} map[4];
	int nmap;
	int n_fdless_map, n_fdless_unmap;	/* DMA_MAP without an fd, and its unmaps */
	uint64_t fdless_iova, fdless_size;
	uint32_t fdless_flags;
	struct fk_q sq[FK_NQ], cq[FK_NQ];
	uint8_t *disk;
	int aer_cid;
	atomic_bool aer_fire;
	/* shadow doorbells */
	uint64_t shadow_iova, ei_iova;
	/* observations */
	atomic_int n_irq, n_sgl, n_prp_chain, n_trapped_db, n_shadow_used;
	uint8_t *rx;
};

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint64_t rd64(const uint8_t *p)
{
	return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

static uint8_t *fk_gpa(struct fk *f, uint64_t iova, uint64_t len)
{
	for (int i = 0; i < f->nmap; i++) {
		if (iova >= f->map[i].iova && len <= f->map[i].size &&
		    iova - f->map[i].iova <= f->map[i].size - len)
			return f->map[i].va + (iova - f->map[i].iova);
	}
	return NULL;
}

/* ---- data transfer (PRP / SGL walk, written for the fake) ---- */

static int fk_copy(struct fk *f, uint64_t iova, uint8_t *buf, uint64_t n, bool to_guest)
{
	uint8_t *g = fk_gpa(f, iova, n);
	if (!g)
		return NVME_SC_DATA_XFER_ERROR;
	if (to_guest)
		memcpy(g, buf, n);
	else
		memcpy(buf, g, n);
	return 0;
}

static int fk_xfer_prp(struct fk *f, const struct nvme_sqe *s, uint8_t *buf, uint64_t len, bool to)
{
	uint64_t off = s->dptr.prp1 & (PG - 1), first = PG - off < len ? PG - off : len;
	if (s->dptr.prp1 & 3)
		return NVME_SC_INVALID_PRP_OFFSET;
	int st = fk_copy(f, s->dptr.prp1, buf, first, to);
	uint64_t rem = len - first;
	if (st || !rem)
		return st;
	buf += first;
	if (rem <= PG) {
		if (s->dptr.prp2 & (PG - 1))
			return NVME_SC_INVALID_PRP_OFFSET;
		return fk_copy(f, s->dptr.prp2, buf, rem, to);
	}
	uint64_t list = s->dptr.prp2;
	unsigned int idx = (unsigned int)((list & (PG - 1)) / 8);
	list &= ~(uint64_t)(PG - 1);
	while (rem) {
		uint8_t *le = fk_gpa(f, list + idx * 8ull, 8);
		if (!le)
			return NVME_SC_DATA_XFER_ERROR;
		uint64_t e = rd64(le);
		if (idx == PG / 8 - 1 && rem > PG) {
			list = e;	/* chained list page */
			idx = 0;
			atomic_fetch_add(&f->n_prp_chain, 1);
			continue;
		}
		if (e & (PG - 1))
			return NVME_SC_INVALID_PRP_OFFSET;
		uint64_t n = rem < PG ? rem : PG;
		st = fk_copy(f, e, buf, n, to);
		if (st)
			return st;
		buf += n;
		rem -= n;
		idx++;
	}
	return 0;
}

static int fk_xfer_sgl(struct fk *f, const struct nvme_sqe *s, uint8_t *buf, uint64_t len, bool to)
{
	uint8_t d[16];
	memcpy(d, &s->dptr, 16);
	atomic_fetch_add(&f->n_sgl, 1);
	for (int hops = 0; hops < 64; hops++) {
		uint8_t type = d[15] >> 4;
		uint64_t addr = rd64(d);
		uint32_t dlen = rd32(d + 8);
		if (type == NVME_SGL_TYPE_DATA_BLOCK) {
			uint64_t n = dlen < len ? dlen : len;
			return fk_copy(f, addr, buf, n, to);
		}
		if (type != NVME_SGL_TYPE_SEGMENT && type != NVME_SGL_TYPE_LAST_SEGMENT)
			return NVME_SC_SGL_DESC_TYPE_INVALID;
		if (dlen == 0 || dlen % 16)
			return NVME_SC_INVALID_SGL_SEG_DESC;
		uint8_t *seg = fk_gpa(f, addr, dlen);
		if (!seg)
			return NVME_SC_DATA_XFER_ERROR;
		uint32_t n = dlen / 16;
		bool chained = false;
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *e = seg + 16 * i;
			uint8_t et = e[15] >> 4;
			if (et == NVME_SGL_TYPE_DATA_BLOCK) {
				uint64_t c = rd32(e + 8) < len ? rd32(e + 8) : len;
				int st = fk_copy(f, rd64(e), buf, c, to);
				if (st)
					return st;
				buf += c;
				len -= c;
			} else if (i == n - 1 && type == NVME_SGL_TYPE_SEGMENT &&
				   (et == NVME_SGL_TYPE_SEGMENT || et == NVME_SGL_TYPE_LAST_SEGMENT)) {
				memcpy(d, e, 16);
				chained = true;
			} else {
				return NVME_SC_INVALID_SGL_SEG_DESC;
			}
		}
		if (!chained)
			return len ? NVME_SC_DATA_SGL_LEN_INVALID : 0;
	}
	return NVME_SC_INVALID_SGL_SEG_DESC;
}

static int fk_xfer(struct fk *f, const struct nvme_sqe *s, void *buf, uint64_t len, bool to_guest)
{
	unsigned int psdt = (s->flags >> 6) & 3;
	if (psdt == 0)
		return fk_xfer_prp(f, s, buf, len, to_guest);
	if (psdt == 1)
		return fk_xfer_sgl(f, s, buf, len, to_guest);
	return NVME_SC_INVALID_FIELD;
}

/* ---- commands ---- */

#define ST(sct, sc)	((int)(((sct) << 8) | (sc)))
#define NO_CQE		(-1)

static int fk_identify(struct fk *f, const struct nvme_sqe *s)
{
	uint8_t b[4096] = { 0 };
	uint8_t cns = s->cdw10 & 0xff;

	switch (cns) {
	case NVME_CNS_CTRL:
		b[0] = 0x36; b[1] = 0x1b;			/* VID */
		memcpy(b + 4, "FAKE0001            ", 20);	/* SN */
		memcpy(b + 24, "osnap fake controller", 21);	/* MN */
		b[77] = 0;					/* MDTS: no limit */
		wr32(b + 80, 0x00010400);			/* VER */
		b[256] = (uint8_t)f->oacs;
		b[257] = (uint8_t)(f->oacs >> 8);
		b[259] = 3;					/* AERL */
		b[512] = 0x66;
		b[513] = 0x44;
		wr32(b + 516, 1);				/* NN */
		wr32(b + 536, f->sgls);
		memcpy(b + 768, "nqn.2024-01.io.osnap:fake", 25);
		break;
	case NVME_CNS_NS:
		if (s->nsid != 1)
			return ST(0, NVME_SC_INVALID_NS) | NVME_STATUS_DNR;
		wr32(b + 0, FK_BLOCKS);		/* NSZE */
		wr32(b + 8, FK_BLOCKS);		/* NCAP */
		b[25] = 0;			/* NLBAF */
		b[26] = 0;			/* FLBAS */
		b[128 + 2] = 9;			/* LBAF0.LBADS: 512 */
		break;
	case NVME_CNS_ACTIVE_NS_LIST:
		if (s->nsid < 1)
			wr32(b, 1);
		break;
	case NVME_CNS_NS_DESC_LIST:
		b[0] = NVME_NIDT_UUID;
		b[1] = 16;
		for (int i = 0; i < 16; i++)
			b[4 + i] = (uint8_t)(0xa0 + i);
		break;
	default:
		return ST(0, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
	}
	return fk_xfer(f, s, b, sizeof(b), true);
}

static int fk_admin(struct fk *f, const struct nvme_sqe *s, uint32_t *dw0)
{
	uint16_t qid = s->cdw10 & 0xffff;
	uint32_t qsize = (s->cdw10 >> 16) + 1;

	switch (s->opc) {
	case NVME_ADM_IDENTIFY:
		return fk_identify(f, s);
	case NVME_ADM_SET_FEATURES:
	case NVME_ADM_GET_FEATURES:
		if ((s->cdw10 & 0xff) == NVME_FEAT_NUM_QUEUES)
			*dw0 = ((FK_NQ - 2u) << 16) | (FK_NQ - 2u);
		return 0;
	case NVME_ADM_GET_LOG_PAGE: {
		uint32_t numd = ((s->cdw10 >> 16) | (s->cdw11 << 16)) + 1;
		uint8_t *b = calloc(numd, 4);
		b[0] = 0xab;
		int st = fk_xfer(f, s, b, numd * 4ull, true);
		free(b);
		return st;
	}
	case NVME_ADM_CREATE_CQ:
		if (qid == 0 || qid >= FK_NQ || f->cq[qid].live)
			return ST(1, NVME_SC_QID_INVALID) | NVME_STATUS_DNR;
		if (qsize < 2 || qsize > FK_MQES + 1)
			return ST(1, NVME_SC_QUEUE_SIZE) | NVME_STATUS_DNR;
		f->cq[qid] = (struct fk_q){ .live = true, .iova = s->dptr.prp1, .size = qsize,
					    .phase = 1, .ien = (s->cdw11 & 2) != 0,
					    .iv = (uint16_t)(s->cdw11 >> 16) };
		return 0;
	case NVME_ADM_CREATE_SQ: {
		uint16_t cqid = (uint16_t)(s->cdw11 >> 16);
		if (qid == 0 || qid >= FK_NQ || f->sq[qid].live)
			return ST(1, NVME_SC_QID_INVALID) | NVME_STATUS_DNR;
		if (cqid >= FK_NQ || !f->cq[cqid].live)
			return ST(1, NVME_SC_CQ_INVALID) | NVME_STATUS_DNR;
		if (qsize < 2 || qsize > FK_MQES + 1)
			return ST(1, NVME_SC_QUEUE_SIZE) | NVME_STATUS_DNR;
		f->sq[qid] = (struct fk_q){ .live = true, .iova = s->dptr.prp1, .size = qsize,
					    .cqid = cqid };
		return 0;
	}
	case NVME_ADM_DELETE_SQ:
	case NVME_ADM_DELETE_CQ: {
		struct fk_q *q = s->opc == NVME_ADM_DELETE_SQ ? f->sq : f->cq;
		if (qid == 0 || qid >= FK_NQ || !q[qid].live)
			return ST(1, NVME_SC_QID_INVALID) | NVME_STATUS_DNR;
		q[qid].live = false;
		return 0;
	}
	case NVME_ADM_ABORT:
		*dw0 = 1;
		return 0;
	case NVME_ADM_ASYNC_EVENT:
		f->aer_cid = s->cid;
		return NO_CQE;
	case NVME_ADM_DBBUF_CONFIG:
		f->shadow_iova = s->dptr.prp1;
		f->ei_iova = s->dptr.prp2;
		return 0;
	case FK_VENDOR_HANG:
		return NO_CQE;
	default:
		return ST(0, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
}

static int fk_io(struct fk *f, const struct nvme_sqe *s)
{
	uint64_t slba = s->cdw10 | (uint64_t)s->cdw11 << 32;
	uint32_t nlb = (s->cdw12 & 0xffff) + 1;

	if (s->opc == FK_VENDOR_BADCID)
		return NO_CQE;		/* fk_process_sq posts it with CID + 1000 */
	if (s->nsid != 1)
		return ST(0, NVME_SC_INVALID_NS) | NVME_STATUS_DNR;
	switch (s->opc) {
	case NVME_CMD_FLUSH:
		return 0;
	case NVME_CMD_READ:
	case NVME_CMD_WRITE:
	case NVME_CMD_COMPARE:
	case NVME_CMD_WRITE_ZEROES:
		if (slba + nlb > FK_BLOCKS)
			return ST(0, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR;
		break;
	case NVME_CMD_DSM: {
		uint32_t nr = (s->cdw10 & 0xff) + 1;
		uint8_t r[256 * 16];
		int st = fk_xfer(f, s, r, nr * 16ull, false);
		if (st)
			return st;
		for (uint32_t i = 0; (s->cdw11 & NVME_DSM_AD) && i < nr; i++) {
			uint64_t sl = rd64(r + 16 * i + 8);
			uint32_t n = rd32(r + 16 * i + 4);
			if (sl + n <= FK_BLOCKS)
				memset(f->disk + sl * 512, 0, n * 512ull);
		}
		return 0;
	}
	default:
		return ST(0, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
	uint8_t *lba = f->disk + slba * 512;
	uint64_t len = nlb * 512ull;
	if (s->opc == NVME_CMD_READ)
		return fk_xfer(f, s, lba, len, true);
	if (s->opc == NVME_CMD_WRITE)
		return fk_xfer(f, s, lba, len, false);
	if (s->opc == NVME_CMD_WRITE_ZEROES) {
		memset(lba, 0, len);
		return 0;
	}
	uint8_t *tmp = malloc(len);
	int st = fk_xfer(f, s, tmp, len, false);
	if (!st && memcmp(tmp, lba, len))
		st = ST(2, NVME_SC_CMP_FAILED);
	free(tmp);
	return st;
}

/* MSI-X as a VFIO device does it: the table in BAR4 is the client's and
 * never masks; MSI-X Enable, the Function Mask (config space) and the
 * SET_IRQS masks do. A masked vector latches its PBA bit. */
static bool fk_vec_masked(struct fk *f, uint16_t v)
{
	uint8_t ctl_hi = f->cfg[0x43];
	return !(ctl_hi & 0x80) || (ctl_hi & 0x40) || f->vmask[v];
}

static void fk_fire(struct fk *f, uint16_t v)
{
	if (f->efd[v] < 0)
		return;
	uint64_t one = 1;
	(void)!write(f->efd[v], &one, sizeof(one));
	atomic_fetch_add(&f->n_irq, 1);
}

static void fk_irq(struct fk *f, uint16_t v)
{
	if (v >= FK_NVEC || !(f->cfg[0x43] & 0x80) || f->efd[v] < 0)
		return;
	if (fk_vec_masked(f, v))
		f->bar4[0x800 + v / 8] |= (uint8_t)(1u << (v % 8));
	else
		fk_fire(f, v);
}

/* After an unmask: deliver the pending vectors that can fire now. */
static void fk_deliver_pending(struct fk *f)
{
	for (uint16_t v = 0; v < FK_NVEC; v++) {
		uint8_t bit = (uint8_t)(1u << (v % 8));
		if ((f->bar4[0x800 + v / 8] & bit) && !fk_vec_masked(f, v)) {
			f->bar4[0x800 + v / 8] &= (uint8_t)~bit;
			fk_fire(f, v);
		}
	}
}

static void fk_post(struct fk *f, uint16_t cqid, uint16_t sqid, uint16_t cid, int st, uint32_t dw0)
{
	struct fk_q *cq = &f->cq[cqid];
	uint8_t *e = fk_gpa(f, cq->iova + cq->ptr * 16ull, 16);
	if (!e)
		return;
	wr32(e, dw0);
	wr32(e + 4, 0);
	uint16_t sqhd = (uint16_t)f->sq[sqid].ptr;
	memcpy(e + 8, &sqhd, 2);
	memcpy(e + 10, &sqid, 2);
	memcpy(e + 12, &cid, 2);
	/* release: the CQE body is visible before its phase tag */
	__atomic_store_n((uint16_t *)(void *)(e + 14), (uint16_t)(((unsigned)st << 1) | cq->phase),
			 __ATOMIC_RELEASE);
	if (++cq->ptr == cq->size) {
		cq->ptr = 0;
		cq->phase ^= 1;
	}
	if (cq->ien)
		fk_irq(f, cq->iv);
}

static void fk_process_sq(struct fk *f, uint16_t qid)
{
	struct fk_q *sq = &f->sq[qid];
	while (sq->live && sq->db < sq->size && sq->ptr != sq->db) {
		struct nvme_sqe s;
		uint8_t *p = fk_gpa(f, sq->iova + sq->ptr * 64ull, 64);
		if (!p)
			return;
		memcpy(&s, p, sizeof(s));
		sq->ptr = (sq->ptr + 1) % sq->size;
		uint32_t dw0 = 0;
		int st = qid == 0 ? fk_admin(f, &s, &dw0) : fk_io(f, &s);
		if (st != NO_CQE)
			fk_post(f, sq->cqid, qid, s.cid, st, dw0);
		else if (qid && s.opc == FK_VENDOR_BADCID)
			fk_post(f, sq->cqid, qid, (uint16_t)(s.cid + 1000), 0, 0);
	}
}

static void fk_cc_write(struct fk *f)
{
	uint32_t cc = rd32(f->bar0 + NVME_REG_CC), csts = rd32(f->bar0 + NVME_REG_CSTS);

	if ((cc & NVME_CC_EN) && !(csts & NVME_CSTS_RDY)) {
		uint32_t aqa = rd32(f->bar0 + NVME_REG_AQA);
		f->sq[0] = (struct fk_q){ .live = true, .iova = rd64(f->bar0 + NVME_REG_ASQ),
					  .size = (aqa & 0xfff) + 1 };
		f->cq[0] = (struct fk_q){ .live = true, .iova = rd64(f->bar0 + NVME_REG_ACQ),
					  .size = ((aqa >> 16) & 0xfff) + 1, .phase = 1, .ien = true };
		csts |= NVME_CSTS_RDY;
	} else if (!(cc & NVME_CC_EN) && (csts & NVME_CSTS_RDY)) {
		memset(f->sq, 0, sizeof(f->sq));
		memset(f->cq, 0, sizeof(f->cq));
		f->aer_cid = -1;
		f->shadow_iova = f->ei_iova = 0;
		csts = 0;
	}
	if (cc & NVME_CC_SHN_MASK)
		csts = (csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_CMPLT;
	wr32(f->bar0 + NVME_REG_CSTS, csts);
}

static void fk_doorbell(struct fk *f, uint32_t idx, uint32_t val)
{
	uint16_t qid = (uint16_t)(idx / 2);
	if (qid >= FK_NQ)
		return;
	if (idx % 2) {
		f->cq[qid].db = val;
		return;
	}
	/* With shadow doorbells on, a register write is only a kick: the
	 * shadow holds the newest tail (the written value may be older than
	 * what a scan of the shadow already took). */
	uint8_t *sh = qid ? fk_gpa(f, f->shadow_iova, PG) : NULL;
	if (sh && f->shadow_iova)
		val = __atomic_load_n((uint32_t *)(void *)(sh + 8 * qid), __ATOMIC_ACQUIRE);
	f->sq[qid].db = val;
	fk_process_sq(f, qid);
}

/* Shadow doorbells: take the SQ tails from the shadow page and publish
 * EventIdx = the tail seen, so the host rings when it moves further. */
static void fk_scan_shadow(struct fk *f)
{
	uint8_t *sh = fk_gpa(f, f->shadow_iova, PG), *ei = fk_gpa(f, f->ei_iova, PG);
	if (!sh || !ei)
		return;
	for (uint16_t q = 1; q < FK_NQ; q++) {
		if (!f->sq[q].live)
			continue;
		uint32_t tail = __atomic_load_n((uint32_t *)(void *)(sh + 8 * q), __ATOMIC_ACQUIRE);
		if (tail != f->sq[q].db) {
			atomic_fetch_add(&f->n_shadow_used, 1);
			f->sq[q].db = tail;
			fk_process_sq(f, q);
		}
		__atomic_store_n((uint32_t *)(void *)(ei + 8 * q), tail, __ATOMIC_RELEASE);
	}
}

static void fk_scan_mmap(struct fk *f)
{
	for (uint16_t q = 0; q < FK_NQ; q++) {
		uint32_t v = __atomic_load_n((uint32_t *)(void *)(f->bar0 + 0x1000 + 8 * q),
					     __ATOMIC_ACQUIRE);
		if (f->sq[q].live && v != f->sq[q].db)
			fk_doorbell(f, 2u * q, v);
	}
}

/* ---- vfio-user transport of the fake ---- */

static int fk_recv(int fd, void *buf, size_t len, int *fds, int *nfds)
{
	size_t done = 0;
	while (done < len) {
		char cbuf[CMSG_SPACE(sizeof(int) * 8)];
		struct iovec iov = { (uint8_t *)buf + done, len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(fd, &mh, 0);
		if (n <= 0)
			return -1;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int x;
				memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (*nfds < 8)
					fds[(*nfds)++] = x;
				else
					close(x);
			}
		}
		done += (size_t)n;
	}
	return 0;
}

static void fk_reply(struct fk *f, const struct vfu_msg_hdr *rq, const void *p, size_t len, int fd)
{
	struct vfu_msg_hdr h = { rq->msg_id, rq->command, (uint32_t)(sizeof(h) + len),
				 VFU_F_TYPE_REPLY, 0 };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)p, len } };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	if (fd >= 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = sizeof(cbuf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	}
	(void)!sendmsg(f->fd, &mh, MSG_NOSIGNAL);
}

static void fk_region_info(struct fk *f, const struct vfu_msg_hdr *h, const uint8_t *p)
{
	struct vfu_msg_region_info rq, ri = { 0 };
	uint8_t out[128] = { 0 };
	size_t n = sizeof(ri);
	int fd = -1;

	memcpy(&rq, p, sizeof(rq));
	ri.index = rq.index;
	if (rq.index == 0) {
		ri.size = FK_BAR0;
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		if (f->mmap_db) {
			ri.flags |= VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
			ri.cap_offset = sizeof(ri);
			struct vfu_msg_cap_hdr ch = { VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, 0 };
			struct vfu_msg_sparse_mmap sm = { 1, 0 };
			struct vfu_msg_sparse_area a = { 0x1000, 0x1000 };
			memcpy(out + n, &ch, sizeof(ch));
			n += sizeof(ch);
			memcpy(out + n, &sm, sizeof(sm));
			n += sizeof(sm);
			memcpy(out + n, &a, sizeof(a));
			n += sizeof(a);
			fd = f->bar_fd;
		}
	} else if (rq.index == 4) {
		ri.size = FK_BAR4;
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	} else if (rq.index == VFIO_PCI_CONFIG_REGION_INDEX) {
		ri.size = sizeof(f->cfg);
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	}
	ri.argsz = (uint32_t)n;
	memcpy(out, &ri, sizeof(ri));
	fk_reply(f, h, out, n, fd);
}

static uint8_t *fk_region(struct fk *f, uint32_t index, uint64_t off, uint32_t count)
{
	if (index == 0 && off + count <= FK_BAR0)
		return f->bar0 + off;
	if (index == 4 && off + count <= FK_BAR4)
		return f->bar4 + off;
	if (index == VFIO_PCI_CONFIG_REGION_INDEX && off + count <= sizeof(f->cfg))
		return f->cfg + off;
	return NULL;
}

static void fk_handle(struct fk *f, const struct vfu_msg_hdr *h, uint8_t *p, size_t len,
		      int *fds, int nfds)
{
	switch (h->command) {
	case VFU_CMD_VERSION: {
		static const char js[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
		uint8_t out[64];
		struct vfu_msg_version v = { 0, 0 };
		memcpy(out, &v, sizeof(v));
		memcpy(out + sizeof(v), js, sizeof(js));
		fk_reply(f, h, out, sizeof(v) + sizeof(js), -1);
		break;
	}
	case VFU_CMD_DMA_MAP: {
		struct vfu_msg_dma_map m;
		memcpy(&m, p, sizeof(m));
		if (nfds == 0) {
			f->n_fdless_map++;
			f->fdless_iova = m.address;
			f->fdless_size = m.size;
			f->fdless_flags = m.flags;
		}
		if (nfds == 1 && f->nmap < 4) {
			void *va = mmap(NULL, m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
					(off_t)m.offset);
			if (va != MAP_FAILED) {
				f->map[f->nmap].iova = m.address;
				f->map[f->nmap].size = m.size;
				f->map[f->nmap].va = va;
				f->nmap++;
			}
		}
		fk_reply(f, h, NULL, 0, -1);
		break;
	}
	case VFU_CMD_DMA_UNMAP: {
		struct vfu_msg_dma_unmap m;
		memcpy(&m, p, sizeof(m));
		if (f->n_fdless_map && m.address == f->fdless_iova && m.size == f->fdless_size)
			f->n_fdless_unmap++;
		for (int i = 0; i < f->nmap; i++) {
			if (f->map[i].iova == m.address) {
				munmap(f->map[i].va, f->map[i].size);
				f->map[i] = f->map[--f->nmap];
				break;
			}
		}
		fk_reply(f, h, NULL, 0, -1);
		break;
	}
	case VFU_CMD_DEVICE_GET_INFO: {
		struct vfu_msg_device_info di = { 16, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
						  9, 5 };
		fk_reply(f, h, &di, sizeof(di), -1);
		break;
	}
	case VFU_CMD_DEVICE_GET_REGION_INFO:
		fk_region_info(f, h, p);
		break;
	case VFU_CMD_DEVICE_GET_IRQ_INFO: {
		struct vfu_msg_irq_info ii;
		memcpy(&ii, p, sizeof(ii));
		ii.argsz = sizeof(ii);
		ii.flags = VFIO_IRQ_INFO_EVENTFD;
		if (ii.index == VFIO_PCI_MSIX_IRQ_INDEX)
			ii.flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_NORESIZE;
		ii.count = ii.index == VFIO_PCI_MSIX_IRQ_INDEX ? FK_NVEC : ii.index == 0 ? 1 : 0;
		fk_reply(f, h, &ii, sizeof(ii), -1);
		break;
	}
	case VFU_CMD_DEVICE_SET_IRQS: {
		struct vfu_msg_irq_set s;
		memcpy(&s, p, sizeof(s));
		if (s.index == VFIO_PCI_MSIX_IRQ_INDEX) {
			if (f->n_irq_set < 32) {
				f->irq_set[f->n_irq_set].flags = s.flags;
				f->irq_set[f->n_irq_set].start = s.start;
				f->irq_set[f->n_irq_set].count = s.count;
				f->irq_set[f->n_irq_set].nfds = nfds;
			}
			f->n_irq_set++;
			uint32_t action = s.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
			const uint8_t *bools = (s.flags & VFIO_IRQ_SET_DATA_BOOL) ? p + sizeof(s) : NULL;
			if (action == VFIO_IRQ_SET_ACTION_TRIGGER && s.count == 0) {
				/* the whole index off: eventfds and masks forgotten */
				for (int i = 0; i < FK_NVEC; i++) {
					if (f->efd[i] >= 0)
						close(f->efd[i]);
					f->efd[i] = -1;
					f->vmask[i] = false;
				}
			} else if (action == VFIO_IRQ_SET_ACTION_TRIGGER &&
				   (s.flags & VFIO_IRQ_SET_DATA_EVENTFD)) {
				for (uint32_t i = 0; i < s.count && s.start + i < FK_NVEC; i++) {
					if (f->efd[s.start + i] >= 0)
						close(f->efd[s.start + i]);
					f->efd[s.start + i] = -1;
					if ((int)i < nfds) {
						f->efd[s.start + i] = fds[i];
						fds[i] = -1;
					}
				}
				fk_deliver_pending(f);
			} else if (action == VFIO_IRQ_SET_ACTION_MASK ||
				   action == VFIO_IRQ_SET_ACTION_UNMASK) {
				for (uint32_t i = 0; i < s.count && s.start + i < FK_NVEC; i++)
					if (!bools || bools[i])
						f->vmask[s.start + i] = action == VFIO_IRQ_SET_ACTION_MASK;
				fk_deliver_pending(f);
			}
		}
		fk_reply(f, h, NULL, 0, -1);
		break;
	}
	case VFU_CMD_REGION_READ: {
		struct vfu_msg_region_access a;
		memcpy(&a, p, sizeof(a));
		uint8_t *src = fk_region(f, a.region, a.offset, a.count);
		uint8_t out[16 + 4096] = { 0 };
		if (a.count > 4096)
			a.count = 0;
		memcpy(out, &a, sizeof(a));
		if (src)
			memcpy(out + sizeof(a), src, a.count);
		fk_reply(f, h, out, sizeof(a) + a.count, -1);
		break;
	}
	case VFU_CMD_REGION_WRITE: {
		struct vfu_msg_region_access a;
		memcpy(&a, p, sizeof(a));
		const uint8_t *data = p + sizeof(a);
		if (a.region == 0 && a.offset >= 0x1000 && a.count == 4) {
			atomic_fetch_add(&f->n_trapped_db, 1);
			fk_doorbell(f, (uint32_t)(a.offset - 0x1000) / 4, rd32(data));
		} else if (a.region == 4) {
			/* the MSI-X table: storage the driver has no business
			 * writing (a VFIO user emulates it); the PBA: read-only */
			atomic_fetch_add(&f->n_table_writes, 1);
			uint8_t *dst = fk_region(f, a.region, a.offset, a.count);
			if (dst && a.offset + a.count <= 0x800)
				memcpy(dst, data, a.count);
		} else {
			uint8_t *dst = fk_region(f, a.region, a.offset, a.count);
			if (dst)
				memcpy(dst, data, a.count);
			if (a.region == 0 && a.offset <= NVME_REG_CC && a.offset + a.count > NVME_REG_CC)
				fk_cc_write(f);
			if (a.region == VFIO_PCI_CONFIG_REGION_INDEX && a.offset <= 0x43 &&
			    a.offset + a.count > 0x42)
				fk_deliver_pending(f);	/* MSI-X Message Control */
		}
		if (!(h->flags & VFU_F_NO_REPLY))
			fk_reply(f, h, &a, sizeof(a), -1);
		break;
	}
	default: {
		struct vfu_msg_hdr e = { h->msg_id, h->command, sizeof(e),
					 VFU_F_TYPE_REPLY | VFU_F_ERROR, ENOTSUP };
		(void)!send(f->fd, &e, sizeof(e), MSG_NOSIGNAL);
	}
	}
	(void)len;
}

static void *fk_main(void *arg)
{
	struct fk *f = arg;

	f->fd = accept(f->lfd, NULL, NULL);
	while (f->fd >= 0 && !atomic_load(&f->stop)) {
		struct pollfd pfd = { f->fd, POLLIN, 0 };
		int r = poll(&pfd, 1, 1);
		if (r > 0) {
			struct vfu_msg_hdr h;
			int fds[8], nfds = 0;
			if (fk_recv(f->fd, &h, sizeof(h), fds, &nfds) || h.msg_size < sizeof(h) ||
			    h.msg_size - sizeof(h) > (2u << 20))
				break;
			size_t len = h.msg_size - sizeof(h);
			if (len && fk_recv(f->fd, f->rx, len, fds, &nfds))
				break;
			fk_handle(f, &h, f->rx, len, fds, nfds);
			for (int i = 0; i < nfds; i++) {
				if (fds[i] >= 0)
					close(fds[i]);
			}
		}
		if (f->mmap_db)
			fk_scan_mmap(f);
		if (f->shadow_iova)
			fk_scan_shadow(f);
		if (atomic_load(&f->aer_fire) && f->aer_cid >= 0 && f->cq[0].live) {
			atomic_store(&f->aer_fire, false);
			/* SMART/health (type 1), info 2, log page 02h */
			fk_post(f, 0, 0, (uint16_t)f->aer_cid, 0, 0x00020201u);
			f->aer_cid = -1;
		}
	}
	return NULL;
}

static struct fk *fk_start(bool mmap_db, uint32_t sgls, uint16_t oacs)
{
	struct fk *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->mmap_db = mmap_db;
	f->sgls = sgls;
	f->oacs = oacs;
	f->aer_cid = -1;
	for (int i = 0; i < FK_NVEC; i++)
		f->efd[i] = -1;
	f->rx = malloc(2u << 20);
	f->disk = calloc(FK_BLOCKS, 512);
	assert_non_null(f->rx);
	assert_non_null(f->disk);

	f->bar_fd = memfd_create("fk-bar0", MFD_CLOEXEC);
	assert_true(f->bar_fd >= 0);
	assert_int_equal(ftruncate(f->bar_fd, FK_BAR0), 0);
	f->bar0 = mmap(NULL, FK_BAR0, PROT_READ | PROT_WRITE, MAP_SHARED, f->bar_fd, 0);
	assert_true(f->bar0 != MAP_FAILED);
	/* CAP: MQES, CQR, TO 5 s, DSTRD 0, CSS NVM, MPSMIN/MAX 0 */
	uint64_t cap = FK_MQES | (1ull << 16) | (10ull << 24) | (1ull << 37);
	wr32(f->bar0 + NVME_REG_CAP, (uint32_t)cap);
	wr32(f->bar0 + NVME_REG_CAP + 4, (uint32_t)(cap >> 32));
	wr32(f->bar0 + NVME_REG_VS, 0x00010400);

	f->cfg[0] = 0x36; f->cfg[1] = 0x1b; f->cfg[2] = 0x10;	/* 1b36:0010 */
	f->cfg[6] = 0x10;					/* capability list */
	f->cfg[9] = 0x02; f->cfg[10] = 0x08; f->cfg[11] = 0x01;	/* NVMe class */
	f->cfg[0x34] = 0x40;
	f->cfg[0x40] = 0x11;					/* MSI-X */
	f->cfg[0x42] = FK_NVEC - 1;
	wr32(f->cfg + 0x44, 0x00000004);			/* table: BIR 4, offset 0 */
	wr32(f->cfg + 0x48, 0x00000804);			/* PBA: BIR 4, 0x800 */
	for (int v = 0; v < FK_NVEC; v++)
		f->bar4[16 * v + 12] = 1;			/* vectors start masked */

	strcpy(f->dir, "/tmp/nvmehostXXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/cntrl", f->dir);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, f->path);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	f->fd = -1;
	assert_int_equal(pthread_create(&f->th, NULL, fk_main, f), 0);
	return f;
}

static void fk_stop(struct fk *f)
{
	atomic_store(&f->stop, true);
	if (f->fd < 0)
		shutdown(f->lfd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	if (f->fd >= 0)
		close(f->fd);
	close(f->lfd);
	unlink(f->path);
	rmdir(f->dir);
	for (int i = 0; i < f->nmap; i++)
		munmap(f->map[i].va, f->map[i].size);
	for (int i = 0; i < FK_NVEC; i++) {
		if (f->efd[i] >= 0)
			close(f->efd[i]);
	}
	munmap(f->bar0, FK_BAR0);
	close(f->bar_fd);
	free(f->disk);
	free(f->rx);
	free(f);
}

static struct nvme_host *open_fk(struct fk *f, struct nvme_host_opts *o)
{
	struct nvme_host_opts def = { .mem_size = 32u << 20, .nr_io_queues = 2 };
	struct nvme_host *h = NULL;
	if (!o)
		o = &def;
	if (!o->mem_size)
		o->mem_size = 32u << 20;
	int rc = nvme_host_open(f->path, o, &h);
	assert_int_equal(rc, 0);
	assert_non_null(h);
	return h;
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 9));
}

/* ==== end-to-end tests against the fake ==================================================== */

static void test_e2e_open_identify(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);

	const struct nvme_id_ctrl *id = nvme_host_id_ctrl(h);
	assert_int_equal(id->vid, 0x1b36);
	assert_memory_equal(id->sn, "FAKE0001", 8);
	assert_int_equal(id->nn, 1);
	assert_int_equal(id->aerl, 3);
	assert_memory_equal(id->subnqn, "nqn.2024-01.io.osnap:fake", 25);
	assert_int_equal(nvme_host_vs(h), 0x00010400);
	assert_int_equal(NVME_CAP_MQES(nvme_host_cap(h)), FK_MQES);
	assert_int_equal(nvme_host_nr_io_queues(h), 2);
	assert_int_equal(nvme_host_io_depth(h), 128);
	assert_false(nvme_host_doorbells_mmapped(h));
	assert_true(nvme_host_irq_enabled(h, 0));
	assert_true(nvme_host_irq_enabled(h, 1));
	assert_true(nvme_host_irq_enabled(h, 2));
	/* MSI-X enabled and the function unmasked in config space; the table
	 * never written (its mask bits still set from reset), as a VFIO user
	 * leaves it; eventfds given as QEMU does: vector 0 first without an fd
	 * ("enabled, no vector yet"), then vectors 0-2 with theirs */
	assert_int_equal(f->cfg[0x43] & 0xc0, 0x80);
	assert_int_equal(atomic_load(&f->n_table_writes), 0);
	for (int v = 0; v < FK_NVEC; v++)
		assert_int_equal(f->bar4[16 * v + 12] & 1, 1);
	assert_int_equal(f->n_irq_set, 2);
	assert_int_equal(f->irq_set[0].flags, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER);
	assert_int_equal(f->irq_set[0].start, 0);
	assert_int_equal(f->irq_set[0].count, 1);
	assert_int_equal(f->irq_set[0].nfds, 0);
	assert_int_equal(f->irq_set[1].flags, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER);
	assert_int_equal(f->irq_set[1].start, 0);
	assert_int_equal(f->irq_set[1].count, 3);
	assert_int_equal(f->irq_set[1].nfds, 3);
	assert_int_equal(f->cfg[4] & 0x6, 0x6);		/* memory space + bus master */
	/* queues on the controller: CQ i interrupts on vector i */
	assert_true(f->cq[1].live && f->cq[1].ien && f->cq[1].iv == 1);
	assert_true(f->sq[2].live && f->sq[2].cqid == 2 && f->sq[2].size == 128);
	assert_int_equal(f->sq[0].size, 32);

	struct nvme_host_ns ns;
	assert_int_equal(nvme_host_ns_info(h, 1, &ns), 0);
	assert_int_equal(ns.nsze, FK_BLOCKS);
	assert_int_equal(ns.lba_size, 512);
	assert_int_equal(nvme_host_ns_info(h, 2, &ns), -ENOENT);

	uint8_t descs[4096], uuid[16];
	assert_int_equal(nvme_host_ns_descs(h, 1, descs), 0);
	assert_int_equal(nvme_host_ns_desc_find(descs, NVME_NIDT_UUID, uuid, sizeof(uuid)), 16);
	assert_int_equal(uuid[15], 0xaf);

	nvme_host_close(h);
	assert_int_equal(f->cq[0].live, false);		/* disabled at close */
	fk_stop(f);
}

static void test_e2e_rw_prp(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 1, .max_xfer = 4u << 20 };
	struct nvme_host *h = open_fk(f, &o);

	/* 12 KiB aligned (PRP list of 2) */
	uint8_t *w = nvme_host_alloc(h, 3 * PG, PG, NULL);
	uint8_t *r = nvme_host_alloc(h, 3 * PG, PG, NULL);
	fill(w, 3 * PG, 1);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 8, 24, w, 0), 0);
	assert_memory_equal(f->disk + 8 * 512, w, 3 * PG);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 8, 24, r, 0), 0);
	assert_memory_equal(r, w, 3 * PG);

	/* 8 KiB at a 0x200 offset */
	uint8_t *big = nvme_host_alloc(h, 4 * PG, PG, NULL);
	fill(big + 0x200, 2 * PG, 2);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 100, 16, big + 0x200, 0), 0);
	assert_memory_equal(f->disk + 100 * 512, big + 0x200, 2 * PG);
	memset(big, 0, 4 * PG);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 100, 16, big + 0x100, 0), 0);
	assert_memory_equal(big + 0x100, f->disk + 100 * 512, 2 * PG);

	/* 3 MiB: 769 PRP entries, chained list pages */
	size_t n = 3u << 20;
	uint8_t *huge = nvme_host_alloc(h, n, PG, NULL);
	assert_non_null(huge);
	fill(huge, n, 3);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 2048, (uint32_t)(n / 512), huge, 0), 0);
	assert_true(atomic_load(&f->n_prp_chain) >= 1);
	assert_memory_equal(f->disk + 2048 * 512, huge, n);

	/* compare: equal, then different */
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_COMPARE, 1, 8, 24, w, 0), 0);
	w[5] ^= 1;
	int st = nvme_host_rw(h, 1, NVME_CMD_COMPARE, 1, 8, 24, w, 0);
	assert_int_equal(NVME_STATUS_SCT(st), NVME_SCT_MEDIA);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_CMP_FAILED);

	/* write zeroes, flush, DSM deallocate */
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE_ZEROES, 1, 8, 2, NULL, 0), 0);
	assert_int_equal(f->disk[8 * 512 + 5], 0);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_FLUSH, 1, 0, 0, NULL, 0), 0);
	struct nvme_dsm_range *rg = nvme_host_alloc(h, sizeof(*rg), 64, NULL);
	rg->slba = 100;
	rg->nlb = 16;
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_DSM, 1, 0, 1, rg, NVME_HOST_F_DSM_AD), 0);
	assert_int_equal(f->disk[100 * 512 + 7], 0);

	/* errors: bad NSID, LBA range, buffer outside the arena */
	st = nvme_host_rw(h, 1, NVME_CMD_READ, 7, 0, 1, r, 0);
	assert_int_equal(st, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) | NVME_STATUS_DNR);
	st = nvme_host_rw(h, 1, NVME_CMD_READ, 1, FK_BLOCKS - 1, 2, r, 0);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_LBA_RANGE);
	assert_true(st & NVME_STATUS_DNR);
	uint8_t stack[512];
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 1, stack, 0), -EINVAL);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 0, r, 0), -EINVAL);
	assert_int_equal(nvme_host_rw(h, 3, NVME_CMD_READ, 1, 0, 1, r, 0), -EINVAL);
	/* SGL asked of a controller without SGL support */
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 1, r, NVME_HOST_F_SGL), -EOPNOTSUPP);
	/* above max_xfer */
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 8193, huge, 0), -E2BIG);

	struct nvme_host_qstats qs;
	assert_int_equal(nvme_host_queue_stats(h, 1, &qs), 0);
	assert_int_equal(qs.inflight, 0);
	assert_int_equal(qs.bad_cqes, 0);
	assert_int_equal(qs.submitted, qs.completed);
	nvme_host_close(h);
	fk_stop(f);
}

static void test_e2e_sgl(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, NVME_SGLS_DWORD_ALIGN, 0);
	struct nvme_host *h = open_fk(f, NULL);

	/* a 3-piece buffer (1 KiB + 2 KiB + 1 KiB) written with SGLs */
	struct nvme_host_sg sg[3];
	uint8_t *piece[3];
	uint32_t lens[3] = { 1024, 2048, 1024 };
	for (int i = 0; i < 3; i++) {
		piece[i] = nvme_host_alloc(h, lens[i], 64, &sg[i].iova);
		sg[i].len = lens[i];
		fill(piece[i], lens[i], 10 + (uint32_t)i);
	}
	struct nvme_host_cmd cmd;
	assert_int_equal(nvme_host_cmd_rw(h, &cmd, NVME_CMD_WRITE, 1, 40, 8, NULL, NVME_HOST_F_SGL), 0);
	cmd.len = 0;
	cmd.sg = sg;
	cmd.nsg = 3;
	assert_int_equal(nvme_host_submit(h, 1, &cmd), 0);
	assert_int_equal((cmd.sqe.flags >> 6) & 3, NVME_PSDT_SGL_MPTR_BUF);
	assert_int_equal(cmd.sqe.dptr.sgl1.id, NVME_SGL_TYPE_LAST_SEGMENT << 4);
	assert_int_equal(nvme_host_wait(h, 1, &cmd, 2000), 0);
	assert_memory_equal(f->disk + 40 * 512, piece[0], 1024);
	assert_memory_equal(f->disk + 40 * 512 + 1024, piece[1], 2048);
	assert_memory_equal(f->disk + 40 * 512 + 3072, piece[2], 1024);

	/* read back with a single Data Block descriptor */
	uint8_t *r = nvme_host_alloc(h, 4096, 64, NULL);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 40, 8, r, NVME_HOST_F_SGL), 0);
	assert_memory_equal(r, f->disk + 40 * 512, 4096);
	assert_int_equal(atomic_load(&f->n_sgl), 2);

	/* a piece not dword aligned is refused before submission */
	sg[1].len = 2047;
	cmd.sg = sg;
	cmd.nsg = 3;
	cmd.flags = NVME_HOST_F_SGL;
	assert_int_equal(nvme_host_submit(h, 1, &cmd), -EINVAL);
	/* admin commands never use SGLs */
	struct nvme_host_cmd a = { .sqe = { .opc = NVME_ADM_IDENTIFY, .cdw10 = 1 },
				   .buf = r, .len = 4096, .flags = NVME_HOST_F_SGL };
	assert_int_equal(nvme_host_submit(h, 0, &a), -EINVAL);
	nvme_host_close(h);
	fk_stop(f);
}

struct cb_count {
	int done;
	int errors;
};

static void count_done(struct nvme_host_cmd *cmd)
{
	struct cb_count *c = cmd->arg;
	c->done++;
	if (cmd->result != 0)
		c->errors++;
}

static void test_e2e_async_32(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 2, .io_depth = 64 };
	struct nvme_host *h = open_fk(f, &o);
	enum { N = 32 };
	struct nvme_host_cmd cmds[N];
	uint8_t *bufs[N];
	struct cb_count cc = { 0, 0 };

	for (int i = 0; i < N; i++) {
		bufs[i] = nvme_host_alloc(h, 2 * PG, PG, NULL);
		fill(bufs[i], 2 * PG, 100 + (uint32_t)i);
		assert_int_equal(nvme_host_cmd_rw(h, &cmds[i], NVME_CMD_WRITE, 1, (uint64_t)i * 16, 16,
						  bufs[i], 0), 0);
		cmds[i].done = count_done;
		cmds[i].arg = &cc;
		assert_int_equal(nvme_host_submit(h, 2, &cmds[i]), 0);
	}
	struct nvme_host_qstats qs;
	assert_int_equal(nvme_host_queue_stats(h, 2, &qs), 0);
	assert_int_equal(qs.inflight, N);
	/* CIDs are distinct */
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			assert_int_not_equal(cmds[i].priv.cid, cmds[j].priv.cid);

	while (cc.done < N) {
		int n = nvme_host_wait_irq(h, 2, 2000);
		assert_true(n > 0);
	}
	assert_int_equal(cc.errors, 0);
	assert_int_equal(nvme_host_queue_stats(h, 2, &qs), 0);
	assert_int_equal(qs.inflight, 0);
	assert_int_equal(qs.bad_cqes, 0);
	/* the vector fired: either wait_irq consumed it, or it is still pending
	 * (when the completions were already there at the first look) */
	assert_true(atomic_load(&f->n_irq) > 0);
	struct pollfd pfd = { nvme_host_irq_fd(h, 2), POLLIN, 0 };
	assert_true(pfd.fd >= 0);
	assert_true(qs.irqs > 0 || poll(&pfd, 1, 0) == 1);
	for (int i = 0; i < N; i++)
		assert_memory_equal(f->disk + (size_t)i * 16 * 512, bufs[i], 2 * PG);

	/* the queue refills: depth 64 gives 63 command identifiers */
	struct nvme_host_cmd more[64];
	int ok = 0;
	for (int i = 0; i < 64; i++) {
		nvme_host_cmd_rw(h, &more[i], NVME_CMD_FLUSH, 1, 0, 0, NULL, 0);
		if (nvme_host_submit(h, 2, &more[i]) == 0)
			ok++;
	}
	assert_int_equal(ok, 63);
	int reaped = 0;
	while (reaped < 63) {
		int n = nvme_host_poll(h, 2, 10);
		assert_true(n >= 0 && n <= 10);
		reaped += n;
	}
	/* nothing waits: wait_irq times out */
	assert_int_equal(nvme_host_wait_irq(h, 2, 20), -ETIMEDOUT);
	nvme_host_close(h);
	fk_stop(f);
}

static void test_e2e_raw_and_timeout(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 1, .admin_timeout_ms = 200 };
	struct nvme_host *h = open_fk(f, &o);
	struct nvme_cqe cqe;

	/* raw SQE with a CID far outside the driver's range, bad opcode */
	struct nvme_sqe s = { .opc = 0x7f, .cid = 0xbeef, .nsid = 1 };
	int st = nvme_host_raw(h, 1, &s, &cqe, 1000);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_INVALID_OPCODE);
	assert_int_equal(cqe.cid, 0xbeef);
	assert_int_equal(cqe.sqid, 1);
	/* raw read whose PRP1 is not dword aligned */
	uint64_t iova;
	uint8_t *b = nvme_host_alloc(h, PG, PG, &iova);
	(void)b;
	s = (struct nvme_sqe){ .opc = NVME_CMD_READ, .cid = 3, .nsid = 1 };
	s.dptr.prp1 = iova + 2;
	st = nvme_host_raw(h, 1, &s, &cqe, 1000);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_INVALID_PRP_OFFSET);
	assert_int_equal(cqe.cid, 3);

	/* a command the controller never completes times out; the queue goes on */
	struct nvme_sqe hang = { .opc = FK_VENDOR_HANG };
	assert_int_equal(nvme_host_admin(h, &hang, NULL, 0, NULL), -ETIMEDOUT);
	struct nvme_host_qstats qs;
	assert_int_equal(nvme_host_queue_stats(h, 0, &qs), 0);
	assert_int_equal(qs.inflight, 1);		/* its CID stays reserved */
	uint32_t dw0 = 0;
	assert_int_equal(nvme_host_get_features(h, NVME_FEAT_NUM_QUEUES, 0, 0, 0, NULL, 0, &dw0), 0);
	assert_int_equal(dw0, 0x00020002);

	/* a CQE naming a CID that is not in flight: -EPROTO, counted */
	struct nvme_host_cmd c = { .sqe = { .opc = FK_VENDOR_BADCID, .nsid = 1 } };
	assert_int_equal(nvme_host_submit(h, 1, &c), 0);
	int rc = 0;
	for (int i = 0; i < 2000 && rc == 0; i++) {
		rc = nvme_host_poll(h, 1, 0);
		if (rc == 0)
			usleep(1000);
	}
	assert_int_equal(rc, -EPROTO);
	assert_false(c.completed);
	assert_int_equal(nvme_host_queue_stats(h, 1, &qs), 0);
	assert_int_equal(qs.bad_cqes, 1);
	assert_int_equal(qs.inflight, 1);
	nvme_host_close(h);
	assert_true(c.completed);			/* cancelled at close */
	assert_int_equal(c.result, -ECANCELED);
	fk_stop(f);
}

static void test_e2e_admin(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);

	/* log page into ordinary memory (bounced through the arena) */
	uint8_t log[512];
	memset(log, 0x55, sizeof(log));
	assert_int_equal(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 0, false, log,
						sizeof(log)), 0);
	assert_int_equal(log[0], 0xab);
	assert_int_equal(log[511], 0);
	assert_int_equal(nvme_host_get_log_page(h, NVME_LOG_SMART, 0, 0, false, log, 6), -EINVAL);

	/* bad queue creation: qid taken, CQ missing, size 1 */
	uint64_t iova;
	nvme_host_alloc(h, PG, PG, &iova);
	int st = nvme_host_create_io_cq(h, 1, 15, iova, 0, NVME_CQ_PC);
	assert_int_equal(st, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID) | NVME_STATUS_DNR);
	st = nvme_host_create_io_sq(h, 3, 15, iova, 3, NVME_SQ_PC);
	assert_int_equal(NVME_STATUS_SCT(st), NVME_SCT_CMD_SPECIFIC);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_CQ_INVALID);
	st = nvme_host_create_io_cq(h, 3, 0, iova, 0, NVME_CQ_PC);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_QUEUE_SIZE);
	uint32_t dw0 = 0;
	assert_int_equal(nvme_host_abort(h, 1, 5, &dw0), 0);
	assert_int_equal(dw0, 1);

	/* asynchronous event */
	assert_int_equal(nvme_host_aer_submit(h), 0);
	assert_int_equal(nvme_host_aer_outstanding(h), 1);
	struct nvme_cqe cqe;
	assert_int_equal(nvme_host_aer_poll(h, 50, &cqe), -ETIMEDOUT);
	atomic_store(&f->aer_fire, true);
	assert_int_equal(nvme_host_aer_poll(h, 2000, &cqe), 0);
	assert_int_equal(NVME_AER_TYPE(cqe.dw0), 1);
	assert_int_equal(NVME_AER_LOG(cqe.dw0), NVME_LOG_SMART);
	assert_int_equal(nvme_host_aer_outstanding(h), 0);

	/* an AER outstanding across a reset comes back cancelled */
	assert_int_equal(nvme_host_aer_submit(h), 0);
	assert_int_equal(nvme_host_reset(h), 0);
	assert_int_equal(nvme_host_aer_poll(h, 10, &cqe), -ECANCELED);
	assert_int_equal(nvme_host_aer_outstanding(h), 0);
	uint8_t *w = nvme_host_alloc(h, PG, PG, NULL);
	fill(w, PG, 9);
	assert_int_equal(nvme_host_rw(h, 2, NVME_CMD_WRITE, 1, 0, 8, w, 0), 0);
	assert_memory_equal(f->disk, w, PG);

	/* shutdown, then nothing runs until a reset */
	assert_int_equal(nvme_host_shutdown(h), 0);
	assert_int_equal(rd32(f->bar0 + NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT);
	assert_false(f->sq[1].live || f->cq[1].live);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 8, w, 0), -ESHUTDOWN);
	assert_int_equal(nvme_host_reset(h), 0);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 8, w, 0), 0);
	nvme_host_close(h);
	fk_stop(f);
}

static void test_e2e_mmap_doorbells(void **state)
{
	(void)state;
	struct fk *f = fk_start(true, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 1, .irq = NVME_HOST_IRQ_OFF };
	struct nvme_host *h = open_fk(f, &o);

	assert_true(nvme_host_doorbells_mmapped(h));
	assert_false(nvme_host_irq_enabled(h, 1));
	assert_false(f->cq[1].ien);
	uint8_t *w = nvme_host_alloc(h, 2 * PG, PG, NULL);
	fill(w, 2 * PG, 77);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 16, 16, w, 0), 0);
	assert_memory_equal(f->disk + 16 * 512, w, 2 * PG);
	assert_int_equal(atomic_load(&f->n_trapped_db), 0);
	assert_int_equal(nvme_host_wait_irq(h, 1, 10), -EOPNOTSUPP);
	nvme_host_close(h);
	fk_stop(f);

	/* a controller without mappable doorbells and NVME_HOST_DB_MMAP required */
	f = fk_start(false, 0, 0);
	struct nvme_host *h2 = NULL;
	o = (struct nvme_host_opts){ .mem_size = 8u << 20, .doorbells = NVME_HOST_DB_MMAP };
	assert_int_equal(nvme_host_open(f->path, &o, &h2), -EOPNOTSUPP);
	assert_null(h2);
	fk_stop(f);
}

static void test_e2e_shadow_doorbells(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, NVME_OACS_DBBUF);
	struct nvme_host_opts o = { .nr_io_queues = 1, .shadow_doorbells = true };
	struct nvme_host *h = open_fk(f, &o);

	assert_true(nvme_host_shadow_doorbells(h));
	assert_true(f->shadow_iova != 0);
	uint8_t *w = nvme_host_alloc(h, PG, PG, NULL);
	for (int i = 0; i < 20; i++) {
		fill(w, PG, (uint32_t)i);
		assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, (uint64_t)i * 8, 8, w, 0), 0);
		assert_memory_equal(f->disk + (size_t)i * PG, w, PG);
	}
	struct nvme_host_qstats qs;
	assert_int_equal(nvme_host_queue_stats(h, 1, &qs), 0);
	/* every SQ tail went to the shadow page; the real doorbell only when
	 * the EventIdx asked (here: each time, since the fake publishes the
	 * tail it saw) */
	assert_true(qs.doorbells + qs.doorbells_skipped >= 40);
	/* the fake never publishes a CQ EventIdx: head updates stay in the shadow */
	assert_true(qs.doorbells_skipped > 0);
	assert_true(atomic_load(&f->n_shadow_used) > 0 || atomic_load(&f->n_trapped_db) > 0);
	nvme_host_close(h);
	fk_stop(f);
}

struct worker {
	struct nvme_host *h;
	struct fk *f;
	uint16_t qid;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *wb = nvme_host_alloc(w->h, PG, PG, NULL);
	uint8_t *rb = nvme_host_alloc(w->h, PG, PG, NULL);
	uint64_t base = w->qid * 1024ull;	/* separate LBA ranges per thread */

	for (int i = 0; i < 200; i++) {
		uint64_t lba = base + (uint64_t)(i % 64) * 8;
		fill(wb, PG, (uint32_t)(i + 1000 * w->qid));
		if (nvme_host_rw(w->h, w->qid, NVME_CMD_WRITE, 1, lba, 8, wb, 0) != 0 ||
		    nvme_host_rw(w->h, w->qid, NVME_CMD_READ, 1, lba, 8, rb, 0) != 0 ||
		    memcmp(wb, rb, PG) != 0)
			w->failures++;
	}
	nvme_host_free(w->h, wb);
	nvme_host_free(w->h, rb);
	return NULL;
}

/* Two queue pairs driven from two threads at once (trapped doorbells share
 * the socket; the arena is shared). */
/* Per-vector masking as a VFIO user does it: SET_IRQS MASK/UNMASK. A masked
 * vector's interrupt latches in the PBA and comes once on unmask. */
static void test_e2e_irq_mask(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);
	int efd = nvme_host_irq_fd(h, 1);
	uint64_t v;
	assert_true(efd >= 0);
	uint8_t *b = nvme_host_alloc(h, PG, PG, NULL);
	fill(b, PG, 9);

	assert_int_equal(nvme_host_irq_mask(h, 1, true), 0);
	assert_true(f->vmask[1]);
	assert_false(f->vmask[0] || f->vmask[2]);
	assert_int_equal(f->irq_set[f->n_irq_set - 1].flags,
			 VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK);
	assert_int_equal(f->irq_set[f->n_irq_set - 1].start, 1);
	assert_int_equal(f->irq_set[f->n_irq_set - 1].count, 1);
	while (read(efd, &v, sizeof(v)) == sizeof(v))
		;
	/* the command completes (the driver polls), no interrupt: pending */
	struct nvme_host_cmd c;
	assert_int_equal(nvme_host_cmd_rw(h, &c, NVME_CMD_WRITE, 1, 16, 8, b, 0), 0);
	assert_int_equal(nvme_host_submit(h, 1, &c), 0);
	/* poll only: nvme_host_wait() would consume the eventfd */
	for (int i = 0; i < 50000 && !c.completed; i++) {
		assert_true(nvme_host_poll(h, 1, 0) >= 0);
		if (!c.completed)
			usleep(100);
	}
	assert_true(c.completed);
	assert_int_equal(c.result, 0);
	assert_int_equal(vfu_sync(nvme_host_vfu(h)), 0);	/* the fake is done posting */
	assert_int_equal(read(efd, &v, sizeof(v)), -1);
	assert_int_equal(f->bar4[0x800] & 2, 2);
	/* unmask: delivered once, PBA clear */
	assert_int_equal(nvme_host_irq_mask(h, 1, false), 0);
	assert_false(f->vmask[1]);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(f->bar4[0x800] & 2, 0);
	/* a queue without an interrupt */
	assert_int_equal(nvme_host_irq_mask(h, 3, true), -EINVAL);
	assert_int_equal(atomic_load(&f->n_table_writes), 0);
	nvme_host_close(h);
	fk_stop(f);
}

/* NVME_HOST_F_NO_DB: two SQEs, one doorbell. */
static void test_e2e_deferred_doorbell(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);
	struct vfu_client *v = nvme_host_vfu(h);
	uint8_t *b = nvme_host_alloc(h, 2 * PG, PG, NULL);
	fill(b, 2 * PG, 4);
	struct nvme_host_cmd c1, c2;
	assert_int_equal(nvme_host_cmd_rw(h, &c1, NVME_CMD_WRITE, 1, 40, 8, b, 0), 0);
	assert_int_equal(nvme_host_cmd_rw(h, &c2, NVME_CMD_WRITE, 1, 48, 8, b + PG, 0), 0);
	c1.flags |= NVME_HOST_F_NO_DB;
	/* held back: the controller's SQ tail does not move */
	assert_int_equal(vfu_sync(v), 0);
	uint32_t tail0 = f->sq[1].db;
	int db0 = atomic_load(&f->n_trapped_db);
	assert_int_equal(nvme_host_submit(h, 1, &c1), 0);
	assert_int_equal(vfu_sync(v), 0);
	assert_int_equal(f->sq[1].db, tail0);
	assert_int_equal(atomic_load(&f->n_trapped_db), db0);
	assert_int_equal(nvme_host_poll(h, 1, 0), 0);
	assert_false(c1.completed);
	/* the next plain submission publishes both in one doorbell */
	assert_int_equal(nvme_host_submit(h, 1, &c2), 0);
	assert_int_equal(vfu_sync(v), 0);
	assert_int_equal(atomic_load(&f->n_trapped_db), db0 + 1);
	assert_int_equal(f->sq[1].db, tail0 + 2);
	assert_int_equal(nvme_host_wait(h, 1, &c1, 5000), 0);
	assert_int_equal(nvme_host_wait(h, 1, &c2, 5000), 0);
	assert_memory_equal(f->disk + 40 * 512, b, 2 * PG);
	/* or nvme_host_ring_sq(), which has nothing to do the second time */
	assert_int_equal(nvme_host_submit(h, 1, &c1), 0);
	assert_int_equal(vfu_sync(v), 0);
	db0 = atomic_load(&f->n_trapped_db);
	assert_int_equal(nvme_host_ring_sq(h, 1), 0);
	assert_int_equal(nvme_host_ring_sq(h, 1), 0);
	assert_int_equal(vfu_sync(v), 0);
	assert_int_equal(atomic_load(&f->n_trapped_db), db0 + 1);
	assert_int_equal(nvme_host_wait(h, 1, &c1, 5000), 0);
	assert_int_equal(nvme_host_ring_sq(h, 9), -EINVAL);
	nvme_host_close(h);
	fk_stop(f);
}

/* The fd-less ROM range: DMA_MAP without an fd, read-only, unmapped at close;
 * one overlapping the arena is refused before anything is sent. */
static void test_e2e_rom_map(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 1, .rom_size = 0x40000 };
	struct nvme_host *h = open_fk(f, &o);
	assert_int_equal(f->n_fdless_map, 1);
	assert_int_equal(f->fdless_iova, 0xfffc0000ull);
	assert_int_equal(f->fdless_size, 0x40000);
	assert_int_equal(f->fdless_flags, VFIO_DMA_MAP_FLAG_READ);
	uint8_t *b = nvme_host_alloc(h, PG, PG, NULL);
	fill(b, PG, 5);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 0, 8, b, 0), 0);
	nvme_host_close(h);
	assert_int_equal(f->n_fdless_unmap, 1);
	fk_stop(f);

	struct nvme_host_opts bad = { .mem_size = 1u << 20, .iova_base = 0x100000,
				      .rom_size = 0x2000, .rom_iova = 0x1ff000 };
	assert_int_equal(nvme_host_open("/nonexistent/osnap.sock", &bad, &h), -EINVAL);
	bad.rom_iova = 0x200000;
	bad.rom_size = 0x1800;
	assert_int_equal(nvme_host_open("/nonexistent/osnap.sock", &bad, &h), -EINVAL);
}

static void test_e2e_two_threads(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);
	struct worker w[2] = { { h, f, 1, 0 }, { h, f, 2, 0 } };
	pthread_t th[2];

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].failures, 0);
	assert_int_equal(w[1].failures, 0);
	nvme_host_close(h);
	fk_stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prp_one_and_two_pages),
		cmocka_unit_test(test_prp_list),
		cmocka_unit_test(test_prp_list_chain),
		cmocka_unit_test(test_prp_pieces),
		cmocka_unit_test(test_sgl_single_and_three),
		cmocka_unit_test(test_sgl_segments_chain),
		cmocka_unit_test(test_cq_phase_wrap),
		cmocka_unit_test(test_sq_ring),
		cmocka_unit_test(test_need_event),
		cmocka_unit_test(test_ns_desc_find),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_e2e_open_identify),
		cmocka_unit_test(test_e2e_rw_prp),
		cmocka_unit_test(test_e2e_sgl),
		cmocka_unit_test(test_e2e_async_32),
		cmocka_unit_test(test_e2e_raw_and_timeout),
		cmocka_unit_test(test_e2e_admin),
		cmocka_unit_test(test_e2e_mmap_doorbells),
		cmocka_unit_test(test_e2e_shadow_doorbells),
		cmocka_unit_test(test_e2e_two_threads),
		cmocka_unit_test(test_e2e_irq_mask),
		cmocka_unit_test(test_e2e_deferred_doorbell),
		cmocka_unit_test(test_e2e_rom_map),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
