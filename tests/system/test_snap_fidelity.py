#!/usr/bin/env python3
"""SNAP and SPDK command-line fidelity against a running osnapd.

(a) the seeds' spellings of SNAP parameters (--dbg_admin_q, --vf_num_msix,
    --live_update, --live_update_notifier, a positional CtrlName) reach the
    daemon under the keys SNAP's client sends, osnap's older spellings stay
    aliases, and every accepted parameter acts or is refused clearly (-95
    naming it) without changing anything;
(b) methods the CLI lists but osnapd does not serve yet answer -95 naming
    what is missing, `osnap-rpc -h` marks them, and a mistyped method gets
    "did you mean" from both the CLI and the daemon.
docs/snap-parameters.md is the table these tests hold the daemon to."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import osnaptest  # noqa: E402
from osnaptest import test, eq, check, main, Daemon, RpcError  # noqa: E402

NQN = "nqn.2022-10.io.nvda.nvme:0"
EOPNOTSUPP = -95
INVALID = -32602
EPERM = -1


def sriov_daemon(extra=()):
    d0 = osnaptest.tmpdir()
    conf = os.path.join(d0, "emu.conf")
    with open(conf, "w") as f:
        f.write("\n".join(["EMU_DIR=%s" % os.path.join(d0, "emu"), "SRIOV_EN=1",
                           "NVME_EMULATION_NUM_VF=2", "VIRTIO_BLK_EMULATION_NUM_VF=3"] + list(extra)) + "\n")
    d = Daemon(["-c", conf])
    d.emu_dir = os.path.join(d0, "emu")
    return d


def dry(*words):
    """The request osnap-rpc builds for a command line (no daemon)."""
    p = subprocess.run([osnaptest.OSNAP_RPC, "--dry-run"] + list(words), capture_output=True, text=True)
    eq(p.returncode, 0, "%s: %s" % (" ".join(words), p.stderr))
    return json.loads(p.stdout)


def cli_error(d, *words):
    """Run a command line that must fail; returns (code, message) of the error."""
    p = d.cli(*words, check=False)
    eq(p.returncode, 1, "%s must fail (stdout %r)" % (" ".join(words), p.stdout))
    line = [ln for ln in p.stderr.splitlines() if "error:" in ln][0]
    code, msg = line.split("error:", 1)[1].strip().split(":", 1)
    return int(code), msg.strip()


def expect_refused(d, words, code, names):
    got, msg = cli_error(d, *words)
    eq(got, code, "%s: code (message %r)" % (" ".join(words), msg))
    for n in names:
        check(n in msg, "%s: message %r does not name %r" % (" ".join(words), msg, n))


# ---- (a) parameters ----------------------------------------------------------------

@test
def seed_spellings_on_the_wire():
    eq(dry("virtio_blk_controller_create", "--pf_id", "0", "--dbg_admin_q")["params"],
       {"pf_id": 0, "dbg_admin_q": True}, "--dbg_admin_q")
    eq(dry("virtio_blk_controller_create", "--pf_id", "0", "--admin_q", "0")["params"],
       {"pf_id": 0, "admin_q": 0}, "--admin_q (alias)")
    eq(dry("nvme_controller_create", "--nqn", NQN, "--pf_id", "0", "--vf_id", "1", "--vf_num_msix", "4")["params"],
       {"nqn": NQN, "pf_id": 0, "vf_id": 1, "vf_num_msix": 4}, "--vf_num_msix")
    eq(dry("virtio_blk_controller_create", "--pf_id", "0", "--vf_id", "1", "--vf_num_msix", "4")["params"],
       {"pf_id": 0, "vf_id": 1, "vf_num_msix": 4}, "virtio-blk --vf_num_msix")
    eq(dry("nvme_controller_resume", "-c", "NVMeCtrl1", "--live_update")["params"],
       {"ctrl_id": "NVMeCtrl1", "live_update": True}, "--live_update")
    eq(dry("nvme_controller_suspend", "-c", "NVMeCtrl1", "--live_update_notifier")["params"],
       {"ctrl_id": "NVMeCtrl1", "live_update_notifier": True}, "--live_update_notifier")
    for fam in ("nvme", "virtio_blk"):
        m = "%s_controller_vfs_msix_reclaim" % fam
        eq(dry(m, "Ctrl7")["params"], {"ctrl_id": "Ctrl7"}, "%s <CtrlName>" % m)
        eq(dry(m, "-c", "Ctrl7")["params"], {"ctrl_id": "Ctrl7"}, "%s -c" % m)
    eq(dry("nvme_controller_destroy", "-c", "NVMeCtrl2", "--release_msix")["params"],
       {"ctrl_id": "NVMeCtrl2", "release_msix": True}, "--release_msix")


@test
def nvme_msix_and_live_update_act_or_are_refused():
    with sriov_daemon() as d:
        d.cli("bdev_null_create", "null1", "64", "512")
        d.cli("nvme_subsystem_create", "--nqn", NQN)
        # dynamic MSI-X: for PFs (what it does: test_sriov_msix), not for VFs
        expect_refused(d, ["nvme_controller_create", "--nqn", NQN, "--pf_id", "0", "--vf_id", "0",
                           "--dynamic_msix"], INVALID, ["dynamic_msix"])
        eq(d.rpc("nvme_controller_list"), [], "nothing created by the refusals")
        d.cli("nvme_controller_create", "--nqn", NQN, "--ctrl", "NVMeCtrl1", "--pf_id", "0", "--admin_only")
        pf = d.rpc("nvme_controller_list", {"ctrl_id": "NVMeCtrl1"})[0]
        eq((pf["num_free_msix"], pf["dynamic_msix"]), (0, False), "the PF: every vector with its VFs")
        expect_refused(d, ["nvme_controller_vfs_msix_reclaim", "NVMeCtrl1"], EPERM, ["dynamic_msix"])
        # --vf_num_msix: the VF's own table size always; another count needs
        # the PF's controller with dynamic_msix
        vf = [f for f in d.rpc("emulation_function_list", {"all": True}) if f["emulation_type"] == "NVME"][0]
        expect_refused(d, ["nvme_controller_create", "--nqn", NQN, "--pf_id", "0", "--vf_id", "0",
                           "--vf_num_msix", "3"], EPERM, ["vf_num_msix", "dynamic_msix"])
        expect_refused(d, ["nvme_controller_create", "--nqn", NQN, "--pf_id", "0", "--vf_id", "0",
                           "--vf_num_msix", "4096"], INVALID, ["vf_num_msix"])
        expect_refused(d, ["nvme_controller_create", "--nqn", NQN, "--pf_id", "0", "--vf_id", "0",
                           "--num_msix", "1"], INVALID, ["vf_num_msix"])
        eq(len(d.rpc("nvme_controller_list")), 1, "nothing created by the refusals")
        d.cli("nvme_controller_create", "--nqn", NQN, "--ctrl", "NVMeCtrl2", "--pf_id", "0", "--vf_id", "0",
              "--vf_num_msix", "4", "--suspended")
        c2 = d.rpc("nvme_controller_list", {"ctrl_id": "NVMeCtrl2"})[0]
        eq((c2["num_msix"], c2["vf_index"], c2["state"]), (4, 0, "SUSPENDED"), "VF controller")
        check(vf["vuid"] in c2["vuid"], "VF's VUID %r" % c2["vuid"])
        # live update: refused, the controller stays as it was
        d.cli("nvme_namespace_create", "-b", "null1", "-n", "1", "--nqn", NQN)
        d.cli("nvme_controller_attach_ns", "-c", "NVMeCtrl2", "-n", "1")
        expect_refused(d, ["nvme_controller_resume", "-c", "NVMeCtrl2", "--live_update"], EOPNOTSUPP,
                       ["live_update"])
        eq(d.rpc("nvme_controller_list", {"ctrl_id": "NVMeCtrl2"})[0]["state"], "SUSPENDED", "after --live_update")
        eq(d.cli_json("nvme_controller_resume", "-c", "NVMeCtrl2", "--live_update", "0"), True, "--live_update 0")
        expect_refused(d, ["nvme_controller_suspend", "-c", "NVMeCtrl2", "--live_update_notifier"], EOPNOTSUPP,
                       ["live_update_notifier"])
        eq(d.rpc("nvme_controller_list", {"ctrl_id": "NVMeCtrl2"})[0]["state"] != "SUSPENDED", True,
           "not suspended by the refused --live_update_notifier")
        expect_refused(d, ["nvme_controller_destroy", "-c", "NVMeCtrl2", "--release_msix"], EPERM,
                       ["release_msix", "dynamic_msix"])
        eq(len(d.rpc("nvme_controller_list")), 2, "NVMeCtrl2 still there after --release_msix")
        d.cli("nvme_controller_destroy", "-c", "NVMeCtrl2")
        eq([c["ctrl_id"] for c in d.rpc("nvme_controller_list")], ["NVMeCtrl1"], "after destroy")
        eq(d.stop(), 0, "exit code")


@test
def virtio_blk_params_act_or_are_refused():
    with sriov_daemon() as d:
        d.cli("bdev_malloc_create", "16", "512", "-b", "M0")
        for words, code, names in [
                (["--pf_id", "0", "--dbg_admin_q"], EOPNOTSUPP, ["dbg_admin_q"]),
                (["--pf_id", "0", "--admin_q", "1"], EOPNOTSUPP, ["dbg_admin_q"]),
                (["--pf_id", "0", "--vf_id", "0", "--dynamic_msix"], INVALID, ["dynamic_msix"]),
                (["--pf_id", "0", "--vf_id", "1", "--vf_num_msix", "2"], EPERM, ["vf_num_msix", "dynamic_msix"]),
                (["--pf_id", "0", "--vf_id", "1", "--vf_num_msix", "0"], INVALID, ["vf_num_msix"]),
                (["--pf_id", "0", "--live_update_listener"], EOPNOTSUPP, ["live_update_listener"])]:
            expect_refused(d, ["virtio_blk_controller_create", "--bdev", "M0"] + words, code, names)
        eq(d.rpc("virtio_blk_controller_list"), [], "nothing created by the refusals")
        eq(d.cli_json("virtio_blk_controller_create", "--pf_id", "0", "--vf_id", "1", "--bdev", "M0",
                      "--vf_num_msix", "4", "--dbg_admin_q", "0"), "VblkCtrl1", "VF with its own MSI-X count")
        expect_refused(d, ["virtio_blk_controller_vfs_msix_reclaim", "VblkCtrl1"], INVALID, ["ctrl_id", "VF controller"])
        expect_refused(d, ["virtio_blk_controller_suspend", "-c", "VblkCtrl1", "-t", "100"], EOPNOTSUPP,
                       ["timeout_ms"])
        expect_refused(d, ["virtio_blk_controller_suspend", "-c", "VblkCtrl1", "-lu"], EOPNOTSUPP,
                       ["live_update_notifier"])
        c = d.rpc("virtio_blk_controller_list")[0]
        eq(c["state"] if "state" in c else "RUNNING", "RUNNING", "not suspended by the refusals")
        expect_refused(d, ["virtio_blk_controller_modify", "-c", "VblkCtrl1", "--num_msix", "5"], EPERM,
                       ["num_msix", "dynamic_msix"])
        eq(d.stop(), 0, "exit code")


# ---- (c) virtio-blk VFs sharing one bdev, each with its own serial ------------------

E2E = os.path.join(osnaptest.BUILD, "tests", "system", "vblk_e2e")


def run_e2e(sock, *args):
    p = subprocess.run([E2E, "--vhost-user", sock] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=150, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    if p.returncode != 0 or "not ok" in out or "\nok " not in "\n" + out:
        raise AssertionError("vblk_e2e %s: exit %d\n%s" % (" ".join(str(a) for a in args), p.returncode, out))
    return out


@test
def one_bdev_behind_several_virtio_blk_vfs():
    with sriov_daemon() as d:
        d.cli("bdev_malloc_create", "64", "512", "-b", "nvme0n1")
        # the seed's loop, on 3 VFs: every create succeeds on the shared bdev
        for i in range(3):
            eq(d.cli_json("virtio_blk_controller_create", "--pf_id", "0", "--vf_id", i, "--bdev", "nvme0n1"),
               "VblkCtrl%d" % (i + 1), "controller on VF %d" % i)
        ctrls = d.rpc("virtio_blk_controller_list")
        eq([c["bdev"] for c in ctrls], ["nvme0n1"] * 3, "bdev of every controller")
        b = d.rpc("bdev_get_bdevs", {"name": "nvme0n1"})[0]
        eq(b["claimed"], False, "a shared bdev is not claimed (SPDK's open without claim)")
        # an NVMe namespace keeps its rule: the bdev to itself
        d.cli("nvme_subsystem_create", "--nqn", NQN)
        e = d.rpc_error("nvme_namespace_create", {"nqn": NQN, "nsid": 1, "bdev_name": "nvme0n1"})
        eq(e.code, -16, "namespace on a shared bdev: %s" % e.message)
        check("VblkCtrl1" in e.message, "message %r does not name a user" % e.message)
        e = d.rpc_error("bdev_malloc_delete", {"name": "nvme0n1"})
        eq(e.code, -16, "delete of a shared bdev: %s" % e.message)
        check("VblkCtrl1 and 2 more" in e.message, "message %r does not name the users" % e.message)
        # and a claimed bdev cannot be shared
        d.cli("bdev_malloc_create", "16", "512", "-b", "nsdisk")
        d.cli("nvme_namespace_create", "-b", "nsdisk", "-n", "2", "--nqn", NQN)
        e = d.rpc_error("virtio_blk_controller_create", {"pf_id": 0, "bdev": "nsdisk"})
        eq(e.code, -16, "virtio-blk on a claimed bdev: %s" % e.message)
        check("namespace 2" in e.message, "message %r does not name the claim" % e.message)
        # data written through VF 0 reads back through VF 2, and the other way
        vfs = [f for f in d.rpc("emulation_function_list", {"all": True}) if f["emulation_type"] == "VBLK"][0]["vfs"]
        socks = [os.path.join(d.emu_dir, vf["vuid"] + ".sock") for vf in vfs]
        run_e2e(socks[0], "--case", "file_pattern", "--seed", 71)
        run_e2e(socks[2], "--case", "pattern_check", "--seed", 71)
        run_e2e(socks[2], "--case", "file_pattern", "--seed", 72)
        run_e2e(socks[1], "--case", "pattern_check", "--seed", 72)
        try:
            run_e2e(socks[0], "--case", "pattern_check", "--seed", 71)
            raise AssertionError("pattern 71 still read back after VF 2 wrote pattern 72")
        except AssertionError as ex:
            check("differs from pattern 71" in str(ex), "pattern_check does not catch old data: %s" % ex)
        # destroying the controllers one by one frees the bdev at the last one
        for i in range(3):
            d.cli("virtio_blk_controller_destroy", "-c", "VblkCtrl%d" % (i + 1))
        eq(d.rpc("bdev_malloc_delete", {"name": "nvme0n1"}), True, "delete once unused")
        eq(d.stop(), 0, "exit code")


@test
def each_virtio_blk_vf_its_own_serial():
    with sriov_daemon(["EMU_SERIAL=MT2114X12200", "VIRTIO_BLK_EMULATION_NUM_VF=125"]) as d:
        d.cli("bdev_null_create", "null0", "64", "512")
        pf = [f for f in d.rpc("emulation_function_list", {"all": True}) if f["emulation_type"] == "VBLK"][0]
        eq(pf["vuid"], "MT2114X12200VBLKS1D0F0", "the seed's PF VUID")
        d.cli("virtio_blk_controller_create", "--vuid", pf["vuid"], "--bdev", "null0")
        for i in (0, 1, 124):
            d.cli("virtio_blk_controller_create", "--pf_id", "0", "--vf_id", i, "--bdev", "null0")
        ids = {c["ctrl_id"]: c["vblk_id"] for c in d.rpc("virtio_blk_controller_list")}
        want = {"VblkCtrl1": "MT2114X12200VBLKS1D0", "VblkCtrl2": "MT2114X12200B0VF1",
                "VblkCtrl3": "MT2114X12200B0VF2", "VblkCtrl4": "MT2114X12200B0VF125"}
        eq(ids, want, "serials listed")
        # what a guest reads with GET_ID: each VF its own (VF 1 and VF 2 and VF 125)
        for n, vid in ((0, "MT2114X12200B0VF1"), (1, "MT2114X12200B0VF2"), (124, "MT2114X12200B0VF125")):
            sock = os.path.join(d.emu_dir, pf["vfs"][n]["vuid"] + ".sock")
            run_e2e(sock, "--case", "get_id", "--expect-id", vid)
        run_e2e(os.path.join(d.emu_dir, pf["vuid"] + ".sock"), "--case", "get_id", "--expect-id", want["VblkCtrl1"])
        # a given --vblk_id still wins
        d.cli("virtio_blk_controller_destroy", "-c", "VblkCtrl3")
        d.cli("virtio_blk_controller_create", "--pf_id", "0", "--vf_id", "1", "--bdev", "null0", "--vblk_id", "disk-b")
        run_e2e(os.path.join(d.emu_dir, pf["vfs"][1]["vuid"] + ".sock"), "--case", "get_id", "--expect-id", "disk-b")
        eq(d.stop(), 0, "exit code")


# ---- (b) methods: served, not served yet, mistyped ---------------------------------

NOT_SERVED = {
    "construct_ext_passthru_bdev": "plugins",
}


def help_lines():
    p = subprocess.run([osnaptest.OSNAP_RPC, "-h"], capture_output=True, text=True)
    eq(p.returncode, 0, "osnap-rpc -h")
    lines = p.stdout.splitlines()
    return {ln.split()[0]: ln for ln in lines[lines.index("methods:") + 1:] if ln.strip()}


@test
def cli_lists_only_what_the_daemon_serves():
    listed = help_lines()
    with Daemon() as d:
        served = set(d.rpc("rpc_get_methods"))
        for name, line in sorted(listed.items()):
            marked = "[not served yet: needs" in line
            if name in served:
                check(not marked, "%s is served but marked: %r" % (name, line))
                continue
            check(marked, "%s is listed, not served and not marked: %r" % (name, line))
            e = d.rpc_error(name, None)
            eq(e.code, EOPNOTSUPP, "%s: code (message %r)" % (name, e.message))
            what = line.split("needs ", 1)[1].split("]", 1)[0]
            check(what in e.message and name in e.message, "%s: %r does not say it needs %r" % (name, e.message, what))
        for name, what in NOT_SERVED.items():
            check(what in listed[name], "%s: -h line %r does not name %r" % (name, listed[name], what))
        # the method's own help says it too
        p = d.cli("construct_ext_passthru_bdev", "-h")
        check("Not served by osnapd yet" in p.stdout, "construct_ext_passthru_bdev -h: %r" % p.stdout)
        eq(d.stop(), 0, "exit code")


@test
def did_you_mean():
    with Daemon() as d:
        for typed, want in [("bdev_get_bdev", "bdev_get_bdevs"), ("nvme_controler_list", "nvme_controller_list"),
                            ("virtio_blk_controller_craete", "virtio_blk_controller_create")]:
            e = d.rpc_error(typed)
            eq(e.code, -32601, "%s: code" % typed)
            check(("did you mean %s?" % want) in e.message, "daemon on %s: %r" % (typed, e.message))
            p = d.cli(typed, check=False)
            eq(p.returncode, 1, "CLI on %s" % typed)
            check(("did you mean '%s'?" % want) in p.stderr, "CLI on %s: %r" % (typed, p.stderr))
        e = d.rpc_error("completely_unrelated_thing")
        eq((e.code, "did you mean" in e.message), (-32601, False), "no suggestion when nothing is close")
        eq(d.stop(), 0, "exit code")


# ---- (d) SPDK's everyday methods -------------------------------------------------------

SPDK_BDEV_KEYS = ["name", "aliases", "product_name", "block_size", "num_blocks", "preferred_write_alignment",
                  "preferred_write_granularity", "optimal_write_size", "preferred_unmap_alignment",
                  "preferred_unmap_granularity", "uuid", "assigned_rate_limits", "claimed", "zoned",
                  "supported_io_types", "driver_specific"]
SPDK_IO_TYPES = ["read", "write", "unmap", "flush", "reset", "nvme_admin", "nvme_io", "nvme_io_md", "write_zeroes",
                 "zcopy", "get_zone_info", "zone_management", "zone_append", "compare", "compare_and_write",
                 "abort", "seek_hole", "seek_data", "copy", "nvme_iov_md", "nvme_nssr", "write_uncorrectable"]


def spdk(d, *words):
    """A command line through the spdk_rpc.py link, its JSON result."""
    p = subprocess.run([os.path.join(osnaptest.BUILD, "tools", "osnap-rpc", "spdk_rpc.py"), "-s", d.sock]
                       + [str(w) for w in words], capture_output=True, text=True, timeout=60)
    eq(p.returncode, 0, "spdk_rpc.py %s: %s" % (" ".join(str(w) for w in words), p.stderr))
    return json.loads(p.stdout) if p.stdout.strip() else None


@test
def spdk_log_levels():
    with Daemon() as d:
        eq(spdk(d, "log_get_level"), "NOTICE", "SPDK's default log level")
        eq(spdk(d, "log_get_print_level"), "NOTICE", "SPDK's default print level")
        eq(spdk(d, "log_set_level", "debug"), True, "set DEBUG (any case)")
        eq(spdk(d, "log_get_level"), "DEBUG", "log level after set")
        eq(spdk(d, "log_get_print_level"), "NOTICE", "print level unchanged")
        # osnap's one log holds what either level lets through: debug lines now appear
        spdk(d, "bdev_malloc_create", "8", "512", "-b", "LogProbe")
        check("RPC bdev_malloc_create" in d.logtext(), "no debug line after log_set_level DEBUG")
        eq(spdk(d, "log_set_level", "ERROR"), True, "set ERROR")
        eq(spdk(d, "log_set_print_level", "WARNING"), True, "print WARNING")
        eq((spdk(d, "log_get_level"), spdk(d, "log_get_print_level")), ("ERROR", "WARNING"), "both")
        n = d.logtext().count("RPC bdev_get_bdevs")
        spdk(d, "bdev_get_bdevs")
        eq(d.logtext().count("RPC bdev_get_bdevs"), n, "no debug line at WARNING")
        e = d.rpc_error("log_set_level", {"level": "LOUD"})
        eq(e.code, INVALID, "unknown level")
        check("level" in e.message and "LOUD" in e.message, "message %r" % e.message)
        eq(spdk(d, "log_get_level"), "ERROR", "unchanged by the refused set")
        # SNAP's snap_log_level_set moves the same log
        d.cli("snap_log_level_set", "-l", "4")
        eq(spdk(d, "log_get_level"), "DEBUG", "after snap_log_level_set 4")
        eq(d.stop(), 0, "exit code")


@test
def spdk_framework_methods():
    with Daemon(["--wait-for-rpc"]) as d:
        waiter = subprocess.Popen([os.path.join(osnaptest.BUILD, "tools", "osnap-rpc", "spdk_rpc.py"), "-s", d.sock,
                                   "framework_wait_init"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            waiter.wait(timeout=1)
            raise AssertionError("framework_wait_init answered before framework_start_init: %r" %
                                 (waiter.communicate(),))
        except subprocess.TimeoutExpired:
            pass
        eq(spdk(d, "framework_start_init"), True, "framework_start_init")
        out, errs = waiter.communicate(timeout=60)
        eq((waiter.returncode, json.loads(out)), (0, True), "framework_wait_init after start (%s)" % errs)
        eq(spdk(d, "framework_wait_init"), True, "framework_wait_init once initialized")
        eq(spdk(d, "bdev_wait_for_examine"), True, "bdev_wait_for_examine")
        spdk(d, "bdev_malloc_create", "8", "512", "-b", "M0")
        subs = spdk(d, "framework_get_subsystems")
        names = [s["subsystem"] for s in subs]
        eq(names[0], "bdev", "bdev first")
        check({"nvme", "virtio_blk"} <= set(names), "subsystems %r" % names)
        for s in subs:
            eq(s["depends_on"], [] if s["subsystem"] == "bdev" else ["bdev"], "depends_on of %s" % s["subsystem"])
        cfg = spdk(d, "framework_get_config", "bdev")
        eq([(c["method"], c["params"]["name"]) for c in cfg], [("bdev_malloc_create", "M0")], "bdev config")
        saved = {s["subsystem"]: s["config"] for s in d.rpc("save_config")["subsystems"]}
        eq(cfg, saved["bdev"], "framework_get_config bdev = save_config's")
        e = d.rpc_error("framework_get_config", {"name": "nope"})
        check(e.code == INVALID and "nope" in e.message, "unknown subsystem: %d %s" % (e.code, e.message))
        eq(d.stop(), 0, "exit code")


@test
def spdk_reactors_and_threads():
    with Daemon() as d:
        r = spdk(d, "framework_get_reactors")
        eq((r["tick_rate"], r["pid"]), (1000000000, d.proc.pid), "tick_rate, pid")
        eq([x["lcore"] for x in r["reactors"]], [0], "reactors on -m 0x1")
        x = r["reactors"][0]
        check(x["tid"] > 0 and x["tid"] != d.proc.pid, "reactor tid %r" % x["tid"])
        check(os.path.exists("/proc/%d/task/%d" % (d.proc.pid, x["tid"])), "tid %d is not a thread of osnapd" % x["tid"])
        eq([t["name"] for t in x["lw_threads"]], ["reactor_0"], "lw_threads")
        t = spdk(d, "thread_get_stats")
        eq(t["tick_rate"], 1000000000, "tick_rate")
        eq([(th["name"], th["cpumask"]) for th in t["threads"]], [("reactor_0", "1")], "threads")
        th = t["threads"][0]
        check(th["busy"] >= 0 and th["idle"] > 0, "busy/idle %r" % th)
        for k in ("active_pollers_count", "timed_pollers_count", "paused_pollers_count"):
            check(isinstance(th[k], int), "%s %r" % (k, th))
        eq(d.stop(), 0, "exit code")


@test
def spdk_bdev_get_bdevs_fields():
    with Daemon() as d:
        spdk(d, "bdev_malloc_create", "8", "512", "-b", "M0")
        b = spdk(d, "bdev_get_bdevs", "-b", "M0")[0]
        eq(list(b.keys()), SPDK_BDEV_KEYS, "keys and their order (SPDK's rpc_dump_bdev_info)")
        eq(list(b["supported_io_types"].keys()), SPDK_IO_TYPES, "every SPDK I/O type")
        eq(b["assigned_rate_limits"], {"rw_ios_per_sec": 0, "rw_mbytes_per_sec": 0, "r_mbytes_per_sec": 0,
                                       "w_mbytes_per_sec": 0}, "no QoS")
        eq([b["supported_io_types"][k] for k in ("read", "write", "unmap", "write_zeroes", "zcopy")],
           [True, True, True, True, False], "malloc's I/O types")
        d.rpc("nvme_subsystem_create", {"nqn": NQN})
        d.rpc("nvme_namespace_create", {"nqn": NQN, "nsid": 1, "bdev_name": "M0"})
        b = spdk(d, "bdev_get_bdevs", "-b", "M0")[0]
        eq((b["claimed"], b["claim_type"]), (True, "exclusive_write"), "claimed by a namespace")
        e = d.rpc_error("bdev_malloc_delete", {"name": "M0"})
        check(e.code == -16 and "claimed by namespace 1" in e.message, "delete of a claimed bdev: %s" % e.message)
        eq(d.stop(), 0, "exit code")


if __name__ == "__main__":
    main()
