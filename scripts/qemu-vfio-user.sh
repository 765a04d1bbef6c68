#!/usr/bin/env bash
# qemu-vfio-user.sh - run a QEMU that has a vfio-user client (vfio-user-pci) on Debian 12.
#
# Debian 12's QEMU 7.2 has no vfio-user client; Debian 13's trixie-backports ships QEMU 11.1,
# whose vfio-user-pci is the production client. It needs Debian 13's libraries, so it runs
# from a Debian 13 chroot (debootstrap --variant=minbase) that this script builds on first use
# (about a minute, once per machine) from the mirror of the machine's own apt sources; the
# host's apt sources are never changed.
#
#   qemu-vfio-user.sh ARGS...   run the chroot's qemu-system-x86_64 with ARGS (as root);
#                               builds the chroot first if needed (messages on stderr)
#   qemu-vfio-user.sh --setup   build the chroot if needed, mount, print the QEMU version
#   qemu-vfio-user.sh --check   exit 0 when the chroot is ready (builds nothing)
#   qemu-vfio-user.sh --umount  remove the bind mounts
#
# Inside the chroot the host's /tmp, /var/tmp, /run (hence /var/run, osnapd's default
# EMU_DIR /var/run/osnap), /boot, /dev, /proc and /sys are bind-mounted (idempotently), so
# sockets, kernels, images and initramfs under those paths are seen at the same path; the
# working directory is kept when it is under one of them. Other paths are not visible.
# Firmware names resolve inside the chroot: QEMU's default is SeaBIOS; qboot is
# `-bios qboot.rom` (/usr/share/qemu/qboot.rom in the chroot).
#
# Environment: OSNAP_TRIXIE_ROOT (default /var/cache/osnap-test/trixie), the chroot.
# The build is complete only when ROOT/.osnap-ready exists (written last); an interrupted
# build is started again from scratch. Concurrent callers serialize on ROOT.lock.
set -euo pipefail

ROOT=${OSNAP_TRIXIE_ROOT:-/var/cache/osnap-test/trixie}
ROOT=${ROOT%/}
MARK=$ROOT/.osnap-ready
LOCK=$ROOT.lock
LOG=$ROOT.build.log
QEMU=/usr/bin/qemu-system-x86_64
BINDS=(tmp var/tmp run boot dev proc sys)
# what the chroot installs: QEMU 11 from trixie-backports, its firmware (SeaBIOS, qboot in
# qemu-system-data, iPXE ROMs QEMU looks for)
PKGS=(qemu-system-x86 qemu-system-data seabios ipxe-qemu)

me=qemu-vfio-user.sh
die() { echo "$me: $*" >&2; exit 1; }

ready() { [ -x "$ROOT$QEMU" ] && [ -f "$MARK" ]; }

# The mirror of the host's apt sources for its own release (deb822 *.sources first, then
# sources.list and *.list); never a security or backports mirror.
host_mirror() {
  local codename uri
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  uri=$(for f in /etc/apt/sources.list.d/*.sources; do [ -f "$f" ] && cat "$f"; echo; done 2>/dev/null |
    awk -v cn="$codename" '
      function flush() {
        if (types ~ /(^| )deb( |$)/ && uris != "" && (cn == "" || (" " suites " ") ~ (" " cn " ")))
          { split(uris, u, " "); if (!found) { print u[1]; found = 1 } }
        types = ""; uris = ""; suites = ""
      }
      /^[ \t]*$/ { flush(); next }
      /^[ \t]*#/ { next }
      /^Types:/  { sub(/^Types:[ \t]*/, ""); types = $0 }
      /^URIs:/   { sub(/^URIs:[ \t]*/, ""); uris = $0 }
      /^Suites:/ { sub(/^Suites:[ \t]*/, ""); suites = $0 }
      END { flush() }')
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      sed -e 's/#.*//' -e 's/\[[^]]*\]//' |
      awk -v cn="$codename" '$1 == "deb" && (cn == "" || $3 == cn) { print $2; exit }')
  fi
  case "$uri" in
    http://*|https://*|ftp://*|file:/*) echo "${uri%/}" ;;
    *) return 1 ;;
  esac
}

# Every mount point at or under DIR, deepest first.
mounts_under() {
  awk -v d="$1" '{ m = $5; gsub(/\\040/, " ", m); if (m == d || index(m, d "/") == 1) print m }' \
    /proc/self/mountinfo | awk '{ print length($0) " " $0 }' | sort -rn | cut -d' ' -f2-
}

# Remove a chroot tree, never what is mounted inside it (its /tmp is the host's /tmp).
safe_rmtree() {
  local d=$1 m
  [ -e "$d" ] || return 0
  while read -r m; do
    [ -n "$m" ] && umount -l "$m" 2>/dev/null || true
  done < <(mounts_under "$d")
  if [ -n "$(mounts_under "$d")" ]; then
    die "cannot unmount everything under $d; not removing it"
  fi
  rm -rf --one-file-system "$d"
}

