/* Hot-plugged PFs: ports, states, the VMM's QMP, the state file. See
 * emu_hotplug.h. */
#include "emu_hotplug.h"
#include "emu_internal.h"
#include "core/log.h"
#include "core/qmp_client.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_FILE "hotplug.json"
#define MAX_DETACHED 32		/* surprise removals still telling their VMM */

struct emu_hp {
	int port;
	enum emu_hp_state state;
	char qmp[EMU_HP_QMP_MAX];
	struct emu_hotplug_spec spec;	/* its qmp member is not kept (qmp above) */
	struct qmp_script *op;		/* the conversation under way */
	emu_hp_done_fn done;		/* its caller, until answered */
	void *arg;
};

/* the device_del of surprise removals, which no function waits for */
static struct qmp_script *g_detached[MAX_DETACHED];

static const char *const state_names[] = {
	[EMU_HP_POWER_OFF] = "POWER_OFF",
	[EMU_HP_PLUG_IN_PROGRESS] = "PLUG_IN_PROGRESS",
	[EMU_HP_POWER_ON] = "POWER_ON",
	[EMU_HP_UNPLUG_IN_PROGRESS] = "UNPLUG_IN_PROGRESS",
};

const char *emu_hp_state_name(enum emu_hp_state s)
{
	return (unsigned)s < sizeof(state_names) / sizeof(state_names[0]) ? state_names[s] : "?";
}

enum emu_hp_state emu_fn_hotplug_state(const struct emu_function *fn)
{
	return fn->hp ? fn->hp->state : EMU_HP_POWER_ON;
}

bool emu_fn_present(const struct emu_function *fn)
{
	return !fn->hp || fn->hp->state != EMU_HP_POWER_OFF;
}

const char *emu_fn_hotplug_qmp(const struct emu_function *fn)
{
	return fn->hp ? fn->hp->qmp : "";
}

const struct emu_hotplug_spec *emu_fn_hotplug_spec(const struct emu_function *fn)
{
	return fn->hp ? &fn->hp->spec : NULL;
}

int emu_fn_hotplug_port(const struct emu_function *fn)
{
	return fn->hp ? fn->hp->port : -1;
}

uint16_t emu_hp_num_msix(const struct emu_hp *hp)
{
	return hp->spec.num_msix;
}

void emu_hp_describe(const struct emu_hp *hp, struct pci_cfg_desc *d)
{
	const struct emu_hotplug_spec *s = &hp->spec;
	if (s->has_id)
		d->device_id = s->id;
	if (s->has_vid)
		d->vendor_id = s->vid;
	if (s->has_ssid)
		d->subsys_id = s->ssid;
	if (s->has_ssvid)
		d->subsys_vendor_id = s->ssvid;
	if (s->has_revid)
		d->revision = s->revid;
	if (s->has_class_code)
		d->class_code = s->class_code;
}

/* --- ports and indexes --- */

static int max_ports(void)
{
	const struct emu_config *c = emu_get_config();
	return c->pci_switch_enable && c->pci_switch_num_port >= 2 ? (int)c->pci_switch_num_port - 1 : 0;
}

static bool port_taken(int port)
{
	for (struct emu_function *pf = emu_pf_first(); pf; pf = emu_pf_next(pf))
		if (pf->hp && pf->hp->port == port)
			return true;
	return false;
}

static int free_pf_index(enum emu_type t)
{
	for (int i = 0;; i++)
		if (!emu_find_by_index(t, i, -1))
			return i;
}

/* --- the state file --- */

