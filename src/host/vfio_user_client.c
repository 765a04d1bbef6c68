/* vfio-user client: connection, message transport, VERSION negotiation and
 * raw access. Device commands are in vfio_user_device.c, config-space
 * helpers in vfio_user_config.c. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "host/vfio_user_client_priv.h"

#define VFU_XCHG_MAX_IOV	4
#define VFU_SEND_MAX_FDS	253	/* SCM_MAX_FD of Linux */

/* Capabilities we propose; the numbers match VFU_MAX_FDS / VFU_MAX_XFER. */
static const char vfu_our_caps[] =
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"pgsizes\":4096,\"max_dma_maps\":65535,\"write_multiple\":true}}";

/* fds collected while receiving one message. */
struct vfu_rx_fds {
	int fds[VFU_MAX_FDS];
	int nfds;
	bool overflow;		/* more fds than VFU_MAX_FDS, or truncated control data */
};

static void rx_fds_close(struct vfu_rx_fds *rf)
{
	for (int i = 0; i < rf->nfds; i++)
		close(rf->fds[i]);
	rf->nfds = 0;
}

void vfu_reply_close_fds(struct vfu_reply *r)
{
	for (int i = 0; i < r->nfds; i++)
		close(r->fds[i]);
	r->nfds = 0;
}

/* ---- time ------------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int ms_left(int64_t deadline)
{
	int64_t left = deadline - now_ms();
	if (left < 0)
		return 0;
	return left > 60000000 ? 60000000 : (int)left;
}

/* Wait until fd is ready for ev or the deadline passes. Hang-up and errors
 * count as ready: the following send/recv reports them. */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		struct pollfd p = { .fd = fd, .events = ev };
		int n = poll(&p, 1, ms_left(deadline));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ETIMEDOUT;
		if (p.revents & POLLNVAL)
			return -EBADF;
		return 0;
	}
}

/* ---- sending --------------------------------------------------------------- */

/* Send the whole iovec; fds go with the first byte. *sent_any tells whether
 * any byte left (after which a failure loses the framing). */
static int send_iov(int fd, struct iovec *iov, int iovcnt, const int *fds, int nfds,
		    int64_t deadline, bool *sent_any)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFU_SEND_MAX_FDS)];
		struct cmsghdr align;
	} u;
	bool fds_pending = nfds > 0;

	*sent_any = false;
	if (nfds < 0 || nfds > VFU_SEND_MAX_FDS)
		return -EINVAL;
	while (iovcnt > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)iovcnt };
		if (fds_pending) {
			memset(u.buf, 0, sizeof(u.buf));
			mh.msg_control = u.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
		}
		ssize_t n = sendmsg(fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int rc = wait_fd(fd, POLLOUT, deadline);
				if (rc)
					return rc;
				continue;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return -ECONNRESET;
			return -errno;
		}
		fds_pending = false;
		if (n > 0)
			*sent_any = true;
		size_t left = (size_t)n;
		while (iovcnt > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* ---- receiving ------------------------------------------------------------- */

static void take_fds(struct msghdr *mh, struct vfu_rx_fds *rf)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;
			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (rf->nfds < VFU_MAX_FDS) {
				rf->fds[rf->nfds++] = fd;
			} else {
				close(fd);
				rf->overflow = true;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		rf->overflow = true;
}

/* Receive exactly len bytes, collecting fds. EOF is -ECONNRESET. */
static int recv_exact(int fd, uint8_t *buf, size_t len, struct vfu_rx_fds *rf,
		      int64_t deadline, bool *got_any)
{
	size_t done = 0;

	while (done < len) {
		union {
			char buf[CMSG_SPACE(sizeof(int) * VFU_MAX_FDS)];
			struct cmsghdr align;
		} u;
		struct iovec iov = { .iov_base = buf + done, .iov_len = len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
				     .msg_control = u.buf, .msg_controllen = sizeof(u.buf) };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int rc = wait_fd(fd, POLLIN, deadline);
				if (rc)
					return rc;
				continue;
			}
			if (errno == ECONNRESET)
				return -ECONNRESET;
			return -errno;
		}
		take_fds(&mh, rf);
		if (n == 0)
			return -ECONNRESET;
		done += (size_t)n;
		*got_any = true;
	}
	return 0;
}

/* Receive one whole message: header into *h, payload into the client's
 * buffer. A msg_size outside [16, VFU_MAX_MSG] is -EPROTO. */