bind_mounts() {
  local m
  for m in "${BINDS[@]}"; do
    [ -d "/$m" ] || continue
    [ ! -L "$ROOT/$m" ] || continue
    mkdir -p "$ROOT/$m"
    mountpoint -q "$ROOT/$m" || mount --bind "/$m" "$ROOT/$m"
  done
}

build() {
  local mirror proxy build old
  command -v debootstrap >/dev/null ||
    die "debootstrap is not installed (scripts/guest_deps.sh installs it)"
  mirror=$(host_mirror) || die "no Debian mirror found in the host's apt sources"
  proxy=
  eval "$(apt-config shell proxy Acquire::http::Proxy 2>/dev/null)" || true
  case "$proxy" in http://*|https://*) export http_proxy=$proxy ;; *) proxy= ;; esac
  build=$ROOT.build
  mkdir -p "$(dirname "$ROOT")"
  safe_rmtree "$build"      # a previous, interrupted build (debootstrap mounts proc in it)
  echo "$me: building the Debian 13 chroot with QEMU 11 (trixie-backports) in $ROOT from $mirror, about a minute (log: $LOG)" >&2
  : >"$LOG"
  if ! debootstrap --variant=minbase trixie "$build" "$mirror" >>"$LOG" 2>&1; then
    safe_rmtree "$build"
    die "debootstrap trixie from $mirror failed: $(grep -E '^[EW]:' "$LOG" | tail -1)"
  fi
  echo "deb $mirror trixie-backports main" >"$build/etc/apt/sources.list.d/backports.list"
  [ -z "$proxy" ] || echo "Acquire::http::Proxy \"$proxy\";" >"$build/etc/apt/apt.conf.d/01proxy"
  if ! { chroot "$build" apt-get update -q &&
         chroot "$build" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
           --no-install-recommends -t trixie-backports "${PKGS[@]}"; } >>"$LOG" 2>&1; then
    safe_rmtree "$build"
    die "installing ${PKGS[*]} from trixie-backports failed: $(grep -E '^(E|W):' "$LOG" | tail -1)"
  fi
  chroot "$build" apt-get clean >/dev/null 2>&1 || true
  [ -x "$build$QEMU" ] || die "no $QEMU after the installation"
  [ -f "$build/usr/share/qemu/qboot.rom" ] || die "no /usr/share/qemu/qboot.rom after the installation"
  chroot "$build" "$QEMU" --version | sed -n 1p >"$build/.osnap-ready.tmp"
  mv "$build/.osnap-ready.tmp" "$build/.osnap-ready"
  # swap it in; a previous (incomplete) tree goes, its bind mounts first
  if [ -e "$ROOT" ]; then
    old=$ROOT.old.$$
    while read -r m; do
      [ -n "$m" ] && umount -l "$m" 2>/dev/null || true
    done < <(mounts_under "$ROOT")
    [ -z "$(mounts_under "$ROOT")" ] || die "cannot unmount the old chroot at $ROOT"
    mv "$ROOT" "$old"
    mv "$build" "$ROOT"
    safe_rmtree "$old"
  else
    mv "$build" "$ROOT"
  fi
  echo "$me: built: $(cat "$MARK")" >&2
}

# ready + mounted, under the lock
setup() {
  [ "$(id -u)" -eq 0 ] || die "needs root (chroot, bind mounts)"
  mkdir -p "$(dirname "$LOCK")"
  exec 9>"$LOCK"
  flock -w 1200 9 || die "timed out waiting for $LOCK"
  ready || build
  bind_mounts
  exec 9>&-
}

case "${1:-}" in
  --check)
    ready || { echo "$me: no complete chroot at $ROOT (run scripts/guest_deps.sh)" >&2; exit 1; }
    [ "$(id -u)" -eq 0 ] || { echo "$me: needs root (chroot)" >&2; exit 1; }
    exit 0 ;;
  --setup)
    setup
    v=$(chroot "$ROOT" "$QEMU" --version | sed -n 1p)
    devs=$(chroot "$ROOT" "$QEMU" -device help 2>/dev/null || true)
    case "$devs" in *'"vfio-user-pci"'*) ;; *) die "$v has no vfio-user-pci" ;; esac
    echo "$me: $v in $ROOT, vfio-user-pci present"
    exit 0 ;;
  --umount)
    [ "$(id -u)" -eq 0 ] || die "needs root"
    while read -r m; do
      [ -n "$m" ] && umount -l "$m" 2>/dev/null || true
    done < <(mounts_under "$ROOT")
    exit 0 ;;
  -h|--help)
    sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
    exit 0 ;;
esac

setup
# keep the working directory when the chroot sees it (relative paths in ARGS)
exec chroot "$ROOT" /bin/sh -c 'cd "$1" 2>/dev/null || cd /; shift; exec '"$QEMU"' "$@"' \
  qemu "$PWD" "$@"
