/* Hostile clients (issue 11): a vfio-user NVMe client or a vhost-user
 * virtio-blk front end that does what a guest must not be able to hurt the
 * service with, driven by tests/system/test_hostile.py.
 *
 *   hostile_client SOCKET CASE [--nsid N] [--lba N] [--seed N] [--op read|write]
 *                  [--then delete_sq|reset|hold] [--dsm-cmds N] [--count N]
 *
 * Built on the host drivers of src/host (our vfio-user client, NVMe driver,
 * vhost-user front end), which include nothing of the server. Each case
 * prints "# ..." diagnostics, "# READY what" when it waits for the Python
 * side (one line on stdin answers), "# RESULT key=value ..." lines for the
 * Python side to check, and exits 0 when every check passed, 1 otherwise
 * ("# FAIL ..." lines say why). It prints no TAP line of its own: the
 * Python side reports. Every wait for the server is bounded by a generous
 * deadline (20 s), never a guessed short delay. */
#define VBLK_HOST_INTERNAL
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "host/host_mem.h"
#include "host/nvme_host.h"
#include "host/nvme_host_priv.h"	/* the arena's memfd and queue rings */
#include "host/vfio_user_client.h"
#include "host/vfio_user_proto.h"
#include "host/vhost_user_front.h"
#include "host/virtio_blk_host.h"

#include "tap.h"

#define DEADLINE_MS	20000	/* "promptly": generous, for a loaded 2-core machine */
#define XIOVA		0x80000000ull	/* an extra DMA region of ours */
#define XSIZE		(1u << 20)
#define RIOVA		0x90000000ull	/* the DSM range list's own region */
#define RSIZE		(64u << 10)

static struct {
	const char *sock;
	const char *cas;
	uint32_t nsid, lba;
	uint32_t seed;
	const char *op;
	const char *then;
	int dsm_cmds;
	int count;
} O = { .nsid = 1, .lba = 512, .seed = 11, .op = "read", .then = "hold", .dsm_cmds = 1, .count = 64 };

/* ---- diagnostics (tap.h: printed at once, this program prints no TAP) --------------------- */

static const char *st_str(int st)
{
	static char b[4][64];
	static int k;
	char *s = b[k++ & 3];
	if (st < 0)
		snprintf(s, 64, "errno %d (%s)", -st, strerror(-st));
	else
		snprintf(s, 64, "SCT %d SC 0x%02x (raw 0x%04x)", NVME_STATUS_SCT(st), NVME_STATUS_SC(st), st);
	return s;
}

/* REQUIRE_OK (tap.h) says the NVMe status, or the errno */
const char *tap_status_str(int rc)
{
	return st_str(rc);
}

/* "# READY what", then one line on stdin (up to ms); false when none came. */
static bool handshake(const char *what, int ms, char *buf, size_t len)
{
	diag("READY %s", what);
	return wait_line(ms, buf, len);
}

/* ---- data patterns ----------------------------------------------------------------------- */

static void pattern_fill(void *buf, uint64_t lba, uint32_t nblk, uint32_t seed)
{
	for (uint32_t k = 0; k < nblk; k++) {
		uint8_t *p = (uint8_t *)buf + (size_t)k * O.lba;
		uint64_t b = lba + k;
		for (uint32_t i = 0; i < O.lba; i++)
			p[i] = (uint8_t)(b * 31 + i * 7 + seed * 13);
		memcpy(p, &b, 8);
		memcpy(p + 8, &seed, 4);
	}
}

static bool pattern_ok(const void *buf, uint64_t lba, uint32_t nblk, uint32_t seed)
{
	uint8_t *exp = malloc((size_t)nblk * O.lba);
	pattern_fill(exp, lba, nblk, seed);
	bool ok = !memcmp(buf, exp, (size_t)nblk * O.lba);
	free(exp);
	return ok;
}

/* ---- NVMe over vfio-user ----------------------------------------------------------------- */

/* Open the controller: polled (no MSI-X), trapped doorbells unless asked. */
static struct nvme_host *open_nvme(enum nvme_host_db_mode db, bool enable)
{
	struct nvme_host_opts o;
	struct nvme_host *h = NULL;
	memset(&o, 0, sizeof(o));
	o.mem_size = 16u << 20;
	o.nr_io_queues = 1;
	o.io_depth = 64;
	o.admin_timeout_ms = DEADLINE_MS;
	o.io_timeout_ms = DEADLINE_MS;
	o.vfu_timeout_ms = DEADLINE_MS;
	o.doorbells = db;
	o.irq = NVME_HOST_IRQ_OFF;
	o.no_enable = !enable;
	int rc = nvme_host_open(O.sock, &o, &h);
	if (rc) {
		FAIL("nvme_host_open(%s): %s", O.sock, st_str(rc));
		return NULL;
	}
	return h;
}

static int io(struct nvme_host *h, uint8_t opc, uint64_t slba, uint32_t nlb, void *buf)
{
	return nvme_host_rw(h, 1, opc, O.nsid, slba, nlb, buf, 0);
}

static bool write_verify(struct nvme_host *h, uint64_t slba, uint32_t nlb, uint32_t seed)
{
	size_t len = (size_t)nlb * O.lba;
	uint8_t *w = nvme_host_alloc(h, len, 4096, NULL), *r = nvme_host_alloc(h, len, 4096, NULL);
	bool ok = false;
	if (!w || !r) {
		FAIL("arena exhausted");
		goto out;
	}
	pattern_fill(w, slba, nlb, seed);
	int st = io(h, NVME_CMD_WRITE, slba, nlb, w);
	if (st) {
		FAIL("write lba %llu+%u: %s", (unsigned long long)slba, nlb, st_str(st));
		goto out;
	}
	st = io(h, NVME_CMD_READ, slba, nlb, r);
	if (st) {
		FAIL("read lba %llu+%u: %s", (unsigned long long)slba, nlb, st_str(st));
		goto out;
	}
	ok = pattern_ok(r, slba, nlb, seed);
	if (!ok)
		FAIL("lba %llu+%u reads back wrong", (unsigned long long)slba, nlb);
out:
	nvme_host_free(h, w);
	nvme_host_free(h, r);
	return ok;
}

static bool read_check(struct nvme_host *h, uint64_t slba, uint32_t nlb, uint32_t seed)
{
	uint8_t *r = nvme_host_alloc(h, (size_t)nlb * O.lba, 4096, NULL);
	bool ok = false;
	if (!r) {
		FAIL("arena exhausted");
		return false;
	}
	int st = io(h, NVME_CMD_READ, slba, nlb, r);
	if (st)
		FAIL("read lba %llu+%u: %s", (unsigned long long)slba, nlb, st_str(st));
	else if (!(ok = pattern_ok(r, slba, nlb, seed)))
		FAIL("lba %llu+%u is not pattern %u", (unsigned long long)slba, nlb, seed);
	nvme_host_free(h, r);
	return ok;
}

