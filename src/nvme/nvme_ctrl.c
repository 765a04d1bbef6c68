/* NVMe controllers: creation and binding to a function, the register file
 * (BAR0) and the state machine it drives (enable, reset, shutdown, fatal),
 * quiescing, suspend / resume. Namespaces and events: nvme_ctrl_ns.c; JSON
 * views: nvme_ctrl_json.c; Keep Alive: nvme_keepalive.c; mapped admin
 * doorbells: nvme_admin_watch.c. */
#include "nvme_internal.h"
#include "core/event_loop.h"
#include "core/fanout.h"
#include "core/log.h"
#include "core/thread.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct nvme_ctrl *g_ctrls;

static void ctrl_enable(struct nvme_ctrl *c);
static void ctrl_reset(struct nvme_ctrl *c, void (*done)(struct nvme_ctrl *c, void *arg), void *arg);

/* --- registers --- */

uint32_t nvme_reg32(struct nvme_ctrl *c, uint32_t off)
{
	uint32_t v;
	memcpy(&v, c->bar0 + off, 4);
	return v;
}

void nvme_set_reg32(struct nvme_ctrl *c, uint32_t off, uint32_t v)
{
	memcpy(c->bar0 + off, &v, 4);
}

static void set_reg64(struct nvme_ctrl *c, uint32_t off, uint64_t v)
{
	memcpy(c->bar0 + off, &v, 8);
}

static uint64_t reg64(struct nvme_ctrl *c, uint32_t off)
{
	uint64_t v;
	memcpy(&v, c->bar0 + off, 8);
	return v;
}

static void regs_init(struct nvme_ctrl *c)
{
	memset(c->bar0, 0, EMU_NVME_DOORBELL_OFF + EMU_NVME_DOORBELL_SIZE);
	uint64_t cap = (uint64_t)c->mqes		/* MQES */
		       | (1ull << 16)			/* CQR: contiguous queues */
		       | (20ull << 24)			/* TO: 10 s */
		       | (1ull << 37);			/* CSS: NVM command set */
	/* DSTRD 0, MPSMIN = MPSMAX = 0 (4 KiB pages) */
	set_reg64(c, NVME_REG_CAP, cap);
	nvme_set_reg32(c, NVME_REG_VS, NVME_VS_1_4);
}

void nvme_ctrl_fatal(struct nvme_ctrl *c, const char *why)
{
	log_err("%s: controller fatal status: %s", c->name, why);
	c->state = NVME_CTRL_FATAL;
	nvme_set_reg32(c, NVME_REG_CSTS, nvme_reg32(c, NVME_REG_CSTS) | NVME_CSTS_CFS);
	/* stop the queues; the host recovers with a controller reset */
	nvme_ctrl_quiesce(c, QLIFE_FATAL, NULL, NULL);
}

/* NVMe 1.4 4.1: an invalid doorbell write, while an Asynchronous Event
 * Request is outstanding, is reported as an error event (log page 01h);
 * the value itself is ignored by the queue's consumer. Like every event
 * type, it is masked once reported until the host reads its log page. */
static void doorbell_error(struct nvme_ctrl *c, uint8_t info)
{
	if (c->state != NVME_CTRL_READY)
		return;
	/* AERs the host submitted through a mapped doorbell count as
	 * outstanding: fetch them first */
	if (c->doorbells_mmap)
		nvme_admin_poll(c);
	if (!c->aer_outstanding || c->aer_err_masked)
		return;
	c->aer_err_masked = true;
	nvme_ctrl_aen(c, NVME_AER_TYPE_ERROR | (uint32_t)info << 8 | (uint32_t)NVME_LOG_ERROR << 16);
}

static void doorbell_check(struct nvme_ctrl *c, uint16_t qid, bool is_cq, uint32_t v)
{
	uint32_t size;
	if (qid > NVME_MAX_IO_QUEUES || !(is_cq ? (void *)c->cqs[qid] : (void *)c->sqs[qid])) {
		doorbell_error(c, NVME_AER_ERR_INVALID_DB_REG);
		return;
	}
	size = is_cq ? c->cqs[qid]->size : c->sqs[qid]->size;
	if (v >= size)
		doorbell_error(c, NVME_AER_ERR_INVALID_DB_VALUE);
}

