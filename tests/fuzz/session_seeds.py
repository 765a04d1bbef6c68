#!/usr/bin/env python3
"""Write the seed corpora of the session fuzzers (fuzz_vfu_session.c and
fuzz_vhu_session.c): sessions that bring a controller up and run admin and
I/O commands, plus a few hostile ones. The encoding follows the OP_* lists
of the two targets. Usage: session_seeds.py [CORPUS_DIR]
(default: tests/fuzz/corpus next to this script)."""
import os
import struct
import sys

NOSETTLE = 0x80

# --- vfio-user / NVMe (fuzz_vfu_session.c) ---

(V_VERSION, V_DMA_MAP, V_DMA_UNMAP, V_REGION_WRITE, V_REGION_READ, V_REG, V_DOORBELL,
 V_SET_IRQS, V_RESET, V_INFO, V_WRITE_MULTI, V_RAW, V_IMAGE, V_ADMIN, V_IO, V_CONSUME,
 V_BRINGUP, V_CONFIG, V_RECONNECT, V_TRUNCATE, V_STEP, V_RPC) = range(22)

REG_CC = 0


def sqe(opc, cid=0, nsid=0, prp1=0, prp2=0, cdw10=0, cdw11=0, cdw12=0, cdw13=0, flags=0):
    return struct.pack("<BBHIIIQQQIIIIII", opc, flags, cid, nsid, 0, 0, 0, prp1, prp2,
                       cdw10, cdw11, cdw12, cdw13, 0, 0)


def v_bringup(nq, version=True, mapimg=True, msix=True):
    f = (1 if version else 0) | (2 if mapimg else 0) | (4 if msix else 0) | (nq << 4)
    return bytes([V_BRINGUP, f])


def v_admin(e, fix=0x3, op=V_ADMIN):
    return bytes([op, fix]) + e


def v_io(q, e, fix=0x0b, op=V_IO):
    return bytes([op, q - 1, fix]) + e


def v_consume(sel=0xff):
    return bytes([V_CONSUME, sel])


def v_image(off, data):
    return bytes([V_IMAGE]) + struct.pack("<IH", off, len(data)) + data


def v_unmap(flags, pg=0, np=0, op=V_DMA_UNMAP):
    return bytes([op, flags, pg, np])


def v_map(flags, pg=0, np=0, gpg=0, op=V_DMA_MAP):
    return bytes([op, flags, pg, np]) + struct.pack("<H", gpg)


def v_reg(sel, val, op=V_REG):
    return bytes([op, sel]) + struct.pack("<I", val)


DATA = 0x10000


