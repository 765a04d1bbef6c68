/* Queue pairs of the host NVMe driver: memory, command identifiers,
 * submission with PRP/SGL data pointers, doorbells (direct, trapped, shadow +
 * EventIdx), completion reaping, waiting (polled or on the MSI-X eventfd). */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "host/nvme_host_priv.h"

/* ---- memory ------------------------------------------------------------------------ */

int nvme_queue_alloc(struct nvme_host *h, struct nvme_host_queue *q, uint16_t qid, uint32_t depth)
{
	memset(q, 0, sizeof(*q));
	q->h = h;
	q->qid = qid;
	q->depth = depth;
	q->efd = -1;
	q->nslots = (uint16_t)(depth - 1 > 0xffff ? 0xffff : depth - 1);
	q->sq_mem = nvme_arena_alloc(&h->arena, (size_t)depth * sizeof(struct nvme_sqe),
				     NVME_HOST_PAGE, &q->sq_iova);
	q->cq_mem = nvme_arena_alloc(&h->arena, (size_t)depth * sizeof(struct nvme_cqe),
				     NVME_HOST_PAGE, &q->cq_iova);
	q->slots = calloc(q->nslots, sizeof(*q->slots));
	q->free_cids = calloc(q->nslots, sizeof(*q->free_cids));
	if (!q->sq_mem || !q->cq_mem || !q->slots || !q->free_cids)
		goto nomem;

	/* Worst case of one transfer: max_xfer bytes starting at a dword offset. */
	struct nvme_host_sg worst = { 4, h->max_xfer };
	int lp = nvme_host_prp_list_pages(&worst, 1, NVME_HOST_PAGE);
	if (lp < 1)
		lp = 1;		/* at least one page: SGL segments */
	q->desc_bytes = (uint32_t)lp * NVME_HOST_PAGE;
	uint64_t desc_iova;
	q->desc_mem = nvme_arena_alloc(&h->arena, (size_t)q->nslots * q->desc_bytes,
				       NVME_HOST_PAGE, &desc_iova);
	if (!q->desc_mem)
		goto nomem;
	for (uint16_t i = 0; i < q->nslots; i++) {
		q->slots[i].desc_va = (uint8_t *)q->desc_mem + (size_t)i * q->desc_bytes;
		q->slots[i].desc_iova = desc_iova + (uint64_t)i * q->desc_bytes;
	}
	/* free stack: CID 0 on top */
	q->nfree = q->nslots;
	for (uint16_t i = 0; i < q->nslots; i++)
		q->free_cids[i] = (uint16_t)(q->nslots - 1 - i);
	nvme_queue_reset_rings(q);
	return 0;
nomem:
	nvme_queue_free(h, q);
	return -ENOMEM;
}

void nvme_queue_free(struct nvme_host *h, struct nvme_host_queue *q)
{
	if (!q->h)
		return;
	nvme_arena_free(&h->arena, q->sq_mem);
	nvme_arena_free(&h->arena, q->cq_mem);
	nvme_arena_free(&h->arena, q->desc_mem);
	if (q->slots) {
		for (uint16_t i = 0; i < q->nslots; i++)
			nvme_arena_free(&h->arena, q->slots[i].bounce);
	}
	free(q->slots);
	free(q->free_cids);
	memset(q, 0, sizeof(*q));
	q->efd = -1;
}

void nvme_queue_reset_rings(struct nvme_host_queue *q)
{
	struct nvme_host *h = q->h;

	memset(q->cq_mem, 0, (size_t)q->depth * sizeof(struct nvme_cqe));
	nvme_sq_ring_init(&q->sq, q->sq_mem, q->depth);
	nvme_cq_ring_init(&q->cq, q->cq_mem, q->depth);
	q->sq_db_off = NVME_REG_DBS + nvme_sq_db_off(q->qid, h->dstrd);
	q->cq_db_off = NVME_REG_DBS + nvme_cq_db_off(q->qid, h->dstrd);
	q->last_sq_db = 0;
	q->last_cq_db = 0;
	if (q->shadow_sq) {
		*q->shadow_sq = 0;
		*q->shadow_cq = 0;
	}
}

void nvme_queue_set_shadow(struct nvme_host_queue *q, uint32_t *shadow_page, uint32_t *ei_page)
{
	uint32_t dstrd = q->h->dstrd;

	if (!shadow_page || !ei_page) {
		q->shadow_sq = q->shadow_cq = q->ei_sq = q->ei_cq = NULL;
		return;
	}
	q->shadow_sq = shadow_page + nvme_sq_db_off(q->qid, dstrd) / 4;
	q->shadow_cq = shadow_page + nvme_cq_db_off(q->qid, dstrd) / 4;
	q->ei_sq = ei_page + nvme_sq_db_off(q->qid, dstrd) / 4;
	q->ei_cq = ei_page + nvme_cq_db_off(q->qid, dstrd) / 4;
	*q->shadow_sq = q->last_sq_db;
	*q->shadow_cq = q->last_cq_db;
}