static void doorbell_write(struct nvme_ctrl *c, uint64_t off, uint32_t v)
{
	uint32_t idx = (uint32_t)(off - EMU_NVME_DOORBELL_OFF) / 4;
	uint16_t qid = (uint16_t)(idx / 2);
	bool is_cq = idx & 1;

	doorbell_check(c, qid, is_cq, v);

	/* the value is consumed by the queue's owner, which checks it */
	__atomic_store_n((uint32_t *)(c->bar0 + off), v, __ATOMIC_RELEASE);
	if (qid == 0) {
		if (c->state == NVME_CTRL_READY)
			nvme_admin_poll(c);
		return;
	}
	if (qid > NVME_MAX_IO_QUEUES)
		return;
	if (!is_cq && c->sqs[qid])
		nvme_ioq_kick(c->sqs[qid]);
	else if (is_cq && c->cqs[qid])
		for (int q = 1; q <= NVME_MAX_IO_QUEUES; q++)
			if (c->sqs[q] && c->sqs[q]->cq == c->cqs[qid])
				nvme_ioq_kick(c->sqs[q]);	/* room in the CQ again */
}

static void cc_write(struct nvme_ctrl *c, uint32_t v)
{
	uint32_t old = nvme_reg32(c, NVME_REG_CC);
	/* writable: EN, CSS, MPS, AMS, SHN, IOSQES, IOCQES */
	v &= 0x00fffff1u;
	nvme_set_reg32(c, NVME_REG_CC, v);
	if (!(old & NVME_CC_EN) && (v & NVME_CC_EN)) {
		ctrl_enable(c);
	} else if ((old & NVME_CC_EN) && !(v & NVME_CC_EN)) {
		log_info("%s: controller reset by the host (CC.EN=0)", c->name);
		ctrl_reset(c, NULL, NULL);
	}
	if ((v & NVME_CC_EN) && NVME_CC_SHN(v) && !NVME_CC_SHN(old))
		nvme_ctrl_shutdown(c);
}

static void reg_write32(struct nvme_ctrl *c, uint32_t off, uint32_t v)
{
	bool en = nvme_reg32(c, NVME_REG_CC) & NVME_CC_EN;
	switch (off) {
	case NVME_REG_CC:
		cc_write(c, v);
		break;
	case NVME_REG_AQA:
		if (!en)
			nvme_set_reg32(c, off, v & 0x0fff0fffu);
		break;
	case NVME_REG_ASQ:
	case NVME_REG_ACQ:
		if (!en)
			nvme_set_reg32(c, off, v & ~0xfffu);
		break;
	case NVME_REG_ASQ + 4:
	case NVME_REG_ACQ + 4:
		if (!en)
			nvme_set_reg32(c, off, v);
		break;
	default:
		/* INTMS/INTMC (no pin interrupts with MSI-X), NSSR (not
		 * supported), read-only registers: ignored */
		break;
	}
}

static int ctrl_bar_read(void *ctx, int bar, uint64_t off, void *buf, size_t len)
{
	struct nvme_ctrl *c = ctx;
	if (bar != 0)
		return -EINVAL;
	if (off >= EMU_NVME_DOORBELL_OFF)
		memset(buf, 0, len);	/* doorbells read as zero */
	else
		memcpy(buf, c->bar0 + off, len);
	return 0;
}

static int ctrl_bar_write(void *ctx, int bar, uint64_t off, const void *buf, size_t len)
{
	struct nvme_ctrl *c = ctx;
	if (bar != 0)
		return -EINVAL;
	if (off >= EMU_NVME_DOORBELL_OFF) {
		if (len == 4 && !(off & 3) && off < EMU_NVME_DOORBELL_OFF + EMU_NVME_DOORBELL_SIZE) {
			uint32_t v;
			memcpy(&v, buf, 4);
			doorbell_write(c, off, v);
		}
		return 0;
	}
	/* registers: dword granularity (a 64-bit write is two dwords) */
	if ((off & 3) || (len & 3))
		return 0;
	for (size_t i = 0; i < len; i += 4) {
		uint32_t v;
		memcpy(&v, (const uint8_t *)buf + i, 4);
		reg_write32(c, (uint32_t)(off + i), v);
	}
	return 0;
}

/* --- enable, reset, shutdown --- */

