/* vfu_conformance: DEVICE_GET_INFO, regions (DEVICE_GET_REGION_INFO) and interrupts
 * (DEVICE_GET_IRQ_INFO). */
#include <unistd.h>

#include "vfu_conformance.h"

void t_device_info(void)
{
	struct vfu_device_info info;
	REQUIRE_RC(vfu_get_device_info(C, &info));
	REQUIRE_MSG((info.flags & (VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI)) ==
	            (VFIO_DEVICE_FLAGS_RESET | VFIO_DEVICE_FLAGS_PCI), "flags 0x%x", info.flags);
	REQUIRE_MSG(info.num_regions == NUM_REGIONS, "num_regions %u", info.num_regions);
	REQUIRE_MSG(info.num_irqs == NUM_IRQS, "num_irqs %u", info.num_irqs);
	struct vfu_msg_device_info bad = { .argsz = 8 };
	REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_GET_INFO, &bad, sizeof(bad), NULL, 0, "argsz 8") == 0,
	            "DEVICE_GET_INFO with argsz < 16 must fail");
	/* a payload of argsz bytes (a client's whole reply buffer) is fine:
	 * the same answer as with the bare structure */
	{
		struct vfu_msg_device_info rq = { .argsz = sizeof(rq) };
		struct raw_reply r16, r256;
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_INFO, &rq, sizeof(rq), 16, 16, &r16, "payload 16") == 0,
		            "DEVICE_GET_INFO with a payload of 16 bytes failed");
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_INFO, &rq, sizeof(rq), 256, 256, &r256,
				         "payload 256") == 0, "DEVICE_GET_INFO with argsz = payload = 256 failed");
		REQUIRE_MSG(r16.len == sizeof(r16.h) + 16 && r256.len == r16.len &&
		            !memcmp(r16.data, r256.data, 16),
		            "DEVICE_GET_INFO answers differ for payloads of 16 and 256 bytes (%zu, %zu bytes)",
		            r16.len, r256.len);
		struct vfu_msg_device_info got;
		memcpy(&got, r256.data, sizeof(got));
		REQUIRE_MSG(got.argsz == 16 && got.num_regions == NUM_REGIONS && got.num_irqs == NUM_IRQS,
		            "DEVICE_GET_INFO for argsz 256: argsz %u regions %u irqs %u", got.argsz,
		            got.num_regions, got.num_irqs);
		/* shorter than the structure: EINVAL */
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_INFO, &rq, 12, EINVAL, "payload 12") == 0,
		            "DEVICE_GET_INFO with a payload of 12 bytes not refused with EINVAL");
	}
	REQUIRE_RC(vfu_sync(C));
out:;
}

