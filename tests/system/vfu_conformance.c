/* vfu_conformance: conformance tests of one vfio-user endpoint of osnapd's
 * device plane (an emulated NVMe or virtio-blk PCI function), driven only
 * through the client library in src/host (no server header is included).
 *
 * Usage:
 *   vfu_conformance SOCKET [--nvme|--virtio] [--mmap-doorbells]
 *                   [--expect-vuid VUID] [--vf] [--msix N] [--total-vfs N]
 *                   [--bdf BDF --first-vf-bdf BDF]
 *   vfu_conformance SOCKET --set-numvfs N
 *   vfu_conformance PF_SOCKET --race-vf-unmap VF_SOCKET
 *
 * The first form runs every case on the endpoint and prints TAP ("1..N",
 * "ok N - name", "not ok N - name" followed by "# reason" lines); the exit
 * status is 1 when any case failed. --msix is the function's expected
 * number of MSI-X vectors (by default the MSI-X capability's table size is
 * trusted), --total-vfs the TotalVFs expected in the SR-IOV capability (0:
 * the capability must be absent, which is also implied by --vf), --bdf and
 * --first-vf-bdf the PF's and its first VF's bus:device.function as the
 * service reports them (checked against First VF Offset).
 *
 * The second form is a helper for the system tests: it sets NumVFs and VF
 * Enable in the PF's SR-IOV capability as a host driver would (N = 0 clears
 * VF Enable) and disconnects. The third clears VF Enable through the PF
 * while the VF's client has a DMA_UNMAP in flight, 20 times over; the
 * service must survive it.
 *
 * The endpoint serves one client at a time, so the cases that need a
 * connection of their own (handshake and framing errors) run while the
 * main connection is closed. */
#include <endian.h>
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "host/host_mem.h"
#include "host/vfio_user_client.h"
#include "host/vfio_user_proto.h"

#include "tap.h"

/* ---- PCI definitions (PCI Local Bus 3.0, PCIe Base, SR-IOV 1.1) ---------- */

#define CFG			VFIO_PCI_CONFIG_REGION_INDEX
#define NUM_REGIONS		9	/* BAR0-5, ROM, config, VGA */
#define NUM_IRQS		5	/* INTx, MSI, MSI-X, ERR, REQ */
#define CFG_SPACE_SIZE		4096u

#define PCI_VENDOR_ID		0x00
#define PCI_DEVICE_ID		0x02
#define PCI_COMMAND		0x04
#define PCI_STATUS		0x06
#define PCI_REVISION		0x08
#define PCI_CLASS_PROG		0x09
#define PCI_HEADER_TYPE		0x0e
#define PCI_BAR0		0x10
#define PCI_SUBSYS_VENDOR	0x2c
#define PCI_ROM			0x30
#define PCI_CAP_PTR		0x34
#define PCI_INT_PIN		0x3d
#define PCI_STD_END		0x40

#define PCI_COMMAND_MEMORY	0x0002
#define PCI_STATUS_CAP_LIST	0x0010
#define PCI_STATUS_RW1C		0xf900	/* parity, target/master aborts, SERR */

#define PCI_BAR_IO		0x1
#define PCI_BAR_64		0x4
#define PCI_BAR_FLAGS		0xf

#define CAP_PM			0x01
#define CAP_VPD			0x03
#define CAP_VENDOR		0x09
#define CAP_EXP			0x10
#define CAP_MSIX		0x11

#define MSIX_CTRL		2
#define MSIX_TABLE		4
#define MSIX_PBA		8
#define MSIX_CTRL_ENABLE	0x8000
#define MSIX_CTRL_MASKALL	0x4000
#define MSIX_CTRL_QSIZE		0x07ff
#define MSIX_ENTRY		16
#define MSIX_VEC_CTRL		12
#define MSIX_VEC_MASKED		0x1

#define EXP_FLAGS		2
#define EXP_DEVCAP		4
#define EXP_DEVCTL		8
#define EXP_DEVCAP_FLR		(1u << 28)
#define EXP_DEVCTL_FLR		0x8000

#define EXT_CAP_SRIOV		0x0010
#define EXT_CAP_AER		0x0001
#define SRIOV_CTRL		0x08
#define SRIOV_INITIAL_VFS	0x0c
#define SRIOV_TOTAL_VFS		0x0e
#define SRIOV_NUM_VFS		0x10
#define SRIOV_VF_OFFSET		0x14
#define SRIOV_VF_STRIDE		0x16
#define SRIOV_SUP_PGSIZE	0x1c
#define SRIOV_VF_BAR0		0x24
#define SRIOV_CTRL_VFE		0x0001
#define SRIOV_CTRL_MSE		0x0008

/* virtio-pci (virtio 1.x, 4.1.4) */
#define VIRTIO_VENDOR		0x1af4
#define VIRTIO_BLK_MODERN	0x1042
#define VIRTIO_CAP_COMMON	1
#define VIRTIO_CAP_NOTIFY	2
#define VIRTIO_CAP_ISR		3
#define VIRTIO_CAP_DEVICE	4

#define NVME_CLASS		0x010802
#define NVME_BAR0_SIZE		0x4000u
#define NVME_DOORBELL_OFF	0x1000u
#define NVME_DOORBELL_SIZE	0x1000u
#define NVME_MSIX_BAR		4
#define VIRTIO_MSIX_BAR		1
#define VIRTIO_CAP_BAR		4

/* ---- options -------------------------------------------------------------- */

static struct {
	const char *sock;
	bool virtio;
	bool mmap_db;
	bool vf;
	const char *vuid;
	int msix;		/* -1: trust the capability */
	int total_vfs;
	int pf_rid, first_vf_rid;	/* -1: not given */
	int set_numvfs;		/* -1: run the cases */
	const char *race_vf;	/* --race-vf-unmap VF_SOCKET */
} opt = { .msix = -1, .pf_rid = -1, .first_vf_rid = -1, .set_numvfs = -1 };

/* ---- the main connection --------------------------------------------------- */

static struct vfu_client *C;

static int main_connect(void)
{
	if (C)
		return 0;
	int rc = vfu_connect(opt.sock, &C);
	if (rc)
		C = NULL;
	return rc;
}

static void main_close(void)
{
	vfu_close(C);
	C = NULL;
}

/* ---- raw messages ------------------------------------------------------------ */

struct raw_reply {
	struct vfu_msg_hdr h;
	uint8_t data[4096];
	size_t len;		/* whole message, header included */
};

