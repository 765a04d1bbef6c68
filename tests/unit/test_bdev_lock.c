/* LBA range locks of the bdev layer (bdev_lock_lba_range), on two
 * reactors, through a test module that holds every I/O it is given until
 * the test completes it: what reached the module, and when, is what the
 * locks decide. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/bdev.h"
#include "test_util.h"

#define WAIT_MS 20000	/* for what must happen: generous on a loaded machine */
#define ABSENT_MS 200	/* for what must not: it would have come by then */

/* ---- the holding module ----------------------------------------------------------------- */

#define MAX_HELD 64

static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
static struct bdev_channel *g_ch[2];	/* the bdev's channel on reactor 0 and 1 */
static struct bdev_io *g_held[MAX_HELD];	/* in the module, not completed */
static int g_nheld;

static void *hold_channel_create(struct bdev *bdev)
{
	return bdev;
}

static void hold_submit(struct bdev *bdev, void *chctx, struct bdev_io *io)
{
	(void)bdev;
	(void)chctx;
	pthread_mutex_lock(&g_mu);
	assert_true(g_nheld < MAX_HELD);
	g_held[g_nheld++] = io;
	pthread_mutex_unlock(&g_mu);
}

static bool hold_supported(struct bdev *bdev, enum bdev_io_type t)
{
	(void)bdev;
	return t < BDEV_IO_NUM_TYPES;
}

static const struct bdev_module_ops hold_ops = {
	.module_name = "hold",
	.product_name = "Holding test disk",
	.channel_create = hold_channel_create,
	.submit = hold_submit,
	.io_type_supported = hold_supported,
};

/* io if the module holds it, else NULL. */
static struct bdev_io *held_find(struct bdev_io *io)
{
	struct bdev_io *found = NULL;
	pthread_mutex_lock(&g_mu);
	for (int i = 0; i < g_nheld; i++)
		if (g_held[i] == io)
			found = io;
	pthread_mutex_unlock(&g_mu);
	return found;
}

static bool wait_held(struct bdev_io *io, int ms)
{
	struct timespec ts = { 0, 100000 };
	for (int i = 0; i < ms * 10; i++) {
		if (held_find(io))
			return true;
		nanosleep(&ts, NULL);
	}
	return held_find(io) != NULL;
}

static void complete_on_reactor(void *arg)
{
	struct bdev_io *io = arg;
	bdev_io_complete_deferred(io, 0);
}

/* Let the module finish io (on its reactor, from the channel's poller). */
static void held_complete(struct bdev_io *io)
{
	pthread_mutex_lock(&g_mu);
	int k = -1;
	for (int i = 0; i < g_nheld; i++)
		if (g_held[i] == io)
			k = i;
	assert_true(k >= 0);
	g_held[k] = g_held[--g_nheld];
	pthread_mutex_unlock(&g_mu);
	thread_send_msg(reactor_get(io->ch == g_ch[1] ? 1 : 0), complete_on_reactor, io);
}

/* ---- jobs: one I/O each, submitted on a given reactor --------------------------------------- */

struct job {
	struct bdev *bdev;
	int reactor;
	struct bdev_io *io;
	struct iovec iov;
	uint8_t buf[4096];
	const struct bdev_lba_lock *under;	/* bdev_submit_locked */
	atomic_bool done;
	int status;
};

static void job_cb(struct bdev_io *io, void *arg)
{
	struct job *j = arg;
	j->status = io->status;
	atomic_store(&j->done, true);
}

static void job_submit(void *arg)
{
	struct job *j = arg;
	if (j->under)
		bdev_submit_locked(g_ch[j->reactor], j->io, j->under);
	else
		bdev_submit(g_ch[j->reactor], j->io);
}

static void job_start(struct job *j, int reactor, int type, uint64_t off, uint64_t n)
{
	memset(j->io, 0, bdev_io_size(j->bdev));
	j->reactor = reactor;
	j->iov = (struct iovec){ j->buf, n * 512 };
	j->io->type = (uint8_t)type;
	j->io->offset_blocks = off;
	j->io->num_blocks = n;
	bool data = type == BDEV_IO_READ || type == BDEV_IO_WRITE || type == BDEV_IO_COMPARE;
	j->io->iov = data ? &j->iov : NULL;
	j->io->iovcnt = data ? 1 : 0;
	j->io->cb = job_cb;
	j->io->cb_arg = j;
	atomic_store(&j->done, false);
	run_on_reactor(reactor, job_submit, j);
}

