/* hostile_client: long Dataset Management commands (their range list in a
 * region of its own, re-read as they run) racing what stops or unmaps
 * their queues: DMA_UNMAP and hang-up, CC.SHN, reset storms, suspend,
 * Delete I/O SQ (classes 1 and 7), and the range list rewritten while the
 * controller reads it (class 11). */
#include "hostile_client.h"

/* ---- long Dataset Management commands ---------------------------------------------------------
 *
 * --dsm-cmds DSMs on I/O queue 1, each with 256 ranges covering the whole
 * namespace (deallocate), their range list in a region of its own (RIOVA),
 * which the controller re-reads as it goes. Returns the number submitted. */
static int start_dsms(struct nvme_host *h, struct host_mem **rl, struct nvme_host_cmd *cmds, int n)
{
	struct nvme_host_ns ns;
	int rc = nvme_host_ns_info(h, O.nsid, &ns);
	if (rc) {
		FAIL("namespace %u: %s", O.nsid, st_str(rc));
		return 0;
	}
	rc = map_extra(h, RIOVA, RSIZE, rl);
	if (rc) {
		FAIL("DMA_MAP of the range list: %s", st_str(rc));
		return 0;
	}
	struct nvme_dsm_range *r = (*rl)->ptr;
	for (int i = 0; i < 256; i++) {
		r[i].cattr = 0;
		r[i].nlb = (uint32_t)ns.nsze;
		r[i].slba = 0;
	}
	for (int i = 0; i < n; i++) {
		rc = nvme_host_cmd_rw(h, &cmds[i], NVME_CMD_DSM, O.nsid, 0, 256, NULL, NVME_HOST_F_DSM_AD);
		/* one doorbell for all: fetched together */
		cmds[i].flags |= NVME_HOST_F_DPTR | (i + 1 < n ? NVME_HOST_F_NO_DB : 0);
		cmds[i].sqe.dptr.prp1 = RIOVA;
		cmds[i].sqe.dptr.prp2 = 0;
		if (!rc)
			rc = nvme_host_submit(h, 1, &cmds[i]);
		if (rc) {
			FAIL("DSM %d: %s", i, st_str(rc));
			return i;
		}
	}
	diag("RESULT dsm_ranges=%d dsm_blocks=%llu", n * 256, (unsigned long long)ns.nsze);
	/* the Python side answers once the controller fetched them all and
	 * the block device saw the first deallocate: the DSMs are running
	 * (and their range list was validated) */
	char line[64];
	if (!handshake("dsm", 60000, line, sizeof(line))) {
		FAIL("no go from the Python side");
		return 0;
	}
	return n;
}

/* Send a DMA_UNMAP and do not wait for its reply. */
static int send_unmap(struct vfu_client *v, uint64_t iova, uint64_t size)
{
	struct {
		struct vfu_msg_hdr h;
		struct vfu_msg_dma_unmap u;
	} __attribute__((packed)) m;
	memset(&m, 0, sizeof(m));
	m.h.msg_id = vfu_next_msg_id(v);
	m.h.command = VFU_CMD_DMA_UNMAP;
	m.h.msg_size = sizeof(m);
	m.u.argsz = sizeof(m.u);
	m.u.address = iova;
	m.u.size = size;
	return vfu_send_raw(v, &m, sizeof(m), NULL, 0);
}

/* A client with long DSMs running (start_dsms): the controller opened,
 * with the extra region XIOVA mapped when asked. */
struct dsm_run {
	struct nvme_host *h;
	struct vfu_client *v;
	struct host_mem *rl, *x;	/* the range list, the extra region */
	struct nvme_host_cmd cmds[16];
};

