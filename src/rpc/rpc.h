/* JSON-RPC 2.0 method registry and responses (transport independent).
 *
 * Threading: main thread only. A handler receives the request and its params
 * (an object; an absent or null params arrives as an empty object) and must
 * answer exactly once, now or later, with rpc_send_result/_bool/_error/_errno.
 * The params object stays valid until the answer; copy what an asynchronous
 * handler keeps. A failed request must change nothing. */
#ifndef OSNAP_RPC_H
#define OSNAP_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* JSON-RPC 2.0 error codes. Failures of valid requests use -errno. */
#define RPC_PARSE_ERROR		(-32700)
#define RPC_INVALID_REQUEST	(-32600)
#define RPC_METHOD_NOT_FOUND	(-32601)
#define RPC_INVALID_PARAMS	(-32602)
#define RPC_INTERNAL_ERROR	(-32603)
/* SPDK's code for a method called in the wrong framework state. */
#define RPC_INVALID_STATE	(-32604)

/* Framework states in which a method may be called (SPDK's masks). */
#define RPC_STARTUP	0x1u	/* before framework_start_init (--wait-for-rpc) */
#define RPC_RUNTIME	0x2u	/* after it */

struct rpc_request;

typedef void (*rpc_handler)(struct rpc_request *req, json_t *params);

struct rpc_method {
	const char *name;
	rpc_handler handler;
	uint32_t state_mask;
};

/* Register a family's table (static storage; kept by pointer). Duplicate
 * names abort at start: they are programming errors. */
void rpc_register_table(const struct rpc_method *methods, size_t n);
const struct rpc_method *rpc_find_method(const char *name);
/* Calls fn for every registered method, in registration order. */
void rpc_foreach_method(void (*fn)(const struct rpc_method *m, void *arg), void *arg);
/* Forget all tables (tests, shutdown). */
void rpc_registry_reset(void);

/* Called instead of answering "Method not found" for a method no table
 * has: it answers req itself (e.g. -95 for a method known but not served
 * yet, or -32601 with a suggestion). NULL restores the plain answer. */
typedef void (*rpc_unknown_handler)(struct rpc_request *req, const char *name);
void rpc_set_unknown_handler(rpc_unknown_handler fn);

/* Current framework state: RPC_STARTUP or RPC_RUNTIME. */
uint32_t rpc_get_state(void);
void rpc_set_state(uint32_t state);

/* --- answers; each consumes the request --- */
/* result: a new reference, stolen. */
void rpc_send_result(struct rpc_request *req, json_t *result);
void rpc_send_bool(struct rpc_request *req, bool v);
void rpc_send_error(struct rpc_request *req, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* code = neg_errno (e.g. -ENODEV); message as given. */
void rpc_send_errno(struct rpc_request *req, int neg_errno, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* -32602 with a message naming the parameter. */
void rpc_send_invalid_params(struct rpc_request *req, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* The method name of a request (for logs). */
const char *rpc_request_method(const struct rpc_request *req);

/* --- in-process calls (init files, --json replay, tests) --- */

/* Result of an in-process call: code 0 and result set, or an error. */
struct rpc_local_result {
	bool done;
	int code;		/* 0 on success */
	char message[512];
	json_t *result;		/* owned by the caller when done and code == 0 */
};
/* Dispatch method(params) in-process. params may be NULL; it is not stolen.
 * The answer may arrive later: poll res->done while running the main loop. */
void rpc_call_local(const char *method, json_t *params, struct rpc_local_result *res);

#endif
