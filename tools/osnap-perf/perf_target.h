/* What osnap-perf drives: a block device behind one of the src/host drivers,
 * seen through a small ops table (NVMe over vfio-user, virtio-blk over
 * vhost-user or vfio-user). A target has one queue per job; each queue is
 * used by one thread. Per-I/O driver state lives in the io_ctx_size bytes
 * after each struct perf_io, so nothing is allocated per I/O. */
#ifndef OSNAP_PERF_TARGET_H
#define OSNAP_PERF_TARGET_H

#include <stddef.h>
#include <stdint.h>

#include "perf_opts.h"

struct perf_target;

/* One I/O as a job hands it to the target. */
struct perf_io {
	struct perf_job *job;
	void *buf;		/* bs bytes of target memory, set up once */
	uint64_t lba;		/* first logical block */
	uint32_t nlb;		/* logical blocks */
	uint8_t write;
	/* job bookkeeping */
	uint8_t counted;	/* submitted while measuring */
	uint32_t gen;		/* generation written (verify) */
	uint32_t index;		/* slot number in the job */
	uint64_t block;		/* I/O block index (verify) */
	uint64_t start_tick;	/* submitted (perf_clock.h ticks) */
	/* the target's per-I/O context follows, aligned */
	_Alignas(16) unsigned char ctx[];
};

/* Called by a target (from its poll/wait, on the queue's thread) when io
 * completed: status 0 for success, > 0 a device status (NVMe status field,
 * virtio-blk status byte), < 0 a negative errno. Defined by perf_job.c. */
void perf_io_complete(struct perf_io *io, int status);

/* Notification counters of one queue over the whole run. */
struct perf_target_qstats {
	uint64_t notifies;		/* doorbell writes / kicks that reached the device */
	uint64_t notifies_skipped;	/* suppressed (shadow doorbell EventIdx, avail_event) */
	uint64_t irqs;			/* interrupts consumed */
};

struct perf_target_ops {
	/* Prepare io for queue q once, after its buffer was set up: whatever
	 * stays the same from one I/O to the next (data pointers, command
	 * templates). May be NULL. 0 or a negative errno. */
	int (*io_init)(struct perf_target *t, uint16_t q, struct perf_io *io);
	/* Queue io on queue q (the device may not see it before kick). 0 or a
	 * negative errno (-EBUSY/-ENOSPC: no room, complete something first). */
	int (*submit)(struct perf_target *t, uint16_t q, struct perf_io *io);
	/* Make the submitted I/Os visible and notify the device, once per
	 * burst of submissions (may be NULL). */
	int (*kick)(struct perf_target *t, uint16_t q);
	/* Reap up to max completions (0: all there are) without sleeping:
	 * their count or a negative errno. */
	int (*poll)(struct perf_target *t, uint16_t q, unsigned max);
	/* Reap completions, sleeping on the queue's interrupt up to timeout_ms
	 * when there are none: their count (> 0), -ETIMEDOUT, or an error. */
	int (*wait)(struct perf_target *t, uint16_t q, int timeout_ms);
	/* Memory the device can reach for data, page aligned; at set-up only. */
	void *(*buf_alloc)(struct perf_target *t, size_t len);
	/* Tell what a device status means, into buf. */
	const char *(*status_str)(int status, char *buf, size_t len);
	/* Counters of queue q, from its thread. */
	void (*qstats)(struct perf_target *t, uint16_t q, struct perf_target_qstats *st);
	/* Whether the server is still there: 0, or -ECONNRESET once it closed
	 * the connection (the data path is shared memory: a vanished server
	 * shows only on the socket). Any job's thread. */
	int (*check)(struct perf_target *t);
	/* Disconnect and free (I/Os in flight are cancelled). */
	void (*close)(struct perf_target *t);
};

/* -ECONNRESET when the peer of the connected socket fd hung up or closed
 * its side (POLLHUP, POLLRDHUP, POLLERR), else 0. Never reads. */
int perf_conn_check(int fd);

/* The common part of every target. */
struct perf_target {
	const struct perf_target_ops *ops;
	uint32_t lba_size;	/* bytes per logical block */
	uint64_t nlba;		/* capacity in logical blocks */
	uint16_t nqueues;
	size_t io_ctx_size;	/* bytes of perf_io.ctx */
	char desc[160];		/* for the report */
};

/* Constructors, one per driver: open the target o describes, with o->jobs
 * queues that take o->qd requests each and data memory for o->jobs * o->qd
 * buffers of o->bs bytes. On failure write a message into err and return a
 * negative errno. */
int perf_target_open_nvme(const struct perf_opts *o, struct perf_target **out, char *err,
			  size_t errlen);
int perf_target_open_vblk(const struct perf_opts *o, struct perf_target **out, char *err,
			  size_t errlen);

#endif
