/* The data pattern of the C drivers of tests/system (see pattern.h). */
#include "pattern.h"

#include <stdlib.h>
#include <string.h>

void pattern_block(uint8_t *p, uint64_t b, uint32_t bs, uint32_t seed)
{
	for (uint32_t i = 0; i < bs; i++)
		p[i] = (uint8_t)(b * 31 + i * 7 + seed * 13);
	memcpy(p, &b, 8);
	memcpy(p + 8, &seed, 4);
	uint32_t nb = ~(uint32_t)b;
	memcpy(p + 12, &nb, 4);
}

void pattern_fill(void *buf, uint64_t first, uint32_t n, uint32_t bs, uint32_t seed)
{
	for (uint32_t k = 0; k < n; k++)
		pattern_block((uint8_t *)buf + (size_t)k * bs, first + k, bs, seed);
}

long pattern_check(const void *buf, uint64_t first, uint32_t n, uint32_t bs, uint32_t seed)
{
	uint8_t *exp = malloc(bs);
	long bad = -1;
	if (!exp)
		return 0;	/* cannot check: call it bad at once */
	for (uint32_t k = 0; k < n && bad < 0; k++) {
		pattern_block(exp, first + k, bs, seed);
		if (memcmp((const uint8_t *)buf + (size_t)k * bs, exp, bs))
			bad = k;
	}
	free(exp);
	return bad;
}

bool all_byte(const void *buf, size_t len, uint8_t v)
{
	const uint8_t *p = buf;
	for (size_t i = 0; i < len; i++)
		if (p[i] != v)
			return false;
	return true;
}
