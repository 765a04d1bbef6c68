/* core/client_conn: the endpoints' client socket. A message split into
 * single bytes or packed with the next arrives whole and in order, with the
 * fds sent with its first byte; a frame the protocol refuses, a handler
 * error and a hang-up close the connection (once); input waits while a
 * request is busy and a hang-up meanwhile closes only at resume; more fds
 * than kept are closed and flagged; replies reach the peer; nothing leaks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/client_conn.h"
#include "core/event_loop.h"
#include "test_stream_msgs.h"

/* The test protocol: the messages of test_stream_msgs.h. */
#define MAX_MSG 4096
#define SEQ_FAIL 999		/* the handler refuses this one */

struct got {
	uint32_t seq;
	size_t len;
	bool intact;
	int nfds;
	bool overflow;
	uint32_t fd_seq[CLIENT_CONN_MAX_FDS];	/* what each fd's pipe says */
};

static struct {
	struct client_conn cc;
	bool busy;
	int closed;
	struct got got[16];
	int ngot;
	int peer;
} T;

static size_t t_frame(struct client_conn *cc, const void *hdr)
{
	(void)cc;
	struct hdr h;
	memcpy(&h, hdr, sizeof(h));
	return h.len >= sizeof(h) && h.len <= MAX_MSG ? h.len : 0;
}

static int t_handle(struct client_conn *cc, const uint8_t *msg, size_t len, int *fds, int nfds, bool overflow)
{
	(void)cc;
	struct hdr h;
	memcpy(&h, msg, sizeof(h));
	assert_true(T.ngot < 16);
	struct got *g = &T.got[T.ngot++];
	g->seq = h.seq;
	g->len = len;
	g->intact = len == h.len;
	for (size_t i = sizeof(h); i < len; i++)
		if (msg[i] != pat(h.seq, i))
			g->intact = false;
	g->nfds = nfds;
	g->overflow = overflow;
	for (int i = 0; i < nfds; i++) {
		g->fd_seq[i] = UINT32_MAX;
		assert_int_equal(read(fds[i], &g->fd_seq[i], sizeof(uint32_t)), (ssize_t)sizeof(uint32_t));
		close(fds[i]);
	}
	return h.seq == SEQ_FAIL ? -1 : 0;
}

static bool t_busy(struct client_conn *cc)
{
	(void)cc;
	return T.busy;
}

static void t_closed(struct client_conn *cc)
{
	(void)cc;
	T.closed++;
}

