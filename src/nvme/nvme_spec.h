/* NVMe definitions used by the controller (NVM Express Base 1.4). */
#ifndef OSNAP_NVME_SPEC_H
#define OSNAP_NVME_SPEC_H

#include <stdint.h>

/* Controller registers (BAR0) */
#define NVME_REG_CAP	0x00
#define NVME_REG_VS	0x08
#define NVME_REG_INTMS	0x0c
#define NVME_REG_INTMC	0x10
#define NVME_REG_CC	0x14
#define NVME_REG_CSTS	0x1c
#define NVME_REG_NSSR	0x20
#define NVME_REG_AQA	0x24
#define NVME_REG_ASQ	0x28
#define NVME_REG_ACQ	0x30
#define NVME_REG_DBS	0x1000

#define NVME_CC_EN		(1u << 0)
#define NVME_CC_CSS(cc)		(((cc) >> 4) & 0x7)
#define NVME_CC_MPS(cc)		(((cc) >> 7) & 0xf)
#define NVME_CC_AMS(cc)		(((cc) >> 11) & 0x7)
#define NVME_CC_SHN(cc)		(((cc) >> 14) & 0x3)
#define NVME_CC_IOSQES(cc)	(((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES(cc)	(((cc) >> 20) & 0xf)

#define NVME_CSTS_RDY		(1u << 0)
#define NVME_CSTS_CFS		(1u << 1)
#define NVME_CSTS_SHST_MASK	(3u << 2)
#define NVME_CSTS_SHST_OCCUR	(1u << 2)
#define NVME_CSTS_SHST_DONE	(2u << 2)

#define NVME_VS_1_4 0x00010400u

/* Submission queue entry */
struct nvme_sqe {
	uint8_t opc;
	uint8_t flags;		/* FUSE 1:0, PSDT 7:6 */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint64_t mptr;
	uint64_t prp1, prp2;	/* or the SGL descriptor (16 bytes) */
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == 64, "SQE");

#define NVME_SQE_FUSE(f)	((f) & 0x3)
#define NVME_FUSE_FIRST		1
#define NVME_FUSE_SECOND	2
#define NVME_SQE_PSDT(f)	(((f) >> 6) & 0x3)
#define NVME_PSDT_PRP		0
#define NVME_PSDT_SGL_MPTR_CONTIG 1
#define NVME_PSDT_SGL_MPTR_SGL	2

/* Completion queue entry */
struct nvme_cqe {
	uint32_t dw0;
	uint32_t dw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;	/* phase bit 0, status field 15:1 */
};
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQE");

/* SGL descriptor */
struct nvme_sgl_desc {
	uint64_t addr;
	uint32_t len;
	uint8_t rsvd[3];
	uint8_t type;		/* type 7:4, subtype 3:0 */
};
_Static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor");
#define NVME_SGL_TYPE_DATA_BLOCK	0x0
#define NVME_SGL_TYPE_BIT_BUCKET	0x1
#define NVME_SGL_TYPE_SEGMENT		0x2
#define NVME_SGL_TYPE_LAST_SEGMENT	0x3

