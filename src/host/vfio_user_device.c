/* vfio-user client: device commands (information, regions, interrupts,
 * region access, client memory, reset) on top of vfu_xchg(). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "host/vfio_user_client_priv.h"

/* Initial argsz of DEVICE_GET_REGION_INFO: room for a few capabilities, so
 * that the usual reply fits and the retry path is the exception. */
#define VFU_REGION_INFO_ARGSZ0	(sizeof(struct vfu_msg_region_info) + 256)
#define VFU_CAP_MAX_HOPS	64

static struct iovec iov_of(const void *p, size_t len)
{
	return (struct iovec){ .iov_base = (void *)p, .iov_len = len };
}

/* Largest count of one REGION_READ/WRITE: the server's limit and ours. */
static size_t xfer_chunk(const struct vfu_client *c)
{
	uint64_t n = c->caps.max_data_xfer_size;
	return n < VFU_MAX_XFER ? (size_t)n : VFU_MAX_XFER;
}

/* ---- device information ---------------------------------------------------- */

int vfu_get_device_info(struct vfu_client *c, struct vfu_device_info *info)
{
	struct vfu_msg_device_info req = { .argsz = sizeof(req) }, rep;
	struct iovec iov = iov_of(&req, sizeof(req));
	struct vfu_reply r;
	int rc = vfu_xchg(c, VFU_CMD_DEVICE_GET_INFO, &iov, 1, NULL, 0, false, &r);
	if (rc)
		return rc;
	bool had_fds = r.nfds > 0;
	vfu_reply_close_fds(&r);
	if (had_fds || r.len != sizeof(rep))
		return -EPROTO;
	memcpy(&rep, r.payload, sizeof(rep));
	if (rep.argsz < sizeof(rep))
		return -EPROTO;
	info->flags = rep.flags;
	info->num_regions = rep.num_regions;
	info->num_irqs = rep.num_irqs;
	return 0;
}

int vfu_sync(struct vfu_client *c)
{
	struct vfu_device_info info;
	return vfu_get_device_info(c, &info);
}

/* ---- region information ---------------------------------------------------- */

/* Walk the capability chain of a region info reply of len bytes. */
static int parse_region_caps(const uint8_t *p, size_t len, uint32_t first,
			     struct vfu_region_info *info, struct vfu_sparse_area *areas,
			     uint32_t max_areas)
{
	uint32_t off = first;
	for (int hops = 0; off; hops++) {
		struct vfu_msg_cap_hdr ch;
		if (hops >= VFU_CAP_MAX_HOPS)
			return -EPROTO;	/* a loop, or absurdly many caps */
		if (off < sizeof(struct vfu_msg_region_info) || off > len - sizeof(ch))
			return -EPROTO;
		memcpy(&ch, p + off, sizeof(ch));
		if (ch.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP && !info->sparse) {
			struct vfu_msg_sparse_mmap sm;
			size_t body = off + sizeof(ch);
			if (ch.version != 1 || body > len - sizeof(sm))
				return -EPROTO;
			memcpy(&sm, p + body, sizeof(sm));
			body += sizeof(sm);
			if (sm.nr_areas > (len - body) / sizeof(struct vfu_msg_sparse_area))
				return -EPROTO;
			for (uint32_t i = 0; i < sm.nr_areas; i++) {
				struct vfu_msg_sparse_area a;
				memcpy(&a, p + body + i * sizeof(a), sizeof(a));
				if (a.offset > info->size || a.size > info->size - a.offset)
					return -EPROTO;
				if (i < max_areas)
					areas[i] = (struct vfu_sparse_area){ a.offset, a.size };
			}
			info->sparse = true;
			info->nr_areas = sm.nr_areas;
		}
		off = ch.next;
	}
	return 0;
}

/* Check one region info reply; *retry_argsz is set when the server needs a
 * larger argsz than argsz. */
static int check_region_info(const struct vfu_reply *r, uint32_t index, uint32_t argsz,
			     uint32_t *retry_argsz, struct vfu_region_info *info,
			     struct vfu_sparse_area *areas, uint32_t max_areas)
{
	struct vfu_msg_region_info rep;

