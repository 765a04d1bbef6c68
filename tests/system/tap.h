/* The test harness shared by the C drivers of tests/system (nvme_e2e,
 * vblk_e2e, vfu_conformance, hostile_client): diagnostics and checks, the
 * case table and its TAP runner, the options every runner takes, clocks,
 * and the stdin/stdout handshake of the cases the Python side drives.
 *
 * Output is TAP: "1..N", then per case "ok N - name (T s)" or "not ok N -
 * name (T s)" followed by the case's "# ..." diagnostics (they are kept
 * until the case ends, so that threads of a case cannot interleave them
 * with the TAP lines). A driver that prints no TAP of its own
 * (hostile_client: the Python side reports) calls tap_set_immediate():
 * diagnostics then go to stdout as they come. */
#ifndef OSNAP_TESTS_SYSTEM_TAP_H
#define OSNAP_TESTS_SYSTEM_TAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* How long to wait for something that must happen (a completion, an
 * interrupt, queued I/O draining): the work scales with the load of this
 * 2-core machine, shared by parallel builds and tests, so it is generous;
 * a wedge still fails. Checks that nothing happens wait briefly instead. */
#define EVENT_DEADLINE_MS	30000

/* ---- diagnostics and checks -------------------------------------------------------------- */

/* One "# ..." line of the running case (thread-safe). */
void diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A failed check of the running case at file:line (thread-safe). */
void tap_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Failures so far in the running case (in immediate mode: in the program). */
int tap_failures(void);

/* Diagnostics straight to stdout, not kept for a TAP line. */
void tap_set_immediate(void);

/* The driver's words for a nonzero return value of the calls it checks
 * with REQUIRE_OK (an errno, or a device status): each driver that uses
 * REQUIRE_OK defines it. */
const char *tap_status_str(int rc);

#define FAIL(...) tap_fail(__FILE__, __LINE__, __VA_ARGS__)
#define CHECK(c) do { if (!(c)) FAIL("check failed: %s", #c); } while (0)
#define CHECK_EQ(a, b) do { long long a_ = (long long)(a), b_ = (long long)(b); \
	if (a_ != b_) FAIL("%s == %s: got %lld (0x%llx), want %lld (0x%llx)", #a, #b, a_, \
			   (unsigned long long)a_, b_, (unsigned long long)b_); } while (0)

/* Fatal checks: the case cannot go on, it jumps to its `out:` label. */
#define REQUIRE(c) do { if (!(c)) { FAIL("required: %s", #c); goto out; } } while (0)
/* ... with a reason (printf arguments) */
#define REQUIRE_MSG(c, ...) do { if (!(c)) { FAIL("required: %s", #c); diag(__VA_ARGS__); goto out; } } \
	while (0)
/* expr returns 0 */
#define REQUIRE_OK(expr) do { int rc_ = (expr); if (rc_ != 0) { \
	FAIL("%s: %s, want success", #expr, tap_status_str(rc_)); goto out; } } while (0)
/* expr returns a negative errno on failure, anything else on success */
#define REQUIRE_RC(expr) do { int rc_ = (expr); if (rc_ < 0) { \
	FAIL("%s = %d (%s)", #expr, rc_, strerror(-rc_)); goto out; } } while (0)
/* expr must fail (return a negative errno) */
#define REQUIRE_ERR(expr, what) do { int rc_ = (expr); if (rc_ >= 0) { \
	FAIL("%s: %s succeeded, expected an error", (what), #expr); goto out; } } while (0)

/* ---- the case table and its runner --------------------------------------------------------- */

struct tap_case {
	const char *name;
	void (*fn)(void);
	bool dflt;		/* run when no case is named */
	unsigned flags;		/* the driver's own, for its hooks */
};

struct tap_suite {
	const char *prog;	/* for messages */
	const struct tap_case *cases;
	size_t ncases;
	/* optional: before a case, why it is skipped (TAP "# SKIP"), or NULL to run it */
	const char *(*skip)(const struct tap_case *c);
	/* optional: before a case that runs; false when it cannot (say why with FAIL) */
	bool (*setup)(const struct tap_case *c);
};

#define TAP_MAX_NAMED 128

/* The options every runner takes: --case NAME (again and again: those, in
 * that order, instead of the default ones) and --list (the case names,
 * one a line, then exit). */
struct tap_opts {
	const char *names[TAP_MAX_NAMED];
	int nnames;
	bool list;
};

/* True when a (value v, index *i) is one of the common options (taken). */
bool tap_opt(struct tap_opts *t, const char *a, const char *v, int *i);

/* A driver's option NAME VALUE (NAME alone for TAP_FLAG), stored at to. */
enum tap_arg_kind {
	TAP_STR,	/* const char * */
	TAP_FLAG,	/* bool, set to true */
	TAP_INT,	/* int */
	TAP_LONG,	/* long */
	TAP_I64,	/* int64_t */
	TAP_U32,	/* uint32_t */
	TAP_U64,	/* uint64_t */
};

struct tap_arg {
	const char *name;
	enum tap_arg_kind kind;
	void *to;
};

/* Parse argv[1..argc): the common options into t, the driver's into args
 * (numbers in C syntax: 0x.. hex, 0.. octal), words that are no option
 * into pos[0..npos) in turn. False at anything else (an unknown option, a
 * missing or malformed value, a word too many): the driver prints its usage. */
bool tap_parse(int argc, char **argv, struct tap_opts *t, const struct tap_arg *args, size_t nargs,
	       const char **pos, int npos);

/* " name" for each case, "*" after those run only when named, on f. */
void tap_print_cases(FILE *f, const struct tap_suite *s);

/* With --list, print the names; else run the named cases (the default ones
 * when none is named) and print TAP. Returns the exit status: 0 when all
 * passed, 1 when some failed, -1 for an unknown case name (said on stderr:
 * the driver prints its usage). */
int tap_run(const struct tap_suite *s, const struct tap_opts *t);

/* ---- clocks ------------------------------------------------------------------------------ */

int64_t now_ms(void);		/* CLOCK_MONOTONIC */
void sleep_ms(int ms);

/* ---- stdin/stdout handshake (cases driven by the Python side) ------------------------------- */

/* "# what" on stdout at once (not kept for the TAP line). */
void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Wait up to ms for one line on stdin; true when it came (without its
 * newline in buf). */
bool wait_line(int ms, char *buf, size_t len);

/* True when stdin has something to read now. */
bool stdin_ready(void);

#endif
