/* Staging buffers for file and block-device bdevs: guest buffers that
 * O_DIRECT cannot take (an address not aligned as the file system needs)
 * are copied through aligned memory instead of sending the whole bdev to
 * the page cache. One pool per reactor (nothing shared, no lock), of
 * FILE_BOUNCE_CHUNK-byte chunks, sized by SNAP's SNAP_MEMPOOL_4K_BUFFS_PER_CORE
 * (4 KiB buffers per core) within SNAP_MEMPOOL_SIZE_MB over all reactors. */
#ifndef OSNAP_FILE_BOUNCE_H
#define OSNAP_FILE_BOUNCE_H

#include <stdint.h>
#include <sys/uio.h>

#define FILE_BOUNCE_CHUNK (128u * 1024u)
#define FILE_BOUNCE_MAX_CHUNKS 8	/* per request: 1 MiB */

/* Take chunks covering len bytes into iov (at most FILE_BOUNCE_MAX_CHUNKS);
 * the last one is cut to what len needs. Returns the number of chunks,
 * -EAGAIN when the pool has not enough free now (in-flight requests give
 * theirs back), -E2BIG when len can never be staged (larger than a
 * request's share or the whole pool), -ENOMEM when the pool cannot be
 * made. Reactor (or any single thread) only. */
int file_bounce_get(struct iovec *iov, uint64_t len);
/* Give the chunks back (n from file_bounce_get). */
void file_bounce_put(struct iovec *iov, int n);
/* Chunks of the calling thread's pool: total and free (0, 0 before its
 * first use). */
void file_bounce_stats(uint32_t *total, uint32_t *free_chunks);

#endif
