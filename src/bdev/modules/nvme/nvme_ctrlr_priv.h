/* Between the controller's lifecycle (nvme_ctrlr.c) and its connect
 * sequence (nvme_ctrlr_connect.c). Main thread only. */
#ifndef OSNAP_NVME_CTRLR_PRIV_H
#define OSNAP_NVME_CTRLR_PRIV_H

#include "bdev/modules/nvme/nvme_ctrlr.h"

typedef void (*nvme_admin_done_fn)(struct nvme_ctrlr *c, struct nvme_admin_req *a,
				   const struct nvme_cqe *cpl, int status);

/* nvme_ctrlr_connect.c */
int nvme_ctrlr_seq_start(struct nvme_ctrlr *c);
void nvme_ctrlr_seq_fail(struct nvme_ctrlr *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void nvme_ctrlr_aq_ic_done(struct nvme_ctrlr *c);
void nvme_ctrlr_ioq_ic_done(struct nvme_ctrlr *c, uint32_t i);
void nvme_ctrlr_csts_done(struct nvme_ctrlr *c, struct nvme_admin_req *a,
			  const struct nvme_cqe *cpl, int status);
int nvme_admin_send(struct nvme_ctrlr *c, struct nvme_tcp_qpair *qp, struct nvme_admin_req *a,
		    enum nvme_tcp_dir dir, uint32_t len, nvme_admin_done_fn done);

/* Scan the namespaces again (LIVE, after a Namespace Attribute Changed
 * event): ends with nvme_ctrlr_ns_apply(). */
void nvme_ctrlr_seq_rescan(struct nvme_ctrlr *c);

/* nvme_ctrlr_ns.c */
/* Identify Namespace found an active namespace. 0 or -ENOMEM. */
int nvme_ctrlr_ns_found(struct nvme_ctrlr *c, const struct nvme_ns *ns);
/* The scan is over: the first one becomes the namespace list; after a
 * reconnect, changes are reported; after an AEN, bdevs come and go. */
void nvme_ctrlr_ns_apply(struct nvme_ctrlr *c);
/* Forget a scan (failed or superseded). */
void nvme_ctrlr_scan_free(struct nvme_ctrlr *c);
/* Keep an Asynchronous Event Request outstanding (LIVE). */
void nvme_ctrlr_aer_arm(struct nvme_ctrlr *c);
/* Free the namespaces (their bdevs are gone or being torn down). */
void nvme_ctrlr_ns_free_all(struct nvme_ctrlr *c);

/* nvme_ctrlr.c */
/* One timer per controller: replaces the one pending. */
void nvme_ctrlr_set_timer(struct nvme_ctrlr *c, uint64_t ms, void (*fn)(struct nvme_ctrlr *c));
/* Make the main loop watch qp (it has something to send). */
void nvme_ctrlr_watch(struct nvme_ctrlr *c, struct nvme_tcp_qpair *qp);
/* Timer callback: the attempt failed (c->err says why). */
void nvme_ctrlr_seq_failed(struct nvme_ctrlr *c);
/* The sequence ended well. */
void nvme_ctrlr_seq_done(struct nvme_ctrlr *c);
/* Connect the I/O queue pairs (the step after the namespaces). */
void nvme_ctrlr_ioq_connect_all(struct nvme_ctrlr *c);

#endif
