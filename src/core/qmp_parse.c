/* QMP messages from QEMU's monitor: see qmp_parse.h. */
#include "qmp_parse.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

static int fail(char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s", what);
	return -EINVAL;
}

static void copy_str(char *dst, size_t cap, json_t *v)
{
	snprintf(dst, cap, "%s", json_is_string(v) ? json_string_value(v) : "");
}

int qmp_parse_line(const char *line, size_t len, struct qmp_msg *m, char *err, size_t errlen)
{
	json_error_t je;
	memset(m, 0, sizeof(*m));
	m->id = -1;
	if (len && line[len - 1] == '\r')
		len--;
	json_t *o = json_loadb(line, len, JSON_REJECT_DUPLICATES, &je);
	if (!o) {
		snprintf(err, errlen, "not JSON: %s", je.text);
		return -EINVAL;
	}
	int rc = 0;
	json_t *id = json_object_get(o, "id");
	if (!json_is_object(o)) {
		rc = fail(err, errlen, "not a JSON object");
	} else if (id && !json_is_integer(id)) {
		rc = fail(err, errlen, "\"id\" is not a number (osnap sends numbers)");
	} else if (json_object_get(o, "QMP")) {
		m->kind = QMP_MSG_GREETING;
	} else if (json_object_get(o, "return")) {
		m->kind = QMP_MSG_RETURN;
	} else if (json_object_get(o, "error")) {
		json_t *e = json_object_get(o, "error");
		json_t *cls = json_object_get(e, "class"), *desc = json_object_get(e, "desc");
		if (!json_is_object(e) || !json_is_string(cls)) {
			rc = fail(err, errlen, "\"error\" without a \"class\" string");
		} else {
			m->kind = QMP_MSG_ERROR;
			copy_str(m->error_class, sizeof(m->error_class), cls);
			copy_str(m->desc, sizeof(m->desc), desc);
		}
	} else if (json_object_get(o, "event")) {
		json_t *ev = json_object_get(o, "event");
		if (!json_is_string(ev)) {
			rc = fail(err, errlen, "\"event\" is not a string");
		} else {
			m->kind = QMP_MSG_EVENT;
			copy_str(m->event, sizeof(m->event), ev);
			copy_str(m->device, sizeof(m->device), json_object_get(json_object_get(o, "data"), "device"));
		}
	} else {
		rc = fail(err, errlen, "neither a greeting, an answer nor an event");
	}
	if (!rc && id)
		m->id = (long long)json_integer_value(id);
	json_decref(o);
	return rc;
}

int qmp_linebuf_feed(struct qmp_linebuf *lb, const char *data, size_t n,
		     int (*cb)(void *arg, const char *line, size_t len), void *arg)
{
	for (size_t i = 0; i < n; i++) {
		char c = data[i];
		if (c == '\n') {
			bool skipped = lb->skipping;
			size_t len = lb->len;
			lb->skipping = false;
			lb->len = 0;
			if (skipped || len == 0 || (len == 1 && lb->buf[0] == '\r'))
				continue;
			int rc = cb(arg, lb->buf, len);
			if (rc)
				return rc;
			continue;
		}
		if (lb->skipping)
			continue;
		if (lb->len == sizeof(lb->buf)) {
			lb->skipping = true;	/* too long: dropped up to its line end */
			lb->len = 0;
			continue;
		}
		lb->buf[lb->len++] = c;
	}
	return 0;
}
