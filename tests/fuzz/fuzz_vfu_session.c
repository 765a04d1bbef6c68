/* libFuzzer target: a whole vfio-user session against the real NVMe
 * controller.
 *
 * The service runs on the fuzzer's thread (main event loop, two inline
 * reactors): a client connects to the NVMe function's real endpoint
 * socket and sends what the input says; one input always does the same
 * thing, so a crash reproduces from it. Each input gets a new malloc
 * bdev, subsystem, namespace and controller and a new guest memory image
 * (a memfd of IMG bytes, at GPA when mapped the usual way); after the last
 * operation the client hangs up and everything is torn down, so inputs are
 * independent. A service that stops reading its client, never settles, or
 * keeps memory or a client after the teardown is a finding too.
 *
 * Input: operations, each an opcode byte and its arguments (see the OP_*
 * list; tests/fuzz/session_seeds.py writes the seed corpus). Opcode bit 7
 * leaves the service unrun after the operation (messages pile up in the
 * socket; OP_STEP then runs one piece of the service at a time), otherwise
 * the service runs until it is idle.
 *
 * Guest memory layout of the helpers (the fuzzer may put rings anywhere):
 * admin SQ at 0x0000, admin CQ at 0x1000, I/O SQ q at 0x2000 * q, I/O CQ q
 * at 0x2000 * q + 0x1000 (q = 1..NQ), 64 entries each; data from DATA. */
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
#include "emu/vfio_user/vfu_proto.h"
#include "fuzz_session.h"
#include "nvme/nvme_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GPA 0x100000ull
#define IMG (1u << 20)
#define DATA 0x10000u
#define NQ 4			/* I/O queue pairs the helpers know */
#define QENTRIES 64u
#define NVECS 8
#define MAX_OPS 256

enum {
	OP_VERSION,
	OP_DMA_MAP,
	OP_DMA_UNMAP,
	OP_REGION_WRITE,
	OP_REGION_READ,
	OP_REG,			/* an NVMe register (region 0) */
	OP_DOORBELL,
	OP_SET_IRQS,
	OP_RESET,
	OP_INFO,		/* DEVICE_GET_INFO, GET_REGION_INFO, GET_IRQ_INFO */
	OP_WRITE_MULTI,
	OP_RAW,			/* any bytes as a message */
	OP_IMAGE,		/* the client writes its memory */
	OP_ADMIN,		/* an admin SQE into the admin SQ, doorbell */
	OP_IO,			/* an SQE into I/O SQ q, doorbell */
	OP_CONSUME,		/* the client reaps a CQ and writes its head doorbell */
	OP_BRINGUP,		/* what a driver does: map, enable, create I/O queues */
	OP_CONFIG,		/* config space: command, MSI-X control, FLR */
	OP_RECONNECT,		/* hang up and connect again */
	OP_TRUNCATE,		/* the client shrinks its memory file */
	OP_STEP,		/* one piece of the service (see fz_step) */
	OP_RPC,			/* what an operator does meanwhile: suspend, resume, ns */
	OP_COUNT
};

static const char *const op_names[OP_COUNT] = {
	"VERSION", "DMA_MAP", "DMA_UNMAP", "REGION_WRITE", "REGION_READ", "REG", "DOORBELL",
	"SET_IRQS", "RESET", "INFO", "WRITE_MULTI", "RAW", "IMAGE", "ADMIN", "IO", "CONSUME",
	"BRINGUP", "CONFIG", "RECONNECT", "TRUNCATE", "STEP", "RPC",
};

static struct emu_function *g_fn;
static const struct fz_ops g_ops;
static struct fz_session g_s = { .ops = &g_ops, .cl = { .fd = -1 }, .img = { .fd = -1 } };

/* per input */
static struct nvme_ctrl *g_ctrl;
static uint16_t g_msg_id;
static uint32_t g_sq_tail[NQ + 1], g_cq_head[NQ + 1];
static bool g_cq_phase[NQ + 1];
static uint16_t g_cid;

static uint64_t sq_off(int q)
{
	return q ? 0x2000ull * (uint64_t)q : 0;
}

static uint64_t cq_off(int q)
{
	return q ? 0x2000ull * (uint64_t)q + 0x1000 : 0x1000;
}

