#!/usr/bin/env python3
"""osnap's NVMe/TCP initiator against the Linux kernel's nvmet-tcp target
in a TCG guest (tests/guest/nvmet_target.py, booted once): osnapd (reactor
on core 0) attaches the guest's subsystem (bdev_nvme_attach_controller -t
tcp), serves its namespace (nvme0n1) through an emulated NVMe controller
(vfio-user), and osnap-perf (core 1) runs 4 KiB randread and randwrite at
QD 1 and 32 through it, once per socket implementation of the I/O queue
pair (sock_set_default_impl posix / uring, switched by a controller reset),
the implementations back to back at each point.

Each point: IOPS, p50 and p99 latency, osnapd's CPU seconds per million I/O
(/proc/PID/stat over the measured interval, every thread), and the same for
the target (the QEMU process: the emulated guest CPU, its network and
nvmet), which shows where the time goes. The guest runs under TCG (no KVM
here), so the target, not the initiator, bounds these figures: compare
the two CPU columns. QEMU is not pinned unless --qemu-cpus says so (it
then shares a core with the server or the client); the client completes by
interrupt (osnap-perf --interrupts) rather than spinning on core 1, which
QEMU needs, unless --client-polling.

Points measured under more than --max-other-load percent of other processes'
load on core 0 or 1 are measured again (--retries), as run_bench.py does;
but QEMU's own load counts as "other" here, so that column is informative
only. Results: bench/results/nvme-tcp-<timestamp>.json with the machine
description; the table is printed in Markdown. Numbers are reported, never
judged.

usage: bench/nvme_tcp_bench.py [--quick] [--time S] [--ramp S] [--build DIR]
                               [--impls posix,uring] [--qemu-cpus LIST] [--client-polling]
"""
import argparse
import datetime
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(TOP, "tests", "guest"))
import bench_report  # noqa: E402
import run_bench  # noqa: E402
from bench_servers import Osnapd, cpu_seconds  # noqa: E402
import nvmet_target  # noqa: E402

SERVER_CPU, CLIENT_CPU = run_bench.SERVER_CPU, run_bench.CLIENT_CPU
EMU_NQN = "nqn.2026-12.io.osnap:tcp-bench"
WORKLOADS = ("randread", "randwrite")
DEPTHS = (1, 32)
IMPLS = ("posix", "uring")


def wait_impl(d, impl, timeout=60):
    """nvme0's I/O queues run on impl sockets (after the attach or reset)."""
    end = time.time() + timeout
    while time.time() < end:
        got = d.rpc("bdev_nvme_get_controllers", "-n", "nvme0")[0]["ctrlrs"][0]
        if got["state"] == "enabled" and got["osnap"]["io_queue_sock_impl"] == [impl]:
            return
        time.sleep(0.1)
    raise RuntimeError("nvme0's I/O queue did not come up on %s sockets" % impl)


def use_impl(d, impl):
    """Switch nvme0's I/O queue to impl: the reset reconnects it."""
    d.rpc("sock_set_default_impl", "-i", impl)
    d.rpc("bdev_nvme_reset_controller", "nvme0")
    wait_impl(d, impl)


def point(args, d, qemu_pid, target_args, impl, workload, qd):
    """One measured point: run_bench's figures plus the target's CPU."""
    q0 = cpu_seconds(qemu_pid)
    r = run_bench.measured_point(args, target_args, d.pid, workload, qd)
    q1 = cpu_seconds(qemu_pid)
    r.update(impl=impl, workload=workload, qd=qd, target_cpu_s=q1 - q0)
    ios = (r.get("iops") or 0) * (r.get("runtime_s") or 0)
    # the target's CPU over ramp + measured time per measured I/O: an upper
    # bound of its cost per I/O (the ramp's I/O is not counted)
    r["target_cpu_s_per_mio"] = (q1 - q0) / ios * 1e6 if ios else None
    return r