static int raw_send(struct vfu_client *c, uint16_t id, uint16_t cmd, uint32_t flags,
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
static int raw_cmd(struct vfu_client *c, uint16_t id, uint16_t cmd, uint32_t flags,
		   const void *payload, size_t plen, const int *fds, int nfds)
{
	return raw_send(c, id, cmd, flags, (uint32_t)(sizeof(struct vfu_msg_hdr) + plen), payload,
			plen, fds, nfds);
}

static int raw_recv_cap(struct vfu_client *c, struct raw_reply *r, size_t cap, int timeout_ms)
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

static int raw_recv(struct vfu_client *c, struct raw_reply *r, int timeout_ms)
{
	return raw_recv_cap(c, r, SIZE_MAX, timeout_ms);
}

/* Send cmd and require an error reply to it: the header only, our id and
 * command echoed, the reply type, the error flag and a non-zero errno. */
static int expect_error(struct vfu_client *c, uint16_t cmd, const void *payload, size_t plen,
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
static int expect_errno(struct vfu_client *c, uint16_t cmd, const void *payload, size_t plen, int err,
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
static int expect_reply(struct vfu_client *c, uint16_t cmd, const void *payload, size_t plen,
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
static int info_request(uint16_t cmd, const void *req, size_t rlen, uint32_t argsz, size_t plen,
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
static int expect_close(struct vfu_client *c, int timeout_ms, const char *what)
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

static uint64_t region_size[NUM_REGIONS];

static int load_region_sizes(void)
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

static int msix_bar_expected(void)
{
	return opt.virtio ? VIRTIO_MSIX_BAR : NVME_MSIX_BAR;
}

struct msix_layout {
	int cap;
	uint16_t n;
	uint32_t table_bir, table_off, pba_bir, pba_off;
};

static int msix_layout(struct msix_layout *m)
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

static int msix_ctrl_set(const struct msix_layout *m, bool enable, bool maskall)
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
static int msix_table_mask(const struct msix_layout *m, uint16_t v, bool masked)
{
	uint32_t le = htole32(masked ? MSIX_VEC_MASKED : 0);
	return vfu_region_write(C, m->table_bir, m->table_off + (uint64_t)v * MSIX_ENTRY + MSIX_VEC_CTRL,
				&le, 4, false);
}

/* What masks a vector over vfio-user: SET_IRQS ACTION_MASK / ACTION_UNMASK. */
static int msix_mask(uint16_t v, bool masked)
{
	return vfu_msix_mask(C, v, 1, masked);
}

static int msix_vec_ctrl(const struct msix_layout *m, uint16_t v, uint32_t *val)
{
	uint32_t le;
	*val = 0;
	int rc = vfu_region_read(C, m->table_bir, m->table_off + (uint64_t)v * MSIX_ENTRY + MSIX_VEC_CTRL,
				 &le, 4);
	if (!rc)
		*val = le32toh(le);
	return rc;
}

static int msix_pending(const struct msix_layout *m, uint16_t v, bool *pending)
{
	uint64_t le;
	*pending = false;
	int rc = vfu_region_read(C, m->pba_bir, m->pba_off + (uint64_t)(v / 64) * 8, &le, 8);
	if (!rc)
		*pending = (le64toh(le) >> (v % 64)) & 1;
	return rc;
}

static int msix_trigger(uint16_t v)
{
	return vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
			    VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, v, 1, NULL, NULL);
}

/* Read an eventfd's counter if it fires within timeout_ms; 0 when silent. */
static uint64_t efd_wait(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

/* MSI-X test bench: eventfds for every vector, MSI-X enabled, function
 * unmasked, every vector masked with SET_IRQS ACTION_MASK, nothing
 * pending. */
struct irq_bench {
	struct msix_layout m;
	int *efd;
	uint16_t n;
};

static void bench_free(struct irq_bench *b)
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

static int bench_setup(struct irq_bench *b)
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

static uint32_t parse_bdf(const char *s)
{
	unsigned bus, dev, fn;
	char extra;
	if (sscanf(s, "%x:%x.%x%c", &bus, &dev, &fn, &extra) != 3 || bus > 0xff || dev > 0x1f || fn > 7)
		return UINT32_MAX;
	return bus << 8 | dev << 3 | fn;
}

/* ---- cases: handshake and framing (own connections) ------------------------- */

static const char our_caps[] =
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"pgsizes\":4096,\"max_dma_maps\":65535,\"write_multiple\":true}}";

/* VERSION by hand, to see the server's capabilities as sent. */
static void t_version_caps(void)
{
	struct vfu_client *c = NULL;
	json_t *root = NULL;
	uint8_t payload[sizeof(struct vfu_msg_version) + sizeof(our_caps)];
	struct vfu_msg_version v = { .major = 0, .minor = 0 };
	struct raw_reply r;

	memcpy(payload, &v, sizeof(v));
	memcpy(payload + sizeof(v), our_caps, sizeof(our_caps));
	REQUIRE_RC(vfu_connect_raw(opt.sock, &c));
	uint16_t id = vfu_next_msg_id(c);
	REQUIRE_RC(raw_cmd(c, id, VFU_CMD_VERSION, VFU_F_TYPE_COMMAND, payload, sizeof(payload), NULL, 0));
	REQUIRE_RC(raw_recv(c, &r, 3000));
	REQUIRE_MSG(r.h.msg_id == id && r.h.command == VFU_CMD_VERSION &&
	            (r.h.flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_REPLY && !(r.h.flags & VFU_F_ERROR),
	            "reply id %u command %u flags 0x%x error %u", r.h.msg_id, r.h.command, r.h.flags,
	            r.h.error);
	REQUIRE_MSG(r.len >= sizeof(r.h) + sizeof(v) && r.len <= sizeof(r.h) + sizeof(r.data),
	            "VERSION reply of %zu bytes", r.len);
	memcpy(&v, r.data, sizeof(v));
	REQUIRE_MSG(v.major == 0 && v.minor == 0, "server answered %u.%u to our 0.0", v.major, v.minor);
	size_t jlen = r.len - sizeof(r.h) - sizeof(v);
	if (jlen) {
		const char *text = (const char *)r.data + sizeof(v);
		REQUIRE_MSG(memchr(text, '\0', jlen) == text + jlen - 1,
		            "version data is not one NUL-terminated string");
		json_error_t jerr;
		root = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
		REQUIRE_MSG(root && json_is_object(root), "version data is not a JSON object: %s", text);
		json_t *caps = json_object_get(root, "capabilities");
		REQUIRE_MSG(!caps || json_is_object(caps), "capabilities is not an object: %s", text);
		const char *key;
		json_t *val;
		json_object_foreach(caps, key, val) {
			/* a subset of what we proposed: no twin_socket, no migration */
			REQUIRE_MSG(!strcmp(key, "max_msg_fds") || !strcmp(key, "max_data_xfer_size") ||
			            !strcmp(key, "pgsizes") || !strcmp(key, "max_dma_maps") ||
			            !strcmp(key, "write_multiple"),
			            "capability %s was not proposed: %s", key, text);
		}
		json_t *fds = json_object_get(caps, "max_msg_fds");
		json_t *xfer = json_object_get(caps, "max_data_xfer_size");
		json_t *pg = json_object_get(caps, "pgsizes");
		json_t *maps = json_object_get(caps, "max_dma_maps");
		json_t *wm = json_object_get(caps, "write_multiple");
		REQUIRE_MSG(!fds || (json_is_integer(fds) && json_integer_value(fds) >= 1),
		            "max_msg_fds must allow the fd of DMA_MAP: %s", text);
		REQUIRE_MSG(!xfer || (json_is_integer(xfer) && json_integer_value(xfer) >= 1),
			    "max_data_xfer_size: %s", text);
		REQUIRE_MSG(!pg || (json_is_integer(pg) && (json_integer_value(pg) & 4096)),
		            "pgsizes must include the 4 KiB we proposed: %s", text);
		REQUIRE_MSG(!maps || (json_is_integer(maps) && json_integer_value(maps) >= 1), "max_dma_maps: %s",
		            text);
		REQUIRE_MSG(!wm || json_is_boolean(wm), "write_multiple: %s", text);
	}
	/* this connection is negotiated now */
	REQUIRE_RC(vfu_sync(c));
out:
	json_decref(root);
	vfu_close(c);
}

static void t_version_not_first(void)
{
	struct vfu_client *c = NULL;
	struct vfu_msg_device_info req = { .argsz = sizeof(req) };
	struct raw_reply r;

	REQUIRE_RC(vfu_connect_raw(opt.sock, &c));
	uint16_t id = vfu_next_msg_id(c);
	REQUIRE_RC(raw_cmd(c, id, VFU_CMD_DEVICE_GET_INFO, VFU_F_TYPE_COMMAND, &req, sizeof(req), NULL, 0));
	/* the header is all we look at; receiving only it also keeps clear of
	 * vfu_recv_raw()'s memcpy from a client buffer that no payload has
	 * allocated yet (NULL source with length 0, flagged by UBSan) */
	int rc = raw_recv_cap(c, &r, sizeof(struct vfu_msg_hdr), 3000);
	if (rc == -ECONNRESET) {
		/* closed without an answer: allowed */
		goto out;
	}
	REQUIRE_RC(rc);
	REQUIRE_MSG(r.h.msg_id == id && r.h.command == VFU_CMD_DEVICE_GET_INFO &&
	            (r.h.flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_REPLY,
	            "reply id %u command %u flags 0x%x", r.h.msg_id, r.h.command, r.h.flags);
	REQUIRE_MSG((r.h.flags & VFU_F_ERROR) && r.h.error, "DEVICE_GET_INFO before VERSION was answered");
out:
	vfu_close(c);
}

static int bad_size(uint32_t size, const char *what)
{
	int ret = -1;
	struct vfu_client *c = NULL;

	REQUIRE_RC(vfu_connect_raw(opt.sock, &c));
	REQUIRE_RC(vfu_negotiate(c));
	/* a header announcing size bytes, and nothing else */
	REQUIRE_RC(raw_send(c, vfu_next_msg_id(c), VFU_CMD_DEVICE_GET_INFO, VFU_F_TYPE_COMMAND, size, NULL, 0,
		            NULL, 0));
	REQUIRE_MSG(expect_close(c, 3000, what) == 0, "msg_size %u not refused by closing", size);
	ret = 0;
out:
	vfu_close(c);
	return ret;
}

static void t_msg_size_small(void)
{
	bad_size(8, "msg_size 8");
}

static void t_msg_size_huge(void)
{
	bad_size((16u << 20) + 16, "msg_size 16 MiB + 16");
}

/* ---- cases on the main connection ------------------------------------------ */

static void t_version_negotiated(void)
{
	const struct vfu_caps *caps = vfu_get_caps(C);
	REQUIRE_MSG(caps->major == 0 && caps->minor == 0, "negotiated %u.%u", caps->major, caps->minor);
	REQUIRE_MSG(caps->max_msg_fds >= 1, "max_msg_fds %u", caps->max_msg_fds);
	REQUIRE_MSG(caps->pgsizes & 4096, "pgsizes 0x%llx", (unsigned long long)caps->pgsizes);
out:;
}

static void t_version_second(void)
{
	uint8_t payload[sizeof(struct vfu_msg_version) + sizeof(our_caps)];
	struct vfu_msg_version v = { 0, 0 };
	memcpy(payload, &v, sizeof(v));
	memcpy(payload + sizeof(v), our_caps, sizeof(our_caps));
	REQUIRE_MSG(expect_error(C, VFU_CMD_VERSION, payload, sizeof(payload), NULL, 0, "second VERSION") == 0,
	            "a second VERSION must be refused");
	REQUIRE_RC(vfu_sync(C));
out:;
}

static void t_device_info(void)
{
	struct vfu_device_info info;
	REQUIRE_RC(vfu_get_device_info(C, &info));
	REQUIRE_MSG((info.flags & (VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI)) ==
	            (VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI), "flags 0x%x", info.flags);
	REQUIRE_MSG(info.num_regions == NUM_REGIONS, "num_regions %u", info.num_regions);
	REQUIRE_MSG(info.num_irqs == NUM_IRQS, "num_irqs %u", info.num_irqs);
	struct vfu_msg_device_info bad = { .argsz = 8 };
	REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_GET_INFO, &bad, sizeof(bad), NULL, 0, "argsz 8") == 0,
	            "DEVICE_GET_INFO with argsz < 16 must fail");
	/* a payload of argsz bytes (a client's whole reply buffer) is fine:
	 * the same answer as with the bare structure */
	{
		struct vfu_msg_device_info rq = { .argsz = sizeof(rq) };
		struct raw_reply r16, r256;
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_INFO, &rq, sizeof(rq), 16, 16, &r16, "payload 16") == 0,
		            "DEVICE_GET_INFO with a payload of 16 bytes failed");
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_INFO, &rq, sizeof(rq), 256, 256, &r256,
				         "payload 256") == 0, "DEVICE_GET_INFO with argsz = payload = 256 failed");
		REQUIRE_MSG(r16.len == sizeof(r16.h) + 16 && r256.len == r16.len &&
		            !memcmp(r16.data, r256.data, 16),
		            "DEVICE_GET_INFO answers differ for payloads of 16 and 256 bytes (%zu, %zu bytes)",
		            r16.len, r256.len);
		struct vfu_msg_device_info got;
		memcpy(&got, r256.data, sizeof(got));
		REQUIRE_MSG(got.argsz == 16 && got.num_regions == NUM_REGIONS && got.num_irqs == NUM_IRQS,
		            "DEVICE_GET_INFO for argsz 256: argsz %u regions %u irqs %u", got.argsz,
		            got.num_regions, got.num_irqs);
		/* shorter than the structure: EINVAL */
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_INFO, &rq, 12, EINVAL, "payload 12") == 0,
		            "DEVICE_GET_INFO with a payload of 12 bytes not refused with EINVAL");
	}
	REQUIRE_RC(vfu_sync(C));
out:;
}

static void t_region_info(void)
{
	int fd = -1;
	for (uint32_t i = 0; i < NUM_REGIONS; i++) {
		struct vfu_region_info info;
		struct vfu_sparse_area areas[4];
		REQUIRE_RC(vfu_get_region_info(C, i, &info, areas, 4, &fd));
		region_size[i] = info.size;
		uint64_t want = 0;	/* 0: absent; UINT64_MAX: present, size checked later */
		if (i == CFG)
			want = CFG_SPACE_SIZE;
		else if (!opt.virtio && i == 0)
			want = NVME_BAR0_SIZE;
		else if ((int)i == msix_bar_expected())
			want = UINT64_MAX;
		else if (opt.virtio && i == VIRTIO_CAP_BAR)
			want = UINT64_MAX;
		if (want == UINT64_MAX) {
			REQUIRE_MSG(info.size >= 4096 && !(info.size & (info.size - 1)),
			            "region %u: size 0x%llx is not a power of two >= 4 KiB", i,
			            (unsigned long long)info.size);
		} else {
			REQUIRE_MSG(info.size == want, "region %u: size 0x%llx, want 0x%llx", i,
			            (unsigned long long)info.size, (unsigned long long)want);
		}
		if (info.size) {
			REQUIRE_MSG((info.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)) ==
			            (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE),
			            "region %u: flags 0x%x lack READ|WRITE", i, info.flags);
		}
		bool db = !opt.virtio && i == 0 && opt.mmap_db;
		if (db) {
			REQUIRE_MSG((info.flags & (VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS)) ==
			            (VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS),
			            "BAR0 flags 0x%x: mmap doorbells need MMAP|CAPS", info.flags);
			REQUIRE_MSG(info.sparse && info.nr_areas == 1, "BAR0: sparse %d with %u areas, want 1 area",
			            info.sparse, info.nr_areas);
			REQUIRE_MSG(areas[0].offset == NVME_DOORBELL_OFF && areas[0].size == NVME_DOORBELL_SIZE,
			            "BAR0 sparse area 0x%llx+0x%llx, want the doorbell page 0x1000+0x1000",
			            (unsigned long long)areas[0].offset, (unsigned long long)areas[0].size);
			REQUIRE_MSG(fd >= 0, "BAR0 is mappable but came without an fd");
		} else {
			REQUIRE_MSG(!(info.flags & VFIO_REGION_INFO_FLAG_MMAP), "region %u: flags 0x%x offer MMAP", i,
			            info.flags);
			REQUIRE_MSG(fd < 0, "region %u is not mappable but came with an fd", i);
		}
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	{
		struct vfu_region_info info;
		REQUIRE_ERR(vfu_get_region_info(C, NUM_REGIONS, &info, NULL, 0, NULL), "region index 9");
		REQUIRE_ERR(vfu_get_region_info(C, 42, &info, NULL, 0, NULL), "region index 42");
	}
	/* argsz smaller than the structure */
	struct vfu_msg_region_info bad = { .argsz = 16, .index = 0 };
	REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_GET_REGION_INFO, &bad, sizeof(bad), NULL, 0, "argsz 16") == 0,
	            "GET_REGION_INFO with argsz 16 must fail");
	/* A payload of argsz bytes, the client's whole reply buffer (SPDK's
	 * vfio-user driver sends it so): the same answer as with the bare
	 * 32-byte structure and the same argsz, for every region. */
	for (uint32_t i = 0; i < NUM_REGIONS; i++) {
		struct vfu_msg_region_info rq = { .index = i };
		struct raw_reply r32, r256;
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_REGION_INFO, &rq, sizeof(rq), 256, 32, &r32,
				         "argsz 256, payload 32") == 0, "GET_REGION_INFO %u, payload 32 failed", i);
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_REGION_INFO, &rq, sizeof(rq), 256, 256, &r256,
				         "argsz 256, payload 256") == 0,
		            "GET_REGION_INFO %u with argsz = payload = 256 failed", i);
		REQUIRE_MSG(r32.len >= sizeof(r32.h) + 32 && r256.len == r32.len &&
		            !memcmp(r32.data, r256.data, r32.len - sizeof(r32.h)),
		            "GET_REGION_INFO %u answers differ for payloads of 32 and 256 bytes (%zu, %zu bytes)", i,
		            r32.len, r256.len);
		struct vfu_msg_region_info got;
		memcpy(&got, r256.data, sizeof(got));
		REQUIRE_MSG(got.index == i && got.size == region_size[i], "GET_REGION_INFO %u, payload 256: index %u "
		            "size 0x%llx, want size 0x%llx", i, got.index, (unsigned long long)got.size,
		            (unsigned long long)region_size[i]);
		/* and with argsz 32 the fixed part is the same */
		struct raw_reply rs;
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_REGION_INFO, &rq, sizeof(rq), 32, 32, &rs,
				         "argsz 32") == 0, "GET_REGION_INFO %u with argsz 32 failed", i);
		struct vfu_msg_region_info small;
		memcpy(&small, rs.data, sizeof(small));
		/* as VFIO (and libvfio-user): capabilities, and the CAPS flag
		 * with them, only when they fit; the reply's argsz then says how
		 * big the buffer must be (QEMU refuses CAPS with cap_offset 0) */
		REQUIRE_MSG(small.flags == (got.flags & ~VFIO_REGION_INFO_FLAG_CAPS) && small.size == got.size &&
		            small.offset == got.offset && small.cap_offset == 0 && small.argsz == got.argsz,
		            "GET_REGION_INFO %u: argsz 32 gives flags 0x%x size 0x%llx argsz %u cap_offset %u, "
		            "argsz 256 flags 0x%x size 0x%llx argsz %u", i, small.flags,
		            (unsigned long long)small.size, small.argsz, small.cap_offset, got.flags,
		            (unsigned long long)got.size, got.argsz);
	}
	/* a payload shorter than the structure: EINVAL */
	{
		struct vfu_msg_region_info rq = { .argsz = 32, .index = 0 };
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_REGION_INFO, &rq, 16, EINVAL, "payload 16") == 0,
		            "GET_REGION_INFO with a payload of 16 bytes not refused with EINVAL");
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_REGION_INFO, &rq, 31, EINVAL, "payload 31") == 0,
		            "GET_REGION_INFO with a payload of 31 bytes not refused with EINVAL");
	}
	REQUIRE_RC(vfu_sync(C));
