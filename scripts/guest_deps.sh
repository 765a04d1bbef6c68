#!/usr/bin/env bash
# Install what the guest tests (tests/guest) need, on Debian 12: QEMU 7.2 for
# x86_64 (TCG), qemu-storage-daemon (the reference vhost-user-blk back end),
# Debian's kernel and busybox for the guest, cpio to pack the initramfs, gcc
# for the guest's static helpers; then, for the vfio-user cases, Debian 13's
# QEMU 11.1 (vfio-user-pci) in a chroot built once per machine
# (scripts/qemu-vfio-user.sh --setup, cached in /var/cache/osnap-test/trixie,
# about a minute the first time).
# Installs only what is missing, so a second run costs a dpkg query.
# Called by tests/guest/run_guest_tests.py; exits non-zero when packages are
# missing and cannot be installed (not root, no registry). When the QEMU 11
# chroot cannot be made, it says so on stderr in one line
# ("guest_deps.sh: vfio-user QEMU unavailable: WHY") and exits 0: the
# vfio-user cases are then skipped with that reason.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

PKGS=(
  qemu-system-x86      # qemu-system-x86_64
  qemu-system-common   # ships /usr/bin/qemu-storage-daemon on Debian 12
  qemu-utils           # qemu-img
  linux-image-amd64    # the guest kernel and its virtio/nvme modules
  busybox-static       # the guest's userland
  cpio
  kmod                 # modinfo, to find the modules of the guest kernel
  zstd xz-utils        # to decompress modules if a kernel ships them compressed
  gcc libc6-dev linux-libc-dev   # tests/guest/tools/*.c, linked statically
  debootstrap          # the Debian 13 chroot of QEMU 11 (scripts/qemu-vfio-user.sh)
)

# The QEMU with a vfio-user client: Debian 13's, in a chroot (root only).
vfio_user_qemu() {
  local log rc
  if [ "$(id -u)" -ne 0 ]; then
    echo "guest_deps.sh: vfio-user QEMU unavailable: the chroot of QEMU 11 needs root" >&2
    return 0
  fi
  # its progress (a first build takes minutes) and its version line on stderr
  log=$(mktemp)
  set +e
  "$here/qemu-vfio-user.sh" --setup 2>&1 | tee "$log" >&2
  rc=${PIPESTATUS[0]}
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "guest_deps.sh: vfio-user QEMU unavailable: $(grep -v '^qemu-vfio-user.sh: building' "$log" | tail -1)" >&2
  fi
  rm -f "$log"
  return 0
}

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  vfio_user_qemu
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "guest_deps.sh: missing packages: ${missing[*]}; run as root (or install them)" >&2
  exit 1
fi
echo "guest_deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# wait for another apt/dpkg (unattended-upgrades on a fresh machine) rather than fail
lock=(-o DPkg::Lock::Timeout=600)
apt-get "${lock[@]}" update -qq
# linux-image-amd64 would pull initramfs-tools and firmware through
# recommends; the guest needs none of it.
apt-get "${lock[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
vfio_user_qemu
