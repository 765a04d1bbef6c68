/* The vfio-user endpoint of a function: a listening Unix socket at
 * EMU_DIR/{VUID}.sock, one client at a time, messages framed by their
 * header (fds travel with the header bytes). Replies go through a bounded
 * output queue: the main thread never waits for a client to read, and a
 * client that leaves too much unread is disconnected. Main thread. */
#include "vfu_conn.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/client_conn.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

struct vfu_endpoint {
	struct emu_function *fn;
	int lfd;
	struct loop_fd *llf;
	struct client_conn cc;		/* the connected client's socket */
	struct vfu_conn conn;
	/* destroyed while a command was completing asynchronously (conn.busy):
	 * that command still calls ep_resume, which frees the endpoint */
	bool orphan;
};

static int ep_send(struct vfu_conn *c, const void *msg, size_t len, const int *fds, int nfds)
{
	struct vfu_endpoint *ep = c->user;
	return client_conn_send(&ep->cc, msg, len, fds, nfds);
}

static void ep_resume(struct vfu_conn *c);

static const struct vfu_conn_ops ep_ops = { .send = ep_send, .resume = ep_resume };

/* The header is in: the message's size, or 0 (after an error reply) for
 * one we do not take. */
static size_t cc_frame(struct client_conn *cc, const void *hdr)
{
	struct vfu_endpoint *ep = cc->user;
	struct vfu_hdr h;
	memcpy(&h, hdr, sizeof(h));
	if (h.size < sizeof(h) || h.size > VFU_MAX_MSG) {
		log_warn("%s: vfio-user message of %u bytes (command %u) refused; disconnecting", ep->fn->vuid,
			 h.size, h.cmd);
		struct vfu_hdr e = { .msg_id = h.msg_id, .cmd = h.cmd, .size = sizeof(e),
				     .flags = VFU_F_TYPE_REPLY | VFU_F_ERROR, .error = E2BIG };
		client_conn_send(cc, &e, sizeof(e), NULL, 0);
		return 0;
	}
	return h.size;
}

static int cc_handle(struct client_conn *cc, const uint8_t *msg, size_t len, int *fds, int nfds,
		     bool fd_overflow)
{
	struct vfu_endpoint *ep = cc->user;
	if (!fd_overflow)
		return vfu_conn_handle(&ep->conn, msg, len, fds, nfds);
	/* more fds than we accept: refuse the message, keep the stream */
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	struct vfu_hdr h;
	memcpy(&h, msg, sizeof(h));
	struct vfu_hdr e = { .msg_id = h.msg_id, .cmd = h.cmd, .size = sizeof(e),
			     .flags = VFU_F_TYPE_REPLY | VFU_F_ERROR, .error = EINVAL };
	return (h.flags & VFU_F_NO_REPLY) ? 0 : client_conn_send(cc, &e, sizeof(e), NULL, 0);
}

static bool cc_busy(struct client_conn *cc)
{
	struct vfu_endpoint *ep = cc->user;
	return ep->conn.busy;
}

static void cc_closed(struct client_conn *cc)
{
	struct vfu_endpoint *ep = cc->user;
	vfu_conn_gone(&ep->conn);
}

static const struct client_conn_ops cc_ops = {
	.frame = cc_frame, .handle = cc_handle, .busy = cc_busy, .closed = cc_closed,
};

static void ep_resume(struct vfu_conn *c)
{
	struct vfu_endpoint *ep = c->user;
	if (ep->orphan) {
		/* the last of the command and the gone client's memory removal */
		if (!c->busy && !c->draining)
			free(ep);
		return;
	}
	/* a client that connected meanwhile waited in the backlog (see
	 * accept_event): it is accepted now, or refused if this one stays;
	 * after the last client's memory is gone */
	if (!c->draining)
		loop_mod_fd(ep->llf, EPOLLIN);
	client_conn_resume(&ep->cc);
}

static void accept_event(void *arg, uint32_t events)
{
	struct vfu_endpoint *ep = arg;
	(void)events;
	if (ep->conn.busy || ep->conn.draining) {
		/* The last client's command still completes (the client hung
		 * up or was dropped meanwhile, e.g. for truncating its memory):
		 * it replies through, and resumes, this connection. The next
		 * client waits in the backlog until then (ep_resume): accepted
		 * now, it would get a connection that the old command
		 * completes into, and a destroy meanwhile would free the
		 * endpoint under that command. Likewise while the last
		 * client's memory is being removed (vfu_conn_gone). */
		log_debug("%s: a connecting client waits for the last one's command or memory",
			  ep->fn->vuid);
		loop_mod_fd(ep->llf, 0);
		return;
	}
	if (!client_conn_accept(&ep->cc, ep->lfd))
		return;
	vfu_conn_init(&ep->conn, ep->fn, &ep_ops, ep);
	emu_fn_client_event(ep->fn, true);
}

int vfu_endpoint_create(struct emu_function *fn, char *err, size_t errlen)
{
	const struct emu_config *cfg = emu_get_config();
	struct vfu_endpoint *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	ep->fn = fn;
	client_conn_init(&ep->cc, &cc_ops, ep, fn->vuid, "vfio-user client", sizeof(struct vfu_hdr));
	ep->lfd = client_listen(fn->sock_path, cfg->socket_mode, cfg->socket_group, accept_event, ep, &ep->llf, err,
				errlen);
	if (ep->lfd < 0) {
		int rc = ep->lfd;
		free(ep);
		return rc;
	}
	fn->ep = ep;
	log_debug("%s: vfio-user endpoint %s", fn->vuid, fn->sock_path);
	return 0;
}

void vfu_endpoint_destroy(struct emu_function *fn)
{
	struct vfu_endpoint *ep = fn->ep;
	if (!ep)
		return;
	client_conn_close(&ep->cc);
	client_unlisten(ep->lfd, ep->llf, fn->sock_path);
	fn->ep = NULL;
	if (ep->conn.busy || ep->conn.draining) {
		/* a DMA_UNMAP waits for its grace period and will reply through
		 * this connection (ep_send sees it closed) and resume it; the
		 * gone client's memory removal resumes it too: the last frees */
		ep->orphan = true;
		return;
	}
	free(ep);
}

void vfu_endpoint_drop_client(struct emu_function *fn)
{
	if (fn->ep)
		client_conn_close(&fn->ep->cc);
}

bool vfu_endpoint_connected(struct emu_function *fn)
{
	return fn->ep && client_conn_is_open(&fn->ep->cc);
}
