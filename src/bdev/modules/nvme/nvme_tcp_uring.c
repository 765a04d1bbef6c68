/* The io_uring socket I/O of one NVMe/TCP queue pair (see
 * nvme_tcp_uring.h).
 *
 * Ring flags: IORING_SETUP_SINGLE_ISSUER (6.0+) when the kernel takes it.
 * Not COOP_TASKRUN nor DEFER_TASKRUN: a socket completion is posted by
 * task work run on the reactor's thread, and the reactor sleeps in
 * epoll_wait on the ring's eventfd; by default that task work interrupts
 * the sleep (TIF_NOTIFY_SIGNAL: epoll_wait returns EINTR, the task work
 * posts the CQE, the eventfd fires), while with COOP_TASKRUN it waits for
 * the thread's next io_uring_enter, which a sleeping reactor never makes.
 * Not SQPOLL: a kernel thread spinning per ring on a 2-core machine.
 *
 * Memory per queue pair: the ring (8 SQEs, 16 CQEs) and a 64 KiB receive
 * buffer. */
#include "bdev/modules/nvme/nvme_tcp_uring.h"

#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RING_ENTRIES	8		/* one send, one receive, their cancels */
#define RXBUF_LEN	(64 * 1024)
#define DIRECT_MIN	(16 * 1024)	/* data reads this large skip the buffer */
#define URING_IOV	64		/* iovecs per send or direct receive */
#define QUIESCE_NS	(5ull * 1000 * 1000 * 1000)

/* user_data of each operation */
enum {
	OP_SEND = 1,
	OP_RECV_BUF,
	OP_RECV_DIRECT,
	OP_CANCEL,
};

enum { TX_IDLE, TX_INFLIGHT, TX_DONE };
enum { RXOP_NONE, RXOP_BUF, RXOP_DIRECT };

struct nvme_tcp_uring {
	struct io_uring ring;
	int fd;
	int efd;
	unsigned inflight;		/* sends and receives whose CQE is not reaped */
	bool broken;			/* quiescing failed: never free */

	uint8_t tx_state;
	ssize_t tx_res;			/* TX_DONE: bytes sent, or -errno */
	struct msghdr tx_msg;
	struct iovec tx_iov[URING_IOV];

	uint8_t rx_op;
	bool rx_eof;
	int rx_err;
	uint32_t rx_head, rx_tail;	/* bytes of rxbuf not taken yet */
	ssize_t rx_direct;		/* bytes landed in rx_iov (-1: none) */
	void *rx_direct_base;
	struct msghdr rx_msg;
	struct iovec rx_iov[URING_IOV];
	uint8_t *rxbuf;
};

struct nvme_tcp_uring *nvme_tcp_uring_create(int fd, char *err, size_t errlen)
{
	struct nvme_tcp_uring *u = calloc(1, sizeof(*u));
	struct io_uring_params p;
	int rc, fl;

