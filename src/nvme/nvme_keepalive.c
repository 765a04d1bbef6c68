/* NVMe Keep Alive: the timer that fails a controller whose host went
 * silent for KATO. */
#include "nvme_internal.h"
#include "core/log.h"
#include "core/thread.h"
#include "core/event_loop.h"


static void ka_fire(void *arg)
{
	struct nvme_ctrl *c = arg;
	c->ka_timer = NULL;
	if (!c->feat.kato || c->state != NVME_CTRL_READY)
		return;
	uint64_t now = now_ns(), kato_ns = (uint64_t)c->feat.kato * 1000000ull;
	if (c->suspended)
		c->ka_last_ns = now;	/* the admin queue is not served: no timeout */
	if (now - c->ka_last_ns >= kato_ns) {
		log_warn("%s: keep alive timeout (%u ms without Keep Alive)", c->name, c->feat.kato);
		nvme_ctrl_fatal(c, "keep alive timer expired");
		return;
	}
	uint64_t left_ms = (kato_ns - (now - c->ka_last_ns) + 999999) / 1000000;
	c->ka_timer = loop_timer_add(left_ms ? left_ms : 1, ka_fire, c);
}

void nvme_ctrl_keep_alive_stop(struct nvme_ctrl *c)
{
	if (c->ka_timer) {
		loop_timer_cancel(c->ka_timer);
		c->ka_timer = NULL;
	}
}

void nvme_ctrl_keep_alive_arm(struct nvme_ctrl *c)
{
	nvme_ctrl_keep_alive_stop(c);
	c->ka_last_ns = now_ns();
	if (c->feat.kato)
		c->ka_timer = loop_timer_add(c->feat.kato, ka_fire, c);
}

void nvme_ctrl_keep_alive(struct nvme_ctrl *c)
{
	c->ka_last_ns = now_ns();
}
