/* nvme_e2e: Guest memory: memory mapped without a file descriptor, memory unmapped
 * and mapped again under live queues. */
#include "nvme_e2e.h"

/* ---- memory without a file descriptor ---------------------------------------------------- */

/* Data pointers into memory the client mapped without a file descriptor
 * (the ROM range of open_ctrl(), as QEMU maps a VM's firmware): the
 * controller cannot reach it and must treat it as memory outside the map,
 * with the status it gives there (Data Transfer Error). */
void case_fdless_memory(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *mem = NULL, *aux = NULL;
	uint64_t mi = 0, ai = 0;
	struct nvme_sqe s;
	REQUIRE(h);
	const uint64_t nowhere = 0x4000000000ull;	/* never mapped */
	const uint64_t rom = ROM_IOVA + 0x1000;
	mem = xalloc(h, 4 * 4096, 4096, &mi);
	aux = xalloc(h, 4096, 4096, &ai);
	REQUIRE(mem && aux);
	uint64_t *list = (uint64_t *)aux;
	const uint32_t p3 = 3 * 4096 / bs();
	CHECK(write_verify(h, 1, O.nsid, 74000, 8, O.seed + 50));

	/* each shape: first outside the map, then in the fd-less range; the
	 * statuses must be the same, Data Transfer Error */
	const uint64_t where[2] = { nowhere, rom };
	for (int k = 0; k < 2; k++) {
		const char *w = k ? "fd-less" : "unmapped";
		diag("data pointers into %s memory", w);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 74000, 1);
		s.dptr.prp1 = where[k];			/* PRP1, controller writes */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		s.opc = NVME_CMD_WRITE;			/* PRP1, controller reads */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 74000, 8192 / bs());
		s.dptr.prp1 = mi;
		s.dptr.prp2 = where[k];			/* PRP2 as the second page */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		s = rw_sqe(NVME_CMD_READ, O.nsid, 74000, p3);
		s.dptr.prp1 = mi;
		s.dptr.prp2 = where[k];			/* the PRP list itself */
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		list[0] = mi + 4096;
		list[1] = where[k];			/* a page of the list */
		s.dptr.prp2 = ai;
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		if (NVME_SGLS_SUPPORT(nvme_host_id_ctrl(h)->sgls) != NVME_SGLS_NONE) {
			s = sgl_sqe(NVME_CMD_WRITE, 74000, 1, sgl(NVME_SGL_TYPE_DATA_BLOCK, where[k], bs()));
			EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
		}
		/* an admin command's data there */
		struct nvme_sqe a = { .opc = NVME_ADM_IDENTIFY, .cdw10 = NVME_CNS_CTRL };
		a.dptr.prp1 = where[k];
		EXPECT_ST(raw(h, 0, &a, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	}
	/* a queue ring there: refused as a ring outside the map is */
	{
		int st_out = nvme_host_create_io_cq(h, 7, 15, nowhere, 0, NVME_CQ_PC);
		int st_rom = nvme_host_create_io_cq(h, 7, 15, ROM_IOVA, 0, NVME_CQ_PC);
		CHECK(st_out > 0);
		CHECK_EQ(st_rom, st_out);
		if (st_rom == 0)
			(void)nvme_host_delete_io_cq(h, 7);
	}
	/* nothing of that disturbed the controller or the data */
	CHECK(read_check(h, 1, O.nsid, 74000, 8, O.seed + 50));
	check_csts_ok(h, "after the bad pointers");
	/* the range unmaps (exactly) and maps again */
	{
		struct vfu_client *v = nvme_host_vfu(h);
		REQUIRE_OK(vfu_dma_unmap(v, ROM_IOVA, ROM_SIZE));
		REQUIRE_OK(vfu_dma_map(v, ROM_IOVA, ROM_SIZE, -1, 0, VFU_PROT_READ));
		s = rw_sqe(NVME_CMD_WRITE, O.nsid, 74000, 1);
		s.dptr.prp1 = rom;
		EXPECT_ST(raw(h, 1, &s, NULL), 0, NVME_SC_DATA_XFER_ERROR);
	}
out:
	if (h) {
		nvme_host_free(h, mem);
		nvme_host_free(h, aux);
	}
	nvme_host_close(h);
}

/* ---- memory unmapped and mapped again under live queues ------------------------------------ */

/* The client unmaps guest memory holding live queues and maps it again in
 * pieces, same fd and offsets (QEMU does so under SeaBIOS while the BIOS's
 * NVMe driver has its queues). The controller must never touch the memory
 * while it is gone, and must not give up on it either: CSTS.CFS stays 0
 * and the queues carry on once the memory is back, without a reset. A
 * reset afterwards works as well. */
