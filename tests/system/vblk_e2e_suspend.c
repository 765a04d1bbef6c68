/* vblk_e2e: I/O in flight while the Python side suspends the controller, detaches
 * and attaches its bdev, or swaps it (stdin/stdout handshake). */
#include "vblk_e2e.h"

/* ---- cases driven from outside -------------------------------------------------------------------- */

/* suspend_probe: writes keep flowing ("# RUNNING", and "# FLOWING" at the
 * first completion); a line on stdin says
 * the controller was suspended (the RPC returned): from then on nothing
 * completes, also not requests submitted meanwhile, for 300 ms ("#
 * SUSPENDED_OK ..."); the next line says it was resumed: everything
 * completes exactly once, with OK, and the data is there. */
#define SP_MAX (1u << 18)
void case_suspend_probe(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	struct areq *a = calloc(SP_MAX, sizeof(*a));
	uint8_t *buf = NULL;
	char line[128];
	enum { NSEC = 8, DEPTH = 24, SLOTS = 2048 };
	const uint64_t base = 256;
	unsigned sub = 0, outstanding = 0;
	REQUIRE(d && a);
	REQUIRE(!O.read_only);
	buf = xalloc(d, (size_t)SLOTS * NSEC * SECTOR);
	REQUIRE(buf);
	/* request i writes slot i % SLOTS: the same pattern every time */
	for (unsigned k = 0; k < SLOTS; k++)
		pattern_fill(buf + (size_t)k * NSEC * SECTOR, base + (uint64_t)k * NSEC, NSEC, SECTOR, O.seed);
#define SUBMIT_ONE() do { \
		unsigned k_ = sub % SLOTS; \
		a[sub] = (struct areq){ .r = { .type = VH_BLK_T_OUT, .sector = base + (uint64_t)k_ * NSEC, \
					       .buf = buf + (size_t)k_ * NSEC * SECTOR, .len = NSEC * SECTOR, \
					       .cb = areq_done }, .outstanding = &outstanding }; \
		REQUIRE_OK(vblk_host_queue_req(d, 0, &a[sub].r)); \
		outstanding++; sub++; \
	} while (0)
#define REAP() do { int n_ = vblk_host_poll(d, 0, 0); if (n_ < 0) FAIL("poll: %d", n_); } while (0)

	/* "RUNNING" at once (a controller created suspended completes
	 * nothing), "FLOWING" once writes complete: the Python side waits
	 * for that, not a fixed time, before it suspends a running one */
	bool flowing = false;
	say("RUNNING");
	while (!stdin_ready()) {
		while (outstanding < DEPTH && sub < SP_MAX - 64)
			SUBMIT_ONE();
		vblk_host_kick(d, 0);
		REAP();
		if (!flowing && sub > outstanding) {
			say("FLOWING");
			flowing = true;
		}
		if (sub >= SP_MAX - 64)
			sleep_ms(1);
	}
	REQUIRE(wait_line(1000, line, sizeof(line)));
	/* suspended: what was fetched has completed; collect it */
	REAP();
	unsigned at_suspend = sub - outstanding;
	int64_t end = now_ms() + 300;
	while (now_ms() < end) {
		REAP();
		sleep_ms(5);
	}
	if (sub - outstanding != at_suspend)
		FAIL("%u completions arrived after the suspend RPC returned", sub - outstanding - at_suspend);
	unsigned before_new = sub - outstanding;
	for (int k = 0; k < 8; k++)
		SUBMIT_ONE();
	vblk_host_kick(d, 0);
	end = now_ms() + 300;
	while (now_ms() < end) {
		REAP();
		sleep_ms(5);
	}
	if (sub - outstanding != before_new)
		FAIL("%u requests were served while suspended", sub - outstanding - before_new);
	say("SUSPENDED_OK submitted=%u completed=%u outstanding=%u", sub, sub - outstanding, outstanding);
	REQUIRE(wait_line(30000, line, sizeof(line)));
	end = now_ms() + 2 * EVENT_DEADLINE_MS;	/* scales with the load */
	while (outstanding && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	REAP();
	diag("submitted %u, completed %u", sub, sub - outstanding);
	CHECK_EQ(outstanding, 0);
	unsigned bad = 0;
	for (unsigned i = 0; i < sub; i++) {
		if (a[i].ncomp != 1 || a[i].r.result || a[i].r.status != VH_BLK_S_OK) {
			if (bad++ < 5)
				FAIL("request %u: completed %d times, result %d, status %u", i, a[i].ncomp, a[i].r.result,
				     a[i].r.status);
		}
	}
	CHECK_EQ(bad, 0);
	struct vblk_host_qstats st;
	vblk_host_qstats(d, 0, &st);
	CHECK_EQ(st.bad_used, 0);
	CHECK_EQ(st.completed, st.submitted);
	/* every slot written (the slots past sub were never written) */
	for (unsigned k = 0; k < SLOTS && k < sub; k += 64) {
		unsigned n = sub - k < 64 ? sub - k : 64;
		if (!read_check(d, 0, base + (uint64_t)k * NSEC, n * NSEC * SECTOR, O.seed))
			break;
	}
	printf("# counts submitted=%u completed=%u\n", sub, sub - outstanding);
#undef SUBMIT_ONE
#undef REAP
out:
	if (d)
		vblk_host_free(d, buf);
	vblk_host_close(d);
	free(a);
}

