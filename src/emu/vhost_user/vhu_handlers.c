/* vhost-user requests for a virtio device back end, one function per
 * request and a table from request id to handler (vhu_request_find).
 * Every field is checked before use; ring addresses are the front end's
 * user addresses and are translated through its memory table. */
#include "vhu_internal.h"
#include "emu/emu.h"
#include "core/client_fd.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static const uint64_t g_protocol_features =
	(1ull << VHU_PF_MQ) | (1ull << VHU_PF_REPLY_ACK) | (1ull << VHU_PF_CONFIG) |
	(1ull << VHU_PF_INFLIGHT_SHMFD) | (1ull << VHU_PF_RESET_DEVICE) |
	(1ull << VHU_PF_CONFIGURE_MEM_SLOTS);

#define VHU_PROTO_F (1ull << VHU_F_PROTOCOL_FEATURES)

/* user address -> guest address through the memory table */
static bool uaddr_to_gpa(struct vhu_conn *c, uint64_t ua, uint64_t len, uint64_t *gpa)
{
	for (int i = 0; i < c->nregions; i++) {
		const struct vhu_user_region *r = &c->regions[i];
		if (ua >= r->uaddr && ua - r->uaddr < r->size && len <= r->size - (ua - r->uaddr)) {
			*gpa = r->gpa + (ua - r->uaddr);
			return true;
		}
	}
	return false;
}

static uint64_t payload_u64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return v;
}

static int vring_index(struct vhu_conn *c, uint32_t idx)
{
	return idx < vhu_nq(c) ? 0 : -EINVAL;
}

/* A SET_FEATURES the device cannot take leaves the features as they were.
 * With REPLY_ACK asked for, the front end learns it from a non-zero reply;
 * without, it cannot be told and would go on with features the device does
 * not use: the connection closes (vhost-user.rst, Communication: a back end
 * that detects an error such as incompatible features may close it). */
static int refuse_features(struct vhu_conn *c, const struct vhu_hdr *req)
{
	if (vhu_wants_ack(c, req))
		return vhu_ack(c, req, -EINVAL);
	return -EPROTO;
}

static bool any_ring_running(const struct vhu_conn *c)
{
	for (uint32_t i = 0; i < vhu_nq(c); i++)
		if (vhu_running(c, i))
			return true;
	return false;
}

static int start_if_ready(struct vhu_conn *c, uint32_t idx)
{
	struct vhu_vring *v = &c->vrings[idx];
	if (vhu_running(c, idx) || !v->kick_set || !v->addr_set || !v->num)
		return 0;
	if (!v->enabled)
		return 0;
	struct virtio_vq_params p = {
		.size = v->num, .desc = v->desc, .avail = v->avail, .used = v->used,
		.last_avail = v->base, .kick_fd = v->kick_fd, .call_fd = v->call_fd,
		.vector = VIRTIO_MSI_NO_VECTOR,
	};
	p.inflight = vhu_inflight_queue(&c->inflight, idx, v->num, &p.inflight_num);
	if (!p.inflight && c->inflight.base && !c->inflight_warned) {
		c->inflight_warned = true;
		log_warn("%s: ring %u (%u entries) is outside the in-flight region (%u queues of %u): not tracked",
			 c->dev->name, idx, v->num, c->inflight.num_queues, c->inflight.queue_size);
	}
	int rc = c->dev->ops->queue_start(c->dev, (uint16_t)idx, &p);
	if (rc) {
		log_err("%s: cannot start queue %u: %s", c->dev->name, idx, strerror(-rc));
		return rc;
	}
	/* the queue owns the fds now */
	v->kick_fd = v->call_fd = -1;
	return 0;
}

/* --- features and identity --- */

static int h_get_features(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			  int nfds)
{
	(void)p, (void)plen, (void)fds, (void)nfds;
	return vhu_reply_u64(c, h, c->dev->ops->features(c->dev) | VHU_PROTO_F);
}

