/* File-backed bdevs: opening the file, and the per-I/O plan shared by the
 * io_uring and libaio engines (see file_common.h). */
#include "bdev/modules/file_common.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <linux/magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "core/log.h"

/* Steps of a request (file_req.kind). */
enum {
	FR_READ,
	FR_WRITE,
	FR_FLUSH,
	FR_PUNCH,	/* fallocate(PUNCH_HOLE) */
	FR_ZERO_RANGE,	/* fallocate(ZERO_RANGE) */
	FR_ZERO_WRITE,	/* writes from the zero buffer */
};

/* Read-only zeroes for FR_ZERO_WRITE, shared by every channel: the kernel
 * only reads it. In .bss, so it costs no memory until used (and then maps
 * the zero page). Page aligned, so it suits O_DIRECT. */
static _Alignas(4096) unsigned char g_zero_buf[FILE_ZERO_BUF_SIZE];

/* Fallback O_DIRECT alignment for a regular file when the kernel does not
 * report it (statx STATX_DIOALIGN needs Linux 6.1): safe for any device. */
#define FILE_DIO_ALIGN_DEFAULT 4096u

static bool is_pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

/* Query O_DIRECT alignment of fd into f; false when the file system says
 * O_DIRECT is not supported at all. */
static bool query_dio_align(struct file_dev *f, int fd)
{
	struct statx stx;

	memset(&stx, 0, sizeof(stx));
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 &&
	    (stx.stx_mask & STATX_DIOALIGN)) {
		if (!stx.stx_dio_mem_align || !stx.stx_dio_offset_align)
			return false;
		f->dio_mem_align = stx.stx_dio_mem_align;
		f->dio_offset_align = stx.stx_dio_offset_align;
		return true;
	}
	if (f->is_blkdev) {
		/* Block devices report DIOALIGN only since Linux 6.11; the
		 * logical block size is always enough for both. */
		f->dio_mem_align = f->lbs;
		f->dio_offset_align = f->lbs;
	} else {
		f->dio_mem_align = FILE_DIO_ALIGN_DEFAULT;
		f->dio_offset_align = FILE_DIO_ALIGN_DEFAULT;
	}
	return true;
}

/* Size and logical block size from the buffered fd. */
static int query_geometry(struct file_dev *f, const struct stat *st, const char *who,
			  char *err, size_t errlen)
{
	if (S_ISREG(st->st_mode)) {
		f->size = (uint64_t)st->st_size;
		f->lbs = 512;
		return 0;
	}
	if (!S_ISBLK(st->st_mode)) {
		snprintf(err, errlen, "%s: %s is neither a regular file nor a block device",
			 who, f->filename);
		return -EINVAL;
	}
	f->is_blkdev = true;
	uint64_t size = 0;
	int lbs = 0;
	if (ioctl(f->fd_buffered, BLKGETSIZE64, &size) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot get the size of %s (BLKGETSIZE64): %s",
			 who, f->filename, strerror(e));
		return -e;
	}
	if (ioctl(f->fd_buffered, BLKSSZGET, &lbs) < 0) {
		int e = errno;
		snprintf(err, errlen, "%s: cannot get the logical block size of %s (BLKSSZGET): %s",
			 who, f->filename, strerror(e));
		return -e;
	}
	if (lbs < 512 || !is_pow2((uint64_t)lbs)) {
		snprintf(err, errlen, "%s: %s reports an unusable logical block size %d",
			 who, f->filename, lbs);
		return -EINVAL;
	}
	f->size = size;
	f->lbs = (uint32_t)lbs;
	return 0;
}

static int check_block_size(struct file_dev *f, uint32_t block_size, const char *who,
			    char *err, size_t errlen)
{
	f->block_size_override = block_size != 0;
	if (!block_size)
		block_size = f->lbs;
	if (!is_pow2(block_size) || block_size < 512 || block_size > 65536) {
		snprintf(err, errlen, "%s: block_size %u is invalid: it must be a power of two "
			 "from 512 to 65536", who, block_size);
		return -EINVAL;
	}
	if (block_size % f->lbs) {
		snprintf(err, errlen, "%s: block_size %u is not a multiple of the logical block "
			 "size %u of %s", who, block_size, f->lbs, f->filename);
		return -EINVAL;
	}
	if (f->size < block_size) {
		snprintf(err, errlen, "%s: %s is too small: %llu bytes, less than one block of %u",
			 who, f->filename, (unsigned long long)f->size, block_size);
		return -EINVAL;
	}
	f->block_size = block_size;
	f->num_blocks = f->size / block_size;
	if (f->size % block_size)
		log_info("%s: the last %llu bytes of %s (not a whole block of %u) are not used",
			 who, (unsigned long long)(f->size % block_size), f->filename, block_size);
	return 0;
}

