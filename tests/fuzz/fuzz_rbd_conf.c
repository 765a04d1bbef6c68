/* libFuzzer target: the rbd module's librados configuration pairs
 * (rbd_conf_kv_from_json: bdev_rbd_create's "config" and
 * bdev_rbd_register_cluster's "config_param").
 *
 * The input is JSON text. Whatever it is, the parser either refuses it with
 * -EINVAL and a message naming the parameter, or keeps exactly the pairs it
 * was given: the object rebuilt from them (rbd_conf_kv_json) equals the
 * input object. Nothing connects: rbd_conf_connect is not called. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "bdev/modules/rbd/rbd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rbd_conf c;
	json_error_t jerr;
	json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY, &jerr);
	char err[256] = "";
	int rc;

	if (!in)
		return 0;
	memset(&c, 0, sizeof(c));
	rc = rbd_conf_kv_from_json(&c, "config", in, err, sizeof(err));
	if (rc == -EINVAL) {
		if (!strstr(err, "'config'"))
			abort();	/* the message names the parameter */
	} else if (rc == 0) {
		if (json_is_null(in)) {
			if (c.has_kv || c.nkv)
				abort();
		} else {
			json_t *out = rbd_conf_kv_json(&c);

			if (!c.has_kv || c.nkv != json_object_size(in) || !json_equal(in, out))
				abort();	/* pairs lost or changed */
			json_decref(out);
		}
	} else if (rc != -ENOMEM) {
		abort();
	}
	rbd_conf_free(&c);
	json_decref(in);
	return 0;
}
