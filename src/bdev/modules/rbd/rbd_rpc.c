/* RPC methods of the "rbd" bdev module, SPDK's names and keys:
 * bdev_rbd_register_cluster, bdev_rbd_unregister_cluster,
 * bdev_rbd_get_clusters_info, bdev_rbd_create, bdev_rbd_delete,
 * bdev_rbd_resize. Create, register and resize answer when the work on
 * the cluster is done (the main thread goes on meanwhile). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/bdev.h"
#include "bdev/bdev_rpc.h"
#include "bdev/modules/modules.h"
#include "bdev/modules/rbd/rbd.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

/* An error of an asynchronous step: -32602 for a bad parameter. */
static void send_failure(struct rpc_request *req, int rc, bool invalid_param, const char *err)
{
	if (invalid_param)
		rpc_send_invalid_params(req, "%s", err);
	else
		rpc_send_errno(req, rc, "%s", err);
}

/* Fill conf's strings; a failure answers req. Returns 0 or -1. */
static int conf_from_params(struct rpc_request *req, struct rbd_conf *conf, const char *user_id,
			    const char *kv_key, json_t *kv, const char *config_file,
			    const char *key_file)
{
	char err[256];
	int rc;

	rc = rbd_conf_kv_from_json(conf, kv_key, kv, err, sizeof(err));
	if (rc == -EINVAL) {
		rpc_send_invalid_params(req, "%s", err);
		return -1;
	}
	if (rc || rbd_conf_set_str(&conf->user_id, user_id) ||
	    rbd_conf_set_str(&conf->config_file, config_file) ||
	    rbd_conf_set_str(&conf->key_file, key_file)) {
		rpc_send_errno(req, -ENOMEM, "out of memory");
		return -1;
	}
	return 0;
}

/* --- bdev_rbd_register_cluster --- */

struct register_params {
	const char *name;
	const char *user_id;
	json_t *config_param;
	const char *config_file;
	const char *key_file;
	const char *core_mask;
};

static const struct rpc_param register_table[] = {
	RPC_REQ_RANGE("name", RPC_T_STRING, struct register_params, name, 1, 255),
	RPC_OPT_RANGE("user_id", RPC_T_STRING, struct register_params, user_id, 1, 255),
	RPC_OPT("config_param", RPC_T_JSON, struct register_params, config_param),
	RPC_OPT_RANGE("config_file", RPC_T_STRING, struct register_params, config_file, 1, 4095),
	RPC_OPT_RANGE("key_file", RPC_T_STRING, struct register_params, key_file, 1, 4095),
	RPC_OPT_RANGE("core_mask", RPC_T_STRING, struct register_params, core_mask, 1, 255),
};

struct register_answer {
	struct rpc_request *req;
	char name[256];
};

static void register_answer_cb(void *arg, int rc, bool invalid_param, const char *err)
{
	struct register_answer *a = arg;

	if (rc)
		send_failure(a->req, rc, invalid_param, err);
	else
		rpc_send_result(a->req, json_string(a->name));
	free(a);
}

static void rpc_bdev_rbd_register_cluster(struct rpc_request *req, json_t *params)
{
	struct register_params p = { 0 };
	struct rbd_conf conf = { 0 };
	struct register_answer *a;
	bool invalid;
	char err[512];
	int rc;

	RPC_DECODE_OR_RETURN(req, params, register_table, p);
	if (conf_from_params(req, &conf, p.user_id, "config_param", p.config_param,
			     p.config_file, p.key_file))
		goto out;
	a = calloc(1, sizeof(*a));
	if (!a) {
		rpc_send_errno(req, -ENOMEM, "out of memory");
		goto out;
	}
	a->req = req;
	snprintf(a->name, sizeof(a->name), "%s", p.name);
	rc = rbd_cluster_register(p.name, &conf, p.core_mask, register_answer_cb, a, &invalid, err,
				  sizeof(err));
	if (rc) {
		free(a);
		send_failure(req, rc, invalid, err);
	}
out:
	rbd_conf_free(&conf);	/* emptied when the registration took it */
}

/* --- bdev_rbd_unregister_cluster --- */

struct cluster_name_params {
	const char *name;
};

static const struct rpc_param unregister_table[] = {
	RPC_REQ("name", RPC_T_STRING, struct cluster_name_params, name),
};

static void rpc_bdev_rbd_unregister_cluster(struct rpc_request *req, json_t *params)
{
	struct cluster_name_params p = { 0 };
	char err[512];
	int rc;

	RPC_DECODE_OR_RETURN(req, params, unregister_table, p);
	rc = rbd_cluster_unregister(p.name, err, sizeof(err));
	if (rc)
		rpc_send_errno(req, rc, "%s", err);
	else
		rpc_send_bool(req, true);
}

/* --- bdev_rbd_get_clusters_info --- */

static const struct rpc_param info_table[] = {
	RPC_OPT("name", RPC_T_STRING, struct cluster_name_params, name),
};

