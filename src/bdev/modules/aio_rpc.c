/* RPC methods of the "aio" bdev module (SPDK's names and keys):
 * bdev_aio_create, bdev_aio_delete. */
#include <errno.h>

#include "bdev/bdev.h"
#include "bdev/modules/modules.h"
#include "bdev/modules/file_bdev.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

struct aio_create_params {
	const char *name;
	const char *filename;
	uint32_t block_size;
	bool readonly;
	bool fallocate;
	uint8_t uuid[16];
	bool has_uuid;
};

static const struct rpc_param aio_create_table[] = {
	RPC_REQ_RANGE("name", RPC_T_STRING, struct aio_create_params, name, 1, BDEV_NAME_MAX - 1),
	RPC_REQ("filename", RPC_T_STRING, struct aio_create_params, filename),
	RPC_OPT("block_size", RPC_T_U32, struct aio_create_params, block_size),
	RPC_OPT("readonly", RPC_T_BOOL, struct aio_create_params, readonly),
	RPC_OPT("fallocate", RPC_T_BOOL, struct aio_create_params, fallocate),
	RPC_OPT_HAS("uuid", RPC_T_UUID, struct aio_create_params, uuid, has_uuid),
};

static void rpc_bdev_aio_create(struct rpc_request *req, json_t *params)
{
	struct aio_create_params p = { 0 };
	char err[512];
	int rc;

	if (rpc_decode(params, RPC_PARAMS(aio_create_table), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	if (!file_bdev_block_size_param_ok(p.block_size, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	rc = bdev_aio_create(p.name, p.filename, p.block_size, p.readonly, p.fallocate,
			     p.has_uuid ? p.uuid : NULL, err, sizeof(err));
	if (rc) {
		rpc_send_errno(req, rc, "%s", err);
		return;
	}
	rpc_send_result(req, json_string(p.name));
}

struct aio_delete_params {
	const char *name;
};

static const struct rpc_param aio_delete_table[] = {
	RPC_REQ("name", RPC_T_STRING, struct aio_delete_params, name),
};

static void rpc_bdev_aio_delete(struct rpc_request *req, json_t *params)
{
	struct aio_delete_params p = { 0 };
	char err[512];
	int rc;

	if (rpc_decode(params, RPC_PARAMS(aio_delete_table), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	err[0] = '\0';
	rc = bdev_unregister(p.name, "aio", err, sizeof(err));
	if (rc) {
		rpc_send_errno(req, rc, "%s", err[0] ? err : "bdev_aio_delete failed");
		return;
	}
	rpc_send_bool(req, true);
}

static const struct rpc_method aio_methods[] = {
	{ "bdev_aio_create", rpc_bdev_aio_create, RPC_RUNTIME },
	{ "bdev_aio_delete", rpc_bdev_aio_delete, RPC_RUNTIME },
};

/* Register bdev_aio_create and bdev_aio_delete. */
void bdev_aio_rpc_register(void)
{
	rpc_register_table(aio_methods, sizeof(aio_methods) / sizeof(aio_methods[0]));
}
