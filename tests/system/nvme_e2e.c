/* End-to-end tests of the NVMe controller (issue 4): the user-space NVMe
 * driver of src/host talks to an osnapd controller over vfio-user.
 *
 *   nvme_e2e SOCKET [--mode trap|mmap|shadow] [--case NAME]... [expectations]
 *
 * The Python side (tests/system/test_nvme.py) configures the controller and
 * tells us what to expect (--nqn, --sn, --uuid, ...). Every case opens its
 * own connection, so a failing case cannot poison the next one. Output is
 * TAP: "1..N", then "ok N - name" or "not ok N - name" followed by "# ..."
 * lines with the details. Expected NVMe statuses are those of the NVM
 * Express Base Specification 1.4 (SCT/SC), never the server's.
 *
 * Cases driven from outside (stdin/stdout handshake, see each case):
 * aen, suspend_probe, suspended_start. file_pattern prints the extents it
 * wrote ("# extent LBA NLB") for the Python side to check the backing file. */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host/host_mem.h"
#include "host/nvme_host.h"
#include "host/nvme_host_priv.h"	/* the arena's memfd, to map it again */
#include "host/vfio_user_client.h"

#include "pattern.h"
#include "tap.h"

/* Firmware Commit statuses (SCT 1), NVMe 1.4 Figure 174 */
#define NVME_SC_INVALID_FW_SLOT		0x06
#define NVME_SC_INVALID_FW_IMAGE	0x07

/* ---- options ----------------------------------------------------------------------- */

enum mode { MODE_TRAP, MODE_MMAP, MODE_SHADOW };

static struct {
	const char *sock;
	enum mode mode;
	/* expectations (NULL / negative: not checked) */
	const char *nqn, *sn, *mn, *uuid, *nguid, *eui64;
	long cntlid;
	int mdts;
	uint64_t nsze, nsze2;
	uint32_t lba;
	uint32_t nsid, nsid2, inactive;
	int mqes;
	int fw_slots;
	int compare_write;
	int64_t nn;
	uint32_t seed;
} O = {
	.mode = MODE_TRAP, .cntlid = -1, .mdts = 7, .nsze = 131072, .lba = 512, .nsid = 1,
	.inactive = 77, .mqes = 63, .fw_slots = 4, .compare_write = -1, .nn = -1, .seed = 1,
};

/* ---- NVMe statuses ------------------------------------------------------------------------ */

static const char *st_str(int st)
{
	static __thread char b[64];
	if (st < 0)
		snprintf(b, sizeof(b), "errno %d (%s)", -st, strerror(-st));
	else
		snprintf(b, sizeof(b), "SCT %d SC 0x%02x (raw 0x%04x)", NVME_STATUS_SCT(st),
			 NVME_STATUS_SC(st), st);
	return b;
}

/* Compare SCT and SC (not DNR/More/CRD) with the expected ones. */
static bool st_is(int st, unsigned sct, unsigned sc)
{
	return st >= 0 && (st & 0x7ff) == NVME_STATUS(sct, sc);
}

#define EXPECT_ST(expr, sct, sc) do { int st_ = (expr); if (!st_is(st_, (sct), (sc))) \
	FAIL("%s: %s, want SCT %d SC 0x%02x", #expr, st_str(st_), (sct), (sc)); } while (0)
#define EXPECT_OK(expr) EXPECT_ST(expr, 0, 0)
/* REQUIRE_OK (tap.h) says the NVMe status, or the errno */
const char *tap_status_str(int rc)
{
	return st_str(rc);
}

/* ---- opening the controller ------------------------------------------------------------- */

/* The fd-less range every connection maps (see nvme_host_opts.rom_size). */
#define ROM_IOVA	0xfffc0000ull
#define ROM_SIZE	0x40000u

struct open_opts {
	uint16_t queues;
	bool no_enable;
	bool shadow;		/* force shadow doorbells (trap mode) */
	bool no_shadow;		/* no shadow doorbells, whatever the mode */
	uint32_t depth;
};

static struct nvme_host *open_ctrl(const struct open_opts *oo)
{
	struct nvme_host_opts o;
	struct nvme_host *h = NULL;
	memset(&o, 0, sizeof(o));
	o.mem_size = 48u << 20;
	o.nr_io_queues = oo && oo->queues ? oo->queues : 1;
	o.io_depth = oo && oo->depth ? oo->depth : 128;
	o.no_enable = oo && oo->no_enable;
	/* synchronous commands that must complete: generous, never a guess
	 * of how fast a loaded 2-core machine is (no case expects them to
	 * time out) */
	o.admin_timeout_ms = 30000;
	o.io_timeout_ms = 30000;
	o.doorbells = O.mode == MODE_MMAP ? NVME_HOST_DB_MMAP : NVME_HOST_DB_TRAP;
	o.shadow_doorbells = (O.mode == MODE_SHADOW || (oo && oo->shadow)) && !(oo && oo->no_shadow);
	/* as QEMU does: firmware ROM in the map without a file descriptor */
	o.rom_size = ROM_SIZE;
	o.rom_iova = ROM_IOVA;
	int rc = nvme_host_open(O.sock, &o, &h);
	if (rc) {
		FAIL("nvme_host_open(%s): %s", O.sock, st_str(rc));
		return NULL;
	}
	if (O.mode == MODE_MMAP && !o.no_enable && !nvme_host_doorbells_mmapped(h))
		FAIL("mmap mode but the doorbells are not mapped");
	if (o.shadow_doorbells && !o.no_enable && !nvme_host_shadow_doorbells(h))
		FAIL("shadow mode but Doorbell Buffer Config was not accepted");
	return h;
}

static void *xalloc(struct nvme_host *h, size_t len, size_t align, uint64_t *iova)
{
	void *p = nvme_host_alloc(h, len, align ? align : 4096, iova);
	if (!p)
		FAIL("arena exhausted (%zu bytes)", len);
	return p;
}

static uint64_t iova_of(struct nvme_host *h, const void *p)
{
	uint64_t iova = 0;
	if (nvme_host_iova(h, p, 1, &iova))
		FAIL("pointer %p is not in the arena", p);
	return iova;
}

/* ---- I/O helpers -------------------------------------------------------------------------- */

static int io(struct nvme_host *h, uint16_t qid, uint8_t opc, uint32_t nsid, uint64_t slba,
	      uint32_t nlb, void *buf, uint32_t flags)
{
	return nvme_host_rw(h, qid, opc, nsid, slba, nlb, buf, flags);
}

/* I/O with the data in pieces (PRP or, with NVME_HOST_F_SGL, SGL). */
static int io_sg(struct nvme_host *h, uint16_t qid, uint8_t opc, uint32_t nsid, uint64_t slba,
		 uint32_t nlb, const struct nvme_host_sg *sg, unsigned nsg, uint32_t flags)
{
	struct nvme_host_cmd cmd;
	int rc = nvme_host_cmd_rw(h, &cmd, opc, nsid, slba, nlb, NULL, flags);
	if (rc)
		return rc;
	cmd.buf = NULL;
	cmd.len = 0;
	cmd.sg = sg;
	cmd.nsg = nsg;
	rc = nvme_host_submit(h, qid, &cmd);
	if (rc)
		return rc;
	return nvme_host_wait(h, qid, &cmd, 5000);
}

static uint16_t g_raw_cid = 0x7000;

/* Send a hand-built SQE (CID assigned here) and wait. */
static int raw(struct nvme_host *h, uint16_t qid, struct nvme_sqe *sqe, struct nvme_cqe *cqe)
{
	sqe->cid = g_raw_cid++;
	if (g_raw_cid >= 0x7800)
		g_raw_cid = 0x7000;
	return nvme_host_raw(h, qid, sqe, cqe, 5000);
}

static struct nvme_sqe rw_sqe(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb)
{
	struct nvme_sqe s;
	memset(&s, 0, sizeof(s));
	s.opc = opc;
	s.nsid = nsid;
	s.cdw10 = (uint32_t)slba;
	s.cdw11 = (uint32_t)(slba >> 32);
	s.cdw12 = nlb - 1;
	return s;
}

static uint32_t bs(void)
{
	return O.lba;
}

/* Write nlb blocks of pattern seed at slba and read them back through a
 * fresh buffer; true when they match. */
static bool write_verify(struct nvme_host *h, uint16_t qid, uint32_t nsid, uint64_t slba, uint32_t nlb,
			 uint32_t seed)
{
	size_t len = (size_t)nlb * bs();
	uint8_t *w = xalloc(h, len, 4096, NULL), *r = xalloc(h, len, 4096, NULL);
	bool ok = false;
	if (!w || !r)
		goto out;
	pattern_fill(w, slba, nlb, bs(), seed);
	int st = io(h, qid, NVME_CMD_WRITE, nsid, slba, nlb, w, 0);
	if (st) {
		FAIL("write nsid %u lba %llu+%u: %s", nsid, (unsigned long long)slba, nlb, st_str(st));
		goto out;
	}
	st = io(h, qid, NVME_CMD_READ, nsid, slba, nlb, r, 0);
	if (st) {
		FAIL("read nsid %u lba %llu+%u: %s", nsid, (unsigned long long)slba, nlb, st_str(st));
		goto out;
	}
	long bad = pattern_check(r, slba, nlb, bs(), seed);
	if (bad >= 0)
		FAIL("nsid %u lba %llu: block %ld reads back wrong", nsid, (unsigned long long)slba, bad);
	ok = bad < 0;
out:
	nvme_host_free(h, w);
	nvme_host_free(h, r);
	return ok;
}

/* Read nlb blocks and check them against pattern seed. */
static bool read_check(struct nvme_host *h, uint16_t qid, uint32_t nsid, uint64_t slba, uint32_t nlb,
		       uint32_t seed)
{
	size_t len = (size_t)nlb * bs();
	uint8_t *r = xalloc(h, len, 4096, NULL);
	bool ok = false;
	if (!r)
		return false;
	int st = io(h, qid, NVME_CMD_READ, nsid, slba, nlb, r, 0);
	if (st) {
		FAIL("read lba %llu+%u: %s", (unsigned long long)slba, nlb, st_str(st));
	} else {
		long bad = pattern_check(r, slba, nlb, bs(), seed);
		if (bad >= 0)
			FAIL("lba %llu: block %ld is not pattern %u", (unsigned long long)slba, bad, seed);
		ok = bad < 0;
	}
	nvme_host_free(h, r);
	return ok;
}

/* ---- a minimal admin queue of our own (for states the driver skips) ------------------- */

struct mini {
	struct nvme_host *h;
	struct nvme_sqe *sq;
	struct nvme_cqe *cq;
	uint64_t sq_iova, cq_iova;
	uint16_t depth, tail, head, cid;
	uint8_t phase;
};

static int wait_rdy(struct nvme_host *h, bool want, int ms, uint32_t *csts_out)
{
	int64_t end = now_ms() + ms;
	uint32_t csts = 0;
	for (;;) {
		int rc = nvme_host_reg_read32(h, NVME_REG_CSTS, &csts);
		if (rc)
			return rc;
		if (csts_out)
			*csts_out = csts;
		if (!!(csts & NVME_CSTS_RDY) == want)
			return 0;
		if (want && (csts & NVME_CSTS_CFS))
			return -EIO;
		if (now_ms() > end)
			return -ETIMEDOUT;
		sleep_ms(1);
	}
}

static uint32_t cap_to_ms(struct nvme_host *h)
{
	uint64_t cap = 0;
	nvme_host_reg_read64(h, NVME_REG_CAP, &cap);
	return NVME_CAP_TO(cap) * 500u;
}

/* Program a 16-entry admin queue and set CC.EN (does not wait). */
static int mini_setup(struct nvme_host *h, struct mini *m)
{
	memset(m, 0, sizeof(*m));
	m->h = h;
	m->depth = 16;
	m->phase = 1;
	m->sq = xalloc(h, 4096, 4096, &m->sq_iova);
	m->cq = xalloc(h, 4096, 4096, &m->cq_iova);
	if (!m->sq || !m->cq)
		return -ENOMEM;
	memset(m->cq, 0, 4096);
	int rc = nvme_host_reg_write32(h, NVME_REG_AQA, NVME_AQA(m->depth, m->depth));
	if (!rc)
		rc = nvme_host_reg_write64(h, NVME_REG_ASQ, m->sq_iova);
	if (!rc)
		rc = nvme_host_reg_write64(h, NVME_REG_ACQ, m->cq_iova);
	if (!rc)
		rc = nvme_host_reg_write32(h, NVME_REG_CC, NVME_CC_EN | (6u << NVME_CC_IOSQES_SHIFT) |
							   (4u << NVME_CC_IOCQES_SHIFT));
	return rc;
}

static int mini_cmd(struct mini *m, struct nvme_sqe *sqe, struct nvme_cqe *out)
{
	sqe->cid = m->cid++;
	memcpy(&m->sq[m->tail], sqe, sizeof(*sqe));
	m->tail = (uint16_t)((m->tail + 1) % m->depth);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	int rc = nvme_host_reg_write32(m->h, NVME_REG_DBS, m->tail);
	if (rc)
		return rc;
	int64_t end = now_ms() + 5000;
	for (;;) {
		volatile struct nvme_cqe *e = &m->cq[m->head];
		if ((e->status & 1) == m->phase) {
			__atomic_thread_fence(__ATOMIC_ACQUIRE);
			struct nvme_cqe c;
			memcpy(&c, (const void *)e, sizeof(c));
			m->head = (uint16_t)((m->head + 1) % m->depth);
			if (m->head == 0)
				m->phase ^= 1;
			nvme_host_reg_write32(m->h, NVME_REG_DBS + 4, m->head);
			if (out)
				*out = c;
			if (c.cid != sqe->cid)
				FAIL("mini admin: CQE CID %u for command %u", c.cid, sqe->cid);
			return (c.status >> 1) & 0x7fff;
		}
		if (now_ms() > end)
			return -ETIMEDOUT;
		sleep_ms(1);
	}
}

/* CC.EN = 0 and wait for RDY = 0. */
static int ctrl_off(struct nvme_host *h)
{
	int rc = nvme_host_reg_write32(h, NVME_REG_CC, 0);
	return rc ? rc : wait_rdy(h, false, (int)cap_to_ms(h) + 1000, NULL);
}

/* Read CSTS and check it says ready and not failed. */
static void check_csts_ok(struct nvme_host *h, const char *when)
{
	uint32_t csts = 0;
	int rc = nvme_host_reg_read32(h, NVME_REG_CSTS, &csts);
	if (rc)
		FAIL("CSTS %s: %s", when, st_str(rc));
	else if ((csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) != NVME_CSTS_RDY)
		FAIL("CSTS %s: 0x%x, want RDY and not CFS", when, csts);
}

/* ====================================================================================== */
/* cases                                                                                   */
/* ====================================================================================== */

/* ---- bring-up ------------------------------------------------------------------------- */

static void case_bringup(void)
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

/* ---- Identify ---------------------------------------------------------------------------- */

static bool padded_eq(const char *field, size_t n, const char *want)
{
	char buf[64];
	memset(buf, ' ', n);
	memcpy(buf, want, strlen(want) < n ? strlen(want) : n);
	return !memcmp(field, buf, n);
}

static uint16_t id_kas(const struct nvme_id_ctrl *id)
{
	uint16_t kas;
	memcpy(&kas, (const uint8_t *)id + 320, 2);
	return kas;
}

static void case_identify_ctrl(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	struct nvme_id_ctrl *id = NULL;
	uint32_t vs = 0;
	REQUIRE(h);
	id = xalloc(h, 4096, 4096, NULL);
	REQUIRE(id);
	REQUIRE_OK(nvme_host_identify_ctrl(h, id));
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_VS, &vs));
	if (O.sn && !padded_eq(id->sn, 20, O.sn))
		FAIL("SN '%.20s', want '%s' space padded", id->sn, O.sn);
	if (O.mn && !padded_eq(id->mn, 40, O.mn))
		FAIL("MN '%.40s', want '%s' space padded", id->mn, O.mn);
	if (O.nqn && (strncmp(id->subnqn, O.nqn, 256) || memchr(id->subnqn, 0, 256) == NULL))
		FAIL("SUBNQN '%.256s', want '%s'", id->subnqn, O.nqn);
	if (O.cntlid >= 0)
		CHECK_EQ(id->cntlid, O.cntlid);
	if (O.mdts >= 0)
		CHECK_EQ(id->mdts, O.mdts);
	CHECK_EQ(id->ver, vs);
	if (O.nn >= 0)
		CHECK_EQ(id->nn, O.nn);
	CHECK_EQ(id->sqes, 0x66);
	CHECK_EQ(id->cqes, 0x44);
	/* OACS: firmware download/commit; no Format, no Namespace Management;
	 * Doorbell Buffer Config unless the doorbells are mapped */
	CHECK(id->oacs & (1u << 2));
	CHECK_EQ(id->oacs & ((1u << 1) | NVME_OACS_NS_MGMT), 0);
	if (O.mode == MODE_MMAP)
		CHECK_EQ(id->oacs & NVME_OACS_DBBUF, 0);
	else
		CHECK(id->oacs & NVME_OACS_DBBUF);
	if (O.fw_slots > 0)
		CHECK_EQ((id->frmw >> 1) & 7, O.fw_slots);
	/* ONCS: malloc and file bdevs have compare, deallocate, write zeroes.
	 * Bit 4 (Save/Select in Set/Get Features) and bit 6 (Timestamp): the
	 * controller implements Get Features SEL and the Timestamp feature, so
	 * it has to say so. */
	diag("ONCS 0x%04x OACS 0x%04x SGLS 0x%08x VWC 0x%02x FUSES 0x%04x KAS %u", id->oncs, id->oacs,
	     id->sgls, id->vwc, id->fuses, id_kas(id));
	CHECK(id->oncs & NVME_ONCS_DSM);
	CHECK(id->oncs & NVME_ONCS_WRITE_ZEROES);
	CHECK_EQ(id->oncs & NVME_ONCS_WRITE_UNC, 0);
	uint32_t dw0;
	if (nvme_host_get_features(h, NVME_FEAT_ARBITRATION, NVME_FEAT_SEL_CAPS, 0, 0, NULL, 0, &dw0) == 0)
		CHECK(id->oncs & (1u << 4));
	uint8_t *ts = xalloc(h, 4096, 4096, NULL);
	if (ts && nvme_host_get_features(h, 0x0e, 0, 0, 0, ts, 8, NULL) == 0)
		CHECK(id->oncs & (1u << 6));
	nvme_host_free(h, ts);
	CHECK(NVME_SGLS_SUPPORT(id->sgls) != NVME_SGLS_NONE);
	CHECK(id->sgls & (1u << 16));		/* bit bucket */
	if (O.compare_write >= 0)
		CHECK_EQ(id->fuses & 1, O.compare_write);
	CHECK(id->aerl < 16);
	CHECK(id->maxcmd == 0 || id->maxcmd >= 2);
	/* an undefined CNS */
	EXPECT_ST(nvme_host_identify(h, 0x1f, 0, 0, id), 0, NVME_SC_INVALID_FIELD);
