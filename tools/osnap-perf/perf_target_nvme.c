/* osnap-perf target: an NVMe namespace over vfio-user, through the user-space
 * NVMe driver of src/host. I/O queue i + 1 serves job i. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host/nvme_host.h"
#include "host/vfio_user_client.h"
#include "perf_target.h"

#define MIN_RING	256u	/* entries per I/O queue at least (capped by MQES) */
#define PAGE		4096u	/* the driver's memory page size (CC.MPS = 0) */

struct nvme_target {
	struct perf_target t;	/* first */
	struct nvme_host *h;
	uint32_t nsid;
	uint32_t bs;		/* bytes per I/O */
};

static struct nvme_host_cmd *io_cmd(struct perf_io *io)
{
	return (struct nvme_host_cmd *)(void *)io->ctx;
}

static void cmd_done(struct nvme_host_cmd *cmd)
{
	perf_io_complete(cmd->arg, cmd->result);
}

/* The command of io as a template: namespace, data pointer (PRP1/PRP2 and
 * any PRP list page, built once over the I/O's fixed buffer), callback. A
 * submission then only writes the opcode, LBA and count, and the driver
 * only the CID (NVME_HOST_F_DPTR); the doorbell waits for nt_kick(). */
static int nt_io_init(struct perf_target *pt, uint16_t q, struct perf_io *io)
{
	struct nvme_target *t = (struct nvme_target *)pt;
	struct nvme_host_cmd *cmd = io_cmd(io);
	struct nvme_host_sg sg = { 0, t->bs };
	(void)q;

	memset(cmd, 0, sizeof(*cmd));
	if (nvme_host_iova(t->h, io->buf, t->bs, &sg.iova))
		return -EFAULT;
	int pages = nvme_host_prp_list_pages(&sg, 1, PAGE);
	if (pages < 0)
		return pages;
	struct nvme_host_dmem lists = { NULL, 0, (size_t)pages * PAGE };
	if (pages) {
		lists.va = nvme_host_alloc(t->h, lists.size, PAGE, &lists.iova);
		if (!lists.va)
			return -ENOMEM;
	}
	int rc = nvme_host_build_prp(&sg, 1, PAGE, &lists, &cmd->sqe.dptr.prp1,
				     &cmd->sqe.dptr.prp2);
	if (rc)
		return rc;
	cmd->sqe.nsid = t->nsid;
	cmd->flags = NVME_HOST_F_DPTR | NVME_HOST_F_NO_DB;
	cmd->done = cmd_done;
	cmd->arg = io;
	return 0;
}

static int nt_submit(struct perf_target *pt, uint16_t q, struct perf_io *io)
{
	struct nvme_target *t = (struct nvme_target *)pt;
	struct nvme_host_cmd *cmd = io_cmd(io);

	cmd->sqe.opc = io->write ? NVME_CMD_WRITE : NVME_CMD_READ;
	cmd->sqe.cdw10 = (uint32_t)io->lba;
	cmd->sqe.cdw11 = (uint32_t)(io->lba >> 32);
	cmd->sqe.cdw12 = io->nlb - 1;
	return nvme_host_submit(t->h, (uint16_t)(q + 1), cmd);
}

static int nt_kick(struct perf_target *pt, uint16_t q)
{
	struct nvme_target *t = (struct nvme_target *)pt;
	return nvme_host_ring_sq(t->h, (uint16_t)(q + 1));
}

static int nt_poll(struct perf_target *pt, uint16_t q, unsigned max)
{
	struct nvme_target *t = (struct nvme_target *)pt;
	return nvme_host_poll(t->h, (uint16_t)(q + 1), max);
}

static int nt_wait(struct perf_target *pt, uint16_t q, int timeout_ms)
{
	struct nvme_target *t = (struct nvme_target *)pt;
	return nvme_host_wait_irq(t->h, (uint16_t)(q + 1), timeout_ms);
}

static void *nt_buf_alloc(struct perf_target *pt, size_t len)
{
	struct nvme_target *t = (struct nvme_target *)pt;
	return nvme_host_alloc(t->h, len, 4096, NULL);
}

static const char *nt_status_str(int status, char *buf, size_t len)
{
	snprintf(buf, len, "NVMe status SCT %u SC 0x%02x%s", NVME_STATUS_SCT((unsigned)status),
		 NVME_STATUS_SC((unsigned)status), (status & NVME_STATUS_DNR) ? " DNR" : "");
	return buf;
}

static void nt_qstats(struct perf_target *pt, uint16_t q, struct perf_target_qstats *st)
{
	struct nvme_host_qstats hs = { 0 };
	nvme_host_queue_stats(((struct nvme_target *)pt)->h, (uint16_t)(q + 1), &hs);
	*st = (struct perf_target_qstats){ hs.doorbells, hs.doorbells_skipped, hs.irqs };
}

