/* Where a new queue goes: the least-loaded reactor across every controller
 * of the service, so that one tenant's queues do not pile onto the
 * reactor another's already crowd (before this, every controller's first
 * queue landed on reactor 0).
 *
 * IO_CORE_DISTRIBUTION_POLICY says what a queue weighs: "none" (the
 * default) counts queues, "weighted_rr" weighs each by its depth (a
 * 1024-entry queue is worth eight 128-entry ones). Ties go to the lowest
 * reactor index. Main thread only. */
#ifndef OSNAP_REACTOR_LOAD_H
#define OSNAP_REACTOR_LOAD_H

#include <stdint.h>

/* Pick a reactor for a queue of depth entries and count it there; returns
 * its index, or -1 when no reactor runs. */
int reactor_place(uint32_t depth);
/* The queue placed by reactor_place(depth) on reactor idx is gone. */
void reactor_unplace(int idx, uint32_t depth);
/* Current load of reactor idx (for listings and tests). */
uint64_t reactor_load(int idx);

#endif
