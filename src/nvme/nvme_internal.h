/* NVMe controller internals shared by the files of src/nvme. */
#ifndef OSNAP_NVME_INTERNAL_H
#define OSNAP_NVME_INTERNAL_H

#include <stdatomic.h>
#include <sys/uio.h>

#include "bdev/bdev.h"
#include "core/queue_life.h"
#include "emu/emu.h"
#include "nvme.h"
#include "nvme_spec.h"

#define NVME_MAX_IO_QUEUES 128
#define NVME_MAX_NS_PER_CTRL 1024	/* NSIDs a controller can have attached */
#define NVME_AERL 3			/* 4 outstanding AERs */
#define NVME_MAX_ERR_LOG 16
#define NVME_PAGE 4096u
#define NVME_MAX_IOV 260		/* MDTS 7 = 128 pages, plus slack for segments */

struct nvme_subsystem {
	char nqn[224];
	char sn[21];
	char mn[41];
	uint32_t nn, mnan;
	bool single_ctrl;
	uint16_t next_cntlid;
	struct nvme_namespace *ns;	/* sorted by nsid */
	struct nvme_subsystem *next;
};

struct nvme_namespace {
	struct nvme_subsystem *ss;
	uint32_t nsid;
	struct bdev *bdev;
	uint8_t uuid[16];
	uint8_t nguid[16];
	uint8_t eui64[8];
	bool has_nguid, has_eui64;
	struct nvme_ctrl *ctrl;		/* attached to (namespaces are not shared) */
	struct nvme_namespace *next;
};

/* What a queue's reactor sees of an attached namespace. */
struct nvme_qns {
	struct bdev *bdev;
	uint32_t inflight;
	bool detaching;
	void (*detached)(void *arg);
	void *detached_arg;
	struct bdev_channel *ch;
	uint32_t lbads;			/* log2 block size */
	uint64_t nsze;
};

struct nvme_cq;
struct admin_watch;
struct nvme_sq;
struct loop_timer;

/* One command in flight; a per-SQ array sized by the queue depth. */
struct nvme_req {
	struct nvme_sq *sq;
	struct nvme_sqe cmd;
	struct nvme_cqe cpl;
	uint16_t slot;
	bool in_use;
	int iovcnt;
	struct iovec *iov;		/* max_iov entries from the SQ's pool */
	uint16_t max_iov;
	struct nvme_req *next;		/* free list / CQ backlog link */
	struct nvme_req *fused;		/* the write of a compare-and-write pair */
	struct bdev_lba_lock lba_lock;	/* the write of a pair: its range, locked from
					 * before the compare until the write is done */
	bool lba_held;
	uint32_t dsm_next, dsm_count;	/* Dataset Management progress */
	uint32_t nsid_idx;
	uint64_t start_ns;
	struct bdev_io *bio;		/* this request's bdev_io storage */
};

/* Translation of a queue's ring in guest memory, redone when the map changes. */
struct nvme_qmem {
	uint64_t gpa;
	uint32_t bytes;
	uint64_t gen;			/* map generation of iov */
	struct iovec iov[4];
	int iovcnt;
};

struct nvme_cq {
	struct nvme_ctrl *ctrl;
	uint16_t qid;
	uint32_t size;
	struct nvme_qmem mem;
	uint32_t tail;
	uint32_t head;			/* the host's head as last read (cq_full) */
	uint8_t phase;
	bool irq_enabled;
	uint16_t vector;
	int reactor;
	uint32_t pending_irq;		/* CQEs posted since the last interrupt */
	uint64_t completions;
	int sq_refs;
	struct nvme_req *backlog, *backlog_tail;	/* completions waiting for room */
};

struct nvme_sq {
	struct nvme_ctrl *ctrl;
	uint16_t qid;
	uint32_t size;
	struct nvme_qmem mem;
	struct nvme_cq *cq;
	uint32_t head;
	uint32_t tail;			/* last tail value the host wrote */
	int reactor;
	struct poller *poller;
	struct nvme_req *reqs;
	uint8_t *bio_mem;
	struct iovec *iov_pool;
	struct nvme_req *free_list;
	uint32_t free_slots;
	int wake_fd;
	uint64_t dbbuf_gen;
	uint32_t dbbuf_epoch_seen;
	uint32_t *shadow_tail, *eventidx;	/* translated shadow doorbell slots */
	uint32_t *cq_shadow_head, *cq_eventidx;
	uint32_t eventidx_head;		/* head when EventIdx was last moved */
	uint32_t inflight;
	struct qlife life;		/* I/O queues: running, paused, stopping */
	bool unmapped;			/* rings outside the client's map: waiting */
	uint64_t received;
	uint64_t reads, writes, flushes, others;
	uint64_t bytes_read, bytes_written;
	struct nvme_req *fused_first;	/* compare waiting for its write */
	/* namespace table of this queue's reactor, indexed by nsid-1 */
	struct nvme_qns *ns;
	uint32_t ns_max;
};

