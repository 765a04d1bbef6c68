/* PCI configuration space of an emulated PCIe function. See pci_config.h.
 *
 * Written from the PCI Local Bus 3.0 (type 0 header, capability list, VPD),
 * PCI Bus Power Management 1.2, PCI Express Base (PCIe capability, FLR,
 * extended capabilities) and Single Root I/O Virtualization 1.1
 * specifications.
 *
 * Model: every byte of the space has a value, a writable mask and a
 * write-1-to-clear mask. A write first combines old and new bytes through
 * those masks, then a few registers with side effects are fixed up
 * (unsupported power states, the VPD address/flag handshake, NumVFs and
 * System Page Size checks, the self-clearing Initiate FLR bit), and finally
 * the callbacks report the watched bits that changed.
 *
 * VFs: a VF served through its own endpoint is a standalone function for
 * its client, so its header shows real ids and a writable Memory Space
 * bit (desc->is_vf only forbids an SR-IOV capability on it). */
#include "emu/pci_config.h"

#include <errno.h>
#include <string.h>

/* Type 0 header. */
enum {
	HDR_VENDOR = 0x00,
	HDR_DEVICE = 0x02,
	HDR_COMMAND = 0x04,
	HDR_STATUS = 0x06,
	HDR_REVISION = 0x08,
	HDR_CLASS = 0x09,		/* prog-if, sub-class, base class */
	HDR_CACHE_LINE = 0x0c,
	HDR_TYPE = 0x0e,
	HDR_BAR0 = 0x10,
	HDR_SUBSYS_VENDOR = 0x2c,
	HDR_SUBSYS = 0x2e,
	HDR_ROM = 0x30,
	HDR_CAP_PTR = 0x34,
	HDR_INT_LINE = 0x3c,
	HDR_INT_PIN = 0x3d,
	HDR_END = 0x40,
};

#define CMD_MEMORY 0x0002u
#define CMD_MASTER 0x0004u
#define CMD_SERR 0x0100u
#define CMD_INTX_DISABLE 0x0400u
#define CMD_WRITABLE (CMD_MEMORY | CMD_MASTER | CMD_SERR | CMD_INTX_DISABLE)
#define CMD_WATCHED (CMD_MEMORY | CMD_MASTER)

#define STS_CAP_LIST 0x0010u
/* Master Data Parity Error, Signaled/Received Target Abort, Received
 * Master Abort, Signaled System Error, Detected Parity Error. */
#define STS_ERRORS 0xf900u

#define BAR_TYPE_64 0x4u
#define BAR_PREFETCH 0x8u
#define BAR_FLAGS 0xfu

/* Capability ids. */
#define CAP_ID_PM 0x01
#define CAP_ID_VPD 0x03
#define CAP_ID_VENDOR 0x09
#define CAP_ID_EXP 0x10
#define CAP_ID_MSIX 0x11
#define EXT_CAP_ID_SRIOV 0x0010
#define EXT_CAP_BASE 0x100

/* Power management capability (PCI PM 1.2). */
enum { PM_PMC = 2, PM_CSR = 4, PM_SIZE = 8 };
#define PMC_VERSION_1_2 0x0003u
#define PMCSR_STATE 0x0003u
#define PMCSR_NO_SOFT_RESET 0x0008u
#define PM_D0 0
#define PM_D3HOT 3

/* MSI-X capability. */
enum { MSIX_CTL = 2, MSIX_TABLE = 4, MSIX_PBA = 8, MSIX_SIZE = 12 };
#define MSIX_CTL_MASKALL 0x4000u
#define MSIX_CTL_ENABLE 0x8000u
#define MSIX_MAX_VECTORS 2048
#define MSIX_ENTRY_SIZE 16u

/* PCI Express capability, version 2 layout (all registers present). */
enum {
	EXP_FLAGS = 0x02,
	EXP_DEVCAP = 0x04,
	EXP_DEVCTL = 0x08,
	EXP_DEVSTA = 0x0a,
	EXP_LNKCAP = 0x0c,
	EXP_LNKCTL = 0x10,
	EXP_LNKSTA = 0x12,
	EXP_DEVCAP2 = 0x24,
	EXP_LNKCAP2 = 0x2c,
	EXP_LNKCTL2 = 0x30,
	EXP_SIZE = 0x3c,
};
#define EXP_FLAGS_V2_ENDPOINT 0x0002u		/* version 2, type 0 = endpoint */
#define DEVCAP_RBER (1u << 15)
#define DEVCAP_FLR (1u << 28)			/* Max_Payload_Size_Supported 0 = 128 */
#define DEVCTL_ERR_REPORTING 0x000fu
#define DEVCTL_RELAXED 0x0010u
#define DEVCTL_MPS 0x00e0u
#define DEVCTL_NO_SNOOP 0x0800u
#define DEVCTL_MRRS 0x7000u
#define DEVCTL_MRRS_512 0x2000u
#define DEVCTL_FLR 0x8000u
#define DEVSTA_ERRORS 0x000fu
#define LINK_SPEED_8GT 0x3u
#define LINK_WIDTH_X4 (4u << 4)
#define LNKSTA_SLOT_CLOCK 0x1000u
#define LNKCTL_WRITABLE 0x00c8u		/* RCB, Common Clock, Extended Synch */
#define LNKCAP2_SPEEDS 0x000eu		/* 2.5, 5 and 8 GT/s */
#define LNKCTL2_TARGET_SPEED 0x000fu

