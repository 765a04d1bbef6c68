/* nvme_e2e: Queues: I/O queue management, a CQ smaller than what is in flight,
 * asynchronous event requests, Abort, Doorbell Buffer Config, many
 * commands in flight on two queues, bad doorbell writes. */
#include <pthread.h>
#include <unistd.h>

#include "nvme_e2e.h"

/* ---- queue management ------------------------------------------------------------------- */

void case_queues(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint64_t cap = 0, ring = 0;
	uint32_t nq = 0;
	void *mem = NULL;
	REQUIRE(h);
	REQUIRE_OK(nvme_host_reg_read64(h, NVME_REG_CAP, &cap));
	uint32_t mqes = NVME_CAP_MQES(cap);
	REQUIRE_OK(getf(h, NVME_FEAT_NUM_QUEUES, 0, 0, &nq));
	uint16_t nsq = (uint16_t)((nq & 0xffff) + 1), ncq = (uint16_t)((nq >> 16) + 1);
	mem = xalloc(h, 2 * 65536, 4096, &ring);
	REQUIRE(mem);
	/* free qid 1 (the driver's; a reset below brings it back) */
	REQUIRE_OK(nvme_host_delete_io_sq(h, 1));
	REQUIRE_OK(nvme_host_delete_io_cq(h, 1));
	const uint32_t ien = NVME_CQ_PC | NVME_CQ_IEN;

	/* Create I/O CQ */
	EXPECT_ST(nvme_host_create_io_cq(h, 0, 15, ring, 1, ien), 1, NVME_SC_QID_INVALID);
	EXPECT_ST(nvme_host_create_io_cq(h, (uint16_t)(ncq + 1), 15, ring, 1, ien), 1, NVME_SC_QID_INVALID);
	EXPECT_ST(nvme_host_create_io_cq(h, 0xffff, 15, ring, 1, ien), 1, NVME_SC_QID_INVALID);
	EXPECT_ST(nvme_host_create_io_cq(h, 1, 0, ring, 1, ien), 1, NVME_SC_QUEUE_SIZE);
	EXPECT_ST(nvme_host_create_io_cq(h, 1, (uint16_t)(mqes + 1), ring, 1, ien), 1, NVME_SC_QUEUE_SIZE);
	EXPECT_ST(nvme_host_create_io_cq(h, 1, 15, ring, 1, NVME_CQ_IEN), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(nvme_host_create_io_cq(h, 1, 15, ring, 2048, ien), 1, NVME_SC_INVALID_VECTOR);
	EXPECT_OK(nvme_host_create_io_cq(h, 1, (uint16_t)mqes, ring, 1, ien));	/* the largest */
	EXPECT_ST(nvme_host_create_io_cq(h, 1, 15, ring, 1, ien), 1, NVME_SC_QID_INVALID);

	/* Create I/O SQ */
	uint64_t sq = ring + 65536;
	EXPECT_ST(nvme_host_create_io_sq(h, 0, 15, sq, 1, NVME_SQ_PC), 1, NVME_SC_QID_INVALID);
	EXPECT_ST(nvme_host_create_io_sq(h, (uint16_t)(nsq + 1), 15, sq, 1, NVME_SQ_PC), 1,
		  NVME_SC_QID_INVALID);
	/* CQID 0 or past the allocated CQs: Invalid Queue Identifier (NVMe 1.4;
	 * SPDK's nvme_compliance checks both) */
	EXPECT_ST(nvme_host_create_io_sq(h, 1, 15, sq, 0, NVME_SQ_PC), 1, NVME_SC_QID_INVALID);
	if (ncq < 0xfff0)
		EXPECT_ST(nvme_host_create_io_sq(h, 1, 15, sq, (uint16_t)(ncq + 5), NVME_SQ_PC), 1,
			  NVME_SC_QID_INVALID);
	if (ncq >= 2)	/* an allowed CQ ID that was not created */
		EXPECT_ST(nvme_host_create_io_sq(h, 1, 15, sq, 2, NVME_SQ_PC), 1, NVME_SC_CQ_INVALID);
	EXPECT_ST(nvme_host_create_io_sq(h, 1, 0, sq, 1, NVME_SQ_PC), 1, NVME_SC_QUEUE_SIZE);
	EXPECT_ST(nvme_host_create_io_sq(h, 1, (uint16_t)(mqes + 1), sq, 1, NVME_SQ_PC), 1, NVME_SC_QUEUE_SIZE);
	EXPECT_ST(nvme_host_create_io_sq(h, 1, 15, sq, 1, 0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_OK(nvme_host_create_io_sq(h, 1, 15, sq, 1, NVME_SQ_PC));
	EXPECT_ST(nvme_host_create_io_sq(h, 1, 15, sq, 1, NVME_SQ_PC), 1, NVME_SC_QID_INVALID);

	/* Delete */
	EXPECT_ST(nvme_host_delete_io_cq(h, 1), 1, NVME_SC_INVALID_QUEUE_DELETION);
	EXPECT_ST(nvme_host_delete_io_sq(h, 0), 1, NVME_SC_QID_INVALID);
	EXPECT_OK(nvme_host_delete_io_sq(h, 1));
	EXPECT_ST(nvme_host_delete_io_sq(h, 1), 1, NVME_SC_QID_INVALID);
	EXPECT_ST(nvme_host_delete_io_cq(h, 0), 1, NVME_SC_QID_INVALID);
	EXPECT_OK(nvme_host_delete_io_cq(h, 1));
	EXPECT_ST(nvme_host_delete_io_cq(h, 1), 1, NVME_SC_QID_INVALID);

	/* the controller still serves: reset re-creates the driver's queues */
	REQUIRE_OK(nvme_host_reset(h));
	CHECK(write_verify(h, 1, O.nsid, 48, 8, O.seed));
out:
	if (h)
		nvme_host_free(h, mem);
	nvme_host_close(h);
}

/* ---- a CQ smaller than what is in flight ------------------------------------------------------
 * Our own SQ 1 (32 entries) and CQ 1 (4 entries) in place of the driver's:
 * 20 writes at once. The controller may post at most 3 entries (a full CQ
 * is size - 1) until we move the head; each command completes exactly once.
 * (Not with shadow doorbells: there the head lives in the driver's buffer.) */

void case_cq_backlog(void)
{
	struct open_opts oo = { .no_shadow = true };
	struct nvme_host *h = open_ctrl(&oo);
	uint8_t *data = NULL;
	struct nvme_cqe *cq = NULL;
	struct nvme_sqe *sq = NULL;
	uint64_t cq_iova = 0, sq_iova = 0, data_iova = 0;
	enum { N = 20, CQS = 4, SQS = 32, NLB = 8 };
	const uint64_t base = 97000;
	REQUIRE(h);
	cq = xalloc(h, 4096, 4096, &cq_iova);
	sq = xalloc(h, 4096, 4096, &sq_iova);
	data = xalloc(h, (size_t)N * 4096, 4096, &data_iova);
	REQUIRE(cq && sq && data);
	memset(cq, 0, 4096);
	REQUIRE_OK(nvme_host_delete_io_sq(h, 1));
	REQUIRE_OK(nvme_host_delete_io_cq(h, 1));
	REQUIRE_OK(nvme_host_create_io_cq(h, 1, CQS - 1, cq_iova, 1, NVME_CQ_PC | NVME_CQ_IEN));
	REQUIRE_OK(nvme_host_create_io_sq(h, 1, SQS - 1, sq_iova, 1, NVME_SQ_PC));
	pattern_fill(data, base, N * NLB, bs(), O.seed + 3);
	for (int i = 0; i < N; i++) {
		sq[i] = rw_sqe(NVME_CMD_WRITE, O.nsid, base + (uint64_t)i * NLB, NLB);
		sq[i].cid = (uint16_t)(100 + i);
		sq[i].dptr.prp1 = data_iova + 4096ull * i;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	REQUIRE_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 8, N));
	int seen[N] = { 0 }, got = 0, rounds = 0;
	unsigned head = 0, phase = 1, most = 0;
	int64_t end = now_ms() + EVENT_DEADLINE_MS;
	while (got < N && now_ms() < end) {
		sleep_ms(20);	/* let the controller post all it can */
		unsigned avail = 0, k = head, ph = phase;
		while (avail < CQS && (((volatile struct nvme_cqe *)&cq[k])->status & 1) == ph) {
			avail++;
			if (++k == CQS) {
				k = 0;
				ph ^= 1;
			}
		}
		if (avail > most)
			most = avail;
		if (avail > CQS - 1)
			FAIL("round %d: %u entries with the current phase in a %d-entry CQ (overflow)", rounds, avail, CQS);
		for (unsigned j = 0; j < avail; j++) {
			struct nvme_cqe c;
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			memcpy(&c, &cq[head], sizeof(c));
			int i = (int)c.cid - 100;
			if (i < 0 || i >= N)
				FAIL("CQE with CID %u", c.cid);
			else if (seen[i]++)
				FAIL("command %d completed twice", i);
			else
				got++;
			if ((c.status >> 1) & 0x7ff)
				FAIL("command %d: status 0x%x", i, c.status >> 1);
			CHECK_EQ(c.sqid, 1);
			CHECK(c.sqhd < SQS);
			if (++head == CQS) {
				head = 0;
				phase ^= 1;
			}
		}
		if (avail)
			REQUIRE_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 12, head));
		rounds++;
	}
	diag("%d of %d completions in %d rounds, at most %u waiting at once", got, N, rounds, most);
	CHECK_EQ(got, N);
	sleep_ms(50);
	if ((((volatile struct nvme_cqe *)&cq[head])->status & 1) == phase)
		FAIL("an extra completion after all %d", N);
	EXPECT_OK(nvme_host_delete_io_sq(h, 1));
	EXPECT_OK(nvme_host_delete_io_cq(h, 1));
	REQUIRE_OK(nvme_host_reset(h));
	CHECK(read_check(h, 1, O.nsid, base, N * NLB, O.seed + 3));
out:
	if (h) {
		nvme_host_free(h, cq);
		nvme_host_free(h, sq);
		nvme_host_free(h, data);
	}
	nvme_host_close(h);
}

