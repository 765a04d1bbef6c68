/* Driver side of a split virtqueue (virtio 1.2 section 2.7): descriptor
 * table, available ring and used ring in memory shared with the device,
 * free-descriptor management, chains (direct or through an indirect table),
 * publication with the right barriers, notification suppression in both
 * directions (flags or EVENT_IDX), used-entry collection, and raw
 * (malformed) descriptors for negative tests of a device.
 *
 * Written from the specification only; it includes nothing from src/emu,
 * src/nvme or src/virtio_blk.
 *
 * The ring does not know the transport: it is given its memory, the
 * device-visible address of that memory (guest-physical for vhost-user,
 * IOVA for vfio-user) and a notify callback.
 *
 * Threading: a ring is used by one thread at a time (one thread per
 * queue). Bookkeeping (free list, cookies, chain lengths) is kept in
 * private arrays, never read back from the shared memory, so a device that
 * scribbles on the descriptor table cannot corrupt it; a used entry that
 * names a descriptor which is not the head of a chain in flight is
 * reported, not trusted.
 *
 * Return convention: 0 (or a documented non-negative value) on success,
 * a negative errno otherwise. */
#ifndef OSNAP_HOST_VIRTIO_RING_HOST_H
#define OSNAP_HOST_VIRTIO_RING_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/virtio_host_spec.h"

/* One buffer of a chain: device-visible address and length. */
struct vring_host_buf {
	uint64_t addr;
	uint32_t len;
};

/* One raw descriptor for vring_host_add_raw(). */
struct vring_host_raw {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;		/* written verbatim (VH_DESC_F_* or anything) */
	uint16_t next;		/* index into the caller's array (0..n-1), translated to
				 * the descriptor id it got; verbatim with next_abs */
	bool next_abs;
};

/* Where the parts of a ring live inside its memory area. */
struct vring_host_layout {
	size_t desc_off;	/* 16-byte aligned */
	size_t avail_off;	/* 2-byte aligned, 6 + 2 * num bytes (with used_event) */
	size_t used_off;	/* 4-byte aligned, 6 + 8 * num bytes (with avail_event) */
	size_t indirect_off;	/* num tables of indirect_max descriptors, 16-byte aligned */
	size_t size;		/* total bytes of the area */
};

/* Compute the layout for num entries (a power of 2, 1..32768) and
 * indirect_max entries per indirect table (0: no tables). The parts are
 * packed with the minimum alignments of the specification, so a device
 * that assumes more (e.g. page-aligned used rings) is caught. -EINVAL for
 * a bad num or an indirect_max above num. */
int vring_host_layout(uint32_t num, uint32_t indirect_max, struct vring_host_layout *l);

struct vring_host_cfg {
	uint32_t num;			/* queue size */
	void *mem;			/* area of vring_host_layout().size bytes */
	uint64_t mem_addr;		/* device-visible address of mem */
	uint32_t indirect_max;		/* entries per indirect table; 0 disables them */
	bool event_idx;			/* VIRTIO_F_EVENT_IDX negotiated */
	uint16_t start_idx;		/* initial avail/used idx (vhost-user VRING_BASE) */
	int (*notify)(void *arg);	/* available-buffer notification */
	void *notify_arg;
};

/* Per-chain bookkeeping, indexed by head id (private). */
struct vring_host_chain {
	void *cookie;
	uint16_t ndesc;		/* ring descriptors the chain holds (1 when indirect) */
	bool busy;
};

/* A split virtqueue, driver side. Fields are for reading (tests); change
 * them only through the functions below. */
struct vring_host {
	uint32_t num;
	struct vh_desc *desc;
	struct vh_avail *avail;
	struct vh_used *used;
	uint64_t desc_addr, avail_addr, used_addr;	/* device-visible */
	uint8_t *indirect;				/* tables, or NULL */
	uint64_t indirect_addr;
	uint32_t indirect_max;
	bool event_idx;
	bool cb_enabled;		/* used-buffer notifications wanted */
	uint16_t avail_idx;		/* next avail idx (published or not) */
	uint16_t published_idx;		/* avail idx the device can see */
	uint16_t notified_idx;		/* published idx at the last notification check */
	uint16_t last_used;		/* next used entry to consume */
	uint16_t free_head;
	uint32_t num_free;
	uint32_t inflight;		/* chains added and not yet used */
	uint16_t *next;			/* shadow free-list / chain links */
	struct vring_host_chain *chain;
	int (*notify)(void *arg);
	void *notify_arg;
};

/* Set up vq over cfg->mem: zero the area, set flags 0 and both idx fields
 * to start_idx, chain all descriptors into the free list. Used-buffer
 * notifications start enabled. Allocates the private arrays (released by
 * vring_host_fini()). -EINVAL for a bad configuration, -ENOMEM. */
int vring_host_init(struct vring_host *vq, const struct vring_host_cfg *cfg);

