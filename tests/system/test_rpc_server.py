#!/usr/bin/env python3
"""System tests of osnapd's JSON-RPC server: framing, batches, notifications,
error codes, limits, several clients, the socket file, --wait-for-rpc."""
import base64
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import osnaptest  # noqa: E402
from osnaptest import Daemon, RpcConn, check, eq, main, test  # noqa: E402

MAX_REQUEST = 1 << 20


def req(id_, method, params=None):
    r = {"jsonrpc": "2.0", "id": id_, "method": method}
    if params is not None:
        r["params"] = params
    return r


def notif(method, params=None):
    r = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        r["params"] = params
    return r


def nothing_pending(conn, wait=0.3):
    """True when no byte arrives on conn within `wait` seconds."""
    if conn.buf.strip():
        return False
    conn.sock.settimeout(wait)
    try:
        data = conn.sock.recv(65536)
    except socket.timeout:
        return True
    finally:
        conn.sock.settimeout(30)
    conn.buf += data
    return False


def expect_eof(conn, timeout=30):     # generous: a loaded 2-core machine
    """The server closed the connection (after what was already read)."""
    conn.sock.settimeout(timeout)
    try:
        while True:
            data = conn.sock.recv(65536)
            if not data:
                return
            check(not data.strip(), "unexpected data before EOF: %r" % data[:200])
    except socket.timeout:
        raise AssertionError("the server did not close the connection")
    except ConnectionResetError:
        return


def error_of(resp, code, what):
    check(isinstance(resp, dict), "%s: response is not an object: %r" % (what, resp))
    check("error" in resp, "%s: no error in %r" % (what, resp))
    check("result" not in resp, "%s: both error and result in %r" % (what, resp))
    eq(resp["error"]["code"], code, what + " code")
    eq(resp.get("jsonrpc"), "2.0", what + " jsonrpc")
    check(isinstance(resp["error"].get("message"), str) and resp["error"]["message"],
          "%s: error without a message: %r" % (what, resp))
    return resp["error"]


@test
def one_byte_at_a_time():
    with Daemon() as d:
        c = RpcConn(d.sock)
        data = json.dumps(req(7, "spdk_get_version")).encode()
        for i, b in enumerate(data):
            c.send_raw(bytes([b]))
            if i % 8 == 0:
                time.sleep(0.002)  # make the server see the pieces separately
            if i == len(data) - 2:
                check(nothing_pending(c, 0.2), "answer before the request was complete")
        resp = c.recv_obj()
        eq(resp.get("id"), 7, "id")
        check("version" in resp.get("result", {}), "no version in %r" % resp)
        # and the connection keeps working afterwards
        eq(c.call_full("spdk_get_version")["id"], 1, "next id")
        c.close()


@test
def two_requests_in_one_write():
    with Daemon() as d:
        c = RpcConn(d.sock)
        payload = (json.dumps(req(1, "spdk_get_version")) + "\n" +
                   json.dumps(req(2, "bdev_get_bdevs")))
        c.send_raw(payload)
        r1 = c.recv_obj()
        r2 = c.recv_obj()
        eq(r1.get("id"), 1, "first answer id")
        eq(r2.get("id"), 2, "second answer id")
        check("version" in r1["result"], "first answer %r" % r1)
        eq(r2["result"], [], "second answer result")
        # no whitespace at all between the two values
        c.send_raw(json.dumps(req(3, "spdk_get_version")) + json.dumps(req(4, "rpc_get_methods")))
        eq(c.recv_obj().get("id"), 3, "third answer id")
        eq(c.recv_obj().get("id"), 4, "fourth answer id")
        check(nothing_pending(c), "extra answers")
        c.close()


