/* vfu_conformance: region access: bad REGION_READ/WRITE, posted writes,
 * REGION_WRITE_MULTI, NVMe doorbells. */
#include "vfu_conformance.h"

/* ---- region access ------------------------------------------------------------- */

void t_region_bad(void)
{
	uint8_t buf[8] = { 0 };
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	REQUIRE_RC(load_region_sizes());
	uint32_t absent = opt.virtio ? 0 : 2;
	uint64_t bsize = region_size[m.table_bir];
	REQUIRE_ERR(vfu_region_read(C, CFG, CFG_SPACE_SIZE, buf, 4), "config read at 4096");
	REQUIRE_ERR(vfu_region_read(C, CFG, CFG_SPACE_SIZE - 2, buf, 4), "config read across the end");
	REQUIRE_ERR(vfu_region_read(C, m.table_bir, bsize - 4, buf, 8), "BAR read across the end");
	REQUIRE_ERR(vfu_region_read(C, m.table_bir, 1ull << 62, buf, 4), "BAR read far out");
	REQUIRE_ERR(vfu_region_read(C, CFG, 0, buf, 0), "read of count 0");
	REQUIRE_ERR(vfu_region_read(C, 42, 0, buf, 4), "read of region 42");
	REQUIRE_ERR(vfu_region_read(C, NUM_REGIONS, 0, buf, 4), "read of region 9");
	REQUIRE_ERR(vfu_region_read(C, absent, 0, buf, 4), "read of an absent BAR");
	REQUIRE_ERR(vfu_region_write(C, CFG, CFG_SPACE_SIZE, buf, 4, false), "config write at 4096");
	REQUIRE_ERR(vfu_region_write(C, CFG, CFG_SPACE_SIZE - 2, buf, 4, false), "config write across the end");
	REQUIRE_ERR(vfu_region_write(C, m.table_bir, bsize - 4, buf, 8, false), "BAR write across the end");
	REQUIRE_ERR(vfu_region_write(C, CFG, 0, buf, 0, false), "write of count 0");
	REQUIRE_ERR(vfu_region_write(C, 42, 0, buf, 4, false), "write of region 42");
	REQUIRE_ERR(vfu_region_write(C, absent, 0, buf, 4, false), "write of an absent BAR");
	/* a write whose count does not match its data */
	{
		struct { struct vfu_msg_region_access a; uint8_t d[4]; } __attribute__((packed)) w = {
			.a = { .offset = 0, .region = CFG, .count = 8 },
		};
		REQUIRE_MSG(expect_error(C, VFU_CMD_REGION_WRITE, &w, sizeof(w), NULL, 0,
			    "count 8 with 4 bytes") == 0, "REGION_WRITE with a short payload accepted");
	}
	/* boundaries that are fine */
	REQUIRE_RC(vfu_region_read(C, CFG, CFG_SPACE_SIZE - 4, buf, 4));
	REQUIRE_RC(vfu_region_read(C, m.table_bir, bsize - 8, buf, 8));
	REQUIRE_RC(vfu_sync(C));
out:;
}

void t_posted_write(void)
{
	struct msix_layout m;
	REQUIRE_RC(msix_layout(&m));
	uint64_t data_off = m.table_off + 8;	/* vector 0 Message Data */
	uint32_t val = htole32(0x5a5a1234), got = 0;
	REQUIRE_RC(vfu_region_write(C, m.table_bir, data_off, &val, 4, true));
	REQUIRE_RC(vfu_sync(C));
	REQUIRE_RC(vfu_region_read(C, m.table_bir, data_off, &got, 4));
	REQUIRE_MSG(got == val, "posted write of 0x%08x reads back 0x%08x", le32toh(val), le32toh(got));
	/* a posted write that fails is not answered either: the sync gets its own reply */
	uint8_t b[4] = { 0 };
	REQUIRE_RC(vfu_region_write(C, 42, 0, b, 4, true));
	REQUIRE_RC(vfu_region_write(C, CFG, CFG_SPACE_SIZE, b, 4, true));
	REQUIRE_RC(vfu_sync(C));
	/* posted writes land in order */
	{
		uint32_t v1 = htole32(0x11111000), v2 = htole32(0x22222000);
		REQUIRE_RC(vfu_region_write(C, m.table_bir, m.table_off, &v1, 4, true));
		REQUIRE_RC(vfu_region_write(C, m.table_bir, m.table_off, &v2, 4, true));
		REQUIRE_RC(vfu_region_read(C, m.table_bir, m.table_off, &got, 4));
		REQUIRE_MSG(got == v2, "posted writes out of order: read 0x%08x", le32toh(got));
	}
out:;
}

