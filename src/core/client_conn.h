/* One client on a Unix stream socket of an endpoint (vfio-user,
 * vhost-user): framed messages in, each with the fds that came with its
 * first bytes (SCM_RIGHTS), replies out through a bounded output queue
 * (out_queue.h), so the main thread never waits for a client. While the
 * protocol completes a request asynchronously (ops->busy) input waits;
 * a client that hangs up meanwhile is closed once the request is over
 * (client_conn_resume). Main thread only. */
#ifndef OSNAP_CLIENT_CONN_H
#define OSNAP_CLIENT_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "out_queue.h"

#define CLIENT_CONN_MAX_FDS 8		/* fds kept with one message */
#define CLIENT_CONN_MAX_HDR 32		/* bytes of a protocol's fixed header */

struct client_conn;
struct loop_fd;

struct client_conn_ops {
	/* The header (hdr_size bytes) is in: the whole message's length,
	 * header included, or 0 to refuse it (the connection closes; the
	 * protocol may send a last reply first). */
	size_t (*frame)(struct client_conn *cc, const void *hdr);
	/* One whole message with the fds that came with it (taken, also on
	 * error); fd_overflow: more came than CLIENT_CONN_MAX_FDS (the rest
	 * are closed). 0, or non-zero to close the connection. */
	int (*handle)(struct client_conn *cc, const uint8_t *msg, size_t len, int *fds, int nfds,
		      bool fd_overflow);
	/* Is a request completing asynchronously? (input waits for resume) */
	bool (*busy)(struct client_conn *cc);
	/* The socket is closed: the protocol's teardown. */
	void (*closed)(struct client_conn *cc);
};

struct client_conn {
	const struct client_conn_ops *ops;
	void *user;
	char name[64];			/* for logs: the function or controller */
	const char *what;		/* for logs: "vfio-user client" ... */
	size_t hdr_size;
	int fd;				/* -1: no client */
	struct loop_fd *lf;		/* NULL after a hang-up while busy */
	uint32_t watched;		/* lf's epoll events */
	bool hup;			/* hung up while busy: close on resume */
	/* the client cannot be written to (gone, or not reading its
	 * replies): the socket is shut down, closed as soon as not busy */
	bool dead;
	struct out_queue out;		/* replies the socket did not take yet */
	/* the message being received */
	uint8_t hdr[CLIENT_CONN_MAX_HDR];
	size_t hdr_got;
	uint8_t *msg;
	size_t msg_len, msg_got;
	int fds[CLIENT_CONN_MAX_FDS];
	int nfds;
	bool fd_overflow;
};

void client_conn_init(struct client_conn *cc, const struct client_conn_ops *ops, void *user, const char *name,
		      const char *what, size_t hdr_size);
/* Listen on path (unix_listen: mode and group of the emulation config)
 * and watch it: accept_cb(arg, events) when a client connects. Returns the
 * listening fd and *lf, or -errno with a message in err. */
int client_listen(const char *path, mode_t mode, const char *group, void (*accept_cb)(void *arg, uint32_t events),
		  void *arg, struct loop_fd **lf, char *err, size_t errlen);
/* Stop listening: unwatch, close and remove the socket file. */
void client_unlisten(int lfd, struct loop_fd *lf, const char *path);

/* Serve the accepted socket fd (non-blocking). -errno when it cannot be
 * watched (the caller closes fd). */
int client_conn_open(struct client_conn *cc, int fd);
/* Accept the next client from the listening socket lfd: 1 when served,
 * 0 when nobody was there or a second client was refused (one at a time). */
int client_conn_accept(struct client_conn *cc, int lfd);

static inline bool client_conn_is_open(const struct client_conn *cc)
{
	return cc->fd >= 0;
}

/* Send one message with fds (the caller keeps them); never blocks. 0, or
 * -errno when the client is gone or does not read its replies: it is then
 * shut down, and closed once no request is completing. */
int client_conn_send(struct client_conn *cc, const void *msg, size_t len, const int *fds, int nfds);
/* A request completed asynchronously: read messages again (or close a
 * client that hung up meanwhile). */
void client_conn_resume(struct client_conn *cc);
/* Close the client (a last reply leaves if the socket takes it now), then
 * ops->closed. Nothing when no client. */
void client_conn_close(struct client_conn *cc);
/* Close the socket without ops->closed (the protocol cleans up itself). */
void client_conn_drop(struct client_conn *cc);
/* Has the client hung up (its end closed) without our reading it yet? */
bool client_conn_peer_gone(const struct client_conn *cc);

#endif
