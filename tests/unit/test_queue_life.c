/* One lifecycle per queue (src/core/queue_life.c) and the fan-out helper
 * (src/core/fanout.c): a fake queue on a reactor, requests from main.
 *
 * "Not answered yet" is checked deterministically: after a request, a
 * round trip to the reactor (run_on_reactor) guarantees that an answer the
 * reactor sent while handling the request is already in main's ring, so
 * draining main's ring then shows it or proves its absence. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/fanout.h"
#include "core/queue_life.h"
#include "core/thread.h"
#include "test_util.h"

struct fakeq {
	struct qlife life;
	int inflight;		/* reactor */
	int changed, released;	/* reactor */
	int stopped;		/* main */
	char order[64];		/* main: "S" stopped, then waiter tags */
};

static bool f_idle(void *q) { return ((struct fakeq *)q)->inflight == 0; }
static void f_changed(void *q) { ((struct fakeq *)q)->changed++; }
static void f_release(void *q) { ((struct fakeq *)q)->released++; }
static void f_stopped(void *q)
{
	struct fakeq *f = q;
	f->stopped++;
	strcat(f->order, "S");
}

static const struct qlife_ops fops = { f_idle, f_changed, f_release, f_stopped };

struct answer {
	struct fakeq *f;
	char tag;
	int n;
};

static void answered(void *p)
{
	struct answer *a = p;
	a->n++;
	size_t l = strlen(a->f->order);
	if (l + 1 < sizeof(a->f->order)) {
		a->f->order[l] = a->tag;
		a->f->order[l + 1] = 0;
	}
}

static void noop(void *p) { (void)p; }

/* Everything the reactor sent main so far has run on main (three rounds:
 * an answer may make main send more, e.g. a release to the reactor). */
static void settle(void)
{
	for (int round = 0; round < 3; round++) {
		run_on_reactor(0, noop, NULL);
		while (thread_process_msgs(256) > 0)
			;
	}
}

static void set_inflight(void *p)
{
	struct fakeq *f = p;
	f->inflight = 1;
}

static void finish_one(void *p)
{
	struct fakeq *f = p;
	f->inflight--;
	qlife_check(&f->life);
}

static void start(struct fakeq *f, const uint16_t *paused, bool busy)
{
	memset(f, 0, sizeof(*f));
	qlife_init(&f->life, &fops, f, reactor_get(0), paused);
	if (busy)
		run_on_reactor(0, set_inflight, f);
}

static bool g_fetching;
static void read_fetching(void *p) { g_fetching = qlife_fetching(p); }

static bool fetching(struct fakeq *f)
{
	run_on_reactor(0, read_fetching, &f->life);
	return g_fetching;
}

