/* vhost-user front end: the client side of a vhost-user socket (what QEMU
 * is to a vhost-user-blk back end). Used by the host virtio-blk driver and
 * by tests that speak to a back end directly.
 *
 * Written from QEMU's docs/interop/vhost-user.rst only; it includes nothing
 * from src/emu, src/nvme or src/virtio_blk.
 *
 * Conventions for every function below unless its comment says otherwise:
 * - Return 0 on success or a negative errno.
 * - Requests that have a defined reply (GET_FEATURES, GET_PROTOCOL_FEATURES,
 *   GET_QUEUE_NUM, GET_CONFIG, GET_VRING_BASE, GET_INFLIGHT_FD,
 *   GET_MAX_MEM_SLOTS, GET_STATUS) wait for it. Other requests are sent
 *   with the need_reply flag once REPLY_ACK was acknowledged through
 *   vhu_set_protocol_features() (unless vhu_set_reply_ack(f, false)), and
 *   then wait for the u64 status: non-zero gives -EIO (the value is kept,
 *   see vhu_last_ack()). Without REPLY_ACK they return once sent.
 * - Every wait is bounded by the timeout (vhu_set_timeout()): a back end
 *   that does not answer gives -ETIMEDOUT, one that closed the socket
 *   -ECONNRESET, a reply with a wrong request code, version, reply flag or
 *   size -EPROTO. When the request/reply pairing or the framing is lost
 *   (timeout, reset, a reply that is not ours, a partial message) the
 *   front end is marked broken and every later call returns -ENOTCONN
 *   (only vhu_close() remains useful). A reply that is ours but carries bad
 *   content (e.g. a GET_CONFIG of the wrong size) is consumed whole, so the
 *   front end stays usable.
 * - The front end sends what the caller asks as long as it can be encoded,
 *   so that tests can send values the back end must reject.
 * - Threading: a front end is used by one thread at a time (the control
 *   thread); distinct front ends are independent. No hidden global state. */
#ifndef OSNAP_HOST_VHOST_USER_FRONT_H
#define OSNAP_HOST_VHOST_USER_FRONT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/vhost_user_proto.h"

struct vhu_front;

#define VHU_DEFAULT_TIMEOUT_MS	5000

/* ---- connection -------------------------------------------------------------------------- */

/* Connect to the back end's Unix socket at path (no message is sent). On
 * success *out owns the socket; release with vhu_close(). Errors:
 * -ENAMETOOLONG, socket()/connect()'s errno. */
int vhu_connect(const char *path, struct vhu_front **out);

/* Adopt an already connected stream socket (socketpair, inherited fd). On
 * success the front end owns fd (closed by vhu_close()); on failure the
 * caller still owns it. */
int vhu_front_from_fd(int fd, struct vhu_front **out);

/* Close the socket and free f. NULL is allowed. */
void vhu_close(struct vhu_front *f);

/* Timeout in milliseconds for each later send and reply wait; values <= 0
 * restore VHU_DEFAULT_TIMEOUT_MS. */
void vhu_set_timeout(struct vhu_front *f, int timeout_ms);

/* Use (true, the default once REPLY_ACK is acknowledged) or not the
 * need_reply flag on requests without a defined reply. Setting true has no
 * effect unless REPLY_ACK was acknowledged. */
void vhu_set_reply_ack(struct vhu_front *f, bool on);

/* The socket, for poll() in tests. Still owned by f. */
int vhu_socket_fd(const struct vhu_front *f);

/* Protocol features last acknowledged with vhu_set_protocol_features()
 * (0 before). */
uint64_t vhu_protocol_features(const struct vhu_front *f);

/* The u64 status of the last REPLY_ACK answer (0 = success). */
uint64_t vhu_last_ack(const struct vhu_front *f);

/* True once the front end was marked broken (see the conventions). */
bool vhu_is_broken(const struct vhu_front *f);

/* ---- feature negotiation and session --------------------------------------------------- */

/* GET_FEATURES: the back end's virtio features (bit 30 announces
 * protocol features). */
int vhu_get_features(struct vhu_front *f, uint64_t *features);
/* SET_FEATURES: the negotiated virtio features (include bit 30 when
 * protocol features are in use: rings then start disabled). */
int vhu_set_features(struct vhu_front *f, uint64_t features);
/* GET_PROTOCOL_FEATURES (legal only when bit 30 was offered). */
int vhu_get_protocol_features(struct vhu_front *f, uint64_t *features);
/* SET_PROTOCOL_FEATURES (sent without need_reply: REPLY_ACK is not in
 * force until it was acknowledged); records features for later requests. */
int vhu_set_protocol_features(struct vhu_front *f, uint64_t features);
/* GET_QUEUE_NUM (only meaningful with the MQ protocol feature). */
int vhu_get_queue_num(struct vhu_front *f, uint64_t *num);
/* SET_OWNER: the session starts. */
int vhu_set_owner(struct vhu_front *f);
/* RESET_DEVICE (needs the RESET_DEVICE protocol feature). */
int vhu_reset_device(struct vhu_front *f);
/* SET_STATUS / GET_STATUS: the virtio device status byte (STATUS protocol
 * feature). */
int vhu_set_status(struct vhu_front *f, uint8_t status);
int vhu_get_status(struct vhu_front *f, uint8_t *status);

/* GET_CONFIG of size bytes (1..VHU_MAX_CONFIG_SIZE) at offset. The back end
 * must answer with the same offset and a size not above ours (the
 * specification says equal; a smaller answer is accepted and reported in
 * *got, which may be NULL); the payload size must match its config header.
 * A zero-size answer (the back end's error indication) gives -EIO. buf
 * receives *got bytes; the rest of buf is zeroed. */