out:
	if (h)
		nvme_host_free(h, id);
	nvme_host_close(h);
}

static void case_identify_ns(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	struct nvme_id_ns *ns = NULL;
	REQUIRE(h);
	ns = xalloc(h, 4096, 4096, NULL);
	REQUIRE(ns);
	REQUIRE_OK(nvme_host_identify_ns(h, O.nsid, ns));
	CHECK_EQ(ns->nsze, O.nsze);
	CHECK_EQ(ns->ncap, ns->nsze);
	CHECK(ns->nuse <= ns->ncap);
	CHECK_EQ(ns->nlbaf, 0);
	CHECK_EQ(ns->flbas & 0xf, 0);
	CHECK_EQ(1u << ns->lbaf[0].lbads, O.lba);
	CHECK_EQ(ns->lbaf[0].ms, 0);
	if (O.nsid2) {
		REQUIRE_OK(nvme_host_identify_ns(h, O.nsid2, ns));
		if (O.nsze2)
			CHECK_EQ(ns->nsze, O.nsze2);
		CHECK(ns->nsze > 0);
	}
	/* an inactive NSID in range: zeroes, success */
	memset(ns, 0xa5, 4096);
	EXPECT_OK(nvme_host_identify_ns(h, O.inactive, ns));
	CHECK(all_byte(ns, 4096, 0));
	/* NSID 0 and (without Namespace Management) FFFFFFFFh */
	EXPECT_ST(nvme_host_identify_ns(h, 0, ns), 0, NVME_SC_INVALID_NS);
	EXPECT_ST(nvme_host_identify_ns(h, NVME_NSID_ALL, ns), 0, NVME_SC_INVALID_NS);
	if (O.nn >= 0 && O.nn < 0xfffffffe)	/* above NN: invalid */
		EXPECT_ST(nvme_host_identify_ns(h, (uint32_t)O.nn + 1, ns), 0, NVME_SC_INVALID_NS);
out:
	if (h)
		nvme_host_free(h, ns);
	nvme_host_close(h);
}

static void case_active_ns_list(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t *list = NULL;
	REQUIRE(h);
	list = xalloc(h, 4096, 4096, NULL);
	REQUIRE(list);
	REQUIRE_OK(nvme_host_active_ns_list(h, 0, list));
	uint32_t want[2] = { O.nsid, O.nsid2 };
	if (O.nsid2 && O.nsid2 < O.nsid) {
		want[0] = O.nsid2;
		want[1] = O.nsid;
	}
	int n = O.nsid2 ? 2 : 1;
	for (int i = 0; i < n; i++)
		CHECK_EQ(list[i], want[i]);
	CHECK_EQ(list[n], 0);
	REQUIRE_OK(nvme_host_active_ns_list(h, want[0], list));
	CHECK_EQ(list[0], n == 2 ? want[1] : 0);
	EXPECT_ST(nvme_host_active_ns_list(h, 0xfffffffeu, list), 0, NVME_SC_INVALID_NS);
	EXPECT_ST(nvme_host_active_ns_list(h, 0xffffffffu, list), 0, NVME_SC_INVALID_NS);
out:
	if (h)
		nvme_host_free(h, list);
	nvme_host_close(h);
}

/* n bytes of hex digits ('-' and ':' ignored) */
static int parse_hex(const char *s, uint8_t *out, int n)
{
	int k = 0;
	for (; *s && k < 2 * n; s++) {
		if (*s == '-')
			continue;
		int v;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if ((*s | 32) >= 'a' && (*s | 32) <= 'f')
			v = (*s | 32) - 'a' + 10;
		else
			return -1;
		out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | v : v << 4);
		k++;
	}
	return k == 2 * n && !*s ? 0 : -1;
}

static void case_ns_descs(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *buf = NULL, got[16], want[16];
	REQUIRE(h);
	buf = xalloc(h, 4096, 4096, NULL);
	REQUIRE(buf);
	REQUIRE_OK(nvme_host_ns_descs(h, O.nsid, buf));
	int n = nvme_host_ns_desc_find(buf, NVME_NIDT_UUID, got, sizeof(got));
	CHECK_EQ(n, 16);
	if (O.uuid) {
		REQUIRE(parse_hex(O.uuid, want, 16) == 0);
		if (n == 16 && memcmp(got, want, 16))
			FAIL("namespace UUID differs from %s", O.uuid);
	}
	if (O.nguid) {
		uint8_t g[16], w[16];
		REQUIRE(parse_hex(O.nguid, w, 16) == 0);
		int k = nvme_host_ns_desc_find(buf, NVME_NIDT_NGUID, g, sizeof(g));
		CHECK_EQ(k, 16);
		if (k == 16 && memcmp(g, w, 16))
			FAIL("namespace NGUID differs from %s", O.nguid);
	}
	if (O.eui64) {
		uint8_t g[8], w[8];
		REQUIRE(parse_hex(O.eui64, w, 8) == 0);
		int k = nvme_host_ns_desc_find(buf, NVME_NIDT_EUI64, g, sizeof(g));
		CHECK_EQ(k, 8);
		if (k == 8 && memcmp(g, w, 8))
			FAIL("namespace EUI64 differs from %s", O.eui64);
	}
	/* NVMe 1.4 6.1: an inactive NSID (1..NN, not attached) is Invalid Field
	 * in Command, an invalid one (0, above NN) Invalid Namespace or Format */
	EXPECT_ST(nvme_host_ns_descs(h, O.inactive, buf), 0, NVME_SC_INVALID_FIELD);
	if (O.nn >= 0 && O.nn < 0xfffffffe)
		EXPECT_ST(nvme_host_ns_descs(h, (uint32_t)O.nn + 1, buf), 0, NVME_SC_INVALID_NS);
	EXPECT_ST(nvme_host_ns_descs(h, 0, buf), 0, NVME_SC_INVALID_NS);
out:
	if (h)
		nvme_host_free(h, buf);
	nvme_host_close(h);
}

/* ---- features ---------------------------------------------------------------------------------- */

#define FEAT_TIMESTAMP	0x0e
#define FEAT_KATO	0x0f

static int getf(struct nvme_host *h, uint8_t fid, uint8_t sel, uint32_t cdw11, uint32_t *dw0)
{
	return nvme_host_get_features(h, fid, sel, 0, cdw11, NULL, 0, dw0);
}

static int setf(struct nvme_host *h, uint8_t fid, uint32_t cdw11, uint32_t *dw0)
{
	return nvme_host_set_features(h, fid, false, 0, cdw11, NULL, 0, dw0);
}

/* Number of Queues: Invalid Field for 65535; Command Sequence Error once I/O
 * queues were created, even after they are deleted again ("the value
 * allocated shall not change between resets"); allowed again after a
 * controller reset. */