static int recv_msg(struct vfu_client *c, struct vfu_msg_hdr *h, size_t *plen,
		    struct vfu_rx_fds *rf, int64_t deadline, bool *got_any)
{
	*got_any = false;
	int rc = recv_exact(c->fd, (uint8_t *)h, sizeof(*h), rf, deadline, got_any);
	if (rc)
		return rc;
	if (h->msg_size < sizeof(*h) || h->msg_size > VFU_MAX_MSG)
		return -EPROTO;
	*plen = h->msg_size - sizeof(*h);
	if (*plen > c->rcap) {
		uint8_t *nb = realloc(c->rbuf, *plen);
		if (!nb)
			return -ENOMEM;
		c->rbuf = nb;
		c->rcap = *plen;
	}
	return recv_exact(c->fd, c->rbuf, *plen, rf, deadline, got_any);
}

/* ---- request / reply ------------------------------------------------------- */

/* Answer a command the server sent us: we serve none of them. */
static int refuse_command(struct vfu_client *c, const struct vfu_msg_hdr *cmd, int64_t deadline)
{
	if (cmd->flags & VFU_F_NO_REPLY)
		return 0;
	struct vfu_msg_hdr h = {
		.msg_id = cmd->msg_id,
		.command = cmd->command,
		.msg_size = sizeof(h),
		.flags = VFU_F_TYPE_REPLY | VFU_F_ERROR,
		.error = ENOTSUP,
	};
	struct iovec iov = { .iov_base = &h, .iov_len = sizeof(h) };
	bool sent;
	return send_iov(c->fd, &iov, 1, NULL, 0, deadline, &sent);
}

static int wait_reply(struct vfu_client *c, uint16_t id, uint16_t cmd, int64_t deadline,
		      struct vfu_reply *r)
{
	for (;;) {
		struct vfu_msg_hdr h;
		struct vfu_rx_fds rf = { .nfds = 0 };
		size_t plen = 0;
		bool got;
		int rc = recv_msg(c, &h, &plen, &rf, deadline, &got);
		if (rc) {
			rx_fds_close(&rf);
			c->broken = true;
			return rc;
		}
		uint32_t type = h.flags & VFU_F_TYPE_MASK;
		if (type == VFU_F_TYPE_COMMAND) {
			rx_fds_close(&rf);
			rc = refuse_command(c, &h, deadline);
			if (rc) {
				c->broken = true;
				return rc;
			}
			continue;
		}
		if (type != VFU_F_TYPE_REPLY || h.msg_id != id || h.command != cmd) {
			rx_fds_close(&rf);
			c->broken = true;
			return -EPROTO;
		}
		if (rf.overflow) {
			rx_fds_close(&rf);
			return -EPROTO;
		}
		if (h.flags & VFU_F_ERROR) {
			rx_fds_close(&rf);
			if (plen)
				return -EPROTO;	/* an error reply is the header only */
			return (h.error > 0 && h.error < 4096) ? -(int)h.error : -EIO;
		}
		if (!r) {
			rx_fds_close(&rf);
			return 0;
		}
		r->payload = c->rbuf;
		r->len = plen;
		r->nfds = rf.nfds;
		memcpy(r->fds, rf.fds, sizeof(int) * (size_t)rf.nfds);
		return 0;
	}
}

int vfu_xchg(struct vfu_client *c, uint16_t cmd, const struct iovec *iov, int iovcnt,
	     const int *fds, int nfds, bool posted, struct vfu_reply *r)
{
	struct iovec v[1 + VFU_XCHG_MAX_IOV];
	size_t plen = 0;

	if (r)
		r->nfds = 0;
	if (c->broken)
		return -ENOTCONN;
	if (iovcnt < 0 || iovcnt > VFU_XCHG_MAX_IOV)
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++) {
		v[1 + i] = iov[i];
		plen += iov[i].iov_len;
	}
	if (plen > UINT32_MAX - sizeof(struct vfu_msg_hdr))
		return -EMSGSIZE;
	uint16_t id = c->next_id++;
	struct vfu_msg_hdr h = {
		.msg_id = id,
		.command = cmd,
		.msg_size = (uint32_t)(sizeof(h) + plen),
		.flags = VFU_F_TYPE_COMMAND | (posted ? VFU_F_NO_REPLY : 0),
	};
	v[0].iov_base = &h;
	v[0].iov_len = sizeof(h);

	int64_t deadline = now_ms() + c->timeout_ms;
	bool sent;
	int rc = send_iov(c->fd, v, 1 + iovcnt, fds, nfds, deadline, &sent);
	if (rc) {
		if (sent || rc == -ECONNRESET)
			c->broken = true;
		return rc;
	}
	if (posted)
		return 0;
	return wait_reply(c, id, cmd, deadline, r);
}

