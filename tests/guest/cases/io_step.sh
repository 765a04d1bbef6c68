# io_step: keep I/O running on the disk while the host acts (suspend/resume,
# bdev swap, back-end restart, ...), then check that the I/O completed
# without error, went on after the host's action, and that the data is intact.
# Parameters: osnap.dev (vda), osnap.mode (write | read), osnap.mb (size of
# the region written or read in each round, MiB; default 4), osnap.step
# (name of the step the host acts in; default act), osnap.resume_rounds
# (rounds that must complete after the host's action; default 2),
# osnap.action (host: the host acts in step osnap.step, the default; reset:
# the guest itself resets its NVMe controller osnap.ctrl (nvme0) with
# `echo 1 > /sys/class/nvme/CTRL/reset_controller`, osnap.resets times
# (default 1), then tells the host in step osnap.step), osnap.bs (the block
# size of the writes; default 64k).
dev=${OSNAP_DEV:-vda}
mode=${OSNAP_MODE:-write}
stepname=${OSNAP_STEP:-act}
action=${OSNAP_ACTION:-host}
rounds=${OSNAP_RESUME_ROUNDS:-2}
bs=${OSNAP_BS:-64k}
wait_disk $dev 30 || fail "/dev/$dev did not appear"
mb=$(disk_mb $dev ${OSNAP_MB:-4})

if [ "$mode" = write ]; then
  make_pattern /tmp/pat $mb
  want=$(sha256sum /tmp/pat | cut -d' ' -f1)
else
  want=$(read_sum $dev $mb) || fail "$want"
fi
rm -f /tmp/stop /tmp/io.fail
echo 0 > /tmp/iter
echo 0 > /tmp/maxms

io_loop() {
  i=0; max=0
  while [ ! -f /tmp/stop ]; do
    t0=$(now)
    if [ "$mode" = write ]; then
      dd if=/tmp/pat of=/dev/$dev bs=$bs oflag=direct conv=notrunc,fsync 2>/tmp/io.err \
        || echo "round $i: write: $(head -1 /tmp/io.err)" >> /tmp/io.fail
    else
      s=$(read_sum $dev $mb) || echo "round $i: $s" >> /tmp/io.fail
      [ "$s" = "$want" ] || echo "round $i: read data differs" >> /tmp/io.fail
    fi
    ms=$(ms_since $t0)
    [ "$ms" -gt "$max" ] && max=$ms
    i=$((i + 1))
    echo $max > /tmp/maxms
    echo $i > /tmp/iter
  done
}
io_loop </dev/null &
loop=$!

n=0
while [ "$(cat /tmp/iter)" -lt 1 ]; do
  usleep 100000; n=$((n + 1))
  [ $n -lt 600 ] || fail "the first round of I/O did not complete in 60 s"
done
info rounds_before $(cat /tmp/iter)
if [ "$action" = reset ]; then
  ctrl=${OSNAP_CTRL:-nvme0}
  r=0
  while [ $r -lt ${OSNAP_RESETS:-1} ]; do
    # the write returns once the reset is done (nvme_reset_ctrl_sync)
    echo 1 > /sys/class/nvme/$ctrl/reset_controller 2>/tmp/reset.err \
      || { touch /tmp/stop; fail "reset_controller of $ctrl: $(cat /tmp/reset.err)"; }
    st=$(cat /sys/class/nvme/$ctrl/state)
    [ "$st" = live ] || { touch /tmp/stop; fail "$ctrl is $st after its reset"; }
    r=$((r + 1))
    info reset_${r}_at_round $(cat /tmp/iter)
  done
fi
step $stepname 300
at=$(cat /tmp/iter)
n=0
while [ "$(cat /tmp/iter)" -lt $(( at + rounds )) ]; do
  usleep 100000; n=$((n + 1))
  if [ $n -ge 900 ]; then
    touch /tmp/stop
    fail "I/O did not resume after step $stepname ($(cat /tmp/iter) rounds, $at at the step)"
  fi
done
touch /tmp/stop
wait $loop
info rounds $(cat /tmp/iter)
info max_round_ms $(cat /tmp/maxms)
[ ! -s /tmp/io.fail ] || fail "I/O errors: $(head -3 /tmp/io.fail | tr '\n' ';')"

drop_caches
got=$(read_sum $dev $mb) || fail "$got"
[ "$got" = "$want" ] || fail "data differs after step $stepname"
info mb $mb
sum $dev $want
pass
