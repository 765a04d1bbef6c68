/* The "uring" bdev module (SPDK's bdev_uring): a file or block device
 * served through io_uring, one ring per reactor channel.
 *
 * Per channel: submit() only prepares SQEs (or, when the SQ or the CQ budget
 * is full, parks the request on a channel-local FIFO); the poller makes one
 * io_uring_submit per poll for everything prepared, then reaps CQEs. An
 * eventfd registered with the ring wakes a sleeping reactor.
 *
 * When io_uring is refused (ENOSYS, EPERM, EACCES: old kernel, sysctl
 * kernel.io_uring_disabled, seccomp), probed once at create time, the bdev
 * runs on the libaio engine instead (aio_engine.c) and says so once. */
#include <sched.h>
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "bdev/modules/aio_engine.h"
#include "bdev/modules/file_bdev.h"
#include "bdev/modules/file_common.h"
#include "bdev/modules/modules.h"
#include "bdev/modules/uring.h"
#include "core/log.h"
#include "core/thread.h"

#define URING_ENTRIES	512	/* SQ entries per channel (the CQ gets twice that) */
#define URING_REAP_MAX	128	/* CQEs handled per poll */

struct uring_bdev {
	struct file_dev f;
	bool use_aio;		/* io_uring unavailable: libaio engine */
};

struct uring_chan {
	struct file_chan fc;
	struct io_uring ring;
	int efd;
	struct poller *poller;
	const char *name;
	unsigned inflight;		/* SQEs prepared or in the kernel, not reaped */
	unsigned max_inflight;		/* CQ size: the CQ never overflows */
	bool submit_error_logged;
	struct file_req_list pending;	/* waiting for an SQE */
	struct file_req_list done;	/* done inline, to be finished by the poller */
};

/* Largest driver context of the two engines. */
#define URING_IO_CTX_SIZE (sizeof(struct file_req) > AIO_ENGINE_IO_CTX_SIZE ? \
			   sizeof(struct file_req) : AIO_ENGINE_IO_CTX_SIZE)

/* --- probe --- */

static int uring_probe_real(void)
{
	struct io_uring ring;
	int rc = io_uring_queue_init(2, &ring, 0);
	if (rc == 0)
		io_uring_queue_exit(&ring);
	return rc;
}

static int (*g_uring_probe)(void) = uring_probe_real;

/* Replace the io_uring probe (tests). See uring.h. */
void bdev_uring_set_probe(int (*probe)(void))
{
	g_uring_probe = probe ? probe : uring_probe_real;
}

/* --- the io_uring engine --- */

/* A read or write of a file in memory (tmpfs, ramfs), done at once on the
 * reactor: io_uring cannot do it without blocking on Debian 12's kernel
 * (tmpfs has no RWF_NOWAIT before Linux 6.6) and hands every one to a
 * kernel worker, which costs two context switches and a wake-up per I/O
 * for what is a copy of a few KiB to or from the page cache. Returns true
 * when op was done (its result in r->res). */
static bool uring_inline(struct uring_chan *ch, struct file_req *r, const struct file_op *op)
{
	ssize_t n;

	if (!ch->fc.dev->memory_backed)
		return false;
	if (op->code == FILE_OP_READV)
		n = preadv2(op->fd, op->iov, op->iovcnt, (off_t)op->offset, 0);
	else if (op->code == FILE_OP_WRITEV)
		n = pwritev2(op->fd, op->iov, op->iovcnt, (off_t)op->offset, op->rw_flags);
	else
		return false;
	r->res = n < 0 ? -errno : (long)n;
	/* finished by the poller (uring_finish_inline): never from inside a
	 * submission, whose caller may be a completion callback */
	file_req_list_push(&ch->done, r);
	return true;
}

/* Prepare an SQE for r's next operation (or do it inline); false when there
 * is no room. */
