/* Split virtqueue, device side: chains, indirect tables, every malformed
 * case, used ring and event-idx signalling. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/thread.h"
#include "emu/emu_internal.h"
#include "virtio_blk/vq_split.h"

#define GPA 0x100000ull
#define MEM (1u << 20)
#define QSZ 8

static struct emu_function *g_fn;
static uint8_t *g_mem;		/* our view of guest memory */
static struct vring_desc *g_desc;
static struct vring_avail *g_avail;
static struct vring_used *g_used;
static struct iovec g_iov[16];

static int setup(void **state)
{
	(void)state;
	struct emu_config cfg;
	char err[256];
	assert_int_equal(thread_lib_init(), 0);
	emu_config_defaults(&cfg);
	cfg.no_endpoints = true;
	assert_int_equal(emu_init(&cfg, err, sizeof(err)), 0);
	g_fn = emu_pf_first();
	int fd = memfd_create("guest", 0);
	assert_int_equal(ftruncate(fd, MEM), 0);
	g_mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_int_equal(emu_mem_add(g_fn, GPA, MEM, EMU_DMA_READ | EMU_DMA_WRITE, fd, 0), 0);
	close(fd);
	g_desc = (void *)g_mem;
	g_avail = (void *)(g_mem + 0x1000);
	g_used = (void *)(g_mem + 0x2000);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	emu_fini();
	thread_lib_fini();
	return 0;
}

static void vq_init(struct vq *q, bool indirect, bool event_idx)
{
	memset(g_mem, 0, 0x10000);
	memset(q, 0, sizeof(*q));
	q->fn = g_fn;
	q->size = QSZ;
	q->indirect = indirect;
	q->event_idx = event_idx;
	q->desc_gpa = GPA;
	q->avail_gpa = GPA + 0x1000;
	q->used_gpa = GPA + 0x2000;
	assert_int_equal(vq_map(q), 0);
}

static void set_desc(struct vring_desc *t, int i, uint64_t off, uint32_t len, uint16_t flags, uint16_t next)
{
	t[i] = (struct vring_desc){ GPA + off, len, flags, next };
}

static void make_avail(uint16_t head)
{
	g_avail->ring[g_avail->idx % QSZ] = head;
	g_avail->idx++;
}

static int pop(struct vq *q, struct vq_chain *c)
{
	memset(c, 0, sizeof(*c));
	c->iov = g_iov;
	c->max_iov = 16;
	return vq_pop(q, c);
}

static void test_chain(void **state)
{
	(void)state;
	struct vq q;
	struct vq_chain c;
	vq_init(&q, false, false);
	assert_int_equal(pop(&q, &c), 0);	/* empty */
	set_desc(g_desc, 0, 0x8000, 16, VRING_DESC_F_NEXT, 3);
	set_desc(g_desc, 3, 0x9000, 4096, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 5);
	set_desc(g_desc, 5, 0xa000, 1, VRING_DESC_F_WRITE, 0);
	make_avail(0);
	assert_int_equal(pop(&q, &c), 1);
	assert_int_equal(c.head, 0);
	assert_int_equal(c.nout, 1);
	assert_int_equal(c.nin, 2);
	assert_int_equal(c.out_len, 16);
	assert_int_equal(c.in_len, 4097);
	/* the device writes through the iovec and the guest sees it */
	((uint8_t *)g_iov[2].iov_base)[0] = 0x5a;
	assert_int_equal(g_mem[0xa000], 0x5a);
	vq_push(&q, c.head, 4097);
	vq_flush(&q);
	assert_int_equal(g_used->idx, 1);
	assert_int_equal(g_used->ring[0].id, 0);
	assert_int_equal(g_used->ring[0].len, 4097);
}

