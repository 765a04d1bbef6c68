/* vhost-user front end: framing, request/reply pairing, REPLY_ACK and the
 * typed requests. See vhost_user_front.h for the contracts. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/vhost_user_front.h"

struct vhu_front {
	int fd;
	int timeout_ms;
	bool broken;
	bool ack_wanted;	/* caller's choice, see vhu_set_reply_ack() */
	uint64_t pf;		/* acknowledged protocol features */
	uint64_t last_ack;
};

/* ---- time ------------------------------------------------------------------------------ */

static struct timespec deadline_in(int ms)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	t.tv_sec += ms / 1000;
	t.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	return t;
}

/* Milliseconds left until d (0 when passed). */
static int ms_left(const struct timespec *d)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (long long)(d->tv_sec - now.tv_sec) * 1000 +
		       (d->tv_nsec - now.tv_nsec) / 1000000L;
	if (ms <= 0)
		return 0;
	return ms > 1000000 ? 1000000 : (int)ms;
}

/* Wait for events on fd until d; 0 when ready, -ETIMEDOUT, or -errno. */
static int wait_fd(int fd, short events, const struct timespec *d)
{
	for (;;) {
		struct pollfd p = { fd, events, 0 };
		int r = poll(&p, 1, ms_left(d));
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* ---- framing ----------------------------------------------------------------------------- */

/* Send all of iov (2 parts) with fds on the first byte. *sent_any tells
 * whether part of the message left (framing then depends on the rest). */
static int send_all(struct vhu_front *f, struct iovec *iov, int niov, const int *fds, int nfds,
		    const struct timespec *d, bool *sent_any)
{
	char cbuf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
	bool first = true;

	*sent_any = false;
	if (nfds < 0 || nfds > VHU_MAX_FDS)
		return -EINVAL;
	while (niov > 0) {
		struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)niov };
		if (first && nfds > 0) {
			memset(cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
		}
		ssize_t n = sendmsg(f->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int rc = wait_fd(f->fd, POLLOUT, d);
				if (rc)
					return rc;
				continue;
			}
			if (errno == EPIPE || errno == ECONNRESET)
				return -ECONNRESET;
			return -errno;
		}
		first = false;
		*sent_any = true;
		size_t left = (size_t)n;
		while (niov > 0 && left >= iov->iov_len) {
			left -= iov->iov_len;
			iov++;
			niov--;
		}
		if (niov > 0) {
			iov->iov_base = (uint8_t *)iov->iov_base + left;
			iov->iov_len -= left;
		}
	}
	return 0;
}

/* Keep fds up to the caller's capacity, close the rest. */
static void take_fds(struct msghdr *mh, int *fds, int cap, int *n)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int x;
			memcpy(&x, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			if (fds && *n < cap)
				fds[(*n)++] = x;
			else
				close(x);
		}
	}
}

/* Receive exactly len bytes into buf (NULL: discard). *got_any is set once
 * a byte arrived. */
static int recv_exact(struct vhu_front *f, void *buf, size_t len, int *fds, int cap, int *nfds,
		      const struct timespec *d, bool *got_any)
{
	uint8_t scratch[512];
	size_t done = 0;

	while (done < len) {
		char cbuf[CMSG_SPACE(sizeof(int) * VHU_MAX_FDS)];
		size_t want = len - done;
		void *dst = buf ? (uint8_t *)buf + done : scratch;
		if (!buf && want > sizeof(scratch))
			want = sizeof(scratch);
		struct iovec iov = { dst, want };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(f->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				int rc = wait_fd(f->fd, POLLIN, d);
				if (rc)
					return rc;
				continue;
			}
			return errno == ECONNRESET ? -ECONNRESET : -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		take_fds(&mh, fds, cap, nfds);
		*got_any = true;
		done += (size_t)n;
	}
	return 0;
}

/* Receive one message: header into *h, payload (h->size bytes) into buf
 * when it fits cap, else discarded with -EMSGSIZE. Framing errors mark the
 * front end broken. */
