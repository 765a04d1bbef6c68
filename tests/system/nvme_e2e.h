/* nvme_e2e: what its files share (nvme_e2e.c: options, case table, main;
 * nvme_e2e_lib.c: the helpers below; nvme_e2e_AREA.c: the cases of an
 * area). The harness (FAIL, CHECK, REQUIRE, diag, say ...) is tap.h. */
#ifndef OSNAP_TESTS_SYSTEM_NVME_E2E_H
#define OSNAP_TESTS_SYSTEM_NVME_E2E_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/host_mem.h"
#include "host/nvme_host.h"
#include "host/nvme_host_priv.h"	/* the arena's memfd, to map it again */
#include "host/vfio_user_client.h"

#include "nvme_status.h"
#include "pattern.h"
#include "tap.h"

/* ---- options (nvme_e2e.c) ------------------------------------------------------------------ */

enum mode { MODE_TRAP, MODE_MMAP, MODE_SHADOW };

struct nvme_e2e_opts {
	const char *sock;
	enum mode mode;
	/* expectations (NULL / negative: not checked) */
	const char *nqn, *sn, *mn, *uuid, *nguid, *eui64;
	long cntlid;
	int mdts;
	uint64_t nsze, nsze2;
	uint32_t lba;
	uint32_t nsid, nsid2, inactive;
	int mqes;
	int fw_slots;
	int compare_write;
	int64_t nn;
	uint32_t seed;
};

extern struct nvme_e2e_opts O;

/* ---- NVMe statuses ------------------------------------------------------------------------ */

/* st_str and check_csts_ok: nvme_status.h */

/* Compare SCT and SC (not DNR/More/CRD) with the expected ones. */
bool st_is(int st, unsigned sct, unsigned sc);

