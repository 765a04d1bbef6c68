/* vfio-user client (src/host) against a tiny in-test fake server running on
 * a thread at the other end of a socketpair. The fake misbehaves on demand
 * (error replies, wrong ids, silence, closing mid-request) so that every
 * check of the client is exercised; VPD parsing is tested on a hand-built
 * image. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "host/host_mem.h"
#include "host/vfio_user_client.h"
#include "host/vfio_user_proto.h"

#include "fake_wire.h"

/* ---- the fake server ------------------------------------------------------- */

enum fake_mode {
	FK_NORMAL,
	FK_ERROR,		/* error reply, errno EACCES */
	FK_ERROR_ZERO,		/* error flag with errno 0 */
	FK_ERROR_PAYLOAD,	/* error flag plus a payload */
	FK_WRONG_ID,		/* reply with msg_id + 1 */
	FK_WRONG_CMD,		/* reply with another command */
	FK_CLOSE,		/* close the socket instead of replying */
	FK_HALF_REPLY,		/* send part of a reply, then close */
	FK_SILENT,		/* never reply */
	FK_DMA_FIRST,		/* send a DMA_READ command before the reply */
	FK_BAD_SPARSE,		/* sparse area outside the region */
	FK_NO_FD,		/* MMAP region info without its fd */
	FK_HUGE_SIZE,		/* header msg_size beyond any bound */
};

#define BAR0_SIZE	0x4000u
#define CFG_SIZE	0x1000u
#define VPD_CAP		0x40u

struct fake {
	int fd;
	pthread_t th;
	atomic_int mode;
	/* VERSION reply */
	uint16_t ver_major, ver_minor;
	const char *ver_json;		/* NULL: no version data */
	bool ver_no_nul;
	/* device */
	int bar_fd;
	uint8_t *bar;			/* BAR0 contents, shared with bar_fd */
	uint8_t cfg[CFG_SIZE];
	uint8_t vpd[256];
	int vpd_delay;			/* reads of the address before F rises; -1 never */
	int vpd_pending;
	bool big_sparse;		/* region 0 lists 20 sparse areas (argsz retry) */
	/* observations, read by the test after its call returned */
	char got_json[512];
	int n_region_info;
	uint32_t region_info_argsz[4];
	size_t region_info_plen[4];	/* payload bytes of each request */
	int n_bar_writes;		/* REGION_WRITEs to region 0 */
	uint32_t max_count;
	int n_reads, n_writes, n_replies_to_posted;
	int n_irq_msgs;
	uint32_t irq_start[8], irq_count[8], irq_flags[8];
	int irq_nfds[8];
	uint8_t irq_bools[8];
	int dma_nfds;
	uint64_t dma_iova, dma_size;
	uint32_t dma_flags;
	bool dma_wrote;
	uint16_t dma_reply_id, dma_reply_cmd;
	uint32_t dma_reply_flags, dma_reply_error;
	int n_reset;
	uint8_t *rx;
};

static int fk_read_all(int fd, void *buf, size_t len, int *fds, int *nfds)
{
	return fake_recv(fd, buf, len, fds, nfds, 16);
}

static void fk_send(struct fake *f, uint16_t id, uint16_t cmd, uint32_t flags, uint32_t error,
		    const void *p, size_t len, const int *fds, int nfds)
{
	struct vfu_msg_hdr h = { id, cmd, (uint32_t)(sizeof(h) + len), flags, error };
	fake_send(f->fd, &h, sizeof(h), p, len, fds, nfds);
}

static void fk_reply(struct fake *f, const struct vfu_msg_hdr *rq, const void *p, size_t len,
		     const int *fds, int nfds)
{
	fk_send(f, rq->msg_id, rq->command, VFU_F_TYPE_REPLY, 0, p, len, fds, nfds);
}

static void fk_error(struct fake *f, const struct vfu_msg_hdr *rq, uint32_t err)
{
	fk_send(f, rq->msg_id, rq->command, VFU_F_TYPE_REPLY | VFU_F_ERROR, err, NULL, 0, NULL, 0);
}

static void fk_version(struct fake *f, const struct vfu_msg_hdr *h, const uint8_t *p, size_t len)
{
	size_t jl = len > 4 ? len - 4 : 0;
	if (jl >= sizeof(f->got_json))
		jl = sizeof(f->got_json) - 1;
	memcpy(f->got_json, p + 4, jl);
	f->got_json[jl] = 0;

	uint8_t out[600];
	struct vfu_msg_version v = { f->ver_major, f->ver_minor };
	memcpy(out, &v, sizeof(v));
	size_t n = sizeof(v);
	if (f->ver_json) {
		size_t sl = strlen(f->ver_json) + (f->ver_no_nul ? 0 : 1);
		memcpy(out + n, f->ver_json, sl);
		n += sl;
	}
	fk_reply(f, h, out, n, NULL, 0);
}

static void fk_region_info(struct fake *f, const struct vfu_msg_hdr *h, const uint8_t *p, size_t len,
			   int mode)
{
	struct vfu_msg_region_info rq;
	memcpy(&rq, p, sizeof(rq));
	if (f->n_region_info < 4) {
		f->region_info_argsz[f->n_region_info] = rq.argsz;
		f->region_info_plen[f->n_region_info] = len;
	}
	f->n_region_info++;

	uint8_t out[1024] = { 0 };
	struct vfu_msg_region_info ri = { .index = rq.index };
	size_t full = sizeof(ri);
	bool with_fd = false;
	if (rq.index == 0) {
		uint32_t nr = f->big_sparse ? 20 : 1;
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE |
			   VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
		ri.size = BAR0_SIZE;
		ri.cap_offset = sizeof(ri);
		struct vfu_msg_cap_hdr ch = { VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, 0 };
		struct vfu_msg_sparse_mmap sm = { nr, 0 };
		memcpy(out + full, &ch, sizeof(ch));
		memcpy(out + full + sizeof(ch), &sm, sizeof(sm));
		full += sizeof(ch) + sizeof(sm);
		for (uint32_t i = 0; i < nr; i++) {
			struct vfu_msg_sparse_area a = { 0x1000, 0x1000 };
			if (f->big_sparse)	/* overlapping, page aligned */
				a = (struct vfu_msg_sparse_area){ 0x1000 * (1 + i % 3), 0x1000 };
			if (mode == FK_BAD_SPARSE)
				a = (struct vfu_msg_sparse_area){ 0x3000, 0x2000 };
			memcpy(out + full, &a, sizeof(a));
			full += sizeof(a);
		}
		with_fd = mode != FK_NO_FD;
	} else if (rq.index == VFIO_PCI_CONFIG_REGION_INDEX) {
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		ri.size = CFG_SIZE;
	} else if (rq.index < 9) {
		ri.flags = 0;	/* region not implemented */
	} else {
		fk_error(f, h, EINVAL);
		return;
	}
	ri.argsz = (uint32_t)full;
	memcpy(out, &ri, sizeof(ri));
	/* Too small a request: the fixed part only, the size needed in argsz
	 * (the fd comes along anyway, the client must drop it). */
	size_t send = full <= rq.argsz ? full : sizeof(ri);
	fk_reply(f, h, out, send, &f->bar_fd, with_fd ? 1 : 0);
}

