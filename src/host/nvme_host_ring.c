/* Submission/completion ring arithmetic of the host NVMe driver. */
#include "host/nvme_host_ring.h"

void nvme_sq_ring_init(struct nvme_sq_ring *sq, struct nvme_sqe *ring, uint32_t depth)
{
	sq->ring = ring;
	sq->depth = depth;
	sq->tail = 0;
	sq->head = 0;
}

void nvme_cq_ring_init(struct nvme_cq_ring *cq, struct nvme_cqe *ring, uint32_t depth)
{
	cq->ring = ring;
	cq->depth = depth;
	cq->head = 0;
	cq->phase = 1;
}
