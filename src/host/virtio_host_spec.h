/* Virtio 1.2 definitions for the client side (src/host): split virtqueues
 * (spec 2.7), virtio-blk (5.2) and the modern virtio-pci transport (4.1).
 *
 * Written from the virtio 1.2 specification only; deliberately independent
 * of the device side (src/virtio_blk, src/emu) so that the two cannot share
 * a misreading. Every structure is the exact layout in guest memory or in a
 * BAR, checked with _Static_assert.
 *
 * Byte order: virtio 1.x structures are little endian. This client stores
 * them in host order and therefore only builds on little-endian hosts (the
 * assertion below); vhost-user messages are host order by definition. */
#ifndef OSNAP_HOST_VIRTIO_HOST_SPEC_H
#define OSNAP_HOST_VIRTIO_HOST_SPEC_H

#include <stddef.h>
#include <stdint.h>

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "virtio structures are little endian and stored natively here");

#define VH_BIT(n)	(1ull << (n))

/* ---- device-independent feature bits (spec 6) ---------------------------------------- */

#define VH_F_RING_INDIRECT_DESC	28
#define VH_F_RING_EVENT_IDX	29
#define VH_F_VERSION_1		32
#define VH_F_ACCESS_PLATFORM	33
#define VH_F_RING_PACKED	34
#define VH_F_IN_ORDER		35
#define VH_F_ORDER_PLATFORM	36
#define VH_F_SR_IOV		37
#define VH_F_NOTIFICATION_DATA	38
#define VH_F_NOTIF_CONFIG_DATA	39
#define VH_F_RING_RESET		40

/* ---- device status (spec 2.1) ---------------------------------------------------------- */

#define VH_STATUS_ACKNOWLEDGE		0x01u
#define VH_STATUS_DRIVER		0x02u
#define VH_STATUS_DRIVER_OK		0x04u
#define VH_STATUS_FEATURES_OK		0x08u
#define VH_STATUS_DEVICE_NEEDS_RESET	0x40u
#define VH_STATUS_FAILED		0x80u

/* ---- split virtqueue (spec 2.7) -------------------------------------------------------- */

#define VH_QUEUE_SIZE_MAX	32768u	/* split rings: a power of 2, at most this */

#define VH_DESC_F_NEXT		0x1u
#define VH_DESC_F_WRITE		0x2u
#define VH_DESC_F_INDIRECT	0x4u

#define VH_AVAIL_F_NO_INTERRUPT	0x1u	/* driver -> device, without EVENT_IDX */
#define VH_USED_F_NO_NOTIFY	0x1u	/* device -> driver, without EVENT_IDX */

/* Descriptor table entry (alignment of the table: 16). */
struct vh_desc {
	uint64_t addr;		/* guest-physical (vhost-user) or IOVA (vfio-user) */
	uint32_t len;
	uint16_t flags;		/* VH_DESC_F_* */
	uint16_t next;		/* valid with VH_DESC_F_NEXT */
};
_Static_assert(sizeof(struct vh_desc) == 16, "virtq_desc");
_Static_assert(offsetof(struct vh_desc, len) == 8, "virtq_desc.len");
_Static_assert(offsetof(struct vh_desc, flags) == 12, "virtq_desc.flags");
_Static_assert(offsetof(struct vh_desc, next) == 14, "virtq_desc.next");

/* Available ring (alignment 2): flags, idx, ring[num], then used_event
 * (only meaningful with EVENT_IDX). Size 6 + 2 * num. */
struct vh_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* ring[num] is used_event */
};
_Static_assert(sizeof(struct vh_avail) == 4, "virtq_avail header");

struct vh_used_elem {
	uint32_t id;		/* head of the used descriptor chain */
	uint32_t len;		/* bytes written into device-writable buffers */
};
_Static_assert(sizeof(struct vh_used_elem) == 8, "virtq_used_elem");

/* Used ring (alignment 4): flags, idx, ring[num], then avail_event as a
 * u16 right after the last element. Size 6 + 8 * num. */
