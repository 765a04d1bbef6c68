/* NVM command set I/O of the host NVMe driver: preparing read, write,
 * compare, write zeroes, flush and dataset management commands, and the
 * synchronous wrapper. */
#include <errno.h>
#include <string.h>

#include "host/nvme_host_priv.h"

#define UNKNOWN_NS_BLOCK	512u	/* bytes per block for NSIDs not in the cache */

int nvme_host_cmd_rw(const struct nvme_host *h, struct nvme_host_cmd *cmd, uint8_t opcode,
		     uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf, uint32_t flags)
{
	struct nvme_host_ns ns;
	uint32_t bb = UNKNOWN_NS_BLOCK;

	if (!h || !cmd)
		return -EINVAL;
	if (nvme_host_ns_info(h, nsid, &ns) == 0)
		bb = ns.block_bytes;
	memset(cmd, 0, sizeof(*cmd));
	cmd->sqe.opc = opcode;
	cmd->sqe.nsid = nsid;
	cmd->flags = flags & NVME_HOST_F_SGL;

	uint32_t cdw12 = 0;
	if (flags & NVME_HOST_F_FUA)
		cdw12 |= NVME_RW_FUA;
	if (flags & NVME_HOST_F_LR)
		cdw12 |= NVME_RW_LR;
	switch (opcode) {
	case NVME_CMD_READ:
	case NVME_CMD_WRITE:
	case NVME_CMD_COMPARE:
		if (nlb < 1 || nlb > 65536)
			return -EINVAL;
		cmd->buf = buf;
		cmd->len = (size_t)nlb * bb;
		break;
	case NVME_CMD_WRITE_ZEROES:
		if (nlb < 1 || nlb > 65536)
			return -EINVAL;
		if (flags & NVME_HOST_F_DEAC)
			cdw12 |= NVME_RW_DEAC;
		break;
	case NVME_CMD_FLUSH:
		return 0;
	case NVME_CMD_DSM:
		if (nlb < 1 || nlb > NVME_DSM_MAX_RANGES)
			return -EINVAL;
		cmd->sqe.cdw10 = nlb - 1;
		cmd->sqe.cdw11 = (flags & NVME_HOST_F_DSM_AD) ? NVME_DSM_AD : 0u;
		cmd->buf = buf;
		cmd->len = (size_t)nlb * sizeof(struct nvme_dsm_range);
		return 0;
	default:
		return -EINVAL;
	}
	cmd->sqe.cdw10 = (uint32_t)slba;
	cmd->sqe.cdw11 = (uint32_t)(slba >> 32);
	cmd->sqe.cdw12 = cdw12 | (nlb - 1);
	return 0;
}

int nvme_host_rw(struct nvme_host *h, uint16_t qid, uint8_t opcode, uint32_t nsid,
		 uint64_t slba, uint32_t nlb, void *buf, uint32_t flags)
{
	struct nvme_host_queue *q = nvme_host_queue(h, qid);
	struct nvme_host_cmd cmd;

	if (h && h->shut_down)
		return -ESHUTDOWN;
	if (!q || qid == 0)
		return -EINVAL;
	int rc = nvme_host_cmd_rw(h, &cmd, opcode, nsid, slba, nlb, buf, flags);
	if (rc)
		return rc;
	rc = nvme_queue_submit(h, q, &cmd);
	if (rc) {
		if (cmd.priv.queued)
			nvme_queue_abandon(q, &cmd, NULL);	/* doorbell failed */
		return rc;
	}
	return nvme_queue_wait(h, q, &cmd, h->opts.io_timeout_ms, NULL);
}
