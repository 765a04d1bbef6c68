/* NVMe queues: rings in guest memory, I/O queue pollers on the reactors,
 * completion posting and interrupts, shadow doorbells with EventIdx. */
#include "nvme_internal.h"
#include "core/log.h"
#include "core/reactor_load.h"
#include "core/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SQ_POLL_BUDGET 64	/* commands fetched per SQ per poll */

/* --- ring memory --- */

int nvme_qmem_map(struct nvme_ctrl *c, struct nvme_qmem *m, int prot)
{
	uint64_t gen = emu_mem_generation(c->fn);
	int n = emu_dma_map(c->fn, m->gpa, m->bytes, prot, m->iov, 4);
	if (n < 0)
		return n;
	m->iovcnt = n;
	m->gen = gen;
	return 0;
}

void *nvme_qmem_entry(struct nvme_qmem *m, uint32_t offset)
{
	/* pieces break at page boundaries, entries never straddle them */
	for (int i = 0; i < m->iovcnt; i++) {
		if (offset < m->iov[i].iov_len)
			return (uint8_t *)m->iov[i].iov_base + offset;
		offset -= (uint32_t)m->iov[i].iov_len;
	}
	return NULL;
}

static uint32_t *doorbell(struct nvme_ctrl *c, uint16_t qid, bool cq)
{
	return (uint32_t *)(c->bar0 + NVME_REG_DBS + (2u * qid + (cq ? 1 : 0)) * 4);
}

uint32_t nvme_sq_tail_doorbell(struct nvme_sq *sq)
{
	return __atomic_load_n(doorbell(sq->ctrl, sq->qid, false), __ATOMIC_ACQUIRE);
}

uint32_t nvme_cq_head_doorbell(struct nvme_cq *cq)
{
	return __atomic_load_n(doorbell(cq->ctrl, cq->qid, true), __ATOMIC_ACQUIRE);
}

/* --- allocation (main thread) --- */

struct nvme_cq *nvme_cq_alloc(struct nvme_ctrl *c, uint16_t qid, uint32_t size, uint64_t gpa,
			      bool ien, uint16_t vector)
{
	struct nvme_cq *cq = calloc(1, sizeof(*cq));
	if (!cq)
		return NULL;
	cq->ctrl = c;
	cq->qid = qid;
	cq->size = size;
	cq->mem.gpa = gpa;
	cq->mem.bytes = size * (uint32_t)sizeof(struct nvme_cqe);
	cq->phase = 1;
	cq->irq_enabled = ien;
	cq->vector = vector;
	cq->reactor = -1;
	if (nvme_qmem_map(c, &cq->mem, EMU_DMA_WRITE)) {
		free(cq);
		return NULL;
	}
	/* I/O queues go to the least-loaded reactor of the whole service (its
	 * SQs follow it); the admin queue runs on main */
	if (qid)
		cq->reactor = reactor_place(size);
	/* the ring starts empty: phase tags 0 (the host zeroes it, we don't
	 * rely on it) */
	return cq;
}

void nvme_cq_free(struct nvme_cq *cq)
{
	if (cq && cq->reactor >= 0)
		reactor_unplace(cq->reactor, cq->size);
	free(cq);
}

static const struct qlife_ops sq_life_ops;

