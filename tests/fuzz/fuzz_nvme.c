/* libFuzzer target: NVMe submission-queue-entry handling, admin and I/O,
 * with PRP lists and SGLs walked through a fuzzed guest memory image.
 *
 * One controller on a malloc namespace serves a fake client: guest memory
 * is a memfd mapped into the function, the rings live in it, commands go
 * through the real doorbells. Input: the first 64 KiB fill the data area
 * (PRP lists, SGL segments, data); then records of [selector byte][64-byte
 * SQE] are submitted one by one (selector bit 0: I/O queue, else admin).
 * Each input starts from a controller reset.
 *
 * The reactor runs inline, on the fuzzer's thread (reactors_start_inline):
 * one input always does the same thing, so a crash reproduces from it. */
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdev/modules/modules.h"
#include "core/log.h"
#include "core/thread.h"
#include "emu/emu_internal.h"
#include "nvme/nvme_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define GPA 0x100000ull
#define MEM (4u << 20)
#define ASQ 0x0000u
#define ACQ 0x1000u
#define IOSQ 0x2000u
#define IOCQ 0x3000u
#define DATA 0x10000u
#define QE 64u

static struct emu_function *g_fn;
static struct nvme_ctrl *g_ctrl;
static uint8_t *g_mem;
static uint32_t g_asq_tail, g_iosq_tail;

/* A controller that does not settle within this many rounds of the main
 * thread and the reactor would hang its guest: a finding. */
#define MAX_ROUNDS 100000

/* One round: the main thread's messages, then one reactor iteration.
 * Returns the work done (0: everything is idle). */
static int pump(void)
{
	int work = thread_process_msgs(1024) + reactor_run_inline(0);
	/* idle: what the reactor does before it sleeps (may find work) */
	return work ? work : reactor_arm_inline(0);
}

static void reg_write(uint32_t off, uint32_t v)
{
	emu_region_write(g_fn, 0, off, &v, 4);
}

static uint32_t reg_read(uint32_t off)
{
	uint32_t v = 0;
	emu_region_read(g_fn, 0, off, &v, 4);
	return v;
}

static void done_cb(void *arg, int rc, const char *msg)
{
	(void)rc;
	(void)msg;
	*(int *)arg = 1;
}

static void setup(void)
{
	struct emu_config cfg;
	char err[256];
	int done = 0;

	log_set_level(LOG_CRIT);
	thread_lib_init();
	if (reactors_start_inline(1))
		abort();
	emu_config_defaults(&cfg);
	cfg.no_endpoints = true;
	cfg.nvme_num_msix = 8;
	if (emu_init(&cfg, err, sizeof(err)))
		abort();
	g_fn = emu_pf_first();
	if (bdev_malloc_create("fz", 2048, 512, NULL, err, sizeof(err)))
		abort();
	struct nvme_subsys_params sp = { "nqn.fuzz", NULL, NULL, 1024, 1024, false };
	struct nvme_ns_params np = { "nqn.fuzz", 1, "fz", NULL, NULL, NULL };
	struct nvme_ctrl_params cp = { .nqn = "nqn.fuzz", .fn = g_fn, .num_queues = 2, .mdts = 5,
				       .fw_slots = 2, .compare = 1, .compare_write = 1, .dsm = 1,
				       .write_zeroes = 1 };
	if (nvme_subsystem_create(&sp, err, sizeof(err)) || nvme_namespace_create(&np, err, sizeof(err)) ||
	    nvme_ctrl_create(&cp, &g_ctrl, err, sizeof(err)))
		abort();
	nvme_ctrl_attach_ns(g_ctrl, 1, done_cb, &done);
	while (!done)
		pump();
	int fd = memfd_create("guest", 0);
	if (fd < 0 || ftruncate(fd, MEM))
		abort();
	g_mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (g_mem == MAP_FAILED || emu_mem_add(g_fn, GPA, MEM, EMU_DMA_READ | EMU_DMA_WRITE, fd, 0))
		abort();
	close(fd);
}

static void consume_cqs(void)
{
	/* the client keeps its CQ heads current so queues never fill (the
	 * fuzzed admin commands may have made other CQs than the harness's) */
	for (uint32_t q = 0; q <= NVME_MAX_IO_QUEUES; q++)
		if (g_ctrl->cqs[q])
			reg_write(0x1000 + (2 * q + 1) * 4, __atomic_load_n(&g_ctrl->cqs[q]->tail, __ATOMIC_ACQUIRE));
}

