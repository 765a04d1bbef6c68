/* NVMe emulation RPCs (SNAP's nvme_subsystem_*, nvme_namespace_*,
 * nvme_controller_*). */
#include "service.h"
#include "ctrl_rpc.h"
#include "ctrl_msix.h"
#include "fn_select.h"
#include "nvme/nvme_json.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


#define DECODE(tbl, p) RPC_DECODE_OR_RETURN(req, params, tbl, p)

/* --- subsystems --- */

struct subsys_create {
	const char *nqn, *serial, *model;
	uint32_t nn, mnan;
	bool single_ctrl;
};

static const struct rpc_param subsys_create_dec[] = {
	RPC_REQ_RANGE("nqn", RPC_T_STRING, struct subsys_create, nqn, 1, 223),
	{ .name = "serial_number", .type = RPC_T_STRING, .offset = offsetof(struct subsys_create, serial),
	  .has_offset = RPC_NO_HAS, .ranged = true, .min = 1, .max = 20, .alias = "sn" },
	{ .name = "model_number", .type = RPC_T_STRING, .offset = offsetof(struct subsys_create, model),
	  .has_offset = RPC_NO_HAS, .ranged = true, .min = 1, .max = 40, .alias = "mn" },
	RPC_OPT_RANGE("nn", RPC_T_U32, struct subsys_create, nn, 1, 0xfffffffe),
	RPC_OPT_RANGE("mnan", RPC_T_U32, struct subsys_create, mnan, 1, 0xfffffffe),
	RPC_OPT("single_ctrl", RPC_T_BOOL, struct subsys_create, single_ctrl),
};

static void rpc_subsystem_create(struct rpc_request *req, json_t *params)
{
	struct subsys_create p = { .nn = 0xfffffffe, .mnan = 1024 };
	char err[256];
	DECODE(subsys_create_dec, p);
	struct nvme_subsys_params sp = { p.nqn, p.serial, p.model, p.nn, p.mnan, p.single_ctrl };
	int rc = nvme_subsystem_create(&sp, err, sizeof(err));
	if (rc)
		ctrl_rpc_fail(req, rc, err);
	else
		rpc_send_bool(req, true);
}

struct subsys_destroy {
	const char *nqn;
	bool force;
};

static const struct rpc_param subsys_destroy_dec[] = {
	RPC_REQ("nqn", RPC_T_STRING, struct subsys_destroy, nqn),
	RPC_OPT("force", RPC_T_BOOL, struct subsys_destroy, force),
};

/* A controller's list entry (nvme_ctrl_json) names subsystem nqn. */
static bool of_subsystem(json_t *entry, const void *nqn)
{
	return !strcmp(json_string_value(json_object_get(entry, "nqn")), nqn);
}

struct force_destroy {
	struct rpc_request *req;
	char nqn[224];
};

static void force_destroy_step(void *arg, int rc, const char *msg);

static void force_destroy_next(struct force_destroy *f)
{
	char err[256];
	struct nvme_subsystem *s = nvme_subsystem_find(f->nqn);
	if (!s) {
		rpc_send_bool(f->req, true);
		free(f);
		return;
	}
	for (struct nvme_ctrl *c = nvme_ctrl_first(); c; c = nvme_ctrl_next(c)) {
		json_t *j = nvme_ctrl_json(c);
		bool mine = of_subsystem(j, f->nqn);
		json_decref(j);
		if (mine) {
			nvme_ctrl_destroy(c, true, force_destroy_step, f);
			return;
		}
	}
	ctrl_rpc_answer(f->req, nvme_subsystem_destroy(f->nqn, true, err, sizeof(err)), err);
	free(f);
}

static void force_destroy_step(void *arg, int rc, const char *msg)
{
	struct force_destroy *f = arg;
	if (rc) {
		rpc_send_errno(f->req, rc, "%s", msg ? msg : "controller destroy failed");
		free(f);
		return;
	}
	force_destroy_next(f);
}

static void rpc_subsystem_destroy(struct rpc_request *req, json_t *params)
{
	struct subsys_destroy p = { 0 };
	char err[256];
	DECODE(subsys_destroy_dec, p);
	if (!nvme_subsystem_find(p.nqn)) {
		rpc_send_errno(req, -ENODEV, "subsystem %s does not exist", p.nqn);
		return;
	}
	if (!p.force) {
		ctrl_rpc_answer(req, nvme_subsystem_destroy(p.nqn, false, err, sizeof(err)), err);
		return;
	}
	struct force_destroy *f = calloc(1, sizeof(*f));
	if (!f) {
		rpc_send_errno(req, -ENOMEM, "out of memory");
		return;
	}
	f->req = req;
	snprintf(f->nqn, sizeof(f->nqn), "%s", p.nqn);
	force_destroy_next(f);
}