struct nvme_sq *nvme_sq_alloc(struct nvme_ctrl *c, uint16_t qid, uint32_t size, uint64_t gpa,
			      struct nvme_cq *cq)
{
	struct nvme_sq *sq = calloc(1, sizeof(*sq));
	uint16_t max_iov = (uint16_t)((1u << (c->mdts ? c->mdts : 7)) + 4);
	if (!sq)
		return NULL;
	sq->ctrl = c;
	sq->qid = qid;
	sq->size = size;
	sq->cq = cq;
	sq->mem.gpa = gpa;
	sq->mem.bytes = size * (uint32_t)sizeof(struct nvme_sqe);
	sq->reactor = cq->reactor;
	sq->wake_fd = -1;
	sq->reqs = calloc(size, sizeof(*sq->reqs));
	sq->bio_mem = calloc(size, BDEV_IO_MAX_SIZE);
	sq->iov_pool = calloc((size_t)size * max_iov, sizeof(struct iovec));
	if (qid)
		sq->ns = calloc(NVME_MAX_NS_PER_CTRL, sizeof(*sq->ns));
	if (!sq->reqs || !sq->bio_mem || !sq->iov_pool || (qid && !sq->ns) ||
	    nvme_qmem_map(c, &sq->mem, EMU_DMA_READ)) {
		nvme_sq_free(sq);
		return NULL;
	}
	/* LIFO free list keeps the working set of request slots small */
	for (uint32_t i = size; i-- > 0;) {
		struct nvme_req *r = &sq->reqs[i];
		r->sq = sq;
		r->slot = (uint16_t)i;
		r->bio = (struct bdev_io *)(sq->bio_mem + (size_t)i * BDEV_IO_MAX_SIZE);
		r->iov = &sq->iov_pool[(size_t)i * max_iov];
		r->max_iov = max_iov;
		r->next = sq->free_list;
		sq->free_list = r;
	}
	sq->free_slots = size;
	cq->sq_refs++;
	if (qid)
		/* an I/O queue starts with the pauses its controller has in
		 * force (a memory change, a suspend, a shutdown under way) */
		qlife_init(&sq->life, &sq_life_ops, sq, reactor_get(sq->reactor), c->qpause);
	return sq;
}

void nvme_sq_free(struct nvme_sq *sq)
{
	if (!sq)
		return;
	if (sq->cq && sq->reqs)
		sq->cq->sq_refs--;
	if (sq->wake_fd >= 0)
		close(sq->wake_fd);
	free(sq->reqs);
	free(sq->bio_mem);
	free(sq->iov_pool);
	free(sq->ns);
	free(sq);
}

/* --- completions (owner thread of the CQ) --- */

/* The host's CQ head is read again only when the ring looks full by the
 * value last read: it is a cache line the host writes at every reap, and
 * reading it at every post (or every poll) made the reactor wait for that
 * line once per completion. A stale head only understates the room. */
static void cq_eventidx_quiet(struct nvme_sq *sq);

static bool cq_full(struct nvme_cq *cq, struct nvme_sq *sq)
{
	if ((cq->tail + 1) % cq->size != cq->head)
		return false;
	uint32_t head;
	if (cq->qid && cq->ctrl->dbbuf_enabled) {
		/* with shadow doorbells the host's head lives in its memory */
		if (!sq || !sq->cq_shadow_head)
			return true;
		head = __atomic_load_n(sq->cq_shadow_head, __ATOMIC_ACQUIRE);
	} else {
		head = nvme_cq_head_doorbell(cq);
	}
	if (head < cq->size && head != cq->head) {
		cq->head = head;
		if (sq && !cq->backlog)
			cq_eventidx_quiet(sq);
	}
	return (cq->tail + 1) % cq->size == cq->head;
}

/* Shadow doorbells while the queue is served: EventIdx values the host's
 * next doorbell moves cannot cross, so that it writes no real (trapped)
 * doorbell. The host rings when EventIdx lies in [old, new) of its own
 * doorbell move (mod 2^16). Its SQ tail stays less than a ring ahead of our
 * head: EventIdx = head - 1 is crossed only after a lap (EventIdx = head,
 * as sq_arm sets it, asks for the next submission), and the poller moves
 * it on every eighth of a ring. Its CQ head never passes the entries
 * we posted, which never pass the head we last read: EventIdx = that head
 * - 1 is never crossed. Hints only: a stale value costs one trapped
 * doorbell, and sleeping (sq_arm) sets its own values behind a fence. */
static void cq_eventidx_quiet(struct nvme_sq *sq)
{
	if (sq->cq_eventidx)
		__atomic_store_n(sq->cq_eventidx, (sq->cq->head + sq->cq->size - 1) % sq->cq->size,
				 __ATOMIC_RELAXED);
}

static void sq_eventidx_quiet(struct nvme_sq *sq)
{
	if (sq->eventidx)
		__atomic_store_n(sq->eventidx, (sq->head + sq->size - 1) % sq->size, __ATOMIC_RELAXED);
	sq->eventidx_head = sq->head;
}

