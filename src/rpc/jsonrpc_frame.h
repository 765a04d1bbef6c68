/* Framing of a JSON-RPC byte stream into complete top-level JSON values.
 *
 * A small scanner tracks nesting, strings and escapes, so a value split
 * across reads, several values in one read, and byte-at-a-time input all
 * frame correctly in O(n). It does not validate JSON: jansson parses each
 * frame. Each top-level value must be an object or an array. */
#ifndef OSNAP_JSONRPC_FRAME_H
#define OSNAP_JSONRPC_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#define JSONRPC_MAX_REQUEST (1u << 20)	/* 1 MiB */

struct jsonrpc_framer {
	char *buf;
	size_t len, cap;
	size_t scan;		/* bytes of buf already scanned */
	size_t start;		/* start of the current value, or (size_t)-1 */
	int depth;
	bool in_str, esc;
	size_t max;
};

typedef void (*jsonrpc_frame_cb)(void *arg, const char *frame, size_t len);

void jsonrpc_framer_init(struct jsonrpc_framer *f, size_t max);
void jsonrpc_framer_fini(struct jsonrpc_framer *f);
/* Append data and call cb for every complete value. Returns 0, -E2BIG when a
 * value grows past max, -EPROTO when a value does not start with { or [,
 * -ENOMEM. After an error the framer must not be fed again. */
int jsonrpc_framer_feed(struct jsonrpc_framer *f, const char *data, size_t len,
			jsonrpc_frame_cb cb, void *arg);

#endif
