/* User-space virtio-blk driver: the tests' (and osnap-perf's) virtio-blk
 * client, over two transports:
 * - vhost-user: this process is the front end (it owns the virtqueues in
 *   memfd memory and hands the back end the memory table, rings and
 *   kick/call eventfds);
 * - vfio-user: a modern virtio-pci function (common/notify/ISR/device
 *   configuration structures found through the vendor capabilities, MSI-X
 *   eventfds).
 * Written from the virtio 1.2 specification, QEMU's vhost-user.rst and the
 * vfio-user protocol only; it includes nothing from src/emu, src/nvme or
 * src/virtio_blk.
 *
 * Conventions for every function below unless its comment says otherwise:
 * - Return 0 (or a documented count) on success, or a negative errno.
 * - Threading: one thread per queue. Everything that takes a queue index
 *   (submit, poll, wait, rw, kick, vring access) is used by one thread at
 *   a time per queue; different queues may run on different threads in
 *   parallel. The memory arena (vblk_host_alloc/free) and the vfio-user
 *   socket are locked inside. Open, close, read_config, stop_queue and the
 *   transport accessors are "control": one thread, with no queue thread
 *   running for close.
 * - Memory: request data lives in the driver's shared memory arena
 *   (vblk_host_alloc()); vblk_host_rw() also accepts ordinary memory and
 *   bounces it through the arena.
 * - A synchronous request that times out is abandoned: its descriptors stay
 *   in flight until the device uses them (the late completion is dropped)
 *   or until close. */
#ifndef OSNAP_HOST_VIRTIO_BLK_HOST_H
#define OSNAP_HOST_VIRTIO_BLK_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/virtio_host_spec.h"
#include "host/virtio_ring_host.h"

struct vblk_host;
struct vhu_front;
struct vfu_client;

/* Features this driver can use (virtio bit numbers). The ring features
 * (INDIRECT_DESC, EVENT_IDX) are used only when the caller asks for them in
 * opts->features. */
#define VBLK_HOST_FEATURES_BASE \
	(VH_BIT(VH_F_VERSION_1) | VH_BIT(VH_BLK_F_SIZE_MAX) | VH_BIT(VH_BLK_F_SEG_MAX) | \
	 VH_BIT(VH_BLK_F_BLK_SIZE) | VH_BIT(VH_BLK_F_FLUSH) | VH_BIT(VH_BLK_F_TOPOLOGY) | \
	 VH_BIT(VH_BLK_F_MQ) | VH_BIT(VH_BLK_F_DISCARD) | VH_BIT(VH_BLK_F_WRITE_ZEROES) | \
	 VH_BIT(VH_BLK_F_RO))
#define VBLK_HOST_FEATURES_KNOWN \
	(VBLK_HOST_FEATURES_BASE | VH_BIT(VH_F_RING_INDIRECT_DESC) | VH_BIT(VH_F_RING_EVENT_IDX))

/* ---- options ------------------------------------------------------------------------- */

enum vblk_host_irq {
	VBLK_HOST_IRQ_AUTO = 0,	/* interrupts (call / MSI-X eventfds) where possible */
	VBLK_HOST_IRQ_POLL,	/* no interrupts: completions are polled */
	VBLK_HOST_IRQ_REQUIRED,	/* fail the open when a queue cannot get an interrupt */
};

