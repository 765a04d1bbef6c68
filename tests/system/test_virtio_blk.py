#!/usr/bin/env python3
"""End-to-end tests of the virtio-blk emulation (issue 5): osnapd with -m 0x3
(two reactors, so queues land on both), configured through snap_rpc.py /
spdk_rpc.py, driven by the user-space virtio-blk driver of src/host through
tests/system/vblk_e2e, over both transports: vhost-user (the default
EMU_VIRTIO_BLK_TRANSPORT) and EMU_VIRTIO_BLK_TRANSPORT=vfio-user (a modern
virtio-pci function over vfio-user).

(a) the seed's "Virtio-blk Configuration for Single Controller" (the remote
    bdev replaced by a local one of the same name) and its cleanup, every
    vblk_e2e case in between; variants (queues, indirect descriptors, sizes,
    4 KiB blocks, read-only, IN_ORDER on a file) on both transports;
(b) FLUSH reaching a uring file bdev: the file holds the bytes (and
    unaligned guest buffers on such a bdev: a known bug of the file bdev
    module, reported as a skip while it lasts);
(c) the seed's "Suspend, Resume" with I/O in flight; suspend and resume
    back to back;
(d) the seed's "Bdev Attach, Detach" during I/O, attach/detach back to
    back, and the 'none' bdev;
(e) a controller without media; destroy with a client attached; the
    memory holding a running ring removed and added again;
(f) list fields, statistics, RPC errors, save_config and a restart.

The Python side checks after every vblk_e2e run that osnapd is alive.
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
from osnaptest import Daemon, check, eq, main, test  # noqa: E402

E2E = os.path.join(osnaptest.BUILD, "tests", "system", "vblk_e2e")
SNAP_RPC = os.path.join(osnaptest.BUILD, "snap_rpc.py")
SPDK_RPC = os.path.join(osnaptest.BUILD, "spdk_rpc.py")
MB = 1 << 20

# the vblk_e2e cases every data-capable controller runs (the default set)
DATA_CASES = ["negotiation", "config", "io_mq", "flush", "get_id", "discard", "unsupported",
              "past_capacity", "framing", "malformed", "event_idx", "interrupts", "in_order",
              "mem_table", "reconnect"]
RO_CASES = ["negotiation", "config", "read_only", "get_id", "unsupported", "past_capacity", "framing",
            "malformed", "flush", "interrupts", "reconnect"]

# the keys of the seed's virtio_blk_controller_list example
SEED_LIST_KEYS = {"ctrl_id", "vhca_id", "num_queues", "queue_size", "seg_max", "size_max", "bdev",
                  "plugged", "indirect_desc", "num_msix", "min configurable num_msix",
                  "max configurable num_msix"}


# ---- helpers ----------------------------------------------------------------------------------

def quoted(text):
    # never let vblk_e2e's own TAP lines count as this program's tests
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


def start(transport="vhost-user", conf_lines=(), args=()):
    """osnapd on two reactors with an emulation config of its own (EMU_DIR in
    a temporary directory)."""
    td = osnaptest.tmpdir()
    emu_dir = os.path.join(td, "emu")
    conf = os.path.join(td, "emu.conf")
    lines = ["EMU_DIR=%s" % emu_dir]
    if transport == "pci":
        lines.append("EMU_VIRTIO_BLK_TRANSPORT=vfio-user")
    lines += list(conf_lines)
    with open(conf, "w") as f:
        f.write("".join(l + "\n" for l in lines))
    d = Daemon(["-c", conf] + list(args), cpumask="0x3")
    d.emu_dir = emu_dir
    d.emu_config = conf
    d.transport = transport
    return d


def vblk_fn(d, pf=0):
    for f in d.rpc("emulation_function_list"):
        if f["emulation_type"] == "VBLK" and f["pf_index"] == pf:
            return f
    raise AssertionError("no virtio-blk PF %d" % pf)


def vblk_sock(d, pf=0):
    return os.path.join(d.emu_dir, vblk_fn(d, pf)["vuid"] + ".sock")


def alive(d, what=""):
    if d.proc.poll() is not None:
        raise AssertionError("osnapd died (%s), exit %s:\n%s" % (what, d.proc.returncode, d.logtext()[-4000:]))
    d.rpc("virtio_blk_controller_list")


def check_tap(out, rc, what):
    plan = re.search(r"^1\.\.(\d+)$", out, re.M)
    oks = re.findall(r"^ok \d+ ", out, re.M)
    bad = re.findall(r"^not ok \d+ - (\S+)", out, re.M)
    if rc != 0 or not plan or bad or len(oks) != int(plan.group(1)):
        raise AssertionError("vblk_e2e %s: exit %s, failed: %s\n%s" %
                             (what, rc, ", ".join(bad) or "-", quoted(out)))


def e2e_cmd(d, args, pf=0):
    flag = "--pci" if d.transport == "pci" else "--vhost-user"
    return [E2E, flag, vblk_sock(d, pf)] + [str(a) for a in args]


def run_e2e(d, args, timeout=150, pf=0):
    p = subprocess.run(e2e_cmd(d, args, pf), capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    alive(d, "after vblk_e2e " + " ".join(str(a) for a in args))
    check_tap(out, p.returncode, " ".join(str(a) for a in args))
    return out


def cases(names):
    a = []
    for n in names:
        a += ["--case", n]
    return a


def expect(size, vid, queues=1, seg_max=32, size_max=65536, blk=512, indirect=0, in_order=0,
           discard=1, wzeroes=None, read_only=False, seed=None):
    """vblk_e2e's expectations, from what the test configured."""
    a = ["--expect-size", size, "--expect-id", vid, "--queues", queues, "--seg-max", seg_max,
         "--size-max", size_max, "--blk-size", blk, "--indirect", indirect, "--in-order", in_order,
         "--discard", discard, "--write-zeroes", discard if wzeroes is None else wzeroes]
    if read_only:
        a.append("--read-only")
    if seed is not None:
        a += ["--seed", seed]
    return [str(x) for x in a]


