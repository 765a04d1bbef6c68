/* NVMe statuses in words and the CSTS check (nvme_status.h). */
#include <stdio.h>
#include <string.h>

#include "nvme_status.h"
#include "tap.h"

const char *st_str(int st)
{
	static __thread char b[4][64];
	static __thread unsigned k;
	char *s = b[k++ & 3];
	if (st < 0)
		snprintf(s, 64, "errno %d (%s)", -st, strerror(-st));
	else
		snprintf(s, 64, "SCT %d SC 0x%02x (raw 0x%04x)", NVME_STATUS_SCT(st), NVME_STATUS_SC(st), st);
	return s;
}

/* REQUIRE_OK (tap.h) says the NVMe status, or the errno */
const char *tap_status_str(int rc)
{
	return st_str(rc);
}

void check_csts_ok(struct nvme_host *h, const char *when)
{
	uint32_t csts = 0;
	int rc = nvme_host_reg_read32(h, NVME_REG_CSTS, &csts);
	if (rc)
		FAIL("CSTS %s: %s", when, st_str(rc));
	else if ((csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) != NVME_CSTS_RDY)
		FAIL("CSTS %s: 0x%x, want RDY and not CFS", when, csts);
}