void case_remap(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	REQUIRE(h);
	uint64_t iova;
	size_t size;
	nvme_host_mem_base(h, &iova, &size);
	uint8_t *buf = xalloc(h, 64 * 1024, 4096, NULL), *chk = xalloc(h, 64 * 1024, 4096, NULL);
	REQUIRE(buf && chk);
	const uint32_t nblk = 64 * 1024 / bs();
	pattern_fill(buf, 70000, nblk, bs(), O.seed + 20);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 70000, nblk, buf, 0));

	struct vfu_client *v = nvme_host_vfu(h);
	int fd = h->mem->fd;
	REQUIRE_OK(vfu_dma_unmap(v, iova, size));
	check_csts_ok(h, "with the memory gone");
	size_t half = size / 2 & ~(size_t)4095;
	REQUIRE_OK(vfu_dma_map(v, iova, half, fd, 0, VFU_PROT_READ | VFU_PROT_WRITE));
	REQUIRE_OK(vfu_dma_map(v, iova + half, size - half, fd, half, VFU_PROT_READ | VFU_PROT_WRITE));
	check_csts_ok(h, "after the remap");
	/* the same queues go on: I/O and admin */
	memset(chk, 0, 64 * 1024);
	REQUIRE_OK(io(h, 1, NVME_CMD_READ, O.nsid, 70000, nblk, chk, 0));
	if (pattern_check(chk, 70000, nblk, bs(), O.seed + 20) >= 0)
		FAIL("data written before the remap reads back wrong through the same queue");
	{
		struct nvme_id_ctrl id;
		EXPECT_OK(nvme_host_identify_ctrl(h, &id));
	}
	pattern_fill(buf, 71000, nblk, bs(), O.seed + 21);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 71000, nblk, buf, 0));
	/* and a reset brings everything back as well */
	REQUIRE_OK(nvme_host_reset(h));
	memset(chk, 0, 64 * 1024);
	REQUIRE_OK(io(h, 1, NVME_CMD_READ, O.nsid, 71000, nblk, chk, 0));
	if (pattern_check(chk, 71000, nblk, bs(), O.seed + 21) >= 0)
		FAIL("data written after the remap reads back wrong after a reset");
	check_csts_ok(h, "at the end");
out:
	if (h)
		nvme_host_close(h);
}

/* Wait for a command that raced with a DMA_UNMAP of its memory: it was
 * fetched before the unmap (success) or while the memory was going away
 * (Data Transfer Error, as DMA to memory the IOMMU let go of fails on a
 * real device); anything else, or no completion, is wrong. True on
 * success. */
static bool raced_ok(struct nvme_host *h, struct nvme_host_cmd *c, const char *what)
{
	int st = nvme_host_wait(h, 1, c, EVENT_DEADLINE_MS);
	if (st == 0)
		return true;
	if (!st_is(st, 0, NVME_SC_DATA_XFER_ERROR))
		FAIL("%s, submitted before the unmap: %s, want success or Data Transfer Error", what,
		     st_str(st));
	else
		diag("%s raced with the unmap: Data Transfer Error", what);
	return false;
}

/* As case_remap, with commands on their way: some submitted just before
 * the unmap and not waited for (they race with it), some submitted while
 * the memory is gone (the controller cannot fetch them until it is back),
 * an admin command among them. Those complete once the memory is back,
 * with the right data, and CSTS.CFS stays 0 all along. */