static uint8_t *fk_region(struct fake *f, uint32_t region, uint64_t off, uint32_t count)
{
	if (region == 0 && off <= BAR0_SIZE && count <= BAR0_SIZE - off)
		return f->bar + off;
	if (region == VFIO_PCI_CONFIG_REGION_INDEX && off <= CFG_SIZE && count <= CFG_SIZE - off)
		return f->cfg + off;
	return NULL;
}

/* VPD emulation: a write of the address register latches the data dword
 * and raises F after vpd_delay reads of the address register. */
static void fk_cfg_written(struct fake *f, uint64_t off, uint32_t count)
{
	if (off <= VPD_CAP + 2 && off + count >= VPD_CAP + 4) {
		uint16_t a = (uint16_t)(f->cfg[VPD_CAP + 2] | f->cfg[VPD_CAP + 3] << 8);
		if (a & 0x8000)
			return;
		a &= 0x7ffc;
		if (a + 4u <= sizeof(f->vpd))
			memcpy(&f->cfg[VPD_CAP + 4], &f->vpd[a], 4);
		f->vpd_pending = f->vpd_delay;
		if (f->vpd_delay == 0)
			f->cfg[VPD_CAP + 3] |= 0x80;
	}
}

static void fk_cfg_reading(struct fake *f, uint64_t off)
{
	if (off == VPD_CAP + 2 && f->vpd_pending > 0 && --f->vpd_pending == 0)
		f->cfg[VPD_CAP + 3] |= 0x80;
}

static void fk_rw(struct fake *f, const struct vfu_msg_hdr *h, const uint8_t *p, size_t len)
{
	struct vfu_msg_region_access ra;
	memcpy(&ra, p, sizeof(ra));
	if (ra.count > f->max_count)
		f->max_count = ra.count;
	uint8_t *mem = fk_region(f, ra.region, ra.offset, ra.count);
	if (h->command == VFU_CMD_REGION_READ) {
		f->n_reads++;
		if (!mem) {
			fk_error(f, h, EINVAL);
			return;
		}
		if (ra.region == VFIO_PCI_CONFIG_REGION_INDEX)
			fk_cfg_reading(f, ra.offset);
		uint8_t *out = malloc(sizeof(ra) + ra.count);
		memcpy(out, &ra, sizeof(ra));
		memcpy(out + sizeof(ra), mem, ra.count);
		fk_reply(f, h, out, sizeof(ra) + ra.count, NULL, 0);
		free(out);
		return;
	}
	f->n_writes++;
	if (ra.region == 0)
		f->n_bar_writes++;
	if (mem && len == sizeof(ra) + ra.count) {
		memcpy(mem, p + sizeof(ra), ra.count);
		if (ra.region == VFIO_PCI_CONFIG_REGION_INDEX)
			fk_cfg_written(f, ra.offset, ra.count);
	}
	if (h->flags & VFU_F_NO_REPLY)
		return;
	if (!mem)
		fk_error(f, h, EINVAL);
	else
		fk_reply(f, h, &ra, sizeof(ra), NULL, 0);
}

static void fk_write_multi(struct fake *f, const struct vfu_msg_hdr *h, const uint8_t *p)
{
	struct vfu_msg_write_multi wm;
	memcpy(&wm, p, sizeof(wm));
	for (uint64_t i = 0; i < wm.wr_cnt && i < VFU_WRITE_MULTI_MAX; i++) {
		struct vfu_msg_write_multi_entry e;
		memcpy(&e, p + sizeof(wm) + i * sizeof(e), sizeof(e));
		uint8_t *mem = fk_region(f, e.region, e.offset, e.count);
		if (mem && e.count <= 8)
			memcpy(mem, e.data, e.count);
	}
	if (!(h->flags & VFU_F_NO_REPLY))
		fk_reply(f, h, &wm, sizeof(wm), NULL, 0);
}

static void fk_set_irqs(struct fake *f, const struct vfu_msg_hdr *h, const uint8_t *p, size_t len,
			int *fds, int nfds)
{
	struct vfu_msg_irq_set s;
	memcpy(&s, p, sizeof(s));
	int k = f->n_irq_msgs++;
	if (k < 8) {
		f->irq_start[k] = s.start;
		f->irq_count[k] = s.count;
		f->irq_flags[k] = s.flags;
		f->irq_nfds[k] = nfds;
		for (size_t i = 0; i < len - sizeof(s) && i < 8; i++)
			f->irq_bools[i] = p[sizeof(s) + i];
	}
	for (int i = 0; i < nfds; i++) {
		uint64_t one = 1;
		(void)!write(fds[i], &one, sizeof(one));	/* fire each vector once */
		close(fds[i]);
	}
	fk_reply(f, h, NULL, 0, NULL, 0);
}

static void fk_dma_map(struct fake *f, const struct vfu_msg_hdr *h, const uint8_t *p, int *fds,
		       int nfds)
{
	struct vfu_msg_dma_map m;
	memcpy(&m, p, sizeof(m));
	f->dma_nfds = nfds;
	f->dma_iova = m.address;
	f->dma_size = m.size;
	f->dma_flags = m.flags;
	if (nfds == 1) {
		char *mem = mmap(NULL, m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0], (off_t)m.offset);
		if (mem != MAP_FAILED) {
			strcpy(mem, "written by the server");
			munmap(mem, m.size);
			f->dma_wrote = true;
		}
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	fk_reply(f, h, NULL, 0, NULL, 0);
}

/* A server-to-client DMA_READ before the reply; read the client's answer. */
static void fk_dma_first(struct fake *f)
{
	struct vfu_msg_dma_access d = { 0x1000, 16 };
	fk_send(f, 0x7777, VFU_CMD_DMA_READ, VFU_F_TYPE_COMMAND, 0, &d, sizeof(d), NULL, 0);
	struct vfu_msg_hdr r;
	if (fk_read_all(f->fd, &r, sizeof(r), NULL, NULL) == 0) {
		f->dma_reply_id = r.msg_id;
		f->dma_reply_cmd = r.command;
		f->dma_reply_flags = r.flags;
		f->dma_reply_error = r.error;
	}
}

