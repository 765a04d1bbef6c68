/* The MSI-X and SR-IOV side of the controller RPCs. See ctrl_msix.h. */
#include "ctrl_msix.h"
#include "emu/emu_msix_pool.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* An emu_msix_pool error about parameter param. */
static void answer_pool_error(struct rpc_request *req, int rc, const char *param, const char *err)
{
	if (rc == -EINVAL)
		rpc_send_invalid_params(req, "invalid parameter '%s': %s", param, err);
	else
		rpc_send_errno(req, rc, "%s: %s", param, err);
}

static bool in_table_range(struct rpc_request *req, const char *param, uint32_t n)
{
	if (n >= 2 && n <= EMU_MSIX_MAX_VECTORS)
		return true;
	rpc_send_invalid_params(req, "invalid parameter '%s': %u is outside 2..%d (MSI-X vectors)", param, n,
				EMU_MSIX_MAX_VECTORS);
	return false;
}

/* --- create --- */

bool ctrl_msix_prepare(struct rpc_request *req, struct emu_function *fn, bool dynamic_msix,
		       bool has_vf_num_msix, uint32_t vf_num_msix, struct ctrl_msix *m)
{
	char err[256];
	bool vf = emu_fn_is_vf(fn);

	m->vf = NULL;
	if (dynamic_msix && vf) {
		rpc_send_invalid_params(req, "invalid parameter 'dynamic_msix': applies only to PFs (%s is a VF)",
					emu_fn_vuid(fn));
		return false;
	}
	if (dynamic_msix && !emu_pf_msix_budget(fn)) {
		rpc_send_invalid_params(req, "invalid parameter 'dynamic_msix': PF %s has no VFs (SRIOV_EN=1 and "
					"*_EMULATION_NUM_VF give it some)", emu_fn_vuid(fn));
		return false;
	}
	if (has_vf_num_msix && !vf) {
		rpc_send_invalid_params(req, "invalid parameter 'vf_num_msix': applies only to VFs (%s is a PF)",
					emu_fn_vuid(fn));
		return false;
	}
	if (has_vf_num_msix && !in_table_range(req, "vf_num_msix", vf_num_msix))
		return false;
	if (!vf || emu_fn_ctrl_id(fn))
		return true;	/* a VF with a controller: the create says it is busy */
	uint16_t cur = emu_fn_num_msix(fn);
	if (!has_vf_num_msix && !cur) {
		rpc_send_invalid_params(req, "invalid parameter 'vf_num_msix': VF %s has no MSI-X vectors (reclaimed "
					"or released): give it vf_num_msix (its PF's pool has %u free)", emu_fn_vuid(fn),
					emu_pf_msix_free(emu_find_by_index(emu_fn_type(fn), emu_fn_pf_index(fn), -1)));
		return false;
	}
	if (!has_vf_num_msix || vf_num_msix == cur)
		return true;
	int rc = emu_vf_msix_set(fn, vf_num_msix, err, sizeof(err));
	if (rc) {
		answer_pool_error(req, rc, "vf_num_msix", err);
		return false;
	}
	m->vf = fn;
	m->before = cur;
	return true;
}

void ctrl_msix_undo(const struct ctrl_msix *m)
{
	char err[256];
	/* the vectors it took are still free: nothing ran in between */
	if (m->vf && emu_vf_msix_set(m->vf, m->before, err, sizeof(err)))
		log_warn("%s: MSI-X not given back after a failed create: %s", emu_fn_vuid(m->vf), err);
}

void ctrl_msix_created(struct emu_function *fn, bool dynamic_msix)
{
	if (dynamic_msix)
		emu_pf_msix_set_dynamic(fn, true);
}

/* --- destroy --- */

struct destroy_ctx {
	struct rpc_request *req;
	struct emu_function *release;	/* the VF whose vectors go back, or NULL */
};

