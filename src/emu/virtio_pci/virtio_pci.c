/* virtio-pci (modern) transport over vfio-user: osnap emulates the whole
 * function and drives the virtio device behind it through its
 * virtio_dev_ops. The capability BAR holds the common configuration, ISR, device
 * configuration and notification structures at the offsets the function's
 * vendor capabilities advertise (virtio_pci_layout.c). */
#include "emu/emu.h"
#include "emu/virtio_dev.h"
#include "virtio_pci_layout.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pci_queue {
	uint16_t size;
	uint16_t vector;
	bool enabled;
	uint64_t desc, driver, device;
};

struct virtio_pci {
	struct virtio_transport tr;	/* what the device holds (tr.dev: the device) */
	uint32_t dfselect, gfselect;
	uint32_t driver_features[2];
	uint16_t msix_config;
	uint8_t status;
	uint8_t config_generation;
	uint16_t queue_select;
	uint8_t isr;
	bool resetting;
	struct pci_queue q[VIRTIO_DEV_MAX_QUEUES];
};

static struct virtio_pci *pci_of(struct virtio_transport *tr)
{
	return (struct virtio_pci *)((char *)tr - offsetof(struct virtio_pci, tr));
}

/* The device's queues the register file addresses. */
static uint32_t num_queues(const struct virtio_pci *t)
{
	uint32_t n = t->tr.dev->ops->num_queues(t->tr.dev);
	return n < VIRTIO_DEV_MAX_QUEUES ? n : VIRTIO_DEV_MAX_QUEUES;
}

static void queue_defaults(struct virtio_pci *t)
{
	uint16_t size = (uint16_t)t->tr.dev->ops->max_queue_size(t->tr.dev);
	for (int i = 0; i < VIRTIO_DEV_MAX_QUEUES; i++) {
		memset(&t->q[i], 0, sizeof(t->q[i]));
		t->q[i].size = size;
		t->q[i].vector = VIRTIO_MSI_NO_VECTOR;
	}
}

static int start_queue(struct virtio_pci *t, uint16_t i)
{
	struct pci_queue *pq = &t->q[i];
	struct virtio_vq_params p = {
		.size = pq->size, .desc = pq->desc, .avail = pq->driver, .used = pq->device,
		.last_avail = 0, .kick_fd = -1, .call_fd = -1, .vector = pq->vector,
	};
	return t->tr.dev->ops->queue_start(t->tr.dev, i, &p);
}

static void reset_stopped(void *arg)
{
	struct virtio_pci *t = arg;
	t->status = 0;	/* the driver polls device_status until it reads 0 */
	t->resetting = false;
	t->tr.dev->ops->reset(t->tr.dev);
	t->driver_features[0] = t->driver_features[1] = 0;
	t->msix_config = VIRTIO_MSI_NO_VECTOR;
	queue_defaults(t);
}

static void device_reset(struct virtio_pci *t)
{
	if (t->resetting)
		return;	/* one under way: its end is this one's too */
	t->resetting = true;
	virtio_dev_stop_all(t->tr.dev, reset_stopped, t);
}

static void status_write(struct virtio_pci *t, uint8_t v)
{
	struct virtio_dev *d = t->tr.dev;
	if (v == 0) {
		device_reset(t);
		return;
	}
	if (t->resetting)
		return;
	uint8_t old = t->status;
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t f = (uint64_t)t->driver_features[1] << 32 | t->driver_features[0];
		if (d->ops->set_features(d, f)) {
			log_warn("%s: driver features 0x%llx refused", d->name, (unsigned long long)f);
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;	/* it reads back clear */
		}
	}
	t->status = v;
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		for (uint16_t i = 0; i < num_queues(t); i++)
			if (t->q[i].enabled && !d->ops->queue_running(d, i) && start_queue(t, i))
				t->status |= VIRTIO_STATUS_NEEDS_RESET;
	}
}

/* Little-endian field access of width len at offset off inside a struct. */
static uint64_t rd(const void *base, size_t off, size_t len)
{
	uint64_t v = 0;
	memcpy(&v, (const uint8_t *)base + off, len);
	return v;
}

