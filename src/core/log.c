#include "log.h"

#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static atomic_int g_level = LOG_INFO;
static atomic_int g_fd = STDERR_FILENO;

static const char *const level_names[] = {
	"CRIT", "ERROR", "WARN", "INFO", "DEBUG", "TRACE",
};

void log_set_level(int level)
{
	if (level < 0)
		level = 0;
	if (level > LOG_LEVEL_MAX)
		level = LOG_LEVEL_MAX;
	atomic_store_explicit(&g_level, level, memory_order_relaxed);
}

int log_get_level(void)
{
	return atomic_load_explicit(&g_level, memory_order_relaxed);
}

void log_set_fd(int fd)
{
	atomic_store(&g_fd, fd);
}

int log_parse_level(const char *s)
{
	static const char *const alt[] = {
		"crit", "error", "warn", "info", "debug", "trace",
	};
	if (!s || !*s)
		return -1;
	if (s[0] >= '0' && s[0] <= '5' && s[1] == '\0')
		return s[0] - '0';
	for (int i = 0; i <= LOG_LEVEL_MAX; i++)
		if (!strcasecmp(s, alt[i]) || !strcasecmp(s, level_names[i]))
			return i;
	if (!strcasecmp(s, "critical"))
		return LOG_CRIT;
	if (!strcasecmp(s, "warning"))
		return LOG_WARN;
	return -1;
}

void log_msg(int level, const char *file, int line, const char *fmt, ...)
{
	char buf[1024];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;

	if (level < 0)
		level = 0;
	if (level > LOG_LEVEL_MAX)
		level = LOG_LEVEL_MAX;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	const char *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, ".%06ldZ osnapd[%d] %s %s:%d: ",
			      ts.tv_nsec / 1000, (int)getpid(), level_names[level], base, line);
	if (n < sizeof(buf)) {
		va_start(ap, fmt);
		int m = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
		va_end(ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n >= sizeof(buf) - 1)
		n = sizeof(buf) - 2;
	buf[n++] = '\n';
	ssize_t w = write(atomic_load(&g_fd), buf, n);
	(void)w;
}
