/* The "uring" bdev module, internal interface: the io_uring probe hook
 * (tests force the libaio fallback with it). */
#ifndef OSNAP_BDEV_URING_H
#define OSNAP_BDEV_URING_H

/* The probe bdev_uring_create runs once per bdev: returns 0 when an
 * io_uring can be created, else -errno (-ENOSYS, -EPERM and -EACCES select
 * the libaio engine). NULL restores the real probe. Main thread; tests only. */
void bdev_uring_set_probe(int (*probe)(void));

#endif
