/* One vfio-user client connection, independent of the socket so the
 * message handling can be fuzzed in memory. Main thread only. */
#ifndef OSNAP_VFU_CONN_H
#define OSNAP_VFU_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu/emu_internal.h"
#include "vfu_proto.h"

#define VFU_MAX_FDS 8
#define VFU_MAX_DATA_XFER (1u << 20)
#define VFU_MAX_MSG (VFU_MAX_DATA_XFER + 4096)
#define VFU_MAX_DMA_MAPS EMU_MAX_DMA_REGIONS

struct vfu_conn;

struct vfu_conn_ops {
	/* Send one message (header included) with optional fds (the caller
	 * keeps them). Never blocks: what the socket does not take waits in
	 * the connection's bounded output queue. Returns 0 or -errno when the
	 * client is gone or does not read its replies (the connection is then
	 * closed by the endpoint, once no command is completing). */
	int (*send)(struct vfu_conn *c, const void *msg, size_t len, const int *fds, int nfds);
	/* An asynchronous command finished: resume reading messages. */
	void (*resume)(struct vfu_conn *c);
};

struct vfu_conn {
	struct emu_function *fn;
	const struct vfu_conn_ops *ops;
	void *user;
	bool negotiated;
	bool write_multiple;
	bool busy;		/* a command is completing asynchronously */
	bool closing;		/* protocol error: close after the reply */
	bool in_handler;	/* inside vfu_conn_handle: completions must not resume */
	/* the client is gone and its memory is still being removed
	 * (vfu_conn_gone): no new client before that ends (ops->resume),
	 * or its DMA_MAPs would overlap the old regions (EEXIST) and the
	 * removal of "every region" would take the new client's too */
	bool draining;
	uint32_t client_max_fds;
	uint32_t client_max_xfer;
	/* the client's ERR and REQ notification eventfds (-1: none); held
	 * so that QEMU enables error recovery; not signalled yet */
	int err_fd, req_fd;
};

void vfu_conn_init(struct vfu_conn *c, struct emu_function *fn, const struct vfu_conn_ops *ops,
		   void *user);

/* Handle one complete message of len bytes (header included). Takes
 * ownership of fds (closes what it does not keep). Returns 0, or -EPROTO
 * when the connection must be closed. May leave c->busy set: the reply
 * then comes later and ops->resume is called. */
int vfu_conn_handle(struct vfu_conn *c, const uint8_t *msg, size_t len, int *fds, int nfds);

/* The client went away: drop its memory and interrupts, tell the function.
 * The memory goes asynchronously: c->draining stays set until it is gone,
 * and ops->resume is then called (unless it was gone at once). */
void vfu_conn_gone(struct vfu_conn *c);

#endif
