/* The NVM command set on the reactors: Read, Write, Compare, Flush, Write
 * Zeroes, Dataset Management (deallocate) and fused Compare-and-Write, on
 * the namespace's bdev, zero copy. */
#include "nvme_internal.h"

#include <errno.h>
#include <string.h>


#define STAT_INC(f, v) __atomic_store_n(&(f), (f) + (v), __ATOMIC_RELAXED)

/* The one place where an internal result becomes a wire status. */
static uint16_t status_from_errno(uint8_t opc, int rc)
{
	switch (rc) {
	case 0:
		return NVME_SC_SUCCESS;
	case BDEV_IO_MISCOMPARE:
		return NVME_SC_COMPARE_FAILED;
	case -ERANGE:
		return NVME_SC_LBA_RANGE | NVME_DNR;
	case -ENOTSUP:
		return NVME_SC_INVALID_OPCODE | NVME_DNR;
	case -EINVAL:
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	case -EROFS:
	case -EACCES:
	case -EPERM:
		return NVME_SC_ATTEMPTED_WRITE_TO_RO | NVME_DNR;
	case -ENOMEM:
	case -EAGAIN:
		return NVME_SC_INTERNAL;
	default:
		return opc == NVME_CMD_READ || opc == NVME_CMD_COMPARE ? NVME_SC_READ_ERROR
								       : NVME_SC_WRITE_FAULT;
	}
}

/* Range i of a Dataset Management list (16 bytes each), gathered from the
 * request's iovecs: the list may cross a page. */
static void dsm_range(const struct nvme_req *r, uint32_t i, uint64_t *slba, uint32_t *nlb)
{
	uint8_t buf[16];
	size_t off = (size_t)i * 16, got = 0;
	for (int k = 0; k < r->iovcnt && got < 16; k++) {
		size_t len = r->iov[k].iov_len;
		if (off >= len) {
			off -= len;
			continue;
		}
		size_t take = len - off < 16 - got ? len - off : 16 - got;
		memcpy(buf + got, (const uint8_t *)r->iov[k].iov_base + off, take);
		got += take;
		off = 0;
	}
	memcpy(nlb, buf + 4, 4);
	memcpy(slba, buf + 8, 8);
}

/* Next non-empty range at or after r->dsm_next: 1 found, 0 none left, -1
 * out of the namespace. The list lives in guest memory and is read again
 * range by range: a guest may rewrite it after the first check, so every
 * range is checked again as it is used. */
static int dsm_next_range(struct nvme_req *r, uint64_t nsze, uint64_t *slba, uint32_t *nlb)
{
	for (; r->dsm_next < r->dsm_count; r->dsm_next++) {
		dsm_range(r, r->dsm_next, slba, nlb);
		if (!*nlb)
			continue;
		return *slba >= nsze || *nlb > nsze - *slba ? -1 : 1;
	}
	return 0;
}

static struct nvme_qns *req_ns(struct nvme_req *r)
{
	return &r->sq->ns[r->nsid_idx];
}

static void finish(struct nvme_req *r, uint16_t status)
{
	nvme_req_complete(r, status);
}

static void submit(struct nvme_req *r, struct nvme_qns *q, uint8_t type, uint64_t slba, uint64_t nlb,
		   bool with_data, bdev_io_cb cb);
static void submit_locked(struct nvme_req *r, struct nvme_qns *q, uint8_t type, uint64_t slba, uint64_t nlb,
			  bool with_data, bdev_io_cb cb, const struct bdev_lba_lock *lock);

/* The pair's range lock goes before the namespace may see its last I/O
 * done (nvme_qns_io_done): the bdev must outlive the unlock's messages. */
static void fused_unlock(struct nvme_req *w)
{
	if (w->lba_held) {
		w->lba_held = false;
		bdev_unlock_lba_range(&w->lba_lock);
	}
}

