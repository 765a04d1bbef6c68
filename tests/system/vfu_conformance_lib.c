/* vfu_conformance: the main connection, raw messages and the helpers every
 * area's cases use (see vfu_conformance.h). */
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vfu_conformance.h"

/* ---- the main connection --------------------------------------------------- */

struct vfu_client *C;

int main_connect(void)
{
	if (C)
		return 0;
	int rc = vfu_connect(opt.sock, &C);
	if (rc)
		C = NULL;
	return rc;
}

void main_close(void)
{
	vfu_close(C);
	C = NULL;
}

/* ---- raw messages ------------------------------------------------------------ */

int raw_send(struct vfu_client *c, uint16_t id, uint16_t cmd, uint32_t flags,
		    uint32_t msg_size, const void *payload, size_t plen, const int *fds, int nfds)
{
	size_t len = sizeof(struct vfu_msg_hdr) + plen;
	uint8_t *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	struct vfu_msg_hdr h = {
		.msg_id = id, .command = cmd, .msg_size = msg_size, .flags = flags,
	};
	memcpy(buf, &h, sizeof(h));
	if (plen)
		memcpy(buf + sizeof(h), payload, plen);
	int rc = vfu_send_raw(c, buf, len, fds, nfds);
	free(buf);
	return rc;
}

/* Send a well-framed command. */
int raw_cmd(struct vfu_client *c, uint16_t id, uint16_t cmd, uint32_t flags,
		   const void *payload, size_t plen, const int *fds, int nfds)
{
	return raw_send(c, id, cmd, flags, (uint32_t)(sizeof(struct vfu_msg_hdr) + plen), payload,
			plen, fds, nfds);
}

int raw_recv_cap(struct vfu_client *c, struct raw_reply *r, size_t cap, int timeout_ms)
{
	uint8_t buf[sizeof(struct vfu_msg_hdr) + sizeof(r->data)];
	size_t len = 0;
	memset(buf, 0, sizeof(buf));
	int rc = vfu_recv_raw(c, buf, cap < sizeof(buf) ? cap : sizeof(buf), &len, NULL, NULL, timeout_ms);
	if (rc && rc != -EMSGSIZE)
		return rc;
	memcpy(&r->h, buf, sizeof(r->h));
	r->len = len;
	size_t n = len - sizeof(r->h);
	if (n > sizeof(r->data))
		n = sizeof(r->data);
	memcpy(r->data, buf + sizeof(r->h), n);
	return 0;
}

int raw_recv(struct vfu_client *c, struct raw_reply *r, int timeout_ms)
{
	return raw_recv_cap(c, r, SIZE_MAX, timeout_ms);
}

/* Send cmd and require an error reply to it: the header only, our id and
 * command echoed, the reply type, the error flag and a non-zero errno. */
int expect_error(struct vfu_client *c, uint16_t cmd, const void *payload, size_t plen,
			const int *fds, int nfds, const char *what)
{
	uint16_t id = vfu_next_msg_id(c);
	struct raw_reply r;
	int rc = raw_cmd(c, id, cmd, VFU_F_TYPE_COMMAND, payload, plen, fds, nfds);
	if (rc) {
		diag("%s: cannot send: %s", what, strerror(-rc));
		return -1;
	}
	rc = raw_recv(c, &r, 3000);
	if (rc) {
		diag("%s: no reply: %s", what, strerror(-rc));
		return -1;
	}
	if (r.h.msg_id != id || r.h.command != cmd ||
	    (r.h.flags & VFU_F_TYPE_MASK) != VFU_F_TYPE_REPLY) {
		diag("%s: reply id %u command %u flags 0x%x, want id %u command %u reply", what,
		     r.h.msg_id, r.h.command, r.h.flags, id, cmd);
		return -1;
	}
	if (!(r.h.flags & VFU_F_ERROR) || r.h.error == 0) {
		diag("%s: accepted (flags 0x%x, errno %u), want an error reply", what, r.h.flags,
		     r.h.error);
		return -1;
	}
	if (r.len != sizeof(struct vfu_msg_hdr)) {
		diag("%s: error reply of %zu bytes, want the header only", what, r.len);
		return -1;
	}
	return 0;
}

