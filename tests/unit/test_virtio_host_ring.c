/* test_virtio_host: the split-ring logic in isolation (virtio_ring_host). */
#include "test_virtio_host.h"

/* ==== ring logic in isolation ============================================================== */

#define RING_ADDR 0x100000ull	/* made-up device address of the ring area */

struct tring {
	struct vring_host vq;
	struct vring_host_layout l;
	uint8_t *mem;
	int notifies;
};

static int count_notify(void *arg)
{
	((struct tring *)arg)->notifies++;
	return 0;
}

static void tring_init(struct tring *t, uint32_t num, uint32_t ind, bool event_idx, uint16_t start)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(vring_host_layout(num, ind, &t->l), 0);
	t->mem = aligned_alloc(4096, (t->l.size + 4095) / 4096 * 4096);
	assert_non_null(t->mem);
	memset(t->mem, 0xee, t->l.size);
	struct vring_host_cfg c = { .num = num, .mem = t->mem, .mem_addr = RING_ADDR,
				    .indirect_max = ind, .event_idx = event_idx, .start_idx = start,
				    .notify = count_notify, .notify_arg = t };
	assert_int_equal(vring_host_init(&t->vq, &c), 0);
}

static void tring_fini(struct tring *t)
{
	vring_host_fini(&t->vq);
	free(t->mem);
}

/* Raw views of the three parts. */
static uint8_t *t_desc(struct tring *t, uint32_t i)
{
	return t->mem + t->l.desc_off + 16 * i;
}

static uint16_t t_avail_idx(struct tring *t)
{
	return rd16(t->mem + t->l.avail_off + 2);
}

static uint16_t t_avail_ring(struct tring *t, uint32_t slot)
{
	return rd16(t->mem + t->l.avail_off + 4 + 2 * slot);
}

/* Device side: put (id, len) into the used ring and advance its idx. */
static void t_use(struct tring *t, uint32_t id, uint32_t len)
{
	uint8_t *u = t->mem + t->l.used_off;
	uint16_t idx = rd16(u + 2);
	wr32(u + 4 + 8 * (idx % t->vq.num), id);
	wr32(u + 4 + 8 * (idx % t->vq.num) + 4, len);
	wr16(u + 2, (uint16_t)(idx + 1));
}

void test_ring_layout(void **state)
{
	(void)state;
	struct vring_host_layout l;

	assert_int_equal(vring_host_layout(256, 0, &l), 0);
	assert_int_equal(l.desc_off, 0);
	assert_int_equal(l.avail_off, 4096);
	assert_int_equal(l.used_off, 4096 + 6 + 512 + 2);	/* aligned to 4 */
	assert_int_equal(l.used_off % 4, 0);
	assert_int_equal(l.indirect_off % 16, 0);
	assert_true(l.indirect_off >= l.used_off + 6 + 8 * 256);
	assert_int_equal(l.size, l.indirect_off);
	assert_int_equal(vring_host_layout(4, 4, &l), 0);
	assert_int_equal(l.size, l.indirect_off + 4 * 4 * 16);
	assert_int_equal(vring_host_layout(0, 0, &l), -EINVAL);
	assert_int_equal(vring_host_layout(3, 0, &l), -EINVAL);
	assert_int_equal(vring_host_layout(65536, 0, &l), -EINVAL);
	assert_int_equal(vring_host_layout(32768, 0, &l), 0);
	assert_int_equal(vring_host_layout(8, 9, &l), -EINVAL);

	struct vring_host vq;
	struct vring_host_cfg c = { .num = 8, .mem = &vq, .mem_addr = RING_ADDR + 8 };
	assert_int_equal(vring_host_init(&vq, &c), -EINVAL);	/* desc table not 16-aligned */
}

