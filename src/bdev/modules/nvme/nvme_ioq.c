/* The reactor side of an NVMe/TCP controller: one I/O queue pair per
 * reactor, shared by the controller's namespaces on that reactor.
 *
 * Every bdev I/O goes through a FIFO (pend) before it gets a command id:
 * it waits there while the queue is full, while there is no queue pair
 * (the controller is reconnecting) or after a transport error (the queue
 * pair broke: commands that never completed go back to the front, in their
 * order, and are sent again on the next queue pair). I/O fails only when
 * the main thread says the controller is lost (or fast_io_fail_timeout_sec
 * passed): nvme_ioq_msg_fail_io. Completions come from the poller; the few
 * that happen elsewhere (a message, submit itself) are deferred to the bdev
 * channel's poller. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/modules/nvme/nvme_ctrlr.h"
#include "core/log.h"
#include "core/thread.h"

/* This reactor is inside an ioq poller: completions may be direct. */
static _Thread_local bool t_in_poll;

static void finish(struct nvme_bio *b, int status)
{
	if (t_in_poll)
		bdev_io_complete(b->io, status);
	else
		bdev_io_complete_deferred(b->io, status);
}

static void pend_push_back(struct nvme_ioq *q, struct nvme_bio *b)
{
	b->next = NULL;
	if (q->pend_tail)
		q->pend_tail->next = b;
	else
		q->pend_head = b;
	q->pend_tail = b;
	q->pending++;
}

static void pend_push_front(struct nvme_ioq *q, struct nvme_bio *b)
{
	b->next = q->pend_head;
	q->pend_head = b;
	if (!q->pend_tail)
		q->pend_tail = b;
	q->pending++;
}

static struct nvme_bio *pend_pop(struct nvme_ioq *q)
{
	struct nvme_bio *b = q->pend_head;

	if (b) {
		q->pend_head = b->next;
		if (!q->pend_head)
			q->pend_tail = NULL;
		q->pending--;
	}
	return b;
}

static int status_errno(uint16_t sf)
{
	switch (sf & 0x7ff) {
	case NVME_SC_LBA_RANGE:
		return -ERANGE;
	case NVME_SC_INVALID_FIELD:
	case NVME_SC_INVALID_NS:
		return -EINVAL;
	case NVME_SC_INVALID_OPCODE:
		return -ENOTSUP;
	case NVME_SC_ATTEMPTED_WRITE_TO_RO:
		return -EROFS;
	case NVME_SC_COMPARE_FAILED:
		return BDEV_IO_MISCOMPARE;
	default:
		return -EIO;
	}
}

static void bio_done(struct nvme_tcp_req *req, const struct nvme_cqe *cpl, int status)
{
	struct nvme_bio *b = req->cb_arg;
	struct nvme_ioq *q = b->ioq;
	uint16_t sf;

	if (status < 0) {
		/* Never completed on the wire: held for the next queue pair
		 * (NVMe does not order commands, so the queue's end will do). */
		if (q->fail_io)
			finish(b, -EIO);
		else
			pend_push_back(q, b);
		return;
	}
	sf = (uint16_t)(cpl->status >> 1);
	if (!(sf & 0x7ff)) {
		b->done_blocks += b->part_blocks;
		if (b->part_blocks && b->done_blocks < b->io->num_blocks) {
			/* the next part of a large I/O goes first */
			pend_push_front(q, b);
			return;
		}
		finish(b, 0);
		return;
	}
	if ((sf & 0x7ff) == NVME_SC_DATA_XFER_ERROR &&
	    (g_nvme_opts.bdev_retry_count < 0 || b->retries < g_nvme_opts.bdev_retry_count)) {
		/* a data digest error (or data missing): send it again */
		b->retries++;
		q->retries++;
		pend_push_front(q, b);
		return;
	}
	finish(b, status_errno(sf));
}

