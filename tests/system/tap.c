/* The test harness shared by the C drivers of tests/system (see tap.h). */
#include "tap.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

/* ---- diagnostics and checks -------------------------------------------------------------- */

/* The running case's diagnostics, printed after its TAP line. Cases run
 * threads that check too, hence the lock and the atomic counter. */
static char g_diag[65536];
static size_t g_dlen;
static int g_fails;
static bool g_immediate;
static pthread_mutex_t g_diag_lock = PTHREAD_MUTEX_INITIALIZER;

static void diag_line(const char *line)
{
	pthread_mutex_lock(&g_diag_lock);
	if (g_immediate) {
		printf("# %s\n", line);
		fflush(stdout);
	} else {
		int n = snprintf(g_diag + g_dlen, sizeof(g_diag) - g_dlen, "# %s\n", line);
		if (n > 0 && (size_t)n < sizeof(g_diag) - g_dlen)
			g_dlen += (size_t)n;
	}
	pthread_mutex_unlock(&g_diag_lock);
}

void diag(const char *fmt, ...)
{
	char line[4096];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	diag_line(line);
}

void tap_fail(const char *file, int line, const char *fmt, ...)
{
	char msg[4096], full[4200];
	va_list ap;

	__atomic_add_fetch(&g_fails, 1, __ATOMIC_RELAXED);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	const char *base = strrchr(file, '/');
	snprintf(full, sizeof(full), "FAIL %s:%d: %s", base ? base + 1 : file, line, msg);
	diag_line(full);
}

int tap_failures(void)
{
	return __atomic_load_n(&g_fails, __ATOMIC_RELAXED);
}

void tap_set_immediate(void)
{
	g_immediate = true;
}

/* ---- the case table and its runner --------------------------------------------------------- */

bool tap_opt(struct tap_opts *t, const char *a, const char *v, int *i)
{
	if (!strcmp(a, "--list")) {
		t->list = true;
		return true;
	}
	if (!strcmp(a, "--case") && v) {
		if (t->nnames < TAP_MAX_NAMED)
			t->names[t->nnames++] = v;
		(*i)++;
		return true;
	}
	return false;
}

/* Store v into arg's place; false when v is no number of the kind. */
static bool store_arg(const struct tap_arg *arg, const char *v)
{
	char *end = NULL;
	errno = 0;
	switch (arg->kind) {
	case TAP_STR:
		*(const char **)arg->to = v;
		return true;
	case TAP_FLAG:
		*(bool *)arg->to = true;
		return true;
	case TAP_INT: {
		long x = strtol(v, &end, 0);
		if (x < INT_MIN || x > INT_MAX)
			return false;
		*(int *)arg->to = (int)x;
		break;
	}
	case TAP_LONG:
		*(long *)arg->to = strtol(v, &end, 0);
		break;
	case TAP_I64:
		*(int64_t *)arg->to = strtoll(v, &end, 0);
		break;
	case TAP_U32: {
		unsigned long long x = strtoull(v, &end, 0);
		if (x > UINT32_MAX)
			return false;
		*(uint32_t *)arg->to = (uint32_t)x;
		break;
	}
	case TAP_U64:
		*(uint64_t *)arg->to = strtoull(v, &end, 0);
		break;
	}
	return !errno && end != v && !*end;
}

bool tap_parse(int argc, char **argv, struct tap_opts *t, const struct tap_arg *args, size_t nargs,
	       const char **pos, int npos)
{
	int np = 0;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (tap_opt(t, a, v, &i))
			continue;
		size_t k;
		for (k = 0; k < nargs && strcmp(args[k].name, a); k++)
			;
		if (k < nargs) {
			if (args[k].kind == TAP_FLAG) {
				store_arg(&args[k], a);
				continue;
			}
			if (!v || !store_arg(&args[k], v))
				return false;
			i++;
		} else if (a[0] != '-' && np < npos) {
			pos[np++] = a;
		} else {
			return false;
		}
	}
	return true;
}

void tap_print_cases(FILE *f, const struct tap_suite *s)
{
	for (size_t i = 0; i < s->ncases; i++)
		fprintf(f, " %s%s", s->cases[i].name, s->cases[i].dflt ? "" : "*");
}

/* The case called name, or NULL. */
static const struct tap_case *tap_find(const struct tap_suite *s, const char *name)
{
	for (size_t i = 0; i < s->ncases; i++)
		if (!strcmp(s->cases[i].name, name))
			return &s->cases[i];
	return NULL;
}

/* Run one case and print its TAP line and diagnostics; true when it passed. */
static bool run_one(const struct tap_suite *s, const struct tap_case *c, size_t num)
{
	const char *skip = s->skip ? s->skip(c) : NULL;
	if (skip) {
		printf("ok %zu - %s # SKIP %s\n", num, c->name, skip);
		fflush(stdout);
		return true;
	}
	g_dlen = 0;
	g_diag[0] = '\0';
	__atomic_store_n(&g_fails, 0, __ATOMIC_RELAXED);
	int64_t t0 = now_ms();
	if (!s->setup || s->setup(c))
		c->fn();
	int fails = tap_failures();
	printf("%s %zu - %s (%.2fs)\n", fails ? "not ok" : "ok", num, c->name, (double)(now_ms() - t0) / 1000.0);
	if (fails || g_dlen)
		fputs(g_diag, stdout);
	fflush(stdout);
	return !fails;
}

int tap_run(const struct tap_suite *s, const struct tap_opts *t)
{
	if (t->list) {
		for (size_t i = 0; i < s->ncases; i++)
			printf("%s\n", s->cases[i].name);
		return 0;
	}
	const struct tap_case **run = calloc(s->ncases + TAP_MAX_NAMED, sizeof(*run));
	size_t n = 0;
	if (!run) {
		fprintf(stderr, "%s: out of memory\n", s->prog);
		return 1;
	}
	if (!t->nnames) {
		for (size_t i = 0; i < s->ncases; i++)
			if (s->cases[i].dflt)
				run[n++] = &s->cases[i];
	}
	for (int k = 0; k < t->nnames; k++) {
		run[n] = tap_find(s, t->names[k]);
		if (!run[n]) {
			fprintf(stderr, "%s: unknown case %s\n", s->prog, t->names[k]);
			free(run);
			return -1;
		}
		n++;
	}
	printf("1..%zu\n", n);
	fflush(stdout);
	int failed = 0;
	for (size_t k = 0; k < n; k++)
		failed += !run_one(s, run[k], k + 1);
	free(run);
	return failed ? 1 : 0;
}

/* ---- clocks ------------------------------------------------------------------------------ */

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* ---- stdin/stdout handshake ----------------------------------------------------------------- */

void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

bool wait_line(int ms, char *buf, size_t len)
{
	size_t n = 0;
	int64_t end = now_ms() + ms;
	while (n + 1 < len) {
		int left = (int)(end - now_ms());
		if (left <= 0)
			return false;
		struct pollfd p = { .fd = 0, .events = POLLIN };
		if (poll(&p, 1, left) <= 0)
			continue;
		char c;
		if (read(0, &c, 1) != 1)
			return false;
		if (c == '\n')
			break;
		buf[n++] = c;
	}
	buf[n] = '\0';
	return true;
}

bool stdin_ready(void)
{
	struct pollfd p = { .fd = 0, .events = POLLIN };
	return poll(&p, 1, 0) > 0;
}
