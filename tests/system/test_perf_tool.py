#!/usr/bin/env python3
"""System tests of osnap-perf (tools/osnap-perf) against osnapd:

(a) --verify randrw for 2 s with -j 2 -q 16 on an NVMe controller (vfio-user,
    malloc namespace), on a virtio-blk controller over vhost-user-blk, and
    on a virtio-blk controller over vfio-user (virtio-pci,
    EMU_VIRTIO_BLK_TRANSPORT=vfio-user): exit 0, 0 errors, the JSON report
    has its keys in total and per job;
(b) data integrity: a write pass that keeps the generations
    (--verify-state), a clean read pass, then blocks changed behind the
    tool's back through bdev_dbg_io (overwritten with a pattern; a block
    copied over another, i.e. a misdirected write): the read pass exits 1
    and names each corruption;
(c) completion by interrupts, and command-line errors (exit 2).
"""
import base64
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import osnaptest  # noqa: E402
from osnaptest import Daemon, check, eq, main, test  # noqa: E402

PERF = os.path.join(osnaptest.BUILD, "tools", "osnap-perf", "osnap-perf")
NQN = "nqn.2026-01.io.osnap:perf"
LAT_KEYS = {"min", "avg", "p50", "p90", "p99", "p999", "max"}
TOP_KEYS = {"iops", "mib_s", "lat_us", "errors", "jobs"}
JOB_KEYS = {"iops", "mib_s", "lat_us", "errors"}
BLOCK = 512                     # bdev block size of every test disk
SIZE = (1 << 20) - 4096         # bytes of the range the integrity tests use (an odd
                                # block count: the jobs' slices differ in size)
BS = 4096


# ---- helpers ------------------------------------------------------------------------

def daemon(*config_lines):
    """osnapd on an emulation config of its own (EMU_DIR in a new directory)."""
    d = tempfile.mkdtemp(prefix="osnap-perf-test-")
    conf = os.path.join(d, "emu.conf")
    emu_dir = os.path.join(d, "emu")
    with open(conf, "w") as f:
        f.write("EMU_DIR=%s\n" % emu_dir)
        for line in config_lines:
            f.write(line + "\n")
    dm = Daemon(["-c", conf])
    dm.emu_dir = emu_dir
    return dm


def endpoint(d, kind):
    """Socket of PF 0 of kind (NVME or VBLK)."""
    for f in d.rpc("emulation_function_list"):
        if f["emulation_type"] == kind and f["pf_index"] == 0:
            return os.path.join(d.emu_dir, f["vuid"] + ".sock")
    raise AssertionError("no %s PF 0" % kind)


def nvme_target(d, bdev="Malloc0", mb=64):
    d.cli("bdev_malloc_create", mb, BLOCK, "-b", bdev)
    d.cli("nvme_subsystem_create", "--nqn", NQN)
    d.cli("nvme_namespace_create", "--nqn", NQN, "-n", 1, "-b", bdev)
    d.cli("nvme_controller_create", "--nqn", NQN, "--pf_id", 0, "--num_queues", 4)
    d.cli("nvme_controller_attach_ns", "-c", "NVMeCtrl1", "-n", 1)
    return ["--vfio-user", endpoint(d, "NVME"), "--nvme"]


def vblk_target(d, transport, bdev="Malloc1", mb=64):
    d.cli("bdev_malloc_create", mb, BLOCK, "-b", bdev)
    d.cli("virtio_blk_controller_create", "--pf_id", 0, "--bdev", bdev, "--num_queues", 2)
    sock = endpoint(d, "VBLK")
    if transport == "vhost-user":
        return ["--vhost-user", sock]
    return ["--vfio-user", sock, "--virtio"]


