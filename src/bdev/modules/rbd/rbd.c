/* The "rbd" bdev module (SPDK's bdev_rbd): a Ceph RBD image as a bdev.
 *
 * bdev_rbd_create opens the image on an offload thread (connect when the
 * bdev has a librados handle of its own, ioctx, rbd_open, size, a watch on
 * the image header) and registers the bdev on the main thread when that is
 * done. Delete closes the image on an offload thread. Resize (ours through
 * bdev_rbd_resize, or anyone's: the watch fires) reads the new size off the
 * main thread and grows the bdev; a bdev never shrinks under its users.
 * The data path is rbd_io.c. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/modules/file_bdev.h"
#include "bdev/modules/modules.h"
#include "bdev/modules/rbd/rbd.h"
#include "core/log.h"
#include "core/thread.h"

struct rbd_bdev {
	struct bdev *bdev;		/* while registered */
	uint64_t id;			/* names it in watch messages */
	char *pool_name;
	char *rbd_name;			/* as given: IMAGE or IMAGE@SNAP */
	char *image_name;		/* IMAGE */
	char *snap_name;		/* SNAP, or NULL */
	bool read_only;			/* asked for, or a snapshot */
	struct rbd_conf conf;		/* own handle's configuration */
	struct rbd_cluster *cluster;	/* or NULL: own_rados */
	rados_t own_rados;
	rados_ioctx_t ioctx;
	rbd_image_t image;
	uint64_t watch_handle;
	bool watching;
	uint64_t size;			/* bytes, at open */
	/* size refresh after a watch notification (main thread) */
	bool refreshing, refresh_again;
	/* resize and refresh jobs running on offload threads (main thread):
	 * the image stays open until the last one is done, even when the bdev
	 * is freed meanwhile (at exit: bdev_unregister_all) */
	int jobs;
	bool close_pending;
	int refresh_rc;
	uint64_t refresh_size;
};

static const struct bdev_module_ops rbd_ops;
static bool g_stopping;		/* bdev_rbd_fini runs: no new bdevs */
static uint64_t g_next_id = 1;
static unsigned g_ceph_count;	/* SPDK's default names: Ceph0, Ceph1, ... */

static void rbd_free(struct rbd_bdev *r)
{
	rbd_conf_free(&r->conf);
	free(r->pool_name);
	free(r->rbd_name);
	free(r->image_name);
	free(r->snap_name);
	free(r);
}

/* --- closing (offload thread, then main) --- */

static void close_work(void *arg)
{
	struct rbd_bdev *r = arg;

	if (r->watching)
		rbd_update_unwatch(r->image, r->watch_handle);
	if (r->image)
		rbd_close(r->image);
	if (r->ioctx)
		rados_ioctx_destroy(r->ioctx);
	if (r->own_rados)
		rados_shutdown(r->own_rados);
}

static void close_done(void *arg)
{
	struct rbd_bdev *r = arg;

	if (r->cluster)
		rbd_cluster_put(r->cluster);
	rbd_free(r);
}

/* Close r's image and handles without holding the main thread; r is freed. */
static void rbd_close_async(struct rbd_bdev *r)
{
	if (rbd_offload(close_work, close_done, r) < 0) {
		log_warn("rbd %s/%s: no thread to close it on; closing on the main thread",
			 r->pool_name, r->rbd_name);
		close_work(r);
		close_done(r);
	}
}

/* --- jobs on an open image (resize, refresh) --- */

/* Main thread. The bdev stays open (not deletable) while the job runs. */
static void job_begin(struct rbd_bdev *r)
{
	r->jobs++;
	bdev_open(r->bdev);
}

/* Main thread, when the job is done: r->bdev is NULL when the bdev was
 * freed meanwhile, and the image is closed now if that was the last job. */
static void job_end(struct rbd_bdev *r)
{
	if (r->bdev)
		bdev_close(r->bdev);
	if (--r->jobs == 0 && r->close_pending)
		rbd_close_async(r);
}

/* --- size changes --- */

static struct rbd_bdev *rbd_by_id(uint64_t id)
{
	for (struct bdev *b = bdev_first(); b; b = bdev_next(b))
		if (b->ops == &rbd_ops && ((struct rbd_bdev *)b->ctx)->id == id)
			return b->ctx;
	return NULL;
}

