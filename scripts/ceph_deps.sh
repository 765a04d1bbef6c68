#!/usr/bin/env bash
# Install the Ceph daemons the rbd tests (tests/system/test_rbd.py) start as
# a throw-away single-node cluster, on Debian 12 (Ceph 16.2): ceph-mon,
# ceph-mgr, ceph-osd and the ceph/rbd command-line tools. Without
# recommends, on a fresh Debian 12: about 90 packages, 230 MiB installed,
# about 3 minutes on a loaded 2-core machine.
# Installs only what is missing, so a second run costs a dpkg query.
# Called by `make test`. When the packages are missing and cannot be
# installed (not root, no registry) it says so and exits 0: test_rbd.py
# then skips its cluster cases and prints why.
set -uo pipefail

PKGS=(ceph-mon ceph-mgr ceph-osd ceph-common)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "ceph_deps.sh: missing ${missing[*]} and not root: the rbd tests will skip their cluster cases" >&2
  exit 0
fi
echo "ceph_deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq &&
       apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }; then
  echo "ceph_deps.sh: cannot install ${missing[*]}: the rbd tests will skip their cluster cases" >&2
fi
# the packages enable ceph.target for systemd; the tests start their own
# daemons in a temporary directory and never use the system's units
exit 0
