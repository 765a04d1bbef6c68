/* Host virtio-blk client (src/host: vhost_user_front, virtio_ring_host,
 * virtio_blk_host, virtio_pci_host): the split-ring logic in isolation,
 * then the whole driver against two fakes served from threads of this
 * test, before osnap's own back ends exist:
 * - a vhost-user-blk back end (Unix socket) that answers the handshake,
 *   checks the memory table and ring addresses it receives and serves
 *   requests from the shared memory;
 * - a modern virtio-pci block function over vfio-user (capabilities,
 *   common configuration, notify area, device configuration, MSI-X).
 * Both fakes read the rings and requests at raw byte offsets of the
 * specification, never through the driver's structures, so that layout
 * mistakes show. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/vfio_user_proto.h"
#include "host/vhost_user_front.h"
#include "host/virtio_blk_host.h"
#include "host/virtio_ring_host.h"

/* ==== byte helpers (raw offsets) ========================================================== */

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, 2);
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void wr16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void wr32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void wr64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

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

static void test_ring_layout(void **state)
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

static void test_ring_add_publish_used(void **state)
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

static void test_ring_free_list(void **state)
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

static void test_ring_wrap(void **state)
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

static void test_ring_event_idx(void **state)
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

static void test_ring_used_event(void **state)
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

static void test_ring_indirect(void **state)
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

static void test_ring_raw_and_bad_used(void **state)
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

static void test_ring_drain(void **state)
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

/* ==== the fake device: rings and virtio-blk requests in shared memory ===================== */

#define FD_SECTORS	8192u		/* 4 MiB disk */
#define FD_SERIAL	"osnap-fake-serial-01"	/* exactly 20 bytes: no NUL */
#define FD_MAXSEG	300

struct fdev {
	struct {
		uint64_t addr, size;
		uint8_t *ptr;
	} map[8];
	int nmap;
	uint8_t *disk;
	bool event_idx;
	atomic_int n_req, n_indirect, n_bad, max_descs, n_calls;
	uint16_t last_flags[8];		/* flags of the last chain's descriptors */
	atomic_int last_n;
	atomic_int delay_ms;		/* wait before serving a notification */
	uint8_t *rbuf;			/* device-readable bytes of one request */
};

#define FD_RBUF ((1u << 20) + 64)

struct fring {
	uint32_t num;
	uint8_t *desc, *avail, *used;
	uint16_t last_avail, used_idx;
	int call;
	bool ready;
};

struct fseg {
	uint8_t *p;
	uint32_t len;
	bool w;
};

static uint8_t *fd_xlate(struct fdev *v, uint64_t a, uint64_t len)
{
	for (int i = 0; i < v->nmap; i++) {
		if (a >= v->map[i].addr && len <= v->map[i].size && a - v->map[i].addr <= v->map[i].size - len)
			return v->map[i].ptr + (a - v->map[i].addr);
	}
	return NULL;
}

/* Walk the chain at head (direct descriptors, then at most one indirect
 * table). -1 when malformed. */
static int fd_chain(struct fdev *v, struct fring *r, uint16_t head, struct fseg *segs, bool *ind)
{
	uint8_t *table = r->desc;
	uint32_t tsize = r->num, idx = head, guard = 0;
	int n = 0, nf = 0;
	bool in_table = false;

	for (;;) {
		if (idx >= tsize || ++guard > tsize)
			return -1;
		uint8_t *dp = table + 16 * idx;
		uint64_t a = rd64(dp);
		uint32_t len = rd32(dp + 8);
		uint16_t fl = rd16(dp + 12), nx = rd16(dp + 14);
		if (nf < 8) {
			v->last_flags[nf++] = fl;
			atomic_store(&v->last_n, nf);
		}
		if (fl & VH_DESC_F_INDIRECT) {
			if (in_table || (fl & VH_DESC_F_NEXT) || len == 0 || len % 16)
				return -1;
			table = fd_xlate(v, a, len);
			if (!table)
				return -1;
			tsize = len / 16;
			idx = 0;
			guard = 0;
			in_table = true;
			*ind = true;
			continue;
		}
		if (n == FD_MAXSEG)
			return -1;
		uint8_t *p = fd_xlate(v, a, len);
		if (!p)
			return -1;
		if (n && segs[n - 1].w && !(fl & VH_DESC_F_WRITE))
			return -1;	/* readable after writable */
		segs[n++] = (struct fseg){ p, len, (fl & VH_DESC_F_WRITE) != 0 };
		if (!(fl & VH_DESC_F_NEXT))
			break;
		idx = nx;
	}
	return n;
}

/* Copy src into the writable segments (skipping the final status byte). */
static void fd_scatter(struct fseg *s, int n, const uint8_t *src, uint32_t len)
{
	for (int i = 0; i < n && len; i++) {
		if (!s[i].w)
			continue;
		uint32_t k = s[i].len;
		if (i == n - 1)
			k--;	/* status byte */
		if (k > len)
			k = len;
		memcpy(s[i].p, src, k);
		src += k;
		len -= k;
	}
}

/* Execute one request; returns the used length. */
static uint32_t fd_exec(struct fdev *v, struct fseg *s, int n)
{
	uint8_t *rbuf = v->rbuf;
	uint32_t rlen = 0, wlen = 0;

	for (int i = 0; i < n; i++) {
		if (s[i].w) {
			wlen += s[i].len;
		} else {
			if (rlen + s[i].len > FD_RBUF)
				return 0;
			memcpy(rbuf + rlen, s[i].p, s[i].len);
			rlen += s[i].len;
		}
	}
	if (rlen < 16 || wlen < 1 || !s[n - 1].w || s[n - 1].len < 1)
		return 0;
	uint8_t *status = s[n - 1].p + s[n - 1].len - 1;
	uint32_t type = rd32(rbuf);
	uint64_t sector = rd64(rbuf + 8);
	uint32_t out = rlen - 16, in = wlen - 1;
	uint8_t st = VH_BLK_S_OK;
	uint32_t used = 1;

	switch (type) {
	case VH_BLK_T_IN:
		if (in % 512 || sector > FD_SECTORS || in / 512 > FD_SECTORS - sector) {
			st = VH_BLK_S_IOERR;
			break;
		}
		fd_scatter(s, n, v->disk + sector * 512, in);
		used = in + 1;
		break;
	case VH_BLK_T_OUT:
		if (out % 512 || sector > FD_SECTORS || out / 512 > FD_SECTORS - sector) {
			st = VH_BLK_S_IOERR;
			break;
		}
		memcpy(v->disk + sector * 512, rbuf + 16, out);
		break;
	case VH_BLK_T_FLUSH:
		break;
	case VH_BLK_T_GET_ID:
		fd_scatter(s, n, (const uint8_t *)FD_SERIAL, in < 20 ? in : 20);
		used = (in < 20 ? in : 20) + 1;
		break;
	case VH_BLK_T_WRITE_ZEROES:
	case VH_BLK_T_DISCARD:
		for (uint32_t o = 0; o + 16 <= out; o += 16) {
			uint64_t sec = rd64(rbuf + 16 + o);
			uint32_t ns = rd32(rbuf + 16 + o + 8);
			if (sec > FD_SECTORS || ns > FD_SECTORS - sec) {
				st = VH_BLK_S_IOERR;
				break;
			}
			if (type == VH_BLK_T_WRITE_ZEROES)
				memset(v->disk + sec * 512, 0, (size_t)ns * 512);
		}
		break;
	default:
		st = VH_BLK_S_UNSUPP;
	}
	*status = st;
	return used;
}

/* Serve every available chain of r, then publish avail_event and re-check
 * (so a kick suppressed by a stale avail_event cannot be lost). */
static void fd_process(struct fdev *v, struct fring *r)
{
	if (!r->ready)
		return;
	int delay = atomic_load(&v->delay_ms);
	if (delay) {
		struct timespec ts = { 0, delay * 1000000L };
		nanosleep(&ts, NULL);
	}
	uint16_t old = r->used_idx;
	for (;;) {
		/* acquire: the driver's descriptors and ring slots are read after its idx */
		uint16_t aidx = __atomic_load_n((uint16_t *)(void *)(r->avail + 2), __ATOMIC_ACQUIRE);
		while (r->last_avail != aidx) {
			uint16_t head = rd16(r->avail + 4 + 2 * (r->last_avail % r->num));
			r->last_avail++;
			struct fseg segs[FD_MAXSEG];
			bool ind = false;
			int n = head < r->num ? fd_chain(v, r, head, segs, &ind) : -1;
			uint32_t used_len = 0;
			if (n <= 0) {
				atomic_fetch_add(&v->n_bad, 1);
			} else {
				used_len = fd_exec(v, segs, n);
				atomic_fetch_add(&v->n_req, 1);
				if (ind)
					atomic_fetch_add(&v->n_indirect, 1);
				if (n > atomic_load(&v->max_descs))
					atomic_store(&v->max_descs, n);
			}
			uint8_t *ue = r->used + 4 + 8 * (r->used_idx % r->num);
			wr32(ue, head);
			wr32(ue + 4, used_len);
			r->used_idx++;
			/* release: the used element and the data/status written
			 * for it are visible before the new used idx */
			__atomic_store_n((uint16_t *)(void *)(r->used + 2), r->used_idx, __ATOMIC_RELEASE);
		}
		if (!v->event_idx)
			break;
		wr16(r->used + 4 + 8 * r->num, r->last_avail);
		/* full barrier: avail_event is stored before avail->idx is
		 * re-read (store-load), so a kick the driver skipped is seen */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		if (__atomic_load_n((uint16_t *)(void *)(r->avail + 2), __ATOMIC_ACQUIRE) == r->last_avail)
			break;
	}
	if (r->used_idx == old)
		return;
	/* full barrier: the used idx store is ordered before reading the
	 * driver's suppression fields (store-load) */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	bool notify;
	if (v->event_idx) {
		uint16_t ue = rd16(r->avail + 4 + 2 * r->num);
		notify = (uint16_t)(r->used_idx - ue - 1) < (uint16_t)(r->used_idx - old);
	} else {
		notify = !(rd16(r->avail) & VH_AVAIL_F_NO_INTERRUPT);
	}
	if (notify && r->call >= 0) {
		uint64_t one = 1;
		(void)!write(r->call, &one, sizeof(one));
		atomic_fetch_add(&v->n_calls, 1);
	}
}

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

