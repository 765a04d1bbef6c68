/* NVMe over Fabrics and admin commands the initiator sends, built into an
 * SQE (NVMe-oF 1.1: Connect, Property Get/Set; NVMe base: Identify, Set
 * Features, Keep Alive). Pure functions: no state. */
#ifndef OSNAP_NVME_FABRICS_H
#define OSNAP_NVME_FABRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "nvme/nvme_spec.h"

/* Connect: the SQE and its 1024-byte data. cntlid 0xffff asks for a new
 * (dynamic) controller on the admin queue. */
void nvme_fabrics_connect(struct nvme_sqe *sqe, uint8_t data[1024], uint16_t qid,
			  uint16_t sqsize, uint32_t kato_ms, const uint8_t hostid[16],
			  uint16_t cntlid, const char *subnqn, const char *hostnqn);
/* Property Get of a 4- or 8-byte register at offset. */
void nvme_fabrics_prop_get(struct nvme_sqe *sqe, uint32_t offset, bool eight);
/* Property Set of a 4-byte register. */
void nvme_fabrics_prop_set(struct nvme_sqe *sqe, uint32_t offset, uint32_t value);
void nvme_cmd_identify(struct nvme_sqe *sqe, uint8_t cns, uint32_t nsid);
void nvme_cmd_set_features(struct nvme_sqe *sqe, uint8_t fid, uint32_t cdw11);
void nvme_cmd_keep_alive(struct nvme_sqe *sqe);

#endif