/* Send cmd and require an error reply carrying exactly errno err. */
int expect_errno(struct vfu_client *c, uint16_t cmd, const void *payload, size_t plen, int err,
			const char *what)
{
	uint16_t id = vfu_next_msg_id(c);
	struct raw_reply r;
	int rc = raw_cmd(c, id, cmd, VFU_F_TYPE_COMMAND, payload, plen, NULL, 0);
	if (!rc)
		rc = raw_recv(c, &r, 3000);
	if (rc) {
		diag("%s: %s", what, strerror(-rc));
		return -1;
	}
	if (r.h.msg_id != id || r.h.command != cmd || (r.h.flags & VFU_F_TYPE_MASK) != VFU_F_TYPE_REPLY ||
	    !(r.h.flags & VFU_F_ERROR) || r.h.error != (uint32_t)err || r.len != sizeof(r.h)) {
		diag("%s: reply id %u command %u flags 0x%x errno %u (%zu bytes), want an error reply with "
		     "errno %d (%s)", what, r.h.msg_id, r.h.command, r.h.flags, r.h.error, r.len, err,
		     strerror(err));
		return -1;
	}
	return 0;
}

/* Send cmd and require a successful reply; *r gets it (fds closed). */
int expect_reply(struct vfu_client *c, uint16_t cmd, const void *payload, size_t plen,
			struct raw_reply *r, const char *what)
{
	uint16_t id = vfu_next_msg_id(c);
	int rc = raw_cmd(c, id, cmd, VFU_F_TYPE_COMMAND, payload, plen, NULL, 0);
	if (!rc)
		rc = raw_recv(c, r, 3000);
	if (rc) {
		diag("%s: %s", what, strerror(-rc));
		return -1;
	}
	if (r->h.msg_id != id || r->h.command != cmd ||
	    (r->h.flags & VFU_F_TYPE_MASK) != VFU_F_TYPE_REPLY || (r->h.flags & VFU_F_ERROR)) {
		diag("%s: reply id %u command %u flags 0x%x errno %u, want success", what, r->h.msg_id,
		     r->h.command, r->h.flags, r->h.error);
		return -1;
	}
	return 0;
}

/* A GET_*_INFO request of plen bytes: the fixed part req (rlen bytes) with
 * its argsz set to argsz, zeroes after it. Returns 0 and the reply in *r,
 * or -1 (diagnosed) for an error reply. */
int info_request(uint16_t cmd, const void *req, size_t rlen, uint32_t argsz, size_t plen,
			struct raw_reply *r, const char *what)
{
	uint8_t buf[512] = { 0 };
	if (plen > sizeof(buf) || rlen > sizeof(buf))
		return -1;
	memcpy(buf, req, rlen);
	memcpy(buf, &argsz, sizeof(argsz));	/* every GET_*_INFO starts with argsz */
	return expect_reply(C, cmd, buf, plen, r, what);
}

/* Wait for the server to close c: error replies may come first. */
int expect_close(struct vfu_client *c, int timeout_ms, const char *what)
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct raw_reply r;
		int rc = raw_recv(c, &r, 500);
		if (rc == -ECONNRESET)
			return 0;
		if (rc == 0 && !(r.h.flags & VFU_F_ERROR)) {
			diag("%s: got a non-error message (command %u flags 0x%x) instead of a close",
			     what, r.h.command, r.h.flags);
			return -1;
		}
		if (rc && rc != -ETIMEDOUT) {
			diag("%s: %s while waiting for the close", what, strerror(-rc));
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if ((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000 > timeout_ms) {
			diag("%s: the server kept the connection open for %d ms", what, timeout_ms);
			return -1;
		}
	}
}

/* ---- helpers --------------------------------------------------------------- */

uint64_t region_size[NUM_REGIONS];

int load_region_sizes(void)
{
	for (uint32_t i = 0; i < NUM_REGIONS; i++) {
		struct vfu_region_info info;
		int rc = vfu_get_region_info(C, i, &info, NULL, 0, NULL);
		if (rc)
			return rc;
		region_size[i] = info.size;
	}
	return 0;
}

int msix_bar_expected(void)
{
	return opt.virtio ? VIRTIO_MSIX_BAR : NVME_MSIX_BAR;
}

int msix_layout(struct msix_layout *m)
{
	uint16_t ctl;
	uint32_t t, p;
	m->cap = vfu_cfg_find_cap(C, CAP_MSIX);
	if (m->cap < 0)
		return m->cap;
	int rc = vfu_cfg_read16(C, (uint32_t)m->cap + MSIX_CTRL, &ctl);
	if (!rc)
		rc = vfu_cfg_read32(C, (uint32_t)m->cap + MSIX_TABLE, &t);
	if (!rc)
		rc = vfu_cfg_read32(C, (uint32_t)m->cap + MSIX_PBA, &p);
	if (rc)
		return rc;
	m->n = (uint16_t)((ctl & MSIX_CTRL_QSIZE) + 1);
	m->table_bir = t & 7;
	m->table_off = t & ~7u;
	m->pba_bir = p & 7;
	m->pba_off = p & ~7u;
	return 0;
}

