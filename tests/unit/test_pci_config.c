/* PCI configuration space of an emulated function (src/emu/pci_config.c). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "emu/pci_config.h"

#define KIB 1024ull
#define GIB (1024ull * 1024 * 1024)

#define VUID "MT2334XZ0Z5GVVBLKS1D0F0"

/* ---- helpers ---- */

struct calls {
	int msix, flr, sriov, command, power;
	bool msix_enabled, msix_masked;
	bool vf_enable;
	uint16_t num_vfs, cmd;
	int state;
};

static void cb_msix(void *arg, bool enabled, bool masked)
{
	struct calls *k = arg;
	k->msix++;
	k->msix_enabled = enabled;
	k->msix_masked = masked;
}

static void cb_flr(void *arg)
{
	((struct calls *)arg)->flr++;
}

static void cb_sriov(void *arg, bool vf_enable, uint16_t num_vfs)
{
	struct calls *k = arg;
	k->sriov++;
	k->vf_enable = vf_enable;
	k->num_vfs = num_vfs;
}

static void cb_command(void *arg, uint16_t command)
{
	struct calls *k = arg;
	k->command++;
	k->cmd = command;
}

static void cb_power(void *arg, int state)
{
	struct calls *k = arg;
	k->power++;
	k->state = state;
}

static const struct pci_cfg_ops ops = {
	.msix_control = cb_msix,
	.flr = cb_flr,
	.sriov_control = cb_sriov,
	.command = cb_command,
	.power_state = cb_power,
};

static uint32_t rd(struct pci_cfg *c, uint32_t off, size_t len)
{
	uint8_t b[4] = { 0 };
	assert_int_equal(pci_cfg_read(c, off, b, len), 0);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(struct pci_cfg *c, uint32_t off, size_t len, uint32_t v, struct calls *k)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };
	assert_int_equal(pci_cfg_write(c, off, b, len, &ops, k), 0);
}

/* NVMe PF: BAR0 64-bit 16 KiB (registers, MSI-X table and PBA), BAR2
 * 32-bit prefetchable 8 KiB, BAR3 64-bit 8 GiB, VPD, 4 VFs. */
static void nvme_desc(struct pci_cfg_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->vendor_id = 0x15b3;
	d->device_id = 0x6001;
	d->subsys_vendor_id = 0x15b3;
	d->subsys_id = 0x0051;
	d->revision = 0;
	d->class_code = 0x010802;
	d->bar_size[0] = 16 * KIB;
	d->bar_64[0] = true;
	d->bar_size[2] = 8 * KIB;
	d->bar_prefetch[2] = true;
	d->bar_size[3] = 8 * GIB;
	d->bar_64[3] = true;
	d->bar_prefetch[3] = true;
	d->msix_vectors = 32;
	d->msix_table_bar = 0;
	d->msix_table_offset = 0x2000;
	d->msix_pba_bar = 0;
	d->msix_pba_offset = 0x3000;
	int n = pci_vpd_build(d->vpd, sizeof(d->vpd), "osnap NVMe", "SN0001", VUID);
	assert_true(n > 0);
	d->vpd_len = (uint16_t)n;
	d->total_vfs = 4;
	d->vf_device_id = 0x6002;
	d->vf_offset = 1;
	d->vf_stride = 1;
	d->vf_bar_size[0] = 16 * KIB;
}

static void virtio_cap(struct pci_vendor_cap *v, uint8_t type, uint32_t off, uint32_t len,
		       bool notify)
{
	memset(v, 0, sizeof(*v));
	v->len = notify ? 18 : 14;
	v->data[0] = (uint8_t)(v->len + 2);	/* cap_len */
	v->data[1] = type;			/* cfg_type */
	v->data[2] = 4;				/* bar */
	memcpy(&v->data[6], &off, 4);		/* (little-endian host) */
	memcpy(&v->data[10], &len, 4);
	if (notify)
		v->data[14] = 4;		/* notify_off_multiplier */
}

/* virtio-blk (modern) PF: BAR4 64-bit prefetchable 16 KiB, five virtio
 * vendor caps, no VPD, no SR-IOV. */