/* Returns false when the fake should stop. */
static bool fk_handle(struct fake *f, struct vfu_msg_hdr *h, uint8_t *p, size_t len, int *fds, int nfds)
{
	int mode = atomic_exchange(&f->mode, FK_NORMAL);
	switch (mode) {
	case FK_ERROR:
		fk_error(f, h, EACCES);
		return true;
	case FK_ERROR_ZERO:
		fk_error(f, h, 0);
		return true;
	case FK_ERROR_PAYLOAD: {
		uint32_t junk = 0;
		fk_send(f, h->msg_id, h->command, VFU_F_TYPE_REPLY | VFU_F_ERROR, EIO, &junk, 4, NULL, 0);
		return true;
	}
	case FK_WRONG_ID:
		h->msg_id++;
		break;
	case FK_WRONG_CMD:
		h->command = h->command == VFU_CMD_DEVICE_GET_INFO ? VFU_CMD_DEVICE_GET_IRQ_INFO
								     : VFU_CMD_DEVICE_GET_INFO;
		break;
	case FK_CLOSE:
		return false;
	case FK_HALF_REPLY: {
		struct vfu_msg_hdr r = { h->msg_id, h->command, 32, VFU_F_TYPE_REPLY, 0 };
		(void)!send(f->fd, &r, sizeof(r), MSG_NOSIGNAL);
		(void)!send(f->fd, "abcd", 4, MSG_NOSIGNAL);
		return false;
	}
	case FK_HUGE_SIZE: {
		struct vfu_msg_hdr r = { h->msg_id, h->command, 0x7fffffff, VFU_F_TYPE_REPLY, 0 };
		(void)!send(f->fd, &r, sizeof(r), MSG_NOSIGNAL);
		return true;
	}
	case FK_SILENT:
		return true;
	case FK_DMA_FIRST:
		fk_dma_first(f);
		break;
	default:
		break;
	}
	switch (h->command) {
	case VFU_CMD_VERSION:
		fk_version(f, h, p, len);
		break;
	case VFU_CMD_DEVICE_GET_INFO: {
		struct vfu_msg_device_info di = { 16, VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI, 9, 5 };
		fk_reply(f, h, &di, sizeof(di), NULL, 0);
		break;
	}
	case VFU_CMD_DEVICE_GET_REGION_INFO:
		fk_region_info(f, h, p, len, mode);
		break;
	case VFU_CMD_DEVICE_GET_IRQ_INFO: {
		struct vfu_msg_irq_info ii;
		memcpy(&ii, p, sizeof(ii));
		ii.flags = VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE;
		ii.count = ii.index == VFIO_PCI_MSIX_IRQ_INDEX ? 4 : 0;
		fk_reply(f, h, &ii, sizeof(ii), NULL, 0);
		break;
	}
	case VFU_CMD_DEVICE_SET_IRQS:
		fk_set_irqs(f, h, p, len, fds, nfds);
		nfds = 0;
		break;
	case VFU_CMD_REGION_READ:
	case VFU_CMD_REGION_WRITE:
		fk_rw(f, h, p, len);
		break;
	case VFU_CMD_REGION_WRITE_MULTI:
		fk_write_multi(f, h, p);
		break;
	case VFU_CMD_DMA_MAP:
		fk_dma_map(f, h, p, fds, nfds);
		nfds = 0;
		break;
	case VFU_CMD_DMA_UNMAP:
		fk_reply(f, h, p, sizeof(struct vfu_msg_dma_unmap), NULL, 0);
		break;
	case VFU_CMD_DEVICE_RESET:
		f->n_reset++;
		fk_reply(f, h, NULL, 0, NULL, 0);
		break;
	default:
		fk_error(f, h, ENOSYS);
		break;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return true;
}

static void *fk_main(void *arg)
{
	struct fake *f = arg;
	for (;;) {
		struct vfu_msg_hdr h;
		int fds[16], nfds = 0;
		if (fk_read_all(f->fd, &h, sizeof(h), fds, &nfds))
			break;
		size_t len = h.msg_size - sizeof(h);
		if (h.msg_size < sizeof(h) || len > (2u << 20) ||
		    fk_read_all(f->fd, f->rx, len, fds, &nfds))
			break;
		if (!fk_handle(f, &h, f->rx, len, fds, nfds))
			break;
	}
	close(f->fd);
	return NULL;
}

static const uint8_t test_vpd[] = {
	0x82, 0x0a, 0x00, 'o', 's', 'n', 'a', 'p', ' ', 't', 'e', 's', 't',
	0x90, 0x30, 0x00,
	'P', 'N', 0x05, 'P', '1', '2', '3', '4',
	'V', 'U', 0x20, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
			'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
	'R', 'V', 0x02, 0x00, 0x00,
	0x91, 0x06, 0x00, 'Y', 'A', 0x03, 'a', 'b', 'c',
	0x78,
};

static void cfg_put16(uint8_t *cfg, uint32_t off, uint16_t v)
{
	cfg[off] = (uint8_t)v;
	cfg[off + 1] = (uint8_t)(v >> 8);
}

static void cfg_put32(uint8_t *cfg, uint32_t off, uint32_t v)
{
	cfg_put16(cfg, off, (uint16_t)v);
	cfg_put16(cfg, off + 2, (uint16_t)(v >> 16));
}

static void fk_init_device(struct fake *f)
{
	f->bar_fd = memfd_create("fake-bar0", MFD_CLOEXEC);
	assert_true(f->bar_fd >= 0);
	assert_int_equal(ftruncate(f->bar_fd, BAR0_SIZE), 0);
	f->bar = mmap(NULL, BAR0_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->bar_fd, 0);
	assert_true(f->bar != MAP_FAILED);

	cfg_put16(f->cfg, 0x00, 0x1234);		/* vendor */
	cfg_put16(f->cfg, 0x06, 0x0010);		/* status: capability list */
	f->cfg[0x34] = VPD_CAP;
	cfg_put16(f->cfg, VPD_CAP, 0x5003);		/* VPD, next 0x50 */
	cfg_put16(f->cfg, 0x50, 0x6011);		/* MSI-X, next 0x60 */
	cfg_put16(f->cfg, 0x52, 0x0003);		/* 4 vectors, disabled */
	cfg_put32(f->cfg, 0x54, 0x00002000u);		/* table: BAR0 + 0x2000 */
	cfg_put32(f->cfg, 0x58, 0x00002800u);		/* PBA: BAR0 + 0x2800 */
	cfg_put16(f->cfg, 0x60, 0x0010);		/* PCIe, last */
	cfg_put32(f->cfg, 0x100, 0x14010001u);		/* AER v1, next 0x140 */
	cfg_put32(f->cfg, 0x140, 0x00010010u);		/* SR-IOV v1, last */
	memcpy(f->vpd, test_vpd, sizeof(test_vpd));
	f->vpd_delay = 3;
}

static const char default_caps[] =
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"pgsizes\":4096,\"max_dma_maps\":65535,\"write_multiple\":true}}";

struct env {
	struct fake f;
	struct vfu_client *c;
};

/* A fake on a socketpair and a client on the other end, not negotiated. */
static struct env *env_new(void)
{
	struct env *e = calloc(1, sizeof(*e));
	assert_non_null(e);
	int sv[2];
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	e->f.fd = sv[1];
	e->f.ver_json = default_caps;
	e->f.rx = malloc(2u << 20);
	fk_init_device(&e->f);
	assert_int_equal(pthread_create(&e->f.th, NULL, fk_main, &e->f), 0);
	assert_int_equal(vfu_client_from_fd(sv[0], &e->c), 0);
	return e;
}

static void env_free(struct env *e)
{
	vfu_close(e->c);	/* the fake sees EOF and ends */
	pthread_join(e->f.th, NULL);
	munmap(e->f.bar, BAR0_SIZE);
	close(e->f.bar_fd);
	free(e->f.rx);
	free(e);
}

static int setup(void **state)
{
	struct env *e = env_new();
	if (vfu_negotiate(e->c))
		return -1;
	*state = e;
	return 0;
}

static int setup_raw(void **state)
{
	*state = env_new();
	return 0;
}

static int teardown(void **state)
{
	env_free(*state);
	return 0;
}

/* ---- VERSION ----------------------------------------------------------------- */

static void test_version_ok(void **state)
{
	struct env *e = *state;
	assert_string_equal(e->f.got_json, default_caps);
	const struct vfu_caps *caps = vfu_get_caps(e->c);
	assert_int_equal(caps->max_msg_fds, 8);
	assert_int_equal(caps->max_data_xfer_size, 1048576);
	assert_int_equal(caps->pgsizes, 4096);
	assert_int_equal(caps->max_dma_maps, 65535);
	assert_true(caps->write_multiple);
}

static int negotiate_with(const char *json, uint16_t major, uint16_t minor, bool no_nul,
			  struct vfu_caps *caps)
{
	struct env *e = env_new();
	e->f.ver_json = json;
	e->f.ver_major = major;
	e->f.ver_minor = minor;
	e->f.ver_no_nul = no_nul;
	int rc = vfu_negotiate(e->c);
	if (caps)
		*caps = *vfu_get_caps(e->c);
	env_free(e);
	return rc;
}

static void test_version_defaults(void **state)
{
	(void)state;
	struct vfu_caps caps;
	assert_int_equal(negotiate_with("{\"capabilities\":{\"max_msg_fds\":4}}", 0, 0, false, &caps), 0);
	assert_int_equal(caps.max_msg_fds, 4);
	assert_int_equal(caps.max_data_xfer_size, 1u << 20);
	assert_int_equal(caps.pgsizes, 4096);
	assert_int_equal(caps.max_dma_maps, 65535);
	assert_false(caps.write_multiple);
	/* No version data at all: every default. */
	assert_int_equal(negotiate_with(NULL, 0, 0, false, &caps), 0);
	assert_int_equal(caps.max_msg_fds, 1);
	assert_false(caps.write_multiple);
	/* Unknown keys and a declined twin socket are fine. */
	assert_int_equal(negotiate_with("{\"capabilities\":{\"future\":1,"
					"\"twin_socket\":{\"supported\":false}}}", 0, 0, false, NULL), 0);
}

static void test_version_bad(void **state)
{
	(void)state;
	assert_int_equal(negotiate_with(default_caps, 1, 0, false, NULL), -EPROTO);
	assert_int_equal(negotiate_with(default_caps, 0, 1, false, NULL), -EPROTO);
	assert_int_equal(negotiate_with(default_caps, 0, 0, true, NULL), -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":", 0, 0, false, NULL), -EPROTO);
	assert_int_equal(negotiate_with("[1]", 0, 0, false, NULL), -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":{\"max_msg_fds\":\"8\"}}", 0, 0, false, NULL),
			 -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":{\"max_data_xfer_size\":0}}", 0, 0, false, NULL),
			 -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":{\"write_multiple\":1}}", 0, 0, false, NULL),
			 -EPROTO);
	assert_int_equal(negotiate_with("{\"capabilities\":{\"twin_socket\":{\"supported\":true,"
					"\"fd_index\":0}}}", 0, 0, false, NULL), -EPROTO);
}

