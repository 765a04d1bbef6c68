/* osnap block devices: the generic layer.
 *
 * Threading: bdevs are created, listed, claimed and deleted on the main
 * thread. I/O is submitted on a reactor through a per-reactor channel and
 * completes on the same reactor, always from a poller, never inside
 * bdev_submit() (so a consumer may submit from its completion callback and
 * never recurses).
 *
 * Memory: no allocation per I/O. The consumer owns each struct bdev_io
 * (typically in a per-queue array) and must give it bdev_io_size(bdev)
 * bytes, since a module keeps its per-I/O context behind it.
 *
 * Errors: negative errno everywhere; the guest-visible status is derived by
 * the controller from bdev_io->status. */
#ifndef OSNAP_BDEV_H
#define OSNAP_BDEV_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <jansson.h>

#define BDEV_NAME_MAX 128
/* Largest per-I/O module context: consumers size their request arrays with
 * BDEV_IO_MAX_SIZE so a namespace can change bdev without reallocating. */
#define BDEV_IO_CTX_MAX 512
#define BDEV_IO_MAX_SIZE (sizeof(struct bdev_io) + BDEV_IO_CTX_MAX)

enum bdev_io_type {
	BDEV_IO_READ = 0,
	BDEV_IO_WRITE,
	BDEV_IO_FLUSH,
	BDEV_IO_UNMAP,
	BDEV_IO_WRITE_ZEROES,
	BDEV_IO_COMPARE,
	BDEV_IO_NUM_TYPES
};

/* bdev_io.status values besides 0 (success) and negative errno: */
#define BDEV_IO_MISCOMPARE (-EILSEQ)	/* COMPARE: data differs */

struct bdev;
struct bdev_io;
struct bdev_channel;
struct bdev_lba_lock;
struct bdev_user;
struct osnap_thread;

typedef void (*bdev_io_cb)(struct bdev_io *io, void *cb_arg);

struct bdev_io {
	/* Set by the consumer before bdev_submit(). */
	uint8_t type;			/* enum bdev_io_type */
	bool fua;			/* WRITE: force unit access */
	uint64_t offset_blocks;
	uint64_t num_blocks;
	struct iovec *iov;		/* READ/WRITE/COMPARE data, may point into guest memory */
	int iovcnt;
	bdev_io_cb cb;
	void *cb_arg;

	/* Set by the layer. */
	int status;			/* 0, BDEV_IO_MISCOMPARE or -errno */
	struct bdev_channel *ch;
	uint64_t submit_tick;		/* tick_now() at submission (core/tick.h) */
	struct bdev_io *next;		/* list link, owned by whoever holds the I/O */
	const struct bdev_lba_lock *lba_lock;	/* the lock it writes under (bdev_submit_locked) */
	bool tracked;			/* write-type I/O in flight on its channel */
	struct bdev_io *trk_prev, *trk_next;	/* the channel's in-flight write-type I/O */

	/* The module's per-I/O context (bdev->ops->io_ctx_size bytes). */
	_Alignas(16) unsigned char driver_ctx[];
};

struct bdev_io_stat {
	uint64_t bytes_read, num_read_ops;
	uint64_t bytes_written, num_write_ops;
	uint64_t bytes_unmapped, num_unmap_ops;
	uint64_t num_flush_ops, num_write_zeroes_ops, num_compare_ops;
	uint64_t read_latency_ns, write_latency_ns, unmap_latency_ns;
	uint64_t num_errors;
};

/* A backend module. All callbacks except submit/channel_* run on the main
 * thread. */
struct bdev_module_ops {
	const char *module_name;	/* "malloc", "null", "uring", "aio" */
	const char *product_name;	/* bdev_get_bdevs product_name */
	size_t io_ctx_size;		/* bytes of bdev_io.driver_ctx the module uses */

	/* Per-reactor channel: called on the reactor. Returns the module's
	 * channel context (or NULL with errno set). */
	void *(*channel_create)(struct bdev *bdev);
	void (*channel_destroy)(struct bdev *bdev, void *chctx);

	/* Start the I/O. Must not call io->cb itself: complete through
	 * bdev_io_complete() from a poller (or bdev_io_complete_deferred()). */
	void (*submit)(struct bdev *bdev, void *chctx, struct bdev_io *io);

