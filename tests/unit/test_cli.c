/* src/cli: line splitting and the argparse-like command parser. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

/* ---- helpers ---- */

/* Split line and check the words. */
static void expect_split(const char *line, int n, ...)
{
	va_list ap;
	int argc;
	char **argv;

	assert_int_equal(cli_split_line(line, &argc, &argv), 0);
	assert_int_equal(argc, n);
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(argv[i], va_arg(ap, const char *));
	va_end(ap);
	assert_null(argv[argc]);
	cli_free_argv(argc, argv);
}

struct parsed {
	int rc;
	const char *method;
	json_t *params;
	char err[512];
	char help[8192];
};

/* Parse a command line given as one string (split with cli_split_line). */
static void parse(const char *line, struct parsed *p)
{
	int argc;
	char **argv;
	FILE *h = fmemopen(p->help, sizeof(p->help), "w");

	assert_non_null(h);
	memset(p->help, 0, sizeof(p->help));
	assert_int_equal(cli_split_line(line, &argc, &argv), 0);
	p->params = NULL;
	p->rc = cli_parse_command(argc, argv, &p->method, &p->params, p->err, sizeof(p->err), h);
	fclose(h);
	cli_free_argv(argc, argv);
}

/* Parse and compare the params with the JSON text want ("null": none). */
static void expect_params(const char *line, const char *method, const char *want)
{
	struct parsed p;
	json_error_t jerr;
	json_t *w = json_loads(want, JSON_DECODE_ANY, &jerr);

	assert_non_null(w);
	parse(line, &p);
	if (p.rc != 0)
		fail_msg("'%s' failed: %s", line, p.err);
	assert_string_equal(p.method, method);
	if (json_is_null(w)) {
		assert_null(p.params);
	} else {
		assert_non_null(p.params);
		if (!json_equal(w, p.params)) {
			char *got = json_dumps(p.params, JSON_SORT_KEYS);

			fail_msg("'%s': got %s, want %s", line, got, want);
		}
	}
	json_decref(w);
	json_decref(p.params);
}

/* Parse and expect a failure whose message contains msg. */
static void expect_error(const char *line, int rc, const char *msg)
{
	struct parsed p;

	parse(line, &p);
	if (p.rc != rc)
		fail_msg("'%s': rc %d, want %d (%s)", line, p.rc, rc, p.err);
	if (!strstr(p.err, msg))
		fail_msg("'%s': message '%s' lacks '%s'", line, p.err, msg);
	assert_null(p.params);
}

/* ---- cli_split_line ---- */

static void test_split_quotes(void **state)
{
	(void)state;
	expect_split("a b\tc", 3, "a", "b", "c");
	expect_split("  nvme_subsystem_create -mn 'BF3 SNAP Ctrl'  ", 3,
		     "nvme_subsystem_create", "-mn", "BF3 SNAP Ctrl");
	expect_split("x \"a \\\"b\\\" c\" d", 3, "x", "a \"b\" c", "d");
	expect_split("x a\\ b 'it''s' \"\"", 4, "x", "a b", "its", "");
	expect_split("x 'a\\b'", 2, "x", "a\\b");
	expect_split("x\n", 1, "x");
}

static void test_split_comments(void **state)
{
	int argc;
	char **argv;

	(void)state;
	expect_split("# a comment", 0);
	expect_split("", 0);
	expect_split("   \t ", 0);
	expect_split("a b # c d", 2, "a", "b");
	expect_split("a b#c '#d'", 3, "a", "b#c", "#d");
	assert_int_equal(cli_split_line("a 'b", &argc, &argv), -EINVAL);
	assert_int_equal(cli_split_line("a \"b", &argc, &argv), -EINVAL);
	assert_int_equal(cli_split_line("a b\\", &argc, &argv), -EINVAL);
}

