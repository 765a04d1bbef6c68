/* SPDK's log_set_level / log_get_level / log_set_print_level /
 * log_get_print_level on osnap's one log.
 *
 * SPDK sends messages up to the log level to syslog and up to the print
 * level to stderr; osnap writes one log (stderr or SNAP_LOG_FILE), so it
 * holds every message either level lets through: its level (SNAP's 0-5,
 * also set by snap_log_level_set) is the higher of the two. */
#include "service.h"
#include "core/log.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

#include <stdio.h>
#include <strings.h>

/* SPDK's levels, in SPDK's order (SPDK_LOG_DISABLED is -1) */
static const struct {
	const char *name;
	int osnap;	/* what it lets through in osnap's terms */
} g_spdk_levels[] = {
	{ "DISABLED", LOG_CRIT },	/* osnap always keeps critical messages */
	{ "ERROR", LOG_ERR },
	{ "WARNING", LOG_WARN },
	{ "NOTICE", LOG_INFO },
	{ "INFO", LOG_INFO },
	{ "DEBUG", LOG_DEBUG },
};
#define NLEVELS ((int)(sizeof(g_spdk_levels) / sizeof(g_spdk_levels[0])))
#define NOTICE 3

/* [0]: log level, [1]: print level (indexes into g_spdk_levels); SPDK's
 * defaults. Main thread. */
static int g_set[2] = { NOTICE, NOTICE };
/* osnap's level when they were last applied (a snap_log_level_set since
 * then wins) */
static int g_applied = -1;

static int level_index(const char *s)
{
	for (int i = 0; i < NLEVELS; i++)
		if (!strcasecmp(s, g_spdk_levels[i].name))
			return i;
	if (!strcasecmp(s, "WARN"))	/* SPDK's parser takes both */
		return 2;
	return -1;
}

/* The SPDK name of which (0 log, 1 print) as osnap's level now stands. */
static const char *current_name(int which)
{
	int lvl = log_get_level();
	if (lvl == g_applied)
		return g_spdk_levels[g_set[which]].name;
	/* changed by snap_log_level_set (or --log-level): name osnap's level */
	for (int i = NLEVELS - 1; i >= 0; i--)
		if (g_spdk_levels[i].osnap <= lvl && i != NOTICE)
			return g_spdk_levels[i].name;
	return "DISABLED";
}

struct level_p {
	const char *level;
};

static const struct rpc_param level_dec[] = {
	RPC_REQ("level", RPC_T_STRING, struct level_p, level),
};

static void set_level(struct rpc_request *req, json_t *params, int which)
{
	struct level_p p = { 0 };
	RPC_DECODE_OR_RETURN(req, params, level_dec, p);
	int i = level_index(p.level);
	if (i < 0) {
		rpc_send_invalid_params(req, "invalid parameter 'level': %s is not one of DISABLED, ERROR, WARNING, "
					"NOTICE, INFO, DEBUG", p.level);
		return;
	}
	/* the other level as it stands now (it may have been changed by
	 * snap_log_level_set) */
	g_set[!which] = level_index(current_name(!which));
	g_set[which] = i;
	int a = g_spdk_levels[g_set[0]].osnap, b = g_spdk_levels[g_set[1]].osnap;
	g_applied = a > b ? a : b;
	log_set_level(g_applied);
	rpc_send_bool(req, true);
}

static void get_level(struct rpc_request *req, json_t *params, int which)
{
	char err[256];
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	rpc_send_result(req, json_string(current_name(which)));
}

static void rpc_log_set_level(struct rpc_request *req, json_t *params) { set_level(req, params, 0); }
static void rpc_log_set_print_level(struct rpc_request *req, json_t *params) { set_level(req, params, 1); }
static void rpc_log_get_level(struct rpc_request *req, json_t *params) { get_level(req, params, 0); }
static void rpc_log_get_print_level(struct rpc_request *req, json_t *params) { get_level(req, params, 1); }

static const struct rpc_method spdk_log_methods[] = {
	{ "log_set_level", rpc_log_set_level, RPC_STARTUP | RPC_RUNTIME },
	{ "log_get_level", rpc_log_get_level, RPC_STARTUP | RPC_RUNTIME },
	{ "log_set_print_level", rpc_log_set_print_level, RPC_STARTUP | RPC_RUNTIME },
	{ "log_get_print_level", rpc_log_get_print_level, RPC_STARTUP | RPC_RUNTIME },
};

void spdk_log_rpc_register(void)
{
	g_applied = log_get_level() == LOG_INFO ? LOG_INFO : -1;
	rpc_register_table(RPC_PARAMS(spdk_log_methods));
}
