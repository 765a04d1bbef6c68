/* vfio-user command handling: validation of every field, then the action
 * on the emulated function. Each handler returns 0 (reply sent or queued)
 * or a negative errno that becomes an error reply. */
#include "vfu_conn.h"
#include "core/client_fd.h"
#include "core/log.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096u

void vfu_conn_init(struct vfu_conn *c, struct emu_function *fn, const struct vfu_conn_ops *ops,
		   void *user)
{
	memset(c, 0, sizeof(*c));
	c->fn = fn;
	c->ops = ops;
	c->user = user;
	c->client_max_fds = 1;
	c->client_max_xfer = VFU_MAX_DATA_XFER;
	c->err_fd = c->req_fd = -1;
}

static int *notify_fd(struct vfu_conn *c, uint32_t index)
{
	return index == VFU_IRQ_INDEX_ERR ? &c->err_fd : index == VFU_IRQ_INDEX_REQ ? &c->req_fd : NULL;
}

static void notify_fd_set(struct vfu_conn *c, uint32_t index, int fd)
{
	int *slot = notify_fd(c, index);
	if (*slot >= 0)
		close(*slot);
	*slot = fd;
}

static void close_fds(int *fds, int nfds)
{
	for (int i = 0; i < nfds; i++)
		if (fds[i] >= 0) {
			close(fds[i]);
			fds[i] = -1;
		}
}

static int send_reply(struct vfu_conn *c, const struct vfu_hdr *req, const void *payload,
		      size_t plen, const int *fds, int nfds)
{
	if (req->flags & VFU_F_NO_REPLY)
		return 0;
	uint8_t stackbuf[256];
	uint8_t *buf = plen + sizeof(struct vfu_hdr) <= sizeof(stackbuf) ? stackbuf
		       : malloc(plen + sizeof(struct vfu_hdr));
	if (!buf)
		return -ENOMEM;
	struct vfu_hdr h = {
		.msg_id = req->msg_id, .cmd = req->cmd,
		.size = (uint32_t)(plen + sizeof(h)), .flags = VFU_F_TYPE_REPLY,
	};
	memcpy(buf, &h, sizeof(h));
	if (plen)
		memcpy(buf + sizeof(h), payload, plen);
	int rc = c->ops->send(c, buf, plen + sizeof(h), fds, nfds);
	if (buf != stackbuf)
		free(buf);
	return rc;
}

static int send_error(struct vfu_conn *c, const struct vfu_hdr *req, int err)
{
	if (req->flags & VFU_F_NO_REPLY)
		return 0;
	struct vfu_hdr h = {
		.msg_id = req->msg_id, .cmd = req->cmd, .size = sizeof(h),
		.flags = VFU_F_TYPE_REPLY | VFU_F_ERROR, .error = (uint32_t)err,
	};
	return c->ops->send(c, &h, sizeof(h), NULL, 0);
}

/* --- VERSION --- */

