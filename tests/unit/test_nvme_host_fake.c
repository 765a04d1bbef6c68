/* test_nvme_host: the fake NVMe controller's device side: data transfer
 * (its own PRP/SGL walk), admin and I/O commands, interrupts, doorbells
 * (trapped, shadow, mmapped). */
#include "test_nvme_host.h"

static uint8_t *fk_gpa(struct fk *f, uint64_t iova, uint64_t len)
{
	for (int i = 0; i < f->nmap; i++) {
		if (iova >= f->map[i].iova && len <= f->map[i].size &&
		    iova - f->map[i].iova <= f->map[i].size - len)
			return f->map[i].va + (iova - f->map[i].iova);
	}
	return NULL;
}

/* ---- data transfer (PRP / SGL walk, written for the fake) ---- */

static int fk_copy(struct fk *f, uint64_t iova, uint8_t *buf, uint64_t n, bool to_guest)
{
	uint8_t *g = fk_gpa(f, iova, n);
	if (!g)
		return NVME_SC_DATA_XFER_ERROR;
	if (to_guest)
		memcpy(g, buf, n);
	else
		memcpy(buf, g, n);
	return 0;
}

static int fk_xfer_prp(struct fk *f, const struct nvme_sqe *s, uint8_t *buf, uint64_t len, bool to)
{
	uint64_t off = s->dptr.prp1 & (PG - 1), first = PG - off < len ? PG - off : len;
	if (s->dptr.prp1 & 3)
		return NVME_SC_INVALID_PRP_OFFSET;
	int st = fk_copy(f, s->dptr.prp1, buf, first, to);
	uint64_t rem = len - first;
	if (st || !rem)
		return st;
	buf += first;
	if (rem <= PG) {
		if (s->dptr.prp2 & (PG - 1))
			return NVME_SC_INVALID_PRP_OFFSET;
		return fk_copy(f, s->dptr.prp2, buf, rem, to);
	}
	uint64_t list = s->dptr.prp2;
	unsigned int idx = (unsigned int)((list & (PG - 1)) / 8);
	list &= ~(uint64_t)(PG - 1);
	while (rem) {
		uint8_t *le = fk_gpa(f, list + idx * 8ull, 8);
		if (!le)
			return NVME_SC_DATA_XFER_ERROR;
		uint64_t e = rd64(le);
		if (idx == PG / 8 - 1 && rem > PG) {
			list = e;	/* chained list page */
			idx = 0;
			atomic_fetch_add(&f->n_prp_chain, 1);
			continue;
		}
		if (e & (PG - 1))
			return NVME_SC_INVALID_PRP_OFFSET;
		uint64_t n = rem < PG ? rem : PG;
		st = fk_copy(f, e, buf, n, to);
		if (st)
			return st;
		buf += n;
		rem -= n;
		idx++;
	}
	return 0;
}

static int fk_xfer_sgl(struct fk *f, const struct nvme_sqe *s, uint8_t *buf, uint64_t len, bool to)
{
	uint8_t d[16];
	memcpy(d, &s->dptr, 16);
	atomic_fetch_add(&f->n_sgl, 1);
	for (int hops = 0; hops < 64; hops++) {
		uint8_t type = d[15] >> 4;
		uint64_t addr = rd64(d);
		uint32_t dlen = rd32(d + 8);
		if (type == NVME_SGL_TYPE_DATA_BLOCK) {
			uint64_t n = dlen < len ? dlen : len;
			return fk_copy(f, addr, buf, n, to);
		}
		if (type != NVME_SGL_TYPE_SEGMENT && type != NVME_SGL_TYPE_LAST_SEGMENT)
			return NVME_SC_SGL_DESC_TYPE_INVALID;
		if (dlen == 0 || dlen % 16)
			return NVME_SC_INVALID_SGL_SEG_DESC;
		uint8_t *seg = fk_gpa(f, addr, dlen);
		if (!seg)
			return NVME_SC_DATA_XFER_ERROR;
		uint32_t n = dlen / 16;
		bool chained = false;
		for (uint32_t i = 0; i < n; i++) {
			uint8_t *e = seg + 16 * i;
			uint8_t et = e[15] >> 4;
			if (et == NVME_SGL_TYPE_DATA_BLOCK) {
				uint64_t c = rd32(e + 8) < len ? rd32(e + 8) : len;
				int st = fk_copy(f, rd64(e), buf, c, to);
				if (st)
					return st;
				buf += c;
				len -= c;
			} else if (i == n - 1 && type == NVME_SGL_TYPE_SEGMENT &&
				   (et == NVME_SGL_TYPE_SEGMENT || et == NVME_SGL_TYPE_LAST_SEGMENT)) {
				memcpy(d, e, 16);
				chained = true;
			} else {
				return NVME_SC_INVALID_SGL_SEG_DESC;
			}
		}
		if (!chained)
			return len ? NVME_SC_DATA_SGL_LEN_INVALID : 0;
	}
	return NVME_SC_INVALID_SGL_SEG_DESC;
}