/* ---- asynchronous events, abort ---------------------------------------------------------- */

void case_aer_limit(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	struct nvme_host_cmd aer[18];
	REQUIRE(h);
	unsigned n = nvme_host_id_ctrl(h)->aerl + 1u;	/* AERL is 0-based */
	diag("AERL+1 = %u", n);
	REQUIRE(n + 1 <= 18);
	memset(aer, 0, sizeof(aer));
	for (unsigned i = 0; i < n; i++) {
		aer[i].sqe.opc = NVME_ADM_ASYNC_EVENT;
		REQUIRE_OK(nvme_host_submit(h, 0, &aer[i]));
	}
	sleep_ms(200);
	nvme_host_poll(h, 0, 0);
	for (unsigned i = 0; i < n; i++)
		if (aer[i].completed)
			FAIL("AER %u of %u completed (%s) with no event", i + 1, n, st_str(aer[i].result));
	aer[n].sqe.opc = NVME_ADM_ASYNC_EVENT;
	REQUIRE_OK(nvme_host_submit(h, 0, &aer[n]));
	if (poll_until(h, 0, &aer[n], 3000))
		FAIL("AER number %u (one above AERL+1) did not complete", n + 1);
	else
		EXPECT_ST(aer[n].result, 1, NVME_SC_AER_LIMIT);
	for (unsigned i = 0; i < n; i++)
		CHECK(!aer[i].completed);
	/* the admin queue still works with the AERs held */
	uint32_t dw0;
	EXPECT_OK(getf(h, NVME_FEAT_NUM_QUEUES, 0, 0, &dw0));
out:
	nvme_host_close(h);
}

