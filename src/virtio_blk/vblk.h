/* virtio-blk controllers: one per virtio-blk function, a virtio device
 * (src/emu/virtio_dev.h) served through a transport of the device plane
 * (vhost-user: the client owns the PCI part; or virtio-pci over vfio-user:
 * osnap emulates the whole function).
 *
 * Threading: the API runs on the main thread; queues run on reactors. */
#ifndef OSNAP_VBLK_H
#define OSNAP_VBLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_blk_spec.h"

struct vblk_ctrl;
struct emu_function;
struct virtio_dev;
struct bdev;

#define VBLK_MAX_QUEUES 64

struct vblk_params {
	const char *name;		/* NULL: VblkCtrlN */
	struct emu_function *fn;
	const char *bdev;		/* NULL or "none": no media yet */
	uint32_t num_queues;		/* 1..VBLK_MAX_QUEUES */
	uint32_t queue_size;		/* power of two, 1..32768 */
	uint32_t size_max;		/* bytes per segment */
	uint32_t seg_max;		/* segments per request */
	const char *vblk_id;		/* serial (GET_ID), <= 20 characters */
	bool force_in_order;
	bool indirect_desc;
	bool read_only;
	bool suspended;
	bool null_media;		/* bdev "none" with dbg_bdev_type null: serve, with
					 * capacity 0, instead of holding requests */
};

typedef void (*vblk_done_fn)(void *arg, int rc, const char *msg);

int vblk_ctrl_create(const struct vblk_params *p, struct vblk_ctrl **out, char *err, size_t errlen);
void vblk_ctrl_destroy(struct vblk_ctrl *c, bool force, vblk_done_fn cb, void *arg);
struct vblk_ctrl *vblk_ctrl_find(const char *name);	/* case-insensitive */
struct vblk_ctrl *vblk_ctrl_first(void);
struct vblk_ctrl *vblk_ctrl_next(struct vblk_ctrl *c);
const char *vblk_ctrl_name(const struct vblk_ctrl *c);

void vblk_ctrl_suspend(struct vblk_ctrl *c, vblk_done_fn cb, void *arg);
int vblk_ctrl_resume(struct vblk_ctrl *c, char *err, size_t errlen);
int vblk_ctrl_bdev_attach(struct vblk_ctrl *c, const char *bdev, const char *vblk_id, char *err,
			  size_t errlen);
/* SNAP's placeholder 'none' bdev: no media, capacity 0, but requests are
 * answered (I/O with IOERR) instead of held as while detached. */
int vblk_ctrl_bdev_attach_none(struct vblk_ctrl *c, const char *vblk_id, char *err, size_t errlen);
void vblk_ctrl_bdev_detach(struct vblk_ctrl *c, vblk_done_fn cb, void *arg);
int vblk_ctrl_modify(struct vblk_ctrl *c, bool has_nq, uint32_t num_queues, char *err, size_t errlen);

void vblk_shutdown_all(void);

/* --- features (what the transports negotiate through the device's
 * virtio_dev_ops, src/emu/virtio_dev.h) --- */

/* Features the device offers (VERSION_1 and the blk features). */
uint64_t vblk_ctrl_features(const struct vblk_ctrl *c);
/* The driver's choice; -EINVAL when not a subset or VERSION_1 is missing. */
int vblk_ctrl_set_features(struct vblk_ctrl *c, uint64_t features);
uint32_t vblk_ctrl_num_queues(const struct vblk_ctrl *c);
bool vblk_ctrl_queue_running(const struct vblk_ctrl *c, uint16_t idx);
/* The controller as a virtio device (what a transport drives). */
struct virtio_dev *vblk_ctrl_virtio_dev(struct vblk_ctrl *c);

#endif
