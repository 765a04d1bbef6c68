/* nvme_e2e: Cases driven from outside: the Python side talks to them through
 * stdin/stdout ("# WHAT" lines, one line back), or checks what they leave
 * behind (statistics, the backing file). */
#include <pthread.h>

#include "nvme_e2e.h"

/* ---- I/O then hold the queues (for the statistics RPCs) --------------------------------------
 * Queue q (1..nr) does q*10 writes and q*15 reads of 8 blocks, then
 * "# HOLD queues=N q1_reads=.. q1_writes=.. ..." and the driver stays up until a line
 * arrives on stdin. */

void case_io_hold(void)
{
	struct open_opts oo = { .queues = 2 };
	struct nvme_host *h = open_ctrl(&oo);
	char line[256], msg[256];
	size_t len = 0;
	REQUIRE(h);
	uint16_t nq = nvme_host_nr_io_queues(h);
	/* q*10 writes, each read back (q*10 reads), then q*5 more reads */
	for (uint16_t q = 1; q <= nq; q++)
		for (int i = 0; i < q * 10; i++)
			CHECK(write_verify(h, q, O.nsid, 110000 + (uint64_t)(q * 100 + i) * 8, 8, O.seed));
	for (uint16_t q = 1; q <= nq; q++)
		for (int i = 0; i < q * 5; i++)
			CHECK(read_check(h, q, O.nsid, 110000 + (uint64_t)(q * 100) * 8, 8, O.seed));
	len += (size_t)snprintf(msg + len, sizeof(msg) - len, "HOLD queues=%u", nq);
	for (uint16_t q = 1; q <= nq; q++)
		len += (size_t)snprintf(msg + len, sizeof(msg) - len, " q%u_reads=%d q%u_writes=%d", q,
					q * 15, q, q * 10);
	say("%s", msg);
	if (!wait_line(60000, line, sizeof(line)))
		FAIL("no line on stdin");
	CHECK(write_verify(h, 1, O.nsid, 110000, 8, O.seed + 1));
out:
	nvme_host_close(h);
}

/* ---- data for the file check (Python reads the backing file) --------------------------------- */

static void extent(uint64_t lba, uint32_t nlb)
{
	printf("# extent %llu %u\n", (unsigned long long)lba, nlb);
}

void case_file_pattern(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *mem = NULL;
	uint64_t mi = 0;
	REQUIRE(h);
	uint32_t maxb = nvme_host_max_xfer(h);
	mem = xalloc(h, (size_t)maxb + 8192, 4096, &mi);
	REQUIRE(mem);
	/* PRP, aligned */
	pattern_fill(mem, 0, 8, bs(), O.seed);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 0, 8, mem, 0));
	extent(0, 8);
	/* PRP, unaligned multi-page */
	pattern_fill(mem + 0x204, 101, 17, bs(), O.seed);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 101, 17, mem + 0x204, 0));
	extent(101, 17);
	/* a full MDTS transfer at an offset */
	uint32_t nlb = maxb / bs();
	pattern_fill(mem + 0x800, 1000, nlb, bs(), O.seed);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 1000, nlb, mem + 0x800, 0));
	extent(1000, nlb);
	/* SGL, 3 pieces */
	if (NVME_SGLS_SUPPORT(nvme_host_id_ctrl(h)->sgls) != NVME_SGLS_NONE) {
		struct nvme_host_sg sg[3] = { { mi + 0x10, 1024 }, { mi + 0x3000, 2048 }, { mi + 0x8004, 1024 } };
		uint8_t src[4096];
		pattern_fill(src, 5000, 8, bs(), O.seed);
		memcpy(mem + 0x10, src, 1024);
		memcpy(mem + 0x3000, src + 1024, 2048);
		memcpy(mem + 0x8004, src + 3072, 1024);
		REQUIRE_OK(io_sg(h, 1, NVME_CMD_WRITE, O.nsid, 5000, 8, sg, 3, NVME_HOST_F_SGL));
		extent(5000, 8);
	}
	/* the last blocks of the namespace, FUA */
	pattern_fill(mem, O.nsze - 16, 16, bs(), O.seed);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, O.nsze - 16, 16, mem, NVME_HOST_F_FUA));
	extent(O.nsze - 16, 16);
	REQUIRE_OK(io(h, 1, NVME_CMD_FLUSH, O.nsid, 0, 0, NULL, 0));
	/* and it reads back through the controller too */
	CHECK(read_check(h, 1, O.nsid, 0, 8, O.seed));
	CHECK(read_check(h, 1, O.nsid, 101, 17, O.seed));
	CHECK(read_check(h, 1, O.nsid, 1000, nlb, O.seed));
	CHECK(read_check(h, 1, O.nsid, O.nsze - 16, 16, O.seed));
out:
	if (h)
		nvme_host_free(h, mem);
	nvme_host_close(h);
}

/* ---- asynchronous event on namespace attach/detach (driven by Python) ----------------------- */

