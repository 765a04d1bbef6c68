/* vhost-user wire format, back-end side (QEMU docs/interop/vhost-user.rst). */
#ifndef OSNAP_VHU_PROTO_H
#define OSNAP_VHU_PROTO_H

#include <stdint.h>

enum vhu_req {
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
	VHU_GET_CONFIG = 24,
	VHU_SET_CONFIG = 25,
	VHU_GET_INFLIGHT_FD = 31,
	VHU_SET_INFLIGHT_FD = 32,
	VHU_RESET_DEVICE = 34,
	VHU_GET_MAX_MEM_SLOTS = 36,
	VHU_ADD_MEM_REG = 37,
	VHU_REM_MEM_REG = 38,
	VHU_SET_STATUS = 39,
	VHU_GET_STATUS = 40,
};

#define VHU_VERSION 0x1u
#define VHU_FLAG_VERSION_MASK 0x3u
#define VHU_FLAG_REPLY 0x4u
#define VHU_FLAG_NEED_REPLY 0x8u

#define VHU_F_PROTOCOL_FEATURES 30

#define VHU_PF_MQ 0
#define VHU_PF_REPLY_ACK 3
#define VHU_PF_CONFIG 9
#define VHU_PF_INFLIGHT_SHMFD 12
#define VHU_PF_RESET_DEVICE 13
#define VHU_PF_CONFIGURE_MEM_SLOTS 15

#define VHU_MAX_REGIONS 8
#define VHU_MAX_SLOTS 32
#define VHU_MAX_FDS 8
#define VHU_MAX_PAYLOAD 4096
#define VHU_VRING_NOFD (1ull << 8)
#define VHU_VRING_IDX_MASK 0xffull

struct vhu_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size;
} __attribute__((packed));
_Static_assert(sizeof(struct vhu_hdr) == 12, "vhost-user header");

struct vhu_vring_state {
	uint32_t index;
	uint32_t num;
} __attribute__((packed));

struct vhu_vring_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;
	uint64_t used;
	uint64_t avail;
	uint64_t log;
} __attribute__((packed));
_Static_assert(sizeof(struct vhu_vring_addr) == 40, "vring addr");

struct vhu_mem_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
} __attribute__((packed));

struct vhu_mem_table {
	uint32_t nregions;
	uint32_t padding;
	struct vhu_mem_region regions[VHU_MAX_REGIONS];
} __attribute__((packed));

struct vhu_mem_single {
	uint64_t padding;
	struct vhu_mem_region region;
} __attribute__((packed));

struct vhu_config {
	uint32_t offset;
	uint32_t size;
	uint32_t flags;
	uint8_t payload[];
} __attribute__((packed));

struct vhu_inflight {
	uint64_t mmap_size;
	uint64_t mmap_offset;
	uint16_t num_queues;
	uint16_t queue_size;
	uint32_t padding;	/* the C struct's tail padding is on the wire */
} __attribute__((packed));
_Static_assert(sizeof(struct vhu_inflight) == 24, "inflight");

#endif
