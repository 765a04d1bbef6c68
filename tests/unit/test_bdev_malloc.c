/* The generic bdev layer through the malloc and null modules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/bdev.h"
#include "bdev/modules/modules.h"
#include "test_util.h"

struct job {
	struct bdev *bdev;
	struct bdev_channel *ch;
	struct bdev_io *io;
	struct iovec iov[4];
	atomic_bool done;
	int status;
	bool completed_inline;
	bool in_submit;
};

static void job_cb(struct bdev_io *io, void *arg)
{
	struct job *j = arg;
	j->status = io->status;
	j->completed_inline = j->in_submit;
	atomic_store(&j->done, true);
}

static void job_submit(void *arg)
{
	struct job *j = arg;
	if (!j->ch)
		j->ch = bdev_channel_get(j->bdev);
	assert_non_null(j->ch);
	j->in_submit = true;
	bdev_submit(j->ch, j->io);
	j->in_submit = false;
}

static void job_put(void *arg)
{
	struct job *j = arg;
	bdev_channel_put(j->ch);
	j->ch = NULL;
}

static int do_io(struct job *j, int type, uint64_t off, uint64_t n, int iovcnt)
{
	memset(j->io, 0, bdev_io_size(j->bdev));
	j->io->type = (uint8_t)type;
	j->io->offset_blocks = off;
	j->io->num_blocks = n;
	j->io->iov = j->iov;
	j->io->iovcnt = iovcnt;
	j->io->cb = job_cb;
	j->io->cb_arg = j;
	atomic_store(&j->done, false);
	run_on_reactor(0, job_submit, j);
	assert_true(wait_flag(&j->done, 5000));
	assert_false(j->completed_inline);
	return j->status;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(thread_lib_init(), 0);
	assert_int_equal(reactors_start(0x1), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	reactors_stop();
	bdev_unregister_all();
	thread_lib_fini();
	return 0;
}

static void test_malloc_rw(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(bdev_malloc_create("M0", 2048, 512, NULL, err, sizeof(err)), 0);
	struct job j = { .bdev = bdev_get_by_name("M0") };
	j.io = calloc(1, bdev_io_size(j.bdev));
	bdev_open(j.bdev);
	uint8_t *w = malloc(8192), *r = malloc(8192);
	for (int i = 0; i < 8192; i++)
		w[i] = (uint8_t)(i * 7 + 3);
	/* write 16 blocks as two scattered pieces */
	j.iov[0] = (struct iovec){ w, 3072 };
	j.iov[1] = (struct iovec){ w + 3072, 5120 };
	assert_int_equal(do_io(&j, BDEV_IO_WRITE, 100, 16, 2), 0);
	memset(r, 0, 8192);
	j.iov[0] = (struct iovec){ r, 8192 };
	assert_int_equal(do_io(&j, BDEV_IO_READ, 100, 16, 1), 0);
	assert_memory_equal(r, w, 8192);
	/* compare: equal, then different */
	j.iov[0] = (struct iovec){ w, 8192 };
	assert_int_equal(do_io(&j, BDEV_IO_COMPARE, 100, 16, 1), 0);
	w[5000] ^= 1;
	assert_int_equal(do_io(&j, BDEV_IO_COMPARE, 100, 16, 1), BDEV_IO_MISCOMPARE);
	/* unmap the first 8 blocks: they read back as zeroes */
	assert_int_equal(do_io(&j, BDEV_IO_UNMAP, 100, 8, 0), 0);
	j.iov[0] = (struct iovec){ r, 8192 };
	assert_int_equal(do_io(&j, BDEV_IO_READ, 100, 16, 1), 0);
	for (int i = 0; i < 4096; i++)
		assert_int_equal(r[i], 0);
	assert_memory_equal(r + 4096, w + 4096 - 0, 900);
	/* checks of the generic layer */
	assert_int_equal(do_io(&j, BDEV_IO_READ, 2040, 16, 1), -ERANGE);
	assert_int_equal(do_io(&j, BDEV_IO_READ, UINT64_MAX - 2, 16, 1), -ERANGE);
	j.iov[0] = (struct iovec){ r, 4096 };
	assert_int_equal(do_io(&j, BDEV_IO_READ, 0, 16, 1), -EINVAL);
	assert_int_equal(do_io(&j, 99, 0, 1, 1), -ENOTSUP);
	assert_int_equal(do_io(&j, BDEV_IO_FLUSH, 0, 0, 0), 0);

	struct bdev_io_stat s;
	bdev_get_stat(j.bdev, &s);
	assert_int_equal(s.num_write_ops, 1);
	assert_int_equal(s.bytes_written, 8192);
	assert_int_equal(s.num_read_ops, 2);
	assert_int_equal(s.num_compare_ops, 2);
	assert_int_equal(s.num_unmap_ops, 1);
	assert_int_equal(s.num_errors, 4);

	/* an open or claimed bdev cannot be deleted */
	assert_int_equal(bdev_unregister("M0", "malloc", err, sizeof(err)), -EBUSY);
	run_on_reactor(0, job_put, &j);
	bdev_close(j.bdev);
	assert_int_equal(bdev_claim(j.bdev, "namespace 1"), 0);
	assert_int_equal(bdev_claim(j.bdev, "namespace 2"), -EBUSY);
	assert_int_equal(bdev_unregister("M0", "malloc", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "namespace 1"));
	bdev_release(j.bdev);
	assert_int_equal(bdev_unregister("M0", "null", err, sizeof(err)), -ENODEV);
	assert_int_equal(bdev_unregister("M0", "malloc", err, sizeof(err)), 0);
	assert_null(bdev_get_by_name("M0"));
	free(j.io);
	free(w);
	free(r);
}

