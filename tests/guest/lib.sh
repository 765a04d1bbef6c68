# Helpers for the guest cases (sourced by /init before a case runs).
# A case ends with `pass` or `fail REASON`; it talks to the host with
# `step NAME` (print OSNAP-STEP NAME, wait for the host's OSNAP-GO NAME on the
# console), `info KEY VALUE` and `sum DEV SHA256`.

T=${OSNAP_TEST:-none}

pass() {
  [ -f /tmp/.verdict ] && return 0
  : > /tmp/.verdict
  echo "OSNAP-PASS $T"
}

fail() {
  if [ ! -f /tmp/.verdict ]; then
    : > /tmp/.verdict
    echo "OSNAP-FAIL $T: $*"
  fi
  exit 1
}

info() { echo "OSNAP-INFO $*"; }
sum()  { echo "OSNAP-SUM $1 $2"; }

# seconds since boot, with centiseconds
now() { cut -d' ' -f1 /proc/uptime; }
# milliseconds since a value of now()
ms_since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%d", (b - a) * 1000 }'; }

# wait_disk NAME [SECONDS]: wait until /dev/NAME is usable
wait_disk() {
  n=0; lim=$(( ${2:-30} * 10 ))
  while [ $n -lt $lim ]; do
    if [ -e "/sys/block/$1" ] && [ -b "/dev/$1" ] && [ "$(cat /sys/block/$1/size)" != 0 ]; then
      return 0
    fi
    usleep 100000; n=$((n + 1))
  done
  return 1
}

# wait_gone NAME [SECONDS]: wait until /sys/block/NAME is gone
wait_gone() {
  n=0; lim=$(( ${2:-30} * 10 ))
  while [ $n -lt $lim ]; do
    [ -e "/sys/block/$1" ] || return 0
    usleep 100000; n=$((n + 1))
  done
  return 1
}

drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

# step NAME [SECONDS]: hand over to the host and wait for its answer.
# The host answers "OSNAP-GO NAME" when done, "OSNAP-ABORT NAME: why" when
# its action failed.
step() {
  echo "OSNAP-STEP $1"
  end=$(( $(cut -d. -f1 /proc/uptime) + ${2:-120} ))
  while [ "$(cut -d. -f1 /proc/uptime)" -lt "$end" ]; do
    line=
    read -t 5 -r line || true
    line=$(echo "$line" | tr -d '\r')
    case "$line" in
      "OSNAP-GO $1") return 0 ;;
      "OSNAP-ABORT $1"*) fail "host: ${line#OSNAP-ABORT $1: }" ;;
    esac
  done
  fail "no answer from the host to step $1"
}

# hw_queues NAME: number of blk-mq hardware queues of a disk
hw_queues() { ls -d /sys/block/$1/mq/* 2>/dev/null | wc -l; }

# disk_mb NAME [LIMIT]: the disk's size in MiB, at most LIMIT
disk_mb() {
  mb=$(( $(blockdev --getsize64 /dev/$1) / 1048576 ))
  if [ -n "$2" ] && [ "$2" -lt "$mb" ]; then mb=$2; fi
  echo $mb
}

# make_pattern FILE MB: MB MiB of random bytes in tmpfs
make_pattern() {
  dd if=/dev/urandom of="$1" bs=1M count="$2" 2>/dev/null || fail "cannot make a pattern"
}

# read_sum DEV MB: sha256 of the first MB MiB, read with O_DIRECT
read_sum() {
  rm -f /tmp/rs.rc
  s=$( { dd if=/dev/$1 bs=64k count=$(( $2 * 16 )) iflag=direct 2>/tmp/rs.err; echo $? > /tmp/rs.rc; } \
       | sha256sum | cut -d' ' -f1)
  [ "$(cat /tmp/rs.rc)" = 0 ] || { echo "read error: $(tail -1 /tmp/rs.err)"; return 1; }
  echo "$s"
}

stty -echo 2>/dev/null || true
