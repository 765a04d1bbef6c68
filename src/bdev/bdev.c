/* The generic block-device layer. See bdev.h. */
#include "bdev.h"
#include "core/log.h"
#include "core/thread.h"
#include "core/tick.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(((struct bdev *)0)->channels) / sizeof(void *) == OSNAP_MAX_REACTORS,
	       "one channel slot per reactor");

struct bdev_channel {
	struct bdev *bdev;
	void *modctx;
	int refs;
	struct poller *poller;
	struct bdev_io *def_head, *def_tail;	/* deferred completions */
	/* range locks (this reactor only) */
	struct bdev_io *trk_head;		/* write-type I/O in the module */
	struct bdev_io *held_head, *held_tail;	/* write-type I/O waiting for an unlock */
	struct bdev_lba_lock *parked;		/* locks waiting for trk I/O to complete */
	/* Written by the owning reactor only, read by the main thread with
	 * relaxed atomic loads. */
	struct bdev_io_stat stat;
};

static struct bdev *g_bdevs;
static uint64_t g_seq;

#define STAT_ADD(field, v) __atomic_store_n(&(field), (field) + (v), __ATOMIC_RELAXED)
#define STAT_LOAD(field) __atomic_load_n(&(field), __ATOMIC_RELAXED)

static const char *const io_names[BDEV_IO_NUM_TYPES] = {
	"read", "write", "flush", "unmap", "write_zeroes", "compare",
};

const char *bdev_io_type_name(enum bdev_io_type t)
{
	return t < BDEV_IO_NUM_TYPES ? io_names[t] : "?";
}

size_t iov_total(const struct iovec *iov, int iovcnt)
{
	size_t n = 0;
	for (int i = 0; i < iovcnt; i++)
		n += iov[i].iov_len;
	return n;
}

static bool name_valid(const char *name)
{
	size_t n = strlen(name);
	if (n == 0 || n >= BDEV_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c <= ' ' || c == '"' || c == '\\' || c >= 0x7f)
			return false;
	}
	return true;
}

int bdev_register(struct bdev *bdev)
{
	if (!name_valid(bdev->name))
		return -EINVAL;
	if (bdev_get_by_name(bdev->name))
		return -EEXIST;
	if (!bdev->block_size || !bdev->num_blocks || !bdev->ops ||
	    bdev->ops->io_ctx_size > BDEV_IO_CTX_MAX)
		return -EINVAL;
	static const uint8_t zero[16];
	if (!memcmp(bdev->uuid, zero, 16))
		uuid_generate_random16(bdev->uuid);
	pthread_mutex_init(&bdev->lock_mtx, NULL);
	bdev->locks = bdev->lock_waiters = NULL;
	bdev->nlocks = 0;
	bdev->create_seq = ++g_seq;
	struct bdev **pp = &g_bdevs;
	while (*pp)
		pp = &(*pp)->next;
	*pp = bdev;
	bdev->next = NULL;
	log_info("bdev %s created (%s, %" PRIu64 " blocks of %u bytes)", bdev->name,
		 bdev->ops->module_name, bdev->num_blocks, bdev->block_size);
	return 0;
}

void bdev_set_num_blocks(struct bdev *bdev, uint64_t num_blocks)
{
	/* relaxed: reactors only compare I/O ranges with it (check_io) */
	__atomic_store_n(&bdev->num_blocks, num_blocks, __ATOMIC_RELAXED);
}

struct bdev *bdev_get_by_name(const char *name)
{
	for (struct bdev *b = g_bdevs; b; b = b->next)
		if (!strcmp(b->name, name))
			return b;
	return NULL;
}

struct bdev *bdev_first(void)
{
	return g_bdevs;
}

struct bdev *bdev_next(struct bdev *b)
{
	return b->next;
}

int bdev_claim(struct bdev *bdev, const char *by)
{
	if (bdev->claimed_by || bdev->users)
		return -EBUSY;
	bdev->claimed_by = strdup(by);
	return bdev->claimed_by ? 0 : -ENOMEM;
}

void bdev_release(struct bdev *bdev)
{
	free(bdev->claimed_by);
	bdev->claimed_by = NULL;
}