/* The client's writes to its own memory (fz_image_ptr). */
static uint8_t *img(void)
{
	return fz_image_ptr(&g_s.img);
}

/* --- messages --- */

static void send_msg(uint16_t cmd, uint32_t flags, const void *payload, size_t plen, const int *fds,
		     int nfds)
{
	uint8_t *m = malloc(sizeof(struct vfu_hdr) + plen);
	if (!m)
		fz_fail("out of memory");
	struct vfu_hdr h = { .msg_id = g_msg_id++, .cmd = cmd, .size = (uint32_t)(sizeof(h) + plen),
			     .flags = flags };
	memcpy(m, &h, sizeof(h));
	if (plen)
		memcpy(m + sizeof(h), payload, plen);
	fz_send(&g_s.cl, m, sizeof(h) + plen, fds, nfds);
	free(m);
}

static void close_all(int *fds, int n)
{
	for (int i = 0; i < n; i++)
		close(fds[i]);
}

static void region_write(uint32_t region, uint64_t off, const void *buf, uint32_t count)
{
	uint8_t p[sizeof(struct vfu_region_access) + 8];
	struct vfu_region_access a = { .offset = off, .region = region, .count = count };
	if (count > 8)
		fz_fail("region_write helper: %u bytes", count);
	memcpy(p, &a, sizeof(a));
	memcpy(p + sizeof(a), buf, count);
	send_msg(VFU_CMD_REGION_WRITE, 0, p, sizeof(a) + count, NULL, 0);
}

static void reg32(uint32_t off, uint32_t v)
{
	region_write(0, off, &v, 4);
}

static void doorbell(int qid, bool cq, uint32_t v)
{
	reg32(NVME_REG_DBS + (uint32_t)(2 * qid + (cq ? 1 : 0)) * 4, v);
}

static void version(uint8_t variant, struct fz_input *in)
{
	static const char *const caps[] = {
		NULL,
		"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
		"\"write_multiple\":true,\"pgsizes\":4096}}",
		"{\"capabilities\":{\"max_msg_fds\":1}}",
	};
	char json[256];
	const char *j = caps[variant % 4 < 3 ? variant % 4 : 0];
	if (variant % 4 == 3) {
		uint8_t n = fz_u8(in);
		fz_bytes(in, json, n);
		json[n] = '\0';
		j = json;
	}
	size_t jl = j ? strlen(j) + 1 : 0;
	uint8_t p[4 + 256];
	struct vfu_version v = { .major = (variant & 0x80) ? 1 : 0, .minor = (variant >> 2) & 3 };
	memcpy(p, &v, sizeof(v));
	if (jl)
		memcpy(p + sizeof(v), j, jl);
	send_msg(VFU_CMD_VERSION, 0, p, sizeof(v) + jl, NULL, 0);
}

/* DMA_MAP. flags: bits 0-1 prot, 2-4 fd (0 the image, 1 none, 2.. odd
 * fds), bit 5 the whole image at GPA, bit 6 the pages at their own GPA
 * offset, else at the fuzzed page, bit 7 no reply wanted. */
static void dma_map(struct fz_input *in)
{
	uint8_t flags = fz_u8(in), pg = fz_u8(in), np = fz_u8(in);
	uint16_t gpg = fz_u16(in);
	struct vfu_dma_map m = { .argsz = sizeof(m), .flags = flags & 3,
				 .offset = (uint64_t)pg * FZ_PAGE, .size = ((uint64_t)np + 1) * FZ_PAGE };
	m.addr = (flags & 0x40) ? GPA + m.offset : GPA + (uint64_t)gpg * FZ_PAGE;
	if (flags & 0x20) {
		m.offset = 0;
		m.addr = GPA;
		m.size = IMG;
	}
	int fd = -1, kind = (flags >> 2) & 7;
	if (kind == 0)
		fd = dup(g_s.img.fd);
	else if (kind > 1)
		fd = fz_odd_fd((uint8_t)(kind - 2));
	send_msg(VFU_CMD_DMA_MAP, (flags & 0x80) ? VFU_F_NO_REPLY : 0, &m, sizeof(m), &fd, fd >= 0);
	if (fd >= 0)
		close(fd);
}

