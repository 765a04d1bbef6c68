/* test_nvme_host: the whole driver against the fake: mmapped and shadow
 * doorbells, deferred doorbells, per-vector interrupt masking. */
#include "test_nvme_host.h"

void test_e2e_mmap_doorbells(void **state)
{
	(void)state;
	struct fk *f = fk_start(true, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 1, .irq = NVME_HOST_IRQ_OFF };
	struct nvme_host *h = open_fk(f, &o);

	assert_true(nvme_host_doorbells_mmapped(h));
	assert_false(nvme_host_irq_enabled(h, 1));
	assert_false(f->cq[1].ien);
	uint8_t *w = nvme_host_alloc(h, 2 * PG, PG, NULL);
	fill(w, 2 * PG, 77);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 16, 16, w, 0), 0);
	assert_memory_equal(f->disk + 16 * 512, w, 2 * PG);
	assert_int_equal(atomic_load(&f->n_trapped_db), 0);
	assert_int_equal(nvme_host_wait_irq(h, 1, 10), -EOPNOTSUPP);
	nvme_host_close(h);
	fk_stop(f);

	/* a controller without mappable doorbells and NVME_HOST_DB_MMAP required */
	f = fk_start(false, 0, 0);
	struct nvme_host *h2 = NULL;
	o = (struct nvme_host_opts){ .mem_size = 8u << 20, .doorbells = NVME_HOST_DB_MMAP };
	assert_int_equal(nvme_host_open(f->path, &o, &h2), -EOPNOTSUPP);
	assert_null(h2);
	fk_stop(f);
}

void test_e2e_shadow_doorbells(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, NVME_OACS_DBBUF);
	struct nvme_host_opts o = { .nr_io_queues = 1, .shadow_doorbells = true };
	struct nvme_host *h = open_fk(f, &o);

	assert_true(nvme_host_shadow_doorbells(h));
	assert_true(f->shadow_iova != 0);
	uint8_t *w = nvme_host_alloc(h, PG, PG, NULL);
	for (int i = 0; i < 20; i++) {
		fill(w, PG, (uint32_t)i);
		assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, (uint64_t)i * 8, 8, w, 0), 0);
		assert_memory_equal(f->disk + (size_t)i * PG, w, PG);
	}
	struct nvme_host_qstats qs;
	assert_int_equal(nvme_host_queue_stats(h, 1, &qs), 0);
	/* every SQ tail went to the shadow page; the real doorbell only when
	 * the EventIdx asked (here: each time, since the fake publishes the
	 * tail it saw) */
	assert_true(qs.doorbells + qs.doorbells_skipped >= 40);
	/* the fake never publishes a CQ EventIdx: head updates stay in the shadow */
	assert_true(qs.doorbells_skipped > 0);
	assert_true(atomic_load(&f->n_shadow_used) > 0 || atomic_load(&f->n_trapped_db) > 0);
	nvme_host_close(h);
	fk_stop(f);
}

/* Per-vector masking as a VFIO user does it: SET_IRQS MASK/UNMASK. A masked
 * vector's interrupt latches in the PBA and comes once on unmask. */
