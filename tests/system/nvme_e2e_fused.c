/* nvme_e2e: Compare, fused Compare and Write, and two queues racing fused
 * Compare and Writes on the same blocks. */
#include <pthread.h>

#include "nvme_e2e.h"

/* ---- Compare, fused Compare and Write ------------------------------------------------------- */

/* Compare: match, mismatch (Compare Failure, SCT 2 SC 85h). */
void case_compare(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *b = NULL;
	REQUIRE(h);
	b = xalloc(h, 16 * bs(), 4096, NULL);
	REQUIRE(b);
	CHECK(write_verify(h, 1, O.nsid, 500, 16, O.seed));
	pattern_fill(b, 500, 16, bs(), O.seed);
	if (!(nvme_host_id_ctrl(h)->oncs & NVME_ONCS_COMPARE)) {
		EXPECT_ST(io(h, 1, NVME_CMD_COMPARE, O.nsid, 500, 16, b, 0), 0, NVME_SC_INVALID_OPCODE);
		goto out;
	}
	EXPECT_OK(io(h, 1, NVME_CMD_COMPARE, O.nsid, 500, 16, b, 0));
	EXPECT_OK(io(h, 1, NVME_CMD_COMPARE, O.nsid, 500, 16, b, NVME_HOST_F_SGL));
	b[15 * bs() + 100] ^= 1;
	EXPECT_ST(io(h, 1, NVME_CMD_COMPARE, O.nsid, 500, 16, b, 0), 2, NVME_SC_CMP_FAILED);
	EXPECT_ST(io(h, 1, NVME_CMD_COMPARE, O.nsid, O.nsze, 1, b, 0), 0, NVME_SC_LBA_RANGE);
	CHECK(read_check(h, 1, O.nsid, 500, 16, O.seed));
out:
	if (h)
		nvme_host_free(h, b);
	nvme_host_close(h);
}

/* Waits for what must come: generous on a loaded 2-core machine (ASan),
 * where a fused pair behind a range lock can take a while. */
#define FUSED_WAIT_MS 30000

/* Fused Compare and Write (FUSES bit 0) on queue qid. */
static int fused_cw_q(struct nvme_host *h, uint16_t qid, uint64_t lba, uint32_t nlb, void *cmp, void *wr,
		      int *st_c, int *st_w)
{
	struct nvme_host_cmd c, w;
	int rc = nvme_host_cmd_rw(h, &c, NVME_CMD_COMPARE, O.nsid, lba, nlb, cmp, 0);
	if (!rc)
		rc = nvme_host_cmd_rw(h, &w, NVME_CMD_WRITE, O.nsid, lba, nlb, wr, 0);
	if (rc)
		return rc;
	c.sqe.flags |= 1;	/* first */
	w.sqe.flags |= 2;	/* second */
	rc = nvme_host_submit(h, qid, &c);
	if (!rc)
		rc = nvme_host_submit(h, qid, &w);
	if (rc)
		return rc;
	*st_c = nvme_host_wait(h, qid, &c, FUSED_WAIT_MS);
	*st_w = nvme_host_wait(h, qid, &w, FUSED_WAIT_MS);
	return 0;
}

static int fused_cw(struct nvme_host *h, uint64_t lba, uint32_t nlb, void *cmp, void *wr, int *st_c, int *st_w)
{
	return fused_cw_q(h, 1, lba, nlb, cmp, wr, st_c, st_w);
}

