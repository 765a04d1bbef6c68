"""A throw-away single-node Ceph cluster for the rbd tests.

One mon, one mgr, one OSD (bluestore on a sparse file), cephx, pool size 1,
loopback only, no systemd: everything (config, keys, data, logs, sockets)
lives in one temporary directory. Debian 12's Ceph 16.2 packages
(ceph-mon ceph-mgr ceph-osd ceph-common, scripts/ceph_deps.sh). The steps
and their pitfalls follow ../shared/peers/ceph-single-node.sh:
  - the mon keyring lives outside the mon data directory (ceph-mon --mkfs
    silently does nothing on a non-empty directory);
  - the OSD's --mkfs runs with --no-mon-config;
  - lowered paxos/mgr/bdev-aio timers: HEALTH_OK in seconds, not minutes;
  - stop the OSD before the mon (an OSD without its mon waits 5 s).
Daemons can be stopped and started again on the same data (outage tests).
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

BINARIES = ("ceph-mon", "ceph-mgr", "ceph-osd", "ceph", "ceph-authtool", "monmaptool", "rbd")


class CephError(Exception):
    pass


def _free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def missing_binaries():
    return [b for b in BINARIES if not shutil.which(b)]


class Cluster:
    def __init__(self, block_size=4 << 30):
        self.dir = tempfile.mkdtemp(prefix="osnap-ceph-")
        self.conf = os.path.join(self.dir, "ceph.conf")
        self.keyring = os.path.join(self.dir, "keyring")
        self.port_v2 = _free_port()
        self.port_v1 = _free_port()
        while self.port_v1 == self.port_v2:
            self.port_v1 = _free_port()
        self.mon_host = "[v2:127.0.0.1:%d,v1:127.0.0.1:%d]" % (self.port_v2, self.port_v1)
        self.block_size = block_size
        self.osd_id = None
        self.start_seconds = None

    # ---- helpers -----------------------------------------------------------------------

    def run(self, *args, timeout=60, check=True):
        """Run a Ceph command against this cluster; returns stdout."""
        cmd = [str(a) for a in args]
        if cmd[0] in ("ceph", "rbd"):
            cmd[1:1] = ["-c", self.conf]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
        if check and p.returncode != 0:
            raise CephError("%s: exit %d: %s" % (" ".join(cmd), p.returncode,
                                                  (p.stderr or p.stdout).strip()[-2000:]))
        return p.stdout

    def ceph_json(self, *args, timeout=20):
        return json.loads(self.run("ceph", "--connect-timeout", "5", *args, "-f", "json",
                                   timeout=timeout))

    def wait(self, what, fn, timeout):
        end = time.time() + timeout
        last = None
        while time.time() < end:
            try:
                if fn():
                    return
            except (CephError, subprocess.TimeoutExpired, ValueError, KeyError) as e:
                last = e
            time.sleep(0.2)
        raise CephError("timeout (%ds) waiting for %s%s" % (timeout, what,
                                                            ": %s" % last if last else ""))

    def _write_conf(self, fsid):
        d = self.dir
        with open(self.conf, "w") as f:
            f.write("""[global]
fsid = {fsid}
mon initial members = a
mon host = {mon_host}
public addr = 127.0.0.1
cluster addr = 127.0.0.1
public network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = {d}/keyring
run dir = {d}/run
admin socket = {d}/run/$name.asok
pid file = {d}/run/$name.pid
log file = {d}/log/$name.log
log to stderr = false
err to stderr = true
log to syslog = false
mon cluster log file = {d}/log/cluster.log
crash dir = {d}/crash
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
paxos propose interval = 0.1
mgr stats period = 1
mgr tick period = 1
bdev aio poll ms = 20

[mon]
mon data = {d}/$name
keyring = {d}/$name/keyring
mon osd auto mark in = true

[mgr]
mgr data = {d}/$name
keyring = {d}/$name/keyring
mgr standby modules = false

