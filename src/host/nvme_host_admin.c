/* Admin commands of the host NVMe driver: the generic synchronous path
 * (with bounce buffers), Identify, features, log pages, queue management,
 * Abort, Asynchronous Event Requests, Doorbell Buffer Config and the
 * namespace scan. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/nvme_host_priv.h"

int nvme_host_admin_flags(struct nvme_host *h, const struct nvme_sqe *sqe, uint32_t flags,
			  void *data, size_t len, struct nvme_cqe *cqe)
{
	struct nvme_host_queue *q = nvme_host_queue(h, 0);
	struct nvme_host_cmd cmd;
	void *bounce = NULL;
	unsigned int dir = sqe->opc & 3u;	/* 01b to controller, 10b from it */

	if (!q || (len && !data))
		return -EINVAL;
	memset(&cmd, 0, sizeof(cmd));
	cmd.sqe = *sqe;
	cmd.flags = flags;
	if (len) {
		uint64_t iova;
		if (nvme_arena_iova(&h->arena, data, len, &iova) == 0) {
			cmd.buf = data;
		} else {
			bounce = nvme_arena_alloc(&h->arena, len, NVME_HOST_PAGE, NULL);
			if (!bounce)
				return -ENOMEM;
			if (dir != 2u)
				memcpy(bounce, data, len);
			cmd.buf = bounce;
		}
		cmd.len = len;
	}
	int rc = nvme_queue_submit(h, q, &cmd);
	if (rc) {
		if (cmd.priv.queued)
			nvme_queue_abandon(q, &cmd, bounce);
		else
			nvme_arena_free(&h->arena, bounce);
		return rc;
	}
	rc = nvme_queue_wait(h, q, &cmd, h->opts.admin_timeout_ms, bounce);
	if (!cmd.completed)
		return rc;		/* bounce now belongs to the abandoned slot */
	if (bounce) {
		if (dir != 1u)
			memcpy(data, bounce, len);
		nvme_arena_free(&h->arena, bounce);
	}
	if (cqe)
		*cqe = cmd.cqe;
	return rc;
}

int nvme_host_admin(struct nvme_host *h, const struct nvme_sqe *sqe, void *data, size_t len,
		    struct nvme_cqe *cqe)
{
	if (!h || !sqe)
		return -EINVAL;
	return nvme_host_admin_flags(h, sqe, 0, data, len, cqe);
}

/* ---- Identify ------------------------------------------------------------------------------- */

int nvme_host_identify(struct nvme_host *h, uint8_t cns, uint32_t nsid, uint16_t cntid, void *buf)
{
	struct nvme_sqe sqe = { .opc = NVME_ADM_IDENTIFY, .nsid = nsid };

	sqe.cdw10 = cns | ((uint32_t)cntid << 16);
	return nvme_host_admin(h, &sqe, buf, NVME_IDENTIFY_LEN, NULL);
}

int nvme_host_identify_ctrl(struct nvme_host *h, struct nvme_id_ctrl *id)
{
	return nvme_host_identify(h, NVME_CNS_CTRL, 0, 0, id);
}

int nvme_host_identify_ns(struct nvme_host *h, uint32_t nsid, struct nvme_id_ns *id)
{
	return nvme_host_identify(h, NVME_CNS_NS, nsid, 0, id);
}

int nvme_host_active_ns_list(struct nvme_host *h, uint32_t start_nsid, uint32_t list[1024])
{
	return nvme_host_identify(h, NVME_CNS_ACTIVE_NS_LIST, start_nsid, 0, list);
}

int nvme_host_ns_descs(struct nvme_host *h, uint32_t nsid, void *buf)
{
	return nvme_host_identify(h, NVME_CNS_NS_DESC_LIST, nsid, 0, buf);
}

