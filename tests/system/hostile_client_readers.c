/* hostile_client: clients that read their replies late or never (class 7),
 * over vfio-user and vhost-user. */
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

#include "hostile_client.h"

/* class 7: a client that never reads its replies. --count requests go out
 * on the non-blocking socket (waiting for room when osnapd reads slower
 * than we write, up to the deadline), none of the replies is read; osnapd
 * must not wait for us and must drop us once too much waits unread (our
 * sends then fail: send_broken=1). "# READY stuffed", then a line; then we
 * read what osnapd left us until the end of the stream: EOF or ECONNRESET
 * within the deadline (closed=1). */
static void noread(int fd, const void *(*next)(int i, size_t *len))
{
	char line[64];
	int sent = 0, broken = 0, stalled = 0;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (int i = 0; i < O.count && !broken && !stalled; ) {
		size_t len;
		const void *m = next(i, &len);
		ssize_t w = send(fd, m, len, MSG_NOSIGNAL);
		if (w == (ssize_t)len) {
			sent++;
			i++;
			continue;
		}
		if (w >= 0) {
			FAIL("short send of %zd bytes", w);	/* small messages: whole or nothing */
			break;
		}
		if (errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, DEADLINE_MS) == 0)
				stalled = 1;	/* osnapd stopped reading us */
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			broken = 1;
		else
			FAIL("send: %s", strerror(errno));
	}
	diag("RESULT sent=%d send_broken=%d stalled=%d", sent, broken, stalled);
	handshake("stuffed", 120000, line, sizeof(line));
	/* what did osnapd leave us? replies, then the end of the stream */
	static char buf[1 << 16];
	long long got = 0;
	int closed = 0, err = 0;
	int64_t end = now_ms() + DEADLINE_MS;
	while (now_ms() < end) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			got += n;
			continue;
		}
		if (n == 0 || errno == ECONNRESET) {
			closed = 1;
			err = n ? errno : 0;
			break;
		}
		if (errno != EAGAIN) {
			FAIL("recv: %s", strerror(errno));
			break;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, (int)(end - now_ms() > 0 ? end - now_ms() : 0));
	}
	diag("RESULT closed=%d close_errno=%d replies_bytes=%lld", closed, err, got);
	CHECK(closed);
}

static struct vfu_client *g_noread_vfu;

static const void *next_region_read(int i, size_t *len)
{
	static struct {
		struct vfu_msg_hdr h;
		struct vfu_msg_region_access a;
	} __attribute__((packed)) m;
	(void)i;
	memset(&m, 0, sizeof(m));
	m.h.msg_id = vfu_next_msg_id(g_noread_vfu);
	m.h.command = VFU_CMD_REGION_READ;
	m.h.msg_size = sizeof(m);
	m.a.region = VFIO_PCI_CONFIG_REGION_INDEX;
	m.a.offset = 0;
	m.a.count = 4096;
	*len = sizeof(m);
	return &m;
}

/* vfio-user: REGION_READs of 4 KiB of config space. */
void case_noread(void)
{
	int rc = vfu_connect(O.sock, &g_noread_vfu);
	if (rc) {
		FAIL("vfu_connect: %s", st_str(rc));
		return;
	}
	noread(vfu_socket_fd(g_noread_vfu), next_region_read);
	vfu_close(g_noread_vfu);
}

/* Read exactly len bytes by the deadline (the socket is non-blocking). */
static int read_full(int fd, void *buf, size_t len, int64_t end)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno != EAGAIN)
			return -errno;
		int left = (int)(end - now_ms());
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, left);
	}
	return 0;
}

/* class 7, the other side: a client that reads late is served whole.
 * --count REGION_READs of 4 KiB of config space pipelined (more replies
 * than the socket buffers hold, fewer than the output queue's bound),
 * "# READY stuffed", then every reply read: in order, whole, each with
 * the config space read before; the connection still works after. Or,
 * answered "vanish", hang up without reading a byte. */
void case_slow_reader(void)
{
	struct vfu_client *v = NULL;
	static uint8_t ref[4096], data[4096];
	char line[64];
	int ok = 0;
	int rc = vfu_connect(O.sock, &g_noread_vfu);
	if (rc) {
		FAIL("vfu_connect: %s", st_str(rc));
		return;
	}
	v = g_noread_vfu;
	REQUIRE_OK(vfu_region_read(v, VFIO_PCI_CONFIG_REGION_INDEX, 0, ref, sizeof(ref)));
	int fd = vfu_socket_fd(v);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	uint16_t first = 0;
	int64_t end = now_ms() + DEADLINE_MS;
	for (int i = 0; i < O.count; ) {
		size_t len;
		const struct vfu_msg_hdr *m = next_region_read(i, &len);
		if (i == 0)
			first = m->msg_id;
		ssize_t w;
		while ((w = send(fd, m, len, MSG_NOSIGNAL)) < 0 && errno == EAGAIN && now_ms() < end) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, (int)(end - now_ms()));
		}
		REQUIRE(w == (ssize_t)len);
		i++;
	}
	handshake("stuffed", 120000, line, sizeof(line));
	if (!strcmp(line, "vanish"))
		vanish();	/* hang up on the replies osnapd still holds */
	end = now_ms() + DEADLINE_MS;
	for (int i = 0; i < O.count; i++) {
		struct vfu_msg_hdr h;
		struct vfu_msg_region_access a;
		REQUIRE_OK(read_full(fd, &h, sizeof(h), end));
		REQUIRE(h.msg_size == sizeof(h) + sizeof(a) + sizeof(data));
		REQUIRE_OK(read_full(fd, &a, sizeof(a), end));
		REQUIRE_OK(read_full(fd, data, sizeof(data), end));
		CHECK_EQ(h.msg_id, (uint16_t)(first + i));
		CHECK_EQ(h.flags, VFU_F_TYPE_REPLY);
		CHECK_EQ(a.count, sizeof(data));
		CHECK(!memcmp(data, ref, sizeof(data)));
		ok++;
	}
	CHECK_EQ(vfu_sync(v), 0);
out:
	diag("RESULT replies_ok=%d", ok);
	vfu_close(v);
}

static const void *next_vhost_get(int i, size_t *len)
{
	static struct {
		struct vhu_hdr h;
		struct vhu_config_hdr c;
		uint8_t cfg[VHU_MAX_CONFIG_SIZE];
	} __attribute__((packed)) m;
	memset(&m, 0, sizeof(m));
	m.h.flags = VHU_VERSION;
	if (i % 2) {
		m.h.request = VHU_GET_FEATURES;
		*len = sizeof(m.h);
	} else {
		m.h.request = VHU_GET_CONFIG;
		m.h.size = sizeof(m.c) + sizeof(m.cfg);
		m.c.size = sizeof(m.cfg);
		*len = sizeof(m);
	}
	return &m;
}

/* vhost-user: GET_CONFIG (256 bytes) and GET_FEATURES in turn. */
void case_noread_vhost(void)
{
	struct vhu_front *f = NULL;
	int rc = vhu_connect(O.sock, &f);
	if (rc) {
		FAIL("vhu_connect: %s", st_str(rc));
		return;
	}
	noread(vhu_socket_fd(f), next_vhost_get);
	vhu_close(f);
}