static json_t *fn_record(const struct emu_function *fn)
{
	const struct emu_hp *hp = fn->hp;
	const struct emu_hotplug_spec *s = &hp->spec;
	/* only stable states: a plug under way is not done, an unplug not either */
	enum emu_hp_state st = hp->state == EMU_HP_PLUG_IN_PROGRESS ? EMU_HP_POWER_OFF
			     : hp->state == EMU_HP_UNPLUG_IN_PROGRESS ? EMU_HP_POWER_ON : hp->state;
	json_t *o = json_pack("{s:s, s:i, s:i, s:s, s:s, s:s, s:i}", "type", fn->type == EMU_TYPE_NVME ? "NVME" : "VBLK",
			      "pf_index", fn->pf_index, "port", hp->port, "vuid", fn->vuid, "state",
			      emu_hp_state_name(st), "qmp", hp->qmp, "num_msix", s->num_msix);
	struct { const char *k; bool has; uint32_t v; } ids[] = {
		{ "id", s->has_id, s->id }, { "vid", s->has_vid, s->vid }, { "ssid", s->has_ssid, s->ssid },
		{ "ssvid", s->has_ssvid, s->ssvid }, { "revid", s->has_revid, s->revid },
		{ "class_code", s->has_class_code, s->class_code }, { "num_queues", s->num_queues != 0, s->num_queues },
		{ "queue_depth", s->queue_depth != 0, s->queue_depth },
	};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++)
		if (ids[i].has)
			json_object_set_new(o, ids[i].k, json_integer(ids[i].v));
	return o;
}

static void state_path(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", emu_get_config()->dir, name);
}

/* Write every hot-plugged PF to the state file: a temporary file renamed
 * over the old one (a crash of osnapd leaves the old or the new, whole).
 * No fsync: the file must survive osnapd, not the machine (a reboot is the
 * seed's cold boot, and EMU_DIR is normally under /run), and the main
 * thread does not wait for the disk. */
static void save(void)
{
	if (emu_get_config()->no_endpoints)
		return;
	char path[400], tmp[400];
	state_path(path, sizeof(path), STATE_FILE);
	state_path(tmp, sizeof(tmp), "." STATE_FILE ".tmp");
	json_t *arr = json_array();
	for (struct emu_function *pf = emu_pf_first(); pf; pf = emu_pf_next(pf))
		if (pf->hp)
			json_array_append_new(arr, fn_record(pf));
	json_t *doc = json_pack("{s:i, s:o}", "version", 1, "functions", arr);
	char *text = json_dumps(doc, JSON_INDENT(1));
	json_decref(doc);
	int fd = text ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600) : -1;
	size_t len = text ? strlen(text) : 0;
	bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len;
	if (fd >= 0 && close(fd) < 0)
		ok = false;
	if (ok && rename(tmp, path) < 0)
		ok = false;
	if (!ok) {
		log_err("cannot write the hot-plug state file %s: %s (the hot-plugged functions will not come "
			"back after a restart)", path, strerror(errno));
		unlink(tmp);
	}
	free(text);
}

/* --- presence: the endpoint --- */

static int set_present(struct emu_function *fn, bool present, char *err, size_t errlen)
{
	if (emu_fn_vfu_served(fn)) {
		if (present && !fn->ep)
			return vfu_endpoint_create(fn, err, errlen);
		if (!present)
			vfu_endpoint_destroy(fn);
	} else if (fn->ops && fn->ops->presence) {
		fn->ops->presence(fn->ctrl, present);
	}
	return 0;
}

static void set_state(struct emu_function *fn, enum emu_hp_state st)
{
	if (fn->hp->state == st)
		return;
	log_info("%s: hot-plug state %s -> %s", fn->vuid, emu_hp_state_name(fn->hp->state), emu_hp_state_name(st));
	fn->hp->state = st;
}

/* --- creation --- */

static struct emu_function *make(const struct emu_hotplug_spec *s, const char *qmp, int pf_index, int port,
				 char *err, size_t errlen)
{
	struct emu_hp *hp = calloc(1, sizeof(*hp));
	if (!hp) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	hp->port = port;
	hp->state = EMU_HP_POWER_OFF;
	hp->spec = *s;
	hp->spec.qmp = NULL;
	snprintf(hp->qmp, sizeof(hp->qmp), "%s", qmp);
	struct emu_function *fn = emu_pf_create_hotplugged(s->type, pf_index, port, hp, err, errlen);
	if (fn && emu_pf_add(fn, err, errlen))
		return NULL;
	return fn;
}

