/* Shared part of the file-backed block devices (uring, aio).
 *
 * file_dev: opening a regular file or a block device, with an O_DIRECT fd
 * and a buffered fd to the same file, its size and direct-I/O alignment,
 * and the block size checks.
 *
 * file_req: the engine-independent plan of one bdev_io as a sequence of
 * kernel operations (readv, writev, fdatasync, fallocate). An engine asks
 * file_req_op() for the current operation, hands it to the kernel, and
 * reports its result to file_req_advance(), which either finishes the
 * request or moves to the next operation: the rest of a short transfer,
 * a retry through the buffered fd when O_DIRECT refuses an I/O, or the
 * next way of zeroing a range (punch hole -> zero range -> writes from a
 * shared zero buffer) when the file system refuses one. Guest buffers whose
 * addresses O_DIRECT cannot take go through staging chunks
 * (file_bounce.h): copied in before a write, out after a read.
 *
 * No allocation per I/O: struct file_req lives in bdev_io.driver_ctx.
 * A file_chan is per reactor; nothing here is shared between threads
 * except the read-only file_dev. */
#ifndef OSNAP_BDEV_FILE_COMMON_H
#define OSNAP_BDEV_FILE_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "bdev/bdev.h"
#include "file_bounce.h"

/* Size of the shared zero buffer used to write zeroes (a multiple of every
 * valid block size). */
#define FILE_ZERO_BUF_SIZE (1u << 20)

struct file_dev {
	char *filename;
	int fd_direct;			/* O_DIRECT fd, or -1 when refused */
	int fd_buffered;		/* always open */
	bool is_blkdev;
	bool readonly;
	uint64_t size;			/* bytes */
	uint32_t lbs;			/* logical block size of the device (512 for files) */
	uint32_t dio_mem_align;		/* O_DIRECT buffer address alignment */
	uint32_t dio_offset_align;	/* O_DIRECT file offset / length alignment */
	uint32_t block_size;		/* the bdev's block size */
	uint64_t num_blocks;
	bool block_size_override;	/* block_size was given by the caller */
	/* the file lives in memory (tmpfs, ramfs): a read or write is a copy
	 * to or from the page cache that never waits for a device */
	bool memory_backed;
	/* set (once, by any channel) at the first I/O O_DIRECT cannot take: from
	 * then on every channel uses the page cache, never both on one file */
	bool buffered_only;
};

/* Open filename for a bdev. who prefixes error messages (the RPC method,
 * e.g. "bdev_uring_create"). block_size 0 = the device's logical block
 * size. On success f is filled (close it with file_dev_close); on failure
 * nothing stays open and err holds a message. Returns 0 or -errno. */
int file_dev_open(struct file_dev *f, const char *who, const char *filename,
		  uint32_t block_size, bool readonly, char *err, size_t errlen);

/* Close the fds and free the file name. Safe on a zeroed or closed f. */
void file_dev_close(struct file_dev *f);

/* True when a transfer of iov at byte offset off (len bytes in all) may go
 * through the O_DIRECT fd: every buffer address aligned to dio_mem_align,
 * every segment length, the offset and the length aligned to
 * dio_offset_align. Anything else takes the buffered fd. */
bool file_dev_direct_ok(const struct file_dev *f, const struct iovec *iov, int iovcnt,
			uint64_t off, uint64_t len);

/* Per-channel state shared by the engines. */
struct file_chan {
	const struct file_dev *dev;
	bool fallocate;		/* UNMAP / WRITE_ZEROES may use fallocate */
	bool no_punch;		/* PUNCH_HOLE refused once: skip it */
	bool no_zero_range;	/* ZERO_RANGE refused once: write zeroes */
	bool no_direct;		/* O_DIRECT refused an aligned I/O: buffered only */
	uint64_t buffered_ops;	/* data ops sent through the buffered fd */
	uint64_t direct_ops;	/* data ops sent through the O_DIRECT fd */
	uint64_t staged_ops;	/* requests copied through staging chunks */
};