static struct job *job_new(struct bdev *b)
{
	struct job *j = calloc(1, sizeof(*j));
	assert_non_null(j);
	j->bdev = b;
	j->io = calloc(1, bdev_io_size(b));
	assert_non_null(j->io);
	return j;
}

static void job_free(struct job *j)
{
	free(j->io);
	free(j);
}

/* ---- locks ---------------------------------------------------------------------------------- */

struct lk {
	struct bdev_lba_lock l;
	int reactor;
	uint64_t off, n;
	atomic_bool granted;
	int granted_on;
};

static void lk_granted(void *arg)
{
	struct lk *k = arg;
	k->granted_on = reactor_self_index();
	atomic_store(&k->granted, true);
}

static void lk_take(void *arg)
{
	struct lk *k = arg;
	bdev_lock_lba_range(g_ch[k->reactor], &k->l, k->off, k->n, lk_granted, k);
	/* never granted inside the call */
	assert_false(atomic_load(&k->granted));
}

static void lk_start(struct lk *k, int reactor, uint64_t off, uint64_t n)
{
	memset(k, 0, sizeof(*k));
	k->reactor = reactor;
	k->off = off;
	k->n = n;
	k->granted_on = -1;
	run_on_reactor(reactor, lk_take, k);
}

static void lk_drop(void *arg)
{
	struct lk *k = arg;
	bdev_unlock_lba_range(&k->l);
}

static void lk_release(struct lk *k)
{
	run_on_reactor(k->reactor, lk_drop, k);
}

/* ---- fixture ------------------------------------------------------------------------------- */

static struct bdev *g_bdev;

static void ch_get(void *arg)
{
	int r = *(int *)arg;
	g_ch[r] = bdev_channel_get(g_bdev);
	assert_non_null(g_ch[r]);
}

static void ch_put(void *arg)
{
	int r = *(int *)arg;
	bdev_channel_put(g_ch[r]);
	g_ch[r] = NULL;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(thread_lib_init(), 0);
	assert_int_equal(reactors_start(0x3), 0);
	struct bdev *b = calloc(1, sizeof(*b));
	assert_non_null(b);
	strcpy(b->name, "H0");
	b->block_size = 512;
	b->num_blocks = 1024;
	b->ops = &hold_ops;
	assert_int_equal(bdev_register(b), 0);
	g_bdev = b;
	bdev_open(b);
	for (int r = 0; r < 2; r++)
		run_on_reactor(r, ch_get, &r);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int r = 0; r < 2; r++)
		run_on_reactor(r, ch_put, &r);
	bdev_close(g_bdev);
	reactors_stop();
	bdev_unregister_all();
	thread_lib_fini();
	return 0;
}

static void finish_job(struct job *j)
{
	assert_true(wait_held(j->io, WAIT_MS));
	held_complete(j->io);
	assert_true(wait_flag(&j->done, WAIT_MS));
	assert_int_equal(j->status, 0);
}

/* ---- tests --------------------------------------------------------------------------------- */

/* A granted lock holds back overlapping writes, write zeroes and unmaps
 * from both reactors until the unlock; reads, compares, writes elsewhere
 * and the owner's own write go through. */
