#!/usr/bin/env python3
"""End-to-end tests of the NVMe emulation (issue 4): osnapd with -m 0x3
(two reactors), configured through snap_rpc.py / spdk_rpc.py, driven by the
user-space NVMe driver of src/host through tests/system/nvme_e2e over
vfio-user.

(a) the seed's "NVMe Configuration for Single Controller" line for line
    (bdev_nvme_attach_controller replaced by a 64 MiB malloc bdev named
    nvme0n1), every nvme_e2e case in trap mode, then the seed's cleanup;
(b) the data tests through a uring file bdev, and the file itself holds the
    bytes the driver wrote;
(c) EMU_NVME_DOORBELLS=mmap (and a deeper NVME_EMULATION_MAX_QUEUE_DEPTH);
(d) shadow doorbells (Doorbell Buffer Config) on a 4-queue controller;
(e) namespace detach/attach while the driver is up: asynchronous events,
    Changed Namespace List, Invalid Namespace;
(f) suspend/resume with I/O in flight; a controller created suspended;
(g) RPC parameter and state errors, list outputs, statistics RPCs,
    save_config and a restart with --json.
"""
import json
import os
import queue
import re
import shlex
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import osnaptest  # noqa: E402
from osnaptest import Daemon, RpcError, check, eq, main, test  # noqa: E402

E2E = os.path.join(osnaptest.BUILD, "tests", "system", "nvme_e2e")
SNAP_RPC = os.path.join(osnaptest.BUILD, "snap_rpc.py")
SPDK_RPC = os.path.join(osnaptest.BUILD, "spdk_rpc.py")
NQN = "nqn.2022-10.io.nvda.nvme:0"
UUID = "263826ad-19a3-4feb-bc25-4bc81ee7749e"
NSZE = 64 * 1024 * 1024 // 512

# The seed, "NVMe Configuration for Single Controller" and its cleanup. The
# first line, spdk_rpc.py bdev_nvme_attach_controller (a remote NVMe-oF
# target), is replaced by a local bdev of the same name; its counterpart at
# the end of the cleanup (bdev_nvme_detach_controller nvme0) accordingly by
# bdev_malloc_delete. The cleanup's NVMeCtrl2 is the seed's typo for NVMeCtrl1.
SEED_SETUP = [
    "spdk_rpc.py bdev_malloc_create 64 512 -b nvme0n1",
    "snap_rpc.py nvme_subsystem_create --nqn nqn.2022-10.io.nvda.nvme:0",
    "snap_rpc.py nvme_namespace_create -b nvme0n1 -n 1 --nqn nqn.2022-10.io.nvda.nvme:0 "
    "--uuid 263826ad-19a3-4feb-bc25-4bc81ee7749e",
    "snap_rpc.py nvme_controller_create --nqn nqn.2022-10.io.nvda.nvme:0 --pf_id 0 --suspended",
    "snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl1 -n 1",
    "snap_rpc.py nvme_controller_resume -c NVMeCtrl1",
]
SEED_CLEANUP = [
    "snap_rpc.py nvme_controller_detach_ns -c NVMeCtrl1 -n 1",
    "snap_rpc.py nvme_controller_destroy -c NVMeCtrl1",
    "snap_rpc.py nvme_namespace_destroy -n 1 --nqn nqn.2022-10.io.nvda.nvme:0",
    "snap_rpc.py nvme_subsystem_destroy --nqn nqn.2022-10.io.nvda.nvme:0",
    "spdk_rpc.py bdev_malloc_delete nvme0n1",
]

# cases for a controller with one I/O queue (the seed's) and the ones that
# need two queues or Compare and Write
BASE_CASES = ["bringup", "identify_ctrl", "identify_ns", "active_ns_list", "ns_descs",
              "feat_num_queues", "feat_arbitration", "feat_power", "feat_temp", "feat_vwc",
              "feat_irq_coalesce", "feat_irq_config", "feat_async_event", "feat_timestamp",
              "feat_kato", "feat_save", "logs", "queues", "cq_backlog", "aer_limit", "abort", "keep_alive",
              "dbbuf", "firmware", "io_basic", "compare", "fused", "io_align", "io_sgl", "io_bad",
              "interrupts", "irq_mask", "fdless_memory", "reset_io", "remap", "remap_live",
              "shutdown", "bad_doorbells"]
DATA_CASES = ["io_basic", "compare", "fused", "io_align", "io_sgl", "io_bad", "inflight2",
              "interrupts", "reset_io", "remap_live"]


# ---- helpers ----------------------------------------------------------------------------------

def quoted(text):
    # never let nvme_e2e's own TAP lines count as this program's tests
    return "\n".join("    | " + l for l in text.splitlines())