class E2EProc:
    """vblk_e2e in the background, for the cases that wait on stdin."""

    def __init__(self, d, args):
        self.d = d
        self.p = subprocess.Popen(e2e_cmd(d, args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, bufsize=1)
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
                raise AssertionError("vblk_e2e: no '# %s' within %ds:\n%s" %
                                     (prefix, timeout, quoted("\n".join(self.lines))))
            if line is None:
                self.q.put(None)
                raise AssertionError("vblk_e2e exited before '# %s':\n%s" %
                                     (prefix, quoted("\n".join(self.lines))))
            self.lines.append(line)
            if line.startswith("# " + prefix):
                return line

    def send(self, text):
        try:
            self.p.stdin.write(text + "\n")
            self.p.stdin.flush()
        except BrokenPipeError:
            pass    # it exited already: finish() reports why

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
        alive(self.d, "after a background vblk_e2e")
        check_tap(out, rc, "(background)")
        return out

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


# The sector pattern of vblk_e2e (pattern_sector() in vblk_e2e.c): sector s
# holds s (8 bytes LE), seed (4), ~s (4), then (s*31 + i*7 + seed*13) & 0xff.
_ROWS = [bytes((base + i * 7) & 0xff for i in range(512)) for base in range(256)]


def pattern_sector(s, seed):
    row = _ROWS[(s * 31 + seed * 13) & 0xff]
    return struct.pack("<QII", s, seed & 0xffffffff, ~s & 0xffffffff) + row[16:]


def pattern_file(path, size, seed, sectors):
    """A file of size bytes whose first `sectors` sectors hold the pattern."""
    with open(path, "wb") as f:
        f.write(b"".join(pattern_sector(s, seed) for s in range(sectors)))
        f.truncate(size)


def ctrl(d, name="VblkCtrl1"):
    return d.rpc("virtio_blk_controller_list", {"ctrl_id": name})[0]


def rpc_err(d, method, params):
    return d.rpc_error(method, params)


def expect_invalid(d, method, params, name):
    e = rpc_err(d, method, params)
    eq(e.code, -32602, "%s(%r) error code (message %r)" % (method, params, e.message))
    check(name in e.message, "%s(%r): message %r does not name '%s'" % (method, params, e.message, name))
    return e


def expect_errno(d, method, params, errno_, words=()):
    e = rpc_err(d, method, params)
    eq(e.code, -errno_, "%s(%r) error code (message %r)" % (method, params, e.message))
    for w in words:
        check(w in e.message, "%s(%r): message %r lacks %r" % (method, params, e.message, w))
    return e


def flushes(d, bdev):
    return d.rpc("bdev_get_iostat", {"name": bdev})["bdevs"][0]["num_flush_ops"]


# ---- (a) the seed, then variants on both transports -----------------------------------------

SEED_SETUP = [
    # the seed attaches a remote NVMe-oF namespace (bdev_nvme_attach_controller ... -b nvme0);
    # a local bdev of the namespace's name stands in for it
    "spdk_rpc.py bdev_malloc_create 64 512 -b nvme0n1",
    "snap_rpc.py virtio_blk_controller_create --vuid {vuid} --bdev nvme0n1",
]
SEED_CLEANUP = [
    "snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl1",
    # for bdev_nvme_detach_controller nvme0
    "spdk_rpc.py bdev_malloc_delete nvme0n1",
]


def seed_single(transport):
    with start(transport) as d:
        fn = vblk_fn(d)
        vuid = fn["vuid"]
        check("ctrl_id" not in fn, "function bound before any controller: %r" % fn)
        res = [cli_line(d, l.format(vuid=vuid)) for l in SEED_SETUP]
        eq(res[0], "nvme0n1", "bdev name")
        eq(res[1], "VblkCtrl1", "virtio_blk_controller_create result (the seed's response)")
        eq(vblk_fn(d).get("ctrl_id"), "VblkCtrl1", "function's ctrl_id")
        c = ctrl(d)
        eq(c["vuid"], vuid, "controller function")
        eq(c["bdev"], "nvme0n1", "controller bdev")
        check(os.path.exists(vblk_sock(d)), "no endpoint at %s" % vblk_sock(d))
        run_e2e(d, expect(64 * MB, vuid[:20]) + cases(DATA_CASES), timeout=170)
        for l in SEED_CLEANUP:
            eq(cli_line(d, l), True, l)
        eq(d.rpc("virtio_blk_controller_list"), [], "controllers after the cleanup")
        eq(d.rpc("bdev_get_bdevs"), [], "bdevs after the cleanup")
        check("ctrl_id" not in vblk_fn(d), "function still bound after the cleanup")
        if transport == "vhost-user":
            check(not os.path.exists(vblk_sock(d)), "vhost-user endpoint left after destroy")
        eq(d.stop(), 0, "osnapd exit code")


@test
def seed_single_controller_vhost_user():
    seed_single("vhost-user")


@test
def seed_single_controller_pci():
    seed_single("pci")


def variants(transport):
    td = osnaptest.tmpdir()
    img = os.path.join(td, "order.img")
    with open(img, "wb") as f:
        f.truncate(64 * MB)
    with start(transport) as d:
        vuid = vblk_fn(d)["vuid"]
        # several queues on both reactors, indirect tables, smaller segments,
        # a 4 KiB-block bdev, a serial of its own
        cli_line(d, "spdk_rpc.py bdev_malloc_create 64 4096 -b Disk4k")
        eq(cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev Disk4k --num_queues 4 "
                       "--indirect_desc --seg_max 16 --size_max 32768 --queue_size 128 "
                       "--vblk_id osnap-serial-0001"), "VblkCtrl1", "create")
        run_e2e(d, expect(64 * MB, "osnap-serial-0001", queues=4, seg_max=16, size_max=32768, blk=4096,
                          indirect=1) + cases(DATA_CASES), timeout=170)
        eq(cli_line(d, "snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl1"), True, "destroy")
        # read-only
        cli_line(d, "spdk_rpc.py bdev_malloc_create 32 512 -b DiskRO")
        cli_line(d, "snap_rpc.py virtio_blk_controller_create --vuid %s --bdev DiskRO --read_only "
                    "--num_queues 2" % vuid)
        eq(ctrl(d)["read_only"], True, "read_only in the list")
        run_e2e(d, expect(32 * MB, vuid[:20], queues=2, read_only=True) + cases(RO_CASES))
        eq(cli_line(d, "snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl1"), True, "destroy")
        # IN_ORDER on a file (completions really come back out of order)
        cli_line(d, "spdk_rpc.py bdev_uring_create %s Ordered 512" % img)
        cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev Ordered --force_in_order")
        run_e2e(d, expect(64 * MB, vuid[:20], in_order=1) +
                cases(["negotiation", "in_order", "malformed", "in_order", "flush"]))
        eq(d.stop(), 0, "osnapd exit code")


