/* The rbd bdev's data path (src/bdev/modules/rbd/rbd_io.c) without a Ceph
 * cluster: librbd's asynchronous calls are replaced by a fake whose
 * completions run on several threads of its own, after random short delays,
 * as librbd's do. Checked: every I/O completes once, on the reactor, with
 * the status the fake gave (a short read and an error included), the data
 * the fake wrote into the buffers on its thread is seen by the consumer,
 * and a channel released from the completion callback of the last I/O
 * (while a fake thread may still be signalling) is destroyed safely. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "bdev/modules/rbd/rbd.h"
#include "test_util.h"

#define BS		512
#define NBLOCKS		4096
#define NIO		64		/* in flight at once */
#define ROUNDS		40
#define FAKE_THREADS	4

/* ---- the fake librbd: completions from FAKE_THREADS threads ---- */

struct fake_comp {
	rbd_callback_t cb;
	void *arg;
	ssize_t ret;
	/* the operation, done on a fake thread */
	int op;			/* BDEV_IO_* */
	const struct iovec *iov;
	int iovcnt;
	uint64_t off, len;
	struct fake_comp *next;
};

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cv = PTHREAD_COND_INITIALIZER;
static struct fake_comp *g_queue;
static bool g_quit;
static pthread_t g_threads[FAKE_THREADS];

/* Offsets that fail: a short read, and an I/O error. */
static bool short_read_at(uint64_t off) { return off / BS % 97 == 13; }
static bool error_at(uint64_t off) { return off / BS % 89 == 7; }

static uint8_t pattern(uint64_t byte) { return (uint8_t)(byte * 31 + 7); }

static void fake_run(struct fake_comp *c)
{
	if (error_at(c->off)) {
		c->ret = -ETIMEDOUT;
	} else if (c->op == BDEV_IO_READ) {
		uint64_t pos = c->off;

		for (int i = 0; i < c->iovcnt; i++)
			for (size_t k = 0; k < c->iov[i].iov_len; k++)
				((uint8_t *)c->iov[i].iov_base)[k] = pattern(pos++);
		c->ret = short_read_at(c->off) ? (ssize_t)c->len - BS : (ssize_t)c->len;
	} else {
		c->ret = 0;
	}
	usleep((useconds_t)(rand() % 200));
	c->cb((rbd_completion_t)c, c->arg);
}

static void *fake_thread(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&g_mu);
	while (!g_quit) {
		struct fake_comp *c = g_queue;

		if (!c) {
			pthread_cond_wait(&g_cv, &g_mu);
			continue;
		}
		g_queue = c->next;
		pthread_mutex_unlock(&g_mu);
		fake_run(c);
		pthread_mutex_lock(&g_mu);
	}
	pthread_mutex_unlock(&g_mu);
	return NULL;
}

static int fake_start(rbd_completion_t comp, int op, const struct iovec *iov, int iovcnt,
		      uint64_t off, uint64_t len)
{
	struct fake_comp *c = (struct fake_comp *)comp;

	c->op = op;
	c->iov = iov;
	c->iovcnt = iovcnt;
	c->off = off;
	c->len = len;
	pthread_mutex_lock(&g_mu);
	c->next = g_queue;
	g_queue = c;
	pthread_cond_signal(&g_cv);
	pthread_mutex_unlock(&g_mu);
	return 0;
}

int rbd_aio_create_completion(void *cb_arg, rbd_callback_t complete_cb, rbd_completion_t *c)
{
	struct fake_comp *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->cb = complete_cb;
	f->arg = cb_arg;
	*c = (rbd_completion_t)f;
	return 0;
}

void rbd_aio_release(rbd_completion_t c)
{
	free(c);
}

ssize_t rbd_aio_get_return_value(rbd_completion_t c)
{
	return ((struct fake_comp *)c)->ret;
}

