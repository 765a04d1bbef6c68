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

# pattern_run DEV [MB] [QUEUES]: write a random pattern across DEV (at most MB
# MiB) with O_DIRECT, one writer per CPU on its own half so that every
# hardware queue carries I/O, flush, drop the page cache, read it back with
# O_DIRECT and compare. QUEUES: the number of blk-mq hardware queues DEV must
# have. Prints OSNAP-INFO DEV_{size,hw_queues,write_ms,read_ms,mb} and
# OSNAP-SUM DEV (the pattern's sha256, for the host to compare its file).
pattern_run() {
  local pdev=$1 q mb want got half t0 p0 p1
  wait_disk $pdev 30 || fail "/dev/$pdev did not appear"
  info ${pdev}_size $(blockdev --getsize64 /dev/$pdev)
  q=$(hw_queues $pdev)
  info ${pdev}_hw_queues $q
  if [ -n "$3" ] && [ "$q" != "$3" ]; then
    fail "$pdev has $q hardware queues, want $3"
  fi
  mb=$(disk_mb $pdev $2)
  [ "$mb" -ge 2 ] || fail "$pdev is too small ($mb MiB)"
  make_pattern /tmp/pat $mb
  want=$(sha256sum /tmp/pat | cut -d' ' -f1)

  half=$(( mb / 2 ))
  t0=$(now)
  if [ "$(nproc)" -ge 2 ] && [ "$q" -ge 2 ]; then
    # two writers, one per CPU, hence one per hardware queue
    taskset 1 dd if=/tmp/pat of=/dev/$pdev bs=1M count=$half oflag=direct conv=notrunc 2>/tmp/w0.err &
    p0=$!
    taskset 2 dd if=/tmp/pat of=/dev/$pdev bs=1M skip=$half seek=$half oflag=direct conv=notrunc 2>/tmp/w1.err &
    p1=$!
    wait $p0 || fail "$pdev: write (cpu0): $(tail -1 /tmp/w0.err)"
    wait $p1 || fail "$pdev: write (cpu1): $(tail -1 /tmp/w1.err)"
  else
    dd if=/tmp/pat of=/dev/$pdev bs=1M oflag=direct conv=notrunc 2>/tmp/w0.err \
      || fail "$pdev: write: $(tail -1 /tmp/w0.err)"
  fi
  # flush the device's volatile cache (VIRTIO_BLK_T_FLUSH, NVMe Flush)
  sync -d /dev/$pdev || fail "fdatasync /dev/$pdev failed"
  info ${pdev}_write_ms $(ms_since $t0)
  drop_caches

  t0=$(now)
  dd if=/dev/$pdev of=/tmp/back bs=64k count=$(( mb * 16 )) iflag=direct 2>/tmp/r.err \
    || fail "$pdev: read: $(tail -1 /tmp/r.err)"
  info ${pdev}_read_ms $(ms_since $t0)
  cmp /tmp/pat /tmp/back >/tmp/cmp.out 2>&1 || fail "$pdev: read back differs: $(head -1 /tmp/cmp.out)"
  got=$(sha256sum /tmp/back | cut -d' ' -f1)
  [ "$got" = "$want" ] || fail "$pdev: sha256 differs"
  rm -f /tmp/pat /tmp/back
  info ${pdev}_mb $mb
  sum $pdev $want
}

# nvme_irqs CTRL: interrupts delivered so far to CTRL's I/O queues (nvme0q1...)
nvme_irqs() {
  awk -v c="$1" '$NF ~ "^" c "q[1-9]" { for (i = 2; i < NF; i++) if ($i ~ /^[0-9]+$/) n += $i } END { print n + 0 }' /proc/interrupts
}

# blk_ios DEV: I/Os completed on DEV (reads + writes from /sys/block/DEV/stat)
blk_ios() { awk '{ print $1 + $5 }' /sys/block/$1/stat; }

stty -echo 2>/dev/null || true
