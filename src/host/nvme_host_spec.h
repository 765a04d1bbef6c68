/* NVMe definitions used by the host-side driver (src/host/nvme_host*), written
 * from the NVM Express Base Specification 1.4 only. Deliberately independent of
 * src/nvme so that the test client cannot share the controller's mistakes.
 *
 * Everything on the wire is little endian; the structures below are used on
 * little-endian hosts only (checked at compile time). */
#ifndef OSNAP_HOST_NVME_HOST_SPEC_H
#define OSNAP_HOST_NVME_HOST_SPEC_H

#include <stddef.h>
#include <stdint.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nvme_host assumes a little-endian host"
#endif

/* ---- controller registers (BAR0), spec 3.1 -------------------------------- */

#define NVME_REG_CAP		0x00	/* 64 bit */
#define NVME_REG_VS		0x08
#define NVME_REG_INTMS		0x0c
#define NVME_REG_INTMC		0x10
#define NVME_REG_CC		0x14
#define NVME_REG_CSTS		0x1c
#define NVME_REG_NSSR		0x20
#define NVME_REG_AQA		0x24
#define NVME_REG_ASQ		0x28	/* 64 bit */
#define NVME_REG_ACQ		0x30	/* 64 bit */
#define NVME_REG_DBS		0x1000	/* first doorbell */

/* CAP fields. */
#define NVME_CAP_MQES(cap)	((uint32_t)((cap) & 0xffff))		/* zero based */
#define NVME_CAP_CQR(cap)	((uint32_t)(((cap) >> 16) & 0x1))
#define NVME_CAP_TO(cap)	((uint32_t)(((cap) >> 24) & 0xff))	/* 500 ms units */
#define NVME_CAP_DSTRD(cap)	((uint32_t)(((cap) >> 32) & 0xf))
#define NVME_CAP_CSS(cap)	((uint32_t)(((cap) >> 37) & 0xff))
#define NVME_CAP_MPSMIN(cap)	((uint32_t)(((cap) >> 48) & 0xf))	/* 2^(12+n) */
#define NVME_CAP_MPSMAX(cap)	((uint32_t)(((cap) >> 52) & 0xf))
#define NVME_CAP_CSS_NVM	0x01u

/* CC fields. */
#define NVME_CC_EN		(1u << 0)
#define NVME_CC_CSS_SHIFT	4	/* 3 bits; 000b NVM command set */
#define NVME_CC_MPS_SHIFT	7	/* 4 bits; 2^(12+MPS) */
#define NVME_CC_AMS_SHIFT	11	/* 3 bits; 000b round robin */
#define NVME_CC_SHN_SHIFT	14	/* 2 bits */
#define NVME_CC_SHN_MASK	(3u << NVME_CC_SHN_SHIFT)
#define NVME_CC_SHN_NORMAL	(1u << NVME_CC_SHN_SHIFT)
#define NVME_CC_SHN_ABRUPT	(2u << NVME_CC_SHN_SHIFT)
#define NVME_CC_IOSQES_SHIFT	16	/* 4 bits; 2^n bytes */
#define NVME_CC_IOCQES_SHIFT	20	/* 4 bits; 2^n bytes */

/* CSTS fields. */
#define NVME_CSTS_RDY		(1u << 0)
#define NVME_CSTS_CFS		(1u << 1)
#define NVME_CSTS_SHST_SHIFT	2
#define NVME_CSTS_SHST_MASK	(3u << NVME_CSTS_SHST_SHIFT)
#define NVME_CSTS_SHST_NORMAL	(0u << NVME_CSTS_SHST_SHIFT)
#define NVME_CSTS_SHST_OCCUR	(1u << NVME_CSTS_SHST_SHIFT)
#define NVME_CSTS_SHST_CMPLT	(2u << NVME_CSTS_SHST_SHIFT)
#define NVME_CSTS_NSSRO		(1u << 4)
#define NVME_CSTS_PP		(1u << 5)

/* AQA: zero-based sizes. */
#define NVME_AQA(asqs, acqs)	((((uint32_t)(acqs) - 1) << 16) | ((uint32_t)(asqs) - 1))
#define NVME_AQ_MAX_ENTRIES	4096u

/* Doorbell offsets in BAR0 (and in the shadow doorbell / EventIdx pages,
 * relative to the page instead of 0x1000), 3.1.24/3.1.25. */
