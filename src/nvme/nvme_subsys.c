/* NVMe subsystems and namespaces. */
#include "nvme_internal.h"
#include "nvme_json.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct nvme_subsystem *g_subsys;

struct nvme_subsystem *nvme_subsystem_find(const char *nqn)
{
	for (struct nvme_subsystem *s = g_subsys; s; s = s->next)
		if (!strcmp(s->nqn, nqn))
			return s;
	return NULL;
}

struct nvme_subsystem *nvme_subsystem_first(void)
{
	return g_subsys;
}

struct nvme_subsystem *nvme_subsystem_next(struct nvme_subsystem *s)
{
	return s->next;
}

static bool printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return false;
	return true;
}

int nvme_subsystem_create(const struct nvme_subsys_params *p, char *err, size_t errlen)
{
	if (!p->nqn[0] || strlen(p->nqn) > 223 || !printable(p->nqn)) {
		snprintf(err, errlen, "nqn must be 1..223 printable characters");
		return -EINVAL;
	}
	if (nvme_subsystem_find(p->nqn)) {
		snprintf(err, errlen, "subsystem %s already exists", p->nqn);
		return -EEXIST;
	}
	struct nvme_subsystem *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	snprintf(s->nqn, sizeof(s->nqn), "%s", p->nqn);
	if (p->serial)
		snprintf(s->sn, sizeof(s->sn), "%s", p->serial);
	else {
		/* a stable serial derived from the NQN */
		uint32_t h = 2166136261u;
		for (const char *q = p->nqn; *q; q++)
			h = (h ^ (uint8_t)*q) * 16777619u;
		snprintf(s->sn, sizeof(s->sn), "OSNAP%08X", h);
	}
	snprintf(s->mn, sizeof(s->mn), "%s", p->model ? p->model : "osnap NVMe Controller");
	s->nn = p->nn;
	s->mnan = p->mnan;
	s->single_ctrl = p->single_ctrl;
	s->next_cntlid = 1;
	struct nvme_subsystem **pp = &g_subsys;
	while (*pp)
		pp = &(*pp)->next;
	*pp = s;
	log_info("NVMe subsystem %s created", s->nqn);
	return 0;
}

static int ns_count(struct nvme_subsystem *s)
{
	int n = 0;
	for (struct nvme_namespace *ns = s->ns; ns; ns = ns->next)
		n++;
	return n;
}

static void ns_free(struct nvme_namespace *ns)
{
	bdev_release(ns->bdev);
	free(ns);
}

int nvme_subsystem_destroy(const char *nqn, bool force, char *err, size_t errlen)
{
	struct nvme_subsystem **pp = &g_subsys, *s;
	while (*pp && strcmp((*pp)->nqn, nqn))
		pp = &(*pp)->next;
	s = *pp;
	if (!s) {
		snprintf(err, errlen, "subsystem %s does not exist", nqn);
		return -ENODEV;
	}
	int nctrl = 0;
	for (struct nvme_ctrl *c = nvme_ctrl_first(); c; c = nvme_ctrl_next(c))
		nctrl += c->ss == s;
	if (!force && (nctrl || s->ns)) {
		snprintf(err, errlen, "subsystem %s still has %d controller(s) and %d namespace(s); "
			 "destroy them first or use --force", nqn, nctrl, ns_count(s));
		return -EBUSY;
	}
	if (nctrl) {
		/* forced: the caller (RPC) destroys controllers first */
		snprintf(err, errlen, "subsystem %s still has controllers", nqn);
		return -EBUSY;
	}
	while (s->ns) {
		struct nvme_namespace *ns = s->ns;
		s->ns = ns->next;
		ns_free(ns);
	}
	*pp = s->next;
	log_info("NVMe subsystem %s destroyed", nqn);
	free(s);
	return 0;
}