static int wait_csts(struct nvme_host *h, uint32_t mask, uint32_t want, int ms, uint32_t *csts)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		int rc = nvme_host_reg_read32(h, NVME_REG_CSTS, csts);
		if (rc)
			return rc;
		if ((*csts & mask) == want)
			return 0;
		if (now_ms() > end)
			return -ETIMEDOUT;
		sleep_ms(2);
	}
}

static void check_csts_ok(struct nvme_host *h, const char *when)
{
	uint32_t csts = 0;
	int rc = nvme_host_reg_read32(h, NVME_REG_CSTS, &csts);
	if (rc)
		FAIL("CSTS %s: %s", when, st_str(rc));
	else if ((csts & (NVME_CSTS_RDY | NVME_CSTS_CFS)) != NVME_CSTS_RDY)
		FAIL("CSTS %s: 0x%x, want RDY and not CFS", when, csts);
}

/* Share an extra memfd of ours with the controller at iova. */
static int map_extra(struct nvme_host *h, uint64_t iova, size_t size, struct host_mem **out)
{
	int rc = host_mem_create(size, out);
	if (rc)
		return rc;
	rc = vfu_dma_map(nvme_host_vfu(h), iova, size, (*out)->fd, 0, VFU_PROT_READ | VFU_PROT_WRITE);
	if (rc) {
		host_mem_destroy(*out);
		*out = NULL;
	}
	return rc;
}

/* Wait until the server closes the connection: every round trip fails. */
static int wait_dropped(struct vfu_client *v, int ms)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		int rc = vfu_sync(v);
		if (rc == -ECONNRESET || rc == -ENOTCONN || rc == -EPIPE)
			return rc;
		if (now_ms() > end)
			return -ETIMEDOUT;
		sleep_ms(10);
	}
}

/* Leave without any goodbye: the socket closes with the process. */
static void vanish(void)
{
	diag("RESULT vanished=1");
	fflush(stdout);
	_exit(tap_failures() ? 1 : 0);
}

/* A fresh client on the function: data written and read back, CSTS fine. */
static void case_io(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_AUTO, true);
	REQUIRE(h);
	for (int i = 0; i < 4; i++)
		CHECK(write_verify(h, 1000 + (uint64_t)i * 64, 64, O.seed + (uint32_t)i));
	check_csts_ok(h, "after I/O");
	diag("RESULT io=ok");
out:
	nvme_host_close(h);
}

/* ---- class 2: admin completions while the admin rings are unmapped ------------------------
 *
 * Two AERs outstanding; the whole arena (admin and I/O rings, every
 * buffer) is unmapped. An invalid doorbell write (SQ 5 does not exist) and
 * a namespace attach (by the Python side, between "READY attach" and
 * "attached") raise two events while the admin CQ is gone: nothing may be
 * written into our memory meanwhile, osnapd must survive, and both events
 * arrive once the memory is mapped again. */
static void case_aer_unmapped(void)
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
static void case_truncate(void)
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
	pattern_fill(x->ptr, 3000, 8, O.seed);
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
static void case_truncate_vhost(void)
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
		pattern_fill(b0, 40, 8, O.seed);
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
	int fd = vhu_socket_fd(vblk_host_vhu(d));
	int64_t end = now_ms() + DEADLINE_MS;
	bool dropped = false;
	while (!dropped && now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0) {
			char c;
			ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
			dropped = n == 0 || (n < 0 && errno != EAGAIN);
		}
	}
	diag("RESULT dropped=%d", dropped);
	if (!dropped)
		FAIL("the connection is still up %d ms after the fault", DEADLINE_MS);
out:
	vanish();
}

/* ---- class 4: the mapped doorbell page's fd ---------------------------------------------- */
static void case_db_fd(void)
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

/* ---- class 5: interrupt fds that are not eventfds, and full eventfds --------------------- */

static int msix_table_unmask(struct vfu_client *v, uint32_t n)
{
	/* The table is the client's (as a VFIO user emulates it); writing 0
	 * to the vector control words changes nothing on a server that
	 * ignores it, and unmasks on one that honours it. */
	struct vfu_msix_info mi;
	int rc = vfu_msix_info(v, &mi);
	if (rc)
		return rc;
	for (uint32_t i = 0; i < n && !rc; i++) {
		uint32_t zero = 0;
		rc = vfu_region_write(v, mi.table_bar, mi.table_off + 16 * i + 12, &zero, 4, false);
	}
	return rc;
}

static bool fd_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);
	return fl >= 0 && (fl & O_NONBLOCK);
}

static void case_irq_fds(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, false);
	int pfd[2] = { -1, -1 }, sv[2] = { -1, -1 }, efd[2] = { -1, -1 };
	uint8_t *b = NULL;
	REQUIRE(h);
	struct vfu_client *v = nvme_host_vfu(h);
	const uint32_t trig = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	REQUIRE(pipe(pfd) == 0);
	REQUIRE(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	int rp = vfu_set_irqs(v, VFIO_PCI_MSIX_IRQ_INDEX, trig, 0, 1, &pfd[1], NULL);
	int rs = vfu_set_irqs(v, VFIO_PCI_MSIX_IRQ_INDEX, trig, 1, 1, &sv[0], NULL);
	diag("RESULT pipe=%d socket=%d", rp, rs);
	CHECK_EQ(rp, -EINVAL);
	CHECK_EQ(rs, -EINVAL);
	CHECK(!fd_nonblock(pfd[1]));	/* a refused fd is left as it was */

	/* eventfds whose counters are one short of the maximum: a write of
	 * 1 would block. The server gets them non-blocking. */
	for (int i = 0; i < 2; i++) {
		efd[i] = eventfd(0, EFD_CLOEXEC);
		REQUIRE(efd[i] >= 0);
		uint64_t big = 0xfffffffffffffffeull;
		REQUIRE(write(efd[i], &big, 8) == 8);
	}
	REQUIRE_OK(vfu_msix_enable(v, efd, 2));
	REQUIRE_OK(msix_table_unmask(v, 2));
	diag("RESULT nonblock=%d,%d", fd_nonblock(efd[0]), fd_nonblock(efd[1]));
	CHECK(fd_nonblock(efd[0]) && fd_nonblock(efd[1]));
	/* now enable with interrupts on the admin queue (vector 0) and an I/O
	 * queue created with IEN on vector 1 */
	REQUIRE_OK(nvme_host_enable(h));
	REQUIRE_OK(nvme_host_delete_io_sq(h, 1));
	REQUIRE_OK(nvme_host_delete_io_cq(h, 1));
	struct nvme_host_queue *q1 = nvme_host_queue(h, 1);
	REQUIRE(q1);
	REQUIRE_OK(nvme_host_create_io_cq(h, 1, (uint16_t)(q1->depth - 1), q1->cq_iova, 1,
					  NVME_CQ_PC | NVME_CQ_IEN));
	REQUIRE_OK(nvme_host_create_io_sq(h, 1, (uint16_t)(q1->depth - 1), q1->sq_iova, 1, NVME_SQ_PC));
	nvme_queue_reset_rings(q1);
	b = nvme_host_alloc(h, 4096, 4096, NULL);
	REQUIRE(b);
	/* every completion raises an interrupt the eventfd cannot take: I/O
	 * and admin commands must go on (polled) */
	int64_t t0 = now_ms();
	for (int i = 0; i < O.count; i++) {
		CHECK(write_verify(h, 5000 + (uint64_t)i * 8, 8, O.seed + (uint32_t)i));
		struct nvme_id_ctrl id;
		int st = nvme_host_identify_ctrl(h, &id);
		if (st) {
			FAIL("identify %d: %s", i, st_str(st));
			break;
		}
		if (tap_failures())
			break;
	}
	diag("RESULT io_ms=%lld", (long long)(now_ms() - t0));
	uint64_t cnt = 0;
	REQUIRE(read(efd[1], &cnt, 8) == 8);
	diag("eventfd counter 0x%llx", (unsigned long long)cnt);
	check_csts_ok(h, "at the end");
out:
	for (int i = 0; i < 2; i++) {
		if (pfd[i] >= 0)
			close(pfd[i]);
		if (sv[i] >= 0)
			close(sv[i]);
	}
	nvme_host_close(h);
	for (int i = 0; i < 2; i++)
		if (efd[i] >= 0)
			close(efd[i]);
}

