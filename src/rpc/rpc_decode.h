/* Declarative decoding of JSON-RPC params into plain structs.
 *
 * A method describes its parameters in a const table; rpc_decode() checks
 * presence, types and ranges, rejects unknown keys, and fills the struct.
 * Every error is one sentence naming the parameter, meant for -32602. */
#ifndef OSNAP_RPC_DECODE_H
#define OSNAP_RPC_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum rpc_type {
	RPC_T_STRING,	/* const char *: borrowed from params (valid while they are) */
	RPC_T_BOOL,	/* bool; also accepts 0/1 integers (SNAP's "0/1" flags) */
	RPC_T_U8,
	RPC_T_U16,
	RPC_T_U32,
	RPC_T_U64,
	RPC_T_I32,
	RPC_T_I64,
	RPC_T_JSON,	/* json_t *: borrowed, any type */
	RPC_T_UUID,	/* uint8_t[16] from "xxxxxxxx-xxxx-..." */
};

#define RPC_NO_HAS ((size_t)-1)

struct rpc_param {
	const char *name;
	enum rpc_type type;
	size_t offset;		/* of the field in the output struct */
	size_t has_offset;	/* of a bool set when present, or RPC_NO_HAS */
	bool required;
	bool ranged;		/* check min..max (numbers) or max length (strings) */
	int64_t min, max;
	const char *alias;	/* another accepted key (e.g. "ctrl" for "ctrl_id") */
};

/* Table-building helpers. T is the output struct type. */
#define RPC_REQ(key, typ, T, field) \
	{ .name = key, .type = typ, .offset = offsetof(T, field), .has_offset = RPC_NO_HAS, .required = true }
#define RPC_OPT(key, typ, T, field) \
	{ .name = key, .type = typ, .offset = offsetof(T, field), .has_offset = RPC_NO_HAS }
#define RPC_OPT_HAS(key, typ, T, field, has) \
	{ .name = key, .type = typ, .offset = offsetof(T, field), .has_offset = offsetof(T, has) }
#define RPC_REQ_RANGE(key, typ, T, field, lo, hi) \
	{ .name = key, .type = typ, .offset = offsetof(T, field), .has_offset = RPC_NO_HAS, \
	  .required = true, .ranged = true, .min = (lo), .max = (hi) }
#define RPC_OPT_RANGE(key, typ, T, field, lo, hi) \
	{ .name = key, .type = typ, .offset = offsetof(T, field), .has_offset = RPC_NO_HAS, \
	  .ranged = true, .min = (lo), .max = (hi) }
#define RPC_OPT_HAS_RANGE(key, typ, T, field, has, lo, hi) \
	{ .name = key, .type = typ, .offset = offsetof(T, field), .has_offset = offsetof(T, has), \
	  .ranged = true, .min = (lo), .max = (hi) }

#define RPC_PARAMS(tbl) (tbl), (sizeof(tbl) / sizeof((tbl)[0]))

/* Decode params (an object, or NULL/null for none) into out. Fields of
 * absent optional params keep the value out had. Returns 0, or -EINVAL with
 * the message in err. */
int rpc_decode(json_t *params, const struct rpc_param *table, size_t n, void *out,
	       char *err, size_t errlen);

/* In a handler: decode params with table into p, or answer -32602 with the
 * decoder's message and return. */
#define RPC_DECODE_OR_RETURN(req, params, table, p) do { \
	char rpc_err_[256]; \
	if (rpc_decode((params), RPC_PARAMS(table), &(p), rpc_err_, sizeof(rpc_err_))) { \
		rpc_send_invalid_params((req), "%s", rpc_err_); \
		return; \
	} \
} while (0)

#endif