static void case_feat_num_queues(void)
{
	struct open_opts oo = { .no_enable = true };
	struct nvme_host *h = open_ctrl(&oo);
	struct mini m;
	struct nvme_cqe c;
	void *ring = NULL;
	uint64_t ring_iova = 0;
	REQUIRE(h);
	REQUIRE_OK(mini_setup(h, &m));
	REQUIRE_OK(wait_rdy(h, true, (int)cap_to_ms(h), NULL));
	ring = xalloc(h, 8192, 4096, &ring_iova);
	REQUIRE(ring);

	struct nvme_sqe s = { .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	s.cdw11 = 0xffffu;	/* NSQR 65535 */
	EXPECT_ST(mini_cmd(&m, &s, NULL), 0, NVME_SC_INVALID_FIELD);
	s.cdw11 = 0xffffu << 16;	/* NCQR 65535 */
	EXPECT_ST(mini_cmd(&m, &s, NULL), 0, NVME_SC_INVALID_FIELD);
	s.cdw11 = 0;			/* one of each */
	REQUIRE_OK(mini_cmd(&m, &s, &c));
	uint32_t alloc = c.dw0;
	diag("allocated NSQA %u NCQA %u (0-based)", alloc & 0xffff, alloc >> 16);
	struct nvme_sqe g = { .opc = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	REQUIRE_OK(mini_cmd(&m, &g, &c));
	CHECK_EQ(c.dw0, alloc);

	/* create CQ 1 + SQ 1, then the feature is locked */
	struct nvme_sqe q = { .opc = NVME_ADM_CREATE_CQ, .cdw10 = 1u | (15u << 16), .cdw11 = NVME_CQ_PC };
	q.dptr.prp1 = ring_iova;
	REQUIRE_OK(mini_cmd(&m, &q, NULL));
	struct nvme_sqe q2 = { .opc = NVME_ADM_CREATE_SQ, .cdw10 = 1u | (15u << 16),
			       .cdw11 = NVME_SQ_PC | (1u << NVME_SQ_CQID_SHIFT) };
	q2.dptr.prp1 = ring_iova + 4096;
	REQUIRE_OK(mini_cmd(&m, &q2, NULL));
	s.cdw11 = 0;
	EXPECT_ST(mini_cmd(&m, &s, NULL), 0, NVME_SC_CMD_SEQ_ERROR);
	struct nvme_sqe d = { .opc = NVME_ADM_DELETE_SQ, .cdw10 = 1 };
	EXPECT_OK(mini_cmd(&m, &d, NULL));
	d.opc = NVME_ADM_DELETE_CQ;
	EXPECT_OK(mini_cmd(&m, &d, NULL));
	EXPECT_ST(mini_cmd(&m, &s, NULL), 0, NVME_SC_CMD_SEQ_ERROR);
	REQUIRE_OK(mini_cmd(&m, &g, &c));
	CHECK_EQ(c.dw0, alloc);

	/* a controller reset unlocks it */
	REQUIRE_OK(ctrl_off(h));
	REQUIRE_OK(mini_setup(h, &m));
	REQUIRE_OK(wait_rdy(h, true, (int)cap_to_ms(h), NULL));
	EXPECT_OK(mini_cmd(&m, &s, NULL));
	REQUIRE_OK(ctrl_off(h));
	/* the driver's own bring-up still works */
	REQUIRE_OK(nvme_host_enable(h));
	CHECK(write_verify(h, 1, O.nsid, 8, 8, O.seed));
out:
	nvme_host_close(h);
}

static void case_feat_arbitration(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	uint32_t v = 0x04030203u;	/* HPW 4, MPW 3, LPW 2, AB 3 */
	EXPECT_OK(setf(h, NVME_FEAT_ARBITRATION, v, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_ARBITRATION, NVME_FEAT_SEL_CURRENT, 0, &dw0));
	CHECK_EQ(dw0, v);
out:
	nvme_host_close(h);
}

static void case_feat_power(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0xffff;
	REQUIRE(h);
	uint8_t npss = nvme_host_id_ctrl(h)->npss;
	EXPECT_ST(setf(h, NVME_FEAT_POWER_MGMT, npss + 1u, NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(setf(h, NVME_FEAT_POWER_MGMT, 31, NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_OK(setf(h, NVME_FEAT_POWER_MGMT, 0, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_POWER_MGMT, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0x1f, 0);
out:
	nvme_host_close(h);
}

static void case_feat_temp(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	EXPECT_OK(setf(h, NVME_FEAT_TEMP_THRESH, 350, NULL));		/* over, composite */
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0xffff, 350);
	EXPECT_OK(setf(h, NVME_FEAT_TEMP_THRESH, 260 | (1u << 20), NULL));	/* under */
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, 0, 1u << 20, &dw0));
	CHECK_EQ(dw0 & 0xffff, 260);
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0xffff, 350);
	/* reserved TMPSEL / THSEL values */
	EXPECT_ST(setf(h, NVME_FEAT_TEMP_THRESH, 300 | (9u << 16), NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(setf(h, NVME_FEAT_TEMP_THRESH, 300 | (2u << 20), NULL), 0, NVME_SC_INVALID_FIELD);
out:
	nvme_host_close(h);
}

/* Volatile Write Cache: after a reset the current value is the default one
 * (the feature is not saveable); set and get follow. */
static void case_feat_vwc(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t cur = 0, def = 0;
	REQUIRE(h);
	bool present = nvme_host_id_ctrl(h)->vwc & 1;
	EXPECT_OK(getf(h, NVME_FEAT_VOLATILE_WC, NVME_FEAT_SEL_CURRENT, 0, &cur));
	EXPECT_OK(getf(h, NVME_FEAT_VOLATILE_WC, NVME_FEAT_SEL_DEFAULT, 0, &def));
	diag("VWC present %d, current %u, default %u", present, cur, def);
	CHECK_EQ(cur & 1, def & 1);
	if (!present) {
		CHECK_EQ(cur & 1, 0);
		goto out;
	}
	EXPECT_OK(setf(h, NVME_FEAT_VOLATILE_WC, 0, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_VOLATILE_WC, 0, 0, &cur));
	CHECK_EQ(cur & 1, 0);
	EXPECT_OK(setf(h, NVME_FEAT_VOLATILE_WC, 1, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_VOLATILE_WC, 0, 0, &cur));
	CHECK_EQ(cur & 1, 1);
	CHECK(write_verify(h, 1, O.nsid, 16, 8, O.seed));
	EXPECT_OK(io(h, 1, NVME_CMD_FLUSH, O.nsid, 0, 0, NULL, 0));
out:
	nvme_host_close(h);
}

static void case_feat_irq_coalesce(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	EXPECT_OK(setf(h, NVME_FEAT_IRQ_COALESCE, 0x0103, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_IRQ_COALESCE, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0xffff, 0x0103);
	CHECK(write_verify(h, 1, O.nsid, 24, 8, O.seed));
	EXPECT_OK(setf(h, NVME_FEAT_IRQ_COALESCE, 0, NULL));
out:
	nvme_host_close(h);
}

static void case_feat_irq_config(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	EXPECT_OK(getf(h, NVME_FEAT_IRQ_CONFIG, 0, 1, &dw0));
	CHECK_EQ(dw0 & 0xffff, 1);
	EXPECT_OK(setf(h, NVME_FEAT_IRQ_CONFIG, 1u | (1u << 16), NULL));
	EXPECT_OK(getf(h, NVME_FEAT_IRQ_CONFIG, 0, 1, &dw0));
	CHECK_EQ(dw0, 1u | (1u << 16));
	/* a vector the function does not have (MSI-X tables hold at most 2048) */
	EXPECT_ST(setf(h, NVME_FEAT_IRQ_CONFIG, 2048, NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(getf(h, NVME_FEAT_IRQ_CONFIG, 0, 0xffff, &dw0), 0, NVME_SC_INVALID_FIELD);
	CHECK(write_verify(h, 1, O.nsid, 32, 8, O.seed));
out:
	nvme_host_close(h);
}

static void case_feat_async_event(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	EXPECT_OK(setf(h, NVME_FEAT_ASYNC_EVENT, 0x1ff, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_ASYNC_EVENT, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0x1ff, 0x1ff);
	EXPECT_OK(setf(h, NVME_FEAT_ASYNC_EVENT, 0x100, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_ASYNC_EVENT, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0x1ff, 0x100);
out:
	nvme_host_close(h);
}

static void case_feat_timestamp(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *ts = NULL;
	REQUIRE(h);
	CHECK(nvme_host_id_ctrl(h)->oncs & (1u << 6));
	ts = xalloc(h, 4096, 4096, NULL);
	REQUIRE(ts);
	uint64_t t = 1700000000000ull;	/* ms since 1970 */
	memset(ts, 0, 8);
	memcpy(ts, &t, 6);
	REQUIRE_OK(nvme_host_set_features(h, FEAT_TIMESTAMP, false, 0, 0, ts, 8, NULL));
	sleep_ms(120);
	memset(ts, 0, 8);
	REQUIRE_OK(nvme_host_get_features(h, FEAT_TIMESTAMP, 0, 0, 0, ts, 8, NULL));
	uint64_t got = 0;
	memcpy(&got, ts, 6);
	diag("timestamp set %llu, read %llu, attributes 0x%02x", (unsigned long long)t,
	     (unsigned long long)got, ts[6]);
	CHECK(got >= t + 100);
	CHECK(got <= t + 10000);
	CHECK_EQ((ts[6] >> 1) & 7, 1);		/* origin: set by Set Features */
	sleep_ms(30);
	uint64_t got2 = 0;
	REQUIRE_OK(nvme_host_get_features(h, FEAT_TIMESTAMP, 0, 0, 0, ts, 8, NULL));
	memcpy(&got2, ts, 6);
	CHECK(got2 > got);
out:
	if (h)
		nvme_host_free(h, ts);
	nvme_host_close(h);
}

/* Host Behavior Support (FID 16h, NVMe 1.4): a 512-byte structure whose
 * byte 0 is ACRE; Linux and SPDK's nvme_compliance read it. */
static void case_feat_host_behavior(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *hb = NULL;
	REQUIRE(h);
	hb = xalloc(h, 4096, 4096, NULL);
	REQUIRE(hb);
	memset(hb, 0xee, 512);
	REQUIRE_OK(nvme_host_get_features(h, 0x16, 0, 0, 0, hb, 512, NULL));
	for (int i = 0; i < 512; i++)
		CHECK_EQ(hb[i], 0);		/* ACRE off, the rest reserved */
	memset(hb, 0, 512);
	hb[0] = 1;
	REQUIRE_OK(nvme_host_set_features(h, 0x16, false, 0, 0, hb, 512, NULL));
	memset(hb, 0xee, 512);
	REQUIRE_OK(nvme_host_get_features(h, 0x16, 0, 0, 0, hb, 512, NULL));
	CHECK_EQ(hb[0], 1);
	memset(hb, 0xee, 512);
	REQUIRE_OK(nvme_host_get_features(h, 0x16, 1, 0, 0, hb, 512, NULL));	/* default */
	CHECK_EQ(hb[0], 0);
	memset(hb, 0, 512);
	hb[0] = 2;				/* not a valid ACRE value */
	EXPECT_ST(nvme_host_set_features(h, 0x16, false, 0, 0, hb, 512, NULL), 0, NVME_SC_INVALID_FIELD);
	memset(hb, 0xee, 512);
	REQUIRE_OK(nvme_host_get_features(h, 0x16, 0, 0, 0, hb, 512, NULL));
	CHECK_EQ(hb[0], 1);			/* the refused Set changed nothing */
out:
	if (h)
		nvme_host_free(h, hb);
	nvme_host_close(h);
}

static int keep_alive(struct nvme_host *h)
{
	struct nvme_sqe s = { .opc = NVME_ADM_KEEP_ALIVE };
	return nvme_host_admin(h, &s, NULL, 0, NULL);
}

/* KATO and Keep Alive exist only when Identify KAS says so (KAS 0: Keep
 * Alive not supported, so its command and feature are invalid). */
static void case_feat_kato(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	uint16_t kas = id_kas(nvme_host_id_ctrl(h));
	diag("KAS %u", kas);
	if (!kas) {
		EXPECT_ST(keep_alive(h), 0, NVME_SC_INVALID_OPCODE);
		EXPECT_ST(setf(h, FEAT_KATO, 5000, NULL), 0, NVME_SC_INVALID_FIELD);
		goto out;
	}
	uint32_t kato = 50u * kas * 100u;	/* a multiple of the granularity */
	EXPECT_OK(setf(h, FEAT_KATO, kato, NULL));
	EXPECT_OK(getf(h, FEAT_KATO, 0, 0, &dw0));
	CHECK_EQ(dw0, kato);
	EXPECT_OK(keep_alive(h));
	EXPECT_OK(setf(h, FEAT_KATO, 0, NULL));
	EXPECT_OK(getf(h, FEAT_KATO, 0, 0, &dw0));
	CHECK_EQ(dw0, 0);
out:
	nvme_host_close(h);
}

/* Keep Alive: a timer that is fed does not expire; one that is not fed
 * does, and the controller reports a fatal status (CSTS.CFS); a reset
 * recovers. */
static void case_keep_alive(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t csts = 0;
	REQUIRE(h);
	uint16_t kas = id_kas(nvme_host_id_ctrl(h));
	if (!kas) {
		EXPECT_ST(keep_alive(h), 0, NVME_SC_INVALID_OPCODE);
		goto out;
	}
	EXPECT_OK(keep_alive(h));
	uint32_t kato = 10u * kas * 100u;	/* 1 s with KAS 1 */
	REQUIRE_OK(setf(h, FEAT_KATO, kato, NULL));
	int64_t end = now_ms() + 2 * (int64_t)kato;
	while (now_ms() < end) {
		EXPECT_OK(keep_alive(h));
		sleep_ms((int)kato / 10);
	}
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	CHECK_EQ(csts & NVME_CSTS_CFS, 0);
	CHECK(write_verify(h, 1, O.nsid, 40, 8, O.seed));
	/* stop feeding it */
	end = now_ms() + 3 * (int64_t)kato + 2000;
	do {
		sleep_ms(20);
		REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	} while (!(csts & NVME_CSTS_CFS) && now_ms() < end);
	CHECK(csts & NVME_CSTS_CFS);
	REQUIRE_OK(nvme_host_reset(h));
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	CHECK_EQ(csts & NVME_CSTS_CFS, 0);
	uint32_t dw0 = 1;
	EXPECT_OK(getf(h, FEAT_KATO, 0, 0, &dw0));
	CHECK_EQ(dw0, 0);	/* back to its default after the reset */
	CHECK(write_verify(h, 1, O.nsid, 40, 8, O.seed + 1));
out:
	nvme_host_close(h);
}

/* No feature is saveable; Get Features SEL 11b (supported capabilities),
 * 10b (saved = default for a non-saveable feature), bad feature IDs. */
static void case_feat_save(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0, def = 0;
	REQUIRE(h);
	EXPECT_ST(nvme_host_set_features(h, NVME_FEAT_ARBITRATION, true, 0, 0, NULL, 0, NULL), 1,
		  NVME_SC_FEATURE_NOT_SAVEABLE);
	EXPECT_ST(nvme_host_set_features(h, NVME_FEAT_TEMP_THRESH, true, 0, 340, NULL, 0, NULL), 1,
		  NVME_SC_FEATURE_NOT_SAVEABLE);
	static const uint8_t fids[] = { NVME_FEAT_ARBITRATION, NVME_FEAT_POWER_MGMT, NVME_FEAT_TEMP_THRESH,
					NVME_FEAT_VOLATILE_WC, NVME_FEAT_NUM_QUEUES, NVME_FEAT_IRQ_COALESCE,
					NVME_FEAT_ASYNC_EVENT };
	for (size_t i = 0; i < sizeof(fids); i++) {
		dw0 = 0xffffffffu;
		int st = getf(h, fids[i], NVME_FEAT_SEL_CAPS, 0, &dw0);
		if (st) {
			FAIL("Get Features FID 0x%02x SEL 3: %s", fids[i], st_str(st));
			continue;
		}
		if (dw0 & 1)
			FAIL("FID 0x%02x reported saveable (dw0 0x%x)", fids[i], dw0);
		if (dw0 & ~7u)
			FAIL("FID 0x%02x capabilities 0x%x use reserved bits", fids[i], dw0);
	}
	/* saved value of a feature that is not saveable: the default one, not
	 * the current one */
	EXPECT_OK(getf(h, NVME_FEAT_ARBITRATION, NVME_FEAT_SEL_DEFAULT, 0, &def));
	EXPECT_OK(setf(h, NVME_FEAT_ARBITRATION, def ^ 0x01010102u, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_ARBITRATION, NVME_FEAT_SEL_SAVED, 0, &dw0));
	CHECK_EQ(dw0, def);
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, NVME_FEAT_SEL_DEFAULT, 0, &def));
	EXPECT_OK(setf(h, NVME_FEAT_TEMP_THRESH, def + 5, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, NVME_FEAT_SEL_SAVED, 0, &dw0));
	CHECK_EQ(dw0, def);
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, NVME_FEAT_SEL_CURRENT, 0, &dw0));
	CHECK_EQ(dw0, def + 5);
	EXPECT_ST(getf(h, 0x00, 0, 0, &dw0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(getf(h, 0x77, 0, 0, &dw0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(setf(h, 0x77, 0, NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(getf(h, NVME_FEAT_ARBITRATION, 4, 0, &dw0), 0, NVME_SC_INVALID_FIELD);
out:
	nvme_host_close(h);
}

/* ---- log pages ------------------------------------------------------------------------------ */

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

static void case_logs(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *log = NULL, *buf = NULL;
	REQUIRE(h);
	const struct nvme_id_ctrl *id = nvme_host_id_ctrl(h);
	log = xalloc(h, 4096, 4096, NULL);
	buf = xalloc(h, 20 * 131072, 4096, NULL);
	REQUIRE(log && buf);

	/* error information: ELPE+1 entries of 64 bytes (always empty here) */
	EXPECT_OK(nvme_host_get_log_page(h, NVME_LOG_ERROR, 0, 0, false, log, 64));
	EXPECT_OK(nvme_host_get_log_page(h, NVME_LOG_ERROR, 0, 0, false, log, 64u * (id->elpe + 1u)));

	/* firmware slot information */
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_FW_SLOT, 0, 0, false, log, 512));
	CHECK_EQ(log[0] & 7, 1);
	CHECK(log[8] >= 0x20 && log[8] < 0x7f);

	/* changed namespace list */
	EXPECT_OK(nvme_host_get_log_page(h, NVME_LOG_CHANGED_NS, 0, 0, false, log, 4096));

	/* commands supported and effects */
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_CMD_EFFECTS, 0, 0, false, log, 4096));
	uint32_t e;
	memcpy(&e, log + 4 * NVME_ADM_IDENTIFY, 4);
	CHECK(e & 1);
	memcpy(&e, log + 4 * NVME_ADM_GET_LOG_PAGE, 4);
	CHECK(e & 1);
	memcpy(&e, log + 4 * NVME_ADM_FORMAT_NVM, 4);
	CHECK_EQ(e & 1, 0);
	memcpy(&e, log + 1024 + 4 * NVME_CMD_WRITE, 4);
	CHECK_EQ(e & 3, 3);	/* CSUPP, LBCC */
	memcpy(&e, log + 1024 + 4 * NVME_CMD_READ, 4);
	CHECK(e & 1);
	memcpy(&e, log + 1024 + 4 * NVME_CMD_WRITE_UNC, 4);
	CHECK_EQ(e & 1, 0);

	/* SMART / health: host read/write commands and data units grow */
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 0, false, log, 512));
	uint64_t du_r0 = le64_at(log + 32), du_w0 = le64_at(log + 48);
	uint64_t hr0 = le64_at(log + 64), hw0 = le64_at(log + 80);
	CHECK(log[1] | log[2]);			/* a composite temperature */
	uint32_t nlb = 256;			/* 128 KiB per command with 512 B blocks */
	if ((uint64_t)nlb * bs() > nvme_host_max_xfer(h))
		nlb = nvme_host_max_xfer(h) / bs();
	uint32_t cmd_bytes = nlb * bs();
	pattern_fill(buf, 4096, 20 * nlb, bs(), O.seed);
	for (int i = 0; i < 20; i++)
		REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 4096 + (uint64_t)i * nlb, nlb,
			      buf + (size_t)i * cmd_bytes, 0));
	for (int i = 0; i < 7; i++)
		REQUIRE_OK(io(h, 1, NVME_CMD_READ, O.nsid, 4096 + (uint64_t)i * nlb, nlb,
			      buf + (size_t)i * cmd_bytes, 0));
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 0, false, log, 512));
	uint64_t du_r1 = le64_at(log + 32), du_w1 = le64_at(log + 48);
	uint64_t hr1 = le64_at(log + 64), hw1 = le64_at(log + 80);
	diag("SMART: data units read %llu->%llu written %llu->%llu, reads %llu->%llu writes %llu->%llu",
	     (unsigned long long)du_r0, (unsigned long long)du_r1, (unsigned long long)du_w0,
	     (unsigned long long)du_w1, (unsigned long long)hr0, (unsigned long long)hr1,
	     (unsigned long long)hw0, (unsigned long long)hw1);
	CHECK_EQ(hw1 - hw0, 20);
	CHECK_EQ(hr1 - hr0, 7);
	/* data units: thousands of 512-byte units, rounded up */
	uint64_t wunits = 20ull * cmd_bytes / 512, runits = 7ull * cmd_bytes / 512;
	CHECK(du_w1 - du_w0 >= wunits / 1000 && du_w1 - du_w0 <= wunits / 1000 + 1);
	CHECK(du_r1 - du_r0 >= runits / 1000 && du_r1 - du_r0 <= runits / 1000 + 1);
	/* lifetime counters: a controller reset (which deletes the I/O queues
	 * that counted them) loses nothing */
	REQUIRE_OK(nvme_host_reset(h));
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 0, false, log, 512));
	diag("SMART after a reset: data units read %llu written %llu, reads %llu writes %llu",
	     (unsigned long long)le64_at(log + 32), (unsigned long long)le64_at(log + 48),
	     (unsigned long long)le64_at(log + 64), (unsigned long long)le64_at(log + 80));
	CHECK(le64_at(log + 32) >= du_r1);
	CHECK(le64_at(log + 48) >= du_w1);
	CHECK_EQ(le64_at(log + 64), hr1);
	CHECK_EQ(le64_at(log + 80), hw1);

	/* an undefined log page, and an offset past the end of one */
	EXPECT_ST(nvme_host_get_log_page(h, 0x20, 0, 0, false, log, 512), 1, NVME_SC_INVALID_LOG_PAGE);
	EXPECT_ST(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 1024, false, log, 512), 0,
		  NVME_SC_INVALID_FIELD);