static int handle_version(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen)
{
	const struct vfu_version *v = (const void *)p;
	if (plen < sizeof(*v))
		return -EINVAL;
	if (v->major != 0) {
		log_warn("%s: client proposes vfio-user %u.%u; only 0.x is served", c->fn->vuid,
			 v->major, v->minor);
		c->closing = true;
		return -ENOTSUP;
	}
	bool client_wm = false;
	if (plen > sizeof(*v)) {
		size_t jlen = plen - sizeof(*v);
		if (v->data[jlen - 1] != '\0' || strlen(v->data) + 1 != jlen)
			return -EINVAL;	/* must be one NUL-terminated string */
		json_error_t jerr;
		json_t *j = json_loads(v->data, 0, &jerr);
		if (!j || !json_is_object(j)) {
			json_decref(j);
			return -EINVAL;
		}
		json_t *caps = json_object_get(j, "capabilities");
		if (caps && !json_is_object(caps)) {
			json_decref(j);
			return -EINVAL;
		}
		json_t *mf = json_object_get(caps, "max_msg_fds");
		json_t *mx = json_object_get(caps, "max_data_xfer_size");
		json_t *wm = json_object_get(caps, "write_multiple");
		json_t *pg = json_object_get(caps, "pgsizes");
		if ((mf && (!json_is_integer(mf) || json_integer_value(mf) < 0)) ||
		    (mx && (!json_is_integer(mx) || json_integer_value(mx) < 1)) ||
		    (wm && !json_is_boolean(wm)) ||
		    (pg && (!json_is_integer(pg) || !(json_integer_value(pg) & PAGE)))) {
			json_decref(j);
			return -EINVAL;
		}
		if (mf)
			c->client_max_fds = (uint32_t)(json_integer_value(mf) > 253 ? 253 : json_integer_value(mf));
		if (mx)
			c->client_max_xfer = (uint32_t)(json_integer_value(mx) > VFU_MAX_DATA_XFER
							? VFU_MAX_DATA_XFER : json_integer_value(mx));
		client_wm = json_is_true(wm);
		json_decref(j);
	}
	c->write_multiple = client_wm;
	c->negotiated = true;

	json_t *caps = json_pack("{s:{s:i, s:I, s:i, s:i}}", "capabilities",
				 "max_msg_fds", VFU_MAX_FDS, "max_data_xfer_size", (json_int_t)VFU_MAX_DATA_XFER,
				 "pgsizes", PAGE, "max_dma_maps", VFU_MAX_DMA_MAPS);
	if (client_wm)
		json_object_set_new(json_object_get(caps, "capabilities"), "write_multiple", json_true());
	char *txt = json_dumps(caps, JSON_COMPACT);
	json_decref(caps);
	if (!txt)
		return -ENOMEM;
	size_t tl = strlen(txt) + 1;
	struct vfu_version *r = malloc(sizeof(*r) + tl);
	if (!r) {
		free(txt);
		return -ENOMEM;
	}
	r->major = 0;
	r->minor = v->minor < 2 ? v->minor : 2;
	memcpy(r->data, txt, tl);
	free(txt);
	int rc = send_reply(c, h, r, sizeof(*r) + tl, NULL, 0);
	free(r);
	log_info("%s: vfio-user client connected (protocol 0.%u)", c->fn->vuid, v->minor < 2 ? v->minor : 2);
	return rc;
}

/* --- DMA --- */

static int handle_dma_map(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen,
			  int *fds, int nfds)
{
	const struct vfu_dma_map *m = (const void *)p;
	if (plen != sizeof(*m) || m->argsz != sizeof(*m))
		return -EINVAL;
	if (m->flags & ~(VFU_DMA_READ_FLAG | VFU_DMA_WRITE_FLAG))
		return -EINVAL;
	if (!m->size || (m->addr % PAGE) || (m->size % PAGE) || (m->offset % PAGE) ||
	    m->addr + m->size < m->addr)
		return -EINVAL;
	if (nfds > 1)
		return -EINVAL;
	int prot = (m->flags & VFU_DMA_READ_FLAG ? EMU_DMA_READ : 0) |
		   (m->flags & VFU_DMA_WRITE_FLAG ? EMU_DMA_WRITE : 0);
	/* Without an fd the client keeps the memory to itself (QEMU does so
	 * for ROM and other non-shared regions); the protocol then wants
	 * DMA_READ/DMA_WRITE messages for device access. osnap works in place,
	 * so such a region is recorded (its unmap succeeds) but no command
	 * can reach it: I/O aimed at it fails like I/O outside the map. */
	if (nfds == 0)
		log_info("%s: DMA_MAP of 0x%llx+0x%llx without a file descriptor: recorded, but osnap "
			 "cannot reach it (guest RAM must be shared: memory-backend-memfd,share=on)",
			 c->fn->vuid, (unsigned long long)m->addr, (unsigned long long)m->size);
	int rc = emu_mem_add(c->fn, m->addr, m->size, prot, nfds ? fds[0] : -1, m->offset);
	close_fds(fds, nfds);	/* the mapping keeps the memory */
	if (rc)
		return rc;
	log_debug("%s: DMA_MAP 0x%llx+0x%llx", c->fn->vuid, (unsigned long long)m->addr,
		  (unsigned long long)m->size);
	return send_reply(c, h, NULL, 0, NULL, 0);
}

struct unmap_ctx {
	struct vfu_conn *c;
	struct vfu_hdr h;
	struct vfu_dma_unmap req;
};

static void unmap_done(void *arg, int rc)
{
	struct unmap_ctx *u = arg;
	struct vfu_conn *c = u->c;
	if (rc)
		send_error(c, &u->h, -rc);
	else
		send_reply(c, &u->h, &u->req, sizeof(u->req), NULL, 0);
	free(u);
	c->busy = false;
	/* completed later: the reader stopped for us and must be restarted;
	 * completed at once (still inside the handler): it simply goes on */
	if (!c->in_handler)
		c->ops->resume(c);
}

