/* A cheap monotonic clock for per-I/O timestamps (latency statistics):
 * the CPU's time-stamp counter where it is invariant (x86-64 with
 * constant_tsc and nonstop_tsc), calibrated once against CLOCK_MONOTONIC;
 * CLOCK_MONOTONIC itself elsewhere or before tick_init. A vDSO
 * clock_gettime costs tens of nanoseconds (more in a VM), twice per I/O. */
#ifndef OSNAP_TICK_H
#define OSNAP_TICK_H

#include <stdbool.h>
#include <stdint.h>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "thread.h"

struct tick_clock {
	bool tsc;		/* ticks are TSC cycles */
	uint64_t mult;		/* ns = ticks * mult >> 32 */
};
extern struct tick_clock g_tick;	/* written once by tick_init */

/* Decide the source and calibrate (about 5 ms). Call once at start-up,
 * before the reactors run I/O. */
void tick_init(void);

static inline uint64_t tick_now(void)
{
#if defined(__x86_64__)
	if (g_tick.tsc)
		return __rdtsc();
#endif
	return now_ns();
}

/* A difference of two tick_now values in nanoseconds. */
static inline uint64_t tick_to_ns(uint64_t ticks)
{
	if (!g_tick.tsc)
		return ticks;
	return (uint64_t)(((unsigned __int128)ticks * g_tick.mult) >> 32);
}

#endif
