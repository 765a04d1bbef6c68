/* PCI side of the host NVMe driver over vfio-user: config space (command
 * register, MSI-X capability and table), BAR0 register access and the
 * doorbell page (mapped or trapped). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/vfio.h>

#include "host/nvme_host_pci.h"
#include "host/nvme_host_priv.h"
#include "host/vfio_user_client.h"

#define BAR0	VFIO_PCI_BAR0_REGION_INDEX

/* ---- registers ------------------------------------------------------------------------ */

int nvme_host_reg_read32(struct nvme_host *h, uint32_t off, uint32_t *val)
{
	pthread_mutex_lock(&h->vfu_lock);
	int rc = vfu_region_read(h->c, BAR0, off, val, sizeof(*val));
	pthread_mutex_unlock(&h->vfu_lock);
	return rc;
}

int nvme_host_reg_write32(struct nvme_host *h, uint32_t off, uint32_t val)
{
	pthread_mutex_lock(&h->vfu_lock);
	int rc = vfu_region_write(h->c, BAR0, off, &val, sizeof(val), false);
	pthread_mutex_unlock(&h->vfu_lock);
	return rc;
}

int nvme_host_reg_read64(struct nvme_host *h, uint32_t off, uint64_t *val)
{
	uint32_t lo, hi;
	int rc = nvme_host_reg_read32(h, off, &lo);

	if (!rc)
		rc = nvme_host_reg_read32(h, off + 4, &hi);
	if (!rc)
		*val = (uint64_t)hi << 32 | lo;
	return rc;
}

int nvme_host_reg_write64(struct nvme_host *h, uint32_t off, uint64_t val)
{
	int rc = nvme_host_reg_write32(h, off, (uint32_t)val);

	return rc ? rc : nvme_host_reg_write32(h, off + 4, (uint32_t)(val >> 32));
}

int nvme_host_db_write(struct nvme_host *h, uint32_t off, uint32_t val)
{
	if (h->dbs) {
		/* release: everything written to guest memory before (SQEs, or
		 * our reading of CQEs) is ordered before the doorbell store the
		 * controller polls. */
		__atomic_store_n((uint32_t *)(void *)(h->dbs + (off - NVME_REG_DBS)), val,
				 __ATOMIC_RELEASE);
		return 0;
	}
	/* release: the SQEs in guest memory are written before the message
	 * that announces them is sent (sendmsg is a barrier too). */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	pthread_mutex_lock(&h->vfu_lock);
	int rc = vfu_region_write(h->c, BAR0, off, &val, sizeof(val), true);
	pthread_mutex_unlock(&h->vfu_lock);
	return rc;
}

/* ---- config space ------------------------------------------------------------------------ */

int nvme_host_pci_enable(struct nvme_host *h)
{
	uint16_t cmd;
	int rc = vfu_cfg_read16(h->c, NVME_PCI_COMMAND, &cmd);

	if (rc)
		return rc;
	cmd |= NVME_PCI_CMD_MEM | NVME_PCI_CMD_MASTER | NVME_PCI_CMD_INTX_DISABLE;
	return vfu_cfg_write16(h->c, NVME_PCI_COMMAND, cmd);
}

int nvme_host_bar0_probe(struct nvme_host *h)
{
	struct vfu_region_info info;
	int rc = vfu_get_region_info(h->c, BAR0, &info, NULL, 0, NULL);

	if (rc)
		return rc;
	if (info.size < NVME_REG_DBS + 8)
		return -EPROTO;		/* no room for the admin doorbells */
	h->bar0_size = info.size;
	return 0;
}

/* True when one sparse area (or the whole mappable region) covers
 * [off, off + len) of BAR0. */