static int fk_xfer(struct fk *f, const struct nvme_sqe *s, void *buf, uint64_t len, bool to_guest)
{
	unsigned int psdt = (s->flags >> 6) & 3;
	if (psdt == 0)
		return fk_xfer_prp(f, s, buf, len, to_guest);
	if (psdt == 1)
		return fk_xfer_sgl(f, s, buf, len, to_guest);
	return NVME_SC_INVALID_FIELD;
}

/* ---- commands ---- */

#define ST(sct, sc)	((int)(((sct) << 8) | (sc)))
#define NO_CQE		(-1)

static int fk_identify(struct fk *f, const struct nvme_sqe *s)
{
	uint8_t b[4096] = { 0 };
	uint8_t cns = s->cdw10 & 0xff;

	switch (cns) {
	case NVME_CNS_CTRL:
		b[0] = 0x36; b[1] = 0x1b;			/* VID */
		memcpy(b + 4, "FAKE0001            ", 20);	/* SN */
		memcpy(b + 24, "osnap fake controller", 21);	/* MN */
		b[77] = 0;					/* MDTS: no limit */
		wr32(b + 80, 0x00010400);			/* VER */
		b[256] = (uint8_t)f->oacs;
		b[257] = (uint8_t)(f->oacs >> 8);
		b[259] = 3;					/* AERL */
		b[512] = 0x66;
		b[513] = 0x44;
		wr32(b + 516, 1);				/* NN */
		wr32(b + 536, f->sgls);
		memcpy(b + 768, "nqn.2024-01.io.osnap:fake", 25);
		break;
	case NVME_CNS_NS:
		if (s->nsid != 1)
			return ST(0, NVME_SC_INVALID_NS) | NVME_STATUS_DNR;
		wr32(b + 0, FK_BLOCKS);		/* NSZE */
		wr32(b + 8, FK_BLOCKS);		/* NCAP */
		b[25] = 0;			/* NLBAF */
		b[26] = 0;			/* FLBAS */
		b[128 + 2] = 9;			/* LBAF0.LBADS: 512 */
		break;
	case NVME_CNS_ACTIVE_NS_LIST:
		if (s->nsid < 1)
			wr32(b, 1);
		break;
	case NVME_CNS_NS_DESC_LIST:
		b[0] = NVME_NIDT_UUID;
		b[1] = 16;
		for (int i = 0; i < 16; i++)
			b[4 + i] = (uint8_t)(0xa0 + i);
		break;
	default:
		return ST(0, NVME_SC_INVALID_FIELD) | NVME_STATUS_DNR;
	}
	return fk_xfer(f, s, b, sizeof(b), true);
}

