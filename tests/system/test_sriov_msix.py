#!/usr/bin/env python3
"""SR-IOV and dynamic MSI-X (issue 15; seed 000 "SR-IOV", "Dynamic MSI-X"):

- emulation_function_set_num_vfs (osnap's RPC for headless SR-IOV): the VFs'
  endpoints come and go, and its errors;
- the seed's dynamic MSI-X steps for NVMe and virtio-blk: a PF controller
  with --dynamic_msix, *_vfs_msix_reclaim, num_free_msix, VF controllers
  with --vf_num_msix, destroy with --release_msix, modify --num_msix, each
  error (reclaim with VFs enabled, out-of-pool, a VF without vectors, a
  client connected, ...), the VF's MSI-X Table Size as a vfio-user client
  reads it from config space (vfu_conformance --msix), and
  emulation_resource_list following every change;
- the allocation surviving an osnapd restart, and a fresh EMU_DIR starting
  afresh;
- a VF enabled by a vfio-user client writing NumVFs and VF Enable into the
  PF's config space (what a host's `echo N > sriov_numvfs` does; QEMU's
  vfio-user-pci hides the SR-IOV capability from its guest), its endpoint
  serving NVMe I/O, and its controller's destroy needing --force;
- a property test: 10 000 random create / destroy / reclaim / modify /
  NumVFs operations through the RPCs against a model, each answer the
  model's and, after each, emulation_resource_list, num_free_msix and the
  VF tables what the model says (the pool never negative, nothing leaked);
  tests/unit/test_msix_pool.c does the same below the RPCs, with config
  space."""
import os
import random
import re
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import osnaptest  # noqa: E402
from osnaptest import Daemon, check, eq, main, test, wait_for  # noqa: E402

CONFORMANCE = os.path.join(osnaptest.BUILD, "tests", "system", "vfu_conformance")
NVME_E2E = os.path.join(osnaptest.BUILD, "tests", "system", "nvme_e2e")
SERIAL = "MT2328XZ17DF"
NQN = "nqn.2022-10.io.nvda.nvme:0"
NVME_VFS, VBLK_VFS, VF_MSIX, PF_MSIX, MSIX_POOL = 4, 3, 4, 32, 16384
NVME_BUDGET, VBLK_BUDGET = NVME_VFS * VF_MSIX, VBLK_VFS * VF_MSIX
AVAIL0 = MSIX_POOL - 2 * PF_MSIX - NVME_BUDGET - VBLK_BUDGET
INVALID, EPERM, ENODEV, EBUSY, ENOSPC = -32602, -1, -19, -16, -28
LINES = ["SRIOV_EN=1", "NVME_EMULATION_NUM_VF=%d" % NVME_VFS, "VIRTIO_BLK_EMULATION_NUM_VF=%d" % VBLK_VFS,
         "EMU_VIRTIO_BLK_TRANSPORT=vfio-user", "EMU_SERIAL=%s" % SERIAL]


# ---- helpers ------------------------------------------------------------------

def daemon(emu_dir=None, lines=LINES):
    d0 = osnaptest.tmpdir()
    emu_dir = emu_dir or os.path.join(d0, "emu")
    conf = os.path.join(d0, "emu.conf")
    with open(conf, "w") as f:
        f.write("\n".join(["EMU_DIR=%s" % emu_dir] + lines) + "\n")
    d = Daemon(["-c", conf])
    d.emu_dir = emu_dir
    return d


def pf_vuid(t):
    return "%s%sS1D0F0" % (SERIAL, t)


def vf_vuid(t, k):
    return "%sVF%d" % (pf_vuid(t), k + 1)


def sock(d, vuid):
    return os.path.join(d.emu_dir, vuid + ".sock")


def vf_sockets(d, t):
    try:
        return sorted(n for n in os.listdir(d.emu_dir) if n.startswith(pf_vuid(t) + "VF") and n.endswith(".sock"))
    except FileNotFoundError:
        return []


def err(d, method, params, code, *words):
    """method(params) must fail with code and a message naming words."""
    e = d.rpc_error(method, params)
    eq(e.code, code, "%s %r: code (message %r)" % (method, params, e.message))
    for w in words:
        check(w in e.message, "%s %r: message %r does not name %r" % (method, params, e.message, w))
    return e


