/* See client_conn.h. */
#include "client_conn.h"
#include "event_loop.h"
#include "log.h"
#include "unix_socket.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

void client_conn_init(struct client_conn *cc, const struct client_conn_ops *ops, void *user, const char *name,
		      const char *what, size_t hdr_size)
{
	memset(cc, 0, sizeof(*cc));
	cc->ops = ops;
	cc->user = user;
	snprintf(cc->name, sizeof(cc->name), "%s", name);
	cc->what = what;
	cc->hdr_size = hdr_size <= sizeof(cc->hdr) ? hdr_size : sizeof(cc->hdr);
	cc->fd = -1;
	out_queue_init(&cc->out, -1);
}

/* What the client's socket is watched for: its messages, unless a request
 * is completing (replies keep their order: resume re-arms), and room for
 * queued replies only while there are some (level-triggered: EPOLLOUT on
 * a writable socket with nothing to send would spin the loop). */
static void cc_watch(struct client_conn *cc)
{
	uint32_t ev = (cc->ops->busy(cc) ? 0 : EPOLLIN) | (out_queue_pending(&cc->out) ? EPOLLOUT : 0);
	/* most replies leave at once: no system call when nothing changes */
	if (cc->lf && ev != cc->watched && loop_mod_fd(cc->lf, ev) == 0)
		cc->watched = ev;
}

/* Nothing more can be sent to the client. Called where the connection
 * cannot be closed (inside the message handling, or a completion about to
 * resume it): the socket is shut down (the client sees the end now, and
 * epoll reports the hang-up to us), and the hang-up paths close it. */
static void cc_kill(struct client_conn *cc)
{
	cc->dead = true;
	out_queue_clear(&cc->out);
	shutdown(cc->fd, SHUT_RDWR);
}

int client_conn_send(struct client_conn *cc, const void *msg, size_t len, const int *fds, int nfds)
{
	if (cc->fd < 0)
		return -ENOTCONN;
	if (cc->dead)
		return -EPIPE;
	int rc = out_queue_send(&cc->out, msg, len, fds, nfds);
	if (rc == -ENOBUFS)
		log_warn("%s: the %s does not read its replies (%zu bytes in %u messages waiting); "
			 "disconnecting", cc->name, cc->what, cc->out.bytes, cc->out.msgs);
	if (rc)
		cc_kill(cc);
	else if (out_queue_pending(&cc->out) && cc->lf && !(cc->watched & EPOLLOUT) &&
		 loop_mod_fd(cc->lf, cc->watched | EPOLLOUT) == 0)
		/* only EPOLLOUT added: input is the reader's business (a request
		 * completing inside its handler sends while still busy) */
		cc->watched |= EPOLLOUT;
	return rc;
}

static void reset_rx(struct client_conn *cc)
{
	for (int i = 0; i < cc->nfds; i++)
		if (cc->fds[i] >= 0)
			close(cc->fds[i]);
	cc->nfds = 0;
	cc->fd_overflow = false;
	cc->hdr_got = 0;
	free(cc->msg);
	cc->msg = NULL;
	cc->msg_len = cc->msg_got = 0;
}

