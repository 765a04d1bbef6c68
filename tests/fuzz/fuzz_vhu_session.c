/* libFuzzer target: a whole vhost-user session against the real
 * virtio-blk controller.
 *
 * The service runs on the fuzzer's thread (main event loop, two inline
 * reactors): a front end connects to the controller's real vhost-user
 * socket and sends what the input says; one input always does the same
 * thing, so a crash reproduces from it. Each input gets a new malloc bdev
 * and controller (the first input byte picks its options) and a new guest
 * memory image (a memfd of IMG bytes: guest address GPA + x, front-end
 * address UA + x when mapped the usual way); after the last operation the
 * front end hangs up and everything is torn down, so inputs are
 * independent. A service that stops reading its front end, never settles,
 * or keeps running queues or memory after the front end left is a finding
 * too.
 *
 * Input: a configuration byte, then operations, each an opcode byte and
 * its arguments (see the OP_* list; tests/fuzz/session_seeds.py writes the
 * seed corpus). Opcode bit 7 leaves the service unrun after the operation
 * (OP_STEP then runs one piece of it at a time), otherwise the service
 * runs until it is idle.
 *
 * Guest memory layout of the helpers (the fuzzer may put rings anywhere):
 * ring q at 0x4000 * q (descriptors, then the available ring at +0x1000,
 * the used ring at +0x2000), request headers and status bytes from HDRS,
 * indirect tables from IND, data from DATA. */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "bdev/modules/modules.h"
#include "core/thread.h"
#include "emu/emu_internal.h"
#include "fuzz_session.h"
#include "virtio_blk/vblk_internal.h"
#include "emu/vhost_user/vhu_conn.h"
#include "emu/virtio_inflight.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GPA 0x100000ull
#define UA 0x7f0000000000ull	/* where the front end "has" its memory */
#define IMG (1u << 20)
#define HDRS 0x10000u		/* 256 slots of 32 bytes: header, then status */
#define IND 0x12000u		/* 32 indirect tables of 16 descriptors */
#define DATA 0x20000u		/* 64 KiB windows */
#define NQ 4
#define QSIZE 256u
#define MAX_OPS 256

enum {
	OP_GET,			/* GET_FEATURES, GET_PROTOCOL_FEATURES, ... */
	OP_SET_FEATURES,
	OP_SET_PROTOCOL,
	OP_MEM_TABLE,
	OP_ADD_REG,
	OP_REM_REG,
	OP_VRING_NUM,
	OP_VRING_ADDR,
	OP_VRING_BASE,
	OP_GET_BASE,
	OP_KICK_FD,
	OP_CALL_FD,
	OP_ERR_FD,
	OP_ENABLE,
	OP_CONFIG,		/* GET_CONFIG, SET_CONFIG */
	OP_INFLIGHT,		/* GET_INFLIGHT_FD, SET_INFLIGHT_FD */
	OP_RESET,		/* RESET_DEVICE, RESET_OWNER */
	OP_STATUS,		/* SET_STATUS, GET_STATUS */
	OP_RAW,			/* any bytes as a message */
	OP_IMAGE,		/* the front end writes its memory */
	OP_REQUEST,		/* a virtio-blk request into a ring */
	OP_KICK,		/* the kick eventfd of a ring */
	OP_REAP,		/* the front end reads a used ring */
	OP_BRINGUP,		/* what QEMU does: features, memory, rings */
	OP_RECONNECT,		/* hang up and connect again */
	OP_TRUNCATE,		/* the front end shrinks its memory file */
	OP_STEP,		/* one piece of the service (see fz_step) */
	OP_RPC,			/* what an operator does meanwhile: suspend, resume, bdev */
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"GET", "SET_FEATURES", "SET_PROTOCOL", "MEM_TABLE", "ADD_REG", "REM_REG", "VRING_NUM",
	"VRING_ADDR", "VRING_BASE", "GET_BASE", "KICK_FD", "CALL_FD", "ERR_FD", "ENABLE", "CONFIG",
	"INFLIGHT", "RESET", "STATUS", "RAW", "IMAGE", "REQUEST", "KICK", "REAP", "BRINGUP",
	"RECONNECT", "TRUNCATE", "STEP", "RPC",
};