static void apply_size(struct rbd_bdev *r, uint64_t bytes)
{
	struct bdev *b = r->bdev;
	uint64_t n = bytes / b->block_size;

	if (n > b->num_blocks) {
		log_info("bdev %s: image %s/%s grew to %" PRIu64 " bytes: %" PRIu64 " blocks",
			 b->name, r->pool_name, r->rbd_name, bytes, n);
		bdev_set_num_blocks(b, n);
	} else if (n < b->num_blocks) {
		log_warn("bdev %s: image %s/%s shrank to %" PRIu64 " bytes; the bdev keeps its %"
			 PRIu64 " blocks (I/O past the end fails)", b->name, r->pool_name,
			 r->rbd_name, bytes, b->num_blocks);
	}
}

static void refresh_start(struct rbd_bdev *r);

static void refresh_work(void *arg)
{
	struct rbd_bdev *r = arg;

	r->refresh_rc = rbd_get_size(r->image, &r->refresh_size);
}

static void refresh_done(void *arg)
{
	struct rbd_bdev *r = arg;

	r->refreshing = false;
	if (r->bdev && r->refresh_rc < 0)
		log_err("bdev %s: cannot read the size of %s/%s: %s", r->bdev->name, r->pool_name,
			r->rbd_name, strerror(-r->refresh_rc));
	else if (r->bdev)
		apply_size(r, r->refresh_size);
	if (r->bdev && r->refresh_again) {
		r->refresh_again = false;
		refresh_start(r);
	}
	job_end(r);
}

/* Main thread. The bdev stays open (not deletable) while it runs. */
static void refresh_start(struct rbd_bdev *r)
{
	if (r->refreshing) {
		r->refresh_again = true;
		return;
	}
	r->refreshing = true;
	job_begin(r);
	if (rbd_offload(refresh_work, refresh_done, r) < 0) {
		r->refreshing = false;
		log_err("bdev %s: no thread to read the new image size on", r->bdev->name);
		job_end(r);
	}
}

static void watch_msg(void *arg)
{
	struct rbd_bdev *r = rbd_by_id((uint64_t)(uintptr_t)arg);

	if (r)	/* else deleted meanwhile */
		refresh_start(r);
}

/* On a librbd thread: the image header changed (resize, snapshot, ...).
 * The id, not r, travels: the bdev may be gone when the message runs. */
static void watch_cb(void *arg)
{
	thread_send_msg(thread_main(), watch_msg, arg);
}

/* --- module ops --- */

static void *rbd_channel_create(struct bdev *bdev)
{
	struct rbd_bdev *r = bdev->ctx;

	return rbd_io_channel_create(r->image, bdev->name);
}

static void rbd_channel_destroy(struct bdev *bdev, void *chctx)
{
	(void)bdev;
	rbd_io_channel_destroy(chctx);
}

static void rbd_submit(struct bdev *bdev, void *chctx, struct bdev_io *io)
{
	rbd_io_submit(chctx, io, bdev->block_size);
}

/* No COMPARE; nothing that writes on a read-only image or a snapshot. */
static bool rbd_io_type_supported(struct bdev *bdev, enum bdev_io_type type)
{
	const struct rbd_bdev *r = bdev->ctx;

	if (type == BDEV_IO_READ || type == BDEV_IO_FLUSH)
		return true;
	if (type == BDEV_IO_WRITE || type == BDEV_IO_UNMAP || type == BDEV_IO_WRITE_ZEROES)
		return !r->read_only;
	return false;
}

static void rbd_destruct(struct bdev *bdev)
{
	struct rbd_bdev *r = bdev->ctx;

	log_info("bdev %s: closing %s/%s", bdev->name, r->pool_name, r->rbd_name);
	r->bdev = NULL;
	if (r->cluster)
		rbd_cluster_unuse(r->cluster);
	if (r->jobs)
		r->close_pending = true;	/* job_end closes it */
	else
		rbd_close_async(r);
}

static bool config_has_cluster(json_t *config_array, const char *name)
{
	size_t i;
	json_t *e;

	json_array_foreach(config_array, i, e) {
		const char *m = json_string_value(json_object_get(e, "method"));
		const char *n = json_string_value(json_object_get(json_object_get(e, "params"),
								  "name"));

		if (m && n && !strcmp(m, "bdev_rbd_register_cluster") && !strcmp(n, name))
			return true;
	}
	return false;
}

