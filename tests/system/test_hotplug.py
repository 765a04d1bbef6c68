#!/usr/bin/env python3
"""PCIe hot-plug (issue 15, "Hotplug"): the two-step API
(*_function_create, *_controller_hotplug / _hotunplug, *_function_destroy),
the legacy one-step API (*_emulation_device_attach,
emulation_device_detach_prepare, emulation_device_detach), the states of
emulation_function_list, the state file that keeps hot-plugged PFs across a
restart, and the QMP conversation with the VMM, against a fake QMP server
(lib/fake_qmp.py): chardev-add + device_add, device_del + DEVICE_DELETED
(on time, late, never) + chardev-remove, QMP errors, an unreachable VMM, a
VMM that does not greet, and the main thread staying responsive meanwhile.
Every error case checks that nothing changed."""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import osnaptest  # noqa: E402
from osnaptest import Daemon, check, eq, main, test  # noqa: E402
from fake_qmp import FakeQmp  # noqa: E402

EPERM, ENOENT, EIO, EBUSY, ENODEV, EINVAL, ENOSPC = -1, -2, -5, -16, -19, -22, -28
EOPNOTSUPP, ETIMEDOUT, ECONNREFUSED, EALREADY = -95, -110, -111, -114
SERIAL = "MT2114X12200"
SWITCH = ["PCI_SWITCH_EMULATION_ENABLE=1", "PCI_SWITCH_EMULATION_NUM_PORT=3"]   # 2 hot-plug ports
NQN = "nqn.2022-10.io.nvda.nvme:0"
CONFORMANCE = os.path.join(osnaptest.BUILD, "tests", "system", "vfu_conformance")


def conf(lines, d0=None):
    d0 = d0 or osnaptest.tmpdir()
    path = os.path.join(d0, "emu.conf")
    with open(path, "w") as f:
        f.write("\n".join(["EMU_DIR=%s" % os.path.join(d0, "emu"), "EMU_SERIAL=" + SERIAL] + lines) + "\n")
    return path, os.path.join(d0, "emu")


def daemon(lines, path=None):
    if path is None:
        path, emu_dir = conf(lines)
    else:
        emu_dir = os.path.join(os.path.dirname(path), "emu")
    d = Daemon(["-c", path])
    d.emu_dir, d.conf = emu_dir, path
    return d


def entry(d, vuid):
    for f in d.rpc("emulation_function_list"):
        if f["vuid"] == vuid:
            return f
    return None


def state(d, vuid):
    f = entry(d, vuid)
    return f and f["hotplug state"]


