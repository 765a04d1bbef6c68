/* The admin queue, on the main thread (next to the RPC control plane that
 * shares its state): Identify, logs, features, queues, events, firmware. */
#include "nvme_internal.h"
#include "core/log.h"
#include "core/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* --- data transfer helpers --- */

static void copy_to_iov(struct nvme_req *r, const void *src, size_t len)
{
	const uint8_t *p = src;
	for (int i = 0; i < r->iovcnt && len; i++) {
		size_t n = r->iov[i].iov_len < len ? r->iov[i].iov_len : len;
		memcpy(r->iov[i].iov_base, p, n);
		p += n;
		len -= n;
	}
}

static void copy_from_iov(struct nvme_req *r, void *dst, size_t len)
{
	uint8_t *p = dst;
	for (int i = 0; i < r->iovcnt && len; i++) {
		size_t n = r->iov[i].iov_len < len ? r->iov[i].iov_len : len;
		memcpy(p, r->iov[i].iov_base, n);
		p += n;
		len -= n;
	}
}

/* Map the command's PRPs for len bytes and copy buf out to the host. */
static uint16_t send_data(struct nvme_ctrl *c, struct nvme_req *r, const void *buf, size_t len)
{
	uint16_t st = nvme_map_dptr(c, r, len, EMU_DMA_WRITE);
	if (st)
		return st;
	copy_to_iov(r, buf, len);
	return NVME_SC_SUCCESS;
}

static void put_str(uint8_t *dst, size_t n, const char *s)
{
	/* ASCII, space padded, not terminated */
	memset(dst, ' ', n);
	memcpy(dst, s, strlen(s) < n ? strlen(s) : n);
}

static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, 2); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }

/* --- completion --- */

static void admin_post(struct nvme_ctrl *c, struct nvme_req *r)
{
	struct nvme_cq *cq = c->cqs[0];
	struct nvme_sq *sq = c->sqs[0];
	if (!cq->backlog && nvme_cq_post(cq, r)) {
		r->in_use = false;
		r->next = sq->free_list;
		sq->free_list = r;
		sq->free_slots++;
		sq->inflight--;
		nvme_cq_irq(cq, true);
	} else {
		r->next = NULL;
		if (cq->backlog_tail)
			cq->backlog_tail->next = r;
		else
			cq->backlog = r;
		cq->backlog_tail = r;
	}
}

void nvme_admin_complete(struct nvme_ctrl *c, struct nvme_req *r)
{
	if (!c->sqs[0] || r->sq != c->sqs[0])
		return;	/* the admin queue went away meanwhile (reset) */
	admin_post(c, r);
}

static void admin_flush_backlog(struct nvme_ctrl *c)
{
	struct nvme_cq *cq = c->cqs[0];
	struct nvme_sq *sq = c->sqs[0];
	bool posted = false;
	while (cq->backlog && nvme_cq_post(cq, cq->backlog)) {
		struct nvme_req *r = cq->backlog;
		cq->backlog = r->next;
		if (!cq->backlog)
			cq->backlog_tail = NULL;
		r->in_use = false;
		r->next = sq->free_list;
		sq->free_list = r;
		sq->free_slots++;
		sq->inflight--;
		posted = true;
	}
	if (posted)
		nvme_cq_irq(cq, true);
}

/* --- asynchronous events --- */

void nvme_admin_aer_flush(struct nvme_ctrl *c)
{
	while (c->aer_outstanding && c->aer_npending && c->sqs[0]) {
		uint16_t cid = c->aer_cids[--c->aer_outstanding];
		uint32_t dw0 = c->aer_pending[0];
		memmove(c->aer_pending, c->aer_pending + 1, (size_t)--c->aer_npending * sizeof(uint32_t));
		/* find the held request of that cid */
		struct nvme_sq *sq = c->sqs[0];
		for (uint32_t i = 0; i < sq->size; i++) {
			struct nvme_req *r = &sq->reqs[i];
			if (r->in_use && r->cmd.opc == NVME_ADM_ASYNC_EVENT && r->cmd.cid == cid) {
				r->cpl.dw0 = dw0;
				nvme_req_complete(r, NVME_SC_SUCCESS);
				break;
			}
		}
	}
}

/* --- Identify --- */

