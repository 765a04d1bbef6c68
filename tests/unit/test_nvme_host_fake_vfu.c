/* test_nvme_host: the fake NVMe controller's vfio-user side (regions,
 * DMA maps, SET_IRQS), its thread, start and stop; opening the driver on it. */
#include "test_nvme_host.h"

/* ---- vfio-user transport of the fake ---- */

static void fk_reply(struct fk *f, const struct vfu_msg_hdr *rq, const void *p, size_t len, int fd)
{
	struct vfu_msg_hdr h = { rq->msg_id, rq->command, (uint32_t)(sizeof(h) + len),
				 VFU_F_TYPE_REPLY, 0 };
	fake_send(f->fd, &h, sizeof(h), p, len, &fd, fd >= 0 ? 1 : 0);
}

static void fk_region_info(struct fk *f, const struct vfu_msg_hdr *h, const uint8_t *p)
{
	struct vfu_msg_region_info rq, ri = { 0 };
	uint8_t out[128] = { 0 };
	size_t n = sizeof(ri);
	int fd = -1;

	memcpy(&rq, p, sizeof(rq));
	ri.index = rq.index;
	if (rq.index == 0) {
		ri.size = FK_BAR0;
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
		if (f->mmap_db) {
			ri.flags |= VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS;
			ri.cap_offset = sizeof(ri);
			struct vfu_msg_cap_hdr ch = { VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, 0 };
			struct vfu_msg_sparse_mmap sm = { 1, 0 };
			struct vfu_msg_sparse_area a = { 0x1000, 0x1000 };
			memcpy(out + n, &ch, sizeof(ch));
			n += sizeof(ch);
			memcpy(out + n, &sm, sizeof(sm));
			n += sizeof(sm);
			memcpy(out + n, &a, sizeof(a));
			n += sizeof(a);
			fd = f->bar_fd;
		}
	} else if (rq.index == 4) {
		ri.size = FK_BAR4;
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	} else if (rq.index == VFIO_PCI_CONFIG_REGION_INDEX) {
		ri.size = sizeof(f->cfg);
		ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	}
	ri.argsz = (uint32_t)n;
	memcpy(out, &ri, sizeof(ri));
	fk_reply(f, h, out, n, fd);
}

static uint8_t *fk_region(struct fk *f, uint32_t index, uint64_t off, uint32_t count)
{
	if (index == 0 && off + count <= FK_BAR0)
		return f->bar0 + off;
	if (index == 4 && off + count <= FK_BAR4)
		return f->bar4 + off;
	if (index == VFIO_PCI_CONFIG_REGION_INDEX && off + count <= sizeof(f->cfg))
		return f->cfg + off;
	return NULL;
}