out:
	if (fd >= 0)
		close(fd);
}

static void t_irq_info(void)
{
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	for (uint32_t i = 0; i < NUM_IRQS; i++) {
		struct vfu_irq_info info;
		REQUIRE_RC(vfu_get_irq_info(C, i, &info));
		if (i == VFIO_PCI_MSIX_IRQ_INDEX) {
			REQUIRE_MSG(info.count == m.n, "MSI-X count %u, capability table size %u", info.count, m.n);
			if (opt.msix >= 0)
				REQUIRE_MSG(info.count == (uint32_t)opt.msix, "MSI-X count %u, want %d", info.count,
				            opt.msix);
			REQUIRE_MSG(info.flags & VFIO_IRQ_INFO_EVENTFD, "MSI-X flags 0x%x lack EVENTFD", info.flags);
			/* vectors are masked through SET_IRQS, not the table */
			REQUIRE_MSG(info.flags & VFIO_IRQ_INFO_MASKABLE, "MSI-X flags 0x%x lack MASKABLE",
			            info.flags);
		} else if (i == VFIO_PCI_INTX_IRQ_INDEX || i == VFIO_PCI_MSI_IRQ_INDEX) {
			/* no INTx (Interrupt Pin 0) and no MSI capability */
			REQUIRE_MSG(info.count == 0, "IRQ index %u: count %u, the function has none", i, info.count);
		}
	}
	struct vfu_irq_info info;
	REQUIRE_ERR(vfu_get_irq_info(C, NUM_IRQS, &info), "IRQ index 5");
	REQUIRE_ERR(vfu_get_irq_info(C, 42, &info), "IRQ index 42");
	/* a payload of argsz bytes: the same answer as with the bare structure */
	for (uint32_t i = 0; i < NUM_IRQS; i++) {
		struct vfu_msg_irq_info rq = { .index = i };
		struct raw_reply r16, r256;
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_IRQ_INFO, &rq, sizeof(rq), 16, 16, &r16,
			    "payload 16") == 0, "GET_IRQ_INFO %u with a payload of 16 bytes failed", i);
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_IRQ_INFO, &rq, sizeof(rq), 256, 256, &r256,
				         "payload 256") == 0, "GET_IRQ_INFO %u with argsz = payload = 256 failed", i);
		REQUIRE_MSG(r16.len == sizeof(r16.h) + 16 && r256.len == r16.len &&
		            !memcmp(r16.data, r256.data, 16),
		            "GET_IRQ_INFO %u answers differ for payloads of 16 and 256 bytes (%zu, %zu bytes)", i,
		            r16.len, r256.len);
	}
	{
		struct vfu_msg_irq_info rq = { .argsz = 16, .index = VFIO_PCI_MSIX_IRQ_INDEX };
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_IRQ_INFO, &rq, 12, EINVAL, "payload 12") == 0,
		            "GET_IRQ_INFO with a payload of 12 bytes not refused with EINVAL");
		rq.argsz = 8;
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_IRQ_INFO, &rq, 16, EINVAL, "argsz 8") == 0,
		            "GET_IRQ_INFO with argsz 8 not refused with EINVAL");
	}
	REQUIRE_RC(vfu_sync(C));
out:;
}

static void t_cfg_ids(void)
{
	uint16_t vendor, device;
	uint32_t classrev;
	uint8_t htype, pin;
	REQUIRE_RC(vfu_cfg_read16(C, PCI_VENDOR_ID, &vendor));
	REQUIRE_RC(vfu_cfg_read16(C, PCI_DEVICE_ID, &device));
	REQUIRE_RC(vfu_cfg_read32(C, PCI_REVISION, &classrev));
	REQUIRE_RC(vfu_cfg_read8(C, PCI_HEADER_TYPE, &htype));
	REQUIRE_RC(vfu_cfg_read8(C, PCI_INT_PIN, &pin));
	REQUIRE_MSG(vendor != 0 && vendor != 0xffff, "vendor id 0x%04x", vendor);
	REQUIRE_MSG((htype & 0x7f) == 0, "header type 0x%02x, want type 0", htype);
	REQUIRE_MSG(pin == 0, "interrupt pin %u, but the function has no INTx", pin);
	if (opt.virtio) {
		REQUIRE_MSG(vendor == VIRTIO_VENDOR && device == VIRTIO_BLK_MODERN, "ids %04x:%04x, want 1af4:1042",
		            vendor, device);
	} else {
		REQUIRE_MSG(classrev >> 8 == NVME_CLASS, "class 0x%06x, want 0x010802", classrev >> 8);
	}
out:;
}

/* Walk the standard capability list by hand. */
struct cap_entry {
	uint8_t id;
	uint8_t off;
};

static int walk_caps(struct cap_entry *caps, int max, int *n)
{
	uint8_t seen[256] = { 0 };
	uint16_t status;
	uint8_t ptr;
	int ret = -1;
	*n = 0;
	REQUIRE_RC(vfu_cfg_read16(C, PCI_STATUS, &status));
	REQUIRE_MSG(status & PCI_STATUS_CAP_LIST, "status 0x%04x lacks the capability list bit", status);
	REQUIRE_RC(vfu_cfg_read8(C, PCI_CAP_PTR, &ptr));
	while (ptr) {
		uint8_t hdr[2];
		REQUIRE_MSG(ptr >= PCI_STD_END && !(ptr & 3), "capability pointer 0x%02x", ptr);
		REQUIRE_MSG(!seen[ptr], "capability list loops at 0x%02x", ptr);
		REQUIRE_MSG(*n < max, "more than %d capabilities", max);
		seen[ptr] = 1;
		REQUIRE_RC(vfu_cfg_read(C, ptr, hdr, 2));
		caps[*n].id = hdr[0];
		caps[*n].off = ptr;
		(*n)++;
		ptr = hdr[1];
	}
	ret = 0;
out:
	return ret;
}

static void t_cfg_readonly(void)
{
	uint8_t before[PCI_STD_END], after[PCI_STD_END];
	struct cap_entry caps[48];
	int ncaps;
	static const struct { uint32_t off, len; } ro[] = {
		{ PCI_VENDOR_ID, 4 }, { PCI_REVISION, 4 }, { PCI_HEADER_TYPE, 1 },
		{ PCI_SUBSYS_VENDOR, 4 }, { PCI_CAP_PTR, 1 }, { PCI_INT_PIN, 1 },
	};
	uint8_t ones[4] = { 0xff, 0xff, 0xff, 0xff };

	REQUIRE_RC(vfu_cfg_read(C, 0, before, sizeof(before)));
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		REQUIRE_RC(vfu_cfg_write(C, ro[i].off, ones, ro[i].len));
	REQUIRE_RC(vfu_cfg_read(C, 0, after, sizeof(after)));
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		REQUIRE_MSG(!memcmp(before + ro[i].off, after + ro[i].off, ro[i].len),
		            "read-only header bytes at 0x%02x changed after a write of ones", ro[i].off);
	/* capability headers (id, next), MSI-X table/PBA locations, DevCap */
	if (walk_caps(caps, 48, &ncaps))
		goto out;
	for (int i = 0; i < ncaps; i++) {
		uint8_t h0[2], h1[2];
		REQUIRE_RC(vfu_cfg_read(C, caps[i].off, h0, 2));
		REQUIRE_RC(vfu_cfg_write(C, caps[i].off, ones, 2));
		REQUIRE_RC(vfu_cfg_read(C, caps[i].off, h1, 2));
		REQUIRE_MSG(!memcmp(h0, h1, 2), "capability header at 0x%02x changed: %02x %02x -> %02x %02x",
		            caps[i].off, h0[0], h0[1], h1[0], h1[1]);
		uint32_t ro_off[2] = { 0, 0 };
		if (caps[i].id == CAP_MSIX) {
			ro_off[0] = caps[i].off + MSIX_TABLE;
			ro_off[1] = caps[i].off + MSIX_PBA;
		} else if (caps[i].id == CAP_EXP) {
			ro_off[0] = caps[i].off + EXP_DEVCAP;
		}
		for (int k = 0; k < 2 && ro_off[k]; k++) {
			uint32_t a, b;
			REQUIRE_RC(vfu_cfg_read32(C, ro_off[k], &a));
			REQUIRE_RC(vfu_cfg_write32(C, ro_off[k], 0xffffffffu));
			REQUIRE_RC(vfu_cfg_read32(C, ro_off[k], &b));
			REQUIRE_MSG(a == b, "read-only register at 0x%02x changed: 0x%08x -> 0x%08x",
				    ro_off[k], a, b);
		}
	}
	/* the whole header, once more: nothing else moved */
	REQUIRE_RC(vfu_cfg_read(C, 0, after, sizeof(after)));
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		REQUIRE_MSG(!memcmp(before + ro[i].off, after + ro[i].off, ro[i].len),
		            "read-only header bytes at 0x%02x changed", ro[i].off);
out:;
}

static void t_cfg_status(void)
{
	uint16_t before, after;
	REQUIRE_RC(vfu_cfg_read16(C, PCI_STATUS, &before));
	REQUIRE_MSG(before & PCI_STATUS_CAP_LIST, "status 0x%04x lacks the capability list bit", before);
	/* a write of ones clears the RW1C error bits and sets nothing */
	REQUIRE_RC(vfu_cfg_write16(C, PCI_STATUS, 0xffff));
	REQUIRE_RC(vfu_cfg_read16(C, PCI_STATUS, &after));
	REQUIRE_MSG((after & PCI_STATUS_RW1C) == 0, "status 0x%04x -> 0x%04x: writing 1 to RW1C bits set them",
	            before, after);
	REQUIRE_MSG((after & ~PCI_STATUS_RW1C) == (before & ~PCI_STATUS_RW1C),
	            "status 0x%04x -> 0x%04x: read-only bits changed", before, after);
	/* a write of zeroes changes nothing */
	REQUIRE_RC(vfu_cfg_write16(C, PCI_STATUS, 0));
	REQUIRE_RC(vfu_cfg_read16(C, PCI_STATUS, &before));
	REQUIRE_MSG(before == after, "status 0x%04x -> 0x%04x after writing 0", after, before);
out:;
}

