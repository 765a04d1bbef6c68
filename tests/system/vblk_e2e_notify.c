/* vblk_e2e: Notifications: event index, interrupts, in-order completion. */
#include "vblk_e2e.h"

/* ---- notifications ------------------------------------------------------------------------------ */

/* Requests waited for through the interrupt eventfd only, with idle gaps
 * (the device must re-enable kicks before it sleeps). */
static void notif_pass(bool event_idx)
{
	struct vblk_host_opts o;
	base_opts(&o);
	o.irq = VBLK_HOST_IRQ_REQUIRED;
	if (!event_idx)
		o.features &= ~VH_BIT(VH_F_RING_EVENT_IDX);
	o.timeout_ms = EVENT_DEADLINE_MS;
	struct vblk_host *d = open_all(&o);
	uint8_t *b = NULL;
	REQUIRE(d);
	CHECK_EQ(!!(vblk_host_features(d) & VH_BIT(VH_F_RING_EVENT_IDX)), event_idx);
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++)
		CHECK(vblk_host_queue_has_irq(d, q));
	b = xalloc(d, 8192);
	REQUIRE(b);
	for (int i = 0; i < 60; i++) {
		uint16_t q = (uint16_t)(i % vblk_host_num_queues(d));
		uint32_t type = ((i & 1) || O.read_only) ? VH_BLK_T_IN : VH_BLK_T_OUT;
		int st = rw(d, q, type, 128, b, 4096);
		if (st != VH_BLK_S_OK) {
			FAIL("event_idx %d: request %d on q%u: %d (%s)", event_idx, i, q, st,
			     st < 0 ? strerror(-st) : st_name(st));
			break;
		}
		if (i % 10 == 9)
			sleep_ms(60);	/* long enough for the reactor to sleep */
	}
	struct vring_host *vq = vblk_host_vring(d, 0);
	sleep_ms(50);
	/* idle: the device asked to be kicked for the next request */
	if (event_idx) {
		uint16_t avail_event = __atomic_load_n((uint16_t *)&vq->used->ring[vq->num], __ATOMIC_ACQUIRE);
		CHECK_EQ(avail_event, vq->avail_idx);
	} else {
		CHECK_EQ(__atomic_load_n(&vq->used->flags, __ATOMIC_ACQUIRE) & VH_USED_F_NO_NOTIFY, 0);
	}
	struct vblk_host_qstats st0;
	CHECK_EQ(vblk_host_wait(d, 0, 50), -ETIMEDOUT);
	vblk_host_qstats(d, 0, &st0);
	CHECK(st0.irqs > 0);
	CHECK(st0.kicks > 0);

	/* used-buffer notifications switched off: the device does not signal
	 * (2.7.7.2: with flags NO_INTERRUPT it SHOULD NOT; with EVENT_IDX only
	 * when used->idx passes used_event) */
	/* consume any interrupt still pending from before (a completion found
	 * by polling leaves its eventfd count behind) */
	CHECK_EQ(vblk_host_wait(d, 0, 100), -ETIMEDOUT);
	vring_host_disable_cb(vq);
	struct areq a[16];
	for (int i = 0; i < 16; i++)
		a[i] = (struct areq){ .r = { .type = VH_BLK_T_IN, .sector = 128 + 8 * (uint64_t)i, .buf = b,
					     .len = 4096 } };
	unsigned outstanding = 16;
	for (int i = 0; i < 16; i++) {
		a[i].outstanding = &outstanding;
		a[i].r.cb = areq_done;
		REQUIRE_OK(vblk_host_queue_req(d, 0, &a[i].r));
	}
	REQUIRE_OK(vblk_host_kick(d, 0));
	int64_t end = now_ms() + EVENT_DEADLINE_MS;
	while (outstanding && now_ms() < end) {
		vblk_host_poll(d, 0, 0);
		sleep_ms(1);
	}
	CHECK_EQ(outstanding, 0);
	struct vblk_host_qstats st1, st2;
	vblk_host_qstats(d, 0, &st1);
	/* wait() re-enables notifications and sleeps on the eventfd: anything
	 * signalled while they were off shows up as an interrupt here */
	CHECK_EQ(vblk_host_wait(d, 0, 200), -ETIMEDOUT);
	vblk_host_qstats(d, 0, &st2);
	if (st2.irqs != st1.irqs)
		FAIL("event_idx %d: the device signalled while used-buffer notifications were off", event_idx);
	/* and on again (wait() turned them on): signalled; the completion may
	 * be found by polling first, so collect the interrupt afterwards */
	CHECK_EQ(rw(d, 0, VH_BLK_T_IN, 128, b, 4096), VH_BLK_S_OK);
	CHECK_EQ(vblk_host_wait(d, 0, 100), -ETIMEDOUT);
	vblk_host_qstats(d, 0, &st1);
	CHECK(st1.irqs > st2.irqs);
out:
	if (d)
		vblk_host_free(d, b);
	vblk_host_close(d);
}

