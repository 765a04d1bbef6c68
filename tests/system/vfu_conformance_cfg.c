/* vfu_conformance: PCI configuration space: IDs, read-only fields, Status, BAR
 * sizing, the capability chain, MSI-X, VPD and SR-IOV capabilities. */
#include "vfu_conformance.h"

void t_cfg_ids(void)
{
	uint16_t vendor, device;
	uint32_t classrev;
	uint8_t htype, pin;
	REQUIRE_RC(vfu_cfg_read16(C, PCI_VENDOR_ID, &vendor));
	REQUIRE_RC(vfu_cfg_read16(C, PCI_DEVICE_ID, &device));
	REQUIRE_RC(vfu_cfg_read32(C, PCI_REVISION, &classrev));
	REQUIRE_RC(vfu_cfg_read8(C, PCI_HEADER_TYPE, &htype));
	REQUIRE_RC(vfu_cfg_read8(C, PCI_INT_PIN, &pin));
	REQUIRE_MSG(vendor != 0 && vendor != 0xffff, "vendor id 0x%04x", vendor);
	REQUIRE_MSG((htype & 0x7f) == 0, "header type 0x%02x, want type 0", htype);
	REQUIRE_MSG(pin == 0, "interrupt pin %u, but the function has no INTx", pin);
	if (opt.want_vid >= 0 || opt.want_did >= 0) {
		REQUIRE_MSG(vendor == opt.want_vid && device == opt.want_did, "ids %04x:%04x, want %04x:%04x", vendor,
			    device, opt.want_vid, opt.want_did);
	} else if (opt.virtio) {
		REQUIRE_MSG(vendor == VIRTIO_VENDOR && device == VIRTIO_BLK_MODERN, "ids %04x:%04x, want 1af4:1042",
		            vendor, device);
	} else {
		REQUIRE_MSG(classrev >> 8 == NVME_CLASS, "class 0x%06x, want 0x010802", classrev >> 8);
	}
out:;
}

/* Walk the standard capability list by hand. */
struct cap_entry {
	uint8_t id;
	uint8_t off;
};

static int walk_caps(struct cap_entry *caps, int max, int *n)
{
	uint8_t seen[256] = { 0 };
	uint16_t status;
	uint8_t ptr;
	int ret = -1;
	*n = 0;
	REQUIRE_RC(vfu_cfg_read16(C, PCI_STATUS, &status));
	REQUIRE_MSG(status & PCI_STATUS_CAP_LIST, "status 0x%04x lacks the capability list bit", status);
	REQUIRE_RC(vfu_cfg_read8(C, PCI_CAP_PTR, &ptr));
	while (ptr) {
		uint8_t hdr[2];
		REQUIRE_MSG(ptr >= PCI_STD_END && !(ptr & 3), "capability pointer 0x%02x", ptr);
		REQUIRE_MSG(!seen[ptr], "capability list loops at 0x%02x", ptr);
		REQUIRE_MSG(*n < max, "more than %d capabilities", max);
		seen[ptr] = 1;
		REQUIRE_RC(vfu_cfg_read(C, ptr, hdr, 2));
		caps[*n].id = hdr[0];
		caps[*n].off = ptr;
		(*n)++;
		ptr = hdr[1];
	}
	ret = 0;
out:
	return ret;
}

