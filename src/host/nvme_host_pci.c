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
	int cap = vfu_cfg_find_cap(h->c, NVME_PCI_CAP_MSIX);
	if (cap < 0)
		return cap;
	uint16_t ctrl;
	uint32_t table;
	int rc = vfu_cfg_read16(h->c, (uint32_t)cap + NVME_MSIX_CTRL, &ctrl);
	if (!rc)
		rc = vfu_cfg_read32(h->c, (uint32_t)cap + NVME_MSIX_TABLE, &table);
	if (rc)
		return rc;
	struct vfu_irq_info ii;
	rc = vfu_get_irq_info(h->c, VFIO_PCI_MSIX_IRQ_INDEX, &ii);
	if (rc)
		return rc;
	uint32_t n = NVME_MSIX_CTRL_QSIZE(ctrl);
	if (ii.count < n)
		n = ii.count;
	if (want < n)
		n = want;
	if (n == 0)
		return -ENODEV;
	uint32_t bir = table & 0x7u, toff = table & ~0x7u;
	if (bir > VFIO_PCI_BAR5_REGION_INDEX)
		return -EPROTO;

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
	/* Enable MSI-X with every vector masked while the table is set up. */
	ctrl |= NVME_MSIX_CTRL_ENABLE | NVME_MSIX_CTRL_MASKALL;
	rc = vfu_cfg_write16(h->c, (uint32_t)cap + NVME_MSIX_CTRL, ctrl);
	if (rc)
		goto fail;
	rc = vfu_set_irqs(h->c, VFIO_PCI_MSIX_IRQ_INDEX,
			  VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, n, h->efds, NULL);
	if (rc)
		goto fail_disable;
	for (uint32_t i = 0; i < n; i++) {
		/* Message address/data are meaningless over vfio-user (the
		 * eventfd is the interrupt) but a real driver writes them. */
		uint32_t e[4] = { 0xfee00000u, 0, i, 0 /* vector control: unmasked */ };
		rc = vfu_region_write(h->c, bir, toff + i * NVME_MSIX_ENTRY_SIZE, e, sizeof(e), false);
		if (rc)
			goto fail_irqs;
	}
	ctrl &= (uint16_t)~NVME_MSIX_CTRL_MASKALL;
	rc = vfu_cfg_write16(h->c, (uint32_t)cap + NVME_MSIX_CTRL, ctrl);
	if (rc)
		goto fail_irqs;
	return 0;
fail_irqs:
	vfu_set_irqs(h->c, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		     0, 0, NULL, NULL);
fail_disable:
	ctrl &= (uint16_t)~(NVME_MSIX_CTRL_ENABLE | NVME_MSIX_CTRL_MASKALL);
	vfu_cfg_write16(h->c, (uint32_t)cap + NVME_MSIX_CTRL, ctrl);
fail:
	nvme_host_msix_close_fds(h);
	return rc;
}

void nvme_host_msix_teardown(struct nvme_host *h)
{
	if (!h->nvec)
		return;
	vfu_set_irqs(h->c, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		     0, 0, NULL, NULL);
	int cap = vfu_cfg_find_cap(h->c, NVME_PCI_CAP_MSIX);
	uint16_t ctrl;
	if (cap > 0 && vfu_cfg_read16(h->c, (uint32_t)cap + NVME_MSIX_CTRL, &ctrl) == 0) {
		ctrl &= (uint16_t)~NVME_MSIX_CTRL_ENABLE;
		vfu_cfg_write16(h->c, (uint32_t)cap + NVME_MSIX_CTRL, ctrl);
	}
	nvme_host_msix_close_fds(h);
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
