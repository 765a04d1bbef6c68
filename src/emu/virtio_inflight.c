/* In-flight tracking of a split virtqueue in shared memory; see
 * virtio_inflight.h. The order of the stores is what a successor relies on
 * after a kill at any instruction: stores reach the shared pages in program
 * order as far as the barriers below say, and the process dying loses none
 * that were executed. */
#include "virtio_inflight.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct pending {
	uint64_t counter;
	uint16_t head;
};

uint64_t vinfl_queue_bytes(uint16_t queue_size)
{
	uint64_t b = sizeof(struct vinfl_split) + (uint64_t)queue_size * sizeof(struct vinfl_desc);
	return (b + VINFL_ALIGN - 1) & ~(uint64_t)(VINFL_ALIGN - 1);
}

int vinfl_queue_init(struct vinfl_queue *q, struct vinfl_split *r, uint16_t num)
{
	memset(q, 0, sizeof(*q));
	if (!r || !num)
		return 0;
	q->resubmit = calloc(num, sizeof(*q->resubmit));
	q->batch = calloc(num, sizeof(*q->batch));
	if (!q->resubmit || !q->batch) {
		vinfl_queue_fini(q);
		return -ENOMEM;
	}
	q->r = r;
	q->num = num;
	return 0;
}

void vinfl_queue_fini(struct vinfl_queue *q)
{
	free(q->resubmit);
	free(q->batch);
	memset(q, 0, sizeof(*q));
}

/* A slice with nothing in flight, for a ring of ring_size entries whose
 * used->idx is used_idx. */
static void slice_init(struct vinfl_split *r, uint16_t ring_size, uint16_t used_idx)
{
	for (uint32_t i = 0; i < ring_size; i++) {
		__atomic_store_n(&r->desc[i].inflight, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&r->desc[i].next, 0, __ATOMIC_RELAXED);
		__atomic_store_n(&r->desc[i].counter, 0, __ATOMIC_RELAXED);
	}
	__atomic_store_n(&r->features, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->desc_num, ring_size, __ATOMIC_RELAXED);
	__atomic_store_n(&r->last_batch_head, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&r->used_idx, used_idx, __ATOMIC_RELAXED);
	/* release: a successor that sees the version finds the rest in place */
	__atomic_store_n(&r->version, VINFL_VERSION, __ATOMIC_RELEASE);
}

/* The last batch was published in used->idx (used_idx) but the service died
 * before clearing its marks: clear them now (the spec's reconnect step 1). */
static void settle_last_batch(struct vinfl_split *r, uint16_t ring_size, uint16_t used_idx)
{
	uint16_t settled = __atomic_load_n(&r->used_idx, __ATOMIC_RELAXED);
	if (settled == used_idx)
		return;
	uint16_t n = (uint16_t)(used_idx - settled);
	/* a batch holds distinct heads: more than the ring has is garbage */
	if (n > ring_size)
		n = ring_size;
	uint16_t h = __atomic_load_n(&r->last_batch_head, __ATOMIC_RELAXED);
	for (uint16_t k = 0; k < n && h < ring_size; k++) {
		__atomic_store_n(&r->desc[h].inflight, 0, __ATOMIC_RELAXED);
		h = __atomic_load_n(&r->desc[h].next, __ATOMIC_RELAXED);
	}
	/* release: the marks are cleared before the batch is recorded settled */
	__atomic_store_n(&r->used_idx, used_idx, __ATOMIC_RELEASE);
}

static int pending_cmp(const void *a, const void *b)
{
	const struct pending *x = a, *y = b;
	if (x->counter != y->counter)
		return x->counter < y->counter ? -1 : 1;
	return x->head < y->head ? -1 : x->head > y->head;
}

