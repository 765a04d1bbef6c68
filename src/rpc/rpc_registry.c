/* Method tables, answers, in-process calls and the RPC log. */
#include "rpc_internal.h"
#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TABLES 64

static struct {
	const struct rpc_method *m;
	size_t n;
} g_tables[MAX_TABLES];
static size_t g_ntables;
static uint32_t g_state = RPC_RUNTIME;
static rpc_unknown_handler g_unknown;

void rpc_register_table(const struct rpc_method *methods, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (rpc_find_method(methods[i].name)) {
			log_crit("RPC method %s registered twice", methods[i].name);
			abort();
		}
	}
	if (g_ntables == MAX_TABLES) {
		log_crit("too many RPC tables");
		abort();
	}
	g_tables[g_ntables].m = methods;
	g_tables[g_ntables].n = n;
	g_ntables++;
}

const struct rpc_method *rpc_find_method(const char *name)
{
	for (size_t t = 0; t < g_ntables; t++)
		for (size_t i = 0; i < g_tables[t].n; i++)
			if (!strcmp(g_tables[t].m[i].name, name))
				return &g_tables[t].m[i];
	return NULL;
}

void rpc_foreach_method(void (*fn)(const struct rpc_method *m, void *arg), void *arg)
{
	for (size_t t = 0; t < g_ntables; t++)
		for (size_t i = 0; i < g_tables[t].n; i++)
			fn(&g_tables[t].m[i], arg);
}

void rpc_registry_reset(void)
{
	g_ntables = 0;
	g_unknown = NULL;
}

void rpc_set_unknown_handler(rpc_unknown_handler fn)
{
	g_unknown = fn;
}

uint32_t rpc_get_state(void)
{
	return g_state;
}

void rpc_set_state(uint32_t state)
{
	g_state = state;
}

const char *rpc_request_method(const struct rpc_request *req)
{
	return req->method;
}

json_t *rpc_error_object(json_t *id, int code, const char *msg)
{
	return json_pack("{s:s, s:O?, s:{s:i, s:s}}", "jsonrpc", "2.0", "id", id ? id : json_null(),
			 "error", "code", code, "message", msg);
}

void rpc_batch_complete(struct rpc_batch *b)
{
	if (json_array_size(b->responses) && !b->s->closed) {
		char *txt = json_dumps(b->responses, JSON_COMPACT);
		if (txt) {
			rpc_log_text("response", txt, strlen(txt));
			b->s->ops->write(b->s, txt, strlen(txt));
			free(txt);
		}
	}
	json_decref(b->responses);
	rpc_session_unref(b->s);
	free(b);
}

void rpc_finish(struct rpc_request *req, json_t *response)
{
	if (req->local) {
		struct rpc_local_result *r = req->local;
		json_t *res = json_object_get(response, "result");
		json_t *err = json_object_get(response, "error");
		if (err) {
			r->code = (int)json_integer_value(json_object_get(err, "code"));
			snprintf(r->message, sizeof(r->message), "%s",
				 json_string_value(json_object_get(err, "message")) ?: "");
			r->result = NULL;
		} else {
			r->code = 0;
			r->message[0] = '\0';
			r->result = json_incref(res);
		}
		r->done = true;
	} else if (!req->id) {
		/* notification: no answer */
	} else if (req->batch) {
		json_array_append(req->batch->responses, response);
	} else if (!req->s->closed) {
		char *txt = json_dumps(response, JSON_COMPACT);
		if (txt) {
			rpc_log_text("response", txt, strlen(txt));
			req->s->ops->write(req->s, txt, strlen(txt));
			free(txt);
		}
	}
	json_decref(response);
	if (req->batch && --req->batch->pending == 0)
		rpc_batch_complete(req->batch);
	if (req->s)
		rpc_session_unref(req->s);
	json_decref(req->id);
	json_decref(req->params);
	free(req);
}

void rpc_send_result(struct rpc_request *req, json_t *result)
{
	json_t *resp = json_pack("{s:s, s:O?, s:o}", "jsonrpc", "2.0", "id",
				 req->id ? req->id : json_null(), "result", result ? result : json_null());
	rpc_finish(req, resp);
}

void rpc_send_bool(struct rpc_request *req, bool v)
{
	rpc_send_result(req, json_boolean(v));
}

static void send_errorv(struct rpc_request *req, int code, const char *fmt, va_list ap)
{
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	/* every failed request leaves a line an operator sees by default */
	log_warn("RPC %s failed: %d %s", req->method[0] ? req->method : "(no method)", code, msg);
	rpc_finish(req, rpc_error_object(req->id, code, msg));
}

void rpc_send_error(struct rpc_request *req, int code, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_errorv(req, code, fmt, ap);
	va_end(ap);
}

void rpc_send_errno(struct rpc_request *req, int neg_errno, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_errorv(req, neg_errno < 0 ? neg_errno : -neg_errno, fmt, ap);
	va_end(ap);
}

void rpc_send_invalid_params(struct rpc_request *req, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	send_errorv(req, RPC_INVALID_PARAMS, fmt, ap);
	va_end(ap);
}

void rpc_dispatch(struct rpc_request *req, json_t *method, json_t *params)
{
	const char *name = json_string_value(method);
	snprintf(req->method, sizeof(req->method), "%s", name);
	const struct rpc_method *m = rpc_find_method(name);
	if (!m) {
		if (g_unknown)
			g_unknown(req, name);
		else
			rpc_send_error(req, RPC_METHOD_NOT_FOUND, "Method not found: %s", name);
		return;
	}
	if (!(m->state_mask & g_state)) {
		if (g_state == RPC_STARTUP)
			rpc_send_error(req, RPC_INVALID_STATE,
				       "Method may only be called after framework is initialized using framework_start_init RPC.");
		else
			rpc_send_error(req, RPC_INVALID_STATE,
				       "Method may only be called before framework_start_init.");
		return;
	}
	if (params && json_is_null(params))
		params = NULL;
	if (params && !json_is_object(params)) {
		rpc_send_invalid_params(req, "params must be an object of named parameters");
		return;
	}
	req->params = params ? json_incref(params) : json_object();
	log_debug("RPC %s", name);
	m->handler(req, req->params);
}

void rpc_call_local(const char *method, json_t *params, struct rpc_local_result *res)
{
	struct rpc_request *req = calloc(1, sizeof(*req));
	memset(res, 0, sizeof(*res));
	if (!req) {
		res->done = true;
		res->code = -12;
		snprintf(res->message, sizeof(res->message), "out of memory");
		return;
	}
	req->local = res;
	req->id = json_integer(0);
	json_t *m = json_string(method);
	rpc_dispatch(req, m, params);
	json_decref(m);
}
