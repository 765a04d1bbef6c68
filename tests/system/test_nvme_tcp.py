#!/usr/bin/env python3
"""System tests of the NVMe/TCP initiator (bdev_nvme_*) against the scripted
target of nvmetcp_target.py (in this process, on a loopback port):

- attach as the seeds write it (rpc.py options): the bdev names printed as
  SPDK prints them, the Connect the target saw (subsystem, host NQN,
  keep-alive, queue ids), bdev_get_bdevs and bdev_nvme_get_controllers;
  refusals (-t rdma / nvda_tcp, bad addresses, no subnqn, a refused
  connection, a wrong subsystem) leave nothing behind; detach;
- data: writes and reads of 512 B..256 KiB through bdev_dbg_io (in-capsule,
  R2T with several H2C PDUs, several C2H PDUs) equal the target's RAM, and
  4 KiB..1 MiB verified I/O from osnap-perf through an emulated NVMe
  controller whose namespace is the remote one;
- header and data digests: negotiated, and a corrupted data digest (read
  retried) or header digest (reconnect) never returns bad data;
- malformed PDUs of every kind the target can send: osnapd stays up, the
  controller reconnects and the I/O completes with the right data;
- the target going away: I/O held while it is gone and completed when it
  returns (osnap-perf --verify under a target restart: nothing lost), and
  failed once ctrlr_loss_timeout_sec passes;
- bdev_nvme_reset_controller and bdev_nvme_set_options;
- the socket implementations (sock_set_default_impl posix / uring): the
  I/O queues run on the one chosen when they are handed to their reactor.

Every case runs with the default (posix) sockets here; with
OSNAP_SOCK_IMPL=uring (test_nvme_tcp_uring.py sets it) each daemon selects
that implementation first and every attach checks its I/O queues use it.
"""
import base64
import json
import os
import socket
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, HERE)
import nvmetcp_target  # noqa: E402
import osnaptest  # noqa: E402
from osnaptest import Skip, check, eq, main, test  # noqa: E402
from nvme_remote import emulated_nvme, perf, perf_background, sock_impls, wait_sock_impl  # noqa: E402

BLOCK = 512
EIO = -5
ENODEV = -19
EEXIST = -17
EOPNOTSUPP = -95
SOCK_IMPL = os.environ.get("OSNAP_SOCK_IMPL")


