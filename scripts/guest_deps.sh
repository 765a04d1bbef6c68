#!/usr/bin/env bash
# Install what the guest tests (tests/guest) need, on Debian 12: QEMU 7.2 for
# x86_64 (TCG), qemu-storage-daemon (the reference vhost-user-blk back end),
# Debian's kernel and busybox for the guest, cpio to pack the initramfs.
# Installs only what is missing, so a second run costs a dpkg query.
# Called by tests/guest/run_guest_tests.py; exits non-zero when packages are
# missing and cannot be installed (not root, no registry).
set -euo pipefail

PKGS=(
  qemu-system-x86      # qemu-system-x86_64
  qemu-system-common   # ships /usr/bin/qemu-storage-daemon on Debian 12
  qemu-utils           # qemu-img
  linux-image-amd64    # the guest kernel and its virtio/nvme modules
  busybox-static       # the guest's userland
  cpio
  kmod                 # modinfo, to find the modules of the guest kernel
  zstd xz-utils        # to decompress modules if a kernel ships them compressed
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "guest_deps.sh: missing packages: ${missing[*]}; run as root (or install them)" >&2
  exit 1
fi
echo "guest_deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# linux-image-amd64 would pull initramfs-tools and firmware through
# recommends; the guest needs none of it.
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
