/* The NVMe controller's register state machine, without sockets: CC.EN
 * with valid and invalid admin queue settings, shutdown (CC.SHN), reset
 * (CC.EN=0), re-enable, and suspend / resume through the controller API.
 *
 * One controller on a malloc namespace, bound to a function of a device
 * plane without endpoints (emu_config.no_endpoints). The test is the host:
 * it writes BAR0 with emu_region_write, its guest memory is a memfd mapped
 * into the function, and commands go through the real doorbells. The
 * reactor runs inline (reactors_start_inline), on the test's thread, so
 * every step happens in a fixed order: "settled" means the main thread and
 * the reactor both found nothing left to do, not that some time passed. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bdev/bdev.h"
#include "bdev/modules/modules.h"
#include "core/log.h"
#include "core/thread.h"
#include "emu/emu_internal.h"
#include "nvme/nvme_internal.h"

#define NQN "nqn.2026-12.io.osnap:unit"
#define GPA 0x100000ull
#define MEM (1u << 20)
#define ASQ 0x0000u
#define ACQ 0x1000u
#define IOSQ 0x2000u
#define IOCQ 0x3000u
#define DATA 0x10000u	/* Identify data */
#define WBUF 0x20000u	/* data written */
#define RBUF 0x21000u	/* data read back */
#define QSIZE 16u
#define QE 64u
#define CQE 16u

/* CC for an enable: 64-byte SQEs, 16-byte CQEs, 4 KiB pages (MPS 0) */
#define CC_GOOD (NVME_CC_EN | 6u << 16 | 4u << 20)
#define CC_SHN_NORMAL (1u << 14)

/* A controller that does not settle within this many rounds would hang
 * its host: a failure, not a slow machine (nothing here waits on time). */
#define MAX_ROUNDS 100000

static struct emu_function *g_fn;
static struct nvme_ctrl *g_ctrl;
static uint8_t *g_mem;

/* the host's view of its queues */
struct hq {
	uint32_t sq_off, cq_off;	/* in g_mem */
	uint16_t qid;
	uint32_t sq_tail, cq_head;
	uint16_t phase;
	uint16_t cid;
};
static struct hq g_admin, g_io;

/* One round: the main thread's messages, then one reactor iteration, then
 * (when idle) what the reactor does before it sleeps. Returns the work. */
static int pump(void)
{
	int work = thread_process_msgs(1024) + reactor_run_inline(0);
	return work ? work : reactor_arm_inline(0);
}

/* Until the main thread and the reactor both have nothing left to do. */
static void settle(void)
{
	int idle = 0;
	for (int round = 0; idle < 3; round++) {
		assert_true(round < MAX_ROUNDS);
		idle = pump() ? 0 : idle + 1;
	}
}

static void reg_write(uint32_t off, uint32_t v)
{
	assert_int_equal(emu_region_write(g_fn, 0, off, &v, 4), 0);
}

static uint32_t reg_read(uint32_t off)
{
	uint32_t v = 0xdeadbeef;
	assert_int_equal(emu_region_read(g_fn, 0, off, &v, 4), 0);
	return v;
}

static uint32_t csts(void)
{
	return reg_read(NVME_REG_CSTS);
}

static void done_cb(void *arg, int rc, const char *msg)
{
	(void)msg;
	int *r = arg;
	*r = rc;
}

#define NOT_YET 12345

/* --- the host's queues --- */

static void hq_init(struct hq *q, uint16_t qid, uint32_t sq_off, uint32_t cq_off)
{
	memset(q, 0, sizeof(*q));
	q->qid = qid;
	q->sq_off = sq_off;
	q->cq_off = cq_off;
	q->phase = 1;
	memset(g_mem + sq_off, 0, QSIZE * QE);
	memset(g_mem + cq_off, 0, QSIZE * CQE);
}

/* Put e on q's SQ and ring its doorbell; returns the command id. */
static uint16_t submit(struct hq *q, struct nvme_sqe *e)
{
	e->cid = ++q->cid;
	memcpy(g_mem + q->sq_off + q->sq_tail * QE, e, QE);
	q->sq_tail = (q->sq_tail + 1) % QSIZE;
	reg_write(NVME_REG_DBS + 8u * q->qid, q->sq_tail);
	return e->cid;
}

