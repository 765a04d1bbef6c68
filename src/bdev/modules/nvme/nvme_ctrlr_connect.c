/* The connect sequence of an NVMe/TCP controller, on the main thread,
 * never blocking: every step is a command whose completion starts the
 * next one (see nvme_ctrlr.h for the order). Used by the first attach and
 * by every reconnect.
 *
 * Admin completions run inside nvme_tcp_qpair_poll(): they never tear a
 * queue pair down there; a failure is recorded and handled from a timer
 * (nvme_ctrlr_seq_failed), outside any poll. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "bdev/modules/nvme/nvme_ctrlr.h"
#include "bdev/modules/nvme/nvme_ctrlr_priv.h"
#include "bdev/modules/nvme/nvme_fabrics.h"
#include "core/event_loop.h"
#include "core/log.h"

#define RDY_POLL_MS	10

static void seq_next(struct nvme_ctrlr *c);

void nvme_ctrlr_seq_fail(struct nvme_ctrlr *c, const char *fmt, ...)
{
	va_list ap;

	if (c->seq_failed)
		return;
	va_start(ap, fmt);
	vsnprintf(c->err, sizeof(c->err), fmt, ap);
	va_end(ap);
	if (c->rescan) {
		/* The controller itself is fine: keep the namespaces as they are. */
		log_warn("bdev_nvme %s: namespace rescan failed: %s", c->p.name, c->err);
		c->rescan = false;
		nvme_ctrlr_scan_free(c);
		nvme_ctrlr_aer_arm(c);
		return;
	}
	c->seq_failed = true;
	nvme_ctrlr_set_timer(c, 0, nvme_ctrlr_seq_failed);
}

/* --- admin commands --- */

static void areq_done(struct nvme_tcp_req *req, const struct nvme_cqe *cpl, int status)
{
	struct nvme_admin_req *a = req->cb_arg;

	a->busy = false;
	a->done(a->ctrlr, a, cpl, status);
}

/* Send the command in a->req.sqe on qp, with len bytes of a->buf. */
int nvme_admin_send(struct nvme_ctrlr *c, struct nvme_tcp_qpair *qp, struct nvme_admin_req *a,
		    enum nvme_tcp_dir dir, uint32_t len, nvme_admin_done_fn done)
{
	int rc;

	a->ctrlr = c;
	a->done = done;
	a->iov.iov_base = a->buf;
	a->iov.iov_len = len;
	a->req.dir = (uint8_t)dir;
	a->req.iov = &a->iov;
	a->req.iovcnt = len ? 1 : 0;
	a->req.iov_off = 0;
	a->req.len = len;
	a->req.cb = areq_done;
	a->req.cb_arg = a;
	rc = nvme_tcp_qpair_submit(qp, &a->req);
	if (rc)
		return rc;
	a->busy = true;
	nvme_ctrlr_watch(c, qp);
	return 0;
}

/* Start an admin command of the sequence; failures end the attempt. */
static void admin(struct nvme_ctrlr *c, enum nvme_tcp_dir dir, uint32_t len,
		  nvme_admin_done_fn done)
{
	struct nvme_admin_req *a = &c->areq[0];
	int rc = nvme_admin_send(c, c->aq, a, dir, len, done);

	if (rc)
		nvme_ctrlr_seq_fail(c, "cannot send an admin command: %s", strerror(-rc));
}

/* Common checks of a sequence step's completion. */
static bool step_ok(struct nvme_ctrlr *c, const struct nvme_cqe *cpl, int status,
		    const char *what)
{
	if (status < 0)
		return false;	/* the queue pair broke: the poll handles it */
	uint16_t sf = (uint16_t)(cpl->status >> 1);
	if (sf & 0x7ff) {
		nvme_ctrlr_seq_fail(c, "%s failed: NVMe status type 0x%x code 0x%02x", what,
				    (sf >> 8) & 7, sf & 0xff);
		return false;
	}
	return true;
}