void case_event_idx(void)
{
	notif_pass(true);
	notif_pass(false);
}

void case_interrupts(void)
{
	struct vblk_host_opts o;
	/* interrupts required: every queue gets one and requests complete
	 * through it */
	base_opts(&o);
	o.irq = VBLK_HOST_IRQ_REQUIRED;
	struct vblk_host *d = open_all(&o);
	REQUIRE(d);
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++) {
		CHECK(vblk_host_queue_has_irq(d, q));
		CHECK(serve_ok(d, q, 256 + 32 * q, O.seed));
		/* an interrupt of a completion found by polling is collected here */
		CHECK_EQ(vblk_host_wait(d, q, 50), -ETIMEDOUT);
		struct vblk_host_qstats st;
		vblk_host_qstats(d, q, &st);
		CHECK(st.irqs > 0);
	}
	vblk_host_close(d);
	/* polling: no interrupts at all */
	base_opts(&o);
	o.irq = VBLK_HOST_IRQ_POLL;
	d = open_all(&o);
	REQUIRE(d);
	for (uint16_t q = 0; q < vblk_host_num_queues(d); q++) {
		CHECK(!vblk_host_queue_has_irq(d, q));
		CHECK(serve_ok(d, q, 256 + 32 * q, O.seed));
		struct vblk_host_qstats st;
		vblk_host_qstats(d, q, &st);
		CHECK_EQ(st.irqs, 0);
	}
out:
	vblk_host_close(d);
}

/* IN_ORDER (when offered): used in the order made available */
void case_in_order(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	struct areq *a = NULL;
	uint8_t *b = NULL;
	REQUIRE(d);
	uint64_t off = vblk_host_device_features(d);
	vblk_host_close(d);
	d = NULL;
	if (O.in_order > 0)
		CHECK(off & VH_BIT(VH_F_IN_ORDER));
	if (!(off & VH_BIT(VH_F_IN_ORDER))) {
		diag("IN_ORDER not offered");
		goto out;
	}
	base_opts(&o);
	o.features = (off & VBLK_HOST_FEATURES_KNOWN) | VH_BIT(VH_F_IN_ORDER);
	o.force_features = true;
	d = open_dev(&o);
	REQUIRE(d);
	CHECK(vblk_host_features(d) & VH_BIT(VH_F_IN_ORDER));
	enum { N = 64 };
	a = calloc(N, sizeof(*a));
	b = xalloc(d, N * 65536);
	REQUIRE(a && b);
	uint32_t ctr = 0;
	uint32_t big = vblk_host_max_segments(d) * vblk_host_config(d)->size_max;
	if (big > 65536)
		big = 65536;
	for (int i = 0; i < N; i++) {
		uint32_t len = (i % 3 == 0) ? big : (i % 3 == 1) ? 512 : 4096;
		uint32_t type = (i % 5 == 4) ? 99 : (O.read_only || (i & 1)) ? VH_BLK_T_IN : VH_BLK_T_OUT;
		a[i].r = (struct vblk_host_req){ .type = type, .sector = 1024 + 128 * (uint64_t)i,
						 .buf = b + (size_t)i * 65536, .len = len };
		if (i == 10)
			a[i].r.sector = capacity(d);	/* an error in the middle */
		a[i].order_ctr = &ctr;
	}
	/* request MAL is a malformed chain (an 8-byte header): handed back
	 * unused, and in its place in the order too */
	enum { MAL = 20 };
	unsigned outstanding = 0;
	for (int i = 0; i < N; i++) {
		a[i].outstanding = &outstanding;
		a[i].r.cb = areq_done;
		int rc;
		for (;;) {
			if (i == MAL) {
				struct vring_host_raw rd[2] = {
					{ dev_addr(d, b + (size_t)i * 65536, 8), 8, VH_DESC_F_NEXT, 1, false },
					{ dev_addr(d, b + (size_t)i * 65536 + 4096, 1), 1, VH_DESC_F_WRITE, 0, false },
				};
				rc = vblk_host_submit_desc(d, 0, rd, 2, &a[i].r);
			} else {
				rc = vblk_host_queue_req(d, 0, &a[i].r);
			}
			if (rc != -ENOSPC || !outstanding)
				break;
			vblk_host_kick(d, 0);
			if (vblk_host_wait(d, 0, EVENT_DEADLINE_MS) < 0)
				break;
		}
		REQUIRE_OK(rc);
		outstanding++;
	}
	REQUIRE_OK(vblk_host_kick(d, 0));
	int64_t end = now_ms() + EVENT_DEADLINE_MS;
	while (outstanding && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	REQUIRE(outstanding == 0);
	CHECK_EQ(a[MAL].r.used_len, 0);
	for (int i = 0; i < N; i++) {
		if ((int)a[i].order != i) {
			FAIL("request %d completed as number %u (IN_ORDER)", i, a[i].order);
			break;
		}
	}
out:
	free(a);
	if (d)
		vblk_host_free(d, b);
	vblk_host_close(d);
}