static void test_split_prefix(void **state)
{
	(void)state;
	expect_split("snap_rpc.py emulation_function_list", 1, "emulation_function_list");
	expect_split("spdk_rpc.py bdev_nvme_detach_controller nvme0", 2,
		     "bdev_nvme_detach_controller", "nvme0");
	expect_split("/usr/bin/rpc.py spdk_get_version", 1, "spdk_get_version");
	expect_split("./osnap-rpc -s /tmp/x.sock -v framework_start_init", 1, "framework_start_init");
	expect_split("spdk_rpc.py --plugin bdev_passthru construct_ext_passthru_bdev -b Malloc0 -p TestPT",
		     5, "construct_ext_passthru_bdev", "-b", "Malloc0", "-p", "TestPT");
	/* only a leading program word is dropped */
	expect_split("nvme_subsystem_list snap_rpc.py", 2, "nvme_subsystem_list", "snap_rpc.py");
	expect_split("my_rpc.py x", 2, "my_rpc.py", "x");
}

static void test_split_en_dash(void **state)
{
	(void)state;
	/* the seed's line, with U+2013 before f */
	expect_split("./snap_rpc.py -t 1000 virtio_blk_controller_destroy -c VblkCtrl5 \xe2\x80\x93" "f",
		     4, "virtio_blk_controller_destroy", "-c", "VblkCtrl5", "-f");
	expect_split("virtio_blk_controller_create \xe2\x80\x93pf_id 0", 3,
		     "virtio_blk_controller_create", "-pf_id", "0");
	/* em dash: "--"; a dash inside a word or quoted stays */
	expect_split("x \xe2\x80\x94" "force", 2, "x", "--force");
	expect_split("x a\xe2\x80\x93" "b '\xe2\x80\x93" "c'", 3, "x", "a\xe2\x80\x93" "b",
		     "\xe2\x80\x93" "c");
}

/* ---- cli_parse_command ---- */

static void test_parse_seed_lines(void **state)
{
	(void)state;
	expect_params("snap_rpc.py emulation_function_list", "emulation_function_list", "null");
	expect_params("emulation_function_list -a", "emulation_function_list", "{\"all\": true}");
	expect_params("snap_rpc.py virtio_blk_controller_create --vuid MT2114X12200VBLKS1D0F0 --bdev nvme0n1",
		      "virtio_blk_controller_create",
		      "{\"vuid\": \"MT2114X12200VBLKS1D0F0\", \"bdev\": \"nvme0n1\"}");
	expect_params("snap_rpc.py virtio_blk_controller_hotplug -c VblkCtrl1 --wait_for_done",
		      "virtio_blk_controller_hotplug",
		      "{\"ctrl_id\": \"VblkCtrl1\", \"wait_for_done\": true}");
	expect_params("./snap_rpc.py -t 1000 virtio_blk_controller_destroy -c VblkCtrl5 \xe2\x80\x93" "f",
		      "virtio_blk_controller_destroy", "{\"ctrl_id\": \"VblkCtrl5\", \"force\": true}");
	expect_params("virtio_blk_controller_create \xe2\x80\x93pf_id 0",
		      "virtio_blk_controller_create", "{\"pf_id\": 0}");
	expect_params("snap_rpc.py nvme_namespace_create -b nvme0n1 -n 1 --nqn nqn.2022-10.io.nvda.nvme:0 "
		      "--uuid 263826ad-19a3-4feb-bc25-4bc81ee7749e", "nvme_namespace_create",
		      "{\"bdev_name\": \"nvme0n1\", \"nsid\": 1, \"nqn\": \"nqn.2022-10.io.nvda.nvme:0\","
		      " \"uuid\": \"263826ad-19a3-4feb-bc25-4bc81ee7749e\"}");
	expect_params("nvme_controller_create --nqn nqn.2022-10.io.nvda.nvme:0 --ctrl NVMeCtrl2 --pf_id 0 "
		      "--vf_id 0 --suspended", "nvme_controller_create",
		      "{\"nqn\": \"nqn.2022-10.io.nvda.nvme:0\", \"ctrl_id\": \"NVMeCtrl2\", \"pf_id\": 0,"
		      " \"vf_id\": 0, \"suspended\": true}");
	expect_params("spdk_rpc.py bdev_nvme_attach_controller -b nvme0 -t rdma -a 1.1.1.1 -f ipv4 -s 4420 "
		      "-n nqn.2022-10.io.nvda.nvme:swx-storage", "bdev_nvme_attach_controller",
		      "{\"name\": \"nvme0\", \"trtype\": \"rdma\", \"traddr\": \"1.1.1.1\", \"adrfam\": \"ipv4\","
		      " \"trsvcid\": \"4420\", \"subnqn\": \"nqn.2022-10.io.nvda.nvme:swx-storage\"}");
	expect_params("spdk_rpc.py bdev_nvme_detach_controller nvme0", "bdev_nvme_detach_controller",
		      "{\"name\": \"nvme0\"}");
	expect_params("spdk_rpc.py bdev_nvme_set_options --rdma-srq-size 4096", "bdev_nvme_set_options",
		      "{\"rdma_srq_size\": 4096}");
	expect_params("spdk_rpc.py construct_ext_passthru_bdev -b Malloc0 -p TestPT",
		      "construct_ext_passthru_bdev", "{\"base_bdev_name\": \"Malloc0\", \"name\": \"TestPT\"}");
}