static void virtio_desc(struct pci_cfg_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->vendor_id = 0x1af4;
	d->device_id = 0x1042;
	d->subsys_vendor_id = 0x1af4;
	d->subsys_id = 0x0002;
	d->revision = 1;
	d->class_code = 0x018000;
	d->bar_size[4] = 16 * KIB;
	d->bar_64[4] = true;
	d->bar_prefetch[4] = true;
	d->msix_vectors = 9;
	d->msix_table_bar = 4;
	d->msix_table_offset = 0x3000;
	d->msix_pba_bar = 4;
	d->msix_pba_offset = 0x3800;
	virtio_cap(&d->vendor_caps[0], 1, 0x0000, 0x1000, false);
	virtio_cap(&d->vendor_caps[1], 3, 0x1000, 0x1000, false);
	virtio_cap(&d->vendor_caps[2], 4, 0x2000, 0x1000, false);
	virtio_cap(&d->vendor_caps[3], 2, 0x2800, 0x0800, true);
	virtio_cap(&d->vendor_caps[4], 5, 0, 0, false);
	d->num_vendor_caps = 5;
}

static struct pci_cfg *new_cfg(void (*fill)(struct pci_cfg_desc *))
{
	struct pci_cfg_desc d;
	struct pci_cfg *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	fill(&d);
	assert_int_equal(pci_cfg_init(c, &d), 0);
	return c;
}

/* ---- tests ---- */

static void test_header_fields(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	assert_int_equal(rd(c, 0x00, 2), 0x15b3);
	assert_int_equal(rd(c, 0x02, 2), 0x6001);
	assert_int_equal(rd(c, 0x04, 2), 0);
	assert_int_equal(rd(c, 0x06, 2), 0x0010);	/* capabilities list */
	assert_int_equal(rd(c, 0x08, 4), 0x01080200);	/* class 010802, rev 0 */
	assert_int_equal(rd(c, 0x0e, 1), 0);		/* type 0 header */
	assert_int_equal(rd(c, 0x2c, 4), 0x005115b3);
	assert_int_equal(rd(c, 0x30, 4), 0);		/* no expansion ROM */
	assert_int_equal(rd(c, 0x34, 1), 0x40);
	assert_int_equal(rd(c, 0x3d, 1), 0);		/* no INTx */
	free(c);

	c = new_cfg(virtio_desc);
	assert_int_equal(rd(c, 0x00, 4), 0x10421af4);
	assert_int_equal(rd(c, 0x08, 4), 0x01800001);	/* class 018000, rev 1 */
	assert_int_equal(rd(c, 0x2c, 4), 0x00021af4);
	assert_int_equal(rd(c, 0x3d, 1), 0);
	free(c);
}

static void test_ro_bits(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };
	uint8_t ones[0x40];

	memset(ones, 0xff, sizeof(ones));
	assert_int_equal(pci_cfg_write(c, 0, ones, sizeof(ones), &ops, &k), 0);
	assert_int_equal(rd(c, 0x00, 4), 0x600115b3);
	assert_int_equal(rd(c, 0x04, 2), 0x0506);	/* MSE, BME, SERR, INTx disable */
	assert_int_equal(rd(c, 0x06, 2), 0x0010);
	assert_int_equal(rd(c, 0x08, 4), 0x01080200);
	assert_int_equal(rd(c, 0x0c, 1), 0xff);		/* cache line size: RW */
	assert_int_equal(rd(c, 0x0d, 3), 0);		/* latency, header type, BIST */
	assert_int_equal(rd(c, 0x2c, 4), 0x005115b3);
	assert_int_equal(rd(c, 0x30, 4), 0);
	assert_int_equal(rd(c, 0x34, 1), 0x40);
	assert_int_equal(rd(c, 0x3c, 1), 0xff);		/* interrupt line: RW */
	assert_int_equal(rd(c, 0x3d, 3), 0);
	assert_int_equal(k.command, 1);
	assert_int_equal(k.cmd, 0x0506);

	wr(c, 0x04, 2, 0x0001, &k);			/* I/O space: no I/O BARs */
	assert_int_equal(rd(c, 0x04, 2), 0);
	assert_int_equal(k.command, 2);
	free(c);
}

static void test_status_rw1c(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };

	pci_cfg_set_status(c, 0x2000 | 0x0100 | 0x0008);	/* 0x0008 is not RW1C */
	assert_int_equal(rd(c, 0x06, 2), 0x2110);
	wr(c, 0x06, 2, 0x0000, &k);
	assert_int_equal(rd(c, 0x06, 2), 0x2110);
	wr(c, 0x06, 2, 0x2000, &k);
	assert_int_equal(rd(c, 0x06, 2), 0x0110);
	pci_cfg_set_status(c, 0xf900);
	wr(c, 0x07, 1, 0x01, &k);			/* byte access to the high half */
	assert_int_equal(rd(c, 0x06, 2), 0xf810);
	wr(c, 0x06, 2, 0xffff, &k);
	assert_int_equal(rd(c, 0x06, 2), 0x0010);
	free(c);
}

