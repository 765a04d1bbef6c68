/* RPC methods of the NVMe/TCP initiator, with SPDK's names and keys:
 * bdev_nvme_attach_controller, bdev_nvme_detach_controller,
 * bdev_nvme_get_controllers, bdev_nvme_reset_controller,
 * bdev_nvme_set_options. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "bdev/bdev.h"
#include "bdev/modules/modules.h"
#include "bdev/modules/nvme/nvme_ctrlr.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

/* --- bdev_nvme_attach_controller --- */

struct attach_params {
	const char *name, *trtype, *traddr, *adrfam, *trsvcid, *subnqn, *hostnqn;
	const char *hostaddr, *hostsvcid, *multipath, *psk, *dhchap_key, *dhchap_ctrlr_key;
	uint8_t hostid[16];
	bool has_hostid;
	int32_t priority;
	bool prchk_reftag, prchk_guard, hdgst, ddgst, allow_unrecognized_csi;
	uint64_t fabrics_connect_timeout_us;
	uint32_t num_io_queues;
	int32_t ctrlr_loss_timeout_sec;
	bool has_loss;
	uint32_t reconnect_delay_sec;
	bool has_delay;
	uint32_t fast_io_fail_timeout_sec;
	bool has_fast;
	uint32_t max_bdevs;
};

#define AP struct attach_params
static const struct rpc_param attach_table[] = {
	RPC_REQ_RANGE("name", RPC_T_STRING, AP, name, 1, NVME_CTRLR_NAME_MAX - 12),
	RPC_REQ("trtype", RPC_T_STRING, AP, trtype),
	RPC_REQ_RANGE("traddr", RPC_T_STRING, AP, traddr, 1, 63),
	RPC_OPT_RANGE("adrfam", RPC_T_STRING, AP, adrfam, 0, 7),
	RPC_OPT_RANGE("trsvcid", RPC_T_STRING, AP, trsvcid, 0, 15),
	RPC_OPT("priority", RPC_T_I32, AP, priority),
	RPC_OPT_RANGE("subnqn", RPC_T_STRING, AP, subnqn, 0, NVME_NQN_MAX),
	RPC_OPT_RANGE("hostnqn", RPC_T_STRING, AP, hostnqn, 0, NVME_NQN_MAX),
	RPC_OPT_HAS("hostid", RPC_T_UUID, AP, hostid, has_hostid),
	RPC_OPT("hostaddr", RPC_T_STRING, AP, hostaddr),
	RPC_OPT("hostsvcid", RPC_T_STRING, AP, hostsvcid),
	RPC_OPT("prchk_reftag", RPC_T_BOOL, AP, prchk_reftag),
	RPC_OPT("prchk_guard", RPC_T_BOOL, AP, prchk_guard),
	RPC_OPT("hdgst", RPC_T_BOOL, AP, hdgst),
	RPC_OPT("ddgst", RPC_T_BOOL, AP, ddgst),
	RPC_OPT_RANGE("fabrics_connect_timeout_us", RPC_T_U64, AP, fabrics_connect_timeout_us, 0,
		      3600000000),
	RPC_OPT("multipath", RPC_T_STRING, AP, multipath),
	RPC_OPT_RANGE("num_io_queues", RPC_T_U32, AP, num_io_queues, 0, OSNAP_MAX_REACTORS),
	RPC_OPT_HAS_RANGE("ctrlr_loss_timeout_sec", RPC_T_I32, AP, ctrlr_loss_timeout_sec, has_loss,
			  -1, INT32_MAX),
	RPC_OPT_HAS("reconnect_delay_sec", RPC_T_U32, AP, reconnect_delay_sec, has_delay),
	RPC_OPT_HAS("fast_io_fail_timeout_sec", RPC_T_U32, AP, fast_io_fail_timeout_sec, has_fast),
	RPC_OPT("psk", RPC_T_STRING, AP, psk),
	RPC_OPT_RANGE("max_bdevs", RPC_T_U32, AP, max_bdevs, 1, 1024),
	RPC_OPT("dhchap_key", RPC_T_STRING, AP, dhchap_key),
	RPC_OPT("dhchap_ctrlr_key", RPC_T_STRING, AP, dhchap_ctrlr_key),
	RPC_OPT("allow_unrecognized_csi", RPC_T_BOOL, AP, allow_unrecognized_csi),
};
#undef AP

