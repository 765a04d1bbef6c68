/* vfio-user client: PCI config space helpers (capability walks, VPD) and
 * the VPD image parser. Uses only the public client API. */
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <time.h>

#include "host/vfio_user_client.h"

#define CFG			VFIO_PCI_CONFIG_REGION_INDEX
#define PCI_STATUS		0x06
#define PCI_STATUS_CAP_LIST	0x10
#define PCI_CAP_PTR		0x34
#define PCI_STD_HDR_END		0x40
#define PCI_CFG_SIZE		0x100
#define PCIE_CFG_SIZE		0x1000
#define PCI_CAP_ID_VPD		0x03
#define VPD_ADDR		2	/* u16: bits 14:0 address, bit 15 F */
#define VPD_DATA		4	/* u32 */
#define VPD_F			0x8000u
#define VPD_MAX			0x8000u
#define VPD_WAIT_MS		100

int vfu_cfg_read(struct vfu_client *c, uint32_t off, void *buf, size_t len)
{
	return vfu_region_read(c, CFG, off, buf, len);
}

int vfu_cfg_write(struct vfu_client *c, uint32_t off, const void *buf, size_t len)
{
	return vfu_region_write(c, CFG, off, buf, len, false);
}

int vfu_cfg_read8(struct vfu_client *c, uint32_t off, uint8_t *val)
{
	return vfu_cfg_read(c, off, val, 1);
}

int vfu_cfg_read16(struct vfu_client *c, uint32_t off, uint16_t *val)
{
	uint16_t le;
	int rc = vfu_cfg_read(c, off, &le, sizeof(le));
	if (!rc)
		*val = le16toh(le);
	return rc;
}

int vfu_cfg_read32(struct vfu_client *c, uint32_t off, uint32_t *val)
{
	uint32_t le;
	int rc = vfu_cfg_read(c, off, &le, sizeof(le));
	if (!rc)
		*val = le32toh(le);
	return rc;
}

int vfu_cfg_write16(struct vfu_client *c, uint32_t off, uint16_t val)
{
	uint16_t le = htole16(val);
	return vfu_cfg_write(c, off, &le, sizeof(le));
}

int vfu_cfg_write32(struct vfu_client *c, uint32_t off, uint32_t val)
{
	uint32_t le = htole32(val);
	return vfu_cfg_write(c, off, &le, sizeof(le));
}

/* ---- capability lists ------------------------------------------------------ */

static bool visit(uint64_t *bits, uint32_t off)
{
	uint32_t dw = off / 4;
	uint64_t m = 1ull << (dw % 64);
	if (bits[dw / 64] & m)
		return false;
	bits[dw / 64] |= m;
	return true;
}

int vfu_cfg_find_cap(struct vfu_client *c, uint8_t id)
{
	uint64_t seen[PCI_CFG_SIZE / 4 / 64] = { 0 };
	uint16_t status;
	uint8_t ptr;

	int rc = vfu_cfg_read16(c, PCI_STATUS, &status);
	if (rc)
		return rc;
	if (!(status & PCI_STATUS_CAP_LIST))
		return -ENOENT;
	rc = vfu_cfg_read8(c, PCI_CAP_PTR, &ptr);
	if (rc)
		return rc;
	for (uint32_t off = ptr & 0xfcu; off; ) {
		uint16_t hdr;
		if (off < PCI_STD_HDR_END)
			return -EPROTO;
		if (!visit(seen, off))
			return -ELOOP;
		rc = vfu_cfg_read16(c, off, &hdr);
		if (rc)
			return rc;
		if ((hdr & 0xff) == id)
			return (int)off;
		off = (hdr >> 8) & 0xfcu;
	}
	return -ENOENT;
}

int vfu_cfg_find_ext_cap(struct vfu_client *c, uint16_t id)
{
	uint64_t seen[PCIE_CFG_SIZE / 4 / 64] = { 0 };
	struct vfu_region_info info;

	int rc = vfu_get_region_info(c, CFG, &info, NULL, 0, NULL);
	if (rc)
		return rc;
	if (info.size < PCIE_CFG_SIZE)
		return -ENOENT;
	for (uint32_t off = PCI_CFG_SIZE; ; ) {
		uint32_t hdr;
		if (off < PCI_CFG_SIZE)
			return -EPROTO;
		if (!visit(seen, off))
			return -ELOOP;
		rc = vfu_cfg_read32(c, off, &hdr);
		if (rc)
			return rc;
		if (hdr == 0 || hdr == 0xffffffffu)
			return -ENOENT;	/* no (more) extended capabilities */
		if ((hdr & 0xffff) == id)
			return (int)off;
		off = (hdr >> 20) & 0xffcu;
		if (!off)
			return -ENOENT;
	}
}

