/* Emulated PCI functions: creation from the emulation config, identities,
 * register files in shared memory, config space, SR-IOV, binding. */
#include "emu_internal.h"
#include "emu_msix_pool.h"
#include "core/guest_fault.h"
#include "core/log.h"
#include "core/unix_socket.h"
#include "virtio_pci/virtio_pci_layout.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define PCI_VENDOR_OSNAP 0x1b36		/* QEMU/Red Hat's id, as QEMU's own NVMe uses */
#define PCI_DEVICE_OSNAP_NVME 0x0010

static struct emu_config g_cfg;
static struct emu_function *g_pfs;	/* static PFs, then hot-plugged */
static uint32_t g_next_vhca = 1;
static uint32_t g_msix_used, g_queues_used;
static bool g_ready;

/* --- shared memory --- */

/* emu.h. The doorbell page is handed to clients (EMU_NVME_DOORBELLS=mmap),
 * the vhost-user in-flight region too (vhu_inflight.c). */
int emu_shm_create(const char *name, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		int e = errno;
		close(fd);
		return -e;
	}
	return fd;
}

static int shm_alloc(const char *name, size_t size, int *fd, void **mem)
{
	*fd = emu_shm_create(name, size);
	if (*fd < 0)
		return *fd;
	*mem = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (*mem == MAP_FAILED) {
		int e = errno;
		close(*fd);
		return -e;
	}
	return 0;
}

/* --- identity --- */

static void make_identity(struct emu_function *fn)
{
	const char *t = fn->type == EMU_TYPE_NVME ? "NVME" : "VBLK";
	if (fn->vf_index < 0)
		snprintf(fn->vuid, sizeof(fn->vuid), "%s%sS1D%dF0", g_cfg.serial, t, fn->pf_index);
	else
		snprintf(fn->vuid, sizeof(fn->vuid), "%.32sVF%d", fn->pf->vuid, fn->vf_index + 1);
	snprintf(fn->bdf, sizeof(fn->bdf), "%02x:%02x.%x", fn->rid >> 8, (fn->rid >> 3) & 0x1f,
		 fn->rid & 7);
	snprintf(fn->sock_path, sizeof(fn->sock_path), "%s/%s.sock", g_cfg.dir, fn->vuid);
}

void emu_fn_serial(const struct emu_function *fn, char *buf, size_t len)
{
	char s[64];
	if (fn->vf_index < 0) {
		/* a PF: its VUID (the PF index is within the first 20 characters) */
		snprintf(s, sizeof(s), "%s", fn->vuid);
	} else {
		/* a VF's VUID is its PF's plus "VFn", past 20 characters: keep the
		 * machine's serial and say which VF of which PF of which type */
		snprintf(s, sizeof(s), "%s%c%dVF%d", g_cfg.serial, fn->type == EMU_TYPE_NVME ? 'N' : 'B',
			 fn->pf_index, fn->vf_index + 1);
		if (strlen(s) > EMU_SERIAL_MAX)
			snprintf(s, sizeof(s), "%sH%X", g_cfg.serial, fn->vhca_id);	/* vhca_id is unique */
	}
	snprintf(buf, len, "%.*s", EMU_SERIAL_MAX, s);
}

/* Requester ids: static PFs are functions of device 0 on bus 0x01 (at most
 * 2 NVMe + 4 virtio-blk = 6), each PF's VFs get 8 buses of their own from
 * bus 0x10 + 8 * ordinal, hot-plugged PFs sit behind switch ports on buses
 * 0x80 and up. */
static uint16_t pf_rid(int ordinal, bool hotplug)
{
	return hotplug ? (uint16_t)((0x80 + ordinal) << 8) : (uint16_t)((0x01 << 8) | ordinal);
}

static uint16_t vf_base_rid(int ordinal)
{
	return (uint16_t)((0x10 + 8 * ordinal) << 8);
}

/* --- config space --- */

