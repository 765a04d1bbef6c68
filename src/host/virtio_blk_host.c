/* User-space virtio-blk driver: memory arena, queues, requests, completion
 * and waiting (transport independent), and the vhost-user transport. The
 * virtio-pci transport is in virtio_pci_host.c. See virtio_blk_host.h. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define VBLK_HOST_INTERNAL
#include "host/host_mem.h"
#include "host/vhost_user_front.h"
#include "host/virtio_blk_host.h"

#define PAGE		4096u
#define MAX_REGIONS	8u

/* ---- time ------------------------------------------------------------------------------------ */

static int64_t now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* ---- memory arena ------------------------------------------------------------------------------ */

/* Region holding [p, p + len), or -1. */
static int region_of(const struct vblk_host *d, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;
	for (uint32_t i = 0; i < d->nregions; i++) {
		uintptr_t b = (uintptr_t)d->regions[i].m->ptr;
		size_t sz = d->regions[i].m->size;
		if (a >= b && len <= sz && a - b <= sz - len)
			return (int)i;
	}
	return -1;
}

/* First fit of len bytes in region r; mem_lock held. */
static void *alloc_in(struct vblk_host *d, uint32_t r, size_t len)
{
	struct vblk_region *g = &d->regions[r];
	size_t np = len ? (len + PAGE - 1) / PAGE : 1, run = 0;

	for (size_t p = 0; p < g->pages; p++) {
		if (g->used[p]) {
			run = 0;
			continue;
		}
		if (++run < np)
			continue;
		size_t s = p + 1 - np;
		memset(g->used + s, 1, np);
		g->alloc[s] = (uint32_t)np;
		uint8_t *ptr = (uint8_t *)g->m->ptr + s * PAGE;
		memset(ptr, 0, np * PAGE);
		return ptr;
	}
	return NULL;
}

/* Allocate preferably in region r (r < 0: the next in turn), else in any
 * region. */
static void *alloc_pref(struct vblk_host *d, int r, size_t len)
{
	void *p = NULL;
	pthread_mutex_lock(&d->mem_lock);
	uint32_t first = r >= 0 ? (uint32_t)r : d->alloc_rr++;
	for (uint32_t k = 0; k < d->nregions && !p; k++)
		p = alloc_in(d, (first + k) % d->nregions, len);
	pthread_mutex_unlock(&d->mem_lock);
	return p;
}

void *vblk_host_alloc(struct vblk_host *d, size_t len)
{
	return alloc_pref(d, -1, len);
}

void vblk_host_free(struct vblk_host *d, void *p)
{
	if (!p)
		return;
	int r = region_of(d, p, 1);
	if (r < 0)
		return;
	struct vblk_region *g = &d->regions[r];
	size_t s = (size_t)((uint8_t *)p - (uint8_t *)g->m->ptr) / PAGE;
	pthread_mutex_lock(&d->mem_lock);
	size_t np = g->alloc[s];
	memset(g->used + s, 0, np);
	g->alloc[s] = 0;
	pthread_mutex_unlock(&d->mem_lock);
}

int vblk_host_dev_addr(const struct vblk_host *d, const void *p, size_t len, uint64_t *addr)
{
	int r = region_of(d, p, len);
	if (r < 0)
		return -EFAULT;
	*addr = d->regions[r].dev_addr + (uint64_t)((const uint8_t *)p -
						   (const uint8_t *)d->regions[r].m->ptr);
	return 0;
}

void *vblk_host_ptr(const struct vblk_host *d, uint64_t addr, size_t len)
{
	for (uint32_t i = 0; i < d->nregions; i++) {
		const struct vblk_region *g = &d->regions[i];
		if (addr >= g->dev_addr && len <= g->m->size && addr - g->dev_addr <= g->m->size - len)
			return (uint8_t *)g->m->ptr + (addr - g->dev_addr);
	}
	return NULL;
}

/* ---- core: creation, limits, queues, teardown ------------------------------------------------- */

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