/* Complete one command with result and run its callback. */
static void finish(struct nvme_host_cmd *cmd, int result, const struct nvme_cqe *cqe)
{
	if (cqe)
		cmd->cqe = *cqe;
	else
		memset(&cmd->cqe, 0, sizeof(cmd->cqe));
	cmd->result = result;
	cmd->completed = true;
	if (cmd->done)
		cmd->done(cmd);
}

static void slot_release(struct nvme_host_queue *q, uint16_t cid)
{
	struct nvme_slot *s = &q->slots[cid];

	if (s->bounce) {	/* rare: an abandoned command's memory */
		nvme_arena_free(&q->h->arena, s->bounce);
		s->bounce = NULL;
	}
	s->busy = false;
	s->raw = false;
	s->cmd = NULL;
	q->free_cids[q->nfree++] = cid;
}

void nvme_queue_cancel_all(struct nvme_host_queue *q)
{
	if (!q->slots)
		return;
	for (uint16_t cid = 0; cid < q->nslots; cid++) {
		struct nvme_slot *s = &q->slots[cid];
		if (!s->busy)
			continue;
		struct nvme_host_cmd *cmd = s->cmd;
		slot_release(q, cid);
		if (cmd)
			finish(cmd, -ECANCELED, NULL);
	}
	for (int i = 0; i < NVME_HOST_MAX_RAW; i++) {
		struct nvme_raw_extra *r = &q->raw[i];
		if (!r->busy)
			continue;
		struct nvme_host_cmd *cmd = r->cmd;
		r->busy = false;
		r->cmd = NULL;
		if (cmd)
			finish(cmd, -ECANCELED, NULL);
	}
}

/* ---- doorbells ------------------------------------------------------------------------ */

/* Publish a new doorbell value (SQ tail or CQ head). With shadow doorbells
 * the shadow entry is always updated and the real register only written
 * when the EventIdx asks for it (always for the admin queue). */
static int doorbell(struct nvme_host_queue *q, uint32_t off, uint32_t *shadow, uint32_t *ei,
		    uint32_t *last, uint32_t val)
{
	struct nvme_host *h = q->h;
	uint32_t old = *last;

	*last = val;
	if (shadow && h->shadow_on) {
		/* release: the SQEs written (or the CQEs read) before this point
		 * are ordered before the new shadow value the controller polls. */
		__atomic_store_n(shadow, val, __ATOMIC_RELEASE);
		/* full barrier: the shadow store is ordered before the EventIdx
		 * load, so either the controller sees the new value or we see the
		 * EventIdx it wrote after its last look (store->load ordering). */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		uint32_t e = __atomic_load_n(ei, __ATOMIC_RELAXED);
		if (q->qid != 0 && !nvme_need_event((uint16_t)e, (uint16_t)val, (uint16_t)old)) {
			q->st.doorbells_skipped++;
			return 0;
		}
	}
	q->st.doorbells++;
	return nvme_host_db_write(h, off, val);
}

/* ---- submission --------------------------------------------------------------------------- */

