#!/usr/bin/env python3
"""The Linux kernel's NVMe/TCP target (nvmet, nvmet-tcp) in a TCG guest,
reachable from the host on a loopback port (QEMU user networking with a
hostfwd to the guest's 10.0.2.15:4420). Used by test_nvmet_tcp.py; by hand:

    tests/guest/nvmet_target.py [--port 4420]      # until Ctrl-C

The guest is Debian's own kernel (linux-image-amd64, as the other guest
tests use) with a busybox initramfs built here: it loads configfs, nvmet,
nvmet-tcp, crc32c (the digests) and e1000, brings eth0 up, creates subsystem NQN with namespace 1
on a RAM file (buffered I/O: tmpfs has no O_DIRECT) and a TCP port, prints
a marker on the serial console, and waits. Nothing on the host changes
(no modules, no root needed beyond reading /boot)."""
import argparse
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
NQN = "nqn.2026-12.io.osnap:nvmet-guest"
READY = "OSNAP-NVMET-READY"
MODULES = ["crc64", "crc64-rocksoft", "crct10dif_common", "crc-t10dif", "t10-pi", "configfs",
           "crc32c_generic",
           "nvmet", "nvmet-tcp", "e1000"]
CACHE = os.environ.get("OSNAP_NVMET_GUEST_CACHE", "/var/tmp/osnap-nvmet-guest")

INIT = r"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev 2>/dev/null
for m in $(cat /lib/modules/order); do
  insmod /lib/modules/$m.ko || echo "insmod $m failed"