def cli_line(d, line, ok=True):
    """Run one snap_rpc.py / spdk_rpc.py command line against d; returns the
    parsed output (or the CompletedProcess when ok is False)."""
    words = shlex.split(line)
    prog = {"snap_rpc.py": SNAP_RPC, "spdk_rpc.py": SPDK_RPC}[words[0]]
    p = subprocess.run([prog, "-s", d.sock] + words[1:], capture_output=True, text=True, timeout=60)
    if not ok:
        return p
    if p.returncode != 0:
        raise AssertionError("%s: exit %d: %s%s" % (line, p.returncode, p.stdout, p.stderr))
    out = p.stdout.strip()
    return json.loads(out) if out else None


def nvme_sock(d, pf=0):
    for f in d.rpc("emulation_function_list"):
        if f["emulation_type"] == "NVME" and f["pf_index"] == pf:
            return os.path.join(d.emu_dir, f["vuid"] + ".sock"), f["vuid"]
    raise AssertionError("no NVMe PF %d" % pf)


def check_tap(out, rc, what):
    plan = re.search(r"^1\.\.(\d+)$", out, re.M)
    oks = re.findall(r"^ok \d+ ", out, re.M)
    bad = re.findall(r"^not ok \d+ - (\S+)", out, re.M)
    if rc != 0 or not plan or bad or len(oks) != int(plan.group(1)):
        raise AssertionError("nvme_e2e %s: exit %s, failed: %s\n%s" %
                             (what, rc, ", ".join(bad) or "-", quoted(out)))


