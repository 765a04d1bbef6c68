/* See jsonrpc_frame.h. */
#include "jsonrpc_frame.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define NO_START ((size_t)-1)

void jsonrpc_framer_init(struct jsonrpc_framer *f, size_t max)
{
	memset(f, 0, sizeof(*f));
	f->start = NO_START;
	f->max = max;
}

void jsonrpc_framer_fini(struct jsonrpc_framer *f)
{
	free(f->buf);
	f->buf = NULL;
	f->len = f->cap = 0;
}

static int reserve(struct jsonrpc_framer *f, size_t extra)
{
	if (f->len + extra <= f->cap)
		return 0;
	size_t cap = f->cap ? f->cap : 4096;
	while (cap < f->len + extra)
		cap *= 2;
	char *nb = realloc(f->buf, cap);
	if (!nb)
		return -ENOMEM;
	f->buf = nb;
	f->cap = cap;
	return 0;
}

/* Drop bytes before `keep` (the start of an unfinished value, or everything). */
static void compact(struct jsonrpc_framer *f, size_t keep)
{
	if (keep == 0)
		return;
	memmove(f->buf, f->buf + keep, f->len - keep);
	f->len -= keep;
	f->scan -= keep;
	if (f->start != NO_START)
		f->start -= keep;
}

int jsonrpc_framer_feed(struct jsonrpc_framer *f, const char *data, size_t len,
			jsonrpc_frame_cb cb, void *arg)
{
	while (len) {
		/* Take at most what could still complete a value within max, so a
		 * flood is refused before it is buffered. */
		size_t take = len;
		size_t room = f->max + 1 - (f->start == NO_START ? 0 : f->len - f->start);
		if (take > room)
			take = room;
		if (reserve(f, take))
			return -ENOMEM;
		memcpy(f->buf + f->len, data, take);
		f->len += take;
		data += take;
		len -= take;

		for (; f->scan < f->len; f->scan++) {
			char c = f->buf[f->scan];
			if (f->start == NO_START) {
				if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
					continue;
				if (c != '{' && c != '[')
					return -EPROTO;
				f->start = f->scan;
				f->depth = 1;
				f->in_str = f->esc = false;
				continue;
			}
			if (f->in_str) {
				if (f->esc)
					f->esc = false;
				else if (c == '\\')
					f->esc = true;
				else if (c == '"')
					f->in_str = false;
				continue;
			}
			if (c == '"') {
				f->in_str = true;
			} else if (c == '{' || c == '[') {
				f->depth++;
			} else if (c == '}' || c == ']') {
				if (--f->depth == 0) {
					size_t s = f->start;
					/* up to max + 1 bytes are buffered to see
					 * the excess: a value closing on byte
					 * max + 1 is still too large */
					if (f->scan + 1 - s > f->max)
						return -E2BIG;
					f->start = NO_START;
					cb(arg, f->buf + s, f->scan + 1 - s);
				}
			}
		}
		if (f->start != NO_START && f->len - f->start > f->max)
			return -E2BIG;
		compact(f, f->start == NO_START ? f->len : f->start);
	}
	return 0;
}