def available(d):
    return d.rpc("emulation_resource_list")[0]["num_available_msix_resources"]


def ctrl(d, fam, name):
    return d.rpc("%s_controller_list" % fam, {"ctrl_id": name})[0]


def quoted(out):
    return "\n".join("    | " + ln for ln in out.splitlines())


def run(cmd, what, tap=True, timeout=150):
    """Run a tool; with tap, every case of its TAP plan must pass."""
    p = subprocess.run([str(a) for a in cmd], capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    out = p.stdout + p.stderr
    plan = re.search(r"^1\.\.(\d+)$", out, re.M)
    bad = re.findall(r"^not ok \d+ - (\S+)", out, re.M)
    oks = len(re.findall(r"^ok \d+ ", out, re.M))
    if p.returncode != 0 or (tap and (not plan or bad or oks != int(plan.group(1)))):
        raise AssertionError("%s: exit %d, failed: %s\n%s" % (what, p.returncode, ", ".join(bad) or "-", quoted(out)))
    return out


def table_size_is(d, t, k, n):
    """A vfio-user client reads VF k's MSI-X Table Size n from its config
    space, and as many MSI-X interrupts in its IRQ info."""
    c = VfuClient(sock(d, vf_vuid(t, k)))
    try:
        eq((c.msix_table_size(), c.msix_irq_count()), (n, n), "Table Size and IRQ count of %s" % vf_vuid(t, k))
    finally:
        c.close()


def retry_busy(d, method, params, timeout=60.0):
    """method(params) once a client that just left is gone: osnapd sees the
    hang-up (and resets the function) on its own schedule, a change refused
    meanwhile (-16, nothing changed) is retried."""
    end = time.time() + timeout
    while True:
        try:
            return d.rpc(method, params)
        except osnaptest.RpcError as e:
            if e.code != EBUSY or time.time() > end:
                raise
        time.sleep(0.02)


class VfuClient:
    """A vfio-user client: negotiates, reads config space and IRQ info, or
    only holds the connection ('a client is connected')."""

    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(60)
        self.s.connect(path)
        body = struct.pack("<HH", 0, 1) + b"{}\0"
        self.s.sendall(struct.pack("<HHIII", 1, 1, 16 + len(body), 0, 0) + body)
        hdr = self._recv(16)
        msg_id, cmd, size, flags, error = struct.unpack("<HHIII", hdr)
        self._recv(size - 16)
        eq((msg_id, cmd, flags & 0x2f, error), (1, 1, 1, 0), "VERSION reply")
        self.msg_id = 1

    def _call(self, cmd, payload):
        self.msg_id += 1
        self.s.sendall(struct.pack("<HHIII", self.msg_id, cmd, 16 + len(payload), 0, 0) + payload)
        msg_id, rcmd, size, flags, error = struct.unpack("<HHIII", self._recv(16))
        body = self._recv(size - 16)
        eq((msg_id, rcmd, flags & 0x2f, error), (self.msg_id, cmd, 1, 0), "reply to command %d" % cmd)
        return body

    def cfg(self, off, n):
        """n bytes of config space (region 7) at off, little-endian."""
        body = self._call(9, struct.pack("<QII", off, 7, n))
        return int.from_bytes(body[16:16 + n], "little")

    def msix_table_size(self):
        """The MSI-X capability's Table Size, 0 without the capability."""
        if not self.cfg(0x06, 2) & 0x10:
            return 0
        at, seen = self.cfg(0x34, 1) & 0xfc, 0
        while at and seen < 48:
            if self.cfg(at, 1) == 0x11:
                return (self.cfg(at + 2, 2) & 0x7ff) + 1
            at, seen = self.cfg(at + 1, 1) & 0xfc, seen + 1
        return 0

    def msix_irq_count(self):
        """DEVICE_GET_IRQ_INFO of VFIO_PCI_MSIX_IRQ_INDEX (2): its count."""
        body = self._call(7, struct.pack("<IIII", 16, 0, 2, 0))
        return struct.unpack("<IIII", body[:16])[3]

    def _recv(self, n):
        b = b""
        while len(b) < n:
            c = self.s.recv(n - len(b))
            if not c:
                raise AssertionError("the endpoint closed the connection")
            b += c
        return b

    def close(self):
        self.s.close()


# ---- SR-IOV from the service side ------------------------------------------------------

@test
def set_num_vfs_enables_and_disables_vf_endpoints():
    with daemon() as d:
        m = "emulation_function_set_num_vfs"
        eq(vf_sockets(d, "NVME"), [], "no VF endpoint at start")
        eq(d.cli_json(m, "--vuid", pf_vuid("NVME"), "--num_vfs", "2"), True, "2 VFs")
        want = [vf_vuid("NVME", k) + ".sock" for k in range(2)]
        wait_for(lambda: vf_sockets(d, "NVME") == want, "the endpoints of VF 1 and 2 (have %r)" % vf_sockets(d, "NVME"))
        pf = [f for f in d.rpc("emulation_function_list") if f["vuid"] == pf_vuid("NVME")][0]
        eq((pf["num_vfs"], [v["vuid"] for v in pf["vfs"]]), (2, [vf_vuid("NVME", 0), vf_vuid("NVME", 1)]),
           "active VFs listed")
        eq(vf_sockets(d, "VBLK"), [], "the other PF's VFs stay off")
        # an enabled VF's endpoint takes a client; an inactive one has none
        VfuClient(sock(d, vf_vuid("NVME", 1))).close()
        check(not os.path.exists(sock(d, vf_vuid("NVME", 2))), "VF 3 has an endpoint")
        # as sriov_numvfs: N or 0 while N are enabled
        err(d, m, {"vuid": pf_vuid("NVME"), "num_vfs": 3}, EBUSY, "num_vfs 0")
        eq(d.rpc(m, {"vuid": pf_vuid("NVME"), "num_vfs": 2}), True, "the same count again")
        err(d, m, {"vuid": pf_vuid("NVME"), "num_vfs": NVME_VFS + 1}, INVALID, "num_vfs", str(NVME_VFS))
        err(d, m, {"vuid": vf_vuid("NVME", 0), "num_vfs": 1}, INVALID, "vuid", "VF")
        err(d, m, {"vuid": "NOSUCHVUID", "num_vfs": 1}, ENODEV, "vuid")
        err(d, m, {"num_vfs": 1}, INVALID, "vuid")
        err(d, m, {"vuid": pf_vuid("NVME"), "vhca_id": 1, "num_vfs": 1}, INVALID, "exactly one")
        err(d, m, {"vuid": pf_vuid("NVME")}, INVALID, "num_vfs")
        eq(len(vf_sockets(d, "NVME")), 2, "VFs after the refusals")
        # by pci_bdf and vhca_id too
        vb = [f for f in d.rpc("emulation_function_list") if f["vuid"] == pf_vuid("VBLK")][0]
        eq(d.rpc(m, {"pci_bdf": vb["pci_bdf"], "num_vfs": VBLK_VFS}), True, "by pci_bdf")
        wait_for(lambda: len(vf_sockets(d, "VBLK")) == VBLK_VFS, "the virtio-blk VF endpoints")
        eq(d.rpc(m, {"vhca_id": vb["vhca_id"], "num_vfs": 0}), True, "by vhca_id")
        eq(d.rpc(m, {"vuid": pf_vuid("NVME"), "num_vfs": 0}), True, "0")
        wait_for(lambda: vf_sockets(d, "NVME") == [] and vf_sockets(d, "VBLK") == [], "the VF endpoints to go")
        eq(d.stop(), 0, "exit code")
    with Daemon() as d:     # the default configuration: no SR-IOV
        nv = [f for f in d.rpc("emulation_function_list") if f["emulation_type"] == "NVME"][0]
        err(d, "emulation_function_set_num_vfs", {"vuid": nv["vuid"], "num_vfs": 1}, INVALID, "no SR-IOV")
        eq(d.stop(), 0, "exit code")


# ---- dynamic MSI-X: the seed's steps ----------------------------------------------------

def nvme_setup(d):
    d.cli("bdev_null_create", "null0", "64", "512")
    d.cli("nvme_subsystem_create", "--nqn", NQN)


def nvme_vf_create(d, k, name, *extra):
    return d.cli_json("nvme_controller_create", "--nqn", NQN, "--ctrl", name, "--pf_id", "0", "--vf_id", k,
                      "--suspended", *extra)


@test
def dynamic_msix_nvme_seed_steps():
    with daemon() as d:
        nvme_setup(d)
        eq(available(d), AVAIL0, "available at start")
        # 1. the PF controller with dynamic MSI-X
        d.cli("nvme_controller_create", "--nqn", NQN, "--ctrl", "NVMeCtrl1", "--pf_id", "0", "--admin_only",
              "--dynamic_msix")
        c1 = ctrl(d, "nvme", "NVMeCtrl1")
        eq((c1["dynamic_msix"], c1["num_free_msix"]), (True, 0), "PF controller: dynamic, every vector with its VFs")
        # without reclaim a VF keeps its 4; another count comes from the empty pool
        err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vf_id": 0, "vf_num_msix": 5}, ENOSPC,
            "vf_num_msix", "free pool")
        # 2. reclaim (seed: "nvme_controller_vfs_msix_reclaim <CtrlName>")
        eq(d.cli_json("nvme_controller_vfs_msix_reclaim", "NVMeCtrl1"), True, "reclaim")
        # 3. num_free_msix
        eq(ctrl(d, "nvme", "NVMeCtrl1")["num_free_msix"], NVME_BUDGET, "num_free_msix after reclaim")
        eq(available(d), AVAIL0 + NVME_BUDGET, "emulation_resource_list after reclaim")
        # 4. the host sets SR-IOV
        eq(d.rpc("emulation_function_set_num_vfs", {"vuid": pf_vuid("NVME"), "num_vfs": 3}), True, "3 VFs")
        wait_for(lambda: len(vf_sockets(d, "NVME")) == 3, "3 VF endpoints")
        err(d, "nvme_controller_vfs_msix_reclaim", {"ctrl_id": "NVMeCtrl1"}, EBUSY, "NumVFs 3")
        # 5. VF controllers take their vectors
        err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vf_id": 0}, INVALID, "vf_num_msix",
            "no MSI-X vectors")
        for bad, code, words in [(1, INVALID, ["vf_num_msix", "2..2048"]), (2049, INVALID, ["vf_num_msix"]),
                                 (NVME_BUDGET + 1, ENOSPC, ["vf_num_msix", "free pool"])]:
            err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vf_id": 0, "vf_num_msix": bad}, code, *words)
        err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vf_num_msix": 4}, INVALID, "vf_num_msix",
            "only to VFs")
        err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vf_id": 0, "dynamic_msix": True}, INVALID,
            "dynamic_msix")
        eq(available(d), AVAIL0 + NVME_BUDGET, "nothing taken by the refusals")
        # the VF's vectors go back when the create fails afterwards (num_queues above them)
        err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vf_id": 0, "vf_num_msix": 3, "num_queues": 5},
            INVALID, "num_queues")
        eq(ctrl(d, "nvme", "NVMeCtrl1")["num_free_msix"], NVME_BUDGET, "given back after the failed create")
        nvme_vf_create(d, 0, "NVMeCtrl2", "--vf_num_msix", "6")
        nvme_vf_create(d, 1, "NVMeCtrl3", "--vf_num_msix", "10", "--num_queues", "9")
        eq([ctrl(d, "nvme", n)["num_msix"] for n in ("NVMeCtrl2", "NVMeCtrl3")], [6, 10], "VF tables")
        eq(ctrl(d, "nvme", "NVMeCtrl1")["num_free_msix"], 0, "pool empty")
        eq(available(d), AVAIL0, "emulation_resource_list")
        err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vf_id": 2, "vf_num_msix": 2}, ENOSPC,
            "free pool of PF")
        table_size_is(d, "NVME", 0, 6)
        table_size_is(d, "NVME", 1, 10)
        saved = {c["params"]["ctrl_id"]: c["params"] for s in d.rpc("save_config")["subsystems"]
                 if s["subsystem"] == "nvme" for c in s["config"] if c["method"] == "nvme_controller_create"}
        eq((saved["NVMeCtrl1"].get("dynamic_msix"), saved["NVMeCtrl2"]["vf_num_msix"],
            saved["NVMeCtrl3"]["vf_num_msix"]), (True, 6, 10), "save_config: what gives the MSI-X back")
        # 6. teardown: an enabled VF's controller needs --force; release_msix gives back
        err(d, "nvme_controller_destroy", {"ctrl_id": "NVMeCtrl2", "release_msix": True}, EBUSY, "force")
        # (the clients of table_size_is may still be leaving: retry_busy)
        err(d, "nvme_controller_destroy", {"ctrl_id": "NVMeCtrl1", "release_msix": True}, INVALID, "release_msix")
        eq(len(d.rpc("nvme_controller_list")), 3, "nothing destroyed by the refusals")
        eq(retry_busy(d, "nvme_controller_destroy", {"ctrl_id": "NVMeCtrl2", "release_msix": True, "force": True}),
           True, "destroy, release")
        eq((ctrl(d, "nvme", "NVMeCtrl1")["num_free_msix"], available(d)), (6, AVAIL0 + 6), "6 back in the pool")
        # modify --num_msix: VF controllers only, idle, within the pool and above the queues
        m = "nvme_controller_modify"
        # (a change, once table_size_is's client of VF 2 is gone, and back)
        eq(retry_busy(d, m, {"ctrl_id": "NVMeCtrl3", "num_msix": 11}), True, "modify to 11")
        eq(d.rpc(m, {"ctrl_id": "NVMeCtrl3", "num_msix": 10}), True, "modify back to 10")
        err(d, m, {"ctrl_id": "NVMeCtrl1", "num_msix": 4}, INVALID, "num_msix", "VF controllers")
        err(d, m, {"ctrl_id": "NVMeCtrl3", "num_msix": 1}, INVALID, "num_msix")
        err(d, m, {"ctrl_id": "NVMeCtrl3", "num_msix": 9}, INVALID, "num_msix", "9 queues")
        err(d, m, {"ctrl_id": "NVMeCtrl3", "num_msix": 17}, ENOSPC, "num_msix")
        c = VfuClient(sock(d, vf_vuid("NVME", 1)))
        err(d, m, {"ctrl_id": "NVMeCtrl3", "num_msix": 12, "num_queues": 4}, EBUSY, "client is connected")
        eq(ctrl(d, "nvme", "NVMeCtrl3")["num_queues"], 9, "num_queues unchanged by the refusal")
        c.close()

        eq(retry_busy(d, m, {"ctrl_id": "NVMeCtrl3", "num_msix": 12, "num_queues": 4}), True, "modify")
        c3 = ctrl(d, "nvme", "NVMeCtrl3")
        eq((c3["num_msix"], c3["num_queues"]), (12, 4), "after modify")
        eq((ctrl(d, "nvme", "NVMeCtrl1")["num_free_msix"], available(d)), (4, AVAIL0 + 4), "pool after modify")
        table_size_is(d, "NVME", 1, 12)
        # the PF's controller goes: nothing moves without it, the allocation stays
        d.cli("nvme_controller_destroy", "-c", "NVMeCtrl1")
        err(d, m, {"ctrl_id": "NVMeCtrl3", "num_msix": 8}, EPERM, "num_msix", "dynamic_msix")
        err(d, "nvme_controller_destroy", {"ctrl_id": "NVMeCtrl3", "release_msix": True, "force": True}, EPERM,
            "release_msix")
        d.cli("nvme_controller_create", "--nqn", NQN, "--ctrl", "NVMeCtrl1", "--pf_id", "0", "--admin_only")
        eq(ctrl(d, "nvme", "NVMeCtrl1")["dynamic_msix"], False, "a PF controller without dynamic_msix")
        err(d, "nvme_controller_vfs_msix_reclaim", {"ctrl_id": "NVMeCtrl1"}, EPERM, "dynamic_msix")
        err(d, "nvme_controller_vfs_msix_reclaim", {"ctrl_id": "NVMeCtrl3"}, INVALID, "ctrl_id", "VF controller")
        eq(ctrl(d, "nvme", "NVMeCtrl3")["num_msix"], 12, "VF table unchanged")
        eq(d.stop(), 0, "exit code")