static void t_cfg_bar_sizing(void)
{
	uint32_t orig[6], rom;
	REQUIRE_RC(load_region_sizes());
	for (int i = 0; i < 6; i++)
		REQUIRE_RC(vfu_cfg_read32(C, PCI_BAR0 + 4u * (uint32_t)i, &orig[i]));
	REQUIRE_RC(vfu_cfg_read32(C, PCI_ROM, &rom));
	for (int i = 0; i < 6; i++) {
		uint32_t off = PCI_BAR0 + 4u * (uint32_t)i, v, hi;
		uint64_t size = region_size[i];
		REQUIRE_RC(vfu_cfg_write32(C, off, 0xffffffffu));
		REQUIRE_RC(vfu_cfg_read32(C, off, &v));
		if (!size) {
			REQUIRE_MSG(v == 0, "absent BAR%d reads 0x%08x after a write of ones", i, v);
			REQUIRE_RC(vfu_cfg_write32(C, off, orig[i]));
			continue;
		}
		REQUIRE_MSG(!(orig[i] & PCI_BAR_IO), "BAR%d is an I/O BAR (0x%08x)", i, orig[i]);
		REQUIRE_MSG((v & PCI_BAR_FLAGS) == (orig[i] & PCI_BAR_FLAGS), "BAR%d flag bits changed: 0x%x -> 0x%x",
		            i, orig[i] & PCI_BAR_FLAGS, v & PCI_BAR_FLAGS);
		REQUIRE_MSG((v & ~PCI_BAR_FLAGS) == ((uint32_t)~(size - 1) & ~PCI_BAR_FLAGS),
		            "BAR%d reads 0x%08x after a write of ones; region size 0x%llx wants mask 0x%08x", i, v,
		            (unsigned long long)size, (uint32_t)~(size - 1) & ~PCI_BAR_FLAGS);
		/* an address keeps only the bits above the size */
		REQUIRE_RC(vfu_cfg_write32(C, off, 0xfedcb000u));
		REQUIRE_RC(vfu_cfg_read32(C, off, &v));
		REQUIRE_MSG((v & ~PCI_BAR_FLAGS) == (0xfedcb000u & (uint32_t)~(size - 1)),
		            "BAR%d programmed 0xfedcb000 reads 0x%08x", i, v);
		REQUIRE_RC(vfu_cfg_write32(C, off, orig[i]));
		if (!opt.virtio && i == 0)
			REQUIRE_MSG(orig[i] & PCI_BAR_64, "NVMe BAR0 must be a 64-bit BAR (0x%08x)", orig[i]);
		if ((orig[i] & 0x6) == PCI_BAR_64) {
			REQUIRE_MSG(i < 5, "BAR5 claims to be the low half of a 64-bit BAR");
			REQUIRE_MSG(region_size[i + 1] == 0,
				    "region %d is the high half of BAR%d but has a size", i + 1, i);
			REQUIRE_RC(vfu_cfg_write32(C, off + 4, 0xffffffffu));
			REQUIRE_RC(vfu_cfg_read32(C, off + 4, &hi));
			REQUIRE_MSG(hi == (uint32_t)(~(size - 1) >> 32),
				    "BAR%d high half reads 0x%08x after ones", i + 1, hi);
			REQUIRE_RC(vfu_cfg_write32(C, off + 4, orig[i + 1]));
			i++;
		}
	}
	/* no expansion ROM */
	REQUIRE_RC(vfu_cfg_write32(C, PCI_ROM, 0xffffffffu));
	{
		uint32_t v;
		REQUIRE_RC(vfu_cfg_read32(C, PCI_ROM, &v));
		REQUIRE_MSG(v == 0, "absent expansion ROM BAR reads 0x%08x after a write of ones", v);
	}
	REQUIRE_RC(vfu_cfg_write32(C, PCI_ROM, rom));
	for (int i = 0; i < 6; i++) {
		uint32_t v;
		REQUIRE_RC(vfu_cfg_read32(C, PCI_BAR0 + 4u * (uint32_t)i, &v));
		REQUIRE_MSG(v == orig[i], "BAR%d not restored: 0x%08x, was 0x%08x", i, v, orig[i]);
	}
out:;
}

static void t_cfg_caps(void)
{
	struct cap_entry caps[48];
	int ncaps, count[256] = { 0 }, vtype[8] = { 0 };
	if (walk_caps(caps, 48, &ncaps))
		goto out;
	REQUIRE_RC(load_region_sizes());
	for (int i = 0; i < ncaps; i++) {
		count[caps[i].id]++;
		uint8_t len = 2;
		if (caps[i].id == CAP_VENDOR) {
			uint8_t vc[20];
			REQUIRE_RC(vfu_cfg_read8(C, caps[i].off + 2u, &len));
			REQUIRE_MSG(len >= 16 && caps[i].off + len <= 0x100u,
				    "vendor capability at 0x%02x: cap_len %u", caps[i].off, len);
			REQUIRE_RC(vfu_cfg_read(C, caps[i].off, vc, len < sizeof(vc) ? len : sizeof(vc)));
			uint8_t type = vc[3], bar = vc[4];
			uint32_t off, length;
			memcpy(&off, vc + 8, 4);
			memcpy(&length, vc + 12, 4);
			off = le32toh(off);
			length = le32toh(length);
			if (!opt.virtio)
				continue;
			if (type >= VIRTIO_CAP_COMMON && type <= VIRTIO_CAP_DEVICE) {
				vtype[type]++;
				REQUIRE_MSG(bar == VIRTIO_CAP_BAR,
					    "virtio capability type %u in BAR%u, want BAR4", type, bar);
				REQUIRE_MSG(length > 0 && !(off & 3) && off + (uint64_t)length <= region_size[bar],
					    "virtio capability type %u: 0x%x+0x%x outside BAR%u of 0x%llx bytes",
					    type, off, length, bar, (unsigned long long)region_size[bar]);
				if (type == VIRTIO_CAP_NOTIFY)
					REQUIRE_MSG(len >= 20,
						    "notify capability of %u bytes lacks notify_off_multiplier", len);
				if (type == VIRTIO_CAP_COMMON)
					REQUIRE_MSG(length >= 0x38, "common configuration of %u bytes", length);
			}
		}
	}
	REQUIRE_MSG(count[CAP_PM] == 1, "%d power management capabilities", count[CAP_PM]);
	REQUIRE_MSG(count[CAP_MSIX] == 1, "%d MSI-X capabilities", count[CAP_MSIX]);
	REQUIRE_MSG(count[CAP_EXP] == 1, "%d PCI Express capabilities", count[CAP_EXP]);
	REQUIRE_MSG(count[CAP_VPD] == 1, "%d VPD capabilities", count[CAP_VPD]);
	if (opt.virtio) {
		REQUIRE_MSG(count[CAP_VENDOR] >= 4, "%d vendor (virtio) capabilities, want 4", count[CAP_VENDOR]);
		for (int t = VIRTIO_CAP_COMMON; t <= VIRTIO_CAP_DEVICE; t++)
			REQUIRE_MSG(vtype[t] == 1, "%d virtio capabilities of type %d, want 1", vtype[t], t);
	}
	/* the library's walk agrees */
	for (int i = 0; i < ncaps; i++)
		if (caps[i].id != CAP_VENDOR)
			REQUIRE_MSG(vfu_cfg_find_cap(C, caps[i].id) == caps[i].off,
			            "vfu_cfg_find_cap(0x%02x) = %d, walk found 0x%02x", caps[i].id,
			            vfu_cfg_find_cap(C, caps[i].id), caps[i].off);
	/* PCIe: version 2 endpoint with FLR */
	{
		int exp = vfu_cfg_find_cap(C, CAP_EXP);
		uint16_t flags;
		uint32_t devcap;
		REQUIRE_RC(exp);
		REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)exp + EXP_FLAGS, &flags));
		REQUIRE_RC(vfu_cfg_read32(C, (uint32_t)exp + EXP_DEVCAP, &devcap));
		REQUIRE_MSG((flags & 0xf) == 2 && ((flags >> 4) & 0xf) == 0,
		            "PCIe capability flags 0x%04x: want version 2, PCI Express Endpoint", flags);
		REQUIRE_MSG(devcap & EXP_DEVCAP_FLR, "DevCap 0x%08x lacks Function Level Reset", devcap);
	}
	/* the extended list ends (no loop, no junk) */
	{
		int rc = vfu_cfg_find_ext_cap(C, EXT_CAP_AER);
		REQUIRE_MSG(rc == -ENOENT, "extended capability walk for AER: %d (%s)", rc, strerror(-rc));
	}
out:;
}

static void t_msix_cap(void)
{
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	REQUIRE_RC(load_region_sizes());
	if (opt.msix >= 0)
		REQUIRE_MSG(m.n == opt.msix, "MSI-X table size %u, want %d", m.n, opt.msix);
	REQUIRE_MSG((int)m.table_bir == msix_bar_expected(), "MSI-X table in BAR%u, want BAR%d", m.table_bir,
	            msix_bar_expected());
	REQUIRE_MSG(m.pba_bir < 6 && region_size[m.pba_bir], "PBA in absent BAR%u", m.pba_bir);
	uint64_t tend = m.table_off + (uint64_t)m.n * MSIX_ENTRY;
	uint64_t pend = m.pba_off + (uint64_t)(m.n + 63) / 64 * 8;
	REQUIRE_MSG(tend <= region_size[m.table_bir], "table 0x%x..0x%llx beyond BAR%u of 0x%llx", m.table_off,
	            (unsigned long long)tend, m.table_bir, (unsigned long long)region_size[m.table_bir]);
	REQUIRE_MSG(pend <= region_size[m.pba_bir], "PBA 0x%x..0x%llx beyond BAR%u of 0x%llx", m.pba_off,
	            (unsigned long long)pend, m.pba_bir, (unsigned long long)region_size[m.pba_bir]);
	REQUIRE_MSG(m.table_bir != m.pba_bir || tend <= m.pba_off || pend <= m.table_off,
	            "table and PBA overlap");
out:;
}

static void t_cfg_vpd(void)
{
	uint8_t vpd[256];
	char vu[256], sn[256];
	REQUIRE_RC(vfu_cfg_read_vpd(C, vpd, sizeof(vpd)));
	int n = vfu_vpd_find_keyword(vpd, sizeof(vpd), "VU", vu, sizeof(vu));
	REQUIRE_MSG(n > 0, "no VU keyword in VPD: %d", n);
	if (opt.vuid)
		REQUIRE_MSG(!strcmp(vu, opt.vuid), "VPD VU \"%s\", want \"%s\"", vu, opt.vuid);
	n = vfu_vpd_find_keyword(vpd, sizeof(vpd), "SN", sn, sizeof(sn));
	REQUIRE_MSG(n > 0, "no SN keyword in VPD: %d", n);
	if (opt.vuid)
		REQUIRE_MSG(!strncmp(sn, opt.vuid, strlen(sn)) && strlen(sn) == 12,
		            "VPD SN \"%s\" is not the serial the VUID starts with", sn);
	/* RV: bytes from 0 through its checksum byte add up to zero */
	REQUIRE_MSG(vpd[0] == 0x82, "VPD starts with tag 0x%02x, want the identifier string", vpd[0]);
	size_t p = 3 + (size_t)(vpd[1] | vpd[2] << 8);
	REQUIRE_MSG(p + 3 <= sizeof(vpd) && vpd[p] == 0x90, "no VPD-R after the identifier string");
	size_t rlen = (size_t)(vpd[p + 1] | vpd[p + 2] << 8), q = p + 3, end = q + rlen;
	REQUIRE_MSG(end <= sizeof(vpd), "VPD-R runs past the image");
	bool rv = false;
	while (q + 3 <= end) {
		size_t klen = vpd[q + 2];
		if (vpd[q] == 'R' && vpd[q + 1] == 'V') {
			uint8_t sum = 0;
			REQUIRE_MSG(klen >= 1 && q + 3 + klen <= end, "RV keyword of %zu bytes", klen);
			for (size_t i = 0; i <= q + 3; i++)
				sum = (uint8_t)(sum + vpd[i]);
			REQUIRE_MSG(sum == 0, "VPD checksum through RV is 0x%02x, want 0", sum);
			rv = true;
			break;
		}
		q += 3 + klen;
	}
	REQUIRE_MSG(rv, "no RV keyword in VPD-R");
	REQUIRE_MSG(end < sizeof(vpd) && vpd[end] == 0x78, "no end tag after VPD-R");
out:;
}

static void t_cfg_sriov(void)
{
	int cap = vfu_cfg_find_ext_cap(C, EXT_CAP_SRIOV);
	if (opt.vf || opt.total_vfs == 0) {
		REQUIRE_MSG(cap == -ENOENT, "SR-IOV capability: %d, want absent (-ENOENT) on a %s", cap,
		            opt.vf ? "VF" : "PF without VFs");
		goto out;
	}
	REQUIRE_RC(cap);
	uint32_t at = (uint32_t)cap;
	uint16_t initial, total, num, offset, stride, ctl;
	uint32_t pgsz;
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_INITIAL_VFS, &initial));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_TOTAL_VFS, &total));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_NUM_VFS, &num));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_VF_OFFSET, &offset));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_VF_STRIDE, &stride));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_CTRL, &ctl));
	REQUIRE_RC(vfu_cfg_read32(C, at + SRIOV_SUP_PGSIZE, &pgsz));
	REQUIRE_MSG(total == opt.total_vfs, "TotalVFs %u, want %d", total, opt.total_vfs);
	REQUIRE_MSG(initial == total, "InitialVFs %u, TotalVFs %u", initial, total);
	REQUIRE_MSG(num <= total, "NumVFs %u above TotalVFs %u", num, total);
	REQUIRE_MSG(offset >= 1 && (total < 2 || stride >= 1), "First VF Offset %u, VF Stride %u", offset, stride);
	REQUIRE_MSG(pgsz & 1, "supported page sizes 0x%x lack 4 KiB", pgsz);
	if (opt.pf_rid >= 0 && opt.first_vf_rid >= 0)
		REQUIRE_MSG(((opt.pf_rid + offset) & 0xffff) == opt.first_vf_rid,
		            "PF RID 0x%04x + First VF Offset 0x%04x = 0x%04x, but the first VF is 0x%04x",
		            opt.pf_rid, offset, (opt.pf_rid + offset) & 0xffff, opt.first_vf_rid);
	/* VF BARs size themselves like BARs: a VF's own MSI-X BAR and register BAR */
	uint32_t vfbar[6];
	for (int i = 0; i < 6; i++) {
		uint32_t off = at + SRIOV_VF_BAR0 + 4u * (uint32_t)i, orig;
		REQUIRE_RC(vfu_cfg_read32(C, off, &orig));
		REQUIRE_RC(vfu_cfg_write32(C, off, 0xffffffffu));
		REQUIRE_RC(vfu_cfg_read32(C, off, &vfbar[i]));
		REQUIRE_RC(vfu_cfg_write32(C, off, orig));
	}
	int regbar = opt.virtio ? VIRTIO_CAP_BAR : 0;
	REQUIRE_MSG(vfbar[msix_bar_expected()] & ~PCI_BAR_FLAGS, "VF BAR%d (MSI-X) absent", msix_bar_expected());
	REQUIRE_MSG(vfbar[regbar] & ~PCI_BAR_FLAGS, "VF BAR%d (registers) absent", regbar);
	if (!opt.virtio)
		REQUIRE_MSG(~(vfbar[0] & ~PCI_BAR_FLAGS) + 1 == NVME_BAR0_SIZE, "VF BAR0 sizes to 0x%x",
		            ~(vfbar[0] & ~PCI_BAR_FLAGS) + 1);
	(void)ctl;
