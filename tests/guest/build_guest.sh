#!/usr/bin/env bash
# Build the guest of the guest tests into OUTDIR, from Debian packages only:
#   OUTDIR/vmlinuz      the kernel of the installed linux-image-amd64
#   OUTDIR/initrd.img   busybox-static, that kernel's virtio and NVMe
#                       modules, /init (tests/guest/init), /tests/*.sh,
#                       /bin/NAME for each tests/guest/tools/NAME.c (static)
#   OUTDIR/guest.env    KVER=, VMLINUZ=, INITRD= (sourceable)
# The result is cached: it is rebuilt only when the kernel version, busybox,
# or a file under tests/guest (init, cases, tools, this script) changed.
# Prints the path of guest.env on stdout.
#
# usage: build_guest.sh OUTDIR
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build_guest.sh OUTDIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)

# Module load order (dependencies first), see shared/ARCHITECTURE.md.
MODULES=(crc64 crc64-rocksoft crct10dif_common crc-t10dif t10-pi nvme-core nvme
         virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
         virtio_blk)

die() { echo "build_guest.sh: $*" >&2; exit 1; }

# The kernel: the one linux-image-amd64 depends on (not the host's uname -r,
# which may be any kernel).
kver=
dep=$(dpkg-query -W -f='${Depends}' linux-image-amd64 2>/dev/null || true)
if [[ $dep =~ linux-image-([0-9][^ ,]*-amd64) ]]; then
  kver=${BASH_REMATCH[1]}
fi
if [ -z "$kver" ] || [ ! -f "/boot/vmlinuz-$kver" ]; then
  # fall back on the newest Debian kernel in /boot
  kver=$(ls /boot/vmlinuz-*-amd64 2>/dev/null | sed 's|/boot/vmlinuz-||' | sort -V | tail -1)
fi
[ -n "$kver" ] && [ -f "/boot/vmlinuz-$kver" ] || die "no linux-image-amd64 kernel in /boot (run scripts/guest_deps.sh)"
[ -d "/lib/modules/$kver" ] || die "no /lib/modules/$kver"
bb=/bin/busybox
[ -x "$bb" ] || die "no $bb (busybox-static)"
bbver=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)

# Cache key: kernel version + busybox version + every input file's hash.
tools=("$here"/tools/*.c)
[ -e "${tools[0]}" ] || tools=()
inputs=("$here/build_guest.sh" "$here/init" "$here/lib.sh" "$here"/cases/*.sh ${tools[@]+"${tools[@]}"})
key=$( { echo "kver=$kver"; echo "busybox=$bbver"; sha256sum "${inputs[@]}" | sed "s|$here/||"; } \
       | sha256sum | cut -d' ' -f1)
if [ -f "$out/key" ] && [ "$(cat "$out/key")" = "$key" ] && [ -f "$out/initrd.img" ] \
   && [ -f "$out/vmlinuz" ] && [ -f "$out/guest.env" ]; then
  echo "$out/guest.env"
  exit 0
fi

stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,lib/modules,tests,mnt}

cp "$bb" "$root/bin/busybox"
for a in $("$bb" --list); do
  [ "$a" = busybox ] && continue
  ln -s busybox "$root/bin/$a"
done
ln -s ../bin/busybox "$root/sbin/init"

: > "$root/lib/modules/order"
for m in "${MODULES[@]}"; do
  p=$(modinfo -k "$kver" -n "$m" 2>/dev/null) || die "module $m not found for kernel $kver"
  [ -f "$p" ] || die "module $m: $p is missing"
  base=$(basename "$p")
  case "$base" in
    *.ko)     cp "$p" "$root/lib/modules/$m.ko" ;;
    *.ko.xz)  xz -dc "$p" > "$root/lib/modules/$m.ko" ;;
    *.ko.zst) zstd -qdc "$p" > "$root/lib/modules/$m.ko" ;;
    *.ko.gz)  gzip -dc "$p" > "$root/lib/modules/$m.ko" ;;
    *) die "module $m: unknown file type $base" ;;
  esac
  echo "$m" >> "$root/lib/modules/order"
done

install -m 0755 "$here/init" "$root/init"
install -m 0644 "$here/lib.sh" "$root/tests/lib.sh"
for c in "$here"/cases/*.sh; do
  install -m 0644 "$c" "$root/tests/$(basename "$c")"
done
# the guest's helpers in C (busybox has no nvme-cli): static, no library
for c in ${tools[@]+"${tools[@]}"}; do
  command -v gcc >/dev/null || die "gcc is needed for $(basename "$c") (run scripts/guest_deps.sh)"
  gcc -static -O2 -s -Wall -o "$root/bin/$(basename "$c" .c)" "$c" || die "cannot build $c"
done
# /dev/console for the kernel to open before /init runs (devtmpfs is not
# mounted automatically by this kernel); only root can make the node, and
# /init mounts devtmpfs and reopens the console anyway.
mknod -m 600 "$root/dev/console" c 5 1 2>/dev/null || true
mknod -m 666 "$root/dev/null" c 1 3 2>/dev/null || true

# Uncompressed newc cpio: the kernel unpacks it faster under TCG than it
# would decompress it.
(cd "$root" && find . -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --quiet --owner=0:0) \
  > "$stage/initrd.img"
cp "/boot/vmlinuz-$kver" "$stage/vmlinuz"
cat > "$stage/guest.env" <<EOF
KVER=$kver
VMLINUZ=$out/vmlinuz
INITRD=$out/initrd.img
EOF
mv -f "$stage/vmlinuz" "$out/vmlinuz"
mv -f "$stage/initrd.img" "$out/initrd.img"
mv -f "$stage/guest.env" "$out/guest.env"
echo "$key" > "$out/key"
echo "build_guest.sh: built initramfs for kernel $kver ($(du -h "$out/initrd.img" | cut -f1))" >&2
echo "$out/guest.env"
