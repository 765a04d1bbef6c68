/* Dynamic MSI-X: a PF's pool of vectors for its VFs, and its state file.
 * See emu_msix_pool.h. */
#include "emu_msix_pool.h"
#include "emu_internal.h"
#include "msix_state.h"
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define STATE_FILE "msix.state"

/* --- the pool --- */

static bool is_pf_with_vfs(const struct emu_function *fn)
{
	return fn->vf_index < 0 && fn->total_vfs > 0;
}

uint32_t emu_pf_msix_budget(const struct emu_function *pf)
{
	if (!is_pf_with_vfs(pf))
		return 0;
	return (uint32_t)pf->total_vfs * emu_config_vf_msix(emu_get_config(), pf->type);
}

static uint32_t vfs_sum(const struct emu_function *pf)
{
	uint32_t sum = 0;
	for (int i = 0; i < pf->total_vfs; i++)
		sum += pf->vfs[i]->num_msix;
	return sum;
}

/* budget - what the VFs hold: never negative (every change keeps it so) */
static uint32_t pool_left(const struct emu_function *pf)
{
	uint32_t b = emu_pf_msix_budget(pf), s = vfs_sum(pf);
	return s < b ? b - s : 0;
}

uint32_t emu_pf_msix_free(const struct emu_function *pf)
{
	uint32_t left = pool_left(pf), avail = emu_msix_available();
	return left < avail ? left : avail;
}

bool emu_pf_msix_dynamic(const struct emu_function *pf)
{
	return pf->vf_index < 0 && pf->msix_dynamic;
}

void emu_pf_msix_set_dynamic(struct emu_function *pf, bool on)
{
	if (pf->vf_index < 0)
		pf->msix_dynamic = on;
}

uint32_t emu_vf_msix_max(const struct emu_function *vf)
{
	if (vf->vf_index < 0 || !vf->pf->msix_dynamic)
		return vf->num_msix;
	uint32_t m = vf->num_msix + emu_pf_msix_free(vf->pf);
	return m < EMU_MSIX_MAX_VECTORS ? m : EMU_MSIX_MAX_VECTORS;
}

void emu_msix_write_config(const struct emu_function *fn, json_t *params)
{
	if (emu_pf_msix_dynamic(fn))
		json_object_set_new(params, "dynamic_msix", json_true());
	if (fn->vf_index >= 0 && fn->num_msix >= 2)
		json_object_set_new(params, "vf_num_msix", json_integer(fn->num_msix));
}

struct emu_function *emu_find_by_ctrl(const char *ctrl_id)
{
	for (struct emu_function *pf = emu_pf_first(); pf; pf = emu_pf_next(pf)) {
		if (pf->ctrl && !strcmp(pf->ctrl_id, ctrl_id))
			return pf;
		for (int i = 0; i < pf->total_vfs; i++)
			if (pf->vfs[i]->ctrl && !strcmp(pf->vfs[i]->ctrl_id, ctrl_id))
				return pf->vfs[i];
	}
	return NULL;
}

/* --- the state file --- */

/* Write the allocation of every PF with VFs to EMU_DIR/msix.state:
 * a temporary file renamed over the old one, so that a reader (the next
 * osnapd) sees the old allocation or the new one, never a mix. No fsync:
 * the state must outlive osnapd, not the machine (the seed's "cold boot"
 * starts afresh anyway). */
static void state_save(void)
{
	const struct emu_config *cfg = emu_get_config();
	struct msix_state st = { 0 };
	char path[300], tmp[310];
	bool ok = true;

	if (cfg->no_endpoints)
		return;
	for (struct emu_function *pf = emu_pf_first(); pf; pf = emu_pf_next(pf))
		st.npf += is_pf_with_vfs(pf);
	st.pf = calloc(st.npf ? st.npf : 1, sizeof(*st.pf));
	size_t k = 0;
	for (struct emu_function *pf = emu_pf_first(); ok && st.pf && pf; pf = emu_pf_next(pf)) {
		if (!is_pf_with_vfs(pf))
			continue;
		struct msix_state_pf *s = &st.pf[k++];
		snprintf(s->vuid, sizeof(s->vuid), "%s", pf->vuid);
		s->nvf = (uint32_t)pf->total_vfs;
		s->vf = calloc(s->nvf, sizeof(*s->vf));
		ok = s->vf != NULL;
		for (uint32_t i = 0; ok && i < s->nvf; i++)
			s->vf[i] = pf->vfs[i]->num_msix;
	}
	char *text = ok && st.pf ? msix_state_format(&st) : NULL;
	msix_state_free(&st);
	if (!text) {
		log_err("%s: out of memory: the MSI-X allocation is not saved", STATE_FILE);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", cfg->dir, STATE_FILE);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
	int e = f ? 0 : errno;
	if (!f && fd >= 0)
		close(fd);
	if (f && fputs(text, f) == EOF)
		e = errno ? errno : EIO;
	if (f && fclose(f) == EOF && !e)
		e = errno ? errno : EIO;
	free(text);
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e) {
		log_err("%s: cannot save the MSI-X allocation: %s (it is lost at the next restart)", path,
			strerror(e));
		unlink(tmp);
	}
}