enum vinfl_recovery vinfl_recover(struct vinfl_queue *q, uint16_t ring_size, uint16_t used_idx,
				  uint16_t *last_avail)
{
	q->recovered = true;
	q->outcome = VINFL_NONE;
	q->nresubmit = q->resubmit_pos = 0;
	q->nbatch = 0;
	q->counter = 1;
	if (!q->r || !ring_size || ring_size > q->num) {
		/* heads up to ring_size would fall outside the slice */
		q->r = NULL;
		return VINFL_NONE;
	}
	struct vinfl_split *r = q->r;
	uint16_t version = __atomic_load_n(&r->version, __ATOMIC_ACQUIRE);
	uint16_t desc_num = __atomic_load_n(&r->desc_num, __ATOMIC_RELAXED);
	if (version != VINFL_VERSION || desc_num != ring_size) {
		slice_init(r, ring_size, used_idx);
		q->outcome = version == 0 ? VINFL_FRESH : VINFL_GARBAGE;
		return q->outcome;
	}
	settle_last_batch(r, ring_size, used_idx);

	struct pending *p = malloc((size_t)ring_size * sizeof(*p));
	uint16_t n = 0;
	uint64_t max = 0;
	for (uint32_t i = 0; i < ring_size; i++) {
		uint8_t v = __atomic_load_n(&r->desc[i].inflight, __ATOMIC_RELAXED);
		if (v == 1 && p) {
			p[n].counter = __atomic_load_n(&r->desc[i].counter, __ATOMIC_RELAXED);
			p[n].head = (uint16_t)i;
			if (p[n].counter > max)
				max = p[n].counter;
			n++;
		} else if (v != 0) {
			/* neither marked nor clear: garbage, not a request */
			__atomic_store_n(&r->desc[i].inflight, 0, __ATOMIC_RELAXED);
		}
	}
	if (!p) {
		/* without the list nothing can be resubmitted in order: the
		 * queue runs untracked (the marks stay for a later start) */
		q->r = NULL;
		return VINFL_NONE;
	}
	qsort(p, n, sizeof(*p), pending_cmp);
	for (uint16_t i = 0; i < n; i++)
		q->resubmit[i] = p[i].head;
	free(p);
	q->nresubmit = n;
	q->counter = max < UINT64_MAX ? max + 1 : max;
	/* every head taken off the avail ring is either used or in flight */
	*last_avail = (uint16_t)(used_idx + n);
	q->outcome = VINFL_RECOVERED;
	return VINFL_RECOVERED;
}

bool vinfl_resubmit_next(struct vinfl_queue *q, uint16_t *head)
{
	if (!vinfl_resubmit_pending(q))
		return false;
	*head = q->resubmit[q->resubmit_pos++];
	return true;
}

void vinfl_fetch(struct vinfl_queue *q, uint16_t head)
{
	if (!q->r || head >= q->num)
		return;
	struct vinfl_desc *d = &q->r->desc[head];
	__atomic_store_n(&d->counter, q->counter++, __ATOMIC_RELAXED);
	/* release: a head seen in flight carries its counter */
	__atomic_store_n(&d->inflight, 1, __ATOMIC_RELEASE);
}

void vinfl_push(struct vinfl_queue *q, uint16_t head)
{
	if (!q->r || head >= q->num || q->nbatch >= q->num)
		return;
	struct vinfl_split *r = q->r;
	__atomic_store_n(&r->desc[head].next, __atomic_load_n(&r->last_batch_head, __ATOMIC_RELAXED),
			 __ATOMIC_RELAXED);
	__atomic_store_n(&r->last_batch_head, head, __ATOMIC_RELAXED);
	q->batch[q->nbatch++] = head;
	/* the list reaches memory before used->idx: the caller publishes with a
	 * release store */
}

void vinfl_published(struct vinfl_queue *q, uint16_t used_idx)
{
	if (!q->r)
		return;
	struct vinfl_split *r = q->r;
	/* store-store: used->idx (just stored by the caller) reaches memory
	 * before the marks are cleared; a kill in between leaves used_idx
	 * unsettled, and the successor clears the batch from its list */
	atomic_thread_fence(memory_order_release);
	for (uint16_t k = 0; k < q->nbatch; k++)
		__atomic_store_n(&r->desc[q->batch[k]].inflight, 0, __ATOMIC_RELAXED);
	q->nbatch = 0;
	/* release: the marks are cleared before the batch is recorded settled */
	__atomic_store_n(&r->used_idx, used_idx, __ATOMIC_RELEASE);
}
