/* The vhost-user in-flight region (GET_INFLIGHT_FD / SET_INFLIGHT_FD,
 * protocol feature INFLIGHT_SHMFD): created here, kept by the front end
 * across our restarts, handed back and mapped; each queue gets its slice
 * (src/emu/virtio_inflight.h) when it starts. Main thread. */
#ifndef OSNAP_VHU_INFLIGHT_H
#define OSNAP_VHU_INFLIGHT_H

#include <stdint.h>

#include "emu/virtio_inflight.h"
#include "vhu_proto.h"

/* The largest region accepted back (64 queues of 32768 descriptors fit). */
#define VHU_INFLIGHT_MAX_BYTES (64ull << 20)

struct vhu_inflight_map {
	uint8_t *base;			/* NULL: none mapped */
	uint64_t size;
	uint16_t num_queues, queue_size;
	int fault_id;			/* guest_fault watch, -1: none */
};

/* GET_INFLIGHT_FD: a new zeroed region for req->num_queues queues of
 * req->queue_size descriptors (at most max_queues queues), sealed against
 * resizing. *out is the answer, *fd the region's fd (the caller sends then
 * closes it). 0 or -EINVAL for sizes out of range, -errno. */
int vhu_inflight_create(const struct vhu_inflight *req, uint32_t max_queues, struct vhu_inflight *out,
			int *fd);

/* SET_INFLIGHT_FD: check info against fd (a regular file at least
 * mmap_offset + mmap_size long, mmap_offset page aligned, mmap_size large
 * enough for num_queues slices of queue_size, both within bounds) and map
 * it into m (replacing nothing: m must be empty). fault(arg) runs on the
 * main thread when the front end truncates the file under us. 0 or
 * -EINVAL, -errno. Does not take fd. */
int vhu_inflight_attach(struct vhu_inflight_map *m, const struct vhu_inflight *info, int fd,
			uint32_t max_queues, void (*fault)(void *arg), void *arg);

/* Unmap (no queue may use it any more). */
void vhu_inflight_detach(struct vhu_inflight_map *m);
void vhu_inflight_map_init(struct vhu_inflight_map *m);

/* Queue idx's slice for a ring of ring_num entries: its descriptor count
 * in *num, or NULL (none mapped, idx beyond the region's queues, or a ring
 * larger than the region's queue size). */
struct vinfl_split *vhu_inflight_queue(const struct vhu_inflight_map *m, uint32_t idx, uint32_t ring_num,
				       uint16_t *num);

#endif
