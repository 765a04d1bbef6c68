/* test_vfu_client: the fake vfio-user server (a thread at the other end of
 * a socketpair, misbehaving on demand) and the fixtures that pair it with
 * a client. */
#include "test_vfu_client.h"

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

const char default_caps[] =
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
	"\"pgsizes\":4096,\"max_dma_maps\":65535,\"write_multiple\":true}}";

/* A fake on a socketpair and a client on the other end, not negotiated. */
struct env *env_new(void)
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

void env_free(struct env *e)
{
	vfu_close(e->c);	/* the fake sees EOF and ends */
	pthread_join(e->f.th, NULL);
	munmap(e->f.bar, BAR0_SIZE);
	close(e->f.bar_fd);
	free(e->f.rx);
	free(e);
}

int setup(void **state)
{
	struct env *e = env_new();
	if (vfu_negotiate(e->c))
		return -1;
	*state = e;
	return 0;
}

int setup_raw(void **state)
{
	*state = env_new();
	return 0;
}

int teardown(void **state)
{
	env_free(*state);
	return 0;
}
