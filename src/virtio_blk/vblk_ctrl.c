/* virtio-blk controllers: creation on a function, features and config,
 * suspend/resume, bdev attach/detach, destroy, lists. */
#include "vblk_internal.h"
#include "vblk_json.h"
#include "emu/emu_msix_pool.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct vblk_ctrl *g_ctrls;


struct vblk_ctrl *vblk_ctrl_find(const char *name)
{
	for (struct vblk_ctrl *c = g_ctrls; c; c = c->next)
		if (!strcasecmp(c->name, name))
			return c;
	return NULL;
}

struct vblk_ctrl *vblk_ctrl_first(void) { return g_ctrls; }
struct vblk_ctrl *vblk_ctrl_next(struct vblk_ctrl *c) { return c->next; }
const char *vblk_ctrl_name(const struct vblk_ctrl *c) { return c->name; }
uint32_t vblk_ctrl_num_queues(const struct vblk_ctrl *c) { return c->num_queues; }

/* null_media is read by the reactors (vblk_queue.c) */
static void set_null_media(struct vblk_ctrl *c, bool v)
{
	__atomic_store_n(&c->null_media, v, __ATOMIC_RELAXED);
}

static uint64_t compute_features(const struct vblk_ctrl *c)
{
	uint64_t f = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) |
		     BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_TOPOLOGY) | BIT(VIRTIO_BLK_F_MQ) |
		     BIT(VIRTIO_F_RING_EVENT_IDX) | BIT(VIRTIO_BLK_F_FLUSH);
	if (c->indirect_desc)
		f |= BIT(VIRTIO_F_RING_INDIRECT_DESC);
	if (c->force_in_order)
		f |= BIT(VIRTIO_F_IN_ORDER);
	if (c->read_only)
		f |= BIT(VIRTIO_BLK_F_RO);
	if (!c->read_only) {
		/* offered when there is media that can do it (or none yet: the
		 * bdev attached later must then support it) */
		if (!c->bdev || bdev_io_type_supported(c->bdev, BDEV_IO_UNMAP))
			f |= BIT(VIRTIO_BLK_F_DISCARD);
		if (!c->bdev || bdev_io_type_supported(c->bdev, BDEV_IO_WRITE_ZEROES))
			f |= BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	}
	return f;
}

uint64_t vblk_ctrl_features(const struct vblk_ctrl *c)
{
	return c->features;
}

int vblk_ctrl_set_features(struct vblk_ctrl *c, uint64_t f)
{
	if ((f & ~c->features) || !(f & BIT(VIRTIO_F_VERSION_1)))
		return -EINVAL;
	c->driver_features = f;
	return 0;
}

void vblk_ctrl_get_config(const struct vblk_ctrl *c, struct virtio_blk_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	uint32_t bs = c->bdev ? c->bdev->block_size : 512;
	cfg->capacity = c->bdev ? c->bdev->num_blocks * (bs / VIRTIO_BLK_SECTOR) : 0;
	cfg->size_max = c->size_max;
	cfg->seg_max = c->seg_max;
	cfg->blk_size = bs;
	/* topology counts logical blocks (blk_size units), not sectors: one
	 * logical block per physical block, and that is the minimum I/O */
	cfg->topology.physical_block_exp = 0;
	cfg->topology.min_io_size = 1;
	cfg->topology.opt_io_size = 0;
	cfg->num_queues = (uint16_t)c->num_queues;
	/* discard / write zeroes: up to 256 segments of 4 GiB - 1 sector each */
	cfg->max_discard_sectors = 0x3fffff;
	cfg->max_discard_seg = 256;
	cfg->discard_sector_alignment = bs / VIRTIO_BLK_SECTOR;
	cfg->max_write_zeroes_sectors = 0x3fffff;
	cfg->max_write_zeroes_seg = 256;
	cfg->write_zeroes_may_unmap = 1;
}

/* A bdev may back several virtio-blk controllers (SPDK's shared open, the
 * seed's VF loops); a namespace's claim excludes them. */