/* SPDK's reconnect parameter rules (bdev_nvme_check_io_error_resiliency_params). */
static const char *check_reconnect(int32_t loss, uint32_t delay, uint32_t fast)
{
	if (loss == 0) {
		if (delay || fast)
			return "reconnect_delay_sec and fast_io_fail_timeout_sec need "
			       "ctrlr_loss_timeout_sec other than 0";
		return NULL;
	}
	if (!delay)
		return "reconnect_delay_sec must be non-zero when ctrlr_loss_timeout_sec is not 0";
	if (loss > 0 && delay > (uint32_t)loss)
		return "reconnect_delay_sec must not exceed ctrlr_loss_timeout_sec";
	if (fast && loss > 0 && fast > (uint32_t)loss)
		return "fast_io_fail_timeout_sec must not exceed ctrlr_loss_timeout_sec";
	if (fast && fast < delay)
		return "fast_io_fail_timeout_sec must not be less than reconnect_delay_sec";
	return NULL;
}

static void default_hostnqn(const uint8_t hostid[16], char *out, size_t len)
{
	char u[37];

	uuid_format16(hostid, u);
	snprintf(out, len, "nqn.2014-08.org.nvmexpress:uuid:%s", u);
}

static void rpc_attach(struct rpc_request *req, json_t *params)
{
	struct attach_params a = { .adrfam = "ipv4", .trsvcid = "4420", .max_bdevs = 128 };
	struct nvme_ctrlr_params p;
	const char *bad;
	char err[512];
	int rc;

	RPC_DECODE_OR_RETURN(req, params, attach_table, a);
	if (strcasecmp(a.trtype, "tcp") != 0) {
		if (strcasecmp(a.trtype, "rdma") == 0 || strcasecmp(a.trtype, "nvda_tcp") == 0)
			rpc_send_invalid_params(req, "trtype %s is not supported: osnap's NVMe-oF "
						"initiator speaks NVMe/TCP only (use -t tcp)", a.trtype);
		else
			rpc_send_invalid_params(req, "trtype %s is not supported (only tcp)", a.trtype);
		return;
	}
	if (strcasecmp(a.adrfam, "ipv4") && strcasecmp(a.adrfam, "ipv6")) {
		rpc_send_invalid_params(req, "adrfam %s is not supported with tcp (ipv4 or ipv6)",
					a.adrfam);
		return;
	}
	if (!a.subnqn || !a.subnqn[0]) {
		rpc_send_invalid_params(req, "subnqn is required for NVMe/TCP");
		return;
	}
	if (a.psk || a.dhchap_key || a.dhchap_ctrlr_key) {
		rpc_send_invalid_params(req, "%s is not supported: no TLS or DH-HMAC-CHAP yet",
					a.psk ? "psk" : a.dhchap_key ? "dhchap_key" : "dhchap_ctrlr_key");
		return;
	}
	if (a.prchk_reftag || a.prchk_guard) {
		rpc_send_invalid_params(req, "%s is not supported: no protection information",
					a.prchk_reftag ? "prchk_reftag" : "prchk_guard");
		return;
	}
	if ((a.hostaddr && a.hostaddr[0]) || (a.hostsvcid && a.hostsvcid[0])) {
		rpc_send_invalid_params(req, "%s is not supported: the kernel chooses the source "
					"address", a.hostaddr ? "hostaddr" : "hostsvcid");
		return;
	}
	if (a.multipath && strcmp(a.multipath, "disable") && strcmp(a.multipath, "failover") &&
	    strcmp(a.multipath, "multipath")) {
		rpc_send_invalid_params(req, "multipath must be disable, failover or multipath");
		return;
	}
	memset(&p, 0, sizeof(p));
	p.ctrlr_loss_timeout_sec = a.has_loss ? a.ctrlr_loss_timeout_sec :
				   g_nvme_opts.ctrlr_loss_timeout_sec;
	p.reconnect_delay_sec = a.has_delay ? a.reconnect_delay_sec : g_nvme_opts.reconnect_delay_sec;
	p.fast_io_fail_timeout_sec = a.has_fast ? a.fast_io_fail_timeout_sec :
				     g_nvme_opts.fast_io_fail_timeout_sec;
	bad = check_reconnect(p.ctrlr_loss_timeout_sec, p.reconnect_delay_sec,
			      p.fast_io_fail_timeout_sec);
	if (bad) {
		rpc_send_invalid_params(req, "%s", bad);
		return;
	}
	snprintf(p.name, sizeof(p.name), "%s", a.name);
	snprintf(p.traddr, sizeof(p.traddr), "%s", a.traddr);
	snprintf(p.trsvcid, sizeof(p.trsvcid), "%s", a.trsvcid[0] ? a.trsvcid : "4420");
	snprintf(p.adrfam, sizeof(p.adrfam), "%s", strcasecmp(a.adrfam, "ipv6") ? "ipv4" : "ipv6");
	snprintf(p.subnqn, sizeof(p.subnqn), "%s", a.subnqn);
	if (a.has_hostid) {
		memcpy(p.hostid, a.hostid, 16);
		p.has_hostid = true;
	} else {
		uuid_generate_random16(p.hostid);
	}
	if (a.hostnqn && a.hostnqn[0])
		snprintf(p.hostnqn, sizeof(p.hostnqn), "%s", a.hostnqn);
	else
		default_hostnqn(p.hostid, p.hostnqn, sizeof(p.hostnqn));
	p.hdgst = a.hdgst;
	p.ddgst = a.ddgst;
	p.num_io_queues = a.num_io_queues;
	/* SPDK's fabrics_connect_timeout_us; 10 s when not given */
	p.connect_timeout_ms = a.fabrics_connect_timeout_us ?
			       (uint32_t)(a.fabrics_connect_timeout_us / 1000 + 1) : 10000;
	rc = nvme_ctrlr_attach(&p, req, a.max_bdevs, err, sizeof(err));
	if (rc == -EINVAL)
		rpc_send_invalid_params(req, "%s", err);
	else if (rc)
		rpc_send_errno(req, rc, "bdev_nvme_attach_controller: %s", err);
	/* else answered when the attach ends */
}