/* Receive exactly len bytes (collecting fds). */
static int sock_recv(int fd, void *buf, size_t len, int *fds, int *nfds)
{
	size_t done = 0;
	while (done < len) {
		char cbuf[CMSG_SPACE(sizeof(int) * 8)];
		struct iovec iov = { (uint8_t *)buf + done, len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
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

static void sock_send(int sfd, const void *a, size_t alen, const void *b, size_t blen, int fd)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = blen ? 2 : 1 };
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
	(void)!sendmsg(sfd, &mh, MSG_NOSIGNAL);
}

/* A listening socket in a fresh temporary directory. */
static int listen_tmp(char *dir, size_t dlen, char *path, size_t plen, const char *name)
{
	snprintf(dir, dlen, "/tmp/vhosttestXXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, plen, "%s/%s", dir, name);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	strcpy(sa.sun_path, path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	return lfd;
}

/* ==== fake vhost-user-blk back end ========================================================== */

enum fb_fault {
	FB_OK = 0,
	FB_CLOSE,	/* close the socket when fault_req arrives */
	FB_SILENT,	/* never answer fault_req */
	FB_WRONG_REQ,	/* answer fault_req with another request code */
	FB_NO_REPLY_FLAG, /* answer without the reply flag */
	FB_HUGE,	/* answer with a header announcing 1 MiB */
	FB_NACK,	/* REPLY_ACK status 1 */
	FB_EMPTY,	/* answer with an empty payload */
	FB_BAD_INDEX,	/* GET_VRING_BASE answers another index */
};

#define FB_NQ 8

struct fb {
	char dir[64], path[128];
	int lfd;
	atomic_int fd;		/* set by the fake's thread (accept) */
	pthread_t th;
	atomic_bool stop;
	/* behaviour */
	uint64_t features, pf, queue_num;
	uint32_t fault_req;
	enum fb_fault fault;
	uint8_t config[60];
	/* device */
	struct fdev v;
	struct {
		uint64_t gpa, size, uva;
		uint8_t *base;		/* mapping of the fd from offset 0 */
		size_t maplen;
	} reg[8];
	int nreg;
	struct fring r[FB_NQ];
	int kick[FB_NQ];
	bool enabled[FB_NQ];
	uint32_t base[FB_NQ];
	/* observations */
	uint64_t acked_features, acked_pf;
	bool got_owner, call_nofd[FB_NQ];
	atomic_int need_reply_seen, errors, nmsg;
	uint32_t log[256];
	char err[160];
	int inflight_fd;
	uint64_t inflight_size;
	bool got_set_inflight, got_reset;
};

static void fb_error(struct fb *f, const char *what)
{
	if (atomic_fetch_add(&f->errors, 1) == 0)
		snprintf(f->err, sizeof(f->err), "%s", what);
}

static uint8_t *fb_uva(struct fb *f, uint64_t ua, uint64_t len)
{
	for (int i = 0; i < f->nreg; i++) {
		if (ua >= f->reg[i].uva && len <= f->reg[i].size && ua - f->reg[i].uva <= f->reg[i].size - len)
			return f->v.map[i].ptr + (ua - f->reg[i].uva);
	}
	return NULL;
}

static void fb_reply(struct fb *f, uint32_t req, const void *p, uint32_t size, int fd)
{
	struct vhu_hdr h = { req, VHU_VERSION | VHU_FLAG_REPLY, size };
	if (req == f->fault_req) {
		switch (f->fault) {
		case FB_SILENT:
			return;
		case FB_WRONG_REQ:
			h.request = req + 1;
			break;
		case FB_NO_REPLY_FLAG:
			h.flags = VHU_VERSION;
			break;
		case FB_HUGE:
			h.size = 1u << 20;
			(void)!send(f->fd, &h, sizeof(h), MSG_NOSIGNAL);
			return;
		case FB_EMPTY:
			h.size = 0;
			sock_send(f->fd, &h, sizeof(h), NULL, 0, -1);
			return;
		default:
			break;
		}
	}
	sock_send(f->fd, &h, sizeof(h), p, size, fd);
}

static void fb_reply_u64(struct fb *f, uint32_t req, uint64_t v)
{
	fb_reply(f, req, &v, sizeof(v), -1);
}

static void fb_unmap(struct fb *f)
{
	for (int i = 0; i < f->nreg; i++)
		munmap(f->reg[i].base, f->reg[i].maplen);
	f->nreg = 0;
	f->v.nmap = 0;
}

static void fb_mem_table(struct fb *f, const uint8_t *p, uint32_t size, int *fds, int nfds)
{
	uint32_t n = rd32(p);
	fb_unmap(f);
	if (size != 8 + 32 * n || n > 8 || (int)n != nfds) {
		fb_error(f, "SET_MEM_TABLE: size/fd count");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *r = p + 8 + 32 * i;
		uint64_t gpa = rd64(r), sz = rd64(r + 8), uva = rd64(r + 16), off = rd64(r + 24);
		void *m = mmap(NULL, sz + off, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (m == MAP_FAILED) {
			fb_error(f, "SET_MEM_TABLE: mmap");
			return;
		}
		f->reg[i].gpa = gpa;
		f->reg[i].size = sz;
		f->reg[i].uva = uva;
		f->reg[i].base = m;
		f->reg[i].maplen = sz + off;
		f->v.map[i].addr = gpa;
		f->v.map[i].size = sz;
		f->v.map[i].ptr = (uint8_t *)m + off;
		f->nreg++;
		f->v.nmap++;
	}
}

static void fb_vring_addr(struct fb *f, const uint8_t *p)
{
	uint32_t i = rd32(p);
	uint64_t desc = rd64(p + 8), used = rd64(p + 16), avail = rd64(p + 24);
	if (i >= FB_NQ || !f->r[i].num) {
		fb_error(f, "SET_VRING_ADDR: index or no SET_VRING_NUM");
		return;
	}
	struct fring *r = &f->r[i];
	if (desc % 16 || avail % 2 || used % 4)
		fb_error(f, "SET_VRING_ADDR: alignment");
	r->desc = fb_uva(f, desc, 16ull * r->num);
	r->avail = fb_uva(f, avail, 6 + 2ull * r->num);
	r->used = fb_uva(f, used, 6 + 8ull * r->num);
	if (!r->desc || !r->avail || !r->used) {
		fb_error(f, "SET_VRING_ADDR: not a user address of the memory table");
		return;
	}
	/* as QEMU's back ends do: the device's used idx resumes from memory */
	r->used_idx = rd16(r->used + 2);
}

static void fb_handle(struct fb *f, const struct vhu_hdr *h, uint8_t *p, int *fds, int nfds)
{
	uint32_t req = h->request;
	bool need = h->flags & VHU_FLAG_NEED_REPLY;
	int nl = atomic_fetch_add(&f->nmsg, 1);
	if (nl < 256)
		f->log[nl] = req;
	if ((h->flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION || (h->flags & VHU_FLAG_REPLY))
		fb_error(f, "request flags");
	if (need)
		atomic_fetch_add(&f->need_reply_seen, 1);
	if (req == f->fault_req && f->fault == FB_CLOSE) {
		shutdown(f->fd, SHUT_RDWR);
		return;
	}
	uint64_t u = h->size >= 8 ? rd64(p) : 0;
	uint32_t idx = (uint32_t)(u & 0xff);
	bool own = true;

	switch (req) {
	case VHU_GET_FEATURES:
		fb_reply_u64(f, req, f->features);
		break;
	case VHU_GET_PROTOCOL_FEATURES:
		fb_reply_u64(f, req, f->pf);
		break;
	case VHU_GET_QUEUE_NUM:
		fb_reply_u64(f, req, f->queue_num);
		break;
	case VHU_GET_CONFIG: {
		uint8_t out[12 + 60];
		uint32_t off = rd32(p), sz = rd32(p + 4);
		if (h->size != 12 + sz || off != 0)
			fb_error(f, "GET_CONFIG request");
		if (sz > 60)
			sz = 60;
		wr32(out, 0);
		wr32(out + 4, sz);
		wr32(out + 8, 0);
		memcpy(out + 12, f->config, sz);
		fb_reply(f, req, out, 12 + sz, -1);
		break;
	}
	case VHU_GET_VRING_BASE: {
		uint32_t i = rd32(p);
		uint8_t out[8];
		wr32(out, f->fault == FB_BAD_INDEX ? i + 1 : i);
		wr32(out + 4, i < FB_NQ ? f->r[i].last_avail : 0);
		if (i < FB_NQ) {
			f->r[i].ready = false;
			f->enabled[i] = false;
		}
		fb_reply(f, req, out, 8, -1);
		break;
	}
	case VHU_GET_INFLIGHT_FD: {
		uint16_t nq = rd16(p + 16), qs = rd16(p + 18);
		uint64_t sz = (uint64_t)nq * (16 + 16ull * qs);
		int mfd = memfd_create("fb-inflight", MFD_CLOEXEC);
		if (mfd < 0 || ftruncate(mfd, (off_t)sz) < 0 || h->size != 24) {
			fb_error(f, "GET_INFLIGHT_FD");
			break;
		}
		uint8_t out[24] = { 0 };
		wr64(out, sz);
		wr16(out + 16, nq);
		wr16(out + 18, qs);
		fb_reply(f, req, out, 24, mfd);
		f->inflight_size = sz;
		close(mfd);
		break;
	}
	case VHU_GET_STATUS:
		fb_reply_u64(f, req, 0x0f);
		break;
	default:
		own = false;
	}
	if (own)
		return;

	uint64_t status = 0;
	switch (req) {
	case VHU_SET_FEATURES:
		f->acked_features = u;
		f->v.event_idx = u & VH_BIT(VH_F_RING_EVENT_IDX);
		break;
	case VHU_SET_PROTOCOL_FEATURES:
		f->acked_pf = u;
		break;
	case VHU_SET_OWNER:
		f->got_owner = true;
		break;
	case VHU_SET_MEM_TABLE:
		fb_mem_table(f, p, h->size, fds, nfds);
		break;
	case VHU_SET_VRING_NUM:
		if (rd32(p) >= FB_NQ)
			fb_error(f, "SET_VRING_NUM index");
		else
			f->r[rd32(p)].num = rd32(p + 4);
		break;
	case VHU_SET_VRING_BASE:
		if (rd32(p) < FB_NQ) {
			f->base[rd32(p)] = rd32(p + 4);
			f->r[rd32(p)].last_avail = (uint16_t)rd32(p + 4);
		}
		break;
	case VHU_SET_VRING_ADDR:
		if (h->size != 40)
			fb_error(f, "SET_VRING_ADDR size");
		else
			fb_vring_addr(f, p);
		break;
	case VHU_SET_VRING_KICK:
		if (idx < FB_NQ) {
			if (f->kick[idx] >= 0)
				close(f->kick[idx]);
			f->kick[idx] = -1;
			if (!(u & VHU_VRING_NOFD) && nfds == 1) {
				f->kick[idx] = fds[0];
				fds[0] = -1;
			}
			f->r[idx].ready = f->r[idx].desc != NULL;
		}
		break;
	case VHU_SET_VRING_CALL:
		if (idx < FB_NQ) {
			if (f->r[idx].call >= 0)
				close(f->r[idx].call);
			f->r[idx].call = -1;
			f->call_nofd[idx] = u & VHU_VRING_NOFD;
			if (!(u & VHU_VRING_NOFD) && nfds == 1) {
				f->r[idx].call = fds[0];
				fds[0] = -1;
			}
		}
		break;
	case VHU_SET_VRING_ENABLE:
		if (rd32(p) < FB_NQ)
			f->enabled[rd32(p)] = rd32(p + 4) != 0;
		break;
	case VHU_SET_INFLIGHT_FD:
		f->got_set_inflight = nfds == 1 && rd64(p) == f->inflight_size;
		break;
	case VHU_RESET_DEVICE:
		f->got_reset = true;
		for (int i = 0; i < FB_NQ; i++)
			f->r[i].ready = f->enabled[i] = false;
		break;
	case VHU_SET_STATUS:
		break;
	default:
		status = 1;	/* unknown request */
	}
	if (req == f->fault_req && f->fault == FB_NACK)
		status = 1;
	if (need)
		fb_reply_u64(f, req, status);
}

static void *fb_main(void *arg)
{
	struct fb *f = arg;
	uint8_t *p = malloc(8192);

	f->fd = accept(f->lfd, NULL, NULL);
	while (f->fd >= 0 && !atomic_load(&f->stop)) {
		struct pollfd pf[1 + FB_NQ];
		int n = 0;
		pf[n++] = (struct pollfd){ f->fd, POLLIN, 0 };
		int map[FB_NQ];
		for (int i = 0; i < FB_NQ; i++) {
			if (f->kick[i] >= 0) {
				map[n - 1] = i;
				pf[n++] = (struct pollfd){ f->kick[i], POLLIN, 0 };
			}
		}
		if (poll(pf, (nfds_t)n, 5) <= 0)
			continue;
		for (int k = 1; k < n; k++) {
			if (!(pf[k].revents & POLLIN))
				continue;
			uint64_t v;
			(void)!read(pf[k].fd, &v, sizeof(v));
			int q = map[k - 1];
			if (f->enabled[q])
				fd_process(&f->v, &f->r[q]);
		}
		if (pf[0].revents & (POLLIN | POLLHUP)) {
			struct vhu_hdr h;
			int fds[8], nfds = 0;
			if (sock_recv(f->fd, &h, sizeof(h), fds, &nfds) || h.size > 8192 ||
			    (h.size && sock_recv(f->fd, p, h.size, fds, &nfds)))
				break;
			fb_handle(f, &h, p, fds, nfds);
			for (int i = 0; i < nfds; i++) {
				if (fds[i] >= 0)
					close(fds[i]);
			}
		}
	}
	free(p);
	return NULL;
}

static struct fb *fb_start(void)
{
	struct fb *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->features = VH_BIT(VH_F_VERSION_1) | VH_BIT(VHU_F_PROTOCOL_FEATURES) |
		      VH_BIT(VH_BLK_F_SEG_MAX) | VH_BIT(VH_BLK_F_BLK_SIZE) | VH_BIT(VH_BLK_F_FLUSH) |
		      VH_BIT(VH_BLK_F_MQ) | VH_BIT(VH_BLK_F_WRITE_ZEROES) |
		      VH_BIT(VH_F_RING_INDIRECT_DESC) | VH_BIT(VH_F_RING_EVENT_IDX);
	f->pf = VH_BIT(VHU_PF_MQ) | VH_BIT(VHU_PF_REPLY_ACK) | VH_BIT(VHU_PF_CONFIG) |
		VH_BIT(VHU_PF_INFLIGHT_SHMFD) | VH_BIT(VHU_PF_RESET_DEVICE);
	f->queue_num = FB_NQ;
	struct vh_blk_config *c = (struct vh_blk_config *)(void *)f->config;
	c->capacity = FD_SECTORS;
	c->seg_max = 126;
	c->blk_size = 512;
	c->num_queues = FB_NQ;
	c->max_write_zeroes_sectors = 1024;
	c->max_write_zeroes_seg = 1;
	f->v.disk = calloc(FD_SECTORS, 512);
	f->v.rbuf = malloc(FD_RBUF);
	assert_non_null(f->v.disk);
	assert_non_null(f->v.rbuf);
	for (int i = 0; i < FB_NQ; i++)
		f->kick[i] = f->r[i].call = -1;
	f->inflight_fd = -1;
	f->fd = -1;
	f->lfd = listen_tmp(f->dir, sizeof(f->dir), f->path, sizeof(f->path), "vhost.sock");
	return f;
}

static void fb_run(struct fb *f)
{
	assert_int_equal(pthread_create(&f->th, NULL, fb_main, f), 0);
}

static void fb_stop(struct fb *f)
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
	fb_unmap(f);
	for (int i = 0; i < FB_NQ; i++) {
		if (f->kick[i] >= 0)
			close(f->kick[i]);
		if (f->r[i].call >= 0)
			close(f->r[i].call);
	}
	free(f->v.disk);
	free(f->v.rbuf);
	free(f);
}

static void fb_check(struct fb *f)
{
	if (atomic_load(&f->errors))
		fail_msg("fake back end saw: %s", f->err);
}

static struct vblk_host *fb_open(struct fb *f, struct vblk_host_opts *o)
{
	struct vblk_host *d = NULL;
	int rc = vblk_host_open_vhost_user(f->path, o, &d);
	if (rc)
		fail_msg("open: %s (fake: %s)", strerror(-rc), f->err);
	return d;
}

/* ---- end to end over vhost-user ------------------------------------------------------------ */

static void test_vu_handshake_and_io(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .mem_regions = 2, .mem_size = 4u << 20 };
	struct vblk_host *d = fb_open(f, &o);

	/* what the back end received */
	fb_check(f);
	assert_true(f->got_owner);
	assert_int_equal(f->acked_pf, VH_BIT(VHU_PF_MQ) | VH_BIT(VHU_PF_REPLY_ACK) |
				      VH_BIT(VHU_PF_CONFIG) | VH_BIT(VHU_PF_RESET_DEVICE));
	assert_true(f->acked_features & VH_BIT(VHU_F_PROTOCOL_FEATURES));
	assert_true(f->acked_features & VH_BIT(VH_F_VERSION_1));
	assert_false(f->acked_features & VH_BIT(VH_F_RING_EVENT_IDX));	/* not asked for */
	assert_false(f->acked_features & VH_BIT(VH_BLK_F_SIZE_MAX));	/* not offered */
	assert_int_equal(vblk_host_features(d), f->acked_features & ~VH_BIT(VHU_F_PROTOCOL_FEATURES));
	assert_int_equal(f->nreg, 2);
	assert_int_equal(f->reg[0].gpa, 0x40000000ull);
	assert_int_equal(f->reg[1].gpa, 0x40000000ull + (4u << 20) + (2u << 20));
	assert_int_equal(f->reg[0].size, 4u << 20);
	assert_true(f->reg[0].uva != f->reg[0].gpa);
	assert_true(atomic_load(&f->need_reply_seen) > 0);
	/* the order of the handshake */
	uint32_t expect[] = { VHU_GET_FEATURES, VHU_GET_PROTOCOL_FEATURES, VHU_SET_PROTOCOL_FEATURES,
			      VHU_GET_QUEUE_NUM, VHU_GET_CONFIG, VHU_SET_OWNER, VHU_SET_FEATURES,
			      VHU_SET_MEM_TABLE, VHU_SET_VRING_NUM, VHU_SET_VRING_BASE,
			      VHU_SET_VRING_ADDR, VHU_SET_VRING_KICK, VHU_SET_VRING_CALL,
			      VHU_SET_VRING_ENABLE };
	assert_int_equal(atomic_load(&f->nmsg), 14);
	for (size_t i = 0; i < sizeof(expect) / sizeof(expect[0]); i++)
		assert_int_equal(f->log[i], expect[i]);
	assert_true(f->enabled[0]);
	assert_false(f->call_nofd[0]);

	/* config */
	const struct vh_blk_config *c = vblk_host_config(d);
	assert_int_equal(c->capacity, FD_SECTORS);
	assert_int_equal(c->seg_max, 126);
	assert_int_equal(c->num_queues, FB_NQ);
	assert_int_equal(vblk_host_max_segments(d), 126);
	struct vh_blk_config c2;
	assert_int_equal(vblk_host_read_config(d, &c2), 0);
	assert_int_equal(c2.blk_size, 512);

	/* write, read back, through the arena and through ordinary memory */
	uint8_t *wb = vblk_host_alloc(d, 8192), *rb = vblk_host_alloc(d, 8192);
	assert_non_null(wb);
	fill(wb, 8192, 7);
	uint8_t st = 0xee;
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_OUT, 16, wb, 8192, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	assert_memory_equal(f->v.disk + 16 * 512, wb, 8192);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 16, rb, 8192, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	assert_memory_equal(rb, wb, 8192);
	uint8_t plain[1024];
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 17, plain, 1024, &st), 0);
	assert_memory_equal(plain, wb + 512, 1024);
	/* flush, serial, out of range, unsupported type, write zeroes */
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_FLUSH, 0, NULL, 0, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	char id[21];
	assert_int_equal(vblk_host_get_id(d, 0, id), 0);
	assert_string_equal(id, FD_SERIAL);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, FD_SECTORS, rb, 512, &st), 0);
	assert_int_equal(st, VH_BLK_S_IOERR);
	assert_int_equal(vblk_host_rw(d, 0, 77, 0, NULL, 0, &st), 0);
	assert_int_equal(st, VH_BLK_S_UNSUPP);
	struct vh_blk_dwz_seg seg = { 16, 4, 0 };
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_WRITE_ZEROES, 0, &seg, sizeof(seg), &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	assert_int_equal(f->v.disk[16 * 512], 0);
	/* arguments */
	assert_int_equal(vblk_host_rw(d, 1, VH_BLK_T_IN, 0, rb, 512, &st), -EINVAL);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, NULL, 512, &st), -EINVAL);

	/* a slow device: the driver sleeps on the call eventfd */
	atomic_store(&f->v.delay_ms, 30);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 16, rb, 512, &st), 0);
	atomic_store(&f->v.delay_ms, 0);
	struct vblk_host_qstats qs;
	vblk_host_qstats(d, 0, &qs);
	assert_int_equal(qs.completed, qs.submitted);
	assert_true(qs.irqs > 0);
	vblk_host_free(d, wb);
	vblk_host_free(d, rb);
	vblk_host_close(d);
	assert_true(f->got_reset);
	fb_check(f);
	fb_stop(f);
}

