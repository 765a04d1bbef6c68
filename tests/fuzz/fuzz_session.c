/* Shared parts of the stateful session fuzzers; see fuzz_session.h. */
#include "fuzz_session.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "core/event_loop.h"
#include "core/guest_fault.h"
#include "core/log.h"
#include "core/thread.h"
#include "emu/emu_config.h"

/* Rounds of fz_settle before the service counts as hung. A round that does
 * work moves something forward; this many in a row, with a client that
 * sends nothing, is a livelock. */
#define MAX_ROUNDS 200000

static int g_nreactors;
static bool g_trace;

/* --- the input --- */

uint8_t fz_u8(struct fz_input *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

uint16_t fz_u16(struct fz_input *in)
{
	uint16_t lo = fz_u8(in);
	return (uint16_t)(lo | fz_u8(in) << 8);
}

uint32_t fz_u32(struct fz_input *in)
{
	uint32_t lo = fz_u16(in);
	return lo | (uint32_t)fz_u16(in) << 16;
}

uint64_t fz_u64(struct fz_input *in)
{
	uint64_t lo = fz_u32(in);
	return lo | (uint64_t)fz_u32(in) << 32;
}

void fz_bytes(struct fz_input *in, void *out, size_t len)
{
	size_t k = len < in->n ? len : in->n;
	memcpy(out, in->p, k);
	memset((uint8_t *)out + k, 0, len - k);
	in->p += k;
	in->n -= k;
}

/* --- the service --- */

void fz_fail(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "==fuzz session== ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, "\n");
	va_end(ap);
	abort();
}

void fz_service_init(int nreactors, char *dir, size_t dirlen)
{
	char tmpl[] = "/tmp/osnap-fuzz-XXXXXX";
	const char *lvl = getenv("FUZZ_SESSION_LOG");
	/* FUZZ_SESSION_LOG=debug: the service's log and the harness's trace
	 * (what the client reaps), to see what an input reaches */
	log_set_level(lvl && log_parse_level(lvl) >= 0 ? log_parse_level(lvl) : LOG_CRIT);
	g_trace = lvl != NULL;

	if (thread_lib_init() || loop_init() || guest_fault_init() || reactors_start_inline(nreactors))
		fz_fail("cannot start the service");
	g_nreactors = nreactors;
	if (!mkdtemp(tmpl))
		fz_fail("mkdtemp: %s", strerror(errno));
	snprintf(dir, dirlen, "%s", tmpl);
}

bool fz_trace(void)
{
	return g_trace;
}

bool fz_known(const char *name)
{
	const char *k = getenv("FUZZ_SESSION_KNOWN");
	size_t n = strlen(name);
	for (const char *p = k; p && *p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
			return true;
	return false;
}

/* One round; what each part did goes to parts[] when not NULL: the main
 * loop, the main thread's messages, then each reactor. */
static int round_parts(int *parts)
{
	int w[2 + OSNAP_MAX_REACTORS], work = 0;
	w[0] = loop_run_once(0);
	if (w[0] < 0)
		w[0] = 0;
	w[1] = thread_process_msgs(4096);
	for (int i = 0; i < g_nreactors; i++)
		w[2 + i] = reactor_run_inline(i);
	for (int i = 0; i < 2 + g_nreactors; i++) {
		work += w[i];
		if (parts)
			parts[i] = w[i];
	}
	return work;
}

int fz_round(void)
{
	return round_parts(NULL);
}

/* Idle rounds in a row after which a reactor whose arm hooks still say
 * work is pending counts as spinning. */
#define SPIN_ROUNDS 3

void fz_settle(void)
{
	int spin = 0;
	for (int round = 0;; round++) {
		if (round > MAX_ROUNDS) {
			int p[2 + OSNAP_MAX_REACTORS];
			round_parts(p);
			fz_fail("the service never settles: still busy after %d rounds (last round: main "
				"loop %d, main messages %d, reactor 0 %d, reactor 1 %d)", MAX_ROUNDS, p[0], p[1],
				p[2], g_nreactors > 1 ? p[3] : 0);
		}
		if (fz_round()) {
			spin = 0;
			continue;
		}
		/* nothing ran: would every reactor go to sleep now? */
		int armed = -1;
		for (int i = 0; i < g_nreactors; i++)
			if (reactor_arm_inline(i) > 0)
				armed = i;
		if (armed < 0)
			return;
		if (++spin < SPIN_ROUNDS)
			continue;
		/* A reactor that never sleeps burns its core for good (known
		 * while NVMe SQs take out-of-range tail doorbells) */
		if (fz_known("spin"))
			return;
		fz_fail("reactor %d never sleeps: its pollers' arm hooks say work is pending, its "
			"iterations find none", armed);
	}
}

void fz_step(uint8_t sel)
{
	if (sel == 0)
		loop_run_once(0);
	else if (sel == 1)
		thread_process_msgs(1);
	else
		reactor_run_inline(sel % g_nreactors);
}

/* --- the client --- */

/* The client's reply reader (its own thread, outside the service): reads
 * whatever comes and closes the fds that come with it. Not instrumented for
 * coverage: its timing varies from run to run. */
__attribute__((no_sanitize("coverage"))) static void *reader_main(void *arg)
{
	struct fz_client *c = arg;
	static uint8_t buf[65536];
	char cbuf[CMSG_SPACE(sizeof(int) * 64)];
	int fd = -1;
	bool eof = false;

	for (;;) {
		struct pollfd p[2] = { { c->ctl_efd, POLLIN, 0 }, { fd, POLLIN, 0 } };
		if (poll(p, fd >= 0 && !eof ? 2 : 1, -1) < 0)
			continue;	/* EINTR */
		if (p[0].revents) {
			/* switch to the fd the client names (-1: none), say so */
			uint64_t v = 1;
			ssize_t r;
			while ((r = read(c->ctl_efd, &v, sizeof(v))) < 0 && errno == EINTR)
				;
			if (r != sizeof(v))
				abort();
			fd = atomic_load(&c->next_fd);
			eof = false;
			while ((r = write(c->ack_efd, &v, sizeof(v))) < 0 && errno == EINTR)
				;
			if (r != sizeof(v))
				abort();
			continue;
		}
		struct iovec iov = { buf, sizeof(buf) };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
				     .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n > 0 && cm; cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			int k = (int)((cm->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			int fds[64];
			memcpy(fds, CMSG_DATA(cm), (size_t)k * sizeof(int));
			for (int i = 0; i < k; i++)
				close(fds[i]);
		}
		if (n <= 0)
			eof = true;	/* the service hung up: nothing more to read */
	}
	return NULL;
}

/* Tell the reader to read fd (-1: nothing) and wait until it does: after
 * this, it no longer touches the fd it read before. */
static void reader_switch(struct fz_client *c, int fd)
{
	uint64_t v = 1;
	ssize_t n;
	atomic_store(&c->next_fd, fd);
	/* libFuzzer's timers interrupt blocking calls (SIGALRM) */
	while ((n = write(c->ctl_efd, &v, sizeof(v))) < 0 && errno == EINTR)
		;
	if (n == sizeof(v))
		while ((n = read(c->ack_efd, &v, sizeof(v))) < 0 && errno == EINTR)
			;
	if (n != sizeof(v))
		fz_fail("reader thread handshake: %s", strerror(errno));
}

void fz_connect(struct fz_client *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		fz_fail("socket: %s", strerror(errno));
	for (int tries = 0; connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0; tries++) {
		/* the backlog is full (clients that connected without the
		 * service running): it accepts when it runs, or it has stopped
		 * accepting for good */
		if (errno != EAGAIN || tries == 2)
			fz_fail("connect %s: %s", path, strerror(errno));
		fz_settle();
	}
	if (!c->reader_started) {
		/* for the life of the process: one thread, not one per input */
		c->ctl_efd = eventfd(0, EFD_CLOEXEC);
		c->ack_efd = eventfd(0, EFD_CLOEXEC);
		if (c->ctl_efd < 0 || c->ack_efd < 0 || pthread_create(&c->reader, NULL, reader_main, c))
			fz_fail("cannot start the reader thread");
		c->reader_started = true;
	}
	reader_switch(c, c->fd);
}

/* Has the service closed its end? Read from the socket's state, which the
 * service's close() set on this very thread: the same answer every run
 * (unlike anything the reader thread saw). */
static bool peer_gone(int fd)
{
	struct pollfd p = { fd, POLLRDHUP, 0 };
	return poll(&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

bool fz_connected(const struct fz_client *c)
{
	return c->fd >= 0 && !peer_gone(c->fd);
}

int fz_send(struct fz_client *c, const void *buf, size_t len, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(sizeof(int) * 16)];
	size_t sent = 0;
	int idle = 0;

	if (c->fd < 0)
		return -ENOTCONN;
	if (nfds > 16)
		nfds = 16;
	while (sent < len) {
		struct iovec iov = { (uint8_t *)buf + sent, len - sent };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		if (!sent && nfds > 0) {
			/* the fds travel with the first bytes */
			memset(cbuf, 0, sizeof(cbuf));
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * (size_t)nfds);
		}
		ssize_t n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			idle = 0;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN)
			return -errno;
		/* full: the service reads when it runs; a service that has
		 * nothing left to do and still does not read has wedged */
		if (!fz_round() && ++idle > 2) {
			if (peer_gone(c->fd))
				return -EPIPE;
			fz_fail("the service stopped reading its client's messages");
		}
	}
	return 0;
}

void fz_disconnect(struct fz_client *c)
{
	if (c->fd < 0)
		return;
	reader_switch(c, -1);
	close(c->fd);
	c->fd = -1;
}

/* --- fds --- */

/* Pipes made by fz_odd_fd since the last check (their names in
 * /proc/self/fd), which the service must not have kept. */
#define MAX_PIPES 512
static char g_pipes[MAX_PIPES][32];
static int g_npipes;

static void pipe_made(int fd)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	if (g_npipes < MAX_PIPES) {
		ssize_t k = readlink(path, g_pipes[g_npipes], sizeof(g_pipes[0]) - 1);
		g_pipes[g_npipes][k > 0 ? k : 0] = '\0';
		g_npipes++;
	}
}

/* The fds that the service or the client make: anonymous inodes
 * (eventfds, epoll), memfds, sockets, and the client's pipes. Others come
 * and go with the sanitizers and libFuzzer (a symbolizer's pipes, files).
 * With show, each one goes to stderr. */
static int fd_count(bool show)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;
	if (!d)
		fz_fail("opendir /proc/self/fd: %s", strerror(errno));
	while ((e = readdir(d))) {
		char path[300], what[256];
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%s", e->d_name);
		ssize_t k = readlink(path, what, sizeof(what) - 1);
		what[k > 0 ? k : 0] = '\0';
		bool ours = !strncmp(what, "anon_inode:", 11) || !strncmp(what, "/memfd:", 7) ||
			    !strncmp(what, "socket:", 7);
		for (int i = 0; i < g_npipes && !ours; i++)
			ours = !strcmp(what, g_pipes[i]);
		if (!ours)
			continue;
		n++;
		if (show)
			fprintf(stderr, "  fd %s: %s\n", e->d_name, what);
	}
	closedir(d);
	return n;
}

