/* virtio-blk queues on the reactors: fetching, completing, notifying,
 * starting, stopping and pausing. */
#include "vblk_internal.h"
#include "core/fanout.h"
#include "core/log.h"
#include "core/reactor_load.h"
#include "core/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define POLL_BUDGET 64

static void signal_driver(struct vblk_queue *q)
{
	int fd = atomic_load_explicit(&q->call_fd, memory_order_acquire);
	if (fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(fd, &one, sizeof(one));
		(void)w;
	} else if (q->vector != VIRTIO_MSI_NO_VECTOR) {
		emu_irq_raise(q->c->fn, q->vector);
	}
}

static void flush_and_signal(struct vblk_queue *q)
{
	/* unmapped: the used ring may be going away; what was pushed is
	 * published once the rings are back in the map */
	if (!q->need_signal || q->unmapped)
		return;
	q->need_signal = false;
	vq_flush(&q->vq);
	if (vq_need_signal(&q->vq))
		signal_driver(q);
}

/* Used elements go back in the order the chains were made available: when
 * the driver took IN_ORDER, and with --force_in_order whatever it took (the
 * seed's crash recovery: a successor resumes from used->idx, vq_split.h). */
static bool q_in_order(const struct vblk_queue *q)
{
	return (q->c->driver_features & BIT(VIRTIO_F_IN_ORDER)) || q->c->force_in_order;
}

static void req_free(struct vblk_queue *q, struct vblk_req *r)
{
	r->next = q->free_list;
	q->free_list = r;
	q->inflight--;
	if (!r->unused)
		__atomic_store_n(&q->completed, q->completed + 1, __ATOMIC_RELAXED);
}

/* IN_ORDER: hand back, in the order they were made available, the chains
 * at the head of the fetch order that are done. */
static void order_drain(struct vblk_queue *q)
{
	while (q->order_head && q->order_head->done) {
		struct vblk_req *h = q->order_head;
		q->order_head = h->next_order;
		if (!q->order_head)
			q->order_tail = NULL;
		vq_push(&q->vq, h->head, h->unused ? 0 : h->written + 1);
		req_free(q, h);
	}
}

static void order_append(struct vblk_queue *q, struct vblk_req *r)
{
	r->next_order = NULL;
	if (q->order_tail)
		q->order_tail->next_order = r;
	else
		q->order_head = r;
	q->order_tail = r;
}

void vblk_req_finish(struct vblk_req *r, uint8_t status)
{
	struct vblk_queue *q = r->q;
	/* the status byte goes last, once the data is in place */
	*r->status = status;
	r->result = status;
	if (q_in_order(q)) {
		r->done = true;
		order_drain(q);
	} else {
		vq_push(&q->vq, r->head, r->written + 1);
		req_free(q, r);
	}
	q->need_signal = true;
	if (!qlife_fetching(&q->life)) {
		/* publish before saying drained: then the memory may go */
		if (q->inflight == 0)
			flush_and_signal(q);
		qlife_check(&q->life);
	}
}

/* A queue serves through its bdev channel; without a bdev only when the
 * controller has the 'none' media (requests answered, capacity 0) - never
 * in between, e.g. while a detach and an attach cross. */
static bool can_serve(struct vblk_queue *q)
{
	if (q->rbdev)
		return q->ch != NULL;
	return __atomic_load_n(&q->c->null_media, __ATOMIC_RELAXED);
}

static void q_kick_self(struct vblk_queue *q);

/* Reactor: once the rings were first mapped (vq_map recovers the
 * in-flight slice then), look at the ring and say what was recovered. */
static void q_inflight_note(struct vblk_queue *q)
{
	const struct vinfl_queue *iq = &q->vq.infl;
	if (q->infl_noted || !q->vq.mapped_once)
		return;
	q->infl_noted = true;
	/* what waits in the ring (or to resubmit) may have been kicked for
	 * at a predecessor: look at once */
	q_kick_self(q);
	if (q->vq.corrected_from >= 0)
		log_info("%s: queue %u resumes from the used index %u (in order; the front end said %d)", q->c->name,
			 q->idx, q->vq.last_avail, (int)q->vq.corrected_from);
	if (!iq->recovered)
		return;
	if (iq->outcome == VINFL_RECOVERED && iq->nresubmit) {
		log_info("%s: queue %u: %u requests in flight when the service stopped are submitted again",
			 q->c->name, q->idx, iq->nresubmit);
	} else if (iq->outcome == VINFL_GARBAGE) {
		log_warn("%s: queue %u: the in-flight region holds no valid state: started afresh", q->c->name,
			 q->idx);
	} else if (iq->outcome == VINFL_NONE) {
		log_warn("%s: queue %u: ring of %u entries is larger than its in-flight region: not tracked",
			 q->c->name, q->idx, q->vq.size);
	}
}