void t_region_info(void)
{
	int fd = -1;
	for (uint32_t i = 0; i < NUM_REGIONS; i++) {
		struct vfu_region_info info;
		struct vfu_sparse_area areas[4];
		REQUIRE_RC(vfu_get_region_info(C, i, &info, areas, 4, &fd));
		region_size[i] = info.size;
		uint64_t want = 0;	/* 0: absent; UINT64_MAX: present, size checked later */
		if (i == CFG)
			want = CFG_SPACE_SIZE;
		else if (!opt.virtio && i == 0)
			want = NVME_BAR0_SIZE;
		else if ((int)i == msix_bar_expected())
			want = UINT64_MAX;
		else if (opt.virtio && i == VIRTIO_CAP_BAR)
			want = UINT64_MAX;
		if (want == UINT64_MAX) {
			REQUIRE_MSG(info.size >= 4096 && !(info.size & (info.size - 1)),
			            "region %u: size 0x%llx is not a power of two >= 4 KiB", i,
			            (unsigned long long)info.size);
		} else {
			REQUIRE_MSG(info.size == want, "region %u: size 0x%llx, want 0x%llx", i,
			            (unsigned long long)info.size, (unsigned long long)want);
		}
		if (info.size) {
			REQUIRE_MSG((info.flags & (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE)) ==
			            (VFIO_REGION_INFO_FLAG_READ | VFIO_REGION_INFO_FLAG_WRITE),
			            "region %u: flags 0x%x lack READ|WRITE", i, info.flags);
		}
		bool db = !opt.virtio && i == 0 && opt.mmap_db;
		if (db) {
			REQUIRE_MSG((info.flags & (VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS)) ==
			            (VFIO_REGION_INFO_FLAG_MMAP | VFIO_REGION_INFO_FLAG_CAPS),
			            "BAR0 flags 0x%x: mmap doorbells need MMAP|CAPS", info.flags);
			REQUIRE_MSG(info.sparse && info.nr_areas == 1, "BAR0: sparse %d with %u areas, want 1 area",
			            info.sparse, info.nr_areas);
			REQUIRE_MSG(areas[0].offset == NVME_DOORBELL_OFF && areas[0].size == NVME_DOORBELL_SIZE,
			            "BAR0 sparse area 0x%llx+0x%llx, want the doorbell page 0x1000+0x1000",
			            (unsigned long long)areas[0].offset, (unsigned long long)areas[0].size);
			REQUIRE_MSG(fd >= 0, "BAR0 is mappable but came without an fd");
		} else {
			REQUIRE_MSG(!(info.flags & VFIO_REGION_INFO_FLAG_MMAP), "region %u: flags 0x%x offer MMAP", i,
			            info.flags);
			REQUIRE_MSG(fd < 0, "region %u is not mappable but came with an fd", i);
		}
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	{
		struct vfu_region_info info;
		REQUIRE_ERR(vfu_get_region_info(C, NUM_REGIONS, &info, NULL, 0, NULL), "region index 9");
		REQUIRE_ERR(vfu_get_region_info(C, 42, &info, NULL, 0, NULL), "region index 42");
	}
	/* argsz smaller than the structure */
	struct vfu_msg_region_info bad = { .argsz = 16, .index = 0 };
	REQUIRE_MSG(expect_error(C, VFU_CMD_DEVICE_GET_REGION_INFO, &bad, sizeof(bad), NULL, 0, "argsz 16") == 0,
	            "GET_REGION_INFO with argsz 16 must fail");
	/* A payload of argsz bytes, the client's whole reply buffer (SPDK's
	 * vfio-user driver sends it so): the same answer as with the bare
	 * 32-byte structure and the same argsz, for every region. */
	for (uint32_t i = 0; i < NUM_REGIONS; i++) {
		struct vfu_msg_region_info rq = { .index = i };
		struct raw_reply r32, r256;
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_REGION_INFO, &rq, sizeof(rq), 256, 32, &r32,
				         "argsz 256, payload 32") == 0, "GET_REGION_INFO %u, payload 32 failed", i);
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_REGION_INFO, &rq, sizeof(rq), 256, 256, &r256,
				         "argsz 256, payload 256") == 0,
		            "GET_REGION_INFO %u with argsz = payload = 256 failed", i);
		REQUIRE_MSG(r32.len >= sizeof(r32.h) + 32 && r256.len == r32.len &&
		            !memcmp(r32.data, r256.data, r32.len - sizeof(r32.h)),
		            "GET_REGION_INFO %u answers differ for payloads of 32 and 256 bytes (%zu, %zu bytes)", i,
		            r32.len, r256.len);
		struct vfu_msg_region_info got;
		memcpy(&got, r256.data, sizeof(got));
		REQUIRE_MSG(got.index == i && got.size == region_size[i], "GET_REGION_INFO %u, payload 256: index %u "
		            "size 0x%llx, want size 0x%llx", i, got.index, (unsigned long long)got.size,
		            (unsigned long long)region_size[i]);
		/* and with argsz 32 the fixed part is the same */
		struct raw_reply rs;
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_REGION_INFO, &rq, sizeof(rq), 32, 32, &rs,
				         "argsz 32") == 0, "GET_REGION_INFO %u with argsz 32 failed", i);
		struct vfu_msg_region_info small;
		memcpy(&small, rs.data, sizeof(small));
		/* as VFIO (and libvfio-user): capabilities, and the CAPS flag
		 * with them, only when they fit; the reply's argsz then says how
		 * big the buffer must be (QEMU refuses CAPS with cap_offset 0) */
		REQUIRE_MSG(small.flags == (got.flags & ~VFIO_REGION_INFO_FLAG_CAPS) && small.size == got.size &&
		            small.offset == got.offset && small.cap_offset == 0 && small.argsz == got.argsz,
		            "GET_REGION_INFO %u: argsz 32 gives flags 0x%x size 0x%llx argsz %u cap_offset %u, "
		            "argsz 256 flags 0x%x size 0x%llx argsz %u", i, small.flags,
		            (unsigned long long)small.size, small.argsz, small.cap_offset, got.flags,
		            (unsigned long long)got.size, got.argsz);
	}
	/* a payload shorter than the structure: EINVAL */
	{
		struct vfu_msg_region_info rq = { .argsz = 32, .index = 0 };
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_REGION_INFO, &rq, 16, EINVAL, "payload 16") == 0,
		            "GET_REGION_INFO with a payload of 16 bytes not refused with EINVAL");
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_REGION_INFO, &rq, 31, EINVAL, "payload 31") == 0,
		            "GET_REGION_INFO with a payload of 31 bytes not refused with EINVAL");
	}
	REQUIRE_RC(vfu_sync(C));
