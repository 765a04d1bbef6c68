/* One vhost-user front end connected to a virtio device, apart from its
 * socket (so the message handling can be fuzzed). The connection keeps
 * the vhost-user state (vrings, memory table, inflight region) and drives
 * the device only through its virtio_dev_ops. Main thread. */
#ifndef OSNAP_VHU_CONN_H
#define OSNAP_VHU_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu/virtio_dev.h"
#include "vhu_inflight.h"
#include "vhu_proto.h"

#define VHU_MAX_QUEUES VIRTIO_DEV_MAX_QUEUES

struct vhu_conn;

struct vhu_conn_ops {
	/* Send a reply (header included) with optional fds (the caller keeps
	 * them). Never blocks: what the socket does not take waits in the
	 * connection's bounded output queue. 0, or -errno when the front end
	 * is gone or does not read its replies (the endpoint then closes the
	 * connection, once no request is completing). */
	int (*send)(struct vhu_conn *c, const void *msg, size_t len, const int *fds, int nfds);
	/* An asynchronous request finished: read messages again. */
	void (*resume)(struct vhu_conn *c);
	/* The front end's shared memory faulted (a file truncated under us):
	 * drop it. Main thread. */
	void (*fault)(struct vhu_conn *c);
};

struct vhu_vring {
	uint32_t num;
	uint64_t desc, avail, used;	/* guest addresses */
	bool addr_set;
	uint16_t base;
	int kick_fd, call_fd;
	bool kick_set;
	bool enabled;
};

struct vhu_user_region {
	uint64_t gpa, size, uaddr;
};

struct vhu_conn {
	struct virtio_dev *dev;
	const struct vhu_conn_ops *ops;
	void *user;
	uint64_t protocol_features;
	bool features_set;
	uint64_t driver_features;	/* what the device took (SET_FEATURES) */
	bool proto_negotiated;		/* VHOST_USER_F_PROTOCOL_FEATURES acked */
	bool busy, in_handler;
	/* The front end is gone (vhu_conn_gone). A request still completing
	 * (busy) installs nothing more; the teardown (gone_done) starts once
	 * it is over. */
	bool gone;
	void (*gone_done)(void *arg);
	void *gone_arg;
	struct vhu_vring vrings[VHU_MAX_QUEUES];
	struct vhu_user_region regions[VHU_MAX_SLOTS];
	int nregions;
	struct vhu_inflight_map inflight;	/* SET_INFLIGHT_FD's region */
	bool inflight_warned;		/* a ring it cannot track was logged */
};

void vhu_conn_init(struct vhu_conn *c, struct virtio_dev *dev, const struct vhu_conn_ops *ops, void *user);
/* Handle one message (header included). Takes ownership of fds. Returns 0
 * or -EPROTO when the connection must close. May leave c->busy set. */
int vhu_conn_handle(struct vhu_conn *c, const uint8_t *msg, size_t len, int *fds, int nfds);
/* The front end is gone: stop the queues (after in-flight requests finish)
 * and drop its memory and fds. done(arg) when that is over. A request that
 * was completing asynchronously finishes first (without effect on the
 * memory map): c is not reused before done. */
void vhu_conn_gone(struct vhu_conn *c, void (*done)(void *arg), void *arg);

#endif