void bdev_open(struct bdev *bdev)
{
	bdev->open_count++;
}

void bdev_close(struct bdev *bdev)
{
	if (bdev->open_count > 0)
		bdev->open_count--;
}

static void bdev_free(struct bdev *b)
{
	if (b->ops->destruct)
		b->ops->destruct(b);
	for (int i = 0; i < OSNAP_MAX_REACTORS; i++)
		free(b->channels[i]);
	pthread_mutex_destroy(&b->lock_mtx);
	free(b->claimed_by);
	bdev_share_free_all(b);
	free(b);
}

int bdev_unregister(const char *name, const char *expect_module, char *err, size_t errlen)
{
	struct bdev **pp = &g_bdevs, *b;
	while (*pp && strcmp((*pp)->name, name))
		pp = &(*pp)->next;
	b = *pp;
	if (!b || (expect_module && strcmp(b->ops->module_name, expect_module))) {
		snprintf(err, errlen, "no %s bdev named %s", expect_module ? expect_module : "", name);
		return -ENODEV;
	}
	char buf[160];
	const char *who = bdev_consumer(b, buf, sizeof(buf));
	if (who) {
		snprintf(err, errlen, "bdev %s is %s by %s; remove that first", name,
			 b->claimed_by ? "claimed" : "used", who);
		return -EBUSY;
	}
	if (b->open_count) {
		snprintf(err, errlen, "bdev %s is open (I/O in progress); try again", name);
		return -EBUSY;
	}
	*pp = b->next;
	log_info("bdev %s deleted", name);
	bdev_free(b);
	return 0;
}

void bdev_unregister_all(void)
{
	while (g_bdevs) {
		struct bdev *b = g_bdevs;
		g_bdevs = b->next;
		bdev_free(b);
	}
}

size_t bdev_io_size(const struct bdev *bdev)
{
	return (sizeof(struct bdev_io) + bdev->ops->io_ctx_size + 15) & ~(size_t)15;
}

bool bdev_io_type_supported(struct bdev *bdev, enum bdev_io_type type)
{
	if (type >= BDEV_IO_NUM_TYPES)
		return false;
	return bdev->ops->io_type_supported ? bdev->ops->io_type_supported(bdev, type)
					    : (type == BDEV_IO_READ || type == BDEV_IO_WRITE);
}

/* --- channels --- */

static int channel_poll(void *arg)
{
	struct bdev_channel *ch = arg;
	struct bdev_io *io = ch->def_head;
	int n = 0;

	if (!io)
		return 0;
	/* Detach the list first: callbacks may defer new completions. */
	ch->def_head = ch->def_tail = NULL;
	while (io) {
		struct bdev_io *next = io->next;
		bdev_io_complete(io, io->status);
		io = next;
		n++;
	}
	return n;
}

static bool channel_arm(void *arg)
{
	struct bdev_channel *ch = arg;
	return ch->def_head != NULL;
}

struct bdev_channel *bdev_channel_get(struct bdev *bdev)
{
	int r = reactor_self_index();
	struct bdev_channel *ch;

	if (r < 0) {
		errno = EINVAL;
		return NULL;
	}
	ch = __atomic_load_n(&bdev->channels[r], __ATOMIC_ACQUIRE);
	if (ch && ch->refs) {
		ch->refs++;
		return ch;
	}
	if (!ch) {
		ch = calloc(1, sizeof(*ch));
		if (!ch)
			return NULL;
		ch->bdev = bdev;
	}
	ch->poller = poller_register(channel_poll, ch, "bdev_channel");
	if (!ch->poller)
		goto fail;
	poller_set_wake_fd(ch->poller, -1, channel_arm);
	if (bdev->ops->channel_create) {
		ch->modctx = bdev->ops->channel_create(bdev);
		if (!ch->modctx) {
			poller_unregister(ch->poller);
			ch->poller = NULL;
			goto fail;
		}
	}
	ch->refs = 1;
	/* release: the main thread's acquire load then sees an initialised channel */
	__atomic_store_n(&bdev->channels[r], ch, __ATOMIC_RELEASE);
	return ch;
fail:
	if (!bdev->channels[r])
		free(ch);
	return NULL;
}