static bool changed_ns_has(struct nvme_host *h, uint32_t nsid)
{
	uint32_t *log = nvme_host_alloc(h, 4096, 4096, NULL);
	bool found = false;
	int st = nvme_host_get_log_page(h, NVME_LOG_CHANGED_NS, 0, 0, false, log, 4096);
	if (st) {
		FAIL("Changed Namespace List: %s", st_str(st));
	} else {
		for (int i = 0; i < 1024 && log[i]; i++)
			found |= log[i] == nsid || log[i] == 0xffffffffu;
	}
	nvme_host_free(h, log);
	return found;
}

static void expect_ns_aen(struct nvme_host *h, const char *what)
{
	struct nvme_cqe c;
	int st = nvme_host_aer_poll(h, 5000, &c);
	if (st) {
		FAIL("%s: no asynchronous event (%s)", what, st_str(st));
		return;
	}
	diag("%s: event dw0 0x%08x", what, c.dw0);
	CHECK_EQ(NVME_AER_TYPE(c.dw0), 2);	/* Notice */
	CHECK_EQ(NVME_AER_INFO(c.dw0), 0);	/* Namespace Attribute Changed */
	CHECK_EQ(NVME_AER_LOG(c.dw0), NVME_LOG_CHANGED_NS);
}

void case_aen(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	char line[128];
	uint8_t *b = NULL;
	REQUIRE(h);
	const uint32_t nsid = O.nsid2 ? O.nsid2 : O.nsid;
	b = xalloc(h, 8 * bs(), 4096, NULL);
	REQUIRE(b);
	REQUIRE_OK(setf(h, NVME_FEAT_ASYNC_EVENT, 0x100, NULL));
	REQUIRE_OK(nvme_host_aer_submit(h));
	CHECK(write_verify(h, 1, nsid, 100, 8, O.seed));

	say("READY detach");
	REQUIRE(wait_line(30000, line, sizeof(line)));
	expect_ns_aen(h, "detach");
	CHECK(changed_ns_has(h, nsid));
	/* the NSID is now inactive (valid, not attached): Invalid Field in
	 * Command (NVMe 1.4 6.1) */
	EXPECT_ST(io(h, 1, NVME_CMD_READ, nsid, 100, 8, b, 0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(io(h, 1, NVME_CMD_WRITE, nsid, 100, 8, b, 0), 0, NVME_SC_INVALID_FIELD);
	uint32_t *list = (void *)nvme_host_alloc(h, 4096, 4096, NULL);
	REQUIRE(list);
	REQUIRE_OK(nvme_host_active_ns_list(h, 0, list));
	for (int i = 0; i < 1024 && list[i]; i++)
		if (list[i] == nsid)
			FAIL("detached NSID %u still in the active list", nsid);
	EXPECT_OK(nvme_host_ns_refresh(h));
	CHECK(nvme_host_ns_info(h, nsid, NULL) == -ENOENT);

	REQUIRE_OK(nvme_host_aer_submit(h));
	say("READY attach");
	REQUIRE(wait_line(30000, line, sizeof(line)));
	expect_ns_aen(h, "attach");
	CHECK(changed_ns_has(h, nsid));
	EXPECT_OK(nvme_host_ns_refresh(h));
	CHECK(nvme_host_ns_info(h, nsid, NULL) == 0);
	CHECK(read_check(h, 1, nsid, 100, 8, O.seed));
	CHECK(write_verify(h, 1, nsid, 108, 8, O.seed));
	nvme_host_free(h, list);
out:
	if (h)
		nvme_host_free(h, b);
	nvme_host_close(h);
}

/* ---- suspend / resume with I/O in flight (driven by Python) -------------------------------------
 *
 * "# RUNNING": I/O keeps going (writes to distinct LBAs, up to DEPTH in
 * flight) until a line arrives on stdin ("suspended": the RPC returned).
 * Then: whatever completed before the RPC returned is reaped; no completion
 * may appear for 300 ms; new commands are not fetched (no completion in
 * 300 ms). "# SUSPENDED_OK outstanding=N", then wait for "resumed": every
 * command completes exactly once, data reads back. */

#define SP_MAX 8192

void case_suspend_probe(void)
{
	struct open_opts oo = { .depth = 64 };
	struct nvme_host *h = open_ctrl(&oo);
	struct nvme_host_cmd *cmds = calloc(SP_MAX, sizeof(*cmds));
	int *counts = calloc(SP_MAX, sizeof(int));
	uint8_t *buf = NULL;
	char line[128];
	enum { NLB = 8, DEPTH = 16 };
	const uint64_t base = 200;
	REQUIRE(h && cmds && counts);
	unsigned maxcmds = (16u << 20) / (NLB * bs());	/* distinct LBAs in a 16 MiB buffer */
	if (maxcmds > SP_MAX)
		maxcmds = SP_MAX;
	buf = xalloc(h, (size_t)maxcmds * NLB * bs(), 4096, NULL);
	REQUIRE(buf);
	unsigned sub = 0, done = 0;
	for (unsigned i = 0; i < maxcmds; i++)
		pattern_fill(buf + (size_t)i * NLB * bs(), base + (uint64_t)i * NLB, NLB, bs(), O.seed);

#define SUBMIT_ONE() do { \
		unsigned i_ = sub; \
		REQUIRE_OK(nvme_host_cmd_rw(h, &cmds[i_], NVME_CMD_WRITE, O.nsid, base + (uint64_t)i_ * NLB, NLB, \
					    buf + (size_t)i_ * NLB * bs(), 0)); \
		cmds[i_].done = count_done; \
		cmds[i_].arg = &counts[i_]; \
		REQUIRE_OK(nvme_host_submit(h, 1, &cmds[i_])); \
		sub++; \
	} while (0)
#define REAP() do { int n_ = nvme_host_poll(h, 1, 0); \
		if (n_ < 0) FAIL("poll: %s", st_str(n_)); else done += (unsigned)n_; } while (0)

	/* "FLOWING" at the first completion: the Python side waits for that,
	 * not a fixed time, before it suspends */
	bool flowing = false;
	say("RUNNING");
	while (!stdin_ready()) {
		while (sub - done < DEPTH && sub < maxcmds - 64)
			SUBMIT_ONE();
		REAP();
		if (!flowing && done) {
			say("FLOWING");
			flowing = true;
		}
		if (sub >= maxcmds - 64)
			sleep_ms(1);
	}
	REQUIRE(wait_line(1000, line, sizeof(line)));
	/* suspended: what was fetched has completed; reap it */
	REAP();
	unsigned at_suspend = done;
	int64_t end = now_ms() + 300;
	while (now_ms() < end) {
		REAP();
		sleep_ms(5);
	}
	if (done != at_suspend)
		FAIL("%u completions arrived after the suspend RPC returned", done - at_suspend);
	unsigned before_new = done;
	for (int k = 0; k < 8 && sub < maxcmds; k++)
		SUBMIT_ONE();
	end = now_ms() + 300;
	while (now_ms() < end) {
		REAP();
		sleep_ms(5);
	}
	if (done != before_new)
		FAIL("%u commands were served while suspended", done - before_new);
	char msg[128];
	snprintf(msg, sizeof(msg), "SUSPENDED_OK submitted=%u completed=%u outstanding=%u", sub, done, sub - done);
	say("%s", msg);
	REQUIRE(wait_line(30000, line, sizeof(line)));
	end = now_ms() + 2 * EVENT_DEADLINE_MS;	/* scales with the load */
	while (done < sub && now_ms() < end) {
		REAP();
		sleep_ms(1);
	}
	REAP();
	diag("submitted %u, completed %u", sub, done);
	CHECK_EQ(done, sub);
	unsigned bad = 0;
	for (unsigned i = 0; i < sub; i++) {
		if (counts[i] != 1 || cmds[i].result) {
			if (bad++ < 5)
				FAIL("command %u: completed %d times, %s", i, counts[i], st_str(cmds[i].result));
		}
	}
	CHECK_EQ(bad, 0);
	struct nvme_host_qstats st;
	if (nvme_host_queue_stats(h, 1, &st) == 0) {
		CHECK_EQ(st.bad_cqes, 0);
		CHECK_EQ(st.completed, st.submitted);
	}
	/* the data of every command is there */
	unsigned per = nvme_host_max_xfer(h) / (NLB * bs());
	for (unsigned i = 0; i < sub; i += per) {
		unsigned n = sub - i < per ? sub - i : per;
		if (!read_check(h, 1, O.nsid, base + (uint64_t)i * NLB, n * NLB, O.seed))
			break;
	}
	printf("# counts submitted=%u completed=%u\n", sub, done);
#undef SUBMIT_ONE
#undef REAP
out:
	if (h)
		nvme_host_free(h, buf);
	nvme_host_close(h);
	free(cmds);
	free(counts);
}