def listening(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def err(d, method, params, code, words):
    e = d.rpc_error(method, params)
    eq(e.code, code, "%s %r: code (message %r)" % (method, params, e.message))
    for w in words:
        check(w in e.message, "%s %r: %r does not say %r" % (method, params, e.message, w))
    return e


def wait_for(what, pred, timeout=60):
    end = time.time() + timeout
    while time.time() < end:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError("%s: not within %d s" % (what, timeout))


def vblk_ctrl(d, vuid, name="VblkCtrl1"):
    if not any(b["name"] == "m0" for b in d.rpc("bdev_get_bdevs")):
        d.rpc("bdev_malloc_create", {"name": "m0", "num_blocks": 8192, "block_size": 512})
    d.rpc("virtio_blk_controller_create", {"vuid": vuid, "bdev": "m0", "ctrl_id": name})


# ---- without a VMM (no QMP socket) ------------------------------------------------------

@test
def two_step_virtio_blk_states_and_endpoint():
    with daemon(SWITCH) as d:
        f = d.rpc("virtio_blk_function_create")
        vuid = f["vuid"]
        eq(vuid, SERIAL + "VBLKS1D1F0", "the next virtio-blk PF index (the static PF is 0)")
        eq((f["hotplugged"], f["hotplug state"], f["pci_bdf"], f["port"], f["num_vfs"]),
           (True, "POWER_OFF", "80:00.0", 0, 0), "the answer")
        sock = os.path.join(d.emu_dir, vuid + ".sock")
        eq(entry(d, vuid)["pci_hotplug_state"], "POWER_OFF", "listed")
        vblk_ctrl(d, vuid)
        eq(os.path.exists(sock), False, "no endpoint while POWER_OFF, even with a controller")
        r = d.rpc("virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True})
        eq(r["hotplug state"], "POWER_ON", "hotplug's answer")
        check("VMM was not told" in r.get("note", ""), "the answer says the VMM must be told: %r" % r)
        check(listening(sock), "the endpoint listens after the hotplug")
        eq(entry(d, vuid)["ctrl_id"], "VblkCtrl1", "controller listed")
        r = d.rpc("virtio_blk_controller_hotunplug", {"ctrl_id": "VblkCtrl1"})
        eq(r["hotplug state"], "POWER_OFF", "hotunplug's answer")
        check("VMM was not told" in r.get("note", ""), "the answer says the VMM must be told: %r" % r)
        eq(os.path.exists(sock), False, "the endpoint is gone after the hotunplug")
        d.rpc("virtio_blk_controller_destroy", {"ctrl_id": "VblkCtrl1"})
        eq(d.rpc("virtio_blk_function_destroy", {"vuid": vuid}), True, "destroy")
        eq(entry(d, vuid), None, "gone from the list")
        eq(d.stop(), 0, "exit code")


@test
def nvme_function_is_vfio_user_and_ids_apply():
    with daemon(SWITCH + ["NVME_EMULATION_NUM_PF=0"]) as d:
        msix0 = d.rpc("emulation_resource_list")[0]["num_available_msix_resources"]
        f = d.rpc("nvme_function_create", {"num_msix": 8, "vid": 0x15b3, "id": 0x6001, "class_code": 0x010802})
        vuid = f["vuid"]
        eq(vuid, SERIAL + "NVMES1D0F0", "the first NVMe PF")
        eq(d.rpc("emulation_resource_list")[0]["num_available_msix_resources"], msix0 - 8, "MSI-X taken")
        d.rpc("nvme_subsystem_create", {"nqn": NQN})
        d.rpc("nvme_controller_create", {"nqn": NQN, "vuid": vuid, "ctrl_id": "NVMeCtrl1"})
        sock = os.path.join(d.emu_dir, vuid + ".sock")
        eq(os.path.exists(sock), False, "no endpoint before the hotplug")
        d.rpc("nvme_controller_hotplug", {"ctrl_id": "NVMeCtrl1"})
        check(listening(sock), "the vfio-user endpoint listens after the hotplug")
        # what a client reads in config space: the identity and MSI-X table
        # size given, its VUID, and no SR-IOV capability
        cases = ("cfg_ids", "cfg_msix_capability", "cfg_vpd_vuid", "cfg_sriov_capability", "cfg_bar_sizing")
        p = subprocess.run([CONFORMANCE, sock, "--nvme", "--ids", "0x15b3:0x6001", "--msix", "8", "--expect-vuid",
                            vuid, "--total-vfs", "0"] + sum((["--case", c] for c in cases), []),
                           capture_output=True, text=True, timeout=120)
        oks = re.findall(r"^ok \d+ ", p.stdout, re.M)
        check(p.returncode == 0 and len(oks) == len(cases), "vfu_conformance on the hot-plugged PF:\n" +
              "\n".join("  | " + line for line in (p.stdout + p.stderr).splitlines()))
        d.rpc("nvme_controller_hotunplug", {"ctrl_id": "NVMeCtrl1", "wait_for_done": True})
        eq(os.path.exists(sock), False, "endpoint gone")
        d.rpc("nvme_controller_destroy", {"ctrl_id": "NVMeCtrl1"})
        d.rpc("nvme_function_destroy", {"vuid": vuid})
        eq(d.rpc("emulation_resource_list")[0]["num_available_msix_resources"], msix0, "MSI-X given back")
        eq(d.stop(), 0, "exit code")


@test
def errors_change_nothing():
    with daemon([]) as d:
        err(d, "virtio_blk_function_create", None, EOPNOTSUPP, ["PCI_SWITCH_EMULATION_ENABLE"])
        eq(d.stop(), 0, "exit code")
    with daemon(SWITCH + ["SRIOV_EN=1", "NVME_EMULATION_NUM_VF=2"]) as d:
        before = d.rpc("emulation_function_list")
        # parameters
        err(d, "virtio_blk_function_create", {"num_msix": 0}, -32602, ["num_msix"])
        err(d, "virtio_blk_function_create", {"class_code": 0x1000000}, -32602, ["class_code"])
        err(d, "virtio_blk_function_create", {"bogus": 1}, -32602, ["bogus"])
        err(d, "virtio_blk_emulation_device_attach", {"total_vf": 4}, EOPNOTSUPP, ["SR-IOV"])
        err(d, "virtio_blk_emulation_device_attach", {"num_queues": 63}, -32602, ["num_queues"])
        err(d, "nvme_emulation_device_attach", {"version": "2.0"}, EOPNOTSUPP, ["1.4"])
        eq(d.rpc("emulation_function_list"), before, "nothing created by refused calls")
        # ports: PCI_SWITCH_EMULATION_NUM_PORT - 1 = 2
        a = d.rpc("virtio_blk_function_create")["vuid"]
        b = d.rpc("nvme_function_create")["vuid"]
        err(d, "virtio_blk_function_create", None, ENOSPC, ["port"])
        eq(len(d.rpc("emulation_function_list")), len(before) + 2, "two hot-plugged PFs")
        # wrong type, unknown function
        err(d, "virtio_blk_function_destroy", {"vuid": b}, EINVAL, ["not a virtio-blk function"])
        err(d, "nvme_function_destroy", {"vuid": "NOPE"}, ENODEV, ["NOPE"])
        err(d, "virtio_blk_function_destroy", {}, -32602, ["vuid"])
        err(d, "nvme_controller_hotplug", {"ctrl_id": "NoSuchCtrl"}, ENODEV, ["NoSuchCtrl"])
        vblk_ctrl(d, a)
        err(d, "nvme_controller_hotplug", {"ctrl_id": "VblkCtrl1"}, ENODEV, ["VblkCtrl1"])
        # a static function is not hot-plugged
        static_nvme = [f for f in before if f["emulation_type"] == "NVME"][0]
        d.rpc("nvme_subsystem_create", {"nqn": NQN})
        d.rpc("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "ctrl_id": "NVMeCtrl1"})
        err(d, "nvme_controller_hotunplug", {"ctrl_id": "NVMeCtrl1"}, EINVAL, ["not hot-plugged"])
        err(d, "emulation_device_detach", {"vuid": static_nvme["vuid"]}, EINVAL, ["not hot-plugged"])
        err(d, "emulation_device_detach_prepare", {"vuid": static_nvme["vuid"]}, EINVAL, ["not hot-plugged"])
        err(d, "emulation_device_detach", {}, -32602, ["vuid"])
        # VFs: a hot-plugged PF has none (the static PF 0 has 2)
        pf_b = entry(d, b)["pf_index"]
        e = err(d, "nvme_controller_create", {"nqn": NQN, "pf_id": pf_b, "vf_id": 0}, ENODEV, ["SR-IOV"])
        check("hot-plugged" in e.message, e.message)
        # order of operations
        err(d, "virtio_blk_controller_hotunplug", {"ctrl_id": "VblkCtrl1"}, EALREADY, ["POWER_OFF"])
        d.rpc("virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1"})
        err(d, "virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1"}, EALREADY, ["POWER_ON"])
        err(d, "virtio_blk_function_destroy", {"vuid": a}, EBUSY, ["VblkCtrl1"])
        d.rpc("virtio_blk_controller_destroy", {"ctrl_id": "VblkCtrl1"})
        err(d, "virtio_blk_function_destroy", {"vuid": a}, EPERM, ["POWER_ON"])
        err(d, "emulation_device_detach_prepare", {"vuid": a}, ENODEV, ["no controller"])
        eq(state(d, a), "POWER_ON", "still plugged after the refusals")
        # a surprise removal
        eq(d.rpc("emulation_device_detach", {"vuid": a, "force": True}), True, "detach --force")
        eq(entry(d, a), None, "gone")
        eq(d.rpc("nvme_function_destroy", {"vuid": b}), True, "destroy b")
        eq(d.stop(), 0, "exit code")


@test
def legacy_api_without_vmm():
    with daemon(SWITCH) as d:
        f = d.rpc("virtio_blk_emulation_device_attach", {"num_queues": 2, "queue_depth": 128})
        vuid = f["vuid"]
        eq((f["hotplug state"], f["num_queues"], f["queue_depth"]), ("POWER_ON", 2, 128), "attach: plugged at once")
        sock = os.path.join(d.emu_dir, vuid + ".sock")
        vblk_ctrl(d, vuid)
        check(listening(sock), "the controller's endpoint listens (the function is plugged)")
        d.rpc("emulation_device_detach_prepare", {"ctrl_id": "VblkCtrl1"})
        eq((state(d, vuid), os.path.exists(sock)), ("POWER_OFF", False), "prepared: off, endpoint gone")
        err(d, "emulation_device_detach", {"vuid": vuid}, EBUSY, ["VblkCtrl1"])
        d.rpc("virtio_blk_controller_destroy", {"ctrl_id": "VblkCtrl1"})
        eq(d.rpc("emulation_device_detach", {"vuid": vuid, "vhca_id": f["vhca_id"]}), True, "detach")
        eq(entry(d, vuid), None, "gone")
        eq(d.stop(), 0, "exit code")


@test
def persistence_across_restart():
    path, emu_dir = conf(SWITCH + ["EMU_VIRTIO_BLK_TRANSPORT=vfio-user"])
    with daemon(None, path) as d:
        on = d.rpc("virtio_blk_emulation_device_attach", {"vid": 0x1af4, "num_msix": 4})
        off = d.rpc("nvme_function_create", {"qmp": "/nonexistent/qmp.sock"})
        want = sorted((f["vuid"], f["pci_bdf"], f["port"], f["pf_index"]) for f in (on, off))
        eq(d.stop(), 0, "exit code")
    doc = json.load(open(os.path.join(emu_dir, "hotplug.json")))
    eq(sorted(f["state"] for f in doc["functions"]), ["POWER_OFF", "POWER_ON"], "the state file")
    with daemon(None, path) as d:
        got = [f for f in d.rpc("emulation_function_list") if f["hotplugged"]]
        eq(sorted((f["vuid"], f["pci_bdf"], f["port"], f["pf_index"]) for f in got), want, "back after the restart")
        eq({f["vuid"]: f["hotplug state"] for f in got}, {on["vuid"]: "POWER_ON", off["vuid"]: "POWER_OFF"}, "states")
        eq(entry(d, off["vuid"])["qmp"], "/nonexistent/qmp.sock", "its QMP socket")
        check(listening(os.path.join(emu_dir, on["vuid"] + ".sock")), "the plugged function's endpoint is back")
        eq(os.path.exists(os.path.join(emu_dir, off["vuid"] + ".sock")), False, "the other has none")
        d.rpc("emulation_device_detach", {"vuid": on["vuid"], "force": True})
        eq(d.stop(), 0, "exit code")
    with daemon(None, path) as d:
        eq([f["vuid"] for f in d.rpc("emulation_function_list") if f["hotplugged"]], [off["vuid"]],
           "a detached function does not come back")
        d.rpc("nvme_function_destroy", {"vuid": off["vuid"]})
        eq(d.stop(), 0, "exit code")
    # a state file that does not fit the config: refused at start, named
    with open(os.path.join(emu_dir, "hotplug.json"), "w") as f:
        json.dump({"version": 1, "functions": [{"type": "NVME", "pf_index": 1, "port": 7, "vuid": "X",
                                                "state": "POWER_ON"}]}, f)
    try:
        daemon(None, path)
        raise AssertionError("osnapd started on a state file that does not fit")
    except AssertionError as e:
        check("hotplug.json" in str(e) and "port 7" in str(e), "the refusal names the file: %s" % e)


# ---- with a VMM (fake QMP) ----------------------------------------------------------------

def qmp_daemon(extra=(), timeout_ms=20000):
    """A daemon told of a fake VMM (EMU_HOTPLUG_QMP_SOCKET) and the fake."""
    d0 = osnaptest.tmpdir()
    q = FakeQmp(os.path.join(d0, "qmp.sock"))
    path, _ = conf(SWITCH + ["EMU_HOTPLUG_QMP_SOCKET=" + q.path, "EMU_HOTPLUG_TIMEOUT_MS=%d" % timeout_ms]
                   + list(extra), d0)
    return daemon(None, path), q


@test
def qmp_vhost_user_plug_and_unplug():
    d, q = qmp_daemon()
    with d:
        vuid = d.rpc("virtio_blk_function_create")["vuid"]
        sock = os.path.join(d.emu_dir, vuid + ".sock")
        eq(entry(d, vuid)["qmp"], q.path, "the service's QMP socket")
        vblk_ctrl(d, vuid)
        r = d.rpc("virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True})
        eq((r["hotplug state"], "note" in r), ("POWER_ON", False), "the VMM was told")
        eq(q.names(), ["qmp_capabilities", "chardev-add", "device_add"], "the conversation")
        ca = q.args("chardev-add")
        eq((ca["id"], ca["backend"]["type"], ca["backend"]["data"]["addr"]["data"]["path"],
            ca["backend"]["data"]["server"]), (vuid + "-chr", "socket", sock, False), "chardev-add")
        eq(q.connected.get(sock), True, "the endpoint listened when the VMM connected")
        eq(q.args("device_add"), {"driver": "vhost-user-blk-pci", "id": vuid, "chardev": vuid + "-chr",
                                  "num-queues": 1}, "device_add")
        del q.commands[:]
        r = d.rpc("virtio_blk_controller_hotunplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True})
        eq(r["hotplug state"], "POWER_OFF", "unplugged")
        eq(q.names(), ["qmp_capabilities", "device_del", "chardev-remove"], "the conversation")
        eq((q.args("device_del"), q.args("chardev-remove")), ({"id": vuid}, {"id": vuid + "-chr"}), "ids")
        eq(os.path.exists(sock), False, "endpoint gone")
        # without wait_for_done: answered once device_del is taken, the rest later
        d.rpc("virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1"})
        q.deleted_after = 1.0
        r = d.rpc("virtio_blk_controller_hotunplug", {"ctrl_id": "VblkCtrl1"})
        eq(r["hotplug state"], "UNPLUG_IN_PROGRESS", "answered before DEVICE_DELETED")
        err(d, "virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1"}, EBUSY, ["UNPLUG_IN_PROGRESS"])
        wait_for("POWER_OFF after DEVICE_DELETED", lambda: state(d, vuid) == "POWER_OFF")
        eq(os.path.exists(sock), False, "endpoint gone")
        eq(d.stop(), 0, "exit code")
    q.close()


@test
def qmp_nvme_vfio_user():
    d, q = qmp_daemon(["NVME_EMULATION_NUM_PF=0"])
    with d:
        vuid = d.rpc("nvme_function_create", {"qmp": q.path})["vuid"]
        sock = os.path.join(d.emu_dir, vuid + ".sock")
        d.rpc("nvme_subsystem_create", {"nqn": NQN})
        d.rpc("nvme_controller_create", {"nqn": NQN, "vuid": vuid, "ctrl_id": "NVMeCtrl1"})
        d.rpc("nvme_controller_hotplug", {"ctrl_id": "NVMeCtrl1", "wait_for_done": True})
        eq(q.names(), ["qmp_capabilities", "device_add"], "no chardev for vfio-user")
        eq(q.args("device_add"), {"driver": "vfio-user-pci", "id": vuid, "socket": {"type": "unix", "path": sock}},
           "device_add")
        eq(q.connected.get(sock), True, "the vfio-user endpoint listened when the VMM connected")
        d.rpc("nvme_controller_hotunplug", {"ctrl_id": "NVMeCtrl1", "wait_for_done": True})
        eq(q.names()[-1], "device_del", "no chardev-remove for vfio-user")
        eq(state(d, vuid), "POWER_OFF", "unplugged")
        # the legacy attach of an NVMe function announces at once
        del q.commands[:]
        f = d.rpc("nvme_emulation_device_attach")
        eq((f["hotplug state"], q.names()), ("POWER_ON", ["qmp_capabilities", "device_add"]), "attach")
        d.rpc("nvme_controller_create", {"nqn": NQN, "vuid": f["vuid"], "ctrl_id": "NVMeCtrl2"})
        d.rpc("emulation_device_detach_prepare", {"vuid": f["vuid"]})
        eq(q.names()[-1], "device_del", "prepare tells the VMM")
        d.rpc("nvme_controller_destroy", {"ctrl_id": "NVMeCtrl2"})
        d.rpc("emulation_device_detach", {"vuid": f["vuid"]})
        eq(entry(d, f["vuid"]), None, "gone")
        eq(d.stop(), 0, "exit code")
    q.close()


@test
def qmp_failures_change_nothing():
    d, q = qmp_daemon(timeout_ms=2000)
    with d:
        vuid = d.rpc("virtio_blk_function_create")["vuid"]
        sock = os.path.join(d.emu_dir, vuid + ".sock")
        # a vhost-user function needs its controller before the VMM is told
        err(d, "virtio_blk_emulation_device_attach", None, EOPNOTSUPP, ["two-step", "controller"])
        eq(len([f for f in d.rpc("emulation_function_list") if f["hotplugged"]]), 1, "the refused attach left nothing")
        vblk_ctrl(d, vuid)
        # device_add refused: the chardev added first is removed again
        q.errors["device_add"] = ("GenericError", "Bus 'pci.0' does not support hotplugging")
        err(d, "virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True}, EIO,
            ["device_add", "does not support hotplugging"])
        eq(q.names(), ["qmp_capabilities", "chardev-add", "device_add", "chardev-remove"], "undone")
        eq((state(d, vuid), os.path.exists(sock)), ("POWER_OFF", False), "nothing changed")
        del q.errors["device_add"]
        # the guest never releases the device: the deadline (EMU_HOTPLUG_TIMEOUT_MS)
        d.rpc("virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True})
        q.deleted_after = None
        t0 = time.time()
        err(d, "virtio_blk_controller_hotunplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True}, ETIMEDOUT,
            ["DEVICE_DELETED", "not released"])
        check(time.time() - t0 >= 1.9, "answered at the deadline, not before")
        eq((state(d, vuid), listening(sock)), ("POWER_ON", True), "still plugged")
        # DEVICE_DELETED comes late (after the deadline): the retry finds the device gone
        q.deleted_after = 3.0
        del q.commands[:]
        err(d, "virtio_blk_controller_hotunplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True}, ETIMEDOUT,
            ["DEVICE_DELETED"])
        wait_for("the fake VMM deleted the device", lambda: vuid not in q.devices)
        r = d.rpc("virtio_blk_controller_hotunplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True})
        eq(r["hotplug state"], "POWER_OFF", "the retry")
        eq(q.names()[-3:], ["qmp_capabilities", "device_del", "chardev-remove"], "device_del: DeviceNotFound")
        eq(q.chardevs, {}, "the chardev went")
        eq(os.path.exists(sock), False, "endpoint gone")
        eq(d.stop(), 0, "exit code")
    q.close()


@test
def qmp_unreachable_or_silent_vmm():
    d0 = osnaptest.tmpdir()
    path, _ = conf(SWITCH + ["EMU_HOTPLUG_TIMEOUT_MS=1500"], d0)
    with daemon(None, path) as d:
        gone = os.path.join(d0, "no-vmm.sock")
        vuid = d.rpc("nvme_function_create", {"qmp": gone})["vuid"]
        d.rpc("nvme_subsystem_create", {"nqn": NQN})
        d.rpc("nvme_controller_create", {"nqn": NQN, "vuid": vuid, "ctrl_id": "NVMeCtrl9"})
        err(d, "nvme_controller_hotplug", {"ctrl_id": "NVMeCtrl9"}, ENOENT, ["cannot reach the VMM", gone])
        eq((state(d, vuid), os.path.exists(os.path.join(d.emu_dir, vuid + ".sock"))), ("POWER_OFF", False),
           "nothing changed")
        # a socket file nobody listens on
        dead = os.path.join(d0, "dead.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(dead)
        s.close()
        err(d, "nvme_emulation_device_attach", {"qmp": dead}, ECONNREFUSED, ["cannot reach the VMM"])
        eq(len([f for f in d.rpc("emulation_function_list") if f["hotplugged"]]), 1, "the failed attach left nothing")
        # a monitor that accepts and never greets (another client holds it)
        silent = FakeQmp(os.path.join(d0, "silent.sock"), greet=False)
        err(d, "nvme_emulation_device_attach", {"qmp": silent.path}, ETIMEDOUT, ["greeting"])
        silent.close()
        eq(d.stop(), 0, "exit code")


@test
def qmp_conversation_never_blocks_the_service():
    d, q = qmp_daemon()
    with d:
        vuid = d.rpc("virtio_blk_function_create")["vuid"]
        vblk_ctrl(d, vuid)
        q.reply_delay["device_add"] = 1.0
        out = {}

        def plug():
            c = osnaptest.RpcConn(d.sock)
            out["r"] = c.call("virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True})
            c.close()
        t = threading.Thread(target=plug)
        t.start()
        wait_for("device_add sent", lambda: "device_add" in q.names(), 30)
        t0 = time.time()
        eq(state(d, vuid), "PLUG_IN_PROGRESS", "listed while the VMM works")
        check(time.time() - t0 < 1.0, "another RPC answered while the QMP conversation waits")
        t.join(60)
        eq(out["r"]["hotplug state"], "POWER_ON", "the hotplug's answer")
        eq(d.stop(), 0, "exit code")
    q.close()


if __name__ == "__main__":
    main()