@test
def variants_vhost_user():
    variants("vhost-user")


@test
def variants_pci():
    variants("pci")


# ---- (b) FLUSH reaches a uring file bdev ----------------------------------------------------------

def uring_flush(transport):
    td = osnaptest.tmpdir()
    img = os.path.join(td, "disk.img")
    with open(img, "wb") as f:
        f.truncate(64 * MB)
    with start(transport) as d:
        cli_line(d, "spdk_rpc.py bdev_uring_create %s uring0 512" % img)
        cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev uring0 --num_queues 2")
        vid = vblk_fn(d)["vuid"][:20]
        seed = 77
        before = flushes(d, "uring0")
        out = run_e2e(d, expect(64 * MB, vid, queues=2, seed=seed) + cases(["file_pattern"]))
        after = flushes(d, "uring0")
        check(after >= before + 2, "FLUSH did not reach the bdev: num_flush_ops %d -> %d" % (before, after))
        extents = [tuple(map(int, m)) for m in re.findall(r"^# extent (\d+) (\d+)$", out, re.M)]
        check(len(extents) >= 5, "extents written: %r\n%s" % (extents, quoted(out)))
        with open(img, "rb") as f:
            for s0, n in extents:
                f.seek(s0 * 512)
                got = f.read(n * 512)
                for k in range(n):
                    if got[k * 512:(k + 1) * 512] != pattern_sector(s0 + k, seed):
                        raise AssertionError("file sector %d (extent %d+%d) is not what the driver wrote "
                                             "and flushed" % (s0 + k, s0, n))
        # the other data cases through the file (DISCARD, WRITE_ZEROES, FLUSH)
        run_e2e(d, expect(64 * MB, vid, queues=2) + cases(["discard", "flush", "past_capacity"]))
        eq(d.stop(), 0, "osnapd exit code")


@test
def flush_reaches_uring_file_vhost_user():
    uring_flush("vhost-user")


@test
def flush_reaches_uring_file_pci():
    uring_flush("pci")


@test
def uring_file_unaligned_buffers():
    """Guest buffers at any byte alignment (virtio requires none) through a
    uring file bdev, then FLUSH. The file bdev stages what O_DIRECT cannot
    take through aligned chunks (src/bdev/modules/file_bounce.c): it used
    to write aligned buffers with O_DIRECT and unaligned ones through the
    page cache on the same file, the kernel then failed to invalidate dirty
    cached pages under the direct writes ("Page cache invalidation failure
    on direct I/O"), and the next fdatasync (the FLUSH) failed with EIO. Now
    every case passes and the bdev never turns buffered."""
    td = osnaptest.tmpdir()
    img = os.path.join(td, "disk.img")
    with open(img, "wb") as f:
        f.truncate(64 * MB)
    with start("vhost-user") as d:
        cli_line(d, "spdk_rpc.py bdev_uring_create %s uring0 512" % img)
        cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev uring0 --num_queues 2")
        run_e2e(d, expect(64 * MB, vblk_fn(d)["vuid"][:20], queues=2) + cases(["io_mq", "framing", "flush"]))
        alive(d)
        eq(d.stop(), 0, "osnapd exit code")
        with open(d.log_path, "rb") as f:
            log = f.read().decode(errors="replace")
        if "buffered I/O from now on" in log:
            raise AssertionError("the file bdev turned buffered: %s" % log[-2000:])


# ---- (c) the seed's suspend / resume with I/O in flight ----------------------------------------