/* Is fd's file system one that keeps files in memory only (tmpfs, ramfs)? */
static bool in_memory_fs(int fd)
{
	struct statfs sfs;

	if (fstatfs(fd, &sfs) < 0)
		return false;
	return sfs.f_type == TMPFS_MAGIC || sfs.f_type == RAMFS_MAGIC;
}

/* Open the O_DIRECT fd when the file system allows it. Not an error when
 * it does not: the bdev then works through the buffered fd only. */
static int open_direct(struct file_dev *f, int flags, const struct stat *st, const char *who,
		       char *err, size_t errlen)
{
	int fd = open(f->filename, flags | O_DIRECT);
	if (fd < 0) {
		if (errno == EINVAL)
			log_info("%s: %s does not support O_DIRECT; using buffered I/O",
				 who, f->filename);
		else
			log_warn("%s: cannot open %s with O_DIRECT (%s); using buffered I/O",
				 who, f->filename, strerror(errno));
		return 0;
	}
	struct stat st2;
	if (fstat(fd, &st2) < 0 || st2.st_dev != st->st_dev || st2.st_ino != st->st_ino ||
	    st2.st_rdev != st->st_rdev) {
		close(fd);
		snprintf(err, errlen, "%s: %s changed while it was being opened", who, f->filename);
		return -EAGAIN;
	}
	if (!query_dio_align(f, fd)) {
		log_info("%s: %s does not support O_DIRECT; using buffered I/O", who, f->filename);
		close(fd);
		return 0;
	}
	f->fd_direct = fd;
	return 0;
}

int file_dev_open(struct file_dev *f, const char *who, const char *filename,
		  uint32_t block_size, bool readonly, char *err, size_t errlen)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	struct stat st;
	int rc;

	memset(f, 0, sizeof(*f));
	f->fd_direct = -1;
	f->fd_buffered = -1;
	f->readonly = readonly;
	if (!filename || !*filename) {
		snprintf(err, errlen, "%s: filename is empty", who);
		return -EINVAL;
	}
	f->filename = strdup(filename);
	if (!f->filename) {
		snprintf(err, errlen, "%s: out of memory", who);
		return -ENOMEM;
	}
	f->fd_buffered = open(filename, flags);
	if (f->fd_buffered < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot open %s: %s", who, filename, strerror(-rc));
		goto fail;
	}
	if (fstat(f->fd_buffered, &st) < 0) {
		rc = -errno;
		snprintf(err, errlen, "%s: cannot stat %s: %s", who, filename, strerror(-rc));
		goto fail;
	}
	rc = query_geometry(f, &st, who, err, errlen);
	if (rc)
		goto fail;
	rc = check_block_size(f, block_size, who, err, errlen);
	if (rc)
		goto fail;
	rc = open_direct(f, flags, &st, who, err, errlen);
	if (rc)
		goto fail;
	f->memory_backed = S_ISREG(st.st_mode) && in_memory_fs(f->fd_buffered);
	return 0;
fail:
	file_dev_close(f);
	return rc;
}

void file_dev_close(struct file_dev *f)
{
	if (f->fd_direct >= 0)
		close(f->fd_direct);
	if (f->fd_buffered >= 0)
		close(f->fd_buffered);
	f->fd_direct = -1;
	f->fd_buffered = -1;
	free(f->filename);
	f->filename = NULL;
}

bool file_dev_direct_ok(const struct file_dev *f, const struct iovec *iov, int iovcnt,
			uint64_t off, uint64_t len)
{
	uint64_t om = (uint64_t)f->dio_offset_align - 1;
	uintptr_t mm = (uintptr_t)f->dio_mem_align - 1;

	if (f->fd_direct < 0)
		return false;
	if ((off | len) & om)
		return false;
	for (int i = 0; i < iovcnt; i++)
		if (((uintptr_t)iov[i].iov_base & mm) || ((uint64_t)iov[i].iov_len & om))
			return false;
	return true;
}

void file_chan_init(struct file_chan *c, const struct file_dev *dev, bool fallocate)
{
	memset(c, 0, sizeof(*c));
	c->dev = dev;
	c->fallocate = fallocate;
}

/* The zeroing step to use now for a range (UNMAP starts at FR_PUNCH). */
static uint8_t zero_kind(const struct file_chan *c, bool unmap)
{
	if (!c->fallocate)
		return FR_ZERO_WRITE;
	if (unmap && !c->no_punch)
		return FR_PUNCH;
	return c->no_zero_range ? FR_ZERO_WRITE : FR_ZERO_RANGE;
}

