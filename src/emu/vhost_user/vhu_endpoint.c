/* The vhost-user endpoint of a virtio device: EMU_DIR/{VUID}.sock,
 * listening while the device exists, one front end at a time (the socket
 * plumbing is core/client_conn.c). A front end that leaves is torn down
 * (its queues stopped, its memory removed) before the next is accepted. */
#include "vhu_conn.h"
#include "emu/emu.h"
#include "core/client_conn.h"
#include "core/event_loop.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct vhu_endpoint {
	struct virtio_transport tr;	/* what the device holds; tr.dev is NULL
					 * once the device is destroyed */
	char path[320];
	int lfd;
	struct loop_fd *llf;
	struct client_conn cc;		/* the front end's socket */
	struct vhu_conn conn;
	bool closing;		/* client going away: its queues are stopping */
	bool destroyed;		/* freed when the client teardown ends */
};

static int ep_send(struct vhu_conn *c, const void *msg, size_t len, const int *fds, int nfds)
{
	struct vhu_endpoint *ep = c->user;
	return client_conn_send(&ep->cc, msg, len, fds, nfds);
}

static void ep_resume(struct vhu_conn *c)
{
	struct vhu_endpoint *ep = c->user;
	client_conn_resume(&ep->cc);
}

static void ep_fault(struct vhu_conn *c)
{
	struct vhu_endpoint *ep = c->user;
	log_err("%s: the front end's in-flight region faulted (truncated under us): dropping it",
		ep->tr.dev ? ep->tr.dev->name : "?");
	client_conn_close(&ep->cc);
}

static const struct vhu_conn_ops ep_ops = { .send = ep_send, .resume = ep_resume, .fault = ep_fault };

static size_t cc_frame(struct client_conn *cc, const void *hdr)
{
	struct vhu_hdr h;
	memcpy(&h, hdr, sizeof(h));
	if (h.size > VHU_MAX_PAYLOAD) {
		log_warn("%s: vhost-user message of %u bytes refused; disconnecting", cc->name, h.size);
		return 0;
	}
	return sizeof(h) + h.size;
}

static int cc_handle(struct client_conn *cc, const uint8_t *msg, size_t len, int *fds, int nfds,
		     bool fd_overflow)
{
	struct vhu_endpoint *ep = cc->user;
	/* fds past CLIENT_CONN_MAX_FDS are closed; no request takes that many */
	(void)fd_overflow;
	return vhu_conn_handle(&ep->conn, msg, len, fds, nfds);
}

static bool cc_busy(struct client_conn *cc)
{
	struct vhu_endpoint *ep = cc->user;
	return ep->conn.busy;
}

static void ep_free(struct vhu_endpoint *ep)
{
	if (ep->lfd >= 0)
		client_unlisten(ep->lfd, ep->llf, ep->path);
	free(ep);
}

static void client_gone_done(void *arg)
{
	struct vhu_endpoint *ep = arg;
	ep->closing = false;
	log_info("%s: vhost-user front end disconnected", ep->tr.dev ? ep->tr.dev->name : "?");
	if (ep->destroyed) {
		ep_free(ep);
		return;
	}
	/* a front end that reconnected meanwhile waited in the backlog */
	if (ep->lfd >= 0)
		loop_mod_fd(ep->llf, EPOLLIN);
}

/* The socket is closed: in-flight requests finish, then its memory goes. */
static void cc_closed(struct client_conn *cc)
{
	struct vhu_endpoint *ep = cc->user;
	ep->closing = true;
	/* accept nobody until the old client's queues and memory are gone */
	if (ep->lfd >= 0)
		loop_mod_fd(ep->llf, 0);
	vhu_conn_gone(&ep->conn, client_gone_done, ep);
}

static const struct client_conn_ops cc_ops = {
	.frame = cc_frame, .handle = cc_handle, .busy = cc_busy, .closed = cc_closed,
};

static void accept_event(void *arg, uint32_t events)
{
	struct vhu_endpoint *ep = arg;
	(void)events;
	if (ep->closing) {
		/* an event of the same epoll batch as the old front end's hang-up:
		 * the listening socket is off until its teardown ends, and the new
		 * front end waits in the backlog */
		return;
	}
	if (client_conn_peer_gone(&ep->cc)) {
		/* the front end closed and connected again before its hang-up was
		 * read: finish the old connection first (its last messages, then
		 * the teardown); the new one waits in the backlog until then */
		loop_mod_fd(ep->llf, 0);
		if (!ep->conn.busy)
			client_conn_resume(&ep->cc);
		return;
	}
	if (!client_conn_accept(&ep->cc, ep->lfd))
		return;
	vhu_conn_init(&ep->conn, ep->tr.dev, &ep_ops, ep);
	log_info("%s: vhost-user front end connected", ep->tr.dev->name);
}

static void nothing(void *arg, int rc)
{
	(void)arg;
	(void)rc;
}

/* --- transport ops --- */