static void test_create_errors(void **state)
{
	(void)state;
	char err[256];
	assert_int_equal(bdev_malloc_create("X", 16, 500, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(bdev_malloc_create("X", 0, 512, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(bdev_malloc_create("bad name", 16, 512, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(bdev_null_create("N", 16, 512, NULL, err, sizeof(err)), 0);
	assert_int_equal(bdev_malloc_create("N", 16, 512, NULL, err, sizeof(err)), -EEXIST);
	assert_int_equal(bdev_null_create("N", 16, 512, NULL, err, sizeof(err)), -EEXIST);
	struct bdev *b = bdev_get_by_name("N");
	assert_true(bdev_io_type_supported(b, BDEV_IO_READ));
	assert_false(bdev_io_type_supported(b, BDEV_IO_UNMAP));
	assert_int_equal(bdev_unregister("N", "null", err, sizeof(err)), 0);
}

/* SPDK's model: many sharers or one claimer, never both; either blocks delete */
static void test_share_and_claim(void **state)
{
	(void)state;
	char err[256], buf[160];
	int a, b, c;
	assert_int_equal(bdev_malloc_create("S", 16, 512, NULL, err, sizeof(err)), 0);
	struct bdev *bd = bdev_get_by_name("S");
	assert_null(bdev_consumer(bd, buf, sizeof(buf)));
	assert_int_equal(bdev_share(bd, &a, "virtio-blk controller A"), 0);
	assert_int_equal(bdev_share(bd, &b, "virtio-blk controller B"), 0);
	assert_int_equal(bdev_share(bd, &c, "virtio-blk controller C"), 0);
	assert_int_equal(bdev_share_count(bd), 3);
	assert_int_equal(bdev_claim(bd, "namespace 1"), -EBUSY);
	assert_int_equal(bdev_unregister("S", "malloc", err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "used by virtio-blk controller A and 2 more"));
	bdev_unshare(bd, &a);	/* the first goes: errors name the next */
	assert_string_equal(bdev_consumer(bd, buf, sizeof(buf)), "virtio-blk controller B and 1 more");
	bdev_unshare(bd, &a);	/* not a sharer (any more): nothing changes */
	assert_int_equal(bdev_share_count(bd), 2);
	bdev_unshare(bd, &c);
	bdev_unshare(bd, &b);
	assert_int_equal(bdev_share_count(bd), 0);
	assert_int_equal(bdev_claim(bd, "namespace 1"), 0);
	assert_int_equal(bdev_share(bd, &a, "virtio-blk controller A"), -EBUSY);
	assert_int_equal(bdev_share_count(bd), 0);
	assert_string_equal(bdev_consumer(bd, buf, sizeof(buf)), "namespace 1");
	bdev_release(bd);
	assert_int_equal(bdev_share(bd, &a, "virtio-blk controller A"), 0);
	/* a bdev freed with sharers left (shutdown) frees them too (ASan: no leak) */
	bdev_unregister_all();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_malloc_rw),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_share_and_claim),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