/* attach_probe: reads keep flowing over [0, --span) and must hold the
 * pattern of the first bdev (seed --seed); "# RUNNING". A line says the
 * bdev was detached: nothing completes for 300 ms ("# DETACHED_OK").
 * The next line says the second bdev (pattern --seed2) is attached:
 * everything outstanding completes with OK and holds the second pattern,
 * as does every read after. */
void case_attach_probe(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	enum { NSEC = 8, DEPTH = 16, MAXR = 1 << 17 };
	struct areq *a = calloc(MAXR, sizeof(*a));
	uint8_t *buf = NULL;
	char line[128];
	unsigned sub = 0, outstanding = 0, checked = 0, phase_a = 0, phase_b = 0;
	REQUIRE(d && a);
	uint64_t cap0 = capacity(d);
	buf = xalloc(d, (size_t)DEPTH * 2 * NSEC * SECTOR);
	REQUIRE(buf);
#define SUBMIT_ONE() do { \
		a[sub] = (struct areq){ .r = { .type = VH_BLK_T_IN, .sector = ((uint64_t)sub * NSEC) % O.span, \
					       .buf = buf + (size_t)(sub % (2 * DEPTH)) * NSEC * SECTOR, \
					       .len = NSEC * SECTOR, .cb = areq_done }, .outstanding = &outstanding }; \
		REQUIRE_OK(vblk_host_queue_req(d, 0, &a[sub].r)); \
		outstanding++; sub++; \
	} while (0)
	/* check completed reads in submission order (buffers are reused
	 * after 2 * DEPTH submissions, never while outstanding) */
#define CHECK_DONE(seed_, cnt_) do { \
		while (checked < sub && a[checked].ncomp) { \
			struct vblk_host_req *r_ = &a[checked].r; \
			if (r_->status != VH_BLK_S_OK) { FAIL("read %u: status %u (%s)", checked, r_->status, \
							      st_name(r_->status)); goto out; } \
			long k_ = pattern_check(r_->buf, r_->sector, NSEC, SECTOR, (seed_)); \
			if (k_ >= 0) { FAIL("read %u at sector %llu: not the pattern of seed %u", checked, \
					    (unsigned long long)r_->sector, (seed_)); goto out; } \
			cnt_++; checked++; \
		} \
	} while (0)

	/* "RUNNING" once reads came back from the first bdev: the Python side
	 * detaches it then, however slowly this loaded machine gets to them */
	int64_t end = now_ms() + 2 * EVENT_DEADLINE_MS;
	while (phase_a < DEPTH && now_ms() < end) {
		while (outstanding < DEPTH && sub - checked < 2 * DEPTH - 1)
			SUBMIT_ONE();
		vblk_host_kick(d, 0);
		vblk_host_wait(d, 0, 100);
		CHECK_DONE(O.seed, phase_a);
	}
	REQUIRE(phase_a >= DEPTH);
	say("RUNNING");
	while (!stdin_ready() && sub < MAXR - 4 * DEPTH) {
		while (outstanding < DEPTH && sub - checked < 2 * DEPTH - 1)
			SUBMIT_ONE();
		vblk_host_kick(d, 0);
		vblk_host_poll(d, 0, 0);
		CHECK_DONE(O.seed, phase_a);
	}
	REQUIRE(wait_line(5000, line, sizeof(line)));
	/* detached: in-flight reads finished on the first bdev */
	vblk_host_poll(d, 0, 0);
	CHECK_DONE(O.seed, phase_a);
	unsigned done_at = sub - outstanding;
	while (outstanding < DEPTH && sub - checked < 2 * DEPTH - 1)
		SUBMIT_ONE();
	vblk_host_kick(d, 0);
	end = now_ms() + 300;
	while (now_ms() < end) {
		vblk_host_poll(d, 0, 0);
		sleep_ms(5);
	}
	if (sub - outstanding != done_at)
		FAIL("%u reads completed while no bdev was attached", sub - outstanding - done_at);
	say("DETACHED_OK outstanding=%u", outstanding);
	REQUIRE(wait_line(30000, line, sizeof(line)));
	end = now_ms() + 2 * EVENT_DEADLINE_MS;	/* scales with the load */
	while (outstanding && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	CHECK_EQ(outstanding, 0);
	CHECK_DONE(O.seed2, phase_b);
	/* and more reads, all from the second bdev */
	for (int round = 0; round < 200; round++) {
		while (outstanding < DEPTH && sub - checked < 2 * DEPTH - 1)
			SUBMIT_ONE();
		vblk_host_kick(d, 0);
		vblk_host_wait(d, 0, 1000);
		CHECK_DONE(O.seed2, phase_b);
	}
	while (outstanding && vblk_host_wait(d, 0, EVENT_DEADLINE_MS) > 0)
		;
	CHECK_DONE(O.seed2, phase_b);
	CHECK_EQ(checked, sub);
	struct vh_blk_config c;
	REQUIRE_OK(vblk_host_read_config(d, &c));
	CHECK_EQ(c.capacity, cap0);
	struct vblk_host_qstats st;
	vblk_host_qstats(d, 0, &st);
	CHECK_EQ(st.bad_used, 0);
	say("counts first=%u second=%u", phase_a, phase_b);
	CHECK(phase_a > 0 && phase_b > 0);
#undef SUBMIT_ONE
#undef CHECK_DONE
out:
	if (d)
		vblk_host_free(d, buf);
	vblk_host_close(d);
	free(a);
}