static int h_set_features(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			  int nfds)
{
	(void)plen, (void)fds, (void)nfds;
	struct virtio_dev *d = c->dev;
	uint64_t u64 = payload_u64(p);
	uint64_t offered = d->ops->features(d) | VHU_PROTO_F;
	uint64_t now = c->driver_features | (c->proto_negotiated ? VHU_PROTO_F : 0);
	if (u64 & ~offered) {
		log_warn("%s: front end asked for features 0x%llx beyond 0x%llx: refused", d->name,
			 (unsigned long long)u64, (unsigned long long)offered);
		return refuse_features(c, h);
	}
	if (any_ring_running(c)) {
		/* the reactors read the negotiated features (IN_ORDER,
		 * EVENT_IDX, FLUSH, ...) for every request: nothing may change
		 * under a running ring. The same value again changes nothing
		 * (QEMU sends SET_FEATURES while running to toggle
		 * VHOST_F_LOG_ALL, which is not offered here). */
		if (c->features_set && u64 == now)
			return vhu_ack(c, h, 0);
		log_warn("%s: front end changed features 0x%llx -> 0x%llx while rings run: refused", d->name,
			 (unsigned long long)now, (unsigned long long)u64);
		return refuse_features(c, h);
	}
	if (d->ops->set_features(d, u64 & ~VHU_PROTO_F)) {
		log_warn("%s: front end features 0x%llx refused (VERSION_1 missing)", d->name,
			 (unsigned long long)u64);
		return refuse_features(c, h);
	}
	c->features_set = true;
	c->driver_features = u64 & ~VHU_PROTO_F;
	c->proto_negotiated = u64 & VHU_PROTO_F;
	return vhu_ack(c, h, 0);
}

static int h_get_protocol_features(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen,
				   int *fds, int nfds)
{
	(void)p, (void)plen, (void)fds, (void)nfds;
	return vhu_reply_u64(c, h, g_protocol_features);
}

static int h_set_protocol_features(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen,
				   int *fds, int nfds)
{
	(void)plen, (void)fds, (void)nfds;
	c->protocol_features = payload_u64(p) & g_protocol_features;
	return vhu_ack(c, h, 0);
}

static int h_get_queue_num(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			   int nfds)
{
	(void)p, (void)plen, (void)fds, (void)nfds;
	return vhu_reply_u64(c, h, c->dev->ops->num_queues(c->dev));
}

static int h_get_max_mem_slots(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen,
			       int *fds, int nfds)
{
	(void)p, (void)plen, (void)fds, (void)nfds;
	return vhu_reply_u64(c, h, VHU_MAX_SLOTS);
}

static int h_set_owner(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
		       int nfds)
{
	(void)p, (void)plen, (void)fds, (void)nfds;
	return vhu_ack(c, h, 0);
}

/* RESET_OWNER, RESET_DEVICE: every ring stops, then the state is cleared */
static void reset_then(struct vhu_async *op)
{
	struct vhu_conn *c = op->c;
	for (int i = 0; i < VHU_MAX_QUEUES; i++) {
		struct vhu_vring *v = &c->vrings[i];
		v->kick_set = v->addr_set = v->enabled = false;
		v->base = 0;
		v->num = 0;
	}
	vhu_dev_reset(c);
	c->features_set = false;
	/* the rings stopped: a new start comes with its own region */
	vhu_inflight_detach(&c->inflight);
	vhu_ack(c, &op->h, 0);
	vhu_async_finish(op);
}

static int h_reset(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds, int nfds)
{
	(void)p, (void)plen, (void)fds, (void)nfds;
	struct vhu_async *op = vhu_async_new(c, h, reset_then);
	if (!op)
		return -ENOMEM;
	vhu_async_stop_all(op);
	return 0;
}

/* --- memory --- */

static void mem_removed(void *arg, int rc)
{
	(void)rc;
	struct vhu_async *op = arg;
	struct vhu_conn *c = op->c;
	/* a front end that left meanwhile gets no memory: its teardown, which
	 * waits for this request, removes only what is in the map */
	int err = c->gone ? -ENOTCONN : 0;
	/* install the new table (SET_MEM_TABLE) */
	for (int i = 0; i < op->nregions; i++) {
		const struct vhu_mem_region *r = &op->regions[i];
		if (!err)
			err = emu_mem_add(c->dev->fn, r->guest_addr, r->size, EMU_DMA_READ | EMU_DMA_WRITE,
					  op->fds[i], r->mmap_offset);
		close(op->fds[i]);
		if (!err && c->nregions < VHU_MAX_SLOTS)
			c->regions[c->nregions++] = (struct vhu_user_region){ r->guest_addr, r->size, r->user_addr };
	}
	if (err && !c->gone)
		log_err("%s: vhost-user memory table refused: %s", c->dev->name, strerror(-err));
	/* the table is replaced: lift the pause of mem_table_then (a single
	 * region's removal paused and resumed through the function alone) */
	if (op->paused)
		c->dev->ops->pause_all(c->dev, false, NULL, NULL);
	vhu_ack(c, &op->h, err);
	vhu_async_finish(op);
}