/* --- the steps --- */

static void connect_done(struct nvme_ctrlr *c, struct nvme_admin_req *a,
			 const struct nvme_cqe *cpl, int status)
{
	(void)a;
	if (!step_ok(c, cpl, status, "Fabrics Connect (admin queue)"))
		return;
	c->cntlid = (uint16_t)cpl->dw0;
	seq_next(c);
}

static void cap_done(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		     int status)
{
	(void)a;
	if (!step_ok(c, cpl, status, "Property Get CAP"))
		return;
	c->cap = cpl->dw0 | ((uint64_t)cpl->dw1 << 32);
	seq_next(c);
}

static void vs_done(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		    int status)
{
	(void)a;
	if (!step_ok(c, cpl, status, "Property Get VS"))
		return;
	c->vs = cpl->dw0;
	seq_next(c);
}

static void cc_done(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		    int status)
{
	(void)a;
	if (!step_ok(c, cpl, status, "Property Set CC"))
		return;
	/* CAP.TO: worst case time to ready, in 500 ms units */
	uint64_t to = (c->cap >> 24) & 0xff;
	c->rdy_deadline_ns = now_ns() + (to ? to : 1) * 500000000ull + 1000000000ull;
	seq_next(c);
}

static void rdy_timer(struct nvme_ctrlr *c)
{
	nvme_fabrics_prop_get(&c->areq[0].req.sqe, NVME_REG_CSTS, false);
	admin(c, NVME_TCP_DIR_NONE, 0, nvme_ctrlr_csts_done);
}

void nvme_ctrlr_csts_done(struct nvme_ctrlr *c, struct nvme_admin_req *a,
			  const struct nvme_cqe *cpl, int status)
{
	(void)a;
	if (!step_ok(c, cpl, status, "Property Get CSTS"))
		return;
	if (cpl->dw0 & NVME_CSTS_CFS) {
		nvme_ctrlr_seq_fail(c, "the controller reports a fatal status (CSTS.CFS)");
		return;
	}
	if (cpl->dw0 & NVME_CSTS_RDY) {
		seq_next(c);
		return;
	}
	if (now_ns() > c->rdy_deadline_ns) {
		nvme_ctrlr_seq_fail(c, "the controller did not become ready (CSTS.RDY) in time");
		return;
	}
	nvme_ctrlr_set_timer(c, RDY_POLL_MS, rdy_timer);
}

static void copy_str(char *dst, const uint8_t *src, size_t n)
{
	size_t end = n;
	memcpy(dst, src, n);
	while (end && (dst[end - 1] == ' ' || dst[end - 1] == '\0'))
		end--;
	dst[end] = '\0';
	for (size_t i = 0; i < end; i++)
		if (dst[i] < 0x20 || dst[i] > 0x7e)
			dst[i] = '?';
}

static void idctrl_done(struct nvme_ctrlr *c, struct nvme_admin_req *a,
			const struct nvme_cqe *cpl, int status)
{
	const uint8_t *id = a->buf;

	if (!step_ok(c, cpl, status, "Identify Controller"))
		return;
	copy_str(c->sn, id + 4, 20);
	copy_str(c->mn, id + 24, 40);
	copy_str(c->fr, id + 64, 8);
	uint8_t mdts = id[77];
	uint32_t mps = 4096u << ((c->cap >> 48) & 0xf);	/* CAP.MPSMIN */
	c->mdts_bytes = mdts && mdts < 20 ? mps << mdts : 0;
	c->oncs = nvme_tcp_get16(id + 520);
	c->vwc = id[525] & 1;
	uint32_t ioccsz = nvme_tcp_get32(id + 1792);
	/* IOCCSZ counts 16-byte units of the whole capsule, SQE included. */
	c->ioccsz_bytes = ioccsz > 4 ? (ioccsz - 4) * 16 : 0;
	if (c->ioccsz_bytes > 65536)
		c->ioccsz_bytes = 65536;
	if (nvme_tcp_get16(id + 1800)) {
		/* ICDOFF: in-capsule data at an offset; we send it at 0. */
		c->ioccsz_bytes = 0;
	}
	seq_next(c);
}