static int handle_dma_unmap(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen)
{
	const struct vfu_dma_unmap *m = (const void *)p;
	if (plen != sizeof(*m) || m->argsz < sizeof(*m))
		return -EINVAL;
	if (m->flags & VFU_DMA_UNMAP_GET_DIRTY_BITMAP)
		return -ENOTSUP;	/* no dirty-page logging (no migration) */
	if (m->flags & ~VFU_DMA_UNMAP_ALL)
		return -EINVAL;
	/* QEMU sends FLAG_ALL when a section covering the whole address
	 * space goes away: addr and size must then be 0 */
	if ((m->flags & VFU_DMA_UNMAP_ALL) && (m->addr || m->size))
		return -EINVAL;
	struct unmap_ctx *u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->c = c;
	u->h = *h;
	u->req = *m;
	u->req.argsz = sizeof(*m);
	c->busy = true;		/* replies keep their order: read nothing until done */
	if (m->flags & VFU_DMA_UNMAP_ALL)
		emu_mem_remove_all(c->fn, unmap_done, u);
	else
		emu_mem_remove(c->fn, m->addr, m->size, unmap_done, u);
	return 0;
}

/* --- device, regions, irqs --- */

static int handle_device_info(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen)
{
	const struct vfu_device_info *in = (const void *)p;
	/* as GET_REGION_INFO: the payload may be argsz bytes long */
	if (plen < sizeof(*in) || in->argsz < sizeof(*in))
		return -EINVAL;
	struct vfu_device_info r = {
		.argsz = sizeof(r), .flags = VFU_DEV_FLAG_RESET | VFU_DEV_FLAG_PCI,
		.num_regions = EMU_NUM_REGIONS, .num_irqs = VFU_NUM_IRQS,
	};
	return send_reply(c, h, &r, sizeof(r), NULL, 0);
}

static bool doorbells_mappable(const struct emu_function *fn, uint32_t index)
{
	return index == 0 && fn->type == EMU_TYPE_NVME &&
	       emu_get_config()->nvme_doorbells != EMU_DB_TRAP;
}

static int handle_region_info(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen)
{
	const struct vfu_region_info *in = (const void *)p;
	struct {
		struct vfu_region_info info;
		struct vfu_cap_header cap;
		uint32_t nr_areas, reserved;
		uint64_t off, size;
	} __attribute__((packed)) r;

	/* The request's payload may be as long as argsz (a client may send
	 * its whole reply buffer, so that capabilities fit): only the fixed
	 * part is read. */
	if (plen < sizeof(*in) || in->argsz < sizeof(*in))
		return -EINVAL;
	if (in->index >= EMU_NUM_REGIONS)
		return -EINVAL;
	memset(&r, 0, sizeof(r));
	r.info.index = in->index;
	r.info.size = emu_region_size(c->fn, in->index);
	if (r.info.size)
		r.info.flags = VFU_REGION_FLAG_READ | VFU_REGION_FLAG_WRITE;
	size_t len = sizeof(r.info);
	int fd = -1;
	if (doorbells_mappable(c->fn, in->index)) {
		/* only the doorbell page may be mapped; registers stay trapped.
		 * The capability (and the fd) come only when the client's
		 * buffer holds them: otherwise the reply says how big it must
		 * be (argsz) and the client asks again. A CAPS flag with no
		 * capability in the reply makes QEMU refuse the region. */
		r.info.flags |= VFU_REGION_FLAG_MMAP;
		r.info.argsz = sizeof(r);
		if (in->argsz >= sizeof(r)) {
			r.info.flags |= VFU_REGION_FLAG_CAPS;
			r.info.cap_offset = sizeof(r.info);
			r.cap.id = VFU_REGION_CAP_SPARSE_MMAP;
			r.cap.version = 1;
			r.nr_areas = 1;
			r.off = EMU_NVME_DOORBELL_OFF;
			r.size = EMU_NVME_DOORBELL_SIZE;
			len = sizeof(r);
			fd = c->fn->db_fd;	/* the doorbell page only, never the registers */
		}
	} else {
		r.info.argsz = sizeof(r.info);
	}
	return send_reply(c, h, &r, len, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0);
}

