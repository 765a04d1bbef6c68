/* The JSON-RPC server on a Unix stream socket (main thread). */
#ifndef OSNAP_RPC_SERVER_H
#define OSNAP_RPC_SERVER_H

/* Listen on path (mode 0600). A stale socket file (nobody listening) is
 * replaced; a live one is an error (-EADDRINUSE). Returns 0 or -errno. */
int rpc_server_start(const char *path);
/* Stop accepting, close every connection, remove the socket file. */
void rpc_server_stop(void);
int rpc_server_num_connections(void);

#endif