static void nq_done(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		    int status)
{
	(void)a;
	if (!step_ok(c, cpl, status, "Set Features Number of Queues"))
		return;
	uint32_t nsq = (cpl->dw0 & 0xffff) + 1, ncq = (cpl->dw0 >> 16) + 1;
	uint32_t granted = nsq < ncq ? nsq : ncq;
	if (granted < c->nioq) {
		/* Each reactor needs a queue pair of its own. */
		nvme_ctrlr_seq_fail(c, "the controller grants %u I/O queues; osnapd needs one per "
				    "reactor (%u)", granted, c->nioq);
		return;
	}
	seq_next(c);
}

static void aec_done(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		     int status)
{
	(void)a;
	if (status < 0)
		return;
	/* Optional: without it namespaces changes are just not announced. */
	if (cpl->status >> 1)
		log_info("bdev_nvme %s: the controller refuses namespace notices (status 0x%x)",
			 c->p.name, cpl->status >> 1);
	seq_next(c);
}

static void nslist_done(struct nvme_ctrlr *c, struct nvme_admin_req *a,
			const struct nvme_cqe *cpl, int status)
{
	uint32_t n = 0, prev = 0;

	if (!step_ok(c, cpl, status, "Identify Active Namespace List"))
		return;
	free(c->nsid_list);
	c->nsid_list = calloc(1024, sizeof(uint32_t));
	if (!c->nsid_list) {
		nvme_ctrlr_seq_fail(c, "out of memory");
		return;
	}
	for (int i = 0; i < 1024; i++) {
		uint32_t id = nvme_tcp_get32(a->buf + 4 * i);
		if (!id)
			break;
		/* The list is increasing; anything else is not trusted. */
		if (id <= prev || id == 0xffffffffu) {
			nvme_ctrlr_seq_fail(c, "the active namespace list is not increasing");
			return;
		}
		c->nsid_list[n++] = prev = id;
	}
	c->nsid_count = n;
	c->nsid_next = 0;
	seq_next(c);
}

static void idns_done(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		      int status)
{
	const uint8_t *id = a->buf;
	struct nvme_ns ns = { .nsid = c->nsid_list[c->nsid_next], .ctrlr = c };

	if (!step_ok(c, cpl, status, "Identify Namespace"))
		return;
	uint64_t nsze = 0;
	for (int i = 7; i >= 0; i--)
		nsze = (nsze << 8) | id[i];
	uint8_t flbas = id[26] & 0xf, nlbaf = id[25];
	uint32_t lbaf = nvme_tcp_get32(id + 128 + 4 * (flbas <= nlbaf ? flbas : 0));
	uint32_t lbads = (lbaf >> 16) & 0xff;
	uint16_t ms = (uint16_t)lbaf;
	c->nsid_next++;
	if (!nsze) {
		/* inactive after all: skipped */
		seq_next(c);
		return;
	}
	if (nsze > (UINT64_MAX >> 16)) {
		log_warn("bdev_nvme %s: namespace %u reports %llu blocks: skipped", c->p.name,
			 ns.nsid, (unsigned long long)nsze);
		seq_next(c);
		return;
	}
	if (lbads < 9 || lbads > 16 || ms) {
		log_warn("bdev_nvme %s: namespace %u has a format osnap cannot serve (LBA data "
			 "size 2^%u, %u metadata bytes): skipped", c->p.name, ns.nsid, lbads, ms);
		seq_next(c);
		return;
	}
	ns.block_size = 1u << lbads;
	ns.max_xfer_bytes = c->mdts_bytes;
	ns.oncs = c->oncs;
	ns.vwc = c->vwc;
	ns.num_blocks = nsze;
	memcpy(ns.uuid, id + 104, 16);	/* NGUID */
	for (int i = 0; i < 16; i++)
		ns.has_uuid |= ns.uuid[i] != 0;
	if (nvme_ctrlr_ns_found(c, &ns)) {
		nvme_ctrlr_seq_fail(c, "out of memory");
		return;
	}
	seq_next(c);
}

