/* The file-backed bdevs (uring, aio, and uring forced onto libaio) on real
 * reactors and real files, plus the engine-independent request plan of
 * file_common.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "bdev/modules/file_common.h"
#include "bdev/modules/modules.h"
#include "bdev/modules/uring.h"
#include "core/log.h"
#include "rpc/rpc.h"
#include "test_util.h"

#define FILE_SIZE	(8u << 20)
#define NIO		32
#define BS		512u

enum engine { ENG_URING, ENG_AIO, ENG_URING_FALLBACK };

static const enum engine eng_uring = ENG_URING;
static const enum engine eng_aio = ENG_AIO;
static const enum engine eng_fallback = ENG_URING_FALLBACK;

/* --- a bdev over a temporary file --- */

struct tdev {
	enum engine eng;
	char path[64];
	char name[32];
	struct bdev *bdev;
};

/* Whether this environment allows io_uring at all (container seccomp
 * profiles often refuse it: the uring bdev then runs on libaio). */
static bool g_uring_works;

static int probe_eperm(void)
{
	return -EPERM;
}

/* Where tdev files live: /var/tmp (a disk file system with O_DIRECT), or
 * /dev/shm (tmpfs: no ZERO_RANGE, no reported O_DIRECT alignment). */
static const char *g_dir = "/var/tmp";

static void make_file(struct tdev *t, uint64_t size)
{
	snprintf(t->path, sizeof(t->path), "%s/osnap_test_bdev_file.XXXXXX", g_dir);
	int fd = mkstemp(t->path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	close(fd);
}

static void tdev_open(struct tdev *t, enum engine eng, bool fallocate)
{
	char err[256] = "";
	int rc;

	memset(t, 0, sizeof(*t));
	t->eng = eng;
	make_file(t, FILE_SIZE);
	snprintf(t->name, sizeof(t->name), "file%d", (int)eng);
	switch (eng) {
	case ENG_URING:
		rc = bdev_uring_create(t->name, t->path, BS, NULL, err, sizeof(err));
		break;
	case ENG_URING_FALLBACK:
		bdev_uring_set_probe(probe_eperm);
		rc = bdev_uring_create(t->name, t->path, BS, NULL, err, sizeof(err));
		bdev_uring_set_probe(NULL);
		break;
	default:
		rc = bdev_aio_create(t->name, t->path, BS, false, fallocate, NULL, err, sizeof(err));
		break;
	}
	if (rc)
		fail_msg("create failed: %d %s", rc, err);
	t->bdev = bdev_get_by_name(t->name);
	assert_non_null(t->bdev);
	assert_int_equal(t->bdev->block_size, BS);
	assert_int_equal(t->bdev->num_blocks, FILE_SIZE / BS);
	bdev_open(t->bdev);
}

static void tdev_close(struct tdev *t)
{
	char err[256];

	bdev_close(t->bdev);
	assert_int_equal(bdev_unregister(t->name, t->eng == ENG_AIO ? "aio" : "uring", err,
					 sizeof(err)), 0);
	unlink(t->path);
}

/* --- batches of I/O, submitted back to back on reactor 0 --- */

struct spec {
	uint8_t type;
	bool fua;
	uint64_t lba, nblk;
	struct iovec iov[4];
	int iovcnt;
	int status;
	struct batch *b;
};

struct batch {
	struct bdev *bdev;
	struct bdev_channel *ch;
	struct spec *specs;
	struct bdev_io **ios;
	int n;
	int completed;			/* reactor only until done */
	int completed_at_last_submit;
	int get_errno;
	atomic_bool done;
};

static void batch_cb(struct bdev_io *io, void *arg)
{
	struct spec *s = arg;
	struct batch *b = s->b;

	s->status = io->status;
	if (++b->completed == b->n) {
		/* Release the channel from inside the completion, as a consumer
		 * tearing down a queue would: the engine must not touch it after. */
		bdev_channel_put(b->ch);
		atomic_store(&b->done, true);
	}
}

static void batch_start(void *arg)
{
	struct batch *b = arg;

	b->ch = bdev_channel_get(b->bdev);
	if (!b->ch) {
		b->get_errno = errno;
		atomic_store(&b->done, true);
		return;
	}
	for (int i = 0; i < b->n; i++) {
		struct spec *s = &b->specs[i];
		struct bdev_io *io = b->ios[i];
		memset(io, 0, bdev_io_size(b->bdev));
		io->type = s->type;
		io->fua = s->fua;
		io->offset_blocks = s->lba;
		io->num_blocks = s->nblk;
		io->iov = s->iovcnt ? s->iov : NULL;
		io->iovcnt = s->iovcnt;
		io->cb = batch_cb;
		io->cb_arg = s;
		s->b = b;
		bdev_submit(b->ch, io);
	}
	b->completed_at_last_submit = b->completed;
}

/* Run n specs at once; returns how many completed before the last submit
 * returned (must be 0: completions only come from pollers). */
static int run_batch(struct bdev *bdev, struct spec *specs, int n)
{
	struct batch b = { .bdev = bdev, .specs = specs, .n = n };

	b.ios = calloc((size_t)n, sizeof(*b.ios));
	assert_non_null(b.ios);
	for (int i = 0; i < n; i++) {
		b.ios[i] = calloc(1, bdev_io_size(bdev));
		assert_non_null(b.ios[i]);
	}
	atomic_store(&b.done, false);
	thread_send_msg(reactor_get(0), batch_start, &b);
	assert_true(wait_flag(&b.done, 20000));
	assert_int_equal(b.get_errno, 0);
	for (int i = 0; i < n; i++)
		free(b.ios[i]);
	free(b.ios);
	return b.completed_at_last_submit;
}

/* One I/O; returns its status. */
static int run_one(struct bdev *bdev, uint8_t type, uint64_t lba, uint64_t nblk, void *buf,
		   size_t len)
{
	struct spec s = { .type = type, .lba = lba, .nblk = nblk };
	if (buf) {
		s.iov[0].iov_base = buf;
		s.iov[0].iov_len = len;
		s.iovcnt = 1;
	}
	assert_int_equal(run_batch(bdev, &s, 1), 0);
	return s.status;
}

static void fill(unsigned char *p, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 9));
}

