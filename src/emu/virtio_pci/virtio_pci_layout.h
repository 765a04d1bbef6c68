/* The virtio-pci (modern) face of an emulated virtio function: its PCI
 * identity, taken from the virtio device type, and the vendor capabilities
 * that place the virtio structures in the capability BAR. emu_function.c
 * builds the function's config space with it; virtio_pci.c serves the BAR
 * at these offsets. */
#ifndef OSNAP_VIRTIO_PCI_LAYOUT_H
#define OSNAP_VIRTIO_PCI_LAYOUT_H

#include <stdint.h>

#include "emu/emu.h"
#include "emu/pci_config.h"

#define VIRTIO_PCI_CAP_BAR	EMU_VBLK_CAP_BAR
#define VIRTIO_PCI_CAP_BAR_SIZE	EMU_VBLK_CAP_BAR_SIZE
/* where each structure lives in the capability BAR (0x1000 bytes each) */
#define VIRTIO_PCI_COMMON_OFF	0x0000
#define VIRTIO_PCI_ISR_OFF	0x1000
#define VIRTIO_PCI_DEVICE_OFF	0x2000
#define VIRTIO_PCI_NOTIFY_OFF	0x3000
#define VIRTIO_PCI_STRUCT_SIZE	0x1000
/* queue n is notified at NOTIFY_OFF + n * NOTIFY_MULT */
#define VIRTIO_PCI_NOTIFY_MULT	4

/* The virtio device type an emulation type presents (VIRTIO_ID_BLOCK). */
uint32_t virtio_pci_device_type(enum emu_type t);

/* Fill d's identity (vendor 0x1af4, device 0x1040 + type, class), the
 * capability BAR and the four virtio capabilities pointing into it. */
void virtio_pci_describe(struct pci_cfg_desc *d, uint32_t virtio_id);

#endif
