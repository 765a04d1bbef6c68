/* NVMe/TCP controllers: attach, detach, reset and reconnect, keep-alive,
 * and what bdev_nvme_get_controllers shows (see nvme_ctrlr.h). Main
 * thread only. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "bdev/modules/modules.h"
#include "bdev/modules/nvme/nvme_ctrlr.h"
#include "bdev/modules/nvme/nvme_ctrlr_priv.h"
#include "bdev/modules/nvme/nvme_fabrics.h"
#include "core/event_loop.h"
#include "core/log.h"
#include "rpc/rpc.h"

#define RECONNECT_MIN_MS 250	/* between attempts when reconnect_delay_sec is 0 */

struct nvme_global_opts g_nvme_opts = {
	.keep_alive_timeout_ms = 10000,
	.ctrlr_loss_timeout_sec = 0,
	.reconnect_delay_sec = 0,
	.fast_io_fail_timeout_sec = 0,
	.io_queue_requests = 0,
	.bdev_retry_count = 3,
};

static struct nvme_ctrlr *g_ctrlrs;
static uint64_t g_next_id = 1;

struct nvme_ctrlr *nvme_ctrlr_first(void)
{
	return g_ctrlrs;
}

struct nvme_ctrlr *nvme_ctrlr_find(const char *name)
{
	for (struct nvme_ctrlr *c = g_ctrlrs; c; c = c->next)
		if (strcmp(c->p.name, name) == 0)
			return c;
	return NULL;
}

static struct nvme_ctrlr *find_by_id(uint64_t id)
{
	for (struct nvme_ctrlr *c = g_ctrlrs; c; c = c->next)
		if (c->id == id)
			return c;
	return NULL;
}

const char *nvme_ctrlr_state_name(enum nvme_ctrlr_state s)
{
	switch (s) {
	case NVME_CTRLR_CONNECTING: return "connecting";
	case NVME_CTRLR_LIVE: return "enabled";
	case NVME_CTRLR_RESETTING: return "resetting";
	case NVME_CTRLR_LOST: return "failed";
	case NVME_CTRLR_DELETING: return "deleting";
	}
	return "?";
}

/* --- timers --- */

static void timer_fired(void *arg)
{
	struct nvme_ctrlr *c = arg;
	void (*fn)(struct nvme_ctrlr *) = c->timer_fn;

	c->timer = NULL;	/* the loop freed it */
	c->timer_fn = NULL;
	if (fn)
		fn(c);
}

void nvme_ctrlr_set_timer(struct nvme_ctrlr *c, uint64_t ms, void (*fn)(struct nvme_ctrlr *c))
{
	if (c->timer)
		loop_timer_cancel(c->timer);
	c->timer_fn = fn;
	c->timer = loop_timer_add(ms, timer_fired, c);
	if (!c->timer)
		log_err("bdev_nvme %s: cannot arm a timer", c->p.name);
}

/* --- queue pairs in the main loop --- */

static struct nvme_watch *watch_of(struct nvme_ctrlr *c, struct nvme_tcp_qpair *qp)
{
	if (c->aw.qp == qp)
		return &c->aw;
	for (uint32_t i = 0; c->iow && i < c->nioq; i++)
		if (c->iow[i].qp == qp)
			return &c->iow[i];
	return NULL;
}

static void unwatch(struct nvme_watch *w)
{
	if (w->lf)
		loop_del_fd(w->lf);
	w->lf = NULL;
}

static void watch_event(void *arg, uint32_t events)
{
	struct nvme_watch *w = arg;
	struct nvme_ctrlr *c = w->c;
	bool was_ready = nvme_tcp_qpair_state(w->qp) == NVME_TCP_QP_READY;
	int rc;

	(void)events;
	rc = nvme_tcp_qpair_poll(w->qp);
	if (rc < 0) {
		unwatch(w);
		if (w->idx < 0 && c->state == NVME_CTRLR_LIVE) {
			log_warn("bdev_nvme %s: admin queue lost: %s", c->p.name,
				 nvme_tcp_qpair_error(w->qp));
			nvme_ctrlr_conn_lost(c);
		} else {
			nvme_ctrlr_seq_fail(c, "%s queue: %s", w->idx < 0 ? "admin" : "I/O",
					    nvme_tcp_qpair_error(w->qp));
		}
		return;
	}
	if (!was_ready && nvme_tcp_qpair_state(w->qp) == NVME_TCP_QP_READY) {
		if (w->idx < 0)
			nvme_ctrlr_aq_ic_done(c);
		else
			nvme_ctrlr_ioq_ic_done(c, (uint32_t)w->idx);
	}
	nvme_ctrlr_watch(c, w->qp);
}

