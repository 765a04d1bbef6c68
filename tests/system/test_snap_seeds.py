#!/usr/bin/env python3
"""Seed 003's command sequences (DOCA SNAP-4 "RPC Commands"), run by bash
through the snap_rpc.py and spdk_rpc.py links exactly as printed, against
a live osnapd: the single NVMe controller and its cleanup, 125 NVMe VFs,
the single virtio-blk controller and its cleanup, 125 virtio-blk VFs on one
bdev, suspend/resume and bdev detach/attach.

The remote bdev is remote: the seeds' NVMe-oF subsystem
(nqn.2022-10.io.nvda.nvme:swx-storage, one 64 MiB namespace) is served by
the scripted NVMe/TCP target of nvmetcp_target.py on a loopback port, and
the seeds' bdev_nvme_attach_controller line runs with only its transport,
address and port changed (no RDMA here: "-t rdma -a 1.1.1.1 ... -s 4420"
becomes "-t tcp -a 127.0.0.1 ... -s PORT"); nvme0n1 is the remote
namespace, and the detach line runs verbatim. I/O through the seeds'
controllers is checked to reach the target (and to come from it).
The seeds' VUIDs are reproduced with EMU_SERIAL. The links reach the test's
osnapd through OSNAP_RPC_SOCKET, so no line carries -s.

The hot-plug examples (two-step virtio-blk, legacy virtio-blk and NVMe) run
on an emulated PCIe switch without a VMM to tell (no QMP socket).

The seeds' host lines ("[host] echo 125 > .../sriov_numvfs") are what the
host's driver does: for NVMe a vfio-user client writes NumVFs and VF Enable
into the PF's SR-IOV capability, for virtio-blk over vhost-user (no config
space reaches osnap) emulation_function_set_num_vfs does the same.

Where a seed line cannot work as printed in any implementation, the test
says so and runs the evident intent: the 125-VF NVMe loop's last command
reads "NVMeCtrl$(i+2)" (a command substitution of "i+2") for
"NVMeCtrl$((i+2))"."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nvmetcp_target  # noqa: E402
import osnaptest  # noqa: E402
from osnaptest import test, eq, check, main, Daemon  # noqa: E402
from nvme_remote import perf  # noqa: E402

TOOLS = os.path.join(osnaptest.BUILD, "tools", "osnap-rpc")
CONFORMANCE = os.path.join(osnaptest.BUILD, "tests", "system", "vfu_conformance")
E2E = os.path.join(osnaptest.BUILD, "tests", "system", "vblk_e2e")
NQN = "nqn.2022-10.io.nvda.nvme:0"
UUID = "263826ad-19a3-4feb-bc25-4bc81ee7749e"

SUBNQN = "nqn.2022-10.io.nvda.nvme:swx-storage"
# what the seeds' attach line says about the transport (the one part changed)
SEED_TRANSPORT = ("-t rdma -a 1.1.1.1", "-s 4420")


class Remote:
    """The seeds' NVMe-oF subsystem: nvmetcp_target.py on a loopback port,
    serving SUBNQN with one 64 MiB namespace (nsid 1: nvme0n1)."""

    def __enter__(self):
        self.t = nvmetcp_target.Target(subnqn=SUBNQN, namespaces=((1, 131072, 512),)).start()
        return self.t

    def __exit__(self, *exc):
        self.t.stop()


def as_run(line, remote):
    """line with the seeds' RDMA transport, address and port made the
    target's (lines without them, the detach among them, are unchanged)."""
    if remote is None:
        return line
    return line.replace(SEED_TRANSPORT[0], "-t tcp -a 127.0.0.1").replace(
        SEED_TRANSPORT[1], "-s %d" % remote.port)


def daemon(lines, remote=None):
    d0 = osnaptest.tmpdir()
    conf = os.path.join(d0, "emu.conf")
    with open(conf, "w") as f:
        f.write("\n".join(["EMU_DIR=%s" % os.path.join(d0, "emu")] + lines) + "\n")
    d = Daemon(["-c", conf])
    d.emu_dir = os.path.join(d0, "emu")
    d.remote = remote
    return d