/* VPD capability. */
enum { VPD_ADDR = 2, VPD_DATA = 4, VPD_SIZE = 8 };
#define VPD_F 0x8000u
#define VPD_ADDR_MASK 0x7fffu

/* SR-IOV extended capability. */
enum {
	SRIOV_CTL = 0x08,
	SRIOV_INITIAL_VFS = 0x0c,
	SRIOV_TOTAL_VFS = 0x0e,
	SRIOV_NUM_VFS = 0x10,
	SRIOV_VF_OFFSET = 0x14,
	SRIOV_VF_STRIDE = 0x16,
	SRIOV_VF_DEVICE = 0x1a,
	SRIOV_SUP_PGSIZE = 0x1c,
	SRIOV_SYS_PGSIZE = 0x20,
	SRIOV_VF_BAR0 = 0x24,
	SRIOV_SIZE = 0x40,
};
#define SRIOV_CTL_VFE 0x0001u
#define SRIOV_CTL_MSE 0x0008u
#define SRIOV_CTL_ARI 0x0010u
#define SRIOV_PGSIZE_4K 0x1u

#define BAR_MIN_SIZE 4096u
#define BAR32_MAX_SIZE (1ull << 31)

/* VPD resource tags. */
#define VPD_TAG_ID_STRING 0x82
#define VPD_TAG_RO 0x90
#define VPD_TAG_END 0x78

/* ---- little-endian access to the byte arrays ---- */

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static uint16_t cfg16(const struct pci_cfg *c, unsigned off)
{
	return get16(&c->data[off]);
}

static uint32_t cfg32(const struct pci_cfg *c, unsigned off)
{
	return get32(&c->data[off]);
}

/* ---- description checks ---- */

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static bool bar_size_ok(uint64_t size, bool is64)
{
	if (!is_pow2(size) || size < BAR_MIN_SIZE)
		return false;
	return is64 || size <= BAR32_MAX_SIZE;
}

/* A 64-bit BAR takes the next slot, which must be left empty. */
static int check_bars(const struct pci_cfg_desc *d)
{
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		uint64_t size = d->bar_size[i];
		if (!size)
			continue;
		if (!bar_size_ok(size, d->bar_64[i]))
			return -EINVAL;
		if (!d->bar_64[i])
			continue;
		if (i == PCI_NUM_BARS - 1 || d->bar_size[i + 1])
			return -EINVAL;
		i++;
	}
	return 0;
}

/* A structure of len bytes at offset off of BAR bir must fit in it. */
static bool msix_struct_fits(const struct pci_cfg_desc *d, uint8_t bir, uint32_t off,
			     uint64_t len)
{
	if (bir >= PCI_NUM_BARS || !d->bar_size[bir] || (off & 7))
		return false;
	return (uint64_t)off + len <= d->bar_size[bir];
}

/* Table and PBA must lie inside their BARs and must not overlap. */
static int check_msix(const struct pci_cfg_desc *d)
{
	uint64_t n = d->msix_vectors, tlen, plen;
	uint64_t t = d->msix_table_offset, p = d->msix_pba_offset;

	if (!n)
		return 0;
	if (n > MSIX_MAX_VECTORS)
		return -EINVAL;
	tlen = n * MSIX_ENTRY_SIZE;
	plen = (n + 63) / 64 * 8;
	if (!msix_struct_fits(d, d->msix_table_bar, d->msix_table_offset, tlen) ||
	    !msix_struct_fits(d, d->msix_pba_bar, d->msix_pba_offset, plen))
		return -EINVAL;
	if (d->msix_table_bar == d->msix_pba_bar && t < p + plen && p < t + tlen)
		return -EINVAL;
	return 0;
}

static int check_sriov(const struct pci_cfg_desc *d)
{
	if (!d->total_vfs)
		return 0;
	if (d->is_vf || !d->vf_offset || (d->total_vfs > 1 && !d->vf_stride))
		return -EINVAL;
	for (int i = 0; i < PCI_NUM_BARS; i++)
		if (d->vf_bar_size[i] && !bar_size_ok(d->vf_bar_size[i], false))
			return -EINVAL;
	return 0;
}