static struct vhu_endpoint *ep_of(struct virtio_transport *t)
{
	return (struct vhu_endpoint *)((char *)t - offsetof(struct vhu_endpoint, tr));
}

static void t_destroy(struct virtio_transport *t)
{
	struct vhu_endpoint *ep = ep_of(t);
	struct emu_function *fn = ep->tr.dev->fn;
	emu_fn_unbind(fn);
	/* stop listening now; the client side ends when its teardown does */
	if (ep->lfd >= 0) {
		client_unlisten(ep->lfd, ep->llf, ep->path);
		ep->lfd = -1;
	}
	ep->destroyed = true;
	ep->tr.dev = NULL;
	if (client_conn_is_open(&ep->cc)) {
		client_conn_drop(&ep->cc);
		/* queues are already stopped by the destroy: drop the rest */
		for (int i = 0; i < VHU_MAX_QUEUES; i++) {
			if (ep->conn.vrings[i].kick_fd >= 0)
				close(ep->conn.vrings[i].kick_fd);
			if (ep->conn.vrings[i].call_fd >= 0)
				close(ep->conn.vrings[i].call_fd);
		}
		vhu_inflight_detach(&ep->conn.inflight);
		emu_mem_remove_all(fn, nothing, NULL);
	}
	if (!ep->closing)
		ep_free(ep);
}

static void t_config_changed(struct virtio_transport *t)
{
	/* without a back-end request channel the front end reads the new
	 * configuration at its next GET_CONFIG (for QEMU: after a reset/reboot) */
	log_info("%s: configuration changed", t->dev->name);
}

static bool t_driver_live(struct virtio_transport *t)
{
	struct vhu_endpoint *ep = ep_of(t);
	return client_conn_is_open(&ep->cc) && ep->conn.features_set;
}

static const struct virtio_transport_ops vhu_transport = {
	.destroy = t_destroy,
	.config_changed = t_config_changed,
	.driver_live = t_driver_live,
};

/* The front end broke its memory (see emu_ctrl_ops.client_fault): drop it. */
static void fn_client_fault(void *ctx)
{
	client_conn_close(&ep_of(ctx)->cc);
}

static int ep_listen(struct vhu_endpoint *ep, char *err, size_t errlen)
{
	const struct emu_config *cfg = emu_get_config();
	ep->lfd = client_listen(ep->path, cfg->socket_mode, cfg->socket_group, accept_event, ep, &ep->llf, err, errlen);
	if (ep->lfd < 0)
		return ep->lfd;
	/* the last front end's teardown still runs: the next waits in the
	 * backlog until it ends (client_gone_done) */
	if (ep->closing)
		loop_mod_fd(ep->llf, 0);
	log_info("%s: vhost-user endpoint %s", ep->tr.dev->name, ep->path);
	return 0;
}

/* A hot-plugged function powered on or off: the endpoint appears, or goes
 * with its front end (torn down as if it had left). */
static void fn_presence(void *ctx, bool present)
{
	struct vhu_endpoint *ep = ep_of(ctx);
	char err[256];
	if (present && ep->lfd < 0) {
		if (ep_listen(ep, err, sizeof(err)))
			log_err("%s: %s", ep->tr.dev->name, err);
	} else if (!present && ep->lfd >= 0) {
		client_unlisten(ep->lfd, ep->llf, ep->path);
		ep->lfd = -1;
		log_info("%s: vhost-user endpoint %s removed (powered off)", ep->tr.dev->name, ep->path);
		if (client_conn_is_open(&ep->cc))
			client_conn_close(&ep->cc);
	}
}

/* removals pause the queues (virtio_transport_mem_unmap) */
static const struct emu_ctrl_ops vhu_fn_ops = { .mem_unmap = virtio_transport_mem_unmap,
						.mem_resume = virtio_transport_mem_resume,
						.client_fault = fn_client_fault,
						.presence = fn_presence };

int vhu_endpoint_create(struct virtio_dev *d, struct virtio_transport **out, char *err, size_t errlen)
{
	const char *path = emu_fn_socket_path(d->fn);

	struct vhu_endpoint *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->tr.ops = &vhu_transport;
	ep->tr.dev = d;
	if (emu_fn_bind(d->fn, &vhu_fn_ops, &ep->tr, d->name)) {
		free(ep);
		snprintf(err, errlen, "function %s is busy", emu_fn_vuid(d->fn));
		return -EBUSY;
	}
	client_conn_init(&ep->cc, &cc_ops, ep, d->name, "vhost-user front end", sizeof(struct vhu_hdr));
	snprintf(ep->path, sizeof(ep->path), "%s", path);
	ep->lfd = -1;
	/* a hot-plugged function powered off listens from its power-on */
	int rc = emu_fn_present(d->fn) ? ep_listen(ep, err, errlen) : 0;
	if (rc) {
		free(ep);
		emu_fn_unbind(d->fn);
		return rc;
	}
	*out = &ep->tr;
	return 0;
}