static int fill_defaults(struct vblk_host_opts *o)
{
	if (!o->features)
		o->features = VBLK_HOST_FEATURES_BASE;
	if (!o->num_queues)
		o->num_queues = 1;
	if (!o->queue_size)
		o->queue_size = 128;
	if (!o->mem_size)
		o->mem_size = 16u << 20;
	if (!o->mem_regions)
		o->mem_regions = 1;
	if (!o->mem_base)
		o->mem_base = 0x40000000ull;
	if (!o->mem_gap)
		o->mem_gap = 2u << 20;
	if (o->timeout_ms <= 0)
		o->timeout_ms = 5000;
	if (o->ctrl_timeout_ms <= 0)
		o->ctrl_timeout_ms = 5000;
	o->mem_size = (o->mem_size + PAGE - 1) / PAGE * PAGE;
	if (o->mem_regions > MAX_REGIONS || o->mem_base % PAGE || o->mem_gap % PAGE ||
	    !is_pow2(o->queue_size) || o->queue_size > VH_QUEUE_SIZE_MAX)
		return -EINVAL;
	return 0;
}

int vblk_host_core_new(enum vblk_transport tr, const struct vblk_host_opts *opts,
		       struct vblk_host **out)
{
	struct vblk_host *d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->tr = tr;
	if (opts)
		d->opts = *opts;
	d->inflight_fd = -1;
	pthread_mutex_init(&d->mem_lock, NULL);
	int rc = fill_defaults(&d->opts);
	for (uint32_t i = 0; !rc && i < d->opts.mem_regions; i++) {
		struct vblk_region *g = &d->regions[i];
		rc = host_mem_create(d->opts.mem_size, &g->m);
		if (rc)
			break;
		d->nregions++;
		g->dev_addr = d->opts.mem_base + i * (d->opts.mem_size + d->opts.mem_gap);
		g->pages = g->m->size / PAGE;
		g->alloc = calloc(g->pages, sizeof(*g->alloc));
		g->used = calloc(g->pages, 1);
		if (!g->alloc || !g->used)
			rc = -ENOMEM;
	}
	if (rc) {
		vblk_host_core_free(d);
		return rc;
	}
	*out = d;
	return 0;
}

uint64_t vblk_host_core_select_features(const struct vblk_host *d, uint64_t offered)
{
	if (d->opts.force_features)
		return d->opts.features;
	return d->opts.features & offered & VBLK_HOST_FEATURES_KNOWN;
}

int vblk_host_core_limits(struct vblk_host *d, uint32_t device_max_queues)
{
	const struct vblk_host_opts *o = &d->opts;
	uint16_t nq = o->num_queues;

	if (d->features & VH_BIT(VH_BLK_F_MQ)) {
		if (d->config.num_queues && nq > d->config.num_queues)
			return -EINVAL;
	} else if (nq > 1) {
		return -EINVAL;
	}
	if (device_max_queues && nq > device_max_queues)
		return -EINVAL;

	uint32_t segs = 128;
	if (d->features & VH_BIT(VH_BLK_F_SEG_MAX))
		segs = d->config.seg_max ? d->config.seg_max : 1;
	if (o->max_segments)
		segs = o->max_segments;
	if (segs > (uint32_t)o->queue_size - 2u)
		segs = o->queue_size > 2 ? o->queue_size - 2u : 0;
	d->max_segments = segs;
	d->seg_bytes = UINT32_MAX;
	if ((d->features & VH_BIT(VH_BLK_F_SIZE_MAX)) && d->config.size_max)
		d->seg_bytes = d->config.size_max;
	if (o->seg_bytes)
		d->seg_bytes = o->seg_bytes;
	d->indirect_max = 0;
	if ((d->features & VH_BIT(VH_F_RING_INDIRECT_DESC)) && !o->direct_only)
		d->indirect_max = segs + 2;

	d->queues = calloc(nq, sizeof(*d->queues));
	if (!d->queues)
		return -ENOMEM;
	d->nq = nq;
	for (uint16_t i = 0; i < nq; i++) {
		d->queues[i].d = d;
		d->queues[i].index = i;
		d->queues[i].kick_fd = -1;
		d->queues[i].irq_fd = -1;
		d->queues[i].msix_vector = VH_PCI_MSI_NO_VECTOR;
	}
	return 0;
}

