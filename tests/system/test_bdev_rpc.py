#!/usr/bin/env python3
"""System tests of the block-device RPCs: the malloc, null, uring and aio
modules created through osnap-rpc as with SPDK's rpc.py, bdev_get_bdevs,
bdev_dbg_io data paths, bdev_get_iostat, errors, and the io_uring -> libaio
fallback under a seccomp policy."""
import base64
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
import osnaptest  # noqa: E402
from osnaptest import Daemon, RpcConn, check, eq, main, test  # noqa: E402

IO_TYPES = ("read", "write", "unmap", "write_zeroes", "flush", "compare")
EOPNOTSUPP = -95
ERANGE = -34
ENODEV = -19
EEXIST = -17
UUIDS = {
    "malloc": "0b1f7c2e-5a3d-4c8e-9f10-1a2b3c4d5e6f",
    "null": "1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5",
    "uring": "2d3e4f50-6b7c-4d8e-9fa0-b1c2d3e4f506",
    "aio": "3e4f5061-7c8d-4e9f-a0b1-c2d3e4f50617",
}
FILE_SIZE = 8 << 20


def new_file(size=FILE_SIZE, fill=None):
    path = os.path.join(osnaptest.tmpdir(), "disk.img")
    with open(path, "wb") as f:
        if fill is None:
            f.truncate(size)
        else:
            f.write(fill)
    return path


