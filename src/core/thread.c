/* Threads, message rings, reactors and pollers. See thread.h. */
#include "thread.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MSG_RING_SIZE 4096u	/* power of two */
#define IDLE_CHECK_EVERY 64u	/* loop iterations between clock reads while idle */

/* Bounded MPSC ring (Vyukov's sequence-numbered cells). Producers claim a
 * slot with a CAS on tail; the single consumer reads in order. */
struct msg_cell {
	atomic_size_t seq;
	msg_fn fn;
	void *arg;
};

struct poller {
	poller_fn fn;
	poller_arm_fn arm;
	void *arg;
	int wake_fd;
	bool dead;
	bool dozes;		/* its work cannot wake the reactor: sleep on a timer */
	char name[32];
	struct poller *next;
};

struct osnap_thread {
	struct msg_cell ring[MSG_RING_SIZE];
	_Alignas(64) atomic_size_t tail;	/* producers */
	_Alignas(64) size_t head;		/* consumer only */
	/* 1 while the owner is (about to be) blocked and needs an eventfd write. */
	_Alignas(64) atomic_int sleeping;
	int msg_efd;
	int epfd;			/* reactors: sleep set */
	int index;			/* reactor index, -1 for main */
	int core;
	pthread_t tid;
	atomic_bool stop;
	bool inline_mode;		/* no thread: run by reactor_run_inline() */
	struct poller *pollers;
	bool pollers_dirty;
	uint32_t doze_us;		/* length of the next doze (0: none yet) */
};

static struct osnap_thread *g_main;
static struct osnap_thread *g_reactors[OSNAP_MAX_REACTORS];
static int g_nreactors;
static uint32_t g_idle_us = 1000;
/* Dozes (see poller_set_doze) start short and double while they find
 * nothing, up to g_doze_max_us: an idle reactor wakes at most that often,
 * and the first request after a pause waits at most that long. */
#define DOZE_MIN_US 16u
static _Atomic uint32_t g_doze_max_us = 4000;	/* set once at start-up */
static _Thread_local struct osnap_thread *t_self;

uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct osnap_thread *thread_alloc(int index)
{
	struct osnap_thread *t = aligned_alloc(64, (sizeof(*t) + 63) & ~(size_t)63);
	if (!t)
		return NULL;
	memset(t, 0, sizeof(*t));
	for (size_t i = 0; i < MSG_RING_SIZE; i++)
		atomic_init(&t->ring[i].seq, i);
	atomic_init(&t->tail, 0);
	t->index = index;
	t->core = -1;
	t->epfd = -1;
	t->msg_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (t->msg_efd < 0) {
		free(t);
		return NULL;
	}
	return t;
}

static void thread_free(struct osnap_thread *t)
{
	struct poller *p, *n;
	if (!t)
		return;
	for (p = t->pollers; p; p = n) {
		n = p->next;
		free(p);
	}
	if (t->epfd >= 0)
		close(t->epfd);
	close(t->msg_efd);
	free(t);
}

int thread_lib_init(void)
{
	if (g_main)
		return 0;
	g_main = thread_alloc(-1);
	if (!g_main)
		return -errno;
	/* The main thread always blocks in epoll: senders always signal it. */
	atomic_store(&g_main->sleeping, 1);
	t_self = g_main;
	return 0;
}

void thread_lib_fini(void)
{
	reactors_stop();
	thread_free(g_main);
	g_main = NULL;
	t_self = NULL;
}

struct osnap_thread *thread_main(void)
{
	return g_main;
}

struct osnap_thread *thread_self(void)
{
	return t_self;
}

bool thread_is_main(void)
{
	return t_self && t_self == g_main;
}

int thread_main_msg_fd(void)
{
	return g_main ? g_main->msg_efd : -1;
}

static bool ring_push(struct osnap_thread *t, msg_fn fn, void *arg)
{
	size_t pos = atomic_load_explicit(&t->tail, memory_order_relaxed);
	for (;;) {
		struct msg_cell *c = &t->ring[pos & (MSG_RING_SIZE - 1)];
		/* acquire: see the consumer's release of this cell before reuse */
		size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
		intptr_t dif = (intptr_t)seq - (intptr_t)pos;
		if (dif == 0) {
			if (atomic_compare_exchange_weak_explicit(&t->tail, &pos, pos + 1,
								  memory_order_relaxed,
								  memory_order_relaxed)) {
				c->fn = fn;
				c->arg = arg;
				/* release: publish fn/arg before the consumer sees seq */
				atomic_store_explicit(&c->seq, pos + 1, memory_order_release);
				return true;
			}
		} else if (dif < 0) {
			return false;	/* full */
		} else {
			pos = atomic_load_explicit(&t->tail, memory_order_relaxed);
		}
	}
}

