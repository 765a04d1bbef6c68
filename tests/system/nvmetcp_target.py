#!/usr/bin/env python3
"""A small scripted NVMe/TCP target for tests of osnap's initiator.

It speaks the host-facing half of NVMe/TCP (NVMe/TCP transport spec 1.0,
NVMe over Fabrics 1.1): ICReq/ICResp, command capsules with in-capsule data,
R2T and H2C data, C2H data, CapsuleResp, optional header and data digests
(CRC32C); Fabrics Connect, Property Get/Set; Identify (controller, active
namespace list, namespace, namespace identification descriptors), Set/Get
Features, Keep Alive, Asynchronous Event Request (held); Read, Write, Flush,
Write Zeroes, Dataset Management on RAM namespaces.

Tests run it in-process (Target(...).start()) and can ask it to misbehave:
`target.inject(kind)` makes the next I/O answer with a malformed or
corrupted PDU (see FAULTS), `target.stop()` closes the listener and every
connection (a target that went away), `target.start()` listens again on the
same port with the same data. Standalone: `nvmetcp_target.py --port 4420`.
"""
import argparse
import socket
import struct
import threading
import time
import uuid as uuidlib

# PDU types (NVMe/TCP 1.0, 3.6.2)
ICREQ, ICRESP, H2C_TERM, C2H_TERM, CAPSULE_CMD, CAPSULE_RESP, H2C_DATA, C2H_DATA, R2T = \
    0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x09
F_HDGST, F_DDGST, F_LAST, F_SUCCESS = 0x01, 0x02, 0x04, 0x08

FAULTS = (
    "bad_type",        # a PDU of an unknown type
    "bad_hlen",        # a CapsuleResp whose hlen is wrong
    "huge_plen",       # a C2H data PDU announcing 1 GiB
    "data_overflow",   # C2H data beyond the command's buffer
    "unknown_cid",     # CapsuleResp for a command id never sent
    "bad_hdgst",       # wrong header digest (digests on)
    "bad_ddgst",       # wrong data digest (digests on)
    "term_req",        # a C2HTermReq
    "short_close",     # half a PDU header, then the connection closes
    "r2t_overflow",    # an R2T beyond the command's data
    "drop",            # close the connection instead of answering
    "error_status",    # answer the I/O with NVMe status Internal Error
)

_CRC_TABLE = []
for _i in range(256):
    _c = _i
    for _ in range(8):
        _c = (_c >> 1) ^ 0x82F63B78 if _c & 1 else _c >> 1
    _CRC_TABLE.append(_c)