/* n DSMs (0: --dsm-cmds, at most 16); false after a FAIL. */
static bool dsm_begin(struct dsm_run *r, bool extra, int n)
{
	memset(r, 0, sizeof(*r));
	r->h = open_nvme(NVME_HOST_DB_TRAP, true);
	if (!r->h)
		return false;
	r->v = nvme_host_vfu(r->h);
	int rc = extra ? map_extra(r->h, XIOVA, XSIZE, &r->x) : 0;
	if (rc) {
		FAIL("DMA_MAP of the extra region: %s", st_str(rc));
		return false;
	}
	if (!n)
		n = O.dsm_cmds > 16 ? 16 : O.dsm_cmds;
	return start_dsms(r->h, &r->rl, r->cmds, n) == n;
}

static void dsm_end(struct dsm_run *r)
{
	nvme_host_close(r->h);
	host_mem_destroy(r->x);
	host_mem_destroy(r->rl);
}

/* class 7: long DSMs, a DMA_UNMAP of their range list (its reply waits for
 * them), and the client hangs up at once. */
void case_dsm_unmap_hup(void)
{
	struct dsm_run r;
	REQUIRE(dsm_begin(&r, false, 0));
	REQUIRE_OK(send_unmap(r.v, RIOVA, RSIZE));
out:
	vanish();
}

/* Long DSMs running, then "# READY hold" and a line on stdin before
 * leaving without a goodbye (the Python side acts meanwhile). */
void case_dsm_hold(void)
{
	struct dsm_run r;
	char line[64];
	REQUIRE(dsm_begin(&r, false, 0));
	REQUIRE(handshake("hold", 120000, line, sizeof(line)));
out:
	vanish();
}

/* ---- reproducers of bugs not fixed yet (test_hostile.py --all) ----------------------------- */

/* class 1: a CC.SHN write and a DMA_UNMAP back to back while DSMs run:
 * two quiesces of one controller. The shutdown must complete (CSTS.SHST
 * = 10b) and the unmap be answered. */