static void mem_table_paused(void *arg)
{
	struct vhu_async *op = arg;
	struct vhu_conn *c = op->c;
	c->nregions = 0;
	emu_mem_remove_all(c->dev->fn, mem_removed, op);
}

/* SET_MEM_TABLE: replace the whole table. Running rings keep running: they
 * are paused first (requests in flight finish; nothing is fetched while
 * the map is being replaced, so no request meets an empty map), the old
 * regions go, the new ones come, the rings translate their (guest-physical)
 * addresses again and resume (mem_removed). */
static void mem_table_then(struct vhu_async *op)
{
	struct virtio_dev *d = op->c->dev;
	op->paused = true;
	d->ops->pause_all(d, true, mem_table_paused, op);
}

static int h_set_mem_table(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			   int nfds)
{
	struct vhu_mem_table t;
	if (plen < 8 || plen > sizeof(t))
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	memcpy(&t, p, plen);
	if (!t.nregions || t.nregions > VHU_MAX_REGIONS || plen != 8 + t.nregions * sizeof(t.regions[0]) ||
	    (uint32_t)nfds != t.nregions)
		return -EINVAL;
	for (uint32_t i = 0; i < t.nregions; i++)
		if (!t.regions[i].size || t.regions[i].guest_addr + t.regions[i].size < t.regions[i].guest_addr ||
		    t.regions[i].user_addr + t.regions[i].size < t.regions[i].user_addr)
			return -EINVAL;
	struct vhu_async *op = vhu_async_new(c, h, mem_table_then);
	if (!op)
		return -ENOMEM;
	op->nregions = (int)t.nregions;
	for (uint32_t i = 0; i < t.nregions; i++) {
		op->regions[i] = t.regions[i];
		op->fds[i] = fds[i];
		fds[i] = -1;
	}
	mem_table_then(op);
	return 0;
}

static int h_add_mem_reg(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			 int nfds)
{
	(void)plen;
	struct vhu_mem_single m;
	if (nfds != 1 || !(c->protocol_features & (1ull << VHU_PF_CONFIGURE_MEM_SLOTS)))
		return -EINVAL;
	memcpy(&m, p, sizeof(m));
	if (!m.region.size || c->nregions >= VHU_MAX_SLOTS)
		return -EINVAL;
	int rc = emu_mem_add(c->dev->fn, m.region.guest_addr, m.region.size, EMU_DMA_READ | EMU_DMA_WRITE, fds[0],
			     m.region.mmap_offset);
	vhu_close_fds(fds, nfds);
	if (!rc)
		c->regions[c->nregions++] = (struct vhu_user_region){ m.region.guest_addr, m.region.size,
								      m.region.user_addr };
	return vhu_ack(c, h, rc);
}

static int h_rem_mem_reg(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			 int nfds)
{
	(void)plen, (void)fds, (void)nfds;
	struct vhu_mem_single m;
	memcpy(&m, p, sizeof(m));
	int found = -1;
	for (int i = 0; i < c->nregions; i++)
		if (c->regions[i].gpa == m.region.guest_addr && c->regions[i].size == m.region.size)
			found = i;
	if (found < 0)
		return vhu_ack(c, h, -ENOENT);
	c->regions[found] = c->regions[--c->nregions];
	/* the device's queues let go before the region is unmapped */
	struct vhu_async *op = vhu_async_new(c, h, NULL);
	if (!op)
		return -ENOMEM;
	emu_mem_remove(c->dev->fn, m.region.guest_addr, m.region.size, mem_removed, op);
	return 0;
}

/* --- rings --- */

static int h_set_vring_num(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			   int nfds)
{
	(void)plen, (void)fds, (void)nfds;
	struct vhu_vring_state st;
	memcpy(&st, p, sizeof(st));
	if (vring_index(c, st.index) || !st.num || st.num > VIRTIO_QUEUE_MAX_SIZE || (st.num & (st.num - 1)) ||
	    vhu_running(c, st.index))
		return vhu_ack(c, h, -EINVAL);
	c->vrings[st.index].num = st.num;
	return vhu_ack(c, h, 0);
}

