/* The vfio-user endpoint of a function: a listening Unix socket at
 * EMU_DIR/{VUID}.sock, one client at a time, messages framed by their
 * header (fds travel with the header bytes). Replies go through a bounded
 * output queue: the main thread never waits for a client to read, and a
 * client that leaves too much unread is disconnected. Main thread. */
#include "vfu_conn.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/out_queue.h"
#include "core/unix_socket.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

struct vfu_endpoint {
	struct emu_function *fn;
	int lfd;
	struct loop_fd *llf;
	/* the connected client */
	int cfd;
	struct loop_fd *clf;		/* NULL after a hang-up while busy */
	uint32_t watched;		/* clf's epoll events */
	bool hup;			/* hung up while busy: close on resume */
	/* the client cannot be written to (gone, or not reading its
	 * replies): the socket is shut down, closed as soon as not busy */
	bool dead;
	struct out_queue out;		/* replies the socket did not take yet */
	struct vfu_conn conn;
	struct vfu_hdr hdr;
	size_t hdr_got;
	uint8_t *msg;
	size_t msg_got;
	int fds[VFU_MAX_FDS];
	int nfds;
	bool fd_overflow;
	/* destroyed while a command was completing asynchronously (conn.busy):
	 * that command still calls ep_resume, which frees the endpoint */
	bool orphan;
};

static void client_close(struct vfu_endpoint *ep);

/* What the client's socket is watched for: its messages, unless a command
 * is completing (replies keep their order: resume re-arms), and room for
 * queued replies only while there are some (level-triggered: EPOLLOUT on
 * a writable socket with nothing to send would spin the loop). */
static void ep_watch(struct vfu_endpoint *ep)
{
	uint32_t ev = (ep->conn.busy ? 0 : EPOLLIN) | (out_queue_pending(&ep->out) ? EPOLLOUT : 0);
	/* most replies leave at once: no system call when nothing changes */
	if (ep->clf && ev != ep->watched && loop_mod_fd(ep->clf, ev) == 0)
		ep->watched = ev;
}

/* Nothing more can be sent to the client. Called where the connection
 * cannot be closed (inside the message handling, or a completion about to
 * resume it): the socket is shut down (the client sees the end now, and
 * epoll reports the hang-up to us), and the hang-up paths close it. */
static void ep_kill(struct vfu_endpoint *ep)
{
	ep->dead = true;
	out_queue_clear(&ep->out);
	shutdown(ep->cfd, SHUT_RDWR);
}

static int ep_send(struct vfu_conn *c, const void *msg, size_t len, const int *fds, int nfds)
{
	struct vfu_endpoint *ep = c->user;
	if (ep->cfd < 0)
		return -ENOTCONN;
	if (ep->dead)
		return -EPIPE;
	int rc = out_queue_send(&ep->out, msg, len, fds, nfds);
	if (rc == -ENOBUFS)
		log_warn("%s: the vfio-user client does not read its replies (%zu bytes in %u "
			 "messages waiting); disconnecting", ep->fn->vuid, ep->out.bytes, ep->out.msgs);
	if (rc)
		ep_kill(ep);
	else if (out_queue_pending(&ep->out) && ep->clf && !(ep->watched & EPOLLOUT) &&
		 loop_mod_fd(ep->clf, ep->watched | EPOLLOUT) == 0)
		/* only EPOLLOUT added: input is the reader's business (a command
		 * completing inside its handler sends while still busy) */
		ep->watched |= EPOLLOUT;
	return rc;
}

static void ep_resume(struct vfu_conn *c);

static const struct vfu_conn_ops ep_ops = { .send = ep_send, .resume = ep_resume };

static void reset_rx(struct vfu_endpoint *ep)
{
	for (int i = 0; i < ep->nfds; i++)
		if (ep->fds[i] >= 0)
			close(ep->fds[i]);
	ep->nfds = 0;
	ep->fd_overflow = false;
	ep->hdr_got = 0;
	free(ep->msg);
	ep->msg = NULL;
	ep->msg_got = 0;
}