/* --- I/O queue pairs --- */

static void ioq_connect_done(struct nvme_ctrlr *c, struct nvme_admin_req *a,
			     const struct nvme_cqe *cpl, int status)
{
	if (!step_ok(c, cpl, status, "Fabrics Connect (I/O queue)"))
		return;
	(void)a;
	c->ioq_ready++;
	/* Not from here: this runs inside the poll of an I/O queue pair that
	 * the next step hands to its reactor. */
	if (c->ioq_ready == c->nioq)
		nvme_ctrlr_set_timer(c, 0, seq_next);
}

/* An I/O queue pair finished ICReq/ICResp: send its Connect. */
void nvme_ctrlr_ioq_ic_done(struct nvme_ctrlr *c, uint32_t i)
{
	struct nvme_admin_req *a = &c->ioq_areq[i];
	int rc;

	/* SQSIZE (zero-based) = depth: a queue of depth + 1 entries is full
	 * with depth commands in it. */
	nvme_fabrics_connect(&a->req.sqe, a->buf, (uint16_t)(i + 1), c->io_depth, 0,
			     c->p.hostid, c->cntlid, c->p.subnqn, c->p.hostnqn);
	rc = nvme_admin_send(c, c->ioq_conn[i], a, NVME_TCP_DIR_H2C, NVME_CONNECT_DATA_LEN,
			     ioq_connect_done);
	if (rc)
		nvme_ctrlr_seq_fail(c, "cannot send Connect on I/O queue %u: %s", i + 1, strerror(-rc));
}

/* The admin queue pair finished ICReq/ICResp: send Connect. */
void nvme_ctrlr_aq_ic_done(struct nvme_ctrlr *c)
{
	struct nvme_admin_req *a = &c->areq[0];

	nvme_fabrics_connect(&a->req.sqe, a->buf, 0, NVME_ADMIN_DEPTH - 1,
			     g_nvme_opts.keep_alive_timeout_ms, c->p.hostid, 0xffff, c->p.subnqn,
			     c->p.hostnqn);
	admin(c, NVME_TCP_DIR_H2C, NVME_CONNECT_DATA_LEN, connect_done);
}

/* The steps after the admin Connect, in order. */
enum {
	SEQ_CONNECT,
	SEQ_CAP,
	SEQ_VS,
	SEQ_CC,
	SEQ_RDY,
	SEQ_IDCTRL,
	SEQ_NQ,
	SEQ_AEC,
	SEQ_NSLIST,
	SEQ_IDNS,
	SEQ_IOQ,
	SEQ_DONE,
};

