/* The Linux AIO (libaio) engine of the file bdevs: per-reactor channels
 * that run file_req plans. Used by the "aio" module and by the "uring"
 * module when io_uring is unavailable. Internal to src/bdev/modules. */
#ifndef OSNAP_BDEV_AIO_ENGINE_H
#define OSNAP_BDEV_AIO_ENGINE_H

#include <stdbool.h>
#include <libaio.h>

#include "bdev/bdev.h"
#include "bdev/modules/file_common.h"

/* Per-I/O context of the engine (in bdev_io.driver_ctx). */
struct aio_req {
	struct file_req fr;	/* first: file_req_of() finds it */
	struct iocb iocb;
};

/* io_ctx_size a module needs to run this engine. */
#define AIO_ENGINE_IO_CTX_SIZE sizeof(struct aio_req)

struct aio_chan;

/* Create a channel on the calling reactor: io_context, eventfd, poller.
 * fallocate: UNMAP / WRITE_ZEROES use fallocate() (run synchronously on the
 * reactor: Linux AIO has no fallocate command), falling back to writes of
 * zeroes; when false WRITE_ZEROES writes zeroes and UNMAP must not be
 * submitted. name is for log messages. Returns NULL with errno set. */
struct aio_chan *aio_engine_channel_create(const struct file_dev *dev, bool fallocate,
					   const char *name);

/* Destroy a channel on its reactor (waits for I/O still in the kernel). */
void aio_engine_channel_destroy(struct aio_chan *ch);

/* Start io on ch (the calling reactor's channel). Completes through the
 * poller, never from inside this call. */
void aio_engine_submit(struct aio_chan *ch, struct bdev_io *io);

#endif