def vfu_seeds():
    s = {}
    write = sqe(0x01, prp1=0, cdw10=8, cdw12=7)        # 8 blocks at LBA 8
    read = sqe(0x02, prp1=0x8000, cdw10=8, cdw12=7)
    ident = sqe(0x06, prp1=0x20000, cdw10=1)
    s["bringup_io"] = (v_bringup(2) + v_image(DATA, b"osnap" * 800) + v_io(1, write) + v_consume() +
                       v_io(2, read) + v_consume() + v_admin(ident, fix=0x3) + v_consume())
    # a command list of every kind the I/O path knows
    cmds = [sqe(0x00), write, read, sqe(0x05, cdw10=8, cdw12=7), sqe(0x08, cdw10=64, cdw12=15),
            (sqe(0x09, nsid=1, prp1=0x100, cdw10=1, cdw11=4), 0x03),
            sqe(0x05, flags=1, cdw10=8, cdw12=0), sqe(0x01, flags=2, cdw10=8, cdw12=0)]
    body = v_bringup(1) + v_image(DATA + 0x100, struct.pack("<IIQ", 0, 4, 16) * 2)
    for c in cmds:
        c, fix = c if isinstance(c, tuple) else (c, 0x0b)
        body += v_io(1, c, fix=fix) + v_consume()
    s["io_kinds"] = body
    # admin commands: identify variants, logs, features, AER, queues, dbbuf
    adm = [sqe(0x06, cdw10=0, nsid=1), sqe(0x06, cdw10=2), sqe(0x06, cdw10=3, nsid=1),
           sqe(0x02, cdw10=(127 << 16) | 0x02, nsid=0xffffffff), sqe(0x02, cdw10=(15 << 16) | 0x01),
           sqe(0x0a, cdw10=0x07), sqe(0x09, cdw10=0x07, cdw11=0x00030003),
           sqe(0x09, cdw10=0x08, cdw11=0x0101), sqe(0x0c), sqe(0x0c),
           sqe(0x7c, prp1=0x40000, prp2=0x41000), sqe(0x00, cdw10=2), sqe(0x04, cdw10=2),
           sqe(0x10, cdw10=0x9), sqe(0x11, cdw10=127, cdw11=0)]
    body = v_bringup(2)
    for c in adm:
        body += v_admin(c, fix=0x3) + v_consume(0)
    s["admin_mix"] = body
    # the rings go away under the queues, come back
    s["unmap_remap"] = (v_bringup(2) + v_io(1, write, op=V_IO | NOSETTLE) +
                        v_unmap(2, op=V_DMA_UNMAP | NOSETTLE) + bytes([V_STEP, 2, V_STEP, 3]) +
                        v_map(0x23) + v_consume() + v_io(1, read) + v_unmap(1) + v_io(1, read) +
                        v_map(0x23) + v_consume())
    # shutdown notification pipelined with an unmap, then a reset storm
    s["shutdown_unmap"] = (v_bringup(3) + v_io(3, write, op=V_IO | NOSETTLE) +
                           v_reg(REG_CC, 1 | (6 << 16) | (4 << 20) | (1 << 14), op=V_REG | NOSETTLE) +
                           v_unmap(2, op=V_DMA_UNMAP | NOSETTLE) + bytes([V_STEP, 0, V_STEP, 2]) +
                           bytes([V_RESET]) + v_reg(REG_CC, 0) + bytes([V_RECONNECT]) + v_bringup(1))
    # a full CQ (nobody consumes) under a disconnect
    body = v_bringup(1)
    for i in range(70):
        body += v_io(1, sqe(0x00, cid=i), fix=0x0a)
    s["full_cq_disconnect"] = body + bytes([V_RECONNECT]) + v_bringup(1) + v_io(1, read) + v_consume()
    # interrupts: eventfds, pipes, masks
    irq = lambda idx, sel, start, count, nfds: bytes([V_SET_IRQS, idx, sel, start, count, nfds])
    s["irqs"] = (v_bringup(2, msix=False) + irq(2, 0x02 | 0x08, 0, 8, 8) + irq(2, 0x02 | 0x08, 0, 1, 1) +
                 irq(2, 0x4a, 1, 1, 1) + irq(2, 0x6a, 2, 1, 1) + irq(2, 0x00 | 0x00, 0, 8, 0) + irq(3, 0x02 | 0x08, 0, 1, 1) +
                 irq(2, 0x00 | 0x08, 0, 2, 0) + irq(2, 0x00 | 0x04, 0, 2, 0) +
                 bytes([V_CONFIG, 1]) + struct.pack("<H", 0xc000) + v_io(1, write) +
                 bytes([V_CONFIG, 1]) + struct.pack("<H", 0x8000) + v_consume() +
                 bytes([V_CONFIG, 2]) + struct.pack("<H", 0x8000) + v_consume())
    # negotiation and introspection, garbage after a valid message
    raw = struct.pack("<HHIII", 7, 9, 32, 0, 0) + struct.pack("<QII", 0, 7, 16) + b"\0" * 16
    s["version_info"] = (bytes([V_VERSION, 1]) + bytes([V_INFO, 0, 0]) + struct.pack("<H", 16) +
                         bytes([V_INFO, 1, 0]) + struct.pack("<H", 32) +
                         bytes([V_INFO, 1, 4]) + struct.pack("<H", 64) +
                         bytes([V_INFO, 2, 2]) + struct.pack("<H", 16) +
                         bytes([V_REGION_READ, 7]) + struct.pack("<HH", 0, 256) +
                         bytes([V_WRITE_MULTI, 2, 0]) + struct.pack("<HB", 0x24, 4) + b"\x3f\x00\x3f\x00" + b"\0" * 4 +
                         bytes([0]) + struct.pack("<HB", 0x14, 4) + b"\0" * 8 +
                         bytes([V_RAW]) + struct.pack("<HB", len(raw), 1) + raw +
                         bytes([V_RAW]) + struct.pack("<HB", 20, 0) + b"\x01\x00\x01\x00" + b"\0" * 16)
    # the client shrinks its memory file under running queues
    s["truncate"] = (v_bringup(1) + v_io(1, write) + v_consume() + v_io(1, write, fix=0x0f) +
                     bytes([V_TRUNCATE, 4, V_DOORBELL, 1]) + struct.pack("<H", 2) + bytes([V_RECONNECT]) + v_bringup(1) + v_io(1, read) + v_consume())
    # maps of odd fds and ranges
    s["maps"] = (bytes([V_VERSION, 0]) + v_map(0x07, 0, 3, 0x40) + v_map(0x43 | (1 << 2), 4, 0) +
                 v_map(0x43 | (2 << 2), 8, 0) + v_map(0x43 | (3 << 2), 12, 0) + v_map(0x43 | (5 << 2), 16, 0) +
                 v_map(0x43, 250, 10) + v_map(0x83, 20, 1, 0xffff) + v_unmap(0, 4, 0) + v_unmap(0, 99, 0) +
                 v_unmap(8, 0, 0) + bytes([0x10, 0x00]) + v_unmap(1) + v_bringup(1, version=False))
    # the operator suspends, detaches and resumes under a busy client
    rpc = lambda sel, op=V_RPC: bytes([op, sel])
    s["rpc_mix"] = (v_bringup(2) + v_io(1, write) + v_consume() + v_unmap(2) + rpc(0) + rpc(2) +
                    v_map(0x23) + v_io(1, read) + v_consume() + rpc(3, V_RPC | NOSETTLE) +
                    v_io(2, read) + rpc(4) + v_consume() + rpc(1) + v_io(1, write) + rpc(2) + v_consume())
    # a client that connects again before its old session is torn down
    s["reconnect_fast"] = (v_bringup(2) + v_io(1, write, op=V_IO | NOSETTLE) +
                           v_unmap(2, op=V_DMA_UNMAP | NOSETTLE) + bytes([V_STEP, 0]) +
                           bytes([V_RECONNECT | NOSETTLE]) + v_bringup(1) + v_io(1, read) + v_consume())
    # the client hangs up and connects again while its DMA_UNMAP completes:
    # the new one waits for it (it used to be refused, or, after a drop,
    # given the connection the old command completed into)
    s["reconnect_while_unmapping"] = (v_bringup(1) + v_io(1, write, fix=0x0f) + bytes([V_TRUNCATE | NOSETTLE, 8]) +
                                      bytes([V_DOORBELL | NOSETTLE, 1]) + struct.pack("<H", 1) +
                                      v_unmap(2, op=V_DMA_UNMAP | NOSETTLE) +
                                      bytes([V_STEP, 0, V_STEP, 2, V_STEP, 0, V_RECONNECT | NOSETTLE]) +
                                      v_bringup(1) + v_io(1, read) + v_consume())
    # (was crashes-pending: a suspend racing a DMA unmap never answered)
    s["suspend_racing_unmap"] = (v_bringup(1) + v_io(1, write, op=V_IO | NOSETTLE) +
                                 bytes([V_RPC | NOSETTLE, 0]) + v_unmap(2) + bytes([V_RPC, 2]))
    return s


