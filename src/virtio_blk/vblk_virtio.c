/* The virtio-blk controller as a virtio device: the ops its transport
 * (vhost-user or virtio-pci, src/emu/virtio_dev.h) drives it through. */
#include "vblk_internal.h"

#include <string.h>

_Static_assert(VBLK_MAX_QUEUES <= VIRTIO_DEV_MAX_QUEUES, "a transport addresses every queue");
_Static_assert(sizeof(struct virtio_blk_config) <= VIRTIO_DEV_MAX_CONFIG, "config fits a transport");

static struct vblk_ctrl *ctrl_of(struct virtio_dev *d)
{
	return (struct vblk_ctrl *)((char *)d - offsetof(struct vblk_ctrl, vdev));
}

static uint32_t v_num_queues(struct virtio_dev *d)
{
	return ctrl_of(d)->num_queues;
}

static uint32_t v_max_queue_size(struct virtio_dev *d)
{
	return ctrl_of(d)->queue_size;
}

static uint64_t v_features(struct virtio_dev *d)
{
	return vblk_ctrl_features(ctrl_of(d));
}

static int v_set_features(struct virtio_dev *d, uint64_t f)
{
	return vblk_ctrl_set_features(ctrl_of(d), f);
}

static void v_reset(struct virtio_dev *d)
{
	ctrl_of(d)->driver_features = 0;
}

static size_t v_get_config(struct virtio_dev *d, void *buf, size_t cap)
{
	struct virtio_blk_config cfg;
	vblk_ctrl_get_config(ctrl_of(d), &cfg);
	memcpy(buf, &cfg, cap < sizeof(cfg) ? cap : sizeof(cfg));
	return sizeof(cfg);
}

static int v_queue_start(struct virtio_dev *d, uint16_t idx, const struct virtio_vq_params *p)
{
	return vblk_ctrl_queue_start(ctrl_of(d), idx, p);
}

static void v_queue_stop(struct virtio_dev *d, uint16_t idx, void (*done)(void *arg, uint16_t last_avail),
			 void *arg)
{
	vblk_ctrl_queue_stop(ctrl_of(d), idx, done, arg);
}

static bool v_queue_running(struct virtio_dev *d, uint16_t idx)
{
	return vblk_ctrl_queue_running(ctrl_of(d), idx);
}

static void v_queue_set_call(struct virtio_dev *d, uint16_t idx, int call_fd)
{
	vblk_ctrl_queue_set_call(ctrl_of(d), idx, call_fd);
}

static void v_queue_kick(struct virtio_dev *d, uint16_t idx)
{
	vblk_ctrl_queue_kick(ctrl_of(d), idx);
}

static void v_pause_all(struct virtio_dev *d, bool pause, void (*done)(void *arg), void *arg)
{
	vblk_queue_pause_all(ctrl_of(d), QLIFE_MEM, pause, done, arg);
}

static const struct virtio_dev_ops vblk_virtio_ops = {
	.num_queues = v_num_queues,
	.max_queue_size = v_max_queue_size,
	.features = v_features,
	.set_features = v_set_features,
	.reset = v_reset,
	.get_config = v_get_config,
	.queue_start = v_queue_start,
	.queue_stop = v_queue_stop,
	.queue_running = v_queue_running,
	.queue_set_call = v_queue_set_call,
	.queue_kick = v_queue_kick,
	.pause_all = v_pause_all,
};

void vblk_virtio_init(struct vblk_ctrl *c)
{
	c->vdev = (struct virtio_dev){ .ops = &vblk_virtio_ops, .name = c->name, .fn = c->fn,
				       .virtio_id = VIRTIO_ID_BLOCK };
}

struct virtio_dev *vblk_ctrl_virtio_dev(struct vblk_ctrl *c)
{
	return &c->vdev;
}