/* ---- async, several queues on several threads --------------------------------------------- */

#define AQ_DEPTH	32
#define AQ_TOTAL	400

struct aq {
	struct vblk_host *d;
	uint16_t q;
	int done, failures;
	uint8_t *bufs[AQ_DEPTH];
	struct vblk_host_req req[AQ_DEPTH];
	int free[AQ_DEPTH], nfree;	/* slots not in flight (completion order is free) */
	int max_inflight;
	bool reading;
};

static void aq_done(struct vblk_host_req *r)
{
	struct aq *a = r->arg;
	a->done++;
	a->free[a->nfree++] = (int)(r - a->req);
	if (r->result || r->status != VH_BLK_S_OK)
		a->failures++;
	if (a->reading) {
		uint8_t expect[4096];
		fill(expect, 4096, (uint32_t)r->sector);
		if (r->used_len != 4097 || memcmp(r->buf, expect, 4096))
			a->failures++;
	}
}

static void *aq_main(void *arg)
{
	struct aq *a = arg;
	for (int phase = 0; phase < 2; phase++) {
		a->reading = phase == 1;
		a->done = 0;
		a->nfree = AQ_DEPTH;
		for (int k = 0; k < AQ_DEPTH; k++)
			a->free[k] = k;
		int next = 0;
		while (a->done < AQ_TOTAL) {
			/* top the queue up to AQ_DEPTH */
			while (next < AQ_TOTAL && a->nfree > 0) {
				int slot = a->free[--a->nfree];
				struct vblk_host_req *r = &a->req[slot];
				uint64_t sector = (uint64_t)a->q * 1024 + (uint64_t)(next % 128) * 8;
				if (!a->reading)
					fill(a->bufs[slot], 4096, (uint32_t)sector);
				*r = (struct vblk_host_req){ .type = a->reading ? VH_BLK_T_IN : VH_BLK_T_OUT,
							     .sector = sector, .buf = a->bufs[slot],
							     .len = 4096, .cb = aq_done, .arg = a };
				if (vblk_host_queue_req(a->d, a->q, r)) {
					a->failures++;
					return NULL;
				}
				next++;
			}
			vblk_host_kick(a->d, a->q);
			int inflight = (int)vblk_host_inflight(a->d, a->q);
			if (inflight > a->max_inflight)
				a->max_inflight = inflight;
			int rc = vblk_host_wait(a->d, a->q, 5000);
			if (rc < 0) {
				a->failures += 1000;
				return NULL;
			}
		}
	}
	return NULL;
}

