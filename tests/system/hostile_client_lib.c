/* hostile_client: the helpers every area shares (declared in
 * hostile_client.h). Diagnostics go out at once (tap_set_immediate): this
 * program prints no TAP line of its own, the Python side reports. */
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostile_client.h"

/* ---- diagnostics ----------------------------------------------------------------------------- */

bool handshake(const char *what, int ms, char *buf, size_t len)
{
	diag("READY %s", what);
	return wait_line(ms, buf, len);
}

/* ---- data pattern, in blocks of O.lba bytes ------------------------------------------------- */

void pattern_fill_lba(void *buf, uint64_t lba, uint32_t nblk, uint32_t seed)
{
	pattern_fill(buf, lba, nblk, O.lba, seed);
}

bool pattern_ok(const void *buf, uint64_t lba, uint32_t nblk, uint32_t seed)
{
	return pattern_check(buf, lba, nblk, O.lba, seed) < 0;
}

/* ---- NVMe over vfio-user ----------------------------------------------------------------- */

struct nvme_host *open_nvme(enum nvme_host_db_mode db, bool enable)
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

bool write_verify(struct nvme_host *h, uint64_t slba, uint32_t nlb, uint32_t seed)
{
	size_t len = (size_t)nlb * O.lba;
	uint8_t *w = nvme_host_alloc(h, len, 4096, NULL), *r = nvme_host_alloc(h, len, 4096, NULL);
	bool ok = false;
	if (!w || !r) {
		FAIL("arena exhausted");
		goto out;
	}
	pattern_fill_lba(w, slba, nlb, seed);
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

bool read_check(struct nvme_host *h, uint64_t slba, uint32_t nlb, uint32_t seed)
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

int wait_csts(struct nvme_host *h, uint32_t mask, uint32_t want, int ms, uint32_t *csts)
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

int map_extra(struct nvme_host *h, uint64_t iova, size_t size, struct host_mem **out)
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

int wait_dropped(struct vfu_client *v, int ms)
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

void vanish(void)
{
	diag("RESULT vanished=1");
	fflush(stdout);
	_exit(tap_failures() ? 1 : 0);
}

bool wait_hangup(int fd, int ms)
{
	int64_t end = now_ms() + ms;
	bool dropped = false;
	while (!dropped && now_ms() < end) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 100) > 0) {
			char c;
			ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
			dropped = n == 0 || (n < 0 && errno != EAGAIN);
		}
	}
	return dropped;
}

/* ---- vhost-user --------------------------------------------------------------------------- */

struct vhu_front *vhu_open_owned(void)
{
	struct vhu_front *f = NULL;
	uint64_t feat = 0, pf = 0;
	int rc = vhu_connect(O.sock, &f);
	if (rc) {
		FAIL("vhu_connect: %s", st_str(rc));
		return NULL;
	}
	vhu_set_timeout(f, DEADLINE_MS);
	REQUIRE_OK(vhu_get_features(f, &feat));
	REQUIRE_OK(vhu_get_protocol_features(f, &pf));
	REQUIRE(pf & (1ull << VHU_PF_REPLY_ACK));
	REQUIRE_OK(vhu_set_protocol_features(f, 1ull << VHU_PF_REPLY_ACK));
	REQUIRE_OK(vhu_set_owner(f));
	return f;
out:
	vhu_close(f);
	return NULL;
}