int file_req_start(struct file_chan *c, struct bdev_io *io, struct file_req *r)
{
	const struct file_dev *f = c->dev;
	uint64_t bs = f->block_size;

	memset(r, 0, sizeof(*r));
	r->io = io;
	r->offset = io->offset_blocks * bs;
	r->total = io->num_blocks * bs;
	switch (io->type) {
	case BDEV_IO_READ:
		r->kind = FR_READ;
		break;
	case BDEV_IO_WRITE:
		r->kind = FR_WRITE;
		r->fua = io->fua;
		break;
	case BDEV_IO_FLUSH:
		r->kind = FR_FLUSH;
		return 1;
	case BDEV_IO_UNMAP:
		r->kind = zero_kind(c, true);
		break;
	case BDEV_IO_WRITE_ZEROES:
		r->kind = zero_kind(c, false);
		break;
	default:
		return -ENOTSUP;
	}
	if (r->kind != FR_READ && f->readonly)
		return -EROFS;
	if (!r->total)
		return 0;
	if (r->kind == FR_READ || r->kind == FR_WRITE) {
		r->iov = io->iov;
		r->iovcnt = io->iovcnt;
	}
	return 1;
}

/* Copy len bytes between two iovec arrays. */
static void iov_copy(const struct iovec *dst, int dcnt, const struct iovec *src, int scnt, uint64_t len)
{
	size_t doff = 0, soff = 0;
	while (len && dcnt > 0 && scnt > 0) {
		size_t n = dst->iov_len - doff;
		if (n > src->iov_len - soff)
			n = src->iov_len - soff;
		if (n > len)
			n = (size_t)len;
		memcpy((uint8_t *)dst->iov_base + doff, (const uint8_t *)src->iov_base + soff, n);
		len -= n;
		doff += n;
		soff += n;
		if (doff == dst->iov_len) {
			dst++;
			dcnt--;
			doff = 0;
		}
		if (soff == src->iov_len) {
			src++;
			scnt--;
			soff = 0;
		}
	}
}

/* A read or write O_DIRECT could take but for the guest's buffer
 * addresses: stage it (a write's data is copied in now). 0 when staged or
 * not needed, -EAGAIN to wait for chunks; a request the pool can never
 * stage goes on unstaged (the bdev then turns buffered, see rw_op). */
static int stage(struct file_chan *c, struct file_req *r)
{
	const struct file_dev *f = c->dev;
	if (r->nbounce || r->done || f->fd_direct < 0 || c->no_direct ||
	    __atomic_load_n(&f->buffered_only, __ATOMIC_RELAXED) ||
	    ((r->offset | r->total) & ((uint64_t)f->dio_offset_align - 1)) ||
	    file_dev_direct_ok(f, r->iov, r->iovcnt, r->offset, r->total))
		return 0;
	int n = file_bounce_get(r->bounce, r->total);
	if (n == -EAGAIN)
		return -EAGAIN;
	if (n < 0)
		return 0;
	r->nbounce = (int8_t)n;
	if (r->kind == FR_WRITE)
		iov_copy(r->bounce, n, r->iov, r->iovcnt, r->total);
	c->staged_ops++;
	return 0;
}

static void unstage(struct file_req *r, bool copy_out)
{
	if (!r->nbounce)
		return;
	if (copy_out)
		iov_copy(r->iov, r->iovcnt, r->bounce, r->nbounce, r->total);
	file_bounce_put(r->bounce, r->nbounce);
	r->nbounce = 0;
}