@test
def dynamic_msix_virtio_blk():
    with daemon() as d:
        d.cli("bdev_malloc_create", "16", "512", "-b", "M0")
        c = "virtio_blk_controller_create"
        err(d, c, {"pf_id": 0, "vf_id": 0, "bdev": "M0", "dynamic_msix": True}, INVALID, "dynamic_msix")
        eq(d.cli_json(c, "--pf_id", "0", "--bdev", "M0", "--dynamic_msix"), "VblkCtrl1", "PF with dynamic MSI-X")
        eq(d.cli_json("virtio_blk_controller_vfs_msix_reclaim", "-c", "VblkCtrl1"), True, "reclaim")
        pf = ctrl(d, "virtio_blk", "VblkCtrl1")
        eq((pf["num_free_msix"], pf["free_msix"], pf["dynamic_msix"]), (VBLK_BUDGET, VBLK_BUDGET, True), "PF entry")
        err(d, c, {"pf_id": 0, "vf_id": 1, "bdev": "M0"}, INVALID, "vf_num_msix", "no MSI-X vectors")
        # vfio-user: a queue and the configuration vector need 2; the vectors taken go back
        err(d, c, {"pf_id": 0, "vf_id": 1, "bdev": "M0", "vf_num_msix": 2, "num_queues": 2}, INVALID, "num_queues")
        eq(available(d), AVAIL0 + VBLK_BUDGET, "given back after the failed create")
        eq(d.cli_json(c, "--pf_id", "0", "--vf_id", "1", "--bdev", "M0", "--vf_num_msix", "3"), "VblkCtrl2", "VF")
        v = ctrl(d, "virtio_blk", "VblkCtrl2")
        eq((v["num_msix"], v["max configurable num_msix"], v["num_free_msix"]), (3, VBLK_BUDGET, 0), "VF entry")
        eq(available(d), AVAIL0 + VBLK_BUDGET - 3, "emulation_resource_list")
        eq(d.rpc("emulation_function_set_num_vfs", {"vuid": pf_vuid("VBLK"), "num_vfs": 2}), True, "2 VFs")
        wait_for(lambda: len(vf_sockets(d, "VBLK")) == 2, "2 VF endpoints")
        table_size_is(d, "VBLK", 1, 3)
        err(d, "virtio_blk_controller_vfs_msix_reclaim", {"ctrl_id": "VblkCtrl1"}, EBUSY, "NumVFs 2")
        eq(retry_busy(d, "virtio_blk_controller_modify", {"ctrl_id": "VblkCtrl2", "num_msix": 5}), True, "modify")
        table_size_is(d, "VBLK", 1, 5)
        eq(d.rpc("emulation_function_set_num_vfs", {"vuid": pf_vuid("VBLK"), "num_vfs": 0}), True, "VFs off")
        err(d, "virtio_blk_controller_vfs_msix_reclaim", {"ctrl_id": "VblkCtrl1"}, EBUSY, "VblkCtrl2")
        # disabled: no force needed
        eq(d.rpc("virtio_blk_controller_destroy", {"ctrl_id": "VblkCtrl2", "release_msix": True}), True, "release")
        eq((ctrl(d, "virtio_blk", "VblkCtrl1")["num_free_msix"], available(d)), (VBLK_BUDGET, AVAIL0 + VBLK_BUDGET),
           "every vector back")
        eq(d.stop(), 0, "exit code")