/* Status: SCT (10:8) and SC (7:0), DNR bit 14, More bit 13 */
#define NVME_SC(sct, sc)	((uint16_t)(((sct) << 8) | (sc)))
#define NVME_DNR		0x4000u
enum {
	NVME_SC_SUCCESS			= NVME_SC(0, 0x00),
	NVME_SC_INVALID_OPCODE		= NVME_SC(0, 0x01),
	NVME_SC_INVALID_FIELD		= NVME_SC(0, 0x02),
	NVME_SC_CMDID_CONFLICT		= NVME_SC(0, 0x03),
	NVME_SC_DATA_XFER_ERROR		= NVME_SC(0, 0x04),
	NVME_SC_POWER_LOSS_ABORT	= NVME_SC(0, 0x05),
	NVME_SC_INTERNAL		= NVME_SC(0, 0x06),
	NVME_SC_ABORT_REQ		= NVME_SC(0, 0x07),
	NVME_SC_ABORT_SQ_DELETED	= NVME_SC(0, 0x08),
	NVME_SC_FUSED_FAIL		= NVME_SC(0, 0x09),
	NVME_SC_FUSED_MISSING		= NVME_SC(0, 0x0a),
	NVME_SC_INVALID_NS		= NVME_SC(0, 0x0b),
	NVME_SC_CMD_SEQ_ERROR		= NVME_SC(0, 0x0c),
	NVME_SC_INVALID_SGL_LAST_SEG	= NVME_SC(0, 0x0d),
	NVME_SC_INVALID_SGL_COUNT	= NVME_SC(0, 0x0e),
	NVME_SC_DATA_SGL_LEN_INVALID	= NVME_SC(0, 0x0f),
	NVME_SC_MD_SGL_LEN_INVALID	= NVME_SC(0, 0x10),
	NVME_SC_SGL_TYPE_INVALID	= NVME_SC(0, 0x11),
	NVME_SC_PRP_OFFSET_INVALID	= NVME_SC(0, 0x13),
	NVME_SC_SGL_OFFSET_INVALID	= NVME_SC(0, 0x16),
	NVME_SC_NS_NOT_READY		= NVME_SC(0, 0x82),
	NVME_SC_LBA_RANGE		= NVME_SC(0, 0x80),
	NVME_SC_CAP_EXCEEDED		= NVME_SC(0, 0x81),
	/* command specific (SCT 1) */
	NVME_SC_CQ_INVALID		= NVME_SC(1, 0x00),
	NVME_SC_QID_INVALID		= NVME_SC(1, 0x01),
	NVME_SC_QUEUE_SIZE		= NVME_SC(1, 0x02),
	NVME_SC_ABORT_LIMIT		= NVME_SC(1, 0x03),
	NVME_SC_AER_LIMIT		= NVME_SC(1, 0x05),
	NVME_SC_INVALID_FW_SLOT		= NVME_SC(1, 0x06),
	NVME_SC_INVALID_FW_IMAGE	= NVME_SC(1, 0x07),
	NVME_SC_INVALID_VECTOR		= NVME_SC(1, 0x08),
	NVME_SC_INVALID_LOG_PAGE	= NVME_SC(1, 0x09),
	NVME_SC_INVALID_FORMAT		= NVME_SC(1, 0x0a),
	NVME_SC_FW_NEEDS_CONV_RESET	= NVME_SC(1, 0x0b),
	NVME_SC_INVALID_QUEUE_DELETE	= NVME_SC(1, 0x0c),
	NVME_SC_FEATURE_NOT_SAVEABLE	= NVME_SC(1, 0x0d),
	NVME_SC_FEATURE_NOT_CHANGEABLE	= NVME_SC(1, 0x0e),
	NVME_SC_FEATURE_NOT_PER_NS	= NVME_SC(1, 0x0f),
	NVME_SC_FW_PROHIBITED		= NVME_SC(1, 0x13),
	NVME_SC_NS_NOT_ATTACHED		= NVME_SC(1, 0x1a),
	NVME_SC_CONFLICTING_ATTRS	= NVME_SC(1, 0x80),
	NVME_SC_ATTEMPTED_WRITE_TO_RO	= NVME_SC(1, 0x82),
	/* media errors (SCT 2) */
	NVME_SC_WRITE_FAULT		= NVME_SC(2, 0x80),
	NVME_SC_READ_ERROR		= NVME_SC(2, 0x81),
	NVME_SC_COMPARE_FAILED		= NVME_SC(2, 0x85),
	NVME_SC_ACCESS_DENIED		= NVME_SC(2, 0x86),
	NVME_SC_DEALLOCATED		= NVME_SC(2, 0x87),
};

