/* NVMe/TCP PDUs, host side: header checks, header building, digests
 * (see nvme_tcp_pdu.h). CRC32C comes from Debian's ISA-L (libisal:
 * crc32_iscsi, SSE4.2/PCLMUL code chosen at run time, with a portable
 * fallback inside the library). */
#include "bdev/modules/nvme/nvme_tcp_pdu.h"

#include <errno.h>
#include <isa-l/crc.h>
#include <stdio.h>
#include <string.h>

#define PROTO_ERR(fescode, ...) do { \
	snprintf(err, errlen, __VA_ARGS__); \
	*fes = (fescode); \
	return -EPROTO; \
} while (0)

uint32_t nvme_tcp_crc32c(const void *buf, size_t len)
{
	/* crc32_iscsi neither inverts its input nor its result: the digest
	 * is the standard CRC32C (initial ~0, final ~). */
	uint32_t crc = 0xffffffffu;
	const unsigned char *p = buf;

	while (len) {
		int n = len > (1u << 30) ? (1 << 30) : (int)len;
		crc = crc32_iscsi((unsigned char *)(uintptr_t)p, n, crc);
		p += n;
		len -= (size_t)n;
	}
	return crc ^ 0xffffffffu;
}

uint32_t nvme_tcp_crc32c_iov(const struct iovec *iov, int iovcnt, size_t off, size_t len)
{
	uint32_t crc = 0xffffffffu;

	for (int i = 0; i < iovcnt && len; i++) {
		size_t seg = iov[i].iov_len;
		if (off >= seg) {
			off -= seg;
			continue;
		}
		size_t n = seg - off < len ? seg - off : len;
		const unsigned char *p = (const unsigned char *)iov[i].iov_base + off;
		while (n) {
			int m = n > (1u << 30) ? (1 << 30) : (int)n;
			crc = crc32_iscsi((unsigned char *)(uintptr_t)p, m, crc);
			p += m;
			n -= (size_t)m;
			len -= (size_t)m;
		}
		off = 0;
	}
	return crc ^ 0xffffffffu;
}

static uint32_t hlen_of(uint8_t type)
{
	switch (type) {
	case NVME_TCP_ICRESP:
		return NVME_TCP_IC_LEN;
	case NVME_TCP_CAPSULE_RESP:
		return NVME_TCP_RESP_HLEN;
	case NVME_TCP_C2H_DATA:
		return NVME_TCP_DATA_HLEN;
	case NVME_TCP_R2T:
		return NVME_TCP_R2T_HLEN;
	case NVME_TCP_C2H_TERM:
		return NVME_TCP_TERM_HLEN;
	default:
		return 0;
	}
}

static const char *type_name(uint8_t type)
{
	switch (type) {
	case NVME_TCP_ICRESP: return "ICResp";
	case NVME_TCP_CAPSULE_RESP: return "CapsuleResp";
	case NVME_TCP_C2H_DATA: return "C2HData";
	case NVME_TCP_R2T: return "R2T";
	case NVME_TCP_C2H_TERM: return "C2HTermReq";
	default: return "PDU";
	}
}

