/* Global runtime parameters: SNAP's environment variables, read once at
 * start into one typed table (snap_global_param_list prints it). */
#ifndef OSNAP_PARAMS_H
#define OSNAP_PARAMS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum param_id {
	P_SNAP_ENABLE_POLL_SKIP,
	P_SNAP_POLL_CYCLE_SIZE,
	P_SNAP_RPC_LOG_ENABLE,
	P_SNAP_MEMPOOL_SIZE_MB,
	P_SNAP_MEMPOOL_4K_BUFFS_PER_CORE,
	P_SNAP_RDMA_ZCOPY_ENABLE,
	P_SNAP_TCP_XLIO_ENABLE,
	P_SNAP_TCP_XLIO_TX_ZCOPY,
	P_MLX5_SHUT_UP_BF,
	P_SNAP_SHARED_RX_CQ,
	P_SNAP_SHARED_TX_CQ,
	P_NVME_BDEV_RESET_ENABLE,
	P_VBLK_RECOVERY_SHM,
	P_SNAP_EMULATION_MANAGER,
	P_VIRTIO_EMU_PROVIDER,
	P_NVME_EMU_PROVIDER,
	P_IO_CORE_DISTRIBUTION_POLICY,
	P_SNAP_LOG_FILE,
	P_NUM
};

/* Read every parameter from the environment. A malformed value is an error
 * naming it (message in err, returns -EINVAL); an unknown SNAP_* variable is
 * logged as a warning. env is the environment block (NULL = environ). */
int params_load(char **env, char *err, size_t errlen);

int64_t param_int(enum param_id id);
const char *param_str(enum param_id id);	/* "" when unset and no default */
bool param_is_set(enum param_id id);
size_t param_count(void);
/* "NAME : set : value" / "NAME : not set : value" for entry i. */
void param_format(size_t i, char *buf, size_t len);

#endif