static void hung(const char *what)
{
	fprintf(stderr, "fuzz_nvme: controller hung: %s\n", what);
	abort();
}

/* Wait until the controller has taken and finished everything. */
static void settle(void)
{
	for (int round = 0;; round++) {
		if (round > MAX_ROUNDS)
			hung("I/O queue never settled");
		int work = pump();	/* may delete queues: look them up afterwards */
		consume_cqs();
		struct nvme_sq *sq = g_ctrl->sqs[1];
		if (g_ctrl->state == NVME_CTRL_RESETTING)
			continue;
		if (!sq || qlife_stop_requested(&sq->life))
			return;
		/* a fused compare waits for its partner: it may stay in flight */
		uint32_t held = __atomic_load_n(&sq->fused_first, __ATOMIC_ACQUIRE) ? 1 : 0;
		if (__atomic_load_n(&sq->head, __ATOMIC_ACQUIRE) == g_iosq_tail % sq->size &&
		    __atomic_load_n(&sq->inflight, __ATOMIC_ACQUIRE) <= held)
			return;
		if (qlife_state(&sq->life) != QLIFE_RUNNING || g_ctrl->state != NVME_CTRL_READY)
			return;
		if (!work) {
			/* nothing moves, with commands still in flight */
			if (__atomic_load_n(&sq->inflight, __ATOMIC_ACQUIRE) > held)
				hung("commands in flight and nothing left to run");
			return;
		}
	}
}

static void admin(const struct nvme_sqe *e)
{
	memcpy(g_mem + ASQ + (g_asq_tail % 64) * QE, e, QE);
	g_asq_tail = (g_asq_tail + 1) % 64;
	reg_write(0x1000, g_asq_tail);
	consume_cqs();
}

static void io(const struct nvme_sqe *e)
{
	if (!g_ctrl->sqs[1])
		return;
	memcpy(g_mem + IOSQ + (g_iosq_tail % 64) * QE, e, QE);
	g_iosq_tail = (g_iosq_tail + 1) % 64;
	reg_write(0x1008, g_iosq_tail);
	settle();
	consume_cqs();
}

static void start_controller(void)
{
	reg_write(NVME_REG_CC, 0);
	for (int round = 0; reg_read(NVME_REG_CSTS) & NVME_CSTS_RDY; round++) {
		if (round > MAX_ROUNDS || (!pump() && (reg_read(NVME_REG_CSTS) & NVME_CSTS_RDY)))
			hung("reset never cleared CSTS.RDY");
	}
	memset(g_mem, 0, DATA);
	g_asq_tail = g_iosq_tail = 0;
	reg_write(NVME_REG_AQA, 63u << 16 | 63u);
	reg_write(NVME_REG_ASQ, (uint32_t)(GPA + ASQ));
	reg_write(NVME_REG_ASQ + 4, 0);
	reg_write(NVME_REG_ACQ, (uint32_t)(GPA + ACQ));
	reg_write(NVME_REG_ACQ + 4, 0);
	reg_write(NVME_REG_CC, NVME_CC_EN | (6u << 16) | (4u << 20));
	struct nvme_sqe e = { .opc = NVME_ADM_CREATE_CQ, .cid = 1, .prp1 = GPA + IOCQ,
			      .cdw10 = 63u << 16 | 1, .cdw11 = 1u << 16 | 3 };
	admin(&e);
	struct nvme_sqe s = { .opc = NVME_ADM_CREATE_SQ, .cid = 2, .prp1 = GPA + IOSQ,
			      .cdw10 = 63u << 16 | 1, .cdw11 = 1u << 16 | 1 };
	admin(&s);
	settle();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!g_ctrl)
		setup();
	start_controller();
	size_t img = size < 65536 ? size : 65536;
	memcpy(g_mem + DATA, data, img);
	data += img;
	size -= img;
	for (int n = 0; size >= 1 + QE && n < 32; n++) {
		struct nvme_sqe e;
		uint8_t sel = data[0];
		memcpy(&e, data + 1, QE);
		data += 1 + QE;
		size -= 1 + QE;
		/* keep most pointers inside the guest image so the walkers go deep */
		if (sel & 2) {
			e.prp1 = GPA + DATA + (e.prp1 % 65536);
			e.prp2 = GPA + DATA + (e.prp2 % 65536);
		}
		if (sel & 1)
			io(&e);
		else
			admin(&e);
	}
	settle();
	return 0;
}