static int queue_notify(void *arg)
{
	struct vblk_queue *q = arg;
	q->st.kicks++;
	return q->d->notify(q->d, q);
}

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

int vblk_host_core_queue_init(struct vblk_host *d, uint16_t qi, uint16_t size, uint16_t start)
{
	struct vblk_queue *q = &d->queues[qi];
	struct vring_host_layout l;

	/* Chains (direct, or inside a table) may not be longer than the
	 * queue size. */
	if (d->max_segments + 2u > size) {
		d->max_segments = size > 2 ? size - 2u : 0;
		if (d->indirect_max)
			d->indirect_max = d->max_segments + 2;
	}
	int rc = vring_host_layout(size, d->indirect_max, &l);
	if (rc)
		return rc;
	size_t hdr_off = align_up(l.size, 16);
	size_t st_off = hdr_off + (size_t)size * sizeof(struct vh_blk_req_hdr);
	q->area = alloc_pref(d, (int)(qi % d->nregions), st_off + size);
	q->slots = calloc(size, sizeof(*q->slots));
	q->bufs = calloc(d->max_segments + 2u, sizeof(*q->bufs));
	if (!q->area || !q->slots || !q->bufs)
		return -ENOMEM;
	uint64_t base;
	vblk_host_dev_addr(d, q->area, 1, &base);
	q->size = size;
	q->hdrs = (struct vh_blk_req_hdr *)(void *)((uint8_t *)q->area + hdr_off);
	q->hdrs_addr = base + hdr_off;
	q->status = (uint8_t *)q->area + st_off;
	q->status_addr = base + st_off;
	struct vring_host_cfg rc_cfg = {
		.num = size, .mem = q->area, .mem_addr = base, .indirect_max = d->indirect_max,
		.event_idx = (d->features & VH_BIT(VH_F_RING_EVENT_IDX)) != 0,
		.start_idx = start, .notify = queue_notify, .notify_arg = q,
	};
	return vring_host_init(&q->vq, &rc_cfg);
}

static void cancel_one(void *cookie, void *arg)
{
	struct vblk_slot *s = cookie;
	struct vblk_host *d = arg;
	struct vblk_host_req *r = s->req;

	vblk_host_free(d, s->bounce);
	*s = (struct vblk_slot){ NULL, NULL, false };
	if (r) {
		r->result = -ECANCELED;
		if (r->cb)
			r->cb(r);
	}
}

void vblk_host_core_free(struct vblk_host *d)
{
	for (uint16_t i = 0; d->queues && i < d->nq; i++) {
		struct vblk_queue *q = &d->queues[i];
		if (q->vq.chain)
			vring_host_drain(&q->vq, cancel_one, d);
		vring_host_fini(&q->vq);
		free(q->slots);
		free(q->bufs);
		if (q->kick_fd >= 0)
			close(q->kick_fd);
		if (q->irq_fd >= 0)
			close(q->irq_fd);
	}
	free(d->queues);
	if (d->inflight)
		munmap(d->inflight, d->inflight_size);
	if (d->inflight_fd >= 0)
		close(d->inflight_fd);
	for (uint32_t i = 0; i < d->nregions; i++) {
		host_mem_destroy(d->regions[i].m);
		free(d->regions[i].alloc);
		free(d->regions[i].used);
	}
	pthread_mutex_destroy(&d->mem_lock);
	free(d);
}

void vblk_host_close(struct vblk_host *d)
{
	if (!d)
		return;
	if (d->shutdown)
		d->shutdown(d);
	vblk_host_core_free(d);
}

/* ---- information --------------------------------------------------------------------------- */

uint64_t vblk_host_device_features(const struct vblk_host *d)
{
	return d->dev_features;
}

uint64_t vblk_host_features(const struct vblk_host *d)
{
	return d->features;
}

uint16_t vblk_host_num_queues(const struct vblk_host *d)
{
	return d->nq;
}

uint16_t vblk_host_queue_size(const struct vblk_host *d, uint16_t q)
{
	return q < d->nq ? d->queues[q].size : 0;
}

uint32_t vblk_host_max_segments(const struct vblk_host *d)
{
	return d->max_segments;
}

bool vblk_host_queue_has_irq(const struct vblk_host *d, uint16_t q)
{
	return q < d->nq && d->queues[q].irq_fd >= 0;
}

