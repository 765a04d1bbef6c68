/* See unix_socket.h. */
#include "unix_socket.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_SEND_FDS 16

int unix_listen(const char *path, mode_t mode, const char *group, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		close(probe);
		if (rc == 0) {
			snprintf(err, errlen, "%s is in use by another running service", path);
			return -EADDRINUSE;
		}
	}
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		rc = -errno;
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return rc;
	}
	/* created owner-only, then opened up as configured */
	mode_t old = umask(0177);
	rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || listen(fd, 64) < 0 || chmod(path, mode) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	if (group && *group) {
		struct group *g = getgrnam(group);
		char *end;
		long gid = g ? (long)g->gr_gid : strtol(group, &end, 10);
		if (!g && *end) {
			rc = -EINVAL;
			snprintf(err, errlen, "no group %s", group);
			goto fail;
		}
		if (chown(path, (uid_t)-1, (gid_t)gid) < 0) {
			rc = -errno;
			snprintf(err, errlen, "chown %s: %s", path, strerror(errno));
			goto fail;
		}
	}
	return fd;
fail:
	close(fd);
	unlink(path);
	return rc;
}

int unix_send_fds(int fd, const void *buf, size_t len, const int *fds, int nfds, int timeout_ms)
{
	char cbuf[CMSG_SPACE(sizeof(int) * MAX_SEND_FDS)];
	struct iovec iov = { (void *)buf, len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	size_t sent = 0;

	if (nfds > MAX_SEND_FDS)
		return -EINVAL;
	if (nfds > 0) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	while (sent < len) {
		iov.iov_base = (uint8_t *)buf + sent;
		iov.iov_len = len - sent;
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pfd = { fd, POLLOUT, 0 };
				if (poll(&pfd, 1, timeout_ms) <= 0)
					return -ETIMEDOUT;
				continue;
			}
			return -errno;
		}
		sent += (size_t)n;
		/* the fds travel with the first bytes only */
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
	}
	return 0;
}
