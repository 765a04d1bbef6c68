/* Block-device RPCs shared by all modules. */
#ifndef OSNAP_BDEV_RPC_H
#define OSNAP_BDEV_RPC_H

#include <jansson.h>

struct rpc_request;

/* Generic *_delete handler body: params {"name"}; deletes the bdev if it
 * belongs to module and answers true, or the error. */
void bdev_rpc_delete(struct rpc_request *req, json_t *params, const char *module);

/* bdev_get_bdevs, bdev_get_iostat, bdev_dbg_io. */
void bdev_rpc_register(void);

#endif