static struct emu_function *g_fn;
static const struct fz_ops g_ops;
static struct fz_session g_s = { .ops = &g_ops, .cl = { .fd = -1 }, .img = { .fd = -1 } };

/* per input */
static struct vblk_ctrl *g_ctrl;
static bool g_need_reply;	/* REPLY_ACK negotiated by the helpers: ask for acks */
static struct {
	uint32_t num;		/* ring size the helpers index with */
	uint16_t next_desc, avail_idx, last_used;
	int kick;		/* our copy of the kick eventfd, -1: none */
} g_q[NQ];
static uint32_t g_req_no;

static uint64_t ring_off(int q)
{
	return 0x4000ull * (uint64_t)q;
}

/* The front end's writes to its own memory (fz_image_ptr). */
static uint8_t *img(void)
{
	return fz_image_ptr(&g_s.img);
}

static void queues_forget(struct fz_session *s)
{
	(void)s;
	for (int q = 0; q < NQ; q++) {
		if (g_q[q].kick >= 0)
			close(g_q[q].kick);
		g_q[q].kick = -1;
		g_q[q].num = QSIZE;
		g_q[q].next_desc = g_q[q].avail_idx = g_q[q].last_used = 0;
	}
}

/* --- messages --- */

static void send_msg(uint32_t req, bool need_reply, const void *payload, size_t plen, const int *fds,
		     int nfds)
{
	uint8_t m[sizeof(struct vhu_hdr) + 4096];
	struct vhu_hdr h = { req, VHU_VERSION | (need_reply ? VHU_FLAG_NEED_REPLY : 0), (uint32_t)plen };
	if (plen > 4096)
		fz_fail("message helper: %zu bytes", plen);
	memcpy(m, &h, sizeof(h));
	if (plen)
		memcpy(m + sizeof(h), payload, plen);
	fz_send(&g_s.cl, m, sizeof(h) + plen, fds, nfds);
}

static void send_u64(uint32_t req, uint64_t v)
{
	send_msg(req, g_need_reply, &v, 8, NULL, 0);
}

static void send_state(uint32_t req, uint32_t index, uint32_t num)
{
	struct vhu_vring_state s = { index, num };
	send_msg(req, g_need_reply, &s, sizeof(s), NULL, 0);
}

/* An fd of kind: 0 an eventfd (its copy in *keep when not NULL), 1 none,
 * 2.. odd fds. Returns the fd to send (-1: none). */
static int make_fd(uint8_t kind, int *keep)
{
	if (kind == 0) {
		int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (fd < 0)
			fz_fail("eventfd: %s", strerror(errno));
		if (keep) {
			*keep = dup(fd);
		}
		return fd;
	}
	return kind == 1 ? -1 : fz_odd_fd((uint8_t)(kind - 2));
}

static void vring_fd(uint32_t req, uint8_t q, uint8_t kind)
{
	uint64_t v = q;
	int keep = -1;
	int fd = make_fd(kind % 8, req == VHU_SET_VRING_KICK ? &keep : NULL);
	if (fd < 0)
		v |= VHU_VRING_NOFD;
	send_msg(req, g_need_reply, &v, 8, &fd, fd >= 0);
	if (fd >= 0)
		close(fd);
	if (keep >= 0) {
		int i = q % NQ;
		if (g_q[i].kick >= 0)
			close(g_q[i].kick);
		g_q[i].kick = keep;
	}
}

static void vring_addr(int q)
{
	struct vhu_vring_addr a = { .index = (uint32_t)q, .desc = UA + ring_off(q),
				    .avail = UA + ring_off(q) + 0x1000, .used = UA + ring_off(q) + 0x2000 };
	send_msg(VHU_SET_VRING_ADDR, g_need_reply, &a, sizeof(a), NULL, 0);
}

