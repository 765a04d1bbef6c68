"""Control-plane cost: creating 64 NVMe namespaces and 64 controllers (one
per function: the PF and its 63 VFs), each with its null bdev and its
attach, (1) as an operator does, one osnap-rpc process per call, and (2)
the same requests over one JSON-RPC connection (what the service itself
spends)."""
import json
import os
import socket
import subprocess
import tempfile
import time

from bench_servers import NQN, Osnapd, rss_kib

COUNT = 64
CONFIG = ["SRIOV_EN=1", "NVME_EMULATION_NUM_VF=%d" % (COUNT - 1), "VIRTIO_BLK_EMULATION_ENABLE=0"]


def steps():
    """The osnap-rpc command lines, grouped by step."""
    def ctrl(i):
        fn = ["--pf_id", 0] if i == 1 else ["--pf_id", 0, "--vf_id", i - 2]
        return ["nvme_controller_create", "--nqn", NQN, "--num_queues", 1] + fn
    return [
        ("bdevs", [["bdev_null_create", "Null%d" % i, 16, 512] for i in range(1, COUNT + 1)]),
        ("subsystem", [["nvme_subsystem_create", "--nqn", NQN]]),
        ("namespaces", [["nvme_namespace_create", "--nqn", NQN, "-n", i, "-b", "Null%d" % i]
                        for i in range(1, COUNT + 1)]),
        ("controllers", [ctrl(i) for i in range(1, COUNT + 1)]),
        ("attach", [["nvme_controller_attach_ns", "-c", "NVMeCtrl%d" % i, "-n", i]
                    for i in range(1, COUNT + 1)]),
    ]


def via_cli(d):
    out = {}
    for name, calls in steps():
        t0 = time.perf_counter()
        for c in calls:
            d.rpc(*c)
        out[name] = time.perf_counter() - t0
    return out


def _recv_one(sock, buf):
    dec = json.JSONDecoder()
    while True:
        text = buf.decode().lstrip()
        if text:
            try:
                obj, end = dec.raw_decode(text)
                return obj, text[end:].encode()
            except ValueError:
                pass
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("osnapd closed the RPC connection")
        buf += chunk


def via_socket(d):
    """Requests built by osnap-rpc --dry-run (not timed), sent one at a time."""
    rpc = os.path.join(d.build, "osnap-rpc")
    plan = []
    for name, calls in steps():
        reqs = []
        for c in calls:
            p = subprocess.run([rpc, "-s", d.rpc_sock, "--dry-run"] + [str(a) for a in c],
                               capture_output=True, text=True, check=True)
            reqs.append(json.dumps(json.loads(p.stdout)).encode())
        plan.append((name, reqs))
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(d.rpc_sock)
    buf = b""
    out = {}
    try:
        for name, reqs in plan:
            t0 = time.perf_counter()
            for r in reqs:
                s.sendall(r)
                resp, buf = _recv_one(s, buf)
                if "error" in resp:
                    raise RuntimeError("%s: %s" % (r.decode(), resp["error"]))
            out[name] = time.perf_counter() - t0
    finally:
        s.close()
    return out


def measure(build, cpu):
    """Both ways, each on a fresh osnapd pinned to cpu. Seconds per step."""
    res = {"count": COUNT, "config": CONFIG}
    for how, fn in (("osnap_rpc_cli", via_cli), ("one_connection", via_socket)):
        d = Osnapd(build, tempfile.mkdtemp(prefix="osnap-bench-ctl-"), cpu, CONFIG)
        try:
            r = fn(d)
            r["total"] = sum(r.values())
            r["rss_kib_after"] = rss_kib(d.pid)
            res[how] = r
        finally:
            d.stop()
    return res
