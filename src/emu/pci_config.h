/* PCI configuration space of an emulated function (4 KiB, PCIe).
 *
 * struct pci_cfg is plain data (no pointers), so it can live in shared
 * memory and outlive the process that serves the function. Accesses follow
 * the PCI rules: read-only bits keep their value, write-1-to-clear bits
 * clear, BARs size themselves (all-ones write reads back the size mask),
 * and the capability registers that need action call back through ops.
 *
 * Layout built by pci_cfg_init():
 *   0x00 type 0 header (vendor, device, command, status with CAP_LIST,
 *        class, BARs, subsystem ids, cap pointer, interrupt pin 0)
 *   0x40 power management (PMCSR D0/D3hot), 8 bytes
 *   0x48 MSI-X (table/PBA in the BARs given by the description), 12 bytes
 *   0x54 PCI Express v2 endpoint (DevCap FLR, DevCtl "initiate FLR"
 *        self-clearing), 0x3c bytes
 *   0x90 VPD (when desc->vpd_len > 0), 8 bytes
 *   then the vendor-specific capabilities given (virtio-pci structures),
 *        each at the next 4-byte boundary, all below 0x100
 *   0x100 SR-IOV extended capability (PFs with total_vfs > 0), else a zero
 *        extended capability header
 * A capability that is absent moves the later ones down. Offsets may differ;
 * walk the capability chain rather than relying on them.
 *
 * Threading: the owner serialises calls (the device plane's thread). */
#ifndef OSNAP_PCI_CONFIG_H
#define OSNAP_PCI_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PCI_CFG_SIZE 4096
#define PCI_NUM_BARS 6
#define PCI_MAX_VENDOR_CAPS 8
#define PCI_VPD_MAX 256

/* One vendor-specific capability (ID 0x09): the bytes after the 2-byte
 * header (cap id, next); data[0] is the cap_len byte as virtio defines it. */
struct pci_vendor_cap {
	uint8_t len;		/* bytes of data */
	uint8_t data[32];
};

struct pci_cfg_desc {
	uint16_t vendor_id, device_id;
	uint16_t subsys_vendor_id, subsys_id;
	uint8_t revision;
	uint32_t class_code;		/* 24 bits: base, sub, prog-if (0x010802 NVMe) */

	/* BARs: size 0 = absent; a 64-bit BAR uses the next slot too. Sizes
	 * are powers of two, at least 4 KiB. */
	uint64_t bar_size[PCI_NUM_BARS];
	bool bar_64[PCI_NUM_BARS];
	bool bar_prefetch[PCI_NUM_BARS];

	uint16_t msix_vectors;		/* 0 = no MSI-X capability */
	uint8_t msix_table_bar, msix_pba_bar;
	uint32_t msix_table_offset, msix_pba_offset;

	/* VPD image (already encoded: identifier string, VPD-R with VU, RV
	 * checksum, end tag); see pci_vpd_build(). */
	uint8_t vpd[PCI_VPD_MAX];
	uint16_t vpd_len;

	struct pci_vendor_cap vendor_caps[PCI_MAX_VENDOR_CAPS];
	int num_vendor_caps;

	/* SR-IOV (PFs only). */
	uint16_t total_vfs;
	uint16_t vf_device_id;
	uint16_t vf_offset, vf_stride;
	uint64_t vf_bar_size[PCI_NUM_BARS];	/* per-VF BAR sizes (32-bit BARs) */
	/* A VF served through its own endpoint. Its client sees it as a
	 * standalone function, so it keeps real vendor/device ids and a
	 * writable Memory Space bit (not the 0xffff ids and RO-0 MSE a VF
	 * shows behind its PF); it must not have total_vfs. */
	bool is_vf;
};

struct pci_cfg {
	uint8_t data[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE];	/* 1 = writable bit */
	uint8_t w1cmask[PCI_CFG_SIZE];	/* 1 = write-1-to-clear bit */
	uint64_t bar_size[PCI_NUM_BARS];
	uint8_t vpd[PCI_VPD_MAX];
	uint16_t vpd_len;
	uint16_t msix_cap, pm_cap, pcie_cap, vpd_cap, sriov_cap;	/* offsets, 0 = absent */
	uint16_t msix_vectors;
	uint64_t vf_bar_size[PCI_NUM_BARS];	/* SR-IOV VF BARs, 0 = absent */
	uint8_t init_data[PCI_CFG_SIZE];	/* data after init: reset values */
};

