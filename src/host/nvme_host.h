/* User-space NVMe driver over vfio-user: the tests' (and osnap-perf's) NVMe
 * host. Written from the NVM Express Base Specification 1.4 and the vfio-user
 * protocol only; it includes nothing from src/emu, src/nvme or src/virtio_blk.
 *
 * Conventions for every function below unless its comment says otherwise:
 * - Functions that run an NVMe command return the command's status (>= 0:
 *   0 is success, otherwise (CQE DW3 >> 17) & 0x7fff, i.e. SC in bits 7:0,
 *   SCT in 10:8, CRD 12:11, More 13, DNR 14; see NVME_STATUS_* in
 *   nvme_host_spec.h) or a negative errno when the command could not be
 *   run or did not complete (-ETIMEDOUT, -ENOTCONN, -ENOMEM, ...).
 *   Other functions return 0 or a negative errno.
 * - Threading: one thread per queue pair. The admin queue and every
 *   function documented as "admin" (identify, features, queue management,
 *   reset, shutdown, AER, namespace refresh) are used from one thread at a
 *   time; an I/O queue pair (submit/poll/wait/rw on one qid) from one thread
 *   at a time; different queue pairs may run on different threads in
 *   parallel. The arena allocator and the vfio-user socket are shared and
 *   locked inside. nvme_host_reset(), nvme_host_shutdown() and
 *   nvme_host_close() require that no other thread uses the handle.
 * - Data buffers of commands live in the handle's guest-memory arena
 *   (nvme_host_alloc()); the admin helpers also take ordinary memory and
 *   bounce it through the arena.
 * - A synchronous command that times out is abandoned: its command
 *   identifier stays reserved until the controller completes it (the late
 *   completion is then dropped), or until reset/close. */
#ifndef OSNAP_HOST_NVME_HOST_H
#define OSNAP_HOST_NVME_HOST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "host/nvme_host_spec.h"

struct nvme_host;
struct vfu_client;

/* ---- options ------------------------------------------------------------------- */

enum nvme_host_db_mode {
	NVME_HOST_DB_AUTO = 0,	/* mmap the doorbells when BAR0 offers them, else trap */
	NVME_HOST_DB_TRAP,	/* always posted REGION_WRITE messages */
	NVME_HOST_DB_MMAP,	/* require mmap-able doorbells (-EOPNOTSUPP otherwise) */
};

enum nvme_host_irq_mode {
	NVME_HOST_IRQ_AUTO = 0,	/* MSI-X when the function has it, polled otherwise */
	NVME_HOST_IRQ_OFF,	/* no MSI-X setup, I/O CQs created with IEN = 0 */
	NVME_HOST_IRQ_REQUIRED,	/* fail the open when MSI-X cannot be set up */
};

/* Options of nvme_host_open(). Zero (or a NULL opts) selects each default. */
struct nvme_host_opts {
	size_t mem_size;		/* guest memory arena bytes; default 64 MiB */
	uint64_t iova_base;		/* its IOVA, 4 KiB aligned; default 0x10000000 */
	uint16_t nr_io_queues;		/* I/O queue pairs wanted; default 1 */
	uint32_t io_depth;		/* entries per I/O SQ/CQ; default 128, capped to MQES+1 */
	uint32_t admin_depth;		/* admin SQ/CQ entries; default 32, capped to MQES+1, 4096 */
	uint32_t max_xfer;		/* largest data transfer per command (bytes); default
					 * 1 MiB, capped to MDTS; sizes the PRP list pages */
	int admin_timeout_ms;		/* synchronous admin commands; default 5000 */
	int io_timeout_ms;		/* synchronous I/O (nvme_host_rw); default 5000 */
	int vfu_timeout_ms;		/* vfio-user round trips; default the client's */
	enum nvme_host_db_mode doorbells;
	enum nvme_host_irq_mode irq;
	bool shadow_doorbells;		/* Doorbell Buffer Config when OACS bit 8 is set */
	size_t rom_size;		/* when non-zero: also DMA_MAP this many bytes (4 KiB
					 * multiple) read-only without a file descriptor at
					 * rom_iova, as QEMU maps a VM's firmware ROM, so the
					 * controller has memory in its map it cannot reach;
					 * unmapped at close */
	uint64_t rom_iova;		/* 4 KiB aligned; default 0xfffc0000 (the PC BIOS ROM) */
	bool no_enable;			/* stop after PCI/MSI-X setup: the controller is left
					 * as found; call nvme_host_enable() */
};

