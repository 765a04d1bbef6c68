#include "base64.h"

#include <errno.h>
#include <string.h>

static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_size(size_t n)
{
	return (n + 2) / 3 * 4 + 1;
}

void base64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i = 0;
	for (; i + 2 < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*out++ = tbl[v >> 18];
		*out++ = tbl[(v >> 12) & 63];
		*out++ = tbl[(v >> 6) & 63];
		*out++ = tbl[v & 63];
	}
	if (i < n) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
		*out++ = tbl[v >> 18];
		*out++ = tbl[(v >> 12) & 63];
		*out++ = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
		*out++ = '=';
	}
	*out = '\0';
}

static int val(char c)
{
	const char *p = c ? strchr(tbl, c) : NULL;
	return p ? (int)(p - tbl) : -1;
}

long base64_decode(const char *in, uint8_t *out, size_t cap)
{
	size_t len = strlen(in), n = 0;
	if (len % 4)
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		int a = val(in[i]), b = val(in[i + 1]);
		int pad = (in[i + 2] == '=') + (in[i + 3] == '=');
		if (a < 0 || b < 0 || (pad && i + 4 != len) || (in[i + 2] == '=' && in[i + 3] != '='))
			return -EINVAL;
		int c = pad >= 2 ? 0 : val(in[i + 2]);
		int d = pad >= 1 ? 0 : val(in[i + 3]);
		if (c < 0 || d < 0)
			return -EINVAL;
		uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
		size_t k = 3 - (size_t)pad;
		if (n + k > cap)
			return -EINVAL;
		out[n++] = (uint8_t)(v >> 16);
		if (k > 1)
			out[n++] = (uint8_t)(v >> 8);
		if (k > 2)
			out[n++] = (uint8_t)v;
	}
	return (long)n;
}