void t_cfg_readonly(void)
{
	uint8_t before[PCI_STD_END], after[PCI_STD_END];
	struct cap_entry caps[48];
	int ncaps;
	static const struct { uint32_t off, len; } ro[] = {
		{ PCI_VENDOR_ID, 4 }, { PCI_REVISION, 4 }, { PCI_HEADER_TYPE, 1 },
		{ PCI_SUBSYS_VENDOR, 4 }, { PCI_CAP_PTR, 1 }, { PCI_INT_PIN, 1 },
	};
	uint8_t ones[4] = { 0xff, 0xff, 0xff, 0xff };

	REQUIRE_RC(vfu_cfg_read(C, 0, before, sizeof(before)));
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		REQUIRE_RC(vfu_cfg_write(C, ro[i].off, ones, ro[i].len));
	REQUIRE_RC(vfu_cfg_read(C, 0, after, sizeof(after)));
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		REQUIRE_MSG(!memcmp(before + ro[i].off, after + ro[i].off, ro[i].len),
		            "read-only header bytes at 0x%02x changed after a write of ones", ro[i].off);
	/* capability headers (id, next), MSI-X table/PBA locations, DevCap */
	if (walk_caps(caps, 48, &ncaps))
		goto out;
	for (int i = 0; i < ncaps; i++) {
		uint8_t h0[2], h1[2];
		REQUIRE_RC(vfu_cfg_read(C, caps[i].off, h0, 2));
		REQUIRE_RC(vfu_cfg_write(C, caps[i].off, ones, 2));
		REQUIRE_RC(vfu_cfg_read(C, caps[i].off, h1, 2));
		REQUIRE_MSG(!memcmp(h0, h1, 2), "capability header at 0x%02x changed: %02x %02x -> %02x %02x",
		            caps[i].off, h0[0], h0[1], h1[0], h1[1]);
		uint32_t ro_off[2] = { 0, 0 };
		if (caps[i].id == CAP_MSIX) {
			ro_off[0] = caps[i].off + MSIX_TABLE;
			ro_off[1] = caps[i].off + MSIX_PBA;
		} else if (caps[i].id == CAP_EXP) {
			ro_off[0] = caps[i].off + EXP_DEVCAP;
		}
		for (int k = 0; k < 2 && ro_off[k]; k++) {
			uint32_t a, b;
			REQUIRE_RC(vfu_cfg_read32(C, ro_off[k], &a));
			REQUIRE_RC(vfu_cfg_write32(C, ro_off[k], 0xffffffffu));
			REQUIRE_RC(vfu_cfg_read32(C, ro_off[k], &b));
			REQUIRE_MSG(a == b, "read-only register at 0x%02x changed: 0x%08x -> 0x%08x",
				    ro_off[k], a, b);
		}
	}
	/* the whole header, once more: nothing else moved */
	REQUIRE_RC(vfu_cfg_read(C, 0, after, sizeof(after)));
	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		REQUIRE_MSG(!memcmp(before + ro[i].off, after + ro[i].off, ro[i].len),
		            "read-only header bytes at 0x%02x changed", ro[i].off);
out:;
}

void t_cfg_status(void)
{
	uint16_t before, after;
	REQUIRE_RC(vfu_cfg_read16(C, PCI_STATUS, &before));
	REQUIRE_MSG(before & PCI_STATUS_CAP_LIST, "status 0x%04x lacks the capability list bit", before);
	/* a write of ones clears the RW1C error bits and sets nothing */
	REQUIRE_RC(vfu_cfg_write16(C, PCI_STATUS, 0xffff));
	REQUIRE_RC(vfu_cfg_read16(C, PCI_STATUS, &after));
	REQUIRE_MSG((after & PCI_STATUS_RW1C) == 0, "status 0x%04x -> 0x%04x: writing 1 to RW1C bits set them",
	            before, after);
	REQUIRE_MSG((after & ~PCI_STATUS_RW1C) == (before & ~PCI_STATUS_RW1C),
	            "status 0x%04x -> 0x%04x: read-only bits changed", before, after);
	/* a write of zeroes changes nothing */
	REQUIRE_RC(vfu_cfg_write16(C, PCI_STATUS, 0));
	REQUIRE_RC(vfu_cfg_read16(C, PCI_STATUS, &before));
	REQUIRE_MSG(before == after, "status 0x%04x -> 0x%04x after writing 0", after, before);
out:;
}