/* ---- VPD --------------------------------------------------------------------- */

static int64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Read the VPD dword at addr through the capability at cap. */
static int vpd_read_dword(struct vfu_client *c, int cap, uint32_t addr, uint32_t *val)
{
	int rc = vfu_cfg_write16(c, (uint32_t)cap + VPD_ADDR, (uint16_t)(addr & ~VPD_F));
	if (rc)
		return rc;
	int64_t deadline = mono_ms() + VPD_WAIT_MS;
	for (int tries = 0; ; tries++) {
		uint16_t a;
		rc = vfu_cfg_read16(c, (uint32_t)cap + VPD_ADDR, &a);
		if (rc)
			return rc;
		if (a & VPD_F)
			break;
		if (mono_ms() > deadline)
			return -ETIMEDOUT;
		if (tries >= 8) {
			struct timespec ts = { 0, 100000 };
			nanosleep(&ts, NULL);
		}
	}
	return vfu_cfg_read32(c, (uint32_t)cap + VPD_DATA, val);
}

int vfu_cfg_read_vpd(struct vfu_client *c, void *buf, size_t len)
{
	if (len > VPD_MAX)
		return -EINVAL;
	int cap = vfu_cfg_find_cap(c, PCI_CAP_ID_VPD);
	if (cap < 0)
		return cap;
	uint8_t *out = buf;
	for (uint32_t addr = 0; addr < len; addr += 4) {
		uint32_t v;
		int rc = vpd_read_dword(c, cap, addr, &v);
		if (rc)
			return rc;
		uint32_t le = htole32(v);	/* VPD bytes are in address order */
		size_t n = len - addr < 4 ? len - addr : 4;
		memcpy(out + addr, &le, n);
	}
	return 0;
}

/* Search the keywords of one VPD-R/VPD-W resource body. */
static int vpd_find_in(const uint8_t *p, size_t len, const char *kw, void *out, size_t cap)
{
	size_t q = 0;
	while (len - q >= 3) {
		size_t klen = p[q + 2];
		if (klen > len - q - 3)
			return -EBADMSG;
		if (p[q] == (uint8_t)kw[0] && p[q + 1] == (uint8_t)kw[1]) {
			if (cap < klen)
				return -ENOSPC;
			memcpy(out, p + q + 3, klen);
			if (cap > klen)
				((uint8_t *)out)[klen] = 0;
			return (int)klen;
		}
		q += 3 + klen;
	}
	return -ENOENT;
}

int vfu_vpd_find_keyword(const void *vpd, size_t len, const char *kw, void *out, size_t cap)
{
	const uint8_t *b = vpd;
	size_t p = 0;

	if (!kw || strlen(kw) != 2)
		return -EINVAL;
	while (p < len) {
		uint8_t tag = b[p];
		if (!(tag & 0x80)) {		/* small resource: name in 6:3, length in 2:0 */
			if (((tag >> 3) & 0xf) == 0xf)
				return -ENOENT;	/* end tag (0x78) */
			size_t n = tag & 7u;
			if (n > len - p - 1)
				return -EBADMSG;
			p += 1 + n;
			continue;
		}
		if (len - p < 3)		/* large resource: tag, u16 LE length */
			return -EBADMSG;
		size_t n = (size_t)b[p + 1] | (size_t)b[p + 2] << 8;
		if (n > len - p - 3)
			return -EBADMSG;
		if (tag == 0x90 || tag == 0x91) {	/* VPD-R, VPD-W */
			int rc = vpd_find_in(b + p + 3, n, kw, out, cap);
			if (rc != -ENOENT)
				return rc;
		}
		p += 3 + n;			/* 0x82 identifier string and others */
	}
	return -ENOENT;
}