static void build_desc(struct emu_function *fn, struct pci_cfg_desc *d)
{
	memset(d, 0, sizeof(*d));
	uint32_t msix_bytes = (uint32_t)fn->num_msix * 16;
	uint32_t pba_off = (msix_bytes + 0xfff) & ~0xfffu;
	uint64_t msix_bar_size = pba_off + 0x1000;
	uint64_t p2 = 0x1000;
	while (p2 < msix_bar_size)
		p2 <<= 1;

	if (fn->type == EMU_TYPE_NVME) {
		d->vendor_id = PCI_VENDOR_OSNAP;
		d->device_id = PCI_DEVICE_OSNAP_NVME;
		d->subsys_vendor_id = PCI_VENDOR_OSNAP;
		d->subsys_id = 0x0001;
		d->revision = 2;
		d->class_code = 0x010802;
		d->bar_size[0] = EMU_NVME_BAR0_SIZE;
		d->bar_64[0] = true;
		d->bar_size[EMU_NVME_MSIX_BAR] = p2;
		d->msix_table_bar = d->msix_pba_bar = EMU_NVME_MSIX_BAR;
	} else {
		virtio_pci_describe(d, virtio_pci_device_type(fn->type));
		d->bar_size[EMU_VBLK_MSIX_BAR] = p2;
		d->msix_table_bar = d->msix_pba_bar = EMU_VBLK_MSIX_BAR;
	}
	if (fn->hp)
		emu_hp_describe(fn->hp, d);	/* a hot-plugged PF's own PCI identity */
	d->msix_vectors = fn->num_msix;
	d->msix_table_offset = 0;
	d->msix_pba_offset = pba_off;
	int n = pci_vpd_build(d->vpd, sizeof(d->vpd),
			      fn->type == EMU_TYPE_NVME ? "osnap NVMe function" : "osnap virtio-blk function",
			      g_cfg.serial, fn->vuid);
	d->vpd_len = n > 0 ? (uint16_t)n : 0;
	d->is_vf = fn->vf_index >= 0;
	if (fn->vf_index < 0 && fn->total_vfs > 0) {
		d->total_vfs = (uint16_t)fn->total_vfs;
		d->vf_device_id = d->device_id;
		/* the VFs sit on the buses of the PF's ordinal (vfs_create),
		 * which is the function number pf_rid() gave the static PF */
		d->vf_offset = (uint16_t)(vf_base_rid(fn->rid & 0xff) - fn->rid);
		d->vf_stride = 1;
		/* a VF's MSI-X BAR as large as the largest table dynamic MSI-X
		 * can give it: its PF's whole pool, at most 2048 vectors */
		uint32_t vf_max = (uint32_t)fn->total_vfs * emu_config_vf_msix(&g_cfg, fn->type);
		uint32_t vf_msix_bytes = (vf_max < EMU_MSIX_MAX_VECTORS ? vf_max : EMU_MSIX_MAX_VECTORS) * 16;
		uint64_t vf_msix_bar = ((vf_msix_bytes + 0xfff) & ~0xfffu) + 0x1000;
		uint64_t q = 0x1000;
		while (q < vf_msix_bar)
			q <<= 1;
		if (fn->type == EMU_TYPE_NVME) {
			d->vf_bar_size[0] = EMU_NVME_BAR0_SIZE;
			d->vf_bar_size[EMU_NVME_MSIX_BAR] = q;
		} else {
			d->vf_bar_size[EMU_VBLK_MSIX_BAR] = q;
			d->vf_bar_size[VIRTIO_PCI_CAP_BAR] = VIRTIO_PCI_CAP_BAR_SIZE;
		}
	}
	fn->msix_bar = d->msix_table_bar;
	fn->msix_table_off = d->msix_table_offset;
	fn->msix_pba_off = d->msix_pba_offset;
}

void emu_fn_describe(struct emu_function *fn, struct pci_cfg_desc *d)
{
	build_desc(fn, d);
}

int emu_fn_shm_alloc(const char *name, size_t size, int *fd, void **mem)
{
	return shm_alloc(name, size, fd, mem);
}

/* --- config-space side effects --- */

static void cfg_msix_control(void *arg, bool enabled, bool masked)
{
	struct emu_function *fn = arg;
	log_debug("%s: MSI-X %s%s", fn->vuid, enabled ? "enabled" : "disabled", masked ? ", masked" : "");
	emu_msix_control_changed(fn);
}

