/* Dynamic MSI-X: the saved state's text (msix_state.c), a PF's pool
 * (emu_msix_pool.c) with the VFs' config space following their tables, and
 * a property test: 10 000 random create / destroy (with and without
 * release) / reclaim / modify / NumVFs / PF controller operations against a
 * model, checking after each that no pool goes negative, no vector leaks
 * (EMU_MSIX_POOL's available count, what emulation_resource_list reports,
 * equals the pool minus every function's table), every return code is the
 * model's, and each VF's MSI-X Table Size in config space is its
 * allocation. The device plane runs without endpoints (no sockets). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/thread.h"
#include "emu/emu_internal.h"
#include "emu/emu_msix_pool.h"
#include "emu/msix_state.h"

/* ---- the state text ---------------------------------------------------------------- */

static void test_state_round_trip(void **state)
{
	(void)state;
	const char *text = "# saved\n\nosnap-msix 1\npf MT2328XZ17DFNVMES1D0F0 3 4 0 2048\n"
			   "pf VBLK0 1 7\n";
	struct msix_state st, again;
	char err[200];
	assert_int_equal(msix_state_parse(text, strlen(text), &st, err, sizeof(err)), 0);
	assert_int_equal(st.npf, 2);
	const struct msix_state_pf *pf = msix_state_find(&st, "MT2328XZ17DFNVMES1D0F0");
	assert_non_null(pf);
	assert_int_equal(pf->nvf, 3);
	assert_int_equal(pf->vf[0], 4);
	assert_int_equal(pf->vf[1], 0);
	assert_int_equal(pf->vf[2], 2048);
	assert_int_equal(msix_state_find(&st, "VBLK0")->vf[0], 7);
	assert_null(msix_state_find(&st, "VBLK1"));
	char *out = msix_state_format(&st);
	assert_non_null(out);
	assert_string_equal(out, "osnap-msix 1\npf MT2328XZ17DFNVMES1D0F0 3 4 0 2048\npf VBLK0 1 7\n");
	assert_int_equal(msix_state_parse(out, strlen(out), &again, err, sizeof(err)), 0);
	assert_int_equal(again.npf, 2);
	free(out);
	msix_state_free(&again);
	msix_state_free(&st);
}

static void test_state_refusals(void **state)
{
	(void)state;
	static const struct { const char *text, *words; } bad[] = {
		{ "", "empty" },
		{ "pf A 1 4\n", "line 1" },
		{ "osnap-msix 2\n", "version 2" },
		{ "osnap-msix 1 x\n", "line 1" },
		{ "osnap-msix 1\npf A 2 4\n", "line 2: VF 1" },
		{ "osnap-msix 1\npf A 1 4 5\n", "more than 1 VFs" },
		{ "osnap-msix 1\npf A 1 2049\n", "VF 0" },
		{ "osnap-msix 1\npf A 1 -1\n", "VF 0" },
		{ "osnap-msix 1\npf A 0\n", "number of VFs" },
		{ "osnap-msix 1\npf A 4097\n", "number of VFs" },
		{ "osnap-msix 1\npf A-B 1 4\n", "VUID" },
		{ "osnap-msix 1\npf A 1 4\npf A 1 4\n", "appears twice" },
		{ "osnap-msix 1\nvf A 1 4\n", "line 2" },
		{ "osnap-msix 1\npf 0123456789012345678901234567890123456789012345678 1 4\n", "VUID" },
	};
	char err[200];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct msix_state st;
		err[0] = '\0';
		assert_int_equal(msix_state_parse(bad[i].text, strlen(bad[i].text), &st, err, sizeof(err)), -EINVAL);
		if (!strstr(err, bad[i].words))
			fail_msg("%s: error '%s' does not say '%s'", bad[i].text, err, bad[i].words);
		msix_state_free(&st);
	}
	/* a NUL inside the text (the file is read as bytes) */
	struct msix_state st;
	assert_int_equal(msix_state_parse("osnap-msix 1\n\0pf A 1 4\n", 22, &st, err, sizeof(err)), -EINVAL);
	msix_state_free(&st);
	/* no final newline is fine */
	assert_int_equal(msix_state_parse("osnap-msix 1\npf A 1 4", 21, &st, err, sizeof(err)), 0);
	assert_int_equal(st.pf[0].vf[0], 4);
	msix_state_free(&st);
}

