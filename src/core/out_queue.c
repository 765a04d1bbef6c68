/* See out_queue.h. */
#include "out_queue.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#define FLUSH_IOV 64	/* messages gathered by one sendmsg */

struct out_msg {
	struct out_msg *next;
	size_t len, off;	/* off: bytes already sent */
	int nfds;		/* our copies of fds still to send (0 once sent) */
	int fds[OUT_QUEUE_MAX_FDS];
	uint8_t data[];
};

void out_queue_init(struct out_queue *q, int fd)
{
	memset(q, 0, sizeof(*q));
	q->fd = fd;
}

/* One non-blocking sendmsg; fds (if any) ride on its first byte. Returns
 * the bytes sent or -errno (-EAGAIN when the socket takes nothing). */
static ssize_t send_iov(int fd, struct iovec *iov, int iovcnt, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * OUT_QUEUE_MAX_FDS)];
		struct cmsghdr align;
	} cbuf;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
	ssize_t n;

	if (nfds > 0) {
		memset(&cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
	}
	do
		n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	/* a stream socket's sendmsg either fails having sent nothing (the
	 * fds did not go either) or sent at least one byte, and then the fds
	 * went with the first skb: they are never sent twice */
	return n < 0 ? -errno : n;
}

static void close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
}

/* n bytes of the queue's head went out: drop the messages done. */
static void consume(struct out_queue *q, size_t n)
{
	while (n) {
		struct out_msg *m = q->head;
		size_t take = m->len - m->off < n ? m->len - m->off : n;
		m->off += take;
		q->bytes -= take;
		n -= take;
		if (m->off == m->len) {
			q->head = m->next;
			if (!q->head)
				q->tail = NULL;
			q->msgs--;
			free(m);
		}
	}
}

int out_queue_flush(struct out_queue *q)
{
	while (q->head) {
		struct iovec iov[FLUSH_IOV];
		struct out_msg *h = q->head;
		int n = 0;
		/* a message with fds starts a sendmsg of its own (they belong to
		 * its first byte, not to the bytes before it), so only the head's
		 * go along, and only if none of it went yet */
		for (struct out_msg *m = h; m && n < FLUSH_IOV; m = m->next) {
			if (m != h && m->nfds)
				break;
			iov[n].iov_base = m->data + m->off;
			iov[n].iov_len = m->len - m->off;
			n++;
		}
		ssize_t r = send_iov(q->fd, iov, n, h->fds, h->nfds);
		if (r == -EAGAIN)
			return 0;
		if (r < 0)
			return (int)r;
		if (h->nfds) {
			/* the peer holds its own references now */
			close_fds(h->fds, h->nfds);
			h->nfds = 0;
		}
		consume(q, (size_t)r);
	}
	return 0;
}

int out_queue_send(struct out_queue *q, const void *buf, size_t len, const int *fds, int nfds)
{
	size_t off = 0;

	if (nfds < 0 || nfds > OUT_QUEUE_MAX_FDS || (nfds && !len))
		return -EINVAL;
	if (!len)
		return 0;
	if (q->head) {
		/* the socket may have room the event loop did not report yet */
		int rc = out_queue_flush(q);
		if (rc)
			return rc;
	}
	if (!q->head) {
		/* nothing ahead of it: straight to the socket */
		struct iovec iov = { (void *)buf, len };
		ssize_t r = send_iov(q->fd, &iov, 1, fds, nfds);
		if (r < 0 && r != -EAGAIN)
			return (int)r;
		if (r > 0) {
			off = (size_t)r;
			nfds = 0;	/* they went with the first byte */
		}
		if (off == len)
			return 0;
	} else if (q->msgs >= OUT_QUEUE_MAX_MSGS || q->bytes + len > OUT_QUEUE_MAX_BYTES) {
		return -ENOBUFS;
	}
	struct out_msg *m = malloc(sizeof(*m) + (len - off));
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->len = len - off;
	m->off = 0;
	m->nfds = 0;
	memcpy(m->data, (const uint8_t *)buf + off, len - off);
	for (int i = 0; i < nfds; i++) {
		/* the caller keeps its fds: queue copies of our own */
		int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 3);
		if (d < 0) {
			int rc = -errno;
			close_fds(m->fds, m->nfds);
			free(m);
			return rc;
		}
		m->fds[m->nfds++] = d;
	}
	if (q->tail)
		q->tail->next = m;
	else
		q->head = m;
	q->tail = m;
	q->bytes += m->len;
	q->msgs++;
	return 0;
}

void out_queue_clear(struct out_queue *q)
{
	while (q->head) {
		struct out_msg *m = q->head;
		q->head = m->next;
		close_fds(m->fds, m->nfds);
		free(m);
	}
	q->tail = NULL;
	q->bytes = 0;
	q->msgs = 0;
}
