/* Submission and completion queue ring logic of the host NVMe driver, apart
 * from any controller: tail/head arithmetic, phase tags and the EventIdx
 * rule. Used by nvme_host_queue.c and tested on plain memory. */
#ifndef OSNAP_HOST_NVME_HOST_RING_H
#define OSNAP_HOST_NVME_HOST_RING_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "host/nvme_host_spec.h"

struct nvme_sq_ring {
	struct nvme_sqe *ring;	/* depth entries in guest memory */
	uint32_t depth;
	uint32_t tail;		/* next entry we write */
	uint32_t head;		/* last SQHD the controller reported */
};

struct nvme_cq_ring {
	struct nvme_cqe *ring;	/* depth entries in guest memory */
	uint32_t depth;
	uint32_t head;		/* next entry we read */
	uint8_t phase;		/* phase tag that marks a new entry (1 after creation) */
};

/* Start an empty SQ of depth (>= 2) entries at ring. */
void nvme_sq_ring_init(struct nvme_sq_ring *sq, struct nvme_sqe *ring, uint32_t depth);

/* The entry after i on a ring of depth entries (no division: this is on
 * every I/O). */
static inline uint32_t nvme_ring_next(uint32_t i, uint32_t depth)
{
	return i + 1 == depth ? 0 : i + 1;
}

/* True when one more entry would make tail == head (the queue is full at
 * depth - 1 entries). */
static inline bool nvme_sq_ring_full(const struct nvme_sq_ring *sq)
{
	return nvme_ring_next(sq->tail, sq->depth) == sq->head;
}

/* Copy sqe into the entry at tail and advance the tail (with wrap). Returns
 * the new tail, the value for the tail doorbell. The caller checked
 * nvme_sq_ring_full(). */
static inline uint32_t nvme_sq_ring_push(struct nvme_sq_ring *sq, const struct nvme_sqe *sqe)
{
	memcpy(&sq->ring[sq->tail], sqe, sizeof(*sqe));
	sq->tail = nvme_ring_next(sq->tail, sq->depth);
	return sq->tail;
}

/* Record an SQ head pointer from a CQE: 0, or -EPROTO when sqhd >= depth
 * (the head is then left unchanged). */
static inline int nvme_sq_ring_set_head(struct nvme_sq_ring *sq, uint16_t sqhd)
{
	if (sqhd >= sq->depth)
		return -EPROTO;
	sq->head = sqhd;
	return 0;
}

/* Start an empty CQ of depth (>= 2) entries at ring: head 0, phase 1. The
 * caller zeroes the memory (all phase tags 0) before creating the queue. */
void nvme_cq_ring_init(struct nvme_cq_ring *cq, struct nvme_cqe *ring, uint32_t depth);

/* When the entry at head carries the current phase tag, copy it to *out and
 * return true (the phase is read first, the rest of the entry after it).
 * Does not advance. */
static inline bool nvme_cq_ring_peek(const struct nvme_cq_ring *cq, struct nvme_cqe *out)
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

/* Consume the entry at head: advance, and invert the phase on wrap. Returns
 * the new head, the value for the CQ head doorbell. */
static inline uint32_t nvme_cq_ring_advance(struct nvme_cq_ring *cq)
{
	if (++cq->head == cq->depth) {
		cq->head = 0;
		cq->phase ^= 1;
	}
	return cq->head;
}

/* The EventIdx rule of Doorbell Buffer Config (as in virtio's event index):
 * moving a doorbell from old to new_val must be signalled with a real
 * doorbell write when event_idx lies in [old, new_val) modulo 2^16. */
static inline bool nvme_need_event(uint16_t event_idx, uint16_t new_val, uint16_t old)
{
	return (uint16_t)(new_val - event_idx - 1) < (uint16_t)(new_val - old);
}

#endif
