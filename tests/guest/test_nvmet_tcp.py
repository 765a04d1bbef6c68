#!/usr/bin/env python3
"""osnap's NVMe/TCP initiator against the Linux kernel's nvmet-tcp target,
in a TCG guest booted once for the whole file (nvmet_target.py):

- attach and identify: the seeds' command line with -t tcp, one bdev of the
  namespace's size, Linux's model number, the controller enabled;
- data: osnap-perf through an emulated NVMe controller whose namespace is
  the remote one, 4 KiB..512 KiB (the emulated MDTS) written then read back
  verified, then a verified random mix; the same with header and data
  digests on a second controller of the same subsystem;
- bdev_nvme_reset_controller twice under a verified random mix: no error;
- the same data and a reset under I/O with the I/O queue on io_uring
  sockets (sock_set_default_impl uring);
- the guest's network cable pulled for 4 s under a verified random mix
  (QEMU monitor set_link): the keep-alive notices, I/O is held and resumes
  after the reconnect with no error and nothing lost;
- IOPS and latency of the initiator alone (4 KiB random reads), printed.

Skipped, saying why, when the guest cannot run here (no kernel, modules or
QEMU)."""
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "system", "lib"))
sys.path.insert(0, HERE)
import nvmet_target  # noqa: E402
from osnaptest import Daemon, Skip, check, eq, main, test  # noqa: E402
from nvme_remote import emulated_nvme, perf, perf_background, wait_sock_impl  # noqa: E402

_guest = None


def guest():
    """The target, booted on first use, for every case of this file."""
    global _guest
    if _guest is None:
        try:
            _guest = nvmet_target.NvmetGuest(size_mb=64)
        except nvmet_target.Unavailable as e:
            _guest = e
        else:
            _guest.wait_ready()
    if isinstance(_guest, Exception):
        raise Skip("nvmet guest unavailable: %s" % _guest)
    return _guest


def attach(d, g, name, *extra):
    return d.cli_json("bdev_nvme_attach_controller", "-b", name, "-t", "tcp", "-a", "127.0.0.1",
                      "-f", "ipv4", "-s", g.port, "-n", g.nqn, *extra)


@test
def attach_identify():
    g = guest()
    with Daemon() as d:
        eq(attach(d, g, "nvme0"), ["nvme0n1"], "bdevs printed")
        b = d.rpc("bdev_get_bdevs", {"name": "nvme0n1"})[0]
        eq(b["block_size"] * b["num_blocks"], g.size_mb << 20, "namespace size")
        c = d.rpc("bdev_nvme_get_controllers", {"name": "nvme0"})[0]["ctrlrs"][0]
        eq(c["state"], "enabled", "state")
        check("Linux" in c["osnap"]["model_number"], "model number: %r" % c["osnap"]["model_number"])
        eq(c["trid"]["subnqn"], g.nqn, "subnqn")
        check(c["osnap"]["in_capsule_data_size"] > 0, "in-capsule data: %r" % c["osnap"])
        eq(d.rpc("bdev_nvme_detach_controller", {"name": "nvme0"}), True, "detach")


def verified_sizes(d, tgt):
    for bs in (4096, 65536, 262144, 524288):
        state = os.path.join(d.dir, "v%d.state" % bs)
        n = (8 << 20) // bs
        rng = ["-b", bs, "--size", 8 << 20, "--verify", "--verify-state", state]
        r = perf(tgt, "-w", "write", "-n", n, "-q", 4, *rng, timeout=600)
        eq((r["ios"], r["errors"]), (n, 0), "%d-byte writes" % bs)
        r = perf(tgt, "-w", "read", "-n", n, "-q", 4, *rng, timeout=600)
        eq((r["errors"], r["verify_checked"]), (0, n), "%d-byte reads verified" % bs)
    r = perf(tgt, "-w", "randrw", "-q", 8, "-t", 3, "--verify", timeout=600)
    eq(r["errors"], 0, "randrw errors")
    check(r["verify_checked"] > 0, "randrw verified some reads")


@test
def io_4k_to_512k_verified():
    g = guest()
    with Daemon() as d:
        attach(d, g, "nvme0")
        verified_sizes(d, emulated_nvme(d))


