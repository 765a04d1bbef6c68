/* Namespaces of an NVMe/TCP controller: the list a scan builds, what
 * changes between scans, and the Asynchronous Event Request that tells
 * when to scan again (Namespace Attribute Changed: bdevs come and go).
 * Main thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/modules/nvme/nvme_ctrlr.h"
#include "bdev/modules/nvme/nvme_ctrlr_priv.h"
#include "core/log.h"

#define AER_REQ		2	/* c->areq slot of the AER and its log page */
#define LOG_CHANGED_NS	0x04

int nvme_ctrlr_ns_found(struct nvme_ctrlr *c, const struct nvme_ns *ns)
{
	struct nvme_ns **v = realloc(c->scan, (c->nscan + 1) * sizeof(*v));
	struct nvme_ns *n;

	if (!v)
		return -ENOMEM;
	c->scan = v;
	n = malloc(sizeof(*n));
	if (!n)
		return -ENOMEM;
	*n = *ns;
	n->ctrlr = c;
	n->bdev = NULL;
	c->scan[c->nscan++] = n;
	return 0;
}

void nvme_ctrlr_scan_free(struct nvme_ctrlr *c)
{
	for (uint32_t i = 0; i < c->nscan; i++)
		free(c->scan[i]);
	free(c->scan);
	c->scan = NULL;
	c->nscan = 0;
}

void nvme_ctrlr_ns_free_all(struct nvme_ctrlr *c)
{
	for (uint32_t i = 0; i < c->nns; i++)
		free(c->ns[i]);
	free(c->ns);
	c->ns = NULL;
	c->nns = 0;
}

static struct nvme_ns *find(struct nvme_ns **v, uint32_t n, uint32_t nsid)
{
	for (uint32_t i = 0; i < n; i++)
		if (v[i]->nsid == nsid)
			return v[i];
	return NULL;
}

/* A namespace the controller no longer has: its bdev goes, unless a
 * consumer holds it (then it stays, and its I/O gets the target's errors). */
static bool ns_gone(struct nvme_ctrlr *c, struct nvme_ns *n)
{
	char name[BDEV_NAME_MAX], err[256];
	struct bdev *b = n->bdev;

	if (b && (b->claimed_by || b->open_count)) {
		log_warn("bdev_nvme %s: namespace %u is gone but bdev %s is in use: kept", c->p.name,
			 n->nsid, b->name);
		return false;
	}
	if (b) {
		snprintf(name, sizeof(name), "%s", b->name);
		n->bdev = NULL;
		if (bdev_unregister(name, "nvme", err, sizeof(err)))
			log_err("bdev_nvme %s: deleting %s: %s", c->p.name, name, err);
		else
			log_info("bdev_nvme %s: namespace %u removed: bdev %s deleted", c->p.name,
				 n->nsid, name);
	}
	free(n);
	return true;
}

/* After an AEN: delete the bdevs of namespaces gone, create those of new
 * ones. */
static void reconcile(struct nvme_ctrlr *c)
{
	char err[256];
	uint32_t keep = 0;

	for (uint32_t i = 0; i < c->nns; i++) {
		struct nvme_ns *n = c->ns[i];
		if (find(c->scan, c->nscan, n->nsid) || !ns_gone(c, n))
			c->ns[keep++] = n;
	}
	c->nns = keep;
	for (uint32_t i = 0; i < c->nscan; i++) {
		struct nvme_ns *n = c->scan[i], *old = find(c->ns, c->nns, n->nsid);
		if (old) {
			if (old->num_blocks != n->num_blocks)
				log_warn("bdev_nvme %s: namespace %u resized to %llu blocks: osnap "
					 "keeps the bdev at %llu", c->p.name, n->nsid,
					 (unsigned long long)n->num_blocks,
					 (unsigned long long)old->num_blocks);
			continue;
		}
		struct nvme_ns **v = realloc(c->ns, (c->nns + 1) * sizeof(*v));
		if (!v) {
			log_err("bdev_nvme %s: out of memory adding namespace %u", c->p.name, n->nsid);
			continue;
		}
		c->ns = v;
		c->ns[c->nns++] = n;
		c->scan[i] = NULL;
		if (nvme_ns_bdev_register(n, err, sizeof(err)))
			log_err("bdev_nvme %s: %s", c->p.name, err);
		else
			log_info("bdev_nvme %s: namespace %u added: bdev %s", c->p.name, n->nsid,
				 n->bdev->name);
	}
	for (uint32_t i = 0; i < c->nscan; i++)
		free(c->scan[i]);
	free(c->scan);
	c->scan = NULL;
	c->nscan = 0;
}