@test
def batch():
    with Daemon() as d:
        c = RpcConn(d.sock)
        c.send_raw(json.dumps([
            req(1, "spdk_get_version"),
            notif("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": "BN"}),
            req("two", "bdev_get_bdevs"),
            req(3, "no_such_method"),
        ]))
        resp = c.recv_obj()
        check(isinstance(resp, list), "batch answer is not an array: %r" % resp)
        eq(len(resp), 3, "answers in the batch (the notification has none)")
        by_id = {r.get("id"): r for r in resp}
        eq(sorted(by_id, key=str), [1, 3, "two"], "ids of the answers")
        check("version" in by_id[1]["result"], "answer 1 %r" % by_id[1])
        error_of(by_id[3], -32601, "unknown method in a batch")
        # The notification ran (in order) and the next request sees the bdev.
        names = [b["name"] for b in by_id["two"]["result"]]
        eq(names, ["BN"], "bdevs seen by the request after the notification")
        check(nothing_pending(c), "extra answers after the batch")

        # An invalid member gets its own -32600 in the array.
        c.send_raw(json.dumps([1, req(5, "spdk_get_version")]))
        resp = c.recv_obj()
        check(isinstance(resp, list) and len(resp) == 2, "answer %r" % resp)
        errs = [r for r in resp if "error" in r]
        eq(len(errs), 1, "error members")
        error_of(errs[0], -32600, "non-object batch member")
        eq(errs[0].get("id"), None, "id of the invalid member's error")

        # An empty batch is an invalid request (one object, not an array).
        c.send_raw("[]")
        error_of(c.recv_obj(), -32600, "empty batch")
        eq(c.call_full("spdk_get_version").get("id"), c.next_id - 1, "after empty batch")
        c.close()


@test
def notifications_get_no_answer():
    with Daemon() as d:
        c = RpcConn(d.sock)
        # A lone notification, then an all-notification batch: nothing comes
        # back; the next request gets its answer and only that.
        c.send_raw(json.dumps(notif("spdk_get_version")))
        c.send_raw(json.dumps([notif("spdk_get_version"), notif("no_such_method"),
                               notif("bdev_malloc_create", {"num_blocks": 8, "block_size": 512,
                                                             "name": "NN"})]))
        c.send_raw(json.dumps(req(42, "bdev_get_bdevs")))
        resp = c.recv_obj()
        check(isinstance(resp, dict), "got %r, expected only the answer to id 42" % resp)
        eq(resp.get("id"), 42, "id")
        eq([b["name"] for b in resp["result"]], ["NN"], "the notification in the batch ran")
        check(nothing_pending(c), "an answer to a notification arrived")
        c.close()


@test
def malformed_json_inside_object():
    with Daemon() as d:
        c = RpcConn(d.sock)
        bad = [
            '{"jsonrpc": "2.0", "id": 1, "method": "spdk_get_version",}',
            '{"jsonrpc": "2.0", "id": 1, "method": spdk_get_version}',
            '{"jsonrpc": "2.0", "id": 1, "method": "x", "method": "y"}',
            '{"a": [1, 2}]',
        ]
        for text in bad:
            c.send_raw(text)
            e = error_of(c.recv_obj(), -32700, "malformed %s" % text)
            check("arse" in e["message"], "message %r does not say parse error" % e["message"])
            # the connection keeps working
            resp = c.call_full("spdk_get_version")
            check("result" in resp, "after %s: %r" % (text, resp))
        c.close()


@test
def garbage_at_top_level_closes():
    with Daemon() as d:
        other = RpcConn(d.sock)
        for garbage in ["hello\n", "42\n", '"str"']:
            c = RpcConn(d.sock)
            c.send_raw(garbage)
            error_of(c.recv_obj(), -32700, "garbage %r" % garbage)
            expect_eof(c)
            c.close()
        # Garbage after a good request: the good one is answered first.
        c = RpcConn(d.sock)
        c.send_raw(json.dumps(req(9, "spdk_get_version")) + " hello")
        eq(c.recv_obj().get("id"), 9, "answer before the garbage")
        error_of(c.recv_obj(), -32700, "garbage after a request")
        expect_eof(c)
        c.close()
        check("result" in other.call_full("spdk_get_version"), "other client broken")
        other.close()


