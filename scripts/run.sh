#!/usr/bin/env bash
# make run: start osnapd on a configuration (default: config/default.conf)
# and say how to use it, with QEMU command lines that work as printed.
# Stops with Ctrl-C (SIGINT), which osnapd handles cleanly.
#
# Environment (make run passes its variables of the same names):
#   SOCK     the RPC socket          (default DIR/osnap.sock)
#   CONFIG   osnap-rpc lines to replay at start (default config/default.conf)
#   EMU_DIR  the functions' sockets  (default DIR)
# DIR is /var/run/osnap for root (and for whoever may write there), else
# $XDG_RUNTIME_DIR/osnap; with neither, the script says what to give.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
bin=${OSNAP_RUN_BUILD:-$top/build}
rpc=$bin/tools/osnap-rpc/osnap-rpc
config=${CONFIG:-$top/config/default.conf}
sock=${SOCK:-}
emu_dir=${EMU_DIR:-}
system_dir=/var/run/osnap
rpc_log_args=()

if [ ! -r "$config" ]; then
  echo "make run: CONFIG=$config: no such readable file" >&2
  exit 1
fi
if [ ! -x "$bin/src/app/osnapd" ]; then
  echo "make run: $bin/src/app/osnapd is not built (make build)" >&2
  exit 1
fi

# may this user make or use a directory for sockets there?
usable() {
  local d=$1
  if [ -d "$d" ]; then [ -w "$d" ] && [ -x "$d" ]; else [ -w "$(dirname "$d")" ]; fi
}

if [ -z "$sock" ] || [ -z "$emu_dir" ]; then
  if [ "$(id -u)" -eq 0 ] || usable "$system_dir"; then
    base=$system_dir
  elif [ -n "${XDG_RUNTIME_DIR:-}" ] && usable "$XDG_RUNTIME_DIR/osnap"; then
    base=$XDG_RUNTIME_DIR/osnap
    echo "make run: not root, so the sockets go to $base (root's are in $system_dir)"
  else
    cat >&2 <<TXT
make run: $system_dir is not writable by $(id -un) and XDG_RUNTIME_DIR is not set.
Either run it as root, or say where the sockets go, e.g.:
  make run SOCK=\$HOME/osnap/osnap.sock EMU_DIR=\$HOME/osnap
TXT
    exit 1
  fi
  sock=${sock:-$base/osnap.sock}
  emu_dir=${emu_dir:-$base}
fi
sock_dir=$(dirname "$sock")
# osnapd makes EMU_DIR itself (0700 when missing) and refuses one others may
# write; the socket's directory is the operator's, made here when missing
[ -d "$sock_dir" ] || mkdir -p -m 0700 "$sock_dir"
if [ "$(id -u)" -ne 0 ] && ! usable /var/log/snap-log; then
  # SNAP's RPC history lives in /var/log/snap-log, root's: keep it beside the socket
  rpc_log_args=(--rpc-log "$sock_dir/rpc-log.$(basename "$sock" .sock)")
fi
emu_conf=${sock%.sock}.emu.conf
printf '# written by make run (scripts/run.sh)\nEMU_DIR=%s\n' "$emu_dir" > "$emu_conf"

# The guest of the example lines: Debian's kernel and a busybox initramfs
# whose /init loads the nvme and virtio drivers and gives a shell
# (tests/guest/build_guest.sh, the guest of the guest tests; cached).
guest_env=
if guest_env=$("$top/tests/guest/build_guest.sh" "${OSNAP_GUEST_CACHE:-/var/tmp/osnap-guest-cache}" 2>/dev/null); then
  # shellcheck disable=SC1090
  . "$guest_env"
fi

cat <<TXT
osnap: starting osnapd on $config
  RPC socket:  $sock
  Endpoints:   $emu_dir (one socket per function: emulation_function_list shows them)
  Talk to it:  $rpc -s $sock bdev_get_bdevs
               $rpc -s $sock rpc_get_methods
               $rpc -s $sock emulation_function_list
               $rpc -s $sock save_config
  (also as snap_rpc.py / spdk_rpc.py: $bin/tools/osnap-rpc/snap_rpc.py -h)
  Add a disk:  $rpc -s $sock bdev_uring_create /path/to/file Disk1
  Stop:        Ctrl-C

TXT
if [ -n "$guest_env" ]; then
  guest="-accel tcg -m 512 -smp 2 -nographic -no-reboot -kernel $VMLINUZ -initrd $INITRD -append 'console=ttyS0 quiet osnap.test=shell' -object memory-backend-memfd,id=mem,size=512M,share=on -numa node,memdev=mem"
  cat <<TXT
Connect a VM from another terminal (a Linux guest with a shell; 'exit' powers it off;
guest memory must be shared: memory-backend-memfd,share=on):
  virtio-blk over vhost-user (Debian 12's QEMU 7.2, vhost-user-blk-pci):
    qemu-system-x86_64 $guest -chardev socket,id=vblk0,path=\$(ls $emu_dir/*VBLKS1D0F0.sock) -device vhost-user-blk-pci,chardev=vblk0,num-queues=2
  NVMe over vfio-user (QEMU 10.1 or later: Debian 12 has none, scripts/qemu-vfio-user.sh runs
  Debian 13's QEMU 11.1 from trixie-backports in a chroot it builds on first use, about a minute):
    $top/scripts/qemu-vfio-user.sh $guest -device '{"driver":"vfio-user-pci","socket":{"type":"unix","path":"'\$(ls $emu_dir/*NVMES1D0F0.sock)'"}}'
  In the guest: ls /dev/nvme0n1 /dev/vda; dd if=/dev/urandom of=/dev/nvme0n1 bs=1M count=8 oflag=direct
TXT
else
  cat <<TXT
Connect a VM: 'make guest-deps' installs QEMU and a guest kernel, then 'make run' prints
QEMU lines that boot a Linux guest on these disks. The sockets are in $emu_dir.
TXT
fi
echo
exec "$bin/src/app/osnapd" -c "$emu_conf" -r "$sock" --init-rpc "$config" -m 0x1 "${rpc_log_args[@]}"