static void rpc_bdev_rbd_get_clusters_info(struct rpc_request *req, json_t *params)
{
	struct cluster_name_params p = { 0 };
	json_t *res;
	int rc;

	RPC_DECODE_OR_RETURN(req, params, info_table, p);
	res = rbd_cluster_info(p.name, &rc);
	if (!res) {
		if (rc == -ENOENT && p.name)
			rpc_send_errno(req, rc, "no cluster named '%s' is registered", p.name);
		else if (rc == -ENOENT)
			rpc_send_errno(req, rc, "no cluster is registered");
		else
			rpc_send_errno(req, -ENOMEM, "out of memory");
		return;
	}
	rpc_send_result(req, res);
}

/* --- bdev_rbd_create --- */

struct create_params {
	const char *name;
	const char *user_id;
	const char *pool_name;
	const char *rbd_name;
	uint32_t block_size;
	json_t *config;
	const char *cluster_name;
	uint8_t uuid[16];
	bool has_uuid;
	bool read_only;
};

static const struct rpc_param create_table[] = {
	RPC_OPT_RANGE("name", RPC_T_STRING, struct create_params, name, 1, BDEV_NAME_MAX - 1),
	RPC_OPT_RANGE("user_id", RPC_T_STRING, struct create_params, user_id, 1, 255),
	RPC_REQ_RANGE("pool_name", RPC_T_STRING, struct create_params, pool_name, 1, 255),
	RPC_REQ_RANGE("rbd_name", RPC_T_STRING, struct create_params, rbd_name, 1, 4095),
	RPC_REQ("block_size", RPC_T_U32, struct create_params, block_size),
	RPC_OPT("config", RPC_T_JSON, struct create_params, config),
	RPC_OPT_RANGE("cluster_name", RPC_T_STRING, struct create_params, cluster_name, 1, 255),
	RPC_OPT_HAS("uuid", RPC_T_UUID, struct create_params, uuid, has_uuid),
	RPC_OPT("read_only", RPC_T_BOOL, struct create_params, read_only),
};

static void create_cb(void *arg, const char *name, int rc, bool invalid_param, const char *err)
{
	struct rpc_request *req = arg;

	if (rc)
		send_failure(req, rc, invalid_param, err);
	else
		rpc_send_result(req, json_string(name));
}

static void rpc_bdev_rbd_create(struct rpc_request *req, json_t *params)
{
	struct create_params p = { 0 };
	struct rbd_create_opts o = { 0 };
	bool invalid;
	char err[512];
	int rc;

	RPC_DECODE_OR_RETURN(req, params, create_table, p);
	if (conf_from_params(req, &o.conf, p.user_id, "config", p.config, NULL, NULL))
		goto out;
	o.name = p.name;
	o.pool_name = p.pool_name;
	o.rbd_name = p.rbd_name;
	o.block_size = p.block_size;
	o.cluster_name = p.cluster_name;
	o.uuid = p.has_uuid ? p.uuid : NULL;
	o.read_only = p.read_only;
	rc = rbd_bdev_create(&o, create_cb, req, &invalid, err, sizeof(err));
	if (rc)
		send_failure(req, rc, invalid, err);
out:
	rbd_conf_free(&o.conf);	/* emptied when the creation took it */
}

/* --- bdev_rbd_delete --- */

static void rpc_bdev_rbd_delete(struct rpc_request *req, json_t *params)
{
	bdev_rpc_delete(req, params, "rbd");
}

/* --- bdev_rbd_resize --- */

struct resize_params {
	const char *name;
	uint64_t new_size;
};

static const struct rpc_param resize_table[] = {
	RPC_REQ("name", RPC_T_STRING, struct resize_params, name),
	RPC_REQ("new_size", RPC_T_U64, struct resize_params, new_size),
};

static void resize_cb(void *arg, int rc, bool invalid_param, const char *err)
{
	struct rpc_request *req = arg;

	if (rc)
		send_failure(req, rc, invalid_param, err);
	else
		rpc_send_bool(req, true);
}

static void rpc_bdev_rbd_resize(struct rpc_request *req, json_t *params)
{
	struct resize_params p = { 0 };
	bool invalid;
	char err[512];
	int rc;

	RPC_DECODE_OR_RETURN(req, params, resize_table, p);
	rc = rbd_bdev_resize(p.name, p.new_size, resize_cb, req, &invalid, err, sizeof(err));
	if (rc)
		send_failure(req, rc, invalid, err);
}

static const struct rpc_method rbd_methods[] = {
	{ "bdev_rbd_register_cluster", rpc_bdev_rbd_register_cluster, RPC_RUNTIME },
	{ "bdev_rbd_unregister_cluster", rpc_bdev_rbd_unregister_cluster, RPC_RUNTIME },
	{ "bdev_rbd_get_clusters_info", rpc_bdev_rbd_get_clusters_info, RPC_RUNTIME },
	{ "bdev_rbd_create", rpc_bdev_rbd_create, RPC_RUNTIME },
	{ "bdev_rbd_delete", rpc_bdev_rbd_delete, RPC_RUNTIME },
	{ "bdev_rbd_resize", rpc_bdev_rbd_resize, RPC_RUNTIME },
};

/* Register the rbd module's methods. */
void bdev_rbd_rpc_register(void)
{
	rpc_register_table(rbd_methods, sizeof(rbd_methods) / sizeof(rbd_methods[0]));
}
