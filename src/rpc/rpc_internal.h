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

/* RPC request/response history (SNAP_RPC_LOG_ENABLE), rpc_log.c. NULL path
 * disables. Past max_bytes the file is rotated: path -> path.1 -> path.2 ->
 * path.3 (the oldest dropped). Bulk data stays out: a string value longer
 * than RPC_LOG_MAX_STRING characters (bdev_dbg_io's base64 payloads) is
 * written as "<N characters>". */
#define RPC_LOG_MAX_STRING 256
#define RPC_LOG_KEEP 3
void rpc_log_open(const char *path, uint64_t max_bytes);
void rpc_log_close(void);
void rpc_log_text(const char *dir, const char *text, size_t len);

#endif
