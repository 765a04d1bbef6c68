#!/usr/bin/env bash
# make run: start osnapd on the embedded default configuration and say how
# to use it. Stops with Ctrl-C (SIGINT), which osnapd handles cleanly.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sock=${1:-/var/tmp/osnap.sock}
bin=$top/build
rpc=$bin/tools/osnap-rpc/osnap-rpc

cat <<TXT
osnap: starting osnapd on the default configuration (config/default.conf)
  RPC socket:  $sock
  Talk to it:  $rpc bdev_get_bdevs
               $rpc rpc_get_methods
               $rpc save_config
  (also as snap_rpc.py / spdk_rpc.py: $bin/tools/osnap-rpc/snap_rpc.py -h)
  Add a disk:  $rpc bdev_uring_create /path/to/file Disk1
  Stop:        Ctrl-C
TXT
if [ -f "$top/config/connect.txt" ]; then
  sed "s|@SOCK@|$sock|g; s|@BUILD@|$bin|g" "$top/config/connect.txt"
fi
echo
exec "$bin/src/app/osnapd" -r "$sock" --init-rpc "$top/config/default.conf" -m 0x1