static void nt_close(struct perf_target *pt)
{
	struct nvme_target *t = (struct nvme_target *)pt;
	nvme_host_close(t->h);
	free(t);
}

static int nt_check(struct perf_target *pt)
{
	return perf_conn_check(vfu_socket_fd(nvme_host_vfu(((struct nvme_target *)pt)->h)));
}

static const struct perf_target_ops nvme_ops = {
	.io_init = nt_io_init,
	.submit = nt_submit,
	.kick = nt_kick,	/* one SQ tail doorbell per burst */
	.poll = nt_poll,
	.wait = nt_wait,
	.buf_alloc = nt_buf_alloc,
	.status_str = nt_status_str,
	.qstats = nt_qstats,
	.check = nt_check,
	.close = nt_close,
};

/* Guest memory for the rings, PRP list pages and data of every queue. */
static size_t arena_bytes(const struct perf_opts *o, uint32_t depth)
{
	size_t bs = ((size_t)o->bs + 4095) & ~(size_t)4095;
	/* per I/O slot: its buffer and the PRP list pages of its template */
	size_t lists = bs > 2 * 4096 ? (bs / 4096 / 511 + 1) * 4096 : 0;
	size_t per_q = (size_t)depth * (64 + 16 + 4096) + (size_t)o->qd * (bs + lists) + 3 * 4096;
	size_t total = per_q * o->jobs + (8u << 20);
	return (total + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
}

int perf_target_open_nvme(const struct perf_opts *o, struct perf_target **out, char *err,
			  size_t len)
{
	struct nvme_host_opts ho = {
		.nr_io_queues = (uint16_t)o->jobs,
		/* one entry always stays empty; and never a tiny ring: doorbell
		 * values wrap at the queue size, and every wrap past the shadow
		 * EventIdx costs a real (trapped) doorbell, so a 2-entry queue
		 * for QD 1 would trap every I/O */
		.io_depth = o->qd + 1 > MIN_RING ? o->qd + 1 : MIN_RING,
		.max_xfer = (o->bs + 4095) & ~4095u,
		.irq = o->interrupts ? NVME_HOST_IRQ_REQUIRED : NVME_HOST_IRQ_OFF,
		.shadow_doorbells = !o->no_shadow_db,
	};
	ho.mem_size = arena_bytes(o, ho.io_depth);
	struct nvme_target *t = calloc(1, sizeof(*t));
	if (!t) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	int rc = nvme_host_open(o->path, &ho, &t->h);
	if (rc) {
		snprintf(err, len, "cannot open NVMe controller at %s: %s", o->path, strerror(-rc));
		free(t);
		return rc;
	}
	struct nvme_host_ns ns;
	rc = -EINVAL;
	if (nvme_host_nr_io_queues(t->h) < o->jobs) {
		snprintf(err, len, "the controller gave %u I/O queues, -j %u needs one per job",
			 nvme_host_nr_io_queues(t->h), o->jobs);
	} else if (nvme_host_io_depth(t->h) < o->qd + 1) {
		snprintf(err, len, "the controller's queues hold %u entries (MQES): -q is at most %u",
			 nvme_host_io_depth(t->h), nvme_host_io_depth(t->h) - 1);
	} else if (nvme_host_max_xfer(t->h) < o->bs) {
		snprintf(err, len, "-b %u is above the controller's transfer limit (MDTS) of %u bytes",
			 o->bs, nvme_host_max_xfer(t->h));
	} else if (nvme_host_ns_info(t->h, o->nsid, &ns)) {
		snprintf(err, len, "namespace %u is not active on the controller", o->nsid);
	} else if (ns.ms || ns.block_bytes != ns.lba_size) {
		snprintf(err, len, "namespace %u has metadata; osnap-perf handles data-only formats", o->nsid);
	} else {
		rc = 0;
	}
	if (rc) {
		nvme_host_close(t->h);
		free(t);
		return rc;
	}
	t->nsid = o->nsid;
	t->bs = o->bs;
	t->t.ops = &nvme_ops;
	t->t.lba_size = ns.lba_size;
	t->t.nlba = ns.nsze;
	t->t.nqueues = (uint16_t)o->jobs;
	t->t.io_ctx_size = sizeof(struct nvme_host_cmd);
	snprintf(t->t.desc, sizeof(t->t.desc), "NVMe/vfio-user %s nsid %u (%u-byte LBAs, %s doorbells%s)",
		 o->path, o->nsid, ns.lba_size, nvme_host_doorbells_mmapped(t->h) ? "mapped" : "trapped",
		 nvme_host_shadow_doorbells(t->h) ? " + shadow" : "");
	*out = &t->t;
	return 0;
}