static void test_connect_path(void **state)
{
	(void)state;
	struct vfu_client *c;
	char longpath[200];
	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	assert_int_equal(vfu_connect(longpath, &c), -ENAMETOOLONG);
	assert_int_equal(vfu_connect("/nonexistent/osnap-vfu.sock", &c), -ENOENT);
}

/* ---- information --------------------------------------------------------------- */

static void test_device_info(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	assert_int_equal(vfu_get_device_info(e->c, &di), 0);
	assert_int_equal(di.flags, VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI);
	assert_int_equal(di.num_regions, 9);
	assert_int_equal(di.num_irqs, 5);

	struct vfu_irq_info ii;
	assert_int_equal(vfu_get_irq_info(e->c, VFIO_PCI_MSIX_IRQ_INDEX, &ii), 0);
	assert_int_equal(ii.index, VFIO_PCI_MSIX_IRQ_INDEX);
	assert_int_equal(ii.count, 4);
	assert_int_equal(ii.flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);
	assert_int_equal(vfu_device_reset(e->c), 0);
	assert_int_equal(e->f.n_reset, 1);
}

static void test_region_info_sparse(void **state)
{
	struct env *e = *state;
	struct vfu_region_info ri;
	struct vfu_sparse_area a[4];
	int fd = -1;
	assert_int_equal(vfu_get_region_info(e->c, 0, &ri, a, 4, &fd), 0);
	assert_int_equal(ri.index, 0);
	assert_int_equal(ri.size, BAR0_SIZE);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_true(ri.sparse);
	assert_int_equal(ri.nr_areas, 1);
	assert_int_equal(a[0].offset, 0x1000);
	assert_int_equal(a[0].size, 0x1000);
	struct stat st;
	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, BAR0_SIZE);
	close(fd);
	assert_int_equal(e->f.n_region_info, 1);
	/* the request carries argsz bytes (its whole reply buffer) */
	assert_true(e->f.region_info_argsz[0] > 32);
	assert_int_equal(e->f.region_info_plen[0], e->f.region_info_argsz[0]);

	/* Config space: no fd, no caps. */
	assert_int_equal(vfu_get_region_info(e->c, VFIO_PCI_CONFIG_REGION_INDEX, &ri, NULL, 0, &fd), 0);
	assert_int_equal(fd, -1);
	assert_false(ri.sparse);
	assert_int_equal(ri.size, CFG_SIZE);
	/* A bad index gets the server's errno. */
	assert_int_equal(vfu_get_region_info(e->c, 99, &ri, NULL, 0, NULL), -EINVAL);
}