out:
	if (h) {
		nvme_host_free(h, log);
		nvme_host_free(h, buf);
	}
	nvme_host_close(h);
}

/* ---- queue management ------------------------------------------------------------------- */

static void case_queues(void)
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

static void case_cq_backlog(void)
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
	int64_t end = now_ms() + 5000;
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

static int poll_until(struct nvme_host *h, uint16_t qid, struct nvme_host_cmd *cmd, int ms)
{
	int64_t end = now_ms() + ms;
	while (!cmd->completed && now_ms() < end) {
		int n = nvme_host_poll(h, qid, 0);
		if (n < 0 && n != -EPROTO)
			return n;
		if (!cmd->completed)
			sleep_ms(1);
	}
	return cmd->completed ? 0 : -ETIMEDOUT;
}

static void case_aer_limit(void)
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

static void case_abort(void)
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

static void case_dbbuf(void)
{
	struct open_opts oo = { .shadow = O.mode != MODE_MMAP, .queues = 2 };
	struct nvme_host *h = open_ctrl(&oo);
	uint8_t *buf = NULL;
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
out:
	if (h)
		nvme_host_free(h, buf);
	nvme_host_close(h);
}

/* ---- firmware -------------------------------------------------------------------------------- */

static int fw_commit(struct nvme_host *h, unsigned fs, unsigned ca)
{
	struct nvme_sqe s = { .opc = NVME_ADM_FW_COMMIT, .cdw10 = (fs & 7) | ((ca & 7) << 3) };
	return nvme_host_admin(h, &s, NULL, 0, NULL);
}

static void case_firmware(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *img = NULL;
	REQUIRE(h);
	unsigned slots = (nvme_host_id_ctrl(h)->frmw >> 1) & 7;
	img = xalloc(h, 8192, 4096, NULL);
	REQUIRE(img);
	memset(img, 0x5a, 8192);
	struct nvme_sqe s = { .opc = NVME_ADM_FW_DOWNLOAD, .cdw10 = 1023, .cdw11 = 0 };
	EXPECT_OK(nvme_host_admin(h, &s, img, 4096, NULL));
	s.cdw11 = 1024;		/* OFST in dwords */
	EXPECT_OK(nvme_host_admin(h, &s, img + 4096, 4096, NULL));
	/* CA 000b: replace the image in slot 1 (not activated): refused here */
	EXPECT_ST(fw_commit(h, 1, 0), 1, NVME_SC_INVALID_FW_IMAGE);
	/* CA 010b: activate the existing image of slot 1 at the next reset */
	EXPECT_OK(fw_commit(h, 1, 2));
	/* a slot number above the number of slots */
	if (slots < 7)
		EXPECT_ST(fw_commit(h, slots + 1, 2), 1, NVME_SC_INVALID_FW_SLOT);
	/* an existing slot without an image: nothing to activate */
	if (slots >= 2)
		EXPECT_ST(fw_commit(h, 2, 2), 1, NVME_SC_INVALID_FW_IMAGE);
	uint8_t log[512];
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_FW_SLOT, 0, 0, false, log, sizeof(log)));
	CHECK_EQ(log[0] & 7, 1);
out:
	if (h)
		nvme_host_free(h, img);
	nvme_host_close(h);
}

/* ---- I/O -------------------------------------------------------------------------------------- */

