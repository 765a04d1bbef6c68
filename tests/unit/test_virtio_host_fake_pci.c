/* test_virtio_host: the fake modern virtio-pci block function over
 * vfio-user (capabilities, common configuration, notify area, device
 * configuration, MSI-X), failing on demand (enum fp_fault). */
#include "test_virtio_host.h"

static void fp_reset(struct fp *f)
{
	f->drv_features = 0;
	f->dfselect = f->gfselect = 0;
	f->msix_config = VH_PCI_MSI_NO_VECTOR;
	f->status = 0;
	f->qsel = 0;
	for (int i = 0; i < FP_NQ; i++) {
		f->q[i].size = f->fault == FP_SMALL_QUEUES ? 16 : 256;
		f->q[i].msix = VH_PCI_MSI_NO_VECTOR;
		f->q[i].enable = 0;
		f->q[i].desc = f->q[i].avail = f->q[i].used = 0;
		f->r[i].ready = false;
	}
}

/* The 0x3c-byte common configuration image for the selected queue. */
static void fp_common_image(struct fp *f, uint8_t *img)
{
	memset(img, 0, 0x40);
	wr32(img + VH_PCI_COMMON_DFSELECT, f->dfselect);
	wr32(img + VH_PCI_COMMON_DF, f->dfselect < 2 ? (uint32_t)(f->dev_features >> (32 * f->dfselect)) : 0);
	wr32(img + VH_PCI_COMMON_GFSELECT, f->gfselect);
	wr32(img + VH_PCI_COMMON_GF, f->gfselect < 2 ? (uint32_t)(f->drv_features >> (32 * f->gfselect)) : 0);
	wr16(img + VH_PCI_COMMON_MSIX, f->msix_config);
	wr16(img + VH_PCI_COMMON_NUMQ, FP_NQ);
	img[VH_PCI_COMMON_STATUS] = f->status;
	img[VH_PCI_COMMON_CFGGENERATION] = f->generation;
	wr16(img + VH_PCI_COMMON_Q_SELECT, f->qsel);
	if (f->qsel < FP_NQ) {
		wr16(img + VH_PCI_COMMON_Q_SIZE, f->q[f->qsel].size);
		wr16(img + VH_PCI_COMMON_Q_MSIX, f->q[f->qsel].msix);
		wr16(img + VH_PCI_COMMON_Q_ENABLE, f->q[f->qsel].enable);
		wr16(img + VH_PCI_COMMON_Q_NOFF, f->qsel);
		wr64(img + VH_PCI_COMMON_Q_DESCLO, f->q[f->qsel].desc);
		wr64(img + VH_PCI_COMMON_Q_AVAILLO, f->q[f->qsel].avail);
		wr64(img + VH_PCI_COMMON_Q_USEDLO, f->q[f->qsel].used);
	}
}

static void fp_status_write(struct fp *f, uint8_t st)
{
	if (st == 0) {
		fp_reset(f);
		return;
	}
	if (st & VH_STATUS_FAILED)
		f->saw_failed = true;
	if ((st & VH_STATUS_FEATURES_OK) && !(f->status & VH_STATUS_FEATURES_OK)) {
		bool ok = f->fault != FP_REFUSE_FEATURES && !(f->drv_features & ~f->dev_features) &&
			  (f->drv_features & VH_BIT(VH_F_VERSION_1));
		if (!ok)
			st &= (uint8_t)~VH_STATUS_FEATURES_OK;
		f->v.event_idx = f->drv_features & VH_BIT(VH_F_RING_EVENT_IDX);
	}
	f->status = st;
}

