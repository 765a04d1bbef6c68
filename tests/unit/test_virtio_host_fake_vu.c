/* test_virtio_host: the fake vhost-user-blk back end (Unix socket): it
 * answers the handshake, checks the memory table and ring addresses it
 * receives, serves requests, and fails on demand (enum fb_fault). */
#include "test_virtio_host.h"

static void fb_error(struct fb *f, const char *what)
{
	if (atomic_fetch_add(&f->errors, 1) == 0)
		snprintf(f->err, sizeof(f->err), "%s", what);
}

static uint8_t *fb_uva(struct fb *f, uint64_t ua, uint64_t len)
{
	for (int i = 0; i < f->nreg; i++) {
		if (ua >= f->reg[i].uva && len <= f->reg[i].size && ua - f->reg[i].uva <= f->reg[i].size - len)
			return f->v.map[i].ptr + (ua - f->reg[i].uva);
	}
	return NULL;
}

static void fb_reply(struct fb *f, uint32_t req, const void *p, uint32_t size, int fd)
{
	struct vhu_hdr h = { req, VHU_VERSION | VHU_FLAG_REPLY, size };
	if (req == f->fault_req) {
		switch (f->fault) {
		case FB_SILENT:
			return;
		case FB_WRONG_REQ:
			h.request = req + 1;
			break;
		case FB_NO_REPLY_FLAG:
			h.flags = VHU_VERSION;
			break;
		case FB_HUGE:
			h.size = 1u << 20;
			(void)!send(f->fd, &h, sizeof(h), MSG_NOSIGNAL);
			return;
		case FB_EMPTY:
			h.size = 0;
			fake_send(f->fd, &h, sizeof(h), NULL, 0, NULL, 0);
			return;
		default:
			break;
		}
	}
	fake_send(f->fd, &h, sizeof(h), p, size, &fd, fd >= 0 ? 1 : 0);
}

static void fb_reply_u64(struct fb *f, uint32_t req, uint64_t v)
{
	fb_reply(f, req, &v, sizeof(v), -1);
}

static void fb_unmap(struct fb *f)
{
	for (int i = 0; i < f->nreg; i++)
		munmap(f->reg[i].base, f->reg[i].maplen);
	f->nreg = 0;
	f->v.nmap = 0;
}

static void fb_mem_table(struct fb *f, const uint8_t *p, uint32_t size, int *fds, int nfds)
{
	uint32_t n = rd32(p);
	fb_unmap(f);
	if (size != 8 + 32 * n || n > 8 || (int)n != nfds) {
		fb_error(f, "SET_MEM_TABLE: size/fd count");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *r = p + 8 + 32 * i;
		uint64_t gpa = rd64(r), sz = rd64(r + 8), uva = rd64(r + 16), off = rd64(r + 24);
		void *m = mmap(NULL, sz + off, PROT_READ | PROT_WRITE, MAP_SHARED, fds[i], 0);
		if (m == MAP_FAILED) {
			fb_error(f, "SET_MEM_TABLE: mmap");
			return;
		}
		f->reg[i].gpa = gpa;
		f->reg[i].size = sz;
		f->reg[i].uva = uva;
		f->reg[i].base = m;
		f->reg[i].maplen = sz + off;
		f->v.map[i].addr = gpa;
		f->v.map[i].size = sz;
		f->v.map[i].ptr = (uint8_t *)m + off;
		f->nreg++;
		f->v.nmap++;
	}
}

static void fb_vring_addr(struct fb *f, const uint8_t *p)
{
	uint32_t i = rd32(p);
	uint64_t desc = rd64(p + 8), used = rd64(p + 16), avail = rd64(p + 24);
	if (i >= FB_NQ || !f->r[i].num) {
		fb_error(f, "SET_VRING_ADDR: index or no SET_VRING_NUM");
		return;
	}
	struct fring *r = &f->r[i];
	if (desc % 16 || avail % 2 || used % 4)
		fb_error(f, "SET_VRING_ADDR: alignment");
	r->desc = fb_uva(f, desc, 16ull * r->num);
	r->avail = fb_uva(f, avail, 6 + 2ull * r->num);
	r->used = fb_uva(f, used, 6 + 8ull * r->num);
	if (!r->desc || !r->avail || !r->used) {
		fb_error(f, "SET_VRING_ADDR: not a user address of the memory table");
		return;
	}
	/* as QEMU's back ends do: the device's used idx resumes from memory */
	r->used_idx = rd16(r->used + 2);
}

