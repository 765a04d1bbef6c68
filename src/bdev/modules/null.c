/* The null module (SPDK's bdev_null): writes are dropped and reads return
 * without touching the buffer. It measures the cost of the service itself. */
#include "modules.h"
#include "bdev/bdev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *null_channel_create(struct bdev *bdev)
{
	return bdev;
}

static void null_submit(struct bdev *bdev, void *chctx, struct bdev_io *io)
{
	(void)bdev;
	(void)chctx;
	bdev_io_complete_deferred(io, 0);
}

static bool null_io_type_supported(struct bdev *bdev, enum bdev_io_type t)
{
	(void)bdev;
	return t == BDEV_IO_READ || t == BDEV_IO_WRITE || t == BDEV_IO_WRITE_ZEROES ||
	       t == BDEV_IO_FLUSH;
}

static void null_write_config(struct bdev *bdev, json_t *cfg)
{
	char uuid[37];
	uuid_format16(bdev->uuid, uuid);
	json_array_append_new(cfg, json_pack("{s:s, s:{s:s, s:I, s:I, s:s}}",
		"method", "bdev_null_create", "params", "name", bdev->name,
		"num_blocks", (json_int_t)bdev->num_blocks, "block_size", (json_int_t)bdev->block_size,
		"uuid", uuid));
}

static const struct bdev_module_ops null_ops = {
	.module_name = "null",
	.product_name = "Null disk",
	.channel_create = null_channel_create,
	.submit = null_submit,
	.io_type_supported = null_io_type_supported,
	.write_config = null_write_config,
};

int bdev_null_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		     const uint8_t *uuid, char *err, size_t errlen)
{
	if (block_size < 512 || block_size > 65536 || (block_size & (block_size - 1))) {
		snprintf(err, errlen, "block_size must be a power of two from 512 to 65536 (got %u)",
			 block_size);
		return -EINVAL;
	}
	if (num_blocks == 0 || num_blocks > UINT64_MAX / block_size) {
		snprintf(err, errlen, "num_blocks must be at least 1 and the size fit in 64 bits");
		return -EINVAL;
	}
	struct bdev *b = calloc(1, sizeof(*b));
	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->block_size = block_size;
	b->num_blocks = num_blocks;
	b->ops = &null_ops;
	if (uuid)
		memcpy(b->uuid, uuid, 16);
	int rc = bdev_register(b);
	if (rc) {
		snprintf(err, errlen, rc == -EEXIST ? "bdev %s already exists" : "invalid bdev name '%s'", name);
		free(b);
	}
	return rc;
}
