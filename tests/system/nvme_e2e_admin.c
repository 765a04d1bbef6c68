/* nvme_e2e: Admin commands: Identify (controller, namespace, active namespace list,
 * namespace identification descriptors), log pages, firmware. */
#include "nvme_e2e.h"

/* Firmware Commit statuses (SCT 1), NVMe 1.4 Figure 174 */
#define NVME_SC_INVALID_FW_SLOT		0x06
#define NVME_SC_INVALID_FW_IMAGE	0x07

/* ---- Identify ---------------------------------------------------------------------------- */

static bool padded_eq(const char *field, size_t n, const char *want)
{
	char buf[64];
	memset(buf, ' ', n);
	memcpy(buf, want, strlen(want) < n ? strlen(want) : n);
	return !memcmp(field, buf, n);
}

void case_identify_ctrl(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	struct nvme_id_ctrl *id = NULL;
	uint32_t vs = 0;
	REQUIRE(h);
	id = xalloc(h, 4096, 4096, NULL);
	REQUIRE(id);
	REQUIRE_OK(nvme_host_identify_ctrl(h, id));
	REQUIRE_OK(nvme_host_reg_read32(h, NVME_REG_VS, &vs));
	if (O.sn && !padded_eq(id->sn, 20, O.sn))
		FAIL("SN '%.20s', want '%s' space padded", id->sn, O.sn);
	if (O.mn && !padded_eq(id->mn, 40, O.mn))
		FAIL("MN '%.40s', want '%s' space padded", id->mn, O.mn);
	if (O.nqn && (strncmp(id->subnqn, O.nqn, 256) || memchr(id->subnqn, 0, 256) == NULL))
		FAIL("SUBNQN '%.256s', want '%s'", id->subnqn, O.nqn);
	if (O.cntlid >= 0)
		CHECK_EQ(id->cntlid, O.cntlid);
	if (O.mdts >= 0)
		CHECK_EQ(id->mdts, O.mdts);
	CHECK_EQ(id->ver, vs);
	if (O.nn >= 0)
		CHECK_EQ(id->nn, O.nn);
	CHECK_EQ(id->sqes, 0x66);
	CHECK_EQ(id->cqes, 0x44);
	/* OACS: firmware download/commit; no Format, no Namespace Management;
	 * Doorbell Buffer Config unless the doorbells are mapped */
	CHECK(id->oacs & (1u << 2));
	CHECK_EQ(id->oacs & ((1u << 1) | NVME_OACS_NS_MGMT), 0);
	if (O.mode == MODE_MMAP)
		CHECK_EQ(id->oacs & NVME_OACS_DBBUF, 0);
	else
		CHECK(id->oacs & NVME_OACS_DBBUF);
	if (O.fw_slots > 0)
		CHECK_EQ((id->frmw >> 1) & 7, O.fw_slots);
	/* ONCS: malloc and file bdevs have compare, deallocate, write zeroes.
	 * Bit 4 (Save/Select in Set/Get Features) and bit 6 (Timestamp): the
	 * controller implements Get Features SEL and the Timestamp feature, so
	 * it has to say so. */
	diag("ONCS 0x%04x OACS 0x%04x SGLS 0x%08x VWC 0x%02x FUSES 0x%04x KAS %u", id->oncs, id->oacs,
	     id->sgls, id->vwc, id->fuses, id_kas(id));
	CHECK(id->oncs & NVME_ONCS_DSM);
	CHECK(id->oncs & NVME_ONCS_WRITE_ZEROES);
	CHECK_EQ(id->oncs & NVME_ONCS_WRITE_UNC, 0);
	uint32_t dw0;
	if (nvme_host_get_features(h, NVME_FEAT_ARBITRATION, NVME_FEAT_SEL_CAPS, 0, 0, NULL, 0, &dw0) == 0)
		CHECK(id->oncs & (1u << 4));
	uint8_t *ts = xalloc(h, 4096, 4096, NULL);
	if (ts && nvme_host_get_features(h, 0x0e, 0, 0, 0, ts, 8, NULL) == 0)
		CHECK(id->oncs & (1u << 6));
	nvme_host_free(h, ts);
	CHECK(NVME_SGLS_SUPPORT(id->sgls) != NVME_SGLS_NONE);
	CHECK(id->sgls & (1u << 16));		/* bit bucket */
	if (O.compare_write >= 0)
		CHECK_EQ(id->fuses & 1, O.compare_write);
	CHECK(id->aerl < 16);
	CHECK(id->maxcmd == 0 || id->maxcmd >= 2);
	/* an undefined CNS */
	EXPECT_ST(nvme_host_identify(h, 0x1f, 0, 0, id), 0, NVME_SC_INVALID_FIELD);
out:
	if (h)
		nvme_host_free(h, id);
	nvme_host_close(h);
}

