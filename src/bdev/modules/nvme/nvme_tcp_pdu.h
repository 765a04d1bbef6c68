/* NVMe/TCP PDUs, host side (NVMe/TCP Transport Specification 1.0):
 * the wire layout, the checks of every header the host receives, the
 * headers the host sends, and CRC32C digests.
 *
 * Everything here is pure (no sockets, no allocation), so the checks run
 * under libFuzzer (tests/fuzz/fuzz_nvme_tcp_pdu.c) exactly as in osnapd.
 *
 * Receiving a PDU takes three steps: the 8-byte common header is checked
 * with nvme_tcp_check_ch(), which says how many header bytes follow (the
 * rest of the header, its digest and the padding up to the data); once
 * they are read, nvme_tcp_check_psh() checks the PDU-specific header and
 * the header digest; then the data (if any) is read where it belongs and
 * its digest checked with nvme_tcp_crc32c_iov(). Every limit is checked
 * before a byte is stored, so a peer can never make the host write past
 * the buffers it owns. */
#ifndef OSNAP_NVME_TCP_PDU_H
#define OSNAP_NVME_TCP_PDU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "nvme/nvme_spec.h"

/* NVMe over Fabrics command opcode and command types (NVMe-oF 1.1) */
#define NVME_OPC_FABRICS		0x7f
#define NVME_FCTYPE_PROPERTY_SET	0x00
#define NVME_FCTYPE_CONNECT		0x01
#define NVME_FCTYPE_PROPERTY_GET	0x04
#define NVME_CONNECT_DATA_LEN		1024

/* PDU types */
enum {
	NVME_TCP_ICREQ = 0x00,
	NVME_TCP_ICRESP = 0x01,
	NVME_TCP_H2C_TERM = 0x02,
	NVME_TCP_C2H_TERM = 0x03,
	NVME_TCP_CAPSULE_CMD = 0x04,
	NVME_TCP_CAPSULE_RESP = 0x05,
	NVME_TCP_H2C_DATA = 0x06,
	NVME_TCP_C2H_DATA = 0x07,
	NVME_TCP_R2T = 0x09,
};

/* Common header flags */
#define NVME_TCP_F_HDGST	0x01
#define NVME_TCP_F_DDGST	0x02
#define NVME_TCP_F_LAST		0x04	/* H2C/C2H data: last PDU of the transfer */
#define NVME_TCP_F_SUCCESS	0x08	/* C2H data: no CapsuleResp follows */

/* ICReq/ICResp DGST field */
#define NVME_TCP_DGST_HDR	0x01
#define NVME_TCP_DGST_DATA	0x02

#define NVME_TCP_CH_LEN		8
#define NVME_TCP_IC_LEN		128
#define NVME_TCP_CMD_HLEN	72	/* common header + 64-byte SQE */
#define NVME_TCP_RESP_HLEN	24	/* common header + 16-byte CQE */
#define NVME_TCP_DATA_HLEN	24
#define NVME_TCP_R2T_HLEN	24
#define NVME_TCP_TERM_HLEN	24
#define NVME_TCP_TERM_MAX_DATA	152	/* the offending header a TermReq carries */
#define NVME_TCP_DGST_LEN	4
/* PDO is one byte: no header with its padding is longer. */
#define NVME_TCP_HDR_MAX	256

/* Fatal error status of a TermReq (FES) */
enum {
	NVME_TCP_FES_INVALID_HEADER = 0x01,
	NVME_TCP_FES_PDU_SEQ_ERROR = 0x02,
	NVME_TCP_FES_HDGST_ERROR = 0x03,
	NVME_TCP_FES_DATA_OUT_OF_RANGE = 0x04,
	NVME_TCP_FES_R2T_LIMIT = 0x05,
	NVME_TCP_FES_UNSUPPORTED_PARAM = 0x06,
};

/* The session parameters, fixed by ICReq/ICResp. */
struct nvme_tcp_params {
	bool hdgst;		/* header digests on */
	bool ddgst;		/* data digests on */
	uint8_t cpda;		/* controller PDU data alignment: (cpda + 1) * 4 bytes */
	uint32_t maxh2cdata;	/* largest H2C data PDU payload */
};