/* vhost-user: SET_VRING_CALL and SET_VRING_KICK with a pipe are refused
 * (REPLY_ACK non-zero); an eventfd is taken and made non-blocking. */
static void case_vhost_fds(void)
{
	struct vhu_front *f = NULL;
	int pfd[2] = { -1, -1 }, e = -1;
	int rc = vhu_connect(O.sock, &f);
	if (rc) {
		FAIL("vhu_connect: %s", st_str(rc));
		return;
	}
	vhu_set_timeout(f, DEADLINE_MS);
	uint64_t feat = 0, pf = 0;
	REQUIRE_OK(vhu_get_features(f, &feat));
	REQUIRE_OK(vhu_get_protocol_features(f, &pf));
	REQUIRE(pf & (1ull << VHU_PF_REPLY_ACK));
	REQUIRE_OK(vhu_set_protocol_features(f, 1ull << VHU_PF_REPLY_ACK));
	REQUIRE_OK(vhu_set_owner(f));
	REQUIRE(pipe(pfd) == 0);
	int rc_call = vhu_set_vring_call(f, 0, pfd[1]);
	uint64_t ack_call = vhu_last_ack(f);
	int rc_kick = vhu_set_vring_kick(f, 0, pfd[0]);
	uint64_t ack_kick = vhu_last_ack(f);
	diag("RESULT call_pipe=%d ack=%llu kick_pipe=%d ack=%llu", rc_call, (unsigned long long)ack_call,
	     rc_kick, (unsigned long long)ack_kick);
	CHECK_EQ(rc_call, -EIO);
	CHECK(ack_call != 0);
	CHECK_EQ(rc_kick, -EIO);
	CHECK(ack_kick != 0);
	e = eventfd(0, EFD_CLOEXEC);
	REQUIRE(e >= 0);
	int rc_ev = vhu_set_vring_call(f, 0, e);
	diag("RESULT call_eventfd=%d nonblock=%d", rc_ev, fd_nonblock(e));
	CHECK_EQ(rc_ev, 0);
	CHECK(fd_nonblock(e));
	uint64_t feat2 = 0;
	CHECK_EQ(vhu_get_features(f, &feat2), 0);	/* still talking */
out:
	if (pfd[0] >= 0)
		close(pfd[0]);
	if (pfd[1] >= 0)
		close(pfd[1]);
	if (e >= 0)
		close(e);
	vhu_close(f);
}

/* ---- class 6: a full completion queue ------------------------------------------------------
 *
 * I/O queue 1 recreated with a 4-entry CQ (room for 3) and a 32-entry SQ;
 * 20 writes submitted in one doorbell; we never advance the CQ head. Once
 * the CQ shows 3 entries, "# READY full", then --then:
 *   delete_sq  Delete I/O SQ 1: must complete (success) promptly;
 *   reset      CC.EN = 0: CSTS.RDY must clear promptly;
 *   hold       wait for a line on stdin (the Python side disconnects us,
 *              destroys the controller or stops osnapd meanwhile).
 * Afterwards (delete_sq, reset) every write took effect. */
enum { FQ_N = 20, FQ_CQS = 4, FQ_SQS = 32, FQ_NLB = 8 };
static const uint64_t FQ_BASE = 6000;

static bool fill_cq(struct nvme_host *h, struct nvme_cqe **cqp)
{
	uint64_t cq_iova = 0, sq_iova = 0, data_iova = 0;
	struct nvme_cqe *cq = nvme_host_alloc(h, 4096, 4096, &cq_iova);
	struct nvme_sqe *sq = nvme_host_alloc(h, 4096, 4096, &sq_iova);
	uint8_t *data = nvme_host_alloc(h, (size_t)FQ_N * 4096, 4096, &data_iova);
	if (!cq || !sq || !data) {
		FAIL("arena exhausted");
		return false;
	}
	memset(cq, 0, 4096);
	int st;
	if ((st = nvme_host_delete_io_sq(h, 1)) || (st = nvme_host_delete_io_cq(h, 1)) ||
	    (st = nvme_host_create_io_cq(h, 1, FQ_CQS - 1, cq_iova, 0, NVME_CQ_PC)) ||
	    (st = nvme_host_create_io_sq(h, 1, FQ_SQS - 1, sq_iova, 1, NVME_SQ_PC))) {
		FAIL("queue setup: %s", st_str(st));
		return false;
	}
	pattern_fill(data, FQ_BASE, FQ_N * FQ_NLB, O.seed);
	for (int i = 0; i < FQ_N; i++) {
		memset(&sq[i], 0, sizeof(sq[i]));
		sq[i].opc = NVME_CMD_WRITE;
		sq[i].nsid = O.nsid;
		sq[i].cdw10 = (uint32_t)(FQ_BASE + (uint64_t)i * FQ_NLB);
		sq[i].cdw12 = FQ_NLB - 1;
		sq[i].cid = (uint16_t)(100 + i);
		sq[i].dptr.prp1 = data_iova + 4096ull * i;
	}
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if ((st = nvme_host_reg_write32(h, NVME_REG_DBS + 8, FQ_N))) {
		FAIL("SQ 1 doorbell: %s", st_str(st));
		return false;
	}
	int64_t end = now_ms() + DEADLINE_MS;
	int avail = 0;
	while (now_ms() < end) {
		avail = 0;
		for (int k = 0; k < FQ_CQS; k++)
			avail += (((volatile struct nvme_cqe *)&cq[k])->status & 1) == 1;
		if (avail >= FQ_CQS - 1)
			break;
		sleep_ms(2);
	}
	diag("RESULT cq_entries=%d", avail);
	if (avail != FQ_CQS - 1) {
		FAIL("the CQ shows %d entries, want %d (full)", avail, FQ_CQS - 1);
		return false;
	}
	*cqp = cq;
	return true;
}

