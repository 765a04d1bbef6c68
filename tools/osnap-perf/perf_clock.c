/* TSC or CLOCK_MONOTONIC ticks for the I/O loop. See perf_clock.h. */
#include "perf_clock.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define CAL_NS		20000000ull	/* calibration interval */
#define CAL_TRIES	5		/* bracketed samples, the tightest kept */

#define MONO	{ .tsc = false, .mult = 1ull << 32, .hz = 1000000000ull }

struct perf_clock perf_clock_g = MONO;

static uint64_t mono_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The cpu flags line of /proc/cpuinfo names both invariance flags. */
static bool tsc_invariant(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool constant = false, nonstop = false;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		/* match whole words: " constant_tsc " */
		for (char *p = strtok(line, " \t\n"); p; p = strtok(NULL, " \t\n")) {
			if (!strcmp(p, "constant_tsc"))
				constant = true;
			else if (!strcmp(p, "nonstop_tsc"))
				nonstop = true;
		}
		break;
	}
	fclose(f);
	return constant && nonstop;
}

#if defined(__x86_64__)
/* One (ns, tsc) pair: the TSC read between two clock reads, the pair with
 * the shortest bracket of CAL_TRIES (a preemption in between spoils one). */
static void pair(uint64_t *ns, uint64_t *tsc)
{
	uint64_t best = UINT64_MAX;

	for (int i = 0; i < CAL_TRIES; i++) {
		uint64_t a = mono_ns(), t = __rdtsc(), b = mono_ns();
		if (b - a < best) {
			best = b - a;
			*ns = a + (b - a) / 2;
			*tsc = t;
		}
	}
}

static int tsc_calibrate(void)
{
	uint64_t ns0, t0, ns1, t1;
	struct timespec pause = { 0, (long)CAL_NS };

	pair(&ns0, &t0);
	nanosleep(&pause, NULL);
	pair(&ns1, &t1);
	if (ns1 <= ns0 || t1 <= t0)
		return -ENOTSUP;
	uint64_t hz = (uint64_t)((unsigned __int128)(t1 - t0) * 1000000000ull / (ns1 - ns0));
	if (hz < 1000000ull)
		return -ENOTSUP;	/* not a plausible TSC */
	perf_clock_g.hz = hz;
	perf_clock_g.mult = (uint64_t)(((unsigned __int128)1000000000ull << 32) / hz);
	perf_clock_g.tsc = true;
	perf_clock_g.anchor_ns = ns1;
	perf_clock_g.anchor_tick = t1;
	return 0;
}
#endif

int perf_clock_init(enum perf_clock_kind kind)
{
	perf_clock_g = (struct perf_clock)MONO;
	if (kind == PERF_CLOCK_MONOTONIC)
		return 0;
#if defined(__x86_64__)
	if (kind == PERF_CLOCK_TSC || tsc_invariant()) {
		int rc = tsc_calibrate();
		return kind == PERF_CLOCK_TSC ? rc : 0;
	}
	return 0;
#else
	(void)tsc_invariant;
	return kind == PERF_CLOCK_TSC ? -ENOTSUP : 0;
#endif
}

const char *perf_clock_desc(char *buf, unsigned len)
{
	if (perf_clock_g.tsc)
		snprintf(buf, len, "tsc (%.3f GHz)", (double)perf_clock_g.hz / 1e9);
	else
		snprintf(buf, len, "monotonic");
	return buf;
}

uint64_t perf_ticks_to_mono_ns(uint64_t tick)
{
	if (!tick || !perf_clock_g.tsc)
		return tick;
	if (tick >= perf_clock_g.anchor_tick)
		return perf_clock_g.anchor_ns + perf_ticks_to_ns((int64_t)(tick - perf_clock_g.anchor_tick));
	uint64_t back = perf_ticks_to_ns((int64_t)(perf_clock_g.anchor_tick - tick));
	return back < perf_clock_g.anchor_ns ? perf_clock_g.anchor_ns - back : 1;
}

uint64_t perf_ns_to_ticks(uint64_t ns)
{
	if (!perf_clock_g.tsc)
		return ns;
	return (uint64_t)((unsigned __int128)ns * perf_clock_g.hz / 1000000000ull);
}
