"""Helpers of the NVMe/TCP initiator tests (tests/system/test_nvme_tcp.py,
tests/guest/test_nvmet_tcp.py): an emulated NVMe controller in front of a
remote namespace's bdev, and osnap-perf runs against it."""
import json
import os
import subprocess
import threading
import time

import osnaptest

PERF = os.path.join(osnaptest.BUILD, "tools", "osnap-perf", "osnap-perf")
EMU_NQN = "nqn.2026-01.io.osnap:remote"


def emulated_nvme(d, bdev="nvme0n1", mdts=7):
    """NVMe PF 0 of d serving bdev as namespace 1; returns osnap-perf's target
    arguments. mdts 7 (512 KiB) is the emulated controller's largest."""
    d.cli("nvme_subsystem_create", "--nqn", EMU_NQN)
    d.cli("nvme_namespace_create", "--nqn", EMU_NQN, "-n", 1, "-b", bdev)
    d.cli("nvme_controller_create", "--nqn", EMU_NQN, "--pf_id", 0, "--num_queues", 2,
          "--mdts", mdts)
    d.cli("nvme_controller_attach_ns", "-c", "NVMeCtrl1", "-n", 1)
    for f in d.rpc("emulation_function_list"):
        if f["emulation_type"] == "NVME" and f["pf_index"] == 0:
            return ["--vfio-user", os.path.join(d.emu_dir, f["vuid"] + ".sock"), "--nvme"]
    raise AssertionError("no NVMe PF 0")


def perf(tgt, *args, timeout=180):
    """osnap-perf --json against tgt; its report, or AssertionError unless exit 0."""
    cmd = [PERF] + tgt + [str(a) for a in args] + ["--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        raise AssertionError("osnap-perf %s: exit %d\n%s\n%s" % (" ".join(cmd), p.returncode,
                                                                  p.stdout, p.stderr))
    return json.loads(p.stdout)


def perf_background(tgt, *args, timeout=600):
    """perf() on a thread: returns (thread, out); out gets "r" (the report)
    or "e" (the exception) once the thread ends."""
    out = {}

    def run():
        try:
            out["r"] = perf(tgt, *args, timeout=timeout)
        except Exception as e:  # noqa: BLE001
            out["e"] = e

    th = threading.Thread(target=run)
    th.start()
    return th, out


def sock_impls(d, name="nvme0"):
    """The socket implementation of each I/O queue of controller name."""
    return d.rpc("bdev_nvme_get_controllers", {"name": name})[0]["ctrlrs"][0]["osnap"][
        "io_queue_sock_impl"]


def wait_sock_impl(d, name, impl, timeout=30):
    """Wait until the I/O queues of controller name run on impl sockets (they
    are handed to the reactors just after the attach or reset answers)."""
    end = time.time() + timeout
    while True:
        got = sock_impls(d, name)
        if got and all(x == impl for x in got):
            return
        if time.time() > end:
            raise AssertionError("I/O queues' sockets of %s: %r, want %s" % (name, got, impl))
        time.sleep(0.05)
