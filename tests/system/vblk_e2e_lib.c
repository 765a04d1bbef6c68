/* vblk_e2e: the helpers every area's cases use (see vblk_e2e.h). */
#include <stddef.h>

#include "vblk_e2e.h"

/* ---- statuses ------------------------------------------------------------------------------ */

/* REQUIRE_OK (tap.h) says the errno */
const char *tap_status_str(int rc)
{
	static __thread char b[64];
	snprintf(b, sizeof(b), "%d (%s)", rc, strerror(rc < 0 ? -rc : rc));
	return b;
}

const char *st_name(int st)
{
	switch (st) {
	case VH_BLK_S_OK: return "OK";
	case VH_BLK_S_IOERR: return "IOERR";
	case VH_BLK_S_UNSUPP: return "UNSUPP";
	case 0xff: return "untouched";
	default: return "?";
	}
}

/* ---- opening the device ------------------------------------------------------------------ */

bool is_vhu(void)
{
	return O.vhu != NULL;
}

const char *tr_name(void)
{
	return is_vhu() ? "vhost-user" : "virtio-pci";
}

void base_opts(struct vblk_host_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->features = VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_EVENT_IDX) |
		      VH_BIT(VH_F_RING_INDIRECT_DESC);
	o->queue_size = 256;
	o->mem_size = 32u << 20;
	o->mem_regions = 2;
	o->timeout_ms = EVENT_DEADLINE_MS;
}

int open_raw(const struct vblk_host_opts *o, struct vblk_host **d)
{
	return is_vhu() ? vblk_host_open_vhost_user(O.vhu, o, d) : vblk_host_open_pci(O.pci, o, d);
}

struct vblk_host *open_dev(const struct vblk_host_opts *o)
{
	struct vblk_host *d = NULL;
	int rc = open_raw(o, &d);
	if (rc) {
		FAIL("open (%s, %u queues): %d (%s)", tr_name(), o->num_queues ? o->num_queues : 1, rc,
		     strerror(-rc));
		return NULL;
	}
	return d;
}

/* The controller's queue count (from the options or the device). */
uint16_t ctrl_queues(struct vblk_host *d)
{
	if (O.queues > 0)
		return (uint16_t)O.queues;
	const struct vh_blk_config *c = vblk_host_config(d);
	return (vblk_host_features(d) & VH_BIT(VH_BLK_F_MQ)) && c->num_queues ? c->num_queues : 1;
}

/* Open with every queue of the controller. */
struct vblk_host *open_all(struct vblk_host_opts *o)
{
	if (!O.queues) {
		struct vblk_host *p = open_dev(o);
		if (!p)
			return NULL;
		O.queues = ctrl_queues(p);
		vblk_host_close(p);
	}
	o->num_queues = (uint16_t)O.queues;
	return open_dev(o);
}

uint64_t capacity(struct vblk_host *d)
{
	return vblk_host_config(d)->capacity;
}

/* Sectors per logical block (BLK_SIZE) */
uint32_t blk_sectors(struct vblk_host *d)
{
	const struct vh_blk_config *c = vblk_host_config(d);
	if ((vblk_host_features(d) & VH_BIT(VH_BLK_F_BLK_SIZE)) && c->blk_size >= SECTOR)
		return c->blk_size / SECTOR;
	return 1;
}

void *xalloc(struct vblk_host *d, size_t len)
{
	void *p = vblk_host_alloc(d, len);
	if (!p)
		FAIL("arena exhausted (%zu bytes)", len);
	return p;
}

uint64_t dev_addr(struct vblk_host *d, const void *p, size_t len)
{
	uint64_t a = 0;
	if (vblk_host_dev_addr(d, p, len, &a))
		FAIL("no device address for %p+%zu", p, len);
	return a;
}

/* Synchronous request; returns the status byte or a negative errno. */
int rw(struct vblk_host *d, uint16_t q, uint32_t type, uint64_t sector, void *buf, uint32_t len)
{
	uint8_t st = 0xff;
	int rc = vblk_host_rw(d, q, type, sector, buf, len, &st);
	return rc ? rc : st;
}

/* Write then read back len bytes of the pattern at sector through q. */
bool write_verify(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t len, uint32_t seed)
{
	uint8_t *w = xalloc(d, len), *r = xalloc(d, len);
	bool ok = false;
	if (!w || !r)
		goto out;
	pattern_fill(w, sector, len / SECTOR, SECTOR, seed);
	int st = rw(d, q, VH_BLK_T_OUT, sector, w, len);
	if (st != VH_BLK_S_OK) {
		FAIL("q%u write %u bytes at %llu: %d (%s)", q, len, (unsigned long long)sector, st,
		     st < 0 ? strerror(-st) : st_name(st));
		goto out;
	}
	memset(r, 0xa5, len);
	st = rw(d, q, VH_BLK_T_IN, sector, r, len);
	if (st != VH_BLK_S_OK) {
		FAIL("q%u read %u bytes at %llu: %d (%s)", q, len, (unsigned long long)sector, st,
		     st < 0 ? strerror(-st) : st_name(st));
		goto out;
	}
	long bad = pattern_check(r, sector, len / SECTOR, SECTOR, seed);
	if (bad >= 0) {
		FAIL("q%u: sector %llu read back differs from what was written", q,
		     (unsigned long long)sector + (unsigned long long)bad);
		goto out;
	}
	ok = true;
out:
	vblk_host_free(d, w);
	vblk_host_free(d, r);
	return ok;
}

