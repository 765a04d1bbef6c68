/* vhost-user requests for a virtio device back end. Every field is checked
 * before use; ring addresses are the front end's user addresses and are
 * translated through its memory table. */
#include "vhu_conn.h"
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

void vhu_conn_init(struct vhu_conn *c, struct virtio_dev *dev, const struct vhu_conn_ops *ops, void *user)
{
	memset(c, 0, sizeof(*c));
	c->dev = dev;
	c->ops = ops;
	c->user = user;
	c->inflight_fd = -1;
	for (int i = 0; i < VHU_MAX_QUEUES; i++)
		c->vrings[i].kick_fd = c->vrings[i].call_fd = -1;
}

/* The device's queues this connection addresses. */
static uint32_t nq(const struct vhu_conn *c)
{
	uint32_t n = c->dev->ops->num_queues(c->dev);
	return n < VHU_MAX_QUEUES ? n : VHU_MAX_QUEUES;
}

static bool running(const struct vhu_conn *c, uint32_t idx)
{
	return c->dev->ops->queue_running(c->dev, (uint16_t)idx);
}

static void stop_queue(struct vhu_conn *c, uint32_t idx, void (*done)(void *arg, uint16_t last), void *arg)
{
	c->dev->ops->queue_stop(c->dev, (uint16_t)idx, done, arg);
}

/* Negotiated features back to none (the queues are stopped). */
static void dev_reset(struct vhu_conn *c)
{
	c->driver_features = 0;
	c->dev->ops->reset(c->dev);
}

static void close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

static int reply(struct vhu_conn *c, const struct vhu_hdr *req, const void *payload, size_t len,
		 const int *fds, int nfds)
{
	uint8_t buf[sizeof(struct vhu_hdr) + 512];
	if (len > 512)
		return -EINVAL;
	struct vhu_hdr h = { req->request, VHU_VERSION | VHU_FLAG_REPLY, (uint32_t)len };
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), payload, len);
	return c->ops->send(c, buf, sizeof(h) + len, fds, nfds);
}

static int reply_u64(struct vhu_conn *c, const struct vhu_hdr *req, uint64_t v)
{
	return reply(c, req, &v, sizeof(v), NULL, 0);
}

/* With REPLY_ACK, a request flagged need_reply gets a u64 status. */
static int ack(struct vhu_conn *c, const struct vhu_hdr *req, int rc)
{
	if ((c->protocol_features & (1ull << VHU_PF_REPLY_ACK)) && (req->flags & VHU_FLAG_NEED_REPLY))
		return reply_u64(c, req, rc ? 1 : 0);
	return 0;
}

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

static bool wants_ack(const struct vhu_conn *c, const struct vhu_hdr *req)
{
	return (c->protocol_features & (1ull << VHU_PF_REPLY_ACK)) && (req->flags & VHU_FLAG_NEED_REPLY);
}

/* A SET_FEATURES the device cannot take leaves the features as they were.
 * With REPLY_ACK asked for, the front end learns it from a non-zero reply;
 * without, it cannot be told and would go on with features the device does
 * not use: the connection closes (vhost-user.rst, Communication: a back end
 * that detects an error such as incompatible features may close it). */
static int refuse_features(struct vhu_conn *c, const struct vhu_hdr *req)
{
	if (wants_ack(c, req))
		return ack(c, req, -EINVAL);
	return -EPROTO;
}

static bool any_ring_running(const struct vhu_conn *c)
{
	for (uint32_t i = 0; i < nq(c); i++)
		if (running(c, i))
			return true;
	return false;
}

static int start_if_ready(struct vhu_conn *c, uint32_t idx)
{
	struct vhu_vring *v = &c->vrings[idx];
	if (running(c, idx) || !v->kick_set || !v->addr_set || !v->num)
		return 0;
	if (!v->enabled)
		return 0;
	struct virtio_vq_params p = {
		.size = v->num, .desc = v->desc, .avail = v->avail, .used = v->used,
		.last_avail = v->base, .kick_fd = v->kick_fd, .call_fd = v->call_fd,
		.vector = VIRTIO_MSI_NO_VECTOR,
	};
	int rc = c->dev->ops->queue_start(c->dev, (uint16_t)idx, &p);
	if (rc) {
		log_err("%s: cannot start queue %u: %s", c->dev->name, idx, strerror(-rc));
		return rc;
	}
	/* the queue owns the fds now */
	v->kick_fd = v->call_fd = -1;
	return 0;
}

