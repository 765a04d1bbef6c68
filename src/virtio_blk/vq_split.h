/* Split virtqueues, device side. One queue is used by one reactor.
 *
 * Rings and buffers are reached only through emu_dma_map(); every field the
 * driver controls is checked: head and next indexes, chain length (no
 * loops), descriptor order (readable before writable), indirect tables
 * (size, alignment, no nesting), lengths and addresses. */
#ifndef OSNAP_VQ_SPLIT_H
#define OSNAP_VQ_SPLIT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "emu/virtio_inflight.h"
#include "virtio_blk_spec.h"

struct emu_function;

#define VQ_MAX_SIZE VIRTIO_QUEUE_MAX_SIZE
#define VQ_MAX_CHAIN 1024	/* descriptors per request, indirect included */

struct vq {
	struct emu_function *fn;
	uint32_t size;
	uint64_t desc_gpa, avail_gpa, used_gpa;
	bool event_idx;
	bool indirect;

	/* translations, redone when the client's map changes */
	uint64_t gen;
	struct vring_desc *desc;
	struct vring_avail *avail;
	struct vring_used *used;

	uint16_t last_avail;	/* next avail entry to take */
	/* avail->idx as last read: entries up to it are taken without reading
	 * the driver's index again (its cache line moves between the cores at
	 * every submission); equal to last_avail when none is known */
	uint16_t avail_shadow;
	uint16_t used_idx;	/* next used entry to fill */
	uint16_t signalled_used;
	bool signalled_valid;

	/* in-flight tracking in shared memory (virtio_inflight.h): heads are
	 * marked when fetched and cleared once their used element is
	 * published; on the first mapping of the rings the slice is
	 * recovered: last_avail and used_idx come from it, and its heads in
	 * flight are fetched again (in counter order) before the avail ring */
	struct vinfl_queue infl;
	/* --force_in_order: everything before used->idx is complete and
	 * nothing after it is, so a ring (re)started after a crash resumes
	 * from used->idx, whatever base the front end gives */
	bool resume_from_used;
	bool mapped_once;		/* the first mapping's checks ran */
	int32_t corrected_from;		/* the base given, when used->idx replaced it; -1 */
};

/* A request taken off the ring. */
struct vq_chain {
	uint16_t head;
	int nout, nin;			/* device-readable then device-writable pieces */
	uint32_t out_len, in_len;
	struct iovec *iov;		/* nout + nin entries, readable first */
	int max_iov;
};

/* Translate the rings under the current memory map (and remember its
 * generation). Returns 0, or -EFAULT when they are not fully in the
 * client's memory; the previous translation is then left untouched (it
 * stays valid until the old map is torn down, which waits for the
 * controller to let go). */
int vq_map(struct vq *q);

/* Take the next available chain (a head to resubmit from the in-flight
 * slice first). Returns 1 with *c filled, 0 when the ring
 * is empty, or a negative errno for a malformed chain (the head is still
 * consumed and returned in c->head, so the caller can hand it back with
 * vq_push(q, head, 0)); -ENOSPC when the chain needs more than max_iov;
 * -EPROTO when the ring itself is corrupt (nothing consumed: stop the queue). */
int vq_pop(struct vq *q, struct vq_chain *c);

/* True when the driver has made entries available that we have not taken
 * (or heads to resubmit wait). */
bool vq_has_work(struct vq *q);

/* Hand a chain back with len bytes written into its writable buffers.
 * The used index is published by vq_flush. */
void vq_push(struct vq *q, uint16_t head, uint32_t len);
/* Publish pushed entries (release: entries before the index). */
void vq_flush(struct vq *q);

/* Should the driver be interrupted for what was published since the last
 * signal (event idx / NO_INTERRUPT rules)? Updates the signal state. */
bool vq_need_signal(struct vq *q);

/* Ask the driver to kick for anything after what we have seen (before the
 * reactor sleeps); returns true if work arrived meanwhile. */
bool vq_enable_kick(struct vq *q);
/* While busy polling: tell the driver it need not kick. */
void vq_disable_kick(struct vq *q);

#endif