static void test_bar_sizing(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };

	/* flag bits: BAR0 64-bit, BAR2 32-bit prefetchable, BAR3 64-bit prefetchable */
	assert_int_equal(rd(c, 0x10, 4), 0x4);
	assert_int_equal(rd(c, 0x18, 4), 0x8);
	assert_int_equal(rd(c, 0x1c, 4), 0xc);

	for (uint32_t off = 0x10; off < 0x28; off += 4)
		wr(c, off, 4, 0xffffffff, &k);
	assert_int_equal(rd(c, 0x10, 4), 0xffffc004);	/* 16 KiB, 64-bit */
	assert_int_equal(rd(c, 0x14, 4), 0xffffffff);
	assert_int_equal(rd(c, 0x18, 4), 0xffffe008);	/* 8 KiB, 32-bit, prefetch */
	assert_int_equal(rd(c, 0x1c, 4), 0x0000000c);	/* 8 GiB: no low address bits */
	assert_int_equal(rd(c, 0x20, 4), 0xfffffffe);
	assert_int_equal(rd(c, 0x24, 4), 0);		/* BAR5 absent */

	wr(c, 0x10, 4, 0xfebf0000, &k);			/* restore addresses */
	wr(c, 0x14, 4, 0x00000001, &k);
	wr(c, 0x18, 4, 0xfebe2000, &k);
	wr(c, 0x1c, 4, 0x12345678, &k);
	wr(c, 0x20, 4, 0x00000004, &k);
	assert_int_equal(rd(c, 0x10, 4), 0xfebf0004);
	assert_true(pci_cfg_bar_address(c, 0) == 0x1febf0000ull);
	assert_true(pci_cfg_bar_address(c, 2) == 0xfebe2000ull);
	assert_true(pci_cfg_bar_address(c, 3) == 0x400000000ull);
	assert_true(pci_cfg_bar_address(c, 1) == 0);	/* upper half */
	assert_true(pci_cfg_bar_address(c, 6) == 0);
	wr(c, 0x10, 4, 0xfebf1234, &k);			/* bits below the size are RO */
	assert_int_equal(rd(c, 0x10, 4), 0xfebf0004);
	assert_int_equal(k.command, 0);
	free(c);

	c = new_cfg(virtio_desc);
	wr(c, 0x20, 4, 0xffffffff, &k);
	wr(c, 0x24, 4, 0xffffffff, &k);
	assert_int_equal(rd(c, 0x20, 4), 0xffffc00c);	/* BAR4 64-bit prefetch */
	assert_int_equal(rd(c, 0x24, 4), 0xffffffff);
	wr(c, 0x10, 4, 0xffffffff, &k);
	assert_int_equal(rd(c, 0x10, 4), 0);		/* BAR0 absent */
	free(c);
}

/* Walk the list from 0x34; returns the number of caps, ids in ids[]. */
static int walk(struct pci_cfg *c, uint8_t *ids, uint16_t *offs, int max)
{
	int n = 0;
	uint32_t pos = rd(c, 0x34, 1);
	while (pos && n < max) {
		assert_true(pos >= 0x40 && pos <= 0xfc && !(pos & 3));
		ids[n] = (uint8_t)rd(c, pos, 1);
		offs[n++] = (uint16_t)pos;
		pos = rd(c, pos + 1, 1);
	}
	assert_int_equal(pos, 0);
	return n;
}