const struct vh_blk_config *vblk_host_config(const struct vblk_host *d)
{
	return &d->config;
}

int vblk_host_read_config(struct vblk_host *d, struct vh_blk_config *cfg)
{
	struct vh_blk_config c;
	int rc = d->read_config(d, &c);
	if (rc)
		return rc;
	d->config = c;
	if (cfg)
		*cfg = c;
	return 0;
}

int vblk_host_device_status(struct vblk_host *d, uint8_t *status)
{
	return d->device_status(d, status);
}

struct vhu_front *vblk_host_vhu(struct vblk_host *d)
{
	return d->vhu;
}

int vblk_host_inflight_region(struct vblk_host *d, void **ptr, size_t *size)
{
	if (!d->inflight)
		return -ENOENT;
	*ptr = d->inflight;
	*size = d->inflight_size;
	return 0;
}

struct vring_host *vblk_host_vring(struct vblk_host *d, uint16_t q)
{
	return q < d->nq && d->queues[q].live ? &d->queues[q].vq : NULL;
}

unsigned vblk_host_inflight(const struct vblk_host *d, uint16_t q)
{
	return q < d->nq ? d->queues[q].vq.inflight : 0;
}

void vblk_host_qstats(const struct vblk_host *d, uint16_t q, struct vblk_host_qstats *st)
{
	if (q < d->nq)
		*st = d->queues[q].st;
	else
		memset(st, 0, sizeof(*st));
}

/* ---- requests ------------------------------------------------------------------------------ */

/* Data direction by request type: device-writable for the types that
 * return data. */
static bool data_is_written(uint32_t type)
{
	return type == VH_BLK_T_IN || type == VH_BLK_T_GET_ID || type == VH_BLK_T_GET_LIFETIME;
}

static struct vblk_queue *live_queue(struct vblk_host *d, uint16_t qi)
{
	return qi < d->nq && d->queues[qi].live ? &d->queues[qi] : NULL;
}

int vblk_host_queue_req(struct vblk_host *d, uint16_t qi, struct vblk_host_req *r)
{
	struct vblk_queue *q = live_queue(d, qi);
	uint64_t data = 0;

	if (!q || (r->len && !r->buf))
		return -EINVAL;
	if (q->stopped)
		return -ESHUTDOWN;
	if (r->len && vblk_host_dev_addr(d, r->buf, r->len, &data))
		return -EFAULT;
	uint32_t nseg = r->len ? (uint32_t)((r->len - 1ull) / d->seg_bytes + 1) : 0;
	if (nseg > d->max_segments)
		return -E2BIG;
	if (q->vq.num_free == 0)
		return -ENOSPC;

	uint16_t head = vring_host_next_head(&q->vq);
	bool wr = data_is_written(r->type);
	struct vring_host_buf *b = q->bufs;
	unsigned n = 0, nout = 0;
	b[n++] = (struct vring_host_buf){ q->hdrs_addr + head * sizeof(struct vh_blk_req_hdr),
					  sizeof(struct vh_blk_req_hdr) };
	if (wr)
		nout = n;
	for (uint32_t left = r->len, off = 0; left; ) {
		uint32_t k = left < d->seg_bytes ? left : d->seg_bytes;
		b[n++] = (struct vring_host_buf){ data + off, k };
		off += k;
		left -= k;
	}
	if (!wr)
		nout = n;
	b[n++] = (struct vring_host_buf){ q->status_addr + head, 1 };

	q->hdrs[head] = (struct vh_blk_req_hdr){ r->type, r->ioprio, r->sector };
	q->status[head] = 0xff;
	bool ind = d->indirect_max && n > 1 && n <= d->indirect_max;
	int got = vring_host_add(&q->vq, b, nout, b + nout, n - nout, &q->slots[head], ind);
	if (got < 0)
		return got;
	q->slots[head] = (struct vblk_slot){ r, NULL, false };
	r->head = head;
	r->status = 0xff;
	r->result = 0;
	r->used_len = 0;
	q->st.submitted++;
	return 0;
}

