#!/usr/bin/env bash
# SPDK's user-space NVMe driver as a third-party vfio-user client of osnap:
# spdk_nvme_identify, SPDK's NVMe conformance suite (test/nvme/compliance,
# 18 tests) and a short spdk_nvme_perf randrw run against an osnapd NVMe
# function. Not part of `make test` (SPDK is never a dependency): build SPDK
# first with ../shared/peers/build-spdk.sh (PEERS, default /tmp/peers).
#
# SPDK's driver needs a mappable doorbell page (it writes doorbells
# straight to BAR0's sparse mmap), so osnapd runs with EMU_NVME_DOORBELLS=mmap;
# with the default (trap) the driver stops at "Error to get device BAR0".
#
# usage: bench/spdk_clients.sh [BUILD_DIR]     (prints results; exit 1 on a failure)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
PEERS=${PEERS:-/tmp/peers}
S=$PEERS/spdk
[ -x "$S/build/bin/spdk_nvme_identify" ] || { echo "no SPDK in $S: run shared/peers/build-spdk.sh" >&2; exit 2; }
# shellcheck disable=SC1091
. "$PEERS/env.sh"

work=$(mktemp -d /tmp/osnap-spdk.XXXXXX)
trap 'kill $osnapd 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
nqn=nqn.2026-12.io.osnap:spdk
mkdir -p "$work/emu" "$work/trid"
printf 'EMU_DIR=%s/emu\nEMU_NVME_DOORBELLS=mmap\n' "$work" > "$work/emu.conf"
cat > "$work/init.rpc" <<RPC
bdev_malloc_create 64 512 -b M0
nvme_subsystem_create --nqn $nqn -nn 32
nvme_namespace_create --nqn $nqn -n 1 -b M0
nvme_controller_create --nqn $nqn --pf_id 0 --num_queues 4
nvme_controller_attach_ns -c NVMeCtrl1 -n 1
RPC
taskset -c 0 "$build/src/app/osnapd" -c "$work/emu.conf" -r "$work/rpc.sock" --init-rpc "$work/init.rpc" \
  -m 0x1 > "$work/osnapd.log" 2>&1 &
osnapd=$!
for _ in $(seq 100); do ls "$work"/emu/*NVMES1D0F0.sock >/dev/null 2>&1 && break; sleep 0.1; done
# SPDK finds a vfio-user endpoint as DIR/cntrl
ln -s "$(ls "$work"/emu/*NVMES1D0F0.sock)" "$work/trid/cntrl"
tr="trtype:VFIOUSER traddr:$work/trid subnqn:$nqn"
rc=0
echo "== spdk_nvme_identify"
timeout 60 "$S/build/bin/spdk_nvme_identify" -r "$tr" --no-huge -s 512 2>&1 \
  | grep -E '^(Model Number|Serial Number|Max Number of I/O Queues|Namespace ID:|Size \(in LBAs\))' || rc=1
echo "== nvme_compliance"
timeout 300 "$S/test/nvme/compliance/nvme_compliance" -g -r "$tr" > "$work/compliance.log" 2>&1 || rc=1
grep -E 'FAILED|^ +[0-9]+\. |^ +(tests|asserts)' "$work/compliance.log" || rc=1
echo "== spdk_nvme_perf 4 KiB randrw QD32, 3 s (client on core 1)"
timeout 60 taskset -c 1 "$S/build/bin/spdk_nvme_perf" -r "$tr" -q 32 -o 4096 -w randrw -M 50 -t 3 \
  -c 0x2 --no-huge -s 1024 2>&1 | grep -E '^Total' || rc=1
if grep -E ' (ERROR|CRIT) ' "$work/osnapd.log"; then rc=1; fi
[ $rc = 0 ] && echo "spdk clients: ok" || { echo "spdk clients: FAILED"; tail -20 "$work/osnapd.log"; }
exit $rc