void case_remap_live(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *wa = NULL, *wb = NULL, *wc = NULL, *wz = NULL, *r1 = NULL, *r2 = NULL;
	REQUIRE(h);
	const uint32_t nblk = 16;
	const size_t len = (size_t)nblk * bs();
	uint64_t iova;
	size_t size;
	nvme_host_mem_base(h, &iova, &size);
	size_t half = size / 2 & ~(size_t)4095;
	uint64_t hi = 0;
	wa = xalloc(h, len, 4096, NULL);
	wb = xalloc(h, len, 4096, NULL);
	wc = xalloc(h, len, 4096, NULL);
	wz = xalloc(h, len, 4096, NULL);
	r1 = xalloc(h, len, 4096, NULL);
	r2 = xalloc(h, len, 4096, NULL);
	REQUIRE(wa && wb && wc && wz && r1 && r2);
	/* the rings and these buffers come first in the arena: all in the
	 * lower half, which is mapped again last (so that nothing is fetched
	 * half-way through the remap) */
	REQUIRE_OK(nvme_host_iova(h, r2 + len - 1, 1, &hi));
	REQUIRE(hi < iova + half);
	pattern_fill(wa, 72000, nblk, bs(), O.seed + 30);
	pattern_fill(wb, 72100, nblk, bs(), O.seed + 31);
	pattern_fill(wc, 72200, nblk, bs(), O.seed + 32);
	pattern_fill(wz, 72100, nblk, bs(), O.seed + 33);
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 72000, nblk, wa, 0));
	REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 72100, nblk, wz, 0));

	struct vfu_client *v = nvme_host_vfu(h);
	int fd = h->mem->fd;
	struct nvme_host_cmd rd1, wr1, rd2, wr2, adm;
	/* right before the unmap, not waited for */
	REQUIRE_OK(nvme_host_cmd_rw(h, &rd1, NVME_CMD_READ, O.nsid, 72000, nblk, r1, 0));
	REQUIRE_OK(nvme_host_cmd_rw(h, &wr1, NVME_CMD_WRITE, O.nsid, 72100, nblk, wb, 0));
	REQUIRE_OK(nvme_host_submit(h, 1, &rd1));
	REQUIRE_OK(nvme_host_submit(h, 1, &wr1));
	REQUIRE_OK(vfu_dma_unmap(v, iova, size));
	check_csts_ok(h, "with the memory gone");
	/* while it is gone */
	REQUIRE_OK(nvme_host_cmd_rw(h, &rd2, NVME_CMD_READ, O.nsid, 72000, nblk, r2, 0));
	REQUIRE_OK(nvme_host_cmd_rw(h, &wr2, NVME_CMD_WRITE, O.nsid, 72200, nblk, wc, 0));
	REQUIRE_OK(nvme_host_submit(h, 1, &rd2));
	REQUIRE_OK(nvme_host_submit(h, 1, &wr2));
	memset(&adm, 0, sizeof(adm));
	adm.sqe.opc = NVME_ADM_GET_FEATURES;
	adm.sqe.cdw10 = NVME_FEAT_NUM_QUEUES;
	REQUIRE_OK(nvme_host_submit(h, 0, &adm));
	/* nothing the controller cannot see completes meanwhile (a bounded
	 * look: the memory is gone, there is nothing to wait for) */
	{
		int64_t end = now_ms() + 200;
		while (now_ms() < end) {
			(void)nvme_host_poll(h, 1, 0);
			(void)nvme_host_poll(h, 0, 0);
			sleep_ms(5);
		}
		CHECK(!rd2.completed && !wr2.completed && !adm.completed);
	}
	check_csts_ok(h, "with commands waiting for the memory");
	REQUIRE_OK(vfu_dma_map(v, iova + half, size - half, fd, half, VFU_PROT_READ | VFU_PROT_WRITE));
	REQUIRE_OK(vfu_dma_map(v, iova, half, fd, 0, VFU_PROT_READ | VFU_PROT_WRITE));
	bool r1_ok = raced_ok(h, &rd1, "a read");
	bool w1_ok = raced_ok(h, &wr1, "a write");
	EXPECT_OK(nvme_host_wait(h, 1, &rd2, EVENT_DEADLINE_MS));
	EXPECT_OK(nvme_host_wait(h, 1, &wr2, EVENT_DEADLINE_MS));
	EXPECT_OK(nvme_host_wait(h, 0, &adm, EVENT_DEADLINE_MS));
	if (r1_ok)
		CHECK(pattern_check(r1, 72000, nblk, bs(), O.seed + 30) < 0);
	CHECK(pattern_check(r2, 72000, nblk, bs(), O.seed + 30) < 0);
	/* the racing write took effect whole, or not at all */
	CHECK(read_check(h, 1, O.nsid, 72100, nblk, w1_ok ? O.seed + 31 : O.seed + 33));
	CHECK(read_check(h, 1, O.nsid, 72200, nblk, O.seed + 32));
	check_csts_ok(h, "after the remap");
	struct nvme_host_qstats qs;
	REQUIRE_OK(nvme_host_queue_stats(h, 1, &qs));
	CHECK_EQ(qs.bad_cqes, 0);
	CHECK_EQ(qs.inflight, 0);
out:
	if (h) {
		nvme_host_free(h, wa);
		nvme_host_free(h, wb);
		nvme_host_free(h, wc);
		nvme_host_free(h, wz);
		nvme_host_free(h, r1);
		nvme_host_free(h, r2);
	}
	nvme_host_close(h);
}