void t_write_multi(void)
{
	struct msix_layout m;
	struct vfu_write w[64];
	uint8_t *shadow = NULL, *table = NULL;
	REQUIRE_RC(msix_layout(&m));
	REQUIRE_MSG(vfu_get_caps(C)->write_multiple, "write_multiple was not negotiated");
	size_t tlen = (size_t)m.n * MSIX_ENTRY;
	/* one write */
	memset(w, 0, sizeof(w));
	w[0] = (struct vfu_write){ .region = m.table_bir, .count = 4, .offset = m.table_off + 8 };
	uint32_t v = htole32(0xa5a5a5a5), got;
	memcpy(w[0].data, &v, 4);
	REQUIRE_RC(vfu_region_write_multi(C, w, 1, false));
	REQUIRE_RC(vfu_region_read(C, m.table_bir, m.table_off + 8, &got, 4));
	REQUIRE_MSG(got == v, "REGION_WRITE_MULTI of 1: read back 0x%08x", le32toh(got));
	/* 64 writes over the address/data dwords of the table (never Vector
	 * Control, never the low 2 address bits), mirrored in a shadow */
	shadow = malloc(tlen);
	table = malloc(tlen);
	REQUIRE_MSG(shadow && table, "out of memory");
	REQUIRE_RC(vfu_region_read(C, m.table_bir, m.table_off, shadow, tlen));
	for (int i = 0; i < 64; i++) {
		uint32_t dw = (uint32_t)i % (m.n * 3u);	/* dword index among 3 per vector */
		uint32_t off = dw / 3 * MSIX_ENTRY + dw % 3 * 4;
		uint32_t val = (0x1000u * (uint32_t)(i + 1)) | (dw % 3 == 0 ? 0 : 3u);
		uint32_t le = htole32(val);
		w[i] = (struct vfu_write){ .region = m.table_bir, .count = 4, .offset = m.table_off + off };
		memcpy(w[i].data, &le, 4);
		memcpy(shadow + off, &le, 4);
	}
	REQUIRE_RC(vfu_region_write_multi(C, w, 64, false));
	REQUIRE_RC(vfu_region_read(C, m.table_bir, m.table_off, table, tlen));
	REQUIRE_MSG(!memcmp(shadow, table, tlen), "table after 64 writes differs from what was written");
	/* 65 entries: refused (by hand, the library stops at 64) */
	{
		size_t plen = 8 + 65 * sizeof(struct vfu_msg_write_multi_entry);
		uint8_t *p = calloc(1, plen);
		REQUIRE_MSG(p, "out of memory");
		uint64_t cnt = 65;
		memcpy(p, &cnt, 8);
		for (int i = 0; i < 65; i++) {
			struct vfu_msg_write_multi_entry e = {
				.offset = m.table_off + 8, .region = m.table_bir, .count = 4,
			};
			memcpy(p + 8 + (size_t)i * sizeof(e), &e, sizeof(e));
		}
		int r = expect_error(C, VFU_CMD_REGION_WRITE_MULTI, p, plen, NULL, 0, "65 writes");
		free(p);
		REQUIRE_MSG(r == 0, "REGION_WRITE_MULTI of 65 writes accepted");
	}
	/* a count above 8 in an entry */
	{
		struct { struct vfu_msg_write_multi h; struct vfu_msg_write_multi_entry e; } __attribute__((packed))
			x = { .h = { 1 }, .e = { .offset = m.table_off + 8, .region = m.table_bir, .count = 9 } };
		REQUIRE_MSG(expect_error(C, VFU_CMD_REGION_WRITE_MULTI, &x, sizeof(x), NULL, 0, "count 9") == 0,
		            "REGION_WRITE_MULTI entry of 9 bytes accepted");
	}
	/* wr_cnt that disagrees with the size */
	{
		struct { struct vfu_msg_write_multi h; struct vfu_msg_write_multi_entry e; } __attribute__((packed))
			x = { .h = { 2 }, .e = { .offset = m.table_off + 8, .region = m.table_bir, .count = 4 } };
		REQUIRE_MSG(expect_error(C, VFU_CMD_REGION_WRITE_MULTI, &x, sizeof(x), NULL, 0,
			    "wr_cnt 2 with 1") == 0,
			    "REGION_WRITE_MULTI with wr_cnt beyond the message accepted");
	}
	REQUIRE_RC(vfu_sync(C));
out:
	free(shadow);
	free(table);
}

void t_doorbells(void)
{
	void *base = NULL;
	int rc = vfu_map_region(C, 0, &base);
	if (!opt.mmap_db) {
		REQUIRE_MSG(rc == -EOPNOTSUPP, "BAR0 mapping in trap mode: %d (%s), want EOPNOTSUPP", rc,
		            strerror(-rc));
		/* trapped doorbell writes are accepted */
		uint32_t v = htole32(7);
		REQUIRE_RC(vfu_region_write(C, 0, NVME_DOORBELL_OFF, &v, 4, false));
		goto out;
	}
	REQUIRE_RC(rc);
	volatile uint32_t *db = (volatile uint32_t *)((uint8_t *)base + NVME_DOORBELL_OFF);
	db[0] = htole32(0x11);		/* SQ0 tail */
	db[1] = htole32(0x22);		/* CQ0 head */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	uint32_t got[2];
	REQUIRE_RC(vfu_region_read(C, 0, NVME_DOORBELL_OFF, got, 8));
	REQUIRE_MSG(le32toh(got[0]) == 0x11 && le32toh(got[1]) == 0x22,
	            "doorbells written through the mapping read 0x%x 0x%x", le32toh(got[0]), le32toh(got[1]));
	/* the other direction */
	uint32_t v = htole32(0x33);
	REQUIRE_RC(vfu_region_write(C, 0, NVME_DOORBELL_OFF + 8, &v, 4, false));
	REQUIRE_MSG(le32toh(db[2]) == 0x33, "trapped write not visible through the mapping: 0x%x", le32toh(db[2]));
out:
	if (base)
		vfu_unmap_region(C, 0);
}