static void *abuf(size_t len)
{
	void *p = NULL;
	assert_int_equal(posix_memalign(&p, 4096, len + 4096), 0);
	memset(p, 0xee, len + 4096);
	return p;
}

static bool all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}

/* --- tests on each engine --- */

/* 32 writes in flight at once (some split over 2 iovecs, some FUA), then
 * 32 reads back. */
static void test_rw_batch(void **state)
{
	enum engine eng = **(const enum engine **)state;
	const size_t len = 8 * BS;
	struct spec specs[NIO];
	unsigned char *wbuf[NIO], *rbuf[NIO];
	struct tdev t;

	tdev_open(&t, eng, true);
	memset(specs, 0, sizeof(specs));
	for (int i = 0; i < NIO; i++) {
		wbuf[i] = abuf(len);
		rbuf[i] = abuf(len);
		fill(wbuf[i], len, (unsigned)i + 1);
		specs[i].type = BDEV_IO_WRITE;
		specs[i].fua = (i % 4) == 3;
		specs[i].lba = (uint64_t)i * 24 + 8;	/* gaps between the writes */
		specs[i].nblk = 8;
		if (i % 2) {
			specs[i].iov[0] = (struct iovec){ wbuf[i], BS * 3 };
			specs[i].iov[1] = (struct iovec){ wbuf[i] + BS * 3, BS * 5 };
			specs[i].iovcnt = 2;
		} else {
			specs[i].iov[0] = (struct iovec){ wbuf[i], len };
			specs[i].iovcnt = 1;
		}
	}
	assert_int_equal(run_batch(t.bdev, specs, NIO), 0);
	for (int i = 0; i < NIO; i++)
		assert_int_equal(specs[i].status, 0);

	for (int i = 0; i < NIO; i++) {
		specs[i].type = BDEV_IO_READ;
		specs[i].fua = false;
		specs[i].iov[0] = (struct iovec){ rbuf[i], len };
		specs[i].iovcnt = 1;
	}
	assert_int_equal(run_batch(t.bdev, specs, NIO), 0);
	for (int i = 0; i < NIO; i++) {
		assert_int_equal(specs[i].status, 0);
		assert_memory_equal(rbuf[i], wbuf[i], len);
	}
	/* the gaps stayed zero */
	assert_int_equal(run_one(t.bdev, BDEV_IO_READ, 0, 8, rbuf[0], len), 0);
	assert_true(all_zero(rbuf[0], len));
	for (int i = 0; i < NIO; i++) {
		free(wbuf[i]);
		free(rbuf[i]);
	}
	tdev_close(&t);
}

/* WRITE, FLUSH, then the bytes are in the file for anyone: pread() them. */
static void test_flush_pread(void **state)
{
	enum engine eng = **(const enum engine **)state;
	const size_t len = 64 * 1024;
	unsigned char *w = abuf(len), *r = abuf(len);
	struct tdev t;

	tdev_open(&t, eng, true);
	fill(w, len, 77);
	assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE, 1000, len / BS, w, len), 0);
	assert_int_equal(run_one(t.bdev, BDEV_IO_FLUSH, 0, 0, NULL, 0), 0);
	int fd = open(t.path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, r, len, 1000 * BS), (ssize_t)len);
	assert_memory_equal(r, w, len);
	close(fd);
	free(w);
	free(r);
	tdev_close(&t);
}

/* UNMAP and WRITE_ZEROES read back zeroes; the data around them stays. */
static void test_unmap_write_zeroes(void **state)
{
	enum engine eng = **(const enum engine **)state;
	const size_t len = 2u << 20;	/* 2 MiB: more than one zero-buffer chunk */
	const uint64_t nblk = len / BS;
	unsigned char *w = abuf(len), *r = abuf(len);
	struct tdev t;

	tdev_open(&t, eng, true);
	fill(w, len, 5);
	assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE, 0, nblk, w, len), 0);
	assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE, nblk, nblk, w, len), 0);
	/* UNMAP 1 MiB + 8 blocks inside the first range, WRITE_ZEROES in the second. */
	assert_int_equal(run_one(t.bdev, BDEV_IO_UNMAP, 8, 2048 + 8, NULL, 0), 0);
	assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE_ZEROES, nblk + 3, nblk - 5, NULL, 0), 0);

	assert_int_equal(run_one(t.bdev, BDEV_IO_READ, 0, nblk, r, len), 0);
	assert_memory_equal(r, w, 8 * BS);
	assert_true(all_zero(r + 8 * BS, (2048 + 8) * BS));
	assert_memory_equal(r + (2048 + 16) * BS, w + (2048 + 16) * BS, len - (2048 + 16) * BS);

	assert_int_equal(run_one(t.bdev, BDEV_IO_READ, nblk, nblk, r, len), 0);
	assert_memory_equal(r, w, 3 * BS);
	assert_true(all_zero(r + 3 * BS, (nblk - 5) * BS));
	assert_memory_equal(r + (nblk - 2) * BS, w + (nblk - 2) * BS, 2 * BS);
	free(w);
	free(r);
	tdev_close(&t);
}

