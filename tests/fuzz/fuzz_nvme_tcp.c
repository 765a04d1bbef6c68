/* libFuzzer target: the NVMe/TCP host queue pair receiving whatever a
 * controller sends (nvme_tcp_pdu.c header checks and nvme_tcp_qpair.c's
 * state machine: ICResp, CapsuleResp, C2H data into the request buffers,
 * R2T and the H2C data it triggers, TermReq, digests).
 *
 * Input: byte 0 selects the digests the host asks for (bit 0 header, bit
 * 1 data) and the socket implementation (bit 2: uring, the receives and
 * sends through an io_uring; posix where io_uring is refused); the rest
 * is the controller's byte stream, written into one end of a socketpair
 * whose other end the queue pair owns: its first PDU (the length its
 * header gives) at once, the rest once the queue pair is READY and the
 * commands are submitted (so the answers find them in flight, as on a
 * real connection), or once it is idle without getting READY; then the
 * end of the stream. When the queue pair becomes READY (the first PDU was
 * a valid ICResp), four commands are submitted: a read of 8 KiB into two buffers (command id 0), a 1 KiB
 * in-capsule write (1), a 12 KiB write that waits for R2T (2) and a
 * command without data (3). Then the queue pair is polled until it fails
 * or the stream is exhausted. Everything runs on the fuzzer's thread, so
 * a crash reproduces from its input. Seeds: nvme_tcp_seeds.py. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bdev/modules/nvme/nvme_tcp_qpair.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t g_rd[2][4096];
static uint8_t g_wr[12288];
static int g_done;

static void req_done(struct nvme_tcp_req *req, const struct nvme_cqe *cpl, int status)
{
	(void)req;
	(void)cpl;
	(void)status;
	g_done++;
}

static void drain(int fd)
{
	char buf[65536];
	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

/* The controller's side writes [*off, end) of data. */
static void feed(int fd, const uint8_t *data, size_t *off, size_t end)
{
	while (*off < end) {
		ssize_t n = send(fd, data + *off, end - *off, MSG_DONTWAIT);
		if (n <= 0)
			break;
		*off += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nvme_tcp_qpair_opts o = { .qid = 1, .depth = 8, .incapsule_max = 4096 };
	struct nvme_tcp_req reqs[4];
	struct iovec rdv[2] = { { g_rd[0], sizeof(g_rd[0]) }, { g_rd[1], sizeof(g_rd[1]) } };
	struct iovec wrv[2] = { { g_wr, 1024 }, { g_wr + 1024, sizeof(g_wr) - 1024 } };
	struct nvme_tcp_qpair *qp;
	bool submitted = false;
	int sv[2];

	if (size < 1 || size > (1u << 16))
		return 0;
	o.hdgst = data[0] & 1;
	o.ddgst = data[0] & 2;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv))
		abort();
	int sz = 1 << 20;
	setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	/* the controller's side: its first PDU (PLEN, bytes 4..7 of the
	 * common header) now, the rest later */
	size_t off = 1, first = size;
	bool fed = false;
	if (size >= 1 + 8) {
		uint32_t plen = (uint32_t)data[5] | (uint32_t)data[6] << 8 | (uint32_t)data[7] << 16 |
				(uint32_t)data[8] << 24;
		if (plen < size - 1)
			first = 1 + plen;
	}
	feed(sv[1], data, &off, first);

	qp = nvme_tcp_qpair_create(&o);
	if (!qp)
		abort();
	nvme_tcp_qpair_adopt_fd(qp, sv[0]);
	if (data[0] & 4) {
		char err[200];
		/* refused (no io_uring here): the same input runs on posix */
		(void)nvme_tcp_qpair_use_uring(qp, err, sizeof(err));
	}
	memset(reqs, 0, sizeof(reqs));
	g_done = 0;
	for (int iter = 0; iter < 10000; iter++) {
		int rc = nvme_tcp_qpair_poll(qp);
		drain(sv[1]);
		if (rc < 0)
			break;
		if (!submitted && nvme_tcp_qpair_state(qp) == NVME_TCP_QP_READY) {
			submitted = true;
			reqs[0].sqe.opc = NVME_CMD_READ;
			reqs[0].dir = NVME_TCP_DIR_C2H;
			reqs[0].iov = rdv;
			reqs[0].iovcnt = 2;
			reqs[0].len = 8192;
			reqs[1].sqe.opc = NVME_CMD_WRITE;
			reqs[1].dir = NVME_TCP_DIR_H2C;
			reqs[1].iov = wrv;
			reqs[1].iovcnt = 1;
			reqs[1].len = 1024;
			reqs[2].sqe.opc = NVME_CMD_WRITE;
			reqs[2].dir = NVME_TCP_DIR_H2C;
			reqs[2].iov = wrv;
			reqs[2].iovcnt = 2;
			reqs[2].len = sizeof(g_wr);
			reqs[3].sqe.opc = NVME_CMD_FLUSH;
			for (int i = 0; i < 4; i++) {
				reqs[i].cb = req_done;
				if (nvme_tcp_qpair_submit(qp, &reqs[i]))
					abort();
			}
		}
		if (!fed && (submitted || rc == 0)) {
			/* the answers, then the end of the stream */
			feed(sv[1], data, &off, size);
			shutdown(sv[1], SHUT_WR);
			fed = true;
			continue;
		}
		if (rc == 0 && nvme_tcp_qpair_state(qp) != NVME_TCP_QP_CONNECTING)
			break;
	}
	/* destroy completes what is left: every request ends exactly once */
	nvme_tcp_qpair_destroy(qp);
	if (submitted && g_done != 4)
		abort();
	drain(sv[1]);
	close(sv[1]);
	return 0;
}