	bool (*io_type_supported)(struct bdev *bdev, enum bdev_io_type type);

	/* Release module resources; the bdev struct itself is freed by the layer. */
	void (*destruct)(struct bdev *bdev);

	/* Append {"method":..., "params":...} objects that recreate the bdev. */
	void (*write_config)(struct bdev *bdev, json_t *config_array);
	/* driver_specific object for bdev_get_bdevs (may be NULL). */
	json_t *(*driver_specific)(struct bdev *bdev);
};

struct bdev {
	char name[BDEV_NAME_MAX];
	uint8_t uuid[16];
	uint32_t block_size;
	uint64_t num_blocks;
	bool write_cache;		/* volatile write cache present (FLUSH meaningful) */
	const struct bdev_module_ops *ops;
	void *ctx;			/* module private */

	/* Owned by the layer. */
	char *claimed_by;		/* NULL or a description of the consumer */
	struct bdev_user *users;	/* consumers sharing it (bdev_share) */
	int open_count;
	struct bdev_io_stat retired_stat;	/* stats of destroyed channels */
	struct bdev_channel *channels[64];	/* per reactor, OSNAP_MAX_REACTORS */
	struct bdev *next;
	uint64_t create_seq;
	/* LBA range locks (any reactor; lock_mtx held only briefly) */
	pthread_mutex_t lock_mtx;
	struct bdev_lba_lock *locks;		/* held: draining or granted (lock_mtx) */
	struct bdev_lba_lock *lock_waiters;	/* waiting for an overlapping one (FIFO, lock_mtx) */
	int nlocks;				/* held locks: atomic, read without lock_mtx */
};

/* --- module side --- */

/* Fill bdev (name, block_size, num_blocks, ops, ctx; uuid zero = generate)
 * then register it. Checks the name is free and valid. Main thread.
 * On success the layer owns bdev (allocated with calloc by the module) and
 * will call ops->destruct then free it. Returns 0 or -errno. */
int bdev_register(struct bdev *bdev);

/* The medium changed size (an rbd image resized): set num_blocks. Main
 * thread. I/O is checked against the new count at once; consumers see it
 * when they next read it (NVMe Identify Namespace, virtio-blk config). */
void bdev_set_num_blocks(struct bdev *bdev, uint64_t num_blocks);

/* Complete an I/O. Called on the I/O's reactor, from a poller. */
void bdev_io_complete(struct bdev_io *io, int status);
/* Complete later, from the channel's own poller on this reactor: for modules
 * that finish the work inside submit (malloc, null). */
void bdev_io_complete_deferred(struct bdev_io *io, int status);

/* Module helpers. */
const char *bdev_io_type_name(enum bdev_io_type t);
/* Bytes described by an iovec array. */
size_t iov_total(const struct iovec *iov, int iovcnt);

/* --- consumer side --- */

struct bdev *bdev_get_by_name(const char *name);
/* Iterate in creation order. */
struct bdev *bdev_first(void);
struct bdev *bdev_next(struct bdev *b);

/* Consumers, SPDK's model: a consumer either shares a bdev with others
 * (bdev_share: SPDK's open without a claim; virtio-blk controllers, so one
 * bdev may back many VFs) or claims it for itself (bdev_claim: SPDK's
 * exclusive-write claim; NVMe namespaces). A claimed bdev cannot be shared
 * and a shared one cannot be claimed; either way it cannot be deleted.
 * Descriptions name the consumer in errors ("namespace 1 of nqn.x").
 * Main thread. */

/* Claim for exclusive use. -EBUSY if claimed or shared already. */
int bdev_claim(struct bdev *bdev, const char *by);
void bdev_release(struct bdev *bdev);
/* Share with other sharers; owner identifies this consumer (for unshare).
 * -EBUSY if claimed, -ENOMEM. */
int bdev_share(struct bdev *bdev, const void *owner, const char *by);
void bdev_unshare(struct bdev *bdev, const void *owner);
/* Number of sharers. */
int bdev_share_count(const struct bdev *bdev);
/* A consumer's description for errors: the claimer, else "X" for one
 * sharer or "X and N more" (in buf); NULL when nobody uses the bdev. */