static void test_region_info_retry(void **state)
{
	struct env *e = *state;
	struct vfu_region_info ri;
	struct vfu_sparse_area a[4];
	e->f.big_sparse = true;
	assert_int_equal(vfu_get_region_info(e->c, 0, &ri, a, 4, NULL), 0);
	/* the first argsz was too small: asked again with the server's size */
	assert_int_equal(e->f.n_region_info, 2);
	assert_int_equal(e->f.region_info_argsz[1], 32 + 16 + 20 * 16);
	assert_true(e->f.region_info_argsz[0] < e->f.region_info_argsz[1]);
	/* both rounds sent argsz bytes */
	assert_int_equal(e->f.region_info_plen[0], e->f.region_info_argsz[0]);
	assert_int_equal(e->f.region_info_plen[1], e->f.region_info_argsz[1]);
	assert_int_equal(ri.nr_areas, 20);	/* all listed, 4 copied */
	assert_int_equal(a[3].offset, 0x1000);
	assert_int_equal(a[2].offset, 0x3000);
	/* mapping with more areas than the client's first guess */
	void *p;
	assert_int_equal(vfu_map_region(e->c, 0, &p), 0);
	((uint8_t *)p)[0x3004] = 0x77;
	assert_int_equal(e->f.bar[0x3004], 0x77);
}

static void test_region_info_bad(void **state)
{
	struct env *e = *state;
	struct vfu_region_info ri;
	int fd = 7777;
	atomic_store(&e->f.mode, FK_BAD_SPARSE);
	assert_int_equal(vfu_get_region_info(e->c, 0, &ri, NULL, 0, &fd), -EPROTO);
	assert_int_equal(fd, -1);
	atomic_store(&e->f.mode, FK_NO_FD);
	assert_int_equal(vfu_get_region_info(e->c, 0, &ri, NULL, 0, &fd), -EPROTO);
	/* content errors leave the client usable */
	assert_int_equal(vfu_sync(e->c), 0);
}

static void test_map_region(void **state)
{
	struct env *e = *state;
	void *p, *q;
	assert_int_equal(vfu_map_region(e->c, 0, &p), 0);
	assert_int_equal(vfu_map_region(e->c, 0, &q), 0);
	assert_ptr_equal(p, q);
	/* the sparse area is the server's memory */
	memcpy((uint8_t *)p + 0x1000, "doorbell", 8);
	assert_memory_equal(e->f.bar + 0x1000, "doorbell", 8);
	e->f.bar[0x1ff0] = 0x5a;
	assert_int_equal(((uint8_t *)p)[0x1ff0], 0x5a);
	assert_int_equal(vfu_unmap_region(e->c, 0), 0);
	assert_int_equal(vfu_unmap_region(e->c, 0), -ENOENT);
	/* config space is not mappable */
	assert_int_equal(vfu_map_region(e->c, VFIO_PCI_CONFIG_REGION_INDEX, &p), -EOPNOTSUPP);
	/* left mapped on purpose: vfu_close() must undo it */
	assert_int_equal(vfu_map_region(e->c, 0, &p), 0);
}

/* ---- region access ---------------------------------------------------------------- */

static void test_region_rw(void **state)
{
	struct env *e = *state;
	uint8_t buf[300], back[300];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7);
	assert_int_equal(vfu_region_write(e->c, 0, 0x100, buf, sizeof(buf), false), 0);
	assert_memory_equal(e->f.bar + 0x100, buf, sizeof(buf));
	assert_int_equal(vfu_region_read(e->c, 0, 0x100, back, sizeof(back)), 0);
	assert_memory_equal(back, buf, sizeof(buf));
	/* out of range: the server's EINVAL */
	assert_int_equal(vfu_region_read(e->c, 0, BAR0_SIZE - 2, back, 4), -EINVAL);

	/* posted: no reply; the next round trip implies it was processed */
	uint32_t v = 0xfeedf00d, r;
	int writes = e->f.n_writes;
	assert_int_equal(vfu_region_write(e->c, 0, 0x20, &v, 4, true), 0);
	assert_int_equal(vfu_region_write(e->c, 0, 0x24, &v, 4, true), 0);
	assert_int_equal(vfu_sync(e->c), 0);
	assert_int_equal(e->f.n_writes, writes + 2);
	assert_int_equal(vfu_region_read(e->c, 0, 0x24, &r, 4), 0);
	assert_int_equal(r, v);
}

static void test_region_rw_chunked(void **state)
{
	(void)state;
	struct env *e = env_new();
	e->f.ver_json = "{\"capabilities\":{\"max_data_xfer_size\":64}}";
	assert_int_equal(vfu_negotiate(e->c), 0);
	uint8_t buf[200], back[200];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i ^ 0x55);
	assert_int_equal(vfu_region_write(e->c, 0, 0x200, buf, sizeof(buf), false), 0);
	assert_int_equal(e->f.n_writes, 4);
	assert_int_equal(vfu_region_read(e->c, 0, 0x200, back, sizeof(back)), 0);
	assert_int_equal(e->f.n_reads, 4);
	assert_int_equal(e->f.max_count, 64);
	assert_memory_equal(back, buf, sizeof(buf));
	env_free(e);
}

