/* One vhost-user front end: message checks and dispatch through the
 * request table (vhu_handlers.c), replies, requests that complete later,
 * and the teardown when the front end leaves. */
#include "vhu_internal.h"
#include "emu/emu.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void vhu_conn_init(struct vhu_conn *c, struct virtio_dev *dev, const struct vhu_conn_ops *ops, void *user)
{
	memset(c, 0, sizeof(*c));
	c->dev = dev;
	c->ops = ops;
	c->user = user;
	vhu_inflight_map_init(&c->inflight);
	for (int i = 0; i < VHU_MAX_QUEUES; i++)
		c->vrings[i].kick_fd = c->vrings[i].call_fd = -1;
}

uint32_t vhu_nq(const struct vhu_conn *c)
{
	uint32_t n = c->dev->ops->num_queues(c->dev);
	return n < VHU_MAX_QUEUES ? n : VHU_MAX_QUEUES;
}

bool vhu_running(const struct vhu_conn *c, uint32_t idx)
{
	return c->dev->ops->queue_running(c->dev, (uint16_t)idx);
}

void vhu_dev_reset(struct vhu_conn *c)
{
	c->driver_features = 0;
	c->dev->ops->reset(c->dev);
}

void vhu_close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

/* --- replies --- */

int vhu_reply(struct vhu_conn *c, const struct vhu_hdr *req, const void *payload, size_t len, const int *fds,
	      int nfds)
{
	uint8_t buf[sizeof(struct vhu_hdr) + 512];
	if (len > 512)
		return -EINVAL;
	struct vhu_hdr h = { req->request, VHU_VERSION | VHU_FLAG_REPLY, (uint32_t)len };
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), payload, len);
	return c->ops->send(c, buf, sizeof(h) + len, fds, nfds);
}

int vhu_reply_u64(struct vhu_conn *c, const struct vhu_hdr *req, uint64_t v)
{
	return vhu_reply(c, req, &v, sizeof(v), NULL, 0);
}

bool vhu_wants_ack(const struct vhu_conn *c, const struct vhu_hdr *req)
{
	return (c->protocol_features & (1ull << VHU_PF_REPLY_ACK)) && (req->flags & VHU_FLAG_NEED_REPLY);
}

/* With REPLY_ACK, a request flagged need_reply gets a u64 status. */
int vhu_ack(struct vhu_conn *c, const struct vhu_hdr *req, int rc)
{
	if (vhu_wants_ack(c, req))
		return vhu_reply_u64(c, req, rc ? 1 : 0);
	return 0;
}

/* --- asynchronous steps: stop queues, then continue --- */

static void gone_start(struct vhu_conn *c, void (*done)(void *arg), void *arg);

struct vhu_async *vhu_async_new(struct vhu_conn *c, const struct vhu_hdr *h, void (*then)(struct vhu_async *))
{
	struct vhu_async *op = calloc(1, sizeof(*op));
	if (!op)
		return NULL;
	op->c = c;
	op->h = *h;
	op->then = then;
	c->busy = true;
	return op;
}

void vhu_async_finish(struct vhu_async *op)
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

static void stopped_all(void *arg)
{
	struct vhu_async *op = arg;
	op->then(op);
}

void vhu_async_stop_all(struct vhu_async *op)
{
	struct vhu_conn *c = op->c;
	/* resume where it stopped when the queue starts again */
	for (uint32_t i = 0; i < vhu_nq(c); i++)
		if (vhu_running(c, i))
			c->vrings[i].base = 0;
	virtio_dev_stop_all(c->dev, stopped_all, op);
}

static void stopped_one(void *arg, uint16_t last)
{
	struct vhu_async *op = arg;
	op->base = last;
	op->then(op);
}

void vhu_async_stop_one(struct vhu_async *op)
{
	struct vhu_conn *c = op->c;
	c->dev->ops->queue_stop(c->dev, (uint16_t)op->index, stopped_one, op);
}

/* --- dispatch --- */

int vhu_conn_handle(struct vhu_conn *c, const uint8_t *msg, size_t len, int *fds, int nfds)
{
	struct vhu_hdr h;
	int rc;

	if (len < sizeof(h)) {
		vhu_close_fds(fds, nfds);
		return -EPROTO;
	}
	memcpy(&h, msg, sizeof(h));
	if ((h.flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION || h.size != len - sizeof(h) ||
	    (h.flags & VHU_FLAG_REPLY)) {
		vhu_close_fds(fds, nfds);
		return -EPROTO;
	}
	const struct vhu_request *r = vhu_request_find(h.request);
	size_t plen = len - sizeof(h);
	c->in_handler = true;
	if (!r || !r->handle) {
		log_warn("%s: vhost-user request %u not supported", c->dev->name, h.request);
		rc = -ENOTSUP;
	} else if (r->size && plen != r->size) {
		rc = -EINVAL;
	} else {
		rc = r->handle(c, &h, msg + sizeof(h), plen, fds, nfds);
	}
	c->in_handler = false;
	vhu_close_fds(fds, nfds);
	if (rc == -EPROTO) {
		log_warn("%s: vhost-user request %u: closing the connection", c->dev->name, h.request);
		return -EPROTO;
	}
	if (rc) {
		/* a request we cannot serve: say so when an answer is expected,
		 * else the front end would wait for ever */
		log_debug("%s: vhost-user request %u failed: %s", c->dev->name, h.request, strerror(-rc));
		if (r && r->get)
			return -EPROTO;	/* no well-formed answer exists: disconnect */
		if (vhu_wants_ack(c, &h) && vhu_ack(c, &h, rc))
			return -EPROTO;
	}
	return 0;
}

/* --- the front end left --- */

struct gone_ctx {
	struct vhu_conn *c;
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

/* every queue stopped: drop the fds and the memory */
static void gone_stopped(void *arg)
{
	struct gone_ctx *g = arg;
	struct vhu_conn *c = g->c;
	for (int i = 0; i < VHU_MAX_QUEUES; i++) {
		struct vhu_vring *v = &c->vrings[i];
		if (v->kick_fd >= 0)
			close(v->kick_fd);
		if (v->call_fd >= 0)
			close(v->call_fd);
		v->kick_fd = v->call_fd = -1;
	}
	/* the queues have stopped: nothing writes the region any more */
	vhu_inflight_detach(&c->inflight);
	c->nregions = 0;
	vhu_dev_reset(c);
	emu_mem_remove_all(c->dev->fn, gone_mem, g);
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
	/* requests already fetched complete before the queues stop */
	virtio_dev_stop_all(c->dev, gone_stopped, g);
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
