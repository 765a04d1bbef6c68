/* virtio-blk controllers: one per virtio-blk function, served through a
 * transport (vhost-user: the client owns the PCI part; or virtio-pci over
 * vfio-user: osnap emulates the whole function).
 *
 * Threading: the API runs on the main thread; queues run on reactors. */
#ifndef OSNAP_VBLK_H
#define OSNAP_VBLK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_spec.h"

struct vblk_ctrl;
struct emu_function;
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

/* --- what transports use --- */

/* Features the device offers (VERSION_1 and the blk features). */
uint64_t vblk_ctrl_features(const struct vblk_ctrl *c);
/* The driver's choice; -EINVAL when not a subset or VERSION_1 is missing. */
int vblk_ctrl_set_features(struct vblk_ctrl *c, uint64_t features);
void vblk_ctrl_get_config(const struct vblk_ctrl *c, struct virtio_blk_config *cfg);
uint32_t vblk_ctrl_num_queues(const struct vblk_ctrl *c);
uint32_t vblk_ctrl_queue_size(const struct vblk_ctrl *c);

struct vblk_vq_params {
	uint32_t size;
	uint64_t desc, avail, used;	/* guest addresses */
	uint16_t last_avail;		/* where to resume */
	int kick_fd;			/* eventfd the driver kicks; -1: kicks come by vblk_ctrl_queue_kick */
	int call_fd;			/* eventfd to interrupt the driver; -1: MSI-X vector */
	uint16_t vector;		/* MSI-X vector when call_fd < 0 */
};

/* Start queue idx (the controller keeps the fds). -EINVAL for bad params. */
int vblk_ctrl_queue_start(struct vblk_ctrl *c, uint16_t idx, const struct vblk_vq_params *p);
/* Stop it once its in-flight requests are done; done() gets the index to
 * resume from. */
void vblk_ctrl_queue_stop(struct vblk_ctrl *c, uint16_t idx,
			  void (*done)(void *arg, uint16_t last_avail), void *arg);
bool vblk_ctrl_queue_running(const struct vblk_ctrl *c, uint16_t idx);
/* Replace the interrupt eventfd of a queue (takes the fd; -1 = none). */
void vblk_ctrl_queue_set_call(struct vblk_ctrl *c, uint16_t idx, int call_fd);
/* A notification for a queue without a kick fd (virtio-pci notify write). */
void vblk_ctrl_queue_kick(struct vblk_ctrl *c, uint16_t idx);

/* A transport attached to the controller (vhost-user endpoint or the
 * virtio-pci register file). */
struct vblk_transport_ops {
	void (*destroy)(struct vblk_ctrl *c, void *tctx);
	/* the device configuration changed (capacity after bdev attach) */
	void (*config_changed)(struct vblk_ctrl *c, void *tctx);
	/* is a driver using the device right now */
	bool (*driver_live)(struct vblk_ctrl *c, void *tctx);
};
struct emu_function *vblk_ctrl_fn(struct vblk_ctrl *c);

#endif