static int q_poll(void *arg)
{
	struct vblk_queue *q = arg;
	int work = 0;

	if (q->broken)
		return 0;
	if (q->vq.gen != emu_mem_generation_load(q->mem_gen)) {
		/* the map changed (maybe only for a moment: a memory table being
		 * replaced is first emptied): translate again; while the rings
		 * are outside it nothing is fetched and the ring is not touched */
		bool was = q->unmapped;
		q->unmapped = vq_map(&q->vq) != 0;
		if (q->unmapped && !was && qlife_fetching(&q->life))
			log_warn("%s: queue %u rings are not in the client's memory; waiting", q->c->name, q->idx);
		if (!q->unmapped)
			q_inflight_note(q);
	}
	if (q->unmapped)
		return 0;
	while (qlife_fetching(&q->life) && can_serve(q) && q->free_list && work < POLL_BUDGET) {
		struct vblk_req *r = q->free_list;
		struct vq_chain ch = { .iov = r->chain_iov, .max_iov = (int)q->max_iov };
		int rc = vq_pop(&q->vq, &ch);
		if (rc == 0)
			break;
		work++;
		if (rc == -EPROTO) {
			log_err("%s: queue %u ring is corrupt (avail idx ahead of the ring); stopped",
				q->c->name, q->idx);
			q->broken = true;
			break;
		}
		if (rc < 0 || !ch.nin || ch.out_len < sizeof(struct virtio_blk_req_hdr)) {
			/* malformed: give the descriptors back, touch nothing */
			log_debug("%s: queue %u: malformed request (%d) returned unused", q->c->name, q->idx, rc);
			if (ch.head >= q->vq.size)
				continue;	/* names no chain: nothing to give back */
			if (q_in_order(q) && q->order_head) {
				/* IN_ORDER: it goes back after the chains made
				 * available before it, still in flight */
				q->free_list = r->next;
				q->inflight++;
				r->head = ch.head;
				r->done = true;
				r->unused = true;
				order_append(q, r);
			} else {
				vq_push(&q->vq, ch.head, 0);
			}
			q->need_signal = true;
			continue;
		}
		q->free_list = r->next;
		q->inflight++;
		__atomic_store_n(&q->received, q->received + 1, __ATOMIC_RELAXED);
		r->head = ch.head;
		r->done = false;
		r->unused = false;
		if (q_in_order(q))
			order_append(q, r);
		vblk_io_execute(q, r, &ch);
	}
	flush_and_signal(q);
	return work;
}

static bool q_arm(void *arg)
{
	struct vblk_queue *q = arg;
	flush_and_signal(q);
	if (q->broken || q->unmapped || !qlife_fetching(&q->life) || !can_serve(q))
		return false;
	/* with every request slot taken (a ring bigger than queue_size) the
	 * ring's work waits for a completion, which wakes the reactor: sleep
	 * rather than spin on it */
	bool more = vq_enable_kick(&q->vq);
	return more && q->free_list != NULL;
}

/* --- start / stop (main <-> reactor) --- */

struct q_msg {
	struct vblk_queue *q;
	void (*done)(void *arg);
	void *arg;
	struct bdev *bdev;
	int call_fd;
};

static void q_start_on_reactor(void *p)
{
	struct q_msg *m = p;
	struct vblk_queue *q = m->q;
	free(m);
	q->broken = false;
	q->rbdev = q->bdev;	/* set by main before this message */
	if (q->rbdev)
		q->ch = bdev_channel_get(q->rbdev);
	q->unmapped = vq_map(&q->vq) != 0;
	if (q->unmapped)
		log_err("%s: queue %u rings are not in the client's memory", q->c->name, q->idx);
	q->poller = poller_register(q_poll, q, "vblk_queue");
	if (q->poller)
		poller_set_wake_fd(q->poller, q->kick_fd, q_arm);
	if (!q->unmapped)
		q_inflight_note(q);
}

