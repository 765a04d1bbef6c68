/* test_vfu_client: config space capabilities and VPD. */
#include "test_vfu_client.h"

/* ---- config space and VPD ----------------------------------------------------------------- */

/* The VPD image of the fake (fk_init_device) and of test_vpd_parse. */
const uint8_t test_vpd[] = {
	0x82, 0x0a, 0x00, 'o', 's', 'n', 'a', 'p', ' ', 't', 'e', 's', 't',
	0x90, 0x30, 0x00,
	'P', 'N', 0x05, 'P', '1', '2', '3', '4',
	'V', 'U', 0x20, '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
			'0', '1', '2', '3', '4', '5', '6', '7', '8', '9', 'a', 'b', 'c', 'd', 'e', 'f',
	'R', 'V', 0x02, 0x00, 0x00,
	0x91, 0x06, 0x00, 'Y', 'A', 0x03, 'a', 'b', 'c',
	0x78,
};

void test_cfg_caps(void **state)
{
	struct env *e = *state;
	uint16_t vendor;
	assert_int_equal(vfu_cfg_read16(e->c, 0, &vendor), 0);
	assert_int_equal(vendor, 0x1234);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x03), 0x40);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x11), 0x50);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x10), 0x60);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x05), -ENOENT);
	assert_int_equal(vfu_cfg_find_ext_cap(e->c, 0x0001), 0x100);
	assert_int_equal(vfu_cfg_find_ext_cap(e->c, 0x0010), 0x140);
	assert_int_equal(vfu_cfg_find_ext_cap(e->c, 0x000b), -ENOENT);

	/* loops are caught */
	assert_int_equal(vfu_cfg_write16(e->c, 0x60, 0x4010), 0);	/* PCIe -> VPD */
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x05), -ELOOP);
	assert_int_equal(vfu_cfg_write32(e->c, 0x140, 0x10010010u), 0);	/* -> 0x100 */
	assert_int_equal(vfu_cfg_find_ext_cap(e->c, 0x000b), -ELOOP);
	/* a pointer into the header is refused */
	assert_int_equal(vfu_cfg_write16(e->c, 0x60, 0x0810), 0);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x05), -EPROTO);
	/* no capability list bit */
	assert_int_equal(vfu_cfg_write16(e->c, 0x06, 0), 0);
	assert_int_equal(vfu_cfg_find_cap(e->c, 0x03), -ENOENT);
}

void test_cfg_vpd(void **state)
{
	struct env *e = *state;
	uint8_t vpd[sizeof(test_vpd)];
	char vu[40];
	assert_int_equal(vfu_cfg_read_vpd(e->c, vpd, sizeof(vpd)), 0);
	assert_memory_equal(vpd, test_vpd, sizeof(vpd));
	assert_int_equal(vfu_vpd_find_keyword(vpd, sizeof(vpd), "VU", vu, sizeof(vu)), 32);
	assert_string_equal(vu, "0123456789abcdef0123456789abcdef");
	/* F never rises */
	e->f.vpd_delay = -1;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(vfu_cfg_read_vpd(e->c, vpd, 4), -ETIMEDOUT);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	assert_true(t1.tv_sec - t0.tv_sec < 3);
	assert_int_equal(vfu_cfg_read_vpd(e->c, vpd, 0x8001), -EINVAL);
}

void test_vpd_parse(void **state)
{
	(void)state;
	char out[64];
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "PN", out, sizeof(out)), 5);
	assert_string_equal(out, "P1234");
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "YA", out, sizeof(out)), 3);
	assert_string_equal(out, "abc");
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "SN", out, sizeof(out)), -ENOENT);
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "VU", out, 16), -ENOSPC);
	/* exactly the value size: no room for the NUL, still fine */
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "PN", out, 5), 5);
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, sizeof(test_vpd), "VUX", out, 64), -EINVAL);
	/* truncated inside the VPD-R resource */
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, 30, "VU", out, sizeof(out)), -EBADMSG);
	/* the identifier string alone */
	assert_int_equal(vfu_vpd_find_keyword(test_vpd, 13, "VU", out, sizeof(out)), -ENOENT);
	/* keyword after the end tag is not seen; a small resource is skipped */
	static const uint8_t img[] = {
		0x22, 0xaa, 0xbb,			/* small resource, 2 bytes */
		0x90, 0x05, 0x00, 'S', 'N', 0x02, 'o', 'k',
		0x78,
		0x90, 0x05, 0x00, 'X', 'X', 0x02, 'n', 'o',
	};
	assert_int_equal(vfu_vpd_find_keyword(img, sizeof(img), "SN", out, sizeof(out)), 2);
	assert_string_equal(out, "ok");
	assert_int_equal(vfu_vpd_find_keyword(img, sizeof(img), "XX", out, sizeof(out)), -ENOENT);
	/* a keyword whose length runs past its resource */
	static const uint8_t bad[] = { 0x90, 0x04, 0x00, 'S', 'N', 0x05, 'x', 0x78 };
	assert_int_equal(vfu_vpd_find_keyword(bad, sizeof(bad), "ZZ", out, sizeof(out)), -EBADMSG);
}