static inline uint32_t nvme_sq_db_off(uint16_t qid, uint32_t dstrd)
{
	return (2u * qid) * (4u << dstrd);
}

static inline uint32_t nvme_cq_db_off(uint16_t qid, uint32_t dstrd)
{
	return (2u * qid + 1u) * (4u << dstrd);
}

/* ---- submission queue entry, 4.2 ------------------------------------------- */

/* CDW0: opcode 7:0, FUSE 9:8, PSDT 15:14, CID 31:16. */
#define NVME_PSDT_PRP		0u
#define NVME_PSDT_SGL_MPTR_BUF	1u	/* SGL for data, MPTR a contiguous buffer */
#define NVME_PSDT_SGL_MPTR_SGL	2u	/* SGL for data, MPTR an SGL segment */

struct nvme_sgl_desc {
	uint64_t addr;
	uint32_t len;
	uint8_t rsvd[3];
	uint8_t id;		/* type 7:4, subtype 3:0 */
};
_Static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");

/* SGL descriptor types (4.4). Subtype 0 = address. */
#define NVME_SGL_TYPE_DATA_BLOCK	0x0u
#define NVME_SGL_TYPE_BIT_BUCKET	0x1u
#define NVME_SGL_TYPE_SEGMENT		0x2u
#define NVME_SGL_TYPE_LAST_SEGMENT	0x3u
#define NVME_SGL_ID(type, subtype)	((uint8_t)(((type) << 4) | ((subtype) & 0xf)))

struct nvme_sqe {
	uint8_t opc;
	uint8_t flags;		/* FUSE 1:0, PSDT 7:6 (bits 9:8 and 15:14 of CDW0) */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	union {
		struct {
			uint64_t prp1;
			uint64_t prp2;
		};
		struct nvme_sgl_desc sgl1;
	} dptr;
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == 64, "SQE is 64 bytes");
_Static_assert(offsetof(struct nvme_sqe, mptr) == 16, "MPTR at byte 16");
_Static_assert(offsetof(struct nvme_sqe, dptr) == 24, "DPTR at byte 24");
_Static_assert(offsetof(struct nvme_sqe, cdw10) == 40, "CDW10 at byte 40");

#define NVME_SQE_PSDT_SHIFT	6	/* in flags */
#define NVME_SQE_PSDT_MASK	(3u << NVME_SQE_PSDT_SHIFT)

/* ---- completion queue entry, 4.6 -------------------------------------------- */

struct nvme_cqe {
	uint32_t dw0;		/* command specific */
	uint32_t dw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status;	/* phase 0, then SC 8:1, SCT 11:9, CRD 13:12, M 14, DNR 15 */
};
_Static_assert(sizeof(struct nvme_cqe) == 16, "CQE is 16 bytes");

#define NVME_CQE_PHASE		0x1u
/* Status field as used by the driver: CQE DW3 >> 17 (phase removed). */
#define NVME_STATUS_SC(s)	((s) & 0xffu)
#define NVME_STATUS_SCT(s)	(((s) >> 8) & 0x7u)
#define NVME_STATUS_CRD(s)	(((s) >> 11) & 0x3u)
#define NVME_STATUS_MORE	(1u << 13)
#define NVME_STATUS_DNR		(1u << 14)
#define NVME_STATUS(sct, sc)	((uint16_t)(((sct) << 8) | (sc)))

/* Status code types. */
#define NVME_SCT_GENERIC	0x0u
#define NVME_SCT_CMD_SPECIFIC	0x1u
#define NVME_SCT_MEDIA		0x2u
#define NVME_SCT_PATH		0x3u
#define NVME_SCT_VENDOR		0x7u

/* Generic command status (SCT 0), 4.6.1.2.1. */
#define NVME_SC_SUCCESS			0x00
#define NVME_SC_INVALID_OPCODE		0x01
#define NVME_SC_INVALID_FIELD		0x02
#define NVME_SC_CID_CONFLICT		0x03
#define NVME_SC_DATA_XFER_ERROR		0x04
#define NVME_SC_INTERNAL		0x06
#define NVME_SC_ABORT_REQ		0x07
#define NVME_SC_ABORT_SQ_DELETED	0x08
#define NVME_SC_INVALID_NS		0x0b
#define NVME_SC_CMD_SEQ_ERROR		0x0c
#define NVME_SC_INVALID_SGL_SEG_DESC	0x0d
#define NVME_SC_INVALID_NUM_SGL_DESC	0x0e
#define NVME_SC_DATA_SGL_LEN_INVALID	0x0f
#define NVME_SC_MD_SGL_LEN_INVALID	0x10
#define NVME_SC_SGL_DESC_TYPE_INVALID	0x11
#define NVME_SC_INVALID_PRP_OFFSET	0x13
#define NVME_SC_SGL_OFFSET_INVALID	0x16
#define NVME_SC_LBA_RANGE		0x80	/* NVM command set */
#define NVME_SC_CAP_EXCEEDED		0x81
#define NVME_SC_NS_NOT_READY		0x82