void nvme_ctrlr_ns_apply(struct nvme_ctrlr *c)
{
	if (!c->attached) {
		nvme_ctrlr_ns_free_all(c);
		c->ns = c->scan;
		c->nns = c->nscan;
		c->scan = NULL;
		c->nscan = 0;
		return;
	}
	if (c->rescan) {
		reconcile(c);
		return;
	}
	/* A reconnect: the bdevs stay as they are; say what changed. */
	for (uint32_t i = 0; i < c->nscan; i++) {
		struct nvme_ns *old = find(c->ns, c->nns, c->scan[i]->nsid);
		if (old && (old->num_blocks != c->scan[i]->num_blocks ||
			    old->block_size != c->scan[i]->block_size))
			log_warn("bdev_nvme %s: namespace %u changed geometry across the reconnect",
				 c->p.name, old->nsid);
	}
	nvme_ctrlr_scan_free(c);
}

/* --- asynchronous events --- */

static void log_done(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		     int status)
{
	(void)a;
	if (status < 0 || c->state != NVME_CTRLR_LIVE)
		return;
	if (cpl->status >> 1)
		log_warn("bdev_nvme %s: Get Log Page (changed namespaces) failed: status 0x%x",
			 c->p.name, cpl->status >> 1);
	/* Scan whatever the log said: the list of changed namespaces can
	 * overflow, a full scan cannot miss anything. */
	nvme_ctrlr_seq_rescan(c);
}

static void aer_done(struct nvme_ctrlr *c, struct nvme_admin_req *a, const struct nvme_cqe *cpl,
		     int status)
{
	if (status < 0 || c->state != NVME_CTRLR_LIVE)
		return;	/* the connection went: re-armed after the reconnect */
	if (cpl->status >> 1) {
		log_info("bdev_nvme %s: Asynchronous Event Request ended with status 0x%x; no "
			 "more events", c->p.name, cpl->status >> 1);
		return;
	}
	uint32_t type = cpl->dw0 & 7, info = (cpl->dw0 >> 8) & 0xff, lid = (cpl->dw0 >> 16) & 0xff;
	c->aens++;
	log_info("bdev_nvme %s: asynchronous event type %u info 0x%02x log page 0x%02x", c->p.name,
		 type, info, lid);
	if (type == NVME_AER_TYPE_NOTICE && info == NVME_AER_NOTICE_NS_CHANGED &&
	    lid == LOG_CHANGED_NS) {
		/* Reading the log page clears the event (and re-enables it). */
		memset(&a->req.sqe, 0, sizeof(a->req.sqe));
		a->req.sqe.opc = NVME_ADM_GET_LOG_PAGE;
		a->req.sqe.nsid = 0xffffffffu;
		a->req.sqe.cdw10 = LOG_CHANGED_NS | ((4096 / 4 - 1) << 16);
		if (nvme_admin_send(c, c->aq, a, NVME_TCP_DIR_C2H, 4096, log_done))
			log_warn("bdev_nvme %s: cannot read the changed namespace list", c->p.name);
		return;
	}
	nvme_ctrlr_aer_arm(c);
}

void nvme_ctrlr_aer_arm(struct nvme_ctrlr *c)
{
	struct nvme_admin_req *a = &c->areq[AER_REQ];

	if (c->state != NVME_CTRLR_LIVE || !c->aq || a->busy)
		return;
	memset(&a->req.sqe, 0, sizeof(a->req.sqe));
	a->req.sqe.opc = NVME_ADM_ASYNC_EVENT;
	if (nvme_admin_send(c, c->aq, a, NVME_TCP_DIR_NONE, 0, aer_done))
		log_warn("bdev_nvme %s: cannot send an Asynchronous Event Request", c->p.name);
}
