/* Choosing the emulated function a controller is created on, from the
 * selectors SNAP accepts: vuid, pci_bdf, vhca_id, or pf_id (+ vf_id). */
#ifndef OSNAP_FN_SELECT_H
#define OSNAP_FN_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu/emu.h"

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