#define EXPECT_ST(expr, sct, sc) do { int st_ = (expr); if (!st_is(st_, (sct), (sc))) \
	FAIL("%s: %s, want SCT %d SC 0x%02x", #expr, st_str(st_), (sct), (sc)); } while (0)
#define EXPECT_OK(expr) EXPECT_ST(expr, 0, 0)

/* ---- opening the controller ------------------------------------------------------------- */

/* The fd-less range every connection maps (see nvme_host_opts.rom_size). */
#define ROM_IOVA	0xfffc0000ull
#define ROM_SIZE	0x40000u

struct open_opts {
	uint16_t queues;
	bool no_enable;
	bool shadow;		/* force shadow doorbells (trap mode) */
	bool no_shadow;		/* no shadow doorbells, whatever the mode */
	uint32_t depth;
};

/* Connect and (unless oo->no_enable) enable, as --mode says; NULL after a
 * FAIL. oo may be NULL: one I/O queue of 128. */
struct nvme_host *open_ctrl(const struct open_opts *oo);

/* Memory of the arena (FAIL when exhausted); align 0 is 4096. */
void *xalloc(struct nvme_host *h, size_t len, size_t align, uint64_t *iova);

/* The IOVA of a pointer into the arena (FAIL when it is not in it). */
uint64_t iova_of(struct nvme_host *h, const void *p);

/* ---- I/O helpers -------------------------------------------------------------------------- */

/* Synchronous read/write of nlb blocks through the driver; the status. */
int io(struct nvme_host *h, uint16_t qid, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf,
       uint32_t flags);

/* I/O with the data in pieces (PRP or, with NVME_HOST_F_SGL, SGL). */
int io_sg(struct nvme_host *h, uint16_t qid, uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb,
	  const struct nvme_host_sg *sg, unsigned nsg, uint32_t flags);

/* Send a hand-built SQE (CID assigned here) and wait. */
int raw(struct nvme_host *h, uint16_t qid, struct nvme_sqe *sqe, struct nvme_cqe *cqe);

/* A read/write SQE of nlb blocks at slba, no data pointer yet. */
struct nvme_sqe rw_sqe(uint8_t opc, uint32_t nsid, uint64_t slba, uint32_t nlb);

/* The block size (--lba). */
uint32_t bs(void);

/* Write nlb blocks of pattern seed at slba and read them back through a
 * fresh buffer; true when they match. */
bool write_verify(struct nvme_host *h, uint16_t qid, uint32_t nsid, uint64_t slba, uint32_t nlb, uint32_t seed);

/* Read nlb blocks and check them against pattern seed. */
bool read_check(struct nvme_host *h, uint16_t qid, uint32_t nsid, uint64_t slba, uint32_t nlb, uint32_t seed);

/* ---- a minimal admin queue of our own (for states the driver skips) ------------------- */

struct mini {
	struct nvme_host *h;
	struct nvme_sqe *sq;
	struct nvme_cqe *cq;
	uint64_t sq_iova, cq_iova;
	uint16_t depth, tail, head, cid;
	uint8_t phase;
};

/* Wait up to ms for CSTS.RDY == want (-EIO: CFS while waiting for 1). */
int wait_rdy(struct nvme_host *h, bool want, int ms, uint32_t *csts_out);

/* CAP.TO in milliseconds. */
uint32_t cap_to_ms(struct nvme_host *h);

/* Program a 16-entry admin queue and set CC.EN (does not wait). */
int mini_setup(struct nvme_host *h, struct mini *m);

/* One admin command on the mini queue, polled; its status. */
int mini_cmd(struct mini *m, struct nvme_sqe *sqe, struct nvme_cqe *out);

/* CC.EN = 0 and wait for RDY = 0. */
int ctrl_off(struct nvme_host *h);

/* ---- small helpers several areas use ---------------------------------------------------- */

/* Get/Set Features through the driver (dw0: Dword 0 of the completion). */
int getf(struct nvme_host *h, uint8_t fid, uint8_t sel, uint32_t cdw11, uint32_t *dw0);
int setf(struct nvme_host *h, uint8_t fid, uint32_t cdw11, uint32_t *dw0);

/* Identify Controller's KAS (Keep Alive Support, 100 ms units). */
uint16_t id_kas(const struct nvme_id_ctrl *id);

/* Poll queue qid until cmd completes (up to ms): 0, or a negative errno. */
int poll_until(struct nvme_host *h, uint16_t qid, struct nvme_host_cmd *cmd, int ms);

/* A command callback counting completions in the int at cmd->arg. */
void count_done(struct nvme_host_cmd *cmd);

/* An SGL descriptor, and an I/O SQE whose data is that one descriptor. */
struct nvme_sgl_desc sgl(uint8_t type, uint64_t addr, uint32_t len);
struct nvme_sqe sgl_sqe(uint8_t opc, uint64_t lba, uint32_t nlb, struct nvme_sgl_desc d);

/* ---- the cases, by area (their order is the table's, in nvme_e2e.c) ---------------------------- */

/* nvme_e2e_ctrl.c */
void case_bringup(void);
void case_reset_io(void);
void case_shutdown(void);

/* nvme_e2e_admin.c */
void case_identify_ctrl(void);
void case_identify_ns(void);
void case_active_ns_list(void);
void case_ns_descs(void);
void case_logs(void);
void case_firmware(void);

/* nvme_e2e_features.c */
void case_feat_num_queues(void);
void case_feat_arbitration(void);
void case_feat_power(void);
void case_feat_temp(void);
void case_feat_vwc(void);
void case_feat_irq_coalesce(void);
void case_feat_irq_config(void);
void case_feat_async_event(void);
void case_feat_timestamp(void);
void case_feat_host_behavior(void);
void case_feat_kato(void);
void case_keep_alive(void);
void case_feat_save(void);

/* nvme_e2e_queues.c */
void case_queues(void);
void case_cq_backlog(void);
void case_aer_limit(void);
void case_abort(void);
void case_dbbuf(void);
void case_inflight2(void);
void case_bad_doorbells(void);

/* nvme_e2e_io.c */
void case_io_basic(void);
void case_io_align(void);
void case_io_sgl(void);
void case_io_bad(void);

/* nvme_e2e_fused.c */
void case_compare(void);
void case_fused(void);
void case_fused_race(void);

/* nvme_e2e_irq.c */
void case_interrupts(void);
void case_irq_mask(void);

/* nvme_e2e_mem.c */
void case_fdless_memory(void);
void case_remap(void);
void case_remap_live(void);

/* nvme_e2e_driven.c */
void case_io_hold(void);
void case_file_pattern(void);
void case_aen(void);
void case_suspend_probe(void);
void case_suspended_start(void);

#endif
