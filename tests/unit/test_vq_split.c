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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_chain),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_indirect),
		cmocka_unit_test(test_event_idx),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