def sh(d, script, cwd=None):
    """Run script with bash, the links first on PATH; the CompletedProcess."""
    env = dict(os.environ, PATH=TOOLS + ":" + os.environ.get("PATH", "/usr/bin:/bin"), OSNAP_RPC_SOCKET=d.sock)
    if osnaptest.SANITIZED:
        # hundreds of short CLI runs: their leak check at exit doubles the
        # time (the CLI's leaks are test_cli_dryrun's business; osnapd here
        # keeps every check)
        env["ASAN_OPTIONS"] = ":".join([o for o in env.get("ASAN_OPTIONS", "").split(":") if o and
                                        not o.startswith("detect_leaks")] + ["detect_leaks=0"])
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=600, env=env,
                          cwd=cwd or osnaptest.TOP)


def seed(d, text, cwd=None):
    """Each line of text as printed (the remote's transport made the
    target's), stopping at the first failure; returns the outputs (JSON) of
    the lines."""
    outs = []
    for line in [ln.strip() for ln in text.strip().splitlines() if ln.strip()]:
        run = as_run(line, d.remote)
        p = sh(d, run, cwd)
        if p.returncode != 0:
            raise AssertionError("seed line failed: %s\n(ran: %s)\nexit %d: %s%s" %
                                 (line, run, p.returncode, p.stdout, p.stderr))
        outs.append(json_values(p.stdout))
    return outs


def json_values(text):
    """The JSON value a line printed, or the list of them (a loop), or None."""
    dec, vals, text = json.JSONDecoder(), [], text.strip()
    while text:
        v, end = dec.raw_decode(text)
        vals.append(v)
        text = text[end:].strip()
    return None if not vals else vals[0] if len(vals) == 1 else vals


def e2e(sock, *args):
    p = subprocess.run([E2E, "--vhost-user", sock] + [str(a) for a in args], capture_output=True, text=True,
                       timeout=150, stdin=subprocess.DEVNULL)
    if p.returncode != 0 or "not ok" in p.stdout:
        raise AssertionError("vblk_e2e %s: %s%s" % (" ".join(str(a) for a in args), p.stdout, p.stderr))


def check_on_target(t, write_sock, read_sock, seed_no):
    """vblk_e2e's pattern written through write_sock reaches the target's
    namespace, reads back through read_sock, and comes from the target:
    once the target's copy is wiped, the same check fails."""
    ns = t.namespaces[1]
    writes = t.writes
    e2e(write_sock, "--case", "file_pattern", "--seed", seed_no)
    check(t.writes > writes, "the target saw the writes (%d)" % (t.writes - writes))
    # file_pattern's extent of 512 sectors at 4096
    check(any(ns.data[4096 * 512:4608 * 512]), "the pattern is in the target's namespace")
    e2e(read_sock, "--case", "pattern_check", "--seed", seed_no)
    ns.data[:] = bytes(len(ns.data))
    try:
        e2e(read_sock, "--case", "pattern_check", "--seed", seed_no)
    except AssertionError:
        return
    raise AssertionError("the pattern read back after the target's copy was wiped")


# ---- NVMe ---------------------------------------------------------------------------

NVME_SINGLE = """
spdk_rpc.py bdev_nvme_attach_controller -b nvme0 -t rdma -a 1.1.1.1 -f ipv4 -s 4420 -n nqn.2022-10.io.nvda.nvme:swx-storage
snap_rpc.py nvme_subsystem_create --nqn nqn.2022-10.io.nvda.nvme:0
snap_rpc.py nvme_namespace_create -b nvme0n1 -n 1 --nqn nqn.2022-10.io.nvda.nvme:0 --uuid 263826ad-19a3-4feb-bc25-4bc81ee7749e
snap_rpc.py nvme_controller_create --nqn nqn.2022-10.io.nvda.nvme:0 --pf_id 0 --suspended
snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl1 -n 1
snap_rpc.py nvme_controller_resume -c NVMeCtrl1
"""