/* The generic layer rejects I/O past the end with -ERANGE; COMPARE is not
 * offered (-ENOTSUP). */
static void test_out_of_range(void **state)
{
	enum engine eng = **(const enum engine **)state;
	unsigned char *b = abuf(2 * BS);
	struct tdev t;
	uint64_t nb;

	tdev_open(&t, eng, true);
	nb = t.bdev->num_blocks;
	assert_int_equal(run_one(t.bdev, BDEV_IO_READ, nb - 1, 2, b, 2 * BS), -ERANGE);
	assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE, nb, 1, b, BS), -ERANGE);
	assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE_ZEROES, nb - 1, 2, NULL, 0), -ERANGE);
	assert_int_equal(run_one(t.bdev, BDEV_IO_READ, nb - 1, 1, b, BS), 0);
	assert_false(bdev_io_type_supported(t.bdev, BDEV_IO_COMPARE));
	assert_int_equal(run_one(t.bdev, BDEV_IO_COMPARE, 0, 1, b, BS), -ENOTSUP);
	free(b);
	tdev_close(&t);
}

/* Buffers at +512 and at +1 (not aligned for O_DIRECT anywhere): the data
 * goes through the buffered fd and is still right. */
static void test_misaligned(void **state)
{
	enum engine eng = **(const enum engine **)state;
	const size_t len = 16 * BS;
	unsigned char *w = abuf(len + 4096), *r = abuf(len + 4096), *a = abuf(len);
	struct tdev t;

	tdev_open(&t, eng, true);
	for (size_t shift = 1; shift <= 512; shift += 511) {
		fill(w + shift, len, (unsigned)shift);
		assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE, 100, 16, w + shift, len), 0);
		/* read it back misaligned, and aligned through O_DIRECT */
		assert_int_equal(run_one(t.bdev, BDEV_IO_READ, 100, 16, r + shift, len), 0);
		assert_memory_equal(r + shift, w + shift, len);
		assert_int_equal(run_one(t.bdev, BDEV_IO_READ, 100, 16, a, len), 0);
		assert_memory_equal(a, w + shift, len);
		/* and the other way: aligned write, misaligned read */
		fill(a, len, (unsigned)shift + 9);
		assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE, 200, 16, a, len), 0);
		assert_int_equal(run_one(t.bdev, BDEV_IO_READ, 200, 16, r + shift, len), 0);
		assert_memory_equal(r + shift, a, len);
	}
	free(w);
	free(r);
	free(a);
	tdev_close(&t);
}

/* The uring bdev says which engine it runs on. */
static void test_driver_specific(void **state)
{
	enum engine eng = **(const enum engine **)state;
	struct tdev t;

	tdev_open(&t, eng, true);
	json_t *info = bdev_info_json(t.bdev);
	json_t *ds = json_object_get(info, "driver_specific");
	if (eng == ENG_AIO) {
		assert_string_equal(json_string_value(json_object_get(info, "product_name")),
				    "AIO disk");
		json_t *a = json_object_get(ds, "aio");
		assert_string_equal(json_string_value(json_object_get(a, "filename")), t.path);
		assert_true(json_is_true(json_object_get(a, "block_size_override")));
		assert_true(json_is_false(json_object_get(a, "readonly")));
		assert_true(json_is_true(json_object_get(a, "fallocate")));
	} else {
		assert_string_equal(json_string_value(json_object_get(info, "product_name")),
				    "URING bdev");
		json_t *u = json_object_get(ds, "uring");
		assert_string_equal(json_string_value(json_object_get(u, "filename")), t.path);
		assert_string_equal(json_string_value(json_object_get(u, "engine")),
				    eng == ENG_URING && g_uring_works ? "io_uring" : "libaio");
	}
	json_t *sup = json_object_get(info, "supported_io_types");
	assert_true(json_is_true(json_object_get(sup, "unmap")));
	assert_true(json_is_true(json_object_get(sup, "write_zeroes")));
	assert_true(json_is_true(json_object_get(sup, "flush")));
	assert_true(json_is_false(json_object_get(sup, "compare")));
	json_decref(info);

	json_t *cfg = json_array();
	bdev_write_config_all(cfg);
	assert_int_equal(json_array_size(cfg), 1);
	json_t *c = json_array_get(cfg, 0);
	json_t *p = json_object_get(c, "params");
	assert_string_equal(json_string_value(json_object_get(c, "method")),
			    eng == ENG_AIO ? "bdev_aio_create" : "bdev_uring_create");
	assert_string_equal(json_string_value(json_object_get(p, "name")), t.name);
	assert_string_equal(json_string_value(json_object_get(p, "filename")), t.path);
	assert_int_equal(json_integer_value(json_object_get(p, "block_size")), BS);
	assert_non_null(json_object_get(p, "uuid"));
	json_decref(cfg);
	tdev_close(&t);
}

/* --- a block device (a loop device with 4 KiB logical blocks) --- */

/* Attach file to a free loop device; false when that is not possible here
 * (not root, no loop driver, no losetup): the test is then skipped. */