/* Options of the open functions. Zero (or a NULL opts) selects each default. */
struct vblk_host_opts {
	uint64_t features;		/* wanted; 0 = VBLK_HOST_FEATURES_BASE. Negotiated =
					 * wanted & offered & KNOWN */
	bool force_features;		/* write `features` as given, even bits not offered or
					 * unknown (negative tests; FEATURES_OK may not stick) */
	uint16_t num_queues;		/* default 1 */
	uint16_t queue_size;		/* default 128 (PCI: capped to the device's maximum) */
	size_t mem_size;		/* bytes per memory region; default 16 MiB */
	uint32_t mem_regions;		/* 1..8 separate memfds; default 1 */
	uint64_t mem_base;		/* device address of region 0; default 0x40000000 */
	uint64_t mem_gap;		/* unmapped hole between regions; default 2 MiB */
	uint32_t max_segments;		/* data descriptors per request; default
					 * min(seg_max (SEG_MAX) or 128, queue_size - 2);
					 * may exceed seg_max (negative tests) */
	uint32_t seg_bytes;		/* split data into descriptors of at most this; default
					 * size_max when SIZE_MAX is negotiated, else no split */
	bool direct_only;		/* never use indirect tables even when negotiated */
	enum vblk_host_irq irq;
	bool inflight;			/* vhost-user: GET/SET_INFLIGHT_FD when offered */
	uint64_t protocol_features;	/* vhost-user: wanted; 0 = MQ | REPLY_ACK | CONFIG |
					 * RESET_DEVICE (| INFLIGHT_SHMFD with inflight) */
	uint16_t ring_start;		/* vhost-user: first avail/used idx and VRING_BASE */
	int timeout_ms;			/* synchronous requests; default 5000 */
	int ctrl_timeout_ms;		/* vhost-user / vfio-user round trips; default 5000 */
};

/* ---- lifetime ------------------------------------------------------------------------- */

/* Connect to the vhost-user back end at path and bring the device up:
 * GET_FEATURES (F_PROTOCOL_FEATURES required), GET/SET_PROTOCOL_FEATURES
 * (CONFIG required), GET_QUEUE_NUM (with MQ), GET_CONFIG (60 bytes),
 * SET_OWNER, SET_FEATURES (negotiated | F_PROTOCOL_FEATURES),
 * SET_MEM_TABLE (one memfd per region, guest_addr = device address,
 * user_addr = our mapping), GET/SET_INFLIGHT_FD (when asked and offered),
 * then per queue SET_VRING_NUM, SET_VRING_BASE, SET_VRING_ADDR (user
 * addresses), SET_VRING_KICK, SET_VRING_CALL (or the no-fd flag when
 * polling), and SET_VRING_ENABLE 1 for every queue. Set messages use
 * REPLY_ACK when negotiated. On success *out owns the connection, memory
 * and eventfds (vblk_host_close()). Control. Errors: the front end's
 * (-ECONNRESET, -ETIMEDOUT, -EPROTO, -EIO for a REPLY_ACK failure),
 * -EOPNOTSUPP (no protocol features, no CONFIG, no VERSION_1), -EINVAL
 * (bad options, more queues than the back end has), -ENOMEM. */
int vblk_host_open_vhost_user(const char *path, const struct vblk_host_opts *opts,
			      struct vblk_host **out);

/* Connect to the vfio-user socket at path and bring the virtio-pci function
 * up: map the memory (DMA_MAP, one per region), enable memory space and
 * bus mastering, check the IDs (0x1af4:0x1042 or 0x1001), walk the vendor
 * capabilities (first of each type with a valid BAR; bounds checked against
 * the region sizes), reset (device_status 0, wait for 0), ACKNOWLEDGE |
 * DRIVER, read device features (select 0 and 1), write the driver
 * features, FEATURES_OK and check it stuck (else FAILED, -ENOTSUP), read
 * the device configuration (natural widths, config_generation retried),
 * MSI-X as a VFIO user drives it (vfu_msix_enable(): MSI-X Enable in
 * config space, eventfds through SET_IRQS, the MSI-X table never written;
 * config vector 0, queue q vector q + 1 when there are enough, else
 * polled), then per
 * queue: queue_select, queue_size (capped, power of 2), msix vector
 * (checked), desc/driver/device addresses, queue_enable; finally
 * DRIVER_OK. Notifications: a posted 16-bit write of the queue index to
 * notify_off + queue_notify_off * notify_off_multiplier. Control. Errors:
 * the vfio-user client's, -ENODEV (not a virtio-blk function, queue
 * unavailable), -EPROTO (malformed capabilities), -ENOTSUP (FEATURES_OK
 * refused), -ETIMEDOUT (reset never completes), -EOPNOTSUPP (no VERSION_1,
 * or IRQ_REQUIRED without vectors). */
int vblk_host_open_pci(const char *path, const struct vblk_host_opts *opts,
		       struct vblk_host **out);

/* Stop the device and release everything: vhost-user: GET_VRING_BASE for
 * every running queue, RESET_DEVICE when negotiated, close; PCI: reset
 * (device_status 0, bounded wait), tear down MSI-X, unmap the memory,
 * close. Requests still in flight complete with result -ECANCELED (their
 * callbacks run here). NULL is allowed. Control; no queue thread may run. */