# --- vhost-user / virtio-blk (fuzz_vhu_session.c) ---

(H_GET, H_SET_FEATURES, H_SET_PROTOCOL, H_MEM_TABLE, H_ADD_REG, H_REM_REG, H_VRING_NUM,
 H_VRING_ADDR, H_VRING_BASE, H_GET_BASE, H_KICK_FD, H_CALL_FD, H_ERR_FD, H_ENABLE, H_CONFIG,
 H_INFLIGHT, H_RESET, H_STATUS, H_RAW, H_IMAGE, H_REQUEST, H_KICK, H_REAP, H_BRINGUP,
 H_RECONNECT, H_TRUNCATE, H_STEP, H_RPC) = range(28)


def h_bringup(nq, flags=0x0f):
    return bytes([H_BRINGUP, flags, nq])


def h_req(q, rtype, sector, nseg, seglen, flags=0x07, op=H_REQUEST):
    return bytes([op, q, flags]) + struct.pack("<IQBH", rtype, sector, nseg, seglen)


def h_reap(sel=0xff):
    return bytes([H_REAP, sel])


def vhu_seeds():
    s = {}
    # each seed starts with the controller's configuration byte
    s["bringup_io"] = (h_bringup(2) + h_req(0, 1, 0, 2, 4096) + h_reap() + h_req(1, 0, 0, 2, 4096) +
                       h_reap() + h_req(0, 4, 0, 0, 0) + h_reap() + h_req(0, 8, 0, 1, 20) + h_reap())
    s["discard_zeroes"] = (h_bringup(1, flags=0x4f) + h_req(0, 11, 0, 1, 32, flags=0x0f) +
                           h_req(0, 13, 0, 1, 16, flags=0x0f) + h_reap() +
                           h_req(0, 1, 100, 3, 512) + h_req(0, 0, 100, 3, 512) + h_reap())
    s["mem_table_change"] = (h_bringup(2) + h_req(0, 1, 0, 1, 4096, op=H_REQUEST | NOSETTLE) +
                             bytes([H_MEM_TABLE | NOSETTLE, 0x01]) + bytes([H_STEP, 2, H_STEP, 0]) +
                             h_reap() + h_req(1, 0, 0, 1, 4096) + h_reap())
    s["reset_reconnect"] = (h_bringup(2) + h_req(0, 1, 0, 1, 4096, op=H_REQUEST | NOSETTLE) +
                            bytes([H_RESET, 0]) + bytes([H_GET_BASE, 0]) + bytes([H_RECONNECT]) +
                            h_bringup(1) + h_req(0, 0, 0, 1, 4096) + h_reap())
    s["config_inflight"] = (bytes([H_GET, 0, H_GET, 1, H_GET, 2, H_GET, 3]) +
                            bytes([H_CONFIG, 0, 0, 60]) + bytes([H_CONFIG, 1, 0, 4]) +
                            bytes([H_INFLIGHT, 0, 2]) + struct.pack("<H", 256) +
                            bytes([H_INFLIGHT, 1, 0]) + struct.pack("<H", 0) +
                            bytes([H_STATUS, 0]) + struct.pack("<I", 15) + bytes([H_STATUS, 1]) + struct.pack("<I", 0) +
                            h_bringup(1) + h_req(0, 1, 8, 1, 512) + h_reap())
    s["full_used_disconnect"] = (h_bringup(1) + b"".join(h_req(0, 4, 0, 0, 0, flags=0x05) for _ in range(40)) +
                                 bytes([H_RECONNECT]) + h_bringup(1) + h_req(0, 0, 0, 1, 512) + h_reap())
    s["truncate"] = (h_bringup(1) + h_req(0, 1, 0, 1, 4096) + h_reap() +
                     h_req(0, 1, 0, 1, 4096, flags=0x05, op=H_REQUEST | NOSETTLE) + bytes([H_TRUNCATE, 2]) +
                     bytes([H_KICK, 0]) + bytes([H_RECONNECT]) +
                     h_bringup(1) + h_req(0, 0, 0, 1, 512) + h_reap())
    s["odd_fds"] = (bytes([H_GET, 0]) + bytes([H_SET_FEATURES, 1]) + struct.pack("<Q", 1 << 32) +
                    bytes([H_KICK_FD, 0, 3]) + bytes([H_CALL_FD, 0, 4]) + bytes([H_ERR_FD, 0, 5]) +
                    bytes([H_VRING_NUM, 0]) + struct.pack("<I", 32768) + bytes([H_ADD_REG, 0x11, 0, 2]) +
                    bytes([H_REM_REG, 0x01, 0, 2]) + h_bringup(1) + h_req(0, 1, 0, 1, 512) + h_reap())
    rpc = lambda sel, op=H_RPC: bytes([op, sel])
    s["rpc_mix"] = (h_bringup(2) + h_req(0, 1, 0, 2, 4096, op=H_REQUEST | NOSETTLE) + rpc(0) + rpc(2) +
                    h_req(1, 0, 0, 1, 4096) + rpc(3) + rpc(1) + h_reap() + rpc(2, H_RPC | NOSETTLE) +
                    rpc(0) + rpc(3) + rpc(1) + h_req(0, 0, 0, 1, 512) + h_reap())
    s["reconnect_fast"] = (h_bringup(2) + h_req(0, 1, 0, 2, 4096, op=H_REQUEST | NOSETTLE) +
                           bytes([H_MEM_TABLE | NOSETTLE, 0x00, H_STEP, 0, H_RECONNECT | NOSETTLE]) +
                           h_bringup(1) + h_req(0, 0, 0, 1, 512) + h_reap())
    # regression: the front end's memory faults (it truncated its file)
    # while a SET_MEM_TABLE is pausing the rings: the teardown used to run
    # beside the request, which then installed the new table for a front
    # end that was gone (fixed in vhu_handlers.c)
    s["fault_during_mem_table"] = (h_bringup(4) + bytes([H_TRUNCATE | NOSETTLE, 6]) +
                                   bytes([H_MEM_TABLE | NOSETTLE, 0x01, H_STEP, 3]) + h_bringup(0, flags=0))
    # a restarted back end handed its predecessor's region (SET_INFLIGHT_FD
    # before the rings, as QEMU does): one slice of 256, a batch of heads 3
    # and 9 (9 linked to 3) published but not cleared, head 9 counter 2, head
    # 3 counter 7
    pred = (bytes([H_INFLIGHT, 0x81, 0]) + struct.pack("<H", 0) + bytes([0, 8, 3]) +
            struct.pack("<HH", 9, 0) + bytes([2]) +
            struct.pack("<H", 3) + bytes([1]) + struct.pack("<H", 0) + bytes([7]) +
            struct.pack("<H", 9) + bytes([1]) + struct.pack("<H", 3) + bytes([2]))
    s["inflight_predecessor"] = pred + h_bringup(1) + h_req(0, 1, 0, 1, 512) + h_reap()
    cfg = {"discard_zeroes": 0x00, "bringup_io": 0x01, "config_inflight": 0x0a, "fault_during_mem_table": 0x01}
    return {k: bytes([cfg.get(k, 0)]) + v for k, v in s.items()}


def main():
    top = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                           "corpus")
    for name, seeds in (("vfu_session", vfu_seeds()), ("vhu_session", vhu_seeds())):
        d = os.path.join(top, name)
        os.makedirs(d, exist_ok=True)
        for k, v in seeds.items():
            with open(os.path.join(d, k), "wb") as f:
                f.write(v)
        print("%s: %d seeds" % (d, len(seeds)))


if __name__ == "__main__":
    main()
