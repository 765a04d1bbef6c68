/* The device plane: emulated PCI functions (what the DPU firmware does for
 * SNAP), seen by the controllers through a small seam.
 *
 * Threading: functions are created, configured, bound and served on the
 * main thread (the providers' sockets live in its event loop). The data
 * path (emu_dma_map, emu_irq_raise) may be used from any reactor. */
#ifndef OSNAP_EMU_H
#define OSNAP_EMU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/uio.h>

#include "emu_config.h"

enum emu_type {
	EMU_TYPE_NVME = 0,
	EMU_TYPE_VBLK = 1,
};

enum emu_reset_reason {
	EMU_RESET_FLR,		/* PCIe Function Level Reset */
	EMU_RESET_CLIENT,	/* the client's DEVICE_RESET */
	EMU_RESET_DISCONNECT,	/* the client went away */
};

/* BAR layout, fixed per emulation type. */
#define EMU_NVME_BAR0_SIZE	0x4000u		/* registers 0x0, doorbells 0x1000 */
#define EMU_NVME_DOORBELL_OFF	0x1000u
#define EMU_NVME_DOORBELL_SIZE	0x1000u
#define EMU_NVME_MSIX_BAR	4
#define EMU_VBLK_MSIX_BAR	1
#define EMU_VBLK_CAP_BAR	4		/* virtio structures, 64-bit BAR */
#define EMU_VBLK_CAP_BAR_SIZE	0x4000u

struct emu_function;

/* What a controller implements for the function it is bound to. Called on
 * the main thread. Every member may be NULL. */
struct emu_ctrl_ops {
	/* A client access to a BAR the controller serves (not the MSI-X
	 * table/PBA, which the device plane handles). len is 1..8 or larger
	 * for block accesses. Return 0 or -errno (the client gets an error). */
	int (*bar_read)(void *ctrl, int bar, uint64_t off, void *buf, size_t len);
	int (*bar_write)(void *ctrl, int bar, uint64_t off, const void *buf, size_t len);
	/* The client is about to remove guest memory [gpa, gpa+len): stop
	 * fetching new work (the region is still in the map: work in flight
	 * finishes normally) and call done(arg) when no I/O touches it any
	 * more (maybe later). Stay stopped: the region leaves the map and is
	 * unmapped after done, then mem_resume is called. */
	void (*mem_unmap)(void *ctrl, uint64_t gpa, uint64_t len, void (*done)(void *arg), void *arg);
	/* After mem_unmap's done: the region is out of the map (and unmapped):
	 * the queues may go on. */
	void (*mem_resume)(void *ctrl);
	/* New guest memory was mapped. */
	void (*mem_map)(void *ctrl, uint64_t gpa, uint64_t len);
	/* The function is reset (FLR, client reset or disconnect). */
	void (*reset)(void *ctrl, enum emu_reset_reason why);
	/* A client connected (true) or went away (false). */
	void (*client)(void *ctrl, bool connected);
	/* The client broke its memory (it truncated a file it shared: a
	 * SIGBUS was caught): drop it. For providers that live with the
	 * controller (vhost-user); vfio-user clients are dropped by the
	 * device plane itself. */
	void (*client_fault)(void *ctrl);
	/* A hot-plugged function was powered on (true) or off (false): for
	 * providers that live with the controller (vhost-user), whose endpoint
	 * exists only while the function is present (emu_fn_present). */
	void (*presence)(void *ctrl, bool present);
};

/* --- the device plane --- */

/* Create the static functions described by cfg (a copy is kept) and their
 * endpoints. Returns 0 or -errno with a message in err. */
int emu_init(const struct emu_config *cfg, char *err, size_t errlen);
/* Stop serving: close every endpoint, remove socket files, free functions. */
void emu_fini(void);
/* Shutdown, first step: stop listening and drop every client (no new I/O). */
void emu_stop_clients(void);
const struct emu_config *emu_get_config(void);

/* Lookups. pf_index counts PFs of one type; vf_index -1 means the PF. */
struct emu_function *emu_find_by_vuid(const char *vuid);
struct emu_function *emu_find_by_index(enum emu_type t, int pf_index, int vf_index);
struct emu_function *emu_find_by_bdf(const char *bdf);
struct emu_function *emu_find_by_vhca(uint32_t vhca_id);
/* Iterate PFs in order (static, then hot-plugged). */
struct emu_function *emu_pf_first(void);
struct emu_function *emu_pf_next(struct emu_function *pf);
int emu_fn_num_vfs(const struct emu_function *pf);	/* configured (TotalVFs) */
struct emu_function *emu_fn_vf(struct emu_function *pf, int vf_index);

/* Identity. */
enum emu_type emu_fn_type(const struct emu_function *fn);
const char *emu_fn_vuid(const struct emu_function *fn);
/* A serial number of at most EMU_SERIAL_MAX characters, different for every
 * function (virtio-blk GET_ID when none is given): a PF's VUID cut to 20
 * characters, a VF's "{EMU_SERIAL}{N|B}{pf_index}VF{n}" (n as in its VUID). */
#define EMU_SERIAL_MAX 20
void emu_fn_serial(const struct emu_function *fn, char *buf, size_t len);
const char *emu_fn_bdf(const struct emu_function *fn);
uint32_t emu_fn_vhca_id(const struct emu_function *fn);
int emu_fn_pf_index(const struct emu_function *fn);
int emu_fn_vf_index(const struct emu_function *fn);	/* -1 for a PF */
bool emu_fn_is_vf(const struct emu_function *fn);
bool emu_fn_hotplugged(const struct emu_function *fn);
/* Shown to the host: every static function; a hot-plugged PF from its
 * hotplug to its hotunplug (emu_hotplug.h). Its endpoint exists only then. */
