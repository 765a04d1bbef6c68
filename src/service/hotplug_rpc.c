/* PCIe hot-plug RPCs (SNAP's): the two-step API (virtio_blk_function_create,
 * nvme_function_create, *_controller_hotplug, *_controller_hotunplug,
 * *_function_destroy) and the legacy one-step API
 * (*_emulation_device_attach, emulation_device_detach_prepare,
 * emulation_device_detach). The device plane does the work (emu_hotplug.h);
 * here: the parameters, and the answers, which come when the VMM's QMP
 * conversation is over. */
#include "service.h"
#include "emu/emu_hotplug.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"
#include "virtio_blk/vblk.h"
#include "virtio_blk/vblk_json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DECODE(tbl, p) RPC_DECODE_OR_RETURN(req, params, tbl, p)

static const char *type_name(enum emu_type t)
{
	return t == EMU_TYPE_NVME ? "NVMe" : "virtio-blk";
}

/* --- creating a function --- */

struct create_p {
	const char *emu_manager, *qmp, *bdev, *version;
	struct emu_hotplug_spec spec;
	uint32_t total_vf, num_queues, queue_depth;
	bool transitional_device;
};

#define SPEC_PARAMS \
	RPC_OPT("emu_manager", RPC_T_STRING, struct create_p, emu_manager), \
	RPC_OPT_RANGE("qmp", RPC_T_STRING, struct create_p, qmp, 0, EMU_HP_QMP_MAX - 1), \
	RPC_OPT_HAS("id", RPC_T_U16, struct create_p, spec.id, spec.has_id), \
	RPC_OPT_HAS("vid", RPC_T_U16, struct create_p, spec.vid, spec.has_vid), \
	RPC_OPT_HAS("ssid", RPC_T_U16, struct create_p, spec.ssid, spec.has_ssid), \
	RPC_OPT_HAS("ssvid", RPC_T_U16, struct create_p, spec.ssvid, spec.has_ssvid), \
	RPC_OPT_HAS("revid", RPC_T_U8, struct create_p, spec.revid, spec.has_revid), \
	RPC_OPT_HAS_RANGE("class_code", RPC_T_U32, struct create_p, spec.class_code, spec.has_class_code, 0, \
			  0xffffff), \
	RPC_OPT_RANGE("num_msix", RPC_T_U16, struct create_p, spec.num_msix, 1, 2048), \
	RPC_OPT("total_vf", RPC_T_U32, struct create_p, total_vf)

static const struct rpc_param fn_create_dec[] = {
	SPEC_PARAMS,
};

static const struct rpc_param vblk_attach_dec[] = {
	SPEC_PARAMS,
	RPC_OPT("bdev", RPC_T_STRING, struct create_p, bdev),
	RPC_OPT_RANGE("num_queues", RPC_T_U32, struct create_p, num_queues, 1, 62),
	RPC_OPT_RANGE("queue_depth", RPC_T_U32, struct create_p, queue_depth, 1, 256),
	RPC_OPT("transitional_device", RPC_T_BOOL, struct create_p, transitional_device),
};

static const struct rpc_param nvme_attach_dec[] = {
	SPEC_PARAMS,
	RPC_OPT_RANGE("num_queues", RPC_T_U32, struct create_p, num_queues, 1, 31),
	RPC_OPT_RANGE("version", RPC_T_STRING, struct create_p, version, 1, 16),
};

/* The checks every creation makes; false after answering. */
static bool create_ok(struct rpc_request *req, struct create_p *p)
{
	if (p->total_vf) {
		rpc_send_errno(req, -EOPNOTSUPP, "invalid parameter 'total_vf': hot-plugged PFs do not support SR-IOV");
		return false;
	}
	if (p->bdev) {
		rpc_send_errno(req, -EOPNOTSUPP, "bdev: osnap attaches no block device to a function; create its "
			       "controller with --bdev");
		return false;
	}
	if (p->version && strcmp(p->version, "1.4")) {
		rpc_send_errno(req, -EOPNOTSUPP, "version %s: osnap's NVMe controllers implement 1.4", p->version);
		return false;
	}
	if (p->transitional_device) {
		rpc_send_errno(req, -EOPNOTSUPP, "transitional_device: osnap's virtio-blk functions are modern only");
		return false;
	}
	p->spec.qmp = p->qmp;
	p->spec.num_queues = p->num_queues;
	p->spec.queue_depth = p->queue_depth;
	return true;
}

static json_t *fn_result(struct emu_function *fn, const char *note)
{
	json_t *o = emulation_fn_entry(fn);
	if (note)
		json_object_set_new(o, "note", json_string(note));
	return o;
}

