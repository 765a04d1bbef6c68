/* The emulation config file (osnapd -c FILE): the DPU firmware parameters
 * with SNAP's names and ranges, plus osnap's own EMU_* keys.
 * Lines NAME=VALUE; '#' starts a comment; blank lines are ignored. */
#ifndef OSNAP_EMU_CONFIG_H
#define OSNAP_EMU_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum emu_vblk_transport { EMU_VBLK_VHOST_USER, EMU_VBLK_VFIO_USER };
/* NVMe doorbells (EMU_NVME_DOORBELLS):
 * trap      the doorbell page is trapped: every write is a message to the
 *           service; with shadow doorbells (Doorbell Buffer Config) the host
 *           writes one only when EventIdx asks; idle queues cost nothing;
 * mmap      the page may be mapped by the client and is polled all the
 *           time (no shadow doorbells): what user-space drivers need;
 * adaptive  (default) both: the page may be mapped and shadow doorbells are
 *           offered; queues are polled while busy and, when idle, sleep
 *           until a trapped doorbell or a short, growing timer (a mapped
 *           page cannot wake anybody). */
enum emu_doorbells { EMU_DB_TRAP, EMU_DB_MMAP, EMU_DB_ADAPTIVE };

struct emu_config {
	bool sriov_en;
	bool pci_switch_enable;
	uint32_t pci_switch_num_port;	/* 0 or 2..32: hot-plug ports + 1 */
	bool nvme_enable;
	uint32_t nvme_num_pf;		/* 0..2 */
	uint32_t nvme_num_vf;		/* 0..256 per PF */
	uint32_t nvme_num_msix;		/* 0..63 (0 means the default) */
	uint32_t nvme_num_vf_msix;	/* 0..4095 */
	uint32_t nvme_max_queue_depth;	/* log2: 0 = 64 entries, N = 2^N, max 12 */
	bool vblk_enable;
	uint32_t vblk_num_pf;		/* 0..4 */
	uint32_t vblk_num_vf;		/* 0..2000 per PF */
	uint32_t vblk_num_msix;		/* 0..63 */
	uint32_t vblk_num_vf_msix;	/* 0..4095 */

	char dir[256];			/* EMU_DIR */
	char serial[13];		/* EMU_SERIAL: 12 characters */
	uint32_t msix_pool;		/* EMU_MSIX_POOL */
	uint32_t queue_pool;		/* EMU_QUEUE_POOL */
	char socket_group[64];		/* EMU_SOCKET_GROUP ("" = none) */
	uint32_t socket_mode;		/* EMU_SOCKET_MODE (octal), default 0600 */
	enum emu_vblk_transport vblk_transport;	/* EMU_VIRTIO_BLK_TRANSPORT */
	enum emu_doorbells nvme_doorbells;	/* EMU_NVME_DOORBELLS */
	uint32_t nvme_doze_max_us;	/* EMU_NVME_DOZE_MAX_US: adaptive doorbells,
					 * longest timer of an idle reactor (4000) */
	/* PCIe hot-plug (emu_hotplug.h): the VMM's QMP socket for the functions
	 * created without --qmp ("" = none: the VMM is not told), and the
	 * deadline of one QMP conversation (a hotplug, or a hotunplug with the
	 * guest's DEVICE_DELETED) */
	char hotplug_qmp[108];		/* EMU_HOTPLUG_QMP_SOCKET */
	uint32_t hotplug_timeout_ms;	/* EMU_HOTPLUG_TIMEOUT_MS (30000) */

	bool no_endpoints;		/* tests and fuzzing: functions without sockets */
};

/* Defaults: without -c, one NVMe PF and one virtio-blk PF. */
void emu_config_defaults(struct emu_config *cfg);
/* Parse text (the file's contents) on top of cfg. Returns 0 or -EINVAL
 * with "LINE: message" in err. name is used in messages. */
int emu_config_parse(struct emu_config *cfg, const char *name, const char *text,
		     char *err, size_t errlen);
int emu_config_load(struct emu_config *cfg, const char *path, char *err, size_t errlen);
/* Effective sizes. */
uint32_t emu_config_nvme_max_queue_entries(const struct emu_config *cfg);
uint32_t emu_config_pf_msix(const struct emu_config *cfg, int type);
uint32_t emu_config_vf_msix(const struct emu_config *cfg, int type);

#endif
