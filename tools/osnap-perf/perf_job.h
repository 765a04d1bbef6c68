/* One job of osnap-perf: a thread that keeps one queue of the target at its
 * queue depth, generates the workload over its slice of the device, checks
 * data with --verify and records latencies. All memory (I/O slots, data
 * buffers, histograms) is set up before the thread starts. */
#ifndef OSNAP_PERF_JOB_H
#define OSNAP_PERF_JOB_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "perf_hist.h"
#include "perf_opts.h"
#include "perf_target.h"
#include "perf_verify.h"

/* Phases of a run, set by the main thread, followed by every job. */
enum perf_phase {
	PERF_PH_RAMP = 0,	/* running, not measured */
	PERF_PH_MEASURE,	/* measured */
	PERF_PH_STOP,		/* stop submitting, drain, exit */
};

/* The range of the device under test, in I/O blocks of bs bytes. */
struct perf_range {
	uint64_t first_lba;	/* LBA of block 0 */
	uint64_t nblocks;
	uint32_t lbas_per_block;
};

enum { PERF_DIR_READ = 0, PERF_DIR_WRITE = 1 };

/* What a job measured. */
struct perf_stats {
	struct perf_hist lat[2];	/* by PERF_DIR_* */
	uint64_t ios[2];
	uint64_t io_errors;		/* device status or transport error */
	uint64_t verify_errors;
	uint64_t verify_checked;	/* reads whose stamps were checked */
	uint64_t verify_unwritten;	/* reads of blocks never written */
	uint64_t begin_ns, end_ns;	/* the measured interval (0: none) */
	struct perf_target_qstats notif;	/* whole run, ramp included */
};

/* Cache line size assumed for the layout of shared state. */
#define PERF_CACHE_LINE	64

struct perf_job {
	/* set up once, read-mostly */
	unsigned index;
	int cpu;			/* pinned to, -1 for none */
	const struct perf_opts *o;
	struct perf_target *t;
	struct perf_vtable *vt;		/* NULL without --verify */
	const int *phase;		/* enum perf_phase, written by the main thread */
	/* this job's slice, in blocks of the range */
	uint64_t first_block, nblocks;
	uint64_t first_lba;
	uint32_t lbas_per_block;
	bool random;			/* random offsets (else sequential) */
	uint64_t quota;			/* -n: I/Os to measure (0: by time) */
	uint64_t hang_ticks;		/* no completion for this long: give up */
	uint64_t check_ticks;		/* no completion for this long: is the server there? */
	/* I/O slots (PERF_CACHE_LINE aligned, one or more lines each) */
	unsigned char *slots;
	size_t slot_size;
	uint32_t *free_slots;
	/* run state (job thread only) */
	_Alignas(PERF_CACHE_LINE) uint32_t nfree, inflight;
	uint64_t rng;
	uint64_t seq_next;
	uint64_t submitted_measured;
	uint64_t reap_tick;		/* when this poll saw its first completion (0: none yet) */
	uint64_t last_progress_tick;
	uint64_t ndone;			/* completions, any phase (published in done) */
	uint64_t begin_tick, end_tick;	/* the measured interval in ticks (0: none) */
	uint64_t last_check_tick;	/* when the connection was last checked */
	bool measuring, stopping;
	unsigned messages;		/* error lines printed */
	int fatal;			/* negative errno of a transport failure */
	pthread_t thread;
	struct perf_stats st;
	/* read by the main thread while running (atomics), on their own line
	 * so that its reads do not take the job's hot line away */
	_Alignas(PERF_CACHE_LINE) uint64_t done;	/* completions, any phase */
	uint64_t errors;		/* io + verify errors, any phase */
	int finished;
};

/* An array of n zeroed jobs with the alignment struct perf_job needs (free
 * with free()); NULL when out of memory. */
struct perf_job *perf_jobs_alloc(unsigned n);

/* Set up job index of o->jobs over its slice of r: slots and data buffers
 * (from the target), random state from o->seed. vt may be NULL. On failure
 * write a message into err and return a negative errno. */
int perf_job_init(struct perf_job *j, unsigned index, const struct perf_opts *o,
		  struct perf_target *t, struct perf_vtable *vt, const struct perf_range *r,
		  const int *phase, char *err, size_t errlen);

/* Start the job's thread (pinned when o->cpus was given). 0 or -errno. */
int perf_job_start(struct perf_job *j);

/* Wait for the thread to end. */
void perf_job_join(struct perf_job *j);

/* Free the slots (the data buffers belong to the target). */
void perf_job_fini(struct perf_job *j);

/* Completions so far (any thread). */
static inline uint64_t perf_job_done(const struct perf_job *j)
{
	return __atomic_load_n(&j->done, __ATOMIC_RELAXED);
}

/* Errors so far (any thread). */
static inline uint64_t perf_job_errors(const struct perf_job *j)
{
	return __atomic_load_n(&j->errors, __ATOMIC_RELAXED);
}

/* Whether the thread finished its work (any thread). */
static inline bool perf_job_finished(const struct perf_job *j)
{
	return __atomic_load_n(&j->finished, __ATOMIC_ACQUIRE) != 0;
}

/* Current time, CLOCK_MONOTONIC, in ns. */
uint64_t perf_now_ns(void);

/* Pin the calling thread to cpu: 0 or a negative errno. */
int perf_pin_cpu(int cpu);

#endif
