/* The RPC history file: one line per request and response, rotated by
 * size, bulk payloads left out (see rpc_internal.h). Main thread. */
#include "rpc_internal.h"
#include "core/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static FILE *g_rpc_log;
static char *g_path;
static uint64_t g_max, g_size;

void rpc_log_close(void)
{
	if (g_rpc_log)
		fclose(g_rpc_log);
	g_rpc_log = NULL;
	free(g_path);
	g_path = NULL;
}

static void open_current(void)
{
	g_rpc_log = fopen(g_path, "a");
	if (!g_rpc_log) {
		log_warn("cannot open RPC log %s: %s; RPC history is not kept", g_path, strerror(errno));
		return;
	}
	long at = ftell(g_rpc_log);
	g_size = at > 0 ? (uint64_t)at : 0;
}

void rpc_log_open(const char *path, uint64_t max_bytes)
{
	rpc_log_close();
	if (!path)
		return;
	g_path = strdup(path);
	g_max = max_bytes;
	if (g_path)
		open_current();
}

/* path.N-1 -> path.N, ..., path -> path.1; the oldest goes */
static void rotate(void)
{
	size_t n = strlen(g_path) + 8;
	char *from = malloc(n), *to = malloc(n);
	fclose(g_rpc_log);
	g_rpc_log = NULL;
	if (from && to) {
		for (int i = RPC_LOG_KEEP; i > 0; i--) {
			if (i > 1)
				snprintf(from, n, "%s.%d", g_path, i - 1);
			else
				snprintf(from, n, "%s", g_path);
			snprintf(to, n, "%s.%d", g_path, i);
			if (rename(from, to) && errno != ENOENT)
				log_warn("RPC log rotation: %s: %s", from, strerror(errno));
		}
	}
	free(from);
	free(to);
	open_current();
}

/* "<N characters>" for a bulk string, NULL for anything else */
static json_t *bulk_note(const json_t *item)
{
	if (!json_is_string(item) || json_string_length(item) <= RPC_LOG_MAX_STRING)
		return NULL;
	char note[64];
	snprintf(note, sizeof(note), "<%zu characters>", json_string_length(item));
	return json_string(note);
}

/* Replace long strings inside v (recursively) by their length. */
static void strip_bulk(json_t *v)
{
	const char *key;
	json_t *item, *note;
	size_t i;
	void *tmp;

	if (json_is_object(v)) {
		json_object_foreach_safe(v, tmp, key, item) {
			if ((note = bulk_note(item)))
				json_object_set_new(v, key, note);
			else
				strip_bulk(item);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item) {
			if ((note = bulk_note(item)))
				json_array_set_new(v, i, note);
			else
				strip_bulk(item);
		}
	}
}

void rpc_log_text(const char *dir, const char *text, size_t len)
{
	if (!g_rpc_log)
		return;
	char ts[32];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	/* a valid JSON text is written with its bulk strings left out; anything
	 * else (a parse error's frame) is cut to RPC_LOG_MAX_STRING * 4 bytes */
	json_t *j = json_loadb(text, len, 0, NULL);
	char *out = NULL;
	if (j) {
		strip_bulk(j);
		out = json_dumps(j, JSON_COMPACT);
		json_decref(j);
	}
	int n;
	if (out)
		n = fprintf(g_rpc_log, "%s %s: %s\n", ts, dir, out);
	else
		n = fprintf(g_rpc_log, "%s %s: %.*s%s\n", ts, dir, (int)(len > RPC_LOG_MAX_STRING * 4 ? RPC_LOG_MAX_STRING * 4 : len),
			    text, len > RPC_LOG_MAX_STRING * 4 ? " <cut>" : "");
	free(out);
	fflush(g_rpc_log);
	if (n > 0)
		g_size += (uint64_t)n;
	if (g_max && g_size >= g_max)
		rotate();
}
