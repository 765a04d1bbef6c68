#!/usr/bin/env python3
"""A logging relay between a vhost-user front end (QEMU) and a back end.

It listens on LISTEN, connects each accepted client to the back end's socket
BACKEND, relays every message both ways (file descriptors included, as
SCM_RIGHTS) and writes one line per message: direction, request, flags, size
and, for the messages that negotiate, the decoded payload (feature bits,
protocol feature bits, queue numbers, config size, memory regions...).
The data path (shared memory, eventfds) does not go through it, so it costs
nothing on I/O.

Used by run_guest_tests.py --trace-vhost; also standalone:
    vhost_user_log.py LISTEN BACKEND [LOGFILE]
"""
import os
import socket
import struct
import sys
import threading
import time

REQUESTS = {
    1: "GET_FEATURES", 2: "SET_FEATURES", 3: "SET_OWNER", 4: "RESET_OWNER",
    5: "SET_MEM_TABLE", 6: "SET_LOG_BASE", 7: "SET_LOG_FD", 8: "SET_VRING_NUM",
    9: "SET_VRING_ADDR", 10: "SET_VRING_BASE", 11: "GET_VRING_BASE",
    12: "SET_VRING_KICK", 13: "SET_VRING_CALL", 14: "SET_VRING_ERR",
    15: "GET_PROTOCOL_FEATURES", 16: "SET_PROTOCOL_FEATURES", 17: "GET_QUEUE_NUM",
    18: "SET_VRING_ENABLE", 19: "SEND_RARP", 20: "NET_SET_MTU",
    21: "SET_SLAVE_REQ_FD", 22: "IOTLB_MSG", 23: "SET_VRING_ENDIAN",
    24: "GET_CONFIG", 25: "SET_CONFIG", 26: "CREATE_CRYPTO_SESSION",
    27: "CLOSE_CRYPTO_SESSION", 28: "POSTCOPY_ADVISE", 29: "POSTCOPY_LISTEN",
    30: "POSTCOPY_END", 31: "GET_INFLIGHT_FD", 32: "SET_INFLIGHT_FD",
    33: "GPU_SET_SOCKET", 34: "RESET_DEVICE", 35: "VRING_KICK",
    36: "GET_MAX_MEM_SLOTS", 37: "ADD_MEM_REG", 38: "REM_MEM_REG",
    39: "SET_STATUS", 40: "GET_STATUS",
}

FEATURES = {
    1: "BLK_SIZE_MAX", 2: "BLK_SEG_MAX", 4: "BLK_GEOMETRY", 5: "BLK_RO",
    6: "BLK_BLK_SIZE", 9: "BLK_FLUSH", 10: "BLK_TOPOLOGY", 11: "BLK_CONFIG_WCE",
    12: "BLK_MQ", 13: "BLK_DISCARD", 14: "BLK_WRITE_ZEROES", 15: "BLK_LIFETIME",
    16: "BLK_SECURE_ERASE", 24: "NOTIFY_ON_EMPTY", 26: "LOG_ALL", 27: "ANY_LAYOUT",
    28: "RING_INDIRECT_DESC", 29: "RING_EVENT_IDX", 30: "PROTOCOL_FEATURES",
    32: "VERSION_1", 33: "ACCESS_PLATFORM", 34: "RING_PACKED", 35: "IN_ORDER",
    36: "ORDER_PLATFORM", 37: "SR_IOV", 38: "NOTIFICATION_DATA", 40: "RING_RESET",
}

PROTOCOL_FEATURES = {
    0: "MQ", 1: "LOG_SHMFD", 2: "RARP", 3: "REPLY_ACK", 4: "NET_MTU",
    5: "SLAVE_REQ", 6: "CROSS_ENDIAN", 7: "CRYPTO_SESSION", 8: "PAGEFAULT",
    9: "CONFIG", 10: "SLAVE_SEND_FD", 11: "HOST_NOTIFIER", 12: "INFLIGHT_SHMFD",
    13: "RESET_DEVICE", 14: "INBAND_NOTIFICATIONS", 15: "CONFIGURE_MEM_SLOTS",
    16: "STATUS",
}

HDR = struct.Struct("<III")
MAX_FDS = 8


def bits(value, names):
    out = []
    for b in range(64):
        if value & (1 << b):
            out.append(names.get(b, "bit%d" % b))
    return "0x%x [%s]" % (value, " ".join(out))