NVME_CLEANUP = """
snap_rpc.py nvme_controller_detach_ns -c NVMeCtrl2 -n 1
snap_rpc.py nvme_controller_destroy -c NVMeCtrl2
snap_rpc.py nvme_namespace_destroy -n 1 --nqn nqn.2022-10.io.nvda.nvme:0
snap_rpc.py nvme_subsystem_destroy --nqn nqn.2022-10.io.nvda.nvme:0
spdk_rpc.py bdev_nvme_detach_controller nvme0
"""


@test
def seed_nvme_single_controller_and_cleanup():
    with Remote() as t, daemon(["EMU_SERIAL=MT240830045R"], t) as d:
        outs = seed(d, NVME_SINGLE)
        eq(outs[0], ["nvme0n1"], "the attach prints the remote namespace's bdev")
        eq([c["subnqn"] for c in t.connects], [SUBNQN, SUBNQN], "Connects to the seed's subsystem")
        eq(outs[3]["ctrl_id"], "NVMeCtrl1", "nvme_controller_create's answer")
        c = d.rpc("nvme_controller_list")
        eq([(x["ctrl_id"], x["vuid"], x["namespaces"]) for x in c],
           [("NVMeCtrl1", "MT240830045RNVMES1D0F0", [{"nsid": 1, "bdev": "nvme0n1", "uuid": UUID}])],
           "the controller the seed built")
        check(c[0]["state"] != "SUSPENDED", "still suspended after nvme_controller_resume: %r" % c[0])
        # I/O through the seed's controller lands on the target and back
        tgt = ["--vfio-user", os.path.join(d.emu_dir, "MT240830045RNVMES1D0F0.sock"), "--nvme"]
        state = os.path.join(d.dir, "verify.state")
        rng = ["-b", 4096, "--size", 1 << 20, "--verify", "--verify-state", state, "-q", 4, "-n", 256]
        writes = t.writes
        eq(perf(tgt, "-w", "write", *rng)["errors"], 0, "writes through NVMeCtrl1")
        check(t.writes - writes >= 256, "the target saw the writes (%d)" % (t.writes - writes))
        r = perf(tgt, "-w", "read", *rng)
        eq((r["errors"], r["verify_checked"]), (0, 256), "reads through NVMeCtrl1 verified")
        # the cleanup example names NVMeCtrl2: the same configuration with
        # the controller under that name (our setup lines)
        seed(d, """
snap_rpc.py nvme_controller_detach_ns -c NVMeCtrl1 -n 1
snap_rpc.py nvme_controller_destroy -c NVMeCtrl1
snap_rpc.py nvme_controller_create --nqn nqn.2022-10.io.nvda.nvme:0 --ctrl NVMeCtrl2 --pf_id 0 --suspended
snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl2 -n 1
snap_rpc.py nvme_controller_resume -c NVMeCtrl2
""")
        seed(d, NVME_CLEANUP)
        eq((d.rpc("nvme_controller_list"), d.rpc("nvme_subsystem_list"), d.rpc("bdev_get_bdevs")), ([], [], []),
           "everything gone after the cleanup")
        eq(d.stop(), 0, "exit code")


NVME_125_VFS = """
snap_rpc.py nvme_subsystem_create --nqn nqn.2022-10.io.nvda.nvme:0
snap_rpc.py nvme_controller_create --nqn nqn.2022-10.io.nvda.nvme:0 --ctrl NVMeCtrl1 --pf_id 0 --admin_only
"""
# the loop, its "[dpu] #" prompts taken out; $(i+2) -> $((i+2)) (see the docstring)
NVME_125_LOOP = """
for i in `seq 0 124`; do \\
spdk_rpc.py bdev_null_create null$((i+1)) 64 512;
snap_rpc.py nvme_namespace_create -b null$((i+1)) -n $((i+1)) --nqn nqn.2022-10.io.nvda.nvme:0 --uuid 3d9c3b54-5c31-410a-b4f0-7cf2afd9e$((i+100));
snap_rpc.py nvme_controller_create --nqn nqn.2022-10.io.nvda.nvme:0 --ctrl NVMeCtrl$((i+2)) --pf_id 0 --vf_id $i --suspended;
snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl$((i+2)) -n $((i+1));
snap_rpc.py nvme_controller_resume -c NVMeCtrl$((i+2)); done
"""