/* --- detach, get, reset --- */

struct detach_params {
	const char *name, *trtype, *traddr, *adrfam, *trsvcid, *subnqn, *hostaddr, *hostsvcid;
};

#define DP struct detach_params
static const struct rpc_param detach_table[] = {
	RPC_REQ("name", RPC_T_STRING, DP, name),
	RPC_OPT("trtype", RPC_T_STRING, DP, trtype),
	RPC_OPT("traddr", RPC_T_STRING, DP, traddr),
	RPC_OPT("adrfam", RPC_T_STRING, DP, adrfam),
	RPC_OPT("trsvcid", RPC_T_STRING, DP, trsvcid),
	RPC_OPT("subnqn", RPC_T_STRING, DP, subnqn),
	RPC_OPT("hostaddr", RPC_T_STRING, DP, hostaddr),
	RPC_OPT("hostsvcid", RPC_T_STRING, DP, hostsvcid),
};
#undef DP

/* The controller named name, or NULL after answering -ENODEV. */
static struct nvme_ctrlr *find_or_answer(struct rpc_request *req, const char *name)
{
	struct nvme_ctrlr *c = nvme_ctrlr_find(name);

	if (!c)
		rpc_send_errno(req, -ENODEV, "no NVMe controller named %s", name);
	return c;
}

static bool differs(const char *given, const char *have)
{
	return given && given[0] && strcasecmp(given, have) != 0;
}