static void case_io_basic(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *b = NULL, *r = NULL;
	REQUIRE(h);
	const struct nvme_id_ctrl *id = nvme_host_id_ctrl(h);
	const uint32_t n = 64;
	b = xalloc(h, (size_t)n * bs(), 4096, NULL);
	r = xalloc(h, (size_t)n * bs(), 4096, NULL);
	REQUIRE(b && r);
	/* write / read at several places, the last blocks included */
	uint64_t lbas[] = { 0, 1, 7, 4095, 65536, O.nsze - n };
	for (size_t i = 0; i < sizeof(lbas) / sizeof(lbas[0]); i++)
		CHECK(write_verify(h, 1, O.nsid, lbas[i], i == 1 ? 1 : n, O.seed + (uint32_t)i));
	/* FUA write, flush */
	pattern_fill(b, 200, n, bs(), O.seed + 9);
	EXPECT_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 200, n, b, NVME_HOST_F_FUA));
	EXPECT_OK(io(h, 1, NVME_CMD_FLUSH, O.nsid, 0, 0, NULL, 0));
	CHECK(read_check(h, 1, O.nsid, 200, n, O.seed + 9));
	/* Write Zeroes */
	if (id->oncs & NVME_ONCS_WRITE_ZEROES) {
		memset(r, 0xff, (size_t)n * bs());
		EXPECT_OK(io(h, 1, NVME_CMD_WRITE_ZEROES, O.nsid, 208, 16, NULL, 0));
		EXPECT_OK(io(h, 1, NVME_CMD_READ, O.nsid, 200, n, r, 0));
		CHECK(pattern_check(r, 200, 8, bs(), O.seed + 9) < 0);
		CHECK(all_byte(r + 8 * bs(), 16 * (size_t)bs(), 0));
		CHECK(pattern_check(r + 24 * bs(), 224, n - 24, bs(), O.seed + 9) < 0);
		EXPECT_ST(io(h, 1, NVME_CMD_WRITE_ZEROES, O.nsid, O.nsze - 1, 2, NULL, 0), 0, NVME_SC_LBA_RANGE);
	}
	/* Dataset Management, deallocate: deallocated blocks read as zeroes
	 * when DLFEAT says so */
	if (id->oncs & NVME_ONCS_DSM) {
		struct nvme_id_ns *ns = (void *)r;
		REQUIRE_OK(nvme_host_identify_ns(h, O.nsid, ns));
		uint8_t dlfeat = ns->dlfeat;
		CHECK(write_verify(h, 1, O.nsid, 300, n, O.seed + 3));
		struct nvme_dsm_range *rg = (void *)b;
		memset(b, 0, 4096);
		rg[0].nlb = 8;
		rg[0].slba = 300;
		rg[1].nlb = 0;		/* an empty range is allowed */
		rg[1].slba = 0;
		rg[2].nlb = 4;
		rg[2].slba = 340;
		EXPECT_OK(io(h, 1, NVME_CMD_DSM, O.nsid, 0, 3, b, NVME_HOST_F_DSM_AD));
		if ((dlfeat & 7) == 1) {
			memset(r, 0xff, (size_t)n * bs());
			EXPECT_OK(io(h, 1, NVME_CMD_READ, O.nsid, 300, n, r, 0));
			CHECK(all_byte(r, 8 * (size_t)bs(), 0));
			CHECK(pattern_check(r + 8 * bs(), 308, 32, bs(), O.seed + 3) < 0);
			CHECK(all_byte(r + 40 * bs(), 4 * (size_t)bs(), 0));
			CHECK(pattern_check(r + 44 * bs(), 344, n - 44, bs(), O.seed + 3) < 0);
		} else {
			diag("DLFEAT 0x%x: deallocated blocks are not defined to read as zeroes", dlfeat);
		}
		/* a range out of the namespace: LBA Out of Range, nothing changed */
		CHECK(write_verify(h, 1, O.nsid, 400, 8, O.seed + 4));
		memset(b, 0, 4096);
		rg[0].nlb = 8;
		rg[0].slba = 400;
		rg[1].nlb = 8;
		rg[1].slba = O.nsze - 4;
		EXPECT_ST(io(h, 1, NVME_CMD_DSM, O.nsid, 0, 2, b, NVME_HOST_F_DSM_AD), 0, NVME_SC_LBA_RANGE);
		CHECK(read_check(h, 1, O.nsid, 400, 8, O.seed + 4));
	}
out:
	if (h) {
		nvme_host_free(h, b);
		nvme_host_free(h, r);
	}
	nvme_host_close(h);
}

/* Compare: match, mismatch (Compare Failure, SCT 2 SC 85h). */
static void case_compare(void)
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

static void case_fused(void)
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
static void case_fused_race(void)
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

/* Read back what was written, at many buffer alignments and PRP shapes. */
static void case_io_align(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *big = NULL, *lists = NULL;
	uint64_t big_iova = 0, lists_iova = 0;
	REQUIRE(h);
	uint32_t maxb = nvme_host_max_xfer(h);
	diag("max transfer %u bytes", maxb);
	big = xalloc(h, (size_t)maxb + 3 * 4096, 4096, &big_iova);
	lists = xalloc(h, 4 * 4096, 4096, &lists_iova);
	REQUIRE(big && lists);
	struct { size_t off; uint32_t bytes; } shapes[] = {
		{ 0, 512 },		/* one block, PRP1 only */
		{ 0x200, 512 },		/* sub-page at an offset */
		{ 0xf00, 512 },		/* one block across a page boundary: PRP1 + PRP2 */
		{ 0x600, 4608 },	/* unaligned, two pages */
		{ 0x204, 8704 },	/* unaligned, three pages: PRP list */
		{ 0, 65536 },
		{ 0x40, 65536 + 4096 },
		{ 0, 0 },		/* MDTS bytes, page aligned */
		{ 0x800, 0 },		/* MDTS bytes at an offset: one more page */
	};
	uint64_t lba = 10000;
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		uint32_t bytes = shapes[i].bytes ? shapes[i].bytes : maxb;
		bytes -= bytes % bs();
		uint32_t nlb = bytes / bs();
		uint8_t *p = big + shapes[i].off;
		pattern_fill(p, lba, nlb, bs(), O.seed + (uint32_t)i);
		int st = io(h, 1, NVME_CMD_WRITE, O.nsid, lba, nlb, p, 0);
		if (st) {
			FAIL("write shape %zu (offset 0x%zx, %u bytes): %s", i, shapes[i].off, bytes, st_str(st));
			continue;
		}
		memset(big, 0, (size_t)maxb + 3 * 4096);
		st = io(h, 1, NVME_CMD_READ, O.nsid, lba, nlb, p, 0);
		if (st)
			FAIL("read shape %zu: %s", i, st_str(st));
		else if (pattern_check(p, lba, nlb, bs(), O.seed + (uint32_t)i) >= 0)
			FAIL("shape %zu (offset 0x%zx, %u bytes) reads back wrong", i, shapes[i].off, bytes);
		/* read it again through another shape: a page-aligned buffer */
		CHECK(read_check(h, 1, O.nsid, lba, nlb, O.seed + (uint32_t)i));
		lba += nlb + 8;
	}

	/* scattered pieces: [tail of a page][a whole page elsewhere][head of a page] */
	{
		struct nvme_host_sg sg[3] = {
			{ big_iova + 4096 - 1024, 1024 },
			{ big_iova + 3 * 4096, 4096 },
			{ big_iova + 6 * 4096, 1024 },
		};
		uint8_t *src = malloc(6144);
		pattern_fill(src, 20000, 12, bs(), O.seed);
		memcpy(big + 4096 - 1024, src, 1024);
		memcpy(big + 3 * 4096, src + 1024, 4096);
		memcpy(big + 6 * 4096, src + 5120, 1024);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_WRITE, O.nsid, 20000, 12, sg, 3, 0));
		CHECK(read_check(h, 1, O.nsid, 20000, 12, O.seed));
		memset(big, 0, 7 * 4096);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_READ, O.nsid, 20000, 12, sg, 3, 0));
		CHECK(!memcmp(big + 4096 - 1024, src, 1024) && !memcmp(big + 3 * 4096, src + 1024, 4096) &&
		      !memcmp(big + 6 * 4096, src + 5120, 1024));
		free(src);
	}

	/* a chained PRP list built by hand: the list starts 3 entries before the
	 * end of a page, its last entry points to the next list page */
	{
		const uint32_t pages = 8, nlb = pages * 4096 / bs();
		uint64_t *l1 = (uint64_t *)(lists + 4096 - 3 * 8);
		uint64_t *l2 = (uint64_t *)(lists + 2 * 4096);
		/* data pages in a scrambled order */
		static const int order[8] = { 0, 5, 2, 7, 1, 6, 3, 4 };
		l1[0] = big_iova + 4096ull * order[1];
		l1[1] = big_iova + 4096ull * order[2];
		l1[2] = lists_iova + 2 * 4096;		/* chain */
		for (uint32_t k = 3; k < pages; k++)
			l2[k - 3] = big_iova + 4096ull * order[k];
		uint8_t *src = malloc(pages * 4096);
		pattern_fill(src, 30000, nlb, bs(), O.seed + 5);
		for (uint32_t k = 0; k < pages; k++)
			memcpy(big + 4096 * order[k], src + 4096 * k, 4096);
		struct nvme_sqe s = rw_sqe(NVME_CMD_WRITE, O.nsid, 30000, nlb);
		s.dptr.prp1 = big_iova + 4096ull * order[0];
		s.dptr.prp2 = lists_iova + 4096 - 3 * 8;
		EXPECT_OK(raw(h, 1, &s, NULL));
		CHECK(read_check(h, 1, O.nsid, 30000, nlb, O.seed + 5));
		memset(big, 0, pages * 4096);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 30000, nlb);
		s.dptr.prp1 = big_iova + 4096ull * order[0];
		s.dptr.prp2 = lists_iova + 4096 - 3 * 8;
		EXPECT_OK(raw(h, 1, &s, NULL));
		for (uint32_t k = 0; k < pages; k++)
			if (memcmp(big + 4096 * order[k], src + 4096 * k, 4096))
				FAIL("chained PRP read: page %u differs", k);
		free(src);
	}
out:
	if (h) {
		nvme_host_free(h, big);
		nvme_host_free(h, lists);
	}
	nvme_host_close(h);
}

static struct nvme_sgl_desc sgl(uint8_t type, uint64_t addr, uint32_t len)
{
	struct nvme_sgl_desc d;
	memset(&d, 0, sizeof(d));
	d.addr = addr;
	d.len = len;
	d.id = NVME_SGL_ID(type, 0);
	return d;
}

static struct nvme_sqe sgl_sqe(uint8_t opc, uint64_t lba, uint32_t nlb, struct nvme_sgl_desc d)
{
	struct nvme_sqe s = rw_sqe(opc, O.nsid, lba, nlb);
	s.flags = (uint8_t)(NVME_PSDT_SGL_MPTR_BUF << NVME_SQE_PSDT_SHIFT);
	s.dptr.sgl1 = d;
	return s;
}

