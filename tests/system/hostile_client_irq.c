/* hostile_client: interrupt fds that are no eventfds, and eventfds that are
 * full (class 5), over vfio-user and vhost-user. */
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hostile_client.h"

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

void case_irq_fds(void)
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
void case_vhost_fds(void)
{
	struct vhu_front *f = NULL;
	int pfd[2] = { -1, -1 }, e = -1;
	f = vhu_open_owned();
	REQUIRE(f);
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
