/* vblk_e2e: what its files share (vblk_e2e.c: options, case table, main;
 * vblk_e2e_lib.c: the helpers below; vblk_e2e_AREA.c: the cases of an
 * area). The harness (FAIL, CHECK, REQUIRE, diag, say ...) is tap.h. */
#ifndef OSNAP_TESTS_SYSTEM_VBLK_E2E_H
#define OSNAP_TESTS_SYSTEM_VBLK_E2E_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* mem_table and unmap_rings re-send the driver's own memory table, which
 * needs the memfds of its regions: the one use of the driver's internals. */
#define VBLK_HOST_INTERNAL
#include "host/host_mem.h"
#include "host/vhost_user_front.h"
#include "host/vfio_user_client.h"
#include "host/virtio_blk_host.h"

#include "pattern.h"
#include "tap.h"

#define SECTOR 512u

/* ---- options (vblk_e2e.c) ------------------------------------------------------------------ */

struct vblk_e2e_opts {
	const char *vhu, *pci;
	int64_t expect_size;	/* bytes; -1 unchecked */
	const char *expect_id;
	bool read_only;
	int queues;		/* the controller's num_queues; 0 unknown (config) */
	int seg_max, size_max, blk_size;	/* -1 unchecked */
	int indirect, in_order, discard, wzeroes;	/* -1 unknown */
	uint32_t seed;
	uint32_t seed2;		/* attach_probe, swap_probe: the second bdev's pattern */
	uint64_t span;		/* attach_probe, swap_probe: sectors read over */
};

extern struct vblk_e2e_opts O;

/* ---- statuses ------------------------------------------------------------------------------ */

/* "OK", "IOERR", "UNSUPP", "untouched" (0xff) or "?". */
const char *st_name(int st);

#define EXPECT_STATUS(got, want, what) do { int g_ = (got), w_ = (want); if (g_ != w_) \
	FAIL("%s: status %d (%s), want %d (%s)", (what), g_, st_name(g_), w_, st_name(w_)); } while (0)

/* ---- opening the device ------------------------------------------------------------------ */

/* Over vhost-user (else virtio-pci over vfio-user), and its name. */
bool is_vhu(void);
const char *tr_name(void);

/* The options every case starts from: base features, event index and
 * indirect descriptors, 256-entry queues, 32 MiB in 2 regions. */
void base_opts(struct vblk_host_opts *o);

/* Open over the transport given; the errno (open_dev: NULL after a FAIL). */
int open_raw(const struct vblk_host_opts *o, struct vblk_host **d);
struct vblk_host *open_dev(const struct vblk_host_opts *o);

/* The controller's queue count (from the options or the device). */
uint16_t ctrl_queues(struct vblk_host *d);

/* Open with every queue of the controller. */
struct vblk_host *open_all(struct vblk_host_opts *o);

/* The capacity in the configuration space, in sectors. */
uint64_t capacity(struct vblk_host *d);

/* Sectors per logical block (BLK_SIZE) */
uint32_t blk_sectors(struct vblk_host *d);

/* Memory of the arena (FAIL when exhausted), and its device address. */
void *xalloc(struct vblk_host *d, size_t len);
uint64_t dev_addr(struct vblk_host *d, const void *p, size_t len);

/* ---- I/O helpers -------------------------------------------------------------------------- */

/* Synchronous request; returns the status byte or a negative errno. */
int rw(struct vblk_host *d, uint16_t q, uint32_t type, uint64_t sector, void *buf, uint32_t len);

/* Write then read back len bytes of the pattern at sector through q. */
bool write_verify(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t len, uint32_t seed);

/* Read len bytes at sector and check them against the pattern. */
bool read_check(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t len, uint32_t seed);

/* Does queue q serve? Write and read back (a read on a read-only device). */
bool serve_ok(struct vblk_host *d, uint16_t q, uint64_t sector, uint32_t seed);

/* ---- asynchronous batches ------------------------------------------------------------------- */

struct areq {
	struct vblk_host_req r;
	int ncomp;			/* completions seen (must end at 1) */
	unsigned *outstanding;
	uint32_t order;			/* completion order (in_order case) */
	uint32_t *order_ctr;
};

/* The completion callback of an areq: counts, orders, and decrements
 * *outstanding. */
void areq_done(struct vblk_host_req *r);

/* Submit reqs[0..n) on queue q with at most depth in flight and wait for
 * all of them (each wait bounded by ms). Returns false on a driver error
 * or timeout (reported). */
bool run_batch(struct vblk_host *d, uint16_t q, struct areq *reqs, unsigned n, unsigned depth, int ms);

/* ---- hand-built requests ------------------------------------------------------------------- */

/* A header, data and status buffer in the arena, with their device addresses. */
struct raw_bufs {
	uint8_t *hdr;		/* 64 bytes */
	uint8_t *data;		/* 16 KiB */
	uint8_t *st;		/* 64 bytes */
	uint64_t hdr_a, data_a, st_a;
};

bool raw_alloc(struct vblk_host *d, struct raw_bufs *b);
void raw_free(struct vblk_host *d, struct raw_bufs *b);

/* The request header: type and sector. */
void set_hdr(struct raw_bufs *b, uint32_t type, uint64_t sector);

/* Submit a raw request (segments s[0..n), or the descriptors desc[0..ndesc)
 * as they are) and wait for it up to ms. 1: used (len in *used_len), 0: not
 * used within ms, < 0: driver error. */
int raw_wait(struct vblk_host *d, uint16_t q, const struct vblk_host_seg *s, unsigned n, bool ind,
	     const struct vring_host_raw *desc, unsigned ndesc, int ms, uint32_t *used_len);

/* A discard / write zeroes (type) of the segments segs[0..n) on q; the
 * status byte or a negative errno. */
int dwz(struct vblk_host *d, uint16_t q, uint32_t type, const struct vh_blk_dwz_seg *segs, unsigned n);

/* ---- the cases, by area (their order is the table's, in vblk_e2e.c) ---------------------------- */

/* vblk_e2e_config.c */
void case_negotiation(void);
void case_config(void);

/* vblk_e2e_io.c */
void case_io_mq(void);

/* vblk_e2e_cmds.c */
void case_flush(void);
void case_get_id(void);
void case_discard(void);
void case_read_only(void);
void case_unsupported(void);
void case_past_capacity(void);

/* vblk_e2e_framing.c */
void case_framing(void);

/* vblk_e2e_malformed.c */
void case_malformed(void);

/* vblk_e2e_notify.c */
void case_event_idx(void);
void case_interrupts(void);
void case_in_order(void);

/* vblk_e2e_mem.c */
void case_mem_table(void);
void case_reconnect(void);

/* vblk_e2e_inflight.c */
void case_inflight_bad_region(void);
void case_inflight_resubmit(void);
void case_inflight_garbage(void);

/* vblk_e2e_suspend.c */
void case_suspend_probe(void);
void case_attach_probe(void);
void case_swap_probe(void);

/* vblk_e2e_driven.c */
void case_nomedia(void);
void case_none_media(void);
void case_unmap_rings(void);
void case_hold(void);
void case_destroyed(void);
void case_file_pattern(void);
void case_pattern_check(void);

#endif