	*retry_argsz = 0;
	if (r->len < sizeof(rep) || r->len > argsz)
		return -EPROTO;
	memcpy(&rep, r->payload, sizeof(rep));
	if (rep.index != index || rep.argsz < sizeof(rep))
		return -EPROTO;
	if (rep.argsz > argsz) {
		if (rep.argsz > VFU_REGION_INFO_MAX)
			return -EPROTO;
		*retry_argsz = rep.argsz;
		return 0;
	}
	if (r->len != rep.argsz)
		return -EPROTO;	/* the full payload fits, so it must all be there */
	bool mmap_ok = rep.flags & VFIO_REGION_INFO_FLAG_MMAP;
	if (r->nfds != (mmap_ok ? 1 : 0))
		return -EPROTO;
	*info = (struct vfu_region_info){
		.index = rep.index,
		.flags = rep.flags,
		.size = rep.size,
		.offset = rep.offset,
	};
	if (rep.flags & VFIO_REGION_INFO_FLAG_CAPS)
		return parse_region_caps(r->payload, r->len, rep.cap_offset, info, areas, max_areas);
	return 0;
}

int vfu_get_region_info(struct vfu_client *c, uint32_t index, struct vfu_region_info *info,
			struct vfu_sparse_area *areas, uint32_t max_areas, int *fd)
{
	uint32_t argsz = VFU_REGION_INFO_ARGSZ0;

	if (fd)
		*fd = -1;
	if (max_areas && !areas)
		return -EINVAL;
	/* Two rounds suffice for a server that states its size; a third allows
	 * for a region that grew between them. */
	for (int round = 0; round < 3; round++) {
		/* The request carries argsz bytes, the whole reply buffer (as
		 * SPDK's vfio-user driver sends it, and as an ioctl's argument
		 * would be); only its fixed part means anything. */
		struct vfu_msg_region_info req = { .argsz = argsz, .index = index };
		uint8_t *buf = calloc(1, argsz);
		if (!buf)
			return -ENOMEM;
		memcpy(buf, &req, sizeof(req));
		struct iovec iov = iov_of(buf, argsz);
		struct vfu_reply r;
		int rc = vfu_xchg(c, VFU_CMD_DEVICE_GET_REGION_INFO, &iov, 1, NULL, 0, false, &r);
		free(buf);
		if (rc)
			return rc;
		uint32_t retry;
		rc = check_region_info(&r, index, argsz, &retry, info, areas, max_areas);
		if (rc || retry) {
			vfu_reply_close_fds(&r);
			if (rc)
				return rc;
			argsz = retry;
			continue;
		}
		if (r.nfds && fd) {
			*fd = r.fds[0];
			r.nfds = 0;
		}
		vfu_reply_close_fds(&r);
		return 0;
	}
	return -EPROTO;
}

/* ---- region mapping -------------------------------------------------------- */

static struct vfu_mapping *find_mapping(struct vfu_client *c, uint32_t index)
{
	for (size_t i = 0; i < c->nmaps; i++)
		if (c->maps[i].index == index)
			return &c->maps[i];
	return NULL;
}

/* mmap the region (or its sparse areas) from fd; *base on success. */
static int map_areas(const struct vfu_region_info *info, const struct vfu_sparse_area *areas,
		     int fd, void **base)
{
	long page = sysconf(_SC_PAGESIZE);
	int prot = ((info->flags & VFIO_REGION_INFO_FLAG_READ) ? PROT_READ : 0) |
		   ((info->flags & VFIO_REGION_INFO_FLAG_WRITE) ? PROT_WRITE : 0);
	size_t len = (size_t)info->size;

	if (info->offset % (uint64_t)page)
		return -EINVAL;
	if (!info->sparse) {
		void *p = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)info->offset);
		if (p == MAP_FAILED)
			return -errno;
		*base = p;
		return 0;
	}
	uint8_t *b = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b == MAP_FAILED)
		return -errno;
	for (uint32_t i = 0; i < info->nr_areas; i++) {
		if (!areas[i].size)
			continue;
		if (areas[i].offset % (uint64_t)page) {
			munmap(b, len);
			return -EINVAL;
		}
		void *p = mmap(b + areas[i].offset, (size_t)areas[i].size, prot, MAP_SHARED | MAP_FIXED,
			       fd, (off_t)(info->offset + areas[i].offset));
		if (p == MAP_FAILED) {
			int err = errno;
			munmap(b, len);
			return -err;
		}
	}
	*base = b;
	return 0;
}