/* The cluster's register call goes before its first bdev. */
static void write_cluster_config(const struct rbd_cluster *c, json_t *config_array)
{
	json_t *p;

	if (config_has_cluster(config_array, c->name))
		return;
	p = json_pack("{s:s}", "name", c->name);
	if (!p)
		return;
	if (c->conf.user_id)
		json_object_set_new(p, "user_id", json_string(c->conf.user_id));
	if (c->conf.has_kv)
		json_object_set_new(p, "config_param", rbd_conf_kv_json(&c->conf));
	if (c->conf.config_file)
		json_object_set_new(p, "config_file", json_string(c->conf.config_file));
	if (c->conf.key_file)
		json_object_set_new(p, "key_file", json_string(c->conf.key_file));
	if (c->core_mask)
		json_object_set_new(p, "core_mask", json_string(c->core_mask));
	json_array_append_new(config_array, json_pack("{s:s, s:o}", "method",
						      "bdev_rbd_register_cluster", "params", p));
}

static void rbd_write_config(struct bdev *bdev, json_t *config_array)
{
	struct rbd_bdev *r = bdev->ctx;
	char uuid[37];
	json_t *p;

	uuid_format16(bdev->uuid, uuid);
	p = json_pack("{s:s, s:s, s:s, s:I, s:s}", "name", bdev->name, "pool_name", r->pool_name,
		      "rbd_name", r->rbd_name, "block_size", (json_int_t)bdev->block_size,
		      "uuid", uuid);
	if (!p)
		return;
	if (r->cluster) {
		write_cluster_config(r->cluster, config_array);
		json_object_set_new(p, "cluster_name", json_string(r->cluster->name));
	}
	if (r->conf.user_id)
		json_object_set_new(p, "user_id", json_string(r->conf.user_id));
	if (r->conf.has_kv)
		json_object_set_new(p, "config", rbd_conf_kv_json(&r->conf));
	if (r->read_only)
		json_object_set_new(p, "read_only", json_true());
	json_array_append_new(config_array, json_pack("{s:s, s:o}", "method", "bdev_rbd_create",
						      "params", p));
}

static json_t *rbd_driver_specific(struct bdev *bdev)
{
	struct rbd_bdev *r = bdev->ctx;
	json_t *o = json_pack("{s:s, s:s, s:b}", "pool_name", r->pool_name, "rbd_name",
			      r->rbd_name, "read_only", r->read_only);

	if (!o)
		return NULL;
	if (r->cluster)
		json_object_set_new(o, "cluster_name", json_string(r->cluster->name));
	if (r->conf.user_id)
		json_object_set_new(o, "user_id", json_string(r->conf.user_id));
	if (r->conf.has_kv)
		json_object_set_new(o, "config", rbd_conf_kv_json(&r->conf));
	return json_pack("{s:o}", "rbd", o);
}

static const struct bdev_module_ops rbd_ops = {
	.module_name = "rbd",
	.product_name = "Ceph Rbd Disk",
	.io_ctx_size = 64,	/* checked against rbd_io_ctx_size() at create */
	.channel_create = rbd_channel_create,
	.channel_destroy = rbd_channel_destroy,
	.submit = rbd_submit,
	.io_type_supported = rbd_io_type_supported,
	.destruct = rbd_destruct,
	.write_config = rbd_write_config,
	.driver_specific = rbd_driver_specific,
};

/* --- create --- */

struct create_job {
	struct rbd_bdev *r;
	char name[BDEV_NAME_MAX];
	uint8_t uuid[16];
	uint32_t block_size;
	rbd_create_cb cb;
	void *arg;
	int rc;
	bool invalid_param;
	char err[512];
	struct create_job *next;	/* g_creating */
};

static struct create_job *g_creating;	/* names being created */

static bool name_being_created(const char *name)
{
	for (struct create_job *j = g_creating; j; j = j->next)
		if (!strcmp(j->name, name))
			return true;
	return false;
}