void t_cfg_bar_sizing(void)
{
	uint32_t orig[6], rom;
	REQUIRE_RC(load_region_sizes());
	for (int i = 0; i < 6; i++)
		REQUIRE_RC(vfu_cfg_read32(C, PCI_BAR0 + 4u * (uint32_t)i, &orig[i]));
	REQUIRE_RC(vfu_cfg_read32(C, PCI_ROM, &rom));
	for (int i = 0; i < 6; i++) {
		uint32_t off = PCI_BAR0 + 4u * (uint32_t)i, v, hi;
		uint64_t size = region_size[i];
		REQUIRE_RC(vfu_cfg_write32(C, off, 0xffffffffu));
		REQUIRE_RC(vfu_cfg_read32(C, off, &v));
		if (!size) {
			REQUIRE_MSG(v == 0, "absent BAR%d reads 0x%08x after a write of ones", i, v);
			REQUIRE_RC(vfu_cfg_write32(C, off, orig[i]));
			continue;
		}
		REQUIRE_MSG(!(orig[i] & PCI_BAR_IO), "BAR%d is an I/O BAR (0x%08x)", i, orig[i]);
		REQUIRE_MSG((v & PCI_BAR_FLAGS) == (orig[i] & PCI_BAR_FLAGS), "BAR%d flag bits changed: 0x%x -> 0x%x",
		            i, orig[i] & PCI_BAR_FLAGS, v & PCI_BAR_FLAGS);
		REQUIRE_MSG((v & ~PCI_BAR_FLAGS) == ((uint32_t)~(size - 1) & ~PCI_BAR_FLAGS),
		            "BAR%d reads 0x%08x after a write of ones; region size 0x%llx wants mask 0x%08x", i, v,
		            (unsigned long long)size, (uint32_t)~(size - 1) & ~PCI_BAR_FLAGS);
		/* an address keeps only the bits above the size */
		REQUIRE_RC(vfu_cfg_write32(C, off, 0xfedcb000u));
		REQUIRE_RC(vfu_cfg_read32(C, off, &v));
		REQUIRE_MSG((v & ~PCI_BAR_FLAGS) == (0xfedcb000u & (uint32_t)~(size - 1)),
		            "BAR%d programmed 0xfedcb000 reads 0x%08x", i, v);
		REQUIRE_RC(vfu_cfg_write32(C, off, orig[i]));
		if (!opt.virtio && i == 0)
			REQUIRE_MSG(orig[i] & PCI_BAR_64, "NVMe BAR0 must be a 64-bit BAR (0x%08x)", orig[i]);
		if ((orig[i] & 0x6) == PCI_BAR_64) {
			REQUIRE_MSG(i < 5, "BAR5 claims to be the low half of a 64-bit BAR");
			REQUIRE_MSG(region_size[i + 1] == 0,
				    "region %d is the high half of BAR%d but has a size", i + 1, i);
			REQUIRE_RC(vfu_cfg_write32(C, off + 4, 0xffffffffu));
			REQUIRE_RC(vfu_cfg_read32(C, off + 4, &hi));
			REQUIRE_MSG(hi == (uint32_t)(~(size - 1) >> 32),
				    "BAR%d high half reads 0x%08x after ones", i + 1, hi);
			REQUIRE_RC(vfu_cfg_write32(C, off + 4, orig[i + 1]));
			i++;
		}
	}
	/* no expansion ROM */
	REQUIRE_RC(vfu_cfg_write32(C, PCI_ROM, 0xffffffffu));
	{
		uint32_t v;
		REQUIRE_RC(vfu_cfg_read32(C, PCI_ROM, &v));
		REQUIRE_MSG(v == 0, "absent expansion ROM BAR reads 0x%08x after a write of ones", v);
	}
	REQUIRE_RC(vfu_cfg_write32(C, PCI_ROM, rom));
	for (int i = 0; i < 6; i++) {
		uint32_t v;
		REQUIRE_RC(vfu_cfg_read32(C, PCI_BAR0 + 4u * (uint32_t)i, &v));
		REQUIRE_MSG(v == orig[i], "BAR%d not restored: 0x%08x, was 0x%08x", i, v, orig[i]);
	}
out:;
}

