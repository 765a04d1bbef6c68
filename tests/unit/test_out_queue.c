/* The endpoints' output queue: never blocks, keeps the byte stream whole
 * and in order, fds go with their message's first byte exactly once
 * (also when the message is queued or split), a peer that does not read
 * hits the bound, a gone peer is an error, no fd leaks. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/out_queue.h"
#include "test_stream_msgs.h"

static void pair(int sv[2], int sndbuf)
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
	if (sndbuf)
		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)), 0);
}

/* The receiving side: reads message by message, never across a message
 * boundary, and checks the fds arrive with the first byte of theirs. */
struct rx {
	int fd;
	uint32_t next_seq;
	struct hdr h;
	size_t got;		/* of the current message */
	uint8_t *buf;
	int fds_seen;
};

static bool rx_step(struct rx *r, uint32_t want_fd_every)
{
	size_t want = r->got < sizeof(r->h) ? sizeof(r->h) - r->got : r->h.len - r->got;
	uint8_t *dst = r->got < sizeof(r->h) ? (uint8_t *)&r->h + r->got : r->buf + r->got;
	union {
		char b[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} cbuf;
	struct iovec iov = { dst, want };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.b,
			     .msg_controllen = sizeof(cbuf) };
	ssize_t n = recvmsg(r->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	if (n < 0) {
		assert_int_equal(errno, EAGAIN);
		return false;
	}
	assert_true(n > 0);
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
		assert_int_equal(cm->cmsg_type, SCM_RIGHTS);
		int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		assert_int_equal(k, 1);
		int fd;
		memcpy(&fd, CMSG_DATA(cm), sizeof(fd));
		/* with the message's first byte, and the right message's fd */
		assert_int_equal(r->got, 0);
		assert_int_equal(r->next_seq % want_fd_every, 0);
		uint32_t s = 0;
		assert_int_equal(read(fd, &s, sizeof(s)), (ssize_t)sizeof(s));
		assert_int_equal(s, r->next_seq);
		close(fd);
		r->fds_seen++;
	}
	if (r->got == 0 && n > 0 && want_fd_every && r->next_seq % want_fd_every == 0)
		assert_int_equal(r->fds_seen, (int)(r->next_seq / want_fd_every) + 1);
	r->got += (size_t)n;
	if (r->got == sizeof(r->h)) {
		assert_int_equal(r->h.seq, r->next_seq);
		memcpy(r->buf, &r->h, sizeof(r->h));
	}
	if (r->got >= sizeof(r->h) && r->got == r->h.len) {
		for (size_t i = sizeof(r->h); i < r->h.len; i++)
			if (r->buf[i] != pat(r->h.seq, i))
				fail_msg("message %u byte %zu", r->h.seq, i);
		r->next_seq++;
		r->got = 0;
	}
	return true;
}

static void test_sent_at_once(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, 0);
	struct out_queue q;
	out_queue_init(&q, sv[0]);
	uint8_t buf[64];
	int fd = seq_fd(0);
	assert_int_equal(out_queue_send(&q, buf, build(buf, 0, sizeof(buf)), &fd, 1), 0);
	close(fd);
	assert_false(out_queue_pending(&q));
	struct rx r = { .fd = sv[1], .buf = malloc(64) };
	while (rx_step(&r, 1))
		;
	assert_int_equal(r.next_seq, 1);
	assert_int_equal(r.fds_seen, 1);
	free(r.buf);
	close(sv[0]);
	close(sv[1]);
}

/* Messages far larger than the socket buffer, an fd on every third: the
 * first goes out in part (its fd with it), the rest wait; the queue drains
 * as the peer reads, the stream arrives whole, every fd once, with its
 * message's first byte, though the caller closed its own at once. */
static void run_split(size_t len, int nmsg)
{
	int sv[2];
	int base = count_fds();
	pair(sv, 4096);
	struct out_queue q;
	out_queue_init(&q, sv[0]);
	uint8_t *buf = malloc(len);
	struct rx r = { .fd = sv[1], .buf = malloc(len) };
	unsigned most = 0;	/* messages queued at most */
	for (int i = 0; i < nmsg; i++) {
		int fd = i % 3 == 0 ? seq_fd((uint32_t)i) : -1;
		assert_int_equal(out_queue_send(&q, buf, build(buf, (uint32_t)i, len - (size_t)(i % 7)),
						&fd, fd >= 0 ? 1 : 0), 0);
		if (fd >= 0)
			close(fd);
		most = q.msgs > most ? q.msgs : most;
		/* the peer reads now and then: the queue stays within its bound */
		while (q.msgs > OUT_QUEUE_MAX_MSGS / 2) {
			while (rx_step(&r, 3))
				;
			assert_int_equal(out_queue_flush(&q), 0);
		}
	}
	assert_true(most > 1);	/* queued, and flushed several at a time */
	int rounds = 0;
	while (r.next_seq < (uint32_t)nmsg) {
		assert_int_equal(out_queue_flush(&q), 0);
		while (rx_step(&r, 3))
			;
		assert_true(++rounds < 1000000);
	}
	assert_false(out_queue_pending(&q));
	assert_int_equal(q.bytes, 0);
	assert_int_equal(q.msgs, 0);
	assert_int_equal(r.fds_seen, (nmsg + 2) / 3);
	free(r.buf);
	free(buf);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(count_fds(), base);
}