def padded_request(id_, total):
    """A bdev_get_bdevs request of exactly `total` bytes (a long name)."""
    base = json.dumps(req(id_, "bdev_get_bdevs", {"name": ""}))
    name = "x" * (total - len(base))
    text = json.dumps(req(id_, "bdev_get_bdevs", {"name": name}))
    assert len(text) == total
    return text.encode()


@test
def request_over_1mib():
    with Daemon() as d:
        # exactly 1 MiB is still accepted and answered
        c = RpcConn(d.sock)
        c.send_raw(padded_request(1, MAX_REQUEST))
        resp = c.recv_obj()
        eq(resp.get("id"), 1, "id of the 1 MiB request")
        check("error" in resp and resp["error"]["code"] == -19,
              "1 MiB request: expected -19 (no such bdev), got %r" % str(resp)[:300])
        c.close()

        other = RpcConn(d.sock)
        check("result" in other.call_full("spdk_get_version"), "other client before")
        big = RpcConn(d.sock)
        result = {}

        def send_big():
            try:
                big.send_raw(padded_request(2, MAX_REQUEST + 1) + b"\n" +
                             json.dumps(req(3, "spdk_get_version")).encode())
                result["sent"] = True
            except (BrokenPipeError, ConnectionResetError) as e:
                result["sent"] = e
        t = threading.Thread(target=send_big)
        t.start()
        # the other client keeps being served while the flood comes in
        for _ in range(20):
            check("result" in other.call_full("spdk_get_version"), "other client during")
        t.join(30)
        check(not t.is_alive(), "sender stuck")
        resp = big.recv_obj()
        e = error_of(resp, -32600, "request over 1 MiB")
        check("1 MiB" in e["message"] or "large" in e["message"],
              "message %r does not say why" % e["message"])
        expect_eof(big)
        big.close()
        for _ in range(5):
            check("result" in other.call_full("spdk_get_version"), "other client after")
        # and new clients too
        n = RpcConn(d.sock)
        check("result" in n.call_full("spdk_get_version"), "new client after")
        n.close()
        other.close()


@test
def error_codes():
    with Daemon() as d:
        c = RpcConn(d.sock)
        e = error_of(c.call_full("no_such_method"), -32601, "unknown method")
        check("no_such_method" in e["message"], "message %r lacks the method" % e["message"])
        error_of(c.call_full("bdev_get_bdevs", ["M0"]), -32602, "params as an array")
        error_of(c.call_full("spdk_get_version", 5), -32602, "params as a number")
        for ver in ["1.0", 2.0, None]:
            r = {"id": 11, "method": "spdk_get_version"}
            if ver is not None:
                r["jsonrpc"] = ver
            c.send_raw(json.dumps(r))
            resp = c.recv_obj()
            error_of(resp, -32600, "jsonrpc %r" % ver)
            eq(resp.get("id"), 11, "id echoed in the -32600 answer")
        c.send_raw(json.dumps({"jsonrpc": "2.0", "id": 12}))
        error_of(c.recv_obj(), -32600, "no method")
        c.send_raw(json.dumps({"jsonrpc": "2.0", "id": 13, "method": 5}))
        error_of(c.recv_obj(), -32600, "method not a string")
        c.send_raw(json.dumps({"jsonrpc": "2.0", "id": {"a": 1}, "method": "spdk_get_version"}))
        error_of(c.recv_obj(), -32600, "id an object")
        # string ids come back as strings, null params is "no params"
        c.send_raw(json.dumps({"jsonrpc": "2.0", "id": "abc", "method": "spdk_get_version",
                               "params": None}))
        resp = c.recv_obj()
        eq(resp.get("id"), "abc", "string id")
        check("result" in resp, "null params: %r" % resp)
        # unknown params are -32602 naming them
        e = error_of(c.call_full("bdev_get_bdevs", {"bogus": 1}), -32602, "unknown parameter")
        check("bogus" in e["message"], "message %r lacks the parameter" % e["message"])
        c.close()