void bdev_channel_put(struct bdev_channel *ch)
{
	if (!ch || --ch->refs > 0)
		return;
	if (ch->bdev->ops->channel_destroy && ch->modctx)
		ch->bdev->ops->channel_destroy(ch->bdev, ch->modctx);
	ch->modctx = NULL;
	poller_unregister(ch->poller);
	ch->poller = NULL;
	/* the struct stays (with its stats) until the bdev is deleted */
}

/* --- I/O --- */

void bdev_io_complete_deferred(struct bdev_io *io, int status)
{
	struct bdev_channel *ch = io->ch;
	io->status = status;
	io->next = NULL;
	if (ch->def_tail)
		ch->def_tail->next = io;
	else
		ch->def_head = io;
	ch->def_tail = io;
}

static void untrack(struct bdev_channel *ch, struct bdev_io *io);

void bdev_io_complete(struct bdev_io *io, int status)
{
	struct bdev_channel *ch = io->ch;
	struct bdev_io_stat *s = &ch->stat;
	uint64_t bytes = io->num_blocks * ch->bdev->block_size;
	uint64_t lat = tick_to_ns(tick_now() - io->submit_tick);

	if (io->tracked)
		untrack(ch, io);
	io->status = status;
	if (status && status != BDEV_IO_MISCOMPARE) {
		STAT_ADD(s->num_errors, 1);
	} else {
		switch (io->type) {
		case BDEV_IO_READ:
			STAT_ADD(s->bytes_read, bytes);
			STAT_ADD(s->num_read_ops, 1);
			STAT_ADD(s->read_latency_ns, lat);
			break;
		case BDEV_IO_WRITE:
			STAT_ADD(s->bytes_written, bytes);
			STAT_ADD(s->num_write_ops, 1);
			STAT_ADD(s->write_latency_ns, lat);
			break;
		case BDEV_IO_UNMAP:
			STAT_ADD(s->bytes_unmapped, bytes);
			STAT_ADD(s->num_unmap_ops, 1);
			STAT_ADD(s->unmap_latency_ns, lat);
			break;
		case BDEV_IO_FLUSH:
			STAT_ADD(s->num_flush_ops, 1);
			break;
		case BDEV_IO_WRITE_ZEROES:
			STAT_ADD(s->num_write_zeroes_ops, 1);
			break;
		case BDEV_IO_COMPARE:
			STAT_ADD(s->num_compare_ops, 1);
			break;
		}
	}
	io->cb(io, io->cb_arg);
}

static int check_io(struct bdev *b, struct bdev_io *io)
{
	if (io->type >= BDEV_IO_NUM_TYPES || !bdev_io_type_supported(b, io->type))
		return -ENOTSUP;
	/* relaxed: bdev_set_num_blocks may change it from the main thread;
	 * either the old or the new count is a valid bound */
	uint64_t nb = __atomic_load_n(&b->num_blocks, __ATOMIC_RELAXED);

	if (io->num_blocks > nb || io->offset_blocks > nb - io->num_blocks)
		return -ERANGE;
	switch (io->type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE:
	case BDEV_IO_COMPARE:
		if (!io->num_blocks || io->iovcnt <= 0 || !io->iov)
			return -EINVAL;
		if (iov_total(io->iov, io->iovcnt) != io->num_blocks * b->block_size)
			return -EINVAL;
		break;
	case BDEV_IO_UNMAP:
	case BDEV_IO_WRITE_ZEROES:
		if (!io->num_blocks)
			return -EINVAL;
		break;
	default:
		break;
	}
	return 0;
}

/* --- LBA range locks --- */

static bool write_type(uint8_t t)
{
	return t == BDEV_IO_WRITE || t == BDEV_IO_UNMAP || t == BDEV_IO_WRITE_ZEROES;
}

/* Ranges inside the bdev (checked), so the sums cannot wrap. */
static bool overlap(uint64_t a, uint64_t an, uint64_t b, uint64_t bn)
{
	return a < b + bn && b < a + an;
}

static bool io_hits(const struct bdev_io *io, const struct bdev_lba_lock *l)
{
	return io->lba_lock != l && overlap(io->offset_blocks, io->num_blocks, l->offset, l->num);
}

