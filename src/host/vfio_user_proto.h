/* vfio-user wire format, client view.
 *
 * Written from QEMU's docs/interop/vfio-user.rst (current command numbering)
 * and <linux/vfio.h>; deliberately independent of the server in src/emu so
 * that the two sides cannot share a misreading of the specification.
 *
 * Every structure is the exact on-wire layout: packed, host byte order
 * (vfio-user is host-endian; only PCI config space contents are little
 * endian). Flag and index constants come from <linux/vfio.h>
 * (VFIO_REGION_INFO_FLAG_*, VFIO_IRQ_SET_*, VFIO_PCI_*_INDEX, ...). */
#ifndef OSNAP_HOST_VFIO_USER_PROTO_H
#define OSNAP_HOST_VFIO_USER_PROTO_H

#include <stdint.h>
#include <linux/vfio.h>

/* Protocol version this client proposes (QEMU's client proposes 0.0 too). */
#define VFU_PROTO_MAJOR 0
#define VFU_PROTO_MINOR 0

/* Commands. */
enum vfu_command {
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

/* Header flags. */
#define VFU_F_TYPE_MASK		0x0fu
#define VFU_F_TYPE_COMMAND	0x00u
#define VFU_F_TYPE_REPLY	0x01u
#define VFU_F_NO_REPLY		0x10u
#define VFU_F_ERROR		0x20u

/* Common header of every message. */
struct vfu_msg_hdr {
	uint16_t msg_id;
	uint16_t command;
	uint32_t msg_size;	/* whole message, header included */
	uint32_t flags;
	uint32_t error;		/* errno, replies with VFU_F_ERROR only */
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_hdr) == 16, "vfio-user header");

/* VERSION request and reply; a NUL-terminated JSON object follows. */
struct vfu_msg_version {
	uint16_t major;
	uint16_t minor;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_version) == 4, "VERSION payload");

/* DMA_MAP request (reply has no payload). One fd rides along when the
 * memory is mappable. */
#define VFU_DMA_FLAG_READ	0x1u
#define VFU_DMA_FLAG_WRITE	0x2u
struct vfu_msg_dma_map {
	uint32_t argsz;		/* sizeof this structure */
	uint32_t flags;
	uint64_t offset;	/* file offset for the fd, 0 without fd */
	uint64_t address;
	uint64_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_dma_map) == 32, "DMA_MAP payload");

/* DMA_UNMAP request; the reply may echo it. */
struct vfu_msg_dma_unmap {
	uint32_t argsz;		/* maximum reply payload */
	uint32_t flags;
	uint64_t address;
	uint64_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_dma_unmap) == 24, "DMA_UNMAP payload");

/* DEVICE_GET_INFO request and reply. */
struct vfu_msg_device_info {
	uint32_t argsz;
	uint32_t flags;		/* VFIO_DEVICE_FLAGS_RESET, VFIO_DEVICE_FLAGS_PCI */
	uint32_t num_regions;
	uint32_t num_irqs;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_device_info) == 16, "DEVICE_GET_INFO payload");

/* DEVICE_GET_REGION_INFO request and reply; capabilities follow in the
 * reply at cap_offset (relative to the start of this structure). */
struct vfu_msg_region_info {
	uint32_t argsz;
	uint32_t flags;		/* VFIO_REGION_INFO_FLAG_* */
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;	/* mmap offset for the region's fd */
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_region_info) == 32, "DEVICE_GET_REGION_INFO payload");

/* Capability header inside a region info reply. */
struct vfu_msg_cap_hdr {
	uint16_t id;		/* VFIO_REGION_INFO_CAP_* */
	uint16_t version;
	uint32_t next;		/* offset from the region info start, 0 = last */
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_cap_hdr) == 8, "capability header");

/* VFIO_REGION_INFO_CAP_SPARSE_MMAP body, after the capability header. */
struct vfu_msg_sparse_mmap {
	uint32_t nr_areas;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_sparse_mmap) == 8, "sparse mmap capability");

struct vfu_msg_sparse_area {
	uint64_t offset;	/* relative to the region */
	uint64_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_sparse_area) == 16, "sparse mmap area");

/* DEVICE_GET_REGION_IO_FDS request (reply: same fields, then sub-regions). */
struct vfu_msg_region_io_fds {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t count;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_region_io_fds) == 16, "DEVICE_GET_REGION_IO_FDS payload");

/* DEVICE_GET_IRQ_INFO request and reply. */
struct vfu_msg_irq_info {
	uint32_t argsz;
	uint32_t flags;		/* VFIO_IRQ_INFO_* */
	uint32_t index;
	uint32_t count;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_irq_info) == 16, "DEVICE_GET_IRQ_INFO payload");

/* DEVICE_SET_IRQS request; bools (DATA_BOOL) follow, eventfds travel as
 * SCM_RIGHTS (DATA_EVENTFD). The reply has no payload. */
struct vfu_msg_irq_set {
	uint32_t argsz;		/* this structure plus data */
	uint32_t flags;		/* VFIO_IRQ_SET_DATA_* | VFIO_IRQ_SET_ACTION_* */
	uint32_t index;
	uint32_t start;
	uint32_t count;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_irq_set) == 20, "DEVICE_SET_IRQS payload");

/* REGION_READ / REGION_WRITE header; data follows in the read reply and
 * in the write request. */
struct vfu_msg_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_region_access) == 16, "REGION_READ/WRITE payload");

/* DMA_READ / DMA_WRITE (server to client) header. */
struct vfu_msg_dma_access {
	uint64_t address;
	uint64_t count;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_dma_access) == 16, "DMA_READ/WRITE payload");

/* REGION_WRITE_MULTI: u64 wr_cnt, then wr_cnt entries; reply: u64 wr_cnt. */
#define VFU_WRITE_MULTI_MAX	64
#define VFU_WRITE_MULTI_DATA	8
struct vfu_msg_write_multi_entry {
	uint64_t offset;
	uint32_t region;
	uint32_t count;		/* 1..8 */
	uint8_t data[VFU_WRITE_MULTI_DATA];
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_write_multi_entry) == 24, "REGION_WRITE_MULTI entry");

struct vfu_msg_write_multi {
	uint64_t wr_cnt;
} __attribute__((packed));
_Static_assert(sizeof(struct vfu_msg_write_multi) == 8, "REGION_WRITE_MULTI header");

#endif
