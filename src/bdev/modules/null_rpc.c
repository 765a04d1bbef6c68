/* RPCs of the null module: bdev_null_create, bdev_null_delete. */
#include "modules.h"
#include "bdev/bdev.h"
#include "bdev/bdev_rpc.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

#include <errno.h>
#include <stdio.h>

struct null_create_params {
	const char *name;
	uint64_t num_blocks;
	uint32_t block_size;
	uint8_t uuid[16];
	bool has_uuid;
	uint32_t md_size;
	uint32_t dif_type;
};

static const struct rpc_param null_create_decoders[] = {
	RPC_REQ_RANGE("name", RPC_T_STRING, struct null_create_params, name, 1, BDEV_NAME_MAX - 1),
	RPC_REQ("num_blocks", RPC_T_U64, struct null_create_params, num_blocks),
	RPC_REQ("block_size", RPC_T_U32, struct null_create_params, block_size),
	RPC_OPT_HAS("uuid", RPC_T_UUID, struct null_create_params, uuid, has_uuid),
	/* metadata/DIF are not emulated: only 0 is accepted */
	RPC_OPT_RANGE("md_size", RPC_T_U32, struct null_create_params, md_size, 0, 0),
	RPC_OPT_RANGE("dif_type", RPC_T_U32, struct null_create_params, dif_type, 0, 0),
};

static void rpc_bdev_null_create(struct rpc_request *req, json_t *params)
{
	struct null_create_params p = { 0 };
	char err[256];

	if (rpc_decode(params, RPC_PARAMS(null_create_decoders), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	int rc = bdev_null_create(p.name, p.num_blocks, p.block_size, p.has_uuid ? p.uuid : NULL,
				  err, sizeof(err));
	if (rc == -EINVAL)
		rpc_send_invalid_params(req, "%s", err);
	else if (rc)
		rpc_send_errno(req, rc, "%s", err);
	else
		rpc_send_result(req, json_string(p.name));
}

static void rpc_bdev_null_delete(struct rpc_request *req, json_t *params)
{
	bdev_rpc_delete(req, params, "null");
}

static const struct rpc_method null_methods[] = {
	{ "bdev_null_create", rpc_bdev_null_create, RPC_RUNTIME },
	{ "bdev_null_delete", rpc_bdev_null_delete, RPC_RUNTIME },
};

void bdev_null_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(null_methods));
}
