#!/usr/bin/env python3
"""The first hour with osnap, as a new user meets it.

(a) make run (scripts/run.sh, what `make run` runs once built) as a non-root
    user in a clean environment: with XDG_RUNTIME_DIR it falls back to
    $XDG_RUNTIME_DIR/osnap, says so and gets to "listening"; without it,
    it ends at once with a message saying what to give; make run passes
    SOCK, CONFIG and EMU_DIR (variables or environment) and run.sh honours
    them;
(b) every failed RPC leaves a warning line naming the method and the error;
(c) the RPC history: one file per instance (named after the RPC socket),
    bulk payloads kept out, rotated by size;
(d) osnapd -h and the README's synopsis show every option; the README's
    bdev table agrees with osnap-rpc's help."""
import base64
import glob
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "lib"))
import osnaptest  # noqa: E402
from osnaptest import test, eq, check, main, Daemon, Skip  # noqa: E402

TOP = osnaptest.TOP
RUN_SH = os.path.join(TOP, "scripts", "run.sh")
NOBODY = 65534


def clean_env(**extra):
    # no guest lines: building the guest is not this test's business (its
    # cache directory cannot be made under a regular file)
    blocker = os.path.join(osnaptest.tmpdir(), "not-a-directory")
    open(blocker, "w").close()
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/nonexistent", "LANG": "C",
           # the osnapd under test (build/ for make run; build-asan/ here too)
           "OSNAP_RUN_BUILD": osnaptest.BUILD,
           "OSNAP_GUEST_CACHE": os.path.join(blocker, "guest-cache")}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    env.update(extra)
    return env


def text_file(name, text):
    """A new file name holding text, in a directory of its own; its path."""
    path = os.path.join(osnaptest.tmpdir(), name)
    with open(path, "w") as f:
        f.write(text)
    return path


def as_user(uid, cmd, env, **kw):
    """cmd as uid (nobody) with exactly env; we must be root to switch."""
    if os.geteuid() != 0:
        if os.geteuid() == uid:
            return subprocess.Popen(cmd, env=env, **kw)
        raise Skip("not root: cannot run as another user")
    return subprocess.Popen(["setpriv", "--reuid=%d" % uid, "--regid=%d" % uid, "--clear-groups"] + cmd,
                            env=env, **kw)


def wait_for(path_or_fn, proc, out_path, deadline_s=90):
    """Wait until the log file holds the text, or the process ends."""
    end = time.time() + deadline_s
    while time.time() < end:
        text = open(out_path, errors="replace").read()
        if path_or_fn(text):
            return text
        if proc.poll() is not None:
            return open(out_path, errors="replace").read()
        time.sleep(0.05)
    raise AssertionError("nothing within %ds:\n%s" % (deadline_s, open(out_path, errors="replace").read()))


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise AssertionError("run.sh/osnapd did not stop on SIGTERM")


# ---- (a) make run ------------------------------------------------------------------

@test
def first_run_non_root_falls_back_to_xdg_runtime_dir():
    d = osnaptest.tmpdir()
    os.chmod(d, 0o755)     # the user reaches its runtime directory inside
    xdg = os.path.join(d, "xdg")
    os.mkdir(xdg, 0o700)
    os.chown(xdg, NOBODY, NOBODY) if os.geteuid() == 0 else None
    out = os.path.join(d, "out")
    with open(out, "w") as f:
        p = as_user(NOBODY, [RUN_SH], clean_env(XDG_RUNTIME_DIR=xdg), stdout=f, stderr=subprocess.STDOUT)
    try:
        text = wait_for(lambda t: "RPC server listening on" in t, p, out)
        base = os.path.join(xdg, "osnap")
        check("RPC server listening on %s/osnap.sock" % base in text, "not listening in %s:\n%s" % (base, text))
        check("not root, so the sockets go to %s" % base in text, "the fallback is not said:\n%s" % text)
        sock = os.path.join(base, "osnap.sock")
        r = subprocess.run([osnaptest.OSNAP_RPC, "-s", sock, "emulation_function_list"], capture_output=True,
                           text=True, timeout=60)
        eq(r.returncode, 0, "emulation_function_list: %s" % r.stderr)
        import json
        fns = json.loads(r.stdout)
        eq(sorted(os.path.dirname(f["socket"]) for f in fns), [base, base], "endpoints in the fallback directory")
        for f in fns:
            check(os.path.exists(f["socket"]), "%s not there" % f["socket"])
            eq(os.stat(f["socket"]).st_uid, NOBODY if os.geteuid() == 0 else os.geteuid(), "owner of the socket")
        check(os.path.exists(os.path.join(base, "rpc-log.osnap")), "RPC history beside the socket")
    finally:
        rc = stop(p)
    eq(rc, 0, "exit code after SIGTERM")


