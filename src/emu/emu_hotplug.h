/* PCIe hot-plug of PFs (SNAP's *_function_create, *_controller_hotplug,
 * *_emulation_device_attach, emulation_device_detach...).
 *
 * A hot-plugged PF sits behind a port of the emulated PCIe switch (at most
 * PCI_SWITCH_EMULATION_NUM_PORT - 1 of them, bus 0x80 + port), has no
 * VFs, and goes through the states of SNAP's emulation_function_list:
 *
 *   POWER_OFF --plug--> PLUG_IN_PROGRESS --> POWER_ON
 *   POWER_ON --unplug--> UNPLUG_IN_PROGRESS --> POWER_OFF
 *
 * Its endpoint (EMU_DIR/{VUID}.sock: vfio-user for NVMe, the configured
 * virtio-blk transport for virtio-blk) exists from PLUG_IN_PROGRESS to the
 * end of UNPLUG_IN_PROGRESS. Announcing it is the VMM's job: given a QMP
 * socket (the function's, or EMU_HOTPLUG_QMP_SOCKET), plug does
 * chardev-add (vhost-user) + device_add (id = the VUID) and unplug does
 * device_del, waits for DEVICE_DELETED, then chardev-remove; without one,
 * the endpoint appears and disappears and the answer says the VMM must be
 * told. A failed plug or unplug changes nothing (the caller retries).
 *
 * The hot-plugged PFs and their stable states are kept in EMU_DIR/hotplug.json
 * (replaced atomically at every change) and come back when osnapd starts
 * again, until they are destroyed. Main thread. */
#ifndef OSNAP_EMU_HOTPLUG_H
#define OSNAP_EMU_HOTPLUG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "emu.h"

enum emu_hp_state {
	EMU_HP_POWER_OFF,
	EMU_HP_PLUG_IN_PROGRESS,
	EMU_HP_POWER_ON,
	EMU_HP_UNPLUG_IN_PROGRESS,
};

#define EMU_HP_QMP_MAX 108	/* a Unix socket path */

/* What a new hot-plugged PF is made of; has_* false: the type's default. */
struct emu_hotplug_spec {
	enum emu_type type;
	const char *qmp;	/* NULL: EMU_HOTPLUG_QMP_SOCKET; "": none */
	bool has_id, has_vid, has_ssid, has_ssvid, has_revid, has_class_code;
	uint16_t id, vid, ssid, ssvid;
	uint8_t revid;
	uint32_t class_code;
	uint16_t num_msix;	/* 0: the emulation config's */
	/* the legacy attach's queue geometry, kept and listed (0: not given) */
	uint32_t num_queues, queue_depth;
};

/* The spec a hot-plugged PF was made of (NULL for a static function). */
const struct emu_hotplug_spec *emu_fn_hotplug_spec(const struct emu_function *fn);

/* Create a PF in POWER_OFF on the first free port. Errors (message in err):
 * -EOPNOTSUPP  the emulation config has no PCIe switch
 * -ENOSPC      every port is taken, or the MSI-X pool is short
 * -EINVAL      a bad spec (a message naming the parameter) */
int emu_hotplug_create(const struct emu_hotplug_spec *s, struct emu_function **out, char *err, size_t errlen);
/* Destroy a hot-plugged PF: POWER_OFF (or any state with force: a surprise
 * removal, the VMM told with device_del when it can be, not waited for),
 * no controller on it. -EINVAL not hot-plugged, -EBUSY controller or an
 * operation under way, -EPERM powered on without force. */
int emu_hotplug_destroy(struct emu_function *fn, bool force, char *err, size_t errlen);

/* done(arg, rc, msg): rc 0 with msg NULL (the VMM was told) or a note for
 * the caller (no QMP socket: the VMM must be told); or -errno with msg. */
typedef void (*emu_hp_done_fn)(void *arg, int rc, const char *msg);

/* Whether plug (true) or unplug (false) may start now: 0, or -EINVAL (not
 * hot-plugged), -EBUSY (under way), -EALREADY (already in that state),
 * -EPERM (a vhost-user function to announce through QMP has no controller
 * yet: its endpoint is its controller's), with a message. */
int emu_hotplug_check(const struct emu_function *fn, bool plug, char *err, size_t errlen);
/* Power on and announce (after emu_hotplug_check). num_queues: for a
 * vhost-user function, the controller's queue count (device_add's
 * num-queues); 0 otherwise. done may be called before this returns. */
void emu_hotplug_plug(struct emu_function *fn, uint32_t num_queues, emu_hp_done_fn done, void *arg);
/* Announce the removal and power off (after emu_hotplug_check). wait:
 * answer once the guest released the device (DEVICE_DELETED), else once the
 * VMM accepted the request (the state says the rest). */
void emu_hotplug_unplug(struct emu_function *fn, bool wait, emu_hp_done_fn done, void *arg);

/* State of a hot-plugged PF (POWER_ON for a static one). */
enum emu_hp_state emu_fn_hotplug_state(const struct emu_function *fn);
const char *emu_hp_state_name(enum emu_hp_state s);
/* Its QMP socket ("" none) and switch port (-1 for a static function). */
const char *emu_fn_hotplug_qmp(const struct emu_function *fn);
int emu_fn_hotplug_port(const struct emu_function *fn);

#endif
