/* The vhost-user in-flight region (src/emu/vhost_user/vhu_inflight.c): what
 * GET_INFLIGHT_FD creates, what SET_INFLIGHT_FD accepts back (every size
 * and offset a front end may get wrong), and the slices queues get. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "emu/vhost_user/vhu_inflight.h"

static void no_fault(void *arg)
{
	(void)arg;
}

static int attach(struct vhu_inflight_map *m, uint64_t size, uint64_t off, uint16_t nq, uint16_t qs, int fd)
{
	struct vhu_inflight in = { .mmap_size = size, .mmap_offset = off, .num_queues = nq, .queue_size = qs };
	vhu_inflight_map_init(m);
	return vhu_inflight_attach(m, &in, fd, 4, no_fault, NULL);
}

/* GET: a sealed, zeroed memfd just large enough, rounded to pages */
static void test_create(void **state)
{
	(void)state;
	struct vhu_inflight req = { .num_queues = 2, .queue_size = 128 }, out;
	int fd = -1;
	assert_int_equal(vhu_inflight_create(&req, 4, &out, &fd), 0);
	assert_true(fd >= 0);
	assert_int_equal(out.num_queues, 2);
	assert_int_equal(out.queue_size, 128);
	assert_int_equal(out.mmap_offset, 0);
	assert_int_equal(vinfl_queue_bytes(128), 16 + 128 * 16 + 48);
	assert_int_equal(out.mmap_size, 8192);	/* 2 * 2112 rounded to pages */
	struct stat st;
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 8192);
	int seals = fcntl(fd, F_GET_SEALS);
	assert_true(seals & F_SEAL_SHRINK);
	assert_true(seals & F_SEAL_GROW);
	assert_int_equal(ftruncate(fd, 4096), -1);
	close(fd);

	/* sizes out of range */
	struct vhu_inflight bad[] = {
		{ .num_queues = 0, .queue_size = 128 }, { .num_queues = 5, .queue_size = 128 },
		{ .num_queues = 1, .queue_size = 0 }, { .num_queues = 1, .queue_size = 40000 },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(vhu_inflight_create(&bad[i], 4, &out, &fd), -EINVAL);
}

/* SET: the region handed back is checked against its file before mapping */
static void test_attach_checks(void **state)
{
	(void)state;
	struct vhu_inflight_map m;
	int fd = memfd_create("t", MFD_CLOEXEC);
	assert_int_equal(ftruncate(fd, 3 * 4096), 0);
	uint64_t need = 2 * vinfl_queue_bytes(128);

	assert_int_equal(attach(&m, need, 0, 2, 128, fd), 0);
	assert_non_null(m.base);
	uint16_t num = 0;
	struct vinfl_split *q0 = vhu_inflight_queue(&m, 0, 128, &num);
	struct vinfl_split *q1 = vhu_inflight_queue(&m, 1, 64, &num);
	assert_ptr_equal(q0, m.base);
	assert_ptr_equal((uint8_t *)q1, m.base + vinfl_queue_bytes(128));
	assert_int_equal(num, 128);
	assert_null(vhu_inflight_queue(&m, 2, 128, &num));	/* beyond its queues */
	assert_null(vhu_inflight_queue(&m, 0, 256, &num));	/* ring larger than a slice */
	/* a second attach does not replace the first */
	struct vhu_inflight in = { need, 0, 2, 128, 0 };
	assert_int_equal(vhu_inflight_attach(&m, &in, fd, 4, no_fault, NULL), -EINVAL);
	vhu_inflight_detach(&m);
	assert_null(m.base);
	assert_null(vhu_inflight_queue(&m, 0, 128, &num));

	assert_int_equal(attach(&m, need - 1, 0, 2, 128, fd), -EINVAL);	/* too small */
	assert_int_equal(attach(&m, need, 100, 2, 128, fd), -EINVAL);		/* unaligned */
	assert_int_equal(attach(&m, need, 2 * 4096, 2, 128, fd), -EINVAL);	/* past the file */
	assert_int_equal(attach(&m, 4 * 4096, 0, 2, 128, fd), -EINVAL);	/* past the file */
	assert_int_equal(attach(&m, need, ~0ull & ~4095ull, 2, 128, fd), -EINVAL);	/* wraps */
	assert_int_equal(attach(&m, ~0ull, 0, 2, 128, fd), -EINVAL);
	assert_int_equal(attach(&m, need, 0, 0, 128, fd), -EINVAL);
	assert_int_equal(attach(&m, need, 0, 5, 128, fd), -EINVAL);		/* more than the device */
	assert_int_equal(attach(&m, need, 0, 2, 0, fd), -EINVAL);
	assert_int_equal(attach(&m, need, 0, 2, 65535, fd), -EINVAL);
	assert_null(m.base);
	/* the second page onwards is fine */
	assert_int_equal(attach(&m, need, 4096, 2, 128, fd), 0);
	vhu_inflight_detach(&m);
	close(fd);

	/* not a regular file */
	int p[2];
	assert_int_equal(pipe(p), 0);
	assert_int_equal(attach(&m, need, 0, 2, 128, p[0]), -EINVAL);
	close(p[0]);
	close(p[1]);
	assert_null(m.base);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create),
		cmocka_unit_test(test_attach_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
