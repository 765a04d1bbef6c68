/* vfu_conformance: DMA_MAP and DMA_UNMAP: good, bad, without a file descriptor, the
 * wrong range. */
#include "vfu_conformance.h"

/* ---- DMA --------------------------------------------------------------------- */

void t_dma_map(void)
{
	struct host_mem *m = NULL;
	REQUIRE_RC(host_mem_create(2 * MIB, &m));
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	/* overlaps: same start, inside, straddling either end */
	int rc = vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "same range mapped twice: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_A + 0x1000, 0x1000, m->fd, 0x1000, RW);
	REQUIRE_MSG(rc == -EEXIST, "range inside a mapping: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_A - 0x1000, 0x2000, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "range over the start of a mapping: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_A + MIB - 0x1000, 0x2000, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "range over the end of a mapping: %d (%s), want EEXIST", rc, strerror(-rc));
	/* adjacent is fine, read-only too */
	REQUIRE_RC(vfu_dma_map(C, IOVA_A + MIB, MIB, m->fd, MIB, VFU_PROT_READ));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A + MIB, MIB));
	/* exact unmap, then the range is free again */
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A, MIB));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_A, MIB), "unmap of a range already unmapped");
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A, MIB));
	REQUIRE_RC(vfu_sync(C));
out:
	host_mem_destroy(m);
}

void t_dma_bad(void)
{
	struct host_mem *m = NULL, *small = NULL;
	REQUIRE_RC(host_mem_create(MIB, &m));
	REQUIRE_RC(host_mem_create(0x2000, &small));
	/* ranges the fd's file does not cover: touching them would SIGBUS the server */
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x4000, small->fd, 0, RW), "map of 16 KiB of an 8 KiB file");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x2000, small->fd, 0x1000, RW), "map running past the end of the file");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x1000, small->fd, 0x2000, RW), "map at the end of the file");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B + 0x200, 0x1000, m->fd, 0, RW), "unaligned address");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x1800, m->fd, 0, RW), "unaligned size");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x1000, m->fd, 0x10, RW), "unaligned file offset");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0, m->fd, 0, RW), "size 0");
	REQUIRE_ERR(vfu_dma_map(C, 0xfffffffffffff000ull, 0x2000, m->fd, 0, RW), "range wrapping around");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0x1000, m->fd, 0, 0x4), "unknown protection flag");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B + 0x200, 0x1000, -1, 0, RW), "unaligned address without an fd");
	REQUIRE_ERR(vfu_dma_map(C, IOVA_B, 0, -1, 0, RW), "size 0 without an fd");
	/* two fds for one region: EINVAL */
	{
		struct vfu_msg_dma_map dm = { .argsz = sizeof(dm), .flags = RW, .address = IOVA_B,
					      .size = 0x1000 };
		int two[2] = { m->fd, small->fd };
		uint16_t id = vfu_next_msg_id(C);
		struct raw_reply r;
		REQUIRE_RC(raw_cmd(C, id, VFU_CMD_DMA_MAP, VFU_F_TYPE_COMMAND, &dm, sizeof(dm), two, 2));
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id && (r.h.flags & VFU_F_ERROR) && r.h.error == EINVAL,
		            "DMA_MAP with 2 fds: reply id %u flags 0x%x errno %u, want EINVAL", r.h.msg_id, r.h.flags,
		            r.h.error);
	}
	/* nothing of that was mapped: the range can be mapped now */
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x1000, m->fd, 0, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x1000));
	/* the whole small file, at an offset, is fine */
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x1000, small->fd, 0x1000, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x1000));
	REQUIRE_RC(vfu_sync(C));
out:
	host_mem_destroy(small);
	host_mem_destroy(m);
}

/* DMA_MAP without an fd: QEMU maps memory it does not share (a VM's
 * firmware ROM) so. The server records the range (so that its unmap
 * succeeds and overlaps are refused) though it cannot reach into it. */
void t_dma_fdless(void)
{
	struct host_mem *m = NULL;
	REQUIRE_RC(host_mem_create(MIB, &m));
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x40000, -1, 0, VFU_PROT_READ));
	/* overlaps with it are refused, whatever backs either side */
	int rc = vfu_dma_map(C, IOVA_B, 0x40000, -1, 0, VFU_PROT_READ);
	REQUIRE_MSG(rc == -EEXIST, "fd-less range mapped twice: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_B + 0x10000, 0x1000, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "fd range inside an fd-less one: %d (%s), want EEXIST", rc, strerror(-rc));
	rc = vfu_dma_map(C, IOVA_B - 0x1000, 0x2000, m->fd, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "fd range over the start of an fd-less one: %d (%s), want EEXIST", rc,
	            strerror(-rc));
	rc = vfu_dma_map(C, IOVA_B + 0x3f000, 0x2000, -1, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "fd-less range over the end of an fd-less one: %d (%s), want EEXIST", rc,
	            strerror(-rc));
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	rc = vfu_dma_map(C, IOVA_A + MIB - 0x1000, 0x2000, -1, 0, RW);
	REQUIRE_MSG(rc == -EEXIST, "fd-less range over the end of an fd one: %d (%s), want EEXIST", rc,
	            strerror(-rc));
	/* adjacent is fine on both sides */
	REQUIRE_RC(vfu_dma_map(C, IOVA_A + MIB, 0x1000, -1, 0, RW));
	REQUIRE_RC(vfu_dma_map(C, IOVA_B + 0x40000, 0x1000, m->fd, 0, RW));
	/* only the exact range unmaps */
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_B, 0x1000), "unmap of part of an fd-less range");
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_B, 0x80000), "unmap of more than an fd-less range");
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x40000));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_B, 0x40000), "unmap of an fd-less range already unmapped");
	/* the range is free again, for either kind */
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x40000, m->fd, 0, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x40000));
	REQUIRE_RC(vfu_dma_map(C, IOVA_B, 0x40000, -1, 0, RW));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B, 0x40000));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_B + 0x40000, 0x1000));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A + MIB, 0x1000));
	REQUIRE_RC(vfu_dma_unmap(C, IOVA_A, MIB));
	REQUIRE_RC(vfu_sync(C));
