# shell: not a test: the guest of `make run`'s example lines. Lists the
# disks the guest's drivers found, then gives an interactive shell on the
# console; `exit` (or Ctrl-D) powers the guest off.
echo "osnap guest: $(uname -r), modules loaded: nvme, virtio_blk"
n=0
while [ $n -lt 50 ] && ! ls /sys/block | grep -q -e '^nvme' -e '^vd'; do
  usleep 100000; n=$((n + 1))
done
for d in $(ls /sys/block | grep -e '^nvme' -e '^vd'); do
  echo "  /dev/$d: $(( $(cat /sys/block/$d/size) / 2048 )) MiB, $(ls -d /sys/block/$d/mq/* 2>/dev/null | wc -l) queue(s)"
done
echo "try: dd if=/dev/urandom of=/dev/nvme0n1 bs=1M count=8 oflag=direct; exit powers off"
: > /tmp/.verdict
setsid cttyhack sh -l
