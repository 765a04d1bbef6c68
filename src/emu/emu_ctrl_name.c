/* Naming of controllers on emulated functions, shared by NVMe and virtio-blk. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "emu.h"

int emu_ctrl_name_pick(const char *given, const char *prefix, bool (*taken)(const char *name),
		       char *out, size_t cap, char *err, size_t errlen)
{
	if (given) {
		if (!given[0] || strlen(given) >= cap) {
			snprintf(err, errlen, "controller name must be 1..%zu characters", cap - 1);
			return -EINVAL;
		}
		snprintf(out, cap, "%s", given);
	} else {
		for (int i = 1;; i++) {
			snprintf(out, cap, "%s%d", prefix, i);
			if (!taken(out))
				break;
		}
	}
	if (taken(out)) {
		snprintf(err, errlen, "controller %s already exists", out);
		return -EEXIST;
	}
	return 0;
}
