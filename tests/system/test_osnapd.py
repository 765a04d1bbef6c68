#!/usr/bin/env python3
"""System tests of the osnapd program: start-up files (--init-rpc, --json),
save_config, signals, log level, SNAP_* parameters, idle CPU, options."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import osnaptest  # noqa: E402
from osnaptest import Daemon, RpcConn, check, eq, main, test  # noqa: E402

ALL_METHODS = [
    "rpc_get_methods", "spdk_get_version", "osnap_get_version", "framework_start_init",
    "save_config", "snap_log_level_set", "snap_global_param_list",
    "bdev_get_bdevs", "bdev_get_iostat", "bdev_dbg_io",
    "bdev_malloc_create", "bdev_malloc_delete", "bdev_null_create", "bdev_null_delete",
    "bdev_uring_create", "bdev_uring_delete", "bdev_aio_create", "bdev_aio_delete",
]


def run_fail(args, env=None, timeout=30):
    """Start osnapd expecting it to exit by itself; returns (code, output)."""
    d = Daemon(args, env=env, wait=False)
    try:
        rc = d.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        d.proc.kill()
        d.proc.wait()
        raise AssertionError("osnapd kept running:\n" + d.logtext())
    d.log.close()
    # a refused start is an orderly exit with a status, never a crash (or,
    # under ASan, a leak report: abort_on_error turns it into SIGABRT)
    check(rc >= 0, "osnapd %r died by signal %d:\n%s" % (args, -rc, d.logtext()[-4000:]))
    return rc, d.logtext(), d


def reap(d, timeout=30):
    """Wait for an osnapd that was signalled directly (os.kill) to exit;
    returns its exit code and keeps .rusage, like Daemon.stop(). (stop()
    itself cannot be used once the process may have exited: its poll()
    would reap it before os.wait4.)"""
    if d._conn:
        d._conn.close()
        d._conn = None
    end = time.time() + timeout
    while time.time() < end:
        pid, status, ru = os.wait4(d.proc.pid, os.WNOHANG)
        if pid:
            d.rusage = ru
            d.proc.returncode = os.waitstatus_to_exitcode(status)
            d.log.close()
            return d.proc.returncode
        time.sleep(0.01)
    os.kill(d.proc.pid, signal.SIGKILL)
    os.wait4(d.proc.pid, 0)
    d.proc.returncode = -9
    raise AssertionError("osnapd did not exit within %ds:\n%s" % (timeout, d.logtext()[-3000:]))


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def temp_file(d, name, size):
    path = os.path.join(d, name)
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def names(d):
    return [b["name"] for b in d.rpc("bdev_get_bdevs")]


@test
def init_rpc_replays_seed_style_file():
    td = osnaptest.tmpdir()
    img = temp_file(td, "u.img", 4 << 20)
    init = write(os.path.join(td, "snap_rpc_init.conf"), """\
# osnap start-up configuration, as SNAP's snap_rpc_init.conf
snap_rpc.py snap_log_level_set -l 3

spdk_rpc.py bdev_malloc_create 8 512 -b Malloc0   # a RAM disk
   spdk_rpc.py bdev_null_create Null0 8 4096
/usr/bin/spdk_rpc.py -s /var/tmp/spdk.sock bdev_uring_create %s Uring0
rpc.py -r 3 bdev_malloc_create -u 5a6b0c9e-0d8f-4e3a-9b1c-2d3e4f5a6b7c 1 4096 -b 'Malloc1'
osnap-rpc bdev_malloc_create 2 512 --name "Malloc2"
#spdk_rpc.py bdev_malloc_create 8 512 -b Commented
""" % img)
    with Daemon(["--init-rpc", init]) as d:
        eq(names(d), ["Malloc0", "Null0", "Uring0", "Malloc1", "Malloc2"], "bdevs created in order")
        m0 = d.rpc("bdev_get_bdevs", {"name": "Malloc0"})[0]
        eq((m0["block_size"], m0["num_blocks"]), (512, 16384), "Malloc0 geometry (8 MiB)")
        n0 = d.rpc("bdev_get_bdevs", {"name": "Null0"})[0]
        eq((n0["block_size"], n0["num_blocks"]), (4096, 2048), "Null0 geometry (8 MiB)")
        u0 = d.rpc("bdev_get_bdevs", {"name": "Uring0"})[0]
        eq((u0["block_size"], u0["num_blocks"]), (512, 8192), "Uring0 geometry (4 MiB file)")
        m1 = d.rpc("bdev_get_bdevs", {"name": "Malloc1"})[0]
        eq(m1["uuid"], "5a6b0c9e-0d8f-4e3a-9b1c-2d3e4f5a6b7c", "Malloc1 uuid")
        eq(m1["num_blocks"], 256, "Malloc1 num_blocks")
        eq(d.stop(), 0, "exit code")


@test
def init_rpc_failing_line_stops_start():
    td = osnaptest.tmpdir()
    init = write(os.path.join(td, "bad.conf"), """\