@test
def io_with_digests():
    g = guest()
    with Daemon() as d:
        attach(d, g, "nvme1", "--hdgst", "--ddgst")
        c = d.rpc("bdev_nvme_get_controllers", {"name": "nvme1"})[0]["ctrlrs"][0]
        eq((c["osnap"]["header_digest"], c["osnap"]["data_digest"]), (True, True), "digests")
        tgt = emulated_nvme(d, bdev="nvme1n1")
        r = perf(tgt, "-w", "randrw", "-b", 65536, "-q", 8, "-t", 3, "--verify", timeout=600)
        eq(r["errors"], 0, "errors with digests")
        check(r["verify_checked"] > 0, "verified reads with digests")


@test
def reset_under_io():
    g = guest()
    with Daemon() as d:
        attach(d, g, "nvme0", "-l", 30, "-o", 1)
        tgt = emulated_nvme(d)
        th, out = perf_background(tgt, "-w", "randrw", "-q", 8, "-t", 8, "--verify")
        for _ in range(2):
            eq(d.rpc("bdev_nvme_reset_controller", {"name": "nvme0"}), True, "reset")
        th.join(600)
        check("e" not in out, "osnap-perf across resets: %s" % out.get("e"))
        eq(out["r"]["errors"], 0, "errors across two resets")
        c = d.rpc("bdev_nvme_get_controllers", {"name": "nvme0"})[0]["ctrlrs"][0]
        eq((c["state"], c["osnap"]["resets"]), ("enabled", 2), "after the resets")


@test
def uring_sockets_io_and_reset():
    g = guest()
    with Daemon() as d:
        p = d.cli("sock_set_default_impl", "-i", "uring", check=False)
        if p.returncode:
            raise Skip("io_uring unavailable: %s" % p.stderr.strip())
        attach(d, g, "nvme0", "-l", 30, "-o", 1)
        wait_sock_impl(d, "nvme0", "uring")
        tgt = emulated_nvme(d)
        verified_sizes(d, tgt)
        th, out = perf_background(tgt, "-w", "randrw", "-q", 8, "-t", 6, "--verify")
        eq(d.rpc("bdev_nvme_reset_controller", {"name": "nvme0"}), True, "reset under I/O")
        th.join(600)
        check("e" not in out, "osnap-perf across the reset: %s" % out.get("e"))
        eq(out["r"]["errors"], 0, "errors across the reset")
        c = d.rpc("bdev_nvme_get_controllers", {"name": "nvme0"})[0]["ctrlrs"][0]
        eq((c["state"], c["osnap"]["io_queue_sock_impl"]), ("enabled", ["uring"]), "after the reset")


@test
def network_cut_under_io():
    """The target vanishes silently (cable out): the keep-alive notices,
    I/O is held, and resumes with nothing lost once the cable is back."""
    g = guest()
    with Daemon() as d:
        d.rpc("bdev_nvme_set_options", {"keep_alive_timeout_ms": 2000})
        attach(d, g, "nvme0", "-l", 120, "-o", 1, "--fabrics-timeout", 10000000)
        tgt = emulated_nvme(d)
        th, out = perf_background(tgt, "-w", "randrw", "-q", 8, "-t", 12, "--verify")
        time.sleep(2)        # I/O running
        g.set_link(False)
        time.sleep(4)        # gone longer than the keep-alive timeout
        g.set_link(True)
        th.join(600)
        check("e" not in out, "osnap-perf across the cut: %s" % out.get("e"))
        eq(out["r"]["errors"], 0, "errors across the cut")
        check(out["r"]["verify_checked"] > 0, "verified reads")
        c = d.rpc("bdev_nvme_get_controllers", {"name": "nvme0"})[0]["ctrlrs"][0]
        check(c["osnap"]["resets"] >= 1, "the keep-alive caught the cut: %r" % c["osnap"])
        eq(c["state"], "enabled", "state after the cut")


@test
def initiator_iops_and_latency():
    g = guest()
    with Daemon() as d:
        attach(d, g, "nvme0")
        tgt = emulated_nvme(d)
        r = perf(tgt, "-w", "randread", "-q", 16, "-t", 5, "--server-pid", d.proc.pid,
                 timeout=600)
        eq(r["errors"], 0, "errors")
        print("# osnap NVMe/TCP initiator vs nvmet-tcp in a TCG guest, 4 KiB randread qd16: "
              "%.0f IOPS, latency avg %.0f us p99 %.0f us%s" %
              (r["iops"], r["lat_us"]["avg"], r["lat_us"]["p99"],
               ", osnapd CPU %.1f us/IO" % (r["server_cpu_s"] * 1e6 / max(r["ios"], 1))
               if "server_cpu_s" in r else ""), flush=True)


if __name__ == "__main__":
    try:
        main()
    finally:
        if _guest is not None and not isinstance(_guest, Exception):
            _guest.stop()
