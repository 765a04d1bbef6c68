# hotplug: with vda in use, the host hot-adds a second disk (step hotadd);
# it must appear (vdb, or osnap.hpdev: e.g. nvme0n1) and carry a pattern
# (OSNAP-SUM of it); then the host hot-removes it (step hotdel) and it must
# go away while vda still works.
# Parameters: osnap.mb (size of the pattern, MiB; default 4), osnap.hpdev
# (the hot-added disk's name; default vdb).
hp=${OSNAP_HPDEV:-vdb}
wait_disk vda 30 || fail "/dev/vda did not appear"
mb=$(disk_mb vda ${OSNAP_MB:-4})
make_pattern /tmp/pa $mb
dd if=/tmp/pa of=/dev/vda bs=64k oflag=direct conv=notrunc,fsync 2>/tmp/e || fail "write vda: $(tail -1 /tmp/e)"
[ ! -e /sys/block/$hp ] || fail "$hp exists before the hot-add"

step hotadd
wait_disk $hp 60 || fail "$hp did not appear after the hot-add"
info ${hp}_size $(blockdev --getsize64 /dev/$hp)
mb2=$(disk_mb $hp ${OSNAP_MB:-4})
make_pattern /tmp/pb $mb2
dd if=/tmp/pb of=/dev/$hp bs=64k oflag=direct conv=notrunc,fsync 2>/tmp/e || fail "write $hp: $(tail -1 /tmp/e)"
drop_caches
got=$(read_sum $hp $mb2) || fail "$hp: $got"
[ "$got" = "$(sha256sum /tmp/pb | cut -d' ' -f1)" ] || fail "$hp read back differs"
sum $hp $got

step hotdel
wait_gone $hp 60 || fail "$hp still there 60 s after the hot-remove"
info $hp gone
drop_caches
got=$(read_sum vda $mb) || fail "vda after the hot-remove: $got"
[ "$got" = "$(sha256sum /tmp/pa | cut -d' ' -f1)" ] || fail "vda read back differs"
sum vda $got
pass
