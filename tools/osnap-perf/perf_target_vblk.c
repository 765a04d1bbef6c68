/* osnap-perf target: a virtio-blk device over vhost-user (osnap,
 * qemu-storage-daemon, any vhost-user-blk back end) or over vfio-user
 * (virtio-pci), through the user-space virtio-blk driver of src/host.
 * Virtqueue i serves job i. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/vfio_user_client.h"
#include "host/vhost_user_front.h"
#include "host/virtio_blk_host.h"
#include "perf_target.h"

#define VHU_MAX_QUEUE_SIZE	1024u	/* what vhost-user back ends commonly accept */

struct vblk_target {
	struct perf_target t;	/* first */
	struct vblk_host *d;
	uint32_t sectors_per_lba;
};

static struct vblk_host_req *io_req(struct perf_io *io)
{
	return (struct vblk_host_req *)(void *)io->ctx;
}

static void req_done(struct vblk_host_req *r)
{
	perf_io_complete(r->arg, r->result < 0 ? r->result : r->status);
}

static int vt_submit(struct perf_target *pt, uint16_t q, struct perf_io *io)
{
	struct vblk_target *t = (struct vblk_target *)pt;
	struct vblk_host_req *r = io_req(io);

	r->type = io->write ? VH_BLK_T_OUT : VH_BLK_T_IN;
	r->ioprio = 0;
	r->sector = io->lba * t->sectors_per_lba;
	r->buf = io->buf;
	r->len = io->nlb * t->t.lba_size;
	r->cb = req_done;
	r->arg = io;
	return vblk_host_queue_req(t->d, q, r);
}

static int vt_kick(struct perf_target *pt, uint16_t q)
{
	return vblk_host_kick(((struct vblk_target *)pt)->d, q);
}

static int vt_poll(struct perf_target *pt, uint16_t q, unsigned max)
{
	return vblk_host_poll(((struct vblk_target *)pt)->d, q, max);
}

static int vt_wait(struct perf_target *pt, uint16_t q, int timeout_ms)
{
	return vblk_host_wait(((struct vblk_target *)pt)->d, q, timeout_ms);
}

static void *vt_buf_alloc(struct perf_target *pt, size_t len)
{
	return vblk_host_alloc(((struct vblk_target *)pt)->d, len);
}

static const char *vt_status_str(int status, char *buf, size_t len)
{
	snprintf(buf, len, "virtio-blk status %d (%s)", status,
		 status == VH_BLK_S_IOERR ? "IOERR" : status == VH_BLK_S_UNSUPP ? "UNSUPP" : "invalid");
	return buf;
}

static void vt_qstats(struct perf_target *pt, uint16_t q, struct perf_target_qstats *st)
{
	struct vblk_host_qstats vs;
	vblk_host_qstats(((struct vblk_target *)pt)->d, q, &vs);
	*st = (struct perf_target_qstats){ vs.kicks, vs.notifies_skipped, vs.irqs };
}

static void vt_close(struct perf_target *pt)
{
	struct vblk_target *t = (struct vblk_target *)pt;
	vblk_host_close(t->d);
	free(t);
}

static int vt_check(struct perf_target *pt)
{
	struct vblk_host *d = ((struct vblk_target *)pt)->d;
	return perf_conn_check(vblk_host_vhu(d) ? vhu_socket_fd(vblk_host_vhu(d)) : vfu_socket_fd(vblk_host_vfu(d)));
}

static const struct perf_target_ops vblk_ops = {
	.submit = vt_submit,
	.kick = vt_kick,
	.poll = vt_poll,
	.wait = vt_wait,
	.buf_alloc = vt_buf_alloc,
	.status_str = vt_status_str,
	.qstats = vt_qstats,
	.check = vt_check,
	.close = vt_close,
};

static uint32_t pow2_at_least(uint32_t v)
{
	uint32_t p = 1;
	while (p < v)
		p <<= 1;
	return p;
}

/* Descriptors one request takes on the ring. */
static uint32_t descs_per_req(const struct vblk_host *d, uint32_t bs)
{
	const struct vh_blk_config *c = vblk_host_config(d);
	uint64_t f = vblk_host_features(d);
	uint32_t nseg = 1;

	if ((f & VH_BIT(VH_BLK_F_SIZE_MAX)) && c->size_max)
		nseg = (bs + c->size_max - 1) / c->size_max;
	if (f & VH_BIT(VH_F_RING_INDIRECT_DESC))
		return 1;
	return nseg + 2;
}

