/* Log-linear latency histogram. See perf_hist.h. */
#include "perf_hist.h"

#include <math.h>
#include <string.h>

void perf_hist_reset(struct perf_hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

void perf_hist_merge(struct perf_hist *dst, const struct perf_hist *src)
{
	for (unsigned i = 0; i < PERF_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

void perf_hist_bucket_range(unsigned idx, uint64_t *lo, uint64_t *hi)
{
	if (idx < PERF_HIST_SUB) {
		*lo = idx;
		*hi = (uint64_t)idx + 1;
		return;
	}
	unsigned shift = idx / PERF_HIST_SUB - 1;
	uint64_t sub = PERF_HIST_SUB + idx % PERF_HIST_SUB;
	*lo = sub << shift;
	*hi = (sub + 1) << shift;
}

uint64_t perf_hist_percentile(const struct perf_hist *h, double pct)
{
	if (!h->count)
		return 0;
	if (pct >= 100)
		return h->max;
	uint64_t rank = (uint64_t)ceil(pct / 100.0 * (double)h->count);
	if (rank < 1)
		rank = 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < PERF_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t lo, hi;
			perf_hist_bucket_range(i, &lo, &hi);
			uint64_t v = lo + (hi - lo) / 2;
			if (v < h->min)
				v = h->min;
			if (v > h->max)
				v = h->max;
			return v;
		}
	}
	return h->max;
}

double perf_hist_mean(const struct perf_hist *h)
{
	return h->count ? (double)h->sum / (double)h->count : 0.0;
}