/* Fill the SQE's data pointer for cmd, with descriptor memory of slot. */
static int build_dptr(struct nvme_host *h, struct nvme_host_queue *q, struct nvme_slot *slot,
		      const struct nvme_host_cmd *cmd, struct nvme_sqe *sqe)
{
	struct nvme_host_sg one;
	const struct nvme_host_sg *sg = cmd->sg;
	unsigned int nsg = cmd->nsg;

	if (cmd->flags & NVME_HOST_F_DPTR)
		return 0;	/* the caller's PSDT and DPTR go out unchanged */
	memset(&sqe->dptr, 0, sizeof(sqe->dptr));
	sqe->flags &= (uint8_t)~NVME_SQE_PSDT_MASK;
	if (nsg == 0) {
		if (cmd->len == 0)
			return 0;	/* no data */
		if (cmd->len > UINT32_MAX ||
		    nvme_arena_iova(&h->arena, cmd->buf, cmd->len, &one.iova))
			return -EINVAL;
		one.len = (uint32_t)cmd->len;
		sg = &one;
		nsg = 1;
	}
	uint64_t total = 0;
	for (unsigned int i = 0; i < nsg; i++)
		total += sg[i].len;
	if (total > h->max_xfer)
		return -E2BIG;

	struct nvme_host_dmem dm = { slot->desc_va, slot->desc_iova, q->desc_bytes };
	if (cmd->flags & NVME_HOST_F_SGL) {
		uint32_t sgls = NVME_SGLS_SUPPORT(h->id.sgls);
		if (q->qid == 0)
			return -EINVAL;		/* admin commands use PRPs (PCIe) */
		if (sgls == NVME_SGLS_NONE)
			return -EOPNOTSUPP;
		int rc = nvme_host_build_sgl(sg, nsg, NVME_HOST_PAGE / sizeof(struct nvme_sgl_desc),
					     sgls == NVME_SGLS_DWORD_ALIGN, &dm, &sqe->dptr.sgl1);
		if (rc)
			return rc == -ENOSPC ? -E2BIG : rc;
		sqe->flags |= (uint8_t)(NVME_PSDT_SGL_MPTR_BUF << NVME_SQE_PSDT_SHIFT);
		return 0;
	}
	int rc = nvme_host_build_prp(sg, nsg, NVME_HOST_PAGE, &dm, &sqe->dptr.prp1, &sqe->dptr.prp2);
	return rc == -ENOSPC ? -E2BIG : rc;
}

/* Take a raw command's CID: a driver slot when it is in range, else an extra
 * entry. */
static int reserve_raw(struct nvme_host_queue *q, uint16_t cid, struct nvme_host_cmd *cmd)
{
	if (cid < q->nslots) {
		struct nvme_slot *s = &q->slots[cid];
		if (s->busy)
			return -EBUSY;
		for (uint16_t i = 0; i < q->nfree; i++) {
			if (q->free_cids[i] == cid) {
				q->free_cids[i] = q->free_cids[--q->nfree];
				break;
			}
		}
		s->busy = true;
		s->raw = true;
		s->cmd = cmd;
		cmd->priv.raw_extra = false;
		return 0;
	}
	/* Extra CIDs still count against the queue: never more commands in
	 * flight than CQ entries - 1, so the CQ cannot overflow. */
	unsigned int busy = (unsigned int)(q->nslots - q->nfree);
	for (int i = 0; i < NVME_HOST_MAX_RAW; i++)
		busy += q->raw[i].busy;
	if (busy >= q->nslots)
		return -EBUSY;
	struct nvme_raw_extra *slot = NULL;
	for (int i = 0; i < NVME_HOST_MAX_RAW; i++) {
		if (q->raw[i].busy && q->raw[i].cid == cid)
			return -EBUSY;
		if (!q->raw[i].busy && !slot)
			slot = &q->raw[i];
	}
	if (!slot)
		return -EBUSY;
	slot->busy = true;
	slot->cid = cid;
	slot->cmd = cmd;
	cmd->priv.raw_extra = true;
	return 0;
}

int nvme_queue_submit(struct nvme_host *h, struct nvme_host_queue *q, struct nvme_host_cmd *cmd)
{
	uint16_t cid;

	if (h->shut_down)
		return -ESHUTDOWN;
	if (!q->live)
		return -EINVAL;
	if (nvme_sq_ring_full(&q->sq))
		return -EBUSY;
	cmd->completed = false;
	cmd->result = 0;
	cmd->priv.queued = false;
	if (cmd->flags & NVME_HOST_F_RAW) {
		cid = cmd->sqe.cid;
		int rc = reserve_raw(q, cid, cmd);
		if (rc)
			return rc;
	} else {
		if (q->nfree == 0)
			return -EBUSY;
		cid = q->free_cids[q->nfree - 1];
		struct nvme_slot *s = &q->slots[cid];
		if (cmd->flags & NVME_HOST_F_DPTR) {
			/* the caller's data pointer, prepared once: only the
			 * CID changes (the SQE is copied once, into the ring) */
			cmd->sqe.cid = cid;
		} else {
			struct nvme_sqe sqe = cmd->sqe;
			sqe.cid = cid;
			int rc = build_dptr(h, q, s, cmd, &sqe);
			if (rc)
				return rc;
			cmd->sqe = sqe;		/* show the caller what was sent */
		}
		q->nfree--;
		s->busy = true;
		s->raw = false;
		s->cmd = cmd;
		cmd->priv.raw_extra = false;
	}
	cmd->priv.cid = cid;
	uint32_t tail = nvme_sq_ring_push(&q->sq, &cmd->sqe);
	cmd->priv.queued = true;
	q->st.submitted++;
	if (cmd->flags & NVME_HOST_F_NO_DB)
		return 0;	/* published by the next submission or nvme_host_ring_sq() */
	/* doorbell() orders the SQE copy above before the tail becomes visible. */
	return doorbell(q, q->sq_db_off, q->shadow_sq, q->ei_sq, &q->last_sq_db, tail);
}