/* ---- lifetime ------------------------------------------------------------------- */

/* Connect to the vfio-user socket at path and bring the controller up:
 * guest memory arena (memfd) DMA-mapped at opts->iova_base (and the
 * fd-less ROM range when opts->rom_size asks for it; -EINVAL when it
 * overlaps the arena); BAR0 region info
 * and, when allowed, the doorbell page mapped; PCI Memory Space + Bus Master
 * enabled; MSI-X enabled as a VFIO user does it (config-space MSI-X Enable,
 * one eventfd per vector through SET_IRQS, the MSI-X table never written;
 * vector 0 admin, vector i I/O queue i); then nvme_host_enable() unless
 * opts->no_enable.
 * On success *out owns the connection, the memory and the eventfds
 * (release with nvme_host_close()). Admin. Returns 0 or a negative errno
 * (vfio-user errors as returned by the client, -EOPNOTSUPP for a controller
 * without the NVM command set or 4 KiB pages, -ETIMEDOUT when CSTS.RDY does
 * not follow CC.EN within CAP.TO, -EIO for CSTS.CFS, or the NVMe status of
 * a failed initialization command turned into -EIO). */
int nvme_host_open(const char *path, const struct nvme_host_opts *opts, struct nvme_host **out);

/* Controller initialization (spec 7.6.1): read CAP/VS; when the controller
 * is enabled, disable it (CC.EN = 0, wait CSTS.RDY = 0 within CAP.TO); set
 * AQA/ASQ/ACQ; CC = EN | CSS NVM | MPS 4 KiB | IOSQES 6 | IOCQES 4; wait
 * CSTS.RDY = 1 (CSTS.CFS: -EIO); Identify Controller (kept, see
 * nvme_host_id_ctrl()); Set Features Number of Queues; Doorbell Buffer
 * Config when asked and supported; create the I/O queue pairs (CQ with
 * IEN and its vector when interrupts are on, SQ bound to it); scan the
 * active namespaces. Commands still in flight are cancelled first
 * (result -ECANCELED). Admin; no other thread may use h meanwhile. Returns
 * 0 or a negative errno as nvme_host_open(). */
int nvme_host_enable(struct nvme_host *h);

/* Normal shutdown (spec 7.6.2): delete the I/O SQs then CQs, set CC.SHN to
 * 01b and wait for CSTS.SHST = 10b (bounded by RTD3E, or 5 s when it is 0).
 * Afterwards only nvme_host_reset()/nvme_host_enable() and nvme_host_close()
 * are useful (others return -ESHUTDOWN). Admin. Returns 0, -ETIMEDOUT, or
 * the first error met (the shutdown notification is sent regardless). */
int nvme_host_shutdown(struct nvme_host *h);

/* Controller reset: CC.EN = 0, wait CSTS.RDY = 0, then nvme_host_enable()
 * with the same options (queues re-created at the same sizes). In-flight
 * commands are completed with result -ECANCELED. Admin. */
int nvme_host_reset(struct nvme_host *h);

/* Disable the controller (CC.EN = 0, bounded wait) so that it stops using
 * the arena, cancel in-flight commands, tear down the interrupts, unmap
 * the memory and close the connection. NULL is allowed. */
void nvme_host_close(struct nvme_host *h);

/* ---- information ------------------------------------------------------------------ */

/* The Identify Controller data read by the last enable (valid while h lives). */
const struct nvme_id_ctrl *nvme_host_id_ctrl(const struct nvme_host *h);
uint64_t nvme_host_cap(const struct nvme_host *h);	/* CAP as read at enable */
uint32_t nvme_host_vs(const struct nvme_host *h);	/* VS as read at enable */
uint16_t nvme_host_nr_io_queues(const struct nvme_host *h); /* I/O queue pairs created */
uint32_t nvme_host_io_depth(const struct nvme_host *h);	/* entries per I/O queue */
uint32_t nvme_host_max_xfer(const struct nvme_host *h);	/* bytes per command */
bool nvme_host_doorbells_mmapped(const struct nvme_host *h);
bool nvme_host_shadow_doorbells(const struct nvme_host *h); /* DBBC accepted */
bool nvme_host_irq_enabled(const struct nvme_host *h, uint16_t qid);
/* Mask (mask true) or unmask the MSI-X vector of queue qid at the VFIO
 * level (SET_IRQS ACTION_MASK / ACTION_UNMASK, as a VFIO user masks a
 * vector; the MSI-X table is not involved). While masked, the controller's
 * interrupts latch the vector's PBA bit instead of signalling the eventfd;
 * unmasking delivers a latched one. -EINVAL when the queue has no
 * interrupt, -EOPNOTSUPP when the function's MSI-X is not maskable. Any
 * thread (the socket is locked inside). */
