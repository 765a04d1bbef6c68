/* Clusters registered with bdev_rbd_register_cluster: one librados handle
 * shared by every bdev created with --cluster NAME. Main thread; the
 * connect and the final shutdown run on offload threads.
 *
 * Two counts: users (bdevs using it, and creations in progress) decide
 * whether bdev_rbd_unregister_cluster may remove it; refs keep the struct
 * and its handle alive while an image of a deleted bdev is still being
 * closed on an offload thread. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/modules/rbd/rbd.h"
#include "core/log.h"

static struct rbd_cluster *g_clusters;

static struct rbd_cluster *find_any(const char *name)
{
	for (struct rbd_cluster *c = g_clusters; c; c = c->next)
		if (!strcmp(c->name, name))
			return c;
	return NULL;
}

struct rbd_cluster *rbd_cluster_find(const char *name)
{
	struct rbd_cluster *c = find_any(name);

	return c && c->connected ? c : NULL;
}

static void unlink_cluster(struct rbd_cluster *c)
{
	for (struct rbd_cluster **pp = &g_clusters; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

static void cluster_free(struct rbd_cluster *c)
{
	rbd_conf_free(&c->conf);
	free(c->core_mask);
	free(c->name);
	free(c);
}

static void shutdown_work(void *arg)
{
	struct rbd_cluster *c = arg;

	if (c->rados)
		rados_shutdown(c->rados);
}

static void shutdown_done(void *arg)
{
	cluster_free(arg);
}

void rbd_cluster_use(struct rbd_cluster *c)
{
	c->users++;
	c->refs++;
}

void rbd_cluster_unuse(struct rbd_cluster *c)
{
	c->users--;
}

void rbd_cluster_put(struct rbd_cluster *c)
{
	if (--c->refs > 0)
		return;
	if (rbd_offload(shutdown_work, shutdown_done, c) < 0) {
		/* no thread: shut down here rather than leak the handle */
		shutdown_work(c);
		cluster_free(c);
	}
}

/* --- register --- */

struct register_job {
	struct rbd_cluster *c;
	rbd_done_cb cb;
	void *arg;
	int rc;
	char err[512];
};

static void register_work(void *arg)
{
	struct register_job *j = arg;

	j->rc = rbd_conf_connect(&j->c->conf, true, &j->c->rados, j->err, sizeof(j->err));
}

static void register_done(void *arg)
{
	struct register_job *j = arg;
	struct rbd_cluster *c = j->c;

	if (j->rc == 0) {
		c->connected = true;
		log_info("rbd: cluster %s registered", c->name);
	} else {
		log_err("rbd: cluster %s: %s", c->name, j->err);
		unlink_cluster(c);
		cluster_free(c);
	}
	j->cb(j->arg, j->rc, j->rc == -EINVAL, j->err);
	free(j);
}

int rbd_cluster_register(const char *name, struct rbd_conf *conf, const char *core_mask,
			 rbd_done_cb cb, void *arg, bool *invalid_param, char *err, size_t errlen)
{
	struct register_job *j;
	struct rbd_cluster *c;
	int rc;

	*invalid_param = false;
	if (find_any(name)) {
		snprintf(err, errlen, "a cluster named '%s' is already registered", name);
		return -EEXIST;
	}
	c = calloc(1, sizeof(*c));
	j = calloc(1, sizeof(*j));
	if (!c || !j || rbd_conf_set_str(&c->name, name) ||
	    rbd_conf_set_str(&c->core_mask, core_mask)) {
		if (c)
			cluster_free(c);
		free(j);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	c->conf = *conf;
	c->refs = 1;		/* the registry's */
	j->c = c;
	j->cb = cb;
	j->arg = arg;
	rc = rbd_offload(register_work, register_done, j);
	if (rc < 0) {
		memset(&c->conf, 0, sizeof(c->conf));	/* still the caller's */
		cluster_free(c);
		free(j);
		snprintf(err, errlen, "cannot start a thread to connect: %s", strerror(-rc));
		return rc;
	}
	memset(conf, 0, sizeof(*conf));
	/* listed (not connected) so that a second register of the name fails */
	c->next = g_clusters;
	g_clusters = c;
	return 0;
}

int rbd_cluster_unregister(const char *name, char *err, size_t errlen)
{
	struct rbd_cluster *c = find_any(name);

	if (!c) {
		snprintf(err, errlen, "no cluster named '%s' is registered", name);
		return -ENODEV;
	}
	if (!c->connected) {
		snprintf(err, errlen, "cluster '%s' is still connecting", name);
		return -EBUSY;
	}
	if (c->users) {
		snprintf(err, errlen, "cluster '%s' is used by %d rbd bdev%s", name, c->users,
			 c->users == 1 ? "" : "s");
		return -EBUSY;
	}
	unlink_cluster(c);
	log_info("rbd: cluster %s unregistered", name);
	rbd_cluster_put(c);
	return 0;
}

void rbd_cluster_unregister_all(void)
{
	struct rbd_cluster *c;

	while ((c = g_clusters)) {
		g_clusters = c->next;
		rbd_cluster_put(c);
	}
}

/* --- bdev_rbd_get_clusters_info --- */

static json_t *cluster_json(const struct rbd_cluster *c)
{
	json_t *o = json_pack("{s:s}", "cluster_name", c->name);

	if (!o)
		return NULL;
	if (c->conf.user_id)
		json_object_set_new(o, "user_id", json_string(c->conf.user_id));
	if (c->conf.has_kv)
		json_object_set_new(o, "config_param", rbd_conf_kv_json(&c->conf));
	if (c->conf.config_file)
		json_object_set_new(o, "config_file", json_string(c->conf.config_file));
	if (c->conf.key_file)
		json_object_set_new(o, "key_file", json_string(c->conf.key_file));
	if (c->core_mask)
		json_object_set_new(o, "core_mask", json_string(c->core_mask));
	return o;
}

json_t *rbd_cluster_info(const char *name, int *rc)
{
	json_t *arr;

	*rc = 0;
	if (name) {
		struct rbd_cluster *c = rbd_cluster_find(name);

		if (!c) {
			*rc = -ENOENT;
			return NULL;
		}
		return cluster_json(c);
	}
	arr = json_array();
	/* registration order: the list is newest first */
	for (struct rbd_cluster *c = g_clusters; arr && c; c = c->next)
		if (c->connected)
			json_array_insert_new(arr, 0, cluster_json(c));
	if (arr && json_array_size(arr) == 0) {
		/* SPDK answers -ENOENT when nothing is registered */
		json_decref(arr);
		*rc = -ENOENT;
		return NULL;
	}
	return arr;
}