int nvme_host_ns_desc_find(const void *list, uint8_t nidt, void *out, size_t cap)
{
	const uint8_t *p = list;
	size_t off = 0;

	while (off + sizeof(struct nvme_ns_id_desc) <= NVME_IDENTIFY_LEN) {
		const struct nvme_ns_id_desc *d = (const void *)(p + off);
		if (d->nidt == 0)
			break;		/* end of the list */
		size_t end = off + sizeof(*d) + d->nidl;
		if (end > NVME_IDENTIFY_LEN)
			return -EBADMSG;
		if (d->nidt == nidt) {
			if (cap < d->nidl)
				return -ENOSPC;
			memcpy(out, p + off + sizeof(*d), d->nidl);
			return d->nidl;
		}
		off = end;
	}
	return -ENOENT;
}

/* ---- features and log pages ---------------------------------------------------------------- */

int nvme_host_get_features(struct nvme_host *h, uint8_t fid, uint8_t sel, uint32_t nsid,
			   uint32_t cdw11, void *data, size_t len, uint32_t *dw0)
{
	struct nvme_sqe sqe = { .opc = NVME_ADM_GET_FEATURES, .nsid = nsid };
	struct nvme_cqe cqe = { 0 };

	sqe.cdw10 = fid | ((uint32_t)(sel & 7u) << 8);
	sqe.cdw11 = cdw11;
	int rc = nvme_host_admin(h, &sqe, data, len, &cqe);
	if (rc >= 0 && dw0)
		*dw0 = cqe.dw0;
	return rc;
}

int nvme_host_set_features(struct nvme_host *h, uint8_t fid, bool save, uint32_t nsid,
			   uint32_t cdw11, void *data, size_t len, uint32_t *dw0)
{
	struct nvme_sqe sqe = { .opc = NVME_ADM_SET_FEATURES, .nsid = nsid };
	struct nvme_cqe cqe = { 0 };

	sqe.cdw10 = fid | (save ? NVME_FEAT_SV : 0u);
	sqe.cdw11 = cdw11;
	int rc = nvme_host_admin(h, &sqe, data, len, &cqe);
	if (rc >= 0 && dw0)
		*dw0 = cqe.dw0;
	return rc;
}

int nvme_host_get_log_page(struct nvme_host *h, uint8_t lid, uint32_t nsid, uint64_t offset,
			   bool rae, void *buf, size_t len)
{
	if (len == 0 || (len & 3) || (offset & 3) || len / 4 - 1 > UINT32_MAX)
		return -EINVAL;
	uint32_t numd = (uint32_t)(len / 4 - 1);	/* zero based dwords */
	struct nvme_sqe sqe = { .opc = NVME_ADM_GET_LOG_PAGE, .nsid = nsid };

	sqe.cdw10 = lid | (rae ? 1u << 15 : 0u) | ((numd & 0xffffu) << 16);
	sqe.cdw11 = numd >> 16;
	sqe.cdw12 = (uint32_t)offset;
	sqe.cdw13 = (uint32_t)(offset >> 32);
	return nvme_host_admin(h, &sqe, buf, len, NULL);
}

/* ---- queue management ------------------------------------------------------------------------ */

/* Queue creation names its memory in PRP1 (physically contiguous, PC = 1);
 * the SQE goes with its DPTR as built here. */
static int create_queue(struct nvme_host *h, uint8_t opc, uint16_t qid, uint16_t qsize_zb,
			uint64_t iova, uint32_t cdw11)
{
	struct nvme_sqe sqe = { .opc = opc };

	sqe.dptr.prp1 = iova;
	sqe.cdw10 = qid | ((uint32_t)qsize_zb << 16);
	sqe.cdw11 = cdw11;
	return nvme_host_admin_flags(h, &sqe, NVME_HOST_F_DPTR, NULL, 0, NULL);
}

int nvme_host_create_io_cq(struct nvme_host *h, uint16_t qid, uint16_t qsize_zb, uint64_t iova,
			   uint16_t vector, uint32_t flags)
{
	return create_queue(h, NVME_ADM_CREATE_CQ, qid, qsize_zb, iova,
			    (flags & 0xffffu) | ((uint32_t)vector << NVME_CQ_IV_SHIFT));
}

int nvme_host_create_io_sq(struct nvme_host *h, uint16_t qid, uint16_t qsize_zb, uint64_t iova,
			   uint16_t cqid, uint32_t flags)
{
	return create_queue(h, NVME_ADM_CREATE_SQ, qid, qsize_zb, iova,
			    (flags & 0xffffu) | ((uint32_t)cqid << NVME_SQ_CQID_SHIFT));
}