void nvme_ctrlr_watch(struct nvme_ctrlr *c, struct nvme_tcp_qpair *qp)
{
	struct nvme_watch *w = watch_of(c, qp);
	uint32_t ev;

	if (!w || nvme_tcp_qpair_fd(qp) < 0 || nvme_tcp_qpair_state(qp) == NVME_TCP_QP_FAILED)
		return;
	ev = EPOLLIN | (nvme_tcp_qpair_want_write(qp) ? EPOLLOUT : 0);
	if (w->lf) {
		loop_mod_fd(w->lf, ev);
		return;
	}
	w->lf = loop_add_fd(nvme_tcp_qpair_fd(qp), ev, watch_event, w);
	if (!w->lf)
		nvme_ctrlr_seq_fail(c, "cannot watch a socket: %s", strerror(errno));
}

/* Forget the I/O queue pairs' connect state (the queue pairs are gone or
 * handed over). */
static void free_ioq_conn(struct nvme_ctrlr *c)
{
	free(c->ioq_conn);
	free(c->iow);
	free(c->ioq_areq);
	c->ioq_conn = NULL;
	c->iow = NULL;
	c->ioq_areq = NULL;
}

/* Tear down what the current attempt connected on the main thread. */
static void teardown_attempt(struct nvme_ctrlr *c)
{
	if (c->attempt_timer)
		loop_timer_cancel(c->attempt_timer);
	c->attempt_timer = NULL;
	unwatch(&c->aw);
	nvme_tcp_qpair_destroy(c->aq);
	c->aq = NULL;
	c->aw.qp = NULL;
	for (uint32_t i = 0; c->ioq_conn && i < c->nioq; i++) {
		unwatch(&c->iow[i]);
		nvme_tcp_qpair_destroy(c->ioq_conn[i]);
	}
	free_ioq_conn(c);
	for (int i = 0; i < NVME_ADMIN_REQS; i++)
		c->areq[i].busy = false;
}

void nvme_ctrlr_ioq_connect_all(struct nvme_ctrlr *c)
{
	uint32_t mqes = (uint32_t)(c->cap & 0xffff);
	uint32_t depth = g_nvme_opts.io_queue_requests ? g_nvme_opts.io_queue_requests : 128;

	/* At most SQSIZE commands in flight on a queue of SQSIZE + 1 entries
	 * (a full queue keeps one entry free), and SQSIZE <= MQES. */
	if (depth > mqes)
		depth = mqes;
	if (depth > NVME_IO_DEPTH_MAX)
		depth = NVME_IO_DEPTH_MAX;
	if (depth < 2) {
		nvme_ctrlr_seq_fail(c, "the controller's queues are too small (CAP.MQES %u)", mqes);
		return;
	}
	c->io_depth = (uint16_t)depth;
	c->ioq_conn = calloc(c->nioq, sizeof(*c->ioq_conn));
	c->iow = calloc(c->nioq, sizeof(*c->iow));
	c->ioq_areq = calloc(c->nioq, sizeof(*c->ioq_areq));
	if (!c->ioq_conn || !c->iow || !c->ioq_areq) {
		nvme_ctrlr_seq_fail(c, "out of memory");
		return;
	}
	for (uint32_t i = 0; i < c->nioq; i++) {
		struct nvme_tcp_qpair_opts o = {
			.qid = (uint16_t)(i + 1), .depth = (uint16_t)depth,
			.hdgst = c->p.hdgst, .ddgst = c->p.ddgst, .incapsule_max = c->ioccsz_bytes,
		};
		c->iow[i].c = c;
		c->iow[i].idx = (int)i;
		c->ioq_conn[i] = nvme_tcp_qpair_create(&o);
		if (!c->ioq_conn[i]) {
			nvme_ctrlr_seq_fail(c, "out of memory");
			return;
		}
		c->iow[i].qp = c->ioq_conn[i];
		int rc = nvme_tcp_qpair_connect(c->ioq_conn[i], (struct sockaddr *)&c->sa, c->salen);
		if (rc) {
			nvme_ctrlr_seq_fail(c, "cannot connect I/O queue %u: %s", i + 1, strerror(-rc));
			return;
		}
		nvme_ctrlr_watch(c, c->ioq_conn[i]);
	}
}