/* A lock of the list (up to stop) overlapping l. lock_mtx held. */
static bool list_overlaps(const struct bdev_lba_lock *list, const struct bdev_lba_lock *stop,
			  const struct bdev_lba_lock *l)
{
	for (; list && list != stop; list = list->next)
		if (overlap(list->offset, list->num, l->offset, l->num))
			return true;
	return false;
}

static void track(struct bdev_channel *ch, struct bdev_io *io)
{
	io->tracked = true;
	io->trk_prev = NULL;
	io->trk_next = ch->trk_head;
	if (ch->trk_head)
		ch->trk_head->trk_prev = io;
	ch->trk_head = io;
}

static bool trk_hits(const struct bdev_channel *ch, const struct bdev_lba_lock *l)
{
	for (const struct bdev_io *io = ch->trk_head; io; io = io->trk_next)
		if (io_hits(io, l))
			return true;
	return false;
}

static void drain_next(struct bdev_lba_lock *l);

static void untrack(struct bdev_channel *ch, struct bdev_io *io)
{
	io->tracked = false;
	if (io->trk_prev)
		io->trk_prev->trk_next = io->trk_next;
	else
		ch->trk_head = io->trk_next;
	if (io->trk_next)
		io->trk_next->trk_prev = io->trk_prev;
	/* locks waiting here for the writes in flight go on once none of
	 * theirs is left */
	for (struct bdev_lba_lock **pp = &ch->parked; *pp;) {
		struct bdev_lba_lock *l = *pp;
		if (io_hits(io, l) && !trk_hits(ch, l)) {
			*pp = l->park_next;
			drain_next(l);
		} else {
			pp = &l->park_next;
		}
	}
}

/* Submit to the module, unless a write-type I/O meets a range locked by
 * someone else: then it waits on its channel for the unlock. */
static void submit_checked(struct bdev_channel *ch, struct bdev_io *io)
{
	struct bdev *b = ch->bdev;
	if (write_type(io->type)) {
		/* A lock is counted in nlocks before any reactor is asked for
		 * its in-flight writes (drain_visit, a message: release/acquire),
		 * so once this reactor has been asked, this load sees it and the
		 * write waits; a write that got past before is tracked and the
		 * lock waits for it. Without locks: no mutex on the fast path. */
		if (__atomic_load_n(&b->nlocks, __ATOMIC_ACQUIRE)) {
			bool wait = false;
			pthread_mutex_lock(&b->lock_mtx);
			for (struct bdev_lba_lock *l = b->locks; l && !wait; l = l->next)
				wait = io_hits(io, l);
			pthread_mutex_unlock(&b->lock_mtx);
			if (wait) {
				io->next = NULL;
				if (ch->held_tail)
					ch->held_tail->next = io;
				else
					ch->held_head = io;
				ch->held_tail = io;
				return;
			}
		}
		track(ch, io);
	}
	b->ops->submit(b, ch->modctx, io);
}

static void lock_granted(void *p)
{
	struct bdev_lba_lock *l = p;
	l->done(l->arg);
}

/* On reactor l->visit: wait for this reactor's overlapping writes in
 * flight, if any (untrack() goes on), then ask the next reactor; the last
 * one hands the lock to its owner. */
static void drain_visit(void *p)
{
	struct bdev_lba_lock *l = p;
	/* acquire: pairs with the release that published the channel */
	struct bdev_channel *ch = __atomic_load_n(&l->bdev->channels[l->visit], __ATOMIC_ACQUIRE);
	if (ch && trk_hits(ch, l)) {
		l->park_next = ch->parked;
		ch->parked = l;
		return;
	}
	drain_next(l);
}

static void drain_next(struct bdev_lba_lock *l)
{
	if (++l->visit < reactor_count())
		thread_send_msg(reactor_get(l->visit), drain_visit, l);
	else
		thread_send_msg(l->owner, lock_granted, l);
}

static void drain_start(struct bdev_lba_lock *l)
{
	l->visit = -1;
	drain_next(l);
}

/* lock_mtx held: l holds its range from now on */
static void lock_hold(struct bdev *b, struct bdev_lba_lock *l)
{
	l->next = b->locks;
	b->locks = l;
	__atomic_add_fetch(&b->nlocks, 1, __ATOMIC_SEQ_CST);
}