static void rpc_subsystem_list(struct rpc_request *req, json_t *params)
{
	char err[256];
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	json_t *arr = json_array();
	for (struct nvme_subsystem *s = nvme_subsystem_first(); s; s = nvme_subsystem_next(s))
		json_array_append_new(arr, nvme_subsystem_json(s));
	rpc_send_result(req, arr);
}

/* --- namespaces --- */

struct ns_create {
	const char *nqn, *bdev, *bdev_type;
	uint32_t nsid;
	uint8_t uuid[16], nguid[16];
	bool has_uuid;
	const char *nguid_s, *eui64_s;
};

static const struct rpc_param ns_create_dec[] = {
	RPC_REQ("nqn", RPC_T_STRING, struct ns_create, nqn),
	RPC_REQ_RANGE("nsid", RPC_T_U32, struct ns_create, nsid, 1, 0xfffffffe),
	{ .name = "bdev_name", .type = RPC_T_STRING, .offset = offsetof(struct ns_create, bdev),
	  .has_offset = RPC_NO_HAS, .required = true, .alias = "bdev" },
	RPC_OPT_HAS("uuid", RPC_T_UUID, struct ns_create, uuid, has_uuid),
	RPC_OPT("nguid", RPC_T_STRING, struct ns_create, nguid_s),
	RPC_OPT("eui64", RPC_T_STRING, struct ns_create, eui64_s),
	RPC_OPT("bdev_type", RPC_T_STRING, struct ns_create, bdev_type),
};

/* hex string of n bytes (dashes allowed) */
static int parse_hex(const char *s, uint8_t *out, size_t n)
{
	size_t k = 0;
	for (; *s && k < 2 * n; s++) {
		if (*s == '-' || *s == ':')
			continue;
		int v = (*s >= '0' && *s <= '9') ? *s - '0' : (*s | 32) >= 'a' && (*s | 32) <= 'f' ? (*s | 32) - 'a' + 10 : -1;
		if (v < 0)
			return -EINVAL;
		out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | v : v << 4);
		k++;
	}
	return (k == 2 * n && !*s) ? 0 : -EINVAL;
}

static void rpc_namespace_create(struct rpc_request *req, json_t *params)
{
	struct ns_create p = { 0 };
	uint8_t eui[8];
	char err[256];
	DECODE(ns_create_dec, p);
	if (p.bdev_type && strcmp(p.bdev_type, "spdk")) {
		rpc_send_invalid_params(req, "invalid parameter 'bdev_type': only \"spdk\" block devices exist in osnap");
		return;
	}
	if (p.nguid_s && parse_hex(p.nguid_s, p.nguid, 16)) {
		rpc_send_invalid_params(req, "invalid parameter 'nguid': must be 32 hex digits");
		return;
	}
	if (p.eui64_s && parse_hex(p.eui64_s, eui, 8)) {
		rpc_send_invalid_params(req, "invalid parameter 'eui64': must be 16 hex digits");
		return;
	}
	struct nvme_ns_params np = { p.nqn, p.nsid, p.bdev, p.has_uuid ? p.uuid : NULL,
				     p.nguid_s ? p.nguid : NULL, p.eui64_s ? eui : NULL };
	ctrl_rpc_answer(req, nvme_namespace_create(&np, err, sizeof(err)), err);
}

struct ns_ref {
	const char *nqn;
	uint32_t nsid;
};

static const struct rpc_param ns_destroy_dec[] = {
	RPC_REQ("nqn", RPC_T_STRING, struct ns_ref, nqn),
	RPC_REQ_RANGE("nsid", RPC_T_U32, struct ns_ref, nsid, 1, 0xfffffffe),
};

static void rpc_namespace_destroy(struct rpc_request *req, json_t *params)
{
	struct ns_ref p = { 0 };
	char err[256];
	DECODE(ns_destroy_dec, p);
	ctrl_rpc_answer(req, nvme_namespace_destroy(p.nqn, p.nsid, err, sizeof(err)), err);
}

