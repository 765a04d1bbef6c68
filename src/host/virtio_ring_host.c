/* Driver side of a split virtqueue. See virtio_ring_host.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/virtio_ring_host.h"

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

static bool is_pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

int vring_host_layout(uint32_t num, uint32_t indirect_max, struct vring_host_layout *l)
{
	if (!is_pow2(num) || num > VH_QUEUE_SIZE_MAX || indirect_max > num)
		return -EINVAL;
	l->desc_off = 0;
	l->avail_off = l->desc_off + vh_desc_size(num);
	l->used_off = align_up(l->avail_off + vh_avail_size(num), VH_USED_ALIGN);
	l->indirect_off = align_up(l->used_off + vh_used_size(num), VH_DESC_ALIGN);
	l->size = l->indirect_off + (size_t)num * indirect_max * sizeof(struct vh_desc);
	return 0;
}

/* used_event lives right after the available ring entries, avail_event
 * right after the used ring entries. */
static uint16_t *used_event_ptr(const struct vring_host *vq)
{
	return &vq->avail->ring[vq->num];
}

static uint16_t *avail_event_ptr(const struct vring_host *vq)
{
	return (uint16_t *)(void *)&vq->used->ring[vq->num];
}

int vring_host_init(struct vring_host *vq, const struct vring_host_cfg *cfg)
{
	struct vring_host_layout l;

	memset(vq, 0, sizeof(*vq));
	if (!cfg->mem || cfg->mem_addr % VH_DESC_ALIGN ||
	    vring_host_layout(cfg->num, cfg->indirect_max, &l))
		return -EINVAL;
	vq->next = calloc(cfg->num, sizeof(*vq->next));
	vq->chain = calloc(cfg->num, sizeof(*vq->chain));
	if (!vq->next || !vq->chain) {
		vring_host_fini(vq);
		return -ENOMEM;
	}
	uint8_t *m = cfg->mem;
	memset(m, 0, l.size);
	vq->num = cfg->num;
	vq->desc = (struct vh_desc *)(void *)(m + l.desc_off);
	vq->avail = (struct vh_avail *)(void *)(m + l.avail_off);
	vq->used = (struct vh_used *)(void *)(m + l.used_off);
	vq->desc_addr = cfg->mem_addr + l.desc_off;
	vq->avail_addr = cfg->mem_addr + l.avail_off;
	vq->used_addr = cfg->mem_addr + l.used_off;
	if (cfg->indirect_max) {
		vq->indirect = m + l.indirect_off;
		vq->indirect_addr = cfg->mem_addr + l.indirect_off;
		vq->indirect_max = cfg->indirect_max;
	}
	vq->event_idx = cfg->event_idx;
	vq->notify = cfg->notify;
	vq->notify_arg = cfg->notify_arg;

	/* The area was zeroed: both flags are 0 (used->flags must start at 0,
	 * spec 2.7.10.1). A ring restarted at start_idx has nothing pending:
	 * both indexes begin there, used_event asks for the first completion,
	 * and avail_event (device-owned, but in memory the driver allocates)
	 * starts where a device that has not written it yet would want the
	 * first notification; left at 0, a ring started elsewhere with
	 * EVENT_IDX would never be kicked. */
	vq->avail->idx = cfg->start_idx;
	vq->used->idx = cfg->start_idx;
	*used_event_ptr(vq) = cfg->start_idx;
	*avail_event_ptr(vq) = cfg->start_idx;
	vq->avail_idx = vq->published_idx = vq->notified_idx = cfg->start_idx;
	vq->last_used = cfg->start_idx;
	vq->cb_enabled = true;

	for (uint32_t i = 0; i < vq->num; i++)
		vq->next[i] = (uint16_t)(i + 1 < vq->num ? i + 1 : 0);
	vq->free_head = 0;
	vq->num_free = vq->num;
	return 0;
}

void vring_host_fini(struct vring_host *vq)
{
	free(vq->next);
	free(vq->chain);
	vq->next = NULL;
	vq->chain = NULL;
}

/* Record a new chain at head and put head into the next available slot. */
static void push_avail(struct vring_host *vq, uint16_t head, uint16_t ndesc, void *cookie)
{
	vq->chain[head] = (struct vring_host_chain){ cookie, ndesc, true };
	vq->num_free -= ndesc;
	vq->inflight++;
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	vq->avail_idx++;
}