void t_cfg_caps(void)
{
	struct cap_entry caps[48];
	int ncaps, count[256] = { 0 }, vtype[8] = { 0 };
	if (walk_caps(caps, 48, &ncaps))
		goto out;
	REQUIRE_RC(load_region_sizes());
	for (int i = 0; i < ncaps; i++) {
		count[caps[i].id]++;
		uint8_t len = 2;
		if (caps[i].id == CAP_VENDOR) {
			uint8_t vc[20];
			REQUIRE_RC(vfu_cfg_read8(C, caps[i].off + 2u, &len));
			REQUIRE_MSG(len >= 16 && caps[i].off + len <= 0x100u,
				    "vendor capability at 0x%02x: cap_len %u", caps[i].off, len);
			REQUIRE_RC(vfu_cfg_read(C, caps[i].off, vc, len < sizeof(vc) ? len : sizeof(vc)));
			uint8_t type = vc[3], bar = vc[4];
			uint32_t off, length;
			memcpy(&off, vc + 8, 4);
			memcpy(&length, vc + 12, 4);
			off = le32toh(off);
			length = le32toh(length);
			if (!opt.virtio)
				continue;
			if (type >= VIRTIO_CAP_COMMON && type <= VIRTIO_CAP_DEVICE) {
				vtype[type]++;
				REQUIRE_MSG(bar == VIRTIO_CAP_BAR,
					    "virtio capability type %u in BAR%u, want BAR4", type, bar);
				REQUIRE_MSG(length > 0 && !(off & 3) && off + (uint64_t)length <= region_size[bar],
					    "virtio capability type %u: 0x%x+0x%x outside BAR%u of 0x%llx bytes",
					    type, off, length, bar, (unsigned long long)region_size[bar]);
				if (type == VIRTIO_CAP_NOTIFY)
					REQUIRE_MSG(len >= 20,
						    "notify capability of %u bytes lacks notify_off_multiplier", len);
				if (type == VIRTIO_CAP_COMMON)
					REQUIRE_MSG(length >= 0x38, "common configuration of %u bytes", length);
			}
		}
	}
	REQUIRE_MSG(count[CAP_PM] == 1, "%d power management capabilities", count[CAP_PM]);
	REQUIRE_MSG(count[CAP_MSIX] == 1, "%d MSI-X capabilities", count[CAP_MSIX]);
	REQUIRE_MSG(count[CAP_EXP] == 1, "%d PCI Express capabilities", count[CAP_EXP]);
	REQUIRE_MSG(count[CAP_VPD] == 1, "%d VPD capabilities", count[CAP_VPD]);
	if (opt.virtio) {
		REQUIRE_MSG(count[CAP_VENDOR] >= 4, "%d vendor (virtio) capabilities, want 4", count[CAP_VENDOR]);
		for (int t = VIRTIO_CAP_COMMON; t <= VIRTIO_CAP_DEVICE; t++)
			REQUIRE_MSG(vtype[t] == 1, "%d virtio capabilities of type %d, want 1", vtype[t], t);
	}
	/* the library's walk agrees */
	for (int i = 0; i < ncaps; i++)
		if (caps[i].id != CAP_VENDOR)
			REQUIRE_MSG(vfu_cfg_find_cap(C, caps[i].id) == caps[i].off,
			            "vfu_cfg_find_cap(0x%02x) = %d, walk found 0x%02x", caps[i].id,
			            vfu_cfg_find_cap(C, caps[i].id), caps[i].off);
	/* PCIe: version 2 endpoint with FLR */
	{
		int exp = vfu_cfg_find_cap(C, CAP_EXP);
		uint16_t flags;
		uint32_t devcap;
		REQUIRE_RC(exp);
		REQUIRE_RC(vfu_cfg_read16(C, (uint32_t)exp + EXP_FLAGS, &flags));
		REQUIRE_RC(vfu_cfg_read32(C, (uint32_t)exp + EXP_DEVCAP, &devcap));
		REQUIRE_MSG((flags & 0xf) == 2 && ((flags >> 4) & 0xf) == 0,
		            "PCIe capability flags 0x%04x: want version 2, PCI Express Endpoint", flags);
		REQUIRE_MSG(devcap & EXP_DEVCAP_FLR, "DevCap 0x%08x lacks Function Level Reset", devcap);
	}
	/* the extended list ends (no loop, no junk) */
	{
		int rc = vfu_cfg_find_ext_cap(C, EXT_CAP_AER);
		REQUIRE_MSG(rc == -ENOENT, "extended capability walk for AER: %d (%s)", rc, strerror(-rc));
	}
out:;
}

