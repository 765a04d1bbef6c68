/* One lifecycle for every queue served on a reactor: see queue_life.h. */
#include "queue_life.h"
#include "log.h"
#include "thread.h"

#include <stdlib.h>

enum waiter_kind { W_PAUSE, W_RESUME, W_STOP };

struct qlife_waiter {
	struct qlife *l;
	enum waiter_kind kind;
	enum qlife_reason reason;
	void (*done)(void *arg);
	void *arg;
	struct qlife_waiter *next;
};

static struct qlife_waiter *waiter_new(struct qlife *l, enum waiter_kind kind, enum qlife_reason r,
				       void (*done)(void *arg), void *arg)
{
	struct qlife_waiter *w = calloc(1, sizeof(*w));
	if (!w) {
		/* a lost answer would hang its caller (and the client's
		 * memory with it) for good */
		log_crit("out of memory changing a queue's state");
		abort();
	}
	w->l = l;
	w->kind = kind;
	w->reason = r;
	w->done = done;
	w->arg = arg;
	return w;
}

static bool paused(const struct qlife *l)
{
	for (int r = 0; r < QLIFE_NREASONS; r++)
		if (l->count[r])
			return true;
	return false;
}

/* --- the reactor's side --- */

static void update_state(struct qlife *l)
{
	enum qlife_state s;
	if (l->stopping)
		s = l->release_sent ? QLIFE_STOPPED : QLIFE_STOPPING;
	else if (!paused(l))
		s = QLIFE_RUNNING;
	else
		s = l->drain_waiters || !l->ops->idle(l->q) ? QLIFE_PAUSING : QLIFE_PAUSED;
	atomic_store_explicit(&l->state, (int)s, memory_order_relaxed);
}

static void waiter_done_main(void *p)
{
	struct qlife_waiter *w = p;
	if (w->done)
		w->done(w->arg);
	free(w);
}

static void answer(struct qlife_waiter *w)
{
	thread_send_msg(thread_main(), waiter_done_main, w);
}

static void stopped_main(void *p)
{
	struct qlife *l = p;
	/* detach the list first: a waiter may free the queue (and l) */
	struct qlife_waiter *w = l->stop_waiters;
	l->stop_waiters = NULL;
	if (l->ops->stopped)
		l->ops->stopped(l->q);
	while (w) {
		struct qlife_waiter *n = w->next;
		waiter_done_main(w);
		w = n;
	}
}

static void release_on_reactor(void *p)
{
	struct qlife *l = p;
	l->ops->release(l->q);
	thread_send_msg(thread_main(), stopped_main, l);
}

void qlife_check(struct qlife *l)
{
	if (!l->quiet)
		return;	/* running: the hot path of every completion */
	if (!l->ops->idle(l->q)) {
		update_state(l);
		return;
	}
	/* drained: every pause waiting for it has its answer */
	struct qlife_waiter *w = l->drain_waiters;
	l->drain_waiters = NULL;
	while (w) {
		struct qlife_waiter *n = w->next;
		answer(w);
		w = n;
	}
	if (l->stopping && !l->release_sent) {
		l->release_sent = true;
		/* release from a message of its own: this may run inside a
		 * completion, whose channel the release puts */
		thread_send_msg(l->reactor, release_on_reactor, l);
	}
	update_state(l);
}

static void changed(struct qlife *l)
{
	l->quiet = l->stopping || paused(l);
	if (l->ops->changed)
		l->ops->changed(l->q);
	qlife_check(l);
	update_state(l);
}

static void pause_on_reactor(void *p)
{
	struct qlife_waiter *w = p;
	struct qlife *l = w->l;
	l->count[w->reason]++;
	w->next = l->drain_waiters;
	l->drain_waiters = w;
	changed(l);
}

static void resume_on_reactor(void *p)
{
	struct qlife_waiter *w = p;
	struct qlife *l = w->l;
	enum qlife_reason r = w->reason;
	if (!l->count[r]) {
		log_err("queue resumed for a reason (%d) it was not paused for", (int)r);
	} else if (--l->count[r] == 0) {
		/* pauses for the reason just lifted no longer wait for the drain */
		for (struct qlife_waiter **pp = &l->drain_waiters; *pp;) {
			struct qlife_waiter *d = *pp;
			if (d->reason == r) {
				*pp = d->next;
				answer(d);
			} else {
				pp = &d->next;
			}
		}
	}
	answer(w);
	changed(l);
}

static void stop_on_reactor(void *p)
{
	struct qlife *l = p;
	l->stopping = true;
	changed(l);
}

bool qlife_fetching(const struct qlife *l)
{
	return !l->quiet;
}

bool qlife_stopping(const struct qlife *l)
{
	return l->stopping;
}

/* --- the main thread's side --- */

void qlife_init(struct qlife *l, const struct qlife_ops *ops, void *q, struct osnap_thread *reactor,
		const uint16_t *paused_counts)
{
	*l = (struct qlife){ .ops = ops, .q = q, .reactor = reactor };
	for (int r = 0; r < QLIFE_NREASONS; r++)
		l->count[r] = paused_counts ? paused_counts[r] : 0;
	l->quiet = paused(l);
	atomic_store_explicit(&l->state, paused(l) ? QLIFE_PAUSED : QLIFE_RUNNING,
			      memory_order_relaxed);
}

void qlife_pause(struct qlife *l, enum qlife_reason r, void (*done)(void *arg), void *arg)
{
	struct qlife_waiter *w = waiter_new(l, W_PAUSE, r, done, arg);
	if (l->stop_requested) {
		/* the stop answers it: nothing is sent to a stopping queue */
		w->next = l->stop_waiters;
		l->stop_waiters = w;
		return;
	}
	thread_send_msg(l->reactor, pause_on_reactor, w);
}

void qlife_resume(struct qlife *l, enum qlife_reason r, void (*done)(void *arg), void *arg)
{
	if (l->stop_requested) {
		if (done)
			done(arg);
		return;
	}
	thread_send_msg(l->reactor, resume_on_reactor, waiter_new(l, W_RESUME, r, done, arg));
}

void qlife_stop(struct qlife *l, void (*done)(void *arg), void *arg)
{
	struct qlife_waiter *w = waiter_new(l, W_STOP, QLIFE_NREASONS, done, arg);
	w->next = l->stop_waiters;
	l->stop_waiters = w;
	if (l->stop_requested)
		return;	/* already on its way down: answered with the others */
	l->stop_requested = true;
	thread_send_msg(l->reactor, stop_on_reactor, l);
}

bool qlife_stop_requested(const struct qlife *l)
{
	return l->stop_requested;
}

enum qlife_state qlife_state(const struct qlife *l)
{
	return (enum qlife_state)atomic_load_explicit(&l->state, memory_order_relaxed);
}

const char *qlife_state_name(enum qlife_state s)
{
	switch (s) {
	case QLIFE_RUNNING: return "RUNNING";
	case QLIFE_PAUSING: return "SUSPENDING";
	case QLIFE_PAUSED: return "SUSPENDED";
	case QLIFE_STOPPING: return "STOPPING";
	case QLIFE_STOPPED: return "STOPPED";
	}
	return "UNKNOWN";
}