int nvme_host_irq_mask(struct nvme_host *h, uint16_t qid, bool mask);
/* The vfio-user client, for tests that send their own messages; still owned
 * by h. Do not use it while another thread uses h. */
struct vfu_client *nvme_host_vfu(struct nvme_host *h);

/* What the driver knows about one active namespace. */
struct nvme_host_ns {
	uint32_t nsid;
	uint64_t nsze, ncap;
	uint32_t lba_size;	/* data bytes per logical block */
	uint16_t ms;		/* metadata bytes per logical block */
	uint32_t block_bytes;	/* bytes per block in a data buffer (lba_size, + ms when extended) */
};

/* Copy the cached description of nsid into *ns: 0, or -ENOENT when nsid was
 * not active at the last scan. Safe from any thread while no
 * nvme_host_ns_refresh() runs. */
int nvme_host_ns_info(const struct nvme_host *h, uint32_t nsid, struct nvme_host_ns *ns);

/* Rescan the active namespaces (Identify CNS 02h, then CNS 00h each). Admin;
 * no I/O thread may run nvme_host_rw()/nvme_host_cmd_rw() meanwhile. */
int nvme_host_ns_refresh(struct nvme_host *h);

/* Per-queue counters. */
struct nvme_host_qstats {
	uint64_t submitted;
	uint64_t completed;
	uint64_t doorbells;		/* real doorbell writes (SQ tail + CQ head) */
	uint64_t doorbells_skipped;	/* skipped thanks to the EventIdx rule */
	uint64_t irqs;			/* eventfd counts consumed */
	uint64_t bad_cqes;		/* unknown CID, wrong SQID, SQHD out of range */
	uint32_t inflight;
};

/* Counters of queue qid (0 admin). -EINVAL for an unknown qid. Call from the
 * queue's thread. */
int nvme_host_queue_stats(const struct nvme_host *h, uint16_t qid, struct nvme_host_qstats *st);

/* ---- registers (BAR0 through REGION_READ/WRITE) --------------------------------- */

/* 32-bit register access at off of BAR0, non-posted; 64-bit registers are
 * accessed as two 32-bit halves, low first (as host drivers do). */
int nvme_host_reg_read32(struct nvme_host *h, uint32_t off, uint32_t *val);
int nvme_host_reg_write32(struct nvme_host *h, uint32_t off, uint32_t val);
int nvme_host_reg_read64(struct nvme_host *h, uint32_t off, uint64_t *val);
int nvme_host_reg_write64(struct nvme_host *h, uint32_t off, uint64_t val);

/* ---- guest memory arena ----------------------------------------------------------- */

/* Allocate len zeroed bytes of guest memory, its IOVA aligned to align (a
 * power of two; at least 64; the pointer shares the alignment up to 4 KiB).
 * *iova (may be NULL) receives the address the controller uses. Returns
 * NULL when the arena is exhausted or the arguments are invalid. Any thread. */
void *nvme_host_alloc(struct nvme_host *h, size_t len, size_t align, uint64_t *iova);

/* Free memory from nvme_host_alloc() (NULL allowed). Any thread. */
void nvme_host_free(struct nvme_host *h, void *p);

/* IOVA of [p, p+len) when it lies in the arena: 0 or -EFAULT. Any thread. */
int nvme_host_iova(const struct nvme_host *h, const void *p, size_t len, uint64_t *iova);

/* The arena as a whole (for tests that craft addresses). */
void *nvme_host_mem_base(const struct nvme_host *h, uint64_t *iova, size_t *size);

/* ---- commands ---------------------------------------------------------------------- */

/* One piece of a data buffer, by IOVA. */
struct nvme_host_sg {
	uint64_t iova;
	uint32_t len;
};

/* Command flags (struct nvme_host_cmd.flags, nvme_host_rw() flags). */
#define NVME_HOST_F_SGL		(1u << 0)	/* describe data with SGLs (PSDT 01b) */
#define NVME_HOST_F_RAW		(1u << 1)	/* send the SQE unchanged, CID included */
#define NVME_HOST_F_FUA		(1u << 2)	/* read/write/compare: Force Unit Access */
#define NVME_HOST_F_LR		(1u << 3)	/* read/write/compare: Limited Retry */
#define NVME_HOST_F_DEAC	(1u << 4)	/* write zeroes: deallocate */
#define NVME_HOST_F_DSM_AD	(1u << 5)	/* dataset management: deallocate */
#define NVME_HOST_F_DPTR	(1u << 6)	/* keep the SQE's PSDT and DPTR as given
						 * (the driver still assigns the CID) */