int nvme_namespace_create(const struct nvme_ns_params *p, char *err, size_t errlen)
{
	struct nvme_subsystem *s = nvme_subsystem_find(p->nqn);
	if (!s) {
		snprintf(err, errlen, "subsystem %s does not exist", p->nqn);
		return -ENODEV;
	}
	if (p->nsid == 0 || p->nsid > s->nn || p->nsid == 0xffffffffu) {
		snprintf(err, errlen, "nsid %u is outside 1..%u (the subsystem's nn)", p->nsid, s->nn);
		return -EINVAL;
	}
	if (p->nsid > NVME_MAX_NS_PER_CTRL) {
		snprintf(err, errlen, "nsid %u: osnap supports NSIDs up to %u", p->nsid, NVME_MAX_NS_PER_CTRL);
		return -EINVAL;
	}
	if ((uint32_t)ns_count(s) >= s->mnan) {
		snprintf(err, errlen, "subsystem %s already has mnan=%u namespaces", s->nqn, s->mnan);
		return -ENOSPC;
	}
	struct nvme_namespace **pp = &s->ns;
	while (*pp && (*pp)->nsid < p->nsid)
		pp = &(*pp)->next;
	if (*pp && (*pp)->nsid == p->nsid) {
		snprintf(err, errlen, "namespace %u already exists in %s", p->nsid, s->nqn);
		return -EEXIST;
	}
	struct bdev *b = bdev_get_by_name(p->bdev);
	if (!b) {
		snprintf(err, errlen, "bdev %s does not exist", p->bdev);
		return -ENODEV;
	}
	if (b->block_size < 512 || b->block_size > 4096 || (b->block_size & (b->block_size - 1))) {
		snprintf(err, errlen, "bdev %s has block size %u; NVMe namespaces support 512..4096",
			 p->bdev, b->block_size);
		return -EINVAL;
	}
	char by[300];
	snprintf(by, sizeof(by), "namespace %u of %s", p->nsid, s->nqn);
	if (bdev_claim(b, by)) {
		char who[160];
		snprintf(err, errlen, "bdev %s is already used by %s; a namespace needs it to itself", p->bdev,
			 bdev_consumer(b, who, sizeof(who)));
		return -EBUSY;
	}
	struct nvme_namespace *ns = calloc(1, sizeof(*ns));
	if (!ns) {
		bdev_release(b);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	ns->ss = s;
	ns->nsid = p->nsid;
	ns->bdev = b;
	if (p->uuid)
		memcpy(ns->uuid, p->uuid, 16);
	else
		uuid_generate_random16(ns->uuid);
	if (p->nguid) {
		memcpy(ns->nguid, p->nguid, 16);
		ns->has_nguid = true;
	}
	if (p->eui64) {
		memcpy(ns->eui64, p->eui64, 8);
		ns->has_eui64 = true;
	}
	ns->next = *pp;
	*pp = ns;
	log_info("NVMe namespace %u of %s on bdev %s", ns->nsid, s->nqn, b->name);
	return 0;
}

int nvme_namespace_destroy(const char *nqn, uint32_t nsid, char *err, size_t errlen)
{
	struct nvme_subsystem *s = nvme_subsystem_find(nqn);
	if (!s) {
		snprintf(err, errlen, "subsystem %s does not exist", nqn);
		return -ENODEV;
	}
	struct nvme_namespace **pp = &s->ns;
	while (*pp && (*pp)->nsid != nsid)
		pp = &(*pp)->next;
	if (!*pp) {
		snprintf(err, errlen, "namespace %u does not exist in %s", nsid, nqn);
		return -ENODEV;
	}
	struct nvme_namespace *ns = *pp;
	if (ns->ctrl) {
		snprintf(err, errlen, "namespace %u is attached to %s; detach it first", nsid,
			 ns->ctrl->name);
		return -EBUSY;
	}
	*pp = ns->next;
	ns_free(ns);
	log_info("NVMe namespace %u of %s destroyed", nsid, nqn);
	return 0;
}

json_t *nvme_namespace_json(struct nvme_namespace *ns)
{
	char uuid[37];
	uuid_format16(ns->uuid, uuid);
	json_t *ctrls = json_array();
	if (ns->ctrl)
		json_array_append_new(ctrls, json_pack("{s:s}", "ctrl_id", ns->ctrl->name));
	return json_pack("{s:s, s:I, s:s, s:s, s:s, s:i, s:o}", "nqn", ns->ss->nqn,
			 "nsid", (json_int_t)ns->nsid, "bdev", ns->bdev->name, "uuid", uuid,
			 "ready", ns->ctrl && nvme_ctrl_driver_live(ns->ctrl) ? "Yes" : "No",
			 "max inflights per weight", 65535, "controllers", ctrls);
}

int nvme_namespace_list(const char *nqn, uint32_t nsid, json_t *arr, char *err, size_t errlen)
{
	if (nqn && !nvme_subsystem_find(nqn)) {
		snprintf(err, errlen, "subsystem %s does not exist", nqn);
		return -ENODEV;
	}
	for (struct nvme_subsystem *s = g_subsys; s; s = s->next) {
		if (nqn && strcmp(s->nqn, nqn))
			continue;
		for (struct nvme_namespace *ns = s->ns; ns; ns = ns->next)
			if (!nsid || ns->nsid == nsid)
				json_array_append_new(arr, nvme_namespace_json(ns));
	}
	return 0;
}

json_t *nvme_subsystem_json(struct nvme_subsystem *s)
{
	json_t *ctrls = json_array(), *nss = json_array();
	for (struct nvme_ctrl *c = nvme_ctrl_first(); c; c = nvme_ctrl_next(c))
		if (c->ss == s)
			json_array_append_new(ctrls, nvme_ctrl_json(c));
	for (struct nvme_namespace *ns = s->ns; ns; ns = ns->next)
		json_array_append_new(nss, nvme_namespace_json(ns));
	return json_pack("{s:s, s:s, s:s, s:I, s:I, s:b, s:o, s:o}", "nqn", s->nqn, "sn", s->sn,
			 "mn", s->mn, "nn", (json_int_t)s->nn, "mnan", (json_int_t)s->mnan,
			 "single_ctrl", s->single_ctrl, "controllers", ctrls, "namespaces", nss);
}

/* save_config: subsystems, then namespaces, then (from nvme_ctrl.c)
 * controllers and their attachments. */
void nvme_write_config_subsystems(json_t *cfg)
{
	for (struct nvme_subsystem *s = g_subsys; s; s = s->next) {
		json_array_append_new(cfg, json_pack("{s:s, s:{s:s, s:s, s:s, s:I, s:I, s:b}}",
			"method", "nvme_subsystem_create", "params", "nqn", s->nqn,
			"serial_number", s->sn, "model_number", s->mn, "nn", (json_int_t)s->nn,
			"mnan", (json_int_t)s->mnan, "single_ctrl", s->single_ctrl));
	}
	for (struct nvme_subsystem *s = g_subsys; s; s = s->next) {
		for (struct nvme_namespace *ns = s->ns; ns; ns = ns->next) {
			char uuid[37], hex[33];
			uuid_format16(ns->uuid, uuid);
			json_t *p = json_pack("{s:s, s:I, s:s, s:s}", "nqn", s->nqn, "nsid",
					      (json_int_t)ns->nsid, "bdev_name", ns->bdev->name, "uuid", uuid);
			/* the other identifiers a host sees (Identify CNS 03h) */
			if (ns->has_nguid) {
				for (int i = 0; i < 16; i++)
					snprintf(hex + 2 * i, 3, "%02x", ns->nguid[i]);
				json_object_set_new(p, "nguid", json_string(hex));
			}
			if (ns->has_eui64) {
				for (int i = 0; i < 8; i++)
					snprintf(hex + 2 * i, 3, "%02x", ns->eui64[i]);
				json_object_set_new(p, "eui64", json_string(hex));
			}
			json_array_append_new(cfg, json_pack("{s:s, s:o}", "method", "nvme_namespace_create",
							     "params", p));
		}
	}
}