void fz_check_fds(void)
{
	static int baseline = -1;
	int n = fd_count(false);
	if (baseline < 0) {
		baseline = n;	/* the first input opened what lives as long as the process */
	} else if (n != baseline) {
		fd_count(true);
		fz_fail("%d fds open after the teardown, %d after the first input's", n, baseline);
	}
	g_npipes = 0;
}

/* --- memory and fds --- */

int fz_memfd(size_t size, uint8_t **map)
{
	int fd = memfd_create("fuzz-guest", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, (off_t)size) < 0)
		fz_fail("memfd: %s", strerror(errno));
	*map = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED)
		fz_fail("mmap: %s", strerror(errno));
	return fd;
}

int fz_odd_fd(uint8_t kind)
{
	int p[2], fd = -1;
	switch (kind % 5) {
	case 0:
		fd = eventfd(0, EFD_CLOEXEC);
		break;
	case 1:
	case 2:
		if (pipe2(p, O_CLOEXEC) < 0)
			break;
		fd = p[kind % 5 == 1 ? 0 : 1];
		close(p[kind % 5 == 1 ? 1 : 0]);
		pipe_made(fd);
		break;
	case 3:
		fd = memfd_create("fuzz-small", MFD_CLOEXEC);
		if (fd >= 0 && ftruncate(fd, FZ_PAGE) < 0) {
			close(fd);
			fd = -1;
		}
		break;
	default:
		fd = open("/dev/null", O_RDWR | O_CLOEXEC);
		break;
	}
	if (fd < 0)
		fz_fail("cannot make an fd: %s", strerror(errno));
	return fd;
}

