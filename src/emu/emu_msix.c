/* MSI-X: the table and PBA live in a BAR's shared memory; each vector
 * fires by writing its eventfd.
 *
 * Masking follows VFIO, not bare PCI: a VFIO client (QEMU's vfio-user-pci,
 * like QEMU's vfio-pci on a kernel device) emulates the MSI-X table itself,
 * so the guest's writes to the table and its per-vector mask bits never
 * reach the device. What the device honours is the MSI-X Enable and
 * Function Mask bits of config space (the client writes those through) and
 * the client's SET_IRQS MASK/UNMASK per vector (we report MSI-X as
 * VFIO_IRQ_INFO_MASKABLE). The table in the BAR is plain storage. A masked
 * vector latches its pending bit and fires when unmasked. */
#include "emu_internal.h"
#include "core/log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ENTRY_SIZE 16
#define CTRL_MASKBIT 1u

static atomic_uint *vec_ctrl(struct emu_function *fn, uint16_t v)
{
	uint8_t *t = fn->bars[fn->msix_bar].mem + fn->msix_table_off;
	return (atomic_uint *)(t + (size_t)v * ENTRY_SIZE + 12);
}

static atomic_ullong *pba_word(struct emu_function *fn, uint16_t v)
{
	uint8_t *p = fn->bars[fn->msix_bar].mem + fn->msix_pba_off;
	return (atomic_ullong *)(p + (v / 64) * 8);
}

int emu_msix_init(struct emu_function *fn)
{
	uint16_t n = fn->num_msix;
	fn->msix_efd = calloc(n ? n : 1, sizeof(*fn->msix_efd));
	fn->msix_vfio_mask = calloc(n ? n : 1, sizeof(*fn->msix_vfio_mask));
	if (!fn->msix_efd || !fn->msix_vfio_mask)
		return -ENOMEM;
	for (uint16_t i = 0; i < n; i++)
		atomic_init(&fn->msix_efd[i], -1);
	emu_msix_reset(fn);
	return 0;
}

void emu_msix_free_vectors(_Atomic int *efd, atomic_uchar *mask, uint16_t n)
{
	for (uint16_t i = 0; efd && i < n; i++) {
		int fd = atomic_load(&efd[i]);
		if (fd >= 0)
			close(fd);
	}
	free(efd);
	free((void *)mask);
}

void emu_msix_fini(struct emu_function *fn)
{
	emu_msix_free_vectors(fn->msix_efd, fn->msix_vfio_mask, fn->num_msix);
	fn->msix_efd = NULL;
	fn->msix_vfio_mask = NULL;
}

/* Reset state: the table's mask bits set as PCI says (they are storage
 * only, see above), nothing pending. */
void emu_msix_reset(struct emu_function *fn)
{
	uint8_t *t = fn->bars[fn->msix_bar].mem + fn->msix_table_off;
	memset(t, 0, (size_t)fn->num_msix * ENTRY_SIZE);
	for (uint16_t i = 0; i < fn->num_msix; i++)
		atomic_store(vec_ctrl(fn, i), CTRL_MASKBIT);
	memset(fn->bars[fn->msix_bar].mem + fn->msix_pba_off, 0, ((fn->num_msix + 63) / 64) * 8);
}

/* Masked, or without an eventfd for now (QEMU takes a vector's fd away
 * and gives it back while it reconfigures vectors): the interrupt waits
 * in the PBA and fires when the vector can deliver again. */
static bool vector_masked(struct emu_function *fn, uint16_t v)
{
	return !pci_cfg_msix_enabled(fn->cfg) || pci_cfg_msix_function_masked(fn->cfg) ||
	       atomic_load_explicit(&fn->msix_vfio_mask[v], memory_order_relaxed) ||
	       atomic_load_explicit(&fn->msix_efd[v], memory_order_relaxed) < 0;
}

static void fire(struct emu_function *fn, uint16_t v)
{
	int fd = atomic_load_explicit(&fn->msix_efd[v], memory_order_acquire);
	if (fd >= 0) {
		uint64_t one = 1;
		ssize_t w = write(fd, &one, sizeof(one));
		(void)w;
	}
}

/* Take the pending bit of v if set; true if we took it. */
static bool take_pending(struct emu_function *fn, uint16_t v)
{
	uint64_t bit = 1ull << (v % 64);
	return atomic_fetch_and(pba_word(fn, v), ~bit) & bit;
}

int emu_irq_raise(struct emu_function *fn, uint16_t vector)
{
	if (vector >= fn->num_msix)
		return -EINVAL;
	if (!pci_cfg_msix_enabled(fn->cfg))
		return -ENODEV;
	if (!vector_masked(fn, vector)) {
		fire(fn, vector);
		return 0;
	}
	/* Latch, then look again: the seq_cst RMW orders our pending bit
	 * before the second mask check, pairing with the unmask side which
	 * clears the mask before it takes pending bits. Whoever takes the bit
	 * fires, so an unmask racing with us never loses the interrupt. */
	atomic_fetch_or(pba_word(fn, vector), 1ull << (vector % 64));
	if (!vector_masked(fn, vector) && take_pending(fn, vector))
		fire(fn, vector);
	return 0;
}