void test_ring_add_publish_used(void **state)
{
	(void)state;
	struct tring t;
	tring_init(&t, 8, 0, false, 0);
	int cookie;
	struct vring_host_buf out[2] = { { 0x5000, 16 }, { 0x6000, 512 } };
	struct vring_host_buf in[1] = { { 0x7000, 1 } };

	/* the driver initialised flags and indexes */
	assert_int_equal(rd16(t.mem + t.l.avail_off), 0);
	assert_int_equal(t_avail_idx(&t), 0);
	assert_int_equal(rd16(t.mem + t.l.used_off), 0);
	assert_int_equal(rd16(t.mem + t.l.used_off + 2), 0);

	int head = vring_host_add(&t.vq, out, 2, in, 1, &cookie, false);
	assert_int_equal(head, 0);
	assert_int_equal(t.vq.num_free, 5);
	/* descriptors: readable, readable, writable, chained by next */
	assert_int_equal(rd64(t_desc(&t, 0)), 0x5000);
	assert_int_equal(rd32(t_desc(&t, 0) + 8), 16);
	assert_int_equal(rd16(t_desc(&t, 0) + 12), VH_DESC_F_NEXT);
	uint16_t n1 = rd16(t_desc(&t, 0) + 14);
	assert_int_equal(rd64(t_desc(&t, n1)), 0x6000);
	assert_int_equal(rd16(t_desc(&t, n1) + 12), VH_DESC_F_NEXT);
	uint16_t n2 = rd16(t_desc(&t, n1) + 14);
	assert_int_equal(rd64(t_desc(&t, n2)), 0x7000);
	assert_int_equal(rd32(t_desc(&t, n2) + 8), 1);
	assert_int_equal(rd16(t_desc(&t, n2) + 12), VH_DESC_F_WRITE);
	/* in the ring but invisible until published */
	assert_int_equal(t_avail_ring(&t, 0), 0);
	assert_int_equal(t_avail_idx(&t), 0);
	assert_int_equal(vring_host_publish(&t.vq), 1);
	assert_int_equal(t_avail_idx(&t), 1);
	assert_true(vring_host_need_notify(&t.vq));
	assert_false(vring_host_need_notify(&t.vq));	/* nothing new since */

	void *ck;
	uint32_t len, id;
	assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, &id), 0);
	t_use(&t, 0, 7);
	assert_int_equal(vring_host_used_pending(&t.vq), 1);
	assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, &id), 1);
	assert_ptr_equal(ck, &cookie);
	assert_int_equal(len, 7);
	assert_int_equal(id, 0);
	assert_int_equal(t.vq.num_free, 8);
	assert_int_equal(t.vq.inflight, 0);
	assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, &id), 0);

	/* argument checks */
	assert_int_equal(vring_host_add(&t.vq, NULL, 0, NULL, 0, NULL, false), -EINVAL);
	assert_int_equal(vring_host_add(&t.vq, out, 2, in, 1, NULL, true), -EINVAL); /* no tables */
	tring_fini(&t);
}

void test_ring_free_list(void **state)
{
	(void)state;
	struct tring t;
	tring_init(&t, 8, 0, false, 0);
	struct vring_host_buf b = { 0x1000, 4 };
	int heads[8];

	for (int i = 0; i < 8; i++) {
		heads[i] = vring_host_add(&t.vq, &b, 1, NULL, 0, (void *)(intptr_t)(i + 1), false);
		assert_true(heads[i] >= 0 && heads[i] < 8);
	}
	assert_int_equal(vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false), -ENOSPC);
	vring_host_publish(&t.vq);
	/* complete out of order: 5, 2, then the rest backwards */
	int order[8] = { 5, 2, 7, 6, 4, 3, 1, 0 };
	for (int k = 0; k < 8; k++)
		t_use(&t, (uint32_t)heads[order[k]], 0);
	for (int k = 0; k < 8; k++) {
		void *ck;
		assert_int_equal(vring_host_get_used(&t.vq, &ck, NULL, NULL), 1);
		assert_int_equal((intptr_t)ck, order[k] + 1);
	}
	assert_int_equal(t.vq.num_free, 8);
	/* a chain as long as the ring works, one longer does not */
	struct vring_host_buf many[9];
	for (int i = 0; i < 9; i++)
		many[i] = (struct vring_host_buf){ 0x1000u * (unsigned)i, 8 };
	int h = vring_host_add(&t.vq, many, 4, many + 4, 4, NULL, false);
	assert_true(h >= 0);
	assert_int_equal(t.vq.num_free, 0);
	/* every descriptor is used exactly once in the chain */
	bool seen[8] = { false };
	uint16_t id = (uint16_t)h;
	for (int i = 0; i < 8; i++) {
		assert_false(seen[id]);
		seen[id] = true;
		uint16_t fl = rd16(t_desc(&t, id) + 12);
		assert_int_equal(!!(fl & VH_DESC_F_WRITE), i >= 4);
		assert_int_equal(!!(fl & VH_DESC_F_NEXT), i < 7);
		id = rd16(t_desc(&t, id) + 14);
	}
	vring_host_publish(&t.vq);
	t_use(&t, (uint32_t)h, 0);
	assert_int_equal(vring_host_get_used(&t.vq, NULL, NULL, NULL), 1);
	assert_int_equal(t.vq.num_free, 8);
	assert_int_equal(vring_host_add(&t.vq, many, 5, many + 5, 4, NULL, false), -EINVAL);
	tring_fini(&t);
}