out:;
}

/* ---- MSI-X ------------------------------------------------------------------- */

static void t_msix_trigger(void)
{
	struct irq_bench b;
	bool pend;
	REQUIRE_RC(bench_setup(&b));
	uint16_t last = (uint16_t)(b.n - 1);
	/* vector 0 unmasked fires, and only its eventfd */
	REQUIRE_RC(msix_mask(0, false));
	REQUIRE_RC(msix_trigger(0));
	REQUIRE_MSG(efd_wait(b.efd[0], 1000) == 1, "unmasked vector 0 did not fire (once)");
	for (uint16_t i = 1; i < b.n; i++)
		REQUIRE_MSG(efd_wait(b.efd[i], 0) == 0, "vector %u fired when vector 0 was triggered", i);
	/* the last vector too (range end) */
	REQUIRE_RC(msix_mask(last, false));
	REQUIRE_RC(msix_trigger(last));
	REQUIRE_MSG(efd_wait(b.efd[last], 1000) == 1, "unmasked vector %u did not fire (once)", last);
	/* the table does not mask: vector 0 with its table mask bit set (as it
	 * is from reset, and as QEMU leaves it: it never writes the table)
	 * fires all the same, and nothing is left pending */
	{
		uint32_t ctl;
		REQUIRE_RC(msix_table_mask(&b.m, 0, true));
		REQUIRE_RC(msix_vec_ctrl(&b.m, 0, &ctl));
		REQUIRE_MSG(ctl & MSIX_VEC_MASKED, "vector control reads 0x%08x after setting the mask bit", ctl);
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_MSG(efd_wait(b.efd[0], 1000) == 1,
		            "vector 0, unmasked by SET_IRQS, did not fire because of its table mask bit");
		REQUIRE_RC(msix_pending(&b.m, 0, &pend));
		REQUIRE_MSG(!pend, "vector 0 fired and is pending too");
	}
	/* DATA_BOOL trigger fires the vectors whose bool is 1 */
	if (b.n > 1) {
		uint8_t bools[2] = { 1, 0 };
		REQUIRE_RC(msix_mask(1, false));
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
			   VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 2, NULL, bools));
		REQUIRE_MSG(efd_wait(b.efd[0], 1000) == 1, "DATA_BOOL trigger of vector 0 did not fire (once)");
		REQUIRE_MSG(efd_wait(b.efd[1], 100) == 0, "DATA_BOOL 0 fired vector 1");
	}
	/* the eventfd of a vector can be replaced */
	{
		int nfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		REQUIRE_MSG(nfd >= 0, "eventfd: %s", strerror(errno));
		int rc = vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
				      VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &nfd, NULL);
		if (rc) {
			close(nfd);
			REQUIRE_RC(rc);
		}
		int old = b.efd[0];
		b.efd[0] = nfd;
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_MSG(efd_wait(b.efd[0], 1000) == 1, "vector 0 did not fire on its new eventfd");
		uint64_t stale = efd_wait(old, 0);
		close(old);
		REQUIRE_MSG(stale == 0, "vector 0 fired on its old eventfd");
	}
	/* a vector de-assigned the way QEMU does it (DATA_EVENTFD, count 1, no
	 * fd) stays silent; what was raised meanwhile waits in the PBA and
	 * fires once when the eventfd comes back (QEMU takes fds away and
	 * gives them back while it reconfigures vectors: nothing is lost) */
	{
		pend = false;
		int none = -1;
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
				        VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &none, NULL));
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_RC(vfu_sync(C));
		REQUIRE_MSG(efd_wait(b.efd[0], 100) == 0, "vector 0 fired after its eventfd was de-assigned");
		REQUIRE_RC(msix_pending(&b.m, 0, &pend));
		REQUIRE_MSG(pend, "vector 0 raised without an eventfd: PBA bit clear (the interrupt is lost)");
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
			   VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, &b.efd[0], NULL));
		REQUIRE_MSG(efd_wait(b.efd[0], 1000) == 1,
		            "the interrupt raised while vector 0 had no eventfd did not fire once when it came back");
		REQUIRE_RC(msix_pending(&b.m, 0, &pend));
		REQUIRE_MSG(!pend, "vector 0 still pending after its interrupt was delivered");
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_MSG(efd_wait(b.efd[0], 1000) == 1, "vector 0 did not fire on its eventfd given back");
	}
	/* with the index disabled (DATA_NONE, count 0) nothing fires */
	REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0,
			        0, NULL, NULL));
	REQUIRE_RC(msix_trigger(0));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[0], 100) == 0, "vector 0 fired after its eventfd was de-assigned");
out:
	bench_free(&b);
}

/* Per-vector masking over vfio-user is SET_IRQS ACTION_MASK/UNMASK (MSI-X
 * is reported MASKABLE): a masked vector latches its PBA bit and fires once
 * on unmask. The table's mask bit neither masks nor unmasks. */
static void t_msix_vector_mask(void)
{
	struct irq_bench b;
	bool pend;
	REQUIRE_RC(bench_setup(&b));
	uint16_t v = b.n > 1 ? 1 : 0;
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(!pend, "vector %u pending before any trigger", v);
	/* masked: latches its PBA bit, does not fire */
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "masked vector %u fired", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(pend, "masked vector %u was triggered but its PBA bit is clear", v);
	/* the PBA is read-only */
	{
		uint64_t zero = 0;
		REQUIRE_RC(vfu_region_write(C, b.m.pba_bir, b.m.pba_off + (uint64_t)(v / 64) * 8, &zero, 8, false));
		REQUIRE_RC(msix_pending(&b.m, v, &pend));
		REQUIRE_MSG(pend, "a write of 0 to the PBA cleared vector %u's pending bit", v);
	}
	/* clearing the table's mask bit does not unmask it */
	REQUIRE_RC(msix_table_mask(&b.m, v, false));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired when its table mask bit was cleared", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(pend, "vector %u lost its pending bit when its table mask bit was cleared", v);
	/* a second trigger while masked: still one pending interrupt */
	REQUIRE_RC(msix_trigger(v));
	/* unmask (table mask bit set again, which does not matter): fires
	 * exactly once and clears the bit */
	REQUIRE_RC(msix_table_mask(&b.m, v, true));
	REQUIRE_RC(msix_mask(v, false));
	REQUIRE_MSG(efd_wait(b.efd[v], 1000) == 1, "vector %u did not fire exactly once on unmask", v);
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired again after its delivery", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(!pend, "vector %u still pending after delivery", v);
	/* mask and unmask again: no stale delivery */
	REQUIRE_RC(msix_mask(v, true));
	REQUIRE_RC(msix_mask(v, false));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired again without a trigger", v);
	/* unmasked, it fires at once */
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_MSG(efd_wait(b.efd[v], 1000) == 1, "unmasked vector %u did not fire", v);
	/* DATA_BOOL: only the vectors whose bool is 1 change */
	if (b.n > 1) {
		uint8_t bools[2] = { 0, 1 };
		REQUIRE_RC(msix_mask(0, false));
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK,
				        0, 2, NULL, bools));
		REQUIRE_RC(msix_trigger(0));
		REQUIRE_RC(msix_trigger(1));
		REQUIRE_MSG(efd_wait(b.efd[0], 1000) == 1, "vector 0 (bool 0: left unmasked) did not fire");
		REQUIRE_RC(vfu_sync(C));
		REQUIRE_MSG(efd_wait(b.efd[1], 100) == 0, "vector 1 masked with DATA_BOOL fired");
		REQUIRE_RC(msix_pending(&b.m, 1, &pend));
		REQUIRE_MSG(pend, "vector 1 masked with DATA_BOOL did not latch");
		REQUIRE_RC(vfu_set_irqs(C, VFIO_PCI_MSIX_IRQ_INDEX,
			   VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_UNMASK, 0, 2, NULL, bools));
		REQUIRE_MSG(efd_wait(b.efd[1], 1000) == 1, "vector 1 unmasked with DATA_BOOL did not fire once");
	}
	/* Vector Control: only the mask bit is writable (storage) */
	{
		uint32_t ctl;
		uint32_t le = htole32(0xfffffffeu);
		REQUIRE_RC(vfu_region_write(C, b.m.table_bir,
				            b.m.table_off + (uint64_t)v * MSIX_ENTRY + MSIX_VEC_CTRL, &le, 4, false));
		REQUIRE_RC(msix_vec_ctrl(&b.m, v, &ctl));
		REQUIRE_MSG(ctl == 0, "vector control reads 0x%08x after writing 0xfffffffe", ctl);
	}
out:
	bench_free(&b);
}

/* Config space masks too: the Function Mask holds every vector (latching),
 * MSI-X Enable off sends and latches nothing. */
static void t_msix_function_mask(void)
{
	struct irq_bench b;
	bool pend;
	REQUIRE_RC(bench_setup(&b));
	uint16_t v = 0;
	REQUIRE_RC(msix_mask(v, false));
	REQUIRE_RC(msix_ctrl_set(&b.m, true, true));
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired under the function mask", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(pend, "vector %u triggered under the function mask but its PBA bit is clear", v);
	REQUIRE_RC(msix_ctrl_set(&b.m, true, false));
	REQUIRE_MSG(efd_wait(b.efd[v], 1000) == 1, "vector %u did not fire (once) when the function mask cleared",
	            v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(!pend, "vector %u still pending after delivery", v);
	/* masked twice over (function and SET_IRQS): clearing one is not enough */
	REQUIRE_RC(msix_mask(v, true));
	REQUIRE_RC(msix_ctrl_set(&b.m, true, true));
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_RC(msix_ctrl_set(&b.m, true, false));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired while still masked by SET_IRQS", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(pend, "vector %u masked twice over did not latch", v);
	REQUIRE_RC(msix_mask(v, false));
	REQUIRE_MSG(efd_wait(b.efd[v], 1000) == 1, "vector %u did not fire (once) when both masks were gone", v);
	/* MSI-X disabled: nothing fires and nothing latches, so nothing comes
	 * when it is enabled again */
	REQUIRE_RC(msix_ctrl_set(&b.m, false, false));
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired with MSI-X disabled", v);
	REQUIRE_RC(msix_pending(&b.m, v, &pend));
	REQUIRE_MSG(!pend, "vector %u latched a trigger with MSI-X disabled", v);
	REQUIRE_RC(msix_ctrl_set(&b.m, true, false));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_MSG(efd_wait(b.efd[v], 100) == 0, "vector %u fired when MSI-X was enabled again", v);
	REQUIRE_RC(msix_trigger(v));
	REQUIRE_MSG(efd_wait(b.efd[v], 1000) == 1, "vector %u did not fire with MSI-X enabled again", v);
out:
	bench_free(&b);
}

struct irq_set_raw {
	struct vfu_msg_irq_set s;
	uint8_t data[8];
} __attribute__((packed));

static void t_set_irqs_bad(void)
{
	int efd[2] = { -1, -1 };
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	uint32_t n = m.n, msix = VFIO_PCI_MSIX_IRQ_INDEX;
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
			         VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL, NULL), "two DATA flags");
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK |
			         VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL, NULL), "two ACTION flags");
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, n - 1, 2, NULL,
			         NULL), "start + count beyond the vectors");
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, n, 1, NULL, NULL),
	            "start at the vector count");
	REQUIRE_ERR(vfu_set_irqs(C, msix, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0xffffffffu, 2,
			         NULL, NULL), "start + count wrapping");
	REQUIRE_ERR(vfu_set_irqs(C, VFIO_PCI_MSI_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0,
			         1, NULL, NULL), "MSI index with count 1");
	REQUIRE_ERR(vfu_set_irqs(C, NUM_IRQS, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER, 0, 1, NULL,
			         NULL), "IRQ index 5");
	/* bools shorter than count */
	{
		struct irq_set_raw r = {
			.s = { .argsz = sizeof(struct vfu_msg_irq_set) + 1,
			       .flags = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
			       .index = msix, .start = 0, .count = 2 },
			.data = { 1 },
		};
		REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_SET_IRQS, &r, sizeof(r.s) + 1, NULL, 0,
				         "one bool for count 2") == 0, "DATA_BOOL shorter than count accepted");
	}
	/* fewer eventfds than count */
	if (n >= 2) {
		efd[0] = eventfd(0, EFD_CLOEXEC);
		REQUIRE_MSG(efd[0] >= 0, "eventfd: %s", strerror(errno));
		struct vfu_msg_irq_set s = {
			.argsz = sizeof(s), .flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = msix, .start = 0, .count = 2,
		};
		REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_SET_IRQS, &s, sizeof(s), efd, 1,
			    "1 eventfd for count 2") == 0, "DATA_EVENTFD with fewer fds than count accepted");
	}
	/* argsz that does not match the message */
	{
		struct vfu_msg_irq_set s = {
			.argsz = sizeof(s) + 4, .flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
			.index = msix, .start = 0, .count = 1,
		};
		REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_SET_IRQS, &s, sizeof(s), NULL, 0, "argsz too large") == 0,
		            "SET_IRQS with a wrong argsz accepted");
	}
	REQUIRE_RC(vfu_sync(C));
