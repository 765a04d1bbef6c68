/* Declarative params decoding. See rpc_decode.h. */
#include "rpc_decode.h"
#include "bdev/bdev.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

static const char *type_name(enum rpc_type t)
{
	switch (t) {
	case RPC_T_STRING: return "a string";
	case RPC_T_BOOL: return "a boolean";
	case RPC_T_U8: case RPC_T_U16: case RPC_T_U32: case RPC_T_U64:
		return "a non-negative integer";
	case RPC_T_I32: case RPC_T_I64: return "an integer";
	case RPC_T_UUID: return "a UUID string";
	case RPC_T_JSON: return "a JSON value";
	}
	return "?";
}

static int decode_int(const struct rpc_param *p, json_t *v, void *field, char *err, size_t errlen)
{
	static const struct { int64_t lo; uint64_t hi; } lim[] = {
		[RPC_T_U8] = { 0, UINT8_MAX }, [RPC_T_U16] = { 0, UINT16_MAX },
		[RPC_T_U32] = { 0, UINT32_MAX }, [RPC_T_U64] = { 0, UINT64_MAX },
		[RPC_T_I32] = { INT32_MIN, INT32_MAX }, [RPC_T_I64] = { INT64_MIN, INT64_MAX },
	};
	json_int_t n;

	if (!json_is_integer(v)) {
		snprintf(err, errlen, "invalid parameter '%s': must be %s", p->name, type_name(p->type));
		return -EINVAL;
	}
	n = json_integer_value(v);
	/* jansson integers are signed 64-bit: U64 tops out at INT64_MAX here */
	if (n < lim[p->type].lo || (n > 0 && (uint64_t)n > lim[p->type].hi)) {
		snprintf(err, errlen, "invalid parameter '%s': %" PRId64 " does not fit (must be %s of at most %" PRIu64 " bits)",
			 p->name, (int64_t)n, type_name(p->type),
			 (uint64_t)(p->type == RPC_T_U8 ? 8 : p->type == RPC_T_U16 ? 16 :
				    (p->type == RPC_T_U32 || p->type == RPC_T_I32) ? 32 : 64));
		return -EINVAL;
	}
	if (p->ranged && (n < p->min || n > p->max)) {
		snprintf(err, errlen, "invalid parameter '%s': %" PRId64 " is out of range (%" PRId64 "..%" PRId64 ")",
			 p->name, (int64_t)n, p->min, p->max);
		return -EINVAL;
	}
	switch (p->type) {
	case RPC_T_U8: *(uint8_t *)field = (uint8_t)n; break;
	case RPC_T_U16: *(uint16_t *)field = (uint16_t)n; break;
	case RPC_T_U32: *(uint32_t *)field = (uint32_t)n; break;
	case RPC_T_U64: *(uint64_t *)field = (uint64_t)n; break;
	case RPC_T_I32: *(int32_t *)field = (int32_t)n; break;
	case RPC_T_I64: *(int64_t *)field = (int64_t)n; break;
	default: break;
	}
	return 0;
}

static int decode_one(const struct rpc_param *p, json_t *v, void *out, char *err, size_t errlen)
{
	void *field = (char *)out + p->offset;

	switch (p->type) {
	case RPC_T_STRING:
		if (!json_is_string(v))
			goto badtype;
		if (strlen(json_string_value(v)) != json_string_length(v)) {
			snprintf(err, errlen, "invalid parameter '%s': contains a NUL character", p->name);
			return -EINVAL;
		}
		if (p->ranged && ((int64_t)json_string_length(v) < p->min ||
				  (int64_t)json_string_length(v) > p->max)) {
			snprintf(err, errlen, "invalid parameter '%s': length must be %" PRId64 "..%" PRId64 " characters",
				 p->name, p->min, p->max);
			return -EINVAL;
		}
		*(const char **)field = json_string_value(v);
		return 0;
	case RPC_T_BOOL:
		if (json_is_boolean(v)) {
			*(bool *)field = json_is_true(v);
			return 0;
		}
		if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
			*(bool *)field = json_integer_value(v) == 1;
			return 0;
		}
		goto badtype;
	case RPC_T_JSON:
		*(json_t **)field = v;
		return 0;
	case RPC_T_UUID:
		if (!json_is_string(v) || uuid_parse16(json_string_value(v), field)) {
			snprintf(err, errlen, "invalid parameter '%s': must be a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)",
				 p->name);
			return -EINVAL;
		}
		return 0;
	default:
		return decode_int(p, v, field, err, errlen);
	}
badtype:
	snprintf(err, errlen, "invalid parameter '%s': must be %s", p->name, type_name(p->type));
	return -EINVAL;
}

int rpc_decode(json_t *params, const struct rpc_param *table, size_t n, void *out,
	       char *err, size_t errlen)
{
	const char *key;
	json_t *v;

	if (params && json_is_null(params))
		params = NULL;
	if (params && !json_is_object(params)) {
		snprintf(err, errlen, "params must be an object");
		return -EINVAL;
	}
	if (params) {
		json_object_foreach(params, key, v) {
			bool known = false;
			for (size_t i = 0; i < n && !known; i++)
				known = !strcmp(key, table[i].name) ||
					(table[i].alias && !strcmp(key, table[i].alias));
			if (!known) {
				snprintf(err, errlen, "unknown parameter '%s'", key);
				return -EINVAL;
			}
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct rpc_param *p = &table[i];
		v = params ? json_object_get(params, p->name) : NULL;
		if (!v && p->alias && params)
			v = json_object_get(params, p->alias);
		if (!v) {
			if (p->required) {
				snprintf(err, errlen, "missing required parameter '%s'", p->name);
				return -EINVAL;
			}
			continue;
		}
		int rc = decode_one(p, v, out, err, errlen);
		if (rc)
			return rc;
		if (p->has_offset != RPC_NO_HAS)
			*(bool *)((char *)out + p->has_offset) = true;
	}
	return 0;
}
