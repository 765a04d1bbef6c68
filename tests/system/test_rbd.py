#!/usr/bin/env python3
"""System tests of the Ceph RBD bdev (src/bdev/modules/rbd, issue 14).

A single-node Ceph cluster (lib/ceph_cluster.py: one mon, one mgr, one
bluestore OSD, cephx, pool size 1, loopback only, in a temporary directory)
is started once for the whole program and removed at the end. When it cannot
start (Ceph not installed, not root, ...) the cases that need it are skipped
with the reason; the parameter checks run anyway.

(a) parameter errors answer -32602 naming the parameter and change nothing;
    an unreachable cluster fails within the bounded connect timeout while
    the main thread keeps answering other RPCs;
(b) register/get_clusters_info/unregister, create (through a registered
    cluster and through a handle of the bdev's own), the listed fields,
    save_config, delete;
(c) the bytes: written through osnap, read back by `rbd export`; put in the
    image by `rbd import`, read through osnap; a snapshot (IMAGE@SNAP) opened
    read-only keeps its bytes while the image changes;
(d) verified random I/O (osnap-perf --verify) through an emulated NVMe
    controller and a virtio-blk controller (vhost-user);
(e) resize through bdev_rbd_resize and by `rbd resize` (the image watch):
    the bdev grows, I/O past the old end works; shrinking is refused;
(f) the whole cluster stopped under I/O: the guest side gets errors (with
    rados_osd_op_timeout set), osnapd stays up, and I/O verifies again once
    the cluster is back; with Ceph's default (no OSD op timeout) an OSD
    restart under I/O only delays it: no error, every block verifies.
"""
import atexit
import base64
import json
import os
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import ceph_cluster  # noqa: E402
import osnaptest  # noqa: E402
from osnaptest import Daemon, RpcError, Skip, check, eq, main, test  # noqa: E402

PERF = os.path.join(osnaptest.BUILD, "tools", "osnap-perf", "osnap-perf")
NQN = "nqn.2026-01.io.osnap:rbd"
MIB = 1 << 20

_cluster = None
_cluster_error = None


def cluster():
    """The shared cluster, started on first use; Skip when it cannot start."""
    global _cluster, _cluster_error
    if _cluster is None and _cluster_error is None:
        c = ceph_cluster.Cluster()
        try:
            c.start()
            _cluster = c
            atexit.register(c.destroy)
            print("# ceph cluster started in %.1f s (%s)" % (c.start_seconds, c.dir), flush=True)
        except (ceph_cluster.CephError, OSError, subprocess.TimeoutExpired) as e:
            _cluster_error = "the Ceph test cluster cannot start: %s" % e
            print("# " + _cluster_error, flush=True)
            for name in ("mon.a", "osd.0", "mgr.x"):
                tail = c.log_tail(name, 10)
                if tail:
                    print("# --- %s log:\n# " % name + tail.replace("\n", "\n# "), flush=True)
            c.destroy()
    if _cluster_error:
        raise Skip(_cluster_error)
    return _cluster


def has_rbd(d):
    methods = d.rpc("rpc_get_methods")
    if "bdev_rbd_create" not in methods:
        raise Skip("osnapd was built without librbd (librbd-dev, scripts/deps.sh)")


def new_image(c, name, size_mib):
    c.run("rbd", "create", "--size", "%dM" % size_mib, "rbd/" + name)
    return name


def register(d, c, name="ceph", **extra):
    params = {"name": name, "config_file": c.conf}
    params.update(extra)
    eq(d.rpc("bdev_rbd_register_cluster", params), name, "register_cluster result")


def create(d, name, image, bs=512, **extra):
    params = {"name": name, "pool_name": "rbd", "rbd_name": image, "block_size": bs}
    params.update(extra)
    eq(d.rpc("bdev_rbd_create", params), name, "bdev_rbd_create result")


def endpoint(d, kind):
    for f in d.rpc("emulation_function_list"):
        if f["emulation_type"] == kind and f["pf_index"] == 0:
            return os.path.join(d.emu_dir, f["vuid"] + ".sock")
    raise AssertionError("no %s PF 0" % kind)


