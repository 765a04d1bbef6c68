/* The client's memory map and guest-address translation. */
#include "emu_internal.h"
#include "core/guest_fault.h"
#include "core/log.h"
#include "core/thread.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

/* --- grace periods --- */

struct sync_state {
	void (*cb)(void *arg);
	void *arg;
	int pending;
};

static void sync_ack_main(void *p)
{
	struct sync_state *s = p;
	if (--s->pending == 0) {
		s->cb(s->arg);
		free(s);
	}
}

static void sync_on_reactor(void *p)
{
	/* Running a message means this reactor is between poller runs: any
	 * translation or irq it started before has finished. */
	thread_send_msg(thread_main(), sync_ack_main, p);
}

void emu_sync(void (*cb)(void *arg), void *arg)
{
	int n = reactor_count();
	struct sync_state *s;

	if (n == 0 || !(s = malloc(sizeof(*s)))) {
		if (n)
			log_err("emu_sync: out of memory; waiting by joining nothing");
		cb(arg);
		return;
	}
	s->cb = cb;
	s->arg = arg;
	s->pending = n;
	for (int i = 0; i < n; i++)
		thread_send_msg(reactor_get(i), sync_on_reactor, s);
}

/* --- snapshots --- */

static _Atomic uint64_t g_map_gen = 1;

static struct emu_memmap *map_alloc(int n)
{
	struct emu_memmap *m = malloc(sizeof(*m) + (size_t)n * sizeof(struct emu_region));
	if (m) {
		m->n = n;
		m->gen = atomic_fetch_add(&g_map_gen, 1) + 1;
	}
	return m;
}

uint64_t emu_mem_generation(struct emu_function *fn)
{
	/* acquire: pairs with the release in map_publish */
	return atomic_load_explicit(&fn->map_gen, memory_order_acquire);
}

const _Atomic uint64_t *emu_mem_generation_ptr(struct emu_function *fn)
{
	return &fn->map_gen;
}

static void map_publish(struct emu_function *fn, struct emu_memmap *m)
{
	struct emu_memmap *old;
	/* release: the region array is complete before readers can see it */
	old = atomic_exchange_explicit(&fn->map, m, memory_order_acq_rel);
	/* release, after the map: a reader that sees the new number and then
	 * loads the map sees this map or a newer one, so a translation is
	 * never tagged with a number newer than its map */
	atomic_store_explicit(&fn->map_gen, m ? m->gen : 0, memory_order_release);
	if (old)
		emu_sync(free, old);
}

int emu_mem_count(struct emu_function *fn)
{
	struct emu_memmap *m = atomic_load_explicit(&fn->map, memory_order_acquire);
	return m ? m->n : 0;
}

/* A page of the client's memory faulted (it truncated its file): the page
 * is anonymous memory now, and the client has to go. Main thread. */
static void region_fault(void *arg)
{
	struct emu_function *fn = arg;
	log_err("%s: the client's memory faulted (a shared file was truncated under us): "
		"dropping the client", fn->vuid);
	if (fn->ep)
		vfu_endpoint_drop_client(fn);
	else if (fn->ops && fn->ops->client_fault)
		fn->ops->client_fault(fn->ctrl);
}

int emu_mem_add(struct emu_function *fn, uint64_t gpa, uint64_t size, int prot, int fd,
		uint64_t offset)
{
	struct emu_memmap *cur = atomic_load_explicit(&fn->map, memory_order_acquire);
	int n = cur ? cur->n : 0, pos = 0;

	if (!size || gpa + size < gpa)
		return -EINVAL;
	if (n >= EMU_MAX_DMA_REGIONS)
		return -ENOSPC;
	for (int i = 0; i < n; i++) {
		const struct emu_region *r = &cur->r[i];
		if (gpa < r->gpa + r->size && r->gpa < gpa + size)
			return -EEXIST;
		if (r->gpa < gpa)
			pos = i + 1;
	}
	void *hva = NULL;
	if (fd >= 0) {
		/* pages past the end of a regular file (memfd, tmpfs, hugetlbfs)
		 * map fine but fault with SIGBUS when touched: refuse such a range */
		struct stat st;
		if (fstat(fd, &st) < 0)
			return -errno;
		if (S_ISREG(st.st_mode) &&
		    (offset > (uint64_t)st.st_size || size > (uint64_t)st.st_size - offset))
			return -EINVAL;
		int mprot = (prot & EMU_DMA_READ ? PROT_READ : 0) | (prot & EMU_DMA_WRITE ? PROT_WRITE : 0);
		hva = mmap(NULL, size, mprot ? mprot : PROT_NONE, MAP_SHARED, fd, (off_t)offset);
		if (hva == MAP_FAILED)
			return -errno;
	}
	struct emu_memmap *m = map_alloc(n + 1);
	if (!m) {
		if (hva)
			munmap(hva, size);
		return -ENOMEM;
	}
	if (pos)
		memcpy(m->r, cur->r, (size_t)pos * sizeof(m->r[0]));
	m->r[pos] = (struct emu_region){ gpa, size, hva, prot, -1 };
	if (hva)
		m->r[pos].fault_id = guest_fault_watch(hva, size, region_fault, fn);
	if (n > pos)
		memcpy(&m->r[pos + 1], &cur->r[pos], (size_t)(n - pos) * sizeof(m->r[0]));
	map_publish(fn, m);
	if (fn->ops && fn->ops->mem_map)
		fn->ops->mem_map(fn->ctrl, gpa, size);
	return 0;
}

/* Removing client memory, in this order: the controller quiesces (its
 * queues stop fetching, in-flight I/O still sees the region and finishes);
 * then the map without the region is published; then, after a grace
 * period (no reactor mid-translation), the memory is unmapped; then the
 * controller resumes (mem_resume) and the client hears back (done).
 * Publishing before the quiesce would fail commands fetched in between
 * (Data Transfer Error on memory that may come right back). */
