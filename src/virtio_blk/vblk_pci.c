/* virtio-pci (modern) transport over vfio-user: osnap emulates the whole
 * function. The capability BAR holds the common configuration, ISR, device
 * configuration and notification structures at the offsets the function's
 * vendor capabilities advertise (see emu_function.c). */
#include "vblk_internal.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define COMMON_OFF 0x0000
#define ISR_OFF 0x1000
#define DEVICE_OFF 0x2000
#define NOTIFY_OFF 0x3000
#define NOTIFY_MULT 4

struct pci_queue {
	uint16_t size;
	uint16_t vector;
	bool enabled;
	uint64_t desc, driver, device;
};

struct vblk_pci {
	struct vblk_ctrl *c;
	uint32_t dfselect, gfselect;
	uint32_t driver_features[2];
	uint16_t msix_config;
	uint8_t status;
	uint8_t config_generation;
	uint16_t queue_select;
	uint8_t isr;
	bool resetting;
	struct pci_queue q[VBLK_MAX_QUEUES];
};

static void queue_defaults(struct vblk_pci *t)
{
	for (int i = 0; i < VBLK_MAX_QUEUES; i++) {
		memset(&t->q[i], 0, sizeof(t->q[i]));
		t->q[i].size = (uint16_t)t->c->queue_size;
		t->q[i].vector = VIRTIO_MSI_NO_VECTOR;
	}
}

static int start_queue(struct vblk_pci *t, uint16_t i)
{
	struct pci_queue *pq = &t->q[i];
	struct vblk_vq_params p = {
		.size = pq->size, .desc = pq->desc, .avail = pq->driver, .used = pq->device,
		.last_avail = 0, .kick_fd = -1, .call_fd = -1, .vector = pq->vector,
	};
	return vblk_ctrl_queue_start(t->c, i, &p);
}

struct reset_ctx {
	struct vblk_pci *t;
	int pending;
};

static void reset_stopped(void *arg, uint16_t last)
{
	struct reset_ctx *r = arg;
	(void)last;
	if (--r->pending)
		return;
	struct vblk_pci *t = r->t;
	free(r);
	t->status = 0;	/* the driver polls device_status until it reads 0 */
	t->resetting = false;
	t->c->driver_features = 0;
	t->driver_features[0] = t->driver_features[1] = 0;
	t->msix_config = VIRTIO_MSI_NO_VECTOR;
	queue_defaults(t);
}

static void device_reset(struct vblk_pci *t)
{
	if (t->resetting)
		return;	/* one under way: its end is this one's too */
	struct reset_ctx *r = calloc(1, sizeof(*r));
	if (!r) {
		log_crit("%s: out of memory resetting the device", t->c->name);
		abort();
	}
	r->t = t;
	r->pending = 1;
	t->resetting = true;
	for (uint32_t i = 0; i < t->c->num_queues; i++) {
		if (vblk_ctrl_queue_running(t->c, (uint16_t)i)) {
			r->pending++;
			vblk_ctrl_queue_stop(t->c, (uint16_t)i, reset_stopped, r);
		}
	}
	reset_stopped(r, 0);
}

