/* One NVMe/TCP queue pair, host side (see nvme_tcp_qpair.h).
 *
 * Sending: requests with a PDU to send wait in a FIFO; one sendmsg takes
 * the headers, the caller's data iovecs and the digests of as many of them
 * as fit in SEND_IOV iovecs, and a short write just leaves the rest for the
 * next poll. A write larger than the in-capsule limit is announced with a
 * transport SGL and its data goes out in H2C data PDUs (at most MAXH2CDATA
 * each) after the controller's R2T.
 *
 * Receiving: the common header, then the rest of the header, then the data
 * straight into the request's iovecs, then the data digest; each step reads
 * exactly what it needs, so no byte of one PDU is ever taken as part of
 * another. Every field is checked before it is used (nvme_tcp_pdu.c for the
 * header alone, here against the request it names); any violation fails
 * the whole queue pair, as the specification asks (a fatal transport
 * error), and its owner decides what to do with the commands it held.
 *
 * Socket I/O: posix (sendmsg and readv on the non-blocking socket), or
 * uring once nvme_tcp_qpair_use_uring() was called (nvme_tcp_uring.c: the
 * same calls become ring operations, completed on a later poll). With
 * uring, a send still in the kernel keeps its PDUs in the send queue until
 * its completion is reaped; a PDU from the controller that names a command
 * whose PDU is in that send waits (unparsed past its header) until the
 * send's completion is taken, so every state change happens in the order
 * of the wire, as with posix. */
#include "bdev/modules/nvme/nvme_tcp_qpair.h"
#include "bdev/modules/nvme/nvme_tcp_uring.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SEND_IOV	64	/* iovecs per sendmsg */
#define RECV_IOV	64	/* iovecs per readv of C2H data */
#define RX_BUDGET	64	/* PDUs received per poll */

/* req->phase */
enum {
	PH_FREE,
	PH_CMD,		/* the capsule is being sent */
	PH_WAIT,	/* waiting for R2T, data or the response */
	PH_H2C,		/* H2C data PDUs are being sent */
};

/* receive states */
enum {
	RX_CH,
	RX_HDR,
	RX_DATA,
	RX_DDGST,
	RX_TERM_DATA,
};

struct nvme_tcp_qpair {
	struct nvme_tcp_qpair_opts o;
	int fd;
	enum nvme_tcp_qp_state state;
	struct nvme_tcp_params params;
	char err[256];

	struct nvme_tcp_req **slots;	/* command id -> request */
	unsigned inflight;
	unsigned next_slot;

	struct nvme_tcp_req *sq_head, *sq_tail;	/* PDUs to send, in order */
	bool want_write;
	uint8_t ic[NVME_TCP_IC_LEN];
	uint32_t ic_sent;
	bool ic_queued;

	uint8_t rx_state;
	uint32_t rx_got;			/* bytes of the current step read */
	struct nvme_tcp_rx_layout lay;
	struct nvme_tcp_rx_psh psh;
	struct nvme_tcp_req *rx_req;		/* C2H data target */
	uint8_t rx_hdr[NVME_TCP_HDR_MAX];
	uint8_t rx_ddgst[NVME_TCP_DGST_LEN];
	uint8_t rx_term[NVME_TCP_TERM_MAX_DATA];
	uint64_t dgst_errors;			/* data digest mismatches seen */

	struct nvme_tcp_uring *ur;		/* uring socket I/O (NULL: posix) */
};