static int delete_queue(struct nvme_host *h, uint8_t opc, uint16_t qid)
{
	struct nvme_sqe sqe = { .opc = opc };

	sqe.cdw10 = qid;
	return nvme_host_admin(h, &sqe, NULL, 0, NULL);
}

int nvme_host_delete_io_sq(struct nvme_host *h, uint16_t qid)
{
	return delete_queue(h, NVME_ADM_DELETE_SQ, qid);
}

int nvme_host_delete_io_cq(struct nvme_host *h, uint16_t qid)
{
	return delete_queue(h, NVME_ADM_DELETE_CQ, qid);
}

int nvme_host_abort(struct nvme_host *h, uint16_t sqid, uint16_t cid, uint32_t *dw0)
{
	struct nvme_sqe sqe = { .opc = NVME_ADM_ABORT };
	struct nvme_cqe cqe = { 0 };

	sqe.cdw10 = sqid | ((uint32_t)cid << 16);
	int rc = nvme_host_admin(h, &sqe, NULL, 0, &cqe);
	if (rc >= 0 && dw0)
		*dw0 = cqe.dw0;
	return rc;
}

/* ---- asynchronous events ---------------------------------------------------------------------- */

/* done() of an AER: keep the result for nvme_host_aer_poll() (the oldest
 * is dropped when the ring is full). */
static void aer_done(struct nvme_host_cmd *cmd)
{
	struct nvme_host *h = cmd->arg;
	unsigned int idx = (unsigned int)(cmd - h->aer);

	h->aer_busy[idx] = false;
	if (h->aer_count == NVME_HOST_AER_RING) {
		h->aer_head = (h->aer_head + 1) % NVME_HOST_AER_RING;
		h->aer_count--;
	}
	unsigned int slot = (h->aer_head + h->aer_count) % NVME_HOST_AER_RING;
	h->aer_done[slot].result = cmd->result;
	h->aer_done[slot].cqe = cmd->cqe;
	h->aer_count++;
}

int nvme_host_aer_submit(struct nvme_host *h)
{
	struct nvme_host_queue *q = nvme_host_queue(h, 0);
	unsigned int i;

	if (!q)
		return -EINVAL;
	for (i = 0; i < NVME_HOST_MAX_AER && h->aer_busy[i]; i++)
		;
	if (i == NVME_HOST_MAX_AER)
		return -EBUSY;
	struct nvme_host_cmd *cmd = &h->aer[i];
	memset(cmd, 0, sizeof(*cmd));
	cmd->sqe.opc = NVME_ADM_ASYNC_EVENT;
	cmd->done = aer_done;
	cmd->arg = h;
	int rc = nvme_queue_submit(h, q, cmd);
	if (rc == 0 || cmd->priv.queued)
		h->aer_busy[i] = true;	/* in flight (a doorbell error still left it queued) */
	return rc;
}

int nvme_host_aer_poll(struct nvme_host *h, int timeout_ms, struct nvme_cqe *cqe)
{
	struct nvme_host_queue *q = nvme_host_queue(h, 0);
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : nvme_host_now_ms() + timeout_ms;
	unsigned int idle = 0;

	if (!q)
		return -EINVAL;
	for (;;) {
		if (h->aer_count) {
			unsigned int s = h->aer_head;
			h->aer_head = (h->aer_head + 1) % NVME_HOST_AER_RING;
			h->aer_count--;
			if (cqe)
				*cqe = h->aer_done[s].cqe;
			return h->aer_done[s].result;
		}
		int n = nvme_queue_poll(h, q, 0);
		if (n < 0 && n != -EPROTO)
			return n;
		if (n > 0 || h->aer_count)
			continue;
		int64_t now = nvme_host_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		nvme_queue_backoff(q, &idle, deadline - now);
	}
}

unsigned int nvme_host_aer_outstanding(const struct nvme_host *h)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < NVME_HOST_MAX_AER; i++)
		n += h->aer_busy[i];
	return n;
}

/* ---- Doorbell Buffer Config --------------------------------------------------------------------- */

