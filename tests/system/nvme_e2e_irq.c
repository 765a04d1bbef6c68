/* nvme_e2e: Interrupts: MSI-X eventfds, masking and the pending bits. */
#include <poll.h>
#include <unistd.h>

#include "nvme_e2e.h"

/* ---- interrupts ------------------------------------------------------------------------------ */

void case_interrupts(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *b = NULL;
	REQUIRE(h);
	REQUIRE(nvme_host_irq_enabled(h, 1));
	int efd = nvme_host_irq_fd(h, 1), afd = nvme_host_irq_fd(h, 0);
	REQUIRE(efd >= 0 && afd >= 0);
	b = xalloc(h, 4096, 4096, NULL);
	REQUIRE(b);
	uint64_t v;
	for (int i = 0; i < 5; i++) {
		while (read(efd, &v, 8) == 8)	/* drain (the fd is non-blocking or empty) */
			;
		struct nvme_host_cmd c;
		pattern_fill(b, 70000 + i, 1, bs(), O.seed);
		REQUIRE_OK(nvme_host_cmd_rw(h, &c, NVME_CMD_WRITE, O.nsid, 70000 + (uint64_t)i, 1, b, 0));
		REQUIRE_OK(nvme_host_submit(h, 1, &c));
		struct pollfd p = { .fd = efd, .events = POLLIN };
		int n = poll(&p, 1, EVENT_DEADLINE_MS);
		if (n != 1)
			FAIL("I/O completion %d did not signal vector 1 within %d ms", i, EVENT_DEADLINE_MS);
		EXPECT_OK(nvme_host_wait(h, 1, &c, EVENT_DEADLINE_MS));
	}
	/* the admin queue's vector 0 */
	while (read(afd, &v, 8) == 8)
		;
	struct nvme_host_cmd a;
	memset(&a, 0, sizeof(a));
	a.sqe.opc = NVME_ADM_GET_FEATURES;
	a.sqe.cdw10 = NVME_FEAT_NUM_QUEUES;
	REQUIRE_OK(nvme_host_submit(h, 0, &a));
	struct pollfd p = { .fd = afd, .events = POLLIN };
	if (poll(&p, 1, EVENT_DEADLINE_MS) != 1)
		FAIL("admin completion did not signal vector 0 within %d ms", EVENT_DEADLINE_MS);
	EXPECT_OK(nvme_host_wait(h, 0, &a, EVENT_DEADLINE_MS));
	/* waiting on the interrupt alone */
	struct nvme_host_cmd c;
	REQUIRE_OK(nvme_host_cmd_rw(h, &c, NVME_CMD_READ, O.nsid, 70000, 1, b, 0));
	REQUIRE_OK(nvme_host_submit(h, 1, &c));
	int n = nvme_host_wait_irq(h, 1, EVENT_DEADLINE_MS);
	CHECK(n == 1 || c.completed);
	if (!c.completed)
		EXPECT_OK(nvme_host_wait(h, 1, &c, EVENT_DEADLINE_MS));
	CHECK(pattern_check(b, 70000, 1, bs(), O.seed) < 0);
out:
	if (h)
		nvme_host_free(h, b);
	nvme_host_close(h);
}

/* Wait up to ms for vector v's PBA bit to read want. */
static bool pending_becomes(struct vfu_client *v, uint32_t vec, bool want, int ms)
{
	int64_t end = now_ms() + ms;
	for (;;) {
		bool pend = !want;
		int rc = vfu_msix_pending(v, vec, &pend);
		if (rc) {
			FAIL("reading the PBA: %s", st_str(rc));
			return false;
		}
		if (pend == want)
			return true;
		if (now_ms() > end)
			return false;
		sleep_ms(1);
	}
}

/* An eventfd's count if it fires within ms, else 0. */
static uint64_t efd_count(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t n = 0;
	if (poll(&p, 1, ms) == 1 && read(fd, &n, sizeof(n)) != (ssize_t)sizeof(n))
		n = 0;
	return n;
}

/* One write of a block on queue 1, reaped by polling only (so that the
 * queue's eventfd is left for the caller to look at). */