void test_e2e_irq_mask(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);
	int efd = nvme_host_irq_fd(h, 1);
	uint64_t v;
	assert_true(efd >= 0);
	uint8_t *b = nvme_host_alloc(h, PG, PG, NULL);
	fill(b, PG, 9);

	assert_int_equal(nvme_host_irq_mask(h, 1, true), 0);
	assert_true(f->vmask[1]);
	assert_false(f->vmask[0] || f->vmask[2]);
	assert_int_equal(f->irq_set[f->n_irq_set - 1].flags,
			 VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK);
	assert_int_equal(f->irq_set[f->n_irq_set - 1].start, 1);
	assert_int_equal(f->irq_set[f->n_irq_set - 1].count, 1);
	while (read(efd, &v, sizeof(v)) == sizeof(v))
		;
	/* the command completes (the driver polls), no interrupt: pending */
	struct nvme_host_cmd c;
	assert_int_equal(nvme_host_cmd_rw(h, &c, NVME_CMD_WRITE, 1, 16, 8, b, 0), 0);
	assert_int_equal(nvme_host_submit(h, 1, &c), 0);
	/* poll only: nvme_host_wait() would consume the eventfd */
	for (int i = 0; i < 50000 && !c.completed; i++) {
		assert_true(nvme_host_poll(h, 1, 0) >= 0);
		if (!c.completed)
			usleep(100);
	}
	assert_true(c.completed);
	assert_int_equal(c.result, 0);
	assert_int_equal(vfu_sync(nvme_host_vfu(h)), 0);	/* the fake is done posting */
	assert_int_equal(read(efd, &v, sizeof(v)), -1);
	assert_int_equal(f->bar4[0x800] & 2, 2);
	/* unmask: delivered once, PBA clear */
	assert_int_equal(nvme_host_irq_mask(h, 1, false), 0);
	assert_false(f->vmask[1]);
	assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
	assert_int_equal(v, 1);
	assert_int_equal(f->bar4[0x800] & 2, 0);
	/* a queue without an interrupt */
	assert_int_equal(nvme_host_irq_mask(h, 3, true), -EINVAL);
	assert_int_equal(atomic_load(&f->n_table_writes), 0);
	nvme_host_close(h);
	fk_stop(f);
}

/* NVME_HOST_F_NO_DB: two SQEs, one doorbell. */
void test_e2e_deferred_doorbell(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);
	struct vfu_client *v = nvme_host_vfu(h);
	uint8_t *b = nvme_host_alloc(h, 2 * PG, PG, NULL);
	fill(b, 2 * PG, 4);
	struct nvme_host_cmd c1, c2;
	assert_int_equal(nvme_host_cmd_rw(h, &c1, NVME_CMD_WRITE, 1, 40, 8, b, 0), 0);
	assert_int_equal(nvme_host_cmd_rw(h, &c2, NVME_CMD_WRITE, 1, 48, 8, b + PG, 0), 0);
	c1.flags |= NVME_HOST_F_NO_DB;
	/* held back: the controller's SQ tail does not move */
	assert_int_equal(vfu_sync(v), 0);
	uint32_t tail0 = f->sq[1].db;
	int db0 = atomic_load(&f->n_trapped_db);
	assert_int_equal(nvme_host_submit(h, 1, &c1), 0);
	assert_int_equal(vfu_sync(v), 0);
	assert_int_equal(f->sq[1].db, tail0);
	assert_int_equal(atomic_load(&f->n_trapped_db), db0);
	assert_int_equal(nvme_host_poll(h, 1, 0), 0);
	assert_false(c1.completed);
	/* the next plain submission publishes both in one doorbell */
	assert_int_equal(nvme_host_submit(h, 1, &c2), 0);
	assert_int_equal(vfu_sync(v), 0);
	assert_int_equal(atomic_load(&f->n_trapped_db), db0 + 1);
	assert_int_equal(f->sq[1].db, tail0 + 2);
	assert_int_equal(nvme_host_wait(h, 1, &c1, 5000), 0);
	assert_int_equal(nvme_host_wait(h, 1, &c2, 5000), 0);
	assert_memory_equal(f->disk + 40 * 512, b, 2 * PG);
	/* or nvme_host_ring_sq(), which has nothing to do the second time */
	assert_int_equal(nvme_host_submit(h, 1, &c1), 0);
	assert_int_equal(vfu_sync(v), 0);
	db0 = atomic_load(&f->n_trapped_db);
	assert_int_equal(nvme_host_ring_sq(h, 1), 0);
	assert_int_equal(nvme_host_ring_sq(h, 1), 0);
	assert_int_equal(vfu_sync(v), 0);
	assert_int_equal(atomic_load(&f->n_trapped_db), db0 + 1);
	assert_int_equal(nvme_host_wait(h, 1, &c1, 5000), 0);
	assert_int_equal(nvme_host_ring_sq(h, 9), -EINVAL);
	nvme_host_close(h);
	fk_stop(f);
}
