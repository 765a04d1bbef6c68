/* A JSON-RPC session: one byte stream of requests and responses.
 *
 * Transport independent: the RPC server wraps each Unix socket connection
 * in one, the fuzz target feeds bytes from memory. Bytes go in through
 * rpc_session_feed(); responses come out through the write callback (maybe
 * later, for asynchronous methods). Main thread only. */
#ifndef OSNAP_JSONRPC_SESSION_H
#define OSNAP_JSONRPC_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include "jsonrpc_frame.h"

struct rpc_session;

struct rpc_session_ops {
	/* Send bytes to the peer (called only while the session is open). */
	void (*write)(struct rpc_session *s, const char *buf, size_t len);
	/* The last reference is gone: free transport state. May be NULL. */
	void (*release)(struct rpc_session *s);
};

struct rpc_session {
	const struct rpc_session_ops *ops;
	void *user;
	int refs;
	bool closed;
	struct jsonrpc_framer framer;
};

/* Initialise (refs = 1, owned by the transport). */
void rpc_session_init(struct rpc_session *s, const struct rpc_session_ops *ops, void *user);
/* Feed received bytes. Returns 0, or a negative errno when the stream can no
 * longer be framed (the error response was already written): the transport
 * should then close the connection. */
int rpc_session_feed(struct rpc_session *s, const char *data, size_t len);
/* The transport is gone: no more writes; drops the transport's reference. */
void rpc_session_close(struct rpc_session *s);
void rpc_session_ref(struct rpc_session *s);
void rpc_session_unref(struct rpc_session *s);

#endif
