/* Queue placement on the reactors: see reactor_load.h. */
#include "reactor_load.h"
#include "params.h"
#include "thread.h"

#include <string.h>

static uint64_t g_load[OSNAP_MAX_REACTORS];

static uint64_t weight(uint32_t depth)
{
	if (!strcmp(param_str(P_IO_CORE_DISTRIBUTION_POLICY), "weighted_rr"))
		return depth ? depth : 1;
	return 1;
}

int reactor_place(uint32_t depth)
{
	int n = reactor_count(), best = -1;
	for (int i = 0; i < n && i < OSNAP_MAX_REACTORS; i++)
		if (best < 0 || g_load[i] < g_load[best])
			best = i;
	if (best >= 0)
		g_load[best] += weight(depth);
	return best;
}

void reactor_unplace(int idx, uint32_t depth)
{
	if (idx < 0 || idx >= OSNAP_MAX_REACTORS)
		return;
	uint64_t w = weight(depth);
	g_load[idx] = g_load[idx] >= w ? g_load[idx] - w : 0;
}

uint64_t reactor_load(int idx)
{
	return idx >= 0 && idx < OSNAP_MAX_REACTORS ? g_load[idx] : 0;
}