void vblk_host_close(struct vblk_host *d);

/* ---- information ----------------------------------------------------------------------- */

/* Virtio features the device offered (without the vhost-user bit 30). */
uint64_t vblk_host_device_features(const struct vblk_host *d);
/* Virtio features negotiated (written to the device). */
uint64_t vblk_host_features(const struct vblk_host *d);
/* Queues set up. */
uint16_t vblk_host_num_queues(const struct vblk_host *d);
/* Entries of queue q (0 for a bad q). */
uint16_t vblk_host_queue_size(const struct vblk_host *d, uint16_t q);
/* Data descriptors allowed per request (seg_max, capped by the queue size). */
uint32_t vblk_host_max_segments(const struct vblk_host *d);
/* Whether queue q completes through an interrupt eventfd (else polled). */
bool vblk_host_queue_has_irq(const struct vblk_host *d, uint16_t q);

/* The configuration read at open (valid while d lives). Fields guarded by
 * a feature that was not negotiated are whatever the device reported. */
const struct vh_blk_config *vblk_host_config(const struct vblk_host *d);

/* Read the device configuration again into *cfg (and the cached copy).
 * vhost-user: GET_CONFIG; PCI: the device configuration structure with
 * natural-width reads, retried while config_generation changes. Control. */
int vblk_host_read_config(struct vblk_host *d, struct vh_blk_config *cfg);

/* The device status byte: PCI device_status; vhost-user GET_STATUS (needs
 * the STATUS protocol feature, else -EOPNOTSUPP). Control. */
int vblk_host_device_status(struct vblk_host *d, uint8_t *status);

/* Transport handles for tests that send their own messages; still owned by
 * d. NULL when d uses the other transport. Control. */
struct vhu_front *vblk_host_vhu(struct vblk_host *d);	/* vhost-user front end */
struct vfu_client *vblk_host_vfu(struct vblk_host *d);	/* vfio-user client */

/* The inflight region (vhost-user with INFLIGHT_SHMFD): -ENOENT without. */
int vblk_host_inflight_region(struct vblk_host *d, void **ptr, size_t *size);

/* ---- memory ----------------------------------------------------------------------------- */

/* len bytes (rounded up to 4 KiB pages, zeroed, page aligned) of the shared
 * arena, or NULL when exhausted. Never crosses a region. Thread-safe. */
void *vblk_host_alloc(struct vblk_host *d, size_t len);

/* Release memory from vblk_host_alloc(). NULL is allowed. Thread-safe. */
void vblk_host_free(struct vblk_host *d, void *p);

/* Device-visible address of [p, p + len) (guest-physical for vhost-user,
 * IOVA for PCI): -EFAULT unless the range lies inside one region. */
int vblk_host_dev_addr(const struct vblk_host *d, const void *p, size_t len, uint64_t *addr);

/* Local pointer for the device address range, NULL outside the regions. */
void *vblk_host_ptr(const struct vblk_host *d, uint64_t addr, size_t len);

/* ---- requests ----------------------------------------------------------------------------- */

struct vblk_host_req;
typedef void (*vblk_host_cb)(struct vblk_host_req *r);

/* An asynchronous request. Set the inputs, submit; the driver owns it until
 * its callback ran (on the queue's thread, from poll/wait/close). */
struct vblk_host_req {
	/* inputs */
	uint32_t type;		/* VH_BLK_T_*, or any value for negative tests */
	uint32_t ioprio;
	uint64_t sector;
	void *buf;		/* data in the arena; NULL with len 0 */
	uint32_t len;		/* IN, GET_ID (and GET_LIFETIME) data is device-writable,
				 * every other type's data device-readable */
	vblk_host_cb cb;	/* may be NULL */
	void *arg;
	/* outputs, valid in the callback */
	int result;		/* 0 the device used it, -ECANCELED (close) */
	uint8_t status;		/* status byte the device wrote; 0xff untouched (raw: 0xff) */
	uint32_t used_len;	/* used-ring length (data written + 1 for the status) */
	uint16_t head;		/* descriptor head it got (for tests) */
};