static void take_fds(struct vfu_endpoint *ep, struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *p = (int *)CMSG_DATA(cm);
		for (int i = 0; i < n; i++) {
			if (ep->nfds < VFU_MAX_FDS)
				ep->fds[ep->nfds++] = p[i];
			else {
				close(p[i]);
				ep->fd_overflow = true;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		ep->fd_overflow = true;
}

/* Read what is available; returns 1 when a whole message is buffered, 0
 * when more is needed, -1 when the connection must close. */
static int rx_step(struct vfu_endpoint *ep)
{
	if (ep->hdr_got < sizeof(ep->hdr)) {
		char cbuf[CMSG_SPACE(sizeof(int) * (VFU_MAX_FDS + 8))];
		struct iovec iov = { (uint8_t *)&ep->hdr + ep->hdr_got, sizeof(ep->hdr) - ep->hdr_got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(ep->cfd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == 0)
			return -1;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		take_fds(ep, &mh);
		ep->hdr_got += (size_t)n;
		if (ep->hdr_got < sizeof(ep->hdr))
			return 0;
		if (ep->hdr.size < sizeof(ep->hdr) || ep->hdr.size > VFU_MAX_MSG) {
			log_warn("%s: vfio-user message of %u bytes (command %u) refused; disconnecting",
				 ep->fn->vuid, ep->hdr.size, ep->hdr.cmd);
			struct vfu_hdr e = { .msg_id = ep->hdr.msg_id, .cmd = ep->hdr.cmd, .size = sizeof(e),
					     .flags = VFU_F_TYPE_REPLY | VFU_F_ERROR, .error = E2BIG };
			ep_send(&ep->conn, &e, sizeof(e), NULL, 0);
			return -1;
		}
		ep->msg = malloc(ep->hdr.size);
		if (!ep->msg)
			return -1;
		memcpy(ep->msg, &ep->hdr, sizeof(ep->hdr));
		ep->msg_got = sizeof(ep->hdr);
	}
	while (ep->msg_got < ep->hdr.size) {
		ssize_t n = recv(ep->cfd, ep->msg + ep->msg_got, ep->hdr.size - ep->msg_got, MSG_DONTWAIT);
		if (n == 0)
			return -1;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		ep->msg_got += (size_t)n;
	}
	return 1;
}

static void client_event(void *arg, uint32_t events)
{
	struct vfu_endpoint *ep = arg;

	if (ep->cfd >= 0 && !ep->dead && out_queue_pending(&ep->out) &&
	    (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
		if (out_queue_flush(&ep->out))
			ep_kill(ep);	/* gone: closed below, or on resume when busy */
		else
			ep_watch(ep);	/* EPOLLOUT off once the queue is empty */
	}
	while (ep->cfd >= 0 && !ep->conn.busy) {
		int r = ep->dead ? -1 : rx_step(ep);
		if (r < 0) {
			client_close(ep);
			return;
		}
		if (r == 0) {
			ep_watch(ep);
			return;
		}
		int nfds = ep->nfds;
		ep->nfds = 0;
		int rc;
		if (ep->fd_overflow) {
			/* more fds than we accept: refuse the message, keep the stream */
			for (int i = 0; i < nfds; i++)
				close(ep->fds[i]);
			struct vfu_hdr e = { .msg_id = ep->hdr.msg_id, .cmd = ep->hdr.cmd, .size = sizeof(e),
					     .flags = VFU_F_TYPE_REPLY | VFU_F_ERROR, .error = EINVAL };
			rc = (ep->hdr.flags & VFU_F_NO_REPLY) ? 0 : ep_send(&ep->conn, &e, sizeof(e), NULL, 0);
		} else {
			rc = vfu_conn_handle(&ep->conn, ep->msg, ep->hdr.size, ep->fds, nfds);
		}
		reset_rx(ep);
		if (rc || ep->dead) {
			client_close(ep);
			return;
		}
	}
	if (ep->cfd >= 0 && ep->conn.busy && ep->clf) {
		if ((events & (EPOLLHUP | EPOLLERR)) || ep->dead) {
			/* epoll reports a hang-up whatever the mask: stop watching
			 * (or the main loop spins) and close once the command that
			 * keeps the connection busy is done (resume); its output
			 * has nobody to go to */
			out_queue_clear(&ep->out);
			loop_del_fd(ep->clf);
			ep->clf = NULL;
			ep->hup = true;
		} else {
			ep_watch(ep);	/* output only: resume() re-arms input */
		}
	}
}

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
	if (ep->cfd < 0)
		return;
	if (ep->hup || ep->dead) {
		client_close(ep);
		return;
	}
	ep_watch(ep);
	client_event(ep, EPOLLIN);
}

static void client_close(struct vfu_endpoint *ep)
{
	if (ep->cfd < 0)
		return;
	loop_del_fd(ep->clf);	/* NULL after a hang-up: nothing to do */
	ep->clf = NULL;
	ep->hup = false;
	ep->dead = false;
	/* a last error reply (a protocol error closes after it) leaves if the
	 * socket takes it now; nothing waits for more */
	if (out_queue_flush(&ep->out) == 0 && out_queue_pending(&ep->out))
		log_debug("%s: %zu bytes of replies dropped with the connection", ep->fn->vuid,
			  ep->out.bytes);
	out_queue_clear(&ep->out);
	close(ep->cfd);
	ep->cfd = -1;
	reset_rx(ep);
	vfu_conn_gone(&ep->conn);
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
	int fd = accept4(ep->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (ep->cfd >= 0) {
		log_warn("%s: a second vfio-user client was refused (one client at a time)", ep->fn->vuid);
		close(fd);
		return;
	}
	ep->clf = loop_add_fd(fd, EPOLLIN, client_event, ep);
	if (!ep->clf) {
		close(fd);
		return;
	}
	ep->watched = EPOLLIN;
	ep->cfd = fd;
	out_queue_init(&ep->out, fd);
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
	ep->cfd = -1;
	out_queue_init(&ep->out, -1);
	ep->lfd = unix_listen(fn->sock_path, cfg->socket_mode, cfg->socket_group, err, errlen);
	if (ep->lfd < 0) {
		int rc = ep->lfd;
		free(ep);
		return rc;
	}
	ep->llf = loop_add_fd(ep->lfd, EPOLLIN, accept_event, ep);
	if (!ep->llf) {
		int rc = -errno;
		snprintf(err, errlen, "event loop: %s", strerror(errno));
		close(ep->lfd);
		unlink(fn->sock_path);
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
	client_close(ep);
	loop_del_fd(ep->llf);
	close(ep->lfd);
	unlink(fn->sock_path);
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
		client_close(fn->ep);
}

bool vfu_endpoint_connected(struct emu_function *fn)
{
	return fn->ep && fn->ep->cfd >= 0;
}