static void case_full_cq(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	struct nvme_cqe *cq = NULL;
	char line[64];
	REQUIRE(h);
	REQUIRE(fill_cq(h, &cq));
	if (!strcmp(O.then, "hold")) {
		REQUIRE(handshake("full", 120000, line, sizeof(line)));
		vanish();
	}
	diag("READY full");
	int64_t t0 = now_ms();
	if (!strcmp(O.then, "delete_sq")) {
		int st = nvme_host_delete_io_sq(h, 1);
		diag("RESULT delete_sq=%d ms=%lld", st, (long long)(now_ms() - t0));
		CHECK_EQ(st, 0);
		CHECK_EQ(nvme_host_delete_io_cq(h, 1), 0);
	} else if (!strcmp(O.then, "reset")) {
		uint32_t csts = 0;
		REQUIRE_OK(nvme_host_reg_write32(h, NVME_REG_CC, 0));
		int rc = wait_csts(h, NVME_CSTS_RDY, 0, DEADLINE_MS, &csts);
		diag("RESULT reset=%d ms=%lld csts=0x%x", rc, (long long)(now_ms() - t0), csts);
		CHECK_EQ(rc, 0);
		CHECK_EQ(csts & NVME_CSTS_CFS, 0);
	} else {
		FAIL("unknown --then %s", O.then);
		goto out;
	}
	/* the controller comes back and every write of the full queue took
	 * effect (fetched and executed; only the completions found no room) */
	REQUIRE_OK(nvme_host_reset(h));
	CHECK(read_check(h, FQ_BASE, FQ_N * FQ_NLB, O.seed));
	check_csts_ok(h, "after the reset");
out:
	nvme_host_close(h);
}

/* ---- long Dataset Management commands ---------------------------------------------------------
 *
 * --dsm-cmds DSMs on I/O queue 1, each with 256 ranges covering the whole
 * namespace (deallocate), their range list in a region of its own (RIOVA),
 * which the controller re-reads as it goes. Returns the number submitted. */
static int start_dsms(struct nvme_host *h, struct host_mem **rl, struct nvme_host_cmd *cmds, int n)
{
	struct nvme_host_ns ns;
	int rc = nvme_host_ns_info(h, O.nsid, &ns);
	if (rc) {
		FAIL("namespace %u: %s", O.nsid, st_str(rc));
		return 0;
	}
	rc = map_extra(h, RIOVA, RSIZE, rl);
	if (rc) {
		FAIL("DMA_MAP of the range list: %s", st_str(rc));
		return 0;
	}
	struct nvme_dsm_range *r = (*rl)->ptr;
	for (int i = 0; i < 256; i++) {
		r[i].cattr = 0;
		r[i].nlb = (uint32_t)ns.nsze;
		r[i].slba = 0;
	}
	for (int i = 0; i < n; i++) {
		rc = nvme_host_cmd_rw(h, &cmds[i], NVME_CMD_DSM, O.nsid, 0, 256, NULL, NVME_HOST_F_DSM_AD);
		/* one doorbell for all: fetched together */
		cmds[i].flags |= NVME_HOST_F_DPTR | (i + 1 < n ? NVME_HOST_F_NO_DB : 0);
		cmds[i].sqe.dptr.prp1 = RIOVA;
		cmds[i].sqe.dptr.prp2 = 0;
		if (!rc)
			rc = nvme_host_submit(h, 1, &cmds[i]);
		if (rc) {
			FAIL("DSM %d: %s", i, st_str(rc));
			return i;
		}
	}
	diag("RESULT dsm_ranges=%d dsm_blocks=%llu", n * 256, (unsigned long long)ns.nsze);
	/* the Python side answers once the controller fetched them all and
	 * the block device saw the first deallocate: the DSMs are running
	 * (and their range list was validated) */
	char line[64];
	if (!handshake("dsm", 60000, line, sizeof(line))) {
		FAIL("no go from the Python side");
		return 0;
	}
	return n;
}

/* Send a DMA_UNMAP and do not wait for its reply. */
static int send_unmap(struct vfu_client *v, uint64_t iova, uint64_t size)
{
	struct {
		struct vfu_msg_hdr h;
		struct vfu_msg_dma_unmap u;
	} __attribute__((packed)) m;
	memset(&m, 0, sizeof(m));
	m.h.msg_id = vfu_next_msg_id(v);
	m.h.command = VFU_CMD_DMA_UNMAP;
	m.h.msg_size = sizeof(m);
	m.u.argsz = sizeof(m.u);
	m.u.address = iova;
	m.u.size = size;
	return vfu_send_raw(v, &m, sizeof(m), NULL, 0);
}

/* class 7: long DSMs, a DMA_UNMAP of their range list (its reply waits for
 * them), and the client hangs up at once. */
static void case_dsm_unmap_hup(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	struct host_mem *rl = NULL;
	struct nvme_host_cmd cmds[16];
	REQUIRE(h);
	int n = O.dsm_cmds > 16 ? 16 : O.dsm_cmds;
	REQUIRE(start_dsms(h, &rl, cmds, n) == n);
	REQUIRE_OK(send_unmap(nvme_host_vfu(h), RIOVA, RSIZE));
out:
	vanish();
}

/* Long DSMs running, then "# READY hold" and a line on stdin before
 * leaving without a goodbye (the Python side acts meanwhile). */
static void case_dsm_hold(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	struct host_mem *rl = NULL;
	struct nvme_host_cmd cmds[16];
	char line[64];
	REQUIRE(h);
	int n = O.dsm_cmds > 16 ? 16 : O.dsm_cmds;
	REQUIRE(start_dsms(h, &rl, cmds, n) == n);
	REQUIRE(handshake("hold", 120000, line, sizeof(line)));
out:
	vanish();
}

/* ---- reproducers of bugs not fixed yet (test_hostile.py --all) ----------------------------- */

/* class 1: a CC.SHN write and a DMA_UNMAP back to back while DSMs run:
 * two quiesces of one controller. The shutdown must complete (CSTS.SHST
 * = 10b) and the unmap be answered. */
