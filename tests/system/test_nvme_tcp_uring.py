#!/usr/bin/env python3
"""test_nvme_tcp.py's cases again with the initiator's I/O queue pairs on
io_uring sockets (sock_set_default_impl uring in every daemon first; each
attach checks bdev_nvme_get_controllers lists its I/O queues as "uring").
The same data, digest, malformed-PDU, reconnect and loss cases must pass
on both socket implementations. Cases by name as with any test file."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
os.environ["OSNAP_SOCK_IMPL"] = "uring"
import test_nvme_tcp  # noqa: E402,F401  (registers its cases)
from osnaptest import main  # noqa: E402

if __name__ == "__main__":
    main()
