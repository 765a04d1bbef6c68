/* The NVMe/TCP initiator's controller (bdev_nvme_attach_controller):
 * internal interface of src/bdev/modules/nvme/.
 *
 * Threading: the controller lives on the main thread. Its admin queue pair
 * is driven by the main event loop (epoll, non-blocking; nothing waits);
 * the I/O queue pairs are connected there too, then handed to the
 * reactors, one per reactor (struct nvme_ioq), which own them from then
 * on. The two sides talk only through thread messages.
 *
 * States: CONNECTING (the attach sequence: TCP, ICReq/ICResp, Fabrics
 * Connect, CAP, CC.EN, CSTS.RDY, Identify, Number of Queues, active
 * namespaces, I/O queue pairs) -> LIVE -> RESETTING (a queue pair broke, or
 * bdev_nvme_reset_controller: I/O is held on the reactors and the whole
 * sequence runs again, every reconnect_delay_sec, until it succeeds or
 * ctrlr_loss_timeout_sec passes) -> LIVE or LOST (held and new I/O fail). */
#ifndef OSNAP_NVME_CTRLR_H
#define OSNAP_NVME_CTRLR_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <jansson.h>

#include "bdev/bdev.h"
#include "bdev/modules/nvme/nvme_sock_impl.h"
#include "bdev/modules/nvme/nvme_tcp_qpair.h"
#include "core/thread.h"

#define NVME_CTRLR_NAME_MAX	64
#define NVME_NQN_MAX		223
#define NVME_ADMIN_DEPTH	32
#define NVME_ADMIN_REQS		4	/* admin commands in flight at once */
#define NVME_IO_DEPTH_MAX	128

struct rpc_request;
struct loop_fd;
struct loop_timer;
struct nvme_ctrlr;

/* Options of bdev_nvme_set_options that the initiator honours. */
struct nvme_global_opts {
	uint32_t keep_alive_timeout_ms;	/* 0: no keep-alive */
	int32_t ctrlr_loss_timeout_sec;	/* default for attach (-1: forever) */
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;
	uint32_t io_queue_requests;	/* I/O queue depth asked (0: default) */
	int32_t bdev_retry_count;	/* retries of an I/O after a transport error (-1: forever) */
	uint32_t timeout_us;		/* not enforced yet: only 0 is accepted */
};
extern struct nvme_global_opts g_nvme_opts;

/* What attach was asked for. */
struct nvme_ctrlr_params {
	char name[NVME_CTRLR_NAME_MAX];
	char traddr[64];
	char trsvcid[16];
	char adrfam[8];			/* "ipv4" or "ipv6" */
	char subnqn[NVME_NQN_MAX + 1];
	char hostnqn[NVME_NQN_MAX + 1];
	uint8_t hostid[16];
	bool has_hostid;
	bool hdgst, ddgst;
	int32_t ctrlr_loss_timeout_sec;	/* -1: forever */
	uint32_t reconnect_delay_sec;
	uint32_t fast_io_fail_timeout_sec;	/* 0: off */
	uint32_t num_io_queues;		/* 0: one per reactor */
	uint32_t connect_timeout_ms;	/* one whole connect attempt */
};

/* One namespace and its bdev. */
struct nvme_ns {
	uint32_t nsid;
	uint64_t num_blocks;
	uint32_t block_size;
	uint8_t uuid[16];
	bool has_uuid;
	uint32_t max_xfer_bytes;	/* MDTS (0: no limit) */
	uint16_t oncs;			/* optional NVM commands of the controller */
	bool vwc;
	struct bdev *bdev;
	struct nvme_ctrlr *ctrlr;
};

/* The I/O side of one reactor: owned by that reactor once created. */
struct nvme_ioq {
	struct nvme_ctrlr *ctrlr;	/* never dereferenced on the reactor */
	uint64_t ctrlr_id;		/* for messages to the main thread */
	int reactor;
	struct nvme_tcp_qpair *qp;	/* NULL while (re)connecting */
	struct poller *poller;
	struct nvme_bio *pend_head, *pend_tail;	/* waiting for a qpair or a slot */
	unsigned pending;
	bool fail_io;			/* LOST or fast_io_fail: fail instead of holding */
	bool failed_reported;		/* the main thread knows the qpair broke */
	bool uring_warned;		/* said once that io_uring was refused */
	uint64_t retries;
	/* enum nvme_sock_impl of the queue pair adopted last: written by the
	 * reactor, read by the main thread (bdev_nvme_get_controllers) */
	_Atomic int sock_impl;
};

/* Per-I/O context in bdev_io.driver_ctx. */
struct nvme_bio {
	struct nvme_tcp_req req;
	struct bdev_io *io;
	struct nvme_ioq *ioq;
	struct nvme_ns *ns;
	struct nvme_bio *next;		/* ioq pending list */
	struct iovec dsm_iov;		/* UNMAP: the range below */
	uint8_t dsm_range[16];
	int retries;
	/* A READ/WRITE larger than one command (MDTS, 65536 blocks) goes as
	 * consecutive commands, one at a time: blocks done, blocks in flight. */
	uint64_t done_blocks;
	uint32_t part_blocks;
};

struct nvme_admin_req {
	struct nvme_tcp_req req;
	struct nvme_ctrlr *ctrlr;
	void (*done)(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		     int status);
	bool busy;
	struct iovec iov;
	_Alignas(8) uint8_t buf[4096];
};

