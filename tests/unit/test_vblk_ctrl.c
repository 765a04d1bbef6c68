/* virtio-blk feature negotiation, without sockets: what a controller
 * offers (by its options and its media), what vblk_ctrl_set_features
 * accepts, and the same through the virtio-pci common configuration
 * (FEATURES_OK reads back clear when the driver's choice is refused).
 *
 * The controllers use the virtio-pci transport on a device plane without
 * endpoints (EMU_VBLK_VFIO_USER with emu_config.no_endpoints): nothing
 * listens, the test writes the capability BAR with emu_region_write. The
 * reactor runs inline, on the test's thread. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "bdev/bdev.h"
#include "bdev/modules/modules.h"
#include "core/log.h"
#include "core/thread.h"
#include "emu/emu_internal.h"
#include "virtio_blk/vblk.h"

#define B(n) (1ull << (n))

/* offered by every controller */
#define BASE (B(VIRTIO_F_VERSION_1) | B(VIRTIO_BLK_F_SIZE_MAX) | B(VIRTIO_BLK_F_SEG_MAX) | \
	      B(VIRTIO_BLK_F_BLK_SIZE) | B(VIRTIO_BLK_F_TOPOLOGY) | B(VIRTIO_BLK_F_MQ) |     \
	      B(VIRTIO_F_RING_EVENT_IDX) | B(VIRTIO_BLK_F_FLUSH))
#define DISCARD_WZ (B(VIRTIO_BLK_F_DISCARD) | B(VIRTIO_BLK_F_WRITE_ZEROES))

#define MAX_ROUNDS 100000

static struct emu_function *g_fn;

static int pump(void)
{
	int work = thread_process_msgs(1024) + reactor_run_inline(0);
	return work ? work : reactor_arm_inline(0);
}

/* Until the main thread and the reactor both have nothing left to do. */
static void settle(void)
{
	int idle = 0;
	for (int round = 0; idle < 3; round++) {
		assert_true(round < MAX_ROUNDS);
		idle = pump() ? 0 : idle + 1;
	}
}

static void done_cb(void *arg, int rc, const char *msg)
{
	(void)msg;
	*(int *)arg = rc;
}

static struct vblk_ctrl *create(const char *bdev, bool read_only, bool in_order, bool indirect)
{
	struct vblk_params p = { .fn = g_fn, .bdev = bdev, .num_queues = 2, .queue_size = 64,
				 .size_max = 65536, .seg_max = 32, .force_in_order = in_order,
				 .indirect_desc = indirect, .read_only = read_only };
	struct vblk_ctrl *c = NULL;
	char err[256];
	int rc = vblk_ctrl_create(&p, &c, err, sizeof(err));
	if (rc)
		print_error("vblk_ctrl_create: %s\n", err);
	assert_int_equal(rc, 0);
	assert_non_null(c);
	return c;
}

static void destroy(struct vblk_ctrl *c)
{
	int rc = 12345;
	vblk_ctrl_destroy(c, true, done_cb, &rc);
	settle();
	assert_int_equal(rc, 0);
	assert_null(vblk_ctrl_first());
}

static int setup(void **state)
{
	(void)state;
	struct emu_config cfg;
	char err[256];

	log_set_level(LOG_CRIT);
	assert_int_equal(thread_lib_init(), 0);
	assert_int_equal(reactors_start_inline(1), 0);
	emu_config_defaults(&cfg);
	cfg.no_endpoints = true;
	cfg.vblk_transport = EMU_VBLK_VFIO_USER;
	assert_int_equal(emu_init(&cfg, err, sizeof(err)), 0);
	g_fn = emu_find_by_index(EMU_TYPE_VBLK, 0, -1);
	assert_non_null(g_fn);
	/* malloc does everything; null has no unmap (no DISCARD) */
	assert_int_equal(bdev_malloc_create("m0", 2048, 512, NULL, err, sizeof(err)), 0);
	assert_int_equal(bdev_null_create("n0", 2048, 512, NULL, err, sizeof(err)), 0);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	reactors_stop();
	while (thread_process_msgs(1024) > 0)
		;
	emu_fini();
	while (thread_process_msgs(1024) > 0)
		;
	bdev_unregister_all();
	while (thread_process_msgs(1024) > 0)
		;
	thread_lib_fini();
	return 0;
}