#define NVME_HOST_F_NO_DB	(1u << 7)	/* put the SQE in the ring but do not publish
						 * the SQ tail: the next submission on the
						 * queue without this flag (or
						 * nvme_host_ring_sq()) publishes both, so
						 * the controller sees them in one doorbell */

struct nvme_host_cmd;
typedef void (*nvme_host_done_fn)(struct nvme_host_cmd *cmd);

/* An asynchronous command. The caller owns the structure and keeps it alive
 * until done() ran (or nvme_host_reset()/close() cancelled it). */
struct nvme_host_cmd {
	/* in: the command. Unless NVME_HOST_F_RAW, the driver overwrites the
	 * CID, PSDT and DPTR (PRP1/PRP2 or SGL1) at submission. */
	struct nvme_sqe sqe;
	/* in: data, either one arena buffer (buf, len) or pieces (sg, nsg);
	 * none when len == 0 and nsg == 0. Ignored with NVME_HOST_F_RAW and
	 * NVME_HOST_F_DPTR. */
	void *buf;
	size_t len;
	const struct nvme_host_sg *sg;
	unsigned int nsg;
	uint32_t flags;			/* NVME_HOST_F_SGL, _RAW, _DPTR */
	nvme_host_done_fn done;		/* may be NULL; runs inside nvme_host_poll() */
	void *arg;			/* for the caller */
	/* out: valid once completed is true */
	bool completed;
	int result;			/* NVMe status (>= 0) or -ECANCELED */
	struct nvme_cqe cqe;
	/* driver private */
	struct {
		uint16_t cid;
		bool raw_extra;		/* raw CID outside the driver's range */
		bool queued;		/* the SQE went into the ring */
	} priv;
};

/* Submit cmd on queue qid (0 admin) and ring the SQ tail doorbell (or only
 * the shadow doorbell when the EventIdx says the controller is polling).
 * PRPs are built from the arena pages (PRP list pages per command, chained
 * when full); with NVME_HOST_F_SGL a Data Block descriptor, or Segment /
 * Last Segment descriptors in per-command segment memory (-EOPNOTSUPP when
 * Identify SGLS says unsupported, -EINVAL for admin commands).
 * Returns 0; -EBUSY when no command identifier or SQ entry is free (poll
 * first); -EINVAL for a bad qid or data outside the arena / not PRP
 * compatible; -E2BIG above nvme_host_max_xfer(); -ESHUTDOWN after
 * shutdown; a doorbell write error (the command then stays in flight).
 * Queue thread. */
int nvme_host_submit(struct nvme_host *h, uint16_t qid, struct nvme_host_cmd *cmd);

/* Publish the SQ tail of queue qid (after submissions with
 * NVME_HOST_F_NO_DB): 0 when nothing was held back, or as the doorbell
 * write of nvme_host_submit(). Queue thread. */
int nvme_host_ring_sq(struct nvme_host *h, uint16_t qid);

/* Reap up to max completions (0: all available) from CQ qid: check the
 * phase tag, record SQHD, match the CID, run done(), then write the CQ head
 * doorbell once. Returns the number reaped, or -EPROTO when a CQE named a
 * CID not in flight (after processing the others; see bad_cqes), -EINVAL
 * for a bad qid. done() must not call nvme_host_poll() on the same queue.
 * Queue thread. */
int nvme_host_poll(struct nvme_host *h, uint16_t qid, unsigned int max);

/* Interrupt-driven reaping: return what nvme_host_poll() finds at once;
 * otherwise wait for the queue's MSI-X eventfd (up to timeout_ms, < 0 for
 * ever), read it and poll, until something was reaped. Returns the number
 * reaped (> 0), -ETIMEDOUT, -EOPNOTSUPP when the queue has no interrupt, or
 * an error of nvme_host_poll(). Queue thread. */
int nvme_host_wait_irq(struct nvme_host *h, uint16_t qid, int timeout_ms);

/* The queue's interrupt eventfd (owned by h), or -1 without interrupts. */
int nvme_host_irq_fd(const struct nvme_host *h, uint16_t qid);

/* Wait for cmd (submitted on qid) to complete, polling and sleeping on the
 * interrupt when there is one. Returns cmd->result, or -ETIMEDOUT (the
 * command is then abandoned: cmd may be reused, its late completion is
 * dropped). Queue thread. */
