/* The malloc module: a RAM disk (SPDK's bdev_malloc). Data lives in an
 * anonymous mapping (zero-filled, faulted in on first touch). I/O is a
 * memcpy on the reactor, completed from the channel's poller. */
#include "modules.h"
#include "bdev/bdev.h"
#include "core/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct malloc_disk {
	uint8_t *data;
	size_t size;
};

static void *malloc_channel_create(struct bdev *bdev)
{
	return bdev;	/* stateless: any non-NULL context */
}

/* Copy between the disk at off and an iovec; dir_to_disk for writes. */
static void copy_iov(uint8_t *disk, struct bdev_io *io, bool to_disk)
{
	for (int i = 0; i < io->iovcnt; i++) {
		if (to_disk)
			memcpy(disk, io->iov[i].iov_base, io->iov[i].iov_len);
		else
			memcpy(io->iov[i].iov_base, disk, io->iov[i].iov_len);
		disk += io->iov[i].iov_len;
	}
}

static int compare_iov(const uint8_t *disk, struct bdev_io *io)
{
	for (int i = 0; i < io->iovcnt; i++) {
		if (memcmp(disk, io->iov[i].iov_base, io->iov[i].iov_len))
			return BDEV_IO_MISCOMPARE;
		disk += io->iov[i].iov_len;
	}
	return 0;
}

static void malloc_submit(struct bdev *bdev, void *chctx, struct bdev_io *io)
{
	struct malloc_disk *d = bdev->ctx;
	size_t off = io->offset_blocks * bdev->block_size;
	size_t len = io->num_blocks * bdev->block_size;
	int rc = 0;

	(void)chctx;
	switch (io->type) {
	case BDEV_IO_READ:
		copy_iov(d->data + off, io, false);
		break;
	case BDEV_IO_WRITE:
		copy_iov(d->data + off, io, true);
		break;
	case BDEV_IO_COMPARE:
		rc = compare_iov(d->data + off, io);
		break;
	case BDEV_IO_UNMAP:
	case BDEV_IO_WRITE_ZEROES:
		memset(d->data + off, 0, len);
		break;
	case BDEV_IO_FLUSH:
		break;
	default:
		rc = -ENOTSUP;
	}
	bdev_io_complete_deferred(io, rc);
}

static bool malloc_io_type_supported(struct bdev *bdev, enum bdev_io_type t)
{
	(void)bdev;
	return t < BDEV_IO_NUM_TYPES;
}

static void malloc_destruct(struct bdev *bdev)
{
	struct malloc_disk *d = bdev->ctx;
	munmap(d->data, d->size);
	free(d);
}

static void malloc_write_config(struct bdev *bdev, json_t *cfg)
{
	char uuid[37];
	uuid_format16(bdev->uuid, uuid);
	json_array_append_new(cfg, json_pack("{s:s, s:{s:s, s:I, s:I, s:s}}",
		"method", "bdev_malloc_create", "params", "name", bdev->name,
		"num_blocks", (json_int_t)bdev->num_blocks, "block_size", (json_int_t)bdev->block_size,
		"uuid", uuid));
}

static const struct bdev_module_ops malloc_ops = {
	.module_name = "malloc",
	.product_name = "Malloc disk",
	.io_ctx_size = 0,
	.channel_create = malloc_channel_create,
	.submit = malloc_submit,
	.io_type_supported = malloc_io_type_supported,
	.destruct = malloc_destruct,
	.write_config = malloc_write_config,
};

int bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		       const uint8_t *uuid, char *err, size_t errlen)
{
	if (block_size < 512 || block_size > 4096 || (block_size & (block_size - 1))) {
		snprintf(err, errlen, "block_size must be 512, 1024, 2048 or 4096 (got %u)", block_size);
		return -EINVAL;
	}
	if (num_blocks == 0 || num_blocks > (UINT64_C(1) << 46) / block_size) {
		snprintf(err, errlen, "invalid parameter 'num_blocks': %" PRIu64 " blocks of %u bytes; the size must be at least one block and at most 64 TiB",
			 num_blocks, block_size);
		return -EINVAL;
	}
	if (bdev_get_by_name(name)) {
		snprintf(err, errlen, "bdev %s already exists", name);
		return -EEXIST;
	}
	struct malloc_disk *d = calloc(1, sizeof(*d));
	struct bdev *b = calloc(1, sizeof(*b));
	if (!d || !b) {
		free(d);
		free(b);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->size = num_blocks * block_size;
	d->data = mmap(NULL, d->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (d->data == MAP_FAILED) {
		snprintf(err, errlen, "cannot allocate %zu bytes for %s", d->size, name);
		free(d);
		free(b);
		return -ENOMEM;
	}
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->block_size = block_size;
	b->num_blocks = num_blocks;
	b->ops = &malloc_ops;
	b->ctx = d;
	if (uuid)
		memcpy(b->uuid, uuid, 16);
	int rc = bdev_register(b);
	if (rc) {
		snprintf(err, errlen, rc == -EEXIST ? "bdev %s already exists" : "invalid bdev name '%s'", name);
		munmap(d->data, d->size);
		free(d);
		free(b);
	}
	return rc;
}