static void test_cap_chain(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(virtio_desc);
	struct pci_cfg_desc d;
	struct calls k = { 0 };
	uint8_t ids[16];
	uint16_t offs[16];
	static const uint8_t want[] = { 0x01, 0x11, 0x10, 0x09, 0x09, 0x09, 0x09, 0x09 };

	virtio_desc(&d);
	int n = walk(c, ids, offs, 16);
	assert_int_equal(n, sizeof(want));
	assert_memory_equal(ids, want, sizeof(want));
	assert_int_equal(pci_cfg_find_cap(c, 0x01), offs[0]);
	assert_int_equal(pci_cfg_find_cap(c, 0x11), offs[1]);
	assert_int_equal(pci_cfg_find_cap(c, 0x10), offs[2]);
	assert_int_equal(pci_cfg_find_cap(c, 0x03), 0);	/* no VPD */
	assert_int_equal(pci_cfg_find_cap(c, 0x05), 0);	/* no MSI */
	for (int i = 0; i < 5; i++) {
		uint8_t got[32];
		assert_int_equal(pci_cfg_read(c, offs[3 + i] + 2, got, d.vendor_caps[i].len), 0);
		assert_memory_equal(got, d.vendor_caps[i].data, d.vendor_caps[i].len);
		assert_int_equal(got[0], d.vendor_caps[i].len + 2);
		/* all RO */
		uint8_t ones[32];
		memset(ones, 0xff, sizeof(ones));
		assert_int_equal(pci_cfg_write(c, offs[3 + i], ones, d.vendor_caps[i].len + 2u,
					       &ops, &k), 0);
		assert_int_equal(pci_cfg_read(c, offs[3 + i] + 2, got, d.vendor_caps[i].len), 0);
		assert_memory_equal(got, d.vendor_caps[i].data, d.vendor_caps[i].len);
	}
	/* no extended capabilities: zero header at 0x100 */
	assert_int_equal(rd(c, 0x100, 4), 0);
	assert_int_equal(pci_cfg_find_ext_cap(c, 0x0010), 0);
	free(c);

	c = new_cfg(nvme_desc);
	static const uint8_t want_nvme[] = { 0x01, 0x11, 0x10, 0x03 };
	n = walk(c, ids, offs, 16);
	assert_int_equal(n, sizeof(want_nvme));
	assert_memory_equal(ids, want_nvme, sizeof(want_nvme));
	assert_int_equal(offs[0], 0x40);
	assert_int_equal(offs[1], 0x48);
	assert_int_equal(offs[2], 0x54);
	assert_int_equal(offs[3], 0x90);
	assert_int_equal(rd(c, 0x100, 4), 0x00010010);	/* SR-IOV v1, last */
	assert_int_equal(pci_cfg_find_ext_cap(c, 0x0010), 0x100);
	/* PCIe capability: v2 endpoint, FLR, MPS 128, link values */
	uint16_t e = pci_cfg_find_cap(c, 0x10);
	assert_int_equal(rd(c, e + 2, 2), 0x0002);
	assert_int_equal(rd(c, e + 4, 4) & (1u << 28), 1u << 28);
	assert_int_equal(rd(c, e + 4, 4) & 7, 0);
	assert_int_equal(rd(c, e + 0x0c, 4) & 0x3ff, 0x43);	/* 8 GT/s x4 */
	assert_int_equal(rd(c, e + 0x12, 2) & 0x3ff, 0x43);
	/* PM: version 3, D0, No_Soft_Reset */
	assert_int_equal(rd(c, 0x42, 2), 0x0003);
	assert_int_equal(rd(c, 0x44, 2), 0x0008);
	free(c);
}

static void test_msix(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };
	uint16_t m = pci_cfg_find_cap(c, 0x11);

	assert_int_equal(c->msix_cap, m);
	assert_int_equal(rd(c, m + 2, 2), 31);		/* table size N-1 */
	assert_int_equal(rd(c, m + 4, 4), 0x2000);	/* offset 0x2000, BIR 0 */
	assert_int_equal(rd(c, m + 8, 4), 0x3000);
	assert_false(pci_cfg_msix_enabled(c));

	wr(c, m + 2, 2, 0x8000 | 0x07ff, &k);		/* enable; size is RO */
	assert_int_equal(rd(c, m + 2, 2), 0x8000 | 31);
	assert_int_equal(k.msix, 1);
	assert_true(k.msix_enabled);
	assert_false(k.msix_masked);
	assert_true(pci_cfg_msix_enabled(c));

	wr(c, m + 2, 2, 0x8000, &k);			/* no change: no callback */
	assert_int_equal(k.msix, 1);
	wr(c, m + 3, 1, 0xc0, &k);			/* function mask by byte */
	assert_int_equal(k.msix, 2);
	assert_true(k.msix_masked);
	assert_true(pci_cfg_msix_function_masked(c));
	wr(c, m + 2, 2, 0x0000, &k);
	assert_int_equal(k.msix, 3);
	assert_false(k.msix_enabled);
	assert_false(k.msix_masked);

	wr(c, m + 4, 4, 0xffffffff, &k);		/* table/PBA RO */
	wr(c, m + 8, 4, 0xffffffff, &k);
	assert_int_equal(rd(c, m + 4, 4), 0x2000);
	assert_int_equal(rd(c, m + 8, 4), 0x3000);
	free(c);
}

