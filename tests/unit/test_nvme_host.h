/* test_nvme_host: what its files share: the fake NVMe controller (its
 * state is read by the cases) and the case functions, by file. */
#ifndef OSNAP_TESTS_UNIT_TEST_NVME_HOST_H
#define OSNAP_TESTS_UNIT_TEST_NVME_HOST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "host/nvme_host.h"
#include "host/nvme_host_priv.h"
#include "host/nvme_host_ring.h"
#include "host/vfio_user_client.h"
#include "host/vfio_user_proto.h"

#include "fake_wire.h"

#define PG 4096u

/* ==== the fake NVMe controller over vfio-user ============================================ */

#define FK_BAR0		0x2000u
#define FK_BAR4		0x1000u		/* MSI-X table at 0, PBA at 0x800 */
#define FK_NQ		4		/* admin + 3 I/O queues */
#define FK_NVEC		4
#define FK_BLOCKS	8192u		/* 512-byte blocks: 4 MiB */
#define FK_MQES		255u
#define FK_VENDOR_HANG	0xc0		/* admin opcode the fake never completes */
#define FK_VENDOR_BADCID 0xc1		/* I/O opcode completed with a wrong CID */

struct fk_q {
	bool live;
	uint64_t iova;
	uint32_t size;
	uint32_t ptr;		/* SQ head / CQ tail */
	uint32_t db;		/* SQ tail / CQ head from the host */
	uint16_t cqid, iv;
	uint8_t phase;
	bool ien;
};

struct fk {
	char dir[64], path[128];
	int lfd;
	atomic_int fd;		/* set by the fake's thread (accept) */
	pthread_t th;
	atomic_bool stop;
	/* configuration */
	bool mmap_db;
	uint32_t sgls;
	uint16_t oacs;
	/* device */
	int bar_fd;
	uint8_t *bar0;
	uint8_t cfg[256];
	uint8_t bar4[FK_BAR4];
	int efd[FK_NVEC];
	bool vmask[FK_NVEC];		/* SET_IRQS ACTION_MASK state (VFIO level) */
	/* SET_IRQS messages of the MSI-X index, in order */
	int n_irq_set;
	struct {
		uint32_t flags, start, count;
		int nfds;
	} irq_set[32];
	atomic_int n_table_writes;	/* REGION_WRITEs that touched the MSI-X table */
	struct {
		uint64_t iova, size;
		uint8_t *va;
	} map[4];
	int nmap;
	int n_fdless_map, n_fdless_unmap;	/* DMA_MAP without an fd, and its unmaps */
	uint64_t fdless_iova, fdless_size;
	uint32_t fdless_flags;
	struct fk_q sq[FK_NQ], cq[FK_NQ];
	uint8_t *disk;
	int aer_cid;
	atomic_bool aer_fire;
	/* shadow doorbells */
	uint64_t shadow_iova, ei_iova;
	/* observations */
	atomic_int n_irq, n_sgl, n_prp_chain, n_trapped_db, n_shadow_used;
	uint8_t *rx;
};

/* ---- the fake's device side (test_nvme_host_fake.c) ---- */

/* After an unmask: deliver the pending vectors that can fire now. */
void fk_deliver_pending(struct fk *f);
/* Post a completion of status st on CQ cqid (its interrupt when enabled). */
void fk_post(struct fk *f, uint16_t cqid, uint16_t sqid, uint16_t cid, int st, uint32_t dw0);
/* The host wrote CC: enable, reset or shut down. */
void fk_cc_write(struct fk *f);
/* A doorbell write (index idx of the doorbell array): process the SQ. */
void fk_doorbell(struct fk *f, uint32_t idx, uint32_t val);
/* Shadow doorbells: take the SQ tails from the shadow page (and publish EventIdx). */
void fk_scan_shadow(struct fk *f);
/* Mmapped doorbells: take the SQ tails from the BAR page. */
void fk_scan_mmap(struct fk *f);

/* ---- the fake's vfio-user side (test_nvme_host_fake_vfu.c) ---- */

/* Start the fake on a socket of its own (f->path), served by a thread. */
struct fk *fk_start(bool mmap_db, uint32_t sgls, uint16_t oacs);
void fk_stop(struct fk *f);
/* nvme_host_open on the fake (o NULL: defaults); fails the test on error. */
struct nvme_host *open_fk(struct fk *f, struct nvme_host_opts *o);
/* n bytes of a pattern of seed. */
void fill(uint8_t *p, size_t n, uint32_t seed);

/* ---- the cases (test_nvme_host_AREA.c) ---- */

/* builders */
void test_prp_one_and_two_pages(void **state);
void test_prp_list(void **state);
void test_prp_list_chain(void **state);
void test_prp_pieces(void **state);
void test_sgl_single_and_three(void **state);
void test_sgl_segments_chain(void **state);

/* rings */
void test_cq_phase_wrap(void **state);
void test_sq_ring(void **state);
void test_need_event(void **state);
void test_ns_desc_find(void **state);
void test_arena(void **state);

/* e2e_io */
void test_e2e_open_identify(void **state);
void test_e2e_rw_prp(void **state);
void test_e2e_sgl(void **state);
void test_e2e_async_32(void **state);
void test_e2e_two_threads(void **state);

/* e2e_ctrl */
void test_e2e_raw_and_timeout(void **state);
void test_e2e_admin(void **state);
void test_e2e_rom_map(void **state);

/* e2e_doorbells */
void test_e2e_mmap_doorbells(void **state);
void test_e2e_shadow_doorbells(void **state);
void test_e2e_irq_mask(void **state);
void test_e2e_deferred_doorbell(void **state);

#endif