static void fb_handle(struct fb *f, const struct vhu_hdr *h, uint8_t *p, int *fds, int nfds)
{
	uint32_t req = h->request;
	bool need = h->flags & VHU_FLAG_NEED_REPLY;
	int nl = atomic_fetch_add(&f->nmsg, 1);
	if (nl < 256)
		f->log[nl] = req;
	if ((h->flags & VHU_FLAG_VERSION_MASK) != VHU_VERSION || (h->flags & VHU_FLAG_REPLY))
		fb_error(f, "request flags");
	if (need)
		atomic_fetch_add(&f->need_reply_seen, 1);
	if (req == f->fault_req && f->fault == FB_CLOSE) {
		shutdown(f->fd, SHUT_RDWR);
		return;
	}
	uint64_t u = h->size >= 8 ? rd64(p) : 0;
	uint32_t idx = (uint32_t)(u & 0xff);
	bool own = true;

	switch (req) {
	case VHU_GET_FEATURES:
		fb_reply_u64(f, req, f->features);
		break;
	case VHU_GET_PROTOCOL_FEATURES:
		fb_reply_u64(f, req, f->pf);
		break;
	case VHU_GET_QUEUE_NUM:
		fb_reply_u64(f, req, f->queue_num);
		break;
	case VHU_GET_CONFIG: {
		uint8_t out[12 + 60];
		uint32_t off = rd32(p), sz = rd32(p + 4);
		if (h->size != 12 + sz || off != 0)
			fb_error(f, "GET_CONFIG request");
		if (sz > 60)
			sz = 60;
		wr32(out, 0);
		wr32(out + 4, sz);
		wr32(out + 8, 0);
		memcpy(out + 12, f->config, sz);
		fb_reply(f, req, out, 12 + sz, -1);
		break;
	}
	case VHU_GET_VRING_BASE: {
		uint32_t i = rd32(p);
		uint8_t out[8];
		wr32(out, f->fault == FB_BAD_INDEX ? i + 1 : i);
		wr32(out + 4, i < FB_NQ ? f->r[i].last_avail : 0);
		if (i < FB_NQ) {
			f->r[i].ready = false;
			f->enabled[i] = false;
		}
		fb_reply(f, req, out, 8, -1);
		break;
	}
	case VHU_GET_INFLIGHT_FD: {
		uint16_t nq = rd16(p + 16), qs = rd16(p + 18);
		uint64_t sz = (uint64_t)nq * (16 + 16ull * qs);
		int mfd = memfd_create("fb-inflight", MFD_CLOEXEC);
		if (mfd < 0 || ftruncate(mfd, (off_t)sz) < 0 || h->size != 24) {
			fb_error(f, "GET_INFLIGHT_FD");
			break;
		}
		uint8_t out[24] = { 0 };
		wr64(out, sz);
		wr16(out + 16, nq);
		wr16(out + 18, qs);
		fb_reply(f, req, out, 24, mfd);
		f->inflight_size = sz;
		close(mfd);
		break;
	}
	case VHU_GET_STATUS:
		fb_reply_u64(f, req, 0x0f);
		break;
	default:
		own = false;
	}
	if (own)
		return;

	uint64_t status = 0;
	switch (req) {
	case VHU_SET_FEATURES:
		f->acked_features = u;
		f->v.event_idx = u & VH_BIT(VH_F_RING_EVENT_IDX);
		break;
	case VHU_SET_PROTOCOL_FEATURES:
		f->acked_pf = u;
		break;
	case VHU_SET_OWNER:
		f->got_owner = true;
		break;
	case VHU_SET_MEM_TABLE:
		fb_mem_table(f, p, h->size, fds, nfds);
		break;
	case VHU_SET_VRING_NUM:
		if (rd32(p) >= FB_NQ)
			fb_error(f, "SET_VRING_NUM index");
		else
			f->r[rd32(p)].num = rd32(p + 4);
		break;
	case VHU_SET_VRING_BASE:
		if (rd32(p) < FB_NQ) {
			f->base[rd32(p)] = rd32(p + 4);
			f->r[rd32(p)].last_avail = (uint16_t)rd32(p + 4);
		}
		break;
	case VHU_SET_VRING_ADDR:
		if (h->size != 40)
			fb_error(f, "SET_VRING_ADDR size");
		else
			fb_vring_addr(f, p);
		break;
	case VHU_SET_VRING_KICK:
		if (idx < FB_NQ) {
			if (f->kick[idx] >= 0)
				close(f->kick[idx]);
			f->kick[idx] = -1;
			if (!(u & VHU_VRING_NOFD) && nfds == 1) {
				f->kick[idx] = fds[0];
				fds[0] = -1;
			}
			f->r[idx].ready = f->r[idx].desc != NULL;
		}
		break;
	case VHU_SET_VRING_CALL:
		if (idx < FB_NQ) {
			if (f->r[idx].call >= 0)
				close(f->r[idx].call);
			f->r[idx].call = -1;
			f->call_nofd[idx] = u & VHU_VRING_NOFD;
			if (!(u & VHU_VRING_NOFD) && nfds == 1) {
				f->r[idx].call = fds[0];
				fds[0] = -1;
			}
		}
		break;
	case VHU_SET_VRING_ENABLE:
		if (rd32(p) < FB_NQ)
			f->enabled[rd32(p)] = rd32(p + 4) != 0;
		break;
	case VHU_SET_INFLIGHT_FD:
		f->got_set_inflight = nfds == 1 && rd64(p) == f->inflight_size;
		break;
	case VHU_RESET_DEVICE:
		f->got_reset = true;
		for (int i = 0; i < FB_NQ; i++)
			f->r[i].ready = f->enabled[i] = false;
		break;
	case VHU_SET_STATUS:
		break;
	default:
		status = 1;	/* unknown request */
	}
	if (req == f->fault_req && f->fault == FB_NACK)
		status = 1;
	if (need)
		fb_reply_u64(f, req, status);
}