static void test_flr(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };
	uint16_t e = pci_cfg_find_cap(c, 0x10);
	uint16_t m = pci_cfg_find_cap(c, 0x11);
	uint16_t devctl0 = (uint16_t)rd(c, e + 8, 2);

	wr(c, 0x04, 2, 0x0006, &k);
	wr(c, m + 2, 2, 0x8000, &k);
	wr(c, 0x10, 4, 0xfebf0000, &k);
	wr(c, e + 8, 2, devctl0 | 0x0020, &k);		/* MPS 256: kept by FLR */
	assert_int_equal(k.flr, 0);

	wr(c, e + 8, 2, devctl0 | 0x0020 | 0x8000, &k);
	assert_int_equal(k.flr, 1);
	assert_int_equal(rd(c, e + 8, 2), devctl0 | 0x0020);	/* FLR bit reads 0 */
	assert_int_equal(pci_cfg_command(c), 0);		/* function was reset */
	assert_false(pci_cfg_msix_enabled(c));
	assert_int_equal(rd(c, 0x10, 4), 0x4);

	wr(c, e + 9, 1, 0x80, &k);				/* byte write of 1 */
	assert_int_equal(k.flr, 2);
	assert_int_equal(rd(c, e + 9, 1) & 0x80, 0);
	wr(c, e + 8, 2, devctl0, &k);				/* 0: nothing */
	assert_int_equal(k.flr, 2);

	/* DevSta error bits are RW1C */
	c->data[e + 0x0a] = 0x05;
	wr(c, e + 0x0a, 2, 0x0004, &k);
	assert_int_equal(rd(c, e + 0x0a, 2), 0x0001);
	free(c);
}

static void test_power_state(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };
	uint16_t p = pci_cfg_find_cap(c, 0x01);

	wr(c, p + 4, 2, 0x0003, &k);
	assert_int_equal(k.power, 1);
	assert_int_equal(k.state, 3);
	assert_int_equal(pci_cfg_power_state(c), 3);
	assert_int_equal(rd(c, p + 4, 2), 0x000b);
	wr(c, p + 4, 2, 0x0001, &k);				/* D1: unsupported */
	assert_int_equal(k.power, 1);
	assert_int_equal(pci_cfg_power_state(c), 3);
	wr(c, p + 4, 2, 0xfffc, &k);				/* D0, other bits RO */
	assert_int_equal(k.power, 2);
	assert_int_equal(k.state, 0);
	assert_int_equal(rd(c, p + 4, 2), 0x0008);
	free(c);
}

static void test_command_callback(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(virtio_desc);
	struct calls k = { 0 };

	wr(c, 0x04, 2, 0x0100, &k);				/* SERR only: not watched */
	assert_int_equal(k.command, 0);
	wr(c, 0x04, 2, 0x0106, &k);
	assert_int_equal(k.command, 1);
	assert_int_equal(k.cmd, 0x0106);
	wr(c, 0x04, 1, 0x02, &k);				/* bus master off */
	assert_int_equal(k.command, 2);
	assert_int_equal(pci_cfg_command(c), 0x0102);
	free(c);
}

/* Read the VPD through the capability's address/data registers. */
static void vpd_read(struct pci_cfg *c, uint16_t v, uint32_t addr, uint8_t *out)
{
	struct calls k = { 0 };
	wr(c, v + 2, 2, addr, &k);
	uint32_t a = rd(c, v + 2, 2);
	assert_int_equal(a, addr | 0x8000);			/* F set: data ready */
	uint32_t d = rd(c, v + 4, 4);
	memcpy(out, &d, 4);					/* little-endian host */
}

