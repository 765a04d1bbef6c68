/* Split virtqueues, device side. See vq_split.h. */
#include "vq_split.h"
#include "emu/emu.h"

#include <errno.h>
#include <stdatomic.h>
#include <string.h>

static void *map_one(struct emu_function *fn, uint64_t gpa, uint64_t len, int prot)
{
	struct iovec iov;
	if (emu_dma_map(fn, gpa, len, prot, &iov, 1) != 1)
		return NULL;
	return iov.iov_base;
}

static uint16_t avail_idx(struct vq *q);

/* The rings are mapped for the first time: recover the in-flight slice
 * (vinfl_recover; a valid one says where the rings stand), else with
 * resume_from_used start from used->idx when the avail ring agrees. */
static void first_map(struct vq *q)
{
	q->mapped_once = true;
	q->corrected_from = -1;
	uint16_t used = __atomic_load_n(&q->used->idx, __ATOMIC_ACQUIRE);
	uint16_t last = q->last_avail;
	if (q->infl.r && vinfl_recover(&q->infl, (uint16_t)q->size, used, &last) == VINFL_RECOVERED) {
		q->last_avail = last;
		q->used_idx = used;
	} else if (q->resume_from_used && used != q->last_avail &&
		   (uint16_t)(avail_idx(q) - used) <= q->size) {
		q->corrected_from = q->last_avail;
		q->last_avail = q->used_idx = used;
	}
	q->avail_shadow = q->last_avail;	/* nothing known past it yet */
}

int vq_map(struct vq *q)
{
	q->gen = emu_mem_generation(q->fn);
	struct vring_desc *desc = map_one(q->fn, q->desc_gpa, vring_desc_bytes(q->size), EMU_DMA_READ);
	struct vring_avail *avail = map_one(q->fn, q->avail_gpa, vring_avail_bytes(q->size), EMU_DMA_READ);
	struct vring_used *used = map_one(q->fn, q->used_gpa, vring_used_bytes(q->size), EMU_DMA_WRITE);
	if (!desc || !avail || !used)
		return -EFAULT;	/* the previous translation is left as it was */
	q->desc = desc;
	q->avail = avail;
	q->used = used;
	if (!q->mapped_once)
		first_map(q);
	return 0;
}

static uint16_t avail_idx(struct vq *q)
{
	/* acquire: the ring entries and descriptors the driver wrote before
	 * bumping idx are visible once we see the new idx */
	return __atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE);
}

bool vq_has_work(struct vq *q)
{
	return vinfl_resubmit_pending(&q->infl) || avail_idx(q) != q->last_avail;
}

/* Append the translation of one descriptor's buffer. */
static int add_buf(struct vq *q, struct vq_chain *c, const struct vring_desc *d, bool *seen_write)
{
	bool wr = d->flags & VRING_DESC_F_WRITE;
	if (!wr && *seen_write)
		return -EINVAL;	/* readable after writable */
	*seen_write |= wr;
	if (!d->len)
		return 0;	/* empty buffers carry nothing */
	int have = c->nout + c->nin;
	int n = emu_dma_map(q->fn, d->addr, d->len, wr ? EMU_DMA_WRITE : EMU_DMA_READ, &c->iov[have],
			    c->max_iov - have);
	if (n < 0)
		return n;
	if (wr) {
		c->nin += n;
		c->in_len += d->len;
	} else {
		c->nout += n;
		c->out_len += d->len;
	}
	return 0;
}

static int walk_indirect(struct vq *q, struct vq_chain *c, const struct vring_desc *d,
			 bool *seen_write, unsigned *count)
{
	if (!q->indirect || (d->flags & VRING_DESC_F_NEXT) || !d->len || d->len % 16 ||
	    d->len / 16 > VQ_MAX_CHAIN)
		return -EINVAL;
	uint32_t n = d->len / 16;
	const struct vring_desc *tbl = map_one(q->fn, d->addr, d->len, EMU_DMA_READ);
	if (!tbl)
		return -EFAULT;
	uint32_t i = 0, in_table = 0;
	for (;;) {
		struct vring_desc e;
		memcpy(&e, &tbl[i], sizeof(e));
		if (e.flags & VRING_DESC_F_INDIRECT)
			return -EINVAL;	/* no nesting */
		/* a chain longer than its table revisits an entry: a loop */
		if (++in_table > n || ++*count > VQ_MAX_CHAIN)
			return -EINVAL;
		int rc = add_buf(q, c, &e, seen_write);
		if (rc)
			return rc;
		if (!(e.flags & VRING_DESC_F_NEXT))
			return 0;
		if (e.next >= n)
			return -EINVAL;
		i = e.next;
	}
}