int nvme_host_ring_sq(struct nvme_host *h, uint16_t qid)
{
	struct nvme_host_queue *q = nvme_host_queue(h, qid);

	if (!q || !q->live)
		return -EINVAL;
	if (q->sq.tail == q->last_sq_db)
		return 0;
	return doorbell(q, q->sq_db_off, q->shadow_sq, q->ei_sq, &q->last_sq_db, q->sq.tail);
}

void nvme_queue_abandon(struct nvme_host_queue *q, struct nvme_host_cmd *cmd, void *bounce)
{
	uint16_t cid = cmd->priv.cid;

	if (cmd->priv.raw_extra) {
		for (int i = 0; i < NVME_HOST_MAX_RAW; i++) {
			if (q->raw[i].busy && q->raw[i].cmd == cmd)
				q->raw[i].cmd = NULL;
		}
		/* a raw command carries no bounce memory */
		nvme_arena_free(&q->h->arena, bounce);
		return;
	}
	if (cid < q->nslots && q->slots[cid].busy && q->slots[cid].cmd == cmd) {
		q->slots[cid].cmd = NULL;
		q->slots[cid].bounce = bounce;
	}
}

/* ---- completion ---------------------------------------------------------------------------- */

/* Match one CQE to its command. Returns false for an unknown CID. */
static bool complete_one(struct nvme_host_queue *q, const struct nvme_cqe *cqe)
{
	struct nvme_host_cmd *cmd = NULL;
	uint16_t cid = cqe->cid;
	bool bad = false;

	if (nvme_sq_ring_set_head(&q->sq, cqe->sqhd))
		bad = true;
	if (cqe->sqid != q->qid)
		bad = true;
	if (cid < q->nslots && q->slots[cid].busy) {
		cmd = q->slots[cid].cmd;
		slot_release(q, cid);
	} else {
		int i;
		for (i = 0; i < NVME_HOST_MAX_RAW; i++) {
			if (q->raw[i].busy && q->raw[i].cid == cid)
				break;
		}
		if (i == NVME_HOST_MAX_RAW) {
			q->st.bad_cqes++;
			return false;
		}
		cmd = q->raw[i].cmd;
		q->raw[i].busy = false;
		q->raw[i].cmd = NULL;
	}
	if (bad)
		q->st.bad_cqes++;
	q->st.completed++;
	if (cmd)
		finish(cmd, (cqe->status >> 1) & 0x7fff, cqe);
	return true;
}

int nvme_queue_poll(struct nvme_host *h, struct nvme_host_queue *q, unsigned int max)
{
	struct nvme_cqe cqe;
	unsigned int n = 0;
	bool unknown = false;

	(void)h;
	if (!q->live)
		return -EINVAL;
	while ((max == 0 || n < max) && nvme_cq_ring_peek(&q->cq, &cqe)) {
		nvme_cq_ring_advance(&q->cq);
		n++;
		if (!complete_one(q, &cqe))
			unknown = true;
	}
	if (n) {
		/* doorbell() orders the CQE reads above before the new head. */
		int rc = doorbell(q, q->cq_db_off, q->shadow_cq, q->ei_cq, &q->last_cq_db,
				  q->cq.head);
		if (rc)
			return rc;
	}
	if (unknown)
		return -EPROTO;
	return n > (unsigned int)INT32_MAX ? INT32_MAX : (int)n;
}

/* Sleep on the queue's eventfd up to ms; consume its count. Returns 1 when
 * it fired, 0 on timeout, or a negative errno. */
static int wait_efd(struct nvme_host_queue *q, int ms)
{
	struct pollfd p = { .fd = q->efd, .events = POLLIN };
	int rc = poll(&p, 1, ms);

	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	if (rc == 0)
		return 0;
	uint64_t v;
	if (read(q->efd, &v, sizeof(v)) == (ssize_t)sizeof(v))
		q->st.irqs += v;
	return 1;
}

void nvme_queue_backoff(struct nvme_host_queue *q, unsigned int *idle, int64_t left_ms)
{
	if (q->irq && q->efd >= 0) {
		/* short slices: a missing interrupt only slows us down */
		wait_efd(q, left_ms < 10 ? (int)left_ms : 10);
	} else if (++*idle > 100) {
		struct timespec ts = { 0, 20000 };
		nanosleep(&ts, NULL);
	} else {
		sched_yield();
	}
}

