/* NVMe controllers as JSON: listings, statistics and save_config. */
#include "nvme_internal.h"
#include "nvme_json.h"
#include "emu/emu_msix_pool.h"
#include "core/log.h"
#include "core/thread.h"

#include <jansson.h>


static const char *state_name(const struct nvme_ctrl *c)
{
	if (c->suspended)
		return "SUSPENDED";
	switch (c->state) {
	case NVME_CTRL_READY: return "STARTED";
	case NVME_CTRL_FATAL: return "FATAL";
	case NVME_CTRL_SHUTDOWN: return "SHUTDOWN";
	default: return "STOPPED";
	}
}

json_t *nvme_ctrl_json(struct nvme_ctrl *c)
{
	json_t *nss = json_array();
	for (struct nvme_namespace *ns = c->ss->ns; ns; ns = ns->next) {
		if (ns->ctrl != c)
			continue;
		char uuid[37];
		uuid_format16(ns->uuid, uuid);
		json_array_append_new(nss, json_pack("{s:I, s:s, s:s}", "nsid", (json_int_t)ns->nsid,
						     "bdev", ns->bdev->name, "uuid", uuid));
	}
	json_t *o = json_pack("{s:s, s:s, s:i, s:s, s:s, s:I, s:i, s:i, s:i, s:i, s:b, s:s, s:b}",
		"ctrl_id", c->name, "nqn", c->ss->nqn, "cntlid", c->cntlid,
		"vuid", emu_fn_vuid(c->fn), "pci_bdf", emu_fn_bdf(c->fn),
		"vhca_id", (json_int_t)emu_fn_vhca_id(c->fn), "mdts", c->mdts,
		"num_queues", c->max_io_queues, "max_queues", NVME_MAX_IO_QUEUES,
		"num_msix", emu_fn_num_msix(c->fn), "plugged", true, "state", state_name(c),
		"admin_only", c->admin_only);
	json_object_set_new(o, "pf_index", json_integer(emu_fn_pf_index(c->fn)));
	/* SNAP's free pool of a PF's dynamic MSI-X (seed: 'num_free_msix'):
	 * what a VF can take now; a VF has none */
	json_object_set_new(o, "num_free_msix", json_integer(emu_pf_msix_free(c->fn)));
	if (!emu_fn_is_vf(c->fn))
		json_object_set_new(o, "dynamic_msix", json_boolean(emu_pf_msix_dynamic(c->fn)));
	if (emu_fn_is_vf(c->fn))
		json_object_set_new(o, "vf_index", json_integer(emu_fn_vf_index(c->fn)));
	json_object_set_new(o, "namespaces", nss);
	return o;
}

json_t *nvme_ctrl_io_stats_json(struct nvme_ctrl *c)
{
	json_t *qs = json_array();
	uint64_t r = 0, w = 0, f = 0;
	for (int q = 1; q <= NVME_MAX_IO_QUEUES; q++) {
		struct nvme_sq *sq = c->sqs[q];
		if (!sq)
			continue;
		uint64_t qr = __atomic_load_n(&sq->reads, __ATOMIC_RELAXED);
		uint64_t qw = __atomic_load_n(&sq->writes, __ATOMIC_RELAXED);
		uint64_t qf = __atomic_load_n(&sq->flushes, __ATOMIC_RELAXED);
		json_array_append_new(qs, json_pack("{s:i, s:i, s:I, s:I, s:I}", "queue_id", q,
			"core_id", reactor_core(sq->reactor), "read_io_count", (json_int_t)qr,
			"write_io_count", (json_int_t)qw, "flush_io_count", (json_int_t)qf));
		r += qr;
		w += qw;
		f += qf;
	}
	return json_pack("{s:s, s:o, s:I, s:I, s:I}", "ctrl_id", c->name, "queues", qs,
			 "read_io_count", (json_int_t)r, "write_io_count", (json_int_t)w,
			 "flush_io_count", (json_int_t)f);
}