def run_e2e(sock, args, timeout=150):
    p = subprocess.run([E2E, sock] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout, stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    check_tap(out, p.returncode, " ".join(str(a) for a in args))
    for line in out.splitlines():
        if "burst of 16" in line:
            print(line, flush=True)	# what case_dbbuf measured
    return out


def cases(names):
    a = []
    for n in names:
        a += ["--case", n]
    return a


def expect_args(d, nqn=NQN, uuid=UUID, cntlid=1, mdts=7, nsze=NSZE, compare_write=0, **kw):
    """The expectations of nvme_e2e for the subsystem nqn, from its list."""
    ss = [s for s in d.rpc("nvme_subsystem_list") if s["nqn"] == nqn][0]
    a = ["--nqn", nqn, "--sn", ss["sn"], "--mn", ss["mn"], "--nn", ss["nn"], "--cntlid", cntlid,
         "--mdts", mdts, "--nsze", nsze, "--compare-write", compare_write]
    if uuid:
        a += ["--uuid", uuid]
    for k, v in kw.items():
        a += ["--" + k.replace("_", "-"), v]
    return [str(x) for x in a]


class E2EProc:
    """nvme_e2e in the background, for the cases that wait on stdin."""

    def __init__(self, sock, args):
        self.p = subprocess.Popen([E2E, sock] + [str(a) for a in args], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines = []
        self.q = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.q.put(line.rstrip("\n"))
        self.q.put(None)

    def expect(self, prefix, timeout=30):
        end = time.time() + timeout
        while True:
            try:
                line = self.q.get(timeout=max(0.01, end - time.time()))
            except queue.Empty:
                self.kill()
                raise AssertionError("nvme_e2e: no '# %s' within %ds:\n%s" %
                                     (prefix, timeout, quoted("\n".join(self.lines))))
            if line is None:
                self.q.put(None)
                raise AssertionError("nvme_e2e exited before '# %s':\n%s" %
                                     (prefix, quoted("\n".join(self.lines))))
            self.lines.append(line)
            if line.startswith("# " + prefix):
                return line

    def send(self, text):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def finish(self, timeout=60):
        try:
            rc = self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = "timeout"
        while True:
            try:
                line = self.q.get(timeout=5)
            except queue.Empty:
                break
            if line is None:
                break
            self.lines.append(line)
        out = "\n".join(self.lines)
        check_tap(out, rc, "(background)")
        return out

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


def pattern_block(b, bs, seed):
    """Block b of nvme_e2e's pattern (pattern_block() in nvme_e2e.c)."""
    base = (b * 31 + seed * 13) & 0xff
    data = bytearray((base + i * 7) & 0xff for i in range(bs))
    data[0:8] = struct.pack("<Q", b)
    data[8:12] = struct.pack("<I", seed & 0xffffffff)
    data[12:16] = struct.pack("<I", ~b & 0xffffffff)
    return bytes(data)


def start(cpumask="0x3", conf_lines=None, args=()):
    """osnapd on two reactors, with an emulation config of its own when
    conf_lines is given (EMU_DIR first)."""
    if conf_lines is None:
        d = Daemon(list(args), cpumask=cpumask)
        return d
    td = osnaptest.tmpdir()
    emu_dir = os.path.join(td, "emu")
    conf = os.path.join(td, "emu.conf")
    with open(conf, "w") as f:
        f.write("EMU_DIR=%s\n" % emu_dir + "".join(l + "\n" for l in conf_lines))
    d = Daemon(["-c", conf] + list(args), cpumask=cpumask)
    d.emu_dir = emu_dir
    d.emu_config = conf
    return d


def setup_ctrl(d, ctrl_args="", bdev_line="spdk_rpc.py bdev_malloc_create 64 512 -b Malloc0",
               bdev="Malloc0", uuid=UUID):
    cli_line(d, bdev_line)
    cli_line(d, "snap_rpc.py nvme_subsystem_create --nqn %s" % NQN)
    cli_line(d, "snap_rpc.py nvme_namespace_create -b %s -n 1 --nqn %s --uuid %s" % (bdev, NQN, uuid))
    r = cli_line(d, "snap_rpc.py nvme_controller_create --nqn %s --pf_id 0 %s" % (NQN, ctrl_args))
    eq(r["ctrl_id"], "NVMeCtrl1", "controller name")
    cli_line(d, "snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl1 -n 1")
    return nvme_sock(d)[0]


def rpc_err(d, method, params):
    return d.rpc_error(method, params)


# ---- (a) the seed, line for line ------------------------------------------------------------------

@test
def seed_single_controller():
    with start() as d:
        results = [cli_line(d, l) for l in SEED_SETUP]
        eq(results[0], "nvme0n1", "bdev name")
        eq(results[3]["ctrl_id"], "NVMeCtrl1", "nvme_controller_create result")
        for r in results[1:3] + results[4:]:
            eq(r, True, "result")
        sock, vuid = nvme_sock(d)
        ctrl = d.rpc("nvme_controller_list")
        eq(len(ctrl), 1, "controllers")
        eq(ctrl[0]["vuid"], vuid, "the controller's function")
        eq(ctrl[0]["namespaces"], [{"nsid": 1, "bdev": "nvme0n1", "uuid": UUID}], "namespaces")
        run_e2e(sock, ["--mode", "trap"] + expect_args(d) + cases(BASE_CASES), timeout=170)
        for l in SEED_CLEANUP:
            eq(cli_line(d, l), True, l)
        eq(d.rpc("nvme_subsystem_list"), [], "subsystems after the cleanup")
        eq(d.rpc("nvme_controller_list"), [], "controllers after the cleanup")
        eq(d.rpc("nvme_namespace_list"), [], "namespaces after the cleanup")
        eq(d.rpc("bdev_get_bdevs"), [], "bdevs after the cleanup")
        fn = [f for f in d.rpc("emulation_function_list") if f["vuid"] == vuid][0]
        check("ctrl_id" not in fn, "function still bound: %r" % fn)
        eq(d.stop(), 0, "osnapd exit code")


# ---- (b) a uring file bdev: the file holds what the driver wrote ------------------------------------

@test
def uring_file_bdev():
    td = osnaptest.tmpdir()
    img = os.path.join(td, "disk.img")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    with start() as d:
        sock = setup_ctrl(d, "--num_queues 2", "spdk_rpc.py bdev_uring_create %s uring0 512" % img,
                          "uring0")
        seed = 77
        exp = expect_args(d, compare_write=0)
        run_e2e(sock, ["--mode", "trap"] + exp + cases(["identify_ns", "ns_descs"] + DATA_CASES))
        out = run_e2e(sock, ["--mode", "trap", "--seed", seed] + exp + cases(["file_pattern"]))
        extents = [tuple(map(int, m)) for m in re.findall(r"^# extent (\d+) (\d+)$", out, re.M)]
        check(len(extents) >= 4, "extents written: %r\n%s" % (extents, quoted(out)))
        with open(img, "rb") as f:
            for lba, nlb in extents:
                f.seek(lba * 512)
                got = f.read(nlb * 512)
                for k in range(nlb):
                    want = pattern_block(lba + k, 512, seed)
                    if got[k * 512:(k + 1) * 512] != want:
                        raise AssertionError("file block %d (extent %d+%d) differs from what the "
                                             "driver wrote" % (lba + k, lba, nlb))
        eq(d.stop(), 0, "osnapd exit code")


# ---- (c) mmap-ed doorbells ----------------------------------------------------------------------

@test
def mmap_doorbells():
    with start(conf_lines=["EMU_NVME_DOORBELLS=mmap", "NVME_EMULATION_MAX_QUEUE_DEPTH=8"]) as d:
        sock = setup_ctrl(d, "--num_queues 2")
        run_e2e(sock, ["--mode", "mmap", "--mqes", 255] + expect_args(d) +
                cases(["bringup", "identify_ctrl", "dbbuf", "queues", "cq_backlog", "io_basic", "io_align", "io_sgl",
                       "io_bad", "inflight2", "interrupts", "irq_mask", "fdless_memory", "reset_io", "remap",
                       "remap_live", "shutdown", "bad_doorbells"]))
        eq(d.stop(), 0, "osnapd exit code")


# ---- (d) shadow doorbells -------------------------------------------------------------------------

@test
def shadow_doorbells():
    with start() as d:
        sock = setup_ctrl(d, "--num_queues 4 --compare_write 1")
        run_e2e(sock, ["--mode", "shadow"] + expect_args(d, compare_write=1) +
                cases(BASE_CASES + ["inflight2", "fused_race"]), timeout=170)
        eq(d.stop(), 0, "osnapd exit code")


# ---- (e) namespace attach / detach with the driver up -----------------------------------------------

@test
def namespace_attach_detach():
    with start() as d:
        sock = setup_ctrl(d, "--num_queues 2")
        cli_line(d, "spdk_rpc.py bdev_malloc_create 32 512 -b Malloc1")
        cli_line(d, "snap_rpc.py nvme_namespace_create -b Malloc1 -n 2 --nqn %s" % NQN)
        cli_line(d, "snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl1 -n 2")
        e = E2EProc(sock, ["--case", "aen", "--nsid2", 2, "--nsze2", 32 * 2048])
        try:
            e.expect("READY detach")
            eq(cli_line(d, "snap_rpc.py nvme_controller_detach_ns -c NVMeCtrl1 -n 2"), True, "detach")
            ns2 = d.rpc("nvme_namespace_list", {"nqn": NQN, "nsid": 2})
            eq(ns2[0]["controllers"], [], "namespace 2 controllers after detach")
            eq([n["nsid"] for n in d.rpc("nvme_controller_list")[0]["namespaces"]], [1],
               "controller namespaces after detach")
            e.send("detached")
            e.expect("READY attach")
            eq(cli_line(d, "snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl1 -n 2"), True, "attach")
            e.send("attached")
            e.finish()
        finally:
            e.kill()
        eq([n["nsid"] for n in d.rpc("nvme_controller_list")[0]["namespaces"]], [1, 2],
           "controller namespaces after attach")
        eq(d.stop(), 0, "osnapd exit code")


# ---- (f) suspend / resume ----------------------------------------------------------------------------

def ctrl_state(d, name="NVMeCtrl1"):
    return d.rpc("nvme_controller_list", {"ctrl_id": name})[0]["state"]


@test
def suspend_resume_inflight():
    td = osnaptest.tmpdir()
    img = os.path.join(td, "disk.img")
    with open(img, "wb") as f:
        f.truncate(64 << 20)
    with start() as d:
        sock = setup_ctrl(d, "", "spdk_rpc.py bdev_uring_create %s uring0 512" % img, "uring0")
        for rnd in range(2):
            e = E2EProc(sock, ["--case", "suspend_probe", "--seed", 5 + rnd])
            try:
                e.expect("FLOWING", timeout=60)     # writes are completing: I/O in flight
                t0 = time.time()
                eq(cli_line(d, "snap_rpc.py nvme_controller_suspend -c NVMeCtrl1"), True, "suspend")
                e.send("suspended (%.3fs)" % (time.time() - t0))
                eq(ctrl_state(d), "SUSPENDED", "state while suspended")
                line = e.expect("SUSPENDED_OK", timeout=30)
                check("outstanding=" in line, line)
                eq(cli_line(d, "snap_rpc.py nvme_controller_resume -c NVMeCtrl1"), True, "resume")
                eq(ctrl_state(d), "STARTED", "state after resume")
                e.send("resumed")
                e.finish()
            finally:
                e.kill()
        # resuming a controller that is not suspended
        p = cli_line(d, "snap_rpc.py nvme_controller_resume -c NVMeCtrl1", ok=False)
        check(p.returncode != 0, "resume of a running controller succeeded")

        # a controller created suspended is not ready before the resume
        eq(cli_line(d, "snap_rpc.py nvme_controller_destroy -c NVMeCtrl1"), True, "destroy")
        cli_line(d, "snap_rpc.py nvme_controller_create --nqn %s --pf_id 0 --suspended" % NQN)
        cli_line(d, "snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl1 -n 1")
        e = E2EProc(sock, ["--case", "suspended_start"])
        try:
            e.expect("NOT_READY", timeout=30)
            eq(ctrl_state(d), "SUSPENDED", "state of a controller created suspended")
            eq(cli_line(d, "snap_rpc.py nvme_controller_resume -c NVMeCtrl1"), True, "resume")
            e.send("resumed")
            e.finish()
        finally:
            e.kill()
        eq(d.stop(), 0, "osnapd exit code")


# ---- (g) RPC errors, lists, statistics, save_config ---------------------------------------------------

def expect_invalid(d, method, params, name):
    e = rpc_err(d, method, params)
    eq(e.code, -32602, "%s(%r) error code" % (method, params))
    check(name in e.message, "%s(%r): message %r does not name '%s'" % (method, params, e.message, name))


def expect_errno(d, method, params, errno_, words=()):
    e = rpc_err(d, method, params)
    eq(e.code, -errno_, "%s(%r) error code (message %r)" % (method, params, e.message))
    for w in words:
        check(w in e.message, "%s(%r): message %r lacks %r" % (method, params, e.message, w))
    return e


@test
def rpc_errors():
    with start(conf_lines=["NVME_EMULATION_NUM_PF=2"]) as d:
        C = "NVMeCtrl1"
        # parameters: missing, wrong type, out of range, unknown -> -32602 naming them
        for method, params, name in [
            ("nvme_subsystem_create", {}, "nqn"),
            ("nvme_subsystem_create", {"nqn": 5}, "nqn"),
            ("nvme_subsystem_create", {"nqn": NQN, "nn": 0}, "nn"),
            ("nvme_subsystem_create", {"nqn": NQN, "mnan": 0}, "mnan"),
            ("nvme_subsystem_create", {"nqn": NQN, "serial_number": "x" * 21}, "serial_number"),
            ("nvme_subsystem_create", {"nqn": NQN, "single_ctrl": "yes"}, "single_ctrl"),
            ("nvme_subsystem_create", {"nqn": NQN, "bogus": 1}, "bogus"),
            ("nvme_subsystem_destroy", {}, "nqn"),
            ("nvme_subsystem_destroy", {"nqn": NQN, "force": "yes"}, "force"),
            ("nvme_subsystem_list", {"nqn": NQN}, "nqn"),
            ("nvme_namespace_create", {}, "nqn"),
            ("nvme_namespace_create", {"nqn": NQN, "nsid": 1}, "bdev_name"),
            ("nvme_namespace_create", {"nqn": NQN, "bdev_name": "B"}, "nsid"),
            ("nvme_namespace_create", {"nqn": NQN, "bdev_name": "B", "nsid": 0}, "nsid"),
            ("nvme_namespace_create", {"nqn": NQN, "bdev_name": "B", "nsid": "1"}, "nsid"),
            ("nvme_namespace_create", {"nqn": NQN, "bdev_name": "B", "nsid": 1, "uuid": "zz"}, "uuid"),
            ("nvme_namespace_create", {"nqn": NQN, "bdev_name": "B", "nsid": 1, "nguid": "12"}, "nguid"),
            ("nvme_namespace_create", {"nqn": NQN, "bdev_name": "B", "nsid": 1, "eui64": "xyz"}, "eui64"),
            ("nvme_namespace_destroy", {"nqn": NQN}, "nsid"),
            ("nvme_namespace_destroy", {"nsid": 1}, "nqn"),
            ("nvme_namespace_list", {"nsid": -1}, "nsid"),
            ("nvme_controller_create", {}, "nqn"),
            ("nvme_controller_create", {"nqn": NQN}, "vuid"),
            ("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vuid": "X"}, "only one"),
            ("nvme_controller_create", {"nqn": NQN, "vf_id": 0}, "vf_id"),
            ("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "mdts": 8}, "mdts"),
            ("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "num_queues": 200}, "num_queues"),
            ("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "num_queues": 40}, "num_queues"),
            ("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "compare": 2}, "compare"),
            ("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "suspended": "x"}, "suspended"),
            ("nvme_controller_destroy", {}, "ctrl_id"),
            ("nvme_controller_suspend", {}, "ctrl_id"),
            ("nvme_controller_suspend", {"ctrl_id": C, "timeout_ms": -5}, "timeout_ms"),
            ("nvme_controller_resume", {}, "ctrl_id"),
            ("nvme_controller_attach_ns", {"ctrl_id": C}, "nsid"),
            ("nvme_controller_attach_ns", {"nsid": 1}, "ctrl_id"),
            ("nvme_controller_detach_ns", {"ctrl_id": C}, "nsid"),
            ("nvme_controller_detach_ns", {"ctrl_id": C, "nsid": 0}, "nsid"),
            ("nvme_controller_list", {"ctrl_id": 3}, "ctrl_id"),
            ("nvme_controller_modify", {}, "ctrl_id"),
            ("nvme_controller_dbg_io_stats_get", {}, "ctrl_id"),
            ("nvme_controller_dbg_debug_stats_get", {}, "ctrl_id"),
            ("nvme_controller_dbg_debug_stats_get", {"ctrl_id": C, "x": 1}, "x"),
            ("nvme_controller_destroy", {"ctrl_id": C, "force": "x"}, "force"),
            ("nvme_controller_resume", {"ctrl_id": 1}, "ctrl_id"),
            ("nvme_controller_modify", {"ctrl_id": C, "num_queues": "x"}, "num_queues"),
            ("nvme_controller_list", {"nqn": 5}, "nqn"),
            ("nvme_namespace_list", {"nqn": 1}, "nqn"),
            ("nvme_controller_vfs_msix_reclaim", {}, "ctrl_id"),
            ("nvme_controller_snapshot_get", {"ctrl_id": C}, "filename"),
        ]:
            expect_invalid(d, method, params, name)

        # state errors: negative errno with a useful message
        expect_errno(d, "nvme_namespace_create", {"nqn": NQN, "bdev_name": "B", "nsid": 1}, 19, [NQN])
        expect_errno(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0}, 19, [NQN])
        d.rpc("nvme_subsystem_create", {"nqn": NQN})
        expect_errno(d, "nvme_subsystem_create", {"nqn": NQN}, 17, ["exists"])
        expect_errno(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 7}, 19, ["7"])
        expect_errno(d, "nvme_controller_create", {"nqn": NQN, "vuid": "NOSUCHVUID"}, 19, ["NOSUCHVUID"])
        expect_errno(d, "nvme_namespace_create", {"nqn": NQN, "bdev_name": "nope", "nsid": 1}, 19, ["nope"])
        d.rpc("bdev_malloc_create", {"name": "B0", "num_blocks": 2048, "block_size": 512})
        d.rpc("bdev_malloc_create", {"name": "B1", "num_blocks": 2048, "block_size": 512})
        eq(d.rpc("nvme_namespace_create", {"nqn": NQN, "bdev_name": "B0", "nsid": 1, "uuid": UUID}), True, "ns 1")
        expect_errno(d, "nvme_namespace_create", {"nqn": NQN, "bdev_name": "B1", "nsid": 1}, 17, ["1"])
        e = expect_errno(d, "nvme_namespace_create", {"nqn": NQN, "bdev_name": "B0", "nsid": 2}, 16, ["B0"])
        check("namespace 1" in e.message, "claimed bdev: message %r does not say by what" % e.message)
        r = d.rpc("nvme_controller_create", {"nqn": NQN, "pf_id": 0})
        eq(r["ctrl_id"], C, "first controller")
        e = expect_errno(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0}, 16, [C])
        expect_errno(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "ctrl_id": "Other"}, 16)
        r = d.rpc("nvme_controller_create", {"nqn": NQN, "pf_id": 1, "ctrl": "NVMeCtrlB"})
        eq(r["ctrl_id"], "NVMeCtrlB", "second controller, named")
        expect_errno(d, "nvme_controller_create", {"nqn": NQN, "vuid": nvme_sock(d, 1)[1]}, 16, ["NVMeCtrlB"])
        eq(d.rpc("nvme_controller_attach_ns", {"ctrl_id": C, "nsid": 1}), True, "attach")
        expect_errno(d, "nvme_controller_attach_ns", {"ctrl_id": "NVMeCtrlB", "nsid": 1}, 16, [C])
        expect_errno(d, "nvme_controller_attach_ns", {"ctrl_id": C, "nsid": 1}, 16, [C])
        expect_errno(d, "nvme_controller_attach_ns", {"ctrl_id": C, "nsid": 9}, 19, ["9"])
        expect_errno(d, "nvme_controller_detach_ns", {"ctrl_id": "NVMeCtrlB", "nsid": 1}, 2, ["NVMeCtrlB"])
        expect_errno(d, "nvme_controller_attach_ns", {"ctrl_id": "Nope", "nsid": 1}, 19, ["Nope"])
        expect_errno(d, "nvme_namespace_destroy", {"nqn": NQN, "nsid": 1}, 16, [C])
        expect_errno(d, "nvme_namespace_destroy", {"nqn": NQN, "nsid": 5}, 19, ["5"])
        expect_errno(d, "nvme_controller_destroy", {"ctrl_id": "Nope"}, 19, ["Nope"])
        expect_errno(d, "nvme_controller_resume", {"ctrl_id": C}, 22, [C])
        expect_errno(d, "nvme_subsystem_destroy", {"nqn": NQN}, 16, ["force"])
        expect_errno(d, "nvme_subsystem_destroy", {"nqn": "nqn.nope"}, 19, ["nqn.nope"])
        # a failed request changed nothing
        eq(len(d.rpc("nvme_controller_list")), 2, "controllers after the failures")
        eq(len(d.rpc("nvme_namespace_list")), 1, "namespaces after the failures")

        # --force removes the controllers and namespaces; the bdev is free again
        eq(d.rpc("nvme_subsystem_destroy", {"nqn": NQN, "force": True}), True, "forced destroy")
        eq(d.rpc("nvme_subsystem_list"), [], "subsystems after --force")
        eq(d.rpc("nvme_controller_list"), [], "controllers after --force")
        eq(d.rpc("nvme_namespace_list"), [], "namespaces after --force")
        for f in d.rpc("emulation_function_list"):
            check("ctrl_id" not in f, "function still bound after --force: %r" % f)
        d.rpc("nvme_subsystem_create", {"nqn": NQN})
        eq(d.rpc("nvme_namespace_create", {"nqn": NQN, "bdev_name": "B0", "nsid": 1}), True,
           "B0 is free after --force")
        eq(d.stop(), 0, "osnapd exit code")


@test
def lists_and_stats():
    with start() as d:
        d.rpc("bdev_malloc_create", {"name": "M0", "num_blocks": NSZE, "block_size": 512})
        d.rpc("bdev_malloc_create", {"name": "M1", "num_blocks": 4096, "block_size": 4096})
        d.rpc("nvme_subsystem_create", {"nqn": NQN, "serial_number": "OSN-SN-0001", "model_number": "osnap e2e",
                                        "nn": 1024, "mnan": 512})
        u2 = "3d9c3b54-5c31-410a-b4f0-7cf2afd9e100"
        d.rpc("nvme_namespace_create", {"nqn": NQN, "bdev_name": "M0", "nsid": 1, "uuid": UUID})
        d.rpc("nvme_namespace_create", {"nqn": NQN, "bdev_name": "M1", "nsid": 7, "uuid": u2})
        r = d.rpc("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "num_queues": 2, "mdts": 6})
        eq(r["ctrl_id"], "NVMeCtrl1", "controller")
        d.rpc("nvme_controller_attach_ns", {"ctrl_id": "NVMeCtrl1", "nsid": 1})
        sock, vuid = nvme_sock(d)
        vhca = [f for f in d.rpc("emulation_function_list") if f["vuid"] == vuid][0]["vhca_id"]

        ss = d.rpc("nvme_subsystem_list")
        eq(len(ss), 1, "subsystems")
        s = ss[0]
        for k, v in [("nqn", NQN), ("sn", "OSN-SN-0001"), ("mn", "osnap e2e"), ("nn", 1024), ("mnan", 512)]:
            eq(s[k], v, "subsystem " + k)
        eq(len(s["controllers"]), 1, "subsystem controllers")
        eq(len(s["namespaces"]), 2, "subsystem namespaces")
        ctrl = d.rpc("nvme_controller_list")
        eq(ctrl, s["controllers"], "nvme_controller_list vs the subsystem's")
        c = ctrl[0]
        for k, v in [("ctrl_id", "NVMeCtrl1"), ("nqn", NQN), ("vhca_id", vhca), ("mdts", 6),
                     ("num_queues", 2), ("plugged", True)]:
            eq(c[k], v, "controller " + k)
        check(isinstance(c["max_queues"], int) and c["max_queues"] >= 2, "max_queues %r" % c.get("max_queues"))
        check(isinstance(c["state"], str), "state %r" % c.get("state"))
        eq(c["namespaces"], [{"nsid": 1, "bdev": "M0", "uuid": UUID}], "controller namespaces")
        eq(d.rpc("nvme_controller_list", {"ctrl_id": "NVMeCtrl1"}), ctrl, "list filtered by ctrl_id")
        nss = d.rpc("nvme_namespace_list")
        eq(nss, s["namespaces"], "nvme_namespace_list vs the subsystem's")
        n1, n7 = nss
        for k, v in [("nqn", NQN), ("nsid", 1), ("bdev", "M0"), ("uuid", UUID),
                     ("max inflights per weight", 65535), ("controllers", [{"ctrl_id": "NVMeCtrl1"}])]:
            eq(n1[k], v, "namespace 1 " + k)
        for k, v in [("nsid", 7), ("bdev", "M1"), ("uuid", u2), ("controllers", [])]:
            eq(n7[k], v, "namespace 7 " + k)
        eq(n1["ready"], "No", "namespace 1 ready without a driver")
        eq(n7["ready"], "No", "namespace 7 ready")
        eq(d.rpc("nvme_namespace_list", {"nqn": NQN, "nsid": 7}), [n7], "namespace list filtered")

        # statistics while the driver holds its queues
        e = E2EProc(sock, ["--case", "io_hold", "--mdts", 6])
        try:
            line = e.expect("HOLD")
            counts = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", line))
            nq = counts["queues"]
            eq(nq, 2, "driver queues")
            st = d.rpc("nvme_controller_dbg_io_stats_get", {"ctrl_id": "NVMeCtrl1"})
            eq(st["ctrl_id"], "NVMeCtrl1", "io stats ctrl_id")
            qs = dict((q["queue_id"], q) for q in st["queues"])
            eq(sorted(qs), [1, 2], "io stats queues")
            for q in (1, 2):
                eq(qs[q]["read_io_count"], counts["q%d_reads" % q], "queue %d reads" % q)
                eq(qs[q]["write_io_count"], counts["q%d_writes" % q], "queue %d writes" % q)
                eq(qs[q]["flush_io_count"], 0, "queue %d flushes" % q)
            eq(st["read_io_count"], sum(qs[q]["read_io_count"] for q in qs), "total reads")
            eq(st["write_io_count"], sum(qs[q]["write_io_count"] for q in qs), "total writes")
            check(qs[1]["core_id"] != qs[2]["core_id"], "queues 1 and 2 on one core: %r" % st)
            dbg = d.rpc("nvme_controller_dbg_debug_stats_get", {"ctrl_id": "NVMeCtrl1"})
            eq(dbg["ctrl_id"], "NVMeCtrl1", "debug stats ctrl_id")
            eq(dbg["bar"]["cc"] & 1, 1, "CC.EN")
            eq(dbg["bar"]["csts"] & 1, 1, "CSTS.RDY")
            eq(sorted(q["qid"] for q in dbg["sqs"]), [0, 1, 2], "SQs")
            eq(sorted(q["qid"] for q in dbg["cqs"]), [0, 1, 2], "CQs")
            for q in dbg["sqs"]:
                if q["qid"]:
                    eq(q["received"], counts["q%d_reads" % q["qid"]] + counts["q%d_writes" % q["qid"]],
                       "SQ %d received" % q["qid"])
                    eq(q["state"], "RUNNING", "SQ state")
            eq(ctrl_state(d), "STARTED", "state with the driver up")
            eq(d.rpc("nvme_namespace_list", {"nsid": 1})[0]["ready"], "Yes", "namespace ready with a driver")
            # a controller a driver uses is not destroyed or modified without force
            expect_errno(d, "nvme_controller_destroy", {"ctrl_id": "NVMeCtrl1"}, 16, ["NVMeCtrl1", "force"])
            expect_errno(d, "nvme_controller_modify", {"ctrl_id": "NVMeCtrl1", "num_queues": 1}, 16, ["NVMeCtrl1"])
            eq(d.rpc("nvme_controller_list")[0]["num_queues"], 2, "num_queues after the refused modify")
            e.send("done")
            e.finish()
        finally:
            e.kill()
        dbg = d.rpc("nvme_controller_dbg_debug_stats_get", {"ctrl_id": "NVMeCtrl1"})
        eq(dbg["bar"]["cc"] & 1, 0, "CC.EN after the driver left")
        eq(d.stop(), 0, "osnapd exit code")


@test
def save_config_restart():
    td = osnaptest.tmpdir()
    nguid = "0123456789abcdef0011223344556677"
    eui64 = "a1a2a3a4a5a6a7a8"
    with start(conf_lines=["NVME_EMULATION_NUM_PF=2"]) as d:
        conf = d.emu_config
        d.rpc("bdev_malloc_create", {"name": "M0", "num_blocks": NSZE, "block_size": 512})
        d.rpc("bdev_malloc_create", {"name": "M1", "num_blocks": 1024, "block_size": 512})
        d.rpc("nvme_subsystem_create", {"nqn": NQN, "serial_number": "SAVED-SN", "model_number": "Saved MN",
                                        "nn": 64, "mnan": 32})
        d.rpc("nvme_namespace_create", {"nqn": NQN, "bdev_name": "M0", "nsid": 1, "uuid": UUID,
                                        "nguid": nguid, "eui64": eui64})
        d.rpc("nvme_namespace_create", {"nqn": NQN, "bdev_name": "M1", "nsid": 3})
        d.rpc("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "num_queues": 2, "mdts": 6,
                                         "compare_write": 1})
        d.rpc("nvme_controller_attach_ns", {"ctrl_id": "NVMeCtrl1", "nsid": 1})
        d.rpc("nvme_controller_create", {"nqn": NQN, "pf_id": 1, "suspended": True, "ctrl_id": "Held"})
        d.rpc("nvme_controller_attach_ns", {"ctrl_id": "Held", "nsid": 3})
        before = {m: d.rpc(m) for m in ("nvme_subsystem_list", "nvme_controller_list", "nvme_namespace_list")}
        cfg1 = d.rpc("save_config")
        eq(d.stop(), 0, "exit code")
    path = os.path.join(td, "config.json")
    with open(path, "w") as f:
        json.dump(cfg1, f, indent=2)
    with Daemon(["-c", conf, "--json", path], cpumask="0x3") as d:
        d.emu_dir = [l.split("=", 1)[1].strip() for l in open(conf) if l.startswith("EMU_DIR=")][0]
        after = {m: d.rpc(m) for m in before}
        for m in before:
            eq(after[m], before[m], m + " after the restart")
        eq(d.rpc("save_config"), cfg1, "save_config after the restart")
        # the restored namespace is the same one for a driver: identifiers
        sock = nvme_sock(d)[0]
        run_e2e(sock, ["--nqn", NQN, "--sn", "SAVED-SN", "--mn", "Saved MN", "--nn", 64, "--mdts", 6,
                       "--uuid", UUID, "--nguid", nguid, "--eui64", eui64, "--compare-write", 1] +
                cases(["identify_ctrl", "identify_ns", "ns_descs", "io_basic", "io_bad"]) + ["--inactive", 2])
        eq(ctrl_state(d, "Held"), "SUSPENDED", "the suspended controller stays suspended")
        eq(d.stop(), 0, "exit code after --json")


if __name__ == "__main__":
    main()
