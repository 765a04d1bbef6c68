/* SPDK's sock_set_default_impl: osnap's sockets are plain POSIX ones. */
#include "service.h"
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
	RPC_DECODE_OR_RETURN(req, params, sock_impl_dec, p);
	if (strcmp(p.impl_name, "posix")) {
		/* SPDK answers an unknown implementation with -EINVAL; xlio and
		 * uring exist in SPDK but not in osnap: say what there is */
		rpc_send_errno(req, -EOPNOTSUPP, "socket implementation %s is not available in osnap (it has posix only)",
			       p.impl_name);
		return;
	}
	rpc_send_bool(req, true);
}

static const struct rpc_method sock_methods[] = {
	{ "sock_set_default_impl", rpc_sock_set_default_impl, RPC_STARTUP | RPC_RUNTIME },
};

void sock_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(sock_methods));
}