out:
	for (int i = 0; i < 2; i++)
		if (efd[i] >= 0)
			close(efd[i]);
}

/* ---- DMA --------------------------------------------------------------------- */

#define IOVA_A 0x10000000ull
#define IOVA_B 0x20000000ull
#define MIB (1ull << 20)
#define RW (VFU_PROT_READ | VFU_PROT_WRITE)

static void t_dma_map(void)
{
	struct host_mem *m = NULL;
	REQUIRE_RC(host_mem_create(2 * MIB, &m));
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	/* overlaps: same start, inside, straddling either end */
	int rc = vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "same range mapped twice: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_A + 0x1000, 0x1000, m->fd, 0x1000, RW);
	REQUIRE_MSG(rc == -EEXIST, "range inside a mapping: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_A - 0x1000, 0x2000, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "range over the start of a mapping: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_A + MIB - 0x1000, 0x2000, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "range over the end of a mapping: %d (%s), want EEXIST", rc, strerror(-rc));
	/* adjacent is fine, read-only too */
	REQUIRE_RC(vfu_dma_map(C, IOVA_A + MIB, MIB, m->fd, MIB, VFU_PROT_READ));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A + MIB, MIB));
	/* exact unmap, then the range is free again */
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A, MIB));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_A, MIB), "unmap of a range already unmapped");
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A, MIB));
	REQUIRE_RC(vfu_sync(C));
out:
	host_mem_destroy(m);
}

static void t_dma_bad(void)
{
	struct host_mem *m = NULL, *small = NULL;
	REQUIRE_RC(host_mem_create(MIB, &m));
	REQUIRE_RC(host_mem_create(0x2000, &small));
	/* ranges the fd's file does not cover: touching them would SIGBUS the server */
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x4000, small->fd, 0, RW), "map of 16 KiB of an 8 KiB file");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x2000, small->fd, 0x1000, RW), "map running past the end of the file");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x1000, small->fd, 0x2000, RW), "map at the end of the file");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B + 0x200, 0x1000, m->fd, 0, RW), "unaligned address");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x1800, m->fd, 0, RW), "unaligned size");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x1000, m->fd, 0x10, RW), "unaligned file offset");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0, m->fd, 0, RW), "size 0");
	REQUIRE_ERR(vfu_dma_map(C, 0xfffffffffffff000ull, 0x2000, m->fd, 0, RW), "range wrapping around");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x1000, m->fd, 0, 0x4), "unknown protection flag");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B + 0x200, 0x1000, -1, 0, RW), "unaligned address without an fd");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0, -1, 0, RW), "size 0 without an fd");
	/* two fds for one region: EINVAL */
	{
		struct vfu_msg_dma_map dm = { .argsz = sizeof(dm), .flags = RW, .address = IOVA_B,
					      .size = 0x1000 };
		int two[2] = { m->fd, small->fd };
		uint16_t id = vfu_next_msg_id(C);
		struct raw_reply r;
		REQUIRE_RC(raw_cmd(C, id, VFU_CMD_DMA_MAP, VFU_F_TYPE_COMMAND, &dm, sizeof(dm), two, 2));
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id && (r.h.flags & VFU_F_ERROR) && r.h.error == EINVAL,
		            "DMA_MAP with 2 fds: reply id %u flags 0x%x errno %u, want EINVAL", r.h.msg_id, r.h.flags,
		            r.h.error);
	}
	/* nothing of that was mapped: the range can be mapped now */
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x1000, m->fd, 0, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x1000));
	/* the whole small file, at an offset, is fine */
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x1000, small->fd, 0x1000, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x1000));
	REQUIRE_RC(vfu_sync(C));
out:
	host_mem_destroy(small);
	host_mem_destroy(m);
}

/* DMA_MAP without an fd: QEMU maps memory it does not share (a VM's
 * firmware ROM) so. The server records the range (so that its unmap
 * succeeds and overlaps are refused) though it cannot reach into it. */
static void t_dma_fdless(void)
{
	struct host_mem *m = NULL;
	REQUIRE_RC(host_mem_create(MIB, &m));
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x40000, -1, 0, VFU_PROT_READ));
	/* overlaps with it are refused, whatever backs either side */
	int rc = vfu_dma_map(C, IOVA_B, 0x40000, -1, 0, VFU_PROT_READ);
	REQUIRE_MSG(rc == -EEXIST, "fd-less range mapped twice: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_B + 0x10000, 0x1000, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "fd range inside an fd-less one: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_B - 0x1000, 0x2000, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "fd range over the start of an fd-less one: %d (%s), want EEXIST", rc,
	            strerror(-rc));
	rc = vfu_dma_map(C, IOVA_B + 0x3f000, 0x2000, -1, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "fd-less range over the end of an fd-less one: %d (%s), want EEXIST", rc,
	            strerror(-rc));
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	rc = vfu_dma_map(C, IOVA_A + MIB - 0x1000, 0x2000, -1, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "fd-less range over the end of an fd one: %d (%s), want EEXIST", rc,
	            strerror(-rc));
	/* adjacent is fine on both sides */
	REQUIRE_RC(vfu_dma_map(C, IOVA_A + MIB, 0x1000, -1, 0, RW));
	REQUIRE_RC(vfu_dma_map(C, IOVA_B + 0x40000, 0x1000, m->fd, 0, RW));
	/* only the exact range unmaps */
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_B, 0x1000), "unmap of part of an fd-less range");
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_B, 0x80000), "unmap of more than an fd-less range");
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x40000));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_B, 0x40000), "unmap of an fd-less range already unmapped");
	/* the range is free again, for either kind */
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x40000, m->fd, 0, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x40000));
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x40000, -1, 0, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x40000));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B + 0x40000, 0x1000));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A + MIB, 0x1000));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A, MIB));
	REQUIRE_RC(vfu_sync(C));
out:
	host_mem_destroy(m);
}

static void t_dma_unmap_wrong(void)
{
	struct host_mem *m = NULL;
	REQUIRE_RC(host_mem_create(MIB, &m));
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	/* not the mapped range: an error, and the next request gets its own reply */
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_A, 0x1000), "unmap of part of a mapping");
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_A + 0x1000, MIB), "unmap of a shifted range");
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_B, MIB), "unmap of a range never mapped");
	{
		struct vfu_device_info info;
		REQUIRE_RC(vfu_get_device_info(C, &info));
		REQUIRE_MSG(info.num_regions == NUM_REGIONS, "reply after a failed unmap is not ours");
	}
	/* a failed unmap with another request right behind it, unanswered yet */
	{
		struct vfu_msg_dma_unmap u = { .argsz = sizeof(u), .address = IOVA_B, .size = MIB };
		struct vfu_msg_device_info di = { .argsz = sizeof(di) };
		struct raw_reply r;
		uint16_t id1 = vfu_next_msg_id(C), id2 = vfu_next_msg_id(C);
		REQUIRE_RC(raw_cmd(C, id1, VFU_CMD_DMA_UNMAP, VFU_F_TYPE_COMMAND, &u, sizeof(u), NULL, 0));
		REQUIRE_RC(raw_cmd(C, id2, VFU_CMD_DEVICE_GET_INFO, VFU_F_TYPE_COMMAND, &di, sizeof(di), NULL, 0));
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id1 && r.h.command == VFU_CMD_DMA_UNMAP && (r.h.flags & VFU_F_ERROR),
			    "first reply: id %u command %u flags 0x%x, want the unmap's error", r.h.msg_id,
			    r.h.command, r.h.flags);
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id2 && r.h.command == VFU_CMD_DEVICE_GET_INFO && !(r.h.flags & VFU_F_ERROR),
		            "second reply: id %u command %u flags 0x%x, want DEVICE_GET_INFO's", r.h.msg_id,
		            r.h.command, r.h.flags);
		struct raw_reply extra;
		int rc = raw_recv(C, &extra, 200);
		REQUIRE_MSG(rc == -ETIMEDOUT, "an extra message after the replies: %d", rc);
	}
	/* a successful unmap with a request right behind it */
	{
		struct vfu_msg_dma_unmap u = { .argsz = sizeof(u), .address = IOVA_A, .size = MIB };
		struct vfu_msg_device_info di = { .argsz = sizeof(di) };
		struct raw_reply r;
		uint16_t id1 = vfu_next_msg_id(C), id2 = vfu_next_msg_id(C);
		REQUIRE_RC(raw_cmd(C, id1, VFU_CMD_DMA_UNMAP, VFU_F_TYPE_COMMAND, &u, sizeof(u), NULL, 0));
		REQUIRE_RC(raw_cmd(C, id2, VFU_CMD_DEVICE_GET_INFO, VFU_F_TYPE_COMMAND, &di, sizeof(di), NULL, 0));
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id1 && r.h.command == VFU_CMD_DMA_UNMAP && !(r.h.flags & VFU_F_ERROR),
		            "first reply: id %u command %u flags 0x%x error %u, want the unmap's success", r.h.msg_id,
		            r.h.command, r.h.flags, r.h.error);
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id2 && r.h.command == VFU_CMD_DEVICE_GET_INFO && !(r.h.flags & VFU_F_ERROR),
		            "second reply: id %u command %u flags 0x%x, want DEVICE_GET_INFO's", r.h.msg_id,
		            r.h.command, r.h.flags);
	}
	REQUIRE_RC(vfu_sync(C));
out:
	host_mem_destroy(m);
}

/* ---- region access ------------------------------------------------------------- */

static void t_region_bad(void)
{
	uint8_t buf[8] = { 0 };
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	REQUIRE_RC(load_region_sizes());
	uint32_t absent = opt.virtio ? 0 : 2;
	uint64_t bsize = region_size[m.table_bir];
	REQUIRE_ERR(vfu_region_read(C, CFG, CFG_SPACE_SIZE, buf, 4), "config read at 4096");
	REQUIRE_ERR(vfu_region_read(C, CFG, CFG_SPACE_SIZE - 2, buf, 4), "config read across the end");
	REQUIRE_ERR(vfu_region_read(C, m.table_bir, bsize - 4, buf, 8), "BAR read across the end");
	REQUIRE_ERR(vfu_region_read(C, m.table_bir, 1ull << 62, buf, 4), "BAR read far out");
	REQUIRE_ERR(vfu_region_read(C, CFG, 0, buf, 0), "read of count 0");
	REQUIRE_ERR(vfu_region_read(C, 42, 0, buf, 4), "read of region 42");
	REQUIRE_ERR(vfu_region_read(C, NUM_REGIONS, 0, buf, 4), "read of region 9");
	REQUIRE_ERR(vfu_region_read(C, absent, 0, buf, 4), "read of an absent BAR");
	REQUIRE_ERR(vfu_region_write(C, CFG, CFG_SPACE_SIZE, buf, 4, false), "config write at 4096");
	REQUIRE_ERR(vfu_region_write(C, CFG, CFG_SPACE_SIZE - 2, buf, 4, false), "config write across the end");
	REQUIRE_ERR(vfu_region_write(C, m.table_bir, bsize - 4, buf, 8, false), "BAR write across the end");
	REQUIRE_ERR(vfu_region_write(C, CFG, 0, buf, 0, false), "write of count 0");
	REQUIRE_ERR(vfu_region_write(C, 42, 0, buf, 4, false), "write of region 42");
	REQUIRE_ERR(vfu_region_write(C, absent, 0, buf, 4, false), "write of an absent BAR");
	/* a write whose count does not match its data */
	{
		struct { struct vfu_msg_region_access a; uint8_t d[4]; } __attribute__((packed)) w = {
			.a = { .offset = 0, .region = CFG, .count = 8 },
		};
		REQUIRE_MSG(expect_error(C, VFU_CMD_REGION_WRITE, &w, sizeof(w), NULL, 0,
			    "count 8 with 4 bytes") == 0, "REGION_WRITE with a short payload accepted");
	}
	/* boundaries that are fine */
	REQUIRE_RC(vfu_region_read(C, CFG, CFG_SPACE_SIZE - 4, buf, 4));
	REQUIRE_RC(vfu_region_read(C, m.table_bir, bsize - 8, buf, 8));
	REQUIRE_RC(vfu_sync(C));
out:;
}