/* Build and add request r to queue q without notifying the device:
 * header (16 bytes, device-readable), data split by seg_bytes, status byte
 * (device-writable, last); through an indirect table when negotiated, not
 * disabled and the chain has more than one descriptor. -EINVAL (bad queue,
 * len with NULL buf), -EFAULT (buf not in the arena), -E2BIG (more data
 * descriptors than max_segments), -ENOSPC (ring full), -ESHUTDOWN (queue
 * stopped). Queue thread. */
int vblk_host_queue_req(struct vblk_host *d, uint16_t q, struct vblk_host_req *r);

/* Publish what was queued and notify the device when it asks for it.
 * Queue thread. */
int vblk_host_kick(struct vblk_host *d, uint16_t q);

/* vblk_host_queue_req() then vblk_host_kick(). When the kick fails the
 * request is still in flight (its error is returned). Queue thread. */
int vblk_host_submit(struct vblk_host *d, uint16_t q, struct vblk_host_req *r);

/* One segment of a raw request, in the order given. */
struct vblk_host_seg {
	uint64_t addr;		/* device address (vblk_host_dev_addr), or anything */
	uint32_t len;
	bool write;		/* device-writable */
};

/* Add a raw request built exactly from segs (any order of readable and
 * writable, any lengths; indirect: one ring descriptor pointing at the
 * head's indirect table, needs INDIRECT_DESC negotiated) and kick. The
 * callback gets used_len; status is 0xff. Queue thread. */
int vblk_host_submit_raw(struct vblk_host *d, uint16_t q, const struct vblk_host_seg *segs,
			 unsigned n, bool indirect, struct vblk_host_req *r);

/* Add n raw descriptors (see vring_host_add_raw()) and kick: loops,
 * out-of-range next, INDIRECT with odd lengths or nested, addresses outside
 * the memory. The callback runs if the device ever uses the head. Queue
 * thread. */
int vblk_host_submit_desc(struct vblk_host *d, uint16_t q, const struct vring_host_raw *desc,
			  unsigned n, struct vblk_host_req *r);

/* Consume up to max (0: all) used entries of queue q and run their
 * callbacks. Returns the number of requests completed (>= 0), or -EPROTO
 * when the device's used index is impossible. Used entries naming no chain
 * in flight are counted in the queue stats and skipped. Queue thread. */
int vblk_host_poll(struct vblk_host *d, uint16_t q, unsigned max);

/* Poll; when nothing completed, sleep on the queue's interrupt eventfd
 * (after re-enabling used-buffer notifications) or, without interrupts,
 * poll in short sleeps, until at least one request completes or
 * timeout_ms (< 0: opts timeout) passes. Returns the number completed
 * (> 0), -ETIMEDOUT, or poll's error. Queue thread. */
int vblk_host_wait(struct vblk_host *d, uint16_t q, int timeout_ms);

/* Requests in flight on q. */
unsigned vblk_host_inflight(const struct vblk_host *d, uint16_t q);

/* Synchronous request: submit type/sector/buf/len on q and wait for it
 * (opts timeout). buf may be ordinary memory (bounced). Returns 0 with
 * *status (may be NULL) set to the device's status byte, or a negative
 * errno (-ETIMEDOUT: abandoned, see above). Queue thread. */
int vblk_host_rw(struct vblk_host *d, uint16_t q, uint32_t type, uint64_t sector, void *buf,
		 uint32_t len, uint8_t *status);

/* GET_ID: the 20-byte serial into id (NUL-terminated, so 21 bytes). 0, a
 * negative errno, or -EIO when the device answered with a status other
 * than OK. Queue thread. */
int vblk_host_get_id(struct vblk_host *d, uint16_t q, char id[VH_BLK_ID_BYTES + 1]);

struct vblk_host_qstats {
	uint64_t submitted, completed, kicks, notifies_skipped, irqs, bad_used;
};

/* Counters of queue q. Queue thread (or after it stopped). */
void vblk_host_qstats(const struct vblk_host *d, uint16_t q, struct vblk_host_qstats *st);

/* ---- queues, low level (tests) ------------------------------------------------------------ */

/* The ring of queue q, for writing raw avail entries or descriptors
 * directly (vring_host_add_raw_head(), vring_host_publish(), ...). Queue
 * thread. */