static void io_done(struct bdev_io *bio, void *arg)
{
	struct nvme_req *r = arg;
	struct nvme_qns *q = req_ns(r);
	struct nvme_sq *sq = r->sq;
	int st = bio->status;

	if (r->fused) {
		/* compare of a compare-and-write: the write runs only on a match,
		 * still under the pair's range lock */
		struct nvme_req *w = r->fused;
		r->fused = NULL;
		if (st) {
			fused_unlock(w);
			nvme_qns_io_done(sq, q);
			finish(r, status_from_errno(NVME_CMD_COMPARE, st));
			nvme_req_complete(w, NVME_SC_FUSED_FAIL);
			return;
		}
		struct nvme_qns *wq = req_ns(w);
		/* counted before the compare's count drops: the namespace stays
		 * attached across the pair */
		wq->inflight++;
		nvme_qns_io_done(sq, q);
		finish(r, NVME_SC_SUCCESS);
		uint64_t slba = (uint64_t)w->cmd.cdw11 << 32 | w->cmd.cdw10;
		submit_locked(w, wq, BDEV_IO_WRITE, slba, (w->cmd.cdw12 & 0xffff) + 1u, true, io_done,
			      &w->lba_lock);
		return;
	}
	fused_unlock(r);
	nvme_qns_io_done(sq, q);
	if (r->cmd.opc == NVME_CMD_DSM && !st) {
		/* next range of the deallocate list */
		uint64_t slba;
		uint32_t nlb;
		if (qlife_stopping(&sq->life)) {
			/* the queue is going (deleted, reset, its host gone):
			 * nothing waits for the ranges left of a deallocate,
			 * a hint the host learns was cut short */
			finish(r, NVME_SC_ABORT_SQ_DELETED);
			return;
		}
		r->dsm_next++;
		int more = dsm_next_range(r, q->nsze, &slba, &nlb);
		if (more > 0) {
			q->inflight++;
			submit(r, q, BDEV_IO_UNMAP, slba, nlb, false, io_done);
			return;
		}
		finish(r, more < 0 ? NVME_SC_LBA_RANGE | NVME_DNR : NVME_SC_SUCCESS);
		return;
	}
	if (!st) {
		uint64_t bytes = bio->num_blocks << q->lbads;
		if (r->cmd.opc == NVME_CMD_READ)
			STAT_INC(sq->bytes_read, bytes);
		else if (r->cmd.opc == NVME_CMD_WRITE)
			STAT_INC(sq->bytes_written, bytes);
	}
	finish(r, status_from_errno(r->cmd.opc, st));
}

static void submit(struct nvme_req *r, struct nvme_qns *q, uint8_t type, uint64_t slba, uint64_t nlb,
		   bool with_data, bdev_io_cb cb)
{
	submit_locked(r, q, type, slba, nlb, with_data, cb, NULL);
}

static void submit_locked(struct nvme_req *r, struct nvme_qns *q, uint8_t type, uint64_t slba, uint64_t nlb,
			  bool with_data, bdev_io_cb cb, const struct bdev_lba_lock *lock)
{
	struct bdev_io *bio = r->bio;
	bio->type = type;
	struct nvme_ctrl *c = r->sq->ctrl;
	/* with the volatile write cache turned off every write is durable at
	 * completion (the flag is set on the main thread; a stale read only
	 * affects a write racing the Set Features) */
	bool cache_off = c->vwc_present && !__atomic_load_n(&c->feat.vwc, __ATOMIC_RELAXED);
	bio->fua = type == BDEV_IO_WRITE && ((r->cmd.cdw12 & (1u << 30)) || cache_off);
	bio->offset_blocks = slba;
	bio->num_blocks = nlb;
	bio->iov = with_data ? r->iov : NULL;
	bio->iovcnt = with_data ? r->iovcnt : 0;
	bio->cb = cb;
	bio->cb_arg = r;
	bdev_submit_locked(q->ch, bio, lock);
}

/* Checks shared by Read, Write, Compare: range, size, protection info. */
static uint16_t rw_check(struct nvme_ctrl *c, struct nvme_req *r, struct nvme_qns *q,
			 uint64_t *slba, uint64_t *nlb)
{
	*slba = (uint64_t)r->cmd.cdw11 << 32 | r->cmd.cdw10;
	*nlb = (r->cmd.cdw12 & 0xffff) + 1u;
	if ((r->cmd.cdw12 >> 26) & 0xf)
		return NVME_SC_INVALID_FIELD | NVME_DNR;	/* PRINFO: no protection info */
	if (*slba >= q->nsze || *nlb > q->nsze - *slba)
		return NVME_SC_LBA_RANGE | NVME_DNR;
	uint64_t bytes = *nlb << q->lbads;
	if (c->mdts && bytes > ((uint64_t)NVME_PAGE << c->mdts))
		return NVME_SC_INVALID_FIELD | NVME_DNR;
	return NVME_SC_SUCCESS;
}

static void exec_rw(struct nvme_ctrl *c, struct nvme_req *r, struct nvme_qns *q)
{
	uint64_t slba, nlb;
	uint16_t st = rw_check(c, r, q, &slba, &nlb);
	uint8_t opc = r->cmd.opc;
	if (st) {
		finish(r, st);
		return;
	}
	int prot = opc == NVME_CMD_READ ? EMU_DMA_WRITE : EMU_DMA_READ;
	st = nvme_map_dptr(c, r, nlb << q->lbads, prot);
	if (st) {
		finish(r, st | NVME_DNR);
		return;
	}
	struct nvme_sq *sq = r->sq;
	if (opc == NVME_CMD_READ)
		STAT_INC(sq->reads, 1);
	else if (opc == NVME_CMD_WRITE)
		STAT_INC(sq->writes, 1);
	else
		STAT_INC(sq->others, 1);
	q->inflight++;
	submit(r, q, opc == NVME_CMD_READ ? BDEV_IO_READ : opc == NVME_CMD_WRITE ? BDEV_IO_WRITE
										 : BDEV_IO_COMPARE,
	       slba, nlb, true, io_done);
}