/* SET_MEM_TABLE. flags: bits 0-2 regions - 1 (the image in that many
 * equal pieces, each from its own fd at its offset), bit 3 a gap between
 * guest ranges, bits 4-6 fd kind of the last region (0 the image, 1.. odd
 * fds), bit 7 a fuzzed region. */
static void op_mem_table(struct fz_input *in)
{
	uint8_t flags = fz_u8(in);
	uint8_t n = (uint8_t)((flags & 7) + 1);
	struct vhu_mem_table t = { .nregions = n };
	int fds[VHU_MAX_REGIONS];
	uint64_t piece = IMG / n & ~(uint64_t)(FZ_PAGE - 1);
	for (int i = 0; i < n; i++) {
		uint64_t off = piece * (uint64_t)i, gap = (flags & 8) ? (uint64_t)i * 0x100000 : 0;
		t.regions[i] = (struct vhu_mem_region){ GPA + off + gap, piece, UA + off, off };
		fds[i] = dup(g_s.img.fd);
	}
	uint8_t kind = (flags >> 4) & 7;
	if (kind) {
		close(fds[n - 1]);
		fds[n - 1] = fz_odd_fd((uint8_t)(kind - 1));
	}
	if (flags & 0x80) {
		struct vhu_mem_region *r = &t.regions[fz_u8(in) % n];
		r->guest_addr = fz_u64(in);
		r->size = fz_u64(in);
		r->user_addr = fz_u64(in);
		r->mmap_offset = fz_u64(in);
	}
	send_msg(VHU_SET_MEM_TABLE, g_need_reply, &t, 8 + n * sizeof(t.regions[0]), fds, n);
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

/* ADD_MEM_REG / REM_MEM_REG of image pages [pg, pg + np]. flags: bit 0
 * no fd (ADD), bits 1-3 odd fd kinds. */
static void op_mem_reg(uint32_t req, struct fz_input *in)
{
	uint8_t flags = fz_u8(in), pg = fz_u8(in), np = fz_u8(in);
	struct vhu_mem_single m = { 0 };
	uint64_t off = (uint64_t)pg * FZ_PAGE;
	m.region = (struct vhu_mem_region){ GPA + off, ((uint64_t)np + 1) * FZ_PAGE, UA + off, off };
	int fd = -1;
	if (req == VHU_ADD_MEM_REG && !(flags & 1))
		fd = (flags & 0xe) ? fz_odd_fd((uint8_t)((flags >> 1) & 7)) : dup(g_s.img.fd);
	send_msg(req, g_need_reply, &m, sizeof(m), &fd, fd >= 0);
	if (fd >= 0)
		close(fd);
}

static void op_get(uint8_t sel)
{
	static const uint32_t reqs[] = { VHU_GET_FEATURES, VHU_GET_PROTOCOL_FEATURES, VHU_GET_QUEUE_NUM,
					 VHU_GET_MAX_MEM_SLOTS, VHU_GET_STATUS, VHU_SET_OWNER,
					 VHU_SET_LOG_BASE, VHU_SET_LOG_FD };
	send_msg(reqs[sel % 8], g_need_reply, NULL, 0, NULL, 0);
}

static void op_config(struct fz_input *in)
{
	uint8_t sel = fz_u8(in), off = fz_u8(in), size = fz_u8(in);
	uint8_t p[sizeof(struct vhu_config) + 256];
	struct vhu_config c = { .offset = off, .size = size };
	memcpy(p, &c, sizeof(c));
	memset(p + sizeof(c), 0, size);
	if (sel & 2)
		fz_bytes(in, p + sizeof(c), size);
	send_msg((sel & 1) ? VHU_SET_CONFIG : VHU_GET_CONFIG, g_need_reply, p, sizeof(c) + size, NULL, 0);
}

/* A region as a killed predecessor left it (SET_INFLIGHT_FD of a restarted
 * back end): nq queues of qs descriptors, each slice's header and some
 * marks, counters and batch links from the input. Its description in *f. */
static int predecessor_region(struct fz_input *in, struct vhu_inflight *f)
{
	uint16_t nq = (uint16_t)(1 + fz_u8(in) % NQ), qs = (uint16_t)(1u << (fz_u8(in) % 9));
	uint64_t per = vinfl_queue_bytes(qs);
	uint64_t size = (nq * per + FZ_PAGE - 1) & ~(uint64_t)(FZ_PAGE - 1);
	int fd = memfd_create("fuzz-inflight", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size))
		fz_fail("inflight memfd: %s", strerror(errno));
	uint8_t *m = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (m == MAP_FAILED)
		fz_fail("inflight mmap: %s", strerror(errno));
	for (uint16_t q = 0; q < nq; q++) {
		struct vinfl_split *s = (struct vinfl_split *)(m + q * per);
		uint8_t hs = fz_u8(in);
		s->version = (hs & 1) ? VINFL_VERSION : fz_u16(in);
		s->desc_num = (hs & 2) ? qs : fz_u16(in);
		s->last_batch_head = fz_u16(in);
		s->used_idx = fz_u16(in);
		for (uint8_t k = 0, n = fz_u8(in) % 8; k < n; k++) {
			struct vinfl_desc *d = &s->desc[fz_u16(in) % qs];
			d->inflight = fz_u8(in) % 3;
			d->next = fz_u16(in);
			d->counter = fz_u8(in);
		}
	}
	munmap(m, size);
	*f = (struct vhu_inflight){ .mmap_size = size, .num_queues = nq, .queue_size = qs };
	return fd;
}

