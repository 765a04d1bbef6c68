/* Blocking librados/librbd calls (connect, open, resize, close, shutdown)
 * run on a short-lived thread of their own, never on the main thread or a
 * reactor; the result comes back to the main thread as a message. One
 * thread per management operation, none per I/O. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "bdev/modules/rbd/rbd.h"
#include "core/thread.h"

struct offload_job {
	void (*work)(void *arg);
	void (*done)(void *arg);
	void *arg;
	struct osnap_thread *main;
};

/* Jobs started and not done yet (main thread). */
static int g_pending;

static void offload_done(void *p)
{
	struct offload_job *j = p;

	g_pending--;
	j->done(j->arg);
	free(j);
}

static void *offload_main(void *p)
{
	struct offload_job *j = p;

	j->work(j->arg);
	/* The message ring orders everything work() wrote before done() reads
	 * it on the main thread. */
	thread_send_msg(j->main, offload_done, j);
	return NULL;
}

int rbd_offload(void (*work)(void *arg), void (*done)(void *arg), void *arg)
{
	struct offload_job *j = malloc(sizeof(*j));
	pthread_attr_t attr;
	pthread_t tid;
	int rc;

	if (!j)
		return -ENOMEM;
	j->work = work;
	j->done = done;
	j->arg = arg;
	j->main = thread_main();
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&tid, &attr, offload_main, j);
	pthread_attr_destroy(&attr);
	if (rc) {
		free(j);
		return -rc;
	}
	g_pending++;
	return 0;
}

/* Run the main thread's messages until every job is done or deadline_ms
 * passed. Returns the jobs still running. */
int rbd_offload_drain(unsigned deadline_ms)
{
	uint64_t end = now_ns() + (uint64_t)deadline_ms * 1000000u;
	const struct timespec tick = { 0, 1000000 };	/* 1 ms */

	while (g_pending && now_ns() < end) {
		if (thread_process_msgs(64) == 0)
			nanosleep(&tick, NULL);
	}
	return g_pending;
}