class Mod:
    """How one module is created and what it should look like."""

    def __init__(self, name, product, types, keeps_data, file_backed=False):
        self.name = name
        self.product = product
        self.types = types            # supported_io_types expected true
        self.keeps_data = keeps_data
        self.file_backed = file_backed
        self.path = None

    def create_cli(self, d, bdev, uuid=None):
        """The rpc.py command line for this module; returns the geometry."""
        if self.name == "malloc":
            args, geo = ["bdev_malloc_create", "8", "512", "-b", bdev], (512, 16384)
        elif self.name == "null":
            args, geo = ["bdev_null_create", bdev, "8", "4096"], (4096, 2048)
        else:
            self.path = new_file()
            args = ["bdev_%s_create" % self.name, self.path, bdev]
            geo = (512, FILE_SIZE // 512)
        if uuid:
            args += ["-u", uuid]
        p = d.cli(*args)
        eq(p.stdout.strip().strip('"'), bdev, "%s printed" % args[0])
        return geo

    def create_rpc(self, d, bdev, **extra):
        if self.name == "malloc":
            params = {"name": bdev, "num_blocks": 64, "block_size": 512}
        elif self.name == "null":
            params = {"name": bdev, "num_blocks": 64, "block_size": 512}
        else:
            params = {"name": bdev, "filename": extra.pop("filename", None) or new_file(64 * 512)}
        params.update(extra)
        return d.rpc("bdev_%s_create" % self.name, params)


MODS = [
    Mod("malloc", "Malloc disk", set(IO_TYPES), True),
    Mod("null", "Null disk", {"read", "write", "write_zeroes", "flush"}, False),
    Mod("uring", "URING bdev", {"read", "write", "unmap", "write_zeroes", "flush"}, True, True),
    Mod("aio", "AIO disk", {"read", "write", "write_zeroes", "flush"}, True, True),
]


def same(got, want, what):
    """Byte-string equality with a short report (first difference)."""
    if got == want:
        return
    n = min(len(got), len(want))
    i = next((k for k in range(n) if got[k] != want[k]), n)
    raise AssertionError("%s: %d bytes read, %d expected; first difference at byte %d: got %r, want %r"
                         % (what, len(got), len(want), i, got[i:i + 16], want[i:i + 16]))


def b64(data):
    return base64.b64encode(data).decode()


def dbg_write(d, name, off, data, fua=False):
    params = {"name": name, "op": "write", "offset_blocks": off, "data": b64(data)}
    bs = d.rpc("bdev_get_bdevs", {"name": name})[0]["block_size"]
    params["num_blocks"] = len(data) // bs
    if fua:
        params["fua"] = True
    eq(d.rpc("bdev_dbg_io", params), True, "write %s@%d" % (name, off))


def dbg_read(d, name, off, n):
    r = d.rpc("bdev_dbg_io", {"name": name, "op": "read", "offset_blocks": off, "num_blocks": n})
    return base64.b64decode(r["data"])


def dbg(d, name, op, off=0, n=None, **kw):
    p = {"name": name, "op": op, "offset_blocks": off}
    if n is not None:
        p["num_blocks"] = n
    p.update(kw)
    return d.rpc("bdev_dbg_io", p)


def dbg_error(d, name, op, off=0, n=None, **kw):
    p = {"name": name, "op": op, "offset_blocks": off}
    if n is not None:
        p["num_blocks"] = n
    p.update(kw)
    return d.rpc_error("bdev_dbg_io", p)


def file_bytes(path, off, n):
    with open(path, "rb") as f:
        f.seek(off)
        return f.read(n)


def info(d, name):
    r = d.rpc("bdev_get_bdevs", {"name": name})
    eq(len(r), 1, "bdev_get_bdevs -b %s entries" % name)
    return r[0]


def iostat(d, name):
    r = d.rpc("bdev_get_iostat", {"name": name})
    check("tick_rate" in r and "bdevs" in r, "bdev_get_iostat layout: %r" % r)
    eq(len(r["bdevs"]), 1, "iostat entries")
    return r["bdevs"][0]


# --- creation and bdev_get_bdevs ---

def check_fields(d, m, bdev, geo, uuid=None):
    b = info(d, bdev)
    eq(b["name"], bdev, "name")
    eq(b["product_name"], m.product, "%s product_name" % m.name)
    eq((b["block_size"], b["num_blocks"]), geo, "%s geometry" % m.name)
    eq(b["claimed"], False, "claimed")
    eq(b.get("aliases"), [], "aliases")
    if uuid:
        eq(b["uuid"], uuid, "%s uuid given with -u" % m.name)
    else:
        check(len(b["uuid"]) == 36 and b["uuid"].count("-") == 4, "uuid %r" % b["uuid"])
    types = b["supported_io_types"]
    for t in IO_TYPES:
        eq(types.get(t), t in m.types, "%s supported_io_types.%s" % (m.name, t))
    return b


def creation(m):
    with Daemon() as d:
        geo = m.create_cli(d, m.name[0].upper() + "0")
        b0 = check_fields(d, m, m.name[0].upper() + "0", geo)
        geo = m.create_cli(d, m.name[0].upper() + "1", UUIDS[m.name])
        b1 = check_fields(d, m, m.name[0].upper() + "1", geo, UUIDS[m.name])
        check(b0["uuid"] != b1["uuid"], "two bdevs with the same uuid")
        if m.file_backed:
            ds = b1.get("driver_specific", {}).get(m.name, {})
            eq(ds.get("filename"), m.path, "driver_specific.%s.filename" % m.name)
        # the CLI's bdev_get_bdevs -b, as rpc.py prints it
        out = d.cli_json("bdev_get_bdevs", "-b", b1["name"])
        eq(out[0]["uuid"], UUIDS[m.name], "uuid through the CLI")
        eq([x["name"] for x in d.rpc("bdev_get_bdevs")], [b0["name"], b1["name"]], "listing order")
        # delete with the CLI; the bdev is gone
        d.cli("bdev_%s_delete" % m.name, b0["name"])
        e = d.rpc_error("bdev_get_bdevs", {"name": b0["name"]})
        eq(e.code, ENODEV, "bdev_get_bdevs of a deleted bdev")
        check(b0["name"] in e.message, "message %r lacks the name" % e.message)
        eq([x["name"] for x in d.rpc("bdev_get_bdevs")], [b1["name"]], "after delete")
        # the name can be used again
        m.create_cli(d, b0["name"])
        eq(d.stop(), 0, "exit code")


@test
def create_malloc():
    creation(MODS[0])


@test
def create_null():
    creation(MODS[1])


@test
def create_uring():
    creation(MODS[2])


@test
def create_aio():
    creation(MODS[3])


@test
def malloc_default_names_and_sizes():
    with Daemon() as d:
        eq(d.cli("bdev_malloc_create", "1", "4096").stdout.strip().strip('"'), "Malloc0", "first default name")
        eq(d.rpc("bdev_malloc_create", {"num_blocks": 8, "block_size": 512}), "Malloc1", "second")
        d.rpc("bdev_malloc_delete", {"name": "Malloc0"})
        eq(d.rpc("bdev_malloc_create", {"num_blocks": 8, "block_size": 512}), "Malloc0", "reuse")
        eq(info(d, "Malloc1")["num_blocks"], 8, "num_blocks")
        for bs in (512, 1024, 2048, 4096):
            name = "B%d" % bs
            d.cli("bdev_malloc_create", "1", bs, "-b", name)
            eq((info(d, name)["block_size"], info(d, name)["num_blocks"]), (bs, (1 << 20) // bs),
               "1 MiB of %d-byte blocks" % bs)
        eq(d.stop(), 0, "exit code")


# --- data path ---

def data_path(m):
    with Daemon() as d:
        name = m.name[0].upper() + "D"
        fill = None
        if m.file_backed:
            # what the file holds before the bdev exists is what it reads
            fill = bytes(random.Random(7).getrandbits(8) for _ in range(64 * 1024)) + bytes(FILE_SIZE - 64 * 1024)
            m.path = new_file(fill=fill)
            d.cli("bdev_%s_create" % m.name, m.path, name)
        elif m.name == "malloc":
            d.cli("bdev_malloc_create", "8", "512", "-b", name)
        else:
            d.cli("bdev_null_create", name, "8", "4096")
        b = info(d, name)
        bs, nb = b["block_size"], b["num_blocks"]
        if fill is not None:
            same(dbg_read(d, name, 0, 128), fill[:128 * bs], "pre-existing file contents")
        else:
            same(dbg_read(d, name, 0, 4), bytes(4 * bs), "a new bdev reads zeroes")
        rnd = random.Random(m.name)
        spots = [(0, 1), (1, 3), (7, 8), (nb // 2, 16), (nb - 4, 4), (nb - 1, 1),
                 (100, (256 << 10) // bs)]
        written = {}

        def expect(blk):
            if blk in written:
                return written[blk]
            return fill[blk * bs:(blk + 1) * bs] if fill else bytes(bs)
        for off, n in spots:
            data = bytes(rnd.getrandbits(8) for _ in range(n * bs))
            dbg_write(d, name, off, data, fua=(off == 7))
            for i in range(n):
                written[off + i] = data[i * bs:(i + 1) * bs]
        # overlapping rewrite of part of an earlier range
        data = bytes([0xA5]) * (2 * bs)
        dbg_write(d, name, 2, data)
        written[2] = written[3] = bytes([0xA5]) * bs
        for off, n in spots + [(0, 8)]:
            got = dbg_read(d, name, off, n)
            eq(len(got), n * bs, "read length")
            if m.keeps_data:
                want = b"".join(expect(off + i) for i in range(n))
                same(got, want, "%s: data read back at %d+%d" % (m.name, off, n))
            else:
                same(got, bytes(n * bs), "null bdev read at %d+%d" % (off, n))
        # pattern writes
        eq(dbg(d, name, "write", 40, 2, pattern=0x5A), True, "pattern write")
        if m.keeps_data:
            same(dbg_read(d, name, 40, 2), bytes([0x5A]) * 2 * bs, "pattern read back")
        # flush, with and without a range
        eq(dbg(d, name, "flush"), True, "flush")
        eq(dbg(d, name, "flush", 0, nb), True, "flush of the whole bdev")
        if m.file_backed:
            for off, n in spots:
                want = b"".join(written[off + i] for i in range(n))
                same(file_bytes(m.path, off * bs, n * bs), want,
                     "%s: file bytes at %d+%d after write+flush" % (m.name, off, n))
            same(file_bytes(m.path, 40 * bs, 2 * bs), bytes([0x5A]) * 2 * bs, "pattern in the file")
            eq(os.path.getsize(m.path), FILE_SIZE, "file size unchanged")
        # compare
        if "compare" in m.types:
            eq(dbg(d, name, "compare", 1, 1, data=b64(written[1])), {"miscompare": False},
               "compare equal")
            eq(dbg(d, name, "compare", 1, 1, data=b64(bytes(bs))), {"miscompare": True},
               "compare different")
        else:
            e = dbg_error(d, name, "compare", 1, 1, data=b64(bytes(bs)))
            eq(e.code, EOPNOTSUPP, "%s compare (unsupported)" % m.name)
            check("compare" in e.message, "message %r" % e.message)
        # a data length that does not match num_blocks
        e = dbg_error(d, name, "write", 0, 2, data=b64(bytes(bs)))
        eq(e.code, -32602, "short data")
        check("data" in e.message, "message %r does not name 'data'" % e.message)
        e = dbg_error(d, name, "write", 0, 1, data="@@@@" * (bs // 3 + 1))
        eq(e.code, -32602, "data that is not base64")
        eq(d.stop(), 0, "exit code")


@test
def data_malloc():
    data_path(MODS[0])


@test
def data_null():
    data_path(MODS[1])


@test
def data_uring():
    data_path(MODS[2])


@test
def data_aio():
    data_path(MODS[3])


def zeroing(m, aio_fallocate=False):
    with Daemon() as d:
        name = "Z0"
        if m.name == "malloc":
            d.cli("bdev_malloc_create", "1", "512", "-b", name)
        elif m.name == "null":
            d.cli("bdev_null_create", name, "1", "512")
        else:
            m.path = new_file(1 << 20)
            args = ["bdev_%s_create" % m.name, m.path, name]
            if aio_fallocate:
                args.append("--fallocate")
            d.cli(*args)
        b = info(d, name)
        bs = b["block_size"]
        types = {t for t, v in b["supported_io_types"].items() if v}
        want_types = set(m.types) | ({"unmap"} if aio_fallocate else set())
        eq(types & set(IO_TYPES), want_types, "supported types")
        for op in ("unmap", "write_zeroes"):
            if op not in types:
                e = dbg_error(d, name, op, 0, 1)
                eq(e.code, EOPNOTSUPP, "%s %s (unsupported)" % (m.name, op))
                continue
            eq(dbg(d, name, "write", 0, 64, pattern=0xEE), True, "fill")
            eq(dbg(d, name, op, 8, 24), True, op)
            if m.keeps_data:
                got = dbg_read(d, name, 0, 64)
                same(got[:8 * bs], bytes([0xEE]) * 8 * bs, "%s: before the range" % op)
                same(got[8 * bs:32 * bs], bytes(24 * bs), "%s: the range reads zeroes" % op)
                same(got[32 * bs:], bytes([0xEE]) * 32 * bs, "%s: after the range" % op)
            if m.file_backed:
                dbg(d, name, "flush")
                same(file_bytes(m.path, 8 * bs, 24 * bs), bytes(24 * bs), "%s: zeroes in the file" % op)
                same(file_bytes(m.path, 32 * bs, bs), bytes([0xEE]) * bs, "%s: file after the range" % op)
                eq(os.path.getsize(m.path), 1 << 20, "%s: file size" % op)
            # the whole bdev, a range larger than one I/O buffer
            eq(dbg(d, name, op, 0, b["num_blocks"]), True, "%s of the whole bdev" % op)
            if m.keeps_data:
                same(dbg_read(d, name, b["num_blocks"] - 8, 8), bytes(8 * bs), "%s of all" % op)
        eq(d.stop(), 0, "exit code")


@test
def zeroes_malloc():
    zeroing(MODS[0])


@test
def zeroes_null():
    zeroing(MODS[1])


@test
def zeroes_uring():
    zeroing(MODS[2])


@test
def zeroes_aio():
    zeroing(MODS[3])


@test
def zeroes_aio_fallocate():
    zeroing(MODS[3], aio_fallocate=True)


# --- errors and statistics ---

@test
def out_of_range_io():
    with Daemon() as d:
        for m in MODS:
            name = "R" + m.name
            m.create_rpc(d, name)    # 64 blocks of 512
            for op, off, n in (("read", 64, 1), ("read", 63, 2), ("write", 64, 1),
                               ("write", 60, 8), ("write_zeroes", 60, 8),
                               ("read", 1 << 40, 1), ("write", (1 << 63) - 1, 1),
                               ("flush", 64, 1)):
                e = dbg_error(d, name, op, off, n, **({"pattern": 1} if op == "write" else {}))
                check(e.code < 0 and e.code > -4096, "%s %s@%d+%d: code %d is not -errno"
                      % (m.name, op, off, n, e.code))
                eq(e.code, ERANGE, "%s %s@%d+%d code" % (m.name, op, off, n))
                check("failed" in e.message and name in e.message,
                      "%s: message %r" % (m.name, e.message))
            # the last block itself is fine
            eq(dbg(d, name, "write", 63, 1, pattern=3), True, "%s: last block" % m.name)
            # num_blocks 0 and too large for one debug I/O are parameter errors
            eq(dbg_error(d, name, "read", 0, 0).code, -32602, "read of 0 blocks")
            eq(dbg_error(d, name, "read", 0, 1 << 20).code, -32602, "read of 512 MiB")
            eq(dbg_error(d, "nope", "read", 0, 1).code, ENODEV, "I/O to a missing bdev")
            eq(dbg_error(d, name, "erase", 0, 1).code, -32602, "unknown op")
            if m.file_backed:
                eq(os.path.getsize(d.rpc("bdev_get_bdevs", {"name": name})[0]
                                   ["driver_specific"][m.name]["filename"]), 64 * 512,
                   "%s: file grew from an out-of-range write" % m.name)
        eq(d.stop(), 0, "exit code")


@test
def iostat_counts():
    with Daemon() as d:
        for m in MODS:
            name = "S" + m.name
            m.create_rpc(d, name)
            s = iostat(d, name)
            for k in ("num_read_ops", "num_write_ops", "bytes_read", "bytes_written",
                      "num_unmap_ops", "num_flush_ops", "num_write_zeroes_ops"):
                eq(s.get(k), 0, "%s: fresh %s" % (m.name, k))
            for i in range(3):
                dbg(d, name, "write", i * 4, 2, pattern=i)
            for i in range(5):
                dbg(d, name, "read", i, 1)
            dbg(d, name, "read", 0, 8)
            dbg(d, name, "flush")
            dbg(d, name, "write_zeroes", 0, 4)
            if "unmap" in m.types:
                dbg(d, name, "unmap", 0, 2)
            dbg_error(d, name, "read", 64, 1)
            s = iostat(d, name)
            eq(s["name"], name, "name")
            eq(s["num_write_ops"], 3, "%s num_write_ops" % m.name)
            eq(s["bytes_written"], 3 * 2 * 512, "%s bytes_written" % m.name)
            eq(s["num_read_ops"], 6, "%s num_read_ops" % m.name)
            eq(s["bytes_read"], 13 * 512, "%s bytes_read" % m.name)
            eq(s["num_flush_ops"], 1, "%s num_flush_ops" % m.name)
            eq(s["num_write_zeroes_ops"], 1, "%s num_write_zeroes_ops" % m.name)
            eq(s["num_unmap_ops"], 1 if "unmap" in m.types else 0, "%s num_unmap_ops" % m.name)
            if "num_io_errors" in s:
                eq(s["num_io_errors"], 1, "%s num_io_errors" % m.name)
        allstat = d.rpc("bdev_get_iostat")
        eq(sorted(x["name"] for x in allstat["bdevs"]), sorted("S" + m.name for m in MODS),
           "bdev_get_iostat of all")
        eq(d.rpc_error("bdev_get_iostat", {"name": "nope"}).code, ENODEV, "iostat of a missing bdev")
        eq(d.stop(), 0, "exit code")


@test
def duplicate_names():
    with Daemon() as d:
        for m in MODS:
            name = "Dup" + m.name
            m.create_rpc(d, name)
            before = info(d, name)
            for other in MODS:
                params = {"name": name}
                if other.name in ("malloc", "null"):
                    params.update(num_blocks=8, block_size=512)
                else:
                    params["filename"] = new_file(1 << 20)
                e = d.rpc_error("bdev_%s_create" % other.name, params)
                eq(e.code, EEXIST, "%s over a %s bdev" % (other.name, m.name))
                check(name in e.message and "exist" in e.message, "message %r" % e.message)
            eq(info(d, name), before, "%s bdev changed by failed creates" % m.name)
        # via the CLI: exit status 1 and the message on stderr
        p = d.cli("bdev_malloc_create", "8", "512", "-b", "Dupmalloc", check=False)
        check(p.returncode != 0 and "Dupmalloc" in p.stderr, "CLI duplicate: %r" % (p,))
        eq(len(d.rpc("bdev_get_bdevs")), len(MODS), "bdev count")
        eq(d.stop(), 0, "exit code")


@test
def invalid_block_sizes():
    with Daemon() as d:
        cases = []
        for bs in (0, 500, 513, 8192, 3000, 1 << 20):
            cases.append(("bdev_malloc_create", {"name": "X", "num_blocks": 8, "block_size": bs}))
        for bs in (0, 100, 500, 1000, 1 << 20):
            cases.append(("bdev_null_create", {"name": "X", "num_blocks": 8, "block_size": bs}))
        for mod in ("uring", "aio"):
            for bs in (100, 1000, 3000, 1 << 20):
                cases.append(("bdev_%s_create" % mod, {"name": "X", "filename": new_file(1 << 20),
                                                        "block_size": bs}))
        bad = []
        for method, params in cases:
            e = d.rpc_error(method, params)
            if e.code != -32602 or "block_size" not in e.message:
                bad.append("%s block_size %d: %d %s" % (method, params["block_size"], e.code, e.message))
        eq(d.rpc("bdev_get_bdevs"), [], "nothing created by failed calls")
        # valid non-default block sizes of the file modules
        for mod in ("uring", "aio"):
            path = new_file(1 << 20)
            d.rpc("bdev_%s_create" % mod, {"name": "F" + mod, "filename": path, "block_size": 4096})
            eq((info(d, "F" + mod)["block_size"], info(d, "F" + mod)["num_blocks"]), (4096, 256),
               "%s with block_size 4096" % mod)
            data = bytes(range(256)) * 32
            dbg_write(d, "F" + mod, 3, data)
            dbg(d, "F" + mod, "flush")
            same(file_bytes(path, 3 * 4096, 8192), data, "%s 4096-byte blocks in the file" % mod)
        eq(bad, [], "invalid block sizes not refused with -32602 naming block_size")
        eq(d.stop(), 0, "exit code")


@test
def delete_errors():
    with Daemon() as d:
        for m in MODS:
            e = d.rpc_error("bdev_%s_delete" % m.name, {"name": "Ghost"})
            check(e.code < 0 and e.code > -4096, "%s delete of a missing bdev: code %d" % (m.name, e.code))
            check("Ghost" in e.message, "%s: message %r lacks the name" % (m.name, e.message))
        for m in MODS:
            m.create_rpc(d, "Own" + m.name)
        for m in MODS:
            for other in MODS:
                if other is m:
                    continue
                e = d.rpc_error("bdev_%s_delete" % other.name, {"name": "Own" + m.name})
                check(e.code < 0 and e.code > -4096, "bdev_%s_delete of a %s bdev: code %d"
                      % (other.name, m.name, e.code))
                check("Own" + m.name in e.message, "message %r lacks the name" % e.message)
        eq(len(d.rpc("bdev_get_bdevs")), len(MODS), "all bdevs survived wrong deletes")
        for m in MODS:
            eq(d.rpc("bdev_%s_delete" % m.name, {"name": "Own" + m.name}), True, "own delete")
        eq(d.rpc("bdev_get_bdevs"), [], "all deleted")
        # the CLI: exit status 1, message on stderr
        p = d.cli("bdev_malloc_delete", "Ghost", check=False)
        check(p.returncode != 0 and "Ghost" in p.stderr, "CLI delete of a missing bdev: %r" % (p,))
        eq(d.stop(), 0, "exit code")


@test
def delete_while_io_in_flight():
    with Daemon() as d:
        for m in MODS:
            name = "Busy" + m.name
            m.create_rpc(d, name)
            c = RpcConn(d.sock)
            # writes and the delete in one write: the delete is handled
            # before any of the writes can have been answered
            n = 150
            text = "".join(json.dumps({"jsonrpc": "2.0", "id": i + 1, "method": "bdev_dbg_io",
                                       "params": {"name": name, "op": "write", "num_blocks": 64,
                                                  "pattern": i % 256, "fua": True}})
                           for i in range(n))
            text += json.dumps({"jsonrpc": "2.0", "id": "del", "method": "bdev_%s_delete" % m.name,
                                "params": {"name": name}})
            check(len(text) < 60000, "test setup: requests do not fit one read")
            c.send_raw(text)
            answers = {}
            for _ in range(n + 1):
                r = c.recv_obj()
                answers[r["id"]] = r
            e = answers["del"].get("error")
            check(e is not None, "%s: deleted with I/O in flight: %r" % (m.name, answers["del"]))
            eq(e["code"], -16, "%s: delete of a busy bdev" % m.name)
            check(name in e["message"], "message %r lacks the name" % e["message"])
            bad = [r for k, r in answers.items() if k != "del" and r.get("result") is not True]
            eq(bad, [], "%s: writes around the refused delete" % m.name)
            # idle again: the delete works
            eq(c.call("bdev_%s_delete" % m.name, {"name": name}), True, "%s: delete after" % m.name)
            c.close()
        eq(d.rpc("bdev_get_bdevs"), [], "all deleted")
        eq(d.stop(), 0, "exit code")


@test
def client_gone_with_io_pending():
    # A client that sends I/O and disconnects at once: the I/O still runs
    # (into a closed session), the daemon keeps serving and exits cleanly.
    with Daemon() as d:
        path = new_file(4 << 20)
        d.rpc("bdev_uring_create", {"filename": path, "name": "G0"})
        d.rpc("bdev_malloc_create", {"num_blocks": 8192, "block_size": 512, "name": "G1"})
        for rnd in range(5):
            c = RpcConn(d.sock)
            c.send_raw("".join(json.dumps({"jsonrpc": "2.0", "id": i, "method": "bdev_dbg_io",
                                           "params": {"name": "G%d" % (i % 2), "op": "write",
                                                      "offset_blocks": (i * 16) % 8000,
                                                      "num_blocks": 16, "pattern": rnd + 1}})
                               for i in range(400)))
            c.close()
        # later requests are still answered, and the I/O all happened
        # the writes may take long on a loaded machine: wait for them
        deadline = time.time() + 120
        while True:
            st = d.rpc("bdev_get_iostat")
            if sum(b["num_write_ops"] for b in st["bdevs"]) == 2000 or time.time() > deadline:
                break
            time.sleep(0.02)
        eq(sum(b["num_write_ops"] for b in st["bdevs"]), 2000, "writes of the vanished clients")
        eq(d.rpc("bdev_uring_delete", {"name": "G0"}), True, "delete after")
        eq(d.stop(), 0, "exit code")


@test
def uring_workers_off_reactor_cores():
    """io_uring's kernel workers (buffered writes to a tmpfs file go to
    them) run on the cores the reactors leave free, never on a polling
    core: osnapd runs one reactor on core 0 here."""
    if os.cpu_count() < 2:
        raise osnaptest.Skip("needs 2 CPUs (one reactor core, one for the workers)")
    path = "/dev/shm/osnap-iowq-%d.img" % os.getpid()
    with open(path, "wb") as f:
        f.truncate(64 << 20)
    try:
        with Daemon(cpumask="0x1") as d:
            d.rpc("bdev_uring_create", {"filename": path, "name": "U0", "block_size": 512})
            eng = d.rpc("bdev_get_bdevs", {"name": "U0"})[0]["driver_specific"]["uring"]["engine"]
            if eng != "io_uring":
                raise osnaptest.Skip("io_uring is not available on this host (engine %r)" % eng)
            workers = {}
            for i in range(300):
                d.rpc("bdev_dbg_io", {"name": "U0", "op": "write", "offset_blocks": i * 64,
                                      "num_blocks": 64, "pattern": 1})
                for t in os.listdir("/proc/%d/task" % d.proc.pid):
                    try:
                        with open("/proc/%d/task/%s/comm" % (d.proc.pid, t)) as f:
                            if not f.read().startswith("iou-wrk"):
                                continue
                        with open("/proc/%d/task/%s/status" % (d.proc.pid, t)) as f:
                            workers[t] = [l.split(":", 1)[1].strip() for l in f
                                          if l.startswith("Cpus_allowed_list")][0]
                    except OSError:
                        pass    # a worker that exited meanwhile
            if not workers:
                raise osnaptest.Skip("the kernel did this I/O without io_uring workers")
            for t, cpus in workers.items():
                allowed = set()
                for part in cpus.split(","):
                    a, _, b = part.partition("-")
                    allowed.update(range(int(a), int(b or a) + 1))
                check(0 not in allowed, "io_uring worker %s may run on the reactor's core 0: %s" % (t, cpus))
            eq(d.stop(), 0, "exit code")
    finally:
        os.unlink(path)


@test
def missing_and_wrong_params():
    with Daemon() as d:
        f = new_file(1 << 20)
        cases = [
            ("bdev_malloc_create", {"block_size": 512}, "num_blocks"),
            ("bdev_malloc_create", {"num_blocks": 8}, "block_size"),
            ("bdev_null_create", {"num_blocks": 8, "block_size": 512}, "name"),
            ("bdev_null_create", {"name": "N", "block_size": 512}, "num_blocks"),
            ("bdev_null_create", {"name": "N", "num_blocks": 8}, "block_size"),
            ("bdev_uring_create", {"name": "U"}, "filename"),
            ("bdev_uring_create", {"filename": f}, "name"),
            ("bdev_aio_create", {"name": "A"}, "filename"),
            ("bdev_aio_create", {"filename": f}, "name"),
            ("bdev_malloc_delete", {}, "name"),
            ("bdev_null_delete", {}, "name"),
            ("bdev_uring_delete", {}, "name"),
            ("bdev_aio_delete", {}, "name"),
            ("bdev_dbg_io", {"op": "read"}, "name"),
            ("bdev_dbg_io", {"name": "X"}, "op"),
            # wrong types
            ("bdev_malloc_create", {"num_blocks": "8", "block_size": 512}, "num_blocks"),
            ("bdev_malloc_create", {"num_blocks": 0, "block_size": 512}, "num_blocks"),
            ("bdev_malloc_create", {"num_blocks": 1 << 62, "block_size": 512}, "num_blocks"),
            ("bdev_null_create", {"name": "N", "num_blocks": 0, "block_size": 512}, "num_blocks"),
            ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "name": ""}, "name"),
            ("bdev_null_create", {"name": "", "num_blocks": 8, "block_size": 512}, "name"),
            ("bdev_uring_create", {"name": "", "filename": f}, "name"),
            ("bdev_aio_create", {"name": "", "filename": f}, "name"),
            ("bdev_malloc_create", {"num_blocks": -8, "block_size": 512}, "num_blocks"),
            ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "uuid": "not-a-uuid"}, "uuid"),
            ("bdev_null_create", {"name": 5, "num_blocks": 8, "block_size": 512}, "name"),
            ("bdev_uring_create", {"name": "U", "filename": f, "block_size": "4k"}, "block_size"),
            ("bdev_aio_create", {"name": "A", "filename": f, "readonly": "yes"}, "readonly"),
            ("bdev_malloc_create", {"num_blocks": 8, "block_size": 512, "nmae": "typo"}, "nmae"),
            ("bdev_get_bdevs", {"name": 3}, "name"),
        ]
        bad = []
        for method, params, key in cases:
            e = d.rpc_error(method, params)
            if e.code != -32602 or key not in e.message:
                bad.append("%s %r: %d %s (want -32602 naming %s)" % (method, params, e.code, e.message, key))
        eq(bad, [], "missing/wrong parameters")
        eq(d.rpc("bdev_get_bdevs"), [], "nothing created")
        # files that cannot be used
        for mod in ("uring", "aio"):
            missing = os.path.join(osnaptest.tmpdir(), "missing.img")
            e = d.rpc_error("bdev_%s_create" % mod, {"name": "F", "filename": missing})
            check(e.code < 0 and e.code > -4096 and missing in e.message,
                  "%s on a missing file: %d %s" % (mod, e.code, e.message))
            empty = new_file(0)
            e = d.rpc_error("bdev_%s_create" % mod, {"name": "F", "filename": empty})
            check(e.code < 0 and "small" in e.message, "%s on an empty file: %d %s" % (mod, e.code, e.message))
            e = d.rpc_error("bdev_%s_create" % mod, {"name": "F", "filename": osnaptest.tmpdir()})
            check(e.code < 0, "%s on a directory: %d %s" % (mod, e.code, e.message))
        eq(d.rpc("bdev_get_bdevs"), [], "nothing created")
        eq(d.stop(), 0, "exit code")


@test
def aio_readonly():
    with Daemon() as d:
        content = bytes(range(256)) * 16
        path = new_file(fill=content + bytes((1 << 20) - len(content)))
        d.cli("bdev_aio_create", path, "RO", "-r")
        b = info(d, "RO")
        eq(b["supported_io_types"]["read"], True, "read")
        eq(b["supported_io_types"]["write"], False, "write on a read-only bdev")
        same(dbg_read(d, "RO", 0, 8), content, "read")
        e = dbg_error(d, "RO", "write", 0, 1, pattern=1)
        check(e.code < 0, "write to a read-only bdev: %r" % e)
        same(file_bytes(path, 0, len(content)), content, "file unchanged")
        eq(d.stop(), 0, "exit code")


@test
def uring_falls_back_to_libaio():
    # without the policy the engine must be io_uring, or the fallback
    # cannot be told apart on this host
    with Daemon() as d:
        d.rpc("bdev_uring_create", {"filename": new_file(1 << 20), "name": "U0"})
        eng = info(d, "U0").get("driver_specific", {}).get("uring", {}).get("engine")
        eq(d.stop(), 0, "exit code")
    if eng != "io_uring":
        raise osnaptest.Skip("io_uring is not available on this host (engine %r)" % eng)
    with osnaptest.daemon_without_io_uring() as d:
        path = new_file(1 << 20)
        d.cli("bdev_uring_create", path, "U0")
        b = info(d, "U0")
        eq(b["product_name"], "URING bdev", "product_name")
        eq(b["num_blocks"], 2048, "num_blocks")
        eng = b.get("driver_specific", {}).get("uring", {}).get("engine")
        eq(eng, "libaio", "driver_specific.uring.engine")
        rnd = random.Random(3)
        for off, n in ((0, 1), (5, 7), (2040, 8), (100, 512)):
            data = bytes(rnd.getrandbits(8) for _ in range(n * 512))
            dbg_write(d, "U0", off, data)
            same(dbg_read(d, "U0", off, n), data, "read back at %d+%d" % (off, n))
            dbg(d, "U0", "flush")
            same(file_bytes(path, off * 512, n * 512), data, "file bytes at %d+%d" % (off, n))
        eq(dbg(d, "U0", "write_zeroes", 0, 4), True, "write_zeroes")
        same(dbg_read(d, "U0", 0, 4), bytes(2048), "zeroes")
        eq(dbg(d, "U0", "unmap", 5, 2), True, "unmap")
        same(dbg_read(d, "U0", 5, 2), bytes(1024), "unmapped zeroes")
        log = d.logtext()
        check(any("U0" in ln and "io_uring" in ln and "libaio" in ln for ln in log.splitlines()),
              "no log line says U0 fell back from io_uring to libaio:\n" + log)
        # aio bdevs are unaffected
        d.cli("bdev_aio_create", new_file(1 << 20), "A0")
        dbg(d, "A0", "write", 0, 1, pattern=9)
        same(dbg_read(d, "A0", 0, 1), bytes([9]) * 512, "aio under the same policy")
        eq(d.stop(), 0, "exit code")


if __name__ == "__main__":
    main()