static void op_inflight(struct fz_input *in)
{
	uint8_t sel = fz_u8(in), nq = fz_u8(in);
	uint16_t qs = fz_u16(in);
	struct vhu_inflight f = { .mmap_size = 4096, .num_queues = nq, .queue_size = qs };
	if (!(sel & 1)) {
		send_msg(VHU_GET_INFLIGHT_FD, false, &f, sizeof(f), NULL, 0);
		return;
	}
	int fd = (sel & 0x80) ? predecessor_region(in, &f) : make_fd((uint8_t)(sel >> 1) % 8, NULL);
	send_msg(VHU_SET_INFLIGHT_FD, g_need_reply, &f, sizeof(f), &fd, fd >= 0);
	if (fd >= 0)
		close(fd);
}

/* --- requests --- */

static struct vring_desc *desc_at(int q, uint16_t i)
{
	return (struct vring_desc *)(img() + ring_off(q)) + (i % g_q[q].num);
}

/* A request on ring q. flags: bit 0 publish it (avail ring), bit 1 kick,
 * bit 2 through an indirect table, bit 3 sane discard / write zeroes
 * segments, bit 4 the first data segment in the header's descriptor. */
static void op_request(struct fz_input *in)
{
	int q = fz_u8(in) % NQ;
	uint8_t flags = fz_u8(in);
	uint32_t type = fz_u32(in);
	uint64_t sector = fz_u64(in);
	uint8_t nseg = fz_u8(in) % 9;
	uint16_t seglen = fz_u16(in);
	uint32_t slot = g_req_no % 256, win = g_req_no % ((IMG - DATA) / 0x10000);
	g_req_no++;
	if ((uint32_t)nseg * seglen > 0x10000)
		seglen = (uint16_t)(0x10000 / (nseg ? nseg : 1));

	uint64_t hdr_off = HDRS + slot * 32, data_off = DATA + win * 0x10000ull;
	struct virtio_blk_req_hdr h = { .type = type, .sector = sector };
	memcpy(img() + hdr_off, &h, sizeof(h));
	bool dev_writes = type == VIRTIO_BLK_T_IN || type == VIRTIO_BLK_T_GET_ID ||
			  type == VIRTIO_BLK_T_GET_LIFETIME;
	if ((flags & 8) && (type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES)) {
		for (uint32_t i = 0; i * 16 + 16 <= (uint32_t)nseg * seglen; i++) {
			struct virtio_blk_discard_wz d = { (sector + i * 8) % 2048, 8, i & 1 };
			memcpy(img() + data_off + i * 16, &d, sizeof(d));
		}
	}
	/* the chain: header, segments, status byte */
	struct vring_desc chain[16];
	int n = 0;
	chain[n++] = (struct vring_desc){ GPA + hdr_off, sizeof(h), 0, 0 };
	for (int i = 0; i < nseg; i++)
		chain[n++] = (struct vring_desc){ GPA + data_off + (uint64_t)i * seglen, seglen,
						  dev_writes ? VRING_DESC_F_WRITE : 0, 0 };
	if ((flags & 0x10) && nseg) {
		chain[0].len += chain[1].len;	/* QEMU may merge the header and data */
		memmove(&chain[1], &chain[2], (size_t)(n - 2) * sizeof(chain[0]));
		n--;
	}
	chain[n++] = (struct vring_desc){ GPA + hdr_off + 16, 1, VRING_DESC_F_WRITE, 0 };

	uint16_t head = g_q[q].next_desc;
	if (flags & 4) {
		uint64_t t_off = IND + (g_req_no % 32) * 0x100;
		for (int i = 0; i < n; i++) {
			chain[i].flags |= i + 1 < n ? VRING_DESC_F_NEXT : 0;
			chain[i].next = (uint16_t)(i + 1);
		}
		memcpy(img() + t_off, chain, (size_t)n * sizeof(chain[0]));
		*desc_at(q, head) = (struct vring_desc){ GPA + t_off, (uint32_t)n * 16, VRING_DESC_F_INDIRECT, 0 };
		g_q[q].next_desc = (uint16_t)(head + 1);
	} else {
		for (int i = 0; i < n; i++) {
			uint16_t d = (uint16_t)((head + i) % g_q[q].num);
			chain[i].flags |= i + 1 < n ? VRING_DESC_F_NEXT : 0;
			chain[i].next = (uint16_t)((d + 1) % g_q[q].num);
			*desc_at(q, d) = chain[i];
		}
		g_q[q].next_desc = (uint16_t)((head + n) % g_q[q].num);
	}
	if (flags & 1) {
		struct vring_avail *a = (void *)(img() + ring_off(q) + 0x1000);
		a->ring[g_q[q].avail_idx % g_q[q].num] = (uint16_t)(head % g_q[q].num);
		/* the entry before the index, as a driver's write barrier orders it */
		__atomic_store_n(&a->idx, ++g_q[q].avail_idx, __ATOMIC_RELEASE);
	}
	if ((flags & 2) && g_q[q].kick >= 0) {
		uint64_t one = 1;
		if (write(g_q[q].kick, &one, sizeof(one)) < 0)
			fz_fail("kick: %s", strerror(errno));
	}
}