bool emu_fn_present(const struct emu_function *fn);
/* A VF is active while its PF has VF Enable set and NumVFs > vf_index. */
bool emu_fn_active(const struct emu_function *fn);
uint16_t emu_fn_num_msix(const struct emu_function *fn);
/* Where its endpoint lives: EMU_DIR/{VUID}.sock. */
const char *emu_fn_socket_path(const struct emu_function *fn);
bool emu_fn_client_connected(const struct emu_function *fn);

/* SR-IOV from the service side (the seed's sriov_numvfs, or an RPC):
 * set NumVFs and VF Enable as if the host driver wrote them. */
int emu_fn_set_num_vfs(struct emu_function *pf, uint16_t num_vfs);

/* --- binding a controller --- */

/* Bind ctrl (named ctrl_id) to fn. -EBUSY if another is bound. */
int emu_fn_bind(struct emu_function *fn, const struct emu_ctrl_ops *ops, void *ctrl,
		const char *ctrl_id);
void emu_fn_unbind(struct emu_function *fn);
const char *emu_fn_ctrl_id(const struct emu_function *fn);	/* NULL when unbound */

/* The shared memory behind a BAR (register file); NULL if absent. */
void *emu_fn_bar_mem(struct emu_function *fn, int bar, uint64_t *size);

/* --- data path (any thread) --- */

#define EMU_DMA_READ  0x1	/* the device reads guest memory (host -> device) */
#define EMU_DMA_WRITE 0x2	/* the device writes guest memory */

/* Translate guest range [gpa, gpa+len) into up to max_iov local iovecs.
 * Returns the number of iovecs (>= 1), or -EFAULT when any byte lies
 * outside the client's map, -EACCES when the mapping lacks prot, -ENOSPC
 * when more than max_iov pieces would be needed, -EINVAL for len 0.
 * Never touches guest memory. */
int emu_dma_map(struct emu_function *fn, uint64_t gpa, uint64_t len, int prot,
		struct iovec *iov, int max_iov);

/* A number that changes whenever the client's memory map changes; cached
 * translations made under another generation must be redone. */
uint64_t emu_mem_generation(struct emu_function *fn);
/* Where that number lives, for pollers that look at it on every pass
 * without a call: read it with emu_mem_generation_load. Valid as long as
 * fn exists. */
const _Atomic uint64_t *emu_mem_generation_ptr(struct emu_function *fn);
static inline uint64_t emu_mem_generation_load(const _Atomic uint64_t *gen)
{
	/* acquire: pairs with the release that publishes a new map */
	return atomic_load_explicit(gen, memory_order_acquire);
}

/* Signal MSI-X vector (eventfd write). A masked vector (function mask,
 * the client's SET_IRQS mask) or one without an eventfd at the moment sets
 * its pending bit instead and fires once it can. Returns 0, -EINVAL for a
 * vector out of range, -ENODEV when MSI-X is disabled (nothing sent). */
int emu_irq_raise(struct emu_function *fn, uint16_t vector);

/* --- providers: the client's memory map (main thread) --- */

/* Map [gpa, gpa+size) of the client's memory from fd at offset (fd is not
 * kept). -EEXIST on overlap, -EINVAL for a range past the file's end.
 * fd -1: the client shares the range without a file descriptor (QEMU does
 * so for firmware ROM): it is recorded, so that it can be removed, but
 * emu_dma_map refuses every address in it with -EFAULT. */
int emu_mem_add(struct emu_function *fn, uint64_t gpa, uint64_t size, int prot, int fd,
		uint64_t offset);
/* Remove exactly [gpa, gpa+size): the bound controller lets go first
 * (mem_unmap), then after a grace period the memory is unmapped and
 * done(arg, 0) is called; done(arg, -ENOENT) at once if no such region. */
void emu_mem_remove(struct emu_function *fn, uint64_t gpa, uint64_t size,
		    void (*done)(void *arg, int rc), void *arg);
/* Remove every region (client gone). */
void emu_mem_remove_all(struct emu_function *fn, void (*done)(void *arg, int rc), void *arg);

/* A memfd of size bytes for memory shared with a client, sealed against
 * shrinking and growing (a client that truncated it would make us fault).
 * The fd, or -errno. */
int emu_shm_create(const char *name, size_t size);

/* --- resources (emulation_resource_list) --- */
uint32_t emu_msix_available(void);
uint32_t emu_queues_available(void);
/* Take/give back MSI-X vectors of EMU_MSIX_POOL (-ENOSPC: not enough). */
int emu_msix_reserve(uint32_t n);
void emu_msix_release(uint32_t n);
/* Take/give back queue resources for a controller. */
int emu_queues_reserve(uint32_t n);
void emu_queues_release(uint32_t n);

/* --- controller names --- */
/* Name a new controller: `given` when not NULL (1..cap-1 characters, else
 * -EINVAL), otherwise the first of prefix1, prefix2, ... that `taken`
 * reports free. -EEXIST when the name is taken. Writes out (cap bytes) and,
 * on error, a message to err. Main thread. */
int emu_ctrl_name_pick(const char *given, const char *prefix, bool (*taken)(const char *name),
		       char *out, size_t cap, char *err, size_t errlen);

#endif