# line 1
spdk_rpc.py bdev_malloc_create 8 512 -b M0

spdk_rpc.py bdev_malloc_create 8 512 -b M0
spdk_rpc.py bdev_malloc_create 8 512 -b NeverCreated
""")
    rc, out, d = run_fail(["--init-rpc", init])
    check(rc != 0, "osnapd started although line 4 fails:\n" + out)
    check("%s:4" % init in out, "the error does not name %s:4:\n%s" % (init, out))
    check("already exists" in out, "the error does not say why:\n" + out)
    check(not os.path.exists(d.sock), "a socket was left by the failed start")

    # a line the command-line parser refuses (unknown method, bad argument)
    init2 = write(os.path.join(td, "bad2.conf"),
                  "spdk_rpc.py bdev_malloc_create 8 512 -b A\nsnap_rpc.py no_such_method -x\n")
    rc, out, _ = run_fail(["--init-rpc", init2])
    check(rc != 0, "started with an unknown method in the file:\n" + out)
    check("%s:2" % init2 in out, "error does not name %s:2:\n%s" % (init2, out))
    init3 = write(os.path.join(td, "bad3.conf"), "bdev_malloc_create eight 512 -b A\n")
    rc, out, _ = run_fail(["--init-rpc", init3])
    check(rc != 0, "started with a bad argument in the file:\n" + out)
    check("%s:1" % init3 in out, "error does not name %s:1:\n%s" % (init3, out))
    # a missing file
    missing = os.path.join(td, "missing.conf")
    rc, out, _ = run_fail(["--init-rpc", missing])
    check(rc != 0 and missing in out, "missing init file: rc %d:\n%s" % (rc, out))


@test
def two_init_files_in_order():
    td = osnaptest.tmpdir()
    first = write(os.path.join(td, "1.conf"), "spdk_rpc.py bdev_malloc_create 8 512 -b A\n"
                                              "spdk_rpc.py bdev_malloc_create 8 512 -b B\n")
    # the second one needs the first one's objects: order matters
    second = write(os.path.join(td, "2.conf"), "spdk_rpc.py bdev_malloc_delete A\n"
                                               "spdk_rpc.py bdev_null_create C 8 512\n")
    with Daemon(["--init-rpc", first, "--init-rpc", second]) as d:
        eq(names(d), ["B", "C"], "bdevs after both files")
        eq(d.stop(), 0, "exit code")
    # reversed, the delete comes first and fails: the start fails naming it
    rc, out, _ = run_fail(["--init-rpc", second, "--init-rpc", first])
    check(rc != 0, "reversed order started:\n" + out)
    check("%s:1" % second in out, "reversed order: error does not name %s:1:\n%s" % (second, out))


def strip_volatile(cfg):
    return json.dumps(cfg, sort_keys=True, indent=1)


@test
def save_config_round_trip():
    td = osnaptest.tmpdir()
    img = temp_file(td, "u.img", 2 << 20)
    img2 = temp_file(td, "a.img", 1 << 20)
    with Daemon() as d:
        d.rpc("bdev_malloc_create", {"num_blocks": 64, "block_size": 4096, "name": "M0",
                                     "uuid": "11111111-2222-4333-8444-555555555555"})
        d.rpc("bdev_malloc_create", {"num_blocks": 100, "block_size": 512})
        d.rpc("bdev_null_create", {"name": "N0", "num_blocks": 1000, "block_size": 512})
        d.rpc("bdev_uring_create", {"filename": img, "name": "U0"})
        d.rpc("bdev_uring_create", {"filename": img, "name": "U1", "block_size": 4096})
        d.rpc("bdev_aio_create", {"filename": img2, "name": "A0", "fallocate": True})
        cfg1 = d.rpc("save_config")
        before = d.rpc("bdev_get_bdevs")
        eq(d.stop(), 0, "exit code")
    path = write(os.path.join(td, "config.json"), json.dumps(cfg1, indent=2))
    with Daemon(["--json", path]) as d:
        cfg2 = d.rpc("save_config")
        after = d.rpc("bdev_get_bdevs")
        eq(d.stop(), 0, "exit code after --json")
    eq(strip_volatile(cfg2), strip_volatile(cfg1), "save_config after restart")
    eq(cfg2, cfg1, "save_config after restart (order too)")
    bdevs = cfg1["subsystems"][0]
    eq(bdevs["subsystem"], "bdev", "first subsystem")
    eq([e["method"] for e in bdevs["config"]],
       ["bdev_malloc_create", "bdev_malloc_create", "bdev_null_create", "bdev_uring_create",
        "bdev_uring_create", "bdev_aio_create"], "config methods")
    for b in before:
        b.pop("driver_specific", None)
    for b in after:
        b.pop("driver_specific", None)
    eq(after, before, "bdev_get_bdevs after restart")
    # a broken --json file stops the start, naming the file
    bad = write(os.path.join(td, "bad.json"), '{"subsystems": [ {"subsystem": "bdev", "config": [')
    rc, out, _ = run_fail(["--json", bad])
    check(rc != 0 and bad in out, "broken --json: rc %d:\n%s" % (rc, out))
    cfg1["subsystems"][0]["config"].append(
        {"method": "bdev_malloc_create", "params": {"name": "M0", "num_blocks": 8, "block_size": 512}})
    dup = write(os.path.join(td, "dup.json"), json.dumps(cfg1))
    rc, out, _ = run_fail(["--json", dup])
    check(rc != 0 and "already exists" in out, "--json with a failing call: rc %d:\n%s" % (rc, out))


@test
def sigterm_and_sigint_exit_cleanly():
    td = osnaptest.tmpdir()
    img = temp_file(td, "u.img", 1 << 20)
    for sig in (signal.SIGTERM, signal.SIGINT):
        with Daemon() as d:
            d.rpc("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": "M0"})
            d.rpc("bdev_uring_create", {"filename": img, "name": "U0"})
            d.rpc("bdev_aio_create", {"filename": img, "name": "A0"})
            for b in ("M0", "U0", "A0"):
                d.rpc("bdev_dbg_io", {"name": b, "op": "write", "pattern": 1})
            idle = RpcConn(d.sock)  # a connected client does not hold the exit
            check(os.path.exists(d.sock), "socket missing")
            eq(d.stop(sig), 0, "exit code after %s" % sig.name)
            check(not os.path.exists(d.sock), "socket file left after %s" % sig.name)
            idle.close()


def inflight_attempt(nreg=2048, blocks=8):
    """Send nreg 4 KiB FUA writes (one per region) to a uring bdev, many
    more than bdev_dbg_io keeps in flight at once (256): the rest wait and
    start one by one as earlier ones finish. SIGTERM osnapd when the first
    answer arrives, i.e. while that stream of writes runs. Returns
    (answers received, regions written)."""
    import threading
    td = osnaptest.tmpdir()
    img = temp_file(td, "u.img", nreg * blocks * 512)
    with Daemon() as d:
        d.rpc("bdev_uring_create", {"filename": img, "name": "U0"})
        c = RpcConn(d.sock, timeout=60)
        reqs = [json.dumps({"jsonrpc": "2.0", "id": i + 1, "method": "bdev_dbg_io",
                            "params": {"name": "U0", "op": "write", "offset_blocks": i * blocks,
                                       "num_blocks": blocks, "pattern": i % 255 + 1, "fua": True}})
                for i in range(nreg)]

        def sender():
            # a thread of its own: osnapd reads while we wait for its answers
            try:
                for k in range(0, nreg, 64):
                    c.send_raw("".join(reqs[k:k + 64]))
            except OSError:
                pass  # the daemon closed the connection
        t = threading.Thread(target=sender)
        t.start()
        answered = set()
        r = c.recv_obj()        # the event: the writes are streaming
        check("result" in r, "a write failed: %r" % r)
        answered.add(r["id"] - 1)
        os.kill(d.proc.pid, signal.SIGTERM)
        try:
            while True:
                r = c.recv_obj()
                check("result" in r, "a write failed: %r" % r)
                answered.add(r["id"] - 1)
        except (EOFError, ConnectionResetError):
            pass
        t.join(60)
        c.close()
        rc = reap(d)
        eq(rc, 0, "exit code with writes in flight:\n" + d.logtext()[-3000:])
        check(not os.path.exists(d.sock), "socket left")
    written = set()
    with open(img, "rb") as f:
        for i in range(nreg):
            data = f.read(blocks * 512)
            if data == bytes([i % 255 + 1]) * len(data):
                written.add(i)
            else:
                check(data == bytes(len(data)), "region %d is torn (the write was cut off)" % i)
    missing = answered - written
    eq(sorted(missing), [], "answered writes not in the file")
    return len(answered), len(written)


@test
def sigterm_with_io_in_flight():
    # Evidence of a write in flight at SIGTERM: it completed (its data is in
    # the file) but its answer could no longer be sent, because the RPC
    # connections close first and the I/O is drained after. SIGTERM goes
    # out at the first answer, while hundreds of writes are queued behind
    # the ones running, so there is always I/O on its way when osnapd
    # handles the signal; a couple of attempts allow for a machine that
    # stalls this process until the stream has run dry.
    seen = []
    for _ in range(3):
        got, written = inflight_attempt()
        seen.append((got, written))
        if written > got:
            print("# SIGTERM at the first answer: %d answers, %d writes done" % (got, written))
            return
    raise AssertionError("no write was caught in flight (answers, written): %r" % seen)


@test
def log_level_set():
    with Daemon() as d:
        d.rpc("spdk_get_version")
        time.sleep(0.1)
        check(" DEBUG " not in d.logtext(), "debug lines at the default level")
        eq(d.rpc("snap_log_level_set", {"level": 4}), True, "set level 4")
        d.rpc("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": "Dbg0"})
        d.rpc("bdev_get_bdevs")
        time.sleep(0.1)
        log = d.logtext()
        check(re.search(r" DEBUG .*bdev_get_bdevs", log), "no debug line after level 4:\n" + log)
        # level 2 (warnings): info lines go away
        eq(d.rpc("snap_log_level_set", {"level": 2}), True, "set level 2")
        mark = len(d.logtext())
        d.rpc("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": "Quiet0"})
        d.rpc("bdev_get_bdevs")
        time.sleep(0.1)
        tail = d.logtext()[mark:]
        check("Quiet0" not in tail and " DEBUG " not in tail and " INFO " not in tail,
              "info/debug lines at level 2:\n" + tail)
        for bad in (6, -1, 100, "4", 2.5, None):
            e = d.rpc_error("snap_log_level_set", {"level": bad} if bad is not None else {})
            eq(e.code, -32602, "level %r" % (bad,))
            check("level" in e.message, "message %r does not name 'level'" % e.message)
        # the CLI form of the SNAP documentation
        d.cli("snap_log_level_set", "-l", "4")
        d.rpc("bdev_get_bdevs")
        time.sleep(0.1)
        check(" DEBUG " in d.logtext()[mark:], "snap_log_level_set -l 4 had no effect")
        eq(d.stop(), 0, "exit code")
    # --log-level at start
    with Daemon(["--log-level", "4"]) as d:
        d.rpc("bdev_get_bdevs")
        time.sleep(0.1)
        check(" DEBUG " in d.logtext(), "--log-level 4: no debug lines")
        eq(d.stop(), 0, "exit code")
    rc, out, _ = run_fail(["--log-level", "9"])
    check(rc != 0, "--log-level 9 accepted")


def params_of(d):
    lines = d.rpc("snap_global_param_list")
    check(isinstance(lines, list) and all(isinstance(x, str) for x in lines),
          "not a list of strings: %r" % lines)
    out = {}
    for line in lines:
        m = re.fullmatch(r"(\w+) : (set|not set) : (.*)", line)
        check(m, "line %r is not 'NAME : set|not set : value'" % line)
        out[m.group(1)] = (m.group(2), m.group(3))
    return out, lines


@test
def global_params():
    env = {k: None for k in os.environ if k.startswith("SNAP_") or k in ("VBLK_RECOVERY_SHM",)}
    clean = {k: v for k, v in os.environ.items() if k not in env}
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update(clean)
        with Daemon(env={"SNAP_MEMPOOL_SIZE_MB": "2048"}) as d:
            p, lines = params_of(d)
            check("SNAP_MEMPOOL_SIZE_MB : set : 2048" in lines, "lines: %r" % lines)
            eq(p["SNAP_RPC_LOG_ENABLE"], ("set", "0"), "SNAP_RPC_LOG_ENABLE (set by the harness)")
            eq(p["SNAP_POLL_CYCLE_SIZE"][0], "not set", "SNAP_POLL_CYCLE_SIZE")
            eq(d.stop(), 0, "exit code")
        with Daemon() as d:
            p, lines = params_of(d)
            eq(p["SNAP_MEMPOOL_SIZE_MB"][0], "not set", "SNAP_MEMPOOL_SIZE_MB without env")
            check(re.fullmatch(r"\d+", p["SNAP_MEMPOOL_SIZE_MB"][1]),
                  "default value %r" % (p["SNAP_MEMPOOL_SIZE_MB"],))
            for name in ("VBLK_RECOVERY_SHM", "NVME_BDEV_RESET_ENABLE", "SNAP_LOG_FILE"):
                check(name in p, "%s missing from %r" % (name, lines))
            eq(d.stop(), 0, "exit code")
        for bad in ("abc", "", "12abc", "99999999999999999999"):
            rc, out, _ = run_fail([], env={"SNAP_MEMPOOL_SIZE_MB": bad})
            check(rc != 0, "SNAP_MEMPOOL_SIZE_MB=%r accepted:\n%s" % (bad, out))
            check("SNAP_MEMPOOL_SIZE_MB" in out, "error does not name the variable:\n" + out)
        rc, out, _ = run_fail([], env={"VIRTIO_EMU_PROVIDER": "gpu"})
        check(rc != 0 and "VIRTIO_EMU_PROVIDER" in out, "bad VIRTIO_EMU_PROVIDER: %d\n%s" % (rc, out))
        with Daemon(env={"SNAP_FOO": "1"}) as d:
            check("result" in d.conn().call_full("spdk_get_version"), "call")
            log = d.logtext()
            check(re.search(r"WARN.*SNAP_FOO", log), "no warning about SNAP_FOO:\n" + log)
            p, _ = params_of(d)
            check("SNAP_FOO" not in p, "unknown variable listed")
            eq(d.stop(), 0, "exit code")
    finally:
        os.environ.clear()
        os.environ.update(saved)


def cpu_seconds(ru):
    return ru.ru_utime + ru.ru_stime


def idle_run(mask, seconds=3.0, warm=None):
    with Daemon(cpumask=mask) as d:
        if warm:
            warm(d)
        c = RpcConn(d.sock)
        check("result" in c.call_full("spdk_get_version"), "call")
        t0 = time.time()
        time.sleep(seconds)
        check("result" in c.call_full("spdk_get_version"), "call after idling")
        eq(d.stop(), 0, "exit code")
        wall = time.time() - t0
        c.close()
        return cpu_seconds(d.rusage), wall


@test
def idle_cpu():
    limit = 1.0 if osnaptest.SANITIZED else 0.3
    cpu, wall = idle_run("0x1")
    print("# -m 0x1: %.3fs CPU in %.1fs" % (cpu, wall))
    check(wall >= 3.0, "ran %.1fs" % wall)
    check(cpu < limit, "idle osnapd -m 0x1 used %.2fs CPU in %.1fs (limit %.1fs): the reactor "
          "does not sleep" % (cpu, wall, limit))
    if (os.cpu_count() or 1) >= 2:
        td = osnaptest.tmpdir()
        img = temp_file(td, "u.img", 1 << 20)

        def warm(d):
            d.rpc("bdev_uring_create", {"filename": img, "name": "U0"})
            d.rpc("bdev_aio_create", {"filename": img, "name": "A0"})
            for b in ("U0", "A0"):
                for i in range(10):
                    d.rpc("bdev_dbg_io", {"name": b, "op": "write", "offset_blocks": i, "pattern": i})
        cpu, wall = idle_run("0x3", warm=warm)
        print("# -m 0x3: %.3fs CPU in %.1fs" % (cpu, wall))
        check(cpu < limit * 1.5, "idle osnapd -m 0x3 used %.2fs CPU in %.1fs (limit %.2fs)"
              % (cpu, wall, limit * 1.5))


@test
def rpc_get_methods_lists_every_method():
    with Daemon() as d:
        methods = d.rpc("rpc_get_methods")
        check(isinstance(methods, list), "not a list")
        eq(len(methods), len(set(methods)), "duplicates in %r" % methods)
        missing = [m for m in ALL_METHODS if m not in methods]
        eq(missing, [], "methods missing from rpc_get_methods")
        # every listed method exists: a bogus parameter is never -32601
        for m in methods:
            r = d.conn().call_full(m, {"__bogus__": 1})
            check("error" in r, "%s accepted an unknown parameter: %r" % (m, r))
            check(r["error"]["code"] != -32601, "%s listed but not found" % m)
            check(r["error"]["code"] in (-32602, -32604), "%s: %r" % (m, r["error"]))
        eq(d.rpc("rpc_get_methods", {"current": True}), [m for m in methods if m != "framework_start_init"],
           "current methods at run time")
        eq(d.stop(), 0, "exit code")


@test
def versions():
    with Daemon() as d:
        v = d.rpc("spdk_get_version")
        check(isinstance(v.get("version"), str) and v["version"], "spdk_get_version: %r" % v)
        check(isinstance(v.get("fields"), dict), "no fields: %r" % v)
        for k in ("major", "minor", "patch"):
            check(isinstance(v["fields"].get(k), int), "fields.%s: %r" % (k, v))
        o = d.rpc("osnap_get_version")
        check(isinstance(o.get("version"), str) and o["version"], "osnap_get_version: %r" % o)
        eq(d.rpc_error("spdk_get_version", {"x": 1}).code, -32602, "spdk_get_version with params")
        p = subprocess.run([osnaptest.OSNAPD, "-V"], capture_output=True, text=True, timeout=10)
        eq(p.returncode, 0, "-V exit code")
        check(p.stdout.strip().split()[-1] in v["version"], "-V %r vs %r" % (p.stdout, v))


@test
def log_file_and_rpc_log():
    td = osnaptest.tmpdir()
    rpc_log = os.path.join(td, "snap-log", "rpc-log")
    log_file = os.path.join(td, "osnap.log")
    with Daemon(["--rpc-log", rpc_log], env={"SNAP_RPC_LOG_ENABLE": "1", "SNAP_LOG_FILE": log_file}) as d:
        d.rpc("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": "Logged0"})
        d.rpc_error("bdev_get_bdevs", {"name": "NotThere"})
        eq(d.stop(), 0, "exit code")
    check(os.path.exists(rpc_log), "no RPC log at %s" % rpc_log)
    text = open(rpc_log).read()
    for what in ("request", "response", "bdev_malloc_create", "Logged0", "NotThere", "-19"):
        check(what in text, "RPC log lacks %r:\n%s" % (what, text))
    check(os.path.exists(log_file), "SNAP_LOG_FILE not written")
    text = open(log_file).read()
    check("bdev Logged0 created" in text, "SNAP_LOG_FILE lacks the bdev line:\n" + text)
    # SNAP_RPC_LOG_ENABLE=0 (the harness default): no RPC log
    rpc_log2 = os.path.join(td, "none", "rpc-log")
    with Daemon(["--rpc-log", rpc_log2]) as d:
        d.rpc("spdk_get_version")
        eq(d.stop(), 0, "exit code")
    check(not os.path.exists(rpc_log2), "RPC log written with SNAP_RPC_LOG_ENABLE=0")


@test
def help_and_bad_options():
    p = subprocess.run([osnaptest.OSNAPD, "-h"], capture_output=True, text=True, timeout=10)
    eq(p.returncode, 0, "-h exit code")
    check("Usage" in p.stdout or "usage" in p.stdout, "-h output: %r" % p.stdout)
    for opt in ("-m", "-r", "--init-rpc", "--json", "--wait-for-rpc", "--log-level"):
        check(opt in p.stdout, "-h does not mention %s" % opt)
    p = subprocess.run([osnaptest.OSNAPD, "--help"], capture_output=True, text=True, timeout=10)
    eq(p.returncode, 0, "--help exit code")
    for mask in ("zz", "0x", "0", "0x0", "-1", "[]", "[64]", "[3-1]", "0x1g"):
        rc, out, d = run_fail(["-m", mask])
        check(rc != 0, "-m %r accepted:\n%s" % (mask, out))
        check(not os.path.exists(d.sock), "-m %r: socket created" % mask)
    # a core this machine does not have
    rc, out, _ = run_fail(["-m", "0x8000000000000000"])
    check(rc != 0, "-m with an absent core accepted:\n" + out)
    check("core" in out, "no word about the core:\n" + out)
    for args in (["--bogus"], ["extra"], ["--log-level"], ["-r", "/tmp/" + "x" * 200]):
        rc, out, _ = run_fail(args)
        check(rc != 0, "%r accepted:\n%s" % (args, out))


@test
def emu_dir_others_could_write_refused():
    """EMU_DIR where another user could replace our sockets: refused."""
    td = osnaptest.tmpdir()
    real = os.path.join(td, "real")
    os.mkdir(real, 0o755)
    link = os.path.join(td, "link")
    os.symlink(real, link)
    ww = os.path.join(td, "ww")
    os.mkdir(ww)
    os.chmod(ww, 0o1777)                  # like /tmp: world-writable, sticky
    for d, why in ((link, "symbolic link"), (ww, "writable by others")):
        conf = write(os.path.join(td, "emu-%s.conf" % os.path.basename(d)), "EMU_DIR=%s\n" % d)
        rc, out, dm = run_fail(["-c", conf])
        check(rc != 0, "osnapd started with EMU_DIR %s:\n%s" % (d, out))
        check("EMU_DIR" in out and why in out, "the refusal does not say '%s':\n%s" % (why, out))
        check(not os.path.exists(dm.sock), "a socket was left by the refused start")
    check(os.listdir(real) == [], "sockets were made through the symlink: %r" % os.listdir(real))
    # a private directory that does not exist yet is made, owner-only sockets in it
    fresh = os.path.join(td, "fresh", "emu")
    conf = write(os.path.join(td, "emu-fresh.conf"), "EMU_DIR=%s\nEMU_SOCKET_MODE=0660\n" % fresh)
    d = Daemon(["-c", conf])
    try:
        socks = [f for f in os.listdir(fresh) if f.endswith(".sock")]
        check(socks, "no endpoint in %s" % fresh)
        for f in socks:
            mode = os.stat(os.path.join(fresh, f)).st_mode & 0o777
            eq(mode, 0o660, "mode of %s" % f)
        eq(os.stat(d.sock).st_mode & 0o777, 0o600, "mode of the RPC socket")
    finally:
        d.stop()


if __name__ == "__main__":
    main()