static int handle_irq_info(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen)
{
	const struct vfu_irq_info *in = (const void *)p;
	/* as GET_REGION_INFO: the payload may be argsz bytes long */
	if (plen < sizeof(*in) || in->argsz < sizeof(*in) ||
	    in->index >= VFU_NUM_IRQS)
		return -EINVAL;
	struct vfu_irq_info r = { .argsz = sizeof(r), .index = in->index };
	if (in->index == VFU_IRQ_INDEX_MSIX) {
		/* not NORESIZE: osnap takes eventfds for any sub-range, so QEMU
		 * sets one vector at a time as the guest starts using it,
		 * instead of disabling the whole index and setting every fd
		 * again (interrupts raised in between were lost) */
		r.flags = VFU_IRQ_INFO_EVENTFD | VFU_IRQ_INFO_MASKABLE;
		r.count = c->fn->num_msix;
	} else if (notify_fd(c, in->index)) {
		/* one ERR and one REQ notifier, as a PCIe function under VFIO
		 * has: QEMU warns "Could not enable error recovery" without */
		r.flags = VFU_IRQ_INFO_EVENTFD;
		r.count = 1;
	} else {
		r.flags = VFU_IRQ_INFO_EVENTFD;	/* no INTx or MSI: count 0 */
	}
	return send_reply(c, h, &r, sizeof(r), NULL, 0);
}

static int handle_set_irqs(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen,
			   int *fds, int nfds)
{
	const struct vfu_irq_set *s = (const void *)p;
	int rc;

	if (plen < sizeof(*s) || s->argsz != plen)
		return -EINVAL;
	uint32_t data = s->flags & VFU_IRQ_DATA_MASK, action = s->flags & VFU_IRQ_ACTION_MASKS;
	if ((s->flags & ~(VFU_IRQ_DATA_MASK | VFU_IRQ_ACTION_MASKS)) ||
	    __builtin_popcount(data) != 1 || __builtin_popcount(action) != 1)
		return -EINVAL;
	if (s->index >= VFU_NUM_IRQS)
		return -EINVAL;
	size_t dlen = plen - sizeof(*s);
	if ((data == VFU_IRQ_DATA_BOOL && dlen != s->count) || (data != VFU_IRQ_DATA_BOOL && dlen))
		return -EINVAL;
	if (data != VFU_IRQ_DATA_EVENTFD && nfds)
		return -EINVAL;
	/* count 0 with DATA_NONE disables the whole index */
	if (s->count == 0) {
		if (data != VFU_IRQ_DATA_NONE || s->start || action != VFU_IRQ_ACTION_TRIGGER)
			return -EINVAL;
		if (s->index == VFU_IRQ_INDEX_MSIX)
			emu_msix_clear_all(c->fn);
		else if (notify_fd(c, s->index))
			notify_fd_set(c, s->index, -1);
		return send_reply(c, h, NULL, 0, NULL, 0);
	}
	/* interrupt fds are written by reactors: eventfds only, non-blocking */
	for (int i = 0; i < nfds; i++)
		if (client_eventfd_accept(fds[i])) {
			log_warn("%s: SET_IRQS with a file descriptor that is not an eventfd refused",
				 c->fn->vuid);
			return -EINVAL;
		}
	if (notify_fd(c, s->index)) {
		/* ERR / REQ: one eventfd to hold (or none: unset), nothing else */
		if (s->start || s->count != 1 || data != VFU_IRQ_DATA_EVENTFD ||
		    action != VFU_IRQ_ACTION_TRIGGER || nfds > 1)
			return -EINVAL;
		notify_fd_set(c, s->index, nfds ? fds[0] : -1);
		if (nfds)
			fds[0] = -1;	/* now owned by the connection */
		return send_reply(c, h, NULL, 0, NULL, 0);
	}
	if (s->index != VFU_IRQ_INDEX_MSIX)
		return -EINVAL;	/* no INTx, no MSI */
	if (s->start >= c->fn->num_msix || s->count > c->fn->num_msix - s->start)
		return -EINVAL;
	if (data == VFU_IRQ_DATA_EVENTFD) {
		if (action != VFU_IRQ_ACTION_TRIGGER)
			return -ENOTSUP;	/* mask/unmask notification fds */
		if (nfds && (uint32_t)nfds != s->count)
			return -EINVAL;
		int *set = malloc(s->count * sizeof(int));
		if (!set)
			return -ENOMEM;
		for (uint32_t i = 0; i < s->count; i++)
			set[i] = nfds ? fds[i] : -1;
		rc = emu_msix_set_eventfds(c->fn, s->start, s->count, set);
		free(set);
		if (rc)
			return rc;
		for (int i = 0; i < nfds; i++)
			fds[i] = -1;	/* now owned by the function */
		return send_reply(c, h, NULL, 0, NULL, 0);
	}
	const uint8_t *bools = data == VFU_IRQ_DATA_BOOL ? s->data : NULL;
	if (action == VFU_IRQ_ACTION_TRIGGER) {
		for (uint32_t i = 0; i < s->count; i++)
			if (!bools || bools[i])
				emu_irq_raise(c->fn, (uint16_t)(s->start + i));
		rc = 0;
	} else {
		rc = emu_msix_vfio_mask(c->fn, s->start, s->count, bools, action == VFU_IRQ_ACTION_MASK);
	}
	return rc ? rc : send_reply(c, h, NULL, 0, NULL, 0);
}