/* 4 queues, one thread each, 32 requests in flight per queue. */
static void run_async(struct vblk_host *d, uint16_t nq)
{
	struct aq a[4];
	pthread_t th[4];
	for (uint16_t i = 0; i < nq; i++) {
		memset(&a[i], 0, sizeof(a[i]));
		a[i].d = d;
		a[i].q = i;
		for (int k = 0; k < AQ_DEPTH; k++) {
			a[i].bufs[k] = vblk_host_alloc(d, 4096);
			assert_non_null(a[i].bufs[k]);
		}
		assert_int_equal(pthread_create(&th[i], NULL, aq_main, &a[i]), 0);
	}
	for (uint16_t i = 0; i < nq; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(a[i].failures, 0);
		assert_int_equal(a[i].max_inflight, AQ_DEPTH);
		for (int k = 0; k < AQ_DEPTH; k++)
			vblk_host_free(d, a[i].bufs[k]);
	}
}

static void test_vu_async_multiqueue(void **state)
{
	(void)state;
	for (int variant = 0; variant < 2; variant++) {
		struct fb *f = fb_start();
		fb_run(f);
		/* 3 descriptors per request without indirect tables: 32 in flight
		 * need 96 */
		struct vblk_host_opts o = { .num_queues = 4, .queue_size = 128, .mem_regions = 3 };
		if (variant)	/* ring features, polled completions */
			o = (struct vblk_host_opts){
				.num_queues = 4, .queue_size = 64,
				.features = VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_EVENT_IDX) |
					    VH_BIT(VH_F_RING_INDIRECT_DESC),
				.irq = VBLK_HOST_IRQ_POLL, .seg_bytes = 1024 };
		struct vblk_host *d = fb_open(f, &o);
		assert_int_equal(vblk_host_num_queues(d), 4);
		run_async(d, 4);
		fb_check(f);
		assert_int_equal(atomic_load(&f->v.n_req), 4 * 2 * AQ_TOTAL);
		assert_int_equal(atomic_load(&f->v.n_bad), 0);
		if (variant) {
			assert_true(f->acked_features & VH_BIT(VH_F_RING_EVENT_IDX));
			assert_true(f->call_nofd[0] && f->call_nofd[3]);
			assert_false(vblk_host_queue_has_irq(d, 0));
			/* 4 KiB in 1 KiB descriptors, all inside indirect tables */
			assert_int_equal(atomic_load(&f->v.n_indirect), 4 * 2 * AQ_TOTAL);
			assert_int_equal(atomic_load(&f->v.max_descs), 6);
			assert_int_equal(atomic_load(&f->v.n_calls), 0);
		} else {
			assert_int_equal(atomic_load(&f->v.n_indirect), 0);
			assert_true(vblk_host_queue_has_irq(d, 3));
		}
		vblk_host_close(d);
		fb_stop(f);
	}
}

/* A ring restarted near the 16-bit wrap (VRING_BASE), with EVENT_IDX. */
static void test_vu_ring_wrap(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .queue_size = 8, .ring_start = 65530,
				    .features = VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_EVENT_IDX) };
	struct vblk_host *d = fb_open(f, &o);
	assert_int_equal(f->base[0], 65530);
	uint8_t *b = vblk_host_alloc(d, 512);
	for (int i = 0; i < 20; i++) {
		uint8_t st;
		fill(b, 512, (uint32_t)i);
		assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_OUT, (uint64_t)i, b, 512, &st), 0);
		assert_int_equal(st, VH_BLK_S_OK);
	}
	assert_int_equal(f->r[0].last_avail, (uint16_t)(65530 + 20));
	uint32_t base = 0;
	assert_int_equal(vblk_host_stop_queue(d, 0, &base), 0);
	assert_int_equal(base, (uint16_t)(65530 + 20));
	uint8_t st;
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, b, 512, &st), -ESHUTDOWN);
	vblk_host_close(d);
	fb_check(f);
	fb_stop(f);
}

static void raw_done(struct vblk_host_req *r)
{
	(*(int *)r->arg)++;
}

/* Raw requests and raw descriptors reach the device exactly as built. */
static void test_vu_raw_requests(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .features = VBLK_HOST_FEATURES_BASE |
						 VH_BIT(VH_F_RING_INDIRECT_DESC) };
	struct vblk_host *d = fb_open(f, &o);
	uint8_t *m = vblk_host_alloc(d, 4096);
	uint64_t ma;
	assert_int_equal(vblk_host_dev_addr(d, m, 4096, &ma), 0);
	assert_ptr_equal(vblk_host_ptr(d, ma, 4096), m);
	assert_int_equal(vblk_host_dev_addr(d, &ma, 8, &ma), -EFAULT);
	/* a hand-built read: header, data, status; then the same in a table */
	wr32(m, VH_BLK_T_IN);
	wr64(m + 8, 0);
	struct vblk_host_seg segs[3] = { { ma, 16, false }, { ma + 512, 512, true },
					 { ma + 2048, 1, true } };
	int done = 0;
	struct vblk_host_req r = { .cb = raw_done, .arg = &done };
	m[2048] = 0xee;
	assert_int_equal(vblk_host_submit_raw(d, 0, segs, 3, false, &r), 0);
	while (!done)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	assert_int_equal(m[2048], VH_BLK_S_OK);
	assert_int_equal(r.used_len, 513);
	assert_int_equal(r.status, 0xff);
	m[2048] = 0xee;
	assert_int_equal(vblk_host_submit_raw(d, 0, segs, 3, true, &r), 0);
	while (done < 2)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	assert_int_equal(m[2048], VH_BLK_S_OK);
	assert_int_equal(atomic_load(&f->v.n_indirect), 1);
	/* status first (writable before readable): the fake refuses it */
	struct vblk_host_seg rev[2] = { { ma + 2048, 1, true }, { ma, 16, false } };
	assert_int_equal(vblk_host_submit_raw(d, 0, rev, 2, false, &r), 0);
	while (done < 3)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	assert_int_equal(atomic_load(&f->v.n_bad), 1);
	assert_int_equal(atomic_load(&f->v.last_n), 2);
	assert_int_equal(f->v.last_flags[0], VH_DESC_F_WRITE | VH_DESC_F_NEXT);
	/* a descriptor loop, and an address outside the memory */
	struct vring_host_raw loop[2] = { { ma, 16, VH_DESC_F_NEXT, 1, false },
					  { ma + 512, 512, VH_DESC_F_NEXT | VH_DESC_F_WRITE, 0, false } };
	assert_int_equal(vblk_host_submit_desc(d, 0, loop, 2, &r), 0);
	while (done < 4)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	struct vring_host_raw outside[1] = { { 0x10, 16, 0, 0, false } };
	assert_int_equal(vblk_host_submit_desc(d, 0, outside, 1, &r), 0);
	while (done < 5)
		assert_true(vblk_host_wait(d, 0, 2000) > 0);
	assert_int_equal(atomic_load(&f->v.n_bad), 3);
	/* an avail entry naming no chain: the used entry is counted as bad */
	struct vring_host *vq = vblk_host_vring(d, 0);
	assert_non_null(vq);
	vring_host_add_raw_head(vq, 200);
	assert_int_equal(vblk_host_kick(d, 0), 0);
	int64_t end = now_ms() + 2000;
	struct vblk_host_qstats qs;
	do {
		vblk_host_poll(d, 0, 0);
		vblk_host_qstats(d, 0, &qs);
	} while (qs.bad_used == 0 && now_ms() < end);
	assert_int_equal(qs.bad_used, 1);
	assert_int_equal(vblk_host_inflight(d, 0), 0);
	/* the queue still works */
	uint8_t st;
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, m, 512, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	vblk_host_close(d);
	fb_check(f);
	fb_stop(f);
}