static uint16_t decide_oncs(struct nvme_ctrl *c)
{
	/* an optional command is on when forced, or (auto) when every
	 * namespace attached now supports it, as SNAP does at driver load */
	bool all_cmp = true, all_wz = true, all_unmap = true;
	for (struct nvme_namespace *ns = c->ss->ns; ns; ns = ns->next) {
		if (ns->ctrl != c)
			continue;
		all_cmp &= bdev_io_type_supported(ns->bdev, BDEV_IO_COMPARE);
		all_wz &= bdev_io_type_supported(ns->bdev, BDEV_IO_WRITE_ZEROES);
		all_unmap &= bdev_io_type_supported(ns->bdev, BDEV_IO_UNMAP);
	}
	uint16_t oncs = 0;
	if (c->opt_compare > 0 || (c->opt_compare < 0 && all_cmp))
		oncs |= 1u << 0;	/* Compare */
	if (c->opt_dsm > 0 || (c->opt_dsm < 0 && all_unmap))
		oncs |= 1u << 2;	/* Dataset Management */
	if (c->opt_write_zeroes > 0 || (c->opt_write_zeroes < 0 && all_wz))
		oncs |= 1u << 3;	/* Write Zeroes */
	/* features the controller always implements: the Save field of Set
	 * Features / the Select field of Get Features (nothing is saveable:
	 * Feature Identifier Not Saveable), and the Timestamp feature */
	oncs |= 1u << 4 | 1u << 6;
	return oncs;
}

static void features_reset(struct nvme_ctrl *c)
{
	free(c->feat.irq_config);
	memset(&c->feat, 0, sizeof(c->feat));
	c->feat.temp_thresh = 343;	/* 70 C */
	c->feat.vwc = false;
	c->feat.irq_config = calloc(emu_fn_num_msix(c->fn) ? emu_fn_num_msix(c->fn) : 1, sizeof(uint16_t));
	uint32_t n = c->max_io_queues ? c->max_io_queues - 1 : 0;
	c->feat.num_queues = n << 16 | n;
}

void nvme_ctrl_retire_sq_stats(struct nvme_ctrl *c, struct nvme_sq *sq)
{
	/* the lifetime SMART totals keep what the queue counted */
	c->data_units_read += sq->bytes_read;
	c->data_units_written += sq->bytes_written;
	c->host_reads += sq->reads;
	c->host_writes += sq->writes;
	sq->bytes_read = sq->bytes_written = sq->reads = sq->writes = 0;
}

static void ctrl_enable(struct nvme_ctrl *c)
{
	uint32_t cc = nvme_reg32(c, NVME_REG_CC);
	uint32_t aqa = nvme_reg32(c, NVME_REG_AQA);
	uint64_t asq = reg64(c, NVME_REG_ASQ), acq = reg64(c, NVME_REG_ACQ);
	uint32_t asqs = (aqa & 0xfff) + 1, acqs = ((aqa >> 16) & 0xfff) + 1;

	if (c->state == NVME_CTRL_RESETTING)
		return;	/* the reset finishing sees CC.EN and enables */
	if (c->state != NVME_CTRL_DISABLED)
		return;
	if (NVME_CC_MPS(cc) != 0 || NVME_CC_CSS(cc) != 0 || NVME_CC_AMS(cc) != 0 ||
	    asqs < 2 || acqs < 2 || !asq || !acq) {
		log_warn("%s: enable with invalid CC 0x%x / AQA 0x%x / ASQ 0x%llx / ACQ 0x%llx", c->name,
			 cc, aqa, (unsigned long long)asq, (unsigned long long)acq);
		nvme_ctrl_fatal(c, "invalid admin queue or CC settings");
		return;
	}
	if (c->suspended) {
		c->state = NVME_CTRL_ENABLING;	/* ready once resumed */
		log_info("%s: enable requested while suspended: waits for resume", c->name);
		return;
	}
	c->page_size = NVME_PAGE;
	c->oncs = decide_oncs(c);
	c->vwc_present = false;
	for (struct nvme_namespace *ns = c->ss->ns; ns; ns = ns->next)
		if (ns->ctrl == c && bdev_io_type_supported(ns->bdev, BDEV_IO_FLUSH))
			c->vwc_present = true;
	features_reset(c);
	/* a cache is there: it is on after a reset (the default value) */
	c->feat.vwc = c->vwc_present;
	c->io_queues_created = false;
	c->cqs[0] = nvme_cq_alloc(c, 0, acqs, acq, true, 0);
	c->sqs[0] = c->cqs[0] ? nvme_sq_alloc(c, 0, asqs, asq, c->cqs[0]) : NULL;
	if (!c->sqs[0]) {
		nvme_ctrl_fatal(c, "admin queue memory is not in the client's map");
		return;
	}
	c->state = NVME_CTRL_READY;
	c->power_on_ns = now_ns();
	nvme_set_reg32(c, NVME_REG_CSTS, NVME_CSTS_RDY);
	log_info("%s: enabled (admin SQ %u, CQ %u entries)", c->name, asqs, acqs);
	if (c->doorbells_mmap)
		nvme_admin_watch_start(c);
	/* commands may already be waiting */
	nvme_admin_poll(c);
}