static void rpc_detach(struct rpc_request *req, json_t *params)
{
	struct detach_params d = { 0 };
	struct nvme_ctrlr *c;
	char err[512];
	int rc;

	RPC_DECODE_OR_RETURN(req, params, detach_table, d);
	c = find_or_answer(req, d.name);
	if (!c)
		return;
	/* The path given, if any, must be this controller's (one path each). */
	if (differs(d.trtype, "tcp") || differs(d.traddr, c->p.traddr) ||
	    differs(d.adrfam, c->p.adrfam) || differs(d.trsvcid, c->p.trsvcid) ||
	    differs(d.subnqn, c->p.subnqn)) {
		rpc_send_errno(req, -ENODEV, "controller %s has no such path", d.name);
		return;
	}
	rc = nvme_ctrlr_detach(c, err, sizeof(err));
	if (rc) {
		rpc_send_errno(req, rc, "%s", err);
		return;
	}
	rpc_send_bool(req, true);
}

struct name_opt_params {
	const char *name;
	uint32_t cntlid;
};

static const struct rpc_param get_table[] = {
	RPC_OPT("name", RPC_T_STRING, struct name_opt_params, name),
};

static void rpc_get_controllers(struct rpc_request *req, json_t *params)
{
	struct name_opt_params g = { 0 };
	json_t *arr;

	RPC_DECODE_OR_RETURN(req, params, get_table, g);
	if (g.name) {
		struct nvme_ctrlr *c = find_or_answer(req, g.name);
		if (!c)
			return;
		arr = json_array();
		json_array_append_new(arr, nvme_ctrlr_info_json(c));
		rpc_send_result(req, arr);
		return;
	}
	arr = json_array();
	for (struct nvme_ctrlr *c = nvme_ctrlr_first(); c; c = c->next)
		json_array_insert_new(arr, 0, nvme_ctrlr_info_json(c));
	rpc_send_result(req, arr);
}

static const struct rpc_param reset_table[] = {
	RPC_REQ("name", RPC_T_STRING, struct name_opt_params, name),
	RPC_OPT("cntlid", RPC_T_U32, struct name_opt_params, cntlid),
};

static void rpc_reset(struct rpc_request *req, json_t *params)
{
	struct name_opt_params r = { 0 };
	struct nvme_ctrlr *c;
	char err[256];
	int rc;

	RPC_DECODE_OR_RETURN(req, params, reset_table, r);
	c = find_or_answer(req, r.name);
	if (!c)
		return;
	rc = nvme_ctrlr_reset(c, req, err, sizeof(err));
	if (rc)
		rpc_send_errno(req, rc, "%s", err);
}

/* --- bdev_nvme_set_options --- */

struct opts_params {
	const char *action_on_timeout;
	uint64_t timeout_us, timeout_admin_us;
	uint32_t keep_alive_timeout_ms;
	bool has_ka;
	int32_t ctrlr_loss_timeout_sec;
	bool has_loss;
	uint32_t reconnect_delay_sec, fast_io_fail_timeout_sec, io_queue_requests;
	bool has_delay, has_fast, has_ioqr;
	int32_t bdev_retry_count;
	bool has_retry;
	int64_t ignored;	/* accepted, nothing to do in osnap */
	bool ignored_b;
};