static void test_write_multi(void **state)
{
	struct env *e = *state;
	struct vfu_write w[3] = {
		{ .region = 0, .count = 4, .offset = 0x300, .data = { 1, 2, 3, 4 } },
		{ .region = 0, .count = 8, .offset = 0x308, .data = { 9, 9, 9, 9, 9, 9, 9, 9 } },
		{ .region = VFIO_PCI_CONFIG_REGION_INDEX, .count = 2, .offset = 0x04, .data = { 6, 0 } },
	};
	assert_int_equal(vfu_region_write_multi(e->c, w, 3, false), 0);
	assert_memory_equal(e->f.bar + 0x300, w[0].data, 4);
	assert_memory_equal(e->f.bar + 0x308, w[1].data, 8);
	assert_int_equal(e->f.cfg[4], 6);
	assert_int_equal(vfu_region_write_multi(e->c, w, 0, false), -EINVAL);
	w[1].count = 9;
	assert_int_equal(vfu_region_write_multi(e->c, w, 3, false), -EINVAL);

	struct env *e2 = env_new();
	e2->f.ver_json = "{\"capabilities\":{}}";
	assert_int_equal(vfu_negotiate(e2->c), 0);
	assert_int_equal(vfu_region_write_multi(e2->c, w, 1, false), -EOPNOTSUPP);
	env_free(e2);
}

/* ---- interrupts and memory --------------------------------------------------------- */

static void test_set_irqs(void **state)
{
	(void)state;
	struct env *e = env_new();
	e->f.ver_json = "{\"capabilities\":{\"max_msg_fds\":2}}";
	assert_int_equal(vfu_negotiate(e->c), 0);
	int efd[5];
	for (int i = 0; i < 5; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint32_t trig = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 5, efd, NULL), 0);
	/* split by the server's max_msg_fds = 2 */
	assert_int_equal(e->f.n_irq_msgs, 3);
	assert_int_equal(e->f.irq_start[0], 0);
	assert_int_equal(e->f.irq_count[0], 2);
	assert_int_equal(e->f.irq_nfds[0], 2);
	assert_int_equal(e->f.irq_start[2], 4);
	assert_int_equal(e->f.irq_count[2], 1);
	assert_int_equal(e->f.irq_nfds[2], 1);
	/* the fake fired every vector through the fd it received */
	for (int i = 0; i < 5; i++) {
		uint64_t n = 0;
		assert_int_equal(read(efd[i], &n, sizeof(n)), sizeof(n));
		assert_int_equal(n, 1);
	}
	/* mask with bools, unmask with no data, de-assign without fds */
	uint8_t bools[3] = { 1, 0, 1 };
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX,
				      VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_MASK, 1, 3, NULL, bools), 0);
	assert_int_equal(e->f.irq_count[3], 3);
	assert_memory_equal(e->f.irq_bools, bools, 3);
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX,
				      VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK, 0, 4, NULL, NULL), 0);
	assert_int_equal(e->f.irq_flags[4], VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK);
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 4, NULL, NULL), 0);
	assert_int_equal(e->f.irq_nfds[5], 0);
	/* mismatched data */
	assert_int_equal(vfu_set_irqs(e->c, 2, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
				      0, 1, efd, NULL), -EINVAL);
	int bad[1] = { -2 };
	assert_int_equal(vfu_set_irqs(e->c, 2, trig, 0, 1, bad, NULL), -EINVAL);
	/* -1 entries: runs of fds and runs of "no fd" in separate messages
	 * (as QEMU's vfio-user-pci sends them), each run split at max_msg_fds */
	int mixed[6] = { efd[0], -1, -1, -1, efd[1], efd[2] };
	e->f.n_irq_msgs = 0;
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 6, mixed, NULL), 0);
	assert_int_equal(e->f.n_irq_msgs, 4);
	static const uint32_t want_start[4] = { 0, 1, 3, 4 }, want_count[4] = { 1, 2, 1, 2 };
	static const int want_nfds[4] = { 1, 0, 0, 2 };
	for (int i = 0; i < 4; i++) {
		assert_int_equal(e->f.irq_start[i], want_start[i]);
		assert_int_equal(e->f.irq_count[i], want_count[i]);
		assert_int_equal(e->f.irq_nfds[i], want_nfds[i]);
		assert_int_equal(e->f.irq_flags[i], trig);
	}
	int none[1] = { -1 };
	assert_int_equal(vfu_set_irqs(e->c, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 1, none, NULL), 0);
	assert_int_equal(e->f.irq_nfds[4], 0);
	assert_int_equal(e->f.irq_count[4], 1);
	for (int i = 0; i < 5; i++)
		close(efd[i]);
	env_free(e);
}

/* MSI-X the VFIO way: config space and SET_IRQS only, the table untouched. */
static void test_msix(void **state)
{
	struct env *e = *state;
	struct vfu_msix_info mi;
	assert_int_equal(vfu_msix_info(e->c, &mi), 0);
	assert_int_equal(mi.cap, 0x50);
	assert_int_equal(mi.table_size, 4);
	assert_int_equal(mi.table_bar, 0);
	assert_int_equal(mi.table_off, 0x2000);
	assert_int_equal(mi.pba_bar, 0);
	assert_int_equal(mi.pba_off, 0x2800);
	assert_int_equal(mi.irq_count, 4);
	assert_int_equal(mi.irq_flags, VFIO_IRQ_INFO_EVENTFD | VFIO_IRQ_INFO_NORESIZE);

	int efd[5];
	for (int i = 0; i < 5; i++)
		efd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	uint32_t trig = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(vfu_msix_enable(e->c, efd, 5), -EINVAL);	/* above the table */
	assert_int_equal(vfu_msix_enable(e->c, efd, 0), -EINVAL);
	assert_int_equal(e->f.n_irq_msgs, 0);
	e->f.cfg[0x53] |= 0x08;		/* a reserved bit (11): kept by every update */
	assert_int_equal(vfu_msix_enable(e->c, efd, 3), 0);
	assert_int_equal(e->f.n_irq_msgs, 2);
	assert_int_equal(e->f.irq_flags[0], trig);	/* vector 0 without an fd first */
	assert_int_equal(e->f.irq_start[0], 0);
	assert_int_equal(e->f.irq_count[0], 1);
	assert_int_equal(e->f.irq_nfds[0], 0);
	assert_int_equal(e->f.irq_flags[1], trig);
	assert_int_equal(e->f.irq_start[1], 0);
	assert_int_equal(e->f.irq_count[1], 3);
	assert_int_equal(e->f.irq_nfds[1], 3);
	assert_int_equal(e->f.cfg[0x53] & 0xc0, 0x80);	/* enabled, function unmasked */
	assert_int_equal(e->f.cfg[0x52], 0x03);
	assert_int_equal(e->f.cfg[0x53] & 0x3f, 0x08);
	assert_int_equal(e->f.n_bar_writes, 0);		/* the table never written */

	assert_int_equal(vfu_msix_mask(e->c, 1, 2, true), 0);
	assert_int_equal(e->f.irq_flags[2], VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK);
	assert_int_equal(e->f.irq_start[2], 1);
	assert_int_equal(e->f.irq_count[2], 2);
	assert_int_equal(vfu_msix_mask(e->c, 2, 1, false), 0);
	assert_int_equal(e->f.irq_flags[3], VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK);
	assert_int_equal(e->f.irq_start[3], 2);
	assert_int_equal(vfu_msix_mask(e->c, 0, 0, true), -EINVAL);

	assert_int_equal(vfu_msix_function_mask(e->c, true), 0);
	assert_int_equal(e->f.cfg[0x53] & 0xc0, 0xc0);
	assert_int_equal(vfu_msix_function_mask(e->c, false), 0);
	assert_int_equal(e->f.cfg[0x53] & 0xc0, 0x80);
	assert_int_equal(e->f.cfg[0x52], 0x03);
	assert_int_equal(e->f.cfg[0x53] & 0x3f, 0x08);

	bool pend = true;
	assert_int_equal(vfu_msix_pending(e->c, 1, &pend), 0);
	assert_false(pend);
	e->f.bar[0x2800] = 0x02;
	assert_int_equal(vfu_msix_pending(e->c, 1, &pend), 0);
	assert_true(pend);
	assert_int_equal(vfu_msix_pending(e->c, 0, &pend), 0);
	assert_false(pend);
	assert_int_equal(vfu_msix_pending(e->c, 4, &pend), -EINVAL);

	assert_int_equal(vfu_msix_disable(e->c), 0);
	assert_int_equal(e->f.irq_flags[4], VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER);
	assert_int_equal(e->f.irq_count[4], 0);
	assert_int_equal(e->f.cfg[0x53] & 0xc0, 0);
	assert_int_equal(e->f.cfg[0x52], 0x03);
	assert_int_equal(e->f.cfg[0x53] & 0x3f, 0x08);
	assert_int_equal(e->f.n_bar_writes, 0);
	for (int i = 0; i < 5; i++)
		close(efd[i]);
}