/* Read len bytes at sector and check them against the pattern. */
bool read_check(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t len, uint32_t seed)
{
	uint8_t *r = xalloc(d, len);
	bool ok = false;
	if (!r)
		return false;
	int st = rw(d, q, VH_BLK_T_IN, sector, r, len);
	if (st != VH_BLK_S_OK) {
		FAIL("q%u read %u bytes at %llu: %d (%s)", q, len, (unsigned long long)sector, st,
		     st < 0 ? strerror(-st) : st_name(st));
	} else {
		long bad = pattern_check(r, sector, len / SECTOR, SECTOR, seed);
		if (bad >= 0)
			FAIL("q%u: sector %llu does not hold the pattern (seed %u)", q,
			     (unsigned long long)sector + (unsigned long long)bad, seed);
		else
			ok = true;
	}
	vblk_host_free(d, r);
	return ok;
}

/* Does queue q serve? Write and read back (a read on a read-only device). */
bool serve_ok(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t seed)
{
	if (!O.read_only)
		return write_verify(d, q, sector, 4096, seed);
	uint8_t *r = xalloc(d, 4096);
	if (!r)
		return false;
	int st = rw(d, q, VH_BLK_T_IN, sector, r, 4096);
	vblk_host_free(d, r);
	if (st != VH_BLK_S_OK)
		FAIL("q%u read at %llu: %d (%s)", q, (unsigned long long)sector, st, st < 0 ? strerror(-st) : st_name(st));
	return st == VH_BLK_S_OK;
}

/* ---- asynchronous batches ------------------------------------------------------------------- */

void areq_done(struct vblk_host_req *r)
{
	struct areq *a = (struct areq *)(void *)((uint8_t *)r - offsetof(struct areq, r));
	a->ncomp++;
	if (a->order_ctr)
		a->order = (*a->order_ctr)++;
	if (a->outstanding)
		(*a->outstanding)--;
}

/* Submit reqs[0..n) on queue q with at most depth in flight and wait for
 * all of them (each wait bounded by ms). Returns false on a driver error
 * or timeout (reported). */
bool run_batch(struct vblk_host *d, uint16_t q, struct areq *reqs, unsigned n, unsigned depth, int ms)
{
	unsigned outstanding = 0, next = 0;
	for (unsigned i = 0; i < n; i++) {
		reqs[i].ncomp = 0;
		reqs[i].outstanding = &outstanding;
		reqs[i].r.cb = areq_done;
	}
	while (next < n || outstanding) {
		while (next < n && outstanding < depth) {
			int rc = vblk_host_queue_req(d, q, &reqs[next].r);
			if (rc == -ENOSPC && outstanding)
				break;
			if (rc) {
				FAIL("q%u: queueing request %u: %d (%s)", q, next, rc, strerror(-rc));
				return false;
			}
			outstanding++;
			next++;
		}
		int rc = vblk_host_kick(d, q);
		if (rc) {
			FAIL("q%u: kick: %d", q, rc);
			return false;
		}
		rc = vblk_host_wait(d, q, ms);
		if (rc < 0) {
			FAIL("q%u: waiting (%u outstanding, %u of %u submitted): %d (%s)", q, outstanding, next,
			     n, rc, strerror(-rc));
			return false;
		}
	}
	return true;
}

/* ---- hand-built requests ------------------------------------------------------------------- */

bool raw_alloc(struct vblk_host *d, struct raw_bufs *b)
{
	b->hdr = xalloc(d, 64);
	b->data = xalloc(d, 16384);
	b->st = xalloc(d, 64);
	if (!b->hdr || !b->data || !b->st)
		return false;
	b->hdr_a = dev_addr(d, b->hdr, 64);
	b->data_a = dev_addr(d, b->data, 16384);
	b->st_a = dev_addr(d, b->st, 64);
	return true;
}

void raw_free(struct vblk_host *d, struct raw_bufs *b)
{
	vblk_host_free(d, b->hdr);
	vblk_host_free(d, b->data);
	vblk_host_free(d, b->st);
}

void set_hdr(struct raw_bufs *b, uint32_t type, uint64_t sector)
{
	struct vh_blk_req_hdr h = { type, 0, sector };
	memcpy(b->hdr, &h, sizeof(h));
}

/* Submit a raw request and wait for it up to ms. 1: used (len in
 * *used_len), 0: not used within ms, < 0: driver error. */
int raw_wait(struct vblk_host *d, uint16_t q, const struct vblk_host_seg *s, unsigned n, bool ind,
		    const struct vring_host_raw *desc, unsigned ndesc, int ms, uint32_t *used_len)
{
	unsigned outstanding = 1;
	struct areq a = { .outstanding = &outstanding };
	a.r.cb = areq_done;
	int rc = desc ? vblk_host_submit_desc(d, q, desc, ndesc, &a.r) : vblk_host_submit_raw(d, q, s, n, ind, &a.r);
	if (rc)
		return rc;
	int64_t end = now_ms() + ms;
	while (outstanding && now_ms() < end) {
		rc = vblk_host_poll(d, q, 0);
		if (rc < 0)
			return rc;
		if (outstanding)
			sleep_ms(1);
	}
	if (outstanding) {
		/* never used: the slot keeps a pointer to a; detach it */
		vring_host_set_cookie(vblk_host_vring(d, q), a.r.head, NULL);
		return 0;
	}
	*used_len = a.r.used_len;
	return 1;
}

int dwz(struct vblk_host *d, uint16_t q, uint32_t type, const struct vh_blk_dwz_seg *segs, unsigned n)
{
	void *b = xalloc(d, n * sizeof(*segs));
	if (!b)
		return -ENOMEM;
	memcpy(b, segs, n * sizeof(*segs));
	int st = rw(d, q, type, 0, b, (uint32_t)(n * sizeof(*segs)));
	vblk_host_free(d, b);
	return st;
}