static void cfg_flr(void *arg)
{
	struct emu_function *fn = arg;
	log_info("%s: function level reset", fn->vuid);
	emu_fn_reset(fn, EMU_RESET_FLR);
}

static void activate_vfs(struct emu_function *pf);

static void cfg_sriov(void *arg, bool enable, uint16_t num)
{
	struct emu_function *pf = arg;
	log_info("%s: SR-IOV VF Enable %d NumVFs %u", pf->vuid, enable, num);
	activate_vfs(pf);
}

static const struct pci_cfg_ops cfg_ops = {
	.msix_control = cfg_msix_control,
	.flr = cfg_flr,
	.sriov_control = cfg_sriov,
};

/* --- creation --- */

static void fn_free(struct emu_function *fn)
{
	if (!fn)
		return;
	if (fn->ep)
		vfu_endpoint_destroy(fn);
	emu_msix_fini(fn);
	struct emu_memmap *m = atomic_load(&fn->map);
	if (m) {
		for (int i = 0; i < m->n; i++)
			if (m->r[i].hva) {
				guest_fault_unwatch(m->r[i].fault_id);
				munmap(m->r[i].hva, m->r[i].size);
			}
		free(m);
	}
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (fn->bars[i].mem) {
			munmap(fn->bars[i].mem, fn->bars[i].size);	/* the doorbell page too */
			close(fn->bars[i].fd);
		}
	}
	if (fn->db_fd > 0)	/* 0: never made (the function is calloc'ed) */
		close(fn->db_fd);
	if (fn->cfg) {
		munmap(fn->cfg, sizeof(*fn->cfg));
		close(fn->cfg_fd);
	}
	for (int i = 0; i < fn->total_vfs; i++)
		fn_free(fn->vfs ? fn->vfs[i] : NULL);
	free(fn->vfs);
	free(fn->hp);
	free(fn);
}

static int fn_setup(struct emu_function *fn, char *err, size_t errlen)
{
	struct pci_cfg_desc d;
	int rc;

	make_identity(fn);
	build_desc(fn, &d);
	rc = shm_alloc(fn->vuid, sizeof(struct pci_cfg), &fn->cfg_fd, (void **)&fn->cfg);
	if (rc)
		goto fail;
	rc = pci_cfg_init(fn->cfg, &d);
	if (rc) {
		snprintf(err, errlen, "%s: invalid PCI description (%s)", fn->vuid, strerror(-rc));
		return rc;
	}
	for (int i = 0; i < PCI_NUM_BARS; i++) {
		if (!d.bar_size[i])
			continue;
		fn->bars[i].size = d.bar_size[i];
		fn->bars[i].is64 = d.bar_64[i];
		fn->bars[i].prefetch = d.bar_prefetch[i];
		rc = shm_alloc(fn->vuid, d.bar_size[i], &fn->bars[i].fd, (void **)&fn->bars[i].mem);
		if (rc)
			goto fail;
	}
	if (fn->type == EMU_TYPE_NVME && fn->bars[0].mem) {
		/* The doorbell page is its own memfd, mapped over BAR0's, so that
		 * a client given it (mapped doorbells) reaches nothing but the
		 * doorbells: never the registers. It holds a spare page first so
		 * that the page sits at its BAR offset in the file too, where a
		 * VFIO client maps it (region offset 0 + area offset). */
		fn->db_fd = emu_shm_create("doorbells", EMU_NVME_DOORBELL_OFF + EMU_NVME_DOORBELL_SIZE);
		if (fn->db_fd < 0) {
			rc = fn->db_fd;
			goto fail;
		}
		if (mmap(fn->bars[0].mem + EMU_NVME_DOORBELL_OFF, EMU_NVME_DOORBELL_SIZE,
			 PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fn->db_fd,
			 EMU_NVME_DOORBELL_OFF) == MAP_FAILED) {
			rc = -errno;
			goto fail;
		}
	}
	rc = emu_msix_init(fn);
	if (rc)
		goto fail;
	fn->vhca_id = g_next_vhca++;
	return 0;
fail:
	snprintf(err, errlen, "%s: cannot allocate function state: %s", fn->vuid, strerror(-rc));
	return rc;
}

