/* The main thread's event loop: epoll over RPC sockets, provider sockets,
 * signals, timers and the main thread's message eventfd. Main thread only. */
#ifndef OSNAP_EVENT_LOOP_H
#define OSNAP_EVENT_LOOP_H

#include <stdbool.h>
#include <stdint.h>

struct loop_fd;
struct loop_timer;

/* Called with the epoll events that fired. */
typedef void (*loop_fd_cb)(void *arg, uint32_t events);
typedef void (*loop_timer_cb)(void *arg);

int loop_init(void);
void loop_fini(void);

/* Watch fd for events (EPOLLIN, EPOLLOUT...). Returns NULL with errno set. */
struct loop_fd *loop_add_fd(int fd, uint32_t events, loop_fd_cb cb, void *arg);
int loop_mod_fd(struct loop_fd *lf, uint32_t events);
/* Stop watching (safe from within the fd's own callback). Does not close fd. */
void loop_del_fd(struct loop_fd *lf);

/* One-shot timer after ms milliseconds. Returns NULL on failure. */
struct loop_timer *loop_timer_add(uint64_t ms, loop_timer_cb cb, void *arg);
void loop_timer_cancel(struct loop_timer *t);

/* Run one round: wait up to timeout_ms (-1 forever) and dispatch. */
int loop_run_once(int timeout_ms);
/* Run until loop_stop(). */
void loop_run(void);
void loop_stop(void);
bool loop_stopping(void);

#endif