static void test_parse_multi_letter_short(void **state)
{
	(void)state;
	/* -s is --nqn after METHOD; -sn, -mn, -nn, -mnan are whole options */
	expect_params("nvme_subsystem_create -s nqn.2022-10.io.nvda.nvme:0 -mn 'BF3 SNAP Ctrl' -sn X "
		      "-mnan 1024 -nn 1024", "nvme_subsystem_create",
		      "{\"nqn\": \"nqn.2022-10.io.nvda.nvme:0\", \"model_number\": \"BF3 SNAP Ctrl\","
		      " \"serial_number\": \"X\", \"mnan\": 1024, \"nn\": 1024}");
	/* "-sVALUE" attached to a one-letter option */
	expect_params("nvme_subsystem_create -snqn.1 -nn 0xFFFFFFFE", "nvme_subsystem_create",
		      "{\"nqn\": \"nqn.1\", \"nn\": 4294967294}");
	/* a unique prefix of a longer single-dash option */
	expect_params("nvme_subsystem_create -s q -mna 8", "nvme_subsystem_create",
		      "{\"nqn\": \"q\", \"mnan\": 8}");
	/* clustered store_true letters */
	expect_params("bdev_nvme_attach_controller -b n -t tcp -a 1.2.3.4 -ed", "bdev_nvme_attach_controller",
		      "{\"name\": \"n\", \"trtype\": \"tcp\", \"traddr\": \"1.2.3.4\", \"hdgst\": true,"
		      " \"ddgst\": true}");
}

static void test_parse_key_value(void **state)
{
	(void)state;
	expect_params("nvme_controller_attach_ns --ctrl=NVMeCtrl1 --nsid=7", "nvme_controller_attach_ns",
		      "{\"ctrl_id\": \"NVMeCtrl1\", \"nsid\": 7}");
	expect_params("nvme_controller_attach_ns -c=C -n=0x10", "nvme_controller_attach_ns",
		      "{\"ctrl_id\": \"C\", \"nsid\": 16}");
	/* unique prefix of a long option */
	expect_params("nvme_controller_attach_ns --ct C --ns 2", "nvme_controller_attach_ns",
		      "{\"ctrl_id\": \"C\", \"nsid\": 2}");
	/* a value may start with '-' only when attached */
	expect_params("bdev_get_bdevs --name=-odd", "bdev_get_bdevs", "{\"name\": \"-odd\"}");
	/* negative numbers are values */
	expect_params("bdev_nvme_set_options -r -1 -l -1", "bdev_nvme_set_options",
		      "{\"bdev_retry_count\": -1, \"ctrlr_loss_timeout_sec\": -1}");
	/* "--" ends the options */
	expect_params("bdev_malloc_delete -- -weird", "bdev_malloc_delete", "{\"name\": \"-weird\"}");
	/* SNAP 0/1 switches: bare or with a value */
	expect_params("nvme_controller_create -s q --pf_id 0 --compare 0 --suspended 1 --admin_only",
		      "nvme_controller_create",
		      "{\"nqn\": \"q\", \"pf_id\": 0, \"compare\": 0, \"suspended\": 1, \"admin_only\": true}");
	/* store_false */
	expect_params("bdev_nvme_set_options -d", "bdev_nvme_set_options", "{\"delay_cmd_submit\": false}");
	/* options not sent (client side) */
	expect_params("save_config -i 4", "save_config", "null");
}