@test
def first_run_non_root_without_xdg_says_what_to_give():
    d = osnaptest.tmpdir()
    out = os.path.join(d, "out")
    with open(out, "w") as f:
        p = as_user(NOBODY, [RUN_SH], clean_env(), stdout=f, stderr=subprocess.STDOUT)
    try:
        p.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stop(p)
        raise AssertionError("run.sh without a usable directory did not stop:\n" + open(out).read())
    text = open(out).read()
    eq(p.returncode, 1, "exit code (%s)" % text)
    for what in ("/var/run/osnap is not writable", "XDG_RUNTIME_DIR", "make run SOCK=", "EMU_DIR="):
        check(what in text, "message lacks %r:\n%s" % (what, text))
    check("Permission denied" not in text, "a bare error instead of the message:\n" + text)


@test
def make_run_passes_sock_config_emu_dir():
    # make -n: what make run would run, nothing executed (no apt, no build)
    for args, env in ((["SOCK=/s/x.sock", "CONFIG=/c/my.conf", "EMU_DIR=/e/dir"], {}),
                      ([], {"SOCK": "/s/x.sock", "CONFIG": "/c/my.conf", "EMU_DIR": "/e/dir"})):
        r = subprocess.run(["make", "-n", "-C", TOP, "run"] + args, capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, **env))
        eq(r.returncode, 0, "make -n run: %s" % r.stderr)
        check("SOCK='/s/x.sock' CONFIG='/c/my.conf' EMU_DIR='/e/dir' scripts/run.sh" in r.stdout,
              "make run %s (env %s) does not pass them:\n%s" % (args, env, r.stdout))


@test
def run_sh_honours_config_and_emu_dir():
    d = osnaptest.tmpdir()
    conf = text_file("my.conf", "bdev_malloc_create 16 512 -b Mine0\n"
                     "virtio_blk_controller_create --pf_id 0 --bdev Mine0\n")
    emu = os.path.join(d, "endpoints")
    sock = os.path.join(d, "rpc", "mine.sock")
    out = os.path.join(d, "out")
    with open(out, "w") as f:
        p = subprocess.Popen([RUN_SH], env=clean_env(SOCK=sock, CONFIG=conf, EMU_DIR=emu), stdout=f,
                             stderr=subprocess.STDOUT)
    try:
        text = wait_for(lambda t: "RPC server listening on" in t, p, out)
        check("RPC server listening on %s" % sock in text, "not on SOCK:\n" + text)
        check("starting osnapd on %s" % conf in text, "CONFIG not announced:\n" + text)
        r = subprocess.run([osnaptest.OSNAP_RPC, "-s", sock, "bdev_get_bdevs"], capture_output=True, text=True,
                           timeout=60)
        check('"Mine0"' in r.stdout and "Malloc0" not in r.stdout, "bdevs of CONFIG: %s" % r.stdout)
        socks = sorted(os.path.basename(s) for s in glob.glob(os.path.join(emu, "*.sock")))
        check(any(s.endswith("VBLKS1D0F0.sock") for s in socks), "endpoints in EMU_DIR: %r" % socks)
    finally:
        rc = stop(p)
    eq(rc, 0, "exit code")


# ---- (b) failed RPCs in the log ----------------------------------------------------

@test
def failed_rpcs_logged_at_warning():
    with Daemon() as d:
        d.rpc_error("bdev_get_bdevs", {"name": "NotThere"})
        d.rpc_error("bdev_malloc_create", {"num_blocks": "x"})
        d.rpc_error("no_such_method")
        d.conn().send_raw('{"jsonrpc": "2.0", "method": 5, "id": 9}')
        eq(d.conn().recv_obj()["error"]["code"], -32600, "method not a string")
        eq(d.stop(), 0, "exit code")
    log = d.logtext()
    for method, code in (("bdev_get_bdevs", "-19"), ("bdev_malloc_create", "-32602"), ("no_such_method", "-32601")):
        lines = [ln for ln in log.splitlines() if " WARN " in ln and ("RPC %s failed: %s" % (method, code)) in ln]
        check(lines, "no warning line for %s %s:\n%s" % (method, code, log))
    check(re.search(r" WARN .*RPC request refused: -32600 ", log), "no warning for the invalid request:\n" + log)


# ---- (c) the RPC history ------------------------------------------------------------