bool nvme_cq_post(struct nvme_cq *cq, struct nvme_req *r)
{
	if (cq_full(cq, cq->qid ? r->sq : NULL))
		return false;
	/* The client's map changed since the ring was translated (an admin
	 * completion raised by an RPC or an AER may be the first to notice):
	 * translate again. While the ring is outside the map the completion
	 * waits in the backlog; the old pointer is never used, as its memory
	 * may be unmapped already. */
	if (cq->mem.gen != emu_mem_generation_load(cq->ctrl->mem_gen) &&
	    nvme_qmem_map(cq->ctrl, &cq->mem, EMU_DMA_WRITE))
		return false;
	struct nvme_cqe *e = nvme_qmem_entry(&cq->mem, cq->tail * (uint32_t)sizeof(*e));
	if (!e)
		return false;
	r->cpl.sqid = r->sq->qid;
	r->cpl.sqhd = (uint16_t)r->sq->head;
	r->cpl.cid = r->cmd.cid;
	/* dwords 0-2 first, then the dword with the phase tag */
	memcpy(e, &r->cpl, 12);
	uint32_t dw3 = (uint32_t)r->cpl.cid | (uint32_t)((r->cpl.status & 0xfffe) | cq->phase) << 16;
	/* release: the host must not see the new phase before the rest of the
	 * entry (it reads the phase, then the other dwords) */
	__atomic_store_n((uint32_t *)((uint8_t *)e + 12), dw3, __ATOMIC_RELEASE);
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase ^= 1;
	}
	cq->completions++;
	cq->pending_irq++;
	return true;
}

void nvme_cq_irq(struct nvme_cq *cq, bool force)
{
	struct nvme_ctrl *c = cq->ctrl;
	if (!cq->pending_irq || !cq->irq_enabled)
		return;
	uint32_t thr = (c->feat.irq_coalesce & 0xff) + 1;
	bool no_coalesce = cq->qid == 0 || !(c->feat.irq_coalesce & 0xff) ||
			   (c->feat.irq_config && c->feat.irq_config[cq->vector] & 1);
	if (!force && !no_coalesce && cq->pending_irq < thr)
		return;
	cq->pending_irq = 0;
	emu_irq_raise(c->fn, cq->vector);
}

/* Post what waited for room; true if the backlog is now empty. */
static bool cq_flush_backlog(struct nvme_cq *cq)
{
	while (cq->backlog) {
		struct nvme_req *r = cq->backlog;
		if (!nvme_cq_post(cq, r))
			return false;
		cq->backlog = r->next;
		if (!cq->backlog)
			cq->backlog_tail = NULL;
		struct nvme_sq *sq = r->sq;
		r->in_use = false;
		r->next = sq->free_list;
		sq->free_list = r;
		sq->free_slots++;
		sq->inflight--;
	}
	return true;
}

/* --- I/O queue poller (reactor) --- */

/* Completions of sq waiting in cq's backlog. */
static uint32_t cq_backlogged(const struct nvme_cq *cq, const struct nvme_sq *sq)
{
	uint32_t n = 0;
	for (const struct nvme_req *r = cq->backlog; r; r = r->next)
		n += r->sq == sq;
	return n;
}

/* Forget the completions of sq waiting in cq's backlog (sq is stopping and
 * its CQ ring is unreachable): their slots go back to sq. */
static void cq_drop_backlog(struct nvme_cq *cq, struct nvme_sq *sq)
{
	struct nvme_req **pp = &cq->backlog, *last = NULL;
	while (*pp) {
		struct nvme_req *r = *pp;
		if (r->sq != sq) {
			last = r;
			pp = &r->next;
			continue;
		}
		*pp = r->next;
		r->in_use = false;
		r->next = sq->free_list;
		sq->free_list = r;
		sq->free_slots++;
		sq->inflight--;
	}
	cq->backlog_tail = last;
}

/* Requests doing work. A held fused Compare (waiting for its Write, the
 * next SQE) is counted in inflight but touches nothing: a drain does not
 * wait for it, or a paused queue would wait for an SQE it will not fetch. */
static uint32_t sq_busy(const struct nvme_sq *sq)
{
	return sq->inflight - (sq->fused_first ? 1u : 0u);
}

/* A pausing or stopping queue is drained when nothing of it works any
 * more. Completions waiting for room in the CQ do not work: only the host
 * can make room, and nothing may wait on a host that may be gone. A stop
 * (Delete SQ, reset, disconnect, destroy) drops them; a pause keeps them,
 * to be posted when there is room. */