static bool ring_pop(struct osnap_thread *t, msg_fn *fn, void **arg)
{
	struct msg_cell *c = &t->ring[t->head & (MSG_RING_SIZE - 1)];
	/* acquire: pairs with the producer's release, so fn/arg are visible */
	size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
	if ((intptr_t)seq - (intptr_t)(t->head + 1) < 0)
		return false;
	*fn = c->fn;
	*arg = c->arg;
	/* release: our reads of fn/arg happen before a producer reuses the cell */
	atomic_store_explicit(&c->seq, t->head + MSG_RING_SIZE, memory_order_release);
	t->head++;
	return true;
}

static bool ring_empty(struct osnap_thread *t)
{
	struct msg_cell *c = &t->ring[t->head & (MSG_RING_SIZE - 1)];
	size_t seq = atomic_load_explicit(&c->seq, memory_order_acquire);
	return (intptr_t)seq - (intptr_t)(t->head + 1) < 0;
}

void thread_send_msg(struct osnap_thread *t, msg_fn fn, void *arg)
{
	while (!ring_push(t, fn, arg)) {
		/* The target's ring is full. An osnap thread runs its own queued
		 * messages meanwhile: the target may be waiting on our ring (or be
		 * us), and nobody else would ever empty it. */
		msg_fn mfn;
		void *marg;
		if (t_self && ring_pop(t_self, &mfn, &marg)) {
			mfn(marg);
		} else if (t->inline_mode || (t_self && t_self->inline_mode)) {
			/* one thread runs both sides: nobody else will ever
			 * empty the ring, waiting would hang (a test must run
			 * its inline reactors more often) */
			log_crit("message ring of an inline reactor's thread is full");
			abort();
		} else {
			sched_yield();
		}
	}
	/* Dekker with the reactor's sleep path: the push above must be visible
	 * before we read `sleeping`, and the reactor sets `sleeping` before it
	 * re-checks the ring, so one of the two sides always sees the other. */
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&t->sleeping, memory_order_relaxed)) {
		uint64_t one = 1;
		ssize_t w = write(t->msg_efd, &one, sizeof(one));
		(void)w;
	}
}

int thread_process_msgs(int max)
{
	struct osnap_thread *t = t_self;
	msg_fn fn;
	void *arg;
	int n = 0;

	if (!t)
		return 0;
	if (t == g_main) {
		uint64_t v;
		ssize_t r = read(t->msg_efd, &v, sizeof(v));
		(void)r;
	}
	while (n < max && ring_pop(t, &fn, &arg)) {
		fn(arg);
		n++;
	}
	if (t == g_main && n == max && !ring_empty(t)) {
		/* more left: make sure the loop comes back */
		uint64_t one = 1;
		ssize_t w = write(t->msg_efd, &one, sizeof(one));
		(void)w;
	}
	return n;
}

/* --- pollers --- */

struct poller *poller_register(poller_fn fn, void *arg, const char *name)
{
	struct osnap_thread *t = t_self;
	struct poller *p;

	if (!t || t->index < 0) {
		errno = EINVAL;
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->fn = fn;
	p->arg = arg;
	p->wake_fd = -1;
	snprintf(p->name, sizeof(p->name), "%s", name ? name : "poller");
	/* append to keep registration order */
	struct poller **pp = &t->pollers;
	while (*pp)
		pp = &(*pp)->next;
	*pp = p;
	return p;
}

int poller_set_wake_fd(struct poller *p, int fd, poller_arm_fn arm)
{
	struct osnap_thread *t = t_self;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = p };