int vblk_host_kick(struct vblk_host *d, uint16_t qi)
{
	struct vblk_queue *q = live_queue(d, qi);
	if (!q)
		return -EINVAL;
	vring_host_publish(&q->vq);
	if (!vring_host_need_notify(&q->vq)) {
		q->st.notifies_skipped++;
		return 0;
	}
	return vring_host_notify(&q->vq);
}

int vblk_host_submit(struct vblk_host *d, uint16_t q, struct vblk_host_req *r)
{
	int rc = vblk_host_queue_req(d, q, r);
	return rc ? rc : vblk_host_kick(d, q);
}

/* Common tail of the raw submitters: record the slot and kick. */
static int raw_added(struct vblk_host *d, struct vblk_queue *q, int head, struct vblk_host_req *r)
{
	if (head < 0)
		return head;
	q->slots[head] = (struct vblk_slot){ r, NULL, true };
	r->head = (uint16_t)head;
	r->status = 0xff;
	r->result = 0;
	r->used_len = 0;
	q->st.submitted++;
	return vblk_host_kick(d, q->index);
}

int vblk_host_submit_raw(struct vblk_host *d, uint16_t qi, const struct vblk_host_seg *segs,
			 unsigned n, bool indirect, struct vblk_host_req *r)
{
	struct vblk_queue *q = live_queue(d, qi);

	if (!q || n == 0 || n > q->size)
		return -EINVAL;
	if (q->stopped)
		return -ESHUTDOWN;
	if (q->vq.num_free < (indirect ? 1 : n))
		return -ENOSPC;
	uint16_t head = vring_host_next_head(&q->vq);
	struct vring_host_raw *rd = calloc(n, sizeof(*rd));
	if (!rd)
		return -ENOMEM;
	int rc;
	if (indirect) {
		struct vh_desc *t;
		uint64_t taddr;
		if (!q->vq.indirect || n > q->vq.indirect_max) {
			free(rd);
			return -EINVAL;
		}
		vring_host_indirect_table(&q->vq, head, &t, &taddr);
		for (unsigned k = 0; k < n; k++)
			t[k] = (struct vh_desc){ segs[k].addr, segs[k].len,
						 (uint16_t)((segs[k].write ? VH_DESC_F_WRITE : 0) |
							    (k + 1 < n ? VH_DESC_F_NEXT : 0)),
						 (uint16_t)(k + 1 < n ? k + 1 : 0) };
		rd[0] = (struct vring_host_raw){ taddr, (uint32_t)(n * sizeof(struct vh_desc)),
						 VH_DESC_F_INDIRECT, 0, false };
		rc = vring_host_add_raw(&q->vq, rd, 1, &q->slots[head]);
	} else {
		for (unsigned k = 0; k < n; k++)
			rd[k] = (struct vring_host_raw){
				segs[k].addr, segs[k].len,
				(uint16_t)((segs[k].write ? VH_DESC_F_WRITE : 0) |
					   (k + 1 < n ? VH_DESC_F_NEXT : 0)),
				(uint16_t)(k + 1 < n ? k + 1 : 0), false };
		rc = vring_host_add_raw(&q->vq, rd, n, &q->slots[head]);
	}
	free(rd);
	return raw_added(d, q, rc, r);
}

int vblk_host_submit_desc(struct vblk_host *d, uint16_t qi, const struct vring_host_raw *desc,
			  unsigned n, struct vblk_host_req *r)
{
	struct vblk_queue *q = live_queue(d, qi);

	if (!q)
		return -EINVAL;
	if (q->stopped)
		return -ESHUTDOWN;
	uint16_t head = vring_host_next_head(&q->vq);
	return raw_added(d, q, vring_host_add_raw(&q->vq, desc, n, &q->slots[head]), r);
}