static void t_posted_write(void)
{
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	uint64_t data_off = m.table_off + 8;	/* vector 0 Message Data */
	uint32_t val = htole32(0x5a5a1234), got = 0;
	REQUIRE_RC(vfu_region_write(C, m.table_bir, data_off, &val, 4, true));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_RC(vfu_region_read(C, m.table_bir, data_off, &got, 4));
	REQUIRE_MSG(got == val, "posted write of 0x%08x reads back 0x%08x", le32toh(val), le32toh(got));
	/* a posted write that fails is not answered either: the sync gets its own reply */
	uint8_t b[4] = { 0 };
	REQUIRE_RC(vfu_region_write(C, 42, 0, b, 4, true));
	REQUIRE_RC(vfu_region_write(C, CFG, CFG_SPACE_SIZE, b, 4, true));
	REQUIRE_RC(vfu_sync(C));
	/* posted writes land in order */
	{
		uint32_t v1 = htole32(0x11111000), v2 = htole32(0x22222000);
		REQUIRE_RC(vfu_region_write(C, m.table_bir, m.table_off, &v1, 4, true));
		REQUIRE_RC(vfu_region_write(C, m.table_bir, m.table_off, &v2, 4, true));
		REQUIRE_RC(vfu_region_read(C, m.table_bir, m.table_off, &got, 4));
		REQUIRE_MSG(got == v2, "posted writes out of order: read 0x%08x", le32toh(got));
	}
out:;
}

static void t_write_multi(void)
{
	struct msix_layout m;
	struct vfu_write w[64];
	uint8_t *shadow = NULL, *table = NULL;
	REQUIRE_RC(msix_layout(&m));
	REQUIRE_MSG(vfu_get_caps(C)->write_multiple, "write_multiple was not negotiated");
	size_t tlen = (size_t)m.n * MSIX_ENTRY;
	/* one write */
	memset(w, 0, sizeof(w));
	w[0] = (struct vfu_write){ .region = m.table_bir, .count = 4, .offset = m.table_off + 8 };
	uint32_t v = htole32(0xa5a5a5a5), got;
	memcpy(w[0].data, &v, 4);
	REQUIRE_RC(vfu_region_write_multi(C, w, 1, false));
	REQUIRE_RC(vfu_region_read(C, m.table_bir, m.table_off + 8, &got, 4));
	REQUIRE_MSG(got == v, "REGION_WRITE_MULTI of 1: read back 0x%08x", le32toh(got));
	/* 64 writes over the address/data dwords of the table (never Vector
	 * Control, never the low 2 address bits), mirrored in a shadow */
	shadow = malloc(tlen);
	table = malloc(tlen);
	REQUIRE_MSG(shadow && table, "out of memory");
	REQUIRE_RC(vfu_region_read(C, m.table_bir, m.table_off, shadow, tlen));
	for (int i = 0; i < 64; i++) {
		uint32_t dw = (uint32_t)i % (m.n * 3u);	/* dword index among 3 per vector */
		uint32_t off = dw / 3 * MSIX_ENTRY + dw % 3 * 4;
		uint32_t val = (0x1000u * (uint32_t)(i + 1)) | (dw % 3 == 0 ? 0 : 3u);
		uint32_t le = htole32(val);
		w[i] = (struct vfu_write){ .region = m.table_bir, .count = 4, .offset = m.table_off + off };
		memcpy(w[i].data, &le, 4);
		memcpy(shadow + off, &le, 4);
	}
	REQUIRE_RC(vfu_region_write_multi(C, w, 64, false));
	REQUIRE_RC(vfu_region_read(C, m.table_bir, m.table_off, table, tlen));
	REQUIRE_MSG(!memcmp(shadow, table, tlen), "table after 64 writes differs from what was written");
	/* 65 entries: refused (by hand, the library stops at 64) */
	{
		size_t plen = 8 + 65 * sizeof(struct vfu_msg_write_multi_entry);
		uint8_t *p = calloc(1, plen);
		REQUIRE_MSG(p, "out of memory");
		uint64_t cnt = 65;
		memcpy(p, &cnt, 8);
		for (int i = 0; i < 65; i++) {
			struct vfu_msg_write_multi_entry e = {
				.offset = m.table_off + 8, .region = m.table_bir, .count = 4,
			};
			memcpy(p + 8 + (size_t)i * sizeof(e), &e, sizeof(e));
		}
		int r = expect_error(C, VFU_CMD_REGION_WRITE_MULTI, p, plen, NULL, 0, "65 writes");
		free(p);
		REQUIRE_MSG(r == 0, "REGION_WRITE_MULTI of 65 writes accepted");
	}
	/* a count above 8 in an entry */
	{
		struct { struct vfu_msg_write_multi h; struct vfu_msg_write_multi_entry e; } __attribute__((packed))
			x = { .h = { 1 }, .e = { .offset = m.table_off + 8, .region = m.table_bir, .count = 9 } };
		REQUIRE_MSG(expect_error(C, VFU_CMD_REGION_WRITE_MULTI, &x, sizeof(x), NULL, 0, "count 9") == 0,
		            "REGION_WRITE_MULTI entry of 9 bytes accepted");
	}
	/* wr_cnt that disagrees with the size */
	{
		struct { struct vfu_msg_write_multi h; struct vfu_msg_write_multi_entry e; } __attribute__((packed))
			x = { .h = { 2 }, .e = { .offset = m.table_off + 8, .region = m.table_bir, .count = 4 } };
		REQUIRE_MSG(expect_error(C, VFU_CMD_REGION_WRITE_MULTI, &x, sizeof(x), NULL, 0,
			    "wr_cnt 2 with 1") == 0,
			    "REGION_WRITE_MULTI with wr_cnt beyond the message accepted");
	}
	REQUIRE_RC(vfu_sync(C));
out:
	free(shadow);
	free(table);
}

static void t_doorbells(void)
{
	void *base = NULL;
	int rc = vfu_map_region(C, 0, &base);
	if (!opt.mmap_db) {
		REQUIRE_MSG(rc == -EOPNOTSUPP, "BAR0 mapping in trap mode: %d (%s), want EOPNOTSUPP", rc,
		            strerror(-rc));
		/* trapped doorbell writes are accepted */
		uint32_t v = htole32(7);
		REQUIRE_RC(vfu_region_write(C, 0, NVME_DOORBELL_OFF, &v, 4, false));
		goto out;
	}
	REQUIRE_RC(rc);
	volatile uint32_t *db = (volatile uint32_t *)((uint8_t *)base + NVME_DOORBELL_OFF);
	db[0] = htole32(0x11);		/* SQ0 tail */
	db[1] = htole32(0x22);		/* CQ0 head */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint32_t got[2];
	REQUIRE_RC(vfu_region_read(C, 0, NVME_DOORBELL_OFF, got, 8));
	REQUIRE_MSG(le32toh(got[0]) == 0x11 && le32toh(got[1]) == 0x22,
	            "doorbells written through the mapping read 0x%x 0x%x", le32toh(got[0]), le32toh(got[1]));
	/* the other direction */
	uint32_t v = htole32(0x33);
	REQUIRE_RC(vfu_region_write(C, 0, NVME_DOORBELL_OFF + 8, &v, 4, false));
	REQUIRE_MSG(le32toh(db[2]) == 0x33, "trapped write not visible through the mapping: 0x%x", le32toh(db[2]));
out:
	if (base)
		vfu_unmap_region(C, 0);
}

static void t_flr(void)
{
	struct msix_layout m;
	uint16_t ctl, devctl;
	REQUIRE_RC(msix_layout(&m));
	int exp = vfu_cfg_find_cap(C, CAP_EXP);
	REQUIRE_RC(exp);
	REQUIRE_RC(msix_ctrl_set(&m, true, false));
	REQUIRE_RC(msix_table_mask(&m, 0, false));
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)exp + EXP_DEVCTL, &devctl));
	REQUIRE_RC(vfu_cfg_write16(C, (uint32_t)exp + EXP_DEVCTL, devctl | EXP_DEVCTL_FLR));
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)exp + EXP_DEVCTL, &devctl));
	REQUIRE_MSG(!(devctl & EXP_DEVCTL_FLR), "Initiate FLR reads 1 (DevCtl 0x%04x)", devctl);
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)m.cap + MSIX_CTRL, &ctl));
	REQUIRE_MSG(!(ctl & MSIX_CTRL_ENABLE), "MSI-X still enabled after FLR (0x%04x)", ctl);
	uint32_t vc;
	REQUIRE_RC(msix_vec_ctrl(&m, 0, &vc));
	REQUIRE_MSG(vc & MSIX_VEC_MASKED, "vector 0's table mask bit not back to its reset value after FLR");
out:;
}

static void t_device_reset(void)
{
	struct msix_layout m;
	uint16_t ctl, cmd;
	REQUIRE_RC(msix_layout(&m));
	REQUIRE_RC(msix_ctrl_set(&m, true, false));
	REQUIRE_RC(msix_table_mask(&m, 0, false));
	REQUIRE_RC(vfu_cfg_read16(C, PCI_COMMAND, &cmd));
	REQUIRE_RC(vfu_cfg_write16(C, PCI_COMMAND, cmd | PCI_COMMAND_MEMORY));
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)m.cap + MSIX_CTRL, &ctl));
	REQUIRE_MSG(ctl & MSIX_CTRL_ENABLE, "MSI-X Enable does not stick (0x%04x)", ctl);
	REQUIRE_RC(vfu_device_reset(C));
	REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)m.cap + MSIX_CTRL, &ctl));
	REQUIRE_MSG(!(ctl & MSIX_CTRL_ENABLE), "MSI-X still enabled after DEVICE_RESET (0x%04x)", ctl);
	uint32_t vc;
	REQUIRE_RC(msix_vec_ctrl(&m, 0, &vc));
	REQUIRE_MSG(vc & MSIX_VEC_MASKED, "vector 0's table mask bit not back to its reset value after DEVICE_RESET");
	REQUIRE_RC(vfu_cfg_read16(C, PCI_COMMAND, &cmd));
	REQUIRE_MSG(!(cmd & PCI_COMMAND_MEMORY), "Memory Space still enabled after DEVICE_RESET (0x%04x)", cmd);
	/* a payload is not expected */
	uint32_t junk = 0;
	REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_RESET, &junk, sizeof(junk), NULL, 0, "reset with payload") == 0,
	            "DEVICE_RESET with a payload accepted");
	REQUIRE_RC(vfu_sync(C));
out:;
}

static void t_unknown_command(void)
{
	uint32_t junk[4] = { 0 };
	REQUIRE_MSG(expect_error(C, 99, junk, sizeof(junk), NULL, 0, "command 99") == 0,
	            "unknown command 99 not refused");
	REQUIRE_MSG(expect_error(C, 0, NULL, 0, NULL, 0, "command 0") == 0, "command 0 not refused");
	REQUIRE_MSG(expect_error(C, VFU_CMD_DMA_READ, junk, sizeof(junk), NULL, 0, "DMA_READ from the client") == 0,
	            "DMA_READ sent to the server not refused");
	REQUIRE_RC(vfu_sync(C));
	/* an unknown command with the no-reply flag gets no reply */
	REQUIRE_RC(raw_cmd(C, vfu_next_msg_id(C), 99, VFU_F_TYPE_COMMAND | VFU_F_NO_REPLY, junk, sizeof(junk), NULL,
		           0));
	REQUIRE_RC(vfu_sync(C));
out:;
}

