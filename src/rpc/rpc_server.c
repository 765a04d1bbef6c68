/* Unix-socket transport for JSON-RPC sessions. */
#include "rpc_server.h"
#include "jsonrpc_session.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "core/unix_socket.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_OUT_PENDING (64u << 20)	/* a client not reading its answers is dropped */

struct conn {
	struct rpc_session s;
	int fd;
	struct loop_fd *lf;
	char *out;
	size_t out_len, out_cap;
	struct conn *next, *prev;
	bool feeding;		/* inside rpc_session_feed (handlers may run the loop) */
	bool paused;		/* EPOLLIN off until that feed returns */
	bool hup;		/* the peer hung up during a feed: closed after it */
};

static int g_lfd = -1;
static struct loop_fd *g_llf;
static char g_path[108];
static struct conn *g_conns;
static int g_nconns;

static void conn_close(struct conn *c);

static void conn_update_events(struct conn *c)
{
	if (c->lf)
		loop_mod_fd(c->lf, (c->paused ? 0 : EPOLLIN) | (c->out_len ? EPOLLOUT : 0));
}

static void conn_flush(struct conn *c)
{
	while (c->out_len) {
		ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EAGAIN || errno == EINTR)
				break;
			c->out_len = 0;
			conn_close(c);
			return;
		}
		memmove(c->out, c->out + n, c->out_len - (size_t)n);
		c->out_len -= (size_t)n;
	}
	conn_update_events(c);
}

static void conn_write(struct rpc_session *s, const char *buf, size_t len)
{
	struct conn *c = s->user;
	if (c->fd < 0)
		return;
	if (c->out_len + len > MAX_OUT_PENDING) {
		log_warn("RPC client on fd %d does not read its responses; disconnecting", c->fd);
		conn_close(c);
		return;
	}
	if (c->out_len + len > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		while (cap < c->out_len + len)
			cap *= 2;
		char *nb = realloc(c->out, cap);
		if (!nb) {
			conn_close(c);
			return;
		}
		c->out = nb;
		c->out_cap = cap;
	}
	memcpy(c->out + c->out_len, buf, len);
	c->out_len += len;
	conn_flush(c);
}

static void conn_release(struct rpc_session *s)
{
	struct conn *c = s->user;
	free(c->out);
	free(c);
}

static const struct rpc_session_ops conn_ops = {
	.write = conn_write,
	.release = conn_release,
};

/* Close the transport; the session lives on until pending answers are done. */
static void conn_close(struct conn *c)
{
	if (c->fd < 0)
		return;
	loop_del_fd(c->lf);	/* NULL once a hang-up took it out of the loop */
	c->lf = NULL;
	close(c->fd);
	c->fd = -1;
	if (c->prev)
		c->prev->next = c->next;
	else
		g_conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g_nconns--;
	rpc_session_close(&c->s);
}

static void conn_event(void *arg, uint32_t events)
{
	struct conn *c = arg;
	char buf[65536];

	/* a flush or a handler may close the connection, and closing drops
	 * the transport's reference: hold one until we are done with c */
	rpc_session_ref(&c->s);
	if (events & EPOLLOUT)
		conn_flush(c);
	if (c->fd < 0)
		goto out;
	if (c->feeding) {
		/* A handler of this connection runs the event loop (the init
		 * files replayed by framework_start_init wait for their I/O):
		 * the framer is in the middle of this connection's input, so
		 * read nothing more until that handler returns. */
		if (events & (EPOLLHUP | EPOLLERR)) {
			/* epoll reports a hang-up whatever the mask: stop watching
			 * the fd (or the loop spins) and close after the feed */
			c->hup = true;
			loop_del_fd(c->lf);
			c->lf = NULL;
		} else if (!c->paused) {
			c->paused = true;
			conn_update_events(c);
		}
		goto out;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			conn_close(c);
			goto out;
		}
		if (n > 0) {
			c->feeding = true;
			int rc = rpc_session_feed(&c->s, buf, (size_t)n);
			c->feeding = false;
			if (c->hup) {
				conn_close(c);
				goto out;
			}
			if (c->paused) {
				c->paused = false;
				if (c->fd >= 0)
					conn_update_events(c);
			}
			if (rc) {
				/* unframeable stream: the error was queued; send it, then drop */
				if (c->fd >= 0) {
					conn_flush(c);
					if (c->fd >= 0) {
						shutdown(c->fd, SHUT_WR);
						conn_close(c);
					}
				}
			}
		}
	}
out:
	rpc_session_unref(&c->s);
}

static void accept_event(void *arg, uint32_t events)
{
	(void)arg;
	(void)events;
	int fd = accept4(g_lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return;
	struct conn *c = calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	c->fd = fd;
	rpc_session_init(&c->s, &conn_ops, c);
	c->lf = loop_add_fd(fd, EPOLLIN, conn_event, c);
	if (!c->lf) {
		close(fd);
		free(c);
		return;
	}
	c->next = g_conns;
	if (g_conns)
		g_conns->prev = c;
	g_conns = c;
	g_nconns++;
	log_debug("RPC client connected (fd %d)", fd);
}

int rpc_server_start(const char *path)
{
	char err[256];

	snprintf(g_path, sizeof(g_path), "%s", path);
	g_lfd = unix_listen(path, 0600, NULL, err, sizeof(err));
	if (g_lfd < 0) {
		int rc = g_lfd;
		log_err("RPC server: %s", err);
		g_lfd = -1;
		return rc;
	}
	g_llf = loop_add_fd(g_lfd, EPOLLIN, accept_event, NULL);
	if (!g_llf) {
		int rc = -errno;
		close(g_lfd);
		g_lfd = -1;
		unlink(path);
		return rc;
	}
	log_info("RPC server listening on %s", path);
	return 0;
}

void rpc_server_stop(void)
{
	if (g_lfd >= 0) {
		loop_del_fd(g_llf);
		close(g_lfd);
		g_lfd = -1;
		unlink(g_path);
	}
	while (g_conns) {
		conn_flush(g_conns);
		if (g_conns)
			conn_close(g_conns);
	}
}

int rpc_server_num_connections(void)
{
	return g_nconns;
}