static void qp_fail(struct nvme_tcp_qpair *qp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

struct nvme_tcp_qpair *nvme_tcp_qpair_create(const struct nvme_tcp_qpair_opts *o)
{
	struct nvme_tcp_qpair *qp;

	if (!o->depth || o->depth > 4096) {
		errno = EINVAL;
		return NULL;
	}
	qp = calloc(1, sizeof(*qp));
	if (!qp)
		return NULL;
	qp->slots = calloc(o->depth, sizeof(*qp->slots));
	if (!qp->slots) {
		free(qp);
		return NULL;
	}
	qp->o = *o;
	qp->fd = -1;
	qp->state = NVME_TCP_QP_IDLE;
	return qp;
}

/* Complete every request held with status (the connection is gone). The
 * send queue is emptied first: a callback may free the request. */
static void fail_requests(struct nvme_tcp_qpair *qp, int status)
{
	qp->sq_head = qp->sq_tail = NULL;
	for (unsigned i = 0; i < qp->o.depth; i++) {
		struct nvme_tcp_req *r = qp->slots[i];
		if (!r)
			continue;
		qp->slots[i] = NULL;
		qp->inflight--;
		r->phase = PH_FREE;
		r->in_send_queue = false;
		r->cb(r, NULL, status);
	}
}

void nvme_tcp_qpair_destroy(struct nvme_tcp_qpair *qp)
{
	if (!qp)
		return;
	if (qp->ur) {
		/* The kernel lets go of the requests' memory before they are
		 * completed (and perhaps freed) below. */
		if (qp->fd >= 0)
			shutdown(qp->fd, SHUT_RDWR);
		nvme_tcp_uring_destroy(qp->ur);
		qp->ur = NULL;
	}
	if (qp->fd >= 0)
		close(qp->fd);
	qp->fd = -1;
	qp->state = NVME_TCP_QP_FAILED;
	fail_requests(qp, -ECONNABORTED);
	free(qp->slots);
	free(qp);
}

static void qp_fail(struct nvme_tcp_qpair *qp, const char *fmt, ...)
{
	va_list ap;

	if (qp->state == NVME_TCP_QP_FAILED)
		return;
	va_start(ap, fmt);
	vsnprintf(qp->err, sizeof(qp->err), fmt, ap);
	va_end(ap);
	qp->state = NVME_TCP_QP_FAILED;
	/* The fd stays open until nvme_tcp_qpair_destroy(): the owner takes
	 * it out of its epoll set first, so its number cannot be reused under
	 * a registration meanwhile. */
	if (qp->fd >= 0)
		shutdown(qp->fd, SHUT_RDWR);
	/* With uring, the kernel may still be reading the requests' data or
	 * receiving into their buffers: wait until it is not. */
	if (qp->ur && nvme_tcp_uring_quiesce(qp->ur))
		snprintf(qp->err + strlen(qp->err), sizeof(qp->err) - strlen(qp->err),
			 " (io_uring operations did not end)");
	fail_requests(qp, -ECONNRESET);
}

void nvme_tcp_qpair_fail(struct nvme_tcp_qpair *qp, const char *reason)
{
	qp_fail(qp, "%s", reason);
}

static void start_ic(struct nvme_tcp_qpair *qp)
{
	nvme_tcp_build_icreq(qp->ic, qp->o.hdgst, qp->o.ddgst);
	qp->ic_sent = 0;
	qp->ic_queued = true;
	qp->state = NVME_TCP_QP_IC_WAIT;
}

static void tune_socket(int fd)
{
	int one = 1;
	/* Capsules are small and latency-bound: no Nagle delay. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

int nvme_tcp_qpair_connect(struct nvme_tcp_qpair *qp, const struct sockaddr *sa,
			   socklen_t salen)
{
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	tune_socket(fd);
	qp->fd = fd;
	if (connect(fd, sa, salen) == 0) {
		start_ic(qp);
		return 0;
	}
	if (errno != EINPROGRESS) {
		int e = errno;
		qp_fail(qp, "connect: %s", strerror(e));
		return -e;
	}
	qp->state = NVME_TCP_QP_CONNECTING;
	return 0;
}

int nvme_tcp_qpair_adopt_fd(struct nvme_tcp_qpair *qp, int fd)
{
	qp->fd = fd;
	start_ic(qp);
	return 0;
}

enum nvme_tcp_qp_state nvme_tcp_qpair_state(const struct nvme_tcp_qpair *qp)
{
	return qp->state;
}

const char *nvme_tcp_qpair_error(const struct nvme_tcp_qpair *qp)
{
	return qp->err;
}

int nvme_tcp_qpair_fd(const struct nvme_tcp_qpair *qp)
{
	return qp->fd;
}

bool nvme_tcp_qpair_want_write(const struct nvme_tcp_qpair *qp)
{
	if (qp->ur)
		return false;	/* the ring waits for room in the socket */
	return qp->state == NVME_TCP_QP_CONNECTING || qp->want_write ||
	       (qp->state != NVME_TCP_QP_FAILED && (qp->sq_head || qp->ic_queued));
}

bool nvme_tcp_qpair_want_poll(const struct nvme_tcp_qpair *qp)
{
	if (!qp->ur)
		return nvme_tcp_qpair_want_write(qp);
	if (qp->state == NVME_TCP_QP_FAILED)
		return false;
	return nvme_tcp_uring_pending(qp->ur) || qp->ic_queued ||
	       (qp->sq_head && !nvme_tcp_uring_send_busy(qp->ur));
}

int nvme_tcp_qpair_wake_fd(const struct nvme_tcp_qpair *qp)
{
	return qp->ur ? nvme_tcp_uring_event_fd(qp->ur) : qp->fd;
}

const char *nvme_tcp_qpair_sock_impl(const struct nvme_tcp_qpair *qp)
{
	return qp->ur ? "uring" : "posix";
}

int nvme_tcp_qpair_use_uring(struct nvme_tcp_qpair *qp, char *err, size_t errlen)
{
	if (qp->ur)
		return 0;
	if (qp->fd < 0 || qp->state == NVME_TCP_QP_FAILED || qp->state == NVME_TCP_QP_CONNECTING ||
	    qp->sq_head || qp->rx_state != RX_CH || qp->rx_got) {
		snprintf(err, errlen, "the queue pair is not idle");
		return -EBUSY;
	}
	qp->ur = nvme_tcp_uring_create(qp->fd, err, errlen);
	return qp->ur ? 0 : -errno;
}

uint64_t nvme_tcp_qpair_digest_errors(const struct nvme_tcp_qpair *qp)
{
	return qp->dgst_errors;
}

unsigned nvme_tcp_qpair_inflight(const struct nvme_tcp_qpair *qp)
{
	return qp->inflight;
}

unsigned nvme_tcp_qpair_depth(const struct nvme_tcp_qpair *qp)
{
	return qp->o.depth;
}

uint16_t nvme_tcp_qpair_qid(const struct nvme_tcp_qpair *qp)
{
	return qp->o.qid;
}

const struct nvme_tcp_params *nvme_tcp_qpair_params(const struct nvme_tcp_qpair *qp)
{
	return &qp->params;
}

/* --- requests --- */

static size_t iov_bytes(const struct iovec *iov, int cnt)
{
	size_t n = 0;
	for (int i = 0; i < cnt; i++)
		n += iov[i].iov_len;
	return n;
}

static void complete(struct nvme_tcp_qpair *qp, struct nvme_tcp_req *r, const struct nvme_cqe *cpl)
{
	qp->slots[r->cid] = NULL;
	qp->inflight--;
	r->phase = PH_FREE;
	r->cb(r, cpl, 0);
}

static void sq_push(struct nvme_tcp_qpair *qp, struct nvme_tcp_req *r)
{
	r->send_next = NULL;
	r->sent = 0;
	r->in_send_queue = true;
	if (qp->sq_tail)
		qp->sq_tail->send_next = r;
	else
		qp->sq_head = r;
	qp->sq_tail = r;
}

/* Set up r's PDU: header built in r->hdr, data [off, off + len) of r's
 * iovecs, and its digest. */
static void set_pdu_data(struct nvme_tcp_qpair *qp, struct nvme_tcp_req *r, uint32_t off,
			 uint32_t len)
{
	r->data_off = off;
	r->data_len = len;
	if (len && qp->params.ddgst)
		nvme_tcp_put32(r->ddgst, nvme_tcp_crc32c_iov(r->iov, r->iovcnt, r->iov_off + off, len));
}

static void build_next_h2c(struct nvme_tcp_qpair *qp, struct nvme_tcp_req *r)
{
	uint32_t len = r->r2t_end - r->h2c_off;

	if (len > qp->params.maxh2cdata)
		len = qp->params.maxh2cdata;
	r->hdr_len = nvme_tcp_build_h2c(r->hdr, r->cid, r->ttag, r->h2c_off, len,
					r->h2c_off + len == r->r2t_end, &qp->params);
	set_pdu_data(qp, r, r->h2c_off, len);
	r->phase = PH_H2C;
	sq_push(qp, r);
}

int nvme_tcp_qpair_submit(struct nvme_tcp_qpair *qp, struct nvme_tcp_req *r)
{
	struct nvme_sgl_desc *sgl = (struct nvme_sgl_desc *)(void *)&r->sqe.prp1;
	bool incapsule;
	unsigned slot;

	if (qp->state != NVME_TCP_QP_READY)
		return -ENOTCONN;
	if (qp->inflight >= qp->o.depth)
		return -EBUSY;
	if ((r->dir == NVME_TCP_DIR_NONE) != (r->len == 0) || iov_bytes(r->iov, r->iovcnt) < (uint64_t)r->iov_off + r->len)
		return -EINVAL;
	for (slot = qp->next_slot; qp->slots[slot]; slot = (slot + 1) % qp->o.depth)
		;
	qp->next_slot = (slot + 1) % qp->o.depth;
	qp->slots[slot] = r;
	qp->inflight++;
	r->cid = (uint16_t)slot;
	r->got_resp = r->data_done = r->dgst_err = false;
	r->c2h_next = 0;
	r->r2t_end = 0;
	r->h2c_off = 0;

	/* Fabrics commands (Connect) always carry their data in the capsule. */
	incapsule = r->dir == NVME_TCP_DIR_H2C &&
		    (r->len <= qp->o.incapsule_max || r->sqe.opc == NVME_OPC_FABRICS);
	r->incapsule = incapsule;
	r->sqe.cid = r->cid;
	/* PSDT 01b: SGLs (NVMe/TCP carries no PRPs) */
	r->sqe.flags = (uint8_t)((r->sqe.flags & 0x3f) | (NVME_PSDT_SGL_MPTR_CONTIG << 6));
	memset(sgl, 0, sizeof(*sgl));
	sgl->len = r->len;
	/* In-capsule data: a Data Block descriptor with an offset (0) into the
	 * capsule; otherwise a Transport Data Block (type 5, subtype A). */
	sgl->type = incapsule ? 0x01 : 0x5a;
	r->hdr_len = nvme_tcp_build_capsule(r->hdr, &r->sqe, incapsule ? r->len : 0, &qp->params);
	set_pdu_data(qp, r, 0, incapsule ? r->len : 0);
	r->phase = PH_CMD;
	sq_push(qp, r);
	return 0;
}

/* --- sending --- */

/* Up to max iovecs covering [off, off + len) of src. Returns how many;
 * *covered: the bytes they hold (less than len when max ran out). */
static int iov_slice(const struct iovec *src, int cnt, size_t off, size_t len, struct iovec *dst,
		     int max, size_t *covered)
{
	int n = 0;

	*covered = 0;
	for (int i = 0; i < cnt && len && n < max; i++) {
		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		size_t take = src[i].iov_len - off;
		if (take > len)
			take = len;
		dst[n].iov_base = (char *)src[i].iov_base + off;
		dst[n].iov_len = take;
		n++;
		*covered += take;
		len -= take;
		off = 0;
	}
	return n;
}

static uint32_t pdu_total(const struct nvme_tcp_qpair *qp, const struct nvme_tcp_req *r)
{
	uint32_t dd = r->data_len && qp->params.ddgst ? NVME_TCP_DGST_LEN : 0;
	return r->hdr_len + r->data_len + dd;
}

/* The unsent part of r's PDU as iovecs (header, data, data digest). */
static int pdu_iovs(const struct nvme_tcp_qpair *qp, struct nvme_tcp_req *r, struct iovec *v,
		    int max)
{
	uint32_t s = r->sent, dend = r->hdr_len + r->data_len;
	uint32_t dd = r->data_len && qp->params.ddgst ? NVME_TCP_DGST_LEN : 0;
	int n = 0;

	if (s < r->hdr_len) {
		v[n].iov_base = r->hdr + s;
		v[n++].iov_len = r->hdr_len - s;
		s = r->hdr_len;
	}
	if (n < max && s < dend) {
		size_t covered = 0;
		uint32_t o = s - r->hdr_len;
		n += iov_slice(r->iov, r->iovcnt, (size_t)r->iov_off + r->data_off + o, r->data_len - o, v + n, max - n,
			       &covered);
		if (covered < r->data_len - o)
			return n;
		s = dend;
	}
	if (n < max && s >= dend && s < dend + dd) {
		v[n].iov_base = r->ddgst + (s - dend);
		v[n++].iov_len = dend + dd - s;
	}
	return n;
}

/* r's PDU is on the wire: move it on. */
static void pdu_sent(struct nvme_tcp_qpair *qp, struct nvme_tcp_req *r)
{
	r->in_send_queue = false;
	if (r->phase == PH_H2C) {
		r->h2c_off += r->data_len;
		if (r->h2c_off < r->r2t_end) {
			build_next_h2c(qp, r);
			return;
		}
	}
	r->phase = PH_WAIT;
	if (r->got_resp)
		complete(qp, r, &r->cpl);
}

static int send_ic(struct nvme_tcp_qpair *qp)
{
	ssize_t n = send(qp->fd, qp->ic + qp->ic_sent, NVME_TCP_IC_LEN - qp->ic_sent,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR) {
			qp->want_write = true;
			return 0;
		}
		qp_fail(qp, "send ICReq: %s", strerror(errno));
		return -1;
	}
	qp->ic_sent += (uint32_t)n;
	if (qp->ic_sent == NVME_TCP_IC_LEN)
		qp->ic_queued = false;
	return 1;
}

