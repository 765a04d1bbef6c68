/* The QMP wire format as osnap reads it from a VMM (core/qmp_parse.c):
 * each kind of message, the line ends QEMU sends, lines split across reads,
 * over-long lines dropped whole, and what is not QMP refused. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/qmp_parse.h"

static int parse(const char *line, struct qmp_msg *m)
{
	char err[200];
	return qmp_parse_line(line, strlen(line), m, err, sizeof(err));
}

static void test_kinds(void **state)
{
	struct qmp_msg m;
	(void)state;
	assert_int_equal(parse("{\"QMP\": {\"version\": {}, \"capabilities\": [\"oob\"]}}\r", &m), 0);
	assert_int_equal(m.kind, QMP_MSG_GREETING);
	assert_int_equal(m.id, -1);
	assert_int_equal(parse("{\"return\": {}, \"id\": 7}", &m), 0);
	assert_int_equal(m.kind, QMP_MSG_RETURN);
	assert_int_equal(m.id, 7);
	assert_int_equal(parse("{\"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'x' not found\"}, "
			       "\"id\": 3}", &m), 0);
	assert_int_equal(m.kind, QMP_MSG_ERROR);
	assert_int_equal(m.id, 3);
	assert_string_equal(m.error_class, "DeviceNotFound");
	assert_string_equal(m.desc, "Device 'x' not found");
	assert_int_equal(parse("{\"timestamp\": {\"seconds\": 1}, \"event\": \"DEVICE_DELETED\", "
			       "\"data\": {\"device\": \"V1\", \"path\": \"/machine/peripheral/V1\"}}", &m), 0);
	assert_int_equal(m.kind, QMP_MSG_EVENT);
	assert_string_equal(m.event, "DEVICE_DELETED");
	assert_string_equal(m.device, "V1");
	/* the virtio backend's own event names no device */
	assert_int_equal(parse("{\"event\": \"DEVICE_DELETED\", \"data\": {\"path\": \"/x/virtio-backend\"}}", &m), 0);
	assert_string_equal(m.device, "");
}

static void test_refused(void **state)
{
	struct qmp_msg m;
	(void)state;
	assert_int_equal(parse("not json", &m), -EINVAL);
	assert_int_equal(parse("[1, 2]", &m), -EINVAL);
	assert_int_equal(parse("{\"hello\": 1}", &m), -EINVAL);
	assert_int_equal(parse("{\"return\": {}, \"id\": \"x\"}", &m), -EINVAL);
	assert_int_equal(parse("{\"error\": \"bad\"}", &m), -EINVAL);
	assert_int_equal(parse("{\"event\": 5}", &m), -EINVAL);
	assert_int_equal(parse("{\"return\": {}, \"return\": {}}", &m), -EINVAL);
}

struct lines {
	int n;
	char got[8][64];
};

static int collect(void *arg, const char *line, size_t len)
{
	struct lines *l = arg;
	assert_true(l->n < 8);
	assert_true(len < sizeof(l->got[0]));
	memcpy(l->got[l->n], line, len);
	l->got[l->n][len] = '\0';
	l->n++;
	return 0;
}

static void test_lines(void **state)
{
	static struct qmp_linebuf lb;
	struct lines l = { 0 };
	(void)state;
	const char *stream = "{\"a\":1}\r\n\r\n{\"b\":2}\n{\"c\"";
	/* byte by byte: lines cross reads */
	for (size_t i = 0; i < strlen(stream); i++)
		assert_int_equal(qmp_linebuf_feed(&lb, stream + i, 1, collect, &l), 0);
	assert_int_equal(l.n, 2);
	assert_string_equal(l.got[0], "{\"a\":1}\r");	/* the parser drops the \r */
	assert_string_equal(l.got[1], "{\"b\":2}");
	assert_int_equal(qmp_linebuf_feed(&lb, ":3}\n", 4, collect, &l), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(l.got[2], "{\"c\":3}");
}

static void test_long_line_dropped(void **state)
{
	static struct qmp_linebuf lb;
	struct lines l = { 0 };
	(void)state;
	size_t n = QMP_MAX_LINE + 100;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 'x', n);
	assert_int_equal(qmp_linebuf_feed(&lb, big, n, collect, &l), 0);
	assert_int_equal(qmp_linebuf_feed(&lb, "\n{\"d\":4}\n", 9, collect, &l), 0);
	assert_int_equal(l.n, 1);	/* the long line went whole; the next is intact */
	assert_string_equal(l.got[0], "{\"d\":4}");
	free(big);
}

static int stop_at_first(void *arg, const char *line, size_t len)
{
	(void)line;
	(void)len;
	++*(int *)arg;
	return 1;
}

static void test_callback_stops(void **state)
{
	static struct qmp_linebuf lb;
	int calls = 0;
	(void)state;
	assert_int_equal(qmp_linebuf_feed(&lb, "a\nb\n", 4, stop_at_first, &calls), 1);
	assert_int_equal(calls, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_long_line_dropped),
		cmocka_unit_test(test_callback_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