void test_ring_wrap(void **state)
{
	(void)state;
	struct tring t;
	tring_init(&t, 4, 0, false, 65533);
	struct vring_host_buf b = { 0x1000, 4 };

	assert_int_equal(t_avail_idx(&t), 65533);
	assert_int_equal(rd16(t.mem + t.l.used_off + 2), 65533);
	for (int i = 0; i < 10; i++) {
		uint16_t idx = (uint16_t)(65533 + 2 * i);	/* two chains per round */
		int h = vring_host_add(&t.vq, &b, 1, NULL, 0, (void *)(intptr_t)(100 + i), false);
		assert_true(h >= 0);
		assert_int_equal(vring_host_publish(&t.vq), (uint16_t)(idx + 1));
		assert_int_equal(t_avail_ring(&t, idx % 4), h);
		/* two in flight across the wrap at once */
		int h2 = vring_host_add(&t.vq, &b, 1, NULL, 0, (void *)(intptr_t)(200 + i), false);
		assert_true(h2 >= 0);
		vring_host_publish(&t.vq);
		t_use(&t, (uint32_t)h2, 1);
		t_use(&t, (uint32_t)h, 2);
		void *ck;
		uint32_t len;
		assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, NULL), 1);
		assert_int_equal((intptr_t)ck, 200 + i);
		assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, NULL), 1);
		assert_int_equal((intptr_t)ck, 100 + i);
		assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, NULL), 0);
	}
	assert_int_equal(t_avail_idx(&t), (uint16_t)(65533 + 20));
	assert_int_equal(t.vq.last_used, (uint16_t)(65533 + 20));
	tring_fini(&t);
}

void test_ring_event_idx(void **state)
{
	(void)state;
	/* the rule itself, with wrap */
	assert_true(vring_host_need_event(0, 1, 0));
	assert_false(vring_host_need_event(1, 1, 0));
	assert_true(vring_host_need_event(5, 8, 3));
	assert_true(vring_host_need_event(7, 8, 3));
	assert_false(vring_host_need_event(8, 8, 3));
	assert_false(vring_host_need_event(2, 8, 3));
	assert_true(vring_host_need_event(65535, 2, 65534));
	assert_true(vring_host_need_event(0, 2, 65534));
	assert_false(vring_host_need_event(2, 2, 65534));
	assert_false(vring_host_need_event(65533, 2, 65534));

	struct tring t;
	tring_init(&t, 8, 0, true, 0);
	struct vring_host_buf b = { 0x1000, 4 };
	uint8_t *avail_event = t.mem + t.l.used_off + 4 + 8 * 8;
	assert_int_equal(rd16(avail_event), 0);		/* initialised by the driver */

	/* device wants a kick when entry 0 is published: yes */
	vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false);
	assert_int_equal(vring_host_kick(&t.vq), 0);
	assert_int_equal(t.notifies, 1);
	/* device says: wake me at idx 3; publishing 1 and 2 does not kick */
	wr16(avail_event, 3);
	vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false);
	vring_host_kick(&t.vq);
	vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false);
	vring_host_kick(&t.vq);
	assert_int_equal(t.notifies, 1);
	/* two at once crossing 3 kicks once */
	vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false);
	vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false);
	vring_host_kick(&t.vq);
	assert_int_equal(t.notifies, 2);
	/* the flags are ignored with EVENT_IDX */
	wr16(t.mem + t.l.used_off, VH_USED_F_NO_NOTIFY);
	wr16(avail_event, 5);
	vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false);
	vring_host_kick(&t.vq);
	assert_int_equal(t.notifies, 3);
	tring_fini(&t);

	/* without EVENT_IDX: NO_NOTIFY suppresses, avail_event is ignored */
	tring_init(&t, 8, 0, false, 0);
	avail_event = t.mem + t.l.used_off + 4 + 8 * 8;
	wr16(avail_event, 100);
	vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false);
	vring_host_kick(&t.vq);
	assert_int_equal(t.notifies, 1);
	wr16(t.mem + t.l.used_off, VH_USED_F_NO_NOTIFY);
	vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false);
	vring_host_kick(&t.vq);
	assert_int_equal(t.notifies, 1);
	tring_fini(&t);
}