static uint16_t identify_ctrl(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint8_t d[NVME_ID_CTRL_SIZE] = { 0 };
	put16(d + 0, 0x1b36);			/* VID */
	put16(d + 2, 0x1b36);			/* SSVID */
	put_str(d + 4, 20, c->ss->sn);		/* SN */
	put_str(d + 24, 40, c->ss->mn);		/* MN */
	put_str(d + 64, 8, c->fw_rev[c->fw_active_slot]);	/* FR */
	d[72] = 6;				/* RAB */
	d[73] = 0x00; d[74] = 0x54; d[75] = 0x52;	/* IEEE OUI (QEMU's) */
	d[76] = c->ss->single_ctrl ? 0 : 0x2;	/* CMIC: may have several controllers */
	d[77] = (uint8_t)c->mdts;		/* MDTS */
	put16(d + 78, c->cntlid);		/* CNTLID */
	put32(d + 80, NVME_VS_1_4);		/* VER */
	put32(d + 92, 1u << 8);			/* OAES: namespace attribute notices */
	d[111] = 1;				/* CNTRLTYPE: I/O controller */
	uint16_t oacs = 1u << 2;		/* firmware commit/download */
	if (!c->doorbells_spin)
		oacs |= 1u << 8;		/* Doorbell Buffer Config */
	put16(d + 256, oacs);
	d[258] = 3;				/* ACL: 4 aborts */
	d[259] = NVME_AERL;			/* AERL */
	d[260] = (uint8_t)(((c->fw_slots & 7) << 1) | (1u << 4));	/* FRMW */
	d[261] = 0x6;				/* LPA: effects log, extended data */
	d[262] = NVME_MAX_ERR_LOG - 1;		/* ELPE */
	d[263] = 0;				/* NPSS */
	put16(d + 266, 343);			/* WCTEMP */
	put16(d + 268, 373);			/* CCTEMP */
	put16(d + 320, NVME_KAS_MS / 100);	/* KAS: Keep Alive, 100 ms units */
	d[512] = 0x66;				/* SQES */
	d[513] = 0x44;				/* CQES */
	put16(d + 514, (uint16_t)(c->mqes + 1));	/* MAXCMD */
	put32(d + 516, c->ss->nn);		/* NN */
	put16(d + 520, c->oncs);		/* ONCS */
	put16(d + 522, c->opt_compare_write > 0 ? 1 : 0);	/* FUSES */
	d[525] = (uint8_t)(0x4 | (c->vwc_present ? 1 : 0));	/* VWC, no broadcast flush */
	put32(d + 536, 0x1 | (1u << 16));	/* SGLS: supported, bit bucket */
	snprintf((char *)d + 768, 256, "%s", c->ss->nqn);	/* SUBNQN */
	put16(d + 2048, 2500);			/* PSD0: 25 W */
	return send_data(c, r, d, sizeof(d));
}

static bool nsid_valid(struct nvme_ctrl *c, uint32_t nsid)
{
	return nsid >= 1 && nsid <= c->ss->nn;
}

static uint16_t identify_ns(struct nvme_ctrl *c, struct nvme_req *r, uint32_t nsid)
{
	uint8_t d[NVME_ID_NS_SIZE] = { 0 };
	if (!nsid_valid(c, nsid))
		return NVME_SC_INVALID_NS | NVME_DNR;
	struct nvme_namespace *ns = nvme_ctrl_ns(c, nsid);
	if (ns) {
		uint64_t n = ns->bdev->num_blocks;
		put64(d + 0, n);		/* NSZE */
		put64(d + 8, n);		/* NCAP */
		put64(d + 16, n);		/* NUSE */
		bool unmap = bdev_io_type_supported(ns->bdev, BDEV_IO_UNMAP);
		d[24] = unmap ? 0x4 : 0;	/* NSFEAT: deallocated/unwritten error */
		d[25] = 0;			/* NLBAF: one format */
		d[26] = 0;			/* FLBAS */
		d[33] = unmap ? 0x09 : 0;	/* DLFEAT: reads zeroes, WZ deallocates */
		if (ns->has_nguid)
			memcpy(d + 104, ns->nguid, 16);
		if (ns->has_eui64)
			memcpy(d + 120, ns->eui64, 8);
		/* LBAF0: LBADS in bits 23:16 */
		put32(d + 128, (uint32_t)__builtin_ctz(ns->bdev->block_size) << 16);
	}
	/* an allocated but inactive NSID reads as zeroes */
	return send_data(c, r, d, sizeof(d));
}

static uint16_t identify_active_ns(struct nvme_ctrl *c, struct nvme_req *r, uint32_t nsid)
{
	uint32_t list[1024] = { 0 };
	int n = 0;
	if (nsid >= 0xfffffffeu)
		return NVME_SC_INVALID_NS | NVME_DNR;
	for (struct nvme_namespace *ns = c->ss->ns; ns && n < 1024; ns = ns->next)
		if (ns->ctrl == c && ns->nsid > nsid)
			list[n++] = ns->nsid;
	return send_data(c, r, list, sizeof(list));
}