/* ---- the device plane ---------------------------------------------------------------- */

#define NVME_VFS 8
#define VBLK_VFS 6
#define VF_MSIX 4
#define PF_MSIX 32
/* every table at start: 2 NVMe PFs and 1 virtio-blk PF, their VFs */
#define TABLES0 (3 * PF_MSIX + (2 * NVME_VFS + VBLK_VFS) * VF_MSIX)
#define MSIX_POOL (TABLES0 + 20)	/* 20 spare: EMU_MSIX_POOL runs out too */

static int setup(void **state)
{
	(void)state;
	struct emu_config cfg;
	char err[256];
	assert_int_equal(thread_lib_init(), 0);
	log_set_level(LOG_WARN);
	emu_config_defaults(&cfg);
	cfg.no_endpoints = true;
	cfg.sriov_en = true;
	cfg.nvme_num_pf = 2;
	cfg.nvme_num_vf = NVME_VFS;
	cfg.vblk_num_pf = 1;
	cfg.vblk_num_vf = VBLK_VFS;
	cfg.vblk_transport = EMU_VBLK_VFIO_USER;
	cfg.msix_pool = MSIX_POOL;
	assert_int_equal(emu_init(&cfg, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	emu_fini();
	thread_lib_fini();
	return 0;
}

/* The MSI-X Table Size a client reads from fn's config space (0: no
 * MSI-X capability), and the MSI-X BAR holding table and PBA. */
static unsigned table_size(struct emu_function *fn)
{
	uint16_t cap = pci_cfg_find_cap(fn->cfg, 0x11), ctl;
	if (!cap)
		return 0;
	assert_int_equal(emu_region_read(fn, EMU_REGION_CONFIG, cap + 2u, &ctl, 2), 0);
	unsigned n = (ctl & 0x7ffu) + 1;
	uint32_t tbl, pba;
	assert_int_equal(emu_region_read(fn, EMU_REGION_CONFIG, cap + 4u, &tbl, 4), 0);
	assert_int_equal(emu_region_read(fn, EMU_REGION_CONFIG, cap + 8u, &pba, 4), 0);
	uint64_t size = emu_region_size(fn, tbl & 7);
	assert_true((tbl & ~7u) + 16ull * n <= size);
	assert_true((pba & ~7u) + (n + 63) / 64 * 8ull <= size);
	return n;
}

static uint32_t all_tables(void)
{
	uint32_t sum = 0;
	for (struct emu_function *pf = emu_pf_first(); pf; pf = emu_pf_next(pf)) {
		sum += emu_fn_num_msix(pf);
		for (int i = 0; i < emu_fn_num_vfs(pf); i++)
			sum += emu_fn_num_msix(emu_fn_vf(pf, i));
	}
	return sum;
}

static const struct emu_ctrl_ops no_ops;

static void bind(struct emu_function *fn, const char *name)
{
	assert_int_equal(emu_fn_bind(fn, &no_ops, (void *)&no_ops, name), 0);
}

static void test_pool_basics(void **state)
{
	(void)state;
	char err[256];
	struct emu_function *pf = emu_find_by_index(EMU_TYPE_NVME, 0, -1);
	struct emu_function *vf0 = emu_fn_vf(pf, 0), *vf1 = emu_fn_vf(pf, 1);
	uint32_t avail0 = emu_msix_available();

	assert_int_equal(avail0, MSIX_POOL - TABLES0);
	assert_int_equal(emu_pf_msix_budget(pf), NVME_VFS * VF_MSIX);
	assert_int_equal(emu_pf_msix_budget(vf0), 0);
	assert_int_equal(emu_pf_msix_free(pf), 0);
	assert_int_equal(table_size(vf0), VF_MSIX);
	/* without a dynamic PF controller nothing moves */
	assert_int_equal(emu_vf_msix_set(vf0, 6, err, sizeof(err)), -EPERM);
	assert_non_null(strstr(err, "dynamic_msix"));
	assert_int_equal(emu_vf_msix_set(vf0, VF_MSIX, err, sizeof(err)), 0);	/* its own count */
	assert_int_equal(emu_pf_msix_reclaim(pf, err, sizeof(err)), -EPERM);
	bind(pf, "PFCtrl");
	emu_pf_msix_set_dynamic(pf, true);
	assert_true(emu_pf_msix_dynamic(pf));
	assert_int_equal(emu_pf_msix_reclaim(vf0, err, sizeof(err)), -EINVAL);

	/* reclaim: every VF's vectors to the pool (EMU_MSIX_POOL has them too) */
	assert_int_equal(emu_pf_msix_reclaim(pf, err, sizeof(err)), 0);
	assert_int_equal(table_size(vf0), 0);
	assert_int_equal(emu_fn_num_msix(vf1), 0);
	assert_int_equal(emu_msix_available(), avail0 + NVME_VFS * VF_MSIX);
	assert_int_equal(emu_pf_msix_free(pf), NVME_VFS * VF_MSIX);
	/* a VF takes some: Table Size and BAR follow */
	assert_int_equal(emu_vf_msix_set(vf0, 9, err, sizeof(err)), 0);
	assert_int_equal(table_size(vf0), 9);
	assert_int_equal(emu_vf_msix_max(vf0), NVME_VFS * VF_MSIX);
	assert_int_equal(emu_pf_msix_free(pf), NVME_VFS * VF_MSIX - 9);
	/* beyond the pool: refused, nothing changed */
	assert_int_equal(emu_vf_msix_set(vf1, NVME_VFS * VF_MSIX - 8, err, sizeof(err)), -ENOSPC);
	assert_non_null(strstr(err, "free pool"));
	assert_int_equal(table_size(vf1), 0);
	assert_int_equal(emu_vf_msix_set(vf1, 2049, err, sizeof(err)), -EINVAL);
	/* reclaim refused with NumVFs set, or with a VF controller */
	assert_int_equal(emu_fn_set_num_vfs(pf, 2), 0);
	assert_true(emu_fn_active(vf1));
	assert_int_equal(emu_pf_msix_reclaim(pf, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "NumVFs 2"));
	assert_int_equal(emu_fn_set_num_vfs(pf, 0), 0);
	bind(vf0, "VFCtrl");
	assert_ptr_equal(emu_find_by_ctrl("VFCtrl"), vf0);
	assert_int_equal(emu_pf_msix_reclaim(pf, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "VFCtrl"));
	/* modify of a bound VF, then release */
	assert_int_equal(emu_vf_msix_set(vf0, 3, err, sizeof(err)), 0);
	assert_int_equal(table_size(vf0), 3);
	emu_fn_unbind(vf0);
	assert_int_equal(emu_vf_msix_set(vf0, 0, err, sizeof(err)), 0);
	/* the PF's controller goes: the pool closes, the allocation stays */
	emu_fn_unbind(pf);
	assert_false(emu_pf_msix_dynamic(pf));
	assert_int_equal(emu_vf_msix_set(vf0, 2, err, sizeof(err)), -EPERM);
	assert_int_equal(emu_fn_num_msix(vf0), 0);
	assert_int_equal(emu_msix_available(), MSIX_POOL - all_tables());
	/* back to the start for the next test */
	bind(pf, "PFCtrl");
	emu_pf_msix_set_dynamic(pf, true);
	for (int i = 0; i < NVME_VFS; i++)
		assert_int_equal(emu_vf_msix_set(emu_fn_vf(pf, i), VF_MSIX, err, sizeof(err)), 0);
	emu_fn_unbind(pf);
	assert_int_equal(emu_msix_available(), avail0);
}

/* ---- the property test -------------------------------------------------------------- */

#define OPS 10000

struct model_pf {
	struct emu_function *fn;
	bool bound, dynamic;
	uint16_t numvfs;
	int nvf;
	uint32_t budget;
	uint16_t vf[NVME_VFS > VBLK_VFS ? NVME_VFS : VBLK_VFS];
	bool vf_bound[NVME_VFS > VBLK_VFS ? NVME_VFS : VBLK_VFS];
};

static uint64_t g_rng;

static uint32_t rnd(uint32_t n)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint32_t)(g_rng % n);
}