static void exec_write_zeroes(struct nvme_ctrl *c, struct nvme_req *r, struct nvme_qns *q)
{
	uint64_t slba = (uint64_t)r->cmd.cdw11 << 32 | r->cmd.cdw10;
	uint64_t nlb = (r->cmd.cdw12 & 0xffff) + 1u;
	(void)c;
	if ((r->cmd.cdw12 >> 26) & 0xf) {
		finish(r, NVME_SC_INVALID_FIELD | NVME_DNR);
		return;
	}
	if (slba >= q->nsze || nlb > q->nsze - slba) {
		finish(r, NVME_SC_LBA_RANGE | NVME_DNR);
		return;
	}
	if (!bdev_io_type_supported(q->bdev, BDEV_IO_WRITE_ZEROES)) {
		finish(r, NVME_SC_INVALID_OPCODE | NVME_DNR);
		return;
	}
	STAT_INC(r->sq->others, 1);
	q->inflight++;
	submit(r, q, BDEV_IO_WRITE_ZEROES, slba, nlb, false, io_done);
}

static void exec_dsm(struct nvme_ctrl *c, struct nvme_req *r, struct nvme_qns *q)
{
	uint32_t nr = (r->cmd.cdw10 & 0xff) + 1u;
	bool deallocate = r->cmd.cdw11 & (1u << 2);
	uint16_t st = nvme_map_dptr(c, r, nr * 16u, EMU_DMA_READ);
	if (st) {
		finish(r, st | NVME_DNR);
		return;
	}
	/* validate every range first: a bad one changes nothing */
	for (uint32_t i = 0; i < nr; i++) {
		uint32_t nlb;
		uint64_t slba;
		dsm_range(r, i, &slba, &nlb);
		if (nlb && (slba >= q->nsze || nlb > q->nsze - slba)) {
			finish(r, NVME_SC_LBA_RANGE | NVME_DNR);
			return;
		}
	}
	if (!deallocate || !bdev_io_type_supported(q->bdev, BDEV_IO_UNMAP)) {
		/* attributes only (or a bdev that cannot deallocate): advisory */
		finish(r, NVME_SC_SUCCESS);
		return;
	}
	STAT_INC(r->sq->others, 1);
	r->dsm_count = nr;
	r->dsm_next = 0;
	uint64_t slba;
	uint32_t nlb;
	int first = dsm_next_range(r, q->nsze, &slba, &nlb);
	if (first <= 0) {
		/* every range empty, or the list changed since it was checked */
		finish(r, first < 0 ? NVME_SC_LBA_RANGE | NVME_DNR : NVME_SC_SUCCESS);
		return;
	}
	q->inflight++;
	submit(r, q, BDEV_IO_UNMAP, slba, nlb, false, io_done);
}

static void exec_flush(struct nvme_req *r, struct nvme_qns *q)
{
	STAT_INC(r->sq->flushes, 1);
	if (!bdev_io_type_supported(q->bdev, BDEV_IO_FLUSH)) {
		finish(r, NVME_SC_SUCCESS);	/* no volatile cache behind it */
		return;
	}
	q->inflight++;
	submit(r, q, BDEV_IO_FLUSH, 0, 0, false, io_done);
}

/* The range of a compare-and-write pair is locked: the compare runs. */
static void fused_locked(void *arg)
{
	struct nvme_req *first = arg;
	struct nvme_qns *q = req_ns(first);
	uint64_t slba = (uint64_t)first->cmd.cdw11 << 32 | first->cmd.cdw10;
	submit(first, q, BDEV_IO_COMPARE, slba, (first->cmd.cdw12 & 0xffff) + 1u, true, io_done);
}

