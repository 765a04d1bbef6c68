/* Hostile clients (issue 11): a vfio-user NVMe client or a vhost-user
 * virtio-blk front end that does what a guest must not be able to hurt the
 * service with, driven by tests/system/test_hostile.py.
 *
 *   hostile_client SOCKET CASE [--nsid N] [--lba N] [--seed N] [--op read|write]
 *                  [--then delete_sq|reset|hold] [--dsm-cmds N] [--count N]
 *
 * Built on the host drivers of src/host (our vfio-user client, NVMe driver,
 * vhost-user front end), which include nothing of the server. Each case
 * prints "# ..." diagnostics, "# READY what" when it waits for the Python
 * side (one line on stdin answers), "# RESULT key=value ..." lines for the
 * Python side to check, and exits 0 when every check passed, 1 otherwise
 * ("# FAIL ..." lines say why). It prints no TAP line of its own: the
 * Python side reports. Every wait for the server is bounded by a generous
 * deadline (20 s), never a guessed short delay.
 *
 * This file holds the options, the case table and main; the cases live in
 * hostile_client_AREA.c by class of hostile behaviour, their helpers in
 * hostile_client_lib.c, all declared in hostile_client.h; the harness is
 * tap.h. */
#include "hostile_client.h"

struct hostile_opts O = {
	.nsid = 1, .lba = 512, .seed = 11, .op = "read", .then = "hold", .dsm_cmds = 1, .count = 64,
};

/* ---- the case table and main ---------------------------------------------------------------- */

static const struct tap_case cases[] = {
	{ "io", case_io },
	{ "aer_unmapped", case_aer_unmapped },
	{ "truncate", case_truncate },
	{ "truncate_vhost", case_truncate_vhost },
	{ "db_fd", case_db_fd },
	{ "irq_fds", case_irq_fds },
	{ "vhost_fds", case_vhost_fds },
	{ "full_cq", case_full_cq },
	{ "dsm_unmap_hup", case_dsm_unmap_hup },
	{ "dsm_hold", case_dsm_hold },
	{ "shn_unmap", case_shn_unmap },
	{ "reset_storm", case_reset_storm },
	{ "suspend_unmap", case_suspend_unmap },
	{ "delete_sq_unmap", case_delete_sq_unmap },
	{ "dsm_toctou", case_dsm_toctou },
	{ "noread", case_noread },
	{ "noread_vhost", case_noread_vhost },
	{ "slow_reader", case_slow_reader },
	{ "vring_num", case_vring_num },
	{ "features_live", case_features_live },
};

static void usage(void)
{
	fprintf(stderr, "usage: hostile_client SOCKET CASE [--nsid N] [--lba N] [--seed N] [--op read|write]\n"
			"  [--then delete_sq|reset|hold] [--dsm-cmds N] [--count N]\ncases:");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		fprintf(stderr, " %s", cases[i].name);
	fprintf(stderr, "\n");
	exit(2);
}

int main(int argc, char **argv)
{
	struct tap_opts T = { .nnames = 0 };
	const struct tap_arg args[] = {
		{ "--nsid", TAP_U32, &O.nsid },
		{ "--lba", TAP_U32, &O.lba },
		{ "--seed", TAP_U32, &O.seed },
		{ "--op", TAP_STR, &O.op },
		{ "--then", TAP_STR, &O.then },
		{ "--dsm-cmds", TAP_INT, &O.dsm_cmds },
		{ "--count", TAP_INT, &O.count },
	};
	const char *pos[2] = { NULL, NULL };
	setvbuf(stdout, NULL, _IOLBF, 0);
	tap_set_immediate();
	/* one case, named by position: no --case, no --list */
	if (!tap_parse(argc, argv, &T, args, sizeof(args) / sizeof(args[0]), pos, 2) || T.nnames || T.list)
		usage();
	O.sock = pos[0];
	O.cas = pos[1];
	if (!O.sock || !O.cas)
		usage();
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (strcmp(cases[i].name, O.cas))
			continue;
		cases[i].fn();
		diag("END %s: %d failure%s", O.cas, tap_failures(), tap_failures() == 1 ? "" : "s");
		return tap_failures() ? 1 : 0;
	}
	usage();
	return 2;
}