static void answer_attach(struct nvme_ctrlr *c)
{
	json_t *names = json_array();

	for (uint32_t i = 0; i < c->nns && i < c->max_bdevs; i++)
		if (c->ns[i]->bdev)
			json_array_append_new(names, json_string(c->ns[i]->bdev->name));
	rpc_send_result(c->attach_req, names);
	c->attach_req = NULL;
}

static void ka_fire(struct nvme_ctrlr *c);

static void ka_done(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		    int status)
{
	(void)a;
	if (status == 0 && (cpl->status >> 1))
		log_warn("bdev_nvme %s: Keep Alive failed with status 0x%x", c->p.name,
			 cpl->status >> 1);
}

static void ka_timer(void *arg)
{
	struct nvme_ctrlr *c = arg;

	c->ka_timer = NULL;
	ka_fire(c);
}

static void ka_arm(struct nvme_ctrlr *c)
{
	uint32_t ms = g_nvme_opts.keep_alive_timeout_ms;

	if (!ms || c->ka_timer)
		return;
	c->ka_timer = loop_timer_add(ms / 2 ? ms / 2 : 1, ka_timer, c);
}

static void ka_fire(struct nvme_ctrlr *c)
{
	struct nvme_admin_req *a = &c->areq[1];

	if (c->state == NVME_CTRLR_LIVE && c->aq && a->busy) {
		/* Sent half a timeout ago and still unanswered: a target that
		 * vanished without closing the connection. */
		log_warn("bdev_nvme %s: no Keep Alive response in %u ms; reconnecting", c->p.name,
			 g_nvme_opts.keep_alive_timeout_ms / 2);
		nvme_ctrlr_conn_lost(c);
	} else if (c->state == NVME_CTRLR_LIVE && c->aq) {
		nvme_cmd_keep_alive(&a->req.sqe);
		if (nvme_admin_send(c, c->aq, a, NVME_TCP_DIR_NONE, 0, ka_done))
			log_warn("bdev_nvme %s: cannot send Keep Alive", c->p.name);
	}
	ka_arm(c);
}

/* Hand the connected I/O queue pairs to the reactors. */
static void hand_over(struct nvme_ctrlr *c)
{
	for (uint32_t i = 0; i < c->nioq; i++) {
		struct nvme_ioq_adopt *m = malloc(sizeof(*m));
		unwatch(&c->iow[i]);
		if (!m) {
			/* the reactor keeps holding its I/O; the next reset retries */
			log_err("bdev_nvme %s: out of memory handing queue %u over", c->p.name, i + 1);
			nvme_tcp_qpair_destroy(c->ioq_conn[i]);
			continue;
		}
		m->ioq = c->ioq[i];
		m->qp = c->ioq_conn[i];
		m->sock = nvme_sock_default_impl();
		thread_send_msg(reactor_get((int)i), nvme_ioq_msg_adopt, m);
	}
	free_ioq_conn(c);
}

void nvme_ctrlr_seq_done(struct nvme_ctrlr *c)
{
	char err[256];

	if (c->attempt_timer)
		loop_timer_cancel(c->attempt_timer);
	c->attempt_timer = NULL;
	hand_over(c);
	c->state = NVME_CTRLR_LIVE;
	c->fast_failed = false;
	if (!c->attached) {
		c->attached = true;
		for (uint32_t i = 0; i < c->nns; i++)
			if (nvme_ns_bdev_register(c->ns[i], err, sizeof(err)))
				log_err("bdev_nvme %s: %s", c->p.name, err);
		log_info("bdev_nvme %s: attached to %s:%s %s (cntlid %u, %u namespaces, %u I/O "
			 "queues of %u, digests header %s data %s)", c->p.name, c->p.traddr,
			 c->p.trsvcid, c->p.subnqn, c->cntlid, c->nns, c->nioq, c->io_depth,
			 c->p.hdgst ? "on" : "off", c->p.ddgst ? "on" : "off");
		if (c->attach_req)
			answer_attach(c);
	} else {
		log_info("bdev_nvme %s: reconnected (cntlid %u)", c->p.name, c->cntlid);
		if (c->reset_req) {
			rpc_send_bool(c->reset_req, true);
			c->reset_req = NULL;
		}
	}
	ka_arm(c);
	nvme_ctrlr_aer_arm(c);
}

