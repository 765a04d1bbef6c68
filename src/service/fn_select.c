#include "fn_select.h"
#include "rpc/rpc.h"

#include <errno.h>
#include <stdio.h>

struct emu_function *fn_select(const struct fn_selector *s, enum emu_type t, int *code, char *err,
			       size_t errlen)
{
	int n = !!s->vuid + !!s->pci_bdf + s->has_vhca_id + s->has_pf_id;
	struct emu_function *fn = NULL;
	const char *tname = t == EMU_TYPE_NVME ? "NVMe" : "virtio-blk";

	*code = RPC_INVALID_PARAMS;
	if (n == 0) {
		snprintf(err, errlen, "missing function: give one of vuid, pf_id (+vf_id), pci_bdf or vhca_id");
		return NULL;
	}
	if (n > 1) {
		snprintf(err, errlen, "give only one of vuid, pf_id, pci_bdf and vhca_id");
		return NULL;
	}
	if (s->has_vf_id && !s->has_pf_id) {
		snprintf(err, errlen, "invalid parameter 'vf_id': needs pf_id");
		return NULL;
	}
	*code = -ENODEV;
	if (s->vuid) {
		fn = emu_find_by_vuid(s->vuid);
		if (!fn)
			snprintf(err, errlen, "no function with vuid %s", s->vuid);
	} else if (s->pci_bdf) {
		fn = emu_find_by_bdf(s->pci_bdf);
		if (!fn)
			snprintf(err, errlen, "no function at pci_bdf %s", s->pci_bdf);
	} else if (s->has_vhca_id) {
		fn = emu_find_by_vhca(s->vhca_id);
		if (!fn)
			snprintf(err, errlen, "no function with vhca_id %u", s->vhca_id);
	} else {
		fn = emu_find_by_index(t, (int)s->pf_id, s->has_vf_id ? (int)s->vf_id : -1);
		struct emu_function *pf = fn || !s->has_vf_id ? NULL : emu_find_by_index(t, (int)s->pf_id, -1);
		if (pf && emu_fn_hotplugged(pf))
			snprintf(err, errlen, "no VF %u: %s PF %u (%s) is hot-plugged, and hot-plugged PFs do not "
				 "support SR-IOV", s->vf_id, tname, s->pf_id, emu_fn_vuid(pf));
		else if (!fn) {
			if (s->has_vf_id)
				snprintf(err, errlen, "no VF %u on %s PF %u", s->vf_id, tname, s->pf_id);
			else
				snprintf(err, errlen, "no %s PF %u", tname, s->pf_id);
		}
	}
	if (fn && emu_fn_type(fn) != t) {
		snprintf(err, errlen, "function %s is not a %s function", emu_fn_vuid(fn), tname);
		*code = -EINVAL;
		return NULL;
	}
	return fn;
}

struct emu_function *fn_select_or_reply(struct rpc_request *req, const struct fn_selector *s,
					enum emu_type t)
{
	char err[256];
	int code;
	struct emu_function *fn = fn_select(s, t, &code, err, sizeof(err));
	if (!fn) {
		if (code == RPC_INVALID_PARAMS)
			rpc_send_invalid_params(req, "%s", err);
		else
			rpc_send_errno(req, code, "%s", err);
	}
	return fn;
}
