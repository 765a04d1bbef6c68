/* Framework RPCs: rpc_get_methods, spdk_get_version, osnap_get_version,
 * framework_start_init, framework_wait_init, framework_get_subsystems,
 * framework_get_config, save_config. */
#include "service.h"
#include "bdev/bdev.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

#include <errno.h>
#include <string.h>


static framework_init_fn g_init_fn;
static bool g_initialized;
static bool g_init_done;		/* the init step finished and succeeded */

/* framework_wait_init requests waiting for the init step (main thread) */
#define MAX_WAITERS 64
static struct rpc_request *g_waiters[MAX_WAITERS];
static int g_nwaiters;

/* Answer every framework_wait_init waiting: true, or rc with msg. */
static void answer_waiters(int rc, const char *msg)
{
	while (g_nwaiters > 0) {
		struct rpc_request *req = g_waiters[--g_nwaiters];
		if (rc)
			rpc_send_errno(req, rc, "%s", msg);
		else
			rpc_send_bool(req, true);
	}
}

void framework_set_init(framework_init_fn fn)
{
	g_init_fn = fn;
}

bool framework_initialized(void)
{
	return g_initialized;
}

int framework_init(char *err, size_t errlen)
{
	if (g_initialized)
		return -EALREADY;
	g_initialized = true;
	rpc_set_state(RPC_RUNTIME);
	int rc = g_init_fn ? g_init_fn(err, errlen) : 0;
	g_init_done = rc == 0;
	return rc;
}

struct get_methods_params {
	bool current;
	bool include_aliases;
};

static const struct rpc_param get_methods_decoders[] = {
	RPC_OPT("current", RPC_T_BOOL, struct get_methods_params, current),
	RPC_OPT("include_aliases", RPC_T_BOOL, struct get_methods_params, include_aliases),
};

struct collect {
	json_t *arr;
	bool current;
};

static void collect_method(const struct rpc_method *m, void *arg)
{
	struct collect *c = arg;
	if (c->current && !(m->state_mask & rpc_get_state()))
		return;
	json_array_append_new(c->arr, json_string(m->name));
}

static void rpc_rpc_get_methods(struct rpc_request *req, json_t *params)
{
	struct get_methods_params p = { 0 };
	RPC_DECODE_OR_RETURN(req, params, get_methods_decoders, p);
	struct collect c = { json_array(), p.current };
	rpc_foreach_method(collect_method, &c);
	rpc_send_result(req, c.arr);
}

static void rpc_version(struct rpc_request *req, json_t *params)
{
	char err[256];
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	/* SPDK's layout, with osnap's own version in it */
	rpc_send_result(req, json_pack("{s:s, s:{s:i, s:i, s:i, s:s, s:s}}",
		"version", "osnap v" OSNAP_VERSION, "fields", "major", 0, "minor", 1, "patch", 0,
		"suffix", "", "commit", ""));
}

static void framework_init_answer(struct rpc_request *req)
{
	char err[512] = "";
	int rc = framework_init(err, sizeof(err));
	if (rc == -EALREADY) {
		rpc_send_errno(req, rc, "the framework is already initialized");
	} else if (rc) {
		rpc_send_errno(req, rc < 0 && rc > -4096 ? rc : -EINVAL, "initialization failed: %s", err);
		answer_waiters(rc < 0 && rc > -4096 ? rc : -EINVAL, "initialization failed");
	} else {
		rpc_send_bool(req, true);
		answer_waiters(0, NULL);
	}
}

/* framework_start_init waiting for framework_run_pending_init(). */
static struct rpc_request *g_init_req;

static void rpc_framework_start_init(struct rpc_request *req, json_t *params)
{
	char err[512] = "";
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	if (g_initialized || g_init_req) {
		rpc_send_errno(req, -EALREADY, "the framework is already initialized");
		return;
	}
	if (!g_init_fn) {
		framework_init_answer(req);
		return;
	}
	/* The init step replays files and waits for their I/O by running the
	 * event loop; run from inside this handler it would re-enter the loop
	 * from one of its own callbacks. The application runs it next, from
	 * the top of its loop. */
	g_init_req = req;
}

