/* hostile_client: guest memory as a weapon. The admin rings unmapped while
 * events are raised (class 2), memory the client shared truncated under a
 * command's data, over vfio-user and vhost-user (class 4), and the mapped
 * doorbell page's fd (class 4). */
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hostile_client.h"

/* ---- class 2: admin completions while the admin rings are unmapped ------------------------
 *
 * Two AERs outstanding; the whole arena (admin and I/O rings, every
 * buffer) is unmapped. An invalid doorbell write (SQ 5 does not exist) and
 * a namespace attach (by the Python side, between "READY attach" and
 * "attached") raise two events while the admin CQ is gone: nothing may be
 * written into our memory meanwhile, osnapd must survive, and both events
 * arrive once the memory is mapped again. */
void case_aer_unmapped(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	char line[64];
	uint8_t *snap = NULL;
	REQUIRE(h);
	struct vfu_client *v = nvme_host_vfu(h);
	uint64_t iova;
	size_t size;
	nvme_host_mem_base(h, &iova, &size);
	REQUIRE_OK(nvme_host_set_features(h, NVME_FEAT_ASYNC_EVENT, false, 0, 0x100, NULL, 0, NULL));
	REQUIRE_OK(nvme_host_aer_submit(h));
	REQUIRE_OK(nvme_host_aer_submit(h));
	CHECK(write_verify(h, 2000, 8, O.seed));
	struct nvme_host_queue *aq = nvme_host_queue(h, 0);
	REQUIRE(aq);
	size_t cq_bytes = (size_t)aq->depth * sizeof(struct nvme_cqe);
	snap = malloc(cq_bytes);
	REQUIRE(snap);
	memcpy(snap, aq->cq_mem, cq_bytes);

	REQUIRE_OK(vfu_dma_unmap(v, iova, size));
	/* SQ 5 tail doorbell: no such queue (Invalid Doorbell Register) */
	uint32_t one = 1;
	REQUIRE_OK(vfu_region_write(v, VFIO_PCI_BAR0_REGION_INDEX, NVME_REG_DBS + 5 * 8, &one, 4, false));
	REQUIRE(handshake("attach", 60000, line, sizeof(line)));
	/* the attach RPC returned; one more round trip for the doorbell */
	int rc = vfu_sync(v);
	if (rc) {
		FAIL("osnapd gone while the admin rings were unmapped: %s", st_str(rc));
		goto out;
	}
	if (memcmp(snap, aq->cq_mem, cq_bytes))
		FAIL("the admin CQ was written while its memory was unmapped");
	uint32_t csts = 0;
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	CHECK_EQ(csts & (NVME_CSTS_RDY | NVME_CSTS_CFS), NVME_CSTS_RDY);

	/* back, in two pieces (as QEMU remaps) */
	size_t half = size / 2 & ~(size_t)4095;
	int fd = h->mem->fd;
	REQUIRE_OK(vfu_dma_map(v, iova, half, fd, 0, VFU_PROT_READ | VFU_PROT_WRITE));
	REQUIRE_OK(vfu_dma_map(v, iova + half, size - half, fd, half, VFU_PROT_READ | VFU_PROT_WRITE));
	struct nvme_cqe c[2];
	int got = 0;
	for (; got < 2; got++) {
		int st = nvme_host_aer_poll(h, DEADLINE_MS, &c[got]);
		if (st) {
			FAIL("asynchronous event %d after the remap: %s", got + 1, st_str(st));
			break;
		}
		diag("event %d: dw0 0x%08x", got + 1, c[got].dw0);
	}
	diag("RESULT events=%d", got);
	if (got == 2) {
		/* raised in this order: the error, then the notice */
		CHECK_EQ(NVME_AER_TYPE(c[0].dw0), 0);		/* Error status */
		CHECK_EQ(NVME_AER_INFO(c[0].dw0), 0);		/* Write to Invalid Doorbell Register */
		CHECK_EQ(NVME_AER_LOG(c[0].dw0), NVME_LOG_ERROR);
		CHECK_EQ(NVME_AER_TYPE(c[1].dw0), 2);		/* Notice */
		CHECK_EQ(NVME_AER_INFO(c[1].dw0), 0);		/* Namespace Attribute Changed */
		CHECK_EQ(NVME_AER_LOG(c[1].dw0), NVME_LOG_CHANGED_NS);
	}
	uint32_t *log = nvme_host_alloc(h, 4096, 4096, NULL);
	REQUIRE(log);
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_CHANGED_NS, 0, 0, false, log, 4096));
	bool found = false;
	for (int i = 0; i < 1024 && log[i]; i++)
		found |= log[i] == 2;
	CHECK(found);
	nvme_host_free(h, log);
	/* the same queues go on: the data is there, new data goes in */
	CHECK(read_check(h, 2000, 8, O.seed));
	CHECK(write_verify(h, 2100, 8, O.seed + 1));
	REQUIRE_OK(nvme_host_ns_refresh(h));
	CHECK(nvme_host_ns_info(h, 2, NULL) == 0);
	CHECK_EQ(nvme_host_rw(h, 1, NVME_CMD_WRITE, 2, 0, 1, nvme_host_alloc(h, 4096, 4096, NULL), 0), 0);
	check_csts_ok(h, "after the remap");
