/* Internals of the host NVMe driver shared by its source files. Not for
 * users of the driver (they use nvme_host.h). */
#ifndef OSNAP_HOST_NVME_HOST_PRIV_H
#define OSNAP_HOST_NVME_HOST_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/nvme_host.h"
#include "host/nvme_host_ring.h"

struct host_mem;

#define NVME_HOST_PAGE		4096u	/* CC.MPS = 0 */
#define NVME_HOST_MAX_RAW	8	/* raw commands in flight with CIDs beyond the slots */
#define NVME_HOST_MAX_AER	16
#define NVME_HOST_AER_RING	32	/* completed AERs kept for nvme_host_aer_poll() */

/* ---- arena (nvme_host_mem.c) --------------------------------------------------------- */

struct nvme_arena_ext {
	size_t off, len;
};

/* First-fit allocator over the DMA-mapped guest memory; locked inside. */
struct nvme_arena {
	pthread_mutex_t lock;
	uint8_t *base;
	uint64_t iova;
	size_t size;
	struct nvme_arena_ext *free;	/* sorted by offset, coalesced */
	size_t nfree, cap_free;
	struct nvme_arena_ext *used;	/* unsorted */
	size_t nused, cap_used;
};

/* Manage [base, base+size) seen by the controller at iova. 0 or -ENOMEM. */
int nvme_arena_init(struct nvme_arena *a, void *base, uint64_t iova, size_t size);
/* Forget every allocation and free the bookkeeping. */
void nvme_arena_fini(struct nvme_arena *a);
/* See nvme_host_alloc(). */
void *nvme_arena_alloc(struct nvme_arena *a, size_t len, size_t align, uint64_t *iova);
/* See nvme_host_free(). */
void nvme_arena_free(struct nvme_arena *a, void *p);
/* See nvme_host_iova(). */
int nvme_arena_iova(const struct nvme_arena *a, const void *p, size_t len, uint64_t *iova);

/* ---- queues (nvme_host_queue.c) -------------------------------------------------------- */

/* One command identifier of a queue. */
struct nvme_slot {
	bool busy;
	bool raw;			/* taken by a raw command with this CID */
	struct nvme_host_cmd *cmd;	/* NULL once abandoned by a timed-out waiter */
	void *bounce;			/* arena memory freed at completion */
	void *desc_va;			/* PRP list pages / SGL segments of this CID */
	uint64_t desc_iova;
};

struct nvme_raw_extra {
	bool busy;
	uint16_t cid;
	struct nvme_host_cmd *cmd;
};

#define NVME_HOST_CACHE_LINE	64

/* One queue pair. The fields the I/O path touches come first, in the
 * first cache lines; the whole structure is cache-line aligned. */
struct nvme_host_queue {
	/* hot: every submission and completion */
	_Alignas(NVME_HOST_CACHE_LINE) struct nvme_sq_ring sq;
	struct nvme_cq_ring cq;
	struct nvme_host *h;
	struct nvme_slot *slots;	/* CID = index */
	uint16_t *free_cids;		/* stack of free CIDs */
	uint16_t nfree;
	uint16_t nslots;
	uint16_t qid;
	bool live;			/* created on the controller */
	uint32_t last_sq_db, last_cq_db;	/* last values published */
	uint32_t sq_db_off, cq_db_off;	/* doorbell offsets in BAR0 */
	uint32_t *shadow_sq, *shadow_cq;	/* shadow doorbells, NULL when off */
	uint32_t *ei_sq, *ei_cq;		/* EventIdx entries */
	uint32_t desc_bytes;		/* per slot */
	struct nvme_host_qstats st;
	/* set-up and slow paths */
	void *sq_mem, *cq_mem;		/* arena memory of the rings */
	uint64_t sq_iova, cq_iova;
	uint32_t depth;
	bool irq;			/* interrupts enabled on this CQ */
	uint16_t vector;
	int efd;			/* eventfd of the vector, -1 without */
	void *desc_mem;			/* all slots' descriptor pages, one arena block */
	struct nvme_raw_extra raw[NVME_HOST_MAX_RAW];
};

/* Allocate the rings (depth entries), slots and descriptor memory of q in the
 * arena; zeroes the CQ. 0 or -ENOMEM. */
int nvme_queue_alloc(struct nvme_host *h, struct nvme_host_queue *q, uint16_t qid, uint32_t depth);
/* Free what nvme_queue_alloc() took (q may be partly set up). */
void nvme_queue_free(struct nvme_host *h, struct nvme_host_queue *q);
/* Reset ring state for a fresh creation on the controller: tail/head 0,
 * phase 1, CQ memory zeroed, shadow values 0. Slots must be idle. */