void case_identify_ns(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	struct nvme_id_ns *ns = NULL;
	REQUIRE(h);
	ns = xalloc(h, 4096, 4096, NULL);
	REQUIRE(ns);
	REQUIRE_OK(nvme_host_identify_ns(h, O.nsid, ns));
	CHECK_EQ(ns->nsze, O.nsze);
	CHECK_EQ(ns->ncap, ns->nsze);
	CHECK(ns->nuse <= ns->ncap);
	CHECK_EQ(ns->nlbaf, 0);
	CHECK_EQ(ns->flbas & 0xf, 0);
	CHECK_EQ(1u << ns->lbaf[0].lbads, O.lba);
	CHECK_EQ(ns->lbaf[0].ms, 0);
	if (O.nsid2) {
		REQUIRE_OK(nvme_host_identify_ns(h, O.nsid2, ns));
		if (O.nsze2)
			CHECK_EQ(ns->nsze, O.nsze2);
		CHECK(ns->nsze > 0);
	}
	/* an inactive NSID in range: zeroes, success */
	memset(ns, 0xa5, 4096);
	EXPECT_OK(nvme_host_identify_ns(h, O.inactive, ns));
	CHECK(all_byte(ns, 4096, 0));
	/* NSID 0 and (without Namespace Management) FFFFFFFFh */
	EXPECT_ST(nvme_host_identify_ns(h, 0, ns), 0, NVME_SC_INVALID_NS);
	EXPECT_ST(nvme_host_identify_ns(h, NVME_NSID_ALL, ns), 0, NVME_SC_INVALID_NS);
	if (O.nn >= 0 && O.nn < 0xfffffffe)	/* above NN: invalid */
		EXPECT_ST(nvme_host_identify_ns(h, (uint32_t)O.nn + 1, ns), 0, NVME_SC_INVALID_NS);
out:
	if (h)
		nvme_host_free(h, ns);
	nvme_host_close(h);
}

void case_active_ns_list(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint32_t *list = NULL;
	REQUIRE(h);
	list = xalloc(h, 4096, 4096, NULL);
	REQUIRE(list);
	REQUIRE_OK(nvme_host_active_ns_list(h, 0, list));
	uint32_t want[2] = { O.nsid, O.nsid2 };
	if (O.nsid2 && O.nsid2 < O.nsid) {
		want[0] = O.nsid2;
		want[1] = O.nsid;
	}
	int n = O.nsid2 ? 2 : 1;
	for (int i = 0; i < n; i++)
		CHECK_EQ(list[i], want[i]);
	CHECK_EQ(list[n], 0);
	REQUIRE_OK(nvme_host_active_ns_list(h, want[0], list));
	CHECK_EQ(list[0], n == 2 ? want[1] : 0);
	EXPECT_ST(nvme_host_active_ns_list(h, 0xfffffffeu, list), 0, NVME_SC_INVALID_NS);
	EXPECT_ST(nvme_host_active_ns_list(h, 0xffffffffu, list), 0, NVME_SC_INVALID_NS);
out:
	if (h)
		nvme_host_free(h, list);
	nvme_host_close(h);
}

/* n bytes of hex digits ('-' and ':' ignored) */
static int parse_hex(const char *s, uint8_t *out, int n)
{
	int k = 0;
	for (; *s && k < 2 * n; s++) {
		if (*s == '-')
			continue;
		int v;
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if ((*s | 32) >= 'a' && (*s | 32) <= 'f')
			v = (*s | 32) - 'a' + 10;
		else
			return -1;
		out[k / 2] = (uint8_t)(k % 2 ? out[k / 2] | v : v << 4);
		k++;
	}
	return k == 2 * n && !*s ? 0 : -1;
}

