/* test_nvme_host: the whole driver against the fake: bring-up, Identify,
 * reads and writes (PRP, SGL), asynchronous commands, two threads. */
#include "test_nvme_host.h"

/* ==== end-to-end tests against the fake ==================================================== */

void test_e2e_open_identify(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);

	const struct nvme_id_ctrl *id = nvme_host_id_ctrl(h);
	assert_int_equal(id->vid, 0x1b36);
	assert_memory_equal(id->sn, "FAKE0001", 8);
	assert_int_equal(id->nn, 1);
	assert_int_equal(id->aerl, 3);
	assert_memory_equal(id->subnqn, "nqn.2024-01.io.osnap:fake", 25);
	assert_int_equal(nvme_host_vs(h), 0x00010400);
	assert_int_equal(NVME_CAP_MQES(nvme_host_cap(h)), FK_MQES);
	assert_int_equal(nvme_host_nr_io_queues(h), 2);
	assert_int_equal(nvme_host_io_depth(h), 128);
	assert_false(nvme_host_doorbells_mmapped(h));
	assert_true(nvme_host_irq_enabled(h, 0));
	assert_true(nvme_host_irq_enabled(h, 1));
	assert_true(nvme_host_irq_enabled(h, 2));
	/* MSI-X enabled and the function unmasked in config space; the table
	 * never written (its mask bits still set from reset), as a VFIO user
	 * leaves it; eventfds given as QEMU does: vector 0 first without an fd
	 * ("enabled, no vector yet"), then vectors 0-2 with theirs */
	assert_int_equal(f->cfg[0x43] & 0xc0, 0x80);
	assert_int_equal(atomic_load(&f->n_table_writes), 0);
	for (int v = 0; v < FK_NVEC; v++)
		assert_int_equal(f->bar4[16 * v + 12] & 1, 1);
	assert_int_equal(f->n_irq_set, 2);
	assert_int_equal(f->irq_set[0].flags, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER);
	assert_int_equal(f->irq_set[0].start, 0);
	assert_int_equal(f->irq_set[0].count, 1);
	assert_int_equal(f->irq_set[0].nfds, 0);
	assert_int_equal(f->irq_set[1].flags, VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER);
	assert_int_equal(f->irq_set[1].start, 0);
	assert_int_equal(f->irq_set[1].count, 3);
	assert_int_equal(f->irq_set[1].nfds, 3);
	assert_int_equal(f->cfg[4] & 0x6, 0x6);		/* memory space + bus master */
	/* queues on the controller: CQ i interrupts on vector i */
	assert_true(f->cq[1].live && f->cq[1].ien && f->cq[1].iv == 1);
	assert_true(f->sq[2].live && f->sq[2].cqid == 2 && f->sq[2].size == 128);
	assert_int_equal(f->sq[0].size, 32);

	struct nvme_host_ns ns;
	assert_int_equal(nvme_host_ns_info(h, 1, &ns), 0);
	assert_int_equal(ns.nsze, FK_BLOCKS);
	assert_int_equal(ns.lba_size, 512);
	assert_int_equal(nvme_host_ns_info(h, 2, &ns), -ENOENT);

	uint8_t descs[4096], uuid[16];
	assert_int_equal(nvme_host_ns_descs(h, 1, descs), 0);
	assert_int_equal(nvme_host_ns_desc_find(descs, NVME_NIDT_UUID, uuid, sizeof(uuid)), 16);
	assert_int_equal(uuid[15], 0xaf);

	nvme_host_close(h);
	assert_int_equal(f->cq[0].live, false);		/* disabled at close */
	fk_stop(f);
}