/* Data step: the rest of the transfer, from r->done on. */
static int rw_op(struct file_chan *c, struct file_req *r, struct file_op *op)
{
	if (r->kind != FR_ZERO_WRITE && stage(c, r))
		return -EAGAIN;
	const struct iovec *iov = r->nbounce ? r->bounce : r->iov;
	int iovcnt = r->nbounce ? r->nbounce : r->iovcnt;
	uint64_t skip = r->done;

	if (r->kind == FR_ZERO_WRITE) {
		uint64_t n = r->total - r->done;
		r->tmp.iov_base = g_zero_buf;
		r->tmp.iov_len = n < FILE_ZERO_BUF_SIZE ? n : FILE_ZERO_BUF_SIZE;
		iov = &r->tmp;
		iovcnt = 1;
	} else if (skip) {
		/* Resume after a short transfer without touching the consumer's
		 * iovecs: the split segment's rest goes alone (from r->tmp),
		 * whole segments after it straight from the consumer's array. */
		while (iovcnt > 0 && skip >= iov->iov_len) {
			skip -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (skip) {
			r->tmp.iov_base = (char *)iov->iov_base + skip;
			r->tmp.iov_len = iov->iov_len - skip;
			iov = &r->tmp;
			iovcnt = 1;
		}
	}
	op->code = r->kind == FR_READ ? FILE_OP_READV : FILE_OP_WRITEV;
	op->iov = iov;
	op->iovcnt = iovcnt;
	op->offset = r->offset + r->done;
	op->len = iov == &r->tmp ? r->tmp.iov_len : r->total - r->done;
	op->rw_flags = r->fua ? RWF_DSYNC : 0;
	r->expect = op->len;
	bool direct_ok = file_dev_direct_ok(c->dev, op->iov, op->iovcnt, op->offset, op->len);
	bool buffered_only = __atomic_load_n(&c->dev->buffered_only, __ATOMIC_RELAXED);
	if (!direct_ok && !buffered_only && c->dev->fd_direct >= 0) {
		/* O_DIRECT and the page cache on one file collide when two queues
		 * write different sectors of one page (stale pages, write-back
		 * errors): at the first I/O that cannot go direct, the whole bdev
		 * switches to buffered I/O for good. The flag is the only thing a
		 * channel changes in the shared device description. */
		__atomic_store_n((bool *)&c->dev->buffered_only, true, __ATOMIC_RELAXED);
		buffered_only = true;
		log_warn("file bdev %s: unaligned guest buffers: buffered I/O from now on", c->dev->filename);
	}
	r->direct = !c->no_direct && !buffered_only && direct_ok;
	op->fd = r->direct ? c->dev->fd_direct : c->dev->fd_buffered;
	if (r->direct)
		c->direct_ops++;
	else
		c->buffered_ops++;
	return 0;
}

int file_req_op(struct file_chan *c, struct file_req *r, struct file_op *op)
{
	memset(op, 0, sizeof(*op));
	switch (r->kind) {
	case FR_READ:
	case FR_WRITE:
	case FR_ZERO_WRITE:
		return rw_op(c, r, op);
	case FR_FLUSH:
		/* fdatasync acts on the inode: either fd flushes both paths
		 * and the device cache. */
		op->code = FILE_OP_FDSYNC;
		op->fd = c->dev->fd_buffered;
		return 0;
	case FR_PUNCH:
	case FR_ZERO_RANGE:
		op->code = FILE_OP_FALLOCATE;
		op->fd = c->dev->fd_buffered;
		op->mode = FALLOC_FL_KEEP_SIZE |
			   (r->kind == FR_PUNCH ? FALLOC_FL_PUNCH_HOLE : FALLOC_FL_ZERO_RANGE);
		op->offset = r->offset;
		op->len = r->total;
		return 0;
	}
	return 0;
}

/* fallocate mode refused by the file system / device / kernel. */
static bool refused(long res)
{
	return res == -EOPNOTSUPP || res == -EINVAL || res == -ENOTTY || res == -ENOSYS;
}

static int advance_step(struct file_chan *c, struct file_req *r, long res)
{
	switch (r->kind) {
	case FR_READ:
	case FR_WRITE:
	case FR_ZERO_WRITE:
		if (res == -EINVAL && r->direct) {
			/* Our alignment estimate was too optimistic or the file
			 * system accepts O_DIRECT at open but not for I/O: this
			 * channel goes buffered from now on. */
			if (!c->no_direct)
				log_warn("%s: O_DIRECT I/O refused (EINVAL); using buffered I/O",
					 c->dev->filename);
			c->no_direct = true;
			return 1;
		}
		if (res < 0)
			return (int)res;
		if (res == 0 || (uint64_t)res > r->expect)
			return -EIO;	/* no progress (file shrank?) or nonsense */
		r->done += (uint64_t)res;
		return r->done < r->total ? 1 : 0;
	case FR_PUNCH:
		if (refused(res)) {
			c->no_punch = true;
			r->kind = zero_kind(c, false);
			return 1;
		}
		return res < 0 ? (int)res : 0;
	case FR_ZERO_RANGE:
		if (refused(res)) {
			c->no_zero_range = true;
			r->kind = FR_ZERO_WRITE;
			return 1;
		}
		return res < 0 ? (int)res : 0;
	case FR_FLUSH:
	default:
		return res < 0 ? (int)res : 0;
	}
}

int file_req_advance(struct file_chan *c, struct file_req *r, long res)
{
	int rc = advance_step(c, r, res);
	/* finished: a staged read's data goes to the guest's buffers */
	if (rc != 1)
		unstage(r, rc == 0 && r->kind == FR_READ);
	return rc;
}

int file_op_fallocate_sync(const struct file_op *op)
{
	if (fallocate(op->fd, op->mode, (off_t)op->offset, (off_t)op->len) < 0)
		return -errno;
	return 0;
}
