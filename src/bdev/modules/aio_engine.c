/* Linux AIO engine: one io_context per reactor channel, iocbs batched into
 * one io_submit per poll, completions reaped with a zero-timeout
 * io_getevents (libaio reads the shared ring without a system call when it
 * is empty), an eventfd (IOCB_FLAG_RESFD) to wake a sleeping reactor.
 *
 * Limits of Linux AIO that this engine lives with: I/O through the
 * buffered fd (unaligned buffers, file systems without O_DIRECT) runs
 * synchronously inside io_submit, and fallocate (UNMAP, WRITE_ZEROES with
 * fallocate enabled) runs synchronously on the reactor. */
#include "bdev/modules/aio_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/thread.h"

#define AIO_DEPTH	256	/* iocbs in the kernel or batched, per channel */
#define AIO_REAP_MAX	64	/* completions handled per poll */

struct aio_chan {
	struct file_chan fc;
	io_context_t ctx;
	int efd;
	struct poller *poller;
	const char *name;
	unsigned inflight;		/* iocbs the kernel holds */
	unsigned nbatch;		/* iocbs prepared for the next io_submit */
	bool submit_error_logged;
	struct file_req_list pending;	/* waiting for room */
	struct iocb *batch[AIO_DEPTH];
	struct io_event events[AIO_REAP_MAX];
};

/* The head of the completion ring the kernel maps at the io_context
 * address (fs/aio.c struct aio_ring, a stable ABI). */
struct aio_ring_hdr {
	unsigned id, nr, head, tail;
	unsigned magic, compat_features, incompat_features, header_length;
};
#define AIO_RING_MAGIC 0xa10a10a1u

enum issue { ISSUED, NO_ROOM, FINISHED };

/* Hand r's next operation to the batch. FINISHED (with *status) when the
 * request ended synchronously (fallocate). */
static enum issue aio_issue(struct aio_chan *ch, struct file_req *r, int *status)
{
	struct aio_req *ar = (struct aio_req *)(void *)r;
	struct iocb *cb = &ar->iocb;
	struct file_op op;

	if (ch->inflight + ch->nbatch >= AIO_DEPTH)
		return NO_ROOM;
	for (;;) {
		if (file_req_op(&ch->fc, r, &op))
			return NO_ROOM;	/* waits for a staging buffer */
		if (op.code != FILE_OP_FALLOCATE)
			break;
		int rc = file_req_advance(&ch->fc, r, file_op_fallocate_sync(&op));
		if (rc <= 0) {
			*status = rc;
			return FINISHED;
		}
	}
	switch (op.code) {
	case FILE_OP_READV:
		io_prep_preadv(cb, op.fd, op.iov, op.iovcnt, (long long)op.offset);
		break;
	case FILE_OP_WRITEV:
		io_prep_pwritev2(cb, op.fd, op.iov, op.iovcnt, (long long)op.offset, op.rw_flags);
		break;
	default:
		io_prep_fdsync(cb, op.fd);
		break;
	}
	io_set_eventfd(cb, ch->efd);
	cb->data = r;
	ch->batch[ch->nbatch++] = cb;
	return ISSUED;
}

/* How a request that ends outside the kernel completes: directly while
 * reaping (the last step of a poll), deferred to the generic channel
 * poller everywhere else, so that no callback (which may release the
 * channel) runs while this channel is still in use by the caller. */
typedef void (*complete_fn)(struct bdev_io *io, int status);

/* Queue r behind the pending ones, or issue it. */
static void aio_continue(struct aio_chan *ch, struct file_req *r, complete_fn done)
{
	int status = 0;

	if (ch->pending.head) {
		file_req_list_push(&ch->pending, r);
		return;
	}
	switch (aio_issue(ch, r, &status)) {
	case ISSUED:
		return;
	case NO_ROOM:
		file_req_list_push(&ch->pending, r);
		return;
	case FINISHED:
		done(r->io, status);
		return;
	}
}

/* An operation of r ended with res: next step or completion. */
static void aio_op_done(struct aio_chan *ch, struct file_req *r, long res, complete_fn done)
{
	int rc = file_req_advance(&ch->fc, r, res);
	if (rc == 1)
		aio_continue(ch, r, done);
	else
		done(r->io, rc);
}

void aio_engine_submit(struct aio_chan *ch, struct bdev_io *io)
{
	struct file_req *r = file_req_of(io);
	int status = file_req_start(&ch->fc, io, r);

	if (status <= 0)
		bdev_io_complete_deferred(io, status);
	else
		aio_continue(ch, r, bdev_io_complete_deferred);
}

/* Move pending requests into the batch while there is room. */
static int aio_flush_pending(struct aio_chan *ch)
{
	struct file_req *r;
	int n = 0, status = 0;

	while ((r = file_req_list_pop(&ch->pending))) {
		enum issue is = aio_issue(ch, r, &status);
		if (is == NO_ROOM) {
			file_req_list_unpop(&ch->pending, r);
			break;
		}
		n++;
		if (is == FINISHED)
			bdev_io_complete_deferred(r->io, status);
	}
	return n;
}