void test_e2e_rw_prp(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 1, .max_xfer = 4u << 20 };
	struct nvme_host *h = open_fk(f, &o);

	/* 12 KiB aligned (PRP list of 2) */
	uint8_t *w = nvme_host_alloc(h, 3 * PG, PG, NULL);
	uint8_t *r = nvme_host_alloc(h, 3 * PG, PG, NULL);
	fill(w, 3 * PG, 1);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 8, 24, w, 0), 0);
	assert_memory_equal(f->disk + 8 * 512, w, 3 * PG);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 8, 24, r, 0), 0);
	assert_memory_equal(r, w, 3 * PG);

	/* 8 KiB at a 0x200 offset */
	uint8_t *big = nvme_host_alloc(h, 4 * PG, PG, NULL);
	fill(big + 0x200, 2 * PG, 2);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 100, 16, big + 0x200, 0), 0);
	assert_memory_equal(f->disk + 100 * 512, big + 0x200, 2 * PG);
	memset(big, 0, 4 * PG);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 100, 16, big + 0x100, 0), 0);
	assert_memory_equal(big + 0x100, f->disk + 100 * 512, 2 * PG);

	/* 3 MiB: 769 PRP entries, chained list pages */
	size_t n = 3u << 20;
	uint8_t *huge = nvme_host_alloc(h, n, PG, NULL);
	assert_non_null(huge);
	fill(huge, n, 3);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 2048, (uint32_t)(n / 512), huge, 0), 0);
	assert_true(atomic_load(&f->n_prp_chain) >= 1);
	assert_memory_equal(f->disk + 2048 * 512, huge, n);

	/* compare: equal, then different */
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_COMPARE, 1, 8, 24, w, 0), 0);
	w[5] ^= 1;
	int st = nvme_host_rw(h, 1, NVME_CMD_COMPARE, 1, 8, 24, w, 0);
	assert_int_equal(NVME_STATUS_SCT(st), NVME_SCT_MEDIA);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_CMP_FAILED);

	/* write zeroes, flush, DSM deallocate */
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE_ZEROES, 1, 8, 2, NULL, 0), 0);
	assert_int_equal(f->disk[8 * 512 + 5], 0);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_FLUSH, 1, 0, 0, NULL, 0), 0);
	struct nvme_dsm_range *rg = nvme_host_alloc(h, sizeof(*rg), 64, NULL);
	rg->slba = 100;
	rg->nlb = 16;
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_DSM, 1, 0, 1, rg, NVME_HOST_F_DSM_AD), 0);
	assert_int_equal(f->disk[100 * 512 + 7], 0);

	/* errors: bad NSID, LBA range, buffer outside the arena */
	st = nvme_host_rw(h, 1, NVME_CMD_READ, 7, 0, 1, r, 0);
	assert_int_equal(st, NVME_STATUS(NVME_SCT_GENERIC, NVME_SC_INVALID_NS) | NVME_STATUS_DNR);
	st = nvme_host_rw(h, 1, NVME_CMD_READ, 1, FK_BLOCKS - 1, 2, r, 0);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_LBA_RANGE);
	assert_true(st & NVME_STATUS_DNR);
	uint8_t stack[512];
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 1, stack, 0), -EINVAL);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 0, r, 0), -EINVAL);
	assert_int_equal(nvme_host_rw(h, 3, NVME_CMD_READ, 1, 0, 1, r, 0), -EINVAL);
	/* SGL asked of a controller without SGL support */
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 1, r, NVME_HOST_F_SGL), -EOPNOTSUPP);
	/* above max_xfer */
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 8193, huge, 0), -E2BIG);

	struct nvme_host_qstats qs;
	assert_int_equal(nvme_host_queue_stats(h, 1, &qs), 0);
	assert_int_equal(qs.inflight, 0);
	assert_int_equal(qs.bad_cqes, 0);
	assert_int_equal(qs.submitted, qs.completed);
	nvme_host_close(h);
	fk_stop(f);
}

void test_e2e_sgl(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, NVME_SGLS_DWORD_ALIGN, 0);
	struct nvme_host *h = open_fk(f, NULL);

	/* a 3-piece buffer (1 KiB + 2 KiB + 1 KiB) written with SGLs */
	struct nvme_host_sg sg[3];
	uint8_t *piece[3];
	uint32_t lens[3] = { 1024, 2048, 1024 };
	for (int i = 0; i < 3; i++) {
		piece[i] = nvme_host_alloc(h, lens[i], 64, &sg[i].iova);
		sg[i].len = lens[i];
		fill(piece[i], lens[i], 10 + (uint32_t)i);
	}
	struct nvme_host_cmd cmd;
	assert_int_equal(nvme_host_cmd_rw(h, &cmd, NVME_CMD_WRITE, 1, 40, 8, NULL, NVME_HOST_F_SGL), 0);
	cmd.len = 0;
	cmd.sg = sg;
	cmd.nsg = 3;
	assert_int_equal(nvme_host_submit(h, 1, &cmd), 0);
	assert_int_equal((cmd.sqe.flags >> 6) & 3, NVME_PSDT_SGL_MPTR_BUF);
	assert_int_equal(cmd.sqe.dptr.sgl1.id, NVME_SGL_TYPE_LAST_SEGMENT << 4);
	assert_int_equal(nvme_host_wait(h, 1, &cmd, 2000), 0);
	assert_memory_equal(f->disk + 40 * 512, piece[0], 1024);
	assert_memory_equal(f->disk + 40 * 512 + 1024, piece[1], 2048);
	assert_memory_equal(f->disk + 40 * 512 + 3072, piece[2], 1024);

	/* read back with a single Data Block descriptor */
	uint8_t *r = nvme_host_alloc(h, 4096, 64, NULL);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 40, 8, r, NVME_HOST_F_SGL), 0);
	assert_memory_equal(r, f->disk + 40 * 512, 4096);
	assert_int_equal(atomic_load(&f->n_sgl), 2);

	/* a piece not dword aligned is refused before submission */
	sg[1].len = 2047;
	cmd.sg = sg;
	cmd.nsg = 3;
	cmd.flags = NVME_HOST_F_SGL;
	assert_int_equal(nvme_host_submit(h, 1, &cmd), -EINVAL);
	/* admin commands never use SGLs */
	struct nvme_host_cmd a = { .sqe = { .opc = NVME_ADM_IDENTIFY, .cdw10 = 1 },
				   .buf = r, .len = 4096, .flags = NVME_HOST_F_SGL };
	assert_int_equal(nvme_host_submit(h, 0, &a), -EINVAL);
	nvme_host_close(h);
	fk_stop(f);
}

