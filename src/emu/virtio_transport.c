/* The transports of virtio devices: which one presents a device (the
 * emulation config's EMU_VIRTIO_BLK_TRANSPORT: vhost-user by default, or
 * virtio-pci over vfio-user), and what every transport does alike. */
#include "emu.h"
#include "virtio_dev.h"
#include "core/fanout.h"

int virtio_transport_attach(struct virtio_dev *d, struct virtio_transport **out, char *err, size_t errlen)
{
	if (emu_get_config()->vblk_transport == EMU_VBLK_VFIO_USER)
		return virtio_pci_attach(d, out, err, errlen);
	return vhu_endpoint_create(d, out, err, errlen);
}

static void stop_ack(void *f, uint16_t last_avail)
{
	(void)last_avail;
	fanout_ack(f);
}

void virtio_dev_stop_all(struct virtio_dev *d, void (*done)(void *arg), void *arg)
{
	struct fanout *f = fanout_begin(done, arg);
	uint32_t n = d->ops->num_queues(d);
	for (uint32_t i = 0; i < n && i < VIRTIO_DEV_MAX_QUEUES; i++) {
		if (d->ops->queue_running(d, (uint16_t)i)) {
			fanout_add(f);
			d->ops->queue_stop(d, (uint16_t)i, stop_ack, f);
		}
	}
	fanout_end(f);
}

void virtio_transport_mem_unmap(void *tr, uint64_t gpa, uint64_t len, void (*done)(void *arg), void *arg)
{
	struct virtio_dev *d = ((struct virtio_transport *)tr)->dev;
	(void)gpa;
	(void)len;
	d->ops->pause_all(d, true, done, arg);
}

void virtio_transport_mem_resume(void *tr)
{
	struct virtio_dev *d = ((struct virtio_transport *)tr)->dev;
	d->ops->pause_all(d, false, NULL, NULL);
}
