/* The fake devices' wire helpers (fake_wire.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fake_wire.h"

#define FAKE_MAX_FDS 16

int64_t fake_now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int fake_listen(char *dir, size_t dlen, char *path, size_t plen, const char *tmpl, const char *name)
{
	snprintf(dir, dlen, "%s", tmpl);
	assert_non_null(mkdtemp(dir));
	snprintf(path, plen, "%s/%s", dir, name);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	return lfd;
}

int fake_recv(int fd, void *buf, size_t len, int *fds, int *nfds, int maxfds)
{
	size_t done = 0;
	while (done < len) {
		char cbuf[CMSG_SPACE(sizeof(int) * FAKE_MAX_FDS)];
		struct iovec iov = { (uint8_t *)buf + done, len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n <= 0)
			return -1;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k; i++) {
				int x;
				memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				if (fds && *nfds < maxfds)
					fds[(*nfds)++] = x;
				else
					close(x);
			}
		}
		done += (size_t)n;
	}
	return 0;
}

void fake_send(int sfd, const void *a, size_t alen, const void *b, size_t blen, const int *fds, int nfds)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	char cbuf[CMSG_SPACE(sizeof(int) * 8)];
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = blen ? 2 : 1 };
	assert_true(nfds >= 0 && nfds <= 8);
	if (nfds) {
		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	(void)!sendmsg(sfd, &mh, MSG_NOSIGNAL);
}

void fake_stop_server(pthread_t th, atomic_bool *stop, atomic_int *fd, int lfd, const char *dir,
		      const char *path)
{
	atomic_store(stop, true);
	if (atomic_load(fd) < 0)
		shutdown(lfd, SHUT_RDWR);	/* the thread still waits in accept */
	pthread_join(th, NULL);
	if (atomic_load(fd) >= 0)
		close(atomic_load(fd));
	close(lfd);
	unlink(path);
	rmdir(dir);
}

void fake_vfu_irq_info(const uint8_t *p, uint32_t nvec, struct vfu_msg_irq_info *ii)
{
	memcpy(ii, p, sizeof(*ii));
	ii->argsz = sizeof(*ii);
	ii->flags = VFIO_IRQ_INFO_EVENTFD;
	if (ii->index == VFIO_PCI_MSIX_IRQ_INDEX)
		ii->flags |= VFIO_IRQ_INFO_MASKABLE | VFIO_IRQ_INFO_NORESIZE;
	ii->count = ii->index == VFIO_PCI_MSIX_IRQ_INDEX ? nvec : ii->index == 0 ? 1 : 0;
}