int vblk_host_poll(struct vblk_host *d, uint16_t qi, unsigned max)
{
	struct vblk_queue *q = live_queue(d, qi);
	int n = 0;

	if (!q)
		return -EINVAL;
	while (!max || (unsigned)n < max) {
		void *ck;
		uint32_t len, id;
		int rc = vring_host_get_used(&q->vq, &ck, &len, &id);
		if (rc == 0)
			break;
		if (rc == -EBADMSG) {
			q->st.bad_used++;
			continue;
		}
		if (rc < 0)
			return n ? n : rc;
		struct vblk_slot *s = ck;
		struct vblk_host_req *r = s->req;
		bool raw = s->raw;
		vblk_host_free(d, s->bounce);	/* only abandoned requests keep one here */
		*s = (struct vblk_slot){ NULL, NULL, false };
		q->st.completed++;
		if (!r)
			continue;
		r->used_len = len;
		/* the status byte was written before the used idx the ring read
		 * with acquire semantics */
		r->status = raw ? 0xff : q->status[id];
		r->result = 0;
		n++;
		if (r->cb)
			r->cb(r);
	}
	return n;
}

int vblk_host_wait(struct vblk_host *d, uint16_t qi, int timeout_ms)
{
	struct vblk_queue *q = live_queue(d, qi);
	if (!q)
		return -EINVAL;
	int64_t end = now_ms() + (timeout_ms < 0 ? d->opts.timeout_ms : timeout_ms);

	for (;;) {
		int n = vblk_host_poll(d, qi, 0);
		if (n)
			return n;
		int64_t left = end - now_ms();
		if (q->irq_fd < 0) {
			if (left <= 0)
				return -ETIMEDOUT;
			struct timespec ts = { 0, 20000 };
			nanosleep(&ts, NULL);
			continue;
		}
		if (vring_host_enable_cb(&q->vq))
			continue;	/* completions arrived while enabling */
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { q->irq_fd, POLLIN, 0 };
		int r = poll(&p, 1, left > 1000000 ? 1000000 : (int)left);
		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0) {
			uint64_t v;
			if (read(q->irq_fd, &v, sizeof(v)) == (ssize_t)sizeof(v))
				q->st.irqs++;
		}
	}
}

static void sync_done(struct vblk_host_req *r)
{
	*(bool *)r->arg = true;
}

/* Leave a request in flight without its owner: the late completion frees
 * bounce and is otherwise dropped. */
static void abandon(struct vblk_host *d, uint16_t qi, struct vblk_host_req *r, void *bounce)
{
	struct vblk_slot *s = &d->queues[qi].slots[r->head];
	s->req = NULL;
	s->bounce = bounce;
}

int vblk_host_rw(struct vblk_host *d, uint16_t qi, uint32_t type, uint64_t sector, void *buf,
		 uint32_t len, uint8_t *status)
{
	void *data = buf, *bounce = NULL;
	uint64_t a;
	bool done = false;

	if (len && !buf)
		return -EINVAL;
	if (len && vblk_host_dev_addr(d, buf, len, &a)) {
		bounce = vblk_host_alloc(d, len);
		if (!bounce)
			return -ENOMEM;
		if (!data_is_written(type))
			memcpy(bounce, buf, len);
		data = bounce;
	}
	struct vblk_host_req r = { .type = type, .sector = sector, .buf = data, .len = len,
				   .cb = sync_done, .arg = &done };
	int rc = vblk_host_queue_req(d, qi, &r);
	if (rc) {
		vblk_host_free(d, bounce);
		return rc;
	}
	rc = vblk_host_kick(d, qi);
	int64_t end = now_ms() + d->opts.timeout_ms;
	while (!rc && !done) {
		int64_t left = end - now_ms();
		int w = vblk_host_wait(d, qi, left > 0 ? (int)left : 0);
		if (w < 0)
			rc = w;
	}
	if (!done) {
		abandon(d, qi, &r, bounce);
		return rc;
	}
	if (bounce && data_is_written(type))
		memcpy(buf, bounce, len);
	vblk_host_free(d, bounce);
	if (status)
		*status = r.status;
	return 0;
}

int vblk_host_get_id(struct vblk_host *d, uint16_t q, char id[VH_BLK_ID_BYTES + 1])
{
	uint8_t st;
	/* ordinary memory: vblk_host_rw() bounces it, and keeps the bounce
	 * buffer alive if the request has to be abandoned */
	char buf[VH_BLK_ID_BYTES];
	int rc = vblk_host_rw(d, q, VH_BLK_T_GET_ID, 0, buf, VH_BLK_ID_BYTES, &st);
	if (!rc && st != VH_BLK_S_OK)
		rc = -EIO;
	if (!rc) {
		memcpy(id, buf, VH_BLK_ID_BYTES);
		id[VH_BLK_ID_BYTES] = '\0';
	}
	return rc;
}