/* swap_probe: reads keep flowing over [0, --span) ("# RUNNING") while the
 * Python side detaches and attaches two bdevs back to back (patterns of
 * --seed and --seed2); every read completes with OK and holds one of the
 * two patterns, none is lost; a line on stdin ends it. */
void case_swap_probe(void)
{
	struct vblk_host_opts o;
	base_opts(&o);
	struct vblk_host *d = open_dev(&o);
	enum { NSEC = 8, DEPTH = 16, MAXR = 1 << 20 };
	struct areq *a = calloc(MAXR, sizeof(*a));
	uint8_t *buf = NULL;
	char line[128];
	unsigned sub = 0, outstanding = 0, checked = 0, na = 0, nb = 0;
	REQUIRE(d && a);
	buf = xalloc(d, (size_t)DEPTH * 2 * NSEC * SECTOR);
	REQUIRE(buf);
	say("RUNNING");
	bool stop = false;
	while (!stop || outstanding) {
		if (!stop && stdin_ready()) {
			REQUIRE(wait_line(1000, line, sizeof(line)));
			stop = true;
		}
		while (!stop && outstanding < DEPTH && sub - checked < 2 * DEPTH - 1 && sub < MAXR) {
			a[sub] = (struct areq){ .r = { .type = VH_BLK_T_IN, .sector = ((uint64_t)sub * NSEC) % O.span,
						       .buf = buf + (size_t)(sub % (2 * DEPTH)) * NSEC * SECTOR,
						       .len = NSEC * SECTOR, .cb = areq_done },
						.outstanding = &outstanding };
			REQUIRE_OK(vblk_host_queue_req(d, 0, &a[sub].r));
			outstanding++;
			sub++;
		}
		vblk_host_kick(d, 0);
		int n = outstanding ? vblk_host_wait(d, 0, stop ? EVENT_DEADLINE_MS : 20) : 0;
		if (n < 0 && n != -ETIMEDOUT) {
			FAIL("wait: %d", n);
			goto out;
		}
		if (stop && n == -ETIMEDOUT && outstanding) {
			FAIL("%u reads never completed (the controller was left without media?)", outstanding);
			goto out;
		}
		while (checked < sub && a[checked].ncomp) {
			struct vblk_host_req *r = &a[checked].r;
			if (r->status != VH_BLK_S_OK) {
				FAIL("read %u at sector %llu: status %u (%s) during the swaps", checked,
				     (unsigned long long)r->sector, r->status, st_name(r->status));
				goto out;
			}
			if (pattern_check(r->buf, r->sector, NSEC, SECTOR, O.seed) < 0)
				na++;
			else if (pattern_check(r->buf, r->sector, NSEC, SECTOR, O.seed2) < 0)
				nb++;
			else {
				uint64_t s0;
				uint32_t sd;
				memcpy(&s0, r->buf, 8);
				memcpy(&sd, (uint8_t *)r->buf + 8, 4);
				FAIL("read %u at sector %llu: neither bdev's data (it starts with sector %llu, seed %u; "
				     "used length %u)", checked, (unsigned long long)r->sector, (unsigned long long)s0, sd,
				     r->used_len);
				goto out;
			}
			checked++;
		}
	}
	CHECK_EQ(checked, sub);
	struct vblk_host_qstats st;
	vblk_host_qstats(d, 0, &st);
	CHECK_EQ(st.bad_used, 0);
	say("counts reads=%u first=%u second=%u", checked, na, nb);
out:
	if (d)
		vblk_host_free(d, buf);
	vblk_host_close(d);
	free(a);
}