/* A default controller on capable media offers exactly BASE + DISCARD +
 * WRITE_ZEROES (+ INDIRECT_DESC when asked for). */
static void test_offer_default(void **state)
{
	(void)state;
	struct vblk_ctrl *c = create("m0", false, false, false);
	assert_int_equal(vblk_ctrl_features(c), BASE | DISCARD_WZ);
	destroy(c);
	c = create("m0", false, false, true);
	assert_int_equal(vblk_ctrl_features(c), BASE | DISCARD_WZ | B(VIRTIO_F_RING_INDIRECT_DESC));
	destroy(c);
	/* no media yet: offered, the bdev attached later must do them */
	c = create(NULL, false, false, false);
	assert_int_equal(vblk_ctrl_features(c), BASE | DISCARD_WZ);
	destroy(c);
	/* media without unmap: no DISCARD */
	c = create("n0", false, false, false);
	assert_int_equal(vblk_ctrl_features(c), BASE | B(VIRTIO_BLK_F_WRITE_ZEROES));
	assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_F_VERSION_1) | B(VIRTIO_BLK_F_DISCARD)),
			 -EINVAL);
	destroy(c);
}

/* Subsets with VERSION_1 are accepted; anything not offered, or without
 * VERSION_1, is refused with -EINVAL. */
static void test_set_features(void **state)
{
	(void)state;
	struct vblk_ctrl *c = create("m0", false, false, false);
	uint64_t offer = vblk_ctrl_features(c);

	assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_F_VERSION_1)), 0);
	assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_F_VERSION_1) | B(VIRTIO_BLK_F_MQ) |
						   B(VIRTIO_BLK_F_BLK_SIZE)), 0);
	assert_int_equal(vblk_ctrl_set_features(c, offer), 0);

	/* not offered by this controller */
	const unsigned not_offered[] = { VIRTIO_F_IN_ORDER, VIRTIO_F_RING_INDIRECT_DESC, VIRTIO_BLK_F_RO,
					 VIRTIO_F_ACCESS_PLATFORM, VIRTIO_BLK_F_GEOMETRY,
					 VIRTIO_BLK_F_CONFIG_WCE, 0, 31, 50, 63 };
	for (size_t i = 0; i < sizeof(not_offered) / sizeof(not_offered[0]); i++) {
		assert_false(offer & B(not_offered[i]));
		assert_int_equal(vblk_ctrl_set_features(c, offer | B(not_offered[i])), -EINVAL);
		assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_F_VERSION_1) | B(not_offered[i])),
				 -EINVAL);
	}
	/* legacy drivers (no VERSION_1) are refused, whatever else they take */
	assert_int_equal(vblk_ctrl_set_features(c, 0), -EINVAL);
	assert_int_equal(vblk_ctrl_set_features(c, offer & ~B(VIRTIO_F_VERSION_1)), -EINVAL);
	assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_BLK_F_MQ)), -EINVAL);
	destroy(c);
}

/* read_only offers RO and neither DISCARD nor WRITE_ZEROES. */
static void test_read_only(void **state)
{
	(void)state;
	struct vblk_ctrl *c = create("m0", true, false, false);
	assert_int_equal(vblk_ctrl_features(c), BASE | B(VIRTIO_BLK_F_RO));
	assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_F_VERSION_1) | B(VIRTIO_BLK_F_RO)), 0);
	assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_F_VERSION_1) | B(VIRTIO_BLK_F_DISCARD)),
			 -EINVAL);
	assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_F_VERSION_1) | B(VIRTIO_BLK_F_WRITE_ZEROES)),
			 -EINVAL);
	destroy(c);
}