static void case_shn_unmap(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	struct host_mem *rl = NULL, *x = NULL;
	struct nvme_host_cmd cmds[16];
	REQUIRE(h);
	struct vfu_client *v = nvme_host_vfu(h);
	REQUIRE_OK(map_extra(h, XIOVA, XSIZE, &x));
	int n = O.dsm_cmds > 16 ? 16 : O.dsm_cmds;
	REQUIRE(start_dsms(h, &rl, cmds, n) == n);
	uint32_t cc = 0;
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CC, &cc));
	cc = (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL;
	REQUIRE_OK(vfu_region_write(v, VFIO_PCI_BAR0_REGION_INDEX, NVME_REG_CC, &cc, 4, true));
	int64_t t0 = now_ms();
	int rc = vfu_dma_unmap(v, XIOVA, XSIZE);
	diag("RESULT unmap=%d ms=%lld", rc, (long long)(now_ms() - t0));
	CHECK_EQ(rc, 0);
	uint32_t csts = 0;
	rc = wait_csts(h, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_CMPLT, DEADLINE_MS, &csts);
	diag("RESULT shutdown=%d csts=0x%x", rc, csts);
	CHECK_EQ(rc, 0);
out:
	nvme_host_close(h);
	host_mem_destroy(x);
	host_mem_destroy(rl);
}

/* class 1, a reset storm: DSMs running, then 40 rounds of posted CC.EN=0,
 * CC.EN=1 and CC.SHN writes, DMA unmaps and maps of an extra region and
 * DEVICE_RESETs, none waited for. osnapd must answer every message, and a
 * fresh driver (a new connection) brings the controller up and gets its
 * writes back. */
static void case_reset_storm(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true), *h2 = NULL;
	struct host_mem *rl = NULL, *x = NULL;
	struct nvme_host_cmd cmds[16];
	REQUIRE(h);
	struct vfu_client *v = nvme_host_vfu(h);
	REQUIRE_OK(map_extra(h, XIOVA, XSIZE, &x));
	int n = O.dsm_cmds > 16 ? 16 : O.dsm_cmds;
	REQUIRE(start_dsms(h, &rl, cmds, n) == n);
	uint32_t cc = 0;
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CC, &cc));
	int64_t t0 = now_ms();
	for (int i = 0; i < 40; i++) {
		uint32_t w = cc;
		switch (i % 5) {
		case 0:
			w = cc & ~NVME_CC_EN;
			break;
		case 1:
			w = cc | NVME_CC_EN;
			break;
		case 2:
			w = (cc & ~NVME_CC_SHN_MASK) | NVME_CC_SHN_NORMAL;
			break;
		case 3:
			REQUIRE_OK(vfu_dma_unmap(v, XIOVA, XSIZE));
			REQUIRE_OK(vfu_dma_map(v, XIOVA, XSIZE, x->fd, 0, VFU_PROT_READ | VFU_PROT_WRITE));
			continue;
		case 4:
			REQUIRE_OK(vfu_device_reset(v));
			continue;
		}
		REQUIRE_OK(vfu_region_write(v, VFIO_PCI_BAR0_REGION_INDEX, NVME_REG_CC, &w, 4, true));
	}
	REQUIRE_OK(vfu_sync(v));
	diag("RESULT storm_ms=%lld", (long long)(now_ms() - t0));
	nvme_host_close(h);
	h = NULL;
	/* a new driver on a new connection */
	h2 = open_nvme(NVME_HOST_DB_TRAP, true);
	REQUIRE(h2);
	for (int i = 0; i < 4; i++)
		CHECK(write_verify(h2, 2000 + (uint64_t)i * 64, 64, O.seed + 7 + (uint32_t)i));
	check_csts_ok(h2, "after the storm");
	diag("RESULT io=ok");
out:
	nvme_host_close(h);
	nvme_host_close(h2);
	host_mem_destroy(x);
	host_mem_destroy(rl);
}

/* class 1: nvme_controller_suspend (by the Python side, between "READY
 * suspend" and its answer "suspending") while DSMs run, then a DMA_UNMAP:
 * both must be answered. */
static void case_suspend_unmap(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	struct host_mem *rl = NULL, *x = NULL;
	struct nvme_host_cmd cmds[16];
	char line[64];
	REQUIRE(h);
	struct vfu_client *v = nvme_host_vfu(h);
	REQUIRE_OK(map_extra(h, XIOVA, XSIZE, &x));
	int n = O.dsm_cmds > 16 ? 16 : O.dsm_cmds;
	REQUIRE(start_dsms(h, &rl, cmds, n) == n);
	REQUIRE(handshake("suspend", 60000, line, sizeof(line)));
	int64_t t0 = now_ms();
	int rc = vfu_dma_unmap(v, XIOVA, XSIZE);
	diag("RESULT unmap=%d ms=%lld", rc, (long long)(now_ms() - t0));
	CHECK_EQ(rc, 0);
	REQUIRE(handshake("unmapped", 60000, line, sizeof(line)));
out:
	nvme_host_close(h);
	host_mem_destroy(x);
	host_mem_destroy(rl);
}

/* class 1: Delete I/O SQ while DSMs run on it, then a DMA_UNMAP of their
 * range list: the unmap must wait for the DSMs (which re-read the list),
 * and the service must live. */
static void case_delete_sq_unmap(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	struct host_mem *rl = NULL;
	struct nvme_host_cmd cmds[16], del;
	REQUIRE(h);
	struct vfu_client *v = nvme_host_vfu(h);
	int n = O.dsm_cmds > 16 ? 16 : O.dsm_cmds;
	REQUIRE(start_dsms(h, &rl, cmds, n) == n);
	memset(&del, 0, sizeof(del));
	del.sqe.opc = NVME_ADM_DELETE_SQ;
	del.sqe.cdw10 = 1;
	REQUIRE_OK(nvme_host_submit(h, 0, &del));
	int64_t t0 = now_ms();
	int rc = vfu_dma_unmap(v, RIOVA, RSIZE);
	diag("RESULT unmap=%d ms=%lld", rc, (long long)(now_ms() - t0));
	CHECK_EQ(rc, 0);
	int st = nvme_host_wait(h, 0, &del, DEADLINE_MS);
	diag("RESULT delete_sq=%d", st);
	CHECK_EQ(st, 0);
	REQUIRE_OK(nvme_host_reset(h));
	CHECK(write_verify(h, 7000, 8, O.seed));
out:
	nvme_host_close(h);
	host_mem_destroy(rl);
}

/* class 11: a DSM's range list is read from guest memory for validation
 * and again for each range. Once the first deallocate reached the block
 * device (the Python side answers "# READY dsm"), range 256 of 256 is
 * rewritten to lie past the namespace. The Python side checks what the
 * block device saw; the status is printed. */