static void case_io_sgl(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *mem = NULL, *segs = NULL;
	uint64_t mem_iova = 0, segs_iova = 0;
	REQUIRE(h);
	REQUIRE(NVME_SGLS_SUPPORT(nvme_host_id_ctrl(h)->sgls) != NVME_SGLS_NONE);
	mem = xalloc(h, 256 * 1024, 4096, &mem_iova);
	segs = xalloc(h, 4 * 4096, 4096, &segs_iova);
	REQUIRE(mem && segs);

	/* 1 piece */
	pattern_fill(mem + 0x104, 40000, 16, bs(), O.seed);
	EXPECT_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 40000, 16, mem + 0x104, NVME_HOST_F_SGL));
	CHECK(read_check(h, 1, O.nsid, 40000, 16, O.seed));
	memset(mem, 0, 65536);
	EXPECT_OK(io(h, 1, NVME_CMD_READ, O.nsid, 40000, 16, mem + 0x104, NVME_HOST_F_SGL));
	CHECK(pattern_check(mem + 0x104, 40000, 16, bs(), O.seed) < 0);

	/* 3 pieces of odd sizes and places (dword aligned) */
	{
		struct nvme_host_sg sg[3] = {
			{ mem_iova + 0x1004, 1028 }, { mem_iova + 0x5010, 3000 }, { mem_iova + 0x9000, 4164 },
		};
		uint32_t nlb = (1028 + 3000 + 4164) / bs();
		uint8_t *src = malloc((size_t)nlb * bs());
		pattern_fill(src, 41000, nlb, bs(), O.seed + 1);
		memcpy(mem + 0x1004, src, 1028);
		memcpy(mem + 0x5010, src + 1028, 3000);
		memcpy(mem + 0x9000, src + 4028, 4164);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_WRITE, O.nsid, 41000, nlb, sg, 3, NVME_HOST_F_SGL));
		CHECK(read_check(h, 1, O.nsid, 41000, nlb, O.seed + 1));
		memset(mem, 0, 65536);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_READ, O.nsid, 41000, nlb, sg, 3, NVME_HOST_F_SGL));
		CHECK(!memcmp(mem + 0x1004, src, 1028) && !memcmp(mem + 0x5010, src + 1028, 3000) &&
		      !memcmp(mem + 0x9000, src + 4028, 4164));
		free(src);
	}

	/* 100 pieces of one block each, every other 1 KiB */
	{
		struct nvme_host_sg sg[100];
		for (int i = 0; i < 100; i++)
			sg[i] = (struct nvme_host_sg){ mem_iova + (uint64_t)i * 1024 + 64, bs() };
		uint8_t *src = malloc(100 * (size_t)bs());
		pattern_fill(src, 42000, 100, bs(), O.seed + 2);
		for (int i = 0; i < 100; i++)
			memcpy(mem + i * 1024 + 64, src + (size_t)i * bs(), bs());
		EXPECT_OK(io_sg(h, 1, NVME_CMD_WRITE, O.nsid, 42000, 100, sg, 100, NVME_HOST_F_SGL));
		CHECK(read_check(h, 1, O.nsid, 42000, 100, O.seed + 2));
		memset(mem, 0, 128 * 1024);
		EXPECT_OK(io_sg(h, 1, NVME_CMD_READ, O.nsid, 42000, 100, sg, 100, NVME_HOST_F_SGL));
		for (int i = 0; i < 100; i++)
			if (memcmp(mem + i * 1024 + 64, src + (size_t)i * bs(), bs())) {
				FAIL("SGL piece %d of 100 differs", i);
				break;
			}
		free(src);
	}

	/* by hand: Segment -> [data, data, Last Segment] -> [data, data] */
	{
		struct nvme_sgl_desc *s1 = (void *)segs, *s2 = (void *)(segs + 4096);
		s1[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 0x10000, 1024);
		s1[1] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 0x20000, 512);
		s1[2] = sgl(NVME_SGL_TYPE_LAST_SEGMENT, segs_iova + 4096, 32);
		s2[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 0x30000, 1536);
		s2[1] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 0x38000, 1024);
		uint8_t *src = malloc(4096);
		pattern_fill(src, 43000, 8, bs(), O.seed + 3);
		memcpy(mem + 0x10000, src, 1024);
		memcpy(mem + 0x20000, src + 1024, 512);
		memcpy(mem + 0x30000, src + 1536, 1536);
		memcpy(mem + 0x38000, src + 3072, 1024);
		struct nvme_sqe s = sgl_sqe(NVME_CMD_WRITE, 43000, 8,
					    sgl(NVME_SGL_TYPE_SEGMENT, segs_iova, 48));
		EXPECT_OK(raw(h, 1, &s, NULL));
		CHECK(read_check(h, 1, O.nsid, 43000, 8, O.seed + 3));
		free(src);
	}

	/* bit bucket on a read: blocks 1-2 of 4 are dropped */
	{
		CHECK(write_verify(h, 1, O.nsid, 44000, 4, O.seed + 4));
		struct nvme_sgl_desc *s1 = (void *)segs;
		memset(mem, 0xee, 8192);
		s1[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova, bs());
		s1[1] = sgl(NVME_SGL_TYPE_BIT_BUCKET, 0, 2 * bs());
		s1[2] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mem_iova + 4096, bs());
		struct nvme_sqe s = sgl_sqe(NVME_CMD_READ, 44000, 4,
					    sgl(NVME_SGL_TYPE_LAST_SEGMENT, segs_iova, 48));
		EXPECT_OK(raw(h, 1, &s, NULL));
		CHECK(pattern_check(mem, 44000, 1, bs(), O.seed + 4) < 0);
		CHECK(pattern_check(mem + 4096, 44003, 1, bs(), O.seed + 4) < 0);
		CHECK(mem[bs()] == 0xee && mem[4096 + bs()] == 0xee);
	}
out:
	if (h) {
		nvme_host_free(h, mem);
		nvme_host_free(h, segs);
	}
	nvme_host_close(h);
}

/* Bad commands built by hand: each gets its status and the controller
 * keeps serving. */