void case_fused(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *cmp = NULL, *wr = NULL;
	int sc = -1, sw = -1;
	REQUIRE(h);
	const uint32_t n = 8;
	cmp = xalloc(h, n * bs(), 4096, NULL);
	wr = xalloc(h, n * bs(), 4096, NULL);
	REQUIRE(cmp && wr);
	bool cw = nvme_host_id_ctrl(h)->fuses & 1;
	if (O.compare_write >= 0)
		CHECK_EQ(cw, O.compare_write);
	CHECK(write_verify(h, 1, O.nsid, 600, n, O.seed));
	pattern_fill(cmp, 600, n, bs(), O.seed);
	pattern_fill(wr, 600, n, bs(), O.seed + 1);
	if (!cw) {
		REQUIRE_OK(fused_cw(h, 600, n, cmp, wr, &sc, &sw));
		EXPECT_ST(sc, 0, NVME_SC_INVALID_FIELD);
		CHECK(sw != 0);
		CHECK(read_check(h, 1, O.nsid, 600, n, O.seed));
		goto out;
	}
	/* match: the write happens */
	REQUIRE_OK(fused_cw(h, 600, n, cmp, wr, &sc, &sw));
	EXPECT_OK(sc);
	EXPECT_OK(sw);
	CHECK(read_check(h, 1, O.nsid, 600, n, O.seed + 1));
	/* mismatch: Compare Failure + Command Aborted due to Failed Fused Command,
	 * the data stays */
	pattern_fill(wr, 600, n, bs(), O.seed + 2);
	REQUIRE_OK(fused_cw(h, 600, n, cmp, wr, &sc, &sw));	/* cmp holds seed, disk seed+1 */
	EXPECT_ST(sc, 2, NVME_SC_CMP_FAILED);
	EXPECT_ST(sw, 0, 0x09);
	CHECK(read_check(h, 1, O.nsid, 600, n, O.seed + 1));
	/* a lone second half: Command Aborted due to Missing Fused Command */
	struct nvme_host_cmd w;
	REQUIRE_OK(nvme_host_cmd_rw(h, &w, NVME_CMD_WRITE, O.nsid, 600, n, wr, 0));
	w.sqe.flags |= 2;
	REQUIRE_OK(nvme_host_submit(h, 1, &w));
	EXPECT_ST(nvme_host_wait(h, 1, &w, FUSED_WAIT_MS), 0, 0x0a);
	CHECK(read_check(h, 1, O.nsid, 600, n, O.seed + 1));
	/* a second half that fails (broadcast NSID) fails its first half */
	struct nvme_host_cmd c;
	REQUIRE_OK(nvme_host_cmd_rw(h, &c, NVME_CMD_COMPARE, O.nsid, 600, n, cmp, 0));
	REQUIRE_OK(nvme_host_cmd_rw(h, &w, NVME_CMD_WRITE, NVME_NSID_ALL, 600, n, wr, 0));
	c.sqe.flags |= 1;
	w.sqe.flags |= 2;
	REQUIRE_OK(nvme_host_submit(h, 1, &c));
	REQUIRE_OK(nvme_host_submit(h, 1, &w));
	EXPECT_ST(nvme_host_wait(h, 1, &c, FUSED_WAIT_MS), 0, 0x09);
	EXPECT_ST(nvme_host_wait(h, 1, &w, FUSED_WAIT_MS), 0, NVME_SC_INVALID_NS);
	CHECK(read_check(h, 1, O.nsid, 600, n, O.seed + 1));
	/* a first half left waiting for its partner does not hold up deleting
	 * its queue: it completes as Command Aborted due to SQ Deletion. It
	 * must have been fetched before the Delete arrives (a command the
	 * controller never fetched is aborted implicitly, without a
	 * completion): a Flush goes in front of it under the same doorbell, so
	 * both are fetched in one go, and the Flush's completion shows it. */
	{
		struct nvme_host_cmd fl;
		REQUIRE_OK(nvme_host_cmd_rw(h, &fl, NVME_CMD_FLUSH, O.nsid, 0, 0, NULL, 0));
		fl.flags |= NVME_HOST_F_NO_DB;
		REQUIRE_OK(nvme_host_cmd_rw(h, &c, NVME_CMD_COMPARE, O.nsid, 600, n, cmp, 0));
		c.sqe.flags |= 1;
		REQUIRE_OK(nvme_host_submit(h, 1, &fl));
		REQUIRE_OK(nvme_host_submit(h, 1, &c));
		EXPECT_OK(nvme_host_wait(h, 1, &fl, FUSED_WAIT_MS));
		REQUIRE(!c.completed);
	}
	EXPECT_OK(nvme_host_delete_io_sq(h, 1));
	EXPECT_ST(nvme_host_wait(h, 1, &c, FUSED_WAIT_MS), 0, NVME_SC_ABORT_SQ_DELETED);
	EXPECT_OK(nvme_host_delete_io_cq(h, 1));
	/* nor a controller reset */
	REQUIRE_OK(nvme_host_reset(h));
	REQUIRE_OK(nvme_host_cmd_rw(h, &c, NVME_CMD_COMPARE, O.nsid, 600, n, cmp, 0));
	c.sqe.flags |= 1;
	REQUIRE_OK(nvme_host_submit(h, 1, &c));
	REQUIRE_OK(nvme_host_reset(h));
	CHECK(read_check(h, 1, O.nsid, 600, n, O.seed + 1));
out:
	if (h) {
		nvme_host_free(h, cmp);
		nvme_host_free(h, wr);
	}
	nvme_host_close(h);
}

/* fused_race: a counter held in FR_NLB blocks (every 8-byte word of
 * block k is v * 0x9e3779b97f4a7c15 + k * 512 + word: the whole range is
 * one value or torn). */
enum { FR_NLB = 8, FR_OPS = 150 };
#define FR_LBA 90000ull

