/* The virtio-blk driver's modern virtio-pci transport over vfio-user
 * (virtio 1.2 section 4.1): capability walk, common configuration, feature
 * negotiation, MSI-X, queue setup and notifications. See
 * vblk_host_open_pci() in virtio_blk_host.h. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#define VBLK_HOST_INTERNAL
#include "host/host_mem.h"
#include "host/vfio_user_client.h"
#include "host/virtio_blk_host.h"

/* Where one virtio structure lives. */
struct vpci_struct {
	bool found;
	uint8_t bar;
	uint32_t offset;
	uint32_t length;
};

struct vblk_pci {
	struct vfu_client *c;
	pthread_mutex_t lock;		/* the socket: queue threads notify concurrently */
	struct vpci_struct common, notify, isr, device;
	uint32_t notify_mult;
	bool msix_on;			/* MSI-X enabled by msix_setup() */
	uint32_t nvec;			/* vectors given eventfds */
	int *efds;			/* per vector; moved into queues when assigned */
	uint16_t config_vector;
	uint32_t nmapped;		/* regions DMA-mapped */
};

/* ---- register access (locked: notifications come from queue threads) --------------------- */

static int s_read(struct vblk_pci *p, const struct vpci_struct *s, uint32_t off, void *buf,
		  size_t len)
{
	pthread_mutex_lock(&p->lock);
	int rc = vfu_region_read(p->c, s->bar, (uint64_t)s->offset + off, buf, len);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

static int s_write(struct vblk_pci *p, const struct vpci_struct *s, uint32_t off, const void *buf,
		   size_t len, bool posted)
{
	pthread_mutex_lock(&p->lock);
	int rc = vfu_region_write(p->c, s->bar, (uint64_t)s->offset + off, buf, len, posted);
	pthread_mutex_unlock(&p->lock);
	return rc;
}

/* Common configuration fields, each with its natural width. */
static int c_rd8(struct vblk_pci *p, uint32_t off, uint8_t *v)
{
	return s_read(p, &p->common, off, v, 1);
}

static int c_rd16(struct vblk_pci *p, uint32_t off, uint16_t *v)
{
	return s_read(p, &p->common, off, v, 2);
}

static int c_rd32(struct vblk_pci *p, uint32_t off, uint32_t *v)
{
	return s_read(p, &p->common, off, v, 4);
}

static int c_wr8(struct vblk_pci *p, uint32_t off, uint8_t v)
{
	return s_write(p, &p->common, off, &v, 1, false);
}

static int c_wr16(struct vblk_pci *p, uint32_t off, uint16_t v)
{
	return s_write(p, &p->common, off, &v, 2, false);
}

static int c_wr32(struct vblk_pci *p, uint32_t off, uint32_t v)
{
	return s_write(p, &p->common, off, &v, 4, false);
}

/* A 64-bit field as two 32-bit halves, low first. */
static int c_wr64(struct vblk_pci *p, uint32_t off, uint64_t v)
{
	int rc = c_wr32(p, off, (uint32_t)v);
	return rc ? rc : c_wr32(p, off + 4, (uint32_t)(v >> 32));
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- discovery ------------------------------------------------------------------------------ */

static int check_ids(struct vfu_client *c)
{
	uint16_t vendor, device;
	int rc = vfu_cfg_read16(c, VH_PCI_VENDOR, &vendor);
	if (!rc)
		rc = vfu_cfg_read16(c, VH_PCI_DEVICE, &device);
	if (rc)
		return rc;
	if (vendor != VH_PCI_VENDOR_ID ||
	    (device != VH_PCI_DEVICE_ID_MODERN(VH_BLK_DEVICE_ID) &&
	     device != VH_PCI_DEVICE_ID_BLK_TRANS))
		return -ENODEV;
	return 0;
}

/* Record one vendor capability at off (first instance of each type wins;
 * reserved types, reserved BARs and too-short capabilities are ignored). */
static int take_cap(struct vblk_pci *p, uint32_t off)
{
	struct vh_pci_cap cap;
	int rc = vfu_cfg_read(p->c, off, &cap, sizeof(cap));
	if (rc)
		return rc;
	if (cap.cap_len < sizeof(cap) || cap.bar > 5)
		return 0;
	struct vpci_struct *s;
	switch (cap.cfg_type) {
	case VH_PCI_CAP_COMMON_CFG: s = &p->common; break;
	case VH_PCI_CAP_NOTIFY_CFG: s = &p->notify; break;
	case VH_PCI_CAP_ISR_CFG: s = &p->isr; break;
	case VH_PCI_CAP_DEVICE_CFG: s = &p->device; break;
	default: return 0;
	}
	if (s->found)
		return 0;
	if (cap.cfg_type == VH_PCI_CAP_NOTIFY_CFG) {
		if (cap.cap_len < sizeof(struct vh_pci_notify_cap))
			return 0;
		rc = vfu_cfg_read32(p->c, off + offsetof(struct vh_pci_notify_cap,
							  notify_off_multiplier), &p->notify_mult);
		if (rc)
			return rc;
	}
	*s = (struct vpci_struct){ true, cap.bar, cap.offset, cap.length };
	return 0;
}

/* The structure must lie inside its BAR and be long and aligned enough. */
static int check_struct(struct vblk_pci *p, const struct vpci_struct *s, uint32_t min_len,
			uint32_t align)
{
	struct vfu_region_info ri;
	if (!s->found)
		return -EPROTO;
	int rc = vfu_get_region_info(p->c, s->bar, &ri, NULL, 0, NULL);
	if (rc)
		return rc;
	if (s->length < min_len || s->offset % align ||
	    (uint64_t)s->offset + s->length > ri.size)
		return -EPROTO;
	return 0;
}

static int find_caps(struct vblk_pci *p)
{
	uint64_t seen[4] = { 0 };
	uint16_t status;
	uint8_t ptr;

	int rc = vfu_cfg_read16(p->c, VH_PCI_STATUS, &status);
	if (rc)
		return rc;
	if (!(status & VH_PCI_STATUS_CAP_LIST))
		return -ENODEV;		/* a legacy-only device */
	rc = vfu_cfg_read8(p->c, VH_PCI_CAP_PTR, &ptr);
	if (rc)
		return rc;
	for (uint32_t off = ptr & 0xfcu; off; ) {
		uint16_t hdr;
		if (off < VH_PCI_STD_HDR_END)
			return -EPROTO;
		if (seen[off / 64] & (1ull << (off % 64)))
			return -ELOOP;
		seen[off / 64] |= 1ull << (off % 64);
		rc = vfu_cfg_read16(p->c, off, &hdr);
		if (!rc && (hdr & 0xff) == VH_PCI_CAP_ID_VNDR)
			rc = take_cap(p, off);
		if (rc)
			return rc;
		off = (hdr >> 8) & 0xfcu;
	}
	if (!p->common.found || !p->notify.found || !p->device.found)
		return -ENODEV;		/* not a modern virtio device */
	rc = check_struct(p, &p->common, VH_PCI_COMMON_MIN_LEN, 4);
	if (!rc)
		rc = check_struct(p, &p->notify, 2, 2);
	if (!rc)
		rc = check_struct(p, &p->device, 8, 4);	/* capacity at least */
	if (!rc && p->isr.found)
		rc = check_struct(p, &p->isr, 1, 1);
	return rc;
}

/* ---- status and features --------------------------------------------------------------------- */

static int pci_device_status(struct vblk_host *d, uint8_t *status)
{
	return c_rd8(d->pci, VH_PCI_COMMON_STATUS, status);
}

/* Write 0 and wait for the device to read back 0 (spec 4.1.4.3.2). */
static int pci_reset(struct vblk_host *d)
{
	int rc = c_wr8(d->pci, VH_PCI_COMMON_STATUS, 0);
	for (int t = 0; !rc && t < d->opts.ctrl_timeout_ms; t++) {
		uint8_t st;
		rc = c_rd8(d->pci, VH_PCI_COMMON_STATUS, &st);
		if (!rc && st == 0)
			return 0;
		sleep_ms(1);
	}
	return rc ? rc : -ETIMEDOUT;
}

static int add_status(struct vblk_host *d, uint8_t bits)
{
	uint8_t st;
	int rc = c_rd8(d->pci, VH_PCI_COMMON_STATUS, &st);
	return rc ? rc : c_wr8(d->pci, VH_PCI_COMMON_STATUS, (uint8_t)(st | bits));
}

static int negotiate(struct vblk_host *d)
{
	struct vblk_pci *p = d->pci;
	uint32_t lo, hi;

	int rc = c_wr32(p, VH_PCI_COMMON_DFSELECT, 0);
	if (!rc)
		rc = c_rd32(p, VH_PCI_COMMON_DF, &lo);
	if (!rc)
		rc = c_wr32(p, VH_PCI_COMMON_DFSELECT, 1);
	if (!rc)
		rc = c_rd32(p, VH_PCI_COMMON_DF, &hi);
	if (rc)
		return rc;
	d->dev_features = (uint64_t)hi << 32 | lo;
	d->features = vblk_host_core_select_features(d, d->dev_features);
	if (!(d->features & VH_BIT(VH_F_VERSION_1)) && !d->opts.force_features) {
		add_status(d, VH_STATUS_FAILED);
		return -EOPNOTSUPP;
	}
	rc = c_wr32(p, VH_PCI_COMMON_GFSELECT, 0);
	if (!rc)
		rc = c_wr32(p, VH_PCI_COMMON_GF, (uint32_t)d->features);
	if (!rc)
		rc = c_wr32(p, VH_PCI_COMMON_GFSELECT, 1);
	if (!rc)
		rc = c_wr32(p, VH_PCI_COMMON_GF, (uint32_t)(d->features >> 32));
	if (!rc)
		rc = add_status(d, VH_STATUS_FEATURES_OK);
	uint8_t st = 0;
	if (!rc)
		rc = c_rd8(p, VH_PCI_COMMON_STATUS, &st);
	if (rc)
		return rc;
	if (!(st & VH_STATUS_FEATURES_OK)) {
		add_status(d, VH_STATUS_FAILED);
		return -ENOTSUP;
	}
	return 0;
}

/* ---- device configuration ---------------------------------------------------------------------- */

/* Fields of struct vh_blk_config with their natural widths (64-bit
 * capacity as two 32-bit halves). */
static const struct { uint8_t off, len; } cfg_fields[] = {
	{ 0, 4 }, { 4, 4 }, { 8, 4 }, { 12, 4 }, { 16, 2 }, { 18, 1 }, { 19, 1 }, { 20, 4 },
	{ 24, 1 }, { 25, 1 }, { 26, 2 }, { 28, 4 }, { 32, 1 }, { 33, 1 }, { 34, 2 }, { 36, 4 },
	{ 40, 4 }, { 44, 4 }, { 48, 4 }, { 52, 4 }, { 56, 1 }, { 57, 1 }, { 58, 1 }, { 59, 1 },
};

static int pci_read_config(struct vblk_host *d, struct vh_blk_config *cfg)
{
	struct vblk_pci *p = d->pci;

	for (int tries = 0; tries < 16; tries++) {
		uint8_t g1, g2, buf[sizeof(*cfg)] = { 0 };
		int rc = c_rd8(p, VH_PCI_COMMON_CFGGENERATION, &g1);
		for (size_t i = 0; !rc && i < sizeof(cfg_fields) / sizeof(cfg_fields[0]); i++) {
			if (cfg_fields[i].off + cfg_fields[i].len > p->device.length)
				break;	/* the device's structure is shorter: rest stays 0 */
			rc = s_read(p, &p->device, cfg_fields[i].off, buf + cfg_fields[i].off,
				    cfg_fields[i].len);
		}
		if (!rc)
			rc = c_rd8(p, VH_PCI_COMMON_CFGGENERATION, &g2);
		if (rc)
			return rc;
		if (g1 == g2) {
			memcpy(cfg, buf, sizeof(*cfg));
			return 0;
		}
	}
	return -EIO;	/* the configuration never held still */
}

/* ---- MSI-X -------------------------------------------------------------------------------------- */

static int msix_setup(struct vblk_host *d)
{
	struct vblk_pci *p = d->pci;
	struct vfu_msix_info mi;

	p->msix_on = false;
	p->config_vector = VH_PCI_MSI_NO_VECTOR;
	if (d->opts.irq == VBLK_HOST_IRQ_POLL)
		return 0;
	int rc = vfu_msix_info(p->c, &mi);
	if (rc == -ENOENT)
		return d->opts.irq == VBLK_HOST_IRQ_REQUIRED ? -EOPNOTSUPP : 0;
	if (rc)
		return rc;
	uint32_t n = mi.table_size;
	if (mi.irq_count < n)
		n = mi.irq_count;
	if (n > 1u + d->nq)
		n = 1u + d->nq;
	if (n == 0)
		return d->opts.irq == VBLK_HOST_IRQ_REQUIRED ? -EOPNOTSUPP : 0;

	p->efds = malloc(n * sizeof(int));
	if (!p->efds)
		return -ENOMEM;
	p->nvec = n;
	for (uint32_t i = 0; i < n; i++)
		p->efds[i] = -1;
	for (uint32_t i = 0; i < n; i++) {
		p->efds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (p->efds[i] < 0)
			return -errno;
	}
	/* As QEMU's vfio-pci: MSI-X Enable in config space and one eventfd
	 * per vector through SET_IRQS; the MSI-X table in the BAR belongs to
	 * the client (a VFIO user emulates it) and is never written. */
	rc = vfu_msix_enable(p->c, p->efds, n);
	if (rc)
		return rc;
	p->msix_on = true;
	/* Configuration changes get vector 0 only when every queue can have
	 * its own vector too. */
	if (n >= 1u + d->nq) {
		uint16_t v;
		rc = c_wr16(p, VH_PCI_COMMON_MSIX, 0);
		if (!rc)
			rc = c_rd16(p, VH_PCI_COMMON_MSIX, &v);
		if (!rc && v == 0)
			p->config_vector = 0;
	}
	return rc;
}

/* Vector for queue q: q + 1 after the config vector, or q without one. */
static uint16_t queue_vector(const struct vblk_host *d, uint16_t q)
{
	const struct vblk_pci *p = d->pci;
	uint32_t v = p->nvec >= 1u + d->nq ? q + 1u : q;
	return v < p->nvec ? (uint16_t)v : VH_PCI_MSI_NO_VECTOR;
}

static void msix_teardown(struct vblk_host *d)
{
	struct vblk_pci *p = d->pci;
	if (p->msix_on) {
		(void)vfu_msix_disable(p->c);
		p->msix_on = false;
	}
}

/* ---- queues -------------------------------------------------------------------------------------- */

static int pci_notify(struct vblk_host *d, struct vblk_queue *q)
{
	uint16_t v = q->index;
	/* A posted write: the ring stores before it were ordered by the
	 * release/full fences of the ring code, and sendmsg() follows them. */
	return s_write(d->pci, &d->pci->notify, (uint32_t)q->notify_off, &v, sizeof(v), true);
}

static uint16_t pow2_floor(uint16_t v)
{
	uint16_t r = 1;
	while ((uint32_t)r * 2 <= v)
		r = (uint16_t)(r * 2);
	return r;
}

static int queue_setup(struct vblk_host *d, uint16_t i)
{
	struct vblk_pci *p = d->pci;
	struct vblk_queue *q = &d->queues[i];
	uint16_t max, noff;

	int rc = c_wr16(p, VH_PCI_COMMON_Q_SELECT, i);
	if (!rc)
		rc = c_rd16(p, VH_PCI_COMMON_Q_SIZE, &max);
	if (rc)
		return rc;
	if (max == 0)
		return -ENODEV;		/* the queue is unavailable */
	uint16_t size = pow2_floor(max < d->opts.queue_size ? max : d->opts.queue_size);
	rc = c_wr16(p, VH_PCI_COMMON_Q_SIZE, size);
	if (!rc)
		rc = vblk_host_core_queue_init(d, i, size, 0);
	if (rc)
		return rc;

	uint16_t v = queue_vector(d, i), got = VH_PCI_MSI_NO_VECTOR;
	rc = c_wr16(p, VH_PCI_COMMON_Q_MSIX, v);
	if (!rc && v != VH_PCI_MSI_NO_VECTOR)
		rc = c_rd16(p, VH_PCI_COMMON_Q_MSIX, &got);
	if (rc)
		return rc;
	if (got != v || v == VH_PCI_MSI_NO_VECTOR) {
		/* no vector (mapping refused or none left): completions are polled */
		if (d->opts.irq == VBLK_HOST_IRQ_REQUIRED)
			return -EOPNOTSUPP;
		if (v != VH_PCI_MSI_NO_VECTOR)
			rc = c_wr16(p, VH_PCI_COMMON_Q_MSIX, VH_PCI_MSI_NO_VECTOR);
		vring_host_disable_cb(&q->vq);
	} else {
		q->msix_vector = v;
		q->irq_fd = p->efds[v];	/* the queue owns it from now on */
		p->efds[v] = -1;
	}
	if (!rc)
		rc = c_wr64(p, VH_PCI_COMMON_Q_DESCLO, q->vq.desc_addr);
	if (!rc)
		rc = c_wr64(p, VH_PCI_COMMON_Q_AVAILLO, q->vq.avail_addr);
	if (!rc)
		rc = c_wr64(p, VH_PCI_COMMON_Q_USEDLO, q->vq.used_addr);
	if (!rc)
		rc = c_rd16(p, VH_PCI_COMMON_Q_NOFF, &noff);
	if (rc)
		return rc;
	uint64_t off = (uint64_t)noff * p->notify_mult;
	if (off + 2 > p->notify.length)
		return -EPROTO;
	q->notify_off = off;
	rc = c_wr16(p, VH_PCI_COMMON_Q_ENABLE, 1);
	if (!rc)
		q->live = true;
	return rc;
}

/* ---- bring-up and teardown ------------------------------------------------------------------------ */

static int pci_enable(struct vfu_client *c)
{
	uint16_t cmd;
	int rc = vfu_cfg_read16(c, VH_PCI_COMMAND, &cmd);
	if (rc)
		return rc;
	cmd |= VH_PCI_CMD_MEM | VH_PCI_CMD_MASTER | VH_PCI_CMD_INTX_DISABLE;
	return vfu_cfg_write16(c, VH_PCI_COMMAND, cmd);
}

static int pci_bring_up(struct vblk_host *d, const char *path)
{
	struct vblk_pci *p = d->pci;
	int rc = vfu_connect(path, &p->c);
	if (rc)
		return rc;
	vfu_set_timeout(p->c, d->opts.ctrl_timeout_ms);
	for (uint32_t i = 0; i < d->nregions; i++) {
		const struct vblk_region *g = &d->regions[i];
		rc = vfu_dma_map(p->c, g->dev_addr, g->m->size, g->m->fd, 0,
				 VFU_PROT_READ | VFU_PROT_WRITE);
		if (rc)
			return rc;
		p->nmapped++;
	}
	rc = check_ids(p->c);
	if (!rc)
		rc = pci_enable(p->c);
	if (!rc)
		rc = find_caps(p);
	if (!rc)
		rc = pci_reset(d);
	if (!rc)
		rc = add_status(d, VH_STATUS_ACKNOWLEDGE);
	if (!rc)
		rc = add_status(d, VH_STATUS_DRIVER);
	if (!rc)
		rc = negotiate(d);
	if (!rc)
		rc = pci_read_config(d, &d->config);
	uint16_t numq = 0;
	if (!rc)
		rc = c_rd16(p, VH_PCI_COMMON_NUMQ, &numq);
	if (!rc)
		rc = vblk_host_core_limits(d, numq ? numq : 1);
	if (!rc)
		rc = msix_setup(d);
	for (uint16_t i = 0; !rc && i < d->nq; i++)
		rc = queue_setup(d, i);
	if (!rc)
		rc = add_status(d, VH_STATUS_DRIVER_OK);
	return rc;
}

static void pci_shutdown(struct vblk_host *d)
{
	struct vblk_pci *p = d->pci;
	if (!p)
		return;
	if (p->c) {
		if (p->common.found)
			pci_reset(d);
		msix_teardown(d);
		for (uint32_t i = 0; i < p->nmapped; i++)
			vfu_dma_unmap(p->c, d->regions[i].dev_addr, d->regions[i].m->size);
		vfu_close(p->c);
	}
	for (uint32_t i = 0; p->efds && i < p->nvec; i++) {
		if (p->efds[i] >= 0)
			close(p->efds[i]);
	}
	free(p->efds);
	pthread_mutex_destroy(&p->lock);
	free(p);
	d->pci = NULL;
}

int vblk_host_open_pci(const char *path, const struct vblk_host_opts *opts,
		       struct vblk_host **out)
{
	struct vblk_host *d;
	int rc = vblk_host_core_new(VBLK_TR_PCI, opts, &d);
	if (rc)
		return rc;
	d->pci = calloc(1, sizeof(*d->pci));
	if (!d->pci) {
		vblk_host_core_free(d);
		return -ENOMEM;
	}
	pthread_mutex_init(&d->pci->lock, NULL);
	d->pci->msix_on = false;
	d->notify = pci_notify;
	d->read_config = pci_read_config;
	d->device_status = pci_device_status;
	d->shutdown = pci_shutdown;
	rc = pci_bring_up(d, path);
	if (rc) {
		vblk_host_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

struct vfu_client *vblk_host_vfu(struct vblk_host *d)
{
	return d->pci ? d->pci->c : NULL;
}
