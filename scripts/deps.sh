#!/usr/bin/env bash
# Install what osnap needs to build, test and run, on Debian 12.
# Installs only what is missing, so a second run costs a dpkg query.
set -euo pipefail

PKGS=(
  gcc make pkg-config meson ninja-build
  libjansson-dev liburing-dev libaio-dev libcmocka-dev libisal-dev
  librbd-dev librados-dev   # the Ceph RBD bdev (src/bdev/modules/rbd)
  clang libclang-rt-14-dev
  python3
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
  echo "deps.sh: missing packages: ${missing[*]}; run as root (or install them)" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get -o DPkg::Lock::Timeout=600 update -qq
apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
