#!/usr/bin/env python3
"""osnap-rpc without osnapd: every command line of the SNAP documentation
(seeds 003/004, copied here as data) through --dry-run, also under the
snap_rpc.py / spdk_rpc.py link names; help of every method; usage errors;
and the client side of the wire against a small fake server (replies split
across reads, error replies, refused connections, timeouts)."""
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import osnaptest  # noqa: E402
from osnaptest import test, eq, check, main, Skip  # noqa: E402

TOOL_DIR = os.path.join(osnaptest.BUILD, "tools", "osnap-rpc")
NQN0 = "nqn.2022-10.io.nvda.nvme:0"
NQN23 = "nqn.2023-05.io.nvda.nvme:0"
VBLK_VUID = "MT2114X12200VBLKS1D0F0"
NVME_VUID = "MT240830045RNVMES1D0F0"
UUID = "263826ad-19a3-4feb-bc25-4bc81ee7749e"
ATTACH = ("spdk_rpc.py bdev_nvme_attach_controller -b nvme0 -t rdma -a 1.1.1.1 -f ipv4 -s 4420 "
          "-n nqn.2022-10.io.nvda.nvme:swx-storage")
ATTACH_PARAMS = {"name": "nvme0", "trtype": "rdma", "traddr": "1.1.1.1", "adrfam": "ipv4",
                 "trsvcid": "4420", "subnqn": "nqn.2022-10.io.nvda.nvme:swx-storage"}

