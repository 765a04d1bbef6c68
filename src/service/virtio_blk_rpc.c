/* virtio-blk emulation RPCs (SNAP's virtio_blk_controller_*). */
#include "service.h"
#include "ctrl_rpc.h"
#include "ctrl_msix.h"
#include "fn_select.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"
#include "virtio_blk/vblk_json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>


#define DECODE(tbl, p) RPC_DECODE_OR_RETURN(req, params, tbl, p)

/* vblk_family and its handlers vblk_family_rpc_modify, _rpc_io_stats, _rpc_debug_stats
 * and _rpc_msix_reclaim */
CTRL_RPC_FAMILY(vblk_family, "virtio-blk controller", vblk_ctrl)

struct create_p {
	const char *ctrl_id, *bdev, *vblk_id, *dbg_bdev_type;
	struct fn_selector sel;
	uint32_t num_queues, queue_size, size_max, seg_max, num_msix;
	bool has_num_msix;
	bool force_in_order, indirect_desc, read_only, suspended, dynamic_msix;
	bool live_migration, recovery, live_update_listener, admin_q, dbg_local_optimized;
};

static const struct rpc_param create_dec[] = {
	CTRL_RPC_ID_NEW(struct create_p, ctrl_id),
	FN_SELECTOR_PARAMS(struct create_p, sel),
	RPC_OPT_RANGE("num_queues", RPC_T_U32, struct create_p, num_queues, 1, VBLK_MAX_QUEUES),
	RPC_OPT_RANGE("queue_size", RPC_T_U32, struct create_p, queue_size, 1, 1024),
	RPC_OPT_RANGE("size_max", RPC_T_U32, struct create_p, size_max, 4096, 2u << 20),
	RPC_OPT_RANGE("seg_max", RPC_T_U32, struct create_p, seg_max, 1, 1024),
	RPC_OPT("bdev", RPC_T_STRING, struct create_p, bdev),
	RPC_OPT("dbg_bdev_type", RPC_T_STRING, struct create_p, dbg_bdev_type),
	RPC_OPT_RANGE("vblk_id", RPC_T_STRING, struct create_p, vblk_id, 0, 20),
	RPC_OPT("force_in_order", RPC_T_BOOL, struct create_p, force_in_order),
	RPC_OPT("indirect_desc", RPC_T_BOOL, struct create_p, indirect_desc),
	RPC_OPT("read_only", RPC_T_BOOL, struct create_p, read_only),
	RPC_OPT("suspended", RPC_T_BOOL, struct create_p, suspended),
	RPC_OPT("dynamic_msix", RPC_T_BOOL, struct create_p, dynamic_msix),
	/* SNAP's --vf_num_msix; "num_msix" is osnap's earlier key */
	{ .name = "vf_num_msix", .type = RPC_T_U32, .offset = offsetof(struct create_p, num_msix),
	  .has_offset = offsetof(struct create_p, has_num_msix), .alias = "num_msix" },
	RPC_OPT("live_migration", RPC_T_BOOL, struct create_p, live_migration),
	RPC_OPT("recovery", RPC_T_BOOL, struct create_p, recovery),
	RPC_OPT("live_update_listener", RPC_T_BOOL, struct create_p, live_update_listener),
	/* SNAP's --dbg_admin_q; "admin_q" is osnap's earlier key */
	{ .name = "dbg_admin_q", .type = RPC_T_BOOL, .offset = offsetof(struct create_p, admin_q),
	  .has_offset = RPC_NO_HAS, .alias = "admin_q" },
	RPC_OPT("dbg_local_optimized", RPC_T_BOOL, struct create_p, dbg_local_optimized),
};

