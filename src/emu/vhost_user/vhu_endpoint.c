/* The vhost-user endpoint of a virtio device: EMU_DIR/{VUID}.sock,
 * listening while the device exists, one front end at a time. Replies
 * go through a bounded output queue: the main thread never waits for a
 * front end to read, and one that leaves too much unread is disconnected. */
#include "vhu_conn.h"
#include "emu/emu.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/out_queue.h"

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

struct vhu_endpoint {
	struct virtio_transport tr;	/* first: what the device holds */
	struct virtio_dev *dev;		/* NULL once the device is destroyed */
	char path[320];
	int lfd, cfd;
	struct loop_fd *llf, *clf;
	uint32_t watched;	/* clf's epoll events */
	struct out_queue out;	/* replies the socket did not take yet */
	struct vhu_conn conn;
	struct vhu_hdr hdr;
	size_t hdr_got;
	uint8_t *msg;
	size_t msg_got;
	int fds[VHU_MAX_FDS];
	int nfds;
	bool closing;		/* client going away: its queues are stopping */
	bool destroyed;		/* freed when the client teardown ends */
	bool hup;		/* hung up while busy (clf NULL): close on resume */
	/* the front end cannot be written to (gone, or not reading its
	 * replies): the socket is shut down, closed as soon as not busy */
	bool dead;
};

static void client_close(struct vhu_endpoint *ep);

/* What the front end's socket is watched for: its messages, unless a
 * request is completing (replies keep their order: resume re-arms), and
 * room for queued replies only while there are some (level-triggered:
 * EPOLLOUT on a writable socket with nothing to send would spin). */
static void ep_watch(struct vhu_endpoint *ep)
{
	uint32_t ev = (ep->conn.busy ? 0 : EPOLLIN) | (out_queue_pending(&ep->out) ? EPOLLOUT : 0);
	/* most replies leave at once: no system call when nothing changes */
	if (ep->clf && ev != ep->watched && loop_mod_fd(ep->clf, ev) == 0)
		ep->watched = ev;
}

/* Nothing more can be sent to the front end. Called where the connection
 * cannot be closed (inside the message handling, or a completion about to
 * resume it): the socket is shut down (the front end sees the end now, and
 * epoll reports the hang-up to us), and the hang-up paths close it. */
static void ep_kill(struct vhu_endpoint *ep)
{
	ep->dead = true;
	out_queue_clear(&ep->out);
	shutdown(ep->cfd, SHUT_RDWR);
}

static int ep_send(struct vhu_conn *c, const void *msg, size_t len, const int *fds, int nfds)
{
	struct vhu_endpoint *ep = c->user;
	if (ep->cfd < 0)
		return -ENOTCONN;
	if (ep->dead)
		return -EPIPE;
	int rc = out_queue_send(&ep->out, msg, len, fds, nfds);
	if (rc == -ENOBUFS)
		log_warn("%s: the vhost-user front end does not read its replies (%zu bytes in %u "
			 "messages waiting); disconnecting", ep->dev->name, ep->out.bytes, ep->out.msgs);
	if (rc)
		ep_kill(ep);
	else if (out_queue_pending(&ep->out) && ep->clf && !(ep->watched & EPOLLOUT) &&
		 loop_mod_fd(ep->clf, ep->watched | EPOLLOUT) == 0)
		/* only EPOLLOUT added: input is the reader's business (a command
		 * completing inside its handler sends while still busy) */
		ep->watched |= EPOLLOUT;
	return rc;
}

static void ep_resume(struct vhu_conn *c);
static const struct vhu_conn_ops ep_ops = { .send = ep_send, .resume = ep_resume };

static void reset_rx(struct vhu_endpoint *ep)
{
	for (int i = 0; i < ep->nfds; i++)
		if (ep->fds[i] >= 0)
			close(ep->fds[i]);
	ep->nfds = 0;
	ep->hdr_got = 0;
	free(ep->msg);
	ep->msg = NULL;
	ep->msg_got = 0;
}

