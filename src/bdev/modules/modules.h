/* Backend modules: each registers its RPC table (module.c + module_rpc.c). */
#ifndef OSNAP_BDEV_MODULES_H
#define OSNAP_BDEV_MODULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

void bdev_malloc_rpc_register(void);
void bdev_null_rpc_register(void);
void bdev_uring_rpc_register(void);
void bdev_aio_rpc_register(void);
void bdev_nvme_rpc_register(void);
/* Shutdown, after the reactors stopped: drop every NVMe/TCP controller's
 * connections and state (their bdevs go with bdev_unregister_all). */
void bdev_nvme_shutdown(void);
/* Only when built with librbd (OSNAP_HAVE_RBD). */
void bdev_rbd_rpc_register(void);
/* At exit, after bdev_unregister_all: wait for the images to close and the
 * cluster handles to shut down (off the main thread), with a deadline. */
void bdev_rbd_fini(void);

/* Creation entry points (main thread). uuid may be NULL (generated).
 * Return 0 or -errno with a message in err. */
int bdev_malloc_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		       const uint8_t *uuid, char *err, size_t errlen);
int bdev_null_create(const char *name, uint64_t num_blocks, uint32_t block_size,
		     const uint8_t *uuid, char *err, size_t errlen);
/* block_size 0 = the device's logical block size (512 for a regular file). */
int bdev_uring_create(const char *name, const char *filename, uint32_t block_size,
		      const uint8_t *uuid, char *err, size_t errlen);
int bdev_aio_create(const char *name, const char *filename, uint32_t block_size,
		    bool readonly, bool fallocate, const uint8_t *uuid, char *err, size_t errlen);

#endif
