/* The emulation config file: names, ranges, cross-field rules, defaults. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "emu/emu_config.h"

static void test_defaults(void **state)
{
	(void)state;
	struct emu_config c;
	emu_config_defaults(&c);
	assert_true(c.nvme_enable);
	assert_int_equal(c.nvme_num_pf, 1);
	assert_int_equal(c.vblk_num_pf, 1);
	assert_int_equal(emu_config_pf_msix(&c, 0), 32);
	assert_int_equal(emu_config_vf_msix(&c, 1), 4);
	assert_int_equal(emu_config_nvme_max_queue_entries(&c), 64);
	assert_int_equal(strlen(c.serial), 12);
	assert_string_equal(c.dir, "/var/run/osnap");
	assert_int_equal(c.socket_mode, 0600);
	assert_int_equal(c.vblk_transport, EMU_VBLK_VHOST_USER);
	assert_int_equal(c.nvme_doorbells, EMU_DB_ADAPTIVE);
	assert_int_equal(c.nvme_doze_max_us, 4000);
}

static void test_parse(void **state)
{
	(void)state;
	struct emu_config c;
	char err[256];
	emu_config_defaults(&c);
	const char *text =
		"# firmware parameters\n"
		"SRIOV_EN=1\n"
		"\n"
		"NVME_EMULATION_NUM_PF = 2   # two PFs\n"
		"NVME_EMULATION_NUM_VF=8\n"
		"NVME_EMULATION_MAX_QUEUE_DEPTH=12\n"
		"VIRTIO_BLK_EMULATION_NUM_VF=125\n"
		"EMU_SERIAL=MT2328XZ17DF\n"
		"EMU_SOCKET_MODE=0660\n"
		"EMU_VIRTIO_BLK_TRANSPORT=vfio-user\n"
		"EMU_NVME_DOORBELLS=mmap\n"
		"EMU_NVME_DOZE_MAX_US=250\n"
		"EMU_DIR=/tmp/x\n";
	assert_int_equal(emu_config_parse(&c, "t.conf", text, err, sizeof(err)), 0);
	assert_true(c.sriov_en);
	assert_int_equal(c.nvme_num_pf, 2);
	assert_int_equal(c.nvme_num_vf, 8);
	assert_int_equal(emu_config_nvme_max_queue_entries(&c), 4096);
	assert_int_equal(c.vblk_num_vf, 125);
	assert_string_equal(c.serial, "MT2328XZ17DF");
	assert_int_equal(c.socket_mode, 0660);
	assert_int_equal(c.vblk_transport, EMU_VBLK_VFIO_USER);
	assert_int_equal(c.nvme_doorbells, EMU_DB_MMAP);
	assert_int_equal(c.nvme_doze_max_us, 250);
	assert_string_equal(c.dir, "/tmp/x");
}

static void expect_error(const char *text, const char *needle)
{
	struct emu_config c;
	char err[256];
	emu_config_defaults(&c);
	assert_int_equal(emu_config_parse(&c, "t.conf", text, err, sizeof(err)), -EINVAL);
	if (!strstr(err, needle))
		fail_msg("error '%s' does not contain '%s'", err, needle);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("NVME_EMULATION_NUM_PF=3\n", "t.conf:1: NVME_EMULATION_NUM_PF: 3 is out of range [0-2]");
	expect_error("\n\nNVME_EMULATION_MAX_QUEUE_DEPTH=13\n", "t.conf:3:");
	expect_error("VIRTIO_BLK_EMULATION_NUM_PF=5\n", "out of range");
	expect_error("NVME_EMULATION_NUM_MSIX=64\n", "NVME_EMULATION_NUM_MSIX");
	expect_error("BOGUS=1\n", "t.conf:1: unknown parameter BOGUS");
	expect_error("SRIOV_EN\n", "expected NAME=VALUE");
	expect_error("SRIOV_EN=yes\n", "not a number");
	expect_error("NVME_EMULATION_NUM_VF=4\n", "valid only with SRIOV_EN=1");
	expect_error("PCI_SWITCH_EMULATION_NUM_PORT=1\n", "0 or 2-32");
	expect_error("EMU_SERIAL=short\n", "exactly 12");
	expect_error("EMU_SERIAL=mt2328xz17df\n", "A-Z");
	expect_error("EMU_VIRTIO_BLK_TRANSPORT=pci\n", "vhost-user or vfio-user");
	expect_error("EMU_NVME_DOORBELLS=poll\n", "trap, mmap or adaptive");
	expect_error("EMU_NVME_DOZE_MAX_US=8\n", "out of range");
	expect_error("EMU_SOCKET_MODE=999\n", "octal");
	expect_error("NVME_EMULATION_NUM_PF=-1\n", "not a number");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
