/* The QMP wire format, receiving side: QEMU's monitor sends one JSON object
 * per line (ending "\r\n" or "\n"): the greeting {"QMP": ...}, a command's
 * answer {"return": ...} or {"error": {"class", "desc"}} (with the "id" the
 * command carried), and events {"event": NAME, "data": {...}, ...}.
 * Everything here is pure (no sockets): what the fuzz target drives. */
#ifndef OSNAP_QMP_PARSE_H
#define OSNAP_QMP_PARSE_H

#include <stdbool.h>
#include <stddef.h>

/* A line longer than this is skipped (QEMU's answers to the commands osnap
 * sends are a few bytes; a big event osnap does not wait for may be lost). */
#define QMP_MAX_LINE 65536

enum qmp_msg_kind { QMP_MSG_GREETING, QMP_MSG_RETURN, QMP_MSG_ERROR, QMP_MSG_EVENT };

struct qmp_msg {
	enum qmp_msg_kind kind;
	long long id;		/* the answered command's "id" (a number); -1: none */
	char error_class[64];	/* QMP_MSG_ERROR: e.g. "GenericError", "DeviceNotFound" */
	char desc[256];		/* QMP_MSG_ERROR: QEMU's message */
	char event[64];		/* QMP_MSG_EVENT: its name */
	char device[128];	/* QMP_MSG_EVENT: data.device when a string ("" otherwise) */
};

/* Parse one line (without its line end; a trailing '\r' is ignored).
 * Returns 0 with m filled, or -EINVAL with the reason in err (not JSON, not
 * an object, none of the four kinds, a member of the wrong type). */
int qmp_parse_line(const char *line, size_t len, struct qmp_msg *m, char *err, size_t errlen);

/* Splitting a byte stream into lines. */
struct qmp_linebuf {
	char buf[QMP_MAX_LINE];
	size_t len;
	bool skipping;		/* inside a line longer than QMP_MAX_LINE */
};

/* Append n bytes and call cb(arg, line, len) for every complete line (line
 * end removed; empty lines skipped). Stops and returns cb's value when it
 * is not 0; 0 otherwise. Lines past QMP_MAX_LINE are dropped whole. */
int qmp_linebuf_feed(struct qmp_linebuf *lb, const char *data, size_t n,
		     int (*cb)(void *arg, const char *line, size_t len), void *arg);

#endif
