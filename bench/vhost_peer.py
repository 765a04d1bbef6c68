#!/usr/bin/env python3
"""osnap virtio-blk over vhost-user against SPDK's vhost target, one server
core each (core 0), the same client on core 1.

Servers, both started at once; every point runs on each back to back (order
rotated), SPDK's vhost held stopped (SIGSTOP) outside its own points since
it polls its core even with no client:
  osnap   osnapd -m 0x1, virtio_blk_controller_create --num_queues 2 on a
          null bdev (4096-byte blocks)
  spdk    vhost -m 0x1 -s 1024 --no-huge, vhost_create_blk_controller on a
          null bdev (4096-byte blocks); with hugepages (-g) it refuses
          osnap-perf's memory (memfd regions aligned to 4 KiB, not 2 MiB)

Clients:
  osnap-perf  tools/osnap-perf --vhost-user SOCK --cpus 1, with --server-pid
              for server CPU per I/O
  bdevperf    SPDK's bdevperf with bdev_virtio (virtio-user, queues of 256)
              -m 0x2 -s 512 -g; IOPS from its Total line. Its one job
              uses one queue, but bdev_virtio is given two: an I/O channel
              taken while the bdev is examined may still hold the first
              when the job starts ("no more unused virtio queues")

bdevperf's virtio-user client shares its memory with the server through
hugetlbfs files, so the script needs hugepages: it mounts hugetlbfs on
/dev/hugepages if nothing is mounted there and raises vm.nr_hugepages to
600 (1.2 GiB) if lower (root). No patch of SPDK is needed.

Points: 4 KiB randread and randwrite at QD 1, 32, 128. Prints a Markdown
table with osnap / SPDK ratios; writes bench/results/vhost-peer-<timestamp>.json
with the machine description.

usage: bench/vhost_peer.py [--time S] [--ramp S] [--reps N] [--clients osnap-perf,bdevperf]
       SPDK_DIR (default /tmp/peers/spdk) must hold a build with vhost and
       bdevperf (../shared/peers/build-spdk.sh).
"""
import argparse
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(HERE)
sys.path.insert(0, HERE)

import bench_report  # noqa: E402
import run_bench  # noqa: E402
import spdk_peer  # noqa: E402
from bench_servers import Osnapd, stop, wait_for_socket  # noqa: E402

SERVER_CPU, CLIENT_CPU = run_bench.SERVER_CPU, run_bench.CLIENT_CPU
BLOCK = 4096
NULL_MB = 1024
WORKLOADS = ("randread", "randwrite")
DEPTHS = (1, 32, 128)
SERVERS = ("osnap", "spdk")
HUGE_DIR, HUGE_PAGES, CLIENT_MEM_MB = "/dev/hugepages", 600, 512


class OsnapVhost:
    def __init__(self, build, workdir):
        self.d = Osnapd(build, workdir, SERVER_CPU)
        self.pid, self.cmd = self.d.pid, self.d.cmd
        self.d.rpc("bdev_null_create", "Null0", NULL_MB, BLOCK)
        self.d.rpc("virtio_blk_controller_create", "--pf_id", 0, "--bdev", "Null0", "--num_queues", 2)
        self.sock = self.d.socket_of("VBLK", 0)

    def stop(self):
        self.d.stop()


class SpdkVhost:
    def __init__(self, spdk, workdir):
        self.rpc_sock = os.path.join(workdir, "spdk.sock")
        sockdir = os.path.join(workdir, "vhost")
        os.makedirs(sockdir)
        self.sock = os.path.join(sockdir, "vblk0")
        self.rpc_py = os.path.join(spdk, "scripts", "rpc.py")
        self.cmd = ["taskset", "-c", str(SERVER_CPU), os.path.join(spdk, "build", "bin", "vhost"),
                    "-m", hex(1 << SERVER_CPU), "-s", "1024", "--no-huge", "-S", sockdir,
                    "-r", self.rpc_sock]
        self.log = open(os.path.join(workdir, "vhost.log"), "wb")
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        wait_for_socket(self.rpc_sock, self.proc, "vhost")
        self.rpc("bdev_null_create", "Null0", NULL_MB, BLOCK)
        self.rpc("vhost_create_blk_controller", "vblk0", "Null0")
        wait_for_socket(self.sock, self.proc, "vhost-user-blk socket")

    def rpc(self, *args):
        cmd = ["python3", self.rpc_py, "-s", self.rpc_sock] + [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if p.returncode:
            raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.strip()))

    def stop(self):
        stop(self.proc)
        self.log.close()


