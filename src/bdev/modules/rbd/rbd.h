/* The "rbd" bdev module (SPDK's bdev_rbd): Ceph RBD images through librbd.
 *
 * Internal interface of src/bdev/modules/rbd:
 *   rbd_conf.c     librados configuration pairs and the blocking connect
 *   rbd_offload.c  blocking librados/librbd calls on a thread of their own
 *   rbd_cluster.c  clusters registered with bdev_rbd_register_cluster
 *   rbd.c          the bdevs: create (image open off the main thread),
 *                  delete, resize, size changes seen through a watch
 *   rbd_io.c       the data path: librbd's asynchronous API per reactor
 *                  channel, completions handed back through an eventfd
 *   rbd_rpc.c      the JSON-RPC methods
 *
 * Threading: everything but rbd_io.c's submit/poller and the work halves of
 * offloaded jobs runs on the main thread. The main thread never waits for
 * the cluster: connecting, opening, resizing and closing run on an offload
 * thread and finish with a message to the main thread. */
#ifndef OSNAP_BDEV_RBD_H
#define OSNAP_BDEV_RBD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <rados/librados.h>
#include <rbd/librbd.h>

#include "bdev/bdev.h"

/* --- configuration (rbd_conf.c) --- */

/* librados options given to rados_conf_set, in the order given. */
struct rbd_kv {
	char *key;
	char *value;
};

/* How to reach a cluster: SPDK's user_id, config (create) / config_param
 * (register_cluster), config_file and key_file. */
struct rbd_conf {
	char *user_id;		/* NULL: librados' default ("admin") */
	struct rbd_kv *kv;
	size_t nkv;
	bool has_kv;		/* a config object was given (even empty) */
	char *config_file;	/* NULL: see rbd_conf_connect */
	char *key_file;
};

/* Copy the JSON object obj (NULL or null: none) of string values into c.
 * key names the parameter in the message. Returns 0, -EINVAL (message for
 * -32602 in err) or -ENOMEM. */
int rbd_conf_kv_from_json(struct rbd_conf *c, const char *key, json_t *obj, char *err,
			  size_t errlen);
/* Duplicate a string member (NULL stays NULL). Returns 0 or -ENOMEM. */
int rbd_conf_set_str(char **dst, const char *src);
void rbd_conf_free(struct rbd_conf *c);
/* The pairs as a JSON object (new reference). */
json_t *rbd_conf_kv_json(const struct rbd_conf *c);

/* Create a librados handle from c and connect it. Blocking: offload
 * threads only. read_default_file: with no config_file, read librados'
 * default file ($CEPH_CONF or /etc/ceph/ceph.conf) when there are no pairs
 * (SPDK's rule for bdev_rbd_create) or always, ignoring its absence (SPDK's
 * rule for bdev_rbd_register_cluster: register = true). Connection timeouts
 * left at Ceph's unbounded or 300 s defaults get osnap's bounded ones.
 * Returns 0 with *out connected, or -errno with a message in err. */
int rbd_conf_connect(const struct rbd_conf *c, bool is_register, rados_t *out, char *err,
		     size_t errlen);

/* --- offload threads (rbd_offload.c) --- */

/* Run work(arg) on a new thread, then done(arg) on the main thread.
 * Returns 0, or -errno when no thread could be started (nothing runs). */
int rbd_offload(void (*work)(void *arg), void (*done)(void *arg), void *arg);
/* Shutdown: run the main thread's messages until every job is done or
 * deadline_ms passed. Returns the jobs still running. */
int rbd_offload_drain(unsigned deadline_ms);

/* --- registered clusters (rbd_cluster.c) --- */

struct rbd_cluster {
	char *name;
	struct rbd_conf conf;
	char *core_mask;		/* accepted and shown; librados' threads are not pinned */
	rados_t rados;
	bool connected;			/* false while the connect runs */
	int users;			/* bdevs (and their creations) using it */
	int refs;			/* lifetime: the registry, users, closing images */
	struct rbd_cluster *next;
};

/* A connected cluster by name, or NULL. */
struct rbd_cluster *rbd_cluster_find(const char *name);
/* One more user (a bdev): takes a reference too. */
void rbd_cluster_use(struct rbd_cluster *c);
/* A user is gone (its bdev deleted); its reference stays until put. */
void rbd_cluster_unuse(struct rbd_cluster *c);
/* Drop a reference; the last one shuts the handle down off the main thread. */
void rbd_cluster_put(struct rbd_cluster *c);

/* Answer of an asynchronous operation: rc 0 or -errno with err set;
 * invalid_param: the error is about the request's parameters (-32602). */
typedef void (*rbd_done_cb)(void *arg, int rc, bool invalid_param, const char *err);

/* Register a cluster: returns -errno (err set, *invalid_param) at once for
 * a bad or duplicate request, else 0 and cb(arg, ...) later, when connected
 * or failed. Takes ownership of conf's strings on success. */
int rbd_cluster_register(const char *name, struct rbd_conf *conf, const char *core_mask,
			 rbd_done_cb cb, void *arg, bool *invalid_param, char *err, size_t errlen);
int rbd_cluster_unregister(const char *name, char *err, size_t errlen);
/* bdev_rbd_get_clusters_info: one object (name given) or an array. NULL
 * with -ENOENT in *rc when name is unknown or nothing is registered. */
json_t *rbd_cluster_info(const char *name, int *rc);
/* Shutdown: unregister every cluster (their bdevs are gone). */
void rbd_cluster_unregister_all(void);

/* --- bdevs (rbd.c) --- */

struct rbd_create_opts {
	const char *name;		/* NULL: "Ceph<n>" */
	const char *pool_name;
	const char *rbd_name;
	uint32_t block_size;
	const char *cluster_name;	/* NULL: a handle of the bdev's own */
	struct rbd_conf conf;		/* without cluster_name (ownership taken) */
	const uint8_t *uuid;		/* NULL: generated */
	bool read_only;
};

/* Create: returns -errno at once (err, *invalid_param) for a bad request,
 * else 0 and done(arg, name, ...) when the image is open and the bdev
 * registered, or failed. name is the bdev's name (valid during the call). */
typedef void (*rbd_create_cb)(void *arg, const char *name, int rc, bool invalid_param,
			      const char *err);
int rbd_bdev_create(struct rbd_create_opts *o, rbd_create_cb cb, void *arg, bool *invalid_param,
		    char *err, size_t errlen);
/* Grow the image to new_size_mib MiB (never shrinks): -errno at once, or 0
 * and cb later. */
int rbd_bdev_resize(const char *name, uint64_t new_size_mib, rbd_done_cb cb, void *arg,
		    bool *invalid_param, char *err, size_t errlen);

/* --- data path (rbd_io.c) --- */

/* Per-I/O context size and the channel operations of the module. */
size_t rbd_io_ctx_size(void);
void *rbd_io_channel_create(rbd_image_t image, const char *name);
void rbd_io_channel_destroy(void *chctx);
void rbd_io_submit(void *chctx, struct bdev_io *io, uint32_t block_size);

#endif