static const struct rpc_param ns_list_dec[] = {
	RPC_OPT("nqn", RPC_T_STRING, struct ns_ref, nqn),
	RPC_OPT_RANGE("nsid", RPC_T_U32, struct ns_ref, nsid, 1, 0xfffffffe),
};

static void rpc_namespace_list(struct rpc_request *req, json_t *params)
{
	struct ns_ref p = { 0 };
	char err[256];
	DECODE(ns_list_dec, p);
	json_t *arr = json_array();
	int rc = nvme_namespace_list(p.nqn, p.nsid, arr, err, sizeof(err));
	if (rc) {
		json_decref(arr);
		rpc_send_errno(req, rc, "%s", err);
	} else {
		rpc_send_result(req, arr);
	}
}

/* --- controllers --- */

/* nvme_family and its handlers nvme_family_rpc_modify, _rpc_io_stats, _rpc_debug_stats
 * and _rpc_msix_reclaim */
CTRL_RPC_FAMILY(nvme_family, "NVMe controller", nvme_ctrl)

struct ctrl_create {
	const char *nqn, *ctrl_id;
	struct fn_selector sel;
	uint32_t num_queues, mdts, fw_slots, quirks, num_msix;
	bool has_num_msix;
	int32_t compare, compare_write, dsm, write_zeroes;
	bool suspended, admin_only, dynamic_msix, live_update_listener;
	const char *snapshot;
};

static const struct rpc_param ctrl_create_dec[] = {
	RPC_REQ("nqn", RPC_T_STRING, struct ctrl_create, nqn),
	CTRL_RPC_ID_NEW(struct ctrl_create, ctrl_id),
	FN_SELECTOR_PARAMS(struct ctrl_create, sel),
	RPC_OPT_RANGE("num_queues", RPC_T_U32, struct ctrl_create, num_queues, 0, 128),
	RPC_OPT_RANGE("mdts", RPC_T_U32, struct ctrl_create, mdts, 1, 7),
	RPC_OPT_RANGE("fw_slots", RPC_T_U32, struct ctrl_create, fw_slots, 1, 7),
	RPC_OPT_RANGE("compare", RPC_T_I32, struct ctrl_create, compare, 0, 1),
	RPC_OPT_RANGE("compare_write", RPC_T_I32, struct ctrl_create, compare_write, 0, 1),
	RPC_OPT_RANGE("dsm", RPC_T_I32, struct ctrl_create, dsm, 0, 1),
	RPC_OPT_RANGE("write_zeroes", RPC_T_I32, struct ctrl_create, write_zeroes, 0, 1),
	RPC_OPT("suspended", RPC_T_BOOL, struct ctrl_create, suspended),
	RPC_OPT("admin_only", RPC_T_BOOL, struct ctrl_create, admin_only),
	RPC_OPT("quirks", RPC_T_U32, struct ctrl_create, quirks),
	RPC_OPT("dynamic_msix", RPC_T_BOOL, struct ctrl_create, dynamic_msix),
	/* SNAP's --vf_num_msix; "num_msix" is osnap's earlier key */
	{ .name = "vf_num_msix", .type = RPC_T_U32, .offset = offsetof(struct ctrl_create, num_msix),
	  .has_offset = offsetof(struct ctrl_create, has_num_msix), .alias = "num_msix" },
	RPC_OPT("snapshot", RPC_T_STRING, struct ctrl_create, snapshot),
	RPC_OPT("live_update_listener", RPC_T_BOOL, struct ctrl_create, live_update_listener),
};

