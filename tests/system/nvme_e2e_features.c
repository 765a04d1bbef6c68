/* nvme_e2e: Get/Set Features, one case per feature, Keep Alive and saved features. */
#include "nvme_e2e.h"

/* ---- features ---------------------------------------------------------------------------------- */

#define FEAT_TIMESTAMP	0x0e
#define FEAT_KATO	0x0f

/* Number of Queues: Invalid Field for 65535; Command Sequence Error once I/O
 * queues were created, even after they are deleted again ("the value
 * allocated shall not change between resets"); allowed again after a
 * controller reset. */
void case_feat_num_queues(void)
{
	struct open_opts oo = { .no_enable = true };
	struct nvme_host *h = open_ctrl(&oo);
	struct mini m;
	struct nvme_cqe c;
	void *ring = NULL;
	uint64_t ring_iova = 0;
	REQUIRE(h);
	REQUIRE_OK(mini_setup(h, &m));
	REQUIRE_OK(wait_rdy(h, true, (int)cap_to_ms(h), NULL));
	ring = xalloc(h, 8192, 4096, &ring_iova);
	REQUIRE(ring);

	struct nvme_sqe s = { .opc = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	s.cdw11 = 0xffffu;	/* NSQR 65535 */
	EXPECT_ST(mini_cmd(&m, &s, NULL), 0, NVME_SC_INVALID_FIELD);
	s.cdw11 = 0xffffu << 16;	/* NCQR 65535 */
	EXPECT_ST(mini_cmd(&m, &s, NULL), 0, NVME_SC_INVALID_FIELD);
	s.cdw11 = 0;			/* one of each */
	REQUIRE_OK(mini_cmd(&m, &s, &c));
	uint32_t alloc = c.dw0;
	diag("allocated NSQA %u NCQA %u (0-based)", alloc & 0xffff, alloc >> 16);
	struct nvme_sqe g = { .opc = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_NUM_QUEUES };
	REQUIRE_OK(mini_cmd(&m, &g, &c));
	CHECK_EQ(c.dw0, alloc);

	/* create CQ 1 + SQ 1, then the feature is locked */
	struct nvme_sqe q = { .opc = NVME_ADM_CREATE_CQ, .cdw10 = 1u | (15u << 16), .cdw11 = NVME_CQ_PC };
	q.dptr.prp1 = ring_iova;
	REQUIRE_OK(mini_cmd(&m, &q, NULL));
	struct nvme_sqe q2 = { .opc = NVME_ADM_CREATE_SQ, .cdw10 = 1u | (15u << 16),
			       .cdw11 = NVME_SQ_PC | (1u << NVME_SQ_CQID_SHIFT) };
	q2.dptr.prp1 = ring_iova + 4096;
	REQUIRE_OK(mini_cmd(&m, &q2, NULL));
	s.cdw11 = 0;
	EXPECT_ST(mini_cmd(&m, &s, NULL), 0, NVME_SC_CMD_SEQ_ERROR);
	struct nvme_sqe d = { .opc = NVME_ADM_DELETE_SQ, .cdw10 = 1 };
	EXPECT_OK(mini_cmd(&m, &d, NULL));
	d.opc = NVME_ADM_DELETE_CQ;
	EXPECT_OK(mini_cmd(&m, &d, NULL));
	EXPECT_ST(mini_cmd(&m, &s, NULL), 0, NVME_SC_CMD_SEQ_ERROR);
	REQUIRE_OK(mini_cmd(&m, &g, &c));
	CHECK_EQ(c.dw0, alloc);

	/* a controller reset unlocks it */
	REQUIRE_OK(ctrl_off(h));
	REQUIRE_OK(mini_setup(h, &m));
	REQUIRE_OK(wait_rdy(h, true, (int)cap_to_ms(h), NULL));
	EXPECT_OK(mini_cmd(&m, &s, NULL));
	REQUIRE_OK(ctrl_off(h));
	/* the driver's own bring-up still works */
	REQUIRE_OK(nvme_host_enable(h));
	CHECK(write_verify(h, 1, O.nsid, 8, 8, O.seed));
out:
	nvme_host_close(h);
}

void case_feat_arbitration(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	uint32_t v = 0x04030203u;	/* HPW 4, MPW 3, LPW 2, AB 3 */
	EXPECT_OK(setf(h, NVME_FEAT_ARBITRATION, v, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_ARBITRATION, NVME_FEAT_SEL_CURRENT, 0, &dw0));
	CHECK_EQ(dw0, v);
out:
	nvme_host_close(h);
}

void case_feat_power(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0xffff;
	REQUIRE(h);
	uint8_t npss = nvme_host_id_ctrl(h)->npss;
	EXPECT_ST(setf(h, NVME_FEAT_POWER_MGMT, npss + 1u, NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(setf(h, NVME_FEAT_POWER_MGMT, 31, NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_OK(setf(h, NVME_FEAT_POWER_MGMT, 0, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_POWER_MGMT, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0x1f, 0);
out:
	nvme_host_close(h);
}

void case_feat_temp(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	EXPECT_OK(setf(h, NVME_FEAT_TEMP_THRESH, 350, NULL));		/* over, composite */
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0xffff, 350);
	EXPECT_OK(setf(h, NVME_FEAT_TEMP_THRESH, 260 | (1u << 20), NULL));	/* under */
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, 0, 1u << 20, &dw0));
	CHECK_EQ(dw0 & 0xffff, 260);
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0xffff, 350);
	/* reserved TMPSEL / THSEL values */
	EXPECT_ST(setf(h, NVME_FEAT_TEMP_THRESH, 300 | (9u << 16), NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(setf(h, NVME_FEAT_TEMP_THRESH, 300 | (2u << 20), NULL), 0, NVME_SC_INVALID_FIELD);
out:
	nvme_host_close(h);
}

/* Volatile Write Cache: after a reset the current value is the default one
 * (the feature is not saveable); set and get follow. */
void case_feat_vwc(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t cur = 0, def = 0;
	REQUIRE(h);
	bool present = nvme_host_id_ctrl(h)->vwc & 1;
	EXPECT_OK(getf(h, NVME_FEAT_VOLATILE_WC, NVME_FEAT_SEL_CURRENT, 0, &cur));
	EXPECT_OK(getf(h, NVME_FEAT_VOLATILE_WC, NVME_FEAT_SEL_DEFAULT, 0, &def));
	diag("VWC present %d, current %u, default %u", present, cur, def);
	CHECK_EQ(cur & 1, def & 1);
	if (!present) {
		CHECK_EQ(cur & 1, 0);
		goto out;
	}
	EXPECT_OK(setf(h, NVME_FEAT_VOLATILE_WC, 0, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_VOLATILE_WC, 0, 0, &cur));
	CHECK_EQ(cur & 1, 0);
	EXPECT_OK(setf(h, NVME_FEAT_VOLATILE_WC, 1, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_VOLATILE_WC, 0, 0, &cur));
	CHECK_EQ(cur & 1, 1);
	CHECK(write_verify(h, 1, O.nsid, 16, 8, O.seed));
	EXPECT_OK(io(h, 1, NVME_CMD_FLUSH, O.nsid, 0, 0, NULL, 0));
out:
	nvme_host_close(h);
}

void case_feat_irq_coalesce(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	EXPECT_OK(setf(h, NVME_FEAT_IRQ_COALESCE, 0x0103, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_IRQ_COALESCE, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0xffff, 0x0103);
	CHECK(write_verify(h, 1, O.nsid, 24, 8, O.seed));
	EXPECT_OK(setf(h, NVME_FEAT_IRQ_COALESCE, 0, NULL));
out:
	nvme_host_close(h);
}

void case_feat_irq_config(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	EXPECT_OK(getf(h, NVME_FEAT_IRQ_CONFIG, 0, 1, &dw0));
	CHECK_EQ(dw0 & 0xffff, 1);
	EXPECT_OK(setf(h, NVME_FEAT_IRQ_CONFIG, 1u | (1u << 16), NULL));
	EXPECT_OK(getf(h, NVME_FEAT_IRQ_CONFIG, 0, 1, &dw0));
	CHECK_EQ(dw0, 1u | (1u << 16));
	/* a vector the function does not have (MSI-X tables hold at most 2048) */
	EXPECT_ST(setf(h, NVME_FEAT_IRQ_CONFIG, 2048, NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(getf(h, NVME_FEAT_IRQ_CONFIG, 0, 0xffff, &dw0), 0, NVME_SC_INVALID_FIELD);
	CHECK(write_verify(h, 1, O.nsid, 32, 8, O.seed));
out:
	nvme_host_close(h);
}

void case_feat_async_event(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	EXPECT_OK(setf(h, NVME_FEAT_ASYNC_EVENT, 0x1ff, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_ASYNC_EVENT, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0x1ff, 0x1ff);
	EXPECT_OK(setf(h, NVME_FEAT_ASYNC_EVENT, 0x100, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_ASYNC_EVENT, 0, 0, &dw0));
	CHECK_EQ(dw0 & 0x1ff, 0x100);
out:
	nvme_host_close(h);
}

void case_feat_timestamp(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *ts = NULL;
	REQUIRE(h);
	CHECK(nvme_host_id_ctrl(h)->oncs & (1u << 6));
	ts = xalloc(h, 4096, 4096, NULL);
	REQUIRE(ts);
	uint64_t t = 1700000000000ull;	/* ms since 1970 */
	memset(ts, 0, 8);
	memcpy(ts, &t, 6);
	REQUIRE_OK(nvme_host_set_features(h, FEAT_TIMESTAMP, false, 0, 0, ts, 8, NULL));
	sleep_ms(120);
	memset(ts, 0, 8);
	REQUIRE_OK(nvme_host_get_features(h, FEAT_TIMESTAMP, 0, 0, 0, ts, 8, NULL));
	uint64_t got = 0;
	memcpy(&got, ts, 6);
	diag("timestamp set %llu, read %llu, attributes 0x%02x", (unsigned long long)t,
	     (unsigned long long)got, ts[6]);
	CHECK(got >= t + 100);
	CHECK(got <= t + 10000);
	CHECK_EQ((ts[6] >> 1) & 7, 1);		/* origin: set by Set Features */
	sleep_ms(30);
	uint64_t got2 = 0;
	REQUIRE_OK(nvme_host_get_features(h, FEAT_TIMESTAMP, 0, 0, 0, ts, 8, NULL));
	memcpy(&got2, ts, 6);
	CHECK(got2 > got);
out:
	if (h)
		nvme_host_free(h, ts);
	nvme_host_close(h);
}

/* Host Behavior Support (FID 16h, NVMe 1.4): a 512-byte structure whose
 * byte 0 is ACRE; Linux and SPDK's nvme_compliance read it. */
void case_feat_host_behavior(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *hb = NULL;
	REQUIRE(h);
	hb = xalloc(h, 4096, 4096, NULL);
	REQUIRE(hb);
	memset(hb, 0xee, 512);
	REQUIRE_OK(nvme_host_get_features(h, 0x16, 0, 0, 0, hb, 512, NULL));
	for (int i = 0; i < 512; i++)
		CHECK_EQ(hb[i], 0);		/* ACRE off, the rest reserved */
	memset(hb, 0, 512);
	hb[0] = 1;
	REQUIRE_OK(nvme_host_set_features(h, 0x16, false, 0, 0, hb, 512, NULL));
	memset(hb, 0xee, 512);
	REQUIRE_OK(nvme_host_get_features(h, 0x16, 0, 0, 0, hb, 512, NULL));
	CHECK_EQ(hb[0], 1);
	memset(hb, 0xee, 512);
	REQUIRE_OK(nvme_host_get_features(h, 0x16, 1, 0, 0, hb, 512, NULL));	/* default */
	CHECK_EQ(hb[0], 0);
	memset(hb, 0, 512);
	hb[0] = 2;				/* not a valid ACRE value */
	EXPECT_ST(nvme_host_set_features(h, 0x16, false, 0, 0, hb, 512, NULL), 0, NVME_SC_INVALID_FIELD);
	memset(hb, 0xee, 512);
	REQUIRE_OK(nvme_host_get_features(h, 0x16, 0, 0, 0, hb, 512, NULL));
	CHECK_EQ(hb[0], 1);			/* the refused Set changed nothing */
out:
	if (h)
		nvme_host_free(h, hb);
	nvme_host_close(h);
}

static int keep_alive(struct nvme_host *h)
{
	struct nvme_sqe s = { .opc = NVME_ADM_KEEP_ALIVE };
	return nvme_host_admin(h, &s, NULL, 0, NULL);
}

/* KATO and Keep Alive exist only when Identify KAS says so (KAS 0: Keep
 * Alive not supported, so its command and feature are invalid). */
void case_feat_kato(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0;
	REQUIRE(h);
	uint16_t kas = id_kas(nvme_host_id_ctrl(h));
	diag("KAS %u", kas);
	if (!kas) {
		EXPECT_ST(keep_alive(h), 0, NVME_SC_INVALID_OPCODE);
		EXPECT_ST(setf(h, FEAT_KATO, 5000, NULL), 0, NVME_SC_INVALID_FIELD);
		goto out;
	}
	uint32_t kato = 50u * kas * 100u;	/* a multiple of the granularity */
	EXPECT_OK(setf(h, FEAT_KATO, kato, NULL));
	EXPECT_OK(getf(h, FEAT_KATO, 0, 0, &dw0));
	CHECK_EQ(dw0, kato);
	EXPECT_OK(keep_alive(h));
	EXPECT_OK(setf(h, FEAT_KATO, 0, NULL));
	EXPECT_OK(getf(h, FEAT_KATO, 0, 0, &dw0));
	CHECK_EQ(dw0, 0);
out:
	nvme_host_close(h);
}

/* Keep Alive: a timer that is fed does not expire; one that is not fed
 * does, and the controller reports a fatal status (CSTS.CFS); a reset
 * recovers. */
void case_keep_alive(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t csts = 0;
	REQUIRE(h);
	uint16_t kas = id_kas(nvme_host_id_ctrl(h));
	if (!kas) {
		EXPECT_ST(keep_alive(h), 0, NVME_SC_INVALID_OPCODE);
		goto out;
	}
	EXPECT_OK(keep_alive(h));
	uint32_t kato = 10u * kas * 100u;	/* 1 s with KAS 1 */
	REQUIRE_OK(setf(h, FEAT_KATO, kato, NULL));
	int64_t end = now_ms() + 2 * (int64_t)kato;
	while (now_ms() < end) {
		EXPECT_OK(keep_alive(h));
		sleep_ms((int)kato / 10);
	}
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	CHECK_EQ(csts & NVME_CSTS_CFS, 0);
	CHECK(write_verify(h, 1, O.nsid, 40, 8, O.seed));
	/* stop feeding it */
	end = now_ms() + 3 * (int64_t)kato + 2000;
	do {
		sleep_ms(20);
		REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	} while (!(csts & NVME_CSTS_CFS) && now_ms() < end);
	CHECK(csts & NVME_CSTS_CFS);
	REQUIRE_OK(nvme_host_reset(h));
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_CSTS, &csts));
	CHECK_EQ(csts & NVME_CSTS_CFS, 0);
	uint32_t dw0 = 1;
	EXPECT_OK(getf(h, FEAT_KATO, 0, 0, &dw0));
	CHECK_EQ(dw0, 0);	/* back to its default after the reset */
	CHECK(write_verify(h, 1, O.nsid, 40, 8, O.seed + 1));
out:
	nvme_host_close(h);
}

/* No feature is saveable; Get Features SEL 11b (supported capabilities),
 * 10b (saved = default for a non-saveable feature), bad feature IDs. */
void case_feat_save(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t dw0 = 0, def = 0;
	REQUIRE(h);
	EXPECT_ST(nvme_host_set_features(h, NVME_FEAT_ARBITRATION, true, 0, 0, NULL, 0, NULL), 1,
		  NVME_SC_FEATURE_NOT_SAVEABLE);
	EXPECT_ST(nvme_host_set_features(h, NVME_FEAT_TEMP_THRESH, true, 0, 340, NULL, 0, NULL), 1,
		  NVME_SC_FEATURE_NOT_SAVEABLE);
	static const uint8_t fids[] = { NVME_FEAT_ARBITRATION, NVME_FEAT_POWER_MGMT, NVME_FEAT_TEMP_THRESH,
					NVME_FEAT_VOLATILE_WC, NVME_FEAT_NUM_QUEUES, NVME_FEAT_IRQ_COALESCE,
					NVME_FEAT_ASYNC_EVENT };
	for (size_t i = 0; i < sizeof(fids); i++) {
		dw0 = 0xffffffffu;
		int st = getf(h, fids[i], NVME_FEAT_SEL_CAPS, 0, &dw0);
		if (st) {
			FAIL("Get Features FID 0x%02x SEL 3: %s", fids[i], st_str(st));
			continue;
		}
		if (dw0 & 1)
			FAIL("FID 0x%02x reported saveable (dw0 0x%x)", fids[i], dw0);
		if (dw0 & ~7u)
			FAIL("FID 0x%02x capabilities 0x%x use reserved bits", fids[i], dw0);
	}
	/* saved value of a feature that is not saveable: the default one, not
	 * the current one */
	EXPECT_OK(getf(h, NVME_FEAT_ARBITRATION, NVME_FEAT_SEL_DEFAULT, 0, &def));
	EXPECT_OK(setf(h, NVME_FEAT_ARBITRATION, def ^ 0x01010102u, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_ARBITRATION, NVME_FEAT_SEL_SAVED, 0, &dw0));
	CHECK_EQ(dw0, def);
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, NVME_FEAT_SEL_DEFAULT, 0, &def));
	EXPECT_OK(setf(h, NVME_FEAT_TEMP_THRESH, def + 5, NULL));
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, NVME_FEAT_SEL_SAVED, 0, &dw0));
	CHECK_EQ(dw0, def);
	EXPECT_OK(getf(h, NVME_FEAT_TEMP_THRESH, NVME_FEAT_SEL_CURRENT, 0, &dw0));
	CHECK_EQ(dw0, def + 5);
	EXPECT_ST(getf(h, 0x00, 0, 0, &dw0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(getf(h, 0x77, 0, 0, &dw0), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(setf(h, 0x77, 0, NULL), 0, NVME_SC_INVALID_FIELD);
	EXPECT_ST(getf(h, NVME_FEAT_ARBITRATION, 4, 0, &dw0), 0, NVME_SC_INVALID_FIELD);
out:
	nvme_host_close(h);
}
