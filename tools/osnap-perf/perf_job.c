/* The I/O loop of one osnap-perf job. See perf_job.h. */
#include "perf_job.h"

#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_MESSAGES	10		/* error lines printed per job */
#define HANG_NS		30000000000ull	/* no completion for this long: give up */
#define CHECK_NS	100000000ull	/* no completion for this long: is the server there? */
#define WAIT_MS		100		/* interrupt waits, to see phase changes */
#define PICK_TRIES	8		/* random blocks tried when one is busy */
#define IDLE_CHECK	1024		/* empty polls between two looks at the clock */

uint64_t perf_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int perf_pin_cpu(int cpu)
{
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	int rc = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	return -rc;
}

/* splitmix64 */
static inline uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* Uniform in [0, n) (multiply-shift below 2^32, else a negligibly biased
 * modulo). */
static inline uint64_t rng_below(uint64_t *s, uint64_t n)
{
	uint64_t r = rng_next(s);
	if (n <= UINT32_MAX)
		return ((r >> 32) * n) >> 32;
	return r % n;
}

struct perf_job *perf_jobs_alloc(unsigned n)
{
	size_t size = (size_t)n * sizeof(struct perf_job);
	struct perf_job *j = aligned_alloc(_Alignof(struct perf_job),
					   (size + _Alignof(struct perf_job) - 1) &
					   ~(size_t)(_Alignof(struct perf_job) - 1));
	if (j)
		memset(j, 0, size);
	return j;
}

static inline struct perf_io *slot(struct perf_job *j, uint32_t i)
{
	return (struct perf_io *)(void *)(j->slots + (size_t)i * j->slot_size);
}

int perf_job_init(struct perf_job *j, unsigned index, const struct perf_opts *o,
		  struct perf_target *t, struct perf_vtable *vt, const struct perf_range *r,
		  const int *phase, char *err, size_t len)
{
	memset(j, 0, sizeof(*j));
	j->index = index;
	j->cpu = o->ncpus ? o->cpus[index % o->ncpus] : -1;
	j->o = o;
	j->t = t;
	j->vt = vt;
	j->phase = phase;
	j->first_block = r->nblocks * index / o->jobs;
	j->nblocks = r->nblocks * (index + 1) / o->jobs - j->first_block;
	j->first_lba = r->first_lba;
	j->lbas_per_block = r->lbas_per_block;
	j->random = o->workload == PERF_W_RANDREAD || o->workload == PERF_W_RANDWRITE ||
		    o->workload == PERF_W_RANDRW;
	j->hang_ticks = perf_ns_to_ticks(HANG_NS);
	j->check_ticks = perf_ns_to_ticks(CHECK_NS);
	/* split like the slices, so that -n equal to the block count makes a
	 * sequential pass touch every block exactly once */
	if (o->count)
		j->quota = o->count * (index + 1) / o->jobs - o->count * index / o->jobs;
	uint64_t seed = o->seed + index * 0x632be59bd9b4e019ull;
	j->rng = rng_next(&seed);
	perf_hist_reset(&j->st.lat[0]);
	perf_hist_reset(&j->st.lat[1]);

	/* whole cache lines per slot: no two I/Os share one */
	j->slot_size = (sizeof(struct perf_io) + t->io_ctx_size + PERF_CACHE_LINE - 1) &
		       ~(size_t)(PERF_CACHE_LINE - 1);
	j->slots = aligned_alloc(PERF_CACHE_LINE, j->slot_size * o->qd);
	j->free_slots = calloc(o->qd, sizeof(*j->free_slots));
	if (!j->slots || !j->free_slots) {
		snprintf(err, len, "out of memory");
		perf_job_fini(j);
		return -ENOMEM;
	}
	memset(j->slots, 0, j->slot_size * o->qd);
	for (uint32_t i = 0; i < o->qd; i++) {
		struct perf_io *io = slot(j, i);
		io->job = j;
		io->index = i;
		io->buf = t->ops->buf_alloc(t, o->bs);
		if (!io->buf) {
			snprintf(err, len, "no device-visible memory for %u x %u-byte buffers", o->qd, o->bs);
			perf_job_fini(j);
			return -ENOMEM;
		}
		if (t->ops->io_init) {
			int rc = t->ops->io_init(t, (uint16_t)index, io);
			if (rc) {
				snprintf(err, len, "cannot prepare I/O %u: %s", i, strerror(-rc));
				perf_job_fini(j);
				return rc;
			}
		}
		j->free_slots[o->qd - 1 - i] = i;	/* slot 0 on top */
		j->nfree++;
	}
	return 0;
}