/* Command specific status (SCT 1), 4.6.1.2.2. */
#define NVME_SC_CQ_INVALID		0x00
#define NVME_SC_QID_INVALID		0x01
#define NVME_SC_QUEUE_SIZE		0x02
#define NVME_SC_ABORT_LIMIT		0x03
#define NVME_SC_AER_LIMIT		0x05
#define NVME_SC_INVALID_VECTOR		0x08
#define NVME_SC_INVALID_LOG_PAGE	0x09
#define NVME_SC_INVALID_FORMAT		0x0a
#define NVME_SC_INVALID_QUEUE_DELETION	0x0c
#define NVME_SC_FEATURE_NOT_SAVEABLE	0x0d

/* Media and data integrity errors (SCT 2), 4.6.1.2.3. */
#define NVME_SC_CMP_FAILED		0x85

/* ---- admin command set, 5 --------------------------------------------------- */

#define NVME_ADM_DELETE_SQ	0x00
#define NVME_ADM_CREATE_SQ	0x01
#define NVME_ADM_GET_LOG_PAGE	0x02
#define NVME_ADM_DELETE_CQ	0x04
#define NVME_ADM_CREATE_CQ	0x05
#define NVME_ADM_IDENTIFY	0x06
#define NVME_ADM_ABORT		0x08
#define NVME_ADM_SET_FEATURES	0x09
#define NVME_ADM_GET_FEATURES	0x0a
#define NVME_ADM_ASYNC_EVENT	0x0c
#define NVME_ADM_NS_MGMT	0x0d
#define NVME_ADM_FW_COMMIT	0x10
#define NVME_ADM_FW_DOWNLOAD	0x11
#define NVME_ADM_NS_ATTACH	0x15
#define NVME_ADM_KEEP_ALIVE	0x18
#define NVME_ADM_DBBUF_CONFIG	0x7c
#define NVME_ADM_FORMAT_NVM	0x80

/* Create I/O Completion Queue CDW11. */
#define NVME_CQ_PC		(1u << 0)
#define NVME_CQ_IEN		(1u << 1)
#define NVME_CQ_IV_SHIFT	16
/* Create I/O Submission Queue CDW11. */
#define NVME_SQ_PC		(1u << 0)
#define NVME_SQ_QPRIO_SHIFT	1
#define NVME_SQ_CQID_SHIFT	16

/* Identify CNS values. */
#define NVME_CNS_NS		0x00
#define NVME_CNS_CTRL		0x01
#define NVME_CNS_ACTIVE_NS_LIST	0x02
#define NVME_CNS_NS_DESC_LIST	0x03
#define NVME_IDENTIFY_LEN	4096u

/* Namespace identification descriptor types (CNS 03h). */
#define NVME_NIDT_EUI64		0x1
#define NVME_NIDT_NGUID		0x2
#define NVME_NIDT_UUID		0x3

/* Feature identifiers. */
#define NVME_FEAT_ARBITRATION	0x01
#define NVME_FEAT_POWER_MGMT	0x02
#define NVME_FEAT_LBA_RANGE	0x03
#define NVME_FEAT_TEMP_THRESH	0x04
#define NVME_FEAT_ERR_RECOVERY	0x05
#define NVME_FEAT_VOLATILE_WC	0x06
#define NVME_FEAT_NUM_QUEUES	0x07
#define NVME_FEAT_IRQ_COALESCE	0x08
#define NVME_FEAT_IRQ_CONFIG	0x09
#define NVME_FEAT_WRITE_ATOMIC	0x0a
#define NVME_FEAT_ASYNC_EVENT	0x0b
#define NVME_FEAT_SV		(1u << 31)	/* Set Features CDW10: save */