	if (!u || !(u->rxbuf = malloc(RXBUF_LEN))) {
		free(u);
		snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return NULL;
	}
	memset(&p, 0, sizeof(p));
	p.flags = IORING_SETUP_SINGLE_ISSUER;
	rc = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
	if (rc == -EINVAL) {
		/* before Linux 6.0: no SINGLE_ISSUER */
		memset(&p, 0, sizeof(p));
		rc = io_uring_queue_init_params(RING_ENTRIES, &u->ring, &p);
	}
	if (rc < 0) {
		snprintf(err, errlen, "io_uring_queue_init: %s", strerror(-rc));
		goto fail_free;
	}
	u->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (u->efd < 0) {
		rc = -errno;
		snprintf(err, errlen, "eventfd: %s", strerror(-rc));
		goto fail_ring;
	}
	rc = io_uring_register_eventfd(&u->ring, u->efd);
	if (rc < 0) {
		snprintf(err, errlen, "io_uring_register_eventfd: %s", strerror(-rc));
		goto fail_efd;
	}
	/* A blocking socket: io_uring waits for it (poll) by itself, while on
	 * an O_NONBLOCK one a retried or punted operation may end with
	 * -EAGAIN. (Nothing else does a blocking call on it: the queue pair's
	 * own send() calls say MSG_DONTWAIT.) */
	fl = fcntl(fd, F_GETFL);
	if (fl < 0 || ((fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)) {
		rc = -errno;
		snprintf(err, errlen, "fcntl: %s", strerror(-rc));
		goto fail_efd;
	}
	u->fd = fd;
	u->rx_direct = -1;
	return u;
fail_efd:
	close(u->efd);
fail_ring:
	io_uring_queue_exit(&u->ring);
fail_free:
	free(u->rxbuf);
	free(u);
	errno = -rc;
	return NULL;
}

void nvme_tcp_uring_destroy(struct nvme_tcp_uring *u)
{
	if (!u)
		return;
	if (nvme_tcp_uring_quiesce(u))
		return;		/* the kernel may still write rxbuf or read tx_iov */
	io_uring_queue_exit(&u->ring);
	close(u->efd);
	free(u->rxbuf);
	free(u);
}

int nvme_tcp_uring_event_fd(const struct nvme_tcp_uring *u)
{
	return u->efd;
}

static void take_cqe(struct nvme_tcp_uring *u, uint64_t op, int res)
{
	switch (op) {
	case OP_SEND:
		u->inflight--;
		if (res == -EAGAIN || res == -EINTR) {
			/* nothing sent: the next call sends again */
			u->tx_state = TX_IDLE;
			break;
		}
		u->tx_state = TX_DONE;
		/* sendmsg of a non-empty message that sent nothing: the
		 * connection is gone */
		u->tx_res = res ? res : -EPIPE;
		break;
	case OP_RECV_BUF:
	case OP_RECV_DIRECT:
		u->inflight--;
		u->rx_op = RXOP_NONE;
		if (res > 0 && op == OP_RECV_BUF) {
			u->rx_head = 0;
			u->rx_tail = (uint32_t)res;
		} else if (res > 0) {
			u->rx_direct = res;
		} else if (res == 0) {
			u->rx_eof = true;
		} else if (res != -EINTR && res != -EAGAIN) {
			/* (EINTR, EAGAIN: nothing received; the next call
			 * prepares another receive) */
			u->rx_err = res;
		}
		break;
	default:
		break;	/* OP_CANCEL: the operation's own CQE tells */
	}
}

int nvme_tcp_uring_reap(struct nvme_tcp_uring *u)
{
	struct io_uring_cqe *cqes[2 * RING_ENTRIES];
	unsigned n = io_uring_peek_batch_cqe(&u->ring, cqes, 2 * RING_ENTRIES);

	for (unsigned i = 0; i < n; i++) {
		uint64_t op = io_uring_cqe_get_data64(cqes[i]);
		int res = cqes[i]->res;

		io_uring_cqe_seen(&u->ring, cqes[i]);
		take_cqe(u, op, res);
	}
	return (int)n;
}

int nvme_tcp_uring_submit(struct nvme_tcp_uring *u)
{
	int rc;

	if (!io_uring_sq_ready(&u->ring))
		return 0;
	rc = io_uring_submit(&u->ring);
	if (rc >= 0)
		return rc;
	/* The SQEs stay in the ring and go with the next submit. */
	if (rc == -EAGAIN || rc == -EBUSY || rc == -EINTR)
		return 0;
	return rc;
}

static size_t iov_total(const struct iovec *v, int n)
{
	size_t t = 0;

	for (int i = 0; i < n; i++)
		t += v[i].iov_len;
	return t;
}

/* m over a copy of v (at most URING_IOV iovecs) in iov: both are kept until
 * the CQE (the kernel may read them after the submit, when the operation
 * waits for the socket). */
static struct msghdr *set_msg(struct msghdr *m, struct iovec *iov, const struct iovec *v, int n)
{
	if (n > URING_IOV)
		n = URING_IOV;
	memcpy(iov, v, (size_t)n * sizeof(*v));
	memset(m, 0, sizeof(*m));
	m->msg_iov = iov;
	m->msg_iovlen = (size_t)n;
	return m;
}

static ssize_t take_buffered(struct nvme_tcp_uring *u, const struct iovec *v, int n)
{
	size_t got = 0;

	for (int i = 0; i < n && u->rx_head < u->rx_tail; i++) {
		size_t take = u->rx_tail - u->rx_head;
		if (take > v[i].iov_len)
			take = v[i].iov_len;
		memcpy(v[i].iov_base, u->rxbuf + u->rx_head, take);
		u->rx_head += (uint32_t)take;
		got += take;
	}
	if (u->rx_head == u->rx_tail)
		u->rx_head = u->rx_tail = 0;
	return (ssize_t)got;
}

ssize_t nvme_tcp_uring_recv(struct nvme_tcp_uring *u, const struct iovec *v, int n)
{
	struct io_uring_sqe *sqe;

	if (u->rx_head < u->rx_tail)
		return take_buffered(u, v, n);
	if (u->rx_direct >= 0) {
		ssize_t got = u->rx_direct;
		/* The bytes are where the previous call pointed: it must be
		 * the same place (the caller's receive state cannot move while
		 * it waits). */
		if (n < 1 || v[0].iov_base != u->rx_direct_base)
			return -EPROTO;
		u->rx_direct = -1;
		return got;
	}
	if (u->rx_err)
		return u->rx_err;
	if (u->rx_eof)
		return -EPIPE;
	if (u->rx_op != RXOP_NONE || n < 1)
		return 0;
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return 0;	/* the SQ is full: pending() keeps the poller going */
	if (iov_total(v, n) >= DIRECT_MIN) {
		io_uring_prep_recvmsg(sqe, u->fd, set_msg(&u->rx_msg, u->rx_iov, v, n), 0);
		io_uring_sqe_set_data64(sqe, OP_RECV_DIRECT);
		u->rx_direct_base = v[0].iov_base;
		u->rx_op = RXOP_DIRECT;
	} else {
		io_uring_prep_recv(sqe, u->fd, u->rxbuf, RXBUF_LEN, 0);
		io_uring_sqe_set_data64(sqe, OP_RECV_BUF);
		u->rx_op = RXOP_BUF;
	}
	u->inflight++;
	return 0;
}

ssize_t nvme_tcp_uring_send(struct nvme_tcp_uring *u, const struct iovec *v, int n)
{
	struct io_uring_sqe *sqe;

	if (u->tx_state == TX_DONE) {
		u->tx_state = TX_IDLE;
		return u->tx_res;
	}
	if (u->tx_state == TX_INFLIGHT || n < 1)
		return 0;
	sqe = io_uring_get_sqe(&u->ring);
	if (!sqe)
		return 0;
	io_uring_prep_sendmsg(sqe, u->fd, set_msg(&u->tx_msg, u->tx_iov, v, n), MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, OP_SEND);
	u->tx_state = TX_INFLIGHT;
	u->inflight++;
	return 0;
}

bool nvme_tcp_uring_send_busy(const struct nvme_tcp_uring *u)
{
	return u->tx_state != TX_IDLE;
}

bool nvme_tcp_uring_pending(const struct nvme_tcp_uring *u)
{
	/* io_uring_cq_ready() loads the CQ tail with acquire semantics (in
	 * liburing): the CQEs it announces are visible to the reap after. */
	return io_uring_cq_ready(&u->ring) || io_uring_sq_ready(&u->ring) ||
	       u->rx_head < u->rx_tail || u->rx_direct >= 0 || u->tx_state == TX_DONE ||
	       u->rx_eof || u->rx_err;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void prep_cancel(struct nvme_tcp_uring *u, uint64_t op)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&u->ring);

