/* test_virtio_host: what its files share: the fakes (their state is read by
 * the cases) and the case functions, by file. */
#ifndef OSNAP_TESTS_UNIT_TEST_VIRTIO_HOST_H
#define OSNAP_TESTS_UNIT_TEST_VIRTIO_HOST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "host/vfio_user_proto.h"
#include "host/vhost_user_front.h"
#include "host/virtio_blk_host.h"
#include "host/virtio_ring_host.h"

#include "fake_wire.h"

/* ==== the fake device: rings and virtio-blk requests in shared memory ===================== */

#define FD_SECTORS	8192u		/* 4 MiB disk */
#define FD_SERIAL	"osnap-fake-serial-01"	/* exactly 20 bytes: no NUL */
#define FD_MAXSEG	300

struct fdev {
	struct {
		uint64_t addr, size;
		uint8_t *ptr;
	} map[8];
	int nmap;
	uint8_t *disk;
	bool event_idx;
	atomic_int n_req, n_indirect, n_bad, max_descs, n_calls;
	uint16_t last_flags[8];		/* flags of the last chain's descriptors */
	atomic_int last_n;
	atomic_int delay_ms;		/* wait before serving a notification */
	uint8_t *rbuf;			/* device-readable bytes of one request */
};

#define FD_RBUF ((1u << 20) + 64)

struct fring {
	uint32_t num;
	uint8_t *desc, *avail, *used;
	uint16_t last_avail, used_idx;
	int call;
	bool ready;
};

struct fseg {
	uint8_t *p;
	uint32_t len;
	bool w;
};

/* ==== fake vhost-user-blk back end ========================================================== */

enum fb_fault {
	FB_OK = 0,
	FB_CLOSE,	/* close the socket when fault_req arrives */
	FB_SILENT,	/* never answer fault_req */
	FB_WRONG_REQ,	/* answer fault_req with another request code */
	FB_NO_REPLY_FLAG, /* answer without the reply flag */
	FB_HUGE,	/* answer with a header announcing 1 MiB */
	FB_NACK,	/* REPLY_ACK status 1 */
	FB_EMPTY,	/* answer with an empty payload */
	FB_BAD_INDEX,	/* GET_VRING_BASE answers another index */
};

#define FB_NQ 8

struct fb {
	char dir[64], path[128];
	int lfd;
	atomic_int fd;		/* set by the fake's thread (accept) */
	pthread_t th;
	atomic_bool stop;
	/* behaviour */
	uint64_t features, pf, queue_num;
	uint32_t fault_req;
	enum fb_fault fault;
	uint8_t config[60];
	/* device */
	struct fdev v;
	struct {
		uint64_t gpa, size, uva;
		uint8_t *base;		/* mapping of the fd from offset 0 */
		size_t maplen;
	} reg[8];
	int nreg;
	struct fring r[FB_NQ];
	int kick[FB_NQ];
	bool enabled[FB_NQ];
	uint32_t base[FB_NQ];
	/* observations */
	uint64_t acked_features, acked_pf;
	bool got_owner, call_nofd[FB_NQ];
	atomic_int need_reply_seen, errors, nmsg;
	uint32_t log[256];
	char err[160];
	int inflight_fd;
	uint64_t inflight_size;
	bool got_set_inflight, got_reset;
};

/* ==== fake virtio-pci block function over vfio-user ======================================== */

#define FP_NQ		4
#define FP_NVEC		5		/* config + 4 queues */
#define FP_BAR1		0x1000u		/* MSI-X table at 0, PBA at 0x800 */
#define FP_BAR4		0x4000u
#define FP_COMMON	0x0000u
#define FP_ISR		0x1000u
#define FP_DEVCFG	0x2000u
#define FP_NOTIFY	0x3000u
#define FP_MULT		4u

enum fp_fault {
	FP_OK = 0,
	FP_REFUSE_FEATURES,	/* FEATURES_OK never sticks */
	FP_CAP_LOOP,		/* the capability list loops */
	FP_NOTIFY_OUTSIDE,	/* notify structure beyond BAR4 */
	FP_NO_VECTORS,		/* queue vector mapping refused */
	FP_SMALL_QUEUES,	/* queue_size maximum 16 */
};

