/* In-flight tracking of a split virtqueue in shared memory, so that a
 * successor of the service (after kill -9) can resubmit what was fetched
 * and never completed. The layout and the rules are those of the
 * vhost-user specification (QEMU docs/interop/vhost-user.rst, "Inflight I/O
 * tracking", split virtqueue): the transport (vhost-user: GET_INFLIGHT_FD /
 * SET_INFLIGHT_FD) maps the region and hands each queue its slice through
 * struct virtio_vq_params; the queue (src/virtio_blk/vq_split.c) tracks
 * with the functions below. Nothing here knows the transport.
 *
 * The region is shared with the front end, which keeps it across our
 * restarts: everything read from it is checked (a garbage header starts the
 * queue afresh, out-of-range indexes are skipped) and never trusted for
 * memory safety. A queue's slice is written only by the reactor serving the
 * queue. */
#ifndef OSNAP_EMU_VIRTIO_INFLIGHT_H
#define OSNAP_EMU_VIRTIO_INFLIGHT_H

#include <stdbool.h>
#include <stdint.h>

#define VINFL_VERSION 1
/* Per-queue slices start on this boundary (as libvhost-user lays them). */
#define VINFL_ALIGN 64

/* DescStateSplit */
struct vinfl_desc {
	uint8_t inflight;	/* 1: fetched, not yet used (head descriptors) */
	uint8_t padding[5];
	uint16_t next;		/* the last batch of used heads, as a list */
	uint64_t counter;	/* fetch order */
};
_Static_assert(sizeof(struct vinfl_desc) == 16, "DescStateSplit");

/* QueueRegionSplit */
struct vinfl_split {
	uint64_t features;	/* 0 */
	uint16_t version;	/* VINFL_VERSION; 0: not initialised yet */
	uint16_t desc_num;	/* the ring's size */
	uint16_t last_batch_head;
	uint16_t used_idx;	/* used->idx once the last batch is settled */
	struct vinfl_desc desc[];
};
_Static_assert(sizeof(struct vinfl_split) == 16, "QueueRegionSplit header");

/* Bytes of one queue's slice for queue_size descriptors (VINFL_ALIGN). */
uint64_t vinfl_queue_bytes(uint16_t queue_size);

/* What vinfl_recover found. */
enum vinfl_recovery {
	VINFL_FRESH,		/* an uninitialised slice: initialised, nothing to resubmit */
	VINFL_RECOVERED,	/* a valid slice: its in-flight heads are to resubmit */
	VINFL_GARBAGE,		/* a header that cannot be ours: initialised afresh */
	VINFL_NONE,		/* no tracking (no slice, or ring larger than it) */
};

/* A queue's tracking state (reactor-private, apart from the region). */
struct vinfl_queue {
	struct vinfl_split *r;		/* NULL: no tracking */
	uint16_t num;			/* descriptors the slice holds (the
					 * transport's figure, not the region's) */
	uint64_t counter;		/* the next fetch's counter */
	bool recovered;			/* vinfl_recover ran */
	enum vinfl_recovery outcome;	/* what it found */
	uint16_t *resubmit;		/* heads to resubmit, in counter order */
	uint16_t nresubmit, resubmit_pos;
	uint16_t *batch;		/* heads used since the last publish */
	uint16_t nbatch;
};

/* Attach slice r of num descriptors (r NULL: no tracking). Allocates the
 * per-queue lists: 0 or -ENOMEM. Main thread, before the queue starts. */
int vinfl_queue_init(struct vinfl_queue *q, struct vinfl_split *r, uint16_t num);
void vinfl_queue_fini(struct vinfl_queue *q);

/* The ring (ring_size entries, used->idx read as used_idx) starts: settle
 * the last batch (entries published in used but still marked in flight),
 * collect the in-flight heads in counter order and, for a valid slice, set
 * *last_avail to where the driver's avail ring must be read from (used_idx
 * plus the heads in flight). A fresh or garbage slice is initialised and
 * *last_avail is left alone (the transport's base). */
enum vinfl_recovery vinfl_recover(struct vinfl_queue *q, uint16_t ring_size, uint16_t used_idx,
				  uint16_t *last_avail);

/* The next head to resubmit (true), in counter order, before anything new
 * from the avail ring. */
bool vinfl_resubmit_next(struct vinfl_queue *q, uint16_t *head);
static inline bool vinfl_resubmit_pending(const struct vinfl_queue *q)
{
	return q->resubmit_pos < q->nresubmit;
}

/* Head taken off the avail ring: mark it in flight with the next counter. */
void vinfl_fetch(struct vinfl_queue *q, uint16_t head);
/* Head's used element was written (not yet published): add it to the batch. */
void vinfl_push(struct vinfl_queue *q, uint16_t head);
/* used->idx was just published as used_idx: clear the batch's in-flight
 * marks, then record used_idx. */
void vinfl_published(struct vinfl_queue *q, uint16_t used_idx);

#endif