# ---- restarts ----------------------------------------------------------------------------

@test
def allocation_survives_restart_until_a_fresh_emu_dir():
    emu_dir = os.path.join(osnaptest.tmpdir(), "emu")
    with daemon(emu_dir) as d:
        nvme_setup(d)
        d.cli("nvme_controller_create", "--nqn", NQN, "--ctrl", "NVMeCtrl1", "--pf_id", "0", "--admin_only",
              "--dynamic_msix")
        d.cli("nvme_controller_vfs_msix_reclaim", "NVMeCtrl1")
        nvme_vf_create(d, 1, "NVMeCtrl2", "--vf_num_msix", "7")
        nvme_vf_create(d, 3, "NVMeCtrl3", "--vf_num_msix", "2")
        before = available(d)
        eq(before, AVAIL0 + NVME_BUDGET - 9, "available before the restart")
        check(os.path.exists(os.path.join(emu_dir, "msix.state")), "no msix.state in EMU_DIR")
        eq(d.stop(), 0, "exit code")
    with daemon(emu_dir) as d:
        eq(available(d), before, "emulation_resource_list after the restart")
        nvme_setup(d)
        # no dynamic PF controller: the allocation is what it was
        err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vf_id": 0}, INVALID, "vf_num_msix",
            "no MSI-X vectors")
        nvme_vf_create(d, 1, "NVMeCtrl2")
        nvme_vf_create(d, 3, "NVMeCtrl3", "--vf_num_msix", "2")
        eq([ctrl(d, "nvme", n)["num_msix"] for n in ("NVMeCtrl2", "NVMeCtrl3")], [7, 2], "VF tables kept")
        err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": 0, "vf_id": 2, "vf_num_msix": 3}, EPERM,
            "dynamic_msix")
        d.cli("nvme_controller_create", "--nqn", NQN, "--ctrl", "NVMeCtrl1", "--pf_id", "0", "--admin_only")
        eq(ctrl(d, "nvme", "NVMeCtrl1")["num_free_msix"], NVME_BUDGET - 9, "the PF's free pool kept")
        eq(d.rpc("emulation_function_set_num_vfs", {"vuid": pf_vuid("NVME"), "num_vfs": 2}), True, "2 VFs")
        wait_for(lambda: len(vf_sockets(d, "NVME")) == 2, "2 VF endpoints")
        table_size_is(d, "NVME", 1, 7)
        eq(d.stop(), 0, "exit code")
    # a broken state file: ignored, every VF gets its configured MSI-X
    with open(os.path.join(emu_dir, "msix.state"), "w") as f:
        f.write("osnap-msix 1\npf %s 2 4 4\n" % pf_vuid("NVME"))   # another VF count
    with daemon(emu_dir) as d:
        eq(available(d), AVAIL0, "a state for another configuration is ignored")
        check("does not fit" in d.logtext(), "no warning about the state:\n" + d.logtext()[-2000:])
        eq(d.stop(), 0, "exit code")
    with open(os.path.join(emu_dir, "msix.state"), "w") as f:
        f.write("not a state\n")
    with daemon(emu_dir) as d:
        eq(available(d), AVAIL0, "a state that does not parse is ignored")
        check("line 1" in d.logtext() and "ignored" in d.logtext(),
              "no warning about the state:\n" + d.logtext()[-2000:])
        eq(d.stop(), 0, "exit code")
    with daemon() as d:     # cold boot: a fresh EMU_DIR
        eq(available(d), AVAIL0, "a fresh EMU_DIR")
        eq(d.stop(), 0, "exit code")