void nvme_queue_reset_rings(struct nvme_host_queue *q);
/* Complete every tracked command of q with -ECANCELED and free the slots. */
void nvme_queue_cancel_all(struct nvme_host_queue *q);
/* Bind q's doorbells to the shadow/EventIdx pages (NULL: none). */
void nvme_queue_set_shadow(struct nvme_host_queue *q, uint32_t *shadow_page, uint32_t *ei_page);
/* Submit as nvme_host_submit(). */
int nvme_queue_submit(struct nvme_host *h, struct nvme_host_queue *q, struct nvme_host_cmd *cmd);
/* Wait for cmd as nvme_host_wait(). bounce (may be NULL): arena memory the
 * command uses, handed to the slot (freed at the late completion) when the
 * command is abandoned; otherwise it stays the caller's. */
int nvme_queue_wait(struct nvme_host *h, struct nvme_host_queue *q, struct nvme_host_cmd *cmd,
		    int timeout_ms, void *bounce);
/* Forget cmd (timed out, or its doorbell failed): its CID stays reserved
 * until the controller completes it; bounce (may be NULL) is freed then. */
void nvme_queue_abandon(struct nvme_host_queue *q, struct nvme_host_cmd *cmd, void *bounce);
/* Pause before polling q again: up to 10 ms on its eventfd (counted in
 * irqs) when it has one, else yield, then sleep 20 us after 100 idle
 * rounds (*idle counts them). left_ms bounds the pause. */
void nvme_queue_backoff(struct nvme_host_queue *q, unsigned int *idle, int64_t left_ms);
/* Reap as nvme_host_poll(). */
int nvme_queue_poll(struct nvme_host *h, struct nvme_host_queue *q, unsigned int max);

/* ---- the handle -------------------------------------------------------------------------- */

struct nvme_host {
	struct vfu_client *c;
	pthread_mutex_t vfu_lock;	/* the client is used by one thread at a time */
	struct host_mem *mem;
	struct nvme_arena arena;
	bool dma_mapped;
	bool rom_mapped;		/* opts.rom_size bytes mapped without an fd */
	struct nvme_host_opts opts;	/* with defaults filled in */

	/* BAR0 */
	uint64_t bar0_size;
	uint8_t *dbs;			/* mmapped doorbell page (BAR0 + 0x1000) or NULL */

	/* MSI-X */
	uint16_t nvec;			/* vectors with an eventfd */
	int *efds;
	bool msix_maskable;		/* GET_IRQ_INFO: VFIO_IRQ_INFO_MASKABLE */

	/* controller */
	uint64_t cap;
	uint32_t vs;
	uint32_t dstrd;
	uint32_t to_ms;			/* CAP.TO in ms */
	struct nvme_id_ctrl id;
	uint32_t max_xfer;
	bool enabled;			/* CC.EN written 1 and RDY seen */
	bool shut_down;

	/* queues: q[0] admin, q[1..nr_io] I/O */
	struct nvme_host_queue *q;
	uint16_t nq_alloc;		/* entries of q allocated */
	uint16_t nr_io;			/* I/O queue pairs live */
	uint32_t io_depth;
	uint32_t admin_depth;

	/* Doorbell Buffer Config */
	uint32_t *shadow_page, *ei_page;
	uint64_t shadow_iova, ei_iova;
	bool shadow_on;

	/* Asynchronous events */
	struct nvme_host_cmd aer[NVME_HOST_MAX_AER];
	bool aer_busy[NVME_HOST_MAX_AER];
	struct {
		int result;
		struct nvme_cqe cqe;
	} aer_done[NVME_HOST_AER_RING];
	unsigned int aer_head, aer_count;

	/* active namespaces */
	struct nvme_host_ns *ns;
	size_t nns;
};

/* The queue of qid when it exists (admin always; I/O when live), else NULL. */
struct nvme_host_queue *nvme_host_queue(const struct nvme_host *h, uint16_t qid);

/* Milliseconds of CLOCK_MONOTONIC. */
int64_t nvme_host_now_ms(void);

/* Write a doorbell register (BAR0 offset off): a release store into the
 * mapped page, or a posted REGION_WRITE. 0 or the client's error. */
int nvme_host_db_write(struct nvme_host *h, uint32_t off, uint32_t val);

/* Admin-queue timeouts. */
int nvme_host_admin_timeout(const struct nvme_host *h);

/* Doorbell Buffer Config (admin 7Ch) with fresh shadow/EventIdx pages, as
 * used by nvme_host_enable(): 0 with h->shadow_on set; 0 with it clear when
 * the doorbells of all queues do not fit one page (large CAP.DSTRD); else
 * the status or errno (shadow doorbells stay off). */
int nvme_host_dbbuf_setup(struct nvme_host *h);

/* Admin command with flags (NVME_HOST_F_DPTR...) and data as
 * nvme_host_admin(). */
int nvme_host_admin_flags(struct nvme_host *h, const struct nvme_sqe *sqe, uint32_t flags,
			  void *data, size_t len, struct nvme_cqe *cqe);

/* Turn an NVMe status of an initialization command into an errno. */
int nvme_host_status_errno(int status);

#endif