int nvme_host_dbbuf_setup(struct nvme_host *h)
{
	/* every queue's entries must fit the one page of each buffer */
	if (nvme_cq_db_off(h->opts.nr_io_queues, h->dstrd) + 4 > NVME_HOST_PAGE)
		return 0;
	if (!h->shadow_page) {
		h->shadow_page = nvme_arena_alloc(&h->arena, NVME_HOST_PAGE, NVME_HOST_PAGE,
						  &h->shadow_iova);
		h->ei_page = nvme_arena_alloc(&h->arena, NVME_HOST_PAGE, NVME_HOST_PAGE,
					      &h->ei_iova);
		if (!h->shadow_page || !h->ei_page) {
			nvme_arena_free(&h->arena, h->shadow_page);
			nvme_arena_free(&h->arena, h->ei_page);
			h->shadow_page = h->ei_page = NULL;
			return -ENOMEM;
		}
	}
	memset(h->shadow_page, 0, NVME_HOST_PAGE);
	memset(h->ei_page, 0, NVME_HOST_PAGE);
	/* The admin queue's shadow entries hold its current values from now
	 * on (its real doorbells are still always written), so the controller
	 * finds them right whether or not it uses shadows for queue 0. */
	nvme_queue_set_shadow(&h->q[0], h->shadow_page, h->ei_page);
	h->shadow_on = true;

	struct nvme_sqe sqe = { .opc = NVME_ADM_DBBUF_CONFIG };
	sqe.dptr.prp1 = h->shadow_iova;
	sqe.dptr.prp2 = h->ei_iova;
	int rc = nvme_host_admin_flags(h, &sqe, NVME_HOST_F_DPTR, NULL, 0, NULL);
	if (rc) {
		h->shadow_on = false;
		nvme_queue_set_shadow(&h->q[0], NULL, NULL);
	}
	return rc;
}

/* ---- namespaces ---------------------------------------------------------------------------------- */

/* Identify nsid and fill *ns; 1 when it is active and usable, 0 when not, or
 * a negative errno. */
static int ns_probe(struct nvme_host *h, uint32_t nsid, struct nvme_id_ns *id, struct nvme_host_ns *ns)
{
	int st = nvme_host_identify_ns(h, nsid, id);

	if (st < 0)
		return st;
	if (st > 0 || id->nsze == 0)
		return 0;
	const struct nvme_lbaf *f = &id->lbaf[id->flbas & 0xf];
	if (f->lbads < 9 || f->lbads > 24)
		return 0;
	ns->nsid = nsid;
	ns->nsze = id->nsze;
	ns->ncap = id->ncap;
	ns->lba_size = 1u << f->lbads;
	ns->ms = f->ms;
	ns->block_bytes = ns->lba_size + ((id->flbas & 0x10) ? f->ms : 0u);
	return 1;
}

int nvme_host_ns_refresh(struct nvme_host *h)
{
	uint32_t *list = malloc(NVME_IDENTIFY_LEN);
	struct nvme_id_ns *id = malloc(sizeof(*id));
	struct nvme_host_ns *ns = NULL;
	size_t n = 0;
	int rc;

	if (!list || !id) {
		rc = -ENOMEM;
		goto out;
	}
	rc = nvme_host_active_ns_list(h, 0, list);
	if (rc < 0)
		goto out;
	if (rc > 0) {
		/* no CNS 02h (before 1.1): probe NSIDs 1..NN */
		uint32_t nn = h->id.nn < 1024 ? h->id.nn : 1024;
		for (uint32_t i = 0; i < nn; i++)
			list[i] = i + 1;
		if (nn < 1024)
			list[nn] = 0;
	}
	ns = calloc(1024, sizeof(*ns));
	if (!ns) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < 1024 && list[i]; i++) {
		rc = ns_probe(h, list[i], id, &ns[n]);
		if (rc < 0)
			goto out;
		n += (size_t)rc;
	}
	free(h->ns);
	h->ns = ns;
	h->nns = n;
	ns = NULL;
	rc = 0;
out:
	free(ns);
	free(id);
	free(list);
	return rc;
}