static int check_desc(const struct pci_cfg_desc *d)
{
	if (d->class_code > 0xffffff || d->vpd_len > PCI_VPD_MAX)
		return -EINVAL;
	if (d->num_vendor_caps < 0 || d->num_vendor_caps > PCI_MAX_VENDOR_CAPS)
		return -EINVAL;
	for (int i = 0; i < d->num_vendor_caps; i++)
		if (d->vendor_caps[i].len > sizeof(d->vendor_caps[i].data))
			return -EINVAL;
	if (check_bars(d) || check_msix(d))
		return -EINVAL;
	return check_sriov(d);
}

/* ---- capability layout ---- */

struct cap_layout {
	uint16_t pm, msix, pcie, vpd;
	uint16_t vendor[PCI_MAX_VENDOR_CAPS];
};

/* Reserve size bytes at *cursor (kept 4-byte aligned); returns the start. */
static uint16_t place(unsigned *cursor, unsigned size)
{
	unsigned at = *cursor;
	*cursor = (at + size + 3) & ~3u;
	return (uint16_t)at;
}

/* Offsets of the standard capabilities; -EINVAL if they pass 0x100. */
static int plan_caps(const struct pci_cfg_desc *d, struct cap_layout *l)
{
	unsigned cursor = HDR_END;

	memset(l, 0, sizeof(*l));
	l->pm = place(&cursor, PM_SIZE);
	if (d->msix_vectors)
		l->msix = place(&cursor, MSIX_SIZE);
	l->pcie = place(&cursor, EXP_SIZE);
	if (d->vpd_len)
		l->vpd = place(&cursor, VPD_SIZE);
	for (int i = 0; i < d->num_vendor_caps; i++)
		l->vendor[i] = place(&cursor, 2u + d->vendor_caps[i].len);
	return cursor <= EXT_CAP_BASE ? 0 : -EINVAL;
}

/* ---- building ---- */

static void set_ro16(struct pci_cfg *c, unsigned off, uint16_t v)
{
	put16(&c->data[off], v);
}

static void set_ro32(struct pci_cfg *c, unsigned off, uint32_t v)
{
	put32(&c->data[off], v);
}

static void set_wmask16(struct pci_cfg *c, unsigned off, uint16_t m)
{
	put16(&c->wmask[off], m);
}

static void set_wmask32(struct pci_cfg *c, unsigned off, uint32_t m)
{
	put32(&c->wmask[off], m);
}

static void set_w1c16(struct pci_cfg *c, unsigned off, uint16_t m)
{
	put16(&c->w1cmask[off], m);
}

/* Append capability id at off to the list whose last next-pointer byte is
 * at *link (0x34 for the first one). */
static void add_cap(struct pci_cfg *c, unsigned *link, uint16_t off, uint8_t id)
{
	c->data[off] = id;
	c->data[off + 1] = 0;
	c->data[*link] = (uint8_t)off;
	*link = off + 1u;
}

/* Memory BAR at off: flag bits RO, address bits above the size writable. */
static void build_bar(struct pci_cfg *c, unsigned off, uint64_t size, bool is64, bool prefetch)
{
	uint64_t addr_mask = ~(size - 1);
	uint32_t flags = (is64 ? BAR_TYPE_64 : 0) | (prefetch ? BAR_PREFETCH : 0);

	set_ro32(c, off, flags);
	set_wmask32(c, off, (uint32_t)addr_mask & ~BAR_FLAGS);
	if (is64)
		set_wmask32(c, off + 4, (uint32_t)(addr_mask >> 32));
}

static void build_header(struct pci_cfg *c, const struct pci_cfg_desc *d)
{
	set_ro16(c, HDR_VENDOR, d->vendor_id);
	set_ro16(c, HDR_DEVICE, d->device_id);
	set_wmask16(c, HDR_COMMAND, CMD_WRITABLE);
	set_ro16(c, HDR_STATUS, STS_CAP_LIST);
	set_w1c16(c, HDR_STATUS, STS_ERRORS);
	c->data[HDR_REVISION] = d->revision;
	c->data[HDR_CLASS] = (uint8_t)d->class_code;
	c->data[HDR_CLASS + 1] = (uint8_t)(d->class_code >> 8);
	c->data[HDR_CLASS + 2] = (uint8_t)(d->class_code >> 16);
	c->wmask[HDR_CACHE_LINE] = 0xff;	/* PCIe: RW, no effect */
	c->data[HDR_TYPE] = 0x00;		/* type 0, single function */
	set_ro16(c, HDR_SUBSYS_VENDOR, d->subsys_vendor_id);
	set_ro16(c, HDR_SUBSYS, d->subsys_id);
	set_ro32(c, HDR_ROM, 0);		/* no expansion ROM */
	c->wmask[HDR_INT_LINE] = 0xff;		/* scratch for software */
	c->data[HDR_INT_PIN] = 0;		/* no INTx */

	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (!d->bar_size[i])
			continue;
		c->bar_size[i] = d->bar_size[i];
		build_bar(c, HDR_BAR0 + 4u * i, d->bar_size[i], d->bar_64[i], d->bar_prefetch[i]);
		if (d->bar_64[i])
			i++;
	}
}