static void free_ctrlr(struct nvme_ctrlr *c)
{
	for (struct nvme_ctrlr **pp = &g_ctrlrs; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			break;
		}
	if (c->timer)
		loop_timer_cancel(c->timer);
	if (c->ka_timer)
		loop_timer_cancel(c->ka_timer);
	teardown_attempt(c);
	for (int r = 0; r < OSNAP_MAX_REACTORS; r++)
		if (c->ioq[r])
			thread_send_msg(reactor_get(r), nvme_ioq_msg_destroy, c->ioq[r]);
	free(c->nsid_list);
	nvme_ctrlr_scan_free(c);
	nvme_ctrlr_ns_free_all(c);
	free(c);
}

static void send_ioqs(struct nvme_ctrlr *c, msg_fn fn)
{
	for (uint32_t i = 0; i < c->nioq; i++)
		if (c->ioq[i])
			thread_send_msg(reactor_get((int)i), fn, c->ioq[i]);
}

static void reconnect_attempt(struct nvme_ctrlr *c)
{
	c->reconnect_attempts++;
	if (nvme_ctrlr_seq_start(c))
		nvme_ctrlr_seq_fail(c, "out of memory");
}

void nvme_ctrlr_seq_failed(struct nvme_ctrlr *c)
{
	uint64_t elapsed_s;

	teardown_attempt(c);
	if (!c->attached) {
		log_err("bdev_nvme %s: attach failed: %s", c->p.name, c->err);
		if (c->attach_req)
			rpc_send_errno(c->attach_req, -EIO, "bdev_nvme_attach_controller %s: %s",
				       c->p.name, c->err);
		c->attach_req = NULL;
		free_ctrlr(c);
		return;
	}
	if (c->state == NVME_CTRLR_DELETING)
		return;
	elapsed_s = (now_ns() - c->reset_start_ns) / 1000000000ull;
	if (c->p.ctrlr_loss_timeout_sec >= 0 && elapsed_s >= (uint64_t)c->p.ctrlr_loss_timeout_sec) {
		log_err("bdev_nvme %s: reconnect failed (%s); controller lost after %llu s: its I/O "
			"fails from now on", c->p.name, c->err, (unsigned long long)elapsed_s);
		c->state = NVME_CTRLR_LOST;
		send_ioqs(c, nvme_ioq_msg_fail_io);
		if (c->reset_req) {
			rpc_send_errno(c->reset_req, -EIO, "reset of %s failed: %s", c->p.name, c->err);
			c->reset_req = NULL;
		}
		return;
	}
	if (c->p.fast_io_fail_timeout_sec && !c->fast_failed &&
	    elapsed_s >= c->p.fast_io_fail_timeout_sec) {
		log_warn("bdev_nvme %s: fast_io_fail_timeout_sec passed: failing I/O while "
			 "reconnecting", c->p.name);
		c->fast_failed = true;
		send_ioqs(c, nvme_ioq_msg_fail_io);
	}
	log_info("bdev_nvme %s: reconnect failed (%s); next attempt in %u s", c->p.name, c->err,
		 c->p.reconnect_delay_sec);
	nvme_ctrlr_set_timer(c, c->p.reconnect_delay_sec ? c->p.reconnect_delay_sec * 1000ull :
			     RECONNECT_MIN_MS, reconnect_attempt);
}

void nvme_ctrlr_conn_lost(struct nvme_ctrlr *c)
{
	if (c->state != NVME_CTRLR_LIVE && c->state != NVME_CTRLR_LOST)
		return;
	c->state = NVME_CTRLR_RESETTING;
	c->resets++;
	c->reset_start_ns = now_ns();
	/* The reactors drop their queue pairs and hold the I/O they had. */
	send_ioqs(c, nvme_ioq_msg_hold_io);
	/* Not from inside a poll: from a timer. */
	teardown_attempt(c);
	nvme_ctrlr_set_timer(c, 0, reconnect_attempt);
}

void nvme_ctrlr_ioq_failed(void *id)
{
	struct nvme_ctrlr *c = find_by_id((uint64_t)(uintptr_t)id);

	if (c && c->state == NVME_CTRLR_LIVE) {
		log_warn("bdev_nvme %s: an I/O queue was lost; reconnecting", c->p.name);
		nvme_ctrlr_conn_lost(c);
	}
}

