/* libFuzzer target: PCI configuration space accesses (src/emu/pci_config.c).
 *
 * The first DESC_BYTES input bytes describe a function (BAR sizes and
 * types, MSI-X placement, VPD, vendor capabilities, SR-IOV); descriptions
 * the library rejects must leave the config space untouched. The rest is a
 * sequence of accesses: a control byte (read/write, length code), a 16-bit
 * offset reaching a little past 4 KiB, and up to 8 value bytes.
 *
 * After every access the target checks: accesses inside the space succeed
 * and others fail with -EINVAL changing nothing; bytes with no writable or
 * RW1C bit keep their initial value (only the VPD data register moves);
 * RW1C bits are never set by writes; callbacks report the current state
 * and fire exactly when their watched bits changed; the Initiate FLR bit
 * reads 0; PowerState is D0 or D3hot; NumVFs <= TotalVFs; the VPD data
 * register holds the image bytes at the address once F is set; the
 * capability lists still end. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "emu/pci_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DESC_BYTES 20

static struct pci_cfg cfg, before, scratch;

struct seen {
	int msix, flr, sriov, command, power;
};
static struct seen seen;

static void cb_msix(void *arg, bool enabled, bool masked)
{
	(void)arg;
	seen.msix++;
	assert(enabled == pci_cfg_msix_enabled(&cfg));
	assert(masked == pci_cfg_msix_function_masked(&cfg));
}

static void cb_flr(void *arg)
{
	(void)arg;
	seen.flr++;
	assert(pci_cfg_command(&cfg) == 0);
	assert(!pci_cfg_msix_enabled(&cfg));
	assert(!pci_cfg_vf_enabled(&cfg) && pci_cfg_num_vfs(&cfg) == 0);
	assert(pci_cfg_power_state(&cfg) == 0);
}

static void cb_sriov(void *arg, bool vf_enable, uint16_t num_vfs)
{
	(void)arg;
	seen.sriov++;
	assert(vf_enable == pci_cfg_vf_enabled(&cfg));
	assert(num_vfs == pci_cfg_num_vfs(&cfg));
}

static void cb_command(void *arg, uint16_t command)
{
	(void)arg;
	seen.command++;
	assert(command == pci_cfg_command(&cfg));
}

static void cb_power(void *arg, int state)
{
	(void)arg;
	seen.power++;
	assert(state == pci_cfg_power_state(&cfg));
}

static const struct pci_cfg_ops ops = {
	.msix_control = cb_msix,
	.flr = cb_flr,
	.sriov_control = cb_sriov,
	.command = cb_command,
	.power_state = cb_power,
};

/* BAR size from a nibble: 0 = absent, else 4 KiB << (n - 1), larger for
 * 64-bit BARs with the "big" bit. */
static uint64_t bar_size(uint8_t b)
{
	unsigned n = b & 0xf;
	if (!n)
		return 0;
	return 4096ull << (n - 1 + ((b & 0x40) ? 20 : 0));
}

static void make_desc(const uint8_t *in, struct pci_cfg_desc *d)
{
	memset(d, 0, sizeof(*d));
	d->vendor_id = (uint16_t)(in[16] | in[17] << 8);
	d->device_id = 0x1042;
	d->revision = in[18];
	d->class_code = in[19] & 1 ? 0x010802 : 0x018000;
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		d->bar_size[i] = bar_size(in[1 + i]);
		d->bar_64[i] = in[1 + i] & 0x10;
		d->bar_prefetch[i] = in[1 + i] & 0x20;
	}
	if (in[0] & 0x01) {
		d->msix_vectors = (uint16_t)(1 + ((in[7] | in[8] << 8) % 2100));
		d->msix_table_bar = in[9] & 7;
		d->msix_pba_bar = (in[9] >> 4) & 7;
		d->msix_table_offset = (in[10] & 0x80) ? (uint32_t)in[10] << 5 : 0;
		d->msix_pba_offset = (uint32_t)in[11] << 9;
	}
	if (in[0] & 0x02) {
		int n = pci_vpd_build(d->vpd, sizeof(d->vpd), "osnap fuzz", "SN-FUZZ",
				      "MT0000FUZZVUID0001");
		assert(n > 0);
		d->vpd_len = (uint16_t)n;
	}
	if (in[0] & 0x04) {
		d->total_vfs = in[12];
		d->vf_offset = in[13];
		d->vf_stride = 1;
		d->vf_device_id = 0x1043;
		for (int i = 0; i < PCI_NUM_BARS; i++)
			d->vf_bar_size[i] = (in[14] >> i) & 1 ? 4096ull << (in[15] & 7) : 0;
	}
	d->is_vf = in[0] & 0x08;
	d->num_vendor_caps = (in[0] >> 4) & 7;
	for (int i = 0; i < d->num_vendor_caps; i++) {
		d->vendor_caps[i].len = (uint8_t)((in[19] >> 1) % 33);
		for (int j = 0; j < d->vendor_caps[i].len; j++)
			d->vendor_caps[i].data[j] = (uint8_t)(i * 16 + j);
	}
}

