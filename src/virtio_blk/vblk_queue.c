/* virtio-blk queues on the reactors: fetching, completing, notifying,
 * starting, stopping and pausing. */
#include "vblk_internal.h"
#include "core/log.h"
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

static void notify_drained(struct vblk_queue *q);

void vblk_req_finish(struct vblk_req *r, uint8_t status)
{
	struct vblk_queue *q = r->q;
	/* the status byte goes last, once the data is in place */
	*r->status = status;
	r->result = status;
	if (q->c->driver_features & BIT(VIRTIO_F_IN_ORDER)) {
		r->done = true;
		order_drain(q);
	} else {
		vq_push(&q->vq, r->head, r->written + 1);
		req_free(q, r);
	}
	q->need_signal = true;
	if ((q->paused || q->stopping) && q->inflight == 0) {
		/* publish before saying drained: then the memory may go */
		flush_and_signal(q);
		notify_drained(q);
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

static int q_poll(void *arg)
{
	struct vblk_queue *q = arg;
	int work = 0;

	if (q->broken)
		return 0;
	if (q->vq.gen != emu_mem_generation(q->c->fn)) {
		/* the map changed (maybe only for a moment: a memory table being
		 * replaced is first emptied): translate again; while the rings
		 * are outside it nothing is fetched and the ring is not touched */
		bool was = q->unmapped;
		q->unmapped = vq_map(&q->vq) != 0;
		if (q->unmapped && !was && !q->paused)
			log_warn("%s: queue %u rings are not in the client's memory; waiting", q->c->name, q->idx);
	}
	if (q->unmapped)
		return 0;
	while (!q->paused && !q->stopping && can_serve(q) && q->free_list && work < POLL_BUDGET) {
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
			if ((q->c->driver_features & BIT(VIRTIO_F_IN_ORDER)) && q->order_head) {
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
		if (q->c->driver_features & BIT(VIRTIO_F_IN_ORDER))
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
	if (q->broken || q->unmapped || q->paused || q->stopping || !can_serve(q))
		return false;
	return vq_enable_kick(&q->vq);
}

/* --- start / stop (main <-> reactor) --- */

struct q_msg {
	struct vblk_queue *q;
	void (*done)(void *arg);
	void *arg;
	bool flag;
	uint8_t reason;			/* VBLK_PAUSE_* */
	struct q_msg *next;		/* pause_waiters */
	struct bdev *bdev;
	void (*stopped)(void *arg, uint16_t last_avail);
	uint16_t last_avail;
};

static void q_start_on_reactor(void *p)
{
	struct q_msg *m = p;
	struct vblk_queue *q = m->q;
	free(m);
	/* q->pause_mask was set by main before this message */
	q->paused = q->pause_mask != 0;
	q->pause_waiters = NULL;
	q->stopping = false;
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
}

int vblk_ctrl_queue_start(struct vblk_ctrl *c, uint16_t idx, const struct vblk_vq_params *p)
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
	q->idx = idx;
	q->reactor = idx % reactor_count();
	q->vq.fn = c->fn;
	q->vq.size = p->size;
	q->vq.desc_gpa = p->desc;
	q->vq.avail_gpa = p->avail;
	q->vq.used_gpa = p->used;
	q->vq.last_avail = p->last_avail;
	q->vq.used_idx = p->last_avail;
	q->vq.event_idx = c->driver_features & BIT(VIRTIO_F_RING_EVENT_IDX);
	q->vq.indirect = c->driver_features & BIT(VIRTIO_F_RING_INDIRECT_DESC);
	q->nreqs = p->size;
	q->max_iov = max_iov;
	q->reqs = calloc(q->nreqs, sizeof(*q->reqs));
	q->bio_mem = calloc(q->nreqs, BDEV_IO_MAX_SIZE);
	q->iov_pool = calloc((size_t)q->nreqs * max_iov * 2, sizeof(struct iovec));
	if (!q->reqs || !q->bio_mem || !q->iov_pool) {
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
	q->pause_mask = (uint8_t)((c->suspended ? VBLK_PAUSE_SUSPEND : 0) |
				  (c->no_media_pause ? VBLK_PAUSE_MEDIA : 0));
	q->running = true;
	struct q_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->q = q;
	thread_send_msg(reactor_get(q->reactor), q_start_on_reactor, m);
	log_debug("%s: queue %u started (%u entries, reactor %d)", c->name, idx, p->size, q->reactor);
	return 0;
}

bool vblk_ctrl_queue_running(const struct vblk_ctrl *c, uint16_t idx)
{
	return idx < c->num_queues && c->queues[idx].running;
}

static void call_main(void *p)
{
	struct q_msg *m = p;
	if (m->stopped)
		m->stopped(m->arg, m->last_avail);
	else if (m->done)
		m->done(m->arg);
	free(m);
}

/* Tell main that a pause took effect (or was lifted before it could). */
static void pause_ack(struct q_msg *m)
{
	m->stopped = NULL;
	thread_send_msg(thread_main(), call_main, m);
}

static void notify_drained(struct vblk_queue *q)
{
	if (q->paused) {
		struct q_msg *w = q->pause_waiters;
		q->pause_waiters = NULL;
		while (w) {
			struct q_msg *n = w->next;
			pause_ack(w);
			w = n;
		}
	}
	if (!q->stopping || !q->drained)
		return;
	struct q_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->q = q;
	m->done = q->drained;
	m->arg = q->drained_arg;
	q->drained = NULL;
	thread_send_msg(thread_main(), call_main, m);
}

struct stop_ctx {
	struct vblk_queue *q;
	void (*done)(void *arg, uint16_t last_avail);
	void *arg;
	uint16_t last_avail;
};

static void stop_finish_main(void *p)
{
	struct stop_ctx *s = p;
	struct vblk_queue *q = s->q;
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
	q->running = false;
	if (s->done)
		s->done(s->arg, s->last_avail);
	free(s);
}

/* On the reactor once nothing is in flight: let go and report. */
static void stop_release(void *p)
{
	struct stop_ctx *s = p;
	struct vblk_queue *q = s->q;
	flush_and_signal(q);
	poller_unregister(q->poller);
	q->poller = NULL;
	if (q->ch) {
		bdev_channel_put(q->ch);
		q->ch = NULL;
	}
	s->last_avail = q->vq.last_avail;
	thread_send_msg(thread_main(), stop_finish_main, s);
}

static void stop_drained(void *p)
{
	struct stop_ctx *s = p;
	/* drained is reported to main; come back to the reactor to release,
	 * never from inside a bdev completion */
	thread_send_msg(reactor_get(s->q->reactor), stop_release, s);
}

static void stop_drained_reactor(void *p)
{
	stop_drained(p);
}

static void q_stop_on_reactor(void *p)
{
	struct stop_ctx *s = p;
	struct vblk_queue *q = s->q;
	q->stopping = true;
	if (q->inflight == 0) {
		thread_send_msg(reactor_get(q->reactor), stop_release, s);
		return;
	}
	q->drained = stop_drained_reactor;
	q->drained_arg = s;
}

void vblk_ctrl_queue_stop(struct vblk_ctrl *c, uint16_t idx,
			  void (*done)(void *arg, uint16_t last_avail), void *arg)
{
	struct vblk_queue *q = &c->queues[idx];
	if (idx >= c->num_queues || !q->running) {
		if (done)
			done(arg, idx < c->num_queues ? q->vq.last_avail : 0);
		return;
	}
	struct stop_ctx *s = calloc(1, sizeof(*s));
	if (!s) {
		log_crit("out of memory stopping a virtio-blk queue");
		return;
	}
	s->q = q;
	s->done = done;
	s->arg = arg;
	thread_send_msg(reactor_get(q->reactor), q_stop_on_reactor, s);
}

static void q_set_call_on_reactor(void *p)
{
	struct q_msg *m = p;
	int old = atomic_exchange(&m->q->call_fd, m->last_avail == 1 ? -1 : (int)(intptr_t)m->arg);
	if (old >= 0)
		close(old);
	free(m);
}

void vblk_ctrl_queue_set_call(struct vblk_ctrl *c, uint16_t idx, int call_fd)
{
	struct vblk_queue *q = &c->queues[idx];
	if (idx >= c->num_queues)
		return;
	if (!q->running) {
		int old = atomic_exchange(&q->call_fd, call_fd);
		if (old >= 0)
			close(old);
		return;
	}
	struct q_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->q = q;
	m->arg = (void *)(intptr_t)call_fd;
	m->last_avail = call_fd < 0;
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

struct all_ctx {
	int pending;
	void (*done)(void *arg);
	void *arg;
};

static void all_ack(void *p)
{
	struct all_ctx *a = p;
	if (--a->pending == 0) {
		if (a->done)
			a->done(a->arg);
		free(a);
	}
}

static void q_pause_on_reactor(void *p)
{
	struct q_msg *m = p;
	struct vblk_queue *q = m->q;
	if (m->flag) {
		q->pause_mask |= m->reason;
		q->paused = true;
		if (q->inflight) {
			/* acknowledged by notify_drained() */
			m->next = q->pause_waiters;
			q->pause_waiters = m;
			return;
		}
		pause_ack(m);
		return;
	}
	q->pause_mask &= (uint8_t)~m->reason;
	q->paused = q->pause_mask != 0;
	/* pauses for the reason just lifted no longer wait for the drain */
	for (struct q_msg **pp = &q->pause_waiters; *pp;) {
		struct q_msg *w = *pp;
		if (w->reason == m->reason) {
			*pp = w->next;
			pause_ack(w);
		} else {
			pp = &w->next;
		}
	}
	if (!q->paused && q->kick_fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(q->kick_fd, &one, sizeof(one));
		(void)w;
	}
	pause_ack(m);
}

void vblk_queue_pause_all(struct vblk_ctrl *c, uint8_t reason, bool pause, void (*done)(void *arg),
			  void *arg)
{
	struct all_ctx *a = calloc(1, sizeof(*a));
	if (!a) {
		if (done)
			done(arg);
		return;
	}
	a->pending = 1;
	a->done = done;
	a->arg = arg;
	for (uint32_t i = 0; i < c->num_queues; i++) {
		struct vblk_queue *q = &c->queues[i];
		if (!q->running)
			continue;
		struct q_msg *m = calloc(1, sizeof(*m));
		if (!m)
			continue;
		a->pending++;
		m->q = q;
		m->flag = pause;
		m->reason = reason;
		m->done = all_ack;
		m->arg = a;
		thread_send_msg(reactor_get(q->reactor), q_pause_on_reactor, m);
	}
	all_ack(a);
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
	thread_send_msg(thread_main(), call_main, m);
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
	struct all_ctx *a = calloc(1, sizeof(*a));
	if (!a) {
		done(arg);
		return;
	}
	a->pending = 1;
	a->done = done;
	a->arg = arg;
	for (uint32_t i = 0; i < c->num_queues; i++) {
		struct vblk_queue *q = &c->queues[i];
		if (!q->running)
			continue;
		struct q_msg *m = calloc(1, sizeof(*m));
		struct bdev_swap *s = calloc(1, sizeof(*s));
		if (!m || !s) {
			free(m);
			free(s);
			continue;
		}
		a->pending++;
		s->q = q;
		s->old = q->bdev;
		s->nw = b;
		s->done = all_ack;
		s->arg = a;
		if (b)
			bdev_open(b);
		q->bdev = b;
		m->q = q;
		m->bdev = b;
		m->done = bdev_swap_main;
		m->arg = s;
		thread_send_msg(reactor_get(q->reactor), q_bdev_on_reactor, m);
	}
	all_ack(a);
}
