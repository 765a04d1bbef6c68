/* A QMP conversation in the event loop: see qmp_client.h. */
#include "qmp_client.h"
#include "qmp_parse.h"
#include "event_loop.h"
#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_SEEN 32	/* events waited for that came early */

enum step_kind { STEP_CMD, STEP_WAIT };

struct step {
	enum step_kind kind;
	char *execute;		/* STEP_CMD */
	json_t *args;
	char *not_found_ok;
	char *undo;
	json_t *undo_args;
	bool ignore_error;
	bool succeeded;
	char *event, *device;	/* STEP_WAIT */
};

struct seen_event {
	char event[64];
	char device[128];
};

struct qmp_script {
	struct step *steps;
	int n, cap;
	int cur;		/* the step under way */
	bool undoing;		/* a step failed: reverting the commands before it */
	int undo_i;		/* the next step to undo (down to 0) */
	bool not_found;		/* the last command's device was already gone */

	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int fd;
	struct loop_fd *lf;
	struct loop_timer *deadline, *later;
	uint64_t deadline_ms;
	struct qmp_linebuf *lb;
	char *out;		/* unsent bytes */
	size_t out_len, out_off;

	bool greeted, negotiated;
	long long next_id, waiting_id;	/* the command in flight (-1: none) */
	const char *waiting_what;	/* its name, for messages */

	struct seen_event seen[MAX_SEEN];
	int nseen;

	int fail_rc;
	char fail_msg[400];
	qmp_done_fn done;
	void *arg;
	void (*progress)(void *arg);
	void *progress_arg;
	bool progressed;
	bool finished, in_event;
};

/* --- building --- */

struct qmp_script *qmp_script_new(void)
{
	struct qmp_script *s = calloc(1, sizeof(*s));
	if (s) {
		s->fd = -1;
		s->waiting_id = -1;
	}
	return s;
}

static struct step *add_step(struct qmp_script *s)
{
	if (s->n == s->cap) {
		int cap = s->cap ? s->cap * 2 : 4;
		struct step *n = realloc(s->steps, (size_t)cap * sizeof(*n));
		if (!n)
			abort();	/* a few small steps: out of memory is fatal */
		s->steps = n;
		s->cap = cap;
	}
	struct step *st = &s->steps[s->n++];
	memset(st, 0, sizeof(*st));
	return st;
}

static char *dup_or_null(const char *v)
{
	return v ? strdup(v) : NULL;
}

void qmp_script_cmd(struct qmp_script *s, const char *execute, json_t *arguments, const char *not_found_ok,
		    const char *undo, json_t *undo_arguments)
{
	struct step *st = add_step(s);
	st->kind = STEP_CMD;
	st->execute = strdup(execute);
	st->args = arguments;
	st->not_found_ok = dup_or_null(not_found_ok);
	st->undo = dup_or_null(undo);
	st->undo_args = undo_arguments;
}

void qmp_script_ignore_error(struct qmp_script *s)
{
	if (s->n)
		s->steps[s->n - 1].ignore_error = true;
}

void qmp_script_wait_event(struct qmp_script *s, const char *event, const char *device)
{
	struct step *st = add_step(s);
	st->kind = STEP_WAIT;
	st->event = strdup(event);
	st->device = strdup(device);
}

void qmp_script_on_progress(struct qmp_script *s, void (*progress)(void *arg), void *arg)
{
	s->progress = progress;
	s->progress_arg = arg;
}

static void script_free(struct qmp_script *s)
{
	for (int i = 0; i < s->n; i++) {
		struct step *st = &s->steps[i];
		free(st->execute);
		json_decref(st->args);
		free(st->not_found_ok);
		free(st->undo);
		json_decref(st->undo_args);
		free(st->event);
		free(st->device);
	}
	free(s->steps);
	free(s->lb);
	free(s->out);
	free(s);
}

/* --- ending --- */

