/* test_nvme_host: the whole driver against the fake: raw commands and
 * timeouts, admin commands, the fd-less ROM range. */
#include "test_nvme_host.h"

void test_e2e_raw_and_timeout(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 1, .admin_timeout_ms = 200 };
	struct nvme_host *h = open_fk(f, &o);
	struct nvme_cqe cqe;

	/* raw SQE with a CID far outside the driver's range, bad opcode */
	struct nvme_sqe s = { .opc = 0x7f, .cid = 0xbeef, .nsid = 1 };
	int st = nvme_host_raw(h, 1, &s, &cqe, 1000);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_INVALID_OPCODE);
	assert_int_equal(cqe.cid, 0xbeef);
	assert_int_equal(cqe.sqid, 1);
	/* raw read whose PRP1 is not dword aligned */
	uint64_t iova;
	uint8_t *b = nvme_host_alloc(h, PG, PG, &iova);
	(void)b;
	s = (struct nvme_sqe){ .opc = NVME_CMD_READ, .cid = 3, .nsid = 1 };
	s.dptr.prp1 = iova + 2;
	st = nvme_host_raw(h, 1, &s, &cqe, 1000);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_INVALID_PRP_OFFSET);
	assert_int_equal(cqe.cid, 3);

	/* a command the controller never completes times out; the queue goes on */
	struct nvme_sqe hang = { .opc = FK_VENDOR_HANG };
	assert_int_equal(nvme_host_admin(h, &hang, NULL, 0, NULL), -ETIMEDOUT);
	struct nvme_host_qstats qs;
	assert_int_equal(nvme_host_queue_stats(h, 0, &qs), 0);
	assert_int_equal(qs.inflight, 1);		/* its CID stays reserved */
	uint32_t dw0 = 0;
	assert_int_equal(nvme_host_get_features(h, NVME_FEAT_NUM_QUEUES, 0, 0, 0, NULL, 0, &dw0), 0);
	assert_int_equal(dw0, 0x00020002);

	/* a CQE naming a CID that is not in flight: -EPROTO, counted */
	struct nvme_host_cmd c = { .sqe = { .opc = FK_VENDOR_BADCID, .nsid = 1 } };
	assert_int_equal(nvme_host_submit(h, 1, &c), 0);
	int rc = 0;
	for (int i = 0; i < 2000 && rc == 0; i++) {
		rc = nvme_host_poll(h, 1, 0);
		if (rc == 0)
			usleep(1000);
	}
	assert_int_equal(rc, -EPROTO);
	assert_false(c.completed);
	assert_int_equal(nvme_host_queue_stats(h, 1, &qs), 0);
	assert_int_equal(qs.bad_cqes, 1);
	assert_int_equal(qs.inflight, 1);
	nvme_host_close(h);
	assert_true(c.completed);			/* cancelled at close */
	assert_int_equal(c.result, -ECANCELED);
	fk_stop(f);
}

