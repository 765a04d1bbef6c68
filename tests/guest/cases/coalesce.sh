# coalesce: NVMe interrupt coalescing (Set Features FID 0x08) off and on.
# Linux never sets it itself, so the guest's nvme-feat helper (tools/
# nvme-feat.c) issues Set/Get Features through NVME_IOCTL_ADMIN_CMD on
# /dev/nvme0. Coalescing off (0), the pattern (pattern_run); on (osnap.value,
# default 0x0a07: aggregation time 10 x 100 us, threshold 8 entries), Get
# Features must read the value back, the pattern again (I/O must complete:
# the aggregation time bounds every completion's delay); off again, read
# back 0. After each pattern, 8 readers at once on CPU 0 (one hardware
# queue, up to 8 commands in flight, 4 KiB each) must complete too.
# Interrupts and I/Os of each state are reported (OSNAP-INFO irqs_off,
# ios_off, irqs_on, ios_on), not asserted.
# Parameters: osnap.dev (nvme0n1), osnap.mb, osnap.queues, osnap.value.
dev=${OSNAP_DEV:-nvme0n1}
ctrl=/dev/${OSNAP_CTRL:-nvme0}
val=${OSNAP_VALUE:-0x0a07}
wait_disk $dev 30 || fail "/dev/$dev did not appear"
c=${ctrl#/dev/}

# feat get|set FID [VALUE]: the completion's DW0 in $got (not in $(...): fail
# must run in this shell)
feat() {
  nvme-feat $ctrl "$@" >/tmp/feat.out 2>/tmp/feat.err || fail "nvme-feat $*: $(cat /tmp/feat.err)"
  got=$(cat /tmp/feat.out)
}
feat get 8
info coalescing_at_boot $got

# one pattern with coalescing at VALUE: the I/Os and interrupts it took
run_with() {
  feat set 8 $1
  feat get 8
  [ $(( got & 0xffff )) = $(( $1 )) ] || fail "Get Features 0x08 reads $got after Set Features 0x08 $1"
  i0=$(nvme_irqs $c); n0=$(blk_ios $dev)
  pattern_run $dev "$OSNAP_MB" "$OSNAP_QUEUES"
  k=0; pids=
  while [ $k -lt 8 ]; do
    taskset 1 dd if=/dev/$dev of=/dev/null bs=4k count=256 skip=$((k * 256)) iflag=direct 2>/tmp/qd$k.err &
    pids="$pids $!"; k=$((k + 1))
  done
  k=0
  for p in $pids; do
    wait $p || fail "reader $k with coalescing $1: $(tail -1 /tmp/qd$k.err)"
    k=$((k + 1))
  done
  info irqs_$2 $(( $(nvme_irqs $c) - i0 ))
  info ios_$2 $(( $(blk_ios $dev) - n0 ))
  info coalescing_$2 $got
}
run_with 0 off
run_with $val on
feat set 8 0
feat get 8
[ $(( got & 0xffff )) = 0 ] || fail "Get Features 0x08 reads $got after setting it back to 0"
pass