int rbd_aio_readv(rbd_image_t image, const struct iovec *iov, int iovcnt, uint64_t off,
		  rbd_completion_t c)
{
	size_t len = 0;

	(void)image;
	for (int i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return fake_start(c, BDEV_IO_READ, iov, iovcnt, off, len);
}

int rbd_aio_writev(rbd_image_t image, const struct iovec *iov, int iovcnt, uint64_t off,
		   rbd_completion_t c)
{
	(void)image;
	return fake_start(c, BDEV_IO_WRITE, iov, iovcnt, off, 0);
}

int rbd_aio_flush(rbd_image_t image, rbd_completion_t c)
{
	(void)image;
	return fake_start(c, BDEV_IO_FLUSH, NULL, 0, 0, 0);
}

int rbd_aio_discard(rbd_image_t image, uint64_t off, uint64_t len, rbd_completion_t c)
{
	(void)image;
	return fake_start(c, BDEV_IO_UNMAP, NULL, 0, off, len);
}

int rbd_aio_write_zeroes(rbd_image_t image, uint64_t off, size_t len, rbd_completion_t c,
			 int zero_flags, int op_flags)
{
	(void)image;
	(void)zero_flags;
	(void)op_flags;
	return fake_start(c, BDEV_IO_WRITE_ZEROES, NULL, 0, off, len);
}

/* ---- a bdev over rbd_io.c ---- */

static void *t_channel_create(struct bdev *bdev)
{
	return rbd_io_channel_create((rbd_image_t)bdev, bdev->name);
}

static void t_channel_destroy(struct bdev *bdev, void *chctx)
{
	(void)bdev;
	rbd_io_channel_destroy(chctx);
}

static void t_submit(struct bdev *bdev, void *chctx, struct bdev_io *io)
{
	rbd_io_submit(chctx, io, bdev->block_size);
}

static bool t_supported(struct bdev *bdev, enum bdev_io_type t)
{
	(void)bdev;
	return t != BDEV_IO_COMPARE;
}

static void t_destruct(struct bdev *bdev)
{
	(void)bdev;
}

static struct bdev_module_ops g_ops = {
	.module_name = "rbd_io_test",
	.channel_create = t_channel_create,
	.channel_destroy = t_channel_destroy,
	.submit = t_submit,
	.io_type_supported = t_supported,
	.destruct = t_destruct,
};

/* ---- the consumer, on reactor 0 ---- */

struct slot {
	struct bdev_io *io;
	uint8_t *buf;
	struct iovec iov[2];
	int completions;
	int expect;
};

static struct {
	struct bdev *bdev;
	struct bdev_channel *ch;
	struct slot slots[NIO];
	int round;
	int outstanding;
	int bad;		/* wrong status, data, or thread */
	atomic_bool done;
} g;

static void start_round(void);

static void io_done(struct bdev_io *io, void *arg)
{
	struct slot *s = arg;

	s->completions++;
	if (reactor_self_index() != 0 || io->status != s->expect)
		g.bad++;
	if (io->type == BDEV_IO_READ && io->status == 0) {
		uint64_t pos = io->offset_blocks * BS;

		for (uint64_t k = 0; k < io->num_blocks * BS; k++)
			if (s->buf[k] != pattern(pos + k)) {
				g.bad++;
				break;
			}
	}
	if (--g.outstanding)
		return;
	if (++g.round < ROUNDS) {
		start_round();
		return;
	}
	/* the last completion: release the channel right here, while fake
	 * threads may still be between their push and their eventfd write */
	bdev_channel_put(g.ch);
	g.ch = NULL;
	atomic_store(&g.done, true);
}

static void start_round(void)
{
	for (int i = 0; i < NIO; i++) {
		struct slot *s = &g.slots[i];
		struct bdev_io *io = s->io;
		uint64_t off = (uint64_t)(rand() % (NBLOCKS - 8));
		int type = rand() % 5;

		memset(io, 0, bdev_io_size(g.bdev));
		io->offset_blocks = off;
		io->cb = io_done;
		io->cb_arg = s;
		s->expect = 0;
		switch (type) {
		case 0:
		case 1:
			io->type = BDEV_IO_READ;
			io->num_blocks = 1 + (uint64_t)(rand() % 8);
			/* two segments, split inside a block */
			s->iov[0] = (struct iovec){ s->buf, 100 };
			s->iov[1] = (struct iovec){ s->buf + 100, io->num_blocks * BS - 100 };
			io->iov = s->iov;
			io->iovcnt = 2;
			if (error_at(off * BS))
				s->expect = -ETIMEDOUT;
			else if (short_read_at(off * BS))
				s->expect = -EIO;
			break;
		case 2:
			io->type = BDEV_IO_WRITE;
			io->num_blocks = 1 + (uint64_t)(rand() % 8);
			s->iov[0] = (struct iovec){ s->buf, io->num_blocks * BS };
			io->iov = s->iov;
			io->iovcnt = 1;
			break;
		case 3:
			io->type = BDEV_IO_UNMAP;
			io->num_blocks = 8;
			break;
		default:
			io->type = rand() % 2 ? BDEV_IO_FLUSH : BDEV_IO_WRITE_ZEROES;
			io->num_blocks = io->type == BDEV_IO_FLUSH ? 0 : 4;
			io->offset_blocks = io->type == BDEV_IO_FLUSH ? 0 : off;
			break;
		}
		if (io->type != BDEV_IO_READ && error_at(io->offset_blocks * BS))
			s->expect = -ETIMEDOUT;
		g.outstanding++;
		bdev_submit(g.ch, io);
	}
}

static void begin(void *arg)
{
	(void)arg;
	g.ch = bdev_channel_get(g.bdev);
	assert_non_null(g.ch);
	start_round();
}

static void test_concurrent_completions(void **state)
{
	(void)state;
	struct bdev *b = calloc(1, sizeof(*b));

	assert_int_equal(thread_lib_init(), 0);
	assert_int_equal(reactors_start(0x1), 0);
	for (int i = 0; i < FAKE_THREADS; i++)
		assert_int_equal(pthread_create(&g_threads[i], NULL, fake_thread, NULL), 0);
	srand(1234);
	g_ops.io_ctx_size = rbd_io_ctx_size();
	snprintf(b->name, sizeof(b->name), "rbdio0");
	b->block_size = BS;
	b->num_blocks = NBLOCKS;
	b->ops = &g_ops;
	assert_int_equal(bdev_register(b), 0);
	g.bdev = b;
	bdev_open(b);
	for (int i = 0; i < NIO; i++) {
		g.slots[i].io = calloc(1, bdev_io_size(b));
		g.slots[i].buf = malloc(8 * BS);
		assert_non_null(g.slots[i].io);
	}
	run_on_reactor(0, begin, NULL);
	/* generous: ROUNDS x NIO I/Os of at most 200 us each, on a loaded machine */
	assert_true(wait_flag(&g.done, 60000));
	assert_int_equal(g.bad, 0);
	assert_int_equal(g.round, ROUNDS);
	for (int i = 0; i < NIO; i++)
		assert_int_equal(g.slots[i].completions, ROUNDS);

	struct bdev_io_stat st;
	bdev_get_stat(b, &st);
	assert_true(st.num_read_ops > 0 && st.num_write_ops > 0 && st.num_errors > 0);

	pthread_mutex_lock(&g_mu);
	g_quit = true;
	pthread_cond_broadcast(&g_cv);
	pthread_mutex_unlock(&g_mu);
	for (int i = 0; i < FAKE_THREADS; i++)
		pthread_join(g_threads[i], NULL);
	bdev_close(b);
	reactors_stop();
	bdev_unregister_all();
	thread_lib_fini();
	for (int i = 0; i < NIO; i++) {
		free(g.slots[i].io);
		free(g.slots[i].buf);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_completions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