out:
	free(snap);
	nvme_host_close(h);
}

/* ---- class 4: the client truncates memory it shared -----------------------------------------
 *
 * An extra memfd region; a command works on it; then the file shrinks to
 * half and a command's data lies in the lost half: a read (the controller
 * writes there) or a write (it reads there). We never touch that half
 * ourselves. osnapd must drop this client (close the socket) and live. */
void case_truncate(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	struct host_mem *x = NULL;
	REQUIRE(h);
	struct vfu_client *v = nvme_host_vfu(h);
	REQUIRE_OK(map_extra(h, XIOVA, XSIZE, &x));
	bool rd = !strcmp(O.op, "read");
	/* it works before: written from the first page, read back into it */
	struct nvme_sqe s;
	struct nvme_host_cmd cmd;
	pattern_fill_lba(x->ptr, 3000, 8, O.seed);
	REQUIRE_OK(nvme_host_cmd_rw(h, &cmd, NVME_CMD_WRITE, O.nsid, 3000, 8, NULL, 0));
	cmd.flags |= NVME_HOST_F_DPTR;
	cmd.sqe.dptr.prp1 = XIOVA;
	REQUIRE_OK(nvme_host_submit(h, 1, &cmd));
	REQUIRE_OK(nvme_host_wait(h, 1, &cmd, DEADLINE_MS));
	memset(x->ptr, 0, 4096);
	REQUIRE_OK(nvme_host_cmd_rw(h, &cmd, NVME_CMD_READ, O.nsid, 3000, 8, NULL, 0));
	cmd.flags |= NVME_HOST_F_DPTR;
	cmd.sqe.dptr.prp1 = XIOVA;
	REQUIRE_OK(nvme_host_submit(h, 1, &cmd));
	REQUIRE_OK(nvme_host_wait(h, 1, &cmd, DEADLINE_MS));
	CHECK(pattern_ok(x->ptr, 3000, 8, O.seed));

	REQUIRE(ftruncate(x->fd, XSIZE / 2) == 0);
	diag("truncated the shared memfd to %u bytes; %s with data at +%u", XSIZE / 2, O.op, XSIZE * 3 / 4);
	(void)s;
	REQUIRE_OK(nvme_host_cmd_rw(h, &cmd, rd ? NVME_CMD_READ : NVME_CMD_WRITE, O.nsid, 3100, 8, NULL, 0));
	cmd.flags |= NVME_HOST_F_DPTR;
	cmd.sqe.dptr.prp1 = XIOVA + XSIZE * 3 / 4;
	REQUIRE_OK(nvme_host_submit(h, 1, &cmd));
	int rc = wait_dropped(v, DEADLINE_MS);
	diag("RESULT dropped=%d rc=%d", rc == -ETIMEDOUT ? 0 : 1, rc);
	if (rc == -ETIMEDOUT)
		FAIL("the connection is still up %d ms after the fault", DEADLINE_MS);
	/* the command may have completed into the zero page before the drop */
	(void)nvme_host_poll(h, 1, 0);
	diag("the command: completed %d result %s", cmd.completed, st_str(cmd.result));
out:
	/* no goodbye: the connection is gone (and its memory half truncated) */
	vanish();
	(void)x;
}

/* The same over vhost-user: the front end's second memory region (its own
 * memfd) shrinks to nothing and a read request's data lies in it. */
