#!/usr/bin/env python3
"""System tests of the device plane: the emulation config, the functions it
creates (emulation_function_list, emulation_resource_list), their vfio-user
endpoints, and their conformance through the client library
(tests/system/vfu_conformance, one run per endpoint).

Configurations: (a) the default one; (b) SR-IOV with 2 NVMe PFs x 3 VFs and
2 virtio-blk PFs x 2 VFs over vfio-user, VFs enabled from a client through
the PF's SR-IOV capability; (c) mmap-able NVMe doorbells; (d) configs that
must be refused; (e) stale and live socket files in EMU_DIR; (f)
EMU_SOCKET_MODE."""
import os
import re
import stat
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import osnaptest  # noqa: E402
from osnaptest import Daemon, check, eq, main, test, wait_for  # noqa: E402

CONFORMANCE = os.path.join(osnaptest.BUILD, "tests", "system", "vfu_conformance")
SERIAL = "MT2328XZ17DF"
MSIX_POOL = 16384
QUEUE_POOL = 32768
PF_MSIX = 32
VF_MSIX = 4

PF_KEYS = {"hotplugged", "emulation_type", "pf_index", "pci_bdf", "vhca_id", "vuid", "socket", "num_vfs", "vfs"}
VF_KEYS = {"hotplugged", "emulation_type", "pf_index", "vf_index", "pci_bdf", "vhca_id", "vuid", "socket"}
BDF = re.compile(r"^[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$")


# ---- helpers ------------------------------------------------------------------

def emu_config(lines, emu_dir=None):
    """Write an emulation config (EMU_DIR first unless given in lines);
    returns (path, emu_dir)."""
    d = tempfile.mkdtemp(prefix="osnap-emu-")
    emu_dir = emu_dir or os.path.join(d, "emu")
    path = os.path.join(d, "emu.conf")
    text = ""
    if not any(l.startswith("EMU_DIR=") for l in lines):
        text += "EMU_DIR=%s\n" % emu_dir
    text += "".join(l + "\n" for l in lines)
    with open(path, "w") as f:
        f.write(text)
    return path, emu_dir


def start(lines, emu_dir=None):
    conf, emu_dir = emu_config(lines, emu_dir)
    d = Daemon(["-c", conf])
    d.emu_dir = emu_dir
    d.emu_config = conf
    return d


def sock_path(d, vuid):
    return os.path.join(d.emu_dir, vuid + ".sock")


def sockets(emu_dir):
    try:
        return sorted(n for n in os.listdir(emu_dir) if n.endswith(".sock"))
    except FileNotFoundError:
        return []


