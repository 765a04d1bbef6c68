/* snap_log_level_set, snap_global_param_list. */
#include "service.h"
#include "core/log.h"
#include "core/params.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"


struct log_level_params {
	int32_t level;
};

static const struct rpc_param log_level_decoders[] = {
	RPC_REQ_RANGE("level", RPC_T_I32, struct log_level_params, level, 0, LOG_LEVEL_MAX),
};

static void rpc_snap_log_level_set(struct rpc_request *req, json_t *params)
{
	struct log_level_params p = { 0 };
	RPC_DECODE_OR_RETURN(req, params, log_level_decoders, p);
	log_set_level(p.level);
	log_info("log level set to %d", p.level);
	rpc_send_bool(req, true);
}

static void rpc_snap_global_param_list(struct rpc_request *req, json_t *params)
{
	char err[256], line[512];
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	json_t *arr = json_array();
	for (size_t i = 0; i < param_count(); i++) {
		param_format(i, line, sizeof(line));
		json_array_append_new(arr, json_string(line));
	}
	rpc_send_result(req, arr);
}

static const struct rpc_method log_methods[] = {
	{ "snap_log_level_set", rpc_snap_log_level_set, RPC_STARTUP | RPC_RUNTIME },
	{ "snap_global_param_list", rpc_snap_global_param_list, RPC_STARTUP | RPC_RUNTIME },
};

void log_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(log_methods));
}
