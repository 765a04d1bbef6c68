/* Reactors, message rings, pollers and the sleep/wake protocol. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "core/thread.h"
#include "core/tick.h"
#include "test_util.h"

static int setup(void **state)
{
	(void)state;
	assert_int_equal(thread_lib_init(), 0);
	reactors_set_idle_us(200);
	uint64_t mask = sysconf(_SC_NPROCESSORS_ONLN) >= 2 ? 0x3 : 0x1;
	assert_int_equal(reactors_start(mask), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	thread_lib_fini();
	return 0;
}

static atomic_int g_where;

static void record_reactor(void *arg)
{
	(void)arg;
	atomic_store(&g_where, reactor_self_index());
}

static void test_message_runs_on_target(void **state)
{
	(void)state;
	for (int i = 0; i < reactor_count(); i++) {
		atomic_store(&g_where, -2);
		run_on_reactor(i, record_reactor, NULL);
		assert_int_equal(atomic_load(&g_where), i);
	}
}

static atomic_long g_count;

static void count_msg(void *arg)
{
	(void)arg;
	atomic_fetch_add(&g_count, 1);
}

struct producer {
	int n;
	int target;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	for (int i = 0; i < p->n; i++)
		thread_send_msg(reactor_get(p->target), count_msg, NULL);
	return NULL;
}

/* Several producers, more messages than the ring holds: none lost. */
static void test_many_producers(void **state)
{
	(void)state;
	pthread_t t[4];
	struct producer p = { 20000, reactor_count() - 1 };
	atomic_store(&g_count, 0);
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, produce, &p);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 20000 && atomic_load(&g_count) < 80000; i++)
		usleep(100);
	assert_int_equal(atomic_load(&g_count), 80000);
}

/* A sleeping reactor is woken by a message. */
static void test_wake_after_sleep(void **state)
{
	(void)state;
	for (int round = 0; round < 50; round++) {
		usleep(2000);	/* > idle stretch: the reactor sleeps */
		atomic_store(&g_where, -2);
		run_on_reactor(0, record_reactor, NULL);
		assert_int_equal(atomic_load(&g_where), 0);
	}
}

struct fdpoll {
	int efd;
	struct poller *p;
	atomic_int seen;
	atomic_bool registered;
};

static int fd_poll(void *arg)
{
	struct fdpoll *f = arg;
	uint64_t v;
	if (read(f->efd, &v, sizeof(v)) == sizeof(v)) {
		atomic_fetch_add(&f->seen, (int)v);
		return 1;
	}
	return 0;
}

static void reg_fdpoll(void *arg)
{
	struct fdpoll *f = arg;
	f->p = poller_register(fd_poll, f, "test");
	assert_non_null(f->p);
	assert_int_equal(poller_set_wake_fd(f->p, f->efd, NULL), 0);
}

static void unreg_fdpoll(void *arg)
{
	struct fdpoll *f = arg;
	poller_unregister(f->p);
}

/* A poller's wake fd wakes a sleeping reactor. */
static void test_poller_wake_fd(void **state)
{
	(void)state;
	struct fdpoll f = { .efd = eventfd(0, EFD_NONBLOCK) };
	run_on_reactor(0, reg_fdpoll, &f);
	for (int i = 1; i <= 20; i++) {
		usleep(2000);
		uint64_t one = 1;
		assert_int_equal(write(f.efd, &one, sizeof(one)), sizeof(one));
		for (int k = 0; k < 10000 && atomic_load(&f.seen) < i; k++)
			usleep(100);
		assert_int_equal(atomic_load(&f.seen), i);
	}
	run_on_reactor(0, unreg_fdpoll, &f);
	close(f.efd);
}

/* A dozing poller: its work appears in memory (as in a doorbell page the
 * client maps) and nothing wakes the reactor. An idle reactor must still
 * see it (it dozes on a timer), without spinning meanwhile. */
struct mempoll {
	struct poller *p;
	atomic_int posted, seen;
	atomic_long calls;
};

static int mem_poll(void *arg)
{
	struct mempoll *m = arg;
	atomic_fetch_add(&m->calls, 1);
	int posted = atomic_load(&m->posted);
	if (posted == atomic_load(&m->seen))
		return 0;
	atomic_store(&m->seen, posted);
	return 1;
}

static bool mem_arm(void *arg)
{
	struct mempoll *m = arg;
	return atomic_load(&m->posted) != atomic_load(&m->seen);
}

static void reg_mempoll(void *arg)
{
	struct mempoll *m = arg;
	m->p = poller_register(mem_poll, m, "doze");
	assert_non_null(m->p);
	assert_int_equal(poller_set_wake_fd(m->p, -1, mem_arm), 0);
	poller_set_doze(m->p, true);
}

static void unreg_mempoll(void *arg)
{
	struct mempoll *m = arg;
	poller_unregister(m->p);
}

static void test_dozing_poller(void **state)
{
	(void)state;
	struct mempoll m = { 0 };
	reactors_set_doze_max_us(2000);
	run_on_reactor(0, reg_mempoll, &m);
	for (int i = 1; i <= 10; i++) {
		usleep(20000);	/* the reactor dozes off */
		atomic_store(&m.posted, i);
		for (int k = 0; k < 100000 && atomic_load(&m.seen) < i; k++)
			usleep(100);
		assert_int_equal(atomic_load(&m.seen), i);
	}
	/* idle: at most one look per doze (16 us doubling to 2 ms) */
	usleep(20000);
	long before = atomic_load(&m.calls);
	usleep(200000);
	long looks = atomic_load(&m.calls) - before;
	assert_true(looks <= 1000);
	run_on_reactor(0, unreg_mempoll, &m);
}