void bdev_lock_lba_range(struct bdev_channel *ch, struct bdev_lba_lock *l, uint64_t offset, uint64_t num,
			 void (*done)(void *arg), void *arg)
{
	struct bdev *b = ch->bdev;
	l->bdev = b;
	l->offset = offset;
	l->num = num;
	l->owner = thread_self();
	l->visit = -1;
	l->done = done;
	l->arg = arg;
	l->next = l->park_next = NULL;
	pthread_mutex_lock(&b->lock_mtx);
	/* first come, first served: behind any overlapping lock held or
	 * already waiting */
	bool wait = list_overlaps(b->locks, NULL, l) || list_overlaps(b->lock_waiters, NULL, l);
	if (wait) {
		struct bdev_lba_lock **pp = &b->lock_waiters;
		while (*pp)
			pp = &(*pp)->next;
		*pp = l;
	} else {
		lock_hold(b, l);
	}
	pthread_mutex_unlock(&b->lock_mtx);
	if (!wait)
		drain_start(l);
}

/* On each reactor after an unlock: resubmit the writes that waited. */
static void release_held(void *p)
{
	struct bdev *b = p;
	int r = reactor_self_index();
	struct bdev_channel *ch = r < 0 ? NULL : __atomic_load_n(&b->channels[r], __ATOMIC_ACQUIRE);
	if (!ch || !ch->held_head)
		return;
	struct bdev_io *io = ch->held_head;
	ch->held_head = ch->held_tail = NULL;
	while (io) {
		struct bdev_io *next = io->next;
		submit_checked(ch, io);	/* may wait again, behind another lock */
		io = next;
	}
}

void bdev_unlock_lba_range(struct bdev_lba_lock *l)
{
	struct bdev *b = l->bdev;
	struct bdev_lba_lock *start = NULL;
	pthread_mutex_lock(&b->lock_mtx);
	for (struct bdev_lba_lock **pp = &b->locks; *pp; pp = &(*pp)->next) {
		if (*pp == l) {
			*pp = l->next;
			break;
		}
	}
	__atomic_sub_fetch(&b->nlocks, 1, __ATOMIC_SEQ_CST);
	/* waiters in order: each takes its range unless a lock held or a
	 * waiter before it overlaps */
	for (struct bdev_lba_lock **pp = &b->lock_waiters; *pp;) {
		struct bdev_lba_lock *w = *pp;
		if (!list_overlaps(b->locks, NULL, w) && !list_overlaps(b->lock_waiters, w, w)) {
			*pp = w->next;
			lock_hold(b, w);
			w->park_next = start;	/* not parked anywhere yet: a free link */
			start = w;
		} else {
			pp = &w->next;
		}
	}
	pthread_mutex_unlock(&b->lock_mtx);
	while (start) {
		struct bdev_lba_lock *w = start;
		start = w->park_next;
		w->park_next = NULL;
		drain_start(w);
	}
	/* the bdev outlives these messages: its owner keeps its channel (and
	 * the bdev open) until after the unlock, and a consumer's later
	 * messages to these reactors queue behind them */
	for (int r = 0; r < reactor_count(); r++)
		thread_send_msg(reactor_get(r), release_held, b);
}

/* --- submission --- */

static void submit_io(struct bdev_channel *ch, struct bdev_io *io, const struct bdev_lba_lock *l)
{
	struct bdev *b = ch->bdev;
	io->ch = ch;
	io->status = 0;
	io->next = NULL;
	io->lba_lock = l;
	io->tracked = false;
	io->submit_tick = tick_now();
	int rc = check_io(b, io);
	if (rc) {
		bdev_io_complete_deferred(io, rc);
		return;
	}
	submit_checked(ch, io);
}

void bdev_submit(struct bdev_channel *ch, struct bdev_io *io)
{
	submit_io(ch, io, NULL);
}

void bdev_submit_locked(struct bdev_channel *ch, struct bdev_io *io, const struct bdev_lba_lock *l)
{
	submit_io(ch, io, l);
}

