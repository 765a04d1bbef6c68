/* Submission/completion ring arithmetic of the host NVMe driver. */
#include <errno.h>
#include <string.h>

#include "host/nvme_host_ring.h"

void nvme_sq_ring_init(struct nvme_sq_ring *sq, struct nvme_sqe *ring, uint32_t depth)
{
	sq->ring = ring;
	sq->depth = depth;
	sq->tail = 0;
	sq->head = 0;
}

bool nvme_sq_ring_full(const struct nvme_sq_ring *sq)
{
	return (sq->tail + 1) % sq->depth == sq->head;
}

uint32_t nvme_sq_ring_push(struct nvme_sq_ring *sq, const struct nvme_sqe *sqe)
{
	memcpy(&sq->ring[sq->tail], sqe, sizeof(*sqe));
	sq->tail = (sq->tail + 1) % sq->depth;
	return sq->tail;
}

int nvme_sq_ring_set_head(struct nvme_sq_ring *sq, uint16_t sqhd)
{
	if (sqhd >= sq->depth)
		return -EPROTO;
	sq->head = sqhd;
	return 0;
}

void nvme_cq_ring_init(struct nvme_cq_ring *cq, struct nvme_cqe *ring, uint32_t depth)
{
	cq->ring = ring;
	cq->depth = depth;
	cq->head = 0;
	cq->phase = 1;
}

bool nvme_cq_ring_peek(const struct nvme_cq_ring *cq, struct nvme_cqe *out)
{
	struct nvme_cqe *e = &cq->ring[cq->head];
	/* acquire: the status/phase half-word is read before the rest of the
	 * CQE, so a CQE seen with the new phase is seen whole (the controller
	 * writes the phase last). */
	uint16_t st = __atomic_load_n(&e->status, __ATOMIC_ACQUIRE);

	if ((st & NVME_CQE_PHASE) != cq->phase)
		return false;
	out->dw0 = __atomic_load_n(&e->dw0, __ATOMIC_RELAXED);
	out->dw1 = __atomic_load_n(&e->dw1, __ATOMIC_RELAXED);
	out->sqhd = __atomic_load_n(&e->sqhd, __ATOMIC_RELAXED);
	out->sqid = __atomic_load_n(&e->sqid, __ATOMIC_RELAXED);
	out->cid = __atomic_load_n(&e->cid, __ATOMIC_RELAXED);
	out->status = st;
	return true;
}

uint32_t nvme_cq_ring_advance(struct nvme_cq_ring *cq)
{
	if (++cq->head == cq->depth) {
		cq->head = 0;
		cq->phase ^= 1;
	}
	return cq->head;
}

bool nvme_need_event(uint16_t event_idx, uint16_t new_val, uint16_t old)
{
	return (uint16_t)(new_val - event_idx - 1) < (uint16_t)(new_val - old);
}