int vfu_map_region(struct vfu_client *c, uint32_t index, void **ptr)
{
	struct vfu_mapping *m = find_mapping(c, index);
	if (m) {
		*ptr = m->base;
		return 0;
	}
	struct vfu_region_info info;
	struct vfu_sparse_area few[16], *areas = few;
	int fd;
	int rc = vfu_get_region_info(c, index, &info, few, 16, &fd);
	if (rc)
		return rc;
	if (info.nr_areas > 16) {
		if (fd >= 0)
			close(fd);
		areas = calloc(info.nr_areas, sizeof(*areas));
		if (!areas)
			return -ENOMEM;
		uint32_t want = info.nr_areas;
		rc = vfu_get_region_info(c, index, &info, areas, want, &fd);
		if (!rc && info.nr_areas > want) {
			if (fd >= 0)
				close(fd);
			rc = -EAGAIN;	/* the area list keeps growing */
		}
		if (rc)
			goto out;
	}
	if (fd < 0) {
		rc = -EOPNOTSUPP;
		goto out;
	}
	if (!info.size || info.size > SIZE_MAX) {
		rc = -EINVAL;
		goto out_fd;
	}
	struct vfu_mapping *nm = realloc(c->maps, (c->nmaps + 1) * sizeof(*nm));
	if (!nm) {
		rc = -ENOMEM;
		goto out_fd;
	}
	c->maps = nm;
	void *base = NULL;
	rc = map_areas(&info, areas, fd, &base);
	if (!rc) {
		c->maps[c->nmaps++] = (struct vfu_mapping){ index, base, (size_t)info.size };
		*ptr = base;
	}
out_fd:
	close(fd);
out:
	if (areas != few)
		free(areas);
	return rc;
}

int vfu_unmap_region(struct vfu_client *c, uint32_t index)
{
	struct vfu_mapping *m = find_mapping(c, index);
	if (!m)
		return -ENOENT;
	munmap(m->base, m->len);
	*m = c->maps[--c->nmaps];
	return 0;
}

/* ---- interrupts ------------------------------------------------------------ */

int vfu_get_irq_info(struct vfu_client *c, uint32_t index, struct vfu_irq_info *info)
{
	struct vfu_msg_irq_info req = { .argsz = sizeof(req), .index = index }, rep;
	struct iovec iov = iov_of(&req, sizeof(req));
	struct vfu_reply r;
	int rc = vfu_xchg(c, VFU_CMD_DEVICE_GET_IRQ_INFO, &iov, 1, NULL, 0, false, &r);
	if (rc)
		return rc;
	bool had_fds = r.nfds > 0;
	vfu_reply_close_fds(&r);
	if (had_fds || r.len != sizeof(rep))
		return -EPROTO;
	memcpy(&rep, r.payload, sizeof(rep));
	if (rep.argsz < sizeof(rep) || rep.index != index)
		return -EPROTO;
	*info = (struct vfu_irq_info){ .index = rep.index, .flags = rep.flags, .count = rep.count };
	return 0;
}

/* One DEVICE_SET_IRQS message. */
static int set_irqs_one(struct vfu_client *c, uint32_t index, uint32_t flags, uint32_t start,
			uint32_t count, const int *fds, int nfds, const uint8_t *bools, size_t nbools)
{
	struct vfu_msg_irq_set req = {
		.argsz = (uint32_t)(sizeof(req) + nbools),
		.flags = flags,
		.index = index,
		.start = start,
		.count = count,
	};
	struct iovec iov[2] = { iov_of(&req, sizeof(req)), iov_of(bools, nbools) };
	struct vfu_reply r;
	int rc = vfu_xchg(c, VFU_CMD_DEVICE_SET_IRQS, iov, nbools ? 2 : 1, fds, nfds, false, &r);
	if (rc)
		return rc;
	bool bad = r.nfds > 0 || r.len != 0;
	vfu_reply_close_fds(&r);
	return bad ? -EPROTO : 0;
}

