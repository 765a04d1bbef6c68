/* virtio-blk controller internals. */
#ifndef OSNAP_VBLK_INTERNAL_H
#define OSNAP_VBLK_INTERNAL_H

#include <stdatomic.h>

#include "bdev/bdev.h"
#include "core/queue_life.h"
#include "emu/emu.h"
#include "emu/virtio_dev.h"
#include "vblk.h"
#include "vq_split.h"

#define VBLK_MAX_SEGS 4096	/* iovecs per request from the guest's view */

struct vblk_queue;

struct vblk_req {
	struct vblk_queue *q;
	uint16_t head;
	uint32_t type;
	uint8_t *status;		/* last byte of the last writable buffer */
	uint32_t written;		/* bytes for used.len */
	int iovcnt;
	struct iovec *iov;		/* data for the bdev */
	struct iovec *chain_iov;	/* the whole chain as vq_pop gave it */
	uint32_t seg_next, seg_count;	/* discard / write zeroes progress */
	uint64_t seq;			/* IN_ORDER: fetch order */
	bool done;
	bool unused;			/* IN_ORDER placeholder of a malformed chain:
					 * handed back with length 0 in its turn */
	uint8_t result;
	struct bdev_io *bio;
	struct vblk_req *next;
	struct vblk_req *next_order;	/* IN_ORDER: fetch order */
};

struct vblk_queue {
	struct vblk_ctrl *c;
	/* the function's memory-map generation, read on every poll without a
	 * call (emu_mem_generation_load) */
	const _Atomic uint64_t *mem_gen;
	uint16_t idx;
	int reactor;
	struct vq vq;
	bool running;			/* main's view: started, not yet stopped */
	struct qlife life;		/* running, paused, stopping */
	uint16_t stopped_last_avail;	/* where the ring stood when it stopped */
	int kick_fd;
	_Atomic int call_fd;
	uint16_t vector;
	struct poller *poller;
	struct bdev_channel *ch;
	struct bdev *bdev;		/* main's view (open count held) */
	struct bdev *rbdev;		/* reactor's view */
	uint32_t nreqs;
	struct vblk_req *reqs;
	struct vblk_req *free_list;
	uint8_t *bio_mem;
	struct iovec *iov_pool;
	uint32_t max_iov;
	uint32_t inflight;
	bool need_signal;
	struct vblk_req *order_head, *order_tail;	/* IN_ORDER: fetched, not yet used */
	int own_kick;			/* eventfd made by us when the transport has none */
	bool broken;			/* the ring is corrupt: stopped for good */
	bool unmapped;			/* rings not (fully) in the client's memory map;
					 * re-checked when the map changes */
	bool infl_noted;		/* the in-flight recovery was logged */
	/* stats, written by the reactor */
	uint64_t reads, writes, flushes, received, completed;
};

enum vblk_state { VBLK_RUNNING, VBLK_SUSPENDED };

struct vblk_ctrl {
	char name[64];
	struct virtio_dev vdev;		/* what the transport drives (vblk_virtio.c) */
	struct virtio_transport *transport;
	struct emu_function *fn;
	struct vblk_ctrl *next;

	struct bdev *bdev;		/* NULL: no media */
	char vblk_id[VIRTIO_BLK_ID_BYTES + 1];
	uint32_t num_queues, queue_size, size_max, seg_max;
	bool force_in_order, indirect_desc, read_only;

	uint64_t features;		/* offered */
	uint64_t driver_features;	/* negotiated */
	bool suspended;			/* by RPC */
	bool no_media_pause;		/* detached bdev: requests are held */
	bool null_media;		/* the 'none' bdev: no media, requests answered
					 * (read by the reactors: atomic access) */
	uint32_t media_gen;		/* bumped by every attach / detach */
	bool destroying;

	struct vblk_queue queues[VBLK_MAX_QUEUES];

	int pending;			/* main: messages awaited */
	uint16_t qpause[QLIFE_NREASONS];	/* pauses in force, per reason:
						 * queues start with them */
};

/* vblk_queue.c */

/* Pause (or lift one pause of) reason why on every running queue; done(arg)
 * on the main thread once every queue took it, and for a pause once what
 * was in flight has finished (or the same reason was lifted meanwhile).
 * Pauses are counted per reason (src/core/queue_life.h): each pause needs
 * its resume. */
void vblk_queue_pause_all(struct vblk_ctrl *c, enum qlife_reason why, bool pause, void (*done)(void *arg),
			  void *arg);
/* A controller-wide pause state (suspended, no media): the first hold
 * pauses every queue; a hold while held only waits for the drain. unhold
 * lifts it (nothing if not held). */
void vblk_queue_hold(struct vblk_ctrl *c, enum qlife_reason why, void (*done)(void *arg), void *arg);
void vblk_queue_unhold(struct vblk_ctrl *c, enum qlife_reason why);
void vblk_queue_set_bdev_all(struct vblk_ctrl *c, struct bdev *b, void (*done)(void *arg), void *arg);

/* vblk_io.c */
void vblk_io_execute(struct vblk_queue *q, struct vblk_req *r, struct vq_chain *chain);
void vblk_req_finish(struct vblk_req *r, uint8_t status);

/* vblk_virtio.c: the controller as a virtio device */
void vblk_virtio_init(struct vblk_ctrl *c);
void vblk_ctrl_get_config(const struct vblk_ctrl *c, struct virtio_blk_config *cfg);

/* vblk_queue.c: the queues the transport starts and stops */
int vblk_ctrl_queue_start(struct vblk_ctrl *c, uint16_t idx, const struct virtio_vq_params *p);
void vblk_ctrl_queue_stop(struct vblk_ctrl *c, uint16_t idx,
			  void (*done)(void *arg, uint16_t last_avail), void *arg);
/* Replace the interrupt eventfd of a queue (takes the fd; -1 = none). */
void vblk_ctrl_queue_set_call(struct vblk_ctrl *c, uint16_t idx, int call_fd);
/* A notification for a queue without a kick fd (virtio-pci notify write). */
void vblk_ctrl_queue_kick(struct vblk_ctrl *c, uint16_t idx);

#endif
