/* Guest-memory stand-in for tests and benchmarks: a shared memfd mapping
 * that a vfio-user client hands to the server with
 * vfu_dma_map(c, iova, m->size, m->fd, 0, VFU_PROT_READ | VFU_PROT_WRITE). */
#ifndef OSNAP_HOST_HOST_MEM_H
#define OSNAP_HOST_HOST_MEM_H

#include <stddef.h>

struct host_mem {
	int fd;		/* memfd, owned by the host_mem */
	void *ptr;	/* MAP_SHARED mapping of the whole memfd */
	size_t size;
};

/* Create size bytes (> 0, rounded up to the page size) of zeroed shared
 * memory backed by a memfd. On success *out owns the fd and the mapping;
 * release with host_mem_destroy(). Returns 0, -EINVAL for size 0 or too
 * large, or the errno of memfd_create/ftruncate/mmap (negative). The
 * object is not locked: use it from one thread at a time, or synchronise
 * access to its contents yourself. */
int host_mem_create(size_t size, struct host_mem **out);

/* Unmap, close and free m. NULL is allowed. Mappings the server made from
 * the fd stay valid until the server drops them. */
void host_mem_destroy(struct host_mem *m);

#endif