/* DMA_UNMAP. flags: bit 0 ALL, bit 1 the whole image, bit 2 dirty
 * bitmap, bit 3 fuzzed argsz and flags; else the pages as dma_map names
 * them at their own GPA offset. */
static void dma_unmap(struct fz_input *in)
{
	uint8_t flags = fz_u8(in), pg = fz_u8(in), np = fz_u8(in);
	struct vfu_dma_unmap u = { .argsz = sizeof(u), .addr = GPA + (uint64_t)pg * FZ_PAGE,
				   .size = ((uint64_t)np + 1) * FZ_PAGE };
	if (flags & 2) {
		u.addr = GPA;
		u.size = IMG;
	}
	if (flags & 1) {
		u.flags = VFU_DMA_UNMAP_ALL;
		u.addr = u.size = 0;
	}
	if (flags & 4)
		u.flags |= VFU_DMA_UNMAP_GET_DIRTY_BITMAP;
	if (flags & 8) {
		u.argsz = fz_u32(in);
		u.flags = fz_u32(in);
	}
	send_msg(VFU_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0);
}

static void op_region_write(struct fz_input *in)
{
	uint8_t region = fz_u8(in) % (EMU_NUM_REGIONS + 1);
	uint16_t off = fz_u16(in);
	uint8_t count = fz_u8(in);
	uint8_t p[sizeof(struct vfu_region_access) + 256];
	struct vfu_region_access a = { .offset = off, .region = region, .count = count };
	memcpy(p, &a, sizeof(a));
	fz_bytes(in, p + sizeof(a), count);
	send_msg(VFU_CMD_REGION_WRITE, 0, p, sizeof(a) + count, NULL, 0);
}

static void op_region_read(struct fz_input *in)
{
	struct vfu_region_access a = { .region = fz_u8(in) % (EMU_NUM_REGIONS + 1) };
	a.offset = fz_u16(in);
	a.count = fz_u16(in);
	send_msg(VFU_CMD_REGION_READ, 0, &a, sizeof(a), NULL, 0);
}

static void op_reg(struct fz_input *in)
{
	static const uint32_t regs[] = {
		NVME_REG_CC, NVME_REG_AQA, NVME_REG_ASQ, NVME_REG_ASQ + 4, NVME_REG_ACQ,
		NVME_REG_ACQ + 4, NVME_REG_INTMS, NVME_REG_INTMC, NVME_REG_NSSR, NVME_REG_CSTS,
		NVME_REG_CAP, NVME_REG_VS,
	};
	uint8_t sel = fz_u8(in);
	uint32_t v = fz_u32(in);
	uint32_t off = regs[sel % (sizeof(regs) / sizeof(regs[0]))];
	if (off == NVME_REG_CC && (v & NVME_CC_EN)) {
		/* a driver enabling starts its rings from the top */
		memset(g_sq_tail, 0, sizeof(g_sq_tail));
		memset(g_cq_head, 0, sizeof(g_cq_head));
		for (int q = 0; q <= NQ; q++)
			g_cq_phase[q] = true;
	}
	reg32(off, v);
}

/* SET_IRQS. sel: bits 0-1 data type, 2-3 action, bit 4 raw flags, bits
 * 5-7 fd kind (0 eventfds, 1-5 odd fds, 6-7 none). */
static void op_set_irqs(struct fz_input *in)
{
	uint8_t index = fz_u8(in) % 6, sel = fz_u8(in), start = fz_u8(in), count = fz_u8(in);
	uint8_t nfds = fz_u8(in) % 9;
	uint8_t p[sizeof(struct vfu_irq_set) + 256];
	struct vfu_irq_set s = { .index = index, .start = start, .count = count };
	uint32_t data = 1u << ((sel & 3) % 3), action = VFU_IRQ_ACTION_MASK << (((sel >> 2) & 3) % 3);
	s.flags = (sel & 0x10) ? fz_u32(in) : data | action;
	size_t dlen = (s.flags & VFU_IRQ_DATA_BOOL) ? count : 0;
	fz_bytes(in, p + sizeof(s), dlen);
	s.argsz = (uint32_t)(sizeof(s) + dlen);
	memcpy(p, &s, sizeof(s));
	int fds[8], kind = sel >> 5;
	if (kind >= 6)
		nfds = 0;
	for (int i = 0; i < nfds; i++)
		fds[i] = kind == 0 ? eventfd(0, EFD_CLOEXEC) : fz_odd_fd((uint8_t)(kind - 1));
	send_msg(VFU_CMD_DEVICE_SET_IRQS, 0, p, sizeof(s) + dlen, fds, nfds);
	close_all(fds, nfds);
}

