"""A fake VMM monitor for the hot-plug tests: a QMP server on a Unix socket,
in a thread, that records every command and answers as QEMU does, with
knobs for the failure cases.

    q = FakeQmp(path)                      # listening at once
    q.errors["device_add"] = ("GenericError", "Bus 'pci.0' does not support hotplugging")
    q.deleted_after = 0.2                  # DEVICE_DELETED 0.2 s after device_del; None: never
    q.reply_delay["device_add"] = 2.0      # answer late
    q.commands                             # [(execute, arguments), ...]

Like QEMU, on chardev-add (a socket client) and on device_add of a
vfio-user-pci device it connects to the given socket path; whether that
worked is recorded in q.connected[path] (True/False). A device_add of an id
already added, and device_del / chardev-remove of an unknown id, answer
QEMU's errors (DeviceNotFound for device_del)."""
import json
import os
import socket
import threading
import time


class FakeQmp:
    def __init__(self, path, greet=True):
        self.path = path
        self.greet = greet
        self.errors = {}
        self.reply_delay = {}
        self.deleted_after = 0.0
        self.commands = []
        self.connected = {}
        self.devices = {}           # id -> driver
        self.chardevs = {}          # id -> client socket
        self.clients = 0
        self.lock = threading.Lock()
        self.send_lock = threading.Lock()   # the answers and the event thread share a connection
        if os.path.exists(path):
            os.unlink(path)
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(path)
        self.srv.listen(4)
        self.stopping = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def names(self):
        with self.lock:
            return [c[0] for c in self.commands]

    def args(self, execute):
        """The arguments of the last command execute."""
        with self.lock:
            for c in reversed(self.commands):
                if c[0] == execute:
                    return c[1]
        return None

    def close(self):
        self.stopping = True
        try:
            self.srv.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.srv.close()
        for s in list(self.chardevs.values()) + list(self.devices.values()):
            if isinstance(s, socket.socket):
                s.close()
        self.thread.join(10)

    def _serve(self):
        while not self.stopping:
            try:
                c, _ = self.srv.accept()
            except OSError:
                return
            self.clients += 1
            threading.Thread(target=self._session, args=(c,), daemon=True).start()

    def _send(self, c, obj):
        with self.send_lock:
            try:
                c.sendall((json.dumps(obj) + "\r\n").encode())
            except OSError:
                pass

    def _connect(self, path):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(path)
            self.connected[path] = True
            return s
        except OSError:
            s.close()
            self.connected[path] = False
            return None

    def _deleted_later(self, c, dev):
        if self.deleted_after is None:
            return
        time.sleep(self.deleted_after)
        sock = self.devices.pop(dev, None)
        if isinstance(sock, socket.socket):
            sock.close()
        # like QEMU: the virtio backend's event first, then the device's
        self._send(c, {"event": "DEVICE_DELETED", "data": {"path": "/machine/peripheral/%s/virtio-backend" % dev},
                       "timestamp": {"seconds": 1, "microseconds": 0}})
        self._send(c, {"event": "DEVICE_DELETED", "data": {"device": dev, "path": "/machine/peripheral/" + dev},
                       "timestamp": {"seconds": 1, "microseconds": 1}})

    def _answer(self, c, req):
        ex, args, rid = req.get("execute"), req.get("arguments") or {}, req.get("id")
        with self.lock:
            self.commands.append((ex, args))
        time.sleep(self.reply_delay.get(ex, 0))
        if ex in self.errors:
            cls, desc = self.errors[ex]
            return {"error": {"class": cls, "desc": desc}, "id": rid}
        if ex == "chardev-add":
            addr = args["backend"]["data"]["addr"]["data"]["path"]
            s = self._connect(addr)
            if s is None:
                return {"error": {"class": "GenericError", "desc": "Failed to connect to '%s'" % addr}, "id": rid}
            self.chardevs[args["id"]] = s
        elif ex == "chardev-remove":
            s = self.chardevs.pop(args["id"], None)
            if s is None:
                return {"error": {"class": "GenericError", "desc": "Chardev '%s' not found" % args["id"]}, "id": rid}
            s.close()
        elif ex == "device_add":
            if args["id"] in self.devices:
                return {"error": {"class": "GenericError", "desc": "Duplicate device ID '%s'" % args["id"]}, "id": rid}
            sock = True
            if args["driver"] == "vfio-user-pci":
                sock = self._connect(args["socket"]["path"])
                if sock is None:
                    return {"error": {"class": "GenericError", "desc": "vfio-user: cannot connect"}, "id": rid}
            self.devices[args["id"]] = sock
        elif ex == "device_del":
            if args["id"] not in self.devices:
                return {"error": {"class": "DeviceNotFound", "desc": "Device '%s' not found" % args["id"]}, "id": rid}
            threading.Thread(target=self._deleted_later, args=(c, args["id"]), daemon=True).start()
        return {"return": {}, "id": rid}

    def _session(self, c):
        buf = b""
        if self.greet:
            self._send(c, {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": "fake"},
                                   "capabilities": ["oob"]}})
        with c:
            while True:
                try:
                    chunk = c.recv(65536)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        self._send(c, self._answer(c, json.loads(line)))
