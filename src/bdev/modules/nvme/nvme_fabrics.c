/* NVMe over Fabrics and admin command builders (see nvme_fabrics.h). */
#include "bdev/modules/nvme/nvme_fabrics.h"

#include <string.h>

#include "bdev/modules/nvme/nvme_tcp_pdu.h"

/* Byte offsets inside the 64-byte Fabrics SQE. */
#define FAB_FCTYPE	4
#define FAB_RECFMT	40	/* Connect */
#define FAB_QID		42
#define FAB_SQSIZE	44
#define FAB_CATTR	46
#define FAB_KATO	48
#define FAB_ATTRIB	40	/* Property Get/Set */
#define FAB_OFFSET	44
#define FAB_VALUE	48
/* Connect data */
#define CONN_HOSTID	0
#define CONN_CNTLID	16
#define CONN_SUBNQN	256
#define CONN_HOSTNQN	512
#define CONN_NQN_LEN	256

static uint8_t *fab(struct nvme_sqe *sqe, uint8_t fctype)
{
	uint8_t *b = (uint8_t *)sqe;
	memset(sqe, 0, sizeof(*sqe));
	sqe->opc = NVME_OPC_FABRICS;
	b[FAB_FCTYPE] = fctype;
	return b;
}

static void put_nqn(uint8_t *dst, const char *nqn)
{
	size_t n = strlen(nqn);
	/* NQNs are at most 223 bytes (checked by the RPC); the field is 256,
	 * NUL padded. */
	if (n > CONN_NQN_LEN - 1)
		n = CONN_NQN_LEN - 1;
	memcpy(dst, nqn, n);
}

void nvme_fabrics_connect(struct nvme_sqe *sqe, uint8_t data[1024], uint16_t qid,
			  uint16_t sqsize, uint32_t kato_ms, const uint8_t hostid[16],
			  uint16_t cntlid, const char *subnqn, const char *hostnqn)
{
	uint8_t *b = fab(sqe, NVME_FCTYPE_CONNECT);

	nvme_tcp_put16(b + FAB_RECFMT, 0);
	nvme_tcp_put16(b + FAB_QID, qid);
	nvme_tcp_put16(b + FAB_SQSIZE, sqsize);
	b[FAB_CATTR] = 0;
	nvme_tcp_put32(b + FAB_KATO, kato_ms);
	memset(data, 0, NVME_CONNECT_DATA_LEN);
	memcpy(data + CONN_HOSTID, hostid, 16);
	nvme_tcp_put16(data + CONN_CNTLID, cntlid);
	put_nqn(data + CONN_SUBNQN, subnqn);
	put_nqn(data + CONN_HOSTNQN, hostnqn);
}

void nvme_fabrics_prop_get(struct nvme_sqe *sqe, uint32_t offset, bool eight)
{
	uint8_t *b = fab(sqe, NVME_FCTYPE_PROPERTY_GET);

	b[FAB_ATTRIB] = eight ? 1 : 0;
	nvme_tcp_put32(b + FAB_OFFSET, offset);
}

void nvme_fabrics_prop_set(struct nvme_sqe *sqe, uint32_t offset, uint32_t value)
{
	uint8_t *b = fab(sqe, NVME_FCTYPE_PROPERTY_SET);

	b[FAB_ATTRIB] = 0;
	nvme_tcp_put32(b + FAB_OFFSET, offset);
	nvme_tcp_put32(b + FAB_VALUE, value);
}

void nvme_cmd_identify(struct nvme_sqe *sqe, uint8_t cns, uint32_t nsid)
{
	memset(sqe, 0, sizeof(*sqe));
	sqe->opc = NVME_ADM_IDENTIFY;
	sqe->nsid = nsid;
	sqe->cdw10 = cns;
}

void nvme_cmd_set_features(struct nvme_sqe *sqe, uint8_t fid, uint32_t cdw11)
{
	memset(sqe, 0, sizeof(*sqe));
	sqe->opc = NVME_ADM_SET_FEATURES;
	sqe->cdw10 = fid;
	sqe->cdw11 = cdw11;
}

void nvme_cmd_keep_alive(struct nvme_sqe *sqe)
{
	memset(sqe, 0, sizeof(*sqe));
	sqe->opc = NVME_ADM_KEEP_ALIVE;
}