static void *fb_main(void *arg)
{
	struct fb *f = arg;
	uint8_t *p = malloc(8192);

	f->fd = accept(f->lfd, NULL, NULL);
	while (f->fd >= 0 && !atomic_load(&f->stop)) {
		struct pollfd pf[1 + FB_NQ];
		int n = 0;
		pf[n++] = (struct pollfd){ f->fd, POLLIN, 0 };
		int map[FB_NQ];
		for (int i = 0; i < FB_NQ; i++) {
			if (f->kick[i] >= 0) {
				map[n - 1] = i;
				pf[n++] = (struct pollfd){ f->kick[i], POLLIN, 0 };
			}
		}
		if (poll(pf, (nfds_t)n, 5) <= 0)
			continue;
		for (int k = 1; k < n; k++) {
			if (!(pf[k].revents & POLLIN))
				continue;
			uint64_t v;
			(void)!read(pf[k].fd, &v, sizeof(v));
			int q = map[k - 1];
			if (f->enabled[q])
				fd_process(&f->v, &f->r[q]);
		}
		if (pf[0].revents & (POLLIN | POLLHUP)) {
			struct vhu_hdr h;
			int fds[8], nfds = 0;
			if (fake_recv(f->fd, &h, sizeof(h), fds, &nfds, 8) || h.size > 8192 ||
			    (h.size && fake_recv(f->fd, p, h.size, fds, &nfds, 8)))
				break;
			fb_handle(f, &h, p, fds, nfds);
			for (int i = 0; i < nfds; i++) {
				if (fds[i] >= 0)
					close(fds[i]);
			}
		}
	}
	free(p);
	return NULL;
}

struct fb *fb_start(void)
{
	struct fb *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	f->features = VH_BIT(VH_F_VERSION_1) | VH_BIT(VHU_F_PROTOCOL_FEATURES) |
		      VH_BIT(VH_BLK_F_SEG_MAX) | VH_BIT(VH_BLK_F_BLK_SIZE) | VH_BIT(VH_BLK_F_FLUSH) |
		      VH_BIT(VH_BLK_F_MQ) | VH_BIT(VH_BLK_F_WRITE_ZEROES) |
		      VH_BIT(VH_F_RING_INDIRECT_DESC) | VH_BIT(VH_F_RING_EVENT_IDX);
	f->pf = VH_BIT(VHU_PF_MQ) | VH_BIT(VHU_PF_REPLY_ACK) | VH_BIT(VHU_PF_CONFIG) |
		VH_BIT(VHU_PF_INFLIGHT_SHMFD) | VH_BIT(VHU_PF_RESET_DEVICE);
	f->queue_num = FB_NQ;
	struct vh_blk_config *c = (struct vh_blk_config *)(void *)f->config;
	c->capacity = FD_SECTORS;
	c->seg_max = 126;
	c->blk_size = 512;
	c->num_queues = FB_NQ;
	c->max_write_zeroes_sectors = 1024;
	c->max_write_zeroes_seg = 1;
	f->v.disk = calloc(FD_SECTORS, 512);
	f->v.rbuf = malloc(FD_RBUF);
	assert_non_null(f->v.disk);
	assert_non_null(f->v.rbuf);
	for (int i = 0; i < FB_NQ; i++)
		f->kick[i] = f->r[i].call = -1;
	f->inflight_fd = -1;
	f->fd = -1;
	f->lfd = fake_listen(f->dir, sizeof(f->dir), f->path, sizeof(f->path), "/tmp/vhosttestXXXXXX", "vhost.sock");
	return f;
}

void fb_run(struct fb *f)
{
	assert_int_equal(pthread_create(&f->th, NULL, fb_main, f), 0);
}

void fb_stop(struct fb *f)
{
	fake_stop_server(f->th, &f->stop, &f->fd, f->lfd, f->dir, f->path);
	fb_unmap(f);
	for (int i = 0; i < FB_NQ; i++) {
		if (f->kick[i] >= 0)
			close(f->kick[i]);
		if (f->r[i].call >= 0)
			close(f->r[i].call);
	}
	free(f->v.disk);
	free(f->v.rbuf);
	free(f);
}

void fb_check(struct fb *f)
{
	if (atomic_load(&f->errors))
		fail_msg("fake back end saw: %s", f->err);
}

struct vblk_host *fb_open(struct fb *f, struct vblk_host_opts *o)
{
	struct vblk_host *d = NULL;
	int rc = vblk_host_open_vhost_user(f->path, o, &d);
	if (rc)
		fail_msg("open: %s (fake: %s)", strerror(-rc), f->err);
	return d;
}
