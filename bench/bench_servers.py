"""The servers the benchmark measures, started pinned and configured:
osnapd (NVMe over vfio-user, virtio-blk over vhost-user-blk) and
qemu-storage-daemon (vhost-user-blk), plus /proc readings of their cost."""
import json
import os
import socket
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
NQN = "nqn.2026-01.io.osnap:bench"


def cpu_seconds(pid):
    """utime + stime of every thread of pid, in seconds (/proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def cpu_times(cpus):
    """{cpu: (busy seconds, steal seconds)} from /proc/stat; busy counts
    everything but idle, iowait and steal."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            name, *v = line.split()
            if not name.startswith("cpu") or name == "cpu" or int(name[3:]) not in cpus:
                continue
            v = [int(x) for x in v[:8]]
            user, nice, system, idle, iowait, irq, softirq, steal = v
            out[int(name[3:])] = ((user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK)
    return out


def rss_kib(pid):
    """Resident set size of pid in KiB (VmRSS)."""
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def pin_all_threads(pid, cpu):
    """Pin every thread of pid (now) to cpu; threads it starts later inherit
    the mask of their creator."""
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            os.sched_setaffinity(int(tid), {cpu})
        except OSError:
            pass


def wait_for_socket(path, proc, what, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        if proc.poll() is not None:
            raise RuntimeError("%s exited with %d" % (what, proc.returncode))
        if os.path.exists(path):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(path)
                return
            except OSError:
                pass
            finally:
                s.close()
        time.sleep(0.02)
    raise RuntimeError("%s did not open %s" % (what, path))


def stop(proc, timeout=20):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Osnapd:
    """osnapd on reactor core `cpu` (-m), every other thread pinned there too."""

    def __init__(self, build, workdir, cpu, config_lines=()):
        self.build = build
        self.rpc_sock = os.path.join(workdir, "rpc.sock")
        self.emu_dir = os.path.join(workdir, "emu")
        conf = os.path.join(workdir, "emu.conf")
        with open(conf, "w") as f:
            f.write("EMU_DIR=%s\n" % self.emu_dir)
            for line in config_lines:
                f.write(line + "\n")
        self.log = open(os.path.join(workdir, "osnapd.log"), "wb")
        env = dict(os.environ, SNAP_RPC_LOG_ENABLE="0")
        self.cmd = ["taskset", "-c", str(cpu), os.path.join(build, "osnapd"), "-r", self.rpc_sock,
                    "-m", hex(1 << cpu), "-c", conf, "--log-level", "2"]
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env)
        self.pid = self.proc.pid
        wait_for_socket(self.rpc_sock, self.proc, "osnapd")
        pin_all_threads(self.pid, cpu)

    def rpc(self, *args):
        """One osnap-rpc command line; its JSON output."""
        cmd = [os.path.join(self.build, "osnap-rpc"), "-s", self.rpc_sock] + [str(a) for a in args]
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        if p.returncode:
            raise RuntimeError("%s: %s" % (" ".join(cmd), p.stderr.strip()))
        return json.loads(p.stdout) if p.stdout.strip() else None

    def socket_of(self, kind, pf):
        for f in self.rpc("emulation_function_list"):
            if f["emulation_type"] == kind and f["pf_index"] == pf:
                return os.path.join(self.emu_dir, f["vuid"] + ".sock")
        raise RuntimeError("no %s PF %d" % (kind, pf))

    def setup_targets(self, file_path, block):
        """Null and file (io_uring) bdevs behind an NVMe controller (namespace
        1 null, 2 file) and two virtio-blk controllers (PF 0 null, PF 1 file).
        Returns {(target, backend): osnap-perf target arguments}."""
        self.rpc("bdev_null_create", "NullN", 1024, block)
        self.rpc("bdev_null_create", "NullV", 1024, block)
        self.rpc("bdev_uring_create", file_path, "FileN", block)
        self.rpc("bdev_uring_create", file_path, "FileV", block)
        self.rpc("nvme_subsystem_create", "--nqn", NQN)
        self.rpc("nvme_namespace_create", "--nqn", NQN, "-n", 1, "-b", "NullN")
        self.rpc("nvme_namespace_create", "--nqn", NQN, "-n", 2, "-b", "FileN")
        self.rpc("nvme_controller_create", "--nqn", NQN, "--pf_id", 0, "--num_queues", 1)
        self.rpc("nvme_controller_attach_ns", "-c", "NVMeCtrl1", "-n", 1)
        self.rpc("nvme_controller_attach_ns", "-c", "NVMeCtrl1", "-n", 2)
        self.rpc("virtio_blk_controller_create", "--pf_id", 0, "--bdev", "NullV", "--num_queues", 1)
        self.rpc("virtio_blk_controller_create", "--pf_id", 1, "--bdev", "FileV", "--num_queues", 1)
        nvme = self.socket_of("NVME", 0)
        return {
            ("osnap-nvme", "null"): ["--vfio-user", nvme, "--nvme", "--nsid", "1"],
            ("osnap-nvme", "file"): ["--vfio-user", nvme, "--nvme", "--nsid", "2"],
            ("osnap-vblk", "null"): ["--vhost-user", self.socket_of("VBLK", 0)],
            ("osnap-vblk", "file"): ["--vhost-user", self.socket_of("VBLK", 1)],
        }

    def stop(self):
        stop(self.proc)
        self.log.close()


class Qsd:
    """qemu-storage-daemon pinned to `cpu` with one iothread serving two
    vhost-user-blk exports: null-co and the file (io_uring when QEMU has it,
    else its thread pool), both buffered as osnap's on tmpfs."""

    def __init__(self, workdir, cpu, file_path, block, size):
        self.workdir = workdir
        self.sock = {"null": os.path.join(workdir, "qsd-null.sock"),
                     "file": os.path.join(workdir, "qsd-file.sock")}
        self.log_path = os.path.join(workdir, "qsd.log")
        last = None
        for aio in ("io_uring", "threads"):
            self.aio = aio
            self.cmd = self._cmd(cpu, file_path, block, size, aio)
            self.log = open(self.log_path, "wb")
            self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT)
            try:
                for s in self.sock.values():
                    wait_for_socket(s, self.proc, "qemu-storage-daemon")
                break
            except RuntimeError as e:
                last = e
                stop(self.proc)
                self.log.close()
        else:
            raise RuntimeError("qemu-storage-daemon: %s (see %s)" % (last, self.log_path))
        self.pid = self.proc.pid

    def _cmd(self, cpu, file_path, block, size, aio):
        def export(name, node):
            return ["--export", "type=vhost-user-blk,id=%s,node-name=%s,addr.type=unix,addr.path=%s,"
                    "writable=on,num-queues=1,logical-block-size=%d,iothread=io0" %
                    (name, node, self.sock[name], block)]
        return (["taskset", "-c", str(cpu), "qemu-storage-daemon",
                 "--blockdev", "driver=null-co,node-name=null0,size=%d" % size,
                 "--blockdev", "driver=file,node-name=file0,filename=%s,aio=%s,cache.direct=off" %
                 (file_path, aio),
                 "--object", "iothread,id=io0"] + export("null", "null0") + export("file", "file0"))

    def targets(self):
        return {("qsd-vblk", b): ["--vhost-user", s] for b, s in self.sock.items()}

    def stop(self):
        stop(self.proc)
        self.log.close()
