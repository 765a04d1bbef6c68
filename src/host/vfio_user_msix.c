/* vfio-user client: MSI-X driven as a VFIO user drives it (QEMU's vfio-pci
 * and vfio-user-pci): eventfds and per-vector masks through SET_IRQS, MSI-X
 * Enable and Function Mask through config space, the table in the BAR never
 * written. Uses only the public client API. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>

#include "host/vfio_user_client.h"

#define PCI_CAP_ID_MSIX		0x11
#define MSIX_CTRL		2	/* Message Control, u16 */
#define MSIX_TABLE		4	/* Table Offset / BIR, u32 */
#define MSIX_PBA		8	/* PBA Offset / BIR, u32 */
#define MSIX_CTRL_QSIZE		0x07ffu
#define MSIX_CTRL_MASKALL	0x4000u
#define MSIX_CTRL_ENABLE	0x8000u
#define MSIX_BIR_MAX		5

int vfu_msix_info(struct vfu_client *c, struct vfu_msix_info *mi)
{
	uint32_t table, pba;
	struct vfu_irq_info ii;

	int cap = vfu_cfg_find_cap(c, PCI_CAP_ID_MSIX);
	if (cap < 0)
		return cap;
	int rc = vfu_cfg_read16(c, (uint32_t)cap + MSIX_CTRL, &mi->ctrl);
	if (!rc)
		rc = vfu_cfg_read32(c, (uint32_t)cap + MSIX_TABLE, &table);
	if (!rc)
		rc = vfu_cfg_read32(c, (uint32_t)cap + MSIX_PBA, &pba);
	if (!rc)
		rc = vfu_get_irq_info(c, VFIO_PCI_MSIX_IRQ_INDEX, &ii);
	if (rc)
		return rc;
	mi->cap = cap;
	mi->table_size = (mi->ctrl & MSIX_CTRL_QSIZE) + 1u;
	mi->table_bar = table & 7u;
	mi->table_off = table & ~7u;
	mi->pba_bar = pba & 7u;
	mi->pba_off = pba & ~7u;
	mi->irq_count = ii.count;
	mi->irq_flags = ii.flags;
	if (mi->table_bar > MSIX_BIR_MAX || mi->pba_bar > MSIX_BIR_MAX)
		return -EPROTO;
	return 0;
}

/* Message Control = (old & ~clear) | set. */
static int ctrl_update(struct vfu_client *c, int cap, uint16_t clear, uint16_t set)
{
	uint16_t ctrl;
	int rc = vfu_cfg_read16(c, (uint32_t)cap + MSIX_CTRL, &ctrl);
	if (rc)
		return rc;
	ctrl = (uint16_t)((ctrl & ~clear) | set);
	return vfu_cfg_write16(c, (uint32_t)cap + MSIX_CTRL, ctrl);
}

int vfu_msix_enable(struct vfu_client *c, const int *fds, uint32_t n)
{
	struct vfu_msix_info mi;
	int rc = vfu_msix_info(c, &mi);
	if (rc)
		return rc;
	if (!fds || n == 0 || n > mi.table_size || n > mi.irq_count)
		return -EINVAL;
	const uint32_t trig = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	rc = ctrl_update(c, mi.cap, 0, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	if (!rc) {
		const int none = -1;
		rc = vfu_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 1, &none, NULL);
	}
	if (!rc)
		rc = vfu_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, n, fds, NULL);
	if (!rc)
		rc = ctrl_update(c, mi.cap, MSIX_CTRL_MASKALL, 0);
	if (rc)
		(void)vfu_msix_disable(c);
	return rc;
}

int vfu_msix_disable(struct vfu_client *c)
{
	int rc = vfu_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX,
			      VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL, NULL);
	int cap = vfu_cfg_find_cap(c, PCI_CAP_ID_MSIX);
	int rc2 = cap < 0 ? cap : ctrl_update(c, cap, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL, 0);
	return rc ? rc : rc2;
}

int vfu_msix_mask(struct vfu_client *c, uint32_t start, uint32_t count, bool mask)
{
	if (count == 0)
		return -EINVAL;
	uint32_t action = mask ? VFIO_IRQ_SET_ACTION_MASK : VFIO_IRQ_SET_ACTION_UNMASK;
	return vfu_set_irqs(c, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | action, start, count,
			    NULL, NULL);
}

int vfu_msix_function_mask(struct vfu_client *c, bool mask)
{
	int cap = vfu_cfg_find_cap(c, PCI_CAP_ID_MSIX);
	if (cap < 0)
		return cap;
	return ctrl_update(c, cap, mask ? 0 : MSIX_CTRL_MASKALL, mask ? MSIX_CTRL_MASKALL : 0);
}

int vfu_msix_pending(struct vfu_client *c, uint32_t v, bool *pending)
{
	struct vfu_msix_info mi;
	uint64_t le;

	*pending = false;
	int rc = vfu_msix_info(c, &mi);
	if (rc)
		return rc;
	if (v >= mi.table_size)
		return -EINVAL;
	rc = vfu_region_read(c, mi.pba_bar, mi.pba_off + (uint64_t)(v / 64) * 8, &le, sizeof(le));
	if (!rc)
		*pending = (le64toh(le) >> (v % 64)) & 1;
	return rc;
}