/* The per-I/O clock measures time. */
static void test_tick_clock(void **state)
{
	(void)state;
	tick_init();
	/* each tick reading between two clock readings: preemption anywhere
	 * only widens the bounds */
	uint64_t a0 = now_ns(), t0 = tick_now(), b0 = now_ns();
	usleep(20000);
	uint64_t a1 = now_ns(), t1 = tick_now(), b1 = now_ns();
	uint64_t got = tick_to_ns(t1 - t0);
	/* within 2 % (the calibration) of CLOCK_MONOTONIC's bounds */
	assert_true(got + (b1 - a0) / 50 >= a1 - b0);
	assert_true(got <= (b1 - a0) + (b1 - a0) / 50);
	assert_true(got >= 19000000);
}

/* --- inline reactors (no thread: the caller runs them) --- */

static int setup_inline(void **state)
{
	(void)state;
	assert_int_equal(thread_lib_init(), 0);
	assert_int_equal(reactors_start_inline(2), 0);
	return 0;
}

/* A message waits until its inline reactor is run, then runs on the
 * caller's thread as that reactor; the caller is itself again after. */
static void test_inline_message(void **state)
{
	(void)state;
	assert_int_equal(reactor_count(), 2);
	assert_int_equal(reactors_start_inline(1), -EBUSY);
	atomic_store(&g_where, -2);
	thread_send_msg(reactor_get(1), record_reactor, NULL);
	assert_int_equal(atomic_load(&g_where), -2);
	assert_int_equal(reactor_run_inline(0), 0);
	assert_int_equal(atomic_load(&g_where), -2);
	assert_int_equal(reactor_run_inline(1), 1);
	assert_int_equal(atomic_load(&g_where), 1);
	assert_true(thread_is_main());
	assert_int_equal(reactor_self_index(), -1);
	assert_int_equal(reactor_run_inline(1), 0);
	assert_int_equal(reactor_run_inline(2), -EINVAL);
	assert_int_equal(reactor_arm_inline(-1), -EINVAL);
}

struct armpoll {
	struct poller *p;
	int polls, arms;
	int work;		/* what the poller returns */
	bool pending;		/* what the arm hook returns */
};

static int arm_poll(void *arg)
{
	struct armpoll *a = arg;
	a->polls++;
	return a->work;
}

static bool arm_arm(void *arg)
{
	struct armpoll *a = arg;
	a->arms++;
	return a->pending;
}

static void reg_armpoll(void *arg)
{
	struct armpoll *a = arg;
	a->p = poller_register(arm_poll, a, "arm");
	assert_non_null(a->p);
	assert_int_equal(poller_set_wake_fd(a->p, -1, arm_arm), 0);
}

static void unreg_armpoll(void *arg)
{
	struct armpoll *a = arg;
	poller_unregister(a->p);
}

/* Pollers run once per iteration (their work counted); the arm hooks run
 * only when asked, as before the reactor would sleep. */
static void test_inline_pollers(void **state)
{
	(void)state;
	struct armpoll a = { 0 };
	thread_send_msg(reactor_get(0), reg_armpoll, &a);
	assert_int_equal(reactor_run_inline(0), 1);	/* the message; then the new poller */
	assert_int_equal(a.polls, 1);
	assert_int_equal(a.arms, 0);
	a.work = 3;
	assert_int_equal(reactor_run_inline(0), 3);
	assert_int_equal(a.polls, 2);
	a.work = 0;
	assert_int_equal(reactor_run_inline(0), 0);
	assert_int_equal(reactor_arm_inline(0), 0);
	assert_int_equal(a.arms, 1);
	a.pending = true;
	assert_int_equal(reactor_arm_inline(0), 1);
	assert_int_equal(a.arms, 2);
	assert_int_equal(reactor_arm_inline(1), 0);	/* another reactor's pollers are not its */
	assert_int_equal(a.arms, 2);
	/* a queued message keeps the reactor awake, whatever the hooks say */
	a.pending = false;
	thread_send_msg(reactor_get(0), unreg_armpoll, &a);
	assert_int_equal(reactor_arm_inline(0), 1);
	assert_int_equal(reactor_run_inline(0), 1);
	assert_int_equal(a.polls, 3);	/* unregistered: not run again */
	assert_int_equal(reactor_run_inline(0), 0);
	assert_int_equal(a.polls, 3);
}

/* Stopping inline reactors runs what is still queued for them. */
static void test_inline_stop_drains(void **state)
{
	(void)state;
	atomic_store(&g_where, -2);
	thread_send_msg(reactor_get(1), record_reactor, NULL);
	reactors_stop();
	assert_int_equal(atomic_load(&g_where), 1);
	assert_int_equal(reactor_count(), 0);
	assert_true(thread_is_main());
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_message_runs_on_target),
		cmocka_unit_test(test_many_producers),
		cmocka_unit_test(test_wake_after_sleep),
		cmocka_unit_test(test_poller_wake_fd),
		cmocka_unit_test(test_dozing_poller),
		cmocka_unit_test(test_tick_clock),
	};
	const struct CMUnitTest inline_tests[] = {
		cmocka_unit_test(test_inline_message),
		cmocka_unit_test(test_inline_pollers),
		cmocka_unit_test(test_inline_stop_drains),
	};
	int failed = cmocka_run_group_tests(tests, setup, teardown);
	return failed + cmocka_run_group_tests(inline_tests, setup_inline, teardown);
}