struct reset_waiter {
	void (*done)(struct nvme_ctrl *c, void *arg);
	void *arg;
	struct reset_waiter *next;
};

/* The reset under way: one per controller; later resets (a destroy while
 * the host's reset runs) wait for it. */
struct reset_ctx {
	struct nvme_ctrl *c;
	struct reset_waiter *waiters;
	bool had_waiters;	/* a destroy or client reset asked: do not re-enable */
};

static void reset_finish(void *arg)
{
	struct reset_ctx *r = arg;
	struct nvme_ctrl *c = r->c;
	nvme_ctrl_keep_alive_stop(c);
	c->io_queues_created = false;
	for (int q = NVME_MAX_IO_QUEUES; q >= 1; q--) {
		if (c->sqs[q]) {
			nvme_ctrl_retire_sq_stats(c, c->sqs[q]);
			nvme_sq_free(c->sqs[q]);
			c->sqs[q] = NULL;
		}
	}
	for (int q = NVME_MAX_IO_QUEUES; q >= 1; q--) {
		if (c->cqs[q]) {
			nvme_cq_free(c->cqs[q]);
			c->cqs[q] = NULL;
		}
	}
	nvme_admin_reset(c);
	if (c->sqs[0])
		nvme_sq_free(c->sqs[0]);
	if (c->cqs[0])
		nvme_cq_free(c->cqs[0]);
	c->sqs[0] = NULL;
	c->cqs[0] = NULL;
	c->dbbuf_enabled = false;
	c->aer_outstanding = 0;
	c->aer_npending = 0;
	c->aer_ns_masked = false;
	c->aer_err_masked = false;
	/* a shutdown and a fatal error end with the reset; a suspend and a
	 * memory change under way go on (new queues start paused by them) */
	c->qpause[QLIFE_SHUTDOWN] = 0;
	c->qpause[QLIFE_FATAL] = 0;
	c->state = NVME_CTRL_DISABLED;
	/* doorbells back to zero; CSTS: not ready, no shutdown, no fatal */
	memset(c->bar0 + EMU_NVME_DOORBELL_OFF, 0, EMU_NVME_DOORBELL_SIZE);
	nvme_set_reg32(c, NVME_REG_CSTS, 0);
	if (c->regs_reset_pending) {
		c->regs_reset_pending = false;
		regs_init(c);
	}
	c->reset = NULL;
	struct reset_waiter *w = r->waiters;
	bool reenable = !r->had_waiters;
	free(r);
	log_info("%s: reset complete", c->name);
	if (reenable && !c->destroying && (nvme_reg32(c, NVME_REG_CC) & NVME_CC_EN))
		ctrl_enable(c);
	/* the waiters last: a destroy frees the controller */
	while (w) {
		struct reset_waiter *n = w->next;
		w->done(c, w->arg);
		free(w);
		w = n;
	}
}

/* Stop every I/O queue (those already stopping too) and the admin
 * doorbell watch, then reset the controller; done(c, arg) after. A reset
 * requested while one runs waits for it. */
static void ctrl_reset(struct nvme_ctrl *c, void (*done)(struct nvme_ctrl *c, void *arg), void *arg)
{
	struct reset_ctx *r = c->reset;
	if (!r) {
		r = calloc(1, sizeof(*r));
		if (!r) {
			log_crit("%s: out of memory during reset", c->name);
			abort();
		}
		r->c = c;
	}
	if (done) {
		struct reset_waiter *w = calloc(1, sizeof(*w));
		if (!w) {
			log_crit("%s: out of memory during reset", c->name);
			abort();
		}
		w->done = done;
		w->arg = arg;
		/* in request order */
		struct reset_waiter **pp = &r->waiters;
		while (*pp)
			pp = &(*pp)->next;
		*pp = w;
		r->had_waiters = true;
	}
	if (c->reset)
		return;	/* under way: answered when it finishes */
	c->reset = r;
	c->state = NVME_CTRL_RESETTING;
	struct fanout *f = fanout_begin(reset_finish, r);
	for (int q = 1; q <= NVME_MAX_IO_QUEUES; q++) {
		if (c->sqs[q]) {
			/* queues already stopping (a Delete SQ) are waited for too */
			fanout_add(f);
			nvme_ioq_stop(c->sqs[q], fanout_ack, f);
		}
	}
	/* the reactor watching mapped admin doorbells lets go too */
	fanout_add(f);
	if (!nvme_admin_watch_stop(c, fanout_ack, f))
		fanout_ack(f);
	fanout_end(f);
}

