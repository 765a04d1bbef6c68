/* librados configuration of an rbd bdev or a registered cluster: the
 * key/value pairs of the RPCs, and connecting a handle from them (blocking,
 * run on offload threads only). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/modules/rbd/rbd.h"

/* osnap's bounds on the waits of a connect and of monitor operations when
 * the configuration leaves Ceph's defaults (300 s and unbounded): a cluster
 * that cannot be reached fails bdev_rbd_create / register_cluster in about
 * this long instead of holding the RPC for five minutes or for ever. */
#define RBD_CONNECT_TIMEOUT_S	"30"
#define RBD_MON_OP_TIMEOUT_S	"30"

int rbd_conf_set_str(char **dst, const char *src)
{
	*dst = NULL;
	if (!src)
		return 0;
	*dst = strdup(src);
	return *dst ? 0 : -ENOMEM;
}

int rbd_conf_kv_from_json(struct rbd_conf *c, const char *key, json_t *obj, char *err,
			  size_t errlen)
{
	const char *k;
	json_t *v;
	size_t i = 0;

	if (!obj || json_is_null(obj))
		return 0;
	if (!json_is_object(obj)) {
		snprintf(err, errlen, "invalid parameter '%s': not an object of \"key\": \"value\" "
			 "strings", key);
		return -EINVAL;
	}
	json_object_foreach(obj, k, v) {
		if (!json_is_string(v)) {
			snprintf(err, errlen, "invalid parameter '%s': the value of '%s' is not a string",
				 key, k);
			return -EINVAL;
		}
		if (!*k) {
			snprintf(err, errlen, "invalid parameter '%s': empty option name", key);
			return -EINVAL;
		}
	}
	c->has_kv = true;
	c->nkv = json_object_size(obj);
	c->kv = calloc(c->nkv ? c->nkv : 1, sizeof(*c->kv));
	if (!c->kv)
		return -ENOMEM;
	json_object_foreach(obj, k, v) {
		c->kv[i].key = strdup(k);
		c->kv[i].value = strdup(json_string_value(v));
		if (!c->kv[i].key || !c->kv[i].value)
			return -ENOMEM;	/* the caller frees c */
		i++;
	}
	return 0;
}

void rbd_conf_free(struct rbd_conf *c)
{
	for (size_t i = 0; c->kv && i < c->nkv; i++) {
		free(c->kv[i].key);
		free(c->kv[i].value);
	}
	free(c->kv);
	free(c->user_id);
	free(c->config_file);
	free(c->key_file);
	memset(c, 0, sizeof(*c));
}

json_t *rbd_conf_kv_json(const struct rbd_conf *c)
{
	json_t *o = json_object();

	for (size_t i = 0; o && i < c->nkv; i++)
		json_object_set_new(o, c->kv[i].key, json_string(c->kv[i].value));
	return o;
}

static bool kv_has(const struct rbd_conf *c, const char *key)
{
	for (size_t i = 0; i < c->nkv; i++)
		if (!strcmp(c->kv[i].key, key))
			return true;
	return false;
}

/* Set key to bound unless the caller chose a value (a pair, or the config
 * file changed Ceph's default ceph_default). */
static void bound_timeout(rados_t r, const struct rbd_conf *c, const char *key,
			  const char *ceph_default, const char *bound)
{
	char cur[64];

	if (kv_has(c, key))
		return;
	if (rados_conf_get(r, key, cur, sizeof(cur)) == 0 && strcmp(cur, ceph_default))
		return;
	rados_conf_set(r, key, bound);
}

int rbd_conf_connect(const struct rbd_conf *c, bool is_register, rados_t *out, char *err,
		     size_t errlen)
{
	rados_t r;
	int rc;

	*out = NULL;
	rc = rados_create(&r, c->user_id);
	if (rc < 0) {
		snprintf(err, errlen, "cannot create a librados handle for user '%s': %s",
			 c->user_id ? c->user_id : "admin", strerror(-rc));
		return rc;
	}
	if (c->config_file) {
		rc = rados_conf_read_file(r, c->config_file);
		if (rc < 0) {
			snprintf(err, errlen, "cannot read the Ceph configuration file %s: %s",
				 c->config_file, strerror(-rc));
			goto fail;
		}
	} else if (is_register || !c->has_kv) {
		/* librados' search path ($CEPH_CONF, /etc/ceph/ceph.conf, ...) */
		rc = rados_conf_read_file(r, NULL);
		if (rc < 0 && !is_register) {
			snprintf(err, errlen, "no 'config' given and no Ceph configuration file found "
				 "($CEPH_CONF or /etc/ceph/ceph.conf): %s", strerror(-rc));
			goto fail;
		}
	}
	for (size_t i = 0; i < c->nkv; i++) {
		rc = rados_conf_set(r, c->kv[i].key, c->kv[i].value);
		if (rc < 0) {
			snprintf(err, errlen, "librados refuses option %s = %s: %s", c->kv[i].key,
				 c->kv[i].value, rc == -ENOENT ? "unknown option" : strerror(-rc));
			rc = -EINVAL;
			goto fail;
		}
	}
	if (c->key_file) {
		rc = rados_conf_set(r, "keyring", c->key_file);
		if (rc < 0) {
			snprintf(err, errlen, "librados refuses keyring %s: %s", c->key_file,
				 strerror(-rc));
			goto fail;
		}
	}
	bound_timeout(r, c, "client_mount_timeout", "300", RBD_CONNECT_TIMEOUT_S);
	bound_timeout(r, c, "rados_mon_op_timeout", "0", RBD_MON_OP_TIMEOUT_S);
	rc = rados_connect(r);
	if (rc < 0) {
		char mon[256] = "?", tmo[32] = "?";

		rados_conf_get(r, "mon_host", mon, sizeof(mon));
		rados_conf_get(r, "client_mount_timeout", tmo, sizeof(tmo));
		snprintf(err, errlen, "cannot connect to the Ceph cluster (mon_host %s, "
			 "client_mount_timeout %s s): %s", mon[0] ? mon : "unset", tmo,
			 strerror(-rc));
		goto fail;
	}
	*out = r;
	return 0;
fail:
	rados_shutdown(r);
	return rc;
}