/* Release the private arrays (the shared area belongs to the caller). */
void vring_host_fini(struct vring_host *vq);

/* Spec rule for EVENT_IDX: notify when new_idx has moved past event_idx
 * since old, i.e. event_idx is in [old, new_idx) modulo 2^16. */
static inline bool vring_host_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old);
}

/* Head id the next vring_host_add*() will use (valid while num_free > 0),
 * so that per-request memory can be indexed by head before adding. */
static inline uint16_t vring_host_next_head(const struct vring_host *vq)
{
	return vq->free_head;
}

/* Add a chain of n_out device-readable then n_in device-writable buffers
 * (not yet published). indirect: put them in the head's indirect table
 * (needs indirect_max >= n_out + n_in) and use one ring descriptor.
 * Returns the head id (>= 0), -EINVAL (no buffer, more than num, indirect
 * not possible), -ENOSPC (not enough free descriptors). */
int vring_host_add(struct vring_host *vq, const struct vring_host_buf *out, unsigned n_out,
		   const struct vring_host_buf *in, unsigned n_in, void *cookie, bool indirect);

/* Add n (1..num) raw descriptors exactly as given, for negative tests:
 * loops, out-of-range next, zero lengths, writable-before-readable,
 * INDIRECT with any length, addresses outside the shared memory. The
 * descriptors are taken from the free list (element 0 is the head) and
 * returned to it when the device uses the head, whatever their content.
 * Returns the head id or -ENOSPC / -EINVAL. */
int vring_host_add_raw(struct vring_host *vq, const struct vring_host_raw *d, unsigned n,
		       void *cookie);

/* Put a verbatim head index into the next available-ring slot (not yet
 * published) without any bookkeeping: e.g. an index >= num, or a
 * descriptor that is free. A used entry for it is reported as bad by
 * vring_host_get_used(). */
void vring_host_add_raw_head(struct vring_host *vq, uint16_t head);

/* Where the indirect table of head lives (for tests that inspect it or
 * build their own through raw descriptors). -EINVAL without tables. */
int vring_host_indirect_table(struct vring_host *vq, uint16_t head, struct vh_desc **table,
			      uint64_t *addr);

/* Make every added chain visible: store avail->idx with release semantics.
 * Returns the new idx. */
uint16_t vring_host_publish(struct vring_host *vq);

/* Whether the device asked to be notified about what was published since
 * the last call (VH_USED_F_NO_NOTIFY without EVENT_IDX, avail_event with
 * it). Performs the full barrier between the idx store and the read. */
bool vring_host_need_notify(struct vring_host *vq);

/* Call the notify callback unconditionally; its result. */
int vring_host_notify(struct vring_host *vq);

/* Publish, then notify when vring_host_need_notify() says so. Returns 0,
 * or the callback's negative errno. */
int vring_host_kick(struct vring_host *vq);

/* Consume the next used entry, if any.
 * Returns 1 with *cookie, *len and *id set and the chain's descriptors
 * freed; 0 when the device has not produced a new entry; -EBADMSG when
 * the entry names a descriptor that is not the head of a chain in flight
 * (the entry is consumed, *id and *len tell what it said, *cookie is NULL);
 * -EPROTO when the device's used idx is more than num ahead of ours or
 * passes more chains than are in flight (nothing consumed). cookie, len, id
 * may be NULL. */
int vring_host_get_used(struct vring_host *vq, void **cookie, uint32_t *len, uint32_t *id);

/* Number of used entries the device has published and we have not
 * consumed (acquire load of used->idx). */
uint16_t vring_host_used_pending(const struct vring_host *vq);

/* Ask for a used-buffer notification at the next completion (clear
 * VH_AVAIL_F_NO_INTERRUPT, or set used_event to last_used with EVENT_IDX),
 * then re-check the used ring after a full barrier. Returns true when
 * entries are already pending (the caller must poll again rather than
 * sleep). */
bool vring_host_enable_cb(struct vring_host *vq);

/* Advise the device that no used-buffer notification is wanted (set
 * VH_AVAIL_F_NO_INTERRUPT without EVENT_IDX; with it the flags must stay 0,
 * so used_event is moved half the index space away). Advisory only. */
void vring_host_disable_cb(struct vring_host *vq);

/* Change the cookie of a chain in flight (e.g. to detach an abandoned
 * request). -EINVAL when head is not in flight. */
int vring_host_set_cookie(struct vring_host *vq, uint16_t head, void *cookie);

/* Cookie of a chain in flight, NULL otherwise. */
void *vring_host_cookie(const struct vring_host *vq, uint16_t head);

/* Forget every chain in flight (after a device reset): all descriptors
 * return to the free list; for each chain, cb(cookie, arg) is called when
 * cb is non-NULL. The shared memory is not touched. */
void vring_host_drain(struct vring_host *vq, void (*cb)(void *cookie, void *arg), void *arg);

#endif
