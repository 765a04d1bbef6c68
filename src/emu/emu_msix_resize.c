/* A function's MSI-X table changing size (dynamic MSI-X, emu_msix_pool.c):
 * its MSI-X BAR (table + PBA), its vectors' eventfds and masks and its
 * config space are rebuilt for the new count, as a device whose Table Size
 * the firmware changed would look after a reset.
 *
 * Only while no client is connected: no client means no eventfd, no
 * mapped BAR and no running queue, so nothing reads the old table while it
 * is replaced. Reactors are not supposed to raise a vector of such a
 * function; the old table and arrays are still freed only after a grace
 * period (emu_sync), so that one that does reads stale but valid memory. */
#include "emu_internal.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

struct old_msix {
	_Atomic int *efd;
	atomic_uchar *mask;
	uint16_t n;
	uint8_t *mem;
	uint64_t size;
	int fd;
};

static void free_old(void *arg)
{
	struct old_msix *o = arg;
	emu_msix_free_vectors(o->efd, o->mask, o->n);
	munmap(o->mem, o->size);
	close(o->fd);
	free(o);
}

int emu_fn_msix_resize(struct emu_function *fn, uint16_t n)
{
	struct pci_cfg_desc d;
	uint16_t old_n = fn->num_msix;
	int bar = fn->msix_bar;
	struct emu_bar nb = { 0 };

	if (n == old_n)
		return 0;
	fn->num_msix = n;
	emu_fn_describe(fn, &d);	/* also the table and PBA offsets for n */
	/* the vectors' arrays keep at least the old count of entries: a
	 * reactor that checked a vector against the old count reads inside */
	uint16_t cap = n > old_n ? n : old_n;
	struct old_msix *o = calloc(1, sizeof(*o));
	_Atomic int *efd = calloc(cap ? cap : 1, sizeof(*efd));
	atomic_uchar *mask = calloc(cap ? cap : 1, sizeof(*mask));
	struct pci_cfg *cfg = malloc(sizeof(*cfg));	/* built aside: a refusal changes nothing */
	int rc = o && efd && mask && cfg ? 0 : -ENOMEM;
	if (!rc && d.msix_table_bar != bar)
		rc = -EINVAL;	/* the layout keeps MSI-X in its BAR */
	if (!rc)
		rc = pci_cfg_init(cfg, &d);
	if (!rc)
		rc = emu_fn_shm_alloc(fn->vuid, d.bar_size[bar], &nb.fd, (void **)&nb.mem);
	if (rc) {
		free(cfg);
		free(o);
		free(efd);
		free((void *)mask);
		fn->num_msix = old_n;
		emu_fn_describe(fn, &d);	/* back to the offsets of old_n */
		return rc;
	}
	for (uint16_t i = 0; i < cap; i++)
		atomic_init(&efd[i], -1);
	o->efd = fn->msix_efd;
	o->mask = fn->msix_vfio_mask;
	o->n = old_n;
	o->mem = fn->bars[bar].mem;
	o->size = fn->bars[bar].size;
	o->fd = fn->bars[bar].fd;

	nb.size = d.bar_size[bar];
	nb.is64 = d.bar_64[bar];
	nb.prefetch = d.bar_prefetch[bar];
	fn->bars[bar] = nb;
	fn->msix_efd = efd;
	fn->msix_vfio_mask = mask;
	memcpy(fn->cfg, cfg, sizeof(*cfg));
	free(cfg);
	emu_msix_reset(fn);
	emu_sync(free_old, o);
	log_debug("%s: MSI-X table of %u vectors (was %u)", fn->vuid, n, old_n);
	return 0;
}