static void op_info(struct fz_input *in)
{
	uint8_t which = fz_u8(in) % 3, index = fz_u8(in);
	uint16_t argsz = fz_u16(in);
	uint8_t p[512];
	size_t plen = argsz < 16 ? 16 : argsz < sizeof(p) ? argsz : sizeof(p);
	memset(p, 0, sizeof(p));
	if (which == 0) {
		struct vfu_device_info d = { .argsz = argsz };
		memcpy(p, &d, sizeof(d));
		send_msg(VFU_CMD_DEVICE_GET_INFO, 0, p, sizeof(d), NULL, 0);
	} else if (which == 1) {
		struct vfu_region_info r = { .argsz = argsz, .index = index % (EMU_NUM_REGIONS + 1) };
		memcpy(p, &r, sizeof(r));
		send_msg(VFU_CMD_DEVICE_GET_REGION_INFO, 0, p, plen < sizeof(r) ? sizeof(r) : plen, NULL, 0);
	} else {
		struct vfu_irq_info r = { .argsz = argsz, .index = index % 6 };
		memcpy(p, &r, sizeof(r));
		send_msg(VFU_CMD_DEVICE_GET_IRQ_INFO, 0, p, sizeof(r), NULL, 0);
	}
}

static void op_write_multi(struct fz_input *in)
{
	uint8_t n = fz_u8(in) % 9;
	uint8_t p[8 + 8 * sizeof(struct vfu_write_one)];
	uint64_t count = n;
	memcpy(p, &count, 8);
	for (uint8_t i = 0; i < n; i++) {
		struct vfu_write_one w = { .region = fz_u8(in) % (EMU_NUM_REGIONS + 1) };
		w.offset = fz_u16(in);
		w.count = fz_u8(in) % 10;
		fz_bytes(in, w.data, sizeof(w.data));
		memcpy(p + 8 + i * sizeof(w), &w, sizeof(w));
	}
	send_msg(VFU_CMD_REGION_WRITE_MULTI, 0, p, 8 + n * sizeof(struct vfu_write_one), NULL, 0);
}

/* An SQE from the input. fix: bit 0 PRPs into the data area, bit 1 the
 * harness's command id, bit 2 no doorbell (several SQEs, one doorbell),
 * bit 3 namespace 1 and a small LBA range, bit 4 queue creation helper
 * (its ring at the helper's place for the qid in cdw10). */
static void sqe_fix(struct nvme_sqe *e, uint8_t fix)
{
	if (fix & 1) {
		e->prp1 = GPA + DATA + (e->prp1 % (IMG - DATA));
		e->prp2 = GPA + DATA + (e->prp2 % (IMG - DATA));
	}
	if (fix & 2)
		e->cid = g_cid++;
	if (fix & 8) {
		e->nsid = 1;
		e->cdw10 %= 2048;	/* SLBA */
		e->cdw11 = 0;
		e->cdw12 = (e->cdw12 & 0xffff0000u) | (e->cdw12 & 0x1f);	/* NLB */
	}
	if ((fix & 0x10) && (e->opc == NVME_ADM_CREATE_CQ || e->opc == NVME_ADM_CREATE_SQ)) {
		uint16_t qid = (uint16_t)(e->cdw10 & 0xffff);
		int q = qid >= 1 && qid <= NQ ? qid : 1;
		e->prp1 = GPA + (e->opc == NVME_ADM_CREATE_CQ ? cq_off(q) : sq_off(q));
		e->cdw10 = (QENTRIES - 1) << 16 | qid;
	}
}