static void build_pm(struct pci_cfg *c, unsigned *link, uint16_t at)
{
	add_cap(c, link, at, CAP_ID_PM);
	set_ro16(c, at + PM_PMC, PMC_VERSION_1_2);	/* no D1/D2, no PME */
	set_ro16(c, at + PM_CSR, PMCSR_NO_SOFT_RESET | PM_D0);
	set_wmask16(c, at + PM_CSR, PMCSR_STATE);
	c->pm_cap = at;
}

static void build_msix(struct pci_cfg *c, unsigned *link, uint16_t at,
		       const struct pci_cfg_desc *d)
{
	add_cap(c, link, at, CAP_ID_MSIX);
	set_ro16(c, at + MSIX_CTL, (uint16_t)(d->msix_vectors - 1));
	set_wmask16(c, at + MSIX_CTL, MSIX_CTL_MASKALL | MSIX_CTL_ENABLE);
	set_ro32(c, at + MSIX_TABLE, d->msix_table_offset | d->msix_table_bar);
	set_ro32(c, at + MSIX_PBA, d->msix_pba_offset | d->msix_pba_bar);
	c->msix_cap = at;
	c->msix_vectors = d->msix_vectors;
}

static void build_pcie(struct pci_cfg *c, unsigned *link, uint16_t at)
{
	add_cap(c, link, at, CAP_ID_EXP);
	set_ro16(c, at + EXP_FLAGS, EXP_FLAGS_V2_ENDPOINT);
	set_ro32(c, at + EXP_DEVCAP, DEVCAP_FLR | DEVCAP_RBER);
	set_ro16(c, at + EXP_DEVCTL, DEVCTL_RELAXED | DEVCTL_NO_SNOOP | DEVCTL_MRRS_512);
	set_wmask16(c, at + EXP_DEVCTL, DEVCTL_ERR_REPORTING | DEVCTL_RELAXED | DEVCTL_MPS |
				       DEVCTL_NO_SNOOP | DEVCTL_MRRS | DEVCTL_FLR);
	set_w1c16(c, at + EXP_DEVSTA, DEVSTA_ERRORS);
	set_ro32(c, at + EXP_LNKCAP, LINK_SPEED_8GT | LINK_WIDTH_X4);
	set_wmask16(c, at + EXP_LNKCTL, LNKCTL_WRITABLE);
	set_ro16(c, at + EXP_LNKSTA, LINK_SPEED_8GT | LINK_WIDTH_X4 | LNKSTA_SLOT_CLOCK);
	set_ro32(c, at + EXP_DEVCAP2, 0);
	set_ro32(c, at + EXP_LNKCAP2, LNKCAP2_SPEEDS);
	set_ro16(c, at + EXP_LNKCTL2, LINK_SPEED_8GT);
	set_wmask16(c, at + EXP_LNKCTL2, LNKCTL2_TARGET_SPEED);
	c->pcie_cap = at;
}

static void build_vpd(struct pci_cfg *c, unsigned *link, uint16_t at,
		      const struct pci_cfg_desc *d)
{
	add_cap(c, link, at, CAP_ID_VPD);
	set_wmask16(c, at + VPD_ADDR, 0xffff);	/* checked by vpd_access() */
	memcpy(c->vpd, d->vpd, d->vpd_len);
	c->vpd_len = d->vpd_len;
	c->vpd_cap = at;
}

static void build_vendor(struct pci_cfg *c, unsigned *link, uint16_t at,
			 const struct pci_vendor_cap *v)
{
	add_cap(c, link, at, CAP_ID_VENDOR);
	memcpy(&c->data[at + 2], v->data, v->len);
}