static void finish(struct qmp_script *s, int rc, const char *msg)
{
	if (s->finished)
		return;
	s->finished = true;
	if (s->lf)
		loop_del_fd(s->lf);
	s->lf = NULL;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (s->deadline)
		loop_timer_cancel(s->deadline);
	s->deadline = NULL;
	if (s->later)
		loop_timer_cancel(s->later);
	s->later = NULL;
	s->done(s->arg, rc, msg);
	/* inside the socket's callback the script is freed when it returns */
	if (!s->in_event)
		script_free(s);
}

static void advance(struct qmp_script *s);

/* A step failed: revert what succeeded (when the VMM still talks to us),
 * then report. */
static void fail(struct qmp_script *s, int rc, const char *msg, bool can_undo)
{
	if (!s->fail_rc) {
		/* the first failure is the one reported */
		s->fail_rc = rc;
		snprintf(s->fail_msg, sizeof(s->fail_msg), "%s", msg);
	}
	if (!can_undo) {
		finish(s, s->fail_rc, s->fail_msg);
		return;
	}
	if (!s->undoing) {
		s->undoing = true;
		s->undo_i = s->cur - 1;
	}
	advance(s);
}

/* --- sending --- */

static void want_out(struct qmp_script *s, bool on)
{
	loop_mod_fd(s->lf, EPOLLIN | (on ? EPOLLOUT : 0));
}

static int flush_out(struct qmp_script *s)
{
	while (s->out_off < s->out_len) {
		ssize_t w = send(s->fd, s->out + s->out_off, s->out_len - s->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK) {
				want_out(s, true);
				return 0;
			}
			return -errno;
		}
		s->out_off += (size_t)w;
	}
	want_out(s, false);
	return 0;
}

static void send_cmd(struct qmp_script *s, const char *execute, json_t *args)
{
	json_t *req = json_pack("{s:s, s:I}", "execute", execute, "id", (json_int_t)s->next_id);
	if (args)
		json_object_set(req, "arguments", args);
	char *text = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	size_t len = text ? strlen(text) : 0;
	char *buf = text ? realloc(s->out, len + 1) : NULL;
	if (!buf) {
		free(text);
		fail(s, -ENOMEM, "out of memory", false);
		return;
	}
	memcpy(buf, text, len);
	buf[len] = '\n';
	free(text);
	s->out = buf;
	s->out_len = len + 1;
	s->out_off = 0;
	s->waiting_id = s->next_id++;
	s->waiting_what = execute;
	log_debug("QMP %s: -> %s", s->path, execute);
	int rc = flush_out(s);
	if (rc) {
		char m[400];
		snprintf(m, sizeof(m), "QMP %s: cannot send %s: %s", s->path, execute, strerror(-rc));
		fail(s, -ECONNRESET, m, false);
	}
}

/* --- the script --- */

static bool seen_before(struct qmp_script *s, const struct step *st)
{
	for (int i = 0; i < s->nseen; i++)
		if (!strcmp(s->seen[i].event, st->event) && !strcmp(s->seen[i].device, st->device))
			return true;
	return false;
}

static void advance(struct qmp_script *s)
{
	if (s->finished)
		return;
	if (s->undoing) {
		/* undoing: the next succeeded command with an undo, downwards */
		while (s->undo_i >= 0) {
			struct step *st = &s->steps[s->undo_i--];
			if (st->kind == STEP_CMD && st->succeeded && st->undo) {
				log_info("QMP %s: undoing %s (%s)", s->path, st->execute, st->undo);
				send_cmd(s, st->undo, st->undo_args);
				return;
			}
		}
		finish(s, s->fail_rc, s->fail_msg);
		return;
	}
	while (s->cur < s->n) {
		struct step *st = &s->steps[s->cur];
		if (st->kind == STEP_CMD) {
			send_cmd(s, st->execute, st->args);
			return;
		}
		if (s->not_found) {
			/* the device was gone before we asked: no event will come */
			s->not_found = false;
			s->cur++;
			continue;
		}
		if (s->progress && !s->progressed) {
			s->progressed = true;
			s->progress(s->progress_arg);
		}
		if (!seen_before(s, st))
			return;		/* wait for it */
		s->cur++;
	}
	finish(s, 0, "done");
}