static const struct client_conn_ops t_ops = {
	.frame = t_frame, .handle = t_handle, .busy = t_busy, .closed = t_closed,
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Run the loop until cond() holds; false after a generous deadline. */
static bool run_until(bool (*cond)(void))
{
	double end = now() + 20;
	while (!cond()) {
		if (now() > end)
			return false;
		loop_run_once(50);
	}
	return true;
}

/* Run the loop a little: for things that must NOT happen. */
static void run_idle(void)
{
	for (int i = 0; i < 5; i++)
		loop_run_once(20);
}

static int g_want;
static bool got_enough(void) { return T.ngot >= g_want; }
static bool is_closed(void) { return T.closed > 0; }

static int setup(void **state)
{
	(void)state;
	int sv[2];
	memset(&T, 0, sizeof(T));
	assert_int_equal(loop_init(), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	client_conn_init(&T.cc, &t_ops, NULL, "test", "test client", sizeof(struct hdr));
	assert_int_equal(client_conn_open(&T.cc, sv[0]), 0);
	T.peer = sv[1];
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	client_conn_drop(&T.cc);
	if (T.peer >= 0)
		close(T.peer);
	loop_fini();
	return 0;
}

/* send len bytes of buf with fds on the first byte (out_queue: all of it
 * leaves at once, the socket buffer has room) */
static void peer_send(const uint8_t *buf, size_t len, const int *fds, int nfds)
{
	struct out_queue q;
	out_queue_init(&q, T.peer);
	assert_int_equal(out_queue_send(&q, buf, len, fds, nfds), 0);
	assert_false(out_queue_pending(&q));
}

static void test_split_bytes_and_fds(void **state)
{
	(void)state;
	int before = count_fds();
	uint8_t m[300];
	size_t len = build(m, 7, sizeof(m));
	int fds[2] = { seq_fd(7), seq_fd(8) };
	peer_send(m, 1, fds, 2);
	close(fds[0]);
	close(fds[1]);
	for (size_t i = 1; i < len; i++) {
		run_idle();
		assert_int_equal(T.ngot, 0);
		peer_send(m + i, 1, NULL, 0);
	}
	g_want = 1;
	assert_true(run_until(got_enough));
	assert_int_equal(T.got[0].seq, 7);
	assert_int_equal(T.got[0].len, len);
	assert_true(T.got[0].intact);
	assert_int_equal(T.got[0].nfds, 2);
	assert_false(T.got[0].overflow);
	assert_int_equal(T.got[0].fd_seq[0], 7);
	assert_int_equal(T.got[0].fd_seq[1], 8);
	assert_int_equal(T.closed, 0);
	assert_int_equal(count_fds(), before);
}

static void test_packed_messages_in_order(void **state)
{
	(void)state;
	uint8_t buf[3 * 200];
	size_t off = 0;
	for (uint32_t s = 1; s <= 3; s++)
		off += build(buf + off, s, 100 + 50 * s);
	peer_send(buf, off, NULL, 0);
	g_want = 3;
	assert_true(run_until(got_enough));
	for (int i = 0; i < 3; i++) {
		assert_int_equal(T.got[i].seq, (uint32_t)i + 1);
		assert_int_equal(T.got[i].len, 150 + 50 * i);
		assert_true(T.got[i].intact);
		assert_int_equal(T.got[i].nfds, 0);
	}
}

static void test_refused_frame_closes(void **state)
{
	(void)state;
	struct hdr h = { MAX_MSG + 1, 1 };
	peer_send((uint8_t *)&h, sizeof(h), NULL, 0);
	assert_true(run_until(is_closed));
	assert_int_equal(T.closed, 1);
	assert_int_equal(T.ngot, 0);
	assert_false(client_conn_is_open(&T.cc));
	char c;
	assert_int_equal(read(T.peer, &c, 1), 0);	/* the peer sees the end */
	run_idle();
	assert_int_equal(T.closed, 1);
}

static void test_handler_error_closes(void **state)
{
	(void)state;
	uint8_t m[2][64];
	build(m[0], SEQ_FAIL, 64);
	build(m[1], 2, 64);
	peer_send(&m[0][0], sizeof(m), NULL, 0);
	assert_true(run_until(is_closed));
	assert_int_equal(T.ngot, 1);	/* nothing after the refused one */
	assert_int_equal(T.got[0].seq, SEQ_FAIL);
	assert_false(client_conn_is_open(&T.cc));
}

static void test_busy_holds_input(void **state)
{
	(void)state;
	uint8_t m[64];
	T.busy = true;
	peer_send(m, build(m, 5, sizeof(m)), NULL, 0);
	run_idle();
	assert_int_equal(T.ngot, 0);
	T.busy = false;
	client_conn_resume(&T.cc);
	g_want = 1;
	assert_true(run_until(got_enough));
	assert_int_equal(T.got[0].seq, 5);
	assert_true(T.got[0].intact);
}

static void test_hangup_while_busy_closes_at_resume(void **state)
{
	(void)state;
	T.busy = true;
	close(T.peer);
	T.peer = -1;
	run_idle();
	assert_int_equal(T.closed, 0);
	assert_true(client_conn_is_open(&T.cc));
	T.busy = false;
	client_conn_resume(&T.cc);
	assert_int_equal(T.closed, 1);
	assert_false(client_conn_is_open(&T.cc));
}

static void test_too_many_fds_flagged(void **state)
{
	(void)state;
	int before = count_fds();
	int fds[CLIENT_CONN_MAX_FDS + 3];
	for (int i = 0; i < CLIENT_CONN_MAX_FDS + 3; i++)
		fds[i] = seq_fd((uint32_t)i);
	uint8_t m[32];
	peer_send(m, build(m, 3, sizeof(m)), fds, CLIENT_CONN_MAX_FDS + 3);
	for (int i = 0; i < CLIENT_CONN_MAX_FDS + 3; i++)
		close(fds[i]);
	g_want = 1;
	assert_true(run_until(got_enough));
	assert_int_equal(T.got[0].nfds, CLIENT_CONN_MAX_FDS);
	assert_true(T.got[0].overflow);
	for (int i = 0; i < CLIENT_CONN_MAX_FDS; i++)
		assert_int_equal(T.got[0].fd_seq[i], (uint32_t)i);
	assert_int_equal(count_fds(), before);	/* the extra ones were closed */
}

static void test_reply_reaches_peer(void **state)
{
	(void)state;
	uint8_t m[128], r[128];
	build(m, 9, sizeof(m));
	int fd = seq_fd(9);
	assert_int_equal(client_conn_send(&T.cc, m, sizeof(m), &fd, 1), 0);
	close(fd);
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { r, sizeof(r) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct pollfd p = { T.peer, POLLIN, 0 };
	assert_int_equal(poll(&p, 1, 20000), 1);
	assert_int_equal(recvmsg(T.peer, &mh, MSG_CMSG_CLOEXEC), (ssize_t)sizeof(m));
	assert_memory_equal(r, m, sizeof(m));
	struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
	assert_non_null(cm);
	int got;
	memcpy(&got, CMSG_DATA(cm), sizeof(got));
	uint32_t seq = 0;
	assert_int_equal(read(got, &seq, sizeof(seq)), (ssize_t)sizeof(seq));
	assert_int_equal(seq, 9);
	close(got);
	/* a peer gone: the send fails and the connection closes (once) */
	close(T.peer);
	T.peer = -1;
	int rc = 0;
	for (int i = 0; i < 4 && !rc; i++)
		rc = client_conn_send(&T.cc, m, sizeof(m), NULL, 0);
	assert_true(rc < 0);
	assert_true(run_until(is_closed));
	assert_int_equal(T.closed, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_split_bytes_and_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_packed_messages_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_frame_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_handler_error_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy_holds_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hangup_while_busy_closes_at_resume, setup, teardown),
		cmocka_unit_test_setup_teardown(test_too_many_fds_flagged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_reaches_peer, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