@test
def suspend_resume_inflight():
    td = osnaptest.tmpdir()
    img = os.path.join(td, "disk.img")
    with open(img, "wb") as f:
        f.truncate(64 * MB)
    for transport in ("vhost-user", "pci"):
        with start(transport) as d:
            cli_line(d, "spdk_rpc.py bdev_uring_create %s uring0 512" % img)
            cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev uring0")
            for rnd in range(2):
                e = E2EProc(d, ["--case", "suspend_probe", "--seed", 5 + rnd])
                try:
                    e.expect("FLOWING", timeout=60)     # writes are completing: I/O in flight
                    # the seed spells it VBLKCtrl1: names match case-insensitively
                    eq(cli_line(d, "snap_rpc.py virtio_blk_controller_suspend -c VBLKCtrl1"), True, "suspend")
                    e.send("suspended")
                    eq(ctrl(d)["state"], "SUSPENDED", "state while suspended")
                    st = d.rpc("virtio_blk_controller_dbg_debug_stats_get", {"ctrl_id": "vblkctrl1"})
                    eq([q["state"] for q in st["queues"]], ["SUSPENDED"], "queue state while suspended")
                    line = e.expect("SUSPENDED_OK", timeout=30)
                    check("outstanding=" in line, line)
                    eq(cli_line(d, "snap_rpc.py virtio_blk_controller_resume -c VBLKCtrl1"), True, "resume")
                    eq(ctrl(d)["state"], "RUNNING", "state after resume")
                    e.send("resumed")
                    out = e.finish()
                    m = re.search(r"^# counts submitted=(\d+) completed=(\d+)$", out, re.M)
                    check(m and m.group(1) == m.group(2) and int(m.group(1)) > 0, "counts: %r" % (m and m.group(0)))
                finally:
                    e.kill()
            p = cli_line(d, "snap_rpc.py virtio_blk_controller_resume -c VblkCtrl1", ok=False)
            check(p.returncode != 0, "resume of a running controller succeeded")
            # a controller created suspended serves nothing until resumed
            eq(cli_line(d, "snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl1"), True, "destroy")
            cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev uring0 --suspended")
            eq(ctrl(d)["state"], "SUSPENDED", "created suspended")
            e = E2EProc(d, ["--case", "suspend_probe", "--seed", 9])
            try:
                # RUNNING comes at once (submitting works); nothing completes
                e.expect("RUNNING")
                time.sleep(0.3)
                e.send("suspended")
                e.expect("SUSPENDED_OK", timeout=30)
                eq(cli_line(d, "snap_rpc.py virtio_blk_controller_resume -c VblkCtrl1"), True, "resume")
                e.send("resumed")
                e.finish()
            finally:
                e.kill()
            eq(d.stop(), 0, "osnapd exit code")


@test
def suspend_resume_back_to_back():
    """A resume right behind a suspend (pipelined on one connection) while
    reads are in flight: both are answered (the suspend does not wait for a
    drain that the resume made moot), no read fails or is lost, and the
    controller ends RUNNING."""
    td = osnaptest.tmpdir()
    img = os.path.join(td, "a.img")
    pattern_file(img, 16 * MB, 41, 4096)
    for transport in ("vhost-user", "pci"):
        with start(transport) as d:
            cli_line(d, "spdk_rpc.py bdev_uring_create %s DiskA 512" % img)
            cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev DiskA")
            e = E2EProc(d, ["--case", "swap_probe", "--seed", 41, "--seed2", 41, "--span", 4096])
            try:
                e.expect("RUNNING")
                c = osnaptest.RpcConn(d.sock, timeout=60)   # a suspend waits for the reads in flight
                for rnd in range(40):
                    reqs = {2 * rnd: "virtio_blk_controller_suspend", 2 * rnd + 1: "virtio_blk_controller_resume"}
                    c.send_raw("".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": m,
                                                   "params": {"ctrl_id": "VblkCtrl1"}})
                                       for i, m in sorted(reqs.items())))
                    got = {}
                    for _ in reqs:
                        r = c.recv_obj()
                        got[r["id"]] = r
                    for i, m in reqs.items():
                        eq(got[i].get("result"), True, "%s (round %d): %r" % (m, rnd, got[i]))
                    if rnd % 8 == 7:
                        time.sleep(0.02)
                c.close()
                eq(ctrl(d)["state"], "RUNNING", "state after the rounds")
                time.sleep(0.1)
                e.send("stop")
                e.finish()
            finally:
                e.kill()
            eq(d.stop(), 0, "osnapd exit code")


# ---- (d) the seed's bdev attach / detach during I/O ---------------------------------------------

@test
def bdev_attach_detach_inflight():
    td = osnaptest.tmpdir()
    a_img, b_img = os.path.join(td, "a.img"), os.path.join(td, "b.img")
    span = 8192
    for transport in ("vhost-user", "pci"):
        pattern_file(a_img, 32 * MB, 11, span)
        pattern_file(b_img, 32 * MB, 22, span)
        with start(transport) as d:
            cli_line(d, "spdk_rpc.py bdev_uring_create %s Disk1 512" % a_img)
            # the seed's second bdev is a null bdev named null2; here a file with
            # known content, so that the reads can tell the two apart
            cli_line(d, "spdk_rpc.py bdev_uring_create %s null2 512" % b_img)
            cli_line(d, "snap_rpc.py virtio_blk_controller_create --vuid %s --bdev Disk1" % vblk_fn(d)["vuid"])
            e = E2EProc(d, ["--case", "attach_probe", "--seed", 11, "--seed2", 22, "--span", span])
            try:
                e.expect("RUNNING", timeout=60)     # reads came back from Disk1
                eq(cli_line(d, "snap_rpc.py virtio_blk_controller_bdev_detach -c VBLKCtrl1"), True, "detach")
                eq(ctrl(d)["bdev"], "none", "bdev after detach")
                b = d.rpc("bdev_get_bdevs", {"name": "Disk1"})[0]
                eq(b["claimed"], False, "Disk1 claimed after detach")
                e.send("detached")
                e.expect("DETACHED_OK", timeout=30)
                eq(cli_line(d, "snap_rpc.py virtio_blk_controller_bdev_attach -c VBLKCtrl1 --bdev null2"), True,
                   "attach")
                eq(ctrl(d)["bdev"], "null2", "bdev after attach")
                e.send("attached")
                out = e.finish()
                check(re.search(r"^# counts first=\d+ second=\d+", out, re.M), "no counts:\n" + quoted(out))
            finally:
                e.kill()
            # attach while one is attached: refused, nothing changes
            expect_errno(d, "virtio_blk_controller_bdev_attach", {"ctrl_id": "VblkCtrl1", "bdev": "Disk1"}, 16,
                         ["VblkCtrl1", "null2"])
            eq(ctrl(d)["bdev"], "null2", "bdev after the refused attach")
            # the seed's advice: attach a 'none' bdev when no real one follows
            # soon (a detached controller holds the driver's requests; with
            # 'none' they are answered)
            eq(cli_line(d, "snap_rpc.py virtio_blk_controller_bdev_detach -c VblkCtrl1"), True, "detach")
            expect_errno(d, "virtio_blk_controller_bdev_detach", {"ctrl_id": "VblkCtrl1"}, 19, ["VblkCtrl1"])
            vid = vblk_fn(d)["vuid"][:20]
            e = E2EProc(d, ["--case", "none_media", "--expect-id", vid])
            try:
                e.expect("HELD")
                eq(cli_line(d, "snap_rpc.py virtio_blk_controller_bdev_attach -c VblkCtrl1 --bdev none "
                               "--dbg_bdev_type null"), True, "attach none")
                eq(ctrl(d)["bdev"], "none", "bdev after attaching none")
                e.send("none attached")
                e.finish()
            finally:
                e.kill()
            eq(cli_line(d, "snap_rpc.py virtio_blk_controller_bdev_attach -c VblkCtrl1 --bdev Disk1"), True,
               "attach after none")
            expect_errno(d, "virtio_blk_controller_bdev_attach", {"ctrl_id": "VblkCtrl1", "bdev": "none"}, 16,
                         ["VblkCtrl1", "Disk1"])
            run_e2e(d, ["--seed", 11, "--span", span] + cases(["config", "get_id"]) +
                    ["--expect-size", 32 * MB])
            eq(d.stop(), 0, "osnapd exit code")


