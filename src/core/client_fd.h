/* File descriptors a client hands us: what they must be before we use them.
 *
 * A client's interrupt and kick descriptors (vfio-user SET_IRQS, vhost-user
 * SET_VRING_CALL/KICK) are written or read by reactors. Anything but an
 * eventfd (a pipe, a socket, a FIFO) could block a reactor or the main
 * thread for good, stalling every other tenant, so such fds are refused and
 * eventfds are switched to non-blocking (writing an eventfd only blocks at
 * a counter of 2^64 - 2; non-blocking, the write fails instead). */
#ifndef OSNAP_CLIENT_FD_H
#define OSNAP_CLIENT_FD_H

#include <stdbool.h>

/* True if fd is an eventfd. */
bool fd_is_eventfd(int fd);

/* Check that fd is an eventfd and make it non-blocking. Returns 0, or
 * -EINVAL for any other kind of file (or a closed fd). */
int client_eventfd_accept(int fd);

#endif