/* --- lifecycle (src/core/queue_life.h) --- */

static bool q_idle(void *arg)
{
	struct vblk_queue *q = arg;
	return q->inflight == 0;
}

static void q_kick_self(struct vblk_queue *q)
{
	if (q->kick_fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(q->kick_fd, &one, sizeof(one));
		(void)w;
	}
}

/* Reactor: a pause, resume or stop arrived. */
static void q_life_changed(void *arg)
{
	struct vblk_queue *q = arg;
	if (qlife_fetching(&q->life))
		q_kick_self(q);	/* resumed: look at the ring again */
	else if (q->inflight == 0)
		flush_and_signal(q);	/* publish before saying drained */
}

/* Reactor: drained and stopping: let go of the poller and the channel. */
static void q_life_release(void *arg)
{
	struct vblk_queue *q = arg;
	flush_and_signal(q);
	poller_unregister(q->poller);
	q->poller = NULL;
	if (q->ch) {
		bdev_channel_put(q->ch);
		q->ch = NULL;
	}
	q->stopped_last_avail = q->vq.last_avail;
}

/* Main: the queue stopped: close and free what main holds. */
static void q_life_stopped(void *arg)
{
	struct vblk_queue *q = arg;
	if (q->bdev)
		bdev_close(q->bdev);
	q->bdev = NULL;
	if (q->kick_fd >= 0 && q->kick_fd != q->own_kick)
		close(q->kick_fd);
	if (q->own_kick >= 0)
		close(q->own_kick);
	int cf = atomic_exchange(&q->call_fd, -1);
	if (cf >= 0)
		close(cf);
	q->kick_fd = q->own_kick = -1;
	free(q->reqs);
	free(q->bio_mem);
	free(q->iov_pool);
	q->reqs = NULL;
	q->bio_mem = NULL;
	q->iov_pool = NULL;
	/* the transport unmaps the slice once the queue has stopped */
	vinfl_queue_fini(&q->vq.infl);
	q->running = false;
	reactor_unplace(q->reactor, q->vq.size);
}

static const struct qlife_ops q_life_ops = {
	.idle = q_idle,
	.changed = q_life_changed,
	.release = q_life_release,
	.stopped = q_life_stopped,
};

