/* The "nvme" bdev module: one bdev per active namespace of an NVMe/TCP
 * controller, NAMEn<nsid> as SPDK names them. I/O goes to the reactor's
 * I/O queue pair of the controller (nvme_ioq.c); the bdev channel is that
 * per-reactor queue itself, shared by the controller's namespaces. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/modules/nvme/nvme_ctrlr.h"
#include "core/thread.h"

_Static_assert(sizeof(struct nvme_bio) <= BDEV_IO_CTX_MAX, "nvme_bio fits a bdev_io");

static void *nvme_channel_create(struct bdev *bdev)
{
	struct nvme_ns *ns = bdev->ctx;
	int r = reactor_self_index();

	/* ctrlr->ioq[] is set before the bdev exists and stays until it is gone */
	if (r < 0 || !ns->ctrlr->ioq[r]) {
		errno = ENODEV;
		return NULL;
	}
	return ns->ctrlr->ioq[r];
}

static void nvme_channel_destroy(struct bdev *bdev, void *chctx)
{
	(void)bdev;
	(void)chctx;
}

static void nvme_submit(struct bdev *bdev, void *chctx, struct bdev_io *io)
{
	nvme_ioq_submit(chctx, bdev->ctx, io);
}

static bool nvme_io_type_supported(struct bdev *bdev, enum bdev_io_type type)
{
	struct nvme_ns *ns = bdev->ctx;

	switch (type) {
	case BDEV_IO_READ:
	case BDEV_IO_WRITE:
	case BDEV_IO_FLUSH:
		return true;
	case BDEV_IO_UNMAP:
		return ns->oncs & (1u << 2);	/* Dataset Management */
	case BDEV_IO_WRITE_ZEROES:
		return ns->oncs & (1u << 3);
	default:
		return false;
	}
}

static void nvme_destruct(struct bdev *bdev)
{
	(void)bdev;	/* the namespace belongs to its controller */
}

static json_t *trid_json(const struct nvme_ctrlr *c)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s}", "trtype", "TCP", "adrfam",
			 strcmp(c->p.adrfam, "ipv6") == 0 ? "IPv6" : "IPv4", "traddr", c->p.traddr,
			 "trsvcid", c->p.trsvcid, "subnqn", c->p.subnqn);
}

/* One bdev_nvme_attach_controller per controller: written by its first
 * namespace's bdev. */
static void nvme_write_config(struct bdev *bdev, json_t *config_array)
{
	struct nvme_ns *ns = bdev->ctx;
	struct nvme_ctrlr *c = ns->ctrlr;
	char hostid[37];

	for (uint32_t i = 0; i < c->nns; i++) {
		if (c->ns[i]->bdev && c->ns[i] != ns)
			return;
		if (c->ns[i] == ns)
			break;
	}
	json_t *params = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:i, s:i, s:i}",
				   "name", c->p.name, "trtype", "tcp", "adrfam", c->p.adrfam,
				   "traddr", c->p.traddr, "trsvcid", c->p.trsvcid, "subnqn",
				   c->p.subnqn, "hostnqn", c->p.hostnqn, "hdgst", c->p.hdgst,
				   "ddgst", c->p.ddgst, "ctrlr_loss_timeout_sec",
				   c->p.ctrlr_loss_timeout_sec, "reconnect_delay_sec",
				   (int)c->p.reconnect_delay_sec, "fast_io_fail_timeout_sec",
				   (int)c->p.fast_io_fail_timeout_sec);
	if (c->p.has_hostid) {
		uuid_format16(c->p.hostid, hostid);
		json_object_set_new(params, "hostid", json_string(hostid));
	}
	json_array_append_new(config_array, json_pack("{s:s, s:o}", "method",
						      "bdev_nvme_attach_controller", "params", params));
}

static json_t *nvme_driver_specific(struct bdev *bdev)
{
	struct nvme_ns *ns = bdev->ctx;
	struct nvme_ctrlr *c = ns->ctrlr;
	json_t *cd = json_pack("{s:I, s:s, s:s, s:s, s:s}", "cntlid", (json_int_t)c->cntlid,
			       "model_number", c->mn, "serial_number", c->sn,
			       "firmware_revision", c->fr, "subnqn", c->p.subnqn);
	json_t *one = json_pack("{s:o, s:o, s:{s:I}}", "trid", trid_json(c), "ctrlr_data", cd,
				"ns_data", "id", (json_int_t)ns->nsid);

	return json_pack("{s:[o]}", "nvme", one);
}

const struct bdev_module_ops nvme_bdev_ops = {
	.module_name = "nvme",
	.product_name = "NVMe disk",
	.io_ctx_size = sizeof(struct nvme_bio),
	.channel_create = nvme_channel_create,
	.channel_destroy = nvme_channel_destroy,
	.submit = nvme_submit,
	.io_type_supported = nvme_io_type_supported,
	.destruct = nvme_destruct,
	.write_config = nvme_write_config,
	.driver_specific = nvme_driver_specific,
};

int nvme_ns_bdev_register(struct nvme_ns *ns, char *err, size_t errlen)
{
	struct bdev *b = calloc(1, sizeof(*b));
	int rc;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	rc = snprintf(b->name, sizeof(b->name), "%sn%u", ns->ctrlr->p.name, ns->nsid);
	if (rc < 0 || (size_t)rc >= sizeof(b->name)) {
		free(b);
		snprintf(err, errlen, "the bdev name of namespace %u is too long", ns->nsid);
		return -ENAMETOOLONG;
	}
	b->block_size = ns->block_size;
	b->num_blocks = ns->num_blocks;
	b->write_cache = ns->vwc;
	b->ops = &nvme_bdev_ops;
	b->ctx = ns;
	if (ns->has_uuid)
		memcpy(b->uuid, ns->uuid, 16);
	rc = bdev_register(b);
	if (rc) {
		snprintf(err, errlen, "cannot register bdev %s: %s", b->name, strerror(-rc));
		free(b);
		return rc;
	}
	ns->bdev = b;
	return 0;
}