static int write_polled(struct nvme_host *h, uint8_t *b, uint64_t lba)
{
	struct nvme_host_cmd c;
	pattern_fill(b, lba, 1, bs(), O.seed + 40);
	int rc = nvme_host_cmd_rw(h, &c, NVME_CMD_WRITE, O.nsid, lba, 1, b, 0);
	if (!rc)
		rc = nvme_host_submit(h, 1, &c);
	if (!rc)
		rc = poll_until(h, 1, &c, 5000);
	return rc ? rc : c.result;
}

/* Interrupt masking as a VFIO user does it. The MSI-X table in BAR4 is the
 * client's (QEMU emulates it and never writes it): its mask bits change
 * nothing. SET_IRQS ACTION_MASK holds a vector's interrupt in the PBA
 * until ACTION_UNMASK delivers it, once; so does the Function Mask. */
void case_irq_mask(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *b = NULL;
	REQUIRE(h);
	REQUIRE(nvme_host_irq_enabled(h, 1));
	struct vfu_client *v = nvme_host_vfu(h);
	int efd = nvme_host_irq_fd(h, 1);
	REQUIRE(efd >= 0);
	b = xalloc(h, 4096, 4096, NULL);
	REQUIRE(b);
	struct vfu_msix_info mi;
	REQUIRE_OK(vfu_msix_info(v, &mi));
	CHECK(mi.irq_flags & VFIO_IRQ_INFO_MASKABLE);
	(void)efd_count(efd, 0);

	/* the table's mask bit of vector 1 set (its reset value, which QEMU
	 * never changes): the interrupt comes all the same */
	{
		uint32_t le = htole32(1), ctl = 0;
		uint64_t at = mi.table_off + 16ull * 1 + 12;
		REQUIRE_OK(vfu_region_write(v, mi.table_bar, at, &le, 4, false));
		REQUIRE_OK(vfu_region_read(v, mi.table_bar, at, &ctl, 4));
		CHECK_EQ(le32toh(ctl) & 1, 1);
		EXPECT_OK(write_polled(h, b, 73000));
		CHECK_EQ(efd_count(efd, 5000), 1);
		bool pend = true;
		REQUIRE_OK(vfu_msix_pending(v, 1, &pend));
		CHECK(!pend);
	}
	/* SET_IRQS ACTION_MASK: completion without interrupt, PBA bit set */
	REQUIRE_OK(nvme_host_irq_mask(h, 1, true));
	EXPECT_OK(write_polled(h, b, 73001));
	CHECK(pending_becomes(v, 1, true, 5000));
	EXPECT_OK(write_polled(h, b, 73002));	/* a second one: still one pending interrupt */
	CHECK_EQ(efd_count(efd, 0), 0);
	/* ACTION_UNMASK: delivered exactly once, the PBA bit clears */
	REQUIRE_OK(nvme_host_irq_mask(h, 1, false));
	CHECK_EQ(efd_count(efd, 5000), 1);
	CHECK(pending_becomes(v, 1, false, 0));
	CHECK_EQ(efd_count(efd, 100), 0);
	/* the admin vector was never masked */
	{
		struct nvme_id_ctrl id;
		int afd = nvme_host_irq_fd(h, 0);
		(void)efd_count(afd, 0);
		EXPECT_OK(nvme_host_identify_ctrl(h, &id));
	}
	/* the Function Mask (config space) holds every vector the same way */
	REQUIRE_OK(vfu_msix_function_mask(v, true));
	EXPECT_OK(write_polled(h, b, 73003));
	CHECK(pending_becomes(v, 1, true, 5000));
	CHECK_EQ(efd_count(efd, 0), 0);
	REQUIRE_OK(vfu_msix_function_mask(v, false));
	CHECK_EQ(efd_count(efd, 5000), 1);
	CHECK(pending_becomes(v, 1, false, 0));
	/* and everything written meanwhile is there */
	for (uint64_t lba = 73000; lba <= 73003; lba++)
		CHECK(read_check(h, 1, O.nsid, lba, 1, O.seed + 40));
	check_csts_ok(h, "at the end");
out:
	if (h)
		nvme_host_free(h, b);
	nvme_host_close(h);
}