/* rpc.py's action='append' key=value options (bdev_rbd_*): one object */
static void test_parse_key_value_pairs(void **state)
{
	(void)state;
	expect_params("bdev_rbd_create -b r0 --config mon_host=[v2:1.2.3.4:3300] --config key=a=b= "
		      "--config-param client_mount_timeout=5 rbd img 4096 -c c1 -r", "bdev_rbd_create",
		      "{\"name\": \"r0\", \"pool_name\": \"rbd\", \"rbd_name\": \"img\", "
		      "\"block_size\": 4096, \"cluster_name\": \"c1\", \"read_only\": true, "
		      "\"config\": {\"mon_host\": \"[v2:1.2.3.4:3300]\", \"key\": \"a=b=\", "
		      "\"client_mount_timeout\": \"5\"}}");
	/* a later value of a key replaces the earlier one; an empty value is kept */
	expect_params("bdev_rbd_register_cluster c1 --config-param a=1 --config-param a=2 "
		      "--config-param b= --user admin --key-file /k", "bdev_rbd_register_cluster",
		      "{\"name\": \"c1\", \"user_id\": \"admin\", \"key_file\": \"/k\", "
		      "\"config_param\": {\"a\": \"2\", \"b\": \"\"}}");
	expect_error("bdev_rbd_create rbd img 512 --config nokey", -EINVAL,
		     "argument --config: 'nokey' is not in key=value form");
	expect_error("bdev_rbd_register_cluster c1 --config-param =v", -EINVAL,
		     "argument --config-param: '=v' is not in key=value form");
	expect_params("bdev_rbd_resize r0 128", "bdev_rbd_resize", "{\"name\": \"r0\", \"new_size\": 128}");
}

static void test_parse_required(void **state)
{
	(void)state;
	expect_error("nvme_namespace_create -s nqn.1 -b Malloc0", -EINVAL,
		     "nvme_namespace_create: error: the following arguments are required: -n/--nsid");
	expect_error("nvme_namespace_create", -EINVAL,
		     "required: -s/--nqn, -n/--nsid, -b/--bdev_name");
	expect_error("bdev_malloc_create -b M", -EINVAL,
		     "bdev_malloc_create: error: the following arguments are required: total_size, block_size");
	expect_error("bdev_nvme_detach_controller", -EINVAL, "required: name");
	expect_error("nvme_controller_attach_ns -c C -n", -EINVAL,
		     "argument -n/--nsid: expected one argument");
	expect_error("nvme_controller_attach_ns -c -n 1", -EINVAL,
		     "argument -c/--ctrl: expected one argument");
}