static void case_dsm_toctou(void)
{
	struct nvme_host *h = open_nvme(NVME_HOST_DB_TRAP, true);
	struct host_mem *rl = NULL;
	struct nvme_host_cmd cmds[1];
	REQUIRE(h);
	REQUIRE(start_dsms(h, &rl, cmds, 1) == 1);
	struct nvme_dsm_range *r = rl->ptr;
	__atomic_store_n(&r[255].slba, 0xffffff00ull, __ATOMIC_RELEASE);
	int st = nvme_host_wait(h, 1, &cmds[0], DEADLINE_MS);
	diag("RESULT dsm=%d sct=%d sc=0x%02x dnr=%d", st, st < 0 ? -1 : (int)NVME_STATUS_SCT(st),
	     st < 0 ? 0 : (int)NVME_STATUS_SC(st), st > 0 && (st & 0x4000) ? 1 : 0);
	CHECK(st >= 0);
	CHECK(write_verify(h, 7100, 8, O.seed));
	check_csts_ok(h, "after the DSM");
out:
	nvme_host_close(h);
	host_mem_destroy(rl);
}

/* class 7: a client that never reads its replies. --count requests go out
 * on the non-blocking socket (waiting for room when osnapd reads slower
 * than we write, up to the deadline), none of the replies is read; osnapd
 * must not wait for us and must drop us once too much waits unread (our
 * sends then fail: send_broken=1). "# READY stuffed", then a line; then we
 * read what osnapd left us until the end of the stream: EOF or ECONNRESET
 * within the deadline (closed=1). */
static void noread(int fd, const void *(*next)(int i, size_t *len))
{
	char line[64];
	int sent = 0, broken = 0, stalled = 0;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	for (int i = 0; i < O.count && !broken && !stalled; ) {
		size_t len;
		const void *m = next(i, &len);
		ssize_t w = send(fd, m, len, MSG_NOSIGNAL);
		if (w == (ssize_t)len) {
			sent++;
			i++;
			continue;
		}
		if (w >= 0) {
			FAIL("short send of %zd bytes", w);	/* small messages: whole or nothing */
			break;
		}
		if (errno == EAGAIN) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			if (poll(&p, 1, DEADLINE_MS) == 0)
				stalled = 1;	/* osnapd stopped reading us */
			continue;
		}
		if (errno == EPIPE || errno == ECONNRESET)
			broken = 1;
		else
			FAIL("send: %s", strerror(errno));
	}
	diag("RESULT sent=%d send_broken=%d stalled=%d", sent, broken, stalled);
	handshake("stuffed", 120000, line, sizeof(line));
	/* what did osnapd leave us? replies, then the end of the stream */
	static char buf[1 << 16];
	long long got = 0;
	int closed = 0, err = 0;
	int64_t end = now_ms() + DEADLINE_MS;
	while (now_ms() < end) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		if (n > 0) {
			got += n;
			continue;
		}
		if (n == 0 || errno == ECONNRESET) {
			closed = 1;
			err = n ? errno : 0;
			break;
		}
		if (errno != EAGAIN) {
			FAIL("recv: %s", strerror(errno));
			break;
		}
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, (int)(end - now_ms() > 0 ? end - now_ms() : 0));
	}
	diag("RESULT closed=%d close_errno=%d replies_bytes=%lld", closed, err, got);
	CHECK(closed);
}

static struct vfu_client *g_noread_vfu;

static const void *next_region_read(int i, size_t *len)
{
	static struct {
		struct vfu_msg_hdr h;
		struct vfu_msg_region_access a;
	} __attribute__((packed)) m;
	(void)i;
	memset(&m, 0, sizeof(m));
	m.h.msg_id = vfu_next_msg_id(g_noread_vfu);
	m.h.command = VFU_CMD_REGION_READ;
	m.h.msg_size = sizeof(m);
	m.a.region = VFIO_PCI_CONFIG_REGION_INDEX;
	m.a.offset = 0;
	m.a.count = 4096;
	*len = sizeof(m);
	return &m;
}

/* vfio-user: REGION_READs of 4 KiB of config space. */
static void case_noread(void)
{
	int rc = vfu_connect(O.sock, &g_noread_vfu);
	if (rc) {
		FAIL("vfu_connect: %s", st_str(rc));
		return;
	}
	noread(vfu_socket_fd(g_noread_vfu), next_region_read);
	vfu_close(g_noread_vfu);
}

/* Read exactly len bytes by the deadline (the socket is non-blocking). */
static int read_full(int fd, void *buf, size_t len, int64_t end)
{
	size_t got = 0;
	while (got < len) {
		ssize_t n = recv(fd, (uint8_t *)buf + got, len - got, 0);
		if (n > 0) {
			got += (size_t)n;
			continue;
		}
		if (n == 0)
			return -ECONNRESET;
		if (errno != EAGAIN)
			return -errno;
		int left = (int)(end - now_ms());
		if (left <= 0)
			return -ETIMEDOUT;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		poll(&p, 1, left);
	}
	return 0;
}

/* class 7, the other side: a client that reads late is served whole.
 * --count REGION_READs of 4 KiB of config space pipelined (more replies
 * than the socket buffers hold, fewer than the output queue's bound),
 * "# READY stuffed", then every reply read: in order, whole, each with
 * the config space read before; the connection still works after. Or,
 * answered "vanish", hang up without reading a byte. */
static void case_slow_reader(void)
{
	struct vfu_client *v = NULL;
	static uint8_t ref[4096], data[4096];
	char line[64];
	int ok = 0;
	int rc = vfu_connect(O.sock, &g_noread_vfu);
	if (rc) {
		FAIL("vfu_connect: %s", st_str(rc));
		return;
	}
	v = g_noread_vfu;
	REQUIRE_OK(vfu_region_read(v, VFIO_PCI_CONFIG_REGION_INDEX, 0, ref, sizeof(ref)));
	int fd = vfu_socket_fd(v);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	uint16_t first = 0;
	int64_t end = now_ms() + DEADLINE_MS;
	for (int i = 0; i < O.count; ) {
		size_t len;
		const struct vfu_msg_hdr *m = next_region_read(i, &len);
		if (i == 0)
			first = m->msg_id;
		ssize_t w;
		while ((w = send(fd, m, len, MSG_NOSIGNAL)) < 0 && errno == EAGAIN && now_ms() < end) {
			struct pollfd p = { .fd = fd, .events = POLLOUT };
			poll(&p, 1, (int)(end - now_ms()));
		}
		REQUIRE(w == (ssize_t)len);
		i++;
	}
	handshake("stuffed", 120000, line, sizeof(line));
	if (!strcmp(line, "vanish"))
		vanish();	/* hang up on the replies osnapd still holds */
	end = now_ms() + DEADLINE_MS;
	for (int i = 0; i < O.count; i++) {
		struct vfu_msg_hdr h;
		struct vfu_msg_region_access a;
		REQUIRE_OK(read_full(fd, &h, sizeof(h), end));
		REQUIRE(h.msg_size == sizeof(h) + sizeof(a) + sizeof(data));
		REQUIRE_OK(read_full(fd, &a, sizeof(a), end));
		REQUIRE_OK(read_full(fd, data, sizeof(data), end));
		CHECK_EQ(h.msg_id, (uint16_t)(first + i));
		CHECK_EQ(h.flags, VFU_F_TYPE_REPLY);
		CHECK_EQ(a.count, sizeof(data));
		CHECK(!memcmp(data, ref, sizeof(data)));
		ok++;
	}
	CHECK_EQ(vfu_sync(v), 0);
out:
	diag("RESULT replies_ok=%d", ok);
	vfu_close(v);
}