static void status_write(struct vblk_pci *t, uint8_t v)
{
	struct vblk_ctrl *c = t->c;
	if (v == 0) {
		device_reset(t);
		return;
	}
	if (t->resetting)
		return;
	uint8_t old = t->status;
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		uint64_t f = (uint64_t)t->driver_features[1] << 32 | t->driver_features[0];
		if (vblk_ctrl_set_features(c, f)) {
			log_warn("%s: driver features 0x%llx refused", c->name, (unsigned long long)f);
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;	/* it reads back clear */
		}
	}
	t->status = v;
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK)) {
		for (uint16_t i = 0; i < c->num_queues; i++)
			if (t->q[i].enabled && !vblk_ctrl_queue_running(c, i) && start_queue(t, i))
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

static void common_read(struct vblk_pci *t, uint64_t off, void *buf, size_t len)
{
	struct virtio_pci_common_cfg cc;
	struct vblk_ctrl *c = t->c;
	memset(&cc, 0, sizeof(cc));
	cc.device_feature_select = t->dfselect;
	cc.device_feature = t->dfselect < 2 ? (uint32_t)(c->features >> (32 * t->dfselect)) : 0;
	cc.driver_feature_select = t->gfselect;
	cc.driver_feature = t->gfselect < 2 ? t->driver_features[t->gfselect] : 0;
	cc.msix_config = t->msix_config;
	cc.num_queues = (uint16_t)c->num_queues;
	cc.device_status = t->status;
	cc.config_generation = t->config_generation;
	cc.queue_select = t->queue_select;
	if (t->queue_select < c->num_queues) {
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

static void common_write(struct vblk_pci *t, uint64_t off, const void *buf, size_t len)
{
	struct vblk_ctrl *c = t->c;
	uint64_t v = rd(buf, 0, len < 8 ? len : 8);
	struct pci_queue *q = t->queue_select < c->num_queues ? &t->q[t->queue_select] : NULL;
	bool live = t->status & VIRTIO_STATUS_DRIVER_OK;
	uint16_t nmsix = emu_fn_num_msix(c->fn);

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
		if (q && !q->enabled && v && v <= c->queue_size && !(v & (v - 1)))
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
	struct vblk_pci *t = ctx;
	if (bar != EMU_VBLK_CAP_BAR) {
		memset(buf, 0, len);
		return 0;
	}
	if (off < ISR_OFF) {
		common_read(t, off - COMMON_OFF, buf, len);
	} else if (off < DEVICE_OFF) {
		memset(buf, 0, len);
		if (off == ISR_OFF) {
			((uint8_t *)buf)[0] = t->isr;
			t->isr = 0;	/* reading the ISR clears it */
		}
	} else if (off < NOTIFY_OFF) {
		struct virtio_blk_config cfg;
		vblk_ctrl_get_config(t->c, &cfg);
		uint64_t rel = off - DEVICE_OFF;
		memset(buf, 0, len);
		if (rel < sizeof(cfg))
			memcpy(buf, (uint8_t *)&cfg + rel, rel + len <= sizeof(cfg) ? len : sizeof(cfg) - rel);
	} else {
		memset(buf, 0, len);
	}
	return 0;
}

static int t_bar_write(void *ctx, int bar, uint64_t off, const void *buf, size_t len)
{
	struct vblk_pci *t = ctx;
	if (bar != EMU_VBLK_CAP_BAR || len > 8)
		return 0;
	if (off < ISR_OFF) {
		common_write(t, off - COMMON_OFF, buf, len);
	} else if (off >= NOTIFY_OFF && off < NOTIFY_OFF + VBLK_MAX_QUEUES * NOTIFY_MULT) {
		/* a notification: the queue index is the offset's slot */
		uint16_t idx = (uint16_t)((off - NOTIFY_OFF) / NOTIFY_MULT);
		if (t->status & VIRTIO_STATUS_DRIVER_OK)
			vblk_ctrl_queue_kick(t->c, idx);
	}
	/* device config is read-only (no CONFIG_WCE) */
	return 0;
}

static void t_fn_reset(void *ctx, enum emu_reset_reason why)
{
	struct vblk_pci *t = ctx;
	(void)why;
	device_reset(t);
}

static void t_mem_unmap(void *ctx, uint64_t gpa, uint64_t len, void (*done)(void *arg), void *arg)
{
	struct vblk_pci *t = ctx;
	(void)gpa;
	(void)len;
	vblk_queue_pause_all(t->c, QLIFE_MEM, true, done, arg);
}

/* the region is out of the map: the rings translate again and go on */
static void t_mem_resume(void *ctx)
{
	struct vblk_pci *t = ctx;
	vblk_queue_pause_all(t->c, QLIFE_MEM, false, NULL, NULL);
}

static void t_mem_map(void *ctx, uint64_t gpa, uint64_t len)
{
	struct vblk_pci *t = ctx;
	(void)gpa;
	(void)len;
	/* queues waiting for their rings look again */
	for (uint32_t i = 0; i < t->c->num_queues; i++)
		vblk_ctrl_queue_kick(t->c, (uint16_t)i);
}

static const struct emu_ctrl_ops pci_fn_ops = {
	.bar_read = t_bar_read,
	.bar_write = t_bar_write,
	.mem_unmap = t_mem_unmap,
	.mem_resume = t_mem_resume,
	.mem_map = t_mem_map,
	.reset = t_fn_reset,
};

static void t_destroy(struct vblk_ctrl *c, void *tctx)
{
	emu_fn_unbind(c->fn);
	free(tctx);
}

static void t_config_changed(struct vblk_ctrl *c, void *tctx)
{
	struct vblk_pci *t = tctx;
	t->config_generation++;
	t->isr |= 0x2;
	if (t->msix_config != VIRTIO_MSI_NO_VECTOR && (t->status & VIRTIO_STATUS_DRIVER_OK))
		emu_irq_raise(c->fn, t->msix_config);
}

static bool t_driver_live(struct vblk_ctrl *c, void *tctx)
{
	struct vblk_pci *t = tctx;
	(void)c;
	return t->status & VIRTIO_STATUS_DRIVER_OK;
}

static const struct vblk_transport_ops pci_transport = {
	.destroy = t_destroy,
	.config_changed = t_config_changed,
	.driver_live = t_driver_live,
};

int vblk_pci_attach(struct vblk_ctrl *c, char *err, size_t errlen)
{
	struct vblk_pci *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	t->c = c;
	t->msix_config = VIRTIO_MSI_NO_VECTOR;
	queue_defaults(t);
	if (emu_fn_bind(c->fn, &pci_fn_ops, t, c->name)) {
		free(t);
		snprintf(err, errlen, "function %s is busy", emu_fn_vuid(c->fn));
		return -EBUSY;
	}
	vblk_ctrl_set_transport(c, &pci_transport, t);
	return 0;
}