def decode(req, flags, payload, nfds):
    """A short text for one message's payload."""
    reply = bool(flags & 0x4)
    p = payload
    try:
        if req in (1, 2) and len(p) >= 8:
            return "features " + bits(struct.unpack_from("<Q", p)[0], FEATURES)
        if req in (15, 16) and len(p) >= 8:
            return "protocol " + bits(struct.unpack_from("<Q", p)[0], PROTOCOL_FEATURES)
        if req in (8, 10, 11, 18) and len(p) >= 8:
            i, n = struct.unpack_from("<II", p)
            return "index %d num %d" % (i, n)
        if req == 9 and len(p) >= 40:
            i, fl, desc, used, avail, log = struct.unpack_from("<IIQQQQ", p)
            return "index %d flags 0x%x desc 0x%x used 0x%x avail 0x%x" % (i, fl, desc, used, avail)
        if req in (12, 13, 14) and len(p) >= 8:
            v = struct.unpack_from("<Q", p)[0]
            return "index %d%s fds %d" % (v & 0xff, " nofd" if v & 0x100 else "", nfds)
        if req in (17, 36) and len(p) >= 8:
            return "value %d" % struct.unpack_from("<Q", p)[0]
        if req in (39, 40) and len(p) >= 8:
            return "status 0x%x" % struct.unpack_from("<Q", p)[0]
        if req in (24, 25) and len(p) >= 12:
            off, size, fl = struct.unpack_from("<III", p)
            return "offset %d size %d flags 0x%x (payload %d bytes)" % (off, size, fl, len(p) - 12)
        if req == 5 and len(p) >= 8:
            n = struct.unpack_from("<I", p)[0]
            regs = []
            for k in range(min(n, 8)):
                ga, sz, ua, off = struct.unpack_from("<QQQQ", p, 8 + 32 * k)
                regs.append("gpa 0x%x size 0x%x uva 0x%x off 0x%x" % (ga, sz, ua, off))
            return "%d regions (%d fds): %s" % (n, nfds, "; ".join(regs))
        if req in (37, 38) and len(p) >= 40:
            ga, sz, ua, off = struct.unpack_from("<QQQQ", p, 8)
            return "gpa 0x%x size 0x%x uva 0x%x off 0x%x fds %d" % (ga, sz, ua, off, nfds)
        if req in (31, 32) and len(p) >= 20:
            msz, moff, nq, qs = struct.unpack_from("<QQHH", p)
            return "mmap_size %d offset %d num_queues %d queue_size %d fds %d" % (msz, moff, nq, qs, nfds)
        if reply and len(p) == 8:
            return "u64 %d" % struct.unpack_from("<Q", p)[0]
    except struct.error:
        pass
    return ("fds %d" % nfds) if nfds else ""


def recv_exact(sock, n, want_fds):
    """Read n bytes; file descriptors that come with them are returned."""
    data = b""
    fds = []
    while len(data) < n:
        if want_fds:
            msg, anc, _flags, _addr = sock.recvmsg(n - len(data),
                                                   socket.CMSG_SPACE(MAX_FDS * 4))
            for level, typ, cdata in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    cnt = len(cdata) // 4
                    fds.extend(struct.unpack("%di" % cnt, cdata[:cnt * 4]))
        else:
            msg = sock.recv(n - len(data))
        if not msg:
            raise EOFError
        data += msg
    return data, fds


class VhostUserProxy:
    """Relay LISTEN <-> BACKEND, one back-end connection per client."""

    def __init__(self, listen_path, backend_path, log_path=None, log_file=None):
        self.listen_path = listen_path
        self.backend_path = backend_path
        self.log_file = log_file or (open(log_path, "a", buffering=1) if log_path else sys.stdout)
        self.lock = threading.Lock()
        self.t0 = time.time()
        self.conn_no = 0
        try:
            os.unlink(listen_path)
        except FileNotFoundError:
            pass
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(listen_path)
        self.srv.listen(4)
        self.closed = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def log(self, text):
        with self.lock:
            self.log_file.write("%8.3f %s\n" % (time.time() - self.t0, text))
            self.log_file.flush()

    def _accept(self):
        while not self.closed:
            try:
                cli, _ = self.srv.accept()
            except OSError:
                return
            self.conn_no += 1
            n = self.conn_no
            be = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                be.connect(self.backend_path)
            except OSError as e:
                self.log("conn %d: back end %s: %s; closing the front end" % (n, self.backend_path, e))
                be.close()
                cli.close()
                continue
            self.log("conn %d: front end connected, back end connected" % n)
            pair = [cli, be, 0]
            threading.Thread(target=self._pump, args=(n, cli, be, "F>B", pair), daemon=True).start()
            threading.Thread(target=self._pump, args=(n, be, cli, "B>F", pair), daemon=True).start()

    def _pump(self, n, src, dst, tag, pair):
        try:
            while True:
                hdr, fds = recv_exact(src, HDR.size, True)
                req, flags, size = HDR.unpack(hdr)
                payload = b""
                if size:
                    payload, more = recv_exact(src, size, True)
                    fds += more
                name = REQUESTS.get(req, "REQ_%d" % req)
                self.log("conn %d %s %-22s flags 0x%x size %d %s" %
                         (n, tag, name + (" (reply)" if flags & 4 else ""), flags, size,
                          decode(req, flags, payload, len(fds))))
                data = hdr + payload
                if fds:
                    dst.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                          struct.pack("%di" % len(fds), *fds))])
                    for fd in fds:
                        os.close(fd)
                else:
                    dst.sendall(data)
        except (EOFError, OSError) as e:
            self.log("conn %d %s closed (%s)" % (n, tag, e.__class__.__name__))
        finally:
            with self.lock:
                pair[2] += 1
                last = pair[2] == 2
            for s in pair[:2]:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                if last:
                    s.close()

    def close(self):
        self.closed = True
        try:
            self.srv.close()
        except OSError:
            pass
        try:
            os.unlink(self.listen_path)
        except OSError:
            pass


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        sys.exit(2)
    p = VhostUserProxy(sys.argv[1], sys.argv[2], sys.argv[3] if len(sys.argv) > 3 else None)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        p.close()


if __name__ == "__main__":
    main()