int nvme_queue_wait(struct nvme_host *h, struct nvme_host_queue *q, struct nvme_host_cmd *cmd,
		    int timeout_ms, void *bounce)
{
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : nvme_host_now_ms() + timeout_ms;
	unsigned int idle = 0;

	for (;;) {
		int n = nvme_queue_poll(h, q, 0);
		if (cmd->completed)
			return cmd->result;
		if (n < 0 && n != -EPROTO) {
			nvme_queue_abandon(q, cmd, bounce);
			return n;
		}
		int64_t now = nvme_host_now_ms();
		if (now >= deadline) {
			nvme_queue_abandon(q, cmd, bounce);
			return -ETIMEDOUT;
		}
		if (n > 0) {
			idle = 0;
			continue;
		}
		nvme_queue_backoff(q, &idle, deadline - now);
	}
}

/* ---- public queue API ------------------------------------------------------------------------ */

int nvme_host_submit(struct nvme_host *h, uint16_t qid, struct nvme_host_cmd *cmd)
{
	struct nvme_host_queue *q = nvme_host_queue(h, qid);

	if (h && h->shut_down)
		return -ESHUTDOWN;
	if (!q || !cmd)
		return -EINVAL;
	return nvme_queue_submit(h, q, cmd);
}

int nvme_host_poll(struct nvme_host *h, uint16_t qid, unsigned int max)
{
	struct nvme_host_queue *q = nvme_host_queue(h, qid);

	if (!q)
		return -EINVAL;
	return nvme_queue_poll(h, q, max);
}

int nvme_host_wait(struct nvme_host *h, uint16_t qid, struct nvme_host_cmd *cmd, int timeout_ms)
{
	struct nvme_host_queue *q = nvme_host_queue(h, qid);

	if (!q || !cmd)
		return -EINVAL;
	return nvme_queue_wait(h, q, cmd, timeout_ms, NULL);
}

int nvme_host_wait_irq(struct nvme_host *h, uint16_t qid, int timeout_ms)
{
	struct nvme_host_queue *q = nvme_host_queue(h, qid);

	if (!q)
		return -EINVAL;
	if (!q->irq || q->efd < 0)
		return -EOPNOTSUPP;
	int n = nvme_queue_poll(h, q, 0);
	if (n != 0)
		return n;
	int64_t deadline = timeout_ms < 0 ? INT64_MAX : nvme_host_now_ms() + timeout_ms;
	for (;;) {
		int64_t left = deadline - nvme_host_now_ms();
		if (left <= 0)
			return -ETIMEDOUT;
		int rc = wait_efd(q, left > 1000 ? 1000 : (int)left);
		if (rc < 0)
			return rc;
		if (rc == 0)
			continue;
		n = nvme_queue_poll(h, q, 0);
		if (n != 0)
			return n;
	}
}

int nvme_host_irq_fd(const struct nvme_host *h, uint16_t qid)
{
	struct nvme_host_queue *q = nvme_host_queue(h, qid);

	return q && q->irq ? q->efd : -1;
}

int nvme_host_raw(struct nvme_host *h, uint16_t qid, const struct nvme_sqe *sqe,
		  struct nvme_cqe *cqe, int timeout_ms)
{
	struct nvme_host_queue *q = nvme_host_queue(h, qid);
	struct nvme_host_cmd cmd;

	if (!q || !sqe)
		return -EINVAL;
	memset(&cmd, 0, sizeof(cmd));
	cmd.sqe = *sqe;
	cmd.flags = NVME_HOST_F_RAW;
	if (timeout_ms <= 0)
		timeout_ms = qid == 0 ? h->opts.admin_timeout_ms : h->opts.io_timeout_ms;
	int rc = nvme_queue_submit(h, q, &cmd);
	if (rc) {
		if (cmd.priv.queued)
			nvme_queue_abandon(q, &cmd, NULL);	/* doorbell failed */
		return rc;
	}
	rc = nvme_queue_wait(h, q, &cmd, timeout_ms, NULL);
	if (cqe && cmd.completed)
		*cqe = cmd.cqe;
	return rc;
}

int nvme_host_queue_stats(const struct nvme_host *h, uint16_t qid, struct nvme_host_qstats *st)
{
	struct nvme_host_queue *q = nvme_host_queue(h, qid);

	if (!q || !st)
		return -EINVAL;
	*st = q->st;
	uint32_t raw = 0;
	for (int i = 0; i < NVME_HOST_MAX_RAW; i++)
		raw += q->raw[i].busy;
	st->inflight = (uint32_t)(q->nslots - q->nfree) + raw;
	return 0;
}