static void submit(int q, const struct nvme_sqe *e, bool ring)
{
	memcpy(img() + sq_off(q) + (g_sq_tail[q] % QENTRIES) * sizeof(*e), e, sizeof(*e));
	g_sq_tail[q] = (g_sq_tail[q] + 1) % QENTRIES;
	if (ring)
		doorbell(q, false, g_sq_tail[q]);
}

static void op_admin(struct fz_input *in)
{
	uint8_t fix = fz_u8(in);
	struct nvme_sqe e;
	fz_bytes(in, &e, sizeof(e));
	sqe_fix(&e, fix);
	submit(0, &e, !(fix & 4));
}

static void op_io(struct fz_input *in)
{
	int q = fz_u8(in) % NQ + 1;
	uint8_t fix = fz_u8(in);
	struct nvme_sqe e;
	fz_bytes(in, &e, sizeof(e));
	sqe_fix(&e, fix);
	submit(q, &e, !(fix & 4));
}

/* The client reaps CQ q as a driver does (phase tag) and tells the head. */
static void consume(int q)
{
	const struct nvme_cqe *ring = (const void *)(img() + cq_off(q));
	int n = 0;
	while (n < (int)QENTRIES && (ring[g_cq_head[q]].status & 1) == g_cq_phase[q]) {
		if (fz_trace())
			fprintf(stderr, "client: CQ %d: cid %u status 0x%x dw0 0x%x\n", q, ring[g_cq_head[q]].cid,
				ring[g_cq_head[q]].status >> 1, ring[g_cq_head[q]].dw0);
		if (++g_cq_head[q] == QENTRIES) {
			g_cq_head[q] = 0;
			g_cq_phase[q] = !g_cq_phase[q];
		}
		n++;
	}
	if (n)
		doorbell(q, true, g_cq_head[q]);
}

static void op_consume(struct fz_input *in)
{
	uint8_t sel = fz_u8(in);
	if (sel >= 0x80) {
		for (int q = 0; q <= NQ; q++)
			consume(q);
	} else {
		consume(sel % (NQ + 1));
	}
}

static void cfg_write(uint32_t off, const void *v, uint32_t len)
{
	region_write(EMU_REGION_CONFIG, off, v, len);
}

/* MSI-X on and one eventfd per vector. */
static void irqs_on(void)
{
	uint16_t ctl = 0x8000;	/* MSI-X Enable */
	cfg_write(g_fn->cfg->msix_cap + 2, &ctl, 2);
	int fds[NVECS];
	for (int i = 0; i < NVECS; i++)
		fds[i] = eventfd(0, EFD_CLOEXEC);
	struct vfu_irq_set s = { .argsz = sizeof(s), .flags = VFU_IRQ_DATA_EVENTFD | VFU_IRQ_ACTION_TRIGGER,
				 .index = VFU_IRQ_INDEX_MSIX, .start = 0, .count = NVECS };
	send_msg(VFU_CMD_DEVICE_SET_IRQS, 0, &s, sizeof(s), fds, NVECS);
	close_all(fds, NVECS);
}

/* What a driver does. flags: bit 0 VERSION first, bit 1 map the image,
 * bit 2 MSI-X, bits 4-6 I/O queue pairs (0..NQ). */