/* Check what the device accepted against the job's needs. */
static int check_limits(struct vblk_target *t, const struct perf_opts *o, char *err, size_t len)
{
	struct vblk_host *d = t->d;
	const struct vh_blk_config *c = vblk_host_config(d);
	uint64_t f = vblk_host_features(d);
	uint32_t per = descs_per_req(d, o->bs);

	if (vblk_host_num_queues(d) < o->jobs) {
		snprintf(err, len, "the device has %u queues, -j %u needs one per job",
			 vblk_host_num_queues(d), o->jobs);
		return -EINVAL;
	}
	for (uint16_t q = 0; q < o->jobs; q++) {
		if ((uint32_t)vblk_host_queue_size(d, q) < per * o->qd) {
			bool ind = f & VH_BIT(VH_F_RING_INDIRECT_DESC);
			snprintf(err, len, "queue %u has %u entries; -q %u needs %u (%u per request): %s",
				 q, vblk_host_queue_size(d, q), o->qd, per * o->qd, per,
				 !ind && !o->indirect ? "lower -q, or try --indirect" : !ind ?
				 "lower -q (the device does not offer indirect descriptors)" : "lower -q");
			return -EINVAL;
		}
	}
	if ((f & VH_BIT(VH_BLK_F_BLK_SIZE)) && c->blk_size && o->bs % c->blk_size) {
		snprintf(err, len, "-b %u is not a multiple of the block size %u", o->bs, c->blk_size);
		return -EINVAL;
	}
	if (!perf_workload_writes(o))
		return 0;
	if (f & VH_BIT(VH_BLK_F_RO)) {
		snprintf(err, len, "the device is read-only");
		return -EROFS;
	}
	return 0;
}

int perf_target_open_vblk(const struct perf_opts *o, struct perf_target **out, char *err,
			  size_t len)
{
	uint64_t want = VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_EVENT_IDX);
	if (o->indirect)
		want |= VH_BIT(VH_F_RING_INDIRECT_DESC);
	/* room for direct descriptors (header, data, status) even with
	 * --indirect, in case the device does not offer indirect ones */
	uint32_t per = 3 + (o->bs - 1) / 65536;
	uint32_t qsize = pow2_at_least(per * o->qd);
	if (qsize < 128)
		qsize = 128;
	if (qsize > VHU_MAX_QUEUE_SIZE)
		qsize = VHU_MAX_QUEUE_SIZE;
	size_t bs = ((size_t)o->bs + 4095) & ~(size_t)4095;
	size_t mem = (size_t)o->jobs * ((size_t)o->qd * bs + (size_t)qsize * (64 + 16 * 130)) + (8u << 20);
	struct vblk_host_opts vo = {
		.features = want,
		.num_queues = (uint16_t)o->jobs,
		.queue_size = (uint16_t)qsize,
		.mem_size = (mem + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1),
		.irq = o->interrupts ? VBLK_HOST_IRQ_REQUIRED : VBLK_HOST_IRQ_POLL,
	};
	bool pci = o->transport == PERF_TR_VFU_VIRTIO;
	/* Polled over vhost-user, the queues still get a call eventfd that is
	 * never waited on: libvhost-user (qemu-storage-daemon) signals the
	 * first completion even when asked not to, and fails on a queue
	 * without one (the vhost-user NOFD flag). Notifications are turned off
	 * below, so the fd stays quiet. */
	if (!o->interrupts && !pci)
		vo.irq = VBLK_HOST_IRQ_AUTO;
	struct vblk_target *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	int rc = pci ? vblk_host_open_pci(o->path, &vo, &t->d)
		     : vblk_host_open_vhost_user(o->path, &vo, &t->d);
	if (rc) {
		snprintf(err, len, "cannot open virtio-blk device at %s (%s): %s%s", o->path,
			 pci ? "vfio-user" : "vhost-user", strerror(-rc),
			 rc == -EINVAL ? " (does the device have -j queues?)" : "");
		free(t);
		return rc;
	}
	rc = check_limits(t, o, err, len);
	if (rc) {
		vblk_host_close(t->d);
		free(t);
		return rc;
	}
	if (!o->interrupts) {
		/* polled: ask the device not to signal completions */
		for (uint16_t q = 0; q < o->jobs; q++)
			vring_host_disable_cb(vblk_host_vring(t->d, q));
	}
	const struct vh_blk_config *c = vblk_host_config(t->d);
	uint64_t f = vblk_host_features(t->d);
	uint32_t lba = (f & VH_BIT(VH_BLK_F_BLK_SIZE)) && c->blk_size >= 512 ? c->blk_size : 512;
	t->t.ops = &vblk_ops;
	t->t.lba_size = lba;
	t->t.nlba = c->capacity * 512 / lba;
	t->t.nqueues = (uint16_t)o->jobs;
	t->t.io_ctx_size = sizeof(struct vblk_host_req);
	t->sectors_per_lba = lba / 512;
	snprintf(t->t.desc, sizeof(t->t.desc), "virtio-blk/%s %s (%u-byte blocks, queue size %u%s%s)",
		 pci ? "vfio-user" : "vhost-user", o->path, lba, vblk_host_queue_size(t->d, 0),
		 (f & VH_BIT(VH_F_RING_EVENT_IDX)) ? ", event idx" : "",
		 (f & VH_BIT(VH_F_RING_INDIRECT_DESC)) ? ", indirect" : "");
	*out = &t->t;
	return 0;
}