	if (!t || t->index < 0)
		return -EINVAL;
	if (p->wake_fd >= 0)
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, p->wake_fd, NULL);
	p->arm = arm;
	p->wake_fd = fd;
	if (fd >= 0 && epoll_ctl(t->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		return -errno;
	return 0;
}

void poller_unregister(struct poller *p)
{
	struct osnap_thread *t = t_self;
	if (!p)
		return;
	if (t && p->wake_fd >= 0)
		epoll_ctl(t->epfd, EPOLL_CTL_DEL, p->wake_fd, NULL);
	p->wake_fd = -1;
	p->dead = true;	/* freed by the reactor loop, outside any poller call */
	if (t)
		t->pollers_dirty = true;
}

static void reap_dead_pollers(struct osnap_thread *t)
{
	struct poller **pp = &t->pollers;
	while (*pp) {
		struct poller *p = *pp;
		if (p->dead) {
			*pp = p->next;
			free(p);
		} else {
			pp = &p->next;
		}
	}
	t->pollers_dirty = false;
}

/* --- reactors --- */

static int run_pollers(struct osnap_thread *t)
{
	int work = 0;
	for (struct poller *p = t->pollers; p; p = p->next)
		if (!p->dead)
			work += p->fn(p->arg);
	if (t->pollers_dirty)
		reap_dead_pollers(t);
	return work;
}

/* Sleep until a wake fd or a message wakes the reactor; with a dozing
 * poller registered, at most until a timer does. Returns true for a doze. */
static bool reactor_sleep(struct osnap_thread *t)
{
	struct epoll_event evs[16];
	bool doze = false;

	atomic_store_explicit(&t->sleeping, 1, memory_order_relaxed);
	/* Orders the store of `sleeping` before the ring check below; pairs with
	 * the fence in thread_send_msg (see there). */
	atomic_thread_fence(memory_order_seq_cst);
	if (!ring_empty(t) || atomic_load(&t->stop))
		goto awake;
	for (struct poller *p = t->pollers; p; p = p->next) {
		if (p->dead)
			continue;
		if (p->arm && p->arm(p->arg))
			goto awake;
		doze |= p->dozes;
	}
	if (doze) {
		t->doze_us = t->doze_us ? t->doze_us * 2 : DOZE_MIN_US;
		uint32_t max = atomic_load_explicit(&g_doze_max_us, memory_order_relaxed);
		if (t->doze_us > max)
			t->doze_us = max;
		struct timespec ts = { 0, (long)t->doze_us * 1000 };
		while (epoll_pwait2(t->epfd, evs, 16, &ts, NULL) < 0 && errno == EINTR)
			;
	} else {
		while (epoll_wait(t->epfd, evs, 16, -1) < 0 && errno == EINTR)
			;
	}
awake:
	atomic_store_explicit(&t->sleeping, 0, memory_order_relaxed);
	uint64_t v;
	ssize_t r = read(t->msg_efd, &v, sizeof(v));
	(void)r;
	return doze;
}

/* Create reactor t's sleep set: its message eventfd, then pollers' wake fds. */
static int reactor_epoll_init(struct osnap_thread *t)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.ptr = NULL };
	t->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (t->epfd < 0 || epoll_ctl(t->epfd, EPOLL_CTL_ADD, t->msg_efd, &ev) < 0)
		return -errno;
	return 0;
}

static void *reactor_main(void *arg)
{
	struct osnap_thread *t = arg;
	uint64_t last_work = now_ns();
	uint32_t idle_iters = 0;
	bool dozing = false;	/* woke from a doze: nothing seen since */
	msg_fn fn;
	void *marg;

	t_self = t;
	while (!atomic_load_explicit(&t->stop, memory_order_relaxed)) {
		int work = 0;
		for (int i = 0; i < 64 && ring_pop(t, &fn, &marg); i++) {
			fn(marg);
			work++;
		}
		work += run_pollers(t);
		if (work) {
			idle_iters = 0;
			dozing = false;
			t->doze_us = 0;
			continue;
		}
		if (dozing) {
			/* one pass over every poller found nothing: doze on
			 * (longer) without spinning for g_idle_us first */
			dozing = reactor_sleep(t);
			continue;
		}
		if (++idle_iters % IDLE_CHECK_EVERY)
			continue;
		uint64_t now = now_ns();
		if (idle_iters == IDLE_CHECK_EVERY)
			last_work = now;
		else if (now - last_work >= (uint64_t)g_idle_us * 1000u) {
			dozing = reactor_sleep(t);
			idle_iters = 0;
		}
	}
	/* drain messages so senders waiting on completions are not lost */
	while (ring_pop(t, &fn, &marg))
		fn(marg);
	t_self = NULL;
	return NULL;
}

void reactors_set_idle_us(uint32_t us)
{
	g_idle_us = us;
}

void reactors_set_doze_max_us(uint32_t us)
{
	atomic_store_explicit(&g_doze_max_us, us < DOZE_MIN_US ? DOZE_MIN_US : us, memory_order_relaxed);
}

void poller_set_doze(struct poller *p, bool on)
{
	p->dozes = on;
}