static void shutdown_done(struct nvme_ctrl *c, void *arg)
{
	(void)arg;
	uint32_t csts = nvme_reg32(c, NVME_REG_CSTS) & ~NVME_CSTS_SHST_MASK;
	nvme_set_reg32(c, NVME_REG_CSTS, csts | NVME_CSTS_SHST_DONE);
	c->state = NVME_CTRL_SHUTDOWN;
	log_info("%s: shutdown complete", c->name);
}

void nvme_ctrl_shutdown(struct nvme_ctrl *c)
{
	uint32_t csts = nvme_reg32(c, NVME_REG_CSTS) & ~NVME_CSTS_SHST_MASK;
	nvme_set_reg32(c, NVME_REG_CSTS, csts | NVME_CSTS_SHST_OCCUR);
	log_info("%s: shutdown requested", c->name);
	/* finish what was fetched, fetch nothing new (until a reset) */
	nvme_ctrl_quiesce(c, QLIFE_SHUTDOWN, shutdown_done, NULL);
}

/* --- quiesce --- */

struct quiesce_ctx {
	struct nvme_ctrl *c;
	void (*cb)(struct nvme_ctrl *c, void *arg);
	void *arg;
};

static void quiesce_done(void *arg)
{
	struct quiesce_ctx *q = arg;
	if (q->cb)
		q->cb(q->c, q->arg);
	free(q);
}

void nvme_ctrl_quiesce(struct nvme_ctrl *c, enum qlife_reason why,
		       void (*cb)(struct nvme_ctrl *c, void *arg), void *arg)
{
	struct quiesce_ctx *q = malloc(sizeof(*q));
	if (!q) {
		log_crit("%s: out of memory quiescing", c->name);
		abort();
	}
	*q = (struct quiesce_ctx){ .c = c, .cb = cb, .arg = arg };
	c->qpause[why]++;
	/* every I/O queue, those on their way down included: a stopping
	 * queue's commands still run until it is stopped */
	struct fanout *f = fanout_begin(quiesce_done, q);
	for (int i = 1; i <= NVME_MAX_IO_QUEUES; i++) {
		if (c->sqs[i]) {
			fanout_add(f);
			nvme_ioq_pause(c->sqs[i], why, fanout_ack, f);
		}
	}
	fanout_end(f);
}

void nvme_ctrl_unquiesce(struct nvme_ctrl *c, enum qlife_reason why)
{
	if (!c->qpause[why]) {
		log_err("%s: unquiesce (reason %d) without a quiesce", c->name, (int)why);
		return;
	}
	c->qpause[why]--;
	for (int i = 1; i <= NVME_MAX_IO_QUEUES; i++)
		if (c->sqs[i])
			nvme_ioq_resume(c->sqs[i], why);
}

/* --- device-plane events --- */

struct unmap_wait {
	void (*done)(void *arg);
	void *arg;
};

static void unmap_quiesced(struct nvme_ctrl *c, void *arg)
{
	struct unmap_wait *w = arg;
	(void)c;
	/* nothing in flight: the region may go; the queues stay quiet until
	 * it is out of the map (ctrl_mem_resume) */
	w->done(w->arg);
	free(w);
}

/* The region is out of the map: every poll translates against the new
 * map from now on. */
static void ctrl_mem_resume(void *ctx)
{
	struct nvme_ctrl *c = ctx;
	nvme_ctrl_unquiesce(c, QLIFE_MEM);
}

static void ctrl_mem_unmap(void *ctx, uint64_t gpa, uint64_t len, void (*done)(void *arg), void *arg)
{
	struct nvme_ctrl *c = ctx;
	struct unmap_wait *w = malloc(sizeof(*w));
	(void)gpa;
	(void)len;
	if (!w) {
		done(arg);
		return;
	}
	w->done = done;
	w->arg = arg;
	nvme_ctrl_quiesce(c, QLIFE_MEM, unmap_quiesced, w);
}