static void test_parse_unknown(void **state)
{
	(void)state;
	expect_error("no_such_method", -ENOENT, "unknown method 'no_such_method'");
	expect_error("bdev_get_bdev", -ENOENT, "did you mean 'bdev_get_bdevs'?");
	assert_false(cli_method_known("no_such_method"));
	assert_true(cli_method_known("nvme_subsystem_create"));
	expect_error("nvme_subsystem_list --bogus", -EINVAL,
		     "nvme_subsystem_list: error: unrecognized arguments: --bogus");
	expect_error("nvme_subsystem_list extra words", -EINVAL, "unrecognized arguments: extra words");
	expect_error("nvme_controller_resume -c C --force", -EINVAL, "unrecognized arguments: --force");
	expect_error("nvme_namespace_list --n 1", -EINVAL, "ambiguous option: --n could match --nqn, --nsid");
	expect_error("emulation_function_list --all=yes", -EINVAL, "ignored explicit argument 'yes'");
}

static void test_parse_types(void **state)
{
	(void)state;
	expect_error("nvme_namespace_create -s q -b B --nsid x", -EINVAL,
		     "argument -n/--nsid: invalid int value: 'x'");
	expect_error("nvme_namespace_create -s q -b B -n 1.5", -EINVAL, "invalid int value: '1.5'");
	expect_error("nvme_namespace_create -s q -b B -n 0x", -EINVAL, "invalid int value: '0x'");
	expect_error("nvme_namespace_create -s q -b B -n 99999999999999999999", -EINVAL, "invalid int value");
	expect_error("bdev_malloc_create abc 512", -EINVAL, "argument total_size: invalid float value: 'abc'");
	expect_error("bdev_dbg_io -b M -o erase", -EINVAL,
		     "argument -o/--op: invalid choice: 'erase' (choose from 'read', 'write'");
	expect_error("bdev_malloc_create 1 512 -t 5", -EINVAL, "invalid choice: '5'");
	expect_params("nvme_namespace_create -s q -b B -n 010", "nvme_namespace_create",
		      "{\"nqn\": \"q\", \"bdev_name\": \"B\", \"nsid\": 10}");
	expect_params("bdev_dbg_io -b M -o write --offset 8 --num-blocks 2 --data AAAA --pattern 0xa5 --fua",
		      "bdev_dbg_io", "{\"name\": \"M\", \"op\": \"write\", \"offset_blocks\": 8,"
		      " \"num_blocks\": 2, \"data\": \"AAAA\", \"pattern\": 165, \"fua\": true}");
}

static void test_parse_help(void **state)
{
	struct parsed p;

	(void)state;
	parse("nvme_namespace_create -h", &p);
	assert_int_equal(p.rc, 1);
	assert_null(p.params);
	assert_non_null(strstr(p.help, "usage: osnap-rpc nvme_namespace_create"));
	assert_non_null(strstr(p.help, "-n NSID, --nsid NSID"));
	/* -h wins over missing required arguments */
	parse("bdev_malloc_create --help", &p);
	assert_int_equal(p.rc, 1);
	assert_non_null(strstr(p.help, "total_size"));
	/* every method has a help */
	for (const char *const *m = (const char *const[]){ "emulation_function_list", "bdev_dbg_io",
			"bdev_nvme_set_options", "virtio_blk_controller_create", NULL }; *m; m++) {
		char line[128];

		snprintf(line, sizeof(line), "%s -h", *m);
		parse(line, &p);
		assert_int_equal(p.rc, 1);
		assert_non_null(strstr(p.help, *m));
	}
}