out:
	host_mem_destroy(m);
}

void t_dma_unmap_wrong(void)
{
	struct host_mem *m = NULL;
	REQUIRE_RC(host_mem_create(MIB, &m));
	REQUIRE_RC(vfu_dma_map(C, IOVA_A, MIB, m->fd, 0, RW));
	/* not the mapped range: an error, and the next request gets its own reply */
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_A, 0x1000), "unmap of part of a mapping");
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_A + 0x1000, MIB), "unmap of a shifted range");
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_ERR(vfu_dma_unmap(C, IOVA_B, MIB), "unmap of a range never mapped");
	{
		struct vfu_device_info info;
		REQUIRE_RC(vfu_get_device_info(C, &info));
		REQUIRE_MSG(info.num_regions == NUM_REGIONS, "reply after a failed unmap is not ours");
	}
	/* a failed unmap with another request right behind it, unanswered yet */
	{
		struct vfu_msg_dma_unmap u = { .argsz = sizeof(u), .address = IOVA_B, .size = MIB };
		struct vfu_msg_device_info di = { .argsz = sizeof(di) };
		struct raw_reply r;
		uint16_t id1 = vfu_next_msg_id(C), id2 = vfu_next_msg_id(C);
		REQUIRE_RC(raw_cmd(C, id1, VFU_CMD_DMA_UNMAP, VFU_F_TYPE_COMMAND, &u, sizeof(u), NULL, 0));
		REQUIRE_RC(raw_cmd(C, id2, VFU_CMD_DEVICE_GET_INFO, VFU_F_TYPE_COMMAND, &di, sizeof(di), NULL, 0));
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id1 && r.h.command == VFU_CMD_DMA_UNMAP && (r.h.flags & VFU_F_ERROR),
			    "first reply: id %u command %u flags 0x%x, want the unmap's error", r.h.msg_id,
			    r.h.command, r.h.flags);
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id2 && r.h.command == VFU_CMD_DEVICE_GET_INFO && !(r.h.flags & VFU_F_ERROR),
		            "second reply: id %u command %u flags 0x%x, want DEVICE_GET_INFO's", r.h.msg_id,
		            r.h.command, r.h.flags);
		struct raw_reply extra;
		int rc = raw_recv(C, &extra, 200);
		REQUIRE_MSG(rc == -ETIMEDOUT, "an extra message after the replies: %d", rc);
	}
	/* a successful unmap with a request right behind it */
	{
		struct vfu_msg_dma_unmap u = { .argsz = sizeof(u), .address = IOVA_A, .size = MIB };
		struct vfu_msg_device_info di = { .argsz = sizeof(di) };
		struct raw_reply r;
		uint16_t id1 = vfu_next_msg_id(C), id2 = vfu_next_msg_id(C);
		REQUIRE_RC(raw_cmd(C, id1, VFU_CMD_DMA_UNMAP, VFU_F_TYPE_COMMAND, &u, sizeof(u), NULL, 0));
		REQUIRE_RC(raw_cmd(C, id2, VFU_CMD_DEVICE_GET_INFO, VFU_F_TYPE_COMMAND, &di, sizeof(di), NULL, 0));
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id1 && r.h.command == VFU_CMD_DMA_UNMAP && !(r.h.flags & VFU_F_ERROR),
		            "first reply: id %u command %u flags 0x%x error %u, want the unmap's success", r.h.msg_id,
		            r.h.command, r.h.flags, r.h.error);
		REQUIRE_RC(raw_recv(C, &r, 3000));
		REQUIRE_MSG(r.h.msg_id == id2 && r.h.command == VFU_CMD_DEVICE_GET_INFO && !(r.h.flags & VFU_F_ERROR),
		            "second reply: id %u command %u flags 0x%x, want DEVICE_GET_INFO's", r.h.msg_id,
		            r.h.command, r.h.flags);
	}
	REQUIRE_RC(vfu_sync(C));
out:
	host_mem_destroy(m);
}