enum nvme_ctrl_state {
	NVME_CTRL_DISABLED,
	NVME_CTRL_ENABLING,
	NVME_CTRL_READY,
	NVME_CTRL_RESETTING,
	NVME_CTRL_SHUTDOWN,
	NVME_CTRL_FATAL,
};

struct nvme_features {
	uint32_t arbitration;
	uint32_t power_mgmt;
	uint32_t temp_thresh;		/* over-temperature threshold, kelvin */
	uint32_t temp_thresh_under;
	uint32_t err_recovery;
	bool vwc;
	uint32_t num_queues;		/* cdw0 of Get Features: NCQA << 16 | NSQA (0-based) */
	bool num_queues_set;
	uint32_t irq_coalesce;		/* THR 7:0 (0-based), TIME 15:8 (100 us) */
	uint32_t async_event;
	uint64_t timestamp_ms, timestamp_set_ns;
	uint32_t kato;
	uint8_t acre;			/* Host Behavior Support: Advanced Command Retry Enable */
	uint16_t *irq_config;		/* per vector: bit 16 = coalescing disabled */
};

struct nvme_ctrl {
	char name[64];
	uint16_t cntlid;
	struct nvme_subsystem *ss;
	struct emu_function *fn;
	struct nvme_ctrl *next;

	/* configuration */
	uint32_t max_io_queues;
	uint32_t mdts;
	uint32_t fw_slots;
	int opt_compare, opt_compare_write, opt_dsm, opt_write_zeroes;
	bool admin_only;
	uint32_t quirks;
	uint32_t mqes;			/* max entries - 1 */
	bool doorbells_mmap;		/* the client may map the doorbell page
					 * (EMU_NVME_DOORBELLS mmap or adaptive) */
	bool doorbells_spin;		/* mmap: polled all the time, no shadow
					 * doorbells; adaptive: queues doze when idle */

	/* registers live in BAR0's shared memory */
	uint8_t *bar0;
	const _Atomic uint64_t *mem_gen;	/* the function's memory-map generation */
	enum nvme_ctrl_state state;
	bool suspended, suspended_admin_only;
	uint16_t oncs;			/* decided at enable ("driver load") */

	struct nvme_sq *sqs[NVME_MAX_IO_QUEUES + 1];
	struct nvme_cq *cqs[NVME_MAX_IO_QUEUES + 1];
	uint32_t page_size;

	struct nvme_features feat;

	/* asynchronous events */
	uint16_t aer_cids[NVME_AERL + 1];
	int aer_outstanding;
	uint32_t aer_pending[8];	/* dw0 values of events not yet reported */
	int aer_npending;
	bool aer_ns_masked;		/* NS-changed reported; masked until the log is read */
	bool aer_err_masked;		/* an error event reported; masked until log 01h is read */
	uint32_t changed_ns[1024];
	int changed_ns_count;		/* -1: overflow (0xffffffff) */

	/* shadow doorbells (Doorbell Buffer Config) */
	uint64_t dbbuf_gpa, eventidx_gpa;
	bool dbbuf_enabled;
	uint32_t dbbuf_epoch;		/* bumped on Doorbell Buffer Config */
	uint32_t admin_gen;		/* bumped on reset: late admin completions are dropped */
	uint64_t fw_bytes;		/* firmware image bytes downloaded */
	bool vwc_present;
	/* I/O queues were created since the last reset: Number of Queues is
	 * fixed until the next reset (Set Features 07h: Command Sequence Error) */
	bool io_queues_created;
	/* Keep Alive (KAS 100 ms): the timer runs while KATO != 0 */
	uint64_t ka_last_ns;		/* last Keep Alive (or KATO set) */
	struct loop_timer *ka_timer;
	/* mmap-ed doorbells: the admin doorbells are polled by a timer */
	struct admin_watch *admin_watch;	/* mmap doorbells: reactor watching the admin ones */

	/* SMART counters (units of 512 bytes x 1000 as the spec counts) */
	_Atomic uint64_t data_units_read, data_units_written, host_reads, host_writes;
	uint64_t power_on_ns;

	/* firmware */
	uint8_t fw_active_slot;
	char fw_rev[8][9];

	/* in-progress operations */
	uint16_t qpause[QLIFE_NREASONS];	/* quiesces in force, per reason:
						 * new I/O queues start with them */
	struct reset_ctx *reset;		/* the reset under way (one at a time) */
	bool destroying;
	bool regs_reset_pending;	/* FLR/client reset: registers to reset values */
};

/* nvme_ctrl.c */
#define NVME_KAS_MS 100			/* Keep Alive granularity (Identify KAS) */
uint32_t nvme_reg32(struct nvme_ctrl *c, uint32_t off);
void nvme_set_reg32(struct nvme_ctrl *c, uint32_t off, uint32_t v);
void nvme_ctrl_fatal(struct nvme_ctrl *c, const char *why);
struct nvme_namespace *nvme_ctrl_ns(struct nvme_ctrl *c, uint32_t nsid);
/* Stop fetching on every I/O queue for reason why and call cb on main once
 * nothing is in flight on any of them (queues on their way down included).
 * Any number of quiesces may be under way at once; each unquiesce lifts
 * one quiesce of its reason. */
