/* The MSI-X and SR-IOV side of the controller RPCs of both families
 * (dynamic MSI-X, seed 000; the pool is emu_msix_pool.h): what
 * *_controller_create (dynamic_msix, vf_num_msix), *_controller_destroy
 * (release_msix, force on an enabled VF), *_controller_modify (num_msix) and
 * *_controller_vfs_msix_reclaim do.
 *
 * Errors: -32602 naming the parameter for a value that can never work
 * (dynamic_msix on a VF, vf_num_msix on a PF or outside 2..2048, a VF
 * without vectors and no vf_num_msix); -EPERM when the PF's controller was
 * not created with dynamic_msix; -EBUSY for a state that must change first
 * (a client connected, NumVFs not 0, a VF controller left, an enabled VF
 * destroyed without force); -ENOSPC when the pool has too few. Main
 * thread. */
#ifndef OSNAP_CTRL_MSIX_H
#define OSNAP_CTRL_MSIX_H

#include <stdbool.h>
#include <stdint.h>

#include "ctrl_rpc.h"
#include "emu/emu.h"
#include "rpc/rpc.h"

/* A create's change of its VF's vectors, undone when the create fails. */
struct ctrl_msix {
	struct emu_function *vf;	/* NULL: nothing changed */
	uint16_t before;
};

/* Before a controller is created on fn: check dynamic_msix (PFs with VFs)
 * and vf_num_msix (VFs; 2..2048), and give a VF the vectors it asks for
 * from its PF's pool. true: go on, m records the change; false: the
 * request is answered, nothing changed. */
bool ctrl_msix_prepare(struct rpc_request *req, struct emu_function *fn, bool dynamic_msix,
		       bool has_vf_num_msix, uint32_t vf_num_msix, struct ctrl_msix *m);
/* The create failed: the VF gets back what it had. */
void ctrl_msix_undo(const struct ctrl_msix *m);
/* The controller exists: with dynamic_msix its PF's pool opens. */
void ctrl_msix_created(struct emu_function *fn, bool dynamic_msix);

/* Before destroying the controller named ctrl_name (as created): a VF
 * controller while its PF has VF Enable set needs force; release_msix
 * (VFs of a dynamic PF, no client connected) gives its vectors back once
 * it is gone. Returns the completion argument for ctrl_msix_destroyed, or
 * NULL after answering. */
void *ctrl_msix_destroy_begin(struct rpc_request *req, const char *ctrl_name, bool force, bool release_msix);
/* The destroy's completion (the families' done callback shape, arg from
 * ctrl_msix_destroy_begin): releases the vectors when asked; answers. */
void ctrl_msix_destroyed(void *arg, int rc, const char *msg);

/* modify with num_msix on controller c of family f: VF controllers of a
 * dynamic PF, while idle; num_queues (if has_num_queues) changes with it.
 * Answers. */
void ctrl_msix_modify(struct rpc_request *req, const struct ctrl_family *f, void *c, bool has_num_queues,
		      uint32_t num_queues, uint32_t num_msix);
/* *_vfs_msix_reclaim on the controller named ctrl_name. Answers. */
void ctrl_msix_reclaim(struct rpc_request *req, const char *ctrl_name);

#endif