static uint16_t identify_ns_desc(struct nvme_ctrl *c, struct nvme_req *r, uint32_t nsid)
{
	uint8_t d[4096] = { 0 };
	size_t off = 0;
	if (!nsid_valid(c, nsid))
		return NVME_SC_INVALID_NS | NVME_DNR;
	struct nvme_namespace *ns = nvme_ctrl_ns(c, nsid);
	if (!ns)
		return NVME_SC_INVALID_FIELD | NVME_DNR;	/* inactive NSID (1.4 6.1) */
	if (ns->has_eui64) {
		d[off] = 1;
		d[off + 1] = 8;
		memcpy(d + off + 4, ns->eui64, 8);
		off += 12;
	}
	if (ns->has_nguid) {
		d[off] = 2;
		d[off + 1] = 16;
		memcpy(d + off + 4, ns->nguid, 16);
		off += 20;
	}
	d[off] = 3;			/* UUID */
	d[off + 1] = 16;
	memcpy(d + off + 4, ns->uuid, 16);
	return send_data(c, r, d, sizeof(d));
}

static uint16_t adm_identify(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint8_t cns = r->cmd.cdw10 & 0xff;
	switch (cns) {
	case NVME_CNS_CTRL:
		return identify_ctrl(c, r);
	case NVME_CNS_NS:
		return identify_ns(c, r, r->cmd.nsid);
	case NVME_CNS_ACTIVE_NS:
		return identify_active_ns(c, r, r->cmd.nsid);
	case NVME_CNS_NS_DESC:
		return identify_ns_desc(c, r, r->cmd.nsid);
	default:
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
}

/* --- logs --- */

static uint64_t units_1000x512(uint64_t bytes)
{
	return (bytes + 512000 - 1) / 512000;
}

static void put128(uint8_t *p, uint64_t v)
{
	memset(p, 0, 16);
	put64(p, v);
}

static uint16_t adm_get_log(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint8_t lid = r->cmd.cdw10 & 0xff;
	bool rae = r->cmd.cdw10 & (1u << 15);
	uint32_t numd = ((r->cmd.cdw11 & 0xffff) << 16 | (r->cmd.cdw10 >> 16)) + 1;
	uint64_t off = (uint64_t)r->cmd.cdw13 << 32 | r->cmd.cdw12;
	uint64_t len = (uint64_t)numd * 4;
	static uint8_t log[8192];
	size_t size;

	if (off & 3)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if (len > 65536)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	memset(log, 0, sizeof(log));
	switch (lid) {
	case NVME_LOG_ERROR:
		size = 64 * NVME_MAX_ERR_LOG;	/* no error recorded: all entries zero */
		if (!rae)
			c->aer_err_masked = false;	/* error events are reported again */
		break;
	case NVME_LOG_SMART: {
		uint64_t rb = 0, wb = 0, rc = 0, wc = 0;
		for (int q = 1; q <= NVME_MAX_IO_QUEUES; q++) {
			struct nvme_sq *sq = c->sqs[q];
			if (!sq)
				continue;
			rb += __atomic_load_n(&sq->bytes_read, __ATOMIC_RELAXED);
			wb += __atomic_load_n(&sq->bytes_written, __ATOMIC_RELAXED);
			rc += __atomic_load_n(&sq->reads, __ATOMIC_RELAXED);
			wc += __atomic_load_n(&sq->writes, __ATOMIC_RELAXED);
		}
		rb += c->data_units_read;	/* from queues deleted earlier */
		wb += c->data_units_written;
		rc += c->host_reads;
		wc += c->host_writes;
		size = 512;
		log[0] = 0;				/* critical warning */
		put16(log + 1, 313);			/* composite temperature: 40 C */
		log[3] = 100;				/* available spare */
		log[4] = 10;				/* spare threshold */
		log[5] = 0;				/* percentage used */
		put128(log + 32, units_1000x512(rb));
		put128(log + 48, units_1000x512(wb));
		put128(log + 64, rc);
		put128(log + 80, wc);
		put128(log + 112, 1);			/* power cycles */
		put128(log + 128, (now_ns() - c->power_on_ns) / 3600000000000ull);
		break;
	}
	case NVME_LOG_FW_SLOT:
		size = 512;
		log[0] = c->fw_active_slot;
		for (uint32_t s = 1; s <= 7 && s <= c->fw_slots; s++)
			if (c->fw_rev[s][0])
				memcpy(log + 8 * s, c->fw_rev[s], 8);
		break;
	case NVME_LOG_CHANGED_NS:
		size = 4096;
		if (c->changed_ns_count < 0)
			put32(log, 0xffffffffu);
		else
			for (int i = 0; i < c->changed_ns_count; i++)
				put32(log + 4 * i, c->changed_ns[i]);
		if (!rae) {
			c->changed_ns_count = 0;
			c->aer_ns_masked = false;	/* report the next change again */
		}
		break;
	case NVME_LOG_CMD_EFFECTS: {
		size = 4096;
		static const uint8_t admin_ops[] = { 0x00, 0x01, 0x02, 0x04, 0x05, 0x06, 0x08, 0x09,
						     0x0a, 0x0c, 0x10, 0x11, 0x18, 0x7c };
		for (size_t i = 0; i < sizeof(admin_ops); i++)
			put32(log + 4 * admin_ops[i], 1);	/* CSUPP */
		put32(log + 1024 + 4 * NVME_CMD_READ, 1);
		put32(log + 1024 + 4 * NVME_CMD_FLUSH, 1);
		put32(log + 1024 + 4 * NVME_CMD_WRITE, 0x3);	/* CSUPP | LBCC */
		if (c->oncs & 1)
			put32(log + 1024 + 4 * NVME_CMD_COMPARE, 1);
		if (c->oncs & (1u << 3))
			put32(log + 1024 + 4 * NVME_CMD_WRITE_ZEROES, 0x3);
		if (c->oncs & (1u << 2))
			put32(log + 1024 + 4 * NVME_CMD_DSM, 0x3);
		break;
	}
	default:
		return NVME_SC_INVALID_LOG_PAGE | NVME_DNR;
	}
	if (off >= size && len)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	/* bytes past the log read as zero */
	uint8_t *out = calloc(1, len);
	if (!out)
		return NVME_SC_INTERNAL;
	uint64_t avail = size - off < len ? size - off : len;
	memcpy(out, log + off, avail);
	uint16_t st = send_data(c, r, out, len);
	free(out);
	return st;
}

/* --- features --- */

static uint16_t adm_features(struct nvme_ctrl *c, struct nvme_req *r, bool set)
{
	uint8_t fid = r->cmd.cdw10 & 0xff;
	uint8_t sel = (r->cmd.cdw10 >> 8) & 0x7;
	uint32_t v = r->cmd.cdw11;
	struct nvme_features *f = &c->feat;

	if (set && (r->cmd.cdw10 & (1u << 31)))
		return NVME_SC_FEATURE_NOT_SAVEABLE | NVME_DNR;
	if (!set && sel == 3) {
		/* supported capabilities: changeable, not saveable, not per namespace */
		switch (fid) {
		case NVME_FEAT_ARBITRATION: case NVME_FEAT_POWER_MGMT: case NVME_FEAT_TEMP_THRESH:
		case NVME_FEAT_ERR_RECOVERY: case NVME_FEAT_VOLATILE_WC: case NVME_FEAT_NUM_QUEUES:
		case NVME_FEAT_IRQ_COALESCE: case NVME_FEAT_IRQ_CONFIG: case NVME_FEAT_WRITE_ATOMIC:
		case NVME_FEAT_ASYNC_EVENT: case NVME_FEAT_TIMESTAMP: case NVME_FEAT_KATO:
		case NVME_FEAT_HOST_BEHAVIOR:
			r->cpl.dw0 = 0x4;
			return NVME_SC_SUCCESS;
		default:
			return NVME_SC_INVALID_FIELD | NVME_DNR;
		}
	}
	if (!set && sel > 3)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	/* SEL 010b (saved): no feature is saveable, so the controller answers
	 * as for 001b, the default value */
	bool dflt = !set && (sel == 1 || sel == 2);
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		if (set)
			f->arbitration = v;
		r->cpl.dw0 = dflt ? 0 : f->arbitration;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_POWER_MGMT:
		if (set) {
			if ((v & 0x1f) != 0)	/* NPSS 0: only power state 0 */
				return NVME_SC_INVALID_FIELD | NVME_DNR;
			f->power_mgmt = v & 0xff;
		}
		r->cpl.dw0 = dflt ? 0 : f->power_mgmt;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_TEMP_THRESH: {
		uint8_t tmpsel = (v >> 16) & 0xf, thsel = (v >> 20) & 0x3;
		if (tmpsel != 0 || thsel > 1)
			return NVME_SC_INVALID_FIELD | NVME_DNR;
		uint32_t *t = thsel ? &f->temp_thresh_under : &f->temp_thresh;
		if (set)
			*t = v & 0xffff;
		r->cpl.dw0 = dflt ? (thsel ? 0 : 343) : *t;
		return NVME_SC_SUCCESS;
	}
	case NVME_FEAT_ERR_RECOVERY:
		if (set) {
			if (v & (1u << 16))	/* DULBE not supported */
				return NVME_SC_INVALID_FIELD | NVME_DNR;
			f->err_recovery = v & 0xffff;
		}
		r->cpl.dw0 = dflt ? 0 : f->err_recovery;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_VOLATILE_WC:
		if (set) {
			if (!c->vwc_present)
				return NVME_SC_FEATURE_NOT_CHANGEABLE | NVME_DNR;
			f->vwc = v & 1;
		}
		r->cpl.dw0 = dflt ? c->vwc_present : f->vwc;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_NUM_QUEUES:
		if (set) {
			uint32_t nsqr = v & 0xffff, ncqr = v >> 16;
			if (nsqr == 0xffff || ncqr == 0xffff)
				return NVME_SC_INVALID_FIELD | NVME_DNR;
			/* "after creation of any I/O queues": deleting them again
			 * does not unlock it, the allocation holds until a reset */
			if (c->io_queues_created)
				return NVME_SC_CMD_SEQ_ERROR | NVME_DNR;
			uint32_t max = c->max_io_queues ? c->max_io_queues - 1 : 0;
			if (!c->max_io_queues)
				return NVME_SC_INVALID_FIELD | NVME_DNR;	/* admin-only controller */
			f->num_queues = (ncqr < max ? ncqr : max) << 16 | (nsqr < max ? nsqr : max);
			f->num_queues_set = true;
		}
		r->cpl.dw0 = f->num_queues;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_IRQ_COALESCE:
		if (set)
			f->irq_coalesce = v & 0xffff;
		r->cpl.dw0 = dflt ? 0 : f->irq_coalesce;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_IRQ_CONFIG: {
		uint16_t iv = v & 0xffff;
		if (iv >= emu_fn_num_msix(c->fn))
			return NVME_SC_INVALID_FIELD | NVME_DNR;
		if (set)
			f->irq_config[iv] = (v >> 16) & 1;
		r->cpl.dw0 = iv | (uint32_t)(dflt ? 0 : f->irq_config[iv]) << 16;
		return NVME_SC_SUCCESS;
	}
	case NVME_FEAT_WRITE_ATOMIC:
		r->cpl.dw0 = 0;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_ASYNC_EVENT:
		if (set)
			f->async_event = v & 0x1ff;
		r->cpl.dw0 = dflt ? 0 : f->async_event;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_TIMESTAMP: {
		uint8_t ts[8] = { 0 };
		if (set) {
			uint16_t st = nvme_map_dptr(c, r, 8, EMU_DMA_READ);
			if (st)
				return st;
			copy_from_iov(r, ts, 8);
			uint64_t ms = 0;
			memcpy(&ms, ts, 6);
			f->timestamp_ms = ms;
			f->timestamp_set_ns = now_ns();
			return NVME_SC_SUCCESS;
		}
		uint64_t ms = f->timestamp_set_ns ? f->timestamp_ms + (now_ns() - f->timestamp_set_ns) / 1000000 : 0;
		memcpy(ts, &ms, 6);
		ts[6] = f->timestamp_set_ns ? (1u << 1) : 0;	/* origin: set by the host */
		return send_data(c, r, ts, 8);
	}
	case NVME_FEAT_KATO:
		if (set) {
			/* rounded up to the KAS granularity */
			uint64_t k = ((uint64_t)v + NVME_KAS_MS - 1) / NVME_KAS_MS * NVME_KAS_MS;
			f->kato = k > UINT32_MAX ? UINT32_MAX / NVME_KAS_MS * NVME_KAS_MS : (uint32_t)k;
			nvme_ctrl_keep_alive_arm(c);
		}
		r->cpl.dw0 = dflt ? 0 : f->kato;
		return NVME_SC_SUCCESS;
	case NVME_FEAT_HOST_BEHAVIOR: {
		/* a 512-byte structure; NVMe 1.4 defines byte 0 (ACRE), the rest
		 * is reserved and reads as 0 */
		uint8_t hb[512] = { 0 };
		if (set) {
			uint16_t st = nvme_map_dptr(c, r, sizeof(hb), EMU_DMA_READ);
			if (st)
				return st;
			copy_from_iov(r, hb, sizeof(hb));
			if (hb[0] > 1)
				return NVME_SC_INVALID_FIELD | NVME_DNR;
			f->acre = hb[0];
			return NVME_SC_SUCCESS;
		}
		hb[0] = dflt ? 0 : f->acre;
		return send_data(c, r, hb, sizeof(hb));
	}
	default:
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
}

/* --- queues --- */

static uint32_t allowed_queues(struct nvme_ctrl *c, bool cq)
{
	uint32_t n = cq ? (c->feat.num_queues >> 16) : (c->feat.num_queues & 0xffff);
	return c->max_io_queues ? n + 1 : 0;
}

static uint16_t adm_create_cq(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint16_t qid = r->cmd.cdw10 & 0xffff;
	uint32_t qsize = (r->cmd.cdw10 >> 16) + 1;
	bool pc = r->cmd.cdw11 & 1, ien = r->cmd.cdw11 & 2;
	uint16_t iv = (uint16_t)(r->cmd.cdw11 >> 16);
	if (!qid || qid > allowed_queues(c, true) || c->cqs[qid])
		return NVME_SC_QID_INVALID | NVME_DNR;
	if (qsize < 2 || qsize > c->mqes + 1)
		return NVME_SC_QUEUE_SIZE | NVME_DNR;
	if (!pc)
		return NVME_SC_INVALID_FIELD | NVME_DNR;	/* CAP.CQR: contiguous only */
	if (iv >= emu_fn_num_msix(c->fn))
		return NVME_SC_INVALID_VECTOR | NVME_DNR;
	if (NVME_CC_IOCQES(nvme_reg32(c, NVME_REG_CC)) != 4)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if ((r->cmd.prp1 & (NVME_PAGE - 1)) || !r->cmd.prp1 || NVME_SQE_PSDT(r->cmd.flags))
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if (reactor_count() == 0)
		return NVME_SC_INTERNAL;
	struct nvme_cq *cq = nvme_cq_alloc(c, qid, qsize, r->cmd.prp1, ien, iv);
	if (!cq)
		return NVME_SC_INVALID_FIELD | NVME_DNR;	/* ring not in the client's map */
	c->cqs[qid] = cq;
	c->io_queues_created = true;
	log_debug("%s: I/O CQ %u (%u entries, vector %u) on reactor %d", c->name, qid, qsize, iv,
		  cq->reactor);
	return NVME_SC_SUCCESS;
}

static uint16_t adm_create_sq(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint16_t qid = r->cmd.cdw10 & 0xffff;
	uint32_t qsize = (r->cmd.cdw10 >> 16) + 1;
	bool pc = r->cmd.cdw11 & 1;
	uint16_t cqid = (uint16_t)(r->cmd.cdw11 >> 16);
	if (!qid || qid > allowed_queues(c, false) || c->sqs[qid])
		return NVME_SC_QID_INVALID | NVME_DNR;
	if (qsize < 2 || qsize > c->mqes + 1)
		return NVME_SC_QUEUE_SIZE | NVME_DNR;
	/* CQID 0 (the admin CQ) or past the CQs allocated by Number of
	 * Queues: Invalid Queue Identifier (NVMe 1.4, Create I/O SQ); an
	 * allowed CQID with no CQ created: Completion Queue Invalid */
	if (!cqid || cqid > allowed_queues(c, true))
		return NVME_SC_QID_INVALID | NVME_DNR;
	if (!c->cqs[cqid])
		return NVME_SC_CQ_INVALID | NVME_DNR;
	if (!pc)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if (NVME_CC_IOSQES(nvme_reg32(c, NVME_REG_CC)) != 6)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	if ((r->cmd.prp1 & (NVME_PAGE - 1)) || !r->cmd.prp1 || NVME_SQE_PSDT(r->cmd.flags))
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	struct nvme_sq *sq = nvme_sq_alloc(c, qid, qsize, r->cmd.prp1, c->cqs[cqid]);
	if (!sq)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	c->sqs[qid] = sq;
	c->io_queues_created = true;
	nvme_ioq_start(sq);
	log_debug("%s: I/O SQ %u (%u entries) -> CQ %u on reactor %d", c->name, qid, qsize, cqid,
		  sq->reactor);
	return NVME_SC_SUCCESS;
}

struct del_sq {
	struct nvme_ctrl *c;
	struct nvme_req *r;
	uint16_t qid;
	uint32_t gen;
};

static void del_sq_done(void *arg)
{
	struct del_sq *d = arg;
	struct nvme_ctrl *c = d->c;
	struct nvme_sq *sq = c->sqs[d->qid];
	if (sq) {
		/* keep the SMART totals of the queue */
		nvme_ctrl_retire_sq_stats(c, sq);
		nvme_sq_free(sq);
		c->sqs[d->qid] = NULL;
	}
	if (d->gen == c->admin_gen)
		nvme_req_complete(d->r, NVME_SC_SUCCESS);
	free(d);
}

static bool adm_delete_sq(struct nvme_ctrl *c, struct nvme_req *r, uint16_t *st)
{
	uint16_t qid = r->cmd.cdw10 & 0xffff;
	if (!qid || qid > NVME_MAX_IO_QUEUES || !c->sqs[qid] || qlife_stop_requested(&c->sqs[qid]->life)) {
		*st = NVME_SC_QID_INVALID | NVME_DNR;
		return false;
	}
	struct del_sq *d = malloc(sizeof(*d));
	if (!d) {
		*st = NVME_SC_INTERNAL;
		return false;
	}
	d->c = c;
	d->r = r;
	d->qid = qid;
	d->gen = c->admin_gen;
	/* commands already fetched finish; the rest of the ring is dropped */
	nvme_ioq_stop(c->sqs[qid], del_sq_done, d);
	return true;
}

static uint16_t adm_delete_cq(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint16_t qid = r->cmd.cdw10 & 0xffff;
	if (!qid || qid > NVME_MAX_IO_QUEUES || !c->cqs[qid])
		return NVME_SC_QID_INVALID | NVME_DNR;
	if (c->cqs[qid]->sq_refs)
		return NVME_SC_INVALID_QUEUE_DELETE | NVME_DNR;
	nvme_cq_free(c->cqs[qid]);
	c->cqs[qid] = NULL;
	return NVME_SC_SUCCESS;
}

/* --- other commands --- */

static bool adm_aer(struct nvme_ctrl *c, struct nvme_req *r, uint16_t *st)
{
	if (c->aer_outstanding > NVME_AERL) {
		*st = NVME_SC_AER_LIMIT | NVME_DNR;
		return false;
	}
	c->aer_cids[c->aer_outstanding++] = r->cmd.cid;
	nvme_admin_aer_flush(c);
	return true;	/* completes when an event happens */
}

static uint16_t adm_abort(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint16_t sqid = r->cmd.cdw10 & 0xffff, cid = (uint16_t)(r->cmd.cdw10 >> 16);
	r->cpl.dw0 = 1;	/* not aborted: I/O in flight is never torn away */
	if (sqid == 0) {
		for (int i = 0; i < c->aer_outstanding; i++) {
			if (c->aer_cids[i] != cid)
				continue;
			struct nvme_sq *sq = c->sqs[0];
			for (uint32_t k = 0; k < sq->size; k++) {
				struct nvme_req *a = &sq->reqs[k];
				if (a->in_use && a->cmd.opc == NVME_ADM_ASYNC_EVENT && a->cmd.cid == cid) {
					c->aer_cids[i] = c->aer_cids[--c->aer_outstanding];
					nvme_req_complete(a, NVME_SC_ABORT_REQ);
					r->cpl.dw0 = 0;
					return NVME_SC_SUCCESS;
				}
			}
		}
	}
	return NVME_SC_SUCCESS;
}

static uint16_t adm_dbbuf(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint64_t db = r->cmd.prp1, ei = r->cmd.prp2;
	if (c->doorbells_spin)
		return NVME_SC_INVALID_OPCODE | NVME_DNR;
	if (!db || !ei || (db & (NVME_PAGE - 1)) || (ei & (NVME_PAGE - 1)) || NVME_SQE_PSDT(r->cmd.flags))
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	struct iovec iov;
	if (emu_dma_map(c->fn, db, NVME_PAGE, EMU_DMA_READ, &iov, 1) != 1 ||
	    emu_dma_map(c->fn, ei, NVME_PAGE, EMU_DMA_WRITE, &iov, 1) != 1)
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	c->dbbuf_gpa = db;
	c->eventidx_gpa = ei;
	/* release: the addresses are visible before a queue sees the flag */
	__atomic_store_n(&c->dbbuf_enabled, true, __ATOMIC_RELEASE);
	__atomic_fetch_add(&c->dbbuf_epoch, 1, __ATOMIC_RELEASE);
	log_info("%s: shadow doorbells enabled", c->name);
	return NVME_SC_SUCCESS;
}

static uint16_t adm_fw_download(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint64_t len = ((uint64_t)r->cmd.cdw10 + 1) * 4;
	if (len > ((uint64_t)NVME_PAGE << (c->mdts ? c->mdts : 7)))
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	uint16_t st = nvme_map_dptr(c, r, len, EMU_DMA_READ);
	if (st)
		return st;
	/* osnap's firmware is osnapd itself: the image is accepted and counted
	 * but never installed (see Firmware Commit) */
	c->fw_bytes += len;
	return NVME_SC_SUCCESS;
}

static uint16_t adm_fw_commit(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint8_t fs = r->cmd.cdw10 & 7, ca = (r->cmd.cdw10 >> 3) & 7;
	if (fs > c->fw_slots)
		return NVME_SC_INVALID_FW_SLOT | NVME_DNR;
	switch (ca) {
	case 0: case 1: case 3:
		/* replacing the image is not something an emulated controller
		 * can do: its firmware is the service */
		return NVME_SC_INVALID_FW_IMAGE | NVME_DNR;
	case 2:
		if (fs == 0)
			fs = c->fw_active_slot;
		/* a valid slot without an image: the image to activate is
		 * invalid (Invalid Firmware Slot is for slots out of range) */
		if (!c->fw_rev[fs][0])
			return NVME_SC_INVALID_FW_IMAGE | NVME_DNR;
		c->fw_active_slot = fs;
		return NVME_SC_SUCCESS;
	default:
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	}
}

/* Execute one admin command; returns true when it completes later. */
static void admin_execute(struct nvme_ctrl *c, struct nvme_req *r)
{
	uint16_t st = NVME_SC_SUCCESS;
	bool later = false;

	if (NVME_SQE_FUSE(r->cmd.flags)) {
		nvme_req_complete(r, NVME_SC_INVALID_FIELD | NVME_DNR);
		return;
	}
	switch (r->cmd.opc) {
	case NVME_ADM_IDENTIFY: st = adm_identify(c, r); break;
	case NVME_ADM_GET_LOG_PAGE: st = adm_get_log(c, r); break;
	case NVME_ADM_GET_FEATURES: st = adm_features(c, r, false); break;
	case NVME_ADM_SET_FEATURES: st = adm_features(c, r, true); break;
	case NVME_ADM_CREATE_CQ: st = adm_create_cq(c, r); break;
	case NVME_ADM_CREATE_SQ: st = adm_create_sq(c, r); break;
	case NVME_ADM_DELETE_SQ: later = adm_delete_sq(c, r, &st); break;
	case NVME_ADM_DELETE_CQ: st = adm_delete_cq(c, r); break;
	case NVME_ADM_ASYNC_EVENT: later = adm_aer(c, r, &st); break;
	case NVME_ADM_ABORT: st = adm_abort(c, r); break;
	case NVME_ADM_KEEP_ALIVE: nvme_ctrl_keep_alive(c); break;
	case NVME_ADM_DBBUF_CONFIG: st = adm_dbbuf(c, r); break;
	case NVME_ADM_FW_DOWNLOAD: st = adm_fw_download(c, r); break;
	case NVME_ADM_FW_COMMIT: st = adm_fw_commit(c, r); break;
	default:
		st = NVME_SC_INVALID_OPCODE | NVME_DNR;
		break;
	}
	if (!later)
		nvme_req_complete(r, st);
}

void nvme_admin_poll(struct nvme_ctrl *c)
{
	struct nvme_sq *sq = c->sqs[0];
	if (!sq || c->state != NVME_CTRL_READY)
		return;
	admin_flush_backlog(c);
	if (c->suspended)
		return;
	uint32_t tail = nvme_sq_tail_doorbell(sq);
	if (tail >= sq->size)
		return;	/* invalid doorbell value: ignored */
	if (emu_mem_generation(c->fn) != sq->mem.gen &&
	    (nvme_qmem_map(c, &sq->mem, EMU_DMA_READ) || nvme_qmem_map(c, &c->cqs[0]->mem, EMU_DMA_WRITE))) {
		/* outside the client's map for now (see sq_remap_if_needed):
		 * the commands wait; the controller's mem_map polls again */
		log_debug("%s: admin queue rings are not in the client's memory; waiting", c->name);
		return;
	}
	while (sq->head != tail && sq->free_list && c->state == NVME_CTRL_READY) {
		struct nvme_sqe *e = nvme_qmem_entry(&sq->mem, sq->head * (uint32_t)sizeof(*e));
		struct nvme_req *r = sq->free_list;
		sq->free_list = r->next;
		sq->free_slots--;
		sq->inflight++;
		r->in_use = true;
		memcpy(&r->cmd, e, sizeof(r->cmd));
		memset(&r->cpl, 0, sizeof(r->cpl));
		sq->head = (sq->head + 1) % sq->size;
		sq->received++;
		admin_execute(c, r);
		if (c->sqs[0] != sq)
			return;	/* the command reset the controller */
	}
}

void nvme_admin_reset(struct nvme_ctrl *c)
{
	/* outstanding admin commands (AERs, deletions) are dropped */
	c->admin_gen++;
	c->aer_outstanding = 0;
}