/* The next completion on q, if posted. */
static bool cqe_posted(struct hq *q, struct nvme_cqe *out)
{
	struct nvme_cqe e;
	memcpy(&e, g_mem + q->cq_off + q->cq_head * CQE, CQE);
	if ((e.status & 1) != q->phase)
		return false;
	*out = e;
	return true;
}

/* Settle, then take the next completion (which must be there). */
static struct nvme_cqe reap(struct hq *q)
{
	struct nvme_cqe e;
	settle();
	assert_true(cqe_posted(q, &e));
	q->cq_head = (q->cq_head + 1) % QSIZE;
	if (!q->cq_head)
		q->phase ^= 1;
	reg_write(NVME_REG_DBS + 8u * q->qid + 4, q->cq_head);
	return e;
}

/* Submit and expect success for this command. */
static void run_ok(struct hq *q, struct nvme_sqe *e)
{
	uint16_t cid = submit(q, e);
	struct nvme_cqe c = reap(q);
	assert_int_equal(c.cid, cid);
	assert_int_equal(c.sqid, q->qid);
	assert_int_equal(c.status >> 1, 0);
}

/* --- controller states --- */

/* CC.EN=0 and wait for the reset: CSTS all clear. */
static void disable(void)
{
	reg_write(NVME_REG_CC, 0);
	settle();
	assert_int_equal(csts(), 0);
	assert_int_equal(g_ctrl->state, NVME_CTRL_DISABLED);
}

static void set_admin_regs(uint32_t aqa, uint64_t asq, uint64_t acq)
{
	reg_write(NVME_REG_AQA, aqa);
	reg_write(NVME_REG_ASQ, (uint32_t)asq);
	reg_write(NVME_REG_ASQ + 4, (uint32_t)(asq >> 32));
	reg_write(NVME_REG_ACQ, (uint32_t)acq);
	reg_write(NVME_REG_ACQ + 4, (uint32_t)(acq >> 32));
}

/* Valid admin queue registers and CC.EN=1. */
static void enable(void)
{
	hq_init(&g_admin, 0, ASQ, ACQ);
	set_admin_regs((QSIZE - 1) << 16 | (QSIZE - 1), GPA + ASQ, GPA + ACQ);
	reg_write(NVME_REG_CC, CC_GOOD);
	settle();
}

/* I/O CQ 1 and SQ 1, through the admin queue. */
static void create_io_queues(void)
{
	hq_init(&g_io, 1, IOSQ, IOCQ);
	struct nvme_sqe cq = { .opc = NVME_ADM_CREATE_CQ, .prp1 = GPA + IOCQ,
			       .cdw10 = (QSIZE - 1) << 16 | 1, .cdw11 = 1u << 16 | 3 };
	run_ok(&g_admin, &cq);
	struct nvme_sqe sq = { .opc = NVME_ADM_CREATE_SQ, .prp1 = GPA + IOSQ,
			       .cdw10 = (QSIZE - 1) << 16 | 1, .cdw11 = 1u << 16 | 1 };
	run_ok(&g_admin, &sq);
	assert_non_null(g_ctrl->sqs[1]);
	assert_non_null(g_ctrl->cqs[1]);
}

/* No queues from index first on (1: I/O queues only). */
static void assert_no_queues_from(int first)
{
	for (int q = first; q <= NVME_MAX_IO_QUEUES; q++) {
		assert_null(g_ctrl->sqs[q]);
		assert_null(g_ctrl->cqs[q]);
	}
}

/* --- setup --- */