/* The front end takes what the device used and says how far it read
 * (used_event, honoured with EVENT_IDX). */
static void reap(int q)
{
	uint8_t *r = img() + ring_off(q);
	const struct vring_used *u = (const void *)(r + 0x2000);
	uint16_t idx = __atomic_load_n(&u->idx, __ATOMIC_ACQUIRE);
	while (g_q[q].last_used != idx) {
		if (fz_trace()) {
			const struct vring_used_elem *e = &u->ring[g_q[q].last_used % g_q[q].num];
			fprintf(stderr, "client: ring %d: used id %u len %u\n", q, e->id, e->len);
		}
		g_q[q].last_used++;
	}
	struct vring_avail *a = (void *)(r + 0x1000);
	a->ring[g_q[q].num] = g_q[q].last_used;	/* used_event */
}

static void op_reap(uint8_t sel)
{
	if (sel >= 0x80) {
		for (int q = 0; q < NQ; q++)
			reap(q);
	} else {
		reap(sel % NQ);
	}
}

/* What QEMU does for a vhost-user-blk device. flags: bit 0 protocol
 * features (REPLY_ACK and the rest), bit 1 EVENT_IDX, bit 2 indirect
 * descriptors, bit 3 the memory table, bit 4 no call fds, bit 5 IN_ORDER,
 * bit 6 DISCARD and WRITE_ZEROES. nq: rings to start. */
