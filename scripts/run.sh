#!/usr/bin/env bash
# make run: start osnapd on the embedded default configuration and say how
# to use it, with QEMU command lines that work as printed. Stops with Ctrl-C
# (SIGINT), which osnapd handles cleanly.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sock=${1:-/var/run/osnap/osnap.sock}
bin=$top/build
rpc=$bin/tools/osnap-rpc/osnap-rpc
emu_dir=/var/run/osnap		# osnapd's default EMU_DIR (no -c FILE here)

# The guest of the example lines: Debian's kernel and a busybox initramfs
# whose /init loads the nvme and virtio drivers and gives a shell
# (tests/guest/build_guest.sh, the guest of the guest tests; cached).
guest_env=
if guest_env=$("$top/tests/guest/build_guest.sh" "${OSNAP_GUEST_CACHE:-/var/tmp/osnap-guest-cache}" 2>/dev/null); then
  # shellcheck disable=SC1090
  . "$guest_env"
fi

cat <<TXT
osnap: starting osnapd on the default configuration (config/default.conf)
  RPC socket:  $sock
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
exec "$bin/src/app/osnapd" -r "$sock" --init-rpc "$top/config/default.conf" -m 0x1
