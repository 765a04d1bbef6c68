/* Internals of the device plane, shared by its files and providers. */
#ifndef OSNAP_EMU_INTERNAL_H
#define OSNAP_EMU_INTERNAL_H

#include <stdatomic.h>

#include "emu.h"
#include "pci_config.h"

#define EMU_MAX_DMA_REGIONS 512
#define EMU_NUM_REGIONS 9	/* VFIO PCI regions: BAR0-5, ROM, config, VGA */
#define EMU_REGION_CONFIG 7

struct emu_region {
	uint64_t gpa, size;
	uint8_t *hva;		/* NULL: a region the client shared without a file
				 * descriptor (firmware ROM and other non-shared
				 * memory); it is known, so that its unmap
				 * succeeds, but osnap cannot reach into it */
	int prot;		/* EMU_DMA_READ | EMU_DMA_WRITE */
	int fault_id;		/* guest_fault watch of hva (-1: none) */
};

/* An immutable snapshot of the client's memory map, sorted by gpa. A new
 * one is published on every change; the old one is freed after every
 * reactor has passed a quiescent point (emu_sync). */
struct emu_memmap {
	uint64_t gen;
	int n;
	struct emu_region r[];
};

struct emu_bar {
	uint64_t size;
	int fd;			/* memfd behind the register file */
	uint8_t *mem;
	bool is64, prefetch;
};

struct vfu_endpoint;

struct emu_function {
	enum emu_type type;
	int pf_index, vf_index;
	bool hotplugged;
	struct emu_hp *hp;		/* hot-plugged PFs: emu_hotplug.c's state (owned) */
	char vuid[48];
	char bdf[16];
	uint16_t rid;
	uint32_t vhca_id;
	uint16_t num_msix;
	bool active;
	bool msix_dynamic;	/* PFs: their controller was created with
				 * dynamic_msix (emu_msix_pool.h) */

	struct emu_function *pf;	/* VFs: their PF */
	struct emu_function **vfs;	/* PFs: total_vfs entries */
	int total_vfs;
	struct emu_function *next;	/* PF list */

	/* State a restarted service would need lives in shared memory. */
	int cfg_fd;
	struct pci_cfg *cfg;
	struct emu_bar bars[PCI_NUM_BARS];
	int db_fd;		/* NVMe: the doorbell page's own memfd (> 0) */
	uint32_t msix_table_off, msix_pba_off;	/* inside bars[msix_bar] */
	int msix_bar;

	/* MSI-X vector eventfds (-1 = none) and VFIO-level masks; read by
	 * reactors, replaced by the main thread (old fds closed after a
	 * grace period). */
	_Atomic int *msix_efd;
	atomic_uchar *msix_vfio_mask;

	_Atomic(struct emu_memmap *) map;
	_Atomic uint64_t map_gen;	/* map's gen (0: none), stored after map */

	const struct emu_ctrl_ops *ops;
	void *ctrl;
	char ctrl_id[64];

	char sock_path[320];
	struct vfu_endpoint *ep;
};

/* Call cb(arg) on the main thread once every reactor has finished what it
 * was doing (a grace period for snapshots and closed fds). */
void emu_sync(void (*cb)(void *arg), void *arg);

/* Memory map (emu_mem.c): emu_mem_add/remove are in emu.h. */
int emu_mem_count(struct emu_function *fn);

/* MSI-X (emu_msix.c). */
int emu_msix_init(struct emu_function *fn);
void emu_msix_fini(struct emu_function *fn);
/* Close the eventfds of vectors [0, n) of efd and free both arrays. */
void emu_msix_free_vectors(_Atomic int *efd, atomic_uchar *mask, uint16_t n);
/* Is [off, off+len) of bar inside the MSI-X table or PBA? */
bool emu_msix_owns(struct emu_function *fn, int bar, uint64_t off, uint64_t len);
int emu_msix_read(struct emu_function *fn, int bar, uint64_t off, void *buf, size_t len);
int emu_msix_write(struct emu_function *fn, int bar, uint64_t off, const void *buf, size_t len);
/* Set eventfds for vectors [start, start+count); fds < 0 clear. Takes
 * ownership of the fds. */
int emu_msix_set_eventfds(struct emu_function *fn, uint32_t start, uint32_t count, const int *fds);
void emu_msix_clear_all(struct emu_function *fn);
int emu_msix_vfio_mask(struct emu_function *fn, uint32_t start, uint32_t count,
		       const uint8_t *bools, bool mask);
/* Mask/Enable changed in config space, or a reset: deliver pending vectors. */
void emu_msix_control_changed(struct emu_function *fn);
void emu_msix_reset(struct emu_function *fn);

/* The PCI description of fn as it is now (emu_function.c), and a sealed
 * shared-memory block as a BAR's register file. */
void emu_fn_describe(struct emu_function *fn, struct pci_cfg_desc *d);
int emu_fn_shm_alloc(const char *name, size_t size, int *fd, void **mem);
/* Give fn an MSI-X table of n vectors (emu_msix_resize.c): its MSI-X BAR,
 * vectors and config space are rebuilt (0: no MSI-X capability). Only
 * while no client is connected (the caller checks). 0 or -ENOMEM /
 * -EINVAL (nothing changed). */
int emu_fn_msix_resize(struct emu_function *fn, uint16_t n);

/* Function reset (FLR, client reset, disconnect) */
void emu_fn_reset(struct emu_function *fn, enum emu_reset_reason why);
/* Region access from a provider (config space or BARs). */
int emu_region_read(struct emu_function *fn, uint32_t region, uint64_t off, void *buf, size_t len);
int emu_region_write(struct emu_function *fn, uint32_t region, uint64_t off, const void *buf,
		     size_t len);
uint64_t emu_region_size(struct emu_function *fn, uint32_t region);
/* Client connect/disconnect notifications from a provider. */
void emu_fn_client_event(struct emu_function *fn, bool connected);

/* Hot-plugged PFs (emu_hotplug.c, with their part in emu_function.c). */
struct emu_hp;
/* Make the PF on switch port `port` (not listed yet); hp is owned by it. */
struct emu_function *emu_pf_create_hotplugged(enum emu_type t, int pf_index, int port, struct emu_hp *hp,
					      char *err, size_t errlen);
/* List fn (its MSI-X reserved from the pool; -ENOSPC: fn is freed), or
 * unlist and free it. */
int emu_pf_add(struct emu_function *fn, char *err, size_t errlen);
void emu_pf_remove(struct emu_function *fn);
/* Is fn served by the device plane's vfio-user endpoint (else a virtio
 * transport's, e.g. vhost-user, made with its controller)? */
bool emu_fn_vfu_served(const struct emu_function *fn);
/* The MSI-X table size a hot-plugged PF asked for (0: the config's) and
 * its PCI identity over the type's own. */
uint16_t emu_hp_num_msix(const struct emu_hp *hp);
struct pci_cfg_desc;
void emu_hp_describe(const struct emu_hp *hp, struct pci_cfg_desc *d);
/* emu_init: bring back the PFs of the state file; emu_fini: end what is
 * under way (answers -ECANCELED). */
int emu_hotplug_restore(char *err, size_t errlen);
void emu_hotplug_fini(void);

/* vfio-user provider (vfio_user/). */
int vfu_endpoint_create(struct emu_function *fn, char *err, size_t errlen);
/* Drop the client (if any), as if it had disconnected. */
void vfu_endpoint_drop_client(struct emu_function *fn);
void vfu_endpoint_destroy(struct emu_function *fn);
bool vfu_endpoint_connected(struct emu_function *fn);

#endif