def nvme_target(d, bdev):
    d.rpc("nvme_subsystem_create", {"nqn": NQN})
    d.rpc("nvme_namespace_create", {"nqn": NQN, "nsid": 1, "bdev_name": bdev})
    d.rpc("nvme_controller_create", {"nqn": NQN, "pf_id": 0, "num_queues": 2})
    d.rpc("nvme_controller_attach_ns", {"ctrl_id": "NVMeCtrl1", "nsid": 1})
    return ["--vfio-user", endpoint(d, "NVME"), "--nvme"]


def vblk_target(d, bdev):
    d.rpc("virtio_blk_controller_create", {"pf_id": 0, "bdev": bdev, "num_queues": 2})
    return ["--vhost-user", endpoint(d, "VBLK")]


def perf(target, *args, timeout=120):
    cmd = [PERF] + target + [str(a) for a in args] + ["--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                       stdin=subprocess.DEVNULL)
    try:
        r = json.loads(p.stdout)
    except ValueError:
        r = None
    return p.returncode, r, p.stderr


def verified_io(target, state, size=2 * MIB):
    """Every 4 KiB block of the first size bytes written (stamped), then all
    read back and checked; then random mixed I/O over them, checked too."""
    n = size // 4096
    rng = ["--size", size, "-b", 4096, "--verify", "--verify-state", state]
    rc, r, err = perf(target, "-w", "write", "-n", n, "-q", 8, "-j", 2, *rng)
    eq(rc, 0, "write pass exit (stderr: %s)" % err[-2000:])
    eq((r["ios"], r["errors"]), (n, 0), "write pass: blocks written, errors")
    rc, r, err = perf(target, "-w", "read", "-n", n, "-q", 8, "-j", 2, *rng)
    eq(rc, 0, "read pass exit (stderr: %s)" % err[-2000:])
    eq((r["verify_checked"], r["errors"]), (n, 0), "read pass: blocks verified, errors")
    rc, r, err = perf(target, "-w", "randrw", "-q", 8, "-t", 3, *rng)
    eq(rc, 0, "randrw exit (stderr: %s)" % err[-2000:])
    eq(r["errors"], 0, "randrw errors")
    check(r["read"]["ios"] > 0 and r["write"]["ios"] > 0, "reads and writes: %r" % r)
    return r


def dbg_write(d, bdev, lba, data):
    d.rpc("bdev_dbg_io", {"name": bdev, "op": "write", "offset_blocks": lba,
                          "num_blocks": len(data) // 512, "data": base64.b64encode(data).decode()})


def dbg_read(d, bdev, lba, nblocks):
    r = d.rpc("bdev_dbg_io", {"name": bdev, "op": "read", "offset_blocks": lba,
                              "num_blocks": nblocks})
    return base64.b64decode(r["data"])


def wait_for(what, fn, timeout):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(0.1)
    raise AssertionError("timeout (%ds) waiting for %s" % (timeout, what))


# ---- (a) parameters and an unreachable cluster -------------------------------------------

@test
def bad_parameters():
    with Daemon() as d:
        has_rbd(d)
        base = {"name": "r0", "pool_name": "rbd", "rbd_name": "img", "block_size": 512}
        cases = [
            ({"block_size": 500}, "block_size"),
            ({"block_size": 0}, "block_size"),
            ({"pool_name": ""}, "pool_name"),
            ({"rbd_name": 7}, "rbd_name"),
            ({"rbd_name": "img@"}, "rbd_name"),
            ({"rbd_name": "@snap"}, "rbd_name"),
            ({"config": "mon_host=x"}, "config"),
            ({"config": {"mon_host": 1}}, "config"),
            ({"cluster_name": "nope"}, "cluster_name"),
            ({"cluster_name": "nope", "user_id": "admin"}, "user_id"),
            ({"read_only": "yes"}, "read_only"),
            ({"bogus": 1}, "bogus"),
        ]
        for change, param in cases:
            p = dict(base)
            p.update(change)
            e = d.rpc_error("bdev_rbd_create", p)
            eq(e.code, -32602, "code for %r" % change)
            check(param in e.message, "message names %s: %s" % (param, e.message))
        p = dict(base)
        del p["pool_name"]
        e = d.rpc_error("bdev_rbd_create", p)
        eq(e.code, -32602, "code without pool_name")
        check("pool_name" in e.message, e.message)
        e = d.rpc_error("bdev_rbd_register_cluster", {"name": "c", "config_param": ["a=b"]})
        eq(e.code, -32602, "register with a list config_param")
        check("config_param" in e.message, e.message)
        e = d.rpc_error("bdev_rbd_resize", {"name": "r0", "new_size": -1})
        eq(e.code, -32602, "negative new_size")
        e = d.rpc_error("bdev_rbd_resize", {"name": "nope", "new_size": 1})
        eq(e.code, -19, "resize of an unknown bdev (ENODEV)")
        e = d.rpc_error("bdev_rbd_unregister_cluster", {"name": "nope"})
        eq(e.code, -19, "unregister of an unknown cluster (ENODEV)")
        e = d.rpc_error("bdev_rbd_get_clusters_info", {})
        eq(e.code, -2, "get_clusters_info with none registered (ENOENT, as SPDK)")
        eq(d.rpc("bdev_get_bdevs"), [], "no bdev after the failures")


@test
def unreachable_cluster_is_bounded():
    """A mon that does not answer: the create fails after client_mount_timeout
    (given as 3 s) with a message saying so; other RPCs are answered meanwhile."""
    with Daemon() as d:
        has_rbd(d)
        port = ceph_cluster._free_port()
        params = {"name": "r0", "pool_name": "rbd", "rbd_name": "img", "block_size": 512,
                  "config": {"mon_host": "127.0.0.1:%d" % port, "key":
                             "AQBvaXBlAAAAABAAqqrL3Ohh7b1Ry0pw8vaz5Q==",
                             "client_mount_timeout": "3"}}
        conn = osnaptest.RpcConn(d.sock, timeout=60)
        t0 = time.time()
        conn.send_raw(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "bdev_rbd_create",
                                  "params": params}))
        # the main thread is free: another connection gets answers at once
        for _ in range(3):
            t = time.time()
            d.rpc("spdk_get_version")
            check(time.time() - t < 1.0, "an RPC answered within 1 s during the connect")
        resp = conn.recv_obj()
        took = time.time() - t0
        conn.close()
        check("error" in resp, "create failed: %r" % resp)
        check("cannot connect" in resp["error"]["message"], resp["error"]["message"])
        check(took < 30, "failed within the bound: %.1f s" % took)
        eq(d.rpc("bdev_get_bdevs"), [], "no bdev")

        # SIGTERM while a connect is under way: osnapd waits for it, exits 0
        conn = osnaptest.RpcConn(d.sock, timeout=60)
        conn.send_raw(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "bdev_rbd_create",
                                  "params": params}))
        time.sleep(0.5)  # not a wait for an event: the create only has to have started
        conn.close()
        t0 = time.time()
        eq(d.stop(timeout=60), 0, "osnapd exit code with a create in progress")
        check(time.time() - t0 < 30, "exited within the connect bound")