void case_ns_descs(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *buf = NULL, got[16], want[16];
	REQUIRE(h);
	buf = xalloc(h, 4096, 4096, NULL);
	REQUIRE(buf);
	REQUIRE_OK(nvme_host_ns_descs(h, O.nsid, buf));
	int n = nvme_host_ns_desc_find(buf, NVME_NIDT_UUID, got, sizeof(got));
	CHECK_EQ(n, 16);
	if (O.uuid) {
		REQUIRE(parse_hex(O.uuid, want, 16) == 0);
		if (n == 16 && memcmp(got, want, 16))
			FAIL("namespace UUID differs from %s", O.uuid);
	}
	if (O.nguid) {
		uint8_t g[16], w[16];
		REQUIRE(parse_hex(O.nguid, w, 16) == 0);
		int k = nvme_host_ns_desc_find(buf, NVME_NIDT_NGUID, g, sizeof(g));
		CHECK_EQ(k, 16);
		if (k == 16 && memcmp(g, w, 16))
			FAIL("namespace NGUID differs from %s", O.nguid);
	}
	if (O.eui64) {
		uint8_t g[8], w[8];
		REQUIRE(parse_hex(O.eui64, w, 8) == 0);
		int k = nvme_host_ns_desc_find(buf, NVME_NIDT_EUI64, g, sizeof(g));
		CHECK_EQ(k, 8);
		if (k == 8 && memcmp(g, w, 8))
			FAIL("namespace EUI64 differs from %s", O.eui64);
	}
	/* NVMe 1.4 6.1: an inactive NSID (1..NN, not attached) is Invalid Field
	 * in Command, an invalid one (0, above NN) Invalid Namespace or Format */
	EXPECT_ST(nvme_host_ns_descs(h, O.inactive, buf), 0, NVME_SC_INVALID_FIELD);
	if (O.nn >= 0 && O.nn < 0xfffffffe)
		EXPECT_ST(nvme_host_ns_descs(h, (uint32_t)O.nn + 1, buf), 0, NVME_SC_INVALID_NS);
	EXPECT_ST(nvme_host_ns_descs(h, 0, buf), 0, NVME_SC_INVALID_NS);
out:
	if (h)
		nvme_host_free(h, buf);
	nvme_host_close(h);
}

/* ---- log pages ------------------------------------------------------------------------------ */

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, 8);
	return v;
}

void case_logs(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *log = NULL, *buf = NULL;
	REQUIRE(h);
	const struct nvme_id_ctrl *id = nvme_host_id_ctrl(h);
	log = xalloc(h, 4096, 4096, NULL);
	buf = xalloc(h, 20 * 131072, 4096, NULL);
	REQUIRE(log && buf);

	/* error information: ELPE+1 entries of 64 bytes (always empty here) */
	EXPECT_OK(nvme_host_get_log_page(h, NVME_LOG_ERROR, 0, 0, false, log, 64));
	EXPECT_OK(nvme_host_get_log_page(h, NVME_LOG_ERROR, 0, 0, false, log, 64u * (id->elpe + 1u)));

	/* firmware slot information */
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_FW_SLOT, 0, 0, false, log, 512));
	CHECK_EQ(log[0] & 7, 1);
	CHECK(log[8] >= 0x20 && log[8] < 0x7f);

	/* changed namespace list */
	EXPECT_OK(nvme_host_get_log_page(h, NVME_LOG_CHANGED_NS, 0, 0, false, log, 4096));

	/* commands supported and effects */
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_CMD_EFFECTS, 0, 0, false, log, 4096));
	uint32_t e;
	memcpy(&e, log + 4 * NVME_ADM_IDENTIFY, 4);
	CHECK(e & 1);
	memcpy(&e, log + 4 * NVME_ADM_GET_LOG_PAGE, 4);
	CHECK(e & 1);
	memcpy(&e, log + 4 * NVME_ADM_FORMAT_NVM, 4);
	CHECK_EQ(e & 1, 0);
	memcpy(&e, log + 1024 + 4 * NVME_CMD_WRITE, 4);
	CHECK_EQ(e & 3, 3);	/* CSUPP, LBCC */
	memcpy(&e, log + 1024 + 4 * NVME_CMD_READ, 4);
	CHECK(e & 1);
	memcpy(&e, log + 1024 + 4 * NVME_CMD_WRITE_UNC, 4);
	CHECK_EQ(e & 1, 0);

	/* SMART / health: host read/write commands and data units grow */
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 0, false, log, 512));
	uint64_t du_r0 = le64_at(log + 32), du_w0 = le64_at(log + 48);
	uint64_t hr0 = le64_at(log + 64), hw0 = le64_at(log + 80);
	CHECK(log[1] | log[2]);			/* a composite temperature */
	uint32_t nlb = 256;			/* 128 KiB per command with 512 B blocks */
	if ((uint64_t)nlb * bs() > nvme_host_max_xfer(h))
		nlb = nvme_host_max_xfer(h) / bs();
	uint32_t cmd_bytes = nlb * bs();
	pattern_fill(buf, 4096, 20 * nlb, bs(), O.seed);
	for (int i = 0; i < 20; i++)
		REQUIRE_OK(io(h, 1, NVME_CMD_WRITE, O.nsid, 4096 + (uint64_t)i * nlb, nlb,
			      buf + (size_t)i * cmd_bytes, 0));
	for (int i = 0; i < 7; i++)
		REQUIRE_OK(io(h, 1, NVME_CMD_READ, O.nsid, 4096 + (uint64_t)i * nlb, nlb,
			      buf + (size_t)i * cmd_bytes, 0));
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 0, false, log, 512));
	uint64_t du_r1 = le64_at(log + 32), du_w1 = le64_at(log + 48);
	uint64_t hr1 = le64_at(log + 64), hw1 = le64_at(log + 80);
	diag("SMART: data units read %llu->%llu written %llu->%llu, reads %llu->%llu writes %llu->%llu",
	     (unsigned long long)du_r0, (unsigned long long)du_r1, (unsigned long long)du_w0,
	     (unsigned long long)du_w1, (unsigned long long)hr0, (unsigned long long)hr1,
	     (unsigned long long)hw0, (unsigned long long)hw1);
	CHECK_EQ(hw1 - hw0, 20);
	CHECK_EQ(hr1 - hr0, 7);
	/* data units: thousands of 512-byte units, rounded up */
	uint64_t wunits = 20ull * cmd_bytes / 512, runits = 7ull * cmd_bytes / 512;
	CHECK(du_w1 - du_w0 >= wunits / 1000 && du_w1 - du_w0 <= wunits / 1000 + 1);
	CHECK(du_r1 - du_r0 >= runits / 1000 && du_r1 - du_r0 <= runits / 1000 + 1);
	/* lifetime counters: a controller reset (which deletes the I/O queues
	 * that counted them) loses nothing */
	REQUIRE_OK(nvme_host_reset(h));
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 0, false, log, 512));
	diag("SMART after a reset: data units read %llu written %llu, reads %llu writes %llu",
	     (unsigned long long)le64_at(log + 32), (unsigned long long)le64_at(log + 48),
	     (unsigned long long)le64_at(log + 64), (unsigned long long)le64_at(log + 80));
	CHECK(le64_at(log + 32) >= du_r1);
	CHECK(le64_at(log + 48) >= du_w1);
	CHECK_EQ(le64_at(log + 64), hr1);
	CHECK_EQ(le64_at(log + 80), hw1);

	/* an undefined log page, and an offset past the end of one */
	EXPECT_ST(nvme_host_get_log_page(h, 0x20, 0, 0, false, log, 512), 1, NVME_SC_INVALID_LOG_PAGE);
	EXPECT_ST(nvme_host_get_log_page(h, NVME_LOG_SMART, NVME_NSID_ALL, 1024, false, log, 512), 0,
		  NVME_SC_INVALID_FIELD);