@test
def rpc_history_per_instance():
    if os.geteuid() != 0:
        raise Skip("the default history directory /var/log/snap-log is root's")
    d0 = osnaptest.tmpdir()
    name = "fh%d" % os.getpid()
    sock = os.path.join(d0, name + ".sock")
    path = "/var/log/snap-log/rpc-log." + name
    try:
        with Daemon(sock=sock, env={"SNAP_RPC_LOG_ENABLE": "1"}) as d:
            d.rpc("spdk_get_version")
            eq(d.stop(), 0, "exit code")
        check(os.path.exists(path), "no per-instance history at %s:\n%s" % (path, d.logtext()))
        check("spdk_get_version" in open(path).read(), "request not in %s" % path)
    finally:
        for p in glob.glob(path + "*"):
            os.unlink(p)


@test
def rpc_history_keeps_bulk_out_and_rotates():
    d0 = osnaptest.tmpdir()
    path = os.path.join(d0, "hist", "rpc-log")
    data = base64.b64encode(bytes(range(256)) * 16).decode()   # 4 KiB, 8 blocks
    with Daemon(["--rpc-log", path, "--rpc-log-size", "8K"], env={"SNAP_RPC_LOG_ENABLE": "1"}) as d:
        d.rpc("bdev_malloc_create", {"name": "H0", "num_blocks": 64, "block_size": 512})
        eq(d.rpc("bdev_dbg_io", {"name": "H0", "op": "write", "num_blocks": 8, "data": data}), True, "write")
        r = d.rpc("bdev_dbg_io", {"name": "H0", "op": "read", "num_blocks": 8})
        eq(r["data"], data, "read back")
        text = open(path).read()
        check(data[:64] not in text, "the payload is in the history")
        eq(text.count("<%d characters>" % len(data)), 2, "the payloads noted by size:\n%s" % text)
        check('"op":"write"' in text and '"op":"read"' in text, "the requests themselves are kept:\n" + text)
        for i in range(300):
            d.rpc("spdk_get_version")
        eq(d.stop(), 0, "exit code")
    files = sorted(os.listdir(os.path.dirname(path)))
    eq(files, ["rpc-log", "rpc-log.1", "rpc-log.2", "rpc-log.3"], "rotated files (3 kept)")
    for f in files:
        size = os.path.getsize(os.path.join(os.path.dirname(path), f))
        check(size < 8192 + 1024, "%s is %d bytes, over --rpc-log-size" % (f, size))
    p = subprocess.run([osnaptest.OSNAPD, "--rpc-log-size", "12Q"], capture_output=True, text=True, timeout=30)
    check(p.returncode != 0 and "rpc-log-size" in p.stderr, "a bad size accepted: %s" % p.stderr)


# ---- (e) SIGTERM with busy clients ----------------------------------------------------

PERF = os.path.join(osnaptest.BUILD, "tools", "osnap-perf", "osnap-perf")