static void rpc_controller_create(struct rpc_request *req, json_t *params)
{
	struct ctrl_create p = { .mdts = 7, .fw_slots = 4, .compare = -1, .compare_write = -1,
				 .dsm = -1, .write_zeroes = -1 };
	char err[256];
	DECODE(ctrl_create_dec, p);
	if (p.snapshot || p.live_update_listener) {
		rpc_send_errno(req, -ENOTSUP, "%s is not supported by osnap (no controller snapshots or live update yet)",
			       p.snapshot ? "snapshot" : "live_update_listener");
		return;
	}
	struct emu_function *fn = fn_select_or_reply(req, &p.sel, EMU_TYPE_NVME);
	struct ctrl_msix m;	/* a VF's vectors (vf_num_msix), given back if the create fails */
	if (!fn || !ctrl_msix_prepare(req, fn, p.dynamic_msix, p.has_num_msix, p.num_msix, &m))
		return;
	uint16_t nmsix = emu_fn_num_msix(fn);
	if (p.num_queues && p.num_queues > (uint32_t)(nmsix > 1 ? nmsix - 1 : 1)) {
		ctrl_msix_undo(&m);
		ctrl_rpc_too_few_vectors(req, fn, p.num_queues);
		return;
	}
	struct nvme_ctrl_params cp = {
		.nqn = p.nqn, .name = p.ctrl_id, .fn = fn, .num_queues = p.num_queues ? p.num_queues : 1,
		.mdts = p.mdts, .fw_slots = p.fw_slots, .compare = p.compare,
		.compare_write = p.compare_write, .dsm = p.dsm, .write_zeroes = p.write_zeroes,
		.suspended = p.suspended, .admin_only = p.admin_only, .quirks = p.quirks,
	};
	struct nvme_ctrl *c;
	int rc = nvme_ctrl_create(&cp, &c, err, sizeof(err));
	if (rc) {
		ctrl_msix_undo(&m);
		ctrl_rpc_fail(req, rc, err);
		return;
	}
	ctrl_msix_created(fn, p.dynamic_msix);
	rpc_send_result(req, json_pack("{s:s, s:i, s:s}", "ctrl_id", nvme_ctrl_name(c),
				       "cntlid", nvme_ctrl_cntlid(c), "vuid", emu_fn_vuid(fn)));
}

struct ctrl_ref {
	const char *ctrl_id;
	bool force, release_msix, admin_only, live_update;
	uint32_t timeout_ms, nsid;
	const char *nqn, *filename;
};

#define DECODE_FIND(tbl, p) CTRL_RPC_DECODE_FIND(req, params, &nvme_family, tbl, p)

static const struct rpc_param ctrl_destroy_dec[] = {
	CTRL_RPC_ID_REQ(struct ctrl_ref, ctrl_id),
	RPC_OPT("force", RPC_T_BOOL, struct ctrl_ref, force),
	RPC_OPT("release_msix", RPC_T_BOOL, struct ctrl_ref, release_msix),
};

static void rpc_controller_destroy(struct rpc_request *req, json_t *params)
{
	struct ctrl_ref p = { 0 };
	struct nvme_ctrl *c = DECODE_FIND(ctrl_destroy_dec, p);
	if (!c)
		return;
	/* force: a VF the host enabled; release_msix: its vectors go back */
	void *d = ctrl_msix_destroy_begin(req, nvme_ctrl_name(c), p.force, p.release_msix);
	if (d)
		nvme_ctrl_destroy(c, p.force, ctrl_msix_destroyed, d);
}

static const struct rpc_param ctrl_suspend_dec[] = {
	CTRL_RPC_ID_REQ(struct ctrl_ref, ctrl_id),
	RPC_OPT("timeout_ms", RPC_T_U32, struct ctrl_ref, timeout_ms),
	RPC_OPT("admin_only", RPC_T_BOOL, struct ctrl_ref, admin_only),
	RPC_OPT("live_update_notifier", RPC_T_BOOL, struct ctrl_ref, live_update),
};

static void rpc_controller_suspend(struct rpc_request *req, json_t *params)
{
	struct ctrl_ref p = { 0 };
	DECODE(ctrl_suspend_dec, p);
	if (p.live_update) {
		rpc_send_errno(req, -EOPNOTSUPP, "live_update_notifier: live update is not supported by osnap");
		return;
	}
	struct nvme_ctrl *c = ctrl_rpc_find(req, &nvme_family, p.ctrl_id);
	if (c)
		nvme_ctrl_suspend(c, p.timeout_ms, p.admin_only, ctrl_rpc_done, req);
}

static const struct rpc_param ctrl_resume_dec[] = {
	CTRL_RPC_ID_REQ(struct ctrl_ref, ctrl_id),
	RPC_OPT("live_update", RPC_T_BOOL, struct ctrl_ref, live_update),
};

static void rpc_controller_resume(struct rpc_request *req, json_t *params)
{
	struct ctrl_ref p = { 0 };
	char err[256];
	struct nvme_ctrl *c = DECODE_FIND(ctrl_resume_dec, p);
	if (!c)
		return;
	if (p.live_update) {
		rpc_send_errno(req, -EOPNOTSUPP, "live_update: live update is not supported by osnap");
		return;
	}
	ctrl_rpc_answer(req, nvme_ctrl_resume(c, err, sizeof(err)), err);
}