/* Keep the fds that came with the header bytes (SCM_RIGHTS). */
static void take_fds(struct client_conn *cc, struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		int n = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		int *p = (int *)CMSG_DATA(cm);
		for (int i = 0; i < n; i++) {
			if (cc->nfds < CLIENT_CONN_MAX_FDS) {
				cc->fds[cc->nfds++] = p[i];
			} else {
				close(p[i]);
				cc->fd_overflow = true;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		cc->fd_overflow = true;
}

/* Read what is available; returns 1 when a whole message is buffered, 0
 * when more is needed, -1 when the connection must close. */
static int rx_step(struct client_conn *cc)
{
	if (cc->hdr_got < cc->hdr_size) {
		char cbuf[CMSG_SPACE(sizeof(int) * (CLIENT_CONN_MAX_FDS + 8))];
		struct iovec iov = { cc->hdr + cc->hdr_got, cc->hdr_size - cc->hdr_got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(cc->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n == 0)
			return -1;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		take_fds(cc, &mh);
		cc->hdr_got += (size_t)n;
		if (cc->hdr_got < cc->hdr_size)
			return 0;
		cc->msg_len = cc->ops->frame(cc, cc->hdr);
		if (cc->msg_len < cc->hdr_size)
			return -1;
		cc->msg = malloc(cc->msg_len);
		if (!cc->msg)
			return -1;
		memcpy(cc->msg, cc->hdr, cc->hdr_size);
		cc->msg_got = cc->hdr_size;
	}
	while (cc->msg_got < cc->msg_len) {
		ssize_t n = recv(cc->fd, cc->msg + cc->msg_got, cc->msg_len - cc->msg_got, MSG_DONTWAIT);
		if (n == 0)
			return -1;
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		cc->msg_got += (size_t)n;
	}
	return 1;
}

static void cc_event(void *arg, uint32_t events)
{
	struct client_conn *cc = arg;

	if (cc->fd >= 0 && !cc->dead && out_queue_pending(&cc->out) &&
	    (events & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
		if (out_queue_flush(&cc->out))
			cc_kill(cc);	/* gone: closed below, or on resume when busy */
		else
			cc_watch(cc);	/* EPOLLOUT off once the queue is empty */
	}
	while (cc->fd >= 0 && !cc->ops->busy(cc)) {
		int r = cc->dead ? -1 : rx_step(cc);
		if (r < 0) {
			client_conn_close(cc);
			return;
		}
		if (r == 0) {
			cc_watch(cc);
			return;
		}
		int nfds = cc->nfds;
		cc->nfds = 0;
		int rc = cc->ops->handle(cc, cc->msg, cc->msg_len, cc->fds, nfds, cc->fd_overflow);
		reset_rx(cc);
		if (rc || cc->dead) {
			client_conn_close(cc);
			return;
		}
	}
	if (cc->fd >= 0 && cc->ops->busy(cc) && cc->lf) {
		if ((events & (EPOLLHUP | EPOLLERR)) || cc->dead) {
			/* epoll reports a hang-up whatever the mask: stop watching
			 * (or the main loop spins) and close once the request that
			 * keeps the connection busy is done (resume); its output
			 * has nobody to go to */
			out_queue_clear(&cc->out);
			loop_del_fd(cc->lf);
			cc->lf = NULL;
			cc->hup = true;
		} else {
			cc_watch(cc);	/* output only: resume re-arms input */
		}
	}
}

void client_conn_resume(struct client_conn *cc)
{
	if (cc->fd < 0)
		return;
	if (cc->hup || cc->dead) {
		client_conn_close(cc);
		return;
	}
	cc_watch(cc);
	cc_event(cc, EPOLLIN);
}

int client_conn_open(struct client_conn *cc, int fd)
{
	cc->lf = loop_add_fd(fd, EPOLLIN, cc_event, cc);
	if (!cc->lf) {
		int e = errno;
		return e ? -e : -ENOMEM;
	}
	cc->watched = EPOLLIN;
	cc->fd = fd;
	cc->hup = cc->dead = false;
	out_queue_init(&cc->out, fd);
	return 0;
}

int client_conn_accept(struct client_conn *cc, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return 0;
	if (cc->fd >= 0) {
		log_warn("%s: a second %s was refused (one at a time)", cc->name, cc->what);
		close(fd);
		return 0;
	}
	if (client_conn_open(cc, fd)) {
		close(fd);
		return 0;
	}
	return 1;
}

void client_conn_drop(struct client_conn *cc)
{
	if (cc->fd < 0)
		return;
	loop_del_fd(cc->lf);	/* NULL after a hang-up: nothing to do */
	cc->lf = NULL;
	cc->hup = false;
	cc->dead = false;
	out_queue_clear(&cc->out);
	close(cc->fd);
	cc->fd = -1;
	reset_rx(cc);
}

void client_conn_close(struct client_conn *cc)
{
	if (cc->fd < 0)
		return;
	/* a last reply (a protocol error closes after it) leaves if the
	 * socket takes it now; nothing waits for more */
	if (out_queue_flush(&cc->out) == 0 && out_queue_pending(&cc->out))
		log_debug("%s: %zu bytes of replies dropped with the connection", cc->name, cc->out.bytes);
	client_conn_drop(cc);
	cc->ops->closed(cc);
}

bool client_conn_peer_gone(const struct client_conn *cc)
{
	struct pollfd p = { cc->fd, POLLRDHUP, 0 };
	return cc->fd >= 0 && poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

int client_listen(const char *path, mode_t mode, const char *group, void (*accept_cb)(void *arg, uint32_t events),
		  void *arg, struct loop_fd **lf, char *err, size_t errlen)
{
	int lfd = unix_listen(path, mode, group, err, errlen);
	if (lfd < 0)
		return lfd;
	*lf = loop_add_fd(lfd, EPOLLIN, accept_cb, arg);
	if (!*lf) {
		int rc = errno ? -errno : -ENOMEM;
		snprintf(err, errlen, "event loop: %s", strerror(-rc));
		close(lfd);
		unlink(path);
		return rc;
	}
	return lfd;
}

void client_unlisten(int lfd, struct loop_fd *lf, const char *path)
{
	loop_del_fd(lf);
	close(lfd);
	unlink(path);
}