/* ---- connection ------------------------------------------------------------ */

static void caps_defaults(struct vfu_caps *caps)
{
	*caps = (struct vfu_caps){
		.major = VFU_PROTO_MAJOR,
		.minor = VFU_PROTO_MINOR,
		.max_msg_fds = 1,
		.max_data_xfer_size = 1u << 20,
		.pgsizes = 4096,
		.max_dma_maps = 65535,
		.write_multiple = false,
	};
}

int vfu_client_from_fd(int fd, struct vfu_client **out)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0)
		return -errno;
	struct vfu_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	if (!(fl & O_NONBLOCK) && fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int err = errno;
		free(c);
		return -err;
	}
	c->fd = fd;
	c->timeout_ms = VFU_DEFAULT_TIMEOUT_MS;
	c->next_id = 1;
	caps_defaults(&c->caps);
	*out = c;
	return 0;
}

int vfu_connect_raw(const char *path, struct vfu_client **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	/* A full backlog gives EAGAIN on a non-blocking socket: retry until the
	 * default timeout instead of blocking without bound. */
	int64_t deadline = now_ms() + VFU_DEFAULT_TIMEOUT_MS;
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;
		if ((err == EAGAIN || err == EINTR) && ms_left(deadline) > 0) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
			continue;
		}
		close(fd);
		return err == EAGAIN ? -ETIMEDOUT : -err;
	}
	int rc = vfu_client_from_fd(fd, out);
	if (rc)
		close(fd);
	return rc;
}

/* Fetch a non-negative integer capability; absent keeps *val. */
static int cap_uint(json_t *caps, const char *key, uint64_t min, uint64_t max, uint64_t *val)
{
	json_t *v = json_object_get(caps, key);
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return -EPROTO;
	json_int_t n = json_integer_value(v);
	if (n < 0 || (uint64_t)n < min || (uint64_t)n > max)
		return -EPROTO;
	*val = (uint64_t)n;
	return 0;
}

/* Parse the capabilities of the server's VERSION reply into caps. */
static int parse_version_json(const char *text, size_t len, struct vfu_caps *caps)
{
	json_error_t jerr;
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return -EPROTO;
	int rc = -EPROTO;
	if (!json_is_object(root))
		goto out;
	json_t *cj = json_object_get(root, "capabilities");
	if (!cj) {
		rc = 0;
		goto out;
	}
	if (!json_is_object(cj))
		goto out;
	uint64_t fds = caps->max_msg_fds, maps = caps->max_dma_maps;
	if (cap_uint(cj, "max_msg_fds", 0, VFU_SEND_MAX_FDS, &fds) ||
	    cap_uint(cj, "max_data_xfer_size", 1, UINT32_MAX, &caps->max_data_xfer_size) ||
	    cap_uint(cj, "pgsizes", 1, UINT64_MAX, &caps->pgsizes) ||
	    cap_uint(cj, "max_dma_maps", 0, UINT32_MAX, &maps))
		goto out;
	caps->max_msg_fds = (uint32_t)fds;
	caps->max_dma_maps = maps;
	json_t *wm = json_object_get(cj, "write_multiple");
	if (wm) {
		if (!json_is_boolean(wm))
			goto out;
		caps->write_multiple = json_is_true(wm);
	}
	/* We did not propose twin_socket: a server enabling it breaks the
	 * subset rule and would expect us to serve a second socket. */
	json_t *ts = json_object_get(cj, "twin_socket");
	if (ts) {
		if (!json_is_object(ts))
			goto out;
		json_t *sup = json_object_get(ts, "supported");
		if (sup && !json_is_boolean(sup))
			goto out;
		if (json_is_true(sup))
			goto out;
	}
	rc = 0;
out:
	json_decref(root);
	return rc;
}

