/* Helpers for unit tests that run code on reactors. */
#ifndef OSNAP_TEST_UTIL_H
#define OSNAP_TEST_UTIL_H

#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "core/thread.h"

struct on_reactor {
	void (*fn)(void *arg);
	void *arg;
	atomic_bool done;
};

static inline void on_reactor_trampoline(void *p)
{
	struct on_reactor *r = p;
	r->fn(r->arg);
	atomic_store(&r->done, true);
}

/* Run fn(arg) on reactor idx and wait until it returned. */
static inline void run_on_reactor(int idx, void (*fn)(void *), void *arg)
{
	struct on_reactor r = { fn, arg, false };
	thread_send_msg(reactor_get(idx), on_reactor_trampoline, &r);
	while (!atomic_load(&r.done))
		sched_yield();
}

/* Wait until *flag is set, up to ms milliseconds. Returns the flag. */
static inline bool wait_flag(atomic_bool *flag, int ms)
{
	struct timespec ts = { 0, 100000 };
	for (int i = 0; i < ms * 10 && !atomic_load(flag); i++)
		nanosleep(&ts, NULL);
	return atomic_load(flag);
}

#endif
