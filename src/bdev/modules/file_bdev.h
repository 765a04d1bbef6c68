/* Registration helpers shared by the file bdev modules (uring, aio).
 * Main thread only. Internal to src/bdev/modules. */
#ifndef OSNAP_BDEV_FILE_BDEV_H
#define OSNAP_BDEV_FILE_BDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bdev/bdev.h"
#include "bdev/modules/file_common.h"

/* Check name before anything is opened: not empty, short enough, free.
 * who prefixes the message. Returns 0, -EINVAL or -EEXIST. */
/* RPC-level check of a requested block size: 0 (the device's own) or a
 * power of two from 512 to 65536. Writes the -32602 message into err. */
bool file_bdev_block_size_param_ok(uint32_t block_size, char *err, size_t errlen);

int file_bdev_check_name(const char *who, const char *name, char *err, size_t errlen);

/* Allocate and register a bdev named name over the opened f, with ops and
 * ctx (the module's bdev context, owned by the bdev on success). uuid may
 * be NULL (generated). On failure nothing is registered and the caller
 * still owns f and ctx. Returns 0 or -errno with a message in err. */
int file_bdev_register(const char *who, const char *name, const uint8_t *uuid,
		       const struct file_dev *f, const struct bdev_module_ops *ops, void *ctx,
		       char *err, size_t errlen);

#endif