bool framework_init_pending(void)
{
	return g_init_req != NULL;
}

void framework_run_pending_init(bool cancel)
{
	struct rpc_request *req = g_init_req;

	if (!req)
		return;
	g_init_req = NULL;
	if (cancel)
		rpc_send_errno(req, -ECANCELED, "the service is shutting down");
	else
		framework_init_answer(req);
}

void framework_cancel_waiters(void)
{
	answer_waiters(-ECANCELED, "the service is shutting down");
}

/* SPDK's framework_wait_init: true once the framework is initialized; until
 * then (--wait-for-rpc) the answer waits for framework_start_init. */
static void rpc_framework_wait_init(struct rpc_request *req, json_t *params)
{
	char err[256];
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	if (g_init_done) {
		rpc_send_bool(req, true);
		return;
	}
	if (g_nwaiters == MAX_WAITERS) {
		rpc_send_errno(req, -EBUSY, "too many framework_wait_init requests waiting");
		return;
	}
	g_waiters[g_nwaiters++] = req;
}

/* framework_get_subsystems / framework_get_config: the subsystems are
 * save_config's (bdev first; the emulation subsystems use its bdevs). */
static void rpc_framework_get_subsystems(struct rpc_request *req, json_t *params)
{
	char err[256];
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	json_t *cfg = config_save(), *out = json_array(), *sub;
	size_t i;
	json_array_foreach(json_object_get(cfg, "subsystems"), i, sub) {
		const char *name = json_string_value(json_object_get(sub, "subsystem"));
		json_t *deps = strcmp(name, "bdev") ? json_pack("[s]", "bdev") : json_array();
		json_array_append_new(out, json_pack("{s:s, s:o}", "subsystem", name, "depends_on", deps));
	}
	json_decref(cfg);
	rpc_send_result(req, out);
}

struct get_config_p {
	const char *name;
};

static const struct rpc_param get_config_dec[] = {
	RPC_REQ("name", RPC_T_STRING, struct get_config_p, name),
};

static void rpc_framework_get_config(struct rpc_request *req, json_t *params)
{
	struct get_config_p p = { 0 };
	RPC_DECODE_OR_RETURN(req, params, get_config_dec, p);
	json_t *cfg = config_save(), *sub;
	size_t i;
	json_array_foreach(json_object_get(cfg, "subsystems"), i, sub) {
		if (!strcmp(json_string_value(json_object_get(sub, "subsystem")), p.name)) {
			json_t *c = json_incref(json_object_get(sub, "config"));
			json_decref(cfg);
			rpc_send_result(req, c);
			return;
		}
	}
	json_decref(cfg);
	rpc_send_invalid_params(req, "invalid parameter 'name': subsystem %s not found", p.name);
}

static void rpc_save_config(struct rpc_request *req, json_t *params)
{
	char err[256];
	json_t *indent;
	struct { json_t *indent; } p = { 0 };
	static const struct rpc_param decoders[] = {
		{ .name = "indent", .type = RPC_T_JSON, .offset = 0, .has_offset = RPC_NO_HAS },
	};
	if (rpc_decode(params, RPC_PARAMS(decoders), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	indent = p.indent;
	(void)indent;	/* formatting is the client's business */
	rpc_send_result(req, config_save());
}

static const struct rpc_method framework_methods[] = {
	{ "rpc_get_methods", rpc_rpc_get_methods, RPC_STARTUP | RPC_RUNTIME },
	{ "spdk_get_version", rpc_version, RPC_STARTUP | RPC_RUNTIME },
	{ "osnap_get_version", rpc_version, RPC_STARTUP | RPC_RUNTIME },
	{ "framework_start_init", rpc_framework_start_init, RPC_STARTUP },
	{ "framework_wait_init", rpc_framework_wait_init, RPC_STARTUP | RPC_RUNTIME },
	{ "framework_get_subsystems", rpc_framework_get_subsystems, RPC_STARTUP | RPC_RUNTIME },
	{ "framework_get_config", rpc_framework_get_config, RPC_STARTUP | RPC_RUNTIME },
	{ "save_config", rpc_save_config, RPC_STARTUP | RPC_RUNTIME },
};

void framework_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(framework_methods));
}