/* Admin opcodes */
enum {
	NVME_ADM_DELETE_SQ = 0x00,
	NVME_ADM_CREATE_SQ = 0x01,
	NVME_ADM_GET_LOG_PAGE = 0x02,
	NVME_ADM_DELETE_CQ = 0x04,
	NVME_ADM_CREATE_CQ = 0x05,
	NVME_ADM_IDENTIFY = 0x06,
	NVME_ADM_ABORT = 0x08,
	NVME_ADM_SET_FEATURES = 0x09,
	NVME_ADM_GET_FEATURES = 0x0a,
	NVME_ADM_ASYNC_EVENT = 0x0c,
	NVME_ADM_FW_COMMIT = 0x10,
	NVME_ADM_FW_DOWNLOAD = 0x11,
	NVME_ADM_KEEP_ALIVE = 0x18,
	NVME_ADM_DBBUF_CONFIG = 0x7c,
};

/* NVM I/O opcodes */
enum {
	NVME_CMD_FLUSH = 0x00,
	NVME_CMD_WRITE = 0x01,
	NVME_CMD_READ = 0x02,
	NVME_CMD_WRITE_UNCOR = 0x04,
	NVME_CMD_COMPARE = 0x05,
	NVME_CMD_WRITE_ZEROES = 0x08,
	NVME_CMD_DSM = 0x09,
};

/* Identify CNS */
#define NVME_CNS_NS		0x00
#define NVME_CNS_CTRL		0x01
#define NVME_CNS_ACTIVE_NS	0x02
#define NVME_CNS_NS_DESC	0x03
#define NVME_CNS_CS_NS		0x05	/* I/O command set specific namespace */
#define NVME_CNS_CS_CTRL	0x06
#define NVME_CNS_CS_ACTIVE_NS	0x07
#define NVME_CNS_ALLOC_NS_LIST	0x10
#define NVME_CNS_CTRL_LIST_NS	0x12
#define NVME_CNS_CS_INDEP_NS	0x08

/* Features */
enum {
	NVME_FEAT_ARBITRATION = 0x01,
	NVME_FEAT_POWER_MGMT = 0x02,
	NVME_FEAT_TEMP_THRESH = 0x04,
	NVME_FEAT_ERR_RECOVERY = 0x05,
	NVME_FEAT_VOLATILE_WC = 0x06,
	NVME_FEAT_NUM_QUEUES = 0x07,
	NVME_FEAT_IRQ_COALESCE = 0x08,
	NVME_FEAT_IRQ_CONFIG = 0x09,
	NVME_FEAT_WRITE_ATOMIC = 0x0a,
	NVME_FEAT_ASYNC_EVENT = 0x0b,
	NVME_FEAT_TIMESTAMP = 0x0e,
	NVME_FEAT_KATO = 0x0f,
	NVME_FEAT_HOST_BEHAVIOR = 0x16,	/* 512-byte structure, byte 0: ACRE */
};

/* Log pages */
enum {
	NVME_LOG_ERROR = 0x01,
	NVME_LOG_SMART = 0x02,
	NVME_LOG_FW_SLOT = 0x03,
	NVME_LOG_CHANGED_NS = 0x04,
	NVME_LOG_CMD_EFFECTS = 0x05,
};

/* Asynchronous events: type (bits 2:0), info (15:8), log page (23:16) */
#define NVME_AER_TYPE_NOTICE	0x2
#define NVME_AER_NOTICE_NS_CHANGED 0x00
#define NVME_AER_TYPE_SMART	0x1
#define NVME_AER_TYPE_ERROR	0x0
#define NVME_AER_ERR_INVALID_DB_REG	0x00	/* doorbell of a queue that was not created */
#define NVME_AER_ERR_INVALID_DB_VALUE	0x01

/* Identify Controller (4096 bytes): the fields we fill, by offset. */
#define NVME_ID_CTRL_SIZE 4096
#define NVME_ID_NS_SIZE 4096

#endif