static int check_access(struct vfu_conn *c, const struct vfu_region_access *a)
{
	if (a->region >= EMU_NUM_REGIONS || !a->count || a->count > VFU_MAX_DATA_XFER)
		return -EINVAL;
	uint64_t size = emu_region_size(c->fn, a->region);
	if (!size || a->offset >= size || a->count > size - a->offset)
		return -EINVAL;
	return 0;
}

static int handle_region_read(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen)
{
	const struct vfu_region_access *a = (const void *)p;
	if (plen != sizeof(*a))
		return -EINVAL;
	int rc = check_access(c, a);
	if (rc)
		return rc;
	struct vfu_region_access *r = malloc(sizeof(*r) + a->count);
	if (!r)
		return -ENOMEM;
	*r = *a;
	rc = emu_region_read(c->fn, a->region, a->offset, r->data, a->count);
	if (!rc)
		rc = send_reply(c, h, r, sizeof(*r) + a->count, NULL, 0);
	free(r);
	return rc;
}

static int handle_region_write(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen)
{
	const struct vfu_region_access *a = (const void *)p;
	if (plen < sizeof(*a) || plen - sizeof(*a) != a->count)
		return -EINVAL;
	int rc = check_access(c, a);
	if (rc)
		return rc;
	rc = emu_region_write(c->fn, a->region, a->offset, a->data, a->count);
	if (rc)
		return rc;
	struct vfu_region_access r = *a;
	return send_reply(c, h, &r, sizeof(r), NULL, 0);
}

static int handle_write_multi(struct vfu_conn *c, const struct vfu_hdr *h, const uint8_t *p, size_t plen)
{
	uint64_t n;
	if (!c->write_multiple || plen < 8)
		return -EINVAL;
	memcpy(&n, p, 8);
	if (!n || n > VFU_WRITE_MULTI_MAX || plen != 8 + n * sizeof(struct vfu_write_one))
		return -EINVAL;
	const struct vfu_write_one *w = (const void *)(p + 8);
	/* check all first: a bad entry changes nothing */
	for (uint64_t i = 0; i < n; i++) {
		struct vfu_region_access a = { w[i].offset, w[i].region, w[i].count };
		if (w[i].count > 8 || check_access(c, &a))
			return -EINVAL;
	}
	for (uint64_t i = 0; i < n; i++) {
		int rc = emu_region_write(c->fn, w[i].region, w[i].offset, w[i].data, w[i].count);
		if (rc)
			return rc;
	}
	return send_reply(c, h, &n, sizeof(n), NULL, 0);
}

static int handle_reset(struct vfu_conn *c, const struct vfu_hdr *h, size_t plen)
{
	if (plen)
		return -EINVAL;
	log_info("%s: device reset by the client", c->fn->vuid);
	emu_fn_reset(c->fn, EMU_RESET_CLIENT);
	return send_reply(c, h, NULL, 0, NULL, 0);
}

static int vfu_conn_dispatch(struct vfu_conn *c, const struct vfu_hdr *hp, const uint8_t *msg,
			     size_t len, int *fds, int nfds);

int vfu_conn_handle(struct vfu_conn *c, const uint8_t *msg, size_t len, int *fds, int nfds)
{
	struct vfu_hdr h;
	int rc;

	if (len < sizeof(h)) {
		close_fds(fds, nfds);
		return -EPROTO;
	}
	memcpy(&h, msg, sizeof(h));
	c->in_handler = true;
	rc = vfu_conn_dispatch(c, &h, msg, len, fds, nfds);
	c->in_handler = false;
	return rc;
}