def ensure_hugepages():
    """bdevperf's virtio-user memory must be shareable: hugetlbfs files."""
    if subprocess.run(["mountpoint", "-q", HUGE_DIR]).returncode != 0:
        os.makedirs(HUGE_DIR, exist_ok=True)
        subprocess.run(["mount", "-t", "hugetlbfs", "nodev", HUGE_DIR], check=True)
    with open("/proc/sys/vm/nr_hugepages") as f:
        have = int(f.read())
    if have < HUGE_PAGES:
        with open("/proc/sys/vm/nr_hugepages", "w") as f:
            f.write(str(HUGE_PAGES))


def bdevperf_point(args, srv, workload, qd, workdir):
    """One bdevperf run on core 1 through bdev_virtio (IOPS from Total)."""
    conf = os.path.join(workdir, "bdevperf-%d.json" % srv.pid)
    with open(conf, "w") as f:
        json.dump({"subsystems": [{"subsystem": "bdev", "config": [{
            "method": "bdev_virtio_attach_controller",
            "params": {"name": "VirtioBlk0", "trtype": "user", "traddr": srv.sock, "dev_type": "blk",
                       "vq_count": 2, "vq_size": 256}}]}]}, f)
    cmd = [os.path.join(args.spdk, "build", "examples", "bdevperf"), "-m", hex(1 << CLIENT_CPU),
           "-s", str(CLIENT_MEM_MB), "-g", "--json", conf, "-q", str(qd), "-o", str(BLOCK),
           "-w", workload, "-t", str(int(round(args.time)))]
    before = run_bench._window(srv.pid)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.time + 60)
    after = run_bench._window(srv.pid)
    res = {"cmd": " ".join(cmd)}
    res.update(run_bench._other_load(before, after))
    res["other_load_client_core_pct"] = 0.0     # as spdk_peer: the client polls its whole life
    tot = [ln for ln in p.stdout.splitlines() if ln.strip().startswith("Total")]
    try:
        f = tot[0].split(":", 1)[1].split()
        res.update(iops=float(f[0]), mib_s=float(f[1]), lat_avg_us=float(f[4]))
    except (IndexError, ValueError):
        # bdevperf sometimes finds no free virtqueue right after the previous
        # client left ("no more unused virtio queues"): measured() retries
        res["error"] = "exit %d: %s" % (p.returncode, (p.stderr + p.stdout).strip()[-500:])
    if res.get("iops") != res.get("iops"):     # nan: the job did not run
        res["error"] = "no I/O: " + (p.stderr + p.stdout).strip()[-500:]
    return res


def interleaved(args, servers, points, workdir):
    n = 0
    for rep in range(args.reps):
        for wl in WORKLOADS:
            for qd in DEPTHS:
                names = list(SERVERS)
                names = names[n % 2:] + names[:n % 2]
                n += 1
                for name in names:
                    srv = servers[name]
                    if isinstance(srv, SpdkVhost):
                        os.kill(srv.pid, signal.SIGCONT)
                        time.sleep(0.2)
                    try:
                        for client in args.clients:
                            if client == "osnap-perf":
                                targ = ["--vhost-user", srv.sock]
                                r = spdk_peer.measured(args, lambda: run_bench.run_point(
                                    args.perf, targ, srv.pid, wl, qd, args))
                            else:
                                r = spdk_peer.measured(args, lambda: bdevperf_point(args, srv, wl, qd, workdir))
                            r.update(server=name, client=client, backend="null", workload=wl, qd=qd, rep=rep)
                            points.append(r)
                            spdk_peer.show(r)
                    finally:
                        if isinstance(srv, SpdkVhost):
                            os.kill(srv.pid, signal.SIGSTOP)
                            time.sleep(0.2)