static void rpc_create(struct rpc_request *req, json_t *params)
{
	struct create_p p = { .num_queues = 1, .queue_size = 256, .size_max = 65536, .seg_max = 32 };
	char err[256];
	DECODE(create_dec, p);
	if (p.live_migration || p.admin_q || p.live_update_listener || p.recovery) {
		rpc_send_errno(req, -EOPNOTSUPP, "%s is not supported by osnap",
			       p.live_migration ? "live_migration" : p.admin_q ? "dbg_admin_q (admin virtqueue)" :
			       p.live_update_listener ? "live_update_listener" : "recovery");
		return;
	}
	if (p.queue_size & (p.queue_size - 1)) {
		rpc_send_invalid_params(req, "invalid parameter 'queue_size': %u is not a power of two", p.queue_size);
		return;
	}
	if (p.seg_max > p.queue_size) {
		rpc_send_invalid_params(req, "invalid parameter 'seg_max': %u exceeds queue_size %u", p.seg_max,
					p.queue_size);
		return;
	}
	if (p.dbg_bdev_type && strcmp(p.dbg_bdev_type, "null") && strcmp(p.dbg_bdev_type, "spdk")) {
		rpc_send_invalid_params(req, "invalid parameter 'dbg_bdev_type': must be null or spdk");
		return;
	}
	struct emu_function *fn = fn_select_or_reply(req, &p.sel, EMU_TYPE_VBLK);
	struct ctrl_msix m;	/* a VF's vectors (vf_num_msix), given back if the create fails */
	if (!fn || !ctrl_msix_prepare(req, fn, p.dynamic_msix, p.has_num_msix, p.num_msix, &m))
		return;
	uint16_t nmsix = emu_fn_num_msix(fn);
	if (emu_get_config()->vblk_transport == EMU_VBLK_VFIO_USER && p.num_queues + 1 > nmsix) {
		ctrl_msix_undo(&m);
		ctrl_rpc_too_few_vectors(req, fn, p.num_queues);
		return;
	}
	struct vblk_params vp = {
		.name = p.ctrl_id, .fn = fn, .bdev = p.bdev, .num_queues = p.num_queues,
		.queue_size = p.queue_size, .size_max = p.size_max, .seg_max = p.seg_max,
		.vblk_id = p.vblk_id, .force_in_order = p.force_in_order, .indirect_desc = p.indirect_desc,
		.read_only = p.read_only, .suspended = p.suspended,
		.null_media = p.bdev && !strcmp(p.bdev, "none") && p.dbg_bdev_type && !strcmp(p.dbg_bdev_type, "null"),
	};
	struct vblk_ctrl *c;
	int rc = vblk_ctrl_create(&vp, &c, err, sizeof(err));
	if (rc) {
		ctrl_msix_undo(&m);
		ctrl_rpc_fail(req, rc, err);
		return;
	}
	ctrl_msix_created(fn, p.dynamic_msix);
	rpc_send_result(req, json_string(vblk_ctrl_name(c)));	/* the seed's response */
}

struct ref_p {
	const char *ctrl_id, *bdev, *vblk_id, *dbg_bdev_type;
	bool force, release_msix, events_only, live_update_notifier, has_timeout_ms;
	uint32_t timeout_ms;
};

#define DECODE_FIND(tbl, p) CTRL_RPC_DECODE_FIND(req, params, &vblk_family, tbl, p)

static const struct rpc_param destroy_dec[] = {
	CTRL_RPC_ID_REQ(struct ref_p, ctrl_id),
	RPC_OPT("force", RPC_T_BOOL, struct ref_p, force),
	RPC_OPT("release_msix", RPC_T_BOOL, struct ref_p, release_msix),	/* as NVMe's (seed 000) */
};

static void rpc_destroy(struct rpc_request *req, json_t *params)
{
	struct ref_p p = { 0 };
	struct vblk_ctrl *c = DECODE_FIND(destroy_dec, p);
	/* force: a VF the host enabled; release_msix: its vectors go back */
	void *d = c ? ctrl_msix_destroy_begin(req, vblk_ctrl_name(c), p.force, p.release_msix) : NULL;
	if (d)
		vblk_ctrl_destroy(c, p.force, ctrl_msix_destroyed, d);
}

static const struct rpc_param suspend_dec[] = {
	CTRL_RPC_ID_REQ(struct ref_p, ctrl_id),
	RPC_OPT("events_only", RPC_T_BOOL, struct ref_p, events_only),
	RPC_OPT_HAS("timeout_ms", RPC_T_U32, struct ref_p, timeout_ms, has_timeout_ms),
	RPC_OPT("live_update_notifier", RPC_T_BOOL, struct ref_p, live_update_notifier),
};