/* Too many data descriptors, data outside the arena, a full ring. */
static void test_vu_request_limits(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .queue_size = 8, .seg_bytes = 512 };
	struct vblk_host *d = fb_open(f, &o);
	assert_int_equal(vblk_host_max_segments(d), 6);		/* queue_size - 2 */
	uint8_t *b = vblk_host_alloc(d, 8192);
	uint8_t st;
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, b, 3072, &st), 0);
	assert_int_equal(atomic_load(&f->v.max_descs), 8);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, b, 3584, &st), -E2BIG);
	uint8_t local[512];
	struct vblk_host_req r = { .type = VH_BLK_T_IN, .buf = local, .len = 512 };
	assert_int_equal(vblk_host_queue_req(d, 0, &r), -EFAULT);
	/* fill the ring with 3-descriptor requests without kicking */
	struct vblk_host_req rq[3];
	int n = 0;
	for (; n < 3; n++) {
		rq[n] = (struct vblk_host_req){ .type = VH_BLK_T_IN, .buf = b, .len = 512 };
		if (vblk_host_queue_req(d, 0, &rq[n]))
			break;
	}
	assert_int_equal(n, 2);
	assert_int_equal(vblk_host_kick(d, 0), 0);
	int got = 0;
	while (got < 2)
		got += vblk_host_wait(d, 0, 2000);
	vblk_host_close(d);
	fb_check(f);
	fb_stop(f);
}

static void test_vu_inflight(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	fb_run(f);
	struct vblk_host_opts o = { .inflight = true, .num_queues = 2, .queue_size = 32 };
	struct vblk_host *d = fb_open(f, &o);
	assert_true(f->acked_pf & VH_BIT(VHU_PF_INFLIGHT_SHMFD));
	assert_true(f->got_set_inflight);
	void *p;
	size_t sz;
	assert_int_equal(vblk_host_inflight_region(d, &p, &sz), 0);
	assert_int_equal(sz, 2 * (16 + 16 * 32));
	uint8_t st;
	assert_int_equal(vblk_host_device_status(d, &st), -EOPNOTSUPP);	/* no STATUS */
	vblk_host_close(d);
	fb_check(f);
	fb_stop(f);
}

/* Each fault makes the open fail quickly with the right error. */
static void test_vu_faults(void **state)
{
	(void)state;
	struct {
		uint32_t req;
		enum fb_fault fault;
		int rc;
	} cases[] = {
		{ VHU_SET_OWNER, FB_CLOSE, -ECONNRESET },
		{ VHU_GET_FEATURES, FB_CLOSE, -ECONNRESET },
		{ VHU_GET_CONFIG, FB_SILENT, -ETIMEDOUT },
		{ VHU_SET_MEM_TABLE, FB_SILENT, -ETIMEDOUT },	/* REPLY_ACK never comes */
		{ VHU_GET_PROTOCOL_FEATURES, FB_WRONG_REQ, -EPROTO },
		{ VHU_GET_QUEUE_NUM, FB_NO_REPLY_FLAG, -EPROTO },
		{ VHU_GET_FEATURES, FB_HUGE, -EPROTO },
		{ VHU_SET_MEM_TABLE, FB_NACK, -EIO },
		{ VHU_SET_VRING_ADDR, FB_NACK, -EIO },
		{ VHU_GET_CONFIG, FB_EMPTY, -EIO },
		{ VHU_SET_FEATURES, FB_EMPTY, -EPROTO },	/* an ack without its u64 */
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fb *f = fb_start();
		f->fault_req = cases[i].req;
		f->fault = cases[i].fault;
		fb_run(f);
		struct vblk_host_opts o = { .ctrl_timeout_ms = 300 };
		struct vblk_host *d = NULL;
		int64_t t0 = now_ms();
		int rc = vblk_host_open_vhost_user(f->path, &o, &d);
		if (rc != cases[i].rc)
			fail_msg("case %zu: got %d want %d", i, rc, cases[i].rc);
		assert_null(d);
		assert_true(now_ms() - t0 < 2000);
		fb_stop(f);
	}
	/* no protocol features, no CONFIG, no VERSION_1 */
	for (int k = 0; k < 3; k++) {
		struct fb *f = fb_start();
		if (k == 0)
			f->features &= ~VH_BIT(VHU_F_PROTOCOL_FEATURES);
		else if (k == 1)
			f->pf &= ~VH_BIT(VHU_PF_CONFIG);
		else
			f->features &= ~VH_BIT(VH_F_VERSION_1);
		fb_run(f);
		struct vblk_host *d = NULL;
		assert_int_equal(vblk_host_open_vhost_user(f->path, NULL, &d), -EOPNOTSUPP);
		fb_stop(f);
	}
	/* more queues than the back end has */
	struct fb *f = fb_start();
	f->queue_num = 2;
	fb_run(f);
	struct vblk_host_opts o = { .num_queues = 3 };
	struct vblk_host *d = NULL;
	assert_int_equal(vblk_host_open_vhost_user(f->path, &o, &d), -EINVAL);
	fb_stop(f);
	/* nobody listening */
	assert_int_equal(vblk_host_open_vhost_user("/tmp/no-such-vhost-socket", NULL, &d),
			 -ENOENT);
}

/* The front end alone: raw messages, broken state, REPLY_ACK off. */
static void test_vu_front_raw(void **state)
{
	(void)state;
	struct fb *f = fb_start();
	f->fault = FB_BAD_INDEX;
	fb_run(f);
	struct vhu_front *fe;
	assert_int_equal(vhu_connect(f->path, &fe), 0);
	vhu_set_timeout(fe, 300);
	uint64_t feats;
	assert_int_equal(vhu_get_features(fe, &feats), 0);
	assert_int_equal(feats, f->features);
	assert_int_equal(vhu_set_protocol_features(fe, VH_BIT(VHU_PF_REPLY_ACK)), 0);
	assert_int_equal(vhu_protocol_features(fe), VH_BIT(VHU_PF_REPLY_ACK));
	/* an unknown request with need_reply: the back end says 1 */
	struct vhu_hdr h = { 99, VHU_VERSION | VHU_FLAG_NEED_REPLY, 0 };
	assert_int_equal(vhu_send_raw(fe, &h, sizeof(h), NULL, 0), 0);
	uint8_t buf[64];
	size_t len;
	assert_int_equal(vhu_recv_raw(fe, buf, sizeof(buf), &len, NULL, NULL, 0), 0);
	assert_int_equal(len, 20);
	assert_int_equal(rd32(buf), 99);
	assert_int_equal(rd32(buf + 4), VHU_VERSION | VHU_FLAG_REPLY);
	assert_int_equal(rd64(buf + 12), 1);
	/* nothing more comes */
	assert_int_equal(vhu_recv_raw(fe, buf, sizeof(buf), &len, NULL, NULL, 50), -ETIMEDOUT);
	assert_false(vhu_is_broken(fe));
	/* generic request with REPLY_ACK: status 1 is -EIO */
	assert_int_equal(vhu_set_vring_enable(fe, 200, true), 0);	/* index ignored: ok */
	assert_int_equal(vhu_last_ack(fe), 0);
	uint64_t st = 0;
	uint32_t n = 0;
	assert_int_equal(vhu_request(fe, 98, true, NULL, 0, NULL, 0, false, &st, 8, &n, NULL, NULL),
			 0);
	assert_int_equal(n, 8);
	assert_int_equal(st, 1);
	/* without REPLY_ACK a set returns once sent */
	vhu_set_reply_ack(fe, false);
	assert_int_equal(vhu_set_owner(fe), 0);
	vhu_set_reply_ack(fe, true);
	/* a GET_VRING_BASE answer for another index is -EPROTO, usable after */
	uint32_t base;
	assert_int_equal(vhu_get_vring_base(fe, 0, &base), -EPROTO);
	assert_false(vhu_is_broken(fe));
	assert_int_equal(vhu_get_queue_num(fe, &feats), 0);
	assert_int_equal(feats, FB_NQ);
	/* config: size above the limit refused locally */
	assert_int_equal(vhu_get_config(fe, 0, 0, buf, 0, NULL), -EINVAL);
	vhu_close(fe);
	fb_check(f);
	fb_stop(f);

	/* a reply that is not ours breaks the session */
	f = fb_start();
	f->fault_req = VHU_GET_FEATURES;
	f->fault = FB_WRONG_REQ;
	fb_run(f);
	assert_int_equal(vhu_connect(f->path, &fe), 0);
	assert_int_equal(vhu_get_features(fe, &feats), -EPROTO);
	assert_true(vhu_is_broken(fe));
	assert_int_equal(vhu_get_features(fe, &feats), -ENOTCONN);
	vhu_close(fe);
	fb_stop(f);

	/* socketpair adoption; a peer that closes */
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	assert_int_equal(vhu_front_from_fd(sv[0], &fe), 0);
	close(sv[1]);
	assert_int_equal(vhu_get_features(fe, &feats), -ECONNRESET);
	assert_int_equal(vhu_get_features(fe, &feats), -ENOTCONN);
	vhu_close(fe);
}

/* ==== fake virtio-pci block function over vfio-user ======================================== */

#define FP_NQ		4
#define FP_NVEC		5		/* config + 4 queues */
#define FP_BAR1		0x1000u		/* MSI-X table at 0, PBA at 0x800 */
#define FP_BAR4		0x4000u
#define FP_COMMON	0x0000u
#define FP_ISR		0x1000u
#define FP_DEVCFG	0x2000u
#define FP_NOTIFY	0x3000u
#define FP_MULT		4u

enum fp_fault {
	FP_OK = 0,
	FP_REFUSE_FEATURES,	/* FEATURES_OK never sticks */
	FP_CAP_LOOP,		/* the capability list loops */
	FP_NOTIFY_OUTSIDE,	/* notify structure beyond BAR4 */
	FP_NO_VECTORS,		/* queue vector mapping refused */
	FP_SMALL_QUEUES,	/* queue_size maximum 16 */
};

struct fp {
	char dir[64], path[128];
	int lfd;
	atomic_int fd;		/* set by the fake's thread (accept) */
	pthread_t th;
	atomic_bool stop;
	enum fp_fault fault;
	uint8_t cfg[256];
	uint8_t bar1[FP_BAR1];
	uint8_t devcfg[60];
	int efd[FP_NVEC];
	bool vmask[FP_NVEC];		/* SET_IRQS ACTION_MASK state (VFIO level) */
	struct fdev v;
	/* common configuration state */
	uint64_t dev_features, drv_features;
	uint32_t dfselect, gfselect;
	uint16_t msix_config, qsel;
	uint8_t status, generation;
	struct {
		uint16_t size, msix, enable;
		uint64_t desc, avail, used;
	} q[FP_NQ];
	struct fring r[FP_NQ];
	/* observations */
	atomic_int posted_notifies, nonposted_notifies, config_reads;
	atomic_int table_writes;	/* REGION_WRITEs into the MSI-X table (BAR1) */
	atomic_bool hold_q0;		/* ignore notifications of queue 0 */
	bool saw_failed;
	uint8_t *rx;
};