static int h_set_vring_addr(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			    int nfds)
{
	(void)plen, (void)fds, (void)nfds;
	struct vhu_vring_addr a;
	memcpy(&a, p, sizeof(a));
	if (vring_index(c, a.index) || vhu_running(c, a.index))
		return vhu_ack(c, h, -EINVAL);
	struct vhu_vring *v = &c->vrings[a.index];
	uint32_t n = v->num ? v->num : 1;
	if (!uaddr_to_gpa(c, a.desc, vring_desc_bytes(n), &v->desc) ||
	    !uaddr_to_gpa(c, a.avail, vring_avail_bytes(n), &v->avail) ||
	    !uaddr_to_gpa(c, a.used, vring_used_bytes(n), &v->used)) {
		log_warn("%s: vring %u addresses are outside the memory table", c->dev->name, a.index);
		return vhu_ack(c, h, -EFAULT);
	}
	v->addr_set = true;
	return vhu_ack(c, h, 0);
}

static int h_set_vring_base(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			    int nfds)
{
	(void)plen, (void)fds, (void)nfds;
	struct vhu_vring_state st;
	memcpy(&st, p, sizeof(st));
	if (vring_index(c, st.index) || st.num > 0xffff || vhu_running(c, st.index))
		return vhu_ack(c, h, -EINVAL);
	c->vrings[st.index].base = (uint16_t)st.num;
	return vhu_ack(c, h, 0);
}

/* GET_VRING_BASE: stop the ring, answer where it stopped */
static void vring_base_then(struct vhu_async *op)
{
	struct vhu_conn *c = op->c;
	struct vhu_vring_state st = { op->index, op->base };
	c->vrings[op->index].kick_set = false;
	c->vrings[op->index].base = op->base;
	vhu_reply(c, &op->h, &st, sizeof(st), NULL, 0);
	vhu_async_finish(op);
}

static int h_get_vring_base(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			    int nfds)
{
	(void)plen, (void)fds, (void)nfds;
	struct vhu_vring_state st;
	memcpy(&st, p, sizeof(st));
	if (vring_index(c, st.index))
		return -EINVAL;
	struct vhu_async *op = vhu_async_new(c, h, vring_base_then);
	if (!op)
		return -ENOMEM;
	op->index = st.index;
	vhu_async_stop_one(op);
	return 0;
}

/* SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR: the u64 names the ring
 * and whether an fd comes with it. Returns the fd (-1: none), or -errno
 * (< -1) for a malformed request. */
static int vring_fd(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, int *fds, int nfds,
		    uint32_t *idx)
{
	uint64_t u64 = payload_u64(p);
	*idx = (uint32_t)(u64 & VHU_VRING_IDX_MASK);
	bool nofd = u64 & VHU_VRING_NOFD;
	if (vring_index(c, *idx) || (nofd ? nfds != 0 : nfds != 1))
		return -EINVAL;
	/* call and kick fds are written and read by a reactor: eventfds
	 * only (a pipe could block it), non-blocking */
	if (!nofd && h->request != VHU_SET_VRING_ERR && client_eventfd_accept(fds[0])) {
		log_warn("%s: vring %u %s fd is not an eventfd: refused", c->dev->name, *idx,
			 h->request == VHU_SET_VRING_CALL ? "call" : "kick");
		return -EINVAL;
	}
	if (nofd)
		return -1;
	int fd = fds[0];
	fds[0] = -1;
	return fd;
}

static int vring_call(struct vhu_conn *c, const struct vhu_hdr *h, uint32_t idx, int fd)
{
	struct vhu_vring *v = &c->vrings[idx];
	if (vhu_running(c, idx)) {
		c->dev->ops->queue_set_call(c->dev, (uint16_t)idx, fd);
	} else {
		if (v->call_fd >= 0)
			close(v->call_fd);
		v->call_fd = fd;
	}
	return vhu_ack(c, h, 0);
}

