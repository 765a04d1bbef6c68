/* Block-device RPCs: bdev_get_bdevs, bdev_get_iostat, bdev_dbg_io, and the
 * delete helper the modules share. */
#include "bdev_rpc.h"
#include "bdev.h"
#include "core/base64.h"
#include "core/log.h"
#include "core/thread.h"
#include "rpc/rpc.h"
#include "rpc/rpc_decode.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DBG_IO_MAX_BYTES (256u << 10)

struct name_params {
	const char *name;
};

static const struct rpc_param name_decoders[] = {
	RPC_REQ("name", RPC_T_STRING, struct name_params, name),
};

void bdev_rpc_delete(struct rpc_request *req, json_t *params, const char *module)
{
	struct name_params p = { 0 };
	char err[256];

	if (rpc_decode(params, RPC_PARAMS(name_decoders), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	int rc = bdev_unregister(p.name, module, err, sizeof(err));
	if (rc)
		rpc_send_errno(req, rc, "%s", err);
	else
		rpc_send_bool(req, true);
}

/* --- bdev_get_bdevs --- */

struct get_bdevs_params {
	const char *name;
	uint64_t timeout;
};

static const struct rpc_param get_bdevs_decoders[] = {
	RPC_OPT("name", RPC_T_STRING, struct get_bdevs_params, name),
	RPC_OPT("timeout", RPC_T_U64, struct get_bdevs_params, timeout),
};

static void rpc_bdev_get_bdevs(struct rpc_request *req, json_t *params)
{
	struct get_bdevs_params p = { 0 };
	char err[256];

	if (rpc_decode(params, RPC_PARAMS(get_bdevs_decoders), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	json_t *arr = json_array();
	if (p.name) {
		struct bdev *b = bdev_get_by_name(p.name);
		if (!b) {
			json_decref(arr);
			rpc_send_errno(req, -ENODEV, "bdev %s does not exist", p.name);
			return;
		}
		json_array_append_new(arr, bdev_info_json(b));
	} else {
		for (struct bdev *b = bdev_first(); b; b = bdev_next(b))
			json_array_append_new(arr, bdev_info_json(b));
	}
	rpc_send_result(req, arr);
}

/* --- bdev_get_iostat --- */

static json_t *iostat_json(struct bdev *b)
{
	struct bdev_io_stat s;
	bdev_get_stat(b, &s);
	return json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
			 "name", b->name,
			 "bytes_read", (json_int_t)s.bytes_read,
			 "num_read_ops", (json_int_t)s.num_read_ops,
			 "bytes_written", (json_int_t)s.bytes_written,
			 "num_write_ops", (json_int_t)s.num_write_ops,
			 "bytes_unmapped", (json_int_t)s.bytes_unmapped,
			 "num_unmap_ops", (json_int_t)s.num_unmap_ops,
			 "num_flush_ops", (json_int_t)s.num_flush_ops,
			 "num_write_zeroes_ops", (json_int_t)s.num_write_zeroes_ops,
			 "num_compare_ops", (json_int_t)s.num_compare_ops,
			 "read_latency_ticks", (json_int_t)s.read_latency_ns,
			 "write_latency_ticks", (json_int_t)s.write_latency_ns,
			 "unmap_latency_ticks", (json_int_t)s.unmap_latency_ns,
			 "num_io_errors", (json_int_t)s.num_errors);
}

/* SPDK's bdev_wait_for_examine: osnap's bdevs have no examine step (no
 * partition or logical-volume modules claim them on arrival), so every bdev
 * is examined as soon as it exists. */
static void rpc_bdev_wait_for_examine(struct rpc_request *req, json_t *params)
{
	char err[256];
	if (rpc_decode(params, NULL, 0, NULL, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	rpc_send_bool(req, true);
}

static void rpc_bdev_get_iostat(struct rpc_request *req, json_t *params)
{
	struct get_bdevs_params p = { 0 };
	char err[256];

	if (rpc_decode(params, RPC_PARAMS(get_bdevs_decoders), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	json_t *arr = json_array();
	if (p.name) {
		struct bdev *b = bdev_get_by_name(p.name);
		if (!b) {
			json_decref(arr);
			rpc_send_errno(req, -ENODEV, "bdev %s does not exist", p.name);
			return;
		}
		json_array_append_new(arr, iostat_json(b));
	} else {
		for (struct bdev *b = bdev_first(); b; b = bdev_next(b))
			json_array_append_new(arr, iostat_json(b));
	}
	/* ticks are nanoseconds */
	rpc_send_result(req, json_pack("{s:I, s:I, s:o}", "tick_rate", (json_int_t)1000000000,
				       "ticks", (json_int_t)now_ns(), "bdevs", arr));
}

/* --- bdev_dbg_io: one I/O from the control plane, for tests and operators --- */

struct dbg_io_params {
	const char *name;
	const char *op;
	uint64_t offset_blocks;
	uint64_t num_blocks;
	bool has_num_blocks;
	const char *data;
	uint8_t pattern;
	bool fua;
};

static const struct rpc_param dbg_io_decoders[] = {
	RPC_REQ("name", RPC_T_STRING, struct dbg_io_params, name),
	RPC_REQ("op", RPC_T_STRING, struct dbg_io_params, op),
	RPC_OPT("offset_blocks", RPC_T_U64, struct dbg_io_params, offset_blocks),
	RPC_OPT_HAS("num_blocks", RPC_T_U64, struct dbg_io_params, num_blocks, has_num_blocks),
	RPC_OPT("data", RPC_T_STRING, struct dbg_io_params, data),
	RPC_OPT("pattern", RPC_T_U8, struct dbg_io_params, pattern),
	RPC_OPT("fua", RPC_T_BOOL, struct dbg_io_params, fua),
};

/* At most this many bdev_dbg_io are handed to the reactor at once; the rest
 * wait here, in arrival order. Each one in flight takes a slot in the
 * reactor's message ring (start, then release) and one in the main thread's
 * (done): unbounded, a client pipelining thousands of requests filled both
 * rings and the two threads waited for each other forever. */
#define DBG_IO_MAX_INFLIGHT 256u

struct dbg_io {
	struct rpc_request *req;
	struct bdev *bdev;
	struct bdev_channel *ch;
	struct osnap_thread *reactor;
	const char *data;	/* base64 from params (valid until the answer) */
	uint8_t pattern;
	uint8_t *buf;		/* allocated at launch */
	size_t len;
	struct iovec iov;
	int status;
	struct bdev_io *io;
	struct dbg_io *next;	/* wait queue */
};

static unsigned g_dbg_inflight;
static struct dbg_io *g_dbg_wait_head, *g_dbg_wait_tail;

static void dbg_io_free(struct dbg_io *d)
{
	free(d->buf);
	free(d->io);
	free(d);
}

static void dbg_io_launch_waiting(void);

static void dbg_io_done_main(void *arg)
{
	struct dbg_io *d = arg;
	struct bdev_io *io = d->io;

	g_dbg_inflight--;
	bdev_close(d->bdev);
	if (d->status == BDEV_IO_MISCOMPARE) {
		rpc_send_result(d->req, json_pack("{s:b}", "miscompare", true));
	} else if (d->status) {
		rpc_send_errno(d->req, d->status, "%s of %" PRIu64 " blocks at %" PRIu64 " on %s failed: %s",
			       bdev_io_type_name(io->type), io->num_blocks, io->offset_blocks,
			       d->bdev->name, strerror(-d->status));
	} else if (io->type == BDEV_IO_READ) {
		char *txt = malloc(base64_encoded_size(d->len));
		if (!txt) {
			rpc_send_errno(d->req, -ENOMEM, "out of memory");
		} else {
			base64_encode(d->buf, d->len, txt);
			rpc_send_result(d->req, json_pack("{s:s}", "data", txt));
			free(txt);
		}
	} else if (io->type == BDEV_IO_COMPARE) {
		rpc_send_result(d->req, json_pack("{s:b}", "miscompare", false));
	} else {
		rpc_send_bool(d->req, true);
	}
	dbg_io_free(d);
	dbg_io_launch_waiting();
}

/* On the reactor, after the completion callback returned (a channel is never
 * released from inside its own poller). */
static void dbg_io_release(void *arg)
{
	struct dbg_io *d = arg;
	bdev_channel_put(d->ch);
	thread_send_msg(thread_main(), dbg_io_done_main, d);
}

static void dbg_io_cb(struct bdev_io *io, void *arg)
{
	struct dbg_io *d = arg;
	d->status = io->status;
	thread_send_msg(d->reactor, dbg_io_release, d);
}

static void dbg_io_start(void *arg)
{
	struct dbg_io *d = arg;
	d->ch = bdev_channel_get(d->bdev);
	if (!d->ch) {
		d->status = errno ? -errno : -ENOMEM;
		thread_send_msg(thread_main(), dbg_io_done_main, d);
		return;
	}
	bdev_submit(d->ch, d->io);
}

/* Main thread: buffer, data, then off to the reactor. Answers the request
 * itself (and frees d) when that fails. */
static void dbg_io_launch(struct dbg_io *d)
{
	struct bdev_io *io = d->io;

	if (d->len) {
		d->buf = aligned_alloc(4096, (d->len + 4095) & ~(size_t)4095);
		if (!d->buf) {
			bdev_close(d->bdev);
			rpc_send_errno(d->req, -ENOMEM, "out of memory");
			dbg_io_free(d);
			return;
		}
		if (io->type == BDEV_IO_READ) {
			/* never hand out stale heap contents (null reads leave it) */
			memset(d->buf, 0, d->len);
		} else if (d->data) {
			long n = base64_decode(d->data, d->buf, d->len);
			if (n != (long)d->len) {
				bdev_close(d->bdev);
				rpc_send_invalid_params(d->req, "invalid parameter 'data': must be base64 of exactly %zu bytes (num_blocks x block_size)",
							d->len);
				dbg_io_free(d);
				return;
			}
		} else {
			memset(d->buf, d->pattern, d->len);
		}
		d->iov.iov_base = d->buf;
		d->iov.iov_len = d->len;
		io->iov = &d->iov;
		io->iovcnt = 1;
	}
	g_dbg_inflight++;
	thread_send_msg(d->reactor, dbg_io_start, d);
}

static void dbg_io_launch_waiting(void)
{
	while (g_dbg_wait_head && g_dbg_inflight < DBG_IO_MAX_INFLIGHT) {
		struct dbg_io *d = g_dbg_wait_head;
		g_dbg_wait_head = d->next;
		if (!g_dbg_wait_head)
			g_dbg_wait_tail = NULL;
		d->next = NULL;
		dbg_io_launch(d);
	}
}

static void rpc_bdev_dbg_io(struct rpc_request *req, json_t *params)
{
	static const char *const ops[BDEV_IO_NUM_TYPES] = {
		"read", "write", "flush", "unmap", "write_zeroes", "compare",
	};
	struct dbg_io_params p = { .num_blocks = 1 };
	char err[256];
	int type = -1;

	if (rpc_decode(params, RPC_PARAMS(dbg_io_decoders), &p, err, sizeof(err))) {
		rpc_send_invalid_params(req, "%s", err);
		return;
	}
	for (int i = 0; i < BDEV_IO_NUM_TYPES; i++)
		if (!strcmp(p.op, ops[i]))
			type = i;
	if (type < 0) {
		rpc_send_invalid_params(req, "invalid parameter 'op': must be read, write, flush, unmap, write_zeroes or compare");
		return;
	}
	struct bdev *b = bdev_get_by_name(p.name);
	if (!b) {
		rpc_send_errno(req, -ENODEV, "bdev %s does not exist", p.name);
		return;
	}
	if (reactor_count() == 0) {
		rpc_send_errno(req, -EAGAIN, "no reactor is running");
		return;
	}
	if (type == BDEV_IO_FLUSH && !p.has_num_blocks)
		p.num_blocks = 0;
	bool data_op = type == BDEV_IO_READ || type == BDEV_IO_WRITE || type == BDEV_IO_COMPARE;
	size_t len = 0;
	if (data_op) {
		if (p.num_blocks == 0 || p.num_blocks > DBG_IO_MAX_BYTES / b->block_size) {
			rpc_send_invalid_params(req, "invalid parameter 'num_blocks': must be 1..%u for %s",
						DBG_IO_MAX_BYTES / b->block_size, p.name);
			return;
		}
		len = p.num_blocks * b->block_size;
		/* base64 of len bytes is exactly this long (checked in full at launch) */
		if (p.data && type != BDEV_IO_READ &&
		    strlen(p.data) + 1 != base64_encoded_size(len)) {
			rpc_send_invalid_params(req, "invalid parameter 'data': must be base64 of exactly %zu bytes (num_blocks x block_size)",
						len);
			return;
		}
	}
	struct dbg_io *d = calloc(1, sizeof(*d));
	struct bdev_io *io = calloc(1, bdev_io_size(b));
	if (!d || !io) {
		free(d);
		free(io);
		rpc_send_errno(req, -ENOMEM, "out of memory");
		return;
	}
	d->req = req;
	d->bdev = b;
	d->len = len;
	d->io = io;
	d->data = type == BDEV_IO_WRITE || type == BDEV_IO_COMPARE ? p.data : NULL;
	d->pattern = p.pattern;
	d->reactor = reactor_get(0);
	io->type = (uint8_t)type;
	io->fua = p.fua;
	io->offset_blocks = p.offset_blocks;
	io->num_blocks = p.num_blocks;
	io->cb = dbg_io_cb;
	io->cb_arg = d;
	bdev_open(b);	/* held while waiting too: the bdev cannot go away */
	if (g_dbg_inflight < DBG_IO_MAX_INFLIGHT && !g_dbg_wait_head) {
		dbg_io_launch(d);
	} else {
		if (g_dbg_wait_tail)
			g_dbg_wait_tail->next = d;
		else
			g_dbg_wait_head = d;
		g_dbg_wait_tail = d;
	}
}

static const struct rpc_method bdev_methods[] = {
	{ "bdev_get_bdevs", rpc_bdev_get_bdevs, RPC_RUNTIME },
	{ "bdev_get_iostat", rpc_bdev_get_iostat, RPC_RUNTIME },
	{ "bdev_wait_for_examine", rpc_bdev_wait_for_examine, RPC_RUNTIME },
	{ "bdev_dbg_io", rpc_bdev_dbg_io, RPC_RUNTIME },
};

void bdev_rpc_register(void)
{
	rpc_register_table(RPC_PARAMS(bdev_methods));
}