class Daemon(osnaptest.Daemon):
    """osnaptest's Daemon; with OSNAP_SOCK_IMPL set, on that socket
    implementation (a machine without io_uring skips, saying so)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        if SOCK_IMPL:
            try:
                self.rpc("sock_set_default_impl", {"impl_name": SOCK_IMPL})
            except Exception as e:  # noqa: BLE001
                self.stop()
                if getattr(e, "code", None) == EOPNOTSUPP:
                    raise Skip("sock_set_default_impl %s: %s" % (SOCK_IMPL, e))
                raise


def target(**kw):
    return nvmetcp_target.Target(**kw).start()


def attach(d, t, *extra, name="nvme0"):
    p = d.cli("bdev_nvme_attach_controller", "-b", name, "-t", "tcp", "-a", "127.0.0.1",
              "-f", "ipv4", "-s", t.port, "-n", t.subnqn, *extra)
    if SOCK_IMPL:
        wait_sock_impl(d, name, SOCK_IMPL)
    return json.loads(p.stdout)



def dbg_write(d, bdev, lba, data, bs=BLOCK):
    return d.rpc("bdev_dbg_io", {"name": bdev, "op": "write", "offset_blocks": lba,
                                 "num_blocks": len(data) // bs,
                                 "data": base64.b64encode(data).decode()})


def dbg_read(d, bdev, lba, nblocks):
    r = d.rpc("bdev_dbg_io", {"name": bdev, "op": "read", "offset_blocks": lba,
                              "num_blocks": nblocks})
    return base64.b64decode(r["data"])


def pattern(n, seed):
    return bytes(((i * 7 + seed) ^ (i >> 9)) & 0xFF for i in range(n))


def ctrlr(d, name="nvme0"):
    return d.rpc("bdev_nvme_get_controllers", {"name": name})[0]["ctrlrs"][0]


def alive(d):
    check(d.proc.poll() is None, "osnapd is running:\n" + d.logtext()[-3000:])


# ---- attach, identify, detach -------------------------------------------------------

@test
def attach_identify_detach():
    t = target(namespaces=((1, 16384, 512), (3, 2048, 4096)))
    try:
        with Daemon() as d:
            names = attach(d, t, "-q", "nqn.2026-01.io.osnap:host1")
            eq(names, ["nvme0n1", "nvme0n3"], "bdev names printed by attach")
            eq([c["qid"] for c in t.connects], [0, 1], "queues connected (admin, one I/O)")
            eq(t.connects[0]["hostnqn"], "nqn.2026-01.io.osnap:host1", "host NQN in Connect")
            eq(t.connects[0]["subnqn"], t.subnqn, "subsystem NQN in Connect")
            eq(t.connects[0]["kato"], 10000, "keep-alive timeout in Connect (SPDK's default)")
            eq(t.connects[1]["cntlid"], 1, "I/O queue Connect names the admin's controller")
            eq(t.connects[0]["hostid"], t.connects[1]["hostid"], "one host identifier")
            eq(t.icreqs[0], {"pfv": 0, "hpda": 0, "dgst": 0, "maxr2t": 0}, "ICReq")
            b1 = d.rpc("bdev_get_bdevs", {"name": "nvme0n1"})[0]
            eq((b1["block_size"], b1["num_blocks"]), (512, 16384), "nvme0n1 geometry")
            eq(b1["product_name"], "NVMe disk", "product name")
            eq(b1["driver_specific"]["nvme"][0]["ns_data"]["id"], 1, "nsid")
            b3 = d.rpc("bdev_get_bdevs", {"name": "nvme0n3"})[0]
            eq((b3["block_size"], b3["num_blocks"]), (4096, 2048), "nvme0n3 geometry")
            c = d.rpc("bdev_nvme_get_controllers")
            eq(len(c), 1, "controllers listed")
            eq(c[0]["name"], "nvme0", "controller name")
            cc = c[0]["ctrlrs"][0]
            eq(cc["state"], "enabled", "state")
            eq(cc["trid"], {"trtype": "TCP", "adrfam": "IPv4", "traddr": "127.0.0.1",
                            "trsvcid": str(t.port), "subnqn": t.subnqn}, "trid")
            eq(cc["host"]["nqn"], "nqn.2026-01.io.osnap:host1", "host nqn listed")
            eq(cc["osnap"]["model_number"], "osnap fake NVMe/TCP target", "model number")
            eq(cc["osnap"]["in_capsule_data_size"], 8192, "in-capsule data size from IOCCSZ")
            e = d.rpc_error("bdev_nvme_attach_controller",
                            {"name": "nvme0", "trtype": "tcp", "traddr": "127.0.0.1",
                             "trsvcid": str(t.port), "subnqn": t.subnqn})
            eq(e.code, EEXIST, "a second nvme0: %s" % e.message)
            eq(d.rpc("bdev_nvme_detach_controller", {"name": "nvme0"}), True, "detach")
            eq(d.rpc("bdev_nvme_get_controllers"), [], "no controller left")
            e = d.rpc_error("bdev_get_bdevs", {"name": "nvme0n1"})
            eq(e.code, ENODEV, "nvme0n1 is gone")
            t.wait_for(lambda: t.connections() == 0, 30, "the initiator's connections to close")
            e = d.rpc_error("bdev_nvme_detach_controller", {"name": "nvme0"})
            eq(e.code, ENODEV, "detach of an unknown controller")
            attach(d, t)
            eq(d.stop(), 0, "exit code of osnapd stopped with a controller attached")
    finally:
        t.stop()


@test
def attach_refusals():
    t = target()
    try:
        with Daemon() as d:
            base = {"name": "nvme0", "trtype": "tcp", "traddr": "127.0.0.1",
                    "trsvcid": str(t.port), "subnqn": t.subnqn}
            for trtype in ("rdma", "nvda_tcp"):
                e = d.rpc_error("bdev_nvme_attach_controller", dict(base, trtype=trtype))
                eq(e.code, -32602, "trtype %s" % trtype)
                check(trtype in e.message and "tcp" in e.message, "message: " + e.message)
            # the seed's line, verbatim
            p = d.cli("bdev_nvme_attach_controller", "-b", "nvme0", "-t", "rdma", "-a",
                      "1.1.1.1", "-f", "ipv4", "-s", "4420", "-n",
                      "nqn.2022-10.io.nvda.nvme:swx-storage", check=False)
            check(p.returncode != 0 and "rdma" in p.stderr, "rpc.py refusal: %r" % p.stderr)
            cases = [
                (dict(base, traddr="not-an-address"), "traddr"),
                (dict(base, trsvcid="99999"), "trsvcid"),
                (dict(base, adrfam="ib"), "adrfam"),
                ({k: v for k, v in base.items() if k != "subnqn"}, "subnqn"),
                (dict(base, psk="key0"), "psk"),
                (dict(base, prchk_guard=True), "prchk_guard"),
                (dict(base, ctrlr_loss_timeout_sec=5), "reconnect_delay_sec"),
                (dict(base, ctrlr_loss_timeout_sec=5, reconnect_delay_sec=10),
                 "reconnect_delay_sec"),
            ]
            for params, word in cases:
                e = d.rpc_error("bdev_nvme_attach_controller", params)
                eq(e.code, -32602, "%r" % params)
                check(word in e.message, "%r: message names %s: %s" % (params, word, e.message))
            # a port nobody listens on, then a subsystem the target does not have
            t2 = target()
            port = t2.port
            t2.stop()
            e = d.rpc_error("bdev_nvme_attach_controller", dict(base, trsvcid=str(port)))
            eq(e.code, EIO, "connection refused: %s" % e.message)
            check("refused" in e.message.lower(), "message says why: " + e.message)
            e = d.rpc_error("bdev_nvme_attach_controller", dict(base, subnqn="nqn.x:none"))
            eq(e.code, EIO, "unknown subsystem: %s" % e.message)
            check("Connect" in e.message, "message names the Connect: " + e.message)
            # a listener that accepts and never answers: the attach gives up
            mute = socket.socket()
            mute.bind(("127.0.0.1", 0))
            mute.listen(4)
            try:
                t0 = time.time()
                e = d.rpc_error("bdev_nvme_attach_controller",
                                dict(base, trsvcid=str(mute.getsockname()[1]),
                                     fabrics_connect_timeout_us=300000))
                eq(e.code, EIO, "silent target: %s" % e.message)
                check("no answer" in e.message, "message says why: " + e.message)
                check(time.time() - t0 < 30, "gave up after %.1f s" % (time.time() - t0))
            finally:
                mute.close()
            eq(d.rpc("bdev_nvme_get_controllers"), [], "no controller left behind")
            eq([b["name"] for b in d.rpc("bdev_get_bdevs")], [], "no bdev left behind")
            names = attach(d, t)
            eq(names, ["nvme0n1"], "a good attach afterwards")
            alive(d)
    finally:
        t.stop()


# ---- data ---------------------------------------------------------------------------

@test
def dbg_io_sizes():
    # small PDUs: several C2H PDUs per read, several R2Ts and H2C PDUs per write
    t = target(maxh2cdata=8192, c2h_chunk=16384, r2t_chunk=32768, ioccsz_bytes=4096)
    try:
        with Daemon() as d:
            attach(d, t)
            ns = t.namespaces[1]
            lba = 3
            for seed, size in enumerate((512, 4096, 8192, 65536, 131072 + 512, 262144)):
                data = pattern(size, seed)
                eq(dbg_write(d, "nvme0n1", lba, data), True, "write %d bytes" % size)
                eq(bytes(ns.data[lba * BLOCK:lba * BLOCK + size]), data,
                   "target RAM after a %d-byte write" % size)
                eq(dbg_read(d, "nvme0n1", lba, size // BLOCK), data, "read back %d bytes" % size)
                lba += size // BLOCK + 5
            check(t.incapsule_writes >= 2, "in-capsule writes: %d" % t.incapsule_writes)
            check(t.r2t_writes >= 3, "R2T writes: %d" % t.r2t_writes)
            e = d.rpc_error("bdev_dbg_io", {"name": "nvme0n1", "op": "read",
                                            "offset_blocks": 16384, "num_blocks": 1})
            check(e.code != 0, "read past the end refused: %s" % e.message)
            # write zeroes and unmap go to the target
            eq(d.rpc("bdev_dbg_io", {"name": "nvme0n1", "op": "write_zeroes",
                                     "offset_blocks": 3, "num_blocks": 1}), True, "write_zeroes")
            eq(dbg_read(d, "nvme0n1", 3, 1), bytes(512), "zeroes read back")
            eq(d.rpc("bdev_dbg_io", {"name": "nvme0n1", "op": "flush"}), True, "flush")
            dbg_write(d, "nvme0n1", 40, pattern(4096, 7))
            eq(d.rpc("bdev_dbg_io", {"name": "nvme0n1", "op": "unmap", "offset_blocks": 41,
                                     "num_blocks": 2}), True, "unmap")
            eq(t.unmaps, 1, "Dataset Management commands")
            eq(dbg_read(d, "nvme0n1", 40, 8), pattern(4096, 7)[:512] + bytes(1024) +
               pattern(4096, 7)[1536:], "unmapped blocks read zeroes, the others stay")
            eq(t.log, [], "the target saw no protocol error")
    finally:
        t.stop()


@test
def emulated_controller_verify_4k_to_512k():
    t = target(namespaces=((1, 16384, 512),))   # 8 MiB
    try:
        with Daemon() as d:
            attach(d, t)
            tgt = emulated_nvme(d)
            for bs in (4096, 65536, 262144, 524288):
                state = os.path.join(d.dir, "verify.%d.state" % bs)
                n = (4 << 20) // bs
                rng = ["-b", bs, "--size", 4 << 20, "--verify", "--verify-state", state]
                r = perf(tgt, "-w", "write", "-n", n, "-q", 4, *rng)
                eq((r["ios"], r["errors"]), (n, 0), "%d-byte writes" % bs)
                r = perf(tgt, "-w", "read", "-n", n, "-q", 4, *rng)
                eq((r["errors"], r["verify_checked"]), (0, n), "%d-byte reads verified" % bs)
            r = perf(tgt, "-w", "randrw", "-b", 4096, "-q", 16, "-t", 2, "--verify")
            eq(r["errors"], 0, "randrw errors")
            check(r["verify_checked"] > 0, "randrw verified reads")
            eq(t.connects[1]["sqsize"], 127, "I/O queue SQSIZE (CAP.MQES 127)")
            eq(t.log, [], "the target saw no protocol error")
    finally:
        t.stop()


# ---- digests ------------------------------------------------------------------------

@test
def digests_and_digest_errors():
    t = target()
    try:
        with Daemon() as d:
            attach(d, t, "--hdgst", "--ddgst", "-l", -1, "-o", 1)
            eq(t.icreqs[0]["dgst"], 3, "ICReq asks for both digests")
            c = ctrlr(d)
            eq((c["osnap"]["header_digest"], c["osnap"]["data_digest"]), (True, True),
               "digests listed")
            data = pattern(65536, 9)
            dbg_write(d, "nvme0n1", 100, data)
            eq(dbg_read(d, "nvme0n1", 100, 128), data, "read back with digests")
            reads = t.reads
            t.inject("bad_ddgst")
            eq(dbg_read(d, "nvme0n1", 100, 128), data, "read after a data digest error")
            eq(t.reads - reads, 2, "the read was sent again after the digest error")
            eq(ctrlr(d)["osnap"]["resets"], 0, "no reconnect for a data digest error")
            t.inject("bad_hdgst")
            eq(dbg_read(d, "nvme0n1", 100, 128), data, "read after a header digest error")
            eq(ctrlr(d)["osnap"]["resets"], 1, "a header digest error reconnects")
            eq(ctrlr(d)["state"], "enabled", "state after the reconnect")
            alive(d)
    finally:
        t.stop()


# ---- malformed PDUs -----------------------------------------------------------------

@test
def malformed_pdus_never_crash():
    t = target()
    try:
        with Daemon() as d:
            attach(d, t, "-l", -1, "-o", 1)
            data = pattern(8192, 3)
            dbg_write(d, "nvme0n1", 64, data)
            resets = 0
            for kind in ("bad_type", "bad_hlen", "huge_plen", "data_overflow", "unknown_cid",
                         "term_req", "short_close", "r2t_overflow", "drop"):
                t.inject(kind)
                if kind == "r2t_overflow":
                    eq(dbg_write(d, "nvme0n1", 64, data), True, "write after %s" % kind)
                else:
                    eq(dbg_read(d, "nvme0n1", 64, 16), data, "read after %s" % kind)
                alive(d)
                resets += 1
                eq(ctrlr(d)["osnap"]["resets"], resets, "reconnects after %s" % kind)
                eq(dbg_read(d, "nvme0n1", 64, 16), data, "data intact after %s" % kind)
            t.inject("error_status")
            e = d.rpc_error("bdev_dbg_io", {"name": "nvme0n1", "op": "read",
                                            "offset_blocks": 64, "num_blocks": 16})
            eq(e.code, EIO, "an NVMe error status fails the I/O: %s" % e.message)
            eq(ctrlr(d)["osnap"]["resets"], resets, "no reconnect for an error status")
            alive(d)
            eq(d.stop(), 0, "exit code")
    finally:
        t.stop()


# ---- the target goes away -----------------------------------------------------------

@test
def target_restart_under_io():
    t = target(namespaces=((1, 16384, 512),))
    try:
        with Daemon() as d:
            attach(d, t, "-l", 60, "-o", 1)
            tgt = emulated_nvme(d)
            state = os.path.join(d.dir, "verify.state")
            rng = ["-b", 16384, "--size", 4 << 20, "--verify", "--verify-state", state]
            th, result = perf_background(tgt, "-w", "randrw", "-t", 6, "-q", 8, *rng)
            t.wait_for(lambda: t.writes > 20 or not th.is_alive(), 60,
                       "writes before the restart")
            check(th.is_alive(), "osnap-perf runs: %r" % result)
            t.stop()
            time.sleep(1.5)          # gone for a while, I/O held meanwhile
            t.start()
            th.join(240)
            check("e" not in result, "osnap-perf across the restart: %s" % result.get("e"))
            r = result["r"]
            eq(r["errors"], 0, "errors across the restart")
            check(ctrlr(d)["osnap"]["resets"] >= 1, "the controller reconnected")
            r = perf(tgt, "-w", "read", "-n", 256, "-q", 4, *rng)
            eq((r["errors"], r["verify_errors"]), (0, 0), "every block verifies afterwards")
            alive(d)
            eq(d.stop(), 0, "exit code")
    finally:
        t.stop()


@test
def controller_loss_fails_io_then_reset():
    t = target()
    try:
        with Daemon() as d:
            attach(d, t, "-l", 2, "-o", 1)
            data = pattern(4096, 5)
            dbg_write(d, "nvme0n1", 0, data)
            port = t.port
            t.stop()
            t0 = time.time()
            e = d.rpc_error("bdev_dbg_io", {"name": "nvme0n1", "op": "read",
                                            "offset_blocks": 0, "num_blocks": 8})
            took = time.time() - t0
            eq(e.code, EIO, "I/O fails once the controller is lost: %s" % e.message)
            check(took < 60, "failed after %.1f s" % took)
            t.wait_for(lambda: ctrlr(d)["state"] == "failed", 60, "the controller to be lost")
            alive(d)
            t.port = port
            t.start()
            eq(d.rpc("bdev_nvme_reset_controller", {"name": "nvme0"}), True, "reset")
            eq(ctrlr(d)["state"], "enabled", "state after the reset")
            eq(dbg_read(d, "nvme0n1", 0, 8), data, "I/O works again")
            eq(d.stop(), 0, "exit code")
    finally:
        t.stop()


@test
def reset_controller_and_keep_alive():
    t = target()
    try:
        with Daemon() as d:
            d.rpc("bdev_nvme_set_options", {"keep_alive_timeout_ms": 400})
            attach(d, t)
            t.wait_for(lambda: t.keep_alives >= 2, 30, "keep-alives (every 200 ms)")
            data = pattern(4096, 1)
            dbg_write(d, "nvme0n1", 8, data)
            eq(d.cli("bdev_nvme_reset_controller", "nvme0").stdout.strip(), "true", "reset (rpc.py)")
            c = d.cli_json("bdev_nvme_get_controllers", "-n", "nvme0")[0]["ctrlrs"][0]
            eq((c["state"], c["osnap"]["resets"]), ("enabled", 1), "after the reset")
            eq(len([x for x in t.connects if x["qid"] == 0]), 2, "the admin queue reconnected")
            eq(dbg_read(d, "nvme0n1", 8, 8), data, "I/O after the reset")
            e = d.rpc_error("bdev_nvme_reset_controller", {"name": "nope"})
            eq(e.code, ENODEV, "reset of an unknown controller")
    finally:
        t.stop()


@test
def io_queue_requests_bounds_commands_in_flight():
    t = target()
    try:
        with Daemon() as d:
            d.rpc("bdev_nvme_set_options", {"io_queue_requests": 4})
            attach(d, t)
            eq(t.connects[1]["sqsize"], 4, "SQSIZE of the I/O queue")
            tgt = emulated_nvme(d)
            r = perf(tgt, "-w", "randrw", "-b", 16384, "-q", 32, "-t", 2, "--verify")
            eq(r["errors"], 0, "errors with 32 I/Os on a queue of 4")
            check(r["ios"] > 0, "I/O done")
            eq(t.log, [], "the target never had more than 4 commands (or any error)")
    finally:
        t.stop()


@test
def two_reactors_two_io_queues():
    t = target()
    try:
        with Daemon(cpumask="0x3") as d:
            attach(d, t)
            eq(sorted(c["qid"] for c in t.connects), [0, 1, 2], "admin and one I/O queue each")
            eq(ctrlr(d)["osnap"]["io_queues"], 2, "I/O queues listed")
            tgt = emulated_nvme(d)
            r = perf(tgt, "-w", "randrw", "-b", 8192, "-j", 2, "-q", 8, "-t", 2, "--verify")
            eq(r["errors"], 0, "errors")
            check(r["verify_checked"] > 0, "verified reads")
            eq(t.log, [], "no protocol error")
        t2 = target(num_io_queues=1)
        try:
            with Daemon(cpumask="0x3") as d:
                e = d.rpc_error("bdev_nvme_attach_controller",
                                {"name": "nvme0", "trtype": "tcp", "traddr": "127.0.0.1",
                                 "trsvcid": str(t2.port), "subnqn": t2.subnqn})
                eq(e.code, EIO, "one I/O queue for two reactors: %s" % e.message)
                check("per reactor" in e.message, e.message)
        finally:
            t2.stop()
    finally:
        t.stop()


@test
def fast_io_fail_then_reconnect_alone():
    t = target()
    try:
        with Daemon() as d:
            attach(d, t, "-l", 60, "-o", 1, "-u", 2)
            data = pattern(4096, 8)
            dbg_write(d, "nvme0n1", 0, data)
            port = t.port
            t.stop()
            t0 = time.time()
            e = d.rpc_error("bdev_dbg_io", {"name": "nvme0n1", "op": "read",
                                            "offset_blocks": 0, "num_blocks": 8})
            eq(e.code, EIO, "I/O fails after fast_io_fail_timeout_sec: %s" % e.message)
            check(time.time() - t0 < 50, "failed before ctrlr_loss_timeout_sec")
            eq(ctrlr(d)["state"], "resetting", "still reconnecting")
            t.port = port
            t.start()
            t.wait_for(lambda: ctrlr(d)["state"] == "enabled", 60, "the reconnect")
            eq(dbg_read(d, "nvme0n1", 0, 8), data, "I/O works again")
    finally:
        t.stop()


@test
def namespaces_come_and_go():
    t = target(namespaces=((1, 4096, 512),))
    try:
        with Daemon() as d:
            eq(attach(d, t), ["nvme0n1"], "one namespace at first")
            t.wait_for(lambda: len(t.aers) == 1, 30, "an Asynchronous Event Request")
            t.change_namespaces(add=[(2, 2048, 4096)])
            t.wait_for(lambda: any(b["name"] == "nvme0n2" for b in d.rpc("bdev_get_bdevs")), 30,
                       "bdev nvme0n2")
            b = d.rpc("bdev_get_bdevs", {"name": "nvme0n2"})[0]
            eq((b["block_size"], b["num_blocks"]), (4096, 2048), "the new namespace's geometry")
            eq(t.log_pages, [4], "the changed namespace log was read")
            data = pattern(8192, 4)
            dbg_write(d, "nvme0n2", 5, data, bs=4096)
            eq(dbg_read(d, "nvme0n2", 5, 2), data, "I/O on the new namespace")
            t.wait_for(lambda: len(t.aers) == 1, 30, "the next AER")
            t.change_namespaces(remove=[1])
            t.wait_for(lambda: all(b["name"] != "nvme0n1" for b in d.rpc("bdev_get_bdevs")),
                       30, "bdev nvme0n1 to go")
            eq([b["name"] for b in d.rpc("bdev_get_bdevs")], ["nvme0n2"], "bdevs left")
            eq(ctrlr(d)["osnap"]["async_events"], 2, "events counted")
            eq(ctrlr(d)["osnap"]["resets"], 0, "no reconnect")
            eq(d.stop(), 0, "exit code")
    finally:
        t.stop()


@test
def set_options():
    with Daemon() as d:
        eq(d.rpc("bdev_nvme_set_options", {"rdma_srq_size": 4096}), True, "the seed's option")
        p = d.cli("bdev_nvme_set_options", "--rdma-srq-size", "4096", "-r", "-1", "-k", "5000")
        eq(p.stdout.strip(), "true", "rpc.py line")
        e = d.rpc_error("bdev_nvme_set_options", {"timeout_us": 1000})
        eq(e.code, -32602, "timeout_us refused")
        check("timeout_us" in e.message, e.message)
        e = d.rpc_error("bdev_nvme_set_options", {"action_on_timeout": "reset"})
        eq(e.code, -32602, "action_on_timeout refused")
        e = d.rpc_error("bdev_nvme_set_options", {"ctrlr_loss_timeout_sec": 10})
        eq(e.code, -32602, "loss timeout without a reconnect delay")
        e = d.rpc_error("bdev_nvme_set_options", {"no_such_option": 1})
        eq(e.code, -32602, "unknown option")
        t = target()
        try:
            attach(d, t)
            e = d.rpc_error("bdev_nvme_set_options", {"keep_alive_timeout_ms": 1000})
            check(e.code != 0 and "exist" in e.message, "refused with controllers: " + e.message)
            eq(t.connects[0]["kato"], 5000, "keep_alive_timeout_ms honoured")
        finally:
            t.stop()


# ---- socket implementations ----------------------------------------------------------

@test
def sock_uring_refused_without_io_uring():
    with osnaptest.daemon_without_io_uring() as d:
        e = d.rpc_error("sock_set_default_impl", {"impl_name": "uring"})
        eq(e.code, EOPNOTSUPP, "uring where io_uring is refused: %s" % e.message)
        check("io_uring" in e.message, "the message says why: " + e.message)
        eq(d.rpc("sock_get_default_impl"), {"impl_name": "posix"}, "the default stays")
        eq(d.stop(), 0, "exit code")


@test
def sock_impl_posix_and_uring():
    t = target(maxh2cdata=8192, c2h_chunk=16384, r2t_chunk=32768, ioccsz_bytes=4096)
    try:
        with osnaptest.Daemon() as d:
            eq(d.rpc("sock_get_default_impl"), {"impl_name": "posix"}, "the default")
            for name in ("xlio", "ssl", ""):
                e = d.rpc_error("sock_set_default_impl", {"impl_name": name})
                eq(e.code, -32602, "impl_name %r: %s" % (name, e.message))
                check("impl_name" in e.message, "the message names impl_name: " + e.message)
            eq(d.rpc("sock_get_default_impl"), {"impl_name": "posix"}, "unchanged by refusals")
            p = d.cli("sock_set_default_impl", "-i", "uring", check=False)
            if p.returncode != 0:
                check("io_uring" in p.stderr, "refusal says why: %r" % p.stderr)
                raise Skip("io_uring unavailable here: " + p.stderr.strip())
            eq(d.rpc("sock_get_default_impl"), {"impl_name": "uring"}, "after rpc.py -i uring")
            attach(d, t)
            wait_sock_impl(d, "nvme0", "uring")
            ns = t.namespaces[1]
            lba = 0
            for seed, size in enumerate((512, 4096, 65536, 262144)):
                data = pattern(size, seed + 40)
                eq(dbg_write(d, "nvme0n1", lba, data), True, "uring: write %d bytes" % size)
                eq(bytes(ns.data[lba * BLOCK:lba * BLOCK + size]), data,
                   "uring: target RAM after a %d-byte write" % size)
                eq(dbg_read(d, "nvme0n1", lba, size // BLOCK), data,
                   "uring: read back %d bytes" % size)
                lba += size // BLOCK
            # back to posix: the next reconnect hands over posix queue pairs
            eq(d.rpc("sock_set_default_impl", {"impl_name": "posix"}), True, "posix again")
            eq(sock_impls(d), ["uring"], "queues keep their sockets until they reconnect")
            eq(d.rpc("bdev_nvme_reset_controller", {"name": "nvme0"}), True, "reset")
            wait_sock_impl(d, "nvme0", "posix")
            eq(dbg_read(d, "nvme0n1", 0, 1), pattern(512, 40), "posix: read after the switch")
            eq(t.log, [], "the target saw no protocol error")
            eq(d.stop(), 0, "exit code")
    finally:
        t.stop()


if __name__ == "__main__":
    main()