void test_ring_used_event(void **state)
{
	(void)state;
	struct tring t;
	struct vring_host_buf b = { 0x1000, 4 };

	tring_init(&t, 8, 0, true, 10);
	uint8_t *used_event = t.mem + t.l.avail_off + 4 + 2 * 8;
	assert_int_equal(rd16(used_event), 10);
	assert_int_equal(rd16(t.mem + t.l.avail_off), 0);	/* flags stay 0 with EVENT_IDX */
	int h = vring_host_add(&t.vq, &b, 1, NULL, 0, NULL, false);
	vring_host_publish(&t.vq);
	vring_host_disable_cb(&t.vq);
	assert_int_equal(rd16(used_event), 9);			/* behind: never crossed */
	assert_int_equal(rd16(t.mem + t.l.avail_off), 0);
	t_use(&t, (uint32_t)h, 0);
	assert_true(vring_host_enable_cb(&t.vq));		/* pending: do not sleep */
	assert_int_equal(rd16(used_event), 10);
	assert_int_equal(vring_host_get_used(&t.vq, NULL, NULL, NULL), 1);
	assert_int_equal(rd16(used_event), 11);			/* follows consumption */
	assert_false(vring_host_enable_cb(&t.vq));
	tring_fini(&t);

	tring_init(&t, 8, 0, false, 0);
	vring_host_disable_cb(&t.vq);
	assert_int_equal(rd16(t.mem + t.l.avail_off), VH_AVAIL_F_NO_INTERRUPT);
	assert_false(vring_host_enable_cb(&t.vq));
	assert_int_equal(rd16(t.mem + t.l.avail_off), 0);
	tring_fini(&t);
}

void test_ring_indirect(void **state)
{
	(void)state;
	struct tring t;
	tring_init(&t, 8, 8, false, 0);
	struct vring_host_buf out[3] = { { 0xa000, 16 }, { 0xb000, 4096 }, { 0xc000, 512 } };
	struct vring_host_buf in[2] = { { 0xd000, 64 }, { 0xe000, 1 } };

	int h = vring_host_add(&t.vq, out, 3, in, 2, NULL, true);
	assert_true(h >= 0);
	assert_int_equal(t.vq.num_free, 7);			/* one ring descriptor */
	uint64_t taddr = RING_ADDR + t.l.indirect_off + (uint64_t)h * 8 * 16;
	assert_int_equal(rd64(t_desc(&t, (uint32_t)h)), taddr);
	assert_int_equal(rd32(t_desc(&t, (uint32_t)h) + 8), 5 * 16);
	assert_int_equal(rd16(t_desc(&t, (uint32_t)h) + 12), VH_DESC_F_INDIRECT);
	uint8_t *tab = t.mem + t.l.indirect_off + (size_t)h * 8 * 16;
	uint64_t addrs[5] = { 0xa000, 0xb000, 0xc000, 0xd000, 0xe000 };
	for (int i = 0; i < 5; i++) {
		uint8_t *e = tab + 16 * i;
		assert_int_equal(rd64(e), addrs[i]);
		uint16_t fl = rd16(e + 12);
		assert_int_equal(!!(fl & VH_DESC_F_WRITE), i >= 3);
		assert_int_equal(!!(fl & VH_DESC_F_NEXT), i < 4);
		assert_int_equal(!!(fl & VH_DESC_F_INDIRECT), 0);
		if (i < 4)
			assert_int_equal(rd16(e + 14), i + 1);
	}
	struct vh_desc *tp;
	uint64_t ta;
	assert_int_equal(vring_host_indirect_table(&t.vq, (uint16_t)h, &tp, &ta), 0);
	assert_ptr_equal(tp, tab);
	assert_int_equal(ta, taddr);
	/* more entries than a table holds */
	struct vring_host_buf nine[9];
	memset(nine, 0, sizeof(nine));
	assert_int_equal(vring_host_add(&t.vq, nine, 9, NULL, 0, NULL, true), -EINVAL);
	vring_host_publish(&t.vq);
	t_use(&t, (uint32_t)h, 65);
	assert_int_equal(vring_host_get_used(&t.vq, NULL, NULL, NULL), 1);
	assert_int_equal(t.vq.num_free, 8);
	tring_fini(&t);
}