# ---- a vfio-user client enables the VFs through the PF's config space ----------------

@test
def vf_enabled_through_config_space_serves_io():
    with daemon() as d:
        d.cli("bdev_malloc_create", "64", "512", "-b", "M0")
        d.cli("nvme_subsystem_create", "--nqn", NQN)
        d.cli("nvme_namespace_create", "-b", "M0", "-n", "1", "--nqn", NQN)
        # the host's `echo 2 > sriov_numvfs`: NumVFs, then VF Enable, written by a client
        run([CONFORMANCE, sock(d, pf_vuid("NVME")), "--set-numvfs", 2], "--set-numvfs 2", tap=False)
        wait_for(lambda: len(vf_sockets(d, "NVME")) == 2, "2 VF endpoints (have %r)" % vf_sockets(d, "NVME"))
        nvme_vf_create(d, 1, "NVMeCtrl2", "--num_queues", "2")
        d.cli("nvme_controller_attach_ns", "-c", "NVMeCtrl2", "-n", "1")
        d.cli("nvme_controller_resume", "-c", "NVMeCtrl2")
        run([NVME_E2E, sock(d, vf_vuid("NVME", 1)), "--mode", "trap", "--nsze", 131072, "--case", "io_basic"],
            "nvme_e2e io_basic on VF 2")
        err(d, "nvme_controller_destroy", {"ctrl_id": "NVMeCtrl2"}, EBUSY, "force")
        run([CONFORMANCE, sock(d, pf_vuid("NVME")), "--set-numvfs", 0], "--set-numvfs 0", tap=False)
        wait_for(lambda: vf_sockets(d, "NVME") == [], "the VF endpoints to go")
        eq(d.rpc("nvme_controller_destroy", {"ctrl_id": "NVMeCtrl2"}), True, "destroy once the VFs are off")
        eq(d.stop(), 0, "exit code")