/* After anything was unmasked: deliver what is pending and now unmasked. */
static void deliver_pending(struct emu_function *fn)
{
	/* orders the unmask store(s) before the pending-bit reads below */
	atomic_thread_fence(memory_order_seq_cst);
	for (uint16_t v = 0; v < fn->num_msix; v++) {
		if (!vector_masked(fn, v) && take_pending(fn, v))
			fire(fn, v);
	}
}

void emu_msix_control_changed(struct emu_function *fn)
{
	deliver_pending(fn);
}

bool emu_msix_owns(struct emu_function *fn, int bar, uint64_t off, uint64_t len)
{
	if (!fn->num_msix || bar != fn->msix_bar)
		return false;
	uint64_t tend = fn->msix_table_off + (uint64_t)fn->num_msix * ENTRY_SIZE;
	uint64_t pend = fn->msix_pba_off + ((fn->num_msix + 63) / 64) * 8;
	return (off < tend && off + len > fn->msix_table_off) ||
	       (off < pend && off + len > fn->msix_pba_off);
}

int emu_msix_read(struct emu_function *fn, int bar, uint64_t off, void *buf, size_t len)
{
	(void)bar;
	/* the table and PBA are plain shared memory; the PBA bits are atomics
	 * written by reactors, a byte copy of them is a valid snapshot */
	memcpy(buf, fn->bars[fn->msix_bar].mem + off, len);
	return 0;
}

int emu_msix_write(struct emu_function *fn, int bar, uint64_t off, const void *buf, size_t len)
{
	uint8_t *mem = fn->bars[fn->msix_bar].mem;
	uint64_t tend = fn->msix_table_off + (uint64_t)fn->num_msix * ENTRY_SIZE;

	(void)bar;
	/* The PBA is read-only: only the bytes inside the table are written.
	 * The table is storage only (see the top of this file): writing a
	 * mask bit neither masks nor unmasks the vector. */
	for (size_t i = 0; i < len; i++) {
		uint64_t o = off + i;
		if (o < fn->msix_table_off || o >= tend)
			continue;
		uint64_t in_entry = (o - fn->msix_table_off) % ENTRY_SIZE;
		uint16_t v = (uint16_t)((o - fn->msix_table_off) / ENTRY_SIZE);
		uint8_t b = ((const uint8_t *)buf)[i];
		if (in_entry == 12) {
			/* Vector Control: only the mask bit is writable */
			unsigned old = atomic_load(vec_ctrl(fn, v));
			atomic_store(vec_ctrl(fn, v), (old & ~CTRL_MASKBIT) | (b & CTRL_MASKBIT));
		} else if (in_entry < 12) {
			mem[o] = b;
		}
	}
	return 0;
}

struct close_job {
	int *fds;
	uint32_t n;
};

static void close_after_grace(void *p)
{
	struct close_job *j = p;
	for (uint32_t i = 0; i < j->n; i++)
		if (j->fds[i] >= 0)
			close(j->fds[i]);
	free(j->fds);
	free(j);
}

int emu_msix_set_eventfds(struct emu_function *fn, uint32_t start, uint32_t count, const int *fds)
{
	if (start > fn->num_msix || count > fn->num_msix - start)
		return -EINVAL;
	struct close_job *j = calloc(1, sizeof(*j));
	int *old = calloc(count ? count : 1, sizeof(int));
	if (!j || !old) {
		free(j);
		free(old);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < count; i++)
		old[i] = atomic_exchange(&fn->msix_efd[start + i], fds[i] >= 0 ? fds[i] : -1);
	j->fds = old;
	j->n = count;
	/* a reactor may be writing to an old fd right now: close it later */
	emu_sync(close_after_grace, j);
	deliver_pending(fn);
	return 0;
}

void emu_msix_clear_all(struct emu_function *fn)
{
	if (!fn->num_msix)
		return;
	int *none = malloc(fn->num_msix * sizeof(int));
	if (!none)
		return;
	for (uint16_t i = 0; i < fn->num_msix; i++)
		none[i] = -1;
	emu_msix_set_eventfds(fn, 0, fn->num_msix, none);
	free(none);
	for (uint16_t i = 0; i < fn->num_msix; i++)
		atomic_store(&fn->msix_vfio_mask[i], 0);
}

int emu_msix_vfio_mask(struct emu_function *fn, uint32_t start, uint32_t count,
		       const uint8_t *bools, bool mask)
{
	if (start > fn->num_msix || count > fn->num_msix - start)
		return -EINVAL;
	for (uint32_t i = 0; i < count; i++)
		if (!bools || bools[i])
			atomic_store(&fn->msix_vfio_mask[start + i], mask ? 1 : 0);
	if (!mask)
		deliver_pending(fn);
	return 0;
}