static void common_read(struct virtio_pci *t, uint64_t off, void *buf, size_t len)
{
	struct virtio_pci_common_cfg cc;
	uint32_t nq = num_queues(t);
	memset(&cc, 0, sizeof(cc));
	cc.device_feature_select = t->dfselect;
	cc.device_feature = t->dfselect < 2 ? (uint32_t)(t->tr.dev->ops->features(t->tr.dev) >> (32 * t->dfselect)) : 0;
	cc.driver_feature_select = t->gfselect;
	cc.driver_feature = t->gfselect < 2 ? t->driver_features[t->gfselect] : 0;
	cc.msix_config = t->msix_config;
	cc.num_queues = (uint16_t)nq;
	cc.device_status = t->status;
	cc.config_generation = t->config_generation;
	cc.queue_select = t->queue_select;
	if (t->queue_select < nq) {
		struct pci_queue *q = &t->q[t->queue_select];
		cc.queue_size = q->size;
		cc.queue_msix_vector = q->vector;
		cc.queue_enable = q->enabled;
		cc.queue_notify_off = t->queue_select;
		cc.queue_desc = q->desc;
		cc.queue_driver = q->driver;
		cc.queue_device = q->device;
	}
	memset(buf, 0, len);
	if (off < sizeof(cc))
		memcpy(buf, (uint8_t *)&cc + off, off + len <= sizeof(cc) ? len : sizeof(cc) - off);
}

static void set_u64_part(uint64_t *field, size_t rel, uint64_t v, size_t len)
{
	uint8_t b[8];
	memcpy(b, field, 8);
	for (size_t i = 0; i < len && rel + i < 8; i++)
		b[rel + i] = (uint8_t)(v >> (8 * i));
	memcpy(field, b, 8);
}

static void common_write(struct virtio_pci *t, uint64_t off, const void *buf, size_t len)
{
	uint64_t v = rd(buf, 0, len < 8 ? len : 8);
	struct pci_queue *q = t->queue_select < num_queues(t) ? &t->q[t->queue_select] : NULL;
	bool live = t->status & VIRTIO_STATUS_DRIVER_OK;
	uint16_t nmsix = emu_fn_num_msix(t->tr.dev->fn);

	switch (off) {
	case offsetof(struct virtio_pci_common_cfg, device_feature_select):
		t->dfselect = (uint32_t)v;
		break;
	case offsetof(struct virtio_pci_common_cfg, driver_feature_select):
		t->gfselect = (uint32_t)v;
		break;
	case offsetof(struct virtio_pci_common_cfg, driver_feature):
		if (t->gfselect < 2 && !(t->status & VIRTIO_STATUS_FEATURES_OK))
			t->driver_features[t->gfselect] = (uint32_t)v;
		break;
	case offsetof(struct virtio_pci_common_cfg, msix_config):
		t->msix_config = (uint16_t)v < nmsix ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
		break;
	case offsetof(struct virtio_pci_common_cfg, device_status):
		status_write(t, (uint8_t)v);
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_select):
		t->queue_select = (uint16_t)v;
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_size):
		/* a power of two up to the maximum; other values are ignored */
		if (q && !q->enabled && v && v <= t->tr.dev->ops->max_queue_size(t->tr.dev) && !(v & (v - 1)))
			q->size = (uint16_t)v;
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_msix_vector):
		if (q && !q->enabled)
			q->vector = (uint16_t)v < nmsix ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
		break;
	case offsetof(struct virtio_pci_common_cfg, queue_enable):
		if (q && v == 1 && !q->enabled) {
			q->enabled = true;
			if (live && start_queue(t, t->queue_select))
				t->status |= VIRTIO_STATUS_NEEDS_RESET;
		}
		break;
	default:
		if (!q || q->enabled)
			break;
		/* the 64-bit ring addresses, written as halves or whole */
		if (off >= offsetof(struct virtio_pci_common_cfg, queue_desc) &&
		    off < offsetof(struct virtio_pci_common_cfg, queue_driver))
			set_u64_part(&q->desc, off - offsetof(struct virtio_pci_common_cfg, queue_desc), v, len);
		else if (off >= offsetof(struct virtio_pci_common_cfg, queue_driver) &&
			 off < offsetof(struct virtio_pci_common_cfg, queue_device))
			set_u64_part(&q->driver, off - offsetof(struct virtio_pci_common_cfg, queue_driver), v, len);
		else if (off >= offsetof(struct virtio_pci_common_cfg, queue_device) &&
			 off < sizeof(struct virtio_pci_common_cfg))
			set_u64_part(&q->device, off - offsetof(struct virtio_pci_common_cfg, queue_device), v, len);
		break;
	}
}