struct cb_count {
	int done;
	int errors;
};

static void count_done(struct nvme_host_cmd *cmd)
{
	struct cb_count *c = cmd->arg;
	c->done++;
	if (cmd->result != 0)
		c->errors++;
}

void test_e2e_async_32(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 2, .io_depth = 64 };
	struct nvme_host *h = open_fk(f, &o);
	enum { N = 32 };
	struct nvme_host_cmd cmds[N];
	uint8_t *bufs[N];
	struct cb_count cc = { 0, 0 };

	for (int i = 0; i < N; i++) {
		bufs[i] = nvme_host_alloc(h, 2 * PG, PG, NULL);
		fill(bufs[i], 2 * PG, 100 + (uint32_t)i);
		assert_int_equal(nvme_host_cmd_rw(h, &cmds[i], NVME_CMD_WRITE, 1, (uint64_t)i * 16, 16,
						  bufs[i], 0), 0);
		cmds[i].done = count_done;
		cmds[i].arg = &cc;
		assert_int_equal(nvme_host_submit(h, 2, &cmds[i]), 0);
	}
	struct nvme_host_qstats qs;
	assert_int_equal(nvme_host_queue_stats(h, 2, &qs), 0);
	assert_int_equal(qs.inflight, N);
	/* CIDs are distinct */
	for (int i = 0; i < N; i++)
		for (int j = i + 1; j < N; j++)
			assert_int_not_equal(cmds[i].priv.cid, cmds[j].priv.cid);

	while (cc.done < N) {
		int n = nvme_host_wait_irq(h, 2, 2000);
		assert_true(n > 0);
	}
	assert_int_equal(cc.errors, 0);
	assert_int_equal(nvme_host_queue_stats(h, 2, &qs), 0);
	assert_int_equal(qs.inflight, 0);
	assert_int_equal(qs.bad_cqes, 0);
	/* the vector fired: either wait_irq consumed it, or it is still pending
	 * (when the completions were already there at the first look) */
	assert_true(atomic_load(&f->n_irq) > 0);
	struct pollfd pfd = { nvme_host_irq_fd(h, 2), POLLIN, 0 };
	assert_true(pfd.fd >= 0);
	assert_true(qs.irqs > 0 || poll(&pfd, 1, 0) == 1);
	for (int i = 0; i < N; i++)
		assert_memory_equal(f->disk + (size_t)i * 16 * 512, bufs[i], 2 * PG);

	/* the queue refills: depth 64 gives 63 command identifiers */
	struct nvme_host_cmd more[64];
	int ok = 0;
	for (int i = 0; i < 64; i++) {
		nvme_host_cmd_rw(h, &more[i], NVME_CMD_FLUSH, 1, 0, 0, NULL, 0);
		if (nvme_host_submit(h, 2, &more[i]) == 0)
			ok++;
	}
	assert_int_equal(ok, 63);
	int reaped = 0;
	while (reaped < 63) {
		int n = nvme_host_poll(h, 2, 10);
		assert_true(n >= 0 && n <= 10);
		reaped += n;
	}
	/* nothing waits: wait_irq times out */
	assert_int_equal(nvme_host_wait_irq(h, 2, 20), -ETIMEDOUT);
	nvme_host_close(h);
	fk_stop(f);
}

struct worker {
	struct nvme_host *h;
	struct fk *f;
	uint16_t qid;
	int failures;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	uint8_t *wb = nvme_host_alloc(w->h, PG, PG, NULL);
	uint8_t *rb = nvme_host_alloc(w->h, PG, PG, NULL);
	uint64_t base = w->qid * 1024ull;	/* separate LBA ranges per thread */

	for (int i = 0; i < 200; i++) {
		uint64_t lba = base + (uint64_t)(i % 64) * 8;
		fill(wb, PG, (uint32_t)(i + 1000 * w->qid));
		if (nvme_host_rw(w->h, w->qid, NVME_CMD_WRITE, 1, lba, 8, wb, 0) != 0 ||
		    nvme_host_rw(w->h, w->qid, NVME_CMD_READ, 1, lba, 8, rb, 0) != 0 ||
		    memcmp(wb, rb, PG) != 0)
			w->failures++;
	}
	nvme_host_free(w->h, wb);
	nvme_host_free(w->h, rb);
	return NULL;
}

/* Two queue pairs driven from two threads at once (trapped doorbells share
 * the socket; the arena is shared). */
void test_e2e_two_threads(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);
	struct worker w[2] = { { h, f, 1, 0 }, { h, f, 2, 0 } };
	pthread_t th[2];

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(w[0].failures, 0);
	assert_int_equal(w[1].failures, 0);
	nvme_host_close(h);
	fk_stop(f);
}
