/* The common shape of the controller RPC families (SNAP's nvme_* and
 * virtio_blk_controller_*): decode the params, find the controller that
 * ctrl_id names or answer -ENODEV naming it, answer an operation's outcome.
 *
 * A family describes its controllers with a struct ctrl_family (defined by
 * CTRL_RPC_FAMILY). Its handlers keep their own decode tables and call the
 * helpers below; the RPCs both families have in the same form (..._modify,
 * ..._dbg_io_stats_get, ..._dbg_debug_stats_get, ..._vfs_msix_reclaim) are
 * the ctrl_rpc_* handlers here, bound to the family by CTRL_RPC_FAMILY.
 * Main thread. */
#ifndef OSNAP_CTRL_RPC_H
#define OSNAP_CTRL_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "emu/emu.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

struct ctrl_family {
	const char *what;	/* "NVMe controller": "<what> <ctrl_id> does not exist" */
	const char *(*ctrl_name)(void *c);	/* its name as created */
	void *(*find)(const char *ctrl_id);
	void *(*first)(void);
	void *(*next)(void *c);
	json_t *(*json)(void *c);		/* its entry in ..._list */
	json_t *(*io_stats_json)(void *c);
	json_t *(*debug_stats_json)(void *c);
	int (*modify)(void *c, bool has_num_queues, uint32_t num_queues, char *err, size_t errlen);
};

/* --- decode-table entries (T: the handler's params struct) --- */

/* ctrl_id naming an existing controller (also accepted as "ctrl") */
#define CTRL_RPC_ID_REQ(T, field) \
	{ .name = "ctrl_id", .type = RPC_T_STRING, .offset = offsetof(T, field), \
	  .has_offset = RPC_NO_HAS, .required = true, .alias = "ctrl" }
#define CTRL_RPC_ID_OPT(T, field) \
	{ .name = "ctrl_id", .type = RPC_T_STRING, .offset = offsetof(T, field), \
	  .has_offset = RPC_NO_HAS, .alias = "ctrl" }
/* ctrl_id of a controller being created: optional, 1..63 characters */
#define CTRL_RPC_ID_NEW(T, field) \
	{ .name = "ctrl_id", .type = RPC_T_STRING, .offset = offsetof(T, field), \
	  .has_offset = RPC_NO_HAS, .ranged = true, .min = 1, .max = 63, .alias = "ctrl" }

/* --- answers; each consumes the request --- */

/* rc 0: true; else the error rc (-errno) with err as its message. */
void ctrl_rpc_answer(struct rpc_request *req, int rc, const char *err);
/* The error of a failed create or change: -EINVAL is -32602 with err (a
 * message naming the parameter), any other rc is itself with err. */
void ctrl_rpc_fail(struct rpc_request *req, int rc, const char *err);
/* The completion of an asynchronous operation (arg: the request): true, or
 * the error rc with msg (strerror when msg is NULL). */
void ctrl_rpc_done(void *arg, int rc, const char *msg);

/* --- finding a controller --- */

/* f's controller named ctrl_id, or NULL after answering -ENODEV. */
void *ctrl_rpc_find(struct rpc_request *req, const struct ctrl_family *f, const char *ctrl_id);
/* Decode params with table into p, then find the controller named by
 * *ctrl_id (the field of p that table's CTRL_RPC_ID_REQ fills). NULL: the
 * request is answered (-32602 from the decoder, or -ENODEV). */
void *ctrl_rpc_decode_find(struct rpc_request *req, json_t *params, const struct ctrl_family *f,
			   const struct rpc_param *table, size_t n, void *p, const char *const *ctrl_id);

/* --- creating: the checks of the chosen function both families make
 * (its MSI-X parameters: ctrl_msix.h) --- */

/* Answer -32602: num_queues I/O queues need num_queues + 1 MSI-X vectors,
 * more than fn has. */
void ctrl_rpc_too_few_vectors(struct rpc_request *req, struct emu_function *fn, uint32_t num_queues);

/* --- listing --- */

/* Answer the list entries of f's controllers: the one ctrl_id names
 * (-ENODEV when none), or all when ctrl_id is NULL; keep, when not NULL,
 * drops the entries for which it returns false. */
void ctrl_rpc_list(struct rpc_request *req, const struct ctrl_family *f, const char *ctrl_id,
		   bool (*keep)(json_t *entry, const void *arg), const void *arg);

/* --- the handlers both families share (params as the rpc_handler's) --- */

/* ctrl_id, num_queues, num_msix (dynamic MSI-X: ctrl_msix_modify) */
void ctrl_rpc_modify(struct rpc_request *req, json_t *params, const struct ctrl_family *f);
/* ctrl_id */
void ctrl_rpc_io_stats(struct rpc_request *req, json_t *params, const struct ctrl_family *f);
void ctrl_rpc_debug_stats(struct rpc_request *req, json_t *params, const struct ctrl_family *f);
/* ctrl_id (ctrl_msix_reclaim) */
void ctrl_rpc_msix_reclaim(struct rpc_request *req, json_t *params, const struct ctrl_family *f);

/* --- a family --- */

/* In a family's .c: define the struct ctrl_family `name` for the controllers
 * that P_find, P_name, P_first, P_next, P_json, P_io_stats_json,
 * P_debug_stats_json and P_modify serve (P: e.g. nvme_ctrl; typed adapters to the void * ops),
 * and the shared handlers bound to it, for the family's method table:
 * name_rpc_modify, name_rpc_io_stats, name_rpc_debug_stats and
 * name_rpc_msix_reclaim. */
#define CTRL_RPC_FAMILY(name, what_, P) \
	static void *name##_find(const char *ctrl_id) { return P##_find(ctrl_id); } \
	static const char *name##_ctrl_name(void *c) { return P##_name(c); } \
	static void *name##_first(void) { return P##_first(); } \
	static void *name##_next(void *c) { return P##_next(c); } \
	static json_t *name##_json(void *c) { return P##_json(c); } \
	static json_t *name##_io_stats_json(void *c) { return P##_io_stats_json(c); } \
	static json_t *name##_debug_stats_json(void *c) { return P##_debug_stats_json(c); } \
	static int name##_modify(void *c, bool has_num_queues, uint32_t num_queues, char *err, size_t errlen) \
	{ \
		return P##_modify(c, has_num_queues, num_queues, err, errlen); \
	} \
	static const struct ctrl_family name = { \
		.what = (what_), .ctrl_name = name##_ctrl_name, .find = name##_find, \
		.first = name##_first, .next = name##_next, \
		.json = name##_json, .io_stats_json = name##_io_stats_json, \
		.debug_stats_json = name##_debug_stats_json, .modify = name##_modify, \
	}; \
	CTRL_RPC_BIND_(name, modify) \
	CTRL_RPC_BIND_(name, io_stats) \
	CTRL_RPC_BIND_(name, debug_stats) \
	CTRL_RPC_BIND_(name, msix_reclaim)

/* (CTRL_RPC_FAMILY) the rpc_handler name_rpc_h calling ctrl_rpc_h with &name */
#define CTRL_RPC_BIND_(name, h) \
	static void name##_rpc_##h(struct rpc_request *req, json_t *params) \
	{ \
		ctrl_rpc_##h(req, params, &name); \
	}

/* In a handler: decode params with table into p (a struct with a ctrl_id
 * that table fills) and evaluate to the controller of family f (a pointer)
 * that it names, or NULL with the request answered. */
#define CTRL_RPC_DECODE_FIND(req, params, f, table, p) \
	ctrl_rpc_decode_find((req), (params), (f), RPC_PARAMS(table), &(p), &(p).ctrl_id)

#endif