/* --- asynchronous steps: stop queues, then continue --- */

struct async_op {
	struct vhu_conn *c;
	struct vhu_hdr h;
	int pending;
	uint32_t index;
	uint16_t base;
	void (*then)(struct async_op *op);
	/* memory table being installed */
	struct vhu_mem_region regions[VHU_MAX_REGIONS];
	int fds[VHU_MAX_REGIONS];
	int nregions;
	bool single;
};

static void gone_start(struct vhu_conn *c, void (*done)(void *arg), void *arg);

static void async_finish(struct async_op *op)
{
	struct vhu_conn *c = op->c;
	c->busy = false;
	free(op);
	if (c->gone) {
		/* the front end left meanwhile: its teardown waited for us */
		void (*done)(void *arg) = c->gone_done;
		c->gone_done = NULL;
		if (done)
			gone_start(c, done, c->gone_arg);
		return;
	}
	if (!c->in_handler)
		c->ops->resume(c);
}

static void stopped_one(void *arg, uint16_t last)
{
	struct async_op *op = arg;
	if (op->index < VHU_MAX_QUEUES && op->pending == 1)
		op->base = last;
	if (--op->pending == 0)
		op->then(op);
}

/* Stop every running queue (their in-flight requests finish first). */
static void stop_all_then(struct vhu_conn *c, struct async_op *op)
{
	op->pending = 1;
	for (uint32_t i = 0; i < nq(c); i++) {
		if (running(c, i)) {
			op->pending++;
			/* resume where it stopped when the queue starts again */
			c->vrings[i].base = 0;
			stop_queue(c, i, stopped_one, op);
		}
	}
	op->index = UINT32_MAX;
	stopped_one(op, 0);
}

/* GET_VRING_BASE: stop the ring, answer where it stopped */
static void vring_base_then(struct async_op *op)
{
	struct vhu_conn *c = op->c;
	struct vhu_vring_state st = { op->index, op->base };
	c->vrings[op->index].kick_set = false;
	c->vrings[op->index].base = op->base;
	reply(c, &op->h, &st, sizeof(st), NULL, 0);
	async_finish(op);
}

static void mem_removed(void *arg, int rc)
{
	(void)rc;
	struct async_op *op = arg;
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
	/* the table is replaced: lift the pause of mem_table_then */
	c->dev->ops->pause_all(c->dev, false, NULL, NULL);
	ack(c, &op->h, err);
	async_finish(op);
}

static void mem_table_paused(void *arg)
{
	struct async_op *op = arg;
	struct vhu_conn *c = op->c;
	c->nregions = 0;
	emu_mem_remove_all(c->dev->fn, mem_removed, op);
}

/* SET_MEM_TABLE: replace the whole table. Running rings keep running: they
 * are paused first (requests in flight finish; nothing is fetched while
 * the map is being replaced, so no request meets an empty map), the old
 * regions go, the new ones come, the rings translate their (guest-physical)
 * addresses again and resume (mem_removed). */
static void mem_table_then(struct async_op *op)
{
	struct virtio_dev *d = op->c->dev;
	d->ops->pause_all(d, true, mem_table_paused, op);
}

static void reset_then(struct async_op *op)
{
	struct vhu_conn *c = op->c;
	for (int i = 0; i < VHU_MAX_QUEUES; i++) {
		struct vhu_vring *v = &c->vrings[i];
		v->kick_set = v->addr_set = v->enabled = false;
		v->base = 0;
		v->num = 0;
	}
	dev_reset(c);
	c->features_set = false;
	ack(c, &op->h, 0);
	async_finish(op);
}