void t_msix_cap(void)
{
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	REQUIRE_RC(load_region_sizes());
	if (opt.msix >= 0)
		REQUIRE_MSG(m.n == opt.msix, "MSI-X table size %u, want %d", m.n, opt.msix);
	REQUIRE_MSG((int)m.table_bir == msix_bar_expected(), "MSI-X table in BAR%u, want BAR%d", m.table_bir,
	            msix_bar_expected());
	REQUIRE_MSG(m.pba_bir < 6 && region_size[m.pba_bir], "PBA in absent BAR%u", m.pba_bir);
	uint64_t tend = m.table_off + (uint64_t)m.n * MSIX_ENTRY;
	uint64_t pend = m.pba_off + (uint64_t)(m.n + 63) / 64 * 8;
	REQUIRE_MSG(tend <= region_size[m.table_bir], "table 0x%x..0x%llx beyond BAR%u of 0x%llx", m.table_off,
	            (unsigned long long)tend, m.table_bir, (unsigned long long)region_size[m.table_bir]);
	REQUIRE_MSG(pend <= region_size[m.pba_bir], "PBA 0x%x..0x%llx beyond BAR%u of 0x%llx", m.pba_off,
	            (unsigned long long)pend, m.pba_bir, (unsigned long long)region_size[m.pba_bir]);
	REQUIRE_MSG(m.table_bir != m.pba_bir || tend <= m.pba_off || pend <= m.table_off,
	            "table and PBA overlap");
out:;
}

void t_cfg_vpd(void)
{
	uint8_t vpd[256];
	char vu[256], sn[256];
	REQUIRE_RC(vfu_cfg_read_vpd(C, vpd, sizeof(vpd)));
	int n = vfu_vpd_find_keyword(vpd, sizeof(vpd), "VU", vu, sizeof(vu));
	REQUIRE_MSG(n > 0, "no VU keyword in VPD: %d", n);
	if (opt.vuid)
		REQUIRE_MSG(!strcmp(vu, opt.vuid), "VPD VU \"%s\", want \"%s\"", vu, opt.vuid);
	n = vfu_vpd_find_keyword(vpd, sizeof(vpd), "SN", sn, sizeof(sn));
	REQUIRE_MSG(n > 0, "no SN keyword in VPD: %d", n);
	if (opt.vuid)
		REQUIRE_MSG(!strncmp(sn, opt.vuid, strlen(sn)) && strlen(sn) == 12,
		            "VPD SN \"%s\" is not the serial the VUID starts with", sn);
	/* RV: bytes from 0 through its checksum byte add up to zero */
	REQUIRE_MSG(vpd[0] == 0x82, "VPD starts with tag 0x%02x, want the identifier string", vpd[0]);
	size_t p = 3 + (size_t)(vpd[1] | vpd[2] << 8);
	REQUIRE_MSG(p + 3 <= sizeof(vpd) && vpd[p] == 0x90, "no VPD-R after the identifier string");
	size_t rlen = (size_t)(vpd[p + 1] | vpd[p + 2] << 8), q = p + 3, end = q + rlen;
	REQUIRE_MSG(end <= sizeof(vpd), "VPD-R runs past the image");
	bool rv = false;
	while (q + 3 <= end) {
		size_t klen = vpd[q + 2];
		if (vpd[q] == 'R' && vpd[q + 1] == 'V') {
			uint8_t sum = 0;
			REQUIRE_MSG(klen >= 1 && q + 3 + klen <= end, "RV keyword of %zu bytes", klen);
			for (size_t i = 0; i <= q + 3; i++)
				sum = (uint8_t)(sum + vpd[i]);
			REQUIRE_MSG(sum == 0, "VPD checksum through RV is 0x%02x, want 0", sum);
			rv = true;
			break;
		}
		q += 3 + klen;
	}
	REQUIRE_MSG(rv, "no RV keyword in VPD-R");
	REQUIRE_MSG(end < sizeof(vpd) && vpd[end] == 0x78, "no end tag after VPD-R");
out:;
}