/* Fill b's command from its bdev_io. 0 or -errno. */
static int build_cmd(struct nvme_bio *b)
{
	struct bdev_io *io = b->io;
	struct nvme_ns *ns = b->ns;
	struct nvme_tcp_req *r = &b->req;
	struct nvme_sqe *sqe = &r->sqe;
	uint64_t bytes = io->num_blocks * ns->block_size;

	memset(sqe, 0, sizeof(*sqe));
	sqe->nsid = ns->nsid;
	sqe->cdw10 = (uint32_t)io->offset_blocks;
	sqe->cdw11 = (uint32_t)(io->offset_blocks >> 32);
	r->dir = NVME_TCP_DIR_NONE;
	r->iov = NULL;
	r->iovcnt = 0;
	r->iov_off = 0;
	r->len = 0;
	b->part_blocks = 0;
	r->cb = bio_done;
	r->cb_arg = b;
	switch (io->type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE: {
		uint64_t max = 65536, left = io->num_blocks - b->done_blocks;
		uint64_t lba = io->offset_blocks + b->done_blocks;
		if (ns->max_xfer_bytes && ns->max_xfer_bytes / ns->block_size < max)
			max = ns->max_xfer_bytes / ns->block_size;
		if (!io->num_blocks || !max || bytes > UINT32_MAX)
			return -EINVAL;
		b->part_blocks = (uint32_t)(left < max ? left : max);
		sqe->opc = io->type == BDEV_IO_READ ? NVME_CMD_READ : NVME_CMD_WRITE;
		sqe->cdw10 = (uint32_t)lba;
		sqe->cdw11 = (uint32_t)(lba >> 32);
		sqe->cdw12 = (b->part_blocks - 1) | (io->fua ? 1u << 30 : 0);
		r->dir = io->type == BDEV_IO_READ ? NVME_TCP_DIR_C2H : NVME_TCP_DIR_H2C;
		r->iov = io->iov;
		r->iovcnt = io->iovcnt;
		r->iov_off = (uint32_t)(b->done_blocks * ns->block_size);
		r->len = b->part_blocks * ns->block_size;
		return 0;
	}
	case BDEV_IO_FLUSH:
		sqe->opc = NVME_CMD_FLUSH;
		sqe->cdw10 = sqe->cdw11 = 0;
		return 0;
	case BDEV_IO_WRITE_ZEROES:
		if (!io->num_blocks || io->num_blocks > 65536)
			return -EINVAL;
		sqe->opc = NVME_CMD_WRITE_ZEROES;
		sqe->cdw12 = (uint32_t)(io->num_blocks - 1);
		return 0;
	case BDEV_IO_UNMAP:
		if (!io->num_blocks || io->num_blocks > UINT32_MAX)
			return -EINVAL;
		/* Dataset Management, one range, Deallocate */
		sqe->opc = NVME_CMD_DSM;
		sqe->cdw10 = 0;
		sqe->cdw11 = 1u << 2;
		memset(b->dsm_range, 0, sizeof(b->dsm_range));
		for (int i = 0; i < 4; i++)
			b->dsm_range[4 + i] = (uint8_t)(io->num_blocks >> (8 * i));
		for (int i = 0; i < 8; i++)
			b->dsm_range[8 + i] = (uint8_t)(io->offset_blocks >> (8 * i));
		b->dsm_iov.iov_base = b->dsm_range;
		b->dsm_iov.iov_len = sizeof(b->dsm_range);
		r->dir = NVME_TCP_DIR_H2C;
		r->iov = &b->dsm_iov;
		r->iovcnt = 1;
		r->len = sizeof(b->dsm_range);
		return 0;
	default:
		return -ENOTSUP;
	}
}

/* Give waiting I/O command ids while the queue pair has room. */
static int flush_pending(struct nvme_ioq *q)
{
	struct nvme_bio *b;
	int n = 0;

	while (q->qp && nvme_tcp_qpair_state(q->qp) == NVME_TCP_QP_READY &&
	       (b = pend_pop(q))) {
		int rc = build_cmd(b);
		if (!rc)
			rc = nvme_tcp_qpair_submit(q->qp, &b->req);
		if (rc == -EBUSY) {
			pend_push_front(q, b);
			break;
		}
		if (rc)
			finish(b, rc);
		n++;
	}
	return n;
}

static void drop_qp(struct nvme_ioq *q)
{
	if (!q->qp)
		return;
	poller_set_wake_fd(q->poller, -1, NULL);
	/* commands in flight come back through bio_done(-ECONNABORTED) */
	nvme_tcp_qpair_destroy(q->qp);
	q->qp = NULL;
}

