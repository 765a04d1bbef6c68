/* SPDK's framework_get_reactors and thread_get_stats: one reactor per core,
 * each with one thread of its own ("reactor_N"). Each reactor reports for
 * itself (a message to it, the answer back to the main thread), so nothing
 * of a reactor is read from another thread.
 *
 * Times are in nanoseconds (tick_rate 1000000000): busy is the reactor
 * thread's CPU time (polling included), idle the rest of the time since
 * the RPC families were registered (start-up). */
#include "service.h"
#include "core/thread.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static uint64_t g_start_ns;

struct reactor_report {
	int tid;
	int pollers;
	uint64_t cpu_ns;
};

struct collect {
	struct rpc_request *req;
	bool reactors;		/* framework_get_reactors (else thread_get_stats) */
	int pending;
	struct reactor_report r[OSNAP_MAX_REACTORS];
};

struct visit {
	struct collect *c;
	int idx;
};

static void answer(struct collect *c)
{
	uint64_t up = now_ns() - g_start_ns;
	json_t *list = json_array();
	for (int i = 0; i < reactor_count(); i++) {
		const struct reactor_report *r = &c->r[i];
		uint64_t busy = r->cpu_ns, idle = up > busy ? up - busy : 0;
		char name[32], mask[24];
		snprintf(name, sizeof(name), "reactor_%d", reactor_core(i));
		snprintf(mask, sizeof(mask), "%llx", 1ull << reactor_core(i));
		json_t *thread = json_pack("{s:s, s:i, s:s, s:I, s:I, s:i, s:i, s:i}", "name", name, "id", i + 1,
					   "cpumask", mask, "busy", (json_int_t)busy, "idle", (json_int_t)idle,
					   "active_pollers_count", r->pollers, "timed_pollers_count", 0,
					   "paused_pollers_count", 0);
		if (!c->reactors) {
			json_array_append_new(list, thread);
			continue;
		}
		json_t *lw = json_pack("[{s:s, s:i, s:s, s:I}]", "name", name, "id", i + 1, "cpumask", mask,
				       "elapsed", (json_int_t)up);
		json_decref(thread);
		json_array_append_new(list, json_pack("{s:i, s:i, s:I, s:I, s:b, s:o}", "lcore", reactor_core(i),
						      "tid", r->tid, "busy", (json_int_t)busy, "idle",
						      (json_int_t)idle, "in_interrupt", false, "lw_threads", lw));
	}
	json_t *res = c->reactors
		? json_pack("{s:I, s:i, s:o}", "tick_rate", (json_int_t)1000000000, "pid", (int)getpid(),
			    "reactors", list)
		: json_pack("{s:I, s:o}", "tick_rate", (json_int_t)1000000000, "threads", list);
	rpc_send_result(c->req, res);
	free(c);
}

/* main thread: one reactor has reported */
static void reported(void *arg)
{
	struct collect *c = arg;
	if (--c->pending == 0)
		answer(c);
}

/* on reactor v->idx */
static void report(void *arg)
{
	struct visit *v = arg;
	struct collect *c = v->c;
	struct timespec ts;
	c->r[v->idx].tid = (int)gettid();
	c->r[v->idx].pollers = thread_poller_count();
	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) == 0)
		c->r[v->idx].cpu_ns = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	free(v);
	thread_send_msg(thread_main(), reported, c);
}

static void collect(struct rpc_request *req, json_t *params, bool reactors)
{
	char err[256];
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	struct collect *c = calloc(1, sizeof(*c));
	struct visit *v[OSNAP_MAX_REACTORS] = { 0 };
	int n = reactor_count();
	bool oom = !c;
	for (int i = 0; i < n && !oom; i++)
		oom = !(v[i] = calloc(1, sizeof(*v[i])));
	if (oom) {
		for (int i = 0; i < n; i++)
			free(v[i]);
		free(c);
		rpc_send_errno(req, -ENOMEM, "out of memory");
		return;
	}
	c->req = req;
	c->reactors = reactors;
	c->pending = n + 1;	/* +1 while sending: no answer before every reactor was asked */
	for (int i = 0; i < n; i++) {
		v[i]->c = c;
		v[i]->idx = i;
		thread_send_msg(reactor_get(i), report, v[i]);
	}
	reported(c);
}

static void rpc_framework_get_reactors(struct rpc_request *req, json_t *params)
{
	collect(req, params, true);
}

static void rpc_thread_get_stats(struct rpc_request *req, json_t *params)
{
	collect(req, params, false);
}

static const struct rpc_method reactor_methods[] = {
	{ "framework_get_reactors", rpc_framework_get_reactors, RPC_RUNTIME },
	{ "thread_get_stats", rpc_thread_get_stats, RPC_RUNTIME },
};

void reactor_rpc_register(void)
{
	g_start_ns = now_ns();
	rpc_register_table(RPC_PARAMS(reactor_methods));
}