static void fp_reset(struct fp *f)
{
	f->drv_features = 0;
	f->dfselect = f->gfselect = 0;
	f->msix_config = VH_PCI_MSI_NO_VECTOR;
	f->status = 0;
	f->qsel = 0;
	for (int i = 0; i < FP_NQ; i++) {
		f->q[i].size = f->fault == FP_SMALL_QUEUES ? 16 : 256;
		f->q[i].msix = VH_PCI_MSI_NO_VECTOR;
		f->q[i].enable = 0;
		f->q[i].desc = f->q[i].avail = f->q[i].used = 0;
		f->r[i].ready = false;
	}
}

/* The 0x3c-byte common configuration image for the selected queue. */
static void fp_common_image(struct fp *f, uint8_t *img)
{
	memset(img, 0, 0x40);
	wr32(img + VH_PCI_COMMON_DFSELECT, f->dfselect);
	wr32(img + VH_PCI_COMMON_DF, f->dfselect < 2 ? (uint32_t)(f->dev_features >> (32 * f->dfselect)) : 0);
	wr32(img + VH_PCI_COMMON_GFSELECT, f->gfselect);
	wr32(img + VH_PCI_COMMON_GF, f->gfselect < 2 ? (uint32_t)(f->drv_features >> (32 * f->gfselect)) : 0);
	wr16(img + VH_PCI_COMMON_MSIX, f->msix_config);
	wr16(img + VH_PCI_COMMON_NUMQ, FP_NQ);
	img[VH_PCI_COMMON_STATUS] = f->status;
	img[VH_PCI_COMMON_CFGGENERATION] = f->generation;
	wr16(img + VH_PCI_COMMON_Q_SELECT, f->qsel);
	if (f->qsel < FP_NQ) {
		wr16(img + VH_PCI_COMMON_Q_SIZE, f->q[f->qsel].size);
		wr16(img + VH_PCI_COMMON_Q_MSIX, f->q[f->qsel].msix);
		wr16(img + VH_PCI_COMMON_Q_ENABLE, f->q[f->qsel].enable);
		wr16(img + VH_PCI_COMMON_Q_NOFF, f->qsel);
		wr64(img + VH_PCI_COMMON_Q_DESCLO, f->q[f->qsel].desc);
		wr64(img + VH_PCI_COMMON_Q_AVAILLO, f->q[f->qsel].avail);
		wr64(img + VH_PCI_COMMON_Q_USEDLO, f->q[f->qsel].used);
	}
}

static void fp_status_write(struct fp *f, uint8_t st)
{
	if (st == 0) {
		fp_reset(f);
		return;
	}
	if (st & VH_STATUS_FAILED)
		f->saw_failed = true;
	if ((st & VH_STATUS_FEATURES_OK) && !(f->status & VH_STATUS_FEATURES_OK)) {
		bool ok = f->fault != FP_REFUSE_FEATURES && !(f->drv_features & ~f->dev_features) &&
			  (f->drv_features & VH_BIT(VH_F_VERSION_1));
		if (!ok)
			st &= (uint8_t)~VH_STATUS_FEATURES_OK;
		f->v.event_idx = f->drv_features & VH_BIT(VH_F_RING_EVENT_IDX);
	}
	f->status = st;
}

static void fp_common_write(struct fp *f, uint32_t off, const uint8_t *data, uint32_t count)
{
	uint8_t img[0x40];
	fp_common_image(f, img);
	if (off + count > 0x3c)
		return;
	memcpy(img + off, data, count);
	switch (off) {
	case VH_PCI_COMMON_DFSELECT:
		f->dfselect = rd32(img + off);
		break;
	case VH_PCI_COMMON_GFSELECT:
		f->gfselect = rd32(img + off);
		break;
	case VH_PCI_COMMON_GF:
		if (f->gfselect < 2) {
			uint64_t m = 0xffffffffull << (32 * f->gfselect);
			f->drv_features = (f->drv_features & ~m) |
					  ((uint64_t)rd32(img + off) << (32 * f->gfselect));
		}
		break;
	case VH_PCI_COMMON_MSIX:
		f->msix_config = rd16(img + off) < FP_NVEC ? rd16(img + off) : VH_PCI_MSI_NO_VECTOR;
		break;
	case VH_PCI_COMMON_STATUS:
		fp_status_write(f, img[off]);
		break;
	case VH_PCI_COMMON_Q_SELECT:
		f->qsel = rd16(img + off);
		break;
	default:
		break;
	}
	if (f->qsel >= FP_NQ || off < VH_PCI_COMMON_Q_SIZE)
		return;
	uint16_t qi = f->qsel;
	switch (off) {
	case VH_PCI_COMMON_Q_SIZE:
		f->q[qi].size = rd16(img + off);
		break;
	case VH_PCI_COMMON_Q_MSIX: {
		uint16_t v = rd16(img + off);
		f->q[qi].msix = (v < FP_NVEC && f->fault != FP_NO_VECTORS) ? v : VH_PCI_MSI_NO_VECTOR;
		break;
	}
	case VH_PCI_COMMON_Q_ENABLE: {
		struct fring *r = &f->r[qi];
		uint32_t n = f->q[qi].size;
		f->q[qi].enable = rd16(img + off);
		r->num = n;
		r->desc = fd_xlate(&f->v, f->q[qi].desc, 16ull * n);
		r->avail = fd_xlate(&f->v, f->q[qi].avail, 6 + 2ull * n);
		r->used = fd_xlate(&f->v, f->q[qi].used, 6 + 8ull * n);
		r->last_avail = r->used_idx = 0;
		r->call = -1;
		r->ready = r->desc && r->avail && r->used && f->q[qi].enable == 1;
		break;
	}
	case VH_PCI_COMMON_Q_DESCLO:
	case VH_PCI_COMMON_Q_DESCHI:
		f->q[qi].desc = rd64(img + VH_PCI_COMMON_Q_DESCLO);
		break;
	case VH_PCI_COMMON_Q_AVAILLO:
	case VH_PCI_COMMON_Q_AVAILHI:
		f->q[qi].avail = rd64(img + VH_PCI_COMMON_Q_AVAILLO);
		break;
	case VH_PCI_COMMON_Q_USEDLO:
	case VH_PCI_COMMON_Q_USEDHI:
		f->q[qi].used = rd64(img + VH_PCI_COMMON_Q_USEDLO);
		break;
	default:
		break;
	}
}

/* Serve queue qi after a notification, then raise its vector. */
static void fp_notify(struct fp *f, uint16_t qi)
{
	if (qi >= FP_NQ || !(f->status & VH_STATUS_DRIVER_OK) ||
	    (qi == 0 && atomic_load(&f->hold_q0)))
		return;
	struct fring *r = &f->r[qi];
	uint16_t v = f->q[qi].msix;
	uint16_t ctrl = rd16(f->cfg + 0x42);
	/* as a VFIO device: the table in BAR1 is the client's and never
	 * masks; config space and SET_IRQS MASK do */
	bool masked = v >= FP_NVEC || !(ctrl & VH_MSIX_CTRL_ENABLE) || (ctrl & VH_MSIX_CTRL_MASKALL) ||
		      f->vmask[v];
	r->call = masked ? -1 : f->efd[v];
	fd_process(&f->v, r);
}

static void fp_region_info(struct fp *f, const struct vfu_msg_hdr *h, const uint8_t *p)
{
	struct vfu_msg_region_info rq, ri = { 0 };
	memcpy(&rq, p, sizeof(rq));
	ri.argsz = sizeof(ri);
	ri.index = rq.index;
	ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	if (rq.index == 1)
		ri.size = FP_BAR1;
	else if (rq.index == 4)
		ri.size = FP_BAR4;
	else if (rq.index == VFIO_PCI_CONFIG_REGION_INDEX)
		ri.size = sizeof(f->cfg);
	else
		ri.flags = 0;
	struct vfu_msg_hdr rh = { h->msg_id, h->command, sizeof(rh) + sizeof(ri), VFU_F_TYPE_REPLY, 0 };
	sock_send(f->fd, &rh, sizeof(rh), &ri, sizeof(ri), -1);
}

static void fp_reply(struct fp *f, const struct vfu_msg_hdr *h, const void *p, size_t len)
{
	struct vfu_msg_hdr rh = { h->msg_id, h->command, (uint32_t)(sizeof(rh) + len),
				  VFU_F_TYPE_REPLY, 0 };
	sock_send(f->fd, &rh, sizeof(rh), p, len, -1);
}

static void fp_read(struct fp *f, const struct vfu_msg_hdr *h, const uint8_t *p)
{
	struct vfu_msg_region_access a;
	uint8_t out[16 + 4096] = { 0 };
	memcpy(&a, p, sizeof(a));
	if (a.count > 4096)
		a.count = 0;
	uint8_t *dst = out + sizeof(a);
	if (a.region == VFIO_PCI_CONFIG_REGION_INDEX && a.offset + a.count <= sizeof(f->cfg)) {
		memcpy(dst, f->cfg + a.offset, a.count);
	} else if (a.region == 1 && a.offset + a.count <= FP_BAR1) {
		memcpy(dst, f->bar1 + a.offset, a.count);
	} else if (a.region == 4 && a.offset < 0x40 && a.offset + a.count <= 0x40) {
		uint8_t img[0x40];
		fp_common_image(f, img);
		memcpy(dst, img + a.offset, a.count);
	} else if (a.region == 4 && a.offset >= FP_DEVCFG && a.offset + a.count <= FP_DEVCFG + 60) {
		memcpy(dst, f->devcfg + (a.offset - FP_DEVCFG), a.count);
		atomic_fetch_add(&f->config_reads, 1);
	}
	memcpy(out, &a, sizeof(a));
	fp_reply(f, h, out, sizeof(a) + a.count);
}

static void fp_write(struct fp *f, const struct vfu_msg_hdr *h, const uint8_t *p)
{
	struct vfu_msg_region_access a;
	memcpy(&a, p, sizeof(a));
	const uint8_t *data = p + sizeof(a);
	if (a.region == VFIO_PCI_CONFIG_REGION_INDEX && a.offset + a.count <= sizeof(f->cfg)) {
		/* command register and MSI-X control are writable here */
		if (a.offset == 0x04 || a.offset == 0x42)
			memcpy(f->cfg + a.offset, data, a.count);
	} else if (a.region == 1 && a.offset + a.count <= FP_BAR1) {
		atomic_fetch_add(&f->table_writes, 1);
		memcpy(f->bar1 + a.offset, data, a.count);
	} else if (a.region == 4 && a.offset < 0x40) {
		fp_common_write(f, (uint32_t)a.offset, data, a.count);
	} else if (a.region == 4 && a.offset >= FP_NOTIFY && a.offset < FP_NOTIFY + 0x1000) {
		if (a.count == 2 && (a.offset - FP_NOTIFY) == (uint64_t)rd16(data) * FP_MULT)
			atomic_fetch_add((h->flags & VFU_F_NO_REPLY) ? &f->posted_notifies
								       : &f->nonposted_notifies, 1);
		fp_notify(f, rd16(data));
	}
	if (!(h->flags & VFU_F_NO_REPLY))
		fp_reply(f, h, &a, sizeof(a));
}

