/* Internals of the vfio-user client shared by its source files: the client
 * object and the request/reply exchange. Not for users of the library. */
#ifndef OSNAP_HOST_VFIO_USER_CLIENT_PRIV_H
#define OSNAP_HOST_VFIO_USER_CLIENT_PRIV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "host/vfio_user_client.h"
#include "host/vfio_user_proto.h"

/* Largest message accepted: a full data transfer plus 64 KiB of structure
 * (region info with capabilities is bounded by VFU_REGION_INFO_MAX). */
#define VFU_REGION_INFO_MAX	(64u * 1024)
#define VFU_MAX_MSG		(sizeof(struct vfu_msg_hdr) + VFU_REGION_INFO_MAX + VFU_MAX_XFER)

struct vfu_mapping {
	uint32_t index;
	void *base;
	size_t len;
};

struct vfu_client {
	int fd;
	int timeout_ms;
	uint16_t next_id;
	bool broken;		/* framing or pairing lost: only close remains */
	struct vfu_caps caps;
	uint8_t *rbuf;		/* receive buffer, grown on demand */
	size_t rcap;
	struct vfu_mapping *maps;
	size_t nmaps;
};

/* A received reply. payload points into the client's receive buffer and is
 * valid until the next exchange; fds belong to the receiver. */
struct vfu_reply {
	const uint8_t *payload;
	size_t len;
	int fds[VFU_MAX_FDS];
	int nfds;
};

/* Send command cmd with the payload gathered from iov (may be NULL/0) and
 * nfds fds. Unless posted, wait for the reply and check that it is ours:
 * same id and command, reply type, no error flag (an error reply returns
 * minus its errno; an error reply with a payload is -EPROTO). r may be NULL
 * when posted. On failure r holds no fd. */
int vfu_xchg(struct vfu_client *c, uint16_t cmd, const struct iovec *iov, int iovcnt,
	     const int *fds, int nfds, bool posted, struct vfu_reply *r);

/* Close the fds of a reply. */
void vfu_reply_close_fds(struct vfu_reply *r);

#endif