/* Get Features select (CDW10 10:8). */
#define NVME_FEAT_SEL_CURRENT	0u
#define NVME_FEAT_SEL_DEFAULT	1u
#define NVME_FEAT_SEL_SAVED	2u
#define NVME_FEAT_SEL_CAPS	3u

/* Log page identifiers. */
#define NVME_LOG_ERROR		0x01
#define NVME_LOG_SMART		0x02
#define NVME_LOG_FW_SLOT	0x03
#define NVME_LOG_CHANGED_NS	0x04
#define NVME_LOG_CMD_EFFECTS	0x05

/* Asynchronous event completion DW0: type 2:0, info 15:8, log page 23:16. */
#define NVME_AER_TYPE(dw0)	((dw0) & 0x7u)
#define NVME_AER_INFO(dw0)	(((dw0) >> 8) & 0xffu)
#define NVME_AER_LOG(dw0)	(((dw0) >> 16) & 0xffu)

/* OACS bits. */
#define NVME_OACS_NS_MGMT	(1u << 3)
#define NVME_OACS_DBBUF		(1u << 8)

/* ONCS bits. */
#define NVME_ONCS_COMPARE	(1u << 0)
#define NVME_ONCS_WRITE_UNC	(1u << 1)
#define NVME_ONCS_DSM		(1u << 2)
#define NVME_ONCS_WRITE_ZEROES	(1u << 3)

/* SGLS bits 1:0. */
#define NVME_SGLS_SUPPORT(sgls)	((sgls) & 0x3u)
#define NVME_SGLS_NONE		0u
#define NVME_SGLS_ANY_ALIGN	1u
#define NVME_SGLS_DWORD_ALIGN	2u

/* ---- NVM command set I/O commands, 6 ----------------------------------------- */

#define NVME_CMD_FLUSH		0x00
#define NVME_CMD_WRITE		0x01
#define NVME_CMD_READ		0x02
#define NVME_CMD_WRITE_UNC	0x04
#define NVME_CMD_COMPARE	0x05
#define NVME_CMD_WRITE_ZEROES	0x08
#define NVME_CMD_DSM		0x09
#define NVME_CMD_VERIFY		0x0c

/* Read/Write/Compare/Write Zeroes CDW12: NLB 15:0 (zero based), ... */
#define NVME_RW_DEAC		(1u << 25)	/* Write Zeroes only */
#define NVME_RW_FUA		(1u << 30)
#define NVME_RW_LR		(1u << 31)

/* Dataset Management CDW11 attributes. */
#define NVME_DSM_IDR		(1u << 0)
#define NVME_DSM_IDW		(1u << 1)
#define NVME_DSM_AD		(1u << 2)
#define NVME_DSM_MAX_RANGES	256u

struct nvme_dsm_range {
	uint32_t cattr;
	uint32_t nlb;		/* one based: number of logical blocks */
	uint64_t slba;
};
_Static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");

#define NVME_NSID_ALL		0xffffffffu

/* ---- Identify data structures (the fields the driver uses) ----------------- */

struct nvme_id_ctrl {
	uint16_t vid;
	uint16_t ssvid;
	char sn[20];
	char mn[40];
	char fr[8];
	uint8_t rab;
	uint8_t ieee[3];
	uint8_t cmic;
	uint8_t mdts;		/* 2^n units of CAP.MPSMIN; 0 = no limit */
	uint16_t cntlid;
	uint32_t ver;
	uint32_t rtd3r;
	uint32_t rtd3e;
	uint32_t oaes;
	uint32_t ctratt;
	uint8_t rsvd100[156];
	uint16_t oacs;		/* byte 256 */
	uint8_t acl;		/* zero based */
	uint8_t aerl;		/* zero based */
	uint8_t frmw;
	uint8_t lpa;
	uint8_t elpe;
	uint8_t npss;
	uint8_t rsvd264[248];
	uint8_t sqes;		/* byte 512: max 7:4, required 3:0 */
	uint8_t cqes;
	uint16_t maxcmd;
	uint32_t nn;
	uint16_t oncs;
	uint16_t fuses;
	uint8_t fna;
	uint8_t vwc;
	uint16_t awun;
	uint16_t awupf;
	uint8_t nvscc;
	uint8_t nwpc;
	uint16_t acwu;
	uint8_t rsvd534[2];
	uint32_t sgls;		/* byte 536 */
	uint32_t mnan;
	uint8_t rsvd544[224];
	char subnqn[256];	/* byte 768 */
	uint8_t rsvd1024[1024];
	uint8_t psd[32][32];	/* byte 2048 */
	uint8_t vs[1024];
};
_Static_assert(sizeof(struct nvme_id_ctrl) == 4096, "Identify Controller is 4 KiB");
_Static_assert(offsetof(struct nvme_id_ctrl, mdts) == 77, "MDTS at byte 77");
_Static_assert(offsetof(struct nvme_id_ctrl, cntlid) == 78, "CNTLID at byte 78");
_Static_assert(offsetof(struct nvme_id_ctrl, oacs) == 256, "OACS at byte 256");
_Static_assert(offsetof(struct nvme_id_ctrl, sqes) == 512, "SQES at byte 512");
_Static_assert(offsetof(struct nvme_id_ctrl, nn) == 516, "NN at byte 516");
_Static_assert(offsetof(struct nvme_id_ctrl, oncs) == 520, "ONCS at byte 520");
_Static_assert(offsetof(struct nvme_id_ctrl, sgls) == 536, "SGLS at byte 536");
_Static_assert(offsetof(struct nvme_id_ctrl, subnqn) == 768, "SUBNQN at byte 768");
_Static_assert(offsetof(struct nvme_id_ctrl, psd) == 2048, "PSD0 at byte 2048");