int vfu_set_irqs(struct vfu_client *c, uint32_t index, uint32_t flags, uint32_t start,
		 uint32_t count, const int *fds, const uint8_t *bools)
{
	uint32_t data = flags & VFIO_IRQ_SET_DATA_TYPE_MASK;

	if ((fds && data != VFIO_IRQ_SET_DATA_EVENTFD) || (bools && data != VFIO_IRQ_SET_DATA_BOOL))
		return -EINVAL;
	if (data == VFIO_IRQ_SET_DATA_BOOL) {
		if (count && !bools)
			return -EINVAL;
		if (count > VFU_MAX_XFER)
			return -EINVAL;
		return set_irqs_one(c, index, flags, start, count, NULL, 0, bools, count);
	}
	if (!fds || !count)	/* no data: DATA_NONE, de-assignment, or odd flags */
		return set_irqs_one(c, index, flags, start, count, NULL, 0, NULL, 0);

	uint32_t per = c->caps.max_msg_fds;
	for (uint32_t i = 0; i < count; i++)
		if (fds[i] < -1)
			return -EINVAL;
		else if (fds[i] >= 0 && !per)
			return -EOPNOTSUPP;
	/* vfio-user has no in-band "no fd" marker: as QEMU's vfio-user-pci
	 * does, send runs of valid fds and runs of -1 (vectors de-assigned:
	 * a message without fds) as separate messages of consecutive
	 * sub-ranges, each of at most max_msg_fds vectors, in order. */
	if (!per)
		per = count;
	for (uint32_t done = 0; done < count;) {
		bool valid = fds[done] >= 0;
		uint32_t n = 1;
		while (done + n < count && n < per && (fds[done + n] >= 0) == valid)
			n++;
		int rc = set_irqs_one(c, index, flags, start + done, n, valid ? fds + done : NULL,
				      valid ? (int)n : 0, NULL, 0);
		if (rc)
			return rc;
		done += n;
	}
	return 0;
}

/* ---- region access --------------------------------------------------------- */

int vfu_region_read(struct vfu_client *c, uint32_t index, uint64_t off, void *buf, size_t len)
{
	size_t chunk = xfer_chunk(c), done = 0;

	do {
		size_t n = len - done < chunk ? len - done : chunk;
		struct vfu_msg_region_access req = {
			.offset = off + done, .region = index, .count = (uint32_t)n,
		}, rep;
		struct iovec iov = iov_of(&req, sizeof(req));
		struct vfu_reply r;
		int rc = vfu_xchg(c, VFU_CMD_REGION_READ, &iov, 1, NULL, 0, false, &r);
		if (rc)
			return rc;
		bool had_fds = r.nfds > 0;
		vfu_reply_close_fds(&r);
		if (had_fds || r.len != sizeof(rep) + n)
			return -EPROTO;
		memcpy(&rep, r.payload, sizeof(rep));
		if (rep.offset != req.offset || rep.region != index || rep.count != n)
			return -EPROTO;
		if (n)
			memcpy((uint8_t *)buf + done, r.payload + sizeof(rep), n);
		done += n;
	} while (done < len);
	return 0;
}

int vfu_region_write(struct vfu_client *c, uint32_t index, uint64_t off, const void *buf,
		     size_t len, bool posted)
{
	size_t chunk = xfer_chunk(c), done = 0;

	do {
		size_t n = len - done < chunk ? len - done : chunk;
		struct vfu_msg_region_access req = {
			.offset = off + done, .region = index, .count = (uint32_t)n,
		}, rep;
		struct iovec iov[2] = { iov_of(&req, sizeof(req)),
					iov_of((const uint8_t *)buf + done, n) };
		struct vfu_reply r;
		int rc = vfu_xchg(c, VFU_CMD_REGION_WRITE, iov, 2, NULL, 0, posted, &r);
		if (rc)
			return rc;
		if (!posted) {
			bool had_fds = r.nfds > 0;
			vfu_reply_close_fds(&r);
			if (had_fds || r.len != sizeof(rep))
				return -EPROTO;
			memcpy(&rep, r.payload, sizeof(rep));
			if (rep.offset != req.offset || rep.region != index || rep.count != n)
				return -EPROTO;
		}
		done += n;
	} while (done < len);
	return 0;
}