static void test_dma_map(void **state)
{
	struct env *e = *state;
	struct host_mem *m;
	assert_int_equal(host_mem_create(100000, &m), 0);
	assert_int_equal(m->size % 4096, 0);
	assert_int_equal(vfu_dma_map(e->c, 0x100000, m->size, m->fd, 0, VFU_PROT_READ | VFU_PROT_WRITE), 0);
	assert_true(e->f.dma_wrote);
	assert_int_equal(e->f.dma_nfds, 1);
	assert_int_equal(e->f.dma_iova, 0x100000);
	assert_int_equal(e->f.dma_size, m->size);
	assert_int_equal(e->f.dma_flags, 3);
	assert_string_equal(m->ptr, "written by the server");
	assert_int_equal(vfu_dma_unmap(e->c, 0x100000, m->size), 0);
	/* without fd */
	assert_int_equal(vfu_dma_map(e->c, 0x200000, 4096, -1, 0, VFU_PROT_READ), 0);
	assert_int_equal(e->f.dma_nfds, 0);
	host_mem_destroy(m);
	assert_int_equal(host_mem_create(0, &m), -EINVAL);
}

/* ---- misbehaving servers ----------------------------------------------------------- */

static void test_error_reply(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_ERROR);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EACCES);
	atomic_store(&e->f.mode, FK_ERROR_ZERO);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EIO);
	atomic_store(&e->f.mode, FK_ERROR_PAYLOAD);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EPROTO);
	/* still usable */
	assert_int_equal(vfu_get_device_info(e->c, &di), 0);
}

static void test_wrong_id(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_WRONG_ID);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EPROTO);
	assert_int_equal(vfu_get_device_info(e->c, &di), -ENOTCONN);
}

static void test_wrong_cmd(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_WRONG_CMD);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EPROTO);
	assert_int_equal(vfu_sync(e->c), -ENOTCONN);
}

static void test_server_closes(void **state)
{
	struct env *e = *state;
	uint8_t b[4];
	atomic_store(&e->f.mode, FK_CLOSE);
	assert_int_equal(vfu_region_read(e->c, 0, 0, b, 4), -ECONNRESET);
	assert_int_equal(vfu_region_read(e->c, 0, 0, b, 4), -ENOTCONN);
}

static void test_server_half_reply(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_HALF_REPLY);
	assert_int_equal(vfu_get_device_info(e->c, &di), -ECONNRESET);
}

static void test_huge_size(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_HUGE_SIZE);
	assert_int_equal(vfu_get_device_info(e->c, &di), -EPROTO);
	assert_int_equal(vfu_sync(e->c), -ENOTCONN);
}

