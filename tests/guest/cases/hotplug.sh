# hotplug: with vda in use, the host hot-adds a second disk (step hotadd);
# it must appear as vdb and carry a pattern (OSNAP-SUM vdb); then the host
# hot-removes it (step hotdel) and vdb must go away while vda still works.
# Parameters: osnap.mb (size of the pattern, MiB; default 4).
wait_disk vda 30 || fail "/dev/vda did not appear"
mb=$(disk_mb vda ${OSNAP_MB:-4})
make_pattern /tmp/pa $mb
dd if=/tmp/pa of=/dev/vda bs=64k oflag=direct conv=notrunc,fsync 2>/tmp/e || fail "write vda: $(tail -1 /tmp/e)"
[ ! -e /sys/block/vdb ] || fail "vdb exists before the hot-add"

step hotadd
wait_disk vdb 60 || fail "vdb did not appear after the hot-add"
info vdb_size $(blockdev --getsize64 /dev/vdb)
mb2=$(disk_mb vdb ${OSNAP_MB:-4})
make_pattern /tmp/pb $mb2
dd if=/tmp/pb of=/dev/vdb bs=64k oflag=direct conv=notrunc,fsync 2>/tmp/e || fail "write vdb: $(tail -1 /tmp/e)"
drop_caches
got=$(read_sum vdb $mb2) || fail "vdb: $got"
[ "$got" = "$(sha256sum /tmp/pb | cut -d' ' -f1)" ] || fail "vdb read back differs"
sum vdb $got

step hotdel
wait_gone vdb 60 || fail "vdb still there 60 s after the hot-remove"
info vdb gone
drop_caches
got=$(read_sum vda $mb) || fail "vda after the hot-remove: $got"
[ "$got" = "$(sha256sum /tmp/pa | cut -d' ' -f1)" ] || fail "vda read back differs"
sum vda $got
pass
