/* Fan-out on the main thread: one count and one callback per fan-out. */
#include "fanout.h"
#include "log.h"

#include <stdlib.h>

struct fanout {
	unsigned pending;	/* answers awaited, plus one until fanout_end */
	void (*done)(void *arg);
	void *arg;
};

struct fanout *fanout_begin(void (*done)(void *arg), void *arg)
{
	struct fanout *f = malloc(sizeof(*f));
	if (!f) {
		log_crit("out of memory starting a fan-out");
		abort();
	}
	f->pending = 1;
	f->done = done;
	f->arg = arg;
	return f;
}

void fanout_add(struct fanout *f)
{
	f->pending++;
}

void fanout_ack(void *p)
{
	struct fanout *f = p;
	if (--f->pending)
		return;
	void (*done)(void *) = f->done;
	void *arg = f->arg;
	free(f);
	if (done)
		done(arg);
}

void fanout_end(struct fanout *f)
{
	fanout_ack(f);
}
