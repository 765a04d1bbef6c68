#include "cpumask.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>

static int parse_list(const char *s, uint64_t *mask)
{
	uint64_t m = 0;
	s++;	/* '[' */
	while (*s && *s != ']') {
		char *end;
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		unsigned long a = strtoul(s, &end, 10), b = a;
		s = end;
		if (*s == '-') {
			s++;
			if (!isdigit((unsigned char)*s))
				return -EINVAL;
			b = strtoul(s, &end, 10);
			s = end;
		}
		if (a > b || b >= 64)
			return -EINVAL;
		for (unsigned long i = a; i <= b; i++)
			m |= 1ull << i;
		if (*s == ',')
			s++;
		else if (*s != ']')
			return -EINVAL;
	}
	if (*s != ']' || s[1] || !m)
		return -EINVAL;
	*mask = m;
	return 0;
}

int cpumask_parse(const char *s, uint64_t *mask)
{
	char *end;
	if (!s || !*s)
		return -EINVAL;
	if (*s == '[')
		return parse_list(s, mask);
	errno = 0;
	unsigned long long v = strtoull(s, &end, 16);
	if (errno || *end || !v || (s[0] == '-'))
		return -EINVAL;
	*mask = v;
	return 0;
}