static const struct rpc_param ctrl_ns_dec[] = {
	CTRL_RPC_ID_REQ(struct ctrl_ref, ctrl_id),
	RPC_REQ_RANGE("nsid", RPC_T_U32, struct ctrl_ref, nsid, 1, 0xfffffffe),
};

static void rpc_controller_attach_ns(struct rpc_request *req, json_t *params)
{
	struct ctrl_ref p = { 0 };
	struct nvme_ctrl *c = DECODE_FIND(ctrl_ns_dec, p);
	if (c)
		nvme_ctrl_attach_ns(c, p.nsid, ctrl_rpc_done, req);
}

static void rpc_controller_detach_ns(struct rpc_request *req, json_t *params)
{
	struct ctrl_ref p = { 0 };
	struct nvme_ctrl *c = DECODE_FIND(ctrl_ns_dec, p);
	if (c)
		nvme_ctrl_detach_ns(c, p.nsid, ctrl_rpc_done, req);
}

static const struct rpc_param ctrl_list_dec[] = {
	CTRL_RPC_ID_OPT(struct ctrl_ref, ctrl_id),
	RPC_OPT("nqn", RPC_T_STRING, struct ctrl_ref, nqn),
};

static void rpc_controller_list(struct rpc_request *req, json_t *params)
{
	struct ctrl_ref p = { 0 };
	DECODE(ctrl_list_dec, p);
	/* an unknown ctrl_id is the error named before an unknown nqn */
	if (p.ctrl_id && !ctrl_rpc_find(req, &nvme_family, p.ctrl_id))
		return;
	if (p.nqn && !nvme_subsystem_find(p.nqn)) {
		rpc_send_errno(req, -ENODEV, "subsystem %s does not exist", p.nqn);
		return;
	}
	ctrl_rpc_list(req, &nvme_family, p.ctrl_id, p.nqn ? of_subsystem : NULL, p.nqn);
}

static const struct rpc_param snapshot_dec[] = {
	CTRL_RPC_ID_REQ(struct ctrl_ref, ctrl_id),
	RPC_REQ("filename", RPC_T_STRING, struct ctrl_ref, filename),
};

static void rpc_controller_snapshot_get(struct rpc_request *req, json_t *params)
{
	struct ctrl_ref p = { 0 };
	if (DECODE_FIND(snapshot_dec, p))
		rpc_send_errno(req, -ENOTSUP, "controller snapshots are not supported by osnap yet");
}

static const struct rpc_method nvme_methods[] = {
	{ "nvme_subsystem_create", rpc_subsystem_create, RPC_RUNTIME },
	{ "nvme_subsystem_destroy", rpc_subsystem_destroy, RPC_RUNTIME },
	{ "nvme_subsystem_list", rpc_subsystem_list, RPC_RUNTIME },
	{ "nvme_namespace_create", rpc_namespace_create, RPC_RUNTIME },
	{ "nvme_namespace_destroy", rpc_namespace_destroy, RPC_RUNTIME },
	{ "nvme_namespace_list", rpc_namespace_list, RPC_RUNTIME },
	{ "nvme_controller_create", rpc_controller_create, RPC_RUNTIME },
	{ "nvme_controller_destroy", rpc_controller_destroy, RPC_RUNTIME },
	{ "nvme_controller_suspend", rpc_controller_suspend, RPC_RUNTIME },
	{ "nvme_controller_resume", rpc_controller_resume, RPC_RUNTIME },
	{ "nvme_controller_attach_ns", rpc_controller_attach_ns, RPC_RUNTIME },
	{ "nvme_controller_detach_ns", rpc_controller_detach_ns, RPC_RUNTIME },
	{ "nvme_controller_list", rpc_controller_list, RPC_RUNTIME },
	{ "nvme_controller_modify", nvme_family_rpc_modify, RPC_RUNTIME },
	{ "nvme_controller_dbg_io_stats_get", nvme_family_rpc_io_stats, RPC_RUNTIME },
	{ "nvme_controller_dbg_debug_stats_get", nvme_family_rpc_debug_stats, RPC_RUNTIME },
	{ "nvme_controller_vfs_msix_reclaim", nvme_family_rpc_msix_reclaim, RPC_RUNTIME },
	{ "nvme_controller_snapshot_get", rpc_controller_snapshot_get, RPC_RUNTIME },
};

void nvme_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(nvme_methods));
	config_register_subsystem("nvme", nvme_write_config);
}
