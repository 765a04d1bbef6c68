/* vfu_conformance: conformance tests of one vfio-user endpoint of osnapd's
 * device plane (an emulated NVMe or virtio-blk PCI function), driven only
 * through the client library in src/host (no server header is included).
 *
 * Usage:
 *   vfu_conformance SOCKET [--nvme|--virtio] [--trap-doorbells]
 *                   [--expect-vuid VUID] [--vf] [--msix N] [--total-vfs N]
 *                   [--bdf BDF --first-vf-bdf BDF] [--ids VID:DID]
 *   vfu_conformance SOCKET --set-numvfs N
 *   vfu_conformance PF_SOCKET --race-vf-unmap VF_SOCKET
 *
 * The first form runs every case on the endpoint and prints TAP ("1..N",
 * "ok N - name", "not ok N - name" followed by "# reason" lines); the exit
 * status is 1 when any case failed. --msix is the function's expected
 * number of MSI-X vectors (by default the MSI-X capability's table size is
 * trusted), --total-vfs the TotalVFs expected in the SR-IOV capability (0:
 * the capability must be absent, which is also implied by --vf), --bdf and
 * --first-vf-bdf the PF's and its first VF's bus:device.function as the
 * service reports them (checked against First VF Offset).
 *
 * The second form is a helper for the system tests: it sets NumVFs and VF
 * Enable in the PF's SR-IOV capability as a host driver would (N = 0 clears
 * VF Enable) and disconnects. The third clears VF Enable through the PF
 * while the VF's client has a DMA_UNMAP in flight, 20 times over; the
 * service must survive it.
 *
 * The endpoint serves one client at a time, so the cases that need a
 * connection of their own (handshake and framing errors) run while the
 * main connection is closed.
 *
 * This file holds the options, the case table (the order cases run in), the
 * helper modes and main; the cases live in vfu_conformance_AREA.c by area,
 * their helpers in vfu_conformance_lib.c, all declared in
 * vfu_conformance.h; the harness is tap.h. */
#include <unistd.h>

#include "vfu_conformance.h"

/* ---- options -------------------------------------------------------------- */

struct vfu_conformance_opts opt = { .msix = -1, .pf_rid = -1, .first_vf_rid = -1, .set_numvfs = -1,
				     .mmap_db = true, .want_vid = -1, .want_did = -1 };

/* ---- the case table ------------------------------------------------------------ */

enum {
	MAIN_CONN = 1,		/* runs on the main connection (else: it must be closed) */
	NVME_ONLY = 2,
};

static const struct tap_case cases[] = {
	{ "version_reply_caps_subset", t_version_caps, true, 0 },
	{ "version_not_first_refused", t_version_not_first, true, 0 },
	{ "msg_size_below_header_closes", t_msg_size_small, true, 0 },
	{ "msg_size_above_16MiB_closes", t_msg_size_huge, true, 0 },
	{ "version_negotiated", t_version_negotiated, true, MAIN_CONN },
	{ "version_second_refused", t_version_second, true, MAIN_CONN },
	{ "device_get_info", t_device_info, true, MAIN_CONN },
	{ "region_info", t_region_info, true, MAIN_CONN },
	{ "irq_info", t_irq_info, true, MAIN_CONN },
	{ "cfg_ids", t_cfg_ids, true, MAIN_CONN },
	{ "cfg_readonly_fields", t_cfg_readonly, true, MAIN_CONN },
	{ "cfg_status_rw1c", t_cfg_status, true, MAIN_CONN },
	{ "cfg_bar_sizing", t_cfg_bar_sizing, true, MAIN_CONN },
	{ "cfg_capability_chain", t_cfg_caps, true, MAIN_CONN },
	{ "cfg_msix_capability", t_msix_cap, true, MAIN_CONN },
	{ "cfg_vpd_vuid", t_cfg_vpd, true, MAIN_CONN },
	{ "cfg_sriov_capability", t_cfg_sriov, true, MAIN_CONN },
	{ "msix_trigger_eventfd", t_msix_trigger, true, MAIN_CONN },
	{ "msix_vector_mask_pba", t_msix_vector_mask, true, MAIN_CONN },
	{ "msix_function_mask", t_msix_function_mask, true, MAIN_CONN },
	{ "set_irqs_bad", t_set_irqs_bad, true, MAIN_CONN },
	{ "dma_map_unmap", t_dma_map, true, MAIN_CONN },
	{ "dma_map_bad", t_dma_bad, true, MAIN_CONN },
	{ "dma_map_without_fd", t_dma_fdless, true, MAIN_CONN },
	{ "dma_unmap_wrong_range_keeps_connection", t_dma_unmap_wrong, true, MAIN_CONN },
	{ "region_access_bad", t_region_bad, true, MAIN_CONN },
	{ "region_write_posted", t_posted_write, true, MAIN_CONN },
	{ "region_write_multi", t_write_multi, true, MAIN_CONN },
	{ "nvme_doorbells", t_doorbells, true, MAIN_CONN | NVME_ONLY },
	{ "pcie_flr", t_flr, true, MAIN_CONN },
	{ "device_reset", t_device_reset, true, MAIN_CONN },
	{ "unknown_command", t_unknown_command, true, MAIN_CONN },
	{ "second_client_refused", t_second_client, true, MAIN_CONN },
	{ "reconnect_fresh_state", t_reconnect_fresh, true, MAIN_CONN },
};