int vring_host_add(struct vring_host *vq, const struct vring_host_buf *out, unsigned n_out,
		   const struct vring_host_buf *in, unsigned n_in, void *cookie, bool indirect)
{
	unsigned n = n_out + n_in;

	if (n == 0 || n > vq->num || (n_out && !out) || (n_in && !in))
		return -EINVAL;
	if (indirect && (!vq->indirect || n > vq->indirect_max))
		return -EINVAL;
	unsigned need = indirect ? 1 : n;
	if (vq->num_free < need)
		return -ENOSPC;

	uint16_t head = vq->free_head;
	if (indirect) {
		struct vh_desc *t;
		uint64_t taddr;
		vring_host_indirect_table(vq, head, &t, &taddr);
		for (unsigned i = 0; i < n; i++) {
			const struct vring_host_buf *b = i < n_out ? &out[i] : &in[i - n_out];
			uint16_t fl = (uint16_t)((i < n_out ? 0 : VH_DESC_F_WRITE) |
						 (i + 1 < n ? VH_DESC_F_NEXT : 0));
			t[i] = (struct vh_desc){ b->addr, b->len, fl, (uint16_t)(i + 1 < n ? i + 1 : 0) };
		}
		/* The WRITE flag of the descriptor referring to a table is
		 * ignored by the device; NEXT with INDIRECT is forbidden. */
		vq->desc[head] = (struct vh_desc){ taddr, (uint32_t)(n * sizeof(struct vh_desc)),
						   VH_DESC_F_INDIRECT, 0 };
		vq->free_head = vq->next[head];
	} else {
		uint16_t id = head;
		for (unsigned i = 0; i < n; i++) {
			const struct vring_host_buf *b = i < n_out ? &out[i] : &in[i - n_out];
			bool more = i + 1 < n;
			uint16_t fl = (uint16_t)((i < n_out ? 0 : VH_DESC_F_WRITE) |
						 (more ? VH_DESC_F_NEXT : 0));
			vq->desc[id] = (struct vh_desc){ b->addr, b->len, fl,
							 more ? vq->next[id] : 0 };
			id = vq->next[id];
		}
		vq->free_head = id;
	}
	push_avail(vq, head, (uint16_t)need, cookie);
	return head;
}

