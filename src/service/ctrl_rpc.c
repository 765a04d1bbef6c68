/* The common shape of the controller RPC families. See ctrl_rpc.h. */
#include "ctrl_rpc.h"
#include "ctrl_msix.h"

#include <errno.h>
#include <string.h>

void ctrl_rpc_answer(struct rpc_request *req, int rc, const char *err)
{
	if (rc)
		rpc_send_errno(req, rc, "%s", err);
	else
		rpc_send_bool(req, true);
}

void ctrl_rpc_fail(struct rpc_request *req, int rc, const char *err)
{
	if (rc == -EINVAL)
		rpc_send_invalid_params(req, "%s", err);
	else
		rpc_send_errno(req, rc, "%s", err);
}

void ctrl_rpc_done(void *arg, int rc, const char *msg)
{
	struct rpc_request *req = arg;
	if (rc)
		rpc_send_errno(req, rc, "%s", msg ? msg : strerror(-rc));
	else
		rpc_send_bool(req, true);
}

void *ctrl_rpc_find(struct rpc_request *req, const struct ctrl_family *f, const char *ctrl_id)
{
	void *c = f->find(ctrl_id);
	if (!c)
		rpc_send_errno(req, -ENODEV, "%s %s does not exist", f->what, ctrl_id);
	return c;
}

void *ctrl_rpc_decode_find(struct rpc_request *req, json_t *params, const struct ctrl_family *f,
			   const struct rpc_param *table, size_t n, void *p, const char *const *ctrl_id)
{
	char err[256];
	if (rpc_decode(params, table, n, p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return NULL;
	}
	return ctrl_rpc_find(req, f, *ctrl_id);
}

void ctrl_rpc_too_few_vectors(struct rpc_request *req, struct emu_function *fn, uint32_t num_queues)
{
	rpc_send_invalid_params(req, "invalid parameter 'num_queues': %u queues need %u MSI-X vectors; %s has %u",
				num_queues, num_queues + 1, emu_fn_vuid(fn), emu_fn_num_msix(fn));
}

void ctrl_rpc_list(struct rpc_request *req, const struct ctrl_family *f, const char *ctrl_id,
		   bool (*keep)(json_t *entry, const void *arg), const void *arg)
{
	void *only = NULL;
	if (ctrl_id && !(only = ctrl_rpc_find(req, f, ctrl_id)))
		return;
	json_t *arr = json_array();
	for (void *c = only ? only : f->first(); c; c = only ? NULL : f->next(c)) {
		json_t *entry = f->json(c);
		if (keep && !keep(entry, arg))
			json_decref(entry);
		else
			json_array_append_new(arr, entry);
	}
	rpc_send_result(req, arr);
}

/* --- the shared handlers --- */

struct ctrl_p {
	const char *ctrl_id;
	uint32_t num_queues, num_msix;
	bool has_num_queues, has_num_msix;
};

static const struct rpc_param ctrl_only_dec[] = {
	CTRL_RPC_ID_REQ(struct ctrl_p, ctrl_id),
};

static const struct rpc_param modify_dec[] = {
	CTRL_RPC_ID_REQ(struct ctrl_p, ctrl_id),
	RPC_OPT_HAS("num_queues", RPC_T_U32, struct ctrl_p, num_queues, has_num_queues),
	RPC_OPT_HAS("num_msix", RPC_T_U32, struct ctrl_p, num_msix, has_num_msix),
};

void ctrl_rpc_modify(struct rpc_request *req, json_t *params, const struct ctrl_family *f)
{
	struct ctrl_p p = { 0 };
	char err[256];
	void *c = ctrl_rpc_decode_find(req, params, f, RPC_PARAMS(modify_dec), &p, &p.ctrl_id);
	if (!c)
		return;
	if (p.has_num_msix) {
		ctrl_msix_modify(req, f, c, p.has_num_queues, p.num_queues, p.num_msix);
		return;
	}
	int rc = f->modify(c, p.has_num_queues, p.num_queues, err, sizeof(err));
	if (rc == -EINVAL)
		rpc_send_invalid_params(req, "invalid parameter 'num_queues': %s", err);
	else
		ctrl_rpc_answer(req, rc, err);
}

/* Answer view(the controller that ctrl_id names). */
static void answer_view(struct rpc_request *req, json_t *params, const struct ctrl_family *f,
			json_t *(*view)(void *c))
{
	struct ctrl_p p = { 0 };
	void *c = ctrl_rpc_decode_find(req, params, f, RPC_PARAMS(ctrl_only_dec), &p, &p.ctrl_id);
	if (c)
		rpc_send_result(req, view(c));
}

void ctrl_rpc_io_stats(struct rpc_request *req, json_t *params, const struct ctrl_family *f)
{
	answer_view(req, params, f, f->io_stats_json);
}

void ctrl_rpc_debug_stats(struct rpc_request *req, json_t *params, const struct ctrl_family *f)
{
	answer_view(req, params, f, f->debug_stats_json);
}

void ctrl_rpc_msix_reclaim(struct rpc_request *req, json_t *params, const struct ctrl_family *f)
{
	struct ctrl_p p = { 0 };
	void *c = ctrl_rpc_decode_find(req, params, f, RPC_PARAMS(ctrl_only_dec), &p, &p.ctrl_id);
	if (c)
		ctrl_msix_reclaim(req, f->ctrl_name(c));
}