static void fp_common_write(struct fp *f, uint32_t off, const uint8_t *data, uint32_t count)
{
	uint8_t img[0x40];
	fp_common_image(f, img);
	if (off + count > 0x3c)
		return;
	memcpy(img + off, data, count);
	switch (off) {
	case VH_PCI_COMMON_DFSELECT:
		f->dfselect = rd32(img + off);
		break;
	case VH_PCI_COMMON_GFSELECT:
		f->gfselect = rd32(img + off);
		break;
	case VH_PCI_COMMON_GF:
		if (f->gfselect < 2) {
			uint64_t m = 0xffffffffull << (32 * f->gfselect);
			f->drv_features = (f->drv_features & ~m) |
					  ((uint64_t)rd32(img + off) << (32 * f->gfselect));
		}
		break;
	case VH_PCI_COMMON_MSIX:
		f->msix_config = rd16(img + off) < FP_NVEC ? rd16(img + off) : VH_PCI_MSI_NO_VECTOR;
		break;
	case VH_PCI_COMMON_STATUS:
		fp_status_write(f, img[off]);
		break;
	case VH_PCI_COMMON_Q_SELECT:
		f->qsel = rd16(img + off);
		break;
	default:
		break;
	}
	if (f->qsel >= FP_NQ || off < VH_PCI_COMMON_Q_SIZE)
		return;
	uint16_t qi = f->qsel;
	switch (off) {
	case VH_PCI_COMMON_Q_SIZE:
		f->q[qi].size = rd16(img + off);
		break;
	case VH_PCI_COMMON_Q_MSIX: {
		uint16_t v = rd16(img + off);
		f->q[qi].msix = (v < FP_NVEC && f->fault != FP_NO_VECTORS) ? v : VH_PCI_MSI_NO_VECTOR;
		break;
	}
	case VH_PCI_COMMON_Q_ENABLE: {
		struct fring *r = &f->r[qi];
		uint32_t n = f->q[qi].size;
		f->q[qi].enable = rd16(img + off);
		r->num = n;
		r->desc = fd_xlate(&f->v, f->q[qi].desc, 16ull * n);
		r->avail = fd_xlate(&f->v, f->q[qi].avail, 6 + 2ull * n);
		r->used = fd_xlate(&f->v, f->q[qi].used, 6 + 8ull * n);
		r->last_avail = r->used_idx = 0;
		r->call = -1;
		r->ready = r->desc && r->avail && r->used && f->q[qi].enable == 1;
		break;
	}
	case VH_PCI_COMMON_Q_DESCLO:
	case VH_PCI_COMMON_Q_DESCHI:
		f->q[qi].desc = rd64(img + VH_PCI_COMMON_Q_DESCLO);
		break;
	case VH_PCI_COMMON_Q_AVAILLO:
	case VH_PCI_COMMON_Q_AVAILHI:
		f->q[qi].avail = rd64(img + VH_PCI_COMMON_Q_AVAILLO);
		break;
	case VH_PCI_COMMON_Q_USEDLO:
	case VH_PCI_COMMON_Q_USEDHI:
		f->q[qi].used = rd64(img + VH_PCI_COMMON_Q_USEDLO);
		break;
	default:
		break;
	}
}

/* Serve queue qi after a notification, then raise its vector. */
static void fp_notify(struct fp *f, uint16_t qi)
{
	if (qi >= FP_NQ || !(f->status & VH_STATUS_DRIVER_OK) ||
	    (qi == 0 && atomic_load(&f->hold_q0)))
		return;
	struct fring *r = &f->r[qi];
	uint16_t v = f->q[qi].msix;
	uint16_t ctrl = rd16(f->cfg + 0x42);
	/* as a VFIO device: the table in BAR1 is the client's and never
	 * masks; config space and SET_IRQS MASK do */
	bool masked = v >= FP_NVEC || !(ctrl & VH_MSIX_CTRL_ENABLE) || (ctrl & VH_MSIX_CTRL_MASKALL) ||
		      f->vmask[v];
	r->call = masked ? -1 : f->efd[v];
	fd_process(&f->v, r);
}

static void fp_region_info(struct fp *f, const struct vfu_msg_hdr *h, const uint8_t *p)
{
	struct vfu_msg_region_info rq, ri = { 0 };
	memcpy(&rq, p, sizeof(rq));
	ri.argsz = sizeof(ri);
	ri.index = rq.index;
	ri.flags = VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE;
	if (rq.index == 1)
		ri.size = FP_BAR1;
	else if (rq.index == 4)
		ri.size = FP_BAR4;
	else if (rq.index == VFIO_PCI_CONFIG_REGION_INDEX)
		ri.size = sizeof(f->cfg);
	else
		ri.flags = 0;
	struct vfu_msg_hdr rh = { h->msg_id, h->command, sizeof(rh) + sizeof(ri), VFU_F_TYPE_REPLY, 0 };
	fake_send(f->fd, &rh, sizeof(rh), &ri, sizeof(ri), NULL, 0);
}

static void fp_reply(struct fp *f, const struct vfu_msg_hdr *h, const void *p, size_t len)
{
	struct vfu_msg_hdr rh = { h->msg_id, h->command, (uint32_t)(sizeof(rh) + len),
				  VFU_F_TYPE_REPLY, 0 };
	fake_send(f->fd, &rh, sizeof(rh), p, len, NULL, 0);
}

