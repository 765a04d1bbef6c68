/* nvme_e2e: Controller states: bring-up by hand (CC, CSTS, AQA/ASQ/ACQ), controller
 * reset under I/O, shutdown (CC.SHN). */
#include "nvme_e2e.h"

/* ---- bring-up ------------------------------------------------------------------------- */

void case_bringup(void)
{
	struct open_opts oo = { .no_enable = true };
	struct nvme_host *h = open_ctrl(&oo);
	struct mini m;
	uint64_t cap = 0;
	uint32_t vs = 0, csts = 0;
	REQUIRE(h);
	REQUIRE_OK(nvme_host_reg_read64(h, NVME_REG_CAP, &cap));
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_VS, &vs));
	diag("CAP 0x%016llx VS 0x%08x", (unsigned long long)cap, vs);
	if (O.mqes >= 0)
		CHECK_EQ(NVME_CAP_MQES(cap), O.mqes);
	CHECK_EQ(NVME_CAP_CQR(cap), 1);
	CHECK_EQ(NVME_CAP_DSTRD(cap), 0);
	CHECK(NVME_CAP_CSS(cap) & NVME_CAP_CSS_NVM);
	CHECK_EQ(NVME_CAP_MPSMIN(cap), 0);
	CHECK_EQ(NVME_CAP_MPSMAX(cap), 0);
	CHECK(NVME_CAP_TO(cap) > 0);
	CHECK(vs >= 0x00010400u);
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	CHECK_EQ(csts & NVME_CSTS_RDY, 0);	/* the previous user disabled it */

	/* by hand: CC.EN = 1, then RDY within CAP.TO */
	REQUIRE_OK(mini_setup(h, &m));
	int64_t t0 = now_ms();
	int rc = wait_rdy(h, true, (int)(NVME_CAP_TO(cap) * 500u), &csts);
	if (rc)
		FAIL("CSTS.RDY did not become 1 within CAP.TO (%u ms): %s, CSTS 0x%x",
		     NVME_CAP_TO(cap) * 500u, st_str(rc), csts);
	else
		diag("ready after %lld ms", (long long)(now_ms() - t0));
	CHECK_EQ(csts & (NVME_CSTS_CFS | NVME_CSTS_SHST_MASK), 0);
	struct nvme_id_ctrl *id = xalloc(h, 4096, 4096, NULL);
	REQUIRE(id);
	struct nvme_sqe s = { .opc = NVME_ADM_IDENTIFY, .cdw10 = NVME_CNS_CTRL };
	s.dptr.prp1 = iova_of(h, id);
	EXPECT_OK(mini_cmd(&m, &s, NULL));
	CHECK_EQ(id->ver, vs);
	REQUIRE_OK(ctrl_off(h));
	/* and the driver's full initialization */
	REQUIRE_OK(nvme_host_enable(h));
	if (O.mode == MODE_MMAP)
		CHECK(nvme_host_doorbells_mmapped(h));
	CHECK(write_verify(h, 1, O.nsid, 0, 8, O.seed));
out:
	nvme_host_close(h);
}

/* ---- controller reset under I/O ------------------------------------------------------------ */

void case_reset_io(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *buf = NULL, *chk = NULL;
	enum { N = 48, NLB = 8 };
	struct nvme_host_cmd cmds[N];
	REQUIRE(h);
	const uint64_t A = 80000, B = 90000;
	buf = xalloc(h, (size_t)N * NLB * bs(), 4096, NULL);
	chk = xalloc(h, (size_t)N * NLB * bs(), 4096, NULL);
	REQUIRE(buf && chk);
	for (int k = 0; k < 3; k++) {
		/* region A: written and verified before; region B: old pattern */
		pattern_fill(buf, A, N * NLB, bs(), O.seed + 10);
		REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, A, N * NLB, buf, 0));
		pattern_fill(buf, B, N * NLB, bs(), O.seed + 11);
		REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, B, N * NLB, buf, 0));
		/* new pattern to B, in flight when CC.EN goes to 0 */
		pattern_fill(buf, B, N * NLB, bs(), O.seed + 12);
		unsigned depth = nvme_host_io_depth(h) - 1;
		unsigned n = depth < N ? depth : N;
		for (unsigned i = 0; i < n; i++) {
			REQUIRE_OK(nvme_host_cmd_rw(h, &cmds[i], NVME_CMD_WRITE, O.nsid, B + (uint64_t)i * NLB, NLB,
						    buf + (size_t)i * NLB * bs(), 0));
			REQUIRE_OK(nvme_host_submit(h, 1, &cmds[i]));
		}
		if (k == 1) {
			/* let some complete first, the rest are in flight or queued */
			int64_t end = now_ms() + 2000;
			int got = 0;
			while (got < (int)n / 4 && now_ms() < end) {
				int r = nvme_host_poll(h, 1, 0);
				got += r > 0 ? r : 0;
			}
		} else if (k == 2) {
			sleep_ms(1);
		}
		int rc = nvme_host_reset(h);
		if (rc) {
			FAIL("reset %d under I/O: %s", k, st_str(rc));
			goto out;
		}
		/* A intact; every block of B is the old or the new pattern */
		CHECK(read_check(h, 1, O.nsid, A, N * NLB, O.seed + 10));
		REQUIRE_OK(io(h, 1, NVME_CMD_READ, O.nsid, B, N * NLB, chk, 0));
		unsigned newer = 0;
		for (uint32_t b = 0; b < N * NLB; b++) {
			uint8_t *p = chk + (size_t)b * bs();
			if (pattern_check(p, B + b, 1, bs(), O.seed + 12) < 0)
				newer++;
			else if (pattern_check(p, B + b, 1, bs(), O.seed + 11) >= 0) {
				FAIL("reset %d: block %u of B is neither the old nor the new data", k, b);
				break;
			}
		}
		diag("reset %d: %u of %u blocks of B carry the new data", k, newer, N * NLB);
		CHECK(write_verify(h, 1, O.nsid, B, 64, O.seed + 13));
	}
out:
	if (h) {
		nvme_host_free(h, buf);
		nvme_host_free(h, chk);
	}
	nvme_host_close(h);
}

/* ---- shutdown ------------------------------------------------------------------------------------ */

void case_shutdown(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t csts = 0;
	REQUIRE(h);
	CHECK(write_verify(h, 1, O.nsid, 95000, 64, O.seed));
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	CHECK_EQ(csts & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_NORMAL);
	int rc = nvme_host_shutdown(h);
	if (rc)
		FAIL("shutdown: %s", st_str(rc));
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	CHECK_EQ(csts & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT);
	CHECK_EQ(csts & NVME_CSTS_CFS, 0);
	/* a controller reset brings it back, the data is there */
	REQUIRE_OK(nvme_host_reset(h));
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	CHECK_EQ(csts & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_NORMAL);
	CHECK(read_check(h, 1, O.nsid, 95000, 64, O.seed));
out:
	nvme_host_close(h);
}