static void test_vpd(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };
	uint16_t v = pci_cfg_find_cap(c, 0x03);
	uint8_t img[PCI_VPD_MAX + 8];
	int len = pci_vpd_build(img, sizeof(img), "osnap NVMe", "SN0001", VUID);
	uint8_t got[PCI_VPD_MAX + 8];

	assert_true(len > 0 && len <= PCI_VPD_MAX);
	for (int a = 0; a < len; a += 4)
		vpd_read(c, v, (uint32_t)a, &got[a]);
	assert_memory_equal(got, img, (size_t)len);
	for (int a = len; a < ((len + 3) & ~3); a++)
		assert_int_equal(got[a], 0);			/* past the image: 0 */

	/* parse: identifier string, VPD-R with SN, VU, RV; end tag */
	assert_int_equal(got[0], 0x82);
	int plen = got[1] | got[2] << 8;
	assert_memory_equal(&got[3], "osnap NVMe", (size_t)plen);
	int r = 3 + plen;
	assert_int_equal(got[r], 0x90);
	int rlen = got[r + 1] | got[r + 2] << 8;
	int p = r + 3;
	bool vu = false, sn = false, rv = false;
	while (p < r + 3 + rlen) {
		int kl = got[p + 2];
		if (!memcmp(&got[p], "VU", 2)) {
			assert_int_equal(kl, strlen(VUID));
			assert_memory_equal(&got[p + 3], VUID, strlen(VUID));
			vu = true;
		} else if (!memcmp(&got[p], "SN", 2)) {
			assert_memory_equal(&got[p + 3], "SN0001", 6);
			sn = true;
		} else if (!memcmp(&got[p], "RV", 2)) {
			uint8_t sum = 0;
			for (int i = 0; i <= p + 3; i++)
				sum = (uint8_t)(sum + got[i]);
			assert_int_equal(sum, 0);
			rv = true;
		}
		p += 3 + kl;
	}
	assert_int_equal(p, r + 3 + rlen);
	assert_true(vu && sn && rv);
	assert_int_equal(got[p], 0x78);
	assert_int_equal(p + 1, len);

	/* beyond the image and beyond PCI_VPD_MAX: zeroes */
	vpd_read(c, v, 0x7ffc, got);
	assert_int_equal(got[0] | got[1] | got[2] | got[3], 0);
	/* a write with F=1 (VPD write) is ignored; so is the data register */
	vpd_read(c, v, 0, got);
	wr(c, v + 4, 4, 0xdeadbeef, &k);
	wr(c, v + 2, 2, 0x8010, &k);
	assert_int_equal(rd(c, v + 2, 2), 0x8000);
	assert_memory_equal(got, img, 4);
	uint32_t d = rd(c, v + 4, 4);
	assert_memory_equal(&d, img, 4);
	/* unaligned address */
	vpd_read(c, v, 3, got);
	assert_memory_equal(got, &img[3], 4);
	free(c);
}

static void test_vpd_build_errors(void **state)
{
	(void)state;
	uint8_t buf[512];
	char big[300];

	assert_int_equal(pci_vpd_build(buf, 10, "product", "sn", "vu"), -ENOSPC);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	assert_int_equal(pci_vpd_build(buf, sizeof(buf), "p", big, "vu"), -EINVAL);
	assert_int_equal(pci_vpd_build(buf, sizeof(buf), "p", "sn", big), -EINVAL);
	int n = pci_vpd_build(buf, sizeof(buf), NULL, NULL, NULL);
	assert_int_equal(n, 3 + 3 + 3 + 3 + 4 + 1);
	int exact = pci_vpd_build(buf, (size_t)n, "", "", "");
	assert_int_equal(exact, n);
	assert_int_equal(pci_vpd_build(buf, (size_t)n - 1, "", "", ""), -ENOSPC);
}

static void test_sriov(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };
	const uint32_t s = 0x100;

	assert_int_equal(c->sriov_cap, s);
	assert_int_equal(rd(c, s + 0x0c, 2), 4);		/* InitialVFs */
	assert_int_equal(rd(c, s + 0x0e, 2), 4);		/* TotalVFs */
	assert_int_equal(rd(c, s + 0x10, 2), 0);		/* NumVFs */
	assert_int_equal(rd(c, s + 0x14, 4), 0x00010001);	/* offset 1, stride 1 */
	assert_int_equal(rd(c, s + 0x1a, 2), 0x6002);
	assert_int_equal(rd(c, s + 0x1c, 4), 1);		/* supported: 4 KiB */
	assert_int_equal(rd(c, s + 0x20, 4), 1);

	wr(c, s + 0x0c, 4, 0xffffffff, &k);			/* Initial/TotalVFs RO */
	assert_int_equal(rd(c, s + 0x0c, 4), 0x00040004);
	wr(c, s + 0x10, 2, 3, &k);
	assert_int_equal(k.sriov, 1);
	assert_false(k.vf_enable);
	assert_int_equal(k.num_vfs, 3);
	wr(c, s + 0x10, 2, 5, &k);				/* > TotalVFs: kept */
	assert_int_equal(pci_cfg_num_vfs(c), 3);
	assert_int_equal(k.sriov, 1);
	wr(c, s + 0x10, 2, 4, &k);
	assert_int_equal(pci_cfg_num_vfs(c), 4);
	assert_int_equal(k.sriov, 2);

	wr(c, s + 0x08, 2, 0x0001, &k);				/* VF Enable */
	assert_int_equal(k.sriov, 3);
	assert_true(k.vf_enable);
	assert_int_equal(k.num_vfs, 4);
	assert_true(pci_cfg_vf_enabled(c));
	wr(c, s + 0x10, 2, 1, &k);				/* while enabled: kept */
	assert_int_equal(pci_cfg_num_vfs(c), 4);
	assert_int_equal(k.sriov, 3);
	wr(c, s + 0x08, 2, 0x0009, &k);				/* VF MSE: not watched */
	assert_int_equal(k.sriov, 3);
	assert_int_equal(rd(c, s + 0x08, 2), 0x0009);
	wr(c, s + 0x08, 2, 0x0006, &k);				/* migration bits RO */
	assert_int_equal(rd(c, s + 0x08, 2), 0);
	assert_int_equal(k.sriov, 4);
	assert_false(k.vf_enable);

	/* one write setting NumVFs and VF Enable together (enable was clear) */
	uint8_t b[10] = { 0x01, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 2, 0 };
	assert_int_equal(pci_cfg_write(c, s + 0x08, b, sizeof(b), &ops, &k), 0);
	assert_int_equal(k.sriov, 5);
	assert_true(k.vf_enable);
	assert_int_equal(k.num_vfs, 2);

	wr(c, s + 0x20, 4, 0x2, &k);				/* unsupported page size */
	assert_int_equal(rd(c, s + 0x20, 4), 1);
	wr(c, s + 0x20, 4, 0x0, &k);
	assert_int_equal(rd(c, s + 0x20, 4), 1);
	wr(c, s + 0x20, 4, 0x1, &k);
	assert_int_equal(rd(c, s + 0x20, 4), 1);
	free(c);
}