static uint32_t model_used(const struct model_pf *m, int npf)
{
	uint32_t used = 0;
	for (int p = 0; p < npf; p++) {
		used += PF_MSIX;
		for (int i = 0; i < m[p].nvf; i++)
			used += m[p].vf[i];
	}
	return used;
}

static uint32_t model_left(const struct model_pf *m)
{
	uint32_t s = 0;
	for (int i = 0; i < m->nvf; i++)
		s += m->vf[i];
	return m->budget - s;
}

static void check_all(struct model_pf *m, int npf, int op)
{
	uint32_t used = model_used(m, npf);
	if (emu_msix_available() != MSIX_POOL - used || all_tables() != used)
		fail_msg("op %d: EMU_MSIX_POOL has %u available, the model %u (tables %u)", op, emu_msix_available(),
			 MSIX_POOL - used, all_tables());
	for (int p = 0; p < npf; p++) {
		uint32_t s = 0;
		for (int i = 0; i < m[p].nvf; i++) {
			struct emu_function *vf = emu_fn_vf(m[p].fn, i);
			s += emu_fn_num_msix(vf);
			if (emu_fn_num_msix(vf) != m[p].vf[i] || table_size(vf) != m[p].vf[i])
				fail_msg("op %d: %s has %u vectors, Table Size %u; the model %u", op, emu_fn_vuid(vf),
					 emu_fn_num_msix(vf), table_size(vf), m[p].vf[i]);
			if (emu_fn_active(vf) != (i < m[p].numvfs))
				fail_msg("op %d: %s active %d", op, emu_fn_vuid(vf), emu_fn_active(vf));
		}
		if (s > m[p].budget)
			fail_msg("op %d: PF %s's VFs hold %u of a pool of %u", op, emu_fn_vuid(m[p].fn), s, m[p].budget);
		uint32_t left = m[p].budget - s, avail = MSIX_POOL - used;
		if (emu_pf_msix_free(m[p].fn) != (left < avail ? left : avail))
			fail_msg("op %d: PF %s free %u, the model %u", op, emu_fn_vuid(m[p].fn),
				 emu_pf_msix_free(m[p].fn), left < avail ? left : avail);
		if (emu_pf_msix_dynamic(m[p].fn) != m[p].dynamic)
			fail_msg("op %d: PF %s dynamic %d", op, emu_fn_vuid(m[p].fn), m[p].dynamic);
	}
}

