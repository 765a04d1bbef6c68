/* Shared by the vhost-user connection (vhu_conn.c: dispatch, replies,
 * asynchronous steps, teardown) and its request handlers (vhu_handlers.c). */
#ifndef OSNAP_VHU_INTERNAL_H
#define OSNAP_VHU_INTERNAL_H

#include "vhu_conn.h"

/* One request: the payload is checked against size before the handler
 * runs. A handler returns 0 (answered, or answering later with c->busy
 * set), -EPROTO to close the connection, or another -errno that
 * vhu_conn_handle reports (see get). */
struct vhu_request {
	int (*handle)(struct vhu_conn *c, const struct vhu_hdr *h, const uint8_t *p, size_t plen, int *fds,
		      int nfds);	/* NULL: not supported */
	uint32_t size;		/* exact payload bytes; 0: the handler checks them (or takes any) */
	bool get;		/* answered with a payload: a failure has no well-formed
				 * answer, so it closes the connection */
};

/* The request with id req, NULL for one we do not know. */
const struct vhu_request *vhu_request_find(uint32_t req);

/* --- the device's queues as the connection addresses them --- */

uint32_t vhu_nq(const struct vhu_conn *c);
bool vhu_running(const struct vhu_conn *c, uint32_t idx);
/* Negotiated features back to none (the queues are stopped). */
void vhu_dev_reset(struct vhu_conn *c);

/* --- replies --- */

int vhu_reply(struct vhu_conn *c, const struct vhu_hdr *req, const void *payload, size_t len, const int *fds,
	      int nfds);
int vhu_reply_u64(struct vhu_conn *c, const struct vhu_hdr *req, uint64_t v);
/* Does req want a u64 status (REPLY_ACK negotiated and need_reply set)? */
bool vhu_wants_ack(const struct vhu_conn *c, const struct vhu_hdr *req);
/* The u64 status (0 for rc 0, else 1) when req wants one; 0 or -errno. */
int vhu_ack(struct vhu_conn *c, const struct vhu_hdr *req, int rc);
void vhu_close_fds(int *fds, int nfds);

/* --- requests that complete later (queues stopping, memory leaving) --- */

struct vhu_async {
	struct vhu_conn *c;
	struct vhu_hdr h;
	uint32_t index;			/* GET_VRING_BASE: the ring */
	uint16_t base;			/* where it stopped */
	void (*then)(struct vhu_async *op);
	/* memory table being installed */
	struct vhu_mem_region regions[VHU_MAX_REGIONS];
	int fds[VHU_MAX_REGIONS];
	int nregions;
	bool paused;			/* SET_MEM_TABLE paused the queues itself */
};

/* A request of c that completes later: c is busy until vhu_async_finish.
 * NULL when out of memory. */
struct vhu_async *vhu_async_new(struct vhu_conn *c, const struct vhu_hdr *h, void (*then)(struct vhu_async *));
/* The request is answered: read messages again (or start the teardown of
 * a front end that left meanwhile). Frees op. */
void vhu_async_finish(struct vhu_async *op);
/* Stop every running queue (their in-flight requests finish first), then
 * op->then(op). */
void vhu_async_stop_all(struct vhu_async *op);
/* Stop queue op->index, then op->then(op) with op->base where it stopped. */
void vhu_async_stop_one(struct vhu_async *op);

#endif