struct vh_used {
	uint16_t flags;
	uint16_t idx;
	struct vh_used_elem ring[];
};
_Static_assert(sizeof(struct vh_used) == 4, "virtq_used header");
_Static_assert(offsetof(struct vh_used, ring) == 4, "virtq_used.ring");

#define VH_DESC_ALIGN	16u
#define VH_AVAIL_ALIGN	2u
#define VH_USED_ALIGN	4u

static inline size_t vh_desc_size(uint32_t num)
{
	return (size_t)16 * num;
}

static inline size_t vh_avail_size(uint32_t num)
{
	return 6 + (size_t)2 * num;
}

static inline size_t vh_used_size(uint32_t num)
{
	return 6 + (size_t)8 * num;
}

/* ---- virtio-blk (spec 5.2) ------------------------------------------------------------- */

#define VH_BLK_DEVICE_ID	2

#define VH_BLK_F_SIZE_MAX	1
#define VH_BLK_F_SEG_MAX	2
#define VH_BLK_F_GEOMETRY	4
#define VH_BLK_F_RO		5
#define VH_BLK_F_BLK_SIZE	6
#define VH_BLK_F_FLUSH		9
#define VH_BLK_F_TOPOLOGY	10
#define VH_BLK_F_CONFIG_WCE	11
#define VH_BLK_F_MQ		12
#define VH_BLK_F_DISCARD	13
#define VH_BLK_F_WRITE_ZEROES	14
#define VH_BLK_F_LIFETIME	15
#define VH_BLK_F_SECURE_ERASE	16
#define VH_BLK_F_ZONED		17

/* Request types. */
#define VH_BLK_T_IN		0u
#define VH_BLK_T_OUT		1u
#define VH_BLK_T_FLUSH		4u
#define VH_BLK_T_GET_ID		8u
#define VH_BLK_T_GET_LIFETIME	10u
#define VH_BLK_T_DISCARD	11u
#define VH_BLK_T_WRITE_ZEROES	13u
#define VH_BLK_T_SECURE_ERASE	14u

/* Status byte written by the device. */
#define VH_BLK_S_OK		0u
#define VH_BLK_S_IOERR		1u
#define VH_BLK_S_UNSUPP		2u

#define VH_BLK_SECTOR_SIZE	512u
#define VH_BLK_ID_BYTES		20u	/* GET_ID data: NUL-padded, no NUL when 20 long */

/* Device configuration, up to write_zeroes_may_unmap and its padding: the
 * 60 bytes a driver that does not know SECURE_ERASE/ZONED reads (the size
 * QEMU 7.2's vhost-user-blk asks for with GET_CONFIG). */
struct vh_blk_config {
	uint64_t capacity;		/* 512-byte sectors, always valid */
	uint32_t size_max;		/* SIZE_MAX: bytes per segment */
	uint32_t seg_max;		/* SEG_MAX: data segments per request */
	uint16_t cylinders;		/* GEOMETRY */
	uint8_t heads;
	uint8_t sectors;
	uint32_t blk_size;		/* BLK_SIZE */
	uint8_t physical_block_exp;	/* TOPOLOGY */
	uint8_t alignment_offset;
	uint16_t min_io_size;
	uint32_t opt_io_size;
	uint8_t writeback;		/* CONFIG_WCE */
	uint8_t unused0;
	uint16_t num_queues;		/* MQ */
	uint32_t max_discard_sectors;	/* DISCARD */
	uint32_t max_discard_seg;
	uint32_t discard_sector_alignment;
	uint32_t max_write_zeroes_sectors; /* WRITE_ZEROES */
	uint32_t max_write_zeroes_seg;
	uint8_t write_zeroes_may_unmap;
	uint8_t unused1[3];
} __attribute__((packed));
_Static_assert(sizeof(struct vh_blk_config) == 60, "virtio_blk_config (pre secure-erase)");
_Static_assert(offsetof(struct vh_blk_config, size_max) == 8, "size_max");
_Static_assert(offsetof(struct vh_blk_config, seg_max) == 12, "seg_max");
_Static_assert(offsetof(struct vh_blk_config, cylinders) == 16, "geometry");
_Static_assert(offsetof(struct vh_blk_config, blk_size) == 20, "blk_size");
_Static_assert(offsetof(struct vh_blk_config, physical_block_exp) == 24, "topology");
_Static_assert(offsetof(struct vh_blk_config, min_io_size) == 26, "min_io_size");
_Static_assert(offsetof(struct vh_blk_config, opt_io_size) == 28, "opt_io_size");
_Static_assert(offsetof(struct vh_blk_config, writeback) == 32, "writeback");
_Static_assert(offsetof(struct vh_blk_config, num_queues) == 34, "num_queues");
_Static_assert(offsetof(struct vh_blk_config, max_discard_sectors) == 36, "max_discard_sectors");
_Static_assert(offsetof(struct vh_blk_config, max_discard_seg) == 40, "max_discard_seg");
_Static_assert(offsetof(struct vh_blk_config, discard_sector_alignment) == 44, "discard align");
_Static_assert(offsetof(struct vh_blk_config, max_write_zeroes_sectors) == 48, "max_wz_sectors");
_Static_assert(offsetof(struct vh_blk_config, max_write_zeroes_seg) == 52, "max_wz_seg");
_Static_assert(offsetof(struct vh_blk_config, write_zeroes_may_unmap) == 56, "wz_may_unmap");