out:
	if (fd >= 0)
		close(fd);
}

void t_irq_info(void)
{
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	for (uint32_t i = 0; i < NUM_IRQS; i++) {
		struct vfu_irq_info info;
		REQUIRE_RC(vfu_get_irq_info(C, i, &info));
		if (i == VFIO_PCI_MSIX_IRQ_INDEX) {
			REQUIRE_MSG(info.count == m.n, "MSI-X count %u, capability table size %u", info.count, m.n);
			if (opt.msix >= 0)
				REQUIRE_MSG(info.count == (uint32_t)opt.msix, "MSI-X count %u, want %d", info.count,
				            opt.msix);
			REQUIRE_MSG(info.flags & VFIO_IRQ_INFO_EVENTFD, "MSI-X flags 0x%x lack EVENTFD", info.flags);
			/* vectors are masked through SET_IRQS, not the table */
			REQUIRE_MSG(info.flags & VFIO_IRQ_INFO_MASKABLE, "MSI-X flags 0x%x lack MASKABLE",
			            info.flags);
		} else if (i == VFIO_PCI_INTX_IRQ_INDEX || i == VFIO_PCI_MSI_IRQ_INDEX) {
			/* no INTx (Interrupt Pin 0) and no MSI capability */
			REQUIRE_MSG(info.count == 0, "IRQ index %u: count %u, the function has none", i, info.count);
		}
	}
	struct vfu_irq_info info;
	REQUIRE_ERR(vfu_get_irq_info(C, NUM_IRQS, &info), "IRQ index 5");
	REQUIRE_ERR(vfu_get_irq_info(C, 42, &info), "IRQ index 42");
	/* a payload of argsz bytes: the same answer as with the bare structure */
	for (uint32_t i = 0; i < NUM_IRQS; i++) {
		struct vfu_msg_irq_info rq = { .index = i };
		struct raw_reply r16, r256;
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_IRQ_INFO, &rq, sizeof(rq), 16, 16, &r16,
			    "payload 16") == 0, "GET_IRQ_INFO %u with a payload of 16 bytes failed", i);
		REQUIRE_MSG(info_request(VFU_CMD_DEVICE_GET_IRQ_INFO, &rq, sizeof(rq), 256, 256, &r256,
				         "payload 256") == 0, "GET_IRQ_INFO %u with argsz = payload = 256 failed", i);
		REQUIRE_MSG(r16.len == sizeof(r16.h) + 16 && r256.len == r16.len &&
		            !memcmp(r16.data, r256.data, 16),
		            "GET_IRQ_INFO %u answers differ for payloads of 16 and 256 bytes (%zu, %zu bytes)", i,
		            r16.len, r256.len);
	}
	{
		struct vfu_msg_irq_info rq = { .argsz = 16, .index = VFIO_PCI_MSIX_IRQ_INDEX };
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_IRQ_INFO, &rq, 12, EINVAL, "payload 12") == 0,
		            "GET_IRQ_INFO with a payload of 12 bytes not refused with EINVAL");
		rq.argsz = 8;
		REQUIRE_MSG(expect_errno(C, VFU_CMD_DEVICE_GET_IRQ_INFO, &rq, 16, EINVAL, "argsz 8") == 0,
		            "GET_IRQ_INFO with argsz 8 not refused with EINVAL");
	}
	REQUIRE_RC(vfu_sync(C));
out:;
}
