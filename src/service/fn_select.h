/* Choosing the emulated function a controller is created on, from the
 * selectors SNAP accepts: vuid, pci_bdf, vhca_id, or pf_id (+ vf_id). */
#ifndef OSNAP_FN_SELECT_H
#define OSNAP_FN_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu/emu.h"
#include "rpc/rpc_decode.h"

struct fn_selector {
	const char *vuid;
	const char *pci_bdf;
	uint32_t vhca_id;
	bool has_vhca_id;
	uint32_t pf_id;
	bool has_pf_id;
	uint32_t vf_id;
	bool has_vf_id;
};

/* The selectors' entries of a decode table (T: the params struct, sel: its
 * struct fn_selector member). */
#define FN_SELECTOR_PARAMS(T, sel) \
	RPC_OPT("vuid", RPC_T_STRING, T, sel.vuid), \
	RPC_OPT("pci_bdf", RPC_T_STRING, T, sel.pci_bdf), \
	RPC_OPT_HAS("vhca_id", RPC_T_U32, T, sel.vhca_id, sel.has_vhca_id), \
	RPC_OPT_HAS("pf_id", RPC_T_U32, T, sel.pf_id, sel.has_pf_id), \
	RPC_OPT_HAS("vf_id", RPC_T_U32, T, sel.vf_id, sel.has_vf_id)

/* Resolve to a function of type t. Returns it, or NULL with an error in
 * err and *code set (-32602 for bad or conflicting selectors, -ENODEV when
 * nothing matches). */
struct emu_function *fn_select(const struct fn_selector *s, enum emu_type t, int *code, char *err,
			       size_t errlen);

struct rpc_request;

/* fn_select, answering the request on failure (-32602 for bad selectors,
 * the errno otherwise). Returns the function or NULL (request answered). */
struct emu_function *fn_select_or_reply(struct rpc_request *req, const struct fn_selector *s,
					enum emu_type t);

#endif
