/* vhost-user wire format, front-end view.
 *
 * Written from QEMU's docs/interop/vhost-user.rst (message layouts, request
 * numbers, protocol feature bits) and the vhost ioctl structures it names
 * (struct vhost_vring_state / vhost_vring_addr); deliberately independent of
 * the back end in src/emu so that the two sides cannot share a misreading.
 *
 * All numbers are host byte order ("machine native"). The header is packed;
 * payload structures have natural alignment and no implicit padding except
 * where noted (the inflight description has 4 trailing bytes). */
#ifndef OSNAP_HOST_VHOST_USER_PROTO_H
#define OSNAP_HOST_VHOST_USER_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* ---- header ------------------------------------------------------------------------------ */

#define VHU_VERSION		0x1u	/* flags bits 0-1 */
#define VHU_FLAG_VERSION_MASK	0x3u
#define VHU_FLAG_REPLY		0x4u	/* set on every reply from the back end */
#define VHU_FLAG_NEED_REPLY	0x8u	/* with REPLY_ACK: back end answers with a u64 */

struct vhu_hdr {
	uint32_t request;	/* enum vhu_request */
	uint32_t flags;
	uint32_t size;		/* payload bytes after the header */
} __attribute__((packed));
_Static_assert(sizeof(struct vhu_hdr) == 12, "vhost-user header");

#define VHU_MAX_FDS		8	/* file descriptors per message */
#define VHU_MAX_REGIONS		8	/* regions in SET_MEM_TABLE */
#define VHU_MAX_CONFIG_SIZE	256	/* device config bytes in GET/SET_CONFIG (QEMU's limit) */
#define VHU_MAX_PAYLOAD		4096	/* largest payload this front end accepts */

/* ---- requests (front end -> back end) ------------------------------------------------------ */

enum vhu_request {
	VHU_GET_FEATURES = 1,
	VHU_SET_FEATURES = 2,
	VHU_SET_OWNER = 3,
	VHU_RESET_OWNER = 4,
	VHU_SET_MEM_TABLE = 5,
	VHU_SET_LOG_BASE = 6,
	VHU_SET_LOG_FD = 7,
	VHU_SET_VRING_NUM = 8,
	VHU_SET_VRING_ADDR = 9,
	VHU_SET_VRING_BASE = 10,
	VHU_GET_VRING_BASE = 11,
	VHU_SET_VRING_KICK = 12,
	VHU_SET_VRING_CALL = 13,
	VHU_SET_VRING_ERR = 14,
	VHU_GET_PROTOCOL_FEATURES = 15,
	VHU_SET_PROTOCOL_FEATURES = 16,
	VHU_GET_QUEUE_NUM = 17,
	VHU_SET_VRING_ENABLE = 18,
	VHU_SEND_RARP = 19,
	VHU_NET_SET_MTU = 20,
	VHU_SET_BACKEND_REQ_FD = 21,
	VHU_IOTLB_MSG = 22,
	VHU_SET_VRING_ENDIAN = 23,
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
	VHU_GET_INFLIGHT_FD = 31,
	VHU_SET_INFLIGHT_FD = 32,
	VHU_RESET_DEVICE = 34,
	VHU_VRING_KICK = 35,
	VHU_GET_MAX_MEM_SLOTS = 36,
	VHU_ADD_MEM_REG = 37,
	VHU_REM_MEM_REG = 38,
	VHU_SET_STATUS = 39,
	VHU_GET_STATUS = 40,
};

/* Virtio feature bit 30 (reserved by virtio) announces GET/SET_PROTOCOL_FEATURES. */
#define VHU_F_PROTOCOL_FEATURES	30

/* Protocol feature bits. */
#define VHU_PF_MQ			0
#define VHU_PF_LOG_SHMFD		1
#define VHU_PF_RARP			2
#define VHU_PF_REPLY_ACK		3
#define VHU_PF_MTU			4
#define VHU_PF_BACKEND_REQ		5
#define VHU_PF_CROSS_ENDIAN		6
#define VHU_PF_CRYPTO_SESSION		7
#define VHU_PF_PAGEFAULT		8
#define VHU_PF_CONFIG			9
#define VHU_PF_BACKEND_SEND_FD		10
#define VHU_PF_HOST_NOTIFIER		11
#define VHU_PF_INFLIGHT_SHMFD		12
#define VHU_PF_RESET_DEVICE		13
#define VHU_PF_INBAND_NOTIFICATIONS	14
#define VHU_PF_CONFIGURE_MEM_SLOTS	15
#define VHU_PF_STATUS			16