static void expect_rc(int op, const char *what, int got, int want, const char *err)
{
	if (got != want)
		fail_msg("op %d (%s): rc %d, the model %d (%s)", op, what, got, want, got ? err : "");
}

static void test_random_operations(void **state)
{
	(void)state;
	struct model_pf m[3];
	char err[256], name[32];
	int npf = 0, counts[8] = { 0 }, reclaimed = 0, no_space = 0, not_dynamic = 0;
	const char *seed_env = getenv("OSNAP_TEST_SEED");
	uint64_t seed = seed_env ? strtoull(seed_env, NULL, 0) : 0x5eed15u;

	g_rng = seed ? seed : 1;
	print_message("# seed %llu (OSNAP_TEST_SEED)\n", (unsigned long long)seed);
	memset(m, 0, sizeof(m));
	for (struct emu_function *pf = emu_pf_first(); pf; pf = emu_pf_next(pf)) {
		struct model_pf *p = &m[npf++];
		p->fn = pf;
		p->nvf = emu_fn_num_vfs(pf);
		p->budget = emu_pf_msix_budget(pf);
		for (int i = 0; i < p->nvf; i++)
			p->vf[i] = emu_fn_num_msix(emu_fn_vf(pf, i));
	}
	assert_int_equal(npf, 3);
	check_all(m, npf, -1);

	for (int op = 0; op < OPS; op++) {
		struct model_pf *p = &m[rnd((uint32_t)npf)];
		int i = (int)rnd((uint32_t)p->nvf);
		struct emu_function *vf = emu_fn_vf(p->fn, i);
		int kind = (int)rnd(100), rc, want;
		uint32_t n;

		if (kind < 8) {
			/* the PF's controller comes (with or without dynamic_msix) or goes */
			counts[0]++;
			if (p->bound) {
				emu_fn_unbind(p->fn);
				p->bound = p->dynamic = false;
			} else {
				snprintf(name, sizeof(name), "PF%d", (int)(p - m));
				bind(p->fn, name);
				p->bound = true;
				p->dynamic = rnd(4) != 0;
				emu_pf_msix_set_dynamic(p->fn, p->dynamic);
			}
		} else if (kind < 16) {
			/* the host writes NumVFs (through 0, as sriov_numvfs) */
			counts[1]++;
			p->numvfs = rnd(2) ? 0 : (uint16_t)rnd((uint32_t)p->nvf + 1);
			assert_int_equal(emu_fn_set_num_vfs(p->fn, p->numvfs), 0);
		} else if (kind < 20) {
			/* every VF controller of the PF goes (the seed's teardown),
			 * with release_msix or not */
			counts[6]++;
			bool release = rnd(2);
			for (int k = 0; k < p->nvf; k++) {
				if (!p->vf_bound[k])
					continue;
				emu_fn_unbind(emu_fn_vf(p->fn, k));
				p->vf_bound[k] = false;
				want = !release || !p->vf[k] ? 0 : !p->dynamic ? -EPERM : 0;
				rc = release ? emu_vf_msix_set(emu_fn_vf(p->fn, k), 0, err, sizeof(err)) : 0;
				expect_rc(op, "teardown", rc, want, err);
				if (release && !rc)
					p->vf[k] = 0;
			}
		} else if (kind < 30) {
			/* *_vfs_msix_reclaim */
			counts[2]++;
			bool vf_ctrl = false;
			for (int k = 0; k < p->nvf; k++)
				vf_ctrl |= p->vf_bound[k];
			want = !p->dynamic ? -EPERM : p->numvfs || vf_ctrl ? -EBUSY : 0;
			rc = emu_pf_msix_reclaim(p->fn, err, sizeof(err));
			expect_rc(op, "reclaim", rc, want, err);
			if (!rc)
				memset(p->vf, 0, sizeof(p->vf));
			reclaimed += !rc;
		} else {
			/* create with vf_num_msix (the VF's vectors, then the
			 * controller), modify (a bound VF), destroy with or
			 * without release_msix */
			bool release = false;
			if (p->vf_bound[i] && rnd(3)) {
				counts[3]++;
				emu_fn_unbind(vf);
				p->vf_bound[i] = false;
				release = rnd(2);
				if (!release)
					goto check;
				n = 0;
			} else {
				counts[p->vf_bound[i] ? 4 : 5]++;
				n = rnd(12) ? 2 + rnd(p->budget / 2 + 2) : rnd(2) ? rnd(3000) : p->vf[i];
			}
			uint32_t used = model_used(m, npf), cur = p->vf[i];
			want = n == cur ? 0 : !p->dynamic ? -EPERM : n > EMU_MSIX_MAX_VECTORS ? -EINVAL :
			       n > cur && (n - cur > model_left(p) || n - cur > MSIX_POOL - used) ? -ENOSPC : 0;
			rc = emu_vf_msix_set(vf, n, err, sizeof(err));
			expect_rc(op, release ? "release" : "set", rc, want, err);
			no_space += rc == -ENOSPC;
			not_dynamic += rc == -EPERM;
			if (!rc) {
				p->vf[i] = (uint16_t)n;
				if (!release && !p->vf_bound[i] && n) {
					snprintf(name, sizeof(name), "VF%d.%d", (int)(p - m), i);
					bind(vf, name);
					p->vf_bound[i] = true;
				}
			}
		}
check:
		check_all(m, npf, op);
	}
	print_message("# %d PF controller, %d NumVFs, %d reclaim (%d done), %d destroy, %d teardown, %d modify, "
		      "%d create; %d out of the pool, %d without dynamic MSI-X\n", counts[0], counts[1], counts[2],
		      reclaimed, counts[3], counts[6], counts[4], counts[5], no_space, not_dynamic);
	/* the sequence reached every outcome */
	assert_true(reclaimed > 10 && no_space > 10 && not_dynamic > 10);
	for (int p = 0; p < npf; p++) {
		for (int i = 0; i < m[p].nvf; i++)
			if (m[p].vf_bound[i])
				emu_fn_unbind(emu_fn_vf(m[p].fn, i));
		if (m[p].bound)
			emu_fn_unbind(m[p].fn);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state_round_trip),
		cmocka_unit_test(test_state_refusals),
		cmocka_unit_test(test_pool_basics),
		cmocka_unit_test(test_random_operations),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