/* --- RPC entry points --- */

static int resolve(struct nvme_ctrlr *c, char *err, size_t errlen)
{
	char *end;
	unsigned long port = strtoul(c->p.trsvcid, &end, 10);

	if (!c->p.trsvcid[0] || *end || port == 0 || port > 65535) {
		snprintf(err, errlen, "trsvcid '%s' is not a TCP port", c->p.trsvcid);
		return -EINVAL;
	}
	if (strcmp(c->p.adrfam, "ipv6") == 0) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&c->sa;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		if (inet_pton(AF_INET6, c->p.traddr, &s6->sin6_addr) != 1) {
			snprintf(err, errlen, "traddr '%s' is not an IPv6 address", c->p.traddr);
			return -EINVAL;
		}
		c->salen = sizeof(*s6);
		return 0;
	}
	struct sockaddr_in *s4 = (struct sockaddr_in *)&c->sa;
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, c->p.traddr, &s4->sin_addr) != 1) {
		snprintf(err, errlen, "traddr '%s' is not an IPv4 address (names are not resolved)",
			 c->p.traddr);
		return -EINVAL;
	}
	c->salen = sizeof(*s4);
	return 0;
}

int nvme_ctrlr_attach(const struct nvme_ctrlr_params *p, struct rpc_request *req,
		      uint32_t max_bdevs, char *err, size_t errlen)
{
	struct nvme_ctrlr *c;
	int rc, nr = reactor_count();
	uint32_t nioq = p->num_io_queues ? p->num_io_queues : (uint32_t)nr;

	if (nvme_ctrlr_find(p->name)) {
		snprintf(err, errlen, "a controller named %s exists already", p->name);
		return -EEXIST;
	}
	if (nr < 1) {
		snprintf(err, errlen, "no reactor runs I/O");
		return -ENODEV;
	}
	if (nioq != (uint32_t)nr) {
		snprintf(err, errlen, "num_io_queues %u: osnapd uses one I/O queue per reactor (%d)",
			 nioq, nr);
		return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->p = *p;
	rc = resolve(c, err, errlen);
	if (rc) {
		free(c);
		return rc;
	}
	c->id = g_next_id++;
	c->nioq = nioq;
	c->max_bdevs = max_bdevs;
	c->aw.c = c;
	c->aw.idx = -1;
	for (int r = 0; r < nr; r++) {
		c->ioq[r] = calloc(1, sizeof(struct nvme_ioq));
		if (!c->ioq[r]) {
			for (int k = 0; k < r; k++)
				free(c->ioq[k]);
			free(c);
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		c->ioq[r]->ctrlr = c;
		c->ioq[r]->ctrlr_id = c->id;
		c->ioq[r]->reactor = r;
		atomic_init(&c->ioq[r]->sock_impl, -1);	/* no queue pair yet */
	}
	c->state = NVME_CTRLR_CONNECTING;
	c->attach_req = req;
	c->next = g_ctrlrs;
	g_ctrlrs = c;
	rc = nvme_ctrlr_seq_start(c);
	if (rc) {
		c->attach_req = NULL;
		free_ctrlr(c);
		snprintf(err, errlen, "out of memory");
		return rc;
	}
	return 0;
}

int nvme_ctrlr_detach(struct nvme_ctrlr *c, char *err, size_t errlen)
{
	if (!c->attached) {
		snprintf(err, errlen, "controller %s is still attaching", c->p.name);
		return -EBUSY;
	}
	for (uint32_t i = 0; i < c->nns; i++) {
		struct bdev *b = c->ns[i]->bdev;
		if (b && (b->claimed_by || b->open_count)) {
			snprintf(err, errlen, "bdev %s is in use%s%s", b->name,
				 b->claimed_by ? " by " : "", b->claimed_by ? b->claimed_by : "");
			return -EBUSY;
		}
	}
	c->state = NVME_CTRLR_DELETING;
	for (uint32_t i = 0; i < c->nns; i++) {
		if (!c->ns[i]->bdev)
			continue;
		char name[BDEV_NAME_MAX];
		snprintf(name, sizeof(name), "%s", c->ns[i]->bdev->name);
		c->ns[i]->bdev = NULL;
		if (bdev_unregister(name, "nvme", err, errlen))
			log_err("bdev_nvme %s: deleting %s: %s", c->p.name, name, err);
	}
	if (c->reset_req) {
		rpc_send_errno(c->reset_req, -ECANCELED, "controller %s was detached", c->p.name);
		c->reset_req = NULL;
	}
	log_info("bdev_nvme %s: detached", c->p.name);
	free_ctrlr(c);
	return 0;
}

int nvme_ctrlr_reset(struct nvme_ctrlr *c, struct rpc_request *req, char *err, size_t errlen)
{
	if (c->reset_req || c->state == NVME_CTRLR_CONNECTING || c->state == NVME_CTRLR_RESETTING) {
		snprintf(err, errlen, "controller %s is %s", c->p.name,
			 c->reset_req ? "being reset already" : "connecting");
		return -EBUSY;
	}
	c->reset_req = req;
	nvme_ctrlr_conn_lost(c);
	return 0;
}

json_t *nvme_ctrlr_info_json(struct nvme_ctrlr *c)
{
	json_t *trid = json_pack("{s:s, s:s, s:s, s:s, s:s}", "trtype", "TCP", "adrfam",
				 strcmp(c->p.adrfam, "ipv6") == 0 ? "IPv6" : "IPv4", "traddr",
				 c->p.traddr, "trsvcid", c->p.trsvcid, "subnqn", c->p.subnqn);
	json_t *host = json_pack("{s:s, s:s, s:s}", "nqn", c->p.hostnqn, "addr", "", "svcid", "");
	json_t *ctrlr = json_pack("{s:s, s:o, s:I, s:o}", "state", nvme_ctrlr_state_name(c->state),
				  "trid", trid, "cntlid", (json_int_t)c->cntlid, "host", host);
	json_t *osnap = json_pack("{s:I, s:I, s:I, s:b, s:b, s:s, s:s, s:s, s:I, s:I}",
				  "io_queues", (json_int_t)c->nioq, "io_queue_depth",
				  (json_int_t)c->io_depth, "in_capsule_data_size",
				  (json_int_t)c->ioccsz_bytes, "header_digest", c->p.hdgst,
				  "data_digest", c->p.ddgst, "model_number", c->mn, "serial_number",
				  c->sn, "firmware_revision", c->fr, "resets", (json_int_t)c->resets,
				  "reconnect_attempts", (json_int_t)c->reconnect_attempts);
	json_object_set_new(osnap, "async_events", json_integer((json_int_t)c->aens));
	/* the socket implementation of each I/O queue (null: not connected yet) */
	json_t *impls = json_array();
	for (uint32_t i = 0; i < c->nioq; i++) {
		int impl = c->ioq[i] ? atomic_load_explicit(&c->ioq[i]->sock_impl,
							     memory_order_relaxed) : -1;
		json_array_append_new(impls, impl < 0 ? json_null() :
				      json_string(nvme_sock_impl_name((enum nvme_sock_impl)impl)));
	}
	json_object_set_new(osnap, "io_queue_sock_impl", impls);
	json_object_set_new(ctrlr, "osnap", osnap);
	return json_pack("{s:s, s:[o]}", "name", c->p.name, "ctrlrs", ctrlr);
}

/* Service shutdown (see modules.h): the reactors have stopped, so their
 * queues are torn down from here. */
void bdev_nvme_shutdown(void)
{
	while (g_ctrlrs) {
		struct nvme_ctrlr *c = g_ctrlrs;
		g_ctrlrs = c->next;
		if (c->timer)
			loop_timer_cancel(c->timer);
		if (c->ka_timer)
			loop_timer_cancel(c->ka_timer);
		teardown_attempt(c);
		for (int r = 0; r < OSNAP_MAX_REACTORS; r++) {
			struct nvme_ioq *q = c->ioq[r];
			if (!q)
				continue;
			q->fail_io = true;
			nvme_tcp_qpair_destroy(q->qp);
			free(q);
		}
		if (c->attach_req)
			rpc_send_errno(c->attach_req, -ESHUTDOWN, "osnapd is shutting down");
		if (c->reset_req)
			rpc_send_errno(c->reset_req, -ESHUTDOWN, "osnapd is shutting down");
		for (uint32_t i = 0; i < c->nns; i++)
			if (c->ns[i]->bdev)
				c->ns[i]->bdev->ctx = NULL;
		free(c->nsid_list);
		nvme_ctrlr_scan_free(c);
		nvme_ctrlr_ns_free_all(c);
		free(c);
	}
}