struct nvme_lbaf {
	uint16_t ms;		/* metadata bytes per LBA */
	uint8_t lbads;		/* 2^n bytes per LBA */
	uint8_t rp;
};
_Static_assert(sizeof(struct nvme_lbaf) == 4, "LBA format is 4 bytes");

struct nvme_id_ns {
	uint64_t nsze;
	uint64_t ncap;
	uint64_t nuse;
	uint8_t nsfeat;
	uint8_t nlbaf;		/* zero based */
	uint8_t flbas;		/* format index 3:0 */
	uint8_t mc;
	uint8_t dpc;
	uint8_t dps;
	uint8_t nmic;
	uint8_t rescap;
	uint8_t fpi;
	uint8_t dlfeat;
	uint16_t nawun;
	uint16_t nawupf;
	uint16_t nacwu;
	uint16_t nabsn;
	uint16_t nabo;
	uint16_t nabspf;
	uint16_t noiob;
	uint8_t nvmcap[16];
	uint8_t rsvd64[40];
	uint8_t nguid[16];	/* byte 104 */
	uint8_t eui64[8];	/* byte 120 */
	struct nvme_lbaf lbaf[16];	/* byte 128 */
	uint8_t rsvd192[192];
	uint8_t vs[3712];
};
_Static_assert(sizeof(struct nvme_id_ns) == 4096, "Identify Namespace is 4 KiB");
_Static_assert(offsetof(struct nvme_id_ns, nlbaf) == 25, "NLBAF at byte 25");
_Static_assert(offsetof(struct nvme_id_ns, nvmcap) == 48, "NVMCAP at byte 48");
_Static_assert(offsetof(struct nvme_id_ns, nguid) == 104, "NGUID at byte 104");
_Static_assert(offsetof(struct nvme_id_ns, lbaf) == 128, "LBAF0 at byte 128");

/* Namespace identification descriptor header (CNS 03h); nidl bytes follow. */
struct nvme_ns_id_desc {
	uint8_t nidt;
	uint8_t nidl;
	uint8_t rsvd[2];
};
_Static_assert(sizeof(struct nvme_ns_id_desc) == 4, "NS id descriptor header is 4 bytes");

/* ---- PCI facts used by the driver ------------------------------------------- */

#define NVME_PCI_COMMAND		0x04
#define NVME_PCI_CMD_MEM		(1u << 1)
#define NVME_PCI_CMD_MASTER		(1u << 2)
#define NVME_PCI_CMD_INTX_DISABLE	(1u << 10)
#define NVME_PCI_CAP_MSIX		0x11
#define NVME_MSIX_CTRL			2	/* offsets in the MSI-X capability */
#define NVME_MSIX_TABLE			4
#define NVME_MSIX_CTRL_QSIZE(c)		(((c) & 0x7ffu) + 1u)
#define NVME_MSIX_CTRL_MASKALL		(1u << 14)
#define NVME_MSIX_CTRL_ENABLE		(1u << 15)
#define NVME_MSIX_ENTRY_SIZE		16
#define NVME_MSIX_ENTRY_VCTRL		12	/* vector control dword; bit 0 masked */

#endif