/* What the common header says about a received PDU. */
struct nvme_tcp_rx_layout {
	uint8_t type, flags, hlen, pdo;
	uint32_t plen;
	uint32_t hdr_len;	/* bytes from the start to the data (or the end): hlen,
				 * header digest, padding */
	uint32_t data_len;	/* payload bytes (0: none) */
	bool hdgst, ddgst;	/* the PDU carries them */
};

/* The PDU-specific header fields of a received PDU, decoded. */
struct nvme_tcp_rx_psh {
	struct nvme_cqe cqe;		/* CapsuleResp */
	uint16_t cccid, ttag;		/* C2H data, R2T */
	uint32_t offset, length;	/* C2H data: DATAO/DATAL; R2T: R2TO/R2TL */
	uint16_t fes;			/* C2HTermReq */
	uint32_t fei;
	/* ICResp */
	uint16_t pfv;
	uint8_t cpda, dgst;
	uint32_t maxh2cdata;
};

/* Check the common header of a PDU received by the host. ic_done: ICResp
 * already received (before it, only ICResp and C2HTermReq are valid).
 * Fills out and returns 0, or returns -EPROTO with a message in err and
 * the TermReq FES the host should report in *fes. */
int nvme_tcp_check_ch(const uint8_t ch[NVME_TCP_CH_LEN], const struct nvme_tcp_params *p,
		      bool ic_done, struct nvme_tcp_rx_layout *out, uint16_t *fes,
		      char *err, size_t errlen);

/* Check the whole header (lay->hdr_len bytes at hdr, the common header
 * first): the header digest and the PDU-specific fields. Fills out.
 * Returns 0 or -EPROTO (err, *fes). Checks that need the request (the
 * command id, the data range) are the caller's. */
int nvme_tcp_check_psh(const uint8_t *hdr, const struct nvme_tcp_rx_layout *lay,
		       struct nvme_tcp_rx_psh *out, uint16_t *fes, char *err, size_t errlen);

/* Check an ICResp (decoded by nvme_tcp_check_psh) against what the host
 * asked; on success fills p (digests, CPDA, MAXH2CDATA). */
int nvme_tcp_check_icresp(const struct nvme_tcp_rx_psh *ic, bool want_hdgst, bool want_ddgst,
			  struct nvme_tcp_params *p, char *err, size_t errlen);

/* --- headers the host sends --- */

/* ICReq (128 bytes): PFV 0, HPDA 0, the digests asked for, MAXR2T 0 (one
 * R2T outstanding per command). */
void nvme_tcp_build_icreq(uint8_t out[NVME_TCP_IC_LEN], bool hdgst, bool ddgst);

/* A command capsule's header: the common header, the SQE and its digest
 * and padding, for data_len bytes of in-capsule data (0: none). Returns
 * the header bytes written to out (at most NVME_TCP_HDR_MAX); the data and
 * its digest follow on the wire. */
uint32_t nvme_tcp_build_capsule(uint8_t *out, const struct nvme_sqe *sqe, uint32_t data_len,
				const struct nvme_tcp_params *p);

/* An H2C data PDU's header for data_len bytes at offset datao. */
uint32_t nvme_tcp_build_h2c(uint8_t *out, uint16_t cccid, uint16_t ttag, uint32_t datao,
			    uint32_t data_len, bool last, const struct nvme_tcp_params *p);

/* An H2CTermReq with fes (no data). Returns its length. */
uint32_t nvme_tcp_build_h2c_term(uint8_t *out, uint16_t fes, uint32_t fei);

/* --- CRC32C (the iSCSI polynomial, as NVMe/TCP digests use it) --- */
uint32_t nvme_tcp_crc32c(const void *buf, size_t len);
/* Digest of len bytes starting off bytes into the iovec array (which must
 * hold them). */
uint32_t nvme_tcp_crc32c_iov(const struct iovec *iov, int iovcnt, size_t off, size_t len);

/* Little-endian helpers. */
static inline uint16_t nvme_tcp_get16(const uint8_t *b)
{
	return (uint16_t)(b[0] | (b[1] << 8));
}

static inline uint32_t nvme_tcp_get32(const uint8_t *b)
{
	return (uint32_t)b[0] | ((uint32_t)b[1] << 8) | ((uint32_t)b[2] << 16) |
	       ((uint32_t)b[3] << 24);
}

static inline void nvme_tcp_put16(uint8_t *b, uint16_t v)
{
	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
}

static inline void nvme_tcp_put32(uint8_t *b, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

#endif
