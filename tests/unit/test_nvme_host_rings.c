/* test_nvme_host: the SQ/CQ ring logic, the EventIdx rule, namespace
 * descriptor parsing and the arena, in isolation. */
#include "test_nvme_host.h"

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

void test_cq_phase_wrap(void **state)
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

void test_sq_ring(void **state)
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

void test_need_event(void **state)
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

void test_ns_desc_find(void **state)
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

void test_arena(void **state)
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