static void test_lock_holds_writers(void **state)
{
	(void)state;
	struct lk k;
	lk_start(&k, 0, 100, 8);
	assert_true(wait_flag(&k.granted, WAIT_MS));
	assert_int_equal(k.granted_on, 0);

	struct job *w1 = job_new(g_bdev), *wz = job_new(g_bdev), *un = job_new(g_bdev);
	struct job *rd = job_new(g_bdev), *cmp = job_new(g_bdev), *far = job_new(g_bdev);
	struct job *own = job_new(g_bdev), *edge = job_new(g_bdev);
	job_start(w1, 1, BDEV_IO_WRITE, 104, 8);	/* overlaps the tail */
	job_start(wz, 0, BDEV_IO_WRITE_ZEROES, 96, 5);	/* overlaps block 100 */
	job_start(un, 1, BDEV_IO_UNMAP, 0, 1024);	/* covers it */
	job_start(rd, 1, BDEV_IO_READ, 100, 8);
	job_start(cmp, 0, BDEV_IO_COMPARE, 100, 8);
	job_start(far, 1, BDEV_IO_WRITE, 108, 8);	/* just past it */
	job_start(edge, 0, BDEV_IO_WRITE, 92, 8);	/* just before it */
	own->under = &k.l;
	job_start(own, 0, BDEV_IO_WRITE, 100, 8);
	/* through: */
	finish_job(rd);
	finish_job(cmp);
	finish_job(far);
	finish_job(edge);
	finish_job(own);
	/* held back, the module never saw them */
	assert_false(wait_held(w1->io, ABSENT_MS));
	assert_null(held_find(wz->io));
	assert_null(held_find(un->io));
	assert_false(atomic_load(&w1->done) || atomic_load(&wz->done) || atomic_load(&un->done));

	lk_release(&k);
	finish_job(w1);
	finish_job(wz);
	finish_job(un);
	struct job *all[] = { w1, wz, un, rd, cmp, far, own, edge };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		job_free(all[i]);
}

/* A lock is granted only once the overlapping writes in flight on every
 * reactor are done; writes elsewhere do not delay it. */
static void test_lock_waits_for_writes_in_flight(void **state)
{
	(void)state;
	struct job *a = job_new(g_bdev), *b = job_new(g_bdev), *other = job_new(g_bdev);
	job_start(a, 1, BDEV_IO_WRITE, 200, 8);
	job_start(b, 0, BDEV_IO_UNMAP, 207, 2);
	job_start(other, 1, BDEV_IO_WRITE, 400, 8);
	assert_true(wait_held(a->io, WAIT_MS));
	assert_true(wait_held(b->io, WAIT_MS));
	assert_true(wait_held(other->io, WAIT_MS));

	struct lk k;
	lk_start(&k, 0, 205, 3);
	assert_false(wait_flag(&k.granted, ABSENT_MS));
	finish_job(a);
	assert_false(wait_flag(&k.granted, ABSENT_MS));
	finish_job(b);
	assert_true(wait_flag(&k.granted, WAIT_MS));
	assert_int_equal(k.granted_on, 0);
	/* 'other' still in the module */
	assert_non_null(held_find(other->io));
	lk_release(&k);
	finish_job(other);
	job_free(a);
	job_free(b);
	job_free(other);
}

/* Overlapping locks are granted one after the other, in the order asked;
 * a disjoint one at once. */
static void test_overlapping_locks_queue(void **state)
{
	(void)state;
	struct lk k1, k2, k3, k4;
	lk_start(&k1, 0, 500, 10);
	assert_true(wait_flag(&k1.granted, WAIT_MS));
	lk_start(&k2, 1, 505, 10);	/* overlaps k1 */
	lk_start(&k3, 0, 512, 4);	/* overlaps k2 only: behind it */
	lk_start(&k4, 1, 600, 4);	/* disjoint */
	assert_true(wait_flag(&k4.granted, WAIT_MS));
	assert_int_equal(k4.granted_on, 1);
	assert_false(wait_flag(&k2.granted, ABSENT_MS));
	assert_false(atomic_load(&k3.granted));

	/* a write in k1's and k2's ranges waits for k1, then for k2 */
	struct job *w = job_new(g_bdev);
	job_start(w, 0, BDEV_IO_WRITE, 507, 1);
	lk_release(&k1);
	assert_true(wait_flag(&k2.granted, WAIT_MS));
	assert_int_equal(k2.granted_on, 1);
	assert_false(wait_flag(&k3.granted, ABSENT_MS));
	assert_null(held_find(w->io));
	lk_release(&k2);
	assert_true(wait_flag(&k3.granted, WAIT_MS));
	finish_job(w);	/* 507 is outside k3 (512..515) */
	lk_release(&k3);
	lk_release(&k4);
	job_free(w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lock_holds_writers),
		cmocka_unit_test(test_lock_waits_for_writes_in_flight),
		cmocka_unit_test(test_overlapping_locks_queue),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