void test_ring_raw_and_bad_used(void **state)
{
	(void)state;
	struct tring t;
	tring_init(&t, 8, 0, false, 0);

	/* loop: 0 -> 1 -> 0, writable before readable, zero length */
	struct vring_host_raw loop[2] = {
		{ 0x1000, 16, VH_DESC_F_NEXT | VH_DESC_F_WRITE, 1, false },
		{ 0x2000, 0, VH_DESC_F_NEXT, 0, false },
	};
	int h = vring_host_add_raw(&t.vq, loop, 2, (void *)1);
	assert_true(h >= 0);
	uint16_t second = rd16(t_desc(&t, (uint32_t)h) + 14);
	assert_int_equal(rd16(t_desc(&t, second) + 14), h);	/* back to the head */
	assert_int_equal(rd16(t_desc(&t, (uint32_t)h) + 12), VH_DESC_F_NEXT | VH_DESC_F_WRITE);
	assert_int_equal(rd32(t_desc(&t, second) + 8), 0);
	/* out-of-range next, indirect with a length not a multiple of 16 */
	struct vring_host_raw bad[2] = {
		{ 0x3000, 16, VH_DESC_F_NEXT, 999, true },
		{ 0x4000, 17, VH_DESC_F_INDIRECT, 0, false },
	};
	int h2 = vring_host_add_raw(&t.vq, bad, 2, (void *)2);
	assert_true(h2 >= 0);
	assert_int_equal(rd16(t_desc(&t, (uint32_t)h2) + 14), 999);
	assert_int_equal(t.vq.num_free, 4);
	struct vring_host_raw nx[1] = { { 0, 0, 0, 5, false } };
	assert_int_equal(vring_host_add_raw(&t.vq, nx, 1, NULL), -EINVAL);
	/* a verbatim head: out of range */
	vring_host_add_raw_head(&t.vq, 77);
	vring_host_publish(&t.vq);
	assert_int_equal(t_avail_idx(&t), 3);
	assert_int_equal(t_avail_ring(&t, 2), 77);

	/* the device uses the raw chains whatever their content */
	t_use(&t, (uint32_t)h2, 0);
	t_use(&t, 77, 3);			/* not a chain: reported, consumed */
	t_use(&t, (uint32_t)h, 0);
	t_use(&t, (uint32_t)h, 0);		/* twice: the second is stale */
	void *ck;
	uint32_t id, len;
	assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, &id), 1);
	assert_ptr_equal(ck, (void *)2);
	assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, &id), -EBADMSG);
	assert_int_equal(id, 77);
	assert_int_equal(len, 3);
	assert_null(ck);
	assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, &id), 1);
	assert_ptr_equal(ck, (void *)1);
	assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, &id), -EBADMSG);
	assert_int_equal(t.vq.num_free, 8);		/* bookkeeping unharmed */
	assert_int_equal(t.vq.inflight, 0);

	/* a used idx more than num ahead is impossible: nothing consumed */
	uint8_t *u = t.mem + t.l.used_off;
	wr16(u + 2, (uint16_t)(rd16(u + 2) + 9));
	assert_int_equal(vring_host_get_used(&t.vq, &ck, &len, &id), -EPROTO);
	assert_int_equal(t.vq.last_used, 4);
	tring_fini(&t);
}

/* Cookies of chains in flight are returned by drain. */
static void drained(void *cookie, void *arg)
{
	(void)cookie;
	(*(int *)arg)++;
}

void test_ring_drain(void **state)
{
	(void)state;
	struct tring t;
	tring_init(&t, 8, 4, false, 0);
	struct vring_host_buf b[3] = { { 1, 1 }, { 2, 2 }, { 3, 3 } };
	vring_host_add(&t.vq, b, 3, NULL, 0, (void *)1, false);
	vring_host_add(&t.vq, b, 2, b + 2, 1, (void *)2, true);
	int n = 0;
	vring_host_drain(&t.vq, drained, &n);
	assert_int_equal(n, 2);
	assert_int_equal(t.vq.num_free, 8);
	assert_int_equal(t.vq.inflight, 0);
	tring_fini(&t);
}