static void batch_drop_front(struct aio_chan *ch, unsigned n)
{
	ch->nbatch -= n;
	memmove(ch->batch, ch->batch + n, ch->nbatch * sizeof(ch->batch[0]));
}

/* One io_submit of the batch. Returns iocbs accepted, 0 when the kernel
 * asked to retry later, or the -errno that refused the first iocb. */
static int aio_submit_once(struct aio_chan *ch)
{
	int rc = io_submit(ch->ctx, (long)ch->nbatch, ch->batch);
	if (rc > 0) {
		ch->inflight += (unsigned)rc;
		batch_drop_front(ch, (unsigned)rc);
		return rc;
	}
	if (rc == 0 || rc == -EAGAIN || rc == -EINTR)
		return 0;
	return rc;
}

/* Submit the whole batch; an iocb the kernel refuses fails its request
 * (or retries it another way, e.g. through the buffered fd). */
static int aio_submit_batch(struct aio_chan *ch)
{
	int work = 0;

	while (ch->nbatch) {
		int rc = aio_submit_once(ch);
		if (rc == 0)
			break;
		if (rc > 0) {
			work += rc;
			continue;
		}
		struct file_req *r = ch->batch[0]->data;
		if (!ch->submit_error_logged) {
			log_warn("bdev %s: io_submit refused an I/O: %s", ch->name, strerror(-rc));
			ch->submit_error_logged = true;
		}
		batch_drop_front(ch, 1);
		aio_op_done(ch, r, rc, bdev_io_complete_deferred);
		work++;
	}
	return work;
}

/* Reap completions. Last step of a poll: a completion callback may release
 * the channel, so nothing touches ch after the last completion. */
static int aio_reap(struct aio_chan *ch)
{
	struct timespec ts = { 0, 0 };
	int n = io_getevents(ch->ctx, 0, AIO_REAP_MAX, ch->events, &ts);

	if (n <= 0)
		return 0;
	ch->inflight -= (unsigned)n;
	for (int i = 0; i < n; i++) {
		/* res is the byte count or a negative errno in an unsigned long. */
		struct io_event *ev = &ch->events[i];
		aio_op_done(ch, ev->data, (long)ev->res, bdev_io_complete);
	}
	return n;
}

static int aio_poll(void *arg)
{
	struct aio_chan *ch = arg;
	int work = aio_flush_pending(ch);

	work += aio_submit_batch(ch);
	return work + aio_reap(ch);
}

/* True when the kernel has posted completions we have not reaped. */
static bool aio_ring_ready(io_context_t ctx)
{
	const struct aio_ring_hdr *ring = (const void *)ctx;

	if (ring->magic != AIO_RING_MAGIC)
		return false;	/* unknown layout: rely on the eventfd */
	/* Relaxed loads, no barrier: we compare indices only and read no
	 * event here; io_getevents reads the events in the poller. */
	return __atomic_load_n(&ring->head, __ATOMIC_RELAXED) !=
	       __atomic_load_n(&ring->tail, __ATOMIC_RELAXED);
}

/* Before the reactor sleeps: submit the batch, and stay awake if there is
 * anything left for the poller. A completion posted after this check
 * writes the eventfd and wakes the reactor. */
static bool aio_arm(void *arg)
{
	struct aio_chan *ch = arg;

	if (ch->nbatch && aio_submit_once(ch) < 0)
		return true;	/* the poller fails the refused iocb */
	return ch->nbatch || ch->pending.head || aio_ring_ready(ch->ctx);
}

struct aio_chan *aio_engine_channel_create(const struct file_dev *dev, bool fallocate,
					   const char *name)
{
	struct aio_chan *ch = calloc(1, sizeof(*ch));
	int rc;

	if (!ch)
		return NULL;
	file_chan_init(&ch->fc, dev, fallocate);
	ch->name = name;
	ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->efd < 0) {
		rc = -errno;
		log_err("bdev %s: eventfd: %s", name, strerror(-rc));
		goto fail_free;
	}
	rc = io_setup(AIO_DEPTH, &ch->ctx);
	if (rc < 0) {
		log_err("bdev %s: io_setup(%d) failed: %s%s", name, AIO_DEPTH, strerror(-rc),
			rc == -EAGAIN ? " (raise /proc/sys/fs/aio-max-nr)" : "");
		goto fail_efd;
	}
	ch->poller = poller_register(aio_poll, ch, "aio");
	if (!ch->poller) {
		rc = errno ? -errno : -ENOMEM;
		goto fail_ctx;
	}
	rc = poller_set_wake_fd(ch->poller, ch->efd, aio_arm);
	if (rc < 0) {
		poller_unregister(ch->poller);
		goto fail_ctx;
	}
	return ch;
fail_ctx:
	io_destroy(ch->ctx);
fail_efd:
	close(ch->efd);
fail_free:
	free(ch);
	errno = -rc;
	return NULL;
}

void aio_engine_channel_destroy(struct aio_chan *ch)
{
	if (!ch)
		return;
	if (ch->inflight || ch->nbatch || ch->pending.head)
		log_err("bdev %s: aio channel destroyed with I/O outstanding", ch->name);
	poller_unregister(ch->poller);
	io_destroy(ch->ctx);	/* waits for iocbs still in the kernel */
	close(ch->efd);
	free(ch);
}