static void test_vf_bar_sizing(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };
	const uint32_t s = 0x100;

	assert_int_equal(rd(c, s + 0x24, 4), 0);		/* 32-bit, non-prefetch */
	for (uint32_t i = 0; i < 6; i++)
		wr(c, s + 0x24 + 4 * i, 4, 0xffffffff, &k);
	assert_int_equal(rd(c, s + 0x24, 4), 0xffffc000);
	for (uint32_t i = 1; i < 6; i++)
		assert_int_equal(rd(c, s + 0x24 + 4 * i, 4), 0);
	wr(c, s + 0x24, 4, 0xd0000000, &k);
	assert_int_equal(rd(c, s + 0x24, 4), 0xd0000000);
	wr(c, s + 0x3c, 4, 0xffffffff, &k);			/* migration state: RO */
	assert_int_equal(rd(c, s + 0x3c, 4), 0);
	assert_int_equal(k.sriov, 0);
	free(c);
}

static void test_bad_access(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct pci_cfg *copy = malloc(sizeof(*c));
	struct calls k = { 0 };
	uint8_t b[8] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

	assert_non_null(copy);
	memcpy(copy, c, sizeof(*c));
	assert_int_equal(pci_cfg_read(c, 0, b, 0), -EINVAL);
	assert_int_equal(pci_cfg_read(c, 4096, b, 1), -EINVAL);
	assert_int_equal(pci_cfg_read(c, 4095, b, 2), -EINVAL);
	assert_int_equal(pci_cfg_read(c, 0xffffffff, b, 2), -EINVAL);
	assert_int_equal(pci_cfg_read(c, 8, b, SIZE_MAX), -EINVAL);
	assert_int_equal(pci_cfg_write(c, 4, b, 0, &ops, &k), -EINVAL);
	assert_int_equal(pci_cfg_write(c, 4096, b, 1, &ops, &k), -EINVAL);
	assert_int_equal(pci_cfg_write(c, 4094, b, 4, &ops, &k), -EINVAL);
	assert_int_equal(pci_cfg_write(c, 0xfffffffe, b, 4, &ops, &k), -EINVAL);
	assert_int_equal(pci_cfg_write(c, 4, b, SIZE_MAX, &ops, &k), -EINVAL);
	assert_int_equal(pci_cfg_write(c, 4, NULL, 2, &ops, &k), -EINVAL);
	assert_memory_equal(copy, c, sizeof(*c));
	assert_int_equal(k.command + k.msix + k.flr + k.sriov + k.power, 0);
	assert_int_equal(pci_cfg_read(c, 4095, b, 1), 0);	/* last byte is fine */
	assert_int_equal(pci_cfg_write(c, 4095, b, 1, NULL, NULL), 0);
	free(copy);
	free(c);
}