void bdev_get_stat(struct bdev *bdev, struct bdev_io_stat *out)
{
	*out = bdev->retired_stat;
	for (int i = 0; i < OSNAP_MAX_REACTORS; i++) {
		/* acquire: pairs with the release that published the channel */
		struct bdev_channel *ch = __atomic_load_n(&bdev->channels[i], __ATOMIC_ACQUIRE);
		if (!ch)
			continue;
		const uint64_t *src = (const uint64_t *)&ch->stat;
		uint64_t *dst = (uint64_t *)out;
		for (size_t k = 0; k < sizeof(*out) / sizeof(uint64_t); k++)
			dst[k] += __atomic_load_n(&src[k], __ATOMIC_RELAXED);
	}
}

/* --- JSON --- */

/* SPDK's bdev_get_bdevs entry (lib/bdev/bdev_rpc.c rpc_dump_bdev_info):
 * the same keys in the same order; no metadata, QoS, zones or memory
 * domains in osnap, so their fields read as SPDK prints them when unset.
 * "claimed_by" is osnap's own (who holds the claim). */
json_t *bdev_info_json(struct bdev *b)
{
	char uuid[37];
	uuid_format16(b->uuid, uuid);
	json_t *io = json_object();
	/* every SPDK I/O type, in SPDK's order; osnap's types where it has them */
	static const struct { const char *key; int type; } map[] = {
		{ "read", BDEV_IO_READ }, { "write", BDEV_IO_WRITE }, { "unmap", BDEV_IO_UNMAP },
		{ "flush", BDEV_IO_FLUSH }, { "reset", -1 }, { "nvme_admin", -1 }, { "nvme_io", -1 },
		{ "nvme_io_md", -1 }, { "write_zeroes", BDEV_IO_WRITE_ZEROES }, { "zcopy", -1 },
		{ "get_zone_info", -1 }, { "zone_management", -1 }, { "zone_append", -1 },
		{ "compare", BDEV_IO_COMPARE }, { "compare_and_write", -2 }, { "abort", -1 },
		{ "seek_hole", -1 }, { "seek_data", -1 }, { "copy", -1 }, { "nvme_iov_md", -1 },
		{ "nvme_nssr", -1 }, { "write_uncorrectable", -1 },
	};
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		bool v;
		if (map[i].type >= 0)
			v = bdev_io_type_supported(b, (enum bdev_io_type)map[i].type);
		else if (map[i].type == -2)	/* compare + write, fused by the consumer */
			v = bdev_io_type_supported(b, BDEV_IO_COMPARE);
		else
			v = false;
		json_object_set_new(io, map[i].key, json_boolean(v));
	}
	json_t *o = json_pack("{s:s, s:[], s:s, s:I, s:I, s:i, s:i, s:i, s:i, s:i, s:s}",
			      "name", b->name, "aliases", "product_name", b->ops->product_name,
			      "block_size", (json_int_t)b->block_size,
			      "num_blocks", (json_int_t)b->num_blocks,
			      "preferred_write_alignment", 0, "preferred_write_granularity", 0,
			      "optimal_write_size", 0, "preferred_unmap_alignment", 0,
			      "preferred_unmap_granularity", 0, "uuid", uuid);
	json_object_set_new(o, "assigned_rate_limits",
			    json_pack("{s:i, s:i, s:i, s:i}", "rw_ios_per_sec", 0, "rw_mbytes_per_sec", 0,
				      "r_mbytes_per_sec", 0, "w_mbytes_per_sec", 0));
	json_object_set_new(o, "claimed", json_boolean(b->claimed_by != NULL));
	if (b->claimed_by) {
		json_object_set_new(o, "claim_type", json_string("exclusive_write"));
		json_object_set_new(o, "claimed_by", json_string(b->claimed_by));
	}
	json_object_set_new(o, "zoned", json_false());
	json_object_set_new(o, "supported_io_types", io);
	json_t *ds = b->ops->driver_specific ? b->ops->driver_specific(b) : NULL;
	json_object_set_new(o, "driver_specific", ds ? ds : json_object());
	return o;
}

void bdev_write_config_all(json_t *config_array)
{
	for (struct bdev *b = g_bdevs; b; b = b->next)
		if (b->ops->write_config)
			b->ops->write_config(b, config_array);
}
