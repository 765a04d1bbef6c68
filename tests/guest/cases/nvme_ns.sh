# nvme_ns: namespace attach and detach while the guest runs. The guest has
# /dev/nvme0n1; the host attaches a second namespace to the controller (step
# attach): the guest's nvme driver must see it appear as nvme0n2 by itself
# (namespace attribute changed AEN, then a rescan), and it must carry a
# pattern (OSNAP-SUM nvme0n2). The host detaches it (step detach): nvme0n2
# must go away, nvme0n1 must still work (OSNAP-SUM nvme0n1).
# Parameters: osnap.mb (size of the patterns, MiB; default 4).
wait_disk nvme0n1 30 || fail "/dev/nvme0n1 did not appear"
mb=$(disk_mb nvme0n1 ${OSNAP_MB:-4})
make_pattern /tmp/pa $mb
dd if=/tmp/pa of=/dev/nvme0n1 bs=64k oflag=direct conv=notrunc,fsync 2>/tmp/e \
  || fail "write nvme0n1: $(tail -1 /tmp/e)"
[ ! -e /sys/block/nvme0n2 ] || fail "nvme0n2 exists before the attach"
info namespaces_before "$(ls /sys/class/nvme/nvme0 | grep -c '^nvme0n')"

step attach
t0=$(now)
wait_disk nvme0n2 60 || fail "nvme0n2 did not appear within 60 s of the attach (no namespace change AEN?)"
info appear_ms $(ms_since $t0)
info nvme0n2_size $(blockdev --getsize64 /dev/nvme0n2)
info nvme0n2_nsid $(cat /sys/block/nvme0n2/nsid 2>/dev/null || cat /sys/block/nvme0n2/device/nsid 2>/dev/null)
mb2=$(disk_mb nvme0n2 ${OSNAP_MB:-4})
make_pattern /tmp/pb $mb2
dd if=/tmp/pb of=/dev/nvme0n2 bs=64k oflag=direct conv=notrunc,fsync 2>/tmp/e \
  || fail "write nvme0n2: $(tail -1 /tmp/e)"
drop_caches
got=$(read_sum nvme0n2 $mb2) || fail "nvme0n2: $got"
[ "$got" = "$(sha256sum /tmp/pb | cut -d' ' -f1)" ] || fail "nvme0n2 read back differs"
sum nvme0n2 $got

step detach
t0=$(now)
wait_gone nvme0n2 60 || fail "nvme0n2 still there 60 s after the detach (no namespace change AEN?)"
info gone_ms $(ms_since $t0)
drop_caches
got=$(read_sum nvme0n1 $mb) || fail "nvme0n1 after the detach: $got"
[ "$got" = "$(sha256sum /tmp/pa | cut -d' ' -f1)" ] || fail "nvme0n1 read back differs"
sum nvme0n1 $got
pass