static const void *next_vhost_get(int i, size_t *len)
{
	static struct {
		struct vhu_hdr h;
		struct vhu_config_hdr c;
		uint8_t cfg[VHU_MAX_CONFIG_SIZE];
	} __attribute__((packed)) m;
	memset(&m, 0, sizeof(m));
	m.h.flags = VHU_VERSION;
	if (i % 2) {
		m.h.request = VHU_GET_FEATURES;
		*len = sizeof(m.h);
	} else {
		m.h.request = VHU_GET_CONFIG;
		m.h.size = sizeof(m.c) + sizeof(m.cfg);
		m.c.size = sizeof(m.cfg);
		*len = sizeof(m);
	}
	return &m;
}

/* vhost-user: GET_CONFIG (256 bytes) and GET_FEATURES in turn. */
static void case_noread_vhost(void)
{
	struct vhu_front *f = NULL;
	int rc = vhu_connect(O.sock, &f);
	if (rc) {
		FAIL("vhu_connect: %s", st_str(rc));
		return;
	}
	noread(vhu_socket_fd(f), next_vhost_get);
	vhu_close(f);
}

/* vhost-user-blk session on O.sock for the class 11 cases: polled, with
 * generous timeouts; ring entries and features as given (0: defaults). */
static struct vblk_host *open_vblk(uint16_t ring, uint64_t features)
{
	struct vblk_host_opts o;
	struct vblk_host *d = NULL;
	memset(&o, 0, sizeof(o));
	o.irq = VBLK_HOST_IRQ_POLL;
	o.timeout_ms = DEADLINE_MS;
	o.ctrl_timeout_ms = DEADLINE_MS;
	o.queue_size = ring;
	o.features = features;
	o.force_features = features != 0;
	int rc = vblk_host_open_vhost_user(O.sock, &o, &d);
	if (rc) {
		FAIL("vblk_host_open_vhost_user (ring %u): %s", ring, st_str(rc));
		return NULL;
	}
	return d;
}

/* n requests of 4 KiB (sectors from sector, 8 per request) made available
 * at once under one kick, then all waited for: writes of pattern seed, or
 * reads checked against it. True when every one completed OK (and, for
 * reads, with the data). */
static bool vblk_batch(struct vblk_host *d, uint32_t type, uint64_t sector, int n, uint32_t seed)
{
	struct vblk_host_req *r = calloc((size_t)n, sizeof(*r));
	uint8_t *buf = vblk_host_alloc(d, (size_t)n * 4096);
	bool ok = false;
	int done = 0, bad = 0;
	if (!r || !buf) {
		FAIL("no memory for %d requests", n);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		uint64_t s = sector + 8ull * (uint64_t)i;
		if (type == VH_BLK_T_OUT)
			pattern_fill(buf + (size_t)i * 4096, s, 8, seed);
		r[i] = (struct vblk_host_req){ .type = type, .sector = s, .buf = buf + (size_t)i * 4096,
					       .len = 4096 };
		int rc = vblk_host_queue_req(d, 0, &r[i]);
		if (rc) {
			FAIL("request %d of %d not queued: %s", i, n, st_str(rc));
			goto out;
		}
	}
	if (vblk_host_kick(d, 0)) {
		FAIL("kick");
		goto out;
	}
	int64_t end = now_ms() + DEADLINE_MS;
	while (vblk_host_inflight(d, 0) && now_ms() < end)
		vblk_host_wait(d, 0, 100);
	if (vblk_host_inflight(d, 0)) {
		FAIL("%u of %d requests still in flight after %d ms", vblk_host_inflight(d, 0), n, DEADLINE_MS);
		goto out;
	}
	for (int i = 0; i < n; i++) {
		if (r[i].result || r[i].status != 0) {
			bad++;
			continue;
		}
		if (type == VH_BLK_T_IN && !pattern_ok(buf + (size_t)i * 4096, r[i].sector, 8, seed)) {
			bad++;
			continue;
		}
		done++;
	}
	if (bad)
		FAIL("%d of %d requests failed or read wrong data", bad, n);
	ok = done == n;
out:
	vblk_host_free(d, buf);
	free(r);
	return ok;
}

/* class 11: vhost-user SET_VRING_NUM and the controller's queue_size
 * (--count). A front end picks its own ring size (QEMU's vhost-user-blk
 * cannot learn ours): any power of two up to 32768 is taken, 0, a non
 * power of two and more than 32768 are refused. Then I/O on a ring of
 * --count entries ("# READY small": the Python side measures osnapd) and
 * on one of 32768 entries with 4 x --count requests made available at
 * once ("# READY big": measured again; at most --count are in flight in
 * osnapd, the rest wait in the ring); every request completes and the data
 * reads back. */
static void case_vring_num(void)
{
	struct vhu_front *f = NULL;
	struct vblk_host *d = NULL;
	char line[64];
	int rc = vhu_connect(O.sock, &f);
	if (rc) {
		FAIL("vhu_connect: %s", st_str(rc));
		return;
	}
	vhu_set_timeout(f, DEADLINE_MS);
	uint64_t feat = 0, pf = 0;
	REQUIRE_OK(vhu_get_features(f, &feat));
	REQUIRE_OK(vhu_get_protocol_features(f, &pf));
	REQUIRE_OK(vhu_set_protocol_features(f, 1ull << VHU_PF_REPLY_ACK));
	REQUIRE_OK(vhu_set_owner(f));
	int r1 = vhu_set_vring_num(f, 0, (uint32_t)O.count);
	int r2 = vhu_set_vring_num(f, 0, 32768);
	int r0 = vhu_set_vring_num(f, 0, 0);
	int r3 = vhu_set_vring_num(f, 0, 96);
	int r4 = vhu_set_vring_num(f, 0, 65536);
	diag("RESULT num_%d=%d num_32768=%d num_0=%d num_96=%d num_65536=%d", O.count, r1, r2, r0, r3, r4);
	CHECK_EQ(r1, 0);
	CHECK_EQ(r2, 0);
	CHECK_EQ(r0, -EIO);
	CHECK_EQ(r3, -EIO);
	CHECK_EQ(r4, -EIO);
	vhu_close(f);
	f = NULL;

	d = open_vblk((uint16_t)O.count, 0);
	REQUIRE(d);
	/* three descriptors a request: a full ring's worth */
	CHECK(vblk_batch(d, VH_BLK_T_OUT, 2048, O.count / 3, O.seed));
	CHECK(vblk_batch(d, VH_BLK_T_IN, 2048, O.count / 3, O.seed));
	REQUIRE(handshake("small", 120000, line, sizeof(line)));
	vblk_host_close(d);
	d = open_vblk(32768, 0);
	REQUIRE(d);
	CHECK_EQ(vblk_host_queue_size(d, 0), 32768);
	bool w = vblk_batch(d, VH_BLK_T_OUT, 4096, 4 * O.count, O.seed + 1);
	REQUIRE(handshake("big", 120000, line, sizeof(line)));
	bool rd = vblk_batch(d, VH_BLK_T_IN, 4096, 4 * O.count, O.seed + 1);
	diag("RESULT big_writes=%d big_reads=%d", w, rd);
	CHECK(w && rd);
out:
	vblk_host_close(d);
	vhu_close(f);
}

