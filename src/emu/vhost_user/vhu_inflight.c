/* The vhost-user in-flight region; see vhu_inflight.h. The layout: one
 * slice per queue, vinfl_queue_bytes(queue_size) apart, from mmap_offset. */
#include "vhu_inflight.h"
#include "core/guest_fault.h"
#include "core/log.h"
#include "emu/emu.h"
#include "emu/virtio_spec.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PAGE 4096ull

static bool sizes_ok(uint16_t num_queues, uint16_t queue_size, uint32_t max_queues)
{
	return num_queues && num_queues <= max_queues && queue_size && queue_size <= VIRTIO_QUEUE_MAX_SIZE;
}

static uint64_t region_bytes(uint16_t num_queues, uint16_t queue_size)
{
	return (uint64_t)num_queues * vinfl_queue_bytes(queue_size);
}

void vhu_inflight_map_init(struct vhu_inflight_map *m)
{
	memset(m, 0, sizeof(*m));
	m->fault_id = -1;
}

int vhu_inflight_create(const struct vhu_inflight *req, uint32_t max_queues, struct vhu_inflight *out,
			int *fd)
{
	if (!sizes_ok(req->num_queues, req->queue_size, max_queues))
		return -EINVAL;
	uint64_t size = (region_bytes(req->num_queues, req->queue_size) + PAGE - 1) & ~(PAGE - 1);
	/* sealed: the front end keeps this fd and hands it to our successor,
	 * which must not fault on a file shrunk under it */
	int f = emu_shm_create("osnap-inflight", size);
	if (f < 0)
		return f;
	/* zero-filled: every slice reads as uninitialised (version 0) */
	*out = (struct vhu_inflight){ .mmap_size = size, .mmap_offset = 0, .num_queues = req->num_queues,
				      .queue_size = req->queue_size };
	*fd = f;
	return 0;
}

int vhu_inflight_attach(struct vhu_inflight_map *m, const struct vhu_inflight *info, int fd,
			uint32_t max_queues, void (*fault)(void *arg), void *arg)
{
	if (m->base || !sizes_ok(info->num_queues, info->queue_size, max_queues))
		return -EINVAL;
	uint64_t need = region_bytes(info->num_queues, info->queue_size);
	if (info->mmap_size < need || info->mmap_size > VHU_INFLIGHT_MAX_BYTES || info->mmap_offset % PAGE ||
	    info->mmap_offset > VHU_INFLIGHT_MAX_BYTES)
		return -EINVAL;
	/* pages past the end of the file would fault when touched */
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < info->mmap_offset + info->mmap_size)
		return -EINVAL;
	void *p = mmap(NULL, info->mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)info->mmap_offset);
	if (p == MAP_FAILED)
		return -errno;
	/* a file that is not sealed against shrinking can still fault later:
	 * the fault drops the front end instead of the service */
	int seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || !(seals & F_SEAL_SHRINK))
		log_debug("in-flight region not sealed against shrinking: watched for faults");
	m->base = p;
	m->size = info->mmap_size;
	m->num_queues = info->num_queues;
	m->queue_size = info->queue_size;
	m->fault_id = guest_fault_watch(p, info->mmap_size, fault, arg);
	return 0;
}

void vhu_inflight_detach(struct vhu_inflight_map *m)
{
	if (m->base) {
		guest_fault_unwatch(m->fault_id);
		munmap(m->base, m->size);
	}
	vhu_inflight_map_init(m);
}

struct vinfl_split *vhu_inflight_queue(const struct vhu_inflight_map *m, uint32_t idx, uint32_t ring_num,
				       uint16_t *num)
{
	if (!m->base || idx >= m->num_queues || !ring_num || ring_num > m->queue_size)
		return NULL;
	*num = m->queue_size;
	/* attach checked that num_queues slices fit in the mapping */
	return (struct vinfl_split *)(m->base + (uint64_t)idx * vinfl_queue_bytes(m->queue_size));
}