def crc32c(data, crc=0):
    crc ^= 0xFFFFFFFF
    t = _CRC_TABLE
    for b in data:
        crc = t[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


class Namespace:
    def __init__(self, nsid, num_blocks, block_size=512):
        self.nsid = nsid
        self.block_size = block_size
        self.num_blocks = num_blocks
        self.data = bytearray(num_blocks * block_size)
        self.uuid = uuidlib.uuid4().bytes


class Closed(Exception):
    pass


class Controller:
    def __init__(self, cntlid):
        self.cntlid = cntlid
        self.cc = 0
        self.kato = 0


class Conn(threading.Thread):
    """One host connection (one queue pair)."""

    def __init__(self, target, sock):
        super().__init__(daemon=True)
        self.t = target
        self.s = sock
        self.hdgst = self.ddgst = False
        self.qid = None
        self.ctrl = None
        self.send_lock = threading.Lock()
        self.r2ts = {}
        self.next_ttag = 1
        self.sqsize = 0
        self.outstanding = 0    # I/O commands received and not answered

    # --- wire helpers ---
    def recv_exact(self, n):
        buf = bytearray()
        while len(buf) < n:
            chunk = self.s.recv(n - len(buf))
            if not chunk:
                raise Closed()
            buf += chunk
        return bytes(buf)

    def send_pdu(self, ptype, flags, psh, data=b"", bad_hdgst=False, bad_ddgst=False):
        hlen = 8 + len(psh)
        hd = 4 if self.hdgst else 0
        dd = 4 if (self.ddgst and data) else 0
        if self.hdgst:
            flags |= F_HDGST
        if dd:
            flags |= F_DDGST
        pdo = hlen + hd if data else 0
        plen = hlen + hd + len(data) + dd
        hdr = struct.pack("<BBBBI", ptype, flags, hlen, pdo, plen) + psh
        out = bytearray(hdr)
        if hd:
            out += struct.pack("<I", crc32c(hdr) ^ (1 if bad_hdgst else 0))
        out += data
        if dd:
            out += struct.pack("<I", crc32c(data) ^ (1 if bad_ddgst else 0))
        with self.send_lock:
            self.s.sendall(out)

    def send_resp(self, cid, status=0, dw0=0, dw1=0):
        if self.qid:
            self.outstanding -= 1
        sqhd = 0
        cqe = struct.pack("<IIHHHH", dw0, dw1, sqhd, self.qid or 0, cid, (status << 1) & 0xFFFF)
        self.send_pdu(CAPSULE_RESP, 0, cqe)

    def recv_pdu(self):
        ch = self.recv_exact(8)
        ptype, flags, hlen, pdo, plen = struct.unpack("<BBBBI", ch)
        if hlen < 8 or plen < hlen or plen > (64 << 20):
            raise Closed()
        rest = self.recv_exact(hlen - 8)
        hdr = ch + rest
        if ptype != ICREQ and self.hdgst:
            if not flags & F_HDGST:
                self.t.note("missing header digest")
                raise Closed()
            got = struct.unpack("<I", self.recv_exact(4))[0]
            if got != crc32c(hdr):
                self.t.note("header digest error")
                self.term(0x02)
                raise Closed()
            consumed = hlen + 4
        else:
            consumed = hlen
        data = b""
        if plen > consumed:
            pad = pdo - consumed if pdo > consumed else 0
            if pad:
                self.recv_exact(pad)
                consumed += pad
            dlen = plen - consumed - (4 if (flags & F_DDGST) else 0)
            data = self.recv_exact(dlen)
            if flags & F_DDGST:
                got = struct.unpack("<I", self.recv_exact(4))[0]
                if got != crc32c(data):
                    self.t.note("data digest error")
                    self.term(0x03)
                    raise Closed()
        return ptype, flags, hdr, data

    def term(self, fes):
        psh = struct.pack("<HI", fes, 0) + bytes(10)
        try:
            self.send_pdu(C2H_TERM, 0, psh)
        except OSError:
            pass

    # --- session ---
    def run(self):
        try:
            self.session()
        except (Closed, OSError, struct.error):
            pass
        finally:
            try:
                self.s.close()
            except OSError:
                pass
            self.t.conn_gone(self)

    def session(self):
        ptype, flags, hdr, _ = self.recv_pdu()
        if ptype != ICREQ or len(hdr) != 128:
            raise Closed()
        pfv, hpda, dgst, maxr2t = struct.unpack_from("<HBBI", hdr, 8)
        self.t.icreqs.append({"pfv": pfv, "hpda": hpda, "dgst": dgst, "maxr2t": maxr2t})
        want_h = bool(dgst & 1) and self.t.allow_hdgst
        want_d = bool(dgst & 2) and self.t.allow_ddgst
        rdgst = (1 if want_h else 0) | (2 if want_d else 0)
        psh = struct.pack("<HBBI", 0, 0, rdgst, self.t.maxh2cdata) + bytes(112)
        self.send_pdu(ICRESP, 0, psh)
        self.hdgst, self.ddgst = want_h, want_d
        while True:
            ptype, flags, hdr, data = self.recv_pdu()
            if ptype == CAPSULE_CMD:
                self.command(hdr[8:72], data)
            elif ptype == H2C_DATA:
                self.h2c(hdr, flags, data)
            elif ptype == H2C_TERM:
                raise Closed()
            else:
                self.t.note("unexpected PDU type 0x%x" % ptype)
                raise Closed()

    def command(self, sqe, data):
        opc, fl, cid, nsid = struct.unpack_from("<BBHI", sqe, 0)
        self.t.commands.append((self.qid, opc, cid))
        if self.qid:
            self.outstanding += 1
            # a queue of SQSIZE + 1 entries holds at most SQSIZE commands
            if self.outstanding > self.sqsize:
                self.t.note("SQ overflow: %d commands on a queue of SQSIZE %d" %
                            (self.outstanding, self.sqsize))
        if opc == 0x7F:
            return self.fabrics(sqe, cid, data)
        if self.ctrl is None:
            return self.send_resp(cid, 0x0C)  # command sequence error
        if self.qid == 0:
            return self.admin(sqe, opc, cid, nsid, data)
        return self.io(sqe, opc, cid, nsid, data)

    def fabrics(self, sqe, cid, data):
        fctype = sqe[4]
        if fctype == 0x01:  # Connect
            recfmt, qid, sqsize, cattr, kato = struct.unpack_from("<HHHBxI", sqe, 40)
            if len(data) != 1024:
                return self.send_resp(cid, 0x02)
            cntlid = struct.unpack_from("<H", data, 16)[0]
            subnqn = data[256:512].split(b"\0")[0].decode()
            hostnqn = data[512:768].split(b"\0")[0].decode()
            self.t.connects.append({"qid": qid, "sqsize": sqsize, "kato": kato, "cntlid": cntlid,
                                    "subnqn": subnqn, "hostnqn": hostnqn, "hostid": bytes(data[0:16])})
            if subnqn != self.t.subnqn:
                return self.send_resp(cid, (1 << 8) | 0x84, dw0=(1 << 16) | 256)  # invalid param
            if qid == 0:
                self.ctrl = self.t.new_ctrl()
                self.ctrl.kato = kato
            else:
                self.ctrl = self.t.ctrls.get(cntlid)
                if self.ctrl is None or not self.ctrl.cc & 1:
                    self.ctrl = None
                    return self.send_resp(cid, (1 << 8) | 0x84, dw0=(1 << 16) | 16)
            self.qid = qid
            self.sqsize = sqsize
            if qid:
                self.outstanding = 1    # the Connect itself, answered now
            return self.send_resp(cid, 0, dw0=self.ctrl.cntlid)
        if self.ctrl is None:
            return self.send_resp(cid, 0x0C)
        attrib = sqe[40]
        offset = struct.unpack_from("<I", sqe, 44)[0]
        if fctype == 0x04:  # Property Get
            val = self.prop_get(offset)
            if val is None:
                return self.send_resp(cid, 0x02)
            return self.send_resp(cid, 0, dw0=val & 0xFFFFFFFF, dw1=val >> 32 if attrib & 1 else 0)
        if fctype == 0x00:  # Property Set
            val = struct.unpack_from("<Q", sqe, 48)[0]
            if offset == 0x14:
                self.ctrl.cc = val & 0xFFFFFFFF
                return self.send_resp(cid)
            return self.send_resp(cid, 0x02)
        return self.send_resp(cid, 0x01)

    def prop_get(self, off):
        c = self.ctrl
        if off == 0x00:  # CAP: MQES 127, CQR, TO 1 (500 ms), CSS NVM
            return (self.t.mqes) | (1 << 16) | (1 << 24) | (1 << 37)
        if off == 0x08:
            return 0x00010400
        if off == 0x14:
            return c.cc
        if off == 0x1C:
            rdy = 1 if c.cc & 1 else 0
            shst = 2 if (c.cc >> 14) & 3 else 0
            return rdy | (shst << 2)
        return None

    def admin(self, sqe, opc, cid, nsid, data):
        cdw10, cdw11 = struct.unpack_from("<II", sqe, 40)
        if opc == 0x06:  # Identify
            cns = cdw10 & 0xFF
            buf = self.t.identify(cns, nsid)
            if buf is None:
                return self.send_resp(cid, 0x0B if cns in (0, 3) else 0x02)
            return self.c2h(cid, buf)
        if opc == 0x09:  # Set Features
            fid = cdw10 & 0xFF
            if fid == 0x07:
                n = self.t.num_io_queues - 1
                return self.send_resp(cid, 0, dw0=n | (n << 16))
            return self.send_resp(cid)
        if opc == 0x0A:  # Get Features
            return self.send_resp(cid)
        if opc == 0x18:  # Keep Alive
            self.t.keep_alives += 1
            return self.send_resp(cid)
        if opc == 0x0C:  # AER: held until an event
            with self.t.lock:
                self.t.aers.append((self, cid))
            self.t.deliver_aens()
            return None
        if opc == 0x02:  # Get Log Page
            self.t.log_pages.append(cdw10 & 0xFF)
            numd = ((cdw10 >> 16) | ((cdw11 & 0xFFFF) << 16)) + 1
            return self.c2h(cid, bytes(numd * 4))
        return self.send_resp(cid, 0x01)

    def c2h(self, cid, buf, fault=None):
        """Send buf as C2H data PDUs, then the response."""
        chunk = self.t.c2h_chunk
        off = 0
        while off < len(buf) or off == 0:
            part = buf[off:off + chunk]
            last = off + len(part) >= len(buf)
            psh = struct.pack("<HHII", cid, 0, off, len(part)) + bytes(4)
            bad_d = fault == "bad_ddgst" and last
            self.send_pdu(C2H_DATA, F_LAST if last else 0, psh, part, bad_ddgst=bad_d)
            off += len(part)
            if not part:
                break
        self.send_resp(cid)

    def io(self, sqe, opc, cid, nsid, data):
        ns = self.t.namespaces.get(nsid)
        if ns is None:
            return self.send_resp(cid, 0x0B)
        slba = struct.unpack_from("<Q", sqe, 40)[0]
        nlb = (struct.unpack_from("<I", sqe, 48)[0] & 0xFFFF) + 1
        sgl_len = struct.unpack_from("<I", sqe, 32)[0]
        sgl_type = sqe[39]
        fault = self.t.take_fault()
        if fault:
            self.t.note("fault %s on cid %d" % (fault, cid))
            if self.do_fault(fault, cid, opc, sgl_len):
                return None
        if opc == 0x00:
            return self.send_resp(cid)
        off, ln = slba * ns.block_size, nlb * ns.block_size
        if opc in (0x01, 0x02) and slba + nlb > ns.num_blocks:
            return self.send_resp(cid, 0x80)
        if fault == "error_status":
            return self.send_resp(cid, 0x06)
        if opc == 0x02:  # Read
            self.t.reads += 1
            return self.c2h(cid, bytes(ns.data[off:off + ln]), fault)
        if opc == 0x01:  # Write
            if sgl_len != ln:
                return self.send_resp(cid, 0x0F)
            if sgl_type == 0x01:  # in-capsule (data block, offset)
                if len(data) != ln:
                    return self.send_resp(cid, 0x0F)
                self.t.incapsule_writes += 1
            else:
                def done(buf):
                    ns.data[off:off + ln] = buf
                    self.t.r2t_writes += 1
                    self.t.writes += 1
                    self.send_resp(cid)
                return self.r2t_start(cid, ln, done)
            ns.data[off:off + ln] = data
            self.t.writes += 1
            return self.send_resp(cid)
        if opc == 0x09:  # Dataset Management: deallocated blocks read zeroes here
            if not struct.unpack_from("<I", sqe, 44)[0] & 4:
                return self.send_resp(cid)
            nr = (struct.unpack_from("<I", sqe, 40)[0] & 0xFF) + 1
            if sgl_type != 0x01 or len(data) != 16 * nr:
                return self.send_resp(cid, 0x0F)
            for i in range(nr):
                _, rlen, rslba = struct.unpack_from("<IIQ", data, 16 * i)
                if rslba + rlen > ns.num_blocks:
                    return self.send_resp(cid, 0x80)
                o = rslba * ns.block_size
                ns.data[o:o + rlen * ns.block_size] = bytes(rlen * ns.block_size)
            self.t.unmaps += 1
            return self.send_resp(cid)
        if opc == 0x08:  # Write Zeroes
            if slba + nlb > ns.num_blocks:
                return self.send_resp(cid, 0x80)
            ns.data[off:off + ln] = bytes(ln)
            return self.send_resp(cid)
        return self.send_resp(cid, 0x01)

    def r2t_start(self, cid, ln, done):
        """Ask for a write's data with R2Ts; done(data) runs once it is all in.
        Other commands may arrive meanwhile (the host does not wait)."""
        ttag = self.next_ttag
        self.next_ttag = (self.next_ttag + 1) & 0xFFFF or 1
        w = {"cid": cid, "ttag": ttag, "len": ln, "got": bytearray(), "end": 0, "done": done}
        self.r2ts[ttag] = w
        self.r2t_next(w)

    def r2t_next(self, w):
        want = min(w["len"] - len(w["got"]), self.t.r2t_chunk)
        w["end"] = len(w["got"]) + want
        self.send_pdu(R2T, 0, struct.pack("<HHII", w["cid"], w["ttag"], len(w["got"]), want) + bytes(4))

    def h2c(self, hdr, flags, data):
        hcid, httag, datao, datal = struct.unpack_from("<HHII", hdr, 8)
        w = self.r2ts.get(httag)
        if w is None or hcid != w["cid"] or datao != len(w["got"]) or datal != len(data) \
                or datal > self.t.maxh2cdata or datao + datal > w["end"]:
            self.t.note("bad H2C data cid %d ttag %d off %d len %d" % (hcid, httag, datao, datal))
            raise Closed()
        w["got"] += data
        last = bool(flags & F_LAST)
        if last != (len(w["got"]) == w["end"]):
            self.t.note("H2C LAST flag wrong")
            raise Closed()
        if not last:
            return
        if len(w["got"]) < w["len"]:
            return self.r2t_next(w)
        del self.r2ts[httag]
        w["done"](bytes(w["got"]))

    def do_fault(self, fault, cid, opc, ln):
        """Misbehave; True when the command is consumed (no normal answer)."""
        if fault == "bad_type":
            self.send_pdu(0x0F, 0, bytes(16))
        elif fault == "bad_hlen":
            cqe = struct.pack("<IIHHHH", 0, 0, 0, self.qid, cid, 0)
            self.s.sendall(struct.pack("<BBBBI", CAPSULE_RESP, 0, 20, 0, 20) + cqe[:12])
        elif fault == "huge_plen":
            self.s.sendall(struct.pack("<BBBBI", C2H_DATA, F_LAST, 24, 24, 1 << 30) +
                           struct.pack("<HHII", cid, 0, 0, 1 << 30) + bytes(4))
        elif fault == "data_overflow":
            part = bytes(4096)
            self.send_pdu(C2H_DATA, F_LAST, struct.pack("<HHII", cid, 0, ln, 4096) + bytes(4), part)
        elif fault == "unknown_cid":
            self.send_resp((cid + 1000) & 0xFFFF)
        elif fault == "bad_hdgst":
            cqe = struct.pack("<IIHHHH", 0, 0, 0, self.qid, cid, 0)
            self.send_pdu(CAPSULE_RESP, 0, cqe, bad_hdgst=True)
        elif fault == "bad_ddgst":
            return False  # handled by c2h() on a read
        elif fault == "term_req":
            self.term(0x01)
        elif fault == "short_close":
            self.s.sendall(struct.pack("<BBBB", CAPSULE_RESP, 0, 24, 0))
            raise Closed()
        elif fault == "r2t_overflow":
            self.send_pdu(R2T, 0, struct.pack("<HHII", cid, 1, 0, ln + 4096) + bytes(4))
        elif fault == "drop":
            raise Closed()
        elif fault == "error_status":
            return False
        # after a protocol violation the host must drop the connection
        return True


class Target:
    def __init__(self, subnqn="nqn.2016-06.io.osnap:fake", port=0, namespaces=((1, 16384, 512),),
                 allow_hdgst=True, allow_ddgst=True, maxh2cdata=65536, ioccsz_bytes=8192,
                 num_io_queues=8, mqes=127, c2h_chunk=131072, r2t_chunk=1 << 20, addr="127.0.0.1"):
        self.subnqn = subnqn
        self.addr = addr
        self.port = port
        self.namespaces = {}
        for nsid, nblocks, bs in namespaces:
            self.namespaces[nsid] = Namespace(nsid, nblocks, bs)
        self.allow_hdgst, self.allow_ddgst = allow_hdgst, allow_ddgst
        self.maxh2cdata = maxh2cdata
        self.ioccsz_bytes = ioccsz_bytes
        self.num_io_queues = num_io_queues
        self.mqes = mqes
        self.c2h_chunk = c2h_chunk
        self.r2t_chunk = r2t_chunk
        self.lock = threading.Lock()
        self.ctrls = {}
        self.next_cntlid = 1
        self.conns = set()
        self.faults = []
        self.log = []
        self.icreqs, self.connects, self.commands, self.aers = [], [], [], []
        self.pending_aens = []
        self.log_pages = []
        self.keep_alives = self.reads = self.writes = 0
        self.incapsule_writes = self.r2t_writes = self.unmaps = 0
        self.lsock = None
        self.accept_thread = None

    # --- control ---
    def start(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.addr, self.port))
        s.listen(16)
        self.port = s.getsockname()[1]
        self.lsock = s
        self.accept_thread = threading.Thread(target=self.accept_loop, args=(s,), daemon=True)
        self.accept_thread.start()
        return self

    def stop(self):
        """Close the listener and every connection: the target is gone."""
        if self.lsock:
            try:
                self.lsock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.lsock.close()
            self.lsock = None
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for c in conns:
            c.join(10)
        if self.accept_thread:
            self.accept_thread.join(10)
        self.aers = []

    def change_namespaces(self, add=(), remove=()):
        """Add (nsid, blocks, block_size) and remove nsids, then announce it
        with a Namespace Attribute Changed event (on the first AER held)."""
        with self.lock:
            for nsid, nblocks, bs in add:
                self.namespaces[nsid] = Namespace(nsid, nblocks, bs)
            for nsid in remove:
                self.namespaces.pop(nsid, None)
            self.pending_aens.append(0x2 | (0x00 << 8) | (0x04 << 16))
        self.deliver_aens()

    def deliver_aens(self):
        while True:
            with self.lock:
                if not self.pending_aens or not self.aers:
                    return
                dw0 = self.pending_aens.pop(0)
                conn, cid = self.aers.pop(0)
            try:
                conn.send_resp(cid, 0, dw0=dw0)
            except OSError:
                pass

    def inject(self, kind, count=1):
        assert kind in FAULTS, kind
        with self.lock:
            self.faults += [kind] * count

    def take_fault(self):
        with self.lock:
            return self.faults.pop(0) if self.faults else None

    def note(self, msg):
        self.log.append(msg)

    def connections(self):
        with self.lock:
            return len(self.conns)

    def wait_for(self, cond, timeout=30, what="condition"):
        end = time.time() + timeout
        while time.time() < end:
            if cond():
                return
            time.sleep(0.01)
        raise AssertionError("target: timed out waiting for " + what)

    # --- internals ---
    def accept_loop(self, lsock):
        while True:
            try:
                s, _ = lsock.accept()
            except OSError:
                return
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            c = Conn(self, s)
            with self.lock:
                self.conns.add(c)
            c.start()

    def conn_gone(self, c):
        with self.lock:
            self.conns.discard(c)

    def new_ctrl(self):
        with self.lock:
            c = Controller(self.next_cntlid)
            self.next_cntlid += 1
            self.ctrls[c.cntlid] = c
            return c

    def identify(self, cns, nsid):
        if cns == 0x01:
            b = bytearray(4096)
            struct.pack_into("<HH", b, 0, 0x1b36, 0x1b36)
            b[4:24] = b"FAKE0001".ljust(20)
            b[24:64] = b"osnap fake NVMe/TCP target".ljust(40)
            b[64:72] = b"1.0".ljust(8)
            b[77] = 5                                  # MDTS: 2^5 * 4 KiB = 128 KiB
            struct.pack_into("<H", b, 78, 0)           # CNTLID filled by nobody
            struct.pack_into("<I", b, 80, 0x00010400)  # VER
            b[258] = 3                                 # AERL
            b[512] = 0x66                              # SQES
            b[513] = 0x44                              # CQES
            struct.pack_into("<H", b, 514, 128)        # MAXCMD
            struct.pack_into("<I", b, 516, max(self.namespaces) if self.namespaces else 0)
            struct.pack_into("<H", b, 520, 0x0C)       # ONCS: write zeroes, dsm
            b[525] = 1                                 # VWC
            struct.pack_into("<I", b, 536, 0x00100001)  # SGLS: SGLs, offsets in data blocks
            nqn = self.subnqn.encode()
            b[768:768 + len(nqn)] = nqn
            struct.pack_into("<I", b, 1792, (64 + self.ioccsz_bytes) // 16)  # IOCCSZ
            struct.pack_into("<I", b, 1796, 1)         # IORCSZ
            struct.pack_into("<H", b, 1800, 0)         # ICDOFF
            return bytes(b)
        if cns == 0x02:
            ids = sorted(i for i in self.namespaces if i > nsid)[:1024]
            return struct.pack("<%dI" % len(ids), *ids).ljust(4096, b"\0")
        if cns == 0x00:
            ns = self.namespaces.get(nsid)
            if ns is None:
                return None
            b = bytearray(4096)
            struct.pack_into("<QQQ", b, 0, ns.num_blocks, ns.num_blocks, ns.num_blocks)
            b[25] = 0                                  # NLBAF: one format
            b[26] = 0                                  # FLBAS: format 0
            lbads = ns.block_size.bit_length() - 1
            struct.pack_into("<I", b, 128, lbads << 16)
            b[104:120] = ns.uuid                       # NGUID
            return bytes(b)
        if cns == 0x03:
            ns = self.namespaces.get(nsid)
            if ns is None:
                return None
            return (bytes([3, 16, 0, 0]) + ns.uuid).ljust(4096, b"\0")
        return None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--addr", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=4420)
    ap.add_argument("--nqn", default="nqn.2016-06.io.osnap:fake")
    ap.add_argument("--blocks", type=int, default=16384)
    ap.add_argument("--block-size", type=int, default=512)
    a = ap.parse_args()
    t = Target(subnqn=a.nqn, port=a.port, addr=a.addr,
               namespaces=((1, a.blocks, a.block_size),)).start()
    print("listening on %s:%d, %s" % (a.addr, t.port, a.nqn), flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        t.stop()


if __name__ == "__main__":
    main()