static void function_create(struct rpc_request *req, json_t *params, enum emu_type t)
{
	struct create_p p = { .spec.type = t };
	char err[300];
	struct emu_function *fn;
	DECODE(fn_create_dec, p);
	if (!create_ok(req, &p))
		return;
	int rc = emu_hotplug_create(&p.spec, &fn, err, sizeof(err));
	if (rc == -EINVAL)
		rpc_send_invalid_params(req, "%s", err);
	else if (rc)
		rpc_send_errno(req, rc, "%s", err);
	else
		rpc_send_result(req, fn_result(fn, NULL));
}

static void rpc_vblk_function_create(struct rpc_request *req, json_t *params)
{
	function_create(req, params, EMU_TYPE_VBLK);
}

static void rpc_nvme_function_create(struct rpc_request *req, json_t *params)
{
	function_create(req, params, EMU_TYPE_NVME);
}

/* --- plugging and unplugging --- */

struct op {
	struct rpc_request *req;
	struct emu_function *fn;
	bool attach;		/* a legacy attach: the function goes again when the plug fails */
};

static void op_done(void *arg, int rc, const char *msg)
{
	struct op *o = arg;
	char err[300];
	if (rc && o->attach) {
		if (emu_hotplug_destroy(o->fn, true, err, sizeof(err)))
			rpc_send_errno(o->req, rc, "%s (and the function stays: %s)", msg, err);
		else
			rpc_send_errno(o->req, rc, "%s", msg);
	} else if (rc) {
		rpc_send_errno(o->req, rc, "%s", msg);
	} else {
		rpc_send_result(o->req, fn_result(o->fn, msg));
	}
	free(o);
}

static struct op *op_new(struct rpc_request *req, struct emu_function *fn, bool attach)
{
	struct op *o = malloc(sizeof(*o));
	if (!o) {
		rpc_send_errno(req, -ENOMEM, "out of memory");
		return NULL;
	}
	*o = (struct op){ req, fn, attach };
	return o;
}

/* A vhost-user function's controller's queue count: device_add's num-queues. */
static uint32_t vhost_user_queues(struct emu_function *fn)
{
	const char *name = emu_fn_ctrl_id(fn);
	struct vblk_ctrl *c = name && emu_fn_type(fn) == EMU_TYPE_VBLK ? vblk_ctrl_find(name) : NULL;
	if (!c)
		return 0;
	json_t *j = vblk_ctrl_json(c);
	uint32_t n = (uint32_t)json_integer_value(json_object_get(j, "num_queues"));
	json_decref(j);
	return n;
}

/* Check and start a plug or an unplug of fn; answers the request. */
static void start_op(struct rpc_request *req, struct emu_function *fn, bool plug, bool wait, bool attach)
{
	char err[300];
	int rc = emu_hotplug_check(fn, plug, err, sizeof(err));
	if (rc) {
		rpc_send_errno(req, rc, "%s", err);
		return;
	}
	struct op *o = op_new(req, fn, attach);
	if (!o)
		return;
	if (plug)
		emu_hotplug_plug(fn, vhost_user_queues(fn), op_done, o);
	else
		emu_hotplug_unplug(fn, wait, op_done, o);
}

struct ctrl_p {
	const char *ctrl_id;
	bool wait_for_done;
};

static const struct rpc_param ctrl_dec[] = {
	{ .name = "ctrl_id", .type = RPC_T_STRING, .offset = offsetof(struct ctrl_p, ctrl_id),
	  .has_offset = RPC_NO_HAS, .required = true, .alias = "ctrl" },
	RPC_OPT("wait_for_done", RPC_T_BOOL, struct ctrl_p, wait_for_done),
};

/* The function of controller ctrl_id of type t, or NULL after answering. */
static struct emu_function *ctrl_function(struct rpc_request *req, const char *ctrl_id, enum emu_type t)
{
	for (struct emu_function *pf = emu_pf_first(); pf; pf = emu_pf_next(pf)) {
		const char *id = emu_fn_ctrl_id(pf);
		if (id && !strcasecmp(id, ctrl_id) && emu_fn_type(pf) == t)
			return pf;
		for (int i = 0; i < emu_fn_num_vfs(pf); i++) {
			struct emu_function *vf = emu_fn_vf(pf, i);
			id = emu_fn_ctrl_id(vf);
			if (id && !strcasecmp(id, ctrl_id) && emu_fn_type(vf) == t) {
				rpc_send_errno(req, -EINVAL, "controller %s is on VF %s: only hot-plugged PFs are "
					       "plugged and unplugged", ctrl_id, emu_fn_vuid(vf));
				return NULL;
			}
		}
	}
	rpc_send_errno(req, -ENODEV, "%s controller %s does not exist", type_name(t), ctrl_id);
	return NULL;
}

