/* osnap logging: SNAP's levels, to stderr (or SNAP_LOG_FILE) with timestamps.
 *
 * Thread-safe: each call formats one whole line and writes it with a single
 * write(2), so lines from reactors and the main thread never interleave. */
#ifndef OSNAP_LOG_H
#define OSNAP_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_CRIT = 0,
	LOG_ERR = 1,
	LOG_WARN = 2,
	LOG_INFO = 3,
	LOG_DEBUG = 4,
	LOG_TRACE = 5,
};
#define LOG_LEVEL_MAX LOG_TRACE

/* Set/get the current level (0..5). Messages above it are dropped. */
void log_set_level(int level);
int log_get_level(void);

/* Send log lines to fd instead of stderr (the caller keeps ownership of fd). */
void log_set_fd(int fd);

/* Parse "0".."5" or a name ("crit", "error", "warn", "info", "debug",
 * "trace"); returns the level or -1. */
int log_parse_level(const char *s);

void log_msg(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define LOG(lvl, ...) do { \
	if ((lvl) <= log_get_level()) \
		log_msg((lvl), __FILE__, __LINE__, __VA_ARGS__); \
} while (0)
#define log_crit(...)  LOG(LOG_CRIT, __VA_ARGS__)
#define log_err(...)   LOG(LOG_ERR, __VA_ARGS__)
#define log_warn(...)  LOG(LOG_WARN, __VA_ARGS__)
#define log_info(...)  LOG(LOG_INFO, __VA_ARGS__)
#define log_debug(...) LOG(LOG_DEBUG, __VA_ARGS__)
#define log_trace(...) LOG(LOG_TRACE, __VA_ARGS__)

#endif