int emu_hotplug_create(const struct emu_hotplug_spec *s, struct emu_function **out, char *err, size_t errlen)
{
	const struct emu_config *c = emu_get_config();
	const char *qmp = s->qmp ? s->qmp : c->hotplug_qmp;
	if (!max_ports()) {
		snprintf(err, errlen, "PCIe hot-plug needs an emulated PCIe switch: PCI_SWITCH_EMULATION_ENABLE=1 and "
			 "PCI_SWITCH_EMULATION_NUM_PORT=2..32 in the emulation config");
		return -EOPNOTSUPP;
	}
	if (!(s->type == EMU_TYPE_NVME ? c->nvme_enable : c->vblk_enable)) {
		snprintf(err, errlen, "%s emulation is disabled (%s_EMULATION_ENABLE=0)",
			 s->type == EMU_TYPE_NVME ? "NVMe" : "virtio-blk", s->type == EMU_TYPE_NVME ? "NVME" : "VIRTIO_BLK");
		return -EOPNOTSUPP;
	}
	if (strlen(qmp) >= EMU_HP_QMP_MAX) {
		snprintf(err, errlen, "invalid parameter 'qmp': a socket path of at most %d characters",
			 EMU_HP_QMP_MAX - 1);
		return -EINVAL;
	}
	int port = 0;
	while (port < max_ports() && port_taken(port))
		port++;
	if (port == max_ports()) {
		snprintf(err, errlen, "no free PCIe switch port: the %d hot-plug ports (PCI_SWITCH_EMULATION_NUM_PORT - 1) "
			 "are taken", max_ports());
		return -ENOSPC;
	}
	struct emu_function *fn = make(s, qmp, free_pf_index(s->type), port, err, errlen);
	if (!fn)
		return -ENOSPC;
	log_info("function %s (hot-plugged %s PF %d, %s, port %d, vhca_id %u, %u MSI-X, QMP %s): POWER_OFF", fn->vuid,
		 fn->type == EMU_TYPE_NVME ? "NVMe" : "virtio-blk", fn->pf_index, fn->bdf, port, fn->vhca_id,
		 fn->num_msix, qmp[0] ? qmp : "none");
	save();
	*out = fn;
	return 0;
}

/* --- plug and unplug --- */

int emu_hotplug_check(const struct emu_function *fn, bool plug, char *err, size_t errlen)
{
	if (!fn->hp) {
		snprintf(err, errlen, "function %s is not hot-plugged (a static function is always present)", fn->vuid);
		return -EINVAL;
	}
	const struct emu_hp *hp = fn->hp;
	if (hp->op || hp->state == EMU_HP_PLUG_IN_PROGRESS || hp->state == EMU_HP_UNPLUG_IN_PROGRESS) {
		snprintf(err, errlen, "function %s: a hot-plug operation is under way (%s)", fn->vuid,
			 emu_hp_state_name(hp->state));
		return -EBUSY;
	}
	if (plug && hp->state == EMU_HP_POWER_ON) {
		snprintf(err, errlen, "function %s is already plugged (POWER_ON)", fn->vuid);
		return -EALREADY;
	}
	if (!plug && hp->state == EMU_HP_POWER_OFF) {
		snprintf(err, errlen, "function %s is not plugged (POWER_OFF)", fn->vuid);
		return -EALREADY;
	}
	if (plug && hp->qmp[0] && !emu_fn_vfu_served(fn) && !fn->ctrl) {
		snprintf(err, errlen, "function %s has no controller yet: its vhost-user endpoint, which the VMM "
			 "connects to, is its controller's (create the controller, then hotplug it)", fn->vuid);
		return -EPERM;
	}
	return 0;
}

static void answer(struct emu_function *fn, int rc, const char *msg)
{
	emu_hp_done_fn done = fn->hp->done;
	fn->hp->done = NULL;
	if (done)
		done(fn->hp->arg, rc, msg);
}

static const char *chardev_id(const struct emu_function *fn, char *buf, size_t len)
{
	snprintf(buf, len, "%s-chr", fn->vuid);
	return buf;
}

static void plug_done(void *arg, int rc, const char *msg)
{
	struct emu_function *fn = arg;
	fn->hp->op = NULL;
	if (rc) {
		/* nothing changes: the endpoint goes again (the caller retries) */
		log_warn("%s: hotplug failed: %s", fn->vuid, msg);
		set_present(fn, false, NULL, 0);
		set_state(fn, EMU_HP_POWER_OFF);
		answer(fn, rc, msg);
		return;
	}
	set_state(fn, EMU_HP_POWER_ON);
	save();
	answer(fn, 0, NULL);
}

