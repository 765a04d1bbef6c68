/* Messages for unit tests of stream-socket code (out_queue, client_conn):
 * u32 length (all of it), u32 sequence number, payload bytes derived from
 * both; an fd can travel with one: a pipe's read end whose other end holds
 * the sequence number. Include after <cmocka.h>. */
#ifndef OSNAP_TEST_STREAM_MSGS_H
#define OSNAP_TEST_STREAM_MSGS_H

#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

struct hdr {
	uint32_t len, seq;
};

static inline uint8_t pat(uint32_t seq, size_t i)
{
	return (uint8_t)(seq * 7 + i * 13 + (i >> 8));
}

static inline size_t build(uint8_t *buf, uint32_t seq, size_t len)
{
	struct hdr h = { (uint32_t)len, seq };
	memcpy(buf, &h, sizeof(h));
	for (size_t i = sizeof(h); i < len; i++)
		buf[i] = pat(seq, i);
	return len;
}

/* An fd that says which message it came with. */
static inline int seq_fd(uint32_t seq)
{
	int p[2];
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	assert_int_equal(write(p[1], &seq, sizeof(seq)), (ssize_t)sizeof(seq));
	close(p[1]);
	return p[0];
}

/* Open fds of the process (a leak check compares two counts). */
static inline int count_fds(void)
{
	int n = 0;
	DIR *d = opendir("/proc/self/fd");
	assert_non_null(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

#endif