static void build_sriov(struct pci_cfg *c, const struct pci_cfg_desc *d)
{
	const unsigned at = EXT_CAP_BASE;

	set_ro32(c, at, EXT_CAP_ID_SRIOV | 1u << 16);	/* version 1, last */
	set_wmask16(c, at + SRIOV_CTL, SRIOV_CTL_VFE | SRIOV_CTL_MSE | SRIOV_CTL_ARI);
	set_ro16(c, at + SRIOV_INITIAL_VFS, d->total_vfs);
	set_ro16(c, at + SRIOV_TOTAL_VFS, d->total_vfs);
	set_wmask16(c, at + SRIOV_NUM_VFS, 0xffff);	/* checked by sriov_fixup() */
	set_ro16(c, at + SRIOV_VF_OFFSET, d->vf_offset);
	set_ro16(c, at + SRIOV_VF_STRIDE, d->vf_stride);
	set_ro16(c, at + SRIOV_VF_DEVICE, d->vf_device_id);
	set_ro32(c, at + SRIOV_SUP_PGSIZE, SRIOV_PGSIZE_4K);
	set_ro32(c, at + SRIOV_SYS_PGSIZE, SRIOV_PGSIZE_4K);
	set_wmask32(c, at + SRIOV_SYS_PGSIZE, 0xffffffff);	/* checked too */
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		c->vf_bar_size[i] = d->vf_bar_size[i];
		if (d->vf_bar_size[i])
			build_bar(c, at + SRIOV_VF_BAR0 + 4u * i, d->vf_bar_size[i], false, false);
	}
	c->sriov_cap = (uint16_t)at;
}

static void build_caps(struct pci_cfg *c, const struct pci_cfg_desc *d,
		       const struct cap_layout *l)
{
	unsigned link = HDR_CAP_PTR;

	build_pm(c, &link, l->pm);
	if (l->msix)
		build_msix(c, &link, l->msix, d);
	build_pcie(c, &link, l->pcie);
	if (l->vpd)
		build_vpd(c, &link, l->vpd, d);
	for (int i = 0; i < d->num_vendor_caps; i++)
		build_vendor(c, &link, l->vendor[i], &d->vendor_caps[i]);
	if (d->total_vfs)
		build_sriov(c, d);
}

/**
 * pci_cfg_init() - lay out the config space described by desc.
 * Validates the whole description before touching c.
 * Returns 0, or -EINVAL for a bad description.
 */
int pci_cfg_init(struct pci_cfg *c, const struct pci_cfg_desc *desc)
{
	struct cap_layout l;

	if (!c || !desc || check_desc(desc) || plan_caps(desc, &l))
		return -EINVAL;
	memset(c, 0, sizeof(*c));
	build_header(c, desc);
	build_caps(c, desc, &l);
	memcpy(c->init_data, c->data, sizeof(c->data));
	return 0;
}

/* ---- accesses ---- */

static bool range_ok(const struct pci_cfg *c, uint32_t off, const void *buf, size_t len)
{
	return c && buf && len && off < PCI_CFG_SIZE && len <= PCI_CFG_SIZE - off;
}

/* Does [off, off+len) overlap [start, start+n)? */
static bool overlaps(uint32_t off, size_t len, unsigned start, unsigned n)
{
	return off < start + n && start < off + len;
}

/**
 * pci_cfg_read() - copy len bytes of config space at off into buf.
 * Returns 0, or -EINVAL for an access outside the space or of length 0.
 */
int pci_cfg_read(struct pci_cfg *c, uint32_t off, void *buf, size_t len)
{
	if (!range_ok(c, off, buf, len))
		return -EINVAL;
	memcpy(buf, &c->data[off], len);
	return 0;
}

/* The watched registers before a write. */
struct cfg_snapshot {
	uint16_t command, msix_ctl, pmcsr, vpd_addr;
	uint16_t sriov_ctl, num_vfs;
	uint32_t sys_pgsize;
};

static void snapshot(const struct pci_cfg *c, struct cfg_snapshot *s)
{
	memset(s, 0, sizeof(*s));
	s->command = cfg16(c, HDR_COMMAND);
	if (c->msix_cap)
		s->msix_ctl = cfg16(c, c->msix_cap + MSIX_CTL);
	if (c->pm_cap)
		s->pmcsr = cfg16(c, c->pm_cap + PM_CSR);
	if (c->vpd_cap)
		s->vpd_addr = cfg16(c, c->vpd_cap + VPD_ADDR);
	if (c->sriov_cap) {
		s->sriov_ctl = cfg16(c, c->sriov_cap + SRIOV_CTL);
		s->num_vfs = cfg16(c, c->sriov_cap + SRIOV_NUM_VFS);
		s->sys_pgsize = cfg32(c, c->sriov_cap + SRIOV_SYS_PGSIZE);
	}
}

/* Combine each written byte with the old one through wmask and w1cmask. */
static void merge_bytes(struct pci_cfg *c, uint32_t off, const uint8_t *src, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		size_t o = off + i;
		uint8_t v = c->data[o];

		v = (uint8_t)((v & ~c->wmask[o]) | (src[i] & c->wmask[o]));
		v = (uint8_t)(v & ~(src[i] & c->w1cmask[o]));
		c->data[o] = v;
	}
}