struct fp {
	char dir[64], path[128];
	int lfd;
	atomic_int fd;		/* set by the fake's thread (accept) */
	pthread_t th;
	atomic_bool stop;
	enum fp_fault fault;
	uint8_t cfg[256];
	uint8_t bar1[FP_BAR1];
	uint8_t devcfg[60];
	int efd[FP_NVEC];
	bool vmask[FP_NVEC];		/* SET_IRQS ACTION_MASK state (VFIO level) */
	struct fdev v;
	/* common configuration state */
	uint64_t dev_features, drv_features;
	uint32_t dfselect, gfselect;
	uint16_t msix_config, qsel;
	uint8_t status, generation;
	struct {
		uint16_t size, msix, enable;
		uint64_t desc, avail, used;
	} q[FP_NQ];
	struct fring r[FP_NQ];
	/* observations */
	atomic_int posted_notifies, nonposted_notifies, config_reads;
	atomic_int table_writes;	/* REGION_WRITEs into the MSI-X table (BAR1) */
	atomic_bool hold_q0;		/* ignore notifications of queue 0 */
	bool saw_failed;
	uint8_t *rx;
};

/* ---- the device side both fakes share (test_virtio_host_fdev.c) ---- */

/* The host address of device address a (len bytes), or NULL. */
uint8_t *fd_xlate(struct fdev *v, uint64_t a, uint64_t len);
/* Serve every available chain of r, then publish avail_event and re-check
 * (so a kick suppressed by a stale avail_event cannot be lost). */
void fd_process(struct fdev *v, struct fring *r);
/* n bytes of a pattern of seed. */
void fill(uint8_t *p, size_t n, uint32_t seed);

/* ---- the fake vhost-user-blk back end (test_virtio_host_fake_vu.c) ---- */

/* A fake listening on f->path; its thread starts with fb_run. */
struct fb *fb_start(void);
void fb_run(struct fb *f);
void fb_stop(struct fb *f);
/* Fail the test when the fake saw a protocol error. */
void fb_check(struct fb *f);
/* vblk_host_open_vhost_user on the fake; fails the test on error. */
struct vblk_host *fb_open(struct fb *f, struct vblk_host_opts *o);

/* ---- the fake virtio-pci function (test_virtio_host_fake_pci.c) ---- */

/* A fake listening on f->path, served by a thread, failing as fault says. */
struct fp *fp_start(enum fp_fault fault);
void fp_stop(struct fp *f);

/* ---- asynchronous I/O (test_virtio_host_async.c) ---- */

#define AQ_DEPTH	32
#define AQ_TOTAL	400

/* nq queues, one thread each, AQ_DEPTH requests in flight per queue,
 * AQ_TOTAL requests a queue. */
void run_async(struct vblk_host *d, uint16_t nq);

/* ---- the cases (test_virtio_host_AREA.c) ---- */

/* ring */
void test_ring_layout(void **state);
void test_ring_add_publish_used(void **state);
void test_ring_free_list(void **state);
void test_ring_wrap(void **state);
void test_ring_event_idx(void **state);
void test_ring_used_event(void **state);
void test_ring_indirect(void **state);
void test_ring_raw_and_bad_used(void **state);
void test_ring_drain(void **state);

/* vu_io */
void test_vu_handshake_and_io(void **state);
void test_vu_async_multiqueue(void **state);
void test_vu_ring_wrap(void **state);

/* vu_requests */
void test_vu_raw_requests(void **state);
void test_vu_request_limits(void **state);
void test_vu_inflight(void **state);
void test_vu_faults(void **state);
void test_vu_front_raw(void **state);

/* pci */
void test_pci_open_io(void **state);
void test_pci_async_threads(void **state);
void test_pci_faults(void **state);
void test_pci_timeout_abandon(void **state);

#endif