/* Memory came (back): queues that waited for their rings look again. */
static void ctrl_mem_map(void *ctx, uint64_t gpa, uint64_t len)
{
	struct nvme_ctrl *c = ctx;
	(void)gpa;
	(void)len;
	if (c->state != NVME_CTRL_READY)
		return;
	for (int q = 1; q <= NVME_MAX_IO_QUEUES; q++)
		if (c->sqs[q])
			nvme_ioq_kick(c->sqs[q]);
	nvme_admin_poll(c);
}

static void ctrl_dev_reset(void *ctx, enum emu_reset_reason why)
{
	struct nvme_ctrl *c = ctx;
	log_info("%s: function reset (%s)", c->name,
		 why == EMU_RESET_FLR ? "FLR" : why == EMU_RESET_CLIENT ? "client reset" : "client gone");
	/* registers go back to their reset values once the queues are down */
	nvme_set_reg32(c, NVME_REG_CC, 0);
	if (c->state != NVME_CTRL_DISABLED || c->sqs[0]) {
		c->regs_reset_pending = true;
		if (c->state != NVME_CTRL_RESETTING)
			ctrl_reset(c, NULL, NULL);
	} else {
		regs_init(c);
	}
}

static const struct emu_ctrl_ops nvme_emu_ops = {
	.bar_read = ctrl_bar_read,
	.bar_write = ctrl_bar_write,
	.mem_unmap = ctrl_mem_unmap,
	.mem_resume = ctrl_mem_resume,
	.mem_map = ctrl_mem_map,
	.reset = ctrl_dev_reset,
};

/* --- lifecycle --- */

struct nvme_ctrl *nvme_ctrl_find(const char *name)
{
	/* names match case-insensitively, as SNAP's do */
	for (struct nvme_ctrl *c = g_ctrls; c; c = c->next)
		if (!strcasecmp(c->name, name))
			return c;
	return NULL;
}

const char *nvme_ctrl_name(const struct nvme_ctrl *c) { return c->name; }
uint16_t nvme_ctrl_cntlid(const struct nvme_ctrl *c) { return c->cntlid; }
struct nvme_ctrl *nvme_ctrl_first(void) { return g_ctrls; }
struct nvme_ctrl *nvme_ctrl_next(struct nvme_ctrl *c) { return c->next; }

bool nvme_ctrl_driver_live(const struct nvme_ctrl *c)
{
	return c->state == NVME_CTRL_READY || c->state == NVME_CTRL_ENABLING;
}

struct nvme_namespace *nvme_ctrl_ns(struct nvme_ctrl *c, uint32_t nsid)
{
	for (struct nvme_namespace *ns = c->ss->ns; ns; ns = ns->next)
		if (ns->nsid == nsid)
			return ns->ctrl == c ? ns : NULL;
	return NULL;
}

static bool nvme_name_taken(const char *name)
{
	return nvme_ctrl_find(name) != NULL;
}

