/* Latency histogram in the manner of HdrHistogram: log-linear buckets (each
 * power of two split into 128 equal sub-buckets, so any value is known to
 * within 0.8 %), fixed size, no allocation when recording. Values are
 * nanoseconds. */
#ifndef OSNAP_PERF_HIST_H
#define OSNAP_PERF_HIST_H

#include <stdint.h>

#define PERF_HIST_SUB_BITS	7
#define PERF_HIST_SUB		(1u << PERF_HIST_SUB_BITS)
#define PERF_HIST_MAX_BIT	42	/* values up to 2^43 ns (about 2.4 hours) */
#define PERF_HIST_BUCKETS	(PERF_HIST_SUB * (PERF_HIST_MAX_BIT - PERF_HIST_SUB_BITS + 2))

struct perf_hist {
	uint64_t count;
	uint64_t sum;		/* ns */
	uint64_t min, max;	/* ns, exact; min is UINT64_MAX while empty */
	uint64_t buckets[PERF_HIST_BUCKETS];
};

/* Empty the histogram. */
void perf_hist_reset(struct perf_hist *h);

/* Bucket of a value (values beyond the range go to the last bucket). */
static inline unsigned perf_hist_index(uint64_t v)
{
	if (v < PERF_HIST_SUB)
		return (unsigned)v;
	unsigned msb = 63u - (unsigned)__builtin_clzll(v);
	if (msb > PERF_HIST_MAX_BIT)
		return PERF_HIST_BUCKETS - 1;
	unsigned shift = msb - PERF_HIST_SUB_BITS;
	return PERF_HIST_SUB * (shift + 1) + (unsigned)((v >> shift) - PERF_HIST_SUB);
}

/* Record one value. */
static inline void perf_hist_add(struct perf_hist *h, uint64_t v)
{
	h->buckets[perf_hist_index(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

/* Add every value of src to dst. */
void perf_hist_merge(struct perf_hist *dst, const struct perf_hist *src);

/* Lowest and one-past-highest value a bucket stands for. */
void perf_hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi);

/* The value at percentile pct (0 < pct <= 100): the middle of the bucket
 * holding the ceil(pct/100 * count)-th smallest value, clamped to
 * [min, max]. 0 when empty. */
uint64_t perf_hist_percentile(const struct perf_hist *h, double pct);

/* Mean in ns (0 when empty). */
double perf_hist_mean(const struct perf_hist *h);

#endif