def run_tool(args, timeout=90):
    p = subprocess.run([CONFORMANCE] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout + p.stderr


def quoted(out):
    # never let the inner TAP lines count as this program's tests
    return "\n".join("    | " + l for l in out.splitlines())


def conformance(path, *args):
    """Run every conformance case on the endpoint at path; fail with the
    program's output unless all passed."""
    check(os.path.exists(path), "no endpoint at %s" % path)
    rc, out = run_tool([path] + list(args))
    plan = re.search(r"^1\.\.(\d+)$", out, re.M)
    oks = re.findall(r"^ok \d+ ", out, re.M)
    bad = re.findall(r"^not ok \d+ - (\S+)", out, re.M)
    if rc != 0 or not plan or bad or len(oks) != int(plan.group(1)):
        raise AssertionError("vfu_conformance %s %s: exit %d, failed: %s\n%s" %
                             (path, " ".join(map(str, args)), rc, ", ".join(bad) or "-", quoted(out)))


def tool_ok(*args):
    rc, out = run_tool(list(args))
    if rc != 0:
        raise AssertionError("vfu_conformance %s: exit %d\n%s" % (" ".join(map(str, args)), rc, quoted(out)))


def check_mode(path, mode):
    st = os.stat(path)
    check(stat.S_ISSOCK(st.st_mode), "%s is not a socket" % path)
    eq(oct(stat.S_IMODE(st.st_mode)), oct(mode), "mode of %s" % path)


def pf_vuid(t, i, serial=SERIAL):
    return "%s%sS1D%dF0" % (serial, t, i)


def run_fail(lines, timeout=30):
    """Start osnapd on a config that must be refused; returns its output."""
    conf, emu_dir = emu_config(lines)
    d = Daemon(["-c", conf], wait=False)
    try:
        rc = d.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        d.proc.kill()
        d.proc.wait()
        raise AssertionError("osnapd accepted the config:\n" + open(conf).read())
    d.log.close()
    out = d.logtext()
    check(rc > 0, "osnapd exited with %d (want an orderly failure):\n%s" % (rc, out[-3000:]))
    eq(sockets(emu_dir), [], "endpoints left by a refused start")
    return conf, out


def expect_line(out, conf, line, *words):
    check("%s:%d" % (conf, line) in out, "the message does not name %s:%d:\n%s" % (conf, line, out[-2000:]))
    for w in words:
        check(w in out, "the message does not mention %s:\n%s" % (w, out[-2000:]))


# ---- (a) the default configuration -------------------------------------------------

@test
def default_functions_and_endpoints():
    with Daemon() as d:
        fns = d.rpc("emulation_function_list")
        eq([(f["emulation_type"], f["pf_index"]) for f in fns], [("NVME", 0), ("VBLK", 0)], "functions")
        for f in fns:
            eq(set(f), PF_KEYS, "keys of %s" % f["vuid"])
            eq(f["socket"], os.path.join(d.emu_dir, f["vuid"] + ".sock"), "socket of %s" % f["vuid"])
            check(os.path.exists(f["socket"]) or f["emulation_type"] == "VBLK", "%s not there" % f["socket"])
            eq(f["hotplugged"], False, "hotplugged")
            eq(f["num_vfs"], 0, "num_vfs")
            eq(f["vfs"], [], "vfs")
            check(BDF.match(f["pci_bdf"]), "pci_bdf %r" % f["pci_bdf"])
        serial = fns[0]["vuid"][:12]
        check(re.match(r"^[A-Z0-9]{12}$", serial), "serial %r" % serial)
        eq(fns[0]["vuid"], pf_vuid("NVME", 0, serial), "NVMe VUID")
        eq(fns[1]["vuid"], pf_vuid("VBLK", 0, serial), "virtio-blk VUID")
        check(fns[0]["vhca_id"] != fns[1]["vhca_id"], "vhca_id not unique")
        # virtio-blk is served over vhost-user by default: only NVMe has a vfio-user endpoint
        eq(sockets(d.emu_dir), [fns[0]["vuid"] + ".sock"], "endpoints")
        check_mode(sock_path(d, fns[0]["vuid"]), 0o600)
        eq(d.rpc("emulation_resource_list"),
           [{"num_available_msix_resources": MSIX_POOL - 2 * PF_MSIX,
             "num_available_queue_resources": QUEUE_POOL}], "resources")
        eq(d.stop(), 0, "exit code")
        eq(sockets(d.emu_dir), [], "endpoints left after stop")


@test
def default_nvme_conformance():
    with Daemon() as d:
        vuid = d.rpc("emulation_function_list")[0]["vuid"]
        conformance(sock_path(d, vuid), "--nvme", "--expect-vuid", vuid, "--msix", PF_MSIX,
                    "--total-vfs", 0)
        eq(d.stop(), 0, "exit code")


# ---- (b) SR-IOV, 2 NVMe PFs x 3 VFs, 2 virtio-blk PFs x 2 VFs over vfio-user -----------

SRIOV_LINES = ["SRIOV_EN=1", "NVME_EMULATION_NUM_PF=2", "NVME_EMULATION_NUM_VF=3",
               "VIRTIO_BLK_EMULATION_NUM_PF=2", "VIRTIO_BLK_EMULATION_NUM_VF=2",
               "EMU_VIRTIO_BLK_TRANSPORT=vfio-user", "EMU_SERIAL=%s" % SERIAL]
PFS = [("NVME", 0, 3), ("NVME", 1, 3), ("VBLK", 0, 2), ("VBLK", 1, 2)]

_sriov = {}


def sriov():
    """The SR-IOV daemon shared by the tests of this section."""
    d = _sriov.get("d")
    if d is None or d.proc.poll() is not None:
        if d is not None:
            raise AssertionError("the SR-IOV osnapd died:\n" + d.logtext()[-3000:])
        d = start(SRIOV_LINES)
        _sriov["d"] = d
    return d


def listing(d, all_=False):
    return d.rpc("emulation_function_list", {"all": True} if all_ else None)


def pf_entry(d, t, i, all_=False):
    for f in listing(d, all_):
        if f["emulation_type"] == t and f["pf_index"] == i:
            return f
    raise AssertionError("no %s PF %d listed" % (t, i))


def check_listing(fns, active):
    """active: {(type, pf_index): number of enabled VFs}; fns listed with -a."""
    eq([(f["emulation_type"], f["pf_index"]) for f in fns], [(t, i) for t, i, _ in PFS], "PFs in order")
    for (t, i, total), f in zip(PFS, fns):
        eq(set(f), PF_KEYS, "keys of PF %s" % f["vuid"])
        eq(f["hotplugged"], False, "hotplugged")
        eq(f["vuid"], pf_vuid(t, i), "VUID")
        eq(f["num_vfs"], active.get((t, i), 0), "num_vfs of %s" % f["vuid"])
        eq(len(f["vfs"]), total, "VFs of %s with --all" % f["vuid"])
        for n, vf in enumerate(f["vfs"]):
            eq(set(vf), VF_KEYS, "keys of VF %s" % vf["vuid"])
            eq(os.path.basename(vf["socket"]), vf["vuid"] + ".sock", "socket of VF %s" % vf["vuid"])
            eq((vf["emulation_type"], vf["pf_index"], vf["vf_index"], vf["hotplugged"]), (t, i, n, False),
               "identity of VF %s" % vf["vuid"])
            eq(vf["vuid"], "%sVF%d" % (f["vuid"], n + 1), "VF VUID")


@test
def sriov_function_list():
    d = sriov()
    fns = listing(d, True)
    check_listing(fns, {})
    everyone = fns + [vf for f in fns for vf in f["vfs"]]
    eq(len(everyone), 4 + 3 + 3 + 2 + 2, "functions")
    ids = [f["vhca_id"] for f in everyone]
    eq(len(set(ids)), len(ids), "vhca_ids unique: %r" % ids)
    bdfs = [f["pci_bdf"] for f in everyone]
    eq(len(set(bdfs)), len(bdfs), "pci_bdfs unique: %r" % bdfs)
    for b in bdfs:
        check(BDF.match(b), "pci_bdf %r" % b)
    # without --all: no VF is active yet
    for f in listing(d):
        eq(set(f), PF_KEYS, "keys")
        eq((f["num_vfs"], f["vfs"]), (0, []), "active VFs of %s" % f["vuid"])
    # the CLI's -a is the same request
    cli = d.cli_json("emulation_function_list", "-a")
    eq(cli, fns, "osnap-rpc emulation_function_list -a")


@test
def sriov_resource_list():
    d = sriov()
    used = sum(PF_MSIX + total * VF_MSIX for _, _, total in PFS)
    eq(d.rpc("emulation_resource_list"),
       [{"num_available_msix_resources": MSIX_POOL - used, "num_available_queue_resources": QUEUE_POOL}],
       "resources")


@test
def sriov_pf_endpoints():
    d = sriov()
    eq(sockets(d.emu_dir), sorted(pf_vuid(t, i) + ".sock" for t, i, _ in PFS), "endpoints (no VF enabled)")
    for t, i, _ in PFS:
        check_mode(sock_path(d, pf_vuid(t, i)), 0o600)


def pf_conformance(t, i, total):
    d = sriov()
    f = pf_entry(d, t, i, True)
    conformance(sock_path(d, f["vuid"]), "--virtio" if t == "VBLK" else "--nvme", "--expect-vuid", f["vuid"],
                "--msix", PF_MSIX, "--total-vfs", total, "--bdf", f["pci_bdf"],
                "--first-vf-bdf", f["vfs"][0]["pci_bdf"])


@test
def sriov_conformance_nvme_pf0():
    pf_conformance("NVME", 0, 3)


@test
def sriov_conformance_nvme_pf1():
    pf_conformance("NVME", 1, 3)


@test
def sriov_conformance_vblk_pf0():
    pf_conformance("VBLK", 0, 2)


@test
def sriov_conformance_vblk_pf1():
    pf_conformance("VBLK", 1, 2)


def set_numvfs(t, i, n):
    d = sriov()
    pf = pf_vuid(t, i)
    tool_ok(sock_path(d, pf), "--set-numvfs", n)
    total = dict(((tt, ii), tot) for tt, ii, tot in PFS)[(t, i)]
    want = ["%sVF%d.sock" % (pf, k + 1) for k in range(n)]
    wait_for(lambda: [s for s in sockets(d.emu_dir) if s.startswith(pf + "VF")] == want,
             "VF endpoints %r (have %r)" % (want, sockets(d.emu_dir)))
    for k in range(n):
        check_mode(sock_path(d, "%sVF%d" % (pf, k + 1)), 0o600)
    f = pf_entry(d, t, i)
    eq(f["num_vfs"], n, "num_vfs")
    eq([vf["vf_index"] for vf in f["vfs"]], list(range(n)), "active VFs listed without --all")
    eq(len(pf_entry(d, t, i, True)["vfs"]), total, "VFs listed with --all")


def vf_conformance(t, i, k):
    d = sriov()
    f = pf_entry(d, t, i)
    vf = [v for v in f["vfs"] if v["vf_index"] == k]
    check(vf, "VF %d of %s is not active" % (k, f["vuid"]))
    conformance(sock_path(d, vf[0]["vuid"]), "--virtio" if t == "VBLK" else "--nvme", "--vf",
                "--expect-vuid", vf[0]["vuid"], "--msix", VF_MSIX)


@test
def sriov_enable_nvme_pf0_vfs():
    set_numvfs("NVME", 0, 2)
    # the other PFs are untouched
    d = sriov()
    for t, i in [("NVME", 1), ("VBLK", 0), ("VBLK", 1)]:
        eq(pf_entry(d, t, i)["num_vfs"], 0, "num_vfs of %s PF %d" % (t, i))


@test
def sriov_conformance_nvme_pf0_vf1():
    vf_conformance("NVME", 0, 0)


@test
def sriov_conformance_nvme_pf0_vf2():
    vf_conformance("NVME", 0, 1)


@test
def sriov_disable_nvme_pf0_vfs():
    set_numvfs("NVME", 0, 0)
    eq(pf_entry(sriov(), "NVME", 0)["vfs"], [], "active VFs")


@test
def sriov_enable_vblk_pf1_vfs():
    set_numvfs("VBLK", 1, 2)


@test
def sriov_conformance_vblk_pf1_vf1():
    vf_conformance("VBLK", 1, 0)


@test
def sriov_conformance_vblk_pf1_vf2():
    vf_conformance("VBLK", 1, 1)


@test
def sriov_vf_disabled_during_dma_unmap():
    # the VF endpoint goes away while its client's DMA_UNMAP waits for the
    # grace period (was a use-after-free of the endpoint); leaves VF Enable clear
    d = sriov()
    pf = pf_vuid("VBLK", 1)
    tool_ok(sock_path(d, pf), "--race-vf-unmap", sock_path(d, pf + "VF1"))
    wait_for(lambda: not [s for s in sockets(d.emu_dir) if s.startswith(pf + "VF")], "VF endpoints to go")
    eq(pf_entry(d, "VBLK", 1)["num_vfs"], 0, "num_vfs")
    check(d.proc.poll() is None, "osnapd died:\n" + d.logtext()[-3000:])


@test
def sriov_stop_removes_endpoints():
    d = sriov()
    _sriov.pop("d")
    eq(d.stop(), 0, "exit code:\n" + d.logtext()[-3000:])
    eq(sockets(d.emu_dir), [], "endpoints left after stop")


@test
def sriov_vf_offset_with_one_nvme_pf():
    # First VF Offset must lead to the VFs' own BDFs whatever the number of
    # PFs before this one (was computed as if there were always 2 NVMe PFs)
    d = start(["EMU_SERIAL=%s" % SERIAL, "SRIOV_EN=1", "NVME_EMULATION_NUM_PF=1", "NVME_EMULATION_NUM_VF=1",
               "VIRTIO_BLK_EMULATION_NUM_PF=2", "VIRTIO_BLK_EMULATION_NUM_VF=2",
               "EMU_VIRTIO_BLK_TRANSPORT=vfio-user"])
    with d:
        for f in d.rpc("emulation_function_list", {"all": True}):
            conformance(sock_path(d, f["vuid"]), "--virtio" if f["emulation_type"] == "VBLK" else "--nvme",
                        "--expect-vuid", f["vuid"], "--total-vfs", len(f["vfs"]), "--bdf", f["pci_bdf"],
                        "--first-vf-bdf", f["vfs"][0]["pci_bdf"])
        eq(d.stop(), 0, "exit code")


# ---- (c) mmap-able doorbells ------------------------------------------------------

@test
def mmap_doorbells_nvme():
    d = start(["EMU_NVME_DOORBELLS=mmap", "EMU_SERIAL=%s" % SERIAL, "EMU_VIRTIO_BLK_TRANSPORT=vfio-user"])
    with d:
        vuid = pf_vuid("NVME", 0)
        conformance(sock_path(d, vuid), "--nvme", "--mmap-doorbells", "--expect-vuid", vuid, "--msix", PF_MSIX)
        # virtio-blk has no doorbell page to map
        vuid = pf_vuid("VBLK", 0)
        conformance(sock_path(d, vuid), "--virtio", "--expect-vuid", vuid, "--msix", PF_MSIX)
        eq(d.stop(), 0, "exit code")


@test
def trap_doorbells_nvme():
    # EMU_NVME_DOORBELLS=trap: BAR0 has no mappable area; doorbell writes are messages
    d = start(["EMU_NVME_DOORBELLS=trap", "EMU_SERIAL=%s" % SERIAL])
    with d:
        vuid = pf_vuid("NVME", 0)
        conformance(sock_path(d, vuid), "--nvme", "--trap-doorbells", "--expect-vuid", vuid, "--msix", PF_MSIX)
        eq(d.stop(), 0, "exit code")


@test
def config_num_msix():
    # NVME_EMULATION_NUM_MSIX and the pool accounting follow the config
    d = start(["EMU_SERIAL=%s" % SERIAL, "NVME_EMULATION_NUM_MSIX=8", "EMU_MSIX_POOL=100",
               "EMU_QUEUE_POOL=77"])
    with d:
        eq(d.rpc("emulation_resource_list"),
           [{"num_available_msix_resources": 100 - 8 - PF_MSIX, "num_available_queue_resources": 77}],
           "resources")
        vuid = pf_vuid("NVME", 0)
        conformance(sock_path(d, vuid), "--nvme", "--expect-vuid", vuid, "--msix", 8)
        eq(d.stop(), 0, "exit code")


# ---- (d) configs that are refused ------------------------------------------------

@test
def bad_config_out_of_range():
    conf, out = run_fail(["# two PFs at most", "NVME_EMULATION_NUM_PF=3"])
    expect_line(out, conf, 3, "NVME_EMULATION_NUM_PF", "range")


@test
def bad_config_unknown_key():
    conf, out = run_fail(["NVME_EMULATION_NUM_PFS=1"])
    expect_line(out, conf, 2, "NVME_EMULATION_NUM_PFS")


@test
def bad_config_vf_without_sriov():
    conf, out = run_fail(["NVME_EMULATION_NUM_PF=1", "", "NVME_EMULATION_NUM_VF=2"])
    expect_line(out, conf, 4, "NVME_EMULATION_NUM_VF", "SRIOV_EN")


@test
def bad_config_values():
    for line, word in [("EMU_SERIAL=SHORT", "EMU_SERIAL"), ("EMU_SERIAL=mt2328xz17df", "EMU_SERIAL"),
                       ("EMU_VIRTIO_BLK_TRANSPORT=vdpa", "EMU_VIRTIO_BLK_TRANSPORT"),
                       ("EMU_NVME_DOORBELLS=poll", "EMU_NVME_DOORBELLS"),
                       ("EMU_SOCKET_MODE=0999", "EMU_SOCKET_MODE"),
                       ("VIRTIO_BLK_EMULATION_NUM_MSIX=64", "VIRTIO_BLK_EMULATION_NUM_MSIX"),
                       ("SRIOV_EN", "NAME=VALUE")]:
        conf, out = run_fail([line])
        expect_line(out, conf, 2, word)


# ---- (e) socket files already in EMU_DIR -------------------------------------------

@test
def stale_socket_files_replaced():
    conf, emu_dir = emu_config(["EMU_SERIAL=%s" % SERIAL, "EMU_VIRTIO_BLK_TRANSPORT=vfio-user"])
    os.makedirs(emu_dir)
    nvme = os.path.join(emu_dir, pf_vuid("NVME", 0) + ".sock")
    vblk = os.path.join(emu_dir, pf_vuid("VBLK", 0) + ".sock")
    with open(nvme, "w") as f:          # a plain file with the endpoint's name
        f.write("stale")
    s = socket.socket(socket.AF_UNIX)   # a socket nobody listens on (crashed run)
    s.bind(vblk)
    s.close()
    d = Daemon(["-c", conf])
    d.emu_dir = emu_dir
    with d:
        conformance(nvme, "--nvme", "--expect-vuid", pf_vuid("NVME", 0))
        conformance(vblk, "--virtio", "--expect-vuid", pf_vuid("VBLK", 0))
        check_mode(nvme, 0o600)
        check_mode(vblk, 0o600)
        eq(d.stop(), 0, "exit code")


@test
def live_endpoint_of_another_osnapd_kept():
    a = start(["EMU_SERIAL=%s" % SERIAL])
    with a:
        path = sock_path(a, pf_vuid("NVME", 0))
        ino = os.stat(path).st_ino
        b = Daemon(["-c", a.emu_config], wait=False)
        try:
            rc = b.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            b.proc.kill()
            b.proc.wait()
            raise AssertionError("a second osnapd started on the same EMU_DIR:\n" + b.logtext())
        b.log.close()
        out = b.logtext()
        check(rc > 0, "second osnapd exited with %d:\n%s" % (rc, out[-3000:]))
        check(path in out, "the message does not name %s:\n%s" % (path, out[-2000:]))
        eq(os.stat(path).st_ino, ino, "the first osnapd's socket file was replaced")
        conformance(path, "--nvme", "--expect-vuid", pf_vuid("NVME", 0))
        eq(a.stop(), 0, "exit code of the first osnapd")


# ---- (f) EMU_SOCKET_MODE ------------------------------------------------------------

@test
def socket_mode_0660():
    d = start(["EMU_SERIAL=%s" % SERIAL, "EMU_SOCKET_MODE=0660", "EMU_VIRTIO_BLK_TRANSPORT=vfio-user",
               "SRIOV_EN=1", "NVME_EMULATION_NUM_VF=1"])
    with d:
        pf = pf_vuid("NVME", 0)
        check_mode(sock_path(d, pf), 0o660)
        check_mode(sock_path(d, pf_vuid("VBLK", 0)), 0o660)
        # a VF endpoint created later follows the same policy
        tool_ok(sock_path(d, pf), "--set-numvfs", 1)
        wait_for(lambda: os.path.exists(sock_path(d, pf + "VF1")), "the VF endpoint")
        check_mode(sock_path(d, pf + "VF1"), 0o660)
        eq(d.stop(), 0, "exit code")


if __name__ == "__main__":
    try:
        main()
    finally:
        d = _sriov.pop("d", None)
        if d is not None and d.proc.poll() is None:
            d.stop()
