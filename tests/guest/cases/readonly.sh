# readonly: the disk is read-only. The kernel must see it so (sysfs ro = 1),
# a write must fail, reads must work (OSNAP-SUM of the whole disk, which the
# host compares with its file, and the file must be unchanged).
# Parameters: osnap.dev (vda), osnap.mb (size limit, MiB).
dev=${OSNAP_DEV:-vda}
wait_disk $dev 30 || fail "/dev/$dev did not appear"
ro=$(cat /sys/block/$dev/ro)
info ro $ro
[ "$ro" = 1 ] || fail "/sys/block/$dev/ro is $ro, want 1"
if dd if=/dev/zero of=/dev/$dev bs=4k count=1 oflag=direct conv=notrunc 2>/tmp/w.err; then
  fail "a direct write to the read-only disk succeeded"
fi
info write_error "$(head -1 /tmp/w.err)"
if dd if=/dev/zero of=/dev/$dev bs=4k count=1 seek=1 conv=notrunc,fsync 2>/tmp/w.err; then
  fail "a buffered write to the read-only disk succeeded"
fi
mb=$(disk_mb $dev $OSNAP_MB)
s=$(read_sum $dev $mb) || fail "$s"
s2=$(read_sum $dev $mb) || fail "$s2"
[ "$s" = "$s2" ] || fail "two reads of the disk differ"
info mb $mb
sum $dev $s
pass
