/* Checks on the file descriptors clients hand us; see client_fd.h. */
#include "client_fd.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool fd_is_eventfd(int fd)
{
	char path[64], target[64];
	if (fd < 0)
		return false;
	/* an eventfd is an anonymous inode whose link names its kind */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

int client_eventfd_accept(int fd)
{
	if (!fd_is_eventfd(fd))
		return -EINVAL;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0))
		return -EINVAL;
	return 0;
}