/* class 11: vhost-user SET_FEATURES while a ring runs. On a controller
 * offering IN_ORDER (force_in_order), with IN_ORDER negotiated: the same
 * features again are taken; IN_ORDER or FLUSH toggled, and a bit never
 * offered (VHOST_F_LOG_ALL, 26), are refused with REPLY_ACK (non-zero)
 * and change nothing: I/O goes on. Then, without the need_reply flag, a
 * change cannot be answered: the back end closes the connection. */
static void case_features_live(void)
{
	struct vblk_host *d = open_vblk(0, 0);
	if (!d)
		return;
	uint64_t off = vblk_host_device_features(d);
	vblk_host_close(d);
	CHECK(off & VH_BIT(VH_F_IN_ORDER));
	d = open_vblk(0, (off & VBLK_HOST_FEATURES_KNOWN) | VH_BIT(VH_F_IN_ORDER));
	if (!d)
		return;
	struct vhu_front *f = vblk_host_vhu(d);
	uint64_t neg = vblk_host_features(d);
	CHECK(neg & VH_BIT(VH_F_IN_ORDER));
	uint64_t cur = neg | (1ull << VHU_F_PROTOCOL_FEATURES);
	CHECK(vblk_batch(d, VH_BLK_T_OUT, 1024, 32, O.seed));
	int same = vhu_set_features(f, cur);
	int in_order = vhu_set_features(f, cur ^ VH_BIT(VH_F_IN_ORDER));
	int flush = vhu_set_features(f, cur ^ VH_BIT(VH_BLK_F_FLUSH));
	int log_all = vhu_set_features(f, cur | (1ull << 26));
	diag("RESULT same=%d in_order=%d flush=%d log_all=%d", same, in_order, flush, log_all);
	CHECK_EQ(same, 0);
	CHECK_EQ(in_order, -EIO);
	CHECK_EQ(flush, -EIO);
	CHECK_EQ(log_all, -EIO);
	/* nothing changed: I/O goes on, a flush included */
	CHECK(vblk_batch(d, VH_BLK_T_IN, 1024, 32, O.seed));
	uint8_t st = 0xff;
	CHECK_EQ(vblk_host_rw(d, 0, VH_BLK_T_FLUSH, 0, NULL, 0, &st), 0);
	CHECK_EQ(st, 0);
	/* no REPLY_ACK asked for: the connection closes */
	vhu_set_reply_ack(f, false);
	int silent = vhu_set_features(f, cur ^ VH_BIT(VH_F_IN_ORDER));
	int fd = vhu_socket_fd(f);
	int64_t end = now_ms() + DEADLINE_MS;
	bool dropped = false;
	while (!dropped && now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0) {
			char c;
			ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
			dropped = n == 0 || (n < 0 && errno != EAGAIN);
		}
	}
	diag("RESULT silent=%d dropped=%d", silent, dropped);
	CHECK_EQ(silent, 0);
	if (!dropped)
		FAIL("the connection is still up %d ms after a silent feature change", DEADLINE_MS);
	vanish();
}

/* ---- main ------------------------------------------------------------------------------------- */

static const struct tap_case cases[] = {
	{ "io", case_io },
	{ "aer_unmapped", case_aer_unmapped },
	{ "truncate", case_truncate },
	{ "truncate_vhost", case_truncate_vhost },
	{ "db_fd", case_db_fd },
	{ "irq_fds", case_irq_fds },
	{ "vhost_fds", case_vhost_fds },
	{ "full_cq", case_full_cq },
	{ "dsm_unmap_hup", case_dsm_unmap_hup },
	{ "dsm_hold", case_dsm_hold },
	{ "shn_unmap", case_shn_unmap },
	{ "reset_storm", case_reset_storm },
	{ "suspend_unmap", case_suspend_unmap },
	{ "delete_sq_unmap", case_delete_sq_unmap },
	{ "dsm_toctou", case_dsm_toctou },
	{ "noread", case_noread },
	{ "noread_vhost", case_noread_vhost },
	{ "slow_reader", case_slow_reader },
	{ "vring_num", case_vring_num },
	{ "features_live", case_features_live },
};

static void usage(void)
{
	fprintf(stderr, "usage: hostile_client SOCKET CASE [--nsid N] [--lba N] [--seed N] [--op read|write]\n"
			"  [--then delete_sq|reset|hold] [--dsm-cmds N] [--count N]\ncases:");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fprintf(stderr, " %s", cases[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	tap_set_immediate();
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define ARG(name) (!strcmp(a, name) && v && (i++, 1))
		if (ARG("--nsid"))
			O.nsid = (uint32_t)strtoul(v, NULL, 0);
		else if (ARG("--lba"))
			O.lba = (uint32_t)strtoul(v, NULL, 0);
		else if (ARG("--seed"))
			O.seed = (uint32_t)strtoul(v, NULL, 0);
		else if (ARG("--op"))
			O.op = v;
		else if (ARG("--then"))
			O.then = v;
		else if (ARG("--dsm-cmds"))
			O.dsm_cmds = atoi(v);
		else if (ARG("--count"))
			O.count = atoi(v);
		else if (a[0] == '-')
			usage();
		else if (!O.sock)
			O.sock = a;
		else if (!O.cas)
			O.cas = a;
		else
			usage();
#undef ARG
	}
	if (!O.sock || !O.cas)
		usage();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, O.cas))
			continue;
		cases[i].fn();
		diag("END %s: %d failure%s", O.cas, tap_failures(), tap_failures() == 1 ? "" : "s");
		return tap_failures() ? 1 : 0;
	}
	usage();
	return 2;
}