static struct async_op *op_new(struct vhu_conn *c, const struct vhu_hdr *h, void (*then)(struct async_op *))
{
	struct async_op *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->c = c;
	op->h = *h;
	op->then = then;
	c->busy = true;
	return op;
}

/* --- the requests --- */

#define NEED(n) do { if (plen != (n)) return -EINVAL; } while (0)

static int vring_index(struct vhu_conn *c, uint32_t idx)
{
	return idx < nq(c) ? 0 : -EINVAL;
}

static int handle(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen,
		  int *fds, int nfds)
{
	struct virtio_dev *d = c->dev;
	uint64_t u64 = 0;
	if (plen == 8)
		memcpy(&u64, p, 8);

	switch (h->request) {
	case VHU_GET_FEATURES:
		return reply_u64(c, h, d->ops->features(d) | (1ull << VHU_F_PROTOCOL_FEATURES));
	case VHU_SET_FEATURES: {
		NEED(8);
		const uint64_t proto = 1ull << VHU_F_PROTOCOL_FEATURES;
		uint64_t offered = d->ops->features(d) | proto;
		uint64_t now = c->driver_features | (c->proto_negotiated ? proto : 0);
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
				return ack(c, h, 0);
			log_warn("%s: front end changed features 0x%llx -> 0x%llx while rings run: refused",
				 d->name, (unsigned long long)now, (unsigned long long)u64);
			return refuse_features(c, h);
		}
		int rc = d->ops->set_features(d, u64 & ~proto);
		if (rc) {
			log_warn("%s: front end features 0x%llx refused (VERSION_1 missing)", d->name,
				 (unsigned long long)u64);
			return refuse_features(c, h);
		}
		c->features_set = true;
		c->driver_features = u64 & ~proto;
		c->proto_negotiated = u64 & proto;
		return ack(c, h, 0);
	}
	case VHU_GET_PROTOCOL_FEATURES:
		return reply_u64(c, h, g_protocol_features);
	case VHU_SET_PROTOCOL_FEATURES:
		NEED(8);
		c->protocol_features = u64 & g_protocol_features;
		return ack(c, h, 0);
	case VHU_GET_QUEUE_NUM:
		return reply_u64(c, h, d->ops->num_queues(d));
	case VHU_GET_MAX_MEM_SLOTS:
		return reply_u64(c, h, VHU_MAX_SLOTS);
	case VHU_SET_OWNER:
		return ack(c, h, 0);
	case VHU_RESET_OWNER:
	case VHU_RESET_DEVICE: {
		struct async_op *op = op_new(c, h, reset_then);
		if (!op)
			return -ENOMEM;
		stop_all_then(c, op);
		return 0;
	}
	case VHU_SET_MEM_TABLE: {
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
		struct async_op *op = op_new(c, h, mem_table_then);
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
	case VHU_ADD_MEM_REG: {
		struct vhu_mem_single m;
		NEED(sizeof(m));
		if (nfds != 1 || !(c->protocol_features & (1ull << VHU_PF_CONFIGURE_MEM_SLOTS)))
			return -EINVAL;
		memcpy(&m, p, sizeof(m));
		if (!m.region.size || c->nregions >= VHU_MAX_SLOTS)
			return -EINVAL;
		int rc = emu_mem_add(d->fn, m.region.guest_addr, m.region.size, EMU_DMA_READ | EMU_DMA_WRITE,
				     fds[0], m.region.mmap_offset);
		close_fds(fds, nfds);
		if (!rc)
			c->regions[c->nregions++] = (struct vhu_user_region){ m.region.guest_addr, m.region.size,
									      m.region.user_addr };
		return ack(c, h, rc);
	}
	case VHU_REM_MEM_REG: {
		struct vhu_mem_single m;
		NEED(sizeof(m));
		memcpy(&m, p, sizeof(m));
		int found = -1;
		for (int i = 0; i < c->nregions; i++)
			if (c->regions[i].gpa == m.region.guest_addr && c->regions[i].size == m.region.size)
				found = i;
		if (found < 0)
			return ack(c, h, -ENOENT);
		c->regions[found] = c->regions[--c->nregions];
		/* the controller's queues let go before the region is unmapped */
		struct async_op *op = op_new(c, h, NULL);
		if (!op)
			return -ENOMEM;
		emu_mem_remove(d->fn, m.region.guest_addr, m.region.size, mem_removed, op);
		return 0;
	}
	case VHU_SET_VRING_NUM: {
		struct vhu_vring_state st;
		NEED(sizeof(st));
		memcpy(&st, p, sizeof(st));
		if (vring_index(c, st.index) || !st.num || st.num > VIRTIO_QUEUE_MAX_SIZE || (st.num & (st.num - 1)) ||
		    running(c, st.index))
			return ack(c, h, -EINVAL);
		c->vrings[st.index].num = st.num;
		return ack(c, h, 0);
	}
	case VHU_SET_VRING_ADDR: {
		struct vhu_vring_addr a;
		NEED(sizeof(a));
		memcpy(&a, p, sizeof(a));
		if (vring_index(c, a.index) || running(c, a.index))
			return ack(c, h, -EINVAL);
		struct vhu_vring *v = &c->vrings[a.index];
		uint32_t n = v->num ? v->num : 1;
		if (!uaddr_to_gpa(c, a.desc, vring_desc_bytes(n), &v->desc) ||
		    !uaddr_to_gpa(c, a.avail, vring_avail_bytes(n), &v->avail) ||
		    !uaddr_to_gpa(c, a.used, vring_used_bytes(n), &v->used)) {
			log_warn("%s: vring %u addresses are outside the memory table", d->name, a.index);
			return ack(c, h, -EFAULT);
		}
		v->addr_set = true;
		return ack(c, h, 0);
	}
	case VHU_SET_VRING_BASE: {
		struct vhu_vring_state st;
		NEED(sizeof(st));
		memcpy(&st, p, sizeof(st));
		if (vring_index(c, st.index) || st.num > 0xffff || running(c, st.index))
			return ack(c, h, -EINVAL);
		c->vrings[st.index].base = (uint16_t)st.num;
		return ack(c, h, 0);
	}
	case VHU_GET_VRING_BASE: {
		struct vhu_vring_state st;
		NEED(sizeof(st));
		memcpy(&st, p, sizeof(st));
		if (vring_index(c, st.index))
			return -EINVAL;
		struct async_op *op = op_new(c, h, vring_base_then);
		if (!op)
			return -ENOMEM;
		op->index = st.index;
		op->pending = 1;
		op->base = c->vrings[st.index].base;
		stop_queue(c, st.index, stopped_one, op);
		return 0;
	}
	case VHU_SET_VRING_KICK:
	case VHU_SET_VRING_CALL:
	case VHU_SET_VRING_ERR: {
		NEED(8);
		uint32_t idx = (uint32_t)(u64 & VHU_VRING_IDX_MASK);
		bool nofd = u64 & VHU_VRING_NOFD;
		if (vring_index(c, idx) || (nofd ? nfds != 0 : nfds != 1))
			return -EINVAL;
		/* call and kick fds are written and read by a reactor: eventfds
		 * only (a pipe could block it), non-blocking */
		if (!nofd && h->request != VHU_SET_VRING_ERR && client_eventfd_accept(fds[0])) {
			log_warn("%s: vring %u %s fd is not an eventfd: refused", d->name, idx,
				 h->request == VHU_SET_VRING_CALL ? "call" : "kick");
			return -EINVAL;
		}
		int fd = nofd ? -1 : fds[0];
		if (!nofd)
			fds[0] = -1;
		struct vhu_vring *v = &c->vrings[idx];
		if (h->request == VHU_SET_VRING_ERR) {
			if (fd >= 0)
				close(fd);
			return ack(c, h, 0);
		}
		if (h->request == VHU_SET_VRING_CALL) {
			if (running(c, idx)) {
				d->ops->queue_set_call(d, (uint16_t)idx, fd);
			} else {
				if (v->call_fd >= 0)
					close(v->call_fd);
				v->call_fd = fd;
			}
			return ack(c, h, 0);
		}
		/* kick: the ring starts (when enabled) */
		if (nofd) {
			log_warn("%s: polling-mode rings (no kick fd) are not supported", d->name);
			return ack(c, h, -ENOTSUP);
		}
		if (running(c, idx)) {
			close(fd);
			return ack(c, h, -EBUSY);
		}
		if (v->kick_fd >= 0)
			close(v->kick_fd);
		v->kick_fd = fd;
		v->kick_set = true;
		/* without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled as soon
		 * as it starts; with it, SET_VRING_ENABLE decides */
		if (!c->proto_negotiated)
			v->enabled = true;
		return ack(c, h, start_if_ready(c, idx));
	}
	case VHU_SET_VRING_ENABLE: {
		struct vhu_vring_state st;
		NEED(sizeof(st));
		memcpy(&st, p, sizeof(st));
		if (vring_index(c, st.index))
			return ack(c, h, -EINVAL);
		c->vrings[st.index].enabled = st.num != 0;
		if (st.num)
			return ack(c, h, start_if_ready(c, st.index));
		return ack(c, h, 0);	/* a running ring keeps its state */
	}
	case VHU_GET_CONFIG: {
		uint8_t cfg[VIRTIO_DEV_MAX_CONFIG];
		uint8_t out[sizeof(struct vhu_config) + 256];
		struct vhu_config hdr;
		if (plen < sizeof(hdr) || plen > sizeof(out))
			return -EINVAL;
		memcpy(&hdr, p, sizeof(hdr));
		if (hdr.size > 256 || plen != sizeof(hdr) + hdr.size || hdr.offset > 256)
			return -EINVAL;
		size_t cfg_size = d->ops->get_config(d, cfg, sizeof(cfg));
		if (cfg_size > sizeof(cfg))
			cfg_size = sizeof(cfg);
		memset(out, 0, sizeof(out));
		memcpy(out, &hdr, sizeof(hdr));
		/* answer the size asked; bytes past our config read as zero */
		for (uint32_t i = 0; i < hdr.size; i++)
			if (hdr.offset + i < cfg_size)
				out[sizeof(hdr) + i] = cfg[hdr.offset + i];
		return reply(c, h, out, sizeof(hdr) + hdr.size, NULL, 0);
	}
	case VHU_SET_CONFIG:
		/* only the writeback field is writable, and CONFIG_WCE is not offered */
		return ack(c, h, -ENOTSUP);
	case VHU_GET_INFLIGHT_FD: {
		struct vhu_inflight in;
		NEED(sizeof(in));
		memcpy(&in, p, sizeof(in));
		if (!in.num_queues || in.num_queues > VHU_MAX_QUEUES || !in.queue_size || in.queue_size > VIRTIO_QUEUE_MAX_SIZE)
			return -EINVAL;
		uint64_t per = 16 + 16ull * in.queue_size;
		uint64_t size = ((per * in.num_queues) + 4095) & ~4095ull;
		int fd = memfd_create("osnap-inflight", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
			if (fd >= 0)
				close(fd);
			return -errno;
		}
		/* every request fetched is finished before a ring stops (and at
		 * shutdown), so the region never lists requests to resubmit */
		if (c->inflight_fd >= 0)
			close(c->inflight_fd);
		c->inflight_fd = fd;
		c->inflight_size = size;
		struct vhu_inflight out = { size, 0, in.num_queues, in.queue_size, 0 };
		return reply(c, h, &out, sizeof(out), &fd, 1);
	}
	case VHU_SET_INFLIGHT_FD: {
		NEED(sizeof(struct vhu_inflight));
		if (nfds != 1)
			return -EINVAL;
		if (c->inflight_fd >= 0)
			close(c->inflight_fd);
		c->inflight_fd = fds[0];
		fds[0] = -1;
		return ack(c, h, 0);
	}
	case VHU_SET_LOG_BASE:
	case VHU_SET_LOG_FD:
	case VHU_SET_STATUS:
	case VHU_GET_STATUS:
	default:
		log_warn("%s: vhost-user request %u not supported", d->name, h->request);
		return -ENOTSUP;
	}
}