static const char *case_skip(const struct tap_case *c)
{
	return (c->flags & NVME_ONLY) && opt.virtio ? "NVMe only" : NULL;
}

static bool case_setup(const struct tap_case *c)
{
	if (!(c->flags & MAIN_CONN)) {
		main_close();
		return true;
	}
	if (C && vfu_sync(C)) {
		diag("(the main connection was lost before this case; reconnecting)");
		main_close();
	}
	int rc = main_connect();
	if (rc)
		FAIL("cannot connect to %s: %s", opt.sock, strerror(-rc));
	return rc == 0;
}

static const struct tap_suite suite = {
	.prog = "vfu_conformance", .cases = cases, .ncases = sizeof(cases) / sizeof(cases[0]),
	.skip = case_skip, .setup = case_setup,
};

/* ---- helper mode: NumVFs -------------------------------------------------------- */

static void set_numvfs(void)
{
	uint16_t ctl, total, num;
	REQUIRE_RC(main_connect());
	int cap = vfu_cfg_find_ext_cap(C, EXT_CAP_SRIOV);
	REQUIRE_RC(cap);
	uint32_t at = (uint32_t)cap;
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_TOTAL_VFS, &total));
	REQUIRE_MSG(opt.set_numvfs <= total, "NumVFs %d above TotalVFs %u", opt.set_numvfs, total);
	/* NumVFs may change only while VF Enable is clear */
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_CTRL, &ctl));
	REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_CTRL, (uint16_t)(ctl & ~(SRIOV_CTRL_VFE | SRIOV_CTRL_MSE))));
	REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_NUM_VFS, (uint16_t)opt.set_numvfs));
	if (opt.set_numvfs)
		REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_CTRL, (uint16_t)(ctl | SRIOV_CTRL_VFE | SRIOV_CTRL_MSE)));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_NUM_VFS, &num));
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_CTRL, &ctl));
	REQUIRE_MSG(num == opt.set_numvfs, "NumVFs reads %u after writing %d", num, opt.set_numvfs);
	REQUIRE_MSG(!!(ctl & SRIOV_CTRL_VFE) == !!opt.set_numvfs, "VF Enable reads %d", !!(ctl & SRIOV_CTRL_VFE));
out:
	main_close();
}

/* ---- helper mode: VF disabled while its client unmaps ------------------------- */

/* With VFs enabled on the PF at opt.sock, connect to the VF at opt.race_vf,
 * map memory, send DMA_UNMAP without waiting and at once clear VF Enable
 * through the PF, so that the VF endpoint goes away while the unmap waits
 * for its grace period. The service must survive: afterwards the PF still
 * answers. Repeated rounds re-enable the VFs. */
static void race_vf_unmap(void)
{
	int round;
	struct vfu_client *vf = NULL;
	struct host_mem *m = NULL;
	uint16_t ctl, num;
	REQUIRE_RC(main_connect());
	int cap = vfu_cfg_find_ext_cap(C, EXT_CAP_SRIOV);
	REQUIRE_RC(cap);
	uint32_t at = (uint32_t)cap;
	REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_NUM_VFS, &num));
	REQUIRE_MSG(num >= 1, "enable VFs first (NumVFs %u)", num);
	REQUIRE_RC(host_mem_create(MIB, &m));
	for (round = 0; round < 20; round++) {
		REQUIRE_RC(vfu_cfg_read16(C, at + SRIOV_CTRL, &ctl));
		REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_CTRL, (uint16_t)(ctl | SRIOV_CTRL_VFE | SRIOV_CTRL_MSE)));
		int rc = -ENOENT;
		for (int tries = 0; tries < 200 && rc; tries++) {
			rc = vfu_connect(opt.race_vf, &vf);
			if (rc) {
				vf = NULL;
				usleep(5000);
			}
		}
		REQUIRE_RC(rc);
		REQUIRE_RC(vfu_dma_map(vf, IOVA_A, MIB, m->fd, 0, RW));
		struct vfu_msg_dma_unmap u = { .argsz = sizeof(u), .address = IOVA_A, .size = MIB };
		REQUIRE_RC(raw_cmd(vf, vfu_next_msg_id(vf), VFU_CMD_DMA_UNMAP, VFU_F_TYPE_COMMAND, &u,
			   sizeof(u), NULL, 0));
		REQUIRE_RC(vfu_cfg_write16(C, at + SRIOV_CTRL, (uint16_t)(ctl & ~(SRIOV_CTRL_VFE | SRIOV_CTRL_MSE))));
		vfu_close(vf);
		vf = NULL;
		REQUIRE_RC(vfu_sync(C));
	}