static void fk_handle(struct fk *f, const struct vfu_msg_hdr *h, uint8_t *p, size_t len,
		      int *fds, int nfds)
{
	switch (h->command) {
	case VFU_CMD_VERSION: {
		static const char js[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
		uint8_t out[64];
		struct vfu_msg_version v = { 0, 0 };
		memcpy(out, &v, sizeof(v));
		memcpy(out + sizeof(v), js, sizeof(js));
		fk_reply(f, h, out, sizeof(v) + sizeof(js), -1);
		break;
	}
	case VFU_CMD_DMA_MAP: {
		struct vfu_msg_dma_map m;
		memcpy(&m, p, sizeof(m));
		if (nfds == 0) {
			f->n_fdless_map++;
			f->fdless_iova = m.address;
			f->fdless_size = m.size;
			f->fdless_flags = m.flags;
		}
		if (nfds == 1 && f->nmap < 4) {
			void *va = mmap(NULL, m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
					(off_t)m.offset);
			if (va != MAP_FAILED) {
				f->map[f->nmap].iova = m.address;
				f->map[f->nmap].size = m.size;
				f->map[f->nmap].va = va;
				f->nmap++;
			}
		}
		fk_reply(f, h, NULL, 0, -1);
		break;
	}
	case VFU_CMD_DMA_UNMAP: {
		struct vfu_msg_dma_unmap m;
		memcpy(&m, p, sizeof(m));
		if (f->n_fdless_map && m.address == f->fdless_iova && m.size == f->fdless_size)
			f->n_fdless_unmap++;
		for (int i = 0; i < f->nmap; i++) {
			if (f->map[i].iova == m.address) {
				munmap(f->map[i].va, f->map[i].size);
				f->map[i] = f->map[--f->nmap];
				break;
			}
		}
		fk_reply(f, h, NULL, 0, -1);
		break;
	}
	case VFU_CMD_DEVICE_GET_INFO: {
		struct vfu_msg_device_info di = { 16, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET,
						  9, 5 };
		fk_reply(f, h, &di, sizeof(di), -1);
		break;
	}
	case VFU_CMD_DEVICE_GET_REGION_INFO:
		fk_region_info(f, h, p);
		break;
	case VFU_CMD_DEVICE_GET_IRQ_INFO: {
		struct vfu_msg_irq_info ii;
		fake_vfu_irq_info(p, FK_NVEC, &ii);
		fk_reply(f, h, &ii, sizeof(ii), -1);
		break;
	}
	case VFU_CMD_DEVICE_SET_IRQS: {
		struct vfu_msg_irq_set s;
		memcpy(&s, p, sizeof(s));
		if (s.index == VFIO_PCI_MSIX_IRQ_INDEX) {
			if (f->n_irq_set < 32) {
				f->irq_set[f->n_irq_set].flags = s.flags;
				f->irq_set[f->n_irq_set].start = s.start;
				f->irq_set[f->n_irq_set].count = s.count;
				f->irq_set[f->n_irq_set].nfds = nfds;
			}
			f->n_irq_set++;
			uint32_t action = s.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
			const uint8_t *bools = (s.flags & VFIO_IRQ_SET_DATA_BOOL) ? p + sizeof(s) : NULL;
			if (action == VFIO_IRQ_SET_ACTION_TRIGGER && s.count == 0) {
				/* the whole index off: eventfds and masks forgotten */
				for (int i = 0; i < FK_NVEC; i++) {
					if (f->efd[i] >= 0)
						close(f->efd[i]);
					f->efd[i] = -1;
					f->vmask[i] = false;
				}
			} else if (action == VFIO_IRQ_SET_ACTION_TRIGGER &&
				   (s.flags & VFIO_IRQ_SET_DATA_EVENTFD)) {
				for (uint32_t i = 0; i < s.count && s.start + i < FK_NVEC; i++) {
					if (f->efd[s.start + i] >= 0)
						close(f->efd[s.start + i]);
					f->efd[s.start + i] = -1;
					if ((int)i < nfds) {
						f->efd[s.start + i] = fds[i];
						fds[i] = -1;
					}
				}
				fk_deliver_pending(f);
			} else if (action == VFIO_IRQ_SET_ACTION_MASK ||
				   action == VFIO_IRQ_SET_ACTION_UNMASK) {
				for (uint32_t i = 0; i < s.count && s.start + i < FK_NVEC; i++)
					if (!bools || bools[i])
						f->vmask[s.start + i] = action == VFIO_IRQ_SET_ACTION_MASK;
				fk_deliver_pending(f);
			}
		}
		fk_reply(f, h, NULL, 0, -1);
		break;
	}
	case VFU_CMD_REGION_READ: {
		struct vfu_msg_region_access a;
		memcpy(&a, p, sizeof(a));
		uint8_t *src = fk_region(f, a.region, a.offset, a.count);
		uint8_t out[16 + 4096] = { 0 };
		if (a.count > 4096)
			a.count = 0;
		memcpy(out, &a, sizeof(a));
		if (src)
			memcpy(out + sizeof(a), src, a.count);
		fk_reply(f, h, out, sizeof(a) + a.count, -1);
		break;
	}
	case VFU_CMD_REGION_WRITE: {
		struct vfu_msg_region_access a;
		memcpy(&a, p, sizeof(a));
		const uint8_t *data = p + sizeof(a);
		if (a.region == 0 && a.offset >= 0x1000 && a.count == 4) {
			atomic_fetch_add(&f->n_trapped_db, 1);
			fk_doorbell(f, (uint32_t)(a.offset - 0x1000) / 4, rd32(data));
		} else if (a.region == 4) {
			/* the MSI-X table: storage the driver has no business
			 * writing (a VFIO user emulates it); the PBA: read-only */
			atomic_fetch_add(&f->n_table_writes, 1);
			uint8_t *dst = fk_region(f, a.region, a.offset, a.count);
			if (dst && a.offset + a.count <= 0x800)
				memcpy(dst, data, a.count);
		} else {
			uint8_t *dst = fk_region(f, a.region, a.offset, a.count);
			if (dst)
				memcpy(dst, data, a.count);
			if (a.region == 0 && a.offset <= NVME_REG_CC && a.offset + a.count > NVME_REG_CC)
				fk_cc_write(f);
			if (a.region == VFIO_PCI_CONFIG_REGION_INDEX && a.offset <= 0x43 &&
			    a.offset + a.count > 0x42)
				fk_deliver_pending(f);	/* MSI-X Message Control */
		}
		if (!(h->flags & VFU_F_NO_REPLY))
			fk_reply(f, h, &a, sizeof(a), -1);
		break;
	}
	default: {
		struct vfu_msg_hdr e = { h->msg_id, h->command, sizeof(e),
					 VFU_F_TYPE_REPLY | VFU_F_ERROR, ENOTSUP };
		(void)!send(f->fd, &e, sizeof(e), MSG_NOSIGNAL);
	}
	}
	(void)len;
}

static void *fk_main(void *arg)
{
	struct fk *f = arg;

	f->fd = accept(f->lfd, NULL, NULL);
	while (f->fd >= 0 && !atomic_load(&f->stop)) {
		struct pollfd pfd = { f->fd, POLLIN, 0 };
		int r = poll(&pfd, 1, 1);
		if (r > 0) {
			struct vfu_msg_hdr h;
			int fds[8], nfds = 0;
			if (fake_recv(f->fd, &h, sizeof(h), fds, &nfds, 8) || h.msg_size < sizeof(h) ||
			    h.msg_size - sizeof(h) > (2u << 20))
				break;
			size_t len = h.msg_size - sizeof(h);
			if (len && fake_recv(f->fd, f->rx, len, fds, &nfds, 8))
				break;
			fk_handle(f, &h, f->rx, len, fds, nfds);
			for (int i = 0; i < nfds; i++) {
				if (fds[i] >= 0)
					close(fds[i]);
			}
		}
		if (f->mmap_db)
			fk_scan_mmap(f);
		if (f->shadow_iova)
			fk_scan_shadow(f);
		if (atomic_load(&f->aer_fire) && f->aer_cid >= 0 && f->cq[0].live) {
			atomic_store(&f->aer_fire, false);
			/* SMART/health (type 1), info 2, log page 02h */
			fk_post(f, 0, 0, (uint16_t)f->aer_cid, 0, 0x00020201u);
			f->aer_cid = -1;
		}
	}
	return NULL;
}

struct fk *fk_start(bool mmap_db, uint32_t sgls, uint16_t oacs)
{
	struct fk *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->mmap_db = mmap_db;
	f->sgls = sgls;
	f->oacs = oacs;
	f->aer_cid = -1;
	for (int i = 0; i < FK_NVEC; i++)
		f->efd[i] = -1;
	f->rx = malloc(2u << 20);
	f->disk = calloc(FK_BLOCKS, 512);
	assert_non_null(f->rx);
	assert_non_null(f->disk);

	f->bar_fd = memfd_create("fk-bar0", MFD_CLOEXEC);
	assert_true(f->bar_fd >= 0);
	assert_int_equal(ftruncate(f->bar_fd, FK_BAR0), 0);
	f->bar0 = mmap(NULL, FK_BAR0, PROT_READ | PROT_WRITE, MAP_SHARED, f->bar_fd, 0);
	assert_true(f->bar0 != MAP_FAILED);
	/* CAP: MQES, CQR, TO 5 s, DSTRD 0, CSS NVM, MPSMIN/MAX 0 */
	uint64_t cap = FK_MQES | (1ull << 16) | (10ull << 24) | (1ull << 37);
	wr32(f->bar0 + NVME_REG_CAP, (uint32_t)cap);
	wr32(f->bar0 + NVME_REG_CAP + 4, (uint32_t)(cap >> 32));
	wr32(f->bar0 + NVME_REG_VS, 0x00010400);

	f->cfg[0] = 0x36; f->cfg[1] = 0x1b; f->cfg[2] = 0x10;	/* 1b36:0010 */
	f->cfg[6] = 0x10;					/* capability list */
	f->cfg[9] = 0x02; f->cfg[10] = 0x08; f->cfg[11] = 0x01;	/* NVMe class */
	f->cfg[0x34] = 0x40;
	f->cfg[0x40] = 0x11;					/* MSI-X */
	f->cfg[0x42] = FK_NVEC - 1;
	wr32(f->cfg + 0x44, 0x00000004);			/* table: BIR 4, offset 0 */
	wr32(f->cfg + 0x48, 0x00000804);			/* PBA: BIR 4, 0x800 */
	for (int v = 0; v < FK_NVEC; v++)
		f->bar4[16 * v + 12] = 1;			/* vectors start masked */

	f->lfd = fake_listen(f->dir, sizeof(f->dir), f->path, sizeof(f->path), "/tmp/nvmehostXXXXXX", "cntrl");
	f->fd = -1;
	assert_int_equal(pthread_create(&f->th, NULL, fk_main, f), 0);
	return f;
}

void fk_stop(struct fk *f)
{
	fake_stop_server(f->th, &f->stop, &f->fd, f->lfd, f->dir, f->path);
	for (int i = 0; i < f->nmap; i++)
		munmap(f->map[i].va, f->map[i].size);
	for (int i = 0; i < FK_NVEC; i++) {
		if (f->efd[i] >= 0)
			close(f->efd[i]);
	}
	munmap(f->bar0, FK_BAR0);
	close(f->bar_fd);
	free(f->disk);
	free(f->rx);
	free(f);
}

struct nvme_host *open_fk(struct fk *f, struct nvme_host_opts *o)
{
	struct nvme_host_opts def = { .mem_size = 32u << 20, .nr_io_queues = 2 };
	struct nvme_host *h = NULL;
	if (!o)
		o = &def;
	if (!o->mem_size)
		o->mem_size = 32u << 20;
	int rc = nvme_host_open(f->path, o, &h);
	assert_int_equal(rc, 0);
	assert_non_null(h);
	return h;
}

void fill(uint8_t *p, size_t n, uint32_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131u + i * 7u + (i >> 9));
}