static void op_bringup(struct fz_input *in)
{
	uint8_t flags = fz_u8(in), nq = (uint8_t)(fz_u8(in) % (NQ + 1));
	uint64_t offered = vblk_ctrl_features(g_ctrl);
	uint64_t want = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_BLK_F_SIZE_MAX) | BIT(VIRTIO_BLK_F_SEG_MAX) |
			BIT(VIRTIO_BLK_F_BLK_SIZE) | BIT(VIRTIO_BLK_F_FLUSH) | BIT(VIRTIO_BLK_F_MQ) |
			BIT(VIRTIO_BLK_F_RO) | BIT(VIRTIO_BLK_F_TOPOLOGY);
	if (flags & 2)
		want |= BIT(VIRTIO_F_RING_EVENT_IDX);
	if (flags & 4)
		want |= BIT(VIRTIO_F_RING_INDIRECT_DESC);
	if (flags & 0x20)
		want |= BIT(VIRTIO_F_IN_ORDER);
	if (flags & 0x40)
		want |= BIT(VIRTIO_BLK_F_DISCARD) | BIT(VIRTIO_BLK_F_WRITE_ZEROES);
	send_msg(VHU_GET_FEATURES, false, NULL, 0, NULL, 0);
	if (flags & 1) {
		send_msg(VHU_GET_PROTOCOL_FEATURES, false, NULL, 0, NULL, 0);
		uint64_t pf = (1ull << VHU_PF_MQ) | (1ull << VHU_PF_REPLY_ACK) | (1ull << VHU_PF_CONFIG) |
			      (1ull << VHU_PF_INFLIGHT_SHMFD) | (1ull << VHU_PF_RESET_DEVICE) |
			      (1ull << VHU_PF_CONFIGURE_MEM_SLOTS);
		send_msg(VHU_SET_PROTOCOL_FEATURES, false, &pf, 8, NULL, 0);
		g_need_reply = true;
	}
	send_msg(VHU_SET_OWNER, g_need_reply, NULL, 0, NULL, 0);
	send_u64(VHU_SET_FEATURES, (offered & want) | ((flags & 1) ? 1ull << VHU_F_PROTOCOL_FEATURES : 0));
	if (flags & 8) {
		struct vhu_mem_table t = { .nregions = 1 };
		t.regions[0] = (struct vhu_mem_region){ GPA, IMG, UA, 0 };
		int fd = dup(g_s.img.fd);
		send_msg(VHU_SET_MEM_TABLE, g_need_reply, &t, 8 + sizeof(t.regions[0]), &fd, 1);
		close(fd);
	}
	memset(img(), 0, HDRS);	/* fresh rings */
	for (int q = 0; q < nq; q++) {
		g_q[q].num = QSIZE;
		g_q[q].next_desc = g_q[q].avail_idx = g_q[q].last_used = 0;
		send_state(VHU_SET_VRING_NUM, (uint32_t)q, QSIZE);
		vring_addr(q);
		send_state(VHU_SET_VRING_BASE, (uint32_t)q, 0);
		if (!(flags & 0x10))
			vring_fd(VHU_SET_VRING_CALL, (uint8_t)q, 0);
		vring_fd(VHU_SET_VRING_KICK, (uint8_t)q, 0);
		if (flags & 1)
			send_state(VHU_SET_VRING_ENABLE, (uint32_t)q, 1);
	}
}

/* The operator's RPCs on the controller: suspend, resume, detach the bdev,
 * attach it again. */