int nvme_ctrl_create(const struct nvme_ctrl_params *p, struct nvme_ctrl **out, char *err,
		     size_t errlen)
{
	struct nvme_subsystem *ss = nvme_subsystem_find(p->nqn);
	if (!ss) {
		snprintf(err, errlen, "subsystem %s does not exist", p->nqn);
		return -ENODEV;
	}
	if (emu_fn_type(p->fn) != EMU_TYPE_NVME) {
		snprintf(err, errlen, "function %s is not an NVMe function", emu_fn_vuid(p->fn));
		return -EINVAL;
	}
	if (emu_fn_ctrl_id(p->fn)) {
		snprintf(err, errlen, "function %s already has controller %s", emu_fn_vuid(p->fn),
			 emu_fn_ctrl_id(p->fn));
		return -EBUSY;
	}
	if (ss->single_ctrl) {
		for (struct nvme_ctrl *o = g_ctrls; o; o = o->next) {
			if (o->ss == ss) {
				snprintf(err, errlen, "subsystem %s allows a single controller (%s)", ss->nqn,
					 o->name);
				return -EBUSY;
			}
		}
	}
	char name[64];
	int nrc = emu_ctrl_name_pick(p->name, "NVMeCtrl", nvme_name_taken, name, sizeof(name), err, errlen);
	if (nrc)
		return nrc;
	uint16_t nmsix = emu_fn_num_msix(p->fn);
	uint32_t maxq = nmsix > 1 ? nmsix - 1 : 1;	/* one vector for the admin CQ */
	if (maxq > NVME_MAX_IO_QUEUES)
		maxq = NVME_MAX_IO_QUEUES;
	uint32_t nq = p->num_queues ? p->num_queues : (maxq < 31 ? maxq : 31);
	if (p->admin_only)
		nq = 0;
	if (nq > NVME_MAX_IO_QUEUES) {
		snprintf(err, errlen, "num_queues %u exceeds %u", nq, NVME_MAX_IO_QUEUES);
		return -EINVAL;
	}
	if (nq && emu_queues_reserve(nq + 1)) {
		snprintf(err, errlen, "not enough queue resources left (EMU_QUEUE_POOL)");
		return -ENOSPC;
	}

	struct nvme_ctrl *c = calloc(1, sizeof(*c));
	if (!c) {
		if (nq)
			emu_queues_release(nq + 1);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->ss = ss;
	c->fn = p->fn;
	c->cntlid = ss->next_cntlid++;
	c->max_io_queues = nq;
	c->mdts = p->mdts;
	c->fw_slots = p->fw_slots;
	c->opt_compare = p->compare;
	c->opt_compare_write = p->compare_write;
	c->opt_dsm = p->dsm;
	c->opt_write_zeroes = p->write_zeroes;
	c->admin_only = p->admin_only;
	c->quirks = p->quirks;
	c->suspended = p->suspended;
	c->mqes = emu_config_nvme_max_queue_entries(emu_get_config()) - 1;
	c->doorbells_mmap = emu_get_config()->nvme_doorbells != EMU_DB_TRAP;
	c->doorbells_spin = emu_get_config()->nvme_doorbells == EMU_DB_MMAP;
	c->fw_active_slot = 1;
	snprintf(c->fw_rev[1], sizeof(c->fw_rev[1]), "%.8s", "0.1.0");
	c->bar0 = emu_fn_bar_mem(p->fn, 0, NULL);
	c->mem_gen = emu_mem_generation_ptr(p->fn);
	regs_init(c);
	features_reset(c);
	int rc = emu_fn_bind(p->fn, &nvme_emu_ops, c, c->name);
	if (rc) {
		free(c->feat.irq_config);
		free(c);
		if (nq)
			emu_queues_release(nq + 1);
		snprintf(err, errlen, "cannot bind to %s", emu_fn_vuid(p->fn));
		return rc;
	}
	struct nvme_ctrl **pp = &g_ctrls;
	while (*pp)
		pp = &(*pp)->next;
	*pp = c;
	*out = c;
	log_info("NVMe controller %s (cntlid %u) on %s: %u I/O queues, MDTS %u%s", c->name, c->cntlid,
		 emu_fn_vuid(p->fn), nq, c->mdts, c->suspended ? ", suspended" : "");
	return 0;
}

struct destroy_ctx {
	nvme_done_fn cb;
	void *arg;
};

static void destroy_finish(struct nvme_ctrl *c, void *arg)
{
	struct destroy_ctx *d = arg;
	for (struct nvme_namespace *ns = c->ss->ns; ns; ns = ns->next)
		if (ns->ctrl == c)
			ns->ctrl = NULL;
	emu_fn_unbind(c->fn);
	regs_init(c);
	if (c->max_io_queues)
		emu_queues_release(c->max_io_queues + 1);
	struct nvme_ctrl **pp = &g_ctrls;
	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
	log_info("NVMe controller %s destroyed", c->name);
	free(c->feat.irq_config);
	free(c);
	d->cb(d->arg, 0, NULL);
	free(d);
}

void nvme_ctrl_destroy(struct nvme_ctrl *c, bool force, nvme_done_fn cb, void *arg)
{
	char msg[256];
	if (c->destroying) {
		cb(arg, -EBUSY, "the controller is already being destroyed");
		return;
	}
	if (!force && nvme_ctrl_driver_live(c) && emu_fn_client_connected(c->fn)) {
		snprintf(msg, sizeof(msg), "%s is in use by a host driver; stop it or use --force", c->name);
		cb(arg, -EBUSY, msg);
		return;
	}
	struct destroy_ctx *d = malloc(sizeof(*d));
	if (!d) {
		cb(arg, -ENOMEM, "out of memory");
		return;
	}
	d->cb = cb;
	d->arg = arg;
	c->destroying = true;
	ctrl_reset(c, destroy_finish, d);
}

/* --- suspend / resume --- */

struct suspend_ctx {
	struct nvme_ctrl *c;
	nvme_done_fn cb;
	void *arg;
	struct loop_timer *timer;
	bool answered;
};

static void suspend_quiesced(struct nvme_ctrl *c, void *arg)
{
	struct suspend_ctx *s = arg;
	if (s->timer)
		loop_timer_cancel(s->timer);
	if (!s->answered) {
		log_info("%s: suspended", c->name);
		s->cb(s->arg, 0, NULL);
	}
	free(s);
}

/* timeout_ms passed with commands still in flight: answer now. They are
 * not discarded (that would lose the host's data): the controller stays
 * suspended and finishes them; a later suspend waits for that. */
static void suspend_timeout(void *arg)
{
	struct suspend_ctx *s = arg;
	char msg[160];
	s->timer = NULL;
	s->answered = true;
	snprintf(msg, sizeof(msg), "%s: commands still in flight after timeout_ms; the controller "
		 "stays suspended and completes them", s->c->name);
	log_warn("%s", msg);
	s->cb(s->arg, -ETIMEDOUT, msg);
}

void nvme_ctrl_suspend(struct nvme_ctrl *c, uint32_t timeout_ms, bool admin_only, nvme_done_fn cb,
		       void *arg)
{
	bool was = c->suspended;
	c->suspended = true;
	if (!was)
		c->suspended_admin_only = admin_only;
	if (c->suspended_admin_only && !c->qpause[QLIFE_SUSPEND]) {
		cb(arg, 0, NULL);
		return;
	}
	struct suspend_ctx *s = calloc(1, sizeof(*s));
	if (!s) {
		cb(arg, -ENOMEM, "out of memory");
		return;
	}
	s->c = c;
	s->cb = cb;
	s->arg = arg;
	log_info("%s: suspending", c->name);
	/* armed first: the quiesce may finish (and free s) right away */
	if (timeout_ms)
		s->timer = loop_timer_add(timeout_ms, suspend_timeout, s);
	nvme_ctrl_quiesce(c, QLIFE_SUSPEND, suspend_quiesced, s);
	if (c->qpause[QLIFE_SUSPEND] > 1)
		/* already suspended (an earlier suspend timed out, say): this
		 * one only waits for the drain. A pause lifted right away
		 * leaves the queues paused by the first; its waiters are
		 * answered at the drain, not at the lift (the count of the
		 * reason stays above zero). */
		nvme_ctrl_unquiesce(c, QLIFE_SUSPEND);
}

int nvme_ctrl_resume(struct nvme_ctrl *c, char *err, size_t errlen)
{
	if (!c->suspended) {
		snprintf(err, errlen, "%s is not suspended", c->name);
		return -EINVAL;
	}
	c->suspended = false;
	c->suspended_admin_only = false;
	log_info("%s: resumed", c->name);
	if (c->qpause[QLIFE_SUSPEND])
		nvme_ctrl_unquiesce(c, QLIFE_SUSPEND);
	if (c->state == NVME_CTRL_ENABLING) {
		c->state = NVME_CTRL_DISABLED;
		ctrl_enable(c);
	} else if (c->state == NVME_CTRL_READY) {
		nvme_admin_poll(c);
	}
	return 0;
}

int nvme_ctrl_modify(struct nvme_ctrl *c, bool has_num_queues, uint32_t num_queues, char *err,
		     size_t errlen)
{
	if (c->state != NVME_CTRL_DISABLED) {
		snprintf(err, errlen, "%s is in use by a host driver; modify needs an idle function", c->name);
		return -EBUSY;
	}
	if (has_num_queues) {
		if (num_queues < 1 || num_queues > NVME_MAX_IO_QUEUES) {
			snprintf(err, errlen, "num_queues must be 1..%u", NVME_MAX_IO_QUEUES);
			return -EINVAL;
		}
		if (num_queues > c->max_io_queues &&
		    emu_queues_reserve(num_queues - c->max_io_queues)) {
			snprintf(err, errlen, "not enough queue resources left");
			return -ENOSPC;
		}
		if (num_queues < c->max_io_queues)
			emu_queues_release(c->max_io_queues - num_queues);
		c->max_io_queues = num_queues;
		features_reset(c);
	}
	return 0;
}

static void shutdown_one(void *arg, int rc, const char *msg)
{
	(void)rc;
	(void)msg;
	*(bool *)arg = true;
}

void nvme_shutdown_all(void)
{
	while (g_ctrls) {
		bool done = false;
		nvme_ctrl_destroy(g_ctrls, true, shutdown_one, &done);
		while (!done)
			loop_run_once(10);
	}
	while (nvme_subsystem_first()) {
		char err[64];
		nvme_subsystem_destroy(nvme_subsystem_first()->nqn, true, err, sizeof(err));
	}
}