/* --- the client's memory image --- */

void fz_image_open(struct fz_image *m, size_t size)
{
	m->fd = fz_memfd(size, &m->map);
	m->size = size;
	m->truncated = false;
}

uint8_t *fz_image_ptr(struct fz_image *m)
{
	if (m->truncated) {
		if (ftruncate(m->fd, (off_t)m->size) < 0)
			fz_fail("ftruncate: %s", strerror(errno));
		m->truncated = false;
	}
	return m->map;
}

void fz_image_truncate(struct fz_image *m, off_t size)
{
	if (ftruncate(m->fd, size) < 0)
		fz_fail("ftruncate: %s", strerror(errno));
	m->truncated = true;
}

void fz_image_close(struct fz_image *m)
{
	munmap(m->map, m->size);
	close(m->fd);
	m->fd = -1;
	m->map = NULL;
}

/* --- one input --- */

void fz_rpc_done(void *arg, int rc, const char *msg)
{
	struct fz_session *s = arg;
	(void)rc;
	(void)msg;
	s->rpcs--;
}

void fz_set_done(void *arg, int rc, const char *msg)
{
	(void)rc;
	(void)msg;
	*(int *)arg = 1;
}

void fz_session_connect(struct fz_session *s)
{
	fz_connect(&s->cl, s->path);
	if (s->ops->connected)
		s->ops->connected(s);
}