static int setup(void **state)
{
	(void)state;
	struct emu_config cfg;
	char err[256];
	int rc = NOT_YET;

	log_set_level(LOG_CRIT);
	assert_int_equal(thread_lib_init(), 0);
	assert_int_equal(reactors_start_inline(1), 0);
	emu_config_defaults(&cfg);
	cfg.no_endpoints = true;
	cfg.nvme_num_msix = 8;
	assert_int_equal(emu_init(&cfg, err, sizeof(err)), 0);
	g_fn = emu_pf_first();
	assert_non_null(g_fn);
	assert_int_equal(bdev_malloc_create("m0", 2048, 512, NULL, err, sizeof(err)), 0);
	struct nvme_subsys_params sp = { NQN, "SN-UNIT", "osnap unit", 32, 32, false };
	struct nvme_ns_params np = { NQN, 1, "m0", NULL, NULL, NULL };
	struct nvme_ctrl_params cp = { .nqn = NQN, .fn = g_fn, .num_queues = 2, .mdts = 5,
				       .fw_slots = 1, .compare = -1, .compare_write = -1, .dsm = -1,
				       .write_zeroes = -1 };
	assert_int_equal(nvme_subsystem_create(&sp, err, sizeof(err)), 0);
	assert_int_equal(nvme_namespace_create(&np, err, sizeof(err)), 0);
	assert_int_equal(nvme_ctrl_create(&cp, &g_ctrl, err, sizeof(err)), 0);
	nvme_ctrl_attach_ns(g_ctrl, 1, done_cb, &rc);
	settle();
	assert_int_equal(rc, 0);

	int fd = memfd_create("guest", 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, MEM), 0);
	g_mem = mmap(NULL, MEM, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(g_mem != MAP_FAILED);
	assert_int_equal(emu_mem_add(g_fn, GPA, MEM, EMU_DMA_READ | EMU_DMA_WRITE, fd, 0), 0);
	close(fd);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	char err[256];
	int rc = NOT_YET;

	nvme_ctrl_destroy(g_ctrl, true, done_cb, &rc);
	settle();
	assert_int_equal(rc, 0);
	assert_int_equal(nvme_subsystem_destroy(NQN, true, err, sizeof(err)), 0);
	reactors_stop();
	/* what the reactor sent back on its way out */
	while (thread_process_msgs(1024) > 0)
		;
	emu_fini();
	while (thread_process_msgs(1024) > 0)
		;
	bdev_unregister_all();
	while (thread_process_msgs(1024) > 0)
		;
	munmap(g_mem, MEM);
	thread_lib_fini();
	return 0;
}

/* every test starts from a disabled controller, resumed */
static int each(void **state)
{
	(void)state;
	char err[128];
	if (g_ctrl->suspended)
		assert_int_equal(nvme_ctrl_resume(g_ctrl, err, sizeof(err)), 0);
	disable();
	return 0;
}

/* --- the tests --- */

/* Valid AQA/ASQ/ACQ and CC.EN=1: ready, and the admin queue serves
 * Identify (controller and namespace) from guest memory. */
static void test_enable_ready(void **state)
{
	(void)state;
	enable();
	assert_int_equal(csts(), NVME_CSTS_RDY);
	assert_int_equal(g_ctrl->state, NVME_CTRL_READY);
	assert_int_equal(reg_read(NVME_REG_CC), CC_GOOD);

	memset(g_mem + DATA, 0xa5, 4096);
	struct nvme_sqe id = { .opc = NVME_ADM_IDENTIFY, .prp1 = GPA + DATA, .cdw10 = 1 };
	run_ok(&g_admin, &id);
	const uint8_t *d = g_mem + DATA;
	assert_int_equal(d[0] | d[1] << 8, 0x1b36);			/* VID */
	assert_memory_equal(d + 4, "SN-UNIT             ", 20);	/* SN, space padded */
	assert_memory_equal(d + 24, "osnap unit ", 11);		/* MN */
	assert_int_equal(d[77], 5);					/* MDTS */
	assert_int_equal(d[78] | d[79] << 8, nvme_ctrl_cntlid(g_ctrl));
	assert_int_equal(d[512], 0x66);					/* SQES */
	assert_int_equal(d[513], 0x44);					/* CQES */

	memset(g_mem + DATA, 0xa5, 4096);
	struct nvme_sqe ns = { .opc = NVME_ADM_IDENTIFY, .nsid = 1, .prp1 = GPA + DATA, .cdw10 = 0 };
	run_ok(&g_admin, &ns);
	uint64_t nsze;
	memcpy(&nsze, d, 8);
	assert_int_equal(nsze, 2048);
}