static void fp_handle(struct fp *f, const struct vfu_msg_hdr *h, uint8_t *p, int *fds, int nfds)
{
	switch (h->command) {
	case VFU_CMD_VERSION: {
		static const char js[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
		uint8_t out[64];
		struct vfu_msg_version v = { 0, 0 };
		memcpy(out, &v, sizeof(v));
		memcpy(out + sizeof(v), js, sizeof(js));
		fp_reply(f, h, out, sizeof(v) + sizeof(js));
		break;
	}
	case VFU_CMD_DMA_MAP: {
		struct vfu_msg_dma_map m;
		memcpy(&m, p, sizeof(m));
		if (nfds == 1 && f->v.nmap < 8) {
			void *va = mmap(NULL, m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
					(off_t)m.offset);
			if (va != MAP_FAILED) {
				f->v.map[f->v.nmap].addr = m.address;
				f->v.map[f->v.nmap].size = m.size;
				f->v.map[f->v.nmap].ptr = va;
				f->v.nmap++;
			}
		}
		fp_reply(f, h, NULL, 0);
		break;
	}
	case VFU_CMD_DMA_UNMAP: {
		struct vfu_msg_dma_unmap m;
		memcpy(&m, p, sizeof(m));
		for (int i = 0; i < f->v.nmap; i++) {
			if (f->v.map[i].addr == m.address) {
				munmap(f->v.map[i].ptr, f->v.map[i].size);
				f->v.map[i] = f->v.map[--f->v.nmap];
				break;
			}
		}
		fp_reply(f, h, NULL, 0);
		break;
	}
	case VFU_CMD_DEVICE_GET_INFO: {
		struct vfu_msg_device_info di = { 16, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET, 9, 5 };
		fp_reply(f, h, &di, sizeof(di));
		break;
	}
	case VFU_CMD_DEVICE_GET_REGION_INFO:
		fp_region_info(f, h, p);
		break;
	case VFU_CMD_DEVICE_GET_IRQ_INFO: {
		struct vfu_msg_irq_info ii;
		memcpy(&ii, p, sizeof(ii));
		ii.argsz = sizeof(ii);
		ii.flags = VFIO_IRQ_INFO_EVENTFD;
		if (ii.index == VFIO_PCI_MSIX_IRQ_INDEX)
			ii.flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_NORESIZE;
		ii.count = ii.index == VFIO_PCI_MSIX_IRQ_INDEX ? FP_NVEC : ii.index == 0 ? 1 : 0;
		fp_reply(f, h, &ii, sizeof(ii));
		break;
	}
	case VFU_CMD_DEVICE_SET_IRQS: {
		struct vfu_msg_irq_set s;
		memcpy(&s, p, sizeof(s));
		uint32_t action = s.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
		if (s.index == VFIO_PCI_MSIX_IRQ_INDEX && action != VFIO_IRQ_SET_ACTION_TRIGGER) {
			const uint8_t *bools = (s.flags & VFIO_IRQ_SET_DATA_BOOL) ? p + sizeof(s) : NULL;
			for (uint32_t i = 0; i < s.count && s.start + i < FP_NVEC; i++)
				if (!bools || bools[i])
					f->vmask[s.start + i] = action == VFIO_IRQ_SET_ACTION_MASK;
		} else if (s.index == VFIO_PCI_MSIX_IRQ_INDEX) {
			if (s.count == 0) {
				for (int i = 0; i < FP_NVEC; i++) {
					if (f->efd[i] >= 0)
						close(f->efd[i]);
					f->efd[i] = -1;
					f->vmask[i] = false;
				}
			}
			for (uint32_t i = 0; i < s.count && s.start + i < FP_NVEC; i++) {
				if (f->efd[s.start + i] >= 0)
					close(f->efd[s.start + i]);
				f->efd[s.start + i] = -1;
				if ((s.flags & VFIO_IRQ_SET_DATA_EVENTFD) && (int)i < nfds) {
					f->efd[s.start + i] = fds[i];
					fds[i] = -1;
				}
			}
		}
		fp_reply(f, h, NULL, 0);
		break;
	}
	case VFU_CMD_REGION_READ:
		fp_read(f, h, p);
		break;
	case VFU_CMD_REGION_WRITE:
		fp_write(f, h, p);
		break;
	default: {
		struct vfu_msg_hdr e = { h->msg_id, h->command, sizeof(e),
					 VFU_F_TYPE_REPLY | VFU_F_ERROR, ENOTSUP };
		(void)!send(f->fd, &e, sizeof(e), MSG_NOSIGNAL);
	}
	}
}

static void *fp_main(void *arg)
{
	struct fp *f = arg;
	f->fd = accept(f->lfd, NULL, NULL);
	while (f->fd >= 0 && !atomic_load(&f->stop)) {
		struct pollfd pfd = { f->fd, POLLIN, 0 };
		if (poll(&pfd, 1, 5) <= 0)
			continue;
		struct vfu_msg_hdr h;
		int fds[8], nfds = 0;
		if (sock_recv(f->fd, &h, sizeof(h), fds, &nfds) || h.msg_size < sizeof(h) ||
		    h.msg_size - sizeof(h) > 65536)
			break;
		size_t len = h.msg_size - sizeof(h);
		if (len && sock_recv(f->fd, f->rx, len, fds, &nfds))
			break;
		fp_handle(f, &h, f->rx, fds, nfds);
		for (int i = 0; i < nfds; i++) {
			if (fds[i] >= 0)
				close(fds[i]);
		}
	}
	return NULL;
}

/* One vendor capability at off. */
static void fp_cap(struct fp *f, uint8_t off, uint8_t next, uint8_t type, uint32_t offset,
		   uint32_t length, uint8_t len)
{
	uint8_t *c = f->cfg + off;
	c[0] = VH_PCI_CAP_ID_VNDR;
	c[1] = next;
	c[2] = len;
	c[3] = type;
	c[4] = 4;	/* BAR4 */
	wr32(c + 8, offset);
	wr32(c + 12, length);
}

static struct fp *fp_start(enum fp_fault fault)
{
	struct fp *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->fault = fault;
	f->rx = malloc(65536);
	f->v.disk = calloc(FD_SECTORS, 512);
	f->v.rbuf = malloc(FD_RBUF);
	assert_non_null(f->v.disk);
	assert_non_null(f->v.rbuf);
	for (int i = 0; i < FP_NVEC; i++)
		f->efd[i] = -1;
	f->dev_features = VH_BIT(VH_F_VERSION_1) | VH_BIT(VH_BLK_F_SEG_MAX) | VH_BIT(VH_BLK_F_SIZE_MAX) |
			  VH_BIT(VH_BLK_F_FLUSH) | VH_BIT(VH_BLK_F_MQ) | VH_BIT(VH_BLK_F_DISCARD) |
			  VH_BIT(VH_F_RING_EVENT_IDX) | VH_BIT(VH_F_RING_INDIRECT_DESC) |
			  VH_BIT(VH_F_ACCESS_PLATFORM);
	struct vh_blk_config *c = (struct vh_blk_config *)(void *)f->devcfg;
	c->capacity = FD_SECTORS;
	c->size_max = 65536;
	c->seg_max = 64;
	c->num_queues = FP_NQ;
	c->max_discard_sectors = 2048;
	c->max_discard_seg = 4;
	c->discard_sector_alignment = 8;
	fp_reset(f);

	wr16(f->cfg + 0x00, VH_PCI_VENDOR_ID);
	wr16(f->cfg + 0x02, VH_PCI_DEVICE_ID_MODERN(VH_BLK_DEVICE_ID));
	wr16(f->cfg + 0x06, VH_PCI_STATUS_CAP_LIST);
	f->cfg[0x08] = 1;			/* revision */
	f->cfg[0x0b] = 0x01;			/* mass storage */
	f->cfg[0x34] = 0x40;
	f->cfg[0x40] = VH_PCI_CAP_ID_MSIX;
	f->cfg[0x41] = 0x50;
	wr16(f->cfg + 0x42, FP_NVEC - 1);
	wr32(f->cfg + 0x44, 0x00000001);	/* table: BIR 1, offset 0 */
	wr32(f->cfg + 0x48, 0x00000801);	/* PBA: BIR 1, 0x800 */
	/* a capability with a reserved cfg_type and one with a reserved BAR
	 * come first: both must be skipped */
	fp_cap(f, 0x50, 0x60, 0x2a, 0, 4, 16);
	fp_cap(f, 0x60, 0x70, VH_PCI_CAP_COMMON_CFG, 0x3000, 0x40, 16);
	f->cfg[0x64] = 7;
	fp_cap(f, 0x70, 0x80, VH_PCI_CAP_COMMON_CFG, FP_COMMON, 0x3c, 16);
	fp_cap(f, 0x80, 0x98, VH_PCI_CAP_NOTIFY_CFG,
	       fault == FP_NOTIFY_OUTSIDE ? FP_BAR4 - 2 : FP_NOTIFY, 0x1000, 20);
	wr32(f->cfg + 0x80 + 16, FP_MULT);
	fp_cap(f, 0x98, 0xa8, VH_PCI_CAP_ISR_CFG, FP_ISR, 4, 16);
	fp_cap(f, 0xa8, fault == FP_CAP_LOOP ? 0x70 : 0xb8, VH_PCI_CAP_DEVICE_CFG, FP_DEVCFG, 60, 16);
	/* a second device-config capability: the first one wins */
	fp_cap(f, 0xb8, 0, VH_PCI_CAP_DEVICE_CFG, 0, 60, 16);
	for (int v = 0; v < FP_NVEC; v++)
		f->bar1[16 * v + 12] = 1;	/* vectors start masked */

	f->fd = -1;
	f->lfd = listen_tmp(f->dir, sizeof(f->dir), f->path, sizeof(f->path), "cntrl");
	assert_int_equal(pthread_create(&f->th, NULL, fp_main, f), 0);
	return f;
}

static void fp_stop(struct fp *f)
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
	for (int i = 0; i < f->v.nmap; i++)
		munmap(f->v.map[i].ptr, f->v.map[i].size);
	for (int i = 0; i < FP_NVEC; i++) {
		if (f->efd[i] >= 0)
			close(f->efd[i]);
	}
	free(f->v.disk);
	free(f->v.rbuf);
	free(f->rx);
	free(f);
}