static void t_second_client(void)
{
	struct vfu_client *c2 = NULL;
	int rc = vfu_connect(opt.sock, &c2);
	REQUIRE_MSG(rc == -ECONNRESET, "a second client while one is connected: %d (%s), want ECONNRESET", rc,
	            rc ? strerror(-rc) : "connected");
	REQUIRE_RC(vfu_sync(C));
	struct vfu_device_info info;
	REQUIRE_RC(vfu_get_device_info(C, &info));
out:
	vfu_close(c2);
}

static void t_reconnect_fresh(void)
{
	struct host_mem *m = NULL;
	struct irq_bench b = { .efd = NULL };
	REQUIRE_RC(host_mem_create(MIB, &m));
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x10000, -1, 0, VFU_PROT_READ));
	REQUIRE_RC(bench_setup(&b));
	REQUIRE_RC(msix_mask(0, false));
	/* keep vector 0's eventfd; the server holds its own copies of all */
	int old0 = b.efd[0];
	for (uint16_t i = 1; i < b.n; i++)
		close(b.efd[i]);
	free(b.efd);
	b.efd = NULL;
	main_close();
	/* a new client at once */
	int rc = vfu_connect(opt.sock, &C);
	if (rc) {
		C = NULL;
		close(old0);
		REQUIRE_MSG(rc == 0, "reconnect right after a disconnect: %s", strerror(-rc));
	}
	rc = vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW);
	if (!rc)
		rc = vfu_dma_map(C, IOVA_B, 0x10000, -1, 0, VFU_PROT_READ);
	if (rc) {
		close(old0);
		REQUIRE_MSG(rc == 0, "the previous client's DMA maps survived: map of the same ranges: %s",
		            strerror(-rc));
	}
	/* nor do its eventfds: MSI-X may still be enabled, but vector 0 has none */
	rc = msix_trigger(0);
	if (!rc)
		rc = vfu_sync(C);
	uint64_t fired = efd_wait(old0, 100);
	close(old0);
	REQUIRE_RC(rc);
	REQUIRE_MSG(fired == 0, "the previous client's eventfd fired for the new client");
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A, MIB));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x10000));
out:
	host_mem_destroy(m);
}

/* ---- the case table ------------------------------------------------------------ */

enum {
	MAIN_CONN = 1,		/* runs on the main connection (else: it must be closed) */
	NVME_ONLY = 2,
};

static const struct tap_case cases[] = {
	{ "version_reply_caps_subset", t_version_caps, true, 0 },
	{ "version_not_first_refused", t_version_not_first, true, 0 },
	{ "msg_size_below_header_closes", t_msg_size_small, true, 0 },
	{ "msg_size_above_16MiB_closes", t_msg_size_huge, true, 0 },
	{ "version_negotiated", t_version_negotiated, true, MAIN_CONN },
	{ "version_second_refused", t_version_second, true, MAIN_CONN },
	{ "device_get_info", t_device_info, true, MAIN_CONN },
	{ "region_info", t_region_info, true, MAIN_CONN },
	{ "irq_info", t_irq_info, true, MAIN_CONN },
	{ "cfg_ids", t_cfg_ids, true, MAIN_CONN },
	{ "cfg_readonly_fields", t_cfg_readonly, true, MAIN_CONN },
	{ "cfg_status_rw1c", t_cfg_status, true, MAIN_CONN },
	{ "cfg_bar_sizing", t_cfg_bar_sizing, true, MAIN_CONN },
	{ "cfg_capability_chain", t_cfg_caps, true, MAIN_CONN },
	{ "cfg_msix_capability", t_msix_cap, true, MAIN_CONN },
	{ "cfg_vpd_vuid", t_cfg_vpd, true, MAIN_CONN },
	{ "cfg_sriov_capability", t_cfg_sriov, true, MAIN_CONN },
	{ "msix_trigger_eventfd", t_msix_trigger, true, MAIN_CONN },
	{ "msix_vector_mask_pba", t_msix_vector_mask, true, MAIN_CONN },
	{ "msix_function_mask", t_msix_function_mask, true, MAIN_CONN },
	{ "set_irqs_bad", t_set_irqs_bad, true, MAIN_CONN },
	{ "dma_map_unmap", t_dma_map, true, MAIN_CONN },
	{ "dma_map_bad", t_dma_bad, true, MAIN_CONN },
	{ "dma_map_without_fd", t_dma_fdless, true, MAIN_CONN },
	{ "dma_unmap_wrong_range_keeps_connection", t_dma_unmap_wrong, true, MAIN_CONN },
	{ "region_access_bad", t_region_bad, true, MAIN_CONN },
	{ "region_write_posted", t_posted_write, true, MAIN_CONN },
	{ "region_write_multi", t_write_multi, true, MAIN_CONN },
	{ "nvme_doorbells", t_doorbells, true, MAIN_CONN | NVME_ONLY },
	{ "pcie_flr", t_flr, true, MAIN_CONN },
	{ "device_reset", t_device_reset, true, MAIN_CONN },
	{ "unknown_command", t_unknown_command, true, MAIN_CONN },
	{ "second_client_refused", t_second_client, true, MAIN_CONN },
	{ "reconnect_fresh_state", t_reconnect_fresh, true, MAIN_CONN },
};

static const char *case_skip(const struct tap_case *c)
{
	return (c->flags & NVME_ONLY) && opt.virtio ? "NVMe only" : NULL;
}

static bool case_setup(const struct tap_case *c)
{
	if (!(c->flags & MAIN_CONN)) {
		main_close();
		return true;
	}
	if (C && vfu_sync(C)) {
		diag("(the main connection was lost before this case; reconnecting)");
		main_close();
	}
	int rc = main_connect();
	if (rc)
		FAIL("cannot connect to %s: %s", opt.sock, strerror(-rc));
	return rc == 0;
}

static const struct tap_suite suite = {
	.prog = "vfu_conformance", .cases = cases, .ncases = sizeof(cases) / sizeof(cases[0]),
	.skip = case_skip, .setup = case_setup,
};

/* ---- helper mode: NumVFs -------------------------------------------------------- */

static void set_numvfs(void)
{
	uint16_t ctl, total, num;
	REQUIRE_RC(main_connect());
	int cap = vfu_cfg_find_ext_cap(C, EXT_CAP_SRIOV);
	REQUIRE_RC(cap);
	uint32_t at = (uint32_t)cap;
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_TOTAL_VFS, &total));
	REQUIRE_MSG(opt.set_numvfs <= total, "NumVFs %d above TotalVFs %u", opt.set_numvfs, total);
	/* NumVFs may change only while VF Enable is clear */
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_CTRL, &ctl));
	REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_CTRL, (uint16_t)(ctl & ~(SRIOV_CTRL_VFE | SRIOV_CTRL_MSE))));
	REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_NUM_VFS, (uint16_t)opt.set_numvfs));
	if (opt.set_numvfs)
		REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_CTRL, (uint16_t)(ctl | SRIOV_CTRL_VFE | SRIOV_CTRL_MSE)));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_NUM_VFS, &num));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_CTRL, &ctl));
	REQUIRE_MSG(num == opt.set_numvfs, "NumVFs reads %u after writing %d", num, opt.set_numvfs);
	REQUIRE_MSG(!!(ctl & SRIOV_CTRL_VFE) == !!opt.set_numvfs, "VF Enable reads %d", !!(ctl & SRIOV_CTRL_VFE));
out:
	main_close();
}

/* ---- helper mode: VF disabled while its client unmaps ------------------------- */

/* With VFs enabled on the PF at opt.sock, connect to the VF at opt.race_vf,
 * map memory, send DMA_UNMAP without waiting and at once clear VF Enable
 * through the PF, so that the VF endpoint goes away while the unmap waits
 * for its grace period. The service must survive: afterwards the PF still
 * answers. Repeated rounds re-enable the VFs. */
static void race_vf_unmap(void)
{
	int round;
	struct vfu_client *vf = NULL;
	struct host_mem *m = NULL;
	uint16_t ctl, num;
	REQUIRE_RC(main_connect());
	int cap = vfu_cfg_find_ext_cap(C, EXT_CAP_SRIOV);
	REQUIRE_RC(cap);
	uint32_t at = (uint32_t)cap;
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_NUM_VFS, &num));
	REQUIRE_MSG(num >= 1, "enable VFs first (NumVFs %u)", num);
	REQUIRE_RC(host_mem_create(MIB, &m));
	for (round = 0; round < 20; round++) {
		REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_CTRL, &ctl));
		REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_CTRL, (uint16_t)(ctl | SRIOV_CTRL_VFE | SRIOV_CTRL_MSE)));
		int rc = -ENOENT;
		for (int tries = 0; tries < 200 && rc; tries++) {
			rc = vfu_connect(opt.race_vf, &vf);
			if (rc) {
				vf = NULL;
				usleep(5000);
			}
		}
		REQUIRE_RC(rc);
		REQUIRE_RC(vfu_dma_map(vf, IOVA_A, MIB, m->fd, 0, RW));
		struct vfu_msg_dma_unmap u = { .argsz = sizeof(u), .address = IOVA_A, .size = MIB };
		REQUIRE_RC(raw_cmd(vf, vfu_next_msg_id(vf), VFU_CMD_DMA_UNMAP, VFU_F_TYPE_COMMAND, &u,
			   sizeof(u), NULL, 0));
		REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_CTRL, (uint16_t)(ctl & ~(SRIOV_CTRL_VFE | SRIOV_CTRL_MSE))));
		vfu_close(vf);
		vf = NULL;
		REQUIRE_RC(vfu_sync(C));
	}
out:
	vfu_close(vf);
	host_mem_destroy(m);
	main_close();
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: vfu_conformance SOCKET [--nvme|--virtio] [--mmap-doorbells] [--expect-vuid VUID]\n"
		"                       [--vf] [--msix N] [--total-vfs N] [--bdf BDF --first-vf-bdf BDF]\n"
		"                       [--case NAME]... [--list]\n"
		"       vfu_conformance SOCKET --set-numvfs N\n"
		"       vfu_conformance PF_SOCKET --race-vf-unmap VF_SOCKET\n");
}

static int parse_int(const char *s, int max)
{
	char *end;
	long v = strtol(s, &end, 0);
	if (!*s || *end || v < 0 || v > max)
		return -1;
	return (int)v;
}

/* A helper mode: one case of its own, in TAP. */
static int run_one(const char *name, void (*fn)(void))
{
	const struct tap_case one = { name, fn, true, 0 };
	const struct tap_suite s = { .prog = "vfu_conformance", .cases = &one, .ncases = 1 };
	const struct tap_opts none = { .nnames = 0 };
	return tap_run(&s, &none);
}

int main(int argc, char **argv)
{
	struct tap_opts T = { .nnames = 0 };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--nvme")) {
			opt.virtio = false;
		} else if (!strcmp(a, "--virtio")) {
			opt.virtio = true;
		} else if (!strcmp(a, "--mmap-doorbells")) {
			opt.mmap_db = true;
		} else if (!strcmp(a, "--vf")) {
			opt.vf = true;
		} else if (!strcmp(a, "--expect-vuid") && val) {
			opt.vuid = val;
			i++;
		} else if (!strcmp(a, "--msix") && val && (opt.msix = parse_int(val, 2048)) >= 0) {
			i++;
		} else if (!strcmp(a, "--total-vfs") && val && (opt.total_vfs = parse_int(val, 65535)) >= 0) {
			i++;
		} else if (!strcmp(a, "--set-numvfs") && val && (opt.set_numvfs = parse_int(val, 65535)) >= 0) {
			i++;
		} else if (!strcmp(a, "--bdf") && val && (opt.pf_rid = (int)parse_bdf(val)) != (int)UINT32_MAX) {
			i++;
		} else if (!strcmp(a, "--first-vf-bdf") && val &&
			   (opt.first_vf_rid = (int)parse_bdf(val)) != (int)UINT32_MAX) {
			i++;
		} else if (!strcmp(a, "--race-vf-unmap") && val) {
			opt.race_vf = val;
			i++;
		} else if (tap_opt(&T, a, val, &i)) {
			continue;
		} else if (a[0] != '-' && !opt.sock) {
			opt.sock = a;
		} else {
			usage();
			return 2;
		}
	}
	if ((!opt.sock && !T.list) || opt.msix < -1 || opt.total_vfs < 0) {
		usage();
		return 2;
	}
	if (opt.set_numvfs >= 0) {
		char name[32];
		snprintf(name, sizeof(name), "set_numvfs %d", opt.set_numvfs);
		return run_one(name, set_numvfs);
	}
	if (opt.race_vf)
		return run_one("vf_disabled_during_unmap", race_vf_unmap);
	int rc = tap_run(&suite, &T);
	main_close();
	if (rc < 0) {
		usage();
		return 2;
	}
	return rc;
}
