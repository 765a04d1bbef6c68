/* Main-thread epoll loop. See event_loop.h. */
#include "event_loop.h"
#include "thread.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

struct loop_fd {
	int fd;
	loop_fd_cb cb;
	void *arg;
	bool dead;
	struct loop_fd *next_dead;
};

struct loop_timer {
	struct loop_fd *lf;
	int tfd;
	loop_timer_cb cb;
	void *arg;
};

static int g_epfd = -1;
static bool g_stop;
static struct loop_fd *g_dead;	/* freed after the dispatch round */
static struct loop_fd *g_msg_lf;
static int g_depth;	/* nesting of loop_run_once: entries are freed at depth 0 */

static void msg_ready(void *arg, uint32_t events)
{
	(void)arg;
	(void)events;
	thread_process_msgs(256);
}

int loop_init(void)
{
	g_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (g_epfd < 0)
		return -errno;
	g_stop = false;
	if (thread_main_msg_fd() >= 0) {
		g_msg_lf = loop_add_fd(thread_main_msg_fd(), EPOLLIN, msg_ready, NULL);
		if (!g_msg_lf)
			return -errno;
	}
	return 0;
}

static void free_dead(void)
{
	while (g_dead) {
		struct loop_fd *n = g_dead->next_dead;
		free(g_dead);
		g_dead = n;
	}
}

void loop_fini(void)
{
	if (g_msg_lf)
		loop_del_fd(g_msg_lf);
	g_msg_lf = NULL;
	free_dead();
	if (g_epfd >= 0)
		close(g_epfd);
	g_epfd = -1;
}

struct loop_fd *loop_add_fd(int fd, uint32_t events, loop_fd_cb cb, void *arg)
{
	struct loop_fd *lf = calloc(1, sizeof(*lf));
	if (!lf)
		return NULL;
	lf->fd = fd;
	lf->cb = cb;
	lf->arg = arg;
	struct epoll_event ev = { .events = events, .data.ptr = lf };
	if (epoll_ctl(g_epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		int e = errno;
		free(lf);
		errno = e;
		return NULL;
	}
	return lf;
}

int loop_mod_fd(struct loop_fd *lf, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = lf };
	return epoll_ctl(g_epfd, EPOLL_CTL_MOD, lf->fd, &ev) < 0 ? -errno : 0;
}

void loop_del_fd(struct loop_fd *lf)
{
	if (!lf || lf->dead)
		return;
	epoll_ctl(g_epfd, EPOLL_CTL_DEL, lf->fd, NULL);
	lf->dead = true;
	lf->next_dead = g_dead;
	g_dead = lf;
}

static void timer_fired(void *arg, uint32_t events)
{
	struct loop_timer *t = arg;
	(void)events;
	loop_timer_cb cb = t->cb;
	void *cbarg = t->arg;
	loop_timer_cancel(t);
	cb(cbarg);
}

struct loop_timer *loop_timer_add(uint64_t ms, loop_timer_cb cb, void *arg)
{
	struct loop_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return NULL;
	t->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (t->tfd < 0) {
		free(t);
		return NULL;
	}
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = (time_t)(ms / 1000);
	its.it_value.tv_nsec = (long)(ms % 1000) * 1000000L;
	if (!ms)
		its.it_value.tv_nsec = 1;
	timerfd_settime(t->tfd, 0, &its, NULL);
	t->cb = cb;
	t->arg = arg;
	t->lf = loop_add_fd(t->tfd, EPOLLIN, timer_fired, t);
	if (!t->lf) {
		close(t->tfd);
		free(t);
		return NULL;
	}
	return t;
}

void loop_timer_cancel(struct loop_timer *t)
{
	if (!t)
		return;
	loop_del_fd(t->lf);
	close(t->tfd);
	free(t);
}

int loop_run_once(int timeout_ms)
{
	struct epoll_event evs[64];
	int n = epoll_wait(g_epfd, evs, 64, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	g_depth++;
	for (int i = 0; i < n; i++) {
		struct loop_fd *lf = evs[i].data.ptr;
		if (!lf->dead)
			lf->cb(lf->arg, evs[i].events);
	}
	/* an outer round may still hold pointers to entries deleted here */
	if (--g_depth == 0)
		free_dead();
	return n;
}

void loop_run(void)
{
	while (!g_stop)
		loop_run_once(-1);
}

void loop_stop(void)
{
	g_stop = true;
}

bool loop_stopping(void)
{
	return g_stop;
}
