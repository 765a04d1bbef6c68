/* Dynamic MSI-X (seed 000, "Dynamic MSI-X"): the MSI-X vectors of a PF's
 * VFs form the PF's pool.
 *
 * A PF with VFs owns budget = TotalVFs x *_EMULATION_NUM_VF_MSIX vectors
 * for them (what the emulation config gives the VFs at a cold boot). Each
 * VF holds some (its MSI-X Table Size); the rest is the PF's free pool:
 * free = budget - sum of its VFs' tables, never negative. While the PF's
 * controller was created with dynamic_msix, the vectors move: a reclaim
 * takes every VF's back into the pool (only with NumVFs = 0 and no VF
 * controller), a VF takes some at its controller's creation (vf_num_msix)
 * or by modify (num_msix), and gives them back when its controller is
 * destroyed with release_msix. Vectors in a PF's free pool are not held by
 * any function: EMU_MSIX_POOL counts them as available
 * (emulation_resource_list), and taking them needs both.
 *
 * The allocation is saved in EMU_DIR/msix.state (msix_state.h) at every
 * change and read back when osnapd starts, so it survives restarts; a
 * fresh EMU_DIR (a cold boot) gives every VF its configured count again.
 * Main thread. */
#ifndef OSNAP_EMU_MSIX_POOL_H
#define OSNAP_EMU_MSIX_POOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "emu.h"

#define EMU_MSIX_MAX_VECTORS 2048	/* a PCI MSI-X table's largest size */

/* The pool of PF pf (0 for a VF or a PF without VFs). */
uint32_t emu_pf_msix_budget(const struct emu_function *pf);
/* What a VF of pf can take now: the pool's free vectors, at most what
 * EMU_MSIX_POOL has left. */
uint32_t emu_pf_msix_free(const struct emu_function *pf);
/* Set when pf's controller is created with dynamic_msix; cleared when it
 * goes (emu_fn_unbind). */
bool emu_pf_msix_dynamic(const struct emu_function *pf);
void emu_pf_msix_set_dynamic(struct emu_function *pf, bool on);
/* The largest table VF vf could have now: its own when its PF is not
 * dynamic, else its own plus the PF's free vectors (at most 2048). */
uint32_t emu_vf_msix_max(const struct emu_function *vf);

/* Give VF vf a table of n vectors, from or back to its PF's pool; the VF's
 * config space and MSI-X BAR follow. 0 at once when it has n. Errors,
 * each with a message in err and nothing changed: -EINVAL (not a VF, n
 * above 2048), -EPERM (the PF's controller is not dynamic), -EBUSY (a
 * client is connected to the VF), -ENOSPC (the pool or EMU_MSIX_POOL has
 * too few), -ENOMEM. */
int emu_vf_msix_set(struct emu_function *vf, uint32_t n, char *err, size_t errlen);
/* emu_vf_msix_set's checks alone (every error but -ENOMEM). */
int emu_vf_msix_check(const struct emu_function *vf, uint32_t n, char *err, size_t errlen);
/* Every VF of pf gives its vectors back to the pool. -EINVAL (not a PF
 * with VFs), -EPERM (not dynamic), -EBUSY (NumVFs is not 0, or a VF has a
 * controller): nothing changed. */
int emu_pf_msix_reclaim(struct emu_function *pf, char *err, size_t errlen);

/* save_config: the controller-create parameters that give fn's MSI-X back
 * on replay, added to params: "dynamic_msix" for a dynamic PF,
 * "vf_num_msix" (its table, when 2 or more) for a VF. */
void emu_msix_write_config(const struct emu_function *fn, json_t *params);

/* The function controller ctrl_id is bound to, or NULL. */
struct emu_function *emu_find_by_ctrl(const char *ctrl_id);

/* --- start-up (emu_init) --- */

/* Read EMU_DIR/msix.state (nothing without endpoints; a missing file is a
 * fresh EMU_DIR; a broken one is ignored with a warning). */
void emu_msix_state_load(void);
/* The table size VF vf_index of pf had when the state was saved, or dflt
 * when the state has nothing valid for pf (another VF count, more than
 * its budget). pf's identity and total_vfs are set. */
uint16_t emu_msix_state_vf(const struct emu_function *pf, int vf_index, uint16_t dflt);
/* Forget what was read. */
void emu_msix_state_drop(void);

#endif