@test
def seed_nvme_125_vfs():
    with daemon(["SRIOV_EN=1", "NVME_EMULATION_NUM_VF=125"]) as d:
        seed(d, NVME_125_VFS)
        p = sh(d, "set -e\n" + NVME_125_LOOP.strip())
        eq(p.returncode, 0, "the 125-VF loop: %s" % p.stderr[-2000:])
        ctrls = {c["ctrl_id"]: c for c in d.rpc("nvme_controller_list")}
        eq(len(ctrls), 126, "controllers")
        eq(ctrls["NVMeCtrl1"]["admin_only"], True, "the PF's dummy controller")
        for i in range(125):
            c = ctrls["NVMeCtrl%d" % (i + 2)]
            eq((c["vf_index"], [n["nsid"] for n in c["namespaces"]]), (i, [i + 1]), "NVMeCtrl%d" % (i + 2))
            eq(c["namespaces"][0]["uuid"], "3d9c3b54-5c31-410a-b4f0-7cf2afd9e%d" % (i + 100), "uuid")
            check(c["state"] != "SUSPENDED", "NVMeCtrl%d still suspended" % (i + 2))
        vfs = d.rpc("emulation_function_list", {"all": True})[0]["vfs"]
        eq([v.get("ctrl_id") for v in vfs], ["NVMeCtrl%d" % (i + 2) for i in range(125)], "VFs' controllers")
        # [host] echo 125 > sriov_numvfs: the host's config-space writes
        host = subprocess.run([CONFORMANCE, os.path.join(d.emu_dir, vfs[0]["vuid"][:-3] + ".sock"),
                               "--set-numvfs", "125"], capture_output=True, text=True, timeout=300)
        eq(host.returncode, 0, "sriov_numvfs 125: %s%s" % (host.stdout, host.stderr))
        pf = d.rpc("emulation_function_list")[0]
        eq((pf["num_vfs"], [v["ctrl_id"] for v in pf["vfs"]]), (125, ["NVMeCtrl%d" % (i + 2) for i in range(125)]),
           "125 VFs enabled, each with its controller")
        for v in pf["vfs"]:
            check(os.path.exists(v["socket"]), "no endpoint for enabled VF %s" % v["vuid"])
        eq(d.stop(), 0, "exit code")


# ---- virtio-blk ----------------------------------------------------------------------

VBLK_SINGLE = """
spdk_rpc.py bdev_nvme_attach_controller -b nvme0 -t rdma -a 1.1.1.1 -f ipv4 -s 4420 -n nqn.2022-10.io.nvda.nvme:swx-storage
snap_rpc.py virtio_blk_controller_create --vuid MT2114X12200VBLKS1D0F0 --bdev nvme0n1
"""
VBLK_CLEANUP = """
snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl1
spdk_rpc.py bdev_nvme_detach_controller nvme0
"""


@test
def seed_virtio_blk_single_controller_and_cleanup():
    with Remote() as t, daemon(["EMU_SERIAL=MT2114X12200"], t) as d:
        outs = seed(d, VBLK_SINGLE)
        eq(outs[0], ["nvme0n1"], "the attach prints the remote namespace's bdev")
        eq(outs[1], "VblkCtrl1", "the seed's example response")
        sock = os.path.join(d.emu_dir, "MT2114X12200VBLKS1D0F0.sock")
        check_on_target(t, sock, sock, 3)
        seed(d, VBLK_CLEANUP)
        eq((d.rpc("virtio_blk_controller_list"), d.rpc("bdev_get_bdevs")), ([], []), "after the cleanup")
        eq(d.stop(), 0, "exit code")