static bool loop_attach(const char *file, char *dev, size_t devlen)
{
	char cmd[256];

	if (geteuid() != 0 || access("/dev/loop-control", F_OK))
		return false;
	snprintf(cmd, sizeof(cmd), "losetup -f --show -b 4096 %s 2>/dev/null", file);
	FILE *p = popen(cmd, "r");
	if (!p)
		return false;
	bool ok = fgets(dev, (int)devlen, p) != NULL;
	if (pclose(p) != 0)
		ok = false;
	if (ok)
		dev[strcspn(dev, "\n")] = '\0';
	return ok && !strncmp(dev, "/dev/loop", 9);
}

static void loop_detach(const char *dev)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "losetup -d %s", dev);
	assert_int_equal(system(cmd), 0);
}

static void test_block_device(void **state)
{
	enum engine eng = **(const enum engine **)state;
	const size_t len = 64 * 1024;
	unsigned char *w = abuf(len + 4096), *r = abuf(len + 4096);
	char path[64], dev[64], err[256];
	struct spec specs[NIO];
	int rc;

	snprintf(path, sizeof(path), "/var/tmp/osnap_test_blk.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8 << 20), 0);
	close(fd);
	if (!loop_attach(path, dev, sizeof(dev))) {
		unlink(path);
		skip();
	}
	/* 512-byte blocks on a 4096-byte device are refused */
	if (eng == ENG_AIO)
		rc = bdev_aio_create("blk", dev, 512, false, true, NULL, err, sizeof(err));
	else
		rc = bdev_uring_create("blk", dev, 512, NULL, err, sizeof(err));
	assert_int_equal(rc, -EINVAL);
	assert_non_null(strstr(err, "not a multiple of the logical block size 4096"));
	if (eng == ENG_URING_FALLBACK)
		bdev_uring_set_probe(probe_eperm);
	if (eng == ENG_AIO)
		rc = bdev_aio_create("blk", dev, 0, false, true, NULL, err, sizeof(err));
	else
		rc = bdev_uring_create("blk", dev, 0, NULL, err, sizeof(err));
	bdev_uring_set_probe(NULL);
	if (rc) {
		loop_detach(dev);
		unlink(path);
		fail_msg("create on %s: %s", dev, err);
	}
	struct bdev *bd = bdev_get_by_name("blk");
	assert_int_equal(bd->block_size, 4096);
	assert_int_equal(bd->num_blocks, 2048);
	bdev_open(bd);

	/* 32 writes at once, every other one from a buffer at +512, then read */
	memset(specs, 0, sizeof(specs));
	fill(w, len + 4096, 11);
	for (int i = 0; i < NIO; i++) {
		specs[i].type = BDEV_IO_WRITE;
		specs[i].lba = (uint64_t)i * 32;
		specs[i].nblk = len / 4096;
		specs[i].iov[0] = (struct iovec){ w + (i % 2) * 512, len };
		specs[i].iovcnt = 1;
	}
	assert_int_equal(run_batch(bd, specs, NIO), 0);
	for (int i = 0; i < NIO; i++)
		assert_int_equal(specs[i].status, 0);
	for (int i = 0; i < NIO; i++) {
		assert_int_equal(run_one(bd, BDEV_IO_READ, specs[i].lba, len / 4096, r + 1, len), 0);
		assert_memory_equal(r + 1, w + (i % 2) * 512, len);
	}
	/* FLUSH, then the device holds the data */
	assert_int_equal(run_one(bd, BDEV_IO_FLUSH, 0, 0, NULL, 0), 0);
	fd = open(dev, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, r, len, 32 * 4096), (ssize_t)len);
	assert_memory_equal(r, w + 512, len);
	close(fd);
	/* UNMAP and WRITE_ZEROES through fallocate on the block device */
	assert_int_equal(run_one(bd, BDEV_IO_UNMAP, 1, 2, NULL, 0), 0);
	assert_int_equal(run_one(bd, BDEV_IO_WRITE_ZEROES, 33, 3, NULL, 0), 0);
	assert_int_equal(run_one(bd, BDEV_IO_READ, 0, len / 4096, r, len), 0);
	assert_memory_equal(r, w, 4096);
	assert_true(all_zero(r + 4096, 2 * 4096));
	assert_memory_equal(r + 3 * 4096, w + 3 * 4096, len - 3 * 4096);
	assert_int_equal(run_one(bd, BDEV_IO_READ, 32, len / 4096, r, len), 0);
	assert_memory_equal(r, w + 512, 4096);
	assert_true(all_zero(r + 4096, 3 * 4096));
	assert_int_equal(run_one(bd, BDEV_IO_READ, 2048, 1, r, 4096), -ERANGE);

	bdev_close(bd);
	assert_int_equal(bdev_unregister("blk", eng == ENG_AIO ? "aio" : "uring", err,
					 sizeof(err)), 0);
	loop_detach(dev);
	unlink(path);
	free(w);
	free(r);
}

/* tmpfs refuses fallocate(ZERO_RANGE) (writes of zeroes take over) and
 * reports no O_DIRECT alignment (the 4 KiB default applies). */
static void test_tmpfs(void **state)
{
	if (access("/dev/shm", W_OK))
		skip();
	g_dir = "/dev/shm";
	test_unmap_write_zeroes(state);
	test_misaligned(state);
	test_rw_batch(state);
	g_dir = "/var/tmp";
}

/* --- aio specifics --- */