/* ==== vhost-user transport ================================================================== */

static int vu_notify(struct vblk_host *d, struct vblk_queue *q)
{
	uint64_t one = 1;
	(void)d;
	/* The eventfd write is a system call, ordered after the release
	 * store of avail->idx and the full fence of the notification check. */
	if (write(q->kick_fd, &one, sizeof(one)) != (ssize_t)sizeof(one))
		return errno == EAGAIN ? 0 : -errno;	/* EAGAIN: counter saturated, still signalled */
	return 0;
}

static int vu_read_config(struct vblk_host *d, struct vh_blk_config *cfg)
{
	return vhu_get_config(d->vhu, 0, VHU_CONFIG_F_WRITABLE, cfg, VH_BLK_CONFIG_SIZE, NULL);
}

static int vu_device_status(struct vblk_host *d, uint8_t *status)
{
	if (!(d->vhu_pf & VH_BIT(VHU_PF_STATUS)))
		return -EOPNOTSUPP;
	return vhu_get_status(d->vhu, status);
}

static void vu_shutdown(struct vblk_host *d)
{
	if (!d->vhu)
		return;
	for (uint16_t i = 0; d->queues && i < d->nq; i++) {
		uint32_t base;
		if (d->queues[i].live && !d->queues[i].stopped)
			vhu_get_vring_base(d->vhu, i, &base);
	}
	if (d->vhu_pf & VH_BIT(VHU_PF_RESET_DEVICE))
		vhu_reset_device(d->vhu);
	vhu_close(d->vhu);
	d->vhu = NULL;
}

int vblk_host_stop_queue(struct vblk_host *d, uint16_t qi, uint32_t *base)
{
	struct vblk_queue *q = live_queue(d, qi);
	if (d->tr != VBLK_TR_VHOST_USER)
		return -EOPNOTSUPP;
	if (!q)
		return -EINVAL;
	int rc = vhu_get_vring_base(d->vhu, qi, base);
	if (!rc)
		q->stopped = true;
	return rc;
}

static int vu_mem_table(struct vblk_host *d)
{
	struct vhu_region r[MAX_REGIONS];
	for (uint32_t i = 0; i < d->nregions; i++) {
		const struct vblk_region *g = &d->regions[i];
		r[i] = (struct vhu_region){ g->dev_addr, g->m->size, (uint64_t)(uintptr_t)g->m->ptr, 0,
					    g->m->fd };
	}
	return vhu_set_mem_table(d->vhu, r, d->nregions);
}

static int vu_inflight(struct vblk_host *d)
{
	struct vhu_inflight info;
	int fd;
	int rc = vhu_get_inflight_fd(d->vhu, d->nq, d->opts.queue_size, &info, &fd);
	if (rc)
		return rc;
	d->inflight_fd = fd;
	void *p = mmap(NULL, info.mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       (off_t)info.mmap_offset);
	if (p == MAP_FAILED)
		return -errno;
	d->inflight = p;
	d->inflight_size = info.mmap_size;
	return vhu_set_inflight_fd(d->vhu, &info, fd);
}

static int vu_queue(struct vblk_host *d, uint16_t i)
{
	struct vblk_queue *q = &d->queues[i];
	int rc = vblk_host_core_queue_init(d, i, d->opts.queue_size, d->opts.ring_start);
	if (rc)
		return rc;
	q->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (q->kick_fd < 0)
		return -errno;
	if (d->opts.irq != VBLK_HOST_IRQ_POLL) {
		q->irq_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (q->irq_fd < 0)
			return -errno;
	}
	struct vhu_vring_addr a = {
		.index = i, .flags = 0,
		.desc = (uint64_t)(uintptr_t)q->vq.desc,
		.used = (uint64_t)(uintptr_t)q->vq.used,
		.avail = (uint64_t)(uintptr_t)q->vq.avail,
		.log = 0,
	};
	rc = vhu_set_vring_num(d->vhu, i, q->size);
	if (!rc)
		rc = vhu_set_vring_base(d->vhu, i, d->opts.ring_start);
	if (!rc)
		rc = vhu_set_vring_addr(d->vhu, &a);
	if (!rc)
		rc = vhu_set_vring_kick(d->vhu, i, q->kick_fd);
	if (!rc)
		rc = vhu_set_vring_call(d->vhu, i, q->irq_fd);
	if (!rc)
		q->live = true;
	if (!rc && q->irq_fd < 0)
		vring_host_disable_cb(&q->vq);
	return rc;
}

