/* The per-I/O clock: see tick.h. */
#include "tick.h"
#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

struct tick_clock g_tick;

/* Does /proc/cpuinfo list both flags (the TSC runs at a constant rate and
 * does not stop in deep C-states: it measures time, not cycles)? */
static bool tsc_invariant(void)
{
	FILE *f = fopen("/proc/cpuinfo", "r");
	char line[4096];
	bool ok = false;
	if (!f)
		return false;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "flags", 5))
			continue;
		ok = strstr(line, " constant_tsc") && strstr(line, " nonstop_tsc");
		break;
	}
	fclose(f);
	return ok;
}

#if defined(__x86_64__)
/* A (clock, TSC) pair read as close together as possible: of a few tries,
 * the one whose TSC reading sat in the narrowest clock window (a thread
 * preempted in between would skew the calibration). */
static void sample(uint64_t *ns, uint64_t *tsc)
{
	uint64_t best = UINT64_MAX;
	for (int i = 0; i < 8; i++) {
		uint64_t a = now_ns(), t = __rdtsc(), b = now_ns();
		if (b - a < best) {
			best = b - a;
			*ns = a + (b - a) / 2;
			*tsc = t;
		}
	}
}
#endif

void tick_init(void)
{
#if defined(__x86_64__)
	if (g_tick.tsc || !tsc_invariant())
		return;
	uint64_t n0 = 0, t0 = 0, n1 = 0, t1 = 0;
	sample(&n0, &t0);
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	sample(&n1, &t1);
	if (t1 <= t0 || n1 <= n0)
		return;
	g_tick.mult = (uint64_t)(((unsigned __int128)(n1 - n0) << 32) / (t1 - t0));
	g_tick.tsc = g_tick.mult != 0;
	log_debug("per-I/O clock: TSC, %.3f GHz", (double)(t1 - t0) / (double)(n1 - n0));
#endif
}