json_t *nvme_ctrl_debug_stats_json(struct nvme_ctrl *c)
{
	json_t *sqs = json_array(), *cqs = json_array();
	for (int q = 0; q <= NVME_MAX_IO_QUEUES; q++) {
		struct nvme_sq *sq = c->sqs[q];
		struct nvme_cq *cq = c->cqs[q];
		if (sq)
			json_array_append_new(sqs, json_pack("{s:i, s:I, s:i, s:i, s:s, s:I, s:I, s:I}",
				"qid", q, "depth", (json_int_t)sq->size, "cqid", sq->cq->qid,
				"reactor", sq->reactor,
				"state", q ? qlife_state_name(qlife_state(&sq->life)) : "RUNNING",
				"tail_doorbell", (json_int_t)nvme_sq_tail_doorbell(sq),
				"head", (json_int_t)__atomic_load_n(&sq->head, __ATOMIC_RELAXED),
				"received", (json_int_t)__atomic_load_n(&sq->received, __ATOMIC_RELAXED)));
		if (cq)
			json_array_append_new(cqs, json_pack("{s:i, s:I, s:s, s:I, s:I, s:I}",
				"qid", q, "depth", (json_int_t)cq->size, "state", "RUNNING",
				"head_doorbell", (json_int_t)nvme_cq_head_doorbell(cq),
				"tail", (json_int_t)__atomic_load_n(&cq->tail, __ATOMIC_RELAXED),
				"completions", (json_int_t)__atomic_load_n(&cq->completions, __ATOMIC_RELAXED)));
	}
	return json_pack("{s:s, s:{s:I, s:I}, s:o, s:o}", "ctrl_id", c->name, "bar",
			 "cc", (json_int_t)nvme_reg32(c, NVME_REG_CC), "csts",
			 (json_int_t)nvme_reg32(c, NVME_REG_CSTS), "sqs", sqs, "cqs", cqs);
}


void nvme_write_config(json_t *cfg)
{
	nvme_write_config_subsystems(cfg);
	for (struct nvme_ctrl *c = nvme_ctrl_first(); c; c = nvme_ctrl_next(c)) {
		json_t *p = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:b}", "nqn", c->ss->nqn,
			"ctrl_id", c->name, "vuid", emu_fn_vuid(c->fn),
			"num_queues", (json_int_t)c->max_io_queues, "mdts", (json_int_t)c->mdts,
			"fw_slots", (json_int_t)c->fw_slots, "suspended", true);
		if (c->admin_only)
			json_object_set_new(p, "admin_only", json_true());
		if (c->quirks)
			json_object_set_new(p, "quirks", json_integer(c->quirks));
		if (c->opt_compare >= 0)
			json_object_set_new(p, "compare", json_integer(c->opt_compare));
		if (c->opt_compare_write >= 0)
			json_object_set_new(p, "compare_write", json_integer(c->opt_compare_write));
		if (c->opt_dsm >= 0)
			json_object_set_new(p, "dsm", json_integer(c->opt_dsm));
		if (c->opt_write_zeroes >= 0)
			json_object_set_new(p, "write_zeroes", json_integer(c->opt_write_zeroes));
		emu_msix_write_config(c->fn, p);
		json_array_append_new(cfg, json_pack("{s:s, s:o}", "method", "nvme_controller_create",
						     "params", p));
		for (struct nvme_namespace *ns = c->ss->ns; ns; ns = ns->next)
			if (ns->ctrl == c)
				json_array_append_new(cfg, json_pack("{s:s, s:{s:s, s:I}}", "method",
					"nvme_controller_attach_ns", "params", "ctrl_id", c->name,
					"nsid", (json_int_t)ns->nsid));
		if (!c->suspended)
			json_array_append_new(cfg, json_pack("{s:s, s:{s:s}}", "method",
				"nvme_controller_resume", "params", "ctrl_id", c->name));
	}
}
