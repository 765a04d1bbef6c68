/* One NVMe/TCP queue pair, host side: a non-blocking TCP connection, the
 * ICReq/ICResp exchange, and the command/data/response traffic of up to
 * `depth` commands in flight.
 *
 * Threading: a queue pair belongs to one thread at a time (the main thread
 * while it connects, then a reactor); nothing in it is shared. Its owner
 * calls nvme_tcp_qpair_poll() when the socket may have progress (an epoll
 * event on nvme_tcp_qpair_wake_fd(), or every reactor iteration);
 * completions are delivered from there, never from nvme_tcp_qpair_submit().
 *
 * Memory: no allocation per command. The caller owns each request (in a
 * bdev_io's driver context, or its own array); the queue pair keeps only a
 * table of `depth` pointers (command id = slot). Writes are sent straight
 * from the caller's iovecs (sendmsg), reads land straight in them (readv):
 * no staging buffer on either side. */
#ifndef OSNAP_NVME_TCP_QPAIR_H
#define OSNAP_NVME_TCP_QPAIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "bdev/modules/nvme/nvme_tcp_pdu.h"

struct nvme_tcp_qpair;
struct nvme_tcp_req;

/* status: 0 and cpl set (NVMe status inside), or -errno when the command
 * never completed on the wire (the connection failed: -ECONNRESET). */
typedef void (*nvme_tcp_req_cb)(struct nvme_tcp_req *req, const struct nvme_cqe *cpl,
				int status);

enum nvme_tcp_dir {
	NVME_TCP_DIR_NONE,
	NVME_TCP_DIR_H2C,	/* host to controller (write) */
	NVME_TCP_DIR_C2H,	/* controller to host (read) */
};

/* A command. Fill sqe (not cid, not the SGL: the queue pair sets them),
 * dir, iov/iovcnt/iov_off/len, cb and cb_arg; the rest is the queue
 * pair's. The command's data is len bytes starting iov_off bytes into the
 * iovecs (a part of a larger I/O). */
struct nvme_tcp_req {
	struct nvme_sqe sqe;
	uint8_t dir;			/* enum nvme_tcp_dir */
	const struct iovec *iov;
	int iovcnt;
	uint32_t iov_off;
	uint32_t len;			/* data bytes */
	nvme_tcp_req_cb cb;
	void *cb_arg;

	/* private */
	struct nvme_tcp_req *send_next;
	uint16_t cid;
	uint8_t phase;			/* internal state */
	bool in_send_queue;
	bool got_resp, data_done, dgst_err, incapsule;
	struct nvme_cqe cpl;
	uint32_t c2h_next;		/* next C2H data offset expected */
	uint32_t r2t_end;		/* end of the current R2T */
	uint32_t h2c_off;		/* offset of the H2C PDU being sent */
	uint16_t ttag;
	/* the PDU being sent: header, data [data_off, data_off + data_len) of
	 * iov, data digest; `sent` bytes of it are on the wire */
	uint32_t hdr_len, data_off, data_len, sent;
	uint8_t ddgst[NVME_TCP_DGST_LEN];
	_Alignas(8) uint8_t hdr[128];
};

enum nvme_tcp_qp_state {
	NVME_TCP_QP_IDLE,
	NVME_TCP_QP_CONNECTING,		/* TCP connect in progress */
	NVME_TCP_QP_IC_WAIT,		/* ICReq sent, waiting for ICResp */
	NVME_TCP_QP_READY,		/* commands may be submitted */
	NVME_TCP_QP_FAILED,		/* the connection is gone (see err) */
};

struct nvme_tcp_qpair_opts {
	uint16_t qid;
	uint16_t depth;			/* commands in flight (1..4096) */
	bool hdgst, ddgst;		/* digests to ask for */
	uint32_t incapsule_max;		/* in-capsule data limit for writes (0: none) */
};

/* NULL with errno on allocation failure. */
struct nvme_tcp_qpair *nvme_tcp_qpair_create(const struct nvme_tcp_qpair_opts *o);
/* Closes the socket; requests still held are completed with -ECONNABORTED. */
void nvme_tcp_qpair_destroy(struct nvme_tcp_qpair *qp);

/* Start a non-blocking connect to sa. 0 or -errno. */
int nvme_tcp_qpair_connect(struct nvme_tcp_qpair *qp, const struct sockaddr *sa,
			   socklen_t salen);
/* Use an already connected socket (tests, fuzzing): sends ICReq. */
int nvme_tcp_qpair_adopt_fd(struct nvme_tcp_qpair *qp, int fd);

/* Make progress: finish the connect, send what is queued, receive and
 * complete. Returns the work done (> 0), 0 when idle, or -errno once the
 * queue pair failed (every request held has then been completed with
 * status -ECONNRESET; the reason is in nvme_tcp_qpair_error()). */
int nvme_tcp_qpair_poll(struct nvme_tcp_qpair *qp);

/* Queue a command. -EBUSY when depth commands are in flight, -ENOTCONN
 * when not READY, -EINVAL for a data length the queue pair cannot carry. */
int nvme_tcp_qpair_submit(struct nvme_tcp_qpair *qp, struct nvme_tcp_req *req);

enum nvme_tcp_qp_state nvme_tcp_qpair_state(const struct nvme_tcp_qpair *qp);
const char *nvme_tcp_qpair_error(const struct nvme_tcp_qpair *qp);
int nvme_tcp_qpair_fd(const struct nvme_tcp_qpair *qp);
/* True while the socket must be watched for writability: connecting,
 * something queued to send, or the kernel's send buffer was full (posix;
 * never with uring). */
bool nvme_tcp_qpair_want_write(const struct nvme_tcp_qpair *qp);

/* --- socket implementation (nvme_sock_impl.h) ---
 * A queue pair starts with posix socket I/O. nvme_tcp_qpair_use_uring()
 * moves an idle queue pair (nothing queued or half received) to an
 * io_uring of its own (nvme_tcp_uring.h), created on the calling thread,
 * which must be the one that polls and destroys the queue pair from then
 * on. 0, or -errno with err (the queue pair stays posix). */
int nvme_tcp_qpair_use_uring(struct nvme_tcp_qpair *qp, char *err, size_t errlen);
/* "posix" or "uring". */
const char *nvme_tcp_qpair_sock_impl(const struct nvme_tcp_qpair *qp);
/* The fd whose readability means progress: the socket (posix) or the
 * ring's eventfd (uring). */
int nvme_tcp_qpair_wake_fd(const struct nvme_tcp_qpair *qp);
/* The owner must poll again before sleeping: posix, want_write; uring,
 * completions or unsubmitted operations in the ring, received bytes not
 * parsed, or PDUs to send and no send in flight. */
bool nvme_tcp_qpair_want_poll(const struct nvme_tcp_qpair *qp);
/* Data digest mismatches seen (each failed its command with a transfer error). */
uint64_t nvme_tcp_qpair_digest_errors(const struct nvme_tcp_qpair *qp);
/* Commands submitted and not completed. */
unsigned nvme_tcp_qpair_inflight(const struct nvme_tcp_qpair *qp);
/* Commands that may be in flight at once. */
unsigned nvme_tcp_qpair_depth(const struct nvme_tcp_qpair *qp);
uint16_t nvme_tcp_qpair_qid(const struct nvme_tcp_qpair *qp);
/* The session parameters (valid once READY). */
const struct nvme_tcp_params *nvme_tcp_qpair_params(const struct nvme_tcp_qpair *qp);
/* Fail the queue pair now (as if the connection broke), with reason. */
void nvme_tcp_qpair_fail(struct nvme_tcp_qpair *qp, const char *reason);

#endif