void *ctrl_msix_destroy_begin(struct rpc_request *req, const char *ctrl_name, bool force, bool release_msix)
{
	char err[256];
	struct emu_function *fn = emu_find_by_ctrl(ctrl_name);
	bool vf = fn && emu_fn_is_vf(fn);

	if (vf && emu_fn_active(fn) && !force) {
		rpc_send_errno(req, -EBUSY, "%s is on VF %s, which the host enabled (SR-IOV): use force, or set "
			       "sriov_numvfs to 0 first", ctrl_name, emu_fn_vuid(fn));
		return NULL;
	}
	if (release_msix) {
		if (!vf) {
			rpc_send_invalid_params(req, "invalid parameter 'release_msix': applies only to VF controllers "
						"(%s is on a PF)", ctrl_name);
			return NULL;
		}
		int rc = emu_vf_msix_check(fn, 0, err, sizeof(err));
		if (rc) {
			answer_pool_error(req, rc, "release_msix", err);
			return NULL;
		}
	}
	struct destroy_ctx *d = malloc(sizeof(*d));
	if (!d) {
		rpc_send_errno(req, -ENOMEM, "out of memory");
		return NULL;
	}
	d->req = req;
	d->release = release_msix ? fn : NULL;
	return d;
}

void ctrl_msix_destroyed(void *arg, int rc, const char *msg)
{
	struct destroy_ctx *d = arg;
	char err[256];
	if (!rc && d->release) {
		int r = emu_vf_msix_set(d->release, 0, err, sizeof(err));
		if (r) {
			rpc_send_errno(d->req, r, "the controller is destroyed, but its MSI-X vectors stay with %s: %s",
				       emu_fn_vuid(d->release), err);
			free(d);
			return;
		}
	}
	ctrl_rpc_done(d->req, rc, msg);
	free(d);
}

/* --- modify, reclaim --- */

/* What c lists as its num_queues. */
static uint32_t listed_queues(const struct ctrl_family *f, void *c)
{
	json_t *j = f->json(c);
	json_int_t q = json_integer_value(json_object_get(j, "num_queues"));
	json_decref(j);
	return q > 0 ? (uint32_t)q : 0;
}

void ctrl_msix_modify(struct rpc_request *req, const struct ctrl_family *f, void *c, bool has_num_queues,
		      uint32_t num_queues, uint32_t num_msix)
{
	char err[256];
	const char *name = f->ctrl_name(c);
	struct emu_function *fn = emu_find_by_ctrl(name);

	if (!fn || !emu_fn_is_vf(fn)) {
		rpc_send_invalid_params(req, "invalid parameter 'num_msix': applies only to VF controllers (%s is on "
					"a PF)", name);
		return;
	}
	if (!in_table_range(req, "num_msix", num_msix))
		return;
	/* one vector per queue and one more (NVMe: the admin queue; virtio:
	 * the configuration change): vhost-user has no MSI-X to count */
	uint32_t q = has_num_queues ? num_queues : listed_queues(f, c);
	if ((emu_fn_type(fn) == EMU_TYPE_NVME || emu_get_config()->vblk_transport == EMU_VBLK_VFIO_USER) &&
	    q + 1 > num_msix) {
		rpc_send_invalid_params(req, "invalid parameter 'num_msix': %u vectors are too few for %u queues of "
					"%s (it needs %u)", num_msix, q, name, q + 1);
		return;
	}
	/* idle, as the family sees it (a driver with the function enabled):
	 * asked without a change */
	int rc = f->modify(c, false, 0, err, sizeof(err));
	if (!rc)
		rc = emu_vf_msix_check(fn, num_msix, err, sizeof(err));
	if (rc) {
		answer_pool_error(req, rc, "num_msix", err);
		return;
	}
	if (has_num_queues) {
		rc = f->modify(c, true, num_queues, err, sizeof(err));
		if (rc) {
			answer_pool_error(req, rc, "num_queues", err);
			return;
		}
	}
	rc = emu_vf_msix_set(fn, num_msix, err, sizeof(err));
	if (rc)
		answer_pool_error(req, rc, "num_msix", err);
	else
		rpc_send_bool(req, true);
}

void ctrl_msix_reclaim(struct rpc_request *req, const char *ctrl_name)
{
	char err[256];
	struct emu_function *fn = emu_find_by_ctrl(ctrl_name);
	if (!fn || emu_fn_is_vf(fn)) {
		rpc_send_invalid_params(req, "invalid parameter 'ctrl_id': %s is a VF controller; reclaim applies to "
					"the controller of a PF", ctrl_name);
		return;
	}
	int rc = emu_pf_msix_reclaim(fn, err, sizeof(err));
	if (rc)
		answer_pool_error(req, rc, "ctrl_id", err);
	else
		rpc_send_bool(req, true);
}