int nvme_host_wait(struct nvme_host *h, uint16_t qid, struct nvme_host_cmd *cmd, int timeout_ms);

/* Send a caller-built SQE unchanged (its CID, PSDT, PRPs, everything) on
 * queue qid and wait for its completion up to timeout_ms (<= 0: the admin
 * or I/O default); *cqe (may be NULL) receives the CQE. -EBUSY when the CID
 * is in flight already. Returns the status or a negative errno. Queue
 * thread. */
int nvme_host_raw(struct nvme_host *h, uint16_t qid, const struct nvme_sqe *sqe,
		  struct nvme_cqe *cqe, int timeout_ms);

/* ---- I/O commands ------------------------------------------------------------------ */

/* Prepare cmd as an NVM I/O command (submit it with nvme_host_submit()):
 * opcode NVME_CMD_READ/WRITE/COMPARE (nlb blocks of data at buf),
 * WRITE_ZEROES (no data), FLUSH (no data, slba/nlb ignored) or DSM (buf
 * holds nlb struct nvme_dsm_range, slba ignored). nlb is one based (1..65536
 * blocks; 1..256 ranges). The data length comes from the namespace's
 * block_bytes; for an nsid not in the cache (bad NSIDs, 0, broadcast) 512
 * bytes per block are assumed. flags: NVME_HOST_F_SGL, _FUA, _LR, _DEAC,
 * _DSM_AD. done/arg are cleared. Returns 0 or -EINVAL (nlb out of range, other
 * opcodes). */
int nvme_host_cmd_rw(const struct nvme_host *h, struct nvme_host_cmd *cmd, uint8_t opcode,
		     uint32_t nsid, uint64_t slba, uint32_t nlb, void *buf, uint32_t flags);

/* Synchronous I/O: nvme_host_cmd_rw() + submit + wait (opts io_timeout).
 * Returns the NVMe status or a negative errno. Queue thread. */
int nvme_host_rw(struct nvme_host *h, uint16_t qid, uint8_t opcode, uint32_t nsid,
		 uint64_t slba, uint32_t nlb, void *buf, uint32_t flags);

/* ---- admin commands (admin thread) --------------------------------------------------- */

/* Generic admin command: sqe is copied; the driver sets CID and PRPs for
 * data (len bytes at data, any memory: bounced through the arena unless it
 * is arena memory already; direction from opcode bits 1:0, copied both ways
 * when 00b or 11b). Waits up to the admin timeout. *cqe may be NULL. */
int nvme_host_admin(struct nvme_host *h, const struct nvme_sqe *sqe, void *data, size_t len,
		    struct nvme_cqe *cqe);

/* Identify: CNS cns, nsid, CNTID cntid, 4096 bytes into buf. */
int nvme_host_identify(struct nvme_host *h, uint8_t cns, uint32_t nsid, uint16_t cntid, void *buf);
int nvme_host_identify_ctrl(struct nvme_host *h, struct nvme_id_ctrl *id);
int nvme_host_identify_ns(struct nvme_host *h, uint32_t nsid, struct nvme_id_ns *id);
/* Active NSIDs above start_nsid, up to 1024, zero terminated, into list. */
int nvme_host_active_ns_list(struct nvme_host *h, uint32_t start_nsid, uint32_t list[1024]);
/* Namespace identification descriptor list (CNS 03h), 4096 bytes. */
int nvme_host_ns_descs(struct nvme_host *h, uint32_t nsid, void *buf);

/* Find descriptor type nidt in a CNS 03h list: copy its NID (up to cap
 * bytes) to out. Returns its length (NIDL), -ENOENT when absent, -EBADMSG
 * when a descriptor runs past the 4096 bytes, -ENOSPC when cap is too
 * small. Pure function. */
int nvme_host_ns_desc_find(const void *list, uint8_t nidt, void *out, size_t cap);

/* Get Features fid with select sel (NVME_FEAT_SEL_*), CDW11 cdw11; optional
 * data buffer; *dw0 (may be NULL) receives CQE DW0. */
int nvme_host_get_features(struct nvme_host *h, uint8_t fid, uint8_t sel, uint32_t nsid,
			   uint32_t cdw11, void *data, size_t len, uint32_t *dw0);
/* Set Features fid (save: SV bit), CDW11 cdw11, optional data; *dw0 as above. */
int nvme_host_set_features(struct nvme_host *h, uint8_t fid, bool save, uint32_t nsid,
			   uint32_t cdw11, void *data, size_t len, uint32_t *dw0);