[osd]
osd data = {d}/$name
keyring = {d}/$name/keyring
osd objectstore = bluestore
osd memory target = 1073741824
osd max object name len = 460
osd max object namespace len = 64
bluestore block create = true
bluestore block size = {bs}
bluestore block db create = false
bluestore block wal create = false
bluestore fsck on mount = false
bluestore fsck on mkfs = false
osd class load list = *
osd class default list = *
""".format(fsid=fsid, mon_host=self.mon_host, d=d, bs=self.block_size))

    # ---- life cycle ----------------------------------------------------------------------

    def start(self):
        """Create and start the cluster; an `rbd` pool, all PGs active+clean."""
        t0 = time.time()
        missing = missing_binaries()
        if missing:
            raise CephError("not installed: %s (scripts/ceph_deps.sh)" % " ".join(missing))
        if os.geteuid() != 0:
            raise CephError("the Ceph daemons of the test cluster run as root")
        d = self.dir
        for sub in ("run", "log", "crash", "mgr.x"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        fsid = str(uuid.uuid4())
        self._write_conf(fsid)
        monkr = os.path.join(d, "mon.keyring")
        self.run("ceph-authtool", "--create-keyring", monkr, "--gen-key", "-n", "mon.",
                 "--cap", "mon", "allow *")
        self.run("ceph-authtool", "--create-keyring", self.keyring, "--gen-key", "-n",
                 "client.admin", "--cap", "mon", "allow *", "--cap", "osd", "allow *",
                 "--cap", "mds", "allow *", "--cap", "mgr", "allow *")
        self.run("ceph-authtool", monkr, "--import-keyring", self.keyring)
        monmap = os.path.join(d, "monmap")
        self.run("monmaptool", "--create", "--fsid", fsid, "--addv", "a", self.mon_host, monmap)
        self.run("ceph-mon", "-c", self.conf, "--mkfs", "-i", "a", "--monmap", monmap,
                 "--keyring", monkr)
        self.start_mon()
        self.run("ceph", "auth", "get-or-create", "mgr.x", "mon", "allow profile mgr", "osd",
                 "allow *", "mds", "allow *", "-o", os.path.join(d, "mgr.x", "keyring"))
        self.run("ceph-mgr", "-c", self.conf, "-i", "x")
        osd_uuid = str(uuid.uuid4())
        self.osd_id = int(self.run("ceph", "osd", "new", osd_uuid).strip())
        osd_dir = os.path.join(d, "osd.%d" % self.osd_id)
        os.makedirs(osd_dir, exist_ok=True)
        self.run("ceph-osd", "-c", self.conf, "-i", self.osd_id, "--mkfs", "--mkkey",
                 "--no-mon-config", "--osd-uuid", osd_uuid, timeout=120)
        self.run("ceph", "auth", "add", "osd.%d" % self.osd_id, "osd", "allow *", "mon",
                 "allow profile osd", "mgr", "allow profile osd", "-i",
                 os.path.join(osd_dir, "keyring"))
        self.start_osd()
        self.run("ceph", "osd", "pool", "create", "rbd", "8", "8")
        self.run("rbd", "pool", "init", "rbd", timeout=120)
        self.wait_clean()
        self.start_seconds = time.time() - t0

    def start_mon(self):
        self.run("ceph-mon", "-c", self.conf, "-i", "a")
        self.wait("the mon", lambda: self.run("ceph", "--connect-timeout", "2", "mon", "stat",
                                              timeout=10) is not None, 60)

    def start_osd(self):
        self.run("ceph-osd", "-c", self.conf, "-i", self.osd_id, timeout=120)
        self.wait("osd up", lambda: any(o["up"] == 1 for o in
                                        self.ceph_json("osd", "dump")["osds"]), 180)

    def wait_clean(self, timeout=180):
        def clean():
            s = self.ceph_json("pg", "stat")
            s = s.get("pg_summary", s)
            n = s.get("num_pgs", 0)
            ok = sum(x["num"] for x in s.get("num_pg_by_state", []) if x["name"] == "active+clean")
            return n > 0 and ok == n
        self.wait("all PGs active+clean", clean, timeout)

    def pid(self, name):
        try:
            with open(os.path.join(self.dir, "run", name + ".pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def _ours(self, pid):
        try:
            with open("/proc/%d/cmdline" % pid, "rb") as f:
                return self.conf.encode() in f.read()
        except OSError:
            return False

    def kill(self, name, timeout=10):
        """Stop one daemon (osd.N, mgr.x, mon.a) of this cluster: SIGTERM, then SIGKILL."""
        pid = self.pid(name)
        if not pid or not self._ours(pid):
            return
        os.kill(pid, signal.SIGTERM)
        end = time.time() + timeout
        while time.time() < end and self._ours(pid):
            time.sleep(0.1)
        if self._ours(pid):
            os.kill(pid, signal.SIGKILL)
            while self._ours(pid):
                time.sleep(0.05)

    def stop_daemons(self):
        """The whole cluster down (data kept): OSD first, then mgr and mon."""
        if self.osd_id is not None:
            self.kill("osd.%d" % self.osd_id)
        self.kill("mgr.x")
        self.kill("mon.a")

    def start_daemons(self):
        """Back up after stop_daemons(): mon, mgr, OSD, PGs clean."""
        self.start_mon()
        self.run("ceph-mgr", "-c", self.conf, "-i", "x")
        self.start_osd()
        self.wait_clean()

    def destroy(self, keep_on_failure=False):
        self.stop_daemons()
        if not keep_on_failure:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, name, lines=30):
        try:
            with open(os.path.join(self.dir, "log", name + ".log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""