static bool has_endpoint(const struct emu_function *fn)
{
	if (g_cfg.no_endpoints)
		return false;
	return fn->type == EMU_TYPE_NVME || g_cfg.vblk_transport == EMU_VBLK_VFIO_USER;
}

static struct emu_function *pf_create(enum emu_type t, int pf_index, int ordinal, struct emu_hp *hp,
				      char *err, size_t errlen)
{
	struct emu_function *fn = calloc(1, sizeof(*fn));
	if (!fn) {
		free(hp);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	fn->type = t;
	fn->pf_index = pf_index;
	fn->vf_index = -1;
	fn->hotplugged = hp != NULL;
	fn->hp = hp;
	fn->rid = pf_rid(ordinal, hp != NULL);
	fn->num_msix = (uint16_t)(hp && emu_hp_num_msix(hp) ? emu_hp_num_msix(hp) : emu_config_pf_msix(&g_cfg, t));
	fn->active = true;
	/* hot-plugged PFs do not support SR-IOV (the seed) */
	if (!hp && g_cfg.sriov_en)
		fn->total_vfs = (int)(t == EMU_TYPE_NVME ? g_cfg.nvme_num_vf : g_cfg.vblk_num_vf);
	if (fn_setup(fn, err, errlen)) {
		fn_free(fn);
		return NULL;
	}
	return fn;
}

static int vfs_create(struct emu_function *pf, int ordinal, char *err, size_t errlen)
{
	if (!pf->total_vfs)
		return 0;
	pf->vfs = calloc((size_t)pf->total_vfs, sizeof(*pf->vfs));
	if (!pf->vfs)
		return -ENOMEM;
	for (int i = 0; i < pf->total_vfs; i++) {
		struct emu_function *vf = calloc(1, sizeof(*vf));
		if (!vf)
			return -ENOMEM;
		vf->type = pf->type;
		vf->pf = pf;
		vf->pf_index = pf->pf_index;
		vf->vf_index = i;
		vf->rid = (uint16_t)(vf_base_rid(ordinal) + i);
		/* dynamic MSI-X: what the VF held before a restart */
		vf->num_msix = emu_msix_state_vf(pf, i, (uint16_t)emu_config_vf_msix(&g_cfg, pf->type));
		pf->vfs[i] = vf;
		int rc = fn_setup(vf, err, errlen);
		if (rc)
			return rc;
	}
	return 0;
}

static void append_pf(struct emu_function *fn)
{
	struct emu_function **pp = &g_pfs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = fn;
}

static int reserve_msix(struct emu_function *fn, char *err, size_t errlen)
{
	uint32_t need = fn->num_msix;
	for (int i = 0; i < fn->total_vfs; i++)
		need += emu_msix_state_vf(fn, i, (uint16_t)emu_config_vf_msix(&g_cfg, fn->type));
	if (g_msix_used + need > g_cfg.msix_pool) {
		snprintf(err, errlen, "%s needs %u MSI-X vectors but EMU_MSIX_POOL has %u left",
			 fn->vuid, need, g_cfg.msix_pool - g_msix_used);
		return -ENOSPC;
	}
	g_msix_used += need;
	return 0;
}

int emu_init(const struct emu_config *cfg, char *err, size_t errlen)
{
	int ordinal = 0, rc;
	g_cfg = *cfg;
	g_next_vhca = 1;
	g_msix_used = g_queues_used = 0;

	/* the endpoints' directory: made if missing, refused when another
	 * user could replace our sockets in it */
	if (!g_cfg.no_endpoints) {
		char why[200];
		if (unix_socket_dir(g_cfg.dir, why, sizeof(why))) {
			snprintf(err, errlen, "EMU_DIR: %s", why);
			return -EACCES;
		}
	}
	emu_msix_state_load();
	struct { enum emu_type t; uint32_t n; bool en; } kinds[2] = {
		{ EMU_TYPE_NVME, cfg->nvme_num_pf, cfg->nvme_enable },
		{ EMU_TYPE_VBLK, cfg->vblk_num_pf, cfg->vblk_enable },
	};
	for (int k = 0; k < 2; k++) {
		if (!kinds[k].en)
			continue;
		for (uint32_t i = 0; i < kinds[k].n; i++) {
			struct emu_function *pf = pf_create(kinds[k].t, (int)i, ordinal, NULL, err, errlen);
			if (!pf) {
				rc = -ENOMEM;
				goto fail;
			}
			append_pf(pf);
			rc = reserve_msix(pf, err, errlen);
			if (rc)
				goto fail;
			rc = vfs_create(pf, ordinal, err, errlen);
			if (rc)
				goto fail;
			ordinal++;
		}
	}
	/* endpoints once every identity is settled */
	for (struct emu_function *pf = g_pfs; pf; pf = pf->next) {
		if (has_endpoint(pf) && (rc = vfu_endpoint_create(pf, err, errlen)))
			goto fail;
		log_info("function %s (%s PF %d, %s, vhca_id %u, %u MSI-X, %d VFs)", pf->vuid,
			 pf->type == EMU_TYPE_NVME ? "NVMe" : "virtio-blk", pf->pf_index, pf->bdf,
			 pf->vhca_id, pf->num_msix, pf->total_vfs);
	}
	emu_msix_state_drop();
	rc = emu_hotplug_restore(err, errlen);
	if (rc)
		goto fail;
	g_ready = true;
	return 0;
fail:
	emu_msix_state_drop();
	emu_fini();
	return rc ? rc : -EINVAL;
}

void emu_fini(void)
{
	emu_hotplug_fini();
	while (g_pfs) {
		struct emu_function *pf = g_pfs;
		g_pfs = pf->next;
		fn_free(pf);
	}
	g_ready = false;
}

void emu_stop_clients(void)
{
	for (struct emu_function *pf = g_pfs; pf; pf = pf->next) {
		vfu_endpoint_destroy(pf);
		for (int i = 0; i < pf->total_vfs; i++)
			vfu_endpoint_destroy(pf->vfs[i]);
	}
}

const struct emu_config *emu_get_config(void)
{
	return &g_cfg;
}

/* --- SR-IOV --- */

static void activate_vfs(struct emu_function *pf)
{
	bool en = pci_cfg_vf_enabled(pf->cfg);
	uint16_t num = pci_cfg_num_vfs(pf->cfg);
	char err[256];

	for (int i = 0; i < pf->total_vfs; i++) {
		struct emu_function *vf = pf->vfs[i];
		bool want = en && i < num;
		if (want == vf->active)
			continue;
		vf->active = want;
		if (want) {
			if (has_endpoint(vf) && vfu_endpoint_create(vf, err, sizeof(err)))
				log_err("%s: %s", vf->vuid, err);
		} else {
			if (vf->ops && vf->ops->reset)
				vf->ops->reset(vf->ctrl, EMU_RESET_FLR);
			if (vf->ep)
				vfu_endpoint_destroy(vf);
		}
	}
}

int emu_fn_set_num_vfs(struct emu_function *pf, uint16_t num_vfs)
{
	if (pf->vf_index >= 0 || !pf->cfg->sriov_cap)
		return -ENOTSUP;
	if (num_vfs > pf->total_vfs)
		return -ERANGE;
	uint16_t off = pf->cfg->sriov_cap;
	uint16_t ctrl = num_vfs ? 0x9 : 0;	/* VF Enable | VF MSE */
	/* NumVFs first (it may change only while VF Enable is clear), then control */
	uint16_t zero = 0;
	pci_cfg_write(pf->cfg, off + 0x08, &zero, 2, &cfg_ops, pf);
	pci_cfg_write(pf->cfg, off + 0x10, &num_vfs, 2, &cfg_ops, pf);
	pci_cfg_write(pf->cfg, off + 0x08, &ctrl, 2, &cfg_ops, pf);
	return 0;
}

/* --- lookups --- */

struct emu_function *emu_pf_first(void)
{
	return g_pfs;
}

struct emu_function *emu_pf_next(struct emu_function *pf)
{
	return pf->next;
}

int emu_fn_num_vfs(const struct emu_function *pf)
{
	return pf->total_vfs;
}

struct emu_function *emu_fn_vf(struct emu_function *pf, int vf_index)
{
	return vf_index >= 0 && vf_index < pf->total_vfs ? pf->vfs[vf_index] : NULL;
}

#define FOREACH_FN(fn, body) \
	for (struct emu_function *pf_ = g_pfs; pf_; pf_ = pf_->next) { \
		struct emu_function *fn = pf_; body; \
		for (int i_ = 0; i_ < pf_->total_vfs; i_++) { fn = pf_->vfs[i_]; body; } \
	}

struct emu_function *emu_find_by_vuid(const char *vuid)
{
	FOREACH_FN(fn, if (!strcmp(fn->vuid, vuid)) return fn);
	return NULL;
}

struct emu_function *emu_find_by_bdf(const char *bdf)
{
	FOREACH_FN(fn, if (!strcasecmp(fn->bdf, bdf)) return fn);
	return NULL;
}

struct emu_function *emu_find_by_vhca(uint32_t vhca_id)
{
	FOREACH_FN(fn, if (fn->vhca_id == vhca_id) return fn);
	return NULL;
}

struct emu_function *emu_find_by_index(enum emu_type t, int pf_index, int vf_index)
{
	for (struct emu_function *pf = g_pfs; pf; pf = pf->next)
		if (pf->type == t && pf->pf_index == pf_index)
			return vf_index < 0 ? pf : emu_fn_vf(pf, vf_index);
	return NULL;
}

enum emu_type emu_fn_type(const struct emu_function *fn) { return fn->type; }
const char *emu_fn_vuid(const struct emu_function *fn) { return fn->vuid; }
const char *emu_fn_bdf(const struct emu_function *fn) { return fn->bdf; }
uint32_t emu_fn_vhca_id(const struct emu_function *fn) { return fn->vhca_id; }
int emu_fn_pf_index(const struct emu_function *fn) { return fn->pf_index; }
int emu_fn_vf_index(const struct emu_function *fn) { return fn->vf_index; }
bool emu_fn_is_vf(const struct emu_function *fn) { return fn->vf_index >= 0; }
bool emu_fn_hotplugged(const struct emu_function *fn) { return fn->hotplugged; }
bool emu_fn_active(const struct emu_function *fn) { return fn->active; }
uint16_t emu_fn_num_msix(const struct emu_function *fn) { return fn->num_msix; }
const char *emu_fn_socket_path(const struct emu_function *fn) { return fn->sock_path; }

bool emu_fn_client_connected(const struct emu_function *fn)
{
	return fn->ep && vfu_endpoint_connected((struct emu_function *)fn);
}

/* --- binding --- */

int emu_fn_bind(struct emu_function *fn, const struct emu_ctrl_ops *ops, void *ctrl,
		const char *ctrl_id)
{
	if (fn->ctrl)
		return -EBUSY;
	fn->ops = ops;
	fn->ctrl = ctrl;
	snprintf(fn->ctrl_id, sizeof(fn->ctrl_id), "%s", ctrl_id);
	return 0;
}

void emu_fn_unbind(struct emu_function *fn)
{
	fn->ops = NULL;
	fn->ctrl = NULL;
	fn->ctrl_id[0] = '\0';
	fn->msix_dynamic = false;	/* a property of the PF's controller */
}

const char *emu_fn_ctrl_id(const struct emu_function *fn)
{
	return fn->ctrl ? fn->ctrl_id : NULL;
}

void *emu_fn_bar_mem(struct emu_function *fn, int bar, uint64_t *size)
{
	if (bar < 0 || bar >= PCI_NUM_BARS || !fn->bars[bar].mem)
		return NULL;
	if (size)
		*size = fn->bars[bar].size;
	return fn->bars[bar].mem;
}

/* --- reset and region access --- */

void emu_fn_reset(struct emu_function *fn, enum emu_reset_reason why)
{
	if (fn->ops && fn->ops->reset)
		fn->ops->reset(fn->ctrl, why);
	if (why != EMU_RESET_DISCONNECT) {
		/* FLR and device reset put config space and MSI-X back to their
		 * reset values (SR-IOV state of a PF included: its VFs go) */
		struct pci_cfg_desc d;
		build_desc(fn, &d);
		pci_cfg_init(fn->cfg, &d);
		emu_msix_reset(fn);
		if (fn->total_vfs)
			activate_vfs(fn);
	}
}

void emu_fn_client_event(struct emu_function *fn, bool connected)
{
	if (fn->ops && fn->ops->client)
		fn->ops->client(fn->ctrl, connected);
}

uint64_t emu_region_size(struct emu_function *fn, uint32_t region)
{
	if (region < PCI_NUM_BARS)
		return fn->bars[region].size;
	if (region == EMU_REGION_CONFIG)
		return PCI_CFG_SIZE;
	return 0;
}

static int check_range(struct emu_function *fn, uint32_t region, uint64_t off, size_t len)
{
	uint64_t size = emu_region_size(fn, region);
	if (!size || !len || off >= size || len > size - off)
		return -EINVAL;
	return 0;
}

int emu_region_read(struct emu_function *fn, uint32_t region, uint64_t off, void *buf, size_t len)
{
	int rc = check_range(fn, region, off, len);
	if (rc)
		return rc;
	if (region == EMU_REGION_CONFIG)
		return pci_cfg_read(fn->cfg, (uint32_t)off, buf, len);
	if (emu_msix_owns(fn, (int)region, off, len))
		return emu_msix_read(fn, (int)region, off, buf, len);
	if (fn->ops && fn->ops->bar_read)
		return fn->ops->bar_read(fn->ctrl, (int)region, off, buf, len);
	memcpy(buf, fn->bars[region].mem + off, len);
	return 0;
}

int emu_region_write(struct emu_function *fn, uint32_t region, uint64_t off, const void *buf,
		     size_t len)
{
	int rc = check_range(fn, region, off, len);
	if (rc)
		return rc;
	if (region == EMU_REGION_CONFIG)
		return pci_cfg_write(fn->cfg, (uint32_t)off, buf, len, &cfg_ops, fn);
	if (emu_msix_owns(fn, (int)region, off, len))
		return emu_msix_write(fn, (int)region, off, buf, len);
	if (fn->ops && fn->ops->bar_write)
		return fn->ops->bar_write(fn->ctrl, (int)region, off, buf, len);
	/* no controller bound: the register file keeps what was written */
	memcpy(fn->bars[region].mem + off, buf, len);
	return 0;
}

/* --- resources --- */

uint32_t emu_msix_available(void)
{
	return g_cfg.msix_pool - g_msix_used;
}

/* Take n of a pool of cap of which *used are taken (-ENOSPC: fewer left),
 * or give n back. */
static int pool_take(uint32_t *used, uint32_t cap, uint32_t n)
{
	if (n > cap - *used)
		return -ENOSPC;
	*used += n;
	return 0;
}

static void pool_give(uint32_t *used, uint32_t n)
{
	*used -= n < *used ? n : *used;
}

int emu_msix_reserve(uint32_t n)
{
	return pool_take(&g_msix_used, g_cfg.msix_pool, n);
}

void emu_msix_release(uint32_t n)
{
	pool_give(&g_msix_used, n);
}

uint32_t emu_queues_available(void)
{
	return g_cfg.queue_pool - g_queues_used;
}

int emu_queues_reserve(uint32_t n)
{
	return pool_take(&g_queues_used, g_cfg.queue_pool, n);
}

void emu_queues_release(uint32_t n)
{
	pool_give(&g_queues_used, n);
}

/* --- hot-plugged PFs (the rest is emu_hotplug.c) --- */

struct emu_function *emu_pf_create_hotplugged(enum emu_type t, int pf_index, int port, struct emu_hp *hp,
					      char *err, size_t errlen)
{
	return pf_create(t, pf_index, port, hp, err, errlen);
}

int emu_pf_add(struct emu_function *fn, char *err, size_t errlen)
{
	int rc = reserve_msix(fn, err, errlen);
	if (rc)
		fn_free(fn);
	else
		append_pf(fn);
	return rc;
}

void emu_pf_remove(struct emu_function *fn)
{
	for (struct emu_function **pp = &g_pfs; *pp; pp = &(*pp)->next) {
		if (*pp == fn) {
			*pp = fn->next;
			break;
		}
	}
	pool_give(&g_msix_used, fn->num_msix);	/* no VFs: the PF's vectors are all it reserved */
	fn_free(fn);
}

bool emu_fn_vfu_served(const struct emu_function *fn)
{
	return has_endpoint(fn);
}