static int doorbells_mappable(struct nvme_host *h, uint64_t off, uint64_t len)
{
	struct vfu_region_info info;
	struct vfu_sparse_area areas[16];
	int rc = vfu_get_region_info(h->c, BAR0, &info, areas, 16, NULL);

	if (rc)
		return rc;
	if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP) ||
	    !(info.flags & VFIO_REGION_INFO_FLAG_WRITE) || off + len > info.size)
		return 0;
	if (!info.sparse)
		return 1;
	uint32_t n = info.nr_areas < 16 ? info.nr_areas : 16;
	for (uint32_t i = 0; i < n; i++) {
		if (areas[i].offset <= off && areas[i].offset + areas[i].size >= off + len)
			return 1;
	}
	return 0;
}

int nvme_host_doorbells_setup(struct nvme_host *h, uint16_t max_qid)
{
	h->dbs = NULL;
	if (h->opts.doorbells == NVME_HOST_DB_TRAP)
		return 0;
	uint64_t span = (uint64_t)(2u * max_qid + 2u) * (4u << h->dstrd);
	int ok = doorbells_mappable(h, NVME_REG_DBS, span);
	if (ok < 0)
		return ok;
	if (!ok)
		return h->opts.doorbells == NVME_HOST_DB_MMAP ? -EOPNOTSUPP : 0;
	void *base;
	int rc = vfu_map_region(h->c, BAR0, &base);
	if (rc)
		return h->opts.doorbells == NVME_HOST_DB_MMAP ? rc : 0;
	h->dbs = (uint8_t *)base + NVME_REG_DBS;
	return 0;
}

bool nvme_host_doorbells_mmapped(const struct nvme_host *h)
{
	return h->dbs != NULL;
}

/* ---- MSI-X ----------------------------------------------------------------------------------- */

int nvme_host_msix_setup(struct nvme_host *h, uint16_t want)
{
	struct vfu_msix_info mi;
	int rc = vfu_msix_info(h->c, &mi);
	if (rc)
		return rc;
	uint32_t n = mi.table_size;
	if (mi.irq_count < n)
		n = mi.irq_count;
	if (want < n)
		n = want;
	if (n == 0)
		return -ENODEV;

	h->efds = malloc(n * sizeof(int));
	if (!h->efds)
		return -ENOMEM;
	for (uint32_t i = 0; i < n; i++)
		h->efds[i] = -1;
	h->nvec = (uint16_t)n;
	for (uint32_t i = 0; i < n; i++) {
		h->efds[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (h->efds[i] < 0) {
			rc = -errno;
			goto fail;
		}
	}
	/* As QEMU's vfio-pci: config-space enable, eventfds through SET_IRQS;
	 * the MSI-X table in BAR4 is the client's business and never written
	 * (a VFIO client emulates it), so nothing here relies on it. */
	rc = vfu_msix_enable(h->c, h->efds, n);
	if (rc)
		goto fail;
	h->msix_maskable = mi.irq_flags & VFIO_IRQ_INFO_MASKABLE;
	return 0;
fail:
	nvme_host_msix_close_fds(h);
	return rc;
}

void nvme_host_msix_teardown(struct nvme_host *h)
{
	if (!h->nvec)
		return;
	(void)vfu_msix_disable(h->c);
	nvme_host_msix_close_fds(h);
}

int nvme_host_irq_mask(struct nvme_host *h, uint16_t qid, bool mask)
{
	const struct nvme_host_queue *q = nvme_host_queue(h, qid);

	if (!q || !q->irq)
		return -EINVAL;
	if (!h->msix_maskable)
		return -EOPNOTSUPP;
	pthread_mutex_lock(&h->vfu_lock);
	int rc = vfu_msix_mask(h->c, q->vector, 1, mask);
	pthread_mutex_unlock(&h->vfu_lock);
	return rc;
}

void nvme_host_msix_close_fds(struct nvme_host *h)
{
	for (uint16_t i = 0; h->efds && i < h->nvec; i++) {
		if (h->efds[i] >= 0)
			close(h->efds[i]);
	}
	free(h->efds);
	h->efds = NULL;
	h->nvec = 0;
}