def table(points):
    """Medians over repetitions; ratios osnap / SPDK."""
    agg = {}
    for p in points:
        if "error" not in p:
            agg.setdefault((p["client"], p["workload"], p["qd"], p["server"]), []).append(p)
    med = {}
    for k, ps in agg.items():
        cpu = [x["server_cpu_s_per_mio"] for x in ps if x.get("server_cpu_s_per_mio")]
        med[k] = (statistics.median(x["iops"] for x in ps), statistics.median(cpu) if cpu else None)
    rows = ["| client | workload | QD | osnap IOPS | SPDK IOPS | osnap/SPDK | CPU s/M I/O osnap | SPDK | "
            "CPU/IO osnap/SPDK |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for k in sorted({k[:3] for k in med}):
        o, s = med.get(k + ("osnap",)), med.get(k + ("spdk",))

        def fmt(m, i, f):
            return f % m[i] if m and m[i] else ""

        def ratio(i):
            return "%.2f" % (o[i] / s[i]) if o and s and o[i] and s[i] else ""
        rows.append("| %s | %s | %d | %s | %s | %s | %s | %s | %s |" % (
            k[0], k[1], k[2], fmt(o, 0, "%.0f"), fmt(s, 0, "%.0f"), ratio(0),
            fmt(o, 1, "%.3f"), fmt(s, 1, "%.3f"), ratio(1)))
    return "\n".join(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--time", type=float, default=3.0, help="measured seconds per point (3)")
    ap.add_argument("--ramp", type=float, default=1.0, help="osnap-perf ramp seconds (1)")
    ap.add_argument("--reps", type=int, default=3, help="rounds over all points (3); median kept")
    ap.add_argument("--clients", default="osnap-perf,bdevperf")
    ap.add_argument("--max-other-load", type=float, default=10)
    ap.add_argument("--retries", type=int, default=2)
    ap.add_argument("--build", default=os.path.join(TOP, "build"))
    ap.add_argument("--spdk", default=os.environ.get("SPDK_DIR", "/tmp/peers/spdk"))
    ap.add_argument("--results", default=os.path.join(HERE, "results"))
    args = ap.parse_args()
    args.clients = args.clients.split(",")
    args.build = os.path.abspath(args.build)
    args.perf = os.path.join(args.build, "tools", "osnap-perf", "osnap-perf")
    for exe in (args.perf, os.path.join(args.build, "osnapd"), os.path.join(args.spdk, "build", "bin", "vhost"),
                os.path.join(args.spdk, "build", "examples", "bdevperf")):
        if not os.access(exe, os.X_OK):
            sys.exit("%s is missing" % exe)
    libs = [os.path.join(args.spdk, "build", "lib"),
            os.path.join(args.spdk, "build", "libvfio-user", "usr", "local", "lib")]
    os.environ["LD_LIBRARY_PATH"] = ":".join(libs + [x for x in [os.environ.get("LD_LIBRARY_PATH")] if x])
    ensure_hugepages()
    spdk_rev = subprocess.run(["git", "-C", args.spdk, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True).stdout.strip()
    started = datetime.datetime.now()
    result = {"started": started.isoformat(timespec="seconds"), "seconds_per_point": args.time,
              "ramp_seconds": args.ramp, "reps": args.reps, "server_cpu": SERVER_CPU,
              "client_cpu": CLIENT_CPU, "block_size": BLOCK, "null_mib": NULL_MB,
              "max_other_load_pct": args.max_other_load, "spdk_git": spdk_rev,
              "machine": bench_report.machine(TOP, args.build), "servers": {}}
    work = tempfile.mkdtemp(prefix="osnap-vhost-peer-")
    points, servers = [], {}
    try:
        servers["osnap"] = OsnapVhost(args.build, tempfile.mkdtemp(prefix="osnap-", dir=work))
        servers["spdk"] = SpdkVhost(args.spdk, tempfile.mkdtemp(prefix="spdk-", dir=work))
        os.kill(servers["spdk"].pid, signal.SIGSTOP)
        for name, srv in servers.items():
            result["servers"][name] = " ".join(srv.cmd)
        interleaved(args, servers, points, work)
    finally:
        for srv in servers.values():
            if isinstance(srv, SpdkVhost):
                os.kill(srv.pid, signal.SIGCONT)
            srv.stop()
        shutil.rmtree(work, ignore_errors=True)
    with open("/proc/loadavg") as f:
        result["machine"]["loadavg_at_end"] = f.read().split()[:3]
    result["points"] = points
    result["table_md"] = table(points)
    os.makedirs(args.results, exist_ok=True)
    out = os.path.join(args.results, "vhost-peer-" + started.strftime("%Y%m%d-%H%M%S") + ".json")
    with open(out, "w") as f:
        json.dump(result, f, indent=1)
    print("\n" + result["table_md"])
    print("\nresults: %s" % os.path.relpath(out, TOP))


if __name__ == "__main__":
    main()