/* Bytes no write may change: no writable or RW1C bit, not VPD data. */
static void check_ro(void)
{
	unsigned vpd_data = cfg.vpd_cap ? cfg.vpd_cap + 4u : PCI_CFG_SIZE;

	for (unsigned i = 0; i < PCI_CFG_SIZE; i++) {
		uint8_t fixed = (uint8_t)~(cfg.wmask[i] | cfg.w1cmask[i]);
		if (i >= vpd_data && i < vpd_data + 4)
			continue;
		assert((cfg.data[i] & fixed) == (cfg.init_data[i] & fixed));
		assert(!(cfg.data[i] & cfg.w1cmask[i]));
	}
}

static uint16_t le16(unsigned off)
{
	return (uint16_t)(cfg.data[off] | cfg.data[off + 1] << 8);
}

static void check_state(void)
{
	uint8_t b;

	check_ro();
	assert(pci_cfg_power_state(&cfg) == 0 || pci_cfg_power_state(&cfg) == 3);
	if (cfg.pcie_cap)
		assert(!(cfg.data[cfg.pcie_cap + 9] & 0x80));
	if (cfg.sriov_cap) {
		assert(pci_cfg_num_vfs(&cfg) <= le16(cfg.sriov_cap + 0x0e));
		assert(le16(cfg.sriov_cap + 0x20) == 1);
	}
	if (cfg.vpd_cap && (le16(cfg.vpd_cap + 2) & 0x8000)) {
		unsigned a = le16(cfg.vpd_cap + 2) & 0x7fff;
		for (unsigned i = 0; i < 4; i++) {
			uint8_t want = a + i < cfg.vpd_len ? cfg.vpd[a + i] : 0;
			assert(cfg.data[cfg.vpd_cap + 4 + i] == want);
		}
	}
	assert(pci_cfg_find_cap(&cfg, 0x10) == cfg.pcie_cap);
	assert(pci_cfg_find_cap(&cfg, 0x11) == cfg.msix_cap);
	assert(pci_cfg_find_ext_cap(&cfg, 0x10) == cfg.sriov_cap);
	assert(pci_cfg_read(&cfg, PCI_CFG_SIZE - 1, &b, 1) == 0);
}

/* Callbacks fire exactly when their watched bits changed (unless an FLR
 * reset the function inside the same write). */
static void check_callbacks(const struct seen *s0)
{
	if (seen.flr != s0->flr)
		return;
	assert((seen.command != s0->command) ==
	       (((pci_cfg_command(&before) ^ pci_cfg_command(&cfg)) & 0x6) != 0));
	assert((seen.msix != s0->msix) ==
	       (pci_cfg_msix_enabled(&before) != pci_cfg_msix_enabled(&cfg) ||
		pci_cfg_msix_function_masked(&before) != pci_cfg_msix_function_masked(&cfg)));
	assert((seen.power != s0->power) ==
	       (pci_cfg_power_state(&before) != pci_cfg_power_state(&cfg)));
	assert((seen.sriov != s0->sriov) ==
	       (pci_cfg_vf_enabled(&before) != pci_cfg_vf_enabled(&cfg) ||
		pci_cfg_num_vfs(&before) != pci_cfg_num_vfs(&cfg)));
}

static size_t op_len(uint8_t code)
{
	static const size_t big[] = { 0, 12, 64, 256, 4096, 4097, SIZE_MAX, 3 };
	code &= 0xf;
	return code < 8 ? code + 1u : big[code - 8];
}

static void do_op(uint8_t ctl, uint32_t off, const uint8_t *val, size_t nval)
{
	static uint8_t buf[PCI_CFG_SIZE + 1];
	size_t len = op_len(ctl);
	bool inside = len && off < PCI_CFG_SIZE && len <= PCI_CFG_SIZE - off;
	size_t fill = len < sizeof(buf) ? len : sizeof(buf);
	struct seen s0 = seen;
	int rc;

	for (size_t i = 0; i < fill; i++)
		buf[i] = nval ? val[i % nval] : (uint8_t)ctl;
	memcpy(&before, &cfg, sizeof(cfg));
	if (ctl & 0x80)
		rc = pci_cfg_write(&cfg, off, buf, len, &ops, NULL);
	else
		rc = pci_cfg_read(&cfg, off, buf, len);
	assert(rc == (inside ? 0 : -EINVAL));
	if (!inside) {
		assert(!memcmp(&before, &cfg, sizeof(cfg)));
		assert(!memcmp(&s0, &seen, sizeof(seen)));
		return;
	}
	if (!(ctl & 0x80)) {
		assert(!memcmp(buf, &cfg.data[off], len));
		return;
	}
	check_callbacks(&s0);
	check_state();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pci_cfg_desc d;

	if (size < DESC_BYTES)
		return 0;
	make_desc(data, &d);
	memset(&scratch, 0xa5, sizeof(scratch));
	if (pci_cfg_init(&scratch, &d)) {
		for (size_t i = 0; i < sizeof(scratch); i++)
			assert(((uint8_t *)&scratch)[i] == 0xa5);
		return 0;
	}
	memcpy(&cfg, &scratch, sizeof(cfg));
	memset(&seen, 0, sizeof(seen));
	check_state();

	data += DESC_BYTES;
	size -= DESC_BYTES;
	while (size >= 3) {
		uint8_t ctl = data[0];
		uint32_t off = (uint32_t)(data[1] | data[2] << 8) % (PCI_CFG_SIZE + 256);
		size_t nval = (ctl & 0x80) ? (size - 3 < 8 ? size - 3 : 8) : 0;
		do_op(ctl, off, data + 3, nval);
		data += 3 + nval;
		size -= 3 + nval;
	}
	return 0;
}