static void fp_read(struct fp *f, const struct vfu_msg_hdr *h, const uint8_t *p)
{
	struct vfu_msg_region_access a;
	uint8_t out[16 + 4096] = { 0 };
	memcpy(&a, p, sizeof(a));
	if (a.count > 4096)
		a.count = 0;
	uint8_t *dst = out + sizeof(a);
	if (a.region == VFIO_PCI_CONFIG_REGION_INDEX && a.offset + a.count <= sizeof(f->cfg)) {
		memcpy(dst, f->cfg + a.offset, a.count);
	} else if (a.region == 1 && a.offset + a.count <= FP_BAR1) {
		memcpy(dst, f->bar1 + a.offset, a.count);
	} else if (a.region == 4 && a.offset < 0x40 && a.offset + a.count <= 0x40) {
		uint8_t img[0x40];
		fp_common_image(f, img);
		memcpy(dst, img + a.offset, a.count);
	} else if (a.region == 4 && a.offset >= FP_DEVCFG && a.offset + a.count <= FP_DEVCFG + 60) {
		memcpy(dst, f->devcfg + (a.offset - FP_DEVCFG), a.count);
		atomic_fetch_add(&f->config_reads, 1);
	}
	memcpy(out, &a, sizeof(a));
	fp_reply(f, h, out, sizeof(a) + a.count);
}

static void fp_write(struct fp *f, const struct vfu_msg_hdr *h, const uint8_t *p)
{
	struct vfu_msg_region_access a;
	memcpy(&a, p, sizeof(a));
	const uint8_t *data = p + sizeof(a);
	if (a.region == VFIO_PCI_CONFIG_REGION_INDEX && a.offset + a.count <= sizeof(f->cfg)) {
		/* command register and MSI-X control are writable here */
		if (a.offset == 0x04 || a.offset == 0x42)
			memcpy(f->cfg + a.offset, data, a.count);
	} else if (a.region == 1 && a.offset + a.count <= FP_BAR1) {
		atomic_fetch_add(&f->table_writes, 1);
		memcpy(f->bar1 + a.offset, data, a.count);
	} else if (a.region == 4 && a.offset < 0x40) {
		fp_common_write(f, (uint32_t)a.offset, data, a.count);
	} else if (a.region == 4 && a.offset >= FP_NOTIFY && a.offset < FP_NOTIFY + 0x1000) {
		if (a.count == 2 && (a.offset - FP_NOTIFY) == (uint64_t)rd16(data) * FP_MULT)
			atomic_fetch_add((h->flags & VFU_F_NO_REPLY) ? &f->posted_notifies
								       : &f->nonposted_notifies, 1);
		fp_notify(f, rd16(data));
	}
	if (!(h->flags & VFU_F_NO_REPLY))
		fp_reply(f, h, &a, sizeof(a));
}