static int claim(struct vblk_ctrl *c, struct bdev *b, char *err, size_t errlen)
{
	char by[96];
	snprintf(by, sizeof(by), "virtio-blk controller %s", c->name);
	int rc = bdev_share(b, c, by);
	if (rc == -EBUSY)
		snprintf(err, errlen, "bdev %s is claimed by %s", b->name, b->claimed_by);
	else if (rc)
		snprintf(err, errlen, "out of memory");
	return rc;
}

static bool vblk_name_taken(const char *name)
{
	return vblk_ctrl_find(name) != NULL;
}

int vblk_ctrl_create(const struct vblk_params *p, struct vblk_ctrl **out, char *err, size_t errlen)
{
	char name[64];
	struct bdev *b = NULL;

	if (emu_fn_type(p->fn) != EMU_TYPE_VBLK) {
		snprintf(err, errlen, "function %s is not a virtio-blk function", emu_fn_vuid(p->fn));
		return -EINVAL;
	}
	if (emu_fn_ctrl_id(p->fn)) {
		snprintf(err, errlen, "function %s already has controller %s", emu_fn_vuid(p->fn),
			 emu_fn_ctrl_id(p->fn));
		return -EBUSY;
	}
	int nrc = emu_ctrl_name_pick(p->name, "VblkCtrl", vblk_name_taken, name, sizeof(name), err, errlen);
	if (nrc)
		return nrc;
	if (p->bdev && strcmp(p->bdev, "none")) {
		b = bdev_get_by_name(p->bdev);
		if (!b) {
			snprintf(err, errlen, "bdev %s does not exist", p->bdev);
			return -ENODEV;
		}
		if (b->block_size % VIRTIO_BLK_SECTOR) {
			snprintf(err, errlen, "bdev %s has block size %u (not a multiple of 512)", p->bdev,
				 b->block_size);
			return -EINVAL;
		}
	}
	if (emu_queues_reserve(p->num_queues)) {
		snprintf(err, errlen, "not enough queue resources left (EMU_QUEUE_POOL)");
		return -ENOSPC;
	}
	struct vblk_ctrl *c = calloc(1, sizeof(*c));
	if (!c) {
		emu_queues_release(p->num_queues);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->fn = p->fn;
	c->num_queues = p->num_queues;
	c->queue_size = p->queue_size;
	c->size_max = p->size_max;
	c->seg_max = p->seg_max;
	c->force_in_order = p->force_in_order;
	c->indirect_desc = p->indirect_desc;
	c->read_only = p->read_only;
	c->suspended = p->suspended;
	if (p->vblk_id)
		snprintf(c->vblk_id, sizeof(c->vblk_id), "%s", p->vblk_id);
	else
		emu_fn_serial(p->fn, c->vblk_id, sizeof(c->vblk_id));	/* unique per function */
	for (uint32_t i = 0; i < VBLK_MAX_QUEUES; i++) {
		c->queues[i].kick_fd = c->queues[i].own_kick = -1;
		atomic_init(&c->queues[i].call_fd, -1);
	}
	if (b) {
		int rc = claim(c, b, err, errlen);
		if (rc) {
			emu_queues_release(p->num_queues);
			free(c);
			return rc;
		}
		c->bdev = b;
	} else if (p->null_media) {
		set_null_media(c, true);	/* the 'none' bdev: answered, capacity 0 */
	} else {
		c->no_media_pause = true;	/* no media: nothing is served yet */
	}
	/* queues start with the pauses in force */
	c->qpause[QLIFE_SUSPEND] = c->suspended;
	c->qpause[QLIFE_MEDIA] = c->no_media_pause;
	c->features = compute_features(c);
	vblk_virtio_init(c);
	int rc = virtio_transport_attach(&c->vdev, &c->transport, err, errlen);
	if (rc) {
		if (c->bdev)
			bdev_unshare(c->bdev, c);
		emu_queues_release(p->num_queues);
		free(c);
		return rc;
	}
	struct vblk_ctrl **pp = &g_ctrls;
	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
	*out = c;
	log_info("virtio-blk controller %s on %s: %u queues of %u, bdev %s%s", c->name, emu_fn_vuid(c->fn),
		 c->num_queues, c->queue_size, c->bdev ? c->bdev->name : "none",
		 c->suspended ? ", suspended" : "");
	return 0;
}

/* --- destroy --- */

struct destroy_ctx {
	struct vblk_ctrl *c;
	vblk_done_fn cb;
	void *arg;
};

/* every queue stopped */
static void destroy_finish(void *arg)
{
	struct destroy_ctx *d = arg;
	struct vblk_ctrl *c = d->c;
	virtio_transport_destroy(c->transport);
	if (c->bdev)
		bdev_unshare(c->bdev, c);
	emu_queues_release(c->num_queues);
	struct vblk_ctrl **pp = &g_ctrls;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	log_info("virtio-blk controller %s destroyed", c->name);
	free(c);
	d->cb(d->arg, 0, NULL);
	free(d);
}

void vblk_ctrl_destroy(struct vblk_ctrl *c, bool force, vblk_done_fn cb, void *arg)
{
	char msg[256];
	if (c->destroying) {
		cb(arg, -EBUSY, "the controller is already being destroyed");
		return;
	}
	if (!force && emu_fn_is_vf(c->fn) && virtio_transport_driver_live(c->transport)) {
		snprintf(msg, sizeof(msg), "%s is a VF in use by a driver; use --force (or set sriov_numvfs to 0)",
			 c->name);
		cb(arg, -EBUSY, msg);
		return;
	}
	struct destroy_ctx *d = calloc(1, sizeof(*d));
	if (!d) {
		cb(arg, -ENOMEM, "out of memory");
		return;
	}
	d->c = c;
	d->cb = cb;
	d->arg = arg;
	c->destroying = true;
	virtio_dev_stop_all(&c->vdev, destroy_finish, d);
}

/* --- suspend / resume --- */

struct op_ctx {
	struct vblk_ctrl *c;
	vblk_done_fn cb;
	void *arg;
	struct bdev *old;
};

static void suspended_cb(void *arg)
{
	struct op_ctx *o = arg;
	log_info("%s: suspended", o->c->name);
	o->cb(o->arg, 0, NULL);
	free(o);
}

void vblk_ctrl_suspend(struct vblk_ctrl *c, vblk_done_fn cb, void *arg)
{
	struct op_ctx *o = calloc(1, sizeof(*o));
	if (!o) {
		cb(arg, -ENOMEM, "out of memory");
		return;
	}
	o->c = c;
	o->cb = cb;
	o->arg = arg;
	c->suspended = true;
	/* stop fetching; requests in flight finish */
	vblk_queue_hold(c, QLIFE_SUSPEND, suspended_cb, o);
}

int vblk_ctrl_resume(struct vblk_ctrl *c, char *err, size_t errlen)
{
	if (!c->suspended) {
		snprintf(err, errlen, "%s is not suspended", c->name);
		return -EINVAL;
	}
	c->suspended = false;
	vblk_queue_unhold(c, QLIFE_SUSPEND);
	log_info("%s: resumed", c->name);
	return 0;
}

/* --- bdev detach / attach --- */

static void detach_swapped(void *arg)
{
	struct op_ctx *o = arg;
	struct vblk_ctrl *c = o->c;
	bdev_unshare(o->old, c);
	log_info("%s: bdev %s detached", c->name, o->old->name);
	o->cb(o->arg, 0, NULL);
	free(o);
}

static void detach_paused(void *arg)
{
	struct op_ctx *o = arg;
	vblk_queue_set_bdev_all(o->c, NULL, detach_swapped, o);
}

static void none_detached_cb(void *arg)
{
	struct op_ctx *o = arg;
	log_info("%s: 'none' bdev detached", o->c->name);
	o->cb(o->arg, 0, NULL);
	free(o);
}

void vblk_ctrl_bdev_detach(struct vblk_ctrl *c, vblk_done_fn cb, void *arg)
{
	char msg[128];
	if (!c->bdev && c->null_media) {
		/* detaching the 'none' bdev: requests are held again */
		struct op_ctx *o = calloc(1, sizeof(*o));
		if (!o) {
			cb(arg, -ENOMEM, "out of memory");
			return;
		}
		o->c = c;
		o->cb = cb;
		o->arg = arg;
		set_null_media(c, false);
		c->no_media_pause = true;
		c->media_gen++;
		vblk_queue_hold(c, QLIFE_MEDIA, none_detached_cb, o);
		return;
	}
	if (!c->bdev) {
		snprintf(msg, sizeof(msg), "%s has no bdev attached", c->name);
		cb(arg, -ENODEV, msg);
		return;
	}
	struct op_ctx *o = calloc(1, sizeof(*o));
	if (!o) {
		cb(arg, -ENOMEM, "out of memory");
		return;
	}
	o->c = c;
	o->cb = cb;
	o->arg = arg;
	o->old = c->bdev;
	c->bdev = NULL;
	set_null_media(c, false);
	c->no_media_pause = true;
	c->media_gen++;	/* an attach whose swap is still under way must not resume */
	/* the controller stops fetching; what is in flight finishes on the old bdev */
	vblk_queue_hold(c, QLIFE_MEDIA, detach_paused, o);
}

struct attach_ctx {
	struct vblk_ctrl *c;
	uint32_t gen;
};

static void attach_swapped(void *arg)
{
	struct attach_ctx *a = arg;
	struct vblk_ctrl *c = a->c;
	/* the RPC returned before the reactors took the new bdev; a detach (or
	 * another attach) since then owns the media state now */
	if (c->media_gen == a->gen) {
		c->no_media_pause = false;
		vblk_queue_unhold(c, QLIFE_MEDIA);
	}
	free(a);
}

int vblk_ctrl_bdev_attach(struct vblk_ctrl *c, const char *name, const char *vblk_id, char *err,
			  size_t errlen)
{
	if (c->bdev) {
		snprintf(err, errlen, "%s already has bdev %s; detach it first", c->name, c->bdev->name);
		return -EBUSY;
	}
	struct bdev *b = bdev_get_by_name(name);
	if (!b) {
		snprintf(err, errlen, "bdev %s does not exist", name);
		return -ENODEV;
	}
	bool live = virtio_transport_driver_live(c->transport);
	struct virtio_blk_config cur;
	vblk_ctrl_get_config(c, &cur);
	if (live && cur.blk_size != b->block_size && c->driver_features) {
		snprintf(err, errlen, "bdev %s has block size %u but the driver uses %u; the block size "
			 "cannot change while the driver is loaded", name, b->block_size, cur.blk_size);
		return -EINVAL;
	}
	struct attach_ctx *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	int rc = claim(c, b, err, errlen);
	if (rc) {
		free(a);
		return rc;
	}
	a->c = c;
	a->gen = ++c->media_gen;
	c->bdev = b;
	set_null_media(c, false);
	if (vblk_id)
		snprintf(c->vblk_id, sizeof(c->vblk_id), "%s", vblk_id);
	if (!c->driver_features)
		c->features = compute_features(c);
	virtio_transport_config_changed(c->transport);
	vblk_queue_set_bdev_all(c, b, attach_swapped, a);
	log_info("%s: bdev %s attached", c->name, name);
	return 0;
}

int vblk_ctrl_bdev_attach_none(struct vblk_ctrl *c, const char *vblk_id, char *err, size_t errlen)
{
	if (c->bdev) {
		snprintf(err, errlen, "%s already has bdev %s; detach it first", c->name, c->bdev->name);
		return -EBUSY;
	}
	if (vblk_id)
		snprintf(c->vblk_id, sizeof(c->vblk_id), "%s", vblk_id);
	set_null_media(c, true);
	c->media_gen++;
	if (c->no_media_pause) {
		/* the queues have no bdev (rbdev NULL): from now on they answer
		 * every request (capacity 0) rather than hold them */
		c->no_media_pause = false;
		vblk_queue_unhold(c, QLIFE_MEDIA);
	}
	log_info("%s: 'none' bdev attached (no media, requests answered)", c->name);
	return 0;
}

int vblk_ctrl_modify(struct vblk_ctrl *c, bool has_nq, uint32_t nq, char *err, size_t errlen)
{
	if (virtio_transport_driver_live(c->transport)) {
		snprintf(err, errlen, "%s is in use by a driver; modify needs an idle function", c->name);
		return -EBUSY;
	}
	if (has_nq) {
		if (nq < 1 || nq > VBLK_MAX_QUEUES) {
			snprintf(err, errlen, "num_queues must be 1..%d", VBLK_MAX_QUEUES);
			return -EINVAL;
		}
		if (nq > c->num_queues && emu_queues_reserve(nq - c->num_queues)) {
			snprintf(err, errlen, "not enough queue resources left");
			return -ENOSPC;
		}
		if (nq < c->num_queues)
			emu_queues_release(c->num_queues - nq);
		c->num_queues = nq;
	}
	return 0;
}

/* --- JSON --- */

json_t *vblk_ctrl_json(struct vblk_ctrl *c)
{
	uint16_t nmsix = emu_fn_num_msix(c->fn);
	json_t *o = json_pack("{s:s, s:s, s:I, s:s, s:i, s:i, s:i, s:i, s:s, s:s}",
		"ctrl_id", c->name, "vuid", emu_fn_vuid(c->fn), "vhca_id", (json_int_t)emu_fn_vhca_id(c->fn),
		"pci_bdf", emu_fn_bdf(c->fn), "num_queues", c->num_queues, "queue_size", c->queue_size,
		"seg_max", c->seg_max, "size_max", c->size_max, "vblk_id", c->vblk_id,
		"bdev", c->bdev ? c->bdev->name : "none");
	json_object_set_new(o, "plugged", json_true());
	json_object_set_new(o, "state", json_string(c->suspended ? "SUSPENDED" : "RUNNING"));
	json_object_set_new(o, "force_in_order", json_boolean(c->force_in_order));
	json_object_set_new(o, "admin_q", json_false());
	json_object_set_new(o, "dbg_local_optimized", json_false());
	json_object_set_new(o, "indirect_desc", json_boolean(c->indirect_desc));
	json_object_set_new(o, "read_only", json_boolean(c->read_only));
	json_object_set_new(o, "num_msix", json_integer(nmsix));
	json_object_set_new(o, "min configurable num_msix", json_integer(2));
	json_object_set_new(o, "max configurable num_msix", json_integer(emu_vf_msix_max(c->fn)));
	json_object_set_new(o, "free_queues", json_integer(0));
	/* the PF's dynamic MSI-X pool (the docs' free_msix, the seed's
	 * num_free_msix): what a VF can take now; a VF has none */
	json_object_set_new(o, "free_msix", json_integer(emu_pf_msix_free(c->fn)));
	json_object_set_new(o, "num_free_msix", json_integer(emu_pf_msix_free(c->fn)));
	if (!emu_fn_is_vf(c->fn))
		json_object_set_new(o, "dynamic_msix", json_boolean(emu_pf_msix_dynamic(c->fn)));
	json_object_set_new(o, "pf_index", json_integer(emu_fn_pf_index(c->fn)));
	if (emu_fn_is_vf(c->fn))
		json_object_set_new(o, "vf_index", json_integer(emu_fn_vf_index(c->fn)));
	return o;
}

json_t *vblk_ctrl_io_stats_json(struct vblk_ctrl *c)
{
	json_t *qs = json_array();
	uint64_t r = 0, w = 0, f = 0;
	for (uint32_t i = 0; i < c->num_queues; i++) {
		struct vblk_queue *q = &c->queues[i];
		uint64_t qr = __atomic_load_n(&q->reads, __ATOMIC_RELAXED);
		uint64_t qw = __atomic_load_n(&q->writes, __ATOMIC_RELAXED);
		uint64_t qf = __atomic_load_n(&q->flushes, __ATOMIC_RELAXED);
		json_array_append_new(qs, json_pack("{s:i, s:i, s:I, s:I, s:I}", "queue_id", i,
			"core_id", q->running ? reactor_core(q->reactor) : -1, "read_io_count", (json_int_t)qr,
			"write_io_count", (json_int_t)qw, "flush_io_count", (json_int_t)qf));
		r += qr;
		w += qw;
		f += qf;
	}
	return json_pack("{s:s, s:o, s:I, s:I, s:I}", "ctrl_id", c->name, "queues", qs,
			 "read_io_count", (json_int_t)r, "write_io_count", (json_int_t)w,
			 "flush_io_count", (json_int_t)f);
}

json_t *vblk_ctrl_debug_stats_json(struct vblk_ctrl *c)
{
	json_t *qs = json_array();
	for (uint32_t i = 0; i < c->num_queues; i++) {
		struct vblk_queue *q = &c->queues[i];
		uint16_t hw_avail = 0, hw_used = 0;
		if (q->running) {
			/* through the current map, never the queue's cached ring
			 * pointers: they may point into memory the client just
			 * removed (unmapping happens on this thread, after the map
			 * without it is published) */
			struct iovec a, u;
			if (emu_dma_map(c->fn, q->vq.avail_gpa, 4, EMU_DMA_READ, &a, 1) == 1)
				hw_avail = __atomic_load_n((uint16_t *)a.iov_base + 1, __ATOMIC_RELAXED);
			if (emu_dma_map(c->fn, q->vq.used_gpa, 4, EMU_DMA_READ, &u, 1) == 1)
				hw_used = __atomic_load_n((uint16_t *)u.iov_base + 1, __ATOMIC_RELAXED);
		}
		const char *state = !q->running ? "STOPPED" : q->broken ? "ERROR" : c->suspended ? "SUSPENDED" : "RUNNING";
		json_array_append_new(qs, json_pack("{s:i, s:s, s:i, s:i, s:i, s:i, s:i, s:I, s:I}", "qid", i,
			"state", state, "reactor", q->running ? q->reactor : -1, "hw_available_index", hw_avail,
			"sw_available_index", __atomic_load_n(&q->vq.last_avail, __ATOMIC_RELAXED),
			"hw_used_index", hw_used, "sw_used_index", __atomic_load_n(&q->vq.used_idx, __ATOMIC_RELAXED),
			"hw_received_descs", (json_int_t)__atomic_load_n(&q->received, __ATOMIC_RELAXED),
			"hw_completed_descs", (json_int_t)__atomic_load_n(&q->completed, __ATOMIC_RELAXED)));
	}
	return json_pack("{s:s, s:o}", "ctrl_id", c->name, "queues", qs);
}

void vblk_write_config(json_t *cfg)
{
	for (struct vblk_ctrl *c = g_ctrls; c; c = c->next) {
		json_t *p = json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s}", "ctrl_id", c->name,
			"vuid", emu_fn_vuid(c->fn), "num_queues", (json_int_t)c->num_queues,
			"queue_size", (json_int_t)c->queue_size, "size_max", (json_int_t)c->size_max,
			"seg_max", (json_int_t)c->seg_max, "vblk_id", c->vblk_id,
			"bdev", c->bdev ? c->bdev->name : "none");
		if (c->force_in_order)
			json_object_set_new(p, "force_in_order", json_true());
		if (c->indirect_desc)
			json_object_set_new(p, "indirect_desc", json_true());
		if (c->read_only)
			json_object_set_new(p, "read_only", json_true());
		if (c->suspended)
			json_object_set_new(p, "suspended", json_true());
		if (c->null_media)
			json_object_set_new(p, "dbg_bdev_type", json_string("null"));
		emu_msix_write_config(c->fn, p);
		json_array_append_new(cfg, json_pack("{s:s, s:o}", "method", "virtio_blk_controller_create",
						     "params", p));
	}
}

static void shutdown_one(void *arg, int rc, const char *msg)
{
	(void)rc;
	(void)msg;
	*(bool *)arg = true;
}

void vblk_shutdown_all(void)
{
	while (g_ctrls) {
		bool done = false;
		vblk_ctrl_destroy(g_ctrls, true, shutdown_one, &done);
		while (!done)
			loop_run_once(10);
	}
}