/* Set up c for dev. fallocate: whether UNMAP and WRITE_ZEROES try
 * fallocate() before writing zeroes. */
void file_chan_init(struct file_chan *c, const struct file_dev *dev, bool fallocate);

enum file_op_code {
	FILE_OP_READV,
	FILE_OP_WRITEV,
	FILE_OP_FDSYNC,
	FILE_OP_FALLOCATE,
};

/* One kernel operation. iov points into the consumer's array or into the
 * file_req, valid while the request lives. */
struct file_op {
	uint8_t code;		/* enum file_op_code */
	int fd;
	int rw_flags;		/* WRITEV: RWF_DSYNC for FUA */
	int mode;		/* FALLOCATE mode */
	const struct iovec *iov;
	int iovcnt;
	uint64_t offset;	/* bytes */
	uint64_t len;		/* bytes: FALLOCATE length, READV/WRITEV expected */
};

/* Per-I/O state, in bdev_io.driver_ctx (engines embed it first). */
struct file_req {
	struct bdev_io *io;
	struct file_req *next;		/* engine's pending list */
	const struct iovec *iov;	/* the consumer's data */
	uint64_t offset;		/* byte offset of the request */
	uint64_t total;			/* bytes of the request */
	uint64_t done;			/* bytes finished */
	uint64_t expect;		/* bytes of the transfer in flight */
	struct iovec tmp;		/* rest of a split segment, or a zero chunk */
	int iovcnt;
	uint8_t kind;			/* internal step kind */
	bool fua;
	bool direct;			/* the op in flight used the O_DIRECT fd */
	int8_t nbounce;			/* staging chunks held (file_bounce.h) */
	long res;			/* result of an operation done inline */
	struct iovec bounce[FILE_BOUNCE_MAX_CHUNKS];
};

/* Start io: fills r. Returns 1 when there is an operation to submit
 * (file_req_op), 0 when the request is already complete (nothing to do),
 * or a negative errno to complete it with. */
int file_req_start(struct file_chan *c, struct bdev_io *io, struct file_req *r);

/* The operation to submit now for r: 0, or -EAGAIN when r waits for a
 * staging buffer (unaligned guest memory, O_DIRECT): ask again later (the
 * reactor's in-flight requests give theirs back). */
int file_req_op(struct file_chan *c, struct file_req *r, struct file_op *op);

/* Report the result of r's operation (bytes or -errno, as the kernel gave
 * it). Returns 1 when another operation must be submitted (file_req_op),
 * else the final status of the request (0 or -errno). */
int file_req_advance(struct file_chan *c, struct file_req *r, long res);

/* Run a FALLOCATE op synchronously (the aio engine has no asynchronous
 * fallocate). Returns 0 or -errno. */
int file_op_fallocate_sync(const struct file_op *op);

/* The request of a driver context. */
static inline struct file_req *file_req_of(struct bdev_io *io)
{
	return (struct file_req *)(void *)io->driver_ctx;
}

/* FIFO of requests waiting for a submission slot (no allocation: the link
 * is in the request). */
struct file_req_list {
	struct file_req *head, *tail;
};

static inline void file_req_list_push(struct file_req_list *l, struct file_req *r)
{
	r->next = NULL;
	if (l->tail)
		l->tail->next = r;
	else
		l->head = r;
	l->tail = r;
}

static inline struct file_req *file_req_list_pop(struct file_req_list *l)
{
	struct file_req *r = l->head;
	if (r) {
		l->head = r->next;
		if (!l->head)
			l->tail = NULL;
		r->next = NULL;
	}
	return r;
}

/* Put r back at the front (it could not be submitted after all). */
static inline void file_req_list_unpop(struct file_req_list *l, struct file_req *r)
{
	r->next = l->head;
	l->head = r;
	if (!l->tail)
		l->tail = r;
}

#endif