/* Get Log Page lid for nsid, len bytes (a multiple of 4, > 0) from byte
 * offset (a multiple of 4) into buf; rae: Retain Asynchronous Event. */
int nvme_host_get_log_page(struct nvme_host *h, uint8_t lid, uint32_t nsid, uint64_t offset,
			   bool rae, void *buf, size_t len);

/* Queue management as plain admin commands: they do not change the driver's
 * own queues (use them on other qids, or for tests of bad values). qsize_zb
 * is zero based (entries - 1), as in CDW10; flags are the CDW11 bits
 * (NVME_CQ_PC | NVME_CQ_IEN; NVME_SQ_PC | priority). */
int nvme_host_create_io_cq(struct nvme_host *h, uint16_t qid, uint16_t qsize_zb, uint64_t iova,
			   uint16_t vector, uint32_t flags);
int nvme_host_create_io_sq(struct nvme_host *h, uint16_t qid, uint16_t qsize_zb, uint64_t iova,
			   uint16_t cqid, uint32_t flags);
int nvme_host_delete_io_sq(struct nvme_host *h, uint16_t qid);
int nvme_host_delete_io_cq(struct nvme_host *h, uint16_t qid);

/* Abort command cid of SQ sqid; *dw0 (may be NULL) gets DW0 (bit 0 set: not
 * aborted). */
int nvme_host_abort(struct nvme_host *h, uint16_t sqid, uint16_t cid, uint32_t *dw0);

/* Submit one Asynchronous Event Request and return at once (it completes when
 * the controller reports an event). 0, -EBUSY when 16 are outstanding, or a
 * submission error. */
int nvme_host_aer_submit(struct nvme_host *h);

/* Wait up to timeout_ms (< 0 for ever) for an AER completion: *cqe (may be
 * NULL) receives it (DW0 holds type/info/log page, NVME_AER_*). Returns its
 * status (>= 0), -ETIMEDOUT, or -ECANCELED for an AER dropped by a reset. */
int nvme_host_aer_poll(struct nvme_host *h, int timeout_ms, struct nvme_cqe *cqe);

/* Number of AERs submitted and not completed yet. */
unsigned int nvme_host_aer_outstanding(const struct nvme_host *h);

/* ---- building blocks (pure functions, no controller needed) ------------------------ */

/* Memory for the descriptors of one command (PRP list pages or SGL
 * segments): va/iova page aligned, size bytes. */
struct nvme_host_dmem {
	void *va;
	uint64_t iova;
	size_t size;
};

/* Build PRP1/PRP2 for the data pieces sg[0..nsg) with memory page size
 * page (a power of two >= 64; the driver uses 4096, CC.MPS = 0). Rules
 * (spec 4.3): the first piece may start at any dword-aligned offset; later
 * pieces start on a page boundary and all but the last end on one. One page:
 * PRP2 = 0; two: PRP2 = the second page; more: PRP2 = a PRP list in lists
 * (page 0 first), each list page's last entry pointing at the next list
 * page when more entries follow. Returns 0, -EINVAL (bad alignment, empty
 * or zero-length piece), -ENOSPC when lists is too small. */
int nvme_host_build_prp(const struct nvme_host_sg *sg, unsigned int nsg, uint32_t page,
			const struct nvme_host_dmem *lists, uint64_t *prp1, uint64_t *prp2);

/* PRP list pages needed for the pieces (0 when PRP1/PRP2 suffice), or
 * -EINVAL as nvme_host_build_prp(). */
int nvme_host_prp_list_pages(const struct nvme_host_sg *sg, unsigned int nsg, uint32_t page);

/* Build SGL1 for the pieces (spec 4.4): one piece is a Data Block
 * descriptor; more go into segments of seg_max descriptors each (seg_max >=
 * 2), laid out one after another in segs: SGL1 is a Last Segment descriptor
 * when all fit in one segment, else a Segment descriptor, and every full
 * segment ends with a Segment (or, before the final one, Last Segment)
 * descriptor to the next. dword: the controller requires dword alignment
 * and granularity (SGLS 10b). Returns 0, -EINVAL (empty, zero length,
 * misaligned), -ENOSPC when segs is too small. */
int nvme_host_build_sgl(const struct nvme_host_sg *sg, unsigned int nsg, uint32_t seg_max,
			bool dword, const struct nvme_host_dmem *segs, struct nvme_sgl_desc *sgl1);

#endif