static struct msix_state g_loaded;
static signed char *g_loaded_ok;	/* per entry: 0 not checked, 1 valid, -1 not for this PF */

void emu_msix_state_load(void)
{
	const struct emu_config *cfg = emu_get_config();
	char path[300], err[200];

	emu_msix_state_drop();
	if (cfg->no_endpoints)
		return;
	snprintf(path, sizeof(path), "%s/%s", cfg->dir, STATE_FILE);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
	if (!f) {
		if (errno != ENOENT)
			log_warn("%s: %s: every VF gets its configured MSI-X", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return;	/* ENOENT: a fresh EMU_DIR */
	}
	char *text = NULL;
	size_t cap = 0;
	ssize_t n = getdelim(&text, &cap, '\0', f);	/* the whole file: a NUL is refused by the parser */
	fclose(f);
	/* nothing read (an empty file) parses as empty: refused below */
	int rc = msix_state_parse(text ? text : "", n > 0 ? (size_t)n : 0, &g_loaded, err, sizeof(err));
	free(text);
	if (!rc)
		g_loaded_ok = calloc(g_loaded.npf ? g_loaded.npf : 1, 1);
	if (rc || !g_loaded_ok) {
		log_warn("%s: %s: ignored, every VF gets its configured MSI-X", path, rc ? err : "out of memory");
		emu_msix_state_drop();
		return;
	}
	log_info("%s: dynamic MSI-X allocation of %zu PF(s) restored", path, g_loaded.npf);
}

uint16_t emu_msix_state_vf(const struct emu_function *pf, int vf_index, uint16_t dflt)
{
	const struct msix_state_pf *s = msix_state_find(&g_loaded, pf->vuid);
	if (!s || vf_index < 0 || vf_index >= pf->total_vfs)
		return dflt;
	signed char *ok = &g_loaded_ok[s - g_loaded.pf];
	if (!*ok) {
		uint32_t sum = 0;
		for (uint32_t i = 0; i < s->nvf; i++)
			sum += s->vf[i];
		*ok = s->nvf == (uint32_t)pf->total_vfs && sum <= emu_pf_msix_budget(pf) ? 1 : -1;
		if (*ok < 0)
			log_warn("%s: the saved MSI-X allocation (%u VFs, %u vectors) does not fit this "
				 "configuration (%d VFs, %u vectors): its VFs get their configured MSI-X",
				 pf->vuid, s->nvf, sum, pf->total_vfs, emu_pf_msix_budget(pf));
	}
	return *ok > 0 ? s->vf[vf_index] : dflt;
}

void emu_msix_state_drop(void)
{
	msix_state_free(&g_loaded);
	free(g_loaded_ok);
	g_loaded_ok = NULL;
}

/* --- changes --- */

static int need_dynamic(const struct emu_function *pf, char *err, size_t errlen)
{
	if (pf->msix_dynamic)
		return 0;
	if (pf->ctrl)
		snprintf(err, errlen, "the controller of PF %s (%s) was not created with dynamic_msix", pf->vuid,
			 pf->ctrl_id);
	else
		snprintf(err, errlen, "PF %s has no controller created with dynamic_msix", pf->vuid);
	return -EPERM;
}

/* vf's table to n, EMU_MSIX_POOL following (the checks are made). */
static int vf_resize(struct emu_function *vf, uint16_t n, char *err, size_t errlen)
{
	uint16_t old = vf->num_msix;
	int rc = emu_fn_msix_resize(vf, n);
	if (rc) {
		snprintf(err, errlen, "%s: cannot rebuild its MSI-X table: %s", vf->vuid, strerror(-rc));
		return rc;
	}
	if (n > old)
		emu_msix_reserve(n - old);	/* checked: cannot fail */
	else
		emu_msix_release(old - n);
	return 0;
}

int emu_vf_msix_check(const struct emu_function *vf, uint32_t n, char *err, size_t errlen)
{
	if (vf->vf_index < 0) {
		snprintf(err, errlen, "%s is not a VF", vf->vuid);
		return -EINVAL;
	}
	if (n == vf->num_msix)
		return 0;
	const struct emu_function *pf = vf->pf;
	int rc = need_dynamic(pf, err, errlen);
	if (rc)
		return rc;
	if (n > EMU_MSIX_MAX_VECTORS) {
		snprintf(err, errlen, "%u MSI-X vectors: a table has at most %d", n, EMU_MSIX_MAX_VECTORS);
		return -EINVAL;
	}
	if (emu_fn_client_connected(vf)) {
		snprintf(err, errlen, "a client is connected to %s: its MSI-X table changes only while none is",
			 vf->vuid);
		return -EBUSY;
	}
	if (n > vf->num_msix) {
		uint32_t more = n - vf->num_msix, left = pool_left(pf);
		if (more > left) {
			snprintf(err, errlen, "%s would need %u more MSI-X vectors; the free pool of PF %s has %u", vf->vuid,
				 more, pf->vuid, left);
			return -ENOSPC;
		}
		if (more > emu_msix_available()) {
			snprintf(err, errlen, "%s would need %u more MSI-X vectors; EMU_MSIX_POOL has %u left", vf->vuid,
				 more, emu_msix_available());
			return -ENOSPC;
		}
	}
	return 0;
}

int emu_vf_msix_set(struct emu_function *vf, uint32_t n, char *err, size_t errlen)
{
	int rc = emu_vf_msix_check(vf, n, err, errlen);
	if (rc || n == vf->num_msix)
		return rc;
	uint16_t old = vf->num_msix;
	rc = vf_resize(vf, (uint16_t)n, err, errlen);
	if (rc)
		return rc;
	log_info("%s: %u MSI-X vectors (had %u); PF %s: %u free", vf->vuid, n, old, vf->pf->vuid,
		 pool_left(vf->pf));
	state_save();
	return 0;
}

int emu_pf_msix_reclaim(struct emu_function *pf, char *err, size_t errlen)
{
	if (!is_pf_with_vfs(pf)) {
		snprintf(err, errlen, "%s is not a PF with VFs", pf->vuid);
		return -EINVAL;
	}
	int rc = need_dynamic(pf, err, errlen);
	if (rc)
		return rc;
	uint16_t num = pci_cfg_num_vfs(pf->cfg);
	if (num || pci_cfg_vf_enabled(pf->cfg)) {
		snprintf(err, errlen, "SR-IOV is set on %s (NumVFs %u%s): reclaim needs sriov_numvfs = 0", pf->vuid, num,
			 pci_cfg_vf_enabled(pf->cfg) ? ", VF Enable" : "");
		return -EBUSY;
	}
	for (int i = 0; i < pf->total_vfs; i++) {
		struct emu_function *vf = pf->vfs[i];
		if (vf->ctrl) {
			snprintf(err, errlen, "VF %s has controller %s: destroy it first (release_msix gives its "
				 "vectors back)", vf->vuid, vf->ctrl_id);
			return -EBUSY;
		}
		if (emu_fn_client_connected(vf)) {
			snprintf(err, errlen, "a client is connected to %s", vf->vuid);
			return -EBUSY;
		}
	}
	uint32_t got = 0;
	for (int i = 0; i < pf->total_vfs && !rc; i++) {
		got += pf->vfs[i]->num_msix;
		rc = vf_resize(pf->vfs[i], 0, err, errlen);
		if (rc)
			got -= pf->vfs[i]->num_msix;
	}
	/* a failure (out of memory) leaves the VFs before it reclaimed: still
	 * a consistent allocation, saved as it is */
	state_save();
	if (!rc)
		log_info("%s: reclaimed %u MSI-X vectors from its VFs; %u free", pf->vuid, got, pool_left(pf));
	return rc;
}