int vfu_negotiate(struct vfu_client *c)
{
	struct vfu_msg_version v = { .major = VFU_PROTO_MAJOR, .minor = VFU_PROTO_MINOR };
	struct iovec iov[2] = {
		{ .iov_base = &v, .iov_len = sizeof(v) },
		{ .iov_base = (void *)vfu_our_caps, .iov_len = sizeof(vfu_our_caps) }, /* with NUL */
	};
	struct vfu_reply r;
	int rc = vfu_xchg(c, VFU_CMD_VERSION, iov, 2, NULL, 0, false, &r);
	if (rc)
		return rc;
	/* We proposed no twin socket, so the reply carries no fd we want. */
	vfu_reply_close_fds(&r);
	if (r.len < sizeof(v))
		return -EPROTO;
	struct vfu_msg_version rv;
	memcpy(&rv, r.payload, sizeof(rv));
	if (rv.major != VFU_PROTO_MAJOR || rv.minor > VFU_PROTO_MINOR)
		return -EPROTO;

	struct vfu_caps caps;
	caps_defaults(&caps);
	caps.major = rv.major;
	caps.minor = rv.minor;
	size_t dlen = r.len - sizeof(v);
	if (dlen > 0) {
		const char *text = (const char *)r.payload + sizeof(v);
		const char *nul = memchr(text, '\0', dlen);
		if (!nul)
			return -EPROTO;	/* the version data is NUL-terminated */
		rc = parse_version_json(text, (size_t)(nul - text), &caps);
		if (rc)
			return rc;
	}
	c->caps = caps;
	return 0;
}

int vfu_connect(const char *path, struct vfu_client **out)
{
	struct vfu_client *c;
	int rc = vfu_connect_raw(path, &c);
	if (rc)
		return rc;
	rc = vfu_negotiate(c);
	if (rc) {
		vfu_close(c);
		return rc;
	}
	*out = c;
	return 0;
}

const struct vfu_caps *vfu_get_caps(const struct vfu_client *c)
{
	return &c->caps;
}

void vfu_set_timeout(struct vfu_client *c, int timeout_ms)
{
	c->timeout_ms = timeout_ms > 0 ? timeout_ms : VFU_DEFAULT_TIMEOUT_MS;
}

int vfu_socket_fd(const struct vfu_client *c)
{
	return c->fd;
}

uint16_t vfu_next_msg_id(struct vfu_client *c)
{
	return c->next_id++;
}

void vfu_close(struct vfu_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nmaps; i++)
		munmap(c->maps[i].base, c->maps[i].len);
	free(c->maps);
	free(c->rbuf);
	close(c->fd);
	free(c);
}

/* ---- raw access ------------------------------------------------------------ */

int vfu_send_raw(struct vfu_client *c, const void *msg, size_t len, const int *fds, int nfds)
{
	if (c->broken)
		return -ENOTCONN;
	struct iovec iov = { .iov_base = (void *)msg, .iov_len = len };
	bool sent;
	int rc = send_iov(c->fd, &iov, 1, fds, nfds, now_ms() + c->timeout_ms, &sent);
	if (rc && (sent || rc == -ECONNRESET))
		c->broken = true;
	return rc;
}

int vfu_recv_raw(struct vfu_client *c, void *buf, size_t cap, size_t *len, int *fds, int *nfds,
		 int timeout_ms)
{
	int fcap = (fds && nfds) ? *nfds : 0;
	if (nfds)
		*nfds = 0;
	*len = 0;
	if (c->broken)
		return -ENOTCONN;

	struct vfu_msg_hdr h;
	struct vfu_rx_fds rf = { .nfds = 0 };
	size_t plen = 0;
	bool got;
	int64_t deadline = now_ms() + (timeout_ms > 0 ? timeout_ms : c->timeout_ms);
	int rc = recv_msg(c, &h, &plen, &rf, deadline, &got);
	if (rc) {
		rx_fds_close(&rf);
		if (got || rc == -ECONNRESET || rc == -EPROTO)
			c->broken = true;
		return rc;
	}
	bool trunc = rf.overflow;
	*len = sizeof(h) + plen;
	size_t n = cap < sizeof(h) ? cap : sizeof(h);
	if (n)
		memcpy(buf, &h, n);
	if (cap > sizeof(h) && plen)
		memcpy((uint8_t *)buf + sizeof(h), c->rbuf, cap - sizeof(h) < plen ? cap - sizeof(h) : plen);
	if (*len > cap)
		trunc = true;
	for (int i = 0; i < rf.nfds; i++) {
		if (i < fcap) {
			fds[i] = rf.fds[i];
			(*nfds)++;
		} else {
			close(rf.fds[i]);
			trunc = true;
		}
	}
	return trunc ? -EMSGSIZE : 0;
}