/* kick: the ring starts (when enabled) */
static int vring_kick(struct vhu_conn *c, const struct vhu_hdr *h, uint32_t idx, int fd)
{
	if (fd < 0) {
		log_warn("%s: polling-mode rings (no kick fd) are not supported", c->dev->name);
		return vhu_ack(c, h, -ENOTSUP);
	}
	if (vhu_running(c, idx)) {
		close(fd);
		return vhu_ack(c, h, -EBUSY);
	}
	struct vhu_vring *v = &c->vrings[idx];
	if (v->kick_fd >= 0)
		close(v->kick_fd);
	v->kick_fd = fd;
	v->kick_set = true;
	/* without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled as soon
	 * as it starts; with it, SET_VRING_ENABLE decides */
	if (!c->proto_negotiated)
		v->enabled = true;
	return vhu_ack(c, h, start_if_ready(c, idx));
}

/* SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR (the error fd is not
 * used: closed) */
static int h_set_vring_fd(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			  int nfds)
{
	(void)plen;
	uint32_t idx;
	int fd = vring_fd(c, h, p, fds, nfds, &idx);
	if (fd < -1)
		return fd;
	if (h->request == VHU_SET_VRING_KICK)
		return vring_kick(c, h, idx, fd);
	if (h->request == VHU_SET_VRING_CALL)
		return vring_call(c, h, idx, fd);
	if (fd >= 0)
		close(fd);
	return vhu_ack(c, h, 0);
}

static int h_set_vring_enable(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen,
			      int *fds, int nfds)
{
	(void)plen, (void)fds, (void)nfds;
	struct vhu_vring_state st;
	memcpy(&st, p, sizeof(st));
	if (vring_index(c, st.index))
		return vhu_ack(c, h, -EINVAL);
	c->vrings[st.index].enabled = st.num != 0;
	if (st.num)
		return vhu_ack(c, h, start_if_ready(c, st.index));
	return vhu_ack(c, h, 0);	/* a running ring keeps its state */
}

/* --- device configuration --- */

static int h_get_config(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			int nfds)
{
	(void)fds, (void)nfds;
	uint8_t cfg[VIRTIO_DEV_MAX_CONFIG];
	uint8_t out[sizeof(struct vhu_config) + 256];
	struct vhu_config hdr;
	if (plen < sizeof(hdr) || plen > sizeof(out))
		return -EINVAL;
	memcpy(&hdr, p, sizeof(hdr));
	if (hdr.size > 256 || plen != sizeof(hdr) + hdr.size || hdr.offset > 256)
		return -EINVAL;
	size_t cfg_size = c->dev->ops->get_config(c->dev, cfg, sizeof(cfg));
	if (cfg_size > sizeof(cfg))
		cfg_size = sizeof(cfg);
	memset(out, 0, sizeof(out));
	memcpy(out, &hdr, sizeof(hdr));
	/* answer the size asked; bytes past our config read as zero */
	for (uint32_t i = 0; i < hdr.size; i++)
		if (hdr.offset + i < cfg_size)
			out[sizeof(hdr) + i] = cfg[hdr.offset + i];
	return vhu_reply(c, h, out, sizeof(hdr) + hdr.size, NULL, 0);
}

static int h_set_config(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
			int nfds)
{
	(void)p, (void)plen, (void)fds, (void)nfds;
	/* no writable configuration field is offered (virtio-blk: writeback
	 * needs CONFIG_WCE) */
	return vhu_ack(c, h, -ENOTSUP);
}

/* --- inflight region (vhu_inflight.c) --- */

/* GET_INFLIGHT_FD: a new region; it is used once the front end hands it
 * back with SET_INFLIGHT_FD (QEMU does so at every start, and again after
 * reconnecting to a restarted back end). */
static int h_get_inflight_fd(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen,
			     int *fds, int nfds)
{
	(void)plen, (void)fds, (void)nfds;
	struct vhu_inflight in, out;
	int fd = -1;
	memcpy(&in, p, sizeof(in));
	int rc = vhu_inflight_create(&in, vhu_nq(c), &out, &fd);
	if (rc) {
		log_warn("%s: GET_INFLIGHT_FD for %u queues of %u: %s", c->dev->name, in.num_queues, in.queue_size,
			 strerror(-rc));
		return rc;
	}
	rc = vhu_reply(c, h, &out, sizeof(out), &fd, 1);
	close(fd);	/* the front end has its copy */
	return rc;
}

static void inflight_fault(void *arg)
{
	struct vhu_conn *c = arg;
	if (c->ops->fault)
		c->ops->fault(c);
}