static int setup(void **state)
{
	(void)state;
	assert_int_equal(thread_lib_init(), 0);
	reactors_set_idle_us(200);
	assert_int_equal(reactors_start(0x1), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	thread_lib_fini();
	return 0;
}

static void test_pause_waits_for_the_drain(void **state)
{
	(void)state;
	struct fakeq f;
	struct answer a = { &f, 'p', 0 };
	start(&f, NULL, true);
	assert_true(fetching(&f));
	qlife_pause(&f.life, QLIFE_MEM, answered, &a);
	settle();
	assert_int_equal(a.n, 0);
	assert_false(fetching(&f));
	assert_int_equal(qlife_state(&f.life), QLIFE_PAUSING);
	run_on_reactor(0, finish_one, &f);
	settle();
	assert_int_equal(a.n, 1);
	assert_int_equal(qlife_state(&f.life), QLIFE_PAUSED);
	qlife_resume(&f.life, QLIFE_MEM, NULL, NULL);
	settle();
	assert_true(fetching(&f));
	assert_int_equal(qlife_state(&f.life), QLIFE_RUNNING);
	/* stopped for good: released once */
	qlife_stop(&f.life, NULL, NULL);
	settle();
	assert_int_equal(f.released, 1);
	assert_int_equal(f.stopped, 1);
}

static void test_reasons_are_lifted_on_their_own(void **state)
{
	(void)state;
	struct fakeq f;
	start(&f, NULL, false);
	qlife_pause(&f.life, QLIFE_SUSPEND, NULL, NULL);
	qlife_pause(&f.life, QLIFE_MEM, NULL, NULL);
	qlife_pause(&f.life, QLIFE_MEM, NULL, NULL);
	settle();
	/* lifting the memory pauses leaves the suspend in force */
	qlife_resume(&f.life, QLIFE_MEM, NULL, NULL);
	settle();
	assert_false(fetching(&f));
	qlife_resume(&f.life, QLIFE_MEM, NULL, NULL);
	settle();
	assert_false(fetching(&f));
	qlife_resume(&f.life, QLIFE_SUSPEND, NULL, NULL);
	settle();
	assert_true(fetching(&f));
	/* a resume of a reason not in force changes nothing */
	qlife_resume(&f.life, QLIFE_MEDIA, NULL, NULL);
	settle();
	assert_true(fetching(&f));
	qlife_stop(&f.life, NULL, NULL);
	settle();
}

static void test_lifting_a_reason_answers_its_waiters_only(void **state)
{
	(void)state;
	struct fakeq f;
	struct answer mem = { &f, 'm', 0 }, sus = { &f, 's', 0 };
	start(&f, NULL, true);
	qlife_pause(&f.life, QLIFE_MEM, answered, &mem);
	qlife_pause(&f.life, QLIFE_SUSPEND, answered, &sus);
	settle();
	qlife_resume(&f.life, QLIFE_MEM, NULL, NULL);
	settle();
	assert_int_equal(mem.n, 1);	/* no longer waits for a drain */
	assert_int_equal(sus.n, 0);
	run_on_reactor(0, finish_one, &f);
	settle();
	assert_int_equal(sus.n, 1);
	qlife_stop(&f.life, NULL, NULL);
	settle();
}

static void test_every_stop_and_late_pause_is_answered(void **state)
{
	(void)state;
	struct fakeq f;
	struct answer p1 = { &f, 'a', 0 }, s1 = { &f, 'b', 0 }, s2 = { &f, 'c', 0 }, p2 = { &f, 'd', 0 };
	struct answer r = { &f, 'r', 0 };
	start(&f, NULL, true);
	qlife_pause(&f.life, QLIFE_SHUTDOWN, answered, &p1);	/* before the stop: on the reactor */
	qlife_stop(&f.life, answered, &s1);
	qlife_stop(&f.life, answered, &s2);		/* a second stop waits with the first */
	qlife_pause(&f.life, QLIFE_MEM, answered, &p2);	/* after it: joins the stop */
	qlife_resume(&f.life, QLIFE_MEM, answered, &r);	/* moot, answered at once */
	assert_int_equal(r.n, 1);
	f.order[0] = 0;
	settle();
	assert_int_equal(p1.n + s1.n + s2.n + p2.n, 0);
	assert_int_equal(qlife_state(&f.life), QLIFE_STOPPING);
	assert_true(qlife_stop_requested(&f.life));
	run_on_reactor(0, finish_one, &f);
	settle();
	assert_int_equal(p1.n, 1);
	assert_int_equal(s1.n, 1);
	assert_int_equal(s2.n, 1);
	assert_int_equal(p2.n, 1);
	assert_int_equal(f.released, 1);
	assert_int_equal(f.stopped, 1);
	assert_int_equal(qlife_state(&f.life), QLIFE_STOPPED);
	/* the pause drained first, then the stop; stopped before its waiters */
	assert_int_equal(f.order[0], 'a');
	assert_int_equal(f.order[1], 'S');
	assert_int_equal(strlen(f.order), 5);
}

static void test_starts_with_the_controllers_pauses(void **state)
{
	(void)state;
	struct fakeq f;
	uint16_t paused[QLIFE_NREASONS] = { 0 };
	paused[QLIFE_SUSPEND] = 1;
	paused[QLIFE_MEM] = 2;
	start(&f, paused, false);
	assert_false(fetching(&f));
	qlife_resume(&f.life, QLIFE_SUSPEND, NULL, NULL);
	qlife_resume(&f.life, QLIFE_MEM, NULL, NULL);
	settle();
	assert_false(fetching(&f));
	qlife_resume(&f.life, QLIFE_MEM, NULL, NULL);
	settle();
	assert_true(fetching(&f));
	assert_true(f.changed >= 3);
	qlife_stop(&f.life, NULL, NULL);
	settle();
}

static void fan_done(void *p) { (*(int *)p)++; }

static void test_fanout_answers_once_after_all(void **state)
{
	(void)state;
	int done = 0, done2 = 0;
	struct fanout *f = fanout_begin(fan_done, &done);
	struct fanout *g = fanout_begin(fan_done, &done2);	/* its own count */
	fanout_add(f);
	fanout_add(f);
	fanout_add(g);
	fanout_ack(f);
	fanout_end(f);
	fanout_end(g);
	assert_int_equal(done, 0);
	assert_int_equal(done2, 0);
	fanout_ack(f);
	assert_int_equal(done, 1);
	fanout_ack(g);
	assert_int_equal(done2, 1);
	/* nothing to wait for: done at the end */
	int done3 = 0;
	fanout_end(fanout_begin(fan_done, &done3));
	assert_int_equal(done3, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pause_waits_for_the_drain),
		cmocka_unit_test(test_reasons_are_lifted_on_their_own),
		cmocka_unit_test(test_lifting_a_reason_answers_its_waiters_only),
		cmocka_unit_test(test_every_stop_and_late_pause_is_answered),
		cmocka_unit_test(test_starts_with_the_controllers_pauses),
		cmocka_unit_test(test_fanout_answers_once_after_all),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