int reactors_start(uint64_t cpumask)
{
	long ncpu = sysconf(_SC_NPROCESSORS_CONF);
	int rc;

	if (g_nreactors)
		return -EBUSY;
	if (!cpumask)
		return -EINVAL;
	for (int core = 0; core < 64; core++) {
		if (!(cpumask & (1ull << core)))
			continue;
		if (core >= ncpu) {
			log_err("core %d is not present (this machine has %ld)", core, ncpu);
			rc = -EINVAL;
			goto fail;
		}
		struct osnap_thread *t = thread_alloc(g_nreactors);
		if (!t) {
			rc = -ENOMEM;
			goto fail;
		}
		t->core = core;
		rc = reactor_epoll_init(t);
		if (rc) {
			thread_free(t);
			goto fail;
		}
		g_reactors[g_nreactors++] = t;
		rc = pthread_create(&t->tid, NULL, reactor_main, t);
		if (rc) {
			g_nreactors--;
			thread_free(t);
			rc = -rc;
			goto fail;
		}
		cpu_set_t set;
		CPU_ZERO(&set);
		CPU_SET(core, &set);
		if (pthread_setaffinity_np(t->tid, sizeof(set), &set))
			log_warn("reactor %d: cannot pin to core %d", t->index, core);
		char name[16];
		snprintf(name, sizeof(name), "reactor_%d", core);
		pthread_setname_np(t->tid, name);
		log_info("reactor %d started on core %d", t->index, core);
	}
	return 0;
fail:
	reactors_stop();
	return rc;
}

static void wake(struct osnap_thread *t)
{
	uint64_t one = 1;
	ssize_t w = write(t->msg_efd, &one, sizeof(one));
	(void)w;
}

/* What an inline reactor's loop does as it stops: run what is queued. */
static void inline_drain(struct osnap_thread *t)
{
	struct osnap_thread *caller = t_self;
	msg_fn fn;
	void *marg;
	t_self = t;
	while (ring_pop(t, &fn, &marg))
		fn(marg);
	t_self = caller;
}

void reactors_stop(void)
{
	for (int i = 0; i < g_nreactors; i++) {
		atomic_store(&g_reactors[i]->stop, true);
		if (!g_reactors[i]->inline_mode)
			wake(g_reactors[i]);
	}
	for (int i = 0; i < g_nreactors; i++) {
		if (g_reactors[i]->inline_mode)
			inline_drain(g_reactors[i]);
		else
			pthread_join(g_reactors[i]->tid, NULL);
		thread_free(g_reactors[i]);
		g_reactors[i] = NULL;
	}
	g_nreactors = 0;
}

/* --- inline reactors (tests and fuzzing; see thread.h) --- */

int reactors_start_inline(int n)
{
	if (g_nreactors)
		return -EBUSY;
	if (n < 1 || n > OSNAP_MAX_REACTORS)
		return -EINVAL;
	for (int i = 0; i < n; i++) {
		struct osnap_thread *t = thread_alloc(i);
		if (!t) {
			reactors_stop();
			return -ENOMEM;
		}
		t->inline_mode = true;
		/* the sleep set is never waited on, but pollers register their
		 * wake fds in it as on any reactor */
		int rc = reactor_epoll_init(t);
		if (rc) {
			thread_free(t);
			reactors_stop();
			return rc;
		}
		g_reactors[g_nreactors++] = t;
	}
	return 0;
}

int reactor_run_inline(int idx)
{
	struct osnap_thread *t = reactor_get(idx);
	struct osnap_thread *caller = t_self;
	msg_fn fn;
	void *marg;
	int work = 0;

	if (!t || !t->inline_mode)
		return -EINVAL;
	/* the reactor's code asks which thread it runs on */
	t_self = t;
	for (int i = 0; i < 64 && ring_pop(t, &fn, &marg); i++) {
		fn(marg);
		work++;
	}
	work += run_pollers(t);
	t_self = caller;
	return work;
}

int reactor_arm_inline(int idx)
{
	struct osnap_thread *t = reactor_get(idx);
	struct osnap_thread *caller = t_self;
	int pending = 0;

	if (!t || !t->inline_mode)
		return -EINVAL;
	t_self = t;
	/* as reactor_sleep() before epoll_wait(); no thread sleeps, so
	 * `sleeping` stays 0 (senders never write the message eventfd) */
	if (!ring_empty(t))
		pending = 1;
	for (struct poller *p = t->pollers; !pending && p; p = p->next)
		if (!p->dead && p->arm && p->arm(p->arg))
			pending = 1;
	t_self = caller;
	return pending;
}

int reactor_count(void)
{
	return g_nreactors;
}

struct osnap_thread *reactor_get(int idx)
{
	if (idx < 0 || idx >= g_nreactors)
		return NULL;
	return g_reactors[idx];
}

int reactor_self_index(void)
{
	return t_self ? t_self->index : -1;
}

int thread_poller_count(void)
{
	int n = 0;
	if (t_self)
		for (struct poller *p = t_self->pollers; p; p = p->next)
			n += !p->dead;
	return n;
}

int reactor_core(int idx)
{
	return (idx >= 0 && idx < g_nreactors) ? g_reactors[idx]->core : -1;
}