int vq_pop(struct vq *q, struct vq_chain *c)
{
	uint16_t head;
	if (!vinfl_resubmit_next(&q->infl, &head)) {
		/* the driver's index is read again only when what it said last
		 * time has been taken (or when last_avail was set from outside) */
		if ((uint16_t)(q->avail_shadow - q->last_avail) == 0 ||
		    (uint16_t)(q->avail_shadow - q->last_avail) > q->size) {
			uint16_t avail = avail_idx(q);
			if (avail == q->last_avail)
				return 0;
			if ((uint16_t)(avail - q->last_avail) > q->size)
				return -EPROTO;	/* the driver claims more than the ring holds */
			q->avail_shadow = avail;
		}
		head = __atomic_load_n(&q->avail->ring[q->last_avail % q->size], __ATOMIC_RELAXED);
		q->last_avail++;
		/* marked before anything of the request is done; a head in
		 * flight since the last start keeps its mark and counter */
		if (head < q->size)
			vinfl_fetch(&q->infl, head);
		if (q->avail_shadow != q->last_avail) {
			/* start fetching the next request's first descriptor
			 * (written by the driver's core: a cache miss) while this
			 * one is served */
			uint16_t next = __atomic_load_n(&q->avail->ring[q->last_avail % q->size],
							__ATOMIC_RELAXED);
			if (next < q->size)
				__builtin_prefetch(&q->desc[next]);
		}
	}
	c->head = head;
	c->nout = c->nin = 0;
	c->out_len = c->in_len = 0;
	if (head >= q->size)
		return -EINVAL;

	bool seen_write = false;
	unsigned count = 0, direct = 0;
	uint16_t i = head;
	for (;;) {
		struct vring_desc d;
		memcpy(&d, &q->desc[i], sizeof(d));
		/* a chain longer than the ring must revisit a descriptor: a loop */
		if (++direct > q->size || ++count > VQ_MAX_CHAIN + q->size)
			return -EINVAL;
		int rc;
		if (d.flags & VRING_DESC_F_INDIRECT)
			rc = walk_indirect(q, c, &d, &seen_write, &count);
		else
			rc = add_buf(q, c, &d, &seen_write);
		if (rc)
			return rc;
		if (!(d.flags & VRING_DESC_F_NEXT) || (d.flags & VRING_DESC_F_INDIRECT))
			return 1;
		if (d.next >= q->size)
			return -EINVAL;
		i = d.next;
	}
}

static uint16_t *used_event(struct vq *q)
{
	return &q->avail->ring[q->size];
}

static uint16_t *avail_event(struct vq *q)
{
	return (uint16_t *)&q->used->ring[q->size];
}

void vq_push(struct vq *q, uint16_t head, uint32_t len)
{
	struct vring_used_elem *e = &q->used->ring[q->used_idx % q->size];
	e->id = head;
	e->len = len;
	q->used_idx++;
	vinfl_push(&q->infl, head);
}

void vq_flush(struct vq *q)
{
	/* release: the used elements (and the data written into the buffers)
	 * are visible before the driver sees the new index */
	__atomic_store_n(&q->used->idx, q->used_idx, __ATOMIC_RELEASE);
	/* then the in-flight marks of what was published (the spec's order:
	 * used ring, used->idx, marks cleared, the slice's used_idx) */
	vinfl_published(&q->infl, q->used_idx);
}

bool vq_need_signal(struct vq *q)
{
	/* orders our used->idx store before reading the driver's suppression
	 * state, pairing with the driver's barrier between its used_event
	 * store and its used->idx read */
	atomic_thread_fence(memory_order_seq_cst);
	uint16_t old = q->signalled_used, nw = q->used_idx;
	bool valid = q->signalled_valid;
	q->signalled_used = nw;
	q->signalled_valid = true;
	if (!q->event_idx)
		return !(__atomic_load_n(&q->avail->flags, __ATOMIC_RELAXED) & VRING_AVAIL_F_NO_INTERRUPT);
	uint16_t ev = __atomic_load_n(used_event(q), __ATOMIC_RELAXED);
	if (!valid)
		return true;
	/* the event-idx rule: signal when used_event lies in [old, nw) */
	return (uint16_t)(nw - ev - 1) < (uint16_t)(nw - old);
}

bool vq_enable_kick(struct vq *q)
{
	if (q->event_idx)
		__atomic_store_n(avail_event(q), q->last_avail, __ATOMIC_RELAXED);
	else
		__atomic_store_n(&q->used->flags, 0, __ATOMIC_RELAXED);
	/* orders the store above before re-reading avail->idx, pairing with the
	 * driver's barrier between its avail->idx store and its check */
	atomic_thread_fence(memory_order_seq_cst);
	return vq_has_work(q);
}

void vq_disable_kick(struct vq *q)
{
	if (!q->event_idx)
		__atomic_store_n(&q->used->flags, VRING_USED_F_NO_NOTIFY, __ATOMIC_RELAXED);
	/* with event idx we simply stop moving avail_event */
}
