/* Host NVMe driver over vfio-user: handle lifetime and controller
 * initialization, shutdown and reset (NVMe Base Specification 1.4, 7.6). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "host/host_mem.h"
#include "host/nvme_host_pci.h"
#include "host/nvme_host_priv.h"
#include "host/vfio_user_client.h"

#define DEF_MEM_SIZE		(64u << 20)
#define DEF_IOVA_BASE		0x10000000ull
#define DEF_ROM_IOVA		0xfffc0000ull
#define DEF_IO_DEPTH		128u
#define DEF_ADMIN_DEPTH		32u
#define DEF_MAX_XFER		(1u << 20)
#define DEF_TIMEOUT_MS		5000
#define SHUTDOWN_DEF_MS		5000
#define SHUTDOWN_MAX_MS		60000

int64_t nvme_host_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

int nvme_host_status_errno(int status)
{
	return status > 0 ? -EIO : status;
}

int nvme_host_admin_timeout(const struct nvme_host *h)
{
	return h->opts.admin_timeout_ms;
}

struct nvme_host_queue *nvme_host_queue(const struct nvme_host *h, uint16_t qid)
{
	if (!h || !h->q)
		return NULL;
	if (qid == 0)
		return h->q[0].h ? &h->q[0] : NULL;
	if (qid > h->nr_io || !h->q[qid].live)
		return NULL;
	return &h->q[qid];
}

/* ---- controller state transitions ------------------------------------------------------ */

/* Wait until CSTS.RDY == want, within CAP.TO. With want set, CSTS.CFS is
 * -EIO; all-ones (function gone) is -ENODEV. */
static int wait_ready(struct nvme_host *h, bool want)
{
	int64_t deadline = nvme_host_now_ms() + h->to_ms;

	for (;;) {
		uint32_t csts;
		int rc = nvme_host_reg_read32(h, NVME_REG_CSTS, &csts);
		if (rc)
			return rc;
		if (csts == 0xffffffffu)
			return -ENODEV;
		if (want && (csts & NVME_CSTS_CFS))
			return -EIO;
		if (!!(csts & NVME_CSTS_RDY) == want)
			return 0;
		if (nvme_host_now_ms() > deadline)
			return -ETIMEDOUT;
		sleep_ms(1);
	}
}

/* Bring the controller to CC.EN = 0, CSTS.RDY = 0. */
static int ctrl_disable(struct nvme_host *h)
{
	uint32_t cc, csts;
	int rc = nvme_host_reg_read32(h, NVME_REG_CC, &cc);

	if (!rc)
		rc = nvme_host_reg_read32(h, NVME_REG_CSTS, &csts);
	if (rc)
		return rc;
	if (csts == 0xffffffffu)
		return -ENODEV;
	h->enabled = false;
	if ((cc & NVME_CC_EN) && !(csts & NVME_CSTS_RDY))
		(void)wait_ready(h, true);	/* EN 1 -> 0 while RDY is 0 is undefined */
	if (cc & NVME_CC_EN) {
		rc = nvme_host_reg_write32(h, NVME_REG_CC, cc & ~NVME_CC_EN);
		if (rc)
			return rc;
	}
	return wait_ready(h, false);
}

/* Complete everything in flight with -ECANCELED and mark all queues dead. */
static void cancel_all(struct nvme_host *h)
{
	if (!h->q)
		return;
	for (uint16_t i = 0; i < h->nq_alloc; i++) {
		if (h->q[i].h)
			nvme_queue_cancel_all(&h->q[i]);
		h->q[i].live = false;
	}
}

static void free_io_queues(struct nvme_host *h)
{
	for (uint16_t i = 1; i < h->nq_alloc; i++)
		nvme_queue_free(h, &h->q[i]);
	h->nr_io = 0;
}

