/* osnap-rpc's side of the wire: one JSON-RPC request over a Unix socket. */
#ifndef OSNAP_RPC_CLIENT_H
#define OSNAP_RPC_CLIENT_H

#include <stddef.h>
#include <jansson.h>

/* Connect to the Unix stream socket at path, send request (one JSON
 * value) and read back one complete JSON value, however the server splits
 * it across reads. timeout_s bounds the whole exchange (<= 0: no limit).
 * Returns 0 with *response set (caller frees), or a negative errno with a
 * message naming the socket in err: -ECONNREFUSED/-ENOENT/... when the
 * connection fails, -ETIMEDOUT, -EPROTO for a reply that is not JSON. */
int rpc_client_call(const char *path, double timeout_s, json_t *request, json_t **response,
		    char *err, size_t errlen);

#endif