/* What a config write asks the function to do. All optional. */
struct pci_cfg_ops {
	/* MSI-X Enable or Function Mask changed. */
	void (*msix_control)(void *arg, bool enabled, bool function_masked);
	/* Initiate Function Level Reset was written (each write of 1). The
	 * config space has already been reset (pci_cfg_function_reset()); no
	 * other callback reports the registers that reset changed. */
	void (*flr)(void *arg);
	/* SR-IOV: VF Enable and NumVFs as now written. */
	void (*sriov_control)(void *arg, bool vf_enable, uint16_t num_vfs);
	/* Command register's Memory Space / Bus Master bits changed. */
	void (*command)(void *arg, uint16_t command);
	/* Power state written (0 = D0, 3 = D3hot). */
	void (*power_state)(void *arg, int state);
};

/* Build a config space from desc. Returns 0 or -EINVAL (bad description:
 * BAR size not a power of two, too many caps, ...). */
int pci_cfg_init(struct pci_cfg *c, const struct pci_cfg_desc *desc);

/* Read/write len bytes (1..PCI_CFG_SIZE-off, any alignment) at off. A
 * write outside the space or an access of length 0 fails with -EINVAL and
 * changes nothing; reads of unimplemented space return zeroes. */
int pci_cfg_read(struct pci_cfg *c, uint32_t off, void *buf, size_t len);
int pci_cfg_write(struct pci_cfg *c, uint32_t off, const void *buf, size_t len,
		  const struct pci_cfg_ops *ops, void *arg);

/* Current state, for the device plane. */
bool pci_cfg_msix_enabled(const struct pci_cfg *c);
bool pci_cfg_msix_function_masked(const struct pci_cfg *c);
uint16_t pci_cfg_command(const struct pci_cfg *c);
uint16_t pci_cfg_num_vfs(const struct pci_cfg *c);
bool pci_cfg_vf_enabled(const struct pci_cfg *c);

/* Build a VPD image: identifier string (product name), VPD-R with "SN"
 * (serial) and the vendor keyword "VU" (the VUID: what `lspci -vvv` shows
 * as "[VU] Vendor specific: ..."), "RV" checksum, end tag. NULL strings
 * are empty. Returns its length, -ENOSPC when it does not fit in cap, or
 * -EINVAL when serial or vuid is longer than 255 bytes. */
int pci_vpd_build(uint8_t *out, size_t cap, const char *product, const char *serial,
		  const char *vuid);

/* Walk helpers for tests and clients: offset of capability id (standard
 * list) or extended capability id, 0 when absent. */
uint16_t pci_cfg_find_cap(const struct pci_cfg *c, uint8_t id);
uint16_t pci_cfg_find_ext_cap(const struct pci_cfg *c, uint16_t id);

/* Power state in PMCSR (0 = D0, 3 = D3hot). */
int pci_cfg_power_state(const struct pci_cfg *c);

/* Address programmed into BAR bar (both halves of a 64-bit BAR, flag bits
 * removed); 0 when the BAR is absent or bar is out of range. */
uint64_t pci_cfg_bar_address(const struct pci_cfg *c, int bar);

/* Function-level reset of the registers software can change (FLR, or a
 * device reset requested by the client): Command, Status errors, BARs,
 * MSI-X control, PMCSR, PCIe device control/status, VPD, SR-IOV control,
 * NumVFs and VF BARs return to their values after pci_cfg_init(). As the
 * PCIe spec asks, Max_Payload_Size and the link control registers keep
 * their values. No callbacks. */
void pci_cfg_function_reset(struct pci_cfg *c);

/* Device side: set Status error bits (RW1C ones only, e.g. 0x2000
 * Received Master Abort after a failed DMA); software clears them. */
void pci_cfg_set_status(struct pci_cfg *c, uint16_t bits);

#endif
