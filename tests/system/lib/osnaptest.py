"""Small harness for osnap system tests.

Each test program registers test functions with @test, calls main(), and
prints TAP lines ("ok N - name", "not ok N - name", "ok N - name # SKIP why")
that tests/run_tests.py counts. The binaries under test come from the build
directory named by $OSNAP_BUILD (default: build/ at the top of the repo).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
BUILD = os.path.abspath(os.environ.get("OSNAP_BUILD", os.path.join(TOP, "build")))
OSNAPD = os.path.join(BUILD, "osnapd")
OSNAP_RPC = os.path.join(BUILD, "osnap-rpc")
SANITIZED = os.path.basename(BUILD).startswith("build-asan")

_tests = []


class Skip(Exception):
    pass


class RpcError(Exception):
    def __init__(self, code, message, data=None):
        super().__init__("%d: %s" % (code, message))
        self.code = code
        self.message = message
        self.data = data


def test(fn):
    """Register a test function (runs in definition order)."""
    _tests.append(fn)
    return fn


def eq(got, want, what=""):
    if got != want:
        raise AssertionError("%s: got %r, want %r" % (what or "value", got, want))


def check(cond, what):
    if not cond:
        raise AssertionError(what)


def wait_for(cond, what, timeout=60.0):
    """Poll cond() until it is true; the deadline is generous (a loaded
    2-core machine), the failure says what was awaited."""
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def tmpdir():
    d = tempfile.mkdtemp(prefix="osnap-test-")
    return d


class RpcConn:
    """A raw JSON-RPC connection to a Unix socket."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""
        self.next_id = 1

    def send_raw(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def recv_obj(self):
        """Read one complete JSON value from the stream."""
        dec = json.JSONDecoder()
        while True:
            text = self.buf.decode("utf-8", "replace").lstrip()
            if text:
                try:
                    obj, end = dec.raw_decode(text)
                    rest = text[end:].encode()
                    self.buf = rest
                    return obj
                except ValueError:
                    pass
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk

    def call_full(self, method, params=None):
        req = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        self.next_id += 1
        if params is not None:
            req["params"] = params
        self.send_raw(json.dumps(req))
        return self.recv_obj()

    def call(self, method, params=None):
        resp = self.call_full(method, params)
        if "error" in resp:
            e = resp["error"]
            raise RpcError(e.get("code"), e.get("message"), e.get("data"))
        return resp["result"]

    def close(self):
        self.sock.close()


class Daemon:
    """An osnapd process on a private socket in a temporary directory."""

    def __init__(self, args=(), env=None, wait=True, sock=None, cpumask="0x1"):
        self.dir = tmpdir()
        self.sock = sock or os.path.join(self.dir, "rpc.sock")
        self.log_path = os.path.join(self.dir, "osnapd.log")
        e = dict(os.environ)
        e.setdefault("SNAP_RPC_LOG_ENABLE", "0")
        if env:
            e.update(env)
        args = list(args)
        self.emu_dir = os.path.join(self.dir, "emu")
        if "-c" not in args and "--config" not in args:
            # every daemon gets its own endpoint directory
            self.emu_config = os.path.join(self.dir, "emu.conf")
            with open(self.emu_config, "w") as f:
                f.write("EMU_DIR=%s\n" % self.emu_dir)
            args = ["-c", self.emu_config] + args
        cmd = [OSNAPD, "-r", self.sock, "-m", cpumask] + args
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=e)
        self.rusage = None
        self._conn = None
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout=20):
        end = time.time() + timeout
        while time.time() < end:
            if self.proc.poll() is not None:
                raise AssertionError("osnapd exited with %d:\n%s" % (self.proc.returncode, self.logtext()))
            if os.path.exists(self.sock):
                try:
                    c = RpcConn(self.sock)
                    c.close()
                    return
                except OSError:
                    pass
            time.sleep(0.02)
        raise AssertionError("osnapd did not come up:\n" + self.logtext())

    def logtext(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def conn(self):
        if self._conn is None:
            self._conn = RpcConn(self.sock)
        return self._conn

    def rpc(self, method, params=None):
        return self.conn().call(method, params)

    def rpc_error(self, method, params=None):
        """Call and expect an error; returns the RpcError."""
        try:
            r = self.conn().call(method, params)
        except RpcError as e:
            return e
        raise AssertionError("%s(%r) succeeded with %r, expected an error" % (method, params, r))

    def cli(self, *args, check=True, timeout=60):
        """Run osnap-rpc against this daemon; returns the CompletedProcess."""
        cmd = [OSNAP_RPC, "-s", self.sock] + [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise AssertionError("%s failed (%d): %s" % (" ".join(cmd), p.returncode, p.stderr))
        return p

    def cli_json(self, *args):
        p = self.cli(*args)
        return json.loads(p.stdout) if p.stdout.strip() else None

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Signal osnapd and wait; returns its exit code (rusage kept)."""
        if self._conn:
            self._conn.close()
            self._conn = None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        if self.proc.returncode is not None:
            # already reaped (by poll()): nothing left to wait for
            if not self.log.closed:
                self.log.close()
            return self.proc.returncode
        end = time.time() + timeout
        while time.time() < end:
            try:
                pid, status, ru = os.wait4(self.proc.pid, os.WNOHANG)
            except ChildProcessError:
                self.proc.poll()
                break
            if pid:
                self.rusage = ru
                self.proc.returncode = os.waitstatus_to_exitcode(status)
                break
            time.sleep(0.02)
        else:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("osnapd did not exit within %ds:\n%s" % (timeout, self.logtext()))
        self.log.close()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None and self.proc.returncode is None:
            try:
                self.stop()
            except AssertionError:
                pass


def daemon_without_io_uring(*args, **kw):
    """A Daemon whose osnapd runs under a seccomp policy refusing io_uring
    (EPERM, as container runtimes do): tests/system/seccomp_no_uring, exec'd
    by a script so the pid, signals and rusage stay osnapd's."""
    global OSNAPD
    wrapper = os.path.join(BUILD, "tests", "system", "seccomp_no_uring")
    if not os.access(wrapper, os.X_OK):
        raise AssertionError("%s is missing (build it)" % wrapper)
    script = os.path.join(tmpdir(), "osnapd-no-uring")
    with open(script, "w") as f:
        f.write('#!/bin/sh\nexec "%s" "%s" "$@"\n' % (wrapper, OSNAPD))
    os.chmod(script, 0o700)
    real = OSNAPD
    OSNAPD = script
    try:
        return Daemon(*args, **kw)
    finally:
        OSNAPD = real


def main():
    """Run the registered tests (or those named on the command line)."""
    only = set(sys.argv[1:])
    tests = [t for t in _tests if not only or t.__name__ in only]
    print("1..%d" % len(tests), flush=True)
    failed = 0
    for i, fn in enumerate(tests, 1):
        name = fn.__name__
        t0 = time.time()
        try:
            fn()
            print("ok %d - %s (%.1fs)" % (i, name, time.time() - t0), flush=True)
        except Skip as e:
            print("ok %d - %s # SKIP %s" % (i, name, e), flush=True)
        except Exception:
            failed += 1
            print("not ok %d - %s" % (i, name), flush=True)
            for line in traceback.format_exc().splitlines():
                print("# " + line, flush=True)
    sys.exit(1 if failed else 0)