int vfu_region_write_multi(struct vfu_client *c, const struct vfu_write *wrs, size_t n,
			   bool posted)
{
	struct vfu_msg_write_multi hdr = { .wr_cnt = n }, rep;
	struct vfu_msg_write_multi_entry e[VFU_WRITE_MULTI_MAX];

	if (c->broken)
		return -ENOTCONN;
	if (!c->caps.write_multiple)
		return -EOPNOTSUPP;
	if (n == 0 || n > VFU_WRITE_MULTI_MAX)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		if (wrs[i].count == 0 || wrs[i].count > VFU_WRITE_MULTI_DATA)
			return -EINVAL;
		e[i] = (struct vfu_msg_write_multi_entry){
			.offset = wrs[i].offset, .region = wrs[i].region, .count = wrs[i].count,
		};
		memcpy(e[i].data, wrs[i].data, wrs[i].count);
	}
	struct iovec iov[2] = { iov_of(&hdr, sizeof(hdr)), iov_of(e, n * sizeof(e[0])) };
	struct vfu_reply r;
	int rc = vfu_xchg(c, VFU_CMD_REGION_WRITE_MULTI, iov, 2, NULL, 0, posted, &r);
	if (rc || posted)
		return rc;
	bool had_fds = r.nfds > 0;
	vfu_reply_close_fds(&r);
	if (had_fds || r.len != sizeof(rep))
		return -EPROTO;
	memcpy(&rep, r.payload, sizeof(rep));
	return rep.wr_cnt == n ? 0 : -EIO;
}

/* ---- client memory --------------------------------------------------------- */

int vfu_dma_map(struct vfu_client *c, uint64_t iova, uint64_t size, int fd, uint64_t file_offset,
		uint32_t prot)
{
	struct vfu_msg_dma_map req = {
		.argsz = sizeof(req),
		.flags = prot,
		.offset = file_offset,
		.address = iova,
		.size = size,
	};
	if (fd >= 0 && c->caps.max_msg_fds < 1)
		return -EOPNOTSUPP;
	struct iovec iov = iov_of(&req, sizeof(req));
	struct vfu_reply r;
	int rc = vfu_xchg(c, VFU_CMD_DMA_MAP, &iov, 1, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0,
			  false, &r);
	if (rc)
		return rc;
	bool bad = r.nfds > 0 || r.len != 0;
	vfu_reply_close_fds(&r);
	return bad ? -EPROTO : 0;
}

int vfu_dma_unmap(struct vfu_client *c, uint64_t iova, uint64_t size)
{
	struct vfu_msg_dma_unmap req = { .argsz = sizeof(req), .address = iova, .size = size }, rep;
	struct iovec iov = iov_of(&req, sizeof(req));
	struct vfu_reply r;
	int rc = vfu_xchg(c, VFU_CMD_DMA_UNMAP, &iov, 1, NULL, 0, false, &r);
	if (rc)
		return rc;
	bool had_fds = r.nfds > 0;
	vfu_reply_close_fds(&r);
	if (had_fds)
		return -EPROTO;
	/* The specification has the server echo the entry; an empty reply is
	 * accepted as well. */
	if (r.len == 0)
		return 0;
	if (r.len != sizeof(rep))
		return -EPROTO;
	memcpy(&rep, r.payload, sizeof(rep));
	return (rep.address == iova && rep.size == size) ? 0 : -EPROTO;
}

int vfu_device_reset(struct vfu_client *c)
{
	struct vfu_reply r;
	int rc = vfu_xchg(c, VFU_CMD_DEVICE_RESET, NULL, 0, NULL, 0, false, &r);
	if (rc)
		return rc;
	bool bad = r.nfds > 0 || r.len != 0;
	vfu_reply_close_fds(&r);
	return bad ? -EPROTO : 0;
}