VBLK_125_VFS = """
spdk_rpc.py bdev_nvme_attach_controller -b nvme0 -t rdma -a 1.1.1.1 -f ipv4 -s 4420 -n nqn.2022-10.io.nvda.nvme:swx-storage
snap_rpc.py virtio_blk_controller_create --vuid MT2114X12200VBLKS1D0F0
for i in `seq 0 124`; do snap_rpc.py virtio_blk_controller_create --pf_id 0 --vf_id $i --bdev nvme0n1; done;
"""


@test
def seed_virtio_blk_125_vfs_on_one_bdev():
    with Remote() as t, daemon(["EMU_SERIAL=MT2114X12200", "SRIOV_EN=1", "VIRTIO_BLK_EMULATION_NUM_VF=125"],
                               t) as d:
        seed(d, VBLK_125_VFS)
        ctrls = d.rpc("virtio_blk_controller_list")
        eq(len(ctrls), 126, "controllers")
        eq([c["bdev"] for c in ctrls[1:]], ["nvme0n1"] * 125, "every VF on nvme0n1")
        eq(len({c["vblk_id"] for c in ctrls}), 126, "126 different serials")
        pf = [f for f in d.rpc("emulation_function_list", {"all": True}) if f["emulation_type"] == "VBLK"][0]
        # [host] echo 125 > sriov_numvfs (virtio-blk over vhost-user: the service-side RPC)
        seed(d, "snap_rpc.py emulation_function_set_num_vfs --vuid %s --num_vfs 125" % pf["vuid"])
        eq(d.rpc("emulation_function_list")[1]["num_vfs"], 125, "125 VFs enabled")
        # data through VF 0 reaches the target and reads back through VF 124
        check_on_target(t, os.path.join(d.emu_dir, pf["vfs"][0]["vuid"] + ".sock"),
                        os.path.join(d.emu_dir, pf["vfs"][124]["vuid"] + ".sock"), 9)
        # "To destroy a single virtio-blk controller, run:" (a typographic dash, from ./ in the tool's directory);
        # without it, refused while SR-IOV is on
        p = sh(d, "snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl5")
        check(p.returncode == 1 and "error: -16:" in p.stderr and "force" in p.stderr,
              "VblkCtrl5 destroyed without -f while its VF is enabled: %r" % p.stderr)
        seed(d, "./snap_rpc.py -t 1000 virtio_blk_controller_destroy -c VblkCtrl5 \u2013f", cwd=TOOLS)
        names = [c["ctrl_id"] for c in d.rpc("virtio_blk_controller_list")]
        eq((len(names), "VblkCtrl5" in names), (125, False), "VblkCtrl5 destroyed")
        eq(d.stop(), 0, "exit code")


VBLK_SUSPEND = """
snap_rpc.py virtio_blk_controller_suspend -c VBLKCtrl1
snap_rpc.py virtio_blk_controller_resume -c VBLKCtrl1
"""
VBLK_SWAP = """
snap_rpc.py virtio_blk_controller_bdev_detach -c VBLKCtrl1
snap_rpc.py virtio_blk_controller_bdev_attach -c VBLKCtrl1 --bdev null2
"""
VBLK_NONE = """
snap_rpc.py virtio_blk_controller_bdev_detach -c VBLKCtrl1
snap_rpc.py virtio_blk_controller_bdev_attach -c VblkCtrl1 --bdev none --dbg_bdev_type null
"""


@test
def seed_virtio_blk_suspend_resume_and_bdev_swap():
    with Remote() as t, daemon(["EMU_SERIAL=MT2114X12200"], t) as d:
        seed(d, VBLK_SINGLE)
        seed(d, "spdk_rpc.py bdev_null_create null2 64 512")    # the seed's null2 (setup)

        def state():
            c = d.rpc("virtio_blk_controller_list")[0]
            return c.get("state"), c["bdev"]
        seed(d, VBLK_SUSPEND.strip().splitlines()[0])
        eq(state(), ("SUSPENDED", "nvme0n1"), "after suspend")
        seed(d, VBLK_SUSPEND.strip().splitlines()[1])
        eq(state()[1], "nvme0n1", "after resume")
        check(state()[0] != "SUSPENDED", "still suspended after resume")
        seed(d, VBLK_SWAP)
        eq(state()[1], "null2", "after the bdev swap")
        seed(d, VBLK_NONE)
        eq(state()[1], "none", "after attaching 'none'")
        eq(d.stop(), 0, "exit code")


