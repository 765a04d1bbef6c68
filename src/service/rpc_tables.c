/* The explicit list of RPC families. */
#include "service.h"
#include "bdev/bdev_rpc.h"
#include "bdev/modules/modules.h"


void rpc_tables_register(void)
{
	framework_rpc_register();
	log_rpc_register();
	sock_rpc_register();
	spdk_log_rpc_register();
	reactor_rpc_register();
	bdev_rpc_register();
	bdev_malloc_rpc_register();
	bdev_null_rpc_register();
	bdev_uring_rpc_register();
	bdev_nvme_rpc_register();
	bdev_aio_rpc_register();
#ifdef OSNAP_HAVE_RBD
	bdev_rbd_rpc_register();
#endif
	emulation_rpc_register();
	sriov_rpc_register();
	nvme_rpc_register();
	virtio_blk_rpc_register();
	hotplug_rpc_register();
	unknown_rpc_register();
}