/* ---- payloads ------------------------------------------------------------------------------ */

/* A single u64: features, queue counts, REPLY_ACK status, and the
 * KICK/CALL/ERR argument (ring index in bits 0-7, bit 8 = no fd sent). */
#define VHU_VRING_IDX_MASK	0xffu
#define VHU_VRING_NOFD		(1u << 8)

/* Vring state description (SET_VRING_NUM/BASE, GET_VRING_BASE, SET_VRING_ENABLE). */
struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
};
_Static_assert(sizeof(struct vhu_vring_state) == 8, "vring state");

/* Vring address description. The rst table lists a "size" column between
 * flags and descriptor; the layout the document's C structure uses
 * (struct vhost_vring_addr) has no such field: index, flags, then four u64
 * addresses. Ring addresses are the front end's user addresses (no
 * IOMMU_PLATFORM here). */
#define VHU_VRING_F_LOG		0x1u
struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;		/* descriptor table, user address */
	uint64_t used;		/* used ring, user address */
	uint64_t avail;		/* available ring, user address */
	uint64_t log;		/* guest address for logging (unused: 0) */
};
_Static_assert(sizeof(struct vhu_vring_addr) == 40, "vring address");
_Static_assert(offsetof(struct vhu_vring_addr, desc) == 8, "vring address desc");
_Static_assert(offsetof(struct vhu_vring_addr, used) == 16, "vring address used");
_Static_assert(offsetof(struct vhu_vring_addr, avail) == 24, "vring address avail");

/* One memory region. */
struct vhu_mem_region {
	uint64_t guest_addr;	/* addresses in descriptors are translated through this */
	uint64_t size;
	uint64_t user_addr;	/* ring addresses (SET_VRING_ADDR) through this */
	uint64_t mmap_offset;	/* offset of the region in its fd */
};
_Static_assert(sizeof(struct vhu_mem_region) == 32, "memory region");

/* SET_MEM_TABLE: nregions, padding, then nregions regions (one fd each). The
 * message size is 8 + 32 * nregions. */
struct vhu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhu_mem_region regions[VHU_MAX_REGIONS];
};
_Static_assert(sizeof(struct vhu_mem_table) == 8 + 32 * VHU_MAX_REGIONS, "memory table");
_Static_assert(offsetof(struct vhu_mem_table, regions) == 8, "memory table regions");

/* ADD_MEM_REG / REM_MEM_REG: u64 padding then one region. */
struct vhu_mem_single {
	uint64_t padding;
	struct vhu_mem_region region;
};
_Static_assert(sizeof(struct vhu_mem_single) == 40, "single memory region");

/* GET_CONFIG / SET_CONFIG: this header, then size bytes of config space. */
#define VHU_CONFIG_F_WRITABLE	0u	/* flags: front-end message for writable fields */
#define VHU_CONFIG_F_MIGRATION	1u	/* flags: live migration */
struct vhu_config_hdr {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
};
_Static_assert(sizeof(struct vhu_config_hdr) == 12, "config header");

/* GET_INFLIGHT_FD / SET_INFLIGHT_FD. */
struct vhu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint8_t padding[4];	/* natural alignment of the u64 members */
};
_Static_assert(sizeof(struct vhu_inflight) == 24, "inflight description");
_Static_assert(offsetof(struct vhu_inflight, num_queues) == 16, "inflight num_queues");

/* Inflight region layout for split rings: per queue a header then one
 * entry per descriptor. */
struct vhu_inflight_desc_split {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};
_Static_assert(sizeof(struct vhu_inflight_desc_split) == 16, "DescStateSplit");

struct vhu_inflight_queue_split {
	uint64_t features;
	uint16_t version;	/* 1; 0 = not initialized */
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct vhu_inflight_desc_split desc[];
};
_Static_assert(sizeof(struct vhu_inflight_queue_split) == 16, "QueueRegionSplit header");

#endif