static int fk_admin(struct fk *f, const struct nvme_sqe *s, uint32_t *dw0)
{
	uint16_t qid = s->cdw10 & 0xffff;
	uint32_t qsize = (s->cdw10 >> 16) + 1;

	switch (s->opc) {
	case NVME_ADM_IDENTIFY:
		return fk_identify(f, s);
	case NVME_ADM_SET_FEATURES:
	case NVME_ADM_GET_FEATURES:
		if ((s->cdw10 & 0xff) == NVME_FEAT_NUM_QUEUES)
			*dw0 = ((FK_NQ - 2u) << 16) | (FK_NQ - 2u);
		return 0;
	case NVME_ADM_GET_LOG_PAGE: {
		uint32_t numd = ((s->cdw10 >> 16) | (s->cdw11 << 16)) + 1;
		uint8_t *b = calloc(numd, 4);
		b[0] = 0xab;
		int st = fk_xfer(f, s, b, numd * 4ull, true);
		free(b);
		return st;
	}
	case NVME_ADM_CREATE_CQ:
		if (qid == 0 || qid >= FK_NQ || f->cq[qid].live)
			return ST(1, NVME_SC_QID_INVALID) | NVME_STATUS_DNR;
		if (qsize < 2 || qsize > FK_MQES + 1)
			return ST(1, NVME_SC_QUEUE_SIZE) | NVME_STATUS_DNR;
		f->cq[qid] = (struct fk_q){ .live = true, .iova = s->dptr.prp1, .size = qsize,
					    .phase = 1, .ien = (s->cdw11 & 2) != 0,
					    .iv = (uint16_t)(s->cdw11 >> 16) };
		return 0;
	case NVME_ADM_CREATE_SQ: {
		uint16_t cqid = (uint16_t)(s->cdw11 >> 16);
		if (qid == 0 || qid >= FK_NQ || f->sq[qid].live)
			return ST(1, NVME_SC_QID_INVALID) | NVME_STATUS_DNR;
		if (cqid >= FK_NQ || !f->cq[cqid].live)
			return ST(1, NVME_SC_CQ_INVALID) | NVME_STATUS_DNR;
		if (qsize < 2 || qsize > FK_MQES + 1)
			return ST(1, NVME_SC_QUEUE_SIZE) | NVME_STATUS_DNR;
		f->sq[qid] = (struct fk_q){ .live = true, .iova = s->dptr.prp1, .size = qsize,
					    .cqid = cqid };
		return 0;
	}
	case NVME_ADM_DELETE_SQ:
	case NVME_ADM_DELETE_CQ: {
		struct fk_q *q = s->opc == NVME_ADM_DELETE_SQ ? f->sq : f->cq;
		if (qid == 0 || qid >= FK_NQ || !q[qid].live)
			return ST(1, NVME_SC_QID_INVALID) | NVME_STATUS_DNR;
		q[qid].live = false;
		return 0;
	}
	case NVME_ADM_ABORT:
		*dw0 = 1;
		return 0;
	case NVME_ADM_ASYNC_EVENT:
		f->aer_cid = s->cid;
		return NO_CQE;
	case NVME_ADM_DBBUF_CONFIG:
		f->shadow_iova = s->dptr.prp1;
		f->ei_iova = s->dptr.prp2;
		return 0;
	case FK_VENDOR_HANG:
		return NO_CQE;
	default:
		return ST(0, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
}

static int fk_io(struct fk *f, const struct nvme_sqe *s)
{
	uint64_t slba = s->cdw10 | (uint64_t)s->cdw11 << 32;
	uint32_t nlb = (s->cdw12 & 0xffff) + 1;

	if (s->opc == FK_VENDOR_BADCID)
		return NO_CQE;		/* fk_process_sq posts it with CID + 1000 */
	if (s->nsid != 1)
		return ST(0, NVME_SC_INVALID_NS) | NVME_STATUS_DNR;
	switch (s->opc) {
	case NVME_CMD_FLUSH:
		return 0;
	case NVME_CMD_READ:
	case NVME_CMD_WRITE:
	case NVME_CMD_COMPARE:
	case NVME_CMD_WRITE_ZEROES:
		if (slba + nlb > FK_BLOCKS)
			return ST(0, NVME_SC_LBA_RANGE) | NVME_STATUS_DNR;
		break;
	case NVME_CMD_DSM: {
		uint32_t nr = (s->cdw10 & 0xff) + 1;
		uint8_t r[256 * 16];
		int st = fk_xfer(f, s, r, nr * 16ull, false);
		if (st)
			return st;
		for (uint32_t i = 0; (s->cdw11 & NVME_DSM_AD) && i < nr; i++) {
			uint64_t sl = rd64(r + 16 * i + 8);
			uint32_t n = rd32(r + 16 * i + 4);
			if (sl + n <= FK_BLOCKS)
				memset(f->disk + sl * 512, 0, n * 512ull);
		}
		return 0;
	}
	default:
		return ST(0, NVME_SC_INVALID_OPCODE) | NVME_STATUS_DNR;
	}
	uint8_t *lba = f->disk + slba * 512;
	uint64_t len = nlb * 512ull;
	if (s->opc == NVME_CMD_READ)
		return fk_xfer(f, s, lba, len, true);
	if (s->opc == NVME_CMD_WRITE)
		return fk_xfer(f, s, lba, len, false);
	if (s->opc == NVME_CMD_WRITE_ZEROES) {
		memset(lba, 0, len);
		return 0;
	}
	uint8_t *tmp = malloc(len);
	int st = fk_xfer(f, s, tmp, len, false);
	if (!st && memcmp(tmp, lba, len))
		st = ST(2, NVME_SC_CMP_FAILED);
	free(tmp);
	return st;
}

/* MSI-X as a VFIO device does it: the table in BAR4 is the client's and
 * never masks; MSI-X Enable, the Function Mask (config space) and the
 * SET_IRQS masks do. A masked vector latches its PBA bit. */
static bool fk_vec_masked(struct fk *f, uint16_t v)
{
	uint8_t ctl_hi = f->cfg[0x43];
	return !(ctl_hi & 0x80) || (ctl_hi & 0x40) || f->vmask[v];
}

static void fk_fire(struct fk *f, uint16_t v)
{
	if (f->efd[v] < 0)
		return;
	uint64_t one = 1;
	(void)!write(f->efd[v], &one, sizeof(one));
	atomic_fetch_add(&f->n_irq, 1);
}

static void fk_irq(struct fk *f, uint16_t v)
{
	if (v >= FK_NVEC || !(f->cfg[0x43] & 0x80) || f->efd[v] < 0)
		return;
	if (fk_vec_masked(f, v))
		f->bar4[0x800 + v / 8] |= (uint8_t)(1u << (v % 8));
	else
		fk_fire(f, v);
}

/* After an unmask: deliver the pending vectors that can fire now. */
void fk_deliver_pending(struct fk *f)
{
	for (uint16_t v = 0; v < FK_NVEC; v++) {
		uint8_t bit = (uint8_t)(1u << (v % 8));
		if ((f->bar4[0x800 + v / 8] & bit) && !fk_vec_masked(f, v)) {
			f->bar4[0x800 + v / 8] &= (uint8_t)~bit;
			fk_fire(f, v);
		}
	}
}

void fk_post(struct fk *f, uint16_t cqid, uint16_t sqid, uint16_t cid, int st, uint32_t dw0)
{
	struct fk_q *cq = &f->cq[cqid];
	uint8_t *e = fk_gpa(f, cq->iova + cq->ptr * 16ull, 16);
	if (!e)
		return;
	wr32(e, dw0);
	wr32(e + 4, 0);
	uint16_t sqhd = (uint16_t)f->sq[sqid].ptr;
	memcpy(e + 8, &sqhd, 2);
	memcpy(e + 10, &sqid, 2);
	memcpy(e + 12, &cid, 2);
	/* release: the CQE body is visible before its phase tag */
	__atomic_store_n((uint16_t *)(void *)(e + 14), (uint16_t)(((unsigned)st << 1) | cq->phase),
			 __ATOMIC_RELEASE);
	if (++cq->ptr == cq->size) {
		cq->ptr = 0;
		cq->phase ^= 1;
	}
	if (cq->ien)
		fk_irq(f, cq->iv);
}

static void fk_process_sq(struct fk *f, uint16_t qid)
{
	struct fk_q *sq = &f->sq[qid];
	while (sq->live && sq->db < sq->size && sq->ptr != sq->db) {
		struct nvme_sqe s;
		uint8_t *p = fk_gpa(f, sq->iova + sq->ptr * 64ull, 64);
		if (!p)
			return;
		memcpy(&s, p, sizeof(s));
		sq->ptr = (sq->ptr + 1) % sq->size;
		uint32_t dw0 = 0;
		int st = qid == 0 ? fk_admin(f, &s, &dw0) : fk_io(f, &s);
		if (st != NO_CQE)
			fk_post(f, sq->cqid, qid, s.cid, st, dw0);
		else if (qid && s.opc == FK_VENDOR_BADCID)
			fk_post(f, sq->cqid, qid, (uint16_t)(s.cid + 1000), 0, 0);
	}
}

void fk_cc_write(struct fk *f)
{
	uint32_t cc = rd32(f->bar0 + NVME_REG_CC), csts = rd32(f->bar0 + NVME_REG_CSTS);

	if ((cc & NVME_CC_EN) && !(csts & NVME_CSTS_RDY)) {
		uint32_t aqa = rd32(f->bar0 + NVME_REG_AQA);
		f->sq[0] = (struct fk_q){ .live = true, .iova = rd64(f->bar0 + NVME_REG_ASQ),
					  .size = (aqa & 0xfff) + 1 };
		f->cq[0] = (struct fk_q){ .live = true, .iova = rd64(f->bar0 + NVME_REG_ACQ),
					  .size = ((aqa >> 16) & 0xfff) + 1, .phase = 1, .ien = true };
		csts |= NVME_CSTS_RDY;
	} else if (!(cc & NVME_CC_EN) && (csts & NVME_CSTS_RDY)) {
		memset(f->sq, 0, sizeof(f->sq));
		memset(f->cq, 0, sizeof(f->cq));
		f->aer_cid = -1;
		f->shadow_iova = f->ei_iova = 0;
		csts = 0;
	}
	if (cc & NVME_CC_SHN_MASK)
		csts = (csts & ~NVME_CSTS_SHST_MASK) | NVME_CSTS_SHST_CMPLT;
	wr32(f->bar0 + NVME_REG_CSTS, csts);
}

void fk_doorbell(struct fk *f, uint32_t idx, uint32_t val)
{
	uint16_t qid = (uint16_t)(idx / 2);
	if (qid >= FK_NQ)
		return;
	if (idx % 2) {
		f->cq[qid].db = val;
		return;
	}
	/* With shadow doorbells on, a register write is only a kick: the
	 * shadow holds the newest tail (the written value may be older than
	 * what a scan of the shadow already took). */
	uint8_t *sh = qid ? fk_gpa(f, f->shadow_iova, PG) : NULL;
	if (sh && f->shadow_iova)
		val = __atomic_load_n((uint32_t *)(void *)(sh + 8 * qid), __ATOMIC_ACQUIRE);
	f->sq[qid].db = val;
	fk_process_sq(f, qid);
}

/* Shadow doorbells: take the SQ tails from the shadow page and publish
 * EventIdx = the tail seen, so the host rings when it moves further. */
void fk_scan_shadow(struct fk *f)
{
	uint8_t *sh = fk_gpa(f, f->shadow_iova, PG), *ei = fk_gpa(f, f->ei_iova, PG);
	if (!sh || !ei)
		return;
	for (uint16_t q = 1; q < FK_NQ; q++) {
		if (!f->sq[q].live)
			continue;
		uint32_t tail = __atomic_load_n((uint32_t *)(void *)(sh + 8 * q), __ATOMIC_ACQUIRE);
		if (tail != f->sq[q].db) {
			atomic_fetch_add(&f->n_shadow_used, 1);
			f->sq[q].db = tail;
			fk_process_sq(f, q);
		}
		__atomic_store_n((uint32_t *)(void *)(ei + 8 * q), tail, __ATOMIC_RELEASE);
	}
}

void fk_scan_mmap(struct fk *f)
{
	for (uint16_t q = 0; q < FK_NQ; q++) {
		uint32_t v = __atomic_load_n((uint32_t *)(void *)(f->bar0 + 0x1000 + 8 * q),
					     __ATOMIC_ACQUIRE);
		if (f->sq[q].live && v != f->sq[q].db)
			fk_doorbell(f, 2u * q, v);
	}
}