void case_shn_unmap(void)
{
	struct dsm_run r;
	REQUIRE(dsm_begin(&r, true, 0));
	uint32_t cc = 0;
	REQUIRE_OK(nvme_host_reg_read32(r.h, NVME_REG_CC, &cc));
	cc = (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL;
	REQUIRE_OK(vfu_region_write(r.v, VFIO_PCI_BAR0_REGION_INDEX, NVME_REG_CC, &cc, 4, true));
	int64_t t0 = now_ms();
	int rc = vfu_dma_unmap(r.v, XIOVA, XSIZE);
	diag("RESULT unmap=%d ms=%lld", rc, (long long)(now_ms() - t0));
	CHECK_EQ(rc, 0);
	uint32_t csts = 0;
	rc = wait_csts(r.h, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT, DEADLINE_MS, &csts);
	diag("RESULT shutdown=%d csts=0x%x", rc, csts);
	CHECK_EQ(rc, 0);
out:
	dsm_end(&r);
}

/* class 1, a reset storm: DSMs running, then 40 rounds of posted CC.EN=0,
 * CC.EN=1 and CC.SHN writes, DMA unmaps and maps of an extra region and
 * DEVICE_RESETs, none waited for. osnapd must answer every message, and a
 * fresh driver (a new connection) brings the controller up and gets its
 * writes back. */
void case_reset_storm(void)
{
	struct nvme_host *h2 = NULL;
	struct dsm_run r;
	REQUIRE(dsm_begin(&r, true, 0));
	struct vfu_client *v = r.v;
	uint32_t cc = 0;
	REQUIRE_OK(nvme_host_reg_read32(r.h, NVME_REG_CC, &cc));
	int64_t t0 = now_ms();
	for (int i = 0; i < 40; i++) {
		uint32_t w = cc;
		switch (i % 5) {
		case 0:
			w = cc & ~NVME_CC_EN;
			break;
		case 1:
			w = cc | NVME_CC_EN;
			break;
		case 2:
			w = (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL;
			break;
		case 3:
			REQUIRE_OK(vfu_dma_unmap(v, XIOVA, XSIZE));
			REQUIRE_OK(vfu_dma_map(v, XIOVA, XSIZE, r.x->fd, 0, VFU_PROT_READ | VFU_PROT_WRITE));
			continue;
		case 4:
			REQUIRE_OK(vfu_device_reset(v));
			continue;
		}
		REQUIRE_OK(vfu_region_write(v, VFIO_PCI_BAR0_REGION_INDEX, NVME_REG_CC, &w, 4, true));
	}
	REQUIRE_OK(vfu_sync(v));
	diag("RESULT storm_ms=%lld", (long long)(now_ms() - t0));
	nvme_host_close(r.h);
	r.h = NULL;
	/* a new driver on a new connection */
	h2 = open_nvme(NVME_HOST_DB_TRAP, true);
	REQUIRE(h2);
	for (int i = 0; i < 4; i++)
		CHECK(write_verify(h2, 2000 + (uint64_t)i * 64, 64, O.seed + 7 + (uint32_t)i));
	check_csts_ok(h2, "after the storm");
	diag("RESULT io=ok");
out:
	dsm_end(&r);
	nvme_host_close(h2);
}

/* class 1: nvme_controller_suspend (by the Python side, between "READY
 * suspend" and its answer "suspending") while DSMs run, then a DMA_UNMAP:
 * both must be answered. */
void case_suspend_unmap(void)
{
	struct dsm_run r;
	char line[64];
	REQUIRE(dsm_begin(&r, true, 0));
	REQUIRE(handshake("suspend", 60000, line, sizeof(line)));
	int64_t t0 = now_ms();
	int rc = vfu_dma_unmap(r.v, XIOVA, XSIZE);
	diag("RESULT unmap=%d ms=%lld", rc, (long long)(now_ms() - t0));
	CHECK_EQ(rc, 0);
	REQUIRE(handshake("unmapped", 60000, line, sizeof(line)));
out:
	dsm_end(&r);
}

/* class 1: Delete I/O SQ while DSMs run on it, then a DMA_UNMAP of their
 * range list: the unmap must wait for the DSMs (which re-read the list),
 * and the service must live. */
void case_delete_sq_unmap(void)
{
	struct dsm_run r;
	struct nvme_host_cmd del;
	REQUIRE(dsm_begin(&r, false, 0));
	memset(&del, 0, sizeof(del));
	del.sqe.opc = NVME_ADM_DELETE_SQ;
	del.sqe.cdw10 = 1;
	REQUIRE_OK(nvme_host_submit(r.h, 0, &del));
	int64_t t0 = now_ms();
	int rc = vfu_dma_unmap(r.v, RIOVA, RSIZE);
	diag("RESULT unmap=%d ms=%lld", rc, (long long)(now_ms() - t0));
	CHECK_EQ(rc, 0);
	int st = nvme_host_wait(r.h, 0, &del, DEADLINE_MS);
	diag("RESULT delete_sq=%d", st);
	CHECK_EQ(st, 0);
	REQUIRE_OK(nvme_host_reset(r.h));
	CHECK(write_verify(r.h, 7000, 8, O.seed));
out:
	dsm_end(&r);
}

/* class 11: a DSM's range list is read from guest memory for validation
 * and again for each range. Once the first deallocate reached the block
 * device (the Python side answers "# READY dsm"), range 256 of 256 is
 * rewritten to lie past the namespace. The Python side checks what the
 * block device saw; the status is printed. */
void case_dsm_toctou(void)
{
	struct dsm_run r;
	REQUIRE(dsm_begin(&r, false, 1));
	struct nvme_dsm_range *range = r.rl->ptr;
	__atomic_store_n(&range[255].slba, 0xffffff00ull, __ATOMIC_RELEASE);
	int st = nvme_host_wait(r.h, 1, &r.cmds[0], DEADLINE_MS);
	diag("RESULT dsm=%d sct=%d sc=0x%02x dnr=%d", st, st < 0 ? -1 : (int)NVME_STATUS_SCT(st),
	     st < 0 ? 0 : (int)NVME_STATUS_SC(st), st > 0 && (st & 0x4000) ? 1 : 0);
	CHECK(st >= 0);
	CHECK(write_verify(r.h, 7100, 8, O.seed));
	check_csts_ok(r.h, "after the DSM");
out:
	dsm_end(&r);
}