/* 1: a whole message is buffered; 0: need more; -1: close */
static int rx_step(struct vhu_endpoint *ep)
{
	if (ep->hdr_got < sizeof(ep->hdr)) {
		char cbuf[CMSG_SPACE(sizeof(int) * (VHU_MAX_FDS + 4))];
		struct iovec iov = { (uint8_t *)&ep->hdr + ep->hdr_got, sizeof(ep->hdr) - ep->hdr_got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(ep->cfd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == 0)
			return -1;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int *p = (int *)CMSG_DATA(cm);
			for (int i = 0; i < k; i++) {
				if (ep->nfds < VHU_MAX_FDS)
					ep->fds[ep->nfds++] = p[i];
				else
					close(p[i]);
			}
		}
		ep->hdr_got += (size_t)n;
		if (ep->hdr_got < sizeof(ep->hdr))
			return 0;
		if (ep->hdr.size > VHU_MAX_PAYLOAD) {
			log_warn("%s: vhost-user message of %u bytes refused; disconnecting", ep->dev->name,
				 ep->hdr.size);
			return -1;
		}
		ep->msg = malloc(sizeof(ep->hdr) + ep->hdr.size);
		if (!ep->msg)
			return -1;
		memcpy(ep->msg, &ep->hdr, sizeof(ep->hdr));
		ep->msg_got = sizeof(ep->hdr);
	}
	size_t total = sizeof(ep->hdr) + ep->hdr.size;
	while (ep->msg_got < total) {
		ssize_t n = recv(ep->cfd, ep->msg + ep->msg_got, total - ep->msg_got, MSG_DONTWAIT);
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
	struct vhu_endpoint *ep = arg;
	if (ep->cfd >= 0 && !ep->dead && out_queue_pending(&ep->out) &&
	    (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
		if (out_queue_flush(&ep->out))
			ep_kill(ep);	/* gone: closed below, or on resume when busy */
		else
			ep_watch(ep);	/* EPOLLOUT off once the queue is empty */
	}
	while (ep->cfd >= 0 && !ep->conn.busy && !ep->closing) {
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
		int rc = vhu_conn_handle(&ep->conn, ep->msg, sizeof(ep->hdr) + ep->hdr.size, ep->fds, nfds);
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

static void ep_resume(struct vhu_conn *c)
{
	struct vhu_endpoint *ep = c->user;
	if (ep->cfd < 0 || ep->closing)
		return;
	if (ep->hup || ep->dead) {
		client_close(ep);
		return;
	}
	ep_watch(ep);
	client_event(ep, EPOLLIN);
}

static void ep_free(struct vhu_endpoint *ep)
{
	if (ep->lfd >= 0) {
		loop_del_fd(ep->llf);
		close(ep->lfd);
		unlink(ep->path);
	}
	free(ep);
}

static void client_gone_done(void *arg)
{
	struct vhu_endpoint *ep = arg;
	ep->closing = false;
	log_info("%s: vhost-user front end disconnected", ep->dev ? ep->dev->name : "?");
	if (ep->destroyed) {
		ep_free(ep);
		return;
	}
	/* a front end that reconnected meanwhile waited in the backlog */
	if (ep->lfd >= 0)
		loop_mod_fd(ep->llf, EPOLLIN);
}

static void client_close(struct vhu_endpoint *ep)
{
	if (ep->cfd < 0)
		return;
	loop_del_fd(ep->clf);	/* NULL after a hang-up: nothing to do */
	ep->clf = NULL;
	ep->hup = false;
	ep->dead = false;
	/* a last reply leaves if the socket takes it now; nothing waits */
	out_queue_flush(&ep->out);
	out_queue_clear(&ep->out);
	close(ep->cfd);
	ep->cfd = -1;
	reset_rx(ep);
	ep->closing = true;
	/* accept nobody until the old client's queues and memory are gone */
	if (ep->lfd >= 0)
		loop_mod_fd(ep->llf, 0);
	/* in-flight requests finish, then its memory goes */
	vhu_conn_gone(&ep->conn, client_gone_done, ep);
}

/* Has the front end on fd hung up (its end of the socket closed)? */
static bool peer_gone(int fd)
{
	struct pollfd p = { fd, POLLRDHUP, 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

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
	if (ep->cfd >= 0 && peer_gone(ep->cfd)) {
		/* the front end closed and connected again before its hang-up was
		 * read: finish the old connection first (its last messages, then
		 * the teardown); the new one waits in the backlog until then */
		loop_mod_fd(ep->llf, 0);
		if (!ep->conn.busy)
			client_event(ep, EPOLLIN);
		return;
	}
	int fd = accept4(ep->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (ep->cfd >= 0) {
		log_warn("%s: a second vhost-user front end was refused", ep->dev->name);
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
	vhu_conn_init(&ep->conn, ep->dev, &ep_ops, ep);
	log_info("%s: vhost-user front end connected", ep->dev->name);
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
	struct emu_function *fn = ep->dev->fn;
	emu_fn_unbind(fn);
	/* stop listening now; the client side ends when its teardown does */
	if (ep->lfd >= 0) {
		loop_del_fd(ep->llf);
		close(ep->lfd);
		unlink(ep->path);
		ep->lfd = -1;
	}
	ep->destroyed = true;
	ep->dev = NULL;
	if (ep->cfd >= 0) {
		loop_del_fd(ep->clf);
		ep->clf = NULL;
		out_queue_clear(&ep->out);
		close(ep->cfd);
		ep->cfd = -1;
		reset_rx(ep);
		/* queues are already stopped by the destroy: drop the rest */
		for (int i = 0; i < VHU_MAX_QUEUES; i++) {
			if (ep->conn.vrings[i].kick_fd >= 0)
				close(ep->conn.vrings[i].kick_fd);
			if (ep->conn.vrings[i].call_fd >= 0)
				close(ep->conn.vrings[i].call_fd);
		}
		if (ep->conn.inflight_fd >= 0)
			close(ep->conn.inflight_fd);
		emu_mem_remove_all(fn, nothing, NULL);
	}
	if (!ep->closing)
		ep_free(ep);
}

static void t_config_changed(struct virtio_transport *t)
{
	/* without a back-end request channel the front end reads the new
	 * configuration at its next GET_CONFIG (for QEMU: after a reset/reboot) */
	log_info("%s: configuration changed", ep_of(t)->dev->name);
}

static bool t_driver_live(struct virtio_transport *t)
{
	struct vhu_endpoint *ep = ep_of(t);
	return ep->cfd >= 0 && ep->conn.features_set;
}

static const struct virtio_transport_ops vhu_transport = {
	.destroy = t_destroy,
	.config_changed = t_config_changed,
	.driver_live = t_driver_live,
};

/* The function's view of the device: removals pause the queues. */
static void fn_mem_unmap(void *ctx, uint64_t gpa, uint64_t len, void (*done)(void *arg), void *arg)
{
	struct vhu_endpoint *ep = ctx;
	(void)gpa;
	(void)len;
	ep->dev->ops->pause_all(ep->dev, true, done, arg);
}

/* The removed region is out of the map: the queues go on. */
static void fn_mem_resume(void *ctx)
{
	struct vhu_endpoint *ep = ctx;
	ep->dev->ops->pause_all(ep->dev, false, NULL, NULL);
}

/* The front end broke its memory (see emu_ctrl_ops.client_fault): drop it. */
static void fn_client_fault(void *ctx)
{
	client_close(ctx);
}

static const struct emu_ctrl_ops vhu_fn_ops = { .mem_unmap = fn_mem_unmap, .mem_resume = fn_mem_resume,
						.client_fault = fn_client_fault };

int vhu_endpoint_create(struct virtio_dev *d, struct virtio_transport **out, char *err, size_t errlen)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = emu_fn_socket_path(d->fn);
	const struct emu_config *cfg = emu_get_config();
	int rc;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -ENAMETOOLONG;
	}
	struct vhu_endpoint *ep = calloc(1, sizeof(*ep));
	if (!ep)
		return -ENOMEM;
	if (emu_fn_bind(d->fn, &vhu_fn_ops, ep, d->name)) {
		free(ep);
		snprintf(err, errlen, "function %s is busy", emu_fn_vuid(d->fn));
		return -EBUSY;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		rc = connect(probe, (struct sockaddr *)&sa, sizeof(sa));
		close(probe);
		if (rc == 0) {
			emu_fn_unbind(d->fn);
			free(ep);
			snprintf(err, errlen, "%s is in use by another running osnapd", path);
			return -EADDRINUSE;
		}
	}
	unlink(path);
	ep->tr.ops = &vhu_transport;
	ep->dev = d;
	ep->cfd = -1;
	out_queue_init(&ep->out, -1);
	snprintf(ep->path, sizeof(ep->path), "%s", path);
	ep->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	mode_t old = umask(0177);
	rc = ep->lfd < 0 ? -1 : bind(ep->lfd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc == 0 && cfg->socket_group[0]) {
		struct group *g = getgrnam(cfg->socket_group);
		if (g && chown(path, (uid_t)-1, g->gr_gid) < 0)
			log_warn("chown %s: %s", path, strerror(errno));
	}
	if (rc < 0 || listen(ep->lfd, 4) < 0 || chmod(path, cfg->socket_mode) < 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		goto fail;
	}
	ep->llf = loop_add_fd(ep->lfd, EPOLLIN, accept_event, ep);
	if (!ep->llf) {
		rc = -errno;
		goto fail;
	}
	*out = &ep->tr;
	log_info("%s: vhost-user endpoint %s", d->name, path);
	return 0;
fail:
	if (ep->lfd >= 0) {
		close(ep->lfd);
		unlink(path);
	}
	free(ep);
	emu_fn_unbind(d->fn);
	return rc ? rc : -EIO;
}
