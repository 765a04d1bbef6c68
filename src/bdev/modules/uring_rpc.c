/* RPC methods of the "uring" bdev module (SPDK's names and keys):
 * bdev_uring_create, bdev_uring_delete. */
#include <errno.h>

#include "bdev/bdev.h"
#include "bdev/modules/modules.h"
#include "bdev/modules/file_bdev.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

struct uring_create_params {
	const char *name;
	const char *filename;
	uint32_t block_size;
	uint8_t uuid[16];
	bool has_uuid;
};

static const struct rpc_param uring_create_table[] = {
	RPC_REQ_RANGE("name", RPC_T_STRING, struct uring_create_params, name, 1, BDEV_NAME_MAX - 1),
	RPC_REQ("filename", RPC_T_STRING, struct uring_create_params, filename),
	RPC_OPT("block_size", RPC_T_U32, struct uring_create_params, block_size),
	RPC_OPT_HAS("uuid", RPC_T_UUID, struct uring_create_params, uuid, has_uuid),
};

static void rpc_bdev_uring_create(struct rpc_request *req, json_t *params)
{
	struct uring_create_params p = { 0 };
	char err[512];
	int rc;

	if (rpc_decode(params, RPC_PARAMS(uring_create_table), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	if (!file_bdev_block_size_param_ok(p.block_size, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	rc = bdev_uring_create(p.name, p.filename, p.block_size, p.has_uuid ? p.uuid : NULL,
			       err, sizeof(err));
	if (rc) {
		rpc_send_errno(req, rc, "%s", err);
		return;
	}
	rpc_send_result(req, json_string(p.name));
}

struct uring_delete_params {
	const char *name;
};

static const struct rpc_param uring_delete_table[] = {
	RPC_REQ("name", RPC_T_STRING, struct uring_delete_params, name),
};

static void rpc_bdev_uring_delete(struct rpc_request *req, json_t *params)
{
	struct uring_delete_params p = { 0 };
	char err[512];
	int rc;

	if (rpc_decode(params, RPC_PARAMS(uring_delete_table), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	err[0] = '\0';
	rc = bdev_unregister(p.name, "uring", err, sizeof(err));
	if (rc) {
		rpc_send_errno(req, rc, "%s", err[0] ? err : "bdev_uring_delete failed");
		return;
	}
	rpc_send_bool(req, true);
}

static const struct rpc_method uring_methods[] = {
	{ "bdev_uring_create", rpc_bdev_uring_create, RPC_RUNTIME },
	{ "bdev_uring_delete", rpc_bdev_uring_delete, RPC_RUNTIME },
};

/* Register bdev_uring_create and bdev_uring_delete. */
void bdev_uring_rpc_register(void)
{
	rpc_register_table(uring_methods, sizeof(uring_methods) / sizeof(uring_methods[0]));
}
