/* NVMe namespaces attached to a controller (told to every I/O queue) and
 * the asynchronous events they and others raise. */
#include "nvme_internal.h"
#include "core/log.h"
#include "core/thread.h"
#include "core/fanout.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>


struct ns_op {
	struct nvme_ctrl *c;
	struct nvme_namespace *ns;
	bool attach;
	int pending;
	nvme_done_fn cb;
	void *arg;
};

static void changed_ns_add(struct nvme_ctrl *c, uint32_t nsid)
{
	if (c->changed_ns_count < 0)
		return;
	for (int i = 0; i < c->changed_ns_count; i++)
		if (c->changed_ns[i] == nsid)
			return;
	if (c->changed_ns_count == 1024)
		c->changed_ns_count = -1;	/* list overflow: 0xffffffff */
	else
		c->changed_ns[c->changed_ns_count++] = nsid;
}

static void ns_op_ack(void *arg)
{
	struct ns_op *o = arg;
	if (--o->pending)
		return;
	struct nvme_ctrl *c = o->c;
	if (!o->attach)
		o->ns->ctrl = NULL;
	if (c->state == NVME_CTRL_READY) {
		changed_ns_add(c, o->ns->nsid);
		/* Notice: Namespace Attribute Changed, log page 04h */
		nvme_ctrl_aen(c, NVME_AER_TYPE_NOTICE | (NVME_AER_NOTICE_NS_CHANGED << 8) |
				 (NVME_LOG_CHANGED_NS << 16));
	}
	log_info("%s: namespace %u %s", c->name, o->ns->nsid, o->attach ? "attached" : "detached");
	o->cb(o->arg, 0, NULL);
	free(o);
}

static void ns_op_run(struct nvme_ctrl *c, uint32_t nsid, bool attach, nvme_done_fn cb, void *arg)
{
	char msg[256];
	struct nvme_namespace *ns = NULL;
	for (struct nvme_namespace *n = c->ss->ns; n; n = n->next)
		if (n->nsid == nsid)
			ns = n;
	if (!ns) {
		snprintf(msg, sizeof(msg), "namespace %u does not exist in %s", nsid, c->ss->nqn);
		cb(arg, -ENODEV, msg);
		return;
	}
	if (attach && ns->ctrl) {
		snprintf(msg, sizeof(msg), "namespace %u is already attached to %s (namespaces are not shared)",
			 nsid, ns->ctrl->name);
		cb(arg, -EBUSY, msg);
		return;
	}
	if (!attach && ns->ctrl != c) {
		snprintf(msg, sizeof(msg), "namespace %u is not attached to %s", nsid, c->name);
		cb(arg, -ENOENT, msg);
		return;
	}
	struct ns_op *o = calloc(1, sizeof(*o));
	if (!o) {
		cb(arg, -ENOMEM, "out of memory");
		return;
	}
	o->c = c;
	o->ns = ns;
	o->attach = attach;
	o->cb = cb;
	o->arg = arg;
	o->pending = 1;
	if (attach)
		ns->ctrl = c;
	for (int q = 1; q <= NVME_MAX_IO_QUEUES; q++) {
		if (c->sqs[q] && !qlife_stop_requested(&c->sqs[q]->life)) {
			o->pending++;
			nvme_ioq_set_ns(c->sqs[q], nsid, attach ? ns->bdev : NULL, ns_op_ack, o);
		}
	}
	ns_op_ack(o);
}

void nvme_ctrl_attach_ns(struct nvme_ctrl *c, uint32_t nsid, nvme_done_fn cb, void *arg)
{
	ns_op_run(c, nsid, true, cb, arg);
}

void nvme_ctrl_detach_ns(struct nvme_ctrl *c, uint32_t nsid, nvme_done_fn cb, void *arg)
{
	ns_op_run(c, nsid, false, cb, arg);
}

/* --- asynchronous events --- */

void nvme_ctrl_aen(struct nvme_ctrl *c, uint32_t dw0)
{
	uint8_t type = dw0 & 7;
	if (type == NVME_AER_TYPE_NOTICE && ((dw0 >> 8) & 0xff) == NVME_AER_NOTICE_NS_CHANGED) {
		/* reported only when enabled (Async Event Configuration bit 8) */
		if (!(c->feat.async_event & (1u << 8)))
			return;
		if (c->aer_ns_masked)
			return;	/* one report until the host reads the log */
		c->aer_ns_masked = true;
	}
	if (c->aer_npending < 8)
		c->aer_pending[c->aer_npending++] = dw0;
	nvme_admin_aer_flush(c);
}