static bool sq_idle(void *arg)
{
	struct nvme_sq *sq = arg;
	return sq_busy(sq) == cq_backlogged(sq->cq, sq);
}

static void sq_check_drained(struct nvme_sq *sq)
{
	if (qlife_stopping(&sq->life))
		cq_drop_backlog(sq->cq, sq);
	qlife_check(&sq->life);
}

/* Translate a 4-byte slot of the shadow doorbell or EventIdx buffer. */
static uint32_t *dbbuf_slot(struct nvme_ctrl *c, uint64_t base, uint64_t off, int prot)
{
	struct iovec iov;
	return emu_dma_map(c->fn, base + off, 4, prot, &iov, 1) == 1 ? iov.iov_base : NULL;
}

/* Translate the shadow doorbell and EventIdx slots of this queue: the SQ
 * tail at the SQ's slot, the CQ head at its CQ's slot (2 * qid + 1: with
 * several SQs on one CQ, the CQ's own, never the SQ's). */
static void sq_map_dbbuf(struct nvme_sq *sq)
{
	struct nvme_ctrl *c = sq->ctrl;
	uint64_t soff = (uint64_t)sq->qid * 8, coff = (uint64_t)sq->cq->qid * 8 + 4;
	sq->shadow_tail = sq->eventidx = sq->cq_shadow_head = sq->cq_eventidx = NULL;
	if (!__atomic_load_n(&c->dbbuf_enabled, __ATOMIC_ACQUIRE))
		return;
	sq->shadow_tail = dbbuf_slot(c, c->dbbuf_gpa, soff, EMU_DMA_READ);
	sq->cq_shadow_head = dbbuf_slot(c, c->dbbuf_gpa, coff, EMU_DMA_READ);
	sq->eventidx = dbbuf_slot(c, c->eventidx_gpa, soff, EMU_DMA_WRITE);
	sq->cq_eventidx = dbbuf_slot(c, c->eventidx_gpa, coff, EMU_DMA_WRITE);
	sq_eventidx_quiet(sq);
	if (!sq->cq->backlog)
		cq_eventidx_quiet(sq);
}

static bool sq_remap_if_needed(struct nvme_sq *sq)
{
	struct nvme_ctrl *c = sq->ctrl;
	uint64_t gen = emu_mem_generation_load(c->mem_gen);
	uint32_t epoch = __atomic_load_n(&c->dbbuf_epoch, __ATOMIC_ACQUIRE);
	if (sq->mem.gen == gen && sq->cq->mem.gen == gen && sq->dbbuf_gen == gen &&
	    sq->dbbuf_epoch_seen == epoch)
		return true;
	if (nvme_qmem_map(c, &sq->mem, EMU_DMA_READ) || nvme_qmem_map(c, &sq->cq->mem, EMU_DMA_WRITE)) {
		/* The rings are outside the client's map. QEMU does this for a
		 * moment whenever the guest's memory layout changes (SeaBIOS
		 * shadowing its ROMs while its NVMe driver has queues): as a
		 * PCIe device would, wait for the memory to come back (the
		 * controller's mem_map kicks the queue) instead of failing. */
		if (!sq->unmapped)
			log_warn("%s: SQ %u rings are not in the client's memory; waiting", c->name, sq->qid);
		sq->unmapped = true;
		/* the shadow doorbell slots may be unmapped too: forget them,
		 * they are translated again with the rings */
		sq->shadow_tail = sq->eventidx = sq->cq_shadow_head = sq->cq_eventidx = NULL;
		sq->dbbuf_gen = 0;
		return false;
	}
	sq->unmapped = false;
	sq_map_dbbuf(sq);
	sq->dbbuf_gen = gen;
	sq->dbbuf_epoch_seen = epoch;
	return true;
}

static uint32_t sq_tail(struct nvme_sq *sq)
{
	if (sq->shadow_tail)
		return __atomic_load_n(sq->shadow_tail, __ATOMIC_ACQUIRE);
	return nvme_sq_tail_doorbell(sq);
}