void case_abort(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	struct nvme_host_cmd aer;
	uint32_t dw0 = 0;
	REQUIRE(h);
	memset(&aer, 0, sizeof(aer));
	aer.sqe.opc = NVME_ADM_ASYNC_EVENT;
	REQUIRE_OK(nvme_host_submit(h, 0, &aer));
	sleep_ms(50);
	nvme_host_poll(h, 0, 0);
	CHECK(!aer.completed);
	EXPECT_OK(nvme_host_abort(h, 0, aer.sqe.cid, &dw0));
	CHECK_EQ(dw0 & 1, 0);		/* aborted */
	if (poll_until(h, 0, &aer, 2000))
		FAIL("the aborted AER did not complete");
	else
		EXPECT_ST(aer.result, 0, NVME_SC_ABORT_REQ);
	/* a command that is not outstanding: not aborted */
	dw0 = 0;
	EXPECT_OK(nvme_host_abort(h, 1, 0x6543, &dw0));
	CHECK_EQ(dw0 & 1, 1);
	dw0 = 0;
	EXPECT_OK(nvme_host_abort(h, 0, aer.sqe.cid, &dw0));
	CHECK_EQ(dw0 & 1, 1);
	CHECK(write_verify(h, 1, O.nsid, 56, 8, O.seed));
out:
	nvme_host_close(h);
}