static void op_bringup(struct fz_input *in)
{
	uint8_t flags = fz_u8(in);
	int nq = ((flags >> 4) & 7) % (NQ + 1);
	if (flags & 1) {
		struct vfu_version v = { 0, 2 };
		send_msg(VFU_CMD_VERSION, 0, &v, sizeof(v), NULL, 0);
	}
	if (flags & 2) {
		struct vfu_dma_map m = { .argsz = sizeof(m), .flags = VFU_DMA_READ_FLAG | VFU_DMA_WRITE_FLAG,
					 .offset = 0, .addr = GPA, .size = IMG };
		int fd = dup(g_s.img.fd);
		send_msg(VFU_CMD_DMA_MAP, 0, &m, sizeof(m), &fd, 1);
		close(fd);
	}
	uint16_t cmd = 0x6;	/* memory space, bus master */
	cfg_write(4, &cmd, 2);
	if (flags & 4)
		irqs_on();
	reg32(NVME_REG_CC, 0);
	memset(img(), 0, DATA);
	reg32(NVME_REG_AQA, (QENTRIES - 1) << 16 | (QENTRIES - 1));
	reg32(NVME_REG_ASQ, (uint32_t)(GPA + sq_off(0)));
	reg32(NVME_REG_ASQ + 4, 0);
	reg32(NVME_REG_ACQ, (uint32_t)(GPA + cq_off(0)));
	reg32(NVME_REG_ACQ + 4, 0);
	memset(g_sq_tail, 0, sizeof(g_sq_tail));
	memset(g_cq_head, 0, sizeof(g_cq_head));
	for (int q = 0; q <= NQ; q++)
		g_cq_phase[q] = true;
	reg32(NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20));
	for (int q = 1; q <= nq; q++) {
		struct nvme_sqe c = { .opc = NVME_ADM_CREATE_CQ, .cid = g_cid++, .prp1 = GPA + cq_off(q),
				      .cdw10 = (QENTRIES - 1) << 16 | (uint32_t)q,
				      .cdw11 = (uint32_t)(q % NVECS) << 16 | 3 };
		submit(0, &c, true);
		struct nvme_sqe s = { .opc = NVME_ADM_CREATE_SQ, .cid = g_cid++, .prp1 = GPA + sq_off(q),
				      .cdw10 = (QENTRIES - 1) << 16 | (uint32_t)q,
				      .cdw11 = (uint32_t)q << 16 | 1 };
		submit(0, &s, true);
	}
	fz_settle();
	consume(0);
}

/* The operator's RPCs on the controller: suspend (admin only or not),
 * resume, detach and attach namespace 1. */
static void op_rpc(uint8_t sel)
{
	char err[256];
	switch (sel % 5) {
	case 0:
	case 1:
		g_s.rpcs++;
		nvme_ctrl_suspend(g_ctrl, 1000, sel % 5 == 1, fz_rpc_done, &g_s);
		break;
	case 2:
		nvme_ctrl_resume(g_ctrl, err, sizeof(err));
		break;
	case 3:
		g_s.rpcs++;
		nvme_ctrl_detach_ns(g_ctrl, 1, fz_rpc_done, &g_s);
		break;
	default:
		g_s.rpcs++;
		nvme_ctrl_attach_ns(g_ctrl, 1, fz_rpc_done, &g_s);
		break;
	}
}

/* Config space: sel 0 command register, 1 MSI-X control, 2 PCIe device
 * control (FLR is bit 15), 3 a BAR, else a fuzzed offset. */
static void op_config(struct fz_input *in)
{
	uint8_t sel = fz_u8(in);
	uint16_t v = fz_u16(in);
	struct pci_cfg *c = g_fn->cfg;
	switch (sel % 5) {
	case 0:
		cfg_write(4, &v, 2);
		break;
	case 1:
		cfg_write(c->msix_cap + 2u, &v, 2);
		break;
	case 2:
		if (c->pcie_cap)
			cfg_write(c->pcie_cap + 8u, &v, 2);
		break;
	case 3: {
		uint32_t bar = (uint32_t)v << 12;
		cfg_write(0x10 + 4u * ((sel >> 3) % 6), &bar, 4);
		break;
	}
	default: {
		uint32_t w = fz_u32(in);
		cfg_write(v % 4096, &w, 1 + (sel >> 6));
		break;
	}
	}
}

static void connected(struct fz_session *s)
{
	(void)s;
	g_msg_id = 0;
}

static void check_gone(struct fz_session *s)
{
	(void)s;
	if (emu_fn_client_connected(g_fn))
		fz_fail("the service keeps a client that hung up");
}

/* --- per input --- */

static void setup_once(void)
{
	struct emu_config cfg;
	emu_config_defaults(&cfg);
	cfg.vblk_enable = false;
	cfg.nvme_num_msix = NVECS;
	g_fn = fz_emu_start(&g_s, 2, &cfg, EMU_TYPE_NVME);
	if (!g_fn->ep)
		fz_fail("no NVMe function with an endpoint");
}