out:
	if (h) {
		nvme_host_free(h, log);
		nvme_host_free(h, buf);
	}
	nvme_host_close(h);
}

/* ---- firmware -------------------------------------------------------------------------------- */

static int fw_commit(struct nvme_host *h, unsigned fs, unsigned ca)
{
	struct nvme_sqe s = { .opc = NVME_ADM_FW_COMMIT, .cdw10 = (fs & 7) | ((ca & 7) << 3) };
	return nvme_host_admin(h, &s, NULL, 0, NULL);
}

void case_firmware(void)
{
	struct nvme_host *h = open_ctrl(NULL);
	uint8_t *img = NULL;
	REQUIRE(h);
	unsigned slots = (nvme_host_id_ctrl(h)->frmw >> 1) & 7;
	img = xalloc(h, 8192, 4096, NULL);
	REQUIRE(img);
	memset(img, 0x5a, 8192);
	struct nvme_sqe s = { .opc = NVME_ADM_FW_DOWNLOAD, .cdw10 = 1023, .cdw11 = 0 };
	EXPECT_OK(nvme_host_admin(h, &s, img, 4096, NULL));
	s.cdw11 = 1024;		/* OFST in dwords */
	EXPECT_OK(nvme_host_admin(h, &s, img + 4096, 4096, NULL));
	/* CA 000b: replace the image in slot 1 (not activated): refused here */
	EXPECT_ST(fw_commit(h, 1, 0), 1, NVME_SC_INVALID_FW_IMAGE);
	/* CA 010b: activate the existing image of slot 1 at the next reset */
	EXPECT_OK(fw_commit(h, 1, 2));
	/* a slot number above the number of slots */
	if (slots < 7)
		EXPECT_ST(fw_commit(h, slots + 1, 2), 1, NVME_SC_INVALID_FW_SLOT);
	/* an existing slot without an image: nothing to activate */
	if (slots >= 2)
		EXPECT_ST(fw_commit(h, 2, 2), 1, NVME_SC_INVALID_FW_IMAGE);
	uint8_t log[512];
	REQUIRE_OK(nvme_host_get_log_page(h, NVME_LOG_FW_SLOT, 0, 0, false, log, sizeof(log)));
	CHECK_EQ(log[0] & 7, 1);
out:
	if (h)
		nvme_host_free(h, img);
	nvme_host_close(h);
}