/* ---- Doorbell Buffer Config -------------------------------------------------------------- */

void case_dbbuf(void)
{
	struct open_opts oo = { .shadow = O.mode != MODE_MMAP, .queues = 2 };
	struct nvme_host *h = open_ctrl(&oo);
	uint8_t *buf = NULL, *burst = NULL;
	REQUIRE(h);
	const struct nvme_id_ctrl *id = nvme_host_id_ctrl(h);
	struct nvme_sqe s = { .opc = NVME_ADM_DBBUF_CONFIG };
	uint64_t page = 0;
	buf = xalloc(h, 2 * 4096, 4096, &page);
	REQUIRE(buf);
	if (O.mode == MODE_MMAP || !(id->oacs & NVME_OACS_DBBUF)) {
		CHECK(O.mode == MODE_MMAP);
		s.dptr.prp1 = page;
		s.dptr.prp2 = page + 4096;
		EXPECT_ST(raw(h, 0, &s, NULL), 0, NVME_SC_INVALID_OPCODE);
		CHECK(write_verify(h, 1, O.nsid, 64, 8, O.seed));
		goto out;
	}
	REQUIRE(nvme_host_shadow_doorbells(h));
	/* bad buffers are refused and change nothing */
	s.dptr.prp1 = page + 0x40;
	s.dptr.prp2 = page + 4096;
	EXPECT_ST(raw(h, 0, &s, NULL), 0, NVME_SC_INVALID_FIELD);
	s.dptr.prp1 = 0;
	EXPECT_ST(raw(h, 0, &s, NULL), 0, NVME_SC_INVALID_FIELD);
	s.dptr.prp1 = page;
	s.dptr.prp2 = page + 4096 + 8;
	EXPECT_ST(raw(h, 0, &s, NULL), 0, NVME_SC_INVALID_FIELD);
	/* data I/O on every queue with the shadow doorbells */
	for (uint16_t q = 1; q <= nvme_host_nr_io_queues(h); q++)
		for (int i = 0; i < 20; i++)
			CHECK(write_verify(h, q, O.nsid, 64 + (uint64_t)(q * 20 + i) * 8, 8, O.seed + q));
	struct nvme_host_qstats st;
	if (nvme_host_queue_stats(h, 1, &st) == 0) {
		diag("queue 1: %llu doorbells, %llu skipped", (unsigned long long)st.doorbells,
		     (unsigned long long)st.doorbells_skipped);
		CHECK_EQ(st.bad_cqes, 0);
	}
	/* A burst of 16 reads submitted back to back, none waited for: the
	 * controller updates EventIdx only once it has been idle for its idle
	 * stretch (1 ms) and goes to sleep, so while it fetches the burst the
	 * host's later tails do not cross EventIdx and only the shadow
	 * doorbell moves: doorbell writes are skipped. (For none to be, the
	 * controller would have to fetch, finish and idle 1 ms between every
	 * two submissions of a tight loop.) */
	struct nvme_host_qstats before, after;
	REQUIRE_OK(nvme_host_queue_stats(h, 1, &before));
	burst = xalloc(h, 16 * 4096, 4096, NULL);
	REQUIRE(burst);
	struct nvme_host_cmd bc[16];
	uint32_t nlb = 4096 / bs();
	for (int i = 0; i < 16; i++) {
		REQUIRE_OK(nvme_host_cmd_rw(h, &bc[i], NVME_CMD_READ, O.nsid, 64 + (uint64_t)i * nlb, nlb,
					    burst + i * 4096, 0));
		REQUIRE_OK(nvme_host_submit(h, 1, &bc[i]));
	}
	for (int i = 0; i < 16; i++) {
		REQUIRE_OK(poll_until(h, 1, &bc[i], 30000));
		CHECK_EQ(bc[i].result, 0);
	}
	REQUIRE_OK(nvme_host_queue_stats(h, 1, &after));
	diag("burst of 16: %llu doorbells, %llu skipped",
	     (unsigned long long)(after.doorbells - before.doorbells),
	     (unsigned long long)(after.doorbells_skipped - before.doorbells_skipped));
	CHECK(after.doorbells_skipped > before.doorbells_skipped);
out:
	if (h) {
		nvme_host_free(h, buf);
		nvme_host_free(h, burst);
	}
	nvme_host_close(h);
}