#define VH_BLK_CONFIG_SIZE	((uint32_t)sizeof(struct vh_blk_config))

/* Request header, device-readable, first in every request. The spec 1.2
 * calls the second field "reserved" (formerly ioprio). */
struct vh_blk_req_hdr {
	uint32_t type;		/* VH_BLK_T_* */
	uint32_t ioprio;
	uint64_t sector;	/* 512-byte units; 0 for FLUSH/GET_ID/DISCARD/WRITE_ZEROES */
};
_Static_assert(sizeof(struct vh_blk_req_hdr) == 16, "virtio_blk_req header");

/* One DISCARD / WRITE_ZEROES segment (the data of those requests). */
#define VH_BLK_WZ_F_UNMAP	0x1u
struct vh_blk_dwz_seg {
	uint64_t sector;
	uint32_t num_sectors;
	uint32_t flags;		/* bit 0 unmap (WRITE_ZEROES only) */
};
_Static_assert(sizeof(struct vh_blk_dwz_seg) == 16, "virtio_blk_discard_write_zeroes");

/* ---- virtio over PCI, modern interface (spec 4.1) -------------------------------------- */

#define VH_PCI_VENDOR_ID		0x1af4u
#define VH_PCI_DEVICE_ID_MODERN(t)	(0x1040u + (t))	/* 0x1042 for block */
#define VH_PCI_DEVICE_ID_BLK_TRANS	0x1001u		/* transitional block device */

#define VH_PCI_CAP_ID_VNDR		0x09u		/* vendor-specific capability */
#define VH_PCI_CAP_ID_MSIX		0x11u

#define VH_PCI_CAP_COMMON_CFG	1
#define VH_PCI_CAP_NOTIFY_CFG	2
#define VH_PCI_CAP_ISR_CFG	3
#define VH_PCI_CAP_DEVICE_CFG	4
#define VH_PCI_CAP_PCI_CFG	5
#define VH_PCI_CAP_SHARED_MEMORY_CFG 8
#define VH_PCI_CAP_VENDOR_CFG	9

/* struct virtio_pci_cap, as found in PCI configuration space. */
struct vh_pci_cap {
	uint8_t cap_vndr;	/* 0x09 */
	uint8_t cap_next;
	uint8_t cap_len;	/* may be larger than this structure */
	uint8_t cfg_type;	/* VH_PCI_CAP_* */
	uint8_t bar;		/* 0..5; other values reserved (ignore the capability) */
	uint8_t id;
	uint8_t padding[2];
	uint32_t offset;	/* within the BAR */
	uint32_t length;
};
_Static_assert(sizeof(struct vh_pci_cap) == 16, "virtio_pci_cap");
_Static_assert(offsetof(struct vh_pci_cap, offset) == 8, "virtio_pci_cap.offset");