static void test_parse_malloc_math(void **state)
{
	(void)state;
	expect_params("bdev_malloc_create 32 4096 -b Malloc0", "bdev_malloc_create",
		      "{\"name\": \"Malloc0\", \"num_blocks\": 8192, \"block_size\": 4096}");
	expect_params("bdev_malloc_create 0.5 512", "bdev_malloc_create",
		      "{\"num_blocks\": 1024, \"block_size\": 512}");
	/* floor division: 1 MiB in 3000-byte blocks */
	expect_params("bdev_malloc_create 1 3000", "bdev_malloc_create",
		      "{\"num_blocks\": 349, \"block_size\": 3000}");
	expect_params("bdev_malloc_create 1024 4096 -u 1b3c -o 8 -m 8 -i -t 1 -d",
		      "bdev_malloc_create",
		      "{\"num_blocks\": 262144, \"block_size\": 4096, \"uuid\": \"1b3c\","
		      " \"optimal_io_boundary\": 8, \"md_size\": 8, \"md_interleave\": true,"
		      " \"dif_type\": 1, \"dif_is_head_of_md\": true}");
	expect_error("bdev_malloc_create 32 0", -EINVAL, "block_size");
	expect_params("spdk_rpc.py bdev_null_create null1 64 512", "bdev_null_create",
		      "{\"name\": \"null1\", \"num_blocks\": 131072, \"block_size\": 512}");
	expect_error("bdev_null_create n 64 512 -t 1", -EINVAL, "--md-size must be > 0");
	expect_error("bdev_null_create n 1.5 512", -EINVAL, "argument total_size: invalid int value");
	expect_params("bdev_uring_create /dev/x u0", "bdev_uring_create",
		      "{\"filename\": \"/dev/x\", \"name\": \"u0\"}");
	expect_params("bdev_aio_create /tmp/f a0 4096 -r --fallocate", "bdev_aio_create",
		      "{\"filename\": \"/tmp/f\", \"name\": \"a0\", \"block_size\": 4096, \"readonly\": true,"
		      " \"fallocate\": true}");
	expect_error("bdev_aio_create /tmp/f a0 4096 extra", -EINVAL, "unrecognized arguments: extra");
}

static void test_list_methods(void **state)
{
	char buf[16384] = "";
	FILE *f = fmemopen(buf, sizeof(buf) - 1, "w");

	(void)state;
	assert_non_null(f);
	cli_list_methods(f);
	fclose(f);
	assert_non_null(strstr(buf, "nvme_controller_snapshot_get"));
	assert_non_null(strstr(buf, "bdev_dbg_io"));
	assert_non_null(strstr(buf, "sock_set_default_impl"));
}

static void test_edit_distance(void **state)
{
	size_t d;

	(void)state;
	assert_int_equal(cli_edit_distance("", ""), 0);
	assert_int_equal(cli_edit_distance("abc", ""), 3);
	assert_int_equal(cli_edit_distance("", "abc"), 3);
	assert_int_equal(cli_edit_distance("kitten", "sitting"), 3);
	assert_int_equal(cli_edit_distance("craete", "create"), 1);	/* a swap is one edit */
	assert_int_equal(cli_edit_distance("bdev_get_bdev", "bdev_get_bdevs"), 1);
	assert_true(cli_name_close("nvme_controler_list", "nvme_controller_list", &d));
	assert_int_equal(d, 1);
	assert_false(cli_name_close("ab", "xyzw", &d));
	assert_string_equal(cli_method_suggest("virtio_blk_controller_craete"), "virtio_blk_controller_create");
	assert_null(cli_method_suggest("completely_unrelated_thing"));
	assert_non_null(cli_method_missing("construct_ext_passthru_bdev"));
	assert_null(cli_method_missing("nvme_function_create"));	/* hot-plug is served */
	assert_null(cli_method_missing("nvme_controller_create"));
	assert_null(cli_method_missing("no_such_method"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_quotes),
		cmocka_unit_test(test_split_comments),
		cmocka_unit_test(test_split_prefix),
		cmocka_unit_test(test_split_en_dash),
		cmocka_unit_test(test_parse_seed_lines),
		cmocka_unit_test(test_parse_multi_letter_short),
		cmocka_unit_test(test_parse_key_value),
		cmocka_unit_test(test_parse_key_value_pairs),
		cmocka_unit_test(test_parse_required),
		cmocka_unit_test(test_parse_unknown),
		cmocka_unit_test(test_parse_types),
		cmocka_unit_test(test_parse_help),
		cmocka_unit_test(test_parse_malloc_math),
		cmocka_unit_test(test_list_methods),
		cmocka_unit_test(test_edit_distance),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