/* A controller created suspended: CC.EN = 1 is not followed by CSTS.RDY
 * until nvme_controller_resume ("# NOT_READY", then a line on stdin). */
struct enable_thread {
	struct nvme_host *h;
	int rc;
	bool done;
};

static void *enable_run(void *arg)
{
	struct enable_thread *t = arg;
	t->rc = nvme_host_enable(t->h);
	__atomic_store_n(&t->done, true, __ATOMIC_RELEASE);
	return NULL;
}

void case_suspended_start(void)
{
	struct open_opts oo = { .no_enable = true };
	struct nvme_host *h = open_ctrl(&oo);
	char line[128];
	REQUIRE(h);
	struct enable_thread t = { .h = h };
	pthread_t th;
	pthread_create(&th, NULL, enable_run, &t);
	say("ENABLING");
	sleep_ms(700);
	bool early = __atomic_load_n(&t.done, __ATOMIC_ACQUIRE);
	if (early)
		FAIL("the suspended controller became ready (enable: %s)", st_str(t.rc));
	say("NOT_READY");
	if (!wait_line(30000, line, sizeof(line)))
		FAIL("no resume line");
	pthread_join(th, NULL);
	if (!early) {
		if (t.rc)
			FAIL("enable after resume: %s", st_str(t.rc));
		else
			CHECK(write_verify(h, 1, O.nsid, 0, 8, O.seed));
	}
out:
	nvme_host_close(h);
}