static void test_timeout(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	struct timespec t0, t1;
	vfu_set_timeout(e->c, 200);
	atomic_store(&e->f.mode, FK_SILENT);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(vfu_get_device_info(e->c, &di), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	long ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
	assert_true(ms >= 150 && ms < 2000);
	assert_int_equal(vfu_sync(e->c), -ENOTCONN);
}

static void test_server_command(void **state)
{
	struct env *e = *state;
	struct vfu_device_info di;
	atomic_store(&e->f.mode, FK_DMA_FIRST);
	assert_int_equal(vfu_get_device_info(e->c, &di), 0);
	assert_int_equal(di.num_regions, 9);
	assert_int_equal(e->f.dma_reply_id, 0x7777);
	assert_int_equal(e->f.dma_reply_cmd, VFU_CMD_DMA_READ);
	assert_int_equal(e->f.dma_reply_flags, VFU_F_TYPE_REPLY | VFU_F_ERROR);
	assert_int_equal(e->f.dma_reply_error, ENOTSUP);
}

/* ---- raw ------------------------------------------------------------------------------ */

static void test_raw(void **state)
{
	struct env *e = *state;
	struct {
		struct vfu_msg_hdr h;
		struct vfu_msg_device_info di;
	} __attribute__((packed)) m = {
		{ 0x4242, VFU_CMD_DEVICE_GET_INFO, sizeof(m), VFU_F_TYPE_COMMAND, 0 },
		{ 16, 0, 0, 0 },
	};
	uint8_t buf[64];
	size_t len;
	int fds[2], nfds = 2;
	/* nothing pending: a timeout that leaves the client usable */
	assert_int_equal(vfu_recv_raw(e->c, buf, sizeof(buf), &len, fds, &nfds, 50), -ETIMEDOUT);
	assert_int_equal(vfu_send_raw(e->c, &m, sizeof(m), NULL, 0), 0);
	assert_int_equal(vfu_recv_raw(e->c, buf, sizeof(buf), &len, fds, &nfds, 0), 0);
	assert_int_equal(len, 32);
	assert_int_equal(nfds, 0);
	struct vfu_msg_hdr h;
	memcpy(&h, buf, sizeof(h));
	assert_int_equal(h.msg_id, 0x4242);
	assert_int_equal(h.flags, VFU_F_TYPE_REPLY);
	/* truncated copy */
	m.h.msg_id = vfu_next_msg_id(e->c);
	assert_int_equal(vfu_send_raw(e->c, &m, sizeof(m), NULL, 0), 0);
	assert_int_equal(vfu_recv_raw(e->c, buf, 20, &len, NULL, NULL, 0), -EMSGSIZE);
	assert_int_equal(len, 32);
	/* the fd of a region info reply */
	struct {
		struct vfu_msg_hdr h;
		struct vfu_msg_region_info ri;
	} __attribute__((packed)) q = {
		{ 1, VFU_CMD_DEVICE_GET_REGION_INFO, sizeof(q), VFU_F_TYPE_COMMAND, 0 },
		{ .argsz = 512, .index = 0 },
	};
	uint8_t big[600];
	nfds = 2;
	assert_int_equal(vfu_send_raw(e->c, &q, sizeof(q), NULL, 0), 0);
	assert_int_equal(vfu_recv_raw(e->c, big, sizeof(big), &len, fds, &nfds, 0), 0);
	assert_int_equal(nfds, 1);
	close(fds[0]);
	assert_int_equal(vfu_sync(e->c), 0);
	/* server gone */
	atomic_store(&e->f.mode, FK_CLOSE);
	assert_int_equal(vfu_send_raw(e->c, &m, sizeof(m), NULL, 0), 0);
	assert_int_equal(vfu_recv_raw(e->c, buf, sizeof(buf), &len, NULL, NULL, 0), -ECONNRESET);
}

/* ---- config space and VPD ----------------------------------------------------------------- */

static void test_cfg_caps(void **state)
{
	struct env *e = *state;
	uint16_t vendor;
	assert_int_equal(vfu_cfg_read16(e->c, 0, &vendor), 0);
	assert_int_equal(vendor, 0x1234);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x03), 0x40);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x11), 0x50);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x10), 0x60);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x05), -ENOENT);
	assert_int_equal(vfu_cfg_find_ext_cap(e->c, 0x0001), 0x100);
	assert_int_equal(vfu_cfg_find_ext_cap(e->c, 0x0010), 0x140);
	assert_int_equal(vfu_cfg_find_ext_cap(e->c, 0x000b), -ENOENT);

	/* loops are caught */
	assert_int_equal(vfu_cfg_write16(e->c, 0x60, 0x4010), 0);	/* PCIe -> VPD */
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x05), -ELOOP);
	assert_int_equal(vfu_cfg_write32(e->c, 0x140, 0x10010010u), 0);	/* -> 0x100 */
	assert_int_equal(vfu_cfg_find_ext_cap(e->c, 0x000b), -ELOOP);
	/* a pointer into the header is refused */
	assert_int_equal(vfu_cfg_write16(e->c, 0x60, 0x0810), 0);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x05), -EPROTO);
	/* no capability list bit */
	assert_int_equal(vfu_cfg_write16(e->c, 0x06, 0), 0);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x03), -ENOENT);
}

static void test_cfg_vpd(void **state)
{
	struct env *e = *state;
	uint8_t vpd[sizeof(test_vpd)];
	char vu[40];
	assert_int_equal(vfu_cfg_read_vpd(e->c, vpd, sizeof(vpd)), 0);
	assert_memory_equal(vpd, test_vpd, sizeof(vpd));
	assert_int_equal(vfu_vpd_find_keyword(vpd, sizeof(vpd), "VU", vu, sizeof(vu)), 32);
	assert_string_equal(vu, "0123456789abcdef0123456789abcdef");
	/* F never rises */
	e->f.vpd_delay = -1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(vfu_cfg_read_vpd(e->c, vpd, 4), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 3);
	assert_int_equal(vfu_cfg_read_vpd(e->c, vpd, 0x8001), -EINVAL);
}

static void test_vpd_parse(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "PN", out, sizeof(out)), 5);
	assert_string_equal(out, "P1234");
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "YA", out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "SN", out, sizeof(out)), -ENOENT);
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "VU", out, 16), -ENOSPC);
	/* exactly the value size: no room for the NUL, still fine */
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "PN", out, 5), 5);
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "VUX", out, 64), -EINVAL);
	/* truncated inside the VPD-R resource */
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, 30, "VU", out, sizeof(out)), -EBADMSG);
	/* the identifier string alone */
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, 13, "VU", out, sizeof(out)), -ENOENT);
	/* keyword after the end tag is not seen; a small resource is skipped */
	static const uint8_t img[] = {
		0x22, 0xaa, 0xbb,			/* small resource, 2 bytes */
		0x90, 0x05, 0x00, 'S', 'N', 0x02, 'o', 'k',
		0x78,
		0x90, 0x05, 0x00, 'X', 'X', 0x02, 'n', 'o',
	};
	assert_int_equal(vfu_vpd_find_keyword(img, sizeof(img), "SN", out, sizeof(out)), 2);
	assert_string_equal(out, "ok");
	assert_int_equal(vfu_vpd_find_keyword(img, sizeof(img), "XX", out, sizeof(out)), -ENOENT);
	/* a keyword whose length runs past its resource */
	static const uint8_t bad[] = { 0x90, 0x04, 0x00, 'S', 'N', 0x05, 'x', 0x78 };
	assert_int_equal(vfu_vpd_find_keyword(bad, sizeof(bad), "ZZ", out, sizeof(out)), -EBADMSG);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_version_ok, setup, teardown),
		cmocka_unit_test(test_version_defaults),
		cmocka_unit_test(test_version_bad),
		cmocka_unit_test(test_connect_path),
		cmocka_unit_test_setup_teardown(test_device_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_info_sparse, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_info_retry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_info_bad, setup, teardown),
		cmocka_unit_test_setup_teardown(test_map_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_rw, setup, teardown),
		cmocka_unit_test(test_region_rw_chunked),
		cmocka_unit_test_setup_teardown(test_write_multi, setup, teardown),
		cmocka_unit_test(test_set_irqs),
		cmocka_unit_test_setup_teardown(test_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dma_map, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_id, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_cmd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_half_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_huge_size, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_server_command, setup, teardown),
		cmocka_unit_test_setup_teardown(test_raw, setup_raw, teardown),
		cmocka_unit_test_setup_teardown(test_cfg_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cfg_vpd, setup, teardown),
		cmocka_unit_test(test_vpd_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