static void op_rpc(uint8_t sel)
{
	char err[256];
	switch (sel % 4) {
	case 0:
		g_s.rpcs++;
		vblk_ctrl_suspend(g_ctrl, fz_rpc_done, &g_s);
		break;
	case 1:
		vblk_ctrl_resume(g_ctrl, err, sizeof(err));
		break;
	case 2:
		g_s.rpcs++;
		vblk_ctrl_bdev_detach(g_ctrl, fz_rpc_done, &g_s);
		break;
	default:
		vblk_ctrl_bdev_attach(g_ctrl, "fz", NULL, err, sizeof(err));
		break;
	}
}

static void connected(struct fz_session *s)
{
	(void)s;
	g_need_reply = false;
}

static void check_gone(struct fz_session *s)
{
	(void)s;
	for (uint32_t i = 0; i < vblk_ctrl_num_queues(g_ctrl); i++)
		if (vblk_ctrl_queue_running(g_ctrl, (uint16_t)i))
			fz_fail("queue %u still runs after its front end hung up", i);
	if (emu_mem_count(g_fn))
		fz_fail("%d memory regions left after the front end hung up", emu_mem_count(g_fn));
}

/* --- per input --- */

static void setup_once(void)
{
	struct emu_config cfg;
	emu_config_defaults(&cfg);
	cfg.nvme_enable = false;
	cfg.vblk_transport = EMU_VBLK_VHOST_USER;
	g_fn = fz_emu_start(&g_s, 2, &cfg, EMU_TYPE_VBLK);
	for (int q = 0; q < NQ; q++)
		g_q[q].kick = -1;
}

/* cfg: bit 0 force IN_ORDER, bit 1 read-only, bit 2 no indirect
 * descriptors, bit 3 a 4096-byte block size. */
static void input_begin(uint8_t cfg)
{
	char err[256];
	if (bdev_malloc_create("fz", (cfg & 8) ? 256 : 2048, (cfg & 8) ? 4096 : 512, NULL, err, sizeof(err)))
		fz_fail("bdev: %s", err);
	struct vblk_params p = { .fn = g_fn, .bdev = "fz", .num_queues = NQ, .queue_size = QSIZE,
				 .size_max = 65536, .seg_max = 32, .force_in_order = cfg & 1,
				 .read_only = cfg & 2, .indirect_desc = !(cfg & 4) };
	if (vblk_ctrl_create(&p, &g_ctrl, err, sizeof(err)))
		fz_fail("controller: %s", err);
	g_req_no = 0;
	queues_forget(&g_s);
	fz_session_begin(&g_s, IMG);
}

static void input_end(void)
{
	char err[256];
	int done = 0;
	fz_session_end(&g_s);
	vblk_ctrl_destroy(g_ctrl, true, fz_set_done, &done);
	fz_wait_done(&done, "controller destroy");
	g_ctrl = NULL;
	if (bdev_unregister("fz", NULL, err, sizeof(err)))
		fz_fail("teardown: %s", err);
	fz_settle();
	fz_session_release(&g_s);
}