/* force_in_order offers IN_ORDER (and a driver may take or leave it). */
static void test_force_in_order(void **state)
{
	(void)state;
	struct vblk_ctrl *c = create("m0", false, true, false);
	assert_int_equal(vblk_ctrl_features(c), BASE | DISCARD_WZ | B(VIRTIO_F_IN_ORDER));
	assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_F_VERSION_1) | B(VIRTIO_F_IN_ORDER)), 0);
	assert_int_equal(vblk_ctrl_set_features(c, B(VIRTIO_F_VERSION_1)), 0);
	destroy(c);
}

/* --- the same through virtio-pci's common configuration --- */

#define CFG(f) offsetof(struct virtio_pci_common_cfg, f)

static void cfg_write32(uint64_t off, uint32_t v)
{
	assert_int_equal(emu_region_write(g_fn, EMU_VBLK_CAP_BAR, off, &v, 4), 0);
}

static uint32_t cfg_read32(uint64_t off)
{
	uint32_t v = 0xdeadbeef;
	assert_int_equal(emu_region_read(g_fn, EMU_VBLK_CAP_BAR, off, &v, 4), 0);
	return v;
}

static void status_write(uint8_t s)
{
	assert_int_equal(emu_region_write(g_fn, EMU_VBLK_CAP_BAR, CFG(device_status), &s, 1), 0);
	settle();
}

static uint8_t status_read(void)
{
	uint8_t s = 0xee;
	assert_int_equal(emu_region_read(g_fn, EMU_VBLK_CAP_BAR, CFG(device_status), &s, 1), 0);
	return s;
}

/* The driver's side of negotiation: reset, ACKNOWLEDGE|DRIVER, read the
 * offer, write features, FEATURES_OK; returns the status read back. */
static uint8_t negotiate(uint64_t want, uint64_t *offer)
{
	status_write(0);
	assert_int_equal(status_read(), 0);
	status_write(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	cfg_write32(CFG(device_feature_select), 0);
	uint64_t lo = cfg_read32(CFG(device_feature));
	cfg_write32(CFG(device_feature_select), 1);
	uint64_t hi = cfg_read32(CFG(device_feature));
	*offer = hi << 32 | lo;
	cfg_write32(CFG(driver_feature_select), 0);
	cfg_write32(CFG(driver_feature), (uint32_t)want);
	cfg_write32(CFG(driver_feature_select), 1);
	cfg_write32(CFG(driver_feature), (uint32_t)(want >> 32));
	status_write(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	return status_read();
}

static void test_pci_negotiation(void **state)
{
	(void)state;
	struct vblk_ctrl *c = create("m0", false, true, false);
	const uint8_t ok = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;
	uint64_t offer;

	assert_int_equal(negotiate(B(VIRTIO_F_VERSION_1) | B(VIRTIO_BLK_F_MQ), &offer), ok);
	assert_int_equal(offer, vblk_ctrl_features(c));
	/* the offer seen through the register file is the controller's */
	assert_int_equal(offer, BASE | DISCARD_WZ | B(VIRTIO_F_IN_ORDER));
	/* FEATURES_OK set: later driver_feature writes are ignored */
	cfg_write32(CFG(driver_feature_select), 0);
	cfg_write32(CFG(driver_feature), 0);
	cfg_write32(CFG(driver_feature_select), 0);
	assert_int_equal(cfg_read32(CFG(driver_feature)), (uint32_t)B(VIRTIO_BLK_F_MQ));

	/* refused: FEATURES_OK reads back clear */
	assert_int_equal(negotiate(B(VIRTIO_F_VERSION_1) | B(VIRTIO_BLK_F_RO), &offer),
			 ok & ~VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(negotiate(B(VIRTIO_BLK_F_MQ), &offer), ok & ~VIRTIO_STATUS_FEATURES_OK);
	/* and a valid choice after a reset is accepted again */
	assert_int_equal(negotiate(offer, &offer), ok);
	status_write(0);
	destroy(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_offer_default),
		cmocka_unit_test(test_set_features),
		cmocka_unit_test(test_read_only),
		cmocka_unit_test(test_force_in_order),
		cmocka_unit_test(test_pci_negotiation),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
