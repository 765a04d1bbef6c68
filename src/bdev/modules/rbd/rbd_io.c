/* Data path of the rbd bdev: one channel per reactor over the bdev's open
 * image, librbd's asynchronous API, no thread and no allocation of ours
 * per I/O (librbd allocates its completion).
 *
 * librbd runs the completion callback on one of its own threads. The
 * callback pushes the request onto the channel's lock-free stack (many
 * producers, one consumer: the channel's poller takes the whole stack at
 * once, so there is no ABA) and writes the channel's eventfd, which wakes
 * the reactor if it sleeps. The poller completes the requests on the
 * reactor, as the bdev layer wants. */
#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bdev/modules/rbd/rbd.h"
#include "core/log.h"
#include "core/thread.h"

struct rbd_chan;

/* Per-I/O context, in bdev_io.driver_ctx. */
struct rbd_req {
	struct bdev_io *io;
	struct rbd_chan *ch;
	struct rbd_req *next;	/* done stack link */
	uint64_t expect;	/* READ: bytes librbd must return */
	int status;		/* set by the callback */
};

struct rbd_chan {
	rbd_image_t image;
	const char *name;
	int efd;
	struct poller *poller;
	unsigned inflight;			/* submitted to librbd, not completed (reactor) */
	_Atomic(struct rbd_req *) done;		/* completed by librbd, not yet by us */
	atomic_int in_callback;			/* callbacks between their push and eventfd write */
};

size_t rbd_io_ctx_size(void)
{
	return sizeof(struct rbd_req);
}

/* On a librbd thread. */
static void rbd_io_cb(rbd_completion_t c, void *arg)
{
	struct rbd_req *r = arg;
	struct rbd_chan *ch = r->ch;
	ssize_t ret = rbd_aio_get_return_value(c);
	struct rbd_req *head;
	uint64_t one = 1;
	ssize_t w;

	rbd_aio_release(c);
	if (ret < 0)
		r->status = (int)ret;
	else if (r->expect && (uint64_t)ret != r->expect)
		r->status = -EIO;	/* a short read */
	else
		r->status = 0;
	/* Announce this callback before the push (the push's release orders
	 * it): once the poller has taken r, the channel may be destroyed, and
	 * its destroy waits for in_callback to fall to 0, so the eventfd below
	 * is still open when we write it. */
	atomic_fetch_add_explicit(&ch->in_callback, 1, memory_order_relaxed);
	head = atomic_load_explicit(&ch->done, memory_order_relaxed);
	do {
		r->next = head;
		/* release: r->status and r->next are visible to the poller that
		 * takes the stack with acquire */
	} while (!atomic_compare_exchange_weak_explicit(&ch->done, &head, r, memory_order_release,
							memory_order_relaxed));
	/* after the push: a reactor that checked the stack in its arm hook
	 * before the push is woken by this write */
	w = write(ch->efd, &one, sizeof(one));
	(void)w;
	/* release: our write() happens before a destroy that sees 0 */
	atomic_fetch_sub_explicit(&ch->in_callback, 1, memory_order_release);
}

static int rbd_io_poll(void *arg)
{
	struct rbd_chan *ch = arg;
	/* acquire: pairs with the callbacks' release pushes */
	struct rbd_req *list = atomic_exchange_explicit(&ch->done, NULL, memory_order_acquire);
	struct rbd_req *fifo = NULL, *r;
	int n = 0;

	/* the stack is newest first: complete in completion order */
	while (list) {
		r = list;
		list = r->next;
		r->next = fifo;
		fifo = r;
	}
	/* nothing touches ch after the last completion: its callback may
	 * release the channel */
	while (fifo) {
		r = fifo;
		fifo = r->next;
		ch->inflight--;
		n++;
		bdev_io_complete(r->io, r->status);
	}
	return n;
}

/* Before the reactor sleeps: stay awake if completions are waiting. One
 * pushed later writes the eventfd and wakes the reactor. */
static bool rbd_io_arm(void *arg)
{
	struct rbd_chan *ch = arg;

	return atomic_load_explicit(&ch->done, memory_order_acquire) != NULL;
}

void *rbd_io_channel_create(rbd_image_t image, const char *name)
{
	struct rbd_chan *ch = calloc(1, sizeof(*ch));
	int rc;

	if (!ch)
		return NULL;
	ch->image = image;
	ch->name = name;
	atomic_init(&ch->done, NULL);
	atomic_init(&ch->in_callback, 0);
	ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->efd < 0) {
		rc = errno;
		log_err("bdev %s: eventfd: %s", name, strerror(rc));
		free(ch);
		errno = rc;
		return NULL;
	}
	ch->poller = poller_register(rbd_io_poll, ch, "rbd");
	if (!ch->poller) {
		rc = errno ? errno : ENOMEM;
		goto fail;
	}
	rc = poller_set_wake_fd(ch->poller, ch->efd, rbd_io_arm);
	if (rc < 0) {
		rc = -rc;
		poller_unregister(ch->poller);
		goto fail;
	}
	return ch;
fail:
	close(ch->efd);
	free(ch);
	errno = rc;
	return NULL;
}

void rbd_io_channel_destroy(void *chctx)
{
	struct rbd_chan *ch = chctx;

	poller_unregister(ch->poller);
	if (ch->inflight) {
		/* librbd still owns requests that point here: keep the channel
		 * (a leak) rather than let a late callback write freed memory */
		log_err("bdev %s: rbd channel destroyed with %u I/O outstanding; leaking it",
			ch->name, ch->inflight);
		return;
	}
	/* A callback may still be between its push and its eventfd write:
	 * that is a few instructions and one write(), so spin. */
	while (atomic_load_explicit(&ch->in_callback, memory_order_acquire))
		sched_yield();
	close(ch->efd);
	free(ch);
}

void rbd_io_submit(void *chctx, struct bdev_io *io, uint32_t block_size)
{
	struct rbd_chan *ch = chctx;
	struct rbd_req *r = (struct rbd_req *)(void *)io->driver_ctx;
	uint64_t off = io->offset_blocks * block_size;
	uint64_t len = io->num_blocks * block_size;
	rbd_completion_t c;
	int rc;

	r->io = io;
	r->ch = ch;
	r->next = NULL;
	r->expect = 0;
	r->status = 0;
	rc = rbd_aio_create_completion(r, rbd_io_cb, &c);
	if (rc < 0) {
		bdev_io_complete_deferred(io, rc);
		return;
	}
	switch (io->type) {
	case BDEV_IO_READ:
		r->expect = len;
		rc = rbd_aio_readv(ch->image, io->iov, io->iovcnt, off, c);
		break;
	case BDEV_IO_WRITE:
		rc = rbd_aio_writev(ch->image, io->iov, io->iovcnt, off, c);
		break;
	case BDEV_IO_FLUSH:
		rc = rbd_aio_flush(ch->image, c);
		break;
	case BDEV_IO_UNMAP:
		rc = rbd_aio_discard(ch->image, off, len, c);
		break;
	case BDEV_IO_WRITE_ZEROES:
		rc = rbd_aio_write_zeroes(ch->image, off, len, c, 0, 0);
		break;
	default:
		rc = -ENOTSUP;
		break;
	}
	if (rc < 0) {
		rbd_aio_release(c);
		bdev_io_complete_deferred(io, rc);
		return;
	}
	ch->inflight++;
}