static void fp_handle(struct fp *f, const struct vfu_msg_hdr *h, uint8_t *p, int *fds, int nfds)
{
	switch (h->command) {
	case VFU_CMD_VERSION: {
		static const char js[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
		uint8_t out[64];
		struct vfu_msg_version v = { 0, 0 };
		memcpy(out, &v, sizeof(v));
		memcpy(out + sizeof(v), js, sizeof(js));
		fp_reply(f, h, out, sizeof(v) + sizeof(js));
		break;
	}
	case VFU_CMD_DMA_MAP: {
		struct vfu_msg_dma_map m;
		memcpy(&m, p, sizeof(m));
		if (nfds == 1 && f->v.nmap < 8) {
			void *va = mmap(NULL, m.size, PROT_READ | PROT_WRITE, MAP_SHARED, fds[0],
					(off_t)m.offset);
			if (va != MAP_FAILED) {
				f->v.map[f->v.nmap].addr = m.address;
				f->v.map[f->v.nmap].size = m.size;
				f->v.map[f->v.nmap].ptr = va;
				f->v.nmap++;
			}
		}
		fp_reply(f, h, NULL, 0);
		break;
	}
	case VFU_CMD_DMA_UNMAP: {
		struct vfu_msg_dma_unmap m;
		memcpy(&m, p, sizeof(m));
		for (int i = 0; i < f->v.nmap; i++) {
			if (f->v.map[i].addr == m.address) {
				munmap(f->v.map[i].ptr, f->v.map[i].size);
				f->v.map[i] = f->v.map[--f->v.nmap];
				break;
			}
		}
		fp_reply(f, h, NULL, 0);
		break;
	}
	case VFU_CMD_DEVICE_GET_INFO: {
		struct vfu_msg_device_info di = { 16, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET, 9, 5 };
		fp_reply(f, h, &di, sizeof(di));
		break;
	}
	case VFU_CMD_DEVICE_GET_REGION_INFO:
		fp_region_info(f, h, p);
		break;
	case VFU_CMD_DEVICE_GET_IRQ_INFO: {
		struct vfu_msg_irq_info ii;
		fake_vfu_irq_info(p, FP_NVEC, &ii);
		fp_reply(f, h, &ii, sizeof(ii));
		break;
	}
	case VFU_CMD_DEVICE_SET_IRQS: {
		struct vfu_msg_irq_set s;
		memcpy(&s, p, sizeof(s));
		uint32_t action = s.flags & VFIO_IRQ_SET_ACTION_TYPE_MASK;
		if (s.index == VFIO_PCI_MSIX_IRQ_INDEX && action != VFIO_IRQ_SET_ACTION_TRIGGER) {
			const uint8_t *bools = (s.flags & VFIO_IRQ_SET_DATA_BOOL) ? p + sizeof(s) : NULL;
			for (uint32_t i = 0; i < s.count && s.start + i < FP_NVEC; i++)
				if (!bools || bools[i])
					f->vmask[s.start + i] = action == VFIO_IRQ_SET_ACTION_MASK;
		} else if (s.index == VFIO_PCI_MSIX_IRQ_INDEX) {
			if (s.count == 0) {
				for (int i = 0; i < FP_NVEC; i++) {
					if (f->efd[i] >= 0)
						close(f->efd[i]);
					f->efd[i] = -1;
					f->vmask[i] = false;
				}
			}
			for (uint32_t i = 0; i < s.count && s.start + i < FP_NVEC; i++) {
				if (f->efd[s.start + i] >= 0)
					close(f->efd[s.start + i]);
				f->efd[s.start + i] = -1;
				if ((s.flags & VFIO_IRQ_SET_DATA_EVENTFD) && (int)i < nfds) {
					f->efd[s.start + i] = fds[i];
					fds[i] = -1;
				}
			}
		}
		fp_reply(f, h, NULL, 0);
		break;
	}
	case VFU_CMD_REGION_READ:
		fp_read(f, h, p);
		break;
	case VFU_CMD_REGION_WRITE:
		fp_write(f, h, p);
		break;
	default: {
		struct vfu_msg_hdr e = { h->msg_id, h->command, sizeof(e),
					 VFU_F_TYPE_REPLY | VFU_F_ERROR, ENOTSUP };
		(void)!send(f->fd, &e, sizeof(e), MSG_NOSIGNAL);
	}
	}
}

static void *fp_main(void *arg)
{
	struct fp *f = arg;
	f->fd = accept(f->lfd, NULL, NULL);
	while (f->fd >= 0 && !atomic_load(&f->stop)) {
		struct pollfd pfd = { f->fd, POLLIN, 0 };
		if (poll(&pfd, 1, 5) <= 0)
			continue;
		struct vfu_msg_hdr h;
		int fds[8], nfds = 0;
		if (fake_recv(f->fd, &h, sizeof(h), fds, &nfds, 8) || h.msg_size < sizeof(h) ||
		    h.msg_size - sizeof(h) > 65536)
			break;
		size_t len = h.msg_size - sizeof(h);
		if (len && fake_recv(f->fd, f->rx, len, fds, &nfds, 8))
			break;
		fp_handle(f, &h, f->rx, fds, nfds);
		for (int i = 0; i < nfds; i++) {
			if (fds[i] >= 0)
				close(fds[i]);
		}
	}
	return NULL;
}

/* One vendor capability at off. */
static void fp_cap(struct fp *f, uint8_t off, uint8_t next, uint8_t type, uint32_t offset,
		   uint32_t length, uint8_t len)
{
	uint8_t *c = f->cfg + off;
	c[0] = VH_PCI_CAP_ID_VNDR;
	c[1] = next;
	c[2] = len;
	c[3] = type;
	c[4] = 4;	/* BAR4 */
	wr32(c + 8, offset);
	wr32(c + 12, length);
}

struct fp *fp_start(enum fp_fault fault)
{
	struct fp *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->fault = fault;
	f->rx = malloc(65536);
	f->v.disk = calloc(FD_SECTORS, 512);
	f->v.rbuf = malloc(FD_RBUF);
	assert_non_null(f->v.disk);
	assert_non_null(f->v.rbuf);
	for (int i = 0; i < FP_NVEC; i++)
		f->efd[i] = -1;
	f->dev_features = VH_BIT(VH_F_VERSION_1) | VH_BIT(VH_BLK_F_SEG_MAX) | VH_BIT(VH_BLK_F_SIZE_MAX) |
			  VH_BIT(VH_BLK_F_FLUSH) | VH_BIT(VH_BLK_F_MQ) | VH_BIT(VH_BLK_F_DISCARD) |
			  VH_BIT(VH_F_RING_EVENT_IDX) | VH_BIT(VH_F_RING_INDIRECT_DESC) |
			  VH_BIT(VH_F_ACCESS_PLATFORM);
	struct vh_blk_config *c = (struct vh_blk_config *)(void *)f->devcfg;
	c->capacity = FD_SECTORS;
	c->size_max = 65536;
	c->seg_max = 64;
	c->num_queues = FP_NQ;
	c->max_discard_sectors = 2048;
	c->max_discard_seg = 4;
	c->discard_sector_alignment = 8;
	fp_reset(f);

	wr16(f->cfg + 0x00, VH_PCI_VENDOR_ID);
	wr16(f->cfg + 0x02, VH_PCI_DEVICE_ID_MODERN(VH_BLK_DEVICE_ID));
	wr16(f->cfg + 0x06, VH_PCI_STATUS_CAP_LIST);
	f->cfg[0x08] = 1;			/* revision */
	f->cfg[0x0b] = 0x01;			/* mass storage */
	f->cfg[0x34] = 0x40;
	f->cfg[0x40] = VH_PCI_CAP_ID_MSIX;
	f->cfg[0x41] = 0x50;
	wr16(f->cfg + 0x42, FP_NVEC - 1);
	wr32(f->cfg + 0x44, 0x00000001);	/* table: BIR 1, offset 0 */
	wr32(f->cfg + 0x48, 0x00000801);	/* PBA: BIR 1, 0x800 */
	/* a capability with a reserved cfg_type and one with a reserved BAR
	 * come first: both must be skipped */
	fp_cap(f, 0x50, 0x60, 0x2a, 0, 4, 16);
	fp_cap(f, 0x60, 0x70, VH_PCI_CAP_COMMON_CFG, 0x3000, 0x40, 16);
	f->cfg[0x64] = 7;
	fp_cap(f, 0x70, 0x80, VH_PCI_CAP_COMMON_CFG, FP_COMMON, 0x3c, 16);
	fp_cap(f, 0x80, 0x98, VH_PCI_CAP_NOTIFY_CFG,
	       fault == FP_NOTIFY_OUTSIDE ? FP_BAR4 - 2 : FP_NOTIFY, 0x1000, 20);
	wr32(f->cfg + 0x80 + 16, FP_MULT);
	fp_cap(f, 0x98, 0xa8, VH_PCI_CAP_ISR_CFG, FP_ISR, 4, 16);
	fp_cap(f, 0xa8, fault == FP_CAP_LOOP ? 0x70 : 0xb8, VH_PCI_CAP_DEVICE_CFG, FP_DEVCFG, 60, 16);
	/* a second device-config capability: the first one wins */
	fp_cap(f, 0xb8, 0, VH_PCI_CAP_DEVICE_CFG, 0, 60, 16);
	for (int v = 0; v < FP_NVEC; v++)
		f->bar1[16 * v + 12] = 1;	/* vectors start masked */

	f->fd = -1;
	f->lfd = fake_listen(f->dir, sizeof(f->dir), f->path, sizeof(f->path), "/tmp/vhosttestXXXXXX", "cntrl");
	assert_int_equal(pthread_create(&f->th, NULL, fp_main, f), 0);
	return f;
}

void fp_stop(struct fp *f)
{
	fake_stop_server(f->th, &f->stop, &f->fd, f->lfd, f->dir, f->path);
	for (int i = 0; i < f->v.nmap; i++)
		munmap(f->v.map[i].ptr, f->v.map[i].size);
	for (int i = 0; i < FP_NVEC; i++) {
		if (f->efd[i] >= 0)
			close(f->efd[i]);
	}
	free(f->v.disk);
	free(f->v.rbuf);
	free(f->rx);
	free(f);
}