void t_cfg_sriov(void)
{
	int cap = vfu_cfg_find_ext_cap(C, EXT_CAP_SRIOV);
	if (opt.vf || opt.total_vfs == 0) {
		REQUIRE_MSG(cap == -ENOENT, "SR-IOV capability: %d, want absent (-ENOENT) on a %s", cap,
		            opt.vf ? "VF" : "PF without VFs");
		goto out;
	}
	REQUIRE_RC(cap);
	uint32_t at = (uint32_t)cap;
	uint16_t initial, total, num, offset, stride, ctl;
	uint32_t pgsz;
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_INITIAL_VFS, &initial));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_TOTAL_VFS, &total));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_NUM_VFS, &num));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_VF_OFFSET, &offset));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_VF_STRIDE, &stride));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_CTRL, &ctl));
	REQUIRE_RC(vfu_cfg_read32(C, at + SRIOV_SUP_PGSIZE, &pgsz));
	REQUIRE_MSG(total == opt.total_vfs, "TotalVFs %u, want %d", total, opt.total_vfs);
	REQUIRE_MSG(initial == total, "InitialVFs %u, TotalVFs %u", initial, total);
	REQUIRE_MSG(num <= total, "NumVFs %u above TotalVFs %u", num, total);
	REQUIRE_MSG(offset >= 1 && (total < 2 || stride >= 1), "First VF Offset %u, VF Stride %u", offset, stride);
	REQUIRE_MSG(pgsz & 1, "supported page sizes 0x%x lack 4 KiB", pgsz);
	if (opt.pf_rid >= 0 && opt.first_vf_rid >= 0)
		REQUIRE_MSG(((opt.pf_rid + offset) & 0xffff) == opt.first_vf_rid,
		            "PF RID 0x%04x + First VF Offset 0x%04x = 0x%04x, but the first VF is 0x%04x",
		            opt.pf_rid, offset, (opt.pf_rid + offset) & 0xffff, opt.first_vf_rid);
	/* VF BARs size themselves like BARs: a VF's own MSI-X BAR and register BAR */
	uint32_t vfbar[6];
	for (int i = 0; i < 6; i++) {
		uint32_t off = at + SRIOV_VF_BAR0 + 4u * (uint32_t)i, orig;
		REQUIRE_RC(vfu_cfg_read32(C, off, &orig));
		REQUIRE_RC(vfu_cfg_write32(C, off, 0xffffffffu));
		REQUIRE_RC(vfu_cfg_read32(C, off, &vfbar[i]));
		REQUIRE_RC(vfu_cfg_write32(C, off, orig));
	}
	int regbar = opt.virtio ? VIRTIO_CAP_BAR : 0;
	REQUIRE_MSG(vfbar[msix_bar_expected()] & ~PCI_BAR_FLAGS, "VF BAR%d (MSI-X) absent", msix_bar_expected());
	REQUIRE_MSG(vfbar[regbar] & ~PCI_BAR_FLAGS, "VF BAR%d (registers) absent", regbar);
	if (!opt.virtio)
		REQUIRE_MSG(~(vfbar[0] & ~PCI_BAR_FLAGS) + 1 == NVME_BAR0_SIZE, "VF BAR0 sizes to 0x%x",
		            ~(vfbar[0] & ~PCI_BAR_FLAGS) + 1);
	(void)ctl;
out:;
}
