/* Fan-out on the main thread: send a request to many queues (or anything
 * that answers later) and learn once when every one of them answered.
 *
 * Each fan-out is its own object with its own count and its own callback,
 * so any number may be under way at once (two quiesces of one controller
 * never share a counter). Usage:
 *
 *	struct fanout *f = fanout_begin(done, arg);
 *	for each target: fanout_add(f); send(target, fanout_ack, f);
 *	fanout_end(f);		// done(arg) runs once all answered (maybe now)
 *
 * A target that cannot be asked is simply not added. Main thread only. */
#ifndef OSNAP_FANOUT_H
#define OSNAP_FANOUT_H

struct fanout;

/* Never fails (aborts on out of memory: a lost answer would hang its
 * caller for good). */
struct fanout *fanout_begin(void (*done)(void *arg), void *arg);
/* One more answer awaited. */
void fanout_add(struct fanout *f);
/* One answer arrived (usable as a message or waiter callback). */
void fanout_ack(void *f);
/* Everything was sent: done(arg) runs when the last answer arrives, or
 * now if all have. f must not be used afterwards. */
void fanout_end(struct fanout *f);

#endif