void test_e2e_admin(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host *h = open_fk(f, NULL);

	/* log page into ordinary memory (bounced through the arena) */
	uint8_t log[512];
	memset(log, 0x55, sizeof(log));
	assert_int_equal(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 0, false, log,
						sizeof(log)), 0);
	assert_int_equal(log[0], 0xab);
	assert_int_equal(log[511], 0);
	assert_int_equal(nvme_host_get_log_page(h, NVME_LOG_SMART, 0, 0, false, log, 6), -EINVAL);

	/* bad queue creation: qid taken, CQ missing, size 1 */
	uint64_t iova;
	nvme_host_alloc(h, PG, PG, &iova);
	int st = nvme_host_create_io_cq(h, 1, 15, iova, 0, NVME_CQ_PC);
	assert_int_equal(st, NVME_STATUS(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID) | NVME_STATUS_DNR);
	st = nvme_host_create_io_sq(h, 3, 15, iova, 3, NVME_SQ_PC);
	assert_int_equal(NVME_STATUS_SCT(st), NVME_SCT_CMD_SPECIFIC);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_CQ_INVALID);
	st = nvme_host_create_io_cq(h, 3, 0, iova, 0, NVME_CQ_PC);
	assert_int_equal(NVME_STATUS_SC(st), NVME_SC_QUEUE_SIZE);
	uint32_t dw0 = 0;
	assert_int_equal(nvme_host_abort(h, 1, 5, &dw0), 0);
	assert_int_equal(dw0, 1);

	/* asynchronous event */
	assert_int_equal(nvme_host_aer_submit(h), 0);
	assert_int_equal(nvme_host_aer_outstanding(h), 1);
	struct nvme_cqe cqe;
	assert_int_equal(nvme_host_aer_poll(h, 50, &cqe), -ETIMEDOUT);
	atomic_store(&f->aer_fire, true);
	assert_int_equal(nvme_host_aer_poll(h, 2000, &cqe), 0);
	assert_int_equal(NVME_AER_TYPE(cqe.dw0), 1);
	assert_int_equal(NVME_AER_LOG(cqe.dw0), NVME_LOG_SMART);
	assert_int_equal(nvme_host_aer_outstanding(h), 0);

	/* an AER outstanding across a reset comes back cancelled */
	assert_int_equal(nvme_host_aer_submit(h), 0);
	assert_int_equal(nvme_host_reset(h), 0);
	assert_int_equal(nvme_host_aer_poll(h, 10, &cqe), -ECANCELED);
	assert_int_equal(nvme_host_aer_outstanding(h), 0);
	uint8_t *w = nvme_host_alloc(h, PG, PG, NULL);
	fill(w, PG, 9);
	assert_int_equal(nvme_host_rw(h, 2, NVME_CMD_WRITE, 1, 0, 8, w, 0), 0);
	assert_memory_equal(f->disk, w, PG);

	/* shutdown, then nothing runs until a reset */
	assert_int_equal(nvme_host_shutdown(h), 0);
	assert_int_equal(rd32(f->bar0 + NVME_REG_CSTS) & NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT);
	assert_false(f->sq[1].live || f->cq[1].live);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 8, w, 0), -ESHUTDOWN);
	assert_int_equal(nvme_host_reset(h), 0);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_READ, 1, 0, 8, w, 0), 0);
	nvme_host_close(h);
	fk_stop(f);
}

/* The fd-less ROM range: DMA_MAP without an fd, read-only, unmapped at close;
 * one overlapping the arena is refused before anything is sent. */
void test_e2e_rom_map(void **state)
{
	(void)state;
	struct fk *f = fk_start(false, 0, 0);
	struct nvme_host_opts o = { .nr_io_queues = 1, .rom_size = 0x40000 };
	struct nvme_host *h = open_fk(f, &o);
	assert_int_equal(f->n_fdless_map, 1);
	assert_int_equal(f->fdless_iova, 0xfffc0000ull);
	assert_int_equal(f->fdless_size, 0x40000);
	assert_int_equal(f->fdless_flags, VFIO_DMA_MAP_FLAG_READ);
	uint8_t *b = nvme_host_alloc(h, PG, PG, NULL);
	fill(b, PG, 5);
	assert_int_equal(nvme_host_rw(h, 1, NVME_CMD_WRITE, 1, 0, 8, b, 0), 0);
	nvme_host_close(h);
	assert_int_equal(f->n_fdless_unmap, 1);
	fk_stop(f);

	struct nvme_host_opts bad = { .mem_size = 1u << 20, .iova_base = 0x100000,
				      .rom_size = 0x2000, .rom_iova = 0x1ff000 };
	assert_int_equal(nvme_host_open("/nonexistent/osnap.sock", &bad, &h), -EINVAL);
	bad.rom_iova = 0x200000;
	bad.rom_size = 0x1800;
	assert_int_equal(nvme_host_open("/nonexistent/osnap.sock", &bad, &h), -EINVAL);
}