/* The operations of this target (fz_session_run does the shared ones). */
static void run_op(struct fz_session *s, int kind, struct fz_input *in)
{
	(void)s;
	switch (kind) {
	case OP_GET: op_get(fz_u8(in)); break;
	case OP_SET_FEATURES: {
		uint8_t f = fz_u8(in);
		uint64_t v = fz_u64(in);
		if (f & 1)	/* only what is offered, as a well-behaved driver */
			v &= vblk_ctrl_features(g_ctrl) | 1ull << VHU_F_PROTOCOL_FEATURES;
		send_msg(VHU_SET_FEATURES, f & 2, &v, 8, NULL, 0);
		break;
	}
	case OP_SET_PROTOCOL: {
		uint8_t f = fz_u8(in);
		uint64_t v = fz_u64(in);
		send_msg(VHU_SET_PROTOCOL_FEATURES, f & 2, &v, 8, NULL, 0);
		g_need_reply = f & 4;
		break;
	}
	case OP_MEM_TABLE: op_mem_table(in); break;
	case OP_ADD_REG: op_mem_reg(VHU_ADD_MEM_REG, in); break;
	case OP_REM_REG: op_mem_reg(VHU_REM_MEM_REG, in); break;
	case OP_VRING_NUM: {
		uint8_t q = fz_u8(in);
		uint32_t num = fz_u32(in);
		if (q < NQ && num && num <= QSIZE && !(num & (num - 1)))
			g_q[q].num = num;	/* the helpers index the ring it will have */
		send_state(VHU_SET_VRING_NUM, q, num);
		break;
	}
	case OP_VRING_ADDR: {
		uint8_t q = fz_u8(in);
		if (q & 0x80) {
			struct vhu_vring_addr a = { .index = q & 0x7f, .flags = fz_u32(in) };
			a.desc = fz_u64(in);
			a.used = fz_u64(in);
			a.avail = fz_u64(in);
			send_msg(VHU_SET_VRING_ADDR, g_need_reply, &a, sizeof(a), NULL, 0);
		} else {
			vring_addr(q % NQ);
		}
		break;
	}
	case OP_VRING_BASE: {
		uint8_t q = fz_u8(in);
		send_state(VHU_SET_VRING_BASE, q, fz_u32(in));
		break;
	}
	case OP_GET_BASE: send_state(VHU_GET_VRING_BASE, fz_u8(in), 0); break;
	case OP_KICK_FD: {
		uint8_t q = fz_u8(in);
		vring_fd(VHU_SET_VRING_KICK, q, fz_u8(in));
		break;
	}
	case OP_CALL_FD: {
		uint8_t q = fz_u8(in);
		vring_fd(VHU_SET_VRING_CALL, q, fz_u8(in));
		break;
	}
	case OP_ERR_FD: {
		uint8_t q = fz_u8(in);
		vring_fd(VHU_SET_VRING_ERR, q, fz_u8(in));
		break;
	}
	case OP_ENABLE: {
		uint8_t q = fz_u8(in);
		send_state(VHU_SET_VRING_ENABLE, q, fz_u8(in));
		break;
	}
	case OP_CONFIG: op_config(in); break;
	case OP_INFLIGHT: op_inflight(in); break;
	case OP_RESET:
		send_msg((fz_u8(in) & 1) ? VHU_RESET_OWNER : VHU_RESET_DEVICE, g_need_reply, NULL, 0, NULL, 0);
		break;
	case OP_STATUS: {
		uint8_t sel = fz_u8(in);
		uint64_t v = fz_u32(in);
		if (sel & 1)
			send_msg(VHU_GET_STATUS, false, NULL, 0, NULL, 0);
		else
			send_msg(VHU_SET_STATUS, g_need_reply, &v, 8, NULL, 0);
		break;
	}
	case OP_REQUEST: op_request(in); break;
	case OP_KICK: {
		int q = fz_u8(in) % NQ;
		uint64_t one = 1;
		if (g_q[q].kick >= 0 && write(g_q[q].kick, &one, sizeof(one)) < 0)
			fz_fail("kick: %s", strerror(errno));
		break;
	}
	case OP_REAP: op_reap(fz_u8(in)); break;
	case OP_BRINGUP: op_bringup(in); break;
	case OP_RPC: op_rpc(fz_u8(in)); break;
	}
}

static const struct fz_ops g_ops = {
	.op_names = op_names, .nops = OP_COUNT, .op_raw = OP_RAW, .op_image = OP_IMAGE,
	.op_reconnect = OP_RECONNECT, .op_truncate = OP_TRUNCATE, .op_step = OP_STEP,
	.raw_size_off = offsetof(struct vhu_hdr, size), .raw_hdr_len = sizeof(struct vhu_hdr),
	.raw_size_counts_hdr = false, .op = run_op, .connected = connected, .forget = queues_forget,
	.check_gone = check_gone,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_input in = { data, size };
	if (!g_fn)
		setup_once();
	input_begin(fz_u8(&in));
	fz_session_run(&g_s, &in, MAX_OPS);
	input_end();
	return 0;
}