static void fr_fill(uint8_t *buf, uint64_t v)
{
	for (uint32_t k = 0; k < FR_NLB; k++)
		for (uint32_t i = 0; i < bs() / 8; i++) {
			uint64_t x = v * 0x9e3779b97f4a7c15ull + (uint64_t)k * 512 + i;
			memcpy(buf + (size_t)k * bs() + (size_t)i * 8, &x, 8);
		}
}

/* The counter the range holds, or -1 when torn. */
static int64_t fr_value(const uint8_t *buf, uint8_t *scratch)
{
	uint64_t x;
	memcpy(&x, buf, 8);
	/* v * C = x (mod 2^64), C odd: v = x * C^-1 */
	uint64_t inv = 0x9e3779b97f4a7c15ull;
	for (int i = 0; i < 6; i++)	/* Newton: inverse of an odd number mod 2^64 */
		inv *= 2 - 0x9e3779b97f4a7c15ull * inv;
	uint64_t v = x * inv;
	fr_fill(scratch, v);
	return memcmp(buf, scratch, (size_t)FR_NLB * bs()) ? -1 : (int64_t)v;
}

struct fr_thread {
	struct nvme_host *h;
	uint16_t qid;
	int wins, misses, torn_reads, errors;
};

/* Increment the counter FR_OPS times: read it, then Compare (the value
 * read) fused with Write (the value + 1); a miscompare means another
 * queue got there first: read again. */
static void *fr_run(void *arg)
{
	struct fr_thread *t = arg;
	uint8_t *rd = nvme_host_alloc(t->h, (size_t)FR_NLB * bs(), 4096, NULL);
	uint8_t *cmp = nvme_host_alloc(t->h, (size_t)FR_NLB * bs(), 4096, NULL);
	uint8_t *wr = nvme_host_alloc(t->h, (size_t)FR_NLB * bs(), 4096, NULL);
	uint8_t *scratch = malloc((size_t)FR_NLB * bs());
	int64_t end = now_ms() + 120000;
	if (!rd || !cmp || !wr || !scratch) {
		t->errors++;
		goto out;
	}
	while (t->wins < FR_OPS && now_ms() < end && t->errors < 5) {
		int st = nvme_host_rw(t->h, t->qid, NVME_CMD_READ, O.nsid, FR_LBA, FR_NLB, rd, 0);
		if (st) {
			FAIL("queue %u: read: %s", t->qid, st_str(st));
			t->errors++;
			continue;
		}
		int64_t v = fr_value(rd, scratch);
		if (v < 0) {
			t->torn_reads++;	/* a read racing a write: allowed (AWUN 0) */
			continue;
		}
		memcpy(cmp, rd, (size_t)FR_NLB * bs());
		fr_fill(wr, (uint64_t)v + 1);
		int sc = -1, sw = -1;
		int rc = fused_cw_q(t->h, t->qid, FR_LBA, FR_NLB, cmp, wr, &sc, &sw);
		if (rc) {
			FAIL("queue %u: fused submit: %s", t->qid, st_str(rc));
			t->errors++;
		} else if (sc == 0 && sw == 0) {
			t->wins++;
		} else if (NVME_STATUS_SCT(sc) == 2 && NVME_STATUS_SC(sc) == NVME_SC_CMP_FAILED &&
			   NVME_STATUS_SCT(sw) == 0 && NVME_STATUS_SC(sw) == 0x09) {
			t->misses++;
		} else {
			FAIL("queue %u: fused pair: compare %s, write %s", t->qid, st_str(sc), st_str(sw));
			t->errors++;
		}
	}
out:
	nvme_host_free(t->h, rd);
	nvme_host_free(t->h, cmp);
	nvme_host_free(t->h, wr);
	free(scratch);
	return NULL;
}

/* FR_BURST fused pairs under one doorbell on queue qid (fetched in one
 * go), each comparing the value v and writing its own value v + 1 + i:
 * executed one after the other (atomically), exactly one compare matches.
 * Returns how many pairs succeeded (*won: the index of the last one), or
 * -1 on an unexpected status. */
enum { FR_BURST = 8 };