	if (!sqe)
		return;
	io_uring_prep_cancel64(sqe, op, 0);
	io_uring_sqe_set_data64(sqe, OP_CANCEL);
}

int nvme_tcp_uring_quiesce(struct nvme_tcp_uring *u)
{
	uint64_t deadline;

	if (u->broken)
		return -ETIMEDOUT;
	nvme_tcp_uring_reap(u);
	if (!u->inflight)
		return 0;
	if (u->tx_state == TX_INFLIGHT)
		prep_cancel(u, OP_SEND);
	if (u->rx_op == RXOP_BUF)
		prep_cancel(u, OP_RECV_BUF);
	else if (u->rx_op == RXOP_DIRECT)
		prep_cancel(u, OP_RECV_DIRECT);
	/* May fail (another thread than the ring's issuer, at shutdown, after
	 * the reactor exited: its exit cancelled everything already). */
	(void)io_uring_submit(&u->ring);
	deadline = mono_ns() + QUIESCE_NS;
	while (u->inflight) {
		struct __kernel_timespec ts = { .tv_sec = 0, .tv_nsec = 100 * 1000 * 1000 };
		struct io_uring_cqe *cqe;

		if (!io_uring_wait_cqe_timeout(&u->ring, &cqe, &ts))
			nvme_tcp_uring_reap(u);
		if (u->inflight && mono_ns() > deadline) {
			u->broken = true;
			return -ETIMEDOUT;
		}
	}
	return 0;
}