static void case_io_bad(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *mem = NULL, *aux = NULL;
	uint64_t mi = 0, ai = 0;
	struct nvme_sqe s;
	REQUIRE(h);
	const struct nvme_id_ctrl *id = nvme_host_id_ctrl(h);
	const uint64_t nowhere = 0x4000000000ull;	/* never mapped */
	uint32_t maxb = nvme_host_max_xfer(h);
	mem = xalloc(h, (size_t)maxb + 8 * 4096, 4096, &mi);
	aux = xalloc(h, 4 * 4096, 4096, &ai);
	REQUIRE(mem && aux);
	uint64_t *list = (uint64_t *)aux;
	const uint32_t p3 = 3 * 4096 / bs();		/* three pages of blocks */

	/* PRP: a list entry with an offset; PRP2 (second page) with an offset */
	s = rw_sqe(NVME_CMD_WRITE, O.nsid, 50000, p3);
	s.dptr.prp1 = mi;
	s.dptr.prp2 = ai;
	list[0] = mi + 4096 + 0x200;
	list[1] = mi + 2 * 4096;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_PRP_OFFSET);
	list[0] = mi + 4096;
	list[1] = mi + 2 * 4096 + 0x10;
	s.opc = NVME_CMD_READ;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_PRP_OFFSET);
	s = rw_sqe(NVME_CMD_WRITE, O.nsid, 50000, 8192 / bs());
	s.dptr.prp1 = mi;
	s.dptr.prp2 = mi + 4096 + 0x100;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_PRP_OFFSET);
	/* a PRP list that chains: two entries at the end of a list page, the
	 * last pointing to the next list page, which must be page aligned */
	{
		const uint32_t p4 = 4 * 4096 / bs();
		uint64_t *tail = (uint64_t *)(aux + 4096 - 16), *next = (uint64_t *)(aux + 8192);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 50000, p4);
		s.dptr.prp1 = mi;
		s.dptr.prp2 = ai + 4096 - 16;
		tail[0] = mi + 4096;
		tail[1] = ai + 8192 + 8;	/* chain pointer with an offset */
		next[0] = mi + 2 * 4096;
		next[1] = mi + 3 * 4096;
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_PRP_OFFSET);
		tail[1] = ai + 8192;		/* aligned: the same transfer works */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_SUCCESS);
	}
	/* PRPs into memory the client never shared */
	s = rw_sqe(NVME_CMD_WRITE, O.nsid, 50000, 1);
	s.dptr.prp1 = nowhere;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	s.opc = NVME_CMD_READ;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	s = rw_sqe(NVME_CMD_READ, O.nsid, 50000, p3);
	s.dptr.prp1 = mi;
	s.dptr.prp2 = nowhere;			/* the PRP list itself */
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	list[0] = mi + 4096;
	list[1] = nowhere;			/* a data page of the list */
	s.dptr.prp2 = ai;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);

	/* SGL */
	if (NVME_SGLS_SUPPORT(id->sgls) != NVME_SGLS_NONE) {
		struct nvme_sgl_desc *seg = (void *)(aux + 4096), *seg2 = (void *)(aux + 8192);
		/* descriptor types the controller does not support: Keyed Data
		 * Block (4h, SGLS bit 2 clear), a reserved type (Eh) */
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(0x4, mi, bs()));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_SGL_DESC_TYPE_INVALID);
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(0xe, mi, bs()));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_SGL_DESC_TYPE_INVALID);
		/* a Segment descriptor that is not the last of its segment:
		 * Invalid Number of SGL Descriptors */
		seg[0] = sgl(NVME_SGL_TYPE_SEGMENT, ai + 8192, 16);
		seg[1] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs());
		seg2[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi + 4096, bs());
		s = sgl_sqe(NVME_CMD_READ, 50000, 2, sgl(NVME_SGL_TYPE_SEGMENT, ai + 4096, 32));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_NUM_SGL_DESC);
		/* the last segment holding a (Last) Segment descriptor: Invalid SGL
		 * Segment Descriptor */
		seg[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs());
		seg[1] = sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 8192, 16);
		s = sgl_sqe(NVME_CMD_READ, 50000, 2, sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 4096, 32));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_SGL_SEG_DESC);
		/* a Last Segment descriptor of length 0, or not a multiple of 16 */
		seg[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs());
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 4096, 0));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_SGL_SEG_DESC);
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 4096, 24));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_SGL_SEG_DESC);
		/* too short for the transfer: Data SGL Length Invalid */
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs() / 2));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_SGL_LEN_INVALID);
		seg[0] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, bs());
		seg[1] = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi + 4096, bs() - 4);
		s = sgl_sqe(NVME_CMD_WRITE, 50000, 2, sgl(NVME_SGL_TYPE_LAST_SEGMENT, ai + 4096, 32));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_SGL_LEN_INVALID);
		/* longer than the transfer (SGLS bit 18 is clear) */
		s = sgl_sqe(NVME_CMD_READ, 50000, 1, sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, 2 * bs()));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_SGL_LEN_INVALID);
		/* a data block outside the client's memory */
		s = sgl_sqe(NVME_CMD_WRITE, 50000, 1, sgl(NVME_SGL_TYPE_DATA_BLOCK, nowhere, bs()));
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		/* SGLs on an admin command (PCIe admin commands use PRPs only) */
		struct nvme_sqe a = { .opc = NVME_ADM_IDENTIFY, .cdw10 = NVME_CNS_CTRL };
		a.flags = (uint8_t)(NVME_PSDT_SGL_MPTR_BUF << NVME_SQE_PSDT_SHIFT);
		a.dptr.sgl1 = sgl(NVME_SGL_TYPE_DATA_BLOCK, mi, 4096);
		EXPECT_ST(raw(h, 0, &a, NULL), 0, NVME_SC_INVALID_FIELD);
	}
	/* PSDT 11b is reserved */
	s = rw_sqe(NVME_CMD_READ, O.nsid, 50000, 1);
	s.flags = (uint8_t)(3u << NVME_SQE_PSDT_SHIFT);
	s.dptr.prp1 = mi;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_FIELD);

	/* namespaces (NVMe 1.4 6.1, and Figure 104 NSID): 0 is an invalid NSID
	 * (Invalid Namespace or Format); an inactive one, valid (1..NN) but not
	 * attached, is Invalid Field in Command; FFFFFFFFh (broadcast) which
	 * Read/Write do not take: Invalid Namespace or Format */
	EXPECT_ST(io(h, 1, NVME_CMD_READ, 0, 0, 1, mem, 0), 0, NVME_SC_INVALID_NS);
	EXPECT_ST(io(h, 1, NVME_CMD_READ, O.inactive, 0, 1, mem, 0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(io(h, 1, NVME_CMD_WRITE, O.inactive, 0, 1, mem, 0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(io(h, 1, NVME_CMD_FLUSH, O.inactive, 0, 0, NULL, 0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(io(h, 1, NVME_CMD_READ, NVME_NSID_ALL, 0, 1, mem, 0), 0, NVME_SC_INVALID_NS);
	if (O.nn >= 0 && O.nn < 0xfffffffe)
		EXPECT_ST(io(h, 1, NVME_CMD_READ, (uint32_t)O.nn + 1, 0, 1, mem, 0), 0, NVME_SC_INVALID_NS);
	/* LBA range */
	EXPECT_ST(io(h, 1, NVME_CMD_READ, O.nsid, O.nsze, 1, mem, 0), 0, NVME_SC_LBA_RANGE);
	EXPECT_ST(io(h, 1, NVME_CMD_WRITE, O.nsid, O.nsze - 1, 2, mem, 0), 0, NVME_SC_LBA_RANGE);
	s = rw_sqe(NVME_CMD_READ, O.nsid, 1ull << 63, 1);
	s.dptr.prp1 = mi;
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_LBA_RANGE);
	/* above MDTS, with a well-formed PRP list for all of it */
	if (id->mdts) {
		uint32_t lim = 4096u << id->mdts;
		uint32_t nlb = lim / bs() + 1;
		uint64_t *l = (uint64_t *)(aux + 4096);
		uint32_t pages = (nlb * bs() + 4095) / 4096;
		REQUIRE(pages - 1 <= 512 && (size_t)pages * 4096 <= (size_t)maxb + 8 * 4096);
		for (uint32_t k = 1; k < pages; k++)
			l[k - 1] = mi + 4096ull * k;
		s = rw_sqe(NVME_CMD_READ, O.nsid, 50000, nlb);
		s.dptr.prp1 = mi;
		s.dptr.prp2 = ai + 4096;
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_FIELD);
	}
	/* opcodes: reserved I/O and admin opcodes, Write Uncorrectable (ONCS bit 1 clear) */
	s = rw_sqe(0x7e, O.nsid, 0, 1);
	EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_OPCODE);
	if (!(id->oncs & NVME_ONCS_WRITE_UNC)) {
		s = rw_sqe(NVME_CMD_WRITE_UNC, O.nsid, 0, 1);
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_INVALID_OPCODE);
	}
	struct nvme_sqe a2 = { .opc = 0x3f };
	EXPECT_ST(raw(h, 0, &a2, NULL), 0, NVME_SC_INVALID_OPCODE);
	a2.opc = NVME_ADM_NS_MGMT;	/* OACS bit 3 clear */
	EXPECT_ST(raw(h, 0, &a2, NULL), 0, NVME_SC_INVALID_OPCODE);

	/* still serving, admin and I/O */
	CHECK(write_verify(h, 1, O.nsid, 50000, 64, O.seed));
	struct nvme_id_ctrl *idc = (void *)mem;
	EXPECT_OK(nvme_host_identify_ctrl(h, idc));
	struct nvme_host_qstats st;
	if (nvme_host_queue_stats(h, 1, &st) == 0)
		CHECK_EQ(st.bad_cqes, 0);
out:
	if (h) {
		nvme_host_free(h, mem);
		nvme_host_free(h, aux);
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

static void count_done(struct nvme_host_cmd *cmd)
{
	(*(int *)cmd->arg)++;
}

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
			int64_t end = now_ms() + 10000;
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

static void case_inflight2(void)
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

/* ---- interrupts ------------------------------------------------------------------------------ */

static void case_interrupts(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *b = NULL;
	REQUIRE(h);
	REQUIRE(nvme_host_irq_enabled(h, 1));
	int efd = nvme_host_irq_fd(h, 1), afd = nvme_host_irq_fd(h, 0);
	REQUIRE(efd >= 0 && afd >= 0);
	b = xalloc(h, 4096, 4096, NULL);
	REQUIRE(b);
	uint64_t v;
	for (int i = 0; i < 5; i++) {
		while (read(efd, &v, 8) == 8)	/* drain (the fd is non-blocking or empty) */
			;
		struct nvme_host_cmd c;
		pattern_fill(b, 70000 + i, 1, bs(), O.seed);
		REQUIRE_OK(nvme_host_cmd_rw(h, &c, NVME_CMD_WRITE, O.nsid, 70000 + (uint64_t)i, 1, b, 0));
		REQUIRE_OK(nvme_host_submit(h, 1, &c));
		struct pollfd p = { .fd = efd, .events = POLLIN };
		int n = poll(&p, 1, 2000);
		if (n != 1)
			FAIL("I/O completion %d did not signal vector 1 within 2 s", i);
		EXPECT_OK(nvme_host_wait(h, 1, &c, 2000));
	}
	/* the admin queue's vector 0 */
	while (read(afd, &v, 8) == 8)
		;
	struct nvme_host_cmd a;
	memset(&a, 0, sizeof(a));
	a.sqe.opc = NVME_ADM_GET_FEATURES;
	a.sqe.cdw10 = NVME_FEAT_NUM_QUEUES;
	REQUIRE_OK(nvme_host_submit(h, 0, &a));
	struct pollfd p = { .fd = afd, .events = POLLIN };
	if (poll(&p, 1, 2000) != 1)
		FAIL("admin completion did not signal vector 0 within 2 s");
	EXPECT_OK(nvme_host_wait(h, 0, &a, 2000));
	/* waiting on the interrupt alone */
	struct nvme_host_cmd c;
	REQUIRE_OK(nvme_host_cmd_rw(h, &c, NVME_CMD_READ, O.nsid, 70000, 1, b, 0));
	REQUIRE_OK(nvme_host_submit(h, 1, &c));
	int n = nvme_host_wait_irq(h, 1, 2000);
	CHECK(n == 1 || c.completed);
	if (!c.completed)
		EXPECT_OK(nvme_host_wait(h, 1, &c, 2000));
	CHECK(pattern_check(b, 70000, 1, bs(), O.seed) < 0);
out:
	if (h)
		nvme_host_free(h, b);
	nvme_host_close(h);
}

/* Wait up to ms for vector v's PBA bit to read want. */
static bool pending_becomes(struct vfu_client *v, uint32_t vec, bool want, int ms)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		bool pend = !want;
		int rc = vfu_msix_pending(v, vec, &pend);
		if (rc) {
			FAIL("reading the PBA: %s", st_str(rc));
			return false;
		}
		if (pend == want)
			return true;
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
}

/* An eventfd's count if it fires within ms, else 0. */
static uint64_t efd_count(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t n = 0;
	if (poll(&p, 1, ms) == 1 && read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		n = 0;
	return n;
}

/* One write of a block on queue 1, reaped by polling only (so that the
 * queue's eventfd is left for the caller to look at). */
static int write_polled(struct nvme_host *h, uint8_t *b, uint64_t lba)
{
	struct nvme_host_cmd c;
	pattern_fill(b, lba, 1, bs(), O.seed + 40);
	int rc = nvme_host_cmd_rw(h, &c, NVME_CMD_WRITE, O.nsid, lba, 1, b, 0);
	if (!rc)
		rc = nvme_host_submit(h, 1, &c);
	if (!rc)
		rc = poll_until(h, 1, &c, 5000);
	return rc ? rc : c.result;
}

/* Interrupt masking as a VFIO user does it. The MSI-X table in BAR4 is the
 * client's (QEMU emulates it and never writes it): its mask bits change
 * nothing. SET_IRQS ACTION_MASK holds a vector's interrupt in the PBA
 * until ACTION_UNMASK delivers it, once; so does the Function Mask. */
static void case_irq_mask(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *b = NULL;
	REQUIRE(h);
	REQUIRE(nvme_host_irq_enabled(h, 1));
	struct vfu_client *v = nvme_host_vfu(h);
	int efd = nvme_host_irq_fd(h, 1);
	REQUIRE(efd >= 0);
	b = xalloc(h, 4096, 4096, NULL);
	REQUIRE(b);
	struct vfu_msix_info mi;
	REQUIRE_OK(vfu_msix_info(v, &mi));
	CHECK(mi.irq_flags & VFIO_IRQ_INFO_MASKABLE);
	(void)efd_count(efd, 0);

	/* the table's mask bit of vector 1 set (its reset value, which QEMU
	 * never changes): the interrupt comes all the same */
	{
		uint32_t le = htole32(1), ctl = 0;
		uint64_t at = mi.table_off + 16ull * 1 + 12;
		REQUIRE_OK(vfu_region_write(v, mi.table_bar, at, &le, 4, false));
		REQUIRE_OK(vfu_region_read(v, mi.table_bar, at, &ctl, 4));
		CHECK_EQ(le32toh(ctl) & 1, 1);
		EXPECT_OK(write_polled(h, b, 73000));
		CHECK_EQ(efd_count(efd, 5000), 1);
		bool pend = true;
		REQUIRE_OK(vfu_msix_pending(v, 1, &pend));
		CHECK(!pend);
	}
	/* SET_IRQS ACTION_MASK: completion without interrupt, PBA bit set */
	REQUIRE_OK(nvme_host_irq_mask(h, 1, true));
	EXPECT_OK(write_polled(h, b, 73001));
	CHECK(pending_becomes(v, 1, true, 5000));
	EXPECT_OK(write_polled(h, b, 73002));	/* a second one: still one pending interrupt */
	CHECK_EQ(efd_count(efd, 0), 0);
	/* ACTION_UNMASK: delivered exactly once, the PBA bit clears */
	REQUIRE_OK(nvme_host_irq_mask(h, 1, false));
	CHECK_EQ(efd_count(efd, 5000), 1);
	CHECK(pending_becomes(v, 1, false, 0));
	CHECK_EQ(efd_count(efd, 100), 0);
	/* the admin vector was never masked */
	{
		struct nvme_id_ctrl id;
		int afd = nvme_host_irq_fd(h, 0);
		(void)efd_count(afd, 0);
		EXPECT_OK(nvme_host_identify_ctrl(h, &id));
	}
	/* the Function Mask (config space) holds every vector the same way */
	REQUIRE_OK(vfu_msix_function_mask(v, true));
	EXPECT_OK(write_polled(h, b, 73003));
	CHECK(pending_becomes(v, 1, true, 5000));
	CHECK_EQ(efd_count(efd, 0), 0);
	REQUIRE_OK(vfu_msix_function_mask(v, false));
	CHECK_EQ(efd_count(efd, 5000), 1);
	CHECK(pending_becomes(v, 1, false, 0));
	/* and everything written meanwhile is there */
	for (uint64_t lba = 73000; lba <= 73003; lba++)
		CHECK(read_check(h, 1, O.nsid, lba, 1, O.seed + 40));
	check_csts_ok(h, "at the end");
out:
	if (h)
		nvme_host_free(h, b);
	nvme_host_close(h);
}

/* Data pointers into memory the client mapped without a file descriptor
 * (the ROM range of open_ctrl(), as QEMU maps a VM's firmware): the
 * controller cannot reach it and must treat it as memory outside the map,
 * with the status it gives there (Data Transfer Error). */
static void case_fdless_memory(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *mem = NULL, *aux = NULL;
	uint64_t mi = 0, ai = 0;
	struct nvme_sqe s;
	REQUIRE(h);
	const uint64_t nowhere = 0x4000000000ull;	/* never mapped */
	const uint64_t rom = ROM_IOVA + 0x1000;
	mem = xalloc(h, 4 * 4096, 4096, &mi);
	aux = xalloc(h, 4096, 4096, &ai);
	REQUIRE(mem && aux);
	uint64_t *list = (uint64_t *)aux;
	const uint32_t p3 = 3 * 4096 / bs();
	CHECK(write_verify(h, 1, O.nsid, 74000, 8, O.seed + 50));

	/* each shape: first outside the map, then in the fd-less range; the
	 * statuses must be the same, Data Transfer Error */
	const uint64_t where[2] = { nowhere, rom };
	for (int k = 0; k < 2; k++) {
		const char *w = k ? "fd-less" : "unmapped";
		diag("data pointers into %s memory", w);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 74000, 1);
		s.dptr.prp1 = where[k];			/* PRP1, controller writes */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		s.opc = NVME_CMD_WRITE;			/* PRP1, controller reads */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 74000, 8192 / bs());
		s.dptr.prp1 = mi;
		s.dptr.prp2 = where[k];			/* PRP2 as the second page */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 74000, p3);
		s.dptr.prp1 = mi;
		s.dptr.prp2 = where[k];			/* the PRP list itself */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		list[0] = mi + 4096;
		list[1] = where[k];			/* a page of the list */
		s.dptr.prp2 = ai;
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		if (NVME_SGLS_SUPPORT(nvme_host_id_ctrl(h)->sgls) != NVME_SGLS_NONE) {
			s = sgl_sqe(NVME_CMD_WRITE, 74000, 1, sgl(NVME_SGL_TYPE_DATA_BLOCK, where[k], bs()));
			EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		}
		/* an admin command's data there */
		struct nvme_sqe a = { .opc = NVME_ADM_IDENTIFY, .cdw10 = NVME_CNS_CTRL };
		a.dptr.prp1 = where[k];
		EXPECT_ST(raw(h, 0, &a, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	}
	/* a queue ring there: refused as a ring outside the map is */
	{
		int st_out = nvme_host_create_io_cq(h, 7, 15, nowhere, 0, NVME_CQ_PC);
		int st_rom = nvme_host_create_io_cq(h, 7, 15, ROM_IOVA, 0, NVME_CQ_PC);
		CHECK(st_out > 0);
		CHECK_EQ(st_rom, st_out);
		if (st_rom == 0)
			(void)nvme_host_delete_io_cq(h, 7);
	}
	/* nothing of that disturbed the controller or the data */
	CHECK(read_check(h, 1, O.nsid, 74000, 8, O.seed + 50));
	check_csts_ok(h, "after the bad pointers");
	/* the range unmaps (exactly) and maps again */
	{
		struct vfu_client *v = nvme_host_vfu(h);
		REQUIRE_OK(vfu_dma_unmap(v, ROM_IOVA, ROM_SIZE));
		REQUIRE_OK(vfu_dma_map(v, ROM_IOVA, ROM_SIZE, -1, 0, VFU_PROT_READ));
		s = rw_sqe(NVME_CMD_WRITE, O.nsid, 74000, 1);
		s.dptr.prp1 = rom;
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	}
out:
	if (h) {
		nvme_host_free(h, mem);
		nvme_host_free(h, aux);
	}
	nvme_host_close(h);
}

/* ---- controller reset under I/O ------------------------------------------------------------ */

/* The client unmaps guest memory holding live queues and maps it again in
 * pieces, same fd and offsets (QEMU does so under SeaBIOS while the BIOS's
 * NVMe driver has its queues). The controller must never touch the memory
 * while it is gone, and must not give up on it either: CSTS.CFS stays 0
 * and the queues carry on once the memory is back, without a reset. A
 * reset afterwards works as well. */
static void case_remap(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	REQUIRE(h);
	uint64_t iova;
	size_t size;
	nvme_host_mem_base(h, &iova, &size);
	uint8_t *buf = xalloc(h, 64 * 1024, 4096, NULL), *chk = xalloc(h, 64 * 1024, 4096, NULL);
	REQUIRE(buf && chk);
	const uint32_t nblk = 64 * 1024 / bs();
	pattern_fill(buf, 70000, nblk, bs(), O.seed + 20);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 70000, nblk, buf, 0));

	struct vfu_client *v = nvme_host_vfu(h);
	int fd = h->mem->fd;
	REQUIRE_OK(vfu_dma_unmap(v, iova, size));
	check_csts_ok(h, "with the memory gone");
	size_t half = size / 2 & ~(size_t)4095;
	REQUIRE_OK(vfu_dma_map(v, iova, half, fd, 0, VFU_PROT_READ | VFU_PROT_WRITE));
	REQUIRE_OK(vfu_dma_map(v, iova + half, size - half, fd, half, VFU_PROT_READ | VFU_PROT_WRITE));
	check_csts_ok(h, "after the remap");
	/* the same queues go on: I/O and admin */
	memset(chk, 0, 64 * 1024);
	REQUIRE_OK(io(h, 1, NVME_CMD_READ, O.nsid, 70000, nblk, chk, 0));
	if (pattern_check(chk, 70000, nblk, bs(), O.seed + 20) >= 0)
		FAIL("data written before the remap reads back wrong through the same queue");
	{
		struct nvme_id_ctrl id;
		EXPECT_OK(nvme_host_identify_ctrl(h, &id));
	}
	pattern_fill(buf, 71000, nblk, bs(), O.seed + 21);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 71000, nblk, buf, 0));
	/* and a reset brings everything back as well */
	REQUIRE_OK(nvme_host_reset(h));
	memset(chk, 0, 64 * 1024);
	REQUIRE_OK(io(h, 1, NVME_CMD_READ, O.nsid, 71000, nblk, chk, 0));
	if (pattern_check(chk, 71000, nblk, bs(), O.seed + 21) >= 0)
		FAIL("data written after the remap reads back wrong after a reset");
	check_csts_ok(h, "at the end");