static int fr_burst(struct nvme_host *h, uint16_t qid, uint64_t v, uint8_t *bufs, int *won)
{
	struct nvme_host_cmd c[FR_BURST], w[FR_BURST];
	size_t len = (size_t)FR_NLB * bs();
	int wins = 0;
	fr_fill(bufs, v);
	for (int i = 0; i < FR_BURST; i++) {
		uint8_t *wr = bufs + (size_t)(i + 1) * len;
		fr_fill(wr, v + 1 + (uint64_t)i);
		if (nvme_host_cmd_rw(h, &c[i], NVME_CMD_COMPARE, O.nsid, FR_LBA, FR_NLB, bufs, 0) ||
		    nvme_host_cmd_rw(h, &w[i], NVME_CMD_WRITE, O.nsid, FR_LBA, FR_NLB, wr, 0))
			return -1;
		c[i].sqe.flags |= 1;
		w[i].sqe.flags |= 2;
		c[i].flags |= NVME_HOST_F_NO_DB;
		if (i < FR_BURST - 1)
			w[i].flags |= NVME_HOST_F_NO_DB;
		if (nvme_host_submit(h, qid, &c[i]) || nvme_host_submit(h, qid, &w[i]))
			return -1;
	}
	for (int i = 0; i < FR_BURST; i++) {
		int sc = nvme_host_wait(h, qid, &c[i], FUSED_WAIT_MS);
		int sw = nvme_host_wait(h, qid, &w[i], FUSED_WAIT_MS);
		if (sc == 0 && sw == 0) {
			wins++;
			*won = i;
		} else if (!(NVME_STATUS_SCT(sc) == 2 && NVME_STATUS_SC(sc) == NVME_SC_CMP_FAILED &&
			     NVME_STATUS_SCT(sw) == 0 && NVME_STATUS_SC(sw) == 0x09)) {
			FAIL("burst pair %d: compare %s, write %s", i, st_str(sc), st_str(sw));
			return -1;
		}
	}
	return wins;
}

/* Fused Compare and Write is atomic against other commands (FUSES bit 0,
 * ACWU 0). (1) FR_BURST pairs comparing the same value, fetched together
 * on one queue: exactly one succeeds and the range holds its data (run as
 * two I/Os each without a range lock, every compare matches and the last
 * write wins). (2) Two queues (on two reactors) increment one counter with
 * fused pairs, as a CAS: no increment is lost (the counter ends at the sum
 * of the successful pairs) and the range is never left torn. */
void case_fused_race(void)
{
	struct open_opts oo = { .queues = 2, .depth = 64 };
	struct nvme_host *h = open_ctrl(&oo);
	uint8_t *b = NULL, *scratch = NULL;
	REQUIRE(h);
	REQUIRE(nvme_host_nr_io_queues(h) >= 2);
	if (!(nvme_host_id_ctrl(h)->fuses & 1)) {
		diag("Compare and Write not supported: nothing to race");
		goto out;
	}
	b = xalloc(h, (size_t)(FR_BURST + 1) * FR_NLB * bs(), 4096, NULL);
	scratch = malloc((size_t)FR_NLB * bs());
	REQUIRE(b && scratch);
	for (int round = 0; round < 4; round++) {
		uint64_t v = 1000 + (uint64_t)round * 100;
		fr_fill(b, v);
		REQUIRE_OK(nvme_host_rw(h, 1, NVME_CMD_WRITE, O.nsid, FR_LBA, FR_NLB, b, 0));
		int won = -1;
		int wins = fr_burst(h, (uint16_t)(1 + round % 2), v, b, &won);
		memset(b, 0, (size_t)FR_NLB * bs());
		REQUIRE_OK(nvme_host_rw(h, 1, NVME_CMD_READ, O.nsid, FR_LBA, FR_NLB, b, 0));
		int64_t now = fr_value(b, scratch);
		diag("burst %d: %d of %d pairs comparing %llu succeeded, the range holds %lld", round, wins,
		     FR_BURST, (unsigned long long)v, (long long)now);
		CHECK_EQ(wins, 1);
		if (wins == 1)
			CHECK_EQ(now, (int64_t)v + 1 + won);
	}
	fr_fill(b, 0);
	EXPECT_OK(nvme_host_rw(h, 1, NVME_CMD_WRITE, O.nsid, FR_LBA, FR_NLB, b, 0));
	struct fr_thread t[2];
	pthread_t th[2];
	for (int i = 0; i < 2; i++) {
		t[i] = (struct fr_thread){ .h = h, .qid = (uint16_t)(i + 1) };
		pthread_create(&th[i], NULL, fr_run, &t[i]);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < 2; i++)
		diag("queue %d: %d increments, %d miscompares, %d torn reads, %d errors", i + 1, t[i].wins,
		     t[i].misses, t[i].torn_reads, t[i].errors);
	memset(b, 0, (size_t)FR_NLB * bs());
	EXPECT_OK(nvme_host_rw(h, 1, NVME_CMD_READ, O.nsid, FR_LBA, FR_NLB, b, 0));
	int64_t v = fr_value(b, scratch);
	diag("counter %lld", (long long)v);
	CHECK_EQ(t[0].errors + t[1].errors, 0);
	CHECK_EQ(t[0].wins, FR_OPS);
	CHECK_EQ(t[1].wins, FR_OPS);
	CHECK_EQ(v, t[0].wins + t[1].wins);
out:
	if (h)
		nvme_host_free(h, b);
	free(scratch);
	nvme_host_close(h);
}