/* SET_INFLIGHT_FD: the region to track in (a restarted back end finds in
 * it what its predecessor had in flight). Only while no ring runs: the
 * running queues write the region they started with. */
static int h_set_inflight_fd(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen,
			     int *fds, int nfds)
{
	(void)plen;
	struct vhu_inflight in;
	memcpy(&in, p, sizeof(in));
	if (nfds != 1)
		return -EINVAL;
	if (any_ring_running(c)) {
		log_warn("%s: SET_INFLIGHT_FD while rings run: refused", c->dev->name);
		return vhu_ack(c, h, -EBUSY);
	}
	/* a region refused leaves the one in place as it was */
	struct vhu_inflight_map m;
	vhu_inflight_map_init(&m);
	int rc = vhu_inflight_attach(&m, &in, fds[0], vhu_nq(c), inflight_fault, c);
	if (!rc) {
		vhu_inflight_detach(&c->inflight);
		c->inflight = m;
		c->inflight_warned = false;
	} else {
		log_warn("%s: in-flight region refused (%llu bytes at %llu, %u queues of %u): %s", c->dev->name,
			 (unsigned long long)in.mmap_size, (unsigned long long)in.mmap_offset, in.num_queues,
			 in.queue_size, strerror(-rc));
	}
	vhu_close_fds(fds, nfds);
	return vhu_ack(c, h, rc);
}

/* --- the table --- */

#define U64 sizeof(uint64_t)

static const struct vhu_request g_requests[] = {
	[VHU_GET_FEATURES] = { h_get_features, 0, true },
	[VHU_SET_FEATURES] = { h_set_features, U64, false },
	[VHU_SET_OWNER] = { h_set_owner, 0, false },
	[VHU_RESET_OWNER] = { h_reset, 0, false },
	[VHU_SET_MEM_TABLE] = { h_set_mem_table, 0, false },
	[VHU_SET_LOG_BASE] = { NULL, 0, false },	/* no dirty logging */
	[VHU_SET_LOG_FD] = { NULL, 0, false },
	[VHU_SET_VRING_NUM] = { h_set_vring_num, sizeof(struct vhu_vring_state), false },
	[VHU_SET_VRING_ADDR] = { h_set_vring_addr, sizeof(struct vhu_vring_addr), false },
	[VHU_SET_VRING_BASE] = { h_set_vring_base, sizeof(struct vhu_vring_state), false },
	[VHU_GET_VRING_BASE] = { h_get_vring_base, sizeof(struct vhu_vring_state), true },
	[VHU_SET_VRING_KICK] = { h_set_vring_fd, U64, false },
	[VHU_SET_VRING_CALL] = { h_set_vring_fd, U64, false },
	[VHU_SET_VRING_ERR] = { h_set_vring_fd, U64, false },
	[VHU_GET_PROTOCOL_FEATURES] = { h_get_protocol_features, 0, true },
	[VHU_SET_PROTOCOL_FEATURES] = { h_set_protocol_features, U64, false },
	[VHU_GET_QUEUE_NUM] = { h_get_queue_num, 0, true },
	[VHU_SET_VRING_ENABLE] = { h_set_vring_enable, sizeof(struct vhu_vring_state), false },
	[VHU_GET_CONFIG] = { h_get_config, 0, true },
	[VHU_SET_CONFIG] = { h_set_config, 0, false },
	[VHU_GET_INFLIGHT_FD] = { h_get_inflight_fd, sizeof(struct vhu_inflight), true },
	[VHU_SET_INFLIGHT_FD] = { h_set_inflight_fd, sizeof(struct vhu_inflight), false },
	[VHU_RESET_DEVICE] = { h_reset, 0, false },
	[VHU_GET_MAX_MEM_SLOTS] = { h_get_max_mem_slots, 0, true },
	[VHU_ADD_MEM_REG] = { h_add_mem_reg, sizeof(struct vhu_mem_single), false },
	[VHU_REM_MEM_REG] = { h_rem_mem_reg, sizeof(struct vhu_mem_single), false },
	[VHU_SET_STATUS] = { NULL, 0, false },
	[VHU_GET_STATUS] = { NULL, 0, true },
};

const struct vhu_request *vhu_request_find(uint32_t req)
{
	return req < sizeof(g_requests) / sizeof(g_requests[0]) ? &g_requests[req] : NULL;
}