static int sq_poll(void *arg)
{
	struct nvme_sq *sq = arg;
	struct nvme_cq *cq = sq->cq;
	int work = 0;

	if (!sq_remap_if_needed(sq)) {
		/* nothing is fetched or posted until the rings are back */
		sq_check_drained(sq);
		return 0;
	}
	if (cq->backlog && cq_flush_backlog(cq))
		work++;
	if (qlife_fetching(&sq->life)) {
		uint32_t tail = sq_tail(sq);
		if (tail >= sq->size)
			tail = sq->head;	/* invalid doorbell value: ignored */
		for (int n = 0; n < SQ_POLL_BUDGET && sq->head != tail && sq->free_list; n++) {
			struct nvme_sqe *e = nvme_qmem_entry(&sq->mem, sq->head * (uint32_t)sizeof(*e));
			struct nvme_req *r = sq->free_list;
			sq->free_list = r->next;
			sq->free_slots--;
			sq->inflight++;
			r->in_use = true;
			/* acquire on the tail read above orders this copy after the
			 * host's SQE stores */
			memcpy(&r->cmd, e, sizeof(r->cmd));
			memset(&r->cpl, 0, sizeof(r->cpl));
			sq->head = (sq->head + 1) % sq->size;
			__atomic_store_n(&sq->received, sq->received + 1, __ATOMIC_RELAXED);
			nvme_io_execute(sq, r);
			work++;
		}
		if ((sq->head + sq->size - sq->eventidx_head) % sq->size >= (sq->size + 7) / 8)
			sq_eventidx_quiet(sq);
	}
	nvme_cq_irq(cq, sq_busy(sq) == 0);
	sq_check_drained(sq);
	return work;
}

static bool sq_arm(void *arg)
{
	struct nvme_sq *sq = arg;
	if (sq->ctrl->doorbells_spin)
		return true;	/* EMU_NVME_DOORBELLS=mmap: keep polling */
	nvme_cq_irq(sq->cq, true);
	if (sq->unmapped)
		return false;	/* sleep until the memory comes back (mem_map kicks) */
	if (sq->eventidx) {
		/* ask the host to ring once it moves past what we have seen */
		__atomic_store_n(sq->eventidx, sq->head, __ATOMIC_RELAXED);
		if (sq->cq->backlog && sq->cq_eventidx)
			__atomic_store_n(sq->cq_eventidx, sq->cq->head, __ATOMIC_RELAXED);
		/* orders the EventIdx stores before the shadow re-reads below,
		 * pairing with the host's barrier between its shadow store and
		 * its EventIdx check */
		atomic_thread_fence(memory_order_seq_cst);
	}
	/* work only as sq_poll sees it: a doorbell value past the ring is
	 * ignored there, and with every request slot taken (completions
	 * waiting for CQ room) nothing can be fetched: a completion, or the
	 * host's CQ head doorbell, wakes the reactor then */
	uint32_t tail = sq_tail(sq);
	if (qlife_fetching(&sq->life) && sq->free_list && tail < sq->size && tail != sq->head)
		return true;
	if (sq->cq->backlog) {
		/* the host's CQ head: room for the backlog? */
		uint32_t h = sq->cq_shadow_head ? __atomic_load_n(sq->cq_shadow_head, __ATOMIC_ACQUIRE)
						: nvme_cq_head_doorbell(sq->cq);
		return h < sq->cq->size && h != sq->cq->head;
	}
	return false;
}

/* --- starting, stopping, pausing (messages between main and reactor) --- */

struct start_msg {
	struct nvme_sq *sq;
	int n;
	struct {
		uint32_t nsid;
		struct bdev *bdev;
	} ns[];
};

static void sq_start_on_reactor(void *arg)
{
	struct start_msg *m = arg;
	struct nvme_sq *sq = m->sq;
	sq->poller = poller_register(sq_poll, sq, "nvme_sq");
	if (sq->poller) {
		poller_set_wake_fd(sq->poller, sq->wake_fd, sq_arm);
		/* a doorbell written into the mapped page wakes nobody */
		poller_set_doze(sq->poller, sq->ctrl->doorbells_mmap);
	}
	/* the namespaces attached when the queue was created */
	for (int i = 0; i < m->n; i++) {
		struct nvme_qns *q = &sq->ns[m->ns[i].nsid - 1];
		struct bdev *b = m->ns[i].bdev;
		q->bdev = b;
		q->ch = bdev_channel_get(b);
		q->lbads = (uint32_t)__builtin_ctz(b->block_size);
		q->nsze = b->num_blocks;
	}
	free(m);
}