/* ---- many commands in flight on 2 queues -------------------------------------------------- */

struct qthread {
	struct nvme_host *h;
	uint16_t qid;
	uint64_t base;
	int rounds;
	int failures;
	uint64_t completions;
};

static void *qthread_run(void *arg)
{
	struct qthread *t = arg;
	enum { N = 32, NLB = 8 };
	struct nvme_host_cmd cmds[N];
	int counts[N];
	uint8_t *buf = nvme_host_alloc(t->h, (size_t)N * NLB * 512 * 8, 4096, NULL);
	if (!buf) {
		t->failures++;
		return NULL;
	}
	for (int r = 0; r < t->rounds; r++) {
		for (int pass = 0; pass < 2; pass++) {
			uint8_t opc = pass == 0 ? NVME_CMD_WRITE : NVME_CMD_READ;
			uint32_t seed = O.seed + (uint32_t)r * 7 + t->qid;
			if (opc == NVME_CMD_WRITE)
				pattern_fill(buf, t->base, N * NLB, bs(), seed);
			else
				memset(buf, 0, (size_t)N * NLB * bs());
			for (int i = 0; i < N; i++) {
				counts[i] = 0;
				nvme_host_cmd_rw(t->h, &cmds[i], opc, O.nsid, t->base + (uint64_t)i * NLB, NLB,
						 buf + (size_t)i * NLB * bs(), 0);
				cmds[i].done = count_done;
				cmds[i].arg = &counts[i];
				int rc = nvme_host_submit(t->h, t->qid, &cmds[i]);
				if (rc) {
					FAIL("queue %u: submit %d of %d: %s", t->qid, i, N, st_str(rc));
					t->failures++;
					return NULL;
				}
			}
			int64_t end = now_ms() + EVENT_DEADLINE_MS;
			int done = 0;
			while (done < N && now_ms() < end) {
				int n = nvme_host_poll(t->h, t->qid, 0);
				if (n < 0) {
					FAIL("queue %u: poll: %s", t->qid, st_str(n));
					t->failures++;
					break;
				}
				done = 0;
				for (int i = 0; i < N; i++)
					done += cmds[i].completed;
				if (!n)
					usleep(50);
			}
			for (int i = 0; i < N; i++) {
				if (counts[i] != 1 || !cmds[i].completed) {
					FAIL("queue %u round %d: command %d completed %d times", t->qid, r, i, counts[i]);
					t->failures++;
				} else if (cmds[i].result) {
					FAIL("queue %u: command %d: %s", t->qid, i, st_str(cmds[i].result));
					t->failures++;
				}
			}
			t->completions += (uint64_t)done;
			if (opc == NVME_CMD_READ && pattern_check(buf, t->base, N * NLB, bs(), seed) >= 0) {
				FAIL("queue %u round %d: data read back differs", t->qid, r);
				t->failures++;
			}
		}
	}
	nvme_host_free(t->h, buf);
	return NULL;
}

