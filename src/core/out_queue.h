/* A connection's output that the main thread never waits for: messages go
 * out on a non-blocking stream socket at once when it takes them, the rest
 * waits in a bounded queue that drains when the socket is writable again
 * (the owner watches EPOLLOUT only while out_queue_pending()). File
 * descriptors passed with a message (SCM_RIGHTS) travel with that
 * message's first byte, exactly once, however the message is split.
 * Used by the vfio-user and vhost-user endpoints. Main thread only. */
#ifndef OSNAP_OUT_QUEUE_H
#define OSNAP_OUT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

/* The bound of a connection's queue, on top of what the socket buffer
 * holds: a client that leaves more than this unread does not read its
 * replies and is disconnected (out_queue_send: -ENOBUFS). 4 MiB leaves
 * room for a few of the largest replies (a vfio-user REGION_READ of
 * 1 MiB) to a client that reads slowly; 256 messages for a client
 * pipelining small requests (a well-behaved one waits for each reply).
 * A message is always taken when nothing is queued, whatever its size. */
#define OUT_QUEUE_MAX_BYTES (4u << 20)
#define OUT_QUEUE_MAX_MSGS 256u
/* fds with one message at most */
#define OUT_QUEUE_MAX_FDS 16

struct out_msg;

struct out_queue {
	int fd;			/* the socket (not owned) */
	struct out_msg *head, *tail;
	size_t bytes;		/* unsent bytes queued */
	unsigned msgs;		/* messages queued, the partly sent one included */
};

void out_queue_init(struct out_queue *q, int fd);

/* Send len bytes (one whole message) with nfds descriptors, or queue what
 * the socket does not take now (the fds are then duplicated: the caller
 * keeps its own). Returns 0 (sent or queued), -ENOBUFS when the queue is
 * over its bound (the client does not read: disconnect it), or -errno
 * (-EPIPE, -ECONNRESET...: the connection is broken; -EINVAL: too many
 * fds; -ENOMEM, -EMFILE). Nothing of the message is queued on error. */
int out_queue_send(struct out_queue *q, const void *buf, size_t len, const int *fds, int nfds);

/* Send what the socket takes of the queue (on EPOLLOUT). Returns 0, also
 * when output remains, or -errno when the connection is broken. */
int out_queue_flush(struct out_queue *q);

static inline bool out_queue_pending(const struct out_queue *q)
{
	return q->head != NULL;
}

/* Drop everything unsent (and the queued fd copies). */
void out_queue_clear(struct out_queue *q);

#endif