# ---- general, and what needs hot-plug -----------------------------------------------

@test
def seed_general_lines():
    with daemon(["EMU_SERIAL=MT2114X12200"]) as d:
        fns, res, params = seed(d, """
snap_rpc.py emulation_function_list
snap_rpc.py emulation_resource_list
snap_rpc.py snap_global_param_list
""")
        eq([f["vuid"] for f in fns], ["MT2114X12200NVMES1D0F0", "MT2114X12200VBLKS1D0F0"], "functions")
        eq(sorted(res[0]), ["num_available_msix_resources", "num_available_queue_resources"], "resources")
        check(any(p.startswith("SNAP_RPC_LOG_ENABLE") for p in params), "params %r" % params)
        seed(d, "snap_rpc.py emulation_function_list -a")
        eq(d.stop(), 0, "exit code")


# The hot-plug examples (seed 003, "Hotplug"), on an emulated PCIe switch and
# no static function of the example's type, so that the first hot-plugged PF
# is the example's S1D0F0. No VMM is given (no QMP socket): the function's
# endpoint appears at the hotplug and goes at the hotunplug.
HOTPLUG_SWITCH = ["PCI_SWITCH_EMULATION_ENABLE=1", "PCI_SWITCH_EMULATION_NUM_PORT=4"]

VBLK_TWO_STEP = """
spdk_rpc.py bdev_nvme_attach_controller -b nvme0 -t rdma -a 1.1.1.1 -f ipv4 -s 4420 -n nqn.2022-10.io.nvda.nvme:swx-storage
snap_rpc.py virtio_blk_function_create
snap_rpc.py virtio_blk_controller_create --vuid MT2114X12200VBLKS1D0F0 --bdev nvme0n1
snap_rpc.py virtio_blk_controller_hotplug -c VblkCtrl1 --wait_for_done
"""

VBLK_TWO_STEP_CLEANUP = """
snap_rpc.py virtio_blk_controller_hotunplug -c VblkCtrl1 --wait_for_done
snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl1
snap_rpc.py virtio_blk_function_destroy --vuid MT2114X12200VBLKS1D0F0
spdk_rpc.py bdev_nvme_detach_controller nvme0
"""

VBLK_LEGACY = """
spdk_rpc.py bdev_nvme_attach_controller -b nvme0 -t rdma -a 1.1.1.1 -f ipv4 -s 4420 -n nqn.2022-10.io.nvda.nvme:swx-storage
snap_rpc.py virtio_blk_emulation_device_attach
snap_rpc.py virtio_blk_controller_create --vuid MT2114X12200VBLKS1D0F0 --bdev nvme0n1
"""

VBLK_LEGACY_CLEANUP = """
snap_rpc.py emulation_device_detach_prepare --vuid MT2114X12200VBLKS1D0F0
snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl1
snap_rpc.py emulation_device_detach --vuid MT2114X12200VBLKS1D0F0
spdk_rpc.py bdev_nvme_detach_controller nvme0
"""

NVME_LEGACY = """
spdk_rpc.py bdev_nvme_attach_controller -b nvme0 -t rdma -a 1.1.1.1 -f ipv4 -s 4420 -n nqn.2022-10.io.nvda.nvme:swx-storage
snap_rpc.py nvme_subsystem_create --nqn nqn.2022-10.io.nvda.nvme:0
snap_rpc.py nvme_namespace_create -b nvme0n1 -n 1 --nqn nqn.2022-10.io.nvda.nvme:0 --uuid 263826ad-19a3-4feb-bc25-4bc81ee7749e
snap_rpc.py nvme_emulation_device_attach
snap_rpc.py nvme_controller_create --vuid MT240830045RNVMES1D0F0 --nqn nqn.2022-10.io.nvda.nvme:0 --suspended
snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl1 -n 1
snap_rpc.py nvme_controller_resume -c NVMeCtrl1
"""