/* Fused Compare (first) + Write (second). */
static bool exec_fused(struct nvme_ctrl *c, struct nvme_sq *sq, struct nvme_req *r)
{
	uint8_t fuse = NVME_SQE_FUSE(r->cmd.flags);
	struct nvme_req *first = sq->fused_first;

	if (first && fuse != NVME_FUSE_SECOND) {
		sq->fused_first = NULL;
		finish(first, NVME_SC_FUSED_MISSING);
	}
	if (fuse == 0)
		return false;
	if (fuse == 3 || !(c->opt_compare_write > 0)) {
		finish(r, NVME_SC_INVALID_FIELD | NVME_DNR);
		return true;
	}
	if (fuse == NVME_FUSE_FIRST) {
		if (r->cmd.opc != NVME_CMD_COMPARE) {
			finish(r, NVME_SC_INVALID_FIELD | NVME_DNR);
			return true;
		}
		sq->fused_first = r;	/* waits for its partner (the next SQE) */
		return true;
	}
	/* second */
	sq->fused_first = NULL;
	if (!first) {
		finish(r, NVME_SC_FUSED_MISSING);
		return true;
	}
	if (r->cmd.opc != NVME_CMD_WRITE || r->cmd.nsid != first->cmd.nsid ||
	    r->cmd.cdw10 != first->cmd.cdw10 || r->cmd.cdw11 != first->cmd.cdw11 ||
	    (r->cmd.cdw12 & 0xffff) != (first->cmd.cdw12 & 0xffff)) {
		finish(first, NVME_SC_FUSED_FAIL);
		finish(r, NVME_SC_INVALID_FIELD | NVME_DNR);
		return true;
	}
	struct nvme_qns *q = req_ns(first);
	uint64_t slba, nlb;
	uint16_t st = rw_check(c, first, q, &slba, &nlb);
	if (!st)
		st = nvme_map_dptr(c, first, nlb << q->lbads, EMU_DMA_READ);
	if (!st)
		st = nvme_map_dptr(c, r, nlb << q->lbads, EMU_DMA_READ);
	if (st) {
		finish(first, st | NVME_DNR);
		finish(r, NVME_SC_FUSED_FAIL);
		return true;
	}
	r->nsid_idx = first->nsid_idx;
	first->fused = r;
	q->inflight++;
	STAT_INC(sq->writes, 1);
	/* FUSES bit 0 with ACWU 0: the pair is atomic against every other
	 * command. Writes, Write Zeroes and deallocates overlapping the range
	 * wait (on any queue) from before the compare until the write is done
	 * or the pair failed; the compare starts once writes already running
	 * there are done (fused_locked) */
	r->lba_held = true;
	bdev_lock_lba_range(q->ch, &r->lba_lock, slba, nlb, fused_locked, first);
	return true;
}

void nvme_io_execute(struct nvme_sq *sq, struct nvme_req *r)
{
	struct nvme_ctrl *c = sq->ctrl;
	uint32_t nsid = r->cmd.nsid;
	struct nvme_qns *q = NULL;

	r->fused = NULL;
	r->lba_held = false;
	if (nsid >= 1 && nsid <= NVME_MAX_NS_PER_CTRL) {
		q = &sq->ns[nsid - 1];
		if (!q->ch || q->detaching)
			q = NULL;
	}
	if (!q) {
		if (sq->fused_first) {
			/* the pair cannot run: a failed Write fails its Compare */
			struct nvme_req *first = sq->fused_first;
			sq->fused_first = NULL;
			finish(first, NVME_SQE_FUSE(r->cmd.flags) == NVME_FUSE_SECOND ? NVME_SC_FUSED_FAIL
										: NVME_SC_FUSED_MISSING);
		}
		/* NVMe 1.4 6.1: an inactive NSID (valid: 1..NN, but not
		 * attached here) is Invalid Field in Command; an invalid one (0,
		 * above NN) or the broadcast value, which no I/O command here
		 * takes, is Invalid Namespace or Format */
		bool valid = nsid >= 1 && nsid <= c->ss->nn;
		finish(r, (valid ? NVME_SC_INVALID_FIELD : NVME_SC_INVALID_NS) | NVME_DNR);
		return;
	}
	r->nsid_idx = nsid - 1;
	if ((NVME_SQE_FUSE(r->cmd.flags) || sq->fused_first) && exec_fused(c, sq, r))
		return;
	switch (r->cmd.opc) {
	case NVME_CMD_READ:
	case NVME_CMD_WRITE:
		exec_rw(c, r, q);
		break;
	case NVME_CMD_COMPARE:
		if (!(c->oncs & 1)) {
			finish(r, NVME_SC_INVALID_OPCODE | NVME_DNR);
			break;
		}
		exec_rw(c, r, q);
		break;
	case NVME_CMD_FLUSH:
		exec_flush(r, q);
		break;
	case NVME_CMD_WRITE_ZEROES:
		if (!(c->oncs & (1u << 3))) {
			finish(r, NVME_SC_INVALID_OPCODE | NVME_DNR);
			break;
		}
		exec_write_zeroes(c, r, q);
		break;
	case NVME_CMD_DSM:
		if (!(c->oncs & (1u << 2))) {
			finish(r, NVME_SC_INVALID_OPCODE | NVME_DNR);
			break;
		}
		exec_dsm(c, r, q);
		break;
	default:
		finish(r, NVME_SC_INVALID_OPCODE | NVME_DNR);
		break;
	}
}
