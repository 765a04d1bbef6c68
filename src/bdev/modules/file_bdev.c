/* Registration helpers shared by the file bdev modules (see file_bdev.h). */
#include "bdev/modules/file_bdev.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int file_bdev_check_name(const char *who, const char *name, char *err, size_t errlen)
{
	if (!name || !*name) {
		snprintf(err, errlen, "%s: name is empty", who);
		return -EINVAL;
	}
	if (strlen(name) >= BDEV_NAME_MAX) {
		snprintf(err, errlen, "%s: name is longer than %d characters", who,
			 BDEV_NAME_MAX - 1);
		return -EINVAL;
	}
	if (bdev_get_by_name(name)) {
		snprintf(err, errlen, "%s: a bdev named %s already exists", who, name);
		return -EEXIST;
	}
	return 0;
}

int file_bdev_register(const char *who, const char *name, const uint8_t *uuid,
		       const struct file_dev *f, const struct bdev_module_ops *ops, void *ctx,
		       char *err, size_t errlen)
{
	struct bdev *b = calloc(1, sizeof(*b));
	int rc;

	if (!b) {
		snprintf(err, errlen, "%s: out of memory", who);
		return -ENOMEM;
	}
	snprintf(b->name, sizeof(b->name), "%s", name);
	if (uuid)
		memcpy(b->uuid, uuid, sizeof(b->uuid));
	b->block_size = f->block_size;
	b->num_blocks = f->num_blocks;
	b->write_cache = true;	/* page cache and/or the device's cache: FLUSH matters */
	b->ops = ops;
	b->ctx = ctx;
	rc = bdev_register(b);
	if (rc) {
		if (rc == -EEXIST)
			snprintf(err, errlen, "%s: a bdev named %s already exists", who, name);
		else if (rc == -EINVAL)
			snprintf(err, errlen, "%s: bdev name '%s' is invalid: no spaces, quotes, "
				 "backslashes or control characters", who, name);
		else
			snprintf(err, errlen, "%s: cannot register bdev %s: %s", who, name,
				 strerror(-rc));
		free(b);
	}
	return rc;
}

bool file_bdev_block_size_param_ok(uint32_t block_size, char *err, size_t errlen)
{
	if (block_size == 0 ||
	    (block_size >= 512 && block_size <= 65536 && !(block_size & (block_size - 1))))
		return true;
	snprintf(err, errlen, "invalid parameter 'block_size': %u is not a power of two from 512 to 65536",
		 block_size);
	return false;
}
