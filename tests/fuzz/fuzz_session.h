/* What the stateful session fuzzers (fuzz_vfu_session, fuzz_vhu_session)
 * share: the whole service on the fuzzer's thread (main event loop and
 * inline reactors, so an input always does the same thing), a client
 * connected to a real endpoint socket, and the input cursor. */
#ifndef OSNAP_FUZZ_SESSION_H
#define OSNAP_FUZZ_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FZ_PAGE 4096u

/* --- the input --- */

struct fz_input {
	const uint8_t *p;
	size_t n;
};

/* Little-endian fields; an exhausted input reads as zeros. */
uint8_t fz_u8(struct fz_input *in);
uint16_t fz_u16(struct fz_input *in);
uint32_t fz_u32(struct fz_input *in);
uint64_t fz_u64(struct fz_input *in);
/* Copy len bytes (zeros past the end of the input). */
void fz_bytes(struct fz_input *in, void *out, size_t len);

/* --- the service --- */

/* Once per process: thread library, main event loop, guest memory fault
 * handling, nreactors inline reactors, a private socket directory (its
 * path in dir). Aborts on failure. */
void fz_service_init(int nreactors, char *dir, size_t dirlen);
/* FUZZ_SESSION_LOG is set: the harness traces what its client sees. */
bool fz_trace(void);
/* Is the known, unfixed bug `name` listed in FUZZ_SESSION_KNOWN (comma
 * separated)? The harness then steers clear of it, to fuzz past it:
 *   spin     a reactor that never sleeps counts as idle
 * tests/fuzz/crashes-pending/README.md has their reproducers. */
bool fz_known(const char *name);

/* One round: the main loop's ready fds, the main thread's messages, one
 * iteration of every reactor. Returns the work done (0: all idle). */
int fz_round(void);
/* Rounds until a round does no work. A service that never settles would
 * hang its client: abort (a finding) after too many rounds. */
void fz_settle(void);
/* One small step, chosen by sel: the main loop's ready fds, one main
 * thread message, or one iteration of one reactor. For fuzzed
 * interleavings. */
void fz_step(uint8_t sel);
/* A finding that is no crash (a wedged or leaking service): abort. */
__attribute__((noreturn, format(printf, 1, 2))) void fz_fail(const char *fmt, ...);

/* --- a client on an endpoint socket --- */

struct fz_client {
	int fd;			/* -1: not connected */
	/* the reply reader: a thread of the client, started at the first
	 * connection; told which fd to read (next_fd) through ctl_efd, it
	 * answers on ack_efd once it switched */
	bool reader_started;
	pthread_t reader;
	int ctl_efd, ack_efd;
	_Atomic int next_fd;
};

/* Connect to the endpoint at path (the service accepts when it next runs).
 * Replies are read and thrown away by the client's reader thread (their
 * fds closed), so the service never waits for a client that does not read. */
void fz_connect(struct fz_client *c, const char *path);
/* Send len bytes with nfds fds (the caller keeps its copies). Runs the
 * service while the socket is full. Returns 0, or -errno when the service
 * hung up. */
int fz_send(struct fz_client *c, const void *buf, size_t len, const int *fds, int nfds);
/* Hang up (the service is not run: call fz_settle). */
void fz_disconnect(struct fz_client *c);
/* Connected, and the service has not hung up. */
bool fz_connected(const struct fz_client *c);

/* After an input's teardown: the process holds as many fds as after the
 * first input's (a service that keeps a departed client's fds runs out of
 * them); fz_fail otherwise. */
void fz_check_fds(void);

/* --- the client's memory --- */

/* A memfd of size bytes mapped shared at *map. Returns the fd. */
int fz_memfd(size_t size, uint8_t **map);

/* An fd of the given kind for a message: 0 eventfd, 1 the read end of a
 * pipe, 2 the write end of a pipe, 3 a small memfd, 4 /dev/null. The caller
 * closes it. */
int fz_odd_fd(uint8_t kind);

#endif