int vhu_conn_handle(struct vhu_conn *c, const uint8_t *msg, size_t len, int *fds, int nfds)
{
	struct vhu_hdr h;
	int rc;

	if (len < sizeof(h)) {
		close_fds(fds, nfds);
		return -EPROTO;
	}
	memcpy(&h, msg, sizeof(h));
	if ((h.flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION || h.size != len - sizeof(h) ||
	    (h.flags & VHU_FLAG_REPLY)) {
		close_fds(fds, nfds);
		return -EPROTO;
	}
	c->in_handler = true;
	rc = handle(c, &h, msg + sizeof(h), len - sizeof(h), fds, nfds);
	c->in_handler = false;
	close_fds(fds, nfds);
	if (rc == -EPROTO) {
		log_warn("%s: vhost-user request %u: closing the connection", c->dev->name, h.request);
		return -EPROTO;
	}
	if (rc) {
		/* a request we cannot serve: say so when an answer is expected,
		 * else the front end would wait for ever */
		log_debug("%s: vhost-user request %u failed: %s", c->dev->name, h.request, strerror(-rc));
		bool wants = (h.flags & VHU_FLAG_NEED_REPLY) && (c->protocol_features & (1ull << VHU_PF_REPLY_ACK));
		bool get = h.request == VHU_GET_FEATURES || h.request == VHU_GET_PROTOCOL_FEATURES ||
			   h.request == VHU_GET_VRING_BASE || h.request == VHU_GET_QUEUE_NUM ||
			   h.request == VHU_GET_CONFIG || h.request == VHU_GET_INFLIGHT_FD ||
			   h.request == VHU_GET_MAX_MEM_SLOTS || h.request == VHU_GET_STATUS;
		if (get)
			return -EPROTO;	/* no well-formed answer exists: disconnect */
		if (wants && ack(c, &h, rc))
			return -EPROTO;
	}
	return 0;
}

struct gone_ctx {
	struct vhu_conn *c;
	int pending;
	void (*done)(void *arg);
	void *arg;
};

static void gone_mem(void *arg, int rc)
{
	(void)rc;
	struct gone_ctx *g = arg;
	g->done(g->arg);
	free(g);
}

static void gone_stopped(void *arg, uint16_t last)
{
	struct gone_ctx *g = arg;
	(void)last;
	if (--g->pending)
		return;
	struct vhu_conn *c = g->c;
	for (int i = 0; i < VHU_MAX_QUEUES; i++) {
		struct vhu_vring *v = &c->vrings[i];
		if (v->kick_fd >= 0)
			close(v->kick_fd);
		if (v->call_fd >= 0)
			close(v->call_fd);
		v->kick_fd = v->call_fd = -1;
	}
	if (c->inflight_fd >= 0)
		close(c->inflight_fd);
	c->inflight_fd = -1;
	c->nregions = 0;
	dev_reset(c);
	emu_mem_remove_all(c->dev->fn, gone_mem, g);
}

void vhu_conn_gone(struct vhu_conn *c, void (*done)(void *arg), void *arg)
{
	c->gone = true;
	if (c->busy) {
		/* a request is completing (its queues paused or stopping, or the
		 * memory map changing): the teardown starts when it is over */
		c->gone_done = done;
		c->gone_arg = arg;
		return;
	}
	gone_start(c, done, arg);
}

static void gone_start(struct vhu_conn *c, void (*done)(void *arg), void *arg)
{
	struct gone_ctx *g = calloc(1, sizeof(*g));
	if (!g) {
		done(arg);
		return;
	}
	g->c = c;
	g->done = done;
	g->arg = arg;
	g->pending = 1;
	/* requests already fetched complete before the queues stop */
	for (uint32_t i = 0; i < nq(c); i++) {
		if (running(c, i)) {
			g->pending++;
			stop_queue(c, i, gone_stopped, g);
		}
	}
	gone_stopped(g, 0);
}
