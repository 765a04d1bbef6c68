/* NVMe with mapped doorbells: a reactor watches the admin doorbells. */
#include "nvme_internal.h"
#include "core/log.h"
#include "core/thread.h"

#include <stdatomic.h>
#include <stdlib.h>


/* With a mappable doorbell page (EMU_NVME_DOORBELLS=mmap or adaptive) the
 * client may write its admin doorbells into the mapped page, where nothing
 * traps them. A poller of reactor 0 watches them and hands the admin queue
 * to the main thread when they move (mmap: polled all the time; adaptive:
 * dozing when idle, see poller_set_doze). */
struct admin_watch {
	struct nvme_ctrl *c;
	struct poller *p;
	uint32_t last_sq, last_cq;
	uint32_t skip;		/* passes left before the next look */
	atomic_bool pending;	/* a notification is on its way to main */
	void (*stopped)(void *arg);
	void *stopped_arg;
};

static void watch_notify_main(void *arg)
{
	struct admin_watch *w = arg;
	/* cleared first: a doorbell moving during the poll is seen again */
	atomic_store(&w->pending, false);
	if (w->c->state == NVME_CTRL_READY)
		nvme_admin_poll(w->c);
}

/* Admin commands are rare and not latency-critical: the doorbells are
 * looked at on every WATCH_EVERY-th pass of the reactor, which keeps two
 * loads off the I/O queues' polling loop (watch_arm looks before a sleep). */
#define WATCH_EVERY 32u

static int watch_poll(void *arg)
{
	struct admin_watch *w = arg;
	if (w->skip) {
		w->skip--;
		return 0;
	}
	w->skip = WATCH_EVERY - 1;
	uint32_t sq = __atomic_load_n((uint32_t *)(w->c->bar0 + NVME_REG_DBS), __ATOMIC_ACQUIRE);
	uint32_t cq = __atomic_load_n((uint32_t *)(w->c->bar0 + NVME_REG_DBS + 4), __ATOMIC_ACQUIRE);
	if (sq == w->last_sq && cq == w->last_cq)
		return 0;
	w->last_sq = sq;
	w->last_cq = cq;
	if (!atomic_exchange(&w->pending, true))
		thread_send_msg(thread_main(), watch_notify_main, w);
	return 1;
}

static bool watch_arm(void *arg)
{
	struct admin_watch *w = arg;
	if (w->c->doorbells_spin)
		return true;	/* EMU_NVME_DOORBELLS=mmap: never sleep */
	uint32_t sq = __atomic_load_n((uint32_t *)(w->c->bar0 + NVME_REG_DBS), __ATOMIC_ACQUIRE);
	uint32_t cq = __atomic_load_n((uint32_t *)(w->c->bar0 + NVME_REG_DBS + 4), __ATOMIC_ACQUIRE);
	return sq != w->last_sq || cq != w->last_cq;
}

static void watch_start_on_reactor(void *arg)
{
	struct admin_watch *w = arg;
	w->p = poller_register(watch_poll, w, "nvme_admin_db");
	if (w->p) {
		poller_set_wake_fd(w->p, -1, watch_arm);
		poller_set_doze(w->p, true);
	}
}

void nvme_admin_watch_start(struct nvme_ctrl *c)
{
	if (!c->doorbells_mmap || c->admin_watch || reactor_count() == 0)
		return;
	struct admin_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return;
	w->c = c;
	c->admin_watch = w;
	thread_send_msg(reactor_get(0), watch_start_on_reactor, w);
}

static void watch_stopped_main(void *arg)
{
	struct admin_watch *w = arg;
	void (*done)(void *) = w->stopped;
	void *darg = w->stopped_arg;
	free(w);
	if (done)
		done(darg);
}

static void watch_stop_on_reactor(void *arg)
{
	struct admin_watch *w = arg;
	poller_unregister(w->p);
	thread_send_msg(thread_main(), watch_stopped_main, w);
}

bool nvme_admin_watch_stop(struct nvme_ctrl *c, void (*done)(void *arg), void *arg)
{
	struct admin_watch *w = c->admin_watch;
	if (!w)
		return false;
	c->admin_watch = NULL;
	w->stopped = done;
	w->stopped_arg = arg;
	thread_send_msg(reactor_get(0), watch_stop_on_reactor, w);
	return true;
}