static void seq_next(struct nvme_ctrlr *c)
{
	struct nvme_sqe *sqe = &c->areq[0].req.sqe;

	if (c->seq_failed)
		return;
	if (c->step != SEQ_IDNS)
		c->step++;
	switch (c->step) {
	case SEQ_CAP:
		nvme_fabrics_prop_get(sqe, NVME_REG_CAP, true);
		admin(c, NVME_TCP_DIR_NONE, 0, cap_done);
		return;
	case SEQ_VS:
		nvme_fabrics_prop_get(sqe, NVME_REG_VS, false);
		admin(c, NVME_TCP_DIR_NONE, 0, vs_done);
		return;
	case SEQ_CC:
		/* EN, NVM command set, 4 KiB pages, 64-byte SQEs, 16-byte CQEs */
		nvme_fabrics_prop_set(sqe, NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20));
		admin(c, NVME_TCP_DIR_NONE, 0, cc_done);
		return;
	case SEQ_RDY:
		rdy_timer(c);
		return;
	case SEQ_IDCTRL:
		nvme_cmd_identify(sqe, NVME_CNS_CTRL, 0);
		admin(c, NVME_TCP_DIR_C2H, 4096, idctrl_done);
		return;
	case SEQ_NQ:
		nvme_cmd_set_features(sqe, NVME_FEAT_NUM_QUEUES, (c->nioq - 1) | ((c->nioq - 1) << 16));
		admin(c, NVME_TCP_DIR_NONE, 0, nq_done);
		return;
	case SEQ_AEC:
		/* Namespace Attribute Notices (AEN when namespaces come and go) */
		nvme_cmd_set_features(sqe, NVME_FEAT_ASYNC_EVENT, 1u << 8);
		admin(c, NVME_TCP_DIR_NONE, 0, aec_done);
		return;
	case SEQ_NSLIST:
		nvme_cmd_identify(sqe, NVME_CNS_ACTIVE_NS, 0);
		admin(c, NVME_TCP_DIR_C2H, 4096, nslist_done);
		return;
	case SEQ_IDNS:
		if (c->nsid_next < c->nsid_count) {
			nvme_cmd_identify(sqe, NVME_CNS_NS, c->nsid_list[c->nsid_next]);
			admin(c, NVME_TCP_DIR_C2H, 4096, idns_done);
			return;
		}
		nvme_ctrlr_ns_apply(c);
		if (c->rescan) {
			c->rescan = false;
			nvme_ctrlr_aer_arm(c);
			return;
		}
		c->step = SEQ_IOQ;
		nvme_ctrlr_ioq_connect_all(c);
		return;
	case SEQ_DONE:
		nvme_ctrlr_seq_done(c);
		return;
	default:
		nvme_ctrlr_seq_fail(c, "internal error: connect step %d", c->step);
	}
}

static void attempt_timeout(void *arg)
{
	struct nvme_ctrlr *c = arg;

	c->attempt_timer = NULL;	/* the loop freed it */
	nvme_ctrlr_seq_fail(c, "no answer from %s:%s within %u ms", c->p.traddr, c->p.trsvcid,
			    c->p.connect_timeout_ms);
}

void nvme_ctrlr_seq_rescan(struct nvme_ctrlr *c)
{
	nvme_ctrlr_scan_free(c);
	c->rescan = true;
	c->seq_failed = false;
	c->step = SEQ_NSLIST - 1;
	seq_next(c);
}

/* Start the sequence: a new admin queue pair, TCP connect. */
int nvme_ctrlr_seq_start(struct nvme_ctrlr *c)
{
	struct nvme_tcp_qpair_opts o = {
		.qid = 0, .depth = NVME_ADMIN_DEPTH, .hdgst = c->p.hdgst, .ddgst = c->p.ddgst,
		.incapsule_max = 8192,
	};
	int rc;

	c->seq_failed = false;
	c->step = SEQ_CONNECT;
	c->ioq_ready = 0;
	c->rescan = false;
	nvme_ctrlr_scan_free(c);
	/* A target that accepts and then says nothing must not hold the
	 * attach (or a reconnect) forever. */
	if (c->attempt_timer)
		loop_timer_cancel(c->attempt_timer);
	c->attempt_timer = loop_timer_add(c->p.connect_timeout_ms, attempt_timeout, c);
	c->aq = nvme_tcp_qpair_create(&o);
	if (!c->aq)
		return -ENOMEM;
	c->aw.qp = c->aq;
	rc = nvme_tcp_qpair_connect(c->aq, (struct sockaddr *)&c->sa, c->salen);
	if (rc) {
		snprintf(c->err, sizeof(c->err), "cannot connect to %s:%s: %s", c->p.traddr,
			 c->p.trsvcid, strerror(-rc));
		nvme_ctrlr_seq_fail(c, "%s", c->err);
		return 0;
	}
	nvme_ctrlr_watch(c, c->aq);
	return 0;
}