def perf(target, *args, timeout=45):
    """Run osnap-perf; returns (exit code, stdout, stderr)."""
    cmd = [PERF] + target + [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    return p.returncode, p.stdout, p.stderr


def perf_json(target, *args, want_rc=0):
    rc, out, err = perf(target, *args, "--json")
    if rc != want_rc:
        raise AssertionError("osnap-perf %s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s" %
                             (" ".join(map(str, target + list(args))), rc, want_rc, out, err))
    return json.loads(out), err


def check_report(r, jobs):
    check(TOP_KEYS <= set(r), "top-level keys %s missing from %s" % (TOP_KEYS, sorted(r)))
    check(LAT_KEYS <= set(r["lat_us"]), "lat_us keys: %s" % sorted(r["lat_us"]))
    eq(len(r["jobs"]), jobs, "jobs in the report")
    for j in r["jobs"]:
        check(JOB_KEYS <= set(j), "job keys %s missing from %s" % (JOB_KEYS, sorted(j)))
        check(LAT_KEYS <= set(j["lat_us"]), "job lat_us keys: %s" % sorted(j["lat_us"]))
        check(j["iops"] > 0, "job %s did I/O: %r" % (j.get("job"), j))
    lat = r["lat_us"]
    check(0 < lat["min"] <= lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p999"] <= lat["max"],
          "latencies in order: %r" % lat)
    check(lat["min"] <= lat["avg"] <= lat["max"], "average within min..max: %r" % lat)
    check(r["iops"] > 0 and r["mib_s"] > 0, "throughput: %r %r" % (r["iops"], r["mib_s"]))
    check(abs(r["mib_s"] - r["iops"] * r["bs"] / 1048576) < 0.01 * r["mib_s"] + 0.01,
          "MiB/s matches IOPS x bs")


def verified_randrw(target):
    r, _ = perf_json(target, "-w", "randrw", "--verify", "-j", 2, "-q", 16, "-t", 2)
    check_report(r, 2)
    eq(r["errors"], 0, "errors")
    check(r["read"]["ios"] > 0 and r["write"]["ios"] > 0, "reads and writes: %r" % r)
    check(r["verify_checked"] > 0, "some reads were verified: %r" % r["verify_checked"])


def integrity(d, target, bdev):
    """Write, read back clean, corrupt behind the tool's back, read again."""
    state = os.path.join(d.dir, "verify.state")
    rng = ["--size", SIZE, "-b", BS, "--verify", "--verify-state", state]
    nblocks = SIZE // BS
    r, _ = perf_json(target, "-w", "write", "-n", nblocks, "-q", 8, "-j", 2, *rng)
    eq(r["ios"], nblocks, "blocks written")
    eq(r["errors"], 0, "errors of the write pass")
    r, _ = perf_json(target, "-w", "read", "-n", nblocks, "-q", 8, "-j", 2, *rng)
    eq(r["errors"], 0, "errors of the clean read pass")
    eq(r["verify_checked"], nblocks, "blocks checked by the clean read pass")

    # (1) overwrite 3 logical blocks of I/O block 10 with a pattern
    d.rpc("bdev_dbg_io", {"name": bdev, "op": "write", "offset_blocks": 10 * BS // BLOCK + 2,
                          "num_blocks": 3, "pattern": 0x5a})
    # (2) copy I/O block 3 over I/O block 40 (stamps of the wrong LBA)
    n = BS // BLOCK
    data = d.rpc("bdev_dbg_io", {"name": bdev, "op": "read", "offset_blocks": 3 * n,
                                 "num_blocks": n})["data"]
    eq(len(base64.b64decode(data)), BS, "bytes read through bdev_dbg_io")
    d.rpc("bdev_dbg_io", {"name": bdev, "op": "write", "offset_blocks": 40 * n, "num_blocks": n,
                          "data": data})

    r, err = perf_json(target, "-w", "read", "-n", nblocks, "-q", 8, *rng, want_rc=1)
    eq(r["verify_checked"], nblocks - 2, "blocks that still verify")
    eq(r["verify_errors"], 2, "verify errors (stderr: %s)" % err)
    eq(r["io_errors"], 0, "I/O errors")
    check(r["errors"] >= 2, "errors counts the verify errors: %r" % r["errors"])
    check("verify error at LBA %d" % (10 * n + 2) in err and "no stamp" in err,
          "the overwritten block is named:\n" + err)
    check("verify error at LBA %d" % (40 * n) in err and "another LBA" in err,
          "the misdirected block is named:\n" + err)


# ---- (a) verified random read/write -----------------------------------------------------

@test
def nvme_verify_randrw():
    with daemon() as d:
        verified_randrw(nvme_target(d))


@test
def vblk_vhost_user_verify_randrw():
    with daemon() as d:
        verified_randrw(vblk_target(d, "vhost-user"))


@test
def vblk_vfio_user_verify_randrw():
    with daemon("EMU_VIRTIO_BLK_TRANSPORT=vfio-user") as d:
        verified_randrw(vblk_target(d, "vfio-user"))


# ---- (b) corruption is detected ----------------------------------------------------------

@test
def nvme_corruption_detected():
    with daemon() as d:
        integrity(d, nvme_target(d), "Malloc0")


@test
def vblk_corruption_detected():
    with daemon() as d:
        integrity(d, vblk_target(d, "vhost-user"), "Malloc1")


# ---- (c) interrupts, text output, usage ---------------------------------------------------

@test
def interrupts_and_text_report():
    with daemon() as d:
        nvme = nvme_target(d)
        vblk = vblk_target(d, "vhost-user")
        for target in (nvme, vblk):
            r, _ = perf_json(target, "-w", "randwrite", "--interrupts", "-q", 4, "-n", 2000)
            eq(r["ios"], 2000, "I/Os with -n")
            eq(r["interrupts"], True, "interrupt mode in the report")
            check_report(r, 1)
        rc, out, err = perf(nvme, "-w", "randread", "-q", 2, "-t", 0.5, "--ramp", 0.2,
                            "--server-pid", d.proc.pid)
        eq(rc, 0, "exit code (stderr: %s)" % err)
        for word in ("IOPS=", "lat (usec):", "p99.9=", "errors: 0", "server"):
            check(word in out, "%r in the text report:\n%s" % (word, out))


def tsc_invariant():
    """Whether /proc/cpuinfo names both TSC invariance flags (osnap-perf's
    --clock auto then uses the TSC)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return "constant_tsc" in flags and "nonstop_tsc" in flags
    except OSError:
        pass
    return False


@test
def clocks_and_prp_templates():
    """Every latency clock gives a measured interval that matches the wall
    clock (a wrong TSC calibration would scale it), and I/O sizes whose
    commands need PRP lists (built once per I/O slot) carry verified data."""
    with daemon() as d:
        nvme = nvme_target(d)
        clocks = ["monotonic", "auto"] + (["tsc"] if tsc_invariant() else [])
        for clk in clocks:
            r, _ = perf_json(nvme, "-w", "randread", "-q", 8, "-t", 1, "--clock", clk)
            check_report(r, 1)
            want = "tsc" if clk == "tsc" or (clk == "auto" and tsc_invariant()) else "monotonic"
            check(r["clock"].startswith(want), "--clock %s: report says %r" % (clk, r["clock"]))
            # the main thread sleeps 1 s by CLOCK_MONOTONIC; the jobs time it in ticks
            check(0.8 <= r["runtime_s"] <= 1.5,
                  "--clock %s: 1 s measured as %.3f s" % (clk, r["runtime_s"]))
        for bs in (12288, 65536):      # 3 pages: a 2-entry PRP list; 16 pages
            # --batch 3: doorbells within bursts of up to 4
            r, _ = perf_json(nvme, "-w", "randrw", "-b", bs, "-q", 4, "-n", 400, "--verify",
                             "--size", 1 << 20, "--batch", 3)
            eq(r["ios"], 400, "I/Os of %d bytes" % bs)
            eq(r["errors"], 0, "errors with -b %d" % bs)
            check(r["verify_checked"] > 0, "-b %d: some reads verified: %r" % (bs, r))


@test
def usage_errors():
    cases = [
        [],                                                # no target
        ["--vfio-user", "/nonexistent.sock"],              # neither --nvme nor --virtio
        ["--vhost-user", "/x.sock", "--nvme"],             # --nvme with vhost-user
        ["--vhost-user", "/x.sock", "-w", "randomread"],   # bad workload
        ["--vhost-user", "/x.sock", "-b", "1000"],         # not a multiple of 512
        ["--vhost-user", "/x.sock", "-t", "1", "-n", "5"],  # both time and count
        ["--vhost-user", "/x.sock", "--verify-state", "/tmp/s"],  # state without --verify
        ["--vhost-user", "/x.sock", "--clock", "sundial"],  # unknown clock
        ["--vhost-user", "/x.sock", "--reap", "-1"],       # not a count
        ["--vhost-user", "/x.sock", "--batch", "many"],    # not a count
        ["--vhost-user", "/nonexistent.sock", "-t", "1"],  # cannot connect
    ]
    for args in cases:
        rc, out, err = perf([], *args)
        eq(rc, 2, "exit code of osnap-perf %s (stderr: %s)" % (" ".join(args), err))
        check(err.startswith("osnap-perf: "), "a message on stderr: %r" % err)
    rc, out, _ = perf([], "--help")
    eq(rc, 0, "--help")
    check("--vhost-user" in out, "usage text")


if __name__ == "__main__":
    main()