static int vu_bring_up(struct vblk_host *d)
{
	const struct vblk_host_opts *o = &d->opts;
	uint64_t feats, pf = 0, maxq = 0;

	if (o->num_queues > VHU_VRING_IDX_MASK + 1u)
		return -EINVAL;
	int rc = vhu_get_features(d->vhu, &feats);
	if (rc)
		return rc;
	if (!(feats & VH_BIT(VHU_F_PROTOCOL_FEATURES)))
		return -EOPNOTSUPP;	/* no GET_CONFIG without protocol features */
	d->dev_features = feats & ~VH_BIT(VHU_F_PROTOCOL_FEATURES);

	rc = vhu_get_protocol_features(d->vhu, &pf);
	if (rc)
		return rc;
	uint64_t want = o->protocol_features;
	if (!want) {
		want = (VH_BIT(VHU_PF_MQ) | VH_BIT(VHU_PF_REPLY_ACK) | VH_BIT(VHU_PF_CONFIG) |
			VH_BIT(VHU_PF_RESET_DEVICE) |
			(o->inflight ? VH_BIT(VHU_PF_INFLIGHT_SHMFD) : 0)) & pf;
	}
	if (!(want & VH_BIT(VHU_PF_CONFIG)))
		return -EOPNOTSUPP;
	rc = vhu_set_protocol_features(d->vhu, want);
	if (rc)
		return rc;
	d->vhu_pf = want;
	if (want & VH_BIT(VHU_PF_MQ)) {
		rc = vhu_get_queue_num(d->vhu, &maxq);
		if (rc)
			return rc;
		if (maxq == 0)
			return -EPROTO;
	}
	rc = vhu_get_config(d->vhu, 0, VHU_CONFIG_F_WRITABLE, &d->config, VH_BLK_CONFIG_SIZE, NULL);
	if (!rc)
		rc = vhu_set_owner(d->vhu);
	if (rc)
		return rc;

	d->features = vblk_host_core_select_features(d, d->dev_features);
	if (!(d->features & VH_BIT(VH_F_VERSION_1)) && !o->force_features)
		return -EOPNOTSUPP;
	rc = vhu_set_features(d->vhu, d->features | VH_BIT(VHU_F_PROTOCOL_FEATURES));
	if (!rc)
		rc = vblk_host_core_limits(d, maxq > UINT32_MAX ? UINT32_MAX : (uint32_t)maxq);
	if (!rc)
		rc = vu_mem_table(d);
	if (!rc && o->inflight && (want & VH_BIT(VHU_PF_INFLIGHT_SHMFD)))
		rc = vu_inflight(d);
	for (uint16_t i = 0; !rc && i < d->nq; i++)
		rc = vu_queue(d, i);
	for (uint16_t i = 0; !rc && i < d->nq; i++)
		rc = vhu_set_vring_enable(d->vhu, i, true);
	return rc;
}

int vblk_host_open_vhost_user(const char *path, const struct vblk_host_opts *opts,
			      struct vblk_host **out)
{
	struct vblk_host *d;
	int rc = vblk_host_core_new(VBLK_TR_VHOST_USER, opts, &d);
	if (rc)
		return rc;
	d->notify = vu_notify;
	d->read_config = vu_read_config;
	d->device_status = vu_device_status;
	d->shutdown = vu_shutdown;
	rc = vhu_connect(path, &d->vhu);
	if (!rc) {
		vhu_set_timeout(d->vhu, d->opts.ctrl_timeout_ms);
		rc = vu_bring_up(d);
	}
	if (rc) {
		vblk_host_close(d);
		return rc;
	}
	*out = d;
	return 0;
}
