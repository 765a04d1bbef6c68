/* What the NVMe drivers of tests/system (nvme_e2e, hostile_client) share:
 * an NVMe status or an errno in words, and the CSTS check after a case. */
#ifndef OSNAP_TESTS_SYSTEM_NVME_STATUS_H
#define OSNAP_TESTS_SYSTEM_NVME_STATUS_H

#include "host/nvme_host.h"

/* "SCT s SC 0xcc (raw 0xrrrr)" or "errno e (...)" for a negative st; four
 * calls of one thread may be in use at once (one message). */
const char *st_str(int st);

/* FAIL (tap.h) unless CSTS reads RDY and not CFS. */
void check_csts_ok(struct nvme_host *h, const char *when);

#endif