# ---- (b) clusters, create, list, save_config, delete ---------------------------------------

@test
def register_create_list_delete():
    c = cluster()
    img = new_image(c, "list0", 64)
    with Daemon() as d:
        has_rbd(d)
        register(d, c, "c1", user_id="admin", config_param={"rbd_cache": "true"})
        info = d.rpc("bdev_rbd_get_clusters_info", {"name": "c1"})
        eq(info, {"cluster_name": "c1", "user_id": "admin", "config_param": {"rbd_cache": "true"},
                  "config_file": c.conf}, "get_clusters_info c1")
        eq(d.rpc("bdev_rbd_get_clusters_info"), [info], "get_clusters_info, all")
        e = d.rpc_error("bdev_rbd_register_cluster", {"name": "c1", "config_file": c.conf})
        eq(e.code, -17, "second register of c1 (EEXIST)")

        uuid = "0d2f4e5c-1c2b-4d3e-8f7a-6b5c4d3e2f1a"
        create(d, "rbd0", img, 4096, cluster_name="c1", uuid=uuid)
        b = d.rpc("bdev_get_bdevs", {"name": "rbd0"})[0]
        eq(b["block_size"], 4096, "block_size")
        eq(b["num_blocks"], 64 * MIB // 4096, "num_blocks")
        eq(b["uuid"], uuid, "uuid")
        eq(b["product_name"], "Ceph Rbd Disk", "product_name")
        eq(b["driver_specific"]["rbd"]["pool_name"], "rbd", "pool_name")
        eq(b["driver_specific"]["rbd"]["rbd_name"], img, "rbd_name")
        eq(b["driver_specific"]["rbd"]["cluster_name"], "c1", "cluster_name")
        e = d.rpc_error("bdev_rbd_create", {"name": "rbd0", "pool_name": "rbd", "rbd_name": img,
                                            "block_size": 512, "cluster_name": "c1"})
        eq(e.code, -17, "a second bdev named rbd0 (EEXIST)")
        e = d.rpc_error("bdev_rbd_create", {"name": "rbdx", "pool_name": "rbd",
                                            "rbd_name": "missing", "block_size": 512,
                                            "cluster_name": "c1"})
        eq(e.code, -2, "missing image (ENOENT)")
        check("missing" in e.message, e.message)
        e = d.rpc_error("bdev_rbd_create", {"name": "rbdx", "pool_name": "nopool",
                                            "rbd_name": img, "block_size": 512,
                                            "cluster_name": "c1"})
        eq(e.code, -2, "missing pool (ENOENT)")
        check("nopool" in e.message, e.message)
        e = d.rpc_error("bdev_rbd_unregister_cluster", {"name": "c1"})
        eq(e.code, -16, "unregister of a cluster in use (EBUSY)")

        # a handle of the bdev's own: SPDK's default name Ceph0, read-only
        eq(d.rpc("bdev_rbd_create", {"pool_name": "rbd", "rbd_name": img, "block_size": 512,
                                     "read_only": True,
                                     "config": {"mon_host": c.mon_host, "keyring": c.keyring}}),
           "Ceph0", "default name")
        ro = d.rpc("bdev_get_bdevs", {"name": "Ceph0"})[0]
        eq(ro["num_blocks"], 64 * MIB // 512, "num_blocks of Ceph0")
        eq(ro["driver_specific"]["rbd"]["read_only"], True, "read_only")

        cfg = [m for s in d.rpc("save_config")["subsystems"] if s["subsystem"] == "bdev"
               for m in s["config"]]
        methods = [m["method"] for m in cfg]
        check(methods.index("bdev_rbd_register_cluster") < methods.index("bdev_rbd_create"),
              "the cluster is registered before its bdevs: %r" % methods)
        eq([m["params"] for m in cfg if m["method"] == "bdev_rbd_register_cluster"],
           [{"name": "c1", "user_id": "admin", "config_param": {"rbd_cache": "true"},
             "config_file": c.conf}], "saved register_cluster")
        saved = {m["params"]["name"]: m["params"] for m in cfg if m["method"] == "bdev_rbd_create"}
        eq(saved["rbd0"], {"name": "rbd0", "pool_name": "rbd", "rbd_name": img,
                           "block_size": 4096, "uuid": uuid, "cluster_name": "c1"}, "saved rbd0")
        eq(saved["Ceph0"]["read_only"], True, "saved Ceph0 read_only")
        eq(saved["Ceph0"]["config"], {"mon_host": c.mon_host, "keyring": c.keyring},
           "saved Ceph0 config")

        eq(d.rpc("bdev_rbd_delete", {"name": "rbd0"}), True, "delete rbd0")
        eq(d.rpc("bdev_rbd_delete", {"name": "Ceph0"}), True, "delete Ceph0")
        e = d.rpc_error("bdev_rbd_delete", {"name": "rbd0"})
        eq(e.code, -19, "delete again (ENODEV)")
        eq(d.rpc("bdev_rbd_unregister_cluster", {"name": "c1"}), True, "unregister c1")
        e = d.rpc_error("bdev_rbd_get_clusters_info", {"name": "c1"})
        eq(e.code, -2, "c1 is gone")
        eq(d.stop(), 0, "osnapd exit code")
    c.run("rbd", "rm", "--no-progress", "rbd/" + img)


# ---- (c) the bytes are the image's ---------------------------------------------------------

@test
def data_is_the_images():
    c = cluster()
    img = new_image(c, "bytes0", 16)
    path = os.path.join(c.dir, "bytes0.in")
    with open(path, "wb") as f:
        f.write(os.urandom(16 * MIB))
    c.run("rbd", "rm", "--no-progress", "rbd/" + img)
    c.run("rbd", "import", "--no-progress", path, "rbd/" + img, timeout=120)
    with open(path, "rb") as f:
        ref = f.read()
    with Daemon() as d:
        has_rbd(d)
        register(d, c)
        create(d, "rbd0", img, cluster_name="ceph")
        for lba, n in ((0, 8), (12345, 3), (16 * MIB // 512 - 16, 16)):
            eq(dbg_read(d, "rbd0", lba, n), ref[lba * 512:(lba + n) * 512],
               "bytes read at LBA %d (imported by rbd)" % lba)
        written = {}
        for lba, n in ((8, 8), (4096, 1), (16 * MIB // 512 - 8, 8)):
            data = os.urandom(n * 512)
            dbg_write(d, "rbd0", lba, data)
            written[lba] = data
        # a snapshot keeps its bytes while the image changes under osnap
        c.run("rbd", "snap", "create", "--no-progress", "rbd/%s@s1" % img)
        newer = os.urandom(8 * 512)
        dbg_write(d, "rbd0", 8, newer)
        eq(dbg_read(d, "rbd0", 8, 8), newer, "the image has the newer bytes")
        create(d, "snap0", img + "@s1", cluster_name="ceph")
        b = d.rpc("bdev_get_bdevs", {"name": "snap0"})[0]
        eq(b["driver_specific"]["rbd"]["read_only"], True, "a snapshot is read-only")
        eq(dbg_read(d, "snap0", 8, 8), written[8], "the snapshot has the older bytes")
        e = d.rpc_error("bdev_dbg_io", {"name": "snap0", "op": "write", "offset_blocks": 0,
                                        "num_blocks": 1, "pattern": 1})
        check(e.code != 0, "a write to the snapshot fails")
        eq(dbg_read(d, "snap0", 0, 8), ref[:8 * 512], "the snapshot is unchanged")
        e = d.rpc_error("bdev_rbd_create", {"name": "snapx", "pool_name": "rbd",
                                            "rbd_name": img + "@nosnap", "block_size": 512,
                                            "cluster_name": "ceph"})
        eq(e.code, -2, "unknown snapshot (ENOENT)")
        check("nosnap" in e.message, e.message)
        written[8] = newer
        eq(d.rpc("bdev_rbd_delete", {"name": "snap0"}), True, "delete snap0")
        eq(d.rpc("bdev_rbd_delete", {"name": "rbd0"}), True, "delete")
        eq(d.stop(), 0, "osnapd exit code")
    c.run("rbd", "snap", "purge", "--no-progress", "rbd/" + img)
    out = os.path.join(c.dir, "bytes0.out")
    c.run("rbd", "export", "--no-progress", "rbd/" + img, out, timeout=120)
    with open(out, "rb") as f:
        got = f.read()
    for lba, data in written.items():
        eq(got[lba * 512:lba * 512 + len(data)], data, "rbd export at LBA %d" % lba)
    eq(got[:8 * 512], ref[:8 * 512], "untouched bytes unchanged")
    os.unlink(path)
    os.unlink(out)
    c.run("rbd", "rm", "--no-progress", "rbd/" + img)


# ---- (d) verified I/O through the emulated controllers -------------------------------------

@test
def nvme_and_virtio_blk_verified_io():
    c = cluster()
    new_image(c, "nvme0", 64)
    new_image(c, "vblk0", 64)
    with Daemon() as d:
        has_rbd(d)
        register(d, c)
        create(d, "rbd_nvme", "nvme0", cluster_name="ceph")
        create(d, "rbd_vblk", "vblk0", cluster_name="ceph")
        r = verified_io(nvme_target(d, "rbd_nvme"), os.path.join(d.dir, "nvme.state"))
        print("# NVMe over rbd: %.0f IOPS, p50 %.0f us" % (r["iops"], r["lat_us"]["p50"]))
        r = verified_io(vblk_target(d, "rbd_vblk"), os.path.join(d.dir, "vblk.state"))
        print("# virtio-blk over rbd: %.0f IOPS, p50 %.0f us" % (r["iops"], r["lat_us"]["p50"]))
        st = {s["name"]: s for s in d.rpc("bdev_get_iostat")["bdevs"]}
        for name in ("rbd_nvme", "rbd_vblk"):
            check(st[name]["num_read_ops"] > 0 and st[name]["num_write_ops"] > 0,
                  "%s iostat: %r" % (name, st[name]))
            eq(st[name].get("num_io_errors", 0), 0, "%s I/O errors" % name)
        eq(d.stop(), 0, "osnapd exit code")
    c.run("rbd", "rm", "--no-progress", "rbd/nvme0")
    c.run("rbd", "rm", "--no-progress", "rbd/vblk0")


# ---- (e) resize -------------------------------------------------------------------------------

@test
def resize_is_seen():
    c = cluster()
    img = new_image(c, "grow0", 16)
    with Daemon() as d:
        has_rbd(d)
        register(d, c)
        create(d, "rbd0", img, cluster_name="ceph")
        old = 16 * MIB // 512
        e = d.rpc_error("bdev_dbg_io", {"name": "rbd0", "op": "read", "offset_blocks": old,
                                        "num_blocks": 1})
        check(e.code != 0, "read past the end fails before the resize")
        e = d.rpc_error("bdev_rbd_resize", {"name": "rbd0", "new_size": 8})
        eq(e.code, -32602, "shrink refused")
        check("new_size" in e.message, e.message)
        eq(d.rpc("bdev_rbd_resize", {"name": "rbd0", "new_size": 32}), True, "resize to 32 MiB")
        eq(d.rpc("bdev_get_bdevs", {"name": "rbd0"})[0]["num_blocks"], 32 * MIB // 512,
           "num_blocks after bdev_rbd_resize")
        size = json.loads(c.run("rbd", "info", "--format", "json", "rbd/" + img))["size"]
        eq(size, 32 * MIB, "the image's size")
        data = os.urandom(4096)
        dbg_write(d, "rbd0", old + 8, data)
        eq(dbg_read(d, "rbd0", old + 8, 8), data, "bytes past the old end")

        # someone else grows the image: the watch tells osnapd
        c.run("rbd", "resize", "--no-progress", "--size", "48M", "rbd/" + img)
        wait_for("num_blocks of 48 MiB",
                 lambda: d.rpc("bdev_get_bdevs", {"name": "rbd0"})[0]["num_blocks"] ==
                 48 * MIB // 512, 30)
        dbg_write(d, "rbd0", 48 * MIB // 512 - 8, data)
        eq(dbg_read(d, "rbd0", 48 * MIB // 512 - 8, 8), data, "bytes at the new end")

        # a new NVMe connection sees the new size in Identify Namespace
        rc, r, err = perf(nvme_target(d, "rbd0"), "-w", "randread", "-n", 200, "-q", 4,
                          "--offset", 40 * MIB, "--size", 8 * MIB)
        eq(rc, 0, "reads past the old end through NVMe (stderr: %s)" % err)
        eq(r["errors"], 0, "errors")
        eq(d.stop(), 0, "osnapd exit code")
    c.run("rbd", "rm", "--no-progress", "rbd/" + img)


# ---- (f) the cluster goes away under I/O and comes back ---------------------------------------

@test
def cluster_outage_under_io():
    c = cluster()
    img = new_image(c, "outage0", 64)
    with Daemon() as d:
        has_rbd(d)
        # I/O to OSDs that are gone fails after 5 s instead of waiting
        register(d, c, config_param={"rados_osd_op_timeout": "5"})
        create(d, "rbd0", img, cluster_name="ceph")
        target = nvme_target(d, "rbd0")
        result = {}

        def load():
            result["out"] = perf(target, "-w", "randwrite", "-q", 4, "-t", 40, "--size", 32 * MIB,
                                 timeout=200)

        t = threading.Thread(target=load)
        t.start()
        try:
            def writes():
                st = d.rpc("bdev_get_iostat", {"name": "rbd0"})["bdevs"][0]
                return st["num_write_ops"] > 100
            wait_for("writes through NVMe", writes, 60)
            t0 = time.time()
            c.stop_daemons()
            print("# cluster stopped under I/O", flush=True)

            def errors():
                return d.rpc("bdev_get_iostat", {"name": "rbd0"})["bdevs"][0].get(
                    "num_io_errors", 0) > 0
            wait_for("I/O errors while the cluster is down", errors, 60)
            print("# first I/O error %.1f s after the stop" % (time.time() - t0), flush=True)
            eq(d.rpc("spdk_get_version")["version"] != "", True, "osnapd answers RPCs")
            t1 = time.time()
            c.start_daemons()
            print("# cluster back in %.1f s" % (time.time() - t1), flush=True)
        finally:
            t.join()
        rc, r, err = result["out"]
        check(d.proc.poll() is None, "osnapd is alive")
        eq(rc, 1, "osnap-perf saw errors (stderr: %s)" % err[-2000:])
        check(r["io_errors"] > 0, "I/O errors reported: %r" % r.get("io_errors"))
        # I/O resumes: writes and verified reads on a new connection
        verified_io(target, os.path.join(d.dir, "after.state"))
        eq(d.stop(), 0, "osnapd exit code")
    c.run("rbd", "rm", "--no-progress", "rbd/" + img)


@test
def osd_restart_holds_io():
    """Ceph's default rados_osd_op_timeout (0): while the OSD restarts, the
    guest's I/O waits; it completes without an error when the OSD is back."""
    c = cluster()
    img = new_image(c, "hold0", 64)
    with Daemon() as d:
        has_rbd(d)
        register(d, c)
        create(d, "rbd0", img, cluster_name="ceph")
        target = vblk_target(d, "rbd0")
        state = os.path.join(d.dir, "hold.state")
        result = {}

        def load():
            result["out"] = perf(target, "-w", "randwrite", "-q", 4, "-t", 25, "--size", 8 * MIB,
                                 "-b", 4096, "--verify", "--verify-state", state, timeout=200)

        t = threading.Thread(target=load)
        t.start()
        try:
            def writes():
                st = d.rpc("bdev_get_iostat", {"name": "rbd0"})["bdevs"][0]
                return st["num_write_ops"] > 50
            wait_for("writes through virtio-blk", writes, 60)
            c.kill("osd.%d" % c.osd_id)
            t0 = time.time()
            c.start_osd()
            print("# OSD back in %.1f s" % (time.time() - t0), flush=True)
            before = d.rpc("bdev_get_iostat", {"name": "rbd0"})["bdevs"][0]["num_write_ops"]
            wait_for("writes after the OSD returned", lambda: d.rpc(
                "bdev_get_iostat", {"name": "rbd0"})["bdevs"][0]["num_write_ops"] > before + 50, 60)
        finally:
            t.join()
        rc, r, err = result["out"]
        eq(rc, 0, "osnap-perf across the OSD restart (stderr: %s)" % err[-2000:])
        eq(r["errors"], 0, "errors across the OSD restart")
        eq(d.rpc("bdev_get_iostat", {"name": "rbd0"})["bdevs"][0].get("num_io_errors", 0), 0,
           "bdev I/O errors")
        # every block written is there: a read pass over the state
        rc, r, err = perf(target, "-w", "read", "-n", 8 * MIB // 4096, "-q", 8, "--size",
                          8 * MIB, "-b", 4096, "--verify", "--verify-state", state)
        eq(rc, 0, "read pass (stderr: %s)" % err[-2000:])
        eq(r["errors"], 0, "verify errors after the OSD restart")
        eq(d.stop(), 0, "osnapd exit code")
    c.run("rbd", "rm", "--no-progress", "rbd/" + img)


if __name__ == "__main__":
    main()
