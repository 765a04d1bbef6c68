/* What the stateful session fuzzers (fuzz_vfu_session, fuzz_vhu_session)
 * share: the whole service on the fuzzer's thread (main event loop and
 * inline reactors, so an input always does the same thing), a client
 * connected to a real endpoint socket, the input cursor, the client's
 * guest memory image, and one input's session: its begin and end checks
 * and the operation loop with the operations every target has (a target
 * describes itself in a struct fz_ops and keeps only its own messages). */
#ifndef OSNAP_FUZZ_SESSION_H
#define OSNAP_FUZZ_SESSION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "emu/emu.h"

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

/* The client's guest memory image: a memfd it shares with the service,
 * which it may shrink under it (fz_image_truncate). */
struct fz_image {
	int fd;			/* -1: none */
	uint8_t *map;
	size_t size;
	bool truncated;		/* shrunk, not grown back yet */
};

void fz_image_open(struct fz_image *m, size_t size);
/* The image for the client's own writes: a file it shrank grows back
 * first (with zeros), as it must before it touches the pages again. */
uint8_t *fz_image_ptr(struct fz_image *m);
/* Shrink the file to size bytes (the mapping stays). */
void fz_image_truncate(struct fz_image *m, off_t size);
void fz_image_close(struct fz_image *m);

/* An fd of the given kind for a message: 0 eventfd, 1 the read end of a
 * pipe, 2 the write end of a pipe, 3 a small memfd, 4 /dev/null. The caller
 * closes it. */
int fz_odd_fd(uint8_t kind);

/* --- one input: a session and its operations --- */

struct fz_session;

/* What a target tells the operation loop. Both targets' inputs are
 * operations, each an opcode byte (bit 7: leave the service unrun after
 * it) and its arguments; some operations every session has, at the
 * target's own opcode numbers:
 *   raw        any bytes as a message: u16 length % 1024, u8 flags (bit 0
 *              keep the header's size field, bits 1-3 fd: 0 none, 1 the
 *              image, 2.. fz_odd_fd kinds), the bytes
 *   image      the client writes its memory: u32 offset, u16 length, bytes
 *   reconnect  hang up and connect again (bit 7: at once, without letting
 *              the service see the hang-up first)
 *   truncate   the client shrinks its memory file to u8 pages
 *   step       one piece of the service (fz_step), never settled
 * The others go to op(). */
struct fz_ops {
	const char *const *op_names;
	int nops;
	int op_raw, op_image, op_reconnect, op_truncate, op_step;
	/* raw: the header's size field (4 bytes at raw_size_off) is set to the
	 * length, less the header's raw_hdr_len bytes unless raw_size_counts_hdr */
	size_t raw_size_off, raw_hdr_len;
	bool raw_size_counts_hdr;
	/* the target's own operation kind, its arguments from in */
	void (*op)(struct fz_session *s, int kind, struct fz_input *in);
	/* optional: after fz_connect, what a new connection starts with */
	void (*connected)(struct fz_session *s);
	/* optional: after fz_disconnect, forget the connection's client-side state */
	void (*forget)(struct fz_session *s);
	/* after a hang-up settled: fz_fail what the service kept of its client */
	void (*check_gone)(struct fz_session *s);
};

struct fz_session {
	const struct fz_ops *ops;
	char dir[256];			/* the service's private socket directory */
	const char *path;		/* the endpoint socket */
	struct fz_client cl;
	struct fz_image img;
	int rpcs;			/* the operator's RPCs not answered yet */
};

/* Once per process: the service (fz_service_init, nreactors inline
 * reactors) and its emulation layer as cfg says (emu_config_defaults and
 * the target's changes; sockets in s->dir). Returns the first function of
 * type; its socket becomes s->path. */
struct emu_function *fz_emu_start(struct fz_session *s, int nreactors, struct emu_config *cfg,
				  enum emu_type type);

/* An input's start (once the target made its device): a new image of
 * img_size bytes, no RPC pending, the client connected, the service
 * settled. */
void fz_session_begin(struct fz_session *s, size_t img_size);
/* Up to max_ops operations from in, then settle. */
void fz_session_run(struct fz_session *s, struct fz_input *in, int max_ops);
/* Connect (again) and tell the target (ops->connected). */
void fz_session_connect(struct fz_session *s);
/* Hang up, settle, forget, and check that the service let go. */
void fz_session_hang_up(struct fz_session *s);
/* An input's end, before the target destroys its device: hang up when
 * connected; every RPC must have been answered. */
void fz_session_end(struct fz_session *s);
/* After the target's teardown: the image goes, and fz_check_fds. */
void fz_session_release(struct fz_session *s);

/* Settle the service; an operation that set no *done by then is a
 * finding ("what never finished"). */
void fz_wait_done(const int *done, const char *what);

/* Completion callbacks of the operator's RPCs: fz_rpc_done for those
 * counted in s->rpcs (arg: the session), fz_set_done sets *(int *)arg. */
void fz_rpc_done(void *arg, int rc, const char *msg);
void fz_set_done(void *arg, int rc, const char *msg);

#endif