int vring_host_add_raw(struct vring_host *vq, const struct vring_host_raw *d, unsigned n,
		       void *cookie)
{
	if (n == 0 || n > vq->num || !d)
		return -EINVAL;
	for (unsigned k = 0; k < n; k++) {
		if (!d[k].next_abs && d[k].next >= n)
			return -EINVAL;
	}
	if (vq->num_free < n)
		return -ENOSPC;
	uint16_t *ids = malloc(n * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	uint16_t id = vq->free_head;
	for (unsigned k = 0; k < n; k++) {
		ids[k] = id;
		id = vq->next[id];
	}
	for (unsigned k = 0; k < n; k++) {
		uint16_t nx = d[k].next_abs ? d[k].next : ids[d[k].next];
		vq->desc[ids[k]] = (struct vh_desc){ d[k].addr, d[k].len, d[k].flags, nx };
	}
	uint16_t head = ids[0];
	vq->free_head = id;
	free(ids);
	push_avail(vq, head, (uint16_t)n, cookie);
	return head;
}

void vring_host_add_raw_head(struct vring_host *vq, uint16_t head)
{
	vq->avail->ring[vq->avail_idx & (vq->num - 1)] = head;
	vq->avail_idx++;
}

int vring_host_indirect_table(struct vring_host *vq, uint16_t head, struct vh_desc **table,
			      uint64_t *addr)
{
	if (!vq->indirect || head >= vq->num)
		return -EINVAL;
	size_t off = (size_t)head * vq->indirect_max * sizeof(struct vh_desc);
	if (table)
		*table = (struct vh_desc *)(void *)(vq->indirect + off);
	if (addr)
		*addr = vq->indirect_addr + off;
	return 0;
}

uint16_t vring_host_publish(struct vring_host *vq)
{
	/* release: the descriptors and available-ring slots written by the
	 * add functions become visible to the device before the new idx
	 * (spec 2.7.13.3.1). */
	__atomic_store_n(&vq->avail->idx, vq->avail_idx, __ATOMIC_RELEASE);
	vq->published_idx = vq->avail_idx;
	return vq->avail_idx;
}

bool vring_host_need_notify(struct vring_host *vq)
{
	uint16_t old = vq->notified_idx, cur = vq->published_idx;

	/* full barrier: the avail->idx store above must be visible before we
	 * read the device's suppression fields, or both sides could decide
	 * the other one will act (spec 2.7.13.4.1; a store-load order that
	 * only a full fence gives). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	vq->notified_idx = cur;
	if (cur == old)
		return false;
	if (vq->event_idx) {
		uint16_t ev = __atomic_load_n(avail_event_ptr(vq), __ATOMIC_RELAXED);
		return vring_host_need_event(ev, cur, old);
	}
	return !(__atomic_load_n(&vq->used->flags, __ATOMIC_RELAXED) & VH_USED_F_NO_NOTIFY);
}

int vring_host_notify(struct vring_host *vq)
{
	return vq->notify ? vq->notify(vq->notify_arg) : 0;
}

int vring_host_kick(struct vring_host *vq)
{
	vring_host_publish(vq);
	return vring_host_need_notify(vq) ? vring_host_notify(vq) : 0;
}

uint16_t vring_host_used_pending(const struct vring_host *vq)
{
	/* acquire: used-ring entries and the data the device wrote before
	 * its idx store are read only after this load. */
	uint16_t idx = __atomic_load_n(&vq->used->idx, __ATOMIC_ACQUIRE);
	return (uint16_t)(idx - vq->last_used);
}

/* Return the chain at head to the free list. */
static void free_chain(struct vring_host *vq, uint16_t head)
{
	uint16_t last = head;
	for (uint16_t i = 1; i < vq->chain[head].ndesc; i++)
		last = vq->next[last];
	vq->next[last] = vq->free_head;
	vq->free_head = head;
	vq->num_free += vq->chain[head].ndesc;
	vq->chain[head] = (struct vring_host_chain){ NULL, 0, false };
	vq->inflight--;
}

/* Keep used_event where the current notification choice wants it. */
static void update_used_event(struct vring_host *vq)
{
	if (!vq->event_idx)
		return;
	/* enabled: notify when the entry at last_used is written; disabled:
	 * one behind, which the device's idx has already passed, so it is
	 * not crossed again before the index wraps. */
	uint16_t ev = vq->cb_enabled ? vq->last_used : (uint16_t)(vq->last_used - 1);
	__atomic_store_n(used_event_ptr(vq), ev, __ATOMIC_RELAXED);
}

int vring_host_get_used(struct vring_host *vq, void **cookie, uint32_t *len, uint32_t *id)
{
	uint16_t pending = vring_host_used_pending(vq);	/* acquire, see there */

	if (pending == 0)
		return 0;
	if (pending > vq->num)
		return -EPROTO;
	struct vh_used_elem e = vq->used->ring[vq->last_used & (vq->num - 1)];
	vq->last_used++;
	if (id)
		*id = e.id;
	if (len)
		*len = e.len;
	if (cookie)
		*cookie = NULL;
	if (e.id >= vq->num || !vq->chain[e.id].busy) {
		update_used_event(vq);
		return -EBADMSG;
	}
	if (cookie)
		*cookie = vq->chain[e.id].cookie;
	free_chain(vq, (uint16_t)e.id);
	update_used_event(vq);
	return 1;
}

bool vring_host_enable_cb(struct vring_host *vq)
{
	vq->cb_enabled = true;
	if (vq->event_idx)
		update_used_event(vq);
	else
		__atomic_store_n(&vq->avail->flags, 0, __ATOMIC_RELAXED);
	/* full barrier: the store above must be visible before we look at
	 * used->idx again, or a completion written in between could find
	 * notifications still off while we go to sleep (store-load). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vring_host_used_pending(vq) != 0;
}

void vring_host_disable_cb(struct vring_host *vq)
{
	vq->cb_enabled = false;
	if (vq->event_idx)
		update_used_event(vq);
	else
		__atomic_store_n(&vq->avail->flags, VH_AVAIL_F_NO_INTERRUPT, __ATOMIC_RELAXED);
}

int vring_host_set_cookie(struct vring_host *vq, uint16_t head, void *cookie)
{
	if (head >= vq->num || !vq->chain[head].busy)
		return -EINVAL;
	vq->chain[head].cookie = cookie;
	return 0;
}

void *vring_host_cookie(const struct vring_host *vq, uint16_t head)
{
	return head < vq->num && vq->chain[head].busy ? vq->chain[head].cookie : NULL;
}

void vring_host_drain(struct vring_host *vq, void (*cb)(void *cookie, void *arg), void *arg)
{
	for (uint32_t h = 0; h < vq->num; h++) {
		if (!vq->chain[h].busy)
			continue;
		void *c = vq->chain[h].cookie;
		free_chain(vq, (uint16_t)h);
		if (cb)
			cb(c, arg);
	}
}
