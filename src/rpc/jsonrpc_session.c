/* Framing, parsing and validation of JSON-RPC 2.0 requests. */
#include "rpc_internal.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void rpc_session_init(struct rpc_session *s, const struct rpc_session_ops *ops, void *user)
{
	memset(s, 0, sizeof(*s));
	s->ops = ops;
	s->user = user;
	s->refs = 1;
	jsonrpc_framer_init(&s->framer, JSONRPC_MAX_REQUEST);
}

void rpc_session_ref(struct rpc_session *s)
{
	s->refs++;
}

void rpc_session_unref(struct rpc_session *s)
{
	if (--s->refs == 0) {
		jsonrpc_framer_fini(&s->framer);
		if (s->ops->release)
			s->ops->release(s);
	}
}

void rpc_session_close(struct rpc_session *s)
{
	if (s->closed)
		return;
	s->closed = true;
	rpc_session_unref(s);
}

static void write_error(struct rpc_session *s, json_t *id, int code, const char *msg)
{
	log_warn("RPC request refused: %d %s", code, msg);
	json_t *e = rpc_error_object(id, code, msg);
	char *txt = json_dumps(e, JSON_COMPACT);
	if (txt && !s->closed) {
		rpc_log_text("response", txt, strlen(txt));
		s->ops->write(s, txt, strlen(txt));
	}
	free(txt);
	json_decref(e);
}

/* Validate one request object and dispatch it. Errors before dispatch are
 * answered (into the batch when there is one). */
static void handle_one(struct rpc_session *s, struct rpc_batch *b, json_t *obj)
{
	json_t *id = NULL, *ver, *method, *params;
	const char *why = NULL;

	if (!json_is_object(obj)) {
		why = "Invalid request: not an object";
		goto invalid;
	}
	id = json_object_get(obj, "id");
	if (id && !json_is_string(id) && !json_is_integer(id) && !json_is_null(id)) {
		id = NULL;
		why = "Invalid request: id must be a string, an integer or null";
		goto invalid;
	}
	ver = json_object_get(obj, "jsonrpc");
	if (!json_is_string(ver) || strcmp(json_string_value(ver), "2.0")) {
		why = "Invalid request: \"jsonrpc\" must be \"2.0\"";
		goto invalid;
	}
	method = json_object_get(obj, "method");
	if (!json_is_string(method) || json_string_length(method) == 0 ||
	    json_string_length(method) >= 64) {
		why = "Invalid request: \"method\" must be a non-empty string";
		goto invalid;
	}
	const char *key;
	json_t *val;
	json_object_foreach(obj, key, val) {
		if (strcmp(key, "jsonrpc") && strcmp(key, "id") && strcmp(key, "method") &&
		    strcmp(key, "params")) {
			why = "Invalid request: unknown member";
			goto invalid;
		}
	}
	params = json_object_get(obj, "params");

	struct rpc_request *req = calloc(1, sizeof(*req));
	if (!req) {
		why = "out of memory";
		goto invalid;
	}
	req->s = s;
	rpc_session_ref(s);
	req->batch = b;
	if (b)
		b->pending++;
	req->id = id ? json_incref(id) : NULL;
	rpc_dispatch(req, method, params);
	return;

invalid: {
		log_warn("RPC request refused: %d %s", RPC_INVALID_REQUEST, why);
		json_t *e = rpc_error_object(id, RPC_INVALID_REQUEST, why);
		if (b)
			json_array_append_new(b->responses, e);
		else {
			char *txt = json_dumps(e, JSON_COMPACT);
			if (txt && !s->closed) {
				rpc_log_text("response", txt, strlen(txt));
				s->ops->write(s, txt, strlen(txt));
			}
			free(txt);
			json_decref(e);
		}
	}
}

static void on_frame(void *arg, const char *frame, size_t len)
{
	struct rpc_session *s = arg;
	json_error_t jerr;

	if (s->closed)
		return;
	rpc_log_text("request", frame, len);
	json_t *root = json_loadb(frame, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root) {
		char msg[256];
		snprintf(msg, sizeof(msg), "Parse error: %s (at byte %d)", jerr.text, jerr.position);
		write_error(s, NULL, RPC_PARSE_ERROR, msg);
		return;
	}
	if (json_is_array(root)) {
		if (json_array_size(root) == 0) {
			write_error(s, NULL, RPC_INVALID_REQUEST, "Invalid request: empty batch");
			json_decref(root);
			return;
		}
		struct rpc_batch *b = calloc(1, sizeof(*b));
		if (!b) {
			write_error(s, NULL, RPC_INTERNAL_ERROR, "out of memory");
			json_decref(root);
			return;
		}
		b->responses = json_array();
		b->s = s;
		b->pending = 1;	/* held while dispatching the members */
		rpc_session_ref(s);
		size_t i;
		json_t *el;
		json_array_foreach(root, i, el)
			handle_one(s, b, el);
		if (--b->pending == 0)
			rpc_batch_complete(b);
	} else {
		handle_one(s, NULL, root);
	}
	json_decref(root);
}

int rpc_session_feed(struct rpc_session *s, const char *data, size_t len)
{
	if (s->closed)
		return -EPIPE;
	rpc_session_ref(s);
	int rc = jsonrpc_framer_feed(&s->framer, data, len, on_frame, s);
	if (rc == -E2BIG)
		write_error(s, NULL, RPC_INVALID_REQUEST, "Invalid request: larger than 1 MiB");
	else if (rc == -EPROTO)
		write_error(s, NULL, RPC_PARSE_ERROR,
			    "Parse error: a request must be a JSON object or array");
	else if (rc)
		write_error(s, NULL, RPC_INTERNAL_ERROR, "out of memory");
	rpc_session_unref(s);
	return rc;
}
