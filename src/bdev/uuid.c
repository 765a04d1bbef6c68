/* UUID helpers (random version 4, RFC 4122 text form). */
#include "bdev.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <sys/random.h>

void uuid_generate_random16(uint8_t out[16])
{
	if (getrandom(out, 16, 0) != 16) {
		/* getrandom on Linux does not fail for 16 bytes once seeded */
		for (int i = 0; i < 16; i++)
			out[i] = (uint8_t)(i * 37 + 11);
	}
	out[6] = (uint8_t)((out[6] & 0x0f) | 0x40);
	out[8] = (uint8_t)((out[8] & 0x3f) | 0x80);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int uuid_parse16(const char *s, uint8_t out[16])
{
	int n = 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return -EINVAL;
			continue;
		}
		int hi = hexval((unsigned char)s[i]);
		if (hi < 0)
			return -EINVAL;
		i++;
		int lo = hexval((unsigned char)s[i]);
		if (lo < 0)
			return -EINVAL;
		out[n++] = (uint8_t)(hi << 4 | lo);
	}
	return s[36] == '\0' ? 0 : -EINVAL;
}

void uuid_format16(const uint8_t u[16], char out[37])
{
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12],
		 u[13], u[14], u[15]);
}