static void on_answer(struct qmp_script *s, const struct qmp_msg *m)
{
	if (m->id != s->waiting_id) {
		log_debug("QMP %s: an answer to id %lld, not ours (%lld): ignored", s->path, m->id, s->waiting_id);
		return;
	}
	s->waiting_id = -1;
	char msg[400];
	if (!s->negotiated) {
		if (m->kind == QMP_MSG_ERROR) {
			snprintf(msg, sizeof(msg), "QMP qmp_capabilities on %s: %s", s->path, m->desc);
			fail(s, -EIO, msg, false);
			return;
		}
		s->negotiated = true;
		advance(s);
		return;
	}
	if (s->undoing) {
		if (m->kind == QMP_MSG_ERROR)
			log_warn("QMP %s: undo failed: %s", s->path, m->desc);
		advance(s);
		return;
	}
	struct step *st = &s->steps[s->cur];
	if (m->kind == QMP_MSG_ERROR) {
		if (st->not_found_ok && !strcmp(st->not_found_ok, m->error_class)) {
			log_info("QMP %s: %s: %s (already done)", s->path, st->execute, m->desc);
			s->not_found = true;
		} else if (st->ignore_error) {
			log_info("QMP %s: %s: %s (ignored)", s->path, st->execute, m->desc);
		} else {
			snprintf(msg, sizeof(msg), "QMP %s: %s", st->execute, m->desc[0] ? m->desc : m->error_class);
			fail(s, -EIO, msg, true);
			return;
		}
	} else {
		st->succeeded = true;
	}
	s->cur++;
	advance(s);
}

static void on_event(struct qmp_script *s, const struct qmp_msg *m)
{
	log_debug("QMP %s: event %s %s", s->path, m->event, m->device);
	bool wanted = false;
	for (int i = s->cur; i < s->n; i++) {
		const struct step *st = &s->steps[i];
		if (st->kind == STEP_WAIT && !strcmp(st->event, m->event) && !strcmp(st->device, m->device))
			wanted = true;
	}
	if (!wanted || s->nseen == MAX_SEEN)
		return;
	snprintf(s->seen[s->nseen].event, sizeof(s->seen[0].event), "%s", m->event);
	snprintf(s->seen[s->nseen].device, sizeof(s->seen[0].device), "%s", m->device);
	s->nseen++;
	/* a wait under way (no command in flight) goes on */
	if (s->waiting_id < 0 && s->cur < s->n && s->steps[s->cur].kind == STEP_WAIT && s->negotiated)
		advance(s);
}

static int on_line(void *arg, const char *line, size_t len)
{
	struct qmp_script *s = arg;
	struct qmp_msg m;
	char err[200], msg[400];
	if (qmp_parse_line(line, len, &m, err, sizeof(err))) {
		snprintf(msg, sizeof(msg), "QMP %s: not a QMP message (%s)", s->path, err);
		fail(s, -ECONNRESET, msg, false);
		return 1;
	}
	switch (m.kind) {
	case QMP_MSG_GREETING:
		if (!s->greeted) {
			s->greeted = true;
			send_cmd(s, "qmp_capabilities", NULL);
		}
		break;
	case QMP_MSG_RETURN:
	case QMP_MSG_ERROR:
		if (!s->greeted) {
			snprintf(msg, sizeof(msg), "QMP %s: an answer before the greeting", s->path);
			fail(s, -ECONNRESET, msg, false);
			return 1;
		}
		on_answer(s, &m);
		break;
	case QMP_MSG_EVENT:
		on_event(s, &m);
		break;
	}
	return s->finished ? 1 : 0;
}