#define OP struct opts_params
#define IGN(key) RPC_OPT(key, RPC_T_I64, OP, ignored)
#define IGNB(key) RPC_OPT(key, RPC_T_BOOL, OP, ignored_b)
static const struct rpc_param opts_table[] = {
	RPC_OPT("action_on_timeout", RPC_T_STRING, OP, action_on_timeout),
	RPC_OPT("timeout_us", RPC_T_U64, OP, timeout_us),
	RPC_OPT("timeout_admin_us", RPC_T_U64, OP, timeout_admin_us),
	RPC_OPT_HAS_RANGE("keep_alive_timeout_ms", RPC_T_U32, OP, keep_alive_timeout_ms, has_ka, 0,
			  3600000),
	RPC_OPT_HAS_RANGE("ctrlr_loss_timeout_sec", RPC_T_I32, OP, ctrlr_loss_timeout_sec, has_loss,
			  -1, INT32_MAX),
	RPC_OPT_HAS("reconnect_delay_sec", RPC_T_U32, OP, reconnect_delay_sec, has_delay),
	RPC_OPT_HAS("fast_io_fail_timeout_sec", RPC_T_U32, OP, fast_io_fail_timeout_sec, has_fast),
	RPC_OPT_HAS_RANGE("io_queue_requests", RPC_T_U32, OP, io_queue_requests, has_ioqr, 0, 65536),
	RPC_OPT_HAS_RANGE("bdev_retry_count", RPC_T_I32, OP, bdev_retry_count, has_retry, -1,
			  INT32_MAX),
	/* Tuning knobs of SPDK's polling, arbitration, RDMA and statistics:
	 * they describe nothing osnap's TCP initiator could do differently. */
	IGN("arbitration_burst"), IGN("low_priority_weight"), IGN("medium_priority_weight"),
	IGN("high_priority_weight"), IGN("nvme_adminq_poll_period_us"),
	IGN("nvme_ioq_poll_period_us"), IGNB("delay_cmd_submit"), IGN("transport_retry_count"),
	IGN("transport_ack_timeout"), IGNB("disable_auto_failback"), IGNB("generate_uuids"),
	IGN("transport_tos"), IGNB("nvme_error_stat"), IGN("rdma_srq_size"), IGNB("io_path_stat"),
	IGNB("allow_accel_sequence"), IGN("rdma_max_cq_size"), IGN("rdma_cm_event_timeout_ms"),
	IGNB("rdma_umr_per_io"), IGN("tcp_connect_timeout_ms"), IGNB("enable_flush"),
};
#undef IGN
#undef IGNB
#undef OP

static void rpc_set_options(struct rpc_request *req, json_t *params)
{
	struct opts_params o = { 0 };
	struct nvme_global_opts n = g_nvme_opts;
	const char *bad;

	RPC_DECODE_OR_RETURN(req, params, opts_table, o);
	if (nvme_ctrlr_first()) {
		rpc_send_errno(req, -EPERM, "bdev_nvme_set_options: NVMe controllers exist already");
		return;
	}
	if (o.action_on_timeout && strcmp(o.action_on_timeout, "none")) {
		rpc_send_invalid_params(req, "action_on_timeout %s is not supported: osnap has no "
					"command timeout (only none)", o.action_on_timeout);
		return;
	}
	if (o.timeout_us || o.timeout_admin_us) {
		rpc_send_invalid_params(req, "%s is not supported: osnap has no command timeout "
					"(only 0)", o.timeout_us ? "timeout_us" : "timeout_admin_us");
		return;
	}
	if (o.has_ka)
		n.keep_alive_timeout_ms = o.keep_alive_timeout_ms;
	if (o.has_loss)
		n.ctrlr_loss_timeout_sec = o.ctrlr_loss_timeout_sec;
	if (o.has_delay)
		n.reconnect_delay_sec = o.reconnect_delay_sec;
	if (o.has_fast)
		n.fast_io_fail_timeout_sec = o.fast_io_fail_timeout_sec;
	if (o.has_ioqr)
		n.io_queue_requests = o.io_queue_requests;
	if (o.has_retry)
		n.bdev_retry_count = o.bdev_retry_count;
	bad = check_reconnect(n.ctrlr_loss_timeout_sec, n.reconnect_delay_sec,
			      n.fast_io_fail_timeout_sec);
	if (bad) {
		rpc_send_invalid_params(req, "%s", bad);
		return;
	}
	g_nvme_opts = n;
	rpc_send_bool(req, true);
}

static const struct rpc_method nvme_methods[] = {
	{ "bdev_nvme_attach_controller", rpc_attach, RPC_RUNTIME },
	{ "bdev_nvme_detach_controller", rpc_detach, RPC_RUNTIME },
	{ "bdev_nvme_get_controllers", rpc_get_controllers, RPC_RUNTIME },
	{ "bdev_nvme_reset_controller", rpc_reset, RPC_RUNTIME },
	{ "bdev_nvme_set_options", rpc_set_options, RPC_STARTUP | RPC_RUNTIME },
};

/* Register the bdev_nvme_* methods. */
void bdev_nvme_rpc_register(void)
{
	rpc_register_table(nvme_methods, sizeof(nvme_methods) / sizeof(nvme_methods[0]));
}
