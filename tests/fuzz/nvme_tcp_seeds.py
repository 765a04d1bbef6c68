#!/usr/bin/env python3
"""Write the seed corpus of fuzz_nvme_tcp.c: controller byte streams that
answer the four commands the target submits (a read of 8 KiB in two C2H
PDUs, an in-capsule write, a write through two R2Ts, a flush), with and
without digests, plus one with a SUCCESS-flagged C2H, an error status and a
TermReq. Byte 0 selects the digests the host asks for (bits 0, 1) and
the socket implementation (bit 2: uring); each stream is written for both.
Usage: nvme_tcp_seeds.py [CORPUS_DIR] (default: tests/fuzz/corpus/nvme_tcp)."""
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "system"))
from nvmetcp_target import crc32c  # noqa: E402


def pdu(ptype, flags, psh, data=b"", hd=False, dd=False):
    hlen = 8 + len(psh)
    h = 4 if hd else 0
    d = 4 if (dd and data) else 0
    flags |= (1 if hd else 0) | (2 if d else 0)
    pdo = hlen + h if data else 0
    hdr = struct.pack("<BBBBI", ptype, flags, hlen, pdo, hlen + h + len(data) + d) + psh
    out = hdr + (struct.pack("<I", crc32c(hdr)) if hd else b"") + data
    return out + (struct.pack("<I", crc32c(data)) if d else b"")


def icresp(dgst):
    return pdu(1, 0, struct.pack("<HBBI", 0, 0, dgst, 65536) + bytes(112))


def resp(cid, status=0, hd=False):
    return pdu(5, 0, struct.pack("<IIHHHH", 0, 0, 0, 1, cid, status << 1), hd=hd)


def c2h(cid, off, data, last, hd=False, dd=False, success=False):
    return pdu(7, (4 if last else 0) | (8 if success else 0),
               struct.pack("<HHII", cid, 0, off, len(data)) + bytes(4), data, hd, dd)


def r2t(cid, off, ln, hd=False):
    return pdu(9, 0, struct.pack("<HHII", cid, 7, off, ln) + bytes(4), hd=hd)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "corpus", "nvme_tcp")
    os.makedirs(out, exist_ok=True)
    for name, dgst, impl in (("plain", 0, 0), ("digests", 3, 0), ("plain_uring", 0, 4),
                             ("digests_uring", 3, 4)):
        hd = dd = bool(dgst)
        s = (bytes([dgst | impl]) + icresp(dgst) + c2h(0, 0, bytes(range(256)) * 16, False, hd, dd) +
             c2h(0, 4096, b"\x5a" * 4096, True, hd, dd) + resp(0, 0, hd) + resp(1, 0, hd) +
             r2t(2, 0, 8192, hd) + r2t(2, 8192, 4096, hd) + resp(2, 0, hd) + resp(3, 0, hd))
        with open(os.path.join(out, name), "wb") as f:
            f.write(s)
    s = (bytes([0]) + icresp(0) + c2h(0, 0, b"x" * 8192, True, success=True) + resp(1, 2) +
         pdu(3, 0, struct.pack("<HI", 1, 0) + bytes(10), b"abc"))
    with open(os.path.join(out, "success_term"), "wb") as f:
        f.write(s)
    with open(os.path.join(out, "success_term_uring"), "wb") as f:
        f.write(bytes([4]) + s[1:])


if __name__ == "__main__":
    main()