out:
	vfu_close(vf);
	host_mem_destroy(m);
	main_close();
}

/* ---- main ---------------------------------------------------------------------- */

static void usage(void)
{
	fprintf(stderr,
		"usage: vfu_conformance SOCKET [--nvme|--virtio] [--trap-doorbells] [--expect-vuid VUID]\n"
		"                       [--vf] [--msix N] [--total-vfs N] [--bdf BDF --first-vf-bdf BDF] [--ids VID:DID]\n"
		"                       [--case NAME]... [--list]\n"
		"       vfu_conformance SOCKET --set-numvfs N\n"
		"       vfu_conformance PF_SOCKET --race-vf-unmap VF_SOCKET\n");
}

static int parse_int(const char *s, int max)
{
	char *end;
	long v = strtol(s, &end, 0);
	if (!*s || *end || v < 0 || v > max)
		return -1;
	return (int)v;
}

/* A helper mode: one case of its own, in TAP. */
static int run_one(const char *name, void (*fn)(void))
{
	const struct tap_case one = { name, fn, true, 0 };
	const struct tap_suite s = { .prog = "vfu_conformance", .cases = &one, .ncases = 1 };
	const struct tap_opts none = { .nnames = 0 };
	return tap_run(&s, &none);
}

int main(int argc, char **argv)
{
	struct tap_opts T = { .nnames = 0 };

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--nvme")) {
			opt.virtio = false;
		} else if (!strcmp(a, "--virtio")) {
			opt.virtio = true;
		} else if (!strcmp(a, "--mmap-doorbells")) {
			opt.mmap_db = true;	/* the default (EMU_NVME_DOORBELLS adaptive or mmap) */
		} else if (!strcmp(a, "--trap-doorbells")) {
			opt.mmap_db = false;	/* EMU_NVME_DOORBELLS=trap: BAR0 cannot be mapped */
		} else if (!strcmp(a, "--vf")) {
			opt.vf = true;
		} else if (!strcmp(a, "--expect-vuid") && val) {
			opt.vuid = val;
			i++;
		} else if (!strcmp(a, "--msix") && val && (opt.msix = parse_int(val, 2048)) >= 0) {
			i++;
		} else if (!strcmp(a, "--total-vfs") && val && (opt.total_vfs = parse_int(val, 65535)) >= 0) {
			i++;
		} else if (!strcmp(a, "--set-numvfs") && val && (opt.set_numvfs = parse_int(val, 65535)) >= 0) {
			i++;
		} else if (!strcmp(a, "--bdf") && val && (opt.pf_rid = (int)parse_bdf(val)) != (int)UINT32_MAX) {
			i++;
		} else if (!strcmp(a, "--first-vf-bdf") && val &&
			   (opt.first_vf_rid = (int)parse_bdf(val)) != (int)UINT32_MAX) {
			i++;
		} else if (!strcmp(a, "--ids") && val && strchr(val, ':') && strchr(val, ':') - val < 16) {
			/* a hot-plugged PF's own PCI identity, VID:DID */
			char vid[16];
			size_t n = (size_t)(strchr(val, ':') - val);
			memcpy(vid, val, n);
			vid[n] = '\0';
			opt.want_vid = parse_int(vid, 0xffff);
			opt.want_did = parse_int(val + n + 1, 0xffff);
			i++;
		} else if (!strcmp(a, "--race-vf-unmap") && val) {
			opt.race_vf = val;
			i++;
		} else if (tap_opt(&T, a, val, &i)) {
			continue;
		} else if (a[0] != '-' && !opt.sock) {
			opt.sock = a;
		} else {
			usage();
			return 2;
		}
	}
	if ((!opt.sock && !T.list) || opt.msix < -1 || opt.total_vfs < 0 || (opt.want_vid < 0) != (opt.want_did < 0)) {
		usage();
		return 2;
	}
	if (opt.set_numvfs >= 0) {
		char name[32];
		snprintf(name, sizeof(name), "set_numvfs %d", opt.set_numvfs);
		return run_one(name, set_numvfs);
	}
	if (opt.race_vf)
		return run_one("vf_disabled_during_unmap", race_vf_unmap);
	int rc = tap_run(&suite, &T);
	main_close();
	if (rc < 0) {
		usage();
		return 2;
	}
	return rc;
}
