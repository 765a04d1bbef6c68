/* A QMP conversation with a VMM (QEMU's monitor socket), run by the main
 * thread's event loop without ever blocking it: a non-blocking Unix socket,
 * the greeting, qmp_capabilities, then a script of steps: commands sent
 * one at a time (each answered before the next), and waits for an event
 * (DEVICE_DELETED of one device). The whole conversation has one deadline.
 *
 * A command may carry an undo command: when a later step fails, the undo
 * commands of the commands that succeeded are sent in reverse order (their
 * own errors ignored) before the failure is reported, so that a failed
 * script leaves the VMM as it found it (within the deadline).
 * Main thread only. */
#ifndef OSNAP_QMP_CLIENT_H
#define OSNAP_QMP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

struct qmp_script;

/* done(arg, rc, msg): 0 or -errno with a message (never NULL):
 *   -ENOENT, -ECONNREFUSED, -EACCES...  the socket cannot be reached
 *   -EIO          QEMU answered an error ("QMP device_add: desc")
 *   -ETIMEDOUT    the deadline passed
 *   -ECONNRESET   QEMU closed the connection, or sent something that is
 *                 not QMP
 *   -ECANCELED    qmp_script_cancel */
typedef void (*qmp_done_fn)(void *arg, int rc, const char *msg);

struct qmp_script *qmp_script_new(void);
/* Add a command: execute with arguments (stolen; NULL for none). undo, when
 * not NULL, is the command that reverts it (its arguments stolen too).
 * Errors of class not_found_ok (e.g. "DeviceNotFound"; NULL: none) count
 * as success and set the script's "not found" mark, which skips the next
 * event wait: a device_del of a device already gone. */
void qmp_script_cmd(struct qmp_script *s, const char *execute, json_t *arguments, const char *not_found_ok,
		    const char *undo, json_t *undo_arguments);
/* Ignore the error of the last command added (a clean-up step). */
void qmp_script_ignore_error(struct qmp_script *s);
/* Wait for event (e.g. "DEVICE_DELETED") whose data.device is device; the
 * event counts even when it came before this step. */
void qmp_script_wait_event(struct qmp_script *s, const char *event, const char *device);
/* Called once, when every command so far has succeeded and the script is
 * about to wait for an event: an early answer (the RPC without
 * wait_for_done); the script goes on. */
void qmp_script_on_progress(struct qmp_script *s, void (*progress)(void *arg), void *arg);

/* Run s on the QMP socket at path (s is owned by the run from now on).
 * done is called exactly once, never from within this call. Returns the
 * running conversation (for qmp_script_cancel). */
struct qmp_script *qmp_script_run(struct qmp_script *s, const char *path, uint64_t deadline_ms,
				  qmp_done_fn done, void *arg);
/* Stop a running conversation: done(arg, -ECANCELED, ...) is called now. */
void qmp_script_cancel(struct qmp_script *s);

#endif