static bool uring_issue(struct uring_chan *ch, struct file_req *r)
{
	struct io_uring_sqe *sqe;
	struct file_op op;

	if (ch->inflight >= ch->max_inflight || !io_uring_sq_space_left(&ch->ring))
		return false;
	if (file_req_op(&ch->fc, r, &op))
		return false;	/* waits for a staging buffer */
	if (uring_inline(ch, r, &op))
		return true;
	sqe = io_uring_get_sqe(&ch->ring);
	if (!sqe)
		return false;	/* not after the space check; r keeps its plan */
	switch (op.code) {
	case FILE_OP_READV:
		io_uring_prep_readv(sqe, op.fd, op.iov, (unsigned)op.iovcnt, op.offset);
		break;
	case FILE_OP_WRITEV:
		io_uring_prep_writev2(sqe, op.fd, op.iov, (unsigned)op.iovcnt, op.offset,
				      op.rw_flags);
		break;
	case FILE_OP_FDSYNC:
		io_uring_prep_fsync(sqe, op.fd, IORING_FSYNC_DATASYNC);
		break;
	case FILE_OP_FALLOCATE:
		io_uring_prep_fallocate(sqe, op.fd, op.mode, (off_t)op.offset, (off_t)op.len);
		break;
	}
	io_uring_sqe_set_data(sqe, r);
	ch->inflight++;
	return true;
}

/* Issue r, or park it behind the requests already waiting (keeps order). */
static void uring_queue(struct uring_chan *ch, struct file_req *r)
{
	if (ch->pending.head || !uring_issue(ch, r))
		file_req_list_push(&ch->pending, r);
}

static int uring_flush_pending(struct uring_chan *ch)
{
	struct file_req *r;
	int n = 0;

	while ((r = file_req_list_pop(&ch->pending))) {
		if (!uring_issue(ch, r)) {
			file_req_list_unpop(&ch->pending, r);
			break;
		}
		n++;
	}
	return n;
}

/* One io_uring_enter for every prepared SQE. Returns SQEs submitted. */
static int uring_submit_sqes(struct uring_chan *ch)
{
	int rc;

	if (!io_uring_sq_ready(&ch->ring))
		return 0;
	rc = io_uring_submit(&ch->ring);
	if (rc >= 0)
		return rc;
	/* The SQEs stay in the ring and go with the next submit. */
	if (rc != -EAGAIN && rc != -EBUSY && rc != -EINTR && !ch->submit_error_logged) {
		log_err("bdev %s: io_uring_submit failed: %s", ch->name, strerror(-rc));
		ch->submit_error_logged = true;
	}
	return 0;
}

/* Reap CQEs. Last step of a poll: a completion callback may release the
 * channel, so nothing touches ch after the last completion (CQEs still
 * unprocessed mean I/O in flight, and a channel is not released then). */
static int uring_reap(struct uring_chan *ch)
{
	struct io_uring_cqe *cqes[URING_REAP_MAX];
	unsigned n = io_uring_peek_batch_cqe(&ch->ring, cqes, URING_REAP_MAX);

	for (unsigned i = 0; i < n; i++) {
		struct file_req *r = io_uring_cqe_get_data(cqes[i]);
		int res = cqes[i]->res;
		int rc;

		/* Hand the slot back before running callbacks that may
		 * submit more. */
		io_uring_cqe_seen(&ch->ring, cqes[i]);
		ch->inflight--;
		rc = file_req_advance(&ch->fc, r, res);
		if (rc == 1)
			uring_queue(ch, r);
		else
			bdev_io_complete(r->io, rc);
	}
	return (int)n;
}

/* Finish the operations done inline: as uring_reap does for CQEs. */
static int uring_finish_inline(struct uring_chan *ch)
{
	struct file_req_list l = ch->done;
	struct file_req *r;
	int n = 0;

	ch->done = (struct file_req_list){ 0 };
	while ((r = file_req_list_pop(&l))) {
		int rc = file_req_advance(&ch->fc, r, r->res);
		if (rc == 1)
			uring_queue(ch, r);
		else
			bdev_io_complete(r->io, rc);
		n++;
	}
	return n;
}

static int uring_poll(void *arg)
{
	struct uring_chan *ch = arg;
	int work = uring_flush_pending(ch);
	/* requests done inline are in flight until finished: while there are
	 * some, completions of CQEs cannot release the channel */
	bool inline_done = ch->done.head != NULL;

	work += uring_submit_sqes(ch);
	work += uring_reap(ch);
	if (inline_done)
		work += uring_finish_inline(ch);
	return work;
}

/* Before the reactor sleeps: submit what is prepared, and stay awake if
 * there are CQEs or work the poller still has to push. A CQE posted after
 * this check writes the eventfd and wakes the reactor. */