static void test_malformed(void **state)
{
	(void)state;
	struct vq q;
	struct vq_chain c;

	/* a loop */
	vq_init(&q, false, false);
	set_desc(g_desc, 0, 0x8000, 16, VRING_DESC_F_NEXT, 1);
	set_desc(g_desc, 1, 0x8100, 16, VRING_DESC_F_NEXT, 0);
	make_avail(0);
	assert_int_equal(pop(&q, &c), -EINVAL);
	assert_int_equal(c.head, 0);	/* consumed: the caller can hand it back */

	/* next out of range */
	vq_init(&q, false, false);
	set_desc(g_desc, 0, 0x8000, 16, VRING_DESC_F_NEXT, QSZ);
	make_avail(0);
	assert_int_equal(pop(&q, &c), -EINVAL);

	/* head out of range */
	vq_init(&q, false, false);
	make_avail(QSZ + 1);
	assert_int_equal(pop(&q, &c), -EINVAL);

	/* readable after writable */
	vq_init(&q, false, false);
	set_desc(g_desc, 0, 0x8000, 16, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 1);
	set_desc(g_desc, 1, 0x8100, 16, 0, 0);
	make_avail(0);
	assert_int_equal(pop(&q, &c), -EINVAL);

	/* buffer outside the client's memory, and a wrapping one */
	vq_init(&q, false, false);
	set_desc(g_desc, 0, MEM - 8, 16, 0, 0);
	set_desc(g_desc, 1, (uint64_t)-GPA - 4, 16, 0, 0);
	make_avail(0);
	make_avail(1);
	assert_int_equal(pop(&q, &c), -EFAULT);
	assert_int_equal(pop(&q, &c), -EFAULT);

	/* more pieces than the caller has iovecs for */
	vq_init(&q, false, false);
	for (int i = 0; i < QSZ; i++)
		set_desc(g_desc, i, 0x8000 + 0x100u * (unsigned)i, 16,
			 i < QSZ - 1 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	make_avail(0);
	memset(&c, 0, sizeof(c));
	c.iov = g_iov;
	c.max_iov = 4;
	assert_int_equal(vq_pop(&q, &c), -ENOSPC);

	/* avail idx runs more than a ring ahead: the ring is corrupt */
	vq_init(&q, false, false);
	g_avail->idx = QSZ + 1;
	assert_int_equal(pop(&q, &c), -EPROTO);
}

static void test_indirect(void **state)
{
	(void)state;
	struct vq q;
	struct vq_chain c;
	struct vring_desc *tbl = (void *)(g_mem + 0x4000);

	vq_init(&q, true, false);
	set_desc(tbl, 0, 0x8000, 16, VRING_DESC_F_NEXT, 1);
	set_desc(tbl, 1, 0x9000, 512, VRING_DESC_F_NEXT | VRING_DESC_F_WRITE, 2);
	set_desc(tbl, 2, 0xa000, 1, VRING_DESC_F_WRITE, 0);
	set_desc(g_desc, 2, 0x4000, 48, VRING_DESC_F_INDIRECT, 0);
	make_avail(2);
	assert_int_equal(pop(&q, &c), 1);
	assert_int_equal(c.head, 2);
	assert_int_equal(c.out_len, 16);
	assert_int_equal(c.in_len, 513);

	/* indirect not negotiated */
	vq_init(&q, false, false);
	set_desc(g_desc, 0, 0x4000, 48, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	assert_int_equal(pop(&q, &c), -EINVAL);

	/* table length not a multiple of 16; nested; INDIRECT with NEXT */
	vq_init(&q, true, false);
	set_desc(g_desc, 0, 0x4000, 40, VRING_DESC_F_INDIRECT, 0);
	set_desc(tbl, 0, 0x4000, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(g_desc, 1, 0x4000, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(g_desc, 2, 0x4000, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 3);
	make_avail(0);
	make_avail(1);
	make_avail(2);
	assert_int_equal(pop(&q, &c), -EINVAL);
	assert_int_equal(pop(&q, &c), -EINVAL);
	assert_int_equal(pop(&q, &c), -EINVAL);

	/* a loop inside the table */
	vq_init(&q, true, false);
	set_desc(tbl, 0, 0x8000, 16, VRING_DESC_F_NEXT, 1);
	set_desc(tbl, 1, 0x8000, 16, VRING_DESC_F_NEXT, 0);
	set_desc(g_desc, 0, 0x4000, 32, VRING_DESC_F_INDIRECT, 0);
	make_avail(0);
	assert_int_equal(pop(&q, &c), -EINVAL);
}

static void test_event_idx(void **state)
{
	(void)state;
	struct vq q;
	vq_init(&q, false, true);
	uint16_t *used_event = &g_avail->ring[QSZ];
	uint16_t *avail_event = (uint16_t *)&g_used->ring[QSZ];

	/* first completion always signals */
	vq_push(&q, 0, 1);
	vq_flush(&q);
	assert_true(vq_need_signal(&q));
	/* driver asks to be told only after used index 3 */
	*used_event = 3;
	vq_push(&q, 0, 1);	/* used idx 2 */
	vq_flush(&q);
	assert_false(vq_need_signal(&q));
	vq_push(&q, 0, 1);	/* 3 */
	vq_push(&q, 0, 1);	/* 4: crosses 3 */
	vq_flush(&q);
	assert_true(vq_need_signal(&q));

	/* before sleeping the device publishes where it wants a kick */
	q.last_avail = 7;
	g_avail->idx = 7;
	assert_false(vq_enable_kick(&q));
	assert_int_equal(*avail_event, 7);
	g_avail->idx = 8;
	assert_true(vq_enable_kick(&q));

	/* without event idx: NO_INTERRUPT suppresses, NO_NOTIFY flag cleared */
	vq_init(&q, false, false);
	g_avail->flags = VRING_AVAIL_F_NO_INTERRUPT;
	vq_push(&q, 0, 1);
	vq_flush(&q);
	assert_false(vq_need_signal(&q));
	vq_disable_kick(&q);
	assert_int_equal(g_used->flags, VRING_USED_F_NO_NOTIFY);
	vq_enable_kick(&q);
	assert_int_equal(g_used->flags, 0);
}

/* ---- in-flight tracking (src/emu/virtio_inflight.h) ---- */

static _Alignas(64) uint8_t g_slice[4096];

static struct vinfl_split *slice(void)
{
	return (struct vinfl_split *)g_slice;
}

/* A one-descriptor request at head i (the data buffer writable). */
static void one_desc(uint16_t i)
{
	set_desc(g_desc, i, 0x8000 + 0x100u * i, 64, VRING_DESC_F_WRITE, 0);
}

/* vq_init with the slice attached (recovered at the map) */
static void vq_init_tracked(struct vq *q, uint16_t base)
{
	memset(q, 0, sizeof(*q));
	q->fn = g_fn;
	q->size = QSZ;
	q->desc_gpa = GPA;
	q->avail_gpa = GPA + 0x1000;
	q->used_gpa = GPA + 0x2000;
	q->last_avail = q->used_idx = base;
	assert_int_equal(vinfl_queue_init(&q->infl, slice(), QSZ), 0);
	assert_int_equal(vq_map(q), 0);
}

/* A ring of QSZ tracked in a zeroed slice, its memory zeroed. */
static void fresh_tracked(struct vq *q)
{
	memset(g_slice, 0, sizeof(g_slice));
	memset(g_mem, 0, 0x10000);
	vq_init_tracked(q, 0);
}

/* fetched heads are marked with increasing counters; a published batch is
 * cleared and the slice's used_idx follows used->idx */
static void test_inflight_marks(void **state)
{
	(void)state;
	struct vq q;
	struct vq_chain c;
	fresh_tracked(&q);
	assert_int_equal(q.infl.outcome, VINFL_FRESH);
	assert_int_equal(slice()->version, VINFL_VERSION);
	assert_int_equal(slice()->desc_num, QSZ);
	for (uint16_t i = 0; i < 3; i++) {
		one_desc((uint16_t)(5 - i));
		make_avail((uint16_t)(5 - i));
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(pop(&q, &c), 1);
	assert_int_equal(slice()->desc[5].inflight, 1);
	assert_int_equal(slice()->desc[4].inflight, 1);
	assert_int_equal(slice()->desc[3].inflight, 1);
	assert_true(slice()->desc[5].counter < slice()->desc[4].counter);
	assert_true(slice()->desc[4].counter < slice()->desc[3].counter);
	/* 4 then 3 used: the batch list runs 3 -> 4 */
	vq_push(&q, 4, 1);
	vq_push(&q, 3, 1);
	assert_int_equal(slice()->last_batch_head, 3);
	assert_int_equal(slice()->desc[3].next, 4);
	assert_int_equal(slice()->desc[4].inflight, 1);	/* not published yet */
	vq_flush(&q);
	assert_int_equal(g_used->idx, 2);
	assert_int_equal(slice()->used_idx, 2);
	assert_int_equal(slice()->desc[4].inflight, 0);
	assert_int_equal(slice()->desc[3].inflight, 0);
	assert_int_equal(slice()->desc[5].inflight, 1);
	vinfl_queue_fini(&q.infl);
}

/* A successor resubmits the heads in flight in counter order before the
 * avail ring, settles a batch published but not cleared, and reads the
 * avail ring from used->idx + in flight (not from the front end's base). */
static void test_inflight_resubmit(void **state)
{
	(void)state;
	struct vq q;
	struct vq_chain c;
	fresh_tracked(&q);
	for (uint16_t i = 0; i < QSZ; i++)
		one_desc(i);
	/* 6 requests fetched: heads 0..5 */
	for (uint16_t i = 0; i < 6; i++)
		make_avail(i);
	for (int i = 0; i < 6; i++)
		assert_int_equal(pop(&q, &c), 1);
	/* 1 used and settled; 2 used and published, then the service died
	 * before clearing their marks */
	vq_push(&q, 1, 1);
	vq_flush(&q);
	vq_push(&q, 2, 1);
	vq_push(&q, 0, 1);
	__atomic_store_n(&g_used->idx, q.used_idx, __ATOMIC_RELEASE);
	/* reorder the counters of those in flight: 5 first, then 3, then 4 */
	slice()->desc[5].counter = 1;
	slice()->desc[3].counter = 7;
	slice()->desc[4].counter = 9;
	/* a new request waits in the avail ring */
	make_avail(6);
	vinfl_queue_fini(&q.infl);

	/* the successor, told base 1 by the front end (stale) */
	vq_init_tracked(&q, 1);
	assert_int_equal(q.infl.outcome, VINFL_RECOVERED);
	assert_int_equal(q.infl.nresubmit, 3);
	assert_int_equal(q.last_avail, 6);	/* used 3 + 3 in flight */
	assert_int_equal(q.used_idx, 3);
	assert_int_equal(slice()->used_idx, 3);
	assert_int_equal(slice()->desc[0].inflight, 0);
	assert_int_equal(slice()->desc[2].inflight, 0);
	assert_true(vq_has_work(&q));
	const uint16_t want[] = { 5, 3, 4, 6 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pop(&q, &c), 1);
		assert_int_equal(c.head, want[i]);
	}
	assert_int_equal(pop(&q, &c), 0);
	/* resubmitted heads keep their counters; the new one comes after */
	assert_true(slice()->desc[6].counter > 9);
	assert_int_equal(slice()->desc[6].inflight, 1);
	vinfl_queue_fini(&q.infl);
}

/* Slices that cannot be ours start afresh: the front end's base stands */
static void test_inflight_garbage(void **state)
{
	(void)state;
	struct vq q;
	memset(g_mem, 0, 0x10000);
	memset(g_slice, 0xa5, sizeof(g_slice));
	vq_init_tracked(&q, 4);
	assert_int_equal(q.infl.outcome, VINFL_GARBAGE);
	assert_int_equal(q.last_avail, 4);
	assert_int_equal(slice()->version, VINFL_VERSION);
	for (int i = 0; i < QSZ; i++)
		assert_int_equal(slice()->desc[i].inflight, 0);
	vinfl_queue_fini(&q.infl);

	/* a valid header for another ring size */
	slice()->desc_num = QSZ * 2;
	vq_init_tracked(&q, 2);
	assert_int_equal(q.infl.outcome, VINFL_GARBAGE);
	assert_int_equal(q.last_avail, 2);
	vinfl_queue_fini(&q.infl);

	/* marks that are neither 0 nor 1, a batch list out of range and a
	 * batch larger than the ring: cleared or skipped, nothing resubmitted
	 * beyond the valid marks */
	memset(g_slice, 0, sizeof(g_slice));
	slice()->version = VINFL_VERSION;
	slice()->desc_num = QSZ;
	slice()->desc[1].inflight = 7;
	slice()->desc[2].inflight = 1;
	slice()->last_batch_head = 0xffff;
	slice()->used_idx = 100;	/* used->idx is 0: 65436 "used" */
	vq_init_tracked(&q, 0);
	assert_int_equal(q.infl.outcome, VINFL_RECOVERED);
	assert_int_equal(q.infl.nresubmit, 1);
	assert_int_equal(q.infl.resubmit[0], 2);
	assert_int_equal(slice()->desc[1].inflight, 0);
	assert_int_equal(slice()->used_idx, 0);
	vinfl_queue_fini(&q.infl);

	/* a ring larger than the slice is not tracked */
	memset(&q, 0, sizeof(q));
	assert_int_equal(vinfl_queue_init(&q.infl, slice(), QSZ / 2), 0);
	uint16_t last = 3;
	assert_int_equal(vinfl_recover(&q.infl, QSZ, 0, &last), VINFL_NONE);
	assert_int_equal(last, 3);
	assert_null(q.infl.r);
	vinfl_fetch(&q.infl, 7);	/* no effect, no access */
	vinfl_push(&q.infl, 7);
	vinfl_published(&q.infl, 1);
	vinfl_queue_fini(&q.infl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_event_idx),
		cmocka_unit_test(test_inflight_marks),
		cmocka_unit_test(test_inflight_resubmit),
		cmocka_unit_test(test_inflight_garbage),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