struct unmap_job {
	struct emu_function *fn;
	bool all;			/* every region, or exactly [gpa, gpa+size) */
	uint64_t gpa, size;
	struct emu_region *regions;	/* taken out of the map: to munmap */
	int n;
	void (*done)(void *arg, int rc);
	void *arg;
};

static void removal_finish(struct unmap_job *j, int rc)
{
	struct emu_function *fn = j->fn;
	if (fn->ops && fn->ops->mem_resume)
		fn->ops->mem_resume(fn->ctrl);
	j->done(j->arg, rc);
	free(j->regions);
	free(j);
}

static void unmap_after_grace(void *p)
{
	struct unmap_job *j = p;
	for (int i = 0; i < j->n; i++)
		if (j->regions[i].hva) {
			guest_fault_unwatch(j->regions[i].fault_id);
			munmap(j->regions[i].hva, j->regions[i].size);
		}
	removal_finish(j, 0);
}

/* The controller let go: take the regions out of the map as it is now
 * (another removal may have taken some meanwhile: those are its own). */
static void removal_quiesced(void *p)
{
	struct unmap_job *j = p;
	struct emu_function *fn = j->fn;
	struct emu_memmap *cur = atomic_load_explicit(&fn->map, memory_order_acquire);
	int n = cur ? cur->n : 0, nrem = 0;
	for (int i = 0; i < n; i++)
		nrem += j->all || (cur->r[i].gpa == j->gpa && cur->r[i].size == j->size);
	if (!nrem) {
		removal_finish(j, 0);
		return;
	}
	struct emu_memmap *m = map_alloc(n - nrem);
	j->regions = calloc((size_t)nrem, sizeof(*j->regions));
	if (!m || !j->regions) {
		free(m);
		removal_finish(j, -ENOMEM);
		return;
	}
	for (int i = 0, k = 0; i < n; i++) {
		if (j->all || (cur->r[i].gpa == j->gpa && cur->r[i].size == j->size))
			j->regions[j->n++] = cur->r[i];
		else
			m->r[k++] = cur->r[i];
	}
	map_publish(fn, m);
	/* wait until no reactor is mid-translation in the old map */
	emu_sync(unmap_after_grace, j);
}

static void start_removal(struct emu_function *fn, bool all, uint64_t gpa, uint64_t size,
			  void (*done)(void *arg, int rc), void *arg)
{
	struct unmap_job *j = calloc(1, sizeof(*j));
	if (!j) {
		done(arg, -ENOMEM);
		return;
	}
	*j = (struct unmap_job){ .fn = fn, .all = all, .gpa = gpa, .size = size, .done = done,
				 .arg = arg };
	if (fn->ops && fn->ops->mem_unmap)
		fn->ops->mem_unmap(fn->ctrl, all ? 0 : gpa, all ? UINT64_MAX : size, removal_quiesced, j);
	else
		removal_quiesced(j);
}

void emu_mem_remove(struct emu_function *fn, uint64_t gpa, uint64_t size,
		    void (*done)(void *arg, int rc), void *arg)
{
	struct emu_memmap *cur = atomic_load_explicit(&fn->map, memory_order_acquire);
	bool found = false;

	for (int i = 0; cur && i < cur->n; i++)
		found |= cur->r[i].gpa == gpa && cur->r[i].size == size;
	if (!found) {
		done(arg, -ENOENT);
		return;
	}
	start_removal(fn, false, gpa, size, done, arg);
}

void emu_mem_remove_all(struct emu_function *fn, void (*done)(void *arg, int rc), void *arg)
{
	struct emu_memmap *cur = atomic_load_explicit(&fn->map, memory_order_acquire);
	if (!cur || cur->n == 0) {
		done(arg, 0);
		return;
	}
	start_removal(fn, true, 0, 0, done, arg);
}

/* --- translation (any thread) --- */

int emu_dma_map(struct emu_function *fn, uint64_t gpa, uint64_t len, int prot,
		struct iovec *iov, int max_iov)
{
	/* acquire: pairs with the release in map_publish */
	const struct emu_memmap *m = atomic_load_explicit(&fn->map, memory_order_acquire);
	int n = 0;

	if (!len)
		return -EINVAL;
	if (!m || gpa + len < gpa)
		return -EFAULT;
	/* binary search for the last region starting at or below gpa */
	int lo = 0, hi = m->n - 1, idx = -1;
	while (lo <= hi) {
		int mid = (lo + hi) / 2;
		if (m->r[mid].gpa <= gpa) {
			idx = mid;
			lo = mid + 1;
		} else {
			hi = mid - 1;
		}
	}
	while (len) {
		if (idx < 0 || idx >= m->n)
			return -EFAULT;
		const struct emu_region *r = &m->r[idx];
		if (gpa < r->gpa || gpa - r->gpa >= r->size || !r->hva)
			return -EFAULT;	/* outside the map, or memory without an fd */
		if ((prot & r->prot) != prot)
			return -EACCES;
		uint64_t avail = r->size - (gpa - r->gpa);
		uint64_t take = len < avail ? len : avail;
		if (n == max_iov)
			return -ENOSPC;
		uint8_t *p = r->hva + (gpa - r->gpa);
		/* adjacent guest ranges that happen to be contiguous locally merge */
		if (n && (uint8_t *)iov[n - 1].iov_base + iov[n - 1].iov_len == p)
			iov[n - 1].iov_len += take;
		else
			iov[n++] = (struct iovec){ p, take };
		gpa += take;
		len -= take;
		idx++;
	}
	return n;
}