static int read_caps(struct nvme_host *h)
{
	int rc = nvme_host_reg_read64(h, NVME_REG_CAP, &h->cap);

	if (!rc)
		rc = nvme_host_reg_read32(h, NVME_REG_VS, &h->vs);
	if (rc)
		return rc;
	if (h->cap == ~0ull)
		return -ENODEV;
	if (!(NVME_CAP_CSS(h->cap) & NVME_CAP_CSS_NVM) || NVME_CAP_MPSMIN(h->cap) > 0)
		return -EOPNOTSUPP;	/* we speak NVM with 4 KiB pages only */
	h->dstrd = NVME_CAP_DSTRD(h->cap);
	h->to_ms = NVME_CAP_TO(h->cap) * 500u;
	if (h->to_ms < 500)
		h->to_ms = 500;
	return 0;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

/* Allocate (once, or again when the depth changed) and program the admin
 * queue, then enable the controller. */
static int admin_queue_start(struct nvme_host *h)
{
	uint32_t depth = min_u32(min_u32(h->opts.admin_depth, NVME_CAP_MQES(h->cap) + 1),
				 NVME_AQ_MAX_ENTRIES);
	if (depth < 2)
		return -EPROTO;
	struct nvme_host_queue *aq = &h->q[0];
	if (aq->h && aq->depth != depth)
		nvme_queue_free(h, aq);
	if (!aq->h) {
		int rc = nvme_queue_alloc(h, aq, 0, depth);
		if (rc)
			return rc;
	}
	h->admin_depth = depth;
	nvme_queue_set_shadow(aq, NULL, NULL);
	nvme_queue_reset_rings(aq);
	aq->irq = h->nvec > 0;		/* the admin CQ always interrupts on vector 0 */
	aq->vector = 0;
	aq->efd = h->nvec > 0 ? h->efds[0] : -1;

	int rc = nvme_host_reg_write32(h, NVME_REG_AQA, NVME_AQA(depth, depth));
	if (!rc)
		rc = nvme_host_reg_write64(h, NVME_REG_ASQ, aq->sq_iova);
	if (!rc)
		rc = nvme_host_reg_write64(h, NVME_REG_ACQ, aq->cq_iova);
	if (rc)
		return rc;
	uint32_t cc = NVME_CC_EN | (0u << NVME_CC_CSS_SHIFT) | (0u << NVME_CC_MPS_SHIFT) |
		      (0u << NVME_CC_AMS_SHIFT) | (6u << NVME_CC_IOSQES_SHIFT) |
		      (4u << NVME_CC_IOCQES_SHIFT);
	rc = nvme_host_reg_write32(h, NVME_REG_CC, cc);
	if (!rc)
		rc = wait_ready(h, true);
	if (rc)
		return rc;
	aq->live = true;
	h->enabled = true;
	return 0;
}

/* Check the Identify Controller data against what we configured. */
static int check_id(struct nvme_host *h)
{
	const struct nvme_id_ctrl *id = &h->id;

	if (id->sqes && ((id->sqes & 0xf) > 6 || (id->sqes >> 4) < 6))
		return -EOPNOTSUPP;
	if (id->cqes && ((id->cqes & 0xf) > 4 || (id->cqes >> 4) < 4))
		return -EOPNOTSUPP;
	h->max_xfer = h->opts.max_xfer;
	if (id->mdts) {
		/* MDTS is in units of CAP.MPSMIN pages (4 KiB here) */
		uint64_t lim = (uint64_t)NVME_HOST_PAGE << (id->mdts > 20 ? 20 : id->mdts);
		if (lim < h->max_xfer)
			h->max_xfer = (uint32_t)lim;
	}
	return 0;
}

/* Create I/O queue pair qid (memory already allocated). */
static int io_queue_create(struct nvme_host *h, struct nvme_host_queue *q)
{
	uint16_t qsize = (uint16_t)(q->depth - 1);
	uint32_t cqf = NVME_CQ_PC;

	q->irq = q->qid < h->nvec;
	q->vector = q->irq ? q->qid : 0;
	q->efd = q->irq ? h->efds[q->qid] : -1;
	if (q->irq)
		cqf |= NVME_CQ_IEN;
	int st = nvme_host_create_io_cq(h, q->qid, qsize, q->cq_iova, q->vector, cqf);
	if (st)
		return nvme_host_status_errno(st);
	st = nvme_host_create_io_sq(h, q->qid, qsize, q->sq_iova, q->qid, NVME_SQ_PC);
	if (st) {
		(void)nvme_host_delete_io_cq(h, q->qid);
		return nvme_host_status_errno(st);
	}
	q->live = true;
	return 0;
}

int nvme_host_enable(struct nvme_host *h)
{
	if (!h)
		return -EINVAL;
	cancel_all(h);
	free_io_queues(h);
	h->shut_down = false;
	h->shadow_on = false;
	h->max_xfer = h->opts.max_xfer;	/* admin slots are sized for this */

	int rc = read_caps(h);
	if (!rc)
		rc = ctrl_disable(h);
	if (!rc && !h->dbs)
		rc = nvme_host_doorbells_setup(h, h->opts.nr_io_queues);
	if (!rc)
		rc = admin_queue_start(h);
	if (rc)
		return rc;

	int st = nvme_host_identify_ctrl(h, &h->id);
	if (st)
		return nvme_host_status_errno(st);
	rc = check_id(h);
	if (rc)
		return rc;

	uint16_t want = h->opts.nr_io_queues;
	uint32_t dw0 = 0;
	st = nvme_host_set_features(h, NVME_FEAT_NUM_QUEUES, false, 0,
				    ((uint32_t)(want - 1) << 16) | (uint32_t)(want - 1), NULL, 0, &dw0);
	if (st)
		return nvme_host_status_errno(st);
	uint32_t got = min_u32((dw0 & 0xffff) + 1, (dw0 >> 16) + 1);
	uint16_t n = (uint16_t)min_u32(want, got);

	if (h->opts.shadow_doorbells && (h->id.oacs & NVME_OACS_DBBUF)) {
		rc = nvme_host_dbbuf_setup(h);
		if (rc < 0)
			return rc;	/* a status just leaves shadow doorbells off */
	}

	h->io_depth = min_u32(min_u32(h->opts.io_depth, NVME_CAP_MQES(h->cap) + 1), 65536);
	if (h->io_depth < 2)
		return -EPROTO;
	for (uint16_t qid = 1; qid <= n; qid++) {
		struct nvme_host_queue *q = &h->q[qid];
		rc = nvme_queue_alloc(h, q, qid, h->io_depth);
		if (rc)
			return rc;
		if (h->shadow_on)
			nvme_queue_set_shadow(q, h->shadow_page, h->ei_page);
		rc = io_queue_create(h, q);
		if (rc) {
			nvme_queue_free(h, q);
			return rc;
		}
		h->nr_io = qid;
	}
	st = nvme_host_ns_refresh(h);
	return st > 0 ? 0 : st;		/* a refused scan leaves the cache empty */
}

int nvme_host_shutdown(struct nvme_host *h)
{
	if (!h || !h->q)
		return -EINVAL;
	if (!h->enabled)
		return -EINVAL;
	int first = 0;

	/* Spec 7.6.2: delete the I/O SQs, then the I/O CQs. */
	for (uint16_t qid = 1; qid <= h->nr_io; qid++) {
		if (!h->q[qid].live)
			continue;
		int st = nvme_host_delete_io_sq(h, qid);
		if (st && !first)
			first = nvme_host_status_errno(st);
		(void)nvme_queue_poll(h, &h->q[qid], 0);	/* aborted commands */
	}
	for (uint16_t qid = 1; qid <= h->nr_io; qid++) {
		if (!h->q[qid].live)
			continue;
		int st = nvme_host_delete_io_cq(h, qid);
		if (st && !first)
			first = nvme_host_status_errno(st);
		nvme_queue_cancel_all(&h->q[qid]);
		h->q[qid].live = false;
	}

	uint32_t cc;
	int rc = nvme_host_reg_read32(h, NVME_REG_CC, &cc);
	if (!rc) {
		cc = (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL;
		rc = nvme_host_reg_write32(h, NVME_REG_CC, cc);
	}
	if (rc)
		return rc;
	h->shut_down = true;

	int limit = SHUTDOWN_DEF_MS;
	if (h->id.rtd3e) {
		uint32_t ms = h->id.rtd3e / 1000 + 1;
		limit = ms > SHUTDOWN_MAX_MS ? SHUTDOWN_MAX_MS : (ms < 500 ? 500 : (int)ms);
	}
	int64_t deadline = nvme_host_now_ms() + limit;
	for (;;) {
		uint32_t csts;
		rc = nvme_host_reg_read32(h, NVME_REG_CSTS, &csts);
		if (rc)
			return rc;
		if ((csts & NVME_CSTS_SHST_MASK) == NVME_CSTS_SHST_CMPLT)
			return first;
		if (nvme_host_now_ms() > deadline)
			return -ETIMEDOUT;
		sleep_ms(1);
	}
}

int nvme_host_reset(struct nvme_host *h)
{
	if (!h || !h->q)
		return -EINVAL;
	cancel_all(h);
	int rc = ctrl_disable(h);
	if (rc)
		return rc;
	return nvme_host_enable(h);
}

/* ---- open / close ------------------------------------------------------------------------------ */

static void fill_defaults(struct nvme_host_opts *o, const struct nvme_host_opts *in)
{
	if (in)
		*o = *in;
	else
		memset(o, 0, sizeof(*o));
	if (!o->mem_size)
		o->mem_size = DEF_MEM_SIZE;
	if (!o->iova_base)
		o->iova_base = DEF_IOVA_BASE;
	if (!o->nr_io_queues)
		o->nr_io_queues = 1;
	if (!o->io_depth)
		o->io_depth = DEF_IO_DEPTH;
	if (!o->admin_depth)
		o->admin_depth = DEF_ADMIN_DEPTH;
	if (!o->max_xfer)
		o->max_xfer = DEF_MAX_XFER;
	if (o->admin_timeout_ms <= 0)
		o->admin_timeout_ms = DEF_TIMEOUT_MS;
	if (o->io_timeout_ms <= 0)
		o->io_timeout_ms = DEF_TIMEOUT_MS;
	if (o->rom_size && !o->rom_iova)
		o->rom_iova = DEF_ROM_IOVA;
}

/* The fd-less ROM range: page aligned, not wrapping, clear of the arena. */
static bool rom_ok(const struct nvme_host_opts *o)
{
	if (!o->rom_size)
		return true;
	if ((o->rom_iova | o->rom_size) & (NVME_HOST_PAGE - 1) ||
	    o->rom_iova + o->rom_size < o->rom_iova)
		return false;
	uint64_t mem = ((uint64_t)o->mem_size + NVME_HOST_PAGE - 1) & ~(uint64_t)(NVME_HOST_PAGE - 1);
	return o->rom_iova + o->rom_size <= o->iova_base || o->iova_base + mem <= o->rom_iova;
}

int nvme_host_open(const char *path, const struct nvme_host_opts *opts, struct nvme_host **out)
{
	if (!path || !out)
		return -EINVAL;
	struct nvme_host *h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	fill_defaults(&h->opts, opts);
	if ((h->opts.iova_base & (NVME_HOST_PAGE - 1)) || h->opts.nr_io_queues == 0xffff ||
	    h->opts.max_xfer < NVME_HOST_PAGE || !rom_ok(&h->opts)) {
		free(h);
		return -EINVAL;
	}
	if (pthread_mutex_init(&h->vfu_lock, NULL)) {
		free(h);
		return -ENOMEM;
	}

	int rc = vfu_connect(path, &h->c);
	if (rc)
		goto fail;
	if (h->opts.vfu_timeout_ms > 0)
		vfu_set_timeout(h->c, h->opts.vfu_timeout_ms);
	rc = host_mem_create(h->opts.mem_size, &h->mem);
	if (rc)
		goto fail;
	rc = nvme_arena_init(&h->arena, h->mem->ptr, h->opts.iova_base, h->mem->size);
	if (rc)
		goto fail;
	rc = vfu_dma_map(h->c, h->opts.iova_base, h->mem->size, h->mem->fd, 0,
			 VFU_PROT_READ | VFU_PROT_WRITE);
	if (rc)
		goto fail;
	h->dma_mapped = true;
	if (h->opts.rom_size) {
		/* what QEMU does for a VM's firmware ROM: mapped, but not shared */
		rc = vfu_dma_map(h->c, h->opts.rom_iova, h->opts.rom_size, -1, 0, VFU_PROT_READ);
		if (rc)
			goto fail;
		h->rom_mapped = true;
	}
	rc = nvme_host_pci_enable(h);
	if (!rc)
		rc = nvme_host_bar0_probe(h);
	if (rc)
		goto fail;
	h->nq_alloc = (uint16_t)(h->opts.nr_io_queues + 1);
	/* each queue on its own cache lines (struct nvme_host_queue is
	 * aligned): queues polled by different threads share none */
	h->q = aligned_alloc(_Alignof(struct nvme_host_queue), h->nq_alloc * sizeof(*h->q));
	if (h->q)
		memset(h->q, 0, h->nq_alloc * sizeof(*h->q));
	if (!h->q) {
		rc = -ENOMEM;
		goto fail;
	}
	for (uint16_t i = 0; i < h->nq_alloc; i++)
		h->q[i].efd = -1;
	if (h->opts.irq != NVME_HOST_IRQ_OFF) {
		rc = nvme_host_msix_setup(h, h->nq_alloc);
		if (rc && h->opts.irq == NVME_HOST_IRQ_REQUIRED)
			goto fail;
		rc = 0;
	}
	if (!h->opts.no_enable) {
		rc = nvme_host_enable(h);
		if (rc)
			goto fail;
	}
	*out = h;
	return 0;
fail:
	nvme_host_close(h);
	return rc;
}

void nvme_host_close(struct nvme_host *h)
{
	if (!h)
		return;
	if (h->c && h->enabled)
		(void)ctrl_disable(h);	/* stop DMA into the arena first */
	cancel_all(h);
	if (h->q) {
		for (uint16_t i = 0; i < h->nq_alloc; i++)
			nvme_queue_free(h, &h->q[i]);
		free(h->q);
	}
	if (h->c) {
		nvme_host_msix_teardown(h);
		if (h->rom_mapped)
			(void)vfu_dma_unmap(h->c, h->opts.rom_iova, h->opts.rom_size);
		if (h->dma_mapped)
			(void)vfu_dma_unmap(h->c, h->opts.iova_base, h->mem->size);
		vfu_close(h->c);
	}
	nvme_host_msix_close_fds(h);
	nvme_arena_fini(&h->arena);
	host_mem_destroy(h->mem);
	free(h->ns);
	pthread_mutex_destroy(&h->vfu_lock);
	free(h);
}

/* ---- information ------------------------------------------------------------------------------- */

const struct nvme_id_ctrl *nvme_host_id_ctrl(const struct nvme_host *h)
{
	return &h->id;
}

uint64_t nvme_host_cap(const struct nvme_host *h)
{
	return h->cap;
}

uint32_t nvme_host_vs(const struct nvme_host *h)
{
	return h->vs;
}

uint16_t nvme_host_nr_io_queues(const struct nvme_host *h)
{
	return h->nr_io;
}

uint32_t nvme_host_io_depth(const struct nvme_host *h)
{
	return h->io_depth;
}

uint32_t nvme_host_max_xfer(const struct nvme_host *h)
{
	return h->max_xfer;
}

bool nvme_host_shadow_doorbells(const struct nvme_host *h)
{
	return h->shadow_on;
}

bool nvme_host_irq_enabled(const struct nvme_host *h, uint16_t qid)
{
	const struct nvme_host_queue *q = nvme_host_queue(h, qid);

	return q && q->irq;
}

struct vfu_client *nvme_host_vfu(struct nvme_host *h)
{
	return h->c;
}

void *nvme_host_alloc(struct nvme_host *h, size_t len, size_t align, uint64_t *iova)
{
	return nvme_arena_alloc(&h->arena, len, align, iova);
}

void nvme_host_free(struct nvme_host *h, void *p)
{
	nvme_arena_free(&h->arena, p);
}

int nvme_host_iova(const struct nvme_host *h, const void *p, size_t len, uint64_t *iova)
{
	return nvme_arena_iova(&h->arena, p, len, iova);
}

void *nvme_host_mem_base(const struct nvme_host *h, uint64_t *iova, size_t *size)
{
	if (iova)
		*iova = h->arena.iova;
	if (size)
		*size = h->arena.size;
	return h->arena.base;
}

int nvme_host_ns_info(const struct nvme_host *h, uint32_t nsid, struct nvme_host_ns *ns)
{
	for (size_t i = 0; i < h->nns; i++) {
		if (h->ns[i].nsid == nsid) {
			if (ns)
				*ns = h->ns[i];
			return 0;
		}
	}
	return -ENOENT;
}