static int vfu_conn_dispatch(struct vfu_conn *c, const struct vfu_hdr *hp, const uint8_t *msg,
			     size_t len, int *fds, int nfds)
{
	struct vfu_hdr h = *hp;
	int rc;
	const uint8_t *p = msg + sizeof(h);
	size_t plen = len - sizeof(h);
	if (h.size != len) {
		close_fds(fds, nfds);
		return -EPROTO;
	}
	if ((h.flags & VFU_F_TYPE_MASK) != VFU_F_TYPE_COMMAND) {
		/* we send the client no commands, so no reply is expected */
		log_warn("%s: unexpected vfio-user reply (command %u) ignored", c->fn->vuid, h.cmd);
		close_fds(fds, nfds);
		return 0;
	}
	if (nfds > VFU_MAX_FDS) {
		rc = -EINVAL;
		goto out;
	}
	if (!c->negotiated && h.cmd != VFU_CMD_VERSION) {
		log_warn("%s: vfio-user command %u before VERSION", c->fn->vuid, h.cmd);
		rc = -EINVAL;
		c->closing = true;
		goto out;
	}
	switch (h.cmd) {
	case VFU_CMD_VERSION:
		/* negotiated once per connection */
		rc = c->negotiated ? -EINVAL : handle_version(c, &h, p, plen);
		break;
	case VFU_CMD_DMA_MAP:
		rc = handle_dma_map(c, &h, p, plen, fds, nfds);
		break;
	case VFU_CMD_DMA_UNMAP:
		rc = handle_dma_unmap(c, &h, p, plen);
		break;
	case VFU_CMD_DEVICE_GET_INFO:
		rc = handle_device_info(c, &h, p, plen);
		break;
	case VFU_CMD_DEVICE_GET_REGION_INFO:
		rc = handle_region_info(c, &h, p, plen);
		break;
	case VFU_CMD_DEVICE_GET_IRQ_INFO:
		rc = handle_irq_info(c, &h, p, plen);
		break;
	case VFU_CMD_DEVICE_SET_IRQS:
		rc = handle_set_irqs(c, &h, p, plen, fds, nfds);
		break;
	case VFU_CMD_REGION_READ:
		rc = handle_region_read(c, &h, p, plen);
		break;
	case VFU_CMD_REGION_WRITE:
		rc = handle_region_write(c, &h, p, plen);
		break;
	case VFU_CMD_REGION_WRITE_MULTI:
		rc = handle_write_multi(c, &h, p, plen);
		break;
	case VFU_CMD_DEVICE_RESET:
		rc = handle_reset(c, &h, plen);
		break;
	case VFU_CMD_DEVICE_GET_REGION_IO_FDS:
	case VFU_CMD_DEVICE_FEATURE:
	case VFU_CMD_MIG_DATA_READ:
	case VFU_CMD_MIG_DATA_WRITE:
		rc = -ENOTSUP;	/* no ioeventfds, no migration */
		break;
	case VFU_CMD_DMA_READ:
	case VFU_CMD_DMA_WRITE:
		rc = -EINVAL;	/* server-to-client commands */
		break;
	default:
		log_warn("%s: unknown vfio-user command %u", c->fn->vuid, h.cmd);
		rc = -ENOSYS;
		break;
	}
out:
	close_fds(fds, nfds);
	if (rc) {
		log_debug("%s: vfio-user command %u failed: %s", c->fn->vuid, h.cmd, strerror(-rc));
		if (send_error(c, &h, -rc))
			return -EPROTO;
	}
	return c->closing ? -EPROTO : 0;
}

static void gone_done(void *arg, int rc)
{
	(void)arg;
	(void)rc;
}

void vfu_conn_gone(struct vfu_conn *c)
{
	struct emu_function *fn = c->fn;
	log_info("%s: vfio-user client disconnected", fn->vuid);
	notify_fd_set(c, VFU_IRQ_INDEX_ERR, -1);
	notify_fd_set(c, VFU_IRQ_INDEX_REQ, -1);
	emu_msix_clear_all(fn);
	emu_fn_reset(fn, EMU_RESET_DISCONNECT);
	emu_mem_remove_all(fn, gone_done, NULL);
	emu_fn_client_event(fn, false);
}