# ---- random sequences through the RPCs -------------------------------------------------

@test
def random_rpc_sequences_match_the_model():
    ops = int(os.environ.get("OSNAP_SRIOV_OPS", "10000"))
    seed = int(os.environ.get("OSNAP_TEST_SEED", "15"))
    rnd = random.Random(seed)
    print("# seed %d, %d operations (OSNAP_TEST_SEED, OSNAP_SRIOV_OPS)" % (seed, ops), flush=True)
    with daemon() as d:
        nvme_setup(d)
        d.cli("nvme_controller_create", "--nqn", NQN, "--ctrl", "PF", "--pf_id", "0", "--admin_only",
              "--dynamic_msix")
        vf = [VF_MSIX] * NVME_VFS       # the model: each VF's table
        bound = [False] * NVME_VFS
        numvfs = 0
        outcomes = {}
        for op in range(ops):
            k = rnd.randrange(NVME_VFS)
            name = "V%d" % k
            kind = rnd.randrange(100)
            left = NVME_BUDGET - sum(vf)
            if kind < 10:
                n = rnd.choice([0, rnd.randrange(1, NVME_VFS + 1)])
                want = None if not numvfs or not n or n == numvfs else EBUSY
                method, params = "emulation_function_set_num_vfs", {"vuid": pf_vuid("NVME"), "num_vfs": n}
            elif kind < 20:
                want = EBUSY if numvfs or any(bound) else None
                method, params = "nvme_controller_vfs_msix_reclaim", {"ctrl_id": "PF"}
            elif bound[k] and kind < 60:
                release, force = rnd.random() < 0.6, rnd.random() < 0.7
                want = EBUSY if k < numvfs and not force else None
                method, params = "nvme_controller_destroy", {"ctrl_id": name, "release_msix": release, "force": force}
            elif bound[k]:
                n = rnd.randrange(2, 3 + left + vf[k])
                want = None if n - vf[k] <= left else ENOSPC
                method, params = "nvme_controller_modify", {"ctrl_id": name, "num_msix": n}
            else:
                n = rnd.choice([None, rnd.randrange(2, 3 + left + vf[k])])
                want = (INVALID if n is None and not vf[k] else
                        ENOSPC if n is not None and n - vf[k] > left else None)
                params = {"nqn": NQN, "ctrl_id": name, "pf_id": 0, "vf_id": k, "admin_only": True}
                if n is not None:
                    params["vf_num_msix"] = n
                method = "nvme_controller_create"
            try:
                d.rpc(method, params)
                got = None
            except osnaptest.RpcError as e:
                got = e.code
            if got != want:
                raise AssertionError("op %d: %s %r: %r, the model %r" % (op, method, params, got, want))
            outcomes[(method, got)] = outcomes.get((method, got), 0) + 1
            if got is None:
                if method == "emulation_function_set_num_vfs":
                    numvfs = params["num_vfs"]
                elif method.endswith("reclaim"):
                    vf = [0] * NVME_VFS
                elif method.endswith("destroy"):
                    bound[k] = False
                    if params["release_msix"]:
                        vf[k] = 0
                elif method.endswith("modify"):
                    vf[k] = params["num_msix"]
                else:
                    bound[k] = True
                    vf[k] = params.get("vf_num_msix", vf[k])
            # the pool never goes negative nor leaks, and the RPCs say so
            eq(available(d), AVAIL0 + NVME_BUDGET - sum(vf), "op %d: emulation_resource_list" % op)
            listed = {c["ctrl_id"]: c for c in d.rpc("nvme_controller_list")}
            eq(listed["PF"]["num_free_msix"], NVME_BUDGET - sum(vf), "op %d: num_free_msix" % op)
            eq({n: c["num_msix"] for n, c in listed.items() if n != "PF"},
               {"V%d" % i: vf[i] for i in range(NVME_VFS) if bound[i]}, "op %d: VF tables" % op)
        print("# outcomes: %s" % ", ".join("%s %s: %d" % (m, c, n) for (m, c), n in sorted(outcomes.items(), key=str)),
              flush=True)
        # the sequence reached every outcome the model knows
        for key in [("nvme_controller_vfs_msix_reclaim", None), ("nvme_controller_vfs_msix_reclaim", EBUSY),
                    ("nvme_controller_create", INVALID), ("nvme_controller_create", ENOSPC),
                    ("nvme_controller_modify", ENOSPC), ("nvme_controller_destroy", EBUSY),
                    ("emulation_function_set_num_vfs", EBUSY)]:
            check(outcomes.get(key, 0) > 0 or ops < 1000, "never reached %r" % (key,))
        eq(d.stop(), 0, "exit code")


if __name__ == "__main__":
    main()
