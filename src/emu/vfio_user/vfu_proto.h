/* vfio-user wire format, server side (QEMU docs/interop/vfio-user.rst,
 * current numbering). Host byte order, packed. */
#ifndef OSNAP_VFU_PROTO_H
#define OSNAP_VFU_PROTO_H

#include <stdint.h>

enum vfu_cmd {
	VFU_CMD_VERSION = 1,
	VFU_CMD_DMA_MAP = 2,
	VFU_CMD_DMA_UNMAP = 3,
	VFU_CMD_DEVICE_GET_INFO = 4,
	VFU_CMD_DEVICE_GET_REGION_INFO = 5,
	VFU_CMD_DEVICE_GET_REGION_IO_FDS = 6,
	VFU_CMD_DEVICE_GET_IRQ_INFO = 7,
	VFU_CMD_DEVICE_SET_IRQS = 8,
	VFU_CMD_REGION_READ = 9,
	VFU_CMD_REGION_WRITE = 10,
	VFU_CMD_DMA_READ = 11,
	VFU_CMD_DMA_WRITE = 12,
	VFU_CMD_DEVICE_RESET = 13,
	VFU_CMD_REGION_WRITE_MULTI = 15,
	VFU_CMD_DEVICE_FEATURE = 16,
	VFU_CMD_MIG_DATA_READ = 17,
	VFU_CMD_MIG_DATA_WRITE = 18,
};

#define VFU_F_TYPE_MASK		0xfu
#define VFU_F_TYPE_COMMAND	0x0u
#define VFU_F_TYPE_REPLY	0x1u
#define VFU_F_NO_REPLY		0x10u
#define VFU_F_ERROR		0x20u

struct vfu_hdr {
	uint16_t msg_id;
	uint16_t cmd;
	uint32_t size;		/* whole message, header included */
	uint32_t flags;
	uint32_t error;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_hdr) == 16, "vfio-user header");

struct vfu_version {
	uint16_t major, minor;
	char data[];		/* optional NUL-terminated JSON */
} __attribute__((packed));

#define VFU_DMA_READ_FLAG	0x1u
#define VFU_DMA_WRITE_FLAG	0x2u

struct vfu_dma_map {
	uint32_t argsz, flags;
	uint64_t offset, addr, size;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_dma_map) == 32, "dma map");

struct vfu_dma_unmap {
	uint32_t argsz, flags;
	uint64_t addr, size;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_dma_unmap) == 24, "dma unmap");
#define VFU_DMA_UNMAP_GET_DIRTY_BITMAP	0x1u
#define VFU_DMA_UNMAP_ALL		0x2u	/* every region; addr and size 0 */

#define VFU_DEV_FLAG_RESET 0x1u
#define VFU_DEV_FLAG_PCI 0x2u

struct vfu_device_info {
	uint32_t argsz, flags, num_regions, num_irqs;
} __attribute__((packed));

#define VFU_REGION_FLAG_READ 0x1u
#define VFU_REGION_FLAG_WRITE 0x2u
#define VFU_REGION_FLAG_MMAP 0x4u
#define VFU_REGION_FLAG_CAPS 0x8u
#define VFU_REGION_CAP_SPARSE_MMAP 1

struct vfu_region_info {
	uint32_t argsz, flags, index, cap_offset;
	uint64_t size, offset;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_region_info) == 32, "region info");

struct vfu_cap_header {
	uint16_t id, version;
	uint32_t next;
} __attribute__((packed));

struct vfu_sparse_mmap {
	struct vfu_cap_header hdr;
	uint32_t nr_areas, reserved;
	struct {
		uint64_t offset, size;
	} areas[];
} __attribute__((packed));

#define VFU_IRQ_INFO_EVENTFD 0x1u
#define VFU_IRQ_INFO_MASKABLE 0x2u
#define VFU_IRQ_INFO_NORESIZE 0x8u

struct vfu_irq_info {
	uint32_t argsz, flags, index, count;
} __attribute__((packed));

#define VFU_IRQ_INDEX_INTX 0
#define VFU_IRQ_INDEX_MSI 1
#define VFU_IRQ_INDEX_MSIX 2
#define VFU_IRQ_INDEX_ERR 3	/* error notification (QEMU: pci_aer when count is 1) */
#define VFU_IRQ_INDEX_REQ 4	/* the device asks the client to release it */
#define VFU_NUM_IRQS 5

#define VFU_IRQ_DATA_NONE 0x1u
#define VFU_IRQ_DATA_BOOL 0x2u
#define VFU_IRQ_DATA_EVENTFD 0x4u
#define VFU_IRQ_ACTION_MASK 0x8u
#define VFU_IRQ_ACTION_UNMASK 0x10u
#define VFU_IRQ_ACTION_TRIGGER 0x20u
#define VFU_IRQ_DATA_MASK 0x7u
#define VFU_IRQ_ACTION_MASKS 0x38u

struct vfu_irq_set {
	uint32_t argsz, flags, index, start, count;
	uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_irq_set) == 20, "irq set");

struct vfu_region_access {
	uint64_t offset;
	uint32_t region, count;
	uint8_t data[];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_region_access) == 16, "region access");

#define VFU_WRITE_MULTI_MAX 64
struct vfu_write_one {
	uint64_t offset;
	uint32_t region, count;
	uint8_t data[8];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_write_one) == 24, "write multi entry");

#endif
