/* The "aio" bdev module (SPDK's bdev_aio): a file or block device served
 * through Linux AIO (aio_engine.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/bdev.h"
#include "bdev/modules/aio_engine.h"
#include "bdev/modules/file_bdev.h"
#include "bdev/modules/file_common.h"
#include "bdev/modules/modules.h"
#include "core/log.h"

struct aio_bdev {
	struct file_dev f;
	bool fallocate;
};

static void *aio_bdev_channel_create(struct bdev *bdev)
{
	struct aio_bdev *a = bdev->ctx;
	return aio_engine_channel_create(&a->f, a->fallocate, bdev->name);
}

static void aio_bdev_channel_destroy(struct bdev *bdev, void *chctx)
{
	(void)bdev;
	aio_engine_channel_destroy(chctx);
}

static void aio_bdev_submit(struct bdev *bdev, void *chctx, struct bdev_io *io)
{
	(void)bdev;
	aio_engine_submit(chctx, io);
}

/* COMPARE is not offered (the generic layer answers -ENOTSUP). A readonly
 * bdev offers no write type at all, so consumers can see it is read-only. */
static bool aio_bdev_io_type_supported(struct bdev *bdev, enum bdev_io_type type)
{
	struct aio_bdev *a = bdev->ctx;

	switch (type) {
	case BDEV_IO_READ:
	case BDEV_IO_FLUSH:
		return true;
	case BDEV_IO_WRITE:
	case BDEV_IO_WRITE_ZEROES:
		return !a->f.readonly;
	case BDEV_IO_UNMAP:
		return !a->f.readonly && a->fallocate;
	default:
		return false;
	}
}

static void aio_bdev_destruct(struct bdev *bdev)
{
	struct aio_bdev *a = bdev->ctx;
	file_dev_close(&a->f);
	free(a);
}

/* SPDK's save_config form: block_size only when it was given. */
static void aio_bdev_write_config(struct bdev *bdev, json_t *config_array)
{
	struct aio_bdev *a = bdev->ctx;
	char uuid[37];
	json_t *params;

	uuid_format16(bdev->uuid, uuid);
	params = json_pack("{s:s, s:s, s:b, s:b, s:s}", "name", bdev->name,
			   "filename", a->f.filename, "readonly", a->f.readonly,
			   "fallocate", a->fallocate, "uuid", uuid);
	if (!params)
		return;
	if (a->f.block_size_override)
		json_object_set_new(params, "block_size", json_integer(bdev->block_size));
	json_array_append_new(config_array,
			      json_pack("{s:s, s:o}", "method", "bdev_aio_create", "params", params));
}

static json_t *aio_bdev_driver_specific(struct bdev *bdev)
{
	struct aio_bdev *a = bdev->ctx;
	return json_pack("{s:{s:s, s:b, s:b, s:b}}", "aio", "filename", a->f.filename,
			 "block_size_override", a->f.block_size_override,
			 "readonly", a->f.readonly, "fallocate", a->fallocate);
}

static const struct bdev_module_ops aio_ops = {
	.module_name = "aio",
	.product_name = "AIO disk",
	.io_ctx_size = AIO_ENGINE_IO_CTX_SIZE,
	.channel_create = aio_bdev_channel_create,
	.channel_destroy = aio_bdev_channel_destroy,
	.submit = aio_bdev_submit,
	.io_type_supported = aio_bdev_io_type_supported,
	.destruct = aio_bdev_destruct,
	.write_config = aio_bdev_write_config,
	.driver_specific = aio_bdev_driver_specific,
};

/* Create an aio bdev over filename (see modules.h). */
int bdev_aio_create(const char *name, const char *filename, uint32_t block_size,
		    bool readonly, bool fallocate, const uint8_t *uuid, char *err, size_t errlen)
{
	static const char who[] = "bdev_aio_create";
	struct aio_bdev *a;
	int rc;

	rc = file_bdev_check_name(who, name, err, errlen);
	if (rc)
		return rc;
	a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "%s: out of memory", who);
		return -ENOMEM;
	}
	a->fallocate = fallocate;
	rc = file_dev_open(&a->f, who, filename, block_size, readonly, err, errlen);
	if (rc) {
		free(a);
		return rc;
	}
	rc = file_bdev_register(who, name, uuid, &a->f, &aio_ops, a, err, errlen);
	if (rc) {
		file_dev_close(&a->f);
		free(a);
		return rc;
	}
	log_info("bdev %s: aio on %s, %llu blocks of %u%s%s", name, a->f.filename,
		 (unsigned long long)a->f.num_blocks, a->f.block_size,
		 a->f.fd_direct >= 0 ? "" : ", buffered I/O only", readonly ? ", read-only" : "");
	return 0;
}