int vblk_ctrl_queue_start(struct vblk_ctrl *c, uint16_t idx, const struct virtio_vq_params *p)
{
	if (idx >= c->num_queues || c->queues[idx].running)
		return -EINVAL;
	if (!p->size || p->size > VQ_MAX_SIZE || (p->size & (p->size - 1)))
		return -EINVAL;
	if (reactor_count() == 0)
		return -EAGAIN;
	struct vblk_queue *q = &c->queues[idx];
	uint32_t max_iov = (c->seg_max ? c->seg_max : 128) * 2 + 8;
	if (max_iov > 2048)
		max_iov = 2048;
	memset(&q->vq, 0, sizeof(q->vq));
	q->c = c;
	q->mem_gen = emu_mem_generation_ptr(c->fn);
	q->idx = idx;
	q->vq.fn = c->fn;
	q->vq.size = p->size;
	q->vq.desc_gpa = p->desc;
	q->vq.avail_gpa = p->avail;
	q->vq.used_gpa = p->used;
	q->vq.last_avail = p->last_avail;
	q->vq.avail_shadow = p->last_avail;
	q->vq.used_idx = p->last_avail;
	q->vq.event_idx = c->driver_features & BIT(VIRTIO_F_RING_EVENT_IDX);
	q->vq.resume_from_used = c->force_in_order;
	q->vq.indirect = c->driver_features & BIT(VIRTIO_F_RING_INDIRECT_DESC);
	/* The ring lives in the client's memory and is as big as the client
	 * says (a vhost-user front end picks its own ring size: QEMU's
	 * vhost-user-blk cannot learn ours). What we allocate per request is
	 * bounded by the controller's queue_size instead: with a bigger ring at
	 * most queue_size requests are in flight and the rest wait in the ring
	 * (q_poll fetches only while a request context is free). */
	q->nreqs = c->queue_size && c->queue_size < p->size ? c->queue_size : p->size;
	q->max_iov = max_iov;
	q->infl_noted = false;
	q->reqs = calloc(q->nreqs, sizeof(*q->reqs));
	q->bio_mem = calloc(q->nreqs, BDEV_IO_MAX_SIZE);
	q->iov_pool = calloc((size_t)q->nreqs * max_iov * 2, sizeof(struct iovec));
	if (!q->reqs || !q->bio_mem || !q->iov_pool ||
	    vinfl_queue_init(&q->vq.infl, p->inflight, p->inflight_num)) {
		vinfl_queue_fini(&q->vq.infl);
		free(q->reqs);
		free(q->bio_mem);
		free(q->iov_pool);
		q->reqs = NULL;
		q->bio_mem = NULL;
		q->iov_pool = NULL;
		return -ENOMEM;
	}
	q->free_list = NULL;
	for (uint32_t i = q->nreqs; i-- > 0;) {
		struct vblk_req *r = &q->reqs[i];
		r->q = q;
		r->bio = (struct bdev_io *)(q->bio_mem + (size_t)i * BDEV_IO_MAX_SIZE);
		r->iov = &q->iov_pool[(size_t)i * max_iov * 2];
		r->chain_iov = r->iov + max_iov;
		r->next = q->free_list;
		q->free_list = r;
	}
	q->inflight = 0;
	q->order_head = q->order_tail = NULL;
	q->own_kick = -1;
	q->kick_fd = p->kick_fd;
	if (q->kick_fd < 0) {
		q->own_kick = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		q->kick_fd = q->own_kick;
	}
	atomic_store(&q->call_fd, p->call_fd);
	q->vector = p->vector;
	q->bdev = c->bdev;
	if (q->bdev)
		bdev_open(q->bdev);
	/* the least-loaded reactor of the whole service */
	q->reactor = reactor_place(p->size);
	/* it starts with the pauses its controller has in force */
	qlife_init(&q->life, &q_life_ops, q, reactor_get(q->reactor), c->qpause);
	q->running = true;
	struct q_msg *m = calloc(1, sizeof(*m));
	if (!m) {
		log_crit("out of memory starting a virtio-blk queue");
		abort();
	}
	m->q = q;
	thread_send_msg(reactor_get(q->reactor), q_start_on_reactor, m);
	if (q->nreqs < p->size)
		log_info("%s: queue %u: ring of %u entries, %u requests in flight at most (queue_size)", c->name,
			 idx, p->size, q->nreqs);
	log_debug("%s: queue %u started (%u entries, reactor %d)", c->name, idx, p->size, q->reactor);
	return 0;
}

bool vblk_ctrl_queue_running(const struct vblk_ctrl *c, uint16_t idx)
{
	return idx < c->num_queues && c->queues[idx].running;
}

struct stop_wait {
	struct vblk_queue *q;
	void (*done)(void *arg, uint16_t last_avail);
	void *arg;
};

static void q_stopped_answer(void *p)
{
	struct stop_wait *w = p;
	if (w->done)
		w->done(w->arg, w->q->stopped_last_avail);
	free(w);
}

void vblk_ctrl_queue_stop(struct vblk_ctrl *c, uint16_t idx,
			  void (*done)(void *arg, uint16_t last_avail), void *arg)
{
	if (idx >= c->num_queues || !c->queues[idx].running) {
		if (done)
			done(arg, idx < c->num_queues ? c->queues[idx].vq.last_avail : 0);
		return;
	}
	struct stop_wait *w = calloc(1, sizeof(*w));
	if (!w) {
		log_crit("out of memory stopping a virtio-blk queue");
		abort();
	}
	*w = (struct stop_wait){ .q = &c->queues[idx], .done = done, .arg = arg };
	/* a second stop (two device resets in a row) waits with the first */
	qlife_stop(&c->queues[idx].life, q_stopped_answer, w);
}

static void q_set_call_on_reactor(void *p)
{
	struct q_msg *m = p;
	int old = atomic_exchange(&m->q->call_fd, m->call_fd);
	if (old >= 0)
		close(old);
	free(m);
}