/* D1 and D2 are not supported: such a write completes but changes nothing. */
static void pm_fixup(struct pci_cfg *c, const struct cfg_snapshot *s)
{
	uint16_t csr;
	unsigned state;

	if (!c->pm_cap)
		return;
	csr = cfg16(c, c->pm_cap + PM_CSR);
	state = csr & PMCSR_STATE;
	if (state != PM_D0 && state != PM_D3HOT)
		put16(&c->data[c->pm_cap + PM_CSR],
		      (uint16_t)((csr & ~PMCSR_STATE) | (s->pmcsr & PMCSR_STATE)));
}

/* Read-only VPD: a write of an address with F=0 fetches 4 bytes into the
 * data register and sets F at once; a write with F=1 (a VPD write) is
 * ignored. */
static void vpd_access(struct pci_cfg *c, uint32_t off, size_t len, const struct cfg_snapshot *s)
{
	uint8_t *reg;
	uint16_t addr;

	if (!c->vpd_cap || !overlaps(off, len, c->vpd_cap + VPD_ADDR, 2))
		return;
	reg = &c->data[c->vpd_cap + VPD_ADDR];
	addr = get16(reg);
	if (addr & VPD_F) {
		put16(reg, s->vpd_addr);
		return;
	}
	for (unsigned i = 0; i < 4; i++) {
		unsigned a = (addr & VPD_ADDR_MASK) + i;
		c->data[c->vpd_cap + VPD_DATA + i] = a < c->vpd_len ? c->vpd[a] : 0;
	}
	put16(reg, addr | VPD_F);
}

/* NumVFs keeps its old value when the new one exceeds TotalVFs or when VF
 * Enable was already set (the spec leaves both undefined); System Page
 * Size keeps its old value unless the new one is one supported size. */
static void sriov_fixup(struct pci_cfg *c, const struct cfg_snapshot *s)
{
	unsigned at = c->sriov_cap;
	uint16_t num, total;
	uint32_t pgsz;

	if (!at)
		return;
	num = cfg16(c, at + SRIOV_NUM_VFS);
	total = cfg16(c, at + SRIOV_TOTAL_VFS);
	if (num > total || (num != s->num_vfs && (s->sriov_ctl & SRIOV_CTL_VFE)))
		put16(&c->data[at + SRIOV_NUM_VFS], s->num_vfs);
	pgsz = cfg32(c, at + SRIOV_SYS_PGSIZE);
	if (!is_pow2(pgsz) || !(pgsz & cfg32(c, at + SRIOV_SUP_PGSIZE)))
		put32(&c->data[at + SRIOV_SYS_PGSIZE], s->sys_pgsize);
}

/* Initiate FLR reads 0: clear it and report whether it was written as 1. */
static bool take_flr(struct pci_cfg *c)
{
	uint8_t *hi;

	if (!c->pcie_cap)
		return false;
	hi = &c->data[c->pcie_cap + EXP_DEVCTL + 1];
	if (!(*hi & (DEVCTL_FLR >> 8)))
		return false;
	*hi = (uint8_t)(*hi & ~(DEVCTL_FLR >> 8));
	return true;
}

static void notify_command(const struct pci_cfg *c, const struct cfg_snapshot *s,
			   const struct pci_cfg_ops *ops, void *arg)
{
	uint16_t now = cfg16(c, HDR_COMMAND);

	if (ops->command && ((now ^ s->command) & CMD_WATCHED))
		ops->command(arg, now);
}

static void notify_msix(const struct pci_cfg *c, const struct cfg_snapshot *s,
			const struct pci_cfg_ops *ops, void *arg)
{
	uint16_t now;

	if (!c->msix_cap || !ops->msix_control)
		return;
	now = cfg16(c, c->msix_cap + MSIX_CTL);
	if ((now ^ s->msix_ctl) & (MSIX_CTL_ENABLE | MSIX_CTL_MASKALL))
		ops->msix_control(arg, now & MSIX_CTL_ENABLE, now & MSIX_CTL_MASKALL);
}

static void notify_power(const struct pci_cfg *c, const struct cfg_snapshot *s,
			 const struct pci_cfg_ops *ops, void *arg)
{
	int now;

	if (!c->pm_cap || !ops->power_state)
		return;
	now = pci_cfg_power_state(c);
	if (now != (int)(s->pmcsr & PMCSR_STATE))
		ops->power_state(arg, now);
}