void perf_job_fini(struct perf_job *j)
{
	free(j->slots);
	free(j->free_slots);
	j->slots = NULL;
	j->free_slots = NULL;
}

/* Print one error line (the first few of each job). */
static void job_msg(struct perf_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void job_msg(struct perf_job *j, const char *fmt, ...)
{
	if (j->messages >= MAX_MESSAGES)
		return;
	char line[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, "osnap-perf: job %u: %s%s\n", j->index, line,
		++j->messages == MAX_MESSAGES ? " (further errors of this job not shown)" : "");
}

/* Say why the job stops: a lost connection in words an operator knows. */
static void job_failed(struct perf_job *j, const char *what, int rc)
{
	if (rc == -ECONNRESET || rc == -EPIPE || rc == -ENOTCONN)
		job_msg(j, "the server closed the connection with %u I/Os in flight (%s)", j->inflight, what);
	else
		job_msg(j, "%s failed: %s", what, strerror(-rc));
}

static void count_error(struct perf_job *j, bool verify)
{
	if (verify)
		j->st.verify_errors++;
	else
		j->st.io_errors++;
	__atomic_store_n(&j->errors, j->errors + 1, __ATOMIC_RELAXED);
}

/* Let the main thread see the completions so far. */
static void publish_done(struct perf_job *j)
{
	__atomic_store_n(&j->done, j->ndone, __ATOMIC_RELAXED);
}

/* Check the data of a completed read. */
static void verify_read(struct perf_job *j, struct perf_io *io)
{
	struct perf_verify_err e;
	uint32_t gen = j->vt->gen[io->block];
	enum perf_vresult r = perf_verify_check(io->buf, j->t->lba_size, io->nlb, io->lba, gen, &e);

	if (r == PERF_V_OK) {
		j->st.verify_checked++;
	} else if (r == PERF_V_UNWRITTEN) {
		j->st.verify_unwritten++;
	} else {
		count_error(j, true);
		job_msg(j, "verify error at LBA %" PRIu64 " (read of LBAs %" PRIu64 "-%" PRIu64 "): %s "
			"(found LBA %" PRIu64 " generation %u, expected generation %u)", e.lba, io->lba,
			io->lba + io->nlb - 1, perf_vresult_str(r), e.found_lba, e.found_gen, e.expect_gen);
	}
}

void perf_io_complete(struct perf_io *io, int status)
{
	struct perf_job *j = io->job;
	/* one clock read per reaping pass: every completion of the pass was
	 * seen within it (the pass takes well under a microsecond per I/O) */
	uint64_t now = j->reap_tick;
	if (!now)
		now = j->reap_tick = perf_ticks();
	int dir = io->write ? PERF_DIR_WRITE : PERF_DIR_READ;

	if (status) {
		char buf[96];
		count_error(j, false);
		job_msg(j, "%s of LBAs %" PRIu64 "-%" PRIu64 " failed: %s", io->write ? "write" : "read",
			io->lba, io->lba + io->nlb - 1,
			status < 0 ? strerror(-status) : j->t->ops->status_str(status, buf, sizeof(buf)));
		if (j->vt && io->write)
			j->vt->gen[io->block] = PERF_GEN_UNKNOWN;
	} else if (j->vt) {
		if (io->write)
			j->vt->gen[io->block] = io->gen;
		else
			verify_read(j, io);
	}
	if (j->vt)
		j->vt->busy[io->block] = 0;
	/* time mode: what completes after the job saw STOP is not counted */
	if (io->counted && !(j->stopping && !j->quota)) {
		perf_hist_add(&j->st.lat[dir], perf_ticks_to_ns((int64_t)(now - io->start_tick)));
		j->st.ios[dir]++;
		if (j->quota)
			j->end_tick = now;
	}
	j->last_progress_tick = now;
	j->free_slots[j->nfree++] = io->index;
	j->inflight--;
	j->ndone++;
}

/* Choose the next block of the slice; false when the one due is busy. */
static bool pick_block(struct perf_job *j, uint64_t *b)
{
	bool random = j->random;

	for (int tries = 0; tries < PICK_TRIES; tries++) {
		uint64_t k;
		if (random) {
			k = rng_below(&j->rng, j->nblocks);
		} else {
			k = j->seq_next;
			if (++j->seq_next == j->nblocks)
				j->seq_next = 0;
		}
		*b = j->first_block + k;
		if (!j->vt || !j->vt->busy[*b])
			return true;
		if (!random) {
			j->seq_next = k;	/* try the same block again later */
			return false;
		}
	}
	return false;
}

static bool next_is_write(struct perf_job *j)
{
	switch (j->o->workload) {
	case PERF_W_RANDWRITE:
	case PERF_W_WRITE:
		return true;
	case PERF_W_RANDRW:
		return rng_below(&j->rng, 100) >= j->o->rwmixread;
	default:
		return false;
	}
}

/* Submit one I/O, stamped with now (the burst's start; see stamp_burst()).
 * 1 submitted, 0 nothing to submit now, < 0 fatal. */
static int submit_one(struct perf_job *j, uint64_t now)
{
	uint64_t b;

	if (!pick_block(j, &b))
		return 0;
	struct perf_io *io = slot(j, j->free_slots[j->nfree - 1]);
	io->write = next_is_write(j);
	io->block = b;
	io->lba = j->first_lba + b * j->lbas_per_block;
	io->nlb = j->lbas_per_block;
	io->counted = j->measuring;
	if (j->vt) {
		j->vt->busy[b] = 1;
		if (io->write) {
			io->gen = perf_vtable_next_gen(j->vt, b);
			perf_verify_fill(io->buf, j->t->lba_size, io->nlb, io->lba, io->gen);
		}
	}
	io->start_tick = now;
	int rc = j->t->ops->submit(j->t, (uint16_t)j->index, io);
	if (rc) {
		if (j->vt)
			j->vt->busy[b] = 0;
		if (rc == -EBUSY || rc == -ENOSPC)
			return 0;
		job_failed(j, "submission", rc);
		return rc;
	}
	j->nfree--;
	j->inflight++;
	if (j->measuring)
		j->submitted_measured++;
	return 1;
}

/* Follow the main thread's phase (the clock is read at changes only). */
static void follow_phase(struct perf_job *j)
{
	int ph = __atomic_load_n(j->phase, __ATOMIC_ACQUIRE);

	if (!j->measuring && !j->stopping && ph >= PERF_PH_MEASURE) {
		j->measuring = true;
		j->begin_tick = perf_ticks();
	}
	if (!j->stopping && ph == PERF_PH_STOP) {
		j->stopping = true;
		if (j->measuring && !j->quota)
			j->end_tick = perf_ticks();
	}
	if (!j->stopping && j->quota && j->submitted_measured == j->quota)
		j->stopping = true;	/* -n: the rest is draining */
}

/* Spread the start times of a burst of n I/Os over [t0, t1): the k-th one
 * (free_slots[top - 1 - k], the stack's pop order) was submitted about
 * (t1 - t0) * k / n after the first, as if each had been stamped just
 * before its submission, at the cost of two clock reads per burst. */
static void stamp_burst(struct perf_job *j, uint32_t top, uint32_t n, uint64_t t0, uint64_t t1)
{
	uint64_t step = (t1 - t0) / n;

	for (uint32_t k = 1; k < n; k++)
		slot(j, j->free_slots[top - 1 - k])->start_tick = t0 + step * k;
}

/* Notify the device of what was submitted: 0 or a fatal negative errno. */
static int kick(struct perf_job *j, uint16_t q)
{
	int rc = j->t->ops->kick ? j->t->ops->kick(j->t, q) : 0;

	if (rc < 0)
		job_failed(j, "notification", rc);
	return rc < 0 ? rc : 0;
}

/* Submit as many I/Os as the job may now, as one burst, then notify the
 * device once (or every --batch submissions). 0 or a fatal negative
 * errno. */
static int submit_burst(struct perf_job *j, uint16_t q)
{
	uint32_t submitted = 0, top = j->nfree;
	int rc = 0;
	uint64_t now = 0;

	while (!j->stopping && j->nfree && (!j->quota || !j->measuring ||
					     j->submitted_measured < j->quota)) {
		if (!now)
			now = perf_ticks();
		rc = submit_one(j, now);
		if (rc <= 0)
			break;
		submitted++;
		/* --batch: let the device start on the first part of a long
		 * burst while the rest is prepared */
		if (j->o->db_batch && submitted % j->o->db_batch == 0 && (rc = kick(j, q)) < 0)
			break;
	}
	if (submitted > 1)
		stamp_burst(j, top, submitted, now, perf_ticks());
	if (rc < 0)
		return rc;		/* submit_one() or kick() said why */
	if (submitted && (!j->o->db_batch || submitted % j->o->db_batch))
		return kick(j, q);
	return 0;
}

static void *job_main(void *arg)
{
	struct perf_job *j = arg;
	const struct perf_target_ops *ops = j->t->ops;
	uint16_t q = (uint16_t)j->index;
	unsigned idle = 0;

	if (j->cpu >= 0) {
		int rc = perf_pin_cpu(j->cpu);
		if (rc)
			job_msg(j, "cannot pin to CPU %d: %s", j->cpu, strerror(-rc));
	}
	j->last_progress_tick = perf_ticks();
	for (;;) {
		follow_phase(j);
		if (j->stopping && j->inflight == 0)
			break;
		int rc = submit_burst(j, q);
		if (rc < 0) {
			j->fatal = rc;
			break;
		}
		if (!j->inflight)
			continue;	/* every block busy elsewhere: try again */
		j->reap_tick = 0;
		int n = j->o->interrupts ? ops->wait(j->t, q, WAIT_MS) : ops->poll(j->t, q, j->o->reap_max);
		if (n > 0) {
			publish_done(j);
			idle = 0;
			continue;
		}
		if (n < 0 && n != -ETIMEDOUT) {
			job_failed(j, "completion", n);
			j->fatal = n;
			break;
		}
		/* nothing completed: look at the clock now and then */
		if (!j->o->interrupts && ++idle < IDLE_CHECK)
			continue;
		idle = 0;
		uint64_t quiet = perf_ticks() - j->last_progress_tick;
		if (quiet > j->check_ticks && ops->check && perf_ticks() - j->last_check_tick > j->check_ticks) {
			j->last_check_tick = perf_ticks();
			if ((rc = ops->check(j->t)) < 0) {
				job_failed(j, "connection check", rc);
				j->fatal = rc;
				break;
			}
		}
		if (quiet > j->hang_ticks) {
			job_msg(j, "no completion for %llu s with %u I/Os in flight",
				HANG_NS / 1000000000ull, j->inflight);
			j->fatal = -ETIMEDOUT;
			break;
		}
	}
	if (j->measuring && !j->end_tick)
		j->end_tick = perf_ticks();
	j->st.begin_ns = perf_ticks_to_mono_ns(j->begin_tick);
	j->st.end_ns = perf_ticks_to_mono_ns(j->end_tick);
	publish_done(j);
	ops->qstats(j->t, q, &j->st.notif);
	if (j->fatal)
		count_error(j, false);
	__atomic_store_n(&j->finished, 1, __ATOMIC_RELEASE);
	return NULL;
}

int perf_job_start(struct perf_job *j)
{
	return -pthread_create(&j->thread, NULL, job_main, j);
}

void perf_job_join(struct perf_job *j)
{
	pthread_join(j->thread, NULL);
}
