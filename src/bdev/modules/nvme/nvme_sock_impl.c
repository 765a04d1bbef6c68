/* The default socket implementation of NVMe/TCP I/O queue pairs (see
 * nvme_sock_impl.h). */
#include "bdev/modules/nvme/nvme_sock_impl.h"

#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <string.h>

static enum nvme_sock_impl g_default = NVME_SOCK_POSIX;

const char *nvme_sock_impl_name(enum nvme_sock_impl impl)
{
	return impl == NVME_SOCK_URING ? "uring" : "posix";
}

enum nvme_sock_impl nvme_sock_default_impl(void)
{
	return g_default;
}

int nvme_sock_set_default_impl(const char *name, char *err, size_t errlen)
{
	if (!strcmp(name, "posix")) {
		g_default = NVME_SOCK_POSIX;
		return 0;
	}
	if (!strcmp(name, "uring")) {
		struct io_uring ring;
		int rc = io_uring_queue_init(2, &ring, 0);

		if (rc < 0) {
			snprintf(err, errlen, "socket implementation uring: io_uring is not usable "
				 "here: %s", strerror(-rc));
			return -EOPNOTSUPP;
		}
		io_uring_queue_exit(&ring);
		g_default = NVME_SOCK_URING;
		return 0;
	}
	snprintf(err, errlen, "socket implementation %s is not available in osnap (it has posix "
		 "and uring)", name);
	return -EINVAL;
}
