/* virtio-blk requests on the reactors: IN, OUT, FLUSH, GET_ID, DISCARD,
 * WRITE_ZEROES; anything else is answered UNSUPP. Zero copy: the bdev
 * reads and writes the guest's buffers. */
#include "vblk_internal.h"

#include <errno.h>
#include <string.h>

#define STAT_INC(f) __atomic_store_n(&(f), (f) + 1, __ATOMIC_RELAXED)

/* Copy n bytes starting at byte off of an iovec array (gather). */
static bool iov_copy_out(const struct iovec *iov, int cnt, size_t off, void *dst, size_t n)
{
	uint8_t *d = dst;
	for (int i = 0; i < cnt && n; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t take = iov[i].iov_len - off < n ? iov[i].iov_len - off : n;
		memcpy(d, (const uint8_t *)iov[i].iov_base + off, take);
		d += take;
		n -= take;
		off = 0;
	}
	return n == 0;
}

/* iov <- [off, off+len) of src (no data copied). Returns count or -1. */
static int iov_slice(struct iovec *dst, int max, const struct iovec *src, int cnt, size_t off, size_t len)
{
	int n = 0;
	for (int i = 0; i < cnt && len; i++) {
		if (off >= src[i].iov_len) {
			off -= src[i].iov_len;
			continue;
		}
		size_t take = src[i].iov_len - off < len ? src[i].iov_len - off : len;
		if (n == max)
			return -1;
		dst[n++] = (struct iovec){ (uint8_t *)src[i].iov_base + off, take };
		len -= take;
		off = 0;
	}
	return len ? -1 : n;
}

static uint8_t status_of(int rc)
{
	return rc == 0 ? VIRTIO_BLK_S_OK : rc == -ENOTSUP ? VIRTIO_BLK_S_UNSUPP : VIRTIO_BLK_S_IOERR;
}

static void bio_done(struct bdev_io *bio, void *arg);

static void submit(struct vblk_req *r, uint8_t type, uint64_t off_blocks, uint64_t nblocks, bool data)
{
	struct bdev_io *bio = r->bio;
	bio->type = type;
	bio->fua = false;
	bio->offset_blocks = off_blocks;
	bio->num_blocks = nblocks;
	bio->iov = data ? r->iov : NULL;
	bio->iovcnt = data ? r->iovcnt : 0;
	bio->cb = bio_done;
	bio->cb_arg = r;
	bdev_submit(r->q->ch, bio);
}

/* Sector range to bdev blocks, checked. */
static int to_blocks(struct vblk_queue *q, uint64_t sector, uint64_t sectors, uint64_t *off, uint64_t *n)
{
	if (!q->rbdev)
		return -ERANGE;	/* no media: capacity 0 */
	uint32_t bs = q->rbdev->block_size;
	uint32_t per = bs / VIRTIO_BLK_SECTOR;
	if (!sectors || sector % per || sectors % per)
		return -EINVAL;
	*off = sector / per;
	*n = sectors / per;
	if (*off >= q->rbdev->num_blocks || *n > q->rbdev->num_blocks - *off)
		return -ERANGE;
	return 0;
}

#define VIRTIO_BLK_WZ_F_UNMAP 1u

/* Check every segment of a discard / write-zeroes list before any is
 * done (virtio 1.2 5.2.6.2): UNSUPP for an unknown flag, and for the unmap
 * flag on a discard; IOERR for a range outside the device. */
static uint8_t dwz_check(struct vblk_req *r)
{
	uint32_t allowed = r->type == VIRTIO_BLK_T_WRITE_ZEROES ? VIRTIO_BLK_WZ_F_UNMAP : 0;
	for (uint32_t i = 0; i < r->seg_count; i++) {
		struct virtio_blk_discard_wz s;
		iov_copy_out(r->iov, r->iovcnt, (size_t)i * sizeof(s), &s, sizeof(s));
		if (s.flags & ~allowed)
			return VIRTIO_BLK_S_UNSUPP;
	}
	for (uint32_t i = 0; i < r->seg_count; i++) {
		struct virtio_blk_discard_wz s;
		uint64_t off, n;
		iov_copy_out(r->iov, r->iovcnt, (size_t)i * sizeof(s), &s, sizeof(s));
		if (to_blocks(r->q, s.sector, s.num_sectors, &off, &n))
			return VIRTIO_BLK_S_IOERR;
	}
	return VIRTIO_BLK_S_OK;
}

/* Submit segment r->seg_next of a discard / write-zeroes list (checked by
 * dwz_check). */
static void dwz_next(struct vblk_req *r)
{
	struct vblk_queue *q = r->q;
	while (r->seg_next < r->seg_count) {
		struct virtio_blk_discard_wz s;
		iov_copy_out(r->iov, r->iovcnt, (size_t)r->seg_next * sizeof(s), &s, sizeof(s));
		uint64_t off, n;
		int rc = to_blocks(q, s.sector, s.num_sectors, &off, &n);
		if (rc) {
			vblk_req_finish(r, VIRTIO_BLK_S_IOERR);
			return;
		}
		r->seg_next++;
		submit(r, r->type == VIRTIO_BLK_T_DISCARD ? BDEV_IO_UNMAP : BDEV_IO_WRITE_ZEROES, off, n, false);
		return;
	}
	vblk_req_finish(r, VIRTIO_BLK_S_OK);
}