void emu_hotplug_plug(struct emu_function *fn, uint32_t num_queues, emu_hp_done_fn done, void *arg)
{
	struct emu_hp *hp = fn->hp;
	char err[300], chr[64];
	hp->done = done;
	hp->arg = arg;
	set_state(fn, EMU_HP_PLUG_IN_PROGRESS);
	int rc = set_present(fn, true, err, sizeof(err));
	if (rc) {
		set_state(fn, EMU_HP_POWER_OFF);
		answer(fn, rc, err);
		return;
	}
	if (!hp->qmp[0]) {
		set_state(fn, EMU_HP_POWER_ON);
		save();
		answer(fn, 0, "no QMP socket (--qmp or EMU_HOTPLUG_QMP_SOCKET): the endpoint is up, the VMM was "
			      "not told: add the device to the VM yourself");
		return;
	}
	struct qmp_script *s = qmp_script_new();
	if (!s)
		abort();
	if (emu_fn_vfu_served(fn)) {
		qmp_script_cmd(s, "device_add",
			       json_pack("{s:s, s:s, s:{s:s, s:s}}", "driver", "vfio-user-pci", "id", fn->vuid, "socket",
					 "type", "unix", "path", fn->sock_path),
			       NULL, NULL, NULL);
	} else {
		chardev_id(fn, chr, sizeof(chr));
		qmp_script_cmd(s, "chardev-add",
			       json_pack("{s:s, s:{s:s, s:{s:{s:s, s:{s:s}}, s:b}}}", "id", chr, "backend", "type", "socket",
					 "data", "addr", "type", "unix", "data", "path", fn->sock_path, "server", 0),
			       NULL, "chardev-remove", json_pack("{s:s}", "id", chr));
		json_t *dev = json_pack("{s:s, s:s, s:s}", "driver", "vhost-user-blk-pci", "id", fn->vuid, "chardev", chr);
		if (num_queues)
			json_object_set_new(dev, "num-queues", json_integer(num_queues));
		qmp_script_cmd(s, "device_add", dev, NULL, NULL, NULL);
	}
	log_info("%s: hotplug through QMP %s", fn->vuid, hp->qmp);
	hp->op = qmp_script_run(s, hp->qmp, emu_get_config()->hotplug_timeout_ms, plug_done, fn);
}

static void unplug_progress(void *arg)
{
	struct emu_function *fn = arg;
	answer(fn, 0, NULL);	/* without wait_for_done: the VMM took the request */
}

static void unplug_done(void *arg, int rc, const char *msg)
{
	struct emu_function *fn = arg;
	fn->hp->op = NULL;
	if (rc) {
		/* the device stays where it was (the caller retries) */
		log_warn("%s: hotunplug failed: %s", fn->vuid, msg);
		set_state(fn, EMU_HP_POWER_ON);
		answer(fn, rc, msg);
		return;
	}
	set_present(fn, false, NULL, 0);
	set_state(fn, EMU_HP_POWER_OFF);
	save();
	answer(fn, 0, NULL);
}

/* device_del, DEVICE_DELETED, then the chardev (vhost-user) */
static struct qmp_script *unplug_script(const struct emu_function *fn)
{
	char chr[64];
	struct qmp_script *s = qmp_script_new();
	if (!s)
		abort();
	qmp_script_cmd(s, "device_del", json_pack("{s:s}", "id", fn->vuid), "DeviceNotFound", NULL, NULL);
	qmp_script_wait_event(s, "DEVICE_DELETED", fn->vuid);
	if (!emu_fn_vfu_served(fn)) {
		qmp_script_cmd(s, "chardev-remove", json_pack("{s:s}", "id", chardev_id(fn, chr, sizeof(chr))), NULL,
			       NULL, NULL);
		qmp_script_ignore_error(s);	/* already gone is fine */
	}
	return s;
}

