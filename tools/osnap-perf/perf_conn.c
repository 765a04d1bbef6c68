/* Is the server still there? (see perf_target.h: perf_conn_check; POLLRDHUP
 * needs _GNU_SOURCE, which the build defines) */
#include <errno.h>
#include <poll.h>

#include "perf_target.h"

int perf_conn_check(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLRDHUP };
	if (fd < 0)
		return -ECONNRESET;
	if (poll(&p, 1, 0) < 0)
		return errno == EINTR ? 0 : -errno;
	return (p.revents & (POLLHUP | POLLRDHUP | POLLERR | POLLNVAL)) ? -ECONNRESET : 0;
}
