/* Virtio definitions common to every device, device side (virtio 1.2:
 * split rings, device status, virtio-pci modern). */
#ifndef OSNAP_EMU_VIRTIO_SPEC_H
#define OSNAP_EMU_VIRTIO_SPEC_H

#include <stdint.h>

/* device-independent feature bits */
#define VIRTIO_F_RING_INDIRECT_DESC	28
#define VIRTIO_F_RING_EVENT_IDX		29
#define VIRTIO_F_VERSION_1		32
#define VIRTIO_F_ACCESS_PLATFORM	33
#define VIRTIO_F_IN_ORDER		35

#define BIT(n) (1ull << (n))

/* device status */
#define VIRTIO_STATUS_ACKNOWLEDGE	1
#define VIRTIO_STATUS_DRIVER		2
#define VIRTIO_STATUS_DRIVER_OK		4
#define VIRTIO_STATUS_FEATURES_OK	8
#define VIRTIO_STATUS_NEEDS_RESET	64
#define VIRTIO_STATUS_FAILED		128

/* split ring */
#define VRING_DESC_F_NEXT	1
#define VRING_DESC_F_WRITE	2
#define VRING_DESC_F_INDIRECT	4
#define VRING_USED_F_NO_NOTIFY	1
#define VRING_AVAIL_F_NO_INTERRUPT 1

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct vring_desc) == 16, "vring desc");

struct vring_avail {
	uint16_t flags;
	uint16_t idx;
	uint16_t ring[];	/* then uint16_t used_event */
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

struct vring_used {
	uint16_t flags;
	uint16_t idx;
	struct vring_used_elem ring[];	/* then uint16_t avail_event */
};

static inline uint64_t vring_desc_bytes(uint32_t n) { return 16ull * n; }
static inline uint64_t vring_avail_bytes(uint32_t n) { return 6ull + 2ull * n; }
static inline uint64_t vring_used_bytes(uint32_t n) { return 6ull + 8ull * n; }

/* virtio-pci modern common configuration (in the capability BAR) */
struct virtio_pci_common_cfg {
	uint32_t device_feature_select;
	uint32_t device_feature;
	uint32_t driver_feature_select;
	uint32_t driver_feature;
	uint16_t msix_config;
	uint16_t num_queues;
	uint8_t device_status;
	uint8_t config_generation;
	uint16_t queue_select;
	uint16_t queue_size;
	uint16_t queue_msix_vector;
	uint16_t queue_enable;
	uint16_t queue_notify_off;
	uint64_t queue_desc;
	uint64_t queue_driver;
	uint64_t queue_device;
} __attribute__((packed));
_Static_assert(sizeof(struct virtio_pci_common_cfg) == 56, "common cfg");

#define VIRTIO_MSI_NO_VECTOR 0xffff

/* device types (virtio 1.2, 5 Device Types) */
#define VIRTIO_ID_BLOCK 2

/* largest split ring (Queue Size is at most 32768) */
#define VIRTIO_QUEUE_MAX_SIZE 32768

#endif