static void test_pci_open_io(void **state)
{
	(void)state;
	struct fp *f = fp_start(FP_OK);
	struct vblk_host_opts o = { .num_queues = 2, .mem_regions = 2, .mem_size = 4u << 20,
				    .features = VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_EVENT_IDX) };
	struct vblk_host *d = NULL;
	int rc = vblk_host_open_pci(f->path, &o, &d);
	assert_int_equal(rc, 0);
	assert_non_null(vblk_host_vfu(d));
	assert_null(vblk_host_vhu(d));
	/* negotiation: ACCESS_PLATFORM and INDIRECT not taken, EVENT_IDX taken */
	assert_int_equal(f->drv_features, VH_BIT(VH_F_VERSION_1) | VH_BIT(VH_BLK_F_SEG_MAX) |
					  VH_BIT(VH_BLK_F_SIZE_MAX) | VH_BIT(VH_BLK_F_FLUSH) |
					  VH_BIT(VH_BLK_F_MQ) | VH_BIT(VH_BLK_F_DISCARD) |
					  VH_BIT(VH_F_RING_EVENT_IDX));
	assert_int_equal(vblk_host_device_features(d), f->dev_features);
	assert_int_equal(f->status, VH_STATUS_ACKNOWLEDGE | VH_STATUS_DRIVER |
				    VH_STATUS_FEATURES_OK | VH_STATUS_DRIVER_OK);
	assert_int_equal(rd16(f->cfg + 0x04) & (VH_PCI_CMD_MEM | VH_PCI_CMD_MASTER),
			 VH_PCI_CMD_MEM | VH_PCI_CMD_MASTER);
	/* config (natural widths: one read per field) */
	const struct vh_blk_config *c = vblk_host_config(d);
	assert_int_equal(c->capacity, FD_SECTORS);
	assert_int_equal(c->size_max, 65536);
	assert_int_equal(c->max_discard_seg, 4);
	assert_int_equal(atomic_load(&f->config_reads), 24);
	/* queues: enabled, sizes, vectors 1 and 2, config vector 0 */
	assert_int_equal(f->q[0].enable, 1);
	assert_int_equal(f->q[1].enable, 1);
	assert_int_equal(f->q[2].enable, 0);
	assert_int_equal(f->q[0].size, 128);
	assert_int_equal(f->q[0].msix, 1);
	assert_int_equal(f->q[1].msix, 2);
	assert_int_equal(f->msix_config, 0);
	assert_true(rd16(f->cfg + 0x42) & VH_MSIX_CTRL_ENABLE);
	assert_false(rd16(f->cfg + 0x42) & VH_MSIX_CTRL_MASKALL);
	/* the MSI-X table was left alone (a VFIO user emulates it): its mask
	 * bits are still set, yet the interrupts below arrive */
	assert_int_equal(atomic_load(&f->table_writes), 0);
	assert_int_equal(rd32(f->bar1 + 16 + 12) & 1, 1);
	assert_int_equal(vblk_host_queue_size(d, 1), 128);
	assert_true(vblk_host_queue_has_irq(d, 0));

	uint8_t *wb = vblk_host_alloc(d, 65536), *rb = vblk_host_alloc(d, 65536);
	fill(wb, 65536, 3);
	uint8_t st;
	for (uint16_t q = 0; q < 2; q++) {
		assert_int_equal(vblk_host_rw(d, q, VH_BLK_T_OUT, 100 + q * 200, wb, 65536, &st), 0);
		assert_int_equal(st, VH_BLK_S_OK);
		memset(rb, 0, 65536);
		assert_int_equal(vblk_host_rw(d, q, VH_BLK_T_IN, 100 + q * 200, rb, 65536, &st), 0);
		assert_int_equal(st, VH_BLK_S_OK);
		assert_memory_equal(rb, wb, 65536);
	}
	char id[21];
	assert_int_equal(vblk_host_get_id(d, 1, id), 0);
	assert_string_equal(id, FD_SERIAL);
	assert_int_equal(vblk_host_device_status(d, &st), 0);
	assert_int_equal(st, f->status);
	assert_true(atomic_load(&f->posted_notifies) >= 5);
	assert_int_equal(atomic_load(&f->nonposted_notifies), 0);
	struct vblk_host_qstats qs;
	vblk_host_qstats(d, 0, &qs);
	/* a slow device: the driver sleeps on the MSI-X eventfd */
	atomic_store(&f->v.delay_ms, 30);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 100, rb, 512, &st), 0);
	atomic_store(&f->v.delay_ms, 0);
	vblk_host_qstats(d, 0, &qs);
	assert_true(qs.irqs >= 1);
	assert_true(atomic_load(&f->v.n_calls) >= 5);
	vblk_host_free(d, wb);
	vblk_host_free(d, rb);
	vblk_host_close(d);
	/* close reset the device and unmapped the memory */
	assert_int_equal(f->status, 0);
	assert_int_equal(f->v.nmap, 0);
	fp_stop(f);
}

static void test_pci_async_threads(void **state)
{
	(void)state;
	struct fp *f = fp_start(FP_OK);
	struct vblk_host_opts o = { .num_queues = 4, .queue_size = 64,
				    .features = VBLK_HOST_FEATURES_BASE |
						VH_BIT(VH_F_RING_INDIRECT_DESC) };
	struct vblk_host *d = NULL;
	assert_int_equal(vblk_host_open_pci(f->path, &o, &d), 0);
	/* 5 vectors for 4 queues: config 0, queues 1..4 */
	assert_int_equal(f->q[3].msix, 4);
	run_async(d, 4);
	assert_int_equal(atomic_load(&f->v.n_req), 4 * 2 * AQ_TOTAL);
	assert_int_equal(atomic_load(&f->v.n_indirect), 4 * 2 * AQ_TOTAL);
	vblk_host_close(d);
	fp_stop(f);
}

static void test_pci_faults(void **state)
{
	(void)state;
	struct {
		enum fp_fault fault;
		int rc;
	} cases[] = {
		{ FP_REFUSE_FEATURES, -ENOTSUP },
		{ FP_CAP_LOOP, -ELOOP },
		{ FP_NOTIFY_OUTSIDE, -EPROTO },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct fp *f = fp_start(cases[i].fault);
		struct vblk_host *d = NULL;
		struct vblk_host_opts o = { .ctrl_timeout_ms = 500 };
		int rc = vblk_host_open_pci(f->path, &o, &d);
		if (rc != cases[i].rc)
			fail_msg("case %zu: got %d want %d", i, rc, cases[i].rc);
		assert_null(d);
		if (cases[i].fault == FP_REFUSE_FEATURES)
			assert_true(f->saw_failed);
		fp_stop(f);
	}

	/* vector mapping refused: polled completions, still working; an
	 * IRQ_REQUIRED open refuses instead */
	struct fp *f = fp_start(FP_NO_VECTORS);
	struct vblk_host *d = NULL;
	assert_int_equal(vblk_host_open_pci(f->path, NULL, &d), 0);
	assert_false(vblk_host_queue_has_irq(d, 0));
	assert_int_equal(f->q[0].msix, VH_PCI_MSI_NO_VECTOR);
	uint8_t st, *b = vblk_host_alloc(d, 512);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_OUT, 1, b, 512, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	vblk_host_close(d);
	fp_stop(f);
	f = fp_start(FP_NO_VECTORS);
	struct vblk_host_opts req = { .irq = VBLK_HOST_IRQ_REQUIRED };
	assert_int_equal(vblk_host_open_pci(f->path, &req, &d), -EOPNOTSUPP);
	fp_stop(f);

	/* a device queue maximum below the wanted size; forced features */
	f = fp_start(FP_SMALL_QUEUES);
	assert_int_equal(vblk_host_open_pci(f->path, NULL, &d), 0);
	assert_int_equal(vblk_host_queue_size(d, 0), 16);
	assert_int_equal(f->q[0].size, 16);
	assert_int_equal(vblk_host_max_segments(d), 14);
	vblk_host_close(d);
	fp_stop(f);
	f = fp_start(FP_OK);
	struct vblk_host_opts force = { .force_features = true,
					.features = VH_BIT(VH_F_VERSION_1) | VH_BIT(VH_BLK_F_ZONED) };
	assert_int_equal(vblk_host_open_pci(f->path, &force, &d), -ENOTSUP);
	assert_true(f->saw_failed);
	fp_stop(f);
	/* more queues than the device has */
	f = fp_start(FP_OK);
	struct vblk_host_opts many = { .num_queues = FP_NQ + 1 };
	assert_int_equal(vblk_host_open_pci(f->path, &many, &d), -EINVAL);
	fp_stop(f);
}

/* A synchronous request the device never completes times out and is
 * abandoned; the late completion is dropped and the queue keeps working. */
static void test_pci_timeout_abandon(void **state)
{
	(void)state;
	struct fp *f = fp_start(FP_OK);
	struct vblk_host_opts o = { .timeout_ms = 200 };
	struct vblk_host *d = NULL;
	assert_int_equal(vblk_host_open_pci(f->path, &o, &d), 0);
	/* hide queue 0 from the fake so that the kick is ignored */
	atomic_store(&f->hold_q0, true);
	uint8_t st, plain[512];
	int64_t t0 = now_ms();
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, plain, 512, &st), -ETIMEDOUT);
	assert_true(now_ms() - t0 < 1500);
	assert_int_equal(vblk_host_inflight(d, 0), 1);
	atomic_store(&f->hold_q0, false);
	assert_int_equal(vblk_host_rw(d, 0, VH_BLK_T_IN, 0, plain, 512, &st), 0);
	assert_int_equal(st, VH_BLK_S_OK);
	assert_int_equal(vblk_host_inflight(d, 0), 0);
	vblk_host_close(d);
	fp_stop(f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ring_layout),
		cmocka_unit_test(test_ring_add_publish_used),
		cmocka_unit_test(test_ring_free_list),
		cmocka_unit_test(test_ring_wrap),
		cmocka_unit_test(test_ring_event_idx),
		cmocka_unit_test(test_ring_used_event),
		cmocka_unit_test(test_ring_indirect),
		cmocka_unit_test(test_ring_raw_and_bad_used),
		cmocka_unit_test(test_ring_drain),
		cmocka_unit_test(test_vu_handshake_and_io),
		cmocka_unit_test(test_vu_async_multiqueue),
		cmocka_unit_test(test_vu_ring_wrap),
		cmocka_unit_test(test_vu_raw_requests),
		cmocka_unit_test(test_vu_request_limits),
		cmocka_unit_test(test_vu_inflight),
		cmocka_unit_test(test_vu_faults),
		cmocka_unit_test(test_vu_front_raw),
		cmocka_unit_test(test_pci_open_io),
		cmocka_unit_test(test_pci_async_threads),
		cmocka_unit_test(test_pci_faults),
		cmocka_unit_test(test_pci_timeout_abandon),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