static void input_begin(void)
{
	char err[256];
	int done = 0;
	if (bdev_malloc_create("fz", 2048, 512, NULL, err, sizeof(err)))
		fz_fail("bdev: %s", err);
	struct nvme_subsys_params sp = { "nqn.fuzz", NULL, NULL, 1024, 1024, false };
	struct nvme_ns_params np = { "nqn.fuzz", 1, "fz", NULL, NULL, NULL };
	struct nvme_ctrl_params cp = { .nqn = "nqn.fuzz", .fn = g_fn, .num_queues = NQ, .mdts = 5,
				       .fw_slots = 2, .compare = 1, .compare_write = 1, .dsm = 1,
				       .write_zeroes = 1 };
	if (nvme_subsystem_create(&sp, err, sizeof(err)) || nvme_namespace_create(&np, err, sizeof(err)) ||
	    nvme_ctrl_create(&cp, &g_ctrl, err, sizeof(err)))
		fz_fail("controller: %s", err);
	nvme_ctrl_attach_ns(g_ctrl, 1, fz_set_done, &done);
	fz_wait_done(&done, "namespace attach");
	memset(g_sq_tail, 0, sizeof(g_sq_tail));
	memset(g_cq_head, 0, sizeof(g_cq_head));
	for (int q = 0; q <= NQ; q++)
		g_cq_phase[q] = true;
	g_cid = 0;
	fz_session_begin(&g_s, IMG);
}

static void input_end(void)
{
	char err[256];
	int done = 0;
	fz_session_end(&g_s);
	if (emu_mem_count(g_fn))
		fz_fail("%d DMA regions left after the client hung up", emu_mem_count(g_fn));
	nvme_ctrl_destroy(g_ctrl, true, fz_set_done, &done);
	fz_wait_done(&done, "controller destroy");
	g_ctrl = NULL;
	if (nvme_namespace_destroy("nqn.fuzz", 1, err, sizeof(err)) ||
	    nvme_subsystem_destroy("nqn.fuzz", false, err, sizeof(err)) ||
	    bdev_unregister("fz", NULL, err, sizeof(err)))
		fz_fail("teardown: %s", err);
	/* config space and MSI-X back to their reset values */
	emu_fn_reset(g_fn, EMU_RESET_FLR);
	fz_settle();
	fz_session_release(&g_s);
}

/* The operations of this target (fz_session_run does the shared ones). */
static void run_op(struct fz_session *s, int kind, struct fz_input *in)
{
	(void)s;
	switch (kind) {
	case OP_VERSION: version(fz_u8(in), in); break;
	case OP_DMA_MAP: dma_map(in); break;
	case OP_DMA_UNMAP: dma_unmap(in); break;
	case OP_REGION_WRITE: op_region_write(in); break;
	case OP_REGION_READ: op_region_read(in); break;
	case OP_REG: op_reg(in); break;
	case OP_DOORBELL: {
		uint8_t q = fz_u8(in);
		doorbell(q % 9, q & 0x80, fz_u16(in));
		break;
	}
	case OP_SET_IRQS: op_set_irqs(in); break;
	case OP_RESET: send_msg(VFU_CMD_DEVICE_RESET, 0, NULL, 0, NULL, 0); break;
	case OP_INFO: op_info(in); break;
	case OP_WRITE_MULTI: op_write_multi(in); break;
	case OP_ADMIN: op_admin(in); break;
	case OP_IO: op_io(in); break;
	case OP_CONSUME: op_consume(in); break;
	case OP_BRINGUP: op_bringup(in); break;
	case OP_CONFIG: op_config(in); break;
	case OP_RPC: op_rpc(fz_u8(in)); break;
	}
}

static const struct fz_ops g_ops = {
	.op_names = op_names, .nops = OP_COUNT, .op_raw = OP_RAW, .op_image = OP_IMAGE,
	.op_reconnect = OP_RECONNECT, .op_truncate = OP_TRUNCATE, .op_step = OP_STEP,
	.raw_size_off = offsetof(struct vfu_hdr, size), .raw_hdr_len = sizeof(struct vfu_hdr),
	.raw_size_counts_hdr = true, .op = run_op, .connected = connected, .check_gone = check_gone,
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_input in = { data, size };
	if (!g_fn)
		setup_once();
	input_begin();
	fz_session_run(&g_s, &in, MAX_OPS);
	input_end();
	return 0;
}