void fz_session_hang_up(struct fz_session *s)
{
	fz_disconnect(&s->cl);
	fz_settle();
	if (s->ops->forget)
		s->ops->forget(s);
	s->ops->check_gone(s);
}

void fz_session_begin(struct fz_session *s, size_t img_size)
{
	fz_image_open(&s->img, img_size);
	s->rpcs = 0;
	fz_session_connect(s);
	fz_settle();
}

void fz_session_end(struct fz_session *s)
{
	if (s->cl.fd >= 0)
		fz_session_hang_up(s);
	if (s->rpcs)
		fz_fail("%d RPCs never answered", s->rpcs);
}

void fz_session_release(struct fz_session *s)
{
	fz_image_close(&s->img);
	fz_check_fds();
}

static void op_raw(struct fz_session *s, struct fz_input *in)
{
	const struct fz_ops *o = s->ops;
	uint16_t len = fz_u16(in) % 1024;
	uint8_t flags = fz_u8(in);
	uint8_t buf[1024];
	fz_bytes(in, buf, len);
	if (len >= o->raw_hdr_len && !(flags & 1)) {
		uint32_t size = (uint32_t)(o->raw_size_counts_hdr ? len : len - o->raw_hdr_len);
		memcpy(buf + o->raw_size_off, &size, 4);
	}
	int fd = -1, kind = (flags >> 1) & 7;
	if (kind == 1)
		fd = dup(s->img.fd);
	else if (kind > 1)
		fd = fz_odd_fd((uint8_t)(kind - 2));
	if (len)
		fz_send(&s->cl, buf, len, &fd, fd >= 0);
	if (fd >= 0)
		close(fd);
}

static void op_image(struct fz_session *s, struct fz_input *in)
{
	uint32_t off = fz_u32(in) % s->img.size;
	uint16_t len = fz_u16(in) % 4097;
	if (len > s->img.size - off)
		len = (uint16_t)(s->img.size - off);
	fz_bytes(in, fz_image_ptr(&s->img) + off, len);
}

static void op_reconnect(struct fz_session *s, bool at_once)
{
	/* a client that connects again at once (no settle bit): the old
	 * one's teardown may still run */
	if (at_once) {
		fz_disconnect(&s->cl);
		if (s->ops->forget)
			s->ops->forget(s);
	} else if (s->cl.fd >= 0) {
		fz_session_hang_up(s);
	}
	fz_session_connect(s);
}

void fz_session_run(struct fz_session *s, struct fz_input *in, int max_ops)
{
	const struct fz_ops *o = s->ops;
	for (int n = 0; in->n && n < max_ops; n++) {
		uint8_t op = fz_u8(in);
		int kind = (op & 0x7f) % o->nops;
		if (fz_trace())
			fprintf(stderr, "client: op %d: %s%s\n", n, o->op_names[kind], (op & 0x80) ? " (no settle)" : "");
		if (!fz_connected(&s->cl) && kind != o->op_reconnect && kind != o->op_image && kind != o->op_step)
			continue;	/* the service hung up: only a new connection helps */
		if (kind == o->op_step) {
			fz_step(fz_u8(in));
			continue;
		}
		if (kind == o->op_raw)
			op_raw(s, in);
		else if (kind == o->op_image)
			op_image(s, in);
		else if (kind == o->op_reconnect)
			op_reconnect(s, op & 0x80);
		else if (kind == o->op_truncate)
			fz_image_truncate(&s->img, (off_t)fz_u8(in) * FZ_PAGE);
		else
			o->op(s, kind, in);
		if (!(op & 0x80))
			fz_settle();
	}
	fz_settle();
}

struct emu_function *fz_emu_start(struct fz_session *s, int nreactors, struct emu_config *cfg,
				  enum emu_type type)
{
	char err[256];
	fz_service_init(nreactors, s->dir, sizeof(s->dir));
	snprintf(cfg->dir, sizeof(cfg->dir), "%s", s->dir);
	if (emu_init(cfg, err, sizeof(err)))
		fz_fail("emu_init: %s", err);
	struct emu_function *fn = emu_find_by_index(type, 0, -1);
	if (!fn)
		fz_fail("no function of type %d", (int)type);
	s->path = emu_fn_socket_path(fn);
	return fn;
}

void fz_wait_done(const int *done, const char *what)
{
	fz_settle();
	if (!*done)
		fz_fail("%s never finished", what);
}