void case_truncate_vhost(void)
{
	struct vblk_host_opts o;
	struct vblk_host *d = NULL;
	memset(&o, 0, sizeof(o));
	o.mem_size = 4u << 20;
	o.mem_regions = 2;
	o.irq = VBLK_HOST_IRQ_POLL;
	o.timeout_ms = DEADLINE_MS;
	o.ctrl_timeout_ms = DEADLINE_MS;
	int rc = vblk_host_open_vhost_user(O.sock, &o, &d);
	int nb = 0;
	uint8_t *buf = NULL;
	if (rc) {
		FAIL("vblk_host_open_vhost_user: %s", st_str(rc));
		goto out;
	}
	/* works before (a buffer in region 0) */
	{
		uint8_t *b0 = vblk_host_alloc(d, 4096);
		REQUIRE(b0);
		pattern_fill_lba(b0, 40, 8, O.seed);
		uint8_t st = 0xff;
		REQUIRE_OK(vblk_host_rw(d, 0, VH_BLK_T_OUT, 40, b0, 4096, &st));
		CHECK_EQ(st, 0);
	}
	/* a buffer in region 1 */
	uint8_t *r1 = d->regions[1].m->ptr;
	size_t r1size = d->regions[1].m->size;
	while (nb < 16) {
		uint8_t *p = vblk_host_alloc(d, 4096);
		REQUIRE(p);
		nb++;	/* kept: the arena is freed at close */
		if (p >= r1 && p < r1 + r1size) {
			buf = p;
			break;
		}
	}
	REQUIRE(buf);
	REQUIRE(ftruncate(d->regions[1].m->fd, 0) == 0);
	diag("truncated the second memory region's memfd to 0; read into it");
	struct vblk_host_req r;
	memset(&r, 0, sizeof(r));
	r.type = VH_BLK_T_IN;
	r.sector = 40;
	r.buf = buf;
	r.len = 4096;
	REQUIRE_OK(vblk_host_submit(d, 0, &r));
	/* dropped: the socket reads EOF */
	bool dropped = wait_hangup(vhu_socket_fd(vblk_host_vhu(d)), DEADLINE_MS);
	diag("RESULT dropped=%d", dropped);
	if (!dropped)
		FAIL("the connection is still up %d ms after the fault", DEADLINE_MS);
out:
	vanish();
}

/* ---- class 4: the mapped doorbell page's fd ---------------------------------------------- */
void case_db_fd(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_MMAP, true);
	int fd = -1;
	REQUIRE(h);
	struct vfu_client *v = nvme_host_vfu(h);
	struct vfu_region_info ri;
	struct vfu_sparse_area areas[4];
	REQUIRE_OK(vfu_get_region_info(v, VFIO_PCI_BAR0_REGION_INDEX, &ri, areas, 4, &fd));
	REQUIRE(fd >= 0);
	CHECK_EQ(ri.nr_areas, 1);
	CHECK_EQ(areas[0].offset, 0x1000);
	struct stat stt;
	REQUIRE(fstat(fd, &stt) == 0);
	int seals = fcntl(fd, F_GET_SEALS);
	int tr = ftruncate(fd, 0) == 0 ? 0 : errno;
	int gr = ftruncate(fd, stt.st_size + 4096) == 0 ? 0 : errno;
	diag("RESULT fd_size=%lld seals=0x%x shrink_errno=%d grow_errno=%d", (long long)stt.st_size,
	     seals, tr, gr);
	CHECK_EQ(tr, EPERM);
	CHECK_EQ(gr, EPERM);
	CHECK(seals >= 0 && (seals & (F_SEAL_SHRINK | F_SEAL_GROW)) == (F_SEAL_SHRINK | F_SEAL_GROW));
	/* offset 0 of the fd: no register (CAP reads as itself only through
	 * REGION_READ) */
	uint64_t cap = 0;
	REQUIRE_OK(nvme_host_reg_read64(h, NVME_REG_CAP, &cap));
	void *p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, (off_t)ri.offset);
	REQUIRE(p != MAP_FAILED);
	uint64_t at0;
	memcpy(&at0, p, 8);
	munmap(p, 4096);
	diag("RESULT cap=0x%llx fd_offset0=0x%llx", (unsigned long long)cap, (unsigned long long)at0);
	CHECK(cap != 0);
	CHECK(at0 != cap);
	/* and the controller goes on */
	CHECK(write_verify(h, 4000, 8, O.seed));
	check_csts_ok(h, "at the end");
out:
	if (fd >= 0)
		close(fd);
	nvme_host_close(h);
}