/* The notification capability appends notify_off_multiplier. */
struct vh_pci_notify_cap {
	struct vh_pci_cap cap;
	uint32_t notify_off_multiplier;
};
_Static_assert(sizeof(struct vh_pci_notify_cap) == 20, "virtio_pci_notify_cap");

/* Common configuration structure: byte offsets of its fields. The driver
 * accesses each with its natural width (8/16/32 bits; 64-bit fields as two
 * 32-bit halves, low first). */
#define VH_PCI_COMMON_DFSELECT		0x00u	/* le32 device_feature_select */
#define VH_PCI_COMMON_DF		0x04u	/* le32 device_feature (RO) */
#define VH_PCI_COMMON_GFSELECT		0x08u	/* le32 driver_feature_select */
#define VH_PCI_COMMON_GF		0x0cu	/* le32 driver_feature */
#define VH_PCI_COMMON_MSIX		0x10u	/* le16 config_msix_vector */
#define VH_PCI_COMMON_NUMQ		0x12u	/* le16 num_queues (RO) */
#define VH_PCI_COMMON_STATUS		0x14u	/* u8 device_status */
#define VH_PCI_COMMON_CFGGENERATION	0x15u	/* u8 config_generation (RO) */
#define VH_PCI_COMMON_Q_SELECT		0x16u	/* le16 queue_select */
#define VH_PCI_COMMON_Q_SIZE		0x18u	/* le16 queue_size */
#define VH_PCI_COMMON_Q_MSIX		0x1au	/* le16 queue_msix_vector */
#define VH_PCI_COMMON_Q_ENABLE		0x1cu	/* le16 queue_enable */
#define VH_PCI_COMMON_Q_NOFF		0x1eu	/* le16 queue_notify_off (RO) */
#define VH_PCI_COMMON_Q_DESCLO		0x20u	/* le64 queue_desc */
#define VH_PCI_COMMON_Q_DESCHI		0x24u
#define VH_PCI_COMMON_Q_AVAILLO		0x28u	/* le64 queue_driver */
#define VH_PCI_COMMON_Q_AVAILHI		0x2cu
#define VH_PCI_COMMON_Q_USEDLO		0x30u	/* le64 queue_device */
#define VH_PCI_COMMON_Q_USEDHI		0x34u
#define VH_PCI_COMMON_Q_NDATA		0x38u	/* le16 queue_notify_data (NOTIF_CONFIG_DATA) */
#define VH_PCI_COMMON_Q_RESET		0x3au	/* le16 queue_reset (RING_RESET) */
#define VH_PCI_COMMON_MIN_LEN		0x38u	/* what a driver without those two needs */

#define VH_PCI_MSI_NO_VECTOR		0xffffu

/* ISR status bits (only meaningful without MSI-X). */
#define VH_PCI_ISR_QUEUE	0x1u
#define VH_PCI_ISR_CONFIG	0x2u

/* MSI-X capability (PCI 3.0 6.8.2): message control at +2, table
 * offset/BIR at +4, PBA at +8; table entries of 16 bytes. */
#define VH_MSIX_CTRL		2u
#define VH_MSIX_TABLE		4u
#define VH_MSIX_CTRL_QSIZE(c)	(((c) & 0x7ffu) + 1u)
#define VH_MSIX_CTRL_MASKALL	0x4000u
#define VH_MSIX_CTRL_ENABLE	0x8000u
#define VH_MSIX_ENTRY_SIZE	16u
#define VH_MSIX_ENTRY_CTRL	12u	/* vector control dword; bit 0 masks */

/* PCI header bits used by the driver. */
#define VH_PCI_VENDOR		0x00u
#define VH_PCI_DEVICE		0x02u
#define VH_PCI_COMMAND		0x04u
#define VH_PCI_STATUS		0x06u
#define VH_PCI_CAP_PTR		0x34u
#define VH_PCI_CMD_MEM		0x0002u
#define VH_PCI_CMD_MASTER	0x0004u
#define VH_PCI_CMD_INTX_DISABLE	0x0400u
#define VH_PCI_STATUS_CAP_LIST	0x0010u
#define VH_PCI_STD_HDR_END	0x40u

#endif