static bool uring_arm(void *arg)
{
	struct uring_chan *ch = arg;

	uring_flush_pending(ch);
	uring_submit_sqes(ch);
	/* io_uring_cq_ready() loads the CQ tail with acquire semantics (in
	 * liburing): it orders that load before the poller's reads of the
	 * CQEs it announces. */
	return io_uring_cq_ready(&ch->ring) || io_uring_sq_ready(&ch->ring) ||
	       ch->pending.head || ch->done.head;
}

/* io_uring hands I/O it cannot do without blocking (buffered I/O on files
 * without RWF_NOWAIT, tmpfs among them) to kernel workers of the ring's
 * thread. Left alone they inherit the reactor's affinity and take turns on
 * the polling core with it (two context switches per I/O, and the
 * reactor's spinning delays them): run them on every other online core.
 * When the reactors hold every core there is nowhere else: leave them. */
static void keep_workers_off_reactors(struct uring_chan *ch)
{
	cpu_set_t set;
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	int left = 0;

	CPU_ZERO(&set);
	for (long cpu = 0; cpu < n && cpu < CPU_SETSIZE; cpu++)
		CPU_SET((int)cpu, &set);
	for (int r = 0; r < reactor_count(); r++)
		if (reactor_core(r) >= 0 && reactor_core(r) < CPU_SETSIZE)
			CPU_CLR(reactor_core(r), &set);
	left = CPU_COUNT(&set);
	if (!left)
		return;
	int rc = io_uring_register_iowq_aff(&ch->ring, sizeof(set), &set);
	if (rc < 0)
		log_debug("bdev %s: io_uring workers keep the reactor's cores: %s", ch->name, strerror(-rc));
}

static struct uring_chan *uring_chan_create(const struct file_dev *f, const char *name)
{
	struct uring_chan *ch = calloc(1, sizeof(*ch));
	int rc;

	if (!ch)
		return NULL;
	file_chan_init(&ch->fc, f, true);
	ch->name = name;
	rc = io_uring_queue_init(URING_ENTRIES, &ch->ring, 0);
	if (rc < 0) {
		log_err("bdev %s: io_uring_queue_init(%d): %s", name, URING_ENTRIES,
			strerror(-rc));
		goto fail_free;
	}
	ch->max_inflight = ch->ring.cq.ring_entries;
	ch->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (ch->efd < 0) {
		rc = -errno;
		log_err("bdev %s: eventfd: %s", name, strerror(-rc));
		goto fail_ring;
	}
	rc = io_uring_register_eventfd(&ch->ring, ch->efd);
	if (rc < 0) {
		log_err("bdev %s: io_uring_register_eventfd: %s", name, strerror(-rc));
		goto fail_efd;
	}
	keep_workers_off_reactors(ch);
	ch->poller = poller_register(uring_poll, ch, "uring");
	if (!ch->poller) {
		rc = errno ? -errno : -ENOMEM;
		goto fail_efd;
	}
	rc = poller_set_wake_fd(ch->poller, ch->efd, uring_arm);
	if (rc < 0) {
		poller_unregister(ch->poller);
		goto fail_efd;
	}
	return ch;
fail_efd:
	close(ch->efd);
fail_ring:
	io_uring_queue_exit(&ch->ring);
fail_free:
	free(ch);
	errno = -rc;
	return NULL;
}

static void uring_chan_destroy(struct uring_chan *ch)
{
	if (ch->inflight || ch->pending.head || ch->done.head)
		log_err("bdev %s: io_uring channel destroyed with I/O outstanding", ch->name);
	poller_unregister(ch->poller);
	io_uring_queue_exit(&ch->ring);
	close(ch->efd);
	free(ch);
}

/* --- module ops: dispatch to the engine chosen at create time --- */

static void *uring_channel_create(struct bdev *bdev)
{
	struct uring_bdev *u = bdev->ctx;

	if (u->use_aio)
		return aio_engine_channel_create(&u->f, true, bdev->name);
	return uring_chan_create(&u->f, bdev->name);
}

static void uring_channel_destroy(struct bdev *bdev, void *chctx)
{
	struct uring_bdev *u = bdev->ctx;

	if (u->use_aio)
		aio_engine_channel_destroy(chctx);
	else
		uring_chan_destroy(chctx);
}