@test
def sigterm_finishes_started_io_then_clients_see_the_end():
    init = text_file("init.conf", "bdev_malloc_create 64 512 -b M0\n"
                     "nvme_subsystem_create --nqn nqn.2026-12.io.osnap:term\n"
                     "nvme_namespace_create --nqn nqn.2026-12.io.osnap:term -n 1 -b M0\n"
                     "nvme_controller_create --nqn nqn.2026-12.io.osnap:term --pf_id 0 --num_queues 2\n"
                     "nvme_controller_attach_ns -c NVMeCtrl1 -n 1\n"
                     "bdev_malloc_create 64 512 -b M1\n"
                     "virtio_blk_controller_create --pf_id 0 --bdev M1 --num_queues 2\n")
    d = Daemon(["--init-rpc", init])
    with d:
        fns = {f["emulation_type"]: f["socket"] for f in d.rpc("emulation_function_list")}
        perfs = []
        for args in (["--vfio-user", fns["NVME"], "--nvme"], ["--vhost-user", fns["VBLK"]]):
            perfs.append(subprocess.Popen([PERF] + args + ["-w", "randrw", "-q", "16", "-t", "120", "--verify"],
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        # busy: wait until both have done I/O (the controllers count it)
        end = time.time() + 60
        while time.time() < end:
            io = [d.rpc(m, {"ctrl_id": c}) for m, c in (("nvme_controller_dbg_io_stats_get", "NVMeCtrl1"),
                                                        ("virtio_blk_controller_dbg_io_stats_get", "VblkCtrl1"))]
            if all(x["read_io_count"] + x["write_io_count"] > 1000 for x in io):
                break
            check(all(p.poll() is None for p in perfs), "osnap-perf ended early: %r" %
                  [p.communicate() for p in perfs if p.poll() is not None])
            time.sleep(0.1)
        t0 = time.time()
        eq(d.stop(signal.SIGTERM, timeout=60), 0, "osnapd exit code")
        check(time.time() - t0 < 30, "osnapd took %.1f s to stop" % (time.time() - t0))
        for p in perfs:
            try:
                out, err = p.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                raise AssertionError("osnap-perf still running 60 s after its server went away")
            eq(p.returncode, 1, "osnap-perf exit (errors): %s" % err)
            check("the server closed the connection" in err, "osnap-perf did not say why: %s" % err)
            m = re.search(r"errors: \d+ \(I/O \d+, verify (\d+)\)", out)
            check(m and m.group(1) == "0", "data read back wrong around the shutdown:\n%s" % out)
    log = d.logtext()
    check("shutdown: 2 controllers suspended, their I/O in flight completed" in log,
          "no drain before the connections closed:\n" + log[-3000:])
    check("Operation canceled" not in log, "the service cancelled I/O:\n" + log[-3000:])


# ---- (d) options and the README ----------------------------------------------------------

def options_in(text):
    return set(re.findall(r"(?<![\w-])(--?[a-zA-Z][\w-]*)", text))


@test
def osnapd_help_and_readme_show_every_option():
    p = subprocess.run([osnaptest.OSNAPD, "-h"], capture_output=True, text=True, timeout=30)
    eq(p.returncode, 0, "osnapd -h")
    head, body = p.stdout.split("\n\n", 1)
    synopsis = options_in(head)
    documented = set()
    for ln in body.splitlines():
        m = re.match(r"^\s+(-\w, )?(--[\w-]+)", ln)
        if m:
            documented.add(m.group(2))
            if m.group(1):
                documented.add(m.group(1)[:-2])
    check(len(documented) >= 12, "options documented: %r" % documented)
    long_to_short = {"--config": "-c", "--cpumask": "-m", "--rpc-socket": "-r", "--version": "-V", "--help": "-h"}
    for o in documented:
        check(o in synopsis or long_to_short.get(o) in synopsis, "%s documented but not in the synopsis" % o)
    for o in synopsis:
        check(o in documented, "%s in the synopsis but not documented" % o)
    readme = open(os.path.join(TOP, "README.md")).read()
    block = readme.split("## osnapd", 1)[1].split("```", 2)[1]
    eq(options_in(block), synopsis, "README's osnapd synopsis vs osnapd -h")


@test
def readme_bdev_table_agrees_with_help():
    readme = open(os.path.join(TOP, "README.md")).read()
    rows = re.findall(r"^\| (\w+) \| `(bdev_\w+_create[^`]*)` \| `(bdev_\w+_delete[^`]*)` \| ([^|]*) \|$",
                      readme, re.M)
    eq(sorted(r[0] for r in rows), ["aio", "malloc", "null", "rbd", "uring"], "modules in the README's table")
    for module, create, delete, notes in rows:
        words = create.split()
        method = words[0]
        h = subprocess.run([osnaptest.OSNAP_RPC, method, "-h"], capture_output=True, text=True, timeout=30).stdout
        usage = h.split("\n\n")[0]
        for w in words[1:]:
            w = w.strip("[]")
            if w.startswith("-"):
                check(re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(w), usage),
                      "%s: README's %s not in osnap-rpc's usage:\n%s" % (method, w, usage))
        # README's positionals: words outside "[-x ARG]" groups; "[X]" optional
        req, opt, in_opt = 0, 0, False
        for w in words[1:]:
            if w.startswith("[-"):
                in_opt = not w.endswith("]")
                continue
            if in_opt:
                in_opt = not w.endswith("]")
                continue
            if w.startswith("["):
                opt += 1
            elif not w.startswith("-"):
                req += 1
        names = re.findall(r"^  (\w+)  ", h.split("positional arguments:\n")[1].split("\n\n")[0], re.M)
        flat = " ".join(usage.split())
        eq(len([n for n in names if "[%s]" % n not in flat]), req, "%s: positionals (%r)" % (method, names))
        eq(len([n for n in names if "[%s]" % n in flat]), opt, "%s: optional positionals" % method)
        dh = subprocess.run([osnaptest.OSNAP_RPC, delete.split()[0], "-h"], capture_output=True, text=True,
                            timeout=30)
        eq(dh.returncode, 0, "%s -h" % delete)
        summary = h.split("\n\n")[1].strip()
        if module == "null":
            check("untouched" in notes and "untouched" in summary,
                  "null reads: README %r vs help %r" % (notes, summary))


if __name__ == "__main__":
    main()