int vhu_get_config(struct vhu_front *f, uint32_t offset, uint32_t flags, void *buf,
		   uint32_t size, uint32_t *got);

/* SET_CONFIG of size bytes at offset (flags VHU_CONFIG_F_*). */
int vhu_set_config(struct vhu_front *f, uint32_t offset, uint32_t flags, const void *buf,
		   uint32_t size);

/* ---- memory ------------------------------------------------------------------------------ */

/* A region as the front end describes it; fd is still owned by the caller. */
struct vhu_region {
	uint64_t guest_addr;
	uint64_t size;
	uint64_t user_addr;
	uint64_t mmap_offset;
	int fd;
};

/* SET_MEM_TABLE with n (0..VHU_MAX_REGIONS) regions, one fd each in order.
 * Regions with fd < 0 are sent without an fd (the back end must reject
 * that; for tests). */
int vhu_set_mem_table(struct vhu_front *f, const struct vhu_region *r, unsigned n);

/* GET_MAX_MEM_SLOTS (CONFIGURE_MEM_SLOTS protocol feature). */
int vhu_get_max_mem_slots(struct vhu_front *f, uint64_t *slots);
/* ADD_MEM_REG: one region with its fd (CONFIGURE_MEM_SLOTS). */
int vhu_add_mem_reg(struct vhu_front *f, const struct vhu_region *r);
/* REM_MEM_REG: identified by guest address, user address and size; sent
 * without fd as the specification recommends. */
int vhu_rem_mem_reg(struct vhu_front *f, const struct vhu_region *r);

/* GET_INFLIGHT_FD with the queue count and size of the device. On success
 * *info holds the back end's answer and *fd the shared region's fd (caller
 * owns it). -EPROTO when the answer has no fd or a zero mmap_size. */
int vhu_get_inflight_fd(struct vhu_front *f, uint16_t num_queues, uint16_t queue_size,
			struct vhu_inflight *info, int *fd);

/* SET_INFLIGHT_FD with info and fd (still owned by the caller). */
int vhu_set_inflight_fd(struct vhu_front *f, const struct vhu_inflight *info, int fd);

/* ---- vrings -------------------------------------------------------------------------------- */

/* SET_VRING_NUM: the queue size of ring index. */
int vhu_set_vring_num(struct vhu_front *f, uint32_t index, uint32_t num);
/* SET_VRING_BASE: next available index the back end is to process (0 for a new ring). */
int vhu_set_vring_base(struct vhu_front *f, uint32_t index, uint32_t base);
/* Stops the ring; *base receives the back end's next available index. The
 * reply must echo index. */
int vhu_get_vring_base(struct vhu_front *f, uint32_t index, uint32_t *base);
/* SET_VRING_ADDR: ring addresses are user addresses of this process. */
int vhu_set_vring_addr(struct vhu_front *f, const struct vhu_vring_addr *addr);
/* SET_VRING_KICK / SET_VRING_CALL / SET_VRING_ERR: the eventfd of ring
 * index (bits 0-7 of the u64). fd < 0 sends the "no fd" flag (bit 8):
 * polling. fd is still owned by the caller (the back end gets a copy). */
int vhu_set_vring_kick(struct vhu_front *f, uint32_t index, int fd);
int vhu_set_vring_call(struct vhu_front *f, uint32_t index, int fd);
int vhu_set_vring_err(struct vhu_front *f, uint32_t index, int fd);
/* SET_VRING_ENABLE: num 1 / 0 (with protocol features rings start disabled). */
int vhu_set_vring_enable(struct vhu_front *f, uint32_t index, bool enable);

/* ---- generic and raw messages ------------------------------------------------------------ */

/* Send request with payload (size bytes) and nfds fds. When the request has
 * a defined reply or want_reply is set, wait for a reply of the same
 * request code (copied into reply, capacity reply_cap; *reply_size gets
 * its payload size; received fds go to rfds (capacity *nrfds on entry,
 * count on return; NULL closes them)). need_reply sets the flag in the
 * header (a u64 ack reply is then expected unless the request has its own
 * reply). Replies larger than reply_cap are -EPROTO (consumed). */
int vhu_request(struct vhu_front *f, uint32_t request, bool need_reply, const void *payload,
		uint32_t size, const int *fds, int nfds, bool want_reply, void *reply,
		uint32_t reply_cap, uint32_t *reply_size, int *rfds, int *nrfds);

/* Send len bytes exactly as given (header included, nothing checked) with
 * nfds fds (caller keeps them). */
int vhu_send_raw(struct vhu_front *f, const void *msg, size_t len, const int *fds, int nfds);

/* Receive one whole message (framed by its header's size) into buf without
 * any check beyond framing. *len gets the message length (header
 * included); when it exceeds cap, cap bytes are copied and -EMSGSIZE is
 * returned (the message is consumed). fds (capacity *nfds on entry)
 * receives its fds, owned by the caller; extra fds are closed. fds/nfds may
 * be NULL to close any fd. timeout_ms <= 0 uses the front end's timeout.
 * -ECONNRESET when the back end closed, -ETIMEDOUT when nothing complete
 * arrived (usable again if no byte arrived), -EPROTO for a payload size
 * above VHU_MAX_PAYLOAD (framing lost: broken). */
int vhu_recv_raw(struct vhu_front *f, void *buf, size_t cap, size_t *len, int *fds, int *nfds,
		 int timeout_ms);

#endif
