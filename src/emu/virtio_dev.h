/* The seam between a virtio device (virtio-blk, src/virtio_blk/) and the
 * transports that present it to a driver (src/emu/vhost_user/: the
 * front end owns the PCI part; src/emu/virtio_pci/: osnap emulates the
 * whole PCI function, served by vfio-user).
 *
 * A device fills a struct virtio_dev (its ops, name and function) and asks
 * for a transport with virtio_transport_attach; the transport drives the
 * device only through these ops, and the device calls the transport only
 * through the struct virtio_transport it got back.
 *
 * Threading: everything here runs on the main thread. The queues the
 * device starts run on reactors; queue_stop and pause_all answer on the
 * main thread once the reactors are done. */
#ifndef OSNAP_EMU_VIRTIO_DEV_H
#define OSNAP_EMU_VIRTIO_DEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio_inflight.h"
#include "virtio_spec.h"

struct emu_function;
struct virtio_dev;

/* Queues per device that a transport can address. */
#define VIRTIO_DEV_MAX_QUEUES 64
/* The largest device configuration structure a transport serves. */
#define VIRTIO_DEV_MAX_CONFIG 256

/* Where a queue's rings are and how it is notified. */
struct virtio_vq_params {
	uint32_t size;
	uint64_t desc, avail, used;	/* guest addresses */
	uint16_t last_avail;		/* where to resume */
	int kick_fd;			/* eventfd the driver kicks; -1: kicks come by queue_kick */
	int call_fd;			/* eventfd to interrupt the driver; -1: MSI-X vector */
	uint16_t vector;		/* MSI-X vector when call_fd < 0 */
	/* The queue's slice of the transport's in-flight region
	 * (virtio_inflight.h; NULL: none), of inflight_num descriptors. It
	 * stays mapped until the queue has stopped. */
	struct vinfl_split *inflight;
	uint16_t inflight_num;
};

/* What a device implements for its transport. Every member is required. */
struct virtio_dev_ops {
	uint32_t (*num_queues)(struct virtio_dev *d);		/* <= VIRTIO_DEV_MAX_QUEUES */
	uint32_t (*max_queue_size)(struct virtio_dev *d);
	/* Features the device offers (VERSION_1 included). */
	uint64_t (*features)(struct virtio_dev *d);
	/* The driver's choice; -EINVAL when the device cannot take it (then
	 * nothing changes). */
	int (*set_features)(struct virtio_dev *d, uint64_t features);
	/* The driver is gone or reset the device: negotiated features back
	 * to none (the queues are stopped already). */
	void (*reset)(struct virtio_dev *d);
	/* Copy up to cap bytes of the device configuration to buf; returns
	 * its size (<= VIRTIO_DEV_MAX_CONFIG). */
	size_t (*get_config)(struct virtio_dev *d, void *buf, size_t cap);
	/* Start queue idx (the device keeps the fds). -EINVAL for bad params. */
	int (*queue_start)(struct virtio_dev *d, uint16_t idx, const struct virtio_vq_params *p);
	/* Stop it once its in-flight requests are done; done() gets the index
	 * to resume from (at once for a queue not running). */
	void (*queue_stop)(struct virtio_dev *d, uint16_t idx, void (*done)(void *arg, uint16_t last_avail),
			   void *arg);
	bool (*queue_running)(struct virtio_dev *d, uint16_t idx);
	/* Replace the interrupt eventfd of a queue (takes the fd; -1 = none). */
	void (*queue_set_call)(struct virtio_dev *d, uint16_t idx, int call_fd);
	/* A notification for a queue without a kick fd (virtio-pci notify
	 * write), or a nudge to look at the rings again. */
	void (*queue_kick)(struct virtio_dev *d, uint16_t idx);
	/* Guest memory is being replaced (QLIFE_MEM): pause every running
	 * queue (done(arg) once what was in flight finished), or lift one
	 * such pause (done may be NULL). Each pause needs its resume. */
	void (*pause_all)(struct virtio_dev *d, bool pause, void (*done)(void *arg), void *arg);
};

struct virtio_dev {
	const struct virtio_dev_ops *ops;
	const char *name;		/* the controller's name, for logs */
	struct emu_function *fn;	/* the function it is served on */
	uint32_t virtio_id;		/* device type: VIRTIO_ID_BLOCK ... */
};

/* --- the transport, as the device sees it --- */

struct virtio_transport;

struct virtio_transport_ops {
	/* The device is going away (its queues are stopped): let go of the
	 * function and free the transport. */
	void (*destroy)(struct virtio_transport *t);
	/* The device configuration changed (capacity after a bdev attach). */
	void (*config_changed)(struct virtio_transport *t);
	/* Is a driver using the device right now? */
	bool (*driver_live)(struct virtio_transport *t);
};

/* Embedded in each transport's own state. */
struct virtio_transport {
	const struct virtio_transport_ops *ops;
	struct virtio_dev *dev;		/* the device it presents */
};

/* Bind d's function with the transport the emulation config names
 * (EMU_VIRTIO_BLK_TRANSPORT: vhost-user or virtio-pci over vfio-user).
 * Returns 0 and the transport, or -errno with a message in err. */
int virtio_transport_attach(struct virtio_dev *d, struct virtio_transport **out, char *err, size_t errlen);

/* The providers (virtio_transport_attach picks one). */
int vhu_endpoint_create(struct virtio_dev *d, struct virtio_transport **out, char *err, size_t errlen);
int virtio_pci_attach(struct virtio_dev *d, struct virtio_transport **out, char *err, size_t errlen);

/* --- what every transport does alike --- */

/* Stop every running queue of d (in-flight requests finish first), then
 * done(arg) (maybe at once). */
void virtio_dev_stop_all(struct virtio_dev *d, void (*done)(void *arg), void *arg);
/* emu_ctrl_ops.mem_unmap / mem_resume of a transport bound with its
 * struct virtio_transport as the context: a region leaving the client's
 * map pauses the device's queues (QLIFE_MEM) until it is gone. */
void virtio_transport_mem_unmap(void *tr, uint64_t gpa, uint64_t len, void (*done)(void *arg), void *arg);
void virtio_transport_mem_resume(void *tr);

static inline void virtio_transport_destroy(struct virtio_transport *t)
{
	if (t)
		t->ops->destroy(t);
}

static inline void virtio_transport_config_changed(struct virtio_transport *t)
{
	if (t)
		t->ops->config_changed(t);
}

static inline bool virtio_transport_driver_live(struct virtio_transport *t)
{
	return t && t->ops->driver_live(t);
}

#endif