const char *bdev_consumer(const struct bdev *bdev, char *buf, size_t len);
/* The layer's: forget every sharer (a bdev being freed). */
void bdev_share_free_all(struct bdev *bdev);

/* Open/close: an open bdev cannot be deleted. Main thread. */
void bdev_open(struct bdev *bdev);
void bdev_close(struct bdev *bdev);

/* Delete: refuses a claimed or open bdev with -EBUSY and a message in err.
 * Channels must be gone (they are, once the bdev is closed). Main thread. */
int bdev_unregister(const char *name, const char *expect_module, char *err, size_t errlen);

/* Bytes the consumer must give each bdev_io of this bdev. */
size_t bdev_io_size(const struct bdev *bdev);

/* Per-reactor channel, refcounted; call on the reactor. NULL with errno. */
struct bdev_channel *bdev_channel_get(struct bdev *bdev);
void bdev_channel_put(struct bdev_channel *ch);

/* Submit an I/O on the caller's reactor. The request is checked (type
 * supported, range inside the bdev, iov length = num_blocks*block_size for
 * data commands); a bad one completes (later, from the poller) with
 * -EINVAL / -ERANGE / -ENOTSUP. A write-type I/O overlapping a range
 * locked by another owner waits for its release (see the range locks
 * below). The callback runs on this reactor. */
void bdev_submit(struct bdev_channel *ch, struct bdev_io *io);

bool bdev_io_type_supported(struct bdev *bdev, enum bdev_io_type type);

/* --- LBA range locks (as SPDK's bdev_lock_lba_range) ---
 *
 * While an owner holds [offset, offset + num), every write-type I/O (WRITE,
 * UNMAP, WRITE_ZEROES) overlapping it waits, whatever channel or reactor
 * it was submitted on, except the owner's own I/O submitted with
 * bdev_submit_locked(); it is submitted when the lock is released (on its
 * own reactor). Reads and compares never wait. A consumer runs a sequence
 * of I/Os that must be atomic against other writers (fused Compare and
 * Write) under such a lock.
 *
 * Taking a lock waits for overlapping locks held or asked for earlier to
 * be released, then for the overlapping write-type I/O already in flight
 * on every channel to complete; done(arg) then runs on the owner's thread
 * (never inside bdev_lock_lba_range). Nothing is allocated: the caller
 * provides the lock's storage, untouched until unlock. The owner keeps its
 * channel (and so the bdev open) until after bdev_unlock_lba_range(). */
struct bdev_lba_lock {
	/* private to the layer */
	struct bdev *bdev;
	uint64_t offset, num;
	struct osnap_thread *owner;	/* where done() runs */
	int visit;			/* reactor whose in-flight I/O is being waited for */
	void (*done)(void *arg);
	void *arg;
	struct bdev_lba_lock *next;	/* bdev's locks or lock_waiters (lock_mtx) */
	struct bdev_lba_lock *park_next;	/* a channel's drains waiting for I/O (its reactor) */
};

/* On a reactor, with ch this reactor's channel of the bdev; offset/num
 * within the bdev (checked by the caller). */
void bdev_lock_lba_range(struct bdev_channel *ch, struct bdev_lba_lock *l, uint64_t offset, uint64_t num,
			 void (*done)(void *arg), void *arg);
/* Release a lock whose done() ran; waiting writes resume. Any reactor. */
void bdev_unlock_lba_range(struct bdev_lba_lock *l);
/* bdev_submit() of an I/O that may write inside l's range (l granted). */
void bdev_submit_locked(struct bdev_channel *ch, struct bdev_io *io, const struct bdev_lba_lock *l);

/* Sum of the stats of all channels (approximate while I/O runs). */
void bdev_get_stat(struct bdev *bdev, struct bdev_io_stat *out);

/* JSON for bdev_get_bdevs / save_config. */
json_t *bdev_info_json(struct bdev *bdev);
void bdev_write_config_all(json_t *config_array);

/* uuid helpers. */
void uuid_generate_random16(uint8_t out[16]);
int uuid_parse16(const char *s, uint8_t out[16]);
void uuid_format16(const uint8_t u[16], char out[37]);

/* Delete every bdev (shutdown). */
void bdev_unregister_all(void);

#endif
