/* Guest-memory translation: region edges, spans across regions,
 * permissions, overlaps, removal. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/thread.h"
#include "emu/emu_internal.h"

#define MB (1u << 20)

static struct emu_function *g_fn;
static int g_memfd;
static uint8_t *g_local;	/* our own view of the memfd */

static int setup(void **state)
{
	(void)state;
	struct emu_config cfg;
	char err[256];
	assert_int_equal(thread_lib_init(), 0);
	emu_config_defaults(&cfg);
	cfg.no_endpoints = true;
	assert_int_equal(emu_init(&cfg, err, sizeof(err)), 0);
	g_fn = emu_pf_first();
	g_memfd = memfd_create("guest", 0);
	assert_int_equal(ftruncate(g_memfd, 4 * MB), 0);
	g_local = mmap(NULL, 4 * MB, PROT_READ | PROT_WRITE, MAP_SHARED, g_memfd, 0);
	for (unsigned i = 0; i < 4 * MB; i++)
		g_local[i] = (uint8_t)(i / 4096);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	emu_fini();
	munmap(g_local, 4 * MB);
	close(g_memfd);
	thread_lib_fini();
	return 0;
}

static void done_cb(void *arg, int rc)
{
	*(int *)arg = rc;
}

static void test_translate(void **state)
{
	(void)state;
	struct iovec iov[4];
	/* guest 0x100000..0x200000 -> file 0..1M, guest 0x200000..0x300000 -> file 2M..3M
	 * (adjacent in the guest, not locally), guest 0x400000 read-only */
	assert_int_equal(emu_mem_add(g_fn, 0x100000, MB, EMU_DMA_READ | EMU_DMA_WRITE, g_memfd, 0), 0);
	assert_int_equal(emu_mem_add(g_fn, 0x200000, MB, EMU_DMA_READ | EMU_DMA_WRITE, g_memfd, 2 * MB), 0);
	assert_int_equal(emu_mem_add(g_fn, 0x400000, MB, EMU_DMA_READ, g_memfd, MB), 0);
	assert_int_equal(emu_mem_count(g_fn), 3);

	/* inside one region */
	assert_int_equal(emu_dma_map(g_fn, 0x100000 + 8192, 100, EMU_DMA_READ, iov, 4), 1);
	assert_int_equal(iov[0].iov_len, 100);
	assert_int_equal(((uint8_t *)iov[0].iov_base)[0], 2);
	/* last byte of a region, and one past it */
	assert_int_equal(emu_dma_map(g_fn, 0x1fffff, 1, EMU_DMA_WRITE, iov, 4), 1);
	assert_int_equal(((uint8_t *)iov[0].iov_base)[0], 255);
	/* across the boundary of two adjacent regions: two pieces */
	assert_int_equal(emu_dma_map(g_fn, 0x1ff000, 0x2000, EMU_DMA_READ, iov, 4), 2);
	assert_int_equal(iov[0].iov_len, 0x1000);
	assert_int_equal(iov[1].iov_len, 0x1000);
	assert_int_equal(((uint8_t *)iov[0].iov_base)[0], 255);
	assert_int_equal(((uint8_t *)iov[1].iov_base)[0], (uint8_t)(2 * MB / 4096));
	assert_int_equal(emu_dma_map(g_fn, 0x1ff000, 0x2000, EMU_DMA_READ, iov, 1), -ENOSPC);
	/* into the hole after the second region */
	assert_int_equal(emu_dma_map(g_fn, 0x2ff000, 0x2000, EMU_DMA_READ, iov, 4), -EFAULT);
	assert_int_equal(emu_dma_map(g_fn, 0x300000, 1, EMU_DMA_READ, iov, 4), -EFAULT);
	assert_int_equal(emu_dma_map(g_fn, 0xfffff, 2, EMU_DMA_READ, iov, 4), -EFAULT);
	assert_int_equal(emu_dma_map(g_fn, 0, 1, EMU_DMA_READ, iov, 4), -EFAULT);
	/* wrap-around and zero length */
	assert_int_equal(emu_dma_map(g_fn, UINT64_MAX - 10, 100, EMU_DMA_READ, iov, 4), -EFAULT);
	assert_int_equal(emu_dma_map(g_fn, 0x100000, 0, EMU_DMA_READ, iov, 4), -EINVAL);
	/* permissions: the device may not write a read-only region */
	assert_int_equal(emu_dma_map(g_fn, 0x400000, 512, EMU_DMA_READ, iov, 4), 1);
	assert_int_equal(emu_dma_map(g_fn, 0x400000, 512, EMU_DMA_WRITE, iov, 4), -EACCES);
	/* overlaps are refused */
	assert_int_equal(emu_mem_add(g_fn, 0x1ff000, 0x2000, EMU_DMA_READ, g_memfd, 0), -EEXIST);
	assert_int_equal(emu_mem_add(g_fn, 0x0, 0x101000, EMU_DMA_READ, g_memfd, 0), -EEXIST);

	/* removal must match exactly; then the range is gone */
	int rc = 1;
	emu_mem_remove(g_fn, 0x200000, 0x1000, done_cb, &rc);
	assert_int_equal(rc, -ENOENT);
	rc = 1;
	emu_mem_remove(g_fn, 0x200000, MB, done_cb, &rc);
	assert_int_equal(rc, 0);	/* no reactors: completes at once */
	assert_int_equal(emu_dma_map(g_fn, 0x200000, 1, EMU_DMA_READ, iov, 4), -EFAULT);
	assert_int_equal(emu_dma_map(g_fn, 0x100000, 1, EMU_DMA_READ, iov, 4), 1);
	rc = 1;
	emu_mem_remove_all(g_fn, done_cb, &rc);
	assert_int_equal(rc, 0);
	assert_int_equal(emu_mem_count(g_fn), 0);
	assert_int_equal(emu_dma_map(g_fn, 0x100000, 1, EMU_DMA_READ, iov, 4), -EFAULT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_translate),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