@test
def several_clients_interleaving():
    with Daemon() as d:
        conns = [RpcConn(d.sock) for _ in range(8)]
        # Half a request on each, then the other halves in reverse order.
        texts = []
        for i, c in enumerate(conns):
            t = json.dumps(req(100 + i, "bdev_malloc_create",
                               {"num_blocks": 8 + i, "block_size": 512, "name": "C%d" % i}))
            texts.append(t)
            c.send_raw(t[:len(t) // 2])
        time.sleep(0.05)
        for i in reversed(range(len(conns))):
            conns[i].send_raw(texts[i][len(texts[i]) // 2:])
        for i, c in enumerate(conns):
            resp = c.recv_obj()
            eq(resp.get("id"), 100 + i, "id on client %d" % i)
            eq(resp.get("result"), "C%d" % i, "result on client %d" % i)

        # Threads hammering at once, each checking its own answers.
        errors = []

        def worker(k):
            try:
                c = conns[k]
                for j in range(40):
                    r = c.call_full("bdev_get_bdevs", {"name": "C%d" % k})
                    if r.get("id") != c.next_id - 1 or r["result"][0]["num_blocks"] != 8 + k:
                        errors.append("client %d call %d: %r" % (k, j, r))
                        return
            except Exception as e:  # noqa: BLE001
                errors.append("client %d: %r" % (k, e))
        threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        eq(errors, [], "errors")
        for c in conns:
            c.close()


@test
def pipelined_flood():
    # Thousands of requests written without reading the answers, on one
    # connection, in one batch and on several connections at once: every
    # one is answered (the daemon neither drops nor deadlocks).
    with Daemon() as d:
        d.rpc("bdev_malloc_create", {"num_blocks": 64, "block_size": 512, "name": "F0"})

        def io_req(i, conn_no=0):
            return req(i, "bdev_dbg_io", {"name": "F0", "op": "write" if i % 2 else "read",
                                          "offset_blocks": (i + conn_no) % 64, "pattern": i % 256})

        def flood(c, n, conn_no, errors):
            try:
                payload = "".join(json.dumps(io_req(i, conn_no)) for i in range(1, n + 1))
                def send():
                    try:
                        c.send_raw(payload)
                    except OSError as e:
                        errors.append("client %d: send: %r" % (conn_no, e))
                t = threading.Thread(target=send)
                t.start()
                seen = set()
                for _ in range(n):
                    r = c.recv_obj()
                    if "result" not in r:
                        errors.append("client %d: %r" % (conn_no, r))
                        return
                    seen.add(r["id"])
                t.join(60)
                if seen != set(range(1, n + 1)):
                    errors.append("client %d: ids missing" % conn_no)
            except Exception as e:  # noqa: BLE001
                errors.append("client %d: %r after the daemon stopped answering" % (conn_no, e))

        errors = []
        c = RpcConn(d.sock, timeout=60)
        flood(c, 20000, 0, errors)
        eq(errors, [], "one pipelining client")

        c.send_raw(json.dumps([io_req(i) for i in range(1, 6001)]))
        resp = c.recv_obj()
        check(isinstance(resp, list), "batch answer %r" % str(resp)[:200])
        eq(sorted(r["id"] for r in resp if "result" in r), list(range(1, 6001)), "batch of 6000")
        c.close()

        conns = [RpcConn(d.sock, timeout=60) for _ in range(12)]
        threads = [threading.Thread(target=flood, args=(conns[k], 3000, k, errors))
                   for k in range(len(conns))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        eq(errors, [], "twelve pipelining clients")
        for c in conns:
            c.close()
        s = d.rpc("bdev_get_iostat", {"name": "F0"})["bdevs"][0]
        eq(s["num_read_ops"] + s["num_write_ops"], 20000 + 6000 + 12 * 3000, "I/O count")
        eq(d.stop(), 0, "exit code")


@test
def socket_file_mode():
    with Daemon() as d:
        st = os.stat(d.sock)
        check(stat.S_ISSOCK(st.st_mode), "not a socket")
        eq(oct(stat.S_IMODE(st.st_mode)), oct(0o600), "socket mode")


@test
def second_daemon_refuses_socket():
    with Daemon() as d:
        check("result" in d.conn().call_full("bdev_malloc_create",
                                             {"num_blocks": 8, "block_size": 512, "name": "Keep"}),
              "create")
        log = os.path.join(d.dir, "second.log")
        # its own emulation endpoints, so that only the RPC socket collides
        conf = os.path.join(d.dir, "emu2.conf")
        with open(conf, "w") as f:
            f.write("EMU_DIR=%s\n" % os.path.join(d.dir, "emu2"))
        with open(log, "wb") as f:
            p = subprocess.run([osnaptest.OSNAPD, "-r", d.sock, "-m", "0x1", "-c", conf], stdout=f,
                               stderr=subprocess.STDOUT, timeout=30)
        text = open(log, errors="replace").read()
        check(p.returncode > 0, "second osnapd: exit %d:\n%s" % (p.returncode, text))
        check(d.sock in text, "the error does not name the socket:\n" + text)
        # the first daemon is untouched: socket still there and answering
        check(os.path.exists(d.sock), "socket file removed by the second daemon")
        c = RpcConn(d.sock)
        eq([b["name"] for b in c.call("bdev_get_bdevs")], ["Keep"], "first daemon's bdevs")
        c.close()
        eq(d.stop(), 0, "first daemon exit code")


@test
def stale_socket_is_replaced():
    # a plain file left at the path
    d0 = osnaptest.tmpdir()
    path = os.path.join(d0, "stale.sock")
    with open(path, "w") as f:
        f.write("left over\n")
    with Daemon(sock=path) as d:
        check(stat.S_ISSOCK(os.stat(path).st_mode), "plain file not replaced by a socket")
        check("result" in d.conn().call_full("spdk_get_version"), "call")
        eq(d.stop(), 0, "exit code")
    check(not os.path.exists(path), "socket file left after stop")
    # a socket file nobody listens on
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.close()
    check(os.path.exists(path), "test setup: bound socket file missing")
    with Daemon(sock=path) as d:
        check("result" in d.conn().call_full("spdk_get_version"), "call")
        eq(d.stop(), 0, "exit code")


@test
def wait_for_rpc():
    with Daemon(["--wait-for-rpc"]) as d:
        c = d.conn()
        e = d.rpc_error("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": "W0"})
        eq(e.code, -32604, "bdev_malloc_create before framework_start_init")
        check("framework_start_init" in e.message, "message %r" % e.message)
        eq(d.rpc_error("bdev_get_bdevs").code, -32604, "bdev_get_bdevs before init")
        methods = d.rpc("rpc_get_methods")
        check("framework_start_init" in methods and "bdev_malloc_create" in methods,
              "rpc_get_methods: %r" % methods)
        current = d.rpc("rpc_get_methods", {"current": True})
        check("framework_start_init" in current, "current methods lack framework_start_init")
        check("bdev_malloc_create" not in current, "bdev_malloc_create current before init")
        check("version" in d.rpc("spdk_get_version"), "spdk_get_version before init")
        eq(d.rpc("framework_start_init"), True, "framework_start_init")
        eq(d.rpc("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": "W0"}), "W0",
           "create after init")
        eq([b["name"] for b in d.rpc("bdev_get_bdevs")], ["W0"], "bdevs")
        current = d.rpc("rpc_get_methods", {"current": True})
        check("bdev_malloc_create" in current and "framework_start_init" not in current,
              "current methods after init: %r" % current)
        e = d.rpc_error("framework_start_init")
        check(e.code in (-32604, -114), "second framework_start_init: %r" % e)
        # still serving
        eq(d.rpc("bdev_get_bdevs", {"name": "W0"})[0]["num_blocks"], 8, "bdev after")
        c.close()
        eq(d.stop(), 0, "exit code")


@test
def wait_for_rpc_with_init_files():
    # framework_start_init replays the init files, whose I/O lines make it
    # wait for the reactor; meanwhile other clients come and go and keep
    # being served, and the answer comes once everything is in place.
    td = osnaptest.tmpdir()
    init = os.path.join(td, "init.conf")
    with open(init, "w") as f:
        f.write("spdk_rpc.py bdev_malloc_create 64 512 -b M0\n")
        for i in range(100):
            f.write("spdk_rpc.py bdev_dbg_io -b M0 -o write --offset %d --num-blocks 512 --pattern %d\n"
                    % (i * 512, i % 255 + 1))
    for attempt in range(4):
        with Daemon(["--wait-for-rpc", "--init-rpc", init]) as d:
            a = RpcConn(d.sock)
            others = [RpcConn(d.sock) for _ in range(16)]
            for o in others:
                check("result" in o.call_full("spdk_get_version"), "call before init")
            busy = RpcConn(d.sock)
            stop = threading.Event()
            answers = []

            def keep_asking():
                try:
                    while not stop.is_set():
                        answers.append(busy.call_full("spdk_get_version"))
                except Exception as e:  # noqa: BLE001
                    answers.append({"exception": repr(e)})
            t = threading.Thread(target=keep_asking)
            t.start()
            # clients hanging up just before and just after the request
            for o in others[:8]:
                o.sock.close()
            a.send_raw(json.dumps(req(1, "framework_start_init")) +
                       json.dumps(req(2, "spdk_get_version")))
            for o in others[8:]:
                o.sock.close()
            got = {}
            for _ in range(2):
                r = a.recv_obj()
                got[r.get("id")] = r
            stop.set()
            t.join(30)
            eq(got[1].get("result"), True, "framework_start_init answer %r" % got[1])
            check("result" in got[2], "request after framework_start_init: %r" % got[2])
            check(answers and all("result" in r for r in answers), "other client during init")
            eq(a.call("bdev_get_bdevs")[0]["name"], "M0", "bdev of the init file")
            data = a.call("bdev_dbg_io", {"name": "M0", "op": "read", "offset_blocks": 99 * 512,
                                           "num_blocks": 1})["data"]
            eq(data, base64.b64encode(bytes([100]) * 512).decode(), "last write of the init file")
            a.close()
            busy.close()
            eq(d.stop(), 0, "exit code")
    # an init file that fails: framework_start_init answers the error,
    # naming the file and line
    bad = os.path.join(td, "bad.conf")
    with open(bad, "w") as f:
        f.write("bdev_malloc_create 8 512 -b X\nbdev_malloc_create 8 512 -b X\n")
    with Daemon(["--wait-for-rpc", "--init-rpc", bad]) as d:
        e = d.rpc_error("framework_start_init")
        check(e.code < 0, "code %r" % e.code)
        check("%s:2" % bad in e.message, "message %r does not name %s:2" % (e.message, bad))
        eq(d.stop(), 0, "exit code")
    # a second framework_start_init while the first one runs
    with Daemon(["--wait-for-rpc", "--init-rpc", init]) as d:
        c = RpcConn(d.sock)
        c.send_raw(json.dumps(req(1, "framework_start_init")) + json.dumps(req(2, "framework_start_init")))
        got = {}
        for _ in range(2):
            r = c.recv_obj()
            got[r["id"]] = r
        eq(got[1].get("result"), True, "first framework_start_init")
        check("error" in got[2], "second framework_start_init succeeded: %r" % got[2])
        c.close()
        eq(d.stop(), 0, "exit code")


if __name__ == "__main__":
    main()
