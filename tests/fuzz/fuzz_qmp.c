/* libFuzzer target: what osnap reads from a VMM's QMP socket (the line
 * splitter and the message parser of core/qmp_parse.c). The input is the
 * byte stream, fed in two pieces split at its first byte's value so that
 * lines cross reads. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/qmp_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int on_line(void *arg, const char *line, size_t len)
{
	struct qmp_msg m;
	char err[200];
	(void)arg;
	if (len == 0 || len > QMP_MAX_LINE || memchr(line, '\n', len))
		abort();	/* the splitter hands whole, bounded lines */
	if (qmp_parse_line(line, len, &m, err, sizeof(err)) == 0) {
		/* every string is terminated inside its buffer */
		if ((unsigned)m.kind > QMP_MSG_EVENT || !memchr(m.error_class, 0, sizeof(m.error_class)) ||
		    !memchr(m.desc, 0, sizeof(m.desc)) || !memchr(m.event, 0, sizeof(m.event)) ||
		    !memchr(m.device, 0, sizeof(m.device)))
			abort();
	} else if (!memchr(err, 0, sizeof(err))) {
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct qmp_linebuf lb;
	memset(&lb, 0, sizeof(lb));
	size_t cut = size ? data[0] % (size + 1) : 0;
	qmp_linebuf_feed(&lb, (const char *)data, cut, on_line, NULL);
	qmp_linebuf_feed(&lb, (const char *)data + cut, size - cut, on_line, NULL);
	return 0;
}