static int t_bar_read(void *ctx, int bar, uint64_t off, void *buf, size_t len)
{
	struct virtio_pci *t = pci_of(ctx);
	if (bar != VIRTIO_PCI_CAP_BAR) {
		memset(buf, 0, len);
		return 0;
	}
	if (off < VIRTIO_PCI_ISR_OFF) {
		common_read(t, off - VIRTIO_PCI_COMMON_OFF, buf, len);
	} else if (off < VIRTIO_PCI_DEVICE_OFF) {
		memset(buf, 0, len);
		if (off == VIRTIO_PCI_ISR_OFF) {
			((uint8_t *)buf)[0] = t->isr;
			t->isr = 0;	/* reading the ISR clears it */
		}
	} else if (off < VIRTIO_PCI_NOTIFY_OFF) {
		uint8_t cfg[VIRTIO_DEV_MAX_CONFIG];
		size_t size = t->tr.dev->ops->get_config(t->tr.dev, cfg, sizeof(cfg));
		if (size > sizeof(cfg))
			size = sizeof(cfg);
		uint64_t rel = off - VIRTIO_PCI_DEVICE_OFF;
		memset(buf, 0, len);
		if (rel < size)
			memcpy(buf, cfg + rel, rel + len <= size ? len : size - rel);
	} else {
		memset(buf, 0, len);
	}
	return 0;
}

static int t_bar_write(void *ctx, int bar, uint64_t off, const void *buf, size_t len)
{
	struct virtio_pci *t = pci_of(ctx);
	if (bar != VIRTIO_PCI_CAP_BAR || len > 8)
		return 0;
	if (off < VIRTIO_PCI_ISR_OFF) {
		common_write(t, off - VIRTIO_PCI_COMMON_OFF, buf, len);
	} else if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_NOTIFY_OFF + VIRTIO_DEV_MAX_QUEUES * VIRTIO_PCI_NOTIFY_MULT) {
		/* a notification: the queue index is the offset's slot */
		uint16_t idx = (uint16_t)((off - VIRTIO_PCI_NOTIFY_OFF) / VIRTIO_PCI_NOTIFY_MULT);
		if (t->status & VIRTIO_STATUS_DRIVER_OK)
			t->tr.dev->ops->queue_kick(t->tr.dev, idx);
	}
	/* device config is read-only (no CONFIG_WCE) */
	return 0;
}

static void t_fn_reset(void *ctx, enum emu_reset_reason why)
{
	struct virtio_pci *t = pci_of(ctx);
	(void)why;
	device_reset(t);
}

static void t_mem_map(void *ctx, uint64_t gpa, uint64_t len)
{
	struct virtio_pci *t = pci_of(ctx);
	(void)gpa;
	(void)len;
	/* queues waiting for their rings look again */
	for (uint32_t i = 0; i < num_queues(t); i++)
		t->tr.dev->ops->queue_kick(t->tr.dev, (uint16_t)i);
}

static const struct emu_ctrl_ops pci_fn_ops = {
	.bar_read = t_bar_read,
	.bar_write = t_bar_write,
	.mem_unmap = virtio_transport_mem_unmap,	/* the rings let go */
	.mem_resume = virtio_transport_mem_resume,	/* they translate again */
	.mem_map = t_mem_map,
	.reset = t_fn_reset,
};

static void t_destroy(struct virtio_transport *tr)
{
	struct virtio_pci *t = pci_of(tr);
	emu_fn_unbind(t->tr.dev->fn);
	free(t);
}

static void t_config_changed(struct virtio_transport *tr)
{
	struct virtio_pci *t = pci_of(tr);
	t->config_generation++;
	t->isr |= 0x2;
	if (t->msix_config != VIRTIO_MSI_NO_VECTOR && (t->status & VIRTIO_STATUS_DRIVER_OK))
		emu_irq_raise(t->tr.dev->fn, t->msix_config);
}

static bool t_driver_live(struct virtio_transport *tr)
{
	return pci_of(tr)->status & VIRTIO_STATUS_DRIVER_OK;
}

static const struct virtio_transport_ops pci_transport = {
	.destroy = t_destroy,
	.config_changed = t_config_changed,
	.driver_live = t_driver_live,
};

int virtio_pci_attach(struct virtio_dev *d, struct virtio_transport **out, char *err, size_t errlen)
{
	/* the function's PCI identity was built for a device type when it
	 * was created (virtio_pci_layout.c): the device must be of that type */
	uint32_t presented = virtio_pci_device_type(emu_fn_type(d->fn));
	if (presented != d->virtio_id) {
		snprintf(err, errlen, "function %s presents virtio device type %u, not %u", emu_fn_vuid(d->fn),
			 presented, d->virtio_id);
		return -EINVAL;
	}
	struct virtio_pci *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->tr.ops = &pci_transport;
	t->tr.dev = d;
	t->msix_config = VIRTIO_MSI_NO_VECTOR;
	queue_defaults(t);
	if (emu_fn_bind(d->fn, &pci_fn_ops, &t->tr, d->name)) {
		free(t);
		snprintf(err, errlen, "function %s is busy", emu_fn_vuid(d->fn));
		return -EBUSY;
	}
	*out = &t->tr;
	return 0;
}