void vblk_ctrl_queue_set_call(struct vblk_ctrl *c, uint16_t idx, int call_fd)
{
	struct vblk_queue *q = &c->queues[idx];
	if (idx >= c->num_queues)
		return;
	if (!q->running || qlife_stop_requested(&q->life)) {
		/* stopped, or stopping: the stop closes what is set then */
		int old = atomic_exchange(&q->call_fd, call_fd);
		if (old >= 0)
			close(old);
		return;
	}
	struct q_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->q = q;
	m->call_fd = call_fd;
	/* swapped on the reactor: it may be writing to the old fd right now */
	thread_send_msg(reactor_get(q->reactor), q_set_call_on_reactor, m);
}

void vblk_ctrl_queue_kick(struct vblk_ctrl *c, uint16_t idx)
{
	struct vblk_queue *q = &c->queues[idx];
	if (idx < c->num_queues && q->running && q->kick_fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(q->kick_fd, &one, sizeof(one));
		(void)w;
	}
}

/* --- pause / bdev swap of all running queues --- */

void vblk_queue_pause_all(struct vblk_ctrl *c, enum qlife_reason why, bool pause, void (*done)(void *arg),
			  void *arg)
{
	if (!pause && !c->qpause[why]) {
		log_err("%s: resume (reason %d) without a pause", c->name, (int)why);
		if (done)
			done(arg);
		return;
	}
	c->qpause[why] += pause ? 1 : -1;
	struct fanout *f = fanout_begin(done, arg);
	for (uint32_t i = 0; i < c->num_queues; i++) {
		struct vblk_queue *q = &c->queues[i];
		if (!q->running)
			continue;
		fanout_add(f);
		if (pause)
			qlife_pause(&q->life, why, fanout_ack, f);
		else
			qlife_resume(&q->life, why, fanout_ack, f);
	}
	fanout_end(f);
}

void vblk_queue_hold(struct vblk_ctrl *c, enum qlife_reason why, void (*done)(void *arg), void *arg)
{
	bool held = c->qpause[why] != 0;
	vblk_queue_pause_all(c, why, true, done, arg);
	if (held)
		/* already held: this one only waits for the drain. The pause
		 * lifted right away leaves the first in force; its waiters
		 * are answered at the drain, not at the lift (the count of the
		 * reason stays above zero). */
		vblk_queue_pause_all(c, why, false, NULL, NULL);
}

void vblk_queue_unhold(struct vblk_ctrl *c, enum qlife_reason why)
{
	if (c->qpause[why])
		vblk_queue_pause_all(c, why, false, NULL, NULL);
}

static void q_bdev_on_reactor(void *p)
{
	struct q_msg *m = p;
	struct vblk_queue *q = m->q;
	/* called with the queue paused and drained */
	if (q->ch)
		bdev_channel_put(q->ch);
	q->rbdev = m->bdev;
	q->ch = m->bdev ? bdev_channel_get(m->bdev) : NULL;
	thread_send_msg(thread_main(), m->done, m->arg);
	free(m);
}

struct bdev_swap {
	struct vblk_queue *q;
	struct bdev *old, *nw;
	void (*done)(void *arg);
	void *arg;
};

static void bdev_swap_main(void *p)
{
	struct bdev_swap *s = p;
	if (s->old)
		bdev_close(s->old);
	s->done(s->arg);
	free(s);
}

void vblk_queue_set_bdev_all(struct vblk_ctrl *c, struct bdev *b, void (*done)(void *arg), void *arg)
{
	struct fanout *f = fanout_begin(done, arg);
	for (uint32_t i = 0; i < c->num_queues; i++) {
		struct vblk_queue *q = &c->queues[i];
		if (!q->running || qlife_stop_requested(&q->life))
			continue;	/* a stopping queue lets go of its own bdev */
		struct q_msg *m = calloc(1, sizeof(*m));
		struct bdev_swap *s = calloc(1, sizeof(*s));
		if (!m || !s) {
			log_crit("out of memory swapping a virtio-blk queue's bdev");
			abort();
		}
		fanout_add(f);
		s->q = q;
		s->old = q->bdev;
		s->nw = b;
		s->done = fanout_ack;
		s->arg = f;
		if (b)
			bdev_open(b);
		q->bdev = b;
		m->q = q;
		m->bdev = b;
		m->done = bdev_swap_main;
		m->arg = s;
		thread_send_msg(reactor_get(q->reactor), q_bdev_on_reactor, m);
	}
	fanout_end(f);
}