# (command line as written in the seeds, method, params or None)
SEED_LINES = [
    # 003: RPC intro
    ("snap_rpc.py emulation_function_list", "emulation_function_list", None),
    # 003: virtio-blk two-step hotplug example
    (ATTACH, "bdev_nvme_attach_controller", ATTACH_PARAMS),
    ("snap_rpc.py virtio_blk_function_create", "virtio_blk_function_create", None),
    ("snap_rpc.py virtio_blk_controller_create --vuid MT2114X12200VBLKS1D0F0 --bdev nvme0n1",
     "virtio_blk_controller_create", {"vuid": VBLK_VUID, "bdev": "nvme0n1"}),
    ("snap_rpc.py virtio_blk_controller_hotplug -c VblkCtrl1 --wait_for_done",
     "virtio_blk_controller_hotplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True}),
    ("snap_rpc.py virtio_blk_controller_hotunplug -c VblkCtrl1 --wait_for_done",
     "virtio_blk_controller_hotunplug", {"ctrl_id": "VblkCtrl1", "wait_for_done": True}),
    ("snap_rpc.py virtio_blk_controller_destroy -c VblkCtrl1",
     "virtio_blk_controller_destroy", {"ctrl_id": "VblkCtrl1"}),
    ("snap_rpc.py virtio_blk_function_destroy --vuid MT2114X12200VBLKS1D0F0",
     "virtio_blk_function_destroy", {"vuid": VBLK_VUID}),
    ("spdk_rpc.py bdev_nvme_detach_controller nvme0", "bdev_nvme_detach_controller", {"name": "nvme0"}),
    # 003: virtio-blk legacy hotplug example
    ("snap_rpc.py virtio_blk_emulation_device_attach", "virtio_blk_emulation_device_attach", None),
    ("snap_rpc.py emulation_device_detach_prepare --vuid MT2114X12200VBLKS1D0F0",
     "emulation_device_detach_prepare", {"vuid": VBLK_VUID}),
    ("snap_rpc.py emulation_device_detach --vuid MT2114X12200VBLKS1D0F0",
     "emulation_device_detach", {"vuid": VBLK_VUID}),
    # 003: NVMe hotplug example
    ("snap_rpc.py nvme_subsystem_create --nqn nqn.2022-10.io.nvda.nvme:0",
     "nvme_subsystem_create", {"nqn": NQN0}),
    ("snap_rpc.py nvme_namespace_create -b nvme0n1 -n 1 --nqn nqn.2022-10.io.nvda.nvme:0 "
     "--uuid 263826ad-19a3-4feb-bc25-4bc81ee7749e",
     "nvme_namespace_create", {"bdev_name": "nvme0n1", "nsid": 1, "nqn": NQN0, "uuid": UUID}),
    ("snap_rpc.py nvme_emulation_device_attach", "nvme_emulation_device_attach", None),
    ("snap_rpc.py nvme_controller_create --vuid MT240830045RNVMES1D0F0 --nqn nqn.2022-10.io.nvda.nvme:0 "
     "--suspended", "nvme_controller_create", {"vuid": NVME_VUID, "nqn": NQN0, "suspended": True}),
    ("snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl1 -n 1",
     "nvme_controller_attach_ns", {"ctrl_id": "NVMeCtrl1", "nsid": 1}),
    ("snap_rpc.py nvme_controller_resume -c NVMeCtrl1", "nvme_controller_resume", {"ctrl_id": "NVMeCtrl1"}),
    ("snap_rpc.py nvme_controller_detach_ns -c NVMeCtrl1 -n 1",
     "nvme_controller_detach_ns", {"ctrl_id": "NVMeCtrl1", "nsid": 1}),
    ("snap_rpc.py emulation_device_detach_prepare --vuid MT240830045RNVMES1D0F0",
     "emulation_device_detach_prepare", {"vuid": NVME_VUID}),
    ("snap_rpc.py nvme_controller_destroy -c NVMeCtrl1", "nvme_controller_destroy", {"ctrl_id": "NVMeCtrl1"}),
    ("snap_rpc.py emulation_device_detach --vuid MT240830045RNVMES1D0F0",
     "emulation_device_detach", {"vuid": NVME_VUID}),
    ("snap_rpc.py nvme_namespace_destroy -n 1 --nqn nqn.2022-10.io.nvda.nvme:0",
     "nvme_namespace_destroy", {"nsid": 1, "nqn": NQN0}),
    ("snap_rpc.py nvme_subsystem_destroy --nqn nqn.2022-10.io.nvda.nvme:0",
     "nvme_subsystem_destroy", {"nqn": NQN0}),
    # 003: bdev detach advice
    ("snap_rpc.py virtio_blk_controller_bdev_attach -c VblkCtrl1 --bdev none --dbg_bdev_type null",
     "virtio_blk_controller_bdev_attach", {"ctrl_id": "VblkCtrl1", "bdev": "none", "dbg_bdev_type": "null"}),
    # 003: virtio-blk 125 VFs (one loop iteration, i=0)
    ("snap_rpc.py virtio_blk_controller_create --vuid MT2114X12200VBLKS1D0F0",
     "virtio_blk_controller_create", {"vuid": VBLK_VUID}),
    ("snap_rpc.py virtio_blk_controller_create --pf_id 0 --vf_id 0 --bdev nvme0n1",
     "virtio_blk_controller_create", {"pf_id": 0, "vf_id": 0, "bdev": "nvme0n1"}),
    # the seed's own line: global -t, and an en dash (U+2013) before f
    ("./snap_rpc.py -t 1000 virtio_blk_controller_destroy -c VblkCtrl5 \u2013f",
     "virtio_blk_controller_destroy", {"ctrl_id": "VblkCtrl5", "force": True}),
    # 003: suspend/resume, bdev detach/attach examples
    ("snap_rpc.py virtio_blk_controller_suspend -c VBLKCtrl1", "virtio_blk_controller_suspend",
     {"ctrl_id": "VBLKCtrl1"}),
    ("snap_rpc.py virtio_blk_controller_resume -c VBLKCtrl1", "virtio_blk_controller_resume",
     {"ctrl_id": "VBLKCtrl1"}),
    ("snap_rpc.py virtio_blk_controller_bdev_detach -c VBLKCtrl1", "virtio_blk_controller_bdev_detach",
     {"ctrl_id": "VBLKCtrl1"}),
    ("snap_rpc.py virtio_blk_controller_bdev_attach -c VBLKCtrl1 --bdev null2",
     "virtio_blk_controller_bdev_attach", {"ctrl_id": "VBLKCtrl1", "bdev": "null2"}),
    # 003: NVMe single controller configuration and cleanup
    ("snap_rpc.py nvme_controller_create --nqn nqn.2022-10.io.nvda.nvme:0 --pf_id 0 --suspended",
     "nvme_controller_create", {"nqn": NQN0, "pf_id": 0, "suspended": True}),
    ("snap_rpc.py nvme_controller_detach_ns -c NVMeCtrl2 -n 1", "nvme_controller_detach_ns",
     {"ctrl_id": "NVMeCtrl2", "nsid": 1}),
    ("snap_rpc.py nvme_controller_destroy -c NVMeCtrl2", "nvme_controller_destroy", {"ctrl_id": "NVMeCtrl2"}),
    # 003: NVMe 125 VFs: the PF controller, then one loop iteration (i=0)
    ("snap_rpc.py nvme_controller_create --nqn nqn.2022-10.io.nvda.nvme:0 --ctrl NVMeCtrl1 --pf_id 0 "
     "--admin_only", "nvme_controller_create",
     {"nqn": NQN0, "ctrl_id": "NVMeCtrl1", "pf_id": 0, "admin_only": True}),
    ("spdk_rpc.py bdev_null_create null1 64 512", "bdev_null_create",
     {"name": "null1", "num_blocks": 131072, "block_size": 512}),
    ("snap_rpc.py nvme_namespace_create -b null1 -n 1 --nqn nqn.2022-10.io.nvda.nvme:0 "
     "--uuid 3d9c3b54-5c31-410a-b4f0-7cf2afd9e100", "nvme_namespace_create",
     {"bdev_name": "null1", "nsid": 1, "nqn": NQN0, "uuid": "3d9c3b54-5c31-410a-b4f0-7cf2afd9e100"}),
    ("snap_rpc.py nvme_controller_create --nqn nqn.2022-10.io.nvda.nvme:0 --ctrl NVMeCtrl2 --pf_id 0 "
     "--vf_id 0 --suspended", "nvme_controller_create",
     {"nqn": NQN0, "ctrl_id": "NVMeCtrl2", "pf_id": 0, "vf_id": 0, "suspended": True}),
    ("snap_rpc.py nvme_controller_attach_ns -c NVMeCtrl2 -n 1", "nvme_controller_attach_ns",
     {"ctrl_id": "NVMeCtrl2", "nsid": 1}),
    # the seed writes "NVMeCtrl$(i+2)" (a typo for $((i+2))); the intent is NVMeCtrl2
    ("snap_rpc.py nvme_controller_resume -c NVMeCtrl2", "nvme_controller_resume", {"ctrl_id": "NVMeCtrl2"}),
    # 004: snap_rpc_init.conf line (no program word; en dash standing for "--")
    ("virtio_blk_controller_create \u2013pf_id 0", "virtio_blk_controller_create", {"pf_id": 0}),
    # 004: SRQ, with <RDMA_SRQ_SIZE> = 4096
    ("spdk_rpc.py bdev_nvme_set_options --rdma-srq-size 4096", "bdev_nvme_set_options",
     {"rdma_srq_size": 4096}),
    # 004: custom bdev example (crictl exec $SNAP_ID dropped)
    ("spdk_rpc.py bdev_malloc_create 32 4096 -b Malloc0", "bdev_malloc_create",
     {"num_blocks": 8192, "block_size": 4096, "name": "Malloc0"}),
    ("spdk_rpc.py construct_ext_passthru_bdev -b Malloc0 -p TestPT", "construct_ext_passthru_bdev",
     {"base_bdev_name": "Malloc0", "name": "TestPT"}),
    ("spdk_rpc.py --plugin bdev_passthru construct_ext_passthru_bdev -b Malloc0 -p TestPT",
     "construct_ext_passthru_bdev", {"base_bdev_name": "Malloc0", "name": "TestPT"}),
    ("snap_rpc.py nvme_subsystem_create --nqn nqn.2023-05.io.nvda.nvme:0", "nvme_subsystem_create",
     {"nqn": NQN23}),
    ("snap_rpc.py nvme_controller_create --nqn nqn.2023-05.io.nvda.nvme:0 --pf_id 0 --ctrl NVMeCtrl0 "
     "--suspended", "nvme_controller_create",
     {"nqn": NQN23, "pf_id": 0, "ctrl_id": "NVMeCtrl0", "suspended": True}),
    ("snap_rpc.py nvme_namespace_create --nqn nqn.2023-05.io.nvda.nvme:0 --bdev_name TestPT --nsid 1",
     "nvme_namespace_create", {"nqn": NQN23, "bdev_name": "TestPT", "nsid": 1}),
    ("snap_rpc.py nvme_controller_attach_ns --ctrl NVMeCtrl0 --nsid 1", "nvme_controller_attach_ns",
     {"ctrl_id": "NVMeCtrl0", "nsid": 1}),
    ("snap_rpc.py nvme_controller_resume --ctrl NVMeCtrl0", "nvme_controller_resume",
     {"ctrl_id": "NVMeCtrl0"}),
    # reference/snap_rpc.md: the multi-letter short options
    ("snap_rpc.py nvme_subsystem_create -s nqn.2022-10.io.nvda.nvme:0 -mn 'BF3 SNAP Ctrl' -sn X "
     "-mnan 1024 -nn 1024", "nvme_subsystem_create",
     {"nqn": NQN0, "model_number": "BF3 SNAP Ctrl", "serial_number": "X", "mnan": 1024, "nn": 1024}),
    ("snap_rpc.py emulation_function_list -a", "emulation_function_list", {"all": True}),
    ("snap_rpc.py snap_log_level_set -l 4", "snap_log_level_set", {"level": 4}),
    ("snap_rpc.py nvme_controller_suspend -c NVMeCtrl3 --live_update_notifier --timeout_ms 20",
     "nvme_controller_suspend", {"ctrl_id": "NVMeCtrl3", "live_update_notifier": True, "timeout_ms": 20}),
    ("spdk_rpc.py sock_set_default_impl -i posix", "sock_set_default_impl", {"impl_name": "posix"}),
]


def tool():
    for p in (osnaptest.OSNAP_RPC, os.path.join(TOOL_DIR, "osnap-rpc")):
        if os.access(p, os.X_OK):
            return p
    raise AssertionError("osnap-rpc not built (looked in %s and %s)" % (osnaptest.OSNAP_RPC, TOOL_DIR))


def link(name):
    """The snap_rpc.py / spdk_rpc.py link of the build (beside the tool)."""
    p = os.path.join(TOOL_DIR, name)
    check(os.path.islink(p) and os.access(p, os.X_OK), "%s is not a link to osnap-rpc" % p)
    return p


def run(argv, stdin=None, timeout=30):
    return subprocess.run(argv, capture_output=True, text=True, input=stdin, timeout=timeout)


def seed_argv(line, dry_run=True):
    """argv for a seed line: its program word replaced by our build's tool."""
    words = shlex.split(line)
    prog = os.path.basename(words[0])
    if prog in ("snap_rpc.py", "spdk_rpc.py"):
        exe, rest = link(prog), words[1:]
    else:
        exe, rest = tool(), words
    return [exe] + (["--dry-run"] if dry_run else []) + rest


def request_of(p, what):
    check(p.returncode == 0, "%s: exit %d: %s" % (what, p.returncode, p.stderr))
    try:
        return json.loads(p.stdout)
    except ValueError:
        raise AssertionError("%s: output is not JSON: %r" % (what, p.stdout))


@test
def seed_lines_dry_run():
    for line, method, params in SEED_LINES:
        req = request_of(run(seed_argv(line)), line)
        want = {"jsonrpc": "2.0", "method": method, "id": 1}
        if params is not None:
            want["params"] = params
        eq(req, want, line)


@test
def seed_lines_through_osnap_rpc_name():
    """The same lines with osnap-rpc itself in place of the program word."""
    for line, method, params in SEED_LINES:
        words = shlex.split(line)
        if os.path.basename(words[0]) in ("snap_rpc.py", "spdk_rpc.py"):
            words = words[1:]
        req = request_of(run([tool(), "--dry-run"] + words), line)
        eq(req.get("method"), method, line)
        eq(req.get("params"), params, line)


@test
def links_in_build_root():
    for name in ("snap_rpc.py", "spdk_rpc.py"):
        p = os.path.join(osnaptest.BUILD, name)
        check(os.path.exists(p), "%s missing" % p)
        eq(os.path.realpath(p), os.path.realpath(os.path.join(TOOL_DIR, "osnap-rpc")), name)
        req = request_of(run([p, "--dry-run", "nvme_subsystem_list"]), name)
        eq(req, {"jsonrpc": "2.0", "method": "nvme_subsystem_list", "id": 1}, name)


def listed_methods():
    p = run([tool(), "-h"])
    eq(p.returncode, 0, "osnap-rpc -h")
    lines = p.stdout.splitlines()
    check("methods:" in lines, "no 'methods:' section in osnap-rpc -h")
    methods = [l.split()[0] for l in lines[lines.index("methods:") + 1:] if l.strip()]
    check(len(methods) > 60, "only %d methods listed" % len(methods))
    return methods


@test
def help_of_every_method():
    methods = listed_methods()
    for must in ("emulation_function_list", "emulation_resource_list", "nvme_controller_snapshot_get",
                 "virtio_blk_controller_vfs_msix_reclaim", "bdev_dbg_io", "bdev_nvme_set_options",
                 "construct_ext_passthru_bdev", "osnap_get_version", "snap_global_param_list"):
        check(must in methods, "%s not listed" % must)
    for m in methods:
        for flag in ("-h", "--help"):
            p = run([tool(), m, flag])
            eq(p.returncode, 0, "%s %s" % (m, flag))
            check(("usage: osnap-rpc %s" % m) in p.stdout, "%s %s: no usage line" % (m, flag))
    p = run([link("snap_rpc.py"), "-h"])
    eq(p.returncode, 0, "snap_rpc.py -h")
    check("nvme_controller_create" in p.stdout, "snap_rpc.py -h lists no methods")


@test
def unknown_method_fails():
    p = run([tool(), "--dry-run", "no_such_method"])
    eq(p.returncode, 1, "exit status")
    check("no_such_method" in p.stderr, "message does not name the method: %r" % p.stderr)
    eq(p.stdout, "", "stdout")


@test
def missing_required_arguments():
    cases = [
        (["nvme_namespace_create", "-s", NQN0, "-b", "Malloc0"], "-n/--nsid"),
        (["nvme_controller_attach_ns", "-n", "1"], "-c/--ctrl"),
        (["nvme_subsystem_create"], "-s/--nqn"),
        (["bdev_malloc_create", "-b", "M"], "total_size"),
        (["bdev_nvme_attach_controller", "-b", "n", "-t", "tcp"], "-a/--traddr"),
        (["virtio_blk_function_destroy"], "--vuid"),
    ]
    for args, name in cases:
        for exe in (tool(), link("snap_rpc.py")):
            p = run([exe, "--dry-run"] + args)
            check(p.returncode != 0, "%s succeeded" % args)
            check("required" in p.stderr and name in p.stderr,
                  "%s: message %r does not name %s" % (args, p.stderr, name))
            eq(p.stdout, "", "stdout of %s" % args)


@test
def usage_errors():
    cases = [
        (["nvme_namespace_create", "-s", "q", "-b", "B", "--nsid", "x"], "invalid int value: 'x'"),
        (["nvme_subsystem_list", "--bogus"], "unrecognized arguments: --bogus"),
        (["bdev_dbg_io", "-b", "M", "-o", "erase"], "invalid choice: 'erase'"),
    ]
    for args, msg in cases:
        p = run([tool(), "--dry-run"] + args)
        eq(p.returncode, 2, "exit status of %s" % args)
        check(msg in p.stderr, "%s: %r lacks %r" % (args, p.stderr, msg))
    # global options only before METHOD; unknown global options are errors
    p = run([tool(), "--bogus", "nvme_subsystem_list"])
    eq(p.returncode, 2, "unknown global option")
    p = run([tool()])
    check(p.returncode != 0 and "METHOD" in p.stderr, "no METHOD: %r" % p.stderr)


@test
def raw_mode():
    p = run([tool(), "--dry-run", "--raw", "anything_at_all", '{"k": 1, "s": [1, 2]}'])
    eq(request_of(p, "raw"), {"jsonrpc": "2.0", "method": "anything_at_all", "id": 1,
                              "params": {"k": 1, "s": [1, 2]}}, "raw params")
    p = run([tool(), "--dry-run", "-r", "nvme_namespace_create", "-"], stdin='{"nsid": "not checked"}')
    eq(request_of(p, "raw stdin"), {"jsonrpc": "2.0", "method": "nvme_namespace_create", "id": 1,
                                    "params": {"nsid": "not checked"}}, "raw stdin")
    p = run([tool(), "--dry-run", "-r", "spdk_get_version"])
    eq(request_of(p, "raw none"), {"jsonrpc": "2.0", "method": "spdk_get_version", "id": 1}, "raw none")
    p = run([tool(), "--dry-run", "-r", "m", "{bad"])
    eq(p.returncode, 2, "bad raw JSON")


class FakeServer:
    """A Unix socket that answers each request with scripted bytes."""

    def __init__(self, reply_chunks=None, delay=0.05, close_without_reply=False, silent=False):
        self.dir = tempfile.mkdtemp(prefix="osnap-cli-")
        self.path = os.path.join(self.dir, "fake.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(self.path)
        self.sock.listen(4)
        self.reply_chunks = reply_chunks or []
        self.delay = delay
        self.close_without_reply = close_without_reply
        self.silent = silent
        self.requests = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(10)
            buf = b""
            dec = json.JSONDecoder()
            while True:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
                try:
                    obj, _ = dec.raw_decode(buf.decode())
                    break
                except ValueError:
                    continue
            self.requests.append(obj)
            if self.close_without_reply:
                return
            if self.silent:
                time.sleep(3)
                return
            for c in self.reply_chunks:
                conn.sendall(c if isinstance(c, bytes) else c.encode())
                time.sleep(self.delay)

    def close(self):
        self.sock.close()
        try:
            os.unlink(self.path)
            os.rmdir(self.dir)
        except OSError:
            pass


def split_bytes(text, n):
    """text cut into n pieces, also in the middle of tokens."""
    data = text.encode()
    step = max(1, len(data) // n)
    return [data[i:i + step] for i in range(0, len(data), step)]


@test
def client_reads_a_split_reply():
    result = {"nqn": NQN0, "namespaces": [{"nsid": i, "bdev": "null%d" % i} for i in range(200)],
              "ok": True, "x": None, "f": 1.5}
    reply = json.dumps({"jsonrpc": "2.0", "id": 1, "result": result})
    srv = FakeServer(split_bytes(reply, 7))
    try:
        p = run([tool(), "-s", srv.path, "nvme_subsystem_create", "-s", NQN0])
        eq(p.returncode, 0, "exit status (%s)" % p.stderr)
        eq(json.loads(p.stdout), result, "printed result")
        check(p.stdout.startswith("{\n  \""), "result not indented by 2: %r" % p.stdout[:20])
        eq(srv.requests, [{"jsonrpc": "2.0", "method": "nvme_subsystem_create", "id": 1,
                           "params": {"nqn": NQN0}}], "request on the wire")
    finally:
        srv.close()


@test
def client_prints_string_and_bool_results():
    for result in ("Malloc0", True):
        srv = FakeServer([json.dumps({"jsonrpc": "2.0", "id": 1, "result": result})])
        try:
            p = run([link("spdk_rpc.py"), "-s", srv.path, "bdev_malloc_create", "8", "512"])
            eq(p.returncode, 0, "exit status (%s)" % p.stderr)
            eq(json.loads(p.stdout), result, "printed result")
            eq(srv.requests[0]["params"], {"num_blocks": 16384, "block_size": 512}, "params")
        finally:
            srv.close()


@test
def client_error_reply():
    err = {"code": -32602, "message": "Invalid parameters: nsid: must be 1..4294967294"}
    srv = FakeServer(split_bytes(json.dumps({"jsonrpc": "2.0", "id": 1, "error": err}), 3))
    try:
        p = run([tool(), "-s", srv.path, "nvme_controller_attach_ns", "-c", "C", "-n", "0"])
        eq(p.returncode, 1, "exit status")
        check("-32602" in p.stderr and "must be 1..4294967294" in p.stderr,
              "error text %r lacks code or message" % p.stderr)
        eq(p.stdout, "", "stdout")
    finally:
        srv.close()


@test
def client_verbose_prints_request():
    srv = FakeServer([json.dumps({"jsonrpc": "2.0", "id": 1, "result": []})])
    try:
        p = run([tool(), "-v", "-s", srv.path, "nvme_subsystem_list"])
        eq(p.returncode, 0, "exit status (%s)" % p.stderr)
        check('"method": "nvme_subsystem_list"' in p.stderr, "request not on stderr: %r" % p.stderr)
        eq(json.loads(p.stdout), [], "result")
    finally:
        srv.close()


@test
def client_connection_failures():
    d = tempfile.mkdtemp(prefix="osnap-cli-")
    missing = os.path.join(d, "nobody.sock")
    p = run([tool(), "-s", missing, "spdk_get_version"])
    eq(p.returncode, 1, "exit status")
    check(missing in p.stderr, "message does not name the socket: %r" % p.stderr)
    os.rmdir(d)
    srv = FakeServer(close_without_reply=True)
    try:
        p = run([tool(), "-s", srv.path, "spdk_get_version"])
        eq(p.returncode, 1, "closed without reply")
        check(srv.path in p.stderr, "message does not name the socket: %r" % p.stderr)
    finally:
        srv.close()
    srv = FakeServer([b'{"jsonrpc": "2.0", "id": 1, "res'], close_without_reply=False)
    try:
        p = run([tool(), "-s", srv.path, "spdk_get_version"])
        eq(p.returncode, 1, "truncated reply")
    finally:
        srv.close()


@test
def client_timeout():
    srv = FakeServer(silent=True)
    try:
        t0 = time.time()
        p = run([tool(), "-t", "0.5", "-s", srv.path, "spdk_get_version"])
        eq(p.returncode, 1, "exit status")
        check(time.time() - t0 < 2.5, "timeout took %.1fs" % (time.time() - t0))
        check("timed out" in p.stderr, "message: %r" % p.stderr)
    finally:
        srv.close()


if __name__ == "__main__":
    main()