static void open_work(void *arg)
{
	struct create_job *j = arg;
	struct rbd_bdev *r = j->r;
	rados_t rados;
	int rc;

	if (r->cluster) {
		rados = r->cluster->rados;
	} else {
		rc = rbd_conf_connect(&r->conf, false, &r->own_rados, j->err, sizeof(j->err));
		if (rc < 0) {
			j->rc = rc;
			j->invalid_param = rc == -EINVAL;
			return;
		}
		rados = r->own_rados;
	}
	rc = rados_ioctx_create(rados, r->pool_name, &r->ioctx);
	if (rc < 0) {
		r->ioctx = NULL;
		snprintf(j->err, sizeof(j->err), rc == -ENOENT ? "no pool named '%s' in the cluster" :
			 "cannot open pool '%s': %s", r->pool_name, strerror(-rc));
		goto fail;
	}
	if (r->snap_name)	/* a snapshot: read-only by nature */
		rc = rbd_open_read_only(r->ioctx, r->image_name, &r->image, r->snap_name);
	else if (r->read_only)
		rc = rbd_open_read_only(r->ioctx, r->image_name, &r->image, NULL);
	else
		rc = rbd_open(r->ioctx, r->image_name, &r->image, NULL);
	if (rc < 0) {
		r->image = NULL;
		if (rc == -ENOENT && r->snap_name)
			snprintf(j->err, sizeof(j->err), "no image '%s' with a snapshot '%s' in pool '%s'",
				 r->image_name, r->snap_name, r->pool_name);
		else if (rc == -ENOENT)
			snprintf(j->err, sizeof(j->err), "no image named '%s' in pool '%s'",
				 r->rbd_name, r->pool_name);
		else
			snprintf(j->err, sizeof(j->err), "cannot open image %s/%s: %s", r->pool_name,
				 r->rbd_name, strerror(-rc));
		goto fail;
	}
	rc = rbd_get_size(r->image, &r->size);
	if (rc < 0) {
		snprintf(j->err, sizeof(j->err), "cannot read the size of image %s/%s: %s",
			 r->pool_name, r->rbd_name, strerror(-rc));
		goto fail;
	}
	if (r->size < j->block_size) {
		snprintf(j->err, sizeof(j->err), "image %s/%s (%" PRIu64 " bytes) is smaller than "
			 "one block of %u", r->pool_name, r->rbd_name, r->size, j->block_size);
		rc = -EINVAL;
		goto fail;
	}
	rc = rbd_update_watch(r->image, &r->watch_handle, watch_cb, (void *)(uintptr_t)r->id);
	if (rc < 0)
		log_warn("rbd %s/%s: no watch on the image (%s): size changes made elsewhere are "
			 "not seen", r->pool_name, r->rbd_name, strerror(-rc));
	else
		r->watching = true;
	j->rc = 0;
	return;
fail:
	j->rc = rc;
	close_work(r);
	r->watching = false;
	r->image = NULL;
	r->ioctx = NULL;
	r->own_rados = NULL;
}

static void unlink_job(struct create_job *j)
{
	for (struct create_job **pp = &g_creating; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			return;
		}
}

static int register_bdev(struct create_job *j)
{
	struct rbd_bdev *r = j->r;
	struct bdev *b = calloc(1, sizeof(*b));
	int rc;

	if (!b) {
		snprintf(j->err, sizeof(j->err), "out of memory");
		return -ENOMEM;
	}
	snprintf(b->name, sizeof(b->name), "%s", j->name);
	memcpy(b->uuid, j->uuid, sizeof(b->uuid));
	b->block_size = j->block_size;
	b->num_blocks = r->size / j->block_size;
	/* as SPDK: no volatile cache announced. librbd's cache stays in
	 * writethrough mode until a flush arrives (rbd_cache_writethrough_
	 * until_flush), so a completed write is on the OSDs */
	b->write_cache = false;
	b->ops = &rbd_ops;
	b->ctx = r;
	rc = bdev_register(b);
	if (rc) {
		if (rc == -EEXIST)
			snprintf(j->err, sizeof(j->err), "a bdev named %s already exists", j->name);
		else if (rc == -EINVAL)
			snprintf(j->err, sizeof(j->err), "invalid parameter 'name': '%s' has spaces, "
				 "quotes, backslashes or control characters", j->name);
		else
			snprintf(j->err, sizeof(j->err), "cannot register bdev %s: %s", j->name,
				 strerror(-rc));
		j->invalid_param = rc == -EINVAL;
		free(b);
		return rc;
	}
	r->bdev = b;
	return 0;
}

static void open_done(void *arg)
{
	struct create_job *j = arg;
	struct rbd_bdev *r = j->r;

	unlink_job(j);
	if (j->rc == 0 && g_stopping) {
		j->rc = -ESHUTDOWN;
		snprintf(j->err, sizeof(j->err), "osnapd is shutting down");
	}
	if (j->rc == 0) {
		j->rc = register_bdev(j);
		if (j->rc)
			j->invalid_param = j->rc == -EINVAL;
	}
	if (j->rc == 0) {
		log_info("bdev %s: rbd image %s/%s, %" PRIu64 " bytes%s", j->name, r->pool_name,
			 r->rbd_name, r->size, r->read_only ? ", read-only" : "");
	} else {
		log_err("bdev_rbd_create %s: %s", j->name, j->err);
		if (r->cluster)
			rbd_cluster_unuse(r->cluster);
		rbd_close_async(r);	/* drops the cluster reference */
	}
	j->cb(j->arg, j->name, j->rc, j->invalid_param, j->err);
	free(j);
}

