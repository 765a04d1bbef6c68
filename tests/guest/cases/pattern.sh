# pattern: write a random pattern across the disk with O_DIRECT (one writer
# per CPU, each on its own half, so that every virtqueue carries I/O), flush,
# drop the page cache, read it back with O_DIRECT and compare. Prints the
# pattern's sha256 (OSNAP-SUM) so the host can compare the backing file.
# Parameters: osnap.dev (vda), osnap.mb (size limit, MiB), osnap.queues
# (the number of blk-mq hardware queues the disk must have).
dev=${OSNAP_DEV:-vda}
wait_disk $dev 30 || fail "/dev/$dev did not appear"
info size $(blockdev --getsize64 /dev/$dev)
q=$(hw_queues $dev)
info hw_queues $q
if [ -n "$OSNAP_QUEUES" ] && [ "$q" != "$OSNAP_QUEUES" ]; then
  fail "$dev has $q hardware queues, want $OSNAP_QUEUES"
fi
mb=$(disk_mb $dev $OSNAP_MB)
[ "$mb" -ge 2 ] || fail "$dev is too small ($mb MiB)"
make_pattern /tmp/pat $mb
want=$(sha256sum /tmp/pat | cut -d' ' -f1)

ncpu=$(nproc)
half=$(( mb / 2 ))
t0=$(now)
if [ "$ncpu" -ge 2 ] && [ "$q" -ge 2 ]; then
  # two writers, one per CPU, hence one per hardware queue
  taskset 1 dd if=/tmp/pat of=/dev/$dev bs=1M count=$half oflag=direct conv=notrunc 2>/tmp/w0.err &
  p0=$!
  taskset 2 dd if=/tmp/pat of=/dev/$dev bs=1M skip=$half seek=$half oflag=direct conv=notrunc 2>/tmp/w1.err &
  p1=$!
  wait $p0 || fail "write (cpu0): $(tail -1 /tmp/w0.err)"
  wait $p1 || fail "write (cpu1): $(tail -1 /tmp/w1.err)"
else
  dd if=/tmp/pat of=/dev/$dev bs=1M oflag=direct conv=notrunc 2>/tmp/w0.err \
    || fail "write: $(tail -1 /tmp/w0.err)"
fi
# flush the device's volatile cache (VIRTIO_BLK_T_FLUSH)
sync -d /dev/$dev || fail "fdatasync /dev/$dev failed"
info write_ms $(ms_since $t0)
drop_caches

t0=$(now)
dd if=/dev/$dev of=/tmp/back bs=64k count=$(( mb * 16 )) iflag=direct 2>/tmp/r.err \
  || fail "read: $(tail -1 /tmp/r.err)"
info read_ms $(ms_since $t0)
cmp /tmp/pat /tmp/back >/tmp/cmp.out 2>&1 || fail "read back differs: $(head -1 /tmp/cmp.out)"
got=$(sha256sum /tmp/back | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "sha256 differs"
info mb $mb
sum $dev $want
pass