static int recv_msg(struct vhu_front *f, struct vhu_hdr *h, void *buf, size_t cap, int *fds,
		    int fdcap, int *nfds, const struct timespec *d)
{
	bool got_any = false;
	int rc = recv_exact(f, h, sizeof(*h), fds, fdcap, nfds, d, &got_any);

	if (rc) {
		if (got_any || rc != -ETIMEDOUT)
			f->broken = true;
		return rc;
	}
	if (h->size > VHU_MAX_PAYLOAD) {
		f->broken = true;
		return -EPROTO;
	}
	bool fits = h->size <= cap;
	rc = recv_exact(f, fits ? buf : NULL, h->size, fds, fdcap, nfds, d, &got_any);
	if (rc) {
		f->broken = true;
		return rc;
	}
	return fits ? 0 : -EMSGSIZE;
}

/* ---- connection ---------------------------------------------------------------------------- */

int vhu_front_from_fd(int fd, struct vhu_front **out)
{
	if (fd < 0)
		return -EBADF;
	struct vhu_front *f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->fd = fd;
	f->timeout_ms = VHU_DEFAULT_TIMEOUT_MS;
	f->ack_wanted = true;
	*out = f;
	return 0;
}

int vhu_connect(const char *path, struct vhu_front **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	int rc = vhu_front_from_fd(fd, out);
	if (rc)
		close(fd);
	return rc;
}

void vhu_close(struct vhu_front *f)
{
	if (!f)
		return;
	close(f->fd);
	free(f);
}

void vhu_set_timeout(struct vhu_front *f, int timeout_ms)
{
	f->timeout_ms = timeout_ms > 0 ? timeout_ms : VHU_DEFAULT_TIMEOUT_MS;
}

void vhu_set_reply_ack(struct vhu_front *f, bool on)
{
	f->ack_wanted = on;
}

int vhu_socket_fd(const struct vhu_front *f)
{
	return f->fd;
}

uint64_t vhu_protocol_features(const struct vhu_front *f)
{
	return f->pf;
}

uint64_t vhu_last_ack(const struct vhu_front *f)
{
	return f->last_ack;
}

bool vhu_is_broken(const struct vhu_front *f)
{
	return f->broken;
}

/* ---- generic request ------------------------------------------------------------------------ */

/* Requests whose reply the specification always defines. */
static bool has_own_reply(uint32_t request)
{
	switch (request) {
	case VHU_GET_FEATURES:
	case VHU_GET_PROTOCOL_FEATURES:
	case VHU_GET_VRING_BASE:
	case VHU_GET_QUEUE_NUM:
	case VHU_GET_CONFIG:
	case VHU_GET_INFLIGHT_FD:
	case VHU_GET_MAX_MEM_SLOTS:
	case VHU_GET_STATUS:
		return true;
	default:
		return false;
	}
}