out:
	if (h)
		nvme_host_close(h);
}

/* Wait for a command that raced with a DMA_UNMAP of its memory: it was
 * fetched before the unmap (success) or while the memory was going away
 * (Data Transfer Error, as DMA to memory the IOMMU let go of fails on a
 * real device); anything else, or no completion, is wrong. True on
 * success. */
static bool raced_ok(struct nvme_host *h, struct nvme_host_cmd *c, const char *what)
{
	int st = nvme_host_wait(h, 1, c, 5000);
	if (st == 0)
		return true;
	if (!st_is(st, 0, NVME_SC_DATA_XFER_ERROR))
		FAIL("%s, submitted before the unmap: %s, want success or Data Transfer Error", what,
		     st_str(st));
	else
		diag("%s raced with the unmap: Data Transfer Error", what);
	return false;
}

/* As case_remap, with commands on their way: some submitted just before
 * the unmap and not waited for (they race with it), some submitted while
 * the memory is gone (the controller cannot fetch them until it is back),
 * an admin command among them. Those complete once the memory is back,
 * with the right data, and CSTS.CFS stays 0 all along. */
static void case_remap_live(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *wa = NULL, *wb = NULL, *wc = NULL, *wz = NULL, *r1 = NULL, *r2 = NULL;
	REQUIRE(h);
	const uint32_t nblk = 16;
	const size_t len = (size_t)nblk * bs();
	uint64_t iova;
	size_t size;
	nvme_host_mem_base(h, &iova, &size);
	size_t half = size / 2 & ~(size_t)4095;
	uint64_t hi = 0;
	wa = xalloc(h, len, 4096, NULL);
	wb = xalloc(h, len, 4096, NULL);
	wc = xalloc(h, len, 4096, NULL);
	wz = xalloc(h, len, 4096, NULL);
	r1 = xalloc(h, len, 4096, NULL);
	r2 = xalloc(h, len, 4096, NULL);
	REQUIRE(wa && wb && wc && wz && r1 && r2);
	/* the rings and these buffers come first in the arena: all in the
	 * lower half, which is mapped again last (so that nothing is fetched
	 * half-way through the remap) */
	REQUIRE_OK(nvme_host_iova(h, r2 + len - 1, 1, &hi));
	REQUIRE(hi < iova + half);
	pattern_fill(wa, 72000, nblk, bs(), O.seed + 30);
	pattern_fill(wb, 72100, nblk, bs(), O.seed + 31);
	pattern_fill(wc, 72200, nblk, bs(), O.seed + 32);
	pattern_fill(wz, 72100, nblk, bs(), O.seed + 33);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 72000, nblk, wa, 0));
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 72100, nblk, wz, 0));

	struct vfu_client *v = nvme_host_vfu(h);
	int fd = h->mem->fd;
	struct nvme_host_cmd rd1, wr1, rd2, wr2, adm;
	/* right before the unmap, not waited for */
	REQUIRE_OK(nvme_host_cmd_rw(h, &rd1, NVME_CMD_READ, O.nsid, 72000, nblk, r1, 0));
	REQUIRE_OK(nvme_host_cmd_rw(h, &wr1, NVME_CMD_WRITE, O.nsid, 72100, nblk, wb, 0));
	REQUIRE_OK(nvme_host_submit(h, 1, &rd1));
	REQUIRE_OK(nvme_host_submit(h, 1, &wr1));
	REQUIRE_OK(vfu_dma_unmap(v, iova, size));
	check_csts_ok(h, "with the memory gone");
	/* while it is gone */
	REQUIRE_OK(nvme_host_cmd_rw(h, &rd2, NVME_CMD_READ, O.nsid, 72000, nblk, r2, 0));
	REQUIRE_OK(nvme_host_cmd_rw(h, &wr2, NVME_CMD_WRITE, O.nsid, 72200, nblk, wc, 0));
	REQUIRE_OK(nvme_host_submit(h, 1, &rd2));
	REQUIRE_OK(nvme_host_submit(h, 1, &wr2));
	memset(&adm, 0, sizeof(adm));
	adm.sqe.opc = NVME_ADM_GET_FEATURES;
	adm.sqe.cdw10 = NVME_FEAT_NUM_QUEUES;
	REQUIRE_OK(nvme_host_submit(h, 0, &adm));
	/* nothing the controller cannot see completes meanwhile (a bounded
	 * look: the memory is gone, there is nothing to wait for) */
	{
		int64_t end = now_ms() + 200;
		while (now_ms() < end) {
			(void)nvme_host_poll(h, 1, 0);
			(void)nvme_host_poll(h, 0, 0);
			sleep_ms(5);
		}
		CHECK(!rd2.completed && !wr2.completed && !adm.completed);
	}
	check_csts_ok(h, "with commands waiting for the memory");
	REQUIRE_OK(vfu_dma_map(v, iova + half, size - half, fd, half, VFU_PROT_READ | VFU_PROT_WRITE));
	REQUIRE_OK(vfu_dma_map(v, iova, half, fd, 0, VFU_PROT_READ | VFU_PROT_WRITE));
	bool r1_ok = raced_ok(h, &rd1, "a read");
	bool w1_ok = raced_ok(h, &wr1, "a write");
	EXPECT_OK(nvme_host_wait(h, 1, &rd2, 5000));
	EXPECT_OK(nvme_host_wait(h, 1, &wr2, 5000));
	EXPECT_OK(nvme_host_wait(h, 0, &adm, 5000));
	if (r1_ok)
		CHECK(pattern_check(r1, 72000, nblk, bs(), O.seed + 30) < 0);
	CHECK(pattern_check(r2, 72000, nblk, bs(), O.seed + 30) < 0);
	/* the racing write took effect whole, or not at all */
	CHECK(read_check(h, 1, O.nsid, 72100, nblk, w1_ok ? O.seed + 31 : O.seed + 33));
	CHECK(read_check(h, 1, O.nsid, 72200, nblk, O.seed + 32));
	check_csts_ok(h, "after the remap");
	struct nvme_host_qstats qs;
	REQUIRE_OK(nvme_host_queue_stats(h, 1, &qs));
	CHECK_EQ(qs.bad_cqes, 0);
	CHECK_EQ(qs.inflight, 0);
out:
	if (h) {
		nvme_host_free(h, wa);
		nvme_host_free(h, wb);
		nvme_host_free(h, wc);
		nvme_host_free(h, wz);
		nvme_host_free(h, r1);
		nvme_host_free(h, r2);
	}
	nvme_host_close(h);
}

static void case_reset_io(void)
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

static void case_shutdown(void)
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

static void case_bad_doorbells(void)
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

/* ---- I/O then hold the queues (for the statistics RPCs) --------------------------------------
 * Queue q (1..nr) does q*10 writes and q*15 reads of 8 blocks, then
 * "# HOLD queues=N q1_reads=.. q1_writes=.. ..." and the driver stays up until a line
 * arrives on stdin. */

static void case_io_hold(void)
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

static void case_file_pattern(void)
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

static void case_aen(void)
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

static void case_suspend_probe(void)
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

	say("RUNNING");
	while (!stdin_ready()) {
		while (sub - done < DEPTH && sub < maxcmds - 64)
			SUBMIT_ONE();
		REAP();
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
	end = now_ms() + 10000;
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

static void case_suspended_start(void)
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

/* ====================================================================================== */

static const struct tap_case cases[] = {
	{ "bringup", case_bringup, true },
	{ "identify_ctrl", case_identify_ctrl, true },
	{ "identify_ns", case_identify_ns, true },
	{ "active_ns_list", case_active_ns_list, true },
	{ "ns_descs", case_ns_descs, true },
	{ "feat_num_queues", case_feat_num_queues, true },
	{ "feat_arbitration", case_feat_arbitration, true },
	{ "feat_power", case_feat_power, true },
	{ "feat_temp", case_feat_temp, true },
	{ "feat_vwc", case_feat_vwc, true },
	{ "feat_irq_coalesce", case_feat_irq_coalesce, true },
	{ "feat_irq_config", case_feat_irq_config, true },
	{ "feat_async_event", case_feat_async_event, true },
	{ "feat_timestamp", case_feat_timestamp, true },
	{ "feat_host_behavior", case_feat_host_behavior, true },
	{ "feat_kato", case_feat_kato, true },
	{ "feat_save", case_feat_save, true },
	{ "logs", case_logs, true },
	{ "queues", case_queues, true },
	{ "cq_backlog", case_cq_backlog, true },
	{ "aer_limit", case_aer_limit, true },
	{ "abort", case_abort, true },
	{ "keep_alive", case_keep_alive, true },
	{ "dbbuf", case_dbbuf, true },
	{ "firmware", case_firmware, true },
	{ "io_basic", case_io_basic, true },
	{ "compare", case_compare, true },
	{ "fused", case_fused, true },
	{ "io_align", case_io_align, true },
	{ "io_sgl", case_io_sgl, true },
	{ "io_bad", case_io_bad, true },
	{ "inflight2", case_inflight2, false },
	{ "fused_race", case_fused_race, false },
	{ "interrupts", case_interrupts, true },
	{ "reset_io", case_reset_io, true },
	{ "irq_mask", case_irq_mask, true },
	{ "fdless_memory", case_fdless_memory, true },
	{ "remap", case_remap, true },
	{ "remap_live", case_remap_live, true },
	{ "shutdown", case_shutdown, true },
	{ "bad_doorbells", case_bad_doorbells, true },
	{ "file_pattern", case_file_pattern, false },
	{ "io_hold", case_io_hold, false },
	{ "aen", case_aen, false },
	{ "suspend_probe", case_suspend_probe, false },
	{ "suspended_start", case_suspended_start, false },
};

static const struct tap_suite suite = {
	.prog = "nvme_e2e", .cases = cases, .ncases = sizeof(cases) / sizeof(cases[0]),
};

static void usage(void)
{
	fprintf(stderr, "usage: nvme_e2e SOCKET [--mode trap|mmap|shadow] [--case NAME]... [--nqn S] [--sn S]\n"
			"  [--mn S] [--uuid U] [--nguid HEX] [--eui64 HEX] [--cntlid N] [--mdts N] [--nsze N] [--lba N] [--nsid N]\n"
			"  [--nsid2 N] [--nsze2 N] [--inactive N] [--mqes N] [--fw-slots N]\n"
			"  [--compare-write 0|1] [--nn N] [--seed N] [--list]\ncases:");
	tap_print_cases(stderr, &suite);
	fprintf(stderr, "\n(* only when named)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct tap_opts T = { .nnames = 0 };
	const char *mode = "trap";
	const struct tap_arg args[] = {
		{ "--mode", TAP_STR, &mode },
		{ "--nqn", TAP_STR, &O.nqn },
		{ "--sn", TAP_STR, &O.sn },
		{ "--mn", TAP_STR, &O.mn },
		{ "--uuid", TAP_STR, &O.uuid },
		{ "--nguid", TAP_STR, &O.nguid },
		{ "--eui64", TAP_STR, &O.eui64 },
		{ "--cntlid", TAP_LONG, &O.cntlid },
		{ "--mdts", TAP_INT, &O.mdts },
		{ "--nsze", TAP_U64, &O.nsze },
		{ "--nsze2", TAP_U64, &O.nsze2 },
		{ "--lba", TAP_U32, &O.lba },
		{ "--nsid", TAP_U32, &O.nsid },
		{ "--nsid2", TAP_U32, &O.nsid2 },
		{ "--inactive", TAP_U32, &O.inactive },
		{ "--mqes", TAP_INT, &O.mqes },
		{ "--fw-slots", TAP_INT, &O.fw_slots },
		{ "--compare-write", TAP_INT, &O.compare_write },
		{ "--nn", TAP_I64, &O.nn },
		{ "--seed", TAP_U32, &O.seed },
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!tap_parse(argc, argv, &T, args, sizeof(args) / sizeof(args[0]), &O.sock, 1))
		usage();
	if (!strcmp(mode, "trap"))
		O.mode = MODE_TRAP;
	else if (!strcmp(mode, "mmap"))
		O.mode = MODE_MMAP;
	else if (!strcmp(mode, "shadow"))
		O.mode = MODE_SHADOW;
	else
		usage();
	if (!O.sock && !T.list)
		usage();
	int rc = tap_run(&suite, &T);
	if (rc < 0)
		usage();
	return rc;
}