static int tx_poll(struct nvme_tcp_qpair *qp)
{
	struct iovec v[SEND_IOV];
	int work = 0;

	qp->want_write = false;
	if (qp->ic_queued)
		return send_ic(qp);
	while (qp->sq_head && qp->state == NVME_TCP_QP_READY) {
		struct msghdr msg = { .msg_iov = v };
		int n = 0;
		for (struct nvme_tcp_req *r = qp->sq_head; r && n < SEND_IOV; r = r->send_next)
			n += pdu_iovs(qp, r, v + n, SEND_IOV - n);
		msg.msg_iovlen = (size_t)n;
		ssize_t sent;
		if (qp->ur) {
			/* bytes of an earlier send of the same front, or 0
			 * (in flight, or prepared now from v) */
			sent = nvme_tcp_uring_send(qp->ur, v, n);
			if (sent == 0)
				return work;
			if (sent < 0) {
				qp_fail(qp, "send: %s", strerror((int)-sent));
				return -1;
			}
		} else {
			sent = sendmsg(qp->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		if (sent < 0) {
			if (errno == EAGAIN || errno == EINTR) {
				qp->want_write = true;
				return work;
			}
			qp_fail(qp, "send: %s", strerror(errno));
			return -1;
		}
		work++;
		size_t left = (size_t)sent;
		while (left && qp->sq_head) {
			struct nvme_tcp_req *r = qp->sq_head;
			uint32_t rest = pdu_total(qp, r) - r->sent;
			if (left < rest) {
				r->sent += (uint32_t)left;
				break;
			}
			left -= rest;
			qp->sq_head = r->send_next;
			if (!qp->sq_head)
				qp->sq_tail = NULL;
			pdu_sent(qp, r);
		}
	}
	return work;
}

/* --- receiving --- */

/* Read into buf up to want bytes; returns bytes, 0 when nothing is there
 * now, -1 when the queue pair failed. */
static ssize_t rx_read(struct nvme_tcp_qpair *qp, struct iovec *v, int n)
{
	ssize_t got;

	if (qp->ur) {
		got = nvme_tcp_uring_recv(qp->ur, v, n);
		if (got >= 0)
			return got;
		if (got == -EPIPE)
			qp_fail(qp, "the controller closed the connection");
		else
			qp_fail(qp, "receive: %s", strerror((int)-got));
		return -1;
	}
	got = readv(qp->fd, v, n);

	if (got > 0)
		return got;
	if (got == 0) {
		qp_fail(qp, "the controller closed the connection");
		return -1;
	}
	if (errno == EAGAIN || errno == EINTR)
		return 0;
	qp_fail(qp, "receive: %s", strerror(errno));
	return -1;
}

static int rx_fatal(struct nvme_tcp_qpair *qp, uint16_t fes, const char *msg)
{
	uint8_t term[NVME_TCP_TERM_HLEN];
	uint32_t len = nvme_tcp_build_h2c_term(term, fes, 0);

	/* Best effort: tell the controller why, then drop the connection. */
	if (qp->fd >= 0 && !qp->sq_head)
		(void)!send(qp->fd, term, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	qp_fail(qp, "%s", msg);
	return -1;
}

static struct nvme_tcp_req *req_of_cid(struct nvme_tcp_qpair *qp, uint16_t cid)
{
	return cid < qp->o.depth ? qp->slots[cid] : NULL;
}

static void c2h_data_done(struct nvme_tcp_qpair *qp)
{
	struct nvme_tcp_req *r = qp->rx_req;

	qp->rx_req = NULL;
	qp->rx_state = RX_CH;
	qp->rx_got = 0;
	r->c2h_next = qp->psh.offset + qp->psh.length;
	if (qp->lay.flags & NVME_TCP_F_LAST)
		r->data_done = true;
	if (qp->lay.flags & NVME_TCP_F_SUCCESS) {
		struct nvme_cqe cpl = { .cid = r->cid, .sqid = qp->o.qid };
		if (r->c2h_next != r->len || r->dgst_err)
			cpl.status = (uint16_t)(NVME_SC_DATA_XFER_ERROR << 1);
		complete(qp, r, &cpl);
	}
}

/* uring: the PDU just received names a command whose PDU is still in a
 * send the kernel has not completed (or whose completion is not taken):
 * it is handled once the completion is. */
static bool rx_must_wait(struct nvme_tcp_qpair *qp)
{
	struct nvme_tcp_req *r;
	uint32_t cid;

	if (!qp->ur || !nvme_tcp_uring_send_busy(qp->ur))
		return false;
	switch (qp->lay.type) {
	case NVME_TCP_CAPSULE_RESP:
		cid = qp->psh.cqe.cid;
		break;
	case NVME_TCP_C2H_DATA:
	case NVME_TCP_R2T:
		cid = qp->psh.cccid;
		break;
	default:
		return false;
	}
	r = req_of_cid(qp, (uint16_t)cid);
	return r && r->in_send_queue;
}

/* The header is in: act on it. Returns 0, 1 when it must wait for a send
 * to complete (nothing changed; called again later), or -1 (failed). */
static int rx_header(struct nvme_tcp_qpair *qp)
{
	char err[200];
	uint16_t fes = 0;
	struct nvme_tcp_rx_psh *p = &qp->psh;
	struct nvme_tcp_req *r;

	if (nvme_tcp_check_psh(qp->rx_hdr, &qp->lay, p, &fes, err, sizeof(err)))
		return rx_fatal(qp, fes, err);
	if (rx_must_wait(qp))
		return 1;
	qp->rx_got = 0;
	qp->rx_state = RX_CH;
	switch (qp->lay.type) {
	case NVME_TCP_ICRESP:
		if (nvme_tcp_check_icresp(p, qp->o.hdgst, qp->o.ddgst, &qp->params, err, sizeof(err)))
			return rx_fatal(qp, NVME_TCP_FES_UNSUPPORTED_PARAM, err);
		if (qp->ic_queued)
			return rx_fatal(qp, NVME_TCP_FES_PDU_SEQ_ERROR, "ICResp before the ICReq was sent");
		qp->state = NVME_TCP_QP_READY;
		return 0;
	case NVME_TCP_CAPSULE_RESP:
		r = req_of_cid(qp, p->cqe.cid);
		if (!r || r->phase == PH_FREE || r->phase == PH_CMD) {
			snprintf(err, sizeof(err), "CapsuleResp for command id %u, not in flight",
				 p->cqe.cid);
			return rx_fatal(qp, NVME_TCP_FES_INVALID_HEADER, err);
		}
		r->cpl = p->cqe;
		/* Success with data missing: the data never came. */
		if (r->dir == NVME_TCP_DIR_C2H && !(r->cpl.status >> 1) &&
		    (r->c2h_next != r->len || r->dgst_err))
			r->cpl.status = (uint16_t)(NVME_SC_DATA_XFER_ERROR << 1);
		r->got_resp = true;
		if (!r->in_send_queue)
			complete(qp, r, &r->cpl);
		return 0;
	case NVME_TCP_C2H_DATA:
		r = req_of_cid(qp, p->cccid);
		if (!r || r->phase != PH_WAIT || r->dir != NVME_TCP_DIR_C2H) {
			snprintf(err, sizeof(err), "C2HData for command id %u, not a read in flight",
				 p->cccid);
			return rx_fatal(qp, NVME_TCP_FES_INVALID_HEADER, err);
		}
		if (p->offset != r->c2h_next || (uint64_t)p->offset + p->length > r->len) {
			snprintf(err, sizeof(err), "C2HData %u+%u for command id %u: expected offset %u, "
				 "length %u", p->offset, p->length, p->cccid, r->c2h_next, r->len);
			return rx_fatal(qp, NVME_TCP_FES_DATA_OUT_OF_RANGE, err);
		}
		qp->rx_req = r;
		qp->rx_state = RX_DATA;
		return 0;
	case NVME_TCP_R2T:
		r = req_of_cid(qp, p->cccid);
		if (!r || r->phase != PH_WAIT || r->dir != NVME_TCP_DIR_H2C || r->incapsule) {
			snprintf(err, sizeof(err), "R2T for command id %u, not a write waiting for one",
				 p->cccid);
			return rx_fatal(qp, NVME_TCP_FES_PDU_SEQ_ERROR, err);
		}
		if (p->offset != r->r2t_end || (uint64_t)p->offset + p->length > r->len) {
			snprintf(err, sizeof(err), "R2T %u+%u for command id %u of %u bytes (next %u)",
				 p->offset, p->length, p->cccid, r->len, r->r2t_end);
			return rx_fatal(qp, NVME_TCP_FES_DATA_OUT_OF_RANGE, err);
		}
		r->ttag = p->ttag;
		r->h2c_off = p->offset;
		r->r2t_end = p->offset + p->length;
		build_next_h2c(qp, r);
		return 0;
	case NVME_TCP_C2H_TERM:
		if (qp->lay.data_len) {
			qp->rx_state = RX_TERM_DATA;
			return 0;
		}
		snprintf(err, sizeof(err), "the controller terminated the connection (FES 0x%x)",
			 p->fes);
		qp_fail(qp, "%s", err);
		return -1;
	}
	return rx_fatal(qp, NVME_TCP_FES_INVALID_HEADER, "unexpected PDU");
}

/* Read into buf until it holds want bytes (qp->rx_got of them are in):
 * 2 when they all are, 1 when some more came, 0 when the socket has
 * nothing now, -1 when the queue pair failed. */
static int rx_fill(struct nvme_tcp_qpair *qp, uint8_t *buf, uint32_t want)
{
	struct iovec v;
	ssize_t n;

	if (qp->rx_got >= want)
		return 2;	/* (a header that waited for a send) */
	v.iov_base = buf + qp->rx_got;
	v.iov_len = want - qp->rx_got;
	n = rx_read(qp, &v, 1);
	if (n <= 0)
		return (int)n;
	qp->rx_got += (uint32_t)n;
	return qp->rx_got < want ? 1 : 2;
}

/* One receive step. Returns 1 when it advanced, 0 when the socket has
 * nothing more, -1 when the queue pair failed. */
static int rx_step(struct nvme_tcp_qpair *qp)
{
	struct iovec v[RECV_IOV];
	char err[200];
	uint16_t fes = 0;
	ssize_t n;

	switch (qp->rx_state) {
	case RX_CH:
	case RX_HDR: {
		uint32_t want = qp->rx_state == RX_CH ? NVME_TCP_CH_LEN : qp->lay.hdr_len;
		int rc = rx_fill(qp, qp->rx_hdr, want);
		if (rc != 2)
			return rc;
		if (qp->rx_state == RX_HDR) {
			rc = rx_header(qp);
			return rc < 0 ? -1 : rc == 1 ? 0 : 1;
		}
		if (nvme_tcp_check_ch(qp->rx_hdr, &qp->params, qp->state != NVME_TCP_QP_IC_WAIT,
				      &qp->lay, &fes, err, sizeof(err)))
			return rx_fatal(qp, fes, err);
		qp->rx_state = RX_HDR;
		return 1;
	}
	case RX_DATA: {
		struct nvme_tcp_req *r = qp->rx_req;
		uint32_t len = qp->psh.length;
		size_t covered;
		int cnt = iov_slice(r->iov, r->iovcnt, (size_t)r->iov_off + qp->psh.offset + qp->rx_got, len - qp->rx_got,
				    v, RECV_IOV, &covered);
		n = rx_read(qp, v, cnt);
		if (n <= 0)
			return (int)n;
		qp->rx_got += (uint32_t)n;
		if (qp->rx_got < len)
			return 1;
		qp->rx_got = 0;
		if (qp->lay.ddgst)
			qp->rx_state = RX_DDGST;
		else
			c2h_data_done(qp);
		return 1;
	}
	case RX_DDGST: {
		struct nvme_tcp_req *r = qp->rx_req;
		int rc = rx_fill(qp, qp->rx_ddgst, NVME_TCP_DGST_LEN);
		if (rc != 2)
			return rc;
		uint32_t want = nvme_tcp_crc32c_iov(r->iov, r->iovcnt, (size_t)r->iov_off + qp->psh.offset,
						     qp->psh.length);
		if (want != nvme_tcp_get32(qp->rx_ddgst)) {
			/* The data in the buffer cannot be trusted: the command
			 * completes with a transfer error, the connection stays. */
			snprintf(qp->err, sizeof(qp->err), "data digest error on command id %u", r->cid);
			r->dgst_err = true;
			qp->dgst_errors++;
		}
		c2h_data_done(qp);
		return 1;
	}
	case RX_TERM_DATA: {
		int rc = rx_fill(qp, qp->rx_term, qp->lay.data_len);
		if (rc != 2)
			return rc;
		qp_fail(qp, "the controller terminated the connection (FES 0x%x)", qp->psh.fes);
		return -1;
	}
	}
	return -1;
}

static int check_connected(struct nvme_tcp_qpair *qp)
{
	struct pollfd pfd = { .fd = qp->fd, .events = POLLOUT };
	int soerr = 0;
	socklen_t sl = sizeof(soerr);

	if (poll(&pfd, 1, 0) <= 0)
		return 0;
	if (getsockopt(qp->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
		soerr = errno;
	if (soerr) {
		qp_fail(qp, "connect: %s", strerror(soerr));
		return -1;
	}
	start_ic(qp);
	return 1;
}

/* uring: one io_uring_enter for what this poll prepared. */
static int uring_flush(struct nvme_tcp_qpair *qp)
{
	int rc = nvme_tcp_uring_submit(qp->ur);

	if (rc < 0) {
		qp_fail(qp, "io_uring_submit: %s", strerror(-rc));
		return -ECONNRESET;
	}
	return rc;
}

int nvme_tcp_qpair_poll(struct nvme_tcp_qpair *qp)
{
	int work = 0, rc;

	if (qp->ur && qp->state != NVME_TCP_QP_FAILED)
		work += nvme_tcp_uring_reap(qp->ur);
	if (qp->state == NVME_TCP_QP_CONNECTING) {
		rc = check_connected(qp);
		if (rc <= 0)
			return rc;
		work++;
	}
	if (qp->state == NVME_TCP_QP_FAILED || qp->state == NVME_TCP_QP_IDLE)
		return qp->state == NVME_TCP_QP_FAILED ? -ECONNRESET : 0;
	rc = tx_poll(qp);
	if (rc < 0)
		return -ECONNRESET;
	work += rc;
	for (int i = 0; i < RX_BUDGET * 4; i++) {
		rc = rx_step(qp);
		if (rc < 0)
			return -ECONNRESET;
		if (rc == 0)
			break;
		work++;
	}
	/* What the received PDUs queued (H2C data) goes out now. */
	rc = tx_poll(qp);
	if (rc < 0)
		return -ECONNRESET;
	work += rc;
	if (qp->ur) {
		rc = uring_flush(qp);
		if (rc < 0)
			return rc;
		work += rc;
	}
	return work;
}