void nvme_ioq_start(struct nvme_sq *sq)
{
	int n = 0;
	for (struct nvme_namespace *ns = sq->ctrl->ss->ns; ns; ns = ns->next)
		n += ns->ctrl == sq->ctrl && ns->nsid <= NVME_MAX_NS_PER_CTRL;
	struct start_msg *m = calloc(1, sizeof(*m) + (size_t)n * sizeof(m->ns[0]));
	if (!m) {
		log_crit("out of memory starting an NVMe queue");
		return;
	}
	m->sq = sq;
	/* snapshot on the main thread, which owns the namespace list */
	for (struct nvme_namespace *ns = sq->ctrl->ss->ns; ns; ns = ns->next) {
		if (ns->ctrl != sq->ctrl || ns->nsid > NVME_MAX_NS_PER_CTRL)
			continue;
		bdev_open(ns->bdev);
		m->ns[m->n].nsid = ns->nsid;
		m->ns[m->n].bdev = ns->bdev;
		m->n++;
	}
	sq->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	thread_send_msg(reactor_get(sq->reactor), sq_start_on_reactor, m);
}

void nvme_ioq_kick(struct nvme_sq *sq)
{
	if (sq->wake_fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(sq->wake_fd, &one, sizeof(one));
		(void)w;
	}
}

struct sq_msg {
	struct nvme_sq *sq;
	void (*done)(void *arg);
	void *arg;
	bool flag;
	uint32_t nsid;
	struct bdev *bdev;
};

static void call_done_main(void *p)
{
	struct sq_msg *m = p;
	if (m->done)
		m->done(m->arg);
	free(m);
}

/* --- lifecycle (src/core/queue_life.h) --- */

/* Reactor: a pause, resume or stop arrived. */
static void sq_life_changed(void *arg)
{
	struct nvme_sq *sq = arg;
	if (qlife_stopping(&sq->life)) {
		if (sq->fused_first) {
			/* its Write will never be fetched */
			struct nvme_req *first = sq->fused_first;
			sq->fused_first = NULL;
			nvme_req_complete(first, NVME_SC_ABORT_SQ_DELETED);
		}
		cq_drop_backlog(sq->cq, sq);
	} else if (qlife_fetching(&sq->life)) {
		nvme_ioq_kick(sq);	/* resumed: look at the doorbell again */
	}
}

/* Reactor: drained and stopping: let go of the channels and the poller. */
static void sq_life_release(void *arg)
{
	struct nvme_sq *sq = arg;
	for (uint32_t i = 0; sq->ns && i < NVME_MAX_NS_PER_CTRL; i++) {
		if (sq->ns[i].ch) {
			bdev_channel_put(sq->ns[i].ch);
			sq->ns[i].ch = NULL;
		}
	}
	poller_unregister(sq->poller);
	sq->poller = NULL;
}

/* Main: the queue stopped; close the namespaces its start opened. */
static void sq_life_stopped(void *arg)
{
	struct nvme_sq *sq = arg;
	for (struct nvme_namespace *ns = sq->ctrl->ss->ns; ns; ns = ns->next)
		if (ns->nsid <= NVME_MAX_NS_PER_CTRL && sq->ns && sq->ns[ns->nsid - 1].bdev)
			bdev_close(ns->bdev);
}

static const struct qlife_ops sq_life_ops = {
	.idle = sq_idle,
	.changed = sq_life_changed,
	.release = sq_life_release,
	.stopped = sq_life_stopped,
};

void nvme_ioq_stop(struct nvme_sq *sq, void (*done)(void *arg), void *arg)
{
	qlife_stop(&sq->life, done, arg);
}

void nvme_ioq_pause(struct nvme_sq *sq, enum qlife_reason why, void (*done)(void *arg), void *arg)
{
	qlife_pause(&sq->life, why, done, arg);
}

void nvme_ioq_resume(struct nvme_sq *sq, enum qlife_reason why)
{
	qlife_resume(&sq->life, why, NULL, NULL);
}

