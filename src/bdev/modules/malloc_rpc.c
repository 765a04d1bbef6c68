/* RPCs of the malloc module: bdev_malloc_create, bdev_malloc_delete. */
#include "modules.h"
#include "bdev/bdev.h"
#include "bdev/bdev_rpc.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

struct malloc_create_params {
	const char *name;
	uint64_t num_blocks;
	uint32_t block_size;
	uint8_t uuid[16];
	bool has_uuid;
	uint32_t optimal_io_boundary;
};

static const struct rpc_param malloc_create_decoders[] = {
	RPC_OPT("name", RPC_T_STRING, struct malloc_create_params, name),
	RPC_REQ("num_blocks", RPC_T_U64, struct malloc_create_params, num_blocks),
	RPC_REQ("block_size", RPC_T_U32, struct malloc_create_params, block_size),
	RPC_OPT_HAS("uuid", RPC_T_UUID, struct malloc_create_params, uuid, has_uuid),
	RPC_OPT("optimal_io_boundary", RPC_T_U32, struct malloc_create_params, optimal_io_boundary),
};

static void rpc_bdev_malloc_create(struct rpc_request *req, json_t *params)
{
	struct malloc_create_params p = { 0 };
	char err[256], name[BDEV_NAME_MAX];

	if (rpc_decode(params, RPC_PARAMS(malloc_create_decoders), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	if (p.name) {
		if (!p.name[0] || strlen(p.name) >= sizeof(name)) {
			rpc_send_invalid_params(req, "invalid parameter 'name': must be 1..%d characters",
						BDEV_NAME_MAX - 1);
			return;
		}
		snprintf(name, sizeof(name), "%s", p.name);
	} else {
		/* SPDK's default names: Malloc0, Malloc1, ... the first free one */
		for (unsigned i = 0;; i++) {
			snprintf(name, sizeof(name), "Malloc%u", i);
			if (!bdev_get_by_name(name))
				break;
		}
	}
	int rc = bdev_malloc_create(name, p.num_blocks, p.block_size, p.has_uuid ? p.uuid : NULL,
				    err, sizeof(err));
	if (rc == -EINVAL)
		rpc_send_invalid_params(req, "%s", err);
	else if (rc)
		rpc_send_errno(req, rc, "%s", err);
	else
		rpc_send_result(req, json_string(name));
}

static void rpc_bdev_malloc_delete(struct rpc_request *req, json_t *params)
{
	bdev_rpc_delete(req, params, "malloc");
}

static const struct rpc_method malloc_methods[] = {
	{ "bdev_malloc_create", rpc_bdev_malloc_create, RPC_RUNTIME },
	{ "bdev_malloc_delete", rpc_bdev_malloc_delete, RPC_RUNTIME },
};

void bdev_malloc_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(malloc_methods));
}
