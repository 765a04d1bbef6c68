/* The clock of the I/O loop: latencies are measured in ticks of the CPU's
 * time-stamp counter (one rdtsc, no system call and no vDSO page walk: in a
 * VM a CLOCK_MONOTONIC read through kvm-clock costs about twice as much), as
 * spdk_nvme_perf does, converted to nanoseconds with a ratio calibrated once
 * against CLOCK_MONOTONIC. Where the TSC is not known to tick at a constant
 * rate in every state (no constant_tsc + nonstop_tsc in /proc/cpuinfo, or not
 * x86-64) ticks are CLOCK_MONOTONIC nanoseconds. */
#ifndef OSNAP_PERF_CLOCK_H
#define OSNAP_PERF_CLOCK_H

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

enum perf_clock_kind {
	PERF_CLOCK_AUTO = 0,	/* TSC when usable, else monotonic */
	PERF_CLOCK_TSC,		/* TSC even without the invariance flags (x86-64 only) */
	PERF_CLOCK_MONOTONIC,	/* clock_gettime(CLOCK_MONOTONIC) */
};

/* Conversion state, set once by perf_clock_init() before any job starts. */
struct perf_clock {
	bool tsc;		/* ticks are TSC cycles; else nanoseconds */
	uint64_t mult;		/* ns = ticks * mult >> 32 (TSC) */
	uint64_t hz;		/* ticks per second */
	uint64_t anchor_tick;	/* a tick count ... */
	uint64_t anchor_ns;	/* ... and the CLOCK_MONOTONIC time it stands for */
};

extern struct perf_clock perf_clock_g;

/* Choose and calibrate the clock (about 20 ms for the TSC). 0, or -ENOTSUP
 * when kind asks for the TSC where there is none. */
int perf_clock_init(enum perf_clock_kind kind);

/* "tsc (2.10 GHz)" or "monotonic", for the report. */
const char *perf_clock_desc(char *buf, unsigned len);

/* Now, in ticks. */
static inline uint64_t perf_ticks(void)
{
#if defined(__x86_64__)
	if (perf_clock_g.tsc)
		return __rdtsc();
#endif
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A tick interval in nanoseconds (0 for a negative one: the TSCs of two
 * CPUs may differ slightly when a job is not pinned). */
static inline uint64_t perf_ticks_to_ns(int64_t ticks)
{
	if (ticks <= 0)
		return 0;
	if (!perf_clock_g.tsc)
		return (uint64_t)ticks;
	return (uint64_t)(((unsigned __int128)(uint64_t)ticks * perf_clock_g.mult) >> 32);
}

/* The CLOCK_MONOTONIC time of a tick count (0 for 0). */
uint64_t perf_ticks_to_mono_ns(uint64_t tick);

/* Nanoseconds in ticks (rounded down). */
uint64_t perf_ns_to_ticks(uint64_t ns);

#endif