void emu_hotplug_unplug(struct emu_function *fn, bool wait, emu_hp_done_fn done, void *arg)
{
	struct emu_hp *hp = fn->hp;
	hp->done = done;
	hp->arg = arg;
	if (!hp->qmp[0]) {
		set_present(fn, false, NULL, 0);
		set_state(fn, EMU_HP_POWER_OFF);
		save();
		answer(fn, 0, "no QMP socket (--qmp or EMU_HOTPLUG_QMP_SOCKET): the endpoint is gone, the VMM was "
			      "not told: remove the device from the VM yourself");
		return;
	}
	set_state(fn, EMU_HP_UNPLUG_IN_PROGRESS);
	struct qmp_script *s = unplug_script(fn);
	if (!wait)
		qmp_script_on_progress(s, unplug_progress, fn);
	log_info("%s: hotunplug through QMP %s%s", fn->vuid, hp->qmp, wait ? ", waiting for DEVICE_DELETED" : "");
	hp->op = qmp_script_run(s, hp->qmp, emu_get_config()->hotplug_timeout_ms, unplug_done, fn);
}

/* --- destruction --- */

static void detached_done(void *arg, int rc, const char *msg)
{
	struct qmp_script **slot = arg;
	*slot = NULL;
	if (rc)
		log_warn("surprise removal: the VMM was not told: %s", msg);
}

/* Tell the VMM of a surprise removal without waiting for it. */
static void tell_detached(const struct emu_function *fn)
{
	for (int i = 0; i < MAX_DETACHED; i++) {
		if (g_detached[i])
			continue;
		g_detached[i] = qmp_script_run(unplug_script(fn), fn->hp->qmp, emu_get_config()->hotplug_timeout_ms,
					       detached_done, &g_detached[i]);
		return;
	}
	log_warn("%s: too many surprise removals under way: the VMM is not told", fn->vuid);
}

int emu_hotplug_destroy(struct emu_function *fn, bool force, char *err, size_t errlen)
{
	if (!fn->hp) {
		snprintf(err, errlen, "function %s is not hot-plugged: static functions cannot be destroyed", fn->vuid);
		return -EINVAL;
	}
	if (fn->ctrl) {
		snprintf(err, errlen, "function %s has controller %s: destroy it first", fn->vuid, fn->ctrl_id);
		return -EBUSY;
	}
	struct emu_hp *hp = fn->hp;
	if (!force && hp->op) {
		snprintf(err, errlen, "function %s: a hot-plug operation is under way (%s)", fn->vuid,
			 emu_hp_state_name(hp->state));
		return -EBUSY;
	}
	if (!force && hp->state != EMU_HP_POWER_OFF) {
		snprintf(err, errlen, "function %s is %s: unplug it first (or force a surprise removal)", fn->vuid,
			 emu_hp_state_name(hp->state));
		return -EPERM;
	}
	if (hp->op)
		qmp_script_cancel(hp->op);	/* answers its caller -ECANCELED */
	if (hp->state != EMU_HP_POWER_OFF && hp->qmp[0])
		tell_detached(fn);
	set_present(fn, false, NULL, 0);
	log_info("function %s (hot-plugged, port %d) destroyed%s", fn->vuid, hp->port, force ? " (forced)" : "");
	emu_pf_remove(fn);
	save();
	return 0;
}

/* --- start and stop --- */