/* namespace table updates */

static void ns_detached(struct nvme_sq *sq, struct nvme_qns *q);

static void qns_put_later(void *p)
{
	struct sq_msg *m = p;
	struct nvme_qns *q = &m->sq->ns[m->nsid - 1];
	if (q->ch)
		bdev_channel_put(q->ch);
	q->ch = NULL;
	q->bdev = NULL;
	q->detaching = false;
	thread_send_msg(thread_main(), call_done_main, m);
}

static void ns_detached(struct nvme_sq *sq, struct nvme_qns *q)
{
	struct sq_msg *m = calloc(1, sizeof(*m));
	if (!m)
		return;
	m->sq = sq;
	m->nsid = (uint32_t)(q - sq->ns) + 1;
	m->done = q->detached;
	m->arg = q->detached_arg;
	q->detached = NULL;
	/* never release a channel from inside its own completion path */
	thread_send_msg(reactor_get(sq->reactor), qns_put_later, m);
}

void nvme_qns_io_done(struct nvme_sq *sq, struct nvme_qns *q)
{
	if (--q->inflight == 0 && q->detaching && q->detached)
		ns_detached(sq, q);
}

static void sq_set_ns_on_reactor(void *p)
{
	struct sq_msg *m = p;
	struct nvme_sq *sq = m->sq;
	struct nvme_qns *q = &sq->ns[m->nsid - 1];
	if (m->bdev) {
		q->bdev = m->bdev;
		q->ch = bdev_channel_get(m->bdev);
		q->lbads = (uint32_t)__builtin_ctz(m->bdev->block_size);
		q->nsze = m->bdev->num_blocks;
		thread_send_msg(thread_main(), call_done_main, m);
		return;
	}
	q->detaching = true;
	q->detached = m->done;
	q->detached_arg = m->arg;
	free(m);
	if (q->inflight == 0)
		ns_detached(sq, q);
}

struct setns_wrap {
	struct bdev *bdev;
	bool attach;
	void (*done)(void *arg);
	void *arg;
};

static void setns_done_main(void *p)
{
	struct setns_wrap *w = p;
	if (!w->attach)
		bdev_close(w->bdev);
	w->done(w->arg);
	free(w);
}

void nvme_ioq_set_ns(struct nvme_sq *sq, uint32_t nsid, struct bdev *bdev, void (*done)(void *arg),
		     void *arg)
{
	struct sq_msg *m = calloc(1, sizeof(*m));
	struct setns_wrap *w = calloc(1, sizeof(*w));
	struct nvme_namespace *ns = NULL;
	if (!m || !w || nsid == 0 || nsid > NVME_MAX_NS_PER_CTRL) {
		free(m);
		free(w);
		done(arg);
		return;
	}
	for (struct nvme_namespace *n = sq->ctrl->ss->ns; n; n = n->next)
		if (n->nsid == nsid)
			ns = n;
	w->bdev = bdev ? bdev : (ns ? ns->bdev : NULL);
	w->attach = bdev != NULL;
	w->done = done;
	w->arg = arg;
	if (bdev)
		bdev_open(bdev);
	m->sq = sq;
	m->nsid = nsid;
	m->bdev = bdev;
	m->done = setns_done_main;
	m->arg = w;
	thread_send_msg(reactor_get(sq->reactor), sq_set_ns_on_reactor, m);
}

/* Complete a request (reactor of its SQ, or main for the admin queue). */
void nvme_req_complete(struct nvme_req *r, uint16_t status)
{
	struct nvme_sq *sq = r->sq;
	struct nvme_cq *cq = sq->cq;
	r->cpl.status = (uint16_t)(status << 1);
	if (sq->qid == 0) {
		nvme_admin_complete(sq->ctrl, r);
		return;
	}
	if (!cq->backlog && nvme_cq_post(cq, r)) {
		r->in_use = false;
		r->next = sq->free_list;
		sq->free_list = r;
		sq->free_slots++;
		sq->inflight--;
	} else {
		/* CQ full: keep the request (and its slot) until there is room */
		r->next = NULL;
		if (cq->backlog_tail)
			cq->backlog_tail->next = r;
		else
			cq->backlog = r;
		cq->backlog_tail = r;
	}
	sq_check_drained(sq);
}