@test
def bdev_swaps_back_to_back():
    """Detach and attach pipelined on one RPC connection (a detach right
    after an attach, whose swap on the reactors is still under way) while
    reads flow: none fails, none is lost, and the controller ends with the
    last bdev attached and serving."""
    td = osnaptest.tmpdir()
    a_img, b_img = os.path.join(td, "a.img"), os.path.join(td, "b.img")
    span = 4096
    for transport in ("vhost-user", "pci"):
        pattern_file(a_img, 16 * MB, 31, span)
        pattern_file(b_img, 16 * MB, 32, span)
        with start(transport) as d:
            cli_line(d, "spdk_rpc.py bdev_uring_create %s DiskA 512" % a_img)
            cli_line(d, "spdk_rpc.py bdev_uring_create %s DiskB 512" % b_img)
            cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev DiskA")
            e = E2EProc(d, ["--case", "swap_probe", "--seed", 31, "--seed2", 32, "--span", span])
            try:
                e.expect("RUNNING")
                c = osnaptest.RpcConn(d.sock)
                eq(c.call("virtio_blk_controller_bdev_detach", {"ctrl_id": "VblkCtrl1"}), True, "detach")
                n = 0
                for rnd in range(50):
                    # an attach and right behind it a detach, on one
                    # connection: the detach starts while the attach's swap
                    # is still travelling to the reactors
                    name = ("DiskB", "DiskA")[rnd % 2]
                    reqs = {n: ("virtio_blk_controller_bdev_attach", {"ctrl_id": "VblkCtrl1", "bdev": name}),
                            n + 1: ("virtio_blk_controller_bdev_detach", {"ctrl_id": "VblkCtrl1"})}
                    c.send_raw("".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": m, "params": p})
                                       for i, (m, p) in sorted(reqs.items())))
                    for _ in reqs:
                        resp = c.recv_obj()
                        eq(resp.get("result"), True, "%s (round %d): %r" % (reqs[resp["id"]][0], rnd, resp))
                    n += 2
                    if rnd % 5 == 4:
                        time.sleep(0.02)
                eq(c.call("virtio_blk_controller_bdev_attach", {"ctrl_id": "VblkCtrl1", "bdev": "DiskA"}), True,
                   "attach")
                c.close()
                eq(ctrl(d)["bdev"], "DiskA", "bdev after the swaps")
                time.sleep(0.2)
                e.send("stop")
                out = e.finish()
                m = re.search(r"^# counts reads=(\d+)", out, re.M)
                check(m and int(m.group(1)) > 0, "no reads counted:\n" + quoted(out))
            finally:
                e.kill()
            run_e2e(d, ["--expect-size", 16 * MB] + cases(["config", "flush"]))
            eq(d.stop(), 0, "osnapd exit code")


# ---- (e) no media; destroy with a client attached ------------------------------------------------