static void test_split_large(void **state)
{
	(void)state;
	run_split(256 << 10, 10);	/* one message spans many sends */
}

static void test_split_small(void **state)
{
	(void)state;
	run_split(100, 2000);		/* many messages per send */
}

/* A peer that never reads: sends queue up to the bound, then -ENOBUFS;
 * the queue as it was stays (nothing of the refused message), clear
 * closes every fd copy. */
static void test_bound(void **state)
{
	(void)state;
	int sv[2];
	int base = count_fds();
	pair(sv, 4096);
	struct out_queue q;
	out_queue_init(&q, sv[0]);
	uint8_t buf[64];
	int fd = seq_fd(0);
	int n = 0, rc;
	while ((rc = out_queue_send(&q, buf, build(buf, (uint32_t)n, sizeof(buf)), &fd, 1)) == 0)
		assert_true(++n < 100000);
	assert_int_equal(rc, -ENOBUFS);
	assert_int_equal(q.msgs, OUT_QUEUE_MAX_MSGS);
	out_queue_clear(&q);
	assert_false(out_queue_pending(&q));
	close(fd);
	close(sv[0]);
	close(sv[1]);
	/* bytes (a fresh socket, this one is full): a message larger than
	 * half the bound is taken, a second one too (the socket took a bit of
	 * the first), a third is too much */
	pair(sv, 4096);
	out_queue_init(&q, sv[0]);
	size_t big = OUT_QUEUE_MAX_BYTES / 2 + 1;
	uint8_t *b = malloc(big);
	memset(b, 0, big);
	assert_int_equal(out_queue_send(&q, b, big, NULL, 0), 0);
	assert_int_equal(out_queue_send(&q, b, big, NULL, 0), 0);
	assert_int_equal(out_queue_send(&q, b, big, NULL, 0), -ENOBUFS);
	assert_true(q.bytes <= OUT_QUEUE_MAX_BYTES);
	free(b);
	out_queue_clear(&q);
	close(sv[0]);
	close(sv[1]);
	assert_int_equal(count_fds(), base);
}

/* The peer went away: sending or flushing says so (never SIGPIPE). */
static void test_peer_gone(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, 4096);
	struct out_queue q;
	out_queue_init(&q, sv[0]);
	uint8_t buf[8192];
	memset(buf, 0, sizeof(buf));
	int rc = 0;
	for (int i = 0; i < 8 && rc == 0; i++)
		rc = out_queue_send(&q, buf, sizeof(buf), NULL, 0);
	assert_int_equal(rc, 0);
	assert_true(out_queue_pending(&q));
	close(sv[1]);
	rc = out_queue_flush(&q);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	rc = out_queue_send(&q, buf, 16, NULL, 0);
	assert_true(rc == -EPIPE || rc == -ECONNRESET);
	out_queue_clear(&q);
	assert_int_equal(out_queue_send(&q, buf, 16, NULL, 0), -EPIPE);
	close(sv[0]);
}

static void test_bad_args(void **state)
{
	(void)state;
	int sv[2];
	pair(sv, 0);
	struct out_queue q;
	out_queue_init(&q, sv[0]);
	int fds[OUT_QUEUE_MAX_FDS + 1] = { 0 };
	uint8_t b = 0;
	assert_int_equal(out_queue_send(&q, &b, 1, fds, OUT_QUEUE_MAX_FDS + 1), -EINVAL);
	assert_int_equal(out_queue_send(&q, &b, 0, fds, 1), -EINVAL);
	assert_int_equal(out_queue_send(&q, &b, 0, NULL, 0), 0);
	int bad = 1000000;
	assert_int_equal(out_queue_send(&q, &b, 1, &bad, 1), -EBADF);
	assert_false(out_queue_pending(&q));
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sent_at_once),
		cmocka_unit_test(test_split_large),
		cmocka_unit_test(test_split_small),
		cmocka_unit_test(test_bound),
		cmocka_unit_test(test_peer_gone),
		cmocka_unit_test(test_bad_args),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