/* A queue pair watched by the main event loop while it connects. */
struct nvme_watch {
	struct nvme_ctrlr *c;
	int idx;			/* -1: the admin queue, else the I/O queue index */
	struct nvme_tcp_qpair *qp;
	struct loop_fd *lf;
};

enum nvme_ctrlr_state {
	NVME_CTRLR_CONNECTING,
	NVME_CTRLR_LIVE,
	NVME_CTRLR_RESETTING,
	NVME_CTRLR_LOST,
	NVME_CTRLR_DELETING,
};

struct nvme_ctrlr {
	struct nvme_ctrlr_params p;
	struct sockaddr_storage sa;
	socklen_t salen;
	enum nvme_ctrlr_state state;
	int step;			/* attach sequence step */
	bool attached;			/* bdevs registered */
	char err[512];

	uint64_t id;			/* names the controller in reactor messages */
	struct nvme_tcp_qpair *aq;
	struct nvme_watch aw;		/* the admin queue pair in the main loop */
	bool seq_failed;
	void (*timer_fn)(struct nvme_ctrlr *c);
	struct nvme_admin_req areq[NVME_ADMIN_REQS];
	uint16_t cntlid;
	uint64_t cap;
	uint32_t vs;
	uint64_t rdy_deadline_ns;
	uint32_t ioccsz_bytes;		/* in-capsule data the I/O queues take */
	uint32_t mdts_bytes;		/* 0: no limit */
	uint32_t max_blocks_xfer;
	bool vwc;
	uint16_t oncs;
	char sn[21], mn[41], fr[9];
	uint32_t *nsid_list;		/* active namespaces (Identify CNS 2) */
	uint32_t nsid_count, nsid_next;

	struct nvme_ns **ns;		/* nns namespaces with a bdev (stable addresses:
					 * bdevs and reactors point at them) */
	uint32_t nns;
	struct nvme_ns **scan;		/* what the namespace scan in progress found */
	uint32_t nscan;
	bool rescan;			/* the scan was started by an AEN */
	uint64_t aens;

	uint32_t nioq;			/* I/O queue pairs (= reactors used) */
	uint16_t io_depth;
	struct nvme_tcp_qpair **ioq_conn;	/* being connected on the main thread */
	struct nvme_watch *iow;
	struct nvme_admin_req *ioq_areq;	/* Fabrics Connect of each I/O queue */
	uint32_t ioq_ready;
	struct nvme_ioq *ioq[OSNAP_MAX_REACTORS];	/* by reactor */

	struct loop_timer *timer;	/* CSTS polling, reconnect delay */
	struct loop_timer *ka_timer;
	struct loop_timer *attempt_timer;	/* limits one connect attempt */
	uint64_t reset_start_ns;
	bool fast_failed;
	uint64_t resets, reconnect_attempts;

	struct rpc_request *attach_req;	/* answered when the attach ends */
	struct rpc_request *reset_req;
	uint32_t max_bdevs;
	struct nvme_ctrlr *next;
};

/* --- nvme_ctrlr.c --- */
/* Start attaching; the RPC (if any) is answered when it ends. Returns 0,
 * or -errno with a message in err (then nothing was created). */
int nvme_ctrlr_attach(const struct nvme_ctrlr_params *p, struct rpc_request *req,
		      uint32_t max_bdevs, char *err, size_t errlen);
struct nvme_ctrlr *nvme_ctrlr_find(const char *name);
struct nvme_ctrlr *nvme_ctrlr_first(void);
/* Delete the controller and its bdevs. -EBUSY (err) when a bdev is in use. */
int nvme_ctrlr_detach(struct nvme_ctrlr *c, char *err, size_t errlen);
/* Reconnect everything now; the RPC is answered when it is over. */
int nvme_ctrlr_reset(struct nvme_ctrlr *c, struct rpc_request *req, char *err, size_t errlen);
/* bdev_nvme_get_controllers entry. */
json_t *nvme_ctrlr_info_json(struct nvme_ctrlr *c);
/* A reactor's queue pair broke (message from the reactor; arg: the
 * controller's id). */
void nvme_ctrlr_ioq_failed(void *id);
/* A queue pair broke or a reset was asked: hold I/O, reconnect. */
void nvme_ctrlr_conn_lost(struct nvme_ctrlr *c);
const char *nvme_ctrlr_state_name(enum nvme_ctrlr_state s);

/* --- nvme_ioq.c (reactor side) --- */
/* Messages to the reactor owning ioq. */
void nvme_ioq_msg_adopt(void *qp_msg);	/* struct nvme_ioq_adopt * */
void nvme_ioq_msg_drop(void *ioq);
void nvme_ioq_msg_fail_io(void *ioq);
void nvme_ioq_msg_hold_io(void *ioq);
void nvme_ioq_msg_destroy(void *ioq);
struct nvme_ioq_adopt {
	struct nvme_ioq *ioq;
	struct nvme_tcp_qpair *qp;
	enum nvme_sock_impl sock;	/* the socket implementation to use */
};
/* Start a bdev I/O (on the ioq's reactor). */
void nvme_ioq_submit(struct nvme_ioq *ioq, struct nvme_ns *ns, struct bdev_io *io);

/* --- nvme_bdev.c --- */
/* Register the bdev of ns (NAMEn<nsid>). 0 or -errno (err). */
int nvme_ns_bdev_register(struct nvme_ns *ns, char *err, size_t errlen);
extern const struct bdev_module_ops nvme_bdev_ops;

#endif