static void rpc_suspend(struct rpc_request *req, json_t *params)
{
	struct ref_p p = { 0 };
	DECODE(suspend_dec, p);
	if (p.live_update_notifier || p.events_only) {
		rpc_send_errno(req, -EOPNOTSUPP, "%s is not supported by osnap",
			       p.events_only ? "events_only" : "live_update_notifier");
		return;
	}
	if (p.has_timeout_ms) {
		/* the suspend waits for the requests in flight, however long */
		rpc_send_errno(req, -EOPNOTSUPP, "timeout_ms: a virtio-blk suspend without a timeout is all osnap "
			       "has yet (it waits for the requests in flight)");
		return;
	}
	struct vblk_ctrl *c = ctrl_rpc_find(req, &vblk_family, p.ctrl_id);
	if (c)
		vblk_ctrl_suspend(c, ctrl_rpc_done, req);
}

static const struct rpc_param only_dec[] = {
	CTRL_RPC_ID_REQ(struct ref_p, ctrl_id),
};

static void rpc_resume(struct rpc_request *req, json_t *params)
{
	struct ref_p p = { 0 };
	char err[256];
	struct vblk_ctrl *c = DECODE_FIND(only_dec, p);
	if (c)
		ctrl_rpc_answer(req, vblk_ctrl_resume(c, err, sizeof(err)), err);
}

static const struct rpc_param attach_dec[] = {
	CTRL_RPC_ID_REQ(struct ref_p, ctrl_id),
	RPC_REQ("bdev", RPC_T_STRING, struct ref_p, bdev),
	RPC_OPT_RANGE("vblk_id", RPC_T_STRING, struct ref_p, vblk_id, 0, 20),
	RPC_OPT("dbg_bdev_type", RPC_T_STRING, struct ref_p, dbg_bdev_type),
};

static void rpc_bdev_attach(struct rpc_request *req, json_t *params)
{
	struct ref_p p = { 0 };
	char err[256];
	struct vblk_ctrl *c = DECODE_FIND(attach_dec, p);
	if (!c)
		return;
	/* 'none': SNAP's placeholder media (the seed attaches it when no real
	 * bdev follows soon): capacity 0, requests answered, not held */
	int rc = !strcmp(p.bdev, "none") ? vblk_ctrl_bdev_attach_none(c, p.vblk_id, err, sizeof(err))
					  : vblk_ctrl_bdev_attach(c, p.bdev, p.vblk_id, err, sizeof(err));
	ctrl_rpc_answer(req, rc, err);
}

static void rpc_bdev_detach(struct rpc_request *req, json_t *params)
{
	struct ref_p p = { 0 };
	struct vblk_ctrl *c = DECODE_FIND(only_dec, p);
	if (c)
		vblk_ctrl_bdev_detach(c, ctrl_rpc_done, req);
}

static const struct rpc_param list_dec[] = {
	CTRL_RPC_ID_OPT(struct ref_p, ctrl_id),
};

static void rpc_list(struct rpc_request *req, json_t *params)
{
	struct ref_p p = { 0 };
	DECODE(list_dec, p);
	ctrl_rpc_list(req, &vblk_family, p.ctrl_id, NULL, NULL);
}

static const struct rpc_method vblk_methods[] = {
	{ "virtio_blk_controller_create", rpc_create, RPC_RUNTIME },
	{ "virtio_blk_controller_destroy", rpc_destroy, RPC_RUNTIME },
	{ "virtio_blk_controller_suspend", rpc_suspend, RPC_RUNTIME },
	{ "virtio_blk_controller_resume", rpc_resume, RPC_RUNTIME },
	{ "virtio_blk_controller_bdev_attach", rpc_bdev_attach, RPC_RUNTIME },
	{ "virtio_blk_controller_bdev_detach", rpc_bdev_detach, RPC_RUNTIME },
	{ "virtio_blk_controller_list", rpc_list, RPC_RUNTIME },
	{ "virtio_blk_controller_modify", vblk_family_rpc_modify, RPC_RUNTIME },
	{ "virtio_blk_controller_dbg_io_stats_get", vblk_family_rpc_io_stats, RPC_RUNTIME },
	{ "virtio_blk_controller_dbg_debug_stats_get", vblk_family_rpc_debug_stats, RPC_RUNTIME },
	{ "virtio_blk_controller_vfs_msix_reclaim", vblk_family_rpc_msix_reclaim, RPC_RUNTIME },
};

void virtio_blk_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(vblk_methods));
	config_register_subsystem("virtio_blk", vblk_write_config);
}
