/* One lifecycle for every queue served on a reactor (an NVMe I/O SQ, a
 * virtqueue): running, pausing, paused, stopping, stopped.
 *
 * A queue pauses for reasons (a suspend, a memory map change, no media, a
 * shutdown, a fatal error). Each reason is counted on its own: the queue
 * fetches again only when no pause of any reason remains, so lifting one
 * (a resume) never lifts another (a memory change under way), and two
 * pauses of one reason need two resumes. A stop is for good. Pauses and
 * stops wait for the drain, that is until nothing of the queue does work
 * (the queue says what that means: ops->idle); any number of them may be
 * under way at once, each with its own waiter, answered on the main thread.
 *
 * Requests come from the main thread and travel as messages to the queue's
 * reactor, which owns the state; answers come back as messages. Once a stop
 * is requested main sends nothing more to the reactor for the queue: a
 * later pause joins the stop's waiters (a stopped queue is as paused as can
 * be), a later resume is moot. After the stop's waiters ran, the queue may
 * be freed. */
#ifndef OSNAP_QUEUE_LIFE_H
#define OSNAP_QUEUE_LIFE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct osnap_thread;

enum qlife_reason {
	QLIFE_SUSPEND,		/* suspended by RPC */
	QLIFE_MEM,		/* the client's memory map is changing */
	QLIFE_MEDIA,		/* no media (a virtio-blk bdev detached) */
	QLIFE_SHUTDOWN,		/* NVMe shutdown: until the controller resets */
	QLIFE_FATAL,		/* the controller failed: until it resets */
	QLIFE_NREASONS
};
#define QLIFE_BIT(r) (1u << (r))

enum qlife_state {
	QLIFE_RUNNING,		/* fetching */
	QLIFE_PAUSING,		/* paused, work still in flight */
	QLIFE_PAUSED,		/* paused and drained */
	QLIFE_STOPPING,		/* stop requested, work still in flight */
	QLIFE_STOPPED,		/* released: nothing of it runs */
};

struct qlife_ops {
	/* Reactor: nothing of the queue does work any more (what pauses and
	 * stops wait for). */
	bool (*idle)(void *q);
	/* Reactor: a pause, resume or stop arrived; the queue looks again (a
	 * resumed queue is kicked, a stopping one drops what it would wait on
	 * a departed host for). May be NULL. */
	void (*changed)(void *q);
	/* Reactor: the stop drained; let go of what the queue holds on its
	 * reactor (poller, channels). Never called from inside a completion:
	 * it runs from a message of its own. */
	void (*release)(void *q);
	/* Main: the stop is complete, before its waiters run. May be NULL. */
	void (*stopped)(void *q);
};

struct qlife_waiter;

struct qlife {
	const struct qlife_ops *ops;
	void *q;
	struct osnap_thread *reactor;
	/* main thread */
	bool stop_requested;
	struct qlife_waiter *stop_waiters;
	/* the reactor's */
	uint16_t count[QLIFE_NREASONS];	/* pauses in force, per reason */
	bool stopping;
	bool quiet;			/* stopping or paused: not fetching */
	bool release_sent;
	struct qlife_waiter *drain_waiters;	/* pauses waiting for the drain */
	/* for display: written by the reactor, read by anyone */
	_Atomic int state;
};

/* Main, before the queue's start message: the queue starts with the pauses
 * counted in paused[QLIFE_NREASONS] (NULL: running), those its controller
 * has in force, so that their resumes find them. The reactor owns the
 * reactor fields from its start message on. */
void qlife_init(struct qlife *l, const struct qlife_ops *ops, void *q, struct osnap_thread *reactor,
		const uint16_t *paused);

/* Main: pause for reason r; done(arg) on main once drained, or once r was
 * lifted on this queue before the drain, or once the queue stopped. done
 * may be NULL. */
void qlife_pause(struct qlife *l, enum qlife_reason r, void (*done)(void *arg), void *arg);
/* Main: lift one pause of reason r; done(arg) (may be NULL) once the
 * reactor took it (at once if the queue is stopping). */
void qlife_resume(struct qlife *l, enum qlife_reason r, void (*done)(void *arg), void *arg);
/* Main: stop for good; done(arg) once released (every stop request gets
 * its own answer). */
void qlife_stop(struct qlife *l, void (*done)(void *arg), void *arg);
/* Main: a stop was requested. */
bool qlife_stop_requested(const struct qlife *l);

/* Reactor: the queue may fetch new work. */
bool qlife_fetching(const struct qlife *l);
/* Reactor: the queue is stopping. */
bool qlife_stopping(const struct qlife *l);
/* Reactor: call after anything that may have made the queue idle (a
 * completion, a poll): answers the waiters of a finished drain. */
void qlife_check(struct qlife *l);

/* Any thread (a snapshot): the state, and its name for listings. */
enum qlife_state qlife_state(const struct qlife *l);
const char *qlife_state_name(enum qlife_state s);

#endif