/* fallocate=false: WRITE_ZEROES writes zeroes, UNMAP is not offered. */
static void test_aio_no_fallocate(void **state)
{
	(void)state;
	const size_t len = 3u << 20;
	unsigned char *w = abuf(len), *r = abuf(len);
	struct tdev t;

	tdev_open(&t, ENG_AIO, false);
	assert_false(bdev_io_type_supported(t.bdev, BDEV_IO_UNMAP));
	assert_true(bdev_io_type_supported(t.bdev, BDEV_IO_WRITE_ZEROES));
	fill(w, len, 3);
	assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE, 0, len / BS, w, len), 0);
	assert_int_equal(run_one(t.bdev, BDEV_IO_WRITE_ZEROES, 1, len / BS - 2, NULL, 0), 0);
	assert_int_equal(run_one(t.bdev, BDEV_IO_UNMAP, 0, 1, NULL, 0), -ENOTSUP);
	assert_int_equal(run_one(t.bdev, BDEV_IO_READ, 0, len / BS, r, len), 0);
	assert_memory_equal(r, w, BS);
	assert_true(all_zero(r + BS, len - 2 * BS));
	assert_memory_equal(r + len - BS, w + len - BS, BS);
	free(w);
	free(r);
	tdev_close(&t);
}

/* readonly: reads work, no write type is offered. */
static void test_aio_readonly(void **state)
{
	(void)state;
	char path[64], err[256];
	unsigned char *b = abuf(BS);

	snprintf(path, sizeof(path), "/var/tmp/osnap_test_ro.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	memset(b, 0x5a, BS);
	assert_int_equal(pwrite(fd, b, BS, 0), BS);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	assert_int_equal(bdev_aio_create("ro", path, 0, true, false, NULL, err, sizeof(err)), 0);
	struct bdev *bd = bdev_get_by_name("ro");
	assert_int_equal(bd->block_size, 512);
	assert_false(bdev_io_type_supported(bd, BDEV_IO_WRITE));
	assert_false(bdev_io_type_supported(bd, BDEV_IO_WRITE_ZEROES));
	memset(b, 0, BS);
	assert_int_equal(run_one(bd, BDEV_IO_READ, 0, 1, b, BS), 0);
	assert_int_equal(b[0], 0x5a);
	assert_int_equal(run_one(bd, BDEV_IO_WRITE, 0, 1, b, BS), -ENOTSUP);
	assert_int_equal(run_one(bd, BDEV_IO_FLUSH, 0, 0, NULL, 0), 0);
	json_t *cfg = json_array();
	bdev_write_config_all(cfg);
	json_t *p = json_object_get(json_array_get(cfg, 0), "params");
	assert_true(json_is_true(json_object_get(p, "readonly")));
	assert_null(json_object_get(p, "block_size"));	/* not overridden: SPDK omits it */
	json_decref(cfg);
	assert_int_equal(bdev_unregister("ro", "aio", err, sizeof(err)), 0);
	unlink(path);
	free(b);
}

/* --- creation errors --- */

static void test_create_errors(void **state)
{
	(void)state;
	char err[256], path[64];
	struct tdev t;

	assert_int_equal(bdev_uring_create("x", "/nonexistent/x", 0, NULL, err, sizeof(err)),
			 -ENOENT);
	assert_string_equal(err, "bdev_uring_create: cannot open /nonexistent/x: "
			    "No such file or directory");
	assert_int_equal(bdev_aio_create("x", "/nonexistent/x", 0, false, false, NULL, err,
					 sizeof(err)), -ENOENT);
	assert_string_equal(err, "bdev_aio_create: cannot open /nonexistent/x: "
			    "No such file or directory");
	assert_int_equal(bdev_uring_create("x", "/dev/null", 0, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "neither a regular file nor a block device"));

	snprintf(path, sizeof(path), "/var/tmp/osnap_test_small.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4096), 0);
	close(fd);
	assert_int_equal(bdev_uring_create("x", path, 1000, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "block_size 1000 is invalid"));
	assert_int_equal(bdev_uring_create("x", path, 256, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(bdev_uring_create("x", path, 131072, NULL, err, sizeof(err)), -EINVAL);
	assert_int_equal(bdev_uring_create("x", path, 8192, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "too small"));
	assert_int_equal(bdev_uring_create("bad name", path, 0, NULL, err, sizeof(err)), -EINVAL);
	assert_null(bdev_get_by_name("x"));
	unlink(path);

	tdev_open(&t, ENG_URING, true);
	assert_int_equal(bdev_aio_create(t.name, t.path, 0, false, false, NULL, err, sizeof(err)),
			 -EEXIST);
	assert_non_null(strstr(err, "already exists"));
	/* delete through the wrong module is refused, open is refused */
	assert_int_equal(bdev_unregister(t.name, "aio", err, sizeof(err)), -ENODEV);
	assert_int_equal(bdev_unregister(t.name, "uring", err, sizeof(err)), -EBUSY);
	tdev_close(&t);
}

/* --- RPC --- */

static int call(const char *method, const char *params_json, json_t **result, char *msg,
		size_t msglen)
{
	struct rpc_local_result res;
	json_t *params = params_json ? json_loads(params_json, 0, NULL) : NULL;

	rpc_call_local(method, params, &res);
	json_decref(params);
	assert_true(res.done);
	if (msg)
		snprintf(msg, msglen, "%s", res.message);
	if (result)
		*result = res.result;
	else
		json_decref(res.result);
	return res.code;
}

static void test_rpc(void **state)
{
	(void)state;
	char path[64], params[256], msg[512];
	json_t *res = NULL;

	rpc_registry_reset();
	bdev_uring_rpc_register();
	bdev_aio_rpc_register();
	rpc_set_state(RPC_RUNTIME);
	snprintf(path, sizeof(path), "/var/tmp/osnap_test_rpc.XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);

	snprintf(params, sizeof(params), "{\"name\":\"u0\",\"filename\":\"%s\",\"block_size\":4096,"
		 "\"uuid\":\"12345678-1234-1234-1234-123456789abc\"}", path);
	assert_int_equal(call("bdev_uring_create", params, &res, NULL, 0), 0);
	assert_string_equal(json_string_value(res), "u0");
	json_decref(res);
	assert_int_equal(bdev_get_by_name("u0")->block_size, 4096);
	assert_int_equal(bdev_get_by_name("u0")->uuid[0], 0x12);

	snprintf(params, sizeof(params), "{\"name\":\"a0\",\"filename\":\"%s\",\"readonly\":true,"
		 "\"fallocate\":false}", path);
	assert_int_equal(call("bdev_aio_create", params, &res, NULL, 0), 0);
	assert_string_equal(json_string_value(res), "a0");
	json_decref(res);

	/* bad params: -32602 */
	assert_int_equal(call("bdev_uring_create", "{\"name\":\"u1\"}", NULL, msg, sizeof(msg)),
			 RPC_INVALID_PARAMS);
	assert_non_null(strstr(msg, "filename"));
	assert_int_equal(call("bdev_aio_create", "{\"name\":\"a1\",\"filename\":\"/x\",\"bogus\":1}",
			      NULL, msg, sizeof(msg)), RPC_INVALID_PARAMS);
	/* failures: -errno with the message */
	assert_int_equal(call("bdev_uring_create", "{\"name\":\"u1\",\"filename\":\"/nonexistent\"}",
			      NULL, msg, sizeof(msg)), -ENOENT);
	assert_string_equal(msg, "bdev_uring_create: cannot open /nonexistent: "
			    "No such file or directory");
	assert_int_equal(call("bdev_uring_delete", "{\"name\":\"a0\"}", NULL, msg, sizeof(msg)),
			 -ENODEV);
	assert_int_equal(call("bdev_uring_delete", "{\"name\":\"u0\"}", &res, NULL, 0), 0);
	assert_true(json_is_true(res));
	json_decref(res);
	assert_int_equal(call("bdev_aio_delete", "{\"name\":\"a0\"}", &res, NULL, 0), 0);
	assert_true(json_is_true(res));
	json_decref(res);
	assert_int_equal(call("bdev_aio_delete", "{\"name\":\"a0\"}", NULL, NULL, 0), -ENODEV);
	assert_null(bdev_first());
	unlink(path);
	rpc_registry_reset();
}

/* --- the request plan, without a kernel --- */

static void plan_setup(struct file_dev *f, struct file_chan *c, bool fallocate)
{
	memset(f, 0, sizeof(*f));
	f->fd_direct = 10;
	f->fd_buffered = 11;
	f->lbs = 512;
	f->dio_mem_align = 4096;
	f->dio_offset_align = 512;
	f->block_size = 512;
	f->num_blocks = 1 << 20;
	f->filename = (char *)"plan";
	file_chan_init(c, f, fallocate);
}

static void test_direct_ok(void **state)
{
	(void)state;
	struct file_dev f;
	struct file_chan c;
	char *buf = abuf(8192);
	struct iovec iov[2] = { { buf, 4096 }, { buf + 4096, 4096 } };

	plan_setup(&f, &c, true);
	assert_true(file_dev_direct_ok(&f, iov, 2, 0, 8192));
	assert_false(file_dev_direct_ok(&f, iov, 2, 100, 8192));	/* offset */
	iov[1].iov_base = buf + 512;		/* guest buffer only 512-aligned */
	assert_false(file_dev_direct_ok(&f, iov, 2, 0, 8192));
	f.dio_mem_align = 512;
	assert_true(file_dev_direct_ok(&f, iov, 2, 0, 8192));
	iov[1].iov_len = 100;			/* segment length */
	assert_false(file_dev_direct_ok(&f, iov, 2, 0, 4196));
	f.fd_direct = -1;
	iov[1].iov_len = 4096;
	assert_false(file_dev_direct_ok(&f, iov, 2, 0, 8192));
	free(buf);
}

static struct bdev_io *plan_io(uint8_t type, uint64_t lba, uint64_t n, struct iovec *iov, int cnt)
{
	struct bdev_io *io = calloc(1, BDEV_IO_MAX_SIZE);
	assert_non_null(io);
	io->type = type;
	io->offset_blocks = lba;
	io->num_blocks = n;
	io->iov = iov;
	io->iovcnt = cnt;
	return io;
}

/* Guest buffers O_DIRECT cannot take (512-aligned where 4096 is needed)
 * go through staging chunks: the op reads into / writes from aligned
 * memory on the O_DIRECT fd, the data reaches the guest's buffers, the
 * bdev stays direct, and the chunks come back. Without free chunks the
 * request waits (-EAGAIN); one too big to stage turns the bdev buffered. */
static void test_plan_staged(void **state)
{
	(void)state;
	struct file_dev f;
	struct file_chan c;
	struct file_op op;
	char *buf = abuf(3 * 4096 + 512);
	char *guest = buf + 512;
	struct iovec iov[2] = { { guest, 4096 }, { guest + 4096, 8192 } };
	uint32_t total, nfree, nfree0;

	plan_setup(&f, &c, true);
	/* a read: staged, then copied out */
	struct bdev_io *io = plan_io(BDEV_IO_READ, 8, 24, iov, 2);
	struct file_req *r = file_req_of(io);
	assert_int_equal(file_req_start(&c, io, r), 1);
	assert_int_equal(file_req_op(&c, r, &op), 0);
	file_bounce_stats(&total, &nfree0);
	assert_true(total >= FILE_BOUNCE_MAX_CHUNKS);
	assert_int_equal(op.code, FILE_OP_READV);
	assert_int_equal(op.fd, 10);
	assert_ptr_equal(op.iov, r->bounce);
	assert_int_equal(op.iovcnt, 1);
	assert_int_equal(op.iov[0].iov_len, 12288);
	assert_int_equal((uintptr_t)op.iov[0].iov_base & 4095, 0);
	for (int i = 0; i < 12288; i++)
		((unsigned char *)op.iov[0].iov_base)[i] = (unsigned char)(i * 7 + 3);
	memset(guest, 0, 12288);
	assert_int_equal(file_req_advance(&c, r, 12288), 0);
	for (int i = 0; i < 12288; i++)
		assert_int_equal((unsigned char)guest[i], (unsigned char)(i * 7 + 3));
	file_bounce_stats(&total, &nfree);
	assert_int_equal(nfree, nfree0 + 1);
	assert_false(f.buffered_only);
	assert_int_equal(c.staged_ops, 1);

	/* a write: copied in when planned */
	io->type = BDEV_IO_WRITE;
	for (int i = 0; i < 12288; i++)
		guest[i] = (char)(i * 13 + 1);
	assert_int_equal(file_req_start(&c, io, r), 1);
	assert_int_equal(file_req_op(&c, r, &op), 0);
	assert_int_equal(op.code, FILE_OP_WRITEV);
	assert_int_equal(op.fd, 10);
	assert_memory_equal(op.iov[0].iov_base, guest, 12288);
	assert_int_equal(file_req_advance(&c, r, -EIO), -EIO);	/* chunks back on error too */
	file_bounce_stats(&total, &nfree);
	assert_int_equal(nfree, total);

	/* no free chunks: the request waits, and goes once there are */
	struct iovec all[FILE_BOUNCE_MAX_CHUNKS * 64];
	int held = 0, n;
	while (held + FILE_BOUNCE_MAX_CHUNKS <= (int)(sizeof(all) / sizeof(all[0])) &&
	       (n = file_bounce_get(all + held, FILE_BOUNCE_CHUNK)) > 0)
		held += n;
	file_bounce_stats(&total, &nfree);
	assert_int_equal(nfree, 0);
	assert_int_equal(file_req_start(&c, io, r), 1);
	assert_int_equal(file_req_op(&c, r, &op), -EAGAIN);
	file_bounce_put(all, 1);
	assert_int_equal(file_req_op(&c, r, &op), 0);
	assert_int_equal(op.fd, 10);
	assert_int_equal(file_req_advance(&c, r, 12288), 0);
	file_bounce_put(all + 1, held - 1);
	file_bounce_stats(&total, &nfree);
	assert_int_equal(nfree, total);

	/* more than a request's share (1 MiB): the old way, buffered for good */
	char *big = abuf(2 * 1024 * 1024 + 512);
	struct iovec bigv = { big + 512, 2 * 1024 * 1024 };
	struct bdev_io *io2 = plan_io(BDEV_IO_READ, 0, 4096, &bigv, 1);
	struct file_req *r2 = file_req_of(io2);
	assert_int_equal(file_req_start(&c, io2, r2), 1);
	assert_int_equal(file_req_op(&c, r2, &op), 0);
	assert_int_equal(op.fd, 11);
	assert_true(f.buffered_only);
	assert_int_equal(r2->nbounce, 0);
	free(io2);
	free(big);
	free(io);
	free(buf);
}

/* A short read resumes after the bytes done, without touching the
 * consumer's iovecs; a direct EINVAL retries through the buffered fd. */
static void test_plan_short_rw(void **state)
{
	(void)state;
	struct file_dev f;
	struct file_chan c;
	struct file_op op;
	char *buf = abuf(3 * 4096);
	struct iovec iov[3] = { { buf, 4096 }, { buf + 4096, 4096 }, { buf + 8192, 4096 } };
	struct bdev_io *io = plan_io(BDEV_IO_READ, 8, 24, iov, 3);
	struct file_req *r = file_req_of(io);

	plan_setup(&f, &c, true);
	assert_int_equal(file_req_start(&c, io, r), 1);
	file_req_op(&c, r, &op);
	assert_int_equal(op.code, FILE_OP_READV);
	assert_int_equal(op.fd, 10);
	assert_ptr_equal(op.iov, iov);
	assert_int_equal(op.iovcnt, 3);
	assert_int_equal(op.offset, 4096);
	/* 4096 + 1000 bytes done: the rest of segment 1 alone, buffered (unaligned) */
	assert_int_equal(file_req_advance(&c, r, 5096), 1);
	file_req_op(&c, r, &op);
	assert_int_equal(op.iovcnt, 1);
	assert_ptr_equal(op.iov[0].iov_base, buf + 5096);
	assert_int_equal(op.iov[0].iov_len, 3096);
	assert_int_equal(op.offset, 4096 + 5096);
	assert_int_equal(op.fd, 11);
	/* the bdev never mixes O_DIRECT and the page cache on one file again:
	 * everything after that unaligned piece is buffered, aligned or not */
	assert_true(f.buffered_only);
	assert_int_equal(file_req_advance(&c, r, 3096), 1);
	file_req_op(&c, r, &op);
	assert_ptr_equal(op.iov, &iov[2]);
	assert_int_equal(op.iovcnt, 1);
	assert_int_equal(op.fd, 11);
	/* a fresh bdev sends segment 2 direct ... */
	f.buffered_only = false;
	file_req_op(&c, r, &op);
	assert_int_equal(op.fd, 10);
	/* O_DIRECT refuses it: same op through the buffered fd */
	assert_int_equal(file_req_advance(&c, r, -EINVAL), 1);
	file_req_op(&c, r, &op);
	assert_ptr_equal(op.iov, &iov[2]);
	assert_int_equal(op.fd, 11);
	assert_true(c.no_direct);
	assert_int_equal(file_req_advance(&c, r, 4096), 0);
	/* iovecs untouched */
	assert_ptr_equal(iov[1].iov_base, buf + 4096);
	assert_int_equal(iov[1].iov_len, 4096);
	/* no progress is an error, not a loop */
	assert_int_equal(file_req_start(&c, io, r), 1);
	file_req_op(&c, r, &op);
	assert_int_equal(file_req_advance(&c, r, 0), -EIO);
	assert_int_equal(file_req_start(&c, io, r), 1);
	assert_int_equal(file_req_advance(&c, r, -EIO), -EIO);
	free(io);
	free(buf);
}

/* UNMAP: punch hole -> zero range -> writes of zeroes, each fallback
 * remembered by the channel. */
static void test_plan_zeroes(void **state)
{
	(void)state;
	struct file_dev f;
	struct file_chan c;
	struct file_op op;
	struct bdev_io *io = plan_io(BDEV_IO_UNMAP, 16, 5000, NULL, 0);
	struct file_req *r = file_req_of(io);

	plan_setup(&f, &c, true);
	f.dio_mem_align = 512;
	assert_int_equal(file_req_start(&c, io, r), 1);
	file_req_op(&c, r, &op);
	assert_int_equal(op.code, FILE_OP_FALLOCATE);
	assert_int_equal(op.mode, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE);
	assert_int_equal(op.offset, 16 * 512);
	assert_int_equal(op.len, 5000 * 512);
	assert_int_equal(file_req_advance(&c, r, -EOPNOTSUPP), 1);
	file_req_op(&c, r, &op);
	assert_int_equal(op.mode, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE);
	assert_int_equal(file_req_advance(&c, r, -EOPNOTSUPP), 1);
	uint64_t done = 0;
	int rc = 1, ops = 0;
	while (rc == 1) {
		file_req_op(&c, r, &op);
		assert_int_equal(op.code, FILE_OP_WRITEV);
		assert_int_equal(op.offset, 16 * 512 + done);
		assert_true(op.iov[0].iov_len <= FILE_ZERO_BUF_SIZE);
		assert_true(all_zero(op.iov[0].iov_base, op.iov[0].iov_len));
		done += op.iov[0].iov_len;
		rc = file_req_advance(&c, r, (long)op.iov[0].iov_len);
		ops++;
	}
	assert_int_equal(rc, 0);
	assert_int_equal(done, 5000 * 512);
	assert_int_equal(ops, 3);
	/* the channel remembers: next UNMAP writes zeroes at once */
	assert_int_equal(file_req_start(&c, io, r), 1);
	file_req_op(&c, r, &op);
	assert_int_equal(op.code, FILE_OP_WRITEV);
	/* FLUSH is fdatasync; readonly refuses writes */
	free(io);
	io = plan_io(BDEV_IO_FLUSH, 0, 0, NULL, 0);
	r = file_req_of(io);
	assert_int_equal(file_req_start(&c, io, r), 1);
	file_req_op(&c, r, &op);
	assert_int_equal(op.code, FILE_OP_FDSYNC);
	f.readonly = true;
	io->type = BDEV_IO_WRITE_ZEROES;
	io->num_blocks = 1;
	assert_int_equal(file_req_start(&c, io, r), -EROFS);
	free(io);
}

static int group_setup(void **state)
{
	struct io_uring ring;

	(void)state;
	g_uring_works = io_uring_queue_init(2, &ring, 0) == 0;
	if (g_uring_works)
		io_uring_queue_exit(&ring);
	else
		fprintf(stderr, "io_uring is not available here: uring bdevs run on libaio\n");
	log_set_level(LOG_WARN);
	assert_int_equal(thread_lib_init(), 0);
	assert_int_equal(reactors_start(0x1), 0);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	reactors_stop();
	bdev_unregister_all();
	thread_lib_fini();
	return 0;
}

/* One test per engine, named test/engine. */
#define ENGINE_TEST(fn, eng, sfx) \
	{ .name = #fn "/" sfx, .test_func = fn, .initial_state = (void *)&(eng) }
#define ENGINE_TESTS(fn) \
	ENGINE_TEST(fn, eng_uring, "io_uring"), \
	ENGINE_TEST(fn, eng_aio, "aio"), \
	ENGINE_TEST(fn, eng_fallback, "uring_on_libaio")

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_ok),
		cmocka_unit_test(test_plan_staged),
		cmocka_unit_test(test_plan_short_rw),
		cmocka_unit_test(test_plan_zeroes),
		ENGINE_TESTS(test_rw_batch),
		ENGINE_TESTS(test_flush_pread),
		ENGINE_TESTS(test_unmap_write_zeroes),
		ENGINE_TESTS(test_out_of_range),
		ENGINE_TESTS(test_misaligned),
		ENGINE_TESTS(test_driver_specific),
		ENGINE_TESTS(test_block_device),
		ENGINE_TESTS(test_tmpfs),
		cmocka_unit_test(test_aio_no_fallocate),
		cmocka_unit_test(test_aio_readonly),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_rpc),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
