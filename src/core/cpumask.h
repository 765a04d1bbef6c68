/* Core masks as SPDK and SNAP write them: "0x3", "3", or "[0,2-3]". */
#ifndef OSNAP_CPUMASK_H
#define OSNAP_CPUMASK_H
#include <stdint.h>
/* Returns 0 and the mask, or -EINVAL (empty mask, bad syntax, core >= 64). */
int cpumask_parse(const char *s, uint64_t *mask);
#endif
