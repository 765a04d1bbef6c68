/* SR-IOV from the service side, for headless use (no host driver to write
 * sriov_numvfs): emulation_function_set_num_vfs. SNAP has no such RPC (its
 * VFs are enabled by the host, `echo N > sriov_numvfs`); the name follows
 * SNAP's emulation_function_* methods. It writes NumVFs and VF Enable in
 * the PF's SR-IOV capability as the host driver would, so the VFs come and
 * go exactly as when a client writes them: each enabled VF gets its
 * endpoint, the others have none.
 *
 * Like Linux's sriov_numvfs, a PF with N VFs enabled takes only 0 or N:
 * another count needs 0 first (-EBUSY). */
#include "service.h"
#include "emu/emu.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

#include <errno.h>

struct set_num_vfs_p {
	const char *vuid, *pci_bdf;
	uint32_t vhca_id, num_vfs;
	bool has_vhca_id;
};

static const struct rpc_param set_num_vfs_dec[] = {
	RPC_OPT("vuid", RPC_T_STRING, struct set_num_vfs_p, vuid),
	RPC_OPT("pci_bdf", RPC_T_STRING, struct set_num_vfs_p, pci_bdf),
	RPC_OPT_HAS("vhca_id", RPC_T_U32, struct set_num_vfs_p, vhca_id, has_vhca_id),
	RPC_REQ_RANGE("num_vfs", RPC_T_U32, struct set_num_vfs_p, num_vfs, 0, 65535),
};

static void rpc_set_num_vfs(struct rpc_request *req, json_t *params)
{
	struct set_num_vfs_p p = { 0 };
	RPC_DECODE_OR_RETURN(req, params, set_num_vfs_dec, p);
	if (!!p.vuid + !!p.pci_bdf + p.has_vhca_id != 1) {
		rpc_send_invalid_params(req, "give exactly one of vuid, pci_bdf and vhca_id (the PF)");
		return;
	}
	struct emu_function *pf = p.vuid ? emu_find_by_vuid(p.vuid) : p.pci_bdf ? emu_find_by_bdf(p.pci_bdf)
							     : emu_find_by_vhca(p.vhca_id);
	const char *key = p.vuid ? "vuid" : p.pci_bdf ? "pci_bdf" : "vhca_id";
	if (!pf) {
		rpc_send_errno(req, -ENODEV, "no function with that %s", key);
		return;
	}
	if (emu_fn_is_vf(pf)) {
		rpc_send_invalid_params(req, "invalid parameter '%s': %s is a VF; SR-IOV is set on its PF", key,
					emu_fn_vuid(pf));
		return;
	}
	int total = emu_fn_num_vfs(pf), active = 0;
	if (!total) {
		rpc_send_invalid_params(req, "invalid parameter '%s': PF %s has no SR-IOV (TotalVFs 0: SRIOV_EN and "
					"*_EMULATION_NUM_VF of the emulation config)", key, emu_fn_vuid(pf));
		return;
	}
	if (p.num_vfs > (uint32_t)total) {
		rpc_send_invalid_params(req, "invalid parameter 'num_vfs': %u is more than the %d VFs of %s", p.num_vfs,
					total, emu_fn_vuid(pf));
		return;
	}
	for (int i = 0; i < total; i++)
		active += emu_fn_active(emu_fn_vf(pf, i));
	if ((uint32_t)active == p.num_vfs) {
		rpc_send_bool(req, true);
		return;
	}
	if (active && p.num_vfs) {
		rpc_send_errno(req, -EBUSY, "%s has %d VFs enabled: set num_vfs 0 first (as sriov_numvfs)",
			       emu_fn_vuid(pf), active);
		return;
	}
	int rc = emu_fn_set_num_vfs(pf, (uint16_t)p.num_vfs);
	if (rc)
		rpc_send_errno(req, rc, "%s: cannot set NumVFs", emu_fn_vuid(pf));
	else
		rpc_send_bool(req, true);
}

static const struct rpc_method sriov_methods[] = {
	{ "emulation_function_set_num_vfs", rpc_set_num_vfs, RPC_RUNTIME },
};

void sriov_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(sriov_methods));
}