static void bio_done(struct bdev_io *bio, void *arg)
{
	struct vblk_req *r = arg;
	if (bio->status) {
		vblk_req_finish(r, status_of(bio->status));
		return;
	}
	if (r->type == VIRTIO_BLK_T_DISCARD || r->type == VIRTIO_BLK_T_WRITE_ZEROES) {
		dwz_next(r);
		return;
	}
	vblk_req_finish(r, VIRTIO_BLK_S_OK);
}

static void exec_rw(struct vblk_queue *q, struct vblk_req *r, struct vq_chain *ch, uint64_t sector)
{
	struct vblk_ctrl *c = q->c;
	bool in = r->type == VIRTIO_BLK_T_IN;
	size_t len = in ? ch->in_len - 1 : ch->out_len - sizeof(struct virtio_blk_req_hdr);
	int n = in ? iov_slice(r->iov, (int)q->max_iov, ch->iov + ch->nout, ch->nin, 0, len)
		   : iov_slice(r->iov, (int)q->max_iov, ch->iov, ch->nout, sizeof(struct virtio_blk_req_hdr), len);
	uint64_t off, nb;

	if (!in && c->read_only) {
		vblk_req_finish(r, VIRTIO_BLK_S_IOERR);
		return;
	}
	if (n < 0 || len % VIRTIO_BLK_SECTOR || (c->seg_max && (uint32_t)n > c->seg_max) ||
	    to_blocks(q, sector, len / VIRTIO_BLK_SECTOR, &off, &nb)) {
		vblk_req_finish(r, VIRTIO_BLK_S_IOERR);
		return;
	}
	r->iovcnt = n;
	if (in) {
		r->written = (uint32_t)len;
		STAT_INC(q->reads);
	} else {
		STAT_INC(q->writes);
	}
	submit(r, in ? BDEV_IO_READ : BDEV_IO_WRITE, off, nb, true);
}

void vblk_io_execute(struct vblk_queue *q, struct vblk_req *r, struct vq_chain *ch)
{
	struct vblk_ctrl *c = q->c;
	struct virtio_blk_req_hdr h;

	r->written = 0;
	r->iovcnt = 0;
	/* the status byte is the last byte of the last writable buffer */
	struct iovec *last = &ch->iov[ch->nout + ch->nin - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (!iov_copy_out(ch->iov, ch->nout, 0, &h, sizeof(h))) {
		vblk_req_finish(r, VIRTIO_BLK_S_IOERR);
		return;
	}
	r->type = h.type;
	switch (h.type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		exec_rw(q, r, ch, h.sector);
		return;
	case VIRTIO_BLK_T_FLUSH:
		STAT_INC(q->flushes);
		if (!q->rbdev || !bdev_io_type_supported(q->rbdev, BDEV_IO_FLUSH)) {
			vblk_req_finish(r, VIRTIO_BLK_S_OK);
			return;
		}
		submit(r, BDEV_IO_FLUSH, 0, 0, false);
		return;
	case VIRTIO_BLK_T_GET_ID: {
		size_t room = ch->in_len - 1;
		size_t idlen = strnlen(c->vblk_id, VIRTIO_BLK_ID_BYTES);
		char id[VIRTIO_BLK_ID_BYTES] = { 0 };
		memcpy(id, c->vblk_id, idlen);
		size_t n = room < VIRTIO_BLK_ID_BYTES ? room : VIRTIO_BLK_ID_BYTES;
		/* the writable bytes before the status byte take the id */
		size_t done = 0;
		for (int i = ch->nout; i < ch->nout + ch->nin && done < n; i++) {
			size_t take = ch->iov[i].iov_len < n - done ? ch->iov[i].iov_len : n - done;
			memcpy(ch->iov[i].iov_base, id + done, take);
			done += take;
		}
		r->written = (uint32_t)done;
		vblk_req_finish(r, VIRTIO_BLK_S_OK);
		return;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES: {
		bool discard = h.type == VIRTIO_BLK_T_DISCARD;
		uint64_t f = discard ? BIT(VIRTIO_BLK_F_DISCARD) : BIT(VIRTIO_BLK_F_WRITE_ZEROES);
		size_t dlen = ch->out_len - sizeof(h);
		if (!(c->driver_features & f)) {
			vblk_req_finish(r, VIRTIO_BLK_S_UNSUPP);
			return;
		}
		if (c->read_only) {
			vblk_req_finish(r, VIRTIO_BLK_S_IOERR);
			return;
		}
		if (!dlen || dlen % sizeof(struct virtio_blk_discard_wz) || dlen / 16 > 256) {
			vblk_req_finish(r, VIRTIO_BLK_S_IOERR);
			return;
		}
		int n = iov_slice(r->iov, (int)q->max_iov, ch->iov, ch->nout, sizeof(h), dlen);
		if (n < 0) {
			vblk_req_finish(r, VIRTIO_BLK_S_IOERR);
			return;
		}
		r->iovcnt = n;
		r->seg_count = (uint32_t)(dlen / 16);
		r->seg_next = 0;
		uint8_t st = dwz_check(r);
		if (st != VIRTIO_BLK_S_OK) {
			vblk_req_finish(r, st);
			return;
		}
		dwz_next(r);
		return;
	}
	default:
		vblk_req_finish(r, VIRTIO_BLK_S_UNSUPP);
		return;
	}
}