static int ioq_poll(void *arg)
{
	struct nvme_ioq *q = arg;
	int work = 0, rc;

	t_in_poll = true;
	if (q->qp) {
		rc = nvme_tcp_qpair_poll(q->qp);
		if (rc < 0) {
			log_warn("bdev_nvme: reactor %d: I/O queue lost: %s", q->reactor,
				 nvme_tcp_qpair_error(q->qp));
			drop_qp(q);
			if (!q->failed_reported) {
				q->failed_reported = true;
				thread_send_msg(thread_main(), nvme_ctrlr_ioq_failed,
						(void *)(uintptr_t)q->ctrlr_id);
			}
			work++;
		} else {
			work += rc;
		}
	}
	work += flush_pending(q);
	t_in_poll = false;
	return work;
}

/* Stay awake while there is something to send or I/O that can start; a
 * response wakes the reactor through the socket. */
static bool ioq_arm(void *arg)
{
	struct nvme_ioq *q = arg;

	if (!q->qp)
		return false;
	return nvme_tcp_qpair_want_poll(q->qp) ||
	       (q->pend_head && nvme_tcp_qpair_state(q->qp) == NVME_TCP_QP_READY &&
		nvme_tcp_qpair_inflight(q->qp) < nvme_tcp_qpair_depth(q->qp));
}

void nvme_ioq_msg_adopt(void *arg)
{
	struct nvme_ioq_adopt *m = arg;
	struct nvme_ioq *q = m->ioq;
	struct nvme_tcp_qpair *qp = m->qp;
	enum nvme_sock_impl sock = m->sock;

	free(m);
	if (!q->poller) {
		q->poller = poller_register(ioq_poll, q, "nvme_tcp");
		if (!q->poller) {
			log_err("bdev_nvme: reactor %d: cannot register a poller", q->reactor);
			nvme_tcp_qpair_destroy(qp);
			return;
		}
	}
	drop_qp(q);
	q->qp = qp;
	q->fail_io = false;
	q->failed_reported = false;
	if (sock == NVME_SOCK_URING) {
		/* here: the ring belongs to this reactor's thread */
		char err[200];
		int rc = nvme_tcp_qpair_use_uring(qp, err, sizeof(err));
		if (rc && !q->uring_warned) {
			q->uring_warned = true;
			log_warn("bdev_nvme: reactor %d: io_uring sockets unavailable (%s): this "
				 "queue uses posix sockets", q->reactor, err);
		}
		if (rc)
			sock = NVME_SOCK_POSIX;
	}
	atomic_store_explicit(&q->sock_impl, (int)sock, memory_order_relaxed);
	if (poller_set_wake_fd(q->poller, nvme_tcp_qpair_wake_fd(qp), ioq_arm))
		log_err("bdev_nvme: reactor %d: cannot watch the queue pair's socket", q->reactor);
	flush_pending(q);
}

void nvme_ioq_msg_hold_io(void *arg)
{
	struct nvme_ioq *q = arg;

	q->fail_io = false;
	q->failed_reported = true;	/* the main thread is reconnecting */
	drop_qp(q);
}

void nvme_ioq_msg_fail_io(void *arg)
{
	struct nvme_ioq *q = arg;
	struct nvme_bio *b;

	q->fail_io = true;
	while ((b = pend_pop(q)))
		finish(b, -EIO);
}

void nvme_ioq_msg_drop(void *arg)
{
	drop_qp(arg);
}

void nvme_ioq_msg_destroy(void *arg)
{
	struct nvme_ioq *q = arg;
	struct nvme_bio *b;

	q->fail_io = true;
	drop_qp(q);
	while ((b = pend_pop(q)))
		finish(b, -ECANCELED);
	if (q->poller)
		poller_unregister(q->poller);
	free(q);
}

void nvme_ioq_submit(struct nvme_ioq *q, struct nvme_ns *ns, struct bdev_io *io)
{
	struct nvme_bio *b = (struct nvme_bio *)(void *)io->driver_ctx;

	b->io = io;
	b->ioq = q;
	b->ns = ns;
	b->retries = 0;
	b->done_blocks = 0;
	if (q->fail_io) {
		bdev_io_complete_deferred(io, -EIO);
		return;
	}
	pend_push_back(q, b);
	/* Inside bdev_submit(): an error found now completes later. */
	bool saved = t_in_poll;
	t_in_poll = false;
	flush_pending(q);
	t_in_poll = saved;
}