/* Invalid enables: CFS=1, RDY=0, nothing created; CC.EN=0 recovers. */
static void test_enable_invalid(void **state)
{
	(void)state;
	const struct {
		const char *what;
		uint32_t aqa, cc;
		uint64_t asq, acq;
	} bad[] = {
		{ "MPS 1 (8 KiB pages)", 0x000f000f, CC_GOOD | 1u << 7, GPA + ASQ, GPA + ACQ },
		{ "CSS 1", 0x000f000f, CC_GOOD | 1u << 4, GPA + ASQ, GPA + ACQ },
		{ "AMS 1", 0x000f000f, CC_GOOD | 1u << 11, GPA + ASQ, GPA + ACQ },
		{ "AQA 0 (1-entry queues)", 0, CC_GOOD, GPA + ASQ, GPA + ACQ },
		{ "ASQS 0", 0x000f0000, CC_GOOD, GPA + ASQ, GPA + ACQ },
		{ "ACQS 0", 0x0000000f, CC_GOOD, GPA + ASQ, GPA + ACQ },
		{ "ASQ 0", 0x000f000f, CC_GOOD, 0, GPA + ACQ },
		{ "ACQ 0", 0x000f000f, CC_GOOD, GPA + ASQ, 0 },
		{ "ASQ outside the client's memory", 0x000f000f, CC_GOOD, 0x40000000, GPA + ACQ },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		print_message("invalid enable: %s\n", bad[i].what);
		set_admin_regs(bad[i].aqa, bad[i].asq, bad[i].acq);
		reg_write(NVME_REG_CC, bad[i].cc);
		settle();
		assert_int_equal(csts(), NVME_CSTS_CFS);
		assert_int_equal(g_ctrl->state, NVME_CTRL_FATAL);
		/* (a half-built admin queue may wait for the reset to go) */
		assert_null(g_ctrl->sqs[0]);
		assert_no_queues_from(1);
		disable();
		assert_no_queues_from(0);
	}
	/* and a valid enable afterwards works */
	enable();
	assert_int_equal(csts(), NVME_CSTS_RDY);
}

/* CC.SHN=01b while enabled: SHST goes to 10b (complete), RDY stays;
 * then CC.EN=0 clears everything and removes the queues. */
static void test_shutdown_then_reset(void **state)
{
	(void)state;
	enable();
	create_io_queues();
	reg_write(NVME_REG_CC, CC_GOOD | CC_SHN_NORMAL);
	settle();
	assert_int_equal(csts(), NVME_CSTS_RDY | NVME_CSTS_SHST_DONE);
	assert_int_equal(g_ctrl->state, NVME_CTRL_SHUTDOWN);

	/* a command submitted after the shutdown is not fetched */
	struct nvme_sqe r = { .opc = NVME_CMD_READ, .nsid = 1, .prp1 = GPA + RBUF };
	submit(&g_io, &r);
	settle();
	struct nvme_cqe e;
	assert_false(cqe_posted(&g_io, &e));

	disable();
	assert_int_equal(reg_read(NVME_REG_CC), 0);
	assert_no_queues_from(0);
}

/* CC.EN=0 on a ready controller with I/O queues: RDY=0, SHST=00b, the
 * queues gone; enabling again gives a working controller. */
static void test_reset_and_reenable(void **state)
{
	(void)state;
	enable();
	create_io_queues();
	disable();
	assert_no_queues_from(0);

	enable();
	assert_int_equal(csts(), NVME_CSTS_RDY);
	/* the new admin queue starts at index 0 and works */
	create_io_queues();
	memset(g_mem + WBUF, 0x5a, 512);
	struct nvme_sqe w = { .opc = NVME_CMD_WRITE, .nsid = 1, .prp1 = GPA + WBUF, .cdw10 = 7 };
	run_ok(&g_io, &w);
	memset(g_mem + RBUF, 0, 512);
	struct nvme_sqe r = { .opc = NVME_CMD_READ, .nsid = 1, .prp1 = GPA + RBUF, .cdw10 = 7 };
	run_ok(&g_io, &r);
	assert_memory_equal(g_mem + RBUF, g_mem + WBUF, 512);
}

