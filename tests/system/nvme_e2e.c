/* End-to-end tests of the NVMe controller (issue 4): the user-space NVMe
 * driver of src/host talks to an osnapd controller over vfio-user.
 *
 *   nvme_e2e SOCKET [--mode trap|mmap|shadow] [--case NAME]... [expectations]
 *
 * The Python side (tests/system/test_nvme.py) configures the controller and
 * tells us what to expect (--nqn, --sn, --uuid, ...). Every case opens its
 * own connection, so a failing case cannot poison the next one. Output is
 * TAP: "1..N", then "ok N - name" or "not ok N - name" followed by "# ..."
 * lines with the details. Expected NVMe statuses are those of the NVM
 * Express Base Specification 1.4 (SCT/SC), never the server's.
 *
 * Cases driven from outside (stdin/stdout handshake, see each case):
 * aen, suspend_probe, suspended_start. file_pattern prints the extents it
 * wrote ("# extent LBA NLB") for the Python side to check the backing file.
 *
 * This file holds the options, the case table (the order cases run in) and
 * main; the cases live in nvme_e2e_AREA.c by area, their helpers in
 * nvme_e2e_lib.c, all declared in nvme_e2e.h; the harness is tap.h. */
#include "nvme_e2e.h"

/* ---- options ----------------------------------------------------------------------- */

struct nvme_e2e_opts O = {
	.mode = MODE_TRAP, .cntlid = -1, .mdts = 7, .nsze = 131072, .lba = 512, .nsid = 1,
	.inactive = 77, .mqes = 63, .fw_slots = 4, .compare_write = -1, .nn = -1, .seed = 1,
};

/* ---- the case table ------------------------------------------------------------------ */

static const struct tap_case cases[] = {
	{ "bringup", case_bringup, true },
	{ "identify_ctrl", case_identify_ctrl, true },
	{ "identify_ns", case_identify_ns, true },
	{ "active_ns_list", case_active_ns_list, true },
	{ "ns_descs", case_ns_descs, true },
	{ "feat_num_queues", case_feat_num_queues, true },
	{ "feat_arbitration", case_feat_arbitration, true },
	{ "feat_power", case_feat_power, true },
	{ "feat_temp", case_feat_temp, true },
	{ "feat_vwc", case_feat_vwc, true },
	{ "feat_irq_coalesce", case_feat_irq_coalesce, true },
	{ "feat_irq_config", case_feat_irq_config, true },
	{ "feat_async_event", case_feat_async_event, true },
	{ "feat_timestamp", case_feat_timestamp, true },
	{ "feat_host_behavior", case_feat_host_behavior, true },
	{ "feat_kato", case_feat_kato, true },
	{ "feat_save", case_feat_save, true },
	{ "logs", case_logs, true },
	{ "queues", case_queues, true },
	{ "cq_backlog", case_cq_backlog, true },
	{ "aer_limit", case_aer_limit, true },
	{ "abort", case_abort, true },
	{ "keep_alive", case_keep_alive, true },
	{ "dbbuf", case_dbbuf, true },
	{ "firmware", case_firmware, true },
	{ "io_basic", case_io_basic, true },
	{ "compare", case_compare, true },
	{ "fused", case_fused, true },
	{ "io_align", case_io_align, true },
	{ "io_sgl", case_io_sgl, true },
	{ "io_bad", case_io_bad, true },
	{ "inflight2", case_inflight2, false },
	{ "fused_race", case_fused_race, false },
	{ "interrupts", case_interrupts, true },
	{ "reset_io", case_reset_io, true },
	{ "irq_mask", case_irq_mask, true },
	{ "fdless_memory", case_fdless_memory, true },
	{ "remap", case_remap, true },
	{ "remap_live", case_remap_live, true },
	{ "shutdown", case_shutdown, true },
	{ "bad_doorbells", case_bad_doorbells, true },
	{ "file_pattern", case_file_pattern, false },
	{ "io_hold", case_io_hold, false },
	{ "aen", case_aen, false },
	{ "suspend_probe", case_suspend_probe, false },
	{ "suspended_start", case_suspended_start, false },
};

static const struct tap_suite suite = {
	.prog = "nvme_e2e", .cases = cases, .ncases = sizeof(cases) / sizeof(cases[0]),
};

static void usage(void)
{
	fprintf(stderr, "usage: nvme_e2e SOCKET [--mode trap|mmap|shadow] [--case NAME]... [--nqn S] [--sn S]\n"
			"  [--mn S] [--uuid U] [--nguid HEX] [--eui64 HEX] [--cntlid N] [--mdts N] [--nsze N] [--lba N] [--nsid N]\n"
			"  [--nsid2 N] [--nsze2 N] [--inactive N] [--mqes N] [--fw-slots N]\n"
			"  [--compare-write 0|1] [--nn N] [--seed N] [--list]\ncases:");
	tap_print_cases(stderr, &suite);
	fprintf(stderr, "\n(* only when named)\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct tap_opts T = { .nnames = 0 };
	const char *mode = "trap";
	const struct tap_arg args[] = {
		{ "--mode", TAP_STR, &mode },
		{ "--nqn", TAP_STR, &O.nqn },
		{ "--sn", TAP_STR, &O.sn },
		{ "--mn", TAP_STR, &O.mn },
		{ "--uuid", TAP_STR, &O.uuid },
		{ "--nguid", TAP_STR, &O.nguid },
		{ "--eui64", TAP_STR, &O.eui64 },
		{ "--cntlid", TAP_LONG, &O.cntlid },
		{ "--mdts", TAP_INT, &O.mdts },
		{ "--nsze", TAP_U64, &O.nsze },
		{ "--nsze2", TAP_U64, &O.nsze2 },
		{ "--lba", TAP_U32, &O.lba },
		{ "--nsid", TAP_U32, &O.nsid },
		{ "--nsid2", TAP_U32, &O.nsid2 },
		{ "--inactive", TAP_U32, &O.inactive },
		{ "--mqes", TAP_INT, &O.mqes },
		{ "--fw-slots", TAP_INT, &O.fw_slots },
		{ "--compare-write", TAP_INT, &O.compare_write },
		{ "--nn", TAP_I64, &O.nn },
		{ "--seed", TAP_U32, &O.seed },
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!tap_parse(argc, argv, &T, args, sizeof(args) / sizeof(args[0]), &O.sock, 1))
		usage();
	if (!strcmp(mode, "trap"))
		O.mode = MODE_TRAP;
	else if (!strcmp(mode, "mmap"))
		O.mode = MODE_MMAP;
	else if (!strcmp(mode, "shadow"))
		O.mode = MODE_SHADOW;
	else
		usage();
	if (!O.sock && !T.list)
		usage();
	int rc = tap_run(&suite, &T);
	if (rc < 0)
		usage();
	return rc;
}
