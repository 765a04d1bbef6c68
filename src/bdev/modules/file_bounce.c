/* Per-reactor staging chunks: see file_bounce.h. */
#include "file_bounce.h"
#include "core/log.h"
#include "core/params.h"
#include "core/thread.h"

#include <errno.h>
#include <sys/mman.h>

struct bounce_pool {
	uint8_t *mem;
	uint32_t nchunks;
	uint32_t nfree;
	uint32_t *free_idx;	/* stack of free chunk indexes (after the chunks, in
				 * the same mapping: nothing to free at exit) */
	bool failed;		/* could not be made: do not try again */
};

static _Thread_local struct bounce_pool t_pool;

/* Bytes for this reactor's pool: SNAP_MEMPOOL_4K_BUFFS_PER_CORE 4 KiB
 * buffers, within an even share of SNAP_MEMPOOL_SIZE_MB, and at least one
 * request's worth. */
static uint64_t pool_bytes(void)
{
	uint64_t per_core = (uint64_t)param_int(P_SNAP_MEMPOOL_4K_BUFFS_PER_CORE) * 4096u;
	int n = reactor_count() > 0 ? reactor_count() : 1;
	uint64_t share = (uint64_t)param_int(P_SNAP_MEMPOOL_SIZE_MB) * 1024u * 1024u / (uint64_t)n;
	if (per_core > share)
		per_core = share;
	if (per_core < (uint64_t)FILE_BOUNCE_CHUNK * FILE_BOUNCE_MAX_CHUNKS)
		per_core = (uint64_t)FILE_BOUNCE_CHUNK * FILE_BOUNCE_MAX_CHUNKS;
	return per_core;
}

static int pool_make(struct bounce_pool *p)
{
	uint64_t bytes = pool_bytes();
	p->nchunks = (uint32_t)(bytes / FILE_BOUNCE_CHUNK);
	size_t chunks = (size_t)p->nchunks * FILE_BOUNCE_CHUNK;
	/* page aligned (mmap): suits every O_DIRECT memory alignment; the
	 * pool lives as long as its reactor thread */
	void *mem = mmap(NULL, chunks + (size_t)p->nchunks * sizeof(uint32_t), PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED) {
		p->nchunks = 0;
		p->failed = true;
		log_err("no memory for the staging buffers of unaligned guest I/O");
		return -ENOMEM;
	}
	p->mem = mem;
	p->free_idx = (uint32_t *)(p->mem + chunks);
	for (uint32_t i = 0; i < p->nchunks; i++)
		p->free_idx[i] = p->nchunks - 1 - i;
	p->nfree = p->nchunks;
	return 0;
}

int file_bounce_get(struct iovec *iov, uint64_t len)
{
	struct bounce_pool *p = &t_pool;
	if (!p->mem && (p->failed || pool_make(p)))
		return -ENOMEM;
	uint64_t n = (len + FILE_BOUNCE_CHUNK - 1) / FILE_BOUNCE_CHUNK;
	if (!len || n > FILE_BOUNCE_MAX_CHUNKS || n > p->nchunks)
		return -E2BIG;
	if (n > p->nfree)
		return -EAGAIN;
	for (uint64_t i = 0; i < n; i++) {
		uint32_t idx = p->free_idx[--p->nfree];
		iov[i].iov_base = p->mem + (size_t)idx * FILE_BOUNCE_CHUNK;
		iov[i].iov_len = FILE_BOUNCE_CHUNK;
	}
	iov[n - 1].iov_len = (size_t)(len - (n - 1) * FILE_BOUNCE_CHUNK);
	return (int)n;
}

void file_bounce_put(struct iovec *iov, int n)
{
	struct bounce_pool *p = &t_pool;
	for (int i = 0; i < n; i++)
		p->free_idx[p->nfree++] = (uint32_t)(((uint8_t *)iov[i].iov_base - p->mem) / FILE_BOUNCE_CHUNK);
}

void file_bounce_stats(uint32_t *total, uint32_t *free_chunks)
{
	*total = t_pool.nchunks;
	*free_chunks = t_pool.nfree;
}