int msix_ctrl_set(const struct msix_layout *m, bool enable, bool maskall)
{
	uint16_t ctl;
	int rc = vfu_cfg_read16(C, (uint32_t)m->cap + MSIX_CTRL, &ctl);
	if (rc)
		return rc;
	ctl = (uint16_t)(ctl & ~(MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL));
	ctl |= (enable ? MSIX_CTRL_ENABLE : 0) | (maskall ? MSIX_CTRL_MASKALL : 0);
	return vfu_cfg_write16(C, (uint32_t)m->cap + MSIX_CTRL, ctl);
}

/* Write the mask bit of vector v's Vector Control in the MSI-X table. A
 * VFIO client emulates the table itself, so for the device the table is
 * plain storage: this masks nothing (see the msix_* cases). */
int msix_table_mask(const struct msix_layout *m, uint16_t v, bool masked)
{
	uint32_t le = htole32(masked ? MSIX_VEC_MASKED : 0);
	return vfu_region_write(C, m->table_bir, m->table_off + (uint64_t)v * MSIX_ENTRY + MSIX_VEC_CTRL,
				&le, 4, false);
}

/* What masks a vector over vfio-user: SET_IRQS ACTION_MASK / ACTION_UNMASK. */
int msix_mask(uint16_t v, bool masked)
{
	return vfu_msix_mask(C, v, 1, masked);
}

int msix_vec_ctrl(const struct msix_layout *m, uint16_t v, uint32_t *val)
{
	uint32_t le;
	*val = 0;
	int rc = vfu_region_read(C, m->table_bir, m->table_off + (uint64_t)v * MSIX_ENTRY + MSIX_VEC_CTRL,
				 &le, 4);
	if (!rc)
		*val = le32toh(le);
	return rc;
}

int msix_pending(const struct msix_layout *m, uint16_t v, bool *pending)
{
	uint64_t le;
	*pending = false;
	int rc = vfu_region_read(C, m->pba_bir, m->pba_off + (uint64_t)(v / 64) * 8, &le, 8);
	if (!rc)
		*pending = (le64toh(le) >> (v % 64)) & 1;
	return rc;
}

int msix_trigger(uint16_t v)
{
	return vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
			    VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, v, 1, NULL, NULL);
}

/* Read an eventfd's counter if it fires within timeout_ms; 0 when silent. */
uint64_t efd_wait(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

void bench_free(struct irq_bench *b)
{
	if (b->efd) {
		/* de-assign: the server drops its copies */
		if (C)
			vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
				     VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, NULL, NULL);
		for (uint16_t i = 0; i < b->n; i++)
			if (b->efd[i] >= 0)
				close(b->efd[i]);
	}
	free(b->efd);
	b->efd = NULL;
}

int bench_setup(struct irq_bench *b)
{
	int rc;
	memset(b, 0, sizeof(*b));
	rc = msix_layout(&b->m);
	if (rc) {
		diag("no MSI-X capability: %s", strerror(-rc));
		return rc;
	}
	b->n = b->m.n;
	b->efd = calloc(b->n, sizeof(int));
	if (!b->efd)
		return -ENOMEM;
	for (uint16_t i = 0; i < b->n; i++)
		b->efd[i] = -1;
	for (uint16_t i = 0; i < b->n; i++) {
		b->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (b->efd[i] < 0)
			return -errno;
	}
	/* mask everything, enable, then hand over the eventfds */
	if ((rc = vfu_msix_mask(C, 0, b->n, true))) {
		diag("SET_IRQS ACTION_MASK of %u vectors: %s", b->n, strerror(-rc));
		return rc;
	}
	if ((rc = msix_ctrl_set(&b->m, true, false)))
		return rc;
	rc = vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
			  VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, b->n, b->efd, NULL);
	if (rc) {
		diag("SET_IRQS with %u eventfds: %s", b->n, strerror(-rc));
		return rc;
	}
	/* whatever was pending from earlier clients fires now or stays latched:
	 * unmask-and-drain every vector once so we start clean */
	for (uint16_t i = 0; i < b->n; i++) {
		bool pend;
		if ((rc = msix_pending(&b->m, i, &pend)))
			return rc;
		if (pend) {
			if ((rc = msix_mask(i, false)) || (rc = msix_mask(i, true)))
				return rc;
		}
	}
	for (uint16_t i = 0; i < b->n; i++)
		efd_wait(b->efd[i], 0);
	return 0;
}

uint32_t parse_bdf(const char *s)
{
	unsigned bus, dev, fn;
	char extra;
	if (sscanf(s, "%x:%x.%x%c", &bus, &dev, &fn, &extra) != 3 || bus > 0xff || dev > 0x1f || fn > 7)
		return UINT32_MAX;
	return bus << 8 | dev << 3 | fn;
}
