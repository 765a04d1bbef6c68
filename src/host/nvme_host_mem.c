/* Guest-memory arena of the host NVMe driver: a first-fit allocator over the
 * memfd shared with the controller, handing out pointer + IOVA pairs. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "host/nvme_host_priv.h"

#define ARENA_GRAIN	64u

int nvme_arena_init(struct nvme_arena *a, void *base, uint64_t iova, size_t size)
{
	memset(a, 0, sizeof(*a));
	if (pthread_mutex_init(&a->lock, NULL))
		return -ENOMEM;
	a->base = base;
	a->iova = iova;
	a->size = size;
	a->cap_free = 16;
	a->free = malloc(a->cap_free * sizeof(*a->free));
	if (!a->free) {
		pthread_mutex_destroy(&a->lock);
		return -ENOMEM;
	}
	a->free[0] = (struct nvme_arena_ext){ 0, size };
	a->nfree = 1;
	return 0;
}

void nvme_arena_fini(struct nvme_arena *a)
{
	if (!a->free)
		return;
	free(a->free);
	free(a->used);
	pthread_mutex_destroy(&a->lock);
	memset(a, 0, sizeof(*a));
}

/* Make room for one more entry in *arr. */
static int grow(struct nvme_arena_ext **arr, size_t n, size_t *cap)
{
	if (n < *cap)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	struct nvme_arena_ext *p = realloc(*arr, ncap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Insert a free extent at index i of the sorted list (room was made). */
static void free_insert(struct nvme_arena *a, size_t i, size_t off, size_t len)
{
	memmove(&a->free[i + 1], &a->free[i], (a->nfree - i) * sizeof(*a->free));
	a->free[i] = (struct nvme_arena_ext){ off, len };
	a->nfree++;
}

static void free_remove(struct nvme_arena *a, size_t i)
{
	memmove(&a->free[i], &a->free[i + 1], (a->nfree - i - 1) * sizeof(*a->free));
	a->nfree--;
}

void *nvme_arena_alloc(struct nvme_arena *a, size_t len, size_t align, uint64_t *iova)
{
	if (len == 0 || len > a->size || (align & (align - 1)))
		return NULL;
	if (align < ARENA_GRAIN)
		align = ARENA_GRAIN;
	len = (len + ARENA_GRAIN - 1) & ~(size_t)(ARENA_GRAIN - 1);

	void *ret = NULL;
	pthread_mutex_lock(&a->lock);
	/* room for a split (one more free extent) and the used record */
	if (grow(&a->free, a->nfree + 1, &a->cap_free) ||
	    grow(&a->used, a->nused, &a->cap_used))
		goto out;
	for (size_t i = 0; i < a->nfree; i++) {
		struct nvme_arena_ext e = a->free[i];
		uint64_t start = a->iova + e.off;
		uint64_t aligned = (start + align - 1) & ~(uint64_t)(align - 1);
		size_t pad = (size_t)(aligned - start);

		if (pad > e.len || e.len - pad < len)
			continue;
		size_t off = e.off + pad, tail = e.len - pad - len;
		/* replace e by its head padding and tail remainder */
		free_remove(a, i);
		if (tail)
			free_insert(a, i, off + len, tail);
		if (pad)
			free_insert(a, i, e.off, pad);
		a->used[a->nused++] = (struct nvme_arena_ext){ off, len };
		ret = a->base + off;
		if (iova)
			*iova = a->iova + off;
		break;
	}
out:
	pthread_mutex_unlock(&a->lock);
	if (ret)
		memset(ret, 0, len);
	return ret;
}

void nvme_arena_free(struct nvme_arena *a, void *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&a->lock);
	size_t off = (size_t)((uint8_t *)p - a->base);
	size_t u;
	for (u = 0; u < a->nused && a->used[u].off != off; u++)
		;
	if (u == a->nused)
		goto out;	/* not ours: ignore */
	size_t len = a->used[u].len;
	a->used[u] = a->used[--a->nused];

	size_t i;
	for (i = 0; i < a->nfree && a->free[i].off < off; i++)
		;
	bool merge_prev = i > 0 && a->free[i - 1].off + a->free[i - 1].len == off;
	bool merge_next = i < a->nfree && off + len == a->free[i].off;
	if (merge_prev && merge_next) {
		a->free[i - 1].len += len + a->free[i].len;
		free_remove(a, i);
	} else if (merge_prev) {
		a->free[i - 1].len += len;
	} else if (merge_next) {
		a->free[i].off = off;
		a->free[i].len += len;
	} else {
		/* when the list cannot grow the block is lost (a leak, no harm) */
		if (grow(&a->free, a->nfree, &a->cap_free) == 0)
			free_insert(a, i, off, len);
	}
out:
	pthread_mutex_unlock(&a->lock);
}

int nvme_arena_iova(const struct nvme_arena *a, const void *p, size_t len, uint64_t *iova)
{
	const uint8_t *b = p;

	if (!b || b < a->base || b > a->base + a->size || len > (size_t)(a->base + a->size - b))
		return -EFAULT;
	*iova = a->iova + (uint64_t)(b - a->base);
	return 0;
}
