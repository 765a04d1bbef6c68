/* The socket implementation of the NVMe/TCP initiator's I/O queue pairs
 * (SPDK's sock_set_default_impl / sock_get_default_impl):
 *
 * - posix: non-blocking sockets; the reactor calls sendmsg/readv itself
 *   and is woken through epoll on the socket;
 * - uring: each I/O queue pair submits its sends and receives through an
 *   io_uring of its own, created on its reactor (nvme_tcp_uring.h).
 *
 * The choice applies to queue pairs handed to a reactor after it is made
 * (a new controller, or the next reconnect of an existing one). Admin
 * queues and connects always use posix: they live on the main loop.
 * Main thread only. */
#ifndef OSNAP_NVME_SOCK_IMPL_H
#define OSNAP_NVME_SOCK_IMPL_H

#include <stddef.h>

enum nvme_sock_impl {
	NVME_SOCK_POSIX,
	NVME_SOCK_URING,
};

/* "posix" or "uring". */
const char *nvme_sock_impl_name(enum nvme_sock_impl impl);
enum nvme_sock_impl nvme_sock_default_impl(void);
/* Select the default by name. 0; -EINVAL for a name osnap does not have;
 * -EOPNOTSUPP (err says why) for uring when io_uring cannot be used on
 * this machine (an old kernel, kernel.io_uring_disabled, seccomp). */
int nvme_sock_set_default_impl(const char *name, char *err, size_t errlen);

#endif