static void test_unaligned(void **state)
{
	(void)state;
	struct pci_cfg *c = new_cfg(nvme_desc);
	struct calls k = { 0 };
	uint8_t all[PCI_CFG_SIZE];

	assert_int_equal(rd(c, 0x01, 4), 0x00600115);		/* 15 01 60, command lo */
	assert_int_equal(rd(c, 0x03, 2), 0x0060);
	wr(c, 0x05, 2, 0x0004, &k);				/* cmd high byte + status low */
	assert_int_equal(pci_cfg_command(c), 0x0400);
	assert_int_equal(rd(c, 0x06, 2), 0x0010);
	assert_int_equal(k.command, 0);				/* INTx disable not watched */
	wr(c, 0x03, 3, 0x060000, &k);				/* device hi, cmd lo/hi */
	assert_int_equal(rd(c, 0x02, 2), 0x6001);
	assert_int_equal(pci_cfg_command(c), 0x0400);		/* bit 9 of 0x06 is RO */
	wr(c, 0x03, 2, 0x0600, &k);				/* cmd lo = 0x06 */
	assert_int_equal(pci_cfg_command(c), 0x0406);
	assert_int_equal(k.command, 1);
	assert_int_equal(pci_cfg_read(c, 0, all, sizeof(all)), 0);
	assert_memory_equal(all, c->data, sizeof(all));
	/* a 3-byte write straddling the two halves of a 64-bit BAR */
	wr(c, 0x12, 3, 0x56ffff, &k);
	assert_int_equal(rd(c, 0x10, 4), 0xffff0004);
	assert_int_equal(rd(c, 0x14, 1), 0x56);
	free(c);
}

static void test_init_rejects(void **state)
{
	(void)state;
	struct pci_cfg *c = calloc(1, sizeof(*c));
	struct pci_cfg_desc d;

	assert_non_null(c);
	nvme_desc(&d);
	d.bar_size[2] = 3000;
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.bar_size[2] = 2048;					/* < 4 KiB */
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.bar_size[2] = 4 * GIB;				/* 32-bit BAR */
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.bar_size[1] = 4 * KIB;				/* upper half of BAR0 */
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.bar_size[5] = 4 * KIB;
	d.bar_64[5] = true;					/* no slot after 5 */
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.msix_table_offset = 0x3f00;				/* 32 * 16 past 16 KiB */
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.msix_pba_offset = 0x21f8;				/* inside the table */
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.msix_table_offset = 0x2004;				/* not 8-byte aligned */
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.msix_pba_bar = 1;					/* not a BAR */
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.msix_vectors = 2049;
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.class_code = 0x1000000;
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.vpd_len = PCI_VPD_MAX + 1;
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.is_vf = true;						/* a VF with VFs */
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.vf_bar_size[1] = 5000;
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	nvme_desc(&d);
	d.vf_offset = 0;
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	virtio_desc(&d);
	d.num_vendor_caps = PCI_MAX_VENDOR_CAPS + 1;
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	virtio_desc(&d);
	d.vendor_caps[0].len = 33;
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);
	virtio_desc(&d);					/* caps past 0xff */
	d.num_vendor_caps = PCI_MAX_VENDOR_CAPS;
	for (int i = 0; i < PCI_MAX_VENDOR_CAPS; i++)
		d.vendor_caps[i].len = 32;
	assert_int_equal(pci_cfg_init(c, &d), -EINVAL);

	/* a VF without SR-IOV and the largest description that fits */
	nvme_desc(&d);
	d.is_vf = true;
	d.total_vfs = 0;
	assert_int_equal(pci_cfg_init(c, &d), 0);
	assert_int_equal(c->sriov_cap, 0);
	assert_int_equal(rd(c, 0x100, 4), 0);
	assert_int_equal(rd(c, 0x00, 2), 0x15b3);		/* real ids */
	free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_header_fields),
		cmocka_unit_test(test_ro_bits),
		cmocka_unit_test(test_status_rw1c),
		cmocka_unit_test(test_bar_sizing),
		cmocka_unit_test(test_cap_chain),
		cmocka_unit_test(test_msix),
		cmocka_unit_test(test_flr),
		cmocka_unit_test(test_power_state),
		cmocka_unit_test(test_command_callback),
		cmocka_unit_test(test_vpd),
		cmocka_unit_test(test_vpd_build_errors),
		cmocka_unit_test(test_sriov),
		cmocka_unit_test(test_vf_bar_sizing),
		cmocka_unit_test(test_bad_access),
		cmocka_unit_test(test_unaligned),
		cmocka_unit_test(test_init_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
