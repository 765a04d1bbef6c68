/* Internals shared by the registry, the session and the server. */
#ifndef OSNAP_RPC_INTERNAL_H
#define OSNAP_RPC_INTERNAL_H

#include "rpc.h"
#include "jsonrpc_session.h"

struct rpc_batch {
	json_t *responses;	/* array being collected */
	int pending;		/* requests not answered yet (+1 while dispatching) */
	struct rpc_session *s;
};

struct rpc_request {
	struct rpc_session *s;			/* NULL for in-process calls */
	struct rpc_local_result *local;		/* in-process result */
	struct rpc_batch *batch;		/* NULL unless part of a batch */
	json_t *id;				/* NULL: notification (no answer sent) */
	json_t *params;				/* held until answered */
	char method[64];
};

/* Run a decoded request object (validated by the caller) or fail it. */
void rpc_dispatch(struct rpc_request *req, json_t *method, json_t *params);
/* Deliver a complete response object (stolen) for req and free req. */
void rpc_finish(struct rpc_request *req, json_t *response);
/* Send a finished batch's responses and free it. */
void rpc_batch_complete(struct rpc_batch *b);
/* Error response object with the given id (borrowed, may be NULL). */
json_t *rpc_error_object(json_t *id, int code, const char *msg);

/* RPC request/response history (SNAP_RPC_LOG_ENABLE). NULL path disables. */
void rpc_log_open(const char *path);
void rpc_log_close(void);
void rpc_log_text(const char *dir, const char *text, size_t len);

#endif
