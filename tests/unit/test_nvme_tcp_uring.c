/* The io_uring socket I/O of an NVMe/TCP queue pair (nvme_tcp_uring.c) on
 * a socketpair: small receives come from the buffer in stream order, a
 * large one lands straight in the caller's iovecs (and only there), send
 * results come back on the next call, the end of the stream and quiescing
 * with a receive in the kernel. Skipped when io_uring is refused here. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bdev/modules/nvme/nvme_tcp_uring.h"

struct fixture {
	int sv[2];		/* sv[0]: the ring's socket, sv[1]: the peer */
	struct nvme_tcp_uring *u;
};

static int setup(void **state)
{
	static struct fixture f;
	char err[200];
	int sz = 1 << 20;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, f.sv))
		return -1;
	setsockopt(f.sv[1], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	setsockopt(f.sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	f.u = nvme_tcp_uring_create(f.sv[0], err, sizeof(err));
	if (!f.u) {
		close(f.sv[0]);
		close(f.sv[1]);
		fprintf(stderr, "# io_uring refused: %s\n", err);
		*state = NULL;
		return 0;
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	if (!f)
		return 0;
	shutdown(f->sv[0], SHUT_RDWR);
	nvme_tcp_uring_destroy(f->u);
	close(f->sv[0]);
	close(f->sv[1]);
	return 0;
}

#define FIXTURE_OR_SKIP(f) do { \
	if (!(f)) \
		skip(); \
} while (0)

/* Submit what was prepared and wait (up to 10 s) until a result is there. */
static void settle(struct nvme_tcp_uring *u)
{
	struct pollfd p = { .fd = nvme_tcp_uring_event_fd(u), .events = POLLIN };
	struct timespec t0, t;

	assert_true(nvme_tcp_uring_submit(u) >= 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		uint64_t cnt;
		nvme_tcp_uring_reap(u);
		if (nvme_tcp_uring_pending(u))
			return;
		/* a CQE writes the eventfd: wait for that, then clear it */
		if (poll(&p, 1, 100) == 1)
			assert_int_equal(read(p.fd, &cnt, sizeof(cnt)), sizeof(cnt));
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while (t.tv_sec - t0.tv_sec < 10);
	fail_msg("no completion in 10 s");
}

static void fill(uint8_t *b, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)(i * 13 + seed + (i >> 8));
}

static void peer_send(int fd, const uint8_t *b, size_t n)
{
	while (n) {
		ssize_t k = send(fd, b, n, 0);
		assert_true(k > 0);
		b += k;
		n -= (size_t)k;
	}
}

static void test_small_receives_in_order(void **state)
{
	struct fixture *f = *state;
	uint8_t out[300], in[300];
	size_t got = 0;

	FIXTURE_OR_SKIP(f);
	fill(out, sizeof(out), 1);
	peer_send(f->sv[1], out, sizeof(out));
	/* 8, 16, then the rest: as a PDU parser asks */
	const size_t steps[] = { 8, 16, sizeof(out) - 24 };
	for (size_t s = 0; s < 3; s++) {
		size_t want = steps[s], have = 0;
		while (have < want) {
			struct iovec v = { in + got + have, want - have };
			ssize_t n = nvme_tcp_uring_recv(f->u, &v, 1);
			assert_true(n >= 0);
			if (!n) {
				settle(f->u);
				continue;
			}
			have += (size_t)n;
		}
		got += want;
	}
	assert_memory_equal(in, out, sizeof(out));
	/* nothing more: a receive is prepared, none returned */
	struct iovec v = { in, 8 };
	assert_int_equal(nvme_tcp_uring_recv(f->u, &v, 1), 0);
}

static void test_large_receive_lands_in_place(void **state)
{
	struct fixture *f = *state;
	enum { LEN = 96 * 1024 };
	uint8_t *out, *in;
	size_t got = 0;

	FIXTURE_OR_SKIP(f);
	out = malloc(LEN);
	in = calloc(1, LEN + 64);
	assert_non_null(out);
	assert_non_null(in);
	fill(out, LEN, 7);
	memset(in + LEN, 0xa5, 64);
	peer_send(f->sv[1], out, LEN);
	while (got < LEN) {
		/* two iovecs, split off-centre */
		size_t first = got < 1000 ? 1000 - got : 0;
		struct iovec v[2] = { { in + got, first }, { in + got + first, LEN - got - first } };
		ssize_t n = nvme_tcp_uring_recv(f->u, first ? v : v + 1, first ? 2 : 1);
		assert_true(n >= 0);
		if (!n) {
			settle(f->u);
			continue;
		}
		assert_true((size_t)n <= LEN - got);
		got += (size_t)n;
	}
	assert_memory_equal(in, out, LEN);
	for (int i = 0; i < 64; i++)
		assert_int_equal(in[LEN + i], 0xa5);	/* never past what was asked */
	free(out);
	free(in);
}

static void test_direct_receive_cannot_move(void **state)
{
	struct fixture *f = *state;
	enum { LEN = 32 * 1024 };
	uint8_t *out, *in, *other;

	FIXTURE_OR_SKIP(f);
	out = malloc(LEN);
	in = calloc(1, LEN);
	other = calloc(1, LEN);
	assert_true(out && in && other);
	fill(out, LEN, 3);
	peer_send(f->sv[1], out, LEN);
	struct iovec v = { in, LEN }, w = { other, LEN };
	assert_int_equal(nvme_tcp_uring_recv(f->u, &v, 1), 0);	/* straight into `in` */
	settle(f->u);
	/* the bytes are in `in`: a caller now pointing elsewhere is a bug */
	assert_int_equal(nvme_tcp_uring_recv(f->u, &w, 1), -EPROTO);
	ssize_t n = nvme_tcp_uring_recv(f->u, &v, 1);
	assert_true(n > 0 && n <= LEN);
	assert_memory_equal(in, out, (size_t)n);
	free(out);
	free(in);
	free(other);
}

static void test_send_result_on_next_call(void **state)
{
	struct fixture *f = *state;
	uint8_t a[100], b[5000], rx[5100];
	struct iovec v[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	size_t got = 0;

	FIXTURE_OR_SKIP(f);
	fill(a, sizeof(a), 5);
	fill(b, sizeof(b), 9);
	assert_false(nvme_tcp_uring_send_busy(f->u));
	assert_int_equal(nvme_tcp_uring_send(f->u, v, 2), 0);		/* prepared */
	assert_true(nvme_tcp_uring_send_busy(f->u));
	assert_int_equal(nvme_tcp_uring_send(f->u, v, 2), 0);		/* in flight */
	settle(f->u);
	assert_int_equal(nvme_tcp_uring_send(f->u, v, 2), sizeof(a) + sizeof(b));
	assert_false(nvme_tcp_uring_send_busy(f->u));
	while (got < sizeof(rx)) {
		ssize_t n = recv(f->sv[1], rx + got, sizeof(rx) - got, 0);
		assert_true(n > 0);
		got += (size_t)n;
	}
	assert_memory_equal(rx, a, sizeof(a));
	assert_memory_equal(rx + sizeof(a), b, sizeof(b));
}

static void test_end_of_stream_after_the_data(void **state)
{
	struct fixture *f = *state;
	uint8_t out[10], in[10];
	struct iovec v = { in, sizeof(in) };
	ssize_t n;

	FIXTURE_OR_SKIP(f);
	memcpy(out, "0123456789", sizeof(out));
	peer_send(f->sv[1], out, sizeof(out));
	shutdown(f->sv[1], SHUT_WR);
	while (!(n = nvme_tcp_uring_recv(f->u, &v, 1)))
		settle(f->u);
	assert_int_equal(n, sizeof(out));
	assert_memory_equal(in, out, sizeof(out));
	while (!(n = nvme_tcp_uring_recv(f->u, &v, 1)))
		settle(f->u);
	assert_int_equal(n, -EPIPE);
}

static void test_quiesce_with_receive_in_kernel(void **state)
{
	struct fixture *f = *state;
	uint8_t *in;
	struct iovec v;

	FIXTURE_OR_SKIP(f);
	in = malloc(64 * 1024);
	assert_non_null(in);
	v.iov_base = in;
	v.iov_len = 64 * 1024;
	assert_int_equal(nvme_tcp_uring_recv(f->u, &v, 1), 0);	/* nothing to read */
	assert_int_equal(nvme_tcp_uring_submit(f->u), 1);
	assert_false(nvme_tcp_uring_pending(f->u));		/* waits in the kernel */
	shutdown(f->sv[0], SHUT_RDWR);
	assert_int_equal(nvme_tcp_uring_quiesce(f->u), 0);	/* the kernel let go of `in` */
	free(in);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_small_receives_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_receive_lands_in_place, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_receive_cannot_move, setup, teardown),
		cmocka_unit_test_setup_teardown(test_send_result_on_next_call, setup, teardown),
		cmocka_unit_test_setup_teardown(test_end_of_stream_after_the_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quiesce_with_receive_in_kernel, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