static int check_create(const struct rbd_create_opts *o, char *err, size_t errlen)
{
	uint32_t bs = o->block_size;

	if (bs < 512 || bs > 65536 || (bs & (bs - 1))) {
		snprintf(err, errlen, "invalid parameter 'block_size': %u is not a power of two "
			 "from 512 to 65536", bs);
		return -EINVAL;
	}
	if (!*o->pool_name) {
		snprintf(err, errlen, "invalid parameter 'pool_name': empty");
		return -EINVAL;
	}
	const char *at = strchr(o->rbd_name, '@');
	if (!*o->rbd_name || at == o->rbd_name || (at && (!at[1] || strchr(at + 1, '@')))) {
		snprintf(err, errlen, "invalid parameter 'rbd_name': '%s' is not IMAGE or IMAGE@SNAPSHOT",
			 o->rbd_name);
		return -EINVAL;
	}
	if (o->cluster_name && (o->conf.user_id || o->conf.has_kv)) {
		snprintf(err, errlen, "invalid parameter '%s': not with 'cluster_name' (the "
			 "registered cluster's user and configuration apply)",
			 o->conf.user_id ? "user_id" : "config");
		return -EINVAL;
	}
	return 0;
}

int rbd_bdev_create(struct rbd_create_opts *o, rbd_create_cb cb, void *arg, bool *invalid_param,
		    char *err, size_t errlen)
{
	struct rbd_cluster *cluster = NULL;
	struct create_job *j;
	struct rbd_bdev *r;
	char name[BDEV_NAME_MAX];
	int rc;

	*invalid_param = true;
	if (rbd_io_ctx_size() > rbd_ops.io_ctx_size) {
		snprintf(err, errlen, "internal error: rbd I/O context too large");
		*invalid_param = false;
		return -EFAULT;
	}
	rc = check_create(o, err, errlen);
	if (rc)
		return rc;
	if (o->name)
		snprintf(name, sizeof(name), "%s", o->name);
	else
		snprintf(name, sizeof(name), "Ceph%u", g_ceph_count);
	rc = file_bdev_check_name("bdev_rbd_create", name, err, errlen);
	if (rc == 0 && name_being_created(name)) {
		snprintf(err, errlen, "bdev_rbd_create: a bdev named %s is being created", name);
		rc = -EEXIST;
	}
	if (rc) {
		*invalid_param = rc == -EINVAL;
		return rc;
	}
	if (o->cluster_name) {
		cluster = rbd_cluster_find(o->cluster_name);
		if (!cluster) {
			snprintf(err, errlen, "invalid parameter 'cluster_name': no cluster named '%s' "
				 "is registered (bdev_rbd_register_cluster)", o->cluster_name);
			return -EINVAL;
		}
	}
	*invalid_param = false;
	r = calloc(1, sizeof(*r));
	j = calloc(1, sizeof(*j));
	if (!r || !j || rbd_conf_set_str(&r->pool_name, o->pool_name) ||
	    rbd_conf_set_str(&r->rbd_name, o->rbd_name)) {
		if (r)
			rbd_free(r);
		free(j);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* IMAGE@SNAP: Ceph's name of a snapshot ('@' is not allowed in image
	 * names, so the split is unambiguous) */
	const char *at = strchr(o->rbd_name, '@');
	r->image_name = at ? strndup(o->rbd_name, (size_t)(at - o->rbd_name)) : strdup(o->rbd_name);
	if (!r->image_name || (at && !(r->snap_name = strdup(at + 1)))) {
		rbd_free(r);
		free(j);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	r->id = g_next_id++;
	r->read_only = o->read_only || at;
	r->cluster = cluster;
	j->r = r;
	snprintf(j->name, sizeof(j->name), "%s", name);
	if (o->uuid)
		memcpy(j->uuid, o->uuid, sizeof(j->uuid));
	j->block_size = o->block_size;
	j->cb = cb;
	j->arg = arg;
	r->conf = o->conf;	/* read by the offload thread */
	rc = rbd_offload(open_work, open_done, j);
	if (rc < 0) {
		memset(&r->conf, 0, sizeof(r->conf));	/* still the caller's */
		rbd_free(r);
		free(j);
		snprintf(err, errlen, "cannot start a thread to open the image: %s", strerror(-rc));
		return rc;
	}
	/* committed: the job owns the configuration */
	memset(&o->conf, 0, sizeof(o->conf));
	if (cluster)
		rbd_cluster_use(cluster);
	if (!o->name)
		g_ceph_count++;
	j->next = g_creating;
	g_creating = j;
	return 0;
}

/* --- bdev_rbd_resize --- */

struct resize_job {
	struct rbd_bdev *r;
	uint64_t bytes;
	rbd_done_cb cb;
	void *arg;
	int rc;
	uint64_t size;
	char err[256];
};

static void resize_work(void *arg)
{
	struct resize_job *j = arg;

	j->rc = rbd_resize(j->r->image, j->bytes);
	if (j->rc < 0) {
		snprintf(j->err, sizeof(j->err), "cannot resize image %s/%s: %s", j->r->pool_name,
			 j->r->rbd_name, strerror(-j->rc));
		return;
	}
	j->rc = rbd_get_size(j->r->image, &j->size);
	if (j->rc < 0)
		snprintf(j->err, sizeof(j->err), "image %s/%s resized, but its size cannot be read: "
			 "%s", j->r->pool_name, j->r->rbd_name, strerror(-j->rc));
}

static void resize_done(void *arg)
{
	struct resize_job *j = arg;

	if (j->rc == 0 && j->r->bdev)
		apply_size(j->r, j->size);
	job_end(j->r);
	j->cb(j->arg, j->rc, false, j->err);
	free(j);
}

int rbd_bdev_resize(const char *name, uint64_t new_size_mib, rbd_done_cb cb, void *arg,
		    bool *invalid_param, char *err, size_t errlen)
{
	struct bdev *b = bdev_get_by_name(name);
	struct resize_job *j;
	uint64_t cur_mib;
	int rc;

	*invalid_param = false;
	if (!b || b->ops != &rbd_ops) {
		snprintf(err, errlen, b ? "bdev %s is not an rbd bdev" : "no bdev named %s", name);
		return -ENODEV;
	}
	*invalid_param = true;
	cur_mib = b->num_blocks * b->block_size >> 20;
	if (new_size_mib > UINT64_MAX >> 20) {
		snprintf(err, errlen, "invalid parameter 'new_size': %" PRIu64 " MiB is too large",
			 new_size_mib);
		return -EINVAL;
	}
	if (new_size_mib < cur_mib) {
		snprintf(err, errlen, "invalid parameter 'new_size': %" PRIu64 " MiB is smaller than "
			 "the current size of %s (%" PRIu64 " MiB): rbd bdevs do not shrink",
			 new_size_mib, name, cur_mib);
		return -EINVAL;
	}
	if (((struct rbd_bdev *)b->ctx)->read_only) {
		snprintf(err, errlen, "bdev %s is read-only", name);
		*invalid_param = false;
		return -EROFS;
	}
	*invalid_param = false;
	j = calloc(1, sizeof(*j));
	if (!j) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	j->r = b->ctx;
	j->bytes = new_size_mib << 20;
	j->cb = cb;
	j->arg = arg;
	job_begin(j->r);
	rc = rbd_offload(resize_work, resize_done, j);
	if (rc < 0) {
		job_end(j->r);
		free(j);
		snprintf(err, errlen, "cannot start a thread to resize: %s", strerror(-rc));
		return rc;
	}
	return 0;
}

/* --- shutdown --- */

/* Longest wait at exit for images to close and handles to shut down: a
 * cluster that went away holds rbd_close up to its timeouts. */
#define RBD_FINI_DEADLINE_MS 60000

void bdev_rbd_fini(void)
{
	/* bdevs are deleted: their closes, resizes and creations still
	 * running end (a creation fails: no bdev after bdev_unregister_all) */
	g_stopping = true;
	rbd_offload_drain(RBD_FINI_DEADLINE_MS);
	rbd_cluster_unregister_all();
	if (rbd_offload_drain(RBD_FINI_DEADLINE_MS))
		log_warn("rbd: images or cluster handles still closing after %d s; exiting anyway",
			 RBD_FINI_DEADLINE_MS / 1000);
}
