/* Guest-memory stand-in: memfd + shared mapping. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/host_mem.h"

int host_mem_create(size_t size, struct host_mem **out)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);

	if (size == 0 || size > SIZE_MAX - page)
		return -EINVAL;
	size = (size + page - 1) / page * page;
	struct host_mem *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	int err;
	m->fd = memfd_create("osnap-host-mem", MFD_CLOEXEC);
	if (m->fd < 0) {
		err = errno;
		goto fail;
	}
	if (ftruncate(m->fd, (off_t)size) < 0) {
		err = errno;
		goto fail_fd;
	}
	m->ptr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd, 0);
	if (m->ptr == MAP_FAILED) {
		err = errno;
		goto fail_fd;
	}
	m->size = size;
	*out = m;
	return 0;
fail_fd:
	close(m->fd);
fail:
	free(m);
	return -err;
}

void host_mem_destroy(struct host_mem *m)
{
	if (!m)
		return;
	munmap(m->ptr, m->size);
	close(m->fd);
	free(m);
}