@test
def controller_without_media():
    for transport in ("vhost-user", "pci"):
        for how in ("", "--bdev none"):
            with start(transport) as d:
                eq(cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 %s" % how), "VblkCtrl1", "create")
                eq(ctrl(d)["bdev"], "none", "bdev of a controller without media")
                cli_line(d, "spdk_rpc.py bdev_malloc_create 32 512 -b Late")
                e = E2EProc(d, ["--case", "nomedia", "--expect-size", 32 * MB])
                try:
                    e.expect("WAITING", timeout=30)
                    eq(cli_line(d, "snap_rpc.py virtio_blk_controller_bdev_attach -c VblkCtrl1 --bdev Late"), True,
                       "attach")
                    e.send("attached")
                    e.finish()
                finally:
                    e.kill()
                run_e2e(d, expect(32 * MB, vblk_fn(d)["vuid"][:20]) + cases(["config", "flush", "get_id"]))
                eq(d.stop(), 0, "osnapd exit code")


@test
def destroy_with_client_attached():
    for transport in ("vhost-user", "pci"):
        with start(transport) as d:
            cli_line(d, "spdk_rpc.py bdev_malloc_create 32 512 -b M0")
            vuid = vblk_fn(d)["vuid"]
            cli_line(d, "snap_rpc.py virtio_blk_controller_create --vuid %s --bdev M0 --num_queues 2" % vuid)
            for rnd in range(2):
                e = E2EProc(d, ["--case", "destroyed"])
                try:
                    e.expect("READY")
                    eq(cli_line(d, "snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl1"), True, "destroy")
                    if transport == "vhost-user":
                        check(not os.path.exists(vblk_sock(d)), "endpoint left after destroy")
                    check("ctrl_id" not in vblk_fn(d), "function still bound")
                    e.send("destroyed")
                    e.finish()
                finally:
                    e.kill()
                eq(d.rpc("virtio_blk_controller_list"), [], "controllers")
                eq(d.rpc("bdev_get_bdevs", {"name": "M0"})[0]["claimed"], False, "M0 released")
                # a new controller on the same function works
                eq(cli_line(d, "snap_rpc.py virtio_blk_controller_create --vuid %s --bdev M0 --num_queues 2" % vuid),
                   "VblkCtrl1", "create again")
                run_e2e(d, expect(32 * MB, vuid[:20], queues=2) + cases(["config", "flush", "reconnect"]))
            eq(d.stop(), 0, "osnapd exit code")


# ---- (f) lists, statistics, errors, save_config ---------------------------------------------------

@test
def lists_and_stats():
    for transport in ("vhost-user", "pci"):
        with start(transport) as d:
            cli_line(d, "spdk_rpc.py bdev_malloc_create 64 512 -b M0")
            fn = vblk_fn(d)
            cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev M0 --num_queues 2 "
                        "--vblk_id stats-serial --indirect_desc --queue_size 64 --seg_max 8 --size_max 8192")
            lst = d.rpc("virtio_blk_controller_list")
            eq(len(lst), 1, "controllers")
            c = lst[0]
            missing = SEED_LIST_KEYS - set(c)
            check(not missing, "list lacks the seed's keys %s: %r" % (sorted(missing), c))
            for k, v in [("ctrl_id", "VblkCtrl1"), ("vhca_id", fn["vhca_id"]), ("num_queues", 2),
                         ("queue_size", 64), ("seg_max", 8), ("size_max", 8192), ("bdev", "M0"),
                         ("plugged", True), ("indirect_desc", True), ("read_only", False),
                         ("vblk_id", "stats-serial"), ("force_in_order", False)]:
                eq(c[k], v, "list " + k)
            check(isinstance(c["num_msix"], int) and c["num_msix"] >= 3, "num_msix %r" % c["num_msix"])
            check(c["min configurable num_msix"] <= c["num_msix"] <= c["max configurable num_msix"],
                  "num_msix bounds: %r" % c)
            eq(d.rpc("virtio_blk_controller_list", {"ctrl_id": "vblkctrl1"}), lst, "filter (any case)")
            eq(cli_line(d, "snap_rpc.py virtio_blk_controller_list -c VBLKCTRL1"), lst, "filter through the CLI")
            e = E2EProc(d, ["--case", "hold"])
            try:
                line = e.expect("HOLD")
                n = dict((k, int(v)) for k, v in re.findall(r"(\w+)=(\d+)", line))
                eq(n["queues"], 2, "driver queues")
                st = d.rpc("virtio_blk_controller_dbg_io_stats_get", {"ctrl_id": "VblkCtrl1"})
                eq(st["ctrl_id"], "VblkCtrl1", "io stats ctrl_id")
                qs = dict((q["queue_id"], q) for q in st["queues"])
                eq(sorted(qs), [0, 1], "io stats queues")
                for q in (0, 1):
                    eq(qs[q]["read_io_count"], n["q%d_reads" % q], "queue %d reads" % q)
                    eq(qs[q]["write_io_count"], n["q%d_writes" % q], "queue %d writes" % q)
                    eq(qs[q]["flush_io_count"], n["q%d_flushes" % q], "queue %d flushes" % q)
                for k in ("read_io_count", "write_io_count", "flush_io_count"):
                    eq(st[k], sum(qs[q][k] for q in qs), "total " + k)
                check(qs[0]["core_id"] != qs[1]["core_id"], "queues 0 and 1 on one core: %r" % st)
                dbg = d.rpc("virtio_blk_controller_dbg_debug_stats_get", {"ctrl_id": "VblkCtrl1"})
                eq(dbg["ctrl_id"], "VblkCtrl1", "debug stats ctrl_id")
                eq(sorted(q["qid"] for q in dbg["queues"]), [0, 1], "debug stats queues")
                for q in dbg["queues"]:
                    i = q["qid"]
                    eq(q["state"], "RUNNING", "queue %d state" % i)
                    eq(q["hw_available_index"], n["q%d_avail" % i], "queue %d hw_available_index" % i)
                    eq(q["sw_available_index"], n["q%d_avail" % i], "queue %d sw_available_index" % i)
                    eq(q["hw_used_index"], n["q%d_used" % i], "queue %d hw_used_index" % i)
                    eq(q["sw_used_index"], n["q%d_used" % i], "queue %d sw_used_index" % i)
                    eq(q["hw_received_descs"], n["q%d_reqs" % i], "queue %d hw_received_descs" % i)
                    eq(q["hw_completed_descs"], n["q%d_reqs" % i], "queue %d hw_completed_descs" % i)
                # a controller a driver uses is not modified
                expect_errno(d, "virtio_blk_controller_modify", {"ctrl_id": "VblkCtrl1", "num_queues": 1}, 16,
                             ["VblkCtrl1"])
                e.send("done")
                e.finish()
            finally:
                e.kill()
            dbg = d.rpc("virtio_blk_controller_dbg_debug_stats_get", {"ctrl_id": "VblkCtrl1"})
            eq([q["state"] for q in dbg["queues"]], ["STOPPED", "STOPPED"], "queues after the driver left")
            eq(d.stop(), 0, "osnapd exit code")