/* Suspend: answers once the queues drained; the suspended controller
 * fetches nothing; a second suspend answers too; resume serves what waited;
 * resume of a controller that is not suspended fails with -EINVAL. */
static void test_suspend_resume(void **state)
{
	(void)state;
	char err[128];
	int rc1 = NOT_YET, rc2 = NOT_YET;

	err[0] = 0;
	assert_int_equal(nvme_ctrl_resume(g_ctrl, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not suspended"));

	enable();
	create_io_queues();
	nvme_ctrl_suspend(g_ctrl, 0, false, done_cb, &rc1);
	settle();
	assert_int_equal(rc1, 0);
	assert_true(g_ctrl->suspended);
	assert_int_equal(qlife_state(&g_ctrl->sqs[1]->life), QLIFE_PAUSED);
	/* registers do not show a suspend */
	assert_int_equal(csts(), NVME_CSTS_RDY);

	/* a write submitted while suspended is not fetched */
	memset(g_mem + WBUF, 0xc3, 512);
	struct nvme_sqe w = { .opc = NVME_CMD_WRITE, .nsid = 1, .prp1 = GPA + WBUF, .cdw10 = 9 };
	uint16_t cid = submit(&g_io, &w);
	settle();
	struct nvme_cqe e;
	assert_false(cqe_posted(&g_io, &e));

	/* a second suspend while suspended answers too */
	nvme_ctrl_suspend(g_ctrl, 0, false, done_cb, &rc2);
	settle();
	assert_int_equal(rc2, 0);
	assert_false(cqe_posted(&g_io, &e));

	/* resume: the waiting write is served */
	assert_int_equal(nvme_ctrl_resume(g_ctrl, err, sizeof(err)), 0);
	assert_false(g_ctrl->suspended);
	e = reap(&g_io);
	assert_int_equal(e.cid, cid);
	assert_int_equal(e.status >> 1, 0);
	assert_int_equal(qlife_state(&g_ctrl->sqs[1]->life), QLIFE_RUNNING);
	memset(g_mem + RBUF, 0, 512);
	struct nvme_sqe r = { .opc = NVME_CMD_READ, .nsid = 1, .prp1 = GPA + RBUF, .cdw10 = 9 };
	run_ok(&g_io, &r);
	assert_memory_equal(g_mem + RBUF, g_mem + WBUF, 512);

	/* resumed once: a second resume fails */
	assert_int_equal(nvme_ctrl_resume(g_ctrl, err, sizeof(err)), -EINVAL);
}

/* CC.EN=1 while suspended: not ready until resumed, then ready. */
static void test_enable_while_suspended(void **state)
{
	(void)state;
	char err[128];
	int rc = NOT_YET;

	nvme_ctrl_suspend(g_ctrl, 0, false, done_cb, &rc);
	settle();
	assert_int_equal(rc, 0);
	enable();
	assert_int_equal(csts(), 0);
	assert_int_equal(g_ctrl->state, NVME_CTRL_ENABLING);
	assert_int_equal(nvme_ctrl_resume(g_ctrl, err, sizeof(err)), 0);
	settle();
	assert_int_equal(csts(), NVME_CSTS_RDY);
	struct nvme_sqe id = { .opc = NVME_ADM_IDENTIFY, .prp1 = GPA + DATA, .cdw10 = 1 };
	run_ok(&g_admin, &id);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_enable_ready, each),
		cmocka_unit_test_setup(test_enable_invalid, each),
		cmocka_unit_test_setup(test_shutdown_then_reset, each),
		cmocka_unit_test_setup(test_reset_and_reenable, each),
		cmocka_unit_test_setup(test_suspend_resume, each),
		cmocka_unit_test_setup(test_enable_while_suspended, each),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