void case_inflight2(void)
{
	struct open_opts oo = { .queues = 2, .depth = 64 };
	struct nvme_host *h = open_ctrl(&oo);
	REQUIRE(h);
	REQUIRE(nvme_host_nr_io_queues(h) >= 2);
	REQUIRE(nvme_host_io_depth(h) >= 33);
	struct qthread t[2];
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		t[i] = (struct qthread){ .h = h, .qid = (uint16_t)(i + 1), .base = 60000 + (uint64_t)i * 4096,
					 .rounds = 20 };
		pthread_create(&th[i], NULL, qthread_run, &t[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++) {
		struct nvme_host_qstats st;
		REQUIRE_OK(nvme_host_queue_stats(h, (uint16_t)(i + 1), &st));
		diag("queue %d: submitted %llu completed %llu irqs %llu bad %llu", i + 1,
		     (unsigned long long)st.submitted, (unsigned long long)st.completed,
		     (unsigned long long)st.irqs, (unsigned long long)st.bad_cqes);
		CHECK_EQ(st.bad_cqes, 0);
		CHECK_EQ(st.submitted, st.completed);
		CHECK_EQ(st.completed, 2 * 32 * 20);
		CHECK_EQ(t[i].failures, 0);
	}
out:
	nvme_host_close(h);
}

/* ---- bad doorbell writes ------------------------------------------------------------------------
 * NVMe 1.4 4.1: an invalid value written to an SQ Tail / CQ Head doorbell,
 * with an Asynchronous Event Request outstanding, is reported as an error
 * event "Invalid Doorbell Write Value" (type 0, info 01h, log page 01h);
 * the doorbell of a queue that was not created: "Write to Invalid Doorbell
 * Register" (info 00h). Once reported, error events are masked until the
 * Error Information log page is read (5.2). Whatever is written, the
 * service survives and a controller reset gives a working controller. */

static void expect_db_event(struct nvme_host *h, uint8_t info, const char *what)
{
	struct nvme_cqe c;
	int st = nvme_host_aer_poll(h, 2000, &c);
	if (st) {
		FAIL("%s: no asynchronous event (%s)", what, st_str(st));
		return;
	}
	diag("%s: event dw0 0x%08x", what, c.dw0);
	if (NVME_AER_TYPE(c.dw0) != 0 || NVME_AER_INFO(c.dw0) != info || NVME_AER_LOG(c.dw0) != NVME_LOG_ERROR)
		FAIL("%s: event dw0 0x%08x, want type 0 (error), info 0x%02x, log page 01h", what, c.dw0, info);
}

static void clear_error_event(struct nvme_host *h)
{
	uint8_t log[64];
	EXPECT_OK(nvme_host_get_log_page(h, NVME_LOG_ERROR, 0, 0, false, log, sizeof(log)));
}

void case_bad_doorbells(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t csts = 0;
	REQUIRE(h);
	CHECK(write_verify(h, 1, O.nsid, 96000, 8, O.seed));
	uint32_t depth = nvme_host_io_depth(h);

	/* a value beyond the SQ: Invalid Doorbell Write Value */
	REQUIRE_OK(nvme_host_aer_submit(h));
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 8 * 1, 0xffff));
	expect_db_event(h, 0x01, "SQ 1 tail 0xffff");
	/* masked until the log page is read: a second bad write reports nothing */
	REQUIRE_OK(nvme_host_aer_submit(h));
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 8 * 1 + 4, depth));
	struct nvme_cqe c;
	int st = nvme_host_aer_poll(h, 300, &c);
	if (st != -ETIMEDOUT)
		FAIL("an error event while error events are masked (%s, dw0 0x%x)", st_str(st), c.dw0);
	clear_error_event(h);
	/* the outstanding AER reports the next one */
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 8 * 1 + 4, 0xfffffff0u));
	expect_db_event(h, 0x01, "CQ 1 head 0xfffffff0");
	clear_error_event(h);
	REQUIRE_OK(nvme_host_aer_submit(h));
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 4, 0x10000));
	expect_db_event(h, 0x01, "admin CQ head 0x10000");
	clear_error_event(h);
	/* queues that do not exist */
	REQUIRE_OK(nvme_host_aer_submit(h));
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 8 * 10, 5));
	expect_db_event(h, 0x00, "SQ 10 tail");
	clear_error_event(h);
	REQUIRE_OK(nvme_host_aer_submit(h));
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 4092, 1));
	expect_db_event(h, 0x00, "CQ 511 head");
	clear_error_event(h);
	/* more of them, events or not: the controller survives */
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 8 * 10 + 4, 5));
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 8 * 300, 0xffffffffu));
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS + 8 * 1, depth));
	EXPECT_OK(nvme_host_reg_write32(h, NVME_REG_DBS, 0xffff));
	sleep_ms(50);
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	diag("CSTS after the bad doorbells: 0x%x", csts);
	/* a controller reset gives a working controller */
	REQUIRE_OK(nvme_host_reset(h));
	CHECK(read_check(h, 1, O.nsid, 96000, 8, O.seed));
	CHECK(write_verify(h, 1, O.nsid, 96008, 8, O.seed + 1));
	uint32_t dw0;
	EXPECT_OK(getf(h, NVME_FEAT_NUM_QUEUES, 0, 0, &dw0));
out:
	nvme_host_close(h);
}