def table(points):
    lines = ["| workload | QD | sockets | IOPS | p50 µs | p99 µs | osnapd CPU s / M I/O "
             "| target (QEMU) CPU s / M I/O | other load % |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    f = bench_report._f
    for p in points:
        lines.append("| %s | %d | %s | %s | %s | %s | %s | %s | %s |" % (
            p["workload"], p["qd"], p["impl"], f(p.get("iops"), "%.0f"), f(p.get("p50_us")),
            f(p.get("p99_us")), f(p.get("server_cpu_s_per_mio"), "%.2f"),
            f(p.get("target_cpu_s_per_mio"), "%.2f"),
            "%s / %s" % (f(p.get("other_load_server_core_pct"), "%.0f"),
                         f(p.get("other_load_client_core_pct"), "%.0f"))))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # QEMU's own load counts as other load here: no re-measuring by default
    run_bench.add_run_args(ap, max_other_load=1000, retries=0)
    ap.add_argument("--impls", default=",".join(IMPLS), help="socket implementations (posix,uring)")
    ap.add_argument("--qemu-cpus", help="pin the guest's QEMU to these CPUs (default: not pinned)")
    ap.add_argument("--client-polling", action="store_true",
                    help="osnap-perf polls for completions (default: interrupts)")
    args = run_bench.parse_run_args(ap)
    impls = [i for i in args.impls.split(",") if i]
    for exe in (args.perf, os.path.join(args.build, "osnapd"), os.path.join(args.build, "osnap-rpc")):
        if not os.access(exe, os.X_OK):
            sys.exit("%s is missing: build first (ninja -C %s)" % (exe, args.build))
    if (os.cpu_count() or 1) < 2 or not shutil.which("taskset"):
        sys.exit("needs 2 CPUs and taskset")

    started = datetime.datetime.now()
    result = {"started": started.isoformat(timespec="seconds"), "quick": args.quick,
              "seconds_per_point": args.time, "ramp_seconds": args.ramp,
              "server_cpu": SERVER_CPU, "client_cpu": CLIENT_CPU, "qemu_cpus": args.qemu_cpus,
              "client_polling": args.client_polling,
              "block_size": 4096, "impls": impls,
              "machine": bench_report.machine(TOP, args.build)}
    work = tempfile.mkdtemp(prefix="osnap-tcp-bench-")
    guest = d = None
    try:
        t0 = time.time()
        try:
            guest = nvmet_target.NvmetGuest().wait_ready()
        except nvmet_target.Unavailable as e:
            sys.exit("the nvmet-tcp guest cannot run here: %s" % e)
        result["guest_boot_s"] = round(time.time() - t0, 1)
        result["guest_cmd"] = " ".join(guest.proc.args)
        if args.qemu_cpus:
            subprocess.run(["taskset", "-a", "-p", "-c", args.qemu_cpus, str(guest.proc.pid)],
                           check=True, capture_output=True)
        d = Osnapd(args.build, work, SERVER_CPU)
        result["osnapd_cmd"] = " ".join(d.cmd)
        d.rpc("sock_set_default_impl", "-i", impls[0])
        d.rpc("bdev_nvme_attach_controller", "-b", "nvme0", "-t", "tcp", "-a", "127.0.0.1",
              "-f", "ipv4", "-s", guest.port, "-n", guest.nqn)
        wait_impl(d, impls[0])
        d.rpc("nvme_subsystem_create", "--nqn", EMU_NQN)
        d.rpc("nvme_namespace_create", "--nqn", EMU_NQN, "-n", 1, "-b", "nvme0n1")
        d.rpc("nvme_controller_create", "--nqn", EMU_NQN, "--pf_id", 0, "--num_queues", 1)
        d.rpc("nvme_controller_attach_ns", "-c", "NVMeCtrl1", "-n", 1)
        target_args = ["--vfio-user", d.socket_of("NVME", 0), "--nvme"] + \
            ([] if args.client_polling else ["--interrupts"])
        current = impls[0]
        points = []
        n = len(WORKLOADS) * len(DEPTHS) * len(impls)
        for workload in WORKLOADS:
            for qd in DEPTHS:
                for impl in impls:
                    if impl != current:
                        use_impl(d, impl)
                        current = impl
                    r = point(args, d, guest.proc.pid, target_args, impl, workload, qd)
                    points.append(r)
                    print("[%2d/%d] %-9s QD%-3d %-5s %s" % (
                        len(points), n, workload, qd, impl, r.get("error") or
                        "%7.0f IOPS  p50 %7.1f us  p99 %8.1f us  osnapd %.2f / target %.2f "
                        "CPU s per M I/O" % (r["iops"], r["p50_us"], r["p99_us"],
                                             r["server_cpu_s_per_mio"] or 0,
                                             r["target_cpu_s_per_mio"] or 0)), flush=True)
        result["points"] = points
        result["controller"] = d.rpc("bdev_nvme_get_controllers", "-n", "nvme0")
    finally:
        if d:
            d.stop()
        if guest:
            guest.stop()
        shutil.rmtree(work, ignore_errors=True)
    result["table_md"] = table(result["points"])
    bench_report.write_result(result, args.results, "nvme-tcp-" + started.strftime("%Y%m%d-%H%M%S"),
                              TOP, [result["table_md"]])


if __name__ == "__main__":
    main()