@test
def ring_memory_removed_while_running():
    """vhost-user REM_MEM_REG of the region holding a running queue's rings:
    the statistics RPC must not read the unmapped ring, the other queue goes
    on, and the queue serves again once the region is back."""
    with start("vhost-user") as d:
        cli_line(d, "spdk_rpc.py bdev_malloc_create 32 512 -b M0")
        cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev M0 --num_queues 2")
        e = E2EProc(d, ["--case", "unmap_rings", "--queues", 2])
        try:
            e.expect("UNMAPPED")
            for _ in range(3):
                dbg = d.rpc("virtio_blk_controller_dbg_debug_stats_get", {"ctrl_id": "VblkCtrl1"})
                eq(len(dbg["queues"]), 2, "debug stats queues")
                alive(d, "debug stats with a ring unmapped")
            e.send("go on")
            e.finish()
        finally:
            e.kill()
        # every pause of the queues for the removal had its resume
        check("without a pause" not in d.logtext(), "an unbalanced queue resume:\n%s" %
              "\n".join(l for l in d.logtext().splitlines() if "without a pause" in l))
        eq(d.stop(), 0, "osnapd exit code")


@test
def rpc_errors():
    with start("vhost-user", ["VIRTIO_BLK_EMULATION_NUM_PF=2"]) as d:
        C = "VblkCtrl1"
        d.rpc("bdev_malloc_create", {"name": "B0", "num_blocks": 2048, "block_size": 512})
        d.rpc("bdev_malloc_create", {"name": "B1", "num_blocks": 2048, "block_size": 512})
        v0, v1 = vblk_fn(d, 0)["vuid"], vblk_fn(d, 1)["vuid"]
        nvme = [f for f in d.rpc("emulation_function_list") if f["emulation_type"] == "NVME"][0]["vuid"]
        # parameters -> -32602 naming them
        expect_invalid(d, "virtio_blk_controller_create", {"bdev": "B0"}, "vuid")
        expect_invalid(d, "virtio_blk_controller_create", {}, "pf_id")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "vuid": v0}, "only one")
        expect_invalid(d, "virtio_blk_controller_create", {"vuid": v0, "vhca_id": 2}, "only one")
        expect_invalid(d, "virtio_blk_controller_create", {"vf_id": 0}, "vf_id")
        for qs in (3, 100, 255):
            expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "queue_size": qs}, "queue_size")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "queue_size": 0}, "queue_size")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "num_queues": 0}, "num_queues")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "num_queues": 1000}, "num_queues")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "seg_max": 0}, "seg_max")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "size_max": 100}, "size_max")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "vblk_id": "x" * 21}, "vblk_id")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "read_only": "yes"}, "read_only")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": 0, "bogus": 1}, "bogus")
        expect_invalid(d, "virtio_blk_controller_create", {"pf_id": "0"}, "pf_id")
        for m in ("virtio_blk_controller_destroy", "virtio_blk_controller_suspend", "virtio_blk_controller_resume",
                  "virtio_blk_controller_bdev_detach", "virtio_blk_controller_dbg_io_stats_get",
                  "virtio_blk_controller_dbg_debug_stats_get"):
            expect_invalid(d, m, {}, "ctrl_id")
        expect_invalid(d, "virtio_blk_controller_bdev_attach", {"ctrl_id": C}, "bdev")
        # the CLI says the same for a missing function selector
        p = cli_line(d, "snap_rpc.py virtio_blk_controller_create --bdev B0", ok=False)
        check(p.returncode != 0, "create without a function succeeded through the CLI")
        # valid requests that cannot be done: negative errno and a message
        expect_errno(d, "virtio_blk_controller_create", {"vuid": "NOSUCHVUID", "bdev": "B0"}, 19, ["NOSUCHVUID"])
        expect_errno(d, "virtio_blk_controller_create", {"pf_id": 7}, 19, ["7"])
        expect_errno(d, "virtio_blk_controller_create", {"vhca_id": 999}, 19, ["999"])
        expect_errno(d, "virtio_blk_controller_create", {"pf_id": 0, "bdev": "nope"}, 19, ["nope"])
        e = rpc_err(d, "virtio_blk_controller_create", {"vuid": nvme})
        check(e.code < 0 and "virtio-blk" in e.message and nvme in e.message,
              "an NVMe function as a virtio-blk one: %d %r" % (e.code, e.message))
        e = rpc_err(d, "virtio_blk_controller_create", {"pf_id": 0, "bdev": "B0", "live_migration": True})
        check(e.code < 0, "live_migration: code %r" % e.code)
        check("live_migration" in e.message and "not supported" in e.message,
              "live_migration: message %r is not clear" % e.message)
        # controller names: 1..63 characters, never cut short
        for bad in ("x" * 64, ""):
            e = rpc_err(d, "virtio_blk_controller_create", {"pf_id": 0, "bdev": "B0", "ctrl_id": bad})
            check(e.code < 0 and "1..63" in e.message, "ctrl_id of %d characters: %d %r" %
                  (len(bad), e.code, e.message))
        eq(d.rpc("virtio_blk_controller_list"), [], "controllers after the failures")
        eq(d.rpc("bdev_get_bdevs", {"name": "B0"})[0]["claimed"], False, "B0 after the failures")
        for f in d.rpc("emulation_function_list"):
            check("ctrl_id" not in f, "a failed create left the function bound: %r" % f)

        eq(d.rpc("virtio_blk_controller_create", {"pf_id": 0, "bdev": "B0"}), C, "first controller")
        # a second controller on the same function
        expect_errno(d, "virtio_blk_controller_create", {"vuid": v0, "bdev": "B1"}, 16, [C])
        expect_errno(d, "virtio_blk_controller_create", {"pf_id": 0, "ctrl_id": "Other"}, 16, [C])
        # the same name twice
        expect_errno(d, "virtio_blk_controller_create", {"vuid": v1, "ctrl_id": "vblkctrl1"}, 17, ["vblkctrl1"])
        eq(len(d.rpc("virtio_blk_controller_list")), 1, "controllers after the refusals")
        check("ctrl_id" not in vblk_fn(d, 1), "PF 1 bound by a failed create")
        # a bdev backs several virtio-blk controllers (shared, SPDK's model)
        eq(d.rpc("virtio_blk_controller_create", {"vuid": v1, "bdev": "B0", "ctrl": "Shared"}), "Shared",
           "second controller on B0")
        e = expect_errno(d, "bdev_malloc_delete", {"name": "B0"}, 16, ["B0", C, "1 more"])
        eq(d.rpc("virtio_blk_controller_destroy", {"ctrl_id": "Shared"}), True, "destroy Shared")
        e = expect_errno(d, "bdev_malloc_delete", {"name": "B0"}, 16, ["B0", C])
        eq(d.rpc("virtio_blk_controller_create", {"vuid": v1, "bdev": "B1", "ctrl": "Second"}), "Second",
           "second controller (the 'ctrl' alias)")
        for m, p in [("virtio_blk_controller_destroy", {}), ("virtio_blk_controller_suspend", {}),
                     ("virtio_blk_controller_resume", {}), ("virtio_blk_controller_bdev_detach", {}),
                     ("virtio_blk_controller_bdev_attach", {"bdev": "B1"}),
                     ("virtio_blk_controller_dbg_io_stats_get", {}),
                     ("virtio_blk_controller_dbg_debug_stats_get", {}), ("virtio_blk_controller_list", {}),
                     ("virtio_blk_controller_modify", {"num_queues": 2})]:
            p = dict(p, ctrl_id="Nope")
            expect_errno(d, m, p, 19, ["Nope"])
        expect_errno(d, "virtio_blk_controller_bdev_attach", {"ctrl_id": C, "bdev": "B1"}, 16, [C])
        expect_errno(d, "virtio_blk_controller_resume", {"ctrl_id": C}, 22, [C])
        d.rpc("virtio_blk_controller_bdev_detach", {"ctrl_id": C})
        expect_errno(d, "virtio_blk_controller_bdev_attach", {"ctrl_id": C, "bdev": "nope"}, 19, ["nope"])
        eq(ctrl(d)["bdev"], "none", "bdev after the refused attach")
        # B1 backs Second and, shared, C as well
        eq(d.rpc("virtio_blk_controller_bdev_attach", {"ctrl_id": C, "bdev": "B1"}), True, "shared attach")
        eq(ctrl(d)["bdev"], "B1", "bdev after the shared attach")
        # destroy both; the functions are free again
        eq(d.rpc("virtio_blk_controller_destroy", {"ctrl_id": "second"}), True, "destroy Second")
        eq(d.rpc("virtio_blk_controller_destroy", {"ctrl_id": C}), True, "destroy")
        for f in d.rpc("emulation_function_list"):
            check("ctrl_id" not in f, "function still bound: %r" % f)
        eq(d.rpc("bdev_malloc_delete", {"name": "B0"}), True, "B0 free again")
        eq(d.stop(), 0, "osnapd exit code")


