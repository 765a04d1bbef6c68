/* End-to-end tests of the virtio-blk controller (issue 5): the user-space
 * virtio-blk driver of src/host talks to an osnapd controller over
 * vhost-user (this program is the front end) or over vfio-user (a modern
 * virtio-pci function).
 *
 *   vblk_e2e --vhost-user SOCK | --pci SOCK [--case NAME]... [expectations]
 *
 * The Python side (tests/system/test_virtio_blk.py) creates the controller
 * and says what to expect: --expect-size BYTES (the bdev's size; capacity is
 * that / 512), --expect-id ID (the GET_ID serial), --read-only, --queues N,
 * --seg-max N, --size-max N, --blk-size N, --indirect 0|1, --in-order 0|1,
 * --discard 0|1, --write-zeroes 0|1 (the features offered). Every case
 * opens its own connection, so a failing case cannot poison the next one
 * (and each open checks the service still accepts one). Output is TAP:
 * "1..N", "ok N - name" or "not ok N - name" followed by "# ..." lines with
 * the details. Expected statuses and
 * behaviour are those of the virtio 1.2 specification (5.2 block device,
 * 2.7 split virtqueues), never the server's.
 *
 * Cases driven from outside (stdin/stdout handshake, see each case):
 * suspend_probe, attach_probe, swap_probe, nomedia, none_media,
 * unmap_rings, hold, destroyed. file_pattern prints the extents it wrote
 * ("# extent SECTOR COUNT") for the Python side to check the backing file.
 * inflight_* speak vhost-user themselves (vblk_e2e_inflight.c): a
 * controller with --force_in_order over a zeroed bdev.
 * mem_table and unmap_rings use the driver's internals (its regions' memfds,
 * VBLK_HOST_INTERNAL) to send memory-table messages of their own.
 *
 * This file holds the options, the case table (the order cases run in) and
 * main; the cases live in vblk_e2e_AREA.c by area, their helpers in
 * vblk_e2e_lib.c, all declared in vblk_e2e.h; the harness is tap.h. */
#include "vblk_e2e.h"

/* ---- options ----------------------------------------------------------------------- */

struct vblk_e2e_opts O = {
	.expect_size = -1, .seg_max = -1, .size_max = -1, .blk_size = -1, .indirect = -1,
	.in_order = -1, .discard = -1, .wzeroes = -2, .seed = 1, .seed2 = 2, .span = 8192,
};

/* ---- the case table ------------------------------------------------------------------ */

static const struct tap_case cases[] = {
	{ "negotiation", case_negotiation, true },
	{ "config", case_config, true },
	{ "io_mq", case_io_mq, true },
	{ "flush", case_flush, true },
	{ "get_id", case_get_id, true },
	{ "discard", case_discard, true },
	{ "unsupported", case_unsupported, true },
	{ "past_capacity", case_past_capacity, true },
	{ "framing", case_framing, true },
	{ "malformed", case_malformed, true },
	{ "event_idx", case_event_idx, true },
	{ "interrupts", case_interrupts, true },
	{ "in_order", case_in_order, true },
	{ "mem_table", case_mem_table, true },
	{ "reconnect", case_reconnect, true },
	{ "read_only", case_read_only, false },
	{ "suspend_probe", case_suspend_probe, false },
	{ "attach_probe", case_attach_probe, false },
	{ "swap_probe", case_swap_probe, false },
	{ "nomedia", case_nomedia, false },
	{ "none_media", case_none_media, false },
	{ "unmap_rings", case_unmap_rings, false },
	{ "hold", case_hold, false },
	{ "destroyed", case_destroyed, false },
	{ "file_pattern", case_file_pattern, false },
	{ "pattern_check", case_pattern_check, false },
	{ "inflight_bad_region", case_inflight_bad_region, false },
	{ "inflight_resubmit", case_inflight_resubmit, false },
	{ "inflight_garbage", case_inflight_garbage, false },
};

static const struct tap_suite suite = {
	.prog = "vblk_e2e", .cases = cases, .ncases = sizeof(cases) / sizeof(cases[0]),
};

static void usage(void)
{
	fprintf(stderr, "usage: vblk_e2e --vhost-user SOCK | --pci SOCK [--case NAME]... [--expect-size BYTES]\n"
			"  [--expect-id ID] [--read-only] [--queues N] [--seg-max N] [--size-max N] [--blk-size N]\n"
			"  [--indirect 0|1] [--in-order 0|1] [--discard 0|1] [--write-zeroes 0|1] [--seed N] [--seed2 N]\n"
			"  [--span SECTORS]\ncases:");
	tap_print_cases(stderr, &suite);
	fprintf(stderr, "\n(* only when named)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct tap_opts T = { .nnames = 0 };
	const struct tap_arg args[] = {
		{ "--vhost-user", TAP_STR, &O.vhu },
		{ "--pci", TAP_STR, &O.pci },
		{ "--expect-size", TAP_I64, &O.expect_size },
		{ "--expect-id", TAP_STR, &O.expect_id },
		{ "--read-only", TAP_FLAG, &O.read_only },
		{ "--queues", TAP_INT, &O.queues },
		{ "--seg-max", TAP_INT, &O.seg_max },
		{ "--size-max", TAP_INT, &O.size_max },
		{ "--blk-size", TAP_INT, &O.blk_size },
		{ "--indirect", TAP_INT, &O.indirect },
		{ "--in-order", TAP_INT, &O.in_order },
		{ "--discard", TAP_INT, &O.discard },
		{ "--write-zeroes", TAP_INT, &O.wzeroes },
		{ "--seed", TAP_U32, &O.seed },
		{ "--seed2", TAP_U32, &O.seed2 },
		{ "--span", TAP_U64, &O.span },
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!tap_parse(argc, argv, &T, args, sizeof(args) / sizeof(args[0]), NULL, 0))
		usage();
	if (!O.vhu == !O.pci && !T.list)
		usage();
	if (O.wzeroes == -2)
		O.wzeroes = O.discard;
	int rc = tap_run(&suite, &T);
	if (rc < 0)
		usage();
	return rc;
}
