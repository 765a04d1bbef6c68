#!/usr/bin/env python3
"""osnap-perf builds against SPDK's own client, spdk_nvme_perf, on one SPDK
nvmf_tgt (VFIOUSER transport, null bdev of 4096-byte blocks, core 0), the
clients on core 1 one after another, order rotated per repetition; medians
and per-repetition (paired) ratios to spdk_nvme_perf. For each run: IOPS,
p50 latency (spdk_nvme_perf -L), nvmf_tgt's CPU seconds per million I/O
over the measured interval, and the load of other processes on both cores.

usage: vs_spdk_nvme_perf.py PERF[,PERF...] [--reps N] [--time S] [--ramp S]
       [--qds 1,32,128] [--wls randread,randwrite]
SPDK_DIR (default /tmp/peers/spdk): a build by ../shared/peers/build-spdk.sh,
its libraries on LD_LIBRARY_PATH (/tmp/peers/env.sh)."""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

TOP = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(TOP, "bench"))
import run_bench  # noqa: E402
import spdk_peer  # noqa: E402
from bench_servers import cpu_seconds  # noqa: E402

SPDK = "spdk_nvme_perf"


def spdk_run(a, srv, wl, qd):
    """spdk_nvme_perf, line-buffered so that nvmf_tgt's CPU time is read when
    its workers start and when they report."""
    tr = "trtype:VFIOUSER traddr:%s subnqn:%s ns:1" % (srv.dir, spdk_peer.NQN)
    cmd = ["stdbuf", "-oL", os.path.join(a.spdk, "build", "bin", "spdk_nvme_perf"), "-r", tr,
           "-q", str(qd), "-o", "4096", "-w", wl, "-t", str(int(round(a.time))), "-c", "0x2",
           "--no-huge", "-s", "1024", "-L"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines, c0, c1 = [], None, None
    for ln in p.stdout:
        if c0 is None and "Launching workers" in ln:
            c0 = cpu_seconds(srv.pid)
        elif c0 is not None and c1 is None and "Device Information" in ln:
            c1 = cpu_seconds(srv.pid)
        lines.append(ln)
    p.wait()
    tot = [ln for ln in lines if ln.startswith("Total")]
    if p.returncode or not tot:
        return {"error": (p.stderr.read() + "".join(lines))[-300:]}
    r = {"iops": float(tot[0].split(":", 1)[1].split()[0])}
    if c0 is not None and c1 is not None and r["iops"]:
        r["cpu_mio"] = (c1 - c0) / (r["iops"] * int(round(a.time)) / 1e6)
    for ln in lines:
        if ln.strip().startswith("50.00000%"):
            r["p50"] = float(ln.split(":")[1].strip().rstrip("us"))
    return r


def perf_run(a, perf, srv, wl, qd):
    cmd = [perf, "--vfio-user", srv.sock, "--nvme", "--nsid", "1", "-w", wl, "-b", "4096",
           "-q", str(qd), "--cpus", "1", "-t", str(a.time), "--ramp", str(a.ramp), "--json",
           "--server-pid", str(srv.pid)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=a.time + a.ramp + 60)
    if p.returncode:
        return {"error": p.stderr[-300:]}
    j = json.loads(p.stdout)
    return {"iops": j["iops"], "p50": j["lat_us"]["p50"], "cpu_mio": j.get("server_cpu_s_per_mio")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("perfs", help="osnap-perf binaries, comma-separated")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--time", type=float, default=1)
    ap.add_argument("--ramp", type=float, default=0.3)
    ap.add_argument("--qds", default="1,32,128")
    ap.add_argument("--wls", default="randread,randwrite")
    ap.add_argument("--spdk", default=os.environ.get("SPDK_DIR", "/tmp/peers/spdk"))
    a = ap.parse_args()
    srv = spdk_peer.SpdkServer(a.spdk, tempfile.mkdtemp(prefix="vs-spdk-perf-"))
    perfs = a.perfs.split(",")
    names = ["osnap-perf#%d" % i for i in range(len(perfs))] + [SPDK]
    runs = {}
    try:
        for rep in range(a.reps):
            for wl in a.wls.split(","):
                for qd in [int(x) for x in a.qds.split(",")]:
                    k = rep % len(names)
                    for name in names[k:] + names[:k]:
                        w0 = run_bench._window(srv.pid)
                        if name == SPDK:
                            r = spdk_run(a, srv, wl, qd)
                        else:
                            r = perf_run(a, perfs[names.index(name)], srv, wl, qd)
                        ol = run_bench._other_load(w0, run_bench._window(srv.pid))
                        r["other_load"] = (round(ol["other_load_server_core_pct"]),
                                           round(ol["other_load_client_core_pct"]))
                        runs[(wl, qd, name, rep)] = r
                        print(rep, wl, qd, name, r.get("error") or "%.0f IOPS p50 %s us cpu/MIO %s "
                              "other load %s" % (r["iops"], r.get("p50"), r.get("cpu_mio"),
                                                 r["other_load"]), flush=True)
    finally:
        srv.stop()
    print("load average at the end:", open("/proc/loadavg").read().strip())
    for wl in a.wls.split(","):
        for qd in [int(x) for x in a.qds.split(",")]:
            for name in names:
                ok = [runs[(wl, qd, name, r)] for r in range(a.reps)
                      if "error" not in runs.get((wl, qd, name, r), {"error": 1})]
                if not ok:
                    continue
                med = statistics.median(x["iops"] for x in ok)
                cpu = [x["cpu_mio"] for x in ok if x.get("cpu_mio")]
                pair = [runs[(wl, qd, name, r)]["iops"] / runs[(wl, qd, SPDK, r)]["iops"]
                        for r in range(a.reps) if "error" not in runs.get((wl, qd, name, r), {"error": 1})
                        and "error" not in runs.get((wl, qd, SPDK, r), {"error": 1})
                        and runs[(wl, qd, SPDK, r)]["iops"]]
                print("%-9s QD%-3d %-15s IOPS median %9.0f  p50 %6.2f us  server CPU s/M I/O %s  "
                      "paired IOPS ratio to %s: median %.2f (%d of %d >= 1)" % (
                          wl, qd, name, med, statistics.median(x.get("p50", 0) for x in ok),
                          "%.3f" % statistics.median(cpu) if cpu else "-", SPDK,
                          statistics.median(pair) if pair else 0, sum(x >= 1 for x in pair), len(pair)))


if __name__ == "__main__":
    main()