static void uring_submit(struct bdev *bdev, void *chctx, struct bdev_io *io)
{
	struct uring_bdev *u = bdev->ctx;
	struct uring_chan *ch = chctx;
	struct file_req *r;
	int status;

	if (u->use_aio) {
		aio_engine_submit(chctx, io);
		return;
	}
	r = file_req_of(io);
	status = file_req_start(&ch->fc, io, r);
	if (status <= 0)
		bdev_io_complete_deferred(io, status);
	else
		uring_queue(ch, r);
}

/* Everything but COMPARE (the generic layer answers -ENOTSUP). */
static bool uring_io_type_supported(struct bdev *bdev, enum bdev_io_type type)
{
	(void)bdev;
	switch (type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE:
	case BDEV_IO_FLUSH:
	case BDEV_IO_UNMAP:
	case BDEV_IO_WRITE_ZEROES:
		return true;
	default:
		return false;
	}
}

static void uring_destruct(struct bdev *bdev)
{
	struct uring_bdev *u = bdev->ctx;
	file_dev_close(&u->f);
	free(u);
}

static void uring_write_config(struct bdev *bdev, json_t *config_array)
{
	struct uring_bdev *u = bdev->ctx;
	char uuid[37];

	uuid_format16(bdev->uuid, uuid);
	json_array_append_new(config_array,
		json_pack("{s:s, s:{s:s, s:s, s:I, s:s}}", "method", "bdev_uring_create",
			  "params", "name", bdev->name, "filename", u->f.filename,
			  "block_size", (json_int_t)bdev->block_size, "uuid", uuid));
}

static json_t *uring_driver_specific(struct bdev *bdev)
{
	struct uring_bdev *u = bdev->ctx;
	return json_pack("{s:{s:s, s:s}}", "uring", "filename", u->f.filename,
			 "engine", u->use_aio ? "libaio" : "io_uring");
}

static const struct bdev_module_ops uring_ops = {
	.module_name = "uring",
	.product_name = "URING bdev",
	.io_ctx_size = URING_IO_CTX_SIZE,
	.channel_create = uring_channel_create,
	.channel_destroy = uring_channel_destroy,
	.submit = uring_submit,
	.io_type_supported = uring_io_type_supported,
	.destruct = uring_destruct,
	.write_config = uring_write_config,
	.driver_specific = uring_driver_specific,
};

/* Create a uring bdev over filename (see modules.h); picks the engine. */
int bdev_uring_create(const char *name, const char *filename, uint32_t block_size,
		      const uint8_t *uuid, char *err, size_t errlen)
{
	static const char who[] = "bdev_uring_create";
	struct uring_bdev *u;
	int rc, probe;

	rc = file_bdev_check_name(who, name, err, errlen);
	if (rc)
		return rc;
	u = calloc(1, sizeof(*u));
	if (!u) {
		snprintf(err, errlen, "%s: out of memory", who);
		return -ENOMEM;
	}
	rc = file_dev_open(&u->f, who, filename, block_size, false, err, errlen);
	if (rc) {
		free(u);
		return rc;
	}
	probe = g_uring_probe();
	if (probe == -ENOSYS || probe == -EPERM || probe == -EACCES) {
		u->use_aio = true;
	} else if (probe < 0) {
		rc = probe;
		snprintf(err, errlen, "%s: cannot create an io_uring: %s", who, strerror(-rc));
		goto fail;
	}
	rc = file_bdev_register(who, name, uuid, &u->f, &uring_ops, u, err, errlen);
	if (rc)
		goto fail;
	if (u->use_aio)
		log_warn("bdev %s: io_uring unavailable (%s); using libaio", name,
			 strerror(-probe));
	log_info("bdev %s: %s on %s, %llu blocks of %u%s", name,
		 u->use_aio ? "libaio" : "io_uring", u->f.filename,
		 (unsigned long long)u->f.num_blocks, u->f.block_size,
		 u->f.fd_direct >= 0 ? "" : ", buffered I/O only");
	if (u->f.memory_backed && !u->use_aio)
		log_info("bdev %s: the file is in memory (tmpfs): reads and writes are copies done "
			 "on the reactor, not through io_uring's kernel workers", name);
	return 0;
fail:
	file_dev_close(&u->f);
	free(u);
	return rc;
}