struct vring_host *vblk_host_vring(struct vblk_host *d, uint16_t q);

/* vhost-user: GET_VRING_BASE (stops the ring) into *base; later submits on
 * q return -ESHUTDOWN; requests in flight stay so until close. PCI:
 * -EOPNOTSUPP. Control (the queue's thread must be idle). */
int vblk_host_stop_queue(struct vblk_host *d, uint16_t q, uint32_t *base);

/* ===== internal: shared by virtio_blk_host.c and virtio_pci_host.c ======================== */
#ifdef VBLK_HOST_INTERNAL

#include <pthread.h>

struct host_mem;
struct vblk_pci;

struct vblk_region {
	struct host_mem *m;
	uint64_t dev_addr;	/* guest-physical / IOVA of m->ptr */
	size_t pages;
	uint32_t *alloc;	/* per page: pages of the allocation starting here, 0 */
	uint8_t *used;		/* per page: 1 when allocated */
};

struct vblk_slot {
	struct vblk_host_req *req;	/* NULL when abandoned */
	void *bounce;			/* arena memory to free at completion */
	bool raw;
};

struct vblk_queue {
	struct vblk_host *d;
	uint16_t index;
	uint16_t size;
	struct vring_host vq;
	void *area;			/* ring, headers, status bytes (arena) */
	struct vh_blk_req_hdr *hdrs;	/* one per head */
	uint64_t hdrs_addr;
	uint8_t *status;		/* one per head */
	uint64_t status_addr;
	struct vblk_slot *slots;	/* one per head */
	struct vring_host_buf *bufs;	/* scratch for building a chain */
	int kick_fd;			/* vhost-user kick eventfd, -1 */
	int irq_fd;			/* call / MSI-X eventfd, -1 when polled */
	uint16_t msix_vector;		/* PCI */
	uint64_t notify_off;		/* PCI: offset in the notify BAR */
	bool live;			/* set up on the device */
	bool stopped;
	struct vblk_host_qstats st;
};

enum vblk_transport { VBLK_TR_VHOST_USER, VBLK_TR_PCI };

struct vblk_host {
	enum vblk_transport tr;
	struct vblk_host_opts opts;	/* defaults filled in */
	uint64_t dev_features, features;
	struct vh_blk_config config;
	struct vblk_region regions[8];
	uint32_t nregions;
	pthread_mutex_t mem_lock;
	uint32_t alloc_rr;		/* spreads allocations over the regions; mem_lock */
	struct vblk_queue *queues;
	uint16_t nq;
	uint32_t max_segments, seg_bytes, indirect_max;
	/* transport hooks */
	int (*notify)(struct vblk_host *d, struct vblk_queue *q);
	int (*read_config)(struct vblk_host *d, struct vh_blk_config *cfg);
	int (*device_status)(struct vblk_host *d, uint8_t *status);
	void (*shutdown)(struct vblk_host *d);	/* stop the device, close the transport */
	/* vhost-user */
	struct vhu_front *vhu;
	uint64_t vhu_pf;
	int inflight_fd;
	void *inflight;
	size_t inflight_size;
	/* PCI */
	struct vblk_pci *pci;
};

/* Allocate d with opts' defaults filled in and the memory regions created
 * (not yet shared with the device). */
int vblk_host_core_new(enum vblk_transport tr, const struct vblk_host_opts *opts,
		       struct vblk_host **out);

/* Features to write, from what the device offers (opts, KNOWN mask). */
uint64_t vblk_host_core_select_features(const struct vblk_host *d, uint64_t offered);

/* After features and config are known: check the queue count against
 * device_max (0: no limit besides the config) and compute the segment
 * limits. -EINVAL for too many queues. */
int vblk_host_core_limits(struct vblk_host *d, uint32_t device_max_queues);

/* Set up queue q's memory and ring (size entries, first idx start). */
int vblk_host_core_queue_init(struct vblk_host *d, uint16_t q, uint16_t size, uint16_t start);

/* Free everything d owns except the transport (called last by close and by
 * failed opens). Requests in flight get -ECANCELED. */
void vblk_host_core_free(struct vblk_host *d);

#endif /* VBLK_HOST_INTERNAL */

#endif