done
mount -t configfs none /sys/kernel/config
ip link set lo up
ip link set eth0 up
ip addr add 10.0.2.15/24 dev eth0
ip route add default via 10.0.2.2
size_mb=$(sed -n 's/.*nvmet.size_mb=\([0-9]*\).*/\1/p' /proc/cmdline)
dd if=/dev/zero of=/disk.img bs=1M count=0 seek=${size_mb:-64} 2>/dev/null
n=/sys/kernel/config/nvmet
s=$n/subsystems/@NQN@
mkdir $s
echo 1 > $s/attr_allow_any_host
echo osnap-nvmet-guest > $s/attr_serial 2>/dev/null
mkdir $s/namespaces/1
echo -n /disk.img > $s/namespaces/1/device_path
echo 1 > $s/namespaces/1/buffered_io
echo 1 > $s/namespaces/1/enable || echo "namespace enable failed"
mkdir $n/ports/1
echo ipv4 > $n/ports/1/addr_adrfam
echo tcp > $n/ports/1/addr_trtype
echo 10.0.2.15 > $n/ports/1/addr_traddr
echo 4420 > $n/ports/1/addr_trsvcid
ln -s $s $n/ports/1/subsystems/@NQN@
echo @READY@
while true; do sleep 3600; done
""".replace("@NQN@", NQN).replace("@READY@", READY)


class Unavailable(Exception):
    """The guest cannot run on this machine (the message says why)."""


def kernel_version():
    vers = sorted(f[len("vmlinuz-"):] for f in os.listdir("/boot")
                  if f.startswith("vmlinuz-") and f.endswith("-amd64"))
    for v in reversed(vers):
        if os.path.isdir("/lib/modules/" + v):
            return v
    raise Unavailable("no Debian amd64 kernel with modules in /boot and /lib/modules "
                      "(scripts/guest_deps.sh installs linux-image-amd64)")


def module_path(kver, m):
    p = subprocess.run(["modinfo", "-k", kver, "-n", m], capture_output=True, text=True)
    if p.returncode or not p.stdout.strip():
        raise Unavailable("module %s not found for kernel %s" % (m, kver))
    return p.stdout.strip()


def build_initrd():
    """Build (or reuse) the initramfs; returns (vmlinuz, initrd)."""
    kver = kernel_version()
    bb = shutil.which("busybox") or "/bin/busybox"
    if not os.path.exists(bb):
        raise Unavailable("no busybox (busybox-static)")
    paths = [module_path(kver, m) for m in MODULES]
    key = hashlib.sha256(("%s\n%s\n%s" % (kver, INIT, "\n".join(paths))).encode()).hexdigest()[:16]
    os.makedirs(CACHE, exist_ok=True)
    initrd = os.path.join(CACHE, "nvmet-%s.img" % key)
    vmlinuz = "/boot/vmlinuz-" + kver
    if os.path.exists(initrd):
        return vmlinuz, initrd
    stage = tempfile.mkdtemp(prefix="stage.", dir=CACHE)
    try:
        root = os.path.join(stage, "root")
        for d in ("bin", "sbin", "dev", "proc", "sys", "tmp", "lib/modules"):
            os.makedirs(os.path.join(root, d))
        shutil.copy(bb, os.path.join(root, "bin", "busybox"))
        applets = subprocess.run([bb, "--list"], capture_output=True, text=True).stdout.split()
        for a in applets:
            if a != "busybox":
                os.symlink("busybox", os.path.join(root, "bin", a))
        with open(os.path.join(root, "lib/modules/order"), "w") as order:
            for m, p in zip(MODULES, paths):
                dst = os.path.join(root, "lib/modules", m + ".ko")
                if p.endswith(".ko"):
                    shutil.copy(p, dst)
                else:
                    tool = {"xz": ["xz", "-dc"], "zst": ["zstd", "-qdc"], "gz": ["gzip", "-dc"]}
                    with open(dst, "wb") as out:
                        subprocess.run(tool[p.rsplit(".", 1)[1]] + [p], stdout=out, check=True)
                order.write(m + "\n")
        with open(os.path.join(root, "init"), "w") as f:
            f.write(INIT)
        os.chmod(os.path.join(root, "init"), 0o755)
        files = subprocess.run("cd %s && find . -print0 | LC_ALL=C sort -z" % root, shell=True,
                               capture_output=True, check=True).stdout
        tmp = initrd + ".tmp"
        with open(tmp, "wb") as out:
            subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet", "--owner=0:0"],
                           input=files, stdout=out, cwd=root, check=True)
        os.rename(tmp, initrd)
    finally:
        shutil.rmtree(stage, ignore_errors=True)
    return vmlinuz, initrd


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class NvmetGuest:
    """A booted target; .port is its NVMe/TCP port on 127.0.0.1."""

    def __init__(self, port=None, size_mb=64, mem_mb=384):
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            raise Unavailable("no qemu-system-x86_64 (scripts/guest_deps.sh installs qemu)")
        vmlinuz, initrd = build_initrd()
        self.port = port or free_port()
        self.nqn = NQN
        self.size_mb = size_mb
        self.dir = tempfile.mkdtemp(prefix="osnap-nvmet-")
        self.log_path = os.path.join(self.dir, "console.log")
        self.mon_path = os.path.join(self.dir, "monitor.sock")
        self.log = open(self.log_path, "wb")
        cmd = [qemu, "-accel", "tcg", "-m", str(mem_mb), "-smp", "1", "-nographic",
               "-no-reboot", "-nodefaults", "-serial", "stdio", "-kernel", vmlinuz,
               "-initrd", initrd,
               "-append", "console=ttyS0 panic=-1 nvmet.size_mb=%d" % size_mb,
               "-netdev", "user,id=n0,hostfwd=tcp:127.0.0.1:%d-10.0.2.15:4420" % self.port,
               "-device", "e1000,netdev=n0",
               "-monitor", "unix:%s,server=on,wait=off" % self.mon_path]
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)

    def console(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_ready(self, timeout=300):
        end = time.time() + timeout
        while time.time() < end:
            if READY in self.console():
                return self
            if self.proc.poll() is not None:
                raise AssertionError("the nvmet guest exited:\n" + self.console()[-3000:])
            time.sleep(0.2)
        raise AssertionError("the nvmet guest was not ready in %d s:\n%s" %
                             (timeout, self.console()[-3000:]))

    def monitor(self, command, timeout=30):
        """Run one HMP command; returns its output."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.mon_path)
            buf = b""
            while b"(qemu)" not in buf:
                buf += s.recv(4096) or b"(qemu)"
            s.sendall(command.encode() + b"\n")
            buf = b""
            while buf.count(b"(qemu)") < 1:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            return buf.decode("utf-8", "replace")
        finally:
            s.close()

    def set_link(self, up):
        """Plug or unplug the guest's network cable (the target vanishes
        without closing anything)."""
        self.monitor("set_link n0 %s" % ("on" if up else "off"))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def _interrupt(*_):
    raise KeyboardInterrupt()


def main():
    ap = argparse.ArgumentParser(description="Linux nvmet-tcp in a TCG guest")
    ap.add_argument("--port", type=int, default=4420)
    a = ap.parse_args()
    # also when started in the background (SIGINT ignored): SIGTERM stops
    # the guest too
    signal.signal(signal.SIGTERM, _interrupt)
    g = NvmetGuest(port=a.port)
    try:
        g.wait_ready()
        print("nvmet-tcp ready on 127.0.0.1:%d, subsystem %s" % (g.port, g.nqn), flush=True)
        while g.proc.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        g.stop()


if __name__ == "__main__":
    main()