void nvme_ctrl_quiesce(struct nvme_ctrl *c, enum qlife_reason why,
		       void (*cb)(struct nvme_ctrl *c, void *arg), void *arg);
void nvme_ctrl_unquiesce(struct nvme_ctrl *c, enum qlife_reason why);
/* CC.SHN written: quiesce, then CSTS.SHST = complete. */
void nvme_ctrl_shutdown(struct nvme_ctrl *c);
/* Report an asynchronous event (main thread). */
void nvme_ctrl_aen(struct nvme_ctrl *c, uint32_t dw0);
/* Keep Alive: (re)start the timer for the current KATO (0 stops it), and
 * note a Keep Alive command. */
void nvme_ctrl_keep_alive_arm(struct nvme_ctrl *c);
void nvme_ctrl_keep_alive(struct nvme_ctrl *c);
void nvme_ctrl_keep_alive_stop(struct nvme_ctrl *c);

/* nvme_admin_watch.c: with mapped doorbells (EMU_NVME_DOORBELLS=mmap) a
 * reactor watches the admin doorbells and hands the admin queue to main.
 * stop: done(arg) once the reactor let go; false (done not called) when
 * nothing was being watched. */
void nvme_admin_watch_start(struct nvme_ctrl *c);
bool nvme_admin_watch_stop(struct nvme_ctrl *c, void (*done)(void *arg), void *arg);
/* Fold an I/O SQ's counters into the controller's lifetime SMART totals
 * (before the queue is freed). */
void nvme_ctrl_retire_sq_stats(struct nvme_ctrl *c, struct nvme_sq *sq);

/* nvme_admin.c: run the admin queue (main thread) */
void nvme_admin_poll(struct nvme_ctrl *c);
void nvme_admin_reset(struct nvme_ctrl *c);
void nvme_admin_complete(struct nvme_ctrl *c, struct nvme_req *r);
/* Complete outstanding AERs with the events waiting to be reported. */
void nvme_admin_aer_flush(struct nvme_ctrl *c);

/* nvme_subsys.c: the subsystems' part of save_config */
void nvme_write_config_subsystems(json_t *cfg);

/* nvme_queue.c */
int nvme_qmem_map(struct nvme_ctrl *c, struct nvme_qmem *m, int prot);
void *nvme_qmem_entry(struct nvme_qmem *m, uint32_t offset);
/* Post r->cpl on cq (phase, sqhd) and count it for interrupts. */
bool nvme_cq_post(struct nvme_cq *cq, struct nvme_req *r);
void nvme_cq_irq(struct nvme_cq *cq, bool force);
struct nvme_sq *nvme_sq_alloc(struct nvme_ctrl *c, uint16_t qid, uint32_t size, uint64_t gpa,
			      struct nvme_cq *cq);
void nvme_sq_free(struct nvme_sq *sq);
struct nvme_cq *nvme_cq_alloc(struct nvme_ctrl *c, uint16_t qid, uint32_t size, uint64_t gpa,
			      bool ien, uint16_t vector);
void nvme_cq_free(struct nvme_cq *cq);
/* Start / stop an I/O SQ on its reactor; stop calls done (main) once the
 * queue drained and let go; any number of stops and pauses may wait. */
void nvme_ioq_start(struct nvme_sq *sq);
/* A trapped doorbell of this queue was written: wake its reactor. */
void nvme_ioq_kick(struct nvme_sq *sq);
void nvme_ioq_stop(struct nvme_sq *sq, void (*done)(void *arg), void *arg);
void nvme_ioq_pause(struct nvme_sq *sq, enum qlife_reason why, void (*done)(void *arg), void *arg);
void nvme_ioq_resume(struct nvme_sq *sq, enum qlife_reason why);
/* Update a queue's namespace table entry (on its reactor); NULL bdev clears. */
void nvme_ioq_set_ns(struct nvme_sq *sq, uint32_t nsid, struct bdev *bdev, void (*done)(void *arg),
		     void *arg);
uint32_t nvme_sq_tail_doorbell(struct nvme_sq *sq);
uint32_t nvme_cq_head_doorbell(struct nvme_cq *cq);

/* nvme_dptr.c: data pointer (PRP or SGL) to iovecs */
uint16_t nvme_map_dptr(struct nvme_ctrl *c, struct nvme_req *r, uint64_t len, int prot);

/* nvme_io.c: execute an I/O command (reactor) */
void nvme_io_execute(struct nvme_sq *sq, struct nvme_req *r);
void nvme_req_complete(struct nvme_req *r, uint16_t status);
/* An I/O of namespace table entry q finished (its reactor). */
void nvme_qns_io_done(struct nvme_sq *sq, struct nvme_qns *q);

#endif