static void notify_sriov(const struct pci_cfg *c, const struct cfg_snapshot *s,
			 const struct pci_cfg_ops *ops, void *arg)
{
	uint16_t ctl, num;

	if (!c->sriov_cap || !ops->sriov_control)
		return;
	ctl = cfg16(c, c->sriov_cap + SRIOV_CTL);
	num = cfg16(c, c->sriov_cap + SRIOV_NUM_VFS);
	if (((ctl ^ s->sriov_ctl) & SRIOV_CTL_VFE) || num != s->num_vfs)
		ops->sriov_control(arg, ctl & SRIOV_CTL_VFE, num);
}

/**
 * pci_cfg_write() - write len bytes from buf at off, following the PCI
 * rules for RO, RW and RW1C bits, then report changes through ops (may be
 * NULL). An Initiate FLR resets the function after the other callbacks and
 * then calls ops->flr.
 * Returns 0, or -EINVAL (outside the space, length 0) with nothing changed.
 */
int pci_cfg_write(struct pci_cfg *c, uint32_t off, const void *buf, size_t len,
		  const struct pci_cfg_ops *ops, void *arg)
{
	struct cfg_snapshot s;
	bool flr;

	if (!range_ok(c, off, buf, len))
		return -EINVAL;
	snapshot(c, &s);
	merge_bytes(c, off, buf, len);
	pm_fixup(c, &s);
	vpd_access(c, off, len, &s);
	sriov_fixup(c, &s);
	flr = take_flr(c);
	if (ops) {
		notify_command(c, &s, ops, arg);
		notify_msix(c, &s, ops, arg);
		notify_power(c, &s, ops, arg);
		notify_sriov(c, &s, ops, arg);
	}
	if (flr) {
		pci_cfg_function_reset(c);
		if (ops && ops->flr)
			ops->flr(arg);
	}
	return 0;
}

/**
 * pci_cfg_function_reset() - return software-writable state to its values
 * after init, except Max_Payload_Size and the link controls.
 */
void pci_cfg_function_reset(struct pci_cfg *c)
{
	uint16_t devctl = 0, lnkctl = 0, lnkctl2 = 0;
	unsigned exp = c->pcie_cap;

	if (exp) {
		devctl = cfg16(c, exp + EXP_DEVCTL);
		lnkctl = cfg16(c, exp + EXP_LNKCTL);
		lnkctl2 = cfg16(c, exp + EXP_LNKCTL2);
	}
	for (size_t i = 0; i < PCI_CFG_SIZE; i++) {
		uint8_t m = c->wmask[i] | c->w1cmask[i];
		c->data[i] = (uint8_t)((c->data[i] & ~m) | (c->init_data[i] & m));
	}
	if (c->vpd_cap)
		put32(&c->data[c->vpd_cap + VPD_DATA], 0);
	if (exp) {
		uint16_t v = cfg16(c, exp + EXP_DEVCTL);
		put16(&c->data[exp + EXP_DEVCTL],
		      (uint16_t)((v & ~DEVCTL_MPS) | (devctl & DEVCTL_MPS)));
		put16(&c->data[exp + EXP_LNKCTL], lnkctl);
		put16(&c->data[exp + EXP_LNKCTL2], lnkctl2);
	}
}

/**
 * pci_cfg_set_status() - set the RW1C Status error bits among bits.
 */
void pci_cfg_set_status(struct pci_cfg *c, uint16_t bits)
{
	uint16_t w1c = get16(&c->w1cmask[HDR_STATUS]);

	put16(&c->data[HDR_STATUS], (uint16_t)(cfg16(c, HDR_STATUS) | (bits & w1c)));
}

/* ---- state queries ---- */

/** pci_cfg_msix_enabled() - MSI-X Enable bit. */
bool pci_cfg_msix_enabled(const struct pci_cfg *c)
{
	return c->msix_cap && (cfg16(c, c->msix_cap + MSIX_CTL) & MSIX_CTL_ENABLE);
}

/** pci_cfg_msix_function_masked() - MSI-X Function Mask bit. */
bool pci_cfg_msix_function_masked(const struct pci_cfg *c)
{
	return c->msix_cap && (cfg16(c, c->msix_cap + MSIX_CTL) & MSIX_CTL_MASKALL);
}

/** pci_cfg_command() - the Command register. */
uint16_t pci_cfg_command(const struct pci_cfg *c)
{
	return cfg16(c, HDR_COMMAND);
}

/** pci_cfg_num_vfs() - SR-IOV NumVFs (0 without SR-IOV). */
uint16_t pci_cfg_num_vfs(const struct pci_cfg *c)
{
	return c->sriov_cap ? cfg16(c, c->sriov_cap + SRIOV_NUM_VFS) : 0;
}

/** pci_cfg_vf_enabled() - SR-IOV VF Enable bit. */
bool pci_cfg_vf_enabled(const struct pci_cfg *c)
{
	return c->sriov_cap && (cfg16(c, c->sriov_cap + SRIOV_CTL) & SRIOV_CTL_VFE);
}