static void ctrl_op(struct rpc_request *req, json_t *params, enum emu_type t, bool plug)
{
	struct ctrl_p p = { 0 };
	DECODE(ctrl_dec, p);
	struct emu_function *fn = ctrl_function(req, p.ctrl_id, t);
	if (fn)
		start_op(req, fn, plug, p.wait_for_done, false);
}

static void rpc_vblk_hotplug(struct rpc_request *req, json_t *params)
{
	ctrl_op(req, params, EMU_TYPE_VBLK, true);
}

static void rpc_vblk_hotunplug(struct rpc_request *req, json_t *params)
{
	ctrl_op(req, params, EMU_TYPE_VBLK, false);
}

static void rpc_nvme_hotplug(struct rpc_request *req, json_t *params)
{
	ctrl_op(req, params, EMU_TYPE_NVME, true);
}

static void rpc_nvme_hotunplug(struct rpc_request *req, json_t *params)
{
	ctrl_op(req, params, EMU_TYPE_NVME, false);
}

/* --- destroying a function --- */

struct fn_p {
	const char *vuid, *ctrl_id;
	uint32_t vhca_id;
	bool has_vhca_id, force;
};

static const struct rpc_param fn_destroy_dec[] = {
	RPC_REQ("vuid", RPC_T_STRING, struct fn_p, vuid),
};

/* The hot-plugged function p names (vuid, vhca_id or, with ctrl, its
 * controller's), or NULL after answering. */
static struct emu_function *find_fn(struct rpc_request *req, const struct fn_p *p, bool with_ctrl)
{
	struct emu_function *fn = NULL;
	if (!p->vuid && !p->has_vhca_id && !(with_ctrl && p->ctrl_id)) {
		rpc_send_invalid_params(req, "missing function: give vuid or vhca_id%s", with_ctrl ? " or ctrl" : "");
		return NULL;
	}
	if (p->vuid && !(fn = emu_find_by_vuid(p->vuid))) {
		rpc_send_errno(req, -ENODEV, "no function with vuid %s", p->vuid);
		return NULL;
	}
	if (p->has_vhca_id) {
		struct emu_function *f = emu_find_by_vhca(p->vhca_id);
		if (!f) {
			rpc_send_errno(req, -ENODEV, "no function with vhca_id %u", p->vhca_id);
			return NULL;
		}
		if (fn && f != fn) {
			rpc_send_errno(req, -ENODEV, "vhca_id %u is not function %s", p->vhca_id, p->vuid);
			return NULL;
		}
		fn = f;
	}
	if (with_ctrl && p->ctrl_id) {
		const char *id = fn ? emu_fn_ctrl_id(fn) : NULL;
		if (fn && (!id || strcasecmp(id, p->ctrl_id))) {
			rpc_send_errno(req, -ENODEV, "controller %s is not on function %s", p->ctrl_id, emu_fn_vuid(fn));
			return NULL;
		}
		for (struct emu_function *pf = emu_pf_first(); !fn && pf; pf = emu_pf_next(pf))
			if ((id = emu_fn_ctrl_id(pf)) && !strcasecmp(id, p->ctrl_id))
				fn = pf;
		if (!fn) {
			rpc_send_errno(req, -ENODEV, "no hot-plugged function has controller %s", p->ctrl_id);
			return NULL;
		}
	}
	if (!emu_fn_hotplugged(fn)) {
		rpc_send_errno(req, -EINVAL, "function %s is not hot-plugged (a static function cannot be detached)",
			       emu_fn_vuid(fn));
		return NULL;
	}
	return fn;
}

static void destroy(struct rpc_request *req, struct emu_function *fn, bool force)
{
	char err[300];
	int rc = emu_hotplug_destroy(fn, force, err, sizeof(err));
	if (rc)
		rpc_send_errno(req, rc, "%s", err);
	else
		rpc_send_bool(req, true);
}

static void function_destroy(struct rpc_request *req, json_t *params, enum emu_type t)
{
	struct fn_p p = { 0 };
	DECODE(fn_destroy_dec, p);
	struct emu_function *fn = find_fn(req, &p, false);
	if (!fn)
		return;
	if (emu_fn_type(fn) != t) {
		rpc_send_errno(req, -EINVAL, "function %s is not a %s function", p.vuid, type_name(t));
		return;
	}
	destroy(req, fn, false);
}

static void rpc_vblk_function_destroy(struct rpc_request *req, json_t *params)
{
	function_destroy(req, params, EMU_TYPE_VBLK);
}

static void rpc_nvme_function_destroy(struct rpc_request *req, json_t *params)
{
	function_destroy(req, params, EMU_TYPE_NVME);
}

/* --- the legacy one-step API --- */