int vhu_request(struct vhu_front *f, uint32_t request, bool need_reply, const void *payload,
		uint32_t size, const int *fds, int nfds, bool want_reply, void *reply,
		uint32_t reply_cap, uint32_t *reply_size, int *rfds, int *nrfds)
{
	int rfd_cap = nrfds ? *nrfds : 0;
	if (nrfds)
		*nrfds = 0;
	if (f->broken)
		return -ENOTCONN;
	if (size > VHU_MAX_PAYLOAD || (size && !payload))
		return -EINVAL;

	struct timespec d = deadline_in(f->timeout_ms);
	struct vhu_hdr h = { request, VHU_VERSION | (need_reply ? VHU_FLAG_NEED_REPLY : 0), size };
	struct iovec iov[2] = { { &h, sizeof(h) }, { (void *)payload, size } };
	bool sent_any;
	int rc = send_all(f, iov, size ? 2 : 1, fds, nfds, &d, &sent_any);
	if (rc) {
		if (sent_any || rc == -ECONNRESET)
			f->broken = true;
		return rc;
	}
	if (!has_own_reply(request) && !need_reply && !want_reply)
		return 0;

	struct vhu_hdr rh;
	rc = recv_msg(f, &rh, reply, reply_cap, rfds, rfd_cap, nrfds, &d);
	bool framed = !rc || rc == -EMSGSIZE;	/* a whole message arrived */
	if (framed && rh.request != request) {
		/* not the answer to this request: pairing is lost */
		f->broken = true;
		rc = -EPROTO;
	} else if (framed && (rc == -EMSGSIZE ||
			      (rh.flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION ||
			      !(rh.flags & VHU_FLAG_REPLY))) {
		rc = -EPROTO;
	}
	if (rc) {
		for (int i = 0; rfds && nrfds && i < *nrfds; i++)
			close(rfds[i]);
		if (nrfds)
			*nrfds = 0;
		return rc;
	}
	if (reply_size)
		*reply_size = rh.size;
	return 0;
}

static bool ack_in_force(const struct vhu_front *f)
{
	return f->ack_wanted && (f->pf & (1ull << VHU_PF_REPLY_ACK));
}

/* A request without a defined reply: with REPLY_ACK, need_reply and check
 * the u64 status. */
static int send_set(struct vhu_front *f, uint32_t request, const void *payload, uint32_t size,
		    const int *fds, int nfds)
{
	bool ack = ack_in_force(f);
	uint64_t st = 0;
	uint32_t n = 0;
	int rc = vhu_request(f, request, ack, payload, size, fds, nfds, false, &st, sizeof(st), &n,
			     NULL, NULL);

	if (rc || !ack)
		return rc;
	if (n != sizeof(st))
		return -EPROTO;
	f->last_ack = st;
	return st ? -EIO : 0;
}

/* A request whose reply is one u64. */
static int get_u64(struct vhu_front *f, uint32_t request, uint64_t *val)
{
	uint64_t v = 0;
	uint32_t n = 0;
	int rc = vhu_request(f, request, false, NULL, 0, NULL, 0, true, &v, sizeof(v), &n, NULL,
			     NULL);

	if (rc)
		return rc;
	if (n != sizeof(v))
		return -EPROTO;
	*val = v;
	return 0;
}

static int set_u64(struct vhu_front *f, uint32_t request, uint64_t val)
{
	return send_set(f, request, &val, sizeof(val), NULL, 0);
}

/* ---- typed requests ------------------------------------------------------------------------- */

int vhu_get_features(struct vhu_front *f, uint64_t *features)
{
	return get_u64(f, VHU_GET_FEATURES, features);
}

int vhu_set_features(struct vhu_front *f, uint64_t features)
{
	return set_u64(f, VHU_SET_FEATURES, features);
}

int vhu_get_protocol_features(struct vhu_front *f, uint64_t *features)
{
	return get_u64(f, VHU_GET_PROTOCOL_FEATURES, features);
}

int vhu_set_protocol_features(struct vhu_front *f, uint64_t features)
{
	int rc = set_u64(f, VHU_SET_PROTOCOL_FEATURES, features);
	if (!rc)
		f->pf = features;
	return rc;
}

int vhu_get_queue_num(struct vhu_front *f, uint64_t *num)
{
	return get_u64(f, VHU_GET_QUEUE_NUM, num);
}

int vhu_set_owner(struct vhu_front *f)
{
	return send_set(f, VHU_SET_OWNER, NULL, 0, NULL, 0);
}

int vhu_reset_device(struct vhu_front *f)
{
	return send_set(f, VHU_RESET_DEVICE, NULL, 0, NULL, 0);
}

int vhu_set_status(struct vhu_front *f, uint8_t status)
{
	return set_u64(f, VHU_SET_STATUS, status);
}

int vhu_get_status(struct vhu_front *f, uint8_t *status)
{
	uint64_t v;
	int rc = get_u64(f, VHU_GET_STATUS, &v);
	if (!rc)
		*status = (uint8_t)v;
	return rc;
}

int vhu_get_config(struct vhu_front *f, uint32_t offset, uint32_t flags, void *buf,
		   uint32_t size, uint32_t *got)
{
	uint8_t msg[sizeof(struct vhu_config_hdr) + VHU_MAX_CONFIG_SIZE];
	uint8_t rep[sizeof(struct vhu_config_hdr) + VHU_MAX_CONFIG_SIZE];
	struct vhu_config_hdr ch = { offset, size, flags };
	uint32_t n = 0;

	if (size == 0 || size > VHU_MAX_CONFIG_SIZE)
		return -EINVAL;
	memset(msg, 0, sizeof(msg));
	memcpy(msg, &ch, sizeof(ch));
	int rc = vhu_request(f, VHU_GET_CONFIG, false, msg, (uint32_t)sizeof(ch) + size, NULL, 0,
			     true, rep, sizeof(rep), &n, NULL, NULL);
	if (rc)
		return rc;
	if (n == 0)
		return -EIO;		/* the back end's error indication */
	if (n < sizeof(ch))
		return -EPROTO;
	memcpy(&ch, rep, sizeof(ch));
	if (ch.size == 0)
		return -EIO;
	if (ch.offset != offset || ch.size > size || n != sizeof(ch) + ch.size)
		return -EPROTO;
	memset(buf, 0, size);
	memcpy(buf, rep + sizeof(ch), ch.size);
	if (got)
		*got = ch.size;
	return 0;
}

int vhu_set_config(struct vhu_front *f, uint32_t offset, uint32_t flags, const void *buf,
		   uint32_t size)
{
	uint8_t msg[sizeof(struct vhu_config_hdr) + VHU_MAX_CONFIG_SIZE];
	struct vhu_config_hdr ch = { offset, size, flags };

	if (size > VHU_MAX_CONFIG_SIZE || (size && !buf))
		return -EINVAL;
	memcpy(msg, &ch, sizeof(ch));
	if (size)
		memcpy(msg + sizeof(ch), buf, size);
	return send_set(f, VHU_SET_CONFIG, msg, (uint32_t)sizeof(ch) + size, NULL, 0);
}

int vhu_set_mem_table(struct vhu_front *f, const struct vhu_region *r, unsigned n)
{
	struct vhu_mem_table t;
	int fds[VHU_MAX_REGIONS];
	int nfds = 0;

	if (n > VHU_MAX_REGIONS)
		return -EINVAL;
	memset(&t, 0, sizeof(t));
	t.nregions = n;
	for (unsigned i = 0; i < n; i++) {
		t.regions[i] = (struct vhu_mem_region){ r[i].guest_addr, r[i].size, r[i].user_addr,
							r[i].mmap_offset };
		if (r[i].fd >= 0)
			fds[nfds++] = r[i].fd;
	}
	uint32_t size = (uint32_t)(offsetof(struct vhu_mem_table, regions) +
				   n * sizeof(struct vhu_mem_region));
	return send_set(f, VHU_SET_MEM_TABLE, &t, size, fds, nfds);
}

int vhu_get_max_mem_slots(struct vhu_front *f, uint64_t *slots)
{
	return get_u64(f, VHU_GET_MAX_MEM_SLOTS, slots);
}

static int mem_reg(struct vhu_front *f, uint32_t request, const struct vhu_region *r, bool fd)
{
	struct vhu_mem_single s = { 0, { r->guest_addr, r->size, r->user_addr, r->mmap_offset } };
	return send_set(f, request, &s, sizeof(s), &r->fd, fd && r->fd >= 0 ? 1 : 0);
}

int vhu_add_mem_reg(struct vhu_front *f, const struct vhu_region *r)
{
	return mem_reg(f, VHU_ADD_MEM_REG, r, true);
}

int vhu_rem_mem_reg(struct vhu_front *f, const struct vhu_region *r)
{
	/* "No file descriptors SHOULD be passed" */
	return mem_reg(f, VHU_REM_MEM_REG, r, false);
}

int vhu_get_inflight_fd(struct vhu_front *f, uint16_t num_queues, uint16_t queue_size,
			struct vhu_inflight *info, int *fd)
{
	struct vhu_inflight q = { 0, 0, num_queues, queue_size, { 0 } };
	struct vhu_inflight a;
	uint32_t n = 0;
	int fds[VHU_MAX_FDS], nfds = VHU_MAX_FDS;
	int rc = vhu_request(f, VHU_GET_INFLIGHT_FD, false, &q, sizeof(q), NULL, 0, true, &a,
			     sizeof(a), &n, fds, &nfds);

	if (rc)
		return rc;
	if (n != sizeof(a) || nfds != 1 || a.mmap_size == 0) {
		for (int i = 0; i < nfds; i++)
			close(fds[i]);
		return -EPROTO;
	}
	*info = a;
	*fd = fds[0];
	return 0;
}

int vhu_set_inflight_fd(struct vhu_front *f, const struct vhu_inflight *info, int fd)
{
	return send_set(f, VHU_SET_INFLIGHT_FD, info, sizeof(*info), &fd, fd >= 0 ? 1 : 0);
}

static int vring_state(struct vhu_front *f, uint32_t request, uint32_t index, uint32_t num)
{
	struct vhu_vring_state s = { index, num };
	return send_set(f, request, &s, sizeof(s), NULL, 0);
}

int vhu_set_vring_num(struct vhu_front *f, uint32_t index, uint32_t num)
{
	return vring_state(f, VHU_SET_VRING_NUM, index, num);
}

int vhu_set_vring_base(struct vhu_front *f, uint32_t index, uint32_t base)
{
	return vring_state(f, VHU_SET_VRING_BASE, index, base);
}

int vhu_set_vring_enable(struct vhu_front *f, uint32_t index, bool enable)
{
	return vring_state(f, VHU_SET_VRING_ENABLE, index, enable ? 1 : 0);
}

int vhu_get_vring_base(struct vhu_front *f, uint32_t index, uint32_t *base)
{
	struct vhu_vring_state s = { index, 0 }, r;
	uint32_t n = 0;
	int rc = vhu_request(f, VHU_GET_VRING_BASE, false, &s, sizeof(s), NULL, 0, true, &r,
			     sizeof(r), &n, NULL, NULL);

	if (rc)
		return rc;
	if (n != sizeof(r) || r.index != index)
		return -EPROTO;
	*base = r.num;
	return 0;
}

int vhu_set_vring_addr(struct vhu_front *f, const struct vhu_vring_addr *addr)
{
	return send_set(f, VHU_SET_VRING_ADDR, addr, sizeof(*addr), NULL, 0);
}

static int vring_fd(struct vhu_front *f, uint32_t request, uint32_t index, int fd)
{
	uint64_t v = (index & VHU_VRING_IDX_MASK) | (fd < 0 ? VHU_VRING_NOFD : 0);
	return send_set(f, request, &v, sizeof(v), &fd, fd < 0 ? 0 : 1);
}

int vhu_set_vring_kick(struct vhu_front *f, uint32_t index, int fd)
{
	return vring_fd(f, VHU_SET_VRING_KICK, index, fd);
}

int vhu_set_vring_call(struct vhu_front *f, uint32_t index, int fd)
{
	return vring_fd(f, VHU_SET_VRING_CALL, index, fd);
}

int vhu_set_vring_err(struct vhu_front *f, uint32_t index, int fd)
{
	return vring_fd(f, VHU_SET_VRING_ERR, index, fd);
}

/* ---- raw ----------------------------------------------------------------------------------- */

int vhu_send_raw(struct vhu_front *f, const void *msg, size_t len, const int *fds, int nfds)
{
	if (f->broken)
		return -ENOTCONN;
	struct timespec d = deadline_in(f->timeout_ms);
	struct iovec iov[1] = { { (void *)msg, len } };
	bool sent_any;
	int rc = send_all(f, iov, 1, fds, nfds, &d, &sent_any);
	if (rc && (sent_any || rc == -ECONNRESET))
		f->broken = true;
	return rc;
}

int vhu_recv_raw(struct vhu_front *f, void *buf, size_t cap, size_t *len, int *fds, int *nfds,
		 int timeout_ms)
{
	int fdcap = nfds ? *nfds : 0;
	if (nfds)
		*nfds = 0;
	if (f->broken)
		return -ENOTCONN;
	struct timespec d = deadline_in(timeout_ms > 0 ? timeout_ms : f->timeout_ms);
	struct vhu_hdr h;
	uint8_t *payload = malloc(VHU_MAX_PAYLOAD);
	if (!payload)
		return -ENOMEM;
	int rc = recv_msg(f, &h, payload, VHU_MAX_PAYLOAD, fds, fds ? fdcap : 0, nfds, &d);
	if (!rc) {
		size_t total = sizeof(h) + h.size;
		*len = total;
		size_t n1 = cap < sizeof(h) ? cap : sizeof(h);
		memcpy(buf, &h, n1);
		if (cap > sizeof(h))
			memcpy((uint8_t *)buf + sizeof(h), payload,
			       cap - sizeof(h) < h.size ? cap - sizeof(h) : h.size);
		if (total > cap)
			rc = -EMSGSIZE;
	}
	free(payload);
	return rc;
}