/** pci_cfg_power_state() - PMCSR PowerState (0 = D0, 3 = D3hot). */
int pci_cfg_power_state(const struct pci_cfg *c)
{
	return c->pm_cap ? (int)(cfg16(c, c->pm_cap + PM_CSR) & PMCSR_STATE) : PM_D0;
}

/** pci_cfg_bar_address() - base address programmed into a BAR. */
uint64_t pci_cfg_bar_address(const struct pci_cfg *c, int bar)
{
	unsigned off;
	uint32_t lo;
	uint64_t addr;

	if (bar < 0 || bar >= PCI_NUM_BARS || !c->bar_size[bar])
		return 0;
	off = HDR_BAR0 + 4u * (unsigned)bar;
	lo = cfg32(c, off);
	addr = lo & ~BAR_FLAGS;
	if (lo & BAR_TYPE_64)
		addr |= (uint64_t)cfg32(c, off + 4) << 32;
	return addr;
}

/* ---- capability walks ---- */

/** pci_cfg_find_cap() - offset of standard capability id, 0 if absent. */
uint16_t pci_cfg_find_cap(const struct pci_cfg *c, uint8_t id)
{
	unsigned pos;

	if (!(cfg16(c, HDR_STATUS) & STS_CAP_LIST))
		return 0;
	pos = c->data[HDR_CAP_PTR] & ~3u;
	/* at most 48 capabilities fit in 0x40..0xff: bounds a looping list */
	for (int n = 0; n < 48 && pos >= HDR_END; n++) {
		if (c->data[pos] == id)
			return (uint16_t)pos;
		pos = c->data[pos + 1] & ~3u;
	}
	return 0;
}

/** pci_cfg_find_ext_cap() - offset of extended capability id, 0 if absent. */
uint16_t pci_cfg_find_ext_cap(const struct pci_cfg *c, uint16_t id)
{
	unsigned pos = EXT_CAP_BASE;

	for (int n = 0; n < (PCI_CFG_SIZE - EXT_CAP_BASE) / 4 && pos >= EXT_CAP_BASE; n++) {
		uint32_t hdr = cfg32(c, pos);
		if (!hdr || hdr == 0xffffffffu)
			return 0;
		if ((hdr & 0xffff) == id)
			return (uint16_t)pos;
		pos = (hdr >> 20) & ~3u;
	}
	return 0;
}

/* ---- VPD image ---- */

/* Append one VPD-R keyword (2 characters, length byte, data). */
static size_t vpd_keyword(uint8_t *out, size_t at, const char *kw, const void *val, size_t len)
{
	out[at] = (uint8_t)kw[0];
	out[at + 1] = (uint8_t)kw[1];
	out[at + 2] = (uint8_t)len;
	memcpy(&out[at + 3], val, len);
	return at + 3 + len;
}

/* Append a large resource tag header (tag, 16-bit length). */
static size_t vpd_large_tag(uint8_t *out, size_t at, uint8_t tag, size_t len)
{
	out[at] = tag;
	put16(&out[at + 1], (uint16_t)len);
	return at + 3;
}

/**
 * pci_vpd_build() - encode identifier string, VPD-R (SN, VU, RV checksum)
 * and end tag into out. Returns the length, -ENOSPC or -EINVAL.
 */
int pci_vpd_build(uint8_t *out, size_t cap, const char *product, const char *serial,
		  const char *vuid)
{
	size_t plen, slen, vlen, rlen, total, at;
	uint8_t sum = 0, zero = 0;

	product = product ? product : "";
	serial = serial ? serial : "";
	vuid = vuid ? vuid : "";
	plen = strlen(product);
	slen = strlen(serial);
	vlen = strlen(vuid);
	if (plen > 0xffff || slen > 0xff || vlen > 0xff)
		return -EINVAL;
	rlen = (3 + slen) + (3 + vlen) + (3 + 1);
	total = 3 + plen + 3 + rlen + 1;
	if (!out || total > cap)
		return -ENOSPC;

	at = vpd_large_tag(out, 0, VPD_TAG_ID_STRING, plen);
	memcpy(&out[at], product, plen);
	at = vpd_large_tag(out, at + plen, VPD_TAG_RO, rlen);
	at = vpd_keyword(out, at, "SN", serial, slen);
	at = vpd_keyword(out, at, "VU", vuid, vlen);
	at = vpd_keyword(out, at, "RV", &zero, 1);
	for (size_t i = 0; i < at - 1; i++)
		sum = (uint8_t)(sum + out[i]);
	out[at - 1] = (uint8_t)-sum;	/* bytes 0..checksum add up to 0 */
	out[at] = VPD_TAG_END;
	return (int)(at + 1);
}
