/* See virtio_pci_layout.h. */
#include "virtio_pci_layout.h"
#include "emu/virtio_spec.h"

#include <string.h>

#define PCI_VENDOR_REDHAT_VIRTIO 0x1af4
#define VIRTIO_PCI_MODERN_DEVICE_BASE 0x1040	/* device id: 0x1040 + device type */

/* virtio_pci_cap cfg_type values */
enum { CAP_COMMON = 1, CAP_NOTIFY = 2, CAP_ISR = 3, CAP_DEVICE = 4 };

uint32_t virtio_pci_device_type(enum emu_type t)
{
	return t == EMU_TYPE_VBLK ? VIRTIO_ID_BLOCK : 0;
}

static void virtio_cap(struct pci_cfg_desc *d, uint8_t cfg_type, uint32_t off, uint32_t len,
		       int extra)
{
	struct pci_vendor_cap *c = &d->vendor_caps[d->num_vendor_caps++];
	/* struct virtio_pci_cap after the id/next bytes: cap_len, cfg_type,
	 * bar, id, padding[2], offset, length (+ notify_off_multiplier) */
	uint8_t caplen = (uint8_t)(16 + (extra ? 4 : 0));
	memset(c->data, 0, sizeof(c->data));
	c->len = (uint8_t)(caplen - 2);
	c->data[0] = caplen;
	c->data[1] = cfg_type;
	c->data[2] = VIRTIO_PCI_CAP_BAR;
	memcpy(&c->data[6], &off, 4);
	memcpy(&c->data[10], &len, 4);
	if (extra) {
		uint32_t mult = VIRTIO_PCI_NOTIFY_MULT;
		memcpy(&c->data[14], &mult, 4);
	}
}

void virtio_pci_describe(struct pci_cfg_desc *d, uint32_t virtio_id)
{
	d->vendor_id = PCI_VENDOR_REDHAT_VIRTIO;
	d->device_id = (uint16_t)(VIRTIO_PCI_MODERN_DEVICE_BASE + virtio_id);
	d->subsys_vendor_id = PCI_VENDOR_REDHAT_VIRTIO;
	d->subsys_id = (uint16_t)virtio_id;
	d->revision = 1;
	/* mass storage, other (what QEMU's virtio-blk-pci shows) */
	d->class_code = virtio_id == VIRTIO_ID_BLOCK ? 0x018000 : 0xff0000;
	d->bar_size[VIRTIO_PCI_CAP_BAR] = VIRTIO_PCI_CAP_BAR_SIZE;
	d->bar_64[VIRTIO_PCI_CAP_BAR] = true;
	d->bar_prefetch[VIRTIO_PCI_CAP_BAR] = true;
	virtio_cap(d, CAP_COMMON, VIRTIO_PCI_COMMON_OFF, VIRTIO_PCI_STRUCT_SIZE, 0);
	virtio_cap(d, CAP_NOTIFY, VIRTIO_PCI_NOTIFY_OFF, VIRTIO_PCI_STRUCT_SIZE, 1);
	virtio_cap(d, CAP_ISR, VIRTIO_PCI_ISR_OFF, VIRTIO_PCI_STRUCT_SIZE, 0);
	virtio_cap(d, CAP_DEVICE, VIRTIO_PCI_DEVICE_OFF, VIRTIO_PCI_STRUCT_SIZE, 0);
}
