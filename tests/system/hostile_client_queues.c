/* hostile_client: plain I/O on a fresh client, and a completion queue the
 * client never drains (class 6). */
#include "hostile_client.h"

/* A fresh client on the function: data written and read back, CSTS fine. */
void case_io(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_AUTO, true);
	REQUIRE(h);
	for (int i = 0; i < 4; i++)
		CHECK(write_verify(h, 1000 + (uint64_t)i * 64, 64, O.seed + (uint32_t)i));
	check_csts_ok(h, "after I/O");
	diag("RESULT io=ok");
out:
	nvme_host_close(h);
}

/* ---- class 6: a full completion queue ------------------------------------------------------
 *
 * I/O queue 1 recreated with a 4-entry CQ (room for 3) and a 32-entry SQ;
 * 20 writes submitted in one doorbell; we never advance the CQ head. Once
 * the CQ shows 3 entries, "# READY full", then --then:
 *   delete_sq  Delete I/O SQ 1: must complete (success) promptly;
 *   reset      CC.EN = 0: CSTS.RDY must clear promptly;
 *   hold       wait for a line on stdin (the Python side disconnects us,
 *              destroys the controller or stops osnapd meanwhile).
 * Afterwards (delete_sq, reset) every write took effect. */
enum { FQ_N = 20, FQ_CQS = 4, FQ_SQS = 32, FQ_NLB = 8 };
static const uint64_t FQ_BASE = 6000;

static bool fill_cq(struct nvme_host *h, struct nvme_cqe **cqp)
{
	uint64_t cq_iova = 0, sq_iova = 0, data_iova = 0;
	struct nvme_cqe *cq = nvme_host_alloc(h, 4096, 4096, &cq_iova);
	struct nvme_sqe *sq = nvme_host_alloc(h, 4096, 4096, &sq_iova);
	uint8_t *data = nvme_host_alloc(h, (size_t)FQ_N * 4096, 4096, &data_iova);
	if (!cq || !sq || !data) {
		FAIL("arena exhausted");
		return false;
	}
	memset(cq, 0, 4096);
	int st;
	if ((st = nvme_host_delete_io_sq(h, 1)) || (st = nvme_host_delete_io_cq(h, 1)) ||
	    (st = nvme_host_create_io_cq(h, 1, FQ_CQS - 1, cq_iova, 0, NVME_CQ_PC)) ||
	    (st = nvme_host_create_io_sq(h, 1, FQ_SQS - 1, sq_iova, 1, NVME_SQ_PC))) {
		FAIL("queue setup: %s", st_str(st));
		return false;
	}
	pattern_fill_lba(data, FQ_BASE, FQ_N * FQ_NLB, O.seed);
	for (int i = 0; i < FQ_N; i++) {
		memset(&sq[i], 0, sizeof(sq[i]));
		sq[i].opc = NVME_CMD_WRITE;
		sq[i].nsid = O.nsid;
		sq[i].cdw10 = (uint32_t)(FQ_BASE + (uint64_t)i * FQ_NLB);
		sq[i].cdw12 = FQ_NLB - 1;
		sq[i].cid = (uint16_t)(100 + i);
		sq[i].dptr.prp1 = data_iova + 4096ull * i;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if ((st = nvme_host_reg_write32(h, NVME_REG_DBS + 8, FQ_N))) {
		FAIL("SQ 1 doorbell: %s", st_str(st));
		return false;
	}
	int64_t end = now_ms() + DEADLINE_MS;
	int avail = 0;
	while (now_ms() < end) {
		avail = 0;
		for (int k = 0; k < FQ_CQS; k++)
			avail += (((volatile struct nvme_cqe *)&cq[k])->status & 1) == 1;
		if (avail >= FQ_CQS - 1)
			break;
		sleep_ms(2);
	}
	diag("RESULT cq_entries=%d", avail);
	if (avail != FQ_CQS - 1) {
		FAIL("the CQ shows %d entries, want %d (full)", avail, FQ_CQS - 1);
		return false;
	}
	*cqp = cq;
	return true;
}

void case_full_cq(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	struct nvme_cqe *cq = NULL;
	char line[64];
	REQUIRE(h);
	REQUIRE(fill_cq(h, &cq));
	if (!strcmp(O.then, "hold")) {
		REQUIRE(handshake("full", 120000, line, sizeof(line)));
		vanish();
	}
	diag("READY full");
	int64_t t0 = now_ms();
	if (!strcmp(O.then, "delete_sq")) {
		int st = nvme_host_delete_io_sq(h, 1);
		diag("RESULT delete_sq=%d ms=%lld", st, (long long)(now_ms() - t0));
		CHECK_EQ(st, 0);
		CHECK_EQ(nvme_host_delete_io_cq(h, 1), 0);
	} else if (!strcmp(O.then, "reset")) {
		uint32_t csts = 0;
		REQUIRE_OK(nvme_host_reg_write32(h, NVME_REG_CC, 0));
		int rc = wait_csts(h, NVME_CSTS_RDY, 0, DEADLINE_MS, &csts);
		diag("RESULT reset=%d ms=%lld csts=0x%x", rc, (long long)(now_ms() - t0), csts);
		CHECK_EQ(rc, 0);
		CHECK_EQ(csts & NVME_CSTS_CFS, 0);
	} else {
		FAIL("unknown --then %s", O.then);
		goto out;
	}
	/* the controller comes back and every write of the full queue took
	 * effect (fetched and executed; only the completions found no room) */
	REQUIRE_OK(nvme_host_reset(h));
	CHECK(read_check(h, FQ_BASE, FQ_N * FQ_NLB, O.seed));
	check_csts_ok(h, "after the reset");
out:
	nvme_host_close(h);
}