@test
def inflight_region():
    """The vhost-user in-flight region as a reconnecting front end uses it
    (vblk_e2e inflight_*): descriptions that do not fit their file refused
    with a non-zero REPLY_ACK; a predecessor's state (heads in flight with
    their counters, a published batch not yet cleared, a wrong ring base)
    resubmitted in counter order before the avail ring, nothing run twice;
    a garbage region started afresh. --force_in_order makes the order
    visible in the used ring."""
    with start("vhost-user") as d:
        d.rpc("bdev_malloc_create", {"name": "M0", "num_blocks": 2048, "block_size": 512})
        cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev M0 --force_in_order")
        run_e2e(d, cases(["inflight_bad_region", "inflight_resubmit", "inflight_garbage"]))
        eq(d.stop(), 0, "exit code")


@test
def save_config_restart():
    td = osnaptest.tmpdir()
    img = os.path.join(td, "disk.img")
    with open(img, "wb") as f:
        f.truncate(16 * MB)
    with start("vhost-user", ["VIRTIO_BLK_EMULATION_NUM_PF=2"]) as d:
        conf = d.emu_config
        emu_dir = d.emu_dir
        d.rpc("bdev_malloc_create", {"name": "M0", "num_blocks": 64 * 2048, "block_size": 512})
        cli_line(d, "spdk_rpc.py bdev_uring_create %s U1 512" % img)
        cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 0 --bdev M0 --num_queues 2 --queue_size 128 "
                    "--seg_max 16 --size_max 32768 --vblk_id saved-serial --indirect_desc")
        cli_line(d, "snap_rpc.py virtio_blk_controller_create --pf_id 1 --bdev U1 -c Held --suspended "
                    "--read_only --force_in_order")
        before = d.rpc("virtio_blk_controller_list")
        cfg1 = d.rpc("save_config")
        eq(d.stop(), 0, "exit code")
    path = os.path.join(td, "config.json")
    with open(path, "w") as f:
        json.dump(cfg1, f, indent=2)
    with Daemon(["-c", conf, "--json", path], cpumask="0x3") as d:
        d.emu_dir = emu_dir
        d.emu_config = conf
        d.transport = "vhost-user"
        eq(d.rpc("virtio_blk_controller_list"), before, "controllers after the restart")
        eq(d.rpc("save_config"), cfg1, "save_config after the restart")
        run_e2e(d, expect(64 * MB, "saved-serial", queues=2, seg_max=16, size_max=32768, indirect=1) +
                cases(["negotiation", "config", "get_id", "io_mq"]))
        eq(ctrl(d, "Held")["state"], "SUSPENDED", "the suspended controller stays suspended")
        eq(d.stop(), 0, "exit code after --json")


if __name__ == "__main__":
    main()