int nvme_tcp_check_ch(const uint8_t ch[NVME_TCP_CH_LEN], const struct nvme_tcp_params *p,
		      bool ic_done, struct nvme_tcp_rx_layout *out, uint16_t *fes,
		      char *err, size_t errlen)
{
	uint8_t type = ch[0], flags = ch[1], hlen = ch[2], pdo = ch[3];
	uint32_t plen = nvme_tcp_get32(ch + 4);
	uint32_t want_hlen = hlen_of(type);
	uint8_t allowed = NVME_TCP_F_HDGST;
	bool term = type == NVME_TCP_C2H_TERM;

	memset(out, 0, sizeof(*out));
	if (!want_hlen)
		PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "PDU type 0x%02x is not one a host receives",
			  type);
	if (!ic_done && type != NVME_TCP_ICRESP && !term)
		PROTO_ERR(NVME_TCP_FES_PDU_SEQ_ERROR, "%s before ICResp", type_name(type));
	if (ic_done && type == NVME_TCP_ICRESP)
		PROTO_ERR(NVME_TCP_FES_PDU_SEQ_ERROR, "a second ICResp");
	if (hlen != want_hlen)
		PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "%s with HLEN %u (must be %u)",
			  type_name(type), hlen, want_hlen);
	if (type == NVME_TCP_C2H_DATA)
		allowed |= NVME_TCP_F_DDGST | NVME_TCP_F_LAST | NVME_TCP_F_SUCCESS;
	if (type == NVME_TCP_ICRESP || term)
		allowed = 0;
	if (flags & ~allowed)
		PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "%s with flags 0x%02x", type_name(type), flags);
	if ((flags & NVME_TCP_F_SUCCESS) && !(flags & NVME_TCP_F_LAST))
		PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "C2HData with SUCCESS but not LAST_PDU");
	/* Once digests are on, every PDU but the TermReqs carries each one it
	 * can carry; when they are off, none does. */
	if (allowed & NVME_TCP_F_HDGST) {
		if (!!(flags & NVME_TCP_F_HDGST) != p->hdgst)
			PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "%s %s a header digest",
				  type_name(type), p->hdgst ? "without" : "with");
	}
	if (allowed & NVME_TCP_F_DDGST) {
		if (!!(flags & NVME_TCP_F_DDGST) != p->ddgst)
			PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "%s %s a data digest",
				  type_name(type), p->ddgst ? "without" : "with");
	}
	out->type = type;
	out->flags = flags;
	out->hlen = hlen;
	out->pdo = pdo;
	out->plen = plen;
	out->hdgst = flags & NVME_TCP_F_HDGST;
	out->ddgst = flags & NVME_TCP_F_DDGST;
	uint32_t hd = out->hdgst ? NVME_TCP_DGST_LEN : 0;
	uint32_t dd = out->ddgst ? NVME_TCP_DGST_LEN : 0;

	if (type == NVME_TCP_C2H_DATA) {
		/* The host asked HPDA 0: data may start right after the header
		 * (and its digest); it must not overlap them. */
		if (pdo < hlen + hd)
			PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "C2HData with PDO %u inside its header",
				  pdo);
		if (plen <= (uint32_t)pdo + dd)
			PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "C2HData with PLEN %u and no data", plen);
		out->hdr_len = pdo;
		out->data_len = plen - pdo - dd;
		return 0;
	}
	if (term) {
		if (plen < hlen || plen > (uint32_t)hlen + NVME_TCP_TERM_MAX_DATA)
			PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "C2HTermReq with PLEN %u", plen);
		out->hdr_len = hlen;
		out->data_len = plen - hlen;
		return 0;
	}
	if (pdo != 0)
		PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "%s with PDO %u (it has no data)",
			  type_name(type), pdo);
	if (plen != (uint32_t)hlen + hd)
		PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "%s with PLEN %u (must be %u)",
			  type_name(type), plen, hlen + hd);
	out->hdr_len = hlen + hd;
	return 0;
}

int nvme_tcp_check_psh(const uint8_t *hdr, const struct nvme_tcp_rx_layout *lay,
		       struct nvme_tcp_rx_psh *out, uint16_t *fes, char *err, size_t errlen)
{
	const uint8_t *psh = hdr + NVME_TCP_CH_LEN;

	memset(out, 0, sizeof(*out));
	if (lay->hdgst) {
		uint32_t want = nvme_tcp_crc32c(hdr, lay->hlen);
		uint32_t got = nvme_tcp_get32(hdr + lay->hlen);
		if (want != got)
			PROTO_ERR(NVME_TCP_FES_HDGST_ERROR, "%s header digest 0x%08x, computed 0x%08x",
				  type_name(lay->type), got, want);
	}
	switch (lay->type) {
	case NVME_TCP_ICRESP:
		out->pfv = nvme_tcp_get16(psh);
		out->cpda = psh[2];
		out->dgst = psh[3];
		out->maxh2cdata = nvme_tcp_get32(psh + 4);
		return 0;
	case NVME_TCP_CAPSULE_RESP:
		memcpy(&out->cqe, psh, sizeof(out->cqe));
		return 0;
	case NVME_TCP_C2H_DATA:
	case NVME_TCP_R2T:
		out->cccid = nvme_tcp_get16(psh);
		out->ttag = nvme_tcp_get16(psh + 2);
		out->offset = nvme_tcp_get32(psh + 4);
		out->length = nvme_tcp_get32(psh + 8);
		if (lay->type == NVME_TCP_C2H_DATA && out->length != lay->data_len)
			PROTO_ERR(NVME_TCP_FES_INVALID_HEADER,
				  "C2HData DATAL %u but the PDU carries %u bytes", out->length,
				  lay->data_len);
		if (lay->type == NVME_TCP_R2T && out->length == 0)
			PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "R2T for 0 bytes");
		if ((uint64_t)out->offset + out->length > UINT32_MAX)
			PROTO_ERR(NVME_TCP_FES_DATA_OUT_OF_RANGE, "%s range %u+%u overflows",
				  type_name(lay->type), out->offset, out->length);
		return 0;
	case NVME_TCP_C2H_TERM:
		out->fes = nvme_tcp_get16(psh);
		out->fei = nvme_tcp_get32(psh + 2);
		return 0;
	default:
		PROTO_ERR(NVME_TCP_FES_INVALID_HEADER, "PDU type 0x%02x", lay->type);
	}
}

int nvme_tcp_check_icresp(const struct nvme_tcp_rx_psh *ic, bool want_hdgst, bool want_ddgst,
			  struct nvme_tcp_params *p, char *err, size_t errlen)
{
	bool h = ic->dgst & NVME_TCP_DGST_HDR, d = ic->dgst & NVME_TCP_DGST_DATA;