static int restore_one(json_t *o, char *err, size_t errlen)
{
	struct emu_hotplug_spec s = { 0 };
	const char *type = NULL, *vuid = NULL, *state = NULL, *qmp = "";
	int pf_index = -1, port = -1, num_msix = 0;
	json_error_t je;
	if (json_unpack_ex(o, &je, 0, "{s:s, s:i, s:i, s:s, s:s, s?:s, s?:i}", "type", &type, "pf_index", &pf_index,
			   "port", &port, "vuid", &vuid, "state", &state, "qmp", &qmp, "num_msix", &num_msix)) {
		snprintf(err, errlen, "an entry: %s", je.text);
		return -EINVAL;
	}
	struct { const char *k; bool *has; int v; } ids[] = {
		{ "id", &s.has_id, 0 }, { "vid", &s.has_vid, 0 }, { "ssid", &s.has_ssid, 0 },
		{ "ssvid", &s.has_ssvid, 0 }, { "revid", &s.has_revid, 0 }, { "class_code", &s.has_class_code, 0 },
	};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		json_t *v = json_object_get(o, ids[i].k);
		*ids[i].has = json_is_integer(v);
		ids[i].v = (int)json_integer_value(v);
	}
	s.id = (uint16_t)ids[0].v;
	s.vid = (uint16_t)ids[1].v;
	s.ssid = (uint16_t)ids[2].v;
	s.ssvid = (uint16_t)ids[3].v;
	s.revid = (uint8_t)ids[4].v;
	s.class_code = (uint32_t)ids[5].v & 0xffffff;
	s.num_msix = (uint16_t)(num_msix > 0 && num_msix <= 2048 ? num_msix : 0);
	json_int_t nq = json_integer_value(json_object_get(o, "num_queues"));
	json_int_t qd = json_integer_value(json_object_get(o, "queue_depth"));
	s.num_queues = nq > 0 && nq <= 62 ? (uint32_t)nq : 0;
	s.queue_depth = qd > 0 && qd <= 256 ? (uint32_t)qd : 0;
	bool on = !strcmp(state, "POWER_ON");
	if (!strcmp(type, "NVME"))
		s.type = EMU_TYPE_NVME;
	else if (!strcmp(type, "VBLK"))
		s.type = EMU_TYPE_VBLK;
	else {
		snprintf(err, errlen, "%s: unknown type %s", vuid, type);
		return -EINVAL;
	}
	if (port < 0 || port >= max_ports() || port_taken(port)) {
		snprintf(err, errlen, "%s: port %d does not fit the emulation config (%d hot-plug ports)", vuid, port,
			 max_ports());
		return -EINVAL;
	}
	if (pf_index < 0 || pf_index > 255 || emu_find_by_index(s.type, pf_index, -1) ||
	    (!on && strcmp(state, "POWER_OFF")) || strlen(qmp) >= EMU_HP_QMP_MAX) {
		snprintf(err, errlen, "%s: pf_index %d taken or out of range, or a bad state or qmp", vuid, pf_index);
		return -EINVAL;
	}
	struct emu_function *fn = make(&s, qmp, pf_index, port, err, errlen);
	if (!fn)
		return -EINVAL;
	if (strcmp(fn->vuid, vuid)) {
		snprintf(err, errlen, "%s comes back as %s (EMU_SERIAL changed?)", vuid, fn->vuid);
		emu_pf_remove(fn);
		return -EINVAL;
	}
	if (on) {
		fn->hp->state = EMU_HP_POWER_ON;
		int rc = set_present(fn, true, err, errlen);
		if (rc)
			return rc;
	}
	log_info("function %s (hot-plugged %s PF %d, %s, port %d, vhca_id %u): back in %s", fn->vuid, type,
		 fn->pf_index, fn->bdf, port, fn->vhca_id, state);
	return 0;
}

int emu_hotplug_restore(char *err, size_t errlen)
{
	if (emu_get_config()->no_endpoints)
		return 0;
	char path[400], why[300];
	state_path(path, sizeof(path), STATE_FILE);
	if (access(path, F_OK) < 0)
		return 0;
	json_error_t je;
	json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	json_t *arr = json_object_get(doc, "functions");
	int rc = 0;
	if (!doc || !json_is_array(arr)) {
		snprintf(why, sizeof(why), "%s", doc ? "no \"functions\" array" : je.text);
		rc = -EINVAL;
	}
	for (size_t i = 0; !rc && i < json_array_size(arr); i++)
		rc = restore_one(json_array_get(arr, i), why, sizeof(why));
	json_decref(doc);
	if (rc)
		snprintf(err, errlen, "%s (the hot-plugged functions kept across restarts): %s; fix the emulation config, "
			 "or remove the file to start without them (a cold boot)", path, why);
	return rc;
}

void emu_hotplug_fini(void)
{
	for (;;) {
		/* a cancelled legacy attach destroys its function: look again
		 * from the start after each */
		struct emu_function *pf = emu_pf_first();
		while (pf && !(pf->hp && pf->hp->op))
			pf = emu_pf_next(pf);
		if (!pf)
			break;
		qmp_script_cancel(pf->hp->op);	/* its done clears op */
	}
	for (int i = 0; i < MAX_DETACHED; i++)
		if (g_detached[i])
			qmp_script_cancel(g_detached[i]);
}