static void on_socket(void *arg, uint32_t events)
{
	struct qmp_script *s = arg;
	char buf[4096], msg[400];
	s->in_event = true;
	if ((events & EPOLLOUT) && !s->finished) {
		int rc = flush_out(s);
		if (rc) {
			snprintf(msg, sizeof(msg), "QMP %s: cannot send: %s", s->path, strerror(-rc));
			fail(s, -ECONNRESET, msg, false);
		}
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) && !s->finished) {
		/* what is there now, not more: the loop comes back for the rest */
		for (int round = 0; round < 16 && !s->finished; round++) {
			ssize_t r = recv(s->fd, buf, sizeof(buf), MSG_DONTWAIT);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				break;
			if (r <= 0) {
				snprintf(msg, sizeof(msg), "QMP %s: the VMM closed the connection%s%s", s->path,
					 r < 0 ? ": " : "", r < 0 ? strerror(errno) : "");
				fail(s, -ECONNRESET, msg, false);
				break;
			}
			qmp_linebuf_feed(s->lb, buf, (size_t)r, on_line, s);
		}
	}
	s->in_event = false;
	if (s->finished)
		script_free(s);
}

static void on_deadline(void *arg)
{
	struct qmp_script *s = arg;
	char msg[400];
	s->deadline = NULL;
	if (!s->greeted)
		snprintf(msg, sizeof(msg), "QMP %s: no greeting within %llu ms (is another client connected "
			 "to this monitor?)", s->path, (unsigned long long)s->deadline_ms);
	else if (s->waiting_id >= 0)
		snprintf(msg, sizeof(msg), "QMP %s: no answer to %s within %llu ms", s->path,
			 s->waiting_what ? s->waiting_what : "?", (unsigned long long)s->deadline_ms);
	else if (s->cur < s->n && s->steps[s->cur].kind == STEP_WAIT)
		snprintf(msg, sizeof(msg), "QMP %s: no %s event for %s within %llu ms: the guest has not "
			 "released the device", s->path, s->steps[s->cur].event, s->steps[s->cur].device,
			 (unsigned long long)s->deadline_ms);
	else
		snprintf(msg, sizeof(msg), "QMP %s: not done within %llu ms", s->path,
			 (unsigned long long)s->deadline_ms);
	fail(s, -ETIMEDOUT, s->fail_rc ? s->fail_msg : msg, false);
}

static void on_later(void *arg)
{
	struct qmp_script *s = arg;
	s->later = NULL;
	finish(s, s->fail_rc, s->fail_msg);
}

/* Report a failure from a later round of the loop (done is never called
 * from within qmp_script_run). */
static struct qmp_script *fail_later(struct qmp_script *s, int rc, const char *fmt, const char *why)
{
	s->fail_rc = rc;
	snprintf(s->fail_msg, sizeof(s->fail_msg), fmt, s->path, why);
	s->later = loop_timer_add(0, on_later, s);
	if (!s->later)
		abort();
	return s;
}

struct qmp_script *qmp_script_run(struct qmp_script *s, const char *path, uint64_t deadline_ms,
				  qmp_done_fn done, void *arg)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	s->done = done;
	s->arg = arg;
	s->deadline_ms = deadline_ms;
	snprintf(s->path, sizeof(s->path), "%s", path);
	if (strlen(path) >= sizeof(a.sun_path))
		return fail_later(s, -ENAMETOOLONG, "QMP socket %s: %s", "path too long");
	memcpy(a.sun_path, path, strlen(path) + 1);
	s->lb = calloc(1, sizeof(*s->lb));
	if (!s->lb)
		return fail_later(s, -ENOMEM, "QMP %s: %s", "out of memory");
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return fail_later(s, -errno, "QMP %s: %s", strerror(errno));
	/* a Unix socket connects at once or fails (EAGAIN: backlog full) */
	if (connect(s->fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		int e = errno;
		if (e == EAGAIN)
			return fail_later(s, -EAGAIN, "cannot reach the VMM: QMP socket %s is busy (%s); retry", strerror(e));
		return fail_later(s, -e, "cannot reach the VMM: QMP socket %s: %s", strerror(e));
	}
	s->lf = loop_add_fd(s->fd, EPOLLIN, on_socket, s);
	s->deadline = loop_timer_add(deadline_ms, on_deadline, s);
	if (!s->lf || !s->deadline)
		return fail_later(s, -ENOMEM, "QMP %s: %s", "cannot watch the socket");
	log_debug("QMP %s: connected", path);
	return s;
}

void qmp_script_cancel(struct qmp_script *s)
{
	finish(s, -ECANCELED, "cancelled (shutting down)");
}
