/* nvme_e2e: the helpers every area's cases use (see nvme_e2e.h). */
#include "nvme_e2e.h"

/* ---- NVMe statuses ------------------------------------------------------------------------ */

/* Compare SCT and SC (not DNR/More/CRD) with the expected ones. */
bool st_is(int st, unsigned sct, unsigned sc)
{
	return st >= 0 && (st & 0x7ff) == NVME_STATUS(sct, sc);
}

/* ---- opening the controller ------------------------------------------------------------- */

struct nvme_host *open_ctrl(const struct open_opts *oo)
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

void *xalloc(struct nvme_host *h, size_t len, size_t align, uint64_t *iova)
{
	void *p = nvme_host_alloc(h, len, align ? align : 4096, iova);
	if (!p)
		FAIL("arena exhausted (%zu bytes)", len);
	return p;
}

uint64_t iova_of(struct nvme_host *h, const void *p)
{
	uint64_t iova = 0;
	if (nvme_host_iova(h, p, 1, &iova))
		FAIL("pointer %p is not in the arena", p);
	return iova;
}

/* ---- I/O helpers -------------------------------------------------------------------------- */

int io(struct nvme_host *h, uint16_t qid, uint8_t opc, uint32_t nsid, uint64_t slba,
	      uint32_t nlb, void *buf, uint32_t flags)
{
	return nvme_host_rw(h, qid, opc, nsid, slba, nlb, buf, flags);
}

/* I/O with the data in pieces (PRP or, with NVME_HOST_F_SGL, SGL). */
int io_sg(struct nvme_host *h, uint16_t qid, uint8_t opc, uint32_t nsid, uint64_t slba,
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
int raw(struct nvme_host *h, uint16_t qid, struct nvme_sqe *sqe, struct nvme_cqe *cqe)
{
	sqe->cid = g_raw_cid++;
	if (g_raw_cid >= 0x7800)
		g_raw_cid = 0x7000;
	return nvme_host_raw(h, qid, sqe, cqe, 5000);
}

struct nvme_sqe rw_sqe(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb)
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

uint32_t bs(void)
{
	return O.lba;
}

/* Write nlb blocks of pattern seed at slba and read them back through a
 * fresh buffer; true when they match. */
bool write_verify(struct nvme_host *h, uint16_t qid, uint32_t nsid, uint64_t slba, uint32_t nlb,
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
bool read_check(struct nvme_host *h, uint16_t qid, uint32_t nsid, uint64_t slba, uint32_t nlb,
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

int wait_rdy(struct nvme_host *h, bool want, int ms, uint32_t *csts_out)
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

uint32_t cap_to_ms(struct nvme_host *h)
{
	uint64_t cap = 0;
	nvme_host_reg_read64(h, NVME_REG_CAP, &cap);
	return NVME_CAP_TO(cap) * 500u;
}

/* Program a 16-entry admin queue and set CC.EN (does not wait). */
int mini_setup(struct nvme_host *h, struct mini *m)
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

int mini_cmd(struct mini *m, struct nvme_sqe *sqe, struct nvme_cqe *out)
{
	sqe->cid = m->cid++;
	memcpy(&m->sq[m->tail], sqe, sizeof(*sqe));
	m->tail = (uint16_t)((m->tail + 1) % m->depth);
	/* the SQE in memory before the doorbell write that hands it over */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	int rc = nvme_host_reg_write32(m->h, NVME_REG_DBS, m->tail);
	if (rc)
		return rc;
	int64_t end = now_ms() + 5000;
	for (;;) {
		volatile struct nvme_cqe *e = &m->cq[m->head];
		if ((e->status & 1) == m->phase) {
			/* the rest of the CQE read after its phase bit said it is new */
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
int ctrl_off(struct nvme_host *h)
{
	int rc = nvme_host_reg_write32(h, NVME_REG_CC, 0);
	return rc ? rc : wait_rdy(h, false, (int)cap_to_ms(h) + 1000, NULL);
}

/* ---- small helpers several areas use -------------------------------------------------------- */

int getf(struct nvme_host *h, uint8_t fid, uint8_t sel, uint32_t cdw11, uint32_t *dw0)
{
	return nvme_host_get_features(h, fid, sel, 0, cdw11, NULL, 0, dw0);
}

int setf(struct nvme_host *h, uint8_t fid, uint32_t cdw11, uint32_t *dw0)
{
	return nvme_host_set_features(h, fid, false, 0, cdw11, NULL, 0, dw0);
}

uint16_t id_kas(const struct nvme_id_ctrl *id)
{
	uint16_t kas;
	memcpy(&kas, (const uint8_t *)id + 320, 2);
	return kas;
}

int poll_until(struct nvme_host *h, uint16_t qid, struct nvme_host_cmd *cmd, int ms)
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

void count_done(struct nvme_host_cmd *cmd)
{
	(*(int *)cmd->arg)++;
}

struct nvme_sgl_desc sgl(uint8_t type, uint64_t addr, uint32_t len)
{
	struct nvme_sgl_desc d;
	memset(&d, 0, sizeof(d));
	d.addr = addr;
	d.len = len;
	d.id = NVME_SGL_ID(type, 0);
	return d;
}

struct nvme_sqe sgl_sqe(uint8_t opc, uint64_t lba, uint32_t nlb, struct nvme_sgl_desc d)
{
	struct nvme_sqe s = rw_sqe(opc, O.nsid, lba, nlb);
	s.flags = (uint8_t)(NVME_PSDT_SGL_MPTR_BUF << NVME_SQE_PSDT_SHIFT);
	s.dptr.sgl1 = d;
	return s;
}