NVME_LEGACY_CLEANUP = """
snap_rpc.py nvme_controller_detach_ns -c NVMeCtrl1 -n 1
snap_rpc.py emulation_device_detach_prepare --vuid MT240830045RNVMES1D0F0
snap_rpc.py nvme_controller_destroy -c NVMeCtrl1
snap_rpc.py emulation_device_detach --vuid MT240830045RNVMES1D0F0
snap_rpc.py nvme_namespace_destroy -n 1 --nqn nqn.2022-10.io.nvda.nvme:0
snap_rpc.py nvme_subsystem_destroy --nqn nqn.2022-10.io.nvda.nvme:0
spdk_rpc.py bdev_nvme_detach_controller nvme0
"""


def hotplugged(d, vuid):
    """The hot-plugged PF vuid's entry in emulation_function_list, or None."""
    fns = [f for f in d.rpc("emulation_function_list") if f["vuid"] == vuid]
    return fns[0] if fns else None


def seed_hotplug_virtio_blk(setup, cleanup, state_line):
    """Run a virtio-blk hot-plug example: setup (the function plugged, line
    state_line answering its state), a pattern through its endpoint, then
    cleanup: the function and its endpoint gone."""
    with Remote() as t, daemon(["EMU_SERIAL=MT2114X12200", "VIRTIO_BLK_EMULATION_NUM_PF=0"] + HOTPLUG_SWITCH,
                               t) as d:
        vuid = "MT2114X12200VBLKS1D0F0"
        sock = os.path.join(d.emu_dir, vuid + ".sock")
        outs = seed(d, setup)
        eq((outs[1]["vuid"], outs[state_line]["hotplug state"]), (vuid, "POWER_ON"), "the answers")
        f = hotplugged(d, vuid)
        eq((f["hotplugged"], f["hotplug state"], f["ctrl_id"]), (True, "POWER_ON", "VblkCtrl1"), "listed")
        # the function serves I/O: a pattern written, then read back
        e2e(sock, "--case", "file_pattern", "--seed", 3)
        e2e(sock, "--case", "pattern_check", "--seed", 3)
        seed(d, cleanup)
        eq((hotplugged(d, vuid), os.path.exists(sock)), (None, False), "function and endpoint gone")
        eq(d.rpc("virtio_blk_controller_list"), [], "no controller left")
        eq(d.stop(), 0, "exit code")


@test
def seed_hotplug_virtio_blk_two_step():
    seed_hotplug_virtio_blk(VBLK_TWO_STEP, VBLK_TWO_STEP_CLEANUP, 3)


@test
def seed_hotplug_virtio_blk_legacy():
    seed_hotplug_virtio_blk(VBLK_LEGACY, VBLK_LEGACY_CLEANUP, 1)


@test
def seed_hotplug_nvme_legacy():
    with Remote() as t, daemon(["EMU_SERIAL=MT240830045R", "NVME_EMULATION_NUM_PF=0"] + HOTPLUG_SWITCH, t) as d:
        vuid = "MT240830045RNVMES1D0F0"
        outs = seed(d, NVME_LEGACY)
        eq((outs[3]["vuid"], outs[3]["hotplug state"]), (vuid, "POWER_ON"), "the attach's answer")
        eq(outs[4]["ctrl_id"], "NVMeCtrl1", "nvme_controller_create's answer")
        check(os.path.exists(os.path.join(d.emu_dir, vuid + ".sock")), "the vfio-user endpoint is up")
        seed(d, NVME_LEGACY_CLEANUP)
        eq(hotplugged(d, vuid), None, "function gone")
        eq((d.rpc("nvme_controller_list"), d.rpc("nvme_subsystem_list"), d.rpc("bdev_get_bdevs")), ([], [], []),
           "everything gone after the cleanup")
        eq(d.stop(), 0, "exit code")


if __name__ == "__main__":
    main()
