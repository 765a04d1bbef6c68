/* osnap threads: the main thread and the reactors, with lock-free message
 * rings between them, and pollers that run on a reactor.
 *
 * Every osnap thread (main or reactor) owns an MPSC message ring and an
 * eventfd. Any thread may send a message to any osnap thread; the message
 * function runs on the target thread. A reactor busy-polls its pollers while
 * there is work and sleeps in epoll_wait() after an idle stretch; it is woken
 * only by eventfds (its message eventfd, or a poller's wake fd), never by a
 * timer, so an idle service uses no CPU. */
#ifndef OSNAP_THREAD_H
#define OSNAP_THREAD_H

#include <stdbool.h>
#include <stdint.h>

#define OSNAP_MAX_REACTORS 64

struct osnap_thread;
struct poller;

typedef void (*msg_fn)(void *arg);

/* Initialise the library and make the calling thread the main thread.
 * Returns 0 or a negative errno. */
int thread_lib_init(void);
void thread_lib_fini(void);

struct osnap_thread *thread_main(void);
/* The osnap thread running the caller, or NULL for a foreign thread. */
struct osnap_thread *thread_self(void);
bool thread_is_main(void);

/* Queue fn(arg) to run on thread t. Callable from any thread. Never fails:
 * when the ring is full the caller yields until there is room. */
void thread_send_msg(struct osnap_thread *t, msg_fn fn, void *arg);

/* Main thread only: eventfd that becomes readable when messages are queued
 * for the main thread (the main event loop watches it). */
int thread_main_msg_fd(void);
/* Run up to max queued messages of the calling thread; returns how many ran. */
int thread_process_msgs(int max);

/* Start one reactor per set bit of cpumask (bit n = core n), each pinned to
 * its core (a core that does not exist is an error). Returns 0 or -errno. */
int reactors_start(uint64_t cpumask);
/* Ask every reactor to stop after its current iteration and join them. */
void reactors_stop(void);
int reactor_count(void);
/* Reactor by index 0..reactor_count()-1. */
struct osnap_thread *reactor_get(int idx);
/* Index of the calling reactor, or -1 when not called on a reactor. */
int reactor_self_index(void);
int reactor_core(int idx);
/* Pollers registered on the calling thread (not yet unregistered). */
int thread_poller_count(void);

/* Idle stretch before a reactor goes to sleep, in microseconds. */
void reactors_set_idle_us(uint32_t us);
/* The longest doze of an idle reactor with a dozing poller (4000 us). */
void reactors_set_doze_max_us(uint32_t us);

/* --- inline reactors: deterministic tests and fuzzing only ---
 *
 * An inline reactor is a reactor without a thread of its own: messages
 * sent to it wait in its ring and its pollers are registered as usual, but
 * nothing runs until the caller (the main thread of a test or fuzz target)
 * runs an iteration with reactor_run_inline(). A whole service then runs
 * on one thread in an order fixed by its inputs, so a crash reproduces
 * from the input alone. The service itself never creates one. */

/* Create n reactors (indices 0..n-1, core -1) that have no thread.
 * reactors_stop() runs what is left in their rings and frees them.
 * Returns 0 or -errno (-EBUSY when reactors exist already). */
int reactors_start_inline(int n);
/* One iteration of inline reactor idx on the calling thread, as the
 * reactor's own loop runs it: up to 64 queued messages, then every poller
 * once. The caller stands in for the reactor meanwhile (thread_self() and
 * reactor_self_index() are the reactor's). Returns the work done (0: none),
 * -EINVAL when idx is not an inline reactor. */
int reactor_run_inline(int idx);
/* What inline reactor idx does before it sleeps, after an iteration that
 * found no work: the pollers' arm hooks (they re-enable notifications).
 * Returns 1 when one of them says work is pending (the reactor would not
 * sleep but poll again), 0 when it would sleep, -EINVAL as above. A reactor
 * whose arm hooks keep saying so while its iterations find nothing never
 * sleeps: it burns its core. */
int reactor_arm_inline(int idx);

/* --- pollers: run on the reactor that registered them --- */

/* Returns > 0 when it did work, 0 when idle. */
typedef int (*poller_fn)(void *arg);
/* Called just before the reactor sleeps, after it has published that it is
 * going to sleep. Re-enable notifications here and return true if work
 * arrived meanwhile (the reactor then keeps polling). */
typedef bool (*poller_arm_fn)(void *arg);

/* Register a poller on the calling reactor. Returns NULL on ENOMEM or when
 * not called on a reactor. */
struct poller *poller_register(poller_fn fn, void *arg, const char *name);
/* Make the reactor wake when fd becomes readable while it sleeps (edge
 * triggered: every eventfd write wakes it; the poller need not drain it).
 * arm may be NULL. Returns 0 or -errno. */
int poller_set_wake_fd(struct poller *p, int fd, poller_arm_fn arm);
/* Unregister on the owning reactor (may be called from within the poller). */
void poller_unregister(struct poller *p);
/* The poller's work can arrive without waking the reactor (a doorbell page
 * the client writes directly): while it is registered, an idle reactor
 * does not sleep until woken but dozes, waking on a timer (16 us doubling
 * up to reactors_set_doze_max_us) as well as on its wake fds. Owning
 * reactor only. */
void poller_set_doze(struct poller *p, bool on);

/* Current time in nanoseconds (CLOCK_MONOTONIC). */
uint64_t now_ns(void);

#endif