static void device_attach(struct rpc_request *req, json_t *params, enum emu_type t)
{
	struct create_p p = { .spec.type = t };
	char err[300];
	struct emu_function *fn;
	if (t == EMU_TYPE_VBLK)
		DECODE(vblk_attach_dec, p);
	else
		DECODE(nvme_attach_dec, p);
	if (!create_ok(req, &p))
		return;
	int rc = emu_hotplug_create(&p.spec, &fn, err, sizeof(err));
	if (rc == -EINVAL) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	if (rc) {
		rpc_send_errno(req, rc, "%s", err);
		return;
	}
	/* shown to the host at once; a plug that cannot even start leaves nothing */
	rc = emu_hotplug_check(fn, true, err, sizeof(err));
	if (rc) {
		char e2[300];
		emu_hotplug_destroy(fn, true, e2, sizeof(e2));
		rpc_send_errno(req, rc == -EPERM ? -EOPNOTSUPP : rc, "%s%s", err,
			       rc == -EPERM ? "; the legacy attach cannot announce a vhost-user function through "
					      "QMP: use the two-step API (virtio_blk_function_create, "
					      "virtio_blk_controller_create, virtio_blk_controller_hotplug)" : "");
		return;
	}
	struct op *o = op_new(req, fn, true);
	if (o)
		emu_hotplug_plug(fn, 0, op_done, o);	/* a vhost-user function got -EPERM above */
}

static void rpc_vblk_device_attach(struct rpc_request *req, json_t *params)
{
	device_attach(req, params, EMU_TYPE_VBLK);
}

static void rpc_nvme_device_attach(struct rpc_request *req, json_t *params)
{
	device_attach(req, params, EMU_TYPE_NVME);
}

static const struct rpc_param prepare_dec[] = {
	RPC_OPT("vuid", RPC_T_STRING, struct fn_p, vuid),
	RPC_OPT_HAS("vhca_id", RPC_T_U32, struct fn_p, vhca_id, has_vhca_id),
	{ .name = "ctrl_id", .type = RPC_T_STRING, .offset = offsetof(struct fn_p, ctrl_id),
	  .has_offset = RPC_NO_HAS, .alias = "ctrl" },
};

/* The first step of a detach: the host lets the function go (an unplug
 * that waits for it); its controller must still be there (the seed). */
static void rpc_detach_prepare(struct rpc_request *req, json_t *params)
{
	struct fn_p p = { 0 };
	DECODE(prepare_dec, p);
	struct emu_function *fn = find_fn(req, &p, true);
	if (!fn)
		return;
	if (!emu_fn_ctrl_id(fn)) {
		rpc_send_errno(req, -ENODEV, "function %s has no controller: the controller must exist while the "
			       "detach is prepared (destroy it afterwards)", emu_fn_vuid(fn));
		return;
	}
	start_op(req, fn, false, true, false);
}

static const struct rpc_param detach_dec[] = {
	RPC_OPT("vuid", RPC_T_STRING, struct fn_p, vuid),
	RPC_OPT_HAS("vhca_id", RPC_T_U32, struct fn_p, vhca_id, has_vhca_id),
	RPC_OPT("force", RPC_T_BOOL, struct fn_p, force),
};

static void rpc_detach(struct rpc_request *req, json_t *params)
{
	struct fn_p p = { 0 };
	DECODE(detach_dec, p);
	struct emu_function *fn = find_fn(req, &p, false);
	if (fn)
		destroy(req, fn, p.force);
}

static const struct rpc_method hotplug_methods[] = {
	{ "virtio_blk_function_create", rpc_vblk_function_create, RPC_RUNTIME },
	{ "virtio_blk_function_destroy", rpc_vblk_function_destroy, RPC_RUNTIME },
	{ "nvme_function_create", rpc_nvme_function_create, RPC_RUNTIME },
	{ "nvme_function_destroy", rpc_nvme_function_destroy, RPC_RUNTIME },
	{ "virtio_blk_controller_hotplug", rpc_vblk_hotplug, RPC_RUNTIME },
	{ "virtio_blk_controller_hotunplug", rpc_vblk_hotunplug, RPC_RUNTIME },
	{ "nvme_controller_hotplug", rpc_nvme_hotplug, RPC_RUNTIME },
	{ "nvme_controller_hotunplug", rpc_nvme_hotunplug, RPC_RUNTIME },
	{ "virtio_blk_emulation_device_attach", rpc_vblk_device_attach, RPC_RUNTIME },
	{ "nvme_emulation_device_attach", rpc_nvme_device_attach, RPC_RUNTIME },
	{ "emulation_device_detach_prepare", rpc_detach_prepare, RPC_RUNTIME },
	{ "emulation_device_detach", rpc_detach, RPC_RUNTIME },
};

void hotplug_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(hotplug_methods));
}
