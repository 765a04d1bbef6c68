/* SPDK's sock_set_default_impl and sock_get_default_impl: the socket
 * implementation of NVMe/TCP I/O queue pairs, posix or uring
 * (bdev/modules/nvme/nvme_sock_impl.h). */
#include "service.h"
#include "bdev/modules/nvme/nvme_sock_impl.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

#include <errno.h>
#include <string.h>

struct sock_impl_p {
	const char *impl_name;
};

static const struct rpc_param sock_impl_dec[] = {
	RPC_REQ_RANGE("impl_name", RPC_T_STRING, struct sock_impl_p, impl_name, 1, 32),
};

static void rpc_sock_set_default_impl(struct rpc_request *req, json_t *params)
{
	struct sock_impl_p p = { 0 };
	char err[200];
	int rc;

	RPC_DECODE_OR_RETURN(req, params, sock_impl_dec, p);
	rc = nvme_sock_set_default_impl(p.impl_name, err, sizeof(err));
	if (rc == -EINVAL) {
		/* SPDK answers an unknown implementation (xlio, ssl) with
		 * Invalid params */
		rpc_send_invalid_params(req, "impl_name: %s", err);
		return;
	}
	if (rc) {
		rpc_send_errno(req, rc, "%s", err);
		return;
	}
	rpc_send_bool(req, true);
}

static void rpc_sock_get_default_impl(struct rpc_request *req, json_t *params)
{
	char err[256];

	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	rpc_send_result(req, json_pack("{s:s}", "impl_name",
				       nvme_sock_impl_name(nvme_sock_default_impl())));
}

static const struct rpc_method sock_methods[] = {
	{ "sock_set_default_impl", rpc_sock_set_default_impl, RPC_STARTUP | RPC_RUNTIME },
	{ "sock_get_default_impl", rpc_sock_get_default_impl, RPC_STARTUP | RPC_RUNTIME },
};

void sock_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(sock_methods));
}