	if (ic->pfv != 0) {
		snprintf(err, errlen, "ICResp: PDU format version %u (only 0 is known)", ic->pfv);
		return -EPROTO;
	}
	if (ic->cpda > 31) {
		snprintf(err, errlen, "ICResp: CPDA %u out of range", ic->cpda);
		return -EPROTO;
	}
	if (ic->dgst & ~(NVME_TCP_DGST_HDR | NVME_TCP_DGST_DATA) || (h && !want_hdgst) ||
	    (d && !want_ddgst)) {
		snprintf(err, errlen, "ICResp: digests 0x%x that the host did not ask for", ic->dgst);
		return -EPROTO;
	}
	if (ic->maxh2cdata < 4096 || ic->maxh2cdata % 4) {
		snprintf(err, errlen, "ICResp: MAXH2CDATA %u (at least 4096, a multiple of 4)",
			 ic->maxh2cdata);
		return -EPROTO;
	}
	p->hdgst = h;
	p->ddgst = d;
	p->cpda = ic->cpda;
	p->maxh2cdata = ic->maxh2cdata;
	return 0;
}

/* --- building --- */

static void put_ch(uint8_t *b, uint8_t type, uint8_t flags, uint8_t hlen, uint8_t pdo,
		   uint32_t plen)
{
	b[0] = type;
	b[1] = flags;
	b[2] = hlen;
	b[3] = pdo;
	nvme_tcp_put32(b + 4, plen);
}

void nvme_tcp_build_icreq(uint8_t out[NVME_TCP_IC_LEN], bool hdgst, bool ddgst)
{
	memset(out, 0, NVME_TCP_IC_LEN);
	put_ch(out, NVME_TCP_ICREQ, 0, NVME_TCP_IC_LEN, 0, NVME_TCP_IC_LEN);
	/* PFV 0, HPDA 0, MAXR2T 0 (zero-based: one R2T per command) */
	out[11] = (uint8_t)((hdgst ? NVME_TCP_DGST_HDR : 0) | (ddgst ? NVME_TCP_DGST_DATA : 0));
}

/* The header of a PDU the host sends, with data_len bytes of data: the
 * digest after the header, then padding to the controller's alignment.
 * psh_len bytes of the PDU-specific header are already at out + 8. */
static uint32_t finish_hdr(uint8_t *out, uint8_t type, uint8_t flags, uint8_t hlen,
			   uint32_t data_len, const struct nvme_tcp_params *p)
{
	uint32_t hd = p->hdgst ? NVME_TCP_DGST_LEN : 0;
	uint32_t dd = p->ddgst && data_len ? NVME_TCP_DGST_LEN : 0;
	uint32_t align = ((uint32_t)p->cpda + 1) * 4;
	uint32_t pdo = 0, end = hlen + hd;

	if (data_len) {
		pdo = (end + align - 1) / align * align;
		end = pdo;
	}
	if (p->hdgst)
		flags |= NVME_TCP_F_HDGST;
	if (dd)
		flags |= NVME_TCP_F_DDGST;
	put_ch(out, type, flags, hlen, (uint8_t)pdo, end + data_len + dd);
	if (hd)
		nvme_tcp_put32(out + hlen, nvme_tcp_crc32c(out, hlen));
	memset(out + hlen + hd, 0, end - hlen - hd);
	return end;
}

uint32_t nvme_tcp_build_capsule(uint8_t *out, const struct nvme_sqe *sqe, uint32_t data_len,
				const struct nvme_tcp_params *p)
{
	memcpy(out + NVME_TCP_CH_LEN, sqe, sizeof(*sqe));
	return finish_hdr(out, NVME_TCP_CAPSULE_CMD, 0, NVME_TCP_CMD_HLEN, data_len, p);
}

uint32_t nvme_tcp_build_h2c(uint8_t *out, uint16_t cccid, uint16_t ttag, uint32_t datao,
			    uint32_t data_len, bool last, const struct nvme_tcp_params *p)
{
	uint8_t *psh = out + NVME_TCP_CH_LEN;

	nvme_tcp_put16(psh, cccid);
	nvme_tcp_put16(psh + 2, ttag);
	nvme_tcp_put32(psh + 4, datao);
	nvme_tcp_put32(psh + 8, data_len);
	nvme_tcp_put32(psh + 12, 0);
	return finish_hdr(out, NVME_TCP_H2C_DATA, last ? NVME_TCP_F_LAST : 0, NVME_TCP_DATA_HLEN,
			  data_len, p);
}

uint32_t nvme_tcp_build_h2c_term(uint8_t *out, uint16_t fes, uint32_t fei)
{
	memset(out, 0, NVME_TCP_TERM_HLEN);
	put_ch(out, NVME_TCP_H2C_TERM, 0, NVME_TCP_TERM_HLEN, 0, NVME_TCP_TERM_HLEN);
	nvme_tcp_put16(out + 8, fes);
	nvme_tcp_put32(out + 10, fei);
	return NVME_TCP_TERM_HLEN;
}
